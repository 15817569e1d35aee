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
//! Only what portable code uses is provided: `new`, `clone`, `Deref`,
//! [`Arc::as_ptr`], [`Arc::ptr_eq`], [`Arc::strong_count`], `Debug`,
//! `Display`; sized values only (no `Weak`, no `Arc<dyn Trait>`). The
//! kernel backend of the sync facade re-exports it as `crate::sync::Arc`;
//! host builds use std's (or loom's, shuttle's). The memory orderings are
//! those of `alloc::sync::Arc`.

use alloc::boxed::Box;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

/// Counts above this are refused, as `alloc::sync::Arc` refuses them:
/// far below `usize::MAX`, so that the increments of other threads racing
/// with the one that sees the overflow cannot wrap the count to zero.
const MAX_REFCOUNT: usize = isize::MAX as usize;

/// A thread-safe reference-counted pointer to a heap value.
///
/// # Invariants
///
/// `ptr` comes from `Box::leak` in [`Arc::new`]; `strong` counts the
/// `Arc`s pointing at it, is at least 1 while any exists, and the box is
/// freed by the `Drop` that takes it to 0.
pub struct Arc<T> {
    ptr: NonNull<ArcInner<T>>,
    /// This `Arc` owns (a share of) an `ArcInner<T>`.
    _owns: PhantomData<ArcInner<T>>,
}

struct ArcInner<T> {
    strong: AtomicUsize,
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
        let inner = Box::new(ArcInner { strong: AtomicUsize::new(1), value });
        Arc { ptr: NonNull::from(Box::leak(inner)), _owns: PhantomData }
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

/// Not inlined into every `clone`: one call site of the panic machinery.
#[cold]
#[inline(never)]
fn overflow() -> ! {
    panic!("Arc reference count overflow (more than isize::MAX references)")
}

impl<T> Drop for Arc<T> {
    fn drop(&mut self) {
        // Release: this thread's uses of the value happen before whoever
        // frees it; the Acquire fence makes the freeing thread see them.
        if self.inner().strong.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the count went from 1 to 0, so this was the last `Arc`;
        // the pointer came from `Box::leak` (type invariant).
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
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
