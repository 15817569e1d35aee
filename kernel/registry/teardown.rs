//! Zone halt teardown (rule 6) and forced loan recovery (rule 7).
//!
//! Both hold the zone's gate for their whole run and touch one link per
//! table-writer section, reserving that link's limbo entry and notice
//! first. A link's line of the report is captured under its lock as a
//! fixed-size [`Summary`] and turned into a [`LinkOutcome`] (which
//! allocates) only after the locks are gone.

use alloc::vec::Vec;

use super::Registry;
use super::link::{Drain, HoldCounts, Link, LinkInner};
use super::links::CONDEMN;
use super::outbox::Notice;
use super::report::{Action, LinkOutcome, TeardownReport};
use super::types::{LinkId, LinkName, LinkState, ZoneId, ZoneKey, ZoneState};
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};
use crate::sync::{Arc, Deadline, Wake};

/// One link's line of a report, as captured under its lock.
struct Summary {
    link: LinkId,
    name: Option<LinkName>,
    action: Action,
    delayed_by: HoldCounts,
    tmp_holds: u32,
}

impl Summary {
    fn of(l: &LinkInner, action: Action) -> Summary {
        Summary {
            link: l.linkid,
            name: l.name,
            action,
            delayed_by: l.outside_holders(),
            tmp_holds: l.tmp,
        }
    }

    /// The report line, with the holds forced recovery reclaimed (if
    /// any); allocates, so only with no lock held.
    #[inline(never)]
    fn into_outcome(self, reclaimed: Option<HoldCounts>) -> LinkOutcome {
        LinkOutcome {
            link: self.link,
            name: self.name,
            action: self.action,
            delayed_by: self.delayed_by.to_vec(),
            tmp_holds: self.tmp_holds,
            reclaimed: reclaimed.map(|r| r.to_vec()).unwrap_or_default(),
        }
    }
}

/// The first phase of a link's halt: done, or ask dlmgmtd about a return.
enum Step {
    Done(Summary),
    Return(LinkId),
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
        {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            if z.state == ZoneState::Running {
                z.state = ZoneState::ShuttingDown;
            }
        }
        let links = self.members(&mut cx, zone.id);
        crate::sdt::halt_start(zone.id.0, zone.uniqid, links.len() as u64);
        let mut report = TeardownReport {
            zone,
            links: Vec::with_capacity(links.len()),
            remaining: 0,
            queued: 0,
        };
        for (_, link) in &links {
            let o = self.halt_one(&mut cx, zone.id, link, &mut report.queued);
            report.links.push(o);
        }
        {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            z.state = ZoneState::Down;
            report.remaining = z.count;
        }
        drop(gate);
        self.halted(&report);
        if report.queued > 0 {
            // Best effort, and only this zone's notices: a dlmgmtd hung on
            // another zone's notice must not keep this halt from returning.
            // What it cannot take now waits, in order, for a replay.
            let horizon = self.outbox.horizon();
            let _ = self.deliver_about(&mut cx, zone.id, horizon);
        }
        Ok(report)
    }

    /// The links in a zone whose gate the caller holds, in id order.
    #[inline(never)]
    fn members(&self, cx: &mut Unlocked, zone: ZoneId) -> Vec<(LinkId, Arc<Link>)> {
        let mut links = self.collect(
            cx,
            |t| t.zones.get(&zone).map_or(0, |z| z.count),
            |t, out| out.extend(t.zone_links(zone).map(|(id, l)| (id, l.clone()))),
        );
        crate::sort::sort_unstable_by(&mut links, |a, b| a.0.cmp(&b.0));
        links
    }

    /// One link of a halt: the zone's gate is held, no lock is. Out of
    /// line, so its frame is not added to the caller's for every link.
    #[inline(never)]
    fn halt_one(
        &self,
        cx: &mut Unlocked,
        zone: ZoneId,
        link: &Arc<Link>,
        queued: &mut usize,
    ) -> LinkOutcome {
        let step = {
            let mut t = self.table.write_room(cx, &self.outbox, |_| CONDEMN);
            let mut l = link.lock();
            if l.state != LinkState::Active {
                Step::Done(Summary::of(&l, Action::Destroying))
            } else if l.transient {
                self.condemn_locked(&mut t, link, &mut l);
                *queued += 1;
                let freed = l.settle();
                if freed {
                    t.unpark(l.serial);
                }
                Step::Done(Summary::of(&l, Action::Condemned { freed }))
            } else if l.zone_side_holds() > 0 {
                Step::Done(Summary::of(&l, Action::Blocked))
            } else {
                l.busy = true;
                Step::Return(l.linkid)
            }
        };
        let id = match step {
            Step::Done(s) => return s.into_outcome(None),
            Step::Return(id) => id,
        };
        let notice = Notice::SetZone { link: id, zone: ZoneId::GLOBAL };
        let s = self.ask_then_commit(cx, link, zone, &notice, |t, l, res| match res {
            Ok(()) => {
                let name = l.reserved.or(l.name);
                let mut s = Summary::of(l, Action::ReturnFailed(Errno::EINVAL));
                Self::return_locked(t, l);
                if let Some(name) = name {
                    s.action = Action::Returned { name };
                }
                s
            }
            #[cfg(dlszone_broken = "halt_forgets_failed_return")]
            Err(_) => Self::broken_forget_failed_return(t, l),
            #[cfg(not(dlszone_broken = "halt_forgets_failed_return"))]
            Err(e) => Summary::of(l, Action::ReturnFailed(e)),
        });
        s.into_outcome(None)
    }

    /// The deliberately broken variant of a halt's failed return
    /// (test-only cfg): it forgets that dlmgmtd refused or never heard of
    /// the return and commits it anyway, queueing no notice, so the
    /// kernel has the link home while dlmgmtd still has it in the zone.
    /// The fault-injection driver (`kernel/dls/tests/fault_injection.rs`)
    /// must catch it.
    #[cfg(dlszone_broken = "halt_forgets_failed_return")]
    fn broken_forget_failed_return(
        t: &mut super::table::Table,
        l: &mut super::link::LinkInner,
    ) -> Summary {
        let name = l.reserved.or(l.name);
        let mut s = Summary::of(l, Action::ReturnFailed(Errno::EINVAL));
        Self::return_locked(t, l);
        if let Some(name) = name {
            s.action = Action::Returned { name };
        }
        s
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
        {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            if z.state == ZoneState::Running {
                return Err(Errno::EBUSY);
            }
            z.state = ZoneState::Down;
        }
        let links = self.members(&mut cx, zone.id);
        crate::sdt::recover_start(zone.id.0, force, links.len() as u64);
        let mut report = TeardownReport {
            zone,
            links: Vec::with_capacity(links.len()),
            remaining: 0,
            queued: 0,
        };
        let mut draining = Vec::new();
        for (_, link) in &links {
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
                let mine = |(_, l): &(&u64, &Arc<Link>)| l.lock().zone_holder == Some(zone);
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
                    t.unpark(l.serial);
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
            let mut l = link.lock_alone(cx);
            while l.tmp > 0 && !deadline.passed() {
                let (g, wake) = link.wait_drained(l, Drain::Until(deadline));
                l = g;
                if wake == Wake::TimedOut {
                    break;
                }
            }
            let (tmp, delayed_by, freed) =
                (l.tmp, l.outside_holders(), l.state == LinkState::Freed);
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
    /// holds are to be waited for. Out of line, as `halt_one`.
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
            if l.state != LinkState::Active {
                (Summary::of(&l, Action::Destroying), None, false)
            } else {
                let reclaimed = force.then(|| l.reclaim_zone_holds());
                let mut drain = false;
                let s = if l.transient {
                    self.condemn_locked(&mut t, link, &mut l);
                    report.queued += 1;
                    let freed = l.settle();
                    drain = !freed && l.tmp > 0;
                    if freed {
                        t.unpark(l.serial);
                    }
                    Summary::of(&l, Action::Condemned { freed })
                } else if l.zone_side_holds() > 0 {
                    Summary::of(&l, Action::Blocked)
                } else {
                    // Reported as it was in the zone, like a halt's return.
                    let mut s = Summary::of(&l, Action::Blocked);
                    let from = l.zone.id;
                    Self::return_locked(&mut t, &mut l);
                    let n = Notice::SetZone { link: l.linkid, zone: ZoneId::GLOBAL };
                    self.outbox.push(n, l.serial, from);
                    l.pending_notices += 1;
                    report.queued += 1;
                    s.action = match l.name {
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
