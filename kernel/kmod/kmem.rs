//! The global allocator of the kernel build: `kmem_alloc(9F)` and
//! `kmem_free(9F)`.
//!
//! `kmem_alloc` returns memory aligned to [`KMEM_ALIGN`] (8) bytes and
//! `kmem_free` needs the size that was allocated. A Rust [`Layout`] may ask
//! for more alignment than that; such requests are over-allocated by
//! `align` bytes, the returned pointer is rounded up to `align`, and the
//! address kmem returned is stored in the 8 bytes just below it, where
//! `dealloc` finds it again:
//!
//! ```text
//! raw (8-aligned)          ptr (align-aligned)
//! |<- pad ->|<- 8: raw ->|<------------ size ------------>|   |
//! |<------------------------- size + align ------------------->|
//! ```
//!
//! Since `raw` is a multiple of 8 and `align` a power of two above 8,
//! `ptr = round_up(raw + 8, align)` is at most `raw + align`, so the block
//! always fits. The arithmetic is plain Rust ([`KmemAllocator`] over any
//! [`RawKmem`]) and is unit-tested on the host with a fake kmem that hands
//! out 8-aligned memory and checks every free.
//!
//! # Context
//!
//! The global allocator uses `KM_SLEEP`: an allocation may block until
//! memory is available and never fails, so Rust allocation (`Box::new`,
//! `Vec::push`, ...) must not be used where the kernel may not sleep
//! (interrupt context, under a spin lock). A layout whose padded size
//! would overflow `usize` (impossible for a valid `Layout`, which caps the
//! size at `isize::MAX`) gets a null pointer, which Rust turns into an
//! allocation-failure panic.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

/// Alignment every `kmem_alloc` result has (`KMEM_ALIGN` in illumos).
pub const KMEM_ALIGN: usize = 8;

/// The two kmem calls the allocator needs, so the arithmetic can be tested
/// with a fake.
///
/// # Safety
///
/// Implementations must behave like `kmem_alloc`/`kmem_zalloc`/`kmem_free`
/// with `KM_SLEEP`: `alloc` returns null or a [`KMEM_ALIGN`]-aligned block
/// of at least `size` bytes (zero-filled when `zero`), valid until passed
/// to `free` with the same `size`.
pub unsafe trait RawKmem {
    /// Allocates `size` (> 0) bytes.
    fn alloc(&self, size: usize, zero: bool) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` came from `alloc(size, _)` on this allocator and was not freed.
    unsafe fn free(&self, ptr: *mut u8, size: usize);
}

/// How a layout maps onto a kmem block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KmemRequest {
    /// Bytes to ask kmem for (and to give back to `kmem_free`).
    pub size: usize,
    /// Whether the block is over-allocated and the pointer moved up to the
    /// layout's alignment, with the raw address stored just below it.
    pub realigned: bool,
}

impl KmemRequest {
    /// The kmem request serving `layout`, or `None` if its size overflows.
    ///
    /// A zero-sized layout still gets one byte: `kmem_alloc(0)` returns
    /// null, which Rust would take for an allocation failure.
    pub const fn for_layout(layout: Layout) -> Option<KmemRequest> {
        let size = if layout.size() == 0 { 1 } else { layout.size() };
        if layout.align() <= KMEM_ALIGN {
            return Some(KmemRequest { size, realigned: false });
        }
        match size.checked_add(layout.align()) {
            Some(size) => Some(KmemRequest { size, realigned: true }),
            None => None,
        }
    }
}

/// Offset from a kmem block's start to the pointer handed to Rust for an
/// over-aligned layout: the smallest offset of at least 8 that makes
/// `raw + offset` a multiple of `align`.
pub const fn realign_offset(raw: usize, align: usize) -> usize {
    let want = raw.wrapping_add(8);
    let aligned = (want.wrapping_add(align - 1)) & !(align - 1);
    aligned.wrapping_sub(raw)
}

/// A [`GlobalAlloc`] over a kmem-like allocator.
pub struct KmemAllocator<K> {
    kmem: K,
}

impl<K> KmemAllocator<K> {
    /// Wraps `kmem`.
    pub const fn new(kmem: K) -> Self {
        KmemAllocator { kmem }
    }

    /// The underlying allocator.
    pub fn raw(&self) -> &K {
        &self.kmem
    }
}

impl<K: RawKmem> KmemAllocator<K> {
    fn allocate(&self, layout: Layout, zero: bool) -> *mut u8 {
        let Some(req) = KmemRequest::for_layout(layout) else {
            return ptr::null_mut();
        };
        let raw = self.kmem.alloc(req.size, zero);
        if raw.is_null() || !req.realigned {
            return raw;
        }
        let off = realign_offset(raw as usize, layout.align());
        // SAFETY: 8 <= off <= align (see the module comment), so both the
        // stored word at off - 8 and the block [off, off + size) lie inside
        // the size + align bytes kmem gave us; raw + off - 8 is 8-aligned
        // because raw and off are multiples of 8.
        unsafe {
            let ptr = raw.add(off);
            ptr.cast::<*mut u8>().sub(1).write(raw);
            ptr
        }
    }
}

// SAFETY: `allocate` returns null or a block of at least `layout.size()`
// bytes aligned to `layout.align()` that no one else uses (kmem's contract,
// plus the realignment above); `dealloc` frees exactly what `allocate` got.
unsafe impl<K: RawKmem> GlobalAlloc for KmemAllocator<K> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout, false)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout, true)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The same layout gives the same request as when allocating, so
        // this cannot fail for a pointer `alloc` returned.
        let Some(req) = KmemRequest::for_layout(layout) else {
            return;
        };
        let raw = if req.realigned {
            // SAFETY: `ptr` came from `allocate` with this layout, which
            // stored the kmem address in the word just below it.
            unsafe { ptr.cast::<*mut u8>().sub(1).read() }
        } else {
            ptr
        };
        // SAFETY: `raw` is the block kmem returned for `req.size` bytes.
        unsafe { self.kmem.free(raw, req.size) };
    }
}

/// The illumos kernel's kmem, with `KM_SLEEP`.
#[cfg(kmod)]
pub struct Kmem;

// SAFETY: kmem_alloc/kmem_zalloc with KM_SLEEP return KMEM_ALIGN-aligned
// blocks of the requested size (never null for a satisfiable size), and
// kmem_free takes them back with that size.
#[cfg(kmod)]
unsafe impl RawKmem for Kmem {
    fn alloc(&self, size: usize, zero: bool) -> *mut u8 {
        // SAFETY: plain allocation calls; KM_SLEEP is valid wherever Rust
        // allocation is allowed at all (see the module's Context section).
        let p = unsafe {
            if zero {
                crate::ffi::kmem_zalloc(size, crate::ffi::KM_SLEEP)
            } else {
                crate::ffi::kmem_alloc(size, crate::ffi::KM_SLEEP)
            }
        };
        p.cast::<u8>()
    }

    unsafe fn free(&self, ptr: *mut u8, size: usize) {
        // SAFETY: the caller passes a block from `alloc` with its size.
        unsafe { crate::ffi::kmem_free(ptr.cast(), size) };
    }
}

/// The allocator behind `alloc::boxed::Box`, `Vec`, `Arc`, ... in the
/// kernel build.
#[cfg(kmod)]
#[global_allocator]
static KMEM: KmemAllocator<Kmem> = KmemAllocator::new(Kmem);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::vec::Vec;

    /// A fake kmem: 8-aligned (never more) blocks from std, every live
    /// block recorded so frees can be checked against allocations.
    #[derive(Default)]
    struct FakeKmem {
        live: Mutex<HashMap<usize, usize>>,
    }

    impl FakeKmem {
        fn live(&self) -> usize {
            self.live.lock().unwrap().len()
        }
    }

    // SAFETY: blocks come from std's allocator with alignment 8, offset by
    // 8 when std happens to return a 16-aligned block, so the fake is no
    // more aligned than kmem promises; `free` checks sizes.
    unsafe impl RawKmem for FakeKmem {
        fn alloc(&self, size: usize, zero: bool) -> *mut u8 {
            let outer = Layout::from_size_align(size + 16, 16).unwrap();
            // SAFETY: non-zero size.
            let base = unsafe {
                if zero { std::alloc::alloc_zeroed(outer) } else { std::alloc::alloc(outer) }
            };
            assert!(!base.is_null());
            // Deliberately only 8-aligned: base is 16-aligned, +8 is not.
            // SAFETY: within the outer block.
            let p = unsafe { base.add(8) };
            assert_eq!(p as usize % 16, 8);
            self.live.lock().unwrap().insert(p as usize, size);
            p
        }

        unsafe fn free(&self, ptr: *mut u8, size: usize) {
            let recorded = self.live.lock().unwrap().remove(&(ptr as usize));
            assert_eq!(recorded, Some(size), "kmem_free with a wrong pointer or size");
            let outer = Layout::from_size_align(size + 16, 16).unwrap();
            // SAFETY: undoes `alloc`.
            unsafe { std::alloc::dealloc(ptr.sub(8), outer) };
        }
    }

    #[test]
    fn small_alignments_go_straight_to_kmem() {
        for align in [1, 2, 4, 8] {
            let l = Layout::from_size_align(24, align).unwrap();
            assert_eq!(
                KmemRequest::for_layout(l),
                Some(KmemRequest { size: 24, realigned: false })
            );
        }
        let zst = Layout::from_size_align(0, 8).unwrap();
        assert_eq!(KmemRequest::for_layout(zst), Some(KmemRequest { size: 1, realigned: false }));
    }

    #[test]
    fn large_alignments_are_over_allocated() {
        let l = Layout::from_size_align(100, 64).unwrap();
        assert_eq!(KmemRequest::for_layout(l), Some(KmemRequest { size: 164, realigned: true }));
        // Layout caps sizes at isize::MAX, so the padded size of even the
        // largest layout still fits; the checked_add is belt and braces.
        let huge = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
        assert_eq!(
            KmemRequest::for_layout(huge),
            Some(KmemRequest { size: isize::MAX as usize + 1, realigned: true })
        );
    }

    #[test]
    fn realign_offset_bounds() {
        for align in [16usize, 32, 64, 128, 4096] {
            for raw in (0..2 * align).step_by(8).map(|r| 0x1000_0000 + r) {
                let off = realign_offset(raw, align);
                assert!(off >= 8 && off <= align, "raw {raw:#x} align {align} off {off}");
                assert_eq!((raw + off) % align, 0);
            }
        }
    }

    #[test]
    fn every_alignment_is_honoured_and_freed_exactly() {
        let a = KmemAllocator::new(FakeKmem::default());
        let mut blocks = Vec::new();
        for align in [1usize, 2, 4, 8, 16, 32, 64, 256, 4096] {
            for size in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: valid layout; freed below with the same layout.
                let p = unsafe { a.alloc(l) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "size {size} align {align}");
                // The whole block is writable without touching the stored
                // kmem address below it.
                // SAFETY: `p` has `size` bytes.
                unsafe { p.write_bytes(0xa5, size) };
                blocks.push((p, l));
            }
        }
        assert_eq!(a.raw().live(), blocks.len());
        for (p, l) in blocks {
            // SAFETY: allocated above with `l`.
            unsafe { a.dealloc(p, l) };
        }
        assert_eq!(a.raw().live(), 0);
    }

    #[test]
    fn zeroed_allocations_are_zero() {
        let a = KmemAllocator::new(FakeKmem::default());
        for align in [8usize, 64] {
            let l = Layout::from_size_align(200, align).unwrap();
            // SAFETY: valid layout; freed below.
            let p = unsafe { a.alloc_zeroed(l) };
            // SAFETY: `p` has 200 initialised bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, 200) };
            assert!(bytes.iter().all(|&b| b == 0));
            // SAFETY: allocated above with `l`.
            unsafe { a.dealloc(p, l) };
        }
        assert_eq!(a.raw().live(), 0);
    }

    #[test]
    fn realloc_keeps_contents_across_alignment_classes() {
        let a = KmemAllocator::new(FakeKmem::default());
        let l = Layout::from_size_align(32, 64).unwrap();
        // SAFETY: valid layout.
        let p = unsafe { a.alloc(l) };
        // SAFETY: 32 bytes at p.
        unsafe { p.copy_from_nonoverlapping(b"0123456789abcdef0123456789abcdef".as_ptr(), 32) };
        // SAFETY: p was allocated with l; the new size is non-zero.
        let q = unsafe { a.realloc(p, l, 4096) };
        assert_eq!(q as usize % 64, 0);
        // SAFETY: the first 32 bytes were copied by realloc.
        let moved = unsafe { std::slice::from_raw_parts(q, 32) };
        assert_eq!(moved, b"0123456789abcdef0123456789abcdef");
        // SAFETY: q is live with the grown layout.
        unsafe { a.dealloc(q, Layout::from_size_align(4096, 64).unwrap()) };
        assert_eq!(a.raw().live(), 0);
    }
}
