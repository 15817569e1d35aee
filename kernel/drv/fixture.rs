//! Test fixtures of the host build: a fake illumos kernel with
//! `dls_mgmt.o` loaded, driven through its C interface as dld, the
//! drivers, zoneadmd and dlmgmtd drive it, so the driver's tests and
//! `dlszonectl`'s can build the known-failure scenarios (10001, 15167,
//! OS-8627, a zone stuck in down, a dlmgmtd restart).
//!
//! The host build of `dls_mgmt.o` is one object per process, like the
//! kernel's, so a [`Kernel`] holds a process-wide lock for its life: tests
//! that use one run one after another.

use core::ffi::c_void;
use std::ffi::CString;
use std::sync::{Mutex, MutexGuard};

use dlszone_dls::abi;
use dlszone_dls::host as h;

/// `DATALINK_CLASS_VNIC`.
pub const CLASS_VNIC: u32 = 0x08;
/// `DLMGMT_ACTIVE`.
const DLMGMT_ACTIVE: u32 = 0x01;
/// `DLMGMT_PERSIST`.
const DLMGMT_PERSIST: u32 = 0x02;

static LOCK: Mutex<()> = Mutex::new(());

/// A hold on a link, as dld or a driver keeps one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Handle(*mut c_void);

/// The fake kernel with `dls_mgmt.o` initialised and dlmgmtd running and
/// registered; torn down (and checked) when dropped.
pub struct Kernel {
    _lock: MutexGuard<'static, ()>,
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

impl Kernel {
    /// A fresh kernel: `dls_mgmt_init()`, dlmgmtd started, its door set.
    pub fn boot() -> Kernel {
        let lock = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        h::dlszone_host_reset();
        abi::dls_mgmt_init();
        h::dlszone_host_dlmgmtd_start();
        let r = abi::dls_mgmt_door_set(1);
        assert_eq!(r, 0, "dls_mgmt_door_set");
        h::dlszone_host_settle();
        Kernel { _lock: lock }
    }

    /// Boots zone `zid` as incarnation `uniqid`.
    pub fn zone_boot(&self, zid: i32, uniqid: u64) {
        h::dlszone_host_zone_boot(zid, uniqid);
    }

    /// Halts zone `zid` (`zone_shutdown()`: its netstack shutdown); the
    /// zone is then down.
    pub fn zone_halt(&self, zid: i32) {
        h::dlszone_host_zone_halt(zid);
        h::dlszone_host_settle();
    }

    /// Destroys zone `zid`.
    pub fn zone_destroy(&self, zid: i32) {
        h::dlszone_host_zone_destroy(zid);
    }

    /// Creates link `name` over a new MAC `mac` in zone `zone` (dlmgmtd's
    /// record first, then `dls_devnet_create()` from that zone); its id,
    /// or the errno of the create.
    pub fn link(&self, mac: &str, name: &str, zone: i32, persist: bool) -> Result<u32, i32> {
        let (mac, name) = (cstring(mac), cstring(name));
        // SAFETY: both are C strings that outlive the calls.
        let mh = unsafe { h::dlszone_host_mac(mac.as_ptr()) };
        let flags = DLMGMT_ACTIVE | if persist { DLMGMT_PERSIST } else { 0 };
        // SAFETY: as above.
        let id =
            unsafe { h::dlszone_host_dlmgmtd_add(name.as_ptr(), CLASS_VNIC, flags, zone, 0, 0) };
        h::dlszone_host_set_zone(zone);
        let r = abi::dls_devnet_create(mh, id, zone);
        h::dlszone_host_set_zone(0);
        if r == 0 { Ok(id) } else { Err(r) }
    }

    /// Lends link `id` to zone `zone` (dld's "zone" property path: a
    /// temporary hold, `dls_devnet_setzid()`, the release).
    pub fn lend(&self, id: u32, zone: i32) -> i32 {
        let t = match self.hold_tmp(id) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let r = abi::dls_devnet_setzid(t.0, zone);
        abi::dls_devnet_rele_tmp(t.0);
        h::dlszone_host_settle();
        r
    }

    /// A temporary hold (`dls_devnet_hold_tmp()`).
    pub fn hold_tmp(&self, id: u32) -> Result<Handle, i32> {
        let mut ddh = core::ptr::null_mut();
        // SAFETY: `ddh` is a live, writable handle slot.
        let r = unsafe { abi::dls_devnet_hold_tmp(id, &mut ddh) };
        if r == 0 { Ok(Handle(ddh)) } else { Err(r) }
    }

    /// A long hold taken by a thread of zone `zone` (`dls_devnet_hold()`,
    /// as a DLPI open or `snoop -z` from the global zone takes one).
    pub fn hold(&self, id: u32, zone: i32) -> Result<Handle, i32> {
        let mut ddh = core::ptr::null_mut();
        h::dlszone_host_set_zone(zone);
        // SAFETY: as in hold_tmp().
        let r = unsafe { abi::dls_devnet_hold(id, &mut ddh) };
        h::dlszone_host_set_zone(0);
        if r == 0 { Ok(Handle(ddh)) } else { Err(r) }
    }

    /// Releases a hold (`dls_devnet_release()`).
    pub fn release(&self, t: Handle) -> i32 {
        let r = abi::dls_devnet_release(t.0);
        h::dlszone_host_settle();
        r
    }

    /// Kills dlmgmtd: its door is revoked, upcalls fail with `EBADF`.
    pub fn kill_dlmgmtd(&self) {
        h::dlszone_host_dlmgmtd_kill();
    }

    /// Starts dlmgmtd again and lets it register its door
    /// (`dls_mgmt_door_set(B_TRUE)`, which schedules an outbox replay).
    pub fn restart_dlmgmtd(&self) -> i32 {
        h::dlszone_host_dlmgmtd_start();
        let r = abi::dls_mgmt_door_set(1);
        h::dlszone_host_settle();
        r
    }

    /// The zone dlmgmtd has link `id` in; -2 if it has no such link.
    pub fn dlmgmtd_zone(&self, id: u32) -> i32 {
        h::dlszone_host_dlmgmtd_zone(id)
    }

    /// Waits for queued tasks; the number of notices still queued.
    pub fn settle(&self) -> i32 {
        h::dlszone_host_settle()
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        h::dlszone_host_settle();
        let complaints = h::dlszone_host_kernel_complaints();
        abi::dls_mgmt_fini();
        h::dlszone_host_set_zone(0);
        if !std::thread::panicking() {
            assert_eq!(complaints, 0, "the fake kernel saw misuse");
        }
    }
}
