//! Exhaustive interleavings (bounded preemption) of the registry's racing
//! operations, under loom. Each test is one race named in
//! `docs/locking.md`; loom explores every schedule with at most
//! `preemptions()` forced switches and fails on a deadlock, a panic in any
//! thread, or a broken assertion at the end.
//!
//! Run: `tools/test-concurrency.sh ci`, or
//! `RUSTFLAGS="--cfg loom" cargo test --target <host> --test loom_registry`.
//! Loom does not model time, so no timeout ever fires here.

#![cfg(loom)]

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, LinkId, LinkState, Registry, ZoneId, ZoneKey, ZoneState,
};
use dlszone::sync::Arc;
use dlszone_ktest::fake::FakeDlmgmt;
use loom::thread;

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);
const Z2: ZoneKey = ZoneKey::new(2, 102);
const L1: LinkId = LinkId(1);
const L2: LinkId = LinkId(2);

/// Forced context switches per schedule. 3 keeps the whole file under a
/// second and covers every race here (each needs one or two);
/// `DLSZONE_LOOM_PREEMPTIONS` changes it, `none` lifting the bound (the
/// soak does: every test here is then explored exhaustively, in seconds).
fn preemptions() -> Option<usize> {
    match std::env::var("DLSZONE_LOOM_PREEMPTIONS").as_deref() {
        Ok("none") => None,
        Ok(n) => Some(n.parse().expect("DLSZONE_LOOM_PREEMPTIONS: a number or none")),
        Err(_) => Some(3),
    }
}

/// Runs `f` under loom and reports how many schedules it explored.
fn model(f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = preemptions();
    b.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    eprintln!("loom: {name}: {} schedules", runs.load(Ordering::Relaxed));
}

fn invariants(r: &Registry) {
    if let Err(v) = r.check_invariants() {
        panic!("invariant broken: {v:?}\n{}", r.snapshot().render());
    }
}

/// A registry with Z1 booted, a global-zone link 1 (`net0`) and dlmgmtd.
fn setup() -> (Arc<Registry>, std::sync::Arc<FakeDlmgmt>) {
    let r = Registry::new();
    r.zone_boot(Z1).unwrap();
    r.create(GZ, b"vnic0", L1, b"net0", false).unwrap();
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    (Arc::new(r), d)
}

/// A temporary hold and a waiting destroy: the hold either fails or is
/// on a live link until released; the destroy waits for it and frees the
/// link. Catches `early_unlock` (a hold granted on a freed link) and
/// `missing_wakeup` (the destroy sleeps for ever: loom reports deadlock).
#[test]
fn hold_tmp_vs_destroy() {
    model(|| {
        let (r, _) = setup();
        let r2 = r.clone();
        let holder = thread::spawn(move || {
            if let Ok(h) = r2.hold_tmp(GZ, L1) {
                let s = h.state();
                assert!(matches!(s, LinkState::Active | LinkState::Condemned), "held a {s:?} link");
                r2.rele_tmp(h).unwrap();
            }
        });
        r.destroy(GZ, L1, DrainWait::Wait).unwrap();
        holder.join().unwrap();
        assert_eq!(r.hold_tmp(GZ, L1).err(), Some(Errno::ENOENT));
        assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
        invariants(&r);
    });
}

/// OS-8627: a global-zone thread holds a zone's transient link (snoop)
/// while the zone halts. The halt never waits for it; the link is
/// detached at once and freed by the holder's release, which succeeds.
#[test]
fn long_hold_vs_zone_halt() {
    model(|| {
        let (r, _d) = setup();
        r.create(Z1.id, b"vnic2", L2, b"net2", false).unwrap();
        let r2 = r.clone();
        let snoop = thread::spawn(move || {
            let h = r2.hold(GZ, L2, HoldKind::Stream).ok()?;
            let link = h.link_ref();
            thread::yield_now();
            r2.rele(h).unwrap();
            Some(link)
        });
        let report = r.zone_halt(Z1).unwrap();
        assert!(report.is_clean());
        if let Some(h) = snoop.join().unwrap() {
            assert_eq!(h.state(), LinkState::Freed);
        }
        assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
        assert_eq!(r.hold_tmp(GZ, L2).err(), Some(Errno::ENOENT));
        invariants(&r);
    });
}

/// A lend into a zone racing that zone's halt: the gate orders them.
/// Either the lend fails (zone not running) or the halt returns the
/// link; in both cases it ends at home under its name, and dlmgmtd
/// agrees.
#[test]
fn lend_vs_halt_of_borrower() {
    model(|| {
        let (r, d) = setup();
        let r2 = r.clone();
        let lender = thread::spawn(move || r2.lend(GZ, L1, Z1.id, false));
        let report = r.zone_halt(Z1).unwrap();
        let lent = lender.join().unwrap();
        assert!(matches!(lent, Ok(()) | Err(Errno::ENXIO)), "{lent:?}");
        assert!(report.is_clean());
        assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(L1));
        assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
        assert!(d.zone_of(L1).is_none_or(|z| z == GZ));
        invariants(&r);
    });
}

/// A zone stuck in down (dlmgmtd was away): a re-run of the halt (the
/// daemon is back) races a forced recovery. They serialise on the
/// zone's gate and end in one state whichever goes first; after a
/// replay dlmgmtd's view is the same too.
#[test]
fn halt_vs_forced_recovery() {
    model(|| {
        let (r, d) = setup();
        r.create(Z1.id, b"vnic2", L2, b"net2", false).unwrap();
        r.lend(GZ, L1, Z1.id, false).unwrap();
        d.set_up(false);
        assert_eq!(r.zone_halt(Z1).unwrap().remaining, 1);
        d.set_up(true);
        let r2 = r.clone();
        let halter = thread::spawn(move || r2.zone_halt(Z1).unwrap());
        let rec = r.zone_recover(Z1, true, 1_000).unwrap();
        let halt = halter.join().unwrap();
        assert!(rec.is_clean() && halt.is_clean());
        // Exactly one of them moved the link.
        let moved = |o: Option<&dlszone::registry::LinkOutcome>| {
            o.is_some_and(|o| {
                matches!(o.action, Action::Returned { .. } | Action::ReturnQueued { .. })
            })
        };
        assert!(moved(rec.outcome(L1)) != moved(halt.outcome(L1)));
        let _ = r.replay_outbox();
        assert!(r.outbox().is_empty());
        assert_eq!(d.zone_of(L1), Some(GZ));
        assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(L1));
        invariants(&r);
    });
}

/// Two forced recoveries of one zone: one does the work, the other finds
/// nothing left; both succeed.
#[test]
fn two_recoveries() {
    model(|| {
        let (r, d) = setup();
        r.lend(GZ, L1, Z1.id, false).unwrap();
        d.set_up(false);
        assert_eq!(r.zone_halt(Z1).unwrap().remaining, 1);
        let r2 = r.clone();
        let other = thread::spawn(move || r2.zone_recover(Z1, true, 1_000).unwrap());
        let a = r.zone_recover(Z1, true, 1_000).unwrap();
        let b = other.join().unwrap();
        assert!(a.is_clean() && b.is_clean());
        assert_eq!(a.queued + b.queued, 1);
        assert_eq!(r.outbox().len(), 1);
        invariants(&r);
    });
}

/// A rename racing lookups and a create of the same name: readers see
/// the link under exactly one of its names, and the new name goes to
/// exactly one of the two writers.
#[test]
fn rename_vs_lookup() {
    model(|| {
        let (r, _) = setup();
        let r2 = r.clone();
        let renamer = thread::spawn(move || r2.rename(GZ, L1, b"net1"));
        let r3 = r.clone();
        let creator = thread::spawn(move || r3.create(GZ, b"vnic9", LinkId(9), b"net1", false));
        let s = r.snapshot();
        let names: Vec<_> = s.links.iter().filter(|l| l.linkid == L1).map(|l| l.name).collect();
        assert_eq!(names.len(), 1, "link 1 under {names:?}");
        let old = r.lookup(GZ, GZ, b"net0");
        assert!(matches!(old, Ok(L1) | Err(Errno::ENOENT)), "{old:?}");
        let renamed = renamer.join().unwrap();
        let created = creator.join().unwrap();
        assert!(renamed.is_ok() != created.is_ok(), "{renamed:?} {created:?}");
        let want = if renamed.is_ok() { L1 } else { LinkId(9) };
        assert_eq!(r.lookup(GZ, GZ, b"net1"), Ok(want));
        invariants(&r);
    });
}

/// A replay racing a new mutation that queues a notice and then asks for
/// a replay itself: every notice is delivered once, in order, and none
/// is left behind (the replayer that refused the second caller with
/// `EALREADY` delivers its notice).
#[test]
fn replay_vs_new_mutation() {
    model(|| {
        let (r, d) = setup();
        r.zone_boot(Z2).unwrap();
        r.create(GZ, b"vnic4", LinkId(4), b"net4", false).unwrap();
        r.lend(GZ, L1, Z1.id, false).unwrap();
        r.lend(GZ, LinkId(4), Z2.id, false).unwrap();
        d.set_up(false);
        r.zone_halt(Z1).unwrap();
        r.zone_halt(Z2).unwrap();
        r.zone_recover(Z1, true, 1_000).unwrap();
        d.set_up(true);
        let r2 = r.clone();
        let replayer = thread::spawn(move || {
            let _ = r2.replay_outbox();
        });
        r.zone_recover(Z2, true, 1_000).unwrap();
        let _ = r.replay_outbox();
        replayer.join().unwrap();
        assert!(r.outbox().is_empty(), "left behind: {:?}", r.outbox());
        assert_eq!(d.zone_of(L1), Some(GZ));
        assert_eq!(d.zone_of(LinkId(4)), Some(GZ));
        // Nothing pending any more: a new move is refused only because Z1
        // is down (EAGAIN would mean a notice was still counted).
        assert_eq!(r.lend(GZ, L1, Z1.id, false), Err(Errno::ENXIO));
        invariants(&r);
    });
}

/// A return racing a hold taken from inside the borrowing zone: the hold
/// either fails, or it survives and its release matches (it is never
/// wiped by the return's commit).
#[test]
fn give_back_vs_zone_hold() {
    model(|| {
        let (r, _d) = setup();
        r.lend(GZ, L1, Z1.id, false).unwrap();
        let r2 = r.clone();
        let zone = thread::spawn(move || {
            if let Ok(h) = r2.hold(Z1.id, L1, HoldKind::Stream) {
                r2.rele(h).unwrap();
            }
        });
        let back = r.give_back(GZ, L1);
        zone.join().unwrap();
        assert!(matches!(back, Ok(()) | Err(Errno::EBUSY)), "{back:?}");
        assert_eq!(r.bad_releases(), 0);
        invariants(&r);
    });
}

/// Two lends of one link into two zones: exactly one wins; the other
/// sees the move in flight or done (`EBUSY`) and changes nothing.
#[test]
fn two_lends_of_one_link() {
    model(|| {
        let (r, d) = setup();
        r.zone_boot(Z2).unwrap();
        let r2 = r.clone();
        let other = thread::spawn(move || r2.lend(GZ, L1, Z2.id, false));
        let a = r.lend(GZ, L1, Z1.id, false);
        let b = other.join().unwrap();
        assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
        assert!(matches!((a, b), (Err(Errno::EBUSY), _) | (_, Err(Errno::EBUSY))));
        let to = if r.lookup(GZ, Z1.id, b"net0").is_ok() { Z1.id } else { Z2.id };
        assert_eq!(r.lookup(GZ, to, b"net0"), Ok(L1));
        assert_eq!(d.zone_of(L1), Some(to));
        invariants(&r);
    });
}

/// A zone's own link destroyed by the zone while the zone halts, with a
/// temporary holder racing both: the link goes exactly once, the
/// destroy either does it or finds it gone, and the holder's release is
/// always accepted.
#[test]
fn destroy_vs_halt_with_tmp_holder() {
    model(|| {
        let (r, _d) = setup();
        r.create(Z1.id, b"vnic2", L2, b"net2", false).unwrap();
        let r2 = r.clone();
        let destroyer = thread::spawn(move || r2.destroy(Z1.id, L2, DrainWait::Wait));
        let r3 = r.clone();
        let holder = thread::spawn(move || {
            if let Ok(h) = r3.hold_tmp(GZ, L2) {
                r3.rele_tmp(h).unwrap();
            }
        });
        let report = r.zone_halt(Z1).unwrap();
        let destroyed = destroyer.join().unwrap();
        holder.join().unwrap();
        assert!(matches!(destroyed, Ok(()) | Err(Errno::ENOENT)), "{destroyed:?}");
        assert!(report.is_clean() || report.outcome(L2).is_some());
        assert_eq!(r.hold_tmp(GZ, L2).err(), Some(Errno::ENOENT));
        assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
        assert_eq!(r.list(GZ, Some(Z1.id)), Ok(vec![]));
        invariants(&r);
    });
}

/// dlmgmtd hangs delivering a queued notice about zone 1 (the replayer is
/// stuck in it) while the global zone lends a link into zone 2, returns
/// it, and holds it: all of that finishes before the delivery is let go,
/// in every schedule. With the broken variant `global_channel` (a move
/// waits for whoever delivers queued notices) loom finds the deadlock.
#[test]
fn wedged_delivery_vs_other_zones_moves() {
    model(|| {
        let (r, d) = setup();
        r.zone_boot(Z2).unwrap();
        r.create(Z1.id, b"vnic2", L2, b"net2", false).unwrap();
        d.set_up(false);
        assert_eq!(r.zone_halt(Z1).unwrap().queued, 1);
        d.set_up(true);
        d.wedge_link(L2);
        let r2 = r.clone();
        let replayer = thread::spawn(move || r2.replay_outbox());
        // Zone 2's traffic, before the wedge is opened.
        r.lend(GZ, L1, Z2.id, false).unwrap();
        let h = r.hold(Z2.id, L1, HoldKind::Stream).unwrap();
        r.rele(h).unwrap();
        r.give_back(GZ, L1).unwrap();
        d.unwedge();
        assert_eq!(replayer.join().unwrap(), Ok(1));
        assert!(r.outbox().is_empty());
        assert_eq!((d.zone_of(L1), d.zone_of(L2)), (Some(GZ), None));
        invariants(&r);
    });
}
