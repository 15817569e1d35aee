//! The registry's indexes (the role of `i_dls_devnet_hash` and
//! `i_dls_devnet_id_hash`, plus per-zone namespaces and zone link sets).
//! Protected by the registry's table lock; see `docs/locking.md`.
//!
//! The three link indexes are hash tables ([`HashTab`]): lookups, holds
//! and releases cost the same at any number of links. Zones stay ordered
//! maps (at most `MAX_ZONEID` of them, and their order is reported), and
//! so do each zone's link set, which halt walks in id order, and limbo.

use alloc::collections::{BTreeMap, BTreeSet};

use super::hashtab::HashTab;
use super::link::Link;
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

/// A zone the registry knows.
pub(crate) struct ZoneEntry {
    pub(crate) key: ZoneKey,
    pub(crate) state: ZoneState,
    /// Links currently in the zone: halt costs O(links in the zone).
    pub(crate) links: BTreeSet<LinkId>,
}

/// Every index, kept consistent under one write section.
pub(crate) struct Table {
    /// Every tabled link (initializing, active, or condemned and still
    /// draining), by MAC name.
    pub(crate) by_mac: HashTab<MacName, Arc<Link>>,
    /// Links with an id.
    pub(crate) by_id: HashTab<LinkId, Arc<Link>>,
    /// Per-zone namespaces.
    pub(crate) by_name: HashTab<(ZoneId, LinkName), NameSlot>,
    /// Known zones.
    pub(crate) zones: BTreeMap<ZoneId, ZoneEntry>,
    /// Detached links some holder still keeps alive, by serial.
    pub(crate) limbo: BTreeMap<u64, Arc<Link>>,
    pub(crate) next_serial: u64,
}

impl Table {
    pub(crate) fn new() -> Table {
        let mut zones = BTreeMap::new();
        zones.insert(
            ZoneId::GLOBAL,
            ZoneEntry { key: ZoneKey::GLOBAL, state: ZoneState::Running, links: BTreeSet::new() },
        );
        Table {
            by_mac: HashTab::new(),
            by_id: HashTab::new(),
            by_name: HashTab::new(),
            zones,
            limbo: BTreeMap::new(),
            next_serial: 1,
        }
    }

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

    pub(crate) fn name_free(&self, zone: ZoneId, name: LinkName) -> bool {
        !self.by_name.contains_key(&(zone, name))
    }

    /// Moves `id` between two zones' link sets.
    pub(crate) fn rezone(&mut self, id: LinkId, from: ZoneId, to: ZoneId) {
        if let Some(z) = self.zones.get_mut(&from) {
            z.links.remove(&id);
        }
        if let Some(z) = self.zones.get_mut(&to) {
            z.links.insert(id);
        }
    }

    /// A fresh serial for a new link record: never reused, so a notice or
    /// a limbo entry can tell a link from a later one with the same id.
    pub(crate) fn serial(&mut self) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        serial
    }

    /// Parks a detached link (whose serial is `serial`) until its last
    /// holder lets go.
    pub(crate) fn park(&mut self, serial: u64, link: &Arc<Link>) {
        self.limbo.insert(serial, link.clone());
    }
}
