//! The C tests of `dls_mgmt.o`'s interface, run against the object itself.
//!
//! The C programs `tests/c/abi/t_*.c` call the functions `dls_mgmt.o`
//! exports and drive a kernel through the `dlszone_host_*` functions of
//! `tests/c/abi/dlszone_host.h`. `make c-test` links them with the host
//! build of the crate (a fake kernel in Rust); `make kload-test` links
//! them with kload's library instead, where
//!
//! - each `dls_*` function ([`exports`]) forwards to the symbol of the
//!   same name in `build/amd64/dls_mgmt.o` (or `$KLOAD_DLS_MGMT`),
//!   loaded and relocated as krtld would into the emulated kernel, and
//!   called on the calling thread's own kernel stack
//!   ([`crate::kthread::call_here`]): the thread stays the same kernel
//!   thread, so its zone, locks and perimeters are the caller's;
//! - each `dlszone_host_*` function ([`control`]) drives the emulated
//!   kernel ([`crate::emu`]): zones, MACs, devices, dlmgmtd.
//!
//! # The session
//!
//! `dlszone_host_reset()` (each test's start) boots a fresh emulated
//! kernel and loads the object into it; the object then sits in misc/dls
//! uninitialised, as after modload before `dls_init()`. The test's
//! `dls_mgmt_init()` and `dls_mgmt_fini()` are the object's own. Right
//! after `dls_mgmt_fini()` returns, everything the object had from the
//! kernel must be back ([`after_fini`]): every kmem buffer, kstat,
//! cache, ZSD key, netstack registration, zone and netstack hold, door
//! reference, MAC perimeter and open, `dls_link_t` reference, device
//! hold, and no lock held, no task running; each leftover is a
//! complaint, which `dlszone_host_kernel_complaints()` counts. The next
//! reset unloads the object (with kload's unload checks) and starts
//! over.
//!
//! After every call into the object: a lock or a MAC perimeter the
//! calling thread did not hold before and holds after is a complaint
//! (no entry point returns holding one). Each entry point's deepest
//! kernel stack use is recorded; at exit the library prints them and
//! fails the process (status 1) over [`ENTRY_STACK_BUDGET`] (or
//! `$KLOAD_BUDGET`), or when the emulated kernel complained at all. A call that does not return
//! within `$KLOAD_TIMEOUT` seconds (default 120) ends the process with
//! status 4 and what every blocked kernel thread waits for.

pub mod control;
pub mod exports;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, RwLock};
use std::time::Duration;

use crate::emu::{
    self, complain, console, devices, dls_link, door, kmem, kstat, mac, netstack, sync, taskq, zone,
};
use crate::kthread;
use crate::{LoadOptions, Machine, Module};

/// The kernel stack bound of one call into the object under kload: the
/// run check of a ktest body ([`crate::runner::STACK_BUDGET`]). It only
/// catches an outright overflow; docs/build.md ("Stack budget") holds the
/// object's own frames to 4,096 bytes and compares the measured depth
/// with that.
pub const ENTRY_STACK_BUDGET: usize = crate::runner::STACK_BUDGET;

/// The modules `dls_mgmt.o` is linked with and depends on: misc/mac
/// (misc/dls's `-N misc/mac`) and misc/dls itself (`dls_link.o`,
/// `dls_stat.o`, which the object is linked with).
pub const DEPENDS: &[&str] = &["misc/mac", "misc/dls"];

struct Session {
    machine: *mut Machine,
    module: Option<Module<'static>>,
    path: PathBuf,
    initialised: bool,
}

// SAFETY: the machine and the module are plain data owned by the session;
// the session's mutex serialises every use of them.
unsafe impl Send for Session {}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);
/// The loaded object's global symbols: name → address.
static SYMBOLS: RwLock<BTreeMap<String, usize>> = RwLock::new(BTreeMap::new());

static LOADS: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
static UPCALLS: AtomicU64 = AtomicU64::new(0);
static RELOCATED: AtomicU64 = AtomicU64::new(0);
static TASKS: AtomicU64 = AtomicU64::new(0);
static NOSLEEP_FAILED: AtomicU64 = AtomicU64::new(0);
static KSTAT_READS: AtomicU64 = AtomicU64::new(0);
/// Complaints over the process's life (each boot starts its own list).
static FAILURES: AtomicU64 = AtomicU64::new(0);
static AT_EXIT: Once = Once::new();
static QUIET: AtomicBool = AtomicBool::new(false);

fn session() -> MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(|e| e.into_inner())
}

static PATH: RwLock<Option<PathBuf>> = RwLock::new(None);

/// The object this library loads: the one [`set_object_path`] named,
/// else `$KLOAD_DLS_MGMT`, else `build/amd64/dls_mgmt.o` under the
/// current directory.
pub fn object_path() -> PathBuf {
    if let Some(p) = PATH.read().unwrap_or_else(|e| e.into_inner()).clone() {
        return p;
    }
    std::env::var_os("KLOAD_DLS_MGMT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("build/amd64/dls_mgmt.o"))
}

/// Names the object to load from the next reset on.
pub fn set_object_path(path: PathBuf) {
    *PATH.write().unwrap_or_else(|e| e.into_inner()) = Some(path);
}

/// Silences the exit report (Rust tests that drive the library).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn ensure_loaded(s: &mut Option<Session>) {
    if s.is_some() {
        return;
    }
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(at_exit) };
        start_watchdog();
    });
    let path = object_path();
    let machine = match Machine::boot() {
        Ok(m) => Box::into_raw(Box::new(m)),
        Err(e) => fail_hard(&format!("cannot boot the emulated kernel: {e}")),
    };
    // SAFETY: `machine` is a live Box leaked above; it is freed only in
    // `unload`, after the module borrowing it is gone.
    let m: &'static Machine = unsafe { &*machine };
    let opts = LoadOptions {
        depends: Some(DEPENDS.iter().map(|d| d.to_string()).collect()),
        ..LoadOptions::default()
    };
    let module = match m.load(&path, &opts) {
        Ok(module) => module,
        Err(e) => fail_hard(&format!("{e}\nkload: {}: not loaded", path.display())),
    };
    let o = module.object();
    let syms: BTreeMap<String, usize> = o
        .symbols
        .iter()
        .filter(|s| s.bind != crate::elf::STB_LOCAL)
        .map(|s| (s.name.clone(), s.addr))
        .collect();
    let dls: BTreeMap<String, usize> = syms
        .iter()
        .filter(|(n, _)| matches!(n.as_str(), "dls_devnet_create" | "dls_devnet_destroy"))
        .map(|(n, a)| (n.clone(), *a))
        .collect();
    devices::set_dls_exports(dls);
    if LOADS.fetch_add(1, Ordering::Relaxed) == 0 && !QUIET.load(Ordering::Relaxed) {
        let st = &o.stats;
        let (start, _) = o.range();
        eprintln!(
            "kload: loaded {} at {start:#x} into the emulated kernel (depends on {}): text {} \
             bytes, {} relocations, {} kernel symbols bound; the dls_* calls below run in its \
             bytes",
            path.display(),
            DEPENDS.join(" "),
            st.text,
            st.relocations.values().sum::<usize>(),
            st.kernel_symbols.len()
        );
    }
    *SYMBOLS.write().unwrap_or_else(|e| e.into_inner()) = syms;
    *s = Some(Session { machine, module: Some(module), path, initialised: false });
}

fn fail_hard(msg: &str) -> ! {
    eprintln!("kload: {msg}");
    std::process::exit(1)
}

/// Unloads the object (kload's unload checks) and shuts the emulated
/// kernel down.
fn unload(s: &mut Option<Session>) {
    let Some(mut sess) = s.take() else { return };
    // A module depending on misc/dls goes first, as modunload would
    // have it.
    crate::drv::unload_before_dls();
    if sess.initialised {
        complain("dls_mgmt.o unloaded without dls_mgmt_fini()");
        after_fini();
    }
    if !taskq::drain(Duration::from_secs(120)) {
        complain("tasks still running at unload after 120 s");
    }
    collect_figures();
    SYMBOLS.write().unwrap_or_else(|e| e.into_inner()).clear();
    devices::set_dls_exports(BTreeMap::new());
    let problems = sess.module.take().map(|m| m.unload()).unwrap_or_default();
    for p in &problems {
        complain(&format!("unload of {}: {p}", sess.path.display()));
    }
    FAILURES.fetch_add(emu::complaints().len() as u64, Ordering::Relaxed);
    // SAFETY: the Box leaked in `ensure_loaded`; the module that borrowed
    // it was just consumed.
    drop(unsafe { Box::from_raw(sess.machine) });
}

fn collect_figures() {
    let (u, r) = door::upcalls();
    UPCALLS.fetch_add(u, Ordering::Relaxed);
    RELOCATED.fetch_add(r, Ordering::Relaxed);
    let t = taskq::stats();
    TASKS.fetch_add(t.dispatched, Ordering::Relaxed);
    NOSLEEP_FAILED.fetch_add(t.nosleep_failed, Ordering::Relaxed);
}

/// A fresh emulated kernel with the object loaded in it, uninitialised
/// (`dlszone_host_reset()`).
pub fn reset() {
    let mut s = session();
    unload(&mut s);
    ensure_loaded(&mut s);
    zone::set_thread_zone(zone::GLOBAL);
}

/// Unloads the object and shuts the emulated kernel down, counting what
/// the unload found; the number of complaints since the process started.
pub fn shutdown() -> u64 {
    let mut s = session();
    unload(&mut s);
    FAILURES.load(Ordering::Relaxed)
}

/// Makes sure the object is loaded (a control function called first).
pub fn loaded() {
    let mut s = session();
    ensure_loaded(&mut s);
}

/// The loaded machine, with the object loaded into it: a module that
/// depends on misc/dls loads there ([`crate::drv`]).
pub(crate) fn machine() -> &'static Machine {
    let mut s = session();
    ensure_loaded(&mut s);
    let m = s.as_ref().map(|sess| sess.machine).unwrap_or(std::ptr::null_mut());
    // SAFETY: the session's live Box (ensure_loaded made one), freed only
    // in `unload`, which unloads any module loaded there first
    // (`crate::drv::unload_before_dls`).
    unsafe { &*m }
}

/// The loaded object's global symbols as part of misc/dls, for a module
/// that depends on misc/dls (krtld resolves its symbols against them).
pub fn exports() -> crate::ModuleExports {
    let s = session();
    let object = s
        .as_ref()
        .and_then(|sess| sess.path.file_name())
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    crate::ModuleExports {
        module: "misc/dls".into(),
        object,
        symbols: SYMBOLS.read().unwrap_or_else(|e| e.into_inner()).clone(),
    }
}

/// The address of global symbol `name` of the loaded object.
pub fn symbol(name: &str) -> Option<usize> {
    SYMBOLS.read().unwrap_or_else(|e| e.into_inner()).get(name).copied()
}

// --- Calls into the object ----------------------------------------------------

fn timeout() -> Duration {
    let secs = std::env::var("KLOAD_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

fn start_watchdog() {
    let limit = timeout();
    let _ = std::thread::Builder::new().name("kload-watchdog".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if let Some((th, name)) = emu::call_overdue(limit) {
                let what = format!("{name} (kthread {th})");
                eprintln!("kload: {}", crate::machine::hang_report(&what, limit));
                // SAFETY: ends the process at once; nothing to clean up
                // for a hung kernel.
                unsafe { libc::_exit(4) };
            }
        }
    });
}

/// Calls the object's function `name` with `args` (integers or pointers)
/// on the calling thread's kernel stack, with the checks of the module
/// docs; its `%rax`.
pub fn call(name: &str, args: &[u64]) -> u64 {
    {
        let mut s = session();
        ensure_loaded(&mut s);
    }
    let Some(addr) = symbol(name) else {
        console::fatal(&format!("dls_mgmt.o does not define {name}"));
    };
    let me = kthread::curthread();
    let nested = kthread::in_module_call();
    let locks = sync::held_by(me).len();
    let perims = mac::perims_held_by_me();
    if !nested {
        emu::call_started(name);
    }
    CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a function the object exports, called with the arguments
    // of its C prototype (exports.rs declares each).
    let (rax, used) = unsafe { kthread::call_here(name, addr, args) };
    if !nested {
        emu::call_ended();
    }
    if let Some(u) = used {
        emu::record_stack(name, u);
    }
    let held = sync::held_by(me);
    if held.len() > locks {
        for h in held {
            complain(&format!(
                "{name} returned holding {} {}, entered at\n{}",
                h.kind,
                crate::symbols::describe(h.addr),
                h.stack.trim_end()
            ));
        }
    }
    let p = mac::perims_held_by_me();
    if p != perims {
        complain(&format!("{name}: the caller held {perims} MAC perimeter(s) before, {p} after"));
    }
    match name {
        "dls_mgmt_init" => {
            set_initialised(true);
        }
        "dls_mgmt_fini" => {
            let was = set_initialised(false);
            if was {
                after_fini();
            }
        }
        _ => {}
    }
    rax
}

fn set_initialised(on: bool) -> bool {
    let mut s = session();
    match s.as_mut() {
        Some(sess) => std::mem::replace(&mut sess.initialised, on),
        None => false,
    }
}

/// Everything the object had from the kernel is back after
/// `dls_mgmt_fini()` (see the module docs); a complaint for each thing
/// that is not.
pub fn after_fini() {
    if taskq::running() > 0 {
        complain(&format!(
            "dls_mgmt_fini returned with {} task(s) still running",
            taskq::running()
        ));
        taskq::drain(Duration::from_secs(120));
    }
    let leaks = kmem::leaks();
    if !leaks.is_empty() {
        let bytes: usize = leaks.iter().map(|l| l.size).sum();
        let first = &leaks[0];
        complain(&format!(
            "after dls_mgmt_fini: {} kmem buffer(s), {bytes} bytes, never freed; the first, {} \
             bytes, allocated at\n{}",
            leaks.len(),
            first.size,
            first.stack.trim_end()
        ));
    }
    let mut left: Vec<String> = Vec::new();
    left.extend(kstat::undeleted().into_iter().map(|k| format!("kstat {k} was never deleted")));
    left.extend(kmem::undestroyed_caches().into_iter().map(|c| format!("kmem cache '{c}' lives")));
    left.extend(zone::undeleted_keys());
    left.extend(zone::holds());
    left.extend(netstack::leftovers());
    left.extend(door::leftovers());
    left.extend(mac::leftovers());
    left.extend(dls_link::leftovers());
    left.extend(devices::leftovers());
    left.extend(kmem::check_quarantine());
    for h in sync::held_anywhere() {
        left.push(format!(
            "{} {} still held by kthread {}",
            h.kind,
            crate::symbols::describe(h.addr),
            h.thread
        ));
    }
    for l in left {
        complain(&format!("after dls_mgmt_fini: {l}"));
    }
}

/// Reads kstats as `kstat(8)` would (calling their `ks_update`).
pub fn read_kstats(pick: impl Fn(&kstat::Info) -> bool) -> Vec<kstat::Read> {
    let r = kstat::read(pick);
    KSTAT_READS.fetch_add(r.len() as u64, Ordering::Relaxed);
    r
}

// --- The report at exit ------------------------------------------------------

extern "C" fn at_exit() {
    let failures = shutdown();
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let over = report();
    let prog = std::env::args()
        .next()
        .map(|a| a.rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    eprintln!(
        "kload: {prog} ran against {} loaded on the emulated kernel: {} load(s), {} call(s) into \
         the object, {} door upcall(s) ({} reply(ies) in a door-layer buffer), {} task(s) \
         ({} TQ_NOSLEEP dispatch(es) refused), {} kstat read(s); {} complaint(s)",
        object_path().display(),
        LOADS.load(Ordering::Relaxed),
        CALLS.load(Ordering::Relaxed),
        UPCALLS.load(Ordering::Relaxed),
        RELOCATED.load(Ordering::Relaxed),
        TASKS.load(Ordering::Relaxed),
        NOSLEEP_FAILED.load(Ordering::Relaxed),
        KSTAT_READS.load(Ordering::Relaxed),
        failures
    );
    if failures > 0 || over {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: ends the process with a failure status; the C program's
        // own exit status is overridden, as the emulated kernel failed.
        unsafe { libc::_exit(1) };
    }
}

/// The stack budget in force: `$KLOAD_BUDGET` bytes, else
/// [`ENTRY_STACK_BUDGET`] (a smaller one proves the check bites).
pub fn budget() -> usize {
    std::env::var("KLOAD_BUDGET").ok().and_then(|s| s.parse().ok()).unwrap_or(ENTRY_STACK_BUDGET)
}

/// Prints the stack table; whether some call went over the budget.
fn report() -> bool {
    let rows = emu::entry_stacks();
    if rows.is_empty() {
        return false;
    }
    let budget = budget();
    // The deepest first; all of them with $KLOAD_STACK_TABLE set.
    let mut shown = rows.clone();
    shown.sort_by(|a, b| b.1.deepest.cmp(&a.1.deepest).then(a.0.cmp(&b.0)));
    if std::env::var_os("KLOAD_STACK_TABLE").is_none() {
        shown.truncate(8);
    }
    let w = shown.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
    let mut out = format!(
        "kload: dls_mgmt.o kernel stack of the {} deepest of the {} functions called (budget \
         {budget} bytes; deepest use, and depth at the deepest kernel call; a callback the \
         kernel makes counts in its caller's; KLOAD_STACK_TABLE=1 lists all):\n\
         {:<w$} {:>7} {:>7} {:>7}\n",
        shown.len(),
        rows.len(),
        "FUNCTION",
        "CALLS",
        "DEEPEST",
        "AT-DDI"
    );
    for (n, e) in &shown {
        out.push_str(&format!("{n:<w$} {:>7} {:>7} {:>7}\n", e.calls, e.deepest, e.kernel_call));
    }
    let (n, e) = rows.iter().max_by_key(|(_, e)| e.deepest).cloned().unwrap_or_default();
    let over = e.deepest > budget;
    if over {
        out.push_str(&format!(
            "kload: deepest: {} bytes ({n}), {} bytes OVER the budget\n",
            e.deepest,
            e.deepest - budget
        ));
    } else {
        out.push_str(&format!(
            "kload: deepest: {} bytes ({n}), {} bytes under the budget\n",
            e.deepest,
            budget - e.deepest
        ));
    }
    eprint!("{out}");
    over
}
