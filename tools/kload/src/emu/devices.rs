//! Drivers and devices: driver names and majors (`ddi_major_to_name`,
//! `ddi_name_to_major`), holds on device instances
//! (`ddi_hold_devi_by_instance`, `ddi_release_devi`), softmac
//! (`softmac_hold_device`, `softmac_rele_device`, `softmac_recreate`) and
//! implicit IP tunnels (`iptun_create`, `iptun_delete`). misc/dls reaches
//! softmac and iptun through genunix's stubs, so they are kernel core
//! symbols here.
//!
//! Tests declare drivers and the physical devices softmac can attach
//! ([`add_device`]); the `iptun` driver exists from boot. Attaching a
//! device (its first `softmac_hold_device()`) registers its MAC,
//! `<driver><instance>`, and, if dlmgmtd has a physical link of that
//! device, creates the link through misc/dls's `dls_devnet_create()`, as
//! softmac does. `iptun_create()` registers the tunnel's MAC and creates
//! its link the same way; `iptun_delete()` destroys it with
//! `dls_devnet_destroy()` and unregisters the MAC. Those calls into the
//! loaded object ([`set_dls_exports`]) nest on the calling kernel
//! thread's stack.
//!
//! | misuse | result |
//! |---|---|
//! | `ddi_release_devi`/`softmac_rele_device` of a device not held | panic (reference underflow) |
//! | `iptun_create` with parameters other than an implicit tunnel's, or without the iptun instance held | panic / complaint |
//! | holds left at unload | complaint |

use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Mutex;

use super::console::fatal;
use super::{KernelSymbol, c_str, call_module, complain, door, mac, take_failure, zone};

const ENOENT: c_int = 2;
/// `DDI_MAJOR_T_NONE`.
const MAJOR_NONE: u32 = u32::MAX;
/// The iptun driver's major here.
pub const IPTUN_MAJOR: u32 = 220;
/// The major of MACs that are no `<driver><instance>` of a known driver
/// (VNICs and the like, whose dls minor mac allocates).
const PSEUDO_MAJOR: u32 = 0x3fff;
/// `IPTUN_KPARAM_TYPE | IPTUN_KPARAM_IMPLICIT`.
const IMPLICIT_FLAGS: u32 = 0x11;

struct Driver {
    name: CString,
}

#[derive(Default)]
struct Devices {
    drivers: BTreeMap<u32, Driver>,
    /// `dev_info_t` holds: (major, instance) → (address, holds).
    devinfo: BTreeMap<(u32, u32), (usize, u32)>,
    /// Physical devices softmac attaches: `dev_t` → (handle, holds,
    /// attached).
    softmac: BTreeMap<u64, (usize, u32, bool)>,
    recreates: u32,
    /// Implicit tunnels: link id → the tunnel's MAC.
    tunnels: BTreeMap<u32, usize>,
    /// misc/dls's functions the drivers call: name → address.
    dls: BTreeMap<String, usize>,
    #[allow(clippy::vec_box, reason = "each box's address is a kernel object's identity")]
    mem: Vec<Box<[u64; 4]>>,
}

static DEVICES: Mutex<Option<Devices>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Devices) -> R) -> R {
    let mut g = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Devices::default))
}

fn new_mem(d: &mut Devices) -> usize {
    let b = Box::new([0u64; 4]);
    let a = b.as_ptr() as usize;
    d.mem.push(b);
    a
}

/// A fresh boot: the iptun driver (instance 0 only), nothing else.
pub fn reset() {
    let mut d = Devices::default();
    d.drivers.insert(IPTUN_MAJOR, Driver { name: c"iptun".into() });
    let a = new_mem(&mut d);
    d.devinfo.insert((IPTUN_MAJOR, 0), (a, 0));
    *DEVICES.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
}

/// `makedevice()`.
pub fn makedevice(major: u32, minor: u32) -> u64 {
    (u64::from(major) << 32) | u64::from(minor)
}

/// Declares driver `drv` with major `major` and its physical device
/// `instance` (`dev_t` minor `instance + 1`, a DLPI style-1 node), which
/// softmac can attach.
pub fn add_device(drv: &[u8], major: u32, instance: u32) {
    with(|d| {
        d.drivers.insert(major, Driver { name: CString::new(drv.to_vec()).unwrap_or_default() });
        let dev = makedevice(major, instance + 1);
        if !d.softmac.contains_key(&dev) {
            let a = new_mem(d);
            d.softmac.insert(dev, (a, 0, false));
        }
    });
}

/// Records the addresses of misc/dls's functions drivers call into
/// (`dls_devnet_create`, `dls_devnet_destroy`), or forgets them.
pub fn set_dls_exports(exports: BTreeMap<String, usize>) {
    with(|d| d.dls = exports);
}

fn dls_fn(name: &str) -> usize {
    with(|d| d.dls.get(name).copied())
        .unwrap_or_else(|| fatal(&format!("misc/dls's {name} is not loaded")))
}

/// `softmac_recreate()` calls since boot.
pub fn recreates() -> u32 {
    with(|d| d.recreates)
}

/// Whether implicit tunnel `linkid` exists.
pub fn tunnel(linkid: u32) -> bool {
    with(|d| d.tunnels.contains_key(&linkid))
}

/// Device holds left, one line each.
pub fn leftovers() -> Vec<String> {
    with(|d| {
        let mut v = Vec::new();
        for ((maj, inst), (_, n)) in &d.devinfo {
            if *n > 0 {
                v.push(format!("dev_info of major {maj} instance {inst} still held {n} time(s)"));
            }
        }
        for (dev, (_, n, _)) in &d.softmac {
            if *n > 0 {
                v.push(format!("softmac device {dev:#x} still held {n} time(s)"));
            }
        }
        v
    })
}

/// The `dev_t` of the DLPI node of MAC `mh` (`dls_link_dev()`): a MAC
/// named `<driver><instance>` of a known driver is that driver's node
/// (minor `instance + 1`); any other gets a pseudo major and a minor of
/// its own.
pub fn mac_dev(mh: usize) -> u64 {
    let name = mac::name_of(mh).unwrap_or_default();
    let split = name.iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
    let (drv, inst) = name.split_at(split);
    let inst: Option<u32> = std::str::from_utf8(inst).ok().and_then(|s| s.parse().ok());
    let major = with(|d| d.drivers.iter().find(|(_, x)| x.name.as_bytes() == drv).map(|(m, _)| *m));
    match (major, inst) {
        (Some(m), Some(i)) if m != IPTUN_MAJOR => makedevice(m, i + 1),
        _ => makedevice(PSEUDO_MAJOR, 1000 + mac::seq_of(mh)),
    }
}

// --- The DDI ---------------------------------------------------------------

extern "C" fn ddi_major_to_name(major: u32) -> *const c_char {
    with(|d| d.drivers.get(&major).map_or(std::ptr::null(), |x| x.name.as_ptr()))
}

extern "C" fn ddi_name_to_major(name: *const c_char) -> u32 {
    // SAFETY: the module passes a NUL-terminated driver name.
    let n = unsafe { c_str(name, 256) }.unwrap_or_default();
    with(|d| d.drivers.iter().find(|(_, x)| x.name.to_bytes() == n.as_bytes()).map(|(m, _)| *m))
        .unwrap_or(MAJOR_NONE)
}

extern "C" fn ddi_hold_devi_by_instance(major: u32, instance: c_int, _flags: c_int) -> *mut c_void {
    let Ok(inst) = u32::try_from(instance) else { return std::ptr::null_mut() };
    with(|d| match d.devinfo.get_mut(&(major, inst)) {
        Some((a, n)) => {
            *n += 1;
            *a as *mut c_void
        }
        None => std::ptr::null_mut(),
    })
}

extern "C" fn ddi_release_devi(dip: *mut c_void) {
    let r = with(|d| {
        let (_, n) = d.devinfo.values_mut().find(|(a, _)| *a == dip as usize)?;
        if *n == 0 {
            return Some(false);
        }
        *n -= 1;
        Some(true)
    });
    match r {
        Some(true) => {}
        Some(false) => fatal(&format!("ddi_release_devi({dip:p}): not held")),
        None => fatal(&format!("ddi_release_devi({dip:p}): not a dev_info_t")),
    }
}

extern "C" fn softmac_hold_device(dev: u64, ddhp: *mut *mut c_void) -> c_int {
    let major = (dev >> 32) as u32;
    let minor = dev as u32;
    let r = with(|d| {
        let (h, n, attached) = d.softmac.get_mut(&dev)?;
        *n += 1;
        let first = !*attached;
        *attached = true;
        let drv = d.drivers.get(&major).map(|x| x.name.as_bytes().to_vec()).unwrap_or_default();
        Some((*h, first, drv))
    });
    let Some((h, first, drv)) = r else { return ENOENT };
    let inst = minor.wrapping_sub(1);
    let name = [drv, inst.to_string().into_bytes()].concat();
    if first && mac::handle_of(&name).is_none() {
        // The device attaches: its MAC registers and, if dlmgmtd knows a
        // physical link of it, softmac creates that link.
        let mh = mac::register(&name);
        let id = door::with_daemon(|dm| dm.phys_link(u64::from(major), u64::from(inst)));
        if let Some(id) = id {
            let f = dls_fn("dls_devnet_create");
            // SAFETY: misc/dls's int dls_devnet_create(mac_handle_t,
            // datalink_id_t, zoneid_t).
            let rc = unsafe { call_module("dls_devnet_create", f, &[mh as u64, id.into(), 0]) };
            if rc as u32 != 0 {
                mac::unregister(mh);
            }
        }
    }
    // SAFETY: the module passes a dls_dev_handle_t to fill in.
    unsafe { ddhp.write(h as *mut c_void) };
    0
}

extern "C" fn softmac_rele_device(ddh: *mut c_void) {
    let r = with(|d| {
        let (_, n, _) = d.softmac.values_mut().find(|(a, _, _)| *a == ddh as usize)?;
        if *n == 0 {
            return Some(false);
        }
        *n -= 1;
        Some(true)
    });
    match r {
        Some(true) => {}
        Some(false) => fatal(&format!("softmac_rele_device({ddh:p}): not held")),
        None => fatal(&format!("softmac_rele_device({ddh:p}): not a device handle")),
    }
}

extern "C" fn softmac_recreate() {
    with(|d| d.recreates += 1);
}

extern "C" fn iptun_create(params: *const u8, cr: *const c_void) -> c_int {
    // iptun_kparams_t: link id at 0, flags at 4, type at 536 (544 bytes,
    // pinned in ffi/layout.rs).
    // SAFETY: the module passes a whole iptun_kparams_t.
    let (linkid, flags, kind) = unsafe {
        (
            params.cast::<u32>().read_unaligned(),
            params.add(4).cast::<u32>().read_unaligned(),
            params.add(536).cast::<u32>().read_unaligned(),
        )
    };
    if flags != IMPLICIT_FLAGS || !(1..=3).contains(&kind) || linkid == 0 {
        fatal(&format!(
            "iptun_create: link {linkid}, flags {flags:#x}, type {kind}: not the parameters of \
             an implicit tunnel"
        ));
    }
    let Some(zid) = zone::cred_zone(cr as usize) else {
        fatal(&format!("iptun_create({cr:p}): not a cred_t the kernel made"))
    };
    let held = with(|d| d.devinfo.get(&(IPTUN_MAJOR, 0)).is_some_and(|(_, n)| *n > 0));
    if !held {
        complain("iptun_create without the iptun instance held (ddi_hold_devi_by_instance)");
    }
    if let Some(e) = take_failure("iptun_create") {
        return e;
    }
    let mh = mac::register(format!("iptun{linkid}").as_bytes());
    let f = dls_fn("dls_devnet_create");
    // SAFETY: misc/dls's int dls_devnet_create(mac_handle_t,
    // datalink_id_t, zoneid_t).
    let rc = unsafe { call_module("dls_devnet_create", f, &[mh as u64, linkid.into(), zid as u64]) }
        as u32 as c_int;
    if rc != 0 {
        mac::unregister(mh);
        return rc;
    }
    with(|d| d.tunnels.insert(linkid, mh));
    0
}

extern "C" fn iptun_delete(linkid: u32, cr: *const c_void) -> c_int {
    if zone::cred_zone(cr as usize).is_none() {
        fatal(&format!("iptun_delete({cr:p}): not a cred_t the kernel made"));
    }
    if let Some(e) = take_failure("iptun_delete") {
        return e;
    }
    let Some(mh) = with(|d| d.tunnels.get(&linkid).copied()) else { return ENOENT };
    let f = dls_fn("dls_devnet_destroy");
    let mut out = Box::new(0u32);
    let outp = &raw mut *out;
    // SAFETY: misc/dls's int dls_devnet_destroy(mac_handle_t,
    // datalink_id_t *, boolean_t); `out` outlives the call.
    let rc = unsafe { call_module("dls_devnet_destroy", f, &[mh as u64, outp as u64, 1]) } as u32
        as c_int;
    if rc != 0 {
        return rc;
    }
    mac::unregister(mh);
    with(|d| d.tunnels.remove(&linkid));
    0
}

/// The driver, softmac and iptun calls.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("ddi_major_to_name", ddi_major_to_name as *const () as usize),
        f("ddi_name_to_major", ddi_name_to_major as *const () as usize),
        f("ddi_hold_devi_by_instance", ddi_hold_devi_by_instance as *const () as usize),
        f("ddi_release_devi", ddi_release_devi as *const () as usize),
        f("softmac_hold_device", softmac_hold_device as *const () as usize),
        f("softmac_rele_device", softmac_rele_device as *const () as usize),
        f("softmac_recreate", softmac_recreate as *const () as usize),
        f("iptun_create", iptun_create as *const () as usize),
        f("iptun_delete", iptun_delete as *const () as usize),
    ]
}
