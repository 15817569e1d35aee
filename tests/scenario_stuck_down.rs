//! A zone stuck in `down` because dlmgmtd is dead (IPD 3 "Zones stuck in
//! down state"; omniosorg/illumos-omnios #18).
//!
//! The failure: a zone with lent links is halted while dlmgmtd is not
//! running. `zone_shutdown` runs the netstack shutdown callbacks;
//! `dls_stack_shutdown` → `dls_zone_remove` → `dls_devnet_setzid(GZ)`
//! makes the `SETZONEID` upcall, which fails with `EBADF` (no door), and
//! the error is ignored: the link stays in the zone. The zone reaches
//! `down`; zoneadmd finds links in it ("datalinks remain in zone after
//! shutdown", "unable to destroy zone") and gives up. `zone_shutdown` never
//! re-runs the callbacks for a zone already `down` and nothing else walks
//! its links, so only a reboot clears it; a restarted dlmgmtd skips zones
//! in `down` and cannot read their link caches either.
//!
//! dlszone: the halt reports each failed return (`ReturnFailed(EBADF)`,
//! `remaining > 0`) and can be re-run; `zone_destroy` refuses with
//! `ENOTEMPTY` rather than lose the links; `zone_recover(force)` reaches
//! the end state of a halt without dlmgmtd and queues what dlmgmtd missed
//! in an ordered outbox; a later move of a link whose notice is pending is
//! refused with `EAGAIN`; once dlmgmtd registers its door again, the
//! replay delivers every notice once, in order, and a second replay
//! delivers nothing.

use std::sync::Arc;

use dlszone::errno::Errno;
use dlszone::registry::{
    Action, HoldKind, Holder, LinkId, Notice, Registry, ZoneId, ZoneKey, ZoneState,
};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::{checked, name};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);
const Z2: ZoneKey = ZoneKey::new(2, 102);

/// Lent from the global zone, persistent.
const NET0: LinkId = LinkId(1);
/// Lent from the global zone, temporary.
const VNIC1: LinkId = LinkId(2);
/// Lent from the global zone as transient (SmartOS).
const TMP3: LinkId = LinkId(3);
/// Created by the zone itself.
const OWN4: LinkId = LinkId(4);

/// Zone 1 running with two lent links, a transient loan and a link of its
/// own; zone 2 running empty. dlmgmtd `d` saw all of it.
fn setup(d: &Arc<FakeDlmgmt>) -> Registry {
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.zone_boot(Z2)).unwrap();
    checked(&r, r.create(GZ, b"e1000g0", NET0, b"net0", true)).unwrap();
    checked(&r, r.create(GZ, b"vnic2", VNIC1, b"vnic1", false)).unwrap();
    checked(&r, r.create(GZ, b"vnic3", TMP3, b"tmp3", false)).unwrap();
    checked(&r, r.lend(GZ, NET0, Z1.id, false)).unwrap();
    checked(&r, r.lend(GZ, VNIC1, Z1.id, false)).unwrap();
    checked(&r, r.lend(GZ, TMP3, Z1.id, true)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic4", OWN4, b"net4", false)).unwrap();
    r
}

/// Halts zone 1 with dlmgmtd dead and checks it ends stuck in `down`.
fn halt_stuck(r: &Registry) {
    let halt = checked(r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(NET0).unwrap().action, Action::ReturnFailed(Errno::EBADF));
    assert_eq!(halt.outcome(VNIC1).unwrap().action, Action::ReturnFailed(Errno::EBADF));
    // Transient links need no daemon to go: condemned now, told later.
    assert_eq!(halt.outcome(TMP3).unwrap().action, Action::Condemned { freed: true });
    assert_eq!(halt.outcome(OWN4).unwrap().action, Action::Condemned { freed: true });
    assert_eq!((halt.remaining, halt.queued), (2, 2));
    assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
    assert_eq!(
        r.outbox(),
        vec![
            Notice::LinkGone { link: TMP3, zone: Z1.id },
            Notice::LinkGone { link: OWN4, zone: Z1.id }
        ]
    );
}

#[test]
fn dead_dlmgmtd_leaves_the_zone_down_and_forced_recovery_frees_it() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());
    let before_death = d.log();

    // dlmgmtd dies; the zone halts.
    d.set_up(false);
    halt_stuck(&r);

    // "datalinks remain in zone after shutdown": zoneadmd cannot destroy
    // the zone, nor boot a new one with its id.
    assert_eq!(checked(&r, r.zone_destroy(Z1)), Err(Errno::ENOTEMPTY));
    assert_eq!(checked(&r, r.zone_boot(ZoneKey::new(1, 201))), Err(Errno::EEXIST));
    // The lent links are still in the zone, their GZ names still reserved.
    assert_eq!(r.list(GZ, Some(Z1.id)), Ok(vec![NET0, VNIC1]));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT));
    assert_eq!(checked(&r, r.create(GZ, b"e1000g9", LinkId(9), b"net0", true)), Err(Errno::EEXIST));
    // Nothing new enters or holds in the down zone.
    assert_eq!(checked(&r, r.hold(Z1.id, NET0, HoldKind::Stream)).err(), Some(Errno::ENXIO));
    checked(&r, r.create(GZ, b"vnic5", LinkId(5), b"vnic5", false)).unwrap();
    assert_eq!(checked(&r, r.lend(GZ, LinkId(5), Z1.id, false)), Err(Errno::ENXIO));

    // Re-running the halt with the daemon still dead changes nothing and
    // queues nothing twice.
    let again = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(again.links.len(), 2);
    assert_eq!((again.remaining, again.queued), (2, 0));
    assert_eq!(r.outbox().len(), 2);

    // Forced recovery, no dlmgmtd: the kernel returns both links now.
    let rec = checked(&r, r.zone_recover(Z1, true, 100)).unwrap();
    assert!(rec.is_clean(), "{rec:?}");
    assert_eq!(rec.outcome(NET0).unwrap().action, Action::ReturnQueued { name: name("net0") });
    assert_eq!(rec.outcome(VNIC1).unwrap().action, Action::ReturnQueued { name: name("vnic1") });
    assert!(rec.links.iter().all(|o| o.reclaimed.is_empty()));
    assert_eq!(rec.queued, 2);
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(NET0));
    assert_eq!(r.lookup(GZ, GZ, b"vnic1"), Ok(VNIC1));
    let home = vec![Holder { kind: HoldKind::Existence, zone: ZoneKey::GLOBAL, count: 1 }];
    assert_eq!(r.holders(GZ, NET0), Ok(home.clone()));
    assert_eq!(r.holders(GZ, VNIC1), Ok(home));

    // The notices dlmgmtd missed, in commit order.
    let missed = vec![
        Notice::LinkGone { link: TMP3, zone: Z1.id },
        Notice::LinkGone { link: OWN4, zone: Z1.id },
        Notice::SetZone { link: NET0, zone: GZ },
        Notice::SetZone { link: VNIC1, zone: GZ },
    ];
    assert_eq!(r.outbox(), missed);
    // Until dlmgmtd has seen its return, the link may not move again.
    let before = r.snapshot();
    assert_eq!(checked(&r, r.lend(GZ, NET0, Z2.id, false)), Err(Errno::EAGAIN));
    assert_eq!(r.snapshot(), before);
    assert_eq!(checked(&r, r.replay_outbox()), Err(Errno::EBADF));
    assert_eq!(r.outbox(), missed);
    assert_eq!(d.log(), before_death, "the dead daemon got nothing");

    // The zone can go now, before dlmgmtd is back.
    checked(&r, r.zone_destroy(Z1)).unwrap();

    // dlmgmtd restarts and registers its door: one replay, in order.
    let restarted = FakeDlmgmt::shared();
    r.set_door(restarted.clone());
    assert_eq!(checked(&r, r.replay_outbox()), Ok(4));
    assert_eq!(restarted.log(), missed);
    assert!(r.outbox().is_empty());
    assert_eq!(checked(&r, r.replay_outbox()), Ok(0));
    assert_eq!(restarted.log(), missed, "a second replay delivers nothing");
    assert_eq!(restarted.zone_of(NET0), Some(GZ));
    assert_eq!(restarted.zone_of(VNIC1), Some(GZ));
    assert_eq!((restarted.zone_of(TMP3), restarted.zone_of(OWN4)), (None, None));

    // And moves work again.
    checked(&r, r.lend(GZ, NET0, Z2.id, false)).unwrap();
    assert_eq!(restarted.zone_of(NET0), Some(Z2.id));
    assert_eq!(r.bad_releases(), 0);
}

#[test]
fn replay_interrupted_midway_resumes_where_it_stopped() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());
    d.set_up(false);
    halt_stuck(&r);
    checked(&r, r.zone_recover(Z1, true, 100)).unwrap();
    let missed = r.outbox();
    assert_eq!(missed.len(), 4);

    // The restarted daemon takes two notices, then fails the third.
    let restarted = FakeDlmgmt::shared();
    r.set_door(restarted.clone());
    restarted.fail_after(2, Errno::EINTR);
    assert_eq!(checked(&r, r.replay_outbox()), Err(Errno::EINTR));
    assert_eq!(restarted.log(), missed[..2]);
    assert_eq!(r.outbox(), missed[2..]);
    // NET0's return is not yet known to the daemon: still no new move.
    assert_eq!(checked(&r, r.lend(GZ, NET0, Z2.id, false)), Err(Errno::EAGAIN));

    assert_eq!(checked(&r, r.replay_outbox()), Ok(2));
    assert_eq!(restarted.log(), missed, "each notice exactly once, in order");
    assert_eq!(checked(&r, r.replay_outbox()), Ok(0));
    checked(&r, r.lend(GZ, NET0, Z2.id, false)).unwrap();
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn restarted_dlmgmtd_and_a_rerun_halt_also_unstick_the_zone() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());
    d.set_up(false);
    halt_stuck(&r);

    // dlmgmtd comes back; its door registration replays the outbox, and
    // zoneadmd halts again: the returns now go through dlmgmtd.
    d.set_up(true);
    assert_eq!(checked(&r, r.replay_outbox()), Ok(2));
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(halt.is_clean());
    assert_eq!(halt.outcome(NET0).unwrap().action, Action::Returned { name: name("net0") });
    assert_eq!(halt.outcome(VNIC1).unwrap().action, Action::Returned { name: name("vnic1") });
    assert_eq!(halt.queued, 0);
    assert!(r.outbox().is_empty());
    assert_eq!((d.zone_of(NET0), d.zone_of(VNIC1)), (Some(GZ), Some(GZ)));
    assert_eq!((d.zone_of(TMP3), d.zone_of(OWN4)), (None, None));
    checked(&r, r.zone_destroy(Z1)).unwrap();
    // The id is free for the next incarnation.
    checked(&r, r.zone_boot(ZoneKey::new(1, 201))).unwrap();
}
