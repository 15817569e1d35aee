//! A zone id recycled for a new zone incarnation.
//!
//! The hazard: zone ids come from an id space and are reused once a zone
//! is freed; only `zone_uniqid` names one incarnation. A devnet can outlive
//! its zone (`dd_zid` still naming it after `zone_free` drained the zone's
//! datalink list, illumos 15407), and `dls_devnet_unset` recognises such
//! "orphaned" links only by failing to find the zone id. Anything keyed on
//! the zone id alone can mistake the old zone's links, holds or recovery
//! for the new zone's.
//!
//! dlszone keys zones by `ZoneKey { id, uniqid }`: operations naming the
//! old incarnation get `ESTALE`; a zone stuck with links keeps its id from
//! being reused (`EEXIST`) until it is recovered and destroyed; the old
//! incarnation's links are unreachable from the new one, which can reuse
//! their names and MAC names at once; a global-zone holder of the old
//! zone's link keeps a valid handle that still names the old incarnation
//! and releases it without touching the new zone's links.

use std::sync::Arc;

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, HoldKind, Holder, LinkId, LinkState, Registry, ZoneId, ZoneKey, ZoneState,
};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, refused};

const GZ: ZoneId = ZoneId::GLOBAL;
const OLD: ZoneKey = ZoneKey::new(1, 101);
const NEW: ZoneKey = ZoneKey::new(1, 202);

/// The global zone's link, lent to each incarnation in turn.
const LENT: LinkId = LinkId(1);
/// The old incarnation's own link.
const OLD_OWN: LinkId = LinkId(2);
/// The new incarnation's own link, same name and MAC name.
const NEW_OWN: LinkId = LinkId(3);

fn stream(zone: ZoneKey) -> Holder {
    Holder { kind: HoldKind::Stream, zone, count: 1 }
}

fn existence(zone: ZoneKey) -> Holder {
    Holder { kind: HoldKind::Existence, zone, count: 1 }
}

/// The old incarnation running with `LENT` borrowed and `OLD_OWN` its own.
fn old_zone(d: &Arc<FakeDlmgmt>) -> Registry {
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(OLD)).unwrap();
    checked(&r, r.create(GZ, b"e1000g0", LENT, b"net0", true)).unwrap();
    checked(&r, r.lend(GZ, LENT, OLD.id, false)).unwrap();
    checked(&r, r.create(OLD.id, b"vnic10", OLD_OWN, b"net1", false)).unwrap();
    r
}

#[test]
fn stale_keys_are_refused_and_nothing_leaks_into_the_new_incarnation() {
    let d = FakeDlmgmt::shared();
    let r = old_zone(&d);
    r.set_door(d.clone());
    let snoop = checked(&r, r.hold(GZ, OLD_OWN, HoldKind::Stream)).unwrap();

    let halt = checked(&r, r.zone_halt(OLD)).unwrap();
    assert!(halt.is_clean());
    assert_eq!(halt.outcome(OLD_OWN).unwrap().action, Action::Condemned { freed: false });
    checked(&r, r.zone_destroy(OLD)).unwrap();
    checked(&r, r.zone_boot(NEW)).unwrap();
    assert_eq!(r.zone_state(OLD.id), Some((NEW, ZoneState::Running)));

    // Every operation naming the old incarnation is stale.
    let before = r.snapshot();
    refused(&r, &before, Errno::ESTALE, r.zone_halt(OLD));
    refused(&r, &before, Errno::ESTALE, r.zone_recover(OLD, true, 10));
    refused(&r, &before, Errno::ESTALE, r.zone_destroy(OLD));
    refused(&r, &before, Errno::EEXIST, r.zone_boot(OLD));

    // The new incarnation inherits nothing.
    assert_eq!(r.list(NEW.id, None), Ok(vec![]));
    assert_eq!(r.lookup(NEW.id, NEW.id, b"net1"), Err(Errno::ENOENT));
    assert_eq!(r.lookup(NEW.id, NEW.id, b"net0"), Err(Errno::ENOENT));
    assert_eq!(r.lookup_mac(NEW.id, b"vnic10"), Err(Errno::ENOENT));
    assert_eq!(r.hold(NEW.id, OLD_OWN, HoldKind::Stream).err(), Some(Errno::ENOENT));
    assert_eq!(r.hold_tmp(NEW.id, OLD_OWN).err(), Some(Errno::ENOENT));

    // It reuses the old link's name and MAC name at once.
    checked(&r, r.create(NEW.id, b"vnic10", NEW_OWN, b"net1", false)).unwrap();
    assert_eq!(r.holders(GZ, NEW_OWN), Ok(vec![existence(NEW)]));
    checked(&r, r.lend(GZ, LENT, NEW.id, false)).unwrap();
    assert!(r.snapshot().render().contains("link 3 vnic10 net1 zone=1/202 owner=1/202"));

    // snoop's handle still names the old incarnation, and its hold is on
    // the old record only.
    assert_eq!((snoop.state(), snoop.zone(), snoop.owner()), (LinkState::Detached, OLD, OLD));
    assert_eq!(snoop.holders(), vec![stream(ZoneKey::GLOBAL)]);
    let snoop_link = snoop.link_ref();
    checked(&r, r.rele(snoop)).unwrap();
    assert_eq!(snoop_link.state(), LinkState::Freed);
    assert_eq!(r.holders(GZ, NEW_OWN), Ok(vec![existence(NEW)]));
    assert_eq!((r.bad_releases(), r.pending_frees()), (0, 0));

    // Halting the new incarnation touches only its own links.
    let halt = checked(&r, r.zone_halt(NEW)).unwrap();
    assert_eq!(halt.zone, NEW);
    assert_eq!(halt.links.len(), 2);
    assert_eq!(halt.outcome(NEW_OWN).unwrap().action, Action::Condemned { freed: true });
    assert!(matches!(halt.outcome(LENT).unwrap().action, Action::Returned { .. }));
    checked(&r, r.zone_destroy(NEW)).unwrap();
}

#[test]
fn a_stuck_zone_keeps_its_id_until_recovered() {
    let d = FakeDlmgmt::shared();
    let r = old_zone(&d);
    r.set_door(d.clone());
    d.set_up(false);
    let halt = checked(&r, r.zone_halt(OLD)).unwrap();
    assert_eq!(halt.remaining, 1);

    // zoneadmd cannot replace the stuck zone with a new incarnation.
    let before = r.snapshot();
    refused(&r, &before, Errno::ENOTEMPTY, r.zone_destroy(OLD));
    refused(&r, &before, Errno::EEXIST, r.zone_boot(NEW));

    let rec = checked(&r, r.zone_recover(OLD, true, 10)).unwrap();
    assert!(rec.is_clean());
    checked(&r, r.zone_destroy(OLD)).unwrap();
    checked(&r, r.zone_boot(NEW)).unwrap();

    // The returned link reaches the new incarnation once dlmgmtd has
    // caught up with its return from the old one.
    let before = r.snapshot();
    refused(&r, &before, Errno::EAGAIN, r.lend(GZ, LENT, NEW.id, false));
    d.set_up(true);
    checked(&r, r.replay_outbox()).unwrap();
    checked(&r, r.lend(GZ, LENT, NEW.id, false)).unwrap();
    let l = r.snapshot().links.into_iter().find(|l| l.linkid == LENT).unwrap();
    assert_eq!(l.zone, NEW);
    assert_eq!(r.bad_releases(), 0);
}

/// The old incarnation's stream on the lent link outlived its zone and
/// was reclaimed by forced recovery. Its late release must not be counted
/// against the new incarnation's stream on the same link: `rele` names the
/// holder by zone key (id and uniqid), so the two are told apart.
#[test]
fn a_reclaimed_holders_late_release_does_not_touch_the_new_incarnation() {
    let d = FakeDlmgmt::shared();
    let r = old_zone(&d);
    r.set_door(d.clone());
    let old_ip = checked(&r, r.hold(OLD.id, LENT, HoldKind::Stream)).unwrap();
    let halt = checked(&r, r.zone_halt(OLD)).unwrap();
    assert_eq!(halt.outcome(LENT).unwrap().action, Action::Blocked);
    let rec = checked(&r, r.zone_recover(OLD, true, 10)).unwrap();
    assert_eq!(rec.outcome(LENT).unwrap().reclaimed, vec![stream(OLD)]);
    checked(&r, r.replay_outbox()).unwrap();
    checked(&r, r.zone_destroy(OLD)).unwrap();

    checked(&r, r.zone_boot(NEW)).unwrap();
    checked(&r, r.lend(GZ, LENT, NEW.id, false)).unwrap();
    let new_ip = checked(&r, r.hold(NEW.id, LENT, HoldKind::Stream)).unwrap();

    assert_eq!(checked(&r, r.rele(old_ip)), Err(Errno::ESTALE));
    assert_eq!((r.late_releases(), r.bad_releases()), (1, 0));
    assert!(r.holders(GZ, LENT).unwrap().contains(&stream(NEW)));
    checked(&r, r.rele(new_ip)).unwrap();
}
