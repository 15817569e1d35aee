//! The devnet registry: every datalink's zone bookkeeping (the job of
//! `dls_devnet_t` and its hashes in `dls_mgmt.c`), with IPD 3 semantics.
//!
//! Portable: no FFI and no `unsafe`; it locks only through [`crate::sync`].
//! The rules it enforces are numbered in `docs/design.md`; the locking
//! protocol and lock order are in `docs/locking.md`:
//!
//! 1. zone gate (a logical right per zone, see `gate.rs`);
//! 2. the table lock (`RwLock<Table>`);
//! 3. a link's own mutex;
//! 4. the outbox mutex;
//! 5. the door slot.
//!
//! No registry lock is held across a dlmgmtd upcall or any wait but the
//! condition-variable waits on a link's own mutex (`unlocked.rs` makes the
//! compiler check it), and nothing allocates while the table writer, a
//! gate's mutex or the outbox mutex is held (`noalloc.rs` makes the host
//! tests check it).
//!
//! The public API, by concern:
//!
//! | file | what |
//! |---|---|
//! | `zones.rs` | zone boot, destroy, state |
//! | `links.rs` | create, activate, destroy, rename, lookups, lists |
//! | `holds.rs` | hold tokens, releases, holders |
//! | `moves.rs` | lend, return, `setzid`: the two-phase move |
//! | `teardown.rs` | zone halt, forced recovery |
//! | `door.rs` | the dlmgmtd door and outbox replay |
//! | `invariants.rs`, `snapshot.rs` | whole-registry views |
//! | `queries.rs` | what the C ABI asks: MAC-name lookups, one link's record, detached holders, re-keying |
//! | `stats.rs`, `observe.rs` | the kstat's counters; probes and console messages of teardown and releases |
//!
//! Every state change of a link or zone fires a DTrace SDT probe
//! ([`crate::sdt`], `docs/dtrace.md`) where it happens.

#![forbid(unsafe_code)]

mod door;
mod gate;
mod hashtab;
mod holds;
mod invariants;
mod link;
mod links;
mod moves;
pub mod noalloc;
mod observe;
mod outbox;
mod queries;
mod report;
mod snapshot;
mod stats;
mod table;
mod teardown;
pub mod types;
mod unlocked;
mod zones;

pub use door::{Defer, Dlmgmt, NoDaemon};
pub use holds::{Hold, TmpHold};
pub use invariants::Violation;
pub use link::{Link, layout};
pub use outbox::Notice;
pub use queries::Detached;
pub use report::{Action, LinkOutcome, TeardownReport};
pub use snapshot::{LinkSnapshot, Snapshot};
pub use stats::{NSTATS, Stats, StatsCell, StatsHandle};
pub use types::{
    DrainWait, HoldKind, Holder, LinkId, LinkName, LinkState, MacName, ZoneId, ZoneKey, ZoneState,
};

use crate::sync::Arc;
use crate::sync::atomic::{AtomicU64, Ordering};
use door::DoorSlot;
use gate::ZoneGate;
use outbox::Outbox;
use table::Table;
use unlocked::{TableLock, Unlocked};

/// A reference to a link's memory. Keeping one keeps the record readable;
/// it is not a hold (holds are [`Hold`] and [`TmpHold`]).
pub type LinkRef = Arc<Link>;

/// The registry. One per kernel (a global in `misc/dls`); tests make many.
///
/// Shared by every thread at once; its locks and their order are in
/// `docs/locking.md`.
pub struct Registry {
    table: TableLock,
    gate: ZoneGate,
    outbox: Outbox,
    door: DoorSlot,
    /// Counters and gauges (the `dlszone` kstat), shared with the table
    /// lock and the outbox, which publish their gauges.
    stats: StatsHandle,
    next_serial: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// True if a caller in `caller` may see a link in zone `zone`.
fn visible(caller: ZoneId, zone: ZoneId) -> bool {
    caller.is_global() || caller == zone
}

impl Registry {
    /// An empty registry that knows only the global zone, with no door
    /// (upcalls fail with `EBADF` until [`set_door`](Self::set_door)).
    pub fn new() -> Registry {
        let stats = StatsHandle::new();
        Registry {
            table: TableLock::new(Table::new(), stats.clone()),
            gate: ZoneGate::new(),
            outbox: Outbox::new(stats.clone()),
            door: DoorSlot::new(),
            stats,
            next_serial: AtomicU64::new(1),
        }
    }

    /// A serial for a new link record, never reused.
    fn serial(&self) -> u64 {
        self.next_serial.fetch_add(1, Ordering::Relaxed)
    }

    // ---- whole-registry views ----------------------------------------

    /// The statistics the `dlszone` kstat shows. Takes no lock.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// A reference to the live statistics, for a kstat to read after
    /// this call, even after the registry is gone.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Notices waiting for dlmgmtd, oldest first.
    pub fn outbox(&self) -> alloc::vec::Vec<Notice> {
        self.outbox.pending()
    }

    /// Checks every rule of `docs/design.md` over the whole registry.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        let mut cx = Unlocked::new();
        let t = self.table.read(&mut cx);
        invariants::check(&t, &self.outbox)
    }

    /// A canonical, deterministic dump of every link (rule 9).
    pub fn snapshot(&self) -> Snapshot {
        let mut cx = Unlocked::new();
        let t = self.table.read(&mut cx);
        snapshot::take(&t)
    }
}
