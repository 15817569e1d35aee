//! The rules whose checks need more than one thread (the single-threaded
//! ones are the ktest bodies, `kernel/ktest/rules.rs`, run on the host by
//! `tests/ktest_host.rs`): a destroy's drain wait, and the registry's door
//! to dlmgmtd, whose registration replays the outbox on another thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use dlszone::errno::Errno;
use dlszone::registry::{Defer, DrainWait, LinkId, LinkState, Notice, Registry, ZoneId, ZoneKey};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::checked;

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);

#[test]
fn rule10_destroy_waits_for_tmp_holds_without_blocking_lookups() {
    let r = Arc::new(Registry::new());
    r.create(GZ, b"vnic0", LinkId(1), b"net0", false).unwrap();
    r.create(GZ, b"vnic1", LinkId(2), b"net1", false).unwrap();
    let t = r.hold_tmp(GZ, LinkId(1)).unwrap();
    let link = t.link_ref();
    let r2 = r.clone();
    let th = thread::spawn(move || r2.destroy(GZ, LinkId(1), DrainWait::Wait));
    // While the destroy waits: condemned, no new hold, other links usable.
    while link.state() != LinkState::Condemned {
        assert!(!th.is_finished(), "destroy returned without waiting for the holder");
        thread::yield_now();
    }
    assert_eq!(r.hold_tmp(GZ, LinkId(1)).err(), Some(Errno::ENOENT));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT));
    let u = r.hold_tmp(GZ, LinkId(2)).unwrap();
    r.rele_tmp(u).unwrap();
    r.rele_tmp(t).unwrap();
    th.join().unwrap().unwrap();
    assert_eq!(link.state(), LinkState::Freed);
    checked(&r, ());
}

/// What a deferred replay reports: the thread it ran on, and its result.
type Ran = (thread::ThreadId, Result<usize, Errno>);

/// A deferral hook as a taskq would be: each request runs one replay on a
/// thread of its own, and reports which thread it ran on and what it did.
struct Taskq {
    registry: Mutex<Weak<Registry>>,
    ran: Mutex<mpsc::Sender<Ran>>,
}

impl Defer for Taskq {
    fn replay_later(&self) {
        let weak = self.registry.lock().unwrap().clone();
        let tx = self.ran.lock().unwrap().clone();
        thread::spawn(move || {
            if let Some(r) = weak.upgrade() {
                let res = r.replay_outbox();
                let _ = tx.send((thread::current().id(), res));
            }
        });
    }
}

/// A registry whose deferred replays run on threads of their own.
fn with_taskq() -> (Arc<Registry>, mpsc::Receiver<Ran>) {
    let r = Arc::new(Registry::new());
    let (tx, rx) = mpsc::channel();
    let q = Taskq { registry: Mutex::new(Arc::downgrade(&r)), ran: Mutex::new(tx) };
    r.set_defer(Box::new(q));
    (r, rx)
}

/// dlmgmtd registering its door (`dls_mgmt_door_set`) starts the replay
/// of what it missed, never on the registering thread: dlmgmtd registers
/// before it serves its door, so an upcall there could wait for ever.
#[test]
fn door_registration_replays_on_another_thread() {
    let (r, done) = with_taskq();
    r.zone_boot(Z1).unwrap();
    r.create(GZ, b"vnic0", LinkId(1), b"net0", false).unwrap();
    r.create(Z1.id, b"vnic1", LinkId(2), b"net1", false).unwrap();
    // No door yet: moves fail as gate's upcalls do, and the halt queues.
    assert_eq!(checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)), Err(Errno::EBADF));
    checked(&r, r.zone_halt(Z1)).unwrap();
    let queued = vec![Notice::LinkGone { link: LinkId(2), zone: Z1.id }];
    assert_eq!(r.outbox(), queued);

    // dlmgmtd registers a door it does not serve yet: the registering
    // thread returns at once; the replay waits in dlmgmtd, elsewhere.
    let d = FakeDlmgmt::shared();
    d.wedge();
    r.set_door(d.clone());
    let me = thread::current().id();
    assert!(done.recv_timeout(Duration::from_millis(50)).is_err(), "the replay did not wait");
    // dlmgmtd starts serving its door.
    d.unwedge();
    let (ran_on, res) = done.recv_timeout(Duration::from_secs(10)).expect("no replay ran");
    assert_ne!(ran_on, me, "the replay ran on the registering thread");
    assert_eq!(res, Ok(1));
    assert_eq!(d.log(), queued);
    assert!(r.outbox().is_empty());

    // Withdrawn again (dlmgmtd exits): upcalls fail with EBADF.
    r.unset_door();
    assert_eq!(checked(&r, r.replay_outbox()), Ok(0));
    r.zone_destroy(Z1).unwrap();
    r.zone_boot(ZoneKey::new(1, 102)).unwrap();
    assert_eq!(checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)), Err(Errno::EBADF));
}

/// Every notice the registry queues reaches dlmgmtd, the one a destroy of
/// a halting zone's transient link queues included: the destroy asks for
/// a deferred replay.
#[test]
fn a_destroys_notice_reaches_dlmgmtd() {
    let (r, done) = with_taskq();
    let d = FakeDlmgmt::shared();
    r.set_door(d.clone());
    // The door's own replay (nothing queued yet).
    assert_eq!(done.recv_timeout(Duration::from_secs(10)).unwrap().1, Ok(0));
    r.zone_boot(Z1).unwrap();
    r.create(GZ, b"vnic6", LinkId(6), b"net6", false).unwrap();
    r.create(GZ, b"vnic5", LinkId(5), b"net5", false).unwrap();
    r.lend(GZ, LinkId(6), Z1.id, true).unwrap();
    r.lend(GZ, LinkId(5), Z1.id, false).unwrap();
    // zoneadmd deletes the transient VNIC while the halt waits on dlmgmtd
    // for the other link's return (a halt goes in id order, so it has not
    // condemned the VNIC yet).
    let r2 = r.clone();
    d.on_deliver(Some(Box::new(move |n| {
        if *n == (Notice::SetZone { link: LinkId(5), zone: GZ }) {
            r2.destroy(GZ, LinkId(6), DrainWait::NoWait).unwrap();
        }
    })));
    checked(&r, r.zone_halt(Z1)).unwrap();
    d.on_deliver(None);
    let (_, res) = done.recv_timeout(Duration::from_secs(10)).expect("the destroy asked no replay");
    assert_eq!(res, Ok(1));
    assert!(d.log().contains(&Notice::LinkGone { link: LinkId(6), zone: Z1.id }));
    assert_eq!(d.zone_of(LinkId(6)), None);
    assert!(r.outbox().is_empty());
}
