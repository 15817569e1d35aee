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
//!
//! The gate's mutex is a section that must not allocate: the busy list
//! grows (doubling) with no lock held, and the condition variable a busy
//! zone's waiters sleep on is allocated, with no lock held, by the first
//! of them (an uncontended gate costs no allocation).

use alloc::vec::Vec;

use super::noalloc::NoAlloc;
use super::types::ZoneId;
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};
use crate::sync::{Arc, Condvar, Deadline, Mutex, MutexGuard, Wake};

/// Lock level 1 (`docs/locking.md`): the zones with a zone-wide operation
/// under way, each with the condition variable its waiters sleep on, once
/// one waits. One per zone, so a zone's waiters wake only when that
/// zone's gate comes free, and other zones' traffic never wakes them.
pub(crate) struct ZoneGate {
    busy: Mutex<Vec<(ZoneId, Option<Arc<Condvar>>)>>,
}

/// The right to run a zone-wide operation on one zone; released on drop.
/// Held across upcalls and drain waits: it blocks only the next zone-wide
/// operation on the same zone (`docs/locking.md`).
#[must_use]
pub(crate) struct GateGuard<'a> {
    gate: &'a ZoneGate,
    zone: ZoneId,
}

/// The gate's mutex held: a section that must not allocate.
struct Busy<'a> {
    g: MutexGuard<'a, Vec<(ZoneId, Option<Arc<Condvar>>)>>,
    _no_alloc: NoAlloc,
}

/// Whether a zone's gate is taken, and what its waiters sleep on.
enum Taken {
    Free,
    /// Taken; waiters sleep on this.
    Wait(Arc<Condvar>),
    /// Taken, and no one waits yet: the caller brings the condition
    /// variable (allocated with no lock held).
    NeedCv,
}

impl Busy<'_> {
    /// Whether `zone`'s gate is taken; installs `spare` as its condition
    /// variable if it has none yet.
    fn taken(&mut self, zone: ZoneId, spare: &mut Option<Arc<Condvar>>) -> Taken {
        let Some((_, cv)) = self.g.iter_mut().find(|(z, _)| *z == zone) else {
            return Taken::Free;
        };
        if cv.is_none() {
            *cv = spare.take();
        }
        match cv {
            Some(cv) => Taken::Wait(cv.clone()),
            None => Taken::NeedCv,
        }
    }
}

/// What to do when the gate is busy.
enum Wait<'d> {
    Forever,
    Until(&'d Deadline),
}

impl ZoneGate {
    pub(crate) fn new() -> ZoneGate {
        ZoneGate { busy: Mutex::new(Vec::new()) }
    }

    fn lock(&self) -> Busy<'_> {
        let g = self.busy.lock();
        Busy { g, _no_alloc: NoAlloc::enter("zone gate mutex") }
    }

    /// Enters `zone`'s gate, waiting for the operation in progress.
    pub(crate) fn enter(&self, cx: &mut Unlocked, zone: ZoneId) -> GateGuard<'_> {
        match self.enter_inner(cx, zone, Wait::Forever) {
            Ok(g) => g,
            // An unbounded wait cannot time out.
            Err(_) => GateGuard { gate: self, zone },
        }
    }

    /// Enters `zone`'s gate, giving up with `ETIMEDOUT` once `deadline`
    /// passes without the gate coming free.
    pub(crate) fn enter_until(
        &self,
        cx: &mut Unlocked,
        zone: ZoneId,
        deadline: &Deadline,
    ) -> KResult<GateGuard<'_>> {
        self.enter_inner(cx, zone, Wait::Until(deadline))
    }

    #[inline(never)]
    fn enter_inner(
        &self,
        _cx: &mut Unlocked,
        zone: ZoneId,
        how: Wait<'_>,
    ) -> KResult<GateGuard<'_>> {
        // A condition variable for a wait, allocated with no lock held:
        // the gate's mutex never waits for memory.
        let mut spare = None;
        loop {
            let mut busy = self.lock();
            loop {
                let cv = match busy.taken(zone, &mut spare) {
                    Taken::Free => break,
                    Taken::Wait(cv) => cv,
                    Taken::NeedCv => {
                        drop(busy);
                        spare = Some(Arc::new(Condvar::new()));
                        busy = self.lock();
                        continue;
                    }
                };
                let Busy { g, _no_alloc } = busy;
                let (g, wake) = match how {
                    Wait::Forever => (cv.wait(g), Wake::Signalled),
                    Wait::Until(d) => cv.wait_until(g, d),
                };
                busy = Busy { g, _no_alloc };
                if wake == Wake::TimedOut && busy.g.iter().any(|(z, _)| *z == zone) {
                    return Err(Errno::ETIMEDOUT);
                }
            }
            if busy.g.len() < busy.g.capacity() {
                busy.g.push((zone, None));
                return Ok(GateGuard { gate: self, zone });
            }
            // Full: grow with no lock held, then look again (the gate may
            // have been taken meanwhile).
            let cap = busy.g.capacity();
            drop(busy);
            let mut bigger = Vec::with_capacity((cap * 2).max(4));
            let mut busy = self.lock();
            if busy.g.capacity() == cap {
                bigger.extend(busy.g.drain(..));
                core::mem::swap(&mut *busy.g, &mut bigger);
            }
            drop(busy);
            // The smaller list's memory is freed here, after the lock.
            drop(bigger);
        }
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.gate.lock();
        let cv = busy.g.iter().position(|(z, _)| *z == self.zone).map(|i| busy.g.swap_remove(i).1);
        drop(busy);
        if let Some(cv) = cv.flatten() {
            cv.notify_all();
        }
    }
}
