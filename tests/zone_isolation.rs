//! Zone isolation as a property (issue 14, rule 8 of `docs/design.md`):
//! random registry states, then random operations issued from
//! non-global zones. No answer may reveal anything outside the caller's
//! zone.
//!
//! A state is built from random creates (in the global zone and in three
//! others), loans (plain and transient), holds from every zone, renames,
//! halts, forced and unforced recoveries, and the destroy and reboot of
//! zone 3 under a new incarnation (so its old key is stale and holds of
//! the old incarnation are still in callers' hands).
//!
//! Every probe of a link that is not in the caller's zone (a global-zone
//! link, another zone's, a lent link's reserved global-zone name, a
//! detached link) is made twice: once naming that link (by id, by name in
//! its zone or in the caller's, by MAC name) and once naming a link that
//! does not exist anywhere. Both must give the same answer (`hold`,
//! `hold_tmp`, `hold_by_mac`, `hold_tmp_by_mac`, `hold_by_name`,
//! `hold_tmp_by_name`, `lookup`, `lookup_mac`, `list`, `rename`,
//! `destroy`, `setzid` (lend and return), `holders`,
//! `detached_holders`), and neither may change the registry (snapshot
//! and outbox compared before and after). Probes of the caller's own
//! links are made for real, so states keep changing. After every probe:
//! `list(caller, None)` and `snapshot_for(caller)` show only links in
//! the caller's zone, only its own zone, no name reserved elsewhere, and
//! no holder from another zone. A stale incarnation gets `ESTALE` from
//! `zone_halt`, `zone_recover` and `zone_destroy`, and its late releases
//! `ESTALE` too, none of which changes anything.
//!
//! `DLSZONE_ISOLATION_CASES` sets the number of cases (default 10,000);
//! `PROPTEST_RNG_SEED` fixes the seed.

mod common;

use std::sync::Arc;

use dlszone::errno::{Errno, KResult};
use dlszone::registry::{
    Dlmgmt, DrainWait, Hold, HoldKind, LinkId, LinkState, Notice, Registry, Snapshot, ZoneId,
    ZoneKey,
};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};

/// A dlmgmtd that takes every notice.
struct Daemon;

impl Dlmgmt for Daemon {
    fn deliver(&self, _: &Notice) -> KResult<()> {
        Ok(())
    }
}

const MACS: [&str; 8] = ["vnic0", "vnic1", "vnic2", "vnic3", "vnic4", "vnic5", "vnic6", "vnic7"];
const NAMES: [&str; 4] = ["net0", "net1", "net2", "e1000g0"];
const KINDS: [HoldKind; 3] = [HoldKind::Stream, HoldKind::DevNet, HoldKind::Named];
/// Names nothing ever has.
const GHOST_ID: LinkId = LinkId(777);
const GHOST_NAME: &[u8] = b"ghost0";
const GHOST_MAC: &[u8] = b"ghostmac0";

fn cases() -> u32 {
    std::env::var("DLSZONE_ISOLATION_CASES").map_or(10_000, |v| v.parse().expect("a number"))
}

/// A step that builds the state.
#[derive(Clone, Debug)]
enum Build {
    Create { zone: i32, mac: usize, id: u32, name: usize },
    Lend { id: u32, to: i32, transient: bool },
    Return { id: u32 },
    Hold { zone: i32, id: u32, kind: usize },
    Rename { zone: i32, id: u32, name: usize },
    Halt { zone: i32 },
    Recover { zone: i32, force: bool },
    Reincarnate3,
}

fn build() -> impl Strategy<Value = Build> {
    prop_oneof![
        4 => (0..4i32, 0..8usize, 1..10u32, 0..4usize)
            .prop_map(|(zone, mac, id, name)| Build::Create { zone, mac, id, name }),
        3 => (1..10u32, 1..4i32, any::<bool>())
            .prop_map(|(id, to, transient)| Build::Lend { id, to, transient }),
        1 => (1..10u32).prop_map(|id| Build::Return { id }),
        3 => (0..4i32, 1..10u32, 0..3usize).prop_map(|(zone, id, kind)| Build::Hold { zone, id, kind }),
        1 => (0..4i32, 1..10u32, 0..4usize).prop_map(|(zone, id, name)| Build::Rename { zone, id, name }),
        1 => (1..4i32).prop_map(|zone| Build::Halt { zone }),
        1 => (1..4i32, any::<bool>()).prop_map(|(zone, force)| Build::Recover { zone, force }),
        1 => Just(Build::Reincarnate3),
    ]
}

/// What a probe does.
#[derive(Clone, Copy, Debug)]
enum What {
    HoldTmp,
    Hold(usize),
    HoldByMac(usize),
    HoldTmpByMac,
    /// By name in the link's zone (or the zone its name is reserved in).
    HoldByName(usize),
    HoldTmpByName,
    /// By name, in the caller's own namespace.
    HoldByNameHere(usize),
    Lookup,
    LookupHere,
    LookupMac,
    List,
    Rename(usize),
    Destroy,
    Lend(i32, bool),
    GiveBack,
    Holders,
    DetachedHolders,
    /// Zone operations with the caller's stale incarnation.
    Stale,
    /// A late release of a hold the stale incarnation took.
    StaleRelease(usize),
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    caller: i32,
    /// Which link: an index into every link the registry ever had.
    target: usize,
    what: What,
}

fn probe() -> impl Strategy<Value = Probe> {
    let what = prop_oneof![
        Just(What::HoldTmp),
        (0..3usize).prop_map(What::Hold),
        (0..3usize).prop_map(What::HoldByMac),
        Just(What::HoldTmpByMac),
        (0..3usize).prop_map(What::HoldByName),
        Just(What::HoldTmpByName),
        (0..3usize).prop_map(What::HoldByNameHere),
        Just(What::Lookup),
        Just(What::LookupHere),
        Just(What::LookupMac),
        Just(What::List),
        (0..4usize).prop_map(What::Rename),
        Just(What::Destroy),
        (0..4i32, any::<bool>()).prop_map(|(z, t)| What::Lend(z, t)),
        Just(What::GiveBack),
        Just(What::Holders),
        Just(What::DetachedHolders),
        Just(What::Stale),
        (0..8usize).prop_map(What::StaleRelease),
    ];
    (1..4i32, 0..16usize, what).prop_map(|(caller, target, what)| Probe { caller, target, what })
}

/// The link a probe names, as the caller would name it.
#[derive(Clone, Copy)]
struct Target<'a> {
    id: LinkId,
    mac: &'a [u8],
    name: &'a [u8],
    /// The zone whose namespace has `name`.
    zone: ZoneId,
}

struct World {
    r: Registry,
    /// Every (id, MAC) a link ever had, in creation order.
    made: Vec<(LinkId, &'static str)>,
    /// Holds taken while building, by holder.
    holds: Vec<Hold>,
    /// Zone 3's first incarnation, once a later one replaced it.
    stale: Option<ZoneKey>,
    uniq3: u64,
}

fn key(w: &World, z: i32) -> ZoneKey {
    w.r.zone_state(ZoneId(z)).map_or(ZoneKey { id: ZoneId(z), uniqid: 1 }, |s| s.0)
}

fn apply(w: &mut World, b: &Build) {
    match *b {
        Build::Create { zone, mac, id, name } => {
            let r = w.r.create(
                ZoneId(zone),
                MACS[mac].as_bytes(),
                LinkId(id),
                NAMES[name].as_bytes(),
                false,
            );
            if r.is_ok() {
                w.made.push((LinkId(id), MACS[mac]));
            }
        }
        Build::Lend { id, to, transient } => {
            let _ = w.r.lend(ZoneId::GLOBAL, LinkId(id), ZoneId(to), transient);
        }
        Build::Return { id } => {
            let _ = w.r.give_back(ZoneId::GLOBAL, LinkId(id));
        }
        Build::Hold { zone, id, kind } => {
            if let Ok(h) = w.r.hold(ZoneId(zone), LinkId(id), KINDS[kind]) {
                w.holds.push(h);
            }
        }
        Build::Rename { zone, id, name } => {
            let _ = w.r.rename(ZoneId(zone), LinkId(id), NAMES[name].as_bytes());
        }
        Build::Halt { zone } => {
            let k = key(w, zone);
            let _ = w.r.zone_halt(k);
        }
        Build::Recover { zone, force } => {
            let k = key(w, zone);
            let _ = w.r.zone_recover(k, force, 0);
        }
        Build::Reincarnate3 => {
            let old = key(w, 3);
            let _ = w.r.zone_halt(old);
            let _ = w.r.zone_recover(old, true, 0);
            if w.r.zone_destroy(old).is_ok() {
                w.uniq3 += 1;
                let new = ZoneKey { id: ZoneId(3), uniqid: w.uniq3 };
                w.r.zone_boot(new).expect("boot a new incarnation of zone 3");
                w.stale = Some(old);
            }
        }
    }
}

/// The registry's state, for "changes nothing".
fn state(r: &Registry) -> (Snapshot, Vec<Notice>) {
    (r.snapshot(), r.outbox())
}

/// A probe's answer, reduced to what the caller learns.
type Answer = Result<String, Errno>;

fn release_hold(r: &Registry, h: KResult<Hold>) -> Answer {
    h.map(|h| {
        let _ = r.rele(h);
        "a hold".into()
    })
}

fn release_tmp(r: &Registry, h: KResult<dlszone::registry::TmpHold>) -> Answer {
    h.map(|h| {
        let _ = r.rele_tmp(h);
        "a temporary hold".into()
    })
}

/// Runs `what` from `caller` against `t`.
fn ask(r: &Registry, caller: ZoneId, what: What, t: Target<'_>) -> Answer {
    let show = |x: &dyn std::fmt::Debug| format!("{x:?}");
    match what {
        What::HoldTmp => release_tmp(r, r.hold_tmp(caller, t.id)),
        What::Hold(k) => release_hold(r, r.hold(caller, t.id, KINDS[k])),
        What::HoldByMac(k) => release_hold(r, r.hold_by_mac(caller, t.mac, KINDS[k])),
        What::HoldTmpByMac => release_tmp(r, r.hold_tmp_by_mac(caller, t.mac)),
        What::HoldByName(k) => release_hold(r, r.hold_by_name(caller, t.zone, t.name, KINDS[k])),
        What::HoldTmpByName => release_tmp(r, r.hold_tmp_by_name(caller, t.zone, t.name)),
        What::HoldByNameHere(k) => {
            release_hold(r, r.hold_by_name(caller, caller, t.name, KINDS[k]))
        }
        What::Lookup => r.lookup(caller, t.zone, t.name).map(|x| show(&x)),
        What::LookupHere => r.lookup(caller, caller, t.name).map(|x| show(&x)),
        What::LookupMac => r.lookup_mac(caller, t.mac).map(|x| show(&x)),
        What::List => r.list(caller, Some(t.zone)).map(|x| show(&x)),
        What::Rename(n) => r.rename(caller, t.id, NAMES[n].as_bytes()).map(|x| show(&x)),
        What::Destroy => r.destroy(caller, t.id, DrainWait::NoWait).map(|x| show(&x)),
        What::Lend(z, tr) => r.setzid(caller, t.id, ZoneId(z), tr).map(|x| show(&x)),
        What::GiveBack => r.give_back(caller, t.id).map(|x| show(&x)),
        What::Holders => r.holders(caller, t.id).map(|x| show(&x)),
        What::DetachedHolders => r.detached_holders(caller, t.id).map(|x| show(&x.len())),
        What::Stale | What::StaleRelease(_) => Err(Errno::EINVAL),
    }
}

/// The caller-wide views: only the caller's zone shows.
fn check_views(r: &Registry, caller: ZoneId) -> Result<(), TestCaseError> {
    let all = r.snapshot();
    let mine: Vec<LinkId> = all
        .links
        .iter()
        .filter(|l| l.state == LinkState::Active && l.zone.id == caller)
        .map(|l| l.linkid)
        .collect();
    let mut listed =
        r.list(caller, None).map_err(|e| TestCaseError::fail(format!("list: {e:?}")))?;
    listed.sort();
    let mut want = mine.clone();
    want.sort();
    prop_assert_eq!(listed, want, "list({:?}, None) shows other zones' links", caller);
    let (s, _) = r.snapshot_for(caller).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(s.zones.iter().all(|(k, _)| k.id == caller), "snapshot_for shows other zones");
    for l in &s.links {
        prop_assert_eq!(l.zone.id, caller, "snapshot_for shows another zone's link");
        prop_assert!(l.reserved.is_none(), "snapshot_for shows a name reserved elsewhere");
        for h in &l.holders {
            let own = h.zone.id == caller || matches!(h.kind, HoldKind::Existence | HoldKind::Loan);
            prop_assert!(own, "snapshot_for({:?}) shows a holder in {:?}: {:?}", caller, h.zone, h);
        }
    }
    Ok(())
}

fn run(builds: &[Build], probes: &[Probe]) -> Result<(), TestCaseError> {
    let r = Registry::new();
    r.set_door(Arc::new(Daemon));
    for z in 1..4 {
        r.zone_boot(ZoneKey { id: ZoneId(z), uniqid: 1 }).expect("boot");
    }
    let mut w = World { r, made: Vec::new(), holds: Vec::new(), stale: None, uniq3: 1 };
    for b in builds {
        apply(&mut w, b);
    }
    common::checked(&w.r, ());
    for p in probes {
        let caller = ZoneId(p.caller);
        match p.what {
            What::Stale => {
                let Some(old) = w.stale.filter(|k| k.id == caller) else { continue };
                let before = state(&w.r);
                prop_assert_eq!(w.r.zone_halt(old).err(), Some(Errno::ESTALE));
                prop_assert_eq!(w.r.zone_recover(old, true, 0).err(), Some(Errno::ESTALE));
                prop_assert_eq!(w.r.zone_destroy(old).err(), Some(Errno::ESTALE));
                prop_assert!(state(&w.r) == before, "a stale key changed the registry");
                STALE.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            What::StaleRelease(i) => {
                let Some(old) = w.stale else { continue };
                let Some(j) = w
                    .holds
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.holder() == old)
                    .map(|(j, _)| j)
                    .nth(i % 4)
                else {
                    continue;
                };
                let h = w.holds.swap_remove(j);
                let before = state(&w.r);
                prop_assert_eq!(
                    w.r.rele(h).err(),
                    Some(Errno::ESTALE),
                    "late release of a stale hold"
                );
                prop_assert!(state(&w.r) == before, "a stale release changed the registry");
                STALE.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            _ => {}
        }
        let Some(&(id, mac)) = w.made.get(p.target % w.made.len().max(1)) else { continue };
        let snap = w.r.snapshot();
        let rec = snap.links.iter().find(|l| l.linkid == id && l.mac.as_bytes() == mac.as_bytes());
        let here = rec.is_some_and(|l| l.state == LinkState::Active && l.zone.id == caller);
        // The names it is known by: in its zone, and reserved in its
        // owner's while lent; a detached link keeps its last name.
        let (name, zone) = match rec {
            Some(l) => match (p.target / 8 % 2, l.reserved) {
                (1, Some(res)) => (res.as_bytes().to_vec(), l.owner.id),
                _ => (l.name.map_or(b"net0".to_vec(), |n| n.as_bytes().to_vec()), l.zone.id),
            },
            None => (NAMES[p.target % 4].as_bytes().to_vec(), ZoneId(p.target as i32 % 4)),
        };
        let t = Target { id, mac: mac.as_bytes(), name: &name, zone };
        // A detached link's id or MAC name may be a live link's now, and
        // names are per zone: whatever resolves to a link in the
        // caller's zone is the caller's to see.
        let by_name_here =
            matches!(p.what, What::HoldByNameHere(_) | What::LookupHere) || zone == caller;
        let resolves_here = snap.links.iter().any(|l| {
            l.state == LinkState::Active
                && l.zone.id == caller
                && (l.linkid == id
                    || l.mac.as_bytes() == mac.as_bytes()
                    || (by_name_here && l.name.is_some_and(|n| n.as_bytes() == &name[..])))
        });
        if here || resolves_here {
            // The caller's own link: asked for real.
            let _ = ask(&w.r, caller, p.what, t);
            OWN.fetch_add(1, Ordering::Relaxed);
            common::checked(&w.r, ());
            check_views(&w.r, caller)?;
            continue;
        }
        let ghost = Target { id: GHOST_ID, mac: GHOST_MAC, name: GHOST_NAME, zone };
        let before = state(&w.r);
        let real = ask(&w.r, caller, p.what, t);
        prop_assert!(
            state(&w.r) == before,
            "{:?} from {:?} of link {:?} changed the registry",
            p.what,
            caller,
            id
        );
        let absent = ask(&w.r, caller, p.what, ghost);
        prop_assert!(
            state(&w.r) == before,
            "{:?} of a link that does not exist changed the registry",
            p.what
        );
        prop_assert_eq!(
            &real,
            &absent,
            "{:?} from {:?} of link {:?} (in {:?}) answers unlike a link that does not exist",
            p.what,
            caller,
            id,
            rec.map(|l| l.zone)
        );
        FOREIGN.fetch_add(1, Ordering::Relaxed);
        common::checked(&w.r, ());
        check_views(&w.r, caller)?;
    }
    Ok(())
}

/// What the probes did, over every case.
static FOREIGN: AtomicU64 = AtomicU64::new(0);
static OWN: AtomicU64 = AtomicU64::new(0);
static STALE: AtomicU64 = AtomicU64::new(0);

#[test]
fn other_zones_links_look_absent() {
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy =
        (proptest::collection::vec(build(), 0..40), proptest::collection::vec(probe(), 1..40));
    if let Err(e) = runner.run(&strategy, |(builds, probes)| run(&builds, &probes)) {
        panic!("{e}");
    }
    println!(
        "zone isolation: {} cases; {} probes of other zones' links answered as for no link and \
         changed nothing, {} probes of the caller's own links, {} stale-incarnation checks",
        cases(),
        FOREIGN.load(Ordering::Relaxed),
        OWN.load(Ordering::Relaxed),
        STALE.load(Ordering::Relaxed)
    );
}
