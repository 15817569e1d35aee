//! The emulated machine: boot (a fresh kernel image and state), loading
//! objects, and a module's life cycle as modctl drives it.
//!
//! One machine runs at a time in a process (the emulated kernel's state
//! is global, as a kernel's is): [`Machine::boot`] waits for the previous
//! one to be dropped.
//!
//! # Life cycle
//!
//! [`Machine::load`] loads and relocates (krtld); [`Module::init`] calls
//! `_init` (modctl's `modinstall`), [`Module::info`] `_info`,
//! [`Module::fini`] `_fini`, each on a kernel thread of its own, as
//! modload, modinfo and modunload run on different threads. `_init`,
//! `_fini` and `_info` must be global functions in the object's text
//! ("_init() not defined properly"). [`Module::unload`] unmaps the
//! object and reports what a DEBUG kernel with kmem debugging would
//! have found by then: buffers never freed, locks still held, ktest
//! modules left registered (ktest would call into unmapped text),
//! linkages left installed, freed buffers written after their free.

use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

use crate::emu::{self, KernelImage, console, kmem, ktest, modctl, sync};
use crate::kobj::{self, LoadError, LoadOptions, Object};
use crate::kthread::{self, StackUse};

/// Whether a machine (or a unit test of the emulation) owns the global
/// emulation state.
static BOOT: Mutex<bool> = Mutex::new(false);
static BOOT_FREE: Condvar = Condvar::new();
static KERNEL: RwLock<Vec<(String, usize)>> = RwLock::new(Vec::new());

/// Ownership of the global emulation state: one holder at a time (a
/// booted [`Machine`], or a unit test). Unlike a mutex guard it may move
/// between threads, so a machine can live in a global (the C tests'
/// library, [`crate::dls`]).
pub struct BootToken(());

impl Drop for BootToken {
    fn drop(&mut self) {
        *BOOT.lock().unwrap_or_else(|e| e.into_inner()) = false;
        BOOT_FREE.notify_one();
    }
}

/// Waits for the global emulation state to be free and takes it.
fn take_boot() -> BootToken {
    let mut taken = BOOT.lock().unwrap_or_else(|e| e.into_inner());
    while *taken {
        taken = BOOT_FREE.wait(taken).unwrap_or_else(|e| e.into_inner());
    }
    *taken = true;
    BootToken(())
}

/// Serialises users of the global emulation state (unit tests).
pub fn test_lock() -> BootToken {
    take_boot()
}

/// The address of a kernel symbol of the running machine.
pub fn kernel_symbol(name: &str) -> Option<usize> {
    let k = KERNEL.read().unwrap_or_else(|e| e.into_inner());
    k.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
}

/// A booted emulated kernel.
pub struct Machine {
    image: KernelImage,
    /// How long a call into module code may take before it counts as
    /// hung.
    pub timeout: Duration,
    _boot: BootToken,
}

impl Machine {
    /// Boots: resets every subsystem and lays the kernel image out.
    pub fn boot() -> std::io::Result<Machine> {
        Machine::boot_with(emu::table())
    }

    /// Boots a kernel that defines `table` (for example [`emu::table`]
    /// with an interface taken out).
    pub fn boot_with(table: Vec<emu::KernelSymbol>) -> std::io::Result<Machine> {
        let guard = take_boot();
        emu::reset();
        console::init_shims();
        let names: Vec<String> = table.iter().map(|s| s.name.clone()).collect();
        let image = KernelImage::build(table)?;
        *KERNEL.write().unwrap_or_else(|e| e.into_inner()) =
            names.into_iter().filter_map(|n| image.lookup(&n).map(|b| (n, b.addr))).collect();
        Ok(Machine { image, timeout: Duration::from_secs(120), _boot: guard })
    }

    /// The kernel image.
    pub fn image(&self) -> &KernelImage {
        &self.image
    }

    /// Loads and relocates an object (krtld).
    pub fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Module<'_>, LoadError> {
        let obj = kobj::load(path, &self.image, opts)?;
        Ok(Module { obj, timeout: self.timeout, installed: false, _machine: PhantomData })
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        KERNEL.write().unwrap_or_else(|e| e.into_inner()).clear();
        emu::reset();
    }
}

/// The result of one call into module code.
#[derive(Clone, Debug)]
pub struct Call {
    /// What the function returned (`int`).
    pub rc: i32,
    /// Its stack use.
    pub stack: StackUse,
    /// Locks the thread still held when it returned.
    pub held: Vec<sync::Held>,
}

/// A loaded object and its modctl state.
pub struct Module<'m> {
    obj: Object,
    timeout: Duration,
    installed: bool,
    _machine: PhantomData<&'m Machine>,
}

/// Runs module function `func(arg)` on a new kernel thread.
///
/// # Safety
///
/// `func` is the address of a function of a loaded object taking one
/// integer or pointer argument (or none) and returning an `int`; `arg`
/// is what it expects.
pub unsafe fn call(name: &str, func: usize, arg: usize, timeout: Duration) -> Result<Call, String> {
    let r = kthread::run(name, timeout, move |ks| {
        // SAFETY: the caller vouches for `func` and `arg`.
        let rax = unsafe { ks.call(func, arg) };
        (rax as u32 as i32, sync::held_by(kthread::curthread()))
    });
    match r {
        Err(e) => Err(format!("{name}: {e}")),
        Ok(Err(kthread::Hang)) => Err(hang_report(name, timeout)),
        Ok(Ok(((rc, held), stack))) => Ok(Call { rc, stack, held }),
    }
}

/// What to print when a call did not return in time.
pub fn hang_report(what: &str, timeout: Duration) -> String {
    let mut s = format!("{what} did not return within {} s", timeout.as_secs());
    for b in sync::blocked() {
        s.push_str(&format!("\n  {b}"));
    }
    for h in sync::held_anywhere() {
        s.push_str(&format!(
            "\n  {} {} held by kthread {}, entered at\n{}",
            h.kind,
            crate::symbols::describe(h.addr),
            h.thread,
            h.stack.trim_end()
        ));
    }
    s
}

impl Module<'_> {
    /// The loaded object.
    pub fn object(&self) -> &Object {
        &self.obj
    }

    /// Whether `_init` succeeded and `_fini` has not.
    pub fn installed(&self) -> bool {
        self.installed
    }

    fn entry(&self, name: &str) -> Result<usize, String> {
        match self.obj.global(name) {
            Some(s) if s.in_text && s.kind == crate::elf::STT_FUNC => Ok(s.addr),
            _ => Err(format!("{name}() not defined properly in {}", self.obj.name)),
        }
    }

    /// Calls `_init` (modload).
    pub fn init(&mut self) -> Result<Call, String> {
        let f = self.entry("_init")?;
        // SAFETY: `_init` is a function of this object: int _init(void).
        let c = unsafe { call("_init", f, 0, self.timeout) }?;
        self.installed = c.rc == 0;
        Ok(c)
    }

    /// Calls `_info` with a zeroed `struct modinfo` (modinfo).
    pub fn info(&self) -> Result<Call, String> {
        let f = self.entry("_info")?;
        let mut modinfo = vec![0u64; 256];
        let arg = modinfo.as_mut_ptr() as usize;
        // SAFETY: int _info(struct modinfo *); the buffer (2 KiB, larger
        // than struct modinfo) outlives the call, which is waited for.
        let c = unsafe { call("_info", f, arg, self.timeout) };
        drop(modinfo);
        c
    }

    /// Calls `_fini` (modunload).
    pub fn fini(&mut self) -> Result<Call, String> {
        let f = self.entry("_fini")?;
        // SAFETY: `_fini` is a function of this object: int _fini(void).
        let c = unsafe { call("_fini", f, 0, self.timeout) }?;
        if c.rc == 0 {
            self.installed = false;
        }
        Ok(c)
    }

    /// Unmaps the object and returns what the kernel would have found
    /// wrong by now (see the module docs); empty when all is clean.
    pub fn unload(self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.installed {
            problems.push(format!("{} is still installed (_fini did not succeed)", self.obj.name));
        }
        let (start, end) = self.obj.range();
        for m in ktest::registered_modules() {
            problems.push(format!(
                "ktest module '{m}' is still registered: ktest would call into unloaded text"
            ));
        }
        for m in ktest::unregistered_handles() {
            problems
                .push(format!("ktest module '{m}' was created but neither registered nor freed"));
        }
        if modctl::installed_count() > 0 && !self.installed {
            problems.push("a modlinkage is still installed after _fini".into());
        }
        for h in sync::forget_range(start, end) {
            problems.push(format!(
                "{} {} in the module's data is still held by kthread {}",
                h.kind,
                crate::symbols::describe(h.addr),
                h.thread
            ));
        }
        for k in emu::kstat::undeleted() {
            problems.push(format!("kstat {k} was never deleted: kstat(8) would read freed text"));
        }
        for c in kmem::undestroyed_caches() {
            problems.push(format!("kmem cache '{c}' was never destroyed"));
        }
        // Checked while the object's symbols still name its stacks.
        problems.extend(leak_check());
        drop(self.obj);
        problems
    }
}

impl Module<'_> {
    /// Unmaps an object that other modules' objects share the kernel with
    /// (a driver beside misc/dls's `dls_mgmt.o`), reporting what is its
    /// own of [`Module::unload`]'s findings: still installed, locks in its
    /// data still held, kmem buffers it allocated (its code the innermost
    /// module frame) never freed. Empty when all is clean.
    pub fn unload_dependent(self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.installed {
            problems.push(format!("{} is still installed (_fini did not succeed)", self.obj.name));
        }
        let (start, end) = self.obj.range();
        for h in sync::forget_range(start, end) {
            problems.push(format!(
                "{} {} in the module's data is still held by kthread {}",
                h.kind,
                crate::symbols::describe(h.addr),
                h.thread
            ));
        }
        let mine = format!("{}`", self.obj.name);
        for l in kmem::leaks() {
            let innermost = l.stack.lines().next().unwrap_or("").trim_start();
            if innermost.starts_with(&mine) {
                problems.push(format!(
                    "kmem: buffer never freed: {} bytes at {:#x}, allocated at\n{}",
                    l.size,
                    l.addr,
                    l.stack.trim_end()
                ));
            }
        }
        drop(self.obj);
        problems
    }
}

/// Buffers never freed, locks held anywhere, buffers written after their
/// free: what kmem debugging and the lock checks report at unload.
pub fn leak_check() -> Vec<String> {
    let mut problems = Vec::new();
    let leaks = kmem::leaks();
    for (i, l) in leaks.iter().enumerate().take(20) {
        problems.push(format!(
            "kmem: buffer {} of {} never freed: {} bytes at {:#x}, allocated at\n{}",
            i + 1,
            leaks.len(),
            l.size,
            l.addr,
            l.stack.trim_end()
        ));
    }
    problems.extend(kmem::check_quarantine());
    for h in sync::held_anywhere() {
        problems.push(format!(
            "{} {} still held by kthread {}, entered at\n{}",
            h.kind,
            crate::symbols::describe(h.addr),
            h.thread,
            h.stack.trim_end()
        ));
    }
    problems
}
