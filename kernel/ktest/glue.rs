//! Kernel side of the test table (`cfg(kmod)`): one
//! `ktest_fn_t` trampoline per body, and registration of the whole table
//! with ktest. The only `unsafe` of the in-kernel tests is here.
//!
//! # Registration (`ktest(9)`, as `ktest_selftest.c` does it)
//!
//! 1. `ktest_create_module("dlszone", &km)`;
//! 2. per suite `ktest_add_suite(km, suite, &ks)`, then per test
//!    `ktest_add_test(ks, "<body>_test", entry, KTEST_FLAG_NONE)`;
//! 3. `ktest_register_module(km)`.
//!
//! Until step 3 succeeds the module is ours: any failure frees it with
//! `ktest_free_module` and returns the errno (ktest's own selftest
//! `VERIFY`s these steps instead; a test module should not panic the
//! system because the facility refused a name). Once registered, ktest
//! owns it, and `ktest_unregister_module("dlszone")` frees it.
//!
//! [`Registration`] is that ownership: the module linkage
//! (`module.rs`) makes one before `mod_install` and drops it,
//! unregistering, if `mod_install` fails or after `mod_remove`
//! succeeded in `_fini`. `ktest_unregister_module` takes `ktest_lock`,
//! which ktest holds while a test runs, so it waits for a running test of
//! ours to return before the module's text can go away.
//!
//! # Results
//!
//! A trampoline runs its body and makes exactly one result call:
//! `ktest_result_pass(ctx, line)`, or `ktest_result_{fail,error,skip}(ctx,
//! line, "%s", msg)` with the message NUL-terminated. The text is never
//! the format, so a `%` in it is printed as it is.

use core::ffi::c_int;
use core::ptr;

use super::{MODULE, Outcome, Verdict};
use crate::ffi;
use dlszone::errno::{Errno, KResult};

/// What ktest calls to run one test (`ktest_fn_t` without the `Option`).
pub(crate) type Entry = unsafe extern "C" fn(*mut ffi::ktest_ctx_hdl_t);

/// The [`Entry`] for a body: runs it and reports its outcome.
macro_rules! kt_entry {
    ($body:path) => {{
        /// # Safety
        ///
        /// Called by ktest with the context of the test being run.
        unsafe extern "C" fn entry(ctx: *mut $crate::ffi::ktest_ctx_hdl_t) {
            let outcome = $body();
            // SAFETY: ktest passes the running test's live context.
            unsafe { $crate::glue::report(ctx, outcome) }
        }
        entry as $crate::glue::Entry
    }};
}
pub(crate) use kt_entry;

/// The constant format of every message: the text is its argument.
const MSG_FORMAT: &core::ffi::CStr = c"%s";

/// Hands an outcome to ktest: exactly one result call.
///
/// # Safety
///
/// `ctx` is the context ktest passed to the test now running, and no
/// result has been set on it yet.
pub(crate) unsafe fn report(ctx: *mut ffi::ktest_ctx_hdl_t, mut outcome: Outcome) {
    let line = c_int::try_from(outcome.line()).unwrap_or(c_int::MAX);
    let verdict = outcome.verdict();
    let msg = outcome.msg_cstr().as_ptr();
    let fmt = MSG_FORMAT.as_ptr();
    // SAFETY: `ctx` is live (caller's contract); `fmt` is a constant
    // format with one `%s`, and `msg` a NUL-terminated string that lives
    // until `outcome` is dropped, after the call; ktest copies it.
    unsafe {
        match verdict {
            Verdict::Pass => ffi::ktest_result_pass(ctx, line),
            Verdict::Fail => ffi::ktest_result_fail(ctx, line, fmt, msg),
            Verdict::Error => ffi::ktest_result_error(ctx, line, fmt, msg),
            Verdict::Skip => ffi::ktest_result_skip(ctx, line, fmt, msg),
        }
    }
}

/// The table, registered with ktest as module `dlszone`; unregistered on
/// drop.
#[must_use = "dropping the registration unregisters the tests at once"]
pub(crate) struct Registration(());

impl Registration {
    /// Builds the ktest module from the table and registers it.
    ///
    /// Errors: ktest's, unchanged: `ENOMEM` (it allocates with
    /// `KM_NOSLEEP`), `EINVAL`/`EOVERFLOW` a bad name (the table is
    /// checked at compile time, so not expected), `EEXIST` a module
    /// `dlszone` is already registered.
    ///
    /// # Context
    ///
    /// `_init`; takes `ktest_lock`, so never from inside a test.
    pub(crate) fn register() -> KResult<Registration> {
        let mut km: *mut ffi::ktest_module_hdl_t = ptr::null_mut();
        // SAFETY: the name is NUL-terminated (ktest copies it) and `km` a
        // valid place for the handle.
        let rc = unsafe { ffi::ktest_create_module(MODULE.as_ptr(), &mut km) };
        if rc != 0 {
            return Err(errno(rc));
        }
        // SAFETY: `km` was just created and is not registered.
        let mut rc = unsafe { add_suites(km) }.err().unwrap_or(0);
        if rc == 0 {
            // SAFETY: `km` is complete and not registered.
            rc = unsafe { ffi::ktest_register_module(km) };
        }
        if rc != 0 {
            // SAFETY: `km` is ours until registration succeeds, and freed
            // once here.
            unsafe { ffi::ktest_free_module(km) };
            return Err(errno(rc));
        }
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the module was registered by `register`; the name is
        // NUL-terminated. This waits for a running test (ktest_lock) and
        // is never called from inside one.
        unsafe { ffi::ktest_unregister_module(MODULE.as_ptr()) };
    }
}

/// Adds every suite and test of the table to `km`.
///
/// # Safety
///
/// `km` is a live module handle from `ktest_create_module`, not yet
/// registered.
unsafe fn add_suites(km: *mut ffi::ktest_module_hdl_t) -> Result<(), c_int> {
    for suite in super::suites() {
        let mut ks: *mut ffi::ktest_suite_hdl_t = ptr::null_mut();
        // SAFETY: `km` is live (caller's contract); the name is
        // NUL-terminated and copied; `ks` is a valid place for the handle.
        let rc = unsafe { ffi::ktest_add_suite(km, suite.name.as_ptr(), &mut ks) };
        if rc != 0 {
            return Err(rc);
        }
        for test in suite.tests {
            let flags = ffi::ktest_test_flags_t::KTEST_FLAG_NONE;
            // SAFETY: `ks` belongs to `km`; the name is NUL-terminated and
            // copied; the entry is a function of this module, which stays
            // loaded while the module is registered (see the module docs).
            let rc =
                unsafe { ffi::ktest_add_test(ks, test.name.as_ptr(), Some(test.entry), flags) };
            if rc != 0 {
                return Err(rc);
            }
        }
    }
    Ok(())
}

/// ktest's errno as an [`Errno`]; one the crate does not know (none is
/// documented) becomes `EINVAL`.
fn errno(rc: c_int) -> Errno {
    Errno::from_raw(rc).unwrap_or(Errno::EINVAL)
}
