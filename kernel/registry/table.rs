//! The registry's indexes (the role of `i_dls_devnet_hash` and
//! `i_dls_devnet_id_hash`, plus per-zone namespaces, zone link lists and
//! limbo), and every change to them. Protected by the registry's table
//! lock; see `docs/locking.md`.
//!
//! The id index maps a link id to its record and keeps only the record
//! (8 bytes a slot). The MAC and (zone, name) indexes are [`TagTab`]s: a
//! hash tag and a link id (8 bytes), or a tag and the record (16); the
//! names themselves are in the records (a MAC name fixed, a link's current
//! name as tabled state), so a lookup compares through the record. A MAC
//! lookup goes through the id index to reach it; a name lookup, the one a
//! zone's by-name holds make, reaches it at once. A (zone, name) slot's
//! tag carries its [`NameKind`] in its two low bits: the name a link has
//! in its zone, the global-zone name a lent link keeps reserved, or the
//! name a lend in flight reserves in the borrowing zone; the two reserved
//! ones are the link's [`Lend`].
//! Links still waiting for an id (`create_pending`) are kept apart, by
//! serial: there are few, and only the MAC lookups look at them.
//!
//! A zone's links form a list threaded through the records (`next`/`prev`
//! link ids), so moving a link between zones, or dropping one, never
//! allocates, and a halt walks exactly the links of its zone.
//!
//! Nothing here allocates under the lock except through [`Table::plan`]:
//! a writer section states the [`Room`] it needs, and whatever is short is
//! allocated with no lock held and adopted afterwards
//! (`TableLock::write_room`).

use alloc::boxed::Box;
use core::num::NonZeroU32;

use super::hashtab::{
    HashTab, Slot, SlotTab, Slots, TabKey, TagSlot, TagTab, Tagged, mac_hash, name_hash, tag_of,
    tag_of_hash,
};
use super::link::{Link, LinkGuard};
use super::outbox::{Outbox, OutboxSpace};
use super::stats::{StatsHandle, set};
use super::types::{LinkId, LinkName, ZoneId, ZoneKey, ZoneState};
use crate::errno::{Errno, KResult};
use crate::sync::Arc;

/// What a (zone, name) slot stands for: the low two bits of its tag.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NameKind {
    /// The link is in the zone under that name.
    Link = 0,
    /// The global-zone name of a lent link, kept for its return.
    Reserved = 1,
    /// A lend into this zone is in flight under this name.
    Incoming = 2,
}

const KIND_BITS: u32 = 0b11;

impl NameKind {
    pub(crate) fn of(tag: u32) -> NameKind {
        match tag & KIND_BITS {
            0 => NameKind::Link,
            1 => NameKind::Reserved,
            _ => NameKind::Incoming,
        }
    }
}

/// The tag of the name with these words ([`LinkName::to_words`]) in
/// `zone`, with no kind.
pub(crate) fn name_tag(zone: ZoneId, name: [u64; 4]) -> u32 {
    NameKey::of_words(zone, name).tag
}

/// A (zone, name) key as the name index is searched with: the name's
/// words ([`LinkName::to_words`]), computed once, and its tag with no
/// kind.
#[derive(Clone, Copy)]
pub(crate) struct NameKey {
    zone: ZoneId,
    words: [u64; 4],
    tag: u32,
}

impl NameKey {
    pub(crate) fn new(zone: ZoneId, name: &LinkName) -> NameKey {
        NameKey::of_words(zone, name.to_words())
    }

    /// The key of a name a record keeps as words.
    pub(crate) fn of_link(zone: ZoneId, link: &Link) -> NameKey {
        NameKey::of_words(zone, link.name_words())
    }

    /// The name's words.
    pub(crate) fn words(&self) -> [u64; 4] {
        self.words
    }

    /// The key of a name given as its bytes; errors as [`LinkName::new`].
    #[inline]
    pub(crate) fn of_bytes(zone: ZoneId, name: &[u8]) -> KResult<NameKey> {
        LinkName::words_of(name).map(|w| NameKey::of_words(zone, w))
    }

    #[inline]
    pub(crate) fn of_words(zone: ZoneId, words: [u64; 4]) -> NameKey {
        let tag = tag_of_hash(name_hash(zone, &words)) & !KIND_BITS;
        NameKey { zone, words, tag }
    }

    /// Whether `link` has this name in this zone.
    #[inline]
    fn names(&self, link: &Link) -> bool {
        link.word().zone_id() == self.zone && link.name_is(&self.words)
    }
}

/// The tag of a MAC name.
pub(crate) fn mac_tag(mac: &[u8]) -> u32 {
    tag_of_hash(mac_hash(mac))
}

/// A lend of a global-zone link: in flight (the `Incoming` name), then
/// done (the `Reserved` name).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Lend {
    /// The link's global-zone name, kept for its return; also the name it
    /// enters the borrowing zone under. As words ([`LinkName::to_words`]).
    pub(crate) name: [u64; 4],
    /// The borrowing zone.
    pub(crate) to: ZoneId,
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

/// An id index entry: a record, whose id is its key.
pub(crate) struct ById(Arc<Link>);

impl Tagged for ById {
    fn tag(&self) -> u32 {
        tag_of(&self.0.linkid())
    }
}

/// The id index: tabled links by id. A link's id does not change while it
/// is in the index (it is removed first).
pub(crate) struct IdIndex(SlotTab<ById>);

impl IdIndex {
    const fn new() -> IdIndex {
        IdIndex(SlotTab::new())
    }

    /// The record with id `id`. Never allocates. `DATALINK_INVALID_LINKID`
    /// (no link, as at either end of a zone's list) is answered without
    /// a probe.
    #[inline]
    pub(crate) fn get(&self, id: &LinkId) -> Option<&Arc<Link>> {
        if *id == LinkId::INVALID {
            return None;
        }
        self.0.find(tag_of(id), |e| e.0.linkid() == *id).map(|e| &e.0)
    }

    pub(crate) fn contains_key(&self, id: &LinkId) -> bool {
        self.get(id).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds a record whose id is absent. Needs room for one id.
    fn insert(&mut self, link: Arc<Link>) {
        self.0.insert(ById(link));
    }

    /// Removes `link` itself (not another record with its id), returning
    /// the index's reference. Never allocates.
    fn remove_record(&mut self, link: &Arc<Link>) -> Option<Arc<Link>> {
        let id = link.linkid();
        self.0.remove(tag_of(&id), |e| Arc::ptr_eq(&e.0, link)).map(|e| e.0)
    }

    /// Every record with its id, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (LinkId, &Arc<Link>)> {
        self.0.iter().map(|e| (e.0.linkid(), &e.0))
    }
}

/// Every index, kept consistent under one write section.
pub(crate) struct Table {
    /// Links with an id (initializing ones have none), each in its zone's
    /// list: active, or condemned and still draining.
    pub(crate) by_id: IdIndex,
    /// The links of `by_id`, by MAC name: their ids.
    pub(crate) by_mac: TagTab<NonZeroU32>,
    /// Per-zone namespaces ([`NameKind`]): records.
    pub(crate) by_name: TagTab<Arc<Link>>,
    /// Links waiting for an id, by serial.
    pub(crate) pending: HashTab<u64, Arc<Link>>,
    /// Lends, in flight or done, by link id.
    pub(crate) lends: HashTab<LinkId, Lend>,
    /// Known zones.
    pub(crate) zones: HashTab<ZoneId, ZoneEntry>,
    /// Detached links some holder still keeps alive, by serial.
    pub(crate) limbo: HashTab<u64, Arc<Link>>,
    /// Counts writer sections: two reads that see the same value saw the
    /// same table (`dls_devnet_snapshot()`'s generation).
    pub(crate) generation: u64,
    /// Where [`publish`](Self::publish) puts the gauges (`stats.rs`).
    pub(crate) stats: Option<StatsHandle>,
    /// An index the gauges count changed in this writer section: the
    /// section publishes them as it ends (`unlocked.rs`).
    pub(crate) dirty: bool,
}

/// How many entries a writer section may add, per index, and how many
/// notices it may queue: an upper bound, reserved before the section.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Room {
    pub(crate) ids: usize,
    pub(crate) macs: usize,
    pub(crate) names: usize,
    pub(crate) pending: usize,
    pub(crate) lends: usize,
    pub(crate) zones: usize,
    pub(crate) limbo: usize,
    pub(crate) notices: usize,
}

impl Room {
    /// No room at all.
    pub(crate) const NONE: Room =
        Room { ids: 0, macs: 0, names: 0, pending: 0, lends: 0, zones: 0, limbo: 0, notices: 0 };

    /// `n` times this room.
    pub(crate) fn times(self, n: usize) -> Room {
        Room {
            ids: self.ids * n,
            macs: self.macs * n,
            names: self.names * n,
            pending: self.pending * n,
            lends: self.lends * n,
            zones: self.zones * n,
            limbo: self.limbo * n,
            notices: self.notices * n,
        }
    }
}

/// What is short, as sizes to allocate (with no lock held).
pub(crate) struct Plan {
    by_id: Option<usize>,
    by_mac: Option<usize>,
    by_name: Option<usize>,
    pending: Option<usize>,
    lends: Option<usize>,
    zones: Option<usize>,
    limbo: Option<usize>,
    notices: Option<usize>,
}

/// Memory allocated for a [`Plan`], to be adopted under the writer.
pub(crate) struct Fresh {
    by_id: Option<Slots<ById>>,
    by_mac: Option<Slots<TagSlot<NonZeroU32>>>,
    by_name: Option<Slots<TagSlot<Arc<Link>>>>,
    pending: Option<Slots<Slot<u64, Arc<Link>>>>,
    lends: Option<Slots<Slot<LinkId, Lend>>>,
    zones: Option<Slots<Slot<ZoneId, ZoneEntry>>>,
    limbo: Option<Slots<Slot<u64, Arc<Link>>>>,
    notices: Option<OutboxSpace>,
}

impl Plan {
    /// Allocates what the plan asks for. May sleep: no lock may be held.
    /// Boxed, so the growth path's frames stay small (the stack gate).
    #[inline(never)]
    pub(crate) fn allocate(self) -> Box<Fresh> {
        Box::new(Fresh {
            by_id: self.by_id.map(Slots::new),
            by_mac: self.by_mac.map(Slots::new),
            by_name: self.by_name.map(Slots::new),
            pending: self.pending.map(Slots::new),
            lends: self.lends.map(Slots::new),
            zones: self.zones.map(Slots::new),
            limbo: self.limbo.map(Slots::new),
            notices: self.notices.map(OutboxSpace::new),
        })
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
            by_id: IdIndex::new(),
            by_mac: TagTab::new(),
            by_name: TagTab::new(),
            pending: HashTab::new(),
            lends: HashTab::new(),
            zones,
            limbo: HashTab::new(),
            generation: 0,
            stats: None,
            dirty: false,
        }
    }

    /// Publishes the gauges the kstat shows (`links`, `zones`, `limbo`),
    /// at the end of every writer section that changed their indexes (so
    /// they are exact as of the last writer, and the kstat reads them
    /// with no lock): once a section, however many links it changed.
    /// Out of line, so no section's frame grows by it.
    #[inline(never)]
    pub(crate) fn publish(&self) {
        if let Some(s) = &self.stats {
            set(&s.links, self.by_id.len() + self.pending.len());
            set(&s.zones, self.zones.len());
            set(&s.limbo, self.limbo.len());
        }
    }

    // ---- room --------------------------------------------------------

    /// What must be allocated before a section that needs `room` can run
    /// without allocating; `None` if everything fits.
    #[inline]
    pub(crate) fn plan(&self, room: &Room, outbox: &Outbox) -> Option<Plan> {
        let fits = self.by_id.0.want(room.ids).is_none()
            && self.by_mac.want(room.macs).is_none()
            && self.by_name.want(room.names).is_none()
            && self.pending.want(room.pending).is_none()
            && self.lends.want(room.lends).is_none()
            && self.zones.want(room.zones).is_none()
            && self.limbo.want(room.limbo).is_none()
            && outbox.want(room.notices).is_none();
        if fits { None } else { self.plan_short(room, outbox) }
    }

    /// [`plan`](Self::plan) once something is short.
    #[cold]
    #[inline(never)]
    fn plan_short(&self, room: &Room, outbox: &Outbox) -> Option<Plan> {
        let plan = Plan {
            by_id: self.by_id.0.want(room.ids),
            by_mac: self.by_mac.want(room.macs),
            by_name: self.by_name.want(room.names),
            pending: self.pending.want(room.pending),
            lends: self.lends.want(room.lends),
            zones: self.zones.want(room.zones),
            limbo: self.limbo.want(room.limbo),
            notices: outbox.want(room.notices),
        };
        let short = plan.by_id.is_some()
            || plan.by_mac.is_some()
            || plan.by_name.is_some()
            || plan.pending.is_some()
            || plan.lends.is_some()
            || plan.zones.is_some()
            || plan.limbo.is_some()
            || plan.notices.is_some();
        short.then_some(plan)
    }

    /// Moves the entries into what was allocated for the plan, wherever it
    /// still fits `room` (another thread may have grown an index since;
    /// what is not adopted is freed). Never allocates.
    pub(crate) fn adopt(&mut self, fresh: &mut Fresh, room: &Room, outbox: &Outbox) {
        if let Some(s) = fresh.by_id.take() {
            self.by_id.0.adopt(s, room.ids);
        }
        if let Some(s) = fresh.by_mac.take() {
            self.by_mac.adopt(s, room.macs);
        }
        if let Some(s) = fresh.by_name.take() {
            self.by_name.adopt(s, room.names);
        }
        if let Some(s) = fresh.pending.take() {
            self.pending.adopt(s, room.pending);
        }
        if let Some(s) = fresh.lends.take() {
            self.lends.adopt(s, room.lends);
        }
        if let Some(s) = fresh.zones.take() {
            self.zones.adopt(s, room.zones);
        }
        if let Some(s) = fresh.limbo.take() {
            self.limbo.adopt(s, room.limbo);
        }
        if let Some(s) = fresh.notices.take() {
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
        self.dirty = true;
    }

    /// Forgets a zone.
    pub(crate) fn remove_zone(&mut self, id: ZoneId) {
        self.zones.remove(&id);
        self.dirty = true;
    }

    /// The links in `zone`, in list order.
    pub(crate) fn zone_links(&self, zone: ZoneId) -> ZoneLinks<'_> {
        let head = self.zones.get(&zone).map_or(LinkId::INVALID, |z| z.head);
        ZoneLinks { t: self, next: head }
    }

    /// Puts `link` (already in the id index) at the head of `zone`'s list.
    fn attach(&mut self, zone: ZoneId, link: &Link) {
        let Some(z) = self.zones.get_mut(&zone) else { return };
        let id = link.linkid();
        let old = core::mem::replace(&mut z.head, id);
        z.count += 1;
        if let Some(l) = self.by_id.get(&old) {
            l.set_prev(id);
        }
        link.set_next(old);
        link.set_prev(LinkId::INVALID);
    }

    /// Takes `link` out of `zone`'s list.
    fn detach(&mut self, zone: ZoneId, link: &Link) {
        let (next, prev) = (link.next(), link.prev());
        link.set_next(LinkId::INVALID);
        link.set_prev(LinkId::INVALID);
        if let Some(n) = self.by_id.get(&next) {
            n.set_prev(prev);
        }
        let first = self.by_id.get(&prev).map(|p| p.set_next(next)).is_none();
        if let Some(z) = self.zones.get_mut(&zone) {
            if first {
                z.head = next;
            }
            z.count = z.count.saturating_sub(1);
        }
    }

    /// Moves `link` from `from`'s list to `to`'s.
    pub(crate) fn rezone(&mut self, link: &Link, from: ZoneId, to: ZoneId) {
        self.detach(from, link);
        self.attach(to, link);
    }

    // ---- lookups -----------------------------------------------------

    /// The tabled link with id `id`.
    pub(crate) fn link(&self, id: LinkId) -> KResult<&Arc<Link>> {
        self.by_id.get(&id).ok_or(Errno::ENOENT)
    }

    /// The tabled link with MAC name `mac`, pending or not.
    pub(crate) fn find_mac(&self, mac: &[u8]) -> Option<&Arc<Link>> {
        let tag = mac_tag(mac);
        let mut found = None;
        self.by_mac.find(tag, |t, id| {
            if t != tag {
                return false;
            }
            found = self.by_id.get(&LinkId(id.get())).filter(|l| l.mac().as_bytes() == mac);
            found.is_some()
        });
        if found.is_none() && !self.pending.is_empty() {
            found = self.pending.values().find(|l| l.mac().as_bytes() == mac);
        }
        found
    }

    /// The link under the name `key` says in its zone (a
    /// [`NameKind::Link`] slot).
    #[inline]
    pub(crate) fn find_name(&self, key: &NameKey) -> Option<&Arc<Link>> {
        let tag = key.tag | NameKind::Link as u32;
        self.by_name.find(tag, |t, l| t == tag && key.names(l)).map(|(_, l)| l)
    }

    /// The link lent out of the global zone whose reserved global-zone
    /// name is `key` (a [`NameKind::Reserved`] slot); none for a key in a
    /// non-global zone.
    pub(crate) fn find_on_loan(&self, key: &NameKey) -> Option<&Arc<Link>> {
        if !key.zone.is_global() {
            return None;
        }
        let tag = key.tag | NameKind::Reserved as u32;
        let lent_as =
            |l: &Arc<Link>| self.lends.get(&l.linkid()).is_some_and(|e| e.name == key.words);
        self.by_name.find(tag, |t, l| t == tag && lent_as(l)).map(|(_, l)| l)
    }

    /// True if no slot of any kind holds the name `key` says in its zone.
    pub(crate) fn name_free(&self, key: &NameKey) -> bool {
        let is = |e: &Lend| e.name == key.words;
        let hit = self.by_name.find(key.tag, |t, l| {
            if t & !KIND_BITS != key.tag {
                return false;
            }
            let id = l.linkid();
            match NameKind::of(t) {
                NameKind::Link => key.names(l),
                NameKind::Reserved => key.zone.is_global() && self.lends.get(&id).is_some_and(is),
                NameKind::Incoming => {
                    self.lends.get(&id).is_some_and(|e| e.to == key.zone && is(e))
                }
            }
        });
        hit.is_none()
    }

    // ---- links -------------------------------------------------------

    /// Tables a new link under its id, MAC name and name in its zone.
    /// Needs room for one id, one MAC name and one name.
    pub(crate) fn insert_link(&mut self, link: &Arc<Link>) {
        self.index_link(link);
        self.dirty = true;
    }

    /// [`insert_link`](Self::insert_link), the gauges left to the caller.
    fn index_link(&mut self, link: &Arc<Link>) {
        let id = link.linkid();
        let Some(nz) = NonZeroU32::new(id.0) else { return };
        self.by_id.insert(link.clone());
        self.by_mac.insert(mac_tag(link.mac().as_bytes()), nz);
        let zone = link.word().zone_id();
        let key = NameKey::of_link(zone, link);
        if key.words[0] != 0 {
            self.insert_name(&key, NameKind::Link, link);
        }
        self.attach(zone, link);
    }

    fn insert_name(&mut self, key: &NameKey, kind: NameKind, link: &Arc<Link>) {
        self.by_name.insert(key.tag | kind as u32, link.clone());
    }

    /// Removes `link`'s slot of `kind` under `key`.
    fn remove_name(&mut self, key: &NameKey, kind: NameKind, link: &Arc<Link>) {
        self.by_name.remove(key.tag | kind as u32, |l| Arc::ptr_eq(l, link));
    }

    /// Turns `link`'s slot of kind `from` under `key` into one of kind
    /// `to`. Never allocates.
    fn rekind(&mut self, key: &NameKey, link: &Arc<Link>, from: NameKind, to: NameKind) {
        let is = |l: &Arc<Link>| Arc::ptr_eq(l, link);
        self.by_name.retag(key.tag | from as u32, is, key.tag | to as u32);
    }

    /// Tables a pending link (no id yet) by its serial. Needs room for
    /// one pending link.
    pub(crate) fn insert_pending(&mut self, link: &Arc<Link>) {
        self.pending.insert(link.serial(), link.clone());
        self.dirty = true;
    }

    /// Gives a tabled pending link its id and name (set on the record
    /// already). Needs room as [`insert_link`](Self::insert_link).
    pub(crate) fn activate(&mut self, link: &Arc<Link>) {
        self.pending.remove(&link.serial());
        self.insert_link(link);
    }

    /// Removes a link from every index (not limbo), with its lend if it
    /// is lent. Link locked.
    pub(crate) fn unhash(&mut self, link: &Arc<Link>) {
        self.unindex(link);
        self.dirty = true;
    }

    /// [`unhash`](Self::unhash), the gauges left to the caller.
    fn unindex(&mut self, link: &Arc<Link>) {
        let id = link.linkid();
        if id == LinkId::INVALID {
            // Pending: only in the pending index.
            if self.pending.get(&link.serial()).is_some_and(|p| Arc::ptr_eq(p, link)) {
                self.pending.remove(&link.serial());
            }
            return;
        }
        // Out of the id index first (one probe run): nothing below looks
        // the link itself up by id.
        let Some(_indexed) = self.by_id.remove_record(link) else { return };
        let zone = link.word().zone_id();
        let key = NameKey::of_link(zone, link);
        if key.words[0] != 0 {
            self.remove_name(&key, NameKind::Link, link);
        }
        // Only a lent link, or one being lent, has a lend.
        let w = link.word();
        if let Some(lend) = (w.lent() || w.busy()).then(|| self.lends.remove(&id)).flatten() {
            let name = lend.name;
            self.remove_name(&NameKey::of_words(ZoneId::GLOBAL, name), NameKind::Reserved, link);
            self.remove_name(&NameKey::of_words(lend.to, name), NameKind::Incoming, link);
        }
        self.detach(zone, link);
        self.by_mac.remove(mac_tag(link.mac().as_bytes()), |v| v.get() == id.0);
    }

    /// Renames link `l` inside its zone to the name `new` says (in the
    /// link's zone). Needs room for one name.
    pub(crate) fn rename(&mut self, link: &Arc<Link>, l: &mut LinkGuard<'_>, new: &NameKey) {
        let old = NameKey::of_link(l.word().zone_id(), link);
        if old.words[0] != 0 {
            self.remove_name(&old, NameKind::Link, link);
        }
        self.insert_name(new, NameKind::Link, link);
        l.set_name_words(new.words);
    }

    /// Reserves `name` in `to` for a lend of `link` in flight. Needs room
    /// for one name and one lend.
    pub(crate) fn lend_start(&mut self, link: &Arc<Link>, name: LinkName, to: ZoneId) {
        self.insert_name(&NameKey::new(to, &name), NameKind::Incoming, link);
        self.lends.insert(link.linkid(), Lend { name: name.to_words(), to });
    }

    /// Forgets a lend dlmgmtd refused. Never allocates.
    pub(crate) fn lend_undo(&mut self, link: &Arc<Link>) {
        if let Some(lend) = self.lends.remove(&link.linkid()) {
            self.remove_name(&NameKey::of_words(lend.to, lend.name), NameKind::Incoming, link);
        }
    }

    /// Commits a lend dlmgmtd took: the link is in the borrowing zone
    /// under its name, which stays reserved at home. Changes kinds and
    /// lists only: never allocates.
    pub(crate) fn lend_commit(&mut self, link: &Arc<Link>, l: &mut LinkGuard<'_>, to: ZoneKey) {
        let id = l.linkid();
        let Some(lend) = self.lends.get(&id).copied() else { return };
        let (to_key, home) =
            (NameKey::of_words(lend.to, lend.name), NameKey::of_words(ZoneId::GLOBAL, lend.name));
        self.rekind(&to_key, link, NameKind::Incoming, NameKind::Link);
        self.rekind(&home, link, NameKind::Link, NameKind::Reserved);
        self.rezone(link, l.word().zone_id(), to.id);
        l.set_zone(to);
    }

    /// Commits a return: the link is back in its owner zone under the
    /// reserved name. Never allocates when the link was lent (its name at
    /// home is reserved).
    pub(crate) fn return_home(&mut self, link: &Arc<Link>, l: &mut LinkGuard<'_>) {
        let (id, from) = (l.linkid(), l.word().zone_id());
        let owner = l.owner_locked();
        let now = NameKey::of_link(from, link);
        if now.words[0] != 0 {
            self.remove_name(&now, NameKind::Link, link);
        }
        let home = match self.lends.remove(&id) {
            Some(lend) => {
                let key = NameKey::of_words(owner.id, lend.name);
                self.rekind(&key, link, NameKind::Reserved, NameKind::Link);
                key
            }
            None => {
                let key = NameKey::of_words(owner.id, now.words);
                if key.words[0] != 0 {
                    self.insert_name(&key, NameKind::Link, link);
                }
                key
            }
        };
        self.rezone(link, from, owner.id);
        l.set_name_words(home.words);
        l.set_zone(owner);
    }

    /// Parks a detached link until its last holder lets go. Needs room
    /// for one limbo entry.
    pub(crate) fn park(&mut self, serial: u64, link: &Arc<Link>) {
        self.limbo.insert(serial, link.clone());
        self.dirty = true;
    }

    /// Drops a freed link from limbo.
    pub(crate) fn unpark(&mut self, serial: u64) {
        self.limbo.remove(&serial);
        self.dirty = true;
    }

    /// Gives a tabled global-zone link (not lent, no move in flight) the
    /// id `new` and the global-zone name `name`, both free: it leaves
    /// every index under its old keys and enters them under the new ones
    /// (the MAC name stays). Link locked; needs room for one id, one MAC
    /// name and one name (the removals come first).
    pub(crate) fn rekey(
        &mut self,
        link: &Arc<Link>,
        l: &mut LinkGuard<'_>,
        new: LinkId,
        name: &NameKey,
    ) {
        self.unindex(link);
        l.set_linkid(new);
        l.set_name_words(name.words);
        self.index_link(link);
    }

    /// Every tabled link: those with an id, then the pending ones.
    pub(crate) fn links(&self) -> impl Iterator<Item = &Arc<Link>> {
        self.by_id.iter().map(|(_, l)| l).chain(self.pending.values())
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
        let l = self.t.by_id.get(&id)?;
        self.next = l.next();
        Some((id, l))
    }
}
