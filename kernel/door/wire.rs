//! Reading and writing native-endian fields at fixed offsets of a byte
//! buffer, without indexing that can panic.
//!
//! A door argument is plain memory shared with dlmgmtd on the same
//! machine, so fields are in the host's byte order. Offsets come from
//! `core::mem::offset_of!` on the `#[repr(C)]` mirrors in `proto.rs`,
//! whose values are pinned by compile-time assertions; a buffer of the
//! wrong size is refused before any field is touched, so the `None` arms
//! below are unreachable in practice and are reported as `EINVAL` rather
//! than trusted.

use crate::errno::{Errno, KResult};

/// A view for writing one structure's bytes.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    ok: bool,
}

impl<'a> Writer<'a> {
    /// Starts writing a structure of exactly `size` bytes into `buf`,
    /// which is zeroed first (padding and unused name bytes go out as 0).
    pub(crate) fn new(buf: &'a mut [u8], size: usize) -> KResult<Writer<'a>> {
        if buf.len() != size {
            return Err(Errno::EINVAL);
        }
        buf.fill(0);
        Ok(Writer { buf, ok: true })
    }

    fn put(&mut self, off: usize, bytes: &[u8]) {
        match off.checked_add(bytes.len()).and_then(|end| self.buf.get_mut(off..end)) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => self.ok = false,
        }
    }

    pub(crate) fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_ne_bytes());
    }

    pub(crate) fn i32(&mut self, off: usize, v: i32) {
        self.put(off, &v.to_ne_bytes());
    }

    pub(crate) fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_ne_bytes());
    }

    /// Writes a byte array field verbatim (its full length).
    pub(crate) fn bytes(&mut self, off: usize, v: &[u8]) {
        self.put(off, v);
    }

    /// Ends the structure: `EINVAL` if a field did not fit (a layout bug,
    /// which the compile-time assertions rule out).
    pub(crate) fn finish(self) -> KResult<()> {
        if self.ok { Ok(()) } else { Err(Errno::EINVAL) }
    }
}

/// A view for reading one structure's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading a structure that must be exactly `size` bytes long
    /// (`EINVAL` otherwise, as `i_dls_mgmt_upcall()` treats a reply whose
    /// size is not the expected one).
    pub(crate) fn new(buf: &'a [u8], size: usize) -> KResult<Reader<'a>> {
        if buf.len() == size { Ok(Reader { buf }) } else { Err(Errno::EINVAL) }
    }

    fn array<const N: usize>(&self, off: usize) -> KResult<[u8; N]> {
        let end = off.checked_add(N).ok_or(Errno::EINVAL)?;
        let src = self.buf.get(off..end).ok_or(Errno::EINVAL)?;
        let mut out = [0u8; N];
        out.copy_from_slice(src);
        Ok(out)
    }

    pub(crate) fn u32(&self, off: usize) -> KResult<u32> {
        self.array::<4>(off).map(u32::from_ne_bytes)
    }

    pub(crate) fn i32(&self, off: usize) -> KResult<i32> {
        self.array::<4>(off).map(i32::from_ne_bytes)
    }

    pub(crate) fn u64(&self, off: usize) -> KResult<u64> {
        self.array::<8>(off).map(u64::from_ne_bytes)
    }

    /// Reads a byte array field of `N` bytes.
    pub(crate) fn bytes<const N: usize>(&self, off: usize) -> KResult<[u8; N]> {
        self.array::<N>(off)
    }
}

/// Copies `name` into a zeroed `N`-byte C string field, as `strlcpy()`
/// would, but refusing what `strlcpy()` would truncate: `ENAMETOOLONG` if
/// the name and its NUL do not fit, `EINVAL` for an empty name or one with
/// a NUL inside.
pub(crate) fn c_string<const N: usize>(name: &[u8]) -> KResult<[u8; N]> {
    if name.is_empty() || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if name.len() >= N {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut out = [0u8; N];
    match out.get_mut(..name.len()) {
        Some(dst) => dst.copy_from_slice(name),
        None => return Err(Errno::ENAMETOOLONG),
    }
    Ok(out)
}

/// The string in a C string field: the bytes before the first NUL.
/// `EINVAL` if the field has no NUL (an unterminated name must never be
/// read past its field, which is what C's `strlen()` would do).
pub(crate) fn c_str_len(field: &[u8]) -> KResult<usize> {
    field.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)
}

/// A `boolean_t` from the wire: only `B_FALSE` (0) and `B_TRUE` (1).
pub(crate) fn boolean(v: u32) -> KResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn writer_refuses_wrong_buffer_and_overrun() {
        let mut small = [0u8; 3];
        assert_eq!(Writer::new(&mut small, 4).err(), Some(Errno::EINVAL));
        let mut buf = [0xffu8; 8];
        let mut w = Writer::new(&mut buf, 8).expect("size matches");
        w.u32(4, 7);
        assert!(w.finish().is_ok());
        assert_eq!(&buf[..4], &[0, 0, 0, 0], "zeroed first");
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf, 8).expect("size matches");
        w.u64(4, 1);
        assert_eq!(w.finish(), Err(Errno::EINVAL));
        let mut w = Writer::new(&mut buf, 8).expect("size matches");
        w.u32(usize::MAX, 1);
        assert_eq!(w.finish(), Err(Errno::EINVAL));
    }

    #[test]
    fn reader_refuses_wrong_size_and_overrun() {
        let buf = [1u8, 0, 0, 0, 2, 0, 0, 0];
        assert!(Reader::new(&buf, 7).is_err());
        assert!(Reader::new(&buf, 9).is_err());
        let r = Reader::new(&buf, 8).expect("size matches");
        assert_eq!(r.u32(0), Ok(u32::from_ne_bytes([1, 0, 0, 0])));
        assert_eq!(r.u32(6), Err(Errno::EINVAL));
        assert_eq!(r.u64(1), Err(Errno::EINVAL));
        assert_eq!(r.i32(usize::MAX - 1), Err(Errno::EINVAL));
    }

    #[test]
    fn c_strings() {
        assert_eq!(c_string::<4>(b"abc"), Ok(*b"abc\0"));
        assert_eq!(c_string::<4>(b"abcd"), Err(Errno::ENAMETOOLONG));
        assert_eq!(c_string::<4>(b""), Err(Errno::EINVAL));
        assert_eq!(c_string::<4>(b"a\0b"), Err(Errno::EINVAL));
        assert_eq!(c_str_len(b"ab\0cd"), Ok(2));
        assert_eq!(c_str_len(b"abcd"), Err(Errno::EINVAL));
        assert_eq!(c_str_len(b""), Err(Errno::EINVAL));
        assert_eq!(boolean(0), Ok(false));
        assert_eq!(boolean(1), Ok(true));
        assert_eq!(boolean(2), Err(Errno::EINVAL));
    }
}
