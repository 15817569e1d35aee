//! illumos 10001: dlmgmtd aborts on duplicate names when links come back.
//!
//! The failure: link names are per zone, so the global zone can lend
//! `net0` to a zone and then create another `net0` of its own (or the zone
//! can rename its borrowed link to a name the global zone uses). At zone
//! halt, `dls_stack_shutdown` → `dls_zone_remove` →
//! `dls_devnet_setzid(ddp, GLOBAL_ZONEID)` sends `DLMGMT_CMD_SETZONEID`.
//! dlmgmtd's `dlmgmt_setzoneid` has a duplicate-name check, but it is
//! guarded by the caller's zone, which for a kernel upcall is always the
//! global zone, so it never runs; `avl_add` of a second `(GZ, net0)` key
//! then asserts and dlmgmtd aborts, leaving links unmanageable. The same
//! happens in the other direction: a global-zone link moved into a zone
//! that already has a link of that name.
//!
//! dlszone keeps a lent link's global-zone name reserved for as long as it
//! is away and returns the link under that name, so no create, rename or
//! activation can take it meanwhile and the return cannot collide; a lend
//! into a zone that has the name is refused with `EEXIST` before dlmgmtd is
//! asked, and changes nothing. The daemon here models dlmgmtd's name AVL:
//! it aborts, as the real one does, on a duplicate `(zone, name)` key.
//! It restores a returning link's loan-time name, as the kernel does; the
//! real daemon must learn to do the same (see `docs/ipd3.md`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dlszone::errno::{Errno, KResult};
use dlszone::registry::{
    Action, Dlmgmt, LinkId, LinkName, Notice, Registry, Snapshot, ZoneId, ZoneKey, ZoneState,
};

mod common;
use common::{checked, name, refused};

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);

/// A link as dlmgmtd keeps it: its zone, its name there, and while on loan
/// the name it had in the global zone.
#[derive(Clone, Copy, Debug, PartialEq)]
struct DaemonLink {
    zone: ZoneId,
    name: LinkName,
    home: Option<LinkName>,
}

/// dlmgmtd's link table, keyed like its name AVL. A duplicate key panics,
/// as `avl_add` aborts the real daemon.
#[derive(Default)]
struct AvlDaemon {
    links: Mutex<BTreeMap<LinkId, DaemonLink>>,
    upcalls: AtomicUsize,
    /// Run inside the next upcall, while the kernel's move is half done.
    during: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl AvlDaemon {
    /// What a restarted daemon reads back: the kernel's current view,
    /// registered as the kernel's door.
    fn registered(r: &Registry) -> Arc<Self> {
        let d = Arc::new(Self::from_snapshot(&r.snapshot()));
        r.set_door(d.clone());
        d
    }

    /// What a restarted daemon reads back: the kernel's current view.
    fn from_snapshot(s: &Snapshot) -> Self {
        let d = AvlDaemon::default();
        // A link still initializing has no id or name: dlmgmtd has not
        // met it yet.
        for l in &s.links {
            if let Some(name) = l.name {
                d.insert(l.linkid, DaemonLink { zone: l.zone.id, name, home: l.reserved });
            }
        }
        d
    }

    fn insert(&self, id: LinkId, link: DaemonLink) {
        let mut links = self.links.lock().unwrap();
        let dup =
            links.iter().find(|(i, l)| **i != id && (l.zone, l.name) == (link.zone, link.name));
        if let Some((other, _)) = dup {
            panic!(
                "dlmgmtd abort: avl_add found ({:?}, {}) already held by {other:?} (illumos 10001)",
                link.zone, link.name
            );
        }
        links.insert(id, link);
    }

    /// `dladm rename-link -z`: dlmgmtd renames first, then the kernel.
    fn rename(&self, id: LinkId, to: &str) {
        let mut l = self.links.lock().unwrap()[&id];
        l.name = name(to);
        self.insert(id, l);
    }

    /// Runs `f` inside the next upcall.
    fn meanwhile(&self, f: impl FnOnce() + Send + 'static) {
        *self.during.lock().unwrap() = Some(Box::new(f));
    }

    fn upcalls(&self) -> usize {
        self.upcalls.load(Ordering::Relaxed)
    }

    /// The daemon and the kernel name every link alike.
    fn assert_agrees(&self, r: &Registry) {
        let kernel: BTreeMap<_, _> = r
            .snapshot()
            .links
            .iter()
            .filter_map(|l| Some((l.linkid, (l.zone.id, l.name?))))
            .collect();
        let daemon: BTreeMap<_, _> =
            self.links.lock().unwrap().iter().map(|(id, l)| (*id, (l.zone, l.name))).collect();
        assert_eq!(daemon, kernel, "dlmgmtd and the kernel disagree");
    }
}

impl Dlmgmt for AvlDaemon {
    fn deliver(&self, n: &Notice) -> KResult<()> {
        let during = self.during.lock().unwrap().take();
        if let Some(f) = during {
            f();
        }
        self.upcalls.fetch_add(1, Ordering::Relaxed);
        match *n {
            Notice::SetZone { link, zone } => {
                let mut l = *self.links.lock().unwrap().get(&link).ok_or(Errno::ENOENT)?;
                if zone == l.zone {
                    return Ok(());
                }
                if zone == GZ {
                    l.name = l.home.take().unwrap_or(l.name);
                } else if l.zone == GZ {
                    l.home = Some(l.name);
                }
                l.zone = zone;
                self.insert(link, l);
            }
            Notice::LinkGone { link, .. } => {
                self.links.lock().unwrap().remove(&link);
            }
        }
        Ok(())
    }
}

#[test]
fn gz_cannot_take_a_lent_links_name_so_its_return_cannot_collide() {
    let r = Registry::new();
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"vnic100", LinkId(1), b"net0", true)).unwrap();
    checked(&r, r.create(GZ, b"vnic101", LinkId(2), b"net1", false)).unwrap();
    checked(&r, r.create_pending(b"e1000g0")).unwrap();
    let d = AvlDaemon::registered(&r);

    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    d.assert_agrees(&r);
    assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(LinkId(1)));
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Err(Errno::ENOENT), "not in the GZ any more");

    // Every way the global zone could get a second net0 is refused.
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic102", LinkId(3), b"net0", true));
    refused(&r, &before, Errno::EEXIST, r.rename(GZ, LinkId(2), b"net0"));
    refused(&r, &before, Errno::EEXIST, r.activate(b"e1000g0", LinkId(4), b"net0"));
    assert_eq!(d.upcalls(), 1, "dlmgmtd was asked about nothing else");

    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(report.outcome(LinkId(1)).unwrap().action, Action::Returned { name: name("net0") });
    assert!(report.is_clean());
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    d.assert_agrees(&r);
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn a_borrowed_link_renamed_to_a_gz_name_returns_under_its_own() {
    let r = Registry::new();
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"e1000g0", LinkId(1), b"net0", true)).unwrap();
    checked(&r, r.create(GZ, b"vnic100", LinkId(2), b"vnic0", false)).unwrap();
    checked(&r, r.create(GZ, b"e1000g2", LinkId(3), b"net2", true)).unwrap();
    let d = AvlDaemon::registered(&r);

    checked(&r, r.lend(GZ, LinkId(2), Z1.id, false)).unwrap();
    // Inside the zone the borrowed VNIC becomes net0: legal, names are per
    // zone. The system now has two links called net0.
    d.rename(LinkId(2), "net0");
    checked(&r, r.rename(Z1.id, LinkId(2), b"net0")).unwrap();
    // And the zone makes a net2 of its own (it has `sys_dl_config`).
    checked(&r, r.create(Z1.id, b"vnic110", LinkId(4), b"net2", false)).unwrap();
    d.insert(LinkId(4), DaemonLink { zone: Z1.id, name: name("net2"), home: None });
    d.assert_agrees(&r);
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Ok(LinkId(2)));

    // The halt that aborted dlmgmtd: the borrowed link comes back as
    // vnic0, the zone's own net2 never comes back at all.
    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.outcome(LinkId(2)).unwrap().action, Action::Returned { name: name("vnic0") });
    assert_eq!(report.outcome(LinkId(4)).unwrap().action, Action::Condemned { freed: true });
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    assert_eq!(r.lookup(GZ, GZ, b"vnic0"), Ok(LinkId(2)));
    assert_eq!(r.lookup(GZ, GZ, b"net2"), Ok(LinkId(3)));
    assert_eq!(r.list(GZ, None), Ok(vec![LinkId(1), LinkId(2), LinkId(3)]));
    d.assert_agrees(&r);
    checked(&r, r.zone_destroy(Z1)).unwrap();
}

#[test]
fn lending_into_a_zone_that_has_the_name_is_refused_and_changes_nothing() {
    let r = Registry::new();
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"vnic100", LinkId(1), b"net0", false)).unwrap();
    checked(&r, r.create(GZ, b"vnic101", LinkId(2), b"vnic1", false)).unwrap();
    checked(&r, r.create(GZ, b"vnic102", LinkId(3), b"net6", false)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic110", LinkId(10), b"net0", false)).unwrap();
    let d = AvlDaemon::registered(&r);

    // The zone's own net0 is in the way.
    let before = r.snapshot();
    refused(&r, &before, Errno::EEXIST, r.lend(GZ, LinkId(1), Z1.id, false));
    refused(&r, &before, Errno::EEXIST, r.lend(GZ, LinkId(1), Z1.id, true));
    // So is a borrowed link renamed inside the zone.
    checked(&r, r.lend(GZ, LinkId(2), Z1.id, false)).unwrap();
    d.rename(LinkId(2), "net6");
    checked(&r, r.rename(Z1.id, LinkId(2), b"net6")).unwrap();
    let before = r.snapshot();
    let upcalls = d.upcalls();
    refused(&r, &before, Errno::EEXIST, r.lend(GZ, LinkId(3), Z1.id, false));
    assert_eq!(d.upcalls(), upcalls, "dlmgmtd is not even asked");
    // Nothing was taken or reserved by the refused lends.
    assert_eq!(r.lookup(GZ, GZ, b"net0"), Ok(LinkId(1)));
    assert_eq!(r.lookup(GZ, GZ, b"net6"), Ok(LinkId(3)));
    assert_eq!(r.holders(GZ, LinkId(1)).unwrap().len(), 1, "existence only, no loan hold");
    d.assert_agrees(&r);

    // The operator renames the global zone's link; now it can go.
    checked(&r, r.rename(GZ, LinkId(1), b"net7")).unwrap();
    d.rename(LinkId(1), "net7");
    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    d.assert_agrees(&r);
}

#[test]
fn names_stay_unique_while_a_move_is_half_done() {
    let r = Arc::new(Registry::new());
    checked(&r, r.zone_boot(Z1)).unwrap();
    checked(&r, r.create(GZ, b"vnic100", LinkId(1), b"net0", false)).unwrap();
    let d = AvlDaemon::registered(&r);

    // While dlmgmtd handles the lend, the zone tries to create a net0.
    let r2 = r.clone();
    d.meanwhile(move || {
        let r = r2;
        let before = r.snapshot();
        refused(
            &r,
            &before,
            Errno::EEXIST,
            r.create(Z1.id, b"vnic110", LinkId(10), b"net0", false),
        );
        assert_eq!(r.lookup(GZ, Z1.id, b"net0"), Err(Errno::ENOENT), "not there yet");
    });
    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    d.assert_agrees(&r);

    // While dlmgmtd handles the return at halt, the GZ tries to take net0.
    let r2 = r.clone();
    d.meanwhile(move || {
        let r = r2;
        assert_eq!(r.zone_state(Z1.id), Some((Z1, ZoneState::ShuttingDown)));
        let before = r.snapshot();
        refused(&r, &before, Errno::EEXIST, r.create(GZ, b"vnic101", LinkId(2), b"net0", false));
    });
    let report = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(report.outcome(LinkId(1)).unwrap().action, Action::Returned { name: name("net0") });
    assert!(d.during.lock().unwrap().is_none(), "both interleavings ran");
    d.assert_agrees(&r);
}
