//! Per-zone serialisation of zone-wide operations.
//!
//! Halt, recovery, destroy-of-zone, and every lend or return involving a
//! non-global zone first enter that zone's gate. Operations on different
//! zones run in parallel; operations on one zone run one at a time, so a
//! halt and a recovery of the same zone, or two recoveries, serialise.
//! The gate is a logical right, not a held mutex: its own mutex is only
//! taken for a moment to enter and leave, so holding the right across a
//! dlmgmtd upcall blocks nobody but the next operation on that zone.
//! Entering needs a proof of [`Unlocked`]: a gate (level 1) is never
//! waited for with the table or a link lock held (`docs/locking.md`).

use alloc::collections::BTreeMap;

use super::types::ZoneId;
use crate::errno::{Errno, KResult};
use crate::sync::{Arc, Condvar, Mutex, Wake};

use super::unlocked::Unlocked;

/// Lock level 1 (`docs/locking.md`): the zones with a zone-wide operation
/// under way, each with the condition variable its waiters sleep on. One
/// per zone, so a zone's waiters wake only when that zone's gate comes
/// free: a bounded wait is not re-armed by other zones' traffic.
pub(crate) struct ZoneGate {
    busy: Mutex<BTreeMap<ZoneId, Arc<Condvar>>>,
}

/// The right to run a zone-wide operation on one zone; released on drop.
/// Held across upcalls and drain waits: it blocks only the next zone-wide
/// operation on the same zone (`docs/locking.md`).
#[must_use]
pub(crate) struct GateGuard<'a> {
    gate: &'a ZoneGate,
    zone: ZoneId,
}

impl ZoneGate {
    pub(crate) fn new() -> ZoneGate {
        ZoneGate { busy: Mutex::new(BTreeMap::new()) }
    }

    /// Enters `zone`'s gate, waiting for the operation in progress.
    pub(crate) fn enter(&self, _cx: &mut Unlocked, zone: ZoneId) -> GateGuard<'_> {
        // Allocated before locking: the gate mutex is never held across
        // an allocation that may sleep.
        let mine = Arc::new(Condvar::new());
        let mut busy = self.busy.lock();
        while let Some(cv) = busy.get(&zone).cloned() {
            busy = cv.wait(busy);
        }
        busy.insert(zone, mine);
        GateGuard { gate: self, zone }
    }

    /// Enters `zone`'s gate, giving up with `ETIMEDOUT` once a wait of
    /// `ms` milliseconds passes without the gate coming free.
    pub(crate) fn enter_timeout(
        &self,
        _cx: &mut Unlocked,
        zone: ZoneId,
        ms: u64,
    ) -> KResult<GateGuard<'_>> {
        let mine = Arc::new(Condvar::new());
        let mut busy = self.busy.lock();
        while let Some(cv) = busy.get(&zone).cloned() {
            let (b, wake) = cv.wait_timeout_ms(busy, ms);
            busy = b;
            if wake == Wake::TimedOut && busy.contains_key(&zone) {
                return Err(Errno::ETIMEDOUT);
            }
        }
        busy.insert(zone, mine);
        Ok(GateGuard { gate: self, zone })
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let cv = self.gate.busy.lock().remove(&self.zone);
        if let Some(cv) = cv {
            cv.notify_all();
        }
    }
}
