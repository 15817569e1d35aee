//! drv/dlszone, the driver object `build/amd64/dlszone`, run on the
//! emulated kernel beside `build/amd64/dls_mgmt.o` (`kload::drv`):
//!
//! - krtld's binding: the driver's four IPD 3 symbols bind to the loaded
//!   `dls_mgmt.o` through its `_depends_on` (misc/dls), and only through
//!   it; everything else to the emulated kernel;
//! - its life cycle as modctl and the device framework drive it: `_init`
//!   (`mod_install` of its `modldrv`), `_info`, attach (one minor node,
//!   `dlszone`, character, `DDI_PSEUDO`), getinfo, open, ioctl, close,
//!   detach (the node removed), `_fini` (`mod_remove`), unload;
//! - every ioctl through `dz_ioctl` into `dls_mgmt.o`: `DZIOC_LIST` (size
//!   negotiation, zone scope), `DZIOC_HOLDERS`, `DZIOC_RECOVER` of a zone
//!   stuck in down, `DZIOC_REPLAY` after dlmgmtd restarts, with the errnos
//!   of `include/sys/dlszone_ioctl.h` (`EPERM`, `EACCES`, `EFAULT`,
//!   `ENOTSUP`, ...), user and `FKIOCTL` addresses;
//! - misuse by the framework's caller is reported, and `mod_remove`
//!   refuses while an instance is attached;
//! - at the end the kernel complained of nothing, and after
//!   `dls_mgmt_fini()` every buffer, hold and lock is back.
//!
//! `KLOAD_DLSZONE` and `KLOAD_DLS_MGMT` name other objects than
//! `build/amd64/dlszone` and `build/amd64/dls_mgmt.o`.

use std::ffi::{CStr, c_int, c_void};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use dlszone_ioctl::*;
use kload::dls::{self, control as ctl, exports as x};
use kload::emu::ddi::{self, FKIOCTL, MinorNode, S_IFCHR};
use kload::emu::{self, zone};
use kload::{LoadOptions, Machine, ModuleExports, drv};

const GZ: c_int = 0;
const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const ENXIO: i32 = 6;
const EBADF: i32 = 9;
const EACCES: i32 = 13;
const EFAULT: i32 = 14;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
const ENOTSUP: i32 = 48;
const ESTALE: i32 = 151;
const OTYP_CHR: c_int = 2;
const CLASS_VNIC: u32 = 0x08;
const DLMGMT_ACTIVE: u32 = 0x01;
const DLMGMT_PERSIST: u32 = 0x02;
const DDI_INFO_DEVT2DEVINFO: c_int = 0;
const DDI_INFO_DEVT2INSTANCE: c_int = 1;
const IPD3: [&str; 4] =
    ["dls_devnet_holders", "dls_devnet_snapshot", "dls_mgmt_outbox_replay", "dls_zone_recover"];

fn object(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(default));
    assert!(p.is_file(), "{} does not exist: `make` builds it ({var} names another)", p.display());
    p
}

fn driver_object() -> PathBuf {
    object("KLOAD_DLSZONE", "build/amd64/dlszone")
}

/// One test at a time uses the emulated kernel.
fn session() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    dls::set_quiet(true);
    dls::set_object_path(object("KLOAD_DLS_MGMT", "build/amd64/dls_mgmt.o"));
    g
}

/// A fresh kernel, `dls_mgmt_init()`, dlmgmtd up; then the driver loaded
/// beside the object, `_init`, instance 0 attached.
fn begin() {
    dls::reset();
    x::dls_mgmt_init();
    ctl::dlszone_host_dlmgmtd_start();
    assert_eq!(x::dls_mgmt_door_set(1), 0);
    ctl::dlszone_host_settle();
    drv::load(&driver_object()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(drv::init(), 0, "_init");
    assert_eq!(drv::attach(0), ddi::DDI_SUCCESS, "attach");
}

/// Detach, `_fini`, unload (nothing of the driver left), then
/// `dls_mgmt_fini()`: the kernel has everything back.
fn end() {
    assert_eq!(drv::detach(0), ddi::DDI_SUCCESS, "detach");
    assert_eq!(drv::fini(), 0, "_fini");
    let problems = drv::unload();
    assert!(problems.is_empty(), "unload of the driver: {problems:#?}");
    ctl::dlszone_host_settle();
    x::dls_mgmt_fini();
    let c = emu::complaints();
    assert!(c.is_empty(), "the kernel complained: {c:#?}");
    dls::shutdown();
}

/// The credential of root in zone `z` (every privilege).
fn root(z: c_int) -> usize {
    ctl::dlszone_host_cred(z) as usize
}

/// The credential of an unprivileged user in zone `z`.
fn user(z: c_int) -> usize {
    zone::user_cred(z)
}

/// A user-space copy of `v`; its address.
fn put<T: Wire>(v: &T) -> u64 {
    let mut b = vec![0u8; T::SIZE];
    v.encode(&mut b);
    ddi::user_map(&b)
}

fn get<T: Wire>(at: u64) -> T {
    T::decode(&ddi::user_read(at).expect("mapped"))
}

/// An ioctl on the open node through `dz_ioctl`; its errno, after
/// checking that `*rvalp` was set to 0.
fn ioctl(cmd: i32, arg: u64, mode: i32, cr: usize) -> i32 {
    let (r, rval) = drv::ioctl(drv::dev(DZ_MINOR), cmd, arg, mode, cr);
    assert_eq!(rval, 0, "*rvalp after ioctl {cmd:#x}");
    r
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
fn list(zone: i32, cap: u32, cr: usize) -> (i32, DzList, Vec<DzLink>) {
    let buf = ddi::user_map(&vec![0u8; cap as usize * DzLink::SIZE]);
    let at = put(&list_arg(zone, cap, buf));
    let r = ioctl(DZIOC_LIST, at, 0, cr);
    let hdr: DzList = get(at);
    let bytes = ddi::user_read(buf).expect("mapped");
    let links =
        bytes.chunks(DzLink::SIZE).take(hdr.dzl_count as usize).map(DzLink::decode).collect();
    (r, hdr, links)
}

fn holders(id: u32, flags: u32, cap: u32, cr: usize) -> (i32, DzHolders, Vec<DzHolder>) {
    let buf = ddi::user_map(&vec![0u8; cap as usize * DzHolder::SIZE]);
    let arg = DzHolders {
        dzh_version: DZIOC_VERSION,
        dzh_linkid: id,
        dzh_flags: flags,
        dzh_capacity: cap,
        dzh_buf: buf,
        ..DzHolders::default()
    };
    let at = put(&arg);
    let r = ioctl(DZIOC_HOLDERS, at, 0, cr);
    let hdr: DzHolders = get(at);
    let bytes = ddi::user_read(buf).expect("mapped");
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
        dzr_timeout_ms: 10_000,
        ..DzRecover::default()
    }
}

fn recover(arg: DzRecover, cr: usize) -> (i32, DzRecover) {
    let at = put(&arg);
    let r = ioctl(DZIOC_RECOVER, at, 0, cr);
    (r, get(at))
}

fn replay(cr: usize) -> (i32, DzReplay) {
    let at = put(&DzReplay { dzp_version: DZIOC_VERSION, ..DzReplay::default() });
    let r = ioctl(DZIOC_REPLAY, at, 0, cr);
    (r, get(at))
}

fn name(l: &DzLink) -> &str {
    std::str::from_utf8(cstr(&l.dzk_name)).unwrap_or("?")
}

/// dlmgmtd learns link `name`, then the driver of MAC `mac` creates it
/// from zone `zid`: (MAC handle, link id).
fn link(mac: &CStr, name: &CStr, zid: c_int, persist: bool) -> (*mut c_void, u32) {
    // SAFETY: C strings.
    let mh = unsafe { ctl::dlszone_host_mac(mac.as_ptr()) };
    let flags = DLMGMT_ACTIVE | if persist { DLMGMT_PERSIST } else { 0 };
    // SAFETY: a C string.
    let id = unsafe { ctl::dlszone_host_dlmgmtd_add(name.as_ptr(), CLASS_VNIC, flags, zid, 0, 0) };
    ctl::dlszone_host_set_zone(zid);
    assert_eq!(x::dls_devnet_create(mh, id, zid), 0);
    ctl::dlszone_host_set_zone(GZ);
    (mh, id)
}

fn lend(id: u32, zid: c_int) {
    let mut h: *mut c_void = std::ptr::null_mut();
    assert_eq!(x::dls_devnet_hold_tmp(id, &mut h), 0);
    assert_eq!(x::dls_devnet_setzid(h, zid), 0);
    x::dls_devnet_rele_tmp(h);
    ctl::dlszone_host_settle();
}

fn destroy(mh: *mut c_void) -> c_int {
    let mut out = 0u32;
    x::dls_devnet_destroy(mh, &mut out, 1)
}

/// The whole life cycle, with every ioctl and its errnos.
#[test]
fn the_driver_attaches_and_serves_every_ioctl() {
    let _g = session();
    begin();

    // Attach made the one node; getinfo answers with it.
    let dip = drv::dip(0).expect("instance 0");
    let node = MinorNode {
        name: DZ_MINOR_NAME.into(),
        spec_type: S_IFCHR,
        minor: DZ_MINOR,
        node_type: "ddi_pseudo".into(),
        flag: 0,
    };
    assert_eq!(ddi::minor_nodes(dip), vec![node]);
    let dev = drv::dev(DZ_MINOR);
    assert_eq!(drv::getinfo(DDI_INFO_DEVT2DEVINFO, dev), (ddi::DDI_SUCCESS, dip));
    assert_eq!(drv::getinfo(DDI_INFO_DEVT2INSTANCE, dev), (ddi::DDI_SUCCESS, 0));
    assert_eq!(drv::getinfo(7, dev).0, ddi::DDI_FAILURE);
    assert_ne!(drv::info(), 0, "_info: mod_info succeeds");

    // open(9E): only the one minor, only as a character device.
    assert_eq!(drv::open(1, 0, OTYP_CHR, root(GZ)).0, ENXIO);
    assert_eq!(drv::open(DZ_MINOR, 0, 0, root(GZ)).0, EINVAL, "OTYP_BLK");
    assert_eq!(drv::open(DZ_MINOR, 0, OTYP_CHR, root(GZ)), (0, dev));
    assert_eq!(ddi::opens(dev), 1);

    // Zone 5 (with net0 of the global zone lent to it, and its own
    // z5net0) and zone 7 (z7net0).
    let u5 = ctl::dlszone_host_zone_boot(5, 105);
    let _u7 = ctl::dlszone_host_zone_boot(7, 107);
    let (m_lent, lent) = link(c"vnic1001", c"net0", GZ, true);
    lend(lent, 5);
    let (m_own, own) = link(c"vnic5000", c"z5net0", 5, false);
    let (m_other, other) = link(c"vnic7000", c"z7net0", 7, false);

    // DZIOC_LIST: the size query, too short, enough.
    let (r, hdr, _) = list(ALL_ZONES, 0, root(GZ));
    assert_eq!((r, hdr.dzl_total, hdr.dzl_count, hdr.dzl_oflags), (0, 3, 0, 0));
    assert!(hdr.dzl_generation > 0);
    let (r, hdr, links) = list(ALL_ZONES, 2, root(GZ));
    assert_eq!((r, hdr.dzl_total, hdr.dzl_count, links.len()), (ENOSPC, 3, 0, 0));
    let (r, hdr, links) = list(ALL_ZONES, 3, root(GZ));
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
    assert_eq!(links[1].dzk_zone_uniqid, u5);
    // Zone-scoped from zone 5, privileged or not: its two links, no hold
    // counts; another zone does not exist for it.
    for cr in [root(5), user(5)] {
        let (r, hdr, links) = list(ALL_ZONES, 4, cr);
        assert_eq!((r, hdr.dzl_total, hdr.dzl_oflags), (0, 2, DZ_LIST_NOHOLDS));
        let ids: Vec<u32> = links.iter().map(|l| l.dzk_linkid).collect();
        assert_eq!(ids, vec![lent, own]);
        assert!(links.iter().all(|l| l.dzk_holds == [0; kind::COUNT]));
        assert!(links.iter().all(|l| cstr(&l.dzk_reserved).is_empty()));
        for z in [0, 7, 42] {
            assert_eq!(list(z, 4, cr).0, ENOENT, "zone 5 naming zone {z}");
        }
    }
    // The global zone filters by zone.
    let (r, hdr, links) = list(7, 4, root(GZ));
    assert_eq!((r, hdr.dzl_total, links[0].dzk_linkid), (0, 1, other));
    assert_eq!(list(42, 4, root(GZ)).0, ENOENT);

    // FKIOCTL: a kernel caller's kernel address; a user address is not
    // one, nor the reverse.
    let mut b = vec![0u8; DzList::SIZE];
    list_arg(ALL_ZONES, 0, 0).encode(&mut b);
    let kaddr = ddi::kernel_map(&b);
    assert_eq!(ioctl(DZIOC_LIST, kaddr, FKIOCTL, root(GZ)), 0);
    assert_eq!(DzList::decode(&ddi::kernel_read(kaddr).expect("mapped")).dzl_total, 3);
    assert_eq!(ioctl(DZIOC_LIST, ddi::user_map(&b), FKIOCTL, root(GZ)), EFAULT);
    assert_eq!(ioctl(DZIOC_LIST, kaddr, 0, root(GZ)), EFAULT);

    // DZIOC_HOLDERS: a stream in zone 5 on its own link.
    let mut stream: *mut c_void = std::ptr::null_mut();
    ctl::dlszone_host_set_zone(5);
    assert_eq!(x::dls_devnet_hold(own, &mut stream), 0);
    ctl::dlszone_host_set_zone(GZ);
    let (r, hdr, recs) = holders(own, 0, 8, root(GZ));
    assert_eq!(r, 0);
    assert_eq!(hdr.dzh_total as usize, recs.len());
    let has = |recs: &[DzHolder], k: u32, z: i32| {
        recs.iter().any(|h| h.dzhe_kind == k && h.dzhe_zoneid == z && h.dzhe_count == 1)
    };
    assert!(has(&recs, kind::EXISTENCE, 5), "{recs:?}");
    assert!(has(&recs, kind::NAMED, 5), "{recs:?}");
    let (r, hdr, _) = holders(own, 0, 0, root(GZ));
    assert_eq!((r, hdr.dzh_total as usize), (0, recs.len()));
    let (r, hdr, got) = holders(own, 0, 1, root(GZ));
    assert_eq!((r, hdr.dzh_total as usize, hdr.dzh_count, got.len()), (ENOSPC, recs.len(), 0, 0));
    assert_eq!(holders(other, 0, 8, root(7)).0, EACCES, "a zone may not ask");
    assert_eq!(holders(lent, 0, 8, root(7)).0, ENOENT, "nor see another zone's link");
    assert_eq!(holders(4242, 0, 8, root(GZ)).0, ENOENT);
    assert_eq!(holders(0, 0, 8, root(GZ)).0, EINVAL);
    assert_eq!(x::dls_devnet_release(stream), 0);
    ctl::dlszone_host_settle();

    // Bad addresses, wrong versions, unknown commands, for every command.
    for cmd in [DZIOC_RECOVER, DZIOC_LIST, DZIOC_HOLDERS, DZIOC_REPLAY] {
        assert_eq!(ioctl(cmd, 0x10, 0, root(GZ)), EFAULT, "cmd {cmd:#x} at 0x10");
        assert_eq!(ioctl(cmd, 0, 0, root(GZ)), EFAULT, "cmd {cmd:#x} at NULL");
        assert_eq!(ioctl(cmd, ddi::user_map(&[1, 0, 0, 0]), 0, root(GZ)), EFAULT, "short");
        for v in [0u32, 2] {
            let mut b = vec![0u8; 64];
            b[..4].copy_from_slice(&v.to_ne_bytes());
            assert_eq!(ioctl(cmd, ddi::user_map(&b), 0, root(GZ)), ENOTSUP, "version {v}");
        }
    }
    assert_eq!(ioctl(DZIOC | 0x7f, ddi::user_map(&[0; 64]), 0, root(GZ)), ENOTSUP);

    // No privilege: EPERM before anything is read; a zone: EACCES.
    for cr in [user(GZ), user(5)] {
        assert_eq!(ioctl(DZIOC_RECOVER, 0x10, 0, cr), EPERM);
        assert_eq!(recover(recover_arg(5, u5, 0), cr).0, EPERM);
        assert_eq!(replay(cr).0, EPERM);
    }
    assert_eq!(recover(recover_arg(5, u5, 0), root(5)).0, EACCES);
    assert_eq!(recover(recover_arg(7, 0, 0), root(5)).0, ENOENT);
    assert_eq!(replay(root(5)).0, EACCES);
    assert_eq!(recover(recover_arg(0, 0, 0), root(GZ)).0, EINVAL);
    assert_eq!(recover(recover_arg(5, u5, 2), root(GZ)).0, EINVAL);
    assert_eq!(replay(root(GZ)), (0, DzReplay { dzp_version: 1, ..DzReplay::default() }));

    // DZIOC_RECOVER: a running zone is busy; then a zone stuck in down
    // (dlmgmtd died before the halt) is recovered.
    let (r, out) = recover(recover_arg(5, u5, 0), root(GZ));
    assert_eq!((r, out.dzr_returned, out.dzr_left), (EBUSY, 0, 0));
    assert_eq!(recover(recover_arg(42, 1, 0), root(GZ)).0, ENOENT);
    ctl::dlszone_host_dlmgmtd_kill();
    ctl::dlszone_host_zone_halt(5);
    assert_eq!(recover(recover_arg(5, u5 + 1000, 0), root(GZ)).0, ESTALE);
    let (r, out) = recover(recover_arg(5, u5, DZ_RECOVER_FORCE), root(GZ));
    assert_eq!(r, 0, "{out:?}");
    assert_eq!((out.dzr_returned, out.dzr_left), (1, 0), "{out:?}");
    assert!(out.dzr_notices >= 1, "{out:?}");
    let (_, _, links) = list(ALL_ZONES, 4, root(GZ));
    let net0 = links.iter().find(|l| l.dzk_linkid == lent).expect("net0");
    assert_eq!((net0.dzk_zone, name(net0)), (0, "net0"));
    let (r, out) = recover(recover_arg(5, u5, DZ_RECOVER_FORCE), root(GZ));
    assert_eq!((r, out.dzr_returned, out.dzr_left), (0, 0, 0), "nothing left");

    // DZIOC_REPLAY: fails while dlmgmtd is down, delivers once it is back.
    assert!(ctl::dlszone_host_settle() >= 1);
    let (r, out) = replay(root(GZ));
    assert_eq!((r, out.dzp_delivered), (EBADF, 0));
    assert!(out.dzp_pending >= 1, "{out:?}");
    assert_eq!(ctl::dlszone_host_dlmgmtd_zone(lent), 5, "dlmgmtd has not heard");
    ctl::dlszone_host_dlmgmtd_start();
    assert_eq!(x::dls_mgmt_door_set(1), 0);
    assert_eq!(ctl::dlszone_host_settle(), 0);
    assert_eq!(ctl::dlszone_host_dlmgmtd_zone(lent), 0);
    assert_eq!(replay(root(GZ)), (0, DzReplay { dzp_version: 1, ..DzReplay::default() }));
    assert!(ddi::copies() > 50, "the ioctls copied through ddi_copyin/ddi_copyout");

    // Each entry point ran in the loaded driver's bytes, on a kernel
    // stack.
    let ran = emu::entry_stacks();
    for f in ["dz_attach", "dz_getinfo", "dz_open", "dz_ioctl"] {
        let e = ran.iter().find(|(n, _)| n.ends_with(&format!("::{f}")));
        let Some((_, e)) = e else { panic!("{f} never ran: {ran:?}") };
        assert!(e.deepest <= dls::ENTRY_STACK_BUDGET, "{f}: {e:?}");
    }

    // close(9E), and the links and zones go.
    assert_eq!(drv::close(dev, 0, OTYP_CHR, root(GZ)), 0);
    assert_eq!(ddi::opens(dev), 0);
    ctl::dlszone_host_zone_destroy(5);
    ctl::dlszone_host_zone_halt(7);
    ctl::dlszone_host_zone_destroy(7);
    for mh in [m_lent, m_own, m_other] {
        let _ = destroy(mh);
    }
    end();
}

/// What the framework's caller gets wrong is reported; `mod_remove`
/// refuses while an instance is attached, and the driver keeps working.
#[test]
fn misuse_is_reported_and_a_busy_driver_stays() {
    let _g = session();
    begin();
    let dev = drv::dev(DZ_MINOR);
    let arg = put(&DzReplay { dzp_version: DZIOC_VERSION, ..DzReplay::default() });
    assert_eq!(drv::ioctl(dev, DZIOC_REPLAY, arg, 0, root(GZ)).0, EBADF, "not open");
    assert_eq!(drv::close(dev, 0, OTYP_CHR, root(GZ)), EBADF, "not open");
    assert_eq!(drv::attach(0), ddi::DDI_FAILURE, "attached already");
    assert_eq!(drv::open(DZ_MINOR, 0, OTYP_CHR, root(GZ)).0, 0);
    assert_eq!(drv::detach(0), ddi::DDI_FAILURE, "open");
    assert_eq!(drv::fini(), EBUSY, "open");
    let want = [
        format!("ioctl {DZIOC_REPLAY:#x} on {dev:#x}, which is not open"),
        format!("close of {dev:#x}, which is not open"),
        "attach of instance 0, which is attached".to_string(),
        "detach of instance 0 with 1 open(s): the framework never does".to_string(),
        "_fini with 1 open(s) of the driver: modunload refuses a held module".to_string(),
    ];
    assert_eq!(emu::complaints(), want);
    // Still serving.
    assert_eq!(ioctl(DZIOC_REPLAY, arg, 0, root(GZ)), 0);
    assert_eq!(drv::close(dev, 0, OTYP_CHR, root(GZ)), 0);
    // mod_removedrv: EBUSY while instance 0 is attached, which is no
    // misuse; the driver's _fini passes it on and stays installed.
    assert_eq!(drv::fini(), EBUSY);
    assert!(ddi::installed().is_some());
    assert_eq!(emu::complaints().len(), want.len());
    assert_eq!(drv::detach(0), ddi::DDI_SUCCESS);
    assert_eq!(drv::open(DZ_MINOR, 0, OTYP_CHR, root(GZ)).0, ENXIO, "detached");
    assert_eq!(drv::detach(0), ddi::DDI_FAILURE, "detached already");
    assert_eq!(drv::fini(), 0);
    assert_eq!(drv::fini(), EINVAL, "mod_remove of a linkage not installed");
    let c = emu::complaints();
    assert_eq!(c.len(), want.len() + 2, "{c:#?}");
    assert!(c[want.len()].starts_with("open of "), "{c:#?}");
    assert_eq!(c[want.len() + 1], "detach of instance 0, which is not attached");
    assert!(drv::unload().is_empty());
    ctl::dlszone_host_settle();
    x::dls_mgmt_fini();
    assert_eq!(emu::complaints().len(), want.len() + 2, "nothing else");
    dls::shutdown();
}

/// krtld's binding: the IPD 3 symbols come from the loaded `dls_mgmt.o`
/// only for a module that depends on the module it is part of, and the
/// driver's other symbols from the kernel.
#[test]
fn the_ipd3_symbols_bind_to_the_loaded_dls_mgmt_o() {
    let _g = session();
    // A session a failed test left would hold the machine.
    dls::shutdown();
    let m = Machine::boot().expect("boot");
    let opts = LoadOptions {
        depends: Some(dls::DEPENDS.iter().map(|d| d.to_string()).collect()),
        ..LoadOptions::default()
    };
    let dls_mgmt =
        m.load(&object("KLOAD_DLS_MGMT", "build/amd64/dls_mgmt.o"), &opts).expect("load");
    let drv_obj = driver_object();

    // Without the loaded object: krtld's "undefined symbol", each named.
    let e = m.load(&drv_obj, &LoadOptions::default()).err().expect("refused");
    for s in IPD3 {
        assert!(e.problems.contains(&format!("undefined symbol '{s}'")), "{e}");
    }
    assert!(e.problems.contains(&"4 undefined symbol(s) the emulated kernel lacks (tools/kload/src/emu/ lists what it has)".to_string()), "{e}");
    // In a module the driver does not depend on.
    let other = LoadOptions {
        loaded: vec![ModuleExports::of("misc/mac", dls_mgmt.object())],
        ..LoadOptions::default()
    };
    let e = m.load(&drv_obj, &other).err().expect("refused");
    assert_eq!(e.problems.len(), 4, "{e}");
    assert!(
        e.problems[0].contains("defined by misc/mac (dls_mgmt.o), which the object does not depend on (depends on: misc/dls)"),
        "{e}"
    );
    // In misc/dls, its _depends_on.
    let ok = LoadOptions {
        loaded: vec![ModuleExports::of("misc/dls", dls_mgmt.object())],
        ..LoadOptions::default()
    };
    let d = m.load(&drv_obj, &ok).unwrap_or_else(|e| panic!("{e}"));
    let st = &d.object().stats;
    let want: Vec<String> = IPD3.iter().map(|s| format!("misc/dls: dls_mgmt.o`{s}")).collect();
    assert_eq!(st.module_symbols, want);
    assert_eq!(d.object().depends, ["misc/dls"]);
    for s in IPD3 {
        assert!(!st.kernel_symbols.iter().any(|k| k == s));
    }
    for s in ["mod_install", "ddi_copyin", "ddi_create_minor_node", "secpolicy_dl_config"] {
        assert!(st.kernel_symbols.iter().any(|k| k == s), "{s}: {:?}", st.kernel_symbols);
    }
    drop(d);
    drop(dls_mgmt);
}
