//! The emulated kernel: every symbol a loaded object may bind to, and the
//! host code behind it.
//!
//! # The symbol table
//!
//! [`table`] lists every kernel symbol the emulation defines, each a
//! [`KernelSymbol`]: its name, which kernel module provides it
//! ([`Provider`]; krtld resolves a module's undefined symbols against the
//! kernel core and the modules it depends on, nothing else) and its
//! definition ([`Def`]):
//!
//! - [`Def::Func`]: a host function with the C ABI. The module reaches
//!   it through a stub that moves the call onto the host stack
//!   ([`crate::kthread`]), so emulation code never runs on (or is
//!   measured against) the kernel stack.
//! - [`Def::Code`]: machine code copied into the low mapping and run in
//!   place (the retpoline thunks).
//! - [`Def::Data`]: a datum placed in the low mapping, so kernel-model
//!   absolute references reach it (`mod_miscops`).
//!
//! ## Adding an interface
//!
//! 1. Write the host implementation in the submodule of its subsystem
//!    (or a new one), as `extern "C" fn` with the illumos signature; a
//!    variadic function needs a C shim in `src/shims.c`.
//! 2. List it in that submodule's `symbols()`, with its provider:
//!    [`Provider::Core`] for unix/genunix, or
//!    `Provider::Module("misc/mac")` for a module the object must name in
//!    its dependencies.
//! 3. A new submodule's `symbols()` goes into [`table`]; a new provider
//!    module is then known to the dependency check too.
//! 4. Reset its state in [`reset`] and report what it finds at unload in
//!    [`crate::machine`].
//!
//! Every symbol of `tools/kernel-symbols.allow` (what the object gates
//! let a kernel object use) must be in the table; a unit test checks it,
//! so an allowlist entry comes with its emulation.
//!
//! Undefined symbols the table lacks fail the load, all of them listed,
//! as krtld's "undefined symbol" does.
//!
//! # Calling back into a module
//!
//! An emulated function that calls a module's function (a ZSD
//! constructor, a netstack callback, a kstat's `ks_update`, a driver
//! calling misc/dls) uses [`call_module`], never holding an emulation
//! lock across it: the module calls back into the kernel.

use std::collections::{BTreeSet, HashMap};
use std::io;

use crate::kthread;
use crate::lowmem::{LowMap, PAGE, Prot, round_up};

pub mod console;
pub mod ddi;
pub mod devices;
#[path = "../../../../kernel/dls/dlmgmtd.rs"]
pub mod dlmgmtd;
pub mod dls_link;
pub mod door;
pub mod kmem;
pub mod kstat;
pub mod ktest;
pub mod mac;
pub mod modctl;
pub mod netstack;
pub mod sdt;
pub mod string;
pub mod sync;
pub mod taskq;
pub mod thunks;
pub mod zone;

/// Undefined symbols with this prefix are DTrace SDT probe sites: krtld
/// rewrites their call sites instead of binding them (see
/// [`crate::kobj`]).
pub const SDT_PREFIX: &str = "__dtrace_probe_";

/// Which kernel module defines a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// The kernel core (unix, genunix, krtld): visible to every module.
    Core,
    /// A loadable module (`dir/name`), visible only to modules that
    /// depend on it.
    Module(&'static str),
}

/// How a kernel symbol is defined (see the module docs).
pub enum Def {
    /// A host function with the C ABI, at this address.
    Func(usize),
    /// Machine code to place in the low mapping.
    Code(Vec<u8>),
    /// A datum: size, alignment and its initial contents.
    Data {
        /// Bytes.
        size: usize,
        /// Alignment (a power of two).
        align: usize,
        /// Fills in the initial contents.
        init: fn(&mut [u8]),
    },
}

/// One symbol of the emulated kernel.
pub struct KernelSymbol {
    /// The symbol name.
    pub name: String,
    /// Who defines it.
    pub provider: Provider,
    /// Its definition.
    pub def: Def,
}

impl KernelSymbol {
    /// A host function of the kernel core.
    pub fn core_fn(name: &str, addr: usize) -> KernelSymbol {
        KernelSymbol { name: name.into(), provider: Provider::Core, def: Def::Func(addr) }
    }

    /// A host function of module `module`.
    pub fn module_fn(module: &'static str, name: &str, addr: usize) -> KernelSymbol {
        KernelSymbol { name: name.into(), provider: Provider::Module(module), def: Def::Func(addr) }
    }
}

/// Every symbol the emulated kernel defines.
pub fn table() -> Vec<KernelSymbol> {
    let mut t = Vec::new();
    t.extend(console::symbols());
    t.extend(kmem::symbols());
    t.extend(kstat::symbols());
    t.extend(sync::symbols());
    t.extend(string::symbols());
    t.extend(modctl::symbols());
    t.extend(ktest::symbols());
    t.extend(thunks::symbols());
    t.extend(zone::symbols());
    t.extend(netstack::symbols());
    t.extend(door::symbols());
    t.extend(taskq::symbols());
    t.extend(mac::symbols());
    t.extend(dls_link::symbols());
    t.extend(devices::symbols());
    t.extend(ddi::symbols());
    t
}

/// Resets every subsystem's state (a fresh boot).
pub fn reset() {
    // Tasks of the previous boot finish first: they use everything else.
    taskq::reset();
    console::reset();
    kmem::reset_caches();
    kmem::reset();
    kstat::reset();
    sync::reset();
    modctl::reset();
    ktest::reset();
    sdt::reset();
    zone::reset();
    netstack::reset();
    door::reset();
    mac::reset();
    dls_link::reset();
    devices::reset();
    ddi::reset();
    *COMPLAINTS.lock().unwrap_or_else(|e| e.into_inner()) = Vec::new();
    FAILURES.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

// --- Injected failures of kernel calls ---------------------------------------

static FAILURES: std::sync::Mutex<
    std::collections::BTreeMap<String, std::collections::VecDeque<i32>>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The kernel calls whose next failure a test can choose, by the names
/// tests use (`tests/c/abi/dlszone_host.h`), and what each stands for.
pub const FAILABLE: &[(&str, &str)] = &[
    ("link_hold_create", "dls_link_hold_create()"),
    ("link_hold", "dls_link_hold()"),
    ("link_rele_by_name", "dls_link_rele_by_name() (ENOTEMPTY: the MAC client has flows)"),
    ("link_setzid", "dls_link_setzid() (EBUSY: streams opened in the link's zone)"),
    ("perim_enter", "mac_perim_enter_by_macname()"),
    ("mac_rename_primary", "mac_rename_primary()"),
    ("mac_exclusive", "mac_mark_exclusive()"),
    ("door_open", "door_ki_open()"),
    ("iptun_create", "iptun_create()"),
    ("iptun_delete", "iptun_delete()"),
    ("kstat_create", "dls_stat_create() (kstat_create_zone() failing)"),
];

/// Makes the next call of kernel function `op` (a name of [`FAILABLE`])
/// fail with `errno`; false for an unknown name.
pub fn fail_next(op: &str, errno: i32) -> bool {
    if !FAILABLE.iter().any(|(n, _)| *n == op) {
        return false;
    }
    let mut f = FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    f.entry(op.to_string()).or_default().push_back(errno);
    true
}

/// The injected failure of this call of `op`, if any.
pub fn take_failure(op: &str) -> Option<i32> {
    let mut f = FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    f.get_mut(op)?.pop_front()
}

// --- Misuse the kernel would not panic on, and calls back into modules -----

/// What the emulated kernel found wrong since boot without panicking:
/// misuse illumos would let pass silently or hang on (a zone destroyed
/// while held, a netstack never released, a task left running), and
/// leftovers found by [`crate::dls`]'s checks.
static COMPLAINTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records (and prints) something a correct module never causes.
pub fn complain(msg: &str) {
    eprintln!("kload: FAIL: {msg}");
    COMPLAINTS.lock().unwrap_or_else(|e| e.into_inner()).push(msg.to_string());
}

/// Everything [`complain`]ed about since boot.
pub fn complaints() -> Vec<String> {
    COMPLAINTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The deepest kernel stack use of one module function called from the
/// emulated kernel or from a test, over every call since the process
/// started (not reset at boot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryStack {
    /// Calls made (not counting calls nested in another's stack).
    pub calls: u64,
    /// Deepest use, in bytes.
    pub deepest: usize,
    /// Depth at the deepest kernel call, in bytes.
    pub kernel_call: usize,
}

static ENTRY_STACKS: std::sync::Mutex<std::collections::BTreeMap<String, EntryStack>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Adds one call's stack use to the figures of `label`.
pub fn record_stack(label: &str, used: kthread::StackUse) {
    let mut m = ENTRY_STACKS.lock().unwrap_or_else(|e| e.into_inner());
    let e = m.entry(label.to_string()).or_default();
    e.calls += 1;
    e.deepest = e.deepest.max(used.deepest);
    e.kernel_call = e.kernel_call.max(used.kernel_call);
}

/// Every function's figures since the process started, by label.
pub fn entry_stacks() -> Vec<(String, EntryStack)> {
    let m = ENTRY_STACKS.lock().unwrap_or_else(|e| e.into_inner());
    m.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Calls module function `func(args)` from the emulated kernel (a ZSD
/// constructor, a netstack callback, a kstat update, a driver calling
/// into misc/dls): nested on the calling kernel thread's stack when module
/// code called the kernel function making the call, else on the thread's
/// own kernel stack, its use recorded under `label`
/// ([`kthread::call_here`]). A top-level call that returns holding a lock
/// it did not hold before is a complaint. Never call it with an
/// emulation lock held: the module calls back into the kernel.
///
/// # Safety
///
/// `func` is a function of a loaded object taking `args` (integers or
/// pointers) with the C calling convention.
pub unsafe fn call_module(label: &str, func: usize, args: &[u64]) -> u64 {
    let me = kthread::curthread();
    let nested = kthread::in_module_call();
    let before = if nested { 0 } else { sync::held_by(me).len() };
    if !nested {
        call_started(label);
    }
    // SAFETY: the caller's promise.
    let (rax, used) = unsafe { kthread::call_here(label, func, args) };
    if !nested {
        call_ended();
    }
    if let Some(u) = used {
        record_stack(label, u);
        let held = sync::held_by(me);
        if held.len() > before {
            for h in held {
                complain(&format!(
                    "{label} returned holding {} {}, entered at\n{}",
                    h.kind,
                    crate::symbols::describe(h.addr),
                    h.stack.trim_end()
                ));
            }
        }
    }
    rax
}

/// Calls into module code in progress on threads that are not kernel
/// threads of their own (a test's thread): thread → (what, since when).
static IN_FLIGHT: std::sync::Mutex<std::collections::BTreeMap<u64, (String, std::time::Instant)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Notes that the calling thread starts a call into module code, `label`.
pub fn call_started(label: &str) {
    let mut f = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    f.insert(kthread::curthread(), (label.to_string(), std::time::Instant::now()));
}

/// Notes that the calling thread's call into module code returned.
pub fn call_ended() {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).remove(&kthread::curthread());
}

/// A call into module code running for longer than `limit`, if any:
/// (thread, what).
pub fn call_overdue(limit: std::time::Duration) -> Option<(u64, String)> {
    let f = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    f.iter().find(|(_, (_, t))| t.elapsed() > limit).map(|(th, (n, _))| (*th, n.clone()))
}

/// The symbol name of module function `addr`, for labels.
pub fn func_name(addr: usize) -> String {
    let d = crate::symbols::describe(addr);
    match d.split_once('`') {
        Some((_, f)) => f.trim_end_matches("+0x0").to_string(),
        None => d,
    }
}

/// Where a kernel symbol ended up.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// The address a module binds to (a stub, code or datum in the low
    /// mapping).
    pub addr: usize,
    /// Who defines it.
    pub provider: Provider,
    /// Whether it is code (a function, thunk) rather than data.
    pub is_code: bool,
}

/// The emulated kernel's own low mapping: stubs, code and data of every
/// table symbol, laid out once per boot, like unix and genunix.
pub struct KernelImage {
    map: LowMap,
    symbols: HashMap<String, Bound>,
}

const STUB: usize = 32;

impl KernelImage {
    /// Lays out `table`: text (stubs and code) first, then data on pages
    /// of their own.
    pub fn build(table: Vec<KernelSymbol>) -> io::Result<KernelImage> {
        let mut text = 0usize;
        let mut data = 0usize;
        let mut place = Vec::with_capacity(table.len());
        for s in &table {
            match &s.def {
                Def::Func(_) => {
                    place.push(text);
                    text += STUB;
                }
                Def::Code(c) => {
                    place.push(text);
                    text = round_up(text + c.len(), 16);
                }
                Def::Data { size, align, .. } => {
                    data = round_up(data, (*align).max(8));
                    place.push(data);
                    data += size;
                }
            }
        }
        let text_len = round_up(text.max(1), PAGE);
        let mut map = LowMap::new(text_len + round_up(data.max(1), PAGE))?;
        let base = map.addr();
        let host_call = kthread::host_call_addr();
        let mut symbols = HashMap::with_capacity(table.len());
        {
            // SAFETY: the mapping is new and still writable; nothing runs
            // from it yet.
            let bytes = unsafe { map.bytes_mut() };
            for (s, &off) in table.iter().zip(&place) {
                let (addr, is_code) = match &s.def {
                    Def::Func(f) => {
                        bytes[off..off + STUB].copy_from_slice(&kthread::stub(*f, host_call));
                        (base + off, true)
                    }
                    Def::Code(c) => {
                        bytes[off..off + c.len()].copy_from_slice(c);
                        (base + off, true)
                    }
                    Def::Data { size, init, .. } => {
                        let at = text_len + off;
                        init(&mut bytes[at..at + size]);
                        (base + at, false)
                    }
                };
                let b = Bound { addr, provider: s.provider, is_code };
                if symbols.insert(s.name.clone(), b).is_some() {
                    return Err(io::Error::other(format!(
                        "kernel symbol {} defined twice",
                        s.name
                    )));
                }
            }
        }
        map.protect(0, text_len, Prot::ReadExec)?;
        let names: Vec<(usize, usize, String)> = symbols
            .iter()
            .map(|(n, b)| (b.addr, if b.is_code { STUB } else { 8 }, n.clone()))
            .collect();
        crate::symbols::register(base, base + map.len(), "unix", names);
        Ok(KernelImage { map, symbols })
    }

    /// A kernel symbol by name.
    pub fn lookup(&self, name: &str) -> Option<&Bound> {
        self.symbols.get(name)
    }

    /// Every loadable module the kernel provides symbols for.
    pub fn modules(&self) -> BTreeSet<&'static str> {
        self.symbols
            .values()
            .filter_map(|b| match b.provider {
                Provider::Module(m) => Some(m),
                Provider::Core => None,
            })
            .collect()
    }

    /// The image's address range.
    pub fn range(&self) -> (usize, usize) {
        (self.map.addr(), self.map.addr() + self.map.len())
    }
}

impl Drop for KernelImage {
    fn drop(&mut self) {
        crate::symbols::unregister(self.map.addr());
    }
}

/// Reads a NUL-terminated string of at most `max` bytes from module
/// memory (lossy UTF-8), or `None` for a null pointer.
///
/// # Safety
///
/// `p` is null or points at readable memory holding a NUL within `max`
/// bytes, or at least `max` readable bytes.
pub unsafe fn c_str(p: *const libc::c_char, max: usize) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut out = Vec::new();
    for i in 0..max {
        // SAFETY: the caller guarantees the bytes up to the NUL or `max`.
        let b = unsafe { *p.add(i) } as u8;
        if b == 0 {
            break;
        }
        out.push(b);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every symbol the object gates allow a kernel object to use
    /// (`tools/kernel-symbols.allow`) is one the emulation defines, so an
    /// object that passes the gates can be loaded here. Adding an
    /// interface to the allowlist means adding it to [`table`] too.
    #[test]
    fn the_gates_allowlist_is_emulated() {
        let allow = include_str!("../../../kernel-symbols.allow");
        let names: Vec<String> = table().into_iter().map(|s| s.name).collect();
        let missing: Vec<&str> = allow
            .lines()
            .filter_map(|l| l.split('#').next()?.split_whitespace().next())
            .filter(|sym| !names.iter().any(|n| n == sym))
            .collect();
        assert!(missing.is_empty(), "allowlisted but not emulated: {missing:?}");
    }

    /// So is every symbol drv/dlszone may use
    /// (`tools/dlszone-symbols.allow`), but the IPD 3 entry points, which
    /// the loaded `dls_mgmt.o` defines ([`crate::drv`]).
    #[test]
    fn the_drivers_allowlist_is_emulated() {
        let allow = include_str!("../../../dlszone-symbols.allow");
        let names: Vec<String> = table().into_iter().map(|s| s.name).collect();
        let missing: Vec<&str> = allow
            .lines()
            .filter(|l| !l.contains("dlszone: kernel/dls"))
            .filter_map(|l| l.split('#').next()?.split_whitespace().next())
            .filter(|sym| !names.iter().any(|n| n == sym))
            .collect();
        assert!(missing.is_empty(), "allowlisted but not emulated: {missing:?}");
    }

    #[test]
    fn symbols_are_unique_and_the_image_lays_them_out() {
        let _g = crate::machine::test_lock();
        let image = KernelImage::build(table()).expect("image");
        let (start, end) = image.range();
        assert!(end <= crate::lowmem::LIMIT && start < end);
        let k = image.lookup("kmem_alloc").unwrap();
        assert!(k.is_code && k.addr >= start && k.addr < end && k.provider == Provider::Core);
        let m = image.lookup("mod_miscops").unwrap();
        assert!(!m.is_code && m.addr % 8 == 0);
        assert_eq!(image.lookup("ktest_add_test").unwrap().provider, Provider::Module("drv/ktest"));
        assert_eq!(
            image.modules().into_iter().collect::<Vec<_>>(),
            ["drv/ktest", "misc/dls", "misc/mac"]
        );
        assert!(image.lookup("__x86_indirect_thunk_r11").is_some());
    }
}
