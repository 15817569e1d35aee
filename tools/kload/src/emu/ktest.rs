//! The ktest driver, `drv/ktest` (`usr/src/uts/common/io/ktest/ktest.c`):
//! test module registration (ktest(9F)) and the result calls, with the
//! semantics of illumos' implementation:
//!
//! - names are 0 to 63 characters of `[A-Za-z0-9._]` (`EINVAL`, or
//!   `EOVERFLOW` when 64 or longer); a suite or test name already in use
//!   is `EEXIST`, as is registering a module name twice (with ktest's
//!   console notice);
//! - module, suite and test records are allocated with `KM_NOSLEEP`
//!   (`ENOMEM` when that fails: see [`super::kmem::fail_nosleep`]); they
//!   are real kmem buffers of the emulation, so one left behind is a leak
//!   like any other;
//! - a test sets exactly one result: a second one turns it into ERROR
//!   "multiple results: prev result at line N", none is NONE; messages
//!   are cut at 4095 bytes with ktest's console notice;
//! - tests run with `ktest_lock` held: registering or unregistering a
//!   module from inside a test deadlocks in illumos and panics here;
//! - `ktest_get_input` panics for a test not registered with
//!   `KTEST_FLAG_INPUT` (the runner supplies no input).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::console::{CE_NOTE, fatal, log};
use super::kmem::{self, KM_NOSLEEP};
use super::{KernelSymbol, c_str};
use crate::kthread;

const ENOENT: c_int = 2;
const ENOMEM: c_int = 12;
const EEXIST: c_int = 17;
const EINVAL: c_int = 22;
const EOVERFLOW: c_int = 79;
/// `KTEST_MAX_NAME_LEN`.
const MAX_NAME: usize = 64;
/// `KTEST_MAX_LOG_LEN`.
const MAX_LOG: usize = 4096;
const KTEST_FLAG_INPUT: c_int = 1;
/// Sizes of the records ktest allocates (stand-ins: what matters is that
/// they are allocated, can fail and must be freed).
const MODULE_REC: usize = 128;
const SUITE_REC: usize = 128;
const TEST_REC: usize = 112;

// The shims' text kinds (src/shims.c).
const TEXT_RESULT_FAIL: c_int = 2;
const TEXT_RESULT_ERROR: c_int = 3;
const TEXT_RESULT_SKIP: c_int = 4;
const TEXT_MSG_PREPEND: c_int = 5;

struct KtTest {
    name: String,
    func: usize,
    input: bool,
    rec: usize,
}

struct KtSuite {
    name: String,
    tests: Vec<KtTest>,
    rec: usize,
}

struct KtModule {
    name: String,
    /// Suite handles, in order.
    suites: Vec<usize>,
    registered: bool,
}

/// A test's result as ktest keeps it (`ktest_result_t`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Result {
    /// `KTEST_RESULT_*`: 0 NONE, 1 PASS, 2 FAIL, 3 SKIP, 4 ERROR.
    pub kind: i32,
    /// `kr_line`.
    pub line: i32,
    /// `kr_msg`.
    pub msg: String,
    /// `kr_msg_prepend`.
    pub prepend: String,
}

/// `KTEST_RESULT_PASS`.
pub const PASS: i32 = 1;
/// `KTEST_RESULT_FAIL`.
pub const FAIL: i32 = 2;
/// `KTEST_RESULT_SKIP`.
pub const SKIP: i32 = 3;
/// `KTEST_RESULT_ERROR`.
pub const ERROR: i32 = 4;

struct Ctx {
    triple: String,
    input: bool,
    result: Result,
}

#[derive(Default)]
struct Ktest {
    /// Module handle (its kmem record) → module.
    modules: HashMap<usize, KtModule>,
    /// Suite handle (its kmem record) → suite.
    suites: HashMap<usize, KtSuite>,
    /// Registered module handles, in registration order.
    order: Vec<usize>,
    /// The thread running a test (holding `ktest_lock`).
    running: Option<u64>,
    /// Context handle → context.
    contexts: HashMap<usize, Ctx>,
    next_ctx: usize,
}

static STATE: Mutex<Option<Ktest>> = Mutex::new(None);
static UNLOCKED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, Option<Ktest>> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn st<'a>(g: &'a mut MutexGuard<'static, Option<Ktest>>) -> &'a mut Ktest {
    g.get_or_insert_with(Ktest::default)
}

/// Takes `ktest_lock` as a register/unregister call does: panics if the
/// calling thread is the one running a test (a deadlock in illumos),
/// waits while another is.
fn ktest_lock(op: &str) -> MutexGuard<'static, Option<Ktest>> {
    let mut g = state();
    loop {
        match st(&mut g).running {
            Some(t) if t == kthread::curthread() => fatal(&format!(
                "{op} called from a running test: deadlock on ktest_lock, which ktest holds \
                 while a test runs"
            )),
            Some(_) => g = UNLOCKED.wait(g).unwrap_or_else(|e| e.into_inner()),
            None => return g,
        }
    }
}

/// Forgets every module (their records are freed by kmem's reset).
pub fn reset() {
    *state() = None;
}

/// `ktest_valid_name`, reading the name from module memory.
fn name_arg(p: *const c_char) -> std::result::Result<String, c_int> {
    // SAFETY: the module passes a NUL-terminated name; at most MAX_NAME
    // bytes are read, as ktest's strnlen does.
    let s = unsafe { c_str(p, MAX_NAME) }.ok_or(EINVAL)?;
    if s.len() >= MAX_NAME {
        return Err(EOVERFLOW);
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
        return Err(EINVAL);
    }
    Ok(s)
}

fn free_module(k: &mut Ktest, handle: usize) {
    let Some(m) = k.modules.remove(&handle) else { return };
    for sh in m.suites {
        if let Some(s) = k.suites.remove(&sh) {
            for t in s.tests {
                kmem::free(t.rec as *mut u8, TEST_REC);
            }
            kmem::free(s.rec as *mut u8, SUITE_REC);
        }
    }
    kmem::free(handle as *mut u8, MODULE_REC);
}

extern "C" fn ktest_create_module(name: *const c_char, out: *mut usize) -> c_int {
    let name = match name_arg(name) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let rec = kmem::alloc(MODULE_REC, KM_NOSLEEP, true) as usize;
    if rec == 0 {
        return ENOMEM;
    }
    st(&mut state()).modules.insert(rec, KtModule { name, suites: Vec::new(), registered: false });
    // SAFETY: the module passes where to store the handle.
    unsafe { out.write(rec) };
    0
}

extern "C" fn ktest_add_suite(km: usize, name: *const c_char, out: *mut usize) -> c_int {
    let name = match name_arg(name) {
        Ok(n) => n,
        Err(e) => return e,
    };
    {
        let mut g = state();
        let k = st(&mut g);
        let Some(m) = k.modules.get(&km) else {
            fatal(&format!("ktest_add_suite: bad module handle {km:#x}"));
        };
        if m.suites.iter().any(|s| k.suites.get(s).is_some_and(|s| s.name == name)) {
            return EEXIST;
        }
    }
    let rec = kmem::alloc(SUITE_REC, KM_NOSLEEP, true) as usize;
    if rec == 0 {
        return ENOMEM;
    }
    let mut g = state();
    let k = st(&mut g);
    k.suites.insert(rec, KtSuite { name, tests: Vec::new(), rec });
    if let Some(m) = k.modules.get_mut(&km) {
        m.suites.push(rec);
    }
    // SAFETY: the module passes where to store the handle.
    unsafe { out.write(rec) };
    0
}

extern "C" fn ktest_add_test(ks: usize, name: *const c_char, func: usize, flags: c_int) -> c_int {
    // ktest looks for a duplicate before it validates the name.
    // SAFETY: a NUL-terminated name, read up to MAX_NAME bytes.
    let raw = unsafe { c_str(name, MAX_NAME) }.unwrap_or_default();
    {
        let mut g = state();
        let Some(s) = st(&mut g).suites.get(&ks) else {
            fatal(&format!("ktest_add_test: bad suite handle {ks:#x}"));
        };
        if s.tests.iter().any(|t| t.name == raw) {
            return EEXIST;
        }
    }
    let name = match name_arg(name) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let rec = kmem::alloc(TEST_REC, KM_NOSLEEP, true) as usize;
    if rec == 0 {
        return ENOMEM;
    }
    let mut g = state();
    if let Some(s) = st(&mut g).suites.get_mut(&ks) {
        s.tests.push(KtTest { name, func, input: flags & KTEST_FLAG_INPUT != 0, rec });
    }
    0
}

extern "C" fn ktest_register_module(km: usize) -> c_int {
    let mut g = ktest_lock("ktest_register_module");
    let k = st(&mut g);
    let Some(m) = k.modules.get(&km) else {
        fatal(&format!("ktest_register_module: bad module handle {km:#x}"));
    };
    let name = m.name.clone();
    if k.order.iter().any(|h| k.modules.get(h).is_some_and(|o| o.name == name)) {
        drop(g);
        log(CE_NOTE, None, &format!("test module already exists: {name}"));
        return EEXIST;
    }
    if let Some(m) = k.modules.get_mut(&km) {
        m.registered = true;
    }
    k.order.push(km);
    0
}

extern "C" fn ktest_unregister_module(name: *const c_char) {
    // SAFETY: a NUL-terminated name, compared over at most MAX_NAME bytes.
    let name = unsafe { c_str(name, MAX_NAME) }.unwrap_or_default();
    let mut g = ktest_lock("ktest_unregister_module");
    let k = st(&mut g);
    let found = k.order.iter().position(|h| k.modules.get(h).is_some_and(|m| m.name == name));
    if let Some(i) = found {
        let h = k.order.remove(i);
        free_module(k, h);
    }
}

extern "C" fn ktest_free_module(km: usize) {
    let mut g = state();
    let k = st(&mut g);
    match k.modules.get(&km) {
        None => fatal(&format!("ktest_free_module: bad module handle {km:#x}")),
        Some(m) if m.registered => fatal(&format!(
            "ktest_free_module: module {} is registered (ktest owns it; this frees it under ktest)",
            m.name
        )),
        Some(_) => free_module(k, km),
    }
}

extern "C" fn ktest_hold_mod(name: *const c_char, out: *mut usize) -> c_int {
    // SAFETY: a NUL-terminated module name.
    let name = unsafe { c_str(name, 256) }.unwrap_or_default();
    match crate::symbols::module_base(&name) {
        Some(base) => {
            // SAFETY: the module passes where to store the handle.
            unsafe { out.write(base) };
            0
        }
        None => ENOENT,
    }
}

extern "C" fn ktest_release_mod(_hdl: usize) {}

extern "C" fn ktest_get_fn(hdl: usize, name: *const c_char, out: *mut usize) -> c_int {
    // SAFETY: a NUL-terminated symbol name.
    let name = unsafe { c_str(name, 1024) }.unwrap_or_default();
    match crate::symbols::find_in(hdl, &name) {
        Some(addr) => {
            // SAFETY: the module passes where to store the pointer.
            unsafe { out.write(addr) };
            0
        }
        None => ENOENT,
    }
}

extern "C" fn ktest_get_input(ctx: usize, _bytes: *mut *mut u8, _len: *mut usize) {
    let mut g = state();
    match st(&mut g).contexts.get(&ctx) {
        None => fatal("ktest_get_input: bad context handle"),
        Some(c) if !c.input => fatal(&format!(
            "ktest_get_input: VERIFY failed: {} was not registered with KTEST_FLAG_INPUT",
            c.triple
        )),
        Some(c) => {
            fatal(&format!("ktest_get_input: {}: the host runner supplies no input", c.triple))
        }
    }
}

/// Sets a result as `ktest_set_result` does; returns whether it was set
/// (false: it was a second result, now an ERROR).
fn set_result(ctx: usize, kind: i32, line: c_int, op: &str) -> bool {
    let mut g = state();
    let Some(c) = st(&mut g).contexts.get_mut(&ctx) else {
        fatal(&format!("{op}: bad context handle {ctx:#x}"));
    };
    let r = &mut c.result;
    if r.kind != 0 {
        r.msg = format!("multiple results: prev result at line {}", r.line);
        r.kind = ERROR;
        r.line = line;
        return false;
    }
    r.kind = kind;
    r.line = line;
    true
}

/// The C shims' text sink for the ktest calls (see `console`).
pub(super) fn on_text(kind: c_int, ctx: *mut c_void, line: c_int, text: &str, wanted: usize) {
    let ctx = ctx as usize;
    let (result, op) = match kind {
        TEXT_RESULT_FAIL => (FAIL, "ktest_result_fail"),
        TEXT_RESULT_ERROR => (ERROR, "ktest_result_error"),
        TEXT_RESULT_SKIP => (SKIP, "ktest_result_skip"),
        TEXT_MSG_PREPEND => (0, "ktest_msg_prepend"),
        _ => fatal(&format!("kload: unknown text kind {kind}")),
    };
    if result != 0 && !set_result(ctx, result, line, op) {
        return;
    }
    let mut g = state();
    let Some(c) = st(&mut g).contexts.get_mut(&ctx) else {
        fatal(&format!("{op}: bad context handle {ctx:#x}"));
    };
    let note = if result == 0 {
        c.result.prepend = text.into();
        (wanted > MAX_LOG - 1).then(|| format!("prepend message truncated: {}", c.triple))
    } else {
        c.result.msg = text.into();
        (wanted > MAX_LOG - 1)
            .then(|| format!("result message truncated: {} [{}]", c.triple, c.result.line))
    };
    drop(g);
    if let Some(n) = note {
        log(CE_NOTE, None, &n);
    }
}

extern "C" fn ktest_result_pass(ctx: usize, line: c_int) {
    set_result(ctx, PASS, line, "ktest_result_pass");
}

extern "C" fn ktest_msg_clear(ctx: usize) {
    let mut g = state();
    let Some(c) = st(&mut g).contexts.get_mut(&ctx) else {
        fatal("ktest_msg_clear: bad context handle");
    };
    c.result.prepend.clear();
}

unsafe extern "C" {
    fn kload_ktest_result_fail(ctx: *mut c_void, line: c_int, fmt: *const c_char, ...);
    fn kload_ktest_result_error(ctx: *mut c_void, line: c_int, fmt: *const c_char, ...);
    fn kload_ktest_result_skip(ctx: *mut c_void, line: c_int, fmt: *const c_char, ...);
    fn kload_ktest_msg_prepend(ctx: *mut c_void, fmt: *const c_char, ...);
}

// --- The runner's side ----------------------------------------------------

/// One registered test.
#[derive(Clone, Debug)]
pub struct Registered {
    /// ktest module name.
    pub module: String,
    /// Suite name.
    pub suite: String,
    /// Test name.
    pub test: String,
    /// The `ktest_fn_t`.
    pub func: usize,
    /// Registered with `KTEST_FLAG_INPUT`.
    pub input: bool,
}

/// Every registered test, in registration order.
pub fn registered() -> Vec<Registered> {
    let mut g = state();
    let k = st(&mut g);
    let mut out = Vec::new();
    for h in &k.order {
        let Some(m) = k.modules.get(h) else { continue };
        for sh in &m.suites {
            let Some(s) = k.suites.get(sh) else { continue };
            for t in &s.tests {
                out.push(Registered {
                    module: m.name.clone(),
                    suite: s.name.clone(),
                    test: t.name.clone(),
                    func: t.func,
                    input: t.input,
                });
            }
        }
    }
    out
}

/// Names of the registered ktest modules.
pub fn registered_modules() -> Vec<String> {
    let mut g = state();
    let k = st(&mut g);
    k.order.iter().filter_map(|h| k.modules.get(h).map(|m| m.name.clone())).collect()
}

/// Module handles created but neither registered nor freed.
pub fn unregistered_handles() -> Vec<String> {
    let mut g = state();
    st(&mut g).modules.values().filter(|m| !m.registered).map(|m| m.name.clone()).collect()
}

/// Starts running `t` on the calling thread: takes `ktest_lock` and
/// returns the context handle to pass to the test function.
pub fn begin(t: &Registered) -> usize {
    let mut g = ktest_lock("ktest run");
    let k = st(&mut g);
    k.running = Some(kthread::curthread());
    k.next_ctx += 1;
    // Handles look like kernel pointers but are only keys.
    let handle = 0x6b74_0000_0000 + k.next_ctx * 0x100;
    let triple = format!("{}:{}:{}", t.module, t.suite, t.test);
    k.contexts.insert(handle, Ctx { triple, input: t.input, result: Result::default() });
    handle
}

/// Ends the test started with `handle`: drops `ktest_lock` and returns
/// its result.
pub fn end(handle: usize) -> Result {
    let mut g = state();
    let k = st(&mut g);
    k.running = None;
    let r = k.contexts.remove(&handle).map(|c| c.result).unwrap_or_default();
    UNLOCKED.notify_all();
    r
}

/// The ktest driver's symbols, all provided by `drv/ktest`.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = |n: &str, a: usize| KernelSymbol::module_fn("drv/ktest", n, a);
    vec![
        f("ktest_create_module", ktest_create_module as *const () as usize),
        f("ktest_add_suite", ktest_add_suite as *const () as usize),
        f("ktest_add_test", ktest_add_test as *const () as usize),
        f("ktest_register_module", ktest_register_module as *const () as usize),
        f("ktest_unregister_module", ktest_unregister_module as *const () as usize),
        f("ktest_free_module", ktest_free_module as *const () as usize),
        f("ktest_hold_mod", ktest_hold_mod as *const () as usize),
        f("ktest_release_mod", ktest_release_mod as *const () as usize),
        f("ktest_get_fn", ktest_get_fn as *const () as usize),
        f("ktest_get_input", ktest_get_input as *const () as usize),
        f("ktest_result_pass", ktest_result_pass as *const () as usize),
        f("ktest_result_fail", kload_ktest_result_fail as *const () as usize),
        f("ktest_result_error", kload_ktest_result_error as *const () as usize),
        f("ktest_result_skip", kload_ktest_result_skip as *const () as usize),
        f("ktest_msg_prepend", kload_ktest_msg_prepend as *const () as usize),
        f("ktest_msg_clear", ktest_msg_clear as *const () as usize),
    ]
}
