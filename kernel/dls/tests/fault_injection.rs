//! Systematic fault injection at dlmgmtd, through the door (issue 14).
//!
//! Every scenario below (illumos 10001 and 15167, SmartOS OS-8627 and its
//! transient loan, a zone stuck in down, a dlmgmtd restart, zone id
//! reuse, the SmartOS temporary-name flow both ways) is driven through
//! `dls_mgmt.o`'s logic (`Dls<Host>`: the real registry and door code
//! over the fake kernel and fake dlmgmtd of `host.rs`). It is run once
//! without faults, which numbers its door upcalls 1..N and records the
//! state after every step; then once more for every upcall k and every
//! [`DoorFault`], with the k-th upcall failing that way.
//!
//! A faulted run reacts as the system around the kernel does: when the
//! fault killed dlmgmtd, SMF restarts it and it registers its door again
//! (`dls_mgmt_door_set(B_TRUE)`, which replays the outbox); a caller
//! whose call failed because of the fault retries it once dlmgmtd is
//! back (dladm, zoneadmd); a halt whose returns failed leaves its zone
//! stuck in down, and the remedy is `dls_zone_recover()` then an outbox
//! replay; a notice a background replay could not deliver is delivered
//! by the next replay.
//!
//! Checked after every step of every run: the registry's invariants, no
//! perimeter held, no misuse seen by the fake kernel (reference
//! underflow, unknown `dls_link_t` or kstat), every active link's data
//! path in its zone and its kstats exactly where its name is (each link
//! in exactly one place). Checked in every faulted run: up to the
//! faulted upcall everything happens as in the clean run (same upcalls,
//! same states), and after the remedy, and at every step after it, the
//! state is the clean run's (the registry's snapshot, its outbox,
//! dlmgmtd's records, `dls_link_t` references and zones, kstats,
//! counters, each step's result), with dlmgmtd agreeing with the kernel
//! on every link's zone. At the end of every run nothing is left: no
//! handle, no detached link waiting for a free, no queued notice, no
//! `dls_link_t`, no kstat, no link, and no zone stuck with links; once
//! the object is dropped, no link record it ever had is alive. While
//! a `Stall`ed upcall hangs, another thread checks the invariants, takes
//! a snapshot, and runs `dls_zone_recover()` on every zone with a 20 ms
//! bound: it must come back within its bound (plus scheduling slack).
//!
//! Prints how many (scenario, upcall, fault) runs it made.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use dlszone::errno::Errno;
use dlszone::registry::{Link, LinkId, LinkState, Notice, ZoneId, ZoneKey, ZoneState};
use dlszone_dls::Dls;
use dlszone_dls::door_faults::DoorFault;
use dlszone_dls::handles::Handle;
use dlszone_dls::host::{Host, set_current_zone};
use dlszone_dls::seam::{MacHandle, makedevice, zone_status};

/// The kstat update callback (never called on the host).
unsafe extern "C" fn ks_update(_ksp: *mut c_void, _rw: c_int) -> c_int {
    0
}

const VNIC: u32 = 0x08;
const PHYS: u32 = 0x01;

/// One step of a scenario. Names are keys: a MAC's name, a link's
/// scenario-wide name (what dlmgmtd was told at `Record`), a handle's.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// A zone boots (its netstack is created).
    Boot(i32, u64),
    /// A zone halts (its netstack shuts down).
    Halt(i32),
    /// A zone is destroyed (its netstack is destroyed).
    Gone(i32),
    /// A driver registers a MAC.
    Mac(&'static str),
    /// A driver with a major number and an instance that softmac can
    /// attach.
    Device(&'static str, u32, u32),
    /// dladm asks dlmgmtd for a link record: (key, name, zone, class).
    Record(&'static str, &'static str, i32, u32),
    /// `dls_devnet_create()` of a MAC with a recorded link, by a zone.
    Create(&'static str, &'static str, i32),
    /// `dls_devnet_create()` of a physical MAC before dlmgmtd named it.
    CreatePending(&'static str),
    /// `dls_devnet_recreate()`: the pending MAC gets its record's id.
    Recreate(&'static str, &'static str),
    /// `dls_devnet_destroy()`, waiting.
    Destroy(&'static str),
    /// `dls_devnet_setzid[_transient]()` to a zone.
    Lend(&'static str, i32, bool),
    /// `dls_devnet_setzid()` back to the global zone.
    GiveBack(&'static str),
    /// `dls_devnet_rename()` of a link.
    Rename(&'static str, &'static str),
    /// libdladm renames the link in dlmgmtd first.
    DaemonRename(&'static str, &'static str),
    /// `dls_devnet_hold()` from a thread of a zone: (handle, link, zone).
    Hold(&'static str, &'static str, i32),
    /// `dls_devnet_hold_tmp()`.
    HoldTmp(&'static str, &'static str),
    /// `dls_devnet_hold_by_dev()` (a DLPI stream) from a zone's thread:
    /// (handle, major, instance, zone).
    HoldByDev(&'static str, u32, u32, i32),
    /// `dls_devnet_hold_zlink()` from a zone: (handle, zone, name, tmp).
    HoldZlink(&'static str, i32, &'static str, bool),
    /// `dls_devnet_release()`.
    Release(&'static str),
    /// dlmgmtd dies (its door is revoked).
    Kill,
    /// dlmgmtd starts (it registers its door with `DoorSet(true)`).
    Start,
    /// `dls_mgmt_door_set()`.
    DoorSet(bool),
    /// `dls_zone_recover()`: (zone, incarnation, force, timeout).
    Recover(i32, u64, bool, u32),
    /// `dls_mgmt_outbox_replay()`.
    Replay,
}

struct Scenario {
    name: &'static str,
    ops: Vec<Op>,
}

fn scenarios() -> Vec<Scenario> {
    use Op::*;
    vec![
        Scenario {
            name: "10001",
            ops: vec![
                Boot(5, 105),
                Mac("vnic1001"),
                Record("net0", "net0", 0, VNIC),
                Create("vnic1001", "net0", 0),
                Lend("net0", 5, false),
                Mac("vnic1002"),
                Record("net0b", "net0", 0, VNIC),
                Create("vnic1002", "net0b", 0),
                Halt(5),
                Gone(5),
                Destroy("vnic1001"),
            ],
        },
        Scenario {
            name: "15167",
            ops: vec![
                Boot(7, 107),
                Mac("vnic7000"),
                Record("z7net0", "z7net0", 7, VNIC),
                Create("vnic7000", "z7net0", 7),
                Hold("stream", "z7net0", 7),
                Halt(7),
                HoldTmp("again", "z7net0"),
                Release("stream"),
                Destroy("vnic7000"),
                Gone(7),
            ],
        },
        Scenario {
            name: "OS-8627",
            ops: vec![
                Boot(5, 105),
                Device("vnic", 77, 500),
                Mac("vnic500"),
                Record("net0", "net0", 5, VNIC),
                Create("vnic500", "net0", 5),
                HoldByDev("ip", 77, 500, 5),
                HoldByDev("snoop", 77, 500, 0),
                Hold("xde", "net0", 0),
                Halt(5),
                HoldTmp("tmp", "net0"),
                Destroy("vnic500"),
                Recover(5, 105, true, 100),
                Release("ip"),
                Release("snoop"),
                Release("xde"),
                Gone(5),
            ],
        },
        Scenario {
            name: "OS-8627 transient loan",
            ops: vec![
                Boot(6, 106),
                Device("vnic", 77, 600),
                Mac("vnic600"),
                Record("net0", "net0", 0, VNIC),
                Create("vnic600", "net0", 0),
                Lend("net0", 6, true),
                HoldByDev("snoop", 77, 600, 0),
                Halt(6),
                Mac("vnic601"),
                Record("net0b", "net0", 0, VNIC),
                Create("vnic601", "net0b", 0),
                Release("snoop"),
                Gone(6),
                Destroy("vnic600"),
                Destroy("vnic601"),
            ],
        },
        Scenario {
            name: "stuck down",
            ops: vec![
                Boot(5, 105),
                Mac("vnic100"),
                Mac("vnic101"),
                Mac("vnic102"),
                Mac("vnic103"),
                Record("net0", "net0", 0, VNIC),
                Record("net1", "net1", 0, VNIC),
                Record("own", "z5net0", 5, VNIC),
                Record("net3", "net3", 0, VNIC),
                Create("vnic100", "net0", 0),
                Create("vnic101", "net1", 0),
                Create("vnic102", "own", 5),
                Create("vnic103", "net3", 0),
                Lend("net0", 5, false),
                Lend("net1", 5, true),
                Lend("net3", 5, false),
                HoldZlink("zhold", 5, "net3", false),
                Kill,
                Halt(5),
                Recover(5, 105, false, 100),
                Recover(5, 105, true, 100),
                Replay,
                Release("zhold"),
                Start,
                DoorSet(true),
                Replay,
                Gone(5),
                Destroy("vnic100"),
                Destroy("vnic101"),
                Destroy("vnic102"),
                Destroy("vnic103"),
            ],
        },
        Scenario {
            name: "dlmgmtd restart",
            ops: vec![
                Boot(5, 105),
                Mac("vnic200"),
                Record("net0", "net0", 0, VNIC),
                Create("vnic200", "net0", 0),
                DoorSet(false),
                Lend("net0", 5, false),
                Mac("vnic201"),
                Record("net1", "net1", 0, VNIC),
                Create("vnic201", "net1", 0),
                HoldZlink("h", 0, "net0", true),
                Release("h"),
                DoorSet(true),
                Kill,
                Lend("net0", 5, false),
                Mac("e1000g0"),
                CreatePending("e1000g0"),
                Start,
                DoorSet(true),
                Record("e1000g0", "e1000g0", 0, PHYS),
                Recreate("e1000g0", "e1000g0"),
                Create("vnic201", "net1", 0),
                Lend("net0", 5, false),
                Rename("net1", "net9"),
                Halt(5),
                Gone(5),
                Destroy("e1000g0"),
                Destroy("vnic200"),
                Destroy("vnic201"),
            ],
        },
        Scenario {
            name: "zone id reuse",
            ops: vec![
                Boot(5, 105),
                Mac("vnic300"),
                Mac("vnic301"),
                Record("net0", "net0", 0, VNIC),
                Record("own", "z5own0", 5, VNIC),
                Create("vnic300", "net0", 0),
                Create("vnic301", "own", 5),
                Lend("net0", 5, false),
                Hold("old_net0", "net0", 5),
                Hold("old_own", "own", 5),
                Kill,
                Halt(5),
                Gone(5),
                Recover(5, 105, false, 0),
                Start,
                DoorSet(true),
                Boot(5, 205),
                Lend("net0", 5, false),
                Hold("new_net0", "net0", 5),
                Release("old_net0"),
                Release("old_own"),
                Recover(5, 105, true, 0),
                Recover(5, 205, true, 0),
                Release("new_net0"),
                GiveBack("net0"),
                Lend("net0", 5, false),
                Halt(5),
                Gone(5),
                Destroy("vnic300"),
                Destroy("vnic301"),
            ],
        },
        tmpname(true),
        tmpname(false),
    ]
}

/// The SmartOS temporary-name flow: a VNIC made in the global zone
/// under a temporary name, lent, renamed inside the zone while lent.
fn tmpname(transient: bool) -> Scenario {
    use Op::*;
    let mut ops = vec![
        Boot(8, 108),
        Mac("z8_net0"),
        Record("vnic", "z8tmp12345", 0, VNIC),
        Create("z8_net0", "vnic", 0),
        Lend("vnic", 8, transient),
        DaemonRename("vnic", "net0"),
        Rename("vnic", "net0"),
        HoldZlink("zh", 8, "net0", true),
        Release("zh"),
        Mac("vnic801"),
        Record("taken", "z8tmp12345", 0, VNIC),
        Create("vnic801", "taken", 0),
        Record("gz0", "net0", 0, VNIC),
        Create("vnic801", "gz0", 0),
        Halt(8),
    ];
    if !transient {
        ops.push(DaemonRename("vnic", "z8tmp12345"));
    }
    ops.extend([Gone(8), Destroy("z8_net0"), Destroy("vnic801")]);
    Scenario { name: if transient { "SmartOS tmpname transient" } else { "SmartOS tmpname" }, ops }
}

/// Everything compared between a faulted run and the clean one.
#[derive(Clone, PartialEq, Eq, Debug)]
struct State {
    registry: String,
    outbox: Vec<Notice>,
    daemon: Vec<(u32, Vec<u8>, u32, i32)>,
    daemon_alive: bool,
    dls_links: Vec<(&'static str, Option<(u32, i32)>)>,
    kstats: Vec<(Vec<u8>, i32, u32)>,
    counters: [u64; 5],
}

/// A fresh object over a fresh fake kernel and dlmgmtd.
struct World {
    host: Host,
    d: Arc<Dls<Host>>,
    /// Every link record seen, to check none outlives the object.
    records: Vec<Weak<Link>>,
    macs: BTreeMap<&'static str, MacHandle>,
    links: BTreeMap<&'static str, LinkId>,
    handles: BTreeMap<&'static str, Handle>,
    want_alive: bool,
    want_door: bool,
}

/// An errno as a step's result (`-1`: the step could not be made).
fn code(r: Result<(), Errno>) -> i32 {
    r.map_or_else(|e| e.to_raw(), |()| 0)
}

impl World {
    fn new() -> World {
        set_current_zone(0);
        let host = Host::new();
        let d = Dls::new(host.clone(), Some(ks_update));
        d.door_set(true).expect("door");
        let w = World {
            host,
            d,
            records: Vec::new(),
            macs: BTreeMap::new(),
            links: BTreeMap::new(),
            handles: BTreeMap::new(),
            want_alive: true,
            want_door: true,
        };
        w.settle();
        w
    }

    /// Waits for every task the step queued (replays, property tasks).
    fn settle(&self) {
        for _ in 0..2 {
            self.d.wait_tasks();
            self.host.env().drain_tasks();
        }
    }

    fn link(&self, key: &str) -> LinkId {
        self.links.get(key).copied().unwrap_or(LinkId(0xdead))
    }

    fn set_status(&self, z: i32, status: i32) {
        if let Some(zz) = self.host.env().world().zones.get_mut(&z) {
            zz.1 = status;
        }
    }

    fn key(&self, z: i32, u: u64) -> ZoneKey {
        ZoneKey { id: ZoneId(z), uniqid: u }
    }

    fn keep(&mut self, h: &'static str, r: Result<Handle, Errno>) -> i32 {
        match r {
            Ok(x) => {
                self.handles.insert(h, x);
                0
            }
            Err(e) => e.to_raw(),
        }
    }

    /// Runs one step; its result.
    fn exec(&mut self, op: Op) -> i32 {
        let env = self.host.env();
        let d = self.d.clone();
        match op {
            Op::Boot(z, u) => {
                env.zone_boot(z, u);
                d.zone_created(ZoneId(z));
                0
            }
            Op::Halt(z) => {
                self.set_status(z, zone_status::SHUTTING_DOWN);
                d.zone_shutdown(ZoneId(z));
                self.set_status(z, 7);
                0
            }
            Op::Gone(z) => {
                d.zone_destroyed(ZoneId(z));
                env.zone_destroy(z);
                0
            }
            Op::Mac(m) => {
                let mh = env.mac_register(m.as_bytes());
                self.macs.insert(m, MacHandle(mh));
                0
            }
            Op::Device(drv, major, inst) => {
                let mut w = env.world();
                w.majors.insert(major, drv.as_bytes().to_vec());
                w.devices.insert(makedevice(major, inst + 1), 0);
                0
            }
            Op::Record(key, name, zone, class) => {
                let id = env.daemon().add(name.as_bytes(), class, 1, zone, None);
                self.links.insert(key, LinkId(id));
                0
            }
            Op::Create(m, key, z) => code(d.create(self.macs[m], self.link(key), ZoneId(z))),
            Op::CreatePending(m) => code(d.create(self.macs[m], LinkId::INVALID, ZoneId(0))),
            Op::Recreate(m, key) => {
                if let Some(l) = env.daemon().links.get_mut(&self.link(key).0) {
                    l.phys = Some((88, 0));
                }
                code(d.recreate(self.macs[m], self.link(key)))
            }
            Op::Destroy(m) => code(d.destroy(self.macs[m], true).0),
            Op::Lend(key, z, t) => code(d.setzid(self.link(key), ZoneId(z), t)),
            Op::GiveBack(key) => code(d.setzid(self.link(key), ZoneId::GLOBAL, false)),
            Op::Rename(key, name) => {
                code(d.rename(self.link(key), LinkId::INVALID, name.as_bytes()))
            }
            Op::DaemonRename(key, name) => {
                if let Some(l) = env.daemon().links.get_mut(&self.link(key).0) {
                    l.name = name.as_bytes().to_vec();
                }
                0
            }
            Op::Hold(h, key, z) => {
                set_current_zone(z);
                let r = d.hold(self.link(key));
                set_current_zone(0);
                self.keep(h, r)
            }
            Op::HoldTmp(h, key) => {
                let r = d.hold_tmp(self.link(key));
                let c = self.keep(h, r);
                // A short hold: released at once.
                if let Some(x) = self.handles.remove(h) {
                    let _ = d.rele_tmp(x);
                }
                c
            }
            Op::HoldByDev(h, major, inst, z) => {
                set_current_zone(z);
                let r = d.hold_by_dev(makedevice(major, inst + 1));
                set_current_zone(0);
                self.keep(h, r)
            }
            Op::HoldZlink(h, z, name, tmp) => {
                let r = d.hold_zlink(ZoneId(z), ZoneId(z), name.as_bytes(), tmp);
                self.keep(h, r)
            }
            Op::Release(h) => match self.handles.remove(h) {
                Some(x) => code(d.release(x)),
                None => -1,
            },
            Op::Kill => {
                env.daemon().alive = false;
                self.want_alive = false;
                0
            }
            Op::Start => {
                env.daemon().alive = true;
                self.want_alive = true;
                0
            }
            Op::DoorSet(on) => {
                self.want_door = on;
                code(d.door_set(on))
            }
            Op::Recover(z, u, force, ms) => code(d.recover(self.key(z, u), force, ms).0),
            Op::Replay => code(d.replay().0),
        }
    }

    /// Remembers the record of every link in the registry now.
    fn note_records(&mut self) {
        for l in self.d.registry().snapshot().links {
            if let Ok(a) = self.d.registry().link_ref(l.linkid) {
                if !self.records.iter().any(|w| w.as_ptr() == Arc::as_ptr(&a)) {
                    self.records.push(Arc::downgrade(&a));
                }
            }
        }
    }

    /// Drops the object and its fake kernel: every link record it had
    /// must go with it.
    fn finish(self) -> Result<(), String> {
        let World { host, d, records, .. } = self;
        d.wait_tasks();
        host.env().drain_tasks();
        drop(d);
        drop(host);
        let alive = records.iter().filter(|w| w.strong_count() > 0).count();
        if alive > 0 {
            return Err(format!("{alive} link records outlive the object"));
        }
        Ok(())
    }

    fn state(&self) -> State {
        let env = self.host.env();
        let snap = self.d.registry().snapshot();
        let (daemon, daemon_alive) = {
            let dm = env.daemon();
            let recs =
                dm.links.iter().map(|(id, l)| (*id, l.name.clone(), l.flags, l.zone)).collect();
            (recs, dm.alive)
        };
        let mut kstats: Vec<_> = env.world().kstats.values().cloned().collect();
        kstats.sort();
        let c = self.d.counters();
        State {
            registry: snap.render(),
            outbox: self.d.registry().outbox(),
            daemon,
            daemon_alive,
            dls_links: self.macs.keys().map(|m| (*m, env.link_refs(m.as_bytes()))).collect(),
            kstats,
            counters: [
                c.dc_bad_releases,
                c.dc_late_releases,
                c.dc_pending_frees,
                c.dc_outbox,
                c.dc_handles,
            ],
        }
    }

    /// The checks of every step (module documentation); with `agree`,
    /// dlmgmtd must also agree with the kernel on every link's zone.
    fn check(&self, agree: bool) -> Result<(), String> {
        let env = self.host.env();
        self.d
            .registry()
            .check_invariants()
            .map_err(|v| format!("invariant {} broken: {}", v.rule, v.detail))?;
        if env.perims_held() != 0 {
            return Err(format!("{} perimeters left held", env.perims_held()));
        }
        let complaints: Vec<String> =
            env.world().console.iter().filter(|l| l.starts_with("fake kernel:")).cloned().collect();
        if !complaints.is_empty() {
            return Err(format!("the fake kernel saw misuse: {complaints:?}"));
        }
        let snap = self.d.registry().snapshot();
        let outbox = self.d.registry().outbox();
        let mut want = Vec::new();
        for l in snap.links.iter().filter(|l| l.state == LinkState::Active) {
            let (Some(name), id) = (l.name, l.linkid) else { continue };
            if id == LinkId::INVALID {
                continue;
            }
            match env.link_refs(l.mac.as_bytes()) {
                Some((refs, zone)) if refs > 0 && zone == l.zone.id.0 => {}
                other => {
                    return Err(format!(
                        "link {} in zone {} has dls_link_t {other:?} (refs, data-path zone)",
                        id.0, l.zone.id.0
                    ));
                }
            }
            let owner_name = l.reserved.unwrap_or(name);
            want.push((owner_name.as_bytes().to_vec(), l.owner.id.0, id.0));
            if l.zone.id != l.owner.id {
                want.push((name.as_bytes().to_vec(), l.zone.id.0, id.0));
            }
            let queued = outbox.iter().any(|n| n.link() == id);
            if agree && !queued {
                let dz = env.daemon().links.get(&id.0).map(|r| r.zone);
                if dz != Some(l.zone.id.0) {
                    return Err(format!(
                        "dlmgmtd has link {} in zone {dz:?}, the kernel in {}",
                        id.0, l.zone.id.0
                    ));
                }
            }
        }
        want.sort();
        let mut have: Vec<_> = env.world().kstats.values().cloned().collect();
        have.sort();
        if want != have {
            return Err(format!("kstats {have:?}, links want {want:?}"));
        }
        Ok(())
    }

    /// What must hold when a scenario has ended.
    fn check_end(&self) -> Result<(), String> {
        let c = self.d.counters();
        let snap = self.d.registry().snapshot();
        let env = self.host.env();
        let mut bad = String::new();
        if c.dc_handles != 0 || self.d.handles().live() != 0 {
            let _ = write!(bad, " {} handles left;", c.dc_handles);
        }
        if c.dc_pending_frees != 0 {
            let _ = write!(bad, " {} detached links not freed;", c.dc_pending_frees);
        }
        if c.dc_outbox != 0 {
            let _ = write!(bad, " {} notices never delivered;", c.dc_outbox);
        }
        if !snap.links.is_empty() {
            let _ = write!(bad, " links left: {};", snap.render().trim());
        }
        for (k, st) in &snap.zones {
            let n = snap.links.iter().filter(|l| l.zone == *k).count();
            if *st != ZoneState::Running && n > 0 {
                let _ = write!(bad, " zone {} stuck with {n} links;", k.id.0);
            }
        }
        let kstats = env.world().kstats.len();
        if kstats != 0 {
            let _ = write!(bad, " {kstats} kstats left;");
        }
        for m in self.macs.keys() {
            if let Some((refs, _)) = env.link_refs(m.as_bytes()) {
                let _ = write!(bad, " dls_link_t of {m} left with {refs} references;");
            }
        }
        if bad.is_empty() { Ok(()) } else { Err(bad) }
    }
}

/// What the clean run of a scenario saw.
struct Clean {
    results: Vec<i32>,
    states: Vec<State>,
    upcalls: u64,
    trace: Vec<(u64, i32, [u8; 16])>,
}

fn run_clean(sc: &Scenario) -> Result<Clean, String> {
    let mut w = World::new();
    let mut results = Vec::new();
    let mut states = Vec::new();
    for (i, op) in sc.ops.iter().enumerate() {
        let r = w.exec(*op);
        w.settle();
        w.note_records();
        let agree = w.want_alive && w.want_door;
        w.check(agree).map_err(|e| format!("clean run, step {i} {op:?}: {e}"))?;
        results.push(r);
        states.push(w.state());
    }
    w.check_end().map_err(|e| format!("clean run, at the end:{e}"))?;
    let (upcalls, trace) = {
        let plan = w.host.env().faults();
        (plan.upcalls(), plan.trace().to_vec())
    };
    w.finish().map_err(|e| format!("clean run: {e}"))?;
    Ok(Clean { results, states, upcalls, trace })
}

/// What the faulted runs did, for the summary.
#[derive(Default)]
struct Tally {
    runs: u64,
    fired: u64,
    caller_saw: u64,
    retried: u64,
    recovered: u64,
    replayed: u64,
    restarted: u64,
    stall_probes: u64,
    doorless: u64,
    by_fault: BTreeMap<String, u64>,
}

/// The thread that plays the rest of the system while an upcall stalls.
fn stall_probe(d: &Weak<Dls<Host>>, log: &Arc<Mutex<Vec<String>>>) {
    let Some(d) = d.upgrade() else { return };
    let log2 = log.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        set_current_zone(0);
        let mut out = Vec::new();
        if let Err(v) = d.registry().check_invariants() {
            out.push(format!("during a stall: invariant {} broken: {}", v.rule, v.detail));
        }
        let snap = d.registry().snapshot();
        for (k, _) in snap.zones.iter().filter(|(k, _)| !k.id.is_global()) {
            let t = Instant::now();
            let (r, _) = d.recover(*k, false, 20);
            let took = t.elapsed();
            if took > Duration::from_millis(20) + Duration::from_secs(2) {
                out.push(format!("during a stall: recovery of zone {} took {took:?}", k.id.0));
            }
            let ok = matches!(
                r,
                Ok(()) | Err(Errno::EBUSY | Errno::ETIMEDOUT | Errno::ENXIO | Errno::ESTALE)
            );
            if !ok {
                out.push(format!("during a stall: recovery of zone {} gave {r:?}", k.id.0));
            }
        }
        let _ = tx.send(out);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => log2.lock().unwrap_or_else(|p| p.into_inner()).extend(out),
        Err(_) => log2
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push("during a stall: the probe did not return in 10 s".into()),
    }
}

fn run_faulted(
    sc: &Scenario,
    clean: &Clean,
    k: u64,
    fault: DoorFault,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut w = World::new();
    let probe_log = Arc::new(Mutex::new(Vec::new()));
    {
        let mut plan = w.host.env().faults();
        plan.arm(k, fault);
        if fault == DoorFault::Stall {
            let (weak, log) = (Arc::downgrade(&w.d), probe_log.clone());
            plan.set_stall_hook(Box::new(move || stall_probe(&weak, &log)));
        }
    }
    let mut fired_at = None;
    for (i, op) in sc.ops.iter().enumerate() {
        let mut r = w.exec(*op);
        w.settle();
        w.note_records();
        let fired = w.host.env().faults().fired();
        w.check(false).map_err(|e| format!("step {i} {op:?}, before any remedy: {e}"))?;
        if fired_at.is_none() {
            if let Some(f) = fired {
                fired_at = Some(i);
                tally.fired += 1;
                if f.fault == DoorFault::Stall {
                    tally.stall_probes += 1;
                }
                // SMF restarts a dlmgmtd the fault killed; it registers
                // its door again, which replays the outbox.
                let env = w.host.env();
                if w.want_alive && !env.daemon().alive {
                    env.daemon().alive = true;
                    tally.restarted += 1;
                    if w.want_door {
                        let _ = w.d.door_set(true);
                    }
                }
                w.settle();
                let differs = r != clean.results[i];
                if differs {
                    tally.caller_saw += 1;
                }
                if differs || w.state() != clean.states[i] {
                    match *op {
                        Op::Halt(z) => {
                            // The zone is stuck in down: zoneadmd recovers.
                            let key = w.d.registry().zone_state(ZoneId(z)).map(|s| s.0);
                            if let Some(key) = key {
                                let _ = w.d.recover(key, false, 1000);
                            }
                            tally.recovered += 1;
                        }
                        _ if differs => {
                            r = w.exec(*op);
                            tally.retried += 1;
                        }
                        _ => {}
                    }
                    w.settle();
                    if w.want_alive && w.want_door {
                        let _ = w.d.replay();
                        tally.replayed += 1;
                    }
                    w.settle();
                }
            } else {
                // Before the fault, the run is the clean run.
                if r != clean.results[i] || w.state() != clean.states[i] {
                    return Err(format!(
                        "step {i} {op:?} before the fault differs from the clean run"
                    ));
                }
                continue;
            }
        }
        let agree = w.want_alive && w.want_door;
        w.check(agree).map_err(|e| format!("step {i} {op:?}, after the remedy: {e}"))?;
        if r != clean.results[i] {
            return Err(format!("step {i} {op:?} gave {r}, the clean run {}", clean.results[i]));
        }
        let st = w.state();
        if st != clean.states[i] {
            return Err(format!(
                "step {i} {op:?}: state differs from the clean run\n faulted: {st:#?}\n clean:   {:#?}",
                clean.states[i]
            ));
        }
    }
    let probes = std::mem::take(&mut *probe_log.lock().unwrap_or_else(|p| p.into_inner()));
    if !probes.is_empty() {
        return Err(probes.join("; "));
    }
    w.check_end().map_err(|e| format!("at the end:{e}"))?;
    let trace = w.host.env().faults().trace().to_vec();
    let prefix = (k - 1) as usize;
    if trace.iter().take_while(|t| t.0 < k).collect::<Vec<_>>()
        != clean.trace.iter().take_while(|t| t.0 < k).collect::<Vec<_>>()
    {
        return Err(format!("upcalls before the {k}th are not the clean run's ({prefix})"));
    }
    match (fired_at, w.host.env().faults().fired()) {
        (Some(_), Some(f)) if f.upcall == k => {}
        (_, f) => return Err(format!("the fault did not fire at upcall {k}: {f:?}")),
    }
    *tally.by_fault.entry(format!("{fault:?}")).or_default() += 1;
    w.finish()
}

#[test]
fn every_fault_at_every_upcall() {
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut per_scenario = Vec::new();
    for sc in scenarios() {
        let clean = match run_clean(&sc) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", sc.name));
                continue;
            }
        };
        // The clean run is deterministic: same upcalls, same states.
        let again = run_clean(&sc).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
        assert_eq!(clean.trace, again.trace, "{}: upcalls differ between clean runs", sc.name);
        assert!(clean.states == again.states, "{}: states differ between clean runs", sc.name);
        assert!(clean.upcalls > 0, "{}: no upcall", sc.name);
        let mut runs = 0;
        for k in 1..=clean.upcalls {
            // An upcall that found no door (dlmgmtd down in the scenario
            // itself) makes no call: only the door's absence applies.
            let called = clean.trace.iter().any(|t| t.0 == k);
            if !called {
                tally.doorless += 1;
            }
            for fault in DoorFault::ALL {
                if !called && fault != DoorFault::Unset {
                    continue;
                }
                runs += 1;
                tally.runs += 1;
                if let Err(e) = run_faulted(&sc, &clean, k, fault, &mut tally) {
                    let cmd = clean.trace.iter().find(|t| t.0 == k).map_or(0, |t| t.1);
                    failures.push(format!(
                        "{}: upcall {k} (command {cmd}) failing with {fault:?}: {e}",
                        sc.name
                    ));
                }
            }
        }
        per_scenario.push(format!("{} ({} upcalls, {runs} runs)", sc.name, clean.upcalls));
    }
    println!(
        "fault injection: {} (scenario, upcall, fault) runs over {} scenarios in {:.1?}: {}",
        tally.runs,
        per_scenario.len(),
        started.elapsed(),
        per_scenario.join(", ")
    );
    println!(
        "fault injection: fired {}, seen by the caller {}, steps retried {}, halts recovered {}, \
         replays {}, dlmgmtd restarts {}, stall probes {}, upcalls that found no door {} (run \
         with Unset only); per fault {:?}",
        tally.fired,
        tally.caller_saw,
        tally.retried,
        tally.recovered,
        tally.replayed,
        tally.restarted,
        tally.stall_probes,
        tally.doorless,
        tally.by_fault
    );
    if !failures.is_empty() {
        for f in failures.iter().take(20) {
            println!("FAILED {f}");
        }
        panic!("{} of {} faulted runs did not end consistent", failures.len(), tally.runs);
    }
    assert_eq!(tally.fired, tally.runs, "every fault fired");
}
