//! When the handle table has no free slot (its growth on the task queue
//! refused), a hold that may not sleep fails with `ENOMEM` and changes
//! nothing, and `dls_devnet_open()`, which may sleep, makes room itself
//! and succeeds.

use core::ffi::c_void;
use std::ffi::CString;
use std::ptr;

use dlszone::dlszone_h::DlsCounters;
use dlszone_dls::abi::*;
use dlszone_dls::host::*;

const GZ: i32 = 0;
const ENOMEM: i32 = 12;

fn counters() -> DlsCounters {
    let mut c = DlsCounters::default();
    // SAFETY: a global-zone credential of the fake kernel; `c` is writable.
    assert_eq!(unsafe { dls_devnet_counters(dlszone_host_cred(GZ), &mut c) }, 0);
    c
}

#[test]
fn an_open_makes_room_where_a_hold_may_not() {
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
    dlszone_host_settle();
    // No growth on the task queue: temporary holds use up the free slots.
    dlszone_host_taskq_refuse(1);
    let mut held = Vec::new();
    loop {
        let mut h: *mut c_void = ptr::null_mut();
        // SAFETY: `h` is writable.
        match unsafe { dls_devnet_hold_tmp(id, &mut h) } {
            0 => held.push(h),
            ENOMEM => break,
            e => panic!("dls_devnet_hold_tmp: {e}"),
        }
        assert!(held.len() < 100_000, "the handle table never ran out");
    }
    let c = counters();
    assert_eq!(c.dc_nomem, 1);
    assert_eq!(c.dc_handles, held.len() as u64, "the refused hold left nothing");
    // The open may sleep: it grows the table and succeeds.
    let mut h: *mut c_void = ptr::null_mut();
    let mut dev = 0u64;
    // SAFETY: a C string and writable outputs.
    assert_eq!(unsafe { dls_devnet_open(n.as_ptr(), &mut h, &mut dev) }, 0);
    assert_eq!(counters().dc_nomem, 1);
    dls_devnet_close(h);
    dlszone_host_taskq_refuse(0);
    for h in held {
        dls_devnet_rele_tmp(h);
    }
    assert_eq!(counters().dc_handles, 0);
    let mut gone = 0u32;
    // SAFETY: `gone` is writable.
    assert_eq!(unsafe { dls_devnet_destroy(mh, &mut gone, 1) }, 0);
    dls_mgmt_fini();
}
