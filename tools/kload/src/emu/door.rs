//! Kernel door calls (`usr/src/uts/common/fs/doorfs/door_sys.c`):
//! `door_ki_open`, `door_ki_hold`, `door_ki_rele`, `door_ki_info`,
//! `door_ki_upcall_limited`, and `sys_shutdown`; behind the door, a fake
//! dlmgmtd ([`super::dlmgmtd::Daemon`], the one the host build of the C
//! ABI uses) that decodes the request bytes the module hands to the door
//! and writes its reply bytes, so the module's own encoding and decoding
//! run.
//!
//! # The door
//!
//! dlmgmtd, while it runs, has a door at `DLMGMT_DOOR`. `door_ki_open()`
//! of that path makes a new handle (a file reference, count 1); `_hold`
//! and `_rele` count references; the last `_rele` frees the handle. When
//! dlmgmtd dies, its door is revoked: `door_ki_info()` reports
//! `DOOR_REVOKED` and upcalls fail with `EBADF`; when it restarts, it
//! has a new door, which only a new open reaches.
//!
//! # An upcall
//!
//! `door_ki_upcall_limited(dh, arg, cred, max_data, max_desc)` honours
//! the `door_arg_t` contract as `door_upcall()` and `door_results()` do:
//! the request is `data_ptr`/`data_size`; dlmgmtd serves it as the zone
//! of `cred`; a reply that fits in `rbuf`/`rsize` is copied there
//! (`rsize` unchanged, `data_ptr` = `rbuf`, `data_size` = the reply's
//! size); a larger one goes into a buffer `kmem_alloc()`ed for it, whose
//! address and size replace `rbuf` and `rsize`, and which the caller
//! must `kmem_free()` (the leak check holds it to that). A reply larger
//! than `max_data` is `E2BIG`; descriptors are not emulated (a request
//! with any is refused with a panic).
//!
//! | misuse | result |
//! |---|---|
//! | `door_ki_rele` of a handle with no reference left, any use of a freed or unknown handle | panic |
//! | an upcall on a handle the caller does not hold | panic |
//! | handles never released at unload | complaint |
//!
//! Tests control dlmgmtd ([`with_daemon`]): start and kill it, add and
//! rename its records, fail its next command, change its next reply's
//! size, and make its next door call hang ([`stall`]) until released.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::console::fatal;
use super::dlmgmtd::{Daemon, command};
use super::{Def, KernelSymbol, Provider, c_str, kmem, take_failure, zone};

const ENOENT: c_int = 2;
const EBADF: c_int = 9;
const E2BIG: c_int = 7;
/// `DOOR_REVOKED`.
const DOOR_REVOKED: u32 = 0x08;
/// dlmgmtd's door (`DLMGMT_DOOR`).
const DLMGMT_DOOR: &str = "/etc/svc/volatile/dladm/dlmgmt_door";
/// dlmgmtd's process id, for `door_info_t`.
const DLMGMTD_PID: i32 = 4242;

struct Handle {
    refs: u32,
    /// The dlmgmtd incarnation whose door it is.
    generation: u64,
}

#[derive(Default)]
struct Doors {
    daemon: Daemon,
    /// Live handles by address (a buffer of `mem`).
    handles: BTreeMap<usize, Handle>,
    /// Handles whose last reference went.
    freed: BTreeSet<usize>,
    /// The running dlmgmtd's incarnation (its door's).
    generation: u64,
    #[allow(clippy::vec_box, reason = "each box's address is a kernel object's identity")]
    mem: Vec<Box<[u64; 4]>>,
    upcalls: u64,
    relocated: u64,
}

static DOORS: Mutex<Option<Doors>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Doors) -> R) -> R {
    let mut g = DOORS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Doors::default))
}

/// A fresh boot: dlmgmtd running, with no links and no door opened.
pub fn reset() {
    *DOORS.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(Doors { daemon: Daemon::running(), generation: 1, ..Doors::default() });
    *stall_lock() = Stall::default();
}

/// Runs `f` on dlmgmtd's state.
pub fn with_daemon<R>(f: impl FnOnce(&mut Daemon) -> R) -> R {
    with(|d| f(&mut d.daemon))
}

/// Starts dlmgmtd (a new incarnation with a new door) if it is not
/// running.
pub fn daemon_start() {
    with(|d| {
        if !d.daemon.alive {
            d.daemon.alive = true;
            d.generation += 1;
        }
    });
}

/// Kills dlmgmtd: its door is revoked.
pub fn daemon_kill() {
    with(|d| d.daemon.alive = false);
}

/// Upcalls made since boot, and how many of their replies went into a
/// buffer of the door layer's.
pub fn upcalls() -> (u64, u64) {
    with(|d| (d.upcalls, d.relocated))
}

/// Door handles never released, one line.
pub fn leftovers() -> Vec<String> {
    with(|d| {
        let n: u32 = d.handles.values().map(|h| h.refs).sum();
        if n == 0 {
            Vec::new()
        } else {
            vec![format!("{n} door handle reference(s) never released (door_ki_rele)")]
        }
    })
}

// --- Stalls ----------------------------------------------------------------

#[derive(Default)]
struct Stall {
    /// The command whose next call hangs (0: any), if armed.
    armed: Option<i32>,
    /// A call is hanging now.
    hanging: bool,
}

static STALL: Mutex<Stall> = Mutex::new(Stall { armed: None, hanging: false });
static STALL_CV: Condvar = Condvar::new();

fn stall_lock() -> MutexGuard<'static, Stall> {
    STALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes dlmgmtd's next door call of command `cmd` (0: any) hang until
/// [`unstall`], as a wedged daemon's would.
pub fn stall(cmd: i32) {
    stall_lock().armed = Some(cmd);
}

/// Waits up to `timeout` for a door call to hang; whether one does.
pub fn hanging(timeout: Duration) -> bool {
    let s = stall_lock();
    let (s, _) =
        STALL_CV.wait_timeout_while(s, timeout, |s| !s.hanging).unwrap_or_else(|e| e.into_inner());
    s.hanging
}

/// Lets the hanging door call go on (and disarms a stall not yet hit).
pub fn unstall() {
    let mut s = stall_lock();
    s.armed = None;
    s.hanging = false;
    STALL_CV.notify_all();
}

fn maybe_hang(cmd: i32) {
    let mut s = stall_lock();
    if !s.armed.is_some_and(|c| c == cmd || c == 0) {
        return;
    }
    s.armed = None;
    s.hanging = true;
    STALL_CV.notify_all();
    super::sync::note_blocked("door_ki_upcall_limited (a stalled dlmgmtd)");
    while s.hanging {
        s = STALL_CV.wait(s).unwrap_or_else(|e| e.into_inner());
    }
    super::sync::note_unblocked();
}

// --- The DDI ---------------------------------------------------------------

/// Checks that `dh` is a live handle with a reference; its generation.
fn held(dh: *mut c_void, op: &str) -> u64 {
    let a = dh as usize;
    let r = with(|d| match d.handles.get(&a) {
        Some(h) => Ok(h.generation),
        None => Err(d.freed.contains(&a)),
    });
    match r {
        Ok(g) => g,
        Err(true) => fatal(&format!("{op}({dh:p}): the door handle was released (use after free)")),
        Err(false) => fatal(&format!("{op}({dh:p}): not a door handle")),
    }
}

fn revoked(generation: u64) -> bool {
    with(|d| !d.daemon.alive || d.generation != generation)
}

extern "C" fn door_ki_open(path: *const c_char, dhp: *mut *mut c_void) -> c_int {
    // SAFETY: the module passes a NUL-terminated path.
    let p = unsafe { c_str(path, 1024) }.unwrap_or_default();
    if let Some(e) = take_failure("door_open") {
        return e;
    }
    let h = with(|d| {
        if p != DLMGMT_DOOR || !d.daemon.alive {
            return None;
        }
        let b = Box::new([0u64; 4]);
        let a = b.as_ptr() as usize;
        d.mem.push(b);
        d.handles.insert(a, Handle { refs: 1, generation: d.generation });
        Some(a)
    });
    match h {
        Some(a) => {
            // SAFETY: the module passes a door_handle_t to fill in.
            unsafe { dhp.write(a as *mut c_void) };
            0
        }
        None => ENOENT,
    }
}

extern "C" fn door_ki_hold(dh: *mut c_void) {
    held(dh, "door_ki_hold");
    with(|d| {
        if let Some(h) = d.handles.get_mut(&(dh as usize)) {
            h.refs += 1;
        }
    });
}

extern "C" fn door_ki_rele(dh: *mut c_void) {
    held(dh, "door_ki_rele");
    with(|d| {
        let a = dh as usize;
        if let Some(h) = d.handles.get_mut(&a) {
            h.refs -= 1;
            if h.refs == 0 {
                d.handles.remove(&a);
                d.freed.insert(a);
            }
        }
    });
}

extern "C" fn door_ki_info(dh: *mut c_void, info: *mut u8) -> c_int {
    let generation = held(dh, "door_ki_info");
    let attrs = if revoked(generation) { DOOR_REVOKED } else { 0 };
    // door_info_t, 4-byte packed (48 bytes): di_target at 0, di_proc at
    // 4, di_data at 12, di_attributes at 20, di_uniquifier at 24,
    // di_resv at 32.
    let mut b = [0u8; 48];
    b[0..4].copy_from_slice(&DLMGMTD_PID.to_ne_bytes());
    b[20..24].copy_from_slice(&attrs.to_ne_bytes());
    b[24..32].copy_from_slice(&generation.to_ne_bytes());
    // SAFETY: the module passes a door_info_t (48 bytes) to fill in.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), info, b.len()) };
    0
}

/// `door_arg_t` (LP64): data_ptr, data_size, desc_ptr, desc_num (uint,
/// padded), rbuf, rsize.
#[repr(C)]
struct DoorArg {
    data_ptr: *mut u8,
    data_size: usize,
    desc_ptr: *mut c_void,
    desc_num: u32,
    rbuf: *mut u8,
    rsize: usize,
}

extern "C" fn door_ki_upcall_limited(
    dh: *mut c_void,
    arg: *mut DoorArg,
    cr: *const c_void,
    max_data: usize,
    _max_desc: u32,
) -> c_int {
    let generation = held(dh, "door_ki_upcall_limited");
    let Some(caller) = zone::cred_zone(cr as usize) else {
        fatal(&format!("door_ki_upcall_limited: {cr:p} is not a cred_t the kernel made"))
    };
    // SAFETY: the module passes its door_arg_t, which it does not touch
    // during the (blocking) call.
    let a = unsafe { &mut *arg };
    if a.desc_num != 0 || !a.desc_ptr.is_null() {
        fatal("door_ki_upcall_limited: descriptors are not emulated");
    }
    let req = if a.data_size == 0 {
        Vec::new()
    } else {
        // SAFETY: data_ptr/data_size describe the request (the contract).
        unsafe { std::slice::from_raw_parts(a.data_ptr, a.data_size) }.to_vec()
    };
    maybe_hang(command(&req));
    if revoked(generation) {
        return EBADF;
    }
    let zones: BTreeSet<i32> = zone::ids().into_iter().collect();
    let reply = with(|d| {
        d.upcalls += 1;
        d.daemon.serve(caller, &req, &zones)
    });
    if reply.len() > max_data {
        return E2BIG;
    }
    let n = reply.len();
    if a.rbuf.is_null() || a.rsize < n {
        // door_results(): a buffer of the door layer's, which the caller
        // frees.
        let buf = kmem::alloc(n.max(1), kmem::KM_SLEEP, false);
        a.rbuf = buf;
        a.rsize = n.max(1);
        with(|d| d.relocated += 1);
    }
    // SAFETY: rbuf has rsize >= n bytes (the caller's, or ours).
    unsafe { std::ptr::copy_nonoverlapping(reply.as_ptr(), a.rbuf, n) };
    a.data_ptr = a.rbuf;
    a.data_size = n;
    0
}

fn init_zero(b: &mut [u8]) {
    b.fill(0);
}

/// The door calls and `sys_shutdown` (0: the system is not going down).
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("door_ki_open", door_ki_open as *const () as usize),
        f("door_ki_hold", door_ki_hold as *const () as usize),
        f("door_ki_rele", door_ki_rele as *const () as usize),
        f("door_ki_info", door_ki_info as *const () as usize),
        f("door_ki_upcall_limited", door_ki_upcall_limited as *const () as usize),
        KernelSymbol {
            name: "sys_shutdown".into(),
            provider: Provider::Core,
            def: Def::Data { size: 4, align: 4, init: init_zero },
        },
    ]
}
