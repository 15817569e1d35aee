//! Memory in the low 2 GiB of the address space.
//!
//! Kernel-model code addresses its text and data with `R_X86_64_32S`
//! fields: 32-bit values that must sign-extend to the address. In the
//! kernel everything lives in the top 2 GiB; a Linux process has no top
//! 2 GiB, but values below 2 GiB sign-extend too. So every loaded object,
//! and every piece of the emulated kernel it refers to (call stubs,
//! retpoline thunks, data such as `mod_miscops`), is mapped below 2 GiB
//! (`MAP_32BIT`), which also keeps PC32 fields between them in range.

use std::io;
use std::ptr::NonNull;

/// The 2 GiB limit: every byte of a low mapping lies below it.
pub const LIMIT: usize = 1 << 31;

/// The page size this loader lays out with (amd64 base pages).
pub const PAGE: usize = 4096;

/// Rounds `v` up to a multiple of `align` (a power of two).
pub const fn round_up(v: usize, align: usize) -> usize {
    (v + align - 1) & !(align - 1)
}

/// Page protections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// Read and execute (text).
    ReadExec,
    /// Read only.
    Read,
    /// Read and write (data).
    ReadWrite,
}

impl Prot {
    fn bits(self) -> libc::c_int {
        match self {
            Prot::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
            Prot::Read => libc::PROT_READ,
            Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// An anonymous, zero-filled, read-write mapping below [`LIMIT`],
/// unmapped on drop.
///
/// # Invariants
///
/// `base` is the start of a live mapping of `len` bytes (a multiple of
/// [`PAGE`]) owned by this value, and `base + len <= LIMIT`.
pub struct LowMap {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing in it
// is tied to the thread that made it.
unsafe impl Send for LowMap {}
// SAFETY: `&LowMap` hands out only addresses; writes go through `&mut`.
unsafe impl Sync for LowMap {}

impl LowMap {
    /// Maps `len` bytes (rounded up to pages) below 2 GiB.
    pub fn new(len: usize) -> io::Result<LowMap> {
        let len = round_up(len.max(1), PAGE);
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave 0"))?;
        let map = LowMap { base, len };
        if map.addr() + len > LIMIT {
            // Dropping `map` unmaps it.
            return Err(io::Error::other(format!(
                "MAP_32BIT gave {:#x}+{len:#x}, above 2 GiB",
                map.addr()
            )));
        }
        Ok(map)
    }

    /// The first address.
    pub fn addr(&self) -> usize {
        self.base.as_ptr() as usize
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: at least a page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` lies inside the mapping.
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.addr() && addr < self.addr() + self.len
    }

    /// The whole mapping as bytes, for filling it in before it is
    /// protected.
    ///
    /// # Safety
    ///
    /// No page of the mapping may have been made non-writable with
    /// [`LowMap::protect`], and no code may be running from it.
    pub unsafe fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the invariant makes [base, base+len) a live mapping owned
        // by self; `&mut self` makes this the only reference; the caller
        // guarantees it is still writable.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len) }
    }

    /// Sets the protection of `[offset, offset + len)`, both page-aligned.
    pub fn protect(&self, offset: usize, len: usize, prot: Prot) -> io::Result<()> {
        assert!(offset % PAGE == 0 && len % PAGE == 0 && offset + len <= self.len);
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies inside our own mapping (asserted).
        let rc = unsafe { libc::mprotect(self.base.as_ptr().add(offset).cast(), len, prot.bits()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for LowMap {
    fn drop(&mut self) {
        // SAFETY: by the invariant this is our own live mapping; nothing
        // refers into it any more (its owner is being dropped).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_maps_are_below_two_gib_and_page_sized() {
        let m = LowMap::new(10).unwrap();
        assert!(m.addr() + m.len() <= LIMIT);
        assert_eq!(m.len(), PAGE);
        assert!(m.contains(m.addr()) && !m.contains(m.addr() + PAGE));
        m.protect(0, PAGE, Prot::Read).unwrap();
    }

    #[test]
    fn rounding() {
        assert_eq!(round_up(0, 16), 0);
        assert_eq!(round_up(1, 16), 16);
        assert_eq!(round_up(4096, 4096), 4096);
        assert_eq!(round_up(4097, 4096), 8192);
    }
}
