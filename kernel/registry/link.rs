//! One datalink's record (the part of `dls_devnet_t` dlszone owns).
//!
//! A [`Link`] is reference-counted memory (`Arc`): the registry's tables,
//! and every holder, keep it alive. Its mutable state sits behind the
//! per-link mutex (`dd_mutex`'s role; lock level 3 in `docs/locking.md`),
//! so releases touch only this lock and never the registry's table lock.

use core::ops::{Deref, DerefMut};

use crate::errno::{Errno, KResult};
use crate::sync::{Condvar, Mutex, MutexGuard, Wake};

use super::unlocked::Unlocked;

use super::types::{HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneKey};
use alloc::vec::Vec;

/// Number of holder kinds counted per row.
const KINDS: usize = HoldKind::HOLDER_KINDS.len();

/// A datalink as the registry tracks it. Lock level 3 (`docs/locking.md`).
pub struct Link {
    mac: MacName,
    inner: Mutex<LinkInner>,
    /// Signalled when the temporary hold count reaches zero (`dd_cv`).
    drained: Condvar,
}

/// The per-link state, protected by `Link::inner`.
pub(crate) struct LinkInner {
    pub(crate) linkid: LinkId,
    /// The name in the current zone; `None` only while initializing.
    pub(crate) name: Option<LinkName>,
    /// The zone that created the link. Never changes.
    pub(crate) owner: ZoneKey,
    /// The zone the link is in now.
    pub(crate) zone: ZoneKey,
    pub(crate) transient: bool,
    pub(crate) persistent: bool,
    pub(crate) state: LinkState,
    /// The existence hold (taken at create, dropped at destroy/teardown).
    pub(crate) existence: bool,
    /// The loan hold (taken when the global zone lends the link).
    pub(crate) loan: bool,
    /// While lent: the owner-zone name, kept reserved for the return.
    pub(crate) reserved: Option<LinkName>,
    /// Holds taken from the global zone, by kind.
    pub(crate) gz_holds: [u32; KINDS],
    /// Holds taken from inside `zone_holder` (always the current zone of a
    /// tabled link), by kind.
    pub(crate) zone_holds: [u32; KINDS],
    pub(crate) zone_holder: Option<ZoneKey>,
    /// Temporary holds (`dd_tref`): no provenance, never block destroy,
    /// waited for before a destroy completes.
    pub(crate) tmp: u32,
    /// A lend or return of this link is between its two phases (its
    /// dlmgmtd upcall is in flight).
    pub(crate) busy: bool,
    /// Notices about this link still in the outbox: a new move must wait
    /// until dlmgmtd has seen them, so notices never overtake each other.
    pub(crate) pending_notices: u32,
    /// Key in the registry's limbo table once detached.
    pub(crate) serial: u64,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never blocks: a Debug print must not wait on the link's mutex.
        f.debug_struct("Link").field("mac", &self.mac).finish_non_exhaustive()
    }
}

impl Link {
    pub(crate) fn new(mac: MacName, inner: LinkInner) -> Link {
        Link { mac, inner: Mutex::new(inner), drained: Condvar::new() }
    }

    /// The MAC name (immutable).
    pub fn mac(&self) -> &MacName {
        &self.mac
    }

    /// The link id.
    pub fn linkid(&self) -> LinkId {
        self.lock().linkid
    }

    /// The name in the current zone.
    pub fn name(&self) -> Option<LinkName> {
        self.lock().name
    }

    /// The zone the link is in now.
    pub fn zone(&self) -> ZoneKey {
        self.lock().zone
    }

    /// The zone that created the link.
    pub fn owner(&self) -> ZoneKey {
        self.lock().owner
    }

    /// Whether the link goes away with its zone instead of returning.
    pub fn is_transient(&self) -> bool {
        self.lock().transient
    }

    /// The life-cycle state.
    pub fn state(&self) -> LinkState {
        self.lock().state
    }

    /// Who holds the link (long holds, including the registry's own).
    pub fn holders(&self) -> Vec<Holder> {
        self.lock().holders()
    }

    /// Temporary holds outstanding.
    pub fn tmp_holds(&self) -> u32 {
        self.lock().tmp
    }

    /// Locks the link inside a table section (level 2 held), or for a
    /// release (nothing held). Never nest two link locks.
    pub(crate) fn lock(&self) -> LinkGuard<'_> {
        let g = self.inner.lock();
        LinkGuard { g, _held: held::Held::new() }
    }

    /// Locks the link with no other registry lock held, which is what a
    /// drain wait needs: the guard borrows the proof, so no table lock can
    /// be taken while it lives either.
    pub(crate) fn lock_alone<'a>(&'a self, _cx: &'a mut Unlocked) -> AloneGuard<'a> {
        AloneGuard(self.lock())
    }

    /// Waits on the drain condition variable (`dd_cv`). Only an
    /// [`AloneGuard`] can wait, so a drain never waits with the table
    /// lock held.
    pub(crate) fn wait_drained<'a>(&self, g: AloneGuard<'a>, how: Drain) -> (AloneGuard<'a>, Wake) {
        held::assert_only_one();
        let LinkGuard { g, _held } = g.0;
        let (g, wake) = match how {
            Drain::Wait => (self.drained.wait(g), Wake::Signalled),
            Drain::WaitSig => self.drained.wait_sig(g),
            Drain::TimeoutMs(ms) => self.drained.wait_timeout_ms(g, ms),
        };
        (AloneGuard(LinkGuard { g, _held }), wake)
    }

    /// Wakes every drain waiter; called when the last temporary hold goes.
    pub(crate) fn notify_drained(&self) {
        // The deliberately broken variant forgets the wake-up, so that the
        // model-checking tests can show they catch it.
        #[cfg(not(dlszone_broken = "missing_wakeup"))]
        self.drained.notify_all();
    }
}

/// How a drain wait waits.
#[derive(Clone, Copy)]
pub(crate) enum Drain {
    /// `cv_wait`.
    Wait,
    /// `cv_wait_sig`.
    WaitSig,
    /// `cv_reltimedwait`.
    TimeoutMs(u64),
}

/// A held link lock (level 3 in `docs/locking.md`).
pub(crate) struct LinkGuard<'a> {
    g: MutexGuard<'a, LinkInner>,
    _held: held::Held,
}

impl Deref for LinkGuard<'_> {
    type Target = LinkInner;
    fn deref(&self) -> &LinkInner {
        &self.g
    }
}

impl DerefMut for LinkGuard<'_> {
    fn deref_mut(&mut self) -> &mut LinkInner {
        &mut self.g
    }
}

/// A link lock taken with no other registry lock held: the only kind of
/// guard a drain may wait with (`docs/locking.md`).
pub(crate) struct AloneGuard<'a>(LinkGuard<'a>);

impl Deref for AloneGuard<'_> {
    type Target = LinkInner;
    fn deref(&self) -> &LinkInner {
        &self.0
    }
}

impl DerefMut for AloneGuard<'_> {
    fn deref_mut(&mut self) -> &mut LinkInner {
        &mut self.0
    }
}

/// Per-thread count of link locks held, kept in debug host builds (the
/// kernel and the model checkers have no `std` thread-locals), so tests
/// prove at run time what the borrow checker cannot: no link lock is held
/// across an upcall, and a drain waits holding only its own.
pub(crate) mod held {
    #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
    std::thread_local! {
        static COUNT: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    }

    /// One held link lock; counted while it lives.
    pub(crate) struct Held(());

    impl Held {
        pub(crate) fn new() -> Held {
            #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
            COUNT.with(|c| {
                assert_eq!(c.get(), 0, "two link locks held at once (docs/locking.md)");
                c.set(1);
            });
            Held(())
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
            COUNT.with(|c| c.set(c.get() - 1));
        }
    }

    /// Panics if this thread holds a link lock.
    pub(crate) fn assert_none() {
        #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
        COUNT.with(|c| assert_eq!(c.get(), 0, "link lock held across an upcall"));
    }

    /// Panics unless this thread holds exactly one link lock.
    pub(crate) fn assert_only_one() {
        #[cfg(all(debug_assertions, not(kmod), not(loom), not(shuttle)))]
        COUNT.with(|c| assert_eq!(c.get(), 1, "drain wait with another link lock held"));
    }
}

impl LinkInner {
    /// A fresh, active record with its existence hold.
    pub(crate) fn new(
        linkid: LinkId,
        name: Option<LinkName>,
        owner: ZoneKey,
        persistent: bool,
    ) -> LinkInner {
        LinkInner {
            linkid,
            name,
            owner,
            zone: owner,
            // Links born outside the global zone never reach it.
            transient: owner != ZoneKey::GLOBAL,
            persistent,
            state: if name.is_some() { LinkState::Active } else { LinkState::Initializing },
            existence: true,
            loan: false,
            reserved: None,
            gz_holds: [0; KINDS],
            zone_holds: [0; KINDS],
            zone_holder: None,
            tmp: 0,
            busy: false,
            pending_notices: 0,
            serial: 0,
        }
    }

    /// True if the global zone lent this link out.
    pub(crate) fn is_lent(&self) -> bool {
        self.zone != self.owner
    }

    /// Holder-kind holds from anyone.
    pub(crate) fn holder_holds(&self) -> u32 {
        self.gz_holds.iter().chain(self.zone_holds.iter()).sum()
    }

    /// Holder-kind holds taken from inside the link's zone.
    pub(crate) fn zone_side_holds(&self) -> u32 {
        self.zone_holds.iter().sum()
    }

    /// No hold of any sort remains.
    pub(crate) fn unheld(&self) -> bool {
        !self.existence && !self.loan && self.tmp == 0 && self.holder_holds() == 0
    }

    /// Detached and nobody left: the record is dead. Returns true on the
    /// transition, so exactly one caller removes it from limbo.
    pub(crate) fn settle(&mut self) -> bool {
        if self.state == LinkState::Detached && self.unheld() {
            self.state = LinkState::Freed;
            return true;
        }
        false
    }

    /// Takes a holder hold from `holder` (the caller's zone; the global
    /// zone's holds go in their own row).
    pub(crate) fn take(&mut self, kind: HoldKind, holder: ZoneKey) -> KResult<()> {
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let row = if holder == ZoneKey::GLOBAL {
            &mut self.gz_holds
        } else {
            // Visibility guarantees the holder is the link's zone.
            if self.zone != holder {
                return Err(Errno::ENOENT);
            }
            self.zone_holder = Some(holder);
            &mut self.zone_holds
        };
        row[slot] = row[slot].checked_add(1).ok_or(Errno::EOVERFLOW)?;
        Ok(())
    }

    /// Drops a holder hold. A release that matches no hold is refused
    /// (`ENOENT`) and changes nothing: never an underflow.
    pub(crate) fn drop_hold(&mut self, kind: HoldKind, holder: ZoneKey) -> KResult<()> {
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let row = if holder == ZoneKey::GLOBAL {
            &mut self.gz_holds
        } else if self.zone_holder == Some(holder) {
            &mut self.zone_holds
        } else {
            return Err(Errno::ENOENT);
        };
        if row[slot] == 0 {
            return Err(Errno::ENOENT);
        }
        row[slot] -= 1;
        if self.zone_holds.iter().all(|&c| c == 0) {
            self.zone_holder = None;
        }
        Ok(())
    }

    /// Forgets every hold taken from inside the zone (forced recovery of
    /// a dead zone) and says which they were.
    pub(crate) fn reclaim_zone_holds(&mut self) -> Vec<Holder> {
        let out = self.zone_holders();
        self.zone_holds = [0; KINDS];
        self.zone_holder = None;
        out
    }

    fn zone_holders(&self) -> Vec<Holder> {
        let mut v = Vec::new();
        if let Some(z) = self.zone_holder {
            for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(self.zone_holds.iter()) {
                if count > 0 {
                    v.push(Holder { kind: *kind, zone: z, count });
                }
            }
        }
        v
    }

    /// Every long hold, the registry's own included, in a fixed order.
    pub(crate) fn holders(&self) -> Vec<Holder> {
        let mut v = Vec::new();
        if self.existence {
            v.push(Holder { kind: HoldKind::Existence, zone: self.owner, count: 1 });
        }
        if self.loan {
            v.push(Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 });
        }
        for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(self.gz_holds.iter()) {
            if count > 0 {
                v.push(Holder { kind: *kind, zone: ZoneKey::GLOBAL, count });
            }
        }
        v.extend(self.zone_holders());
        crate::sort::sort_unstable(&mut v);
        v
    }

    /// Holders other than the registry's own (those that delay a free).
    pub(crate) fn outside_holders(&self) -> Vec<Holder> {
        self.holders()
            .into_iter()
            .filter(|h| !matches!(h.kind, HoldKind::Existence | HoldKind::Loan))
            .collect()
    }
}
