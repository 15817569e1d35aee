//! Names for addresses: `module`function+0xoff, as mdb prints them.
//!
//! Every loaded object registers its function and object symbols here, so
//! panics, leak reports and lock reports can name module code.

use std::sync::RwLock;

/// Rust symbol names demangled without their hash; others unchanged.
pub fn pretty(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

struct Range {
    start: usize,
    end: usize,
    module: String,
    /// (address, size, name), sorted by address.
    symbols: Vec<(usize, usize, String)>,
}

static RANGES: RwLock<Vec<Range>> = RwLock::new(Vec::new());

/// Registers a loaded object's address range and symbols.
pub fn register(start: usize, end: usize, module: &str, mut symbols: Vec<(usize, usize, String)>) {
    symbols.sort();
    let mut r = RANGES.write().unwrap_or_else(|e| e.into_inner());
    r.push(Range { start, end, module: module.into(), symbols });
}

/// Forgets the object loaded at `start`.
pub fn unregister(start: usize) {
    let mut r = RANGES.write().unwrap_or_else(|e| e.into_inner());
    r.retain(|x| x.start != start);
}

/// `module`symbol+0xoff for an address in a loaded object, or the address
/// in hex.
pub fn describe(addr: usize) -> String {
    lookup(addr, addr).unwrap_or_else(|| format!("{addr:#x}"))
}

/// Names `addr`, finding its symbol by `key` (a return address is looked
/// up one byte back, in its call instruction: a call to a function that
/// does not return may be the last instruction of its caller).
fn lookup(key: usize, addr: usize) -> Option<String> {
    let r = RANGES.read().unwrap_or_else(|e| e.into_inner());
    let range = r.iter().find(|x| key >= x.start && key < x.end)?;
    let i = range.symbols.partition_point(|(a, _, _)| *a <= key);
    // Prefer the innermost symbol whose extent covers the address.
    for (a, size, name) in range.symbols[..i].iter().rev() {
        if key < a + (*size).max(1) {
            return Some(format!("{}`{}+{:#x}", range.module, pretty(name), addr - a));
        }
    }
    Some(format!("{}`{:#x}", range.module, addr))
}

/// The start of the loaded object named `module` (a `ddi_modhandle_t`
/// for `ktest_hold_mod`).
pub fn module_base(module: &str) -> Option<usize> {
    let r = RANGES.read().unwrap_or_else(|e| e.into_inner());
    r.iter().find(|x| x.module == module).map(|x| x.start)
}

/// Symbol `name` (any binding) of the object starting at `base`.
pub fn find_in(base: usize, name: &str) -> Option<usize> {
    let r = RANGES.read().unwrap_or_else(|e| e.into_inner());
    let range = r.iter().find(|x| x.start == base)?;
    range.symbols.iter().find(|(_, _, n)| n == name).map(|(a, _, _)| *a)
}

/// A backtrace of return addresses, one frame per line, indented; the
/// host frames it ends in (the kernel thread's entry) are left out.
pub fn describe_stack(pcs: &[usize]) -> String {
    let mut s = String::new();
    for pc in pcs {
        let Some(d) = lookup(pc.wrapping_sub(1), *pc) else { break };
        s.push_str("    ");
        s.push_str(&d);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_offsets() {
        let base = 0x7000_0000usize;
        register(
            base,
            base + 0x100,
            "m",
            vec![
                (base + 0x10, 0x20, "f".into()),
                (base + 0x40, 0x10, "_ZN3foo3bar17h0123456789abcdefE".into()),
            ],
        );
        assert_eq!(describe(base + 0x14), "m`f+0x4");
        assert_eq!(describe(base + 0x48), "m`foo::bar+0x8");
        assert_eq!(describe(base + 0x90), format!("m`{:#x}", base + 0x90));
        assert_eq!(describe(0x10), "0x10");
        unregister(base);
        assert_eq!(describe(base + 0x14), format!("{:#x}", base + 0x14));
    }
}
