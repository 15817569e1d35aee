//! A canonical dump of the registry (rule 9), from which dlmgmtd can
//! rebuild its view after a restart even with zones down. It holds no
//! history (no sequence numbers, no insertion order, no temporary holds),
//! so equivalent histories dump identically.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::link::Link;
use super::table::Table;
use super::types::{Holder, LinkId, LinkName, LinkState, MacName, ZoneKey, ZoneState};

/// One link in a [`Snapshot`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkSnapshot {
    /// Link id (`DATALINK_INVALID_LINKID` while initializing).
    pub linkid: LinkId,
    /// MAC name.
    pub mac: MacName,
    /// Name in the current zone.
    pub name: Option<LinkName>,
    /// Current zone.
    pub zone: ZoneKey,
    /// Owner (creating) zone.
    pub owner: ZoneKey,
    /// Goes away with its zone.
    pub transient: bool,
    /// Created persistent.
    pub persistent: bool,
    /// Life-cycle state.
    pub state: LinkState,
    /// Owner-zone name reserved while lent.
    pub reserved: Option<LinkName>,
    /// Long holds.
    pub holders: Vec<Holder>,
}

/// The whole registry, sorted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Snapshot {
    /// Known zones, by id.
    pub zones: Vec<(ZoneKey, ZoneState)>,
    /// Tabled links, by (id, MAC name).
    pub links: Vec<LinkSnapshot>,
}

pub(crate) fn take(t: &Table) -> Snapshot {
    let mut zones: Vec<(ZoneKey, ZoneState)> =
        t.zones.iter().map(|(_, z)| (z.key, z.state)).collect();
    crate::sort::sort_unstable(&mut zones);
    let mut links: Vec<LinkSnapshot> = t.links().map(|link| of_link(t, link)).collect();
    crate::sort::sort_unstable_by(&mut links, |a, b| (a.linkid, &a.mac).cmp(&(b.linkid, &b.mac)));
    Snapshot { zones, links }
}

/// One link's record; `t` is the table it is read under (as reader or
/// writer), which knows the name a lent link keeps reserved. Takes the
/// link's lock, and allocates (its holder list) once it is dropped.
pub(crate) fn of_link(t: &Table, link: &Link) -> LinkSnapshot {
    let l = link.lock();
    let w = l.word();
    let (linkid, name, zone, owner, holds) =
        (l.linkid(), l.name_locked(), l.zone_locked(), l.owner_locked(), l.holds_locked());
    drop(l);
    LinkSnapshot {
        linkid,
        mac: link.mac().clone(),
        name,
        zone,
        owner,
        transient: w.transient(),
        persistent: w.persistent(),
        state: w.state(),
        reserved: t
            .lends
            .get(&linkid)
            .filter(|_| w.lent())
            .and_then(|e| LinkName::from_words(e.name)),
        holders: holds.to_vec(),
    }
}

impl Snapshot {
    /// One line per zone and per link, in a fixed format:
    ///
    /// ```text
    /// zone <id> <uniqid> <state>
    /// link <id> <mac> <name|-> zone=<id>/<uniqid> owner=<id>/<uniqid> <flags> <state> reserved=<name|-> holds=<kind>@<zone>x<n>,...
    /// ```
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, st) in &self.zones {
            let _ = writeln!(s, "zone {} {} {:?}", k.id.0, k.uniqid, st);
        }
        for l in &self.links {
            let name = l.name.map(|n| n.as_str().into()).unwrap_or(String::from("-"));
            let res = l.reserved.map(|n| n.as_str().into()).unwrap_or(String::from("-"));
            let flags = match (l.transient, l.persistent) {
                (true, _) => "transient",
                (false, true) => "persistent",
                (false, false) => "temporary",
            };
            let _ = write!(
                s,
                "link {} {} {} zone={}/{} owner={}/{} {} {:?} reserved={} holds=",
                l.linkid.0,
                l.mac.as_str(),
                name,
                l.zone.id.0,
                l.zone.uniqid,
                l.owner.id.0,
                l.owner.uniqid,
                flags,
                l.state,
                res
            );
            for (i, h) in l.holders.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(s, "{sep}{:?}@{}x{}", h.kind, h.zone.id.0, h.count);
            }
            s.push('\n');
        }
        s
    }
}
