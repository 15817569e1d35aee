//! "Nothing sleeps for memory here": sections in which the registry must
//! not allocate, made checkable on the host.
//!
//! In the kernel every allocation the registry makes is `KM_SLEEP`, so an
//! allocation while holding the table lock as writer, a zone gate's mutex
//! or the outbox mutex would let a halt sleep in kmem under memory
//! pressure (exactly when zones are being halted) while every temporary
//! hold on the data path waits behind it. So those sections never
//! allocate: what they need is reserved before the lock is taken
//! (`Table::plan`, `docs/locking.md`).
//!
//! Debug host builds keep a per-thread count of such sections. A test
//! binary installs an allocator that calls [`note_alloc`] on every
//! allocation; an allocation inside a section is remembered, and the
//! section's guard panics when it ends, naming the section (a panic inside
//! the allocator itself would be undefined behaviour). Kernel, release and
//! model-checking builds compile all of this to nothing.

/// Whether the check is compiled in.
const CHECKED: bool = cfg!(all(debug_assertions, not(kmod), not(loom), not(shuttle)));

#[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
std::thread_local! {
    static DEPTH: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    static VIOLATION: core::cell::Cell<Option<&'static str>> = const { core::cell::Cell::new(None) };
    static CURRENT: core::cell::Cell<&'static str> = const { core::cell::Cell::new("") };
}

/// Called by a test binary's allocator on every allocation. Never
/// allocates and never panics.
pub fn note_alloc() {
    #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
    {
        // `try_with`: the allocator may run while thread-locals are torn
        // down at thread exit.
        let inside = DEPTH.try_with(|d| d.get() > 0).unwrap_or(false);
        if inside {
            let what = CURRENT.try_with(|c| c.get()).unwrap_or("");
            let _ = VIOLATION.try_with(|v| {
                if v.get().is_none() {
                    v.set(Some(what));
                }
            });
        }
    }
}

/// Runs `f` with the check suspended on this thread: for test
/// instrumentation whose own allocations are not the registry's (the
/// host's probe log, `crate::sdt`). Never use it to hide a registry
/// allocation.
pub fn exempt<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
    {
        let depth = DEPTH.with(|d| d.replace(0));
        let out = f();
        DEPTH.with(|d| d.set(depth));
        out
    }
    #[cfg(not(all(debug_assertions, not(kmod), not(loom), not(shuttle))))]
    f()
}

/// True when the allocation check is compiled in (debug host builds), so
/// a test can tell whether it proves anything.
pub fn checked() -> bool {
    CHECKED
}

/// One section that must not allocate; counted while it lives.
pub(crate) struct NoAlloc {
    #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
    outer: &'static str,
}

impl NoAlloc {
    /// Enters a section named `what` (e.g. "table writer").
    #[inline]
    pub(crate) fn enter(what: &'static str) -> NoAlloc {
        #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
        {
            DEPTH.with(|d| d.set(d.get() + 1));
            let outer = CURRENT.with(|c| c.replace(what));
            NoAlloc { outer }
        }
        #[cfg(not(all(debug_assertions, not(kmod), not(loom), not(shuttle))))]
        {
            let _ = what;
            NoAlloc {}
        }
    }
}

impl Drop for NoAlloc {
    #[inline]
    fn drop(&mut self) {
        #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
        {
            CURRENT.with(|c| c.set(self.outer));
            let depth = DEPTH.with(|d| {
                d.set(d.get() - 1);
                d.get()
            });
            if depth == 0 {
                if let Some(what) = VIOLATION.with(|v| v.take()) {
                    if !std::thread::panicking() {
                        panic!("allocated while holding the {what} (docs/locking.md)");
                    }
                }
            }
        }
    }
}
