//! One datalink's record (the part of `dls_devnet_t` dlszone owns).
//!
//! A [`Link`] is reference-counted memory (`Arc`): the registry's tables,
//! and every holder, keep it alive. It is one allocation: its MAC name is
//! inline ([`MacName`]), and in the kernel so are its mutex and condition
//! variable (`kernel/sync/illumos.rs`); there the allocation is a buffer
//! of the kmem cache `dlszone_link_cache` (`kernel/kmod/cache.rs`), and
//! its C layout is pinned for mdb ([`layout`], `docs/debugging.md`).
//!
//! Its fields fall in four groups, each with its own rule:
//!
//! - **Fixed**: the MAC name and the serial, set at creation.
//! - **Tabled state**: the link id, name, zone, life-cycle state and flags
//!   (one [`Word`]), the zone list links. Changed only with the table lock
//!   held as writer, and read with it held (as reader or writer): lookups
//!   and holds, which hold the table lock as reader, read them without the
//!   link's mutex. The name and the zone, which a caller holding only a
//!   record reads together (`Link::name`, `Link::zone`), change with the
//!   link's mutex held too (a [`LinkGuard`]), so that caller gets a
//!   consistent value from the mutex. (The zone list links are the
//!   table's alone.) A detached link is in no table: its state changes
//!   once more, from detached to freed, by compare-and-swap
//!   ([`Link::settle`]), so exactly one of the parties that may free it
//!   does.
//! - **Hold counts** ([`HoldRow`]s, the temporary count): atomic, changed
//!   by compare-and-swap. A hold takes the table lock as reader and one
//!   compare-and-swap; a release takes no lock at all, only its
//!   compare-and-swap (the roles of `dd_ref`, `dd_tref` and `dd_mutex`).
//! - **Slow state** ([`Slow`]): behind the link's mutex (lock level 3 in
//!   `docs/locking.md`), for what only rare paths touch.
//!
//! Every field is an atomic (or behind the mutex), so no reader can see a
//! torn value however the rules above are broken: they keep values
//! *consistent* with each other, memory safety needs no rule.
//!
//! Two lock-free exchanges must not miss each other:
//!
//! - A release that takes a detached link's last hold frees it
//!   ([`Link::settle`]). The releaser changes a count (a
//!   read-modify-write), then loads the state; the detacher stores the
//!   state, then reads each count that is not already 0 with a
//!   read-modify-write (`Link::unheld`). Read-modify-writes of one count
//!   are totally ordered: if the detacher's comes first, the releaser's
//!   reads from it and so sees the detached state; otherwise the detacher
//!   sees the release. (Acquire and release orderings suffice for that,
//!   where a plain load in the detacher would need sequential
//!   consistency.) A count already 0 needs no such read: a detached link
//!   takes no new hold, so 0 stays 0, and there is no release to meet.
//! - The last temporary release wakes a draining destroy ([`Link::drain`],
//!   [`Link::put_tmp`]). Drainers are counted in the same atomic word as
//!   the temporary holds, so the release that takes the count to zero sees
//!   whether anyone drains, and a drainer sees whether any hold is left.

use core::ops::Deref;
use core::sync::atomic::{AtomicU32 as TabledU32, AtomicU64 as TabledU64, Ordering::Relaxed};

use crate::errno::{Errno, KResult};
use crate::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Release, SeqCst},
};
use crate::sync::{Condvar, Deadline, Mutex, MutexGuard, Wake};

use super::types::{HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneId, ZoneKey};

/// The bits of a `zone_uniqid` a hold token keeps (`holds.rs`).
pub(crate) const UNIQID48: u64 = (1 << 48) - 1;
use super::unlocked::Unlocked;
use alloc::vec::Vec;

/// A datalink as the registry tracks it. See the module doc for which
/// rule guards which field.
///
/// C layout, so that a crash dump's reader finds the fields at fixed
/// offsets (`docs/debugging.md`, pinned by [`layout`] below).
#[repr(C)]
pub struct Link {
    mac: MacName,
    /// Unique for the registry's life: a notice or a limbo entry can tell
    /// this record from a later one with the same link id.
    serial: u64,
    /// Tabled: the link id (`DATALINK_INVALID_LINKID` while pending).
    id: TabledU32,
    /// Tabled: state, flags and zone id ([`Word`]). Stored with release
    /// and loaded with acquire ordering, for the releases that read it
    /// with no lock.
    word: AtomicU32,
    /// Tabled: the `zone_uniqid` of the zone the link is in.
    uniqid: TabledU64,
    /// Tabled: the name in the current zone ([`LinkName::to_words`]; all
    /// zeros while pending).
    name: [TabledU64; 4],
    /// The table's: neighbours in the zone's link list
    /// (`DATALINK_INVALID_LINKID`: none).
    next: TabledU32,
    prev: TabledU32,
    /// Holds taken from the global zone, by kind.
    gz: HoldRow,
    /// Holds taken from inside the link's zone, by kind, under the zone's
    /// mark.
    zh: HoldRow,
    /// Temporary holds (`dd_tref`: no provenance, never block destroy,
    /// waited for before a destroy completes) in the low half, and the
    /// threads draining them (in [`Link::drain`]) in the high half, so
    /// the last temporary release wakes drainers only if there are any.
    tmp: AtomicU64,
    slow: Mutex<Slow>,
    /// Signalled when the temporary hold count reaches zero (`dd_cv`).
    drained: Condvar,
}

// 136 bytes in both backends (`docs/performance.md` counts them): the lock
// words are inline, an 8-byte `kmutex_t` and a 2-byte `kcondvar_t` in the
// kernel, std's 4-byte futex mutex and a condvar with its waiter count on
// the host (the model checkers' locks differ).
#[cfg(not(any(loom, shuttle)))]
const _: () = assert!(core::mem::size_of::<Link>() == 136);

/// What the link's mutex guards alone. C layout (see [`Link`]).
#[derive(Default)]
#[repr(C)]
pub(crate) struct Slow {
    /// Holds taken inside a dead zone that forced recovery discarded and
    /// whose holders have not released them yet (late releases to come).
    pub(crate) reclaimed: u32,
    /// Notices about this link still in the outbox: a new move must wait
    /// until dlmgmtd has seen them, so notices never overtake each other.
    pub(crate) pending_notices: u32,
}

// ---- the word: state, flags, zone ------------------------------------------

/// A link's state, flags and zone id, packed in one `u32` so a hold
/// checks them with one load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Word(u32);

const STATE: u32 = 0b111;
/// Goes away with its zone instead of returning to the global zone.
const TRANSIENT: u32 = 1 << 3;
/// Created persistent (fixed).
const PERSISTENT: u32 = 1 << 4;
/// The existence hold: taken at create, dropped at destroy or teardown.
const EXISTENCE: u32 = 1 << 5;
/// The loan hold: taken when the global zone lends the link.
const LOAN: u32 = 1 << 6;
/// A lend or return of this link is between its two phases (its dlmgmtd
/// upcall is in flight).
const BUSY: u32 = 1 << 7;
/// The link's zone is halting or down: no hold from inside it.
const DOWN: u32 = 1 << 8;
/// The link's owner is its zone (a link created in a non-global zone,
/// which never leaves it); otherwise the global zone.
const OWNED: u32 = 1 << 9;
const ZONE_SHIFT: u32 = 16;

impl Word {
    pub(crate) fn state(self) -> LinkState {
        match self.0 & STATE {
            0 => LinkState::Initializing,
            1 => LinkState::Active,
            2 => LinkState::Condemned,
            3 => LinkState::Detached,
            _ => LinkState::Freed,
        }
    }

    pub(crate) fn with_state(self, s: LinkState) -> Word {
        let bits = match s {
            LinkState::Initializing => 0,
            LinkState::Active => 1,
            LinkState::Condemned => 2,
            LinkState::Detached => 3,
            LinkState::Freed => 4,
        };
        Word(self.0 & !STATE | bits)
    }

    /// The id of the zone the link is in. Zone ids are at most
    /// `MAX_ZONEID` (validated on entry), so 16 bits hold them.
    pub(crate) fn zone_id(self) -> ZoneId {
        ZoneId((self.0 >> ZONE_SHIFT) as i32)
    }

    fn with_zone_id(self, z: ZoneId) -> Word {
        Word(self.0 & ((1 << ZONE_SHIFT) - 1) | ((z.0 as u32 & 0xffff) << ZONE_SHIFT))
    }

    fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }

    fn with(self, flag: u32, on: bool) -> Word {
        if on { Word(self.0 | flag) } else { Word(self.0 & !flag) }
    }

    pub(crate) fn transient(self) -> bool {
        self.has(TRANSIENT)
    }
    pub(crate) fn persistent(self) -> bool {
        self.has(PERSISTENT)
    }
    pub(crate) fn existence(self) -> bool {
        self.has(EXISTENCE)
    }
    pub(crate) fn loan(self) -> bool {
        self.has(LOAN)
    }
    pub(crate) fn busy(self) -> bool {
        self.has(BUSY)
    }
    pub(crate) fn down(self) -> bool {
        self.has(DOWN)
    }
    /// Owned by its zone, not by the global zone.
    pub(crate) fn owned(self) -> bool {
        self.has(OWNED)
    }
    /// Lent out by the global zone (in another zone than its owner).
    pub(crate) fn lent(self) -> bool {
        !self.owned() && !self.zone_id().is_global()
    }

    pub(crate) fn with_transient(self, on: bool) -> Word {
        self.with(TRANSIENT, on)
    }
    pub(crate) fn with_existence(self, on: bool) -> Word {
        self.with(EXISTENCE, on)
    }
    pub(crate) fn with_loan(self, on: bool) -> Word {
        self.with(LOAN, on)
    }
    pub(crate) fn with_busy(self, on: bool) -> Word {
        self.with(BUSY, on)
    }
    pub(crate) fn with_down(self, on: bool) -> Word {
        self.with(DOWN, on)
    }
}

// ---- hold counts -----------------------------------------------------------

/// Number of holder kinds counted per row.
const KINDS: usize = HoldKind::HOLDER_KINDS.len();
/// Bits per count in a [`HoldRow`].
const LANE: u32 = 16;
const LANE_MAX: u64 = (1 << LANE) - 1;
/// The lane that holds the row's owner mark.
const MARK: u32 = KINDS as u32;
/// The owner mark's bits of a row.
const MARK_MASK: u64 = LANE_MAX << (MARK * LANE);

/// One side's long holds on a link, by kind, in one atomic word: three
/// 16-bit counts (`EOVERFLOW` past 65,535 holds of one kind from one
/// side) and a 16-bit mark of whose holds they are. Every change is one
/// compare-and-swap.
///
/// The zone side's mark is the low 16 bits of the `zone_uniqid` of the
/// zone the link is in ([`owner_mark`]), inverted once forced recovery
/// has reclaimed that zone's holds. A release takes a count only under
/// its own zone's mark, in the same compare-and-swap: one whose hold was
/// reclaimed meanwhile never takes a hold of the link's next zone, even
/// if the link has moved on between its check of the zone and its
/// release. (A mistake would take the release racing a recovery, a
/// return, a lend and a new hold, and a zone 65,536 boots younger.) The
/// global zone's row is always marked 0.
pub(crate) struct HoldRow(AtomicU64);

fn lane(v: u64, i: u32) -> u64 {
    (v >> (i * LANE)) & LANE_MAX
}

/// The mark of the zone side's row while the link is in the zone whose
/// `zone_uniqid` is `uniqid`.
pub(crate) fn owner_mark(uniqid: u64) -> u64 {
    uniqid & LANE_MAX
}

impl HoldRow {
    fn new() -> HoldRow {
        HoldRow(AtomicU64::new(0))
    }

    /// Counts one hold of the kind in lane `slot`. `EOVERFLOW` if the
    /// count is full.
    pub(crate) fn take(&self, slot: usize) -> KResult<()> {
        let i = slot as u32;
        let mut v = self.0.load(SeqCst);
        loop {
            if lane(v, i) == LANE_MAX {
                return Err(Errno::EOVERFLOW);
            }
            match self.0.compare_exchange_weak(v, v + (1 << (i * LANE)), SeqCst, SeqCst) {
                Ok(_) => return Ok(()),
                Err(now) => v = now,
            }
        }
    }

    /// Takes back one hold of the kind in lane `slot` counted under
    /// `mark`; false (and nothing changes) if there is none.
    pub(crate) fn put(&self, slot: usize, mark: u64) -> bool {
        let i = slot as u32;
        let mut v = self.0.load(SeqCst);
        loop {
            if lane(v, MARK) != mark || lane(v, i) == 0 {
                return false;
            }
            match self.0.compare_exchange_weak(v, v - (1 << (i * LANE)), SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// The counts, by kind.
    pub(crate) fn counts(&self) -> [u32; KINDS] {
        let v = self.0.load(SeqCst);
        let mut out = [0; KINDS];
        for (i, c) in out.iter_mut().enumerate() {
            *c = lane(v, i as u32) as u32;
        }
        out
    }

    /// All holds of the row.
    pub(crate) fn total(&self) -> u32 {
        self.counts().iter().sum()
    }

    /// Marks the row for a new owner zone. Its counts are 0 (the zone of a
    /// link changes only with no hold from inside it, and none can be
    /// taken meanwhile: the table lock is held as writer).
    fn set_owner(&self, mark: u64) {
        debug_assert_eq!(
            self.0.load(SeqCst) & !MARK_MASK,
            0,
            "a zone change with holds from inside the zone"
        );
        self.0.store(mark << (MARK * LANE), Release);
    }

    /// Forgets every hold of the row and inverts its mark (no release of
    /// them matches any more); returns the counts forgotten.
    fn reclaim(&self) -> [u32; KINDS] {
        let mut v = self.0.load(SeqCst);
        loop {
            let mark = lane(v, MARK) ^ LANE_MAX;
            match self.0.compare_exchange_weak(v, mark << (MARK * LANE), SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        let mut out = [0; KINDS];
        for (i, c) in out.iter_mut().enumerate() {
            *c = lane(v, i as u32) as u32;
        }
        out
    }
}

/// One drainer in [`Link::tmp`]'s high half.
const DRAINER: u64 = 1 << 32;

/// The temporary holds in a value of [`Link::tmp`].
fn tmp_count(v: u64) -> u32 {
    v as u32
}

/// Reads an atomic with a read-modify-write that changes nothing, so the
/// value read is the latest in the atomic's modification order (see the
/// module doc).
fn read_latest(a: &AtomicU64) -> u64 {
    a.fetch_add(0, SeqCst)
}

// ---- the record ----------------------------------------------------------

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never blocks: a Debug print must not wait on the link's mutex.
        f.debug_struct("Link").field("mac", &self.mac).finish_non_exhaustive()
    }
}

impl Link {
    /// A fresh record in the global zone with its existence hold: active
    /// with a name, pending (initializing) without one.
    /// `name` is the name's words ([`LinkName::to_words`]), all zeros for
    /// none.
    pub(crate) fn new(
        mac: MacName,
        linkid: LinkId,
        name: [u64; 4],
        persistent: bool,
        serial: u64,
    ) -> Link {
        let state = if name[0] != 0 { LinkState::Active } else { LinkState::Initializing };
        let word = Word(EXISTENCE).with(PERSISTENT, persistent).with_state(state);
        let words = name;
        Link {
            mac,
            serial,
            id: TabledU32::new(linkid.0),
            word: AtomicU32::new(word.0),
            uniqid: TabledU64::new(0),
            name: words.map(TabledU64::new),
            next: TabledU32::new(LinkId::INVALID.0),
            prev: TabledU32::new(LinkId::INVALID.0),
            gz: HoldRow::new(),
            zh: HoldRow::new(),
            tmp: AtomicU64::new(0),
            slow: Mutex::new(Slow::default()),
            drained: Condvar::new(),
        }
    }

    // ---- the public view (any thread, no lock held) ----

    /// The MAC name (immutable).
    pub fn mac(&self) -> &MacName {
        &self.mac
    }

    /// The link id.
    pub fn linkid(&self) -> LinkId {
        LinkId(self.id.load(Relaxed))
    }

    /// The name in the current zone.
    pub fn name(&self) -> Option<LinkName> {
        self.lock().name_locked()
    }

    /// The zone the link is in now.
    pub fn zone(&self) -> ZoneKey {
        self.lock().zone_locked()
    }

    /// The zone that created the link.
    pub fn owner(&self) -> ZoneKey {
        self.lock().owner_locked()
    }

    /// Whether the link goes away with its zone instead of returning.
    pub fn is_transient(&self) -> bool {
        self.word().transient()
    }

    /// Whether it was created persistent (dlmgmtd's `DLMGMT_PERSIST`).
    pub fn is_persistent(&self) -> bool {
        self.word().persistent()
    }

    /// The life-cycle state.
    pub fn state(&self) -> LinkState {
        self.word().state()
    }

    /// Who holds the link (long holds, including the registry's own).
    pub fn holders(&self) -> Vec<Holder> {
        let h = self.lock().holds_locked();
        h.to_vec()
    }

    /// Temporary holds outstanding.
    pub fn tmp_holds(&self) -> u32 {
        tmp_count(self.tmp.load(SeqCst))
    }

    // ---- tabled state: the table lock or the link's mutex held ----

    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// State, flags and zone id.
    pub(crate) fn word(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    /// The name in the current zone.
    pub(crate) fn name_locked(&self) -> Option<LinkName> {
        LinkName::from_words(self.name_words())
    }

    /// The name in the current zone as words ([`LinkName::to_words`]).
    pub(crate) fn name_words(&self) -> [u64; 4] {
        self.name.each_ref().map(|w| w.load(Relaxed))
    }

    /// Whether the link's name has these words ([`LinkName::to_words`]).
    pub(crate) fn name_is(&self, words: &[u64; 4]) -> bool {
        self.name.iter().zip(words).all(|(w, n)| w.load(Relaxed) == *n)
    }

    /// The zone the link is in.
    pub(crate) fn zone_locked(&self) -> ZoneKey {
        ZoneKey { id: self.word().zone_id(), uniqid: self.uniqid.load(Relaxed) }
    }

    /// The zone that created the link.
    pub(crate) fn owner_locked(&self) -> ZoneKey {
        if self.word().owned() { self.zone_locked() } else { ZoneKey::GLOBAL }
    }

    /// Holder-kind holds from anyone.
    pub(crate) fn holder_holds(&self) -> u32 {
        self.gz.total() + self.zh.total()
    }

    /// Holder-kind holds taken from inside the link's zone.
    pub(crate) fn zone_side_holds(&self) -> u32 {
        self.zh.total()
    }

    /// Every long hold, the registry's own included.
    pub(crate) fn holds_locked(&self) -> HoldCounts {
        let w = self.word();
        HoldCounts {
            owner: self.owner_locked(),
            zone: self.zone_locked(),
            gz: lanes(self.gz.counts()),
            zh: lanes(self.zh.counts()),
            existence: w.existence(),
            loan: w.loan(),
        }
    }

    /// Holders other than the registry's own (those that delay a free).
    pub(crate) fn outside_holders(&self) -> HoldCounts {
        HoldCounts { existence: false, loan: false, ..self.holds_locked() }
    }

    /// No hold of any sort remains. A detached link takes no new hold, so
    /// its counts only fall: a count read as 0 is 0. One read as more is
    /// read again as the latest in its order (see the module doc), which a
    /// release racing the detach then reads after.
    fn unheld(&self) -> bool {
        let w = self.word();
        let none =
            |a: &AtomicU64, of: fn(u64) -> u64| of(a.load(SeqCst)) == 0 || of(read_latest(a)) == 0;
        !w.existence()
            && !w.loan()
            && none(&self.tmp, |v| u64::from(tmp_count(v)))
            && none(&self.gz.0, |v| v & !MARK_MASK)
            && none(&self.zh.0, |v| v & !MARK_MASK)
    }

    // ---- the zone list: the table lock alone ----

    pub(crate) fn next(&self) -> LinkId {
        LinkId(self.next.load(Relaxed))
    }

    pub(crate) fn prev(&self) -> LinkId {
        LinkId(self.prev.load(Relaxed))
    }

    /// Table lock held as writer.
    pub(crate) fn set_next(&self, id: LinkId) {
        self.next.store(id.0, Relaxed);
    }

    /// Table lock held as writer.
    pub(crate) fn set_prev(&self, id: LinkId) {
        self.prev.store(id.0, Relaxed);
    }

    // ---- holds: lock-free ----

    /// Counts a long hold of the kind in lane `slot` from the global zone
    /// (`zone_side` false) or from inside the link's zone. The table lock
    /// is held as reader (the link is active and visible).
    pub(crate) fn take_hold(&self, slot: usize, zone_side: bool) -> KResult<()> {
        if zone_side { self.zh.take(slot) } else { self.gz.take(slot) }
    }

    /// Takes back a long hold a token recorded: of the kind in lane
    /// `slot`, from the global zone (`zone` 0) or from inside zone `zone`
    /// whose `zone_uniqid`'s low 48 bits are `uniqid48`. False (nothing
    /// changed) if it matches no hold counted now. No lock needed.
    pub(crate) fn put_hold(&self, slot: usize, zone: ZoneId, uniqid48: u64) -> bool {
        if zone.is_global() {
            return self.gz.put(slot, 0);
        }
        // The zone cannot change while a hold from inside it is counted,
        // so if this one is, the link is in the holder's zone now.
        let now = self.zone_locked();
        now.id == zone
            && now.uniqid & UNIQID48 == uniqid48
            && self.zh.put(slot, owner_mark(uniqid48))
    }

    /// Counts a temporary hold (`EOVERFLOW` when full). The table lock
    /// is held as reader.
    pub(crate) fn take_tmp(&self) -> KResult<()> {
        let mut v = self.tmp.load(SeqCst);
        loop {
            if tmp_count(v) == u32::MAX {
                return Err(Errno::EOVERFLOW);
            }
            match self.tmp.compare_exchange_weak(v, v + 1, SeqCst, SeqCst) {
                Ok(_) => return Ok(()),
                Err(now) => v = now,
            }
        }
    }

    /// Takes back a temporary hold; false if there was none. The last one
    /// wakes the drainers, if any, under the mutex (so a drainer between
    /// its check and its sleep is not missed). No lock held.
    pub(crate) fn put_tmp(&self) -> bool {
        let mut v = self.tmp.load(SeqCst);
        loop {
            if tmp_count(v) == 0 {
                return false;
            }
            match self.tmp.compare_exchange_weak(v, v - 1, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        // The deliberately broken variant forgets the wake-up, so that the
        // model-checking tests can show they catch it.
        #[cfg(not(dlszone_broken = "missing_wakeup"))]
        if tmp_count(v) == 1 && v >= DRAINER {
            let _g = self.lock();
            self.drained.notify_all();
        }
        true
    }

    /// Whether a release must look at freeing the link: it is detached.
    /// Read after the release's compare-and-swap (see the module doc).
    pub(crate) fn detached(&self) -> bool {
        self.word().state() == LinkState::Detached
    }

    // ---- locking ----

    /// Locks the link inside a table section (level 2 held), or for a
    /// release (nothing held). Never nest two link locks.
    pub(crate) fn lock(&self) -> LinkGuard<'_> {
        let g = self.slow.lock();
        LinkGuard { link: self, slow: g, _held: held::Held::new() }
    }

    /// Waits, with only this link's mutex held (the proof says no other
    /// registry lock is), until its temporary holds are gone, as `how`
    /// says (`dd_cv`). The waiter is counted while it drains, so the last
    /// temporary release knows whether to wake anyone.
    pub(crate) fn drain(&self, _cx: &mut Unlocked, how: Drain<'_>) -> Drained {
        let mut l = self.lock();
        held::assert_only_one();
        let mut v = self.tmp.fetch_add(DRAINER, SeqCst);
        let out = loop {
            if tmp_count(v) == 0 {
                break Drained::Done;
            }
            let LinkGuard { link, slow, _held } = l;
            let (slow, wake) = match how {
                Drain::Wait => (self.drained.wait(slow), Wake::Signalled),
                Drain::WaitSig => self.drained.wait_sig(slow),
                Drain::Until(deadline) => self.drained.wait_until(slow, deadline),
            };
            l = LinkGuard { link, slow, _held };
            v = self.tmp.load(SeqCst);
            match wake {
                Wake::Interrupted if tmp_count(v) > 0 => break Drained::Interrupted,
                Wake::TimedOut if tmp_count(v) > 0 => break Drained::TimedOut,
                _ => {}
            }
        };
        self.tmp.fetch_sub(DRAINER, SeqCst);
        out
    }
}

/// How a drain waits.
#[derive(Clone, Copy)]
pub(crate) enum Drain<'d> {
    /// `cv_wait`.
    Wait,
    /// `cv_wait_sig`.
    WaitSig,
    /// `cv_timedwait` to one deadline for the whole operation.
    Until(&'d Deadline),
}

/// How a drain ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Drained {
    /// No temporary hold is left.
    Done,
    /// A signal came first (`Drain::WaitSig`).
    Interrupted,
    /// The deadline passed first (`Drain::Until`).
    TimedOut,
}

/// A held link lock (level 3 in `docs/locking.md`): the link's slow state,
/// and with the table lock held as writer, the right to change its tabled
/// state.
pub(crate) struct LinkGuard<'a> {
    link: &'a Link,
    pub(crate) slow: MutexGuard<'a, Slow>,
    _held: held::Held,
}

impl Deref for LinkGuard<'_> {
    type Target = Link;
    fn deref(&self) -> &Link {
        self.link
    }
}

impl Link {
    fn store_word(&self, f: impl FnOnce(Word) -> Word) {
        let w = f(self.word());
        self.word.store(w.0, Release);
    }

    /// Changes the state and flags (not the zone: [`LinkGuard::set_zone`]).
    /// Table lock held as writer.
    pub(crate) fn update(&self, f: impl FnOnce(Word) -> Word) {
        self.store_word(f);
    }

    /// Detached and nobody left: the record is dead. Returns true on the
    /// transition (a compare-and-swap, so exactly one caller sees it and
    /// removes it from limbo).
    pub(crate) fn settle(&self) -> bool {
        let w = self.word();
        if w.state() != LinkState::Detached || !self.unheld() {
            return false;
        }
        let freed = w.with_state(LinkState::Freed);
        let won = self.word.compare_exchange(w.0, freed.0, AcqRel, Acquire).is_ok();
        if won {
            super::observe::link_freed(self);
        }
        won
    }

    fn store_zone(&self, zone: ZoneKey) {
        self.uniqid.store(zone.uniqid, Relaxed);
        self.zh.set_owner(owner_mark(zone.uniqid));
        self.store_word(|w| w.with_zone_id(zone.id).with_down(false));
    }

    /// Marks the link's zone halting or down: no hold from inside it any
    /// more. A flag alone, which no reader of the zone or name needs with
    /// them: the table lock held as writer is enough.
    pub(crate) fn mark_down(&self) {
        self.store_word(|w| w.with_down(true));
    }

    /// Places a new link in its owner zone `owner` (which created it; a
    /// link born outside the global zone is transient and stays there).
    /// The record is not tabled yet and its creator holds its only
    /// reference, so no other thread can see it: no lock is needed. The
    /// table lock is held as writer (the zone's incarnation is current).
    pub(crate) fn place_new(&self, owner: ZoneKey) {
        let born_outside = owner != ZoneKey::GLOBAL;
        self.store_zone(owner);
        self.store_word(|w| w.with(OWNED, born_outside).with_transient(born_outside));
    }
}

impl LinkGuard<'_> {
    /// Changes the word. Table lock held as writer, or the link detached.
    pub(crate) fn update(&mut self, f: impl FnOnce(Word) -> Word) {
        self.link.store_word(f);
    }

    /// Sets the state (as [`update`](Self::update)).
    pub(crate) fn set_state(&mut self, s: LinkState) {
        self.update(|w| w.with_state(s));
    }

    /// Sets the link id. Table lock held as writer.
    pub(crate) fn set_linkid(&mut self, id: LinkId) {
        self.link.id.store(id.0, Relaxed);
    }

    /// Sets the name. Table lock held as writer.
    pub(crate) fn set_name(&mut self, name: Option<LinkName>) {
        self.set_name_words(name.map_or([0; 4], LinkName::to_words));
    }

    /// Sets the name from its words ([`LinkName::to_words`]). Table lock
    /// held as writer.
    pub(crate) fn set_name_words(&mut self, words: [u64; 4]) {
        for (w, n) in self.link.name.iter().zip(words) {
            w.store(n, Relaxed);
        }
    }

    /// Moves the link into `zone` (its zone list is the caller's): not
    /// down, as links enter running zones only. Table lock held as writer.
    pub(crate) fn set_zone(&mut self, zone: ZoneKey) {
        self.link.store_zone(zone);
    }

    /// Forgets every hold taken from inside the zone (forced recovery of
    /// a dead zone) and says which they were. Their holders' releases,
    /// when they come, are late.
    pub(crate) fn reclaim_zone_holds(&mut self) -> HoldCounts {
        let zone = self.link.zone_locked();
        let zh = self.link.zh.reclaim();
        let n: u32 = zh.iter().sum();
        self.slow.reclaimed = self.slow.reclaimed.saturating_add(n);
        HoldCounts { zone, zh: lanes(zh), ..HoldCounts::NONE }
    }

    /// A release whose token matched no hold counted now (`put_hold`
    /// failed): `Late` if forced recovery discarded holds from inside a
    /// zone that are still to be released (one of them is consumed),
    /// otherwise `Bad`. Never changes a count.
    pub(crate) fn unmatched(&mut self, holder: ZoneId) -> Unmatched {
        if !holder.is_global() && self.slow.reclaimed > 0 {
            self.slow.reclaimed -= 1;
            return Unmatched::Late;
        }
        Unmatched::Bad
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
    /// The zone that owns the link (holds the existence hold).
    owner: ZoneKey,
    /// The zone whose holds `zh` counts (the link's).
    zone: ZoneKey,
    gz: [u16; KINDS],
    zh: [u16; KINDS],
    existence: bool,
    loan: bool,
}

/// A row's counts as the 16-bit lanes they are.
fn lanes(c: [u32; KINDS]) -> [u16; KINDS] {
    c.map(|c| c as u16)
}

impl HoldCounts {
    /// No hold at all.
    pub(crate) const NONE: HoldCounts = HoldCounts {
        owner: ZoneKey::GLOBAL,
        zone: ZoneKey::GLOBAL,
        gz: [0; KINDS],
        zh: [0; KINDS],
        existence: false,
        loan: false,
    };

    /// No hold at all.
    pub(crate) fn is_none(&self) -> bool {
        let none = [0; KINDS];
        !self.existence && !self.loan && self.gz == none && self.zh == none
    }

    /// The holds as `holders()` lists them: kind, zone, count, sorted.
    /// Allocates (unless there is none): call with no lock held.
    pub(crate) fn to_vec(self) -> Vec<Holder> {
        if self.is_none() {
            return Vec::new();
        }
        let mut v = Vec::new();
        if self.existence {
            v.push(Holder { kind: HoldKind::Existence, zone: self.owner, count: 1 });
        }
        if self.loan {
            v.push(Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 });
        }
        for (zone, counts) in [(ZoneKey::GLOBAL, &self.gz), (self.zone, &self.zh)] {
            for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(counts.iter()) {
                if count > 0 {
                    v.push(Holder { kind: *kind, zone, count: u32::from(count) });
                }
            }
        }
        crate::sort::sort_unstable(&mut v);
        v
    }
}

/// Where a crash dump's reader finds a link's fields (`docs/debugging.md`):
/// offsets in [`Link`], whose address is the `link` argument of every link
/// probe, and (in the kernel build) of the `Link` in a `dlszone_link_cache`
/// buffer. The numbers are the documented ones; a layout change fails the
/// build here. (The model checkers' atomics and locks differ, so the
/// checks apply to the real backends only.)
pub mod layout {
    /// The MAC name: a tag byte (0 inline, 1 shared); inline, its length
    /// at +1 and its bytes, NUL-terminated, at +2; shared, a pointer at
    /// +8 to an `Arc` cell whose bytes (NUL-terminated) are 16 bytes in,
    /// and their length with the NUL at +16.
    pub const MAC: usize = 0;
    /// The record's serial (`uint64_t`, unique for the registry's life).
    pub const SERIAL: usize = 24;
    /// The link id (`datalink_id_t`, 4 bytes; 0 while pending).
    pub const LINKID: usize = 32;
    /// The state word (`uint32_t`): the state in bits 0-2 ([`STATE_MASK`]),
    /// flags ([`TRANSIENT`] ... [`OWNED`]), and the id of the zone the
    /// link is in in bits 16-31 (a `uint16_t` at [`ZONE_ID`]).
    pub const WORD: usize = 36;
    /// The zone id as a `uint16_t` (the word's high half).
    pub const ZONE_ID: usize = 38;
    /// The `zone_uniqid` of the zone the link is in (`uint64_t`).
    pub const UNIQID: usize = 40;
    /// The current name: 32 bytes, zero-padded (NUL-terminated: a name
    /// has at most 31 bytes); all zeros while pending.
    pub const NAME: usize = 48;
    /// The next and previous link ids in the zone's list (`datalink_id_t`;
    /// 0: none).
    pub const NEXT: usize = 80;
    /// See [`NEXT`].
    pub const PREV: usize = 84;
    /// Holds from the global zone: four `uint16_t`, stream, devnet, named
    /// and a mark (always 0 here).
    pub const GZ_HOLDS: usize = 88;
    /// Holds from inside the link's zone, as [`GZ_HOLDS`]; the mark is
    /// the low 16 bits of that zone's `zone_uniqid`, inverted once forced
    /// recovery reclaimed its holds.
    pub const ZONE_HOLDS: usize = 96;
    /// Temporary holds (`uint32_t`), then threads draining them
    /// (`uint32_t`).
    pub const TMP: usize = 104;
    /// The link's mutex: an inline `kmutex_t` in the kernel.
    pub const MUTEX: usize = 112;
    /// Holds forced recovery reclaimed whose releases are still to come
    /// (`uint32_t`, under the mutex; kernel layout).
    pub const RECLAIMED: usize = 120;
    /// Notices about the link still in the outbox (`uint32_t`, under the
    /// mutex; kernel layout).
    pub const PENDING_NOTICES: usize = 124;
    /// The drain condition variable: an inline `kcondvar_t` in the kernel.
    pub const CONDVAR: usize = 128;
    /// The record's size.
    pub const SIZE: usize = 136;

    /// The state's bits in the word: 0 initializing, 1 active, 2
    /// condemned, 3 detached, 4 freed.
    pub const STATE_MASK: u32 = super::STATE;
    /// Word flag: goes away with its zone.
    pub const TRANSIENT: u32 = super::TRANSIENT;
    /// Word flag: created persistent.
    pub const PERSISTENT: u32 = super::PERSISTENT;
    /// Word flag: the existence hold.
    pub const EXISTENCE: u32 = super::EXISTENCE;
    /// Word flag: the loan hold (lent by the global zone).
    pub const LOAN: u32 = super::LOAN;
    /// Word flag: a move's dlmgmtd upcall is in flight.
    pub const BUSY: u32 = super::BUSY;
    /// Word flag: the link's zone is halting or down.
    pub const DOWN: u32 = super::DOWN;
    /// Word flag: owned by the zone it is in (made there); otherwise by
    /// the global zone.
    pub const OWNED: u32 = super::OWNED;

    #[cfg(not(any(loom, shuttle)))]
    const _: () = {
        use super::{Link, Slow};
        use crate::registry::types::{LinkState, ZoneKey};
        use core::mem::{offset_of, size_of};
        assert!(offset_of!(Link, mac) == MAC);
        assert!(offset_of!(Link, serial) == SERIAL);
        assert!(offset_of!(Link, id) == LINKID);
        assert!(offset_of!(Link, word) == WORD);
        assert!(offset_of!(Link, word) + (super::ZONE_SHIFT as usize) / 8 == ZONE_ID);
        assert!(offset_of!(Link, uniqid) == UNIQID);
        assert!(offset_of!(Link, name) == NAME);
        assert!(offset_of!(Link, next) == NEXT);
        assert!(offset_of!(Link, prev) == PREV);
        assert!(offset_of!(Link, gz) == GZ_HOLDS);
        assert!(offset_of!(Link, zh) == ZONE_HOLDS);
        assert!(offset_of!(Link, tmp) == TMP);
        assert!(offset_of!(Link, slow) == MUTEX);
        assert!(offset_of!(Link, drained) == CONDVAR);
        assert!(size_of::<Link>() == SIZE);
        // The kernel Mutex keeps its data 8 bytes in (`sync/illumos.rs`).
        assert!(MUTEX + 8 + offset_of!(Slow, reclaimed) == RECLAIMED);
        assert!(MUTEX + 8 + offset_of!(Slow, pending_notices) == PENDING_NOTICES);
        // The word's state bits are `LinkState`'s numbers.
        assert!(LinkState::Freed as u32 == 4 && STATE_MASK == 0b111);
        assert!(offset_of!(ZoneKey, uniqid) == 8);
    };

    /// The `Link`'s offset in a `dlszone_link_cache` buffer: the `Arc`
    /// cell's count and cache (16 bytes) come first.
    #[cfg(kmod)]
    pub const IN_BUFFER: usize = 16;

    /// A `dlszone_link_cache` buffer's size (`::kmem_cache` shows it).
    #[cfg(kmod)]
    pub const BUFFER_SIZE: usize = 152;

    #[cfg(kmod)]
    const _: () = {
        assert!(crate::kmod::arc::LINK_VALUE_OFFSET == IN_BUFFER);
        assert!(core::mem::size_of::<super::Link>() + IN_BUFFER == BUFFER_SIZE);
    };
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn words_pack_state_flags_and_zone() {
        let w = Word(EXISTENCE).with_state(LinkState::Active).with_zone_id(ZoneId(9999));
        assert_eq!(
            (w.state(), w.zone_id(), w.existence()),
            (LinkState::Active, ZoneId(9999), true)
        );
        let w = w.with_busy(true).with_down(true).with_state(LinkState::Condemned);
        assert!(w.busy() && w.down() && !w.loan() && !w.transient() && !w.persistent());
        assert_eq!((w.state(), w.zone_id()), (LinkState::Condemned, ZoneId(9999)));
        assert!(w.lent(), "in a non-global zone, owned by the global one");
        assert!(!w.with(OWNED, true).lent());
        for s in [
            LinkState::Initializing,
            LinkState::Active,
            LinkState::Condemned,
            LinkState::Detached,
            LinkState::Freed,
        ] {
            assert_eq!(w.with_state(s).state(), s);
            assert_eq!(w.with_state(s).zone_id(), ZoneId(9999));
        }
    }

    #[test]
    fn hold_rows_count_by_kind_and_overflow_at_16_bits() {
        let r = HoldRow::new();
        let z = owner_mark(101);
        r.set_owner(z);
        assert_eq!((r.take(0), r.take(2), r.take(2)), (Ok(()), Ok(()), Ok(())));
        assert_eq!((r.counts(), r.total()), ([1, 0, 2], 3));
        assert!(!r.put(1, z), "no such hold");
        assert!(!r.put(2, owner_mark(102)), "another zone's mark");
        assert!(r.put(2, z));
        assert_eq!(r.counts(), [1, 0, 1]);
        for _ in 0..LANE_MAX {
            let _ = r.take(1);
        }
        assert_eq!(r.counts()[1], 65_535);
        assert_eq!(r.take(1), Err(Errno::EOVERFLOW));
        assert_eq!(r.counts(), [1, 65_535, 1], "a refused hold changes nothing");
        // Reclaiming forgets the counts and changes the mark: releases of
        // the holds it forgot no longer match.
        assert_eq!(r.reclaim(), [1, 65_535, 1]);
        assert_eq!(r.total(), 0);
        assert_eq!(r.take(0), Ok(()));
        assert!(!r.put(0, z));
        assert!(r.put(0, z ^ LANE_MAX));
        assert_eq!(r.total(), 0);
        // The next zone marks the row as its own.
        r.set_owner(owner_mark(102));
        assert_eq!(r.take(1), Ok(()));
        assert!(!r.put(1, z));
        assert!(r.put(1, owner_mark(102)));
    }

    #[test]
    fn temporary_counts_never_go_below_zero() {
        let l = Link::new(MacName::new(b"vnic0").unwrap(), LinkId(1), [0; 4], false, 1);
        assert!(!l.put_tmp());
        l.take_tmp().unwrap();
        l.take_tmp().unwrap();
        assert_eq!(l.tmp_holds(), 2);
        assert!(l.put_tmp());
        assert!(l.put_tmp());
        assert!(!l.put_tmp());
        // Drainers are counted apart: they are no holds.
        l.tmp.fetch_add(DRAINER, SeqCst);
        assert_eq!(l.tmp_holds(), 0);
        assert!(!l.put_tmp());
        l.tmp.store(u64::from(u32::MAX), SeqCst);
        assert_eq!(l.take_tmp(), Err(Errno::EOVERFLOW));
        assert_eq!(l.tmp_holds(), u32::MAX);
    }

    /// The record's size, as `docs/performance.md` counts it.
    #[test]
    fn a_record_is_as_small_as_documented() {
        assert_eq!(core::mem::size_of::<Link>(), 136);
    }
}
