//! Randomised schedules of longer operation mixes, under shuttle: more
//! threads and more steps than loom can explore exhaustively. Both the
//! random scheduler and PCT (which finds bugs of small "depth" with a
//! known probability) run with fixed seeds, so a failure replays.
//!
//! Every test also runs a reader that calls `check_invariants` while the
//! others work (the registry keeps them at every instant, not only at
//! rest), then checks them again, and that nothing leaked, once all
//! threads are done.
//!
//! Run: `tools/test-concurrency.sh ci`, or
//! `RUSTFLAGS="--cfg shuttle" cargo test --target <host> --test shuttle_registry`.
//! `DLSZONE_SHUTTLE_ITERS` scales the schedules per test (default 200).

#![cfg(shuttle)]

use dlszone::errno::Errno;
use dlszone::registry::{DrainWait, Hold, HoldKind, LinkId, Registry, ZoneId, ZoneKey, ZoneState};
use dlszone::sync::Arc;
use dlszone::sync::atomic::{AtomicU64, Ordering};
use dlszone_ktest::fake::FakeDlmgmt;
use shuttle::rand::{Rng, thread_rng};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Runner, thread};

const GZ: ZoneId = ZoneId::GLOBAL;
const ZONES: [ZoneKey; 3] = [ZoneKey::new(1, 101), ZoneKey::new(2, 102), ZoneKey::new(3, 103)];
/// Global-zone links 1..=4 (lent around); zone z's own link is 10 + z.
const GZ_LINKS: u32 = 4;

fn iters() -> usize {
    std::env::var("DLSZONE_SHUTTLE_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

/// Runs `f` under the random scheduler and under PCT, each from a fixed
/// seed.
fn check(seed: u64, f: impl Fn() + Send + Sync + 'static) {
    let f = std::sync::Arc::new(f);
    let g = f.clone();
    Runner::new(RandomScheduler::new_from_seed(seed, iters()), Default::default()).run(move || g());
    Runner::new(PctScheduler::new_from_seed(seed, 3, iters()), Default::default()).run(move || f());
}

struct World {
    r: Registry,
    /// dlmgmtd: once `flaky`, it fails one upcall in five and yields
    /// inside the others, as a daemon that is restarting or slow would.
    d: std::sync::Arc<FakeDlmgmt>,
    /// Zone-side releases refused because recovery reclaimed the hold.
    reclaimed: AtomicU64,
}

fn world() -> Arc<World> {
    let r = Registry::new();
    for (i, z) in ZONES.iter().enumerate() {
        r.zone_boot(*z).unwrap();
        let id = 10 + i as u32 + 1;
        r.create(z.id, format!("zvnic{id}").as_bytes(), LinkId(id), b"net9", false).unwrap();
    }
    for i in 1..=GZ_LINKS {
        r.create(GZ, format!("vnic{i}").as_bytes(), LinkId(i), format!("net{i}").as_bytes(), false)
            .unwrap();
    }
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    Arc::new(World { r, d, reclaimed: AtomicU64::new(0) })
}

impl World {
    fn flaky(&self) {
        self.d.flaky(0x5eed, 20, 100, 0);
    }
}

fn any_link(rng: &mut impl Rng) -> LinkId {
    if rng.gen_bool(0.5) {
        LinkId(rng.gen_range(1..=GZ_LINKS))
    } else {
        LinkId(rng.gen_range(11..=13))
    }
}

/// One random operation by a thread acting for `me` (the global zone or
/// one zone). Holds it takes go into `held` and are released later.
fn step(w: &World, me: ZoneId, held: &mut Vec<Hold>) {
    let mut rng = thread_rng();
    let r = &w.r;
    let id = any_link(&mut rng);
    let zone = ZONES[rng.gen_range(0..ZONES.len())];
    match rng.gen_range(0..12) {
        0 | 1 => {
            // Temporary holds are short: never kept across another call
            // (a forced recovery waits for them).
            if let Ok(h) = r.hold_tmp(me, id) {
                thread::yield_now();
                r.rele_tmp(h).unwrap();
            }
        }
        2 => {
            if let Ok(h) = r.hold(me, id, HoldKind::Stream) {
                held.push(h);
            }
        }
        3 | 4 => {
            if let Some(h) = held.pop() {
                release(w, h);
            }
        }
        5 => {
            let _ = r.lend(GZ, id, zone.id, false);
        }
        6 => {
            let _ = r.give_back(GZ, id);
        }
        7 => {
            let name = format!("n{}x{}", id.0, rng.gen_range(0..3));
            let _ = r.rename(me, id, name.as_bytes());
        }
        8 => {
            let _ = r.lookup(me, if me.is_global() { zone.id } else { me }, b"net9");
            let _ = r.list(me, None);
        }
        9 => {
            let _ = r.zone_halt(zone);
        }
        10 => {
            let _ = r.zone_recover(zone, rng.gen_bool(0.5), 1_000);
        }
        _ => {
            let _ = r.replay_outbox();
        }
    }
}

fn release(w: &World, h: Hold) {
    // A forced recovery reclaims a dead zone's own holds, so the zone's
    // late release is refused (and counted); a global-zone hold is never
    // discarded.
    let from_zone = h.holder() != ZoneKey::GLOBAL;
    match w.r.rele(h) {
        Err(Errno::ESTALE) if from_zone => {
            w.reclaimed.fetch_add(1, Ordering::Relaxed);
        }
        res => res.unwrap(),
    }
}

fn release_all(w: &World, held: Vec<Hold>) {
    for h in held {
        release(w, h);
    }
}

/// Brings the world to rest: every zone halted and, if stuck, recovered
/// by force; every notice delivered. Then nothing may remain.
fn settle_and_check(w: &World) {
    let r = &w.r;
    // dlmgmtd stops failing.
    w.d.flaky(0x5eed, 0, 0, 0);
    for z in ZONES {
        r.zone_halt(z).unwrap();
        let rec = r.zone_recover(z, true, 1_000).unwrap();
        assert!(rec.is_clean(), "{rec:?}");
        assert_eq!(r.zone_state(z.id), Some((z, ZoneState::Down)));
        assert_eq!(r.list(GZ, Some(z.id)), Ok(vec![]));
    }
    r.replay_outbox().unwrap();
    assert!(r.outbox().is_empty());
    assert_eq!(r.pending_frees(), 0, "a hold leaked");
    assert_eq!(r.late_releases(), w.reclaimed.load(Ordering::Relaxed));
    assert_eq!(r.bad_releases(), 0);
    // Only global-zone links are left, all at home, none still held.
    let all = r.list(GZ, None).unwrap();
    assert_eq!(r.list(GZ, Some(GZ)).unwrap(), all);
    for id in all {
        let h = r.hold_tmp(GZ, id).unwrap();
        assert_eq!(h.tmp_holds(), 1, "a temporary hold leaked");
        assert!(h.holders().iter().all(|x| x.kind == HoldKind::Existence), "{:?}", h.holders());
        r.rele_tmp(h).unwrap();
    }
    if let Err(v) = r.check_invariants() {
        panic!("invariant broken at rest: {v:?}\n{}", r.snapshot().render());
    }
}

/// A reader checking the invariants while the others work.
fn checker(w: Arc<World>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..4 {
            if let Err(v) = w.r.check_invariants() {
                panic!("invariant broken mid-flight: {v:?}\n{}", w.r.snapshot().render());
            }
            thread::yield_now();
        }
    })
}

/// Four threads (the global zone and each zone) run random mixes of
/// every operation for 12 steps each.
#[test]
fn random_operation_mix() {
    check(0x5eed_0001, || {
        let w = world();
        w.flaky();
        let mut ts = vec![checker(w.clone())];
        for me in [GZ, GZ, ZONES[0].id, ZONES[1].id] {
            let w = w.clone();
            ts.push(thread::spawn(move || {
                let mut held = Vec::new();
                for _ in 0..12 {
                    step(&w, me, &mut held);
                }
                release_all(&w, held);
            }));
        }
        for t in ts {
            t.join().unwrap();
        }
        settle_and_check(&w);
    });
}

/// Every zone halted at once, each by its own thread, with a flaky
/// daemon, while the global zone holds links (temporary and long),
/// destroys one of them and replays the outbox.
#[test]
fn parallel_halts_with_holders() {
    check(0x5eed_0002, || {
        let w = world();
        for (i, z) in ZONES.iter().enumerate() {
            let _ = w.r.lend(GZ, LinkId(i as u32 + 1), z.id, false);
        }
        w.flaky();
        let mut ts = vec![checker(w.clone())];
        for z in ZONES {
            let w = w.clone();
            ts.push(thread::spawn(move || {
                let report = w.r.zone_halt(z).unwrap();
                if !report.is_clean() {
                    let _ = w.r.zone_recover(z, true, 1_000).unwrap();
                }
            }));
        }
        let w2 = w.clone();
        ts.push(thread::spawn(move || {
            let mut held = Vec::new();
            for id in [11, 1, 12, 2] {
                if let Ok(h) = w2.r.hold(GZ, LinkId(id), HoldKind::Stream) {
                    held.push(h);
                }
                if let Ok(h) = w2.r.hold_tmp(GZ, LinkId(id)) {
                    thread::yield_now();
                    w2.r.rele_tmp(h).unwrap();
                }
            }
            let _ = w2.r.destroy(GZ, LinkId(4), DrainWait::Wait);
            let _ = w2.r.replay_outbox();
            release_all(&w2, held);
        }));
        for t in ts {
            t.join().unwrap();
        }
        for z in ZONES {
            let (_, state) = w.r.zone_state(z.id).unwrap();
            assert_eq!(state, ZoneState::Down);
        }
        settle_and_check(&w);
    });
}

/// Destroys racing temporary holders: every destroy either refuses
/// (`EBUSY` for `NoWait`) or completes once the holders let go, and a
/// holder never sees a freed link. Catches both broken variants.
#[test]
fn destroy_drains_tmp_holders() {
    check(0x5eed_0003, || {
        let w = world();
        let mut ts = Vec::new();
        for _ in 0..3 {
            let w = w.clone();
            ts.push(thread::spawn(move || {
                for id in [1, 2, 1] {
                    if let Ok(h) = w.r.hold_tmp(GZ, LinkId(id)) {
                        let s = h.state();
                        assert!(
                            matches!(
                                s,
                                dlszone::registry::LinkState::Active
                                    | dlszone::registry::LinkState::Condemned
                            ),
                            "held a {s:?} link"
                        );
                        thread::yield_now();
                        w.r.rele_tmp(h).unwrap();
                    }
                }
            }));
        }
        let w2 = w.clone();
        ts.push(thread::spawn(move || {
            w2.r.destroy(GZ, LinkId(1), DrainWait::Wait).unwrap();
            match w2.r.destroy(GZ, LinkId(2), DrainWait::NoWait) {
                Ok(()) | Err(Errno::EBUSY) => {}
                e => panic!("{e:?}"),
            }
        }));
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(w.r.hold_tmp(GZ, LinkId(1)).err(), Some(Errno::ENOENT));
        assert_eq!(w.r.pending_frees(), 0);
        if let Err(v) = w.r.check_invariants() {
            panic!("{v:?}");
        }
    });
}

/// dlmgmtd hangs delivering a queued notice about zone 1 (a replayer is
/// stuck in it). Meanwhile, on their own threads, zone 2 gets a lent link
/// back at its halt, zone 3 borrows and returns one and its own link is
/// held and released, and the global zone reads: all of them finish
/// before the delivery is let go. The broken variant `global_channel`
/// (a move waits for whoever delivers queued notices) deadlocks here.
#[test]
fn wedged_delivery_stalls_no_other_zone() {
    check(0x5eed_0004, || {
        let w = world();
        let (r, d) = (&w.r, &w.d);
        let (z1, z2, z3) = (ZONES[0], ZONES[1], ZONES[2]);
        r.lend(GZ, LinkId(2), z2.id, false).unwrap();
        d.set_up(false);
        assert_eq!(r.zone_halt(z1).unwrap().queued, 1);
        d.set_up(true);
        d.wedge_link(LinkId(11));
        let replayer = {
            let w = w.clone();
            thread::spawn(move || w.r.replay_outbox())
        };
        let mut others = vec![checker(w.clone())];
        let w2 = w.clone();
        others.push(thread::spawn(move || {
            let report = w2.r.zone_halt(z2).unwrap();
            assert!(report.is_clean(), "{report:?}");
        }));
        let w3 = w.clone();
        others.push(thread::spawn(move || {
            w3.r.lend(GZ, LinkId(3), z3.id, false).unwrap();
            let h = w3.r.hold(z3.id, LinkId(13), HoldKind::Stream).unwrap();
            thread::yield_now();
            w3.r.rele(h).unwrap();
            w3.r.give_back(GZ, LinkId(3)).unwrap();
        }));
        let w0 = w.clone();
        others.push(thread::spawn(move || {
            let t = w0.r.hold_tmp(GZ, LinkId(1)).unwrap();
            let _ = w0.r.lookup(GZ, GZ, b"net1");
            w0.r.rele_tmp(t).unwrap();
        }));
        for t in others {
            t.join().unwrap();
        }
        d.unwedge();
        // The stuck notice, and whatever the others queued meanwhile (the
        // halt of zone 2 condemns its own link and finds the replayer busy).
        let delivered = replayer.join().unwrap();
        assert!(matches!(delivered, Ok(n) if n >= 1), "{delivered:?}");
        assert_eq!(d.zone_of(LinkId(11)), None);
        settle_and_check(&w);
    });
}
