//! A fault plan for the host build's fake door (`host.rs`): makes the
//! n-th door upcall fail in one of the ways a door upcall can fail in
//! illumos, so a test can rerun a scenario with each of its upcalls
//! failing each way (`tests/fault_injection.rs`).
//!
//! The fake door consults the plan on every `hold`, `call`, `revoked` and
//! `release` (the `DoorPort` methods the upcall rules use). Upcalls are
//! numbered from 1 in the order their first `hold` happens, whichever
//! thread makes them; the re-hold of an upcall that found its door
//! revoked (rule 5 of `dlszone::door::upcall`) belongs to the same
//! upcall. Only the thread that made the faulted upcall sees the fault:
//! another thread's upcall meanwhile is served normally.
//!
//! Host only: no part of `dls_mgmt.o`.

use std::boxed::Box;
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::vec::Vec;

use dlszone::door::RawErrno;
use dlszone::door::upcall::Delivered;
use dlszone::errno::Errno;

/// How one door upcall fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DoorFault {
    /// No door is registered for this upcall (`dls_mgmt_door_set()`
    /// withdrew it a moment ago): `EBADF` without a call.
    Unset,
    /// The call finds the door revoked (dlmgmtd exited before serving
    /// it): `EBADF`, and the retry finds no door. dlmgmtd stays down.
    Revoked,
    /// A signal interrupts the call before dlmgmtd serves it: `EINTR`.
    Eintr,
    /// Every attempt gets `EAGAIN` (the door's server threads are all
    /// busy) until the upcall's retries run out.
    Eagain,
    /// dlmgmtd serves the request but its reply is shorter than the
    /// structure the kernel expects.
    ShortReply,
    /// dlmgmtd serves the request but its reply is longer than the
    /// kernel's buffer, so the door layer put it in one of its own.
    LongReply,
    /// dlmgmtd serves the request but its reply's `lr_err` is no errno.
    BadStatus,
    /// dlmgmtd serves the request but every field of its reply after
    /// `lr_err` is garbage.
    Garbage,
    /// dlmgmtd hangs on the request longer than any caller's bound: the
    /// plan's stall hook runs (the rest of the system, meanwhile) before
    /// the reply comes, late but right.
    Stall,
    /// dlmgmtd serves the request and exits before replying: the call
    /// fails with `EINTR` (`door_call(3C)`: "the server exited during
    /// invocation") and the door is revoked. dlmgmtd stays down.
    DiesMidReply,
}

impl DoorFault {
    /// Every fault, in a fixed order.
    pub const ALL: [DoorFault; 10] = [
        DoorFault::Unset,
        DoorFault::Revoked,
        DoorFault::Eintr,
        DoorFault::Eagain,
        DoorFault::ShortReply,
        DoorFault::LongReply,
        DoorFault::BadStatus,
        DoorFault::Garbage,
        DoorFault::Stall,
        DoorFault::DiesMidReply,
    ];

    /// Whether dlmgmtd is gone after this fault.
    pub fn kills_daemon(self) -> bool {
        matches!(self, DoorFault::Revoked | DoorFault::DiesMidReply)
    }
}

/// What the plan says about one door call.
#[derive(Clone, Default)]
pub struct CallFault {
    fault: Option<DoorFault>,
    hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

fn raw(e: Errno) -> RawErrno {
    RawErrno::from(e)
}

impl CallFault {
    /// The error the call fails with before dlmgmtd sees the request, if
    /// any.
    pub fn refusal(&self) -> Option<RawErrno> {
        match self.fault? {
            DoorFault::Revoked => Some(raw(Errno::EBADF)),
            DoorFault::Eintr => Some(raw(Errno::EINTR)),
            DoorFault::Eagain => Some(raw(Errno::EAGAIN)),
            _ => None,
        }
    }

    /// Whether dlmgmtd is gone after this call.
    pub fn kills_daemon(&self) -> bool {
        self.fault.is_some_and(DoorFault::kills_daemon)
    }

    /// Runs the stall hook of a stalled call (before it is served).
    pub fn stall(&self) {
        if self.fault == Some(DoorFault::Stall)
            && let Some(h) = &self.hook
        {
            h();
        }
    }

    /// What the caller gets once dlmgmtd has served the request and put
    /// `delivered` in `reply`.
    pub fn finish(&self, reply: &mut [u8], delivered: Delivered) -> Result<Delivered, RawErrno> {
        let n = match delivered {
            Delivered::InPlace(n) => n.min(reply.len()),
            Delivered::Relocated => return Ok(delivered),
        };
        match self.fault {
            Some(DoorFault::ShortReply) => Ok(Delivered::InPlace(n / 2)),
            Some(DoorFault::LongReply) => Ok(Delivered::Relocated),
            Some(DoorFault::BadStatus) => {
                if let Some(w) = reply.get_mut(..4) {
                    w.copy_from_slice(&0x0bad_f00d_u32.to_ne_bytes());
                }
                Ok(Delivered::InPlace(n))
            }
            Some(DoorFault::Garbage) => {
                for (i, b) in reply.iter_mut().enumerate().take(n).skip(4) {
                    *b = 0xa5 ^ (i as u8);
                }
                Ok(Delivered::InPlace(n))
            }
            Some(DoorFault::DiesMidReply) => Err(raw(Errno::EINTR)),
            _ => Ok(delivered),
        }
    }
}

/// Where a fault fired: the upcall's number, its command, the thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fired {
    /// The upcall's number (from 1).
    pub upcall: u64,
    /// Its command (`DLMGMT_CMD_*`), or 0 when no call was made.
    pub cmd: i32,
    /// The fault.
    pub fault: DoorFault,
}

/// The plan: which upcall fails how, and a trace of the upcalls made.
#[derive(Default)]
pub struct FaultPlan {
    /// Upcalls begun so far.
    upcalls: u64,
    /// The upcall to fail, and how.
    armed: Option<(u64, DoorFault)>,
    /// The faulted upcall under way, and its thread.
    active: Option<(ThreadId, DoorFault)>,
    /// The upcall each thread is making: its number, and whether its
    /// first call is traced.
    current: Vec<(ThreadId, u64, bool)>,
    /// A thread whose next hold is its upcall's retry on a revoked door.
    rehold: Vec<ThreadId>,
    /// What fired.
    fired: Option<Fired>,
    /// Every upcall's first call: (number, command, the request's first
    /// 16 bytes).
    trace: Vec<(u64, i32, [u8; 16])>,
    /// Runs while a `Stall`ed call hangs.
    hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl FaultPlan {
    /// Fails upcall `nth` (from 1) with `fault`; forgets what fired
    /// before.
    pub fn arm(&mut self, nth: u64, fault: DoorFault) {
        self.armed = Some((nth, fault));
        self.fired = None;
    }

    /// Sets what runs while a stalled call hangs.
    pub fn set_stall_hook(&mut self, hook: Box<dyn Fn() + Send + Sync>) {
        self.hook = Some(Arc::from(hook));
    }

    /// Upcalls begun so far.
    pub fn upcalls(&self) -> u64 {
        self.upcalls
    }

    /// The fault that fired, if it did.
    pub fn fired(&self) -> Option<Fired> {
        self.fired
    }

    /// The first call of every upcall: (number, command, the request's
    /// first 16 bytes).
    pub fn trace(&self) -> &[(u64, i32, [u8; 16])] {
        &self.trace
    }

    /// The fake door's `hold`: true if the door must look unset.
    pub fn on_hold(&mut self) -> bool {
        let me = thread::current().id();
        if let Some(i) = self.rehold.iter().position(|t| *t == me) {
            self.rehold.swap_remove(i);
            return false;
        }
        self.upcalls += 1;
        let n = self.upcalls;
        self.current.retain(|c| c.0 != me);
        self.current.push((me, n, false));
        match self.armed {
            Some((nth, fault)) if nth == n => {
                self.armed = None;
                if fault == DoorFault::Unset {
                    self.fired = Some(Fired { upcall: n, cmd: 0, fault });
                    return true;
                }
                self.active = Some((me, fault));
                false
            }
            _ => false,
        }
    }

    /// The fake door's `revoked`, told its answer.
    pub fn on_revoked(&mut self, revoked: bool) {
        if revoked {
            self.rehold.push(thread::current().id());
        }
    }

    /// The fake door's `release`: the faulted upcall is over (unless a
    /// retry on a revoked door follows, which sees a dead daemon).
    pub fn on_release(&mut self) {
        let me = thread::current().id();
        if self.active.is_some_and(|a| a.0 == me) {
            self.active = None;
        }
    }

    /// The fake door's `call`: what to do to it.
    pub fn on_call(&mut self, req: &[u8]) -> CallFault {
        let me = thread::current().id();
        let cmd = req.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        if let Some(c) = self.current.iter_mut().find(|c| c.0 == me)
            && !c.2
        {
            c.2 = true;
            let mut head = [0u8; 16];
            let k = req.len().min(16);
            head[..k].copy_from_slice(&req[..k]);
            self.trace.push((c.1, cmd, head));
        }
        let Some((t, fault)) = self.active else { return CallFault::default() };
        if t != me {
            return CallFault::default();
        }
        if self.fired.is_none() {
            let n = self.current.iter().find(|c| c.0 == me).map_or(0, |c| c.1);
            self.fired = Some(Fired { upcall: n, cmd, fault });
        }
        CallFault { fault: Some(fault), hook: self.hook.clone() }
    }
}
