//! Kernel backend of the facade: `kmutex_t`, `krwlock_t` and `kcondvar_t`.
//!
//! Exposes exactly the API of the host backend (`host.rs`), so portable code
//! compiles unchanged against either.
//!
//! # Placement of the lock words
//!
//! Each lock keeps its C word inline (a [`LockWord`]), so a record that
//! embeds a `Mutex` or a `Condvar` costs no second allocation. The word
//! starts zero-filled and no `*_init` runs: in illumos a zero-filled
//! `kmutex_t` is an unheld adaptive mutex (`mutex.c` says that adaptive
//! mutexes in zeroed memory need no `mutex_init`, which for a driver
//! mutex without an interrupt cookie stores exactly zero), and `rw_init`
//! and `cv_init` store zero (`rw_wwwh`, `cv_waiters`).
//!
//! illumos finds a lock's waiters (turnstiles, sleep queues) by the lock's
//! address, and an owner's identity is in the word itself, so a word may
//! move only while it is unheld and waiterless: then it is zero, and no
//! kernel structure records its address. Rust guarantees that here. A
//! move needs ownership of the value, which excludes every borrow; every
//! holder has a guard borrowing the lock, and every thread inside
//! `mutex_enter`, `rw_enter`, a `cv_*wait*`, `cv_signal` or
//! `cv_broadcast` is in a method borrowing it. Those calls undo their own
//! bookkeeping before returning: `mutex_exit` clears the word before it
//! wakes waiters, which retry inside their own `mutex_enter`; a woken or
//! timed-out `cv_*wait*` has left the sleep queue, and its timeout is
//! cancelled, before it returns. So whenever a value can move its words
//! are zero and nothing refers to their old address. `*_destroy` runs
//! from `Drop`, at the value's last address.
//!
//! # Context
//!
//! `new` neither allocates nor blocks. `lock`, `read`, `write` and the
//! waits may block; the `notify_*` calls never block.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};

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

/// One kernel synchronisation word, stored inline and zero-filled.
///
/// # Invariants
///
/// The word is handed to C only through [`LockWord::as_ptr`] on a shared
/// borrow of its owner, so it moves only while no thread holds, waits on
/// or signals it (see the module documentation): then it is zero, a
/// valid unheld lock at any address.
struct LockWord<T> {
    cell: UnsafeCell<MaybeUninit<T>>,
}

impl<T> LockWord<T> {
    /// A zero-filled word: an unheld lock with no waiters in illumos.
    const fn zeroed() -> Self {
        LockWord { cell: UnsafeCell::new(MaybeUninit::zeroed()) }
    }

    /// The C object's address, stable while `self` is borrowed.
    fn as_ptr(&self) -> *mut T {
        self.cell.get().cast::<T>()
    }
}

/// A mutual-exclusion lock (`kmutex_t`, `MUTEX_DRIVER`). C layout: the
/// lock word's cell, then the data at offset 8 (for any data aligned to
/// 8 or less), so a crash dump's reader finds it (`docs/debugging.md`).
#[repr(C)]
pub struct Mutex<T> {
    raw: LockWord<ffi::kmutex_t>,
    data: UnsafeCell<T>,
}

// The data's offset that docs/debugging.md gives.
const _: () = assert!(core::mem::offset_of!(Mutex<u64>, data) == 8);

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
    /// Creates an unlocked mutex holding `value` (a zero-filled word;
    /// nothing is allocated).
    pub fn new(value: T) -> Self {
        Mutex { raw: LockWord::zeroed(), data: UnsafeCell::new(value) }
    }

    /// Acquires the mutex, blocking until it is free (`mutex_enter`).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: the word is a valid kmutex_t (zero-filled by `new`, then
        // changed only by the DDI calls), destroyed only in `drop`, which
        // cannot run while `&self` is alive; `&self` also pins its address
        // until the matching `mutex_exit` (the guard borrows it).
        unsafe { ffi::mutex_enter(self.raw.as_ptr()) };
        MutexGuard { mutex: self, _not_send: PhantomData }
    }
}

impl<T> Drop for Mutex<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no guard (and so no holder or waiter
        // using this word through us) exists; the word is a valid
        // kmutex_t (zero-filled by `new`), at its last address.
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
    raw: LockWord<ffi::krwlock_t>,
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
    /// Creates an unlocked lock holding `value` (a zero-filled word;
    /// nothing is allocated).
    pub fn new(value: T) -> Self {
        RwLock { raw: LockWord::zeroed(), data: UnsafeCell::new(value) }
    }

    /// Acquires the lock as a reader (`RW_READER`).
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        // SAFETY: a valid word (zero-filled by `new`), destroyed only in
        // `drop`; the borrow pins its address while in use.
        unsafe { ffi::rw_enter(self.raw.as_ptr(), ffi::krw_t::RW_READER) };
        RwLockReadGuard { lock: self, _not_send: PhantomData }
    }

    /// Acquires the lock as a writer (`RW_WRITER`).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        // SAFETY: a valid word (zero-filled by `new`), destroyed only in
        // `drop`; the borrow pins its address while in use.
        unsafe { ffi::rw_enter(self.raw.as_ptr(), ffi::krw_t::RW_WRITER) };
        RwLockWriteGuard { lock: self, _not_send: PhantomData }
    }
}

impl<T> Drop for RwLock<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no guard exists; a valid word
        // (zero-filled by `new`), at its last address.
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
    raw: LockWord<ffi::kcondvar_t>,
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
    /// Creates a condition variable with no waiters (a zero-filled word;
    /// nothing is allocated).
    pub fn new() -> Self {
        Condvar { raw: LockWord::zeroed() }
    }

    /// Waits to be woken (`cv_wait`). May wake spuriously.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // SAFETY: both words are valid (zero-filled by `new`) and borrowed
        // for the whole call, so they stay put; the guard proves this
        // thread holds the mutex, which cv_wait drops while asleep and
        // holds again on return.
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
        // SAFETY: a valid word (zero-filled by `new`), destroyed only in
        // `drop`; the borrow pins its address while in use.
        unsafe { ffi::cv_signal(self.raw.as_ptr()) };
    }

    /// Wakes every waiter (`cv_broadcast`).
    pub fn notify_all(&self) {
        // SAFETY: a valid word (zero-filled by `new`), destroyed only in
        // `drop`; the borrow pins its address while in use.
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
