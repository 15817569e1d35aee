//! The device driver framework for a leaf character driver: its
//! installation (`mod_install` of a `struct modldrv` over
//! `mod_driverops`, see [`super::modctl`]), the `dev_info_t` of its
//! instances (`ddi_get_instance`, `ddi_create_minor_node`,
//! `ddi_remove_minor_node`), the copies of its ioctls (`ddi_copyin`,
//! `ddi_copyout`, with `FKIOCTL`), `getminor` and the stand-in entry
//! points `nodev`, `nulldev`, `nochpoll`, `ddi_prop_op`,
//! `ddi_quiesce_not_needed` (`usr/src/uts/common/os/sunddi.c`, `ddi.c`,
//! `subr.c`).
//!
//! The framework's side (attaching an instance, opening its node, an
//! ioctl) is [`crate::drv`], which calls the driver's `dev_ops` and
//! `cb_ops` as specfs and the devinfo framework would; this module keeps
//! the state both sides see.
//!
//! # Address spaces
//!
//! An ioctl's argument is a user address unless the caller passed
//! `FKIOCTL` (a kernel caller, `ldi_ioctl(..., FKIOCTL, ...)`). User
//! memory is emulated: [`user_map`] places a buffer at an address in a
//! range no host memory occupies, and only `ddi_copyin`/`ddi_copyout`
//! reach it; any byte outside a mapped buffer faults (`-1`, which the
//! driver turns into `EFAULT`), as `copyin()` does. With `FKIOCTL` the
//! copy is `kcopy()`: the address must lie in kernel memory the test
//! made ([`kernel_map`]); a user address faults (SMAP), as does anything
//! else.
//!
//! # Checks
//!
//! | misuse | result |
//! |---|---|
//! | a `dev_info_t *` the framework never made, or of a detached instance | panic |
//! | a minor node created twice (same name) | complaint, `DDI_FAILURE` |
//! | removing a minor node that does not exist | complaint |
//! | `spec_type` neither `S_IFCHR` nor `S_IFBLK` | `DDI_FAILURE` |

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use super::console::{CE_WARN, fatal};
use super::{Def, KernelSymbol, Provider, c_str, complain};

/// `FKIOCTL` (`sys/file.h`): the ioctl comes from the kernel.
pub const FKIOCTL: c_int = 0x8000_0000_u32 as c_int;
/// `DDI_SUCCESS`.
pub const DDI_SUCCESS: c_int = 0;
/// `DDI_FAILURE`.
pub const DDI_FAILURE: c_int = -1;
/// `DDI_PROP_NOT_FOUND`.
const DDI_PROP_NOT_FOUND: c_int = 1;
/// `S_IFCHR`.
pub const S_IFCHR: c_int = 0x2000;
const S_IFBLK: c_int = 0x6000;
const ENXIO: c_int = 6;
/// The major number the emulated `name_to_major` gives the driver.
pub const MAJOR: u32 = 301;
/// Where emulated user memory starts (64 GiB: no host mapping is there;
/// the addresses are never dereferenced anyway).
pub const USER_BASE: u64 = 0x10_0000_0000;
const USER_END: u64 = USER_BASE + (1 << 36);
const PAGE: u64 = 4096;

pub use super::devices::makedevice;

/// A minor node an instance created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinorNode {
    /// Its name (`/devices/pseudo/<drv>@<inst>:<name>`).
    pub name: String,
    /// `S_IFCHR` or `S_IFBLK`.
    pub spec_type: c_int,
    /// The minor number.
    pub minor: u32,
    /// Its node type (`DDI_PSEUDO`, ...).
    pub node_type: String,
    /// `flag` (`CLONE_DEV`, `PRIVONLY_DEV`).
    pub flag: c_int,
}

struct Devi {
    instance: c_int,
    live: bool,
    minors: Vec<MinorNode>,
}

/// The installed driver, as `devopsp[major]` holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installed {
    /// Its `struct modlinkage *`.
    pub linkage: usize,
    /// Its `struct dev_ops *`.
    pub dev_ops: usize,
}

#[derive(Default)]
struct Ddi {
    driver: Option<Installed>,
    /// `dev_info_t *` → instance; never forgotten within a boot, so a
    /// stale pointer is recognised.
    devis: BTreeMap<usize, Devi>,
    /// Opens per `dev_t` (specfs calls close(9E) at the last close).
    opens: BTreeMap<u64, u32>,
    /// Emulated user memory: address → contents.
    user: BTreeMap<u64, Vec<u8>>,
    next_user: u64,
    /// Kernel buffers a test made: address → contents (each box's
    /// address is the buffer's).
    kernel: BTreeMap<usize, Box<[u8]>>,
    #[allow(clippy::vec_box, reason = "each box's address is a dev_info_t's identity")]
    mem: Vec<Box<[u64; 8]>>,
    copies: u64,
}

static STATE: Mutex<Option<Ddi>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Ddi) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Ddi { next_user: USER_BASE, ..Ddi::default() }))
}

/// A fresh boot: no driver, no instance, empty address spaces.
pub fn reset() {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

// --- The framework's side (modctl, crate::drv) -------------------------------

/// Records a driver's installation (`devopsp[major] = ops`); the
/// installed one if another is.
pub fn install(linkage: usize, dev_ops: usize) -> Result<(), Installed> {
    with(|d| match d.driver {
        Some(i) => Err(i),
        None => {
            d.driver = Some(Installed { linkage, dev_ops });
            Ok(())
        }
    })
}

/// The installed driver.
pub fn installed() -> Option<Installed> {
    with(|d| d.driver)
}

/// Whether the driver's `dev_ops` are held: an attached instance or an
/// open device (`devo_refcnt`, which `mod_removedrv` checks).
pub fn driver_held() -> bool {
    with(|d| d.devis.values().any(|v| v.live) || d.opens.values().any(|n| *n > 0))
}

/// `mod_removedrv`: the linkage at `linkage` is uninstalled; false if it
/// was not the installed driver.
pub fn uninstall(linkage: usize) -> bool {
    with(|d| {
        if d.driver.is_some_and(|i| i.linkage == linkage) {
            d.driver = None;
            true
        } else {
            false
        }
    })
}

/// A new `dev_info_t` for instance `instance`, live (being attached).
pub fn new_devi(instance: c_int) -> usize {
    with(|d| {
        let b = Box::new([0u64; 8]);
        let addr = b.as_ptr() as usize;
        d.mem.push(b);
        d.devis.insert(addr, Devi { instance, live: true, minors: Vec::new() });
        addr
    })
}

/// The instance is gone (a failed attach or a detach): its minor nodes
/// as it left them.
pub fn retire_devi(dip: usize) -> Vec<MinorNode> {
    with(|d| match d.devis.get_mut(&dip) {
        Some(v) => {
            v.live = false;
            std::mem::take(&mut v.minors)
        }
        None => Vec::new(),
    })
}

/// The minor nodes of `dip`.
pub fn minor_nodes(dip: usize) -> Vec<MinorNode> {
    with(|d| d.devis.get(&dip).map(|v| v.minors.clone()).unwrap_or_default())
}

/// The live instance `instance`'s `dev_info_t`, if attached (or being
/// attached).
pub fn devi_of(instance: c_int) -> Option<usize> {
    with(|d| d.devis.iter().find(|(_, v)| v.live && v.instance == instance).map(|(a, _)| *a))
}

/// Whether an instance is attached (or being attached).
pub fn any_attached() -> bool {
    with(|d| d.devis.values().any(|v| v.live))
}

/// The minor node with minor number `minor` of any live instance.
pub fn node_of(minor: u32) -> Option<MinorNode> {
    with(|d| {
        d.devis
            .values()
            .filter(|v| v.live)
            .flat_map(|v| v.minors.iter())
            .find(|m| m.minor == minor)
            .cloned()
    })
}

/// Counts an open of `dev`; the opens now.
pub fn opened(dev: u64) -> u32 {
    with(|d| {
        let n = d.opens.entry(dev).or_default();
        *n += 1;
        *n
    })
}

/// Opens of `dev`.
pub fn opens(dev: u64) -> u32 {
    with(|d| d.opens.get(&dev).copied().unwrap_or(0))
}

/// Opens of every device.
pub fn all_opens() -> u32 {
    with(|d| d.opens.values().sum())
}

/// Counts a close of `dev`; the opens left, or `None` if it was not open.
pub fn closed(dev: u64) -> Option<u32> {
    with(|d| {
        let n = d.opens.get_mut(&dev).filter(|n| **n > 0)?;
        *n -= 1;
        Some(*n)
    })
}

/// Maps `bytes` into the emulated user address space; its address. Each
/// buffer starts on a page of its own, a page from the previous one, so
/// running off its end faults.
pub fn user_map(bytes: &[u8]) -> u64 {
    with(|d| {
        let at = d.next_user;
        let len = (bytes.len() as u64).max(1);
        d.next_user = (at + len).div_ceil(PAGE) * PAGE + PAGE;
        d.user.insert(at, bytes.to_vec());
        at
    })
}

/// The contents of the user buffer mapped at `addr`.
pub fn user_read(addr: u64) -> Option<Vec<u8>> {
    with(|d| d.user.get(&addr).cloned())
}

/// Unmaps the user buffer at `addr`; whether there was one.
pub fn user_unmap(addr: u64) -> bool {
    with(|d| d.user.remove(&addr).is_some())
}

/// A kernel buffer holding `bytes` (for `FKIOCTL` callers); its address.
pub fn kernel_map(bytes: &[u8]) -> u64 {
    with(|d| {
        let b: Box<[u8]> = if bytes.is_empty() { vec![0u8].into() } else { bytes.into() };
        let addr = b.as_ptr() as usize;
        d.kernel.insert(addr, b);
        addr as u64
    })
}

/// The contents of the kernel buffer made at `addr`.
pub fn kernel_read(addr: u64) -> Option<Vec<u8>> {
    with(|d| d.kernel.get(&(addr as usize)).map(|b| b.to_vec()))
}

/// Successful `ddi_copyin`/`ddi_copyout` calls since boot.
pub fn copies() -> u64 {
    with(|d| d.copies)
}

/// What the framework still has of the driver: instances, opens.
pub fn leftovers() -> Vec<String> {
    with(|d| {
        let mut v: Vec<String> = d
            .devis
            .values()
            .filter(|x| x.live)
            .map(|x| format!("instance {} is still attached", x.instance))
            .collect();
        v.extend(
            d.opens
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(dev, n)| format!("{dev:#x} is open {n} time(s)")),
        );
        v
    })
}

// --- The DDI -----------------------------------------------------------------

fn warn(msg: &str) {
    super::console::log(CE_WARN, None, msg);
}

/// The live instance at `dip`, or a panic.
fn devi<R>(dip: *mut c_void, op: &str, f: impl FnOnce(&mut Devi) -> R) -> R {
    let r = with(|d| match d.devis.get_mut(&(dip as usize)) {
        Some(v) if v.live => Ok(f(v)),
        Some(v) => Err(format!(
            "{op}({dip:p}): the dev_info_t of instance {} after its detach",
            v.instance
        )),
        None => Err(format!("{op}({dip:p}): not a dev_info_t the framework made")),
    });
    r.unwrap_or_else(|e| fatal(&e))
}

extern "C" fn ddi_get_instance(dip: *mut c_void) -> c_int {
    devi(dip, "ddi_get_instance", |v| v.instance)
}

extern "C" fn ddi_create_minor_node(
    dip: *mut c_void,
    name: *const c_char,
    spec_type: c_int,
    minor: u32,
    node_type: *const c_char,
    flag: c_int,
) -> c_int {
    // SAFETY: the driver passes NUL-terminated strings (or NULL).
    let (name, node_type) = unsafe { (c_str(name, 256), c_str(node_type, 256)) };
    let Some(name) = name else {
        warn("ddi_create_minor_node: NULL name");
        return DDI_FAILURE;
    };
    if spec_type != S_IFCHR && spec_type != S_IFBLK {
        return DDI_FAILURE;
    }
    let node = MinorNode {
        name: name.clone(),
        spec_type,
        minor,
        node_type: node_type.unwrap_or_default(),
        flag,
    };
    let dup = devi(dip, "ddi_create_minor_node", |v| {
        if v.minors.iter().any(|m| m.name == name && m.spec_type == spec_type) {
            true
        } else {
            v.minors.push(node);
            false
        }
    });
    if dup {
        complain(&format!(
            "ddi_create_minor_node: instance {} already has a minor node '{name}'",
            ddi_get_instance(dip)
        ));
        return DDI_FAILURE;
    }
    DDI_SUCCESS
}

extern "C" fn ddi_remove_minor_node(dip: *mut c_void, name: *const c_char) {
    // SAFETY: the driver passes a NUL-terminated string or NULL (all).
    let name = unsafe { c_str(name, 256) };
    let (inst, found) = devi(dip, "ddi_remove_minor_node", |v| {
        let before = v.minors.len();
        match &name {
            None => v.minors.clear(),
            Some(n) => v.minors.retain(|m| &m.name != n),
        }
        (v.instance, before != v.minors.len() || name.is_none())
    });
    if !found {
        complain(&format!(
            "ddi_remove_minor_node: instance {inst} has no minor node '{}'",
            name.unwrap_or_default()
        ));
    }
}

/// Where `[addr, addr + len)` lies: in one user buffer (its base), or
/// `None` (a fault).
fn user_span(d: &Ddi, addr: u64, len: usize) -> Option<(u64, usize)> {
    let (&base, buf) = d.user.range(..=addr).next_back()?;
    let off = (addr - base) as usize;
    (off.checked_add(len)? <= buf.len()).then_some((base, off))
}

/// Where `[addr, addr + len)` lies in a kernel buffer a test made.
fn kernel_span(d: &Ddi, addr: u64, len: usize) -> Option<(usize, usize)> {
    let a = addr as usize;
    let (&base, buf) = d.kernel.range(..=a).next_back()?;
    let off = a - base;
    (off.checked_add(len)? <= buf.len()).then_some((base, off))
}

/// `ddi_copyin(buf, driverbuf, cn, flags)`: 0, or -1 on a fault.
extern "C" fn ddi_copyin(src: *const c_void, dst: *mut c_void, len: usize, flags: c_int) -> c_int {
    let addr = src as u64;
    let r = with(|d| {
        let from: &[u8] = if flags & FKIOCTL != 0 {
            let (base, off) = kernel_span(d, addr, len)?;
            &d.kernel[&base][off..off + len]
        } else {
            let (base, off) = user_span(d, addr, len)?;
            &d.user[&base][off..off + len]
        };
        // SAFETY: the driver's buffer is writable for `len` bytes (the
        // DDI's contract); `from` is emulation memory of that length.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), dst.cast::<u8>(), len) };
        d.copies += 1;
        Some(())
    });
    if r.is_some() { 0 } else { -1 }
}

/// `ddi_copyout(driverbuf, buf, cn, flags)`: 0, or -1 on a fault.
extern "C" fn ddi_copyout(src: *const c_void, dst: *mut c_void, len: usize, flags: c_int) -> c_int {
    let addr = dst as u64;
    let r = with(|d| {
        let to: &mut [u8] = if flags & FKIOCTL != 0 {
            let (base, off) = kernel_span(d, addr, len)?;
            &mut d.kernel.get_mut(&base)?[off..off + len]
        } else {
            let (base, off) = user_span(d, addr, len)?;
            &mut d.user.get_mut(&base)?[off..off + len]
        };
        // SAFETY: the driver's buffer is readable for `len` bytes (the
        // DDI's contract); `to` is emulation memory of that length.
        unsafe { std::ptr::copy_nonoverlapping(src.cast::<u8>(), to.as_mut_ptr(), len) };
        d.copies += 1;
        Some(())
    });
    if r.is_some() { 0 } else { -1 }
}

/// Whether `addr` is in the emulated user range.
pub fn is_user(addr: u64) -> bool {
    (USER_BASE..USER_END).contains(&addr)
}

extern "C" fn getminor(dev: u64) -> u32 {
    // NBITSMINOR64: the low 32 bits.
    dev as u32
}

/// `nodev()`: `ENXIO`.
extern "C" fn nodev() -> c_int {
    ENXIO
}

/// `nulldev()`: 0.
extern "C" fn nulldev() -> c_int {
    0
}

/// `nochpoll()`: `ENXIO`.
extern "C" fn nochpoll() -> c_int {
    ENXIO
}

/// `ddi_prop_op()`: the emulated instances have no properties.
extern "C" fn ddi_prop_op() -> c_int {
    DDI_PROP_NOT_FOUND
}

extern "C" fn ddi_quiesce_not_needed(_dip: *mut c_void) -> c_int {
    DDI_SUCCESS
}

/// `mod_driverops`' entry points: modctl's own (`mod_installdrv` ...)
/// are emulated by `mod_install` itself, so these are never called.
extern "C" fn driver_op(_linkage: *mut c_void, _modlp: *mut c_void) -> c_int {
    fatal("mod_driverops called directly: only modctl calls it")
}

fn init_driverops(b: &mut [u8]) {
    for i in 0..3 {
        b[i * 8..i * 8 + 8]
            .copy_from_slice(&(driver_op as *const () as usize as u64).to_le_bytes());
    }
}

/// The driver framework's symbols.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("ddi_get_instance", ddi_get_instance as *const () as usize),
        f("ddi_create_minor_node", ddi_create_minor_node as *const () as usize),
        f("ddi_remove_minor_node", ddi_remove_minor_node as *const () as usize),
        f("ddi_copyin", ddi_copyin as *const () as usize),
        f("ddi_copyout", ddi_copyout as *const () as usize),
        f("getminor", getminor as *const () as usize),
        f("nodev", nodev as *const () as usize),
        f("nulldev", nulldev as *const () as usize),
        f("nochpoll", nochpoll as *const () as usize),
        f("ddi_prop_op", ddi_prop_op as *const () as usize),
        f("ddi_quiesce_not_needed", ddi_quiesce_not_needed as *const () as usize),
        KernelSymbol {
            name: "mod_driverops".into(),
            provider: Provider::Core,
            // struct mod_ops: three function pointers.
            def: Def::Data { size: 24, align: 8, init: init_driverops },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_fault_outside_mapped_memory() {
        let _g = crate::machine::test_lock();
        reset();
        let u = user_map(&[1, 2, 3, 4]);
        assert!(is_user(u));
        let mut b = [0u8; 4];
        let p = b.as_mut_ptr().cast();
        assert_eq!(ddi_copyin(u as *const c_void, p, 4, 0), 0);
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(ddi_copyin((u + 1) as *const c_void, p, 4, 0), -1, "runs off the end");
        assert_eq!(ddi_copyin(u as *const c_void, p, 4, FKIOCTL), -1, "user address as kernel");
        let k = kernel_map(&[9; 8]);
        assert_eq!(ddi_copyin(k as *const c_void, p, 4, 0), -1, "kernel address as user");
        assert_eq!(ddi_copyin(k as *const c_void, p, 4, FKIOCTL), 0);
        assert_eq!(b, [9; 4]);
        let src = [7u8; 2];
        assert_eq!(ddi_copyout(src.as_ptr().cast(), (u + 2) as *mut c_void, 2, 0), 0);
        assert_eq!(user_read(u).unwrap(), [1, 2, 7, 7]);
        assert_eq!(ddi_copyout(src.as_ptr().cast(), (u + 3) as *mut c_void, 2, 0), -1);
        assert_eq!(copies(), 3);
        reset();
    }
}
