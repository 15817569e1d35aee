//! The synchronisation facade: the only locking names portable code uses.
//!
//! One fixed, kernel-shaped API with four backends chosen at compile time:
//!
//! | build                 | backend                                   |
//! |-----------------------|-------------------------------------------|
//! | `cfg(kmod)`           | `kmutex_t`, `krwlock_t`, `kcondvar_t`     |
//! | host (default)        | `std::sync`                               |
//! | `--cfg loom`          | `loom::sync` (exhaustive model checking)  |
//! | `--cfg shuttle`       | `shuttle::sync` (randomised schedules)    |
//!
//! The shape follows illumos and std alike: `lock()` cannot fail and is not
//! reentrant; `Condvar::wait` consumes the guard and gives it back; waits
//! may wake spuriously, so callers loop on a predicate. Guards are `!Send`
//! (illumos panics when a thread other than the owner calls `mutex_exit`)
//! and `#[must_use]`. See `docs/locking.md` for the lock order.

#[cfg(all(kmod, any(loom, shuttle)))]
compile_error!("the kernel build cannot use a model-checking backend");
#[cfg(all(loom, shuttle))]
compile_error!("choose one of --cfg loom and --cfg shuttle");

#[cfg(not(kmod))]
mod host;
#[cfg(not(kmod))]
pub use host::*;

#[cfg(kmod)]
mod illumos;
#[cfg(kmod)]
pub use illumos::*;

/// Why a condition-variable wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Signalled, or woken spuriously: re-check the predicate.
    Signalled,
    /// A signal is pending for the waiting thread (`cv_wait_sig` gave 0).
    Interrupted,
    /// The timeout passed (`cv_reltimedwait` gave -1).
    TimedOut,
}
