//! `kstat_create(9F)`, `kstat_named_init(9F)`, `kstat_install(9F)` and
//! `kstat_delete(9F)`, for named kstats.
//!
//! `kstat_create` hands out a zeroed `kstat_t` (the amd64 layout pinned in
//! `ffi/layout.rs`: 184 bytes) from kmem with its identity filled in and,
//! for a named kstat without `KSTAT_FLAG_VIRTUAL`, a zeroed array of
//! `ks_ndata` `kstat_named_t` (48 bytes each) in `ks_data`; both are kmem
//! buffers, so a kstat never deleted shows up in the leak report too.
//! [`kstats`] describes every kstat ever created (names, types and
//! values of its entries, whether the module set `ks_update` and
//! `ks_lock`), so tests can check what `kstat -m <module>` would list;
//! one never deleted is reported at unload ([`undeleted`]).
//!
//! Refused with a panic, as the kernel's checks or a crash would: a type
//! other than named, `KSTAT_FLAG_VIRTUAL`, installing or deleting an
//! unknown kstat or one twice, a `kstat_named_init` outside any kstat's
//! data.
//!
//! Reads: [`read`] does what `kstat(8)` does to an installed kstat, on
//! the calling thread: with `ks_lock` (if set) held, it calls the
//! module's `ks_update(ksp, KSTAT_READ)`. `kstat_delete()` waits for a
//! read in progress to finish, as illumos' does, so a module that deletes
//! a kstat while holding a lock its update callback takes deadlocks here
//! as it would there.
//!
//! Kstats made for another zone (`kstat_create_zone()`, which misc/dls's
//! `dls_stat_create()` uses: [`create_named`]) record it.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::{Condvar, Mutex};

use super::console::fatal;
use super::{KernelSymbol, kmem};

/// `KSTAT_TYPE_NAMED`.
pub const KSTAT_TYPE_NAMED: u8 = 1;
/// `KSTAT_FLAG_VIRTUAL`.
pub const KSTAT_FLAG_VIRTUAL: u8 = 0x01;
/// `KSTAT_STRLEN`.
pub const KSTAT_STRLEN: usize = 31;

// kstat_t (LP64): offsets as pinned in ffi/layout.rs.
const KSTAT_SIZE: usize = 184;
const KS_MODULE: usize = 20;
const KS_INSTANCE: usize = 52;
const KS_NAME: usize = 56;
const KS_TYPE: usize = 87;
const KS_CLASS: usize = 88;
const KS_FLAGS: usize = 119;
const KS_DATA: usize = 120;
const KS_NDATA: usize = 128;
const KS_DATA_SIZE: usize = 136;
const KS_UPDATE: usize = 152;
const KS_PRIVATE: usize = 160;
const KS_LOCK: usize = 176;
const NAMED_SIZE: usize = 48;
const NAMED_TYPE: usize = 31;
const NAMED_VALUE: usize = 32;

/// One named entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// Its name.
    pub name: String,
    /// `KSTAT_DATA_*`.
    pub data_type: u8,
    /// The value's 8 bytes as a `uint64_t`.
    pub value: u64,
}

/// A kstat as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// `module:instance:name`, class.
    pub module: String,
    /// Instance.
    pub instance: i32,
    /// Name.
    pub name: String,
    /// Class.
    pub class: String,
    /// The zone it was made for (`GLOBAL_ZONEID` unless
    /// `kstat_create_zone()` named another).
    pub zone: i32,
    /// Installed and not deleted.
    pub installed: bool,
    /// Deleted.
    pub deleted: bool,
    /// The module set `ks_update` and `ks_lock` before installing.
    pub has_update: bool,
    /// See `has_update`.
    pub has_lock: bool,
    /// Its entries, as at install (or now, while it lives).
    pub entries: Vec<Named>,
}

struct Kstat {
    addr: usize,
    data: usize,
    ndata: usize,
    info: Info,
    /// A read is calling its update now.
    busy: bool,
}

static KSTATS: Mutex<Vec<Kstat>> = Mutex::new(Vec::new());
/// Signalled when a read ends.
static READ_DONE: Condvar = Condvar::new();

/// Forgets every kstat (a fresh boot); their memory is kmem's.
pub fn reset() {
    KSTATS.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

fn read_str(p: usize, max: usize) -> String {
    // SAFETY: `p` points into a kstat_t or kstat_named_t this emulation
    // allocated, with at least `max` bytes.
    unsafe { super::c_str(p as *const c_char, max) }.unwrap_or_default()
}

fn entries(data: usize, ndata: usize) -> Vec<Named> {
    (0..ndata)
        .map(|i| {
            let e = data + i * NAMED_SIZE;
            // SAFETY: `data` holds `ndata` entries of NAMED_SIZE bytes.
            let (data_type, value) =
                unsafe { (*((e + NAMED_TYPE) as *const u8), *((e + NAMED_VALUE) as *const u64)) };
            Named { name: read_str(e, KSTAT_STRLEN), data_type, value }
        })
        .collect()
}

/// Every kstat created since boot, its entries read now if it lives.
pub fn kstats() -> Vec<Info> {
    let k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
    k.iter()
        .map(|s| {
            let mut i = s.info.clone();
            if !i.deleted {
                i.entries = entries(s.data, s.ndata);
            }
            i
        })
        .collect()
}

/// `module:instance:name` of every kstat created and never deleted.
pub fn undeleted() -> Vec<String> {
    let k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
    k.iter()
        .filter(|s| !s.info.deleted)
        .map(|s| format!("{}:{}:{}", s.info.module, s.info.instance, s.info.name))
        .collect()
}

extern "C" fn kstat_create(
    module: *const c_char,
    instance: c_int,
    name: *const c_char,
    class: *const c_char,
    ks_type: u8,
    ndata: c_uint,
    flags: u8,
) -> *mut c_void {
    let s = |p: *const c_char| read_str(p as usize, KSTAT_STRLEN);
    let (module_s, name_s, class_s) = (s(module), s(name), s(class));
    create(module_s, instance, name_s, class_s, ks_type, ndata, flags, 0) as *mut c_void
}

/// `kstat_create_zone()` of a named kstat, then `kstat_named_init()` of
/// each of `names` (name, `KSTAT_DATA_*`), as a kernel module in C would
/// do before `kstat_install()`: the `kstat_t *`.
pub fn create_named(
    module: &str,
    instance: i32,
    name: &str,
    class: &str,
    names: &[(&str, u8)],
    zone: i32,
) -> usize {
    let n = names.len() as c_uint;
    let ksp = create(module.into(), instance, name.into(), class.into(), 1, n, 0, zone);
    for (i, (nm, ty)) in names.iter().enumerate() {
        let c = std::ffi::CString::new(*nm).unwrap_or_default();
        // SAFETY: the kstat just made has `n` named entries.
        let data = unsafe { *((ksp + KS_DATA) as *const usize) };
        kstat_named_init((data + i * NAMED_SIZE) as *mut c_void, c.as_ptr(), *ty);
    }
    ksp
}

/// Sets `ks_update` and `ks_private` of kstat `ksp`, before its install.
pub fn set_update(ksp: usize, update: usize, private: usize) {
    find(ksp as *mut c_void, "kstat update set-up", |s| {
        // SAFETY: the live kstat_t this emulation allocated.
        unsafe {
            *((s.addr + KS_UPDATE) as *mut usize) = update;
            *((s.addr + KS_PRIVATE) as *mut usize) = private;
        }
    });
}

/// Installs kstat `ksp` (`kstat_install()`).
pub fn install(ksp: usize) {
    kstat_install(ksp as *mut c_void);
}

/// Whether `ksp` is a kstat that exists (created, not deleted).
pub fn is_live(ksp: usize) -> bool {
    KSTATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|s| s.addr == ksp && !s.info.deleted)
}

#[allow(clippy::too_many_arguments)]
fn create(
    module_s: String,
    instance: c_int,
    name_s: String,
    class_s: String,
    ks_type: u8,
    ndata: c_uint,
    flags: u8,
    zone: i32,
) -> usize {
    if ks_type != KSTAT_TYPE_NAMED || flags & KSTAT_FLAG_VIRTUAL != 0 {
        fatal(&format!(
            "kstat_create({module_s}:{instance}:{name_s}): type {ks_type} flags {flags:#x}: \
             kload emulates non-virtual named kstats only"
        ));
    }
    let ndata = ndata as usize;
    let ksp = kmem::alloc(KSTAT_SIZE, kmem::KM_SLEEP, true) as usize;
    let data =
        if ndata > 0 { kmem::alloc(ndata * NAMED_SIZE, kmem::KM_SLEEP, true) as usize } else { 0 };
    let put = |off: usize, v: &str| {
        let b = v.as_bytes();
        let n = b.len().min(KSTAT_STRLEN - 1);
        // SAFETY: a KSTAT_STRLEN field inside the new kstat_t.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (ksp + off) as *mut u8, n) };
    };
    put(KS_MODULE, &module_s);
    put(KS_NAME, &name_s);
    put(KS_CLASS, &class_s);
    // SAFETY: fields of the new, zeroed kstat_t (KSTAT_SIZE bytes).
    unsafe {
        *((ksp + KS_INSTANCE) as *mut i32) = instance;
        *((ksp + KS_TYPE) as *mut u8) = ks_type;
        *((ksp + KS_FLAGS) as *mut u8) = flags;
        *((ksp + KS_DATA) as *mut usize) = data;
        *((ksp + KS_NDATA) as *mut u32) = ndata as u32;
        *((ksp + KS_DATA_SIZE) as *mut usize) = ndata * NAMED_SIZE;
    }
    let info = Info {
        module: module_s,
        instance,
        name: name_s,
        class: class_s,
        zone,
        installed: false,
        deleted: false,
        has_update: false,
        has_lock: false,
        entries: Vec::new(),
    };
    let k = Kstat { addr: ksp, data, ndata, info, busy: false };
    KSTATS.lock().unwrap_or_else(|e| e.into_inner()).push(k);
    ksp
}

extern "C" fn kstat_named_init(knp: *mut c_void, name: *const c_char, data_type: u8) {
    let at = knp as usize;
    let inside = KSTATS.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|s| {
        !s.info.deleted
            && at >= s.data
            && at < s.data + s.ndata * NAMED_SIZE
            && (at - s.data) % NAMED_SIZE == 0
    });
    if !inside {
        fatal(&format!("kstat_named_init({knp:p}): not an entry of any kstat's data"));
    }
    let n = read_str(name as usize, KSTAT_STRLEN);
    // SAFETY: `knp` is an entry of a live kstat's named array (checked).
    unsafe {
        std::ptr::write_bytes(knp.cast::<u8>(), 0, NAMED_SIZE);
        let b = n.as_bytes();
        std::ptr::copy_nonoverlapping(b.as_ptr(), knp.cast::<u8>(), b.len().min(KSTAT_STRLEN - 1));
        *((at + NAMED_TYPE) as *mut u8) = data_type;
    }
}

fn find(ksp: *mut c_void, what: &str, f: impl FnOnce(&mut Kstat)) {
    let mut k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
    match k.iter_mut().find(|s| s.addr == ksp as usize && !s.info.deleted) {
        Some(s) => f(s),
        None => {
            drop(k);
            fatal(&format!("{what}({ksp:p}): not a kstat kstat_create returned, or deleted"))
        }
    }
}

extern "C" fn kstat_install(ksp: *mut c_void) {
    find(ksp, "kstat_install", |s| {
        if s.info.installed {
            fatal(&format!("kstat_install({ksp:p}): installed twice"));
        }
        // SAFETY: the live kstat_t this emulation allocated.
        let (update, lock) = unsafe {
            (*((s.addr + KS_UPDATE) as *const usize), *((s.addr + KS_LOCK) as *const usize))
        };
        s.info.installed = true;
        s.info.has_update = update != 0;
        s.info.has_lock = lock != 0;
        s.info.entries = entries(s.data, s.ndata);
    });
}

extern "C" fn kstat_delete(ksp: *mut c_void) {
    if ksp.is_null() {
        return;
    }
    // Wait for a read in progress (kstat_delete() waits for the kstat to
    // be unheld).
    let mut k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
    while k.iter().any(|s| s.addr == ksp as usize && !s.info.deleted && s.busy) {
        k = READ_DONE.wait(k).unwrap_or_else(|e| e.into_inner());
    }
    drop(k);
    let mut freed = (0, 0, 0);
    find(ksp, "kstat_delete", |s| {
        s.info.entries = entries(s.data, s.ndata);
        s.info.installed = false;
        s.info.deleted = true;
        freed = (s.addr, s.data, s.ndata);
    });
    if freed.1 != 0 {
        kmem::free(freed.1 as *mut u8, freed.2 * NAMED_SIZE);
    }
    kmem::free(freed.0 as *mut u8, KSTAT_SIZE);
}

/// `KSTAT_READ`.
pub const KSTAT_READ: c_int = 0;

/// What one read of a kstat gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// `module:instance:name`.
    pub kstat: String,
    /// What `ks_update` returned (0 when the kstat has none).
    pub rc: c_int,
}

/// Reads every installed kstat `pick` accepts as `kstat(8)` would (see
/// the module docs), on the calling thread; what each update returned.
/// Never call it with an emulation lock held.
pub fn read(pick: impl Fn(&Info) -> bool) -> Vec<Read> {
    let targets: Vec<(usize, String)> = {
        let mut k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = Vec::new();
        for s in k.iter_mut().filter(|s| s.info.installed && !s.info.deleted) {
            if pick(&s.info) && !s.busy {
                s.busy = true;
                let i = &s.info;
                v.push((s.addr, format!("{}:{}:{}", i.module, i.instance, i.name)));
            }
        }
        v
    };
    let mut out = Vec::new();
    for (ksp, name) in targets {
        // SAFETY: a live kstat_t this emulation allocated; it stays
        // allocated while busy (kstat_delete waits).
        let (update, lock) =
            unsafe { (*((ksp + KS_UPDATE) as *const usize), *((ksp + KS_LOCK) as *const usize)) };
        let mut rc = 0;
        if update != 0 {
            if lock != 0 {
                super::sync::enter_for_kernel(lock);
            }
            let label = format!("ks_update {}", super::func_name(update));
            // SAFETY: the module's ks_update: int (*)(kstat_t *, int).
            rc = unsafe { super::call_module(&label, update, &[ksp as u64, KSTAT_READ as u64]) }
                as u32 as c_int;
            if lock != 0 {
                super::sync::exit_for_kernel(lock);
            }
        }
        let mut k = KSTATS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = k.iter_mut().find(|s| s.addr == ksp && !s.info.deleted) {
            s.busy = false;
        }
        drop(k);
        READ_DONE.notify_all();
        out.push(Read { kstat: name, rc });
    }
    out
}

/// The kstat calls.
pub fn symbols() -> Vec<KernelSymbol> {
    vec![
        KernelSymbol::core_fn("kstat_create", kstat_create as *const () as usize),
        KernelSymbol::core_fn("kstat_named_init", kstat_named_init as *const () as usize),
        KernelSymbol::core_fn("kstat_install", kstat_install as *const () as usize),
        KernelSymbol::core_fn("kstat_delete", kstat_delete as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_kstats_are_laid_out_and_described() {
        let _g = crate::machine::test_lock();
        reset();
        kmem::reset();
        let ksp = kstat_create(c"m".as_ptr(), 0, c"n".as_ptr(), c"misc".as_ptr(), 1, 2, 0);
        // SAFETY: the kstat_t just made, with a 2-entry named array.
        let data = unsafe { *((ksp as usize + KS_DATA) as *const usize) };
        kstat_named_init(data as *mut c_void, c"a".as_ptr(), 4);
        kstat_named_init((data + NAMED_SIZE) as *mut c_void, c"b".as_ptr(), 4);
        // SAFETY: the second entry's value.
        unsafe { *((data + NAMED_SIZE + NAMED_VALUE) as *mut u64) = 7 };
        kstat_install(ksp);
        let k = &kstats()[0];
        assert_eq!((k.module.as_str(), k.name.as_str(), k.class.as_str()), ("m", "n", "misc"));
        assert!(k.installed && !k.has_update && !k.has_lock);
        assert_eq!(k.entries[1], Named { name: "b".into(), data_type: 4, value: 7 });
        assert_eq!(undeleted(), ["m:0:n"]);
        kstat_delete(ksp);
        assert!(undeleted().is_empty());
        assert!(kmem::leaks().is_empty());
        reset();
        kmem::reset();
    }
}
