//! The structures and constants of `include/sys/dlszone.h`, field for
//! field, with their sizes and offsets pinned (the C side asserts the same
//! sizes; the C tests compare the offsets). One definition for the object
//! that exports the IPD 3 entry points (`kernel/dls`) and the driver that
//! calls them (`kernel/drv`).

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

/// `MAXLINKNAMELEN`.
pub const MAXLINKNAMELEN: usize = 32;
/// `MAXNAMELEN`.
pub const MAXNAMELEN: usize = 256;

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
    /// Padding (zero).
    pub dli_pad: u32,
    /// The owner's incarnation.
    pub dli_owner_uniqid: u64,
    /// The current zone's incarnation.
    pub dli_zone_uniqid: u64,
    /// Every long hold, the registry's too.
    pub dli_long_holds: u64,
    /// The name in `dli_zone`.
    pub dli_name: [u8; MAXLINKNAMELEN],
    /// The owner-zone name kept while lent; empty otherwise.
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

/// `dls_counters_t`.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DlsCounters {
    /// Releases of handles that held nothing (double releases, forged or
    /// never-issued handles, a release with the wrong function).
    pub dc_bad_releases: u64,
    /// Releases of holds forced recovery had already discarded.
    pub dc_late_releases: u64,
    /// Detached links still kept alive by holders.
    pub dc_pending_frees: u64,
    /// Notices waiting for dlmgmtd.
    pub dc_outbox: u64,
    /// Handles held now.
    pub dc_handles: u64,
    /// Holds refused because no handle was free.
    pub dc_nomem: u64,
}

/// `DLS_HOLD_TMP`.
pub const DLS_HOLD_TMP: u32 = 0x0001;
/// `DLS_HOLD_LONG`.
pub const DLS_HOLD_LONG: u32 = 0x0002;
/// `DLS_RECOVER_FORCE`.
pub const DLS_RECOVER_FORCE: u32 = 0x0001;
/// `DLS_HOLDERS_DETACHED`.
pub const DLS_HOLDERS_DETACHED: u32 = 0x0001;

/// `DLS_HOLDER_*`.
pub mod holder {
    /// The registry: the link exists.
    pub const EXISTENCE: u32 = 1;
    /// The registry: lent to a zone.
    pub const LOAN: u32 = 2;
    /// A DLPI stream.
    pub const STREAM: u32 = 3;
    /// A `/dev/net` node.
    pub const DEVNET: u32 = 4;
    /// `dls_devnet_hold()`, `dls_devnet_hold_zlink()`.
    pub const NAMED: u32 = 5;
    /// Temporary holds.
    pub const TEMPORARY: u32 = 6;
}

/// `DLS_LINK_*`.
pub mod state {
    /// Visible and holdable.
    pub const ACTIVE: u32 = 1;
    /// Being destroyed.
    pub const CONDEMNED: u32 = 2;
    /// Unreachable; freed at the last release.
    pub const DETACHED: u32 = 3;
    /// A physical link without an id yet.
    pub const INITIALIZING: u32 = 4;
}

/// `DLS_LINKF_*`.
pub mod linkf {
    /// Goes away with its zone.
    pub const TRANSIENT: u32 = 0x0001;
    /// Created persistent.
    pub const PERSISTENT: u32 = 0x0002;
    /// In a zone other than its owner.
    pub const LENT: u32 = 0x0004;
}

const_assert_eq!(size_of::<DlsRecoverResult>(), 24);
const_assert_eq!(size_of::<DlsHolder>(), 32);
const_assert_eq!(offset_of!(DlsHolder, dh_uniqid), 16);
const_assert_eq!(offset_of!(DlsHolder, dh_count), 24);
const_assert_eq!(size_of::<DlsLinkInfo>(), 48 + 2 * MAXLINKNAMELEN + MAXNAMELEN);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_owner_uniqid), 24);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_long_holds), 40);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_name), 48);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_reserved), 80);
const_assert_eq!(offset_of!(DlsLinkInfo, dli_mac), 112);
const_assert_eq!(size_of::<DlsCounters>(), 48);
