//! The host tests' allocator: the system allocator, plus a report to the
//! registry of every allocation, so an allocation made while the table
//! writer, a zone gate's mutex or the outbox mutex is held fails the test
//! that made it (`dlszone::registry::noalloc`, `docs/locking.md`).
//!
//! A test binary installs it with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: dlszone_ktest::CheckedAlloc = dlszone_ktest::CheckedAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

use dlszone::registry::noalloc::note_alloc;

/// The checking allocator (see the module docs).
pub struct CheckedAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System` upholds the `GlobalAlloc` contract; `note_alloc`
// neither allocates nor panics.
unsafe impl GlobalAlloc for CheckedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (that is, `System`) with
        // `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
