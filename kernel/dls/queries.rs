//! Reads: what a handle names, lookups by MAC name and device, and the
//! IPD 3 views (holders, the zone-scoped snapshot, counters); plus the
//! door registration and the outbox replay.

use alloc::vec::Vec;

use dlszone::door::upcall;
use dlszone::errno::Errno;
use dlszone::registry::{HoldKind, Holder, LinkId, LinkSnapshot, LinkState, ZoneId};
use dlszone::sync::atomic::Ordering;

use crate::devnet::{c_name, fill};
use crate::dls::{CResult, Dls};
use crate::handles::Handle;
use crate::holds::dev_macname;
use crate::seam::{Dev, Kernel, makedevice};
use dlszone::dlszone_h::{DlsCounters, DlsHolder, DlsLinkInfo, holder, linkf, state};

fn state_code(s: LinkState) -> u32 {
    match s {
        LinkState::Active => state::ACTIVE,
        LinkState::Condemned => state::CONDEMNED,
        LinkState::Detached | LinkState::Freed => state::DETACHED,
        LinkState::Initializing => state::INITIALIZING,
    }
}

fn kind_code(k: HoldKind) -> u32 {
    match k {
        HoldKind::Existence => holder::EXISTENCE,
        HoldKind::Loan => holder::LOAN,
        HoldKind::Stream => holder::STREAM,
        HoldKind::DevNet => holder::DEVNET,
        HoldKind::Named => holder::NAMED,
    }
}

fn holder_rec(linkid: LinkId, st: LinkState, h: &Holder) -> DlsHolder {
    DlsHolder {
        dh_linkid: linkid.0,
        dh_kind: kind_code(h.kind),
        dh_zoneid: h.zone.id.0,
        dh_state: state_code(st),
        dh_uniqid: h.zone.uniqid,
        dh_count: u64::from(h.count),
    }
}

fn tmp_rec(linkid: LinkId, st: LinkState, n: u32) -> DlsHolder {
    DlsHolder {
        dh_linkid: linkid.0,
        dh_kind: holder::TEMPORARY,
        dh_zoneid: -1,
        dh_state: state_code(st),
        dh_uniqid: 0,
        dh_count: u64::from(n),
    }
}

/// The generation `dls_devnet_snapshot()` reports: it changes when, and
/// only when, a link's record (holds aside) differs from the records last
/// reported, i.e. when a link was created, destroyed, renamed or moved.
///
/// The registry's own generation counts writer sections, refused calls
/// and no-op recoveries among them, so equal records would be reported
/// under different generations; it only tells when to compare again.
#[derive(Default)]
pub(crate) struct View {
    /// The registry generation `links` were read at.
    table: Option<u64>,
    /// The records last reported, without their holds.
    links: Vec<LinkSnapshot>,
    generation: u64,
}

impl View {
    /// The generation of `links`, read at registry generation `table`.
    /// Allocates when the records changed.
    fn generation(&mut self, table: u64, links: &[LinkSnapshot]) -> u64 {
        if self.table == Some(table) {
            return self.generation;
        }
        self.table = Some(table);
        let same = self.links.len() == links.len()
            && self.links.iter().zip(links).all(|(a, b)| same_record(a, b));
        if !same {
            self.generation = self.generation.wrapping_add(1);
            self.links =
                links.iter().map(|l| LinkSnapshot { holders: Vec::new(), ..l.clone() }).collect();
        }
        self.generation
    }
}

/// The generation a non-global caller's snapshot reports: FNV-1a over
/// its records, holds aside. It changes when the zone's view does (a link
/// created, destroyed, renamed or moved in or out), and depends on
/// nothing the zone cannot see. A view that changes and changes back gets
/// its old value again, which is what "the same state" means to a caller.
fn fingerprint(links: &[DlsLinkInfo]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    };
    for l in links {
        eat(&l.dli_linkid.to_ne_bytes());
        eat(&l.dli_owner.to_ne_bytes());
        eat(&l.dli_zone.to_ne_bytes());
        eat(&l.dli_flags.to_ne_bytes());
        eat(&l.dli_state.to_ne_bytes());
        eat(&l.dli_owner_uniqid.to_ne_bytes());
        eat(&l.dli_zone_uniqid.to_ne_bytes());
        eat(&l.dli_name);
        eat(&l.dli_reserved);
        eat(&l.dli_mac);
    }
    h
}

/// Two records alike but for their holds.
fn same_record(a: &LinkSnapshot, b: &LinkSnapshot) -> bool {
    let LinkSnapshot {
        linkid,
        mac,
        name,
        zone,
        owner,
        transient,
        persistent,
        state,
        reserved,
        holders: _,
    } = a;
    (linkid, mac, name, zone, owner, transient, persistent, state, reserved)
        == (
            &b.linkid,
            &b.mac,
            &b.name,
            &b.zone,
            &b.owner,
            &b.transient,
            &b.persistent,
            &b.state,
            &b.reserved,
        )
}

fn copy_field(dst: &mut [u8], src: &[u8]) {
    let n = src.len().min(dst.len().saturating_sub(1));
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        fill(d, s);
    }
}

impl<K: Kernel> Dls<K> {
    /// The current zone of a handle's link (`dls_devnet_getzid()`).
    pub fn getzid(&self, h: Handle) -> CResult<ZoneId> {
        self.handles.with(h, |t, _| t.link().zone().id)
    }

    /// The owner zone (`dls_devnet_getownerzid()`).
    pub fn getownerzid(&self, h: Handle) -> CResult<ZoneId> {
        self.handles.with(h, |t, _| t.link().owner().id)
    }

    /// The link id (`dls_devnet_linkid()`).
    pub fn linkid(&self, h: Handle) -> CResult<LinkId> {
        self.handles.with(h, |t, _| t.link().linkid())
    }

    /// The id of the link a handle holds, for an operation on the tabled
    /// link of that id (`dls_devnet_setzid()`): `ENOENT` if the handle's
    /// link was destroyed or torn down since, even if a new link has its
    /// id now (the handle holds the old one, not the new one).
    pub fn current_linkid(&self, h: Handle) -> CResult<LinkId> {
        let held = self.handles.with(h, |t, _| t.link())?;
        let id = held.linkid();
        match self.reg.link_ref(id) {
            Ok(tabled) if dlszone::sync::Arc::ptr_eq(&tabled, &held) => Ok(id),
            _ => Err(Errno::ENOENT),
        }
    }

    /// The MAC name as a C string (`dls_devnet_mac()`): valid while the
    /// handle is held (the link's memory lives at least that long).
    pub fn mac_ptr(&self, h: Handle) -> CResult<*const u8> {
        self.handles.with(h, |t, _| {
            let link = t.link();
            // The name lives in the link's memory, which this handle keeps.
            link.mac().as_bytes_with_nul().as_ptr()
        })
    }

    /// The link's name in its current zone as a C string
    /// (`dls_devnet_link()`).
    pub fn link_ptr(&self, h: Handle) -> CResult<*const u8> {
        self.handles.name_ptr(h)
    }

    /// `dls_devnet_islinkvisible()`: the link exists and `zid` is its
    /// owner or its current zone.
    pub fn islinkvisible(&self, linkid: LinkId, zid: ZoneId) -> bool {
        let Ok(t) = self.reg.hold_tmp(ZoneId::GLOBAL, linkid) else {
            return false;
        };
        let link = t.link_ref();
        let r = link.owner().id == zid || link.zone().id == zid;
        let _ = self.reg.rele_tmp(t);
        r
    }

    /// `dls_devnet_macname2linkid()`: no visibility check.
    pub fn macname2linkid(&self, mac: &[u8]) -> CResult<LinkId> {
        self.reg.mac_to_linkid(mac)
    }

    /// `dls_devnet_dev2linkid()`.
    pub fn dev2linkid(&self, dev: Dev) -> CResult<LinkId> {
        let mac = dev_macname(&self.k, dev)?;
        self.reg.mac_to_linkid(mac.name())
    }

    /// `dls_devnet_phydev()`: a temporary hold, then dlmgmtd's answer.
    pub fn phydev(&self, linkid: LinkId) -> CResult<Dev> {
        let t = self.reg.hold_tmp(ZoneId::GLOBAL, linkid)?;
        let r = upcall::get_phydev(self.k.door(), linkid.0);
        let _ = self.reg.rele_tmp(t);
        let (maj, inst) = r?;
        Ok(makedevice(maj as u32, (inst as u32).wrapping_add(1)))
    }

    /// `dls_mgmt_get_phydev()`: dlmgmtd's answer only.
    pub fn mgmt_phydev(&self, linkid: LinkId) -> CResult<Dev> {
        let (maj, inst) = upcall::get_phydev(self.k.door(), linkid.0)?;
        Ok(makedevice(maj as u32, (inst as u32).wrapping_add(1)))
    }

    /// `dls_mgmt_door_set()`: dlmgmtd registers (`start`) or withdraws
    /// its door. On registration softmac re-creates the physical links
    /// that attached before dlmgmtd ran (on this thread, as in gate), and
    /// the outbox is replayed on the task queue, never on this thread:
    /// dlmgmtd may not be serving its door yet.
    pub fn door_set(&self, start: bool) -> CResult<()> {
        if !start {
            self.k.door_close();
            return Ok(());
        }
        if let Err(e) = self.k.door_open() {
            // As in gate, the old door is gone whatever follows: a
            // registration that fails leaves none (upcalls get EBADF).
            self.k.door_close();
            return Err(e.to_errno());
        }
        self.reg.replay_later();
        self.k.softmac_recreate();
        Ok(())
    }

    /// `dls_mgmt_outbox_replay()`: delivers the queued notices now;
    /// `(delivered, still queued)`, the first also when a failure stopped
    /// the replay after some were delivered.
    pub fn replay(&self) -> (CResult<()>, u32, u32) {
        let (n, r) = self.reg.replay_outbox_counted();
        let pending = u32::try_from(self.reg.outbox().len()).unwrap_or(u32::MAX);
        (r, u32::try_from(n).unwrap_or(u32::MAX), pending)
    }

    /// The records of `dls_devnet_holders()`. Global zone only.
    pub fn holders(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        detached: bool,
    ) -> CResult<Vec<DlsHolder>> {
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        linkid.validate()?;
        let mut out = Vec::new();
        let mut found = false;
        if let Ok(link) = self.reg.link_ref(linkid) {
            found = true;
            let st = link.state();
            for h in link.holders() {
                out.push(holder_rec(linkid, st, &h));
            }
            let tmp = link.tmp_holds();
            if tmp > 0 {
                out.push(tmp_rec(linkid, st, tmp));
            }
        }
        if detached {
            for d in self.reg.detached_holders(caller, linkid)? {
                found = true;
                for h in &d.holders {
                    out.push(holder_rec(linkid, d.state, h));
                }
                if d.tmp > 0 {
                    out.push(tmp_rec(linkid, d.state, d.tmp));
                }
            }
        }
        if !found {
            return Err(Errno::ENOENT);
        }
        Ok(out)
    }

    /// The records of `dls_devnet_snapshot()` for a caller in `caller`,
    /// and the generation they were taken at.
    ///
    /// The whole table is read at one instant; its generation is the one
    /// [`View`] gives it. A non-global caller gets the part it sees, and a
    /// [`fingerprint`] of that part as its generation.
    pub fn snapshot(&self, caller: ZoneId) -> CResult<(Vec<DlsLinkInfo>, u64)> {
        caller.validate()?;
        // A zone gets the registry's zone-scoped snapshot (rule 8) and,
        // below, a fingerprint of it for a generation: the table's would
        // tell it that some link elsewhere changed.
        let (snap, table) = self.reg.snapshot_for(caller)?;
        let generation =
            caller.is_global().then(|| self.view.lock().generation(table, &snap.links));
        let mut out = Vec::with_capacity(snap.links.len());
        for l in &snap.links {
            let mut r = DlsLinkInfo {
                dli_linkid: l.linkid.0,
                dli_owner: l.owner.id.0,
                dli_zone: l.zone.id.0,
                dli_state: state_code(l.state),
                dli_owner_uniqid: l.owner.uniqid,
                dli_zone_uniqid: l.zone.uniqid,
                dli_long_holds: l.holders.iter().map(|h| u64::from(h.count)).sum(),
                ..DlsLinkInfo::default()
            };
            if l.transient {
                r.dli_flags |= linkf::TRANSIENT;
            }
            if l.persistent {
                r.dli_flags |= linkf::PERSISTENT;
            }
            if l.zone.id != l.owner.id {
                r.dli_flags |= linkf::LENT;
            }
            if let Some(n) = l.name {
                r.dli_name = c_name(&n);
            }
            if let Some(n) = l.reserved {
                r.dli_reserved = c_name(&n);
            }
            copy_field(&mut r.dli_mac, l.mac.as_bytes());
            out.push(r);
        }
        let generation = generation.unwrap_or_else(|| fingerprint(&out));
        Ok((out, generation))
    }

    /// `dls_devnet_counters()`.
    pub fn counters(&self) -> DlsCounters {
        let c = &self.counters;
        DlsCounters {
            dc_bad_releases: self.reg.bad_releases(),
            dc_late_releases: self.reg.late_releases(),
            dc_pending_frees: self.reg.pending_frees() as u64,
            dc_outbox: self.reg.outbox().len() as u64,
            dc_handles: self.handles.live(),
            dc_nomem: c.nomem.load(Ordering::Relaxed),
        }
    }

    /// A "link" kstat's update (`dls_devnet_stat_update` in gate): a
    /// temporary hold on the kstat's link, its `dls_link_t` looked up
    /// without the perimeter (kstat locks come before dls's), then
    /// `dls_stat_update()`.
    pub fn kstat_update(&self, ksp: *mut core::ffi::c_void, rw: i32) -> i32 {
        let linkid = self.k.kstat_linkid(ksp);
        let Ok(t) = self.reg.hold_tmp(ZoneId::GLOBAL, linkid) else {
            return Errno::ENOENT.to_raw();
        };
        let link = t.link_ref();
        let r = match self.k.link_find(link.mac().as_bytes_with_nul()) {
            Some(dlp) => self.k.kstat_update(ksp, dlp, rw),
            None => Errno::ENOENT.to_raw(),
        };
        let _ = self.reg.rele_tmp(t);
        r
    }

    /// `dls_mgmt_fini()`: what is still held when dls unloads is leaked
    /// (with a warning), never freed under a holder.
    pub fn fini(&self) {
        let left = self.handles.drain();
        if !left.is_empty() {
            self.counters.leaked_at_fini.fetch_add(left.len() as u64, Ordering::Relaxed);
            self.k.warn(c"dls: unloading with datalink holds outstanding; their memory is leaked");
            core::mem::forget(left);
        }
    }
}
