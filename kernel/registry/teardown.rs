//! Zone halt teardown (rule 6) and forced loan recovery (rule 7).
//!
//! Both hold the zone's gate for their whole run and go through the
//! zone's links in id order. A halt takes the table lock as writer only
//! around its upcalls: one section for everything up to the first link
//! to return (dlmgmtd must agree to a return), then one per return, which
//! commits it and goes on to the next; each section reserves the limbo
//! entries and notices its links may need first. Recovery makes no
//! upcall and touches one link per section. A link's line of the report
//! is written under its lock ([`outcome`]) into room made beforehand, with
//! its holder lists empty; the holds they list are kept aside as counts
//! and listed (which allocates) only after the locks are gone.

use alloc::vec::Vec;

use super::Registry;
use super::link::{Drain, HoldCounts, Link};
use super::links::CONDEMN;
use super::outbox::Notice;
use super::report::{Action, LinkOutcome, TeardownReport};
use super::table::Table;
use super::types::{LinkId, LinkName, LinkState, ZoneId, ZoneKey, ZoneState};
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};
use crate::sync::{Arc, Deadline};

/// One link's line of a report, written under its lock: no allocation
/// (its holder lists are empty; see [`Member`]).
#[inline]
fn outcome(l: &Link, action: Action) -> LinkOutcome {
    let mut o = LinkOutcome::BLANK;
    fill(&mut o, l, action);
    o
}

/// Writes a report line in place (see [`outcome`]): a line is large, and
/// one built apart and then copied is read back while its bytes are still
/// being stored, which the processor makes wait.
#[inline]
fn fill(o: &mut LinkOutcome, l: &Link, action: Action) {
    o.link = l.linkid();
    o.name = l.name_locked();
    o.action = action;
    o.tmp_holds = l.tmp_holds();
}

/// A link of a zone being torn down, and the holds that delay its free,
/// as counts until they can be listed.
#[derive(Clone)]
struct Member {
    /// The link's id, to sort by.
    id: LinkId,
    /// The link (`None` only in a member not yet written).
    link: Option<Arc<Link>>,
    delayed_by: HoldCounts,
    /// dlmgmtd's answer about the link's return, once asked.
    answer: KResult<()>,
}

impl Member {
    /// A member yet to be written (for room made ahead: members are
    /// written in place, as report lines are, see [`fill`]).
    const BLANK: Member =
        Member { id: LinkId::INVALID, link: None, delayed_by: HoldCounts::NONE, answer: Ok(()) };
}

/// Lists the holds that delay each link's free in its report line, with
/// no lock held (it allocates, where there are any).
#[inline(never)]
fn list_holders(links: &mut [LinkOutcome], members: &[Member]) {
    for (o, m) in links.iter_mut().zip(members) {
        if !m.delayed_by.is_none() {
            o.delayed_by = m.delayed_by.to_vec();
        }
    }
}

impl Registry {
    /// Tears down the links of a halting zone (`dls_stack_shutdown`).
    ///
    /// For every link in the zone: a transient link is condemned and
    /// detached at once (unreachable by name or id, freed when its last
    /// holder lets go, so a global-zone holder's release stays safe); a
    /// lent link returns to its owner under its reserved name, dlmgmtd
    /// being told first. A return dlmgmtd cannot take (it is down) leaves
    /// that link in the zone: the zone ends `Down` with `remaining > 0`,
    /// "stuck", until this is re-run or [`zone_recover`] is used.
    /// Idempotent; never leaves a link half-moved. Once done, it tries to
    /// deliver the notices queued about this zone (best effort; it never
    /// delivers, nor waits for, another zone's).
    ///
    /// Errors: `EINVAL` the global zone or a bad id; `ENXIO` unknown zone;
    /// `ESTALE` the id names a later incarnation.
    ///
    /// [`zone_recover`]: Registry::zone_recover
    pub fn zone_halt(&self, zone: ZoneKey) -> KResult<TeardownReport> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        if zone.id.is_global() {
            return Err(Errno::EINVAL);
        }
        let gate = self.gate.enter(&mut cx, zone.id);
        // Room for a small zone's links and their lines; the first section
        // makes more if the zone has more.
        let mut members = Vec::with_capacity(8);
        let mut report =
            TeardownReport { zone, links: Vec::with_capacity(8), remaining: 0, queued: 0 };
        self.halt_members(&mut cx, &mut members, &mut report)?;
        drop(gate);
        self.halted(&report);
        list_holders(&mut report.links, &members);
        drop(members);
        if report.queued > 0 {
            // Best effort, and only this zone's notices: a dlmgmtd hung on
            // another zone's notice must not keep this halt from returning.
            // What it cannot take now waits, in order, for a replay.
            let horizon = self.outbox.horizon();
            let _ = self.deliver_about(&mut cx, zone.id, horizon);
        }
        Ok(report)
    }

    /// Moves the zone (whose gate the caller holds) to the state `mark`
    /// says (halting or down; its error refuses), and lists its links in
    /// id order into `members`, which has room for them: from then on no
    /// link can enter the zone, so the list is complete. Table locked as
    /// writer.
    fn list_members(
        t: &mut Table,
        zone: ZoneKey,
        mark: impl Fn(ZoneState) -> KResult<ZoneState>,
        members: &mut Vec<Member>,
    ) -> KResult<()> {
        let z = t.zone_mut(zone)?;
        let state = mark(z.state)?;
        z.state = state;
        let n = t.zone(zone)?.count;
        members.resize(n, Member::BLANK);
        for (m, (id, l)) in members.iter_mut().zip(t.zone_links(zone.id)) {
            if state != ZoneState::Running {
                // No hold from inside the zone any more.
                l.mark_down();
            }
            m.id = id;
            m.link = Some(l.clone());
        }
        // The list is newest first, and ids mostly grow with age: oldest
        // first is mostly sorted already.
        members.reverse();
        crate::sort::sort_unstable_by(members, |a, b| a.id.cmp(&b.id));
        Ok(())
    }

    /// [`list_members`](Self::list_members) in a section of its own.
    #[inline(never)]
    fn members(
        &self,
        cx: &mut Unlocked,
        zone: ZoneKey,
        mark: impl Fn(ZoneState) -> KResult<ZoneState>,
    ) -> KResult<Vec<Member>> {
        let mut members: Vec<Member> = Vec::with_capacity(8);
        loop {
            let mut t = self.table.write(cx);
            let n = t.zone(zone)?.count;
            if n > members.capacity() {
                // Room made with no lock held; then looked at again.
                drop(t);
                members.reserve(n);
                continue;
            }
            Self::list_members(&mut t, zone, &mark, &mut members)?;
            return Ok(members);
        }
    }

    /// The halt's walk over its zone's links (see the module doc): lists
    /// them into `members` in its first section, then writes their lines
    /// to `report`, in the same order. The zone's gate is held, no lock
    /// is. Sets the zone down at the end, and how many links remain in it.
    #[inline(never)]
    fn halt_members(
        &self,
        cx: &mut Unlocked,
        members: &mut Vec<Member>,
        report: &mut TeardownReport,
    ) -> KResult<()> {
        let zone = report.zone;
        let halting = |s| Ok(if s == ZoneState::Running { ZoneState::ShuttingDown } else { s });
        let mut listed = false;
        // The members `asked..next` are returning: dlmgmtd has been asked
        // about each (its answer in `Member::answer`), in order.
        let mut asked = 0;
        let mut next = 0;
        loop {
            let left = members.len() - next;
            let mut t = self.table.write_room(cx, &self.outbox, |t| {
                let n = if listed { left } else { t.zone(zone).map_or(0, |z| z.count) };
                CONDEMN.times(n)
            });
            if !listed {
                let n = t.zone(zone)?.count;
                if n > members.capacity() || n > report.links.capacity() {
                    // Room made with no lock held; then looked at again.
                    drop(t);
                    members.reserve(n);
                    report.links.reserve(n);
                    continue;
                }
                Self::list_members(&mut t, zone, halting, members)?;
                crate::sdt::halt_start(zone.id.0, zone.uniqid, members.len() as u64);
                // A blank line per link, in the room made: written in place.
                report.links.resize(members.len(), LinkOutcome::BLANK);
                listed = true;
            }
            let lines = &mut report.links[asked..next];
            for (m, o) in members[asked..next].iter_mut().zip(lines) {
                Self::commit_return(&mut t, m, o);
            }
            asked = next;
            // Up to the next link to return, and every link to return
            // right after it: they are asked about one after the other,
            // then committed in one section.
            while let Some(m) = members.get_mut(next) {
                let run = asked < next;
                if run && !m.link.as_deref().is_some_and(Self::returning) {
                    break;
                }
                if !run {
                    let o = &mut report.links[next];
                    if self.halt_step(&mut t, m, o, &mut report.queued) {
                        next += 1;
                        asked = next;
                        continue;
                    }
                }
                // A link to return: dlmgmtd is asked once the section ends.
                if let Some(link) = &m.link {
                    link.update(|w| w.with_busy(true));
                }
                next += 1;
            }
            if asked == next {
                let z = t.zone_mut(zone)?;
                z.state = ZoneState::Down;
                report.remaining = z.count;
                return Ok(());
            }
            drop(t);
            for m in &mut members[asked..next] {
                let notice = Notice::SetZone { link: m.id, zone: ZoneId::GLOBAL };
                m.answer = self.ask(cx, zone.id, &notice);
            }
        }
    }

    /// Whether a halt returns this link to the global zone (rather than
    /// condemning it, or leaving it where it is).
    fn returning(link: &Link) -> bool {
        let w = link.word();
        w.state() == LinkState::Active && !w.transient() && link.zone_side_holds() == 0
    }

    /// The first phase of one link of a halt, in the halt's writer
    /// section: its report line, or `None` if it is to return (dlmgmtd is
    /// asked next). It changes no name or zone: the table lock is enough.
    fn halt_step(
        &self,
        t: &mut Table,
        m: &mut Member,
        o: &mut LinkOutcome,
        queued: &mut usize,
    ) -> bool {
        let Some(link) = &m.link else { return true };
        let w = link.word();
        let action = if Self::returning(link) {
            return false;
        } else if w.state() != LinkState::Active {
            Action::Destroying
        } else if w.transient() {
            let freed = self.condemn_locked(t, link);
            *queued += 1;
            Action::Condemned { freed }
        } else {
            Action::Blocked
        };
        m.delayed_by = link.outside_holders();
        fill(o, link, action);
        true
    }

    /// Commits or abandons the return of a halting zone's link, given
    /// dlmgmtd's answer; its report line. Table locked as writer.
    fn commit_return(t: &mut Table, m: &mut Member, o: &mut LinkOutcome) {
        let Some(link) = &m.link else { return };
        let mut l = link.lock();
        l.update(|w| w.with_busy(false));
        m.delayed_by = l.outside_holders();
        match m.answer {
            Ok(()) => {
                let name = t.lends.get(&l.linkid()).map_or_else(|| l.name_words(), |e| e.name);
                fill(o, &l, Action::ReturnFailed(Errno::EINVAL));
                Self::return_locked(t, link, &mut l);
                if let Some(name) = LinkName::from_words(name) {
                    o.action = Action::Returned { name };
                }
            }
            #[cfg(dlszone_broken = "halt_forgets_failed_return")]
            Err(_) => Self::broken_forget_failed_return(t, link, &mut l, o),
            #[cfg(not(dlszone_broken = "halt_forgets_failed_return"))]
            Err(e) => fill(o, &l, Action::ReturnFailed(e)),
        }
    }

    /// The deliberately broken variant of a halt's failed return
    /// (test-only cfg): it forgets that dlmgmtd refused or never heard of
    /// the return and commits it anyway, queueing no notice, so the
    /// kernel has the link home while dlmgmtd still has it in the zone.
    /// The fault-injection driver (`kernel/dls/tests/fault_injection.rs`)
    /// must catch it.
    #[cfg(dlszone_broken = "halt_forgets_failed_return")]
    fn broken_forget_failed_return(
        t: &mut Table,
        link: &Arc<Link>,
        l: &mut super::link::LinkGuard<'_>,
        o: &mut LinkOutcome,
    ) {
        let name = t.lends.get(&l.linkid()).map_or_else(|| l.name_words(), |e| e.name);
        fill(o, l, Action::ReturnFailed(Errno::EINVAL));
        Self::return_locked(t, link, l);
        if let Some(name) = LinkName::from_words(name) {
            o.action = Action::Returned { name };
        }
    }

    /// Forced loan recovery for a zone stuck in `down`: reaches the end
    /// state of a halt without dlmgmtd. Kernel state changes at once; each
    /// notice dlmgmtd missed is appended to the outbox for
    /// [`replay_outbox`](Registry::replay_outbox) (and a deferred replay
    /// is asked for). With `force`, long holds taken inside the dead zone
    /// itself are reclaimed (and reported); holds taken from the global
    /// zone are never discarded, they only delay a free. Re-invocable.
    ///
    /// Every wait is bounded by one deadline, `timeout_ms` from the call:
    /// for the zone's gate (a halt or move stuck in an upcall) and,
    /// afterwards and with no table lock held, for temporary holds on the
    /// links it condemned to drain.
    ///
    /// Errors: `EINVAL` global zone or bad id; `ENXIO`/`ESTALE` unknown
    /// zone; `EBUSY` the zone is running (halt it first); `ETIMEDOUT` the
    /// zone's gate did not come free in time.
    pub fn zone_recover(
        &self,
        zone: ZoneKey,
        force: bool,
        timeout_ms: u64,
    ) -> KResult<TeardownReport> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        if zone.id.is_global() {
            return Err(Errno::EINVAL);
        }
        let deadline = Deadline::after_ms(timeout_ms);
        let _gate = self.gate.enter_until(&mut cx, zone.id, &deadline)?;
        let down =
            |s| if s == ZoneState::Running { Err(Errno::EBUSY) } else { Ok(ZoneState::Down) };
        let links = self.members(&mut cx, zone, down)?;
        crate::sdt::recover_start(zone.id.0, force, links.len() as u64);
        let mut report = TeardownReport {
            zone,
            links: Vec::with_capacity(links.len()),
            remaining: 0,
            queued: 0,
        };
        let mut draining = Vec::new();
        for link in links.iter().filter_map(|m| m.link.as_ref()) {
            if self.recover_one(&mut cx, link, force, &mut report) {
                draining.push((report.links.len() - 1, link.clone()));
            }
        }
        if force {
            self.reclaim_limbo(&mut cx, zone, &mut report);
        }
        report.remaining = self.table.read(&mut cx).zone(zone)?.count;

        self.drain_condemned(&mut cx, draining, &deadline, &mut report);
        self.recovered(&report, force);
        if report.queued > 0 {
            self.kick();
        }
        Ok(report)
    }

    /// Forced recovery's second part: links the halt already condemned
    /// are in limbo, not in the zone, yet the dead zone's own holds would
    /// keep them there for ever. Reclaims those holds, in the order the
    /// links were made, and reports each link.
    #[inline(never)]
    fn reclaim_limbo(&self, cx: &mut Unlocked, zone: ZoneKey, report: &mut TeardownReport) {
        let mut held = self.collect(
            cx,
            |t| t.limbo.len(),
            |t, out| {
                // A detached link's zone never changes.
                let mine = |(_, l): &(&u64, &Arc<Link>)| {
                    l.zone_side_holds() > 0 && l.zone_locked() == zone
                };
                out.extend(t.limbo.iter().filter(mine).map(|(s, l)| (*s, l.clone())));
            },
        );
        crate::sort::sort_unstable_by(&mut held, |a, b| a.0.cmp(&b.0));
        for (_, link) in &held {
            let s = {
                let mut t = self.table.write(cx);
                let mut l = link.lock();
                let reclaimed = l.reclaim_zone_holds();
                let freed = l.settle();
                if freed {
                    t.unpark(link.serial());
                }
                let o = outcome(&l, Action::Condemned { freed });
                (o, l.outside_holders(), reclaimed)
            };
            let (mut o, delayed_by, reclaimed) = s;
            o.delayed_by = delayed_by.to_vec();
            o.reclaimed = reclaimed.to_vec();
            report.links.push(o);
        }
    }

    /// Forced recovery's last part: waits, with the gate right only and to
    /// the one deadline, for temporary holds on the links it condemned.
    /// Once the deadline has passed, what has not drained is reported as
    /// it is.
    #[inline(never)]
    fn drain_condemned(
        &self,
        cx: &mut Unlocked,
        draining: Vec<(usize, Arc<Link>)>,
        deadline: &Deadline,
        report: &mut TeardownReport,
    ) {
        for (i, link) in draining {
            if !deadline.passed() {
                let _ = link.drain(cx, Drain::Until(deadline));
            }
            let l = link.lock();
            let (tmp, delayed_by, freed) =
                (l.tmp_holds(), l.outside_holders(), l.state() == LinkState::Freed);
            drop(l);
            if let Some(o) = report.links.get_mut(i) {
                o.tmp_holds = tmp;
                o.delayed_by = delayed_by.to_vec();
                o.action = Action::Condemned { freed };
            }
        }
    }

    /// One link of a recovery: the zone's gate is held, no lock is.
    /// Appends its line to the report and says whether its temporary
    /// holds are to be waited for. Out of line, so its frame is not added
    /// to the caller's for every link.
    #[inline(never)]
    fn recover_one(
        &self,
        cx: &mut Unlocked,
        link: &Arc<Link>,
        force: bool,
        report: &mut TeardownReport,
    ) -> bool {
        let (mut o, delayed_by, reclaimed, drain) = {
            let mut t = self.table.write_room(cx, &self.outbox, |_| CONDEMN);
            let mut l = link.lock();
            let w = l.word();
            if w.state() != LinkState::Active {
                (outcome(&l, Action::Destroying), l.outside_holders(), None, false)
            } else {
                let reclaimed = force.then(|| l.reclaim_zone_holds());
                let mut drain = false;
                let o = if w.transient() {
                    let freed = self.condemn_locked(&mut t, link);
                    report.queued += 1;
                    drain = !freed && l.tmp_holds() > 0;
                    outcome(&l, Action::Condemned { freed })
                } else if l.zone_side_holds() > 0 {
                    outcome(&l, Action::Blocked)
                } else {
                    // Reported as it was in the zone, like a halt's return.
                    let mut o = outcome(&l, Action::Blocked);
                    let from = w.zone_id();
                    Self::return_locked(&mut t, link, &mut l);
                    let n = Notice::SetZone { link: l.linkid(), zone: ZoneId::GLOBAL };
                    self.outbox.push(n, link.serial(), from);
                    l.slow.pending_notices += 1;
                    report.queued += 1;
                    o.action = match l.name_locked() {
                        Some(name) => Action::ReturnQueued { name },
                        None => Action::ReturnFailed(Errno::EINVAL),
                    };
                    o
                };
                (o, l.outside_holders(), reclaimed, drain)
            }
        };
        o.delayed_by = delayed_by.to_vec();
        o.reclaimed = reclaimed.map(HoldCounts::to_vec).unwrap_or_default();
        report.links.push(o);
        drain
    }
}
