//! The registry's indexes (the role of `i_dls_devnet_hash` and
//! `i_dls_devnet_id_hash`, plus per-zone namespaces, zone link lists and
//! limbo), and every change to them. Protected by the registry's table
//! lock; see `docs/locking.md`.
//!
//! Every index is a [`HashTab`], so lookups, holds and releases cost the
//! same at any number of links. A zone's links form a list threaded
//! through the id index's entries (`next`/`prev` link ids), so moving a
//! link between zones, or dropping one, never allocates, and a halt walks
//! exactly the links of its zone.
//!
//! Nothing here allocates under the lock except through [`Table::plan`]:
//! a writer section states the [`Room`] it needs, and whatever is short is
//! allocated with no lock held and adopted afterwards
//! (`TableLock::write_room`).

use super::hashtab::{HashTab, Slots, TabKey};
use super::link::{Link, LinkInner};
use super::outbox::{Outbox, OutboxSpace};
use super::stats::{StatsHandle, set};
use super::types::{LinkId, LinkName, MacName, ZoneId, ZoneKey, ZoneState};
use crate::errno::{Errno, KResult};
use crate::sync::Arc;

/// What occupies a (zone, name) slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NameSlot {
    /// The link of that id is in the zone under that name.
    Link(LinkId),
    /// The global-zone name of a lent link, kept for its return.
    Reserved(LinkId),
    /// A lend into this zone is in flight under this name.
    Incoming(LinkId),
}

/// A tabled link with an id, and its place in its zone's link list.
pub(crate) struct IdEntry {
    pub(crate) link: Arc<Link>,
    /// Neighbours in the zone's list (`LinkId::INVALID`: none).
    next: LinkId,
    prev: LinkId,
}

/// A zone the registry knows.
pub(crate) struct ZoneEntry {
    pub(crate) key: ZoneKey,
    pub(crate) state: ZoneState,
    /// First link of the zone's list (`LinkId::INVALID`: empty).
    head: LinkId,
    /// Links in the list.
    pub(crate) count: usize,
}

impl TabKey for ZoneId {
    fn hash64(&self) -> u64 {
        u64::from(self.0 as u32)
    }
}

impl TabKey for u64 {
    fn hash64(&self) -> u64 {
        *self
    }
}

/// Every index, kept consistent under one write section.
pub(crate) struct Table {
    /// Every tabled link (initializing, active, or condemned and still
    /// draining), by MAC name.
    pub(crate) by_mac: HashTab<MacName, Arc<Link>>,
    /// Links with an id, each in its zone's list.
    pub(crate) by_id: HashTab<LinkId, IdEntry>,
    /// Per-zone namespaces.
    pub(crate) by_name: HashTab<(ZoneId, LinkName), NameSlot>,
    /// Known zones.
    pub(crate) zones: HashTab<ZoneId, ZoneEntry>,
    /// Detached links some holder still keeps alive, by serial.
    pub(crate) limbo: HashTab<u64, Arc<Link>>,
    /// Counts writer sections: two reads that see the same value saw the
    /// same table (`dls_devnet_snapshot()`'s generation).
    pub(crate) generation: u64,
    /// Where [`publish`](Self::publish) puts the gauges (`stats.rs`).
    pub(crate) stats: Option<StatsHandle>,
}

/// How many entries a writer section may add, per index, and how many
/// notices it may queue: an upper bound, reserved before the section.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Room {
    pub(crate) ids: usize,
    pub(crate) macs: usize,
    pub(crate) names: usize,
    pub(crate) zones: usize,
    pub(crate) limbo: usize,
    pub(crate) notices: usize,
}

/// What is short, as sizes to allocate (with no lock held).
pub(crate) struct Plan {
    by_id: Option<usize>,
    by_mac: Option<usize>,
    by_name: Option<usize>,
    zones: Option<usize>,
    limbo: Option<usize>,
    notices: Option<usize>,
}

/// Memory allocated for a [`Plan`], to be adopted under the writer.
pub(crate) struct Fresh {
    by_id: Option<Slots<LinkId, IdEntry>>,
    by_mac: Option<Slots<MacName, Arc<Link>>>,
    by_name: Option<Slots<(ZoneId, LinkName), NameSlot>>,
    zones: Option<Slots<ZoneId, ZoneEntry>>,
    limbo: Option<Slots<u64, Arc<Link>>>,
    notices: Option<OutboxSpace>,
}

impl Plan {
    /// Allocates what the plan asks for. May sleep: no lock may be held.
    pub(crate) fn allocate(self) -> Fresh {
        Fresh {
            by_id: self.by_id.map(Slots::new),
            by_mac: self.by_mac.map(Slots::new),
            by_name: self.by_name.map(Slots::new),
            zones: self.zones.map(Slots::new),
            limbo: self.limbo.map(Slots::new),
            notices: self.notices.map(OutboxSpace::new),
        }
    }
}

impl Table {
    pub(crate) fn new() -> Table {
        let mut zones = HashTab::new();
        zones.insert(
            ZoneId::GLOBAL,
            ZoneEntry {
                key: ZoneKey::GLOBAL,
                state: ZoneState::Running,
                head: LinkId::INVALID,
                count: 0,
            },
        );
        Table {
            by_mac: HashTab::new(),
            by_id: HashTab::new(),
            by_name: HashTab::new(),
            zones,
            limbo: HashTab::new(),
            generation: 0,
            stats: None,
        }
    }

    /// Publishes the gauges the kstat shows (`links`, `zones`, `limbo`),
    /// after every change to their indexes (so they are exact as of the
    /// last writer, and the kstat reads them with no lock). Out of line
    /// and cold, so the teardown paths' frames do not grow by it.
    #[cold]
    #[inline(never)]
    pub(crate) fn publish(&self) {
        if let Some(s) = &self.stats {
            set(&s.links, self.by_mac.len());
            set(&s.zones, self.zones.len());
            set(&s.limbo, self.limbo.len());
        }
    }

    // ---- room --------------------------------------------------------

    /// What must be allocated before a section that needs `room` can run
    /// without allocating; `None` if everything fits. Takes the outbox
    /// lock (a leaf) for a moment.
    pub(crate) fn plan(&self, room: &Room, outbox: &Outbox) -> Option<Plan> {
        let plan = Plan {
            by_id: self.by_id.want(room.ids),
            by_mac: self.by_mac.want(room.macs),
            by_name: self.by_name.want(room.names),
            zones: self.zones.want(room.zones),
            limbo: self.limbo.want(room.limbo),
            notices: outbox.want(room.notices),
        };
        let short = plan.by_id.is_some()
            || plan.by_mac.is_some()
            || plan.by_name.is_some()
            || plan.zones.is_some()
            || plan.limbo.is_some()
            || plan.notices.is_some();
        short.then_some(plan)
    }

    /// Moves the entries into what was allocated for the plan, wherever it
    /// still fits `room` (another thread may have grown an index since;
    /// what is not adopted is freed). Never allocates.
    pub(crate) fn adopt(&mut self, fresh: Fresh, room: &Room, outbox: &Outbox) {
        if let Some(s) = fresh.by_id {
            self.by_id.adopt(s, room.ids);
        }
        if let Some(s) = fresh.by_mac {
            self.by_mac.adopt(s, room.macs);
        }
        if let Some(s) = fresh.by_name {
            self.by_name.adopt(s, room.names);
        }
        if let Some(s) = fresh.zones {
            self.zones.adopt(s, room.zones);
        }
        if let Some(s) = fresh.limbo {
            self.limbo.adopt(s, room.limbo);
        }
        if let Some(s) = fresh.notices {
            outbox.adopt(s, room.notices);
        }
    }

    // ---- zones -------------------------------------------------------

    /// The zone entry for `key`: `ENXIO` if unknown, `ESTALE` if the id now
    /// names another incarnation.
    pub(crate) fn zone(&self, key: ZoneKey) -> KResult<&ZoneEntry> {
        let z = self.zones.get(&key.id).ok_or(Errno::ENXIO)?;
        if z.key != key {
            return Err(Errno::ESTALE);
        }
        Ok(z)
    }

    pub(crate) fn zone_mut(&mut self, key: ZoneKey) -> KResult<&mut ZoneEntry> {
        let z = self.zones.get_mut(&key.id).ok_or(Errno::ENXIO)?;
        if z.key != key {
            return Err(Errno::ESTALE);
        }
        Ok(z)
    }

    /// A running zone's current key, for links entering it.
    pub(crate) fn running(&self, id: ZoneId) -> KResult<ZoneKey> {
        match self.zones.get(&id) {
            Some(z) if z.state == ZoneState::Running => Ok(z.key),
            _ => Err(Errno::ENXIO),
        }
    }

    /// Records a booted zone. Needs room for one zone.
    pub(crate) fn add_zone(&mut self, key: ZoneKey) {
        self.zones.insert(
            key.id,
            ZoneEntry { key, state: ZoneState::Running, head: LinkId::INVALID, count: 0 },
        );
        self.publish();
    }

    /// Forgets a zone.
    pub(crate) fn remove_zone(&mut self, id: ZoneId) {
        self.zones.remove(&id);
        self.publish();
    }

    /// The links in `zone`, in list order.
    pub(crate) fn zone_links(&self, zone: ZoneId) -> ZoneLinks<'_> {
        let head = self.zones.get(&zone).map_or(LinkId::INVALID, |z| z.head);
        ZoneLinks { t: self, next: head }
    }

    /// Puts `id` (already in the id index) at the head of `zone`'s list.
    fn attach(&mut self, zone: ZoneId, id: LinkId) {
        let Some(z) = self.zones.get_mut(&zone) else { return };
        let old = core::mem::replace(&mut z.head, id);
        z.count += 1;
        if let Some(e) = self.by_id.get_mut(&old) {
            e.prev = id;
        }
        if let Some(e) = self.by_id.get_mut(&id) {
            e.next = old;
            e.prev = LinkId::INVALID;
        }
    }

    /// Takes `id` out of `zone`'s list.
    fn detach(&mut self, zone: ZoneId, id: LinkId) {
        let Some((next, prev)) = self.by_id.get(&id).map(|e| (e.next, e.prev)) else { return };
        match self.by_id.get_mut(&prev) {
            Some(e) => e.next = next,
            None => {
                if let Some(z) = self.zones.get_mut(&zone) {
                    z.head = next;
                }
            }
        }
        if let Some(e) = self.by_id.get_mut(&next) {
            e.prev = prev;
        }
        if let Some(z) = self.zones.get_mut(&zone) {
            z.count = z.count.saturating_sub(1);
        }
        if let Some(e) = self.by_id.get_mut(&id) {
            e.next = LinkId::INVALID;
            e.prev = LinkId::INVALID;
        }
    }

    /// Moves `id` from `from`'s list to `to`'s.
    pub(crate) fn rezone(&mut self, id: LinkId, from: ZoneId, to: ZoneId) {
        self.detach(from, id);
        self.attach(to, id);
    }

    // ---- links -------------------------------------------------------

    pub(crate) fn name_free(&self, zone: ZoneId, name: LinkName) -> bool {
        !self.by_name.contains_key(&(zone, name))
    }

    /// The tabled link with id `id`.
    pub(crate) fn link(&self, id: LinkId) -> KResult<&Arc<Link>> {
        self.by_id.get(&id).map(|e| &e.link).ok_or(Errno::ENOENT)
    }

    /// Tables a new link under its id, MAC name and name in its zone.
    /// Needs room for one id, one MAC name and one name.
    pub(crate) fn insert_link(&mut self, link: &Arc<Link>, l: &LinkInner) {
        self.by_mac.insert(link.mac().clone(), link.clone());
        self.insert_id(link, l);
        self.publish();
    }

    /// Tables a pending link (no id yet) by its MAC name. Needs room for
    /// one MAC name.
    pub(crate) fn insert_pending(&mut self, link: &Arc<Link>) {
        self.by_mac.insert(link.mac().clone(), link.clone());
        self.publish();
    }

    /// Forgets a pending link (its MAC name).
    pub(crate) fn remove_pending(&mut self, mac: &MacName) {
        self.by_mac.remove(mac);
        self.publish();
    }

    /// Gives a tabled pending link its id and name. Needs room for one id
    /// and one name.
    pub(crate) fn insert_id(&mut self, link: &Arc<Link>, l: &LinkInner) {
        let id = l.linkid;
        self.by_id.insert(
            id,
            IdEntry { link: link.clone(), next: LinkId::INVALID, prev: LinkId::INVALID },
        );
        if let Some(name) = l.name {
            self.by_name.insert((l.zone.id, name), NameSlot::Link(id));
        }
        self.attach(l.zone.id, id);
    }

    /// Removes a link from the id index and its zone's list only. Link
    /// locked.
    pub(crate) fn unhash_id(&mut self, link: &Arc<Link>, l: &LinkInner) {
        let id = l.linkid;
        if self.by_id.get(&id).is_some_and(|e| Arc::ptr_eq(&e.link, link)) {
            self.detach(l.zone.id, id);
            self.by_id.remove(&id);
        }
    }

    /// Removes a link from every index (not limbo). Link locked.
    pub(crate) fn unhash(&mut self, link: &Arc<Link>, l: &LinkInner) {
        let id = l.linkid;
        if let Some(name) = l.name {
            if self.by_name.get(&(l.zone.id, name)) == Some(&NameSlot::Link(id)) {
                self.by_name.remove(&(l.zone.id, name));
            }
        }
        if let Some(res) = l.reserved {
            self.by_name.remove(&(l.owner.id, res));
        }
        if self.by_id.get(&id).is_some_and(|e| Arc::ptr_eq(&e.link, link)) {
            self.detach(l.zone.id, id);
            self.by_id.remove(&id);
        }
        if self.by_mac.get(link.mac()).is_some_and(|v| Arc::ptr_eq(v, link)) {
            self.by_mac.remove(link.mac());
        }
        self.publish();
    }

    /// Renames link `id` inside `zone`. Needs room for one name.
    pub(crate) fn rename(
        &mut self,
        zone: ZoneId,
        id: LinkId,
        old: Option<LinkName>,
        new: LinkName,
    ) {
        if let Some(old) = old {
            self.by_name.remove(&(zone, old));
        }
        self.by_name.insert((zone, new), NameSlot::Link(id));
    }

    /// Parks a detached link until its last holder lets go. Needs room
    /// for one limbo entry.
    pub(crate) fn park(&mut self, serial: u64, link: &Arc<Link>) {
        self.limbo.insert(serial, link.clone());
        self.publish();
    }

    /// Drops a freed link from limbo.
    pub(crate) fn unpark(&mut self, serial: u64) {
        self.limbo.remove(&serial);
        self.publish();
    }
}

/// Iterator over a zone's links (see [`Table::zone_links`]).
pub(crate) struct ZoneLinks<'a> {
    t: &'a Table,
    next: LinkId,
}

impl<'a> Iterator for ZoneLinks<'a> {
    type Item = (LinkId, &'a Arc<Link>);

    fn next(&mut self) -> Option<Self::Item> {
        let id = self.next;
        let e = self.t.by_id.get(&id)?;
        self.next = e.next;
        Some((id, &e.link))
    }
}
