//! DTrace SDT probes: recording and firing the probe sites krtld patches.
//!
//! A call to an undefined `__dtrace_probe_<name>(args...)` is an SDT probe
//! site. krtld turns the call into NOPs (a tail call into NOPs and `ret`)
//! and records the site; the SDT provider later patches an enabled site
//! to trap into DTrace. The loader ([`crate::kobj`]) does the same, and
//! gives every site a stub of its own in the object's text, so a test can
//! enable the probes ([`crate::kobj::Object::set_probes`]): an enabled
//! site calls (or, for a tail call, jumps to) its stub, which records the
//! probe name and its first eight arguments here, on the host stack, and
//! returns to the module as the original call would have.
//!
//! The stub loads the probe's index into `%rax` (free at a call site:
//! `__dtrace_probe_*` returns nothing, and `%rax` is caller-saved) and
//! goes through the kernel's host-call path to [`ENTRY`], which passes it
//! to Rust as the first argument.

use std::sync::Mutex;

use crate::kthread;

/// Bytes of one probe stub.
pub const STUB: usize = 48;

/// One firing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The probe name (after `__dtrace_probe_`).
    pub probe: String,
    /// Its first eight arguments (those the caller did not pass are
    /// whatever the registers and stack held).
    pub args: [u64; 8],
}

static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static FIRED: Mutex<Vec<Fired>> = Mutex::new(Vec::new());

/// Registers a probe site's name; returns its index for the stub.
pub fn register(name: &str) -> u64 {
    let mut n = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    n.push(name.into());
    (n.len() - 1) as u64
}

/// Takes every firing recorded so far.
pub fn take_fired() -> Vec<Fired> {
    std::mem::take(&mut *FIRED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Forgets every probe and firing (a fresh boot).
pub fn reset() {
    NAMES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    FIRED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

#[allow(clippy::too_many_arguments)]
extern "C" fn fire(
    idx: u64,
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    a7: u64,
) {
    let probe = NAMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(idx as usize)
        .cloned()
        .unwrap_or_else(|| format!("#{idx}"));
    let f = Fired { probe, args: [a0, a1, a2, a3, a4, a5, a6, a7] };
    FIRED.lock().unwrap_or_else(|e| e.into_inner()).push(f);
}

// kload_sdt_entry: what a probe stub's host call reaches, with the probe's
// arguments in %rdi..%r9 and on the stack (two more words), and its index
// in %rax. Calls fire(index, a0, ..., a7): every argument moves one place.
std::arch::global_asm!(
    ".globl kload_sdt_entry",
    ".type kload_sdt_entry,@function",
    "kload_sdt_entry:",
    "    pushq %rbp",
    "    movq %rsp, %rbp",
    "    subq $8, %rsp",
    "    pushq 24(%rbp)",
    "    pushq 16(%rbp)",
    "    pushq %r9",
    "    movq %r8, %r9",
    "    movq %rcx, %r8",
    "    movq %rdx, %rcx",
    "    movq %rsi, %rdx",
    "    movq %rdi, %rsi",
    "    movq %rax, %rdi",
    "    callq {fire}",
    "    leave",
    "    retq",
    ".size kload_sdt_entry, .-kload_sdt_entry",
    fire = sym fire,
    options(att_syntax),
);

unsafe extern "C" {
    fn kload_sdt_entry();
}

/// Where probe stubs go.
pub const ENTRY: &str = "kload_sdt_entry";

/// The bytes of the stub for probe `index`: `movabs $index, %rax`, then
/// the kernel's host call of [`ENTRY`].
pub fn stub(index: u64) -> [u8; STUB] {
    let mut s = [0xcc_u8; STUB];
    s[0..2].copy_from_slice(&[0x48, 0xb8]); // movabs $index, %rax
    s[2..10].copy_from_slice(&index.to_le_bytes());
    let call = kthread::stub(kload_sdt_entry as *const () as usize, kthread::host_call_addr());
    s[10..42].copy_from_slice(&call);
    s
}
