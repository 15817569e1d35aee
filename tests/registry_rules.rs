//! One test (or more) per rule of `docs/design.md`, and per documented
//! errno. Every test checks the invariants after every step.

use dlszone::errno::Errno;
use dlszone::registry::testing::FakeDlmgmt;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkState, Registry, ZoneId, ZoneKey, ZoneState,
};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);
const Z2: ZoneKey = ZoneKey::new(2, 102);

fn ok(r: &Registry) {
    if let Err(v) = r.check_invariants() {
        panic!("invariant broken: {v:?}");
    }
}

/// A registry with zones 1 and 2 booted.
fn setup() -> Registry {
    let r = Registry::new();
    r.zone_boot(Z1).unwrap();
    r.zone_boot(Z2).unwrap();
    ok(&r);
    r
}

fn id(n: u32) -> LinkId {
    LinkId(n)
}

/// Asserts `f` fails with `e` and leaves the registry exactly as it was.
fn refused<T: core::fmt::Debug>(r: &Registry, e: Errno, f: impl FnOnce() -> Result<T, Errno>) {
    let before = r.snapshot();
    let out = f();
    assert_eq!(out.as_ref().err(), Some(&e), "expected {e:?}, got {out:?}");
    assert_eq!(r.snapshot(), before, "a refused call changed the registry");
    ok(r);
}

// ---- rule 1: names are per zone -----------------------------------------

#[test]
fn rule1_same_name_in_several_zones() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(Z1.id, b"vnic1", id(2), b"net0", false).unwrap();
    r.create(Z2.id, b"vnic2", id(3), b"net0", false).unwrap();
    ok(&r);
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(id(2)));
    assert_eq!(r.lookup(Z2.id, Z2.id, b"net0"), Ok(id(3)));
    refused(&r, Errno::EEXIST, || r.create(Z1.id, b"vnic9", id(9), b"net0", false));
}

#[test]
fn rule1_lookups_are_zone_qualified() {
    let r = setup();
    r.create(Z1.id, b"vnic1", id(2), b"net0", false).unwrap();
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT));
    assert_eq!(r.lookup(Z2.id, Z2.id, b"net0"), Err(Errno::ENOENT));
    // A zone cannot even ask about another zone's names.
    assert_eq!(r.lookup(Z2.id, Z1.id, b"net0"), Err(Errno::ENOENT));
}

// ---- rule 2: create -----------------------------------------------------

#[test]
fn rule2_ngz_links_are_owned_and_transient() {
    let r = setup();
    r.create(Z1.id, b"vnic1", id(2), b"net0", false).unwrap();
    let s = r.snapshot();
    let l = &s.links[0];
    assert_eq!((l.owner, l.zone, l.transient, l.persistent), (Z1, Z1, true, false));
    r.create(GZ, b"vnic0", id(1), b"net0", true).unwrap();
    let s = r.snapshot();
    assert_eq!((s.links[0].owner, s.links[0].transient), (ZoneKey::GLOBAL, false));
    ok(&r);
}

#[test]
fn rule2_persistent_create_in_ngz_refused() {
    let r = setup();
    refused(&r, Errno::ENOTSUP, || r.create(Z1.id, b"vnic1", id(2), b"net0", true));
}

#[test]
fn rule2_create_errnos() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    refused(&r, Errno::EEXIST, || r.create(GZ, b"vnic9", id(1), b"net9", false));
    refused(&r, Errno::EEXIST, || r.create(GZ, b"vnic0", id(9), b"net9", false));
    refused(&r, Errno::EEXIST, || r.create(GZ, b"vnic9", id(9), b"net0", false));
    refused(&r, Errno::EINVAL, || r.create(GZ, b"vnic9", LinkId::INVALID, b"net9", false));
    refused(&r, Errno::EINVAL, || r.create(GZ, b"vnic9", id(9), b"", false));
    refused(&r, Errno::EINVAL, || r.create(GZ, b"vnic9", id(9), b"9net", false));
    refused(&r, Errno::EINVAL, || r.create(GZ, b"vnic9", id(9), b"net-9", false));
    refused(&r, Errno::ENAMETOOLONG, || {
        r.create(GZ, b"vnic9", id(9), b"abcdefghijklmnopqrstuvwxyzabcde9", false)
    });
    refused(&r, Errno::EINVAL, || r.create(GZ, b"", id(9), b"net9", false));
    refused(&r, Errno::ENAMETOOLONG, || r.create(GZ, &[b'v'; 256], id(9), b"net9", false));
    refused(&r, Errno::EINVAL, || r.create(ZoneId(-1), b"vnic9", id(9), b"net9", false));
    refused(&r, Errno::EINVAL, || r.create(ZoneId(10_000), b"vnic9", id(9), b"net9", false));
    refused(&r, Errno::ENXIO, || r.create(ZoneId(7), b"vnic9", id(9), b"net9", false));
}

#[test]
fn rule2_pending_physical_links_stay_hidden_until_activated() {
    let r = setup();
    r.create_pending(b"e1000g0").unwrap();
    ok(&r);
    assert_eq!(r.lookup_mac(GZ, b"e1000g0"), Err(Errno::ENOENT));
    refused(&r, Errno::EEXIST, || r.create_pending(b"e1000g0"));
    refused(&r, Errno::ENOENT, || r.activate(b"e1000g1", id(4), b"net4"));
    r.activate(b"e1000g0", id(4), b"e1000g0").unwrap();
    ok(&r);
    assert_eq!(r.lookup_mac(GZ, b"e1000g0"), Ok(id(4)));
    refused(&r, Errno::EINVAL, || r.activate(b"e1000g0", id(5), b"net5"));
    refused(&r, Errno::EBUSY, || r.destroy_pending(b"e1000g0"));
    r.create_pending(b"e1000g1").unwrap();
    refused(&r, Errno::ENOENT, || r.destroy_pending(b"e1000g2"));
    r.destroy_pending(b"e1000g1").unwrap();
    ok(&r);
    r.create_pending(b"e1000g1").unwrap();
    ok(&r);
}

// ---- rule 3: lend and return ---------------------------------------------

#[test]
fn rule3_lend_reserves_gz_name_and_return_restores_it() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    ok(&r);
    assert_eq!(d.zone_of(id(1)), Some(Z1.id));
    assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(id(1)));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT));
    // Reserved: nobody in the global zone may take the name.
    refused(&r, Errno::EEXIST, || r.create(GZ, b"vnic9", id(9), b"net0", false));
    r.create(GZ, b"vnic8", id(8), b"net8", false).unwrap();
    refused(&r, Errno::EEXIST, || r.rename(GZ, id(8), b"net0"));
    let h = r.holders(GZ, id(1)).unwrap();
    assert!(h.contains(&Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 }));
    r.give_back(GZ, id(1), &d).unwrap();
    ok(&r);
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    assert_eq!(d.zone_of(id(1)), Some(GZ));
    let h = r.holders(GZ, id(1)).unwrap();
    assert_eq!(h, vec![Holder { kind: HoldKind::Existence, zone: ZoneKey::GLOBAL, count: 1 }]);
    // A second return is a no-op, not a second release.
    r.give_back(GZ, id(1), &d).unwrap();
    assert_eq!(r.holders(GZ, id(1)).unwrap().len(), 1);
}

#[test]
fn rule3_lend_errnos() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", true).unwrap();
    r.create(Z1.id, b"vnic1", id(2), b"net1", false).unwrap();
    r.create(Z2.id, b"vnic2", id(3), b"net0", false).unwrap();
    refused(&r, Errno::EACCES, || r.lend(Z1.id, id(1), Z2.id, false, &d));
    refused(&r, Errno::EINVAL, || r.lend(GZ, id(1), GZ, false, &d));
    refused(&r, Errno::ENOENT, || r.lend(GZ, id(99), Z1.id, false, &d));
    refused(&r, Errno::EPERM, || r.lend(GZ, id(2), Z2.id, false, &d));
    refused(&r, Errno::ENXIO, || r.lend(GZ, id(1), ZoneId(7), false, &d));
    refused(&r, Errno::EEXIST, || r.lend(GZ, id(1), Z2.id, false, &d));
    refused(&r, Errno::EINVAL, || r.lend(GZ, id(1), Z1.id, true, &d));
    d.set_up(false);
    refused(&r, Errno::EBADF, || r.lend(GZ, id(1), Z1.id, false, &d));
    d.set_up(true);
    d.fail_next(Errno::EEXIST);
    refused(&r, Errno::EEXIST, || r.lend(GZ, id(1), Z1.id, false, &d));
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    refused(&r, Errno::EBUSY, || r.lend(GZ, id(1), Z2.id, false, &d));
    refused(&r, Errno::EACCES, || r.give_back(Z1.id, id(1), &d));
    // The NGZ-owned link can never reach the global zone.
    assert_eq!(r.give_back(GZ, id(2), &d), Ok(()));
    assert_eq!(r.snapshot().links.iter().find(|l| l.linkid == id(2)).unwrap().zone, Z1);
}

#[test]
fn rule3_return_blocked_by_zone_holds_changes_nothing() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    let h = r.hold(Z1.id, id(1), HoldKind::Stream).unwrap();
    refused(&r, Errno::EBUSY, || r.give_back(GZ, id(1), &d));
    r.rele(&h, Z1, HoldKind::Stream).unwrap();
    r.give_back(GZ, id(1), &d).unwrap();
    ok(&r);
}

// ---- rule 4: rename -------------------------------------------------------

#[test]
fn rule4_rename_inside_borrowing_zone_keeps_reservation() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"tmp1230", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    r.rename(GZ, id(1), b"net0").unwrap();
    ok(&r);
    assert_eq!(r.lookup(Z1.id, Z1.id, b"net0"), Ok(id(1)));
    r.rename(Z1.id, id(1), b"net1").unwrap();
    ok(&r);
    refused(&r, Errno::EEXIST, || r.create(GZ, b"vnic9", id(9), b"tmp1230", false));
    r.give_back(GZ, id(1), &d).unwrap();
    assert_eq!(r.lookup(GZ, GZ, b"tmp1230"), Ok(id(1)));
    ok(&r);
}

#[test]
fn rule4_rename_errnos() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(GZ, b"vnic1", id(2), b"net1", false).unwrap();
    r.create(Z1.id, b"vnic2", id(3), b"net2", false).unwrap();
    refused(&r, Errno::EEXIST, || r.rename(GZ, id(1), b"net1"));
    refused(&r, Errno::ENOENT, || r.rename(Z1.id, id(1), b"net5"));
    refused(&r, Errno::EINVAL, || r.rename(GZ, id(1), b"bad name0"));
    refused(&r, Errno::ENAMETOOLONG, || r.rename(GZ, id(1), &[b'a'; 40]));
    let h = r.hold(GZ, id(1), HoldKind::DevNet).unwrap();
    refused(&r, Errno::EBUSY, || r.rename(GZ, id(1), b"net5"));
    r.rele(&h, ZoneKey::GLOBAL, HoldKind::DevNet).unwrap();
    r.rename(GZ, id(1), b"net5").unwrap();
    r.rename(GZ, id(1), b"net5").unwrap();
    // Zone-scoped: the same new name is fine in another zone.
    r.rename(Z1.id, id(3), b"net5").unwrap();
    ok(&r);
}

// ---- rule 5: holds have provenance ------------------------------------------

#[test]
fn rule5_holders_report_kind_zone_count() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    let a = r.hold(GZ, id(1), HoldKind::Stream).unwrap();
    let _b = r.hold(Z1.id, id(1), HoldKind::Stream).unwrap();
    let _c = r.hold(Z1.id, id(1), HoldKind::Stream).unwrap();
    let _e = r.hold(Z1.id, id(1), HoldKind::DevNet).unwrap();
    ok(&r);
    let h = r.holders(GZ, id(1)).unwrap();
    assert!(h.contains(&Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 }));
    assert!(h.contains(&Holder { kind: HoldKind::Stream, zone: Z1, count: 2 }));
    assert!(h.contains(&Holder { kind: HoldKind::DevNet, zone: Z1, count: 1 }));
    assert!(h.contains(&Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 }));
    assert_eq!(r.holders(Z1.id, id(1)), Err(Errno::EACCES));
    r.rele(&a, ZoneKey::GLOBAL, HoldKind::Stream).unwrap();
    ok(&r);
}

#[test]
fn rule5_unmatched_release_is_an_error_not_an_underflow() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    let h = r.hold(GZ, id(1), HoldKind::Stream).unwrap();
    let before = r.snapshot();
    assert_eq!(r.rele(&h, ZoneKey::GLOBAL, HoldKind::DevNet), Err(Errno::ENOENT));
    assert_eq!(r.rele(&h, Z1, HoldKind::Stream), Err(Errno::ENOENT));
    assert_eq!(r.rele(&h, ZoneKey::GLOBAL, HoldKind::Existence), Err(Errno::EINVAL));
    assert_eq!(r.rele(&h, ZoneKey::GLOBAL, HoldKind::Loan), Err(Errno::EINVAL));
    assert_eq!(r.snapshot(), before);
    r.rele(&h, ZoneKey::GLOBAL, HoldKind::Stream).unwrap();
    assert_eq!(r.rele(&h, ZoneKey::GLOBAL, HoldKind::Stream), Err(Errno::ENOENT));
    assert_eq!(r.rele_tmp(&h), Err(Errno::ENOENT));
    assert_eq!(r.bad_releases(), 6);
    assert_eq!(h.state(), LinkState::Active);
    ok(&r);
}

#[test]
fn rule5_hold_errnos() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    refused(&r, Errno::EINVAL, || r.hold(GZ, id(1), HoldKind::Existence));
    refused(&r, Errno::EINVAL, || r.hold(GZ, id(1), HoldKind::Loan));
    refused(&r, Errno::ENOENT, || r.hold(GZ, id(2), HoldKind::Stream));
    refused(&r, Errno::ENOENT, || r.hold(Z1.id, id(1), HoldKind::Stream));
    refused(&r, Errno::ENOENT, || r.hold_tmp(Z1.id, id(1)));
    refused(&r, Errno::EINVAL, || r.hold_tmp(ZoneId(-5), id(1)));
}

// ---- rule 6: zone halt teardown -------------------------------------------

#[test]
fn rule6_halt_condemns_transient_and_returns_lent() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(Z1.id, b"vnic1", id(2), b"net0", false).unwrap();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(GZ, b"vnic3", id(3), b"tmp3", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap_err(); // net0 taken in Z1
    r.rename(GZ, id(1), b"net1").unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    r.lend(GZ, id(3), Z1.id, true, &d).unwrap();
    let report = r.zone_halt(Z1, &d).unwrap();
    ok(&r);
    assert!(report.is_clean());
    assert_eq!(report.outcome(id(2)).unwrap().action, Action::Condemned { freed: true });
    assert_eq!(report.outcome(id(3)).unwrap().action, Action::Condemned { freed: true });
    assert!(matches!(report.outcome(id(1)).unwrap().action, Action::Returned { .. }));
    assert_eq!(r.lookup(GZ, GZ, b"net1"), Ok(id(1)));
    assert_eq!(r.hold_tmp(GZ, id(2)).err(), Some(Errno::ENOENT));
    assert_eq!(r.hold_tmp(GZ, id(3)).err(), Some(Errno::ENOENT));
    assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
    // Idempotent.
    let again = r.zone_halt(Z1, &d).unwrap();
    assert!(again.links.is_empty() && again.is_clean());
    ok(&r);
    r.zone_destroy(Z1).unwrap();
    ok(&r);
}

#[test]
fn rule6_gz_holder_keeps_a_valid_handle_across_halt() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(Z1.id, b"vnic1", id(2), b"net0", false).unwrap();
    let h = r.hold(GZ, id(2), HoldKind::Stream).unwrap();
    let report = r.zone_halt(Z1, &d).unwrap();
    let o = report.outcome(id(2)).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: false });
    assert_eq!(
        o.delayed_by,
        vec![Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 }]
    );
    assert_eq!(h.state(), LinkState::Detached);
    assert_eq!(r.pending_frees(), 1);
    ok(&r);
    r.rele(&h, ZoneKey::GLOBAL, HoldKind::Stream).unwrap();
    assert_eq!(h.state(), LinkState::Freed);
    assert_eq!(r.pending_frees(), 0);
    ok(&r);
}

#[test]
fn rule6_halt_with_dlmgmtd_down_leaves_zone_stuck() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    d.set_up(false);
    let report = r.zone_halt(Z1, &d).unwrap();
    assert_eq!(report.outcome(id(1)).unwrap().action, Action::ReturnFailed(Errno::EBADF));
    assert_eq!(report.remaining, 1);
    ok(&r);
    assert_eq!(r.zone_destroy(Z1), Err(Errno::ENOTEMPTY));
    // A re-run once the daemon is back finishes the job.
    d.set_up(true);
    let report = r.zone_halt(Z1, &d).unwrap();
    assert!(report.is_clean());
    ok(&r);
}

// ---- rule 7: forced recovery ------------------------------------------------

#[test]
fn rule7_recover_without_daemon_then_replay_in_order() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(GZ, b"vnic4", id(4), b"net4", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    r.lend(GZ, id(4), Z1.id, false, &d).unwrap();
    r.create(Z1.id, b"vnic2", id(2), b"net2", false).unwrap();
    d.set_up(false);
    let halt = r.zone_halt(Z1, &d).unwrap();
    assert_eq!(halt.remaining, 2);
    assert_eq!(r.zone_recover(Z2, true, 10), Err(Errno::EBUSY));
    let rec = r.zone_recover(Z1, true, 10).unwrap();
    assert!(rec.is_clean());
    ok(&r);
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    // Pending notice: no new move overtakes it.
    refused(&r, Errno::EAGAIN, || r.lend(GZ, id(1), Z2.id, false, &d));
    assert_eq!(r.replay_outbox(&d), Err(Errno::EBADF));
    d.set_up(true);
    let queued = r.outbox();
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert_eq!(r.replay_outbox(&d).unwrap(), 3);
    assert_eq!(d.log()[2..], queued[..], "replayed in order, after the two lends");
    assert!(r.outbox().is_empty());
    assert_eq!(d.zone_of(id(1)), Some(GZ));
    assert_eq!(d.zone_of(id(4)), Some(GZ));
    assert_eq!(d.zone_of(id(2)), None);
    assert_eq!(r.replay_outbox(&d).unwrap(), 0);
    r.lend(GZ, id(1), Z2.id, false, &d).unwrap();
    ok(&r);
}

#[test]
fn rule7_force_reclaims_only_the_dead_zones_own_holds() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    let gz = r.hold(GZ, id(1), HoldKind::Stream).unwrap();
    let zh = r.hold(Z1.id, id(1), HoldKind::Stream).unwrap();
    let halt = r.zone_halt(Z1, &d).unwrap();
    assert_eq!(halt.outcome(id(1)).unwrap().action, Action::Blocked);
    let soft = r.zone_recover(Z1, false, 10).unwrap();
    assert_eq!(soft.outcome(id(1)).unwrap().action, Action::Blocked);
    ok(&r);
    let hard = r.zone_recover(Z1, true, 10).unwrap();
    let o = hard.outcome(id(1)).unwrap();
    assert!(matches!(o.action, Action::ReturnQueued { .. }));
    assert_eq!(o.reclaimed, vec![Holder { kind: HoldKind::Stream, zone: Z1, count: 1 }]);
    ok(&r);
    // The global-zone hold survives; the dead zone's late release is refused.
    assert!(r.holders(GZ, id(1)).unwrap().contains(&Holder {
        kind: HoldKind::Stream,
        zone: ZoneKey::GLOBAL,
        count: 1
    }));
    assert_eq!(r.rele(&zh, Z1, HoldKind::Stream), Err(Errno::ENOENT));
    r.rele(&gz, ZoneKey::GLOBAL, HoldKind::Stream).unwrap();
    ok(&r);
}

// ---- rule 8: visibility -----------------------------------------------------

#[test]
fn rule8_ngz_sees_only_its_links() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(Z1.id, b"vnic1", id(2), b"net1", false).unwrap();
    r.create(Z2.id, b"vnic2", id(3), b"net2", false).unwrap();
    assert_eq!(r.list(Z1.id, None), Ok(vec![id(2)]));
    assert_eq!(r.list(Z1.id, Some(Z2.id)), Err(Errno::ENOENT));
    assert_eq!(r.list(GZ, None), Ok(vec![id(1), id(2), id(3)]));
    assert_eq!(r.list(GZ, Some(Z2.id)), Ok(vec![id(3)]));
    for (zone, link) in [(Z1.id, id(1)), (Z1.id, id(3)), (Z2.id, id(2))] {
        assert_eq!(r.hold_tmp(zone, link).err(), Some(Errno::ENOENT));
        assert_eq!(r.hold(zone, link, HoldKind::Stream).err(), Some(Errno::ENOENT));
        assert_eq!(r.rename(zone, link, b"x0"), Err(Errno::ENOENT));
        assert_eq!(r.destroy(zone, link, DrainWait::NoWait), Err(Errno::ENOENT));
    }
    assert_eq!(r.lookup_mac(Z1.id, b"vnic2"), Err(Errno::ENOENT));
    assert_eq!(r.lend(Z1.id, id(1), Z2.id, false, &d), Err(Errno::EACCES));
    assert_eq!(r.zone_recover(Z1, true, 1).err(), Some(Errno::EBUSY));
    // Once lent, the zone sees it; the lender still does too.
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    assert_eq!(r.list(Z1.id, None), Ok(vec![id(1), id(2)]));
    // But a zone may not destroy a link it only borrows.
    assert_eq!(r.destroy(Z1.id, id(1), DrainWait::NoWait), Err(Errno::EPERM));
    ok(&r);
}

// ---- rule 9: snapshot ---------------------------------------------------------

#[test]
fn rule9_equivalent_histories_dump_identically() {
    let d = FakeDlmgmt::up();
    let a = setup();
    a.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    a.create(GZ, b"vnic1", id(2), b"net1", false).unwrap();
    a.lend(GZ, id(2), Z1.id, false, &d).unwrap();

    let b = setup();
    b.create(GZ, b"vnic1", id(2), b"net1", false).unwrap();
    b.create(GZ, b"vnic5", id(5), b"net5", false).unwrap();
    b.lend(GZ, id(2), Z2.id, false, &d).unwrap();
    b.give_back(GZ, id(2), &d).unwrap();
    b.destroy(GZ, id(5), DrainWait::Wait).unwrap();
    b.create(GZ, b"vnic0", id(1), b"net9", false).unwrap();
    b.rename(GZ, id(1), b"net0").unwrap();
    let t = b.hold_tmp(GZ, id(1)).unwrap();
    b.lend(GZ, id(2), Z1.id, false, &d).unwrap();
    b.rele_tmp(&t).unwrap();

    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(a.snapshot().render(), b.snapshot().render());
    assert!(a.snapshot().render().contains("link 2 vnic1 net1 zone=1/101 owner=0/0 temporary"));
}

// ---- rule 10: destroy ----------------------------------------------------------

#[test]
fn rule10_destroy_refuses_while_held() {
    let r = setup();
    let d = FakeDlmgmt::up();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    let h = r.hold(GZ, id(1), HoldKind::Stream).unwrap();
    refused(&r, Errno::EBUSY, || r.destroy(GZ, id(1), DrainWait::Wait));
    r.rele(&h, ZoneKey::GLOBAL, HoldKind::Stream).unwrap();
    r.lend(GZ, id(1), Z1.id, false, &d).unwrap();
    refused(&r, Errno::EBUSY, || r.destroy(GZ, id(1), DrainWait::Wait));
    r.give_back(GZ, id(1), &d).unwrap();
    let t = r.hold_tmp(GZ, id(1)).unwrap();
    refused(&r, Errno::EBUSY, || r.destroy(GZ, id(1), DrainWait::NoWait));
    r.rele_tmp(&t).unwrap();
    r.destroy(GZ, id(1), DrainWait::NoWait).unwrap();
    assert_eq!(t.state(), LinkState::Freed);
    ok(&r);
    // The id, MAC name and name are free again.
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    ok(&r);
}

#[test]
fn rule10_destroy_waits_for_tmp_holds_without_blocking_lookups() {
    let r = std::sync::Arc::new(setup());
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    r.create(GZ, b"vnic1", id(2), b"net1", false).unwrap();
    let t = r.hold_tmp(GZ, id(1)).unwrap();
    let r2 = r.clone();
    let th = std::thread::spawn(move || r2.destroy(GZ, id(1), DrainWait::Wait));
    // While the destroy waits: condemned, no new hold, other links usable.
    while t.state() != LinkState::Condemned {
        assert!(!th.is_finished(), "destroy returned without waiting for the holder");
        std::thread::yield_now();
    }
    assert_eq!(r.hold_tmp(GZ, id(1)).err(), Some(Errno::ENOENT));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT));
    let u = r.hold_tmp(GZ, id(2)).unwrap();
    r.rele_tmp(&u).unwrap();
    r.rele_tmp(&t).unwrap();
    th.join().unwrap().unwrap();
    assert_eq!(t.state(), LinkState::Freed);
    ok(&r);
}

#[test]
fn rule10_interrupted_destroy_leaves_link_as_it_was() {
    let r = setup();
    r.create(GZ, b"vnic0", id(1), b"net0", false).unwrap();
    let t = r.hold_tmp(GZ, id(1)).unwrap();
    let before = r.snapshot();
    dlszone::sync::signal::raise();
    assert_eq!(r.destroy(GZ, id(1), DrainWait::WaitSig), Err(Errno::EINTR));
    assert_eq!(r.snapshot(), before);
    assert_eq!(t.state(), LinkState::Active);
    r.rele_tmp(&t).unwrap();
    ok(&r);
}

#[test]
fn rule10_destroy_errnos() {
    let r = setup();
    r.create(Z1.id, b"vnic1", id(2), b"net1", false).unwrap();
    refused(&r, Errno::ENOENT, || r.destroy(GZ, id(9), DrainWait::Wait));
    refused(&r, Errno::EINVAL, || r.destroy(GZ, LinkId::INVALID, DrainWait::Wait));
    refused(&r, Errno::ENOENT, || r.destroy(Z2.id, id(2), DrainWait::Wait));
    r.destroy(Z1.id, id(2), DrainWait::Wait).unwrap();
    ok(&r);
}

// ---- zones -----------------------------------------------------------------------

#[test]
fn zone_errnos() {
    let r = setup();
    let d = FakeDlmgmt::up();
    refused(&r, Errno::EEXIST, || r.zone_boot(ZoneKey::new(1, 500)));
    refused(&r, Errno::EEXIST, || r.zone_boot(ZoneKey::GLOBAL));
    refused(&r, Errno::EINVAL, || r.zone_boot(ZoneKey::new(-1, 5)));
    refused(&r, Errno::EINVAL, || r.zone_halt(ZoneKey::GLOBAL, &d));
    refused(&r, Errno::ENXIO, || r.zone_halt(ZoneKey::new(7, 7), &d));
    refused(&r, Errno::ESTALE, || r.zone_halt(ZoneKey::new(1, 999), &d));
    refused(&r, Errno::EBUSY, || r.zone_destroy(Z1));
    refused(&r, Errno::EINVAL, || r.zone_destroy(ZoneKey::GLOBAL));
    refused(&r, Errno::EINVAL, || r.zone_recover(ZoneKey::GLOBAL, true, 1));
}
