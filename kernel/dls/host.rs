//! The host seam: a fake illumos kernel around `dls_mgmt.o`, and a fake
//! dlmgmtd behind its door that decodes the kernel's requests and encodes
//! its replies with the same door structures the kernel uses, so the
//! host tests exercise the wire protocol end to end.
//!
//! Everything here is `std`, host-only, and scriptable: zones boot, halt
//! and go; MACs register; `dls_link_t`s are reference-counted records
//! whose first bytes are their MAC name (as `dl_name` is); perimeters
//! count enters and exits; the task queue runs tasks on threads and can
//! refuse `TQ_NOSLEEP`; any kernel call or dlmgmtd command can be made to
//! fail once with a chosen errno. The C tests drive it through the
//! `dlszone_host_*` functions at the end (declared in
//! `tests/c/dlszone_host.h`).

use std::boxed::Box;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::vec::Vec;

use dlszone::door::RawErrno;
use dlszone::door::proto::{
    Cmd, DatalinkClass, DatalinkMedia, DlmgmtDoorGetlinkid, DlmgmtDoorGetname, DlmgmtDoorGetnext,
    DlmgmtDoorLinkpropInit, DlmgmtDoorSetzoneid, DlmgmtGetattrRetval, DlmgmtGetnameRetval,
    DlmgmtLinkidRetval, DlmgmtRetval, DlmgmtUpcallArgCreate, DlmgmtUpcallArgDestroy,
    DlmgmtUpcallArgGetattr, DlmgmtUpcallArgUpdate, FPHYINST, FPHYMAJ, LinkFlags, Wire, datatype,
};
use dlszone::door::upcall::{Delivered, DoorPort};
use dlszone::errno::Errno;
use dlszone::registry::{LinkId, ZoneId};

use crate::seam::{
    Cred, Dev, DevHold, DlsLinkPtr, KernResult, Kernel, Kstat, KstatUpdate, MacHandle, NsCreate,
    NsHook, Perim, TaskFn, ZoneInfo, zone_status,
};

std::thread_local! {
    /// The zone the calling thread acts for (`crgetzoneid(CRED())`).
    static CURRENT_ZONE: Cell<i32> = const { Cell::new(0) };
}

/// Sets the calling thread's zone.
pub fn set_current_zone(zid: i32) {
    CURRENT_ZONE.with(|z| z.set(zid));
}

fn current_zone() -> i32 {
    CURRENT_ZONE.with(|z| z.get())
}

fn raw(e: Errno) -> RawErrno {
    RawErrno::from(e)
}

/// A `dls_link_t`: its first bytes are the MAC name, as `dl_name` is.
struct FakeLink {
    mem: Box<[u8; 256]>,
    refs: u32,
    zone: i32,
    dev: Dev,
}

/// One link as the fake dlmgmtd records it.
#[derive(Clone, Debug)]
pub struct DaemonLink {
    /// Name in its zone.
    pub name: Vec<u8>,
    /// `datalink_class_t`.
    pub class: u32,
    /// Media.
    pub media: u32,
    /// `DLMGMT_*` flags.
    pub flags: u32,
    /// The zone it is in.
    pub zone: i32,
    /// Physical device major and instance.
    pub phys: Option<(u64, u64)>,
}

/// The fake dlmgmtd.
#[derive(Default)]
pub struct Daemon {
    /// Running and serving its door.
    pub alive: bool,
    /// Its links by id.
    pub links: BTreeMap<u32, DaemonLink>,
    next_id: u32,
    /// Commands served, in order: (command, link id, zone).
    pub log: Vec<(i32, u32, i32)>,
    /// Errors to answer the next commands of a kind with (0: any).
    fail: VecDeque<(i32, u32)>,
}

impl Daemon {
    fn visible(&self, l: &DaemonLink, caller: i32) -> bool {
        caller == 0 || l.zone == caller
    }

    fn take_failure(&mut self, cmd: i32) -> Option<u32> {
        let i = self.fail.iter().position(|(c, _)| *c == cmd || *c == 0)?;
        self.fail.remove(i).map(|(_, e)| e)
    }

    /// Adds a link record (what `dladm create-*` asks dlmgmtd for first).
    pub fn add(
        &mut self,
        name: &[u8],
        class: u32,
        flags: u32,
        zone: i32,
        phys: Option<(u64, u64)>,
    ) -> u32 {
        self.next_id = self.next_id.max(1000) + 1;
        let id = self.next_id;
        self.links
            .insert(id, DaemonLink { name: name.to_vec(), class, media: 4, flags, zone, phys });
        id
    }

    /// Serves one door call; the reply's size in bytes.
    fn serve(&mut self, req: &[u8], reply: &mut [u8], zones: &BTreeSet<i32>) -> usize {
        let caller = current_zone();
        let cmd = req.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let put = |reply: &mut [u8], bytes: &[u8]| {
            let n = bytes.len().min(reply.len());
            reply[..n].copy_from_slice(&bytes[..n]);
            bytes.len()
        };
        let err = |reply: &mut [u8], size: usize, e: u32| {
            let mut b = std::vec![0u8; size];
            b[..4].copy_from_slice(&e.to_ne_bytes());
            put(reply, &b)
        };
        let failure = self.take_failure(cmd);
        macro_rules! fail_or {
            ($size:expr) => {
                if let Some(e) = failure {
                    self.log.push((cmd, 0, caller));
                    return err(reply, $size, e);
                }
            };
        }
        let linkid_reply = |reply: &mut [u8], e: u32, id: u32, l: Option<&DaemonLink>| {
            let r = DlmgmtLinkidRetval {
                lr_err: e,
                lr_linkid: id,
                lr_flags: l.map_or(0, |l| l.flags),
                lr_class: l.map_or(0, |l| l.class),
                lr_media: l.map_or(0, |l| l.media),
                lr_padding: 0,
            };
            put(reply, &r.to_bytes().unwrap_or([0; 24]))
        };
        match Cmd(cmd) {
            Cmd::DLS_CREATE => {
                fail_or!(24);
                let Ok(a) = DlmgmtUpcallArgCreate::decode(req) else { return err(reply, 24, 22) };
                self.log.push((cmd, 0, caller));
                if self.links.values().any(|l| l.name == a.devname() && l.zone == caller) {
                    return linkid_reply(reply, 17, 0, None);
                }
                let flags =
                    LinkFlags::ACTIVE.0 | if a.ld_persist != 0 { LinkFlags::PERSIST.0 } else { 0 };
                let phys =
                    (a.ld_class == DatalinkClass::PHYS.0).then_some((a.ld_phymaj, a.ld_phyinst));
                let id = self.add(a.devname(), a.ld_class, flags, caller, phys);
                if let Some(l) = self.links.get_mut(&id) {
                    l.media = a.ld_media;
                }
                linkid_reply(reply, 0, id, None)
            }
            Cmd::DLS_UPDATE => {
                fail_or!(24);
                let Ok(a) = DlmgmtUpcallArgUpdate::decode(req) else { return err(reply, 24, 22) };
                self.log.push((cmd, 0, caller));
                let found = self
                    .links
                    .iter()
                    .find(|(_, l)| l.name == a.devname())
                    .map(|(i, l)| (*i, l.clone()));
                match found {
                    Some((id, l)) if l.media == a.ld_media => linkid_reply(reply, 0, id, Some(&l)),
                    Some((id, l)) => linkid_reply(reply, 17, id, Some(&l)),
                    None => linkid_reply(reply, 2, 0, None),
                }
            }
            Cmd::DLS_DESTROY => {
                fail_or!(4);
                let Ok(a) = DlmgmtUpcallArgDestroy::decode(req) else { return err(reply, 4, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let ok = self.links.get(&a.ld_linkid).is_some_and(|l| self.visible(l, caller));
                if ok {
                    self.links.remove(&a.ld_linkid);
                }
                err(reply, 4, if ok { 0 } else { 2 })
            }
            Cmd::DLS_GETATTR => {
                fail_or!(1040);
                let Ok(a) = DlmgmtUpcallArgGetattr::decode(req) else {
                    return err(reply, 1040, 22);
                };
                self.log.push((cmd, a.ld_linkid, caller));
                let l = self.links.get(&a.ld_linkid).filter(|l| self.visible(l, caller));
                let v = match (l.and_then(|l| l.phys), a.attr()) {
                    (Some((maj, _)), x) if x == FPHYMAJ => Some(maj),
                    (Some((_, inst)), x) if x == FPHYINST => Some(inst),
                    _ => None,
                };
                let Some(v) = v else { return err(reply, 1040, 2) };
                let mut r = DlmgmtGetattrRetval {
                    lr_err: 0,
                    lr_type: datatype::UINT64,
                    lr_attrsz: 8,
                    lr_padding: 0,
                    lr_attrval: [0; 1024],
                };
                r.lr_attrval[..8].copy_from_slice(&v.to_ne_bytes());
                put(reply, &r.to_bytes().unwrap_or([0; 1040]))
            }
            Cmd::GETNAME => {
                fail_or!(48);
                let Ok(a) = DlmgmtDoorGetname::decode(req) else { return err(reply, 48, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let Some(l) = self.links.get(&a.ld_linkid).filter(|l| self.visible(l, caller))
                else {
                    return err(reply, 48, 2);
                };
                let mut name = [0u8; 32];
                name[..l.name.len().min(31)].copy_from_slice(&l.name[..l.name.len().min(31)]);
                let r = DlmgmtGetnameRetval {
                    lr_err: 0,
                    lr_link: name,
                    lr_class: l.class,
                    lr_media: l.media,
                    lr_flags: l.flags,
                };
                put(reply, &r.to_bytes().unwrap_or([0; 48]))
            }
            Cmd::GETLINKID => {
                fail_or!(24);
                let Ok(a) = DlmgmtDoorGetlinkid::decode(req) else { return err(reply, 24, 22) };
                self.log.push((cmd, 0, caller));
                let zone = if caller == 0 && a.ld_zoneid != -1 { a.ld_zoneid } else { caller };
                let hit = self.links.iter().find(|(_, l)| l.name == a.link() && l.zone == zone);
                match hit {
                    Some((id, l)) => linkid_reply(reply, 0, *id, Some(l)),
                    None => linkid_reply(reply, 2, 0, None),
                }
            }
            Cmd::GETNEXT => {
                fail_or!(24);
                let Ok(a) = DlmgmtDoorGetnext::decode(req) else { return err(reply, 24, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let media = DatalinkMedia(a.ld_dmedia);
                let hit = self.links.range(a.ld_linkid + 1..).find(|(_, l)| {
                    self.visible(l, caller)
                        && l.class & a.ld_class != 0
                        && media.accepts(l.media)
                        && l.flags & a.ld_flags != 0
                });
                match hit {
                    Some((id, l)) => linkid_reply(reply, 0, *id, Some(l)),
                    None => linkid_reply(reply, 2, 0, None),
                }
            }
            Cmd::LINKPROP_INIT => {
                fail_or!(4);
                let Ok(a) = DlmgmtDoorLinkpropInit::decode(req) else { return err(reply, 4, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                err(reply, 4, if self.links.contains_key(&a.ld_linkid) { 0 } else { 2 })
            }
            Cmd::SETZONEID => {
                fail_or!(4);
                let Ok(a) = DlmgmtDoorSetzoneid::decode(req) else { return err(reply, 4, 22) };
                self.log.push((cmd, a.ld_linkid, a.ld_zoneid));
                if caller != 0 {
                    return err(reply, 4, 13);
                }
                if a.ld_zoneid != 0 && !zones.contains(&a.ld_zoneid) {
                    return err(reply, 4, 6);
                }
                match self.links.get_mut(&a.ld_linkid) {
                    Some(l) => {
                        l.zone = a.ld_zoneid;
                        err(reply, 4, 0)
                    }
                    None => err(reply, 4, 2),
                }
            }
            _ => {
                let _ = DlmgmtRetval { lr_err: 0 };
                err(reply, 4, 22)
            }
        }
    }
}

/// The fake kernel's state.
#[derive(Default)]
pub struct World {
    /// Zones: id → (incarnation, `zone_status_t`).
    pub zones: BTreeMap<i32, (u64, i32)>,
    macs: BTreeMap<usize, Vec<u8>>,
    next_mh: usize,
    links: BTreeMap<Vec<u8>, FakeLink>,
    /// Perimeters entered and not exited, by MAC name.
    pub perims: BTreeMap<Vec<u8>, u32>,
    /// Perimeter enters in all.
    pub perim_enters: u64,
    /// The next failures of named kernel calls.
    fail: BTreeMap<&'static str, VecDeque<i32>>,
    /// Physical devices softmac can attach: dev_t → held count.
    pub devices: BTreeMap<Dev, u32>,
    /// `softmac_recreate()` calls.
    pub recreates: u32,
    /// Implicit tunnels created: link id → the tunnel's MAC handle.
    pub tunnels: BTreeMap<u32, usize>,
    /// Drivers: major → name.
    pub majors: BTreeMap<u32, Vec<u8>>,
    /// Whether the door is open (dlmgmtd registered).
    pub door_open: bool,
    /// `TQ_NOSLEEP` dispatches fail.
    pub taskq_refuse: bool,
    /// The registered netstack callbacks.
    ns: Option<(NsCreate, NsHook, NsHook)>,
    /// Callback arguments of the stacks created, by zone.
    ns_args: BTreeMap<i32, usize>,
    /// Live kstats: id → (name, zone, link id).
    pub kstats: BTreeMap<usize, (Vec<u8>, i32, u32)>,
    next_ks: usize,
    /// Console messages.
    pub console: Vec<String>,
}

/// The fake kernel and dlmgmtd of one test (or of the C tests' process).
pub struct Env {
    world: Mutex<World>,
    daemon: Mutex<Daemon>,
    tasks: Mutex<u32>,
    tasks_cv: Condvar,
    stall: Mutex<Stall>,
    stall_cv: Condvar,
}

/// A door call made to hang in dlmgmtd, as a wedged daemon's would.
#[derive(Default)]
struct Stall {
    /// The command whose next call hangs (0: any), if armed.
    armed: Option<i32>,
    /// A call is hanging now.
    hanging: bool,
}

impl Env {
    fn new() -> Env {
        let mut w = World { next_mh: 0x1000, next_ks: 0x10, ..World::default() };
        w.zones.insert(0, (0, zone_status::RUNNING));
        Env {
            world: Mutex::new(w),
            daemon: Mutex::new(Daemon { alive: true, ..Daemon::default() }),
            tasks: Mutex::new(0),
            tasks_cv: Condvar::new(),
            stall: Mutex::new(Stall::default()),
            stall_cv: Condvar::new(),
        }
    }

    fn stall_lock(&self) -> MutexGuard<'_, Stall> {
        self.stall.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hangs the calling door call if a stall is armed for `cmd`, until
    /// the test lets it go; no other lock is held meanwhile.
    fn maybe_hang(&self, cmd: i32) {
        let mut s = self.stall_lock();
        if !s.armed.is_some_and(|c| c == cmd || c == 0) {
            return;
        }
        s.armed = None;
        s.hanging = true;
        self.stall_cv.notify_all();
        while s.hanging {
            s = self.stall_cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The kernel's state.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// dlmgmtd's state.
    pub fn daemon(&self) -> MutexGuard<'_, Daemon> {
        self.daemon.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failure(&self, op: &'static str) -> Option<RawErrno> {
        let mut w = self.world();
        let q = w.fail.get_mut(op)?;
        let e = q.pop_front()?;
        RawErrno::new(i64::from(e))
    }

    /// Makes the next call of kernel function `op` fail with `errno`.
    pub fn fail_next(&self, op: &str, errno: i32) {
        let op: &'static str = match op {
            "link_hold_create" => "link_hold_create",
            "link_hold" => "link_hold",
            "link_rele_by_name" => "link_rele_by_name",
            "link_setzid" => "link_setzid",
            "perim_enter" => "perim_enter",
            "mac_rename_primary" => "mac_rename_primary",
            "mac_exclusive" => "mac_exclusive",
            "door_open" => "door_open",
            "iptun_create" => "iptun_create",
            "iptun_delete" => "iptun_delete",
            "kstat_create" => "kstat_create",
            _ => return,
        };
        self.world().fail.entry(op).or_default().push_back(errno);
    }

    /// Registers a MAC; its handle.
    pub fn mac_register(&self, name: &[u8]) -> usize {
        let mut w = self.world();
        w.next_mh += 0x10;
        let mh = w.next_mh;
        w.macs.insert(mh, name.to_vec());
        mh
    }

    /// Boots zone `zid` as incarnation `uniqid` and runs the netstack
    /// create callback for it.
    pub fn zone_boot(&self, zid: i32, uniqid: u64) {
        let cb = {
            let mut w = self.world();
            w.zones.insert(zid, (uniqid, zone_status::RUNNING));
            w.ns
        };
        if let Some((create, _, _)) = cb {
            // SAFETY: the callback is the object's own, registered through
            // netstack_register; it takes any stack id and netstack.
            let arg = unsafe { create(zid, std::ptr::null_mut()) };
            self.world().ns_args.insert(zid, arg as usize);
        }
    }

    /// Halts zone `zid`: shutting down, the netstack shutdown callback,
    /// then down.
    pub fn zone_halt(&self, zid: i32) {
        let (cb, arg) = {
            let mut w = self.world();
            if let Some(z) = w.zones.get_mut(&zid) {
                z.1 = zone_status::SHUTTING_DOWN;
            }
            (w.ns, w.ns_args.get(&zid).copied())
        };
        if let (Some((_, shutdown, _)), Some(arg)) = (cb, arg) {
            // SAFETY: as in zone_boot; `arg` is what create returned.
            unsafe { shutdown(zid, std::ptr::without_provenance_mut(arg)) };
        }
        if let Some(z) = self.world().zones.get_mut(&zid) {
            z.1 = 7;
        }
    }

    /// Destroys zone `zid`: the netstack destroy callback, then the id is
    /// free.
    pub fn zone_destroy(&self, zid: i32) {
        let (cb, arg) = {
            let mut w = self.world();
            (w.ns, w.ns_args.remove(&zid))
        };
        if let (Some((_, _, destroy)), Some(arg)) = (cb, arg) {
            // SAFETY: as in zone_halt.
            unsafe { destroy(zid, std::ptr::without_provenance_mut(arg)) };
        }
        self.world().zones.remove(&zid);
    }

    /// Waits until every dispatched task has run.
    pub fn drain_tasks(&self) {
        let mut n = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
            n = self.tasks_cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// References on the `dls_link_t` of `mac` (`None`: there is none).
    pub fn link_refs(&self, mac: &[u8]) -> Option<(u32, i32)> {
        self.world().links.get(mac).map(|l| (l.refs, l.zone))
    }

    /// Perimeters entered and not yet exited.
    pub fn perims_held(&self) -> u32 {
        self.world().perims.values().sum()
    }
}

/// The host kernel: a handle on an [`Env`].
#[derive(Clone)]
pub struct Host {
    env: Arc<Env>,
}

static GLOBAL: OnceLock<Mutex<Arc<Env>>> = OnceLock::new();

fn global_env() -> Arc<Env> {
    let m = GLOBAL.get_or_init(|| Mutex::new(Arc::new(Env::new())));
    m.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Replaces the process's fake kernel with a fresh one (between C tests).
pub fn reset_global() {
    let m = GLOBAL.get_or_init(|| Mutex::new(Arc::new(Env::new())));
    *m.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(Env::new());
}

impl Default for Host {
    /// The process's fake kernel (the one the C ABI's global uses).
    fn default() -> Self {
        Host { env: global_env() }
    }
}

impl Host {
    /// A fake kernel of its own (unit tests).
    pub fn new() -> Host {
        Host { env: Arc::new(Env::new()) }
    }

    /// Its state.
    pub fn env(&self) -> &Env {
        &self.env
    }

    fn name_of(bytes: &[u8]) -> &[u8] {
        let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        &bytes[..n]
    }
}

/// The fake door.
pub struct HostDoor {
    env: Arc<Env>,
}

impl DoorPort for HostDoor {
    type Door = ();

    fn hold(&self) -> Option<()> {
        let open = self.env.world().door_open;
        (open && self.env.daemon().alive).then_some(())
    }

    fn release(&self, _door: ()) {}

    fn call(&self, _door: &(), req: &[u8], reply: &mut [u8]) -> Result<Delivered, RawErrno> {
        let cmd = req.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        self.env.maybe_hang(cmd);
        let zones: BTreeSet<i32> = self.env.world().zones.keys().copied().collect();
        let mut d = self.env.daemon();
        if !d.alive {
            return Err(raw(Errno::EBADF));
        }
        let n = d.serve(req, reply, &zones);
        if n > reply.len() { Ok(Delivered::Relocated) } else { Ok(Delivered::InPlace(n)) }
    }

    fn revoked(&self, _door: &()) -> bool {
        !self.env.daemon().alive
    }

    fn delay(&self, _usec: u64) {}
}

/// The door of a host kernel (one per [`Host`], sharing its [`Env`]).
impl Host {
    fn door_port(&self) -> &HostDoor {
        // One door per Env, made on first use.
        static DOORS: OnceLock<Mutex<Vec<&'static HostDoor>>> = OnceLock::new();
        let m = DOORS.get_or_init(|| Mutex::new(Vec::new()));
        let mut v = m.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = v.iter().find(|d| Arc::ptr_eq(&d.env, &self.env)) {
            return d;
        }
        let d: &'static HostDoor = Box::leak(Box::new(HostDoor { env: self.env.clone() }));
        v.push(d);
        d
    }
}

struct TaskArg {
    f: TaskFn,
    arg: usize,
    env: Arc<Env>,
}

impl Kernel for Host {
    type Port = HostDoor;

    fn current_zone(&self) -> ZoneId {
        ZoneId(current_zone())
    }

    fn cred_zone(&self, cr: Cred) -> Option<ZoneId> {
        cred_decode(cr.0)
    }

    fn zone_info(&self, zid: ZoneId) -> Option<ZoneInfo> {
        self.env.world().zones.get(&zid.0).map(|&(uniqid, status)| ZoneInfo { uniqid, status })
    }

    fn mac_name(&self, mh: MacHandle, buf: &mut [u8]) -> Option<usize> {
        let w = self.env.world();
        let name = w.macs.get(&mh.0)?;
        let dst = buf.get_mut(..=name.len())?;
        dst[..name.len()].copy_from_slice(name);
        dst[name.len()] = 0;
        Some(name.len())
    }

    fn perim_enter_mh(&self, mh: MacHandle) -> Perim {
        let mut w = self.env.world();
        let name = w.macs.get(&mh.0).cloned().unwrap_or_default();
        *w.perims.entry(name).or_default() += 1;
        w.perim_enters += 1;
        Perim(mh.0)
    }

    fn perim_enter_by_macname(&self, mac: &[u8]) -> KernResult<Perim> {
        if let Some(e) = self.env.failure("perim_enter") {
            return Err(e);
        }
        let name = Self::name_of(mac).to_vec();
        let mut w = self.env.world();
        // A MAC that exists: a registered one or one with a dls_link_t.
        let mh = w.macs.iter().find(|(_, n)| **n == name).map(|(h, _)| *h);
        if mh.is_none() && !w.links.contains_key(&name) {
            return Err(raw(Errno::ENOENT));
        }
        *w.perims.entry(name).or_default() += 1;
        w.perim_enters += 1;
        Ok(Perim(mh.unwrap_or(1)))
    }

    fn perim_exit(&self, p: Perim) {
        let mut w = self.env.world();
        let name = w.macs.get(&p.0).cloned();
        let key = match name {
            Some(n) => Some(n),
            None => w.perims.iter().find(|(_, c)| **c > 0).map(|(n, _)| n.clone()),
        };
        if let Some(k) = key
            && let Some(c) = w.perims.get_mut(&k)
        {
            *c = c.saturating_sub(1);
        }
    }

    fn mac_rename_primary(&self, _mac: &[u8], _name: &[u8]) -> KernResult<()> {
        match self.env.failure("mac_rename_primary") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn mac_exclusive(&self, _mac: &[u8], _on: bool) -> KernResult<()> {
        match self.env.failure("mac_exclusive") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn link_hold_create(&self, mac: &[u8]) -> KernResult<DlsLinkPtr> {
        if let Some(e) = self.env.failure("link_hold_create") {
            return Err(e);
        }
        let name = Self::name_of(mac).to_vec();
        let mut w = self.env.world();
        let l = w.links.entry(name.clone()).or_insert_with(|| {
            let mut mem = Box::new([0u8; 256]);
            mem[..name.len()].copy_from_slice(&name);
            FakeLink { mem, refs: 0, zone: 0, dev: 0 }
        });
        l.refs += 1;
        if l.dev == 0 {
            l.dev = 0xdead_0000_0000 | (l.mem.as_ptr() as u64 & 0xffff);
        }
        Ok(DlsLinkPtr(l.mem.as_ptr() as usize))
    }

    fn link_hold(&self, mac: &[u8]) -> KernResult<DlsLinkPtr> {
        if let Some(e) = self.env.failure("link_hold") {
            return Err(e);
        }
        let mut w = self.env.world();
        let l = w.links.get_mut(Self::name_of(mac)).ok_or(raw(Errno::ENOENT))?;
        l.refs += 1;
        Ok(DlsLinkPtr(l.mem.as_ptr() as usize))
    }

    fn link_rele(&self, dlp: DlsLinkPtr) {
        let mut w = self.env.world();
        let key =
            w.links.iter().find(|(_, l)| l.mem.as_ptr() as usize == dlp.0).map(|(k, _)| k.clone());
        let Some(k) = key else {
            w.console.push("fake kernel: dls_link_rele of an unknown dls_link_t".to_string());
            return;
        };
        if let Some(l) = w.links.get_mut(&k) {
            if l.refs == 0 {
                w.console.push("fake kernel: dls_link_t reference underflow".to_string());
                return;
            }
            l.refs -= 1;
            if l.refs == 0 {
                w.links.remove(&k);
            }
        }
    }

    fn link_rele_by_name(&self, mac: &[u8]) -> KernResult<()> {
        if let Some(e) = self.env.failure("link_rele_by_name") {
            return Err(e);
        }
        let name = Self::name_of(mac).to_vec();
        let mut w = self.env.world();
        let l = w.links.get_mut(&name).ok_or(raw(Errno::ENOENT))?;
        l.refs = l.refs.saturating_sub(1);
        if l.refs == 0 {
            w.links.remove(&name);
        }
        Ok(())
    }

    fn link_setzid(&self, mac: &[u8], zid: ZoneId) -> KernResult<()> {
        if let Some(e) = self.env.failure("link_setzid") {
            return Err(e);
        }
        let mut w = self.env.world();
        let l = w.links.get_mut(Self::name_of(mac)).ok_or(raw(Errno::ENOENT))?;
        l.zone = zid.0;
        Ok(())
    }

    fn link_dev(&self, dlp: DlsLinkPtr) -> Dev {
        let w = self.env.world();
        w.links.values().find(|l| l.mem.as_ptr() as usize == dlp.0).map_or(0, |l| l.dev)
    }

    fn link_find(&self, mac: &[u8]) -> Option<DlsLinkPtr> {
        let w = self.env.world();
        w.links.get(Self::name_of(mac)).map(|l| DlsLinkPtr(l.mem.as_ptr() as usize))
    }

    fn major_to_name(&self, major: u32, buf: &mut [u8]) -> Option<usize> {
        let w = self.env.world();
        let n = w.majors.get(&major)?;
        buf.get_mut(..n.len())?.copy_from_slice(n);
        Some(n.len())
    }

    fn name_to_major(&self, name: &[u8]) -> Option<u32> {
        let name = Self::name_of(name);
        self.env.world().majors.iter().find(|(_, n)| n.as_slice() == name).map(|(m, _)| *m)
    }

    fn door(&self) -> &HostDoor {
        self.door_port()
    }

    fn door_open(&self) -> KernResult<()> {
        if let Some(e) = self.env.failure("door_open") {
            return Err(e);
        }
        if !self.env.daemon().alive {
            return Err(raw(Errno::ENOENT));
        }
        self.env.world().door_open = true;
        Ok(())
    }

    fn door_close(&self) {
        self.env.world().door_open = false;
    }

    fn softmac_recreate(&self) {
        self.env.world().recreates += 1;
    }

    fn softmac_hold_device(&self, dev: Dev) -> KernResult<DevHold> {
        let (maj, inst) = (crate::seam::getmajor(dev), crate::seam::getminor(dev).wrapping_sub(1));
        let name = {
            let mut w = self.env.world();
            let c = w.devices.get_mut(&dev).ok_or(raw(Errno::ENOENT))?;
            *c += 1;
            let drv = w.majors.get(&maj).cloned().unwrap_or_default();
            let name = [drv, inst.to_string().into_bytes()].concat();
            (!w.macs.values().any(|n| *n == name)).then_some(name)
        };
        // The device attaches: as softmac does then, its MAC registers
        // and, if dlmgmtd has a physical link of this device, the link is
        // created (through the global object's C entry point, as the
        // tunnels are).
        let phys = Some((u64::from(maj), u64::from(inst)));
        let id = self.env.daemon().links.iter().find_map(|(id, l)| {
            (l.class == DatalinkClass::PHYS.0 && l.phys == phys).then_some(*id)
        });
        if let (Some(name), Some(id)) = (name, id) {
            let mh = self.env.mac_register(&name);
            let r = crate::abi::dls_devnet_create(std::ptr::without_provenance_mut(mh), id, 0);
            if r != 0 {
                self.env.world().macs.remove(&mh);
            }
        }
        Ok(DevHold(dev as usize))
    }

    fn softmac_rele_device(&self, h: DevHold) {
        if let Some(c) = self.env.world().devices.get_mut(&(h.0 as Dev)) {
            *c = c.saturating_sub(1);
        }
    }

    fn iptun_create_implicit(&self, linkid: LinkId, _kind: u32) -> KernResult<()> {
        if let Some(e) = self.env.failure("iptun_create") {
            return Err(e);
        }
        // As iptun_create() does: register the tunnel's MAC, then create
        // its link in the caller's zone through the object's C entry
        // point (the global object's: tunnels exist in the C tests only).
        let mh = self.env.mac_register(std::format!("iptun{}", linkid.0).as_bytes());
        let r = crate::abi::dls_devnet_create(
            std::ptr::without_provenance_mut(mh),
            linkid.0,
            current_zone(),
        );
        if r != 0 {
            self.env.world().macs.remove(&mh);
            return Err(RawErrno::new(i64::from(r)).unwrap_or(raw(Errno::EINVAL)));
        }
        self.env.world().tunnels.insert(linkid.0, mh);
        Ok(())
    }

    fn iptun_delete(&self, linkid: LinkId) -> KernResult<()> {
        if let Some(e) = self.env.failure("iptun_delete") {
            return Err(e);
        }
        let mh = self.env.world().tunnels.get(&linkid.0).copied().ok_or(raw(Errno::ENOENT))?;
        // As iptun_delete() does: destroy the link, then unregister.
        let mut id = 0u32;
        // SAFETY: `id` is a valid place for the link id.
        let r = unsafe {
            crate::abi::dls_devnet_destroy(std::ptr::without_provenance_mut(mh), &mut id, 1)
        };
        if r != 0 {
            return Err(RawErrno::new(i64::from(r)).unwrap_or(raw(Errno::EINVAL)));
        }
        let mut w = self.env.world();
        w.tunnels.remove(&linkid.0);
        w.macs.remove(&mh);
        Ok(())
    }

    fn dispatch(&self, f: TaskFn, arg: *mut c_void, sleep: bool) -> bool {
        if !sleep && self.env.world().taskq_refuse {
            return false;
        }
        *self.env.tasks.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let t = TaskArg { f, arg: arg as usize, env: self.env.clone() };
        std::thread::spawn(move || {
            // Task-queue threads act for the global zone.
            set_current_zone(0);
            // SAFETY: `f` and `arg` were handed to dispatch as a task.
            unsafe { (t.f)(std::ptr::without_provenance_mut(t.arg)) };
            let mut n = t.env.tasks.lock().unwrap_or_else(|p| p.into_inner());
            *n -= 1;
            drop(n);
            t.env.tasks_cv.notify_all();
        });
        true
    }

    fn netstack_register(&self, create: NsCreate, shutdown: NsHook, destroy: NsHook) {
        let running: Vec<i32> = {
            let mut w = self.env.world();
            w.ns = Some((create, shutdown, destroy));
            w.zones.keys().copied().collect()
        };
        for zid in running {
            // SAFETY: as in Env::zone_boot.
            let arg = unsafe { create(zid, std::ptr::null_mut()) };
            self.env.world().ns_args.insert(zid, arg as usize);
        }
    }

    fn netstack_unregister(&self) {
        let (cb, args) = {
            let mut w = self.env.world();
            (w.ns.take(), std::mem::take(&mut w.ns_args))
        };
        if let Some((_, shutdown, destroy)) = cb {
            for (zid, arg) in args {
                // SAFETY: as in Env::zone_halt.
                unsafe {
                    shutdown(zid, std::ptr::without_provenance_mut(arg));
                    destroy(zid, std::ptr::without_provenance_mut(arg));
                }
            }
        }
    }

    fn netstack_zone(&self, stackid: i32) -> ZoneId {
        ZoneId(stackid)
    }

    fn kstat_create(
        &self,
        name: &[u8],
        zid: ZoneId,
        linkid: LinkId,
        _update: KstatUpdate,
    ) -> Option<Kstat> {
        if self.env.failure("kstat_create").is_some() {
            return None;
        }
        let mut w = self.env.world();
        w.next_ks += 1;
        let id = w.next_ks;
        w.kstats.insert(id, (Self::name_of(name).to_vec(), zid.0, linkid.0));
        Some(Kstat(id))
    }

    fn kstat_delete(&self, ks: Kstat) {
        let mut w = self.env.world();
        if w.kstats.remove(&ks.0).is_none() {
            w.console.push("fake kernel: kstat_delete of an unknown kstat".to_string());
        }
    }

    fn kstat_linkid(&self, ksp: *mut c_void) -> LinkId {
        LinkId(self.env.world().kstats.get(&(ksp as usize)).map_or(0, |k| k.2))
    }

    fn kstat_update(&self, _ksp: *mut c_void, _dlp: DlsLinkPtr, _rw: c_int) -> c_int {
        0
    }

    fn warn(&self, msg: &'static CStr) {
        let m = msg.to_string_lossy();
        self.env.world().console.push(std::format!("WARNING: {m}"));
    }

    fn note(&self, msg: &'static CStr) {
        let m = msg.to_string_lossy();
        self.env.world().console.push(std::format!("NOTICE: {m}"));
    }
}

/// Credentials of the fake kernel: an address-like value per zone.
const CRED_BASE: usize = 0x7c00_0000;

fn cred_of(zid: i32) -> usize {
    CRED_BASE + (zid as usize) * 16
}

fn cred_decode(v: usize) -> Option<ZoneId> {
    let off = v.checked_sub(CRED_BASE)?;
    if off % 16 != 0 {
        return None;
    }
    i32::try_from(off / 16).ok().filter(|z| *z <= 9999).map(ZoneId)
}

// ---- the C tests' control functions ------------------------------------------

fn env() -> Arc<Env> {
    global_env()
}

/// # Safety
///
/// `p` is NULL or a C string.
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: by the contract.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Replaces the fake kernel and dlmgmtd with fresh ones. Call with dls
/// not initialised (before `dls_mgmt_init()` or after `dls_mgmt_fini()`).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_reset() {
    reset_global();
    set_current_zone(0);
}

/// Makes the calling thread act for zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_set_zone(zid: c_int) {
    set_current_zone(zid);
}

/// A credential of zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_cred(zid: c_int) -> *const c_void {
    std::ptr::without_provenance(cred_of(zid))
}

/// Boots zone `zid` as incarnation `uniqid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_boot(zid: c_int, uniqid: u64) {
    env().zone_boot(zid, uniqid);
}

/// Sets zone `zid`'s status without callbacks (e.g. 2, ready).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_status(zid: c_int, status: c_int) {
    if let Some(z) = env().world().zones.get_mut(&zid) {
        z.1 = status;
    }
}

/// Zone `zid`'s `zone_status_t`, or -1 when the kernel has no zone of that
/// id (what `zone_find_by_id()` would not find).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_state(zid: c_int) -> c_int {
    env().world().zones.get(&zid).map_or(-1, |z| z.1)
}

/// Halts zone `zid` (its netstack shutdown).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_halt(zid: c_int) {
    env().zone_halt(zid);
}

/// Destroys zone `zid` (its netstack destroy; the id becomes free).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_destroy(zid: c_int) {
    env().zone_destroy(zid);
}

/// Registers a MAC named `name`; its `mac_handle_t`.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_mac(name: *const c_char) -> *mut c_void {
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) };
    std::ptr::without_provenance_mut(env().mac_register(n))
}

/// References on the `dls_link_t` of `mac`; -1 if there is none.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_link_refs(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    env().link_refs(unsafe { bytes(mac) }).map_or(-1, |(r, _)| r as c_int)
}

/// The data-path zone of the `dls_link_t` of `mac`; -1 if none.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_link_zone(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    env().link_refs(unsafe { bytes(mac) }).map_or(-1, |(_, z)| z)
}

/// Makes the next call of kernel function `op` fail with `errno`.
///
/// # Safety
///
/// `op` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_fail_next(op: *const c_char, errno: c_int) {
    // SAFETY: by the contract.
    let op = String::from_utf8_lossy(unsafe { bytes(op) }).into_owned();
    env().fail_next(&op, errno);
}

/// Perimeters entered and not exited.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_perims_held() -> c_int {
    env().perims_held() as c_int
}

/// Waits for every queued task.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_taskq_drain() {
    env().drain_tasks();
}

/// Makes `TQ_NOSLEEP` dispatches fail (`refuse` non-zero) or succeed.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_taskq_refuse(refuse: c_int) {
    env().world().taskq_refuse = refuse != 0;
}

/// Live "link" kstats named `name` in zone `zid`.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_kstats(name: *const c_char, zid: c_int) -> c_int {
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) };
    env().world().kstats.values().filter(|k| k.0 == n && k.1 == zid).count() as c_int
}

/// All live "link" kstats.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_kstats_total() -> c_int {
    env().world().kstats.len() as c_int
}

/// Console messages so far.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_console_lines() -> c_int {
    env().world().console.len() as c_int
}

/// Messages of the fake kernel itself about misuse it saw (reference
/// underflows, unknown objects): a correct object causes none.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_kernel_complaints() -> c_int {
    env().world().console.iter().filter(|l| l.starts_with("fake kernel:")).count() as c_int
}

/// A physical device softmac can attach: driver `drv` with major `major`,
/// instance `inst`.
///
/// # Safety
///
/// `drv` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_device(drv: *const c_char, major: u32, inst: u32) {
    // SAFETY: by the contract.
    let d = unsafe { bytes(drv) }.to_vec();
    let e = env();
    let mut w = e.world();
    w.majors.insert(major, d);
    w.devices.insert(crate::seam::makedevice(major, inst + 1), 0);
}

/// `softmac_recreate()` calls so far.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_softmac_recreates() -> c_int {
    env().world().recreates as c_int
}

/// Whether implicit tunnel `linkid` exists.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_tunnel(linkid: u32) -> c_int {
    env().world().tunnels.contains_key(&linkid) as c_int
}

/// Starts dlmgmtd (its door can then be registered).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_start() {
    env().daemon().alive = true;
}

/// Kills dlmgmtd: its door is revoked; upcalls fail with `EBADF`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_kill() {
    env().daemon().alive = false;
}

/// Adds a link record to dlmgmtd (as `dladm create-*` does before the
/// kernel create); its id. `phymaj` 0: not physical.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_dlmgmtd_add(
    name: *const c_char,
    class: u32,
    flags: u32,
    zid: c_int,
    phymaj: u64,
    phyinst: u64,
) -> u32 {
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) };
    let phys = (phymaj != 0).then_some((phymaj, phyinst));
    env().daemon().add(n, class, flags, zid, phys)
}

/// The zone dlmgmtd has link `linkid` in; -2 if it has no such link.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_zone(linkid: u32) -> c_int {
    env().daemon().links.get(&linkid).map_or(-2, |l| l.zone)
}

/// How many commands `cmd` dlmgmtd served (0: all commands).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_calls(cmd: c_int) -> c_int {
    env().daemon().log.iter().filter(|(c, _, _)| cmd == 0 || *c == cmd).count() as c_int
}

/// A digest of dlmgmtd's link records (id, name, class, media, flags,
/// zone, device) and whether it runs: equal digests, equal records.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_digest() -> u64 {
    let d = env();
    let d = d.daemon();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&[u8::from(d.alive)]);
    for (id, l) in &d.links {
        eat(&id.to_ne_bytes());
        eat(&l.name);
        eat(&[0]);
        eat(&l.class.to_ne_bytes());
        eat(&l.media.to_ne_bytes());
        eat(&l.flags.to_ne_bytes());
        eat(&l.zone.to_ne_bytes());
        let (maj, inst) = l.phys.unwrap_or((0, 0));
        eat(&maj.to_ne_bytes());
        eat(&inst.to_ne_bytes());
    }
    h
}

/// Renames link `linkid` in dlmgmtd (what libdladm has dlmgmtd do before
/// `DLDIOC_RENAME`): 0, or `ENOENT` if dlmgmtd has no such link.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_dlmgmtd_rename(linkid: u32, name: *const c_char) -> c_int {
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) }.to_vec();
    match env().daemon().links.get_mut(&linkid) {
        Some(l) => {
            l.name = n;
            0
        }
        None => Errno::ENOENT.to_raw(),
    }
}

/// Makes dlmgmtd answer its next command `cmd` (0: any) with `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_fail_next(cmd: c_int, errno: u32) {
    env().daemon().fail.push_back((cmd, errno));
}

/// Makes dlmgmtd's next door call of command `cmd` (0: any) hang until
/// [`dlszone_host_dlmgmtd_unstall`], as a wedged daemon's would.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_stall(cmd: c_int) {
    env().stall_lock().armed = Some(cmd);
}

/// Waits up to 10 seconds for a door call to hang; whether one does.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_hanging() -> c_int {
    let e = env();
    let s = e.stall_lock();
    let (s, _) = e
        .stall_cv
        .wait_timeout_while(s, std::time::Duration::from_secs(10), |s| !s.hanging)
        .unwrap_or_else(|p| p.into_inner());
    c_int::from(s.hanging)
}

/// Lets the hanging door call go on (and disarms a stall not yet hit).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_unstall() {
    let e = env();
    let mut s = e.stall_lock();
    s.armed = None;
    s.hanging = false;
    e.stall_cv.notify_all();
}

/// Waits for the global object's queued tasks too (replays, property
/// tasks) and returns the number of notices still queued.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_settle() -> c_int {
    env().drain_tasks();
    crate::abi::global().map_or(0, |d| {
        d.wait_tasks();
        d.registry().outbox().len() as c_int
    })
}
