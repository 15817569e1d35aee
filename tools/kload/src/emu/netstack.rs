//! Network stacks (`usr/src/uts/common/os/netstack.c`):
//! `netstack_register`, `netstack_unregister`, `netstackid_to_zoneid`,
//! `netstack_get_current`, `netstack_rele`.
//!
//! Every zone here is an exclusive-IP zone with a stack of its own, whose
//! id is the zone's (`netstackid_to_zoneid()` is the identity, as in
//! illumos); the global zone's stack 0 exists from boot. The framework
//! calls a registered module's callbacks as illumos does:
//!
//! - `create(stackid, ns)` for every stack that exists at
//!   `netstack_register()` (and is not closing), then for each new one,
//!   from the zone's ZSD constructor ([`super::zone::boot`]);
//! - `shutdown(stackid, arg)` when the zone halts (its ZSD shutdown), and
//!   `destroy(stackid, arg)` when it is destroyed, `arg` being what
//!   `create` returned;
//! - `netstack_unregister()` runs `shutdown` (if not run yet) and
//!   `destroy` for every stack before it returns.
//!
//! Callbacks run on the calling kernel thread ([`super::call_module`]):
//! nested under `netstack_register()`/`netstack_unregister()`, or on the
//! thread that boots, halts or destroys the zone.
//!
//! Checks: registering a module id twice, or one out of range, and
//! unregistering one not registered panic (illumos `ASSERT`s);
//! `netstack_rele()` of a stack not held panics (a reference underflow);
//! a stack still held when its zone is destroyed, or at unload, is a
//! complaint (illumos would keep it, and the zone's memory, forever).

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use super::console::fatal;
use super::{KernelSymbol, call_module, complain, zone};

/// `NS_MAX`: module ids are 0 (`NS_DLS`) to 18 (`NS_ILB`).
pub const NS_MAX: c_int = 19;
/// `ALL_ZONES`.
const ALL_ZONES: c_int = -1;

#[derive(Clone, Copy)]
struct Module {
    create: usize,
    shutdown: usize,
    destroy: usize,
}

#[derive(Clone, Copy, Default)]
struct Instance {
    arg: usize,
    shut: bool,
}

struct Stack {
    /// `netstack_t *` (a buffer of `mem`).
    addr: usize,
    holds: u32,
    closing: bool,
    /// Module id → its instance in this stack.
    instances: BTreeMap<c_int, Instance>,
}

#[derive(Default)]
struct Netstacks {
    modules: BTreeMap<c_int, Module>,
    stacks: BTreeMap<c_int, Stack>,
    #[allow(clippy::vec_box, reason = "each box's address is a kernel object's identity")]
    mem: Vec<Box<[u64; 8]>>,
}

static NS: Mutex<Option<Netstacks>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Netstacks) -> R) -> R {
    let mut g = NS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Netstacks::default))
}

fn new_stack(n: &mut Netstacks) -> Stack {
    let b = Box::new([0u64; 8]);
    let addr = b.as_ptr() as usize;
    n.mem.push(b);
    Stack { addr, holds: 0, closing: false, instances: BTreeMap::new() }
}

/// A fresh boot: the global zone's stack only, no module registered.
pub fn reset() {
    let mut n = Netstacks::default();
    let s = new_stack(&mut n);
    n.stacks.insert(zone::GLOBAL, s);
    *NS.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
}

fn run_create(modid: c_int, m: Module, sid: c_int) {
    let Some(addr) = with(|n| n.stacks.get(&sid).map(|s| s.addr)) else { return };
    let label = format!("netstack create {}", super::func_name(m.create));
    // SAFETY: the module's create callback:
    // void *(*)(netstackid_t, netstack_t *).
    let arg = unsafe { call_module(&label, m.create, &[sid as u64, addr as u64]) } as usize;
    with(|n| {
        if let Some(s) = n.stacks.get_mut(&sid) {
            s.instances.insert(modid, Instance { arg, shut: false });
        }
    });
}

fn run_shutdown(modid: c_int, m: Module, sid: c_int) {
    let Some(inst) = with(|n| {
        let i = n.stacks.get_mut(&sid)?.instances.get_mut(&modid)?;
        if i.shut {
            return None;
        }
        i.shut = true;
        Some(*i)
    }) else {
        return;
    };
    if m.shutdown != 0 {
        let label = format!("netstack shutdown {}", super::func_name(m.shutdown));
        // SAFETY: the module's shutdown callback:
        // void (*)(netstackid_t, void *).
        unsafe { call_module(&label, m.shutdown, &[sid as u64, inst.arg as u64]) };
    }
}

fn run_destroy(modid: c_int, m: Module, sid: c_int) {
    let Some(inst) = with(|n| n.stacks.get_mut(&sid)?.instances.remove(&modid)) else { return };
    if m.destroy != 0 {
        let label = format!("netstack destroy {}", super::func_name(m.destroy));
        // SAFETY: the module's destroy callback:
        // void (*)(netstackid_t, void *).
        unsafe { call_module(&label, m.destroy, &[sid as u64, inst.arg as u64]) };
    }
}

fn modules() -> Vec<(c_int, Module)> {
    with(|n| n.modules.iter().map(|(k, v)| (*k, *v)).collect())
}

/// Zone `zid`'s stack is created (its netstack ZSD constructor): every
/// registered module's `create`.
pub fn zone_create(zid: i32) {
    with(|n| {
        let s = new_stack(n);
        n.stacks.insert(zid, s);
    });
    for (id, m) in modules() {
        run_create(id, m, zid);
    }
}

/// Zone `zid` halts (its netstack ZSD shutdown): every module's
/// `shutdown`.
pub fn zone_shutdown(zid: i32) {
    with(|n| {
        if let Some(s) = n.stacks.get_mut(&zid) {
            s.closing = true;
        }
    });
    for (id, m) in modules() {
        run_shutdown(id, m, zid);
    }
}

/// Zone `zid` is destroyed (its netstack ZSD destroy): every module's
/// `destroy`, then the stack goes.
pub fn zone_destroy(zid: i32) {
    for (id, m) in modules() {
        run_shutdown(id, m, zid);
        run_destroy(id, m, zid);
    }
    let holds = with(|n| n.stacks.remove(&zid).map_or(0, |s| s.holds));
    if holds > 0 {
        complain(&format!(
            "netstack {zid} destroyed with {holds} netstack_get_current() hold(s) never released"
        ));
    }
}

/// Zone `zid` is replaced without its destroy: its stack goes with no
/// callback.
pub fn replace_stack(zid: i32) {
    with(|n| n.stacks.remove(&zid));
}

/// Modules still registered and stacks still held, one line each.
pub fn leftovers() -> Vec<String> {
    with(|n| {
        let mut v: Vec<String> = n
            .modules
            .iter()
            .map(|(id, m)| {
                format!(
                    "netstack module {id} (create {}) is still registered",
                    super::func_name(m.create)
                )
            })
            .collect();
        for (id, s) in &n.stacks {
            if s.holds > 0 {
                v.push(format!("netstack {id} is still held {} time(s)", s.holds));
            }
        }
        v
    })
}

// --- The DDI ---------------------------------------------------------------

extern "C" fn netstack_register(modid: c_int, create: usize, shutdown: usize, destroy: usize) {
    if !(0..NS_MAX).contains(&modid) || create == 0 {
        fatal(&format!("netstack_register({modid}): bad module id or NULL create callback"));
    }
    let m = Module { create, shutdown, destroy };
    let stacks = with(|n| {
        if n.modules.insert(modid, m).is_some() {
            return None;
        }
        Some(n.stacks.iter().filter(|(_, s)| !s.closing).map(|(id, _)| *id).collect::<Vec<_>>())
    });
    let Some(stacks) = stacks else {
        fatal(&format!("netstack_register({modid}): module already registered"))
    };
    for sid in stacks {
        run_create(modid, m, sid);
    }
}

extern "C" fn netstack_unregister(modid: c_int) {
    let Some(m) = with(|n| n.modules.get(&modid).copied()) else {
        fatal(&format!("netstack_unregister({modid}): module not registered"))
    };
    let stacks: Vec<c_int> = with(|n| n.stacks.keys().copied().collect());
    for sid in &stacks {
        run_shutdown(modid, m, *sid);
    }
    for sid in &stacks {
        run_destroy(modid, m, *sid);
    }
    with(|n| n.modules.remove(&modid));
}

extern "C" fn netstackid_to_zoneid(stackid: c_int) -> c_int {
    if stackid < 0 { ALL_ZONES } else { stackid }
}

extern "C" fn netstack_get_current() -> *mut c_void {
    let zid = zone::thread_zone();
    with(|n| match n.stacks.get_mut(&zid) {
        Some(s) if !s.closing => {
            s.holds += 1;
            s.addr as *mut c_void
        }
        _ => std::ptr::null_mut(),
    })
}

extern "C" fn netstack_rele(ns: *mut c_void) {
    let addr = ns as usize;
    let r = with(|n| {
        let (id, s) = n.stacks.iter_mut().find(|(_, s)| s.addr == addr)?;
        if s.holds == 0 {
            return Some(Err(*id));
        }
        s.holds -= 1;
        Some(Ok(()))
    });
    match r {
        Some(Ok(())) => {}
        Some(Err(id)) => fatal(&format!("netstack_rele({ns:p}): stack {id} is not held")),
        None => fatal(&format!("netstack_rele({ns:p}): not a netstack_t of a live stack")),
    }
}

/// The netstack calls.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("netstack_register", netstack_register as *const () as usize),
        f("netstack_unregister", netstack_unregister as *const () as usize),
        f("netstackid_to_zoneid", netstackid_to_zoneid as *const () as usize),
        f("netstack_get_current", netstack_get_current as *const () as usize),
        f("netstack_rele", netstack_rele as *const () as usize),
    ]
}
