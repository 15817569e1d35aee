//! One datalink's record (the part of `dls_devnet_t` dlszone owns).
//!
//! A [`Link`] is reference-counted memory (`Arc`): the registry's tables,
//! and every holder, keep it alive. Its mutable state sits behind the
//! per-link mutex (`dd_mutex`'s role; see `docs/locking.md`), so holds and
//! releases touch only this lock and never the registry's table lock.

use crate::errno::{Errno, KResult};
use crate::sync::{Condvar, Mutex, MutexGuard};

use super::types::{HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneKey};
use alloc::vec::Vec;

/// Number of holder kinds counted per row.
const KINDS: usize = HoldKind::HOLDER_KINDS.len();

/// A datalink as the registry tracks it.
pub struct Link {
    mac: MacName,
    pub(crate) inner: Mutex<LinkInner>,
    /// Signalled when the temporary hold count reaches zero (`dd_cv`).
    pub(crate) drained: Condvar,
}

/// The per-link state, protected by `Link::inner`.
pub(crate) struct LinkInner {
    pub(crate) linkid: LinkId,
    /// The name in the current zone; `None` only while initializing.
    pub(crate) name: Option<LinkName>,
    /// The zone that created the link. Never changes.
    pub(crate) owner: ZoneKey,
    /// The zone the link is in now.
    pub(crate) zone: ZoneKey,
    pub(crate) transient: bool,
    pub(crate) persistent: bool,
    pub(crate) state: LinkState,
    /// The existence hold (taken at create, dropped at destroy/teardown).
    pub(crate) existence: bool,
    /// The loan hold (taken when the global zone lends the link).
    pub(crate) loan: bool,
    /// While lent: the owner-zone name, kept reserved for the return.
    pub(crate) reserved: Option<LinkName>,
    /// Holds taken from the global zone, by kind.
    pub(crate) gz_holds: [u32; KINDS],
    /// Holds taken from inside `zone_holder` (always the current zone of a
    /// tabled link), by kind.
    pub(crate) zone_holds: [u32; KINDS],
    pub(crate) zone_holder: Option<ZoneKey>,
    /// Temporary holds (`dd_tref`): no provenance, never block destroy,
    /// waited for before a destroy completes.
    pub(crate) tmp: u32,
    /// A lend or return of this link is between its two phases (its
    /// dlmgmtd upcall is in flight).
    pub(crate) busy: bool,
    /// Notices about this link still in the outbox: a new move must wait
    /// until dlmgmtd has seen them, so notices never overtake each other.
    pub(crate) pending_notices: u32,
    /// Key in the registry's limbo table once detached.
    pub(crate) serial: u64,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never blocks: a Debug print must not wait on the link's mutex.
        f.debug_struct("Link").field("mac", &self.mac).finish_non_exhaustive()
    }
}

impl Link {
    pub(crate) fn new(mac: MacName, inner: LinkInner) -> Link {
        Link { mac, inner: Mutex::new(inner), drained: Condvar::new() }
    }

    /// The MAC name (immutable).
    pub fn mac(&self) -> &MacName {
        &self.mac
    }

    /// The link id.
    pub fn linkid(&self) -> LinkId {
        self.inner.lock().linkid
    }

    /// The name in the current zone.
    pub fn name(&self) -> Option<LinkName> {
        self.inner.lock().name
    }

    /// The zone the link is in now.
    pub fn zone(&self) -> ZoneKey {
        self.inner.lock().zone
    }

    /// The zone that created the link.
    pub fn owner(&self) -> ZoneKey {
        self.inner.lock().owner
    }

    /// Whether the link goes away with its zone instead of returning.
    pub fn is_transient(&self) -> bool {
        self.inner.lock().transient
    }

    /// The life-cycle state.
    pub fn state(&self) -> LinkState {
        self.inner.lock().state
    }

    /// Who holds the link (long holds, including the registry's own).
    pub fn holders(&self) -> Vec<Holder> {
        self.inner.lock().holders()
    }

    /// Temporary holds outstanding.
    pub fn tmp_holds(&self) -> u32 {
        self.inner.lock().tmp
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LinkInner> {
        self.inner.lock()
    }
}

impl LinkInner {
    /// A fresh, active record with its existence hold.
    pub(crate) fn new(
        linkid: LinkId,
        name: Option<LinkName>,
        owner: ZoneKey,
        persistent: bool,
    ) -> LinkInner {
        LinkInner {
            linkid,
            name,
            owner,
            zone: owner,
            // Links born outside the global zone never reach it.
            transient: owner != ZoneKey::GLOBAL,
            persistent,
            state: if name.is_some() { LinkState::Active } else { LinkState::Initializing },
            existence: true,
            loan: false,
            reserved: None,
            gz_holds: [0; KINDS],
            zone_holds: [0; KINDS],
            zone_holder: None,
            tmp: 0,
            busy: false,
            pending_notices: 0,
            serial: 0,
        }
    }

    /// True if the global zone lent this link out.
    pub(crate) fn is_lent(&self) -> bool {
        self.zone != self.owner
    }

    /// Holder-kind holds from anyone.
    pub(crate) fn holder_holds(&self) -> u32 {
        self.gz_holds.iter().chain(self.zone_holds.iter()).sum()
    }

    /// Holder-kind holds taken from inside the link's zone.
    pub(crate) fn zone_side_holds(&self) -> u32 {
        self.zone_holds.iter().sum()
    }

    /// No hold of any sort remains.
    pub(crate) fn unheld(&self) -> bool {
        !self.existence && !self.loan && self.tmp == 0 && self.holder_holds() == 0
    }

    /// Detached and nobody left: the record is dead. Returns true on the
    /// transition, so exactly one caller removes it from limbo.
    pub(crate) fn settle(&mut self) -> bool {
        if self.state == LinkState::Detached && self.unheld() {
            self.state = LinkState::Freed;
            return true;
        }
        false
    }

    /// Takes a holder hold from `holder` (the caller's zone; the global
    /// zone's holds go in their own row).
    pub(crate) fn take(&mut self, kind: HoldKind, holder: ZoneKey) -> KResult<()> {
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let row = if holder == ZoneKey::GLOBAL {
            &mut self.gz_holds
        } else {
            // Visibility guarantees the holder is the link's zone.
            if self.zone != holder {
                return Err(Errno::ENOENT);
            }
            self.zone_holder = Some(holder);
            &mut self.zone_holds
        };
        row[slot] = row[slot].checked_add(1).ok_or(Errno::EOVERFLOW)?;
        Ok(())
    }

    /// Drops a holder hold. A release that matches no hold is refused
    /// (`ENOENT`) and changes nothing: never an underflow.
    pub(crate) fn drop_hold(&mut self, kind: HoldKind, holder: crate::registry::ZoneId) -> KResult<()> {
        let slot = kind.slot().ok_or(Errno::EINVAL)?;
        let row = if holder.is_global() {
            &mut self.gz_holds
        } else if self.zone_holder.map(|k| k.id) == Some(holder) {
            &mut self.zone_holds
        } else {
            return Err(Errno::ENOENT);
        };
        if row[slot] == 0 {
            return Err(Errno::ENOENT);
        }
        row[slot] -= 1;
        if self.zone_holds.iter().all(|&c| c == 0) {
            self.zone_holder = None;
        }
        Ok(())
    }

    /// Forgets every hold taken from inside the zone (forced recovery of
    /// a dead zone) and says which they were.
    pub(crate) fn reclaim_zone_holds(&mut self) -> Vec<Holder> {
        let out = self.zone_holders();
        self.zone_holds = [0; KINDS];
        self.zone_holder = None;
        out
    }

    fn zone_holders(&self) -> Vec<Holder> {
        let mut v = Vec::new();
        if let Some(z) = self.zone_holder {
            for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(self.zone_holds.iter()) {
                if count > 0 {
                    v.push(Holder { kind: *kind, zone: z, count });
                }
            }
        }
        v
    }

    /// Every long hold, the registry's own included, in a fixed order.
    pub(crate) fn holders(&self) -> Vec<Holder> {
        let mut v = Vec::new();
        if self.existence {
            v.push(Holder { kind: HoldKind::Existence, zone: self.owner, count: 1 });
        }
        if self.loan {
            v.push(Holder { kind: HoldKind::Loan, zone: ZoneKey::GLOBAL, count: 1 });
        }
        for (kind, &count) in HoldKind::HOLDER_KINDS.iter().zip(self.gz_holds.iter()) {
            if count > 0 {
                v.push(Holder { kind: *kind, zone: ZoneKey::GLOBAL, count });
            }
        }
        v.extend(self.zone_holders());
        v.sort();
        v
    }

    /// Holders other than the registry's own (those that delay a free).
    pub(crate) fn outside_holders(&self) -> Vec<Holder> {
        self.holders()
            .into_iter()
            .filter(|h| !matches!(h.kind, HoldKind::Existence | HoldKind::Loan))
            .collect()
    }
}
