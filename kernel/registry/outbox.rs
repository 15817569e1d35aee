//! What dlmgmtd must be told, and the ordered outbox for when it cannot be.
//!
//! Moves that dlmgmtd can refuse (lend, explicit return, halt's returns)
//! ask it first, through [`Dlmgmt`], with no registry lock held. Changes
//! the kernel makes on its own authority (teardown of transient links,
//! forced recovery) are committed at once and their notices appended to
//! the outbox in commit order; [`Registry::replay_outbox`] delivers them,
//! oldest first, each exactly once, when the daemon is back.
//!
//! No move overtakes an older notice. Delivering queued notices needs the
//! *channel*, a logical right one thread holds at a time (see
//! `docs/locking.md`). A move that finds notices queued takes the channel
//! and delivers them all before its own upcall, which it then makes
//! without the channel; with nothing queued it goes straight to dlmgmtd,
//! so moves of different zones never wait for each other. (Notices queued
//! while a move's upcall is in flight belong to concurrent operations,
//! which the zone gates and name reservations keep from conflicting with
//! it.) The channel holder gives it up in the same critical section in
//! which it finds the queue empty, so a notice queued meanwhile is never
//! left behind by a replayer told `EALREADY`. A link id dlmgmtd hands out
//! again retires queued notices about its earlier link ([`Outbox::purge`]),
//! so dlmgmtd never takes old news about one link for news about another.
//!
//! [`Registry::replay_outbox`]: super::Registry::replay_outbox

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::types::{LinkId, ZoneId};
use super::unlocked::Unlocked;
use crate::errno::KResult;
use crate::sync::{Condvar, Mutex};

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
}

/// The door to dlmgmtd. In the kernel this is the door upcall
/// (`EBADF` when the daemon is not registered); on the host a test double.
/// Called with no registry lock held; it may block.
pub trait Dlmgmt {
    /// Delivers one notice. Delivering the same notice twice must be
    /// harmless (a replay after a lost reply does that).
    fn deliver(&self, notice: &Notice) -> KResult<()>;
}

/// A daemon that is not there: every upcall fails with `EBADF`, as the
/// kernel's door upcall does when dlmgmtd has not registered its door.
pub struct NoDaemon;

impl Dlmgmt for NoDaemon {
    fn deliver(&self, _: &Notice) -> KResult<()> {
        Err(crate::errno::Errno::EBADF)
    }
}

pub(crate) struct OutboxState {
    /// (sequence number, notice, serial of the link it is about).
    pub(crate) queue: VecDeque<(u64, Notice, u64)>,
    pub(crate) next_seq: u64,
    /// A thread holds the channel to dlmgmtd.
    pub(crate) channel: bool,
    pub(crate) delivered: u64,
}

/// Lock level 4, a leaf: its guard never leaves this file, and nothing is
/// locked while it is held (`docs/locking.md`).
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    /// Signalled when the channel comes free.
    free: Condvar,
}

impl Outbox {
    pub(crate) fn new() -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState {
                queue: VecDeque::new(),
                next_seq: 1,
                channel: false,
                delivered: 0,
            }),
            free: Condvar::new(),
        }
    }

    /// Appends a notice; the caller holds the table lock, so commit order
    /// and outbox order agree.
    pub(crate) fn push(&self, n: Notice, link_serial: u64) {
        let mut s = self.state.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        s.queue.push_back((seq, n, link_serial));
    }

    /// Claims the channel if it is free.
    pub(crate) fn try_claim(&self) -> bool {
        let mut s = self.state.lock();
        !core::mem::replace(&mut s.channel, true)
    }

    /// Claims the channel, waiting while another thread talks to dlmgmtd
    /// (a wait, so it needs the proof that no registry lock is held).
    pub(crate) fn claim(&self, _cx: &mut Unlocked) {
        let mut s = self.state.lock();
        while s.channel {
            s = self.free.wait(s);
        }
        s.channel = true;
    }

    /// Notices wait for delivery.
    pub(crate) fn has_queued(&self) -> bool {
        !self.state.lock().queue.is_empty()
    }

    /// The oldest notice, or `None` after giving up the channel in the
    /// same critical section (so no notice is left unseen).
    pub(crate) fn next_or_finish(&self) -> Option<(u64, Notice, u64)> {
        let mut s = self.state.lock();
        let front = s.queue.front().copied();
        if front.is_none() {
            s.channel = false;
            drop(s);
            self.free.notify_all();
        }
        front
    }

    /// Gives up the channel after a failed delivery.
    pub(crate) fn release(&self) {
        self.state.lock().channel = false;
        self.free.notify_all();
    }

    /// Drops the delivered notice `seq`. Only the channel holder pops, so
    /// it is at the front unless a purge dropped it meanwhile.
    pub(crate) fn pop(&self, seq: u64) {
        let mut s = self.state.lock();
        if s.queue.front().map(|e| e.0) == Some(seq) {
            s.queue.pop_front();
            s.delivered += 1;
        }
    }

    /// Drops queued notices about `link` (an id no tabled link has: they
    /// are about a retired link). A notice being delivered right now is
    /// not popped by its deliverer afterwards, whose `pop` checks the seq.
    pub(crate) fn purge(&self, link: LinkId) {
        self.state.lock().queue.retain(|e| e.1.link() != link);
    }

    pub(crate) fn pending(&self) -> Vec<Notice> {
        self.state.lock().queue.iter().map(|e| e.1).collect()
    }
}
