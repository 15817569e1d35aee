//! Holds as tokens (rule 5): a hold is a value that records its link, its
//! kind and its holder's zone incarnation when it is taken, and a release
//! consumes it.
//!
//! `dls_devnet_rele(dls_dl_handle_t)` carries no zone, and the releasing
//! thread is often not in the holder's zone (the last close of a
//! descriptor that moved, a taskq). So the provenance travels with the
//! hold: the release needs nothing from its caller, and a double release
//! cannot be written in Rust. C gets an opaque handle for the token.
//!
//! Holds never allocate, and take only the table lock as reader and one
//! compare-and-swap on the link's counts; releases take no lock at all
//! (`link.rs`). The stream-open and ioctl paths never wait behind an
//! upcall or a writer's allocation.

use core::ops::Deref;

use alloc::vec::Vec;

use super::link::{Link, UNIQID48, Unmatched};
use super::observe::{addr, kind_code};
use super::table::NameKey;
use super::types::{HoldKind, Holder, LinkId, LinkState, MacName, ZoneId, ZoneKey};
use super::unlocked::Unlocked;
use super::{LinkRef, Registry, visible};
use crate::errno::{Errno, KResult};
use crate::sync::Arc;
use core::sync::atomic::Ordering;

/// The holder zone the bad-release probe gives a temporary hold, which
/// records none (`ALL_ZONES`).
const NO_HOLDER: ZoneKey = ZoneKey::new(-1, 0);

/// A long hold (`dd_ref`): keeps the link from being destroyed and its
/// memory alive. Give it back with [`Registry::rele`].
///
/// Two words, so it travels in registers: the record, and the kind and
/// holder packed in one `u64` (`KIND_BITS` bits of kind, `ZONE_BITS` of
/// zone id, the low 48 bits of the holder's `zone_uniqid`).
#[must_use = "a hold is given back with Registry::rele"]
pub struct Hold {
    link: Arc<Link>,
    key: u64,
}

const KIND_BITS: u32 = 2;
const ZONE_BITS: u32 = 14;
const UNIQID_SHIFT: u32 = KIND_BITS + ZONE_BITS;
// Zone ids are at most `MAX_ZONEID`.
const _: () = assert!(super::types::MAX_ZONEID < 1 << ZONE_BITS);

impl Hold {
    fn new(link: Arc<Link>, slot: usize, holder: ZoneKey) -> Hold {
        let key = slot as u64
            | (holder.id.0 as u64) << KIND_BITS
            | (holder.uniqid & UNIQID48) << UNIQID_SHIFT;
        Hold { link, key }
    }

    /// The kind's slot in a hold row.
    fn slot(&self) -> usize {
        (self.key & ((1 << KIND_BITS) - 1)) as usize
    }

    /// The holder's zone id.
    fn zone(&self) -> ZoneId {
        ZoneId(((self.key >> KIND_BITS) & ((1 << ZONE_BITS) - 1)) as i32)
    }

    /// The low 48 bits of the holder's `zone_uniqid`.
    fn uniqid48(&self) -> u64 {
        self.key >> UNIQID_SHIFT
    }

    /// Why the hold was taken.
    pub fn kind(&self) -> HoldKind {
        HoldKind::of_slot(self.slot())
    }

    /// The zone incarnation of the holder (`ZoneKey::GLOBAL` for the
    /// global zone). Exact, but for a hold forced recovery reclaimed from
    /// a zone whose `zone_uniqid` passed 2^48 after its link has left
    /// that zone: then only the low 48 bits are (illumos would need
    /// centuries of zone boots to get there).
    pub fn holder(&self) -> ZoneKey {
        let zone = self.zone();
        if zone.is_global() {
            return ZoneKey::GLOBAL;
        }
        let now = self.link.zone();
        if now.id == zone && now.uniqid & UNIQID48 == self.uniqid48() {
            now
        } else {
            ZoneKey { id: zone, uniqid: self.uniqid48() }
        }
    }

    /// Another reference to the link's memory, to look at it after the
    /// hold is given back (it is no hold itself).
    pub fn link_ref(&self) -> LinkRef {
        self.link.clone()
    }
}

impl core::fmt::Debug for Hold {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hold")
            .field("link", &self.link)
            .field("kind", &self.kind())
            .field("zone", &self.zone())
            .field("uniqid48", &self.uniqid48())
            .finish()
    }
}

impl Deref for Hold {
    type Target = Link;
    fn deref(&self) -> &Link {
        &self.link
    }
}

/// A temporary hold (`dd_tref`): short, anonymous, does not block a
/// destroy (which waits for it). Give it back with
/// [`Registry::rele_tmp`].
#[must_use = "a temporary hold is given back with Registry::rele_tmp"]
#[derive(Debug)]
pub struct TmpHold {
    link: Arc<Link>,
}

impl TmpHold {
    /// Another reference to the link's memory (no hold itself).
    pub fn link_ref(&self) -> LinkRef {
        self.link.clone()
    }
}

impl Deref for TmpHold {
    type Target = Link;
    fn deref(&self) -> &Link {
        &self.link
    }
}

impl Registry {
    /// Takes a temporary hold (`dls_devnet_hold_tmp`). Takes only the
    /// table lock as reader; never allocates.
    ///
    /// Errors: `ENOENT` unknown, invisible, initializing or condemned;
    /// `EINVAL` bad caller zone; `EOVERFLOW` counter saturated.
    pub fn hold_tmp(&self, caller: ZoneId, linkid: LinkId) -> KResult<TmpHold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let t = self.table.read(&mut cx);
        let link = t.link(linkid)?.clone();
        Self::hold_tmp_locked(t, caller, link)
    }

    /// The temporary hold itself, given the table guard (`t`, a reader,
    /// held until the count is taken) and the link found under it.
    #[inline]
    pub(super) fn hold_tmp_locked<G>(t: G, caller: ZoneId, link: Arc<Link>) -> KResult<TmpHold> {
        let w = link.word();
        if w.state() != LinkState::Active || !visible(caller, w.zone_id()) {
            return Err(Errno::ENOENT);
        }
        // The deliberately broken variant checks, unlocks, then counts: a
        // destroy can condemn and free the link in between.
        #[cfg(dlszone_broken = "early_unlock")]
        drop(t);
        link.take_tmp()?;
        #[cfg(not(dlszone_broken = "early_unlock"))]
        drop(t);
        Ok(TmpHold { link })
    }

    /// Gives a temporary hold back. Safe on a condemned or detached link;
    /// the last release of a detached link frees it. Takes no lock unless
    /// it wakes a draining destroy or frees the link.
    ///
    /// Errors: `ENOENT` the link has no temporary hold left (possible only
    /// through a handle forged in C; counted in
    /// [`bad_releases`](Self::bad_releases), nothing changes).
    pub fn rele_tmp(&self, hold: TmpHold) -> KResult<()> {
        let TmpHold { link } = hold;
        if !link.put_tmp() {
            return Err(self.unmatched_release(&link, None, NO_HOLDER, false));
        }
        self.settle(&link);
        Ok(())
    }

    /// After a release: frees the link if it is detached and that was its
    /// last hold (`link.rs` says why one of the racing parties sees it).
    #[inline]
    fn settle(&self, link: &Arc<Link>) {
        if link.detached() {
            self.free_detached(link);
        }
    }

    #[cold]
    #[inline(never)]
    fn free_detached(&self, link: &Arc<Link>) {
        let mut cx = Unlocked::new();
        if link.settle() {
            self.table.write(&mut cx).unpark(link.serial());
        }
    }

    /// Takes a long hold of `kind` on behalf of a holder in `caller`'s
    /// zone. Never allocates.
    ///
    /// Errors: `EINVAL` the kind is the registry's own (existence, loan),
    /// or a bad caller zone; `ENOENT` unknown, invisible, or not active;
    /// `ENXIO` the caller's zone is halting; `EBUSY` a non-global caller
    /// and the link is being returned from its zone; `EOVERFLOW`.
    pub fn hold(&self, caller: ZoneId, linkid: LinkId, kind: HoldKind) -> KResult<Hold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let t = self.table.read(&mut cx);
        Self::hold_locked(caller, t.link(linkid)?, slot)
    }

    /// Takes a long hold by MAC name (`dls_devnet_hold_by_dev`): the
    /// lookup and the hold are one table section, so a destroy and a
    /// reuse of the id in between cannot hand back another link.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad MAC name; otherwise as
    /// [`hold`](Self::hold).
    pub fn hold_by_mac(&self, caller: ZoneId, mac: &[u8], kind: HoldKind) -> KResult<Hold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        MacName::check(mac)?;
        let t = self.table.read(&mut cx);
        Self::hold_locked(caller, t.find_mac(mac).ok_or(Errno::ENOENT)?, slot)
    }

    /// Takes a long hold by name in `zone` (`dladm -z`), in one table
    /// section: a rename racing it either happened before (the new name
    /// finds the link) or after (the old one did). A non-global caller may
    /// only name its own zone.
    ///
    /// Errors: `EINVAL`/`ENAMETOOLONG` bad name or zone; `ENOENT` no such
    /// visible link (also for another zone's names); otherwise as
    /// [`hold`](Self::hold).
    pub fn hold_by_name(
        &self,
        caller: ZoneId,
        zone: ZoneId,
        name: &[u8],
        kind: HoldKind,
    ) -> KResult<Hold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        zone.validate()?;
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let key = NameKey::of_bytes(zone, name)?;
        if !caller.is_global() && caller != zone {
            return Err(Errno::ENOENT);
        }
        let t = self.table.read(&mut cx);
        let link = t.find_name(&key).ok_or(Errno::ENOENT)?;
        Self::hold_locked(caller, link, slot)
    }

    /// A hold on the link lent out of the global zone under its reserved
    /// global-zone name `name`, for a global-zone caller only. A global-zone
    /// open of `/dev/net/<name>` finds the lent link in gate (dlmgmtd's
    /// name lookup for the global zone falls back to its loan tree), and
    /// `dls_devnet_open()` keeps that. `ENOENT` for any other caller or
    /// name.
    pub fn hold_on_loan_by_name(
        &self,
        caller: ZoneId,
        name: &[u8],
        kind: HoldKind,
    ) -> KResult<Hold> {
        let mut cx = Unlocked::new();
        caller.validate()?;
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let key = NameKey::of_bytes(ZoneId::GLOBAL, name)?;
        if !caller.is_global() {
            return Err(Errno::ENOENT);
        }
        let t = self.table.read(&mut cx);
        let link = t.find_on_loan(&key).ok_or(Errno::ENOENT)?;
        Self::hold_locked(caller, link, slot)
    }

    /// The hold itself: table (reader) held. The holder is the global
    /// zone, or the link's zone (the caller's, which visibility ensures),
    /// which must still be running.
    #[inline]
    fn hold_locked(caller: ZoneId, link: &Arc<Link>, slot: usize) -> KResult<Hold> {
        let w = link.word();
        if w.state() != LinkState::Active || !visible(caller, w.zone_id()) {
            return Err(Errno::ENOENT);
        }
        let holder = if caller.is_global() {
            ZoneKey::GLOBAL
        } else {
            if w.down() {
                return Err(Errno::ENXIO);
            }
            if w.busy() {
                // The link is on its way out of the caller's zone, dlmgmtd
                // being asked: a hold taken now would be lost by the commit.
                return Err(Errno::EBUSY);
            }
            link.zone_locked()
        };
        link.take_hold(slot, holder != ZoneKey::GLOBAL)?;
        if crate::sdt::enabled() {
            let code = kind_code(HoldKind::of_slot(slot));
            crate::sdt::link_hold(link.linkid().0, code, holder.id.0, addr(link));
        }
        Ok(Hold::new(link.clone(), slot, holder))
    }

    /// Gives a long hold back, whichever thread or zone does it: the
    /// token knows its holder. Safe on a condemned or detached link; the
    /// last release frees it. Takes no lock unless it frees the link or
    /// its hold matches none counted now.
    ///
    /// Errors, each changing nothing: `ESTALE` forced recovery already
    /// discarded this hold (its zone died holding it; counted in
    /// [`late_releases`](Self::late_releases)); `ENOENT` the release
    /// matches no hold at all (possible only through a handle forged in
    /// C; counted in [`bad_releases`](Self::bad_releases)).
    pub fn rele(&self, hold: Hold) -> KResult<()> {
        let (slot, zone, uniqid48) = (hold.slot(), hold.zone(), hold.uniqid48());
        let kind = hold.kind();
        let Hold { link, .. } = hold;
        if !link.put_hold(slot, zone, uniqid48) {
            let late = link.lock().unmatched(zone) == Unmatched::Late;
            let holder = ZoneKey { id: zone, uniqid: uniqid48 };
            return Err(self.unmatched_release(&link, Some(kind), holder, late));
        }
        if crate::sdt::enabled() {
            crate::sdt::link_rele(link.linkid().0, kind_code(kind), zone.0, addr(&link));
        }
        self.settle(&link);
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
        let list = {
            let t = self.table.read(&mut cx);
            let l = t.link(linkid)?.lock();
            l.holds_locked()
        };
        Ok(list.to_vec())
    }

    /// Releases that matched no hold, since the registry was made.
    pub fn bad_releases(&self) -> u64 {
        self.stats.bad_releases.load(Ordering::Relaxed)
    }

    /// Releases of holds that forced recovery had already discarded.
    pub fn late_releases(&self) -> u64 {
        self.stats.late_releases.load(Ordering::Relaxed)
    }

    /// Detached links still kept alive by holders.
    pub fn pending_frees(&self) -> usize {
        let mut cx = Unlocked::new();
        self.table.read(&mut cx).limbo.len()
    }
}
