//! Zone halt teardown (rule 6) and forced loan recovery (rule 7).

use alloc::vec::Vec;

use super::link::{Drain, Link, LinkInner};
use super::report::{Action, LinkOutcome, TeardownReport};
use super::types::{LinkState, ZoneId, ZoneKey, ZoneState};
use super::unlocked::Unlocked;
use super::{Dlmgmt, Notice, Registry};
use crate::errno::{Errno, KResult};
use crate::sync::{Arc, Wake};

fn outcome(l: &LinkInner, action: Action) -> LinkOutcome {
    LinkOutcome {
        link: l.linkid,
        name: l.name,
        action,
        delayed_by: l.outside_holders(),
        tmp_holds: l.tmp,
        reclaimed: Vec::new(),
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
    /// Idempotent; never leaves a link half-moved.
    ///
    /// Errors: `EINVAL` the global zone or a bad id; `ENXIO` unknown zone;
    /// `ESTALE` the id names a later incarnation.
    ///
    /// [`zone_recover`]: Registry::zone_recover
    pub fn zone_halt(&self, zone: ZoneKey, up: &dyn Dlmgmt) -> KResult<TeardownReport> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        if zone.id.is_global() {
            return Err(Errno::EINVAL);
        }
        let _gate = self.gate.enter(&mut cx, zone.id);
        let links = {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            if z.state == ZoneState::Running {
                z.state = ZoneState::ShuttingDown;
            }
            let ids: Vec<_> = z.links.iter().copied().collect();
            ids.iter().filter_map(|id| t.by_id.get(id).cloned()).collect::<Vec<_>>()
        };
        let mut report = TeardownReport { zone, links: Vec::new(), remaining: 0, queued: 0 };
        for link in &links {
            let o = self.halt_one(&mut cx, link, up, &mut report.queued);
            report.links.push(o);
        }
        {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            z.state = ZoneState::Down;
            report.remaining = z.links.len();
        }
        // The zone is done with; a replay may deliver other zones' notices
        // and need not keep this zone's gate.
        drop(_gate);
        if report.queued > 0 {
            // Best effort: what dlmgmtd cannot take now waits in order.
            let _ = self.replay(&mut cx, up);
        }
        Ok(report)
    }

    /// One link of a halt: the zone's gate is held, no lock is.
    fn halt_one(
        &self,
        cx: &mut Unlocked,
        link: &Arc<Link>,
        up: &dyn Dlmgmt,
        queued: &mut usize,
    ) -> LinkOutcome {
        let id = {
            let mut t = self.table.write(cx);
            let mut l = link.lock();
            if l.state != LinkState::Active {
                return outcome(&l, Action::Destroying);
            }
            if l.transient {
                self.condemn_locked(&mut t, link, &mut l, queued);
                let freed = l.settle();
                let o = outcome(&l, Action::Condemned { freed });
                drop(l);
                if freed {
                    Self::unlimbo_locked(&mut t, link);
                }
                return o;
            }
            if l.zone_side_holds() > 0 {
                return outcome(&l, Action::Blocked);
            }
            l.busy = true;
            l.linkid
        };

        let res = self.tell(cx, up, &Notice::SetZone { link: id, zone: ZoneId::GLOBAL });

        let mut t = self.table.write(cx);
        let mut l = link.lock();
        l.busy = false;
        match res {
            Ok(()) => {
                let name = l.reserved.or(l.name);
                let mut o = outcome(&l, Action::ReturnFailed(Errno::EINVAL));
                Self::return_locked(&mut t, &mut l);
                o.action = match name {
                    Some(name) => Action::Returned { name },
                    None => Action::ReturnFailed(Errno::EINVAL),
                };
                o
            }
            Err(e) => outcome(&l, Action::ReturnFailed(e)),
        }
    }

    /// Forced loan recovery for a zone stuck in `down`: reaches the end
    /// state of a halt without dlmgmtd. Kernel state changes at once; each
    /// notice dlmgmtd missed is appended to the outbox for
    /// [`replay_outbox`](Registry::replay_outbox). With `force`, long holds
    /// taken inside the dead zone itself are reclaimed (and reported);
    /// holds taken from the global zone are never discarded, they only
    /// delay a free. Re-invocable.
    ///
    /// Waits are bounded by `timeout_ms`: for the zone's gate (a halt or
    /// move stuck in an upcall) and, afterwards and with no table lock
    /// held, for temporary holds on the links it condemned to drain.
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
        let _gate = self.gate.enter_timeout(&mut cx, zone.id, timeout_ms)?;
        let mut report = TeardownReport { zone, links: Vec::new(), remaining: 0, queued: 0 };
        let mut draining = Vec::new();
        {
            let mut t = self.table.write(&mut cx);
            let z = t.zone_mut(zone)?;
            if z.state == ZoneState::Running {
                return Err(Errno::EBUSY);
            }
            z.state = ZoneState::Down;
            let ids: Vec<_> = z.links.iter().copied().collect();
            for id in ids {
                let Some(link) = t.by_id.get(&id).cloned() else { continue };
                let mut l = link.lock();
                if l.state != LinkState::Active {
                    report.links.push(outcome(&l, Action::Destroying));
                    continue;
                }
                let reclaimed = if force { l.reclaim_zone_holds() } else { Vec::new() };
                let mut o = if l.transient {
                    self.condemn_locked(&mut t, &link, &mut l, &mut report.queued);
                    let freed = l.settle();
                    if !freed && l.tmp > 0 {
                        draining.push((report.links.len(), link.clone()));
                    }
                    if freed {
                        t.limbo.remove(&l.serial);
                    }
                    outcome(&l, Action::Condemned { freed })
                } else if l.zone_side_holds() > 0 {
                    outcome(&l, Action::Blocked)
                } else {
                    // Reported as it was in the zone, like a halt's return.
                    let mut o = outcome(&l, Action::Blocked);
                    Self::return_locked(&mut t, &mut l);
                    self.outbox.push(Notice::SetZone { link: id, zone: ZoneId::GLOBAL }, l.serial);
                    l.pending_notices += 1;
                    report.queued += 1;
                    o.action = match l.name {
                        Some(name) => Action::ReturnQueued { name },
                        None => Action::ReturnFailed(Errno::EINVAL),
                    };
                    o
                };
                o.reclaimed = reclaimed;
                report.links.push(o);
            }
            if force {
                // Links the halt already condemned are in limbo, not in the
                // zone, yet the dead zone's own holds would keep them there
                // for ever.
                let held: Vec<_> = t
                    .limbo
                    .values()
                    .filter(|link| link.lock().zone_holder == Some(zone))
                    .cloned()
                    .collect();
                for link in held {
                    let mut l = link.lock();
                    let reclaimed = l.reclaim_zone_holds();
                    let freed = l.settle();
                    if freed {
                        t.limbo.remove(&l.serial);
                    }
                    let mut o = outcome(&l, Action::Condemned { freed });
                    o.reclaimed = reclaimed;
                    report.links.push(o);
                }
            }
            report.remaining = t.zone(zone)?.links.len();
        }

        // Drains run with the gate right only. Once one wait times out the
        // rest are not waited for: each wait is bounded, and only links
        // that do drain in time are followed by another.
        let mut timed_out = false;
        for (i, link) in draining {
            let mut l = link.lock_alone(&mut cx);
            while l.tmp > 0 && !timed_out {
                let (g, wake) = link.wait_drained(l, Drain::TimeoutMs(timeout_ms));
                l = g;
                timed_out = wake == Wake::TimedOut && l.tmp > 0;
            }
            let o = &mut report.links[i];
            o.tmp_holds = l.tmp;
            o.delayed_by = l.outside_holders();
            o.action = Action::Condemned { freed: l.state == LinkState::Freed };
        }
        Ok(report)
    }
}
