//! One datalink's record (the part of `dls_devnet_t` dlszone owns).
//!
//! A [`Link`] is reference-counted memory (`Arc`): the registry's tables,
//! and every holder, keep it alive. Its mutable state sits behind the
//! per-link mutex (`dd_mutex`'s role; lock level 3 in `docs/locking.md`),
//! so releases touch only this lock and never the registry's table lock.

use core::ops::{Deref, DerefMut};

use crate::errno::{Errno, KResult};
use crate::sync::{Condvar, Deadline, Mutex, MutexGuard, Wake};

use super::unlocked::Unlocked;

use super::types::{HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneKey};
use alloc::vec::Vec;

/// Number of holder kinds counted per row.
const KINDS: usize = HoldKind::HOLDER_KINDS.len();

/// A datalink as the registry tracks it. Lock level 3 (`docs/locking.md`).
///
/// C layout, as is [`LinkInner`], so that a crash dump's reader finds the
/// fields at fixed offsets (`docs/debugging.md`, pinned by `layout`
/// below).
#[repr(C)]
pub struct Link {
    mac: MacName,
    inner: Mutex<LinkInner>,
    /// Signalled when the temporary hold count reaches zero (`dd_cv`).
    drained: Condvar,
}

/// The per-link state, protected by `Link::inner`. C layout (see [`Link`]).
#[repr(C)]
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
    /// Holds taken inside a dead zone that forced recovery discarded and
    /// whose holders have not released them yet (late releases to come).
    pub(crate) reclaimed: u32,
    /// Threads waiting on `drained`: the last temporary release wakes
    /// them only if there are any.
    pub(crate) drain_waiters: u32,
    /// Unique for the registry's life: a notice or a limbo entry can tell
    /// this record from a later one with the same link id.
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

    /// Whether it was created persistent (dlmgmtd's `DLMGMT_PERSIST`).
    pub fn is_persistent(&self) -> bool {
        self.lock().persistent
    }

    /// The life-cycle state.
    pub fn state(&self) -> LinkState {
        self.lock().state
    }

    /// Who holds the link (long holds, including the registry's own).
    pub fn holders(&self) -> Vec<Holder> {
        let h = self.lock().holders();
        h.to_vec()
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
    /// lock held. The waiter is counted while it waits, so the last
    /// temporary release knows whether to wake anyone.
    pub(crate) fn wait_drained<'a>(
        &self,
        g: AloneGuard<'a>,
        how: Drain<'_>,
    ) -> (AloneGuard<'a>, Wake) {
        held::assert_only_one();
        let LinkGuard { mut g, _held } = g.0;
        g.drain_waiters += 1;
        let (mut g, wake) = match how {
            Drain::Wait => (self.drained.wait(g), Wake::Signalled),
            Drain::WaitSig => self.drained.wait_sig(g),
            Drain::Until(deadline) => self.drained.wait_until(g, deadline),
        };
        g.drain_waiters -= 1;
        (AloneGuard(LinkGuard { g, _held }), wake)
    }

    /// Wakes every drain waiter, if there is one; called when the last
    /// temporary hold goes, with the link locked.
    pub(crate) fn notify_drained(&self, l: &LinkInner) {
        // The deliberately broken variant forgets the wake-up, so that the
        // model-checking tests can show they catch it.
        #[cfg(not(dlszone_broken = "missing_wakeup"))]
        if l.drain_waiters > 0 {
            self.drained.notify_all();
        }
        #[cfg(dlszone_broken = "missing_wakeup")]
        let _ = l;
    }
}

/// How a drain wait waits.
#[derive(Clone, Copy)]
pub(crate) enum Drain<'d> {
    /// `cv_wait`.
    Wait,
    /// `cv_wait_sig`.
    WaitSig,
    /// `cv_timedwait` to one deadline for the whole operation.
    Until(&'d Deadline),
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
        serial: u64,
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
            reclaimed: 0,
            drain_waiters: 0,
            serial,
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
            super::observe::link_freed(self);
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

    /// Drops a holder hold that a [`Hold`](super::Hold) token recorded.
    /// A release whose hold forced recovery already discarded is `Late`;
    /// one that matches nothing at all is `Bad`. Neither changes any hold
    /// (a late one only consumes one reclaimed hold): never an underflow.
    pub(crate) fn drop_hold(&mut self, kind: HoldKind, holder: ZoneKey) -> Result<(), Unmatched> {
        let slot = kind.slot().ok_or(Unmatched::Bad)?;
        let row = if holder == ZoneKey::GLOBAL {
            Some(&mut self.gz_holds)
        } else if self.zone_holder == Some(holder) {
            Some(&mut self.zone_holds)
        } else {
            None
        };
        match row {
            Some(row) if row[slot] > 0 => {
                row[slot] -= 1;
                if self.zone_holds.iter().all(|&c| c == 0) {
                    self.zone_holder = None;
                }
                Ok(())
            }
            _ if holder != ZoneKey::GLOBAL && self.reclaimed > 0 => {
                self.reclaimed -= 1;
                Err(Unmatched::Late)
            }
            _ => Err(Unmatched::Bad),
        }
    }

    /// Forgets every hold taken from inside the zone (forced recovery of
    /// a dead zone) and says which they were. Their holders' releases,
    /// when they come, are late.
    pub(crate) fn reclaim_zone_holds(&mut self) -> HoldCounts {
        let out = HoldCounts { zone: self.zone_holder, zh: self.zone_holds, ..HoldCounts::NONE };
        self.reclaimed = self.reclaimed.saturating_add(self.zone_holds.iter().sum());
        self.zone_holds = [0; KINDS];
        self.zone_holder = None;
        out
    }

    /// Every long hold, the registry's own included.
    pub(crate) fn holders(&self) -> HoldCounts {
        HoldCounts {
            existence: self.existence.then_some(self.owner),
            loan: self.loan,
            gz: self.gz_holds,
            zone: self.zone_holder,
            zh: self.zone_holds,
        }
    }

    /// Holders other than the registry's own (those that delay a free).
    pub(crate) fn outside_holders(&self) -> HoldCounts {
        HoldCounts { existence: None, loan: false, ..self.holders() }
    }
}

/// Why a release matched no hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Unmatched {
    /// Forced recovery discarded the hold before its holder let go.
    Late,
    /// Nothing matches: a bug in the caller.
    Bad,
}

/// A link's long holds as counts, copied out under the link's lock (which
/// is never held across an allocation, `docs/locking.md`) and turned into
/// the [`Holder`] list callers see only after it is dropped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HoldCounts {
    /// The existence hold, with the owner zone that took it.
    existence: Option<ZoneKey>,
    loan: bool,
    gz: [u32; KINDS],
    /// The zone whose holds `zh` counts.
    zone: Option<ZoneKey>,
    zh: [u32; KINDS],
}

impl HoldCounts {
    /// No hold at all.
    pub(crate) const NONE: HoldCounts =
        HoldCounts { existence: None, loan: false, gz: [0; KINDS], zone: None, zh: [0; KINDS] };

    /// The holds as `holders()` lists them: kind, zone, count, sorted.
    /// Allocates: call with no lock held.
    pub(crate) fn to_vec(self) -> Vec<Holder> {
        let mut v = Vec::new();
        if let Some(owner) = self.existence {
            v.push(Holder { kind: HoldKind::Existence, zone: owner, count: 1 });
        }
        if self.loan {
            v.push(Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 });
        }
        let rows = [(Some(ZoneKey::GLOBAL), &self.gz), (self.zone, &self.zh)];
        for (zone, counts) in rows {
            let Some(zone) = zone else { continue };
            for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(counts.iter()) {
                if count > 0 {
                    v.push(Holder { kind: *kind, zone, count });
                }
            }
        }
        crate::sort::sort_unstable(&mut v);
        v
    }
}

/// Where a crash dump's reader finds a link's fields (`docs/debugging.md`):
/// offsets in [`LinkInner`], the state every link probe points at, and (in
/// the kernel build) of that state in a `dlszone_link_cache` buffer. The
/// numbers are the documented ones; a layout change fails the build here.
pub mod layout {
    use core::mem::offset_of;

    use super::LinkInner;
    use crate::registry::types::ZoneKey;

    /// `linkid` (`datalink_id_t`, 4 bytes).
    pub const LINKID: usize = 0;
    /// The current name: a length byte, then 31 bytes (not NUL-terminated
    /// when 31 long), after a one-byte `Some`/`None` tag.
    pub const NAME: usize = 4;
    /// The owner zone (`ZoneKey`: `zoneid_t` at +0, `zone_uniqid` at +8).
    pub const OWNER: usize = 40;
    /// The current zone (`ZoneKey`).
    pub const ZONE: usize = 56;
    /// `transient` (one byte, 0 or 1).
    pub const TRANSIENT: usize = 72;
    /// `state` (one byte: 0 initializing, 1 active, 2 condemned, 3
    /// detached, 4 freed).
    pub const STATE: usize = 74;
    /// The existence hold (one byte).
    pub const EXISTENCE: usize = 75;
    /// The loan hold (one byte).
    pub const LOAN: usize = 76;
    /// Global-zone holds: three `uint32_t` (stream, devnet, named).
    pub const GZ_HOLDS: usize = 112;
    /// Holds from inside the link's zone: three `uint32_t`, as above.
    pub const ZONE_HOLDS: usize = 124;
    /// The zone those holds came from: a tag byte (1 when there is one),
    /// then, 8 bytes on, its `ZoneKey`.
    pub const ZONE_HOLDER: usize = 136;
    /// Temporary holds (`uint32_t`).
    pub const TMP: usize = 160;
    /// Holds forced recovery reclaimed whose releases are still to come.
    pub const RECLAIMED: usize = 172;
    /// The record's serial (`uint64_t`).
    pub const SERIAL: usize = 184;

    const _: () = {
        assert!(offset_of!(LinkInner, linkid) == LINKID);
        assert!(offset_of!(LinkInner, name) == NAME);
        assert!(offset_of!(LinkInner, owner) == OWNER);
        assert!(offset_of!(LinkInner, zone) == ZONE);
        assert!(offset_of!(LinkInner, transient) == TRANSIENT);
        assert!(offset_of!(LinkInner, state) == STATE);
        assert!(offset_of!(LinkInner, existence) == EXISTENCE);
        assert!(offset_of!(LinkInner, loan) == LOAN);
        assert!(offset_of!(LinkInner, gz_holds) == GZ_HOLDS);
        assert!(offset_of!(LinkInner, zone_holds) == ZONE_HOLDS);
        assert!(offset_of!(LinkInner, zone_holder) == ZONE_HOLDER);
        assert!(offset_of!(LinkInner, tmp) == TMP);
        assert!(offset_of!(LinkInner, reclaimed) == RECLAIMED);
        assert!(offset_of!(LinkInner, serial) == SERIAL);
        assert!(offset_of!(ZoneKey, uniqid) == 8);
    };

    /// The state's offset in a `dlszone_link_cache` buffer: the `Arc`
    /// cell's count and cache (16 bytes), the MAC name (16), the mutex's
    /// lock-word cell (8).
    #[cfg(kmod)]
    pub const IN_BUFFER: usize = 40;

    /// A `dlszone_link_cache` buffer's size (`::kmem_cache` shows it).
    #[cfg(kmod)]
    pub const BUFFER_SIZE: usize = 240;

    #[cfg(kmod)]
    const _: () = {
        assert!(
            crate::kmod::arc::LINK_VALUE_OFFSET + offset_of!(super::Link, inner) + 8 == IN_BUFFER
        );
        assert!(core::mem::size_of::<super::Link>() + 16 == BUFFER_SIZE);
    };
}
