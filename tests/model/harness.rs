//! Runs a sequence against a real registry and the reference model side by
//! side. After every step: the results must be equal (the `Ok` value or the
//! exact errno), `check_invariants()` must pass, and every observable —
//! snapshot, outbox, bad-release count, pending frees, what dlmgmtd was
//! told, and the state of every handle the test still keeps (also on
//! detached and freed links) — must be what the model says.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use dlszone::errno::Errno;
use std::sync::Arc;

use dlszone::registry::{
    Action, DrainWait, Hold, LinkId, LinkRef, Registry, TeardownReport, TmpHold, ZoneId, ZoneKey,
    ZoneState,
};
use dlszone::sync::signal;
use dlszone_ktest::fake::FakeDlmgmt;

use crate::ops::{Bytes, Call, KeySel, LinkArg, MacArg, Op, Zone, ZoneArg};
use crate::reference::{Inc, Model, Quirks, Res};

/// Where and how the registry and the model disagreed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Index of the step after which the mismatch showed (`None`: before
    /// the first step).
    pub(crate) step: Option<usize>,
    pub(crate) op: String,
    pub(crate) what: String,
    /// Every call made up to and including the failing one.
    pub(crate) trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(i) => write!(f, "step {i} {}: {}", self.op, self.what)?,
            None => write!(f, "initial state: {}", self.what)?,
        }
        if !self.trace.is_empty() {
            write!(f, "\ncalls:")?;
        }
        for (i, call) in self.trace.iter().enumerate() {
            write!(f, "\n  {i:3}: {call}")?;
        }
        Ok(())
    }
}

/// A hold the test keeps: the token a release consumes.
#[derive(Debug)]
enum Token {
    Tmp(TmpHold),
    /// A long hold; the token knows its kind and holder.
    Long(Hold),
}

impl Token {
    fn what(&self) -> String {
        match self {
            Token::Tmp(_) => "Tmp".into(),
            Token::Long(h) => format!("Long({:?}, {:?})", h.holder(), h.kind()),
        }
    }
}

/// A hold the test keeps, with the model record it points at, and a
/// reference to the link's memory that outlives the hold.
struct Handle {
    link: LinkRef,
    inc: Inc,
    token: Token,
}

struct World {
    reg: Registry,
    model: Model,
    daemon: Arc<FakeDlmgmt>,
    handles: Vec<Handle>,
    next_uniqid: u64,
    /// Whether to record `notes`.
    counting: bool,
    /// Teardown actions seen in the last step, when counting.
    notes: Vec<String>,
}

/// Compares an observation with the model's; `what` names it on mismatch.
fn eq<T: PartialEq + Debug>(want: T, got: T, what: impl FnOnce() -> String) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!("{}: model says {want:?}, registry gave {got:?}", what()))
    }
}

/// What a step did, for coverage counts: the operation and its errno.
pub(crate) type Tag = (&'static str, Option<Errno>);

/// Compares an operation's result with the model's.
fn same<T: PartialEq + Debug>(
    what: &'static str,
    want: Res<T>,
    got: Res<T>,
) -> Result<Tag, String> {
    let tag = (what, want.as_ref().err().copied());
    eq(want, got, || what.to_string()).map(|()| tag)
}

/// Compares a call that returns a hold: errnos must match, and on
/// success the hold must be on the link the model means.
fn same_ref(
    what: &'static str,
    want: Res<Inc>,
    got: Result<Token, Errno>,
) -> Result<(Tag, Option<(Token, Inc)>), String> {
    match (want, got) {
        (Ok(inc), Ok(tok)) => Ok(((what, None), Some((tok, inc)))),
        (Err(w), Err(g)) if w == g => Ok(((what, Some(w)), None)),
        (w, g) => {
            let g = g.map(|t| match t {
                Token::Tmp(h) => h.linkid(),
                Token::Long(h) => h.linkid(),
            });
            Err(format!("{what}: model says {w:?}, registry gave {g:?}"))
        }
    }
}

impl World {
    fn new(quirks: Quirks) -> World {
        let reg = Registry::new();
        let daemon = FakeDlmgmt::shared();
        reg.set_door(daemon.clone());
        World {
            reg,
            model: Model::new(quirks),
            daemon,
            handles: Vec::new(),
            next_uniqid: 100,
            counting: false,
            notes: Vec::new(),
        }
    }

    /// Counts the kinds of line a teardown report has.
    fn note_report(&mut self, what: &str, got: &Res<TeardownReport>) {
        let Ok(report) = got else { return };
        if !self.counting {
            return;
        }
        for o in &report.links {
            let action = match &o.action {
                Action::Condemned { freed: true } => "Condemned+freed",
                Action::Condemned { freed: false } => "Condemned+delayed",
                Action::Returned { .. } => "Returned",
                Action::ReturnQueued { .. } => "ReturnQueued",
                Action::ReturnFailed(_) => "ReturnFailed",
                Action::Blocked => "Blocked",
                Action::Destroying => "Destroying",
            };
            self.notes.push(format!("{what} -> {action}"));
            if !o.reclaimed.is_empty() {
                self.notes.push(format!("{what} -> reclaimed"));
            }
        }
        if report.remaining > 0 {
            self.notes.push(format!("{what} -> stuck"));
        }
    }

    /// The key an operation names: the zone's current incarnation, a stale
    /// one, or a made-up one for an id that is not booted.
    fn key(&self, zone: Zone, sel: KeySel) -> ZoneKey {
        match (self.model.zones.get(&zone.0), sel) {
            (Some(&(k, _)), KeySel::Current) => k,
            (Some(&(k, _)), KeySel::Stale) => ZoneKey::new(zone.0, k.uniqid + 1000),
            (None, _) => ZoneKey::new(zone.0, 7777),
        }
    }

    /// Takes handle `i` (modulo how many there are) out of the list, if
    /// any: releasing it consumes it.
    fn take_handle(&mut self, i: usize) -> Option<Handle> {
        let i = i.checked_rem(self.handles.len())?;
        Some(self.handles.remove(i))
    }

    /// Keeps a hold the registry gave `caller`, after checking it is on
    /// the link the model means and, for a long hold, that its token names
    /// the holder the model would charge.
    fn keep(
        &mut self,
        caller: Zone,
        (tag, got): (Tag, Option<(Token, Inc)>),
    ) -> Result<Tag, String> {
        if let Some((token, inc)) = got {
            let link = match &token {
                Token::Tmp(h) => h.link_ref(),
                Token::Long(h) => {
                    let want = self.model.holder_key(caller.id());
                    eq(want, h.holder(), || "hold token's holder".into())?;
                    h.link_ref()
                }
            };
            eq(LinkId(self.model.links[inc].id), link.linkid(), || "handle's link id".into())?;
            self.handles.push(Handle { link, inc, token });
        }
        Ok(tag)
    }

    // ---- resolving generated arguments --------------------------------

    fn zone_arg(&self, z: ZoneArg) -> Zone {
        match z {
            ZoneArg::Global => Zone(0),
            ZoneArg::Known(k) => {
                let ids: Vec<i32> = self.model.zones.keys().copied().filter(|&i| i != 0).collect();
                match ids.len() {
                    0 => Zone(1 + i32::from(k % 3)),
                    n => Zone(ids[usize::from(k) % n]),
                }
            }
            ZoneArg::Halted(k) => {
                let down = self.model.zones.iter().filter(|(_, (_, st))| *st == ZoneState::Down);
                let ids: Vec<i32> = down.map(|(&id, _)| id).collect();
                match ids.len() {
                    0 => self.zone_arg(ZoneArg::Known(k)),
                    n => Zone(ids[usize::from(k) % n]),
                }
            }
            ZoneArg::Raw(z) => z,
        }
    }

    /// A zone to boot: one of 1 to 3 not known yet, if any.
    fn boot_arg(&self, z: ZoneArg) -> Zone {
        let ZoneArg::Known(k) = z else { return self.zone_arg(z) };
        let free: Vec<i32> = (1..=3).filter(|i| !self.model.zones.contains_key(i)).collect();
        match free.len() {
            0 => self.zone_arg(z),
            n => Zone(free[usize::from(k) % n]),
        }
    }

    fn link_arg(&self, caller: Zone, l: LinkArg) -> LinkId {
        let (k, ids) = match l {
            LinkArg::Raw(id) => return id,
            LinkArg::Any(k) => (k, self.model.active_ids(None)),
            LinkArg::Visible(k) => match self.model.active_ids(Some(caller.id())) {
                ids if ids.is_empty() => (k, self.model.active_ids(None)),
                ids => (k, ids),
            },
        };
        match ids.len() {
            0 => LinkId(1 + u32::from(k % 5)),
            n => ids[usize::from(k) % n],
        }
    }

    fn mac_arg(&self, m: MacArg) -> Bytes {
        match m {
            MacArg::Raw(b) => b,
            MacArg::Tabled(k) => {
                let macs = self.model.tabled_macs();
                match macs.len() {
                    0 => Bytes(b"vnic0"),
                    n => Bytes(macs[usize::from(k) % n]),
                }
            }
        }
    }

    /// The call a generated step makes in the current state.
    fn resolve(&self, op: &Op) -> Call {
        let z = |a| self.zone_arg(a);
        match *op {
            Op::Boot { zone } => Call::Boot { zone: self.boot_arg(zone) },
            Op::Halt { zone, key } => Call::Halt { zone: z(zone), key },
            Op::Recover { zone, key, force } => Call::Recover { zone: z(zone), key, force },
            Op::DestroyZone { zone, key } => Call::DestroyZone { zone: z(zone), key },
            Op::Create { zone, mac, id, name, persistent } => {
                let zone = z(zone);
                let (mac, id) = (self.mac_arg(mac), self.link_arg(zone, id));
                Call::Create { zone, mac, id, name, persistent }
            }
            Op::CreatePending { mac } => Call::CreatePending { mac: self.mac_arg(mac) },
            Op::DestroyPending { mac } => Call::DestroyPending { mac: self.mac_arg(mac) },
            Op::Activate { mac, id, name } => {
                Call::Activate { mac: self.mac_arg(mac), id: self.link_arg(Zone(0), id), name }
            }
            Op::Destroy { caller, id, wait } => {
                let caller = z(caller);
                Call::Destroy { caller, id: self.link_arg(caller, id), wait }
            }
            Op::Rename { caller, id, name } => {
                let caller = z(caller);
                Call::Rename { caller, id: self.link_arg(caller, id), name }
            }
            Op::Lend { caller, id, to, transient } => {
                let caller = z(caller);
                Call::Lend { caller, id: self.link_arg(caller, id), to: z(to), transient }
            }
            Op::GiveBack { caller, id } => {
                let caller = z(caller);
                Call::GiveBack { caller, id: self.link_arg(caller, id) }
            }
            Op::SetZid { caller, id, to, transient } => {
                let caller = z(caller);
                Call::SetZid { caller, id: self.link_arg(caller, id), to: z(to), transient }
            }
            Op::Lookup { caller, zone, name } => {
                Call::Lookup { caller: z(caller), zone: z(zone), name }
            }
            Op::LookupMac { caller, mac } => {
                Call::LookupMac { caller: z(caller), mac: self.mac_arg(mac) }
            }
            Op::List { caller, zone } => Call::List { caller: z(caller), zone: zone.map(z) },
            Op::Holders { caller, id } => {
                let caller = z(caller);
                Call::Holders { caller, id: self.link_arg(caller, id) }
            }
            Op::Hold { caller, id, kind } => {
                let caller = z(caller);
                Call::Hold { caller, id: self.link_arg(caller, id), kind }
            }
            Op::HoldByMac { caller, mac, kind } => {
                Call::HoldByMac { caller: z(caller), mac: self.mac_arg(mac), kind }
            }
            Op::HoldByName { caller, zone, name, kind } => {
                Call::HoldByName { caller: z(caller), zone: z(zone), name, kind }
            }
            Op::HoldTmp { caller, id } => {
                let caller = z(caller);
                Call::HoldTmp { caller, id: self.link_arg(caller, id) }
            }
            Op::Release { handle } => Call::Release { handle },
            Op::Replay => Call::Replay,
            Op::DaemonUp(up) => Call::DaemonUp(up),
            Op::FailNext(e) => Call::FailNext(e),
            Op::FailAfter(n, e) => Call::FailAfter(n, e),
        }
    }

    fn apply(&mut self, op: &Call) -> Result<Tag, String> {
        let (m, r, d) = (&mut self.model, &self.reg, &*self.daemon);
        match *op {
            Call::Boot { zone } => {
                let key = ZoneKey::new(zone.0, self.next_uniqid);
                self.next_uniqid += 1;
                same("zone_boot", m.zone_boot(key), r.zone_boot(key))
            }
            Call::Halt { zone, key } => {
                let key = self.key(zone, key);
                let want = self.model.zone_halt(key);
                let got = self.reg.zone_halt(key);
                self.note_report("zone_halt", &got);
                same("zone_halt", want, got)
            }
            Call::Recover { zone, key, force } => {
                let key = self.key(zone, key);
                let want = self.model.zone_recover(key, force);
                // Nobody else runs: a drain wait could only time out.
                let got = self.reg.zone_recover(key, force, 0);
                self.note_report("zone_recover", &got);
                same("zone_recover", want, got)
            }
            Call::DestroyZone { zone, key } => {
                let key = self.key(zone, key);
                same("zone_destroy", self.model.zone_destroy(key), self.reg.zone_destroy(key))
            }
            Call::Create { zone, mac, id, name, persistent } => same(
                "create",
                m.create(zone.id(), mac.0, id, name.0, persistent),
                r.create(zone.id(), mac.0, id, name.0, persistent),
            ),
            Call::CreatePending { mac } => {
                same("create_pending", m.create_pending(mac.0), r.create_pending(mac.0))
            }
            Call::DestroyPending { mac } => {
                same("destroy_pending", m.destroy_pending(mac.0), r.destroy_pending(mac.0))
            }
            Call::Activate { mac, id, name } => {
                same("activate", m.activate(mac.0, id, name.0), r.activate(mac.0, id, name.0))
            }
            Call::Destroy { caller, id, wait } => {
                // Never block: a wait the model says would block is run as
                // an interruptible one with a signal pending.
                let blocks = m.destroy_would_wait(caller.id(), id, wait);
                let want = m.destroy(caller.id(), id, wait);
                let wait = if blocks {
                    signal::raise();
                    DrainWait::WaitSig
                } else {
                    wait
                };
                same("destroy", want, r.destroy(caller.id(), id, wait))
            }
            Call::Rename { caller, id, name } => {
                same("rename", m.rename(caller.id(), id, name.0), r.rename(caller.id(), id, name.0))
            }
            Call::Lend { caller, id, to, transient } => same(
                "lend",
                m.lend(caller.id(), id, to.id(), transient),
                r.lend(caller.id(), id, to.id(), transient),
            ),
            Call::GiveBack { caller, id } => {
                same("give_back", m.give_back(caller.id(), id), r.give_back(caller.id(), id))
            }
            Call::SetZid { caller, id, to, transient } => same(
                "setzid",
                m.setzid(caller.id(), id, to.id(), transient),
                r.setzid(caller.id(), id, to.id(), transient),
            ),
            Call::Lookup { caller, zone, name } => same(
                "lookup",
                m.lookup(caller.id(), zone.id(), name.0),
                r.lookup(caller.id(), zone.id(), name.0),
            ),
            Call::LookupMac { caller, mac } => same(
                "lookup_mac",
                m.lookup_mac(caller.id(), mac.0),
                r.lookup_mac(caller.id(), mac.0),
            ),
            Call::List { caller, zone } => {
                let zone = zone.map(Zone::id);
                same("list", m.list(caller.id(), zone), r.list(caller.id(), zone))
            }
            Call::Holders { caller, id } => {
                same("holders", m.holders(caller.id(), id), r.holders(caller.id(), id))
            }
            Call::Hold { caller, id, kind } => {
                let want = m.hold(caller.id(), id, kind);
                let got = r.hold(caller.id(), id, kind).map(Token::Long);
                let got = same_ref("hold", want, got)?;
                self.keep(caller, got)
            }
            Call::HoldByMac { caller, mac, kind } => {
                let want = m.hold_by_mac(caller.id(), mac.0, kind);
                let got = r.hold_by_mac(caller.id(), mac.0, kind).map(Token::Long);
                let got = same_ref("hold_by_mac", want, got)?;
                self.keep(caller, got)
            }
            Call::HoldByName { caller, zone, name, kind } => {
                let want = m.hold_by_name(caller.id(), zone.id(), name.0, kind);
                let got = r.hold_by_name(caller.id(), zone.id(), name.0, kind).map(Token::Long);
                let got = same_ref("hold_by_name", want, got)?;
                self.keep(caller, got)
            }
            Call::HoldTmp { caller, id } => {
                let want = m.hold_tmp(caller.id(), id);
                let got = same_ref("hold_tmp", want, r.hold_tmp(caller.id(), id).map(Token::Tmp))?;
                self.keep(caller, got)
            }
            Call::Release { handle } => {
                let Some(h) = self.take_handle(handle) else {
                    return Ok(("release", None));
                };
                match h.token {
                    Token::Tmp(t) => {
                        same("rele_tmp", self.model.rele_tmp(h.inc), self.reg.rele_tmp(t))
                    }
                    Token::Long(t) => {
                        let want = self.model.rele(h.inc, t.holder(), t.kind());
                        same("rele", want, self.reg.rele(t))
                    }
                }
            }
            Call::Replay => same("replay_outbox", m.replay_outbox(), r.replay_outbox()),
            Call::DaemonUp(up) => {
                m.daemon.up = up;
                d.set_up(up);
                Ok(("dlmgmtd up/down", None))
            }
            Call::FailNext(e) => {
                m.daemon.script = Some((0, e));
                d.fail_next(e);
                Ok(("dlmgmtd fail_next", None))
            }
            Call::FailAfter(n, e) => {
                m.daemon.script = Some((n, e));
                d.fail_after(u32::from(n), e);
                Ok(("dlmgmtd fail_after", None))
            }
        }
    }

    /// Everything observable, against the model.
    fn check(&self) -> Result<(), String> {
        let (m, r) = (&self.model, &self.reg);
        r.check_invariants().map_err(|v| format!("invariant {}: {}", v.rule, v.detail))?;
        let (want, got) = (m.snapshot(), r.snapshot());
        if want != got {
            return Err(format!(
                "snapshot differs\n--- model\n{}--- registry\n{}",
                want.render(),
                got.render()
            ));
        }
        for id in [0, 1, 2, 3, 9] {
            let want = m.zones.get(&id).copied();
            eq(want, r.zone_state(ZoneId(id)), || format!("zone_state({id})"))?;
        }
        eq(m.outbox(), r.outbox(), || "outbox".into())?;
        eq(m.bad_releases, r.bad_releases(), || "bad_releases".into())?;
        eq(m.late_releases, r.late_releases(), || "late_releases".into())?;
        eq(m.pending_frees(), r.pending_frees(), || "pending_frees".into())?;
        eq(&m.daemon.log, &self.daemon.log(), || "dlmgmtd log".into())?;
        for id in (1..=5).map(LinkId) {
            let told = self.daemon.zone_of(id);
            eq(m.daemon.zones.get(&id).copied(), told, || format!("dlmgmtd's zone of {id:?}"))?;
        }
        for (i, h) in self.handles.iter().enumerate() {
            let l = &m.links[h.inc];
            let what =
                |field: &str| format!("handle {i} ({} of link {}): {field}", h.token.what(), l.id);
            eq(l.state(), h.link.state(), || what("state"))?;
            eq(l.tmp, h.link.tmp_holds(), || what("tmp holds"))?;
            eq(l.holders(), h.link.holders(), || what("holders"))?;
            eq(l.zone, h.link.zone(), || what("zone"))?;
            eq(l.owner, h.link.owner(), || what("owner"))?;
            eq(l.transient, h.link.is_transient(), || what("transient"))?;
            eq(l.name, h.link.name().as_ref().map(|n| n.as_bytes()), || what("name"))?;
            eq(l.mac, h.link.mac().as_bytes(), || what("MAC name"))?;
        }
        m.self_check()
    }
}

/// Runs a generated sequence from an empty registry, checking after every
/// step.
pub(crate) fn run(ops: &[Op], quirks: Quirks) -> Result<(), Failure> {
    run_counting(ops, quirks, None)
}

/// [`run`], also counting what each step did into `counts` (keyed by
/// operation and errno, and by teardown action).
pub(crate) fn run_counting(
    ops: &[Op],
    quirks: Quirks,
    counts: Option<&mut BTreeMap<String, u64>>,
) -> Result<(), Failure> {
    drive(ops.len(), quirks, counts, |w, i| {
        let call = w.resolve(&ops[i]);
        let text = format!("{:?} = {call:?}", ops[i]);
        (call, text)
    })
}

/// Runs fixed calls, as a scripted test writes them; counts as
/// [`run_counting`] does.
pub(crate) fn run_calls(
    calls: &[Call],
    quirks: Quirks,
    counts: Option<&mut BTreeMap<String, u64>>,
) -> Result<(), Failure> {
    drive(calls.len(), quirks, counts, |_, i| (calls[i].clone(), format!("{:?}", calls[i])))
}

fn drive(
    len: usize,
    quirks: Quirks,
    mut counts: Option<&mut BTreeMap<String, u64>>,
    step: impl Fn(&World, usize) -> (Call, String),
) -> Result<(), Failure> {
    let mut w = World::new(quirks);
    w.counting = counts.is_some();
    w.check().map_err(|what| Failure { step: None, op: String::new(), what, trace: Vec::new() })?;
    let mut trace = Vec::new();
    for i in 0..len {
        let (call, text) = step(&w, i);
        trace.push(format!("{call:?}"));
        let tag = match w.apply(&call).and_then(|tag| w.check().map(|()| tag)) {
            Ok(tag) => tag,
            Err(what) => return Err(Failure { step: Some(i), op: text, what, trace }),
        };
        if let Some(c) = counts.as_deref_mut() {
            let key = match tag {
                (op, None) => format!("{op} ok"),
                (op, Some(e)) => format!("{op} {}", e.name()),
            };
            *c.entry(key).or_default() += 1;
            for key in w.notes.drain(..) {
                *c.entry(key).or_default() += 1;
            }
        }
    }
    Ok(())
}
