//! A model of illumos' devnet bookkeeping: the baseline dlszone is
//! measured against (issue 12).
//!
//! It does what `dls_mgmt.c`, `modhash.c` and `zone.c` do to find, hold,
//! create, destroy and move a `dls_devnet_t`, with the same locks taken in
//! the same order, the same hash functions and chain walks, one heap
//! allocation per hash entry, per record and per `zone_dl_t`, and records
//! of the sizes illumos uses on amd64. Each fact and the function it comes
//! from is listed in `docs/performance.md`, section "The illumos baseline".
//! It is written from those facts; no illumos code is reused.
//!
//! Kernel primitives map onto the host's, the same ones dlszone's host
//! build uses: `kmutex_t` is `std::sync::Mutex`, `krwlock_t` is
//! `std::sync::RwLock`, and `kcondvar_t` is [`KCondvar`], which keeps the
//! illumos waiter count so that signalling with nobody waiting costs
//! nothing, as `cv_signal` does.
//!
//! Left out, because dlszone does not replace them and neither side of
//! the comparison pays them: the MAC perimeter and `dls_link_setzid`
//! (`i_dls_devnet_setzid`), kstats, the property-loading task, the
//! `softmac` device holds, and the door round trip itself (an upcall is a
//! call into [`Dlmgmtd`], an in-process stand-in for dlmgmtd).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::RwLockWriteGuard;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

/// An illumos errno value.
pub(crate) type Errno = i32;
pub(crate) const EPERM: Errno = 1;
pub(crate) const ENOENT: Errno = 2;
pub(crate) const ENXIO: Errno = 6;
pub(crate) const EBUSY: Errno = 16;
pub(crate) const EEXIST: Errno = 17;
pub(crate) const EINVAL: Errno = 22;

/// `MH_ERR_DUPLICATE` from `sys/modhash.h`.
pub(crate) const MH_ERR_DUPLICATE: i32 = -2;

pub(crate) const GLOBAL_ZONEID: i32 = 0;
/// Chains in each devnet hash, fixed at `dls_mgmt_init` (a prime).
pub(crate) const VLAN_HASHSZ: usize = 67;
/// Chains in the zone hash by id (`zone_hash_size`).
const ZONE_HASH_SIZE: usize = 256;
const MAXLINKNAMELEN: usize = 32;
const MAXNAMELEN: usize = 256;
const DATALINK_INVALID_LINKID: u32 = 0;

/// `dd_flags`.
const DD_CONDEMNED: u32 = 0x1;
const DD_INITIALIZING: u32 = 0x4;

/// `zone_status_t` values the model uses.
const ZONE_IS_READY: u32 = 2;
const ZONE_IS_RUNNING: u32 = 4;
const ZONE_IS_DOWN: u32 = 7;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A statistics counter bumped the way `mh_stat` is: a plain, racy
/// increment (load and store, no locked instruction), made under a
/// reader lock by every find.
fn bump(c: &AtomicUsize) {
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

// ---- kcondvar_t --------------------------------------------------------

#[cfg(test)]
thread_local! {
    /// `cv_signal` calls made by this thread (tests only).
    static SIGNALS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A condition variable with illumos' signalling cost: `cv_signal` and
/// `cv_broadcast` look at the waiter count and return at once when it is
/// zero. The count changes only with the associated mutex held, and every
/// signal here is sent with it held, so the check is exact.
pub(crate) struct KCondvar {
    waiters: AtomicU32,
    cv: Condvar,
}

impl KCondvar {
    const fn new() -> KCondvar {
        KCondvar { waiters: AtomicU32::new(0), cv: Condvar::new() }
    }

    /// `cv_wait`: `g` guards the mutex this condition variable goes with.
    fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.waiters.fetch_add(1, Relaxed);
        let g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
        self.waiters.fetch_sub(1, Relaxed);
        g
    }

    /// `cv_signal`, called with the associated mutex held.
    fn signal(&self) {
        #[cfg(test)]
        SIGNALS.with(|s| s.set(s.get() + 1));
        if self.waiters.load(Relaxed) > 0 {
            self.cv.notify_one();
        }
    }

    /// `cv_broadcast`, called with the associated mutex held.
    fn broadcast(&self) {
        if self.waiters.load(Relaxed) > 0 {
            self.cv.notify_all();
        }
    }
}

// ---- mod_hash ----------------------------------------------------------

/// `struct mod_hash_entry`: 24 bytes, one allocation per entry.
struct Entry<V> {
    key: usize,
    val: V,
    next: Option<Box<Entry<V>>>,
}

type Chain<V> = Option<Box<Entry<V>>>;

/// A hash algorithm: `(hash_alg_data, key)` to an unreduced index.
type HashAlg = unsafe fn(usize, usize) -> u32;
/// A key comparator with `strcmp`'s convention (0 when equal).
type KeyCmp = unsafe fn(usize, usize) -> i32;

/// `mh_stat`.
#[derive(Default)]
struct Stat {
    hit: AtomicUsize,
    miss: AtomicUsize,
    coll: AtomicUsize,
    nelems: AtomicUsize,
}

/// `mod_hash_t`: a fixed number of chains, never resized, behind its own
/// reader-writer lock (`mh_contents`); the hash and the comparator are
/// called through function pointers, as in illumos.
///
/// Keys are machine words, as `mod_hash_key_t` is: an id table stores the
/// id, a string table a pointer to a NUL-terminated string. Every method
/// that takes a key is `unsafe` for that reason: the key must be valid for
/// the table's kind (for a string table, a NUL-terminated string that
/// lives for the call, and for as long as the entry when inserted).
pub(crate) struct ModHash<V: Copy> {
    contents: RwLock<Box<[Chain<V>]>>,
    nchains: usize,
    hash_alg: HashAlg,
    hash_alg_data: usize,
    keycmp: KeyCmp,
    stat: Stat,
}

/// `mod_hash_iddata_gen`: the first odd prime above `nchains` (it starts
/// from `nchains + 1` or `+ 2`, so 67 chains give 71, not 67).
pub(crate) fn iddata_gen(nchains: usize) -> u32 {
    let mut kval = if nchains % 2 == 0 { nchains + 1 } else { nchains + 2 } as u32;
    loop {
        let mut prime = true;
        let mut i = 3;
        while i * i <= kval {
            if kval % i == 0 {
                prime = false;
            }
            i += 2;
        }
        if prime {
            return kval;
        }
        kval += 2;
    }
}

/// `mod_hash_byid`: the key times `kval`, in 32 bits.
fn hash_byid(data: usize, key: usize) -> u32 {
    (key as u32).wrapping_mul(data as u32)
}

/// `mod_hash_idkey_cmp`: the 32-bit difference.
fn idkey_cmp(k1: usize, k2: usize) -> i32 {
    (k1 as u32).wrapping_sub(k2 as u32) as i32
}

/// `mod_hash_bystr`: the ELF/PJW string hash ("Dragon Book"), over the
/// bytes as `char` is on amd64 (signed).
///
/// # Safety
///
/// `key` points to a NUL-terminated string.
unsafe fn hash_bystr(_data: usize, key: usize) -> u32 {
    let mut p = key as *const u8;
    let mut hash: u32 = 0;
    loop {
        // SAFETY: `p` is within the string: it starts at its first byte
        // and advances only past bytes that are not its NUL.
        let c = unsafe { *p };
        if c == 0 {
            return hash;
        }
        hash = (hash << 4).wrapping_add(c as i8 as i32 as u32);
        let g = hash & 0xf000_0000;
        if g != 0 {
            hash ^= g >> 24;
            hash ^= g;
        }
        // SAFETY: `c` is not the NUL, so the string goes on.
        p = unsafe { p.add(1) };
    }
}

/// `mod_hash_strkey_cmp`: `strcmp`.
///
/// # Safety
///
/// Both keys point to NUL-terminated strings.
unsafe fn strkey_cmp(k1: usize, k2: usize) -> i32 {
    let (mut a, mut b) = (k1 as *const u8, k2 as *const u8);
    loop {
        // SAFETY: both pointers are within their strings: they advance
        // together only past equal bytes that are not the NUL.
        let (x, y) = unsafe { (*a, *b) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        if x == 0 {
            return 0;
        }
        // SAFETY: as above; neither string has ended.
        unsafe {
            a = a.add(1);
            b = b.add(1);
        }
    }
}

/// The PJW hash of a string.
#[cfg(test)]
fn pjw(s: &CStr) -> u32 {
    // SAFETY: a `CStr` is NUL-terminated.
    unsafe { hash_bystr(0, s.as_ptr() as usize) }
}

impl<V: Copy> ModHash<V> {
    fn create(nchains: usize, hash_alg: HashAlg, hash_alg_data: usize, keycmp: KeyCmp) -> Self {
        ModHash {
            contents: RwLock::new((0..nchains).map(|_| None).collect()),
            nchains,
            hash_alg,
            hash_alg_data,
            keycmp,
            stat: Stat::default(),
        }
    }

    /// `mod_hash_create_idhash`.
    pub(crate) fn create_idhash(nchains: usize) -> Self {
        let kval = iddata_gen(nchains) as usize;
        Self::create(nchains, hash_byid, kval, idkey_cmp)
    }

    /// `mod_hash_create_extended` with `mod_hash_bystr` and
    /// `mod_hash_strkey_cmp`, as `dls_mgmt_init` makes the MAC-name table.
    pub(crate) fn create_strhash(nchains: usize) -> Self {
        Self::create(nchains, hash_bystr, 0, strkey_cmp)
    }

    /// `i_mod_hash`: the hash modulo `nchains - 1`, so the last chain is
    /// never used.
    ///
    /// # Safety
    ///
    /// `key` is valid for this table (see the type's documentation).
    unsafe fn index(&self, key: usize) -> usize {
        if self.nchains == 1 {
            return 0;
        }
        // SAFETY: the caller's contract.
        let h = unsafe { (self.hash_alg)(self.hash_alg_data, key) };
        h as usize % (self.nchains - 1)
    }

    /// `i_mod_hash_find_nosync`: walk the key's chain from its head.
    ///
    /// # Safety
    ///
    /// `key` is valid for this table.
    unsafe fn find_nosync(&self, chains: &[Chain<V>], key: usize) -> Option<V> {
        // SAFETY: the caller's contract.
        let mut e = chains[unsafe { self.index(key) }].as_deref();
        while let Some(entry) = e {
            // SAFETY: stored keys are valid for the table (they were when
            // inserted and stay so while stored), and so is `key`.
            if unsafe { (self.keycmp)(entry.key, key) } == 0 {
                bump(&self.stat.hit);
                return Some(entry.val);
            }
            e = entry.next.as_deref();
        }
        bump(&self.stat.miss);
        None
    }

    /// `mod_hash_find`: the table's lock as reader around the walk.
    ///
    /// # Safety
    ///
    /// `key` is valid for this table.
    pub(crate) unsafe fn find(&self, key: usize) -> Option<V> {
        let chains = read(&self.contents);
        // SAFETY: the caller's contract.
        unsafe { self.find_nosync(&chains, key) }
    }

    /// `mod_hash_insert`: the lock as writer, a walk of the whole chain
    /// for a duplicate, then a new entry at the chain's head.
    ///
    /// # Safety
    ///
    /// `key` is valid for this table, and stays valid while it is stored.
    pub(crate) unsafe fn insert(&self, key: usize, val: V) -> Result<(), i32> {
        let mut chains = write(&self.contents);
        // SAFETY: the caller's contract.
        if unsafe { self.find_nosync(&chains, key) }.is_some() {
            bump(&self.stat.coll);
            return Err(MH_ERR_DUPLICATE);
        }
        // SAFETY: the caller's contract.
        let i = unsafe { self.index(key) };
        let entry = Box::new(Entry { key, val, next: chains[i].take() });
        chains[i] = Some(entry);
        bump(&self.stat.nelems);
        Ok(())
    }

    /// `mod_hash_remove`: the lock as writer, a walk to the key, unlink,
    /// free the entry.
    ///
    /// # Safety
    ///
    /// `key` is valid for this table.
    pub(crate) unsafe fn remove(&self, key: usize) -> Option<V> {
        let mut chains = write(&self.contents);
        // SAFETY: the caller's contract.
        let mut cur = &mut chains[unsafe { self.index(key) }];
        loop {
            let e = cur.as_ref()?;
            // SAFETY: stored keys are valid for the table, and so is `key`.
            if unsafe { (self.keycmp)(e.key, key) } == 0 {
                break;
            }
            cur = &mut cur.as_mut()?.next;
        }
        let mut entry = cur.take()?;
        *cur = entry.next.take();
        let n = &self.stat.nelems;
        n.store(n.load(Relaxed) - 1, Relaxed);
        Some(entry.val)
    }

    /// Removes every entry, handing each value to `f` (`mod_hash_clear`
    /// with a value destructor). Iterative, so long chains do not recurse.
    fn clear(&self, mut f: impl FnMut(V)) {
        let mut chains = write(&self.contents);
        for chain in chains.iter_mut() {
            let mut e = chain.take();
            while let Some(mut entry) = e {
                e = entry.next.take();
                f(entry.val);
            }
        }
        self.stat.nelems.store(0, Relaxed);
    }

    /// Entries stored.
    pub(crate) fn len(&self) -> usize {
        self.stat.nelems.load(Relaxed)
    }

    /// Every value, chain by chain.
    fn values(&self) -> Vec<V> {
        let chains = read(&self.contents);
        let mut out = Vec::with_capacity(self.len());
        for chain in chains.iter() {
            let mut e = chain.as_deref();
            while let Some(entry) = e {
                out.push(entry.val);
                e = entry.next.as_deref();
            }
        }
        out
    }

    /// The length of every chain.
    #[cfg(test)]
    fn chain_lengths(&self) -> Vec<usize> {
        let chains = read(&self.contents);
        chains
            .iter()
            .map(|c| {
                let (mut n, mut e) = (0, c.as_deref());
                while let Some(entry) = e {
                    n += 1;
                    e = entry.next.as_deref();
                }
                n
            })
            .collect()
    }

    /// The keys of one chain, head first.
    #[cfg(test)]
    fn chain_keys(&self, i: usize) -> Vec<usize> {
        let chains = read(&self.contents);
        let mut out = Vec::new();
        let mut e = chains[i].as_deref();
        while let Some(entry) = e {
            out.push(entry.key);
            e = entry.next.as_deref();
        }
        out
    }
}

impl<V: Copy> Drop for ModHash<V> {
    fn drop(&mut self) {
        self.clear(|_| {});
    }
}

// ---- dls_devnet_t ------------------------------------------------------

/// What `dd_mutex` protects.
struct DdLocked {
    /// `dd_ref`: long holds, 1 for the record's existence.
    dd_ref: u32,
    /// `dd_tref`: temporary holds.
    tref: u32,
    /// `dd_flags`.
    flags: u32,
    /// `dd_prop_loaded`.
    #[allow(dead_code)] // written as illumos writes it; the model never loads properties
    prop_loaded: bool,
    /// `dd_prop_taskid`: always 0 (no property task in the model).
    prop_taskid: usize,
}

/// `dls_devnet_t`, 368 bytes as on amd64. `dd_mac` holds the MAC name the
/// name hash's key points into, so the record never moves while hashed.
pub(crate) struct Devnet {
    /// `dd_linkid`.
    linkid: u32,
    /// `dd_linkname`, the name dlmgmtd gave.
    #[allow(dead_code)] // copied in as illumos does; read only by kstats
    linkname: [u8; MAXLINKNAMELEN],
    /// `dd_mac`, NUL-terminated.
    mac: [u8; MAXNAMELEN],
    /// `dd_ksp`, `dd_zone_ksp`: no kstats in the model.
    _ksp: [usize; 2],
    /// `dd_mutex` and the fields it protects.
    m: Mutex<DdLocked>,
    /// `dd_cv`.
    cv: KCondvar,
    /// `dd_owner_zid`.
    #[allow(dead_code)] // set as illumos sets it; read by callers the model lacks
    owner_zid: i32,
    /// `dd_zid`: changed under the MAC perimeter, read without a lock.
    zid: AtomicI32,
    /// `dd_transient`.
    transient: AtomicBool,
    /// Brings the record to `sizeof (dls_devnet_t)`.
    _pad: [u8; 8],
}

impl Devnet {
    fn mac_key(&self) -> usize {
        self.mac.as_ptr() as usize
    }
}

/// A held devnet (`dls_dl_handle_t`), given back to the release that
/// matches the hold. The hold keeps the record allocated: `unset` waits
/// for temporary holds and refuses while long ones exist.
pub(crate) struct DevnetRef(NonNull<Devnet>);

impl DevnetRef {
    fn get(&self) -> &Devnet {
        // SAFETY: a `DevnetRef` exists only while its hold is counted in
        // the record, and a counted record is not freed (see the type).
        unsafe { self.0.as_ref() }
    }

    /// `dls_devnet_linkid`.
    #[cfg(test)]
    fn linkid(&self) -> u32 {
        self.get().linkid
    }

    /// `dls_devnet_getzid`.
    pub(crate) fn zid(&self) -> i32 {
        self.get().zid.load(Relaxed)
    }
}

// ---- zones -------------------------------------------------------------

/// `zone_dl_t`: 32 bytes, one allocation per link in a non-global zone.
struct ZoneDl {
    /// `zdl_id`.
    id: u32,
    /// `zdl_net`: never set in the model.
    _net: usize,
    /// `zdl_linkage`: the model's list is singly linked; `_prev` stands
    /// for `list_node_t`'s other pointer.
    next: Option<Box<ZoneDl>>,
    _prev: usize,
}

/// What `zone_lock` protects, of a zone.
struct ZoneLocked {
    /// `zone_ref`.
    zone_ref: u32,
    /// `zone_dl_list`, head first.
    dl_list: Option<Box<ZoneDl>>,
}

/// The parts of `zone_t` the datalink functions use.
pub(crate) struct Zone {
    id: i32,
    /// `zone_status`.
    status: AtomicU32,
    /// `zone_lock`.
    lock: Mutex<ZoneLocked>,
}

impl Zone {
    /// `zone_find_dl` then membership (`zone_dl_exists`).
    fn dl_exists(&self, linkid: u32) -> bool {
        let z = lock(&self.lock);
        let mut e = z.dl_list.as_deref();
        while let Some(dl) = e {
            if dl.id == linkid {
                return true;
            }
            e = dl.next.as_deref();
        }
        false
    }
}

/// The zone hash by id and the active list, under `zonehash_lock`.
struct ZoneTable {
    /// `zonehash_lock`, and `zone_active`, which owns the zones (the
    /// model never frees one).
    #[allow(clippy::vec_box)] // boxed so a zone never moves: the hash points at it
    hash_lock: Mutex<Vec<Box<Zone>>>,
    /// `zonehashbyid`.
    byid: ModHash<NonNull<Zone>>,
}

impl ZoneTable {
    /// `zone_find_by_id`: `zonehash_lock`, the hash, the status, then
    /// `zone_hold`. Give the zone back with [`ZoneTable::rele`].
    fn find_by_id(&self, zoneid: i32) -> Option<&Zone> {
        let g = lock(&self.hash_lock);
        // SAFETY: the zone hash is an id table.
        let p = unsafe { self.byid.find(zoneid as usize) }?;
        // SAFETY: zones are owned by `hash_lock`'s list, which only grows,
        // and live as long as `self`.
        let z = unsafe { p.as_ref() };
        let status = z.status.load(Relaxed);
        if !(ZONE_IS_READY..=ZONE_IS_DOWN).contains(&status) {
            return None;
        }
        lock(&z.lock).zone_ref += 1;
        drop(g);
        Some(z)
    }

    /// `zone_rele`.
    fn rele(&self, z: &Zone) {
        lock(&z.lock).zone_ref -= 1;
    }
}

// ---- dlmgmtd -----------------------------------------------------------

struct DaemonState {
    log: Vec<(u32, i32)>,
    zones: BTreeMap<u32, i32>,
}

/// A stand-in for dlmgmtd behind the door: it records each `SETZONEID`
/// and, as dlmgmtd's handler does, moves the link between the zones'
/// datalink lists (`zone_remove_datalink`, `zone_add_datalink`). Its own
/// bookkeeping costs what dlszone's test daemon's does (a mutex, a log
/// push, a map update).
pub(crate) struct Dlmgmtd {
    state: Mutex<DaemonState>,
}

impl Dlmgmtd {
    fn new() -> Dlmgmtd {
        Dlmgmtd { state: Mutex::new(DaemonState { log: Vec::new(), zones: BTreeMap::new() }) }
    }

    fn setzoneid(&self, k: &Illumos, linkid: u32, zoneid: i32) -> Result<(), Errno> {
        let mut s = lock(&self.state);
        let old = s.zones.get(&linkid).copied().unwrap_or(GLOBAL_ZONEID);
        if old != GLOBAL_ZONEID {
            k.zone_remove_datalink(old, linkid)?;
        }
        if zoneid != GLOBAL_ZONEID {
            k.zone_add_datalink(zoneid, linkid)?;
            s.zones.insert(linkid, zoneid);
        } else {
            s.zones.remove(&linkid);
        }
        s.log.push((linkid, zoneid));
        Ok(())
    }

    /// `SETZONEID` upcalls answered so far.
    pub(crate) fn log_len(&self) -> usize {
        lock(&self.state).log.len()
    }

    /// Forgets the log (between benchmark iterations).
    pub(crate) fn clear_log(&self) {
        lock(&self.state).log.clear();
    }
}

// ---- the devnet bookkeeping --------------------------------------------

/// Copies `src` into a NUL-terminated fixed-size field (`strlcpy`).
fn strlcpy<const N: usize>(dst: &mut [u8; N], src: &[u8]) {
    let n = src.len().min(N - 1);
    dst[..n].copy_from_slice(&src[..n]);
    dst[n] = 0;
}

/// illumos' devnet bookkeeping (`dls_mgmt.c`'s devnet half) with the zone
/// datalink lists it relies on (`zone.c`).
pub(crate) struct Illumos {
    /// `i_dls_mgmt_lock`, protecting the door handle (`true`: set).
    mgmt_lock: Mutex<bool>,
    /// The daemon behind `dls_mgmt_dh`.
    door: Dlmgmtd,
    /// `i_dls_devnet_lock`: serialises set/rename/unset; the flag is
    /// `i_dls_devnet_own != NULL` (an upcall is under way).
    devnet_lock: Mutex<bool>,
    /// `i_dls_devnet_cv`.
    devnet_cv: KCondvar,
    /// `i_dls_devnet_hash_lock`, over both tables.
    hash_lock: RwLock<()>,
    /// `i_dls_devnet_id_hash`: link id to record.
    id_hash: ModHash<NonNull<Devnet>>,
    /// `i_dls_devnet_hash`: MAC name (a pointer into `dd_mac`) to record.
    name_hash: ModHash<NonNull<Devnet>>,
    /// `devnet_need_rebuild`.
    need_rebuild: AtomicBool,
    zones: ZoneTable,
}

// SAFETY: the raw pointers are to heap records (`Devnet`, `Zone`) whose
// shared state is behind mutexes or atomics. A devnet is freed only by
// `unset`, after it was removed from both tables under the writer locks,
// its long holds were found to be only the existence hold, and its
// temporary holds drained; zones are never freed while `Illumos` lives.
unsafe impl Send for Illumos {}
// SAFETY: as for `Send`.
unsafe impl Sync for Illumos {}

impl Default for Illumos {
    fn default() -> Self {
        Self::new()
    }
}

impl Illumos {
    /// `dls_mgmt_init` and `zone_init`: empty tables, the global zone, and
    /// dlmgmtd's door set.
    pub(crate) fn new() -> Illumos {
        let k = Illumos {
            mgmt_lock: Mutex::new(true),
            door: Dlmgmtd::new(),
            devnet_lock: Mutex::new(false),
            devnet_cv: KCondvar::new(),
            hash_lock: RwLock::new(()),
            id_hash: ModHash::create_idhash(VLAN_HASHSZ),
            name_hash: ModHash::create_strhash(VLAN_HASHSZ),
            need_rebuild: AtomicBool::new(false),
            zones: ZoneTable {
                hash_lock: Mutex::new(Vec::new()),
                byid: ModHash::create_idhash(ZONE_HASH_SIZE),
            },
        };
        k.zone_create(GLOBAL_ZONEID);
        k
    }

    /// The dlmgmtd stand-in.
    pub(crate) fn door(&self) -> &Dlmgmtd {
        &self.door
    }

    /// A running zone (`zone_create` up to `zone_boot`, as far as the
    /// zone hash and its datalink list go).
    pub(crate) fn zone_create(&self, zoneid: i32) {
        let mut active = lock(&self.zones.hash_lock);
        let zone = Box::new(Zone {
            id: zoneid,
            status: AtomicU32::new(ZONE_IS_RUNNING),
            lock: Mutex::new(ZoneLocked { zone_ref: 1, dl_list: None }),
        });
        let p = NonNull::from(&*zone);
        // SAFETY: the zone hash is an id table.
        unsafe { self.zones.byid.insert(zoneid as usize, p) }.expect("zone id in use");
        active.push(zone);
    }

    // ---- i_dls_devnet_lock ---------------------------------------------

    /// `i_dls_devnet_lock_enter`.
    fn devnet_lock_enter(&self) -> MutexGuard<'_, bool> {
        let mut g = lock(&self.devnet_lock);
        while *g {
            g = self.devnet_cv.wait(g);
        }
        g
    }

    /// `i_dls_devnet_lock_exit`.
    fn devnet_lock_exit(&self, g: MutexGuard<'_, bool>) {
        self.devnet_cv.broadcast();
        drop(g);
    }

    /// `i_dls_devnet_lock_upcall_start`: keep the right, drop the mutex.
    fn upcall_start(&self, mut g: MutexGuard<'_, bool>) {
        *g = true;
        drop(g);
    }

    /// `i_dls_devnet_lock_upcall_end`.
    fn upcall_end(&self) -> MutexGuard<'_, bool> {
        let mut g = lock(&self.devnet_lock);
        *g = false;
        g
    }

    /// `i_dls_mgmt_upcall` of a `SETZONEID`: the door handle under
    /// `i_dls_mgmt_lock`, then the call.
    fn upcall_setzoneid(&self, linkid: u32, zoneid: i32) -> Result<(), Errno> {
        if !*lock(&self.mgmt_lock) {
            return Err(9); // EBADF
        }
        self.door.setzoneid(self, linkid, zoneid)
    }

    // ---- creation and destruction ------------------------------------

    /// `dls_devnet_create` (through `dls_devnet_set`) for a virtual link
    /// with a valid id, created by `zoneid`. `mac` is the MAC name; `name`
    /// stands for what the `GETNAME` upcall would return (the upcall's
    /// lock hand-off is kept, the door call is not).
    pub(crate) fn devnet_create(
        &self,
        mac: &CStr,
        linkid: u32,
        zoneid: i32,
        name: &[u8],
    ) -> Result<(), Errno> {
        let p = self.devnet_set(mac, linkid, zoneid, name)?;
        // SAFETY: just created; only this thread's unset could free it.
        let dd = unsafe { p.as_ref() };
        lock(&dd.m).flags &= !DD_INITIALIZING;
        Ok(())
    }

    /// `dls_devnet_set`.
    fn devnet_set(
        &self,
        mac: &CStr,
        linkid: u32,
        zoneid: i32,
        name: &[u8],
    ) -> Result<NonNull<Devnet>, Errno> {
        let g = self.devnet_lock_enter();
        {
            let _r = read(&self.hash_lock);
            // SAFETY: the id table's keys are plain ids.
            if unsafe { self.id_hash.find(linkid as usize) }.is_some() {
                drop(_r);
                self.devnet_lock_exit(g);
                return Err(EEXIST);
            }
        }
        // dls_mgmt_get_linkinfo would ask dlmgmtd for the name here.
        self.upcall_start(g);
        let g = self.upcall_end();

        let w = write(&self.hash_lock);
        let key = mac.as_ptr() as usize;
        // SAFETY: `key` is a NUL-terminated string living for the call.
        if unsafe { self.name_hash.find(key) }.is_some() {
            // A virtual link: never a softmac link waiting for its id.
            drop(w);
            self.devnet_lock_exit(g);
            return Err(EEXIST);
        }
        let mut dd = Box::new(Devnet {
            linkid,
            linkname: [0; MAXLINKNAMELEN],
            mac: [0; MAXNAMELEN],
            _ksp: [0; 2],
            m: Mutex::new(DdLocked {
                dd_ref: 1,
                tref: 0,
                flags: DD_INITIALIZING,
                prop_loaded: false,
                prop_taskid: 0,
            }),
            cv: KCondvar::new(),
            owner_zid: zoneid,
            zid: AtomicI32::new(GLOBAL_ZONEID),
            transient: AtomicBool::new(zoneid != GLOBAL_ZONEID),
            _pad: [0; 8],
        });
        strlcpy(&mut dd.mac, mac.to_bytes());
        strlcpy(&mut dd.linkname, name);
        let p = NonNull::from(Box::leak(dd));
        // SAFETY: the record is on the heap and stays put until `unset`
        // frees it, after removing it from both tables.
        let dd = unsafe { p.as_ref() };
        // SAFETY: the key points into the record's NUL-terminated `dd_mac`,
        // which lives as long as the entry (see above).
        unsafe { self.name_hash.insert(dd.mac_key(), p) }.expect("checked above");
        // SAFETY: the id table's keys are plain ids.
        unsafe { self.id_hash.insert(linkid as usize, p) }.expect("checked above");
        self.need_rebuild.store(true, Relaxed);
        drop(w);
        self.devnet_lock_exit(g);

        if zoneid != GLOBAL_ZONEID {
            // Made in its zone: transient, no upcall, no loan hold.
            self.i_setzid(dd, zoneid, false, true)?;
        }
        // The property-loading task would be dispatched here.
        drop(lock(&dd.m));
        Ok(p)
    }

    /// `dls_devnet_destroy` (through `dls_devnet_unset`, waiting for
    /// temporary holds). Returns the link id.
    pub(crate) fn devnet_destroy(&self, mac: &CStr) -> Result<u32, Errno> {
        self.devnet_unset(mac, true)
    }

    /// `dls_devnet_unset`. Where illumos forces `dd_ref` to 1 (a transient
    /// link of a halting zone, or an orphan) the model refuses with
    /// `EBUSY` instead: a long holder's handle must stay valid.
    fn devnet_unset(&self, mac: &CStr, wait: bool) -> Result<u32, Errno> {
        let g = self.devnet_lock_enter();
        let w = write(&self.hash_lock);
        // SAFETY: `mac` is a NUL-terminated string living for the call.
        let Some(p) = (unsafe { self.name_hash.find(mac.as_ptr() as usize) }) else {
            drop(w);
            self.devnet_lock_exit(g);
            return Err(ENOENT);
        };
        // SAFETY: found in the table under the writer lock.
        let dd = unsafe { p.as_ref() };
        let mut m = lock(&dd.m);
        if m.dd_ref != 1 || (!wait && (m.tref != 0 || m.prop_taskid != 0)) {
            drop(m);
            drop(w);
            self.devnet_lock_exit(g);
            return Err(EBUSY);
        }
        m.flags |= DD_CONDEMNED;
        m.dd_ref -= 1;
        let id = dd.linkid;
        // SAFETY: the record's own `dd_mac` is the key it was stored under.
        unsafe { self.name_hash.remove(dd.mac_key()) }.expect("hashed");
        if id != DATALINK_INVALID_LINKID {
            // SAFETY: the id table's keys are plain ids.
            unsafe { self.id_hash.remove(id as usize) }.expect("hashed");
            self.need_rebuild.store(true, Relaxed);
        }
        drop(w);
        self.devnet_lock_exit(g);

        if dd.zid.load(Relaxed) != GLOBAL_ZONEID {
            drop(m);
            // The zone's kstat would be destroyed here.
            m = lock(&dd.m);
            let _ = self.i_setzid(dd, GLOBAL_ZONEID, false, false);
        }
        if wait {
            while m.tref != 0 || m.prop_taskid != 0 {
                m = dd.cv.wait(m);
            }
        } else {
            assert!(m.tref == 0 && m.prop_taskid == 0);
        }
        m.prop_loaded = false;
        m.flags = 0;
        drop(m);
        // SAFETY: unreachable from both tables, no temporary hold left and
        // no long hold (`dd_ref` was the existence hold alone), so nothing
        // refers to the record any more (`kmem_cache_free`).
        drop(unsafe { Box::from_raw(p.as_ptr()) });
        Ok(id)
    }

    // ---- holds ---------------------------------------------------------

    /// `dls_devnet_hold_common`: the devnet hash lock as reader, the id
    /// table's lookup (its own lock as reader), then `dd_mutex`.
    fn hold_common(&self, linkid: u32, tmp: bool) -> Result<DevnetRef, Errno> {
        let r = read(&self.hash_lock);
        // SAFETY: the id table's keys are plain ids.
        let p = unsafe { self.id_hash.find(linkid as usize) }.ok_or(ENOENT)?;
        // SAFETY: found in the table with the hash lock held as reader;
        // `unset` removes it under the writer lock before freeing it.
        let dd = unsafe { p.as_ref() };
        let mut m = lock(&dd.m);
        if m.flags & (DD_CONDEMNED | DD_INITIALIZING) != 0 {
            return Err(ENOENT);
        }
        if tmp {
            m.tref += 1;
        } else {
            m.dd_ref += 1;
        }
        drop(m);
        drop(r);
        Ok(DevnetRef(p))
    }

    /// `dls_devnet_hold_tmp`.
    pub(crate) fn hold_tmp(&self, linkid: u32) -> Result<DevnetRef, Errno> {
        self.hold_common(linkid, true)
    }

    /// `dls_devnet_rele_tmp`: signals `dd_cv` only when the count reaches 0.
    pub(crate) fn rele_tmp(&self, h: DevnetRef) {
        let dd = h.get();
        let mut m = lock(&dd.m);
        assert!(m.tref != 0);
        m.tref -= 1;
        if m.tref == 0 {
            dd.cv.signal();
        }
    }

    /// `dls_devnet_hold`.
    pub(crate) fn hold(&self, linkid: u32) -> Result<DevnetRef, Errno> {
        self.hold_common(linkid, false)
    }

    /// `dls_devnet_hold_by_dev` from the MAC name on: the devnet hash lock
    /// as reader, the MAC-name table's lookup (PJW hash, chain walk,
    /// `strcmp`), `dd_mutex`, a long hold. (illumos first formats the name
    /// from the `dev_t`.)
    pub(crate) fn hold_by_macname(&self, mac: &CStr) -> Result<DevnetRef, Errno> {
        let r = read(&self.hash_lock);
        // SAFETY: `mac` is a NUL-terminated string living for the call.
        let p = unsafe { self.name_hash.find(mac.as_ptr() as usize) }.ok_or(ENOENT)?;
        // SAFETY: as in `hold_common`.
        let dd = unsafe { p.as_ref() };
        let mut m = lock(&dd.m);
        if m.flags & (DD_CONDEMNED | DD_INITIALIZING) != 0 {
            return Err(ENOENT);
        }
        m.dd_ref += 1;
        drop(m);
        drop(r);
        Ok(DevnetRef(p))
    }

    /// `dls_devnet_rele`.
    pub(crate) fn rele(&self, h: DevnetRef) {
        Self::rele_devnet(h.get());
    }

    fn rele_devnet(dd: &Devnet) {
        let mut m = lock(&dd.m);
        assert!(m.dd_ref > 1);
        m.dd_ref -= 1;
    }

    // ---- zones ---------------------------------------------------------

    /// `i_dls_devnet_setzid`: with `setprop`, the `SETZONEID` upcall first.
    fn i_setzid(
        &self,
        dd: &Devnet,
        new_zoneid: i32,
        setprop: bool,
        transient: bool,
    ) -> Result<(), Errno> {
        if dd.zid.load(Relaxed) == new_zoneid {
            return Ok(());
        }
        // The MAC perimeter would be entered here.
        if setprop {
            self.upcall_setzoneid(dd.linkid, new_zoneid)?;
        }
        // dls_link_setzid would move the dls_link_t here.
        dd.zid.store(new_zoneid, Relaxed);
        dd.transient.store(transient, Relaxed);
        self.need_rebuild.store(true, Relaxed);
        Ok(())
    }

    /// `dls_devnet_setzid`: lending from the global zone takes a long
    /// (loan) hold, returning to it drops one.
    pub(crate) fn setzid(&self, h: &DevnetRef, new_zid: i32) -> Result<(), Errno> {
        let dd = h.get();
        let old_zid = dd.zid.load(Relaxed);
        if old_zid == new_zid {
            return Ok(());
        }
        let loan = if old_zid == GLOBAL_ZONEID && new_zid != GLOBAL_ZONEID {
            Some(self.hold(dd.linkid)?)
        } else {
            None
        };
        if let Err(e) = self.i_setzid(dd, new_zid, true, false) {
            if let Some(l) = loan {
                self.rele(l);
            }
            return Err(e);
        }
        if old_zid != GLOBAL_ZONEID && new_zid == GLOBAL_ZONEID {
            Self::rele_devnet(dd);
        }
        // The zones' kstats would be re-created here.
        Ok(())
    }

    /// `dls_zone_remove`: a temporary hold by id; a link that is not
    /// transient goes back to the global zone.
    fn zone_remove(&self, linkid: u32) -> i32 {
        if let Ok(h) = self.hold_tmp(linkid) {
            if !h.get().transient.load(Relaxed) {
                let _ = self.setzid(&h, GLOBAL_ZONEID);
            }
            self.rele_tmp(h);
        }
        0
    }

    /// `dls_stack_shutdown`: the zone's links go back where they came from.
    pub(crate) fn stack_shutdown(&self, zoneid: i32) {
        let _ = self.zone_datalink_walk(zoneid, |id| self.zone_remove(id));
    }

    /// `zone_datalink_walk`: the ids copied out under `zone_lock` into an
    /// array of their own, then `cb` per id with no lock held.
    pub(crate) fn zone_datalink_walk(
        &self,
        zoneid: i32,
        mut cb: impl FnMut(u32) -> i32,
    ) -> Result<(), Errno> {
        let zone = self.zones.find_by_id(zoneid).ok_or(ENOENT)?;
        let ids = {
            let z = lock(&zone.lock);
            let mut count = 0;
            let mut e = z.dl_list.as_deref();
            while let Some(dl) = e {
                count += 1;
                e = dl.next.as_deref();
            }
            if count == 0 {
                drop(z);
                self.zones.rele(zone);
                return Ok(());
            }
            let mut ids = Vec::with_capacity(count);
            let mut e = z.dl_list.as_deref();
            while let Some(dl) = e {
                ids.push(dl.id);
                e = dl.next.as_deref();
            }
            ids
        };
        for &id in &ids {
            if cb(id) != 0 {
                break;
            }
        }
        self.zones.rele(zone);
        Ok(())
    }

    /// `zone_add_datalink` (a system call dlmgmtd makes): `EEXIST` or
    /// `EPERM` if any active zone already lists the id, which takes every
    /// zone's `zone_lock` and walks every list; otherwise a new entry at
    /// the head of the zone's list.
    pub(crate) fn zone_add_datalink(&self, zoneid: i32, linkid: u32) -> Result<(), Errno> {
        let thiszone = self.zones.find_by_id(zoneid).ok_or(ENXIO)?;
        let active = lock(&self.zones.hash_lock);
        if let Some(z) = active.iter().find(|z| z.dl_exists(linkid)) {
            let e = if z.id == thiszone.id { EEXIST } else { EPERM };
            drop(active);
            self.zones.rele(thiszone);
            return Err(e);
        }
        Self::zone_dl_insert(thiszone, linkid);
        drop(active);
        self.zones.rele(thiszone);
        Ok(())
    }

    /// [`zone_add_datalink`](Self::zone_add_datalink) without its search of
    /// every zone: the same entry, for building large populations quickly
    /// (their ids are known to be unique). Not a kernel function.
    pub(crate) fn zone_add_datalink_unchecked(&self, zoneid: i32, linkid: u32) {
        let zone = self.zones.find_by_id(zoneid).expect("zone");
        Self::zone_dl_insert(zone, linkid);
        self.zones.rele(zone);
    }

    fn zone_dl_insert(zone: &Zone, linkid: u32) {
        let mut dl = Box::new(ZoneDl { id: linkid, _net: 0, next: None, _prev: 0 });
        let mut z = lock(&zone.lock);
        dl.next = z.dl_list.take();
        z.dl_list = Some(dl);
    }

    /// `zone_remove_datalink` (a system call dlmgmtd makes).
    pub(crate) fn zone_remove_datalink(&self, zoneid: i32, linkid: u32) -> Result<(), Errno> {
        let zone = self.zones.find_by_id(zoneid).ok_or(EINVAL)?;
        let mut z = lock(&zone.lock);
        let mut cur = &mut z.dl_list;
        while cur.as_ref().is_some_and(|dl| dl.id != linkid) {
            cur = &mut cur.as_mut().expect("checked").next;
        }
        let found = match cur.take() {
            Some(mut dl) => {
                *cur = dl.next.take();
                true
            }
            None => false,
        };
        drop(z);
        self.zones.rele(zone);
        if found { Ok(()) } else { Err(ENXIO) }
    }

    /// `zone_list_datalink` (the system call zoneadmd makes): the ids.
    pub(crate) fn zone_list_datalink(&self, zoneid: i32) -> Result<Vec<u32>, Errno> {
        let zone = self.zones.find_by_id(zoneid).ok_or(ENXIO)?;
        let mut ids = Vec::new();
        let z = lock(&zone.lock);
        let mut e = z.dl_list.as_deref();
        while let Some(dl) = e {
            ids.push(dl.id);
            e = dl.next.as_deref();
        }
        drop(z);
        self.zones.rele(zone);
        Ok(ids)
    }

    /// `dls_devnet_rebuild`: whether `/dev/net` should re-read the links.
    pub(crate) fn devnet_rebuild(&self) -> bool {
        self.need_rebuild.swap(false, Relaxed)
    }

    /// Checks the model's own consistency: both tables hold the same
    /// records, none condemned or initializing or held, and every zone
    /// datalink entry names a link whose `dd_zid` is that zone.
    pub(crate) fn check(&self) -> Result<(), String> {
        let _r = read(&self.hash_lock);
        if self.id_hash.len() != self.name_hash.len() {
            return Err(format!("{} ids, {} names", self.id_hash.len(), self.name_hash.len()));
        }
        for p in self.name_hash.values() {
            // SAFETY: in the table, under the hash lock as reader.
            let dd = unsafe { p.as_ref() };
            // SAFETY: the id table's keys are plain ids.
            if unsafe { self.id_hash.find(dd.linkid as usize) } != Some(p) {
                return Err(format!("link {} not in the id table", dd.linkid));
            }
            let m = lock(&dd.m);
            if m.flags != 0 || m.tref != 0 || m.dd_ref == 0 {
                return Err(format!("link {}: flags {}, tref {}", dd.linkid, m.flags, m.tref));
            }
        }
        let active = lock(&self.zones.hash_lock);
        for zone in active.iter() {
            let z = lock(&zone.lock);
            let mut e = z.dl_list.as_deref();
            while let Some(dl) = e {
                // SAFETY: the id table's keys are plain ids.
                let Some(p) = (unsafe { self.id_hash.find(dl.id as usize) }) else {
                    return Err(format!("zone {} lists unknown link {}", zone.id, dl.id));
                };
                // SAFETY: in the table, under the hash lock as reader.
                let zid = unsafe { p.as_ref() }.zid.load(Relaxed);
                if zid != zone.id {
                    return Err(format!("zone {} lists link {} of zone {zid}", zone.id, dl.id));
                }
                e = dl.next.as_deref();
            }
        }
        Ok(())
    }

    /// The counts of a link: (`dd_ref`, `dd_tref`, `dd_zid`).
    #[cfg(test)]
    fn counts(&self, linkid: u32) -> Option<(u32, u32, i32)> {
        let _r = read(&self.hash_lock);
        // SAFETY: the id table's keys are plain ids.
        let p = unsafe { self.id_hash.find(linkid as usize) }?;
        // SAFETY: in the table, under the hash lock as reader.
        let dd = unsafe { p.as_ref() };
        let m = lock(&dd.m);
        Some((m.dd_ref, m.tref, dd.zid.load(Relaxed)))
    }
}

impl Drop for Illumos {
    fn drop(&mut self) {
        self.id_hash.clear(|_| {});
        self.name_hash.clear(|p| {
            // SAFETY: every record is in the name table exactly once, and
            // nothing else can reach it now that the model is going away.
            drop(unsafe { Box::from_raw(p.as_ptr()) });
        });
        // The zone lists go with the zones, which `hash_lock`'s list owns.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::ffi::CString;
    use std::mem::size_of;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn records_have_illumos_amd64_sizes() {
        assert_eq!(size_of::<Devnet>(), 368, "sizeof (dls_devnet_t)");
        assert_eq!(size_of::<Entry<NonNull<Devnet>>>(), 24, "sizeof (struct mod_hash_entry)");
        assert_eq!(size_of::<ZoneDl>(), 32, "sizeof (zone_dl_t)");
    }

    #[test]
    fn iddata_gen_takes_the_next_odd_prime_above_nchains() {
        // 67 is odd: start at 69 = 3 * 23, then 71.
        assert_eq!(iddata_gen(VLAN_HASHSZ), 71);
        // 256 is even: start at 257, a prime.
        assert_eq!(iddata_gen(256), 257);
        assert_eq!(iddata_gen(2), 3);
    }

    #[test]
    fn pjw_hash_of_known_strings() {
        assert_eq!(pjw(&c("")), 0);
        assert_eq!(pjw(&c("a")), 0x61);
        // 'a' = 0x61, then 0x610 + 'b' (0x62).
        assert_eq!(pjw(&c("ab")), 0x672);
        // v 0x76; n 0x760 + 0x6e = 0x7ce; i 0x7ce0 + 0x69 = 0x7d49;
        // c 0x7d490 + 0x63 = 0x7d4f3; 0 0x7d4f30 + 0x30 = 0x7d4f60.
        assert_eq!(pjw(&c("vnic0")), 0x7d_4f60);
        // "vnic12" is 0x7d4f642. '3': 0x7d4f6420 + 0x33 = 0x7d4f6453,
        // top nibble 0x7 folds: ^ 0x70 ^ 0x70000000 = 0x0d4f6423.
        // '4': 0xd4f64230 + 0x34 = 0xd4f64264, fold 0xd: 0x04f642b4.
        // '5': 0x4f642b40 + 0x35 = 0x4f642b75, fold 0x4: 0x0f642b35.
        assert_eq!(pjw(&c("vnic12345")), 0x0f64_2b35);
    }

    #[test]
    fn strcmp_orders_like_c() {
        let (a, b, ab) = (c("a"), c("b"), c("ab"));
        let cmp = |x: &CString, y: &CString| {
            // SAFETY: both are NUL-terminated.
            unsafe { strkey_cmp(x.as_ptr() as usize, y.as_ptr() as usize) }
        };
        assert_eq!(cmp(&a, &a), 0);
        assert!(cmp(&a, &b) < 0);
        assert!(cmp(&ab, &a) > 0);
        assert!(cmp(&a, &ab) < 0);
    }

    #[test]
    fn id_table_uses_66_of_its_67_chains() {
        let t: ModHash<usize> = ModHash::create_idhash(VLAN_HASHSZ);
        for id in 1..=10_000usize {
            // SAFETY: an id table.
            unsafe { t.insert(id, id) }.unwrap();
        }
        let lengths = t.chain_lengths();
        assert_eq!(lengths.len(), 67);
        assert_eq!(lengths[66], 0, "chain nchains - 1 is never used");
        assert_eq!(lengths.iter().filter(|&&n| n > 0).count(), 66);
        assert_eq!(lengths.iter().sum::<usize>(), 10_000);
        // id * 71 mod 66 walks every residue: chains differ by at most one.
        let used = &lengths[..66];
        assert!(used.iter().max().unwrap() - used.iter().min().unwrap() <= 1);
        for id in [1usize, 5_000, 10_000] {
            // SAFETY: an id table.
            assert_eq!(unsafe { t.find(id) }, Some(id));
        }
        // SAFETY: an id table.
        assert_eq!(unsafe { t.find(10_001) }, None);
    }

    #[test]
    fn name_table_uses_66_of_its_67_chains() {
        let names: Vec<CString> = (0..10_000).map(|i| c(&format!("vnic{i}"))).collect();
        let t: ModHash<usize> = ModHash::create_strhash(VLAN_HASHSZ);
        for (i, n) in names.iter().enumerate() {
            // SAFETY: NUL-terminated keys that outlive the table.
            unsafe { t.insert(n.as_ptr() as usize, i) }.unwrap();
        }
        let lengths = t.chain_lengths();
        assert_eq!(lengths[66], 0);
        assert_eq!(lengths.iter().filter(|&&n| n > 0).count(), 66);
        // A lookup compares strings, not pointers: a separate copy finds it.
        let probe = c("vnic4242");
        // SAFETY: NUL-terminated, lives for the call.
        assert_eq!(unsafe { t.find(probe.as_ptr() as usize) }, Some(4242));
        // The chain is the PJW hash modulo 66.
        let chain = pjw(&probe) as usize % 66;
        assert!(t.chain_keys(chain).contains(&(names[4242].as_ptr() as usize)));
    }

    #[test]
    fn insert_walks_for_duplicates_and_adds_at_the_head() {
        let t: ModHash<u32> = ModHash::create_idhash(VLAN_HASHSZ);
        // 1 and 67 share a chain: 67 * 71 = 1 * 71 + 66 * 71.
        // SAFETY: an id table, for every call below.
        unsafe {
            t.insert(1, 10).unwrap();
            t.insert(67, 20).unwrap();
            assert_eq!(t.insert(1, 30), Err(MH_ERR_DUPLICATE));
        }
        let chain = 71 % 66;
        assert_eq!(t.chain_keys(chain), vec![67, 1], "newest first");
        assert_eq!(t.stat.coll.load(Relaxed), 1);
        // SAFETY: an id table.
        unsafe {
            assert_eq!(t.remove(1), Some(10));
            assert_eq!(t.remove(1), None);
            assert_eq!(t.find(67), Some(20));
        }
        assert_eq!(t.len(), 1);
    }

    fn with_link(k: &Illumos, mac: &str, id: u32, zone: i32) -> CString {
        let mac = c(mac);
        k.devnet_create(&mac, id, zone, format!("net{id}").as_bytes()).unwrap();
        mac
    }

    #[test]
    fn holds_count_and_temporary_release_signals_only_at_zero() {
        let k = Illumos::new();
        let mac = with_link(&k, "vnic1", 1, GLOBAL_ZONEID);
        assert_eq!(k.counts(1), Some((1, 0, GLOBAL_ZONEID)));

        let long = k.hold(1).unwrap();
        assert_eq!(k.counts(1), Some((2, 0, GLOBAL_ZONEID)));
        assert_eq!(k.devnet_destroy(&mac), Err(EBUSY), "a long hold blocks destroy");
        k.rele(long);
        assert_eq!(k.counts(1), Some((1, 0, GLOBAL_ZONEID)));

        let by_name = k.hold_by_macname(&mac).unwrap();
        assert_eq!(by_name.linkid(), 1);
        assert_eq!(k.counts(1).unwrap().0, 2);
        k.rele(by_name);

        let before = SIGNALS.with(Cell::get);
        let (a, b) = (k.hold_tmp(1).unwrap(), k.hold_tmp(1).unwrap());
        assert_eq!(k.counts(1), Some((1, 2, GLOBAL_ZONEID)));
        k.rele_tmp(a);
        assert_eq!(SIGNALS.with(Cell::get), before, "no signal at 1");
        k.rele_tmp(b);
        assert_eq!(SIGNALS.with(Cell::get), before + 1, "one signal at 0");
        assert_eq!(k.counts(1), Some((1, 0, GLOBAL_ZONEID)));

        assert_eq!(k.devnet_destroy(&mac), Ok(1));
        assert!(k.hold_tmp(1).is_err());
        assert!(k.hold_by_macname(&mac).is_err());
        assert_eq!(k.devnet_destroy(&mac), Err(ENOENT));
        k.check().unwrap();
    }

    #[test]
    fn create_refuses_a_taken_id_or_mac_name() {
        let k = Illumos::new();
        with_link(&k, "vnic1", 1, GLOBAL_ZONEID);
        assert_eq!(k.devnet_create(&c("vnic2"), 1, 0, b"x"), Err(EEXIST));
        assert_eq!(k.devnet_create(&c("vnic1"), 2, 0, b"x"), Err(EEXIST));
        k.check().unwrap();
    }

    #[test]
    fn destroy_waits_for_temporary_holds() {
        let k = Arc::new(Illumos::new());
        let mac = with_link(&k, "vnic7", 7, GLOBAL_ZONEID);
        let (a, b) = (k.hold_tmp(7).unwrap(), k.hold_tmp(7).unwrap());
        let destroyer = {
            let (k, mac) = (k.clone(), mac.clone());
            thread::spawn(move || k.devnet_destroy(&mac))
        };
        // Condemned and unhashed at once: no new hold.
        while k.hold_tmp(7).is_ok_and(|h| {
            k.rele_tmp(h);
            true
        }) {
            thread::yield_now();
        }
        k.rele_tmp(a);
        thread::sleep(Duration::from_millis(20));
        assert!(!destroyer.is_finished(), "one temporary hold is left");
        k.rele_tmp(b);
        assert_eq!(destroyer.join().unwrap(), Ok(7));
        k.check().unwrap();
    }

    #[test]
    fn zone_datalink_lists_refuse_an_id_listed_anywhere() {
        let k = Illumos::new();
        k.zone_create(1);
        k.zone_create(2);
        k.zone_add_datalink(1, 5).unwrap();
        assert_eq!(k.zone_add_datalink(1, 5), Err(EEXIST));
        assert_eq!(k.zone_add_datalink(2, 5), Err(EPERM));
        assert_eq!(k.zone_add_datalink(3, 6), Err(ENXIO));
        assert_eq!(k.zone_list_datalink(1), Ok(vec![5]));
        k.zone_remove_datalink(1, 5).unwrap();
        assert_eq!(k.zone_remove_datalink(1, 5), Err(ENXIO));
        assert_eq!(k.zone_list_datalink(1), Ok(vec![]));
    }

    #[test]
    fn halt_returns_lent_links_and_leaves_the_zones_own() {
        let k = Illumos::new();
        k.zone_create(5);
        // Two links of the zone's own (transient, listed by dlmgmtd) and
        // two lent by the global zone.
        for id in [11, 12] {
            with_link(&k, &format!("own{id}"), id, 5);
            k.zone_add_datalink(5, id).unwrap();
            assert_eq!(k.counts(id), Some((1, 0, 5)), "no loan hold");
        }
        for id in [21, 22] {
            with_link(&k, &format!("gz{id}"), id, GLOBAL_ZONEID);
            let h = k.hold_tmp(id).unwrap();
            k.setzid(&h, 5).unwrap();
            k.rele_tmp(h);
            assert_eq!(k.counts(id), Some((2, 0, 5)), "the loan hold");
        }
        let mut listed = k.zone_list_datalink(5).unwrap();
        listed.sort_unstable();
        assert_eq!(listed, vec![11, 12, 21, 22]);
        k.check().unwrap();

        k.door().clear_log();
        k.stack_shutdown(5);
        assert_eq!(k.door().log_len(), 2, "one SETZONEID per lent link");
        for id in [21, 22] {
            assert_eq!(k.counts(id), Some((1, 0, GLOBAL_ZONEID)), "returned, loan dropped");
        }
        for id in [11, 12] {
            assert_eq!(k.counts(id), Some((1, 0, 5)), "left for zoneadmd to delete");
        }
        let mut listed = k.zone_list_datalink(5).unwrap();
        listed.sort_unstable();
        assert_eq!(listed, vec![11, 12]);
        k.check().unwrap();

        // zoneadmd then deletes them: the kernel's part.
        for id in [11, 12] {
            assert_eq!(k.devnet_destroy(&c(&format!("own{id}"))), Ok(id));
            k.zone_remove_datalink(5, id).unwrap();
        }
        assert_eq!(k.zone_list_datalink(5), Ok(vec![]));
        assert!(k.devnet_rebuild());
        k.check().unwrap();
    }
}
