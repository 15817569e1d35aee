//! `kmutex_t`, `krwlock_t`, `kcondvar_t` and `drv_usectohz`, with the
//! checks illumos makes (some only on DEBUG kernels) turned into panics.
//!
//! The state of each lock is kept in a table keyed by the word's address,
//! and the word in module memory mirrors it as illumos' word would: zero
//! while the lock is unheld and waiterless (`*_init` stores zero), non-zero
//! while it is held or waited on, a "destroyed" marker after `*_destroy`.
//! The word is the truth about which lock lives at an address:
//!
//! - a zero word is a valid unheld lock, as in illumos (zero-filled
//!   memory needs no `*_init`). A table entry for an idle lock of any
//!   type, or for a destroyed one, whose word is zero again is stale (the
//!   memory was reused, or an idle lock word was moved there) and is
//!   replaced by a fresh lock of the type now used. `*_init` is
//!   idempotent per address;
//! - a word that differs from what the table says of a held or waited-on
//!   lock was moved or overwritten while in use, which illumos would not
//!   survive: refused;
//! - a destroyed word is refused as such, and any other non-zero word the
//!   table does not explain is a lock that was never initialised (kmem
//!   fills new buffers with `0xbaddcafe`): refused.
//!
//! | check (illumos message) | where illumos has it |
//! |---|---|
//! | `recursive mutex_enter` | every kernel |
//! | `mutex_exit: not owner` | every kernel |
//! | `mutex_destroy: not owner`, `mutex_destroy: has waiters` | every kernel |
//! | `recursive rw_enter`, `rw_exit: not owner`, `rw_exit: lock not held` | every kernel |
//! | `rw_destroy: lock still active`, `rw_destroy: lock already destroyed`, `rw_enter: bad rwlock` | every kernel |
//! | `cv_wait` without holding the mutex | DEBUG (`ASSERT`) |
//! | `cv_destroy` with waiters | DEBUG (`ASSERT`) |
//! | a reader re-entering while a writer waits | nowhere: it deadlocks; reported here |
//! | a lock used before its `*_init` (non-zero word), or after `*_destroy` | partly (`bad rwlock`) |
//! | a lock word moved or overwritten while held or waited on | nowhere: it hangs or corrupts |
//! | memory freed while a lock in it is held | nowhere; reported by kmem here |
//!
//! `cv_wait_sig` sleeps like `cv_wait` (no signal reaches a kernel thread
//! on the host) unless an interruption is injected ([`interrupt_waits`]):
//! then it returns 0 at once, as with a signal pending.
//!
//! Blocking is real: a kernel thread waiting for a lock or a condition
//! variable blocks its host thread. Readers wait while a writer waits
//! (illumos' `RW_WRITE_WANTED`), so a recursive read lock can deadlock
//! here as it would there. `hz` is 100: `drv_usectohz` rounds up to 10 ms
//! ticks and `cv_reltimedwait` sleeps that long.

use std::collections::HashMap;
use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::KernelSymbol;
use super::console::fatal;
use crate::{kthread, symbols};

/// Clock ticks per second.
pub const HZ: i64 = 100;
/// What `*_destroy` leaves in a lock word.
const DEAD: u64 = 0xdead_10c0_dead_10c0;
/// What `cv_destroy` leaves in a condition variable's 16-bit word (illumos
/// leaves the word alone; marking it keeps a use after destroy visible).
const DEAD_CV: u64 = 0xdead;
/// Tags the word of a held or waited-on mutex or rwlock (never zero,
/// never [`DEAD`]).
const BUSY: u64 = 0xb << 60;

/// `RW_WRITER`.
const RW_WRITER: c_int = 0;
/// `RW_READER`.
const RW_READER: c_int = 1;
/// `RW_READER_STARVEWRITER`: a reader that ignores waiting writers.
const RW_READER_STARVEWRITER: c_int = 2;

#[derive(Default)]
struct MutexState {
    owner: u64,
    stack: Vec<usize>,
    waiters: usize,
}

#[derive(Default)]
struct RwState {
    writer: u64,
    readers: Vec<(u64, Vec<usize>)>,
    wanted: usize,
    stack: Vec<usize>,
}

#[derive(Default)]
struct CvState {
    /// Waiting tickets, oldest first.
    waiting: Vec<u64>,
    /// Tickets signalled but not yet awake.
    woken: Vec<u64>,
}

enum Obj {
    Mutex(MutexState),
    Rw(RwState),
    Cv(CvState),
    /// Destroyed; kept so a later use is reported as such.
    Dead(&'static str),
}

#[derive(Default)]
struct Table {
    objs: HashMap<usize, Obj>,
    next_ticket: u64,
    /// Threads blocked in a lock or wait: what they wait for.
    blocked: HashMap<u64, String>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();

fn table() -> MutexGuard<'static, Option<Table>> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn t<'a>(g: &'a mut MutexGuard<'static, Option<Table>>) -> &'a mut Table {
    g.get_or_insert_with(Table::default)
}

fn wait(g: MutexGuard<'static, Option<Table>>) -> MutexGuard<'static, Option<Table>> {
    WAKE.wait(g).unwrap_or_else(|e| e.into_inner())
}

/// What every blocked kernel thread waits for.
pub fn blocked() -> Vec<String> {
    let mut g = table();
    let mut v: Vec<String> = t(&mut g).blocked.values().cloned().collect();
    drop(g);
    v.extend(OTHER_BLOCKED.lock().unwrap_or_else(|e| e.into_inner()).values().cloned());
    v.sort();
    v
}

/// Threads blocked in other emulated waits (a MAC perimeter, a stalled
/// door call), for the hang report.
static OTHER_BLOCKED: Mutex<std::collections::BTreeMap<u64, String>> =
    Mutex::new(std::collections::BTreeMap::new());

/// Notes that the calling kernel thread now waits for `what`.
pub fn note_blocked(what: &str) {
    let me = kthread::curthread();
    let at = kthread::caller_pc().map(symbols::describe).unwrap_or_default();
    let line = format!("kthread {me} blocked in {what}, called at {at}");
    OTHER_BLOCKED.lock().unwrap_or_else(|e| e.into_inner()).insert(me, line);
}

/// Notes that the calling kernel thread no longer waits.
pub fn note_unblocked() {
    OTHER_BLOCKED.lock().unwrap_or_else(|e| e.into_inner()).remove(&kthread::curthread());
}

/// `mutex_enter()` of the module's mutex at `addr`, by the kernel on the
/// calling thread's behalf (`kstat(8)` taking a kstat's `ks_lock`).
pub fn enter_for_kernel(addr: usize) {
    drop(enter(table(), addr, kthread::curthread(), Vec::new()));
}

/// `mutex_exit()` matching [`enter_for_kernel`].
pub fn exit_for_kernel(addr: usize) {
    let mut g = table();
    exit(&mut g, addr, kthread::curthread());
}

fn block(g: &mut MutexGuard<'static, Option<Table>>, me: u64, what: &str, addr: usize) {
    let at = kthread::caller_pc().map(symbols::describe).unwrap_or_default();
    t(g).blocked.insert(me, format!("kthread {me} blocked in {what}({addr:#x}) called at {at}"));
}

fn unblock(g: &mut MutexGuard<'static, Option<Table>>, me: u64) {
    t(g).blocked.remove(&me);
}

/// Forgets every lock (a fresh boot).
pub fn reset() {
    *table() = None;
    INTERRUPTS.store(0, Ordering::Release);
}

/// A lock that is held.
#[derive(Clone, Debug)]
pub struct Held {
    /// `mutex`, `rwlock (writer)` or `rwlock (reader)`.
    pub kind: &'static str,
    /// The lock's address.
    pub addr: usize,
    /// The holding thread.
    pub thread: u64,
    /// Where it was entered, described.
    pub stack: String,
}

fn held_locks(tb: &Table, filter: impl Fn(usize, u64) -> bool) -> Vec<Held> {
    let mut out = Vec::new();
    for (&addr, o) in &tb.objs {
        match o {
            Obj::Mutex(m) if m.owner != 0 && filter(addr, m.owner) => out.push(Held {
                kind: "mutex",
                addr,
                thread: m.owner,
                stack: symbols::describe_stack(&m.stack),
            }),
            Obj::Rw(r) => {
                if r.writer != 0 && filter(addr, r.writer) {
                    out.push(Held {
                        kind: "rwlock (writer)",
                        addr,
                        thread: r.writer,
                        stack: symbols::describe_stack(&r.stack),
                    });
                }
                for (th, st) in &r.readers {
                    if filter(addr, *th) {
                        out.push(Held {
                            kind: "rwlock (reader)",
                            addr,
                            thread: *th,
                            stack: symbols::describe_stack(st),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|h| h.addr);
    out
}

/// Locks held by `thread`.
pub fn held_by(thread: u64) -> Vec<Held> {
    let mut g = table();
    held_locks(t(&mut g), |_, th| th == thread)
}

/// Every held lock.
pub fn held_anywhere() -> Vec<Held> {
    let mut g = table();
    held_locks(t(&mut g), |_, _| true)
}

/// Forgets every lock in `[start, end)` (memory being freed or
/// unmapped) and returns those that were held.
pub fn forget_range(start: usize, end: usize) -> Vec<Held> {
    let mut g = table();
    let tb = t(&mut g);
    let held = held_locks(tb, |a, _| a >= start && a < end);
    tb.objs.retain(|&a, _| a < start || a >= end);
    held
}

/// Reads a lock word of `len` bytes (8 or 2).
fn word(addr: usize, len: usize) -> u64 {
    // SAFETY: the module passes a pointer to its lock object, which has
    // at least `len` readable bytes (the DDI's contract).
    unsafe {
        if len == 8 {
            (addr as *const u64).read_volatile()
        } else {
            u64::from((addr as *const u16).read_volatile())
        }
    }
}

fn set_word(addr: usize, len: usize, v: u64) {
    // SAFETY: as in `word`, for writing: the lock word is the kernel's to
    // write.
    unsafe {
        if len == 8 {
            (addr as *mut u64).write_volatile(v)
        } else {
            (addr as *mut u16).write_volatile(v as u16)
        }
    }
}

/// The word illumos would show for a mutex in state `m`: zero when idle.
fn mutex_word(m: &MutexState) -> u64 {
    if m.owner == 0 && m.waiters == 0 {
        return 0;
    }
    BUSY | (m.owner & 0xffff_ffff) << 24 | (m.waiters.min(0xff_ffff) as u64)
}

/// The word of an rwlock in state `r`: zero when idle.
fn rw_word(r: &RwState) -> u64 {
    if r.writer == 0 && r.readers.is_empty() && r.wanted == 0 {
        return 0;
    }
    let (readers, wanted) = (r.readers.len().min(0xfff) as u64, r.wanted.min(0xfff) as u64);
    BUSY | (r.writer & 0xffff_ffff) << 24 | readers << 12 | wanted
}

/// The 16-bit word of a condition variable: its waiter count, as
/// illumos' `cv_waiters`.
fn cv_word(c: &CvState) -> u64 {
    c.waiting.len().min(0xffff) as u64
}

/// Whether a lock still has business at its address: a holder, or a
/// thread that will come back to it (waiting, or woken and not yet
/// resumed).
fn in_use(o: &Obj) -> bool {
    match o {
        Obj::Mutex(m) => m.owner != 0 || m.waiters > 0,
        Obj::Rw(r) => r.writer != 0 || !r.readers.is_empty() || r.wanted > 0,
        Obj::Cv(c) => !c.waiting.is_empty() || !c.woken.is_empty(),
        Obj::Dead(_) => false,
    }
}

/// The word the table expects at a lock's address, and the word's width.
fn expected_word(o: &Obj) -> (u64, usize) {
    match o {
        Obj::Mutex(m) => (mutex_word(m), 8),
        Obj::Rw(r) => (rw_word(r), 8),
        Obj::Cv(c) => (cv_word(c), 2),
        Obj::Dead("cv_destroy") => (DEAD_CV, 2),
        Obj::Dead(_) => (DEAD, 8),
    }
}

/// Whether `o` is a lock of type `kind`.
fn same_type(o: &Obj, kind: &str) -> bool {
    match o {
        Obj::Mutex(_) => kind == "mutex",
        Obj::Rw(_) => kind == "rwlock",
        Obj::Cv(_) => kind == "condition variable",
        Obj::Dead(_) => false,
    }
}

/// Makes the table entry at `addr` describe the `len`-byte word of type
/// `kind` (`"mutex"`, `"rwlock"` or `"condition variable"`) found in
/// memory there, or stops as illumos would (see the module
/// documentation). Returns with an entry at `addr`.
fn settle(tb: &mut Table, addr: usize, kind: &str, len: usize, op: &str) {
    if let Some(o) = tb.objs.get(&addr) {
        let (want, width) = expected_word(o);
        let seen = word(addr, width);
        let explained = in_use(o) || matches!(o, Obj::Dead(_)) || same_type(o, kind);
        if seen == want && explained {
            return;
        }
        if in_use(o) {
            fatal(&format!(
                "{op}: lock word at {addr:#x} changed while the lock is in use \
                 (moved or overwritten): {want:#x} expected, {seen:#x} found"
            ));
        }
    }
    let w = word(addr, len);
    if w != 0 {
        fatal(&format!("{op}: bad {kind} {addr:#x}: word {w:#x} (not initialised)"));
    }
    let fresh = match kind {
        "mutex" => Obj::Mutex(MutexState::default()),
        "rwlock" => Obj::Rw(RwState::default()),
        _ => Obj::Cv(CvState::default()),
    };
    tb.objs.insert(addr, fresh);
}

/// `*_init`: a fresh idle lock of type `kind` at `addr`, whatever was
/// there before unless that is still in use. Idempotent.
fn init(addr: usize, kind: &str, len: usize, op: &str) {
    let mut g = table();
    let tb = t(&mut g);
    if tb.objs.get(&addr).is_some_and(in_use) {
        fatal(&format!("{op}: lock {addr:#x} is in use (held or waited on)"));
    }
    set_word(addr, len, 0);
    settle(tb, addr, kind, len, op);
}

/// The state of the mutex at `addr` (see [`settle`]).
fn mutex_at<'a>(tb: &'a mut Table, addr: usize, op: &str) -> &'a mut MutexState {
    settle(tb, addr, "mutex", 8, op);
    match tb.objs.get_mut(&addr) {
        Some(Obj::Mutex(m)) => m,
        Some(Obj::Dead(what)) => fatal(&format!("{op}: bad mutex {addr:#x}: {what} destroyed it")),
        _ => fatal(&format!("{op}: {addr:#x} is not a mutex (used as another lock type)")),
    }
}

fn rw_at<'a>(tb: &'a mut Table, addr: usize, op: &str) -> &'a mut RwState {
    settle(tb, addr, "rwlock", 8, op);
    match tb.objs.get_mut(&addr) {
        Some(Obj::Rw(r)) => r,
        Some(Obj::Dead(_)) => fatal(&format!("{op}: bad rwlock {addr:#x} (destroyed)")),
        _ => fatal(&format!("{op}: {addr:#x} is not an rwlock (used as another lock type)")),
    }
}

fn cv_at<'a>(tb: &'a mut Table, addr: usize, op: &str) -> &'a mut CvState {
    settle(tb, addr, "condition variable", 2, op);
    match tb.objs.get_mut(&addr) {
        Some(Obj::Cv(c)) => c,
        Some(Obj::Dead(_)) => fatal(&format!("{op}: condition variable {addr:#x} was destroyed")),
        _ => fatal(&format!("{op}: {addr:#x} is not a condition variable")),
    }
}

/// Shows the state of the lock at `addr` in its word, as illumos' word
/// would show it. Every change of a lock's state ends with this, before
/// the table is unlocked.
fn publish(tb: &Table, addr: usize) {
    if let Some(o) = tb.objs.get(&addr) {
        let (w, len) = expected_word(o);
        set_word(addr, len, w);
    }
}

// --- Mutexes --------------------------------------------------------------

extern "C" fn mutex_init(m: *mut c_void, _name: *mut c_void, _ty: c_int, _arg: *mut c_void) {
    init(m as usize, "mutex", 8, "mutex_init");
}

extern "C" fn mutex_destroy(m: *mut c_void) {
    let addr = m as usize;
    let me = kthread::curthread();
    let mut g = table();
    let tb = t(&mut g);
    let st = mutex_at(tb, addr, "mutex_destroy");
    if st.owner != 0 && st.owner != me {
        fatal(&format!("mutex_destroy: not owner (lock {addr:#x})"));
    }
    if st.waiters > 0 {
        fatal(&format!("mutex_destroy: has waiters (lock {addr:#x})"));
    }
    tb.objs.insert(addr, Obj::Dead("mutex_destroy"));
    publish(tb, addr);
}

/// Takes the mutex for `me`, blocking; returns the guard.
fn enter(
    mut g: MutexGuard<'static, Option<Table>>,
    addr: usize,
    me: u64,
    stack: Vec<usize>,
) -> MutexGuard<'static, Option<Table>> {
    let mut waiting = false;
    loop {
        let st = mutex_at(t(&mut g), addr, "mutex_enter");
        if waiting {
            st.waiters -= 1;
        }
        if st.owner == me {
            fatal(&format!("recursive mutex_enter (lock {addr:#x})"));
        }
        if st.owner == 0 {
            st.owner = me;
            st.stack = stack;
            publish(t(&mut g), addr);
            unblock(&mut g, me);
            return g;
        }
        st.waiters += 1;
        publish(t(&mut g), addr);
        waiting = true;
        block(&mut g, me, "mutex_enter", addr);
        g = wait(g);
    }
}

extern "C" fn mutex_enter(m: *mut c_void) {
    let stack = kthread::module_backtrace();
    drop(enter(table(), m as usize, kthread::curthread(), stack));
}

extern "C" fn mutex_tryenter(m: *mut c_void) -> c_int {
    let mut g = table();
    let st = mutex_at(t(&mut g), m as usize, "mutex_tryenter");
    if st.owner != 0 {
        return 0;
    }
    st.owner = kthread::curthread();
    st.stack = kthread::module_backtrace();
    publish(t(&mut g), m as usize);
    1
}

fn exit(g: &mut MutexGuard<'static, Option<Table>>, addr: usize, me: u64) {
    let st = mutex_at(t(g), addr, "mutex_exit");
    if st.owner != me {
        fatal(&format!("mutex_exit: not owner (lock {addr:#x})"));
    }
    st.owner = 0;
    st.stack.clear();
    publish(t(g), addr);
    WAKE.notify_all();
}

extern "C" fn mutex_exit(m: *mut c_void) {
    let mut g = table();
    exit(&mut g, m as usize, kthread::curthread());
}

extern "C" fn mutex_owned(m: *mut c_void) -> c_int {
    let mut g = table();
    let st = mutex_at(t(&mut g), m as usize, "mutex_owned");
    c_int::from(st.owner == kthread::curthread())
}

// --- Readers/writer locks -------------------------------------------------

extern "C" fn rw_init(l: *mut c_void, _name: *mut c_void, _ty: c_int, _arg: *mut c_void) {
    init(l as usize, "rwlock", 8, "rw_init");
}

extern "C" fn rw_destroy(l: *mut c_void) {
    let addr = l as usize;
    let mut g = table();
    let tb = t(&mut g);
    if let Some(Obj::Dead(_)) = tb.objs.get(&addr) {
        fatal(&format!("rw_destroy: lock already destroyed (lock {addr:#x})"));
    }
    let st = rw_at(tb, addr, "rw_destroy");
    if st.writer != 0 || !st.readers.is_empty() || st.wanted > 0 {
        fatal(&format!("rw_destroy: lock still active (lock {addr:#x})"));
    }
    tb.objs.insert(addr, Obj::Dead("rw_destroy"));
    publish(tb, addr);
}

fn rw_try(st: &mut RwState, me: u64, mode: c_int, addr: usize, stack: &[usize]) -> bool {
    if st.writer == me {
        fatal(&format!("recursive rw_enter (lock {addr:#x})"));
    }
    match mode {
        RW_WRITER => {
            if st.writer == 0 && st.readers.is_empty() {
                st.writer = me;
                st.stack = stack.to_vec();
                return true;
            }
        }
        RW_READER | RW_READER_STARVEWRITER => {
            let writers_block = mode == RW_READER && st.wanted > 0;
            if st.writer == 0 && !writers_block {
                st.readers.push((me, stack.to_vec()));
                return true;
            }
        }
        _ => fatal(&format!("rw_enter: bad mode {mode} (lock {addr:#x})")),
    }
    false
}

extern "C" fn rw_enter(l: *mut c_void, mode: c_int) {
    let addr = l as usize;
    let me = kthread::curthread();
    let stack = kthread::module_backtrace();
    let mut g = table();
    let mut waiting = false;
    loop {
        let st = rw_at(t(&mut g), addr, "rw_enter");
        if waiting && mode == RW_WRITER {
            st.wanted -= 1;
        }
        if rw_try(st, me, mode, addr, &stack) {
            publish(t(&mut g), addr);
            unblock(&mut g, me);
            return;
        }
        if mode != RW_WRITER && st.readers.iter().any(|(th, _)| *th == me) {
            fatal(&format!(
                "rw_enter: recursive read enter while a writer waits: deadlock (lock {addr:#x})"
            ));
        }
        if mode == RW_WRITER {
            st.wanted += 1;
        }
        publish(t(&mut g), addr);
        waiting = true;
        block(&mut g, me, "rw_enter", addr);
        g = wait(g);
    }
}

extern "C" fn rw_tryenter(l: *mut c_void, mode: c_int) -> c_int {
    let addr = l as usize;
    let stack = kthread::module_backtrace();
    let mut g = table();
    let st = rw_at(t(&mut g), addr, "rw_tryenter");
    if st.writer == kthread::curthread() {
        return 0;
    }
    let got = rw_try(st, kthread::curthread(), mode, addr, &stack);
    publish(t(&mut g), addr);
    c_int::from(got)
}

extern "C" fn rw_exit(l: *mut c_void) {
    let addr = l as usize;
    let me = kthread::curthread();
    let mut g = table();
    let st = rw_at(t(&mut g), addr, "rw_exit");
    if st.writer != 0 {
        if st.writer != me {
            fatal(&format!("rw_exit: not owner (lock {addr:#x})"));
        }
        st.writer = 0;
        st.stack.clear();
    } else if st.readers.is_empty() {
        fatal(&format!("rw_exit: lock not held (lock {addr:#x})"));
    } else {
        // Readers have no owner in illumos; drop this thread's hold if it
        // has one, else the oldest.
        let i = st.readers.iter().position(|(th, _)| *th == me).unwrap_or(0);
        st.readers.remove(i);
    }
    publish(t(&mut g), addr);
    WAKE.notify_all();
}

extern "C" fn rw_read_held(l: *mut c_void) -> c_int {
    let mut g = table();
    let st = rw_at(t(&mut g), l as usize, "rw_read_held");
    c_int::from(st.writer == 0 && !st.readers.is_empty())
}

extern "C" fn rw_write_held(l: *mut c_void) -> c_int {
    let mut g = table();
    let st = rw_at(t(&mut g), l as usize, "rw_write_held");
    c_int::from(st.writer == kthread::curthread())
}

extern "C" fn rw_lock_held(l: *mut c_void) -> c_int {
    let mut g = table();
    let st = rw_at(t(&mut g), l as usize, "rw_lock_held");
    c_int::from((st.writer == 0 && !st.readers.is_empty()) || st.writer == kthread::curthread())
}

// --- Condition variables --------------------------------------------------

extern "C" fn cv_init(c: *mut c_void, _name: *mut c_void, _ty: c_int, _arg: *mut c_void) {
    init(c as usize, "condition variable", 2, "cv_init");
}

extern "C" fn cv_destroy(c: *mut c_void) {
    let addr = c as usize;
    let mut g = table();
    let tb = t(&mut g);
    let st = cv_at(tb, addr, "cv_destroy");
    if !st.waiting.is_empty() {
        fatal(&format!("cv_destroy: condition variable {addr:#x} has waiters"));
    }
    tb.objs.insert(addr, Obj::Dead("cv_destroy"));
    publish(tb, addr);
}

/// Waits on `cv` releasing mutex `m`, until signalled or `deadline`;
/// reacquires `m`. Returns whether it was signalled.
fn cv_block(cv: usize, m: usize, deadline: Option<Instant>, op: &str) -> bool {
    let me = kthread::curthread();
    let stack = kthread::module_backtrace();
    let mut g = table();
    if mutex_at(t(&mut g), m, op).owner != me {
        fatal(&format!("{op}: mutex {m:#x} is not held by the caller"));
    }
    let tb = t(&mut g);
    tb.next_ticket += 1;
    let ticket = tb.next_ticket;
    cv_at(tb, cv, op).waiting.push(ticket);
    publish(tb, cv);
    exit(&mut g, m, me);
    block(&mut g, me, op, cv);
    let signalled = loop {
        let st = cv_at(t(&mut g), cv, op);
        if let Some(i) = st.woken.iter().position(|&x| x == ticket) {
            st.woken.remove(i);
            break true;
        }
        match deadline {
            None => g = wait(g),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    st.waiting.retain(|&x| x != ticket);
                    publish(t(&mut g), cv);
                    break false;
                }
                g = WAKE.wait_timeout(g, d - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
    };
    unblock(&mut g, me);
    drop(enter(g, m, me, stack));
    signalled
}

extern "C" fn cv_wait(c: *mut c_void, m: *mut c_void) {
    cv_block(c as usize, m as usize, None, "cv_wait");
}

/// Waits to be woken (> 0), or returns 0 at once, the mutex still held,
/// when an interruption was injected ([`interrupt_waits`]): what
/// `cv_wait_sig` does with a signal pending. No real signal reaches a
/// kernel thread on the host.
extern "C" fn cv_wait_sig(c: *mut c_void, m: *mut c_void) -> c_int {
    let take = |n: u32| n.checked_sub(1);
    if INTERRUPTS.fetch_update(Ordering::AcqRel, Ordering::Acquire, take).is_ok() {
        let mut g = table();
        if mutex_at(t(&mut g), m as usize, "cv_wait_sig").owner != kthread::curthread() {
            fatal(&format!("cv_wait_sig: mutex {:#x} is not held by the caller", m as usize));
        }
        cv_at(t(&mut g), c as usize, "cv_wait_sig");
        return 0;
    }
    cv_block(c as usize, m as usize, None, "cv_wait_sig");
    1
}

static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

/// The next `n` `cv_wait_sig` calls (from any thread) find a signal
/// pending and return 0.
pub fn interrupt_waits(n: u32) {
    INTERRUPTS.store(n, Ordering::Release);
}

extern "C" fn cv_reltimedwait(
    c: *mut c_void,
    m: *mut c_void,
    ticks: c_long,
    _res: c_int,
) -> c_long {
    if ticks <= 0 {
        return -1;
    }
    let wait = Duration::from_millis(u64::try_from(ticks).unwrap_or(0) * (1000 / HZ as u64));
    let start = Instant::now();
    if cv_block(c as usize, m as usize, Some(start + wait), "cv_reltimedwait") {
        let left =
            wait.saturating_sub(start.elapsed()).as_millis() as c_long / (1000 / HZ as c_long);
        left.max(1)
    } else {
        -1
    }
}

/// When the emulated kernel booted: `lbolt` counts ticks from here.
fn boot() -> Instant {
    static BOOT: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BOOT.get_or_init(Instant::now)
}

/// `ddi_get_lbolt`: clock ticks since boot (`hz` ticks a second).
extern "C" fn ddi_get_lbolt() -> c_long {
    let ms = boot().elapsed().as_millis();
    c_long::try_from(ms / (1000 / HZ as u128)).unwrap_or(c_long::MAX)
}

/// `cv_timedwait`: waits until woken or until `lbolt` reaches `at`; -1 if
/// that time has passed (already, or while waiting).
extern "C" fn cv_timedwait(c: *mut c_void, m: *mut c_void, at: c_long) -> c_long {
    let left = at.saturating_sub(ddi_get_lbolt());
    if left <= 0 {
        return -1;
    }
    let at_ms = u64::try_from(at).unwrap_or(0).saturating_mul(1000 / HZ as u64);
    let deadline = boot() + Duration::from_millis(at_ms);
    if cv_block(c as usize, m as usize, Some(deadline), "cv_timedwait") {
        at.saturating_sub(ddi_get_lbolt()).max(1)
    } else {
        -1
    }
}

fn wake(c: *mut c_void, all: bool) {
    let mut g = table();
    let st = cv_at(t(&mut g), c as usize, "cv_signal");
    let n = if all { st.waiting.len() } else { st.waiting.len().min(1) };
    let woken: Vec<u64> = st.waiting.drain(..n).collect();
    st.woken.extend(woken);
    publish(t(&mut g), c as usize);
    WAKE.notify_all();
}

extern "C" fn cv_signal(c: *mut c_void) {
    wake(c, false);
}

extern "C" fn cv_broadcast(c: *mut c_void) {
    wake(c, true);
}

/// `delay(9F)`: sleeps `ticks` clock ticks (10 ms each).
extern "C" fn delay(ticks: c_long) {
    if ticks > 0 {
        let ms = u64::try_from(ticks).unwrap_or(0).saturating_mul(1000 / HZ as u64);
        std::thread::sleep(Duration::from_millis(ms));
    }
}

extern "C" fn drv_usectohz(us: c_long) -> c_long {
    if us <= 0 {
        return 0;
    }
    let per_tick = 1_000_000 / HZ as c_long;
    us / per_tick + c_long::from(us % per_tick != 0)
}

/// Mutexes, rwlocks, condition variables, `drv_usectohz`, `delay` and
/// `ddi_get_lbolt`.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("mutex_init", mutex_init as *const () as usize),
        f("mutex_destroy", mutex_destroy as *const () as usize),
        f("mutex_enter", mutex_enter as *const () as usize),
        f("mutex_tryenter", mutex_tryenter as *const () as usize),
        f("mutex_exit", mutex_exit as *const () as usize),
        f("mutex_owned", mutex_owned as *const () as usize),
        f("rw_init", rw_init as *const () as usize),
        f("rw_destroy", rw_destroy as *const () as usize),
        f("rw_enter", rw_enter as *const () as usize),
        f("rw_tryenter", rw_tryenter as *const () as usize),
        f("rw_exit", rw_exit as *const () as usize),
        f("rw_read_held", rw_read_held as *const () as usize),
        f("rw_write_held", rw_write_held as *const () as usize),
        f("rw_lock_held", rw_lock_held as *const () as usize),
        f("cv_init", cv_init as *const () as usize),
        f("cv_destroy", cv_destroy as *const () as usize),
        f("cv_wait", cv_wait as *const () as usize),
        f("cv_wait_sig", cv_wait_sig as *const () as usize),
        f("cv_reltimedwait", cv_reltimedwait as *const () as usize),
        f("cv_timedwait", cv_timedwait as *const () as usize),
        f("cv_signal", cv_signal as *const () as usize),
        f("cv_broadcast", cv_broadcast as *const () as usize),
        f("drv_usectohz", drv_usectohz as *const () as usize),
        f("delay", delay as *const () as usize),
        f("ddi_get_lbolt", ddi_get_lbolt as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booted() -> crate::machine::BootToken {
        let g = crate::machine::test_lock();
        reset();
        g
    }

    fn p(w: &mut u64) -> *mut c_void {
        (w as *mut u64).cast()
    }

    #[test]
    fn mutexes_block_other_threads_and_report_holders() {
        let _g = booted();
        let word = Box::leak(Box::new(0u64));
        let m = p(word) as usize;
        mutex_init(m as *mut c_void, std::ptr::null_mut(), 0, std::ptr::null_mut());
        mutex_enter(m as *mut c_void);
        assert_eq!(mutex_owned(m as *mut c_void), 1);
        assert_eq!(held_by(kthread::curthread()).len(), 1);
        let (tried, wait_tried) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            let got = mutex_tryenter(m as *mut c_void);
            tried.send(()).unwrap();
            mutex_enter(m as *mut c_void); // blocks until released below
            let owned = mutex_owned(m as *mut c_void);
            mutex_exit(m as *mut c_void);
            (got, owned)
        });
        wait_tried.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        mutex_exit(m as *mut c_void);
        assert_eq!(other.join().unwrap(), (0, 1));
        assert!(held_anywhere().is_empty());
        mutex_destroy(m as *mut c_void);
        assert_eq!(*word, DEAD);
        assert!(forget_range(m, m + 8).is_empty());
    }

    #[test]
    fn condvars_wake_and_time_out() {
        let _g = booted();
        let (mw, cw) = (Box::leak(Box::new(0u64)), Box::leak(Box::new(0u64)));
        let (m, c) = (p(mw) as usize, p(cw) as usize);
        mutex_enter(m as *mut c_void);
        let t0 = Instant::now();
        assert_eq!(cv_reltimedwait(c as *mut c_void, m as *mut c_void, 2, 4), -1);
        assert!(t0.elapsed() >= Duration::from_millis(20));
        assert_eq!(mutex_owned(m as *mut c_void), 1);
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            mutex_enter(m as *mut c_void);
            cv_signal(c as *mut c_void);
            mutex_exit(m as *mut c_void);
        });
        cv_wait(c as *mut c_void, m as *mut c_void);
        assert_eq!(mutex_owned(m as *mut c_void), 1);
        mutex_exit(m as *mut c_void);
        waker.join().unwrap();
        // An injected signal interrupts the next interruptible wait only.
        interrupt_waits(1);
        mutex_enter(m as *mut c_void);
        assert_eq!(cv_wait_sig(c as *mut c_void, m as *mut c_void), 0);
        assert_eq!(mutex_owned(m as *mut c_void), 1);
        assert_eq!(cv_reltimedwait(c as *mut c_void, m as *mut c_void, 1, 4), -1);
        mutex_exit(m as *mut c_void);
        assert_eq!(drv_usectohz(10_000), 1);
        assert_eq!(drv_usectohz(10_001), 2);
        assert_eq!(drv_usectohz(0), 0);
        // An absolute wait: -1 once lbolt has passed the deadline.
        mutex_enter(m as *mut c_void);
        let now = ddi_get_lbolt();
        assert_eq!(cv_timedwait(c as *mut c_void, m as *mut c_void, now - 1), -1);
        assert_eq!(cv_timedwait(c as *mut c_void, m as *mut c_void, now + 2), -1);
        assert!(ddi_get_lbolt() >= now + 2, "the wait lasted until its deadline");
        mutex_exit(m as *mut c_void);
    }

    #[test]
    fn rwlocks_share_readers_and_prefer_waiting_writers() {
        let _g = booted();
        let lw = Box::leak(Box::new(0u64));
        let l = p(lw) as usize;
        rw_enter(l as *mut c_void, RW_READER);
        assert_eq!(rw_read_held(l as *mut c_void), 1);
        assert_eq!(rw_write_held(l as *mut c_void), 0);
        let writer = std::thread::spawn(move || {
            rw_enter(l as *mut c_void, RW_WRITER);
            let held = rw_write_held(l as *mut c_void);
            rw_exit(l as *mut c_void);
            held
        });
        // Once the writer waits, new readers (other threads) must wait.
        while {
            let mut g = table();
            rw_at(t(&mut g), l, "test").wanted == 0
        } {
            std::thread::sleep(Duration::from_millis(1));
        }
        let reader = std::thread::spawn(move || rw_tryenter(l as *mut c_void, RW_READER));
        assert_eq!(reader.join().unwrap(), 0);
        rw_exit(l as *mut c_void);
        assert_eq!(writer.join().unwrap(), 1);
        rw_destroy(l as *mut c_void);
        assert_eq!(*lw, DEAD);
        forget_range(l, l + 8);
    }

    #[test]
    fn lock_words_show_their_state_and_may_move_while_idle() {
        let _g = booted();
        // Memory lock values move through: three words, never initialised.
        let base = Box::leak(Box::new([0u64; 3])).as_mut_ptr() as usize;
        let (a, b, c) = (base, base + 8, base + 16);
        let v = |x: usize| x as *mut c_void;
        // A zero word is an unheld mutex; held, its word is neither zero
        // nor the destroyed marker; released, zero again.
        mutex_enter(v(a));
        assert!(word(a, 8) != 0 && word(a, 8) != DEAD);
        mutex_exit(v(a));
        assert_eq!(word(a, 8), 0);
        // Moved while idle (the zero word copied to b): b is a mutex, and
        // a may become any other lock.
        set_word(b, 8, word(a, 8));
        mutex_enter(v(b));
        assert_eq!(held_by(kthread::curthread()).iter().map(|h| h.addr).collect::<Vec<_>>(), [b]);
        mutex_exit(v(b));
        cv_signal(v(a));
        rw_enter(v(a), RW_READER);
        assert!(word(a, 8) != 0);
        assert_eq!(rw_read_held(v(a)), 1);
        rw_exit(v(a));
        assert_eq!(word(a, 8), 0);
        mutex_enter(v(a));
        mutex_exit(v(a));
        // A condition variable's word counts its waiters (`cv_waiters`).
        let waiter = std::thread::spawn(move || {
            mutex_enter(v(b));
            cv_wait(v(c), v(b));
            mutex_exit(v(b));
        });
        while word(c, 2) != 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        mutex_enter(v(b));
        cv_signal(v(c));
        assert_eq!(word(c, 2), 0);
        mutex_exit(v(b));
        waiter.join().unwrap();
        // Destroyed, then overwritten by a new idle lock: usable again.
        mutex_destroy(v(b));
        assert_eq!(word(b, 8), DEAD);
        set_word(b, 8, 0);
        mutex_enter(v(b));
        mutex_exit(v(b));
        // `*_init` is idempotent, and resets a stale entry of another type.
        mutex_init(v(b), std::ptr::null_mut(), 0, std::ptr::null_mut());
        mutex_init(v(b), std::ptr::null_mut(), 0, std::ptr::null_mut());
        rw_init(v(a), std::ptr::null_mut(), 0, std::ptr::null_mut());
        rw_enter(v(a), RW_WRITER);
        mutex_enter(v(b));
        assert_eq!(held_anywhere().len(), 2);
        mutex_exit(v(b));
        rw_exit(v(a));
        assert!(held_anywhere().is_empty());
        assert_eq!((word(a, 8), word(b, 8), word(c, 2)), (0, 0, 0));
        forget_range(base, base + 24);
    }
}
