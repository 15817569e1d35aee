//! illumos 15167: "Panic when halting a zone with self-created links".
//!
//! The failure (gate `dls_mgmt.c` before the fix): a zone with
//! `sys_dl_config` runs `dladm create-vnic`. `dls_devnet_set` gives the
//! devnet its existence reference only (`dd_ref == 1`) and
//! `dd_owner_zid == dd_zid == ngz`: no loan reference, because the link
//! never came from the global zone. At halt, `zone_shutdown` runs the
//! netstack shutdown callback `dls_stack_shutdown`, which walks the zone's
//! links and calls `dls_zone_remove` → `dls_devnet_setzid(ddp, GZ)`. That
//! takes the "NGZ → GZ" branch and calls `dls_devnet_rele()` for the loan
//! reference that was never taken: `dd_ref` goes 1 → 0. A DEBUG kernel
//! panics on `ASSERT(dd_ref > 1)`; a non-DEBUG one leaves a hashed devnet
//! with no references sitting in the global zone, where the next release
//! or `dls_devnet_unset` misbehaves. The gate fix made such links
//! transient and had zoneadmd delete them after `zone_shutdown`.
//!
//! dlszone replays that sequence. Its holds have provenance (the zone's
//! link has `Existence` from its owner and no `Loan`), "returning" a link
//! its zone owns is a no-op rather than a release, and a link created in a
//! zone is transient from birth, so the halt condemns it: it never reaches
//! the global zone, the zone can be destroyed, and a stream still open in
//! the zone delays the free (or, once the zone is dead, is reclaimed by
//! forced recovery) instead of being released twice.

use std::sync::Arc;

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkState, Notice, Registry, ZoneId, ZoneKey,
    ZoneState,
};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, name};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);

/// The VNIC the zone creates for itself (`dladm create-vnic` in the zone).
const OWN: LinkId = LinkId(10);
/// A global-zone VNIC lent to the zone by zoneadmd, for contrast.
const LENT: LinkId = LinkId(20);
/// The global zone's own link of the same name as the zone's.
const GZ_NET0: LinkId = LinkId(30);

fn existence(zone: ZoneKey) -> Holder {
    Holder { kind: HoldKind::Existence, zone, count: 1 }
}

fn stream(zone: ZoneKey, count: u32) -> Holder {
    Holder { kind: HoldKind::Stream, zone, count }
}

/// Zone 1 booted with a VNIC of its own (`net0`) and a lent one (`net1`);
/// the global zone has a `net0` of its own too.
fn zone_with_own_link(d: &Arc<FakeDlmgmt>) -> Registry {
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"vnic30", GZ_NET0, b"net0", true)).unwrap();
    checked(&r, r.create(GZ, b"vnic20", LENT, b"net1", false)).unwrap();
    checked(&r, r.lend(GZ, LENT, Z1.id, false)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic10", OWN, b"net0", false)).unwrap();
    r
}

#[test]
fn self_created_link_is_condemned_at_halt_and_never_reaches_the_gz() {
    let d = FakeDlmgmt::shared();
    let r = zone_with_own_link(&d);
    r.set_door(d.clone());

    // Proposal: a persistent link cannot be created inside the zone.
    let before = r.snapshot();
    assert_eq!(
        checked(&r, r.create(Z1.id, b"vnic11", LinkId(11), b"net2", true)),
        Err(Errno::ENOTSUP)
    );
    assert_eq!(r.snapshot(), before);

    // The accounting 15167 got wrong: the zone's link has its existence
    // hold from its owner and no loan hold; the lent one has both.
    let own = r.snapshot().links.into_iter().find(|l| l.linkid == OWN).unwrap();
    assert_eq!((own.owner, own.zone, own.transient, own.persistent), (Z1, Z1, true, false));
    assert_eq!(r.holders(GZ, OWN), Ok(vec![existence(Z1)]));
    let lent_holds = r.holders(GZ, LENT).unwrap();
    assert!(lent_holds.contains(&Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 }));

    // `dls_zone_remove`'s call, made by hand: moving the zone's own link
    // "back" to the global zone is refused as a no-op. No upcall, no
    // release, nothing changes.
    let before = r.snapshot();
    let log_before = d.log();
    assert_eq!(checked(&r, r.setzid(GZ, OWN, GZ, false)), Ok(()));
    assert_eq!(checked(&r, r.give_back(GZ, OWN)), Ok(()));
    assert_eq!(r.snapshot(), before);
    assert_eq!(d.log(), log_before);
    // Nor can it be lent onward: the global zone does not own it.
    assert_eq!(checked(&r, r.lend(GZ, OWN, ZoneId(2), false)), Err(Errno::EPERM));

    // The halt.
    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let o = report.outcome(OWN).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: true });
    assert!(o.delayed_by.is_empty() && o.reclaimed.is_empty() && o.tmp_holds == 0);
    assert_eq!(report.outcome(LENT).unwrap().action, Action::Returned { name: name("net1") });
    assert_eq!(report.queued, 1, "one LinkGone notice, delivered at once");
    assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));

    // The zone's link is gone everywhere, and never was in the global zone.
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(GZ_NET0), "the GZ's own net0 is untouched");
    assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Err(Errno::ENOENT));
    assert_eq!(r.lookup_mac(GZ, b"vnic10"), Err(Errno::ENOENT));
    assert_eq!(r.hold_tmp(GZ, OWN).err(), Some(Errno::ENOENT));
    assert_eq!(r.holders(GZ, OWN), Err(Errno::ENOENT));
    assert_eq!(r.list(GZ, Some(GZ)), Ok(vec![LENT, GZ_NET0]));
    assert!(!d.log().contains(&Notice::SetZone { link: OWN, zone: GZ }));
    assert_eq!(d.log().iter().filter(|n| n.link() == OWN).count(), 1);
    assert!(d.log().contains(&Notice::LinkGone { link: OWN, zone: Z1.id }));
    assert_eq!(d.zone_of(OWN), None);

    // The lent link dropped exactly its loan hold, once.
    assert_eq!(r.holders(GZ, LENT), Ok(vec![existence(ZoneKey::GLOBAL)]));
    assert_eq!(d.zone_of(LENT), Some(GZ));
    assert_eq!((r.bad_releases(), r.pending_frees()), (0, 0));
    assert!(r.outbox().is_empty());

    // zoneadmd's `delete_transient_links` then finds nothing left to do.
    let before = r.snapshot();
    assert_eq!(checked(&r, r.destroy(GZ, OWN, DrainWait::Wait)), Err(Errno::ENOENT));
    assert_eq!(r.snapshot(), before);

    checked(&r, r.zone_destroy(Z1)).unwrap();
    assert_eq!(r.zone_state(Z1.id), None);
    assert_eq!(r.bad_releases(), 0);
}

#[test]
fn stream_closed_during_shutdown_frees_the_condemned_link() {
    let d = FakeDlmgmt::shared();
    let r = zone_with_own_link(&d);
    r.set_door(d.clone());
    // IP in the zone's netstack has the VNIC open.
    let ip = checked(&r, r.hold(Z1.id, OWN, HoldKind::Stream)).unwrap();

    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    let o = report.outcome(OWN).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: false });
    assert_eq!(o.delayed_by, vec![stream(Z1, 1)]);
    assert!(report.is_clean(), "a condemned link is no longer in the zone");
    assert_eq!(ip.state(), LinkState::Detached);
    assert_eq!(r.pending_frees(), 1);
    // Nobody can take a new hold on it, from anywhere.
    assert_eq!(r.hold(GZ, OWN, HoldKind::Stream).err(), Some(Errno::ENOENT));
    assert_eq!(r.hold_tmp(Z1.id, OWN).err(), Some(Errno::ENOENT));

    // Unplumbing closes the stream: the last hold frees the record.
    let ip_link = ip.link_ref();
    checked(&r, r.rele(ip)).unwrap();
    assert_eq!(ip_link.state(), LinkState::Freed);
    assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn stream_stuck_in_a_dead_zone_is_reclaimed_by_forced_recovery() {
    let d = FakeDlmgmt::shared();
    let r = zone_with_own_link(&d);
    r.set_door(d.clone());
    let ip = checked(&r, r.hold(Z1.id, OWN, HoldKind::Stream)).unwrap();
    let gz_snoop = checked(&r, r.hold(GZ, OWN, HoldKind::Stream)).unwrap();

    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(
        report.outcome(OWN).unwrap().delayed_by,
        vec![stream(ZoneKey::GLOBAL, 1), stream(Z1, 1)]
    );
    assert_eq!(r.pending_frees(), 1);

    // Without force, recovery discards nobody's hold.
    let soft = checked(&r, r.zone_recover(Z1, false, 10)).unwrap();
    assert!(soft.links.is_empty() && soft.is_clean(), "{soft:?}");
    assert_eq!(r.pending_frees(), 1);

    // With force, the dead zone's own hold goes; the global zone's stays.
    let hard = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    let o = hard.outcome(OWN).expect("forced recovery reports the condemned link");
    assert_eq!(o.action, Action::Condemned { freed: false });
    assert_eq!(o.reclaimed, vec![stream(Z1, 1)]);
    assert_eq!(o.delayed_by, vec![stream(ZoneKey::GLOBAL, 1)]);
    assert_eq!(gz_snoop.holders(), vec![stream(ZoneKey::GLOBAL, 1)]);

    // A late release from the dead zone is refused, not an underflow: its
    // hold was reclaimed (ESTALE), which is no bug of the caller's.
    let before = r.snapshot();
    assert_eq!(checked(&r, r.rele(ip)), Err(Errno::ESTALE));
    assert_eq!(r.snapshot(), before);
    assert_eq!((r.late_releases(), r.bad_releases()), (1, 0));
    assert_eq!(gz_snoop.holders(), vec![stream(ZoneKey::GLOBAL, 1)]);

    let gz_snoop_link = gz_snoop.link_ref();
    checked(&r, r.rele(gz_snoop)).unwrap();
    assert_eq!(gz_snoop_link.state(), LinkState::Freed);
    assert_eq!(r.pending_frees(), 0);
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn forced_recovery_frees_a_link_held_only_by_the_dead_zone() {
    let d = FakeDlmgmt::shared();
    let r = zone_with_own_link(&d);
    r.set_door(d.clone());
    let ip = checked(&r, r.hold(Z1.id, OWN, HoldKind::DevNet)).unwrap();
    checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(r.pending_frees(), 1);

    let hard = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    let o = hard.outcome(OWN).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: true });
    assert_eq!(o.reclaimed, vec![Holder { kind: HoldKind::DevNet, zone: Z1, count: 1 }]);
    assert_eq!(ip.state(), LinkState::Freed);
    assert_eq!(r.pending_frees(), 0);
    // Re-invocable: a second forced recovery finds nothing.
    let again = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    assert!(again.links.is_empty() && again.is_clean());
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn lent_link_held_inside_the_zone_blocks_until_forced_recovery() {
    let d = FakeDlmgmt::shared();
    let r = zone_with_own_link(&d);
    r.set_door(d.clone());
    let ip = checked(&r, r.hold(Z1.id, LENT, HoldKind::Stream)).unwrap();

    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(report.outcome(LENT).unwrap().action, Action::Blocked);
    assert_eq!(report.outcome(OWN).unwrap().action, Action::Condemned { freed: true });
    assert_eq!(report.remaining, 1);
    assert_eq!(checked(&r, r.zone_destroy(Z1)), Err(Errno::ENOTEMPTY));

    let hard = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    assert!(hard.is_clean());
    let o = hard.outcome(LENT).unwrap();
    assert_eq!(o.action, Action::ReturnQueued { name: name("net1") });
    assert_eq!(o.reclaimed, vec![stream(Z1, 1)]);
    assert_eq!(r.holders(GZ, LENT), Ok(vec![existence(ZoneKey::GLOBAL)]));
    assert_eq!(r.outbox(), vec![Notice::SetZone { link: LENT, zone: GZ }]);
    assert_eq!(checked(&r, r.replay_outbox()), Ok(1));
    assert_eq!(d.zone_of(LENT), Some(GZ));

    assert_eq!(checked(&r, r.rele(ip)), Err(Errno::ESTALE));
    assert_eq!((r.late_releases(), r.bad_releases()), (1, 0));
    assert_eq!(r.holders(GZ, LENT), Ok(vec![existence(ZoneKey::GLOBAL)]));
    checked(&r, r.zone_destroy(Z1)).unwrap();
}
