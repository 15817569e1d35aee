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

use dlszone::errno::{Errno, KResult};
use dlszone_ktest::fake::FakeDlmgmt;
use dlszone::registry::{
    Dlmgmt, DrainWait, HoldKind, LinkId, LinkRef, Notice, Registry, ZoneId, ZoneKey, ZoneState,
};
use dlszone::sync::Arc;
use dlszone::sync::atomic::{AtomicU64, Ordering};
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

/// dlmgmtd that fails one upcall in five and yields inside the others,
/// as a daemon that is restarting or slow would.
struct Flaky(FakeDlmgmt);

impl Dlmgmt for Flaky {
    fn deliver(&self, n: &Notice) -> KResult<()> {
        if thread_rng().gen_bool(0.2) {
            return Err(Errno::EBADF);
        }
        thread::yield_now();
        self.0.deliver(n)
    }
}

struct World {
    r: Registry,
    d: Flaky,
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
    Arc::new(World { r, d: Flaky(FakeDlmgmt::up()), reclaimed: AtomicU64::new(0) })
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
fn step(w: &World, me: ZoneId, held: &mut Vec<(LinkRef, Option<HoldKind>, ZoneId)>) {
    let mut rng = thread_rng();
    let (r, d) = (&w.r, &w.d);
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
                held.push((h, Some(HoldKind::Stream), me));
            }
        }
        3 | 4 => {
            if let Some(h) = held.pop() {
                release(w, h);
            }
        }
        5 => {
            let _ = r.lend(GZ, id, zone.id, false, d);
        }
        6 => {
            let _ = r.give_back(GZ, id, d);
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
            let _ = r.zone_halt(zone, d);
        }
        10 => {
            let _ = r.zone_recover(zone, rng.gen_bool(0.5), 1_000);
        }
        _ => {
            let _ = r.replay_outbox();
        }
    }
}

/// The incarnation a holder in `who` belongs to now (a never-booted one if
/// the zone is gone: its release then matches nothing, as it should).
fn holder_key(w: &World, who: ZoneId) -> ZoneKey {
    if who.is_global() {
        return ZoneKey::GLOBAL;
    }
    w.r.zone_state(who).map(|(k, _)| k).unwrap_or(ZoneKey { id: who, uniqid: u64::MAX })
}

fn release(w: &World, (h, kind, who): (LinkRef, Option<HoldKind>, ZoneId)) {
    match kind {
        None => w.r.rele_tmp(h).unwrap(),
        // A forced recovery reclaims a dead zone's own holds, so the
        // zone's late release is refused (and counted); a global-zone
        // hold is never discarded.
        Some(k) => match w.r.rele(&h, holder_key(w, who), k) {
            Err(Errno::ENOENT) if !who.is_global() => {
                w.reclaimed.fetch_add(1, Ordering::Relaxed);
            }
            res => res.unwrap(),
        },
    }
}

fn release_all(w: &World, held: Vec<(LinkRef, Option<HoldKind>, ZoneId)>) {
    for h in held {
        release(w, h);
    }
}

/// Brings the world to rest: every zone halted and, if stuck, recovered
/// by force; every notice delivered. Then nothing may remain.
fn settle_and_check(w: &World) {
    let r = &w.r;
    let up = FakeDlmgmt::up();
    for z in ZONES {
        r.zone_halt(z, &up).unwrap();
        let rec = r.zone_recover(z, true, 1_000).unwrap();
        assert!(rec.is_clean(), "{rec:?}");
        assert_eq!(r.zone_state(z.id), Some((z, ZoneState::Down)));
        assert_eq!(r.list(GZ, Some(z.id)), Ok(vec![]));
    }
    r.replay_outbox().unwrap();
    assert!(r.outbox().is_empty());
    assert_eq!(r.pending_frees(), 0, "a hold leaked");
    assert_eq!(r.bad_releases(), w.reclaimed.load(Ordering::Relaxed));
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
            let _ = w.r.lend(GZ, LinkId(i as u32 + 1), z.id, false, &FakeDlmgmt::up());
        }
        let mut ts = vec![checker(w.clone())];
        for z in ZONES {
            let w = w.clone();
            ts.push(thread::spawn(move || {
                let report = w.r.zone_halt(z, &w.d).unwrap();
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
                    held.push((h, Some(HoldKind::Stream), GZ));
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
