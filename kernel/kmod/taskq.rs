//! `system_taskq`: the shared kernel task queue the object defers work to
//! (the property push after a link gets its id, the replay of queued
//! notices after dlmgmtd registers), so that no caller waits for dlmgmtd
//! on a thread that must not.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::ffi;

/// The `taskq_dispatch()` flags: `TQ_SLEEP` (may wait for memory, never
/// fails) when the caller may sleep, else `TQ_NOSLEEP` (may fail).
pub const fn flags(sleep: bool) -> ffi::uint_t {
    if sleep { ffi::TQ_SLEEP as ffi::uint_t } else { ffi::TQ_NOSLEEP as ffi::uint_t }
}

/// A task: `task_func_t`.
pub type Task = unsafe extern "C" fn(*mut core::ffi::c_void);

/// Queues `f(arg)` on `system_taskq` (`taskq_dispatch()`); false if it was
/// not queued (only possible without `sleep`), in which case `f` never
/// runs. Sleeps only with `sleep`.
///
/// `f` is an `unsafe fn` because calling it with `arg` is sound only by
/// the promise of the code that made the two; dispatching hands that
/// promise on to the task thread and reads nothing through `arg`.
#[cfg(kmod)]
#[allow(
    clippy::not_unsafe_ptr_arg_deref,
    reason = "`arg` is only handed to the task queue, never read here"
)]
pub fn dispatch(f: Task, arg: *mut core::ffi::c_void, sleep: bool) -> bool {
    // SAFETY: system_taskq is set up at boot and never changes; a plain
    // read of the pointer.
    let tq = unsafe { (&raw const ffi::system_taskq).read() };
    // SAFETY: `tq` is the system task queue; taskq_dispatch() stores `f`
    // and `arg` and calls f(arg) later on a taskq thread.
    let id = unsafe { ffi::taskq_dispatch(tq, Some(f), arg, flags(sleep)) };
    id != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_illumos_values() {
        assert_eq!(flags(true), 0);
        assert_eq!(flags(false), 1);
    }
}
