//! The panic handler of the kernel build.
//!
//! A Rust panic in the kernel is a bug that leaves state we cannot trust,
//! so it becomes an illumos panic (a crash dump, analysable with mdb). The
//! message is formatted into a fixed buffer on the stack (nothing is
//! allocated; the heap may be the problem) and passed to
//! `panic("%s", buf)`: the text is an argument, never the format.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::logbuf::LogBuf;
use crate::ffi;

/// Size of the panic message buffer, NUL included.
const PANIC_BUF_LEN: usize = 256;

/// Set by the first panic; a panic raised while formatting that one (a
/// `Display` impl that panics) must not recurse.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic_handler(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // SAFETY: constant format without conversions; panic() never returns.
        unsafe { ffi::panic(c"dlszone: panic while formatting a panic message".as_ptr()) }
    }
    let mut buf = LogBuf::<PANIC_BUF_LEN>::new();
    // A message longer than the buffer is cut and marked; that is all
    // a formatting error can mean here.
    let _ = write!(buf, "dlszone: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(buf, " ({}:{}:{})", loc.file(), loc.line(), loc.column());
    }
    // SAFETY: "%s" takes exactly the one NUL-terminated string passed,
    // which lives on this frame for the call; panic() never returns.
    unsafe { ffi::panic(c"%s".as_ptr(), buf.as_cstr().as_ptr()) }
}
