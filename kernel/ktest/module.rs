//! Module linkage of `dlszone_ktest`, the loadable ktest module.
//!
//! Built only for the kernel (`cfg(kmod)`). It is a `misc`
//! module (`struct modlmisc` with `mod_miscops`), installed as
//! `/usr/kernel/misc/ktest/amd64/dlszone_ktest`, where `ktest load dlszone`
//! finds it.
//!
//! # Life cycle
//!
//! - `_init`: builds the module [`State`], which sets up dlszone's
//!   observability (`kmod::obs::init`: the `dlszone_link_cache` kmem
//!   cache and the `dlszone` kstat, which tests read back) and registers
//!   the test table of this crate with ktest (`ktest_create_module`,
//!   `ktest_add_suite`, `ktest_add_test`, `ktest_register_module`; see
//!   `kernel/ktest/glue.rs`), then `mod_install`. If `mod_install` fails,
//!   the state is torn down again (`ktest_unregister_module`) and the
//!   error returned: the order of ktest(9) and `ktest_selftest.c`.
//! - `_fini`: `mod_remove` first; only when it succeeded is the state torn
//!   down, unregistering the tests. While `mod_remove` refuses, the module
//!   stays fully working, tests included.
//! - `_info`: `mod_info` on the linkage.
//!
//! `_fini` deliberately reverses `ktest_selftest.c`, which unregisters
//! first and then returns `mod_remove`'s verdict: if that ever refused,
//! the module would stay loaded with no tests, and `ktest load` could not
//! bring them back (modload of a loaded module does not rerun `_init`).
//! Here both steps succeed or neither happens. The module's text cannot
//! go while a test runs: ktest runs tests with `ktest_lock` held, and
//! `ktest_unregister_module` takes it before `_fini` returns.
//!
//! modctl serialises these three calls for one module, so the state slot
//! needs no lock.
//!
//! # Dependencies
//!
//! `_depends_on` names `drv/ktest` already: the module's only purpose is to
//! carry ktest tests, it lives in ktest's module directory, and krtld must
//! load the ktest driver (which defines every `ktest_*` symbol) before it
//! once tests are registered. Dependencies of the code under test (for
//! example `misc/dls`) are added to the same string.

use alloc::boxed::Box;
use core::ffi::{CStr, c_int};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use static_assertions::const_assert;

use crate::ffi;
use crate::glue::Registration;
use dlszone::errno::KResult;
use dlszone::kmod::linkage::{SyncCell, depends_on_is_valid, linkinfo_is_valid};
use dlszone::sync::Mutex;

/// What `modinfo` shows for the module.
const LINKINFO: &CStr = c"dlszone ktest";
const_assert!(linkinfo_is_valid(LINKINFO));

/// Module paths krtld loads before this module (see the module docs).
const DEPENDS_ON: [u8; 10] = *b"drv/ktest\0";
const_assert!(depends_on_is_valid(&DEPENDS_ON));

/// krtld's dependency list for this module (no `.dynamic` section is
/// written by GNU `ld -r`).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static _depends_on: [u8; DEPENDS_ON.len()] = DEPENDS_ON;

/// `struct modlmisc`: a misc module with no install work of its own.
static MODLMISC: SyncCell<ffi::modlmisc> = SyncCell::new(ffi::modlmisc {
    misc_modops: &raw mut ffi::mod_miscops,
    misc_linkinfo: LINKINFO.as_ptr().cast_mut(),
});

/// `struct modlinkage`: revision 1, one linkage, NULL-terminated.
static MODLINKAGE: SyncCell<ffi::modlinkage> = SyncCell::new(ffi::modlinkage {
    ml_rev: ffi::MODREV_1,
    ml_linkage: [
        MODLMISC.get().cast(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    ],
});

/// dlszone's observability set up for the module's life: the link record
/// cache (`dlszone_link_cache`) and the `dlszone` kstat, which the tests
/// read back (`kmod::obs`). Dropping it tears both down.
struct Obs;

impl Obs {
    fn init() -> KResult<Obs> {
        dlszone::kmod::obs::init()?;
        Ok(Obs)
    }
}

impl Drop for Obs {
    fn drop(&mut self) {
        // Every test drops its registries, so no link record is left; if
        // one were, the cache stays (and says so) rather than free it.
        let _ = dlszone::kmod::obs::fini();
    }
}

/// Everything the module owns while installed.
///
/// Built by `_init` before `mod_install`, dropped by `_fini` after
/// `mod_remove` succeeded (or by `_init` when `mod_install` failed).
/// Fields drop in order: the tests are unregistered before the cache and
/// the kstat they use go.
pub struct State {
    /// The registered tests; dropping this unregisters them.
    _tests: Registration,
    /// The record cache and the kstat; set up before the tests register.
    _obs: Obs,
    /// How many times `_info` was asked about the module; a real kernel
    /// lock, exercised on every `modinfo`.
    info_calls: Mutex<u64>,
}

impl State {
    /// Sets the module up.
    ///
    /// # Context
    ///
    /// `_init`: may sleep.
    pub fn new() -> KResult<State> {
        let obs = Obs::init()?;
        let tests = Registration::register()?;
        let state = State { _tests: tests, _obs: obs, info_calls: Mutex::new(0) };
        let n = crate::test_count();
        dlszone::knote!("dlszone_ktest: loaded, {n} tests registered");
        Ok(state)
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let calls = *self.info_calls.lock();
        dlszone::knote!("dlszone_ktest: unloaded ({calls} _info calls)");
    }
}

/// The installed module's state; null while not installed.
static STATE: AtomicPtr<State> = AtomicPtr::new(ptr::null_mut());

/// Module entry point: sets up the state, then installs the linkage.
#[unsafe(no_mangle)]
pub extern "C" fn _init() -> c_int {
    let state = match State::new() {
        Ok(s) => Box::into_raw(Box::new(s)),
        Err(e) => return e.to_raw(),
    };
    STATE.store(state, Ordering::Release);
    // SAFETY: MODLINKAGE is a valid, NULL-terminated modlinkage in .data
    // that lives as long as the module.
    let rc = unsafe { ffi::mod_install(MODLINKAGE.get()) };
    if rc != 0 {
        drop_state();
    }
    rc
}

/// Module exit point: uninstalls the linkage, then tears the state down.
#[unsafe(no_mangle)]
pub extern "C" fn _fini() -> c_int {
    // SAFETY: as in `_init`; modctl calls _fini only after _init succeeded.
    let rc = unsafe { ffi::mod_remove(MODLINKAGE.get()) };
    if rc == 0 {
        drop_state();
    }
    rc
}

/// Module information entry point.
///
/// # Safety
///
/// Called by modctl with a valid `struct modinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _info(modinfop: *mut ffi::modinfo) -> c_int {
    let state = STATE.load(Ordering::Acquire);
    if !state.is_null() {
        // SAFETY: a non-null STATE points at the live state; modctl does
        // not run _fini (which frees it) concurrently with _info.
        let state = unsafe { &*state };
        *state.info_calls.lock() += 1;
    }
    // SAFETY: MODLINKAGE is valid; `modinfop` comes from modctl.
    unsafe { ffi::mod_info(MODLINKAGE.get(), modinfop) }
}

fn drop_state() {
    let state = STATE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !state.is_null() {
        // SAFETY: STATE only ever holds a pointer from Box::into_raw in
        // `_init`, and the swap makes this the only owner.
        drop(unsafe { Box::from_raw(state) });
    }
}
