//! The per-link "link" kstats (`dls_stat_create()` in `dls_stat.c`, which
//! fills and updates the named statistics; this module creates, deletes
//! and reads back the one field the object owns).
//!
//! A link kstat's `ks_private` is the link id (an integer, never a
//! pointer), so the update callback can find the link without trusting a
//! pointer that may be stale. `kstat_delete()` waits for a reader inside
//! the update callback, which takes registry locks: it is never called
//! with a registry lock held (`docs/locking.md`).

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

/// The value stored in `ks_private` for link `linkid`.
pub const fn private_of(linkid: u32) -> usize {
    linkid as usize
}

/// The link id a `ks_private` value holds; `None` for a value no link id
/// was stored as.
pub fn linkid_of(private: usize) -> Option<u32> {
    u32::try_from(private).ok()
}

/// A kstat's `ks_update`: `int (*)(kstat_t *, int)`.
pub type Update =
    unsafe extern "C" fn(*mut core::ffi::c_void, core::ffi::c_int) -> core::ffi::c_int;

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ffi::{c_int, c_void};
    use core::ptr;

    use super::{Update, linkid_of, private_of};
    use crate::errno::Errno;
    use crate::ffi;
    use crate::kmod::cabi;

    /// `ks_update` as bindgen types it.
    type CUpdate = unsafe extern "C" fn(*mut ffi::kstat, c_int) -> c_int;

    /// Creates and installs the "link" kstat `name` (a C string) in zone
    /// `zid`: `dls_stat_create("link", 0, name, zid, update, linkid,
    /// &ksp)`. The kstat as an opaque integer, or `None`. Sleeps.
    pub fn create_link(name: &[u8], zid: i32, linkid: u32, update: Update) -> Option<usize> {
        let name = cabi::arg(name).ok()?;
        // SAFETY: the two signatures differ only in the pointee type of
        // the first parameter (`kstat_t *` either way at the ABI): same
        // calling convention.
        let update = unsafe { core::mem::transmute::<Update, CUpdate>(update) };
        let mut ksp: *mut ffi::kstat_t = ptr::null_mut();
        // SAFETY: NUL-terminated strings; `ksp` is written on success. The
        // private value is a number, never dereferenced.
        let err = unsafe {
            ffi::dls_stat_create(
                c"link".as_ptr(),
                0,
                name.as_ptr(),
                zid,
                Some(update),
                ptr::without_provenance_mut::<c_void>(private_of(linkid)),
                &mut ksp,
            )
        };
        (err == 0 && !ksp.is_null()).then(|| cabi::handle(ksp))
    }

    /// `kstat_delete()` of a kstat from [`create_link`]; 0 is ignored.
    /// Waits for readers: never with a registry lock held.
    pub fn delete(ks: usize) {
        if ks != 0 {
            // SAFETY: a kstat `create_link` returned (the seam's contract),
            // deleted once.
            unsafe { ffi::kstat_delete(cabi::ptr(ks)) };
        }
    }

    /// The link id a "link" kstat was created for (its `ks_private`);
    /// `None` for a null kstat.
    pub fn linkid(ksp: usize) -> Option<u32> {
        let ksp: *const ffi::kstat_t = cabi::ptr::<ffi::kstat_t>(ksp);
        if ksp.is_null() {
            return None;
        }
        // SAFETY: the kstat the framework passed to the update callback
        // (the seam's contract), valid during the callback; ks_private's
        // offset is pinned in ffi/layout.rs.
        let private = unsafe { (*ksp).ks_private };
        linkid_of(private.addr())
    }

    /// `dls_stat_update(ksp, dlp, rw)`; `EINVAL` for a null kstat or link.
    pub fn update(ksp: usize, dlp: usize, rw: c_int) -> c_int {
        if ksp == 0 || dlp == 0 {
            return Errno::EINVAL.to_raw();
        }
        // SAFETY: the kstat being updated and a dls_link_t kept alive by
        // the caller's temporary hold (the seam's contract).
        unsafe { ffi::dls_stat_update(cabi::ptr(ksp), cabi::ptr(dlp), rw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_holds_the_link_id() {
        for id in [1u32, 7, u32::MAX] {
            assert_eq!(linkid_of(private_of(id)), Some(id));
        }
        assert_eq!(linkid_of(usize::MAX), None);
    }
}
