//! A link's life cycle as `dls_mgmt.c`'s callers drive it: create,
//! re-create of a physical link, destroy, rename, and the zone moves of
//! `dls_devnet_setzid()`.

use dlszone::door::proto::{DatalinkClass, LinkFlags};
use dlszone::door::upcall;
use dlszone::errno::Errno;
use dlszone::registry::{DrainWait, LinkId, LinkName, MacName, ZoneId};

use crate::dls::{CResult, Dls, Tombstone};
use crate::seam::{KernResult, Kernel, MacHandle, Perim};

/// A MAC name read from the kernel, with its NUL.
pub(crate) struct MacBuf {
    buf: [u8; 256],
    len: usize,
}

impl MacBuf {
    /// The name of `mh` (`mac_name()`); `EINVAL` if the kernel's name does
    /// not fit (it always does: `MAXNAMELEN`).
    pub(crate) fn of<K: Kernel>(k: &K, mh: MacHandle) -> CResult<MacBuf> {
        let mut buf = [0u8; 256];
        let len = k.mac_name(mh, &mut buf).ok_or(Errno::EINVAL)?;
        if len == 0 || len >= buf.len() {
            return Err(Errno::EINVAL);
        }
        Ok(MacBuf { buf, len })
    }

    /// From bytes without NUL.
    pub(crate) fn from_bytes(name: &[u8]) -> CResult<MacBuf> {
        let mut buf = [0u8; 256];
        let dst = buf.get_mut(..name.len()).ok_or(Errno::ENAMETOOLONG)?;
        fill(dst, name);
        if name.is_empty() || name.len() >= buf.len() {
            return Err(Errno::EINVAL);
        }
        Ok(MacBuf { buf, len: name.len() })
    }

    /// Without its NUL.
    pub(crate) fn name(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// With its NUL (a C string for the kernel).
    pub(crate) fn c(&self) -> &[u8] {
        self.buf.get(..=self.len).unwrap_or(&[])
    }
}

/// A MAC name as illumos takes it, with its NUL. [`MacName`] keeps its
/// NUL, so it needs no copy on the stack.
pub(crate) trait MacStr {
    /// With its NUL.
    fn c(&self) -> &[u8];
}

impl MacStr for MacBuf {
    fn c(&self) -> &[u8] {
        MacBuf::c(self)
    }
}

impl MacStr for MacName {
    fn c(&self) -> &[u8] {
        self.as_bytes_with_nul()
    }
}

/// Copies what fits of `src` into the start of `dst`, byte by byte: no
/// length check the compiler must keep (and so no trap site).
pub(crate) fn fill(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// A link name as a NUL-terminated `MAXLINKNAMELEN` field.
pub(crate) fn c_name(n: &LinkName) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Some(d) = out.get_mut(..n.as_bytes().len()) {
        fill(d, n.as_bytes());
    }
    out
}

impl<K: Kernel> Dls<K> {
    /// Runs `f` inside the perimeter of `mh`.
    fn in_perim_mh<R>(&self, mh: MacHandle, f: impl FnOnce() -> R) -> R {
        let p = self.k.perim_enter_mh(mh);
        let r = f();
        self.k.perim_exit(p);
        r
    }

    /// Runs `f` inside the perimeter of the MAC named `mac`.
    pub(crate) fn in_perim<R>(
        &self,
        mac: &impl MacStr,
        f: impl FnOnce() -> CResult<R>,
    ) -> CResult<R> {
        let p: Perim = self.k.perim_enter_by_macname(mac.c()).map_err(|e| e.to_errno())?;
        let r = f();
        self.k.perim_exit(p);
        r
    }

    /// `dls_devnet_create()`: records the link of MAC `mh`, with id
    /// `linkid` (invalid: a physical link dlmgmtd has not named yet), as
    /// created by zone `zid`; holds its `dls_link_t`.
    pub fn create(&self, mh: MacHandle, linkid: LinkId, zid: ZoneId) -> CResult<()> {
        zid.validate()?;
        let mac = MacBuf::of(&self.k, mh)?;
        // The perimeter is held throughout, so the property task's ioctls
        // (which need it) cannot start before the link is complete.
        let r = self.in_perim_mh(mh, || self.create_locked(&mac, linkid, zid));
        if r.is_ok() {
            self.keep_handles_ahead();
        }
        r
    }

    fn create_locked(&self, mac: &MacBuf, linkid: LinkId, zid: ZoneId) -> CResult<()> {
        if linkid == LinkId::INVALID {
            // A physical link that attached before dlmgmtd could name it.
            if !zid.is_global() {
                return Err(Errno::EINVAL);
            }
            self.reg.create_pending(mac.name())?;
            if let Err(e) = self.k.link_hold_create(mac.c()) {
                let _ = self.reg.destroy_pending(mac.name());
                return Err(e.to_errno());
            }
            self.created(mac, true);
            self.need_rebuild();
            return Ok(());
        }
        self.set(mac, linkid, zid, false)?;
        let dlp = match self.k.link_hold_create(mac.c()) {
            Ok(d) => d,
            Err(e) => {
                self.unset_quietly(linkid);
                return Err(e.to_errno());
            }
        };
        if let Err(e) = self.data_path_to_zone(mac, linkid) {
            self.unset_quietly(linkid);
            self.k.link_rele(dlp);
            return Err(e);
        }
        self.created(mac, true);
        self.after_set(linkid);
        Ok(())
    }

    /// Records that a create of `mac` holds its `dls_link_t` (`on`), or
    /// that a destroy dropped one such hold.
    fn created(&self, mac: &MacBuf, on: bool) {
        let Ok(m) = MacName::new(mac.name()) else { return };
        let mut s = self.side.lock();
        if on {
            match s.created.get_mut(&m) {
                Some(n) => *n = n.saturating_add(1),
                None => {
                    s.created.insert(m, 1);
                }
            }
        } else if let Some(n) = s.created.get_mut(&m) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.created.remove(&m);
            }
        }
    }

    /// Moves the data path of `mac` to zone `zid` (`dls_link_setzid()`),
    /// in the perimeter; no call when it is there already: gate's
    /// `dls_link_setzid()` to the global zone of a data path that is
    /// there keeps the reference its `dls_link_hold_create()` took, and
    /// the `dls_link_t` could never be freed.
    pub(crate) fn move_data_path(&self, mac: &[u8], zid: ZoneId) -> KernResult<()> {
        if self.k.link_getzid(mac)? == zid {
            return Ok(());
        }
        self.k.link_setzid(mac, zid)
    }

    /// Puts the data path of a link that is in a non-global zone (created
    /// there, or restored there) in that zone, as gate's create does
    /// (`i_dls_devnet_setzid()` from `dls_devnet_set()`), so that
    /// `dls_open()` lets the zone's streams in. The perimeter is held.
    fn data_path_to_zone(&self, mac: &MacBuf, linkid: LinkId) -> CResult<()> {
        match self.reg.link_info(linkid) {
            Ok(i) if !i.zone.id.is_global() => {
                self.move_data_path(mac.c(), i.zone.id).map_err(|e| e.to_errno())
            }
            _ => Ok(()),
        }
    }

    /// Asks dlmgmtd for the link's name and flags, then records it: as the
    /// activation of a pending physical link, as the restoration of a link
    /// destroyed a moment ago, or as a new link of zone `zid`. With
    /// `pending_only`, only as the activation: `EEXIST` if the MAC's link
    /// has an id already, `ENOENT` if it has no link (a new link made here
    /// would have no `dls_link_t` hold, and no destroy could remove it).
    fn set(&self, mac: &MacBuf, linkid: LinkId, zid: ZoneId, pending_only: bool) -> CResult<()> {
        let info = upcall::get_linkinfo(self.k.door(), linkid.0).map_err(|e| e.to_errno())?;
        let known = self.reg.mac_to_linkid(mac.name());
        if pending_only && known != Ok(LinkId::INVALID) {
            return Err(if known.is_ok() { Errno::EEXIST } else { Errno::ENOENT });
        }
        if known == Ok(LinkId::INVALID) {
            if info.class != DatalinkClass::PHYS {
                return Err(Errno::EINVAL);
            }
            self.reg.activate(mac.name(), linkid, info.name())?;
        } else {
            let persistent = info.flags.contains(LinkFlags::PERSIST);
            // A driver whose mac_disable() failed re-creates the link it
            // just destroyed, passing its own caller's zone: the link comes
            // back as it was.
            let owner = match self.take_tombstone(mac.name(), linkid) {
                Some(t) => t.owner,
                None => zid,
            };
            self.ensure_zone(owner)?;
            self.reg.create(owner, mac.name(), linkid, info.name(), persistent)?;
        }
        let m = self.reg.link_info(linkid).map(|i| i.mac)?;
        self.side_add(linkid, m);
        Ok(())
    }

    /// What follows a successful [`set`](Self::set): kstats, the
    /// property task, `/dev/net`.
    fn after_set(&self, linkid: LinkId) {
        self.kstats_sync(linkid);
        self.need_rebuild();
        self.start_prop_task(linkid);
    }

    /// Undoes a [`set`](Self::set) whose `dls_link_t` could not be made.
    fn unset_quietly(&self, linkid: LinkId) {
        if self.reg.destroy(ZoneId::GLOBAL, linkid, DrainWait::Wait).is_err() {
            self.k.warn(c"dls: could not undo a failed link create");
        }
        self.side_remove(linkid);
    }

    /// `dls_devnet_recreate()`: gives a pending physical link its id.
    pub fn recreate(&self, mh: MacHandle, linkid: LinkId) -> CResult<()> {
        // Gate asserts a valid id; here an invalid one is refused.
        linkid.validate()?;
        let mac = MacBuf::of(&self.k, mh)?;
        self.set(&mac, linkid, ZoneId::GLOBAL, true)?;
        self.after_set(linkid);
        self.keep_handles_ahead();
        Ok(())
    }

    /// `dls_devnet_destroy()`: takes the link of MAC `mh` out of the
    /// registry and drops the `dls_link_t` hold of create. Returns the id
    /// it had (`LinkId::INVALID` if it was pending or already gone).
    ///
    /// With `wait` false it never waits for holders (the bridge's timer
    /// calls it): temporary holds or a pending property task give `EBUSY`.
    pub fn destroy(&self, mh: MacHandle, wait: bool) -> (CResult<()>, LinkId) {
        let mac = match MacBuf::of(&self.k, mh) {
            Ok(m) => m,
            Err(e) => return (Err(e), LinkId::INVALID),
        };
        let mut gone = None;
        let mut found = self.reg.mac_to_linkid(mac.name());
        if let Ok(id) = found
            && id != LinkId::INVALID
        {
            match self.unset(&mac, id, wait) {
                Ok(t) => gone = Some(t),
                // The MAC's link went since it was looked up (torn down
                // with its zone; its id may name another MAC's link now,
                // which the registry's destroy refused): as if not found.
                Err(Errno::ENOENT) => found = Err(Errno::ENOENT),
                Err(e) => return (Err(e), LinkId::INVALID),
            }
        }
        match found {
            Ok(LinkId::INVALID) => {
                if let Err(e) = self.reg.destroy_pending(mac.name()) {
                    return (Err(e), LinkId::INVALID);
                }
            }
            Ok(_) => {}
            // Gone already (torn down with its zone): only the dls_link_t
            // hold of create is left to drop, if a create still holds it.
            // A second destroy of the MAC must not drop a reference it
            // does not have (another holder's: the dls_link_t would be
            // freed under it).
            Err(Errno::ENOENT) => {
                let held = MacName::new(mac.name())
                    .is_ok_and(|m| self.side.lock().created.get(&m).is_some());
                if !held {
                    return (Err(Errno::ENOENT), LinkId::INVALID);
                }
            }
            Err(e) => return (Err(e), LinkId::INVALID),
        }
        let r = self.in_perim_mh(mh, || {
            // The data path is home already (sent there when its link
            // returned or went with its zone, or by the unset above);
            // unless that failed, and the dls_link_t still keeps a zone's
            // reference: it goes home now, or the destroy fails and may
            // be tried again.
            self.move_data_path(mac.c(), ZoneId::GLOBAL)?;
            self.k.link_rele_by_name(mac.c())
        });
        if r.is_ok() {
            self.created(&mac, false);
        }
        match (r, gone) {
            (Ok(()), Some(t)) => {
                self.tombstone(t.clone());
                self.need_rebuild();
                (Ok(()), t.linkid)
            }
            (Ok(()), None) => (Ok(()), LinkId::INVALID),
            (Err(e), gone) => {
                // The link cannot go: put it back as it was.
                let id = gone.as_ref().map_or(LinkId::INVALID, |t| t.linkid);
                if let Some(t) = gone {
                    self.restore(&mac, &t);
                }
                (Err(e.to_errno()), id)
            }
        }
    }

    /// The registry half of a destroy; what the link was, for a restore.
    fn unset(&self, mac: &MacBuf, id: LinkId, wait: bool) -> CResult<Tombstone> {
        // The record, read without allocating (the no-wait caller may not
        // sleep): through the link's memory, with no hold left behind. Not
        // the MAC's link any more: as if gone (the registry's destroy
        // below checks again, in the section that condemns it).
        let t = self.reg.hold_tmp(ZoneId::GLOBAL, id)?;
        let link = t.link_ref();
        self.reg.rele_tmp(t)?;
        if link.mac().as_bytes() != mac.name() {
            return Err(Errno::ENOENT);
        }
        if !wait && self.prop_pending(id) {
            return Err(Errno::EBUSY);
        }
        let name = link.name().ok_or(Errno::ENOENT)?;
        let tomb = Tombstone {
            mac: link.mac().clone(),
            linkid: id,
            owner: link.owner().id,
            name,
            persistent: link.is_persistent(),
        };
        let was_in = link.zone().id;
        let how = if wait { DrainWait::Wait } else { DrainWait::NoWait };
        self.reg.destroy_of_mac(ZoneId::GLOBAL, id, mac.name(), how)?;
        if wait {
            self.prop_wait(id);
        }
        self.side_remove(id);
        if !was_in.is_global() {
            // The data path follows the link home, as gate's unset does.
            let _ = self.in_perim(mac, || {
                self.move_data_path(mac.c(), ZoneId::GLOBAL).map_err(|e| e.to_errno())
            });
        }
        Ok(tomb)
    }

    /// Puts a destroyed link back after its `dls_link_t` refused to go.
    fn restore(&self, mac: &MacBuf, t: &Tombstone) {
        let r = self
            .ensure_zone(t.owner)
            .and_then(|_| {
                self.reg.create(t.owner, mac.name(), t.linkid, t.name.as_bytes(), t.persistent)
            })
            .map(|_| self.side_add(t.linkid, t.mac.clone()));
        match r {
            Ok(()) => {
                // The destroy sent the data path home; it goes back too.
                if self.in_perim(mac, || self.data_path_to_zone(mac, t.linkid)).is_err() {
                    self.k.warn(c"dls: a restored link's data path stays in the global zone");
                }
                self.kstats_sync(t.linkid);
                self.need_rebuild();
            }
            Err(_) => self.k.warn(c"dls: a link whose destroy failed could not be restored"),
        }
    }

    /// `dls_devnet_rename()`: renames link `id1` to `link` (`id2`
    /// invalid), or gives physical link `id1` the id `id2` of a removed
    /// link configuration and that configuration's name.
    pub fn rename(&self, id1: LinkId, id2: LinkId, link: &[u8]) -> CResult<()> {
        id1.validate()?;
        let port = self.k.door();
        if id2 != LinkId::INVALID
            && let Ok((maj, inst)) = upcall::get_phydev(port, id2.0)
            && let Ok(dh) = self.k.softmac_hold_device(phydev(maj, inst))
        {
            // id2's device is attached: not a removed link.
            self.k.softmac_rele_device(dh);
            return Err(Errno::EEXIST);
        }
        // Keep id1's device attached throughout, if it is physical.
        let dev = upcall::get_phydev(port, id1.0)
            .ok()
            .and_then(|(maj, inst)| self.k.softmac_hold_device(phydev(maj, inst)).ok());
        let r = self.rename_held(id1, id2, link, dev.is_some());
        if let Some(dh) = dev {
            self.k.softmac_rele_device(dh);
        }
        r
    }

    fn rename_held(&self, id1: LinkId, id2: LinkId, link: &[u8], physical: bool) -> CResult<()> {
        let info = self.reg.link_info(id1)?;
        let mac = info.mac.clone();
        // The perimeter also waits for the property task to finish.
        self.prop_wait(id1);
        self.in_perim(&mac, || {
            if id2 == LinkId::INVALID {
                let old = info.name.ok_or(Errno::ENOENT)?;
                self.reg.rename(ZoneId::GLOBAL, id1, link)?;
                let new = LinkName::new(link)?;
                if let Err(e) = self.k.mac_rename_primary(mac.c(), &c_name(&new)) {
                    let _ = self.reg.rename(ZoneId::GLOBAL, id1, old.as_bytes());
                    return Err(e.to_errno());
                }
                self.kstats_sync(id1);
                self.need_rebuild();
                return Ok(());
            }
            if !physical {
                return Err(Errno::EINVAL);
            }
            self.k.mac_exclusive(mac.c(), true).map_err(|e| e.to_errno())?;
            let r = self.rekey(id1, id2, &info.mac);
            self.k.mac_exclusive(mac.c(), false).map_err(|e| e.to_errno())?;
            r
        })
    }

    fn rekey(&self, id1: LinkId, id2: LinkId, mac: &MacName) -> CResult<()> {
        let info = upcall::get_linkinfo(self.k.door(), id2.0).map_err(|e| e.to_errno())?;
        self.reg.rekey(id1, id2, info.name())?;
        self.side_remove(id1);
        self.side_add(id2, mac.clone());
        self.after_set(id2);
        Ok(())
    }

    /// `dls_devnet_setzid()` (and SmartOS' three-argument form): lends
    /// the link to zone `zid` or returns it to the global zone. dlmgmtd is
    /// asked first (by the registry, with no registry lock held); then the
    /// data path follows; if it cannot, dlmgmtd is told to move it back.
    pub fn setzid(&self, linkid: LinkId, zid: ZoneId, transient: bool) -> CResult<()> {
        zid.validate()?;
        let info = self.reg.link_info(linkid)?;
        // Already there; or a zone's own link, which never reaches the
        // global zone: "returning" it does nothing (rule 3), and its data
        // path stays where it is.
        if info.zone.id == zid || (zid.is_global() && info.zone == info.owner) {
            return Ok(());
        }
        if !zid.is_global() {
            self.ensure_zone(zid)?;
        }
        let mac = info.mac.clone();
        self.in_perim(&mac, || {
            self.reg.setzid(ZoneId::GLOBAL, linkid, zid, transient)?;
            if let Err(e) = self.move_data_path(mac.c(), zid) {
                let back = self.reg.setzid(ZoneId::GLOBAL, linkid, info.zone.id, info.transient);
                if back.is_err() {
                    self.k.warn(c"dls: a link whose data path could not move was left in place");
                }
                return Err(e.to_errno());
            }
            Ok(())
        })?;
        self.kstats_sync(linkid);
        self.need_rebuild();
        Ok(())
    }
}

/// `makedevice(major, instance + 1)`: a physical device's style-1 node
/// (`DLS_PPA2MINOR`), as `dls_mgmt_get_phydev()`'s callers build it.
fn phydev(major: u64, inst: u64) -> u64 {
    crate::seam::makedevice(major as u32, (inst as u32).wrapping_add(1))
}
