//! The reference model: what the registry should do, written as plainly as
//! possible from `docs/design.md` and the documented errnos. Plain maps and
//! vectors, no locks, no indexes to keep in step: every question ("is this
//! name taken?") is answered by scanning every link record ever made, which
//! is cheap in a universe of a handful of links and hard to get wrong.
//!
//! Where the design leaves the order of two checks open, the model follows
//! the order the public docs of each operation list its errors in.

use std::collections::{BTreeMap, VecDeque};

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, DrainWait, HoldKind, Holder, LinkId, LinkName, LinkOutcome, LinkSnapshot, LinkState,
    MacName, Notice, Snapshot, TeardownReport, ZoneId, ZoneKey, ZoneState,
};

/// A model result.
pub(crate) type Res<T> = Result<T, Errno>;

/// Index of a link record in [`Model::links`]: one per successful create,
/// never reused, so it names one incarnation of a link id.
pub(crate) type Inc = usize;

const GZ: ZoneKey = ZoneKey::GLOBAL;

/// The kinds callers hold, in the order `holders()` sorts them.
const CALLER_KINDS: [HoldKind; 3] = [HoldKind::Stream, HoldKind::DevNet, HoldKind::Named];

/// Deliberate mistakes, so tests can show the checker notices a model that
/// disagrees with the registry. All off in the real test.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Quirks {
    /// Destroy forgets that a lent link carries the loan hold.
    pub(crate) loan_hold_ignored: bool,
    /// The release of a hold that forced recovery reclaimed "succeeds".
    pub(crate) late_release_ok: bool,
    /// Link names are global, not per zone.
    pub(crate) global_names: bool,
    /// Forced recovery reclaims nothing.
    pub(crate) force_reclaims_nothing: bool,
    /// Replay delivers the newest notice first.
    pub(crate) replay_newest_first: bool,
    /// Halt leaves transient links where they are.
    pub(crate) halt_keeps_transient: bool,
    /// Temporary holds block a rename.
    pub(crate) tmp_blocks_rename: bool,
    /// A lend does not wait for dlmgmtd to see a queued notice.
    pub(crate) lend_ignores_outbox: bool,
    /// A move does not deliver the older notices about its zone first.
    pub(crate) moves_skip_zone_notices: bool,
}

/// Where a link record is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Life {
    /// Known by MAC name only.
    Pending,
    /// Visible.
    Active,
    /// In no table; some holder still has it.
    Detached,
    /// Nobody has it.
    Freed,
}

/// One link record.
#[derive(Clone, Debug)]
pub(crate) struct MLink {
    pub(crate) id: u32,
    pub(crate) mac: &'static [u8],
    pub(crate) name: Option<&'static [u8]>,
    pub(crate) zone: ZoneKey,
    pub(crate) owner: ZoneKey,
    pub(crate) transient: bool,
    pub(crate) persistent: bool,
    pub(crate) life: Life,
    /// The owner-zone name kept while the link is lent.
    pub(crate) reserved: Option<&'static [u8]>,
    pub(crate) existence: bool,
    pub(crate) loan: bool,
    /// Caller holds from the global zone, by kind.
    pub(crate) gz: [u32; 3],
    /// Caller holds from inside `zone_holder`, by kind.
    pub(crate) zh: [u32; 3],
    pub(crate) zone_holder: Option<ZoneKey>,
    pub(crate) tmp: u32,
    /// `SetZone` notices about this record still in the outbox.
    pub(crate) pending: u32,
    /// Zone holds forced recovery discarded whose holders have not
    /// released them yet.
    pub(crate) reclaimed: u32,
    /// dlmgmtd last heard about this link id from an older incarnation
    /// (see [`Model::tell`]).
    pub(crate) told_stale: bool,
}

impl MLink {
    fn is_tabled(&self) -> bool {
        matches!(self.life, Life::Pending | Life::Active)
    }

    fn caller_holds(&self) -> u32 {
        self.gz.iter().chain(&self.zh).sum()
    }

    fn zone_holds(&self) -> u32 {
        self.zh.iter().sum()
    }

    fn unheld(&self) -> bool {
        !self.existence && !self.loan && self.tmp == 0 && self.caller_holds() == 0
    }

    fn visible_to(&self, caller: ZoneId) -> bool {
        caller.is_global() || caller == self.zone.id
    }

    /// The holds taken from inside the link's zone, as `holders` lists them.
    fn zone_holders(&self) -> Vec<Holder> {
        let Some(zone) = self.zone_holder else { return Vec::new() };
        CALLER_KINDS
            .iter()
            .zip(self.zh)
            .filter(|(_, n)| *n > 0)
            .map(|(&kind, count)| Holder { kind, zone, count })
            .collect()
    }

    /// Caller holds: the ones that delay a free.
    fn outside_holders(&self) -> Vec<Holder> {
        let mut v: Vec<Holder> = CALLER_KINDS
            .iter()
            .zip(self.gz)
            .filter(|(_, n)| *n > 0)
            .map(|(&kind, count)| Holder { kind, zone: GZ, count })
            .collect();
        v.extend(self.zone_holders());
        v.sort();
        v
    }

    /// Every long hold, the registry's own included.
    pub(crate) fn holders(&self) -> Vec<Holder> {
        let mut v = self.outside_holders();
        if self.existence {
            v.push(Holder { kind: HoldKind::Existence, zone: self.owner, count: 1 });
        }
        if self.loan {
            v.push(Holder { kind: HoldKind::Loan, zone: GZ, count: 1 });
        }
        v.sort();
        v
    }

    /// The registry's life-cycle state for this record.
    pub(crate) fn state(&self) -> LinkState {
        match self.life {
            Life::Pending => LinkState::Initializing,
            Life::Active => LinkState::Active,
            Life::Detached => LinkState::Detached,
            Life::Freed => LinkState::Freed,
        }
    }
}

/// dlmgmtd as the test scripts it (the scriptable `FakeDlmgmt`): up or
/// down, and the upcall after the next `n` taken ones failing once.
#[derive(Clone, Debug)]
pub(crate) struct MDaemon {
    pub(crate) up: bool,
    /// `(n, e)`: let `n` more upcalls through, fail the next with `e`.
    pub(crate) script: Option<(u8, Errno)>,
    pub(crate) log: Vec<Notice>,
    pub(crate) zones: BTreeMap<LinkId, ZoneId>,
}

impl MDaemon {
    fn deliver(&mut self, n: Notice) -> Res<()> {
        if !self.up {
            return Err(Errno::EBADF);
        }
        match self.script {
            Some((0, e)) => {
                self.script = None;
                return Err(e);
            }
            Some((k, e)) => self.script = Some((k - 1, e)),
            None => {}
        }
        self.log.push(n);
        match n {
            Notice::SetZone { link, zone } => {
                self.zones.insert(link, zone);
            }
            Notice::LinkGone { link, .. } => {
                self.zones.remove(&link);
            }
        }
        Ok(())
    }
}

/// The whole model.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) zones: BTreeMap<i32, (ZoneKey, ZoneState)>,
    pub(crate) links: Vec<MLink>,
    /// Notices for dlmgmtd, oldest first, each with the record it is about
    /// and the zones it changes names in (where the link was, where it is).
    pub(crate) outbox: VecDeque<(Notice, Inc, [ZoneId; 2])>,
    pub(crate) daemon: MDaemon,
    pub(crate) bad_releases: u64,
    pub(crate) late_releases: u64,
    pub(crate) quirks: Quirks,
}

fn zone_ok(z: ZoneId) -> Res<()> {
    if (0..=9999).contains(&z.0) { Ok(()) } else { Err(Errno::EINVAL) }
}

fn id_ok(id: LinkId) -> Res<()> {
    if id.0 == 0 { Err(Errno::EINVAL) } else { Ok(()) }
}

/// `dladm_valid_linkname()`.
fn name_ok(n: &[u8]) -> Res<()> {
    if n.is_empty() {
        return Err(Errno::EINVAL);
    }
    if n.len() > 31 {
        return Err(Errno::ENAMETOOLONG);
    }
    let allowed = n.iter().all(|b| b.is_ascii_alphanumeric() || b"_.".contains(b));
    if !allowed || n[0].is_ascii_digit() || !n[n.len() - 1].is_ascii_digit() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn mac_ok(m: &[u8]) -> Res<()> {
    if m.is_empty() {
        return Err(Errno::EINVAL);
    }
    if m.len() > 255 {
        return Err(Errno::ENAMETOOLONG);
    }
    if !m.iter().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b)) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn slot(kind: HoldKind) -> Res<usize> {
    CALLER_KINDS.iter().position(|&k| k == kind).ok_or(Errno::EINVAL)
}

fn lname(n: &'static [u8]) -> LinkName {
    LinkName::new(n).expect("the model only stores valid names")
}

fn outcome(l: &MLink, action: Action) -> LinkOutcome {
    LinkOutcome {
        link: LinkId(l.id),
        name: l.name.map(lname),
        action,
        delayed_by: l.outside_holders(),
        tmp_holds: l.tmp,
        reclaimed: Vec::new(),
    }
}

impl Model {
    /// A registry that knows only the global zone.
    pub(crate) fn new(quirks: Quirks) -> Model {
        let mut zones = BTreeMap::new();
        zones.insert(0, (GZ, ZoneState::Running));
        Model {
            zones,
            links: Vec::new(),
            outbox: VecDeque::new(),
            daemon: MDaemon { up: true, script: None, log: Vec::new(), zones: BTreeMap::new() },
            bad_releases: 0,
            late_releases: 0,
            quirks,
        }
    }

    // ---- lookups by scanning -------------------------------------------

    fn active(&self, id: LinkId) -> Option<Inc> {
        self.links.iter().position(|l| l.life == Life::Active && l.id == id.0)
    }

    fn tabled_mac(&self, mac: &[u8]) -> Option<Inc> {
        self.links.iter().position(|l| l.is_tabled() && l.mac == mac)
    }

    fn name_taken(&self, zone: ZoneId, name: &[u8]) -> bool {
        let global = self.quirks.global_names;
        self.links.iter().filter(|l| l.life == Life::Active).any(|l| {
            let here = l.name == Some(name) && (global || l.zone.id == zone);
            let kept = l.reserved == Some(name) && (global || l.owner.id == zone);
            here || kept
        })
    }

    /// Links in a zone, by id (the order a teardown visits them).
    fn links_in(&self, zone: ZoneId) -> Vec<Inc> {
        let mut v: Vec<Inc> = (0..self.links.len())
            .filter(|&i| self.links[i].life == Life::Active && self.links[i].zone.id == zone)
            .collect();
        v.sort_by_key(|&i| self.links[i].id);
        v
    }

    /// Ids of active links, sorted; only those `seen_by` can see if given.
    pub(crate) fn active_ids(&self, seen_by: Option<ZoneId>) -> Vec<LinkId> {
        let mut v: Vec<LinkId> = self
            .links
            .iter()
            .filter(|l| l.life == Life::Active && seen_by.is_none_or(|z| l.visible_to(z)))
            .map(|l| LinkId(l.id))
            .collect();
        v.sort();
        v
    }

    /// MAC names of tabled links (pending ones too), sorted.
    pub(crate) fn tabled_macs(&self) -> Vec<&'static [u8]> {
        let mut v: Vec<_> = self.links.iter().filter(|l| l.is_tabled()).map(|l| l.mac).collect();
        v.sort();
        v
    }

    /// The incarnation a holder in `zone` belongs to now; one that never
    /// existed if the zone is gone (its releases then match nothing).
    pub(crate) fn holder_key(&self, zone: ZoneId) -> ZoneKey {
        if zone.is_global() {
            return ZoneKey::GLOBAL;
        }
        self.zones.get(&zone.0).map(|(k, _)| *k).unwrap_or(ZoneKey { id: zone, uniqid: u64::MAX })
    }

    fn running(&self, zone: ZoneId) -> Res<ZoneKey> {
        match self.zones.get(&zone.0) {
            Some(&(key, ZoneState::Running)) => Ok(key),
            _ => Err(Errno::ENXIO),
        }
    }

    fn zone_of_key(&self, key: ZoneKey) -> Res<ZoneState> {
        let &(k, st) = self.zones.get(&key.id.0).ok_or(Errno::ENXIO)?;
        if k != key {
            return Err(Errno::ESTALE);
        }
        Ok(st)
    }

    fn set_zone_state(&mut self, id: ZoneId, st: ZoneState) {
        if let Some(z) = self.zones.get_mut(&id.0) {
            z.1 = st;
        }
    }

    // ---- life-cycle helpers --------------------------------------------

    /// An upcall to dlmgmtd about record `i`.
    ///
    /// dlmgmtd knows links by id only. A notice about a record that is
    /// gone, delivered once a later record took the same id, would be news
    /// about the later one as far as dlmgmtd can tell; the model records
    /// it, and its self-check fails if it ever happens.
    fn tell(&mut self, i: Inc, n: Notice) -> Res<()> {
        self.daemon.deliver(n)?;
        if let Some(j) = self.active(n.link()) {
            self.links[j].told_stale = j != i;
        }
        Ok(())
    }

    /// A move into or out of `zone`: the older notices about that zone
    /// still queued go out first, oldest first, and a failure there
    /// refuses the move; then the move's own upcall.
    fn tell_direct(&mut self, i: Inc, zone: ZoneId, n: Notice) -> Res<()> {
        if !self.quirks.moves_skip_zone_notices {
            self.deliver_about(zone)?;
        }
        self.tell(i, n)
    }

    /// Delivers the queued notices about non-global `zone`, oldest first,
    /// stopping at the first failure.
    fn deliver_about(&mut self, zone: ZoneId) -> Res<()> {
        while !zone.is_global() {
            let Some(k) = self.outbox.iter().position(|(_, _, zs)| zs.contains(&zone)) else {
                break;
            };
            let (queued, inc, _) = self.outbox[k];
            self.tell(inc, queued)?;
            self.outbox.remove(k);
            if matches!(queued, Notice::SetZone { .. }) {
                self.links[inc].pending -= 1;
            }
        }
        Ok(())
    }

    /// Frees a detached record nobody holds any more.
    fn settle(&mut self, i: Inc) -> bool {
        let l = &mut self.links[i];
        if l.life == Life::Detached && l.unheld() {
            l.life = Life::Freed;
            return true;
        }
        false
    }

    /// Teardown of a transient link: out of every table at once, the
    /// registry's own holds gone, dlmgmtd told through the outbox.
    fn condemn(&mut self, i: Inc) -> bool {
        let l = &mut self.links[i];
        l.life = Life::Detached;
        l.existence = false;
        l.loan = false;
        l.reserved = None;
        let zone = l.zone.id;
        let n = Notice::LinkGone { link: LinkId(l.id), zone };
        self.outbox.push_back((n, i, [zone, zone]));
        self.settle(i)
    }

    /// A lent link back home under the name kept for it.
    fn return_home(&mut self, i: Inc) {
        let l = &mut self.links[i];
        l.name = l.reserved.take().or(l.name);
        l.zone = l.owner;
        l.loan = false;
        l.transient = l.owner != GZ;
        l.zh = [0; 3];
        l.zone_holder = None;
    }

    fn reclaim(&mut self, i: Inc) -> Vec<Holder> {
        if self.quirks.force_reclaims_nothing {
            return Vec::new();
        }
        let l = &mut self.links[i];
        let out = l.zone_holders();
        l.reclaimed += l.zone_holds();
        l.zh = [0; 3];
        l.zone_holder = None;
        out
    }

    // ---- zones -----------------------------------------------------------

    pub(crate) fn zone_boot(&mut self, key: ZoneKey) -> Res<()> {
        zone_ok(key.id)?;
        if self.zones.contains_key(&key.id.0) {
            return Err(Errno::EEXIST);
        }
        self.zones.insert(key.id.0, (key, ZoneState::Running));
        Ok(())
    }

    pub(crate) fn zone_destroy(&mut self, key: ZoneKey) -> Res<()> {
        zone_ok(key.id)?;
        if key.id.is_global() {
            return Err(Errno::EINVAL);
        }
        if self.zone_of_key(key)? != ZoneState::Down {
            return Err(Errno::EBUSY);
        }
        if !self.links_in(key.id).is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.zones.remove(&key.id.0);
        Ok(())
    }

    pub(crate) fn zone_halt(&mut self, key: ZoneKey) -> Res<TeardownReport> {
        zone_ok(key.id)?;
        if key.id.is_global() {
            return Err(Errno::EINVAL);
        }
        if self.zone_of_key(key)? == ZoneState::Running {
            self.set_zone_state(key.id, ZoneState::ShuttingDown);
        }
        let mut r = TeardownReport { zone: key, links: Vec::new(), remaining: 0, queued: 0 };
        for i in self.links_in(key.id) {
            let l = &self.links[i];
            if l.transient && !self.quirks.halt_keeps_transient {
                let freed = self.condemn(i);
                r.queued += 1;
                r.links.push(outcome(&self.links[i], Action::Condemned { freed }));
            } else if l.transient || l.zone_holds() > 0 {
                r.links.push(outcome(l, Action::Blocked));
            } else {
                let n = Notice::SetZone { link: LinkId(l.id), zone: ZoneId::GLOBAL };
                match self.tell_direct(i, key.id, n) {
                    Ok(()) => {
                        let l = &self.links[i];
                        let name = lname(l.reserved.or(l.name).expect("active links are named"));
                        r.links.push(outcome(l, Action::Returned { name }));
                        self.return_home(i);
                    }
                    Err(e) => r.links.push(outcome(&self.links[i], Action::ReturnFailed(e))),
                }
            }
        }
        self.set_zone_state(key.id, ZoneState::Down);
        r.remaining = self.links_in(key.id).len();
        if r.queued > 0 {
            let _ = self.deliver_about(key.id);
        }
        Ok(r)
    }

    pub(crate) fn zone_recover(&mut self, key: ZoneKey, force: bool) -> Res<TeardownReport> {
        zone_ok(key.id)?;
        if key.id.is_global() {
            return Err(Errno::EINVAL);
        }
        if self.zone_of_key(key)? == ZoneState::Running {
            return Err(Errno::EBUSY);
        }
        self.set_zone_state(key.id, ZoneState::Down);
        let mut r = TeardownReport { zone: key, links: Vec::new(), remaining: 0, queued: 0 };
        for i in self.links_in(key.id) {
            let reclaimed = if force { self.reclaim(i) } else { Vec::new() };
            let mut o = if self.links[i].transient {
                let freed = self.condemn(i);
                r.queued += 1;
                outcome(&self.links[i], Action::Condemned { freed })
            } else if self.links[i].zone_holds() > 0 {
                outcome(&self.links[i], Action::Blocked)
            } else {
                // The report line names the link as it was in the zone.
                let mut o = outcome(&self.links[i], Action::Blocked);
                let from = self.links[i].zone.id;
                self.return_home(i);
                let l = &mut self.links[i];
                l.pending += 1;
                let n = Notice::SetZone { link: LinkId(l.id), zone: ZoneId::GLOBAL };
                o.action = Action::ReturnQueued { name: lname(l.name.expect("named")) };
                self.outbox.push_back((n, i, [from, ZoneId::GLOBAL]));
                r.queued += 1;
                o
            };
            o.reclaimed = reclaimed;
            r.links.push(o);
        }
        if force {
            // Links an earlier halt condemned that only the dead zone's own
            // holds keep alive.
            for i in 0..self.links.len() {
                let l = &self.links[i];
                if l.life != Life::Detached || l.zone_holder != Some(key) {
                    continue;
                }
                let reclaimed = self.reclaim(i);
                let freed = self.settle(i);
                let mut o = outcome(&self.links[i], Action::Condemned { freed });
                o.reclaimed = reclaimed;
                r.links.push(o);
            }
        }
        r.remaining = self.links_in(key.id).len();
        Ok(r)
    }

    // ---- links -----------------------------------------------------------

    fn new_link(
        &mut self,
        id: u32,
        mac: &'static [u8],
        name: Option<&'static [u8]>,
        owner: ZoneKey,
        persistent: bool,
    ) {
        self.links.push(MLink {
            id,
            mac,
            name,
            zone: owner,
            owner,
            transient: owner != GZ,
            persistent,
            life: if name.is_some() { Life::Active } else { Life::Pending },
            reserved: None,
            existence: true,
            loan: false,
            gz: [0; 3],
            zh: [0; 3],
            zone_holder: None,
            tmp: 0,
            pending: 0,
            reclaimed: 0,
            told_stale: false,
        });
    }

    pub(crate) fn create(
        &mut self,
        zone: ZoneId,
        mac: &'static [u8],
        id: LinkId,
        name: &'static [u8],
        persistent: bool,
    ) -> Res<()> {
        zone_ok(zone)?;
        id_ok(id)?;
        name_ok(name)?;
        mac_ok(mac)?;
        if persistent && !zone.is_global() {
            return Err(Errno::ENOTSUP);
        }
        let owner = self.running(zone)?;
        if self.active(id).is_some() || self.tabled_mac(mac).is_some() {
            return Err(Errno::EEXIST);
        }
        if self.name_taken(zone, name) {
            return Err(Errno::EEXIST);
        }
        // A reused id retires queued notices about the id's earlier link.
        self.outbox.retain(|(n, _, _)| n.link() != id);
        self.new_link(id.0, mac, Some(name), owner, persistent);
        Ok(())
    }

    pub(crate) fn create_pending(&mut self, mac: &'static [u8]) -> Res<()> {
        mac_ok(mac)?;
        if self.tabled_mac(mac).is_some() {
            return Err(Errno::EEXIST);
        }
        self.new_link(0, mac, None, GZ, true);
        Ok(())
    }

    pub(crate) fn destroy_pending(&mut self, mac: &'static [u8]) -> Res<()> {
        mac_ok(mac)?;
        let i = self.tabled_mac(mac).ok_or(Errno::ENOENT)?;
        if self.links[i].life != Life::Pending {
            return Err(Errno::EBUSY);
        }
        self.links[i].life = Life::Freed;
        self.links[i].existence = false;
        Ok(())
    }

    pub(crate) fn activate(
        &mut self,
        mac: &'static [u8],
        id: LinkId,
        name: &'static [u8],
    ) -> Res<()> {
        id_ok(id)?;
        name_ok(name)?;
        mac_ok(mac)?;
        let i = self.tabled_mac(mac).ok_or(Errno::ENOENT)?;
        if self.links[i].life != Life::Pending {
            return Err(Errno::EINVAL);
        }
        if self.active(id).is_some() || self.name_taken(ZoneId::GLOBAL, name) {
            return Err(Errno::EEXIST);
        }
        self.outbox.retain(|(n, _, _)| n.link() != id);
        let l = &mut self.links[i];
        l.id = id.0;
        l.name = Some(name);
        l.life = Life::Active;
        Ok(())
    }

    /// Destroy. A wait that would block is interrupted (the harness raises
    /// a signal for it), so `Wait` and `WaitSig` then give `EINTR`.
    pub(crate) fn destroy(&mut self, caller: ZoneId, id: LinkId, wait: DrainWait) -> Res<()> {
        zone_ok(caller)?;
        id_ok(id)?;
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        let l = &self.links[i];
        if !l.visible_to(caller) {
            return Err(Errno::ENOENT);
        }
        if !caller.is_global() && l.owner.id != caller {
            return Err(Errno::EPERM);
        }
        let zone_running = self.running(l.zone.id).is_ok();
        if l.transient && !zone_running {
            self.condemn(i);
            return Ok(());
        }
        if (l.loan && !self.quirks.loan_hold_ignored) || l.caller_holds() > 0 {
            return Err(Errno::EBUSY);
        }
        if l.tmp > 0 {
            return Err(if wait == DrainWait::NoWait { Errno::EBUSY } else { Errno::EINTR });
        }
        self.links[i].life = Life::Detached;
        self.links[i].existence = false;
        self.links[i].loan = false;
        self.settle(i);
        Ok(())
    }

    /// Whether `destroy` with a waiting mode would block on temporary holds.
    pub(crate) fn destroy_would_wait(&self, caller: ZoneId, id: LinkId, wait: DrainWait) -> bool {
        wait != DrainWait::NoWait && self.clone().destroy(caller, id, wait) == Err(Errno::EINTR)
    }

    pub(crate) fn rename(&mut self, caller: ZoneId, id: LinkId, name: &'static [u8]) -> Res<()> {
        zone_ok(caller)?;
        id_ok(id)?;
        name_ok(name)?;
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        let l = &self.links[i];
        if !l.visible_to(caller) {
            return Err(Errno::ENOENT);
        }
        if l.caller_holds() > 0 || (self.quirks.tmp_blocks_rename && l.tmp > 0) {
            return Err(Errno::EBUSY);
        }
        if l.name == Some(name) {
            return Ok(());
        }
        if self.name_taken(l.zone.id, name) {
            return Err(Errno::EEXIST);
        }
        self.links[i].name = Some(name);
        Ok(())
    }

    pub(crate) fn lookup(&self, caller: ZoneId, zone: ZoneId, name: &'static [u8]) -> Res<LinkId> {
        zone_ok(caller)?;
        zone_ok(zone)?;
        name_ok(name)?;
        if !caller.is_global() && caller != zone {
            return Err(Errno::ENOENT);
        }
        let global = self.quirks.global_names;
        self.links
            .iter()
            .find(|l| {
                l.life == Life::Active && l.name == Some(name) && (global || l.zone.id == zone)
            })
            .map(|l| LinkId(l.id))
            .ok_or(Errno::ENOENT)
    }

    pub(crate) fn lookup_mac(&self, caller: ZoneId, mac: &'static [u8]) -> Res<LinkId> {
        zone_ok(caller)?;
        mac_ok(mac)?;
        let l = &self.links[self.tabled_mac(mac).ok_or(Errno::ENOENT)?];
        if l.life != Life::Active || !l.visible_to(caller) {
            return Err(Errno::ENOENT);
        }
        Ok(LinkId(l.id))
    }

    pub(crate) fn list(&self, caller: ZoneId, zone: Option<ZoneId>) -> Res<Vec<LinkId>> {
        zone_ok(caller)?;
        let zone = match zone {
            Some(z) if !caller.is_global() && z != caller => return Err(Errno::ENOENT),
            None if !caller.is_global() => Some(caller),
            z => z,
        };
        let mut ids: Vec<LinkId> = self
            .links
            .iter()
            .filter(|l| l.life == Life::Active && zone.is_none_or(|z| l.zone.id == z))
            .map(|l| LinkId(l.id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    // ---- holds -------------------------------------------------------------

    pub(crate) fn hold_tmp(&mut self, caller: ZoneId, id: LinkId) -> Res<Inc> {
        zone_ok(caller)?;
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        if !self.links[i].visible_to(caller) {
            return Err(Errno::ENOENT);
        }
        self.links[i].tmp += 1;
        Ok(i)
    }

    pub(crate) fn rele_tmp(&mut self, i: Inc) -> Res<()> {
        if self.links[i].tmp == 0 {
            self.bad_releases += 1;
            return Err(Errno::ENOENT);
        }
        self.links[i].tmp -= 1;
        self.settle(i);
        Ok(())
    }

    pub(crate) fn hold(&mut self, caller: ZoneId, id: LinkId, kind: HoldKind) -> Res<Inc> {
        zone_ok(caller)?;
        let s = slot(kind)?;
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        if !self.links[i].visible_to(caller) {
            return Err(Errno::ENOENT);
        }
        if caller.is_global() {
            self.links[i].gz[s] += 1;
        } else {
            let holder = self.running(caller)?;
            let l = &mut self.links[i];
            l.zh[s] += 1;
            l.zone_holder = Some(holder);
        }
        Ok(i)
    }

    pub(crate) fn hold_by_name(
        &mut self,
        caller: ZoneId,
        zone: ZoneId,
        name: &'static [u8],
        kind: HoldKind,
    ) -> Res<Inc> {
        zone_ok(caller)?;
        zone_ok(zone)?;
        slot(kind)?;
        name_ok(name)?;
        let id = self.lookup(caller, zone, name)?;
        self.hold(caller, id, kind)
    }

    pub(crate) fn hold_by_mac(
        &mut self,
        caller: ZoneId,
        mac: &'static [u8],
        kind: HoldKind,
    ) -> Res<Inc> {
        // One step in the registry: the kind is checked before the lookup.
        zone_ok(caller)?;
        slot(kind)?;
        let id = self.lookup_mac(caller, mac)?;
        self.hold(caller, id, kind)
    }

    /// The release of a hold token: its record, its holder and its kind.
    pub(crate) fn rele(&mut self, i: Inc, holder: ZoneKey, kind: HoldKind) -> Res<()> {
        let s = slot(kind)?;
        let late_ok = self.quirks.late_release_ok;
        let l = &mut self.links[i];
        let row = if holder == ZoneKey::GLOBAL {
            Some(&mut l.gz)
        } else if l.zone_holder == Some(holder) {
            Some(&mut l.zh)
        } else {
            None
        };
        match row {
            Some(row) if row[s] > 0 => {
                row[s] -= 1;
                if l.zone_holds() == 0 {
                    l.zone_holder = None;
                }
                self.settle(i);
                Ok(())
            }
            _ if holder != ZoneKey::GLOBAL && l.reclaimed > 0 => {
                l.reclaimed -= 1;
                if late_ok {
                    return Ok(());
                }
                self.late_releases += 1;
                Err(Errno::ESTALE)
            }
            _ => {
                self.bad_releases += 1;
                Err(Errno::ENOENT)
            }
        }
    }

    pub(crate) fn holders(&self, caller: ZoneId, id: LinkId) -> Res<Vec<Holder>> {
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        Ok(self.links[i].holders())
    }

    // ---- moves -------------------------------------------------------------

    pub(crate) fn lend(
        &mut self,
        caller: ZoneId,
        id: LinkId,
        to: ZoneId,
        transient: bool,
    ) -> Res<()> {
        zone_ok(caller)?;
        zone_ok(to)?;
        id_ok(id)?;
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        if to.is_global() {
            return Err(Errno::EINVAL);
        }
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        let l = &self.links[i];
        if l.owner != GZ {
            return Err(Errno::EPERM);
        }
        if l.zone != l.owner {
            return Err(Errno::EBUSY);
        }
        if l.pending > 0 && !self.quirks.lend_ignores_outbox {
            return Err(Errno::EAGAIN);
        }
        if transient && l.persistent {
            return Err(Errno::EINVAL);
        }
        let to_key = self.running(to)?;
        let name = l.name.expect("active links are named");
        if self.name_taken(to, name) {
            return Err(Errno::EEXIST);
        }
        self.tell_direct(i, to, Notice::SetZone { link: id, zone: to })?;
        let l = &mut self.links[i];
        l.zone = to_key;
        l.loan = true;
        l.reserved = Some(name);
        l.transient = transient;
        Ok(())
    }

    pub(crate) fn give_back(&mut self, caller: ZoneId, id: LinkId) -> Res<()> {
        zone_ok(caller)?;
        id_ok(id)?;
        if !caller.is_global() {
            return Err(Errno::EACCES);
        }
        let i = self.active(id).ok_or(Errno::ENOENT)?;
        let l = &self.links[i];
        if l.zone == l.owner {
            return Ok(());
        }
        if l.zone_holds() > 0 {
            return Err(Errno::EBUSY);
        }
        let from = l.zone.id;
        self.tell_direct(i, from, Notice::SetZone { link: id, zone: ZoneId::GLOBAL })?;
        self.return_home(i);
        Ok(())
    }

    pub(crate) fn setzid(
        &mut self,
        caller: ZoneId,
        id: LinkId,
        to: ZoneId,
        transient: bool,
    ) -> Res<()> {
        if to.is_global() {
            self.give_back(caller, id)
        } else {
            self.lend(caller, id, to, transient)
        }
    }

    // ---- dlmgmtd -----------------------------------------------------------

    pub(crate) fn replay_outbox(&mut self) -> Res<usize> {
        let mut delivered = 0;
        loop {
            let next = if self.quirks.replay_newest_first {
                self.outbox.back()
            } else {
                self.outbox.front()
            };
            let Some(&(n, inc, _)) = next else { return Ok(delivered) };
            self.tell(inc, n)?;
            if self.quirks.replay_newest_first {
                self.outbox.pop_back();
            } else {
                self.outbox.pop_front();
            }
            if matches!(n, Notice::SetZone { .. }) {
                self.links[inc].pending -= 1;
            }
            delivered += 1;
        }
    }

    pub(crate) fn outbox(&self) -> Vec<Notice> {
        self.outbox.iter().map(|(n, _, _)| *n).collect()
    }

    pub(crate) fn pending_frees(&self) -> usize {
        self.links.iter().filter(|l| l.life == Life::Detached).count()
    }

    /// The registry's canonical dump, as it should be.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let zones = self.zones.values().copied().collect();
        let mut links: Vec<LinkSnapshot> = self
            .links
            .iter()
            .filter(|l| l.is_tabled())
            .map(|l| LinkSnapshot {
                linkid: LinkId(l.id),
                mac: MacName::new(l.mac).expect("the model only stores valid MAC names"),
                name: l.name.map(lname),
                zone: l.zone,
                owner: l.owner,
                transient: l.transient,
                persistent: l.persistent,
                state: l.state(),
                reserved: l.reserved.map(lname),
                holders: l.holders(),
            })
            .collect();
        links.sort_by(|a, b| (a.linkid, &a.mac).cmp(&(b.linkid, &b.mac)));
        Snapshot { zones, links }
    }

    /// Properties of the model itself (so also of a registry that matches
    /// it), checked from the records alone: a model that drifted from the
    /// design would otherwise agree with a registry that drifted the same
    /// way.
    pub(crate) fn self_check(&self) -> Result<(), String> {
        let mut names = BTreeMap::new();
        let mut ids = BTreeMap::new();
        let mut macs = BTreeMap::new();
        for (i, l) in self.links.iter().enumerate() {
            let fail = |what: &str| Err(format!("link record {i} (id {}): {what}", l.id));
            match l.life {
                Life::Freed if !l.unheld() => return fail("freed yet held"),
                Life::Detached if l.unheld() => return fail("detached and unheld, not freed"),
                Life::Detached | Life::Freed if l.existence || l.loan => {
                    return fail("gone but keeps a registry hold");
                }
                Life::Pending | Life::Active if !l.existence => return fail("no existence hold"),
                _ => {}
            }
            if l.is_tabled() && macs.insert(l.mac, i).is_some() {
                return fail("MAC name used twice");
            }
            if l.life != Life::Active {
                continue;
            }
            if ids.insert(l.id, i).is_some() {
                return fail("id used twice");
            }
            // Rule 1: one occupant per (zone, name), reservations included.
            let name = l.name.ok_or("active link without a name")?;
            let mut slots = vec![(l.zone.id, name)];
            slots.extend(l.reserved.map(|r| (l.owner.id, r)));
            for slot in slots {
                if names.insert(slot, i).is_some() {
                    return fail("(zone, name) taken twice");
                }
            }
            if self.zones.get(&l.zone.id.0).map(|z| z.0) != Some(l.zone) {
                return fail("in a zone that is not booted");
            }
            // Rule 2: a link created in a zone never leaves it.
            if l.owner != GZ && (l.zone != l.owner || !l.transient || l.persistent) {
                return fail("a non-global zone's link moved or is not transient");
            }
            // Rule 3: lent exactly when it has the loan hold and a reservation.
            let lent = l.zone != l.owner;
            if lent != l.loan || lent != l.reserved.is_some() {
                return fail("loan hold or reservation without a loan");
            }
            // Rule 5: a zone's holds live only in that zone.
            if l.zone_holder.is_some_and(|h| h != l.zone) {
                return fail("held from another zone");
            }
            // No notice about an older link with the same id ever reaches
            // dlmgmtd after one about this link.
            if l.told_stale {
                return fail("dlmgmtd heard about an older link with this id last");
            }
            // dlmgmtd, once told everything, agrees on where a lent link is.
            if self.outbox.is_empty() && lent {
                let told = self.daemon.zones.get(&LinkId(l.id)).copied();
                if told != Some(l.zone.id) {
                    return fail(&format!("lent to {:?}, dlmgmtd thinks {told:?}", l.zone));
                }
            }
        }
        Ok(())
    }
}
