//! Suite `obs`: what an operator reads back. The `dlszone` kstat (through
//! `kmod::kstat::read`, which in the kernel calls the kstat's `ks_update`
//! under its `ks_lock` and copies the named values out, as `kstat(8)`
//! does) shows the registry the body hands it, and link records come from
//! `dlszone_link_cache` (in the kernel; host records are plain `Arc`s).
//!
//! The module's `_init` created the cache and the kstat
//! (`kmod::obs::init`); the host runner does the same.

use dlszone::errno::Errno;
use dlszone::kmod::cache::LINK_CACHE;
use dlszone::kmod::kstat::{self, Shown};
use dlszone::registry::{Action, HoldKind, Stats};

use super::rules::{GZ, Z1, daemon, id, inv, setup};
use crate::Outcome;
use crate::{kt_assert, kt_assert_eq, kt_assert_err, kt_assert3u, kt_ok, kt_pass};

/// The kstat's values now; ERROR if there is no kstat.
macro_rules! kstat_now {
    () => {{
        let k: Stats = $crate::kt_eok!(kstat::read());
        k
    }};
}

/// Gauges: links, zones and limbo follow creates, halts, releases and
/// zone destroys, and the kstat shows exactly the registry's values.
pub(super) fn kstat_reads_back_gauges() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    let _shown = Shown::new(r.stats_handle());
    let k = kstat_now!();
    kt_assert3u!(k.zones, ==, 3);
    kt_assert3u!(k.links, ==, 0);
    kt_ok!(r.create(Z1.id, b"vnic1", id(1), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic2", id(2), b"net0", false));
    kt_ok!(r.create_pending(b"e1000g0"));
    kt_assert3u!(kstat_now!().links, ==, 3);
    // A global-zone snoop of the zone's link keeps it in limbo after the
    // halt condemns it; its release frees it.
    let snoop = kt_ok!(r.hold(GZ, id(1), HoldKind::Stream));
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert!(halt.is_clean(), "{halt:?}");
    let k = kstat_now!();
    kt_assert3u!(k.links, ==, 2);
    kt_assert3u!(k.limbo, ==, 1);
    kt_assert3u!(k.halts, ==, 1);
    kt_assert3u!(k.halts_left_links, ==, 0);
    kt_assert3u!(k.notices_delivered, ==, 1);
    kt_assert3u!(k.outbox_depth, ==, 0);
    kt_ok!(r.rele(snoop));
    kt_assert3u!(kstat_now!().limbo, ==, 0);
    kt_ok!(r.zone_destroy(Z1));
    let k = kstat_now!();
    kt_assert3u!(k.zones, ==, 2);
    // Compared without formatting: a Stats Debug print would be the
    // deepest formatter the panic path's dynamic dispatch could reach.
    kt_assert!(k == r.stats(), "the kstat and the registry disagree");
    inv!(r);
    kt_pass!()
}

/// Counters: a zone stuck in down with dlmgmtd gone, its forced recovery,
/// the late release of the hold it reclaimed, and the replay once
/// dlmgmtd is back.
pub(super) fn kstat_reads_back_stuck_zone_recovery() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    let _shown = Shown::new(r.stats_handle());
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    let in_zone = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    d.set_up(false);
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert_eq!(halt.outcome(id(1)).map(|o| o.action.clone()), Some(Action::Blocked));
    let k = kstat_now!();
    kt_assert3u!(k.halts, ==, 1);
    kt_assert3u!(k.halts_left_links, ==, 1);
    kt_assert3u!(k.notices_delivered, ==, 1);
    let rec = kt_ok!(r.zone_recover(Z1, true, 10));
    kt_assert!(rec.is_clean(), "{rec:?}");
    let k = kstat_now!();
    kt_assert3u!(k.recoveries, ==, 1);
    kt_assert3u!(k.recoveries_forced, ==, 1);
    kt_assert3u!(k.holds_reclaimed, ==, 1);
    kt_assert3u!(k.outbox_depth, ==, 1);
    kt_assert_err!(r.rele(in_zone), Errno::ESTALE);
    let k = kstat_now!();
    kt_assert3u!(k.late_releases, ==, 1);
    kt_assert3u!(k.bad_releases, ==, 0);
    d.set_up(true);
    kt_assert_eq!(r.replay_outbox(), Ok(1));
    let k = kstat_now!();
    kt_assert3u!(k.outbox_depth, ==, 0);
    kt_assert3u!(k.notices_delivered, ==, 2);
    kt_assert3u!(k.notices_failed, ==, 0);
    // Compared without formatting: a Stats Debug print would be the
    // deepest formatter the panic path's dynamic dispatch could reach.
    kt_assert!(k == r.stats(), "the kstat and the registry disagree");
    inv!(r);
    kt_pass!()
}

/// Without a shown registry the kstat reads zeros; showing one and
/// hiding it again restores what was shown before.
pub(super) fn kstat_shows_one_registry_at_a_time() -> Outcome {
    kt_assert!(kstat::read() == Ok(Stats::default()), "a kstat with nothing shown is not zero");
    let r = setup!();
    {
        let _shown = Shown::new(r.stats_handle());
        kt_assert3u!(kstat_now!().zones, ==, 3);
    }
    kt_assert!(kstat::read() == Ok(Stats::default()), "hiding the registry left values");
    kt_pass!()
}

/// Link records come from `dlszone_link_cache` and go back to it when
/// the registry and every holder let go.
pub(super) fn link_records_come_from_the_cache() -> Outcome {
    let (live, allocs) = (LINK_CACHE.live(), LINK_CACHE.allocations());
    {
        let r = setup!();
        kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
        kt_ok!(r.create_pending(b"e1000g0"));
        let h = kt_ok!(r.hold(GZ, id(1), HoldKind::Named));
        let record = h.link_ref();
        kt_ok!(r.rele(h));
        if cfg!(kmod) {
            kt_assert!(LINK_CACHE.created(), "dlszone_link_cache was not created at load");
            kt_assert3u!(LINK_CACHE.allocations(), ==, allocs + 2);
            kt_assert3u!(LINK_CACHE.live(), ==, live + 2);
        }
        drop(r);
        // A reference outlives the registry, and with it its record.
        if cfg!(kmod) {
            kt_assert3u!(LINK_CACHE.live(), ==, live + 1);
        }
        drop(record);
    }
    kt_assert3u!(LINK_CACHE.live(), ==, live);
    kt_pass!()
}
