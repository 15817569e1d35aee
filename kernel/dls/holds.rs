//! Holds as `dls_mgmt.c`'s callers take them: temporary holds by id, by
//! `dls_link_t` and with the `dls_link_t`; long holds by id and by device
//! (DLPI streams); `/dev/net` opens; and the IPD 3 hold by name in a
//! zone. Every hold becomes a handle of its own (`handles.rs`).
//!
//! Provenance: a long hold is recorded against the caller's zone when the
//! link is in that zone (so forced recovery can reclaim what a dead zone
//! held), and against the global zone otherwise, which is how gate lets
//! any caller hold any link by id.

use dlszone::door::proto::DatalinkClass;
use dlszone::door::upcall;
use dlszone::errno::Errno;
use dlszone::registry::{Hold, HoldKind, LinkId, ZoneId};
use dlszone::sync::atomic::Ordering;

use crate::devnet::{MacBuf, MacStr, fill};
use crate::dls::{CResult, Dls};
use crate::handles::{Handle, Stale, Token};
use crate::seam::{Dev, DlsLinkPtr, Kernel, getmajor, getminor, makedevice};

/// The implicit IP tunnel a `/dev/net` name asks for: `ip.tun<N>`,
/// `ip6.tun<N>`, `ip.6to4tun<N>`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ImplicitTunnel {
    /// `iptun_type_t`: 1 IPv4, 2 IPv6, 3 6to4.
    pub(crate) kind: u32,
    /// The DLPI media type (`DL_IPV4`, `DL_IPV6`, `DL_6TO4`).
    pub(crate) media: u32,
}

/// Splits `<driver><ppa>` (`ddi_parse()`): the driver is what precedes the
/// trailing decimal digits.
pub(crate) fn parse_ppa(name: &[u8]) -> Option<(&[u8], u32)> {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (drv, ppa) = name.split_at(name.len().checked_sub(digits)?);
    if drv.is_empty() || ppa.is_empty() || ppa.len() > 9 {
        return None;
    }
    let ppa = ppa.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Some((drv, ppa))
}

/// The implicit tunnel a driver part names, if any.
pub(crate) fn implicit_tunnel(drv: &[u8]) -> Option<ImplicitTunnel> {
    match drv {
        b"ip.tun" => Some(ImplicitTunnel { kind: 1, media: 0x8000_0001 }),
        b"ip6.tun" => Some(ImplicitTunnel { kind: 2, media: 0x8000_0002 }),
        b"ip.6to4tun" => Some(ImplicitTunnel { kind: 3, media: 0x8000_0007 }),
        _ => None,
    }
}

/// The MAC name `<driver><instance>` of a DLPI device node
/// (`DLS_MINOR2INST(minor)` is `minor - 1`).
pub(crate) fn dev_macname<K: Kernel>(k: &K, dev: Dev) -> CResult<MacBuf> {
    let mut buf = [0u8; 256];
    let n = k.major_to_name(getmajor(dev), &mut buf).ok_or(Errno::EINVAL)?;
    let inst = i64::from(getminor(dev)) - 1;
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut v = inst.unsigned_abs();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if inst < 0 {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'-';
        }
    }
    let tail = digits.get(i..).unwrap_or(&[]);
    let total = n + tail.len();
    let dst = buf.get_mut(n..total).ok_or(Errno::ENAMETOOLONG)?;
    fill(dst, tail);
    MacBuf::from_bytes(buf.get(..total).unwrap_or(&[]))
}

impl<K: Kernel> Dls<K> {
    /// Records a token as a handle; on failure the token is released.
    fn record(&self, tok: Token, dlp: Option<DlsLinkPtr>) -> CResult<Handle> {
        let r = match self.handles.insert(tok, dlp) {
            Ok(h) => Ok(h),
            Err((e, tok)) => {
                self.counters.nomem.fetch_add(1, Ordering::Relaxed);
                let _ = self.release_token(tok);
                Err(e)
            }
        };
        self.keep_handles_ahead();
        r
    }

    /// Gives a token's hold back to the registry.
    fn release_token(&self, tok: Token) -> CResult<()> {
        match tok {
            Token::Tmp(h) => Ok(self.reg.rele_tmp(h)?),
            Token::Long(h) => {
                let linkid = h.link_ref().linkid();
                let r = self.reg.rele(h);
                self.maybe_delete_implicit(linkid);
                Ok(r?)
            }
        }
    }

    /// A release through a handle that holds nothing, or through the
    /// wrong function: the registry probes, counts (`bad_releases`) and
    /// warns, as for any release that matches no hold.
    fn stale(&self, why: Stale) -> Errno {
        let e = match why {
            Stale::NoSuchHold => Errno::ENOENT,
            Stale::WrongKind => Errno::EINVAL,
        };
        self.reg.unmatched_handle(self.k.current_zone(), e)
    }

    /// Takes a long hold for the calling thread: against its zone when
    /// the link is there, else with the global zone's authority.
    fn hold_long(&self, take: impl Fn(ZoneId) -> Result<Hold, Errno>) -> CResult<Hold> {
        let caller = self.k.current_zone();
        match take(caller) {
            Err(Errno::ENOENT) if !caller.is_global() => Ok(take(ZoneId::GLOBAL)?),
            r => Ok(r?),
        }
    }

    // ---- temporary holds -------------------------------------------------

    /// `dls_devnet_hold_tmp()`. Never sleeps.
    pub fn hold_tmp(&self, linkid: LinkId) -> CResult<Handle> {
        let t = self.reg.hold_tmp(ZoneId::GLOBAL, linkid)?;
        self.record(Token::Tmp(t), None)
    }

    /// `dls_devnet_hold_tmp_by_link()`: by the `dls_link_t`'s MAC name.
    pub fn hold_tmp_by_mac(&self, mac: &[u8]) -> CResult<Handle> {
        let t = self.reg.hold_tmp_by_mac(ZoneId::GLOBAL, mac)?;
        self.record(Token::Tmp(t), None)
    }

    /// `dls_devnet_hold_link()`: a temporary hold and the `dls_link_t`.
    pub fn hold_link(&self, linkid: LinkId) -> CResult<(Handle, DlsLinkPtr)> {
        let t = self.reg.hold_tmp(ZoneId::GLOBAL, linkid)?;
        let mac = t.link_ref().mac().clone();
        let dlp = match self.k.link_hold(mac.c()) {
            Ok(d) => d,
            Err(e) => {
                self.reg.rele_tmp(t)?;
                return Err(e.to_errno());
            }
        };
        match self.record(Token::Tmp(t), None) {
            Ok(h) => Ok((h, dlp)),
            Err(e) => {
                self.k.link_rele(dlp);
                Err(e)
            }
        }
    }

    /// `dls_devnet_rele_link()`. The `dls_link_t` is released only with
    /// the hold: a release that matches no hold (a double release) changes
    /// nothing, and must not drop a reference the caller no longer has.
    pub fn rele_link(&self, h: Handle, dlp: DlsLinkPtr) -> CResult<()> {
        match self.handles.remove(h, Some(true)) {
            Ok((tok, _)) => {
                self.k.link_rele(dlp);
                self.release_token(tok)
            }
            Err(why) => Err(self.stale(why)),
        }
    }

    /// `dls_devnet_rele_tmp()`. A handle that holds nothing, or a long
    /// hold's handle, changes nothing and is counted.
    pub fn rele_tmp(&self, h: Handle) -> CResult<()> {
        match self.handles.remove(h, Some(true)) {
            Ok((tok, _)) => self.release_token(tok),
            Err(why) => Err(self.stale(why)),
        }
    }

    // ---- long holds ------------------------------------------------------

    /// `dls_devnet_hold()`: a long hold by id. Never sleeps.
    pub fn hold(&self, linkid: LinkId) -> CResult<Handle> {
        let h = self.hold_long(|z| self.reg.hold(z, linkid, HoldKind::Named))?;
        self.record(Token::Long(h), None)
    }

    /// `dls_devnet_hold_by_dev()`: the long hold of a DLPI stream, by the
    /// MAC name of its device node.
    pub fn hold_by_dev(&self, dev: Dev) -> CResult<Handle> {
        let mac = dev_macname(&self.k, dev)?;
        let h = self.hold_long(|z| self.reg.hold_by_mac(z, mac.name(), HoldKind::Stream))?;
        self.record(Token::Long(h), None)
    }

    /// `dls_devnet_rele()`. A release that matches no hold changes nothing
    /// and is counted (gate panics); a hold forced recovery discarded
    /// gives `ESTALE` and frees its handle. An open's handle is closed, so
    /// its `dls_link_t` reference is not left behind.
    pub fn rele(&self, h: Handle) -> CResult<()> {
        match self.handles.remove(h, Some(false)) {
            Ok((tok, Some(dlp))) => self.close_token(tok, dlp),
            Ok((tok, None)) => self.release_token(tok),
            Err(why) => Err(self.stale(why)),
        }
    }

    /// `dls_devnet_release()` (IPD 3): releases a handle of either kind.
    pub fn release(&self, h: Handle) -> CResult<()> {
        match self.handles.remove(h, None) {
            Ok((tok, Some(dlp))) => {
                // An open's handle: close it properly.
                self.close_token(tok, dlp)
            }
            Ok((tok, None)) => self.release_token(tok),
            Err(why) => Err(self.stale(why)),
        }
    }

    /// `dls_devnet_hold_zlink()` (IPD 3): finds `name` in zone `zone`'s
    /// namespace and holds it, in one registry section. A non-global
    /// caller may name only its own zone.
    pub fn hold_zlink(
        &self,
        caller: ZoneId,
        zone: ZoneId,
        name: &[u8],
        tmp: bool,
    ) -> CResult<Handle> {
        if tmp {
            let t = self.reg.hold_tmp_by_name(caller, zone, name)?;
            self.record(Token::Tmp(t), None)
        } else {
            let h = self.reg.hold_by_name(caller, zone, name, HoldKind::Named)?;
            self.record(Token::Long(h), None)
        }
    }

    // ---- /dev/net --------------------------------------------------------

    /// `dls_devnet_open()`: the `/dev/net` node `link` of the caller's
    /// zone: a long hold, the `dls_link_t`, and its `dev_t`. Sleeps.
    pub fn open(&self, link: &[u8]) -> CResult<(Handle, Dev)> {
        let zone = self.k.current_zone();
        let hold = self.hold_by_name_for_open(zone, link)?;
        let linkid = hold.link_ref().linkid();
        self.prop_wait(linkid);
        let mac = hold.link_ref().mac().clone();
        let r = self.in_perim(&mac, || self.k.link_hold_create(mac.c()).map_err(|e| e.to_errno()));
        let dlp = match r {
            Ok(d) => d,
            Err(e) => {
                let _ = self.release_token(Token::Long(hold));
                return Err(e);
            }
        };
        let dev = self.k.link_dev(dlp);
        let inserted = match self.handles.insert(Token::Long(hold), Some(dlp)) {
            // No free slot: an open may sleep, so it makes room itself
            // (no registry lock is held) and tries once more.
            Err((Errno::ENOMEM, tok)) => self.insert_after_growing(tok, dlp),
            r => r,
        };
        match inserted {
            Ok(h) => {
                self.keep_handles_ahead();
                Ok((h, dev))
            }
            Err((e, tok)) => {
                self.counters.nomem.fetch_add(1, Ordering::Relaxed);
                let _ = self.close_token(tok, dlp);
                self.keep_handles_ahead();
                Err(e)
            }
        }
    }

    /// The open's lookup proper: the name in the zone, or for the global
    /// zone also a lent link's reserved name. Out of line, called twice.
    #[inline(never)]
    fn hold_name_or_loan(&self, zone: ZoneId, link: &[u8]) -> Result<Hold, Errno> {
        match self.reg.hold_by_name(zone, zone, link, HoldKind::DevNet) {
            Err(Errno::ENOENT) if zone.is_global() => {
                self.reg.hold_on_loan_by_name(zone, link, HoldKind::DevNet)
            }
            r => r,
        }
    }

    /// Grows the handle table (allocating: the caller may sleep) and
    /// records `tok` again. Out of line: the open's own frame, which a
    /// nested implicit-tunnel creation sits below, stays as it was.
    #[cold]
    #[inline(never)]
    fn insert_after_growing(&self, tok: Token, dlp: DlsLinkPtr) -> Result<Handle, (Errno, Token)> {
        self.handles.grow();
        self.handles.insert(tok, Some(dlp))
    }

    /// The lookup of an open: the name in the caller's zone, one step (for
    /// the global zone, also a lent link's reserved global-zone name, as
    /// gate's dlmgmtd looks in its loan tree); a tunnel name creates its
    /// implicit tunnel; a `<driver><ppa>` name attaches the physical
    /// device and looks again.
    fn hold_by_name_for_open(&self, zone: ZoneId, link: &[u8]) -> CResult<Hold> {
        let take = || self.hold_name_or_loan(zone, link);
        match take() {
            Err(Errno::ENOENT) => {}
            r => return r,
        }
        let Some((drv, ppa)) = parse_ppa(link) else {
            return Err(Errno::ENOENT);
        };
        if let Some(tun) = implicit_tunnel(drv) {
            let linkid = self.create_implicit_tunnel(link, tun)?;
            let hold = match self.reg.hold(zone, linkid, HoldKind::DevNet) {
                Ok(h) => h,
                Err(e) => {
                    self.delete_implicit_tunnel(linkid);
                    return Err(e);
                }
            };
            if let Some(e) = self.side.lock().links.get_mut(&linkid) {
                e.implicit = true;
            }
            return Ok(hold);
        }
        let mut cdrv = [0u8; 32];
        fill(cdrv.get_mut(..drv.len()).ok_or(Errno::ENOENT)?, drv);
        let major = self.k.name_to_major(&cdrv).ok_or(Errno::ENOENT)?;
        let dev = makedevice(major, ppa.wrapping_add(1));
        let dh = self.k.softmac_hold_device(dev).map_err(|_| Errno::ENOENT)?;
        let r = take();
        self.k.softmac_rele_device(dh);
        r
    }

    /// Creates an implicit IP tunnel for a `/dev/net` open and returns its
    /// link id (dlmgmtd names it; iptun registers its MAC, which creates
    /// the link here).
    fn create_implicit_tunnel(&self, link: &[u8], tun: ImplicitTunnel) -> CResult<LinkId> {
        let port = self.k.door();
        let id = upcall::create(port, link, 0, 0, DatalinkClass::IPTUN, tun.media, false)
            .map_err(|e| e.to_errno())?;
        let linkid = LinkId(id);
        if let Err(e) = self.k.iptun_create_implicit(linkid, tun.kind) {
            let _ = upcall::destroy(port, id, false);
            return Err(e.to_errno());
        }
        Ok(linkid)
    }

    /// Deletes an implicit tunnel: iptun, then dlmgmtd's record.
    fn delete_implicit_tunnel(&self, linkid: LinkId) -> bool {
        if self.k.iptun_delete(linkid).is_err() {
            return false;
        }
        let _ = upcall::destroy(self.k.door(), linkid.0, false);
        true
    }

    /// After a long release: an implicit tunnel whose last holder let go
    /// is deleted (gate's `dls_devnet_rele()` does so).
    fn maybe_delete_implicit(&self, linkid: LinkId) {
        let implicit = self.side.lock().links.get(&linkid).is_some_and(|e| e.implicit);
        if !implicit {
            return;
        }
        let held = self
            .reg
            .link_info(linkid)
            .map(|i| i.holders.iter().filter(|h| HoldKind::HOLDER_KINDS.contains(&h.kind)).count());
        if held != Ok(0) {
            return;
        }
        if let Some(e) = self.side.lock().links.get_mut(&linkid) {
            e.implicit = false;
        }
        if !self.delete_implicit_tunnel(linkid)
            && let Some(e) = self.side.lock().links.get_mut(&linkid)
        {
            e.implicit = true;
        }
    }

    /// `dls_devnet_close()`.
    pub fn close(&self, h: Handle) -> CResult<()> {
        match self.handles.remove(h, Some(false)) {
            Ok((tok, Some(dlp))) => self.close_token(tok, dlp),
            Ok((tok, None)) => {
                // A long hold that is not an open's: released all the same.
                self.k.warn(c"dls: dls_devnet_close() of a handle not from dls_devnet_open()");
                self.release_token(tok)
            }
            Err(why) => Err(self.stale(why)),
        }
    }

    fn close_token(&self, tok: Token, dlp: DlsLinkPtr) -> CResult<()> {
        let link = tok.link();
        let mac = link.mac().clone();
        let r = self.in_perim(&mac, || {
            self.k.link_rele(dlp);
            Ok(())
        });
        if r.is_err() {
            // Gate VERIFYs the perimeter; here the link's hold is dropped
            // all the same (dls_link_rele() itself needs no perimeter for
            // a hold that is not the last).
            self.k.warn(c"dls: dls_devnet_close() could not enter the link's perimeter");
            self.k.link_rele(dlp);
        }
        self.release_token(tok)
    }

    /// `dls_devnet_prop_task_wait()`.
    pub fn prop_task_wait_handle(&self, h: Handle) -> CResult<()> {
        let linkid = self.handles.with(h, |t, _| t.link().linkid())?;
        self.prop_wait(linkid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppa_parsing() {
        assert_eq!(parse_ppa(b"e1000g0"), Some((&b"e1000g"[..], 0)));
        assert_eq!(parse_ppa(b"ip.tun12"), Some((&b"ip.tun"[..], 12)));
        assert_eq!(parse_ppa(b"net"), None);
        assert_eq!(parse_ppa(b"0"), None);
        assert_eq!(parse_ppa(b"x12345678901"), None);
        assert_eq!(implicit_tunnel(b"ip6.tun").map(|t| t.kind), Some(2));
        assert_eq!(implicit_tunnel(b"ip.6to4tun").map(|t| t.media), Some(0x8000_0007));
        assert_eq!(implicit_tunnel(b"ixgbe"), None);
    }
}
