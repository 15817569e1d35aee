//! Model-based random test of the registry: long random sequences of every
//! public operation — zone boot, halt, recovery and destroy, link create,
//! destroy, rename, lend and return, lookups, holds (by id, MAC name and
//! zone-qualified name) and their releases (on time, or late after forced
//! recovery), outbox replays, dlmgmtd going down or failing, and bad input —
//! run against the registry and against a deliberately simple reference
//! model, compared after every step.
//!
//! `DLSZONE_MODEL_CASES` sets how many sequences to run (default 10,000)
//! and `DLSZONE_MODEL_LEN` their maximum length (default 60);
//! `PROPTEST_RNG_SEED` fixes the seed. A failure is shrunk to a minimal
//! sequence and printed with the step where registry and model parted.

#[path = "model/harness.rs"]
mod harness;
#[path = "model/ops.rs"]
mod ops;
#[path = "model/reference.rs"]
mod reference;

use std::collections::BTreeMap;

use dlszone::registry::{DrainWait, HoldKind, LinkId};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

use ops::{Bytes, Call, KeySel, Zone};
use reference::Quirks;

// Allocation under the table writer, a gate or the outbox fails the test
// (`dlszone::registry::noalloc`).
#[global_allocator]
static ALLOC: dlszone_ktest::CheckedAlloc = dlszone_ktest::CheckedAlloc;

fn env_or(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{var}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn cases() -> u32 {
    env_or("DLSZONE_MODEL_CASES", 10_000).try_into().expect("DLSZONE_MODEL_CASES fits in u32")
}

fn max_len() -> usize {
    env_or("DLSZONE_MODEL_LEN", 60)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Saved seeds would not outlive a change to the generator: a
        // failure prints its whole call trace, to keep as a scripted test.
        failure_persistence: None,
        // ChaCha costs more than the registry in a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    #[test]
    fn registry_matches_model(ops in ops::sequence(max_len())) {
        if let Err(f) = harness::run(&ops, Quirks::default()) {
            return Err(TestCaseError::fail(f.to_string()));
        }
    }
}

/// The same `n` random sequences on every run.
fn fixed_sequences(n: usize) -> impl Iterator<Item = Vec<ops::Op>> {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::XorShift),
    );
    let strategy = ops::sequence(60);
    (0..n).map(move |_| strategy.new_tree(&mut runner).expect("generate a sequence").current())
}

/// The first of `budget` fixed random sequences on which the checker
/// reports a mismatch, if any.
fn first_failure(quirks: Quirks, budget: usize) -> Option<(usize, harness::Failure)> {
    fixed_sequences(budget)
        .enumerate()
        .find_map(|(n, ops)| harness::run(&ops, quirks).err().map(|f| (n, f)))
}

/// The checker bites: each deliberate mistake in the model is caught by a
/// few hundred random sequences at most.
#[test]
fn every_wrong_model_is_caught() {
    let mutants: [(&str, Quirks); 9] = [
        ("loan hold ignored", Quirks { loan_hold_ignored: true, ..Quirks::default() }),
        ("late release ok", Quirks { late_release_ok: true, ..Quirks::default() }),
        ("global names", Quirks { global_names: true, ..Quirks::default() }),
        ("force reclaims nothing", Quirks { force_reclaims_nothing: true, ..Quirks::default() }),
        ("replay newest first", Quirks { replay_newest_first: true, ..Quirks::default() }),
        ("halt keeps transient", Quirks { halt_keeps_transient: true, ..Quirks::default() }),
        ("tmp blocks rename", Quirks { tmp_blocks_rename: true, ..Quirks::default() }),
        ("lend ignores outbox", Quirks { lend_ignores_outbox: true, ..Quirks::default() }),
        ("moves skip zone notices", Quirks { moves_skip_zone_notices: true, ..Quirks::default() }),
    ];
    for (what, quirks) in mutants {
        match first_failure(quirks, 2_000) {
            Some((n, f)) => eprintln!("\"{what}\" caught by sequence {n}: {}", f.what),
            None => panic!("a model with \"{what}\" was not caught"),
        }
    }
    assert!(first_failure(Quirks::default(), 200).is_none());
}

const GZ: Zone = Zone(0);
const Z1: Zone = Zone(1);

/// A known-bad transition: a model that forgets the loan hold expects the
/// global zone to destroy a lent link; the registry refuses, and the
/// checker names that step and both answers.
#[test]
fn known_bad_transition_is_reported_at_its_step() {
    let ops = [
        Call::Boot { zone: Z1 },
        Call::Create {
            zone: GZ,
            mac: Bytes(b"vnic0"),
            id: LinkId(1),
            name: Bytes(b"net0"),
            persistent: false,
        },
        Call::Lend { caller: GZ, id: LinkId(1), to: Z1, transient: false },
        Call::Destroy { caller: GZ, id: LinkId(1), wait: DrainWait::NoWait },
    ];
    assert!(harness::run_calls(&ops, Quirks::default(), None).is_ok());
    let wrong = Quirks { loan_hold_ignored: true, ..Quirks::default() };
    let f = harness::run_calls(&ops, wrong, None).expect_err("the wrong model must be caught");
    assert_eq!(f.step, Some(3), "{f}");
    assert!(f.what.contains("model says Ok(())") && f.what.contains("EBUSY"), "{f}");
}

/// A whole life cycle through the harness, deterministic: lend, hold from
/// both sides, halt with dlmgmtd down (stuck), forced recovery, replay,
/// late releases on a detached link, zone id reuse.
#[test]
fn scripted_life_cycle_matches_model() {
    let z1_current = KeySel::Current;
    let ops = [
        Call::Boot { zone: Z1 },
        Call::Create {
            zone: GZ,
            mac: Bytes(b"vnic0"),
            id: LinkId(1),
            name: Bytes(b"net0"),
            persistent: false,
        },
        Call::Create {
            zone: Z1,
            mac: Bytes(b"vnic1"),
            id: LinkId(2),
            name: Bytes(b"net0"),
            persistent: false,
        },
        Call::Rename { caller: GZ, id: LinkId(1), name: Bytes(b"net1") },
        Call::Lend { caller: GZ, id: LinkId(1), to: Z1, transient: false },
        Call::Hold { caller: GZ, id: LinkId(2), kind: HoldKind::Stream },
        Call::Hold { caller: Z1, id: LinkId(1), kind: HoldKind::DevNet },
        Call::HoldTmp { caller: Z1, id: LinkId(2) },
        Call::DaemonUp(false),
        Call::Halt { zone: Z1, key: z1_current },
        Call::Recover { zone: Z1, key: z1_current, force: false },
        Call::Recover { zone: Z1, key: z1_current, force: true },
        Call::Lend { caller: GZ, id: LinkId(1), to: Z1, transient: false },
        Call::Replay,
        Call::DaemonUp(true),
        Call::FailAfter(1, dlszone::errno::Errno::ENOMEM),
        Call::Replay,
        Call::Replay,
        Call::Release { handle: 1 },
        Call::Release { handle: 1 },
        Call::Release { handle: 0 },
        Call::DestroyZone { zone: Z1, key: z1_current },
        Call::Boot { zone: Z1 },
        Call::Lend { caller: GZ, id: LinkId(1), to: Z1, transient: true },
        Call::Halt { zone: Z1, key: z1_current },
    ];
    let mut seen = BTreeMap::new();
    if let Err(f) = harness::run_calls(&ops, Quirks::default(), Some(&mut seen)) {
        panic!("{f}");
    }
    for outcome in [
        "zone_halt -> Blocked",
        "zone_halt -> Condemned+delayed",
        "zone_halt -> stuck",
        "zone_recover -> ReturnQueued",
        "zone_recover -> reclaimed",
        "lend EAGAIN",
        "replay_outbox EBADF",
        "replay_outbox ENOMEM",
        "rele ESTALE",
        "rele ok",
        "rele_tmp ok",
        "zone_destroy ok",
        "zone_halt -> Condemned+freed",
    ] {
        assert!(seen.contains_key(outcome), "the script never reached {outcome:?}: {seen:?}");
    }
}

/// Outcomes the generator must reach in [`generator_reaches_every_outcome`]:
/// successes, each refusal that needs built-up state, and every kind of
/// teardown line.
const MUST_REACH: &[&str] = &[
    "activate ok",
    "create ENOTSUP",
    "create ok",
    "create_pending ok",
    "destroy EBUSY",
    "destroy EINTR",
    "destroy EPERM",
    "destroy ok",
    "destroy_pending ok",
    "give_back EBUSY",
    "give_back ok",
    "hold ENXIO",
    "hold ok",
    "hold_by_mac ok",
    "hold_by_name ENOENT",
    "hold_by_name ok",
    "hold_tmp ok",
    "holders ok",
    "lend EAGAIN",
    "lend EBADF",
    "lend EBUSY",
    "lend EEXIST",
    "lend EPERM",
    "lend ok",
    "list ok",
    "lookup ok",
    "lookup_mac ok",
    "rele ESTALE",
    "rele ok",
    "rele_tmp ok",
    "rename EBUSY",
    "rename EEXIST",
    "rename ok",
    "replay_outbox EBADF",
    "replay_outbox ok",
    "setzid ok",
    "zone_boot ok",
    "zone_destroy ENOTEMPTY",
    "zone_destroy ESTALE",
    "zone_destroy ok",
    "zone_halt -> Blocked",
    "zone_halt -> Condemned+delayed",
    "zone_halt -> Condemned+freed",
    "zone_halt -> ReturnFailed",
    "zone_halt -> Returned",
    "zone_halt -> stuck",
    "zone_recover -> ReturnQueued",
    "zone_recover -> reclaimed",
    "zone_recover EBUSY",
];

/// The generator reaches the interesting corners, not just errors: every
/// outcome in [`MUST_REACH`] shows up in a fixed set of random sequences.
/// With `DLSZONE_MODEL_STATS` set, prints how often each outcome occurred.
#[test]
fn generator_reaches_every_outcome() {
    let mut counts = BTreeMap::new();
    for ops in fixed_sequences(1_000) {
        if let Err(f) = harness::run_counting(&ops, Quirks::default(), Some(&mut counts)) {
            panic!("{f}");
        }
    }
    if std::env::var_os("DLSZONE_MODEL_STATS").is_some() {
        for (k, n) in &counts {
            eprintln!("{n:8} {k}");
        }
    }
    let missed: Vec<_> = MUST_REACH.iter().filter(|k| !counts.contains_key(**k)).collect();
    assert!(missed.is_empty(), "never reached: {missed:?}");
}

/// A recovery's report line names a returned link as it was in the zone
/// being torn down, as a halt's does (`LinkOutcome::name`), not by the
/// name it gets back home.
#[test]
fn recover_reports_the_name_in_the_zone() {
    use dlszone::registry::{Action, LinkName, Registry, ZoneId, ZoneKey};
    use dlszone_ktest::fake::FakeDlmgmt;

    let name = |n: &[u8]| LinkName::new(n).unwrap();
    let z1 = ZoneKey::new(1, 11);
    let r = Registry::new();
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    r.zone_boot(z1).unwrap();
    r.create(ZoneId::GLOBAL, b"vnic0", LinkId(1), b"tmp0", false).unwrap();
    r.lend(ZoneId::GLOBAL, LinkId(1), z1.id, false).unwrap();
    r.rename(z1.id, LinkId(1), b"net0").unwrap();
    d.set_up(false);
    assert_eq!(r.zone_halt(z1).unwrap().remaining, 1);
    let report = r.zone_recover(z1, false, 0).unwrap();
    let line = report.outcome(LinkId(1)).unwrap();
    assert_eq!(line.name, Some(name(b"net0")));
    assert_eq!(line.action, Action::ReturnQueued { name: name(b"tmp0") });
}

/// Found by this test's generator: dlmgmtd knows links by id, so a link id
/// reused while a notice about its previous link is still queued must not
/// let the new link's move overtake that notice (the `LinkGone` of a
/// torn-down transient link reaching dlmgmtd after the lend of a new link
/// with the same id would make it forget the lent link). dlmgmtd handed
/// the id out again, so it retired the earlier link: the reused id
/// retires the queued notice (`Outbox::purge`).
#[test]
fn reused_id_does_not_overtake_a_queued_notice() {
    use dlszone::errno::Errno;
    use dlszone::registry::{Registry, ZoneId, ZoneKey};
    use dlszone_ktest::fake::FakeDlmgmt;

    let (z1, z2) = (ZoneKey::new(1, 11), ZoneKey::new(2, 12));
    let r = Registry::new();
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    r.zone_boot(z1).unwrap();
    r.zone_boot(z2).unwrap();
    r.create(z1.id, b"vnic1", LinkId(1), b"net0", false).unwrap();
    d.fail_next(Errno::ENOMEM);
    r.zone_halt(z1).unwrap();
    assert_eq!(r.outbox().len(), 1, "the LinkGone waits for dlmgmtd");
    let reused = r.create(ZoneId::GLOBAL, b"vnic3", LinkId(1), b"net0", false);
    let lent = reused.and_then(|()| r.lend(ZoneId::GLOBAL, LinkId(1), z2.id, false));
    assert_eq!(lent, Ok(()));
    assert!(r.outbox().is_empty(), "the reused id retired the queued notice");
    r.replay_outbox().unwrap();
    assert_eq!(d.zone_of(LinkId(1)), Some(z2.id), "dlmgmtd lost the lent link");
    r.check_invariants().unwrap();
}
