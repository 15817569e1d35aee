//! The kernel side of drv/dlszone: [`Sys`] over the DDI, and the driver's
//! linkage (`modldrv` over `mod_driverops`, `dev_ops`, `cb_ops`,
//! attach/detach/getinfo, `_init`/`_fini`/`_info`).
//!
//! Built only for the kernel (`cfg(kmod)`). Every function here is a thin
//! shim: it checks and converts the C arguments and calls the safe code of
//! [`entry`] and [`ops`](crate::ops). Each `unsafe` block says why it is
//! sound.
//!
//! # Life cycle
//!
//! `add_drv dlszone` loads the module (`_init`: `mod_install`), and the
//! framework attaches instance 0 (`dlszone.conf` names it, parent
//! `pseudo`): `attach` creates the one minor node `dlszone`, a character
//! node of type `DDI_PSEUDO`, which devfsadm links as `/dev/dlszone`.
//! `detach` removes it; `_fini` (`mod_remove`) succeeds only once the
//! instance is detached, which the framework does only while no open
//! remains. The driver keeps no state per open; the one piece of module
//! state is the attached `dev_info_t`, for `getinfo`.

use core::ffi::{c_char, c_int, c_uint, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use static_assertions::const_assert;

use dlszone::errno::Errno;
use dlszone::ffi;
use dlszone::kmod::linkage::{SyncCell, depends_on_is_valid, linkinfo_is_valid};

use crate::dls::DlsCred;
use crate::entry;
use crate::sys::Sys;

/// What `modinfo` shows.
const LINKINFO: &core::ffi::CStr = c"dlszone datalink zones";
const_assert!(linkinfo_is_valid(LINKINFO));

/// The minor node's name (`/devices/pseudo/dlszone@0:dlszone`).
const MINOR_NAME: &core::ffi::CStr = c"dlszone";

/// krtld loads misc/dls, which defines the IPD 3 entry points, first.
const DEPENDS_ON: [u8; 9] = *b"misc/dls\0";
const_assert!(depends_on_is_valid(&DEPENDS_ON));

/// The module's dependencies, for krtld (GNU `ld -r` writes no
/// `.dynamic`).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static _depends_on: [u8; DEPENDS_ON.len()] = DEPENDS_ON;

/// The attached instance's `dev_info_t`; null while detached.
static DIP: AtomicPtr<ffi::dev_info_t> = AtomicPtr::new(ptr::null_mut());

/// A `cred_t *` from the framework.
#[derive(Clone, Copy)]
pub(crate) struct KCred(*const ffi::cred_t);

/// [`Sys`] over the DDI.
struct Illumos;

impl Sys for Illumos {
    type Cred = KCred;

    fn copyin(&self, uaddr: u64, dst: &mut [u8], mode: i32) -> Result<(), Errno> {
        // SAFETY: `dst` is writable for its length; ddi_copyin() reads the
        // source with fault handling (a user address through copyin(), a
        // kernel one with FKIOCTL through kcopy()) and returns -1 instead
        // of faulting.
        let r = unsafe {
            ffi::ddi_copyin(
                ptr::without_provenance::<c_void>(uaddr as usize),
                dst.as_mut_ptr().cast(),
                dst.len(),
                mode,
            )
        };
        if r == 0 { Ok(()) } else { Err(Errno::EFAULT) }
    }

    fn copyout(&self, src: &[u8], uaddr: u64, mode: i32) -> Result<(), Errno> {
        // SAFETY: `src` is readable for its length; ddi_copyout() writes
        // the destination with fault handling, as ddi_copyin() reads.
        let r = unsafe {
            ffi::ddi_copyout(
                src.as_ptr().cast(),
                ptr::without_provenance_mut::<c_void>(uaddr as usize),
                src.len(),
                mode,
            )
        };
        if r == 0 { Ok(()) } else { Err(Errno::EFAULT) }
    }

    fn minor(&self, dev: u64) -> u32 {
        // SAFETY: getminor() only computes on its argument.
        unsafe { ffi::getminor(dev) }
    }

    fn zone(&self, cr: KCred) -> i32 {
        // SAFETY: the framework's credential, valid for the entry point.
        unsafe { ffi::crgetzoneid(cr.0) }
    }

    fn dl_config(&self, cr: KCred) -> Result<(), Errno> {
        // SAFETY: as in zone(); secpolicy_dl_config() may audit the check.
        let r = unsafe { ffi::secpolicy_dl_config(cr.0) };
        if r == 0 { Ok(()) } else { Err(Errno::from_raw(r).unwrap_or(Errno::EPERM)) }
    }

    fn zone_exists(&self, zid: i32) -> bool {
        // SAFETY: zone_find_by_id() takes any id; a zone it returns is
        // held and released right away.
        unsafe {
            let z = ffi::zone_find_by_id(zid);
            if z.is_null() {
                return false;
            }
            ffi::zone_rele(z);
        }
        true
    }

    fn dls_cred(&self, cr: KCred) -> DlsCred {
        // SAFETY: the framework's credential, valid for the entry point,
        // which is as long as the returned value is used.
        unsafe { DlsCred::new(cr.0.cast()) }
    }
}

// ---- cb_ops -------------------------------------------------------------------

/// `open(9E)`.
unsafe extern "C" fn dz_open(
    devp: *mut ffi::dev_t,
    flag: c_int,
    otyp: c_int,
    credp: *mut ffi::cred_t,
) -> c_int {
    if devp.is_null() {
        return Errno::EINVAL.to_raw();
    }
    // SAFETY: the framework passes a valid dev_t pointer.
    let dev = unsafe { devp.read() };
    entry::open(&Illumos, dev, flag, otyp, KCred(credp))
}

/// `close(9E)`.
unsafe extern "C" fn dz_close(
    dev: ffi::dev_t,
    flag: c_int,
    otyp: c_int,
    credp: *mut ffi::cred_t,
) -> c_int {
    entry::close(&Illumos, dev, flag, otyp, KCred(credp))
}

/// `ioctl(9E)`.
unsafe extern "C" fn dz_ioctl(
    dev: ffi::dev_t,
    cmd: c_int,
    arg: isize,
    mode: c_int,
    credp: *mut ffi::cred_t,
    rvalp: *mut c_int,
) -> c_int {
    let mut rval = 0;
    let r = entry::ioctl(&Illumos, dev, cmd, arg as u64, mode, KCred(credp), &mut rval);
    if !rvalp.is_null() {
        // SAFETY: the framework passes a writable int.
        unsafe { rvalp.write(rval) };
    }
    r
}

// ---- dev_ops ------------------------------------------------------------------

/// `getinfo(9E)`.
unsafe extern "C" fn dz_getinfo(
    _dip: *mut ffi::dev_info_t,
    cmd: ffi::ddi_info_cmd_t,
    _arg: *mut c_void,
    resultp: *mut *mut c_void,
) -> c_int {
    if resultp.is_null() {
        return ffi::DDI_FAILURE;
    }
    let v: *mut c_void = match cmd {
        ffi::ddi_info_cmd_t::DDI_INFO_DEVT2DEVINFO => {
            let dip = DIP.load(Ordering::Acquire);
            if dip.is_null() {
                return ffi::DDI_FAILURE;
            }
            dip.cast()
        }
        // One instance, 0, for every minor.
        ffi::ddi_info_cmd_t::DDI_INFO_DEVT2INSTANCE => ptr::null_mut(),
        _ => return ffi::DDI_FAILURE,
    };
    // SAFETY: checked non-NULL; the framework passes a writable slot.
    unsafe { resultp.write(v) };
    ffi::DDI_SUCCESS
}

/// `attach(9E)`: instance 0 creates the minor node.
unsafe extern "C" fn dz_attach(dip: *mut ffi::dev_info_t, cmd: ffi::ddi_attach_cmd_t) -> c_int {
    if cmd != ffi::ddi_attach_cmd_t::DDI_ATTACH || dip.is_null() {
        return ffi::DDI_FAILURE;
    }
    // SAFETY: the framework's dev_info_t, valid during attach.
    if unsafe { ffi::ddi_get_instance(dip) } != 0 {
        return ffi::DDI_FAILURE;
    }
    // SAFETY: as above; both names are NUL-terminated and only read (the
    // DDI's prototype predates const).
    let r = unsafe {
        ffi::ddi_create_minor_node(
            dip,
            MINOR_NAME.as_ptr().cast_mut(),
            ffi::S_IFCHR,
            dlszone_ioctl::DZ_MINOR,
            ffi::DDI_PSEUDO.as_ptr().cast_mut().cast(),
            0,
        )
    };
    if r != ffi::DDI_SUCCESS {
        return ffi::DDI_FAILURE;
    }
    DIP.store(dip, Ordering::Release);
    ffi::DDI_SUCCESS
}

/// `detach(9E)`: removes the minor node.
unsafe extern "C" fn dz_detach(dip: *mut ffi::dev_info_t, cmd: ffi::ddi_detach_cmd_t) -> c_int {
    if cmd != ffi::ddi_detach_cmd_t::DDI_DETACH || dip.is_null() {
        return ffi::DDI_FAILURE;
    }
    // SAFETY: the framework's dev_info_t, valid during detach; the name
    // is NUL-terminated and only read.
    unsafe { ffi::ddi_remove_minor_node(dip, MINOR_NAME.as_ptr().cast_mut()) };
    DIP.store(ptr::null_mut(), Ordering::Release);
    ffi::DDI_SUCCESS
}

/// A `nodev()`/`nulldev()` for any entry of a vector. illumos defines both
/// unprototyped (`int nodev()`), to stand in any slot; calling them with
/// arguments is what C does with every driver that uses them.
macro_rules! stub {
    ($f:path, fn($($a:ty),* $(,)?)) => {
        // SAFETY: a function taking no arguments and returning int may be
        // called through any pointer type returning int under the amd64
        // C calling convention (the caller cleans up; the callee ignores
        // the argument registers), which is how C drivers use it.
        Some(unsafe {
            core::mem::transmute::<unsafe extern "C" fn() -> c_int, unsafe extern "C" fn($($a),*) -> c_int>(
                $f,
            )
        })
    };
}

/// `struct cb_ops`.
static CB_OPS: SyncCell<ffi::cb_ops> = SyncCell::new(ffi::cb_ops {
    cb_open: Some(dz_open),
    cb_close: Some(dz_close),
    cb_strategy: stub!(ffi::nodev, fn(*mut ffi::buf)),
    cb_print: stub!(ffi::nodev, fn(ffi::dev_t, *mut c_char)),
    cb_dump: stub!(ffi::nodev, fn(ffi::dev_t, ffi::caddr_t, ffi::daddr_t, c_int)),
    cb_read: stub!(ffi::nodev, fn(ffi::dev_t, *mut ffi::uio, *mut ffi::cred_t)),
    cb_write: stub!(ffi::nodev, fn(ffi::dev_t, *mut ffi::uio, *mut ffi::cred_t)),
    cb_ioctl: Some(dz_ioctl),
    cb_devmap: stub!(
        ffi::nodev,
        fn(ffi::dev_t, ffi::devmap_cookie_t, ffi::offset_t, usize, *mut usize, ffi::uint_t)
    ),
    cb_mmap: stub!(ffi::nodev, fn(ffi::dev_t, ffi::off_t, c_int)),
    cb_segmap: stub!(
        ffi::nodev,
        fn(
            ffi::dev_t,
            ffi::off_t,
            *mut ffi::as_,
            *mut ffi::caddr_t,
            ffi::off_t,
            c_uint,
            c_uint,
            c_uint,
            *mut ffi::cred_t,
        )
    ),
    cb_chpoll: Some(ffi::nochpoll),
    cb_prop_op: Some(ffi::ddi_prop_op),
    cb_str: ptr::null_mut(),
    cb_flag: ffi::D_NEW | ffi::D_MP,
    cb_rev: ffi::CB_REV,
    cb_aread: stub!(ffi::nodev, fn(ffi::dev_t, *mut ffi::aio_req, *mut ffi::cred_t)),
    cb_awrite: stub!(ffi::nodev, fn(ffi::dev_t, *mut ffi::aio_req, *mut ffi::cred_t)),
});

/// `struct dev_ops`.
static DEV_OPS: SyncCell<ffi::dev_ops> = SyncCell::new(ffi::dev_ops {
    devo_rev: ffi::DEVO_REV,
    devo_refcnt: 0,
    devo_getinfo: Some(dz_getinfo),
    devo_identify: stub!(ffi::nulldev, fn(*mut ffi::dev_info_t)),
    devo_probe: stub!(ffi::nulldev, fn(*mut ffi::dev_info_t)),
    devo_attach: Some(dz_attach),
    devo_detach: Some(dz_detach),
    devo_reset: stub!(ffi::nodev, fn(*mut ffi::dev_info_t, ffi::ddi_reset_cmd_t)),
    devo_cb_ops: CB_OPS.get(),
    devo_bus_ops: ptr::null_mut(),
    devo_power: None,
    devo_quiesce: Some(ffi::ddi_quiesce_not_needed),
});

/// `struct modldrv`.
static MODLDRV: SyncCell<ffi::modldrv> = SyncCell::new(ffi::modldrv {
    drv_modops: &raw mut ffi::mod_driverops,
    drv_linkinfo: LINKINFO.as_ptr().cast_mut(),
    drv_dev_ops: DEV_OPS.get(),
});

/// `struct modlinkage`: revision 1, the driver, NULL-terminated.
static MODLINKAGE: SyncCell<ffi::modlinkage> = SyncCell::new(ffi::modlinkage {
    ml_rev: ffi::MODREV_1,
    ml_linkage: [
        MODLDRV.get().cast(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    ],
});

/// Module entry point: installs the driver.
#[unsafe(no_mangle)]
pub extern "C" fn _init() -> c_int {
    // SAFETY: MODLINKAGE is a valid, NULL-terminated modlinkage in .data
    // that lives as long as the module.
    unsafe { ffi::mod_install(MODLINKAGE.get()) }
}

/// Module exit point: succeeds only once the instance is detached.
#[unsafe(no_mangle)]
pub extern "C" fn _fini() -> c_int {
    // SAFETY: as in `_init`.
    unsafe { ffi::mod_remove(MODLINKAGE.get()) }
}

/// Module information entry point.
///
/// # Safety
///
/// Called by modctl with a valid `struct modinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _info(modinfop: *mut ffi::modinfo) -> c_int {
    // SAFETY: MODLINKAGE is valid; `modinfop` comes from modctl.
    unsafe { ffi::mod_info(MODLINKAGE.get(), modinfop) }
}
