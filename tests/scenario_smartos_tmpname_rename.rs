//! SmartOS zone VNICs: created in the global zone under a temporary name,
//! given to the zone as transient, renamed inside it.
//!
//! The flow (jcommon `statechange`, `setup_net`): `dladm create-vnic -t
//! ... -p zone=<zone> tmp<pid>0` makes a temporary VNIC under a
//! temporary global-zone name (two zones booting at once must not both
//! create `net0` in the global zone) and hands it to the zone;
//! `dladm rename-link -z <zone> tmp<pid>0 net0` renames it inside the
//! zone, so every zone has a `net0`. At halt the transient VNIC is torn
//! down rather than given back. Without transient links and zone-scoped
//! names, every halt would bring a `net0` back to the global zone
//! (illumos 10001).
//!
//! dlszone: a transient loan (the three-argument `dls_devnet_setzid`), a
//! rename inside the borrowing zone that leaves the reserved global-zone
//! name alone, zone-qualified lookups, and a halt that condemns the VNIC
//! and frees its temporary name. IPD 3 does not make GZ-created temporary
//! links transient by itself; a plain loan, renamed the same way, comes
//! back under its temporary name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkState, Notice, Registry, ZoneId, ZoneKey,
    ZoneState,
};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, name};

const GZ: ZoneId = ZoneId::GLOBAL;
const ZONES: [ZoneKey; 3] = [ZoneKey::new(1, 101), ZoneKey::new(2, 102), ZoneKey::new(3, 103)];

/// `setup_net` for one zone: temporary VNIC `tmp<pid>0`, given to the
/// zone (transient or not), renamed `net0` there with `-z`.
fn setup_net(r: &Registry, zone: ZoneKey, id: LinkId, transient: bool) {
    let pid = 4000 + zone.id.0;
    let tmp = format!("tmp{pid}0");
    let mac = format!("vnic{}", id.0);
    checked(r, r.create(GZ, mac.as_bytes(), id, tmp.as_bytes(), false)).unwrap();
    checked(r, r.lend(GZ, id, zone.id, transient)).unwrap();
    let found = checked(r, r.lookup(GZ, zone.id, tmp.as_bytes())).unwrap();
    checked(r, r.rename(GZ, found, b"net0")).unwrap();
}

#[test]
fn net0_in_several_zones_at_once_and_gone_with_each_halt() {
    let d = FakeDlmgmt::shared();
    let r = Registry::new();
    r.set_door(d.clone());
    // The global zone has a net0 of its own too.
    checked(&r, r.create(GZ, b"ixgbe0", LinkId(1), b"net0", true)).unwrap();
    for z in ZONES {
        checked(&r, r.zone_boot(z)).unwrap();
    }

    // Why the temporary name: two boots creating net0 in the GZ collide.
    let before = r.snapshot();
    assert_eq!(checked(&r, r.create(GZ, b"vnic9", LinkId(9), b"net0", false)), Err(Errno::EEXIST));
    assert_eq!(r.snapshot(), before);

    // Zones 1 and 2 the SmartOS way; zone 3 with a plain (gate) loan.
    setup_net(&r, ZONES[0], LinkId(11), true);
    setup_net(&r, ZONES[1], LinkId(12), true);
    setup_net(&r, ZONES[2], LinkId(13), false);
    // A zone may rename its borrowed link itself, too.
    checked(&r, r.rename(ZONES[1].id, LinkId(12), b"net1")).unwrap();
    checked(&r, r.rename(ZONES[1].id, LinkId(12), b"net0")).unwrap();

    // net0 four times over, each unambiguous by zone.
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    for (z, id) in ZONES.iter().zip([11, 12, 13]) {
        assert_eq!(r.lookup(GZ, z.id, b"net0"), Ok(LinkId(id)));
        assert_eq!(r.lookup(z.id, z.id, b"net0"), Ok(LinkId(id)));
        assert_eq!(r.list(z.id, None), Ok(vec![LinkId(id)]));
    }
    // The temporary names stay reserved in the GZ while the VNICs are out.
    assert_eq!(r.lookup(GZ, GZ, b"tmp40010"), Err(Errno::ENOENT));
    let before = r.snapshot();
    assert_eq!(
        checked(&r, r.create(GZ, b"vnic21", LinkId(21), b"tmp40010", false)),
        Err(Errno::EEXIST)
    );
    assert_eq!(r.snapshot(), before);

    // Zone 1 halts: its net0 is condemned, not returned.
    let halt = checked(&r, r.zone_halt(ZONES[0])).unwrap();
    assert!(halt.is_clean());
    let o = halt.outcome(LinkId(11)).unwrap();
    assert_eq!((o.name, &o.action), (Some(name("net0")), &Action::Condemned { freed: true }));
    assert_eq!(d.log().last(), Some(&Notice::LinkGone { link: LinkId(11), zone: ZONES[0].id }));
    assert_eq!(d.zone_of(LinkId(11)), None);
    // zoneadmd's `delete_transient_links` finds it already gone.
    assert_eq!(checked(&r, r.destroy(GZ, LinkId(11), DrainWait::Wait)), Err(Errno::ENOENT));
    // The GZ's net0 and the other zones' are untouched.
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    assert_eq!(r.lookup(GZ, ZONES[1].id, b"net0"), Ok(LinkId(12)));
    assert_eq!(r.lookup(GZ, ZONES[2].id, b"net0"), Ok(LinkId(13)));
    checked(&r, r.zone_destroy(ZONES[0])).unwrap();

    // Zone 1 boots again and runs the same flow under the same names.
    let z1b = ZoneKey::new(1, 201);
    checked(&r, r.zone_boot(z1b)).unwrap();
    setup_net(&r, z1b, LinkId(14), true);
    assert_eq!(r.lookup(GZ, z1b.id, b"net0"), Ok(LinkId(14)));

    // Zone 3's plain loan comes back under its temporary name, never as
    // a second net0 in the GZ; the GZ then deletes it.
    let halt = checked(&r, r.zone_halt(ZONES[2])).unwrap();
    assert_eq!(
        halt.outcome(LinkId(13)).unwrap().action,
        Action::Returned { name: name("tmp40030") }
    );
    assert_eq!(r.lookup(GZ, GZ, b"tmp40030"), Ok(LinkId(13)));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    checked(&r, r.destroy(GZ, LinkId(13), DrainWait::Wait)).unwrap();
    checked(&r, r.zone_destroy(ZONES[2])).unwrap();

    assert_eq!(r.list(GZ, None), Ok(vec![LinkId(1), LinkId(12), LinkId(14)]));
    assert_eq!((r.bad_releases(), r.pending_frees()), (0, 0));
}

#[test]
fn vnic_deleted_by_the_gz_while_the_halt_is_returning_other_links() {
    let d = FakeDlmgmt::shared();
    let r = Arc::new(Registry::new());
    r.set_door(d.clone());
    let z = ZONES[0];
    checked(&r, r.zone_boot(z)).unwrap();
    // A plain loan (returned at halt, through dlmgmtd) and a SmartOS VNIC
    // that IP in the zone and a GZ snoop both have open.
    checked(&r, r.create(GZ, b"e1000g1", LinkId(5), b"net5", true)).unwrap();
    checked(&r, r.lend(GZ, LinkId(5), z.id, false)).unwrap();
    setup_net(&r, z, LinkId(11), true);
    let ip = checked(&r, r.hold(z.id, LinkId(11), HoldKind::Stream)).unwrap();
    let snoop = checked(&r, r.hold(GZ, LinkId(11), HoldKind::Stream)).unwrap();

    // While the halt waits on dlmgmtd for net5, the GZ deletes the VNIC:
    // the zone is halting, so it goes at once whoever holds it.
    let ran = Arc::new(AtomicBool::new(false));
    let (r2, snoop_link, ran2) = (r.clone(), snoop.link_ref(), ran.clone());
    d.on_deliver(Some(Box::new(move |_| {
        if ran2.swap(true, Ordering::Relaxed) {
            return;
        }
        assert_eq!(r2.zone_state(z.id), Some((z, ZoneState::ShuttingDown)));
        checked(&r2, r2.destroy(GZ, LinkId(11), DrainWait::NoWait)).unwrap();
        assert_eq!(snoop_link.state(), LinkState::Detached);
    })));
    let halt = checked(&r, r.zone_halt(z)).unwrap();
    d.on_deliver(None);
    assert!(ran.load(Ordering::Relaxed));
    assert!(halt.is_clean());
    assert_eq!(halt.outcome(LinkId(5)).unwrap().action, Action::Returned { name: name("net5") });
    assert_eq!(halt.outcome(LinkId(11)).unwrap().action, Action::Destroying);
    assert_eq!(d.zone_of(LinkId(5)), Some(GZ));
    // `destroy` asks for a deferred replay (no deferral hook is installed
    // here); the halt replays only if it queued notices itself.
    checked(&r, r.replay_outbox()).unwrap();
    assert_eq!(d.zone_of(LinkId(11)), None);
    assert!(r.outbox().is_empty());

    // Both holders keep valid handles and release safely.
    let gz = Holder { kind: HoldKind::Stream, zone: ZoneKey::GLOBAL, count: 1 };
    assert_eq!(snoop.holders(), vec![gz, Holder { kind: HoldKind::Stream, zone: z, count: 1 }]);
    checked(&r, r.rele(ip)).unwrap();
    let snoop_link = snoop.link_ref();
    checked(&r, r.rele(snoop)).unwrap();
    assert_eq!(snoop_link.state(), LinkState::Freed);
    assert_eq!((r.bad_releases(), r.pending_frees()), (0, 0));
    checked(&r, r.zone_destroy(z)).unwrap();
    // The temporary name and MAC name are free for the next boot.
    checked(&r, r.create(GZ, b"vnic11", LinkId(15), b"tmp40010", false)).unwrap();
}
