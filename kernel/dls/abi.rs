//! The C ABI: every function and variable `dls_mgmt.c` exports, with its
//! C signature, plus the IPD 3 entry points of `include/sys/dlszone.h`.
//!
//! This file is the only place in the crate that touches C pointers. Each
//! function checks its pointers and strings (a NULL pointer is `EFAULT`
//! unless noted; a string without its NUL within its limit is
//! `ENAMETOOLONG`, or the errno gate's path gives for a name that cannot
//! exist), converts, and calls the safe logic of the global [`Dls`]. No
//! path from here can panic: errors are errno values, and what a `void`
//! function cannot return is counted (`dls_devnet_counters()`).

use alloc::sync::Arc;
use core::ffi::{c_char, c_int, c_void};
use core::ptr;

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use dlszone::door::proto::{DatalinkClass, DatalinkMedia, LinkFlags};
use dlszone::door::upcall::{self, UpdateError};
use dlszone::errno::Errno;
use dlszone::registry::{LinkId, ZoneId, ZoneKey};

use crate::dls::{CResult, Dls};
use crate::handles::Handle;
use crate::seam::{Cred, Dev, DlsLinkPtr, Kernel, MacHandle, getmajor, getminor};
use dlszone::dlszone_h::{
    DLS_HOLD_LONG, DLS_HOLD_TMP, DLS_HOLDERS_DETACHED, DLS_RECOVER_FORCE, DlsCounters, DlsHolder,
    DlsLinkInfo, DlsRecoverResult,
};

/// The kernel this build runs on.
#[cfg(kmod)]
pub(crate) type Sys = crate::illumos::Illumos;
/// The kernel this build runs on: the fake one of the host tests.
#[cfg(not(kmod))]
pub type Sys = crate::host::Host;

/// `B_TRUE`/`B_FALSE`.
type BooleanT = c_int;
/// `dls_dl_handle_t`: to C, an opaque pointer.
type DlHandle = *mut c_void;

const ALL_ZONES: i32 = -1;

/// The one `dls_mgmt.o` of this kernel: null before `dls_mgmt_init()` and
/// after `dls_mgmt_fini()`, otherwise from `Arc::into_raw`.
static DLS: AtomicPtr<Dls<Sys>> = AtomicPtr::new(ptr::null_mut());

/// Whether this object set up the kstat and the link record cache.
static OBS: AtomicBool = AtomicBool::new(false);

/// `devnet_need_rebuild`: set whenever a link gets or loses an id or moves;
/// read and cleared by `dls_devnet_rebuild()`. A `boolean_t` to C.
#[unsafe(no_mangle)]
pub static devnet_need_rebuild: AtomicI32 = AtomicI32::new(0);

/// The global object, if initialised.
fn dls() -> Option<&'static Dls<Sys>> {
    let p = DLS.load(Ordering::Acquire);
    // SAFETY: `p` is null or came from `Arc::into_raw` in dls_mgmt_init(),
    // and that reference is given back only by dls_mgmt_fini(), which
    // misc/dls runs after dls_link_fini() succeeded, i.e. when no link and
    // so no caller of these functions remains.
    unsafe { p.as_ref() }
}

/// Errno for an entry point called before `dls_mgmt_init()`.
const NOT_READY: c_int = Errno::ENXIO.to_raw();

fn rc(r: CResult<()>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_raw(),
    }
}

fn flag_rebuild(d: &Dls<Sys>) {
    if d.take_rebuild() {
        devnet_need_rebuild.store(1, Ordering::Release);
    }
}

fn handle(h: DlHandle) -> Handle {
    Handle(h as usize as u64)
}

fn to_c_handle(h: Handle) -> DlHandle {
    // A handle is a number, never dereferenced by anyone; it is carried
    // in a pointer because that is dls_dl_handle_t's C type.
    ptr::without_provenance_mut(h.0 as usize)
}

/// The bytes of a C string of at most `max - 1` characters.
///
/// Errors: `EFAULT` for NULL; `ENAMETOOLONG` when no NUL is found in the
/// first `max` bytes.
///
/// # Safety
///
/// `p` is NULL or points to a readable C string, or to at least `max`
/// readable bytes.
unsafe fn c_str<'a>(p: *const c_char, max: usize) -> CResult<&'a [u8]> {
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    let p = p.cast::<u8>();
    for n in 0..max {
        // SAFETY: by the contract, the bytes up to the NUL or up to `max`
        // are readable; `n` stops at the first NUL.
        if unsafe { *p.add(n) } == 0 {
            // SAFETY: the `n` bytes before the NUL were just read.
            return Ok(unsafe { core::slice::from_raw_parts(p, n) });
        }
    }
    Err(Errno::ENAMETOOLONG)
}

/// Writes `v` through `p` if it is not NULL.
///
/// # Safety
///
/// `p` is NULL or valid for a write of a `T`.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: by the contract.
        unsafe { p.write(v) };
    }
}

/// The zone of a credential from C.
fn cred_zone(d: &Dls<Sys>, cr: *const c_void) -> CResult<ZoneId> {
    if cr.is_null() {
        return Err(Errno::EFAULT);
    }
    d.kernel().cred_zone(Cred(cr as usize)).ok_or(Errno::EINVAL)
}

// ---- netstack and kstat callbacks ------------------------------------------

/// `NS_DLS` create: the registry learns the zone. The zone id travels back
/// to shutdown and destroy as the callback's argument.
unsafe extern "C" fn dls_stack_create(stackid: i32, _ns: *mut c_void) -> *mut c_void {
    let Some(d) = dls() else { return ptr::null_mut() };
    let zid = d.kernel().netstack_zone(stackid);
    d.zone_created(zid);
    flag_rebuild(d);
    ptr::without_provenance_mut(zid.0 as usize + 1)
}

fn stack_zone(arg: *mut c_void) -> Option<ZoneId> {
    let v = (arg as usize).checked_sub(1)?;
    i32::try_from(v).ok().map(ZoneId)
}

/// `NS_DLS` shutdown: the zone halts (`zone_shutdown()`'s thread).
unsafe extern "C" fn dls_stack_shutdown(_stackid: i32, arg: *mut c_void) {
    if let (Some(d), Some(zid)) = (dls(), stack_zone(arg)) {
        d.zone_shutdown(zid);
        flag_rebuild(d);
    }
}

/// `NS_DLS` destroy: the zone is gone.
unsafe extern "C" fn dls_stack_destroy(_stackid: i32, arg: *mut c_void) {
    if let (Some(d), Some(zid)) = (dls(), stack_zone(arg)) {
        d.zone_destroyed(zid);
        flag_rebuild(d);
    }
}

/// A "link" kstat's `ks_update`.
unsafe extern "C" fn dls_link_kstat_update(ksp: *mut c_void, rw: c_int) -> c_int {
    match dls() {
        Some(d) => d.kstat_update(ksp, rw),
        None => NOT_READY,
    }
}

// ---- module hooks -----------------------------------------------------------

/// `dls_mgmt_init()`: called once by `misc/dls`'s `_init`. Sleeps.
#[unsafe(no_mangle)]
#[allow(clippy::clone_on_copy, reason = "the kernel's Sys is Copy, the host's is not")]
pub extern "C" fn dls_mgmt_init() {
    if !DLS.load(Ordering::Acquire).is_null() {
        return;
    }
    let k = Sys::default();
    k.init();
    // The link record cache and the dlszone kstat (docs/debugging.md).
    // They exist once per kernel: another dlszone object loaded first
    // (the ktest module) keeps them, and this one goes without.
    let obs = dlszone::kmod::obs::init().is_ok();
    if !obs {
        k.warn(c"dls: the dlszone kstat and link record cache exist already; not created again");
    }
    let d = Dls::new(Sys::default(), Some(dls_link_kstat_update));
    if obs {
        dlszone::kmod::obs::show(d.registry());
    }
    OBS.store(obs, Ordering::Release);
    devnet_need_rebuild.store(0, Ordering::Release);
    DLS.store(Arc::into_raw(d).cast_mut(), Ordering::Release);
    k.netstack_register(dls_stack_create, dls_stack_shutdown, dls_stack_destroy);
}

/// `dls_mgmt_fini()`: called by `misc/dls`'s `_fini` after
/// `dls_link_fini()` succeeded. Sleeps.
#[unsafe(no_mangle)]
#[allow(clippy::clone_on_copy, reason = "the kernel's Sys is Copy, the host's is not")]
pub extern "C" fn dls_mgmt_fini() {
    let Some(d) = dls() else { return };
    let k = Sys::default();
    k.netstack_unregister();
    k.door_close();
    d.wait_tasks();
    d.fini();
    let obs = OBS.swap(false, Ordering::AcqRel);
    if obs {
        dlszone::kmod::obs::hide();
    }
    let p = DLS.swap(ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: `p` came from Arc::into_raw in dls_mgmt_init() and is
        // given back exactly once, here, after the swap made it
        // unreachable to new callers (and no caller remains: see dls()).
        drop(unsafe { Arc::from_raw(p) });
    }
    if obs && dlszone::kmod::obs::fini().is_err() {
        k.warn(c"dls: link records outlive dls; the link record cache is kept");
    }
    k.fini();
}

// ---- the dlmgmtd door ----------------------------------------------------------

/// `dls_mgmt_door_set()`: dlmgmtd registers (`B_TRUE`) or withdraws its
/// door.
#[unsafe(no_mangle)]
pub extern "C" fn dls_mgmt_door_set(start: BooleanT) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    let r = d.door_set(start != 0);
    flag_rebuild(d);
    rc(r)
}

/// `dls_mgmt_create()`.
///
/// # Safety
///
/// `devname` is NULL or a C string; `linkidp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_create(
    devname: *const c_char,
    dev: Dev,
    class: u32,
    media: u32,
    persist: BooleanT,
    linkidp: *mut u32,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if linkidp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: by the contract.
    let name = match unsafe { c_str(devname, 256) } {
        Ok(n) => n,
        // Gate: a name that does not fit in MAXNAMELEN is EINVAL.
        Err(Errno::ENAMETOOLONG) => return Errno::EINVAL.to_raw(),
        Err(e) => return e.to_raw(),
    };
    let r = upcall::create(
        d.kernel().door(),
        name,
        u64::from(getmajor(dev)),
        u64::from(getminor(dev)),
        DatalinkClass(class),
        media,
        persist != 0,
    );
    match r {
        Ok(id) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { linkidp.write(id) };
            0
        }
        Err(e) => e.get(),
    }
}

/// `dls_mgmt_destroy()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_mgmt_destroy(linkid: u32, persist: BooleanT) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    match upcall::destroy(d.kernel().door(), linkid, persist != 0) {
        Ok(()) => 0,
        Err(e) => e.get(),
    }
}

/// `dls_mgmt_update()`. On `EEXIST` both outputs are written (the
/// conflicting link and its media), as in gate.
///
/// # Safety
///
/// `devname` is NULL or a C string; `mediap`, `linkidp` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_update(
    devname: *const c_char,
    media: u32,
    novanity: BooleanT,
    mediap: *mut u32,
    linkidp: *mut u32,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if mediap.is_null() || linkidp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: by the contract.
    let name = match unsafe { c_str(devname, 256) } {
        Ok(n) => n,
        Err(Errno::ENAMETOOLONG) => return Errno::EINVAL.to_raw(),
        Err(e) => return e.to_raw(),
    };
    match upcall::update(d.kernel().door(), name, media, novanity != 0) {
        Ok(id) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { linkidp.write(id) };
            0
        }
        Err(UpdateError::Conflict(c)) => {
            // SAFETY: as above.
            unsafe {
                linkidp.write(c.linkid);
                mediap.write(c.media);
            }
            Errno::EEXIST.to_raw()
        }
        Err(e @ UpdateError::Other(_)) => e.errno().get(),
    }
}

/// `dls_mgmt_get_linkinfo()`: any output may be NULL; `link` has
/// `MAXLINKNAMELEN` bytes.
///
/// # Safety
///
/// Each pointer is NULL or writable (`link` for 32 bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_get_linkinfo(
    linkid: u32,
    link: *mut c_char,
    classp: *mut u32,
    mediap: *mut u32,
    flagsp: *mut u32,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    match upcall::get_linkinfo(d.kernel().door(), linkid) {
        Ok(info) => {
            if !link.is_null() {
                // SAFETY: `link` has MAXLINKNAMELEN writable bytes by the
                // contract; the field is exactly that long.
                unsafe {
                    ptr::copy_nonoverlapping(info.name_field().as_ptr(), link.cast::<u8>(), 32)
                };
            }
            // SAFETY: each is NULL or writable by the contract.
            unsafe {
                put(classp, info.class.0);
                put(mediap, info.media);
                put(flagsp, info.flags.0);
            }
            0
        }
        Err(e) => e.get(),
    }
}

/// `dls_mgmt_get_linkid()`: the id of `link` in the caller's zone. A name
/// that cannot exist (no NUL in its first `MAXLINKNAMELEN` bytes, empty)
/// is `ENOENT` without an upcall.
///
/// # Safety
///
/// `link` is NULL or a C string (or 32 readable bytes); `linkid` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_get_linkid(link: *const c_char, linkid: *mut u32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if linkid.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: by the contract.
    let name = match unsafe { c_str(link, 32) } {
        Ok(n) => n,
        Err(Errno::ENAMETOOLONG) => return Errno::ENOENT.to_raw(),
        Err(e) => return e.to_raw(),
    };
    match upcall::get_linkid(d.kernel().door(), name, None) {
        Ok(id) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { linkid.write(id) };
            0
        }
        Err(e) => e.get(),
    }
}

/// `dls_mgmt_get_next()`: `DATALINK_INVALID_LINKID` on any failure.
#[unsafe(no_mangle)]
pub extern "C" fn dls_mgmt_get_next(linkid: u32, class: u32, dmedia: u64, flags: u32) -> u32 {
    let Some(d) = dls() else { return 0 };
    upcall::get_next(
        d.kernel().door(),
        linkid,
        DatalinkClass(class),
        DatalinkMedia(dmedia),
        LinkFlags(flags),
    )
}

/// `dls_mgmt_get_phydev()`: every failure is `EINVAL`, as in gate.
///
/// # Safety
///
/// `devp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_get_phydev(linkid: u32, devp: *mut Dev) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if devp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    match d.mgmt_phydev(LinkId(linkid)) {
        Ok(dev) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { devp.write(dev) };
            0
        }
        Err(_) => Errno::EINVAL.to_raw(),
    }
}

/// `dls_mgmt_linkprop_init()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_mgmt_linkprop_init(linkid: u32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    match upcall::linkprop_init(d.kernel().door(), linkid) {
        Ok(()) => 0,
        Err(e) => e.get(),
    }
}

// ---- life cycle -------------------------------------------------------------

/// `dls_devnet_create()`. `mh` is NULL: `EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_create(mh: *mut c_void, linkid: u32, zoneid: i32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if mh.is_null() {
        return Errno::EINVAL.to_raw();
    }
    let r = d.create(MacHandle(mh as usize), LinkId(linkid), ZoneId(zoneid));
    flag_rebuild(d);
    rc(r)
}

/// `dls_devnet_recreate()`. Link id 0 is `EINVAL` (gate panics).
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_recreate(mh: *mut c_void, linkid: u32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if mh.is_null() {
        return Errno::EINVAL.to_raw();
    }
    let r = d.recreate(MacHandle(mh as usize), LinkId(linkid));
    flag_rebuild(d);
    rc(r)
}

/// `dls_devnet_destroy()`: `*idp` is set to the id the link had (invalid
/// if none).
///
/// # Safety
///
/// `idp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_destroy(
    mh: *mut c_void,
    idp: *mut u32,
    wait: BooleanT,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if idp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: checked non-NULL; writable by the contract.
    unsafe { idp.write(0) };
    if mh.is_null() {
        return Errno::EINVAL.to_raw();
    }
    let (r, id) = d.destroy(MacHandle(mh as usize), wait != 0);
    // SAFETY: as above.
    unsafe { idp.write(id.0) };
    flag_rebuild(d);
    rc(r)
}

/// `dls_devnet_rename()`.
///
/// # Safety
///
/// `link` is NULL or a C string (or 32 readable bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_rename(id1: u32, id2: u32, link: *const c_char) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    // SAFETY: by the contract.
    let name = match unsafe { c_str(link, 32) } {
        Ok(n) => n,
        Err(e) => return e.to_raw(),
    };
    let r = d.rename(LinkId(id1), LinkId(id2), name);
    flag_rebuild(d);
    rc(r)
}

// ---- holds --------------------------------------------------------------------

/// Writes a new handle, or returns the errno.
///
/// # Safety
///
/// `ddhp` is NULL or writable.
unsafe fn out_handle(ddhp: *mut DlHandle, r: CResult<Handle>) -> c_int {
    match r {
        Ok(h) => {
            // SAFETY: the caller checked `ddhp`; writable by the contract.
            unsafe { ddhp.write(to_c_handle(h)) };
            0
        }
        Err(e) => e.to_raw(),
    }
}

/// Takes a hold with `f` and writes its handle to `ddhp`.
///
/// # Safety
///
/// `ddhp` is NULL or writable.
unsafe fn hold_into(ddhp: *mut DlHandle, f: impl FnOnce(&Dls<Sys>) -> CResult<Handle>) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if ddhp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: checked non-NULL; writable by the contract.
    unsafe { out_handle(ddhp, f(d)) }
}

/// `dls_devnet_hold()`: a long hold by id.
///
/// # Safety
///
/// `ddhp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold(linkid: u32, ddhp: *mut DlHandle) -> c_int {
    // SAFETY: `ddhp` is NULL or writable by the contract.
    unsafe { hold_into(ddhp, |d| d.hold(LinkId(linkid))) }
}

/// `dls_devnet_hold_tmp()`.
///
/// # Safety
///
/// `ddhp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold_tmp(linkid: u32, ddhp: *mut DlHandle) -> c_int {
    // SAFETY: `ddhp` is NULL or writable by the contract.
    unsafe { hold_into(ddhp, |d| d.hold_tmp(LinkId(linkid))) }
}

/// `dls_devnet_rele_tmp()`. A handle that holds nothing is counted and
/// ignored.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_rele_tmp(ddh: DlHandle) {
    if let Some(d) = dls() {
        let _ = d.rele_tmp(handle(ddh));
    }
}

/// `dls_devnet_hold_tmp_by_link()`: by the MAC name at the start of the
/// `dls_link_t` (`dl_name`).
///
/// # Safety
///
/// `dlp` is NULL or a `dls_link_t` (whose first member is its MAC name);
/// `ddhp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold_tmp_by_link(
    dlp: *mut c_void,
    ddhp: *mut DlHandle,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if ddhp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: `dl_name`, a char[MAXNAMELEN], is the first member of a
    // dls_link_t, by the contract.
    let mac = match unsafe { c_str(dlp.cast::<c_char>(), 256) } {
        Ok(m) => m,
        Err(Errno::EFAULT) => return Errno::EFAULT.to_raw(),
        Err(_) => return Errno::ENOENT.to_raw(),
    };
    let r = d.hold_tmp_by_mac(mac).map_err(|e| if e == Errno::EINVAL { Errno::ENOENT } else { e });
    // SAFETY: checked non-NULL.
    unsafe { out_handle(ddhp, r) }
}

/// `dls_devnet_hold_link()`: a temporary hold and the `dls_link_t`.
///
/// # Safety
///
/// `ddhp` and `dlpp` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold_link(
    linkid: u32,
    ddhp: *mut DlHandle,
    dlpp: *mut *mut c_void,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if ddhp.is_null() || dlpp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    match d.hold_link(LinkId(linkid)) {
        Ok((h, dlp)) => {
            // SAFETY: both checked non-NULL; writable by the contract.
            unsafe {
                ddhp.write(to_c_handle(h));
                dlpp.write(dlp.0 as *mut c_void);
            }
            0
        }
        Err(e) => e.to_raw(),
    }
}

/// `dls_devnet_rele_link()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_rele_link(ddh: DlHandle, dlp: *mut c_void) {
    if let Some(d) = dls() {
        if dlp.is_null() {
            let _ = d.rele_tmp(handle(ddh));
            return;
        }
        let _ = d.rele_link(handle(ddh), DlsLinkPtr(dlp as usize));
    }
}

/// `dls_devnet_hold_by_dev()`: the long hold of a DLPI stream.
///
/// # Safety
///
/// `ddhp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold_by_dev(dev: Dev, ddhp: *mut DlHandle) -> c_int {
    // SAFETY: `ddhp` is NULL or writable by the contract.
    unsafe { hold_into(ddhp, |d| d.hold_by_dev(dev)) }
}

/// `dls_devnet_rele()`. One release too many is counted and ignored
/// (gate panics).
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_rele(ddh: DlHandle) {
    if let Some(d) = dls() {
        let _ = d.rele(handle(ddh));
    }
}

/// `dls_devnet_open()`: the `/dev/net` node `link` of the caller's zone.
///
/// # Safety
///
/// `link` is NULL or a C string (or 32 readable bytes); `dhp`, `devp` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_open(
    link: *const c_char,
    dhp: *mut DlHandle,
    devp: *mut Dev,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if dhp.is_null() || devp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: by the contract.
    let name = match unsafe { c_str(link, 32) } {
        Ok(n) => n,
        Err(Errno::ENAMETOOLONG) => return Errno::ENOENT.to_raw(),
        Err(e) => return e.to_raw(),
    };
    let r = d.open(name).map_err(|e| if e == Errno::EINVAL { Errno::ENOENT } else { e });
    flag_rebuild(d);
    match r {
        Ok((h, dev)) => {
            // SAFETY: both checked non-NULL; writable by the contract.
            unsafe {
                dhp.write(to_c_handle(h));
                devp.write(dev);
            }
            0
        }
        Err(e) => e.to_raw(),
    }
}

/// `dls_devnet_close()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_close(ddh: DlHandle) {
    if let Some(d) = dls() {
        let _ = d.close(handle(ddh));
        flag_rebuild(d);
    }
}

/// `dls_devnet_prop_task_wait()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_prop_task_wait(ddh: DlHandle) {
    if let Some(d) = dls() {
        let _ = d.prop_task_wait_handle(handle(ddh));
    }
}

// ---- zones ------------------------------------------------------------------

/// `dls_devnet_setzid()`: gate's two-argument form (not transient).
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_setzid(ddh: DlHandle, zid: i32) -> c_int {
    dls_devnet_setzid_transient(ddh, zid, 0)
}

/// `dls_devnet_setzid_transient()` (IPD 3; SmartOS' three-argument
/// `dls_devnet_setzid()`).
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_setzid_transient(
    ddh: DlHandle,
    zid: i32,
    transient: BooleanT,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    let linkid = match d.current_linkid(handle(ddh)) {
        Ok(l) => l,
        Err(e) => return e.to_raw(),
    };
    let r = d.setzid(linkid, ZoneId(zid), transient != 0);
    flag_rebuild(d);
    rc(r)
}

/// `dls_devnet_getzid()`: `ALL_ZONES` (-1) for a handle that holds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_getzid(ddh: DlHandle) -> i32 {
    dls().and_then(|d| d.getzid(handle(ddh)).ok()).map_or(ALL_ZONES, |z| z.0)
}

/// `dls_devnet_getownerzid()`: `ALL_ZONES` (-1) for a handle that holds
/// nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_getownerzid(ddh: DlHandle) -> i32 {
    dls().and_then(|d| d.getownerzid(handle(ddh)).ok()).map_or(ALL_ZONES, |z| z.0)
}

/// `dls_devnet_islinkvisible()`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_islinkvisible(linkid: u32, zid: i32) -> BooleanT {
    dls().is_some_and(|d| d.islinkvisible(LinkId(linkid), ZoneId(zid))) as BooleanT
}

// ---- queries -----------------------------------------------------------------

/// The empty C string returned for a handle that holds nothing.
static EMPTY: [u8; 1] = [0];

/// `dls_devnet_link()`: the link's name in its current zone; `""` for a
/// handle that holds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_link(ddh: DlHandle) -> *const c_char {
    let p = dls().and_then(|d| d.link_ptr(handle(ddh)).ok()).unwrap_or(EMPTY.as_ptr());
    p.cast()
}

/// `dls_devnet_mac()`: the MAC name; `""` for a handle that holds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_mac(ddh: DlHandle) -> *const c_char {
    let p = dls().and_then(|d| d.mac_ptr(handle(ddh)).ok()).unwrap_or(EMPTY.as_ptr());
    p.cast()
}

/// `dls_devnet_linkid()`: `DATALINK_INVALID_LINKID` for a handle that
/// holds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_linkid(ddh: DlHandle) -> u32 {
    dls().and_then(|d| d.linkid(handle(ddh)).ok()).map_or(0, |l| l.0)
}

/// `dls_devnet_macname2linkid()`: no visibility check; a name that cannot
/// be a MAC name is `ENOENT`, as gate's failed lookup.
///
/// # Safety
///
/// `mac` is NULL or a C string (or 256 readable bytes); `linkidp` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_macname2linkid(mac: *const c_char, linkidp: *mut u32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if linkidp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: by the contract.
    let r = match unsafe { c_str(mac, 256) } {
        Ok(name) => d.macname2linkid(name),
        Err(e) => Err(e),
    };
    match r {
        Ok(id) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { linkidp.write(id.0) };
            0
        }
        Err(Errno::EFAULT) => Errno::EFAULT.to_raw(),
        Err(_) => Errno::ENOENT.to_raw(),
    }
}

/// `dls_devnet_dev2linkid()`.
///
/// # Safety
///
/// `linkidp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_dev2linkid(dev: Dev, linkidp: *mut u32) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if linkidp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    match d.dev2linkid(dev) {
        Ok(id) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { linkidp.write(id.0) };
            0
        }
        Err(e @ Errno::EINVAL) => e.to_raw(),
        Err(_) => Errno::ENOENT.to_raw(),
    }
}

/// `dls_devnet_phydev()`.
///
/// # Safety
///
/// `devp` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_phydev(linkid: u32, devp: *mut Dev) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if devp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    match d.phydev(LinkId(linkid)) {
        Ok(dev) => {
            // SAFETY: checked non-NULL; writable by the contract.
            unsafe { devp.write(dev) };
            0
        }
        Err(Errno::ENOENT) => Errno::ENOENT.to_raw(),
        Err(_) => Errno::EINVAL.to_raw(),
    }
}

/// `dls_devnet_rebuild()`: reads and clears `devnet_need_rebuild`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_rebuild() -> BooleanT {
    if let Some(d) = dls() {
        flag_rebuild(d);
    }
    devnet_need_rebuild.swap(0, Ordering::AcqRel)
}

// ---- IPD 3 -------------------------------------------------------------------

/// `dls_devnet_hold_zlink()`.
///
/// # Safety
///
/// `cr` is NULL or a credential; `link` NULL or a C string (or 32 readable
/// bytes); `ddhp` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_hold_zlink(
    cr: *const c_void,
    zoneid: i32,
    link: *const c_char,
    flags: u32,
    ddhp: *mut DlHandle,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if ddhp.is_null() || link.is_null() {
        return Errno::EFAULT.to_raw();
    }
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    // SAFETY: by the contract.
    let name = match unsafe { c_str(link, 32) } {
        Ok(n) => n,
        Err(e) => return e.to_raw(),
    };
    if name.is_empty() {
        return Errno::EINVAL.to_raw();
    }
    let zone = if zoneid == ALL_ZONES { caller } else { ZoneId(zoneid) };
    if zone.validate().is_err() {
        return Errno::EINVAL.to_raw();
    }
    let tmp = match flags {
        DLS_HOLD_TMP => true,
        DLS_HOLD_LONG => false,
        _ => return Errno::EINVAL.to_raw(),
    };
    // SAFETY: checked non-NULL.
    unsafe { out_handle(ddhp, d.hold_zlink(caller, zone, name, tmp)) }
}

/// `dls_devnet_release()` (IPD 3): releases a handle of any kind, with
/// an errno where `dls_devnet_rele()` and kin are `void`.
#[unsafe(no_mangle)]
pub extern "C" fn dls_devnet_release(ddh: DlHandle) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    let r = d.release(handle(ddh));
    flag_rebuild(d);
    rc(r)
}

/// `dls_zone_recover()`.
///
/// # Safety
///
/// `cr` is NULL or a credential; `res` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_zone_recover(
    cr: *const c_void,
    zoneid: i32,
    uniqid: u64,
    timeout_ms: u32,
    flags: u32,
    res: *mut DlsRecoverResult,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if res.is_null() {
        return Errno::EFAULT.to_raw();
    }
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    if !caller.is_global() {
        return Errno::EACCES.to_raw();
    }
    if flags & !DLS_RECOVER_FORCE != 0 || ZoneId(zoneid).validate().is_err() || zoneid == 0 {
        return Errno::EINVAL.to_raw();
    }
    let key = ZoneKey { id: ZoneId(zoneid), uniqid };
    let (r, sum) = d.recover(key, flags & DLS_RECOVER_FORCE != 0, timeout_ms);
    // The counts are an output of success, EBUSY and ETIMEDOUT only; any
    // other failure (ENXIO, ESTALE) leaves `*res` alone, as the header's
    // conventions say.
    if matches!(r, Ok(()) | Err(Errno::EBUSY) | Err(Errno::ETIMEDOUT)) {
        // SAFETY: checked non-NULL; writable by the contract.
        unsafe { res.write(sum) };
    }
    flag_rebuild(d);
    rc(r)
}

/// Copies records into a caller's array: `0` if all fit, else `ENOSPC`
/// with `*countp` set to the number needed.
///
/// # Safety
///
/// `buf` is NULL or writable for `*countp` records; `countp` is writable.
unsafe fn copy_out<T: Copy>(recs: &[T], buf: *mut T, countp: *mut u32) -> c_int {
    // SAFETY: `countp` is readable and writable by the contract.
    let cap = unsafe { countp.read() } as usize;
    let n = recs.len().min(cap);
    if n > 0 {
        // SAFETY: `buf` holds `cap >= n` records by the contract (the
        // caller refused NULL with a non-zero capacity).
        unsafe { ptr::copy_nonoverlapping(recs.as_ptr(), buf, n) };
    }
    let need = u32::try_from(recs.len()).unwrap_or(u32::MAX);
    // SAFETY: as above.
    unsafe { countp.write(need) };
    if recs.len() > cap { Errno::ENOSPC.to_raw() } else { 0 }
}

/// `dls_devnet_holders()`.
///
/// # Safety
///
/// `cr` is NULL or a credential; `countp` NULL or read-writable; `buf`
/// NULL or writable for `*countp` records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_holders(
    cr: *const c_void,
    linkid: u32,
    flags: u32,
    buf: *mut DlsHolder,
    countp: *mut u32,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if countp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: checked non-NULL; readable by the contract.
    if buf.is_null() && unsafe { countp.read() } > 0 {
        return Errno::EFAULT.to_raw();
    }
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    if !caller.is_global() {
        return Errno::EACCES.to_raw();
    }
    if flags & !DLS_HOLDERS_DETACHED != 0 {
        return Errno::EINVAL.to_raw();
    }
    match d.holders(caller, LinkId(linkid), flags & DLS_HOLDERS_DETACHED != 0) {
        // SAFETY: checked above; by the contract.
        Ok(recs) => unsafe { copy_out(&recs, buf, countp) },
        Err(e) => e.to_raw(),
    }
}

/// `dls_devnet_snapshot()`.
///
/// # Safety
///
/// As [`dls_devnet_holders`]; `genp` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_snapshot(
    cr: *const c_void,
    buf: *mut DlsLinkInfo,
    countp: *mut u32,
    genp: *mut u64,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if countp.is_null() {
        return Errno::EFAULT.to_raw();
    }
    // SAFETY: checked non-NULL; readable by the contract.
    if buf.is_null() && unsafe { countp.read() } > 0 {
        return Errno::EFAULT.to_raw();
    }
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    match d.snapshot(caller) {
        Ok((recs, generation)) => {
            // SAFETY: `genp` is NULL or writable by the contract.
            unsafe { put(genp, generation) };
            // SAFETY: checked above; by the contract.
            unsafe { copy_out(&recs, buf, countp) }
        }
        Err(e) => e.to_raw(),
    }
}

/// `dls_mgmt_outbox_replay()`.
///
/// # Safety
///
/// `cr` is NULL or a credential; the outputs NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_mgmt_outbox_replay(
    cr: *const c_void,
    deliveredp: *mut u32,
    pendingp: *mut u32,
) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    if !caller.is_global() {
        return Errno::EACCES.to_raw();
    }
    let (r, delivered, pending) = d.replay();
    // SAFETY: each is NULL or writable by the contract.
    unsafe {
        put(deliveredp, delivered);
        put(pendingp, pending);
    }
    rc(r)
}

/// `dls_devnet_counters()` (IPD 3).
///
/// # Safety
///
/// `cr` is NULL or a credential; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dls_devnet_counters(cr: *const c_void, out: *mut DlsCounters) -> c_int {
    let Some(d) = dls() else { return NOT_READY };
    if out.is_null() {
        return Errno::EFAULT.to_raw();
    }
    let caller = match cred_zone(d, cr) {
        Ok(z) => z,
        Err(e) => return e.to_raw(),
    };
    if !caller.is_global() {
        return Errno::EACCES.to_raw();
    }
    // SAFETY: checked non-NULL; writable by the contract.
    unsafe { out.write(d.counters()) };
    0
}

/// The global object, for the host tests' control functions and the
/// C ABI fuzz target's checks.
#[cfg(not(kmod))]
pub fn global() -> Option<&'static Dls<Sys>> {
    dls()
}
