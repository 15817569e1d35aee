//! Every ioctl of drv/dlszone driven through the driver's entry points
//! (open, ioctl, close) on the host build, over the host build of
//! dls_mgmt.o: bad pointers, short buffers, wrong versions, and callers
//! from the global zone, a non-global zone and without privilege, each
//! with its documented errno (include/sys/dlszone_ioctl.h).

use dlszone_drv::fixture::{Handle, Kernel};
use dlszone_drv::host::{Driver, FKIOCTL, HostCred, OTYP_CHR};
use dlszone_ioctl::*;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const ENXIO: i32 = 6;
const EBADF: i32 = 9;
const EACCES: i32 = 13;
const EFAULT: i32 = 14;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
const ENOTSUP: i32 = 48;
const ESTALE: i32 = 151;

const GZ: HostCred = HostCred::global();
const GZ_USER: HostCred = HostCred::unprivileged(0);
const Z5: HostCred = HostCred::privileged(5);
const Z5_USER: HostCred = HostCred::unprivileged(5);

/// Encodes `v` into a fresh user mapping; its address.
fn put<T: Wire>(d: &Driver, v: &T) -> u64 {
    let mut b = vec![0u8; T::SIZE];
    v.encode(&mut b);
    d.map(&b)
}

fn get<T: Wire>(d: &Driver, at: u64) -> T {
    T::decode(&d.read(at).expect("mapped"))
}

fn ioctl(d: &Driver, cmd: i32, at: u64, cr: HostCred) -> i32 {
    d.ioctl(0, cmd, at, 0, cr)
}

fn list_arg(zone: i32, capacity: u32, buf: u64) -> DzList {
    DzList {
        dzl_version: DZIOC_VERSION,
        dzl_zoneid: zone,
        dzl_capacity: capacity,
        dzl_buf: buf,
        ..DzList::default()
    }
}

/// DZIOC_LIST with room for `cap` entries: errno, header, entries.
fn list(d: &Driver, zone: i32, cap: u32, cr: HostCred) -> (i32, DzList, Vec<DzLink>) {
    let buf = d.map(&vec![0u8; cap as usize * DzLink::SIZE]);
    let at = put(d, &list_arg(zone, cap, buf));
    let r = ioctl(d, DZIOC_LIST, at, cr);
    let hdr: DzList = get(d, at);
    let bytes = d.read(buf).expect("mapped");
    let links =
        bytes.chunks(DzLink::SIZE).take(hdr.dzl_count as usize).map(DzLink::decode).collect();
    (r, hdr, links)
}

fn holders(
    d: &Driver,
    id: u32,
    flags: u32,
    cap: u32,
    cr: HostCred,
) -> (i32, DzHolders, Vec<DzHolder>) {
    let buf = d.map(&vec![0u8; cap as usize * DzHolder::SIZE]);
    let arg = DzHolders {
        dzh_version: DZIOC_VERSION,
        dzh_linkid: id,
        dzh_flags: flags,
        dzh_capacity: cap,
        dzh_buf: buf,
        ..DzHolders::default()
    };
    let at = put(d, &arg);
    let r = ioctl(d, DZIOC_HOLDERS, at, cr);
    let hdr: DzHolders = get(d, at);
    let bytes = d.read(buf).expect("mapped");
    let recs =
        bytes.chunks(DzHolder::SIZE).take(hdr.dzh_count as usize).map(DzHolder::decode).collect();
    (r, hdr, recs)
}

fn recover_arg(zone: i32, uniqid: u64, flags: u32) -> DzRecover {
    DzRecover {
        dzr_version: DZIOC_VERSION,
        dzr_zoneid: zone,
        dzr_uniqid: uniqid,
        dzr_flags: flags,
        // A bound, not a wait: nothing in these tests keeps the zone busy,
        // so it only matters on a loaded machine.
        dzr_timeout_ms: 10_000,
        ..DzRecover::default()
    }
}

fn recover(d: &Driver, arg: DzRecover, cr: HostCred) -> (i32, DzRecover) {
    let at = put(d, &arg);
    let r = ioctl(d, DZIOC_RECOVER, at, cr);
    (r, get(d, at))
}

fn replay(d: &Driver, cr: HostCred) -> (i32, DzReplay) {
    let at = put(d, &DzReplay { dzp_version: DZIOC_VERSION, ..DzReplay::default() });
    let r = ioctl(d, DZIOC_REPLAY, at, cr);
    (r, get(d, at))
}

fn name(l: &DzLink) -> &str {
    std::str::from_utf8(cstr(&l.dzk_name)).unwrap_or("?")
}

/// Zone 5 (uniqid 105) running, with net0 (global, lent to zone 5) and
/// z5net0 (its own, transient); zone 7 (uniqid 107) with z7net0.
fn two_zones(k: &Kernel) -> (u32, u32, u32) {
    k.zone_boot(5, 105);
    k.zone_boot(7, 107);
    let lent = k.link("vnic1001", "net0", 0, true).expect("net0");
    assert_eq!(k.lend(lent, 5), 0);
    let own = k.link("vnic5000", "z5net0", 5, false).expect("z5net0");
    let other = k.link("vnic7000", "z7net0", 7, false).expect("z7net0");
    (lent, own, other)
}

#[test]
fn open_close_and_unknown_commands() {
    let _k = Kernel::boot();
    let d = Driver::new();
    assert_eq!(d.open(0, OTYP_CHR, GZ_USER), 0);
    assert_eq!(d.open(0, OTYP_CHR, Z5_USER), 0, "the node's mode decides who opens");
    assert_eq!(d.open(0, 0, GZ), EINVAL, "OTYP_BLK");
    assert_eq!(d.open(1, OTYP_CHR, GZ), ENXIO, "no such minor");
    assert_eq!(d.ioctl(1, DZIOC_LIST, 0, 0, GZ), ENXIO);
    let at = d.map(&[0u8; 64]);
    assert_eq!(ioctl(&d, DZIOC | 0x7f, at, GZ), ENOTSUP);
    assert_eq!(ioctl(&d, 0x5a01, at, GZ), ENOTSUP);
    assert_eq!(d.close(0, OTYP_CHR, GZ), 0);
    assert_eq!(d.close(0, 0, GZ), EINVAL);
}

#[test]
fn every_command_faults_on_a_bad_pointer_and_checks_its_version() {
    let k = Kernel::boot();
    let _ = two_zones(&k);
    let d = Driver::new();
    for cmd in [DZIOC_RECOVER, DZIOC_LIST, DZIOC_HOLDERS, DZIOC_REPLAY] {
        // Unmapped, NULL, and a mapping too short for the structure.
        assert_eq!(ioctl(&d, cmd, 0x10, GZ), EFAULT, "cmd {cmd:#x} at 0x10");
        assert_eq!(ioctl(&d, cmd, 0, GZ), EFAULT, "cmd {cmd:#x} at NULL");
        let short = d.map(&[1, 0, 0, 0]);
        assert_eq!(ioctl(&d, cmd, short, GZ), EFAULT, "cmd {cmd:#x} short");
        // A kernel address without FKIOCTL is not a user address.
        let mut b = vec![0u8; 48];
        b[..4].copy_from_slice(&DZIOC_VERSION.to_ne_bytes());
        let kaddr = d.map_kernel(&b);
        assert_eq!(d.ioctl(0, cmd, kaddr, 0, GZ), EFAULT, "cmd {cmd:#x} kernel address");
        // Version 0 and 2.
        for v in [0u32, 2] {
            let mut b = vec![0u8; 64];
            b[..4].copy_from_slice(&v.to_ne_bytes());
            let at = d.map(&b);
            assert_eq!(ioctl(&d, cmd, at, GZ), ENOTSUP, "cmd {cmd:#x} version {v}");
        }
    }
}

#[test]
fn fkioctl_callers_pass_kernel_addresses() {
    let k = Kernel::boot();
    let _ = two_zones(&k);
    let d = Driver::new();
    let mut b = vec![0u8; DzList::SIZE];
    list_arg(ALL_ZONES, 0, 0).encode(&mut b);
    let kaddr = d.map_kernel(&b);
    assert_eq!(d.ioctl(0, DZIOC_LIST, kaddr, FKIOCTL, GZ), 0);
    let hdr = DzList::decode(&d.read_kernel(kaddr).expect("mapped"));
    assert_eq!(hdr.dzl_total, 3);
    let uaddr = d.map(&b);
    assert_eq!(d.ioctl(0, DZIOC_LIST, uaddr, FKIOCTL, GZ), EFAULT, "user address as kernel");
}

#[test]
fn list_negotiates_its_size() {
    let k = Kernel::boot();
    let (lent, own, other) = two_zones(&k);
    let d = Driver::new();

    // The size query.
    let (r, hdr, _) = list(&d, ALL_ZONES, 0, GZ);
    assert_eq!((r, hdr.dzl_total, hdr.dzl_count, hdr.dzl_oflags), (0, 3, 0, 0));
    assert!(hdr.dzl_generation > 0);
    // Too short: ENOSPC, the header still says how many.
    let (r, hdr, links) = list(&d, ALL_ZONES, 2, GZ);
    assert_eq!((r, hdr.dzl_total, hdr.dzl_count, links.len()), (ENOSPC, 3, 0, 0));
    // Enough room.
    let (r, hdr, links) = list(&d, ALL_ZONES, 3, GZ);
    assert_eq!((r, hdr.dzl_count), (0, 3));
    let ids: Vec<u32> = links.iter().map(|l| l.dzk_linkid).collect();
    assert_eq!(ids, vec![lent, own, other]);
    let net0 = &links[0];
    assert_eq!((name(net0), net0.dzk_owner, net0.dzk_zone), ("net0", 0, 5));
    assert_eq!(cstr(&net0.dzk_reserved), b"net0");
    assert_eq!(cstr(&net0.dzk_mac), b"vnic1001");
    assert_eq!(net0.dzk_flags & (linkf::LENT | linkf::PERSISTENT), linkf::LENT | linkf::PERSISTENT);
    assert_eq!(net0.dzk_holds[kind::EXISTENCE as usize - 1], 1);
    assert_eq!(net0.dzk_holds[kind::LOAN as usize - 1], 1);
    assert_eq!(links[1].dzk_flags & linkf::TRANSIENT, linkf::TRANSIENT);
    assert_eq!(links[1].dzk_zone_uniqid, 105);

    // A buffer address that is NULL, unmapped, or too short for the
    // entries it claims room for.
    let at = put(&d, &list_arg(ALL_ZONES, 3, 0));
    assert_eq!(ioctl(&d, DZIOC_LIST, at, GZ), EFAULT);
    let at = put(&d, &list_arg(ALL_ZONES, 3, 0x20));
    assert_eq!(ioctl(&d, DZIOC_LIST, at, GZ), EFAULT);
    let short = d.map(&vec![0u8; 2 * DzLink::SIZE + 10]);
    let at = put(&d, &list_arg(ALL_ZONES, 3, short));
    assert_eq!(ioctl(&d, DZIOC_LIST, at, GZ), EFAULT);
    // Bad arguments.
    let mut a = list_arg(ALL_ZONES, 0, 0);
    a.dzl_flags = 1;
    assert_eq!(ioctl(&d, DZIOC_LIST, put(&d, &a), GZ), EINVAL);
    for z in [-2, 10_000] {
        assert_eq!(ioctl(&d, DZIOC_LIST, put(&d, &list_arg(z, 0, 0)), GZ), EINVAL, "zone {z}");
    }
}

#[test]
fn list_is_zone_scoped() {
    let k = Kernel::boot();
    let (lent, own, _other) = two_zones(&k);
    let d = Driver::new();

    // The global zone filters by zone; a zone that does not exist is
    // ENOENT, a running zone without links is an empty list.
    let (r, hdr, links) = list(&d, 5, 4, GZ);
    assert_eq!((r, hdr.dzl_total), (0, 2));
    assert!(links.iter().all(|l| l.dzk_zone == 5));
    assert_eq!(list(&d, 42, 4, GZ).0, ENOENT);
    k.zone_boot(9, 109);
    assert_eq!(list(&d, 9, 4, GZ).0, 0);
    assert_eq!(list(&d, 9, 4, GZ).1.dzl_total, 0);

    // Zone 5 sees its two links, without hold counts and reserved names,
    // privileged or not; it can never name another zone.
    for cr in [Z5, Z5_USER] {
        let (r, hdr, links) = list(&d, ALL_ZONES, 4, cr);
        assert_eq!((r, hdr.dzl_total, hdr.dzl_oflags), (0, 2, DZ_LIST_NOHOLDS));
        let ids: Vec<u32> = links.iter().map(|l| l.dzk_linkid).collect();
        assert_eq!(ids, vec![lent, own]);
        assert!(links.iter().all(|l| l.dzk_holds == [0; kind::COUNT]));
        assert!(links.iter().all(|l| cstr(&l.dzk_reserved).is_empty()));
        assert_eq!(list(&d, 5, 4, cr).0, 0);
        for z in [0, 7, 42] {
            assert_eq!(list(&d, z, 4, cr).0, ENOENT, "zone 5 naming zone {z}");
        }
    }
}

#[test]
fn holders_of_active_and_detached_links() {
    let k = Kernel::boot();
    let (lent, own, other) = two_zones(&k);
    let d = Driver::new();

    // A stream opened inside zone 5 on its own link, and snoop -z from
    // the global zone.
    let stream = k.hold(own, 5).expect("hold");
    let snoop = k.hold(own, 0).expect("hold");
    let (r, hdr, recs) = holders(&d, own, 0, 8, GZ);
    assert_eq!(r, 0);
    assert_eq!(hdr.dzh_total as usize, recs.len());
    let has = |recs: &[DzHolder], kind_: u32, zone: i32| {
        recs.iter().any(|h| h.dzhe_kind == kind_ && h.dzhe_zoneid == zone && h.dzhe_count == 1)
    };
    assert!(has(&recs, kind::EXISTENCE, 5));
    assert!(has(&recs, kind::NAMED, 5));
    assert!(has(&recs, kind::NAMED, 0));
    // Size query and short buffer.
    let (r, hdr, _) = holders(&d, own, 0, 0, GZ);
    assert_eq!((r, hdr.dzh_total as usize), (0, recs.len()));
    let (r, hdr, got) = holders(&d, own, 0, 1, GZ);
    assert_eq!((r, hdr.dzh_total as usize, hdr.dzh_count, got.len()), (ENOSPC, recs.len(), 0, 0));

    // Zone 5 halts: its transient link is detached; the holds keep it.
    k.zone_halt(5);
    assert_eq!(holders(&d, own, 0, 8, GZ).0, ENOENT, "detached links need the flag");
    let (r, _, recs) = holders(&d, own, DZ_HOLDERS_DETACHED, 8, GZ);
    assert_eq!(r, 0);
    assert!(recs.iter().all(|h| h.dzhe_state == state::DETACHED));
    assert!(has(&recs, kind::NAMED, 0), "snoop's hold is reported");
    assert_eq!(k.release(stream), 0);
    assert_eq!(k.release(snoop), 0);
    assert_eq!(holders(&d, own, DZ_HOLDERS_DETACHED, 8, GZ).0, ENOENT, "freed");

    // Zone 7 may not ask, and sees only its own link.
    let z7 = HostCred::privileged(7);
    assert_eq!(holders(&d, other, 0, 8, z7).0, EACCES);
    assert_eq!(holders(&d, lent, 0, 8, z7).0, ENOENT);
    assert_eq!(holders(&d, 4242, 0, 8, z7).0, ENOENT);
    // Bad arguments.
    assert_eq!(holders(&d, 0, 0, 8, GZ).0, EINVAL);
    assert_eq!(holders(&d, lent, 2, 8, GZ).0, EINVAL);
    assert_eq!(holders(&d, 4242, 0, 8, GZ).0, ENOENT);
    let arg = DzHolders {
        dzh_version: DZIOC_VERSION,
        dzh_linkid: lent,
        dzh_capacity: 4,
        dzh_buf: 0,
        ..DzHolders::default()
    };
    assert_eq!(ioctl(&d, DZIOC_HOLDERS, put(&d, &arg), GZ), EFAULT);
    let arg = DzHolders { dzh_buf: 0x30, ..arg };
    assert_eq!(ioctl(&d, DZIOC_HOLDERS, put(&d, &arg), GZ), EFAULT);
}

#[test]
fn recover_needs_the_privilege_and_the_global_zone() {
    let k = Kernel::boot();
    let (lent, _own, _other) = two_zones(&k);
    let d = Driver::new();

    // No privilege: EPERM before anything is read, in any zone.
    for cr in [GZ_USER, Z5_USER] {
        assert_eq!(ioctl(&d, DZIOC_RECOVER, 0x10, cr), EPERM);
        assert_eq!(recover(&d, recover_arg(5, 105, 0), cr).0, EPERM);
    }
    // A zone names only itself, and may not recover even itself.
    assert_eq!(recover(&d, recover_arg(7, 107, 0), Z5).0, ENOENT);
    assert_eq!(recover(&d, recover_arg(42, 1, 0), Z5).0, ENOENT);
    assert_eq!(recover(&d, recover_arg(5, 105, 0), Z5).0, EACCES);
    // Bad arguments.
    assert_eq!(recover(&d, recover_arg(0, 0, 0), GZ).0, EINVAL);
    assert_eq!(recover(&d, recover_arg(-1, 0, 0), GZ).0, EINVAL);
    assert_eq!(recover(&d, recover_arg(10_000, 0, 0), GZ).0, EINVAL);
    assert_eq!(recover(&d, recover_arg(5, 105, 2), GZ).0, EINVAL);
    let mut a = recover_arg(5, 105, 0);
    a.dzr_timeout_ms = DZ_RECOVER_MAX_TIMEOUT_MS + 1;
    assert_eq!(recover(&d, a, GZ).0, EINVAL);
    // A zone that is running, unknown, or another incarnation.
    let (r, out) = recover(&d, recover_arg(5, 105, 0), GZ);
    assert_eq!((r, out.dzr_returned, out.dzr_left), (EBUSY, 0, 0));
    assert_eq!(recover(&d, recover_arg(42, 1, 0), GZ).0, ENOENT);
    // A zone stuck in down: dlmgmtd died before the halt.
    k.kill_dlmgmtd();
    k.zone_halt(5);
    assert_eq!(recover(&d, recover_arg(5, 999, 0), GZ).0, ESTALE);
    let (r, out) = recover(&d, recover_arg(5, 105, DZ_RECOVER_FORCE), GZ);
    assert_eq!(r, 0, "{out:?}");
    assert_eq!((out.dzr_returned, out.dzr_left), (1, 0));
    assert!(out.dzr_notices >= 1);
    let (_, _, links) = list(&d, ALL_ZONES, 4, GZ);
    let net0 = links.iter().find(|l| l.dzk_linkid == lent).expect("net0");
    assert_eq!((net0.dzk_zone, name(net0)), (0, "net0"));
    // A bad pointer, now that the zone has nothing left to recover.
    assert_eq!(ioctl(&d, DZIOC_RECOVER, 0x10, GZ), EFAULT);
    // Again: nothing left, nothing done.
    let (r, out) = recover(&d, recover_arg(5, 105, DZ_RECOVER_FORCE), GZ);
    assert_eq!((r, out.dzr_returned, out.dzr_left), (0, 0, 0));
    h_restart(&k);
    // Back under its name, which no other link could take meanwhile.
    assert_eq!(k.link("vnic1002", "net0", 0, false), Err(EEXIST));
}

#[test]
fn replay_needs_the_privilege_and_the_global_zone() {
    let k = Kernel::boot();
    let (lent, _own, _other) = two_zones(&k);
    let d = Driver::new();
    assert_eq!(replay(&d, GZ_USER).0, EPERM);
    assert_eq!(replay(&d, Z5_USER).0, EPERM);
    assert_eq!(replay(&d, Z5).0, EACCES);
    let at = put(&d, &DzReplay { dzp_version: DZIOC_VERSION, dzp_flags: 1, ..DzReplay::default() });
    assert_eq!(ioctl(&d, DZIOC_REPLAY, at, GZ), EINVAL);
    assert_eq!(replay(&d, GZ), (0, DzReplay { dzp_version: 1, ..DzReplay::default() }));

    // Recovery without dlmgmtd queues a notice; the replay fails while
    // dlmgmtd is down, and delivers it once it is back.
    k.kill_dlmgmtd();
    k.zone_halt(5);
    assert_eq!(recover(&d, recover_arg(5, 105, DZ_RECOVER_FORCE), GZ).0, 0);
    // The recovery asked for a replay on a task-queue thread; while it
    // runs, another replay is told EALREADY. Let it fail first.
    assert!(k.settle() >= 1);
    let (r, out) = replay(&d, GZ);
    assert_eq!((r, out.dzp_delivered), (EBADF, 0));
    assert!(out.dzp_pending >= 1);
    assert_eq!(k.dlmgmtd_zone(lent), 5, "dlmgmtd has not heard");
    h_restart(&k);
    assert_eq!(k.dlmgmtd_zone(lent), 0);
    assert_eq!(replay(&d, GZ).1.dzp_pending, 0);
}

fn h_restart(k: &Kernel) {
    assert_eq!(k.restart_dlmgmtd(), 0);
    assert_eq!(k.settle(), 0);
}

#[test]
fn driver_structures_match_dls_mgmt_o() {
    use core::mem::{offset_of, size_of};
    use dlszone::dlszone_h as c;
    use dlszone_drv::dls as d;
    assert_eq!(size_of::<d::DlsRecoverResult>(), size_of::<c::DlsRecoverResult>());
    assert_eq!(size_of::<d::DlsHolder>(), size_of::<c::DlsHolder>());
    assert_eq!(offset_of!(d::DlsHolder, dh_count), offset_of!(c::DlsHolder, dh_count));
    assert_eq!(size_of::<d::DlsLinkInfo>(), size_of::<c::DlsLinkInfo>());
    assert_eq!(offset_of!(d::DlsLinkInfo, dli_mac), offset_of!(c::DlsLinkInfo, dli_mac));
    assert_eq!(size_of::<DzHolder>(), size_of::<c::DlsHolder>());
    let _unused: Option<Handle> = None;
}
