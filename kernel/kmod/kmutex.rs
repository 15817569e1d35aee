//! A `kmutex_t` that can live in a `static`: the dlmgmtd door slot and
//! the table of MACs marked exclusive are module-wide state with no
//! owner to allocate them (`crate::sync::Mutex` keeps its lock word on the
//! heap, which a `static` cannot do at compile time).
//!
//! The lock word is zero-filled at compile time. illumos treats a zeroed
//! `kmutex_t` as an unowned adaptive mutex, so the lock works before
//! [`StaticMutex::init`]; `init` and [`StaticMutex::destroy`] are still
//! called from the module's init and fini, as the DDI asks.
//!
//! # Context
//!
//! [`StaticMutex::lock`] may block on the adaptive mutex: not from
//! interrupt context or under a spin lock. Holders must not sleep for long
//! (both users hold it only to copy or swap a word, or to walk a short
//! table).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr;

use crate::ffi;

/// A mutual-exclusion lock (`MUTEX_DRIVER`) for `static` data.
pub struct StaticMutex<T> {
    raw: UnsafeCell<ffi::kmutex_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, one thread at a time,
// so sharing the mutex only needs the data to be sendable. The lock word
// is at the static's fixed address for the module's lifetime.
unsafe impl<T: Send> Sync for StaticMutex<T> {}

impl<T> StaticMutex<T> {
    /// A zero-filled (unowned, adaptive) mutex around `value`.
    pub const fn new(value: T) -> Self {
        StaticMutex {
            // SAFETY: kmutex_t is plain data (one pointer-sized word);
            // all zeroes is both a valid Rust value and illumos' unowned
            // adaptive mutex.
            raw: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            data: UnsafeCell::new(value),
        }
    }

    /// `mutex_init()`: call once from the module's init, before other
    /// threads can reach the lock.
    pub fn init(&'static self) {
        // SAFETY: the word is at a static address; a driver mutex takes no
        // name and a null interrupt cookie. Nothing holds it yet (module
        // init runs before any entry point).
        unsafe {
            ffi::mutex_init(
                self.raw.get(),
                ptr::null_mut(),
                ffi::kmutex_type_t::MUTEX_DRIVER,
                ptr::null_mut(),
            );
        }
    }

    /// `mutex_destroy()`: call once from the module's fini, when no thread
    /// can reach the lock any more.
    pub fn destroy(&'static self) {
        // SAFETY: the module's fini runs after every entry point returned,
        // so the lock is unowned and no thread waits on it.
        unsafe { ffi::mutex_destroy(self.raw.get()) };
    }

    /// Acquires the mutex (`mutex_enter()`), blocking while another thread
    /// holds it.
    pub fn lock(&self) -> StaticGuard<'_, T> {
        // SAFETY: the lock word is valid for the static's lifetime (zeroed
        // or initialised); illumos panics on a recursive enter rather than
        // corrupting memory.
        unsafe { ffi::mutex_enter(self.raw.get()) };
        StaticGuard { mutex: self, _not_send: PhantomData }
    }
}

/// Proof that a [`StaticMutex`] is held; `mutex_exit()` on drop.
///
/// Not `Send`: only the owner may exit an illumos mutex.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct StaticGuard<'a, T> {
    mutex: &'a StaticMutex<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for StaticGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the mutex.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for StaticGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this thread holds the mutex, and
        // `&mut self` makes this the only reference made through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for StaticGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread entered the mutex when the guard was made,
        // and the guard is not `Send`, so it is still the owner.
        unsafe { ffi::mutex_exit(self.mutex.raw.get()) };
    }
}
