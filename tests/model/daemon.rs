//! The dlmgmtd the registry talks to in the model test: the registry's own
//! `FakeDlmgmt`, plus a countdown that makes a later upcall fail, so a
//! replay can stop half-way (after some notices, before others).

use std::cell::Cell;

use dlszone::errno::{Errno, KResult};
use dlszone_ktest::fake::FakeDlmgmt;
use dlszone::registry::{Dlmgmt, Notice};

pub(crate) struct ScriptedDaemon {
    pub(crate) fake: FakeDlmgmt,
    countdown: Cell<Option<(u8, Errno)>>,
}

impl ScriptedDaemon {
    pub(crate) fn new() -> ScriptedDaemon {
        ScriptedDaemon { fake: FakeDlmgmt::up(), countdown: Cell::new(None) }
    }

    /// Lets `n` upcalls through, then arms `fail_next(e)` for the one after.
    pub(crate) fn fail_after(&self, n: u8, e: Errno) {
        self.countdown.set(Some((n, e)));
    }
}

impl Dlmgmt for ScriptedDaemon {
    fn deliver(&self, notice: &Notice) -> KResult<()> {
        match self.countdown.get() {
            Some((0, e)) => {
                self.fake.fail_next(e);
                self.countdown.set(None);
            }
            Some((k, e)) => self.countdown.set(Some((k - 1, e))),
            None => {}
        }
        self.fake.deliver(notice)
    }
}
