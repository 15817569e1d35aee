//! Kernel backend of the facade: `kmutex_t`, `krwlock_t` and `kcondvar_t`.
//!
//! Exposes exactly the API of the host backend (`host.rs`), so portable code
//! compiles unchanged against either.
//!
//! # Placement of the lock words
//!
//! illumos finds a lock's waiters (turnstiles, sleep queues) by the lock's
//! address, so a lock word must not move once `*_init` has run on it. Each
//! lock here therefore keeps its C word in its own heap cell ([`KCell`]),
//! allocated once by `new`, initialised in place at that final address,
//! destroyed by `Drop` and only then freed. Moving the Rust value (`Mutex`,
//! `RwLock`, `Condvar`) moves a pointer, never the lock word.
//!
//! # Context
//!
//! `new` allocates with `KM_SLEEP` and may block: call it only where
//! sleeping is allowed. `lock`, `read`, `write` and the waits block too;
//! the `notify_*` calls never block.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use super::Wake;
use crate::ffi;

/// `alloc::sync::Arc` with a count that panics on overflow instead of
/// aborting (`kernel/kmod/arc.rs`).
pub use crate::kmod::arc::Arc;

/// Atomics of the active backend (the CPU's own, through `core`).
pub mod atomic {
    pub use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
}

/// Pending signals are the kernel's business in this backend: an
/// interruptible wait ([`Condvar::wait_sig`]) reports them through
/// `cv_wait_sig`. The host-only `signal::raise` test hook has no kernel
/// counterpart, and portable code never calls it.
pub mod signal {}

/// A point in time a bounded operation gives up at: an absolute `lbolt`
/// (`ddi_get_lbolt()` clock ticks), so waits that are woken and wait
/// again stay within the one bound.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    lbolt: ffi::clock_t,
}

impl Deadline {
    /// `ms` milliseconds from now, rounded up to whole clock ticks (and
    /// clamped to [`MAX_WAIT_MS`]).
    pub fn after_ms(ms: u64) -> Deadline {
        let usec = ms.min(MAX_WAIT_MS) * 1000;
        let usec = ffi::clock_t::try_from(usec).unwrap_or(ffi::clock_t::MAX);
        // SAFETY: drv_usectohz is a pure conversion and ddi_get_lbolt
        // reads the clock; both are callable from any context.
        let (ticks, now) = unsafe { (ffi::drv_usectohz(usec), ffi::ddi_get_lbolt()) };
        Deadline { lbolt: now.saturating_add(ticks) }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        // SAFETY: as in `after_ms`.
        unsafe { ffi::ddi_get_lbolt() >= self.lbolt }
    }
}

/// The longest relative wait handed to `cv_reltimedwait`, in milliseconds
/// (about 34 years). Longer requests are clamped so that the kernel's
/// tick-to-nanosecond conversion cannot overflow.
const MAX_WAIT_MS: u64 = 1 << 40;

/// One kernel synchronisation word in a heap cell of its own.
///
/// # Invariants
///
/// `ptr` comes from `Box::leak` of a zero-filled cell, is owned by this
/// value alone and is freed only by `Drop`; the address never changes.
struct KCell<T> {
    ptr: NonNull<UnsafeCell<MaybeUninit<T>>>,
}

impl<T> KCell<T> {
    /// Allocates a zero-filled cell (`KM_SLEEP`, may block).
    fn new_zeroed() -> Self {
        let cell = Box::new(UnsafeCell::new(MaybeUninit::zeroed()));
        KCell { ptr: NonNull::from(Box::leak(cell)) }
    }

    /// The C object's address, stable for the cell's lifetime.
    fn as_ptr(&self) -> *mut T {
        UnsafeCell::raw_get(self.ptr.as_ptr()).cast::<T>()
    }
}

impl<T> Drop for KCell<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `ptr` came from `Box::leak` and has
        // not been freed; the owner destroyed the C object before this runs.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// A mutual-exclusion lock (`kmutex_t`, `MUTEX_DRIVER`).
pub struct Mutex<T> {
    raw: KCell<ffi::kmutex_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex owns its data and hands out access to one thread at a
// time, so sending or sharing it only needs the data to be sendable.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above; `&Mutex<T>` gives `&mut T` only under the lock.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// Proof that a [`Mutex`] is held; unlocks on drop.
///
/// Not `Send`: illumos panics when a thread other than the owner calls
/// `mutex_exit`.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// # Context
    ///
    /// Allocates the lock word with `KM_SLEEP`: may block.
    pub fn new(value: T) -> Self {
        let raw = KCell::<ffi::kmutex_t>::new_zeroed();
        // SAFETY: `raw.as_ptr()` is zeroed storage owned by this new mutex
        // at its final address; a driver mutex takes no name and a null
        // interrupt cookie (an adaptive lock).
        unsafe {
            ffi::mutex_init(
                raw.as_ptr(),
                ptr::null_mut(),
                ffi::kmutex_type_t::MUTEX_DRIVER,
                ptr::null_mut(),
            );
        }
        Mutex { raw, data: UnsafeCell::new(value) }
    }

    /// Acquires the mutex, blocking until it is free (`mutex_enter`).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: the lock word was initialised in `new` and is destroyed
        // only in `drop`, which cannot run while `&self` is alive.
        unsafe { ffi::mutex_enter(self.raw.as_ptr()) };
        MutexGuard { mutex: self, _not_send: PhantomData }
    }
}

impl<T> Drop for Mutex<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no guard (and so no holder or waiter
        // using this word through us) exists; initialised in `new`.
        unsafe { ffi::mutex_destroy(self.raw.as_ptr()) };
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the mutex.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this thread holds the mutex, and
        // `&mut self` makes this the only reference derived from it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread entered the mutex when the guard was made
        // (the guard is `!Send`, so this is still the owner).
        unsafe { ffi::mutex_exit(self.mutex.raw.as_ptr()) };
    }
}

/// A readers-writer lock (`krwlock_t`, `RW_DRIVER`). Writer preference is
/// not promised.
pub struct RwLock<T> {
    raw: KCell<ffi::krwlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its data; moving it to another thread moves the data.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (needs `Sync`), a writer gets
// `&mut T` from any thread (needs `Send`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

/// Shared access to an [`RwLock`]'s data.
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to an [`RwLock`]'s data.
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    ///
    /// # Context
    ///
    /// Allocates the lock word with `KM_SLEEP`: may block.
    pub fn new(value: T) -> Self {
        let raw = KCell::<ffi::krwlock_t>::new_zeroed();
        // SAFETY: zeroed storage owned by this new lock at its final
        // address; driver rwlocks take no name and no argument.
        unsafe {
            ffi::rw_init(
                raw.as_ptr(),
                ptr::null_mut(),
                ffi::krw_type_t::RW_DRIVER,
                ptr::null_mut(),
            );
        }
        RwLock { raw, data: UnsafeCell::new(value) }
    }

    /// Acquires the lock as a reader (`RW_READER`).
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        // SAFETY: initialised in `new`, destroyed only in `drop`.
        unsafe { ffi::rw_enter(self.raw.as_ptr(), ffi::krw_t::RW_READER) };
        RwLockReadGuard { lock: self, _not_send: PhantomData }
    }

    /// Acquires the lock as a writer (`RW_WRITER`).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        // SAFETY: initialised in `new`, destroyed only in `drop`.
        unsafe { ffi::rw_enter(self.raw.as_ptr(), ffi::krw_t::RW_WRITER) };
        RwLockWriteGuard { lock: self, _not_send: PhantomData }
    }
}

impl<T> Drop for RwLock<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no guard exists; initialised in `new`.
        unsafe { ffi::rw_destroy(self.raw.as_ptr()) };
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read hold excludes writers, so shared access is sound.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock as a reader.
        unsafe { ffi::rw_exit(self.lock.raw.as_ptr()) };
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write hold excludes every other holder.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write hold excludes every other holder, and `&mut self`
        // makes this the only reference derived from the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock as the writer.
        unsafe { ffi::rw_exit(self.lock.raw.as_ptr()) };
    }
}

/// A condition variable (`kcondvar_t`, `CV_DRIVER`).
pub struct Condvar {
    raw: KCell<ffi::kcondvar_t>,
}

// SAFETY: a kcondvar_t may be signalled and waited on from any thread; it
// holds no thread-affine state.
unsafe impl Send for Condvar {}
// SAFETY: as above.
unsafe impl Sync for Condvar {}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl Condvar {
    /// Creates a condition variable with no waiters.
    ///
    /// # Context
    ///
    /// Allocates the condvar word with `KM_SLEEP`: may block.
    pub fn new() -> Self {
        let raw = KCell::<ffi::kcondvar_t>::new_zeroed();
        // SAFETY: zeroed storage owned by this new condvar at its final
        // address; driver condvars take no name and no argument.
        unsafe {
            ffi::cv_init(
                raw.as_ptr(),
                ptr::null_mut(),
                ffi::kcv_type_t::CV_DRIVER,
                ptr::null_mut(),
            );
        }
        Condvar { raw }
    }

    /// Waits to be woken (`cv_wait`). May wake spuriously.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // SAFETY: both words are initialised and outlive the call; the
        // guard proves this thread holds the mutex, which cv_wait drops
        // while asleep and holds again on return.
        unsafe { ffi::cv_wait(self.raw.as_ptr(), guard.mutex.raw.as_ptr()) };
        guard
    }

    /// Waits to be woken or interrupted by a signal (`cv_wait_sig`).
    pub fn wait_sig<'a, T>(&self, guard: MutexGuard<'a, T>) -> (MutexGuard<'a, T>, Wake) {
        // SAFETY: as in `wait`.
        let rc = unsafe { ffi::cv_wait_sig(self.raw.as_ptr(), guard.mutex.raw.as_ptr()) };
        let wake = if rc == 0 { Wake::Interrupted } else { Wake::Signalled };
        (guard, wake)
    }

    /// Waits at most `ms` milliseconds (`cv_reltimedwait`, rounded up to
    /// whole clock ticks; waits longer than [`MAX_WAIT_MS`] are clamped).
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u64,
    ) -> (MutexGuard<'a, T>, Wake) {
        let usec = ms.min(MAX_WAIT_MS) * 1000;
        // `usec` is at most 2^40 * 1000 < 2^50, so it fits a clock_t.
        let usec = ffi::clock_t::try_from(usec).unwrap_or(ffi::clock_t::MAX);
        // SAFETY: drv_usectohz is a pure conversion, callable anywhere.
        let ticks = unsafe { ffi::drv_usectohz(usec) };
        // SAFETY: as in `wait`.
        let rc = unsafe {
            ffi::cv_reltimedwait(
                self.raw.as_ptr(),
                guard.mutex.raw.as_ptr(),
                ticks,
                ffi::time_res_t::TR_CLOCK_TICK,
            )
        };
        let wake = if rc == -1 { Wake::TimedOut } else { Wake::Signalled };
        (guard, wake)
    }

    /// Waits until woken or `deadline` (an absolute `lbolt`) passes
    /// (`cv_timedwait`). Waiting again after a wake-up keeps the deadline.
    pub fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: &Deadline,
    ) -> (MutexGuard<'a, T>, Wake) {
        // SAFETY: as in `wait`; `cv_timedwait` takes an absolute time in
        // clock ticks and returns -1 once it has passed.
        let rc = unsafe {
            ffi::cv_timedwait(self.raw.as_ptr(), guard.mutex.raw.as_ptr(), deadline.lbolt)
        };
        let wake = if rc == -1 { Wake::TimedOut } else { Wake::Signalled };
        (guard, wake)
    }

    /// Wakes one waiter (`cv_signal`).
    pub fn notify_one(&self) {
        // SAFETY: initialised in `new`, destroyed only in `drop`.
        unsafe { ffi::cv_signal(self.raw.as_ptr()) };
    }

    /// Wakes every waiter (`cv_broadcast`).
    pub fn notify_all(&self) {
        // SAFETY: initialised in `new`, destroyed only in `drop`.
        unsafe { ffi::cv_broadcast(self.raw.as_ptr()) };
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no thread is inside a wait on it
        // through this value (a waiter borrows `&self`).
        unsafe { ffi::cv_destroy(self.raw.as_ptr()) };
    }
}
