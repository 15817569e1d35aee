//! `check_invariants`: every structural rule of the registry, checked over
//! the whole of it. Tests call it after every operation.

use alloc::format;
use alloc::string::String;

use super::link::Link;
use super::outbox::{Notice, Outbox};
use super::table::{NameKey, NameKind, Table, mac_tag, name_tag};
use super::types::{LinkId, LinkName, LinkState, ZoneId, ZoneKey, ZoneState};
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

/// Whether the (zone, name) index holds `kind` for `link` under `name`
/// in `zone`.
fn has_name(t: &Table, zone: ZoneId, name: [u64; 4], kind: NameKind, link: &Arc<Link>) -> bool {
    let tag = name_tag(zone, name) | kind as u32;
    t.by_name.find(tag, |t, l| t == tag && Arc::ptr_eq(l, link)).is_some()
}

fn check_link(t: &Table, link: &Arc<Link>, id: LinkId) -> Result<(), Violation> {
    let l = link.lock();
    let w = l.word();
    let zone = l.zone_locked();
    let owner = l.owner_locked();
    ensure!(w.existence(), "5 holds", "tabled link {id:?} lacks its existence hold");
    let name = l.name_locked().ok_or_else(|| Violation {
        rule: "1 names",
        detail: format!("active link {id:?} has no name"),
    })?;
    ensure!(
        t.find_name(&NameKey::new(zone.id, &name)).is_some_and(|f| Arc::ptr_eq(f, link)),
        "1 names",
        "link {id:?} not under its name {name} in zone {zone:?}"
    );
    let z = t.zones.get(&zone.id);
    ensure!(
        z.is_some_and(|z| z.key == zone && t.zone_links(zone.id).any(|(i, _)| i == id)),
        "6 no link in a dead zone",
        "link {id:?} in zone {zone:?} that is unknown or lacks it"
    );
    ensure!(
        z.is_some_and(|z| (z.state != ZoneState::Running) == w.down()),
        "6 zones",
        "link {id:?} in zone {zone:?} does not know whether its zone is running"
    );
    if w.lent() {
        ensure!(
            l.slow.pending_notices == 0,
            "7 outbox",
            "lent link {id:?} has {} notices queued (a lend must wait for them)",
            l.slow.pending_notices
        );
    }
    if owner != ZoneKey::GLOBAL {
        ensure!(
            w.transient() && !w.persistent() && zone == owner && !w.loan(),
            "2 create",
            "link {id:?} owned by {owner:?} is not a transient, unmoved, temporary link"
        );
    }
    let lend = t.lends.get(&id);
    if w.lent() {
        ensure!(
            owner == ZoneKey::GLOBAL && w.loan() && zone != ZoneKey::GLOBAL,
            "3 lend",
            "lent link {id:?} lacks a global owner or its loan hold"
        );
        let lend = lend.ok_or_else(|| Violation {
            rule: "3 lend",
            detail: format!("lent link {id:?} has no reserved name"),
        })?;
        ensure!(
            lend.to == zone.id && has_name(t, ZoneId::GLOBAL, lend.name, NameKind::Reserved, link),
            "3 lend",
            "lent link {id:?}'s name {:?} is not reserved in its owner zone",
            LinkName::from_words(lend.name)
        );
    } else {
        ensure!(
            !w.loan() && (lend.is_none() || w.busy()),
            "3 lend",
            "link {id:?} at home has a loan hold or reservation"
        );
        if owner == ZoneKey::GLOBAL {
            ensure!(
                !w.transient(),
                "3 lend",
                "link {id:?} at home in the global zone is transient"
            );
        }
    }
    if l.zone_side_holds() > 0 {
        ensure!(
            zone != ZoneKey::GLOBAL,
            "8 visibility",
            "link {id:?} in the global zone held from inside a zone"
        );
    }
    Ok(())
}

pub(crate) fn check(t: &Table, outbox: &Outbox) -> Result<(), Violation> {
    let mut pending = 0u64;
    let mut named = [0usize; 3];
    for (serial, link) in t.pending.iter() {
        let w = link.word();
        let mac = link.mac();
        ensure!(
            link.serial() == *serial
                && w.state() == LinkState::Initializing
                && link.linkid() == LinkId::INVALID
                && link.name_locked().is_none()
                && link.zone_locked() == ZoneKey::GLOBAL,
            "2 create",
            "initializing link {mac:?} has an id, a name or a zone"
        );
        ensure!(
            t.find_mac(mac.as_bytes()).is_some_and(|f| Arc::ptr_eq(f, link)),
            "1 names",
            "pending link {mac:?} cannot be found by its MAC name"
        );
    }
    for (id, link) in t.by_id.iter() {
        let mac = link.mac();
        match link.state() {
            LinkState::Active | LinkState::Condemned => {}
            s => ensure!(false, "6 teardown", "tabled link {mac:?} is {s:?}"),
        }
        ensure!(link.linkid() == id, "1 names", "id index key {id:?} holds {:?}", link.linkid());
        ensure!(
            t.find_mac(mac.as_bytes()).is_some_and(|f| Arc::ptr_eq(f, link)),
            "1 names",
            "link {mac:?} ({id:?}) missing from the MAC index"
        );
        pending += u64::from(link.lock().slow.pending_notices);
        check_link(t, link, id)?;
    }
    ensure!(
        t.by_mac.len() == t.by_id.len(),
        "1 names",
        "MAC index has {} entries, {} tabled links have ids",
        t.by_mac.len(),
        t.by_id.len()
    );
    for (tag, id) in t.by_mac.iter() {
        let id = LinkId(id.get());
        let ok = t.link(id).is_ok_and(|l| mac_tag(l.mac().as_bytes()) == tag);
        ensure!(ok, "1 names", "MAC index entry {tag:#x} points at {id:?}, which has another name");
    }
    for (tag, link) in t.by_name.iter() {
        let kind = NameKind::of(tag);
        named[kind as usize] += 1;
        let id = link.linkid();
        let tabled = t.link(id).is_ok_and(|l| Arc::ptr_eq(l, link));
        ensure!(tabled, "1 names", "{kind:?} name entry {tag:#x} points at untabled {id:?}");
        let w = link.word();
        let lend = t.lends.get(&id);
        let ok = match kind {
            NameKind::Link => {
                link.name_locked().is_some_and(|n| name_tag(w.zone_id(), n.to_words()) == tag)
            }
            NameKind::Reserved => {
                w.lent() && lend.is_some_and(|e| name_tag(ZoneId::GLOBAL, e.name) | 1 == tag)
            }
            NameKind::Incoming => {
                w.busy() && !w.lent() && lend.is_some_and(|e| name_tag(e.to, e.name) | 2 == tag)
            }
        };
        ensure!(ok, "1 names", "{kind:?} name entry {tag:#x} for {id:?} names nothing it has");
    }
    ensure!(
        named[NameKind::Link as usize] == t.by_id.len(),
        "1 names",
        "{} names for {} links",
        named[NameKind::Link as usize],
        t.by_id.len()
    );
    ensure!(
        named[NameKind::Reserved as usize] + named[NameKind::Incoming as usize] == t.lends.len(),
        "3 lend",
        "{} lends, {} reserved names",
        t.lends.len(),
        named[NameKind::Reserved as usize] + named[NameKind::Incoming as usize]
    );
    for (id, lend) in t.lends.iter() {
        let ok = t.link(*id).is_ok_and(|l| {
            let w = l.word();
            (w.lent() && w.zone_id() == lend.to) || (w.busy() && w.zone_id().is_global())
        });
        ensure!(
            ok,
            "3 lend",
            "lend of {id:?} into {:?}: the link is neither lent nor lending",
            lend.to
        );
    }
    let mut listed = 0usize;
    for (zid, z) in t.zones.iter() {
        ensure!(z.key.id == *zid, "6 zones", "zone table key {zid:?} holds {:?}", z.key);
        let mut n = 0usize;
        for (id, link) in t.zone_links(*zid) {
            ensure!(n < z.count, "6 zones", "zone {:?}'s list is longer than {}", z.key, z.count);
            n += 1;
            let ok = link.lock().zone_locked() == z.key;
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
    for (serial, link) in t.limbo.iter() {
        let state = link.state();
        ensure!(
            link.serial() == *serial && matches!(state, LinkState::Detached | LinkState::Freed),
            "6 teardown",
            "limbo entry {serial} is {state:?}"
        );
        let tabled = t.by_id.get(&link.linkid()).is_some_and(|v| Arc::ptr_eq(v, link))
            || t.pending.get(serial).is_some();
        ensure!(!tabled, "6 teardown", "detached link {:?} still tabled", link.mac());
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
