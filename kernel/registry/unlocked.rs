//! The lock protocol made checkable by the compiler (see `docs/locking.md`).
//!
//! [`Unlocked`] is a zero-sized proof that the calling thread holds no
//! registry lock. Every public entry point makes one before it locks
//! anything. Whatever may sleep for long needs `&mut Unlocked`:
//!
//! - taking the table lock ([`TableLock::read`], [`TableLock::write`]): the
//!   guard borrows the proof for as long as it lives;
//! - entering a zone gate (`ZoneGate::enter`), lock level 1, which must
//!   never be waited for under the table lock;
//! - a dlmgmtd upcall ([`upcall`]);
//! - a wait for temporary holds to drain (`Link::lock_alone`).
//!
//! So "no table lock is held across an upcall, a gate wait or a drain
//! wait" is a borrow-check error to break, not a comment. Link locks are
//! taken only inside table sections or through `Link::lock_alone`, are
//! never nested, and debug host builds count them per thread:
//! [`upcall`] asserts the count is zero.

use core::marker::PhantomData;

use super::outbox::{Dlmgmt, Notice};
use super::table::Table;
use crate::errno::KResult;
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Proof that this thread holds no registry lock. Not `Send`: it speaks
/// for one thread.
pub(crate) struct Unlocked {
    _not_send: PhantomData<*const ()>,
}

impl Unlocked {
    /// Made first thing by a public entry point, and nowhere else. The
    /// few entry points that call others (`setzid`, `hold_by_mac`) hold
    /// nothing when they do; internal helpers take `&mut Unlocked`.
    pub(crate) fn new() -> Unlocked {
        Unlocked { _not_send: PhantomData }
    }
}

/// The table lock (level 2 in `docs/locking.md`). Reachable only through
/// a proof of [`Unlocked`], which the guard then borrows.
pub(crate) struct TableLock {
    inner: RwLock<Table>,
}

impl TableLock {
    pub(crate) fn new(t: Table) -> TableLock {
        TableLock { inner: RwLock::new(t) }
    }

    /// Shared access: lookups, holds, snapshots.
    pub(crate) fn read<'a>(&'a self, _cx: &'a mut Unlocked) -> RwLockReadGuard<'a, Table> {
        self.inner.read()
    }

    /// Exclusive access: every change to an index or a zone.
    pub(crate) fn write<'a>(&'a self, _cx: &'a mut Unlocked) -> RwLockWriteGuard<'a, Table> {
        self.inner.write()
    }
}

/// Tells dlmgmtd about `notice`. The only place the registry calls the
/// daemon; it may block for as long as the daemon likes.
pub(crate) fn upcall(_cx: &mut Unlocked, up: &dyn Dlmgmt, notice: &Notice) -> KResult<()> {
    super::link::held::assert_none();
    up.deliver(notice)
}
