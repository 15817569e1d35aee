//! The memory functions LLVM emits calls to: `memcpy`, `memmove`,
//! `memset`, `memcmp`, `bcmp`. illumos builds its own copies
//! (`usr/src/common/util/`) into the kernel core; the C library's have the
//! same contracts.

use super::KernelSymbol;

/// `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("memcpy", libc::memcpy as *const () as usize),
        f("memmove", libc::memmove as *const () as usize),
        f("memset", libc::memset as *const () as usize),
        f("memcmp", libc::memcmp as *const () as usize),
        f("bcmp", bcmp as *const () as usize),
    ]
}

/// `bcmp(3C)`: zero when the two ranges are equal.
extern "C" fn bcmp(a: *const libc::c_void, b: *const libc::c_void, n: usize) -> libc::c_int {
    // SAFETY: the caller passes two ranges of `n` readable bytes, as for
    // the kernel's bcmp.
    libc::c_int::from(unsafe { libc::memcmp(a, b, n) } != 0)
}
