//! Suite `registry`: the rules of `docs/design.md`, one body or more per
//! rule and per documented errno, checking the invariants after every
//! step. The same checks as `tests/registry_rules.rs`, minus the ones
//! that need threads.

use alloc::vec;

use crate::Outcome;
use crate::fake::FakeDlmgmt;
use crate::{kt_assert, kt_assert_eq, kt_assert_err, kt_assert3u, kt_ok, kt_pass};
use alloc::sync::Arc;
use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkState, Registry, ZoneId, ZoneKey, ZoneState,
};

pub(super) const GZ: ZoneId = ZoneId::GLOBAL;
pub(super) const Z1: ZoneKey = ZoneKey::new(1, 101);
pub(super) const Z2: ZoneKey = ZoneKey::new(2, 102);

pub(super) const fn id(n: u32) -> LinkId {
    LinkId(n)
}

/// A running fake dlmgmtd, registered as `r`'s door.
pub(super) fn daemon(r: &Registry) -> Arc<FakeDlmgmt> {
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    d
}

/// FAIL, naming the rule, unless the registry's invariants hold.
macro_rules! inv {
    ($r:expr) => {
        if let Err(v) = $r.check_invariants() {
            $crate::kt_fail!("invariant {} broken: {}", v.rule, v.detail);
        }
    };
}
pub(super) use inv;

/// FAIL unless `call` fails with `errno` and leaves the registry exactly
/// as it was.
macro_rules! refused {
    ($r:expr, $errno:expr, $call:expr) => {{
        let before = $r.snapshot();
        $crate::kt_assert_err!($call, $errno);
        $crate::kt_assert!($r.snapshot() == before, "a refused call changed the registry");
        $crate::rules::inv!($r);
    }};
}

/// A registry with zones 1 and 2 booted (ERROR if that fails). On the
/// heap: a body's frame stays small (the stack budget of `docs/build.md`).
macro_rules! setup {
    () => {{
        let r = alloc::boxed::Box::new(dlszone::registry::Registry::new());
        $crate::kt_eok!(r.zone_boot($crate::rules::Z1));
        $crate::kt_eok!(r.zone_boot($crate::rules::Z2));
        $crate::rules::inv!(r);
        r
    }};
}
pub(super) use setup;

// ---- rule 1: names are per zone ------------------------------------------

pub(super) fn rule1_same_name_in_several_zones() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    kt_ok!(r.create(Z2.id, b"vnic2", id(3), b"net0", false));
    inv!(r);
    kt_assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    kt_assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(id(2)));
    kt_assert_eq!(r.lookup(Z2.id, Z2.id, b"net0"), Ok(id(3)));
    refused!(r, Errno::EEXIST, r.create(Z1.id, b"vnic9", id(9), b"net0", false));
    kt_pass!()
}

pub(super) fn rule1_lookups_are_zone_qualified() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    kt_assert_err!(r.lookup(GZ, GZ, b"net0"), Errno::ENOENT);
    kt_assert_err!(r.lookup(Z2.id, Z2.id, b"net0"), Errno::ENOENT);
    // A zone cannot even ask about another zone's names.
    kt_assert_err!(r.lookup(Z2.id, Z1.id, b"net0"), Errno::ENOENT);
    kt_pass!()
}

// ---- rule 2: create ------------------------------------------------------

pub(super) fn rule2_ngz_links_are_owned_and_transient() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    let s = r.snapshot();
    let l = &s.links[0];
    kt_assert_eq!((l.owner, l.zone, l.transient, l.persistent), (Z1, Z1, true, false));
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", true));
    let s = r.snapshot();
    kt_assert_eq!((s.links[0].owner, s.links[0].transient), (ZoneKey::GLOBAL, false));
    inv!(r);
    kt_pass!()
}

pub(super) fn rule2_persistent_create_in_ngz_refused() -> Outcome {
    let r = setup!();
    refused!(r, Errno::ENOTSUP, r.create(Z1.id, b"vnic1", id(2), b"net0", true));
    kt_pass!()
}

pub(super) fn rule2_create_errnos() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    refused!(r, Errno::EEXIST, r.create(GZ, b"vnic9", id(1), b"net9", false));
    refused!(r, Errno::EEXIST, r.create(GZ, b"vnic0", id(9), b"net9", false));
    refused!(r, Errno::EEXIST, r.create(GZ, b"vnic9", id(9), b"net0", false));
    refused!(r, Errno::EINVAL, r.create(GZ, b"vnic9", LinkId::INVALID, b"net9", false));
    refused!(r, Errno::EINVAL, r.create(GZ, b"vnic9", id(9), b"", false));
    refused!(r, Errno::EINVAL, r.create(GZ, b"vnic9", id(9), b"9net", false));
    refused!(r, Errno::EINVAL, r.create(GZ, b"vnic9", id(9), b"net-9", false));
    let long = b"abcdefghijklmnopqrstuvwxyzabcde9";
    refused!(r, Errno::ENAMETOOLONG, r.create(GZ, b"vnic9", id(9), long, false));
    refused!(r, Errno::EINVAL, r.create(GZ, b"", id(9), b"net9", false));
    refused!(r, Errno::ENAMETOOLONG, r.create(GZ, &[b'v'; 256], id(9), b"net9", false));
    refused!(r, Errno::EINVAL, r.create(ZoneId(-1), b"vnic9", id(9), b"net9", false));
    refused!(r, Errno::EINVAL, r.create(ZoneId(10_000), b"vnic9", id(9), b"net9", false));
    refused!(r, Errno::ENXIO, r.create(ZoneId(7), b"vnic9", id(9), b"net9", false));
    kt_pass!()
}

pub(super) fn rule2_pending_links_hidden_until_activated() -> Outcome {
    let r = setup!();
    kt_ok!(r.create_pending(b"e1000g0"));
    inv!(r);
    kt_assert_err!(r.lookup_mac(GZ, b"e1000g0"), Errno::ENOENT);
    refused!(r, Errno::EEXIST, r.create_pending(b"e1000g0"));
    refused!(r, Errno::ENOENT, r.activate(b"e1000g1", id(4), b"net4"));
    kt_ok!(r.activate(b"e1000g0", id(4), b"e1000g0"));
    inv!(r);
    kt_assert_eq!(r.lookup_mac(GZ, b"e1000g0"), Ok(id(4)));
    refused!(r, Errno::EINVAL, r.activate(b"e1000g0", id(5), b"net5"));
    kt_pass!()
}

// ---- rule 3: lend and return -----------------------------------------------

pub(super) fn rule3_lend_reserves_gz_name() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    inv!(r);
    kt_assert_eq!(d.zone_of(id(1)), Some(Z1.id));
    kt_assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(id(1)));
    kt_assert_err!(r.lookup(GZ, GZ, b"net0"), Errno::ENOENT);
    // Reserved: nobody in the global zone may take the name.
    refused!(r, Errno::EEXIST, r.create(GZ, b"vnic9", id(9), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic8", id(8), b"net8", false));
    refused!(r, Errno::EEXIST, r.rename(GZ, id(8), b"net0"));
    let loan = Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 };
    kt_assert!(kt_ok!(r.holders(GZ, id(1))).contains(&loan));
    // The global zone's open of the reserved name finds the lent link, as
    // gate's dlmgmtd does; nobody else does, and no other name does.
    let h = kt_ok!(r.hold_on_loan_by_name(GZ, b"net0", HoldKind::DevNet));
    kt_assert_eq!(h.link_ref().linkid(), id(1));
    kt_assert_eq!(h.holder(), ZoneKey::GLOBAL);
    kt_ok!(r.rele(h));
    refused!(r, Errno::ENOENT, r.hold_on_loan_by_name(Z1.id, b"net0", HoldKind::DevNet));
    refused!(r, Errno::ENOENT, r.hold_on_loan_by_name(GZ, b"net8", HoldKind::DevNet));
    refused!(r, Errno::ENOENT, r.hold_on_loan_by_name(GZ, b"net1", HoldKind::DevNet));
    refused!(r, Errno::EINVAL, r.hold_on_loan_by_name(GZ, b"net0", HoldKind::Loan));
    kt_ok!(r.give_back(GZ, id(1)));
    refused!(r, Errno::ENOENT, r.hold_on_loan_by_name(GZ, b"net0", HoldKind::DevNet));
    inv!(r);
    kt_assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    kt_assert_eq!(d.zone_of(id(1)), Some(GZ));
    let existence = Holder { kind: HoldKind::Existence, zone: ZoneKey::GLOBAL, count: 1 };
    kt_assert_eq!(r.holders(GZ, id(1)), Ok(vec![existence]));
    // A second return is a no-op, not a second release.
    kt_ok!(r.give_back(GZ, id(1)));
    kt_assert_eq!(r.holders(GZ, id(1)), Ok(vec![existence]));
    kt_pass!()
}

pub(super) fn rule3_lend_errnos() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", true));
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net1", false));
    kt_ok!(r.create(Z2.id, b"vnic2", id(3), b"net0", false));
    refused!(r, Errno::EACCES, r.lend(Z1.id, id(1), Z2.id, false));
    refused!(r, Errno::EINVAL, r.lend(GZ, id(1), GZ, false));
    refused!(r, Errno::ENOENT, r.lend(GZ, id(99), Z1.id, false));
    refused!(r, Errno::EPERM, r.lend(GZ, id(2), Z2.id, false));
    refused!(r, Errno::ENXIO, r.lend(GZ, id(1), ZoneId(7), false));
    refused!(r, Errno::EEXIST, r.lend(GZ, id(1), Z2.id, false));
    refused!(r, Errno::EINVAL, r.lend(GZ, id(1), Z1.id, true));
    d.set_up(false);
    refused!(r, Errno::EBADF, r.lend(GZ, id(1), Z1.id, false));
    d.set_up(true);
    d.fail_next(Errno::EEXIST);
    refused!(r, Errno::EEXIST, r.lend(GZ, id(1), Z1.id, false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    refused!(r, Errno::EBUSY, r.lend(GZ, id(1), Z2.id, false));
    refused!(r, Errno::EACCES, r.give_back(Z1.id, id(1)));
    // The NGZ-owned link can never reach the global zone.
    kt_assert_eq!(r.give_back(GZ, id(2)), Ok(()));
    let s = r.snapshot();
    kt_assert_eq!(s.links.iter().find(|l| l.linkid == id(2)).map(|l| l.zone), Some(Z1));
    kt_pass!()
}

pub(super) fn rule3_return_blocked_by_zone_holds() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    let h = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    refused!(r, Errno::EBUSY, r.give_back(GZ, id(1)));
    kt_ok!(r.rele(h));
    kt_ok!(r.give_back(GZ, id(1)));
    inv!(r);
    kt_pass!()
}

// ---- rule 4: rename ----------------------------------------------------------

pub(super) fn rule4_rename_in_borrowing_zone() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"tmp1230", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_ok!(r.rename(GZ, id(1), b"net0"));
    inv!(r);
    kt_assert_eq!(r.lookup(Z1.id, Z1.id, b"net0"), Ok(id(1)));
    kt_ok!(r.rename(Z1.id, id(1), b"net1"));
    inv!(r);
    refused!(r, Errno::EEXIST, r.create(GZ, b"vnic9", id(9), b"tmp1230", false));
    kt_ok!(r.give_back(GZ, id(1)));
    kt_assert_eq!(r.lookup(GZ, GZ, b"tmp1230"), Ok(id(1)));
    inv!(r);
    kt_pass!()
}

pub(super) fn rule4_rename_errnos() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic1", id(2), b"net1", false));
    kt_ok!(r.create(Z1.id, b"vnic2", id(3), b"net2", false));
    refused!(r, Errno::EEXIST, r.rename(GZ, id(1), b"net1"));
    refused!(r, Errno::ENOENT, r.rename(Z1.id, id(1), b"net5"));
    refused!(r, Errno::EINVAL, r.rename(GZ, id(1), b"bad name0"));
    refused!(r, Errno::ENAMETOOLONG, r.rename(GZ, id(1), &[b'a'; 40]));
    let h = kt_ok!(r.hold(GZ, id(1), HoldKind::DevNet));
    refused!(r, Errno::EBUSY, r.rename(GZ, id(1), b"net5"));
    kt_ok!(r.rele(h));
    kt_ok!(r.rename(GZ, id(1), b"net5"));
    kt_ok!(r.rename(GZ, id(1), b"net5"));
    // Zone-scoped: the same new name is fine in another zone.
    kt_ok!(r.rename(Z1.id, id(3), b"net5"));
    inv!(r);
    kt_pass!()
}

// ---- rule 5: holds have provenance -------------------------------------------

pub(super) fn rule5_holders_report_provenance() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    let a = kt_ok!(r.hold(GZ, id(1), HoldKind::Stream));
    let _b = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    let _c = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    let _e = kt_ok!(r.hold(Z1.id, id(1), HoldKind::DevNet));
    inv!(r);
    let h = kt_ok!(r.holders(GZ, id(1)));
    for want in [
        Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 },
        Holder { kind: HoldKind::Stream, zone: Z1, count: 2 },
        Holder { kind: HoldKind::DevNet, zone: Z1, count: 1 },
        Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 },
    ] {
        kt_assert!(h.contains(&want), "{want:?} missing from {h:?}");
    }
    kt_assert_err!(r.holders(Z1.id, id(1)), Errno::EACCES);
    kt_ok!(r.rele(a));
    inv!(r);
    kt_pass!()
}

/// A hold is a token: in Rust it cannot be given back twice, or as
/// another kind or holder (those do not compile). What remains to refuse
/// at run time is the late release of a hold forced recovery already
/// reclaimed: `ESTALE`, counted apart from bad releases, nothing changed.
pub(super) fn rule5_unmatched_release_refused() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_assert_err!(r.hold(GZ, id(1), HoldKind::Existence), Errno::EINVAL);
    kt_assert_err!(r.hold(GZ, id(1), HoldKind::Loan), Errno::EINVAL);
    let in_zone = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    let gz = kt_ok!(r.hold(GZ, id(1), HoldKind::Stream));
    d.set_up(false);
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert_eq!(halt.outcome(id(1)).map(|o| o.action.clone()), Some(Action::Blocked));
    let rec = kt_ok!(r.zone_recover(Z1, true, 10));
    kt_assert!(rec.is_clean(), "{rec:?}");
    inv!(r);
    let before = r.snapshot();
    kt_assert_err!(r.rele(in_zone), Errno::ESTALE);
    kt_assert!(r.snapshot() == before, "a late release changed the registry");
    kt_assert3u!(r.late_releases(), ==, 1);
    kt_assert3u!(r.bad_releases(), ==, 0);
    let link = gz.link_ref();
    kt_ok!(r.rele(gz));
    kt_assert3u!(r.bad_releases(), ==, 0);
    kt_assert_eq!(link.state(), LinkState::Active);
    inv!(r);
    kt_pass!()
}

pub(super) fn rule5_hold_errnos() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    refused!(r, Errno::EINVAL, r.hold(GZ, id(1), HoldKind::Existence));
    refused!(r, Errno::EINVAL, r.hold(GZ, id(1), HoldKind::Loan));
    refused!(r, Errno::ENOENT, r.hold(GZ, id(2), HoldKind::Stream));
    refused!(r, Errno::ENOENT, r.hold(Z1.id, id(1), HoldKind::Stream));
    refused!(r, Errno::ENOENT, r.hold_tmp(Z1.id, id(1)));
    refused!(r, Errno::EINVAL, r.hold_tmp(ZoneId(-5), id(1)));
    kt_pass!()
}

// ---- rule 6: zone halt teardown ----------------------------------------------

pub(super) fn rule6_halt_condemns_and_returns() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic3", id(3), b"tmp3", false));
    kt_assert_err!(r.lend(GZ, id(1), Z1.id, false), Errno::EEXIST, "net0 taken in zone 1");
    kt_ok!(r.rename(GZ, id(1), b"net1"));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_ok!(r.lend(GZ, id(3), Z1.id, true));
    let report = kt_ok!(r.zone_halt(Z1));
    inv!(r);
    kt_assert!(report.is_clean(), "{report:?}");
    let action = |l| report.outcome(l).map(|o| o.action.clone());
    kt_assert_eq!(action(id(2)), Some(Action::Condemned { freed: true }));
    kt_assert_eq!(action(id(3)), Some(Action::Condemned { freed: true }));
    kt_assert!(matches!(action(id(1)), Some(Action::Returned { .. })), "{report:?}");
    kt_assert_eq!(r.lookup(GZ, GZ, b"net1"), Ok(id(1)));
    kt_assert_err!(r.hold_tmp(GZ, id(2)), Errno::ENOENT);
    kt_assert_err!(r.hold_tmp(GZ, id(3)), Errno::ENOENT);
    kt_assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
    // Idempotent.
    let again = kt_ok!(r.zone_halt(Z1));
    kt_assert!(again.links.is_empty() && again.is_clean(), "{again:?}");
    inv!(r);
    kt_ok!(r.zone_destroy(Z1));
    inv!(r);
    kt_pass!()
}

pub(super) fn rule6_gz_holder_survives_halt() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    let h = kt_ok!(r.hold(GZ, id(2), HoldKind::Stream));
    let report = kt_ok!(r.zone_halt(Z1));
    let Some(o) = report.outcome(id(2)) else {
        crate::kt_fail!("no line for link 2 in {report:?}");
    };
    kt_assert_eq!(o.action, Action::Condemned { freed: false });
    let gz_stream = Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 };
    kt_assert_eq!(o.delayed_by, vec![gz_stream]);
    kt_assert_eq!(h.state(), LinkState::Detached);
    kt_assert3u!(r.pending_frees(), ==, 1);
    inv!(r);
    let link = h.link_ref();
    kt_ok!(r.rele(h));
    kt_assert_eq!(link.state(), LinkState::Freed);
    kt_assert3u!(r.pending_frees(), ==, 0);
    inv!(r);
    kt_pass!()
}

pub(super) fn rule6_halt_without_dlmgmtd_sticks() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    d.set_up(false);
    let report = kt_ok!(r.zone_halt(Z1));
    let action = report.outcome(id(1)).map(|o| o.action.clone());
    kt_assert_eq!(action, Some(Action::ReturnFailed(Errno::EBADF)));
    kt_assert3u!(report.remaining, ==, 1);
    inv!(r);
    kt_assert_err!(r.zone_destroy(Z1), Errno::ENOTEMPTY);
    // A re-run once the daemon is back finishes the job.
    d.set_up(true);
    let report = kt_ok!(r.zone_halt(Z1));
    kt_assert!(report.is_clean(), "{report:?}");
    inv!(r);
    kt_pass!()
}

// ---- rule 7: forced recovery ---------------------------------------------------

pub(super) fn rule7_recover_then_replay_in_order() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic4", id(4), b"net4", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_ok!(r.lend(GZ, id(4), Z1.id, false));
    kt_ok!(r.create(Z1.id, b"vnic2", id(2), b"net2", false));
    d.set_up(false);
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert3u!(halt.remaining, ==, 2);
    kt_assert_err!(r.zone_recover(Z2, true, 10), Errno::EBUSY);
    let rec = kt_ok!(r.zone_recover(Z1, true, 10));
    kt_assert!(rec.is_clean(), "{rec:?}");
    inv!(r);
    kt_assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    // Pending notice: no new move overtakes it.
    refused!(r, Errno::EAGAIN, r.lend(GZ, id(1), Z2.id, false));
    kt_assert_err!(r.replay_outbox(), Errno::EBADF);
    d.set_up(true);
    let queued = r.outbox();
    kt_assert3u!(queued.len(), ==, 3, "{queued:?}");
    kt_assert_eq!(r.replay_outbox(), Ok(3));
    let log = d.log();
    kt_assert!(log.get(2..) == Some(&queued[..]), "replayed out of order: {log:?}");
    kt_assert!(r.outbox().is_empty());
    kt_assert_eq!(d.zone_of(id(1)), Some(GZ));
    kt_assert_eq!(d.zone_of(id(4)), Some(GZ));
    kt_assert_eq!(d.zone_of(id(2)), None);
    kt_assert_eq!(r.replay_outbox(), Ok(0));
    kt_ok!(r.lend(GZ, id(1), Z2.id, false));
    inv!(r);
    kt_pass!()
}

pub(super) fn rule7_force_reclaims_zone_holds() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    let gz = kt_ok!(r.hold(GZ, id(1), HoldKind::Stream));
    let zh = kt_ok!(r.hold(Z1.id, id(1), HoldKind::Stream));
    let action =
        |rep: &dlszone::registry::TeardownReport| rep.outcome(id(1)).map(|o| o.action.clone());
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert_eq!(action(&halt), Some(Action::Blocked));
    let soft = kt_ok!(r.zone_recover(Z1, false, 10));
    kt_assert_eq!(action(&soft), Some(Action::Blocked));
    inv!(r);
    let hard = kt_ok!(r.zone_recover(Z1, true, 10));
    kt_assert!(matches!(action(&hard), Some(Action::ReturnQueued { .. })), "{hard:?}");
    let reclaimed = hard.outcome(id(1)).map(|o| o.reclaimed.clone());
    let z1_stream = Holder { kind: HoldKind::Stream, zone: Z1, count: 1 };
    kt_assert_eq!(reclaimed, Some(vec![z1_stream]));
    inv!(r);
    // The global-zone hold survives; the dead zone's late release is refused.
    let gz_stream = Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 };
    kt_assert!(kt_ok!(r.holders(GZ, id(1))).contains(&gz_stream));
    let before = r.snapshot();
    kt_assert_err!(r.rele(zh), Errno::ESTALE);
    kt_assert!(r.snapshot() == before, "a late release changed the registry");
    kt_assert3u!(r.late_releases(), ==, 1);
    kt_assert3u!(r.bad_releases(), ==, 0);
    kt_ok!(r.rele(gz));
    inv!(r);
    kt_pass!()
}

// ---- rule 8: visibility ----------------------------------------------------------

pub(super) fn rule8_ngz_sees_only_its_links() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net1", false));
    kt_ok!(r.create(Z2.id, b"vnic2", id(3), b"net2", false));
    kt_assert_eq!(r.list(Z1.id, None), Ok(vec![id(2)]));
    kt_assert_err!(r.list(Z1.id, Some(Z2.id)), Errno::ENOENT);
    kt_assert_eq!(r.list(GZ, None), Ok(vec![id(1), id(2), id(3)]));
    kt_assert_eq!(r.list(GZ, Some(Z2.id)), Ok(vec![id(3)]));
    for (zone, link) in [(Z1.id, id(1)), (Z1.id, id(3)), (Z2.id, id(2))] {
        kt_assert_err!(r.hold_tmp(zone, link), Errno::ENOENT, "{zone:?} {link:?}");
        kt_assert_err!(r.hold(zone, link, HoldKind::Stream), Errno::ENOENT, "{zone:?} {link:?}");
        kt_assert_err!(r.rename(zone, link, b"x0"), Errno::ENOENT, "{zone:?} {link:?}");
        kt_assert_err!(r.destroy(zone, link, DrainWait::NoWait), Errno::ENOENT, "{zone:?}");
    }
    kt_assert_err!(r.lookup_mac(Z1.id, b"vnic2"), Errno::ENOENT);
    kt_assert_err!(r.lend(Z1.id, id(1), Z2.id, false), Errno::EACCES);
    kt_assert_err!(r.zone_recover(Z1, true, 1), Errno::EBUSY);
    // Once lent, the zone sees it; the lender still does too.
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_assert_eq!(r.list(Z1.id, None), Ok(vec![id(1), id(2)]));
    // But a zone may not destroy a link it only borrows.
    kt_assert_err!(r.destroy(Z1.id, id(1), DrainWait::NoWait), Errno::EPERM);
    inv!(r);
    kt_pass!()
}

// ---- rule 9: snapshot --------------------------------------------------------------

pub(super) fn rule9_equivalent_histories_dump_same() -> Outcome {
    let a = setup!();
    let _da = daemon(&a);
    kt_ok!(a.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(a.create(GZ, b"vnic1", id(2), b"net1", false));
    kt_ok!(a.lend(GZ, id(2), Z1.id, false));

    let b = setup!();
    let _db = daemon(&b);
    kt_ok!(b.create(GZ, b"vnic1", id(2), b"net1", false));
    kt_ok!(b.create(GZ, b"vnic5", id(5), b"net5", false));
    kt_ok!(b.lend(GZ, id(2), Z2.id, false));
    kt_ok!(b.give_back(GZ, id(2)));
    kt_ok!(b.destroy(GZ, id(5), DrainWait::Wait));
    kt_ok!(b.create(GZ, b"vnic0", id(1), b"net9", false));
    kt_ok!(b.rename(GZ, id(1), b"net0"));
    let t = kt_ok!(b.hold_tmp(GZ, id(1)));
    kt_ok!(b.lend(GZ, id(2), Z1.id, false));
    kt_ok!(b.rele_tmp(t));

    kt_assert!(a.snapshot() == b.snapshot(), "equivalent histories dump differently");
    let text = a.snapshot().render();
    kt_assert!(text == b.snapshot().render(), "renders differ");
    kt_assert!(text.contains("link 2 vnic1 net1 zone=1/101 owner=0/0 temporary"), "{text}");
    kt_pass!()
}

// ---- rule 10: destroy -----------------------------------------------------------------

pub(super) fn rule10_destroy_refused_while_held() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    let h = kt_ok!(r.hold(GZ, id(1), HoldKind::Stream));
    refused!(r, Errno::EBUSY, r.destroy(GZ, id(1), DrainWait::Wait));
    kt_ok!(r.rele(h));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    refused!(r, Errno::EBUSY, r.destroy(GZ, id(1), DrainWait::Wait));
    kt_ok!(r.give_back(GZ, id(1)));
    let t = kt_ok!(r.hold_tmp(GZ, id(1)));
    refused!(r, Errno::EBUSY, r.destroy(GZ, id(1), DrainWait::NoWait));
    let link = t.link_ref();
    kt_ok!(r.rele_tmp(t));
    kt_ok!(r.destroy(GZ, id(1), DrainWait::NoWait));
    kt_assert_eq!(link.state(), LinkState::Freed);
    inv!(r);
    // The id, MAC name and name are free again.
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    inv!(r);
    kt_pass!()
}

/// Needs a signal pending on the test's own thread, which only the host
/// backend can arrange (`sync::signal::raise`).
pub(super) fn rule10_interrupted_destroy_unchanged() -> Outcome {
    #[cfg(kmod)]
    {
        crate::kt_skip!("needs a signal pending on the test thread; runs on the host only");
    }
    #[cfg(not(kmod))]
    {
        let r = setup!();
        kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
        let t = kt_ok!(r.hold_tmp(GZ, id(1)));
        let before = r.snapshot();
        dlszone::sync::signal::raise();
        kt_assert_err!(r.destroy(GZ, id(1), DrainWait::WaitSig), Errno::EINTR);
        kt_assert!(r.snapshot() == before, "an interrupted destroy changed the registry");
        kt_assert_eq!(t.state(), LinkState::Active);
        kt_ok!(r.rele_tmp(t));
        inv!(r);
        kt_pass!()
    }
}

pub(super) fn rule10_destroy_errnos() -> Outcome {
    let r = setup!();
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net1", false));
    refused!(r, Errno::ENOENT, r.destroy(GZ, id(9), DrainWait::Wait));
    refused!(r, Errno::EINVAL, r.destroy(GZ, LinkId::INVALID, DrainWait::Wait));
    refused!(r, Errno::ENOENT, r.destroy(Z2.id, id(2), DrainWait::Wait));
    kt_ok!(r.destroy(Z1.id, id(2), DrainWait::Wait));
    inv!(r);
    kt_pass!()
}

pub(super) fn rule10_destroy_of_a_mac_spares_a_reused_id() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    // Zone 1's transient link goes with the zone; dlmgmtd hands its id to
    // a global-zone link over another MAC.
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net1", false));
    kt_ok!(r.zone_halt(Z1));
    kt_ok!(r.create(GZ, b"vnic2", id(2), b"net2", false));
    inv!(r);
    // A destroy of the first MAC that found id 2 before the halt must not
    // take the second MAC's link.
    refused!(r, Errno::ENOENT, r.destroy_of_mac(GZ, id(2), b"vnic1", DrainWait::Wait));
    refused!(r, Errno::EINVAL, r.destroy_of_mac(GZ, id(2), b"", DrainWait::Wait));
    kt_ok!(r.destroy_of_mac(GZ, id(2), b"vnic2", DrainWait::Wait));
    kt_assert_err!(r.lookup_mac(GZ, b"vnic2"), Errno::ENOENT);
    inv!(r);
    kt_pass!()
}

// ---- zones ------------------------------------------------------------------------------

pub(super) fn zone_errnos() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    refused!(r, Errno::EEXIST, r.zone_boot(ZoneKey::new(1, 500)));
    refused!(r, Errno::EEXIST, r.zone_boot(ZoneKey::GLOBAL));
    refused!(r, Errno::EINVAL, r.zone_boot(ZoneKey::new(-1, 5)));
    refused!(r, Errno::EINVAL, r.zone_halt(ZoneKey::GLOBAL));
    refused!(r, Errno::ENXIO, r.zone_halt(ZoneKey::new(7, 7)));
    refused!(r, Errno::ESTALE, r.zone_halt(ZoneKey::new(1, 999)));
    refused!(r, Errno::EBUSY, r.zone_destroy(Z1));
    refused!(r, Errno::EINVAL, r.zone_destroy(ZoneKey::GLOBAL));
    refused!(r, Errno::EINVAL, r.zone_recover(ZoneKey::GLOBAL, true, 1));
    kt_pass!()
}
