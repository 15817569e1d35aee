//! Named kmem caches for the registry's records, so that mdb finds them:
//! `::kmem_cache` lists `dlszone_link_cache`, `::walk dlszone_link_cache`
//! visits every live link record, and `::whatis` names the cache of any
//! address inside one (`docs/debugging.md`).
//!
//! # Design
//!
//! A link record is the heap cell of an `Arc<Link>`: its count and the
//! [`Link`] itself. The kernel build's `Arc` (`arc.rs`) is the project's
//! own type, so rather than route every `Arc` through an allocator type
//! parameter (`allocator_api`, which the host's stable toolchain lacks),
//! one constructor, `Arc::new_in`, takes its cell from a [`RecordCache`]
//! and records in the cell which cache it came from; the last `Drop`
//! gives it back there. Every other `Arc` is unchanged (a heap cell from
//! `kmem_alloc`, recorded as such). The registry asks for a link record
//! through [`link_record`], the one call that differs by build: the cache
//! in the kernel, a plain `Arc` on the host (where `crate::sync::Arc` is
//! std's, loom's or shuttle's).
//!
//! A cache must exist before the records it serves can come from it:
//! until [`RecordCache::create`] ran (or after it failed), `new_in` falls
//! back to the heap, and such a cell goes back to the heap whenever it is
//! dropped, so nothing depends on the order of module setup. Destroying
//! a cache that still has records would leave them dangling (illumos only
//! warns, then frees the slabs), so [`RecordCache::destroy`] refuses while
//! any is live and leaves the cache in place.
//!
//! # Context
//!
//! `create` and `destroy` run at module load and unload (`obs.rs`), never
//! concurrently with each other or with record allocation; `alloc` uses
//! `KM_SLEEP` and may block, as any Rust allocation in the kernel.

use core::alloc::Layout;
use core::ffi::{CStr, c_void};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::errno::{Errno, KResult};
use crate::registry::Link;

/// One named object cache for records of one layout.
pub struct RecordCache {
    name: &'static CStr,
    /// The `kmem_cache_t` (kernel), or a non-null marker (host) once
    /// created; null before and after.
    cp: AtomicPtr<c_void>,
    size: AtomicUsize,
    align: AtomicUsize,
    /// Records allocated from the cache and not yet freed.
    live: AtomicUsize,
    /// Records ever allocated from the cache.
    allocs: AtomicU64,
}

/// The cache of link records.
pub static LINK_CACHE: RecordCache = RecordCache::new(c"dlszone_link_cache");

/// A new link record: a cell of [`LINK_CACHE`] in the kernel (the heap
/// until the cache is created), a plain `Arc` on the host.
pub fn link_record(link: Link) -> crate::sync::Arc<Link> {
    #[cfg(kmod)]
    {
        crate::kmod::arc::Arc::new_in(link, &LINK_CACHE)
    }
    #[cfg(not(kmod))]
    {
        crate::sync::Arc::new(link)
    }
}

/// The layout of one link record's cell, what [`LINK_CACHE`] serves.
pub fn link_record_layout() -> Layout {
    crate::kmod::arc::Arc::<Link>::cell_layout()
}

impl RecordCache {
    /// A cache named `name` (at most 31 bytes: `KMEM_CACHE_NAMELEN`), not
    /// yet created.
    pub const fn new(name: &'static CStr) -> RecordCache {
        RecordCache {
            name,
            cp: AtomicPtr::new(core::ptr::null_mut()),
            size: AtomicUsize::new(0),
            align: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            allocs: AtomicU64::new(0),
        }
    }

    /// The cache's name.
    pub fn name(&self) -> &'static CStr {
        self.name
    }

    /// Whether the cache exists.
    pub fn created(&self) -> bool {
        !self.cp.load(Ordering::Acquire).is_null()
    }

    /// Records allocated from it and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Records ever allocated from it.
    pub fn allocations(&self) -> u64 {
        self.allocs.load(Ordering::Relaxed)
    }

    /// Creates the kmem cache (`kmem_cache_create(9F)`) for objects of
    /// `layout`. Errors: `EEXIST` already created; `EINVAL` a layout kmem
    /// cannot serve (size 0, alignment above a page).
    pub fn create(&self, layout: Layout) -> KResult<()> {
        if self.created() {
            return Err(Errno::EEXIST);
        }
        if layout.size() == 0 || layout.align() > 4096 {
            return Err(Errno::EINVAL);
        }
        self.size.store(layout.size(), Ordering::Relaxed);
        self.align.store(layout.align(), Ordering::Relaxed);
        let cp = self.raw_create(layout);
        let cp = cp.ok_or(Errno::ENOMEM)?;
        self.cp.store(cp.as_ptr(), Ordering::Release);
        Ok(())
    }

    /// Destroys the cache (`kmem_cache_destroy(9F)`). Nothing to do if it
    /// was never created. Errors: `EBUSY` records are still live: the
    /// cache is left as it is (and a warning logged), since destroying it
    /// would free their memory under them.
    pub fn destroy(&self) -> KResult<()> {
        let cp = self.cp.load(Ordering::Acquire);
        let Some(cp) = NonNull::new(cp) else {
            return Ok(());
        };
        let live = self.live();
        if live > 0 {
            crate::kwarn!(
                "dlszone: {} still has {live} record(s); not destroyed",
                self.name.to_str().unwrap_or("?")
            );
            return Err(Errno::EBUSY);
        }
        self.cp.store(core::ptr::null_mut(), Ordering::Release);
        self.raw_destroy(cp);
        Ok(())
    }

    /// A cell for one object of `layout`, or `None` if the cache does not
    /// exist or serves another layout (the caller then uses the heap).
    pub fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        let cp = NonNull::new(self.cp.load(Ordering::Acquire))?;
        if layout.size() != self.size.load(Ordering::Relaxed)
            || layout.align() > self.align.load(Ordering::Relaxed)
        {
            return None;
        }
        let p = self.raw_alloc(cp, layout)?;
        self.live.fetch_add(1, Ordering::Relaxed);
        self.allocs.fetch_add(1, Ordering::Relaxed);
        Some(p)
    }

    /// Gives a cell back.
    ///
    /// # Safety
    ///
    /// `p` came from [`alloc`](Self::alloc) on this cache with `layout`,
    /// and is not used again.
    pub unsafe fn free(&self, p: NonNull<u8>, layout: Layout) {
        let cp = self.cp.load(Ordering::Acquire);
        self.live.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract; the cache exists while any of its
        // cells is live (`destroy` refuses otherwise), so `cp` is it.
        unsafe { self.raw_free(cp, p, layout) };
    }

    #[cfg(kmod)]
    fn raw_create(&self, layout: Layout) -> Option<NonNull<c_void>> {
        // SAFETY: the name is a NUL-terminated static string (kmem copies
        // it); no constructor, destructor or reclaim callback, no private
        // data, the default arena, no flags. kmem_cache_create sleeps for
        // memory and does not fail.
        let cp = unsafe {
            crate::ffi::kmem_cache_create(
                self.name.as_ptr().cast_mut(),
                layout.size(),
                layout.align(),
                None,
                None,
                None,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                0,
            )
        };
        NonNull::new(cp.cast())
    }

    #[cfg(kmod)]
    fn raw_destroy(&self, cp: NonNull<c_void>) {
        // SAFETY: `cp` came from kmem_cache_create, has no live buffer
        // (checked by the caller) and is no longer reachable from `self`.
        unsafe { crate::ffi::kmem_cache_destroy(cp.as_ptr().cast()) };
    }

    #[cfg(kmod)]
    fn raw_alloc(&self, cp: NonNull<c_void>, _layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: `cp` is a live cache; KM_SLEEP may block, as every Rust
        // allocation in the kernel may.
        let p = unsafe { crate::ffi::kmem_cache_alloc(cp.as_ptr().cast(), crate::ffi::KM_SLEEP) };
        NonNull::new(p.cast())
    }

    /// # Safety
    ///
    /// As [`free`](Self::free); `cp` is the cache `p` came from.
    #[cfg(kmod)]
    unsafe fn raw_free(&self, cp: *mut c_void, p: NonNull<u8>, _layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { crate::ffi::kmem_cache_free(cp.cast(), p.as_ptr().cast()) };
    }

    // The host: std's allocator, with the same bookkeeping, so the
    // logic (and `Arc::new_in`) is tested off the kernel.

    #[cfg(not(kmod))]
    fn raw_create(&self, _layout: Layout) -> Option<NonNull<c_void>> {
        Some(NonNull::dangling())
    }

    #[cfg(not(kmod))]
    fn raw_destroy(&self, _cp: NonNull<c_void>) {}

    #[cfg(not(kmod))]
    fn raw_alloc(&self, _cp: NonNull<c_void>, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the cache only serves its non-zero-sized layout.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }

    /// # Safety
    ///
    /// As [`free`](Self::free).
    #[cfg(not(kmod))]
    unsafe fn raw_free(&self, _cp: *mut c_void, p: NonNull<u8>, layout: Layout) {
        // SAFETY: `p` came from `raw_alloc` with `layout`.
        unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmod::arc::Arc;

    #[test]
    fn records_come_from_the_cache_once_it_exists_and_go_back_to_it() {
        static CACHE: RecordCache = RecordCache::new(c"test_cache");
        // Before the cache exists: the heap.
        let early = Arc::new_in([7u64; 5], &CACHE);
        assert_eq!(CACHE.live(), 0);
        CACHE.create(Arc::<[u64; 5]>::cell_layout()).unwrap();
        assert_eq!(CACHE.create(Arc::<[u64; 5]>::cell_layout()), Err(Errno::EEXIST));
        let a = Arc::new_in([1u64; 5], &CACHE);
        let b = a.clone();
        assert_eq!((CACHE.live(), CACHE.allocations()), (1, 1));
        // Another layout is not this cache's business.
        let other = Arc::new_in(3u8, &CACHE);
        assert_eq!(CACHE.live(), 1);
        assert_eq!(CACHE.destroy(), Err(Errno::EBUSY));
        assert!(CACHE.created());
        drop(a);
        assert_eq!(CACHE.live(), 1);
        drop(b);
        assert_eq!(CACHE.live(), 0);
        // A heap cell made before the cache existed goes back to the heap.
        assert_eq!(*early, [7; 5]);
        drop((early, other));
        assert_eq!(CACHE.destroy(), Ok(()));
        assert!(!CACHE.created());
        assert_eq!(CACHE.destroy(), Ok(()));
    }

    /// The offsets `docs/debugging.md` gives for a link record (the
    /// `link` argument of the probes), read from a live record.
    #[test]
    fn a_records_fields_are_where_the_docs_say() {
        use crate::registry::layout as at;
        use crate::registry::{HoldKind, LinkId, Registry, ZoneId, ZoneKey};
        let r = Registry::new();
        r.zone_boot(ZoneKey::new(5, 77)).unwrap();
        let rec = crate::sdt::Recording::start();
        r.create(ZoneId(5), b"vnic7", LinkId(7), b"net12", false).unwrap();
        let link = rec.take()[0].arg(5) as usize;
        let _h1 = r.hold(ZoneId(5), LinkId(7), HoldKind::Named).unwrap();
        let _h2 = r.hold(ZoneId::GLOBAL, LinkId(7), HoldKind::Stream).unwrap();
        let _t = r.hold_tmp(ZoneId::GLOBAL, LinkId(7)).unwrap();
        // SAFETY: `link` is the address of the record, kept alive by the
        // registry; the reads are of plain integers inside it, which no
        // other thread changes meanwhile.
        let (u8_at, u16_at, u32_at, u64_at) = unsafe {
            (
                |o: usize| *((link + o) as *const u8),
                |o: usize| *((link + o) as *const u16),
                |o: usize| *((link + o) as *const u32),
                |o: usize| *((link + o) as *const u64),
            )
        };
        // The MAC name, inline: tag 0, length, bytes and NUL.
        assert_eq!((u8_at(at::MAC), u8_at(at::MAC + 1)), (0, 5));
        let mac: std::vec::Vec<u8> = (0..6).map(|i| u8_at(at::MAC + 2 + i)).collect();
        assert_eq!(mac, b"vnic7\0");
        assert_ne!(u64_at(at::SERIAL), 0);
        assert_eq!(u32_at(at::LINKID), 7);
        let word = u32_at(at::WORD);
        assert_eq!(word & at::STATE_MASK, 1, "active");
        for (flag, on) in [
            (at::TRANSIENT, true),
            (at::PERSISTENT, false),
            (at::EXISTENCE, true),
            (at::LOAN, false),
            (at::BUSY, false),
            (at::DOWN, false),
            (at::OWNED, true),
        ] {
            assert_eq!(word & flag != 0, on, "flag {flag:#x}");
        }
        assert_eq!((u16_at(at::ZONE_ID), u64_at(at::UNIQID)), (5, 77));
        let name: std::vec::Vec<u8> = (0..6).map(|i| u8_at(at::NAME + i)).collect();
        assert_eq!(name, b"net12\0");
        assert_eq!((u32_at(at::NEXT), u32_at(at::PREV)), (0, 0), "alone in its zone");
        // Global-zone holds: stream 1; from inside the zone: named 1,
        // under the zone's mark (the low 16 bits of its zone_uniqid).
        let lanes = |o: usize| [0, 2, 4, 6].map(|i| u16_at(o + i));
        assert_eq!(lanes(at::GZ_HOLDS), [1, 0, 0, 0]);
        assert_eq!(lanes(at::ZONE_HOLDS), [0, 0, 1, 77]);
        assert_eq!((u32_at(at::TMP), u32_at(at::TMP + 4)), (1, 0));
        r.rele_tmp(_t).unwrap();
        assert_eq!(u32_at(at::TMP), 0);
    }

    #[test]
    fn bad_layouts_are_refused() {
        static CACHE: RecordCache = RecordCache::new(c"test_bad");
        assert_eq!(CACHE.create(Layout::new::<()>()), Err(Errno::EINVAL));
        let huge = Layout::from_size_align(8192, 8192).unwrap();
        assert_eq!(CACHE.create(huge), Err(Errno::EINVAL));
        assert!(!CACHE.created());
    }
}
