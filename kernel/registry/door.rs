//! The registry's door to dlmgmtd, and the replay of what it missed.
//!
//! There is one dlmgmtd door in a kernel: dlmgmtd registers it with
//! `DLDIOC_DOORSERVER` (`dls_mgmt_door_set`) when it starts and withdraws
//! it when it exits. The registry owns it ([`Registry::set_door`],
//! [`Registry::unset_door`]); every upcall goes through it, so every
//! notice the registry queues can be delivered, and an upcall with no
//! door fails with `EBADF`, as gate's does.
//!
//! Setting the door asks for a replay of the outbox through the
//! registry's [`Defer`] hook, which runs it on another thread (a taskq in
//! the kernel): dlmgmtd registers its door before it serves it, so the
//! registering thread must never wait for an upcall.
//!
//! The door's own lock (level 5, a leaf) is held only to copy the handle;
//! no upcall is made under any registry lock. A call that makes several
//! upcalls (a halt returning links, a replay) copies the handle once: it
//! keeps it in its [`Unlocked`] proof, with the door's generation, and
//! uses it again while the generation is the same (a door set or withdrawn
//! since is picked up by the next upcall, as before).

use alloc::boxed::Box;
// The door's reference count is no synchronisation the model checkers
// need to explore (and their `Arc` cannot hold a trait object), so the
// door is shared through `alloc`'s `Arc` in every build.
use alloc::sync::Arc;

use super::Registry;
use super::outbox::{Entry, Notice};
use super::types::ZoneId;
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;
use core::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

/// The door to dlmgmtd. In the kernel this is the door upcall with gate's
/// retry rules (`EBADF` when the door was revoked); on the host a test
/// double. Called with no registry lock held; it may block.
pub trait Dlmgmt: Send + Sync {
    /// Delivers one notice. Delivering the same notice twice must be
    /// harmless (a replay after a lost reply does that).
    fn deliver(&self, notice: &Notice) -> KResult<()>;
}

/// A daemon that is not there: every upcall fails with `EBADF`, as the
/// kernel's door upcall does when dlmgmtd has not registered its door.
pub struct NoDaemon;

impl Dlmgmt for NoDaemon {
    fn deliver(&self, _: &Notice) -> KResult<()> {
        Err(Errno::EBADF)
    }
}

/// Runs [`Registry::replay_outbox`] later on another thread: a taskq
/// dispatch in the kernel, a thread (or a test's queue) on the host.
pub trait Defer: Send + Sync {
    /// Arranges for one replay of the outbox to run soon. Must not block
    /// and must not run the replay on the calling thread.
    fn replay_later(&self);
}

/// Lock level 5: the registered door, if any.
pub(crate) struct DoorSlot {
    door: Mutex<Option<Arc<dyn Dlmgmt>>>,
    defer: Mutex<Option<Box<dyn Defer>>>,
    /// Counts the changes of `door` (made with its lock held).
    generation: AtomicU64,
}

/// The door an upcall goes through, as a call keeps it: its handle and
/// the generation it was copied at.
pub(crate) type CachedDoor = Option<(u64, Arc<dyn Dlmgmt>)>;

impl DoorSlot {
    pub(crate) fn new() -> DoorSlot {
        DoorSlot { door: Mutex::new(None), defer: Mutex::new(None), generation: AtomicU64::new(0) }
    }

    /// Replaces the door; returns the old one, to drop with no lock held.
    fn replace(&self, door: Option<Arc<dyn Dlmgmt>>) -> Option<Arc<dyn Dlmgmt>> {
        let mut g = self.door.lock();
        self.generation.fetch_add(1, Release);
        core::mem::replace(&mut *g, door)
    }

    /// The current door, copied into `cache` unless it holds it already.
    fn current<'c>(&self, cache: &'c mut CachedDoor) -> Option<&'c Arc<dyn Dlmgmt>> {
        let now = self.generation.load(Acquire);
        if cache.as_ref().is_none_or(|(g, _)| *g != now) {
            let g = self.door.lock();
            *cache = g.as_ref().map(|d| (self.generation.load(Relaxed), d.clone()));
        }
        cache.as_ref().map(|(_, d)| d)
    }
}

impl Registry {
    /// Registers dlmgmtd's door (`dls_mgmt_door_set(B_TRUE)`), replacing
    /// any earlier one, and asks the [`Defer`] hook for a replay of the
    /// outbox. Never waits for dlmgmtd.
    pub fn set_door(&self, door: Arc<dyn Dlmgmt>) {
        let old = self.door.replace(Some(door));
        // An old door's last reference may go here, with no lock held.
        drop(old);
        self.kick();
    }

    /// Withdraws the door (`dls_mgmt_door_set(B_FALSE)`): upcalls fail
    /// with `EBADF` until a door is set again. An upcall already under
    /// way finishes on the door it started with.
    pub fn unset_door(&self) {
        let old = self.door.replace(None);
        drop(old);
    }

    /// Installs the hook that runs replays on another thread (a taskq in
    /// the kernel). Without one, replays run only when
    /// [`replay_outbox`](Self::replay_outbox) is called.
    pub fn set_defer(&self, defer: Box<dyn Defer>) {
        let old = self.door.defer.lock().replace(defer);
        drop(old);
    }

    /// Asks for a replay of the outbox on another thread (through the
    /// [`Defer`] hook); without a hook, nothing happens.
    pub fn replay_later(&self) {
        self.kick();
    }

    /// Asks for a replay on another thread, if a hook is installed.
    pub(crate) fn kick(&self) {
        let g = self.door.defer.lock();
        if let Some(d) = g.as_ref() {
            d.replay_later();
        }
    }

    /// Tells dlmgmtd about `notice` through the door. The only place the
    /// registry calls the daemon; it may block for as long as the daemon
    /// likes, so it needs the proof that no registry lock is held.
    pub(crate) fn upcall(&self, cx: &mut Unlocked, notice: &Notice) -> KResult<()> {
        super::link::held::assert_none();
        let res = match self.door.current(&mut cx.door) {
            Some(d) => d.deliver(notice),
            None => Err(Errno::EBADF),
        };
        self.noticed(notice, &res);
        res
    }

    /// Delivers queued notices in order, each exactly once; stops at the
    /// first failure, keeping it and everything after it for next time.
    /// Runs after dlmgmtd registers its door, after a halt or recovery
    /// queued notices, and whenever called.
    ///
    /// Returns how many were delivered. Errors: `EALREADY` another replay
    /// is running (it will deliver them); `EBADF` no door; or the
    /// daemon's error.
    pub fn replay_outbox(&self) -> KResult<usize> {
        let (delivered, r) = self.replay_outbox_counted();
        r.map(|()| delivered)
    }

    /// As [`replay_outbox`](Self::replay_outbox), and says how many
    /// notices were delivered also when a failure stopped the replay
    /// (`dls_mgmt_outbox_replay()` reports it either way).
    pub fn replay_outbox_counted(&self) -> (usize, KResult<()>) {
        let mut cx = Unlocked::new();
        self.replay(&mut cx)
    }

    /// One replayer at a time; no lock is held across a delivery. The
    /// replayer gives its flag up in the same critical section in which
    /// it finds the queue empty, so a notice queued by a caller that got
    /// `EALREADY` is always seen by the replayer that refused it.
    pub(crate) fn replay(&self, cx: &mut Unlocked) -> (usize, KResult<()>) {
        if !self.outbox.try_claim() {
            return (0, Err(Errno::EALREADY));
        }
        self.deliver_claimed(cx)
    }

    /// The replayer's loop: delivers oldest first until nothing is left
    /// to claim (giving the flag up) or a delivery fails (likewise).
    /// Returns how many it delivered, and the failure that stopped it.
    pub(crate) fn deliver_claimed(&self, cx: &mut Unlocked) -> (usize, KResult<()>) {
        let mut delivered = 0;
        loop {
            let Some(e) = self.outbox.next_or_finish() else {
                return (delivered, Ok(()));
            };
            if let Err(err) = self.deliver_entry(cx, &e) {
                self.outbox.release();
                return (delivered, Err(err));
            }
            delivered += 1;
        }
    }

    /// Delivers every notice about `zone` queued before `horizon` that
    /// is still queued, oldest first: what a move into or out of `zone`
    /// must not overtake (see `outbox.rs`). Stops at the first failure.
    #[inline(never)]
    pub(crate) fn deliver_about(
        &self,
        cx: &mut Unlocked,
        zone: ZoneId,
        horizon: u64,
    ) -> KResult<()> {
        let mut next = self.outbox.claim_about(cx, zone, horizon);
        while let Some(e) = next {
            next = match e.notice {
                // Counted in no link: dropped, and the next one claimed,
                // in one outbox section.
                Notice::LinkGone { .. } => {
                    self.upcall_entry(cx, &e)?;
                    self.outbox.drop_then_claim(cx, e.seq, zone, horizon)
                }
                Notice::SetZone { .. } => {
                    self.deliver_entry(cx, &e)?;
                    self.outbox.claim_about(cx, zone, horizon)
                }
            };
        }
        Ok(())
    }

    /// Upcalls one claimed notice; if dlmgmtd does not take it, gives it
    /// back to the queue (for a later replay) and returns the error.
    fn upcall_entry(&self, cx: &mut Unlocked, e: &Entry) -> KResult<()> {
        let res = self.upcall(cx, &e.notice);
        if res.is_err() {
            self.outbox.settle(e.seq, false);
        }
        res
    }

    /// Upcalls one claimed notice; if dlmgmtd took it, drops it and clears
    /// the link's pending count in one table section (so no reader sees
    /// one without the other), otherwise leaves it queued. A `LinkGone`
    /// counts in no link (its link is detached, and a later link with its
    /// id has another serial), so it is dropped with no table section.
    #[inline(never)]
    fn deliver_entry(&self, cx: &mut Unlocked, e: &Entry) -> KResult<()> {
        self.upcall_entry(cx, e)?;
        if matches!(e.notice, Notice::LinkGone { .. }) {
            self.outbox.settle(e.seq, true);
            return Ok(());
        }
        let t = self.table.write(cx);
        self.outbox.settle(e.seq, true);
        if let Some(link) = t.by_id.get(&e.notice.link()) {
            if link.serial() == e.serial {
                let mut l = link.lock();
                l.slow.pending_notices = l.slow.pending_notices.saturating_sub(1);
            }
        }
        Ok(())
    }
}
