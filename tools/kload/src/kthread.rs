//! Kernel threads: module code runs on a kernel stack of its own, host
//! code never does.
//!
//! Every call into module code (`_init`, a ktest function, ...) happens on
//! a [`Kstack`]: a 64 KiB-aligned region holding a header page, a guard
//! page and the stack itself, filled with illumos' `kmem_stackinfo`
//! pattern before the call. Calls from module code into the emulated
//! kernel go through stubs that switch to the calling host thread's own
//! stack before running the host function ([`HOST_CALL`]), so the kernel
//! stack only ever holds module frames, and its deepest use, read back
//! from the pattern afterwards, is the module's own.
//!
//! ```text
//! region (64 KiB aligned)
//! +0      header: magic, host sp, module sp/fp at the last kernel call,
//!         deepest module sp at a kernel call
//! +4 KiB  guard page (no access): overflowing the stack faults
//! +8 KiB  stack, pattern-filled ... growing down from
//! top     = region + 64 KiB - 128 (the 128 bytes above stay readable for
//!           the stub's copy of stack-passed arguments)
//! ```
//!
//! # The stub
//!
//! A module calls kernel function `f` at a stub in the low mapping
//! (`movabs $f, %r11; movabs $host_call, %r10; jmp *%r10`). `host_call`
//! finds the header by rounding the stack pointer down to the region
//! size, records the module's stack and frame pointer there, copies eight
//! words of possible stack arguments onto the host stack, switches to the
//! host stack, calls `f`, switches back and returns into the module.
//! `%r10` and `%r11` are free at any call (caller-saved, never argument
//! registers in the C ABI); `%rax` (`%al` counts vector registers for a
//! variadic call) is preserved. A call from a stack that is not a kernel
//! stack (host code that called module code without [`Kstack::call`])
//! aborts with a message instead of running on the wrong stack.
//!
//! Module code that runs past the stack hits the guard page; a SIGSEGV
//! handler recognises the guard pages of live kernel stacks and ends the
//! process with a "kernel stack overflow" panic naming the running call
//! (other faults go to the handler that was there before).
//!
//! Host code must therefore enter module code only through
//! [`Kstack::call`] (or [`Kstack::call_args`]), on a kernel thread of its
//! own ([`run`]) or on the calling thread's own kernel stack
//! ([`call_here`]). An emulated kernel function that calls back into the
//! module (a ZSD constructor, a netstack callback, a driver creating its
//! link) does so with [`call_nested`]: on the same kernel stack, below the
//! frame of the module code that called the kernel function, with
//! [`NESTED_GAP`] bytes left for the kernel function's own frames, as the
//! callback would run in illumos.

use std::cell::Cell;
use std::io;
use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock, mpsc};
use std::time::Duration;

/// Size and alignment of a kernel stack region.
pub const REGION: usize = 64 * 1024;
const PAGE: usize = 4096;
/// Bytes above the initial stack pointer kept readable (see above).
const TOP_MARGIN: usize = 128;
/// Usable stack bytes below the initial stack pointer.
pub const STACK_BYTES: usize = REGION - 2 * PAGE - TOP_MARGIN;
/// What an untouched stack word holds: illumos' `KMEM_STKINFO_PATTERN`,
/// with which `kmem_stackinfo` fills kernel thread stacks for the same
/// measurement.
pub const PATTERN: u64 = 0xbadc_badc_badc_badc;
const MAGIC: u32 = 0x6b74_6872; // "rhtk"
/// Where in the header page the running call's name is kept, and its
/// room (NUL included), for the overflow message.
const LABEL_OFF: usize = 512;
const LABEL_LEN: usize = 192;

/// The header at the bottom of every region (see the module docs).
#[repr(C)]
struct Header {
    magic: u64,
    /// The host stack pointer the stub switches to.
    host_sp: u64,
    /// The module's stack pointer at its latest kernel call (pointing at
    /// the return address into the module).
    module_sp: u64,
    /// The module's frame pointer at that call.
    module_fp: u64,
    /// The lowest stack pointer seen at any kernel call.
    min_sp: u64,
}

const OFF_HOST_SP: usize = offset_of!(Header, host_sp);
const OFF_MODULE_SP: usize = offset_of!(Header, module_sp);
const OFF_MODULE_FP: usize = offset_of!(Header, module_fp);
const OFF_MIN_SP: usize = offset_of!(Header, min_sp);

// The stack-switching trampolines. AT&T syntax.
std::arch::global_asm!(
    // kload_call_on_kstack(header, top, func, arg) -> rax of func(arg)
    ".globl kload_call_on_kstack",
    ".type kload_call_on_kstack,@function",
    "kload_call_on_kstack:",
    "    pushq %rbp",
    "    movq %rsp, %rbp",
    "    pushq %rbx",
    "    pushq %r12",
    "    movq %rdi, %rbx",
    "    movq %rsp, {host_sp}(%rbx)",
    "    movq %rsi, %rsp",
    "    movq %rcx, %rdi",
    "    callq *%rdx",
    "    movq {host_sp}(%rbx), %rsp",
    "    popq %r12",
    "    popq %rbx",
    "    popq %rbp",
    "    retq",
    ".size kload_call_on_kstack, .-kload_call_on_kstack",
    // kload_call6_on_kstack(header, top, func, args) -> rax of
    // func(args[0], ..., args[5])
    ".globl kload_call6_on_kstack",
    ".type kload_call6_on_kstack,@function",
    "kload_call6_on_kstack:",
    "    pushq %rbp",
    "    movq %rsp, %rbp",
    "    pushq %rbx",
    "    pushq %r12",
    "    movq %rdi, %rbx",
    "    movq %rsp, {host_sp}(%rbx)",
    "    movq %rdx, %r11",
    "    movq %rcx, %r12",
    "    movq %rsi, %rsp",
    "    movq 0(%r12), %rdi",
    "    movq 8(%r12), %rsi",
    "    movq 16(%r12), %rdx",
    "    movq 24(%r12), %rcx",
    "    movq 32(%r12), %r8",
    "    movq 40(%r12), %r9",
    "    callq *%r11",
    "    movq {host_sp}(%rbx), %rsp",
    "    popq %r12",
    "    popq %rbx",
    "    popq %rbp",
    "    retq",
    ".size kload_call6_on_kstack, .-kload_call6_on_kstack",
    // kload_host_call: %r11 = host function, %rsp = module stack.
    ".globl kload_host_call",
    ".type kload_host_call,@function",
    "kload_host_call:",
    "    movq %rsp, %r10",
    "    andq ${mask}, %r10",
    "    cmpl ${magic}, (%r10)",
    "    jne 9f",
    "    movq %rsp, {module_sp}(%r10)",
    "    movq %rbp, {module_fp}(%r10)",
    "    cmpq {min_sp}(%r10), %rsp",
    "    jae 1f",
    "    movq %rsp, {min_sp}(%r10)",
    "1:  movq {host_sp}(%r10), %r10",
    "    subq $96, %r10",
    "    movq %rax, 72(%r10)",
    "    movq 8(%rsp), %rax",
    "    movq %rax, 0(%r10)",
    "    movq 16(%rsp), %rax",
    "    movq %rax, 8(%r10)",
    "    movq 24(%rsp), %rax",
    "    movq %rax, 16(%r10)",
    "    movq 32(%rsp), %rax",
    "    movq %rax, 24(%r10)",
    "    movq 40(%rsp), %rax",
    "    movq %rax, 32(%r10)",
    "    movq 48(%rsp), %rax",
    "    movq %rax, 40(%r10)",
    "    movq 56(%rsp), %rax",
    "    movq %rax, 48(%r10)",
    "    movq 64(%rsp), %rax",
    "    movq %rax, 56(%r10)",
    "    movq %rsp, 64(%r10)",
    "    movq 72(%r10), %rax",
    "    movq %r10, %rsp",
    "    callq *%r11",
    "    movq 64(%rsp), %rsp",
    "    retq",
    "9:  jmp {off_kstack}",
    ".size kload_host_call, .-kload_host_call",
    host_sp = const OFF_HOST_SP,
    module_sp = const OFF_MODULE_SP,
    module_fp = const OFF_MODULE_FP,
    min_sp = const OFF_MIN_SP,
    mask = const -(REGION as i64),
    magic = const MAGIC,
    off_kstack = sym off_kstack,
    options(att_syntax),
);

unsafe extern "C" {
    fn kload_call_on_kstack(header: *mut Header, top: usize, func: usize, arg: usize) -> u64;
    fn kload_call6_on_kstack(header: *mut Header, top: usize, func: usize, args: *const u64)
    -> u64;
    fn kload_host_call();
}

/// Where the module's calls into the kernel go (see the module docs).
pub fn host_call_addr() -> usize {
    kload_host_call as *const () as usize
}

/// Name of [`host_call_addr`]'s code, for documentation and messages.
pub const HOST_CALL: &str = "kload_host_call";

extern "C" fn off_kstack() -> ! {
    eprintln!(
        "kload: module code called a kernel function off a kernel stack \
         (host code must enter module code through Kstack::call)"
    );
    std::process::abort()
}

/// Bytes of a stub that calls host function `target` through
/// `host_call` (see the module docs). 32 bytes, padded with `int3`.
pub fn stub(target: usize, host_call: usize) -> [u8; 32] {
    let mut s = [0xcc_u8; 32];
    s[0..2].copy_from_slice(&[0x49, 0xbb]); // movabs $target, %r11
    s[2..10].copy_from_slice(&(target as u64).to_le_bytes());
    s[10..12].copy_from_slice(&[0x49, 0xba]); // movabs $host_call, %r10
    s[12..20].copy_from_slice(&(host_call as u64).to_le_bytes());
    s[20..23].copy_from_slice(&[0x41, 0xff, 0xe2]); // jmp *%r10
    s
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_ID: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    static CURRENT: Cell<*const Header> = const { Cell::new(std::ptr::null()) };
}

/// The calling host thread's identity, `curthread` for the emulated
/// locks (each kernel thread is a host thread of its own).
pub fn curthread() -> u64 {
    THREAD_ID.with(|id| *id)
}

/// Bases of the live kernel stack regions, read by the SIGSEGV handler
/// (atomics only: async-signal-safe). A region that finds no free slot
/// still works; only its overflow message is lost.
static LIVE: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];
static HANDLER: Once = Once::new();
static OLD_SEGV: OnceLock<libc::sigaction> = OnceLock::new();

fn install_overflow_handler() {
    HANDLER.call_once(|| {
        // SAFETY: plain sigaction calls with zero-initialised structures;
        // the handler is async-signal-safe (see `on_segv`).
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_segv as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, &new, &mut old) == 0 {
                let _ = OLD_SEGV.set(old);
            }
        }
    });
}

/// Appends `s` to `buf` at `*n`, as far as it fits.
fn put(buf: &mut [u8], n: &mut usize, s: &[u8]) {
    for &b in s {
        if *n < buf.len() {
            buf[*n] = b;
            *n += 1;
        }
    }
}

extern "C" fn on_segv(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let region = addr & !(REGION - 1);
    let guard = addr >= region + PAGE && addr < region + 2 * PAGE;
    if guard && LIVE.iter().any(|s| s.load(Ordering::Relaxed) == region) {
        let mut buf = [0u8; 512];
        let mut n = 0;
        put(&mut buf, &mut n, b"\npanic: kernel stack overflow: module code ran past its ");
        let mut digits = [0u8; 20];
        let (mut v, mut d) = (STACK_BYTES, digits.len());
        while v > 0 || d == digits.len() {
            d -= 1;
            digits[d] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        put(&mut buf, &mut n, &digits[d..]);
        put(&mut buf, &mut n, b"-byte kernel stack in ");
        // SAFETY: the region is live (it is in LIVE); its header page is
        // readable and holds a NUL-terminated label.
        let label =
            unsafe { std::slice::from_raw_parts((region + LABEL_OFF) as *const u8, LABEL_LEN) };
        let end = label.iter().position(|&b| b == 0).unwrap_or(0);
        put(&mut buf, &mut n, &label[..end]);
        put(&mut buf, &mut n, b"\nkload: the kernel would have panicked here; stopping\n");
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), n);
            libc::_exit(super::emu::console::PANIC_EXIT);
        }
    }
    // Not a kernel stack's guard page: put the previous handler back; the
    // fault repeats on return and reaches it.
    if let Some(old) = OLD_SEGV.get() {
        // SAFETY: restores the action saved at installation.
        unsafe { libc::sigaction(libc::SIGSEGV, old, std::ptr::null_mut()) };
    }
}

/// One kernel stack region (see the module docs).
///
/// # Invariants
///
/// `base` is the 64 KiB-aligned start of a live `REGION`-byte mapping
/// owned by this value: header page read-write, guard page inaccessible,
/// stack read-write.
pub struct Kstack {
    base: NonNull<u8>,
}

// SAFETY: the region is plain memory owned by this value.
unsafe impl Send for Kstack {}

impl Kstack {
    /// Maps a new region, pattern-filled.
    pub fn new() -> io::Result<Kstack> {
        // Over-allocate, then trim to a REGION-aligned REGION.
        let len = 2 * REGION;
        // SAFETY: an anonymous private mapping at a kernel-chosen address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = p as usize;
        let base = (start + REGION - 1) & !(REGION - 1);
        let (head, tail) = (base - start, start + len - (base + REGION));
        // SAFETY: both ranges are parts of the mapping just made, outside
        // the aligned region kept.
        unsafe {
            if head > 0 {
                libc::munmap(p, head);
            }
            if tail > 0 {
                libc::munmap((base + REGION) as *mut libc::c_void, tail);
            }
        }
        // SAFETY: the guard page lies inside the kept region.
        if unsafe { libc::mprotect((base + PAGE) as *mut libc::c_void, PAGE, libc::PROT_NONE) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base as *mut u8).ok_or_else(|| io::Error::other("null region"))?;
        let mut k = Kstack { base };
        k.fill();
        install_overflow_handler();
        let addr = k.base.as_ptr() as usize;
        let _ = LIVE
            .iter()
            .find(|s| s.compare_exchange(0, addr, Ordering::AcqRel, Ordering::Relaxed).is_ok());
        Ok(k)
    }

    fn header(&self) -> *mut Header {
        self.base.as_ptr().cast::<Header>()
    }

    /// The lowest usable stack address.
    pub fn low(&self) -> usize {
        self.base.as_ptr() as usize + 2 * PAGE
    }

    /// The stack pointer module code starts with.
    pub fn top(&self) -> usize {
        self.base.as_ptr() as usize + REGION - TOP_MARGIN
    }

    /// Names what runs on this stack, for the overflow message.
    pub fn set_label(&mut self, label: &str) {
        let b = label.as_bytes();
        let n = b.len().min(LABEL_LEN - 1);
        // SAFETY: [LABEL_OFF, LABEL_OFF + LABEL_LEN) lies in the header
        // page, owned by `self` and not in use (`&mut self`).
        unsafe {
            let dst = self.base.as_ptr().add(LABEL_OFF);
            dst.copy_from_nonoverlapping(b.as_ptr(), n);
            dst.add(n).write(0);
        }
    }

    /// Refills the stack with [`PATTERN`] and resets the header.
    pub fn fill(&mut self) {
        let words = STACK_BYTES / 8;
        // SAFETY: [low, top) is the region's read-write stack, owned by
        // `self` and not in use (`&mut self`: no call is running on it).
        unsafe {
            std::slice::from_raw_parts_mut(self.low() as *mut u64, words).fill(PATTERN);
            self.header().write(Header {
                magic: u64::from(MAGIC),
                host_sp: 0,
                module_sp: 0,
                module_fp: 0,
                min_sp: self.top() as u64,
            });
        }
    }

    /// Bytes below the initial stack pointer that module code wrote since
    /// the last [`Kstack::fill`]: its deepest stack use.
    pub fn deepest_use(&self) -> usize {
        // SAFETY: [low, top) is our read-write stack; no call is running
        // (`&self` while `call` takes `&mut self`).
        let words =
            unsafe { std::slice::from_raw_parts(self.low() as *const u64, STACK_BYTES / 8) };
        match words.iter().position(|&w| w != PATTERN) {
            Some(i) => STACK_BYTES - i * 8,
            None => 0,
        }
    }

    /// How deep the stack was at the deepest call into the kernel since
    /// the last fill (0 if there was none): what a real kernel function
    /// would have below it.
    pub fn deepest_kernel_call(&self) -> usize {
        // SAFETY: the header is ours and not being written (no call runs).
        let min = unsafe { (*self.header()).min_sp } as usize;
        self.top().saturating_sub(min)
    }

    /// Calls module function `func` with one argument on this stack and
    /// returns its `%rax`.
    ///
    /// # Safety
    ///
    /// `func` is the address of module code that follows the C calling
    /// convention, takes at most one integer or pointer argument (`arg`
    /// is passed in `%rdi` either way), returns normally, needs less than
    /// [`STACK_BYTES`] of stack, and reaches host code only through the
    /// kernel's stubs. `arg` is whatever that function expects.
    pub unsafe fn call(&mut self, func: usize, arg: usize) -> u64 {
        let header = self.header();
        let prev = CURRENT.with(|c| c.replace(header));
        // SAFETY: `header` and `top` belong to this live region; the
        // caller vouches for `func`; the trampoline restores the host
        // stack and callee-saved registers before returning.
        let rax = unsafe { kload_call_on_kstack(header, self.top(), func, arg) };
        CURRENT.with(|c| c.set(prev));
        rax
    }

    /// Calls module function `func` with up to six integer or pointer
    /// arguments (`%rdi`, `%rsi`, `%rdx`, `%rcx`, `%r8`, `%r9`; the rest
    /// zero) on this stack and returns its `%rax`.
    ///
    /// # Safety
    ///
    /// As for [`Kstack::call`], for a function taking `args.len()` (at
    /// most six) integer or pointer arguments.
    pub unsafe fn call_args(&mut self, func: usize, args: &[u64]) -> u64 {
        let a = six(args);
        let header = self.header();
        let prev = CURRENT.with(|c| c.replace(header));
        // SAFETY: as in `call`; `a` outlives the call.
        let rax = unsafe { kload_call6_on_kstack(header, self.top(), func, a.as_ptr()) };
        CURRENT.with(|c| c.set(prev));
        rax
    }
}

/// `args` padded with zeroes to the six argument registers.
fn six(args: &[u64]) -> [u64; 6] {
    assert!(args.len() <= 6, "a call with {} register arguments", args.len());
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    a
}

/// Bytes left free between the module frame that called into the kernel
/// and a callback the kernel makes into the module from that call: the
/// kernel function's own frames (the same reserve as the stack budget's
/// for the deepest kernel callee, docs/testing.md). They count in the
/// depth measured.
pub const NESTED_GAP: usize = 1024;

/// Whether the calling host thread is inside a kernel call that module
/// code made (so a callback into the module nests on that kernel stack).
pub fn in_module_call() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Calls module function `func(args)` from inside a kernel call made by
/// module code on this thread, as a kernel function calls back into a
/// module (`zone_key_create()` running a ZSD constructor,
/// `netstack_register()` a netstack callback, iptun creating its link):
/// on the same kernel stack, [`NESTED_GAP`] bytes below the module frame
/// that made the kernel call, so the depth measured for the outer call
/// includes the callback's frames. `None` when the thread is not in such
/// a call.
///
/// # Safety
///
/// As for [`Kstack::call_args`]; the callback must return before the
/// kernel function that makes it does.
pub unsafe fn call_nested(func: usize, args: &[u64]) -> Option<u64> {
    let header = CURRENT.with(|c| c.get()).cast_mut();
    if header.is_null() {
        return None;
    }
    let a = six(args);
    // SAFETY: CURRENT is the header of the region this thread is running
    // module code on; nothing else writes it while this thread is in host
    // code.
    let (host_sp, module_sp, module_fp) =
        unsafe { ((*header).host_sp, (*header).module_sp, (*header).module_fp) };
    let low = header as usize + 2 * PAGE;
    let top = (module_sp as usize).saturating_sub(NESTED_GAP) & !15;
    if top <= low + 256 {
        super::emu::console::fatal("kernel stack overflow: no room for a nested callback");
    }
    // SAFETY: `top` lies in the live stack below every module frame of the
    // outer call; the trampoline restores the host stack; the header's
    // fields the nested call overwrites are restored below, before the
    // outer module code runs again.
    let rax = unsafe { kload_call6_on_kstack(header, top, func, a.as_ptr()) };
    // SAFETY: as above.
    unsafe {
        (*header).host_sp = host_sp;
        (*header).module_sp = module_sp;
        (*header).module_fp = module_fp;
    }
    Some(rax)
}

thread_local! {
    /// The kernel stack of a host thread that calls into module code
    /// directly (a C test's thread: see [`call_here`]).
    static OWN: std::cell::RefCell<Option<Kstack>> = const { std::cell::RefCell::new(None) };
}

/// Calls module function `func(args)` as the calling host thread: nested
/// on its current kernel stack if it is inside a kernel call from module
/// code ([`call_nested`]; no separate stack use then, it counts in the
/// outer call's), otherwise on the thread's own kernel stack, refilled
/// with the pattern first, returning its use. The thread stays the same
/// kernel thread (`curthread`) throughout, so locks, credentials and
/// perimeters it holds are the caller's.
///
/// # Safety
///
/// As for [`Kstack::call_args`].
pub unsafe fn call_here(label: &str, func: usize, args: &[u64]) -> (u64, Option<StackUse>) {
    // SAFETY: the caller's promise.
    if let Some(rax) = unsafe { call_nested(func, args) } {
        return (rax, None);
    }
    OWN.with(|own| {
        let mut own = own.borrow_mut();
        let ks = own.get_or_insert_with(|| {
            Kstack::new().unwrap_or_else(|e| {
                super::emu::console::fatal(&format!("cannot map a kernel stack: {e}"))
            })
        });
        ks.set_label(label);
        ks.fill();
        // SAFETY: the caller's promise; the stack is this thread's own and
        // not in use (a call on it would have taken the nested path).
        let rax = unsafe { ks.call_args(func, args) };
        let used = StackUse { deepest: ks.deepest_use(), kernel_call: ks.deepest_kernel_call() };
        (rax, Some(used))
    })
}

impl Drop for Kstack {
    fn drop(&mut self) {
        let addr = self.base.as_ptr() as usize;
        if let Some(s) = LIVE.iter().find(|s| s.load(Ordering::Relaxed) == addr) {
            s.store(0, Ordering::Release);
        }
        // SAFETY: our own mapping (type invariant); nothing runs on it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), REGION) };
    }
}

/// How much kernel stack one call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackUse {
    /// Deepest use, from the pattern ([`Kstack::deepest_use`]).
    pub deepest: usize,
    /// Depth at the deepest kernel call ([`Kstack::deepest_kernel_call`]).
    pub kernel_call: usize,
}

/// A kernel thread that did not finish in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hang;

/// Runs `f` on a new kernel thread (a host thread of its own, given a
/// fresh, pattern-filled [`Kstack`]) and waits at most `timeout` for it.
/// A thread that hangs is left behind; the caller is expected to report
/// it and end the process.
pub fn run<R: Send + 'static>(
    name: &str,
    timeout: Duration,
    f: impl FnOnce(&mut Kstack) -> R + Send + 'static,
) -> io::Result<Result<(R, StackUse), Hang>> {
    let mut ks = Kstack::new()?;
    ks.set_label(name);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let r = f(&mut ks);
        let used = StackUse { deepest: ks.deepest_use(), kernel_call: ks.deepest_kernel_call() };
        let _ = tx.send((r, used));
    })?;
    match rx.recv_timeout(timeout) {
        Ok(r) => Ok(Ok(r)),
        Err(mpsc::RecvTimeoutError::Timeout) => Ok(Err(Hang)),
        // The host side of the thread panicked (its message is printed).
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(io::Error::other(format!("kernel thread {name} died in host code")))
        }
    }
}

/// The module's call stack at its latest call into the kernel on the
/// calling kernel thread: return addresses, innermost first (empty when
/// the calling thread is not running module code). Walks the frame
/// pointer chain, which dlszone's target keeps (`frame-pointer: always`).
pub fn module_backtrace() -> Vec<usize> {
    let header = CURRENT.with(|c| c.get());
    if header.is_null() {
        return Vec::new();
    }
    let region = header as usize;
    let (low, top) = (region + 2 * PAGE, region + REGION - TOP_MARGIN);
    // SAFETY: CURRENT points at the header of the region this thread is
    // running module code on; the stub filled it at the current call.
    let (sp, mut fp) = unsafe { ((*header).module_sp as usize, (*header).module_fp as usize) };
    let mut pcs = Vec::new();
    if sp < low || sp + 8 > top {
        return pcs;
    }
    // SAFETY: sp lies in the stack; it points at the return address the
    // module's call instruction pushed.
    pcs.push(unsafe { *(sp as *const usize) });
    while pcs.len() < 32 && fp >= sp && fp % 8 == 0 && fp + 16 <= top && fp >= low {
        // SAFETY: fp lies in [low, top - 16): a saved frame pointer and
        // the return address above it.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        pcs.push(ret);
        if next <= fp {
            break;
        }
        fp = next;
    }
    pcs
}

/// The return address into the module of the current kernel call on this
/// thread: who called the emulated function now running.
pub fn caller_pc() -> Option<usize> {
    module_backtrace().first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_aligned_and_measured() {
        let mut k = Kstack::new().unwrap();
        assert_eq!(k.base.as_ptr() as usize % REGION, 0);
        assert_eq!(k.top() % 16, 0);
        assert_eq!(k.deepest_use(), 0);
        // Pretend module code used 1000 bytes (rounded to words).
        // SAFETY: inside the stack, which nothing runs on.
        unsafe { ((k.top() - 1000) as *mut u64).write(1) };
        assert_eq!(k.deepest_use(), 1000);
        k.fill();
        assert_eq!(k.deepest_use(), 0);
        assert_eq!(k.deepest_kernel_call(), 0);
    }

    #[test]
    fn stubs_encode_two_absolute_moves_and_a_jump() {
        let s = stub(0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00);
        assert_eq!(&s[..2], &[0x49, 0xbb]);
        assert_eq!(u64::from_le_bytes(s[2..10].try_into().unwrap()), 0x1122_3344_5566_7788);
        assert_eq!(&s[10..12], &[0x49, 0xba]);
        assert_eq!(&s[20..23], &[0x41, 0xff, 0xe2]);
        assert!(s[23..].iter().all(|&b| b == 0xcc));
    }

    #[test]
    fn threads_have_distinct_ids() {
        let here = curthread();
        let there = std::thread::spawn(curthread).join().unwrap();
        assert_ne!(here, there);
        assert_eq!(here, curthread());
        assert!(module_backtrace().is_empty());
    }
}
