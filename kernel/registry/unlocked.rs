//! The lock protocol made checkable by the compiler (see `docs/locking.md`).
//!
//! [`Unlocked`] is a proof that the calling thread holds no registry
//! lock. Every public entry point makes one before it locks
//! anything. Whatever may sleep for long needs `&mut Unlocked`:
//!
//! - taking the table lock ([`TableLock::read`], [`TableLock::write`],
//!   [`TableLock::write_room`]): the guard borrows the proof for as long
//!   as it lives;
//! - entering a zone gate (`ZoneGate::enter`), lock level 1, which must
//!   never be waited for under the table lock;
//! - a dlmgmtd upcall (`Registry::upcall`);
//! - a wait for temporary holds to drain (`Link::drain`).
//!
//! So "no table lock is held across an upcall, a gate wait or a drain
//! wait" is a borrow-check error to break, not a comment. Link locks are
//! taken inside table sections, by a release that matched no hold, by a
//! drain (`Link::drain`) and by a holder's accessors, are never nested,
//! and debug host builds count them per thread: an upcall asserts the
//! count is zero.
//!
//! The table writer is also a section that must not allocate
//! ([`super::noalloc`]): [`TableLock::write_room`] grows the indexes and
//! the outbox *before* it returns the guard, so the section's inserts and
//! notices need no memory.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::door::CachedDoor;
use super::noalloc::NoAlloc;
use super::outbox::Outbox;
use super::stats::StatsHandle;
use super::table::{Room, Table};
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Proof that this thread holds no registry lock. Not `Send`: it speaks
/// for one thread, and for one call of a public entry point.
///
/// It also keeps the door the call's last upcall went through
/// (`door.rs`), so that the call's later upcalls need not copy the handle
/// again while it is the same door.
pub(crate) struct Unlocked {
    pub(crate) door: CachedDoor,
    _not_send: PhantomData<*const ()>,
}

impl Unlocked {
    /// Made first thing by a public entry point, and nowhere else. The
    /// few entry points that call others (`setzid`) hold nothing when they
    /// do; internal helpers take `&mut Unlocked`.
    pub(crate) fn new() -> Unlocked {
        Unlocked { door: None, _not_send: PhantomData }
    }
}

/// The table lock (level 2 in `docs/locking.md`). Reachable only through
/// a proof of [`Unlocked`], which the guard then borrows.
pub(crate) struct TableLock {
    inner: RwLock<Table>,
}

/// The table lock held as writer: a section that must not allocate.
pub(crate) struct TableWrite<'a> {
    g: RwLockWriteGuard<'a, Table>,
    // Dropped after the lock is released, so a reported allocation does
    // not poison the lock.
    _no_alloc: NoAlloc,
}

impl Deref for TableWrite<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.g
    }
}

impl DerefMut for TableWrite<'_> {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.g
    }
}

impl Drop for TableWrite<'_> {
    /// The section ends: if it changed what the kstat's gauges count, it
    /// publishes them, still holding the lock (`stats.rs`).
    fn drop(&mut self) {
        if self.g.dirty {
            self.g.dirty = false;
            self.g.publish();
        }
    }
}

impl TableLock {
    /// The lock over `t`, whose gauges go to `stats`.
    pub(crate) fn new(mut t: Table, stats: StatsHandle) -> TableLock {
        t.stats = Some(stats);
        t.publish();
        TableLock { inner: RwLock::new(t) }
    }

    /// Shared access: lookups, holds, snapshots.
    pub(crate) fn read<'a>(&'a self, _cx: &'a mut Unlocked) -> RwLockReadGuard<'a, Table> {
        self.inner.read()
    }

    /// Exclusive access for a section that inserts nothing new: removals,
    /// state changes, replacing a value under an existing key.
    pub(crate) fn write<'a>(&'a self, _cx: &'a mut Unlocked) -> TableWrite<'a> {
        let mut g = self.inner.write();
        g.generation = g.generation.wrapping_add(1);
        TableWrite { g, _no_alloc: NoAlloc::enter("table writer") }
    }

    /// Exclusive access with room for what the section may add: `room`
    /// says, given the table, how many entries of each kind it may insert
    /// and how many notices it may queue. Whatever is short is allocated
    /// with no lock held, then adopted under the writer; the loop ends
    /// when a writer section finds room, and returns that section.
    pub(crate) fn write_room<'a>(
        &'a self,
        _cx: &'a mut Unlocked,
        outbox: &Outbox,
        room: impl Fn(&Table) -> Room,
    ) -> TableWrite<'a> {
        loop {
            let mut g = self.inner.write();
            g.generation = g.generation.wrapping_add(1);
            let g = TableWrite { g, _no_alloc: NoAlloc::enter("table writer") };
            let want = room(&g);
            if g.plan(&want, outbox).is_none() {
                return g;
            }
            drop(g);
            self.grow(outbox, want);
        }
    }

    /// The slow path of [`write_room`](Self::write_room), out of line so
    /// that its frame (the allocation, the adoption) is paid only when an
    /// index is short: allocates what the table lacks for `want` with no
    /// lock held, then adopts it in a writer section that inserts nothing.
    /// The caller looks again under the writer: the table may have changed.
    #[cold]
    #[inline(never)]
    fn grow(&self, outbox: &Outbox, want: Room) {
        let plan = self.inner.read().plan(&want, outbox);
        let Some(plan) = plan else { return };
        // No lock held: this may sleep in kmem.
        let mut fresh = plan.allocate();
        let mut g = TableWrite { g: self.inner.write(), _no_alloc: NoAlloc::enter("table writer") };
        g.adopt(&mut fresh, &want, outbox);
        drop(g);
        // What was not adopted is freed with no lock held.
        drop(fresh);
    }
}
