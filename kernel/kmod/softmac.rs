//! softmac: the driver that gives non-GLDv3 and not-yet-attached physical
//! devices their MAC. misc/dls reaches it through genunix stubs that load
//! it on first call.

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ptr;

    use crate::door::RawErrno;
    use crate::ffi;
    use crate::kmod::cabi;

    /// `softmac_recreate()`: softmac re-creates, with upcalls to dlmgmtd,
    /// the links of devices that attached before dlmgmtd ran. Sleeps.
    pub fn recreate() {
        // SAFETY: no arguments; callable from any thread that may sleep.
        unsafe { ffi::softmac_recreate() };
    }

    /// `softmac_hold_device()`: attaches the device `dev` and holds it;
    /// the hold as an opaque integer. Sleeps (attach).
    pub fn hold_device(dev: ffi::dev_t) -> Result<usize, RawErrno> {
        let mut h: ffi::dls_dev_handle_t = ptr::null_mut();
        // SAFETY: `h` is a local the call writes on success.
        cabi::check(unsafe { ffi::softmac_hold_device(dev, &mut h) })?;
        Ok(cabi::handle(h))
    }

    /// `softmac_rele_device()` of a hold from [`hold_device`]; 0 is
    /// ignored.
    pub fn rele_device(h: usize) {
        if h == 0 {
            return;
        }
        // SAFETY: a hold `hold_device` returned (the seam's contract),
        // released once.
        unsafe { ffi::softmac_rele_device(cabi::ptr(h)) };
    }
}
