//! The ordered outbox: notices dlmgmtd has not yet seen.
//!
//! Moves that dlmgmtd can refuse (lend, explicit return, halt's returns)
//! ask it first, with no registry lock held (`moves.rs`). Changes the
//! kernel makes on its own authority (teardown of transient links, forced
//! recovery, destroy of a transient link with its zone halting) are
//! committed at once and their notices appended here in commit order;
//! [`Registry::replay_outbox`] delivers them, oldest first, each exactly
//! once, through the registry's door (`door.rs`).
//!
//! Order matters where dlmgmtd could tell: per link id (it applies each
//! notice to one link), and per non-global zone (its name tree is keyed
//! by zone and name, so a lend of `net0` into a zone must not reach it
//! before the queued `LinkGone` of the zone's earlier `net0`, illumos
//! 10001). Both are kept without any queue-wide right:
//!
//! - per link: a lend of a link with a notice queued is refused
//!   (`EAGAIN`), a lent link never has one (nothing queues a notice about
//!   a link without taking it out of its borrowing zone), and a link id
//!   dlmgmtd hands out again retires queued notices about its earlier
//!   link ([`Outbox::purge`]);
//! - per zone: a move into or out of non-global zone Z first delivers the
//!   older queued notices about Z itself ([`Outbox::claim_about`]),
//!   waiting only for a delivery about Z already under way. The global
//!   zone is left out: a lent link's global-zone name stays reserved, so
//!   nothing there can collide.
//!
//! Each notice is delivered by one thread at a time (its `inflight`
//! mark), so a dlmgmtd that hangs on a notice about one zone stalls only
//! that zone's moves and the replayer, never another zone's moves, halts
//! or holds (`docs/locking.md`).
//!
//! One replayer runs at a time (the `replaying` flag); another replay
//! request is told `EALREADY`. The replayer gives the flag up in the same
//! critical section in which it finds nothing left to claim, so a notice
//! queued by a caller told `EALREADY` is always seen, unless a move is
//! delivering it.
//!
//! The queue never grows under a lock: its room is reserved with the
//! table's (`Table::plan`), allocated with no lock held, and adopted.
//!
//! [`Registry::replay_outbox`]: super::Registry::replay_outbox

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

use super::noalloc::NoAlloc;
use super::stats::{StatsHandle, set};
use super::types::{LinkId, ZoneId};
use super::unlocked::Unlocked;
use crate::sync::{Condvar, Mutex, MutexGuard};

/// A change dlmgmtd has to learn about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Notice {
    /// The link is now in `zone` (`DLMGMT_CMD_SETZONEID`).
    SetZone {
        /// The link.
        link: LinkId,
        /// Its new zone.
        zone: ZoneId,
    },
    /// A transient link went away with its zone `zone`.
    LinkGone {
        /// The link.
        link: LinkId,
        /// The zone it was in.
        zone: ZoneId,
    },
}

impl Notice {
    /// The link the notice is about.
    pub fn link(&self) -> LinkId {
        match *self {
            Notice::SetZone { link, .. } | Notice::LinkGone { link, .. } => link,
        }
    }

    /// The zone it names: the link's new zone, or the zone it went away
    /// with.
    pub fn zone(&self) -> ZoneId {
        match *self {
            Notice::SetZone { zone, .. } | Notice::LinkGone { zone, .. } => zone,
        }
    }

    /// What the notice probes call it (`crate::sdt::notice`).
    pub(crate) fn what(&self) -> u32 {
        match self {
            Notice::SetZone { .. } => crate::sdt::notice::SETZONE,
            Notice::LinkGone { .. } => crate::sdt::notice::LINKGONE,
        }
    }

    /// Fires a notice probe: `delivered` or `failed` by `res`.
    pub(crate) fn fire(&self, res: &crate::errno::KResult<()>) {
        let (id, zone, what) = (self.link().0, self.zone().0, self.what());
        match res {
            Ok(()) => crate::sdt::notice_delivered(id, zone, what),
            Err(e) => crate::sdt::notice_failed(id, zone, what, e.to_raw()),
        }
    }
}

/// One queued notice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) notice: Notice,
    /// The serial of the link record it is about.
    pub(crate) serial: u64,
    /// The zones whose names it changes in dlmgmtd's view: where the link
    /// was, and where it is now (both the same for a `LinkGone`).
    zones: [ZoneId; 2],
    /// A thread is delivering it.
    inflight: bool,
}

impl Entry {
    fn about(&self, zone: ZoneId) -> bool {
        !zone.is_global() && self.zones.contains(&zone)
    }
}

pub(crate) struct OutboxState {
    pub(crate) queue: VecDeque<Entry>,
    pub(crate) next_seq: u64,
    /// A replayer is delivering.
    pub(crate) replaying: bool,
}

/// Memory for a larger queue, allocated with no lock held.
pub(crate) struct OutboxSpace(VecDeque<Entry>);

impl OutboxSpace {
    /// Room for `cap` notices. Allocates: may sleep.
    pub(crate) fn new(cap: usize) -> OutboxSpace {
        OutboxSpace(VecDeque::with_capacity(cap))
    }
}

/// Lock level 4, a leaf: its guard never leaves this file, nothing is
/// locked while it is held, and it never allocates (`docs/locking.md`).
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    /// Signalled when a delivery ends (its notice dropped or given back),
    /// and when the replayer's flag comes free.
    settled: Condvar,
    /// The queue's length and capacity, copied whenever they change (with
    /// the outbox lock held). Every change that grows the queue or shrinks
    /// its room happens under the table lock as writer too (a push, more
    /// room), and so does every other change but dropping a delivered
    /// `LinkGone` (`door.rs`), which only shortens it. So a writer section
    /// reads them without the outbox lock, exactly or (while such a drop
    /// races it) a notice too long: planning its room, or finding nothing
    /// to purge, costs a load, and a stale length only plans one notice
    /// too many or looks for nothing to purge.
    len: AtomicUsize,
    cap: AtomicUsize,
    /// The sequence number the next notice gets, copied likewise (with
    /// release ordering, after `len`): whoever reads it with acquire
    /// ordering sees the length of a queue that held every notice before
    /// it.
    next_seq: AtomicU64,
    /// Where the queue's depth is published (`outbox_depth`), with the
    /// length above.
    stats: StatsHandle,
}

/// The outbox lock held: a section that must not allocate.
struct Guard<'a> {
    g: MutexGuard<'a, OutboxState>,
    _no_alloc: NoAlloc,
}

impl core::ops::Deref for Guard<'_> {
    type Target = OutboxState;
    fn deref(&self) -> &OutboxState {
        &self.g
    }
}

impl core::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut OutboxState {
        &mut self.g
    }
}

impl Outbox {
    pub(crate) fn new(stats: StatsHandle) -> Outbox {
        Outbox {
            stats,
            state: Mutex::new(OutboxState {
                queue: VecDeque::new(),
                next_seq: 1,
                replaying: false,
            }),
            settled: Condvar::new(),
            len: AtomicUsize::new(0),
            cap: AtomicUsize::new(0),
            next_seq: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> Guard<'_> {
        let g = self.state.lock();
        Guard { g, _no_alloc: NoAlloc::enter("outbox mutex") }
    }

    /// Copies the queue's length, capacity and next sequence number
    /// (outbox lock held).
    fn mirror(&self, s: &OutboxState) {
        self.len.store(s.queue.len(), Relaxed);
        self.cap.store(s.queue.capacity(), Relaxed);
        self.next_seq.store(s.next_seq, Release);
        set(&self.stats.outbox_depth, s.queue.len());
    }

    /// The capacity the queue needs before `extra` more notices are
    /// pushed; `None` if it has room. Exact with the table lock held as
    /// writer; a hint otherwise.
    #[inline]
    pub(crate) fn want(&self, extra: usize) -> Option<usize> {
        let need = self.len.load(Relaxed) + extra;
        (need > self.cap.load(Relaxed)).then(|| need.max(8).next_power_of_two())
    }

    /// Moves the queue into `space` if it still makes the room `extra`
    /// asks for (otherwise `space` is freed). Never allocates.
    pub(crate) fn adopt(&self, mut space: OutboxSpace, extra: usize) {
        let mut s = self.lock();
        let need = s.queue.len() + extra;
        if need > s.queue.capacity() && need <= space.0.capacity() {
            space.0.extend(s.queue.drain(..));
            core::mem::swap(&mut s.queue, &mut space.0);
            self.mirror(&s);
        }
        drop(s);
        // The old queue's memory is freed here, after the lock.
        drop(space);
    }

    /// Appends a notice about a link that was in zone `from`; the caller
    /// holds the table lock as writer (so commit order and outbox order
    /// agree) and reserved the room.
    pub(crate) fn push(&self, n: Notice, link_serial: u64, from: ZoneId) {
        let to = n.zone();
        let mut s = self.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        s.queue.push_back(Entry {
            seq,
            notice: n,
            serial: link_serial,
            zones: [from, to],
            inflight: false,
        });
        self.mirror(&s);
        drop(s);
        if crate::sdt::enabled() {
            crate::sdt::notice_queued(n.link().0, to.0, n.what(), seq);
        }
    }

    /// The sequence number the next notice will get: a move delivers only
    /// what was queued before it.
    pub(crate) fn horizon(&self) -> u64 {
        self.next_seq.load(Acquire)
    }

    /// Becomes the replayer, if there is none.
    pub(crate) fn try_claim(&self) -> bool {
        let mut s = self.lock();
        !core::mem::replace(&mut s.replaying, true)
    }

    /// The replayer's next notice: the oldest one nobody is delivering,
    /// marked as being delivered. `None` after giving up the replayer's
    /// flag in the same critical section (so no notice is left unseen).
    pub(crate) fn next_or_finish(&self) -> Option<Entry> {
        let mut s = self.lock();
        let next = s.queue.iter_mut().find(|e| !e.inflight).map(|e| {
            e.inflight = true;
            *e
        });
        if next.is_none() {
            s.replaying = false;
            drop(s);
            self.settled.notify_all();
        }
        next
    }

    /// Gives up the replayer's flag after a failed delivery.
    pub(crate) fn release(&self) {
        self.lock().replaying = false;
        self.settled.notify_all();
    }

    /// Becomes the replayer, waiting for the current one (the broken
    /// `global_channel` variant only).
    #[cfg(dlszone_broken = "global_channel")]
    pub(crate) fn claim_wait(&self) {
        let mut s = self.lock();
        while s.replaying {
            let Guard { g, _no_alloc } = s;
            s = Guard { g: self.settled.wait(g), _no_alloc };
        }
        s.replaying = true;
    }

    /// For a move into or out of `zone`: the oldest notice about `zone`
    /// queued before `horizon`, claimed for delivery by the caller;
    /// `None` once there is none. Waits while the oldest such notice is
    /// being delivered by another thread (a delivery about this very
    /// zone, so only this zone's moves wait for it).
    pub(crate) fn claim_about(
        &self,
        _cx: &mut Unlocked,
        zone: ZoneId,
        horizon: u64,
    ) -> Option<Entry> {
        // Every notice before `horizon` was in the queue when the caller
        // read it (`next_seq`), so an empty queue now has none left.
        if self.len.load(Relaxed) == 0 {
            return None;
        }
        self.claim_locked(self.lock(), zone, horizon)
    }

    /// [`claim_about`](Self::claim_about), the outbox locked.
    fn claim_locked(&self, mut s: Guard<'_>, zone: ZoneId, horizon: u64) -> Option<Entry> {
        loop {
            let e = s.queue.iter_mut().find(|e| e.seq < horizon && e.about(zone))?;
            if !e.inflight {
                e.inflight = true;
                return Some(*e);
            }
            let Guard { g, _no_alloc } = s;
            s = Guard { g: self.settled.wait(g), _no_alloc };
        }
    }

    /// Drops delivered notice `seq`, which no link counts (see
    /// `door.rs`), and claims the next one about `zone` as
    /// [`claim_about`](Self::claim_about) does, in one critical section.
    pub(crate) fn drop_then_claim(
        &self,
        _cx: &mut Unlocked,
        seq: u64,
        zone: ZoneId,
        horizon: u64,
    ) -> Option<Entry> {
        let mut s = self.lock();
        if let Some(i) = s.queue.iter().position(|e| e.seq == seq) {
            s.queue.remove(i);
            self.mirror(&s);
            self.settled.notify_all();
        }
        self.claim_locked(s, zone, horizon)
    }

    /// Ends the delivery of notice `seq`: dropped if dlmgmtd took it,
    /// otherwise left queued for a later replay. Called with the table
    /// lock held as writer when `delivered`, so the link's pending count
    /// changes in the same section.
    pub(crate) fn settle(&self, seq: u64, delivered: bool) {
        let mut s = self.lock();
        if let Some(i) = s.queue.iter().position(|e| e.seq == seq) {
            if delivered {
                s.queue.remove(i);
                self.mirror(&s);
            } else if let Some(e) = s.queue.get_mut(i) {
                e.inflight = false;
            }
        }
        drop(s);
        self.settled.notify_all();
    }

    /// Drops queued notices about `link` (an id no tabled link has: they
    /// are about a retired link). A notice being delivered right now is
    /// not popped by its deliverer afterwards, whose `pop` checks the seq.
    /// Called with the table lock held as writer, so an empty queue is
    /// seen without the outbox lock.
    pub(crate) fn purge(&self, link: LinkId) {
        if self.len.load(Relaxed) == 0 {
            return;
        }
        let mut s = self.lock();
        s.queue.retain(|e| e.notice.link() != link);
        self.mirror(&s);
    }

    /// How many notices wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Every queued notice, oldest first. Allocates the copy with no lock
    /// held.
    pub(crate) fn pending(&self) -> Vec<Notice> {
        let mut out = Vec::new();
        loop {
            let n = self.len();
            out.reserve(n);
            let s = self.lock();
            if s.queue.len() <= out.capacity() {
                out.extend(s.queue.iter().map(|e| e.notice));
                return out;
            }
        }
    }
}
