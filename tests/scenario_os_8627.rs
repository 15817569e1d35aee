//! SmartOS OS-8627 (and illumos-joyent #155): a global-zone holder of a
//! zone's link across a forced halt.
//!
//! The failure: in the global zone, `snoop -z <zone> -d net0` opens the
//! zone's link (`dlpi_open_zone` → `dld_str_attach` →
//! `dls_devnet_hold_by_dev`), adding one to `dd_ref`. The zone is then
//! halted (`vmadm stop -F`). The link is transient, so zoneadmd deletes it;
//! `dls_devnet_unset` sees `dd_ref > 1`, but because the zone is shutting
//! down and the link transient it forces `dd_ref = 1`, discarding snoop's
//! reference, and frees the devnet. When snoop exits, `dld_str_detach` →
//! `dls_devnet_rele` runs on freed memory: `VERIFY(dd_ref > 1)` panics.
//! Zone cleanup cannot tell how many of `dd_ref` are global-zone holders.
//!
//! dlszone records who holds what. Teardown condemns and detaches the link
//! but never discards a global-zone hold: the holder's handle (an `Arc`)
//! stays valid memory, its release is safe whenever it comes, and the last
//! release frees the record. Forced recovery reclaims only holds the dead
//! zone took itself. Here the zone's link is created in the zone (illumos
//! gate), lent transient from the global zone (SmartOS), and lent
//! non-transient and recovered with dlmgmtd down.

use std::sync::Arc;

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkState, Notice, Registry, ZoneId, ZoneKey,
};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, name};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);

fn stream(zone: ZoneKey, count: u32) -> Holder {
    Holder { kind: HoldKind::Stream, zone, count }
}

fn existence(zone: ZoneKey) -> Holder {
    Holder { kind: HoldKind::Existence, zone, count: 1 }
}

#[test]
fn gz_snoop_of_a_zone_created_link_across_a_forced_halt() {
    let d = FakeDlmgmt::shared();
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic10", LinkId(10), b"net0", false)).unwrap();
    // IP in the zone has net0 plumbed (and never unplumbs: the zone dies);
    // the GZ starts `snoop -z z1 -d net0`.
    let _ip = checked(&r, r.hold(Z1.id, LinkId(10), HoldKind::Stream)).unwrap();
    let snoop = checked(&r, r.hold_by_mac(GZ, b"vnic10", HoldKind::Stream)).unwrap();
    assert_eq!(
        r.holders(GZ, LinkId(10)),
        Ok(vec![existence(Z1), stream(ZoneKey::GLOBAL, 1), stream(Z1, 1)])
    );

    // `vmadm stop -F`: the halt condemns the link; both streams delay it.
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    let o = halt.outcome(LinkId(10)).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: false });
    assert_eq!(o.delayed_by, vec![stream(ZoneKey::GLOBAL, 1), stream(Z1, 1)]);
    // zoneadmd's delete of the transient VNIC finds it already gone: no
    // second teardown, no reference forced anywhere.
    assert_eq!(checked(&r, r.destroy(GZ, LinkId(10), DrainWait::NoWait)), Err(Errno::ENOENT));

    // The zone never unplumbs (it is dead): forced recovery reclaims its
    // hold, and only its hold.
    let rec = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    let o = rec.outcome(LinkId(10)).unwrap();
    assert_eq!(o.reclaimed, vec![stream(Z1, 1)]);
    assert_eq!(o.delayed_by, vec![stream(ZoneKey::GLOBAL, 1)]);
    checked(&r, r.zone_destroy(Z1)).unwrap();

    // snoop's handle is still a valid record of what it opened.
    assert_eq!(snoop.state(), LinkState::Detached);
    assert_eq!((snoop.linkid(), snoop.name(), snoop.zone()), (LinkId(10), Some(name("net0")), Z1));
    assert_eq!(snoop.mac().as_str(), "vnic10");
    assert_eq!(snoop.holders(), vec![stream(ZoneKey::GLOBAL, 1)]);
    assert_eq!(r.pending_frees(), 1);
    // It cannot reach anything new through the old id or MAC name.
    assert_eq!(r.hold(GZ, LinkId(10), HoldKind::Stream).err(), Some(Errno::ENOENT));
    assert_eq!(r.hold_by_mac(GZ, b"vnic10", HoldKind::Stream).err(), Some(Errno::ENOENT));

    // The zone boots again and makes its VNIC under the same MAC name and
    // link name while snoop still runs (smartos-live #620 failed here).
    let z1b = ZoneKey::new(1, 102);
    checked(&r, r.zone_boot(z1b)).unwrap();
    checked(&r, r.create(z1b.id, b"vnic10", LinkId(11), b"net0", false)).unwrap();

    // snoop exits: the release is safe and frees the old record.
    let snoop_link = snoop.link_ref();
    checked(&r, r.rele(snoop)).unwrap();
    assert_eq!(snoop_link.state(), LinkState::Freed);
    assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
    assert_eq!(r.lookup(GZ, z1b.id, b"net0"), Ok(LinkId(11)));
}

#[test]
fn gz_snoop_of_a_transient_loan_smartos() {
    let d = FakeDlmgmt::shared();
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    // SmartOS: temporary VNIC under a temporary name, given to the zone as
    // transient, renamed inside it.
    checked(&r, r.create(GZ, b"vnic100", LinkId(100), b"tmp12340", false)).unwrap();
    checked(&r, r.lend(GZ, LinkId(100), Z1.id, true)).unwrap();
    checked(&r, r.rename(Z1.id, LinkId(100), b"net0")).unwrap();

    // `snoop -z z1 -d net0` names the link by zone, and a kstat read has a
    // temporary hold when the halt comes.
    let id = r.lookup(GZ, Z1.id, b"net0").unwrap();
    let snoop = checked(&r, r.hold(GZ, id, HoldKind::Stream)).unwrap();
    let kstat = checked(&r, r.hold_tmp(GZ, id)).unwrap();

    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(halt.is_clean());
    let o = halt.outcome(id).unwrap();
    assert_eq!(o.action, Action::Condemned { freed: false });
    assert_eq!(o.delayed_by, vec![stream(ZoneKey::GLOBAL, 1)]);
    assert_eq!(o.tmp_holds, 1);
    assert_eq!(d.log().last(), Some(&Notice::LinkGone { link: id, zone: Z1.id }));
    // The loan hold went with the teardown; snoop's did not.
    assert_eq!(snoop.holders(), vec![stream(ZoneKey::GLOBAL, 1)]);
    assert_eq!(snoop.owner(), ZoneKey::GLOBAL);
    // The temporary GZ name is free again for the next boot.
    checked(&r, r.create(GZ, b"vnic101", LinkId(101), b"tmp12340", false)).unwrap();

    checked(&r, r.rele_tmp(kstat)).unwrap();
    assert_eq!(snoop.state(), LinkState::Detached);
    let snoop_link = snoop.link_ref();
    checked(&r, r.rele(snoop)).unwrap();
    assert_eq!(snoop_link.state(), LinkState::Freed);
    assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn gz_hold_on_a_lent_link_survives_forced_recovery_without_dlmgmtd() {
    let d = FakeDlmgmt::shared();
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"vnic100", LinkId(100), b"net0", true)).unwrap();
    checked(&r, r.lend(GZ, LinkId(100), Z1.id, false)).unwrap();
    // The zone's IP stream is never closed: the zone dies with it open.
    let _ip = checked(&r, r.hold(Z1.id, LinkId(100), HoldKind::Stream)).unwrap();
    let snoop = checked(&r, r.hold(GZ, LinkId(100), HoldKind::Stream)).unwrap();

    d.set_up(false);
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(LinkId(100)).unwrap().action, Action::Blocked);
    assert_eq!(halt.remaining, 1);

    let rec = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    let o = rec.outcome(LinkId(100)).unwrap();
    assert_eq!(o.action, Action::ReturnQueued { name: name("net0") });
    assert_eq!(o.reclaimed, vec![stream(Z1, 1)]);
    // Back home with the loan hold gone and snoop's hold kept.
    assert_eq!(
        r.holders(GZ, LinkId(100)),
        Ok(vec![existence(ZoneKey::GLOBAL), stream(ZoneKey::GLOBAL, 1)])
    );
    assert_eq!(snoop.state(), LinkState::Active);
    assert_eq!(snoop.zone(), ZoneKey::GLOBAL);
    // Nobody frees it under snoop.
    assert_eq!(checked(&r, r.destroy(GZ, LinkId(100), DrainWait::NoWait)), Err(Errno::EBUSY));

    d.set_up(true);
    assert_eq!(checked(&r, r.replay_outbox()), Ok(1));
    let snoop_link = snoop.link_ref();
    checked(&r, r.rele(snoop)).unwrap();
    assert_eq!(r.holders(GZ, LinkId(100)), Ok(vec![existence(ZoneKey::GLOBAL)]));
    assert_eq!(r.bad_releases(), 0);
    checked(&r, r.zone_destroy(Z1)).unwrap();
    checked(&r, r.destroy(GZ, LinkId(100), DrainWait::NoWait)).unwrap();
    assert_eq!(snoop_link.state(), LinkState::Freed);
}

/// snoop may exit at any moment of the halt: whichever side goes last
/// frees the record, exactly once.
#[test]
fn gz_release_racing_the_halt_frees_exactly_once() {
    for round in 0..100u32 {
        let d = FakeDlmgmt::shared();
        let r = Arc::new(Registry::new());
        r.set_door(d.clone());
        let zone = ZoneKey::new(1, 100 + u64::from(round));
        r.zone_boot(zone).unwrap();
        r.create(zone.id, b"vnic10", LinkId(10), b"net0", false).unwrap();
        let snoop = r.hold(GZ, LinkId(10), HoldKind::Stream).unwrap();

        let r2 = Arc::clone(&r);
        let snoop_link = snoop.link_ref();
        let exit = std::thread::spawn(move || r2.rele(snoop));
        let halt = checked(&r, r.zone_halt(zone)).unwrap();
        exit.join().unwrap().unwrap();
        checked(&r, ());

        assert!(matches!(halt.outcome(LinkId(10)).unwrap().action, Action::Condemned { .. }));
        assert_eq!(snoop_link.state(), LinkState::Freed);
        assert_eq!((r.pending_frees(), r.bad_releases()), (0, 0));
        r.zone_destroy(zone).unwrap();
    }
}
