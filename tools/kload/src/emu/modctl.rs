//! Module linkage: `mod_install(9F)`, `mod_remove`, `mod_info` and
//! `mod_miscops`, for misc modules and drivers.
//!
//! `mod_install` checks the `struct modlinkage` as modctl reads it
//! (`ml_rev` is `MODREV_1`, a NULL-terminated array of up to seven
//! linkage structures) and each linkage's `mod_ops`: misc modules
//! (`struct modlmisc`, `&mod_miscops`) and drivers (`struct modldrv`,
//! `&mod_driverops`) are emulated, and their linkinfo must fit
//! `MODMAXLINKINFOLEN` (32, NUL included), as `mod_info` copies no more.
//! Installing a second time, or removing or asking about a linkage that
//! is not installed, is refused.
//!
//! A driver's installation is `mod_installdrv`'s (`modconf.c`): a leaf
//! driver whose `cb_ops` lack `D_MP` is rejected (`ENXIO`), a second
//! driver is `EALREADY`; its `dev_ops` are recorded for the framework
//! ([`super::ddi`]). `mod_removedrv` refuses (`EBUSY`) while the
//! `dev_ops` are held: an instance attached or a device open.
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
const ENXIO: c_int = 6;
const EALREADY: c_int = 37;
/// `D_MP` (`cb_flag`).
const D_MP: c_int = 0x20;
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

/// One linkage structure of a modlinkage.
struct Link {
    info: String,
    /// A driver's `struct dev_ops *`; `None` for a misc module.
    dev_ops: Option<usize>,
}

/// The misc and driver linkages of the modlinkage at `addr`: their
/// linkinfo strings, or why modctl would refuse it.
fn read_linkage(addr: usize) -> Result<Vec<Link>, String> {
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
    let driverops = super::super::machine::kernel_symbol("mod_driverops").unwrap_or(0);
    let mut out = Vec::new();
    for (i, &l) in slots.iter().enumerate() {
        if l == 0 {
            break;
        }
        // SAFETY: a non-NULL slot points at a linkage structure whose
        // first member is its `struct mod_ops *`; misc and driver
        // linkages have the linkinfo pointer next.
        let (ops, info) = unsafe { ((l as *const usize).read(), ((l + 8) as *const usize).read()) };
        let dev_ops = if ops == miscops {
            None
        } else if ops == driverops {
            // SAFETY: a struct modldrv: drv_dev_ops follows the linkinfo.
            Some(unsafe { ((l + 16) as *const usize).read() })
        } else {
            return Err(format!(
                "ml_linkage[{i}] has mod_ops {ops:#x}: only misc modules (&mod_miscops) and \
                 drivers (&mod_driverops) are emulated"
            ));
        };
        // SAFETY: misc_linkinfo is a NUL-terminated string of the module.
        let text = unsafe { c_str(info as *const libc::c_char, 256) }.unwrap_or_default();
        if text.len() + 1 > MODMAXLINKINFOLEN {
            return Err(format!(
                "misc_linkinfo {text:?} is {} bytes with its NUL; mod_info keeps {MODMAXLINKINFOLEN}",
                text.len() + 1
            ));
        }
        out.push(Link { info: text, dev_ops });
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
    let links = match read_linkage(addr) {
        Ok(i) => i,
        Err(e) => {
            warn(&format!("mod_install: {e}"));
            return EINVAL;
        }
    };
    if with(|m| m.installed.contains_key(&addr)) {
        warn(&format!("mod_install: modlinkage {addr:#x} is already installed"));
        return EINVAL;
    }
    for l in &links {
        if let Some(ops) = l.dev_ops {
            let rc = install_driver(addr, ops);
            if rc != 0 {
                return rc;
            }
        }
    }
    let infos: Vec<String> = links.into_iter().map(|l| l.info).collect();
    let fresh = with(|m| m.installed.insert(addr, infos.clone()).is_none());
    if !fresh {
        warn(&format!("mod_install: modlinkage {addr:#x} is already installed"));
        return EINVAL;
    }
    0
}

/// `mod_installdrv`: checks a driver's `dev_ops` and records them.
fn install_driver(linkage: usize, ops: usize) -> c_int {
    if ops == 0 {
        super::console::fatal("mod_install: a modldrv with NULL drv_dev_ops");
    }
    // SAFETY: the driver's struct dev_ops: devo_cb_ops at 56, devo_bus_ops
    // at 64; a struct cb_ops has cb_flag at 112.
    let (cb, bus) =
        unsafe { (((ops + 56) as *const usize).read(), ((ops + 64) as *const usize).read()) };
    if bus == 0 && cb != 0 {
        // SAFETY: as above.
        let flag = unsafe { ((cb + 112) as *const c_int).read() };
        if flag & D_MP == 0 {
            warn("mod_installdrv: MT-unsafe driver rejected");
            return ENXIO;
        }
    }
    match super::ddi::install(linkage, ops) {
        Ok(()) => 0,
        Err(_) => {
            warn("mod_installdrv: driver already installed");
            EALREADY
        }
    }
}

extern "C" fn mod_remove(modlp: *mut c_void) -> c_int {
    let addr = modlp as usize;
    let is_driver = super::ddi::installed().is_some_and(|i| i.linkage == addr);
    let rc = with(|m| {
        if !m.installed.contains_key(&addr) {
            return EINVAL;
        }
        if m.busy_removes > 0 {
            m.busy_removes -= 1;
            return EBUSY;
        }
        // mod_removedrv: not while the dev_ops are held.
        if is_driver && super::ddi::driver_held() {
            return EBUSY;
        }
        m.installed.remove(&addr);
        0
    });
    if rc == 0 && is_driver {
        super::ddi::uninstall(addr);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::ddi;

    /// A driver's modlinkage in host memory: (modlinkage, modldrv,
    /// dev_ops, cb_ops), each a buffer of 8-byte words.
    fn driver(driverops: usize, info: &std::ffi::CStr, flag: c_int) -> [Box<[u64; 17]>; 4] {
        let mut ml = Box::new([0u64; 17]);
        let mut ldrv = Box::new([0u64; 17]);
        let mut ops = Box::new([0u64; 17]);
        let mut cb = Box::new([0u64; 17]);
        cb[14] = u64::from(flag as u32); // cb_flag at 112, cb_rev 0 beside it
        ops[0] = 4; // DEVO_REV
        ops[7] = cb.as_ptr() as u64; // devo_cb_ops at 56
        ldrv[0] = driverops as u64;
        ldrv[1] = info.as_ptr() as u64;
        ldrv[2] = ops.as_ptr() as u64;
        ml[0] = MODREV_1 as u64;
        ml[1] = ldrv.as_ptr() as u64;
        [ml, ldrv, ops, cb]
    }

    #[test]
    fn drivers_install_as_mod_installdrv_and_remove_as_mod_removedrv() {
        let m = crate::Machine::boot().expect("boot");
        let driverops = m.image().lookup("mod_driverops").expect("mod_driverops").addr;
        let unsafe_drv = driver(driverops, c"mt-unsafe", 0);
        let p = |d: &[Box<[u64; 17]>; 4]| d[0].as_ptr() as *mut c_void;
        assert_eq!(mod_install(p(&unsafe_drv)), ENXIO, "no D_MP");
        assert!(ddi::installed().is_none());
        let drv = driver(driverops, c"a driver", D_MP);
        assert_eq!(mod_install(p(&drv)), 0);
        let ops = drv[2].as_ptr() as usize;
        assert_eq!(ddi::installed().map(|i| i.dev_ops), Some(ops));
        let other = driver(driverops, c"another", D_MP);
        assert_eq!(mod_install(p(&other)), EALREADY);
        assert_eq!(mod_info(p(&drv), p(&other)), 1);
        let dip = ddi::new_devi(0);
        assert_eq!(mod_remove(p(&drv)), EBUSY, "an instance is attached");
        ddi::retire_devi(dip);
        assert_eq!(mod_remove(p(&drv)), 0);
        assert!(ddi::installed().is_none());
        assert_eq!(mod_remove(p(&drv)), EINVAL);
        drop(m);
    }
}
