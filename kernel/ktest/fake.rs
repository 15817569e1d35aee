//! The one scriptable stand-in for dlmgmtd, for in-kernel test bodies and
//! host tests alike.
//!
//! It is up or down (down answers `EBADF`, as the kernel's door upcall
//! does with no daemon registered), and can be scripted to:
//!
//! - fail the next upcall, or the one after `n` more, with any errno;
//! - die after `n` more upcalls (down for good, until set up again);
//! - lose the reply of the next upcall (take the notice, answer an error);
//! - wedge: block every upcall, or those about one link, until unwedged;
//! - re-enter: run a hook at the start of each upcall, with none of its
//!   own locks held, so the hook may call back into the registry;
//! - model a real daemon's state: pass every notice it takes to a model
//!   (a rebuilt dlmgmtd, its name tree), whose error is the answer;
//! - (host only) fail and stall at random, from a seed.
//!
//! It records what it was told and the view of link zones that follows.
//! Give it to a registry with `Registry::set_door(fake.clone())`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use alloc::sync::Arc;
use dlszone::errno::{Errno, KResult};
use dlszone::registry::{Dlmgmt, LinkId, Notice, ZoneId};

use dlszone::sync::{Condvar, Mutex};

/// What the next upcalls do.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Answer normally.
    Normal,
    /// After `n` more answered upcalls, fail the next one with `e`.
    FailAfter(u32, Errno),
    /// After `n` more answered upcalls, go down for good.
    DieAfter(u32),
    /// Take the next notice, then answer `e` (a lost reply).
    LoseReply(Errno),
}

/// Which upcalls block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wedge {
    None,
    All,
    Link(LinkId),
}

struct FakeState {
    up: bool,
    script: Script,
    wedge: Wedge,
    /// Upcalls blocked in the wedge right now.
    wedged: u32,
    calls: u64,
    log: Vec<Notice>,
    zones: BTreeMap<LinkId, ZoneId>,
    #[cfg(not(kmod))]
    dice: Option<Dice>,
    /// Every upcall takes this long (a door round trip). Host only.
    #[cfg(not(kmod))]
    latency_us: u64,
    hook: Option<Arc<Hook>>,
    model: Option<Arc<Model>>,
}

/// A hook run at the start of each upcall.
pub type Hook = Box<dyn Fn(&Notice) + Send + Sync>;

/// A model of dlmgmtd's own state, given each notice the fake takes.
pub type Model = Box<dyn Fn(&Notice) -> KResult<()> + Send + Sync>;

/// A scriptable dlmgmtd.
pub struct FakeDlmgmt {
    state: Mutex<FakeState>,
    /// Signalled when the wedge opens (and when an upcall enters it).
    wedge_cv: Condvar,
}

impl FakeDlmgmt {
    /// A running daemon.
    pub fn up() -> FakeDlmgmt {
        FakeDlmgmt {
            state: Mutex::new(FakeState {
                up: true,
                script: Script::Normal,
                wedge: Wedge::None,
                wedged: 0,
                calls: 0,
                log: Vec::new(),
                zones: BTreeMap::new(),
                #[cfg(not(kmod))]
                dice: None,
                #[cfg(not(kmod))]
                latency_us: 0,
                hook: None,
                model: None,
            }),
            wedge_cv: Condvar::new(),
        }
    }

    /// A daemon that is not running.
    pub fn down() -> FakeDlmgmt {
        let d = FakeDlmgmt::up();
        d.set_up(false);
        d
    }

    /// A running daemon, shared (what `Registry::set_door` takes).
    pub fn shared() -> Arc<FakeDlmgmt> {
        Arc::new(FakeDlmgmt::up())
    }

    /// Starts or stops the daemon.
    pub fn set_up(&self, up: bool) {
        self.state.lock().up = up;
    }

    /// Makes the next upcall fail with `e` (then behave normally).
    pub fn fail_next(&self, e: Errno) {
        self.fail_after(0, e);
    }

    /// Lets `n` upcalls through, then fails the next one with `e`.
    pub fn fail_after(&self, n: u32, e: Errno) {
        self.state.lock().script = Script::FailAfter(n, e);
    }

    /// Lets `n` upcalls through, then goes down (`EBADF`) until
    /// [`set_up`](Self::set_up)`(true)`.
    pub fn die_after(&self, n: u32) {
        self.state.lock().script = Script::DieAfter(n);
    }

    /// Takes the next notice but answers `e`, as a daemon whose reply was
    /// lost: the kernel will deliver it again.
    pub fn lose_next_reply(&self, e: Errno) {
        self.state.lock().script = Script::LoseReply(e);
    }

    /// Blocks every upcall until [`unwedge`](Self::unwedge).
    pub fn wedge(&self) {
        self.state.lock().wedge = Wedge::All;
    }

    /// Blocks the upcalls about `link` until [`unwedge`](Self::unwedge);
    /// others are answered.
    pub fn wedge_link(&self, link: LinkId) {
        self.state.lock().wedge = Wedge::Link(link);
    }

    /// Lets blocked and later upcalls through.
    pub fn unwedge(&self) {
        self.state.lock().wedge = Wedge::None;
        self.wedge_cv.notify_all();
    }

    /// Upcalls blocked in the wedge right now.
    pub fn wedged(&self) -> u32 {
        self.state.lock().wedged
    }

    /// Runs `hook` at the start of every upcall, before anything else and
    /// with no lock of the fake held: it may call into the registry (it
    /// should hold the registry by a weak reference, the registry holding
    /// the fake). `None` removes it.
    pub fn on_deliver(&self, hook: Option<Hook>) {
        let old = core::mem::replace(&mut self.state.lock().hook, hook.map(Arc::new));
        // An old hook's last reference may go here, with no lock held.
        drop(old);
    }

    /// Passes every notice the fake takes to `model` (after the script
    /// decided to take it); an error from the model is the upcall's
    /// answer, and the notice is then not logged. `None` removes it.
    pub fn set_model(&self, model: Option<Model>) {
        let old = core::mem::replace(&mut self.state.lock().model, model.map(Arc::new));
        drop(old);
    }

    /// Fails `fail_pct` percent of upcalls (with `EBADF` or `EINTR`) and
    /// stalls up to `stall_us` microseconds in `stall_pct` percent of the
    /// others (with `stall_us` 0: yields, a scheduling point for the
    /// model checkers), from a fixed `seed`. Host only.
    #[cfg(not(kmod))]
    pub fn flaky(&self, seed: u64, fail_pct: u64, stall_pct: u64, stall_us: u64) {
        self.state.lock().dice = Some(Dice { x: seed | 1, fail_pct, stall_pct, stall_us });
    }

    /// Makes every upcall take `us` microseconds, as a door round trip
    /// does. Host only.
    #[cfg(not(kmod))]
    pub fn set_latency_us(&self, us: u64) {
        self.state.lock().latency_us = us;
    }

    /// Forgets the notices taken so far (not the zones they told), keeping
    /// the log's memory: a long benchmark run keeps its daemon's log short.
    pub fn clear_log(&self) {
        self.state.lock().log.clear();
    }

    /// Every notice taken, in order.
    pub fn log(&self) -> Vec<Notice> {
        self.state.lock().log.clone()
    }

    /// Upcalls made to it, taken or not.
    pub fn calls(&self) -> u64 {
        self.state.lock().calls
    }

    /// The zone the daemon believes `link` is in (`None`: never told, or
    /// told the link is gone).
    pub fn zone_of(&self, link: LinkId) -> Option<ZoneId> {
        self.state.lock().zones.get(&link).copied()
    }

    fn apply(s: &mut FakeState, notice: &Notice) {
        s.log.push(*notice);
        match *notice {
            Notice::SetZone { link, zone } => {
                s.zones.insert(link, zone);
            }
            Notice::LinkGone { link, .. } => {
                s.zones.remove(&link);
            }
        }
    }
}

impl Dlmgmt for FakeDlmgmt {
    fn deliver(&self, notice: &Notice) -> KResult<()> {
        // One lock round for the plain daemon; a hook and a door round
        // trip's latency run first, with no lock of the fake held.
        let mut s = self.state.lock();
        let hook = s.hook.clone();
        #[cfg(not(kmod))]
        let latency_us = s.latency_us;
        #[cfg(kmod)]
        let latency_us = 0;
        if hook.is_some() || latency_us > 0 {
            drop(s);
            if let Some(h) = hook {
                h(notice);
            }
            #[cfg(not(kmod))]
            {
                let us = self.state.lock().latency_us;
                if us > 0 {
                    std::thread::sleep(core::time::Duration::from_micros(us));
                }
            }
            s = self.state.lock();
        }
        s.calls += 1;
        let blocks = |w: Wedge| w == Wedge::All || w == Wedge::Link(notice.link());
        if blocks(s.wedge) {
            s.wedged += 1;
            while blocks(s.wedge) {
                s = self.wedge_cv.wait(s);
            }
            s.wedged -= 1;
        }
        if !s.up {
            return Err(Errno::EBADF);
        }
        #[cfg(not(kmod))]
        if let Some(stall) = s.dice.as_mut().map(|d| d.roll()) {
            match stall {
                Roll::Fail(e) => return Err(e),
                Roll::Stall(us) => {
                    drop(s);
                    if us == 0 {
                        dlszone::sync::yield_now();
                    } else {
                        std::thread::sleep(core::time::Duration::from_micros(us));
                    }
                    s = self.state.lock();
                }
                Roll::Pass => {}
            }
        }
        let answer = match s.script {
            Script::Normal => Ok(()),
            Script::FailAfter(0, e) => {
                s.script = Script::Normal;
                return Err(e);
            }
            Script::FailAfter(n, e) => {
                s.script = Script::FailAfter(n - 1, e);
                Ok(())
            }
            Script::DieAfter(0) => {
                s.script = Script::Normal;
                s.up = false;
                return Err(Errno::EBADF);
            }
            Script::DieAfter(n) => {
                s.script = Script::DieAfter(n - 1);
                Ok(())
            }
            Script::LoseReply(e) => {
                s.script = Script::Normal;
                Err(e)
            }
        };
        // The notice is taken: the model (if any) sees it with no lock of
        // the fake held.
        if let Some(m) = s.model.clone() {
            drop(s);
            m(notice)?;
            s = self.state.lock();
        }
        Self::apply(&mut s, notice);
        answer
    }
}

/// The outcome of one roll of the flaky daemon's dice.
#[cfg(not(kmod))]
enum Roll {
    Pass,
    Fail(Errno),
    Stall(u64),
}

/// A small deterministic generator (xorshift) for the flaky mode.
#[cfg(not(kmod))]
struct Dice {
    x: u64,
    fail_pct: u64,
    stall_pct: u64,
    stall_us: u64,
}

#[cfg(not(kmod))]
impl Dice {
    fn next(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    fn roll(&mut self) -> Roll {
        if self.next() % 100 < self.fail_pct {
            return Roll::Fail(if self.next() % 2 == 0 { Errno::EBADF } else { Errno::EINTR });
        }
        if self.next() % 100 < self.stall_pct {
            return Roll::Stall(self.next().checked_rem(self.stall_us).unwrap_or(0));
        }
        Roll::Pass
    }
}
