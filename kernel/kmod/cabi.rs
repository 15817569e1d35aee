//! The C boundary's small conventions: names Rust hands to C, names C
//! hands back, and the `int` error returns of kernel functions.
//!
//! The kernel wrappers take names as byte slices that carry their NUL (the
//! registry keeps MAC names that way), and C reads up to the first NUL.
//! A slice without one would make C read past its end, so it is refused
//! with `EINVAL` before any call; this is the only check, and it never
//! panics. Names coming back from C (`mac_name()`, `ddi_major_to_name()`)
//! are copied into the caller's buffer, or refused when they do not fit.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::ffi::{CStr, c_char, c_int};

use crate::door::RawErrno;
use crate::errno::Errno;

/// The C string at the start of `name`: everything up to its first NUL.
/// `EINVAL` when `name` holds no NUL (C would read past its end).
pub fn arg(name: &[u8]) -> Result<&CStr, RawErrno> {
    CStr::from_bytes_until_nul(name).map_err(|_| RawErrno::from(Errno::EINVAL))
}

/// A kernel function's `int` result: 0 is success, anything else its errno
/// (a value that is no illumos errno, which no kernel function returns, is
/// `EINVAL`).
pub fn check(err: c_int) -> Result<(), RawErrno> {
    if err == 0 {
        Ok(())
    } else {
        Err(RawErrno::new(i64::from(err)).unwrap_or(Errno::EINVAL.into()))
    }
}

/// A kernel pointer as the opaque integer the seam carries: its address,
/// with its provenance exposed so that [`ptr`] can turn it back.
pub fn handle<T>(p: *mut T) -> usize {
    p.expose_provenance()
}

/// The kernel pointer an integer from [`handle`] stands for (null for 0).
pub fn ptr<T>(h: usize) -> *mut T {
    core::ptr::with_exposed_provenance_mut(h)
}

/// `MAXNAMELEN` (`sys/param.h`): the size, NUL included, of every name the
/// kernel hands back here (MAC and driver names).
pub const MAXNAMELEN: usize = 256;

/// The text of the C string at `p` (without its NUL), reading at most
/// `max` bytes; `None` if no NUL comes first. Unlike `CStr::from_ptr` it
/// never reads an unbounded run of memory, and it needs no `strlen` from
/// the kernel.
///
/// # Safety
///
/// `p` is non-null, and the bytes from `p` up to its first NUL (or `max`
/// bytes, whichever is shorter) are readable and stay unchanged for `'a`.
pub unsafe fn from_c<'a>(p: *const c_char, max: usize) -> Option<&'a [u8]> {
    let len = (0..max).find(|&i| {
        // SAFETY: `i` is below `max` and no NUL came before it, so the
        // byte is within the readable run the caller promises.
        unsafe { p.add(i).read() == 0 }
    })?;
    // SAFETY: the `len` bytes before the NUL are readable and unchanged
    // for `'a` (the caller's promise).
    Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Copies the text of `src` (no NUL inside) into `buf`, followed by a NUL
/// when `nul`; returns the text's length, or `None` if it does not fit (then
/// `buf` is left as it was).
pub fn copy_out(src: &[u8], buf: &mut [u8], nul: bool) -> Option<usize> {
    let need = src.len().checked_add(usize::from(nul))?;
    let dst = buf.get_mut(..need)?;
    let (text, end) = dst.split_at_mut(src.len());
    text.copy_from_slice(src);
    if let Some(b) = end.first_mut() {
        *b = 0;
    }
    Some(src.len())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arg_needs_a_nul_and_stops_at_the_first() {
        assert_eq!(arg(b"e1000g0\0").unwrap().to_bytes(), b"e1000g0");
        assert_eq!(arg(b"net0\0junk\0").unwrap().to_bytes(), b"net0");
        assert_eq!(arg(b"\0").unwrap().to_bytes(), b"");
        assert_eq!(arg(b"no-nul").unwrap_err().get(), 22);
        assert_eq!(arg(b"").unwrap_err().get(), 22);
    }

    #[test]
    fn check_maps_kernel_returns() {
        assert_eq!(check(0), Ok(()));
        assert_eq!(check(16).unwrap_err().get(), 16);
        assert_eq!(check(30).unwrap_err().get(), 30);
        assert_eq!(check(-1).unwrap_err().get(), 22);
        assert_eq!(check(4096).unwrap_err().get(), 22);
    }

    #[test]
    fn handles_round_trip() {
        let mut x = 5u32;
        let h = handle(&raw mut x);
        assert_ne!(h, 0);
        assert_eq!(ptr::<u32>(h), &raw mut x);
        assert!(ptr::<u32>(0).is_null());
    }

    #[test]
    fn from_c_is_bounded() {
        let s = b"vnic0\0rest";
        // SAFETY: a live array, read within its bounds.
        unsafe {
            assert_eq!(from_c(s.as_ptr().cast(), s.len()), Some(&b"vnic0"[..]));
            assert_eq!(from_c(s.as_ptr().cast(), 6), Some(&b"vnic0"[..]));
            assert_eq!(from_c(s.as_ptr().cast(), 5), None);
            assert_eq!(from_c(c"".as_ptr(), 1), Some(&b""[..]));
            assert_eq!(from_c(b"x".as_ptr().cast(), 0), None);
        }
    }

    #[test]
    fn copy_out_with_and_without_nul() {
        let mut buf = [0xffu8; 8];
        assert_eq!(copy_out(b"igb1", &mut buf, true), Some(4));
        assert_eq!(&buf[..5], b"igb1\0");
        assert_eq!(buf[5], 0xff);

        let mut buf = [0xffu8; 4];
        assert_eq!(copy_out(b"igb1", &mut buf, false), Some(4));
        assert_eq!(&buf, b"igb1");
        // With the NUL it no longer fits, and nothing is written.
        let mut buf = [0xffu8; 4];
        assert_eq!(copy_out(b"igb1", &mut buf, true), None);
        assert_eq!(buf, [0xff; 4]);
        assert_eq!(copy_out(b"", &mut [], false), Some(0));
        assert_eq!(copy_out(b"", &mut [], true), None);
    }
}
