//! `kmem_alloc(9F)`, `kmem_zalloc`, `kmem_free`, and object caches
//! (`kmem_cache_create(9F)`, `kmem_cache_alloc`, `kmem_cache_free`,
//! `kmem_cache_destroy`), with the checks of illumos' kmem debugging
//! (`kmem_flags` audit, deadbeef, redzone) always on, and a fault
//! injector for `KM_NOSLEEP`.
//!
//! A cache's buffers are kmem buffers of the cache's size (so every check
//! below applies to them too), tracked per cache: freeing one to another
//! cache, or one the cache never gave out, panics; destroying a cache
//! with buffers outstanding warns on the console as illumos does
//! ("kmem_cache_destroy: 'name' (addr) not empty") and leaves them to the
//! leak report; a cache never destroyed is reported at unload
//! ([`undestroyed_caches`]). Constructors, destructors, reclaim callbacks
//! and alignments above 8 are not emulated (refused with a panic).
//!
//! | check | on failure |
//! |---|---|
//! | `kmem_free` with a size other than the allocation's | panic |
//! | `kmem_free` of a buffer kmem never gave out, or a second time | panic |
//! | a write past the end (or just before the start) of a buffer, found at its free | panic |
//! | a write to a freed buffer, found when it leaves quarantine or at unload | panic |
//! | freeing memory that holds a held mutex or rwlock | panic |
//! | a buffer still allocated when the module is gone | leak report, with the allocating stack |
//!
//! Buffers are 8-byte aligned and never 16-byte aligned, the least kmem
//! promises (`KMEM_ALIGN`), so code that assumes more fails here too. New
//! buffers are filled with `0xbaddcafe` (kmem's uninitialised pattern),
//! freed ones with `0xdeadbeef` and held in a quarantine of
//! [`QUARANTINE`] buffers before their memory is reused.
//!
//! # Fault injection
//!
//! `KM_SLEEP` allocations cannot fail, in illumos or here. `KM_NOSLEEP`
//! ones may; [`fail_nosleep`] makes the Nth `KM_NOSLEEP` allocation from
//! now return NULL (the ktest registration calls allocate that way:
//! `ktest_create_module`, `ktest_add_suite`, `ktest_add_test`).

use std::alloc::{self, Layout};
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::sync::Mutex;

use super::KernelSymbol;
use super::console::fatal;
use crate::{kthread, symbols};

/// `KM_SLEEP`.
pub const KM_SLEEP: i32 = 0;
/// `KM_NOSLEEP`.
pub const KM_NOSLEEP: i32 = 1;

/// Freed buffers kept (deadbeef-filled) before their memory is reused.
pub const QUARANTINE: usize = 1024;

const UNINIT: u32 = 0xbadd_cafe;
const FREED: u32 = 0xdead_beef;
const REDZONE: u8 = 0xfe;
/// Redzone bytes before (keeping buffers 8 mod 16) and after a buffer.
const HEAD: usize = 8;
const TAIL: usize = 16;

struct Block {
    size: usize,
    seq: u64,
    stack: Vec<usize>,
}

struct Freed {
    addr: usize,
    size: usize,
    stack: Vec<usize>,
}

#[derive(Default)]
struct Kmem {
    live: HashMap<usize, Block>,
    quarantine: VecDeque<Freed>,
    seq: u64,
    allocs: u64,
    frees: u64,
    bytes: usize,
    peak: usize,
    nosleep_calls: u64,
    /// Fail the `KM_NOSLEEP` allocation with this call number.
    fail_at: Option<u64>,
    nosleep_failed: u64,
}

static KMEM: Mutex<Option<Kmem>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Kmem) -> R) -> R {
    let mut g = KMEM.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Kmem::default))
}

fn layout(size: usize) -> Layout {
    // HEAD + size + TAIL with 16-byte alignment: the buffer starts 8
    // bytes into a 16-aligned block.
    Layout::from_size_align(HEAD + size + TAIL, 16).unwrap_or_else(|_| fatal("kmem: size overflow"))
}

/// Frees every buffer (live and quarantined) and clears the counters.
pub fn reset() {
    let mut g = KMEM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = g.take() {
        for (addr, b) in k.live {
            // SAFETY: every live buffer was allocated with this layout.
            unsafe { alloc::dealloc((addr - HEAD) as *mut u8, layout(b.size)) };
        }
        for f in k.quarantine {
            // SAFETY: as above, for quarantined ones.
            unsafe { alloc::dealloc((f.addr - HEAD) as *mut u8, layout(f.size)) };
        }
    }
}

/// Makes the `n`th (1-based) `KM_NOSLEEP` allocation from now fail;
/// `None` turns the injector off.
pub fn fail_nosleep(n: Option<u64>) {
    with(|k| k.fail_at = n.map(|n| k.nosleep_calls + n));
}

/// Allocation statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Buffers handed out.
    pub allocs: u64,
    /// Buffers freed.
    pub frees: u64,
    /// Bytes live now.
    pub bytes: usize,
    /// Most bytes live at once.
    pub peak: usize,
    /// `KM_NOSLEEP` calls.
    pub nosleep_calls: u64,
    /// `KM_NOSLEEP` calls the injector failed.
    pub nosleep_failed: u64,
}

/// The statistics since boot.
pub fn stats() -> Stats {
    with(|k| Stats {
        allocs: k.allocs,
        frees: k.frees,
        bytes: k.bytes,
        peak: k.peak,
        nosleep_calls: k.nosleep_calls,
        nosleep_failed: k.nosleep_failed,
    })
}

/// A buffer still allocated.
#[derive(Clone, Debug)]
pub struct Leak {
    /// Its address.
    pub addr: usize,
    /// Its size.
    pub size: usize,
    /// The module's stack when it was allocated, described.
    pub stack: String,
}

/// A sequence number: every allocation made after this call has a larger
/// one (for [`leaks_since`]).
pub fn mark() -> u64 {
    with(|k| k.seq)
}

/// Buffers allocated after `mark` and still live, oldest first.
pub fn leaks_since(mark: u64) -> Vec<Leak> {
    let mut v: Vec<(u64, Leak)> = with(|k| {
        k.live
            .iter()
            .filter(|(_, b)| b.seq > mark)
            .map(|(&addr, b)| {
                let l = Leak { addr, size: b.size, stack: symbols::describe_stack(&b.stack) };
                (b.seq, l)
            })
            .collect()
    });
    v.sort_by_key(|(s, _)| *s);
    v.into_iter().map(|(_, l)| l).collect()
}

/// Every buffer still allocated.
pub fn leaks() -> Vec<Leak> {
    leaks_since(0)
}

/// Checks every quarantined buffer for writes after its free; returns
/// what it found (empty when all are intact).
pub fn check_quarantine() -> Vec<String> {
    with(|k| k.quarantine.iter().filter_map(modified_after_free).collect())
}

fn modified_after_free(f: &Freed) -> Option<String> {
    // SAFETY: quarantined buffers stay allocated until they leave the
    // quarantine; `size` bytes at `addr` are ours.
    let bytes = unsafe { std::slice::from_raw_parts(f.addr as *const u8, f.size) };
    let pat = FREED.to_le_bytes();
    let off = bytes.iter().enumerate().position(|(i, &b)| b != pat[i % 4])?;
    Some(format!(
        "kmem: buffer {:#x} (size {}) modified after free at offset {off:#x}; freed at\n{}",
        f.addr,
        f.size,
        symbols::describe_stack(&f.stack)
    ))
}

/// Allocates as `kmem_alloc(size, flags)`: NULL for size 0 or an
/// injected `KM_NOSLEEP` failure.
pub fn alloc(size: usize, flags: i32, zero: bool) -> *mut u8 {
    if size == 0 {
        return std::ptr::null_mut();
    }
    let stack = kthread::module_backtrace();
    let failed = with(|k| {
        if flags & KM_NOSLEEP != 0 {
            k.nosleep_calls += 1;
            if k.fail_at == Some(k.nosleep_calls) {
                k.nosleep_failed += 1;
                return true;
            }
        }
        false
    });
    if failed {
        return std::ptr::null_mut();
    }
    // SAFETY: a non-zero-sized layout.
    let raw = unsafe { alloc::alloc(layout(size)) };
    if raw.is_null() {
        fatal(&format!("kmem_alloc({size}): the host is out of memory"));
    }
    // SAFETY: the block has HEAD + size + TAIL bytes.
    let buf = unsafe { raw.add(HEAD) };
    // SAFETY: as above: redzones and the buffer are inside the block.
    unsafe {
        std::ptr::write_bytes(raw, REDZONE, HEAD);
        std::ptr::write_bytes(buf.add(size), REDZONE, TAIL);
        let b = std::slice::from_raw_parts_mut(buf, size);
        if zero {
            b.fill(0);
        } else {
            let pat = UNINIT.to_le_bytes();
            b.iter_mut().enumerate().for_each(|(i, x)| *x = pat[i % 4]);
        }
    }
    with(|k| {
        k.seq += 1;
        k.allocs += 1;
        k.bytes += size;
        k.peak = k.peak.max(k.bytes);
        k.live.insert(buf as usize, Block { size, seq: k.seq, stack });
    });
    buf
}

/// Frees as `kmem_free(buf, size)`, with the checks in the module docs.
pub fn free(buf: *mut u8, size: usize) {
    if let Err(msg) = try_free(buf, size) {
        fatal(&msg);
    }
}

/// [`free`], returning what a checking kernel would panic with.
pub fn try_free(buf: *mut u8, size: usize) -> Result<(), String> {
    let addr = buf as usize;
    if buf.is_null() && size == 0 {
        return Ok(());
    }
    let stack = kthread::module_backtrace();
    let evicted = with(|k| -> Result<Option<Freed>, String> {
        let Some(b) = k.live.get(&addr) else {
            if let Some(f) = k.quarantine.iter().find(|f| f.addr == addr) {
                return Err(format!(
                    "kmem_free({addr:#x}, {size}): buffer freed twice; first freed at\n{}",
                    symbols::describe_stack(&f.stack)
                ));
            }
            return Err(format!("kmem_free({addr:#x}, {size}): not a buffer kmem_alloc gave out"));
        };
        if b.size != size {
            return Err(format!(
                "kmem_free({addr:#x}, {size}): wrong size, the buffer was allocated with size {}; \
                 allocated at\n{}",
                b.size,
                symbols::describe_stack(&b.stack)
            ));
        }
        // SAFETY: the live buffer's block holds HEAD + size + TAIL bytes.
        let (head, tail) = unsafe {
            (
                std::slice::from_raw_parts((addr - HEAD) as *const u8, HEAD),
                std::slice::from_raw_parts((addr + size) as *const u8, TAIL),
            )
        };
        if let Some(i) = tail.iter().position(|&x| x != REDZONE) {
            return Err(format!(
                "kmem_free({addr:#x}, {size}): redzone violated: byte {i} past the end was \
                 written; allocated at\n{}",
                symbols::describe_stack(&b.stack)
            ));
        }
        if let Some(i) = head.iter().rposition(|&x| x != REDZONE) {
            return Err(format!(
                "kmem_free({addr:#x}, {size}): redzone violated: byte {} before the start was \
                 written; allocated at\n{}",
                HEAD - i,
                symbols::describe_stack(&b.stack)
            ));
        }
        let held = super::sync::forget_range(addr, addr + size);
        if let Some(h) = held.first() {
            return Err(format!(
                "kmem_free({addr:#x}, {size}): the buffer holds {} at {:#x}, still held",
                h.kind, h.addr
            ));
        }
        k.live.remove(&addr);
        k.frees += 1;
        k.bytes -= size;
        // SAFETY: `addr` is a live buffer of `size` bytes (checked above
        // against kmem's own records), being freed.
        let bytes = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, size) };
        let pat = FREED.to_le_bytes();
        bytes.iter_mut().enumerate().for_each(|(i, x)| *x = pat[i % 4]);
        k.quarantine.push_back(Freed { addr, size, stack });
        Ok(if k.quarantine.len() > QUARANTINE { k.quarantine.pop_front() } else { None })
    })?;
    if let Some(f) = evicted {
        let bad = modified_after_free(&f);
        // SAFETY: the buffer left the quarantine; its block was allocated
        // with this layout and nothing refers to it any more.
        unsafe { alloc::dealloc((f.addr - HEAD) as *mut u8, layout(f.size)) };
        if let Some(msg) = bad {
            return Err(msg);
        }
    }
    Ok(())
}

extern "C" fn kmem_alloc(size: usize, flags: i32) -> *mut c_void {
    alloc(size, flags, false).cast()
}

extern "C" fn kmem_zalloc(size: usize, flags: i32) -> *mut c_void {
    alloc(size, flags, true).cast()
}

extern "C" fn kmem_free(buf: *mut c_void, size: usize) {
    free(buf.cast(), size);
}

// --- Object caches --------------------------------------------------------

/// One cache's life, kept after its destroy for tests to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The name given to `kmem_cache_create`.
    pub name: String,
    /// Buffer size.
    pub size: usize,
    /// Buffers handed out.
    pub allocs: u64,
    /// Buffers given back.
    pub frees: u64,
    /// Buffers outstanding now.
    pub live: usize,
    /// Whether `kmem_cache_destroy` ran.
    pub destroyed: bool,
}

struct Cache {
    stats: CacheStats,
    live: std::collections::HashSet<usize>,
}

/// Caches by handle (the address of a host allocation standing for the
/// `kmem_cache_t`), and every cache ever created, in order.
#[derive(Default)]
struct Caches {
    live: HashMap<usize, Cache>,
    history: Vec<usize>,
    destroyed: Vec<CacheStats>,
}

static CACHES: Mutex<Option<Caches>> = Mutex::new(None);

fn caches<R>(f: impl FnOnce(&mut Caches) -> R) -> R {
    let mut g = CACHES.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Caches::default))
}

/// Forgets every cache (a fresh boot). Their buffers are kmem buffers,
/// freed by [`reset`].
pub fn reset_caches() {
    let old = CACHES.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(c) = old {
        for h in c.live.keys() {
            // SAFETY: each handle is a Box<u64> leaked by kmem_cache_create.
            drop(unsafe { Box::from_raw(*h as *mut u64) });
        }
    }
}

/// Every cache created since boot: live ones, then destroyed ones.
pub fn cache_stats() -> Vec<CacheStats> {
    caches(|c| {
        let mut v: Vec<CacheStats> = c
            .history
            .iter()
            .filter_map(|h| c.live.get(h))
            .map(|k| CacheStats { live: k.live.len(), ..k.stats.clone() })
            .collect();
        v.extend(c.destroyed.iter().cloned());
        v
    })
}

/// Names of caches created and never destroyed.
pub fn undestroyed_caches() -> Vec<String> {
    caches(|c| c.live.values().map(|k| k.stats.name.clone()).collect())
}

#[allow(clippy::too_many_arguments)]
extern "C" fn kmem_cache_create(
    name: *const libc::c_char,
    size: usize,
    align: usize,
    ctor: usize,
    dtor: usize,
    reclaim: usize,
    _private: *mut c_void,
    vmp: *mut c_void,
    _cflags: i32,
) -> *mut c_void {
    // SAFETY: the module passes a NUL-terminated name (KMEM_CACHE_NAMELEN).
    let name =
        unsafe { super::c_str(name, 32) }.unwrap_or_else(|| fatal("kmem_cache_create: NULL name"));
    if size == 0 {
        fatal(&format!("kmem_cache_create('{name}'): size 0"));
    }
    if align != 0 && (!align.is_power_of_two() || align > 8) {
        fatal(&format!(
            "kmem_cache_create('{name}'): alignment {align} (kload emulates 0 or up to 8)"
        ));
    }
    if ctor != 0 || dtor != 0 || reclaim != 0 || !vmp.is_null() {
        fatal(&format!(
            "kmem_cache_create('{name}'): constructors, destructors, reclaim callbacks and \
             arenas are not emulated"
        ));
    }
    let handle = Box::into_raw(Box::new(0u64)) as usize;
    caches(|c| {
        c.history.push(handle);
        let stats = CacheStats { name, size, ..CacheStats::default() };
        c.live.insert(handle, Cache { stats, live: Default::default() });
    });
    handle as *mut c_void
}

extern "C" fn kmem_cache_alloc(cp: *mut c_void, flags: i32) -> *mut c_void {
    let size = caches(|c| c.live.get(&(cp as usize)).map(|k| k.stats.size))
        .unwrap_or_else(|| fatal(&format!("kmem_cache_alloc({cp:p}): not a cache")));
    let buf = alloc(size, flags, false);
    if !buf.is_null() {
        caches(|c| {
            if let Some(k) = c.live.get_mut(&(cp as usize)) {
                k.live.insert(buf as usize);
                k.stats.allocs += 1;
            }
        });
    }
    buf.cast()
}

extern "C" fn kmem_cache_free(cp: *mut c_void, buf: *mut c_void) {
    let size = caches(|c| {
        let k = c
            .live
            .get_mut(&(cp as usize))
            .unwrap_or_else(|| fatal(&format!("kmem_cache_free({cp:p}, {buf:p}): not a cache")));
        if !k.live.remove(&(buf as usize)) {
            fatal(&format!(
                "kmem_cache_free({cp:p}, {buf:p}): buffer not allocated from cache '{}'",
                k.stats.name
            ));
        }
        k.stats.frees += 1;
        k.stats.size
    });
    free(buf.cast(), size);
}

extern "C" fn kmem_cache_destroy(cp: *mut c_void) {
    let k = caches(|c| c.live.remove(&(cp as usize)))
        .unwrap_or_else(|| fatal(&format!("kmem_cache_destroy({cp:p}): not a cache")));
    if !k.live.is_empty() {
        super::console::log(
            super::console::CE_WARN,
            None,
            &format!("kmem_cache_destroy: '{}' ({cp:p}) not empty", k.stats.name),
        );
    }
    let stats = CacheStats { live: k.live.len(), destroyed: true, ..k.stats };
    caches(|c| c.destroyed.push(stats));
    // SAFETY: the handle is the Box<u64> kmem_cache_create leaked.
    drop(unsafe { Box::from_raw(cp.cast::<u64>()) });
}

/// `kmem_alloc`, `kmem_zalloc`, `kmem_free` and the object cache calls.
pub fn symbols() -> Vec<KernelSymbol> {
    vec![
        KernelSymbol::core_fn("kmem_alloc", kmem_alloc as *const () as usize),
        KernelSymbol::core_fn("kmem_zalloc", kmem_zalloc as *const () as usize),
        KernelSymbol::core_fn("kmem_free", kmem_free as *const () as usize),
        KernelSymbol::core_fn("kmem_cache_create", kmem_cache_create as *const () as usize),
        KernelSymbol::core_fn("kmem_cache_alloc", kmem_cache_alloc as *const () as usize),
        KernelSymbol::core_fn("kmem_cache_free", kmem_cache_free as *const () as usize),
        KernelSymbol::core_fn("kmem_cache_destroy", kmem_cache_destroy as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests share the global state; the machine lock serialises them.
    fn booted() -> crate::machine::BootToken {
        let g = crate::machine::test_lock();
        reset();
        g
    }

    #[test]
    fn buffers_are_eight_not_sixteen_aligned_and_patterned() {
        let _g = booted();
        let p = alloc(24, KM_SLEEP, false);
        assert_eq!(p as usize % 8, 0);
        assert_eq!(p as usize % 16, 8);
        // SAFETY: 24 bytes were allocated.
        let b = unsafe { std::slice::from_raw_parts(p, 24) };
        assert_eq!(&b[..4], &UNINIT.to_le_bytes());
        let z = alloc(24, KM_SLEEP, true);
        // SAFETY: as above.
        assert!(unsafe { std::slice::from_raw_parts(z, 24) }.iter().all(|&x| x == 0));
        assert_eq!(try_free(p, 24), Ok(()));
        assert_eq!(try_free(z, 24), Ok(()));
        assert!(leaks().is_empty());
        assert!(check_quarantine().is_empty());
        assert!(alloc(0, KM_SLEEP, false).is_null());
        assert_eq!(try_free(std::ptr::null_mut(), 0), Ok(()));
    }

    #[test]
    fn wrong_size_double_free_and_strangers_are_caught() {
        let _g = booted();
        let p = alloc(40, KM_SLEEP, false);
        assert!(try_free(p, 48).unwrap_err().contains("wrong size"));
        assert_eq!(try_free(p, 40), Ok(()));
        assert!(try_free(p, 40).unwrap_err().contains("freed twice"));
        let mut local = 0u64;
        let e = try_free((&raw mut local).cast(), 8).unwrap_err();
        assert!(e.contains("not a buffer kmem_alloc gave out"), "{e}");
    }

    #[test]
    fn overruns_and_use_after_free_are_caught() {
        let _g = booted();
        let p = alloc(10, KM_SLEEP, false);
        // SAFETY: writes one byte past the buffer, into its redzone,
        // which is part of the same host block.
        unsafe { p.add(10).write(0) };
        assert!(try_free(p, 10).unwrap_err().contains("redzone violated"));
        let q = alloc(16, KM_SLEEP, false);
        assert_eq!(try_free(q, 16), Ok(()));
        // SAFETY: the freed buffer stays allocated in quarantine.
        unsafe { q.add(3).write(7) };
        let found = check_quarantine();
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("modified after free at offset 0x3"), "{}", found[0]);
    }

    #[test]
    fn leaks_are_listed_in_order() {
        let _g = booted();
        let m = mark();
        let a = alloc(8, KM_SLEEP, false);
        let b = alloc(9, KM_SLEEP, false);
        let l = leaks_since(m);
        assert_eq!(
            l.iter().map(|l| (l.addr, l.size)).collect::<Vec<_>>(),
            [(a as usize, 8), (b as usize, 9)]
        );
        assert_eq!(try_free(a, 8), Ok(()));
        assert_eq!(leaks_since(m).len(), 1);
        assert_eq!(stats().bytes, 9);
        reset();
    }

    #[test]
    fn caches_hand_out_their_buffers_and_check_frees() {
        let _g = booted();
        reset_caches();
        let cp = kmem_cache_create(
            c"test_cache".as_ptr(),
            40,
            8,
            0,
            0,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
        let a = kmem_cache_alloc(cp, KM_SLEEP);
        let b = kmem_cache_alloc(cp, KM_SLEEP);
        assert_eq!(a as usize % 8, 0);
        assert_eq!(leaks().len(), 2);
        kmem_cache_free(cp, a);
        let s = cache_stats();
        assert_eq!(
            (s[0].name.as_str(), s[0].size, s[0].allocs, s[0].frees, s[0].live),
            ("test_cache", 40, 2, 1, 1)
        );
        assert_eq!(undestroyed_caches(), ["test_cache"]);
        kmem_cache_free(cp, b);
        kmem_cache_destroy(cp);
        assert!(undestroyed_caches().is_empty());
        assert!(cache_stats()[0].destroyed);
        assert!(leaks().is_empty());
        reset_caches();
        reset();
    }

    #[test]
    fn the_injector_fails_only_the_chosen_nosleep_allocation() {
        let _g = booted();
        fail_nosleep(Some(2));
        let a = alloc(8, KM_NOSLEEP, false);
        let s = alloc(8, KM_SLEEP, false);
        let b = alloc(8, KM_NOSLEEP, false);
        let c = alloc(8, KM_NOSLEEP, false);
        assert!(!a.is_null() && !s.is_null() && b.is_null() && !c.is_null());
        assert_eq!(stats().nosleep_failed, 1);
        assert_eq!(stats().nosleep_calls, 3);
        reset();
    }
}
