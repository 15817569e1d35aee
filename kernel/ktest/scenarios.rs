//! Suite `scenario`: the known issues IPD 3 lists, replayed against the
//! registry with a fake dlmgmtd, end to end. None needs dld or mac.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::rules::{GZ, Z1, Z2, daemon, id, inv, setup};
use crate::Outcome;
use crate::{kt_assert, kt_assert_eq, kt_assert_err, kt_assert3u, kt_eok, kt_fail, kt_ok, kt_pass};
use alloc::sync::Arc;
use dlszone::errno::{Errno, KResult};
use dlszone::registry::{
    Action, HoldKind, Holder, LinkId, LinkState, Notice, Registry, ZoneKey, ZoneState,
};

use dlszone::sync::Mutex;

/// FAIL if two links share a (zone, name) anywhere in the registry: the
/// state dlmgmtd's name tree aborts on (illumos 10001).
macro_rules! names_unique {
    ($r:expr) => {{
        let s = $r.snapshot();
        let mut seen: Vec<_> =
            s.links.iter().filter_map(|l| l.name.map(|n| (l.zone.id, n))).collect();
        dlszone::sort::sort_unstable(&mut seen);
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            kt_fail!("duplicate name {} in zone {:?}", w[0].1, w[0].0);
        }
    }};
}

/// The action a teardown report took on `link`.
fn action(report: &dlszone::registry::TeardownReport, link: LinkId) -> Option<Action> {
    report.outcome(link).map(|o| o.action.clone())
}

/// illumos 10001: dlmgmtd aborted when a returning link met a global-zone
/// link of the same name. Names are per zone and a lent link's name stays
/// reserved, so returns cannot collide, even with every zone using the
/// same names (SmartOS' temporary-name-then-rename flow).
pub(super) fn illumos10001_returns_never_collide() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    // A global-zone VNIC lent under its own name.
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    // The global zone cannot reuse the name while it is away.
    kt_assert_err!(r.create(GZ, b"vnic9", id(9), b"net0", false), Errno::EEXIST);
    kt_ok!(r.create(GZ, b"vnic3", id(3), b"net1", false));
    kt_assert_err!(r.rename(GZ, id(3), b"net0"), Errno::EEXIST);
    // Zone 1 makes its own net1; zone 2 gets a VNIC under a temporary
    // name and renames it to net0 inside the zone.
    kt_ok!(r.create(Z1.id, b"vnic11", id(11), b"net1", false));
    kt_ok!(r.create(GZ, b"vnic2", id(2), b"tmp2000", false));
    kt_ok!(r.lend(GZ, id(2), Z2.id, false));
    kt_ok!(r.rename(Z2.id, id(2), b"net0"));
    inv!(r);
    names_unique!(r);
    kt_assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(id(1)));
    kt_assert_eq!(r.lookup(GZ, Z2.id, b"net0"), Ok(id(2)));

    for z in [Z1, Z2] {
        let report = kt_ok!(r.zone_halt(z));
        kt_assert!(report.is_clean(), "{report:?}");
        inv!(r);
        names_unique!(r);
    }
    kt_assert_eq!(zone_of(&r, id(1)), Some(ZoneKey::GLOBAL));
    kt_assert_eq!(zone_of(&r, id(2)), Some(ZoneKey::GLOBAL));
    kt_assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(id(1)));
    kt_assert_eq!(r.lookup(GZ, GZ, b"net1"), Ok(id(3)));
    kt_assert_eq!(r.lookup(GZ, GZ, b"tmp2000"), Ok(id(2)));
    kt_assert_err!(r.hold_tmp(GZ, id(11)), Errno::ENOENT, "zone 1's own link outlived it");
    for l in [1, 2, 3] {
        kt_assert_eq!(d.zone_of(id(l)), if l == 3 { None } else { Some(GZ) }, "link {l}");
    }
    // A new incarnation of zone 1 can borrow the same link again.
    kt_ok!(r.zone_destroy(Z1));
    let z1b = ZoneKey::new(1, 201);
    kt_ok!(r.zone_boot(z1b));
    kt_ok!(r.lend(GZ, id(1), z1b.id, false));
    inv!(r);
    names_unique!(r);
    kt_pass!()
}

/// The zone a link is in now, from the snapshot.
fn zone_of(r: &Registry, link: LinkId) -> Option<ZoneKey> {
    r.snapshot().links.iter().find(|l| l.linkid == link).map(|l| l.zone)
}

/// illumos 15167: a link a zone created was handed to the global zone at
/// halt and a release underflowed its count, panicking the system. Here
/// such a link is transient: it never reaches the global zone, it goes
/// away with its zone, and a surplus release cannot be written.
pub(super) fn illumos15167_ngz_links_never_reach_gz() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_assert_err!(r.create(Z1.id, b"vnic1", id(2), b"net0", true), Errno::ENOTSUP);
    kt_ok!(r.create(Z1.id, b"vnic1", id(2), b"net0", false));
    let in_zone = kt_ok!(r.hold(Z1.id, id(2), HoldKind::Stream));
    let snoop = kt_ok!(r.hold(GZ, id(2), HoldKind::Stream));
    // The global zone can neither take it back nor lend it on.
    kt_ok!(r.give_back(GZ, id(2)));
    kt_assert_err!(r.lend(GZ, id(2), Z2.id, false), Errno::EPERM);
    kt_assert_eq!(in_zone.zone(), Z1);

    let report = kt_ok!(r.zone_halt(Z1));
    kt_assert!(report.is_clean(), "{report:?}");
    kt_assert_eq!(action(&report, id(2)), Some(Action::Condemned { freed: false }));
    inv!(r);
    kt_assert_err!(r.lookup(GZ, GZ, b"net0"), Errno::ENOENT);
    let gz_links = kt_ok!(r.list(GZ, None));
    kt_assert!(!gz_links.contains(&id(2)), "{gz_links:?}");
    kt_assert_eq!(d.log().last(), Some(&Notice::LinkGone { link: id(2), zone: Z1.id }));
    kt_assert_eq!(d.zone_of(id(2)), None);

    // The zone's stream closes. A second close, the old underflow, does
    // not compile: the release consumed the hold.
    kt_ok!(r.rele(in_zone));
    kt_assert_eq!(snoop.state(), LinkState::Detached);
    let link = snoop.link_ref();
    kt_ok!(r.rele(snoop));
    kt_assert_eq!(link.state(), LinkState::Freed);
    kt_assert3u!(r.pending_frees(), ==, 0);
    kt_assert3u!(r.bad_releases(), ==, 0);
    kt_assert3u!(r.late_releases(), ==, 0);
    inv!(r);
    kt_pass!()
}

/// SmartOS OS-8627: a global-zone holder (`snoop -z`, a `/dev/net` open)
/// was left with a dangling link after the zone's teardown. Here the
/// holder's handle stays valid memory; the link is unreachable, its id
/// and names are free for reuse, and the last release frees it.
pub(super) fn os8627_holder_handle_outlives_teardown() -> Outcome {
    let r = setup!();
    let _d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic7", id(7), b"tmp7", false));
    kt_ok!(r.lend(GZ, id(7), Z1.id, true));
    let named = kt_ok!(r.hold(GZ, id(7), HoldKind::Named));
    let tmp = kt_ok!(r.hold_tmp(GZ, id(7)));

    let report = kt_ok!(r.zone_halt(Z1));
    kt_assert_eq!(action(&report, id(7)), Some(Action::Condemned { freed: false }));
    let Some(line) = report.outcome(id(7)) else { kt_fail!("no line for link 7") };
    kt_assert3u!(line.tmp_holds, ==, 1);
    let gz_named = Holder { kind: HoldKind::Named, zone: ZoneKey::GLOBAL, count: 1 };
    kt_assert_eq!(line.delayed_by, vec![gz_named]);
    inv!(r);

    // The handle still reads; nothing new can reach the link.
    kt_assert_eq!(named.state(), LinkState::Detached);
    kt_assert!(named.mac().as_bytes() == b"vnic7");
    kt_assert_eq!(named.linkid(), id(7));
    kt_assert_err!(r.hold(GZ, id(7), HoldKind::Stream), Errno::ENOENT);
    kt_assert_err!(r.hold_by_mac(GZ, b"vnic7", HoldKind::Stream), Errno::ENOENT);
    kt_assert_err!(r.lookup(GZ, GZ, b"tmp7"), Errno::ENOENT);
    // Id, MAC name and name are free: a new link is a different object.
    kt_ok!(r.create(GZ, b"vnic7", id(7), b"tmp7", false));
    let fresh = kt_ok!(r.hold(GZ, id(7), HoldKind::Stream));
    let (fresh_ref, named_ref) = (fresh.link_ref(), named.link_ref());
    let (fresh_at, named_at): (*const _, *const _) = (&*fresh_ref, &*named_ref);
    kt_assert!(!core::ptr::eq(fresh_at, named_at), "reused the detached record");
    crate::kt_assert3p!(fresh_at, !=, named_at);
    inv!(r);

    // Old releases touch only the old record.
    kt_ok!(r.rele_tmp(tmp));
    kt_assert_eq!(named.state(), LinkState::Detached);
    kt_ok!(r.rele(named));
    kt_assert_eq!(named_ref.state(), LinkState::Freed);
    kt_assert3u!(r.pending_frees(), ==, 0);
    kt_assert_eq!(fresh.state(), LinkState::Active);
    kt_ok!(r.rele(fresh));
    inv!(r);
    kt_pass!()
}

/// IPD 3 "zones stuck in down": dlmgmtd dies, the halt cannot return lent
/// links, the zone is `down` with links in it and cannot be destroyed.
/// Forced recovery frees it without the daemon; the daemon learns
/// everything, in order, when it comes back; the zone id is reused.
pub(super) fn stuck_down_zone_recovers() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    kt_ok!(r.create(GZ, b"vnic0", id(1), b"net0", false));
    kt_ok!(r.create(GZ, b"vnic4", id(4), b"net4", false));
    kt_ok!(r.lend(GZ, id(1), Z1.id, false));
    kt_ok!(r.lend(GZ, id(4), Z1.id, false));
    kt_ok!(r.create(Z1.id, b"vnic2", id(2), b"net2", false));
    // A process in the zone still has vnic4 open when the zone dies.
    let leaked = kt_ok!(r.hold(Z1.id, id(4), HoldKind::Stream));

    d.set_up(false);
    let halt = kt_ok!(r.zone_halt(Z1));
    kt_assert_eq!(action(&halt, id(1)), Some(Action::ReturnFailed(Errno::EBADF)));
    kt_assert_eq!(action(&halt, id(4)), Some(Action::Blocked));
    kt_assert_eq!(action(&halt, id(2)), Some(Action::Condemned { freed: true }));
    kt_assert3u!(halt.remaining, ==, 2);
    kt_assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
    kt_assert_err!(r.zone_destroy(Z1), Errno::ENOTEMPTY);
    inv!(r);
    // Re-running the halt changes nothing while the daemon is down.
    let again = kt_ok!(r.zone_halt(Z1));
    kt_assert3u!(again.remaining, ==, 2);
    inv!(r);

    // Recovery without force returns what it can.
    let soft = kt_ok!(r.zone_recover(Z1, false, 10));
    kt_assert!(matches!(action(&soft, id(1)), Some(Action::ReturnQueued { .. })), "{soft:?}");
    kt_assert_eq!(action(&soft, id(4)), Some(Action::Blocked));
    kt_assert3u!(soft.remaining, ==, 1);
    inv!(r);
    // With force, the dead zone's own hold is reclaimed.
    let hard = kt_ok!(r.zone_recover(Z1, true, 10));
    kt_assert!(hard.is_clean(), "{hard:?}");
    let reclaimed = hard.outcome(id(4)).map(|o| o.reclaimed.clone());
    kt_assert_eq!(reclaimed, Some(vec![Holder { kind: HoldKind::Stream, zone: Z1, count: 1 }]));
    // The dead zone's process closes late: refused, counted, no change.
    kt_assert_err!(r.rele(leaked), Errno::ESTALE);
    kt_assert3u!(r.late_releases(), ==, 1);
    kt_assert3u!(r.bad_releases(), ==, 0);
    inv!(r);
    kt_ok!(r.zone_destroy(Z1));
    inv!(r);

    // The zone id comes back as a new incarnation; the old key is stale.
    let z1b = ZoneKey::new(1, 201);
    kt_ok!(r.zone_boot(z1b));
    kt_assert_err!(r.zone_halt(Z1), Errno::ESTALE);
    // dlmgmtd has not heard about vnic0's return yet: it may not move.
    kt_assert_err!(r.lend(GZ, id(1), z1b.id, false), Errno::EAGAIN);
    d.set_up(true);
    let queued = r.outbox();
    kt_assert_eq!(r.replay_outbox(), Ok(queued.len()));
    let want = [
        Notice::LinkGone { link: id(2), zone: Z1.id },
        Notice::SetZone { link: id(1), zone: GZ },
        Notice::SetZone { link: id(4), zone: GZ },
    ];
    kt_assert!(queued[..] == want[..], "outbox {queued:?}");
    kt_assert_eq!(d.zone_of(id(1)), Some(GZ));
    kt_assert_eq!(d.zone_of(id(4)), Some(GZ));
    kt_ok!(r.lend(GZ, id(1), z1b.id, false));
    kt_assert_eq!(d.zone_of(id(1)), Some(z1b.id));
    inv!(r);
    kt_pass!()
}

/// Builds a stuck zone 1 with `n` lent links and recovers it, leaving
/// `n` SetZone notices (and one LinkGone) queued.
macro_rules! queued_recovery {
    ($r:expr, $d:expr, $n:expr) => {{
        for l in 1..=$n {
            let mut name = *b"net00";
            name[3] += (l / 10) as u8;
            name[4] += (l % 10) as u8;
            let mut mac = *b"vnic00";
            mac[4] = name[3];
            mac[5] = name[4];
            kt_eok!($r.create(GZ, &mac, id(l), &name, false));
            kt_eok!($r.lend(GZ, id(l), Z1.id, false));
        }
        kt_eok!($r.create(Z1.id, b"vnic99", id(99), b"own99", false));
        $d.set_up(false);
        let halt = kt_eok!($r.zone_halt(Z1));
        crate::kt_eassert3u!(halt.remaining, ==, $n);
        let rec = kt_eok!($r.zone_recover(Z1, true, 10));
        crate::kt_eassert!(rec.is_clean(), "{rec:?}");
        $d.set_up(true);
        $r.outbox()
    }};
}

/// Rule 7's outbox: notices are delivered oldest first, each exactly
/// once; a replay that fails part-way keeps the rest, in order, for the
/// next one; moves of a link wait until dlmgmtd has seen its notices.
pub(super) fn outbox_replay_ordered_exactly_once() -> Outcome {
    let r = setup!();
    let d = daemon(&r);
    let queued = queued_recovery!(r, &d, 6u32);
    kt_assert3u!(queued.len(), ==, 7, "{queued:?}");
    let lent = d.log().len();
    inv!(r);

    // The daemon refuses the first notice: nothing is lost or reordered.
    d.fail_next(Errno::ENOMEM);
    kt_assert_err!(r.replay_outbox(), Errno::ENOMEM);
    kt_assert!(r.outbox() == queued, "a failed replay changed the outbox");
    // It takes three, then dies.
    d.die_after(3);
    kt_assert_err!(r.replay_outbox(), Errno::EBADF);
    kt_assert!(r.outbox()[..] == queued[3..], "{:?}", r.outbox());
    d.set_up(true);
    // A link with a notice still queued may not move.
    let pending = |l: u32| r.outbox().iter().any(|n| n.link() == id(l));
    let (Some(held), Some(free)) =
        ((1..=6u32).find(|&l| pending(l)), (1..=6u32).find(|&l| !pending(l)))
    else {
        kt_fail!("expected both pending and delivered links")
    };
    kt_assert_err!(r.lend(GZ, id(held), Z2.id, false), Errno::EAGAIN, "link {held}");
    // Another link's move into another zone does not wait for zone 1's
    // notices: they stay queued, in order, and the move goes straight to
    // dlmgmtd.
    let before = d.log().len();
    kt_ok!(r.lend(GZ, id(free), Z2.id, false), "link {free}");
    kt_assert!(r.outbox()[..] == queued[3..], "the move delivered {:?}", &d.log()[before..]);
    let log = d.log();
    kt_assert!(log[before..] == [Notice::SetZone { link: id(free), zone: Z2.id }], "{log:?}");
    kt_ok!(r.give_back(GZ, id(free)));
    inv!(r);
    // Once, in order: the rest go out with the next replay, and nothing
    // is left after it.
    let before = d.log().len();
    kt_assert_eq!(r.replay_outbox(), Ok(4));
    kt_assert_eq!(r.replay_outbox(), Ok(0));
    let log = d.log();
    let replayed: Vec<Notice> =
        log[lent..lent + 3].iter().chain(&log[before..before + 4]).copied().collect();
    kt_assert!(replayed == queued, "delivered {replayed:?}, queued {queued:?}");
    for l in 1..=6u32 {
        kt_assert_eq!(d.zone_of(id(l)), Some(GZ), "link {l}");
        kt_ok!(r.lend(GZ, id(l), Z2.id, false), "link {l}");
    }
    inv!(r);
    kt_pass!()
}

/// A replay started while another runs (here from inside its upcall,
/// which holds no registry lock) is refused with `EALREADY` and delivers
/// nothing twice.
pub(super) fn outbox_replay_reentry_refused() -> Outcome {
    let r = Arc::new(setup!());
    let d = daemon(&r);
    let queued = queued_recovery!(r, &d, 2u32);
    let lent = d.log().len();
    // The daemon's door handler calls back into the registry and replays
    // again, as a confused daemon restart could.
    let nested: Arc<Mutex<Option<KResult<usize>>>> = Arc::new(Mutex::new(None));
    let (weak, seen) = (Arc::downgrade(&r), nested.clone());
    d.on_deliver(Some(Box::new(move |_| {
        if let Some(r) = weak.upgrade() {
            let mut seen = seen.lock();
            if seen.is_none() {
                *seen = Some(r.replay_outbox());
            }
        }
    })));
    kt_assert_eq!(r.replay_outbox(), Ok(queued.len()));
    d.on_deliver(None);
    kt_assert_eq!(*nested.lock(), Some(Err(Errno::EALREADY)));
    kt_assert!(d.log()[lent..] == queued[..], "{:?}", d.log());
    kt_assert!(r.outbox().is_empty());
    inv!(r);
    kt_pass!()
}
