//! The `dlszone:0:dlszone` named kstat (`kstat -m dlszone`): a registry's
//! statistics ([`Stats`]) as 64-bit named values.
//!
//! One kstat per module, created at load ([`create`]) and deleted at
//! unload ([`delete`]). It shows the statistics of at most one registry
//! at a time, the one handed to [`show`] (zeros while none is); it keeps a
//! [`StatsHandle`], a reference to the registry's atomics, so it never
//! points at a registry that is gone and its update callback takes no
//! registry lock at all.
//!
//! # Kernel
//!
//! `kstat_create("dlszone", 0, "dlszone", "misc", KSTAT_TYPE_NAMED,
//! NSTATS, 0)`: the framework allocates the named array (`ks_data`); each
//! entry is named once with `kstat_named_init(..., KSTAT_DATA_UINT64)`.
//! `ks_update` fills the values from the handle on every read; `ks_lock`
//! is a mutex of ours, which the framework holds around `ks_update` and
//! the copy-out, and which [`show`] takes to change the handle, so a read
//! never sees a handle being dropped. Writes are refused (`EACCES`).
//!
//! # Host
//!
//! A per-thread stand-in with the same functions (no `kstat_t`): created
//! or not, a shown handle or none; [`read`] returns the handle's values.
//! The ktest bodies use it through the same calls in both builds.
//!
//! # Context
//!
//! `create` and `delete` at module load and unload only, with no
//! concurrent `show` or `read`; `create` may sleep.

use crate::errno::KResult;
use crate::registry::{NSTATS, StatsHandle};

/// The kstat's module, instance, name and class.
pub const MODULE: &core::ffi::CStr = c"dlszone";
/// Instance number.
pub const INSTANCE: i32 = 0;
/// Name.
pub const NAME: &core::ffi::CStr = c"dlszone";
/// Class.
pub const CLASS: &core::ffi::CStr = c"misc";

#[cfg(kmod)]
pub use kernel::{create, delete, read, show};

#[cfg(not(kmod))]
pub use host::{create, delete, read, show};

/// What a read through the kstat returns when nothing is shown.
const NOTHING: [u64; NSTATS] = [0; NSTATS];

#[cfg(kmod)]
mod kernel {
    use alloc::boxed::Box;
    use core::cell::UnsafeCell;
    use core::ffi::c_int;
    use core::ptr;
    use core::sync::atomic::{AtomicPtr, Ordering};

    use super::{CLASS, INSTANCE, MODULE, NAME, NOTHING};
    use crate::errno::{Errno, KResult};
    use crate::ffi;
    use crate::registry::{NSTATS, Stats, StatsHandle};

    /// The installed kstat and what it shows.
    ///
    /// # Invariants
    ///
    /// `ksp` is the installed kstat, whose `ks_private` is this state and
    /// whose `ks_lock` is `lock`; `source` is read or written only with
    /// `lock` held (by the framework around `ks_update`, by us
    /// elsewhere). The state is freed only after `kstat_delete`.
    struct State {
        ksp: *mut ffi::kstat_t,
        lock: Box<UnsafeCell<ffi::kmutex_t>>,
        source: UnsafeCell<Option<StatsHandle>>,
    }

    static STATE: AtomicPtr<State> = AtomicPtr::new(ptr::null_mut());

    /// Holds the state's mutex while it lives.
    struct Locked<'a>(&'a State);

    impl<'a> Locked<'a> {
        fn new(s: &'a State) -> Locked<'a> {
            // SAFETY: the mutex was initialised in `create` and is destroyed
            // only in `delete`, after the state is unreachable.
            unsafe { ffi::mutex_enter(s.lock.get()) };
            Locked(s)
        }
    }

    impl Drop for Locked<'_> {
        fn drop(&mut self) {
            // SAFETY: entered in `new` by this thread.
            unsafe { ffi::mutex_exit(self.0.lock.get()) };
        }
    }

    /// Creates and installs the kstat. Errors: `EEXIST` it exists;
    /// `ENOMEM` `kstat_create` refused.
    pub fn create() -> KResult<()> {
        if !STATE.load(Ordering::Acquire).is_null() {
            return Err(Errno::EEXIST);
        }
        // SAFETY: constant NUL-terminated strings; a named kstat of NSTATS
        // entries whose data the framework allocates (no flags).
        let ksp = unsafe {
            ffi::kstat_create(
                MODULE.as_ptr(),
                INSTANCE,
                NAME.as_ptr(),
                CLASS.as_ptr(),
                ffi::KSTAT_TYPE_NAMED as u8,
                NSTATS as u32,
                0,
            )
        };
        if ksp.is_null() {
            return Err(Errno::ENOMEM);
        }
        // SAFETY: a zeroed kmutex_t is valid storage for mutex_init.
        let lock = Box::new(UnsafeCell::new(unsafe { core::mem::zeroed::<ffi::kmutex_t>() }));
        // SAFETY: the mutex word is at its final (heap) address; a driver
        // mutex takes no name and no argument.
        unsafe {
            ffi::mutex_init(
                lock.get(),
                ptr::null_mut(),
                ffi::kmutex_type_t::MUTEX_DRIVER,
                ptr::null_mut(),
            )
        };
        let state = Box::into_raw(Box::new(State { ksp, lock, source: UnsafeCell::new(None) }));
        // SAFETY: `ksp` is a named kstat with NSTATS entries in ks_data,
        // not yet installed, so nothing else reads it; `state` lives until
        // `delete` has deleted the kstat.
        unsafe {
            let data = (*ksp).ks_data.cast::<ffi::kstat_named_t>();
            for (i, name) in Stats::NAMES.iter().enumerate() {
                ffi::kstat_named_init(data.add(i), name.as_ptr(), ffi::KSTAT_DATA_UINT64 as u8);
            }
            (*ksp).ks_update = Some(kstat_update);
            (*ksp).ks_private = state.cast();
            (*ksp).ks_lock = (*state).lock.get().cast();
            ffi::kstat_install(ksp);
        }
        STATE.store(state, Ordering::Release);
        Ok(())
    }

    /// Deletes the kstat (if created) and drops the handle it showed.
    pub fn delete() {
        let state = STATE.swap(ptr::null_mut(), Ordering::AcqRel);
        if state.is_null() {
            return;
        }
        // SAFETY: `state` came from Box::into_raw in `create` and the swap
        // made this its only owner; after kstat_delete no reader can call
        // ks_update, so the mutex and the state may go.
        unsafe {
            ffi::kstat_delete((*state).ksp);
            let state = Box::from_raw(state);
            ffi::mutex_destroy(state.lock.get());
            drop(state);
        }
    }

    fn state() -> Option<&'static State> {
        let p = STATE.load(Ordering::Acquire);
        // SAFETY: a non-null STATE is live until `delete`, which runs at
        // unload with no concurrent caller (module docs).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Shows `source` (or nothing), returning what was shown. Without a
    /// kstat, `source` is handed back unused.
    pub fn show(source: Option<StatsHandle>) -> Option<StatsHandle> {
        let Some(s) = state() else { return source };
        let g = Locked::new(s);
        // SAFETY: `source` is accessed with the lock held (State invariant).
        let old = unsafe { core::mem::replace(&mut *s.source.get(), source) };
        drop(g);
        old
    }

    /// Reads the kstat as `kstat(8)` does: with `ks_lock` held, calls
    /// `ks_update(KSTAT_READ)`, then copies the named values out.
    /// Errors: `ENXIO` no kstat.
    pub fn read() -> KResult<Stats> {
        let s = state().ok_or(Errno::ENXIO)?;
        let _g = Locked::new(s);
        // SAFETY: the kstat is installed and its lock held, as the
        // framework holds it around ks_update; ks_data has NSTATS named
        // entries, filled with UINT64 values by the update.
        unsafe {
            let rc = kstat_update(s.ksp, ffi::KSTAT_READ);
            if rc != 0 {
                return Err(Errno::from_raw(rc).unwrap_or(Errno::EINVAL));
            }
            let data = (*s.ksp).ks_data.cast::<ffi::kstat_named_t>();
            let v: [u64; NSTATS] = core::array::from_fn(|i| (*data.add(i)).value.ui64);
            Ok(Stats::from_values(v))
        }
    }

    /// `ks_update`: fills the named values from the shown handle.
    ///
    /// # Safety
    ///
    /// Called by the kstat framework (or [`read`]) with the kstat's
    /// `ks_lock` held, on the kstat [`create`] made.
    unsafe extern "C" fn kstat_update(ksp: *mut ffi::kstat_t, rw: c_int) -> c_int {
        if rw == ffi::KSTAT_WRITE {
            return ffi::EACCES;
        }
        // SAFETY: ks_private is our state and its lock is held (the
        // function's contract), so `source` may be read; ks_data holds
        // NSTATS named entries.
        unsafe {
            let state = &*(*ksp).ks_private.cast::<State>();
            let values = match &*state.source.get() {
                Some(h) => h.snapshot().values(),
                None => NOTHING,
            };
            let data = (*ksp).ks_data.cast::<ffi::kstat_named_t>();
            for (i, v) in values.iter().enumerate() {
                (*data.add(i)).value.ui64 = *v;
            }
        }
        0
    }
}

#[cfg(not(kmod))]
mod host {
    use core::cell::RefCell;

    use super::NOTHING;
    use crate::errno::{Errno, KResult};
    use crate::registry::{Stats, StatsHandle};

    std::thread_local! {
        /// `None`: no kstat; `Some(shown)`: created, showing `shown`.
        static KSTAT: RefCell<Option<Option<StatsHandle>>> = const { RefCell::new(None) };
    }

    /// Creates the stand-in. Errors: `EEXIST`.
    pub fn create() -> KResult<()> {
        KSTAT.with(|k| {
            let mut k = k.borrow_mut();
            if k.is_some() {
                return Err(Errno::EEXIST);
            }
            *k = Some(None);
            Ok(())
        })
    }

    /// Deletes it.
    pub fn delete() {
        let old = KSTAT.with(|k| k.borrow_mut().take());
        drop(old);
    }

    /// Shows `source`, returning what was shown.
    pub fn show(source: Option<StatsHandle>) -> Option<StatsHandle> {
        KSTAT.with(|k| match k.borrow_mut().as_mut() {
            Some(shown) => core::mem::replace(shown, source),
            None => source,
        })
    }

    /// The shown values. Errors: `ENXIO` not created.
    pub fn read() -> KResult<Stats> {
        KSTAT.with(|k| match k.borrow().as_ref() {
            Some(Some(h)) => Ok(h.snapshot()),
            Some(None) => Ok(Stats::from_values(NOTHING)),
            None => Err(Errno::ENXIO),
        })
    }
}

/// Shows a registry's statistics in the kstat while it lives, then
/// whatever was shown before.
#[must_use = "the registry is shown only while the guard lives"]
pub struct Shown {
    before: Option<StatsHandle>,
}

impl Shown {
    /// Shows `stats`.
    pub fn new(stats: StatsHandle) -> Shown {
        Shown { before: show(Some(stats)) }
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        let mine = show(self.before.take());
        drop(mine);
    }
}

/// The values read through the kstat (see [`read`]): a convenience for
/// callers that only compare.
pub fn values() -> KResult<[u64; NSTATS]> {
    read().map(|s| s.values())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::registry::{Registry, Stats, ZoneKey};

    #[test]
    fn shows_one_registry_at_a_time() {
        assert_eq!(read(), Err(Errno::ENXIO));
        create().unwrap();
        assert_eq!(create(), Err(Errno::EEXIST));
        assert_eq!(read(), Ok(Stats::default()));
        let r = Registry::new();
        r.zone_boot(ZoneKey::new(3, 3)).unwrap();
        {
            let _s = Shown::new(r.stats_handle());
            assert_eq!(read().unwrap().zones, 2);
            assert_eq!(read(), Ok(r.stats()));
        }
        assert_eq!(values(), Ok([0; NSTATS]));
        delete();
        assert_eq!(read(), Err(Errno::ENXIO));
    }
}
