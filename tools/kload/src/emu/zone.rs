//! Zones (`zone_find_by_id(9F)`-style lookups, `zone_rele`,
//! `zone_status_get`), zone-specific data (`zone_key_create`,
//! `zone_key_delete`, `zone_getspecific`) and credentials (`crgetzoneid`,
//! `ddi_get_cred`, `zone_kcred`), with the life cycle of
//! `usr/src/uts/common/os/zone.c`.
//!
//! # Life cycle
//!
//! Tests drive it ([`boot`], [`halt`], [`destroy`]) as zoneadmd does:
//!
//! - **boot**: the zone is created `ZONE_IS_INITIALIZED`; zsched runs the
//!   ZSD constructors of every key in the order the keys were created,
//!   the netstack framework's first (it registers its key at boot, so the
//!   netstack `create` callbacks of [`super::netstack`] run before any
//!   module's own ZSD constructor); then `READY`, `BOOTING`, `RUNNING`.
//!   While the constructors run, `zone_find_by_id()` does not find the
//!   zone (it finds only `READY` to `DOWN`), as in illumos.
//! - **halt**: `SHUTTING_DOWN`, `EMPTY`, the ZSD shutdown callbacks (the
//!   netstack `shutdown` callbacks first), `DOWN`.
//! - **destroy** (of a `DOWN` zone): `DYING`, `DEAD`, the ZSD destroy
//!   callbacks (netstack `destroy` first), and the id is free. A zone
//!   still held then is a complaint: `zone_destroy()` would wait forever.
//!
//! Booting an id whose zone still exists replaces it without any
//! callback: the test suites use it for "the destroy was missed".
//!
//! # Checks
//!
//! | misuse | result |
//! |---|---|
//! | `zone_rele` of a zone not held (reference underflow) | panic (`ASSERT(z->zone_ref != 0)`) |
//! | a `zone_t *` or `cred_t *` the kernel never made | panic (a kernel would fault) |
//! | `zone_status_get`/`zone_getspecific` of a zone not held | panic |
//! | a zone destroyed while held; holds left at unload | complaint |
//! | `zone_key_delete` of an unknown key | -1, as illumos |
//!
//! Credentials: each zone has one privileged `cred_t` (`zone_kcred()`'s,
//! and root's) and one of an unprivileged user ([`user_cred`]), which
//! `secpolicy_dl_config()` refuses (`EPERM`); a thread acts for the zone
//! [`set_thread_zone`] names (the global zone by default, and always on
//! task-queue threads), with the privileged credential.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::Mutex;

use super::console::fatal;
use super::{KernelSymbol, call_module, complain, netstack};

/// `ZONE_IS_UNINITIALIZED`.
pub const UNINITIALIZED: i32 = 0;
/// `ZONE_IS_INITIALIZED`: ZSD constructors run.
pub const INITIALIZED: i32 = 1;
/// `ZONE_IS_READY`.
pub const READY: i32 = 2;
/// `ZONE_IS_BOOTING`.
pub const BOOTING: i32 = 3;
/// `ZONE_IS_RUNNING`.
pub const RUNNING: i32 = 4;
/// `ZONE_IS_SHUTTING_DOWN`.
pub const SHUTTING_DOWN: i32 = 5;
/// `ZONE_IS_EMPTY`: ZSD shutdown callbacks run.
pub const EMPTY: i32 = 6;
/// `ZONE_IS_DOWN`.
pub const DOWN: i32 = 7;
/// `ZONE_IS_DYING`.
pub const DYING: i32 = 8;
/// `ZONE_IS_DEAD`: ZSD destroy callbacks run.
pub const DEAD: i32 = 9;
/// `GLOBAL_ZONEID`.
pub const GLOBAL: i32 = 0;

struct Zone {
    id: i32,
    uniqid: u64,
    status: i32,
    /// `zone_ref` taken by `zone_find_by_id()`.
    refs: u32,
    /// Key → value.
    zsd: BTreeMap<c_uint, usize>,
    /// Still findable by id (not destroyed or replaced).
    in_hash: bool,
}

#[derive(Clone, Copy)]
struct Key {
    key: c_uint,
    create: usize,
    shutdown: usize,
    destroy: usize,
}

#[derive(Default)]
struct Zones {
    /// By `zone_t *` (the address of a buffer of `mem`).
    zones: BTreeMap<usize, Zone>,
    by_id: BTreeMap<i32, usize>,
    keys: Vec<Key>,
    next_key: c_uint,
    /// `cred_t *` → zone id.
    creds: BTreeMap<usize, i32>,
    cred_of: BTreeMap<i32, usize>,
    /// Unprivileged credentials: zone id → `cred_t *`.
    user_of: BTreeMap<i32, usize>,
    next_uniqid: u64,
    /// Backing memory of every `zone_t` and `cred_t` handed out since boot.
    #[allow(clippy::vec_box, reason = "each box's address is a kernel object's identity")]
    mem: Vec<Box<[u64; 16]>>,
}

static ZONES: Mutex<Option<Zones>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Zones) -> R) -> R {
    let mut g = ZONES.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Zones::default))
}

std::thread_local! {
    static THREAD_ZONE: Cell<i32> = const { Cell::new(GLOBAL) };
}

/// Makes the calling thread act for zone `zid` (`CRED()` is its
/// credential from now on).
pub fn set_thread_zone(zid: i32) {
    THREAD_ZONE.with(|z| z.set(zid));
}

/// The zone the calling thread acts for.
pub fn thread_zone() -> i32 {
    THREAD_ZONE.with(|z| z.get())
}

/// A fresh boot: only the global zone, running, incarnation 0.
pub fn reset() {
    let mut z = Zones { next_key: 2, next_uniqid: 1, ..Zones::default() };
    let addr = new_mem(&mut z);
    let gz = Zone {
        id: GLOBAL,
        uniqid: 0,
        status: RUNNING,
        refs: 0,
        zsd: BTreeMap::new(),
        in_hash: true,
    };
    z.zones.insert(addr, gz);
    z.by_id.insert(GLOBAL, addr);
    *ZONES.lock().unwrap_or_else(|e| e.into_inner()) = Some(z);
}

fn new_mem(z: &mut Zones) -> usize {
    let b = Box::new([0u64; 16]);
    let addr = b.as_ptr() as usize;
    z.mem.push(b);
    addr
}

/// The credential of zone `zid` (made on first use: a credential may
/// name a zone that does not exist, as one of a dead zone does).
pub fn cred(zid: i32) -> usize {
    with(|z| {
        if let Some(c) = z.cred_of.get(&zid) {
            return *c;
        }
        let c = new_mem(z);
        z.creds.insert(c, zid);
        z.cred_of.insert(zid, c);
        c
    })
}

/// The credential of an unprivileged user of zone `zid` (made on first
/// use): `secpolicy_dl_config()` refuses it.
pub fn user_cred(zid: i32) -> usize {
    with(|z| {
        if let Some(c) = z.user_of.get(&zid) {
            return *c;
        }
        let c = new_mem(z);
        z.creds.insert(c, zid);
        z.user_of.insert(zid, c);
        c
    })
}

/// Whether credential `cr` holds every privilege (`None`: not a
/// credential the kernel made).
pub fn privileged(cr: usize) -> Option<bool> {
    with(|z| z.creds.contains_key(&cr).then(|| !z.user_of.values().any(|c| *c == cr)))
}

/// The zone of credential `cr`, if it is one the kernel made.
pub fn cred_zone(cr: usize) -> Option<i32> {
    with(|z| z.creds.get(&cr).copied())
}

/// Ids of the zones that exist (findable or being created), in order.
pub fn ids() -> Vec<i32> {
    with(|z| z.by_id.keys().copied().collect())
}

/// Zone `zid`'s `zone_status_t`, if it exists.
pub fn status(zid: i32) -> Option<i32> {
    with(|z| z.by_id.get(&zid).and_then(|a| z.zones.get(a)).map(|zz| zz.status))
}

/// Zone `zid`'s `zone_uniqid`, if it exists.
pub fn uniqid(zid: i32) -> Option<u64> {
    with(|z| z.by_id.get(&zid).and_then(|a| z.zones.get(a)).map(|zz| zz.uniqid))
}

/// The value of ZSD key `key` in zone `zid` (0 if none).
pub fn zsd_value(zid: i32, key: c_uint) -> usize {
    with(|z| {
        z.by_id.get(&zid).and_then(|a| z.zones.get(a)).and_then(|zz| zz.zsd.get(&key)).copied()
    })
    .unwrap_or(0)
}

/// The ZSD keys registered now, in creation order.
pub fn keys() -> Vec<c_uint> {
    with(|z| z.keys.iter().map(|k| k.key).collect())
}

/// Sets zone `zid`'s status without any callback (a test's shortcut).
pub fn set_status(zid: i32, status: i32) {
    with(|z| {
        if let Some(zz) = z.by_id.get(&zid).copied().and_then(|a| z.zones.get_mut(&a)) {
            zz.status = status;
        }
    });
}

fn set(zid: i32, status: i32) {
    set_status(zid, status);
}

/// Boots zone `zid` with `zone_uniqid` `uniqid` (0: the next one), running
/// every ZSD constructor (see the module docs). Returns false (a
/// complaint) for the global zone or an id out of range.
pub fn boot(zid: i32, uniqid: u64) -> bool {
    if zid <= GLOBAL || zid > 9999 {
        complain(&format!("zone boot of id {zid}: not a non-global zone id"));
        return false;
    }
    let keys = with(|z| {
        if let Some(old) = z.by_id.remove(&zid) {
            if let Some(o) = z.zones.get_mut(&old) {
                o.in_hash = false;
            }
        }
        let addr = new_mem(z);
        let uniqid = if uniqid == 0 { z.next_uniqid } else { uniqid };
        z.next_uniqid = z.next_uniqid.max(uniqid) + 1;
        let zone = Zone {
            id: zid,
            uniqid,
            status: INITIALIZED,
            refs: 0,
            zsd: BTreeMap::new(),
            in_hash: true,
        };
        z.zones.insert(addr, zone);
        z.by_id.insert(zid, addr);
        z.keys.clone()
    });
    netstack::replace_stack(zid);
    // zsched: the ZSD constructors, key by key; the netstack framework's
    // key is the oldest.
    netstack::zone_create(zid);
    for k in keys.iter().filter(|k| k.create != 0) {
        run_create(k, zid);
    }
    for s in [READY, BOOTING, RUNNING] {
        set(zid, s);
    }
    true
}

fn run_create(k: &Key, zid: i32) {
    let label = format!("ZSD create {}", super::func_name(k.create));
    // SAFETY: a ZSD constructor the module registered:
    // void *(*)(zoneid_t).
    let v = unsafe { call_module(&label, k.create, &[zid as u64]) } as usize;
    with(|z| {
        if let Some(zz) = z.by_id.get(&zid).copied().and_then(|a| z.zones.get_mut(&a)) {
            zz.zsd.insert(k.key, v);
        }
    });
}

/// Runs the shutdown or destroy callback of key `k` for zone `zid` if it
/// has a value there.
fn run_hook(k: &Key, zid: i32, destroy: bool) {
    let f = if destroy { k.destroy } else { k.shutdown };
    let Some(v) = with(|z| {
        z.by_id.get(&zid).and_then(|a| z.zones.get(a)).and_then(|zz| zz.zsd.get(&k.key)).copied()
    }) else {
        return;
    };
    if f == 0 {
        return;
    }
    let what = if destroy { "destroy" } else { "shutdown" };
    let label = format!("ZSD {what} {}", super::func_name(f));
    // SAFETY: a ZSD callback the module registered:
    // void (*)(zoneid_t, void *).
    unsafe { call_module(&label, f, &[zid as u64, v as u64]) };
}

/// Halts zone `zid` (see the module docs). Complains for a zone that is
/// not `READY`..`RUNNING`.
pub fn halt(zid: i32) -> bool {
    let st = status(zid);
    if !st.is_some_and(|s| (READY..=RUNNING).contains(&s)) {
        complain(&format!("zone halt of zone {zid}: status {st:?}, not ready or running"));
        return false;
    }
    set(zid, SHUTTING_DOWN);
    set(zid, EMPTY);
    netstack::zone_shutdown(zid);
    for k in with(|z| z.keys.clone()) {
        run_hook(&k, zid, false);
    }
    set(zid, DOWN);
    true
}

/// Destroys zone `zid`, which must be `DOWN` (see the module docs).
pub fn destroy(zid: i32) -> bool {
    let st = status(zid);
    if st != Some(DOWN) {
        complain(&format!("zone destroy of zone {zid}: status {st:?}, not down"));
        return false;
    }
    set(zid, DYING);
    set(zid, DEAD);
    netstack::zone_destroy(zid);
    let keys = with(|z| z.keys.clone());
    for k in &keys {
        run_hook(k, zid, true);
    }
    let held = with(|z| {
        let addr = z.by_id.remove(&zid)?;
        let zz = z.zones.get_mut(&addr)?;
        zz.in_hash = false;
        zz.zsd.clear();
        Some(zz.refs)
    });
    if let Some(n) = held.filter(|n| *n > 0) {
        complain(&format!(
            "zone {zid} destroyed with {n} reference(s) from zone_find_by_id() still held: \
             zone_destroy() would wait for them forever"
        ));
    }
    true
}

/// Zone holds (`zone_find_by_id()` without `zone_rele()`) outstanding,
/// one line per zone.
pub fn holds() -> Vec<String> {
    with(|z| {
        z.zones
            .values()
            .filter(|zz| zz.refs > 0)
            .map(|zz| format!("zone {} is still held {} time(s) (zone_find_by_id)", zz.id, zz.refs))
            .collect()
    })
}

/// ZSD keys still registered.
pub fn undeleted_keys() -> Vec<String> {
    with(|z| {
        z.keys
            .iter()
            .map(|k| {
                format!("ZSD key {} (create {}) was never deleted", k.key, func_name_or(k.create))
            })
            .collect()
    })
}

fn func_name_or(f: usize) -> String {
    if f == 0 { "NULL".into() } else { super::func_name(f) }
}

// --- The DDI ---------------------------------------------------------------

/// The zone at `zp`, which must be one the kernel made and `held`.
fn zone_at<R>(zp: *mut c_void, op: &str, f: impl FnOnce(&mut Zone) -> R) -> R {
    let addr = zp as usize;
    let r = with(|z| {
        let zz = z.zones.get_mut(&addr)?;
        if zz.refs == 0 {
            return Some(Err(zz.id));
        }
        Some(Ok(f(zz)))
    });
    match r {
        Some(Ok(v)) => v,
        Some(Err(id)) => {
            fatal(&format!("{op}({zp:p}): zone {id} is not held (no zone_find_by_id)"))
        }
        None => fatal(&format!("{op}({zp:p}): not a zone_t the kernel made")),
    }
}

extern "C" fn zone_find_by_id(zid: c_int) -> *mut c_void {
    with(|z| {
        let Some(&addr) = z.by_id.get(&zid) else { return std::ptr::null_mut() };
        let Some(zz) = z.zones.get_mut(&addr) else { return std::ptr::null_mut() };
        if !(READY..=DOWN).contains(&zz.status) {
            return std::ptr::null_mut();
        }
        zz.refs += 1;
        addr as *mut c_void
    })
}

extern "C" fn zone_rele(zp: *mut c_void) {
    let addr = zp as usize;
    let r = with(|z| {
        let zz = z.zones.get_mut(&addr)?;
        if zz.refs == 0 {
            return Some(Err(zz.id));
        }
        zz.refs -= 1;
        Some(Ok(()))
    });
    match r {
        Some(Ok(())) => {}
        Some(Err(id)) => {
            fatal(&format!("zone_rele({zp:p}): zone {id} is not held (reference underflow)"))
        }
        None => fatal(&format!("zone_rele({zp:p}): not a zone_t the kernel made")),
    }
}

extern "C" fn zone_status_get(zp: *mut c_void) -> c_int {
    zone_at(zp, "zone_status_get", |z| z.status)
}

extern "C" fn zone_getspecific(key: c_uint, zp: *mut c_void) -> *mut c_void {
    zone_at(zp, "zone_getspecific", |z| z.zsd.get(&key).copied().unwrap_or(0) as *mut c_void)
}

extern "C" fn zone_key_create(keyp: *mut c_uint, create: usize, shutdown: usize, destroy: usize) {
    if keyp.is_null() {
        fatal("zone_key_create: NULL key pointer");
    }
    let (k, zones) = with(|z| {
        let k = Key { key: z.next_key, create, shutdown, destroy };
        z.next_key += 1;
        z.keys.push(k);
        // Zones on the way down or not yet up are skipped.
        let zones: Vec<i32> = z
            .by_id
            .iter()
            .filter_map(|(id, a)| z.zones.get(a).map(|zz| (*id, zz.status)))
            .filter(|(_, s)| *s != UNINITIALIZED && *s < DOWN)
            .map(|(id, _)| id)
            .collect();
        (k, zones)
    });
    if create != 0 {
        for zid in zones {
            run_create(&k, zid);
        }
    }
    // SAFETY: the module passes a zone_key_t to fill in; it is visible to
    // the module only now, once every constructor has run.
    unsafe { keyp.write(k.key) };
}

extern "C" fn zone_key_delete(key: c_uint) -> c_int {
    let Some(k) = with(|z| {
        let i = z.keys.iter().position(|k| k.key == key)?;
        Some(z.keys.remove(i))
    }) else {
        return -1;
    };
    let zones: Vec<i32> = ids();
    for zid in &zones {
        run_hook(&k, *zid, false);
    }
    for zid in &zones {
        run_hook(&k, *zid, true);
    }
    with(|z| {
        for zz in z.zones.values_mut() {
            zz.zsd.remove(&key);
        }
    });
    0
}

extern "C" fn crgetzoneid(cr: *const c_void) -> c_int {
    match cred_zone(cr as usize) {
        Some(z) => z,
        None => fatal(&format!("crgetzoneid({cr:p}): not a cred_t the kernel made")),
    }
}

/// `secpolicy_dl_config(cr)`: 0 with `PRIV_SYS_DL_CONFIG`, else `EPERM`.
extern "C" fn secpolicy_dl_config(cr: *const c_void) -> c_int {
    match privileged(cr as usize) {
        Some(true) => 0,
        Some(false) => 1,
        None => fatal(&format!("secpolicy_dl_config({cr:p}): not a cred_t the kernel made")),
    }
}

extern "C" fn ddi_get_cred() -> *mut c_void {
    cred(thread_zone()) as *mut c_void
}

extern "C" fn zone_kcred() -> *mut c_void {
    cred(thread_zone()) as *mut c_void
}

/// The zone, ZSD and credential calls.
pub fn symbols() -> Vec<KernelSymbol> {
    let f = KernelSymbol::core_fn;
    vec![
        f("zone_find_by_id", zone_find_by_id as *const () as usize),
        f("zone_rele", zone_rele as *const () as usize),
        f("zone_status_get", zone_status_get as *const () as usize),
        f("zone_getspecific", zone_getspecific as *const () as usize),
        f("zone_key_create", zone_key_create as *const () as usize),
        f("zone_key_delete", zone_key_delete as *const () as usize),
        f("crgetzoneid", crgetzoneid as *const () as usize),
        f("secpolicy_dl_config", secpolicy_dl_config as *const () as usize),
        f("ddi_get_cred", ddi_get_cred as *const () as usize),
        f("zone_kcred", zone_kcred as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_hold_only_ready_to_down_zones() {
        let _g = crate::machine::test_lock();
        reset();
        netstack::reset();
        assert!(boot(5, 105));
        assert_eq!(status(5), Some(RUNNING));
        let zp = zone_find_by_id(5);
        assert!(!zp.is_null());
        assert_eq!(zone_status_get(zp), RUNNING);
        assert_eq!(holds().len(), 1);
        zone_rele(zp);
        assert!(holds().is_empty());
        set_status(5, INITIALIZED);
        assert!(zone_find_by_id(5).is_null());
        set_status(5, RUNNING);
        assert!(halt(5));
        assert_eq!(status(5), Some(DOWN));
        assert!(!zone_find_by_id(5).is_null(), "a down zone is still found");
        let zp = zone_find_by_id(5);
        zone_rele(zp);
        zone_rele(zp);
        assert!(destroy(5));
        assert_eq!(status(5), None);
        assert!(zone_find_by_id(5).is_null());
        let c = cred(7);
        assert_eq!(crgetzoneid(c as *const c_void), 7);
        let u = user_cred(7);
        assert_ne!(u, c);
        assert_eq!(crgetzoneid(u as *const c_void), 7);
        assert_eq!(secpolicy_dl_config(c as *const c_void), 0);
        assert_eq!(secpolicy_dl_config(u as *const c_void), 1, "EPERM");
        assert_eq!(zone_key_delete(99), -1);
        reset();
    }
}
