//! The kernel seam: everything `dls_mgmt.o` needs from the rest of
//! illumos, as one trait with two implementations: `illumos.rs` over the
//! safe wrappers of `dlszone::kmod` (the kernel build), and `host.rs`, a
//! fake kernel with a fake dlmgmtd that speaks the door protocol (the
//! host build the tests use).
//!
//! Kernel pointers cross the seam as opaque integers ([`MacHandle`],
//! [`Cred`], [`DlsLinkPtr`], ...): this side never dereferences them, it
//! only hands them back to the kernel.
//!
//! Lock order with the rest of illumos (`docs/locking.md`): the MAC
//! perimeter comes before every registry lock; `dls_link` and kstat calls
//! are made with no registry lock held; the door upcall is made with no
//! registry lock held, possibly inside a perimeter (as gate does).

use core::ffi::{CStr, c_int, c_void};

use dlszone::door::RawErrno;
use dlszone::door::upcall::DoorPort;
use dlszone::registry::{LinkId, ZoneId};

/// `mac_handle_t`: a registered MAC.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MacHandle(pub usize);

/// `const cred_t *`: whose authority a caller acts with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cred(pub usize);

/// `dls_link_t *`: the data-path object of a MAC in dls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlsLinkPtr(pub usize);

/// `mac_perim_handle_t`: proof of a MAC perimeter entered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a perimeter must be exited"]
pub struct Perim(pub usize);

/// `dls_dev_handle_t`: a held physical device (softmac).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DevHold(pub usize);

/// `kstat_t *`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Kstat(pub usize);

/// `dev_t` (64-bit on amd64: major in the high 32 bits).
pub type Dev = u64;

/// Bits of the minor number in a 64-bit `dev_t` (`NBITSMINOR64`).
pub const NBITSMINOR64: u32 = 32;
/// The largest minor number (`MAXMIN64`).
pub const MAXMIN64: u64 = 0xffff_ffff;

/// `makedevice()` for a 64-bit `dev_t`.
pub const fn makedevice(major: u32, minor: u32) -> Dev {
    ((major as u64) << NBITSMINOR64) | minor as u64
}

/// `getmajor()`.
pub const fn getmajor(dev: Dev) -> u32 {
    (dev >> NBITSMINOR64) as u32
}

/// `getminor()`.
pub const fn getminor(dev: Dev) -> u32 {
    (dev & MAXMIN64) as u32
}

/// `zone_status_t` values (`sys/zone.h`), in life-cycle order.
pub mod zone_status {
    /// `ZONE_IS_INITIALIZED`: the ZSD constructors run.
    pub const INITIALIZED: i32 = 1;
    /// `ZONE_IS_READY`: the first state `zone_find_by_id()` returns.
    pub const READY: i32 = 2;
    /// `ZONE_IS_RUNNING`.
    pub const RUNNING: i32 = 4;
    /// `ZONE_IS_SHUTTING_DOWN`.
    pub const SHUTTING_DOWN: i32 = 5;
    /// `ZONE_IS_DOWN`: the last state `zone_find_by_id()` returns.
    pub const DOWN: i32 = 7;
}

/// What the kernel says about a zone id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ZoneInfo {
    /// The incarnation: `zone_uniqid` (see `illumos.rs` for the build
    /// without illumos headers).
    pub uniqid: u64,
    /// Its `zone_status_t`.
    pub status: i32,
}

/// A task for the system task queue (`task_func_t`).
pub type TaskFn = unsafe extern "C" fn(*mut c_void);

/// The netstack create callback: `void *(*)(netstackid_t, netstack_t *)`.
pub type NsCreate = unsafe extern "C" fn(i32, *mut c_void) -> *mut c_void;

/// The netstack shutdown and destroy callbacks:
/// `void (*)(netstackid_t, void *)`.
pub type NsHook = unsafe extern "C" fn(i32, *mut c_void);

/// A kstat's `ks_update`: `int (*)(kstat_t *, int)`.
pub type KstatUpdate = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// How an upcall or a kernel call failed: any illumos errno.
pub type KernResult<T> = Result<T, RawErrno>;

/// Everything `dls_mgmt.o` calls outside itself. Cheap to clone (a unit
/// struct in the kernel); shared by every thread.
///
/// Unless a method says otherwise it may block on adaptive mutexes but
/// does not sleep, and it is called with no registry lock held.
pub trait Kernel: Clone + Send + Sync + 'static {
    /// The door to dlmgmtd, with gate's upcall rules on top
    /// (`dlszone::door::upcall`).
    type Port: DoorPort;

    // ---- zones and credentials -----------------------------------------

    /// The zone of the calling thread (`crgetzoneid(CRED())`).
    fn current_zone(&self) -> ZoneId;

    /// The zone of a credential (`crgetzoneid(cr)`); `None` if the kernel
    /// does not know it (only a fake kernel can say so).
    fn cred_zone(&self, cr: Cred) -> Option<ZoneId>;

    /// The incarnation and state of zone `zid`; `None` if no zone has that
    /// id now.
    fn zone_info(&self, zid: ZoneId) -> Option<ZoneInfo>;

    // ---- MAC -----------------------------------------------------------

    /// Copies the MAC name of `mh` (`mac_name()`) into `buf` with its NUL;
    /// returns its length without the NUL, or `None` if it does not fit.
    fn mac_name(&self, mh: MacHandle, buf: &mut [u8]) -> Option<usize>;

    /// Enters the perimeter of `mh` (`mac_perim_enter_by_mh()`). Sleeps.
    fn perim_enter_mh(&self, mh: MacHandle) -> Perim;

    /// Enters the perimeter of the MAC named `mac` (a C string with its
    /// NUL; `mac_perim_enter_by_macname()`). Sleeps.
    fn perim_enter_by_macname(&self, mac: &[u8]) -> KernResult<Perim>;

    /// Leaves a perimeter (`mac_perim_exit()`).
    fn perim_exit(&self, p: Perim);

    /// Renames the primary MAC client of `mac` to `name` (both C strings:
    /// `mac_open()`, `mac_rename_primary()`, `mac_close()`), inside the
    /// perimeter.
    fn mac_rename_primary(&self, mac: &[u8], name: &[u8]) -> KernResult<()>;

    /// Marks the MAC `mac` exclusive (`mac_mark_exclusive()`: `EBUSY`
    /// while other clients exist) or unmarks it, inside the perimeter.
    fn mac_exclusive(&self, mac: &[u8], on: bool) -> KernResult<()>;

    // ---- dls_link (the rest of misc/dls) ---------------------------------

    /// `dls_link_hold_create()`: holds the `dls_link_t` of `mac`, creating
    /// it (and opening its MAC client) if needed. Inside the perimeter.
    fn link_hold_create(&self, mac: &[u8]) -> KernResult<DlsLinkPtr>;

    /// `dls_link_hold()`: holds an existing `dls_link_t`.
    fn link_hold(&self, mac: &[u8]) -> KernResult<DlsLinkPtr>;

    /// `dls_link_rele()`.
    fn link_rele(&self, dlp: DlsLinkPtr);

    /// `dls_link_rele_by_name()`: drops the hold `link_hold_create` took
    /// at create (`ENOTEMPTY` and others while it cannot go).
    fn link_rele_by_name(&self, mac: &[u8]) -> KernResult<()>;

    /// `dls_link_setzid()`: moves the data path of `mac` to `zid`
    /// (`EBUSY` while streams opened inside its zone remain).
    fn link_setzid(&self, mac: &[u8], zid: ZoneId) -> KernResult<()>;

    /// `dls_link_getzid()`: the zone the data path of `mac` is in.
    /// (Gate's `dls_link_setzid()` to the zone the link is in already
    /// keeps a reference when that zone is the global zone: ask first.)
    fn link_getzid(&self, mac: &[u8]) -> KernResult<ZoneId>;

    /// `dls_link_dev()`.
    fn link_dev(&self, dlp: DlsLinkPtr) -> Dev;

    /// Finds the `dls_link_t` of `mac` without a hold
    /// (`mod_hash_find(i_dls_link_hash)`), for a kstat update.
    fn link_find(&self, mac: &[u8]) -> Option<DlsLinkPtr>;

    // ---- devices -------------------------------------------------------

    /// The driver name of major `major` (`ddi_major_to_name()`), copied
    /// into `buf` without NUL; its length, or `None`.
    fn major_to_name(&self, major: u32, buf: &mut [u8]) -> Option<usize>;

    /// The major of driver `name` (`ddi_name_to_major()`; a C string).
    fn name_to_major(&self, name: &[u8]) -> Option<u32>;

    // ---- dlmgmtd's door ------------------------------------------------

    /// Called once by `dls_mgmt_init()` before anything else (the kernel
    /// build sets up its zone identities here). May sleep.
    fn init(&self) {}

    /// Called once by `dls_mgmt_fini()` after everything else. May sleep.
    fn fini(&self) {}

    /// The door port the upcall rules use.
    fn door(&self) -> &Self::Port;

    /// Opens dlmgmtd's door file and makes it the door (`door_ki_open()`
    /// of `DLMGMT_DOOR`), releasing the old one. Sleeps.
    fn door_open(&self) -> KernResult<()>;

    /// Releases the door: upcalls fail with `EBADF` until the next open.
    fn door_close(&self);

    // ---- softmac and iptun ---------------------------------------------

    /// `softmac_recreate()`: softmac re-creates the links of physical
    /// devices that attached before dlmgmtd ran. Sleeps (upcalls).
    fn softmac_recreate(&self);

    /// `softmac_hold_device()`: attaches and holds a physical device.
    fn softmac_hold_device(&self, dev: Dev) -> KernResult<DevHold>;

    /// `softmac_rele_device()`.
    fn softmac_rele_device(&self, h: DevHold);

    /// Creates the implicit IP tunnel `linkid` of iptun type `kind` (1
    /// IPv4, 2 IPv6, 3 6to4) as the caller (`iptun_create()` with
    /// `IPTUN_KPARAM_IMPLICIT`). Sleeps.
    fn iptun_create_implicit(&self, linkid: LinkId, kind: u32) -> KernResult<()>;

    /// Deletes an implicit IP tunnel (`iptun_delete()` with the zone's
    /// kernel credential). Sleeps.
    fn iptun_delete(&self, linkid: LinkId) -> KernResult<()>;

    // ---- task queue ----------------------------------------------------

    /// Runs `f(arg)` soon on `system_taskq` (`taskq_dispatch()`, with
    /// `TQ_SLEEP` when `sleep`, else `TQ_NOSLEEP`). False if it could not
    /// be queued (only without `sleep`); `f` then never runs.
    fn dispatch(&self, f: TaskFn, arg: *mut c_void, sleep: bool) -> bool;

    // ---- zone life cycle -----------------------------------------------

    /// Registers the `NS_DLS` netstack callbacks (`netstack_register()`);
    /// create runs at once for every existing stack. Sleeps.
    fn netstack_register(&self, create: NsCreate, shutdown: NsHook, destroy: NsHook);

    /// Unregisters them, running shutdown and destroy for every stack.
    fn netstack_unregister(&self);

    /// The zone of netstack `stackid` (`netstackid_to_zoneid()`).
    fn netstack_zone(&self, stackid: i32) -> ZoneId;

    // ---- link kstats ---------------------------------------------------

    /// Creates and installs the "link" kstat `name` (a C string) in zone
    /// `zid` (`dls_stat_create("link", 0, name, zid, update, linkid,
    /// ...)`): `ks_private` is the link id. Sleeps.
    fn kstat_create(
        &self,
        name: &[u8],
        zid: ZoneId,
        linkid: LinkId,
        update: KstatUpdate,
    ) -> Option<Kstat>;

    /// `kstat_delete()`. Never called with a registry lock held (a kstat
    /// reader may be in the update callback, waiting for one).
    fn kstat_delete(&self, ks: Kstat);

    /// The link id a "link" kstat was created for (its `ks_private`).
    fn kstat_linkid(&self, ksp: *mut c_void) -> LinkId;

    /// `dls_stat_update(ksp, dlp, rw)`.
    fn kstat_update(&self, ksp: *mut c_void, dlp: DlsLinkPtr, rw: c_int) -> c_int;

    // ---- console -------------------------------------------------------

    /// `cmn_err(CE_WARN, "%s", msg)`. Constant messages only: nothing is
    /// formatted on the object's paths.
    fn warn(&self, msg: &'static CStr);

    /// `cmn_err(CE_NOTE, "%s", msg)`.
    fn note(&self, msg: &'static CStr);
}
