//! The host seam: a fake illumos kernel around `dls_mgmt.o`, and behind
//! its door the fake dlmgmtd of `dlmgmtd.rs`, which decodes the kernel's
//! requests and encodes its replies with the same door structures the
//! kernel uses, so the host tests exercise the wire protocol end to end.
//!
//! Everything here is `std`, host-only, and scriptable: zones boot, halt
//! and go (a booting zone's netstack is created while the zone is not yet
//! visible, as in illumos); MACs register; `dls_link_t`s are
//! reference-counted records whose first bytes are their MAC name (as
//! `dl_name` is), with gate's extra reference while a data path is in a
//! non-global zone; perimeters count enters and exits; the task queue
//! runs tasks on threads and can refuse `TQ_NOSLEEP`; any kernel call or
//! dlmgmtd command can be made to fail once with a chosen errno. The C
//! tests drive it through the `dlszone_host_*` functions at the end
//! (declared in `tests/c/abi/dlszone_host.h`). kload's emulated illumos
//! kernel offers the same functions over the real object
//! (`tools/kload/src/dls/`).

use std::boxed::Box;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::vec::Vec;

use dlszone::door::RawErrno;
use dlszone::door::upcall::{Delivered, DoorPort};
use dlszone::errno::Errno;
use dlszone::registry::{LinkId, ZoneId};

use crate::dlmgmtd::{Daemon, command};
use crate::door_faults::FaultPlan;
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
    /// Which door upcall fails, and how (`door_faults.rs`).
    faults: Mutex<FaultPlan>,
    /// The door to this fake dlmgmtd.
    door: HostDoor,
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
    fn new() -> Arc<Env> {
        let mut w = World { next_mh: 0x1000, next_ks: 0x10, ..World::default() };
        w.zones.insert(0, (0, zone_status::RUNNING));
        Arc::new_cyclic(|me| Env {
            world: Mutex::new(w),
            daemon: Mutex::new(Daemon::running()),
            tasks: Mutex::new(0),
            tasks_cv: Condvar::new(),
            stall: Mutex::new(Stall::default()),
            stall_cv: Condvar::new(),
            faults: Mutex::new(FaultPlan::default()),
            door: HostDoor { env: me.clone() },
        })
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

    /// The door's fault plan (`door_faults.rs`).
    pub fn faults(&self) -> MutexGuard<'_, FaultPlan> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A caller drops a `dls_link_t` reference it holds (`dls_link_rele()`).
    #[unsafe(no_mangle)]
    pub extern "C" fn dlszone_host_link_rele(dlp: *mut c_void) {
        Host::default().link_rele(DlsLinkPtr(dlp as usize));
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
    /// create callback for it, as illumos does: while the zone is
    /// `ZONE_IS_INITIALIZED` (zsched runs the ZSD constructors, the
    /// netstack framework's among them), which `zone_find_by_id()` does
    /// not return; then the zone is running.
    pub fn zone_boot(&self, zid: i32, uniqid: u64) {
        let cb = {
            let mut w = self.world();
            w.zones.insert(zid, (uniqid, zone_status::INITIALIZED));
            w.ns
        };
        if let Some((create, _, _)) = cb {
            // SAFETY: the callback is the object's own, registered through
            // netstack_register; it takes any stack id and netstack.
            let arg = unsafe { create(zid, std::ptr::null_mut()) };
            self.world().ns_args.insert(zid, arg as usize);
        }
        if let Some(z) = self.world().zones.get_mut(&zid) {
            z.1 = zone_status::RUNNING;
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
            z.1 = zone_status::DOWN;
        }
    }

    /// Destroys zone `zid`: the netstack destroy callback, then the id is
    /// free. A zone never halted is halted first, as illumos'
    /// `netstack_stack_inactive()` runs a shutdown callback that did not
    /// run before the destroy callbacks.
    pub fn zone_destroy(&self, zid: i32) {
        let halted = self.world().zones.get(&zid).is_none_or(|z| z.1 >= zone_status::SHUTTING_DOWN);
        if !halted {
            self.zone_halt(zid);
        }
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
    let m = GLOBAL.get_or_init(|| Mutex::new(Env::new()));
    m.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Replaces the process's fake kernel with a fresh one (between C tests).
pub fn reset_global() {
    let m = GLOBAL.get_or_init(|| Mutex::new(Env::new()));
    *m.lock().unwrap_or_else(|p| p.into_inner()) = Env::new();
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
        Host { env: Env::new() }
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

/// The fake door, part of its [`Env`], which it reaches through a weak
/// reference (so an `Env` and its door go together when the last `Host`
/// of it does: a fuzzer's millions of fresh `Env`s are freed, and no
/// global list of doors grows).
pub struct HostDoor {
    env: Weak<Env>,
}

impl DoorPort for HostDoor {
    type Door = ();

    fn hold(&self) -> Option<()> {
        let env = self.env.upgrade()?;
        if env.faults().on_hold() {
            return None;
        }
        let open = env.world().door_open;
        (open && env.daemon().alive).then_some(())
    }

    fn release(&self, _door: ()) {
        if let Some(env) = self.env.upgrade() {
            env.faults().on_release();
        }
    }

    fn call(&self, _door: &(), req: &[u8], reply: &mut [u8]) -> Result<Delivered, RawErrno> {
        let Some(env) = self.env.upgrade() else { return Err(raw(Errno::EBADF)) };
        let fault = env.faults().on_call(req);
        if let Some(e) = fault.refusal() {
            if fault.kills_daemon() {
                env.daemon().alive = false;
            }
            return Err(e);
        }
        fault.stall();
        env.maybe_hang(command(req));
        let zones: BTreeSet<i32> = env.world().zones.keys().copied().collect();
        let mut d = env.daemon();
        if !d.alive {
            return Err(raw(Errno::EBADF));
        }
        let answer = d.serve(current_zone(), req, &zones);
        if fault.kills_daemon() {
            d.alive = false;
        }
        drop(d);
        let delivered = match reply.get_mut(..answer.len()) {
            Some(r) => {
                r.copy_from_slice(&answer);
                Delivered::InPlace(answer.len())
            }
            None => Delivered::Relocated,
        };
        fault.finish(reply, delivered)
    }

    fn revoked(&self, _door: &()) -> bool {
        let Some(env) = self.env.upgrade() else { return true };
        let revoked = !env.daemon().alive;
        env.faults().on_revoked(revoked);
        revoked
    }

    fn delay(&self, _usec: u64) {}
}

/// The door of a host kernel (one per [`Env`], shared by its [`Host`]s).
impl Host {
    fn door_port(&self) -> &HostDoor {
        &self.env.door
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

    /// As `zone_find_by_id()`: only zones `ZONE_IS_READY` to
    /// `ZONE_IS_DOWN` exist.
    fn zone_info(&self, zid: ZoneId) -> Option<ZoneInfo> {
        let w = self.env.world();
        let &(uniqid, status) = w.zones.get(&zid.0)?;
        (zone_status::READY..=zone_status::DOWN)
            .contains(&status)
            .then_some(ZoneInfo { uniqid, status })
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
        // As gate's dls_link_setzid(): the dls_link_t keeps one more
        // reference while its data path is in a non-global zone; and a
        // "move" from the global zone to the global zone keeps the
        // reference its hold_create took (the caller must not ask).
        let name = Self::name_of(mac).to_vec();
        let old = self.env.world().links.get(&name).ok_or(raw(Errno::ENOENT))?.zone;
        if old == zid.0 {
            if let Some(l) = self.env.world().links.get_mut(&name).filter(|_| old == 0) {
                l.refs += 1;
            }
            return Ok(());
        }
        // The failure gate reports (EBUSY: streams opened in the zone).
        if let Some(e) = self.env.failure("link_setzid") {
            return Err(e);
        }
        let mut w = self.env.world();
        let l = w.links.get_mut(&name).ok_or(raw(Errno::ENOENT))?;
        l.zone = zid.0;
        if old == 0 && zid.0 != 0 {
            l.refs += 1;
        } else if old != 0 && zid.0 == 0 {
            l.refs -= 1;
            if l.refs == 0 {
                w.links.remove(&name);
            }
        }
        Ok(())
    }

    fn link_getzid(&self, mac: &[u8]) -> KernResult<ZoneId> {
        let w = self.env.world();
        w.links.get(Self::name_of(mac)).map(|l| ZoneId(l.zone)).ok_or(raw(Errno::ENOENT))
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
        let id = self.env.daemon().phys_link(u64::from(maj), u64::from(inst));
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

/// Boots zone `zid` as incarnation `uniqid`; that incarnation (the host
/// kernel's datalink code knows a zone by its `zone_uniqid`).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_boot(zid: c_int, uniqid: u64) -> u64 {
    env().zone_boot(zid, uniqid);
    uniqid
}

/// The incarnation the host kernel's datalink code knows zone `zid` by:
/// its `zone_uniqid` (0 for no such zone).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_incarnation(zid: c_int) -> u64 {
    env().world().zones.get(&zid).map_or(0, |z| z.0)
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

/// The calling thread enters the perimeter of MAC `mac` (as dld does
/// around `dls_devnet_hold_link()`); 0, or `ENOENT` for no such MAC.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_perim_enter(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    let n = unsafe { bytes(mac) };
    let h = Host::default();
    match h.perim_enter_by_macname(n) {
        Ok(_) => 0,
        Err(e) => e.get(),
    }
}

/// Leaves a perimeter [`dlszone_host_perim_enter`] entered; 0, or
/// `ENOENT` if none is entered for `mac`.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_perim_exit(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    let n = unsafe { bytes(mac) };
    let e = env();
    let mut w = e.world();
    match w.perims.get_mut(n) {
        Some(c) if *c > 0 => {
            *c -= 1;
            0
        }
        _ => Errno::ENOENT.to_raw(),
    }
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

/// Kills dlmgmtd: its door is revoked; upcalls fail with `EBADF` until a
/// restarted dlmgmtd registers again (`dls_mgmt_door_set()`).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_kill() {
    let e = env();
    e.daemon().alive = false;
    // Its door is revoked: the kernel's registration is dead until the
    // restarted dlmgmtd registers its new door.
    e.world().door_open = false;
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
    env().daemon().digest()
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
    env().daemon().fail_next(cmd, errno);
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
