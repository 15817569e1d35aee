//! IPD 3 "Link Persistence": vnic0 over net0, then vnic0 over net1.
//!
//! The IPD's sequence: (1) create persistent VNIC vnic0 over net0; (2) boot
//! a zone using vnic0; (3) create persistent VNIC vnic0 over net1; (4)
//! reboot the system; (5) the zone comes up using vnic0 over net1. Step 3
//! succeeds today because, with vnic0 in the zone, the global zone's name
//! vnic0 is free in dlmgmtd's per-zone name table, and
//! `/etc/dladm/datalink.conf` is keyed by link name alone, so the second
//! definition replaces the first ("last writer wins").
//!
//! What the kernel sees, and what this test shows: the kernel keys a link
//! by its link id and MAC name, and names per zone. While vnic0 is lent,
//! its global-zone name stays reserved to it, so step 3's kernel half (the
//! `dls_devnet_create` of the second VNIC) is refused with `EEXIST` and
//! changes nothing; the zone keeps the very link (id, MAC) it was lent;
//! a different name for the second VNIC works.
//!
//! What is outside the kernel: `datalink.conf` and its name-only key are
//! dlmgmtd's. The kernel cannot stop a persistent-only record from being
//! written (one made for an alternate root, or while the links are not
//! active), cannot re-key the file by link id, and holds nothing across
//! the reboot of step 4: whatever comes back is what dlmgmtd reads from
//! the file. The refused creation leaves no persistent record only
//! because libdladm's `dladm_vnic_create` writes `datalink.conf` after the
//! kernel accepted the VNIC, and on failure gives back the link id dlmgmtd
//! allocated. Fixing the file's key is userland work (see `docs/ipd3.md`).

use dlszone::errno::Errno;
use dlszone::registry::{Action, DrainWait, LinkId, Registry, ZoneId, ZoneKey};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, name, refused};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);

const NET0: LinkId = LinkId(1);
const NET1: LinkId = LinkId(2);
/// The first vnic0, over net0.
const VNIC0: LinkId = LinkId(10);
/// The id dlmgmtd hands the second VNIC.
const SECOND: LinkId = LinkId(11);

/// Two physical links (attached before dlmgmtd, then given ids), and
/// step 1: persistent vnic0 over net0.
fn step1() -> Registry {
    let r = Registry::new();
    checked(&r, r.create_pending(b"e1000g0")).unwrap();
    checked(&r, r.create_pending(b"e1000g1")).unwrap();
    checked(&r, r.activate(b"e1000g0", NET0, b"net0")).unwrap();
    checked(&r, r.activate(b"e1000g1", NET1, b"net1")).unwrap();
    checked(&r, r.create(GZ, b"vnic1000", VNIC0, b"vnic0", true)).unwrap();
    r
}

#[test]
fn a_second_vnic0_is_refused_while_the_first_is_lent() {
    let d = FakeDlmgmt::shared();
    let r = step1();
    r.set_door(d.clone());

    // Step 2: the zone boots with vnic0. A persistent link cannot be lent
    // transient: it must come back.
    checked(&r, r.zone_boot(Z1)).unwrap();
    let before = r.snapshot();
    refused(&r, &before, Errno::EINVAL, r.lend(GZ, VNIC0, Z1.id, true));
    checked(&r, r.lend(GZ, VNIC0, Z1.id, false)).unwrap();
    let s = r.snapshot();
    let lent = s.links.iter().find(|l| l.linkid == VNIC0).unwrap();
    assert_eq!((lent.zone, lent.owner, lent.persistent), (Z1, ZoneKey::GLOBAL, true));
    assert_eq!(lent.reserved, Some(name("vnic0")));

    // Step 3: vnic0 over net1, persistent or not, in the global zone.
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic1001", SECOND, b"vnic0", true));
    refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic1001", SECOND, b"vnic0", false));
    // Nor can the first be pulled out from under the zone to make room.
    refused(&r, &before, Errno::EBUSY, r.destroy(GZ, VNIC0, DrainWait::NoWait));
    // Renaming inside the zone does not free the global-zone name.
    checked(&r, r.rename(Z1.id, VNIC0, b"net0")).unwrap();
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic1001", SECOND, b"vnic0", true));

    // The zone still has exactly the link it was lent.
    assert_eq!(r.lookup(Z1.id, Z1.id, b"net0"), Ok(VNIC0));
    assert_eq!(r.lookup_mac(Z1.id, b"vnic1000"), Ok(VNIC0));

    // Under another name the second VNIC is fine.
    checked(&r, r.create(GZ, b"vnic1001", SECOND, b"vnic1", true)).unwrap();

    // Zone halt: vnic0 (still id 10, still MAC vnic1000) comes home under
    // its own name; the two VNICs never swapped.
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(VNIC0).unwrap().action, Action::Returned { name: name("vnic0") });
    assert_eq!(r.lookup(GZ, GZ, b"vnic0"), Ok(VNIC0));
    assert_eq!(r.lookup_mac(GZ, b"vnic1000"), Ok(VNIC0));
    assert_eq!(r.lookup(GZ, GZ, b"vnic1"), Ok(SECOND));
    assert_eq!(r.lookup_mac(GZ, b"vnic1001"), Ok(SECOND));
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic1002", LinkId(12), b"vnic0", true));
}

#[test]
fn the_kernel_identifies_links_by_id_and_mac_not_by_name() {
    let d = FakeDlmgmt::shared();
    let r = step1();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();

    // The zone (with `sys_dl_config`) makes a vnic0 of its own: names are
    // per zone. A persistent one it may not make.
    let before = r.snapshot();
    refused(&r, &before, Errno::ENOTSUP, r.create(Z1.id, b"vnic1100", LinkId(20), b"vnic0", true));
    checked(&r, r.create(Z1.id, b"vnic1100", LinkId(20), b"vnic0", false)).unwrap();

    // Two links named vnic0; each name, id and MAC names one of them.
    assert_eq!(r.lookup(GZ, GZ, b"vnic0"), Ok(VNIC0));
    assert_eq!(r.lookup(GZ, Z1.id, b"vnic0"), Ok(LinkId(20)));
    assert_eq!(r.lookup_mac(GZ, b"vnic1000"), Ok(VNIC0));
    assert_eq!(r.lookup_mac(GZ, b"vnic1100"), Ok(LinkId(20)));
    assert_eq!(r.lookup(Z1.id, Z1.id, b"vnic0"), Ok(LinkId(20)));
    assert_eq!(r.lookup_mac(Z1.id, b"vnic1000"), Err(Errno::ENOENT), "not the zone's");

    // The GZ's vnic0 cannot be lent into a zone that has a vnic0.
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.lend(GZ, VNIC0, Z1.id, false));

    // Across zone reboots the zone's own vnic0 goes; the GZ's stays put.
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(LinkId(20)).unwrap().action, Action::Condemned { freed: true });
    checked(&r, r.zone_destroy(Z1)).unwrap();
    let next = ZoneKey::new(1, 102);
    checked(&r, r.zone_boot(next)).unwrap();
    checked(&r, r.lend(GZ, VNIC0, next.id, false)).unwrap();
    assert_eq!(r.lookup(next.id, next.id, b"vnic0"), Ok(VNIC0));
    assert_eq!(r.lookup_mac(next.id, b"vnic1000"), Ok(VNIC0));
    assert_eq!(r.list(GZ, None), Ok(vec![NET0, NET1, VNIC0]));
}
