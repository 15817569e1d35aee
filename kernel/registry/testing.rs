//! A stand-in for dlmgmtd, for host tests and in-kernel test bodies alike.
//!
//! It can be up or down (down answers `EBADF`, as the kernel's door upcall
//! does with no daemon registered), can be told to fail the next upcall,
//! and records what it was told and the view of link zones that follows.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::outbox::{Dlmgmt, Notice};
use super::types::{LinkId, ZoneId};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

struct FakeState {
    up: bool,
    fail_next: Option<Errno>,
    log: Vec<Notice>,
    zones: BTreeMap<LinkId, ZoneId>,
}

/// A scriptable dlmgmtd.
pub struct FakeDlmgmt {
    state: Mutex<FakeState>,
}

impl FakeDlmgmt {
    /// A running daemon.
    pub fn up() -> FakeDlmgmt {
        FakeDlmgmt {
            state: Mutex::new(FakeState {
                up: true,
                fail_next: None,
                log: Vec::new(),
                zones: BTreeMap::new(),
            }),
        }
    }

    /// A daemon that is not running.
    pub fn down() -> FakeDlmgmt {
        let d = FakeDlmgmt::up();
        d.set_up(false);
        d
    }

    /// Starts or stops the daemon.
    pub fn set_up(&self, up: bool) {
        self.state.lock().up = up;
    }

    /// Makes the next upcall fail with `e` (then behave normally).
    pub fn fail_next(&self, e: Errno) {
        self.state.lock().fail_next = Some(e);
    }

    /// Every notice delivered, in order.
    pub fn log(&self) -> Vec<Notice> {
        self.state.lock().log.clone()
    }

    /// The zone the daemon believes `link` is in (`None`: never told, or
    /// told the link is gone).
    pub fn zone_of(&self, link: LinkId) -> Option<ZoneId> {
        self.state.lock().zones.get(&link).copied()
    }
}

impl Dlmgmt for FakeDlmgmt {
    fn deliver(&self, notice: &Notice) -> KResult<()> {
        let mut s = self.state.lock();
        if !s.up {
            return Err(Errno::EBADF);
        }
        if let Some(e) = s.fail_next.take() {
            return Err(e);
        }
        s.log.push(*notice);
        match *notice {
            Notice::SetZone { link, zone } => {
                s.zones.insert(link, zone);
            }
            Notice::LinkGone { link, .. } => {
                s.zones.remove(&link);
            }
        }
        Ok(())
    }
}
