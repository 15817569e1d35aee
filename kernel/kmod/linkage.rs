//! Pieces of a loadable module's linkage that do not need the kernel.
//!
//! - [`SyncCell`] lets the module keep C structures the kernel may write
//!   (`struct modlinkage`, `struct modlmisc`) in a writable `static`, i.e.
//!   in `.data`.
//! - [`depends_on_is_valid`] checks a `_depends_on` string at compile time.
//!
//! # `_depends_on`
//!
//! krtld loads a module's dependencies before relocating it. Without a
//! `.dynamic` section (GNU `ld -r` writes none) it looks for a global
//! symbol `_depends_on`: a string of space- or tab-separated module paths
//! relative to the module search path, such as `"drv/ktest misc/mac"`,
//! whose symbol size covers the string and whose last byte is its one NUL.

use core::cell::UnsafeCell;

/// A cell for `static` C data that C code may read or write.
///
/// Rust code only ever takes its address; every access goes through C.
#[repr(transparent)]
pub struct SyncCell<T>(UnsafeCell<T>);

// SAFETY: Rust code never reads or writes the contents, it only passes the
// address to the kernel, which serialises its own accesses (modctl holds
// the module lock around _init, _fini and _info).
unsafe impl<T> Sync for SyncCell<T> {}

impl<T> SyncCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        SyncCell(UnsafeCell::new(value))
    }

    /// The address of the contents, for C.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Whether `s` is a well-formed `_depends_on` value: non-empty text ending
/// in exactly one NUL (its last byte), made of one or more module paths
/// `dir/name` separated by single spaces or tabs, where `dir` and `name`
/// use `[A-Za-z0-9_.-]`, `dir` is not `.` or `..` and nothing starts with
/// `/`.
pub const fn depends_on_is_valid(s: &[u8]) -> bool {
    let n = s.len();
    if n < 4 || s[n - 1] != 0 {
        return false;
    }
    let text_end = n - 1;
    let mut i = 0;
    loop {
        // One `dir/name` token.
        let dir_start = i;
        while i < text_end && is_name_byte(s[i]) {
            i += 1;
        }
        let dir_len = i - dir_start;
        if dir_len == 0 || i >= text_end || s[i] != b'/' {
            return false;
        }
        if s[dir_start] == b'.' && (dir_len == 1 || (dir_len == 2 && s[dir_start + 1] == b'.')) {
            return false;
        }
        i += 1;
        let name_start = i;
        while i < text_end && is_name_byte(s[i]) {
            i += 1;
        }
        if i == name_start {
            return false;
        }
        if i == text_end {
            return true;
        }
        if s[i] != b' ' && s[i] != b'\t' {
            return false;
        }
        i += 1;
        if i == text_end {
            return false; // trailing separator
        }
    }
}

const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

/// Whether `s` fits a `misc_linkinfo`/`drv_linkinfo` string: non-empty
/// text and its NUL within `MODMAXLINKINFOLEN` (32) bytes, as `mod_info`
/// copies at most that much.
pub const fn linkinfo_is_valid(s: &core::ffi::CStr) -> bool {
    let n = s.to_bytes().len();
    n > 0 && n < crate::ffi::MODMAXLINKINFOLEN as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_accepts_module_lists() {
        assert!(depends_on_is_valid(b"drv/ktest\0"));
        assert!(depends_on_is_valid(b"drv/ktest misc/mac\0"));
        assert!(depends_on_is_valid(b"misc/dls\tdrv/ktest misc/mac\0"));
    }

    #[test]
    fn depends_on_rejects_malformed_values() {
        for bad in [
            &b""[..],
            b"\0",
            b"drv/ktest",             // no NUL
            b"drv/ktest\0\0",         // NUL before the last byte
            b"drv/kt\0est\0",         // embedded NUL
            b"ktest\0",               // no directory
            b"/drv/ktest\0",          // absolute
            b"drv/\0",                // no name
            b"drv/ktest \0",          // trailing separator
            b"drv/ktest  misc/mac\0", // empty token
            b"../drv/ktest\0",
            b"drv/k test\0".as_slice(),
        ] {
            assert!(!depends_on_is_valid(bad), "{:?}", std::string::String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn linkinfo_length_limit() {
        assert!(linkinfo_is_valid(c"dlszone ktest"));
        assert!(linkinfo_is_valid(c"0123456789012345678901234567890")); // 31 + NUL
        assert!(!linkinfo_is_valid(c"01234567890123456789012345678901")); // 32 + NUL
        assert!(!linkinfo_is_valid(c""));
    }

    #[test]
    fn sync_cell_hands_out_a_stable_address() {
        static CELL: SyncCell<u64> = SyncCell::new(7);
        assert_eq!(CELL.get(), CELL.get());
        // SAFETY: test-only read of a value nothing writes.
        assert_eq!(unsafe { *CELL.get() }, 7);
    }
}
