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
use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

/// `MAXLINKNAMELEN`.
const MAXLINKNAMELEN: usize = 32;
/// `MAXNAMELEN`.
const MAXNAMELEN: usize = 256;

/// `DLS_HOLDERS_DETACHED`.
pub(crate) const DLS_HOLDERS_DETACHED: u32 = 0x0001;
/// `DLS_RECOVER_FORCE`.
pub(crate) const DLS_RECOVER_FORCE: u32 = 0x0001;

/// `dls_recover_result_t`.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DlsRecoverResult {
    /// Lent links given back to their owner.
    pub drr_returned: u32,
    /// Transient links torn down.
    pub drr_condemned: u32,
    /// Links still in the zone.
    pub drr_left: u32,
    /// The dead zone's own long holds dropped.
    pub drr_holds_reclaimed: u32,
    /// Condemned links whose free waits for holders.
    pub drr_delayed: u32,
    /// Notices queued for dlmgmtd.
    pub drr_notices: u32,
}

/// `dls_holder_t`.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DlsHolder {
    /// The link.
    pub dh_linkid: u32,
    /// `DLS_HOLDER_*`.
    pub dh_kind: u32,
    /// The holder's zone; -1 for temporary holds.
    pub dh_zoneid: i32,
    /// The link's `DLS_LINK_*`.
    pub dh_state: u32,
    /// The holder zone's incarnation.
    pub dh_uniqid: u64,
    /// Holds of this kind from that zone.
    pub dh_count: u64,
}

/// `dls_link_info_t`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlsLinkInfo {
    /// The link id.
    pub dli_linkid: u32,
    /// The zone that created it.
    pub dli_owner: i32,
    /// The zone it is in.
    pub dli_zone: i32,
    /// `DLS_LINKF_*`.
    pub dli_flags: u32,
    /// `DLS_LINK_*`.
    pub dli_state: u32,
    /// Padding.
    pub dli_pad: u32,
    /// The owner's incarnation.
    pub dli_owner_uniqid: u64,
    /// The current zone's incarnation.
    pub dli_zone_uniqid: u64,
    /// Every long hold, the registry's too.
    pub dli_long_holds: u64,
    /// The name in `dli_zone`.
    pub dli_name: [u8; MAXLINKNAMELEN],
    /// The owner-zone name kept while lent.
    pub dli_reserved: [u8; MAXLINKNAMELEN],
    /// The MAC name.
    pub dli_mac: [u8; MAXNAMELEN],
}

impl Default for DlsLinkInfo {
    fn default() -> Self {
        DlsLinkInfo {
            dli_linkid: 0,
            dli_owner: 0,
            dli_zone: 0,
            dli_flags: 0,
            dli_state: 0,
            dli_pad: 0,
            dli_owner_uniqid: 0,
            dli_zone_uniqid: 0,
            dli_long_holds: 0,
            dli_name: [0; MAXLINKNAMELEN],
            dli_reserved: [0; MAXLINKNAMELEN],
            dli_mac: [0; MAXNAMELEN],
        }
    }
}

// include/sys/dlszone.h's sizes and offsets (its own _Static_asserts).
const_assert_eq!(size_of::<DlsRecoverResult>(), 24);
const_assert_eq!(size_of::<DlsHolder>(), 32);
const_assert_eq!(offset_of!(DlsHolder, dh_uniqid), 16);
const_assert_eq!(offset_of!(DlsHolder, dh_count), 24);
const_assert_eq!(size_of::<DlsLinkInfo>(), 48 + 2 * MAXLINKNAMELEN + MAXNAMELEN);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_long_holds), 40);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_name), 48);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_reserved), 80);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_mac), 112);

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
