//! The IPD 3 entry points of `dls_mgmt.o` (`include/sys/dlszone.h`) that
//! the driver calls, with their structures.
//!
//! In the kernel these are undefined symbols that krtld binds to
//! `misc/dls` (the module's `_depends_on`); in the host build they are the
//! `#[no_mangle]` functions of the `dlszone-dls` crate over its fake
//! kernel. Either way the driver reaches them through the declarations
//! below, and this file is the only place that passes them pointers: each
//! wrapper takes Rust slices and references, so the rest of the driver is
//! safe code.

use core::ffi::{c_int, c_void};

pub(crate) use dlszone::dlszone_h::{DLS_HOLDERS_DETACHED, DLS_RECOVER_FORCE};
pub use dlszone::dlszone_h::{DlsHolder, DlsLinkInfo, DlsRecoverResult};

unsafe extern "C" {
    fn dls_zone_recover(
        cr: *const c_void,
        zoneid: i32,
        uniqid: u64,
        timeout_ms: u32,
        flags: u32,
        res: *mut DlsRecoverResult,
    ) -> c_int;
    fn dls_devnet_holders(
        cr: *const c_void,
        linkid: u32,
        flags: u32,
        buf: *mut DlsHolder,
        countp: *mut u32,
    ) -> c_int;
    fn dls_devnet_snapshot(
        cr: *const c_void,
        buf: *mut DlsLinkInfo,
        countp: *mut u32,
        genp: *mut u64,
    ) -> c_int;
    fn dls_mgmt_outbox_replay(cr: *const c_void, deliveredp: *mut u32, pendingp: *mut u32)
    -> c_int;
}

/// A credential the IPD 3 entry points accept: the `cred_t *` of the
/// ioctl in the kernel, a fake kernel's credential on the host.
#[derive(Clone, Copy, Debug)]
pub struct DlsCred(*const c_void);

impl DlsCred {
    /// Wraps a credential.
    ///
    /// # Safety
    ///
    /// `cr` is NULL, or a credential the kernel keeps valid for as long as
    /// this value is used (the ioctl's `credp`, for the call), or a value
    /// of the host build's fake kernel (`dlszone_host_cred()`), which the
    /// entry points decode without dereferencing.
    pub(crate) unsafe fn new(cr: *const c_void) -> DlsCred {
        DlsCred(cr)
    }
}

/// The length of a buffer as a C count: a buffer longer than `u32::MAX`
/// entries is offered as `u32::MAX` (the callee writes at most that many).
fn cap(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// `dls_zone_recover()`.
pub(crate) fn zone_recover(
    cr: DlsCred,
    zoneid: i32,
    uniqid: u64,
    timeout_ms: u32,
    flags: u32,
    res: &mut DlsRecoverResult,
) -> c_int {
    // SAFETY: `cr` is valid by DlsCred's contract; `res` is a live,
    // writable dls_recover_result_t.
    unsafe { dls_zone_recover(cr.0, zoneid, uniqid, timeout_ms, flags, res) }
}

/// `dls_devnet_holders()`: `*count` is set to the number of records there
/// are; up to `buf.len()` are written.
pub(crate) fn holders(
    cr: DlsCred,
    linkid: u32,
    flags: u32,
    buf: &mut [DlsHolder],
    count: &mut u32,
) -> c_int {
    *count = cap(buf.len());
    // SAFETY: `cr` as above; `buf` has room for `*count` records (a NULL
    // pointer only with a count of zero is not possible: a slice's pointer
    // is never NULL); `count` is a live u32.
    unsafe { dls_devnet_holders(cr.0, linkid, flags, buf.as_mut_ptr(), count) }
}

/// `dls_devnet_snapshot()`: `*count` as for [`holders`].
pub(crate) fn snapshot(
    cr: DlsCred,
    buf: &mut [DlsLinkInfo],
    count: &mut u32,
    generation: &mut u64,
) -> c_int {
    *count = cap(buf.len());
    // SAFETY: as in holders(); `generation` is a live u64.
    unsafe { dls_devnet_snapshot(cr.0, buf.as_mut_ptr(), count, generation) }
}

/// `dls_mgmt_outbox_replay()`.
pub(crate) fn outbox_replay(cr: DlsCred, delivered: &mut u32, pending: &mut u32) -> c_int {
    // SAFETY: `cr` as above; both outputs are live u32s.
    unsafe { dls_mgmt_outbox_replay(cr.0, delivered, pending) }
}
