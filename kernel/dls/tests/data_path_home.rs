//! A data path goes home once, and only from elsewhere.
//!
//! Gate's `dls_link_setzid()` keeps one `dls_link_t` reference while the
//! data path is in a non-global zone, and, asked to move a data path to
//! the global zone it is in already, keeps the reference its
//! `dls_link_hold_create()` took: the `dls_link_t` could never be freed.
//! The fake kernel does the same, so these tests count references:
//!
//! - a lend whose data path cannot move, and whose compensating
//!   `SETZONEID` fails too, leaves the link lent in the registry with its
//!   data path home; the halt that returns it must not "move" the data
//!   path home again;
//! - a halt whose move home fails leaves the zone's reference; the
//!   destroy moves it home first, and fails (changing nothing) while it
//!   cannot.

use core::ffi::c_void;
use std::ffi::CString;
use std::ptr;

use dlszone_dls::abi::*;
use dlszone_dls::door_faults::DoorFault;
use dlszone_dls::host::*;

const GZ: i32 = 0;
const EBUSY: i32 = 16;

fn fresh() {
    dls_mgmt_fini();
    dlszone_host_reset();
    dls_mgmt_init();
    dlszone_host_dlmgmtd_start();
    assert_eq!(dls_mgmt_door_set(1), 0);
}

/// A link of MAC `mac` named `name`, created by zone `zone`; its id.
fn link(mac: &str, name: &str, zone: i32) -> (*mut c_void, u32) {
    let (m, n) = (CString::new(mac).expect("mac"), CString::new(name).expect("name"));
    // SAFETY: C strings.
    let (mh, id) = unsafe {
        (dlszone_host_mac(m.as_ptr()), dlszone_host_dlmgmtd_add(n.as_ptr(), 0x08, 1, zone, 0, 0))
    };
    assert_eq!(dls_devnet_create(mh, id, zone), 0);
    (mh, id)
}

fn refs(mac: &str) -> i32 {
    let m = CString::new(mac).expect("mac");
    // SAFETY: a C string.
    unsafe { dlszone_host_link_refs(m.as_ptr()) }
}

fn data_path_zone(mac: &str) -> i32 {
    let m = CString::new(mac).expect("mac");
    // SAFETY: a C string.
    unsafe { dlszone_host_link_zone(m.as_ptr()) }
}

fn fail_setzid(errno: i32) {
    // SAFETY: a NUL-terminated literal.
    unsafe { dlszone_host_fail_next(c"link_setzid".as_ptr(), errno) };
}

fn destroy(mh: *mut c_void) -> i32 {
    let mut id = 0u32;
    // SAFETY: `id` is writable.
    unsafe { dls_devnet_destroy(mh, &mut id, 1) }
}

/// Both cases, one after the other: they share the process's object.
#[test]
fn data_paths_go_home_once() {
    a_return_leaves_a_data_path_that_is_home_alone();
    a_destroy_sends_home_a_data_path_a_halt_could_not();
}

fn a_return_leaves_a_data_path_that_is_home_alone() {
    fresh();
    dlszone_host_zone_boot(5, 105);
    let (mh, id) = link("vnic0", "net0", GZ);
    assert_eq!(refs("vnic0"), 1);
    // The create's property task makes its upcall first.
    dlszone_host_settle();

    // The lend: dlmgmtd moves it (upcall n+1), the data path cannot
    // (EBUSY), and the compensating SETZONEID (upcall n+2) fails.
    let next = Host::default().env().faults().upcalls() + 2;
    Host::default().env().faults().arm(next, DoorFault::Eintr);
    fail_setzid(EBUSY);
    let mut h: *mut c_void = ptr::null_mut();
    // SAFETY: a writable handle.
    assert_eq!(unsafe { dls_devnet_hold_tmp(id, &mut h) }, 0);
    assert_eq!(dls_devnet_setzid(h, 5), EBUSY);
    dls_devnet_rele_tmp(h);
    assert!(Host::default().env().faults().fired().is_some(), "the rollback failed");
    // The registry has it in zone 5 (dlmgmtd too); its data path is home.
    assert_eq!(dlszone_host_dlmgmtd_zone(id), 5);
    assert_eq!(data_path_zone("vnic0"), GZ);
    assert_eq!(refs("vnic0"), 1);

    // The halt returns it: no reference gained.
    dlszone_host_zone_halt(5);
    assert_eq!(dlszone_host_dlmgmtd_zone(id), GZ);
    assert_eq!(refs("vnic0"), 1);
    assert_eq!(destroy(mh), 0);
    assert_eq!(refs("vnic0"), -1);
    assert_eq!(dlszone_host_kernel_complaints(), 0);
    dlszone_host_zone_destroy(5);
}

fn a_destroy_sends_home_a_data_path_a_halt_could_not() {
    fresh();
    dlszone_host_zone_boot(5, 105);
    let (mh, _) = link("vnic1", "net0", 5);
    // Create's reference and the zone data path's.
    assert_eq!(refs("vnic1"), 2);
    fail_setzid(EBUSY);
    dlszone_host_zone_halt(5);
    assert_eq!(data_path_zone("vnic1"), 5);
    assert_eq!(refs("vnic1"), 2);
    fail_setzid(EBUSY);
    assert_eq!(destroy(mh), EBUSY);
    assert_eq!(refs("vnic1"), 2);
    assert_eq!(destroy(mh), 0);
    assert_eq!(data_path_zone("vnic1"), -1);
    assert_eq!(refs("vnic1"), -1);
    assert_eq!(dlszone_host_kernel_complaints(), 0);
    dlszone_host_zone_destroy(5);
}
