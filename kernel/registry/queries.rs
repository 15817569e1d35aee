//! What the C ABI asks of a link beyond the rules: lookups by MAC name
//! without a visibility check (as `dls_mgmt.c` makes them), one link's
//! record, the holders of links already detached, the snapshot with its
//! generation, and a physical link's change of id.

use alloc::vec::Vec;

use super::holds::TmpHold;
use super::link::Link;
use super::snapshot::{self, LinkSnapshot, Snapshot};
use super::table::{NameKey, Room};
use super::types::{HoldKind, Holder, LinkId, LinkState, MacName, ZoneId};
use super::unlocked::Unlocked;
use super::{Registry, visible};
use crate::errno::{Errno, KResult};
use crate::sync::Arc;

/// A detached link that holders still keep alive.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Detached {
    /// Its id when it was tabled.
    pub linkid: LinkId,
    /// Its state (`Detached`, or `Condemned` while a destroy drains).
    pub state: LinkState,
    /// Long holders left.
    pub holders: Vec<Holder>,
    /// Temporary holds left.
    pub tmp: u32,
}

impl Registry {
    /// The id of the link with MAC name `mac`, whatever zone it is in
    /// (`dls_devnet_macname2linkid()` makes no visibility check).
    /// `LinkId::INVALID` for a physical link still waiting for its id.
    /// Never allocates.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad name; `ENOENT` no such link, or
    /// it is being destroyed.
    pub fn mac_to_linkid(&self, mac: &[u8]) -> KResult<LinkId> {
        let mut cx = Unlocked::new();
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?;
        match link.word().state() {
            LinkState::Active => Ok(link.linkid()),
            LinkState::Initializing => Ok(LinkId::INVALID),
            _ => Err(Errno::ENOENT),
        }
    }

    /// A temporary hold found by MAC name (`dls_devnet_hold_tmp_by_link()`),
    /// for a caller in `caller`. Never allocates.
    ///
    /// Errors: as [`mac_to_linkid`](Self::mac_to_linkid), and as
    /// [`hold_tmp`](Self::hold_tmp).
    pub fn hold_tmp_by_mac(&self, caller: ZoneId, mac: &[u8]) -> KResult<TmpHold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?.clone();
        Self::hold_tmp_locked(t, caller, link)
    }

    /// A temporary hold by name in `zone` (`dls_devnet_hold_zlink()`), in
    /// one table section. A non-global caller may only name its own zone.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad name or zone; `ENOENT` no such
    /// visible link; otherwise as [`hold_tmp`](Self::hold_tmp).
    pub fn hold_tmp_by_name(&self, caller: ZoneId, zone: ZoneId, name: &[u8]) -> KResult<TmpHold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        zone.validate()?;
        let key = NameKey::of_bytes(zone, name)?;
        if !caller.is_global() && caller != zone {
            return Err(Errno::ENOENT);
        }
        let t = self.table.read(&mut cx);
        let link = t.find_name(&key).ok_or(Errno::ENOENT)?.clone();
        Self::hold_tmp_locked(t, caller, link)
    }

    /// A tabled link's memory, without a hold (reading its record is safe
    /// for as long as the reference is kept).
    ///
    /// Errors: `EINVAL` invalid id; `ENOENT` no such link.
    pub fn link_ref(&self, linkid: LinkId) -> KResult<Arc<Link>> {
        let mut cx = Unlocked::new();
        linkid.validate()?;
        Ok(self.table.read(&mut cx).link(linkid)?.clone())
    }

    /// The record of a tabled link (any state but detached), with no
    /// visibility check: the caller decides what a C caller may see.
    ///
    /// Errors: `EINVAL` invalid id; `ENOENT` no such link.
    pub fn link_info(&self, linkid: LinkId) -> KResult<LinkSnapshot> {
        let mut cx = Unlocked::new();
        linkid.validate()?;
        let t = self.table.read(&mut cx);
        let link = t.link(linkid)?;
        Ok(snapshot::of_link(&t, link))
    }

    /// The record of a tabled link by MAC name (pending links too).
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad name; `ENOENT` no such link.
    pub fn link_info_by_mac(&self, mac: &[u8]) -> KResult<LinkSnapshot> {
        let mut cx = Unlocked::new();
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        let link = t.find_mac(mac).ok_or(Errno::ENOENT)?;
        Ok(snapshot::of_link(&t, link))
    }

    /// Links once known by `linkid` that were destroyed or torn down but
    /// are still held, oldest first. Global zone only.
    ///
    /// Errors: `EACCES` not the global zone; `EINVAL` invalid id.
    pub fn detached_holders(&self, caller: ZoneId, linkid: LinkId) -> KResult<Vec<Detached>> {
        let mut cx = Unlocked::new();
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        linkid.validate()?;
        let mut parked: Vec<(u64, Arc<Link>)> = self.collect(
            &mut cx,
            |t| t.limbo.len(),
            |t, out| {
                let same = |(_, l): &(&u64, &Arc<Link>)| l.linkid() == linkid;
                out.extend(t.limbo.iter().filter(same).map(|(s, l)| (*s, l.clone())));
            },
        );
        crate::sort::sort_unstable_by(&mut parked, |a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(parked.len());
        for (_, link) in parked {
            let state = link.state();
            if state != LinkState::Freed {
                let holders: Vec<Holder> = link.holders();
                out.push(Detached { linkid, state, holders, tmp: link.tmp_holds() });
            }
        }
        Ok(out)
    }

    /// The snapshot a caller in `caller` may see (a non-global zone only
    /// its own links, without the names reserved elsewhere and without
    /// the holds other zones took on them), and the table generation it
    /// was taken at: equal generations, equal tables.
    pub fn snapshot_for(&self, caller: ZoneId) -> KResult<(Snapshot, u64)> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let (mut s, generation) = {
            let t = self.table.read(&mut cx);
            (snapshot::take(&t), t.generation)
        };
        if !caller.is_global() {
            s.zones.retain(|(k, _)| k.id == caller);
            s.links.retain(|l| l.state == LinkState::Active && visible(caller, l.zone.id));
            for l in &mut s.links {
                l.reserved = None;
                // A global-zone holder (snoop -z) is none of the zone's
                // business; the registry's own holds describe the link.
                l.holders
                    .retain(|h| h.zone.id == caller || !HoldKind::HOLDER_KINDS.contains(&h.kind));
            }
        }
        Ok((s, generation))
    }

    /// Gives a global-zone link a new id and name (`dls_devnet_rename()`
    /// with a second id: a physical link takes over the id of a link
    /// configuration dlmgmtd kept). The MAC name stays.
    ///
    /// Errors: `EINVAL` an invalid id or bad name; `ENOENT` no such active
    /// link; `EPERM` the link is not a global-zone link in the global zone;
    /// `EBUSY` holders other than the existence hold, or a move in flight;
    /// `EEXIST` `new` is in use, or the name is taken in the global zone.
    pub fn rekey(&self, linkid: LinkId, new: LinkId, name: &[u8]) -> KResult<()> {
        let mut cx = Unlocked::new();
        linkid.validate()?;
        new.validate()?;
        let key = NameKey::of_bytes(ZoneId::GLOBAL, name)?;
        // The link leaves its id, MAC-name and name slots before it takes
        // new ones, so one of each is all the room it needs.
        let mut t = self.table.write_room(&mut cx, &self.outbox, |_| Room {
            ids: 1,
            macs: 1,
            names: 1,
            ..Room::NONE
        });
        let link = t.link(linkid)?.clone();
        let mut l = link.lock();
        let w = l.word();
        if w.state() != LinkState::Active {
            return Err(Errno::ENOENT);
        }
        if !w.zone_id().is_global() || w.owned() {
            return Err(Errno::EPERM);
        }
        if w.busy() || w.lent() || w.loan() || l.holder_holds() > 0 || l.slow.pending_notices > 0 {
            return Err(Errno::EBUSY);
        }
        if new == linkid || t.by_id.contains_key(&new) {
            return Err(Errno::EEXIST);
        }
        if !l.name_is(&key.words()) && !t.name_free(&key) {
            return Err(Errno::EEXIST);
        }
        // Notices still queued about `new` are about a retired link.
        self.outbox.purge(new);
        t.rekey(&link, &mut l, new, &key);
        Ok(())
    }
}
