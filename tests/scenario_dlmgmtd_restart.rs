//! dlmgmtd failing or restarting at inopportune moments (IPD 3
//! "Restarting the datalink management daemon (dlmgmtd) does not always
//! result in correct state"; illumos 15408; the SmartOS panics "when
//! stopping or starting dlmgmtd at inopportune moments").
//!
//! The failure: a restarted dlmgmtd rebuilds its link table from the files
//! of every running zone. `dlmgmt_allzones_init` skips zones that are
//! shutting down or `down`, and a zone's active-link cache can only be read
//! by forking into the zone, which a `down` zone does not allow. Links the
//! kernel still has in such a zone are unknown to the new daemon; later
//! upcalls about them get `ENOENT` and its zone lists go wrong. A daemon
//! that fails in the middle of a halt leaves some links returned and
//! others not, and the two views drift apart.
//!
//! dlszone keeps the kernel's view complete and makes every change
//! dlmgmtd misses replayable: a failed return leaves the link exactly where
//! dlmgmtd believes it is; `snapshot()` (as `render()` text) lists every
//! link of every zone, `down` ones included, so a fresh daemon rebuilds
//! from it alone and then agrees with the kernel; the outbox replays what
//! happened since, in order, and a notice delivered twice (a reply lost)
//! changes nothing; a lend of a link whose notice is pending is `EAGAIN`.
//!
//! The daemon model here applies notices the way dlmgmtd must: idempotent,
//! restoring a returning link's loan-time name, and aborting (as `avl_add`
//! does) on a duplicate `(zone, name)` key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dlszone::errno::{Errno, KResult};
use dlszone::registry::{Action, LinkId, Notice, Registry, ZoneId, ZoneKey, ZoneState};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::checked;

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);
const Z2: ZoneKey = ZoneKey::new(2, 102);

/// Lent to zone 1.
const NET0: LinkId = LinkId(1);
/// Lent to zone 1.
const NET1: LinkId = LinkId(2);
/// Zone 1's own.
const OWN3: LinkId = LinkId(3);
/// Lent to zone 2.
const NET4: LinkId = LinkId(4);
/// Stays in the global zone.
const NET5: LinkId = LinkId(5);

/// A link as dlmgmtd keeps it (`dlmgmt_link_t`: zone, name, on-loan),
/// plus the name it had in the global zone while on loan.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DaemonLink {
    zone: i32,
    name: String,
    onloan: bool,
    home: Option<String>,
}

/// A dlmgmtd whose whole state was read from the kernel's rendered
/// snapshot, then kept up to date by notices.
#[derive(Default)]
struct Rebuilt {
    zones: BTreeMap<i32, String>,
    links: Mutex<BTreeMap<u32, DaemonLink>>,
    delivered: AtomicUsize,
}

fn field<'a>(word: &'a str, key: &str) -> &'a str {
    word.strip_prefix(key).unwrap_or_else(|| panic!("{word:?} lacks {key:?}"))
}

fn zone_of(word: &str, key: &str) -> i32 {
    field(word, key).split('/').next().unwrap().parse().unwrap()
}

impl Rebuilt {
    /// Parses `Snapshot::render()`; only active links are dlmgmtd's.
    fn from_render(text: &str) -> Rebuilt {
        let mut d = Rebuilt::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[0] {
                "zone" => {
                    d.zones.insert(w[1].parse().unwrap(), w[3].to_string());
                }
                "link" if w[7] == "Active" => {
                    let zone = zone_of(w[4], "zone=");
                    let owner = zone_of(w[5], "owner=");
                    let home = Some(field(w[8], "reserved=")).filter(|s| *s != "-");
                    let link = DaemonLink {
                        zone,
                        name: w[3].to_string(),
                        onloan: zone != owner,
                        home: home.map(str::to_string),
                    };
                    d.links.get_mut().unwrap().insert(w[1].parse().unwrap(), link);
                }
                "link" => {}
                other => panic!("unexpected line kind {other:?}"),
            }
        }
        d
    }

    fn view(&self) -> BTreeMap<u32, DaemonLink> {
        self.links.lock().unwrap().clone()
    }

    fn delivered(&self) -> usize {
        self.delivered.load(Ordering::Relaxed)
    }

    /// A restarted dlmgmtd: read back from the kernel's snapshot, and
    /// registered as its door through the scriptable fake, which passes it
    /// every notice it takes.
    fn registered(r: &Registry) -> (Arc<Rebuilt>, Arc<FakeDlmgmt>) {
        let model = Arc::new(Rebuilt::from_render(&r.snapshot().render()));
        let door = FakeDlmgmt::shared();
        let m = model.clone();
        door.set_model(Some(Box::new(move |n| m.apply(n))));
        r.set_door(door.clone());
        (model, door)
    }

    /// The daemon agrees with the kernel on every link, and can answer
    /// the kernel's lookups.
    fn assert_agrees(&self, r: &Registry) {
        let now = Rebuilt::from_render(&r.snapshot().render());
        assert_eq!(self.view(), now.view(), "dlmgmtd and the kernel disagree");
        for (id, l) in self.view() {
            let lookup = r.lookup(GZ, ZoneId(l.zone), l.name.as_bytes());
            assert_eq!(lookup, Ok(LinkId(id)), "{l:?}");
        }
        assert_eq!(r.list(GZ, None).unwrap().len(), self.view().len());
    }
}

impl Rebuilt {
    /// What dlmgmtd does with a notice from the kernel.
    fn apply(&self, n: &Notice) -> KResult<()> {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let mut links = self.links.lock().unwrap();
        match *n {
            Notice::SetZone { link, zone } => {
                let l = links.get_mut(&link.0).ok_or(Errno::ENOENT)?;
                if l.zone == zone.0 {
                    return Ok(());
                }
                if zone.is_global() {
                    l.name = l.home.take().unwrap_or(l.name.clone());
                } else if l.zone == 0 {
                    l.home = Some(l.name.clone());
                }
                l.onloan = !zone.is_global();
                l.zone = zone.0;
                let key = (l.zone, l.name.clone());
                let dups = links.values().filter(|o| (o.zone, o.name.clone()) == key).count();
                assert_eq!(dups, 1, "dlmgmtd abort: duplicate {key:?} in its name AVL");
            }
            Notice::LinkGone { link, .. } => {
                links.remove(&link.0);
            }
        }
        Ok(())
    }
}

/// Zones 1 and 2 running: zone 1 borrows net0 and net1 and made net3 of
/// its own, zone 2 borrows net4, net5 stays home. `d` saw all of it.
fn setup(d: &Arc<FakeDlmgmt>) -> Registry {
    let r = Registry::new();
    r.set_door(d.clone());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.zone_boot(Z2)).unwrap();
    for (id, mac, name) in [
        (NET0, "e1000g0", "net0"),
        (NET1, "vnic1", "net1"),
        (NET4, "vnic4", "net4"),
        (NET5, "vnic5", "net5"),
    ] {
        checked(&r, r.create(GZ, mac.as_bytes(), id, name.as_bytes(), false)).unwrap();
    }
    checked(&r, r.lend(GZ, NET0, Z1.id, false)).unwrap();
    checked(&r, r.lend(GZ, NET1, Z1.id, false)).unwrap();
    checked(&r, r.lend(GZ, NET4, Z2.id, false)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic3", OWN3, b"net3", false)).unwrap();
    r
}

#[test]
fn upcall_failing_mid_halt_leaves_both_views_consistent() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());

    // The first return of the halt fails (an interrupted door call).
    d.fail_next(Errno::EINTR);
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(NET0).unwrap().action, Action::ReturnFailed(Errno::EINTR));
    assert!(matches!(halt.outcome(NET1).unwrap().action, Action::Returned { .. }));
    assert_eq!(halt.outcome(OWN3).unwrap().action, Action::Condemned { freed: true });
    assert_eq!(halt.remaining, 1);
    // The link that failed is where dlmgmtd believes it is; the rest moved
    // in both views; the teardown notice went out at the end of the halt.
    assert_eq!(r.list(GZ, Some(Z1.id)), Ok(vec![NET0]));
    assert_eq!(d.zone_of(NET0), Some(Z1.id));
    assert_eq!(d.zone_of(NET1), Some(GZ));
    assert_eq!(d.zone_of(OWN3), None);
    assert!(d.log().contains(&Notice::LinkGone { link: OWN3, zone: Z1.id }));
    assert!(r.outbox().is_empty());

    // Halting again finishes the job.
    let again = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(again.is_clean());
    assert_eq!(d.zone_of(NET0), Some(GZ));
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn daemon_crashing_mid_halt_is_rebuilt_from_the_snapshot() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());

    // dlmgmtd takes the first return, then dies.
    d.die_after(1);
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(matches!(halt.outcome(NET0).unwrap().action, Action::Returned { .. }));
    assert_eq!(halt.outcome(NET1).unwrap().action, Action::ReturnFailed(Errno::EBADF));
    assert_eq!(halt.remaining, 1);
    assert_eq!(r.outbox(), vec![Notice::LinkGone { link: OWN3, zone: Z1.id }]);

    // A new dlmgmtd reads the kernel's snapshot while zone 1 is down.
    let (fresh, _door) = Rebuilt::registered(&r);
    assert_eq!(fresh.zones[&1], "Down");
    fresh.assert_agrees(&r);
    let stuck = &fresh.view()[&NET1.0];
    assert_eq!((stuck.zone, stuck.onloan, stuck.home.as_deref()), (1, true, Some("net1")));
    assert!(!fresh.view().contains_key(&OWN3.0), "the condemned link is not listed");

    // Registering its door replays what it missed: already reflected in
    // the snapshot, so it changes nothing.
    assert_eq!(checked(&r, r.replay_outbox()), Ok(1));
    fresh.assert_agrees(&r);
    // zoneadmd halts again through the new daemon.
    let again = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(again.is_clean());
    fresh.assert_agrees(&r);
    assert_eq!(fresh.view()[&NET1.0].name, "net1");
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn daemon_restarted_while_a_zone_is_down_agrees_after_recovery_and_replay() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());
    // Zone 1 renamed its borrowed net1.
    checked(&r, r.rename(Z1.id, NET1, b"eth1")).unwrap();

    d.set_up(false);
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.remaining, 2);

    // dlmgmtd restarts with zone 1 down: it learns zone 1's links anyway.
    let (fresh, _door) = Rebuilt::registered(&r);
    fresh.assert_agrees(&r);
    assert_eq!(fresh.zones[&1], "Down");
    let view = fresh.view();
    assert_eq!((view[&NET1.0].zone, view[&NET1.0].name.as_str()), (1, "eth1"));
    assert_eq!(view[&NET1.0].home.as_deref(), Some("net1"));
    assert_eq!((view[&NET4.0].zone, view[&NET4.0].onloan), (2, true));

    // zoneadmd recovers the zone; the notices are queued, not yet sent.
    let rec = checked(&r, r.zone_recover(Z1, true, 100)).unwrap();
    assert!(rec.is_clean());
    let queued = r.outbox();
    assert_eq!(
        queued,
        vec![
            Notice::LinkGone { link: OWN3, zone: Z1.id },
            Notice::SetZone { link: NET0, zone: GZ },
            Notice::SetZone { link: NET1, zone: GZ },
        ]
    );
    // A move of a link dlmgmtd has not yet seen come back: EAGAIN.
    let before = r.snapshot();
    assert_eq!(checked(&r, r.lend(GZ, NET1, Z2.id, false)), Err(Errno::EAGAIN));
    assert_eq!(r.snapshot(), before);

    // The replay brings the rebuilt daemon to the kernel's state, names
    // included (net1 comes back as net1, not eth1).
    assert_eq!(checked(&r, r.replay_outbox()), Ok(3));
    fresh.assert_agrees(&r);
    assert_eq!(fresh.view()[&NET1.0].name, "net1");
    assert_eq!(checked(&r, r.replay_outbox()), Ok(0));
    assert_eq!(fresh.delivered(), 3);

    // Idempotent: the same notices again (a reply lost) change nothing.
    let settled = fresh.view();
    for n in &queued {
        fresh.apply(n).unwrap();
    }
    assert_eq!(fresh.view(), settled);

    // Life goes on through the new daemon.
    checked(&r, r.lend(GZ, NET1, Z2.id, false)).unwrap();
    fresh.assert_agrees(&r);
    checked(&r, r.zone_destroy(Z1)).unwrap();
    assert_eq!(r.lookup(GZ, GZ, b"net5"), Ok(NET5));
}

#[test]
fn a_lost_reply_is_redelivered_and_harmless() {
    let d = FakeDlmgmt::shared();
    let r = setup(&d);
    r.set_door(d.clone());
    d.set_up(false);
    checked(&r, r.zone_halt(Z1)).unwrap();
    checked(&r, r.zone_recover(Z1, true, 100)).unwrap();
    let queued = r.outbox();

    let (fresh, door) = Rebuilt::registered(&r);
    door.lose_next_reply(Errno::EINTR);
    assert_eq!(checked(&r, r.replay_outbox()), Err(Errno::EINTR));
    assert_eq!(r.outbox(), queued, "not acknowledged, so kept");
    assert_eq!(checked(&r, r.replay_outbox()), Ok(queued.len()));
    assert_eq!(fresh.delivered(), queued.len() + 1, "the first one twice");
    fresh.assert_agrees(&r);
}

#[test]
fn a_second_replay_during_a_replay_is_refused_and_nothing_is_sent_twice() {
    let d = FakeDlmgmt::shared();
    let r = Arc::new(setup(&d));
    d.set_up(false);
    checked(&r, r.zone_halt(Z1)).unwrap();
    checked(&r, r.zone_recover(Z1, true, 100)).unwrap();
    let queued = r.outbox();

    // The restarted dlmgmtd registers its door again while the kernel
    // replays to it, which starts a second replay.
    let restarted = FakeDlmgmt::shared();
    r.set_door(restarted.clone());
    let nested = Arc::new(Mutex::new(None));
    let (weak, seen) = (Arc::downgrade(&r), nested.clone());
    restarted.on_deliver(Some(Box::new(move |_| {
        let mut seen = seen.lock().unwrap();
        if let (None, Some(r)) = (&*seen, weak.upgrade()) {
            *seen = Some(r.replay_outbox());
        }
    })));
    assert_eq!(checked(&r, r.replay_outbox()), Ok(queued.len()));
    restarted.on_deliver(None);
    assert_eq!(*nested.lock().unwrap(), Some(Err(Errno::EALREADY)));
    assert_eq!(restarted.log(), queued);
    assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::Down)));
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

/// A notice that could not be delivered must reach dlmgmtd before any
/// later move: here the daemon still has the dead zone's `net0` when the
/// global zone lends its own `net0` to the zone's next incarnation, and a
/// daemon without the 10001 fix aborts on the duplicate key. A move into
/// a zone first delivers the older notices about that zone: the lend's
/// own upcall goes out only after the queued `LinkGone`.
#[test]
fn a_move_never_overtakes_an_older_queued_notice() {
    let r = Registry::new();
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"e1000g0", NET0, b"net0", false)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic3", OWN3, b"net0", false)).unwrap();
    let (daemon, door) = Rebuilt::registered(&r);

    // The halt's LinkGone is interrupted; nothing re-sends it yet.
    door.fail_next(Errno::EINTR);
    checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(r.outbox(), vec![Notice::LinkGone { link: OWN3, zone: Z1.id }]);
    checked(&r, r.zone_destroy(Z1)).unwrap();
    let next = ZoneKey::new(1, 102);
    checked(&r, r.zone_boot(next)).unwrap();

    // The kernel sends the old notice first.
    checked(&r, r.lend(GZ, NET0, next.id, false)).unwrap();
    assert!(r.outbox().is_empty());
    daemon.assert_agrees(&r);
}
