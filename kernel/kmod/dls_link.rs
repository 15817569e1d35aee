//! The rest of misc/dls: `dls_link_t`, the data-path object of a MAC
//! (`dls_link.c`), which the object holds, releases, moves between zones
//! and looks up by MAC name.
//!
//! Names are C strings (a byte slice with its NUL); a `dls_link_t *` is an
//! opaque integer. `hold_create`, `rele_by_name` and `setzid` are called
//! inside the MAC's perimeter, as dls requires; `find` is not (the kstat
//! update cannot enter a perimeter), and returns a pointer that stays
//! valid only while the caller's temporary hold on the link keeps its
//! `dls_link_t` from being destroyed.

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ffi::c_void;
    use core::ptr;

    use crate::door::RawErrno;
    use crate::ffi;
    use crate::kmod::cabi;

    /// `NODEV`: `(dev_t)-1`.
    pub const NODEV: ffi::dev_t = ffi::dev_t::MAX;

    /// `dls_link_hold_create()`: holds the `dls_link_t` of `mac`, creating
    /// it (and its MAC client) if needed. In the perimeter. Sleeps.
    pub fn hold_create(mac: &[u8]) -> Result<usize, RawErrno> {
        let name = cabi::arg(mac)?;
        let mut dlp: *mut ffi::dls_link_t = ptr::null_mut();
        // SAFETY: a NUL-terminated name; `dlp` is written on success.
        cabi::check(unsafe { ffi::dls_link_hold_create(name.as_ptr(), &mut dlp) })?;
        Ok(cabi::handle(dlp))
    }

    /// `dls_link_hold()`: holds an existing `dls_link_t` (`ENOENT` if
    /// there is none).
    pub fn hold(mac: &[u8]) -> Result<usize, RawErrno> {
        let name = cabi::arg(mac)?;
        let mut dlp: *mut ffi::dls_link_t = ptr::null_mut();
        // SAFETY: as in `hold_create`.
        cabi::check(unsafe { ffi::dls_link_hold(name.as_ptr(), &mut dlp) })?;
        Ok(cabi::handle(dlp))
    }

    /// `dls_link_rele()` of a hold from [`hold`] or [`hold_create`]; 0 is
    /// ignored.
    pub fn rele(dlp: usize) {
        if dlp != 0 {
            // SAFETY: a held dls_link_t (the seam's contract), released
            // once.
            unsafe { ffi::dls_link_rele(cabi::ptr(dlp)) };
        }
    }

    /// `dls_link_rele_by_name()`: drops the hold taken at create;
    /// `ENOTEMPTY` and others while the link cannot go. In the perimeter.
    pub fn rele_by_name(mac: &[u8]) -> Result<(), RawErrno> {
        let name = cabi::arg(mac)?;
        // SAFETY: a NUL-terminated name.
        cabi::check(unsafe { ffi::dls_link_rele_by_name(name.as_ptr()) })
    }

    /// `dls_link_setzid()`: moves the data path of `mac` to zone `zid`
    /// (`EBUSY` while streams opened inside its zone remain). In the
    /// perimeter.
    pub fn setzid(mac: &[u8], zid: i32) -> Result<(), RawErrno> {
        let name = cabi::arg(mac)?;
        // SAFETY: a NUL-terminated name.
        cabi::check(unsafe { ffi::dls_link_setzid(name.as_ptr(), zid) })
    }

    /// `dls_link_getzid()`: the zone the data path of `mac` is in
    /// (`ENOENT` without a `dls_link_t`). In the perimeter.
    pub fn getzid(mac: &[u8]) -> Result<i32, RawErrno> {
        let name = cabi::arg(mac)?;
        let mut zid: ffi::zoneid_t = 0;
        // SAFETY: a NUL-terminated name, and a zoneid_t to write.
        cabi::check(unsafe { ffi::dls_link_getzid(name.as_ptr(), &mut zid) })?;
        Ok(zid)
    }

    /// `dls_link_dev()`: the `dev_t` of a held `dls_link_t`; `NODEV` for 0.
    pub fn dev(dlp: usize) -> ffi::dev_t {
        if dlp == 0 {
            return NODEV;
        }
        // SAFETY: a held dls_link_t (the seam's contract).
        unsafe { ffi::dls_link_dev(cabi::ptr(dlp)) }
    }

    /// Looks the `dls_link_t` of `mac` up in `i_dls_link_hash` without a
    /// hold (`mod_hash_find()`); `None` if there is none or `mac` has no
    /// NUL. Does not sleep.
    pub fn find(mac: &[u8]) -> Option<usize> {
        let name = cabi::arg(mac).ok()?;
        // SAFETY: i_dls_link_hash is created by dls_link_init() before
        // dls_mgmt_init() runs and destroyed after dls_mgmt_fini(); a
        // plain read of the pointer.
        let hash = unsafe { (&raw const ffi::i_dls_link_hash).read() };
        if hash.is_null() {
            return None;
        }
        let mut val: ffi::mod_hash_val_t = ptr::null_mut();
        // SAFETY: a string-keyed hash; the key is only read (the
        // parameter is `void *`); `val` is written when found.
        let err = unsafe {
            ffi::mod_hash_find(hash, name.as_ptr().cast_mut().cast::<c_void>(), &mut val)
        };
        (err == 0 && !val.is_null()).then(|| cabi::handle(val))
    }
}
