//! A link's life (rules 1, 2, 4, 10): create, activate, rename, destroy,
//! and the lookups and lists a zone may make.

use alloc::vec::Vec;

use super::link::{Drain, Drained, Link, LinkGuard};
use super::observe::addr;
use super::outbox::Notice;
use super::table::{NameKey, Room, Table};
use super::types::{DrainWait, LinkId, LinkName, LinkState, MacName, ZoneId};
use super::unlocked::Unlocked;
use super::{Registry, visible};
use crate::errno::{Errno, KResult};
use crate::sdt::{self, NameArg};
use crate::sync::Arc;

/// A link's current name as a probe's string argument.
#[inline(always)]
fn name_arg(l: &Link) -> NameArg {
    NameArg::from_words(l.name_words())
}

/// What one more condemned link needs: a limbo entry and a notice.
pub(super) const CONDEMN: Room = Room { limbo: 1, notices: 1, ..Room::NONE };

/// The probes of a destroy that condemned, detached and freed a link in
/// one section (nothing held it). Out of line: the destroy's frame does
/// not grow by their argument set-up.
#[inline(never)]
fn destroyed_at_once(link: &Link, zone: ZoneId) {
    let (id, at) = (link.linkid().0, addr(link));
    sdt::link_condemn(id, zone.0, at);
    sdt::link_detach(id, zone.0, at);
    sdt::link_free(id, zone.0, at);
}

impl Registry {
    /// Creates a link in `zone`, the zone creating it (which becomes its
    /// owner for life). A link created outside the global zone is
    /// transient.
    ///
    /// Errors: `EINVAL` bad id or name, `ENAMETOOLONG`; `ENOTSUP` a
    /// persistent link from a non-global zone; `ENXIO` the zone is not
    /// running; `EEXIST` the link id, MAC name or (zone, name) is taken.
    pub fn create(
        &self,
        zone: ZoneId,
        mac: &[u8],
        linkid: LinkId,
        name: &[u8],
        persistent: bool,
    ) -> KResult<()> {
        let mut cx = Unlocked::new();
        zone.validate()?;
        linkid.validate()?;
        let name = NameKey::of_bytes(zone, name)?;
        let mac = MacName::new(mac)?;
        if persistent && !zone.is_global() {
            return Err(Errno::ENOTSUP);
        }
        // The record is built before any lock is taken (one allocation);
        // its zone is set once the zone's incarnation is known. Dropped
        // (after the lock) if the create is refused.
        let link = crate::kmod::cache::link_record(Link::new(
            mac,
            linkid,
            name.words(),
            persistent,
            self.serial(),
        ));
        let mut t = self.table.write_room(&mut cx, &self.outbox, |_| Room {
            ids: 1,
            macs: 1,
            names: 1,
            ..Room::NONE
        });
        let owner = t.running(zone)?;
        // The deliberately broken variant allocates under the writer, so
        // that the host tests' allocation check can show it bites.
        #[cfg(dlszone_broken = "alloc_under_writer")]
        let _grown: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(64);
        if t.by_id.contains_key(&linkid) || t.find_mac(link.mac().as_bytes()).is_some() {
            return Err(Errno::EEXIST);
        }
        if !t.name_free(&name) {
            return Err(Errno::EEXIST);
        }
        // dlmgmtd handed out this id again, so it has retired the old link
        // of that id: notices still queued about that one are moot, and
        // must not reach dlmgmtd as news about this one.
        self.outbox.purge(linkid);
        debug_assert_eq!(Arc::strong_count(&link), 1, "a new record is unpublished");
        link.place_new(owner);
        t.insert_link(&link);
        if sdt::enabled() {
            let arg = NameArg::from_words(name.words());
            let transient = link.word().transient();
            sdt::link_create(linkid.0, zone.0, transient, persistent, &arg, addr(&link));
        }
        Ok(())
    }

    /// Records a global-zone physical link that attached before dlmgmtd
    /// could give it an id (`softmac`). It stays invisible until
    /// [`activate`](Self::activate).
    ///
    /// Errors: `EINVAL`, `ENAMETOOLONG` bad MAC name; `EEXIST` taken.
    pub fn create_pending(&self, mac: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        let mac = MacName::new(mac)?;
        let link = crate::kmod::cache::link_record(Link::new(
            mac,
            LinkId::INVALID,
            [0; 4],
            true,
            self.serial(),
        ));
        let mut t =
            self.table.write_room(&mut cx, &self.outbox, |_| Room { pending: 1, ..Room::NONE });
        if t.find_mac(link.mac().as_bytes()).is_some() {
            return Err(Errno::EEXIST);
        }
        t.insert_pending(&link);
        sdt::link_create(0, 0, false, true, &NameArg::EMPTY, addr(&link));
        Ok(())
    }

    /// Forgets a pending link whose device detached before dlmgmtd ever
    /// gave it an id.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad MAC name; `ENOENT` no such
    /// link; `EBUSY` the link is not pending (destroy it by id).
    pub fn destroy_pending(&self, mac: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        MacName::check(mac)?;
        let mut t = self.table.write(&mut cx);
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?.clone();
        let mut l = link.lock();
        if l.word().state() != LinkState::Initializing {
            return Err(Errno::EBUSY);
        }
        t.unhash(&link);
        l.update(|w| w.with_existence(false).with_state(LinkState::Detached));
        sdt::link_detach(0, 0, addr(&link));
        let _ = l.settle();
        Ok(())
    }

    /// Gives a pending link its id and name (`dls_devnet_recreate`).
    ///
    /// Errors: `EINVAL` bad id/name or the link is not pending; `ENOENT`
    /// unknown MAC name; `EEXIST` id or global-zone name taken.
    pub fn activate(&self, mac: &[u8], linkid: LinkId, name: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        linkid.validate()?;
        let name = LinkName::new(name)?;
        MacName::check(mac)?;
        let mut t = self.table.write_room(&mut cx, &self.outbox, |_| Room {
            ids: 1,
            macs: 1,
            names: 1,
            ..Room::NONE
        });
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?.clone();
        if link.word().state() != LinkState::Initializing {
            return Err(Errno::EINVAL);
        }
        if t.by_id.contains_key(&linkid) || !t.name_free(&NameKey::new(ZoneId::GLOBAL, &name)) {
            return Err(Errno::EEXIST);
        }
        self.outbox.purge(linkid);
        let mut l = link.lock();
        l.set_linkid(linkid);
        l.set_name(Some(name));
        l.set_state(LinkState::Active);
        t.activate(&link);
        sdt::link_activate(linkid.0, &name_arg(&link), addr(&link));
        Ok(())
    }

    /// Destroys a link (`dls_devnet_destroy`): condemns it so no new hold
    /// succeeds, waits for temporary holds as `wait` says, then removes it
    /// from every table. No table lock is held while waiting.
    ///
    /// Errors: `ENOENT` unknown or invisible; `EPERM` a non-global zone
    /// destroying a link it does not own; `EBUSY` long holders other than
    /// the existence hold remain (a lent link has its loan hold), a move
    /// is in flight, or `NoWait` and temporary holds exist; `EINTR` the
    /// `WaitSig` wait was interrupted (the link is left as it was).
    ///
    /// Exception (rule 10): a transient link whose zone is halting is torn
    /// down whatever holds it, exactly as the halt would, and its notice
    /// goes to dlmgmtd through a deferred replay.
    pub fn destroy(&self, caller: ZoneId, linkid: LinkId, wait: DrainWait) -> KResult<()> {
        self.destroy_checked(caller, linkid, None, wait)
    }

    /// [`destroy`](Self::destroy) of link `linkid` only if it is still the
    /// link of MAC `mac`, checked in the same table section that condemns
    /// it: a caller that found the id by MAC name in an earlier section
    /// (`dls_devnet_destroy()`) must not destroy another MAC's link that
    /// took the id meanwhile (the MAC's own torn down with its zone, the
    /// id handed out again by dlmgmtd). `ENOENT` if it is not; errors
    /// otherwise as for `destroy`.
    pub fn destroy_of_mac(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        mac: &[u8],
        wait: DrainWait,
    ) -> KResult<()> {
        MacName::check(mac)?;
        self.destroy_checked(caller, linkid, Some(mac), wait)
    }

    fn destroy_checked(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        mac: Option<&[u8]>,
        wait: DrainWait,
    ) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        linkid.validate()?;
        let link = {
            let mut t = self.table.write_room(&mut cx, &self.outbox, |_| CONDEMN);
            let link = t.link(linkid)?.clone();
            if mac.is_some_and(|m| link.mac().as_bytes() != m) {
                return Err(Errno::ENOENT);
            }
            let mut l = link.lock();
            let w = l.word();
            if w.state() != LinkState::Active || !visible(caller, w.zone_id()) {
                return Err(Errno::ENOENT);
            }
            if !caller.is_global() && l.owner_locked().id != caller {
                return Err(Errno::EPERM);
            }
            if w.busy() {
                return Err(Errno::EBUSY);
            }
            if w.transient() && w.down() {
                self.condemn_locked(&mut t, &link);
                drop(l);
                drop(t);
                self.kick();
                return Ok(());
            }
            if w.loan() || l.holder_holds() > 0 {
                return Err(Errno::EBUSY);
            }
            if l.tmp_holds() == 0 {
                // No temporary hold to wait for, and none can come (they
                // need the table lock); no long hold either (above): gone
                // in this one section, and freed. It passes through every
                // state at once, and says so.
                t.unhash(&link);
                l.update(|w| w.with_existence(false).with_state(LinkState::Freed));
                if sdt::enabled() {
                    destroyed_at_once(&link, w.zone_id());
                }
                return Ok(());
            }
            if wait == DrainWait::NoWait {
                return Err(Errno::EBUSY);
            }
            l.set_state(LinkState::Condemned);
            sdt::link_condemn(linkid.0, w.zone_id().0, addr(&link));
            drop(l);
            link
        };

        // Drain temporary holds with only the link's own mutex held: the
        // wait needs the proof, so no table lock can be held here.
        let how = if wait == DrainWait::WaitSig { Drain::WaitSig } else { Drain::Wait };
        let drained = link.drain(&mut cx, how);
        let mut t =
            self.table.write_room(&mut cx, &self.outbox, |_| Room { limbo: 1, ..Room::NONE });
        let mut l = link.lock();
        if drained == Drained::Interrupted {
            // Left exactly as it was.
            l.set_state(LinkState::Active);
            return Err(Errno::EINTR);
        }
        Self::unhash_locked(&mut t, &link, &mut l);
        Ok(())
    }

    /// The end of a destroy: the link leaves every index and drops its
    /// existence hold. Table (writer) and link locked; needs room for one
    /// limbo entry.
    fn unhash_locked(t: &mut Table, link: &Arc<Link>, l: &mut LinkGuard<'_>) {
        t.unhash(link);
        l.update(|w| w.with_existence(false).with_state(LinkState::Detached));
        sdt::link_detach(l.linkid().0, l.word().zone_id().0, addr(link));
        if !l.settle() {
            // A holder took no new hold (condemned), but a release could
            // not have raced the unhash: anything left is a long hold that
            // the EBUSY check above excluded. Park it to be safe.
            t.park(link.serial(), link);
        }
    }

    /// Condemns and detaches a transient link at once (teardown): no new
    /// hold, unreachable by name or id, the registry's own holds dropped,
    /// memory kept (in limbo) until the last holder lets go, and dlmgmtd's
    /// notice queued. Table locked as writer; needs [`CONDEMN`] room.
    /// Returns whether the link is freed already (nobody held it).
    pub(super) fn condemn_locked(&self, t: &mut Table, link: &Arc<Link>) -> bool {
        t.unhash(link);
        let zone = link.word().zone_id();
        super::observe::link_condemned(link);
        link.update(|w| w.with_existence(false).with_loan(false).with_state(LinkState::Detached));
        // The notice is queued before the link can be freed, so the
        // probes tell it in that order: the record outlives its notice's
        // queueing, not the other way round.
        self.outbox.push(Notice::LinkGone { link: link.linkid(), zone }, link.serial(), zone);
        let freed = link.settle();
        if !freed {
            t.park(link.serial(), link);
        }
        freed
    }

    /// Renames a link inside its current zone. A lent link may be renamed
    /// inside the borrowing zone; its reserved owner-zone name is untouched.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad name; `ENOENT` unknown or
    /// invisible; `EBUSY` open streams or other holders, or a move in
    /// flight; `EEXIST` the name is taken or reserved in that zone.
    pub fn rename(&self, caller: ZoneId, linkid: LinkId, name: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        linkid.validate()?;
        let name = LinkName::words_of(name)?;
        let mut t =
            self.table.write_room(&mut cx, &self.outbox, |_| Room { names: 1, ..Room::NONE });
        let link = t.link(linkid)?.clone();
        let w = link.word();
        if w.state() != LinkState::Active || !visible(caller, w.zone_id()) {
            return Err(Errno::ENOENT);
        }
        if w.busy() || link.holder_holds() > 0 {
            return Err(Errno::EBUSY);
        }
        if link.name_is(&name) {
            return Ok(());
        }
        let key = NameKey::of_words(w.zone_id(), name);
        if !t.name_free(&key) {
            return Err(Errno::EEXIST);
        }
        let old = name_arg(&link);
        t.rename(&link, &mut link.lock(), &key);
        let new = NameArg::from_words(name);
        sdt::link_rename(linkid.0, w.zone_id().0, &old, &new, addr(&link));
        Ok(())
    }

    /// Looks a link up by name in `zone` (`dladm -z`); a non-global
    /// caller may only name its own zone.
    ///
    /// Errors: `ENOENT` no such visible link (also for another zone's
    /// names, as if they did not exist); `EINVAL` bad name or zone id.
    pub fn lookup(&self, caller: ZoneId, zone: ZoneId, name: &[u8]) -> KResult<LinkId> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        zone.validate()?;
        let name = LinkName::new(name)?;
        if !caller.is_global() && caller != zone {
            return Err(Errno::ENOENT);
        }
        let t = self.table.read(&mut cx);
        match t.find_name(&NameKey::new(zone, &name)) {
            Some(l) if l.state() == LinkState::Active => Ok(l.linkid()),
            _ => Err(Errno::ENOENT),
        }
    }

    /// Looks a link up by MAC name (`dls_devnet_macname2linkid`). Never
    /// allocates.
    pub fn lookup_mac(&self, caller: ZoneId, mac: &[u8]) -> KResult<LinkId> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?;
        let w = link.word();
        if w.state() != LinkState::Active || !visible(caller, w.zone_id()) {
            return Err(Errno::ENOENT);
        }
        Ok(link.linkid())
    }

    /// The links a caller may enumerate: those in `zone` (a non-global
    /// caller may only name its own), or with `None` every link the caller
    /// can see. Sorted by id.
    ///
    /// Errors: `ENOENT` a non-global caller naming another zone.
    pub fn list(&self, caller: ZoneId, zone: Option<ZoneId>) -> KResult<Vec<LinkId>> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let zone = match (caller.is_global(), zone) {
            (true, z) => z,
            (false, None) => Some(caller),
            (false, Some(z)) if z == caller => Some(z),
            (false, Some(_)) => return Err(Errno::ENOENT),
        };
        let active = |l: &Arc<Link>| l.state() == LinkState::Active;
        let mut ids = self.collect(
            &mut cx,
            |t| match zone {
                Some(z) => t.zones.get(&z).map_or(0, |e| e.count),
                None => t.by_id.len(),
            },
            |t, out| match zone {
                Some(z) => out.extend(t.zone_links(z).filter(|(_, l)| active(l)).map(|(id, _)| id)),
                None => out.extend(t.by_id.iter().filter(|(_, l)| active(l)).map(|(id, _)| id)),
            },
        );
        crate::sort::sort_unstable(&mut ids);
        Ok(ids)
    }

    /// Copies what `fill` yields under the table lock (as reader) into a
    /// vector allocated with no lock held: `count` bounds how many items
    /// `fill` may yield, and the copy is retried if the table grew past
    /// the room made.
    pub(super) fn collect<T>(
        &self,
        cx: &mut Unlocked,
        count: impl Fn(&Table) -> usize,
        fill: impl Fn(&Table, &mut Vec<T>),
    ) -> Vec<T> {
        let mut out = Vec::new();
        loop {
            let n = count(&self.table.read(cx));
            out.reserve(n);
            let t = self.table.read(cx);
            if count(&t) <= out.capacity() {
                fill(&t, &mut out);
                return out;
            }
        }
    }
}
