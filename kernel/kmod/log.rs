//! Kernel messages through `cmn_err(9F)`.
//!
//! A message is formatted with Rust formatting into a [`LogBuf`] on the
//! stack (no allocation; cut and marked when longer than [`LOG_BUF_LEN`])
//! and handed to `cmn_err` as the argument of a constant format:
//! `cmn_err(level, "%s", text)`. The text is never used as a format, so a
//! `%` in it is printed as it is.
//!
//! Where the message goes is chosen by the first character of that
//! constant format, as `cmn_err(9F)` defines: see [`Dest`].
//!
//! On the host the same calls write one line to standard error, so code
//! that logs can be unit-tested.
//!
//! ```
//! use dlszone::kmod::log::{self, Dest, Level};
//! log::log(Level::NOTE, Dest::LogOnly, format_args!("link {} moved to zone {}", 7, 3));
//! dlszone::knote!("100% done");
//! ```

use core::ffi::CStr;
use core::fmt;

use super::logbuf::LogBuf;

/// Size of the stack buffer a message is formatted into, NUL included.
pub const LOG_BUF_LEN: usize = 256;

/// A `cmn_err` severity level: illumos' `CE_*` value.
///
/// Only the levels that return are offered; a Rust panic goes through the
/// panic handler, which calls `panic()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level(i32);

impl Level {
    /// `CE_CONT`: continues the previous message, no prefix, no newline.
    pub const CONT: Level = Level(0);
    /// `CE_NOTE`: "NOTICE: " prefix.
    pub const NOTE: Level = Level(1);
    /// `CE_WARN`: "WARNING: " prefix.
    pub const WARN: Level = Level(2);

    /// The `CE_*` value passed to `cmn_err`.
    pub const fn to_raw(self) -> i32 {
        self.0
    }

    #[cfg(not(kmod))]
    fn host_prefix(self) -> &'static str {
        match self.0 {
            1 => "NOTICE: ",
            2 => "WARNING: ",
            _ => "",
        }
    }
}

// The levels must be illumos' values (checked against the C header).
static_assertions::const_assert_eq!(Level::CONT.0, crate::ffi::CE_CONT);
static_assertions::const_assert_eq!(Level::NOTE.0, crate::ffi::CE_NOTE);
static_assertions::const_assert_eq!(Level::WARN.0, crate::ffi::CE_WARN);

/// Where a message goes, chosen by the first character of the format
/// string handed to `cmn_err`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// System log and console (format `"%s"`).
    Both,
    /// System log only (format `"!%s"`).
    LogOnly,
    /// Console only (format `"^%s"`).
    ConsoleOnly,
}

impl Dest {
    /// The constant format string `cmn_err` receives for this destination:
    /// a routing prefix followed by exactly one `%s`.
    pub const fn format(self) -> &'static CStr {
        match self {
            Dest::Both => c"%s",
            Dest::LogOnly => c"!%s",
            Dest::ConsoleOnly => c"^%s",
        }
    }
}

/// Formats `args` into a bounded stack buffer and logs it at `level`.
///
/// # Context
///
/// Any context where `cmn_err` may be called (it does not sleep); uses
/// [`LOG_BUF_LEN`] bytes of stack.
pub fn log(level: Level, dest: Dest, args: fmt::Arguments<'_>) {
    let mut buf = LogBuf::<LOG_BUF_LEN>::format(args);
    emit(level, dest, &mut buf);
}

/// Logs a constant message: no formatting and no buffer, so the deepest
/// callers (upcall failures, teardown) stay shallow.
///
/// # Context
///
/// Any context where `cmn_err` may be called (it does not sleep).
pub fn log_cstr(level: Level, dest: Dest, msg: &'static CStr) {
    #[cfg(kmod)]
    {
        let fmt = dest.format();
        // SAFETY: `fmt` is a constant format with exactly one `%s`, whose
        // argument is a static NUL-terminated string; cmn_err with a level
        // other than CE_PANIC returns.
        unsafe { crate::ffi::cmn_err(level.to_raw(), fmt.as_ptr(), msg.as_ptr()) };
    }
    #[cfg(not(kmod))]
    {
        let _ = dest;
        std::eprintln!("{}{}", level.host_prefix(), msg.to_str().unwrap_or("?"));
    }
}

/// Panics the system with a constant message, for an owned check that
/// must never fail. In the objects built without Rust's panic machinery
/// (`dls_mgmt.o`, the driver) a `panic!` is a bare `ud2`, a trap with no
/// word of why; this says why, through `panic("%s", msg)`.
///
/// # Context
///
/// Any: it does not return.
#[cold]
#[inline(never)]
pub fn fatal(msg: &'static CStr) -> ! {
    #[cfg(kmod)]
    {
        // SAFETY: a constant format with exactly one `%s`, whose argument
        // is a static NUL-terminated string; panic() never returns.
        unsafe { crate::ffi::panic(c"%s".as_ptr(), msg.as_ptr()) }
    }
    #[cfg(not(kmod))]
    {
        panic!("{}", msg.to_str().unwrap_or("?"))
    }
}

/// Logs the text already in `buf`.
pub fn emit<const N: usize>(level: Level, dest: Dest, buf: &mut LogBuf<N>) {
    #[cfg(kmod)]
    {
        let fmt = dest.format();
        let text = buf.as_cstr();
        // SAFETY: `fmt` is a constant format with exactly one `%s`, whose
        // argument is a NUL-terminated string that outlives the call;
        // cmn_err with a level other than CE_PANIC returns.
        unsafe { crate::ffi::cmn_err(level.to_raw(), fmt.as_ptr(), text.as_ptr()) };
    }
    #[cfg(not(kmod))]
    {
        let _ = dest;
        std::eprintln!("{}{}", level.host_prefix(), buf.as_str());
    }
}

/// Logs a `CE_NOTE` message to the system log only (`"!%s"`), formatted
/// like `format!`.
#[macro_export]
macro_rules! knote {
    ($($arg:tt)*) => {
        $crate::kmod::log::log(
            $crate::kmod::log::Level::NOTE,
            $crate::kmod::log::Dest::LogOnly,
            format_args!($($arg)*),
        )
    };
}

/// Logs a `CE_WARN` message to the system log and the console (`"%s"`),
/// formatted like `format!`.
#[macro_export]
macro_rules! kwarn {
    ($($arg:tt)*) => {
        $crate::kmod::log::log(
            $crate::kmod::log::Level::WARN,
            $crate::kmod::log::Dest::Both,
            format_args!($($arg)*),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_one_string_conversion_and_the_routing_prefix() {
        assert_eq!(Dest::Both.format(), c"%s");
        assert_eq!(Dest::LogOnly.format(), c"!%s");
        assert_eq!(Dest::ConsoleOnly.format(), c"^%s");
        for d in [Dest::Both, Dest::LogOnly, Dest::ConsoleOnly] {
            let f = d.format().to_bytes();
            assert_eq!(f.iter().filter(|&&c| c == b'%').count(), 1, "{d:?}");
            assert!(f.ends_with(b"%s"), "{d:?}");
        }
    }

    #[test]
    fn levels_are_illumos_values() {
        assert_eq!(Level::CONT.to_raw(), 0);
        assert_eq!(Level::NOTE.to_raw(), 1);
        assert_eq!(Level::WARN.to_raw(), 2);
    }

    #[test]
    fn logging_long_or_percent_text_does_not_panic() {
        let long = "x".repeat(4 * LOG_BUF_LEN);
        log(Level::NOTE, Dest::LogOnly, format_args!("{long}"));
        crate::knote!("100% %s %n");
        crate::kwarn!("{}", "%d%%");
    }
}
