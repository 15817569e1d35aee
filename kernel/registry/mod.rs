//! The devnet registry: every datalink's zone bookkeeping (the job of
//! `dls_devnet_t` and its hashes in `dls_mgmt.c`), with IPD 3 semantics.
//!
//! Portable: no FFI, no `unsafe`; it locks only through [`crate::sync`].
//! The rules it enforces are numbered in `docs/design.md`; the locking
//! protocol and lock order are in `docs/locking.md`:
//!
//! 1. zone gate (a logical right per zone, see [`gate`]);
//! 2. the table lock (`RwLock<Table>`);
//! 3. a link's own mutex;
//! 4. the outbox mutex.
//!
//! No registry lock is held across a dlmgmtd upcall or any wait but the
//! condition-variable waits on a link's own mutex; `unlocked.rs` makes the
//! compiler check it.

mod gate;
mod hashtab;
mod invariants;
mod link;
mod outbox;
mod report;
mod snapshot;
mod table;
mod teardown;
pub mod testing;
pub mod types;
mod unlocked;

use alloc::vec::Vec;

pub use invariants::Violation;
pub use link::Link;
pub use outbox::{Dlmgmt, NoDaemon, Notice};
pub use report::{Action, LinkOutcome, TeardownReport};
pub use snapshot::{LinkSnapshot, Snapshot};
pub use types::{
    DrainWait, HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneId, ZoneKey, ZoneState,
};

use crate::errno::{Errno, KResult};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Arc, Wake};
use gate::ZoneGate;
use link::{Drain, LinkInner};
use outbox::Outbox;
use table::{NameSlot, Table, ZoneEntry};
use unlocked::{TableLock, Unlocked, upcall};

/// A counted reference to a link, as a holder keeps it. Holding the `Arc`
/// keeps the memory valid; the hold itself is the count in the record.
pub type LinkRef = Arc<Link>;

/// The registry. One per kernel (a global in `misc/dls`); tests make many.
///
/// Shared by every thread at once; its locks and their order are in
/// `docs/locking.md`.
pub struct Registry {
    table: TableLock,
    gate: ZoneGate,
    outbox: Outbox,
    bad_releases: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// True if a caller in `caller` may see a link in `zone`.
fn visible(caller: ZoneId, zone: ZoneKey) -> bool {
    caller.is_global() || caller == zone.id
}

impl Registry {
    /// An empty registry that knows only the global zone.
    pub fn new() -> Registry {
        Registry {
            table: TableLock::new(Table::new()),
            gate: ZoneGate::new(),
            outbox: Outbox::new(),
            bad_releases: AtomicU64::new(0),
        }
    }

    // ---- zones -------------------------------------------------------

    /// Records a booted zone that may hold links (an exclusive-IP zone's
    /// netstack came up).
    ///
    /// Errors: `EINVAL` bad id; `EEXIST` the id is in use (the global zone,
    /// or an earlier incarnation not yet destroyed).
    pub fn zone_boot(&self, zone: ZoneKey) -> KResult<()> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        let mut t = self.table.write(&mut cx);
        if t.zones.contains_key(&zone.id) {
            return Err(Errno::EEXIST);
        }
        t.zones.insert(
            zone.id,
            ZoneEntry { key: zone, state: ZoneState::Running, links: Default::default() },
        );
        Ok(())
    }

    /// Forgets a halted zone (`zone_destroy`).
    ///
    /// Errors: `ENXIO`/`ESTALE` unknown zone; `EINVAL` the global zone;
    /// `EBUSY` not halted; `ENOTEMPTY` links remain (recover first).
    pub fn zone_destroy(&self, zone: ZoneKey) -> KResult<()> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        if zone.id.is_global() {
            return Err(Errno::EINVAL);
        }
        let _g = self.gate.enter(&mut cx, zone.id);
        let mut t = self.table.write(&mut cx);
        let z = t.zone(zone)?;
        if z.state != ZoneState::Down {
            return Err(Errno::EBUSY);
        }
        if !z.links.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        t.zones.remove(&zone.id);
        Ok(())
    }

    /// A zone's current incarnation and state.
    pub fn zone_state(&self, id: ZoneId) -> Option<(ZoneKey, ZoneState)> {
        let mut cx = Unlocked::new();
        self.table.read(&mut cx).zones.get(&id).map(|z| (z.key, z.state))
    }

    // ---- creation and destruction ------------------------------------

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
        let name = LinkName::new(name)?;
        let mac = MacName::new(mac)?;
        if persistent && !zone.is_global() {
            return Err(Errno::ENOTSUP);
        }
        let mut t = self.table.write(&mut cx);
        let owner = t.running(zone)?;
        if t.by_id.contains_key(&linkid) || t.by_mac.contains_key(&mac) {
            return Err(Errno::EEXIST);
        }
        if !t.name_free(zone, name) {
            return Err(Errno::EEXIST);
        }
        // dlmgmtd handed out this id again, so it has retired the old link
        // of that id: notices still queued about that one are moot, and
        // must not reach dlmgmtd as news about this one.
        self.outbox.purge(linkid);
        let mut inner = LinkInner::new(linkid, Some(name), owner, persistent);
        inner.serial = t.serial();
        let link = Arc::new(Link::new(mac.clone(), inner));
        t.by_mac.insert(mac, link.clone());
        t.by_id.insert(linkid, link);
        t.by_name.insert((zone, name), NameSlot::Link(linkid));
        if let Some(z) = t.zones.get_mut(&zone) {
            z.links.insert(linkid);
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
        let mut t = self.table.write(&mut cx);
        if t.by_mac.contains_key(&mac) {
            return Err(Errno::EEXIST);
        }
        let mut inner = LinkInner::new(LinkId::INVALID, None, ZoneKey::GLOBAL, true);
        inner.serial = t.serial();
        t.by_mac.insert(mac.clone(), Arc::new(Link::new(mac, inner)));
        Ok(())
    }

    /// Forgets a pending link whose device detached before dlmgmtd ever
    /// gave it an id.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad MAC name; `ENOENT` no such
    /// link; `EBUSY` the link is not pending (destroy it by id).
    pub fn destroy_pending(&self, mac: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        let mac = MacName::new(mac)?;
        let mut t = self.table.write(&mut cx);
        let link = t.by_mac.get(&mac).ok_or(Errno::ENOENT)?.clone();
        let mut l = link.lock();
        if l.state != LinkState::Initializing {
            return Err(Errno::EBUSY);
        }
        t.by_mac.remove(&mac);
        l.existence = false;
        l.state = LinkState::Detached;
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
        let mac = MacName::new(mac)?;
        let mut t = self.table.write(&mut cx);
        let link = t.by_mac.get(&mac).ok_or(Errno::ENOENT)?.clone();
        let mut l = link.lock();
        if l.state != LinkState::Initializing {
            return Err(Errno::EINVAL);
        }
        if t.by_id.contains_key(&linkid) || !t.name_free(ZoneId::GLOBAL, name) {
            return Err(Errno::EEXIST);
        }
        self.outbox.purge(linkid);
        l.linkid = linkid;
        l.name = Some(name);
        l.state = LinkState::Active;
        drop(l);
        t.by_id.insert(linkid, link);
        t.by_name.insert((ZoneId::GLOBAL, name), NameSlot::Link(linkid));
        if let Some(z) = t.zones.get_mut(&ZoneId::GLOBAL) {
            z.links.insert(linkid);
        }
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
    /// down whatever holds it, exactly as the halt would.
    pub fn destroy(&self, caller: ZoneId, linkid: LinkId, wait: DrainWait) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        linkid.validate()?;
        let link = {
            let mut t = self.table.write(&mut cx);
            let link = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.clone();
            let mut l = link.lock();
            if l.state != LinkState::Active || !visible(caller, l.zone) {
                return Err(Errno::ENOENT);
            }
            if !caller.is_global() && l.owner.id != caller {
                return Err(Errno::EPERM);
            }
            if l.busy {
                return Err(Errno::EBUSY);
            }
            let zone_state = t.zones.get(&l.zone.id).map(|z| z.state);
            if l.transient && zone_state != Some(ZoneState::Running) {
                let mut queued = 0;
                self.condemn_locked(&mut t, &link, &mut l, &mut queued);
                let free = l.settle();
                drop(l);
                if free {
                    Self::unlimbo_locked(&mut t, &link);
                }
                return Ok(());
            }
            if l.loan || l.holder_holds() > 0 {
                return Err(Errno::EBUSY);
            }
            if wait == DrainWait::NoWait && l.tmp > 0 {
                return Err(Errno::EBUSY);
            }
            l.state = LinkState::Condemned;
            drop(l);
            link
        };

        // Drain temporary holds with only the link's own mutex held: the
        // guard comes from the proof, so no table lock can be held here.
        let how = if wait == DrainWait::WaitSig { Drain::WaitSig } else { Drain::Wait };
        let mut l = link.lock_alone(&mut cx);
        while l.tmp > 0 {
            let (g, wake) = link.wait_drained(l, how);
            l = g;
            if wake == Wake::Interrupted && l.tmp > 0 {
                l.state = LinkState::Active;
                return Err(Errno::EINTR);
            }
        }
        drop(l);

        let mut t = self.table.write(&mut cx);
        let mut l = link.lock();
        Self::unhash_locked(&mut t, &link, &l);
        l.state = LinkState::Detached;
        l.existence = false;
        let free = l.settle();
        if !free {
            // A holder took no new hold (condemned), but a release could
            // not have raced the unhash: anything left is a long hold that
            // the EBUSY check above excluded. Park it to be safe.
            t.park(l.serial, &link);
        }
        Ok(())
    }

    /// Removes a link from every table (not limbo). Table and link locked.
    fn unhash_locked(t: &mut Table, link: &Arc<Link>, l: &LinkInner) {
        let id = l.linkid;
        if let Some(name) = l.name {
            if t.by_name.get(&(l.zone.id, name)) == Some(&NameSlot::Link(id)) {
                t.by_name.remove(&(l.zone.id, name));
            }
        }
        if let Some(res) = l.reserved {
            t.by_name.remove(&(l.owner.id, res));
        }
        if t.by_id.get(&id).is_some_and(|v| Arc::ptr_eq(v, link)) {
            t.by_id.remove(&id);
        }
        if t.by_mac.get(link.mac()).is_some_and(|v| Arc::ptr_eq(v, link)) {
            t.by_mac.remove(link.mac());
        }
        if let Some(z) = t.zones.get_mut(&l.zone.id) {
            z.links.remove(&id);
        }
    }

    /// Condemns and detaches a transient link at once (teardown): no new
    /// hold, unreachable by name or id, the registry's own holds dropped,
    /// memory kept until the last holder lets go. Table and link locked.
    fn condemn_locked(
        &self,
        t: &mut Table,
        link: &Arc<Link>,
        l: &mut LinkInner,
        queued: &mut usize,
    ) {
        Self::unhash_locked(t, link, l);
        let zone = l.zone.id;
        l.state = LinkState::Detached;
        l.existence = false;
        l.loan = false;
        l.reserved = None;
        t.park(l.serial, link);
        self.outbox.push(Notice::LinkGone { link: l.linkid, zone }, l.serial);
        *queued += 1;
    }

    /// Drops a freed link from limbo. Table locked, link not.
    fn unlimbo_locked(t: &mut Table, link: &Arc<Link>) {
        let serial = link.lock().serial;
        t.limbo.remove(&serial);
    }

    fn unlimbo(&self, cx: &mut Unlocked, link: &Arc<Link>) {
        let mut t = self.table.write(cx);
        Self::unlimbo_locked(&mut t, link);
    }

    // ---- names -------------------------------------------------------

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
        let name = LinkName::new(name)?;
        let mut t = self.table.write(&mut cx);
        let link = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.clone();
        let mut l = link.lock();
        if l.state != LinkState::Active || !visible(caller, l.zone) {
            return Err(Errno::ENOENT);
        }
        if l.busy || l.holder_holds() > 0 {
            return Err(Errno::EBUSY);
        }
        let zone = l.zone.id;
        if l.name == Some(name) {
            return Ok(());
        }
        if !t.name_free(zone, name) {
            return Err(Errno::EEXIST);
        }
        if let Some(old) = l.name {
            t.by_name.remove(&(zone, old));
        }
        t.by_name.insert((zone, name), NameSlot::Link(linkid));
        l.name = Some(name);
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
        match t.by_name.get(&(zone, name)) {
            Some(NameSlot::Link(id)) => {
                let l = t.by_id.get(id).ok_or(Errno::ENOENT)?.lock();
                if l.state == LinkState::Active { Ok(*id) } else { Err(Errno::ENOENT) }
            }
            _ => Err(Errno::ENOENT),
        }
    }

    /// Looks a link up by MAC name (`dls_devnet_macname2linkid`).
    /// Never allocates (the stream-open path uses it through
    /// [`hold_by_mac`](Self::hold_by_mac)).
    pub fn lookup_mac(&self, caller: ZoneId, mac: &[u8]) -> KResult<LinkId> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        let link = t.by_mac.get_where(hashtab::mac_hash(mac), |k| k.as_bytes() == mac);
        let l = link.ok_or(Errno::ENOENT)?.lock();
        if l.state != LinkState::Active || !visible(caller, l.zone) {
            return Err(Errno::ENOENT);
        }
        Ok(l.linkid)
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
        let t = self.table.read(&mut cx);
        let ids: Vec<LinkId> = match zone {
            Some(z) => {
                t.zones.get(&z).map(|e| e.links.iter().copied().collect()).unwrap_or_default()
            }
            None => {
                // The id index is a hash table: sort into id order.
                let mut ids: Vec<LinkId> = t.by_id.keys().copied().collect();
                crate::sort::sort_unstable(&mut ids);
                ids
            }
        };
        Ok(ids
            .into_iter()
            .filter(|id| t.by_id.get(id).is_some_and(|l| l.lock().state == LinkState::Active))
            .collect())
    }

    // ---- holds -------------------------------------------------------

    fn find(t: &Table, linkid: LinkId) -> KResult<Arc<Link>> {
        t.by_id.get(&linkid).cloned().ok_or(Errno::ENOENT)
    }

    /// Takes a temporary hold (`dls_devnet_hold_tmp`): short, no
    /// provenance, does not block destroy (which waits for it). Takes
    /// only the table lock as reader and the link's mutex; never
    /// allocates.
    ///
    /// Errors: `ENOENT` unknown, invisible, initializing or condemned;
    /// `EOVERFLOW` counter saturated.
    pub fn hold_tmp(&self, caller: ZoneId, linkid: LinkId) -> KResult<LinkRef> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let t = self.table.read(&mut cx);
        let link = Self::find(&t, linkid)?;
        let mut l = link.lock();
        if l.state != LinkState::Active || !visible(caller, l.zone) {
            return Err(Errno::ENOENT);
        }
        // The deliberately broken variant checks, unlocks, then counts: a
        // destroy can condemn and free the link in between.
        #[cfg(dlszone_broken = "early_unlock")]
        let mut l = {
            drop(l);
            drop(t);
            link.lock()
        };
        l.tmp = l.tmp.checked_add(1).ok_or(Errno::EOVERFLOW)?;
        drop(l);
        Ok(link)
    }

    /// Releases a temporary hold. Safe on a condemned or detached link.
    ///
    /// Errors: `ENOENT` the link has no temporary hold (counted in
    /// [`bad_releases`](Self::bad_releases); nothing changes).
    pub fn rele_tmp(&self, link: &LinkRef) -> KResult<()> {
        let mut cx = Unlocked::new();
        let mut l = link.lock();
        if l.tmp == 0 {
            drop(l);
            self.bad_releases.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::ENOENT);
        }
        l.tmp -= 1;
        if l.tmp == 0 {
            link.notify_drained();
        }
        let free = l.settle();
        drop(l);
        if free {
            self.unlimbo(&mut cx, link);
        }
        Ok(())
    }

    /// Takes a long hold of `kind` on behalf of a holder in `caller`'s
    /// zone. Never allocates.
    ///
    /// Errors: `EINVAL` the kind is the registry's own (existence, loan);
    /// `ENOENT` unknown, invisible, or not active; `ENXIO` the caller's
    /// zone is halting; `EBUSY` a non-global caller and the link is being
    /// returned from its zone; `EOVERFLOW`.
    pub fn hold(&self, caller: ZoneId, linkid: LinkId, kind: HoldKind) -> KResult<LinkRef> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        kind.slot().ok_or(Errno::EINVAL)?;
        let t = self.table.read(&mut cx);
        let link = Self::find(&t, linkid)?;
        let mut l = link.lock();
        if l.state != LinkState::Active || !visible(caller, l.zone) {
            return Err(Errno::ENOENT);
        }
        let holder = if caller.is_global() { ZoneKey::GLOBAL } else { t.running(caller)? };
        if l.busy && holder != ZoneKey::GLOBAL {
            // The link is on its way out of the caller's zone, dlmgmtd
            // being asked: a hold taken now would be lost by the commit.
            return Err(Errno::EBUSY);
        }
        l.take(kind, holder)?;
        drop(l);
        Ok(link)
    }

    /// Takes a long hold by MAC name (`dls_devnet_hold_by_dev`).
    pub fn hold_by_mac(&self, caller: ZoneId, mac: &[u8], kind: HoldKind) -> KResult<LinkRef> {
        let id = self.lookup_mac(caller, mac)?;
        self.hold(caller, id, kind)
    }

    /// Releases a long hold taken by a holder in the zone incarnation
    /// `holder` (`ZoneKey::GLOBAL` for the global zone; in the kernel, the
    /// releasing thread's `zone_id` and `zone_uniqid`). The full key, not
    /// the id, so a late release from a zone whose id was reused never
    /// consumes a hold of the new incarnation. Safe on a condemned or
    /// detached link; the last release frees it.
    ///
    /// Errors: `EINVAL` registry-owned kind; `ENOENT` no matching hold
    /// (counted; nothing changes: never an underflow, never a panic).
    pub fn rele(&self, link: &LinkRef, holder: ZoneKey, kind: HoldKind) -> KResult<()> {
        let mut cx = Unlocked::new();
        let mut l = link.lock();
        if let Err(e) = l.drop_hold(kind, holder) {
            drop(l);
            self.bad_releases.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let free = l.settle();
        drop(l);
        if free {
            self.unlimbo(&mut cx, link);
        }
        Ok(())
    }

    /// Who holds a link: kind, holder zone, count. Global zone only.
    ///
    /// Errors: `EACCES` not the global zone; `ENOENT` unknown link.
    pub fn holders(&self, caller: ZoneId, linkid: LinkId) -> KResult<Vec<Holder>> {
        let mut cx = Unlocked::new();
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        let t = self.table.read(&mut cx);
        let l = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.lock();
        Ok(l.holders())
    }

    /// Releases that matched no hold, since the registry was made.
    pub fn bad_releases(&self) -> u64 {
        self.bad_releases.load(Ordering::Relaxed)
    }

    /// Detached links still kept alive by holders.
    pub fn pending_frees(&self) -> usize {
        let mut cx = Unlocked::new();
        self.table.read(&mut cx).limbo.len()
    }

    // ---- lending -----------------------------------------------------

    /// Moves a link as `dls_devnet_setzid` does: to a non-global zone is a
    /// [`lend`](Self::lend), to the global zone a
    /// [`give_back`](Self::give_back).
    pub fn setzid(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        zone: ZoneId,
        transient: bool,
        up: &dyn Dlmgmt,
    ) -> KResult<()> {
        if zone.is_global() {
            self.give_back(caller, linkid, up)
        } else {
            self.lend(caller, linkid, zone, transient, up)
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
    pub fn lend(
        &self,
        caller: ZoneId,
        linkid: LinkId,
        to: ZoneId,
        transient: bool,
        up: &dyn Dlmgmt,
    ) -> KResult<()> {
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
        let (link, name, to_key) = {
            let mut t = self.table.write(&mut cx);
            let link = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.clone();
            let mut l = link.lock();
            if l.state != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if l.owner != ZoneKey::GLOBAL {
                return Err(Errno::EPERM);
            }
            if l.busy || l.is_lent() {
                return Err(Errno::EBUSY);
            }
            if l.pending_notices > 0 {
                return Err(Errno::EAGAIN);
            }
            if transient && l.persistent {
                return Err(Errno::EINVAL);
            }
            let to_key = t.running(to)?;
            let name = l.name.ok_or(Errno::ENOENT)?;
            if !t.name_free(to, name) {
                return Err(Errno::EEXIST);
            }
            t.by_name.insert((to, name), NameSlot::Incoming(linkid));
            l.busy = true;
            drop(l);
            (link, name, to_key)
        };

        let res = self.tell(&mut cx, up, &Notice::SetZone { link: linkid, zone: to });

        let mut t = self.table.write(&mut cx);
        let mut l = link.lock();
        l.busy = false;
        if let Err(e) = res {
            t.by_name.remove(&(to, name));
            return Err(e);
        }
        t.by_name.insert((to, name), NameSlot::Link(linkid));
        t.by_name.insert((ZoneId::GLOBAL, name), NameSlot::Reserved(linkid));
        t.rezone(linkid, ZoneId::GLOBAL, to);
        l.zone = to_key;
        l.loan = true;
        l.reserved = Some(name);
        l.transient = transient;
        Ok(())
    }

    /// Returns a lent link to the global zone under its reserved name,
    /// dropping exactly the loan hold. Returning a link already in the
    /// global zone does nothing.
    ///
    /// Errors: `EACCES` caller not the global zone; `ENOENT` unknown link;
    /// `EBUSY` holds taken inside the borrowing zone, or a move in flight;
    /// or dlmgmtd's error. On error nothing changes.
    pub fn give_back(&self, caller: ZoneId, linkid: LinkId, up: &dyn Dlmgmt) -> KResult<()> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        linkid.validate()?;
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        let zone = {
            let t = self.table.read(&mut cx);
            let l = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.lock();
            if l.state != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if !l.is_lent() {
                return Ok(());
            }
            l.zone.id
        };
        let _gate = self.gate.enter(&mut cx, zone);
        let link = {
            let t = self.table.write(&mut cx);
            let link = t.by_id.get(&linkid).ok_or(Errno::ENOENT)?.clone();
            let mut l = link.lock();
            if l.state != LinkState::Active {
                return Err(Errno::ENOENT);
            }
            if !l.is_lent() {
                // Returned by a halt or recovery while we waited.
                return Ok(());
            }
            if l.zone.id != zone || l.busy || l.zone_side_holds() > 0 {
                return Err(Errno::EBUSY);
            }
            l.busy = true;
            drop(l);
            link
        };

        let res = self.tell(&mut cx, up, &Notice::SetZone { link: linkid, zone: ZoneId::GLOBAL });

        let mut t = self.table.write(&mut cx);
        let mut l = link.lock();
        l.busy = false;
        res?;
        Self::return_locked(&mut t, &mut l);
        Ok(())
    }

    /// Commits a return: the link is back in its owner zone under the
    /// reserved name and the loan hold is gone. Table and link locked.
    fn return_locked(t: &mut Table, l: &mut LinkInner) {
        let id = l.linkid;
        let from = l.zone.id;
        if let Some(name) = l.name {
            t.by_name.remove(&(from, name));
        }
        let name = l.reserved.take().or(l.name);
        if let Some(name) = name {
            t.by_name.insert((l.owner.id, name), NameSlot::Link(id));
        }
        t.rezone(id, from, l.owner.id);
        l.name = name;
        l.zone = l.owner;
        l.loan = false;
        l.transient = l.owner != ZoneKey::GLOBAL;
        l.zone_holds = Default::default();
        l.zone_holder = None;
    }

    // ---- dlmgmtd -----------------------------------------------------

    /// Notices waiting for dlmgmtd, oldest first.
    pub fn outbox(&self) -> Vec<Notice> {
        self.outbox.pending()
    }

    /// Delivers queued notices in order, each exactly once; stops at the
    /// first failure, keeping it and everything after it for next time.
    /// Called when dlmgmtd registers its door; safe to call any time.
    ///
    /// Returns how many were delivered. Errors: `EALREADY` another replay
    /// is running (it will deliver them); or the daemon's error.
    pub fn replay_outbox(&self, up: &dyn Dlmgmt) -> KResult<usize> {
        let mut cx = Unlocked::new();
        self.replay(&mut cx, up)
    }

    /// One channel holder at a time; no lock is held across a delivery.
    /// The holder gives the channel up in the same critical section in which
    /// it finds the queue empty, so a notice queued by a caller that got
    /// `EALREADY` is always seen by the replayer that refused it.
    fn replay(&self, cx: &mut Unlocked, up: &dyn Dlmgmt) -> KResult<usize> {
        if !self.outbox.try_claim() {
            return Err(Errno::EALREADY);
        }
        self.flush(cx, up)
    }

    /// Asks dlmgmtd about a move, after everything queued before it, so
    /// a move never overtakes an older notice (see `outbox.rs`). If a
    /// queued notice cannot be delivered the move is refused with that
    /// error and the notice stays queued. With nothing queued — the usual
    /// case — the upcall needs no channel, so moves in different zones
    /// talk to dlmgmtd in parallel and one wedged upcall stalls only its
    /// own zone.
    fn tell(&self, cx: &mut Unlocked, up: &dyn Dlmgmt, notice: &Notice) -> KResult<()> {
        if self.outbox.has_queued() {
            self.outbox.claim(cx);
            self.flush(cx, up)?;
        }
        upcall(cx, up, notice)
    }

    /// Delivers queued notices oldest first, the channel held; gives the
    /// channel up on finding the queue empty or on a failure.
    fn flush(&self, cx: &mut Unlocked, up: &dyn Dlmgmt) -> KResult<usize> {
        let mut delivered = 0;
        loop {
            let Some((seq, notice, serial)) = self.outbox.next_or_finish() else {
                return Ok(delivered);
            };
            if let Err(e) = upcall(cx, up, &notice) {
                self.outbox.release();
                return Err(e);
            }
            // Dequeue and clear the link's pending count in one table
            // section, so no reader sees one without the other.
            let t = self.table.write(cx);
            self.outbox.pop(seq);
            if let Some(link) = t.by_id.get(&notice.link()) {
                let mut l = link.lock();
                if l.serial == serial {
                    l.pending_notices = l.pending_notices.saturating_sub(1);
                }
            }
            delivered += 1;
        }
    }

    // ---- whole-registry views ----------------------------------------

    /// Checks every rule of `docs/design.md` over the whole registry.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        let mut cx = Unlocked::new();
        let t = self.table.read(&mut cx);
        invariants::check(&t, &self.outbox)
    }

    /// A canonical, deterministic dump of every link (rule 9).
    pub fn snapshot(&self) -> Snapshot {
        let mut cx = Unlocked::new();
        let t = self.table.read(&mut cx);
        snapshot::take(&t)
    }
}
