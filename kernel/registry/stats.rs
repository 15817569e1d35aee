//! The registry's statistics: what the `dlszone` kstat shows.
//!
//! Every value is an atomic in one [`StatsCell`], shared (by reference
//! count) between the registry and whoever shows it, so the kstat's update
//! callback reads it with no registry lock at all and may outlive the
//! registry. Counters only grow; gauges are published by the section that
//! changes them:
//!
//! - `links`, `zones`, `limbo`: by every table-writer section as it ends
//!   (`unlocked.rs`), from the lengths of the indexes, so they are exact
//!   as of the last writer;
//! - `outbox_depth`: by the outbox whenever its queue changes;
//! - the counters: where the event happens, with no lock needed.
//!
//! They are plain `core` atomics in every build (the model checkers have
//! nothing to explore in them) with relaxed ordering: a reader sees each
//! value as some writer left it, not a snapshot of all at one instant.

use core::ffi::CStr;
use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(kmod)]
use crate::kmod::arc::Arc;
#[cfg(not(kmod))]
use alloc::sync::Arc;

/// The statistics at one moment (each value read once, relaxed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Links in the tables (pending, active, or condemned and draining).
    pub links: u64,
    /// Zones the registry knows, the global zone included.
    pub zones: u64,
    /// Detached links still held (waiting in limbo for their last holder).
    pub limbo: u64,
    /// Releases that matched no hold (`ENOENT`): a bug in a caller.
    pub bad_releases: u64,
    /// Releases of holds that forced recovery had reclaimed (`ESTALE`).
    pub late_releases: u64,
    /// Notices waiting for dlmgmtd.
    pub outbox_depth: u64,
    /// Notices dlmgmtd took (queued ones and moves' direct asks).
    pub notices_delivered: u64,
    /// Notice deliveries that failed (EBADF with no dlmgmtd, ...).
    pub notices_failed: u64,
    /// Zone halts.
    pub halts: u64,
    /// Halts that left links in their zone (stuck in down).
    pub halts_left_links: u64,
    /// Recoveries of down zones, forced or not.
    pub recoveries: u64,
    /// Forced recoveries.
    pub recoveries_forced: u64,
    /// Long holds of dead zones that forced recovery reclaimed.
    pub holds_reclaimed: u64,
}

/// How many values [`Stats`] has.
pub const NSTATS: usize = 13;

impl Stats {
    /// The kstat's statistic names, in [`values`](Self::values) order
    /// (each fits `KSTAT_STRLEN`).
    pub const NAMES: [&'static CStr; NSTATS] = [
        c"links",
        c"zones",
        c"limbo",
        c"bad_releases",
        c"late_releases",
        c"outbox_depth",
        c"notices_delivered",
        c"notices_failed",
        c"halts",
        c"halts_left_links",
        c"recoveries",
        c"recoveries_forced",
        c"holds_reclaimed",
    ];

    /// The values, in [`NAMES`](Self::NAMES) order.
    pub fn values(&self) -> [u64; NSTATS] {
        [
            self.links,
            self.zones,
            self.limbo,
            self.bad_releases,
            self.late_releases,
            self.outbox_depth,
            self.notices_delivered,
            self.notices_failed,
            self.halts,
            self.halts_left_links,
            self.recoveries,
            self.recoveries_forced,
            self.holds_reclaimed,
        ]
    }

    /// The inverse of [`values`](Self::values).
    pub fn from_values(v: [u64; NSTATS]) -> Stats {
        Stats {
            links: v[0],
            zones: v[1],
            limbo: v[2],
            bad_releases: v[3],
            late_releases: v[4],
            outbox_depth: v[5],
            notices_delivered: v[6],
            notices_failed: v[7],
            halts: v[8],
            halts_left_links: v[9],
            recoveries: v[10],
            recoveries_forced: v[11],
            holds_reclaimed: v[12],
        }
    }
}

/// The live values (see the module docs).
#[derive(Default)]
pub struct StatsCell {
    pub(crate) links: AtomicU64,
    pub(crate) zones: AtomicU64,
    pub(crate) limbo: AtomicU64,
    pub(crate) bad_releases: AtomicU64,
    pub(crate) late_releases: AtomicU64,
    pub(crate) outbox_depth: AtomicU64,
    pub(crate) notices_delivered: AtomicU64,
    pub(crate) notices_failed: AtomicU64,
    pub(crate) halts: AtomicU64,
    pub(crate) halts_left_links: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    pub(crate) recoveries_forced: AtomicU64,
    pub(crate) holds_reclaimed: AtomicU64,
}

/// Adds one to a counter; returns the new value.
pub(crate) fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Publishes a gauge.
pub(crate) fn set(c: &AtomicU64, n: usize) {
    c.store(n as u64, Ordering::Relaxed);
}

impl StatsCell {
    /// Reads every value once. Takes no lock.
    pub fn snapshot(&self) -> Stats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            links: r(&self.links),
            zones: r(&self.zones),
            limbo: r(&self.limbo),
            bad_releases: r(&self.bad_releases),
            late_releases: r(&self.late_releases),
            outbox_depth: r(&self.outbox_depth),
            notices_delivered: r(&self.notices_delivered),
            notices_failed: r(&self.notices_failed),
            halts: r(&self.halts),
            halts_left_links: r(&self.halts_left_links),
            recoveries: r(&self.recoveries),
            recoveries_forced: r(&self.recoveries_forced),
            holds_reclaimed: r(&self.holds_reclaimed),
        }
    }
}

/// A shared reference to a registry's [`StatsCell`]: what the kstat
/// keeps (`Registry::stats_handle`). Reading it takes no lock, and it
/// stays valid after the registry is gone.
#[derive(Clone)]
pub struct StatsHandle(pub(crate) Arc<StatsCell>);

impl StatsHandle {
    /// A new, zeroed cell.
    pub(crate) fn new() -> StatsHandle {
        StatsHandle(Arc::new(StatsCell::default()))
    }

    /// The values now.
    pub fn snapshot(&self) -> Stats {
        self.0.snapshot()
    }

    /// Whether two handles share one cell.
    pub fn same(&self, other: &StatsHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl core::ops::Deref for StatsHandle {
    type Target = StatsCell;
    fn deref(&self) -> &StatsCell {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_kstat_and_values_round_trip() {
        for n in Stats::NAMES {
            assert!(n.to_bytes().len() < 31, "{n:?}");
        }
        let v: [u64; NSTATS] = core::array::from_fn(|i| i as u64 * 3 + 1);
        assert_eq!(Stats::from_values(v).values(), v);
        let h = StatsHandle::new();
        bump(&h.halts);
        add(&h.holds_reclaimed, 4);
        set(&h.links, 9);
        let s = h.snapshot();
        assert_eq!((s.halts, s.holds_reclaimed, s.links), (1, 4, 9));
        assert!(h.same(&h.clone()) && !h.same(&StatsHandle::new()));
    }
}
