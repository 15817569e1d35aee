//! The result of one test body: the verdict ktest records, the source
//! line that decided it, and a bounded message.
//!
//! A body returns exactly one [`Outcome`], so "no result" (ktest's NONE)
//! and "two results" (ktest's ERROR "multiple results") cannot happen:
//! the type system enforces ktest's one-result rule.

use alloc::boxed::Box;
use core::ffi::CStr;
use core::fmt;

use dlszone::kmod::logbuf::LogBuf;

/// Bytes of message a result carries, NUL included. ktest keeps 4096; a
/// body's message rarely needs more than a line or two, so it is kept
/// small; longer text is cut and marked with `...`.
pub const MSG_LEN: usize = 512;

/// The message buffer of an [`Outcome`].
pub type Msg = LogBuf<MSG_LEN>;

/// What a test concluded: `ktest_result_type_t` without NONE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every condition held (`KTEST_RESULT_PASS`).
    Pass,
    /// A condition of the code under test was violated
    /// (`KTEST_RESULT_FAIL`).
    Fail,
    /// The test could not reach a verdict, e.g. its setup failed
    /// (`KTEST_RESULT_ERROR`).
    Error,
    /// The test lacks what it needs to run here (`KTEST_RESULT_SKIP`).
    Skip,
}

impl Verdict {
    /// The word `ktest run` prints in its RESULT column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Skip => "SKIP",
        }
    }

    /// Whether `ktest run` counts this as success (PASS or SKIP).
    pub const fn is_success(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Skip)
    }
}

/// One test's result.
///
/// Small (24 bytes) because every test entry holds one on the kernel
/// stack of the thread running the test: the message of a result that
/// has one lives on the heap.
pub struct Outcome {
    verdict: Verdict,
    line: u32,
    msg: Option<Box<Msg>>,
}

impl Outcome {
    /// A result with a message formatted from `args` (never panics; cut
    /// to [`MSG_LEN`]). The message buffer is allocated (with `KM_SLEEP`
    /// in the kernel, where bodies run in process context).
    ///
    /// Never inlined: every failing assertion of a body builds its
    /// message here, so formatting costs the body's frame nothing at each
    /// assertion site (inlined, it put test bodies at 1.2 to 2 KiB).
    #[cold]
    #[inline(never)]
    pub fn new(verdict: Verdict, line: u32, args: fmt::Arguments<'_>) -> Outcome {
        let mut msg = Box::new(Msg::new());
        // A full buffer stops the formatter; what fitted is kept, marked.
        let _ = fmt::write(&mut *msg, args);
        Outcome { verdict, line, msg: Some(msg) }
    }

    /// A pass at `line`, with no message.
    pub fn pass(line: u32) -> Outcome {
        Outcome { verdict: Verdict::Pass, line, msg: None }
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The line of the body that decided the verdict.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The message (empty for a pass).
    pub fn msg(&self) -> &str {
        self.msg.as_deref().map_or("", Msg::as_str)
    }

    /// The message, NUL-terminated, for a `"%s"` argument.
    pub fn msg_cstr(&mut self) -> &CStr {
        match self.msg.as_deref_mut() {
            Some(m) => m.as_cstr(),
            None => c"",
        }
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}: {}", self.verdict.as_str(), self.line, self.msg())
    }
}

/// The address a `kt_assert3p!` operand points at. References and both
/// kinds of raw pointer coerce to `*const T`.
pub fn addr<T: ?Sized>(p: *const T) -> usize {
    p.cast::<()>().addr()
}
