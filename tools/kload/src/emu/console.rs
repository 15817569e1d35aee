//! `cmn_err(9F)` and `panic(9F)`, and the emulation's own panics.
//!
//! Messages are printed to standard error as the system log would show
//! them (`NOTICE: ...`), tagged with where `cmn_err` would send them, and
//! kept in a log that tests can read ([`messages`]).
//!
//! A panic (the module's `panic()`, `cmn_err(CE_PANIC)`, or a check of
//! the emulated DDI that a real kernel enforces with a panic, such as a
//! recursive `mutex_enter`) ends the process: a kernel would be dead.
//! [`fatal`] prints the message, the module's stack at the call, and
//! exits with status [`PANIC_EXIT`].

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::Write;
use std::sync::Mutex;

use super::KernelSymbol;
use crate::{kthread, symbols};

/// Exit status of a process whose module panicked.
pub const PANIC_EXIT: i32 = 3;

/// `CE_CONT`.
pub const CE_CONT: c_int = 0;
/// `CE_NOTE`.
pub const CE_NOTE: c_int = 1;
/// `CE_WARN`.
pub const CE_WARN: c_int = 2;
/// `CE_PANIC`.
pub const CE_PANIC: c_int = 3;
/// `CE_IGNORE`.
pub const CE_IGNORE: c_int = 4;

/// One logged message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The `CE_*` level.
    pub level: c_int,
    /// The routing character of the format (`!` log only, `^` console
    /// only, `?` log, console when verbose), or `None`.
    pub route: Option<char>,
    /// The formatted text, without routing character.
    pub text: String,
}

static LOG: Mutex<Vec<Message>> = Mutex::new(Vec::new());

/// Clears the message log.
pub fn reset() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Every message logged since boot.
pub fn messages() -> Vec<Message> {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Logs a message as `cmn_err` would.
pub fn log(level: c_int, route: Option<char>, text: &str) {
    if level == CE_PANIC {
        fatal(text);
    }
    if !(CE_CONT..CE_IGNORE).contains(&level) {
        return;
    }
    let prefix = match level {
        CE_NOTE => "NOTICE: ",
        CE_WARN => "WARNING: ",
        _ => "",
    };
    let to = match route {
        Some('!') => "syslog",
        Some('^') => "console",
        _ => "syslog+console",
    };
    eprintln!("kload: {to}: {prefix}{text}");
    let m = Message { level, route, text: text.into() };
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(m);
}

/// A kernel panic: prints `msg` and the module's stack, then ends the
/// process with [`PANIC_EXIT`].
pub fn fatal(msg: &str) -> ! {
    let _ = std::io::stdout().flush();
    let stack = kthread::module_backtrace();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\npanic[kthread {}]: {msg}", kthread::curthread());
    if !stack.is_empty() {
        let _ = write!(err, "  module stack:\n{}", symbols::describe_stack(&stack));
    }
    let _ = writeln!(err, "kload: the kernel would have panicked here; stopping");
    let _ = err.flush();
    // No exit handlers: the kernel is dead, nothing after this is checked.
    // SAFETY: ends the process at once.
    unsafe { libc::_exit(PANIC_EXIT) }
}

// --- The C shims' sinks -------------------------------------------------

const TEXT_CMN_ERR: c_int = 1;

type TextSink = extern "C" fn(c_int, *mut c_void, c_int, *const c_char, usize);
type PanicSink = extern "C" fn(*const c_char) -> !;

unsafe extern "C" {
    fn kload_shims_init(text: TextSink, panic: PanicSink);
    fn kload_cmn_err(ce: c_int, fmt: *const c_char, ...);
    fn kload_panic(fmt: *const c_char, ...) -> !;
}

/// Connects the C shims to Rust; done at every boot (idempotent).
pub fn init_shims() {
    // SAFETY: stores two function pointers for the shims to call.
    unsafe { kload_shims_init(text_sink, panic_sink) };
}

extern "C" fn text_sink(kind: c_int, ctx: *mut c_void, arg: c_int, text: *const c_char, n: usize) {
    // SAFETY: the shims pass a NUL-terminated buffer they own for the call.
    let s = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    if kind == TEXT_CMN_ERR {
        // The shim passes the format's routing character in `ctx`.
        let route = match ctx as usize as u8 {
            0 => None,
            c => Some(c as char),
        };
        log(arg, route, &s);
    } else {
        super::ktest::on_text(kind, ctx, arg, &s, n);
    }
}

extern "C" fn panic_sink(text: *const c_char) -> ! {
    // SAFETY: as above.
    let s = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
    fatal(&s)
}

/// `cmn_err` and `panic`.
pub fn symbols() -> Vec<KernelSymbol> {
    vec![
        KernelSymbol::core_fn("cmn_err", kload_cmn_err as *const () as usize),
        KernelSymbol::core_fn("panic", kload_panic as *const () as usize),
    ]
}
