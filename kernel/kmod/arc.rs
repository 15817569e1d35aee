//! The `Arc` of the kernel build: `alloc::sync::Arc`'s behaviour, with a
//! reference count that panics, rather than aborts, when it overflows.
//!
//! `alloc::sync::Arc::clone` calls `core::intrinsics::abort` when the count
//! would pass `isize::MAX`. In the kernel that is a bare `ud2`: illumos
//! reports "BAD TRAP: type=6 (#ud Invalid opcode)" and nothing says why.
//! Inlined, that check put seventeen such traps into `dlszone_ktest`. This
//! type owns its counter, so an overflow goes through the panic handler
//! (`panic.rs`) and the crash dump says "Arc reference count overflow".
//!
//! One addition: [`Arc::new_in`] takes the cell from a named kmem cache
//! ([`RecordCache`], `cache.rs`) instead of the heap, so that mdb can find
//! the registry's link records; the cell remembers where it came from and
//! its last `Drop` gives it back there.
//!
//! Only what portable code uses is provided: `new`, `clone`, `Deref`,
//! [`Arc::as_ptr`], [`Arc::ptr_eq`], [`Arc::strong_count`], `Debug`,
//! `Display`; sized values only (no `Weak`, no `Arc<dyn Trait>`). The
//! kernel backend of the sync facade re-exports it as `crate::sync::Arc`;
//! host builds use std's (or loom's, shuttle's). The memory orderings are
//! those of `alloc::sync::Arc`.

use alloc::boxed::Box;
use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use super::cache::RecordCache;

/// Where a link record's `Link` starts in its cell (a
/// `dlszone_link_cache` buffer): `docs/debugging.md`.
#[cfg(kmod)]
pub(crate) const LINK_VALUE_OFFSET: usize =
    core::mem::offset_of!(ArcInner<crate::registry::Link>, value);

/// Counts above this are refused, as `alloc::sync::Arc` refuses them:
/// far below `usize::MAX`, so that the increments of other threads racing
/// with the one that sees the overflow cannot wrap the count to zero.
const MAX_REFCOUNT: usize = isize::MAX as usize;

/// A thread-safe reference-counted pointer to a heap value.
///
/// # Invariants
///
/// `ptr` comes from `Box::leak` in [`Arc::new`] (`cache` is `None`) or
/// from `cache`'s `alloc` with [`Arc::cell_layout`] in [`Arc::new_in`];
/// `strong` counts the `Arc`s pointing at it, is at least 1 while any
/// exists, and the cell is freed, where it came from, by the `Drop` that
/// takes it to 0.
pub struct Arc<T> {
    ptr: NonNull<ArcInner<T>>,
    /// This `Arc` owns (a share of) an `ArcInner<T>`.
    _owns: PhantomData<ArcInner<T>>,
}

/// The cell: C layout, so that the value's offset in a cache buffer is
/// fixed (`docs/debugging.md`): the count, where the cell came from, then
/// the value.
#[repr(C)]
struct ArcInner<T> {
    strong: AtomicUsize,
    cache: Option<&'static RecordCache>,
    value: T,
}

// SAFETY: as for `alloc::sync::Arc`: sending an `Arc` to another thread
// can share the value with it (needs `Sync`) and can make that thread drop
// it last (needs `Send`); the count is atomic.
unsafe impl<T: Send + Sync> Send for Arc<T> {}
// SAFETY: a shared `&Arc` gives `&T` (needs `Sync`) and can be cloned into
// an `Arc` another thread drops (needs `Send`).
unsafe impl<T: Send + Sync> Sync for Arc<T> {}

impl<T> Arc<T> {
    /// Moves `value` to the heap with a count of 1.
    ///
    /// # Context
    ///
    /// Allocates (`KM_SLEEP` in the kernel): may block.
    pub fn new(value: T) -> Arc<T> {
        let inner = Box::new(ArcInner { strong: AtomicUsize::new(1), cache: None, value });
        Arc { ptr: NonNull::from(Box::leak(inner)), _owns: PhantomData }
    }

    /// Moves `value` into a cell of `cache` with a count of 1, or to the
    /// heap (as [`new`](Self::new)) if the cache does not exist yet or
    /// serves another layout than [`cell_layout`](Self::cell_layout).
    ///
    /// # Context
    ///
    /// Allocates (`KM_SLEEP` in the kernel): may block.
    pub fn new_in(value: T, cache: &'static RecordCache) -> Arc<T> {
        let Some(p) = cache.alloc(Self::cell_layout()) else {
            return Arc::new(value);
        };
        let p = p.cast::<ArcInner<T>>();
        let inner = ArcInner { strong: AtomicUsize::new(1), cache: Some(cache), value };
        // SAFETY: the cache handed out an unused cell of `cell_layout()`,
        // the size and alignment of `ArcInner<T>`.
        unsafe { p.as_ptr().write(inner) };
        Arc { ptr: p, _owns: PhantomData }
    }

    /// The layout of the cell behind an `Arc<T>`: what a cache serving
    /// [`new_in`](Self::new_in) must be created for.
    pub fn cell_layout() -> Layout {
        Layout::new::<ArcInner<T>>()
    }

    /// Where the value sits in its cell (bytes from the cell's start).
    pub fn value_offset() -> usize {
        core::mem::offset_of!(ArcInner<T>, value)
    }

    /// The address of the value.
    pub fn as_ptr(this: &Arc<T>) -> *const T {
        &this.inner().value
    }

    /// Whether two `Arc`s point at the same value.
    pub fn ptr_eq(this: &Arc<T>, other: &Arc<T>) -> bool {
        this.ptr == other.ptr
    }

    /// How many `Arc`s point at the value (a snapshot: other threads may
    /// change it at any time).
    pub fn strong_count(this: &Arc<T>) -> usize {
        this.inner().strong.load(Ordering::Acquire)
    }

    fn inner(&self) -> &ArcInner<T> {
        // SAFETY: this `Arc` keeps the count above 0, so the box is live
        // (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for Arc<T> {
    fn clone(&self) -> Arc<T> {
        // Relaxed is enough to take a new reference from an existing one,
        // as in `alloc::sync::Arc`: the existing one keeps the value alive.
        let old = self.inner().strong.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFCOUNT {
            overflow();
        }
        Arc { ptr: self.ptr, _owns: PhantomData }
    }
}

/// Not inlined into every `clone`: one call site of `panic()`, with a
/// message also in the objects without Rust's panic machinery.
#[cold]
#[inline(never)]
fn overflow() -> ! {
    super::log::fatal(c"dlszone: Arc reference count overflow (more than isize::MAX references)")
}

impl<T> Drop for Arc<T> {
    fn drop(&mut self) {
        // Release: this thread's uses of the value happen before whoever
        // frees it; the Acquire fence makes the freeing thread see them.
        if self.inner().strong.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        match self.inner().cache {
            // SAFETY: the count went from 1 to 0, so this was the last
            // `Arc`; the pointer came from `Box::leak` (type invariant).
            None => drop(unsafe { Box::from_raw(self.ptr.as_ptr()) }),
            Some(cache) => {
                // SAFETY: as above, the cell is ours alone: its value is
                // dropped once, then the cell goes back to the cache it
                // came from with the layout it was allocated with (type
                // invariant).
                unsafe {
                    core::ptr::drop_in_place(self.ptr.as_ptr());
                    cache.free(self.ptr.cast(), Self::cell_layout());
                }
            }
        }
    }
}

impl<T> Deref for Arc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: fmt::Debug> fmt::Debug for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::thread;
    use std::vec::Vec;

    /// Counts its drops.
    struct Noisy<'a>(&'a AtomicU32);

    impl Drop for Noisy<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn counts_clones_and_frees_once() {
        let drops = AtomicU32::new(0);
        let a = Arc::new(Noisy(&drops));
        assert_eq!(Arc::strong_count(&a), 1);
        let b = a.clone();
        let c = Arc::clone(&b);
        assert_eq!(Arc::strong_count(&a), 3);
        assert!(Arc::ptr_eq(&a, &c));
        assert_eq!(Arc::as_ptr(&a), &*b as *const _);
        drop(a);
        drop(b);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(c);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn distinct_values_are_not_ptr_eq() {
        let (a, b) = (Arc::new(5u64), Arc::new(5u64));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(*a, *b);
        assert_eq!(std::format!("{a:?} {b}"), "5 5");
    }

    #[test]
    fn threads_share_and_the_last_one_frees() {
        let drops = AtomicU32::new(0);
        let a = Arc::new(Noisy(&drops));
        thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let mine = a.clone();
                    s.spawn(move || {
                        let more: Vec<_> = (0..1000).map(|_| mine.clone()).collect();
                        drop(more);
                        drop(mine);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        assert_eq!(Arc::strong_count(&a), 1);
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[should_panic(expected = "Arc reference count overflow")]
    fn overflow_panics_with_a_message() {
        let a = Arc::new(0u8);
        // Where a program would be after isize::MAX leaked clones.
        a.inner().strong.store(MAX_REFCOUNT + 1, Ordering::Relaxed);
        let _b = a.clone();
    }
}
