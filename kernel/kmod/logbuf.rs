//! A fixed-size, NUL-terminated text buffer for kernel messages.
//!
//! Rust formatting writes into a [`LogBuf`] on the stack; the result is
//! handed to C as the *argument* of a constant `"%s"` format, never as the
//! format itself, so a `%` in the text is printed as it is.
//!
//! The buffer never allocates and never panics. Text that does not fit is
//! cut at a UTF-8 character boundary and marked with a trailing `"..."`;
//! a NUL inside the text (which C would take as the end) is written as the
//! two characters `\0`.

use core::ffi::CStr;
use core::fmt;

/// Marker appended to text that did not fit.
pub const TRUNCATION_MARK: &str = "...";

/// A bounded text buffer of `N` bytes, the last of which is always
/// reserved for the terminating NUL.
///
/// # Invariants
///
/// - `len <= N - 1`, and `buf[..len]` is valid UTF-8 with no NUL byte;
/// - if `truncated`, the text ends in [`TRUNCATION_MARK`].
pub struct LogBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> Default for LogBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogBuf<N> {
    /// Bytes of text the buffer can hold (one byte is kept for the NUL).
    pub const CAPACITY: usize = {
        assert!(N > TRUNCATION_MARK.len(), "a LogBuf needs room for the truncation mark");
        N - 1
    };

    /// An empty buffer.
    pub const fn new() -> Self {
        let _ = Self::CAPACITY; // evaluate the size check for this N
        LogBuf { buf: [0; N], len: 0, truncated: false }
    }

    /// A buffer holding `args`, formatted and truncated as needed.
    pub fn format(args: fmt::Arguments<'_>) -> Self {
        let mut b = Self::new();
        // A full buffer stops the formatter with fmt::Error; what fitted
        // is kept and marked, so the error carries no further information.
        let _ = fmt::write(&mut b, args);
        b
    }

    /// Appends `s` (truncating as `write_str` does), without `core::fmt`.
    pub fn push_str(&mut self, s: &str) {
        let _ = fmt::Write::write_str(self, s);
    }

    /// Appends `v` in decimal, without `core::fmt`.
    pub fn push_i64(&mut self, v: i64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = v.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            let _ = self.push(b"-");
        }
        let _ = self.push(&digits[i..]);
    }

    /// The text so far, without the NUL.
    pub fn as_str(&self) -> &str {
        // The type invariant makes this always succeed; fall back to the
        // empty string rather than panic.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// The text so far as bytes, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Length of the text in bytes, without the NUL.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no text has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some text was cut off.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// The text as a NUL-terminated C string, ready to pass as the
    /// argument of a `"%s"` format.
    pub fn as_cstr(&mut self) -> &CStr {
        self.buf[self.len] = 0;
        // The text holds no NUL (type invariant), so the first NUL is the
        // one just written; the fallback is unreachable but avoids a panic.
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }

    /// Appends as much of `bytes` (valid UTF-8) as fits; when not all of
    /// it fits, cuts the text at a character boundary, appends the
    /// truncation mark and returns `fmt::Error` to stop the formatter.
    fn push(&mut self, bytes: &[u8]) -> fmt::Result {
        if self.truncated {
            return Err(fmt::Error);
        }
        let room = Self::CAPACITY - self.len;
        if bytes.len() <= room {
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
            return Ok(());
        }
        self.buf[self.len..Self::CAPACITY].copy_from_slice(&bytes[..room]);
        self.len = Self::CAPACITY;
        self.truncate();
        Err(fmt::Error)
    }

    /// Cuts the text so that [`TRUNCATION_MARK`] fits after it, at a
    /// character boundary, and appends the mark.
    fn truncate(&mut self) {
        let mark = TRUNCATION_MARK.as_bytes();
        let mut end = self.len.min(Self::CAPACITY - mark.len());
        // buf[end] is the first byte dropped; if it continues a multi-byte
        // character, step back to that character's first byte.
        while end > 0 && end < self.len && is_utf8_continuation(self.buf[end]) {
            end -= 1;
        }
        self.buf[end..end + mark.len()].copy_from_slice(mark);
        self.len = end + mark.len();
        self.truncated = true;
    }
}

const fn is_utf8_continuation(b: u8) -> bool {
    b & 0b1100_0000 == 0b1000_0000
}

impl<const N: usize> fmt::Write for LogBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, run) in s.split('\0').enumerate() {
            if i > 0 {
                self.push(b"\\0")?;
            }
            self.push(run.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod push_tests {
    use super::LogBuf;

    #[test]
    fn push_i64_and_str() {
        let mut b = LogBuf::<64>::new();
        b.push_str("error ");
        b.push_i64(145);
        b.push_str(" ");
        b.push_i64(-7);
        b.push_str(" ");
        b.push_i64(i64::MIN);
        assert_eq!(b.as_str(), "error 145 -7 -9223372036854775808");
    }
}

impl<const N: usize> fmt::Debug for LogBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogBuf")
            .field("text", &self.as_str())
            .field("truncated", &self.truncated)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn short_text_is_kept_and_nul_terminated() {
        let mut b = LogBuf::<32>::format(format_args!("link {} in zone {}", 5, 3));
        assert_eq!(b.as_str(), "link 5 in zone 3");
        assert!(!b.is_truncated());
        assert_eq!(b.as_cstr().to_bytes_with_nul(), b"link 5 in zone 3\0");
    }

    #[test]
    fn percent_signs_are_plain_text() {
        // The buffer is always the *argument* of "%s": a conversion in the
        // text must reach cmn_err untouched, not doubled or interpreted.
        let mut b = LogBuf::<64>::format(format_args!("100% of %s and %n{}", "%d"));
        assert_eq!(b.as_str(), "100% of %s and %n%d");
        assert_eq!(b.as_cstr().to_bytes(), b"100% of %s and %n%d");
    }

    #[test]
    fn exactly_full_is_not_truncated() {
        let b = LogBuf::<8>::format(format_args!("1234567"));
        assert_eq!(b.as_str(), "1234567");
        assert!(!b.is_truncated());
        assert_eq!(b.len(), LogBuf::<8>::CAPACITY);
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let mut b = LogBuf::<16>::format(format_args!("{}", "abcdefghijklmnopqrstuvwxyz"));
        assert!(b.is_truncated());
        assert_eq!(b.as_str(), "abcdefghijkl...");
        assert_eq!(b.len(), 15);
        assert_eq!(b.as_cstr().to_bytes_with_nul().len(), 16);
    }

    #[test]
    fn truncation_respects_utf8_boundaries() {
        // 'é' is two bytes, '€' three: whatever the cut position, the kept
        // text must stay valid UTF-8 and end in the mark.
        for n in 0..40 {
            let text: std::string::String = "é€".repeat(n);
            let b = LogBuf::<12>::format(format_args!("{text}"));
            assert!(core::str::from_utf8(b.as_bytes()).is_ok(), "n={n}");
            if b.is_truncated() {
                assert!(b.as_str().ends_with(TRUNCATION_MARK), "n={n}: {:?}", b.as_str());
            } else {
                assert_eq!(b.as_str(), text);
            }
        }
    }

    #[test]
    fn writes_after_truncation_are_dropped() {
        let mut b = LogBuf::<8>::new();
        assert!(write!(b, "0123456789").is_err());
        assert!(write!(b, "more").is_err());
        assert_eq!(b.as_str(), "0123...");
        b.clear();
        assert!(write!(b, "ok").is_ok());
        assert_eq!(b.as_str(), "ok");
    }

    #[test]
    fn embedded_nul_is_escaped() {
        let mut b = LogBuf::<32>::format(format_args!("a{}b", '\0'));
        assert_eq!(b.as_str(), "a\\0b");
        assert_eq!(b.as_cstr().to_bytes(), b"a\\0b");
    }

    #[test]
    fn pieces_accumulate_across_writes() {
        let mut b = LogBuf::<32>::new();
        write!(b, "one").unwrap();
        write!(b, " two {}", 3).unwrap();
        assert_eq!(b.as_str(), "one two 3");
        assert!(!b.is_empty());
    }

    #[test]
    fn empty_buffer_is_an_empty_c_string() {
        let mut b = LogBuf::<4>::new();
        assert!(b.is_empty());
        assert_eq!(b.as_cstr(), c"");
    }
}
