//! The ioctls, as safe code over [`Sys`] and the IPD 3 entry points.
//!
//! Order of checks, for every command (`include/sys/dlszone_ioctl.h`
//! documents the same):
//!
//! 1. mutating commands (`DZIOC_RECOVER`, `DZIOC_REPLAY`): the privilege
//!    dladm's link configuration needs, `secpolicy_dl_config()`, before
//!    anything is copied in, as dld's `drv_ioctl()` checks `di_priv_func`
//!    first: `EPERM`;
//! 2. the argument structure is copied in (`EFAULT`);
//! 3. its version, its first field (`ENOTSUP` for any other);
//! 4. flags and ranges (`EINVAL`; a non-zero capacity with a zero buffer
//!    address is `EFAULT`);
//! 5. zone scope: a caller outside the global zone that names any zone but
//!    its own gets `ENOENT`, as for a zone that does not exist; it may list
//!    its own links, and gets `EACCES` for what only the global zone may do
//!    (recover, replay, ask holders of a link it can see);
//! 6. the entry point; then the structure is copied out (also after
//!    `ENOSPC`, and after a recovery that did part of its work), `EFAULT`
//!    if that fails and the command had succeeded.

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use dlszone::errno::Errno;
use dlszone_ioctl::{
    ALL_ZONES, DZ_HOLDERS_DETACHED, DZ_LIST_NOHOLDS, DZ_RECOVER_FORCE, DZ_RECOVER_MAX_TIMEOUT_MS,
    DZIOC_HOLDERS, DZIOC_LIST, DZIOC_RECOVER, DZIOC_REPLAY, DZIOC_VERSION, DzHolder, DzHolders,
    DzLink, DzList, DzRecover, DzReplay, GLOBAL_ZONEID, MAX_ZONEID, Wire, kind,
};

use crate::dls::{self, DlsHolder, DlsLinkInfo, DlsRecoverResult};
use crate::sys::Sys;

/// An ioctl's outcome: 0 or an illumos errno value.
pub type Rc = i32;

const fn rc(e: Errno) -> Rc {
    e.to_raw()
}

/// How many times a snapshot or holders call is retried when the table
/// grew between the size query and the copy.
const RETRIES: usize = 4;
/// Entries allocated beyond the number reported, so a table that grows a
/// little between the two calls still fits.
const SLACK: usize = 8;

/// Dispatches one ioctl.
pub fn ioctl<K: Sys>(k: &K, cmd: i32, arg: u64, mode: i32, cr: K::Cred) -> Rc {
    match cmd {
        DZIOC_RECOVER => recover(k, arg, mode, cr),
        DZIOC_LIST => list(k, arg, mode, cr),
        DZIOC_HOLDERS => holders(k, arg, mode, cr),
        DZIOC_REPLAY => replay(k, arg, mode, cr),
        // dld answers unknown commands so too.
        _ => rc(Errno::ENOTSUP),
    }
}

/// Copies in a `T` from `arg`.
fn copyin<K: Sys, T: Wire, const N: usize>(k: &K, arg: u64, mode: i32) -> Result<T, Rc> {
    let mut b = [0u8; N];
    k.copyin(arg, &mut b, mode).map_err(rc)?;
    Ok(T::decode(&b))
}

/// Copies a `T` out to `arg`.
fn copyout<K: Sys, T: Wire, const N: usize>(k: &K, v: &T, arg: u64, mode: i32) -> Result<(), Rc> {
    let mut b = [0u8; N];
    v.encode(&mut b);
    k.copyout(&b, arg, mode).map_err(rc)
}

/// The outcome after the final copyout: a failed copyout turns success
/// into `EFAULT` and leaves an error as it was (as dld does).
fn finish(r: Rc, out: Result<(), Rc>) -> Rc {
    match (r, out) {
        (0, Err(e)) => e,
        (r, _) => r,
    }
}

/// The user address of entry `i` of a buffer at `base`, `EFAULT` on
/// overflow.
fn entry_addr(base: u64, i: usize, size: usize) -> Result<u64, Rc> {
    let off = (i as u64).checked_mul(size as u64).ok_or(rc(Errno::EFAULT))?;
    base.checked_add(off).ok_or(rc(Errno::EFAULT))
}

/// A vector of `n` default entries, `ENOMEM` if it cannot be had.
fn zeroed<T: Default + Clone>(n: usize) -> Result<Vec<T>, Rc> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| rc(Errno::ENOMEM))?;
    v.resize(n, T::default());
    Ok(v)
}

// ---- DZIOC_RECOVER ------------------------------------------------------------

fn recover<K: Sys>(k: &K, arg: u64, mode: i32, cr: K::Cred) -> Rc {
    if let Err(e) = k.dl_config(cr) {
        return rc(e);
    }
    let mut r: DzRecover = match copyin::<K, DzRecover, { DzRecover::SIZE }>(k, arg, mode) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if r.dzr_version != DZIOC_VERSION {
        return rc(Errno::ENOTSUP);
    }
    if r.dzr_flags & !DZ_RECOVER_FORCE != 0
        || r.dzr_timeout_ms > DZ_RECOVER_MAX_TIMEOUT_MS
        || r.dzr_zoneid <= GLOBAL_ZONEID
        || r.dzr_zoneid > MAX_ZONEID
    {
        return rc(Errno::EINVAL);
    }
    let caller = k.zone(cr);
    if caller != GLOBAL_ZONEID {
        // A zone may name only itself, and recovery is the global zone's.
        return rc(if r.dzr_zoneid == caller { Errno::EACCES } else { Errno::ENOENT });
    }
    let flags = if r.dzr_flags & DZ_RECOVER_FORCE != 0 { dls::DLS_RECOVER_FORCE } else { 0 };
    let mut res = DlsRecoverResult::default();
    let mut e = dls::zone_recover(
        k.dls_cred(cr),
        r.dzr_zoneid,
        r.dzr_uniqid,
        r.dzr_timeout_ms,
        flags,
        &mut res,
    );
    if e == rc(Errno::ENXIO) {
        // No zone has had that id since the registry knew it: to the
        // caller, as to a non-global caller naming another zone, there is
        // no such zone.
        e = rc(Errno::ENOENT);
    }
    if e != 0 && e != rc(Errno::EBUSY) && e != rc(Errno::ETIMEDOUT) {
        return e;
    }
    r.dzr_returned = res.drr_returned;
    r.dzr_condemned = res.drr_condemned;
    r.dzr_left = res.drr_left;
    r.dzr_holds_reclaimed = res.drr_holds_reclaimed;
    r.dzr_delayed = res.drr_delayed;
    r.dzr_notices = res.drr_notices;
    finish(e, copyout::<K, DzRecover, { DzRecover::SIZE }>(k, &r, arg, mode))
}

// ---- DZIOC_LIST ---------------------------------------------------------------

/// The caller's snapshot (`dls_devnet_snapshot()` with its credential).
fn snapshot<K: Sys>(k: &K, cr: K::Cred) -> Result<(Vec<DlsLinkInfo>, u64), Rc> {
    let dcr = k.dls_cred(cr);
    let mut generation = 0u64;
    let mut n = 0u32;
    let e = dls::snapshot(dcr, &mut [], &mut n, &mut generation);
    if e != 0 && e != rc(Errno::ENOSPC) {
        return Err(e);
    }
    for _ in 0..RETRIES {
        let mut v = zeroed::<DlsLinkInfo>((n as usize).saturating_add(SLACK))?;
        let e = dls::snapshot(dcr, &mut v, &mut n, &mut generation);
        if e == 0 {
            v.truncate(n as usize);
            return Ok((v, generation));
        }
        if e != rc(Errno::ENOSPC) {
            return Err(e);
        }
    }
    // The table kept growing faster than it could be copied.
    Err(rc(Errno::EAGAIN))
}

/// The holder records of one link (`dls_devnet_holders()`), in the
/// first entries of `buf` (grown when they do not fit); how many.
fn holder_records<K: Sys>(
    k: &K,
    cr: K::Cred,
    linkid: u32,
    flags: u32,
    buf: &mut Vec<DlsHolder>,
) -> Result<usize, Rc> {
    let dcr = k.dls_cred(cr);
    for _ in 0..RETRIES {
        let mut n = 0u32;
        let e = dls::holders(dcr, linkid, flags, buf, &mut n);
        if e == 0 {
            return Ok((n as usize).min(buf.len()));
        }
        if e != rc(Errno::ENOSPC) {
            return Err(e);
        }
        let want = (n as usize).saturating_add(SLACK);
        *buf = zeroed::<DlsHolder>(want)?;
    }
    Err(rc(Errno::EAGAIN))
}

/// A `dz_link_t` from a snapshot record and the link's holder records.
fn link_entry(l: &DlsLinkInfo, holders: Option<&[DlsHolder]>) -> DzLink {
    let mut e = DzLink {
        dzk_linkid: l.dli_linkid,
        dzk_owner: l.dli_owner,
        dzk_zone: l.dli_zone,
        dzk_flags: l.dli_flags,
        dzk_state: l.dli_state,
        dzk_owner_uniqid: l.dli_owner_uniqid,
        dzk_zone_uniqid: l.dli_zone_uniqid,
        dzk_name: l.dli_name,
        dzk_reserved: l.dli_reserved,
        dzk_mac: l.dli_mac,
        ..DzLink::default()
    };
    for h in holders.unwrap_or(&[]) {
        let slot = (h.dh_kind as usize).checked_sub(1).and_then(|i| e.dzk_holds.get_mut(i));
        if let Some(slot) = slot {
            *slot = slot.saturating_add(h.dh_count);
        }
    }
    e
}

fn list<K: Sys>(k: &K, arg: u64, mode: i32, cr: K::Cred) -> Rc {
    let mut l: DzList = match copyin::<K, DzList, { DzList::SIZE }>(k, arg, mode) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if l.dzl_version != DZIOC_VERSION {
        return rc(Errno::ENOTSUP);
    }
    if l.dzl_flags != 0 || (l.dzl_zoneid != ALL_ZONES && !(0..=MAX_ZONEID).contains(&l.dzl_zoneid))
    {
        return rc(Errno::EINVAL);
    }
    if l.dzl_capacity > 0 && l.dzl_buf == 0 {
        return rc(Errno::EFAULT);
    }
    let caller = k.zone(cr);
    let global = caller == GLOBAL_ZONEID;
    if !global && l.dzl_zoneid != ALL_ZONES && l.dzl_zoneid != caller {
        return rc(Errno::ENOENT);
    }
    let (mut links, generation) = match snapshot(k, cr) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if l.dzl_zoneid != ALL_ZONES {
        let z = l.dzl_zoneid;
        links.retain(|i| i.dli_zone == z);
        if links.is_empty() && !k.zone_exists(z) {
            return rc(Errno::ENOENT);
        }
    }
    let total = u32::try_from(links.len()).unwrap_or(u32::MAX);
    l.dzl_total = total;
    l.dzl_count = 0;
    l.dzl_generation = generation;
    l.dzl_oflags = if global { 0 } else { DZ_LIST_NOHOLDS };
    l.dzl_pad = 0;
    let r = if l.dzl_capacity == 0 {
        // The size query.
        0
    } else if l.dzl_capacity < total {
        rc(Errno::ENOSPC)
    } else {
        match copy_links(k, cr, &links, l.dzl_buf, mode, global) {
            Ok(()) => {
                l.dzl_count = total;
                0
            }
            Err(e) => return e,
        }
    };
    finish(r, copyout::<K, DzList, { DzList::SIZE }>(k, &l, arg, mode))
}

fn copy_links<K: Sys>(
    k: &K,
    cr: K::Cred,
    links: &[DlsLinkInfo],
    buf: u64,
    mode: i32,
    global: bool,
) -> Result<(), Rc> {
    let mut recs = zeroed::<DlsHolder>(2 * kind::COUNT)?;
    for (i, li) in links.iter().enumerate() {
        let held = if global {
            match holder_records(k, cr, li.dli_linkid, 0, &mut recs) {
                Ok(n) => Some(recs.get(..n).unwrap_or(&[])),
                // Destroyed since the snapshot: no holders left to count.
                Err(e) if e == rc(Errno::ENOENT) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let e = link_entry(li, held);
        let at = entry_addr(buf, i, DzLink::SIZE)?;
        copyout::<K, DzLink, { DzLink::SIZE }>(k, &e, at, mode)?;
    }
    Ok(())
}

// ---- DZIOC_HOLDERS ------------------------------------------------------------

fn holders<K: Sys>(k: &K, arg: u64, mode: i32, cr: K::Cred) -> Rc {
    let mut h: DzHolders = match copyin::<K, DzHolders, { DzHolders::SIZE }>(k, arg, mode) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if h.dzh_version != DZIOC_VERSION {
        return rc(Errno::ENOTSUP);
    }
    if h.dzh_flags & !DZ_HOLDERS_DETACHED != 0 || h.dzh_linkid == 0 {
        return rc(Errno::EINVAL);
    }
    if h.dzh_capacity > 0 && h.dzh_buf == 0 {
        return rc(Errno::EFAULT);
    }
    if k.zone(cr) != GLOBAL_ZONEID {
        // Only the global zone asks who holds a link; a link the caller
        // cannot see does not exist for it.
        return match snapshot(k, cr) {
            Ok((links, _)) if links.iter().any(|l| l.dli_linkid == h.dzh_linkid) => {
                rc(Errno::EACCES)
            }
            Ok(_) => rc(Errno::ENOENT),
            Err(e) => e,
        };
    }
    let flags = if h.dzh_flags & DZ_HOLDERS_DETACHED != 0 { dls::DLS_HOLDERS_DETACHED } else { 0 };
    let mut recs = match zeroed::<DlsHolder>(2 * kind::COUNT) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let n = match holder_records(k, cr, h.dzh_linkid, flags, &mut recs) {
        Ok(n) => n,
        Err(e) => return e,
    };
    recs.truncate(n);
    let total = u32::try_from(recs.len()).unwrap_or(u32::MAX);
    h.dzh_total = total;
    h.dzh_count = 0;
    let r = if h.dzh_capacity == 0 {
        0
    } else if h.dzh_capacity < total {
        rc(Errno::ENOSPC)
    } else {
        for (i, d) in recs.iter().enumerate() {
            let e = DzHolder {
                dzhe_linkid: d.dh_linkid,
                dzhe_kind: d.dh_kind,
                dzhe_zoneid: d.dh_zoneid,
                dzhe_state: d.dh_state,
                dzhe_uniqid: d.dh_uniqid,
                dzhe_count: d.dh_count,
            };
            let out = entry_addr(h.dzh_buf, i, DzHolder::SIZE)
                .and_then(|at| copyout::<K, DzHolder, { DzHolder::SIZE }>(k, &e, at, mode));
            if let Err(e) = out {
                return e;
            }
        }
        h.dzh_count = total;
        0
    };
    finish(r, copyout::<K, DzHolders, { DzHolders::SIZE }>(k, &h, arg, mode))
}

// ---- DZIOC_REPLAY -------------------------------------------------------------

fn replay<K: Sys>(k: &K, arg: u64, mode: i32, cr: K::Cred) -> Rc {
    if let Err(e) = k.dl_config(cr) {
        return rc(e);
    }
    let mut p: DzReplay = match copyin::<K, DzReplay, { DzReplay::SIZE }>(k, arg, mode) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if p.dzp_version != DZIOC_VERSION {
        return rc(Errno::ENOTSUP);
    }
    if p.dzp_flags != 0 {
        return rc(Errno::EINVAL);
    }
    if k.zone(cr) != GLOBAL_ZONEID {
        return rc(Errno::EACCES);
    }
    let (mut delivered, mut pending) = (0u32, 0u32);
    let e = dls::outbox_replay(k.dls_cred(cr), &mut delivered, &mut pending);
    p.dzp_delivered = delivered;
    p.dzp_pending = pending;
    finish(e, copyout::<K, DzReplay, { DzReplay::SIZE }>(k, &p, arg, mode))
}
