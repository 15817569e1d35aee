//! The panic handler of the kernel build.
//!
//! A Rust panic in the kernel is a bug that leaves state we cannot trust,
//! so it becomes an illumos panic (a crash dump, analysable with mdb). The
//! message is formatted into a fixed buffer (nothing is allocated; the
//! heap may be the problem) and passed to `panic("%s", buf)`: the text is
//! an argument, never the format.
//!
//! # What reaches it
//!
//! - `panic!`, failed `assert!`s, `unwrap`/`expect` on `None`/`Err`,
//!   out-of-bounds indexing, arithmetic overflow checks (when enabled);
//! - allocation failure: `alloc`'s default error handler formats
//!   "memory allocation of N bytes failed" and panics without unwinding,
//!   which lands here. The kmem allocator (`kmem.rs`) uses `KM_SLEEP`, so
//!   it fails only for a layout whose padded size overflows;
//! - `panic_nounwind` paths of `core` (a panic inside a `Drop` during
//!   another panic, misaligned pointer checks, ...).
//!
//! What does not: `core::intrinsics::abort` and LLVM's traps, which stay a
//! bare `ud2` ("BAD TRAP: type=6 (#ud Invalid opcode)" with no message).
//! In `core` and `alloc` the abort guards counters that cannot overflow
//! in practice (`alloc::sync::Arc`'s, which the kernel build replaces with
//! its own, `arc.rs`, whose overflow panics here); LLVM places a `ud2`
//! after calls that never return, where nothing reaches it. The object
//! gates count the `ud2`s a branch can reach and list their functions
//! (`docs/build.md`, "Aborts"): in `dlszone_ktest`, the clone checks of
//! `alloc::sync::Arc`, which still shares long MAC names and the door.
//!
//! # Stack
//!
//! The buffer is static, not on the stack: the handler runs on whatever
//! kernel stack panicked, possibly near its end, and `panic()` only moves
//! to the reserved panic stack once called. Only the first panic ever
//! writes the buffer (see [`PANICKING`]); illumos never returns from
//! `panic()`, so the buffer is never reused.

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::logbuf::LogBuf;
use crate::ffi;

/// Size of the panic message buffer, NUL included.
const PANIC_BUF_LEN: usize = 512;

/// Set by the first panic. A later panic, on this thread while formatting
/// the message (a `Display` impl that panics) or on another thread, does
/// not touch the buffer: it calls `panic()` with a constant message.
static PANICKING: AtomicBool = AtomicBool::new(false);

/// The message buffer of the first panic.
struct PanicBuf(UnsafeCell<LogBuf<PANIC_BUF_LEN>>);

// SAFETY: only the one caller that changed PANICKING from false to true
// ever accesses the contents, and it never returns.
unsafe impl Sync for PanicBuf {}

static PANIC_BUF: PanicBuf = PanicBuf(UnsafeCell::new(LogBuf::new()));

#[panic_handler]
fn panic_handler(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // SAFETY: constant format without conversions; panic() never returns.
        unsafe { ffi::panic(c"dlszone: panic while formatting a panic message".as_ptr()) }
    }
    // SAFETY: the swap above returned false, which happens for exactly one
    // call ever, so this is the only reference to the buffer.
    let buf = unsafe { &mut *PANIC_BUF.0.get() };
    // A message longer than the buffer is cut and marked; that is all
    // a formatting error can mean here.
    let _ = write!(buf, "dlszone: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(buf, " ({}:{}:{})", loc.file(), loc.line(), loc.column());
    }
    // SAFETY: "%s" takes exactly the one NUL-terminated string passed,
    // which is static; panic() never returns.
    unsafe { ffi::panic(c"%s".as_ptr(), buf.as_cstr().as_ptr()) }
}
