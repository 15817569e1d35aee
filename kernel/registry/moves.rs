//! Moving links between zones (rule 3): lend, return, and `setzid`, which
//! is either. Every move dlmgmtd may refuse is one two-phase protocol,
//! written once in [`Registry::ask_then_commit`]: under the zone's gate,
//! (1) in a table-writer section, validate and mark the link `busy`;
//! (2) with no lock held, ask dlmgmtd; (3) in a new writer section,
//! commit or roll back (`docs/locking.md`).

use super::Registry;
use super::link::{Link, LinkGuard};
use super::outbox::Notice;
use super::table::{NameKey, Room, Table};
use super::types::{LinkId, LinkState, ZoneId};
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};
use crate::sync::Arc;

impl Registry {
    /// Moves a link as `dls_devnet_setzid` does: to a non-global zone is a
    /// [`lend`](Self::lend), to the global zone a
    /// [`give_back`](Self::give_back).
    pub fn setzid(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        zone: ZoneId,
        transient: bool,
    ) -> KResult<()> {
        if zone.is_global() {
            self.give_back(caller, linkid)
        } else {
            self.lend(caller, linkid, zone, transient)
        }
    }

    /// Lends a global-zone link to a running zone, keeping its name: takes
    /// the loan hold and reserves the global-zone name so the return can
    /// never collide. `transient` makes the link go away with the zone
    /// instead of coming back. dlmgmtd is asked first, with no lock held.
    ///
    /// Errors: `EACCES` caller not the global zone; `EINVAL` bad ids, the
    /// global zone as target, or a transient loan of a persistent link;
    /// `ENOENT` unknown link; `EPERM` the link belongs to a non-global
    /// zone; `EBUSY` already lent or a move in flight; `EAGAIN` dlmgmtd
    /// has not yet seen an earlier notice about it; `ENXIO` the zone is
    /// not running; `EEXIST` the name is taken in the zone; or dlmgmtd's
    /// error (`EBADF` when it is down). On error nothing changes.
    pub fn lend(&self, caller: ZoneId, linkid: LinkId, to: ZoneId, transient: bool) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        to.validate()?;
        linkid.validate()?;
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        if to.is_global() {
            return Err(Errno::EINVAL);
        }
        let _gate = self.gate.enter(&mut cx, to);
        let (link, to_key) = {
            let mut t = self.table.write_room(&mut cx, &self.outbox, |_| Room {
                names: 1,
                lends: 1,
                ..Room::NONE
            });
            let link = t.link(linkid)?.clone();
            let mut l = link.lock();
            let w = l.word();
            if w.state() != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if w.owned() {
                return Err(Errno::EPERM);
            }
            if w.busy() || w.lent() {
                return Err(Errno::EBUSY);
            }
            if l.slow.pending_notices > 0 {
                return Err(Errno::EAGAIN);
            }
            if transient && w.persistent() {
                return Err(Errno::EINVAL);
            }
            let to_key = t.running(to)?;
            let name = l.name_locked().ok_or(Errno::ENOENT)?;
            if !t.name_free(&NameKey::new(to, &name)) {
                return Err(Errno::EEXIST);
            }
            t.lend_start(&link, name, to);
            l.update(|w| w.with_busy(true));
            drop(l);
            (link, to_key)
        };
        let notice = Notice::SetZone { link: linkid, zone: to };
        self.ask_then_commit(&mut cx, &link, to, &notice, |t, link, l, res| {
            if let Err(e) = res {
                t.lend_undo(link);
                return Err(e);
            }
            // Every slot exists already (the incoming name, the link's own
            // name at home): the commit changes their kinds, no room needed.
            t.lend_commit(link, l, to_key);
            l.update(|w| w.with_loan(true).with_transient(transient));
            crate::sdt::link_lend(linkid.0, to.0, transient, super::observe::addr(link));
            Ok(())
        })
    }

    /// Returns a lent link to the global zone under its reserved name,
    /// dropping exactly the loan hold. Returning a link already in the
    /// global zone does nothing.
    ///
    /// Errors: `EACCES` caller not the global zone; `ENOENT` unknown link;
    /// `EBUSY` holds taken inside the borrowing zone, or a move in flight;
    /// or dlmgmtd's error. On error nothing changes.
    pub fn give_back(&self, caller: ZoneId, linkid: LinkId) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        linkid.validate()?;
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        let zone = {
            let t = self.table.read(&mut cx);
            let w = t.link(linkid)?.word();
            if w.state() != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if !w.lent() {
                return Ok(());
            }
            w.zone_id()
        };
        let _gate = self.gate.enter(&mut cx, zone);
        let link = {
            let t = self.table.write(&mut cx);
            let link = t.link(linkid)?.clone();
            let mut l = link.lock();
            let w = l.word();
            if w.state() != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if !w.lent() {
                // Returned by a halt or recovery while we waited.
                return Ok(());
            }
            if w.zone_id() != zone || w.busy() || l.zone_side_holds() > 0 {
                return Err(Errno::EBUSY);
            }
            l.update(|w| w.with_busy(true));
            drop(l);
            link
        };
        let notice = Notice::SetZone { link: linkid, zone: ZoneId::GLOBAL };
        self.ask_then_commit(&mut cx, &link, zone, &notice, |t, link, l, res| {
            res?;
            Self::return_locked(t, link, l);
            Ok(())
        })
    }

    /// Phases 2 and 3 of a move into or out of non-global `zone`: `link`
    /// is marked `busy` (phase 1) and no lock is held. Delivers the older
    /// notices about `zone` still queued, then asks dlmgmtd about
    /// `notice`; then in one writer section clears `busy` and lets
    /// `commit` apply or undo the move given dlmgmtd's answer (a queued
    /// notice that could not be delivered refuses the move with its
    /// error). Commits insert no new index entry: phase 1 made every key
    /// they write.
    ///
    /// Only notices about `zone` itself are waited for (see `outbox.rs`),
    /// so a dlmgmtd wedged on another zone's notice never holds a move
    /// up.
    pub(super) fn ask_then_commit<R>(
        &self,
        cx: &mut Unlocked,
        link: &Arc<Link>,
        zone: ZoneId,
        notice: &Notice,
        commit: impl FnOnce(&mut Table, &Arc<Link>, &mut LinkGuard<'_>, KResult<()>) -> R,
    ) -> R {
        let res = self.ask(cx, zone, notice);
        let mut t = self.table.write(cx);
        let mut l = link.lock();
        l.update(|w| w.with_busy(false));
        commit(&mut t, link, &mut l, res)
    }

    /// Phase 2 of a move into or out of non-global `zone`, with no lock
    /// held: delivers the older notices about `zone` still queued, then
    /// asks dlmgmtd about `notice`. A queued notice that could not be
    /// delivered refuses the move with its error.
    pub(super) fn ask(&self, cx: &mut Unlocked, zone: ZoneId, notice: &Notice) -> KResult<()> {
        #[cfg(dlszone_broken = "global_channel")]
        let res = self.broken_deliver_queue_first(cx, notice);
        #[cfg(not(dlszone_broken = "global_channel"))]
        let res = {
            let horizon = self.outbox.horizon();
            self.deliver_about(cx, zone, horizon).and_then(|()| self.upcall(cx, notice))
        };
        #[cfg(dlszone_broken = "global_channel")]
        let _ = zone;
        res
    }

    /// The deliberately broken variant of a move's upcall (test-only
    /// cfg): it puts back the queue-wide right that let a dlmgmtd wedged
    /// on one zone's notice stall every other zone's moves. A move that
    /// finds notices queued waits to become the replayer and delivers
    /// them all before its own upcall.
    #[cfg(dlszone_broken = "global_channel")]
    fn broken_deliver_queue_first(&self, cx: &mut Unlocked, notice: &Notice) -> KResult<()> {
        if self.outbox.len() > 0 {
            self.outbox.claim_wait();
            self.deliver_claimed(cx).1?;
        }
        self.upcall(cx, notice)
    }

    /// Commits a return: the link is back in its owner zone under the
    /// reserved name and the loan hold is gone. Table and link locked;
    /// changes kinds of existing name slots only (no room needed).
    pub(super) fn return_locked(t: &mut Table, link: &Arc<Link>, l: &mut LinkGuard<'_>) {
        debug_assert_eq!(l.zone_side_holds(), 0, "a return with holds from inside the zone");
        super::observe::link_returning(link);
        t.return_home(link, l);
        l.update(|w| w.with_loan(false).with_transient(false));
    }
}
