//! What the registry tells about itself besides its return values: the
//! counters of the `dlszone` kstat (`stats.rs`), the probes of events that
//! sum up a whole operation (halt, recovery, a notice's fate, a bad
//! release), and the console messages an operator must see.
//!
//! Each helper is out of line, so the paths that call them (a halt, a
//! recovery, an upcall) pay for their frames only while they run, never
//! on top of the deeper calls those paths make; messages are formatted in
//! a cold function of their own, whose buffer is on the stack only when a
//! message is written.
//!
//! Console messages go through `cmn_err` with a constant `"%s"` format
//! ([`crate::kmod::log`]); the text holds numbers only.

use super::Registry;
use super::link::Link;
use super::outbox::Notice;
use super::report::{Action, TeardownReport};
use super::stats::{add, bump};
use super::types::{HoldKind, ZoneId, ZoneKey};
use crate::errno::{Errno, KResult};
use crate::sdt;

/// A hold kind as the probes number it (`crate::sdt::kind`).
pub(crate) fn kind_code(kind: HoldKind) -> u32 {
    match kind {
        HoldKind::Existence => sdt::kind::EXISTENCE,
        HoldKind::Loan => sdt::kind::LOAN,
        HoldKind::Stream => sdt::kind::STREAM,
        HoldKind::DevNet => sdt::kind::DEVNET,
        HoldKind::Named => sdt::kind::NAMED,
    }
}

/// The `link` argument of the link probes: the address of the link's
/// record (`Link`, inside its `dlszone_link_cache` buffer in the kernel).
#[inline(always)]
pub(crate) fn addr(l: &Link) -> usize {
    l as *const Link as usize
}

// The link probes fired from the teardown paths (halt, recovery,
// destroy of a transient link), out of line: their callers pass one
// pointer, and their frames do not grow by the probes' argument set-up.

// Each is a check inline (`sdt::enabled`: always true in the kernel, so
// there the out-of-line part is always called, as a probe site must be)
// and the probes out of line.

/// Condemned and detached at once (teardown of a transient link).
#[inline(always)]
pub(crate) fn link_condemned(l: &Link) {
    if sdt::enabled() {
        fire_condemned(l);
    }
}

#[inline(never)]
fn fire_condemned(l: &Link) {
    let (id, zone) = (l.linkid().0, l.word().zone_id().0);
    sdt::link_condemn(id, zone, addr(l));
    sdt::link_detach(id, zone, addr(l));
}

/// The last hold of a detached link went.
#[inline(always)]
pub(crate) fn link_freed(l: &Link) {
    if sdt::enabled() {
        fire_freed(l);
    }
}

#[inline(never)]
fn fire_freed(l: &Link) {
    sdt::link_free(l.linkid().0, l.word().zone_id().0, addr(l));
}

/// A lent link is about to come back to its owner (its zone is still
/// the zone it leaves).
#[inline(always)]
pub(crate) fn link_returning(l: &Link) {
    if sdt::enabled() {
        fire_returning(l);
    }
}

#[inline(never)]
fn fire_returning(l: &Link) {
    let w = l.word();
    sdt::link_return(l.linkid().0, w.zone_id().0, l.owner_locked().id.0, addr(l));
}

/// Whether the `n`th bad release is reported on the console: the 1st,
/// 2nd, 4th, 8th, ... (each message says how many there were), so a
/// caller that releases in a loop cannot flood it.
fn bad_release_reported(n: u64) -> bool {
    n.is_power_of_two()
}

impl Registry {
    /// A notice's delivery ended with `res`: probe and counter.
    #[inline(never)]
    pub(super) fn noticed(&self, notice: &Notice, res: &KResult<()>) {
        if sdt::enabled() {
            notice.fire(res);
        }
        bump(if res.is_ok() { &self.stats.notices_delivered } else { &self.stats.notices_failed });
    }

    /// A release matched no hold: `kind` is `None` for a temporary hold;
    /// `late` when forced recovery had reclaimed the hold (`ESTALE`),
    /// otherwise a bug in the caller (`ENOENT`, warned about).
    #[cold]
    #[inline(never)]
    pub(super) fn unmatched_release(
        &self,
        l: &Link,
        kind: Option<HoldKind>,
        holder: ZoneKey,
        late: bool,
    ) -> Errno {
        let code = kind.map_or(sdt::kind::TEMPORARY, kind_code);
        let e = if late { Errno::ESTALE } else { Errno::ENOENT };
        sdt::link_bad_release(l.linkid().0, code, holder.id.0, e.to_raw(), addr(l));
        if late {
            bump(&self.stats.late_releases);
        } else {
            let n = bump(&self.stats.bad_releases);
            if bad_release_reported(n) {
                warn_bad_release(l.linkid().0, code, holder.id.0, n);
            }
        }
        e
    }

    /// A release through a C handle that holds nothing (`ENOENT`: it was
    /// released already, or never was a handle) or through the wrong
    /// function for its hold (`EINVAL`), found before any link is known:
    /// probed with link id 0 and kind [`sdt::kind::HANDLE`], counted in
    /// `bad_releases` and warned about at powers of two, as a release
    /// that matches no hold of a link is. Returns `e`.
    #[cold]
    #[inline(never)]
    pub fn unmatched_handle(&self, holder: ZoneId, e: Errno) -> Errno {
        sdt::link_bad_release(0, sdt::kind::HANDLE, holder.0, e.to_raw(), 0);
        let n = bump(&self.stats.bad_releases);
        if bad_release_reported(n) {
            warn_bad_handle(holder.0, e.to_raw(), n);
        }
        e
    }

    /// A halt ended: probe, counters, and a warning if links were left
    /// in the zone.
    #[inline(never)]
    pub(super) fn halted(&self, report: &TeardownReport) {
        let left = report.remaining as u64;
        if sdt::enabled() {
            let (mut returned, mut condemned) = (0u64, 0u64);
            for o in &report.links {
                match o.action {
                    Action::Returned { .. } | Action::ReturnQueued { .. } => returned += 1,
                    Action::Condemned { .. } => condemned += 1,
                    _ => {}
                }
            }
            sdt::halt_end(report.zone.id.0, returned, condemned, left);
        }
        bump(&self.stats.halts);
        if left > 0 {
            bump(&self.stats.halts_left_links);
            warn_halt_left(report.zone, left);
        }
    }

    /// A recovery ended: probe, counters, and a notice if a forced one
    /// reclaimed links or holds.
    #[inline(never)]
    pub(super) fn recovered(&self, report: &TeardownReport, force: bool) {
        let mut reclaimed = 0u64;
        let mut links = 0u64;
        for o in &report.links {
            let held: u64 = o.reclaimed.iter().map(|h| u64::from(h.count)).sum();
            reclaimed += held;
            let took = matches!(o.action, Action::Condemned { .. } | Action::ReturnQueued { .. });
            if took || held > 0 {
                links += 1;
            }
        }
        let left = report.remaining as u64;
        sdt::recover_end(report.zone.id.0, force, reclaimed, left);
        bump(&self.stats.recoveries);
        if force {
            bump(&self.stats.recoveries_forced);
            add(&self.stats.holds_reclaimed, reclaimed);
            if links > 0 || reclaimed > 0 {
                note_recovered(report.zone, links, reclaimed, left);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn warn_bad_release(linkid: u32, kind: u32, holder: i32, n: u64) {
    crate::kwarn!(
        "dlszone: release of a hold that does not exist (link {linkid}, kind {kind}, \
         holder zone {holder}); {n} such releases so far, see kstat dlszone:0:dlszone"
    );
}

#[cold]
#[inline(never)]
fn warn_bad_handle(holder: i32, errno: i32, n: u64) {
    crate::kwarn!(
        "dlszone: release of a datalink handle that holds nothing or with the wrong function \
         (errno {errno}, caller zone {holder}); {n} such releases so far, see kstat dlszone:0:dlszone"
    );
}

#[cold]
#[inline(never)]
fn warn_halt_left(zone: ZoneKey, left: u64) {
    crate::kwarn!(
        "dlszone: halt of zone {} (uniqid {}) left {left} link(s) in the zone, which stays \
         down; once dlmgmtd is running, halt it again or run a recovery (dlszone(7))",
        zone.id.0,
        zone.uniqid
    );
}

#[cold]
#[inline(never)]
fn note_recovered(zone: ZoneKey, links: u64, holds: u64, left: u64) {
    crate::kmod::log::log(
        crate::kmod::log::Level::NOTE,
        crate::kmod::log::Dest::Both,
        format_args!(
            "dlszone: forced recovery of zone {} (uniqid {}) reclaimed {links} link(s) and \
             {holds} hold(s) of the dead zone; {left} link(s) left in it",
            zone.id.0, zone.uniqid
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::types::{LinkId, ZoneId};
    use crate::registry::unlocked::Unlocked;

    /// A release matching no hold cannot be written in safe Rust (the
    /// tokens prevent it; only a handle forged in C can), so the path is
    /// driven directly: probe, counter, errno.
    #[test]
    fn unmatched_releases_fire_and_count() {
        let r = Registry::new();
        r.create(ZoneId::GLOBAL, b"vnic0", LinkId(1), b"net0", false).unwrap();
        let link = {
            let mut cx = Unlocked::new();
            let t = r.table.read(&mut cx);
            t.link(LinkId(1)).unwrap().clone()
        };
        let rec = crate::sdt::Recording::start();
        let l = link.lock();
        for _ in 0..3 {
            let e = r.unmatched_release(&l, Some(HoldKind::Named), ZoneKey::new(4, 9), false);
            assert_eq!(e, Errno::ENOENT);
        }
        assert_eq!(r.unmatched_release(&l, None, ZoneKey::GLOBAL, true), Errno::ESTALE);
        drop(l);
        let fired = rec.take();
        assert_eq!(fired.len(), 4);
        assert!(fired.iter().all(|f| f.probe == "dlszone-link-bad-release"));
        let args: std::vec::Vec<_> =
            fired[0].args.iter().take(4).cloned().collect::<std::vec::Vec<_>>();
        use crate::sdt::Value::Int;
        assert_eq!(args, [Int(1), Int(u64::from(sdt::kind::NAMED)), Int(4), Int(2)]);
        assert_eq!((fired[3].arg(1), fired[3].arg(3)), (u64::from(sdt::kind::TEMPORARY), 151));
        assert_eq!((r.bad_releases(), r.late_releases()), (3, 1));
        assert_eq!((r.stats().bad_releases, r.stats().late_releases), (3, 1));
    }

    #[test]
    fn bad_releases_are_reported_at_powers_of_two() {
        let reported: std::vec::Vec<u64> = (1..=40).filter(|&n| bad_release_reported(n)).collect();
        assert_eq!(reported, [1, 2, 4, 8, 16, 32]);
    }
}
