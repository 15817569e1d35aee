//! `build/amd64/dls_mgmt.o` on the emulated kernel, driven from Rust
//! through the same library the C tests link (`kload::dls`):
//!
//! - the kernel refuses the object when a symbol it uses is missing,
//!   naming it, and when it does not depend on the module that defines
//!   one; with its dependencies it loads and relocates;
//! - the door contract: a reply larger than the buffer the object gives
//!   lands in a buffer the door layer allocates, which the object frees
//!   before reporting `ENOSPC`; a reply of another size than the
//!   command's, shorter included, is `EINVAL` (the door layer leaves
//!   `rsize` alone when a reply fits: the size is `data_size`);
//! - zones: a zone booting after the object was initialised is recorded
//!   at its first use, without a console message at its netstack
//!   creation (where illumos does not show it yet);
//! - the kstats' update callbacks, called as `kstat(8)` would, succeed;
//! - the checks after `dls_mgmt_fini()` bite: a hold left at fini leaves
//!   kmem behind, which is reported;
//! - every `TQ_NOSLEEP` dispatch the object makes (its only allocations
//!   that may fail: it allocates kmem only with `KM_SLEEP`) is failed in
//!   turn in a scenario that takes every path to them: the object never
//!   crashes, the notices a refused replay leaves are delivered by the
//!   next one, a refused growth of the handle table is asked for again by
//!   the next hold (none is refused), and after `dls_mgmt_fini()` the
//!   kernel has everything back.
//!
//! `KLOAD_DLS_MGMT` names another object than `build/amd64/dls_mgmt.o`.

use std::ffi::{CStr, c_int, c_void};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use kload::dls::{self, control as ctl, exports as x};
use kload::emu::{self, console, door, kmem, taskq};

const GZ: c_int = 0;
const EINVAL: c_int = 22;
const ENOSPC: c_int = 28;
const ENOMEM: c_int = 12;
const CLASS_VNIC: u32 = 0x08;
const ACTIVE: u32 = 0x01;
const CMD_DLS_DESTROY: c_int = 3;
const CMD_GETNAME: c_int = 4;
const EROFS: u32 = 30;

fn object() -> PathBuf {
    let p = std::env::var_os("KLOAD_DLS_MGMT").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/amd64/dls_mgmt.o")
    });
    assert!(p.is_file(), "{} does not exist: `make` builds it", p.display());
    p
}

/// One test at a time uses the emulated kernel.
fn session() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    dls::set_quiet(true);
    dls::set_object_path(object());
    g
}

fn kload(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kload")).args(args).output().expect("run kload");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn cred(z: c_int) -> *const c_void {
    ctl::dlszone_host_cred(z)
}

/// A fresh kernel, `dls_mgmt_init()`, dlmgmtd up and registered.
fn begin() {
    begin_failing(None);
}

/// [`begin`], with the `k`th `TQ_NOSLEEP` dispatch from boot failing.
fn begin_failing(k: Option<u64>) {
    dls::reset();
    taskq::fail_nosleep(k);
    x::dls_mgmt_init();
    ctl::dlszone_host_dlmgmtd_start();
    assert_eq!(x::dls_mgmt_door_set(1), 0);
    ctl::dlszone_host_settle();
}

/// `dls_mgmt_fini()`; nothing the emulated kernel complained about.
fn end() {
    ctl::dlszone_host_settle();
    x::dls_mgmt_fini();
    let c = emu::complaints();
    assert!(c.is_empty(), "the kernel complained: {c:#?}");
    dls::shutdown();
}

/// dlmgmtd learns link `name`, then the driver of MAC `mac` creates it
/// from zone `zid`: (MAC handle, link id).
fn link(mac: &CStr, name: &CStr, zid: c_int) -> (*mut c_void, u32) {
    // SAFETY: C strings.
    let mh = unsafe { ctl::dlszone_host_mac(mac.as_ptr()) };
    // SAFETY: a C string.
    let id = unsafe { ctl::dlszone_host_dlmgmtd_add(name.as_ptr(), CLASS_VNIC, ACTIVE, zid, 0, 0) };
    ctl::dlszone_host_set_zone(zid);
    assert_eq!(x::dls_devnet_create(mh, id, zid), 0);
    ctl::dlszone_host_set_zone(GZ);
    (mh, id)
}

fn destroy(mh: *mut c_void) -> c_int {
    let mut out = 0u32;
    x::dls_devnet_destroy(mh, &mut out, 1)
}

fn setzid(id: u32, zid: c_int) -> c_int {
    let mut h: *mut c_void = std::ptr::null_mut();
    assert_eq!(x::dls_devnet_hold_tmp(id, &mut h), 0);
    let r = x::dls_devnet_setzid(h, zid);
    x::dls_devnet_rele_tmp(h);
    r
}

/// `dls_counters_t`: bad releases, late releases, pending frees, outbox,
/// handles, nomem.
fn counters() -> [u64; 6] {
    let mut c = [0u64; 6];
    assert_eq!(x::dls_devnet_counters(cred(GZ), c.as_mut_ptr().cast()), 0);
    c
}

/// `dls_mgmt.o`, the object illumos C calls, has a site for every probe
/// `docs/dtrace.md` lists, as the ktest module has.
#[test]
fn every_probe_has_a_site_in_the_object() {
    let _s = session();
    let want: std::collections::BTreeSet<&str> =
        dlszone::sdt::PROBES.iter().map(|p| &p.symbol["__dtrace_probe_".len()..]).collect();
    let m = kload::Machine::boot().expect("boot");
    let opts = kload::LoadOptions {
        depends: Some(dls::DEPENDS.iter().map(|d| d.to_string()).collect()),
        ..kload::LoadOptions::default()
    };
    let module = m.load(&object(), &opts).expect("load");
    let sites: std::collections::BTreeSet<&str> =
        module.object().probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(sites, want, "probe sites in dls_mgmt.o");
    drop(module);
}

#[test]
fn a_kernel_without_a_symbol_it_uses_refuses_the_object() {
    let obj = object();
    let obj = obj.to_str().unwrap();
    let deps = dls::DEPENDS.join(" ");
    let (code, err) = kload(&["--load-only", "--depends", &deps, obj]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = kload(&[
        "--load-only",
        "--depends",
        &deps,
        "--without",
        "mac_open",
        "--without",
        "door_ki_upcall_limited",
        obj,
    ]);
    assert_eq!(code, Some(1), "{err}");
    for sym in ["mac_open", "door_ki_upcall_limited"] {
        assert!(err.contains(&format!("dls_mgmt.o: undefined symbol '{sym}'")), "{err}");
    }
    assert!(err.contains("2 undefined symbol(s) the emulated kernel lacks"), "{err}");
    // misc/dls depends on misc/mac; without it, mac_* do not resolve.
    let (code, err) = kload(&["--load-only", "--depends", "misc/dls", obj]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("undefined symbol 'mac_open': defined by misc/mac, which the object does not"),
        "{err}"
    );
}

#[test]
fn a_reply_larger_than_the_buffer_is_freed_and_enospc() {
    let _g = session();
    begin();
    let (mh, id) = link(c"vnic1", c"net0", GZ);
    let mut name = [0u8; 32];
    let out = name.as_mut_ptr().cast();
    let null = std::ptr::null_mut();
    assert_eq!(x::dls_mgmt_get_linkinfo(id, out, null, null, null), 0);
    assert_eq!(CStr::from_bytes_until_nul(&name).unwrap(), c"net0");
    // The link's property task (queued by the create) frees its own
    // memory when it ends: let it, so the count below is the upcall's.
    assert!(taskq::drain(std::time::Duration::from_secs(60)));
    let (_, relocated) = door::upcalls();
    let live = kmem::stats().bytes;
    // dlmgmtd answers GETNAME (48 bytes) with 64.
    door::with_daemon(|d| d.resize_next(CMD_GETNAME, 64));
    assert_eq!(x::dls_mgmt_get_linkinfo(id, out, null, null, null), ENOSPC);
    assert_eq!(door::upcalls().1, relocated + 1, "the door layer allocated the reply's buffer");
    assert_eq!(kmem::stats().bytes, live, "the object freed it");
    assert_eq!(destroy(mh), 0);
    end();
}

#[test]
fn a_reply_of_another_size_is_einval() {
    let _g = session();
    begin();
    let (mh, id) = link(c"vnic1", c"net0", GZ);
    let mut name = [0u8; 32];
    let out = name.as_mut_ptr().cast();
    let null = std::ptr::null_mut();
    // A GETNAME reply cut to its lr_err.
    door::with_daemon(|d| d.resize_next(CMD_GETNAME, 4));
    assert_eq!(x::dls_mgmt_get_linkinfo(id, out, null, null, null), EINVAL);
    // dlmgmtd refuses a DESTROY, but its reply is empty: the object must
    // not read an lr_err that was never sent.
    door::with_daemon(|d| {
        d.fail_next(CMD_DLS_DESTROY, EROFS);
        d.resize_next(CMD_DLS_DESTROY, 0);
    });
    assert_eq!(x::dls_mgmt_destroy(id, 0), EINVAL);
    // A reply the door layer had to allocate, empty or not, is still
    // only ENOSPC when larger.
    assert_eq!(x::dls_mgmt_get_linkinfo(id, out, null, null, null), 0);
    assert_eq!(destroy(mh), 0);
    end();
}

#[test]
fn a_zone_booted_later_is_recorded_at_its_first_use_without_a_message() {
    let _g = session();
    begin();
    let before = console::messages().len();
    let u5 = ctl::dlszone_host_zone_boot(5, 105);
    assert_ne!(u5, 0, "the object numbered the zone");
    let after: Vec<String> = console::messages().into_iter().skip(before).map(|m| m.text).collect();
    assert!(after.is_empty(), "the zone's boot logged {after:?}");
    let (mh, id) = link(c"vnic1", c"net0", GZ);
    assert_eq!(setzid(id, 5), 0);
    // SAFETY: a C string.
    assert_eq!(unsafe { ctl::dlszone_host_link_zone(c"vnic1".as_ptr()) }, 5);
    assert_eq!(setzid(id, GZ), 0);
    ctl::dlszone_host_zone_halt(5);
    ctl::dlszone_host_zone_destroy(5);
    assert_eq!(destroy(mh), 0);
    end();
}

#[test]
fn what_fini_leaves_behind_is_reported() {
    let _g = session();
    begin();
    let (_mh, id) = link(c"vnic1", c"net0", GZ);
    let mut h: *mut c_void = std::ptr::null_mut();
    assert_eq!(x::dls_devnet_hold(id, &mut h), 0);
    assert!(emu::complaints().is_empty());
    ctl::dlszone_host_settle();
    // misc/dls would refuse to unload (dls_link_fini() fails): the link
    // and its hold are still there.
    x::dls_mgmt_fini();
    let c = emu::complaints();
    assert!(c.iter().any(|l| l.contains("kmem buffer(s)") && l.contains("never freed")), "{c:#?}");
    assert!(c.iter().any(|l| l.contains("dls_link_t of MAC 'vnic1'")), "{c:#?}");
    assert_eq!(ctl::dlszone_host_kernel_complaints() as usize, c.len());
    dls::shutdown();
}

#[test]
fn the_kstat_updates_succeed_when_read() {
    let _g = session();
    begin();
    let (mh, _) = link(c"vnic1", c"net0", GZ);
    let reads = dls::read_kstats(|i| i.installed && !i.deleted);
    assert!(reads.iter().any(|r| r.kstat == "link:0:net0"), "{reads:?}");
    assert!(reads.iter().any(|r| r.kstat == "dlszone:0:dlszone"), "{reads:?}");
    assert!(reads.iter().all(|r| r.rc == 0), "{reads:?}");
    assert_eq!(destroy(mh), 0);
    end();
}

/// Every path to a `TQ_NOSLEEP` dispatch: dlmgmtd's registration and a
/// forced recovery (outbox replays), a burst of holds (growth of the
/// handle table), with the `k`th dispatch failing. Returns how many holds
/// were refused for want of a handle.
fn nosleep_scenario(k: Option<u64>) -> usize {
    begin_failing(k);
    let u5 = ctl::dlszone_host_zone_boot(5, 105);
    let (m0, net0) = link(c"vnic10", c"net0", GZ);
    let (m1, net1) = link(c"vnic11", c"net1", GZ);
    assert_eq!(setzid(net0, 5), 0);
    assert_eq!(setzid(net1, 5), 0);
    // dlmgmtd dies; the halt cannot return the links; recovery does and
    // queues what dlmgmtd must hear.
    ctl::dlszone_host_dlmgmtd_kill();
    ctl::dlszone_host_zone_halt(5);
    let mut res = [0u32; 6];
    assert_eq!(x::dls_zone_recover(cred(GZ), 5, u5, 100, 1, res.as_mut_ptr().cast()), 0);
    ctl::dlszone_host_dlmgmtd_start();
    assert_eq!(x::dls_mgmt_door_set(1), 0);
    ctl::dlszone_host_settle();
    // Holds enough to grow the handle table twice, each growth let run
    // before the next hold, so the dispatches are the same in every run.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        let mut h: *mut c_void = std::ptr::null_mut();
        match x::dls_devnet_hold_tmp(net0, &mut h) {
            0 => held.push(h),
            ENOMEM => refused += 1,
            e => panic!("dls_devnet_hold_tmp: {e}"),
        }
        assert!(taskq::drain(std::time::Duration::from_secs(60)));
    }
    for h in held {
        x::dls_devnet_rele_tmp(h);
    }
    ctl::dlszone_host_settle();
    // What a refused replay left is delivered by the next one.
    let (mut delivered, mut pending) = (0u32, 0u32);
    assert_eq!(x::dls_mgmt_outbox_replay(cred(GZ), &mut delivered, &mut pending), 0);
    assert_eq!(pending, 0);
    let c = counters();
    assert_eq!((c[3], c[4]), (0, 0), "outbox and handles: {c:?}");
    assert_eq!(c[5], refused as u64, "every refused hold is counted");
    for id in [net0, net1] {
        assert_eq!(ctl::dlszone_host_dlmgmtd_zone(id), GZ, "dlmgmtd has link {id} home");
    }
    ctl::dlszone_host_zone_destroy(5);
    assert_eq!(destroy(m0), 0);
    assert_eq!(destroy(m1), 0);
    refused
}

#[test]
fn every_nosleep_dispatch_can_fail() {
    let _g = session();
    assert_eq!(nosleep_scenario(None), 0);
    let n = taskq::stats().nosleep_calls;
    assert_eq!(kmem::stats().nosleep_calls, 0, "the object allocates with KM_SLEEP only");
    end();
    assert!(n >= 3, "the scenario reaches the NOSLEEP dispatches ({n})");
    eprintln!("every_nosleep_dispatch_can_fail: {n} TQ_NOSLEEP dispatches, each failed in turn");
    for k in 1..=n {
        // A refused growth is asked for again by the next hold.
        assert_eq!(nosleep_scenario(Some(k)), 0, "dispatch {k}");
        assert_eq!(taskq::stats().nosleep_failed, 1, "dispatch {k} was failed");
        end();
    }
}
