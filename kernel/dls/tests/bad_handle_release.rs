//! A release through a C handle that holds nothing (released already) or
//! through the wrong function is a caller's bug found before any link is
//! known. It must reach what every other bad release reaches: the
//! `bad_releases` count the kstat reports, the `dlszone-link-bad-release`
//! probe, and the console warning at powers of two. It changes nothing.

use core::ffi::c_void;
use std::ffi::CString;
use std::ptr;

use dlszone::dlszone_h::DlsCounters;
use dlszone::sdt::Recording;
use dlszone_dls::abi::*;
use dlszone_dls::host::*;

const GZ: i32 = 0;
const ENOENT: u64 = 2;
const EINVAL: u64 = 22;
/// `sdt::kind::HANDLE`: the hold's kind is unknown.
const KIND_HANDLE: u64 = 6;

fn counters() -> DlsCounters {
    let mut c = DlsCounters::default();
    // SAFETY: a global-zone credential of the fake kernel; `c` is writable.
    assert_eq!(unsafe { dls_devnet_counters(dlszone_host_cred(GZ), &mut c) }, 0);
    c
}

#[test]
fn handle_level_bad_releases_are_counted_probed_and_change_nothing() {
    dls_mgmt_fini();
    dlszone_host_reset();
    dls_mgmt_init();
    dlszone_host_dlmgmtd_start();
    assert_eq!(dls_mgmt_door_set(1), 0);
    let (m, n) = (CString::new("vnic0").expect("mac"), CString::new("net0").expect("name"));
    // SAFETY: C strings.
    let (mh, id) = unsafe {
        (dlszone_host_mac(m.as_ptr()), dlszone_host_dlmgmtd_add(n.as_ptr(), 0x08, 1, GZ, 0, 0))
    };
    assert_eq!(dls_devnet_create(mh, id, GZ), 0);
    let mut h: *mut c_void = ptr::null_mut();
    // SAFETY: `h` is writable.
    assert_eq!(unsafe { dls_devnet_hold(id, &mut h) }, 0);
    let mut keep: *mut c_void = ptr::null_mut();
    // SAFETY: as above.
    assert_eq!(unsafe { dls_devnet_hold(id, &mut keep) }, 0);
    assert_eq!(dls_devnet_release(h), 0);
    let before = counters();

    let rec = Recording::start();
    // Released twice: ENOENT.
    assert_eq!(dls_devnet_release(h) as u64, ENOENT);
    // A long hold's handle given to the temporary release: EINVAL, and
    // the hold stays.
    dls_devnet_rele_tmp(keep);
    let fired: Vec<_> =
        rec.take().into_iter().filter(|f| f.probe == "dlszone-link-bad-release").collect();
    drop(rec);
    assert_eq!(fired.len(), 2, "{fired:?}");
    for (f, errno) in fired.iter().zip([ENOENT, EINVAL]) {
        assert_eq!(
            (f.arg(0), f.arg(1), f.arg(2), f.arg(3), f.arg(4)),
            (0, KIND_HANDLE, GZ as u64, errno, 0),
            "{f:?}"
        );
    }
    let after = counters();
    assert_eq!(after.dc_bad_releases, before.dc_bad_releases + 2);
    assert_eq!(after.dc_handles, before.dc_handles, "nothing released");
    assert_eq!(dls_devnet_release(keep), 0);
    let mut gone = 0u32;
    // SAFETY: `gone` is writable.
    assert_eq!(unsafe { dls_devnet_destroy(mh, &mut gone, 1) }, 0);
    assert_eq!(gone, id);
    dls_mgmt_fini();
}
