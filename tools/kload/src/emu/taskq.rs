//! `system_taskq` and `taskq_dispatch(9F)`.
//!
//! Each dispatched task runs on a kernel thread of its own (a host thread
//! with a fresh, pattern-filled kernel stack, acting for the global zone
//! as taskq threads do), so tasks run concurrently with their dispatcher
//! and with each other, as on a dynamic task queue. A task's stack use is
//! recorded under `taskq <function>`; a task that returns holding a lock
//! is a complaint, as is one still running at unload.
//!
//! `TQ_SLEEP` dispatches never fail. `TQ_NOSLEEP` ones fail (return 0)
//! while [`refuse_nosleep`] is set, or at the Nth one from
//! [`fail_nosleep`], for error paths.
//!
//! Only `system_taskq` exists: a dispatch to another queue panics.

use std::ffi::{c_uint, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::console::fatal;
use super::{Def, KernelSymbol, Provider, complain, record_stack, sync, zone};
use crate::kthread::{self, Kstack, StackUse};

/// `TQ_NOSLEEP`.
pub const TQ_NOSLEEP: c_uint = 0x01;
/// What `system_taskq` points at: no real memory, only an identity.
const SYSTEM_TASKQ: u64 = 0x7a5c_0000_0000_1000;

#[derive(Default)]
struct Taskq {
    /// Tasks dispatched and not finished.
    running: u32,
    next_id: u64,
    refuse: bool,
    nosleep_calls: u64,
    fail_at: Option<u64>,
    nosleep_failed: u64,
    dispatched: u64,
}

static TQ: Mutex<Option<Taskq>> = Mutex::new(None);
static DONE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Option<Taskq>> {
    TQ.lock().unwrap_or_else(|e| e.into_inner())
}

fn with<R>(f: impl FnOnce(&mut Taskq) -> R) -> R {
    f(lock().get_or_insert_with(Taskq::default))
}

/// A fresh boot: no task, no failure injected. (Tasks of a previous boot
/// still running are waited for first.)
pub fn reset() {
    drain(Duration::from_secs(120));
    *lock() = None;
}

/// Makes every `TQ_NOSLEEP` dispatch fail while `refuse` is set.
pub fn refuse_nosleep(refuse: bool) {
    with(|t| t.refuse = refuse);
}

/// Makes the `n`th (1-based) `TQ_NOSLEEP` dispatch from now fail; `None`
/// turns this off.
pub fn fail_nosleep(n: Option<u64>) {
    with(|t| t.fail_at = n.map(|n| t.nosleep_calls + n));
}

/// Dispatch statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tasks dispatched (queued).
    pub dispatched: u64,
    /// `TQ_NOSLEEP` dispatches.
    pub nosleep_calls: u64,
    /// `TQ_NOSLEEP` dispatches failed by injection.
    pub nosleep_failed: u64,
}

/// The statistics since boot.
pub fn stats() -> Stats {
    with(|t| Stats {
        dispatched: t.dispatched,
        nosleep_calls: t.nosleep_calls,
        nosleep_failed: t.nosleep_failed,
    })
}

/// Tasks dispatched and not finished.
pub fn running() -> u32 {
    with(|t| t.running)
}

/// Waits up to `timeout` for every task to finish; whether they did.
pub fn drain(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut g = lock();
    loop {
        let n = g.as_ref().map_or(0, |t| t.running);
        if n == 0 {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        g = DONE.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
}

struct Task {
    func: usize,
    arg: usize,
}

fn run(t: Task, label: String, mut ks: Kstack) {
    zone::set_thread_zone(zone::GLOBAL);
    ks.set_label(&label);
    // SAFETY: a task_func_t the module dispatched, with its argument.
    unsafe { ks.call_args(t.func, &[t.arg as u64]) };
    record_stack(
        &label,
        StackUse { deepest: ks.deepest_use(), kernel_call: ks.deepest_kernel_call() },
    );
    for h in sync::held_by(kthread::curthread()) {
        complain(&format!(
            "{label} returned holding {} {}, entered at\n{}",
            h.kind,
            crate::symbols::describe(h.addr),
            h.stack.trim_end()
        ));
    }
    with(|q| q.running -= 1);
    DONE.notify_all();
}

extern "C" fn taskq_dispatch(
    tq: *mut c_void,
    func: usize,
    arg: *mut c_void,
    flags: c_uint,
) -> usize {
    if tq as u64 != SYSTEM_TASKQ {
        fatal(&format!("taskq_dispatch({tq:p}): not a task queue the kernel made"));
    }
    if func == 0 {
        fatal("taskq_dispatch: NULL function");
    }
    let id = with(|t| {
        if flags & TQ_NOSLEEP != 0 {
            t.nosleep_calls += 1;
            if t.refuse || t.fail_at == Some(t.nosleep_calls) {
                t.nosleep_failed += 1;
                return None;
            }
        }
        t.next_id += 1;
        t.running += 1;
        t.dispatched += 1;
        Some(t.next_id)
    });
    let Some(id) = id else { return 0 };
    let label = format!("taskq {}", super::func_name(func));
    let ks = Kstack::new().unwrap_or_else(|e| fatal(&format!("cannot map a kernel stack: {e}")));
    let task = Task { func, arg: arg as usize };
    let spawned =
        std::thread::Builder::new().name(label.clone()).spawn(move || run(task, label, ks));
    if let Err(e) = spawned {
        fatal(&format!("taskq_dispatch: cannot start a thread: {e}"));
    }
    id as usize
}

fn init_taskq(b: &mut [u8]) {
    b.copy_from_slice(&SYSTEM_TASKQ.to_le_bytes());
}

/// `taskq_dispatch` and the datum `system_taskq`.
pub fn symbols() -> Vec<KernelSymbol> {
    vec![
        KernelSymbol::core_fn("taskq_dispatch", taskq_dispatch as *const () as usize),
        KernelSymbol {
            name: "system_taskq".into(),
            provider: Provider::Core,
            def: Def::Data { size: 8, align: 8, init: init_taskq },
        },
    ]
}
