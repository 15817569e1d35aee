//! A character driver that depends on misc/dls, loaded next to
//! `dls_mgmt.o` ([`crate::dls`]) and driven as the device framework
//! drives it: modload (`_init`), attach, open, ioctl, close, detach,
//! modunload (`_fini`).
//!
//! [`load`] loads the driver into the machine of the [`crate::dls`]
//! session, after `dls_mgmt.o`: its undefined symbols bind to the
//! emulated kernel and, for misc/dls's (its `_depends_on`), to the loaded
//! `dls_mgmt.o`'s exports, as krtld binds them. `_init`'s `mod_install`
//! records the driver's `dev_ops` ([`emu::ddi`]); the other functions
//! here call them, each on the calling thread's kernel stack
//! ([`emu::call_module`]: a lock held on return is a complaint), as:
//!
//! - [`attach`]: the devinfo framework's `devi_attach()`: a new
//!   `dev_info_t` of the instance, `devo_attach(dip, DDI_ATTACH)`; after a
//!   failed attach the instance is gone (its minor nodes removed);
//! - [`getinfo`]: `devo_getinfo(NULL, cmd, (void *)dev, &result)`, as
//!   `e_ddi_getinfo()` asks;
//! - [`open`], [`close`], [`ioctl`]: specfs, with `dev_t`s of the
//!   driver's major (`close(9E)` only at the last close);
//! - [`detach`]: `devo_detach(dip, DDI_DETACH)`; the instance must have
//!   removed its minor nodes;
//! - [`fini`], [`unload`]: modunload and krtld's unload.
//!
//! | misuse | result |
//! |---|---|
//! | attach without an installed driver, or of an attached instance | complaint, `DDI_FAILURE` |
//! | open, ioctl, getinfo with no instance attached | complaint, `ENXIO` |
//! | ioctl or close of a device not open | complaint, `EBADF` |
//! | detach while a device is open (the framework never does) | complaint, `DDI_FAILURE` |
//! | a detach that leaves minor nodes | complaint |
//! | `_fini` while a device is open (modunload refuses a held module) | complaint, `EBUSY` |
//! | the driver still loaded when misc/dls goes | complaint |

use std::ffi::c_int;
use std::path::Path;
use std::sync::Mutex;

use crate::emu::{self, complain, ddi};
use crate::kobj::{LoadError, LoadOptions, LoadStats};
use crate::machine::Module;

/// `DDI_ATTACH`, `DDI_DETACH`.
const DDI_ATTACH: u64 = 0;
const DDI_DETACH: u64 = 0;
const ENXIO: c_int = 6;
const EBADF: c_int = 9;
const EBUSY: c_int = 16;

struct Loaded {
    module: Module<'static>,
}

// SAFETY: the module is plain data (an address range and symbol tables);
// DRIVER's mutex serialises every use.
unsafe impl Send for Loaded {}

static DRIVER: Mutex<Option<Loaded>> = Mutex::new(None);

fn driver() -> std::sync::MutexGuard<'static, Option<Loaded>> {
    DRIVER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads the driver at `path` into the [`crate::dls`] session's machine
/// (booting one with `dls_mgmt.o` if there is none), binding misc/dls's
/// symbols to the loaded `dls_mgmt.o`; what the load did.
pub fn load(path: &Path) -> Result<LoadStats, LoadError> {
    let machine = crate::dls::machine();
    let opts = LoadOptions { loaded: vec![crate::dls::exports()], ..LoadOptions::default() };
    let mut d = driver();
    if d.is_some() {
        return Err(LoadError {
            object: path.display().to_string(),
            problems: vec!["a driver is already loaded".into()],
        });
    }
    let module = machine.load(path, &opts)?;
    let stats = module.object().stats.clone();
    *d = Some(Loaded { module });
    Ok(stats)
}

/// The loaded driver's global symbol `name`.
pub fn symbol(name: &str) -> Option<usize> {
    driver().as_ref().and_then(|l| l.module.object().global(name).map(|s| s.addr))
}

fn module_call(
    what: &str,
    f: impl FnOnce(&mut Module<'static>) -> Result<crate::machine::Call, String>,
) -> c_int {
    let mut d = driver();
    let Some(l) = d.as_mut() else {
        panic!("{what}: no driver loaded");
    };
    match f(&mut l.module) {
        Ok(c) => {
            for h in &c.held {
                complain(&format!(
                    "{what} returned holding {} {}",
                    h.kind,
                    crate::symbols::describe(h.addr)
                ));
            }
            c.rc
        }
        Err(e) => panic!("{e}"),
    }
}

/// `_init` (modload); its return value.
pub fn init() -> c_int {
    module_call("_init", |m| m.init())
}

/// `_info` (modinfo); its return value.
pub fn info() -> c_int {
    module_call("_info", |m| m.info())
}

/// `_fini` (modunload); its return value. With a device open, modunload
/// would not call it: a complaint, and `EBUSY`.
pub fn fini() -> c_int {
    let n = ddi::all_opens();
    if n > 0 {
        complain(&format!("_fini with {n} open(s) of the driver: modunload refuses a held module"));
        return EBUSY;
    }
    module_call("_fini", |m| m.fini())
}

/// Unloads the driver: what [`Module::unload_dependent`] finds, and what
/// the framework still has of it (an instance attached, a device open).
pub fn unload() -> Vec<String> {
    let Some(l) = driver().take() else { return vec!["no driver loaded".into()] };
    let mut problems = ddi::leftovers();
    problems.extend(l.module.unload_dependent());
    problems
}

/// misc/dls is about to go: a driver still loaded is unloaded first,
/// with a complaint.
pub(crate) fn unload_before_dls() {
    if driver().is_none() {
        return;
    }
    complain("a driver depending on misc/dls is still loaded when misc/dls is unloaded");
    for p in unload() {
        complain(&format!("unload of the driver: {p}"));
    }
}

/// Reads the function pointer at `off` in the structure at `base`.
fn fptr(base: usize, off: usize) -> usize {
    // SAFETY: `base` is the driver's dev_ops or cb_ops, which
    // mod_install checked and which live as long as the module; `off` is
    // a member's offset (include/dlszone_ddi.h).
    unsafe { ((base + off) as *const usize).read() }
}

/// The installed driver's `dev_ops`.
fn dev_ops(what: &str) -> Option<usize> {
    let i = ddi::installed();
    if i.is_none() {
        complain(&format!("{what}: no driver installed (no mod_install of a modldrv)"));
    }
    i.map(|i| i.dev_ops)
}

fn call(func: usize, args: &[u64]) -> c_int {
    let label = emu::func_name(func);
    // SAFETY: a dev_ops or cb_ops entry of the installed driver, called
    // with the arguments of its prototype (include/dlszone_ddi.h).
    (unsafe { emu::call_module(&label, func, args) }) as u32 as c_int
}

/// Attaches instance `instance` (`devo_attach(dip, DDI_ATTACH)`); its
/// return value.
pub fn attach(instance: c_int) -> c_int {
    let Some(ops) = dev_ops("attach") else { return ddi::DDI_FAILURE };
    if ddi::devi_of(instance).is_some() {
        complain(&format!("attach of instance {instance}, which is attached"));
        return ddi::DDI_FAILURE;
    }
    let dip = ddi::new_devi(instance);
    let rc = call(fptr(ops, 32), &[dip as u64, DDI_ATTACH]);
    if rc != ddi::DDI_SUCCESS {
        // The framework removes what a failed attach left.
        ddi::retire_devi(dip);
    }
    rc
}

/// The `dev_info_t` of attached instance `instance`.
pub fn dip(instance: c_int) -> Option<usize> {
    ddi::devi_of(instance)
}

/// Detaches instance `instance` (`devo_detach(dip, DDI_DETACH)`); its
/// return value.
pub fn detach(instance: c_int) -> c_int {
    let Some(ops) = dev_ops("detach") else { return ddi::DDI_FAILURE };
    let Some(dip) = ddi::devi_of(instance) else {
        complain(&format!("detach of instance {instance}, which is not attached"));
        return ddi::DDI_FAILURE;
    };
    let n = ddi::all_opens();
    if n > 0 {
        complain(&format!(
            "detach of instance {instance} with {n} open(s): the framework never does"
        ));
        return ddi::DDI_FAILURE;
    }
    let rc = call(fptr(ops, 40), &[dip as u64, DDI_DETACH]);
    if rc == ddi::DDI_SUCCESS {
        for m in ddi::retire_devi(dip) {
            complain(&format!("detach of instance {instance} left minor node '{}'", m.name));
        }
    }
    rc
}

/// `devo_getinfo(NULL, cmd, (void *)dev, &result)`: (return value,
/// result).
pub fn getinfo(cmd: c_int, dev: u64) -> (c_int, usize) {
    let Some(ops) = dev_ops("getinfo") else { return (ddi::DDI_FAILURE, 0) };
    let mut result: usize = 0xdead_beef;
    let rc = call(fptr(ops, 8), &[0, cmd as u64, dev, (&raw mut result) as u64]);
    (rc, result)
}

fn cb_ops(what: &str, dev: u64) -> Option<usize> {
    let ops = dev_ops(what)?;
    if !ddi::any_attached() {
        complain(&format!("{what} of {dev:#x}: no instance of the driver is attached"));
        return None;
    }
    Some(fptr(ops, 56))
}

/// The `dev_t` of minor `minor` of the driver.
pub fn dev(minor: u32) -> u64 {
    ddi::makedevice(ddi::MAJOR, minor)
}

/// `open(9E)` of minor `minor` as `otyp` with credential `cred` (a
/// `cred_t *` of [`emu::zone`]): (return value, the `dev_t` the driver
/// left).
pub fn open(minor: u32, flag: c_int, otyp: c_int, cred: usize) -> (c_int, u64) {
    let mut devt = dev(minor);
    let Some(cb) = cb_ops("open", devt) else { return (ENXIO, devt) };
    let rc = call(fptr(cb, 0), &[(&raw mut devt) as u64, flag as u64, otyp as u64, cred as u64]);
    if rc == 0 {
        ddi::opened(devt);
    }
    (rc, devt)
}

/// `close(9E)` of `dev`, which specfs calls at the last close only; 0
/// for a close that is not the last.
pub fn close(dev: u64, flag: c_int, otyp: c_int, cred: usize) -> c_int {
    let Some(cb) = cb_ops("close", dev) else { return ENXIO };
    match ddi::closed(dev) {
        None => {
            complain(&format!("close of {dev:#x}, which is not open"));
            EBADF
        }
        Some(0) => call(fptr(cb, 8), &[dev, flag as u64, otyp as u64, cred as u64]),
        Some(_) => 0,
    }
}

/// `ioctl(9E)` on open device `dev`: (return value, `*rvalp`).
pub fn ioctl(dev: u64, cmd: c_int, arg: u64, mode: c_int, cred: usize) -> (c_int, c_int) {
    let Some(cb) = cb_ops("ioctl", dev) else { return (ENXIO, 0) };
    if ddi::opens(dev) == 0 {
        complain(&format!("ioctl {cmd:#x} on {dev:#x}, which is not open"));
        return (EBADF, 0);
    }
    let mut rval: c_int = 0x5a5a;
    let rc = call(
        fptr(cb, 56),
        &[dev, cmd as u32 as u64, arg, mode as u32 as u64, cred as u64, (&raw mut rval) as u64],
    );
    (rc, rval)
}
