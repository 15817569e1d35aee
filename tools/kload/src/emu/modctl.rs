//! Module linkage: `mod_install(9F)`, `mod_remove`, `mod_info` and
//! `mod_miscops`, for misc modules.
//!
//! `mod_install` checks the `struct modlinkage` as modctl reads it
//! (`ml_rev` is `MODREV_1`, a NULL-terminated array of up to seven
//! linkage structures) and each linkage's `mod_ops`: only misc modules
//! (`struct modlmisc`, `&mod_miscops`) are emulated, and their
//! `misc_linkinfo` must fit `MODMAXLINKINFOLEN` (32, NUL included), as
//! `mod_info` copies no more. Installing a second time, or removing or
//! asking about a linkage that is not installed, is refused.
//!
//! Failures can be injected: [`fail_install`] makes the next
//! `mod_install` return an errno, [`busy_removes`] makes the next N
//! `mod_remove` calls return `EBUSY` (what modctl answers while a module
//! is held), to exercise a module's error paths.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use super::console::CE_WARN;
use super::{Def, KernelSymbol, Provider, c_str};

/// `EBUSY`.
pub const EBUSY: c_int = 16;
/// `EINVAL`.
pub const EINVAL: c_int = 22;
const MODREV_1: i32 = 1;
const MODMAXLINKINFOLEN: usize = 32;
const LINKAGE_SLOTS: usize = 7;

#[derive(Default)]
struct Modctl {
    /// Installed linkages: address → linkinfo strings.
    installed: HashMap<usize, Vec<String>>,
    fail_install: Option<c_int>,
    busy_removes: u32,
    info_calls: u64,
}

static STATE: Mutex<Option<Modctl>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Modctl) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Modctl::default))
}

/// Forgets every installed linkage and injected failure.
pub fn reset() {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The next `mod_install` fails with `errno` (or none does).
pub fn fail_install(errno: Option<c_int>) {
    with(|m| m.fail_install = errno);
}

/// The next `n` `mod_remove` calls fail with `EBUSY`.
pub fn busy_removes(n: u32) {
    with(|m| m.busy_removes = n);
}

/// Whether the linkage at `addr` is installed, and its linkinfo.
pub fn installed(addr: usize) -> Option<Vec<String>> {
    with(|m| m.installed.get(&addr).cloned())
}

/// How many linkages are installed.
pub fn installed_count() -> usize {
    with(|m| m.installed.len())
}

/// How many times `mod_info` was called.
pub fn info_calls() -> u64 {
    with(|m| m.info_calls)
}

fn warn(msg: &str) {
    super::console::log(CE_WARN, None, msg);
}

/// The misc linkages of the modlinkage at `addr`: their linkinfo
/// strings, or why modctl would refuse it.
fn read_linkage(addr: usize) -> Result<Vec<String>, String> {
    if addr == 0 {
        return Err("NULL modlinkage".into());
    }
    // SAFETY: the module passes its `struct modlinkage` (64 bytes: an
    // int, padding and seven pointers), the DDI's contract.
    let (rev, slots) = unsafe {
        let rev = (addr as *const i32).read();
        let slots = ((addr + 8) as *const [usize; LINKAGE_SLOTS]).read();
        (rev, slots)
    };
    if rev != MODREV_1 {
        return Err(format!("modlinkage structure is not MODREV_1 (ml_rev {rev})"));
    }
    let miscops = super::super::machine::kernel_symbol("mod_miscops").unwrap_or(0);
    let mut out = Vec::new();
    for (i, &l) in slots.iter().enumerate() {
        if l == 0 {
            break;
        }
        // SAFETY: a non-NULL slot points at a linkage structure whose
        // first member is its `struct mod_ops *`; misc linkages have
        // the linkinfo pointer next.
        let (ops, info) = unsafe { ((l as *const usize).read(), ((l + 8) as *const usize).read()) };
        if ops != miscops {
            return Err(format!(
                "ml_linkage[{i}] has mod_ops {ops:#x}: only misc modules (&mod_miscops) \
                 are emulated"
            ));
        }
        // SAFETY: misc_linkinfo is a NUL-terminated string of the module.
        let text = unsafe { c_str(info as *const libc::c_char, 256) }.unwrap_or_default();
        if text.len() + 1 > MODMAXLINKINFOLEN {
            return Err(format!(
                "misc_linkinfo {text:?} is {} bytes with its NUL; mod_info keeps {MODMAXLINKINFOLEN}",
                text.len() + 1
            ));
        }
        out.push(text);
    }
    if out.is_empty() {
        return Err("ml_linkage has no linkage".into());
    }
    Ok(out)
}

extern "C" fn mod_install(modlp: *mut c_void) -> c_int {
    let addr = modlp as usize;
    if let Some(e) = with(|m| m.fail_install.take()) {
        return e;
    }
    let infos = match read_linkage(addr) {
        Ok(i) => i,
        Err(e) => {
            warn(&format!("mod_install: {e}"));
            return EINVAL;
        }
    };
    let fresh = with(|m| m.installed.insert(addr, infos.clone()).is_none());
    if !fresh {
        warn(&format!("mod_install: modlinkage {addr:#x} is already installed"));
        return EINVAL;
    }
    0
}

extern "C" fn mod_remove(modlp: *mut c_void) -> c_int {
    let addr = modlp as usize;
    let rc = with(|m| {
        if !m.installed.contains_key(&addr) {
            return EINVAL;
        }
        if m.busy_removes > 0 {
            m.busy_removes -= 1;
            return EBUSY;
        }
        m.installed.remove(&addr);
        0
    });
    if rc == EINVAL {
        warn(&format!("mod_remove: modlinkage {addr:#x} is not installed"));
    }
    rc
}

/// Non-zero on success, as in illumos.
extern "C" fn mod_info(modlp: *mut c_void, modinfop: *mut c_void) -> c_int {
    let addr = modlp as usize;
    if modinfop.is_null() {
        warn("mod_info: NULL modinfo");
        return 0;
    }
    match read_linkage(addr) {
        Ok(_) => {
            with(|m| m.info_calls += 1);
            1
        }
        Err(e) => {
            warn(&format!("mod_info: {e}"));
            0
        }
    }
}

/// `mod_miscops`' entry points, as modctl calls them for misc modules
/// (install and remove do nothing for a misc module; info succeeds).
extern "C" fn misc_op(_linkage: *mut c_void, _modlp: *mut c_void) -> c_int {
    0
}

fn init_miscops(b: &mut [u8]) {
    for i in 0..3 {
        b[i * 8..i * 8 + 8].copy_from_slice(&(misc_op as *const () as usize as u64).to_le_bytes());
    }
}

/// `mod_install`, `mod_remove`, `mod_info`, and the datum `mod_miscops`.
pub fn symbols() -> Vec<KernelSymbol> {
    vec![
        KernelSymbol::core_fn("mod_install", mod_install as *const () as usize),
        KernelSymbol::core_fn("mod_remove", mod_remove as *const () as usize),
        KernelSymbol::core_fn("mod_info", mod_info as *const () as usize),
        KernelSymbol {
            name: "mod_miscops".into(),
            provider: Provider::Core,
            // struct mod_ops: three function pointers.
            def: Def::Data { size: 24, align: 8, init: init_miscops },
        },
    ]
}
