//! Zone halt teardown (rule 6) and forced loan recovery (rule 7).
//!
//! Both hold the zone's gate for their whole run and go through the
//! zone's links in id order. A halt takes the table lock as writer only
//! around its upcalls: one section for everything up to the first link
//! to return (dlmgmtd must agree to a return), then one per return, which
//! commits it and goes on to the next; each section reserves the limbo
//! entries and notices its links may need first. Recovery makes no
//! upcall and touches one link per section. A link's line of the report
//! is captured under its lock as a fixed-size [`Summary`] and turned into
//! a [`LinkOutcome`] (which allocates) only after the locks are gone.

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

/// One link's line of a report, as captured under its lock.
struct Summary {
    link: LinkId,
    /// The name's words, as the record keeps it.
    name: [u64; 4],
    action: Action,
    delayed_by: HoldCounts,
    tmp_holds: u32,
}

impl Summary {
    fn of(l: &Link, action: Action) -> Summary {
        Summary {
            link: l.linkid(),
            name: l.name_words(),
            action,
            delayed_by: l.outside_holders(),
            tmp_holds: l.tmp_holds(),
        }
    }

    /// The report line, with the holds forced recovery reclaimed (if
    /// any); allocates, so only with no lock held.
    #[inline(never)]
    fn into_outcome(self, reclaimed: Option<HoldCounts>) -> LinkOutcome {
        LinkOutcome {
            link: self.link,
            name: LinkName::from_words(self.name),
            action: self.action,
            delayed_by: self.delayed_by.to_vec(),
            tmp_holds: self.tmp_holds,
            reclaimed: reclaimed.map(|r| r.to_vec()).unwrap_or_default(),
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
        let halting = |s| Ok(if s == ZoneState::Running { ZoneState::ShuttingDown } else { s });
        let members = self.members(&mut cx, zone, halting)?;
        let mut lines = Vec::with_capacity(members.len());
        let mut queued = 0;
        let remaining = self.halt_members(&mut cx, zone, &members, &mut lines, &mut queued)?;
        drop(gate);
        drop(members);
        let report = Self::report(zone, lines, remaining, queued);
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
    /// id order: from then on no link can enter it, so the list is
    /// complete.
    #[inline(never)]
    fn members(
        &self,
        cx: &mut Unlocked,
        zone: ZoneKey,
        mark: impl Fn(ZoneState) -> KResult<ZoneState>,
    ) -> KResult<Vec<Arc<Link>>> {
        let mut members: Vec<Arc<Link>> = Vec::new();
        loop {
            let n = self.table.read(cx).zone(zone)?.count;
            members.reserve(n);
            let mut t = self.table.write(cx);
            let z = t.zone(zone)?;
            if z.count > members.capacity() {
                continue;
            }
            let state = mark(z.state)?;
            t.set_zone_state(zone, state)?;
            members.extend(t.zone_links(zone.id).map(|(_, l)| l.clone()));
            break;
        }
        crate::sort::sort_unstable_by(&mut members, |a, b| a.linkid().cmp(&b.linkid()));
        Ok(members)
    }

    /// The halt's walk over its zone's links (see the module doc); the
    /// zone's gate is held, no lock is. Sets the zone down at the end and
    /// says how many links remain in it.
    #[inline(never)]
    fn halt_members(
        &self,
        cx: &mut Unlocked,
        zone: ZoneKey,
        members: &[Arc<Link>],
        lines: &mut Vec<Summary>,
        queued: &mut usize,
    ) -> KResult<usize> {
        // The member to return, and what dlmgmtd answered.
        let mut asked: Option<(&Arc<Link>, KResult<()>)> = None;
        let mut next = members.iter();
        loop {
            let left = next.len();
            let mut t = self.table.write_room(cx, &self.outbox, |_| CONDEMN.times(left));
            if let Some((link, res)) = asked.take() {
                lines.push(Self::commit_return(&mut t, link, res));
            }
            for link in next.by_ref() {
                match self.halt_step(&mut t, link, queued) {
                    Some(line) => lines.push(line),
                    None => {
                        asked = Some((link, Ok(())));
                        break;
                    }
                }
            }
            let Some((link, _)) = asked else {
                let z = t.zone_mut(zone)?;
                z.state = ZoneState::Down;
                return Ok(z.count);
            };
            drop(t);
            let notice = Notice::SetZone { link: link.linkid(), zone: ZoneId::GLOBAL };
            let res = self.ask(cx, zone.id, &notice);
            asked = Some((link, res));
        }
    }

    /// The first phase of one link of a halt, in the halt's writer
    /// section: its report line, or `None` if it is to return (marked
    /// busy; dlmgmtd is asked next).
    fn halt_step(&self, t: &mut Table, link: &Arc<Link>, queued: &mut usize) -> Option<Summary> {
        let mut l = link.lock();
        let w = l.word();
        Some(if w.state() != LinkState::Active {
            Summary::of(&l, Action::Destroying)
        } else if w.transient() {
            let freed = self.condemn_locked(t, link, &mut l);
            *queued += 1;
            Summary::of(&l, Action::Condemned { freed })
        } else if l.zone_side_holds() > 0 {
            Summary::of(&l, Action::Blocked)
        } else {
            l.update(|w| w.with_busy(true));
            return None;
        })
    }

    /// Commits or abandons the return of a halting zone's link, given
    /// dlmgmtd's answer; its report line. Table locked as writer.
    fn commit_return(t: &mut Table, link: &Arc<Link>, res: KResult<()>) -> Summary {
        let mut l = link.lock();
        l.update(|w| w.with_busy(false));
        match res {
            Ok(()) => {
                let name = t.lends.get(&l.linkid()).map(|e| e.name).or_else(|| l.name_locked());
                let mut s = Summary::of(&l, Action::ReturnFailed(Errno::EINVAL));
                Self::return_locked(t, link, &mut l);
                if let Some(name) = name {
                    s.action = Action::Returned { name };
                }
                s
            }
            Err(e) => Summary::of(&l, Action::ReturnFailed(e)),
        }
    }

    /// The report of a halt: its links' lines, in id order.
    #[inline(never)]
    fn report(
        zone: ZoneKey,
        lines: Vec<Summary>,
        remaining: usize,
        queued: usize,
    ) -> TeardownReport {
        let links = lines.into_iter().map(|s| s.into_outcome(None)).collect();
        TeardownReport { zone, links, remaining, queued }
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
        let mut report = TeardownReport {
            zone,
            links: Vec::with_capacity(links.len()),
            remaining: 0,
            queued: 0,
        };
        let mut draining = Vec::new();
        for link in &links {
            if self.recover_one(&mut cx, link, force, &mut report) {
                draining.push((report.links.len() - 1, link.clone()));
            }
        }
        if force {
            self.reclaim_limbo(&mut cx, zone, &mut report);
        }
        report.remaining = self.table.read(&mut cx).zone(zone)?.count;

        self.drain_condemned(&mut cx, draining, &deadline, &mut report);
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
                (Summary::of(&l, Action::Condemned { freed }), reclaimed)
            };
            report.links.push(s.0.into_outcome(Some(s.1)));
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
        let (s, reclaimed, drain) = {
            let mut t = self.table.write_room(cx, &self.outbox, |_| CONDEMN);
            let mut l = link.lock();
            let w = l.word();
            if w.state() != LinkState::Active {
                (Summary::of(&l, Action::Destroying), None, false)
            } else {
                let reclaimed = force.then(|| l.reclaim_zone_holds());
                let mut drain = false;
                let s = if w.transient() {
                    let freed = self.condemn_locked(&mut t, link, &mut l);
                    report.queued += 1;
                    drain = !freed && l.tmp_holds() > 0;
                    Summary::of(&l, Action::Condemned { freed })
                } else if l.zone_side_holds() > 0 {
                    Summary::of(&l, Action::Blocked)
                } else {
                    // Reported as it was in the zone, like a halt's return.
                    let mut s = Summary::of(&l, Action::Blocked);
                    let from = w.zone_id();
                    Self::return_locked(&mut t, link, &mut l);
                    let n = Notice::SetZone { link: l.linkid(), zone: ZoneId::GLOBAL };
                    self.outbox.push(n, link.serial(), from);
                    l.slow.pending_notices += 1;
                    report.queued += 1;
                    s.action = match l.name_locked() {
                        Some(name) => Action::ReturnQueued { name },
                        None => Action::ReturnFailed(Errno::EINVAL),
                    };
                    s
                };
                (s, reclaimed, drain)
            }
        };
        report.links.push(s.into_outcome(reclaimed));
        drain
    }
}
