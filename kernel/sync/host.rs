//! Host backends of the facade: `std::sync`, or loom / shuttle under
//! `--cfg loom` / `--cfg shuttle`. All three expose std's API, so one
//! wrapper serves them; the wrapper adds what std lacks (the `!Send`
//! guard marker, `wait_sig`, millisecond timeouts) and hides poisoning.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::Wake;

#[cfg(loom)]
use loom::sync as imp;
#[cfg(shuttle)]
use shuttle::sync as imp;
#[cfg(not(any(loom, shuttle)))]
use std::sync as imp;

#[cfg(loom)]
pub use loom::sync::Arc;
#[cfg(shuttle)]
pub use shuttle::sync::Arc;
#[cfg(not(any(loom, shuttle)))]
pub use std::sync::Arc;

/// Atomics of the active backend.
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    #[cfg(shuttle)]
    pub use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    #[cfg(not(any(loom, shuttle)))]
    pub use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
}

fn unpoison<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A mutual-exclusion lock (`kmutex_t` in the kernel).
pub struct Mutex<T> {
    inner: imp::Mutex<T>,
}

/// Proof that a [`Mutex`] is held; unlocks on drop.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    inner: imp::MutexGuard<'a, T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex { inner: imp::Mutex::new(value) }
    }

    /// Acquires the mutex, blocking until it is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard { inner: unpoison(self.inner.lock()), _not_send: PhantomData }
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// A readers-writer lock (`krwlock_t` in the kernel). Writer preference is
/// not promised.
pub struct RwLock<T> {
    inner: imp::RwLock<T>,
}

/// Shared access to an [`RwLock`]'s data.
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    inner: imp::RwLockReadGuard<'a, T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to an [`RwLock`]'s data.
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    inner: imp::RwLockWriteGuard<'a, T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock { inner: imp::RwLock::new(value) }
    }

    /// Acquires the lock as a reader (`RW_READER`).
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard { inner: unpoison(self.inner.read()), _not_send: PhantomData }
    }

    /// Acquires the lock as a writer (`RW_WRITER`).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard { inner: unpoison(self.inner.write()), _not_send: PhantomData }
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// A condition variable (`kcondvar_t` in the kernel).
///
/// Like illumos' `kcondvar_t` it counts its waiters, so that waking
/// nobody costs a load: `std`'s `notify_*` always make a `FUTEX_WAKE`
/// system call. A waiter is counted from before it sleeps (its mutex
/// still held) until after it wakes; a notifier that changed the
/// predicate under the same mutex, before or while notifying, therefore
/// sees every waiter that could have missed the change.
pub struct Condvar {
    inner: imp::Condvar,
    waiters: atomic::AtomicU32,
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl Condvar {
    /// Creates a condition variable with no waiters.
    pub fn new() -> Self {
        Condvar { inner: imp::Condvar::new(), waiters: atomic::AtomicU32::new(0) }
    }

    /// Counts the caller as a waiter (its mutex held) for the length of
    /// `wait`.
    fn counted<R>(&self, wait: impl FnOnce() -> R) -> R {
        self.waiters.fetch_add(1, atomic::Ordering::SeqCst);
        let r = wait();
        self.waiters.fetch_sub(1, atomic::Ordering::SeqCst);
        r
    }

    /// Waits to be woken (`cv_wait`). May wake spuriously.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let inner = unpoison(self.counted(|| self.inner.wait(guard.inner)));
        MutexGuard { inner, _not_send: PhantomData }
    }

    /// Waits to be woken or interrupted by a signal (`cv_wait_sig`).
    ///
    /// On the host a thread is "interrupted" when a test called
    /// [`signal::raise`] on it beforehand; the pending signal is consumed.
    pub fn wait_sig<'a, T>(&self, guard: MutexGuard<'a, T>) -> (MutexGuard<'a, T>, Wake) {
        if signal::take() {
            return (guard, Wake::Interrupted);
        }
        (self.wait(guard), Wake::Signalled)
    }

    /// Waits at most `ms` milliseconds (`cv_reltimedwait`). Under loom the
    /// timeout never fires (loom does not model time).
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u64,
    ) -> (MutexGuard<'a, T>, Wake) {
        let (inner, res) = unpoison(self.counted(|| {
            self.inner.wait_timeout(guard.inner, core::time::Duration::from_millis(ms))
        }));
        let wake = if res.timed_out() { Wake::TimedOut } else { Wake::Signalled };
        (MutexGuard { inner, _not_send: PhantomData }, wake)
    }

    /// Waits until woken or `deadline` passes (`cv_timedwait`). A wait
    /// that is woken and waits again keeps the same deadline, so a bounded
    /// operation stays bounded however often it is woken. Under loom and
    /// shuttle time is not modelled and the deadline never passes.
    pub fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: &Deadline,
    ) -> (MutexGuard<'a, T>, Wake) {
        #[cfg(not(any(loom, shuttle)))]
        {
            let left = deadline.at.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return (guard, Wake::TimedOut);
            }
            let (inner, res) =
                unpoison(self.counted(|| self.inner.wait_timeout(guard.inner, left)));
            let wake = if res.timed_out() { Wake::TimedOut } else { Wake::Signalled };
            (MutexGuard { inner, _not_send: PhantomData }, wake)
        }
        #[cfg(any(loom, shuttle))]
        {
            let _ = deadline;
            (self.wait(guard), Wake::Signalled)
        }
    }

    /// Wakes one waiter (`cv_signal`); with none, returns at once.
    pub fn notify_one(&self) {
        if self.waiters.load(atomic::Ordering::SeqCst) > 0 {
            self.inner.notify_one();
        }
    }

    /// Wakes every waiter (`cv_broadcast`); with none, returns at once.
    pub fn notify_all(&self) {
        if self.waiters.load(atomic::Ordering::SeqCst) > 0 {
            self.inner.notify_all();
        }
    }
}

/// A point in time a bounded operation gives up at (an absolute `lbolt`
/// in the kernel). Made once per operation, so waits that are woken and
/// wait again stay within the one bound.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    #[cfg(not(any(loom, shuttle)))]
    at: std::time::Instant,
}

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Deadline {
        #[cfg(not(any(loom, shuttle)))]
        {
            let now = std::time::Instant::now();
            let at = now
                .checked_add(core::time::Duration::from_millis(ms))
                .unwrap_or(now + core::time::Duration::from_secs(1 << 32));
            Deadline { at }
        }
        #[cfg(any(loom, shuttle))]
        {
            let _ = ms;
            Deadline {}
        }
    }

    /// Whether the deadline has passed (never, under loom and shuttle).
    pub fn passed(&self) -> bool {
        #[cfg(not(any(loom, shuttle)))]
        return std::time::Instant::now() >= self.at;
        #[cfg(any(loom, shuttle))]
        false
    }
}

/// Lets another thread run (a scheduling point under loom and shuttle).
/// Host test code only; the kernel facade has no counterpart.
pub fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(shuttle)]
    shuttle::thread::yield_now();
    #[cfg(not(any(loom, shuttle)))]
    std::thread::yield_now();
}

/// Host stand-in for pending signals, so interruptible waits can be tested.
pub mod signal {
    #[cfg(not(any(loom, shuttle)))]
    std::thread_local! {
        static PENDING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    }

    /// Marks a signal pending for the calling thread: its next
    /// interruptible wait returns [`Wake::Interrupted`](super::Wake).
    pub fn raise() {
        #[cfg(not(any(loom, shuttle)))]
        PENDING.with(|p| p.set(true));
    }

    /// Consumes the calling thread's pending signal, if any.
    pub(crate) fn take() -> bool {
        #[cfg(not(any(loom, shuttle)))]
        return PENDING.with(|p| p.replace(false));
        #[cfg(any(loom, shuttle))]
        false
    }
}
