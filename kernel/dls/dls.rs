//! The object's state: the registry, the handle table, what `dls_mgmt.c`
//! keeps per link beyond the registry's record (kstats, the property
//! task), and the glue that lets the registry reach dlmgmtd and the task
//! queue through the seam.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::ffi::c_void;

use dlszone::door::upcall;
use dlszone::errno::{Errno, KResult};
use dlszone::registry::{
    Defer, Dlmgmt, LinkId, LinkName, MacName, Notice, Registry, ZoneId, ZoneKey,
};
use dlszone::sync::atomic::{AtomicU64, Ordering};
use dlszone::sync::{Condvar, Mutex};

use crate::devnet::fill;
use crate::handles::Handles;
use crate::seam::{Kernel, Kstat, KstatUpdate, zone_status};

/// A result with any illumos errno.
pub type CResult<T> = Result<T, Errno>;

/// What `dls_mgmt.c` keeps per link that the registry does not.
pub(crate) struct Extra {
    /// The MAC name, to find the `dls_link_t` after the registry let go.
    pub(crate) mac: MacName,
    /// The "link" kstat in the owner zone, and the one in the current
    /// zone while it differs.
    pub(crate) kstats: [Option<(Kstat, ZoneId)>; 2],
    /// The property task (`LINKPROP_INIT`) has not finished.
    pub(crate) prop_pending: bool,
    /// An IP tunnel a `/dev/net` open created: deleted when its last
    /// holder lets go (gate's `DD_IMPLICIT_IPTUN`).
    pub(crate) implicit: bool,
}

/// A link destroyed here, remembered so that a create of the same MAC
/// and id right after (a driver whose `mac_disable()` failed re-creates
/// the link) restores it as it was instead of re-owning it to the caller.
#[derive(Clone)]
pub(crate) struct Tombstone {
    pub(crate) mac: MacName,
    pub(crate) linkid: LinkId,
    pub(crate) owner: ZoneId,
    pub(crate) name: LinkName,
    pub(crate) persistent: bool,
}

/// Tombstones kept (the newest win).
const TOMBSTONES: usize = 16;

/// A map kept as a vector sorted by key, searched by bisection: no
/// rebalancing code (each trap site of a tree is one more in the object,
/// docs/build.md "Panics"). It changes only at create and destroy.
pub(crate) struct SortedMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Inserts or replaces; the old value, if any. Allocates.
    pub(crate) fn insert(&mut self, key: K, v: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => self.0.get_mut(i).map(|slot| core::mem::replace(&mut slot.1, v)),
            Err(i) => {
                // Vec::insert and Vec::remove check their index with a
                // trap site each; a rotation of the checked tail does not.
                self.0.push((key, v));
                if let Some(tail) = self.0.get_mut(i..).filter(|t| !t.is_empty()) {
                    tail.rotate_right(1);
                }
                None
            }
        }
    }

    /// Removes and returns the value of `key`.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        self.0.get_mut(i..).filter(|t| !t.is_empty())?.rotate_left(1);
        self.0.pop().map(|(_, v)| v)
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key).ok()?;
        self.0.get(i).map(|(_, v)| v)
    }

    /// The value of `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key).ok()?;
        self.0.get_mut(i).map(|(_, v)| v)
    }
}

/// The extras by link id.
pub(crate) type LinkMap = SortedMap<LinkId, Extra>;

#[derive(Default)]
pub(crate) struct Side {
    pub(crate) links: LinkMap,
    pub(crate) tombstones: VecDeque<Tombstone>,
    /// MACs whose `dls_devnet_create()`s hold their `dls_link_t` (until
    /// their `dls_devnet_destroy()`s), whether or not their link is still
    /// in the registry (it may have gone with its zone): how many.
    pub(crate) created: SortedMap<MacName, u32>,
}

/// Counters the IPD 3 interface reports (`dls_devnet_counters()`).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) nomem: AtomicU64,
    pub(crate) leaked_at_fini: AtomicU64,
}

/// One `dls_mgmt.o`: in the kernel a single global; tests make many.
pub struct Dls<K: Kernel> {
    pub(crate) k: K,
    pub(crate) reg: Registry,
    pub(crate) handles: Handles,
    pub(crate) side: Mutex<Side>,
    /// Signalled when a property task finishes.
    pub(crate) prop_done: Condvar,
    pub(crate) counters: Counters,
    /// The kstat update callback (the ABI's; none in unit tests).
    pub(crate) kstat_update: Option<KstatUpdate>,
    /// Set whenever a link gets or loses an id or changes zone
    /// (`devnet_need_rebuild`).
    pub(crate) rebuild: dlszone::sync::atomic::AtomicBool,
    /// A growth of the handle table is queued.
    pub(crate) growing: dlszone::sync::atomic::AtomicBool,
    /// Tasks queued and not yet finished: `dls_mgmt_fini()` waits for
    /// them (their code is in this module).
    pub(crate) tasks: Mutex<u32>,
    pub(crate) tasks_done: Condvar,
    /// Weak self, for tasks queued on the kernel's task queue.
    pub(crate) me: Weak<Dls<K>>,
    /// What `dls_devnet_snapshot()`'s generation was last given for.
    pub(crate) view: Mutex<crate::queries::View>,
}

/// The registry's door: notices become upcalls through the seam.
struct Notifier<K: Kernel>(K);

impl<K: Kernel> Dlmgmt for Notifier<K> {
    fn deliver(&self, notice: &Notice) -> KResult<()> {
        let port = self.0.door();
        let r = match *notice {
            Notice::SetZone { link, zone } => upcall::setzoneid(port, link.0, zone.0),
            // The link went away with its zone: dlmgmtd forgets it. It is
            // not persistent (only transient links are torn down).
            Notice::LinkGone { link, .. } => upcall::destroy(port, link.0, false),
        };
        match r {
            Ok(()) => Ok(()),
            // dlmgmtd no longer has the link: what the notice says holds.
            Err(e) if e.is(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.to_errno()),
        }
    }
}

/// The registry's deferred replays run on the task queue.
struct TaskqDefer<K: Kernel>(Weak<Dls<K>>);

impl<K: Kernel> Defer for TaskqDefer<K> {
    fn replay_later(&self) {
        if let Some(d) = self.0.upgrade() {
            d.queue(Job::Replay, false);
        }
    }
}

/// Work for the task queue.
pub(crate) enum Job {
    /// Deliver the outbox (`dls_mgmt_outbox_replay()`).
    Replay,
    /// `LINKPROP_INIT` for a new link, then wake its waiters.
    PropInit(LinkId),
    /// Grow the handle table.
    Grow,
}

struct Task<K: Kernel> {
    dls: Arc<Dls<K>>,
    job: Job,
}

/// The task-queue entry point.
///
/// # Safety
///
/// `arg` is a pointer from `Box::into_raw` of a `Task<K>` made by
/// [`Dls::queue`], passed exactly once.
unsafe extern "C" fn run_task<K: Kernel>(arg: *mut c_void) {
    // SAFETY: by the contract above, `arg` owns a boxed `Task<K>` that
    // nothing else will free.
    let task = unsafe { Box::from_raw(arg.cast::<Task<K>>()) };
    let Task { dls, job } = *task;
    dls.run(job);
    dls.task_finished();
}

impl<K: Kernel> Dls<K> {
    /// A new object over kernel `k` (`dls_mgmt_init()` makes the global
    /// one): the registry with its door and its deferred replays, and the
    /// first handles. Allocates: may sleep.
    pub fn new(k: K, kstat_update: Option<KstatUpdate>) -> Arc<Dls<K>> {
        let d = Arc::new_cyclic(|me| Dls {
            k: k.clone(),
            reg: Registry::new(),
            handles: Handles::new(),
            side: Mutex::new(Side::default()),
            prop_done: Condvar::new(),
            counters: Counters::default(),
            kstat_update,
            rebuild: dlszone::sync::atomic::AtomicBool::new(false),
            growing: dlszone::sync::atomic::AtomicBool::new(false),
            tasks: Mutex::new(0),
            tasks_done: Condvar::new(),
            me: me.clone(),
            view: Mutex::new(crate::queries::View::default()),
        });
        d.handles.grow();
        d.reg.set_door(alloc::sync::Arc::new(Notifier(k)));
        d.reg.set_defer(Box::new(TaskqDefer(d.me.clone())));
        d
    }

    /// The registry (for tests and diagnostics).
    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// The kernel seam.
    pub fn kernel(&self) -> &K {
        &self.k
    }

    /// The handle table.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// Queues `job` on the task queue. False if it could not be queued
    /// (only without `sleep`).
    pub(crate) fn queue(&self, job: Job, sleep: bool) -> bool {
        let Some(dls) = self.me.upgrade() else {
            return false;
        };
        let raw = Box::into_raw(Box::new(Task { dls, job }));
        *self.tasks.lock() += 1;
        if self.k.dispatch(run_task::<K>, raw.cast(), sleep) {
            return true;
        }
        // SAFETY: the dispatch failed, so the task never runs and the box
        // is still ours alone.
        drop(unsafe { Box::from_raw(raw) });
        self.task_finished();
        false
    }

    fn task_finished(&self) {
        let mut n = self.tasks.lock();
        *n = n.saturating_sub(1);
        drop(n);
        self.tasks_done.notify_all();
    }

    /// Waits until every queued task has run (`dls_mgmt_fini()`, tests).
    pub fn wait_tasks(&self) {
        let mut n = self.tasks.lock();
        while *n > 0 {
            n = self.tasks_done.wait(n);
        }
    }

    fn run(&self, job: Job) {
        match job {
            Job::Replay => {
                let _ = self.reg.replay_outbox();
            }
            Job::PropInit(linkid) => self.prop_task(linkid),
            Job::Grow => {
                self.handles.grow();
                self.growing.store(false, Ordering::Release);
            }
        }
    }

    /// Asks for a growth of the handle table on the task queue when its
    /// free slots run low. Never sleeps.
    pub(crate) fn keep_handles_ahead(&self) {
        if self.handles.low()
            && !self.growing.swap(true, Ordering::AcqRel)
            && !self.queue(Job::Grow, false)
        {
            self.growing.store(false, Ordering::Release);
        }
    }

    /// Marks that `/dev/net` should be rebuilt (`devnet_need_rebuild`).
    pub(crate) fn need_rebuild(&self) {
        self.rebuild.store(true, Ordering::Release);
    }

    /// Reads and clears the rebuild flag (`dls_devnet_rebuild()`).
    pub fn take_rebuild(&self) -> bool {
        self.rebuild.swap(false, Ordering::AcqRel)
    }

    // ---- zones -----------------------------------------------------------

    /// Makes sure the registry knows the current incarnation of zone
    /// `zid` (a zone that is being readied or runs), retiring an earlier
    /// incarnation of the same id that the kernel has forgotten.
    ///
    /// Errors: `ENXIO` no such zone, or it is halting; `EBUSY` the earlier
    /// incarnation still has links that could not be reclaimed.
    pub(crate) fn ensure_zone(&self, zid: ZoneId) -> CResult<ZoneKey> {
        zid.validate()?;
        if zid.is_global() {
            return Ok(ZoneKey::GLOBAL);
        }
        let info = self.k.zone_info(zid).ok_or(Errno::ENXIO)?;
        let key = ZoneKey { id: zid, uniqid: info.uniqid };
        match self.reg.zone_state(zid) {
            Some((known, _)) if known == key => return Ok(key),
            Some((old, _)) => self.retire_zone(old)?,
            None => {}
        }
        if info.status > zone_status::RUNNING {
            return Err(Errno::ENXIO);
        }
        match self.reg.zone_boot(key) {
            Ok(()) => Ok(key),
            // Another thread recorded it first.
            Err(Errno::EEXIST) if self.reg.zone_state(zid).map(|z| z.0) == Some(key) => Ok(key),
            Err(e) => Err(e),
        }
    }

    /// The registry's key for zone `zid`, if it knows one.
    pub(crate) fn zone_key(&self, zid: ZoneId) -> Option<ZoneKey> {
        self.reg.zone_state(zid).map(|z| z.0)
    }

    /// Forgets an incarnation the kernel no longer has: halts it if it
    /// was never halted, reclaims what it kept, and drops it.
    pub(crate) fn retire_zone(&self, old: ZoneKey) -> CResult<()> {
        self.k.note(c"dls: retiring an earlier incarnation of a reused zone id");
        if let Ok(report) = self.reg.zone_halt(old) {
            self.after_teardown(&report);
        }
        if let Ok(report) = self.reg.zone_recover(old, true, 0) {
            self.after_teardown(&report);
        }
        match self.reg.zone_destroy(old) {
            Ok(()) | Err(Errno::ENXIO) | Err(Errno::ESTALE) => Ok(()),
            Err(_) => Err(Errno::EBUSY),
        }
    }

    // ---- the side table ------------------------------------------------

    /// Records a new link's extras (allocates: may sleep).
    pub(crate) fn side_add(&self, linkid: LinkId, mac: MacName) {
        let e = Extra { mac, kstats: [None, None], prop_pending: false, implicit: false };
        let old = self.side.lock().links.insert(linkid, e);
        if let Some(old) = old {
            self.kstats_delete(old.kstats);
        }
    }

    /// Forgets a link's extras and deletes its kstats.
    pub(crate) fn side_remove(&self, linkid: LinkId) -> Option<MacName> {
        let e = self.side.lock().links.remove(&linkid)?;
        self.kstats_delete(e.kstats);
        Some(e.mac)
    }

    /// The MAC name recorded for `linkid`.
    pub(crate) fn side_mac(&self, linkid: LinkId) -> Option<MacName> {
        self.side.lock().links.get(&linkid).map(|e| e.mac.clone())
    }

    fn kstats_delete(&self, ks: [Option<(Kstat, ZoneId)>; 2]) {
        for (k, _) in ks.into_iter().flatten() {
            self.k.kstat_delete(k);
        }
    }

    /// Makes the link's kstats match its name, owner and current zone:
    /// one in the owner zone, one more in the current zone while it
    /// differs. kstats are created and deleted with no lock held.
    pub(crate) fn kstats_sync(&self, linkid: LinkId) {
        let Some(update) = self.kstat_update else { return };
        let Ok(info) = self.reg.link_info(linkid) else { return };
        let Some(name) = info.name else { return };
        // The owner-zone kstat keeps the owner-zone name (reserved while
        // lent), the other the name in the current zone.
        let owner_name = info.reserved.unwrap_or(name);
        let want = [
            Some((info.owner.id, owner_name)),
            (info.zone.id != info.owner.id).then_some((info.zone.id, name)),
        ];
        let old = {
            let mut s = self.side.lock();
            let Some(e) = s.links.get_mut(&linkid) else { return };
            core::mem::take(&mut e.kstats)
        };
        self.kstats_delete(old);
        let mut made: [Option<(Kstat, ZoneId)>; 2] = [None, None];
        for (slot, w) in made.iter_mut().zip(want) {
            if let Some((zid, n)) = w {
                let mut cname = [0u8; 32];
                if let Some(dst) = cname.get_mut(..n.as_bytes().len()) {
                    fill(dst, n.as_bytes());
                }
                *slot = self.k.kstat_create(&cname, zid, linkid, update).map(|k| (k, zid));
            }
        }
        let stale = {
            let mut s = self.side.lock();
            match s.links.get_mut(&linkid) {
                Some(e) => core::mem::replace(&mut e.kstats, made),
                None => made,
            }
        };
        self.kstats_delete(stale);
    }

    /// Remembers a destroyed link for a re-create (bounded).
    pub(crate) fn tombstone(&self, t: Tombstone) {
        let mut s = self.side.lock();
        if s.tombstones.len() >= TOMBSTONES {
            s.tombstones.pop_front();
        }
        s.tombstones.push_back(t);
    }

    /// Takes the tombstone of `(mac, linkid)`, if any.
    pub(crate) fn take_tombstone(&self, mac: &[u8], linkid: LinkId) -> Option<Tombstone> {
        let mut s = self.side.lock();
        let i = s.tombstones.iter().rposition(|t| t.linkid == linkid && t.mac.as_bytes() == mac)?;
        s.tombstones.remove(i)
    }

    // ---- the property task -----------------------------------------------

    /// Queues `LINKPROP_INIT` for a link that just got its id (gate's
    /// `dls_devnet_prop_task`); waiters block until it finished.
    pub(crate) fn start_prop_task(&self, linkid: LinkId) {
        {
            let mut s = self.side.lock();
            let Some(e) = s.links.get_mut(&linkid) else { return };
            e.prop_pending = true;
        }
        if !self.queue(Job::PropInit(linkid), true) {
            self.prop_finished(linkid);
        }
    }

    fn prop_task(&self, linkid: LinkId) {
        let _ = upcall::linkprop_init(self.k.door(), linkid.0);
        self.prop_finished(linkid);
    }

    fn prop_finished(&self, linkid: LinkId) {
        let mut s = self.side.lock();
        if let Some(e) = s.links.get_mut(&linkid) {
            e.prop_pending = false;
        }
        drop(s);
        self.prop_done.notify_all();
    }

    /// Whether the property task of `linkid` is still to finish.
    pub(crate) fn prop_pending(&self, linkid: LinkId) -> bool {
        self.side.lock().links.get(&linkid).is_some_and(|e| e.prop_pending)
    }

    /// Waits, uninterruptibly, until the property task of `linkid` has
    /// finished (`dls_devnet_prop_task_wait()`). Sleeps.
    pub(crate) fn prop_wait(&self, linkid: LinkId) {
        let mut s = self.side.lock();
        while s.links.get(&linkid).is_some_and(|e| e.prop_pending) {
            s = self.prop_done.wait(s);
        }
    }
}
