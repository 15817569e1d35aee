//! `check_invariants`: every structural rule of the registry, checked over
//! the whole of it. Tests call it after every operation.

use alloc::format;
use alloc::string::String;

use super::link::LinkInner;
use super::outbox::{Notice, Outbox};
use super::table::{NameSlot, Table};
use super::types::{LinkId, LinkState, ZoneKey};
use crate::sync::Arc;

/// A broken rule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// Which rule (as numbered in `docs/design.md`), e.g. `"1 names"`.
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
}

macro_rules! ensure {
    ($cond:expr, $rule:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(Violation { rule: $rule, detail: format!($($fmt)*) });
        }
    };
}

fn check_link(t: &Table, l: &LinkInner, id: LinkId) -> Result<(), Violation> {
    ensure!(l.existence, "5 holds", "tabled link {id:?} lacks its existence hold");
    let name = l.name.ok_or_else(|| Violation {
        rule: "1 names",
        detail: format!("active link {id:?} has no name"),
    })?;
    ensure!(
        t.by_name.get(&(l.zone.id, name)) == Some(&NameSlot::Link(id)),
        "1 names",
        "link {id:?} not under its name {name} in zone {:?}",
        l.zone
    );
    let z = t.zones.get(&l.zone.id);
    ensure!(
        z.is_some_and(|z| z.key == l.zone && t.zone_links(l.zone.id).any(|(i, _)| i == id)),
        "6 no link in a dead zone",
        "link {id:?} in zone {:?} that is unknown or lacks it",
        l.zone
    );
    if l.is_lent() {
        ensure!(
            l.pending_notices == 0,
            "7 outbox",
            "lent link {id:?} has {} notices queued (a lend must wait for them)",
            l.pending_notices
        );
    }
    if l.owner != ZoneKey::GLOBAL {
        ensure!(
            l.transient && !l.persistent && l.zone == l.owner && !l.loan,
            "2 create",
            "link {id:?} owned by {:?} is not a transient, unmoved, temporary link",
            l.owner
        );
    }
    if l.is_lent() {
        ensure!(
            l.owner == ZoneKey::GLOBAL && l.loan && l.zone != ZoneKey::GLOBAL,
            "3 lend",
            "lent link {id:?} lacks a global owner or its loan hold"
        );
        let res = l.reserved.ok_or_else(|| Violation {
            rule: "3 lend",
            detail: format!("lent link {id:?} has no reserved name"),
        })?;
        ensure!(
            t.by_name.get(&(l.owner.id, res)) == Some(&NameSlot::Reserved(id)),
            "3 lend",
            "lent link {id:?}'s name {res} is not reserved in its owner zone"
        );
    } else {
        ensure!(
            !l.loan && l.reserved.is_none(),
            "3 lend",
            "link {id:?} at home has a loan hold or reservation"
        );
        if l.owner == ZoneKey::GLOBAL {
            ensure!(!l.transient, "3 lend", "link {id:?} at home in the global zone is transient");
        }
    }
    let zone_side: u32 = l.zone_holds.iter().sum();
    ensure!(
        (zone_side == 0) == l.zone_holder.is_none(),
        "5 holds",
        "link {id:?}: zone-side holds {zone_side} with holder {:?}",
        l.zone_holder
    );
    if let Some(h) = l.zone_holder {
        ensure!(
            h == l.zone && l.zone != ZoneKey::GLOBAL,
            "8 visibility",
            "link {id:?} in {:?} held from inside {h:?}",
            l.zone
        );
    }
    Ok(())
}

pub(crate) fn check(t: &Table, outbox: &Outbox) -> Result<(), Violation> {
    let mut with_id = 0usize;
    let mut pending = 0u64;
    for (mac, link) in &t.by_mac {
        ensure!(link.mac() == mac, "1 names", "MAC index key {mac:?} names {:?}", link.mac());
        let l = link.lock();
        match l.state {
            LinkState::Initializing => {
                ensure!(
                    l.linkid == LinkId::INVALID && l.name.is_none() && l.zone == ZoneKey::GLOBAL,
                    "2 create",
                    "initializing link {mac:?} has an id, a name or a zone"
                );
                continue;
            }
            LinkState::Active | LinkState::Condemned => {}
            s => ensure!(false, "6 teardown", "tabled link {mac:?} is {s:?}"),
        }
        let id = l.linkid;
        ensure!(
            t.by_id.get(&id).is_some_and(|e| Arc::ptr_eq(&e.link, link)),
            "1 names",
            "link {mac:?} ({id:?}) missing from the id index"
        );
        with_id += 1;
        pending += u64::from(l.pending_notices);
        check_link(t, &l, id)?;
    }
    ensure!(
        with_id == t.by_id.len(),
        "1 names",
        "id index has {} entries, {} tabled links have ids",
        t.by_id.len(),
        with_id
    );
    for (&(zone, name), slot) in &t.by_name {
        let (id, want_lent) = match *slot {
            NameSlot::Link(id) => (id, None),
            NameSlot::Reserved(id) => (id, Some(true)),
            NameSlot::Incoming(id) => (id, Some(false)),
        };
        let link = t.link(id).map_err(|_| Violation {
            rule: "1 names",
            detail: format!("name {name} in {zone:?} points at unknown {id:?}"),
        })?;
        let l = link.lock();
        match want_lent {
            None => ensure!(
                l.zone.id == zone && l.name == Some(name),
                "1 names",
                "name {name} in {zone:?} points at {id:?} which is elsewhere"
            ),
            Some(true) => ensure!(
                l.is_lent() && l.owner.id == zone && l.reserved == Some(name),
                "3 lend",
                "reservation {name} in {zone:?} for {id:?} which is not lent from there"
            ),
            Some(false) => ensure!(
                l.busy && !l.is_lent(),
                "3 lend",
                "incoming {name} in {zone:?} for {id:?} with no lend in flight"
            ),
        }
    }
    let mut listed = 0usize;
    for (zid, z) in &t.zones {
        ensure!(z.key.id == *zid, "6 zones", "zone table key {zid:?} holds {:?}", z.key);
        let mut n = 0usize;
        for (id, link) in t.zone_links(*zid) {
            ensure!(n < z.count, "6 zones", "zone {:?}'s list is longer than {}", z.key, z.count);
            n += 1;
            let ok = link.lock().zone == z.key;
            ensure!(ok, "6 zones", "zone {:?} lists {id:?} which is not in it", z.key);
        }
        ensure!(n == z.count, "6 zones", "zone {:?} counts {} links, lists {n}", z.key, z.count);
        listed += n;
    }
    ensure!(
        listed == t.by_id.len(),
        "6 zones",
        "{listed} links in zone lists, {} with ids",
        t.by_id.len()
    );
    for (serial, link) in &t.limbo {
        let l = link.lock();
        ensure!(
            l.serial == *serial && matches!(l.state, LinkState::Detached | LinkState::Freed),
            "6 teardown",
            "limbo entry {serial} is {:?}",
            l.state
        );
        ensure!(
            !t.by_mac.get(link.mac()).is_some_and(|v| Arc::ptr_eq(v, link)),
            "6 teardown",
            "detached link {:?} still tabled",
            link.mac()
        );
    }
    let queued = outbox.pending();
    let set_zone = queued.iter().filter(|n| matches!(n, Notice::SetZone { .. })).count() as u64;
    ensure!(
        pending <= set_zone,
        "7 outbox",
        "links count {pending} pending notices, outbox holds {set_zone} moves"
    );
    Ok(())
}
