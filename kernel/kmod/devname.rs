//! Driver names and major numbers (`ddi_major_to_name()`,
//! `ddi_name_to_major()`): a physical link's MAC name is
//! `<driver><instance>`, built from and parsed into a `dev_t`.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

/// `DDI_MAJOR_T_NONE`: `(major_t)-1`, "no such driver".
pub const MAJOR_NONE: u32 = u32::MAX;

/// A major from `ddi_name_to_major()`, or `None` for "no such driver".
pub const fn major(raw: u32) -> Option<u32> {
    if raw == MAJOR_NONE { None } else { Some(raw) }
}

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use super::major;
    use crate::ffi;
    use crate::kmod::cabi;

    /// Copies the driver name of `major` into `buf` without a NUL; its
    /// length, or `None` for no such driver or a name that does not fit.
    pub fn major_to_name(major: u32, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: ddi_major_to_name() returns null or the driver's name
        // from the kernel's name table, which lives as long as the kernel.
        let p = unsafe { ffi::ddi_major_to_name(major) };
        if p.is_null() {
            return None;
        }
        // SAFETY: a NUL-terminated name of at most MAXNAMELEN bytes that
        // stays valid (see above).
        let name = unsafe { cabi::from_c(p, cabi::MAXNAMELEN) }?;
        cabi::copy_out(name, buf, false)
    }

    /// The major of driver `name` (a C string); `None` if no driver has
    /// that name or `name` has no NUL.
    pub fn name_to_major(name: &[u8]) -> Option<u32> {
        let name = cabi::arg(name).ok()?;
        // SAFETY: a NUL-terminated string; ddi_name_to_major() only reads
        // it (its parameter is `char *` for historical reasons).
        major(unsafe { ffi::ddi_name_to_major(name.as_ptr().cast_mut()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_is_no_driver() {
        assert_eq!(major(u32::MAX), None);
        assert_eq!(major(0), Some(0));
        assert_eq!(major(182), Some(182));
    }
}
