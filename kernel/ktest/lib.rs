//! In-kernel tests: the bodies the `dlszone_ktest` module registers with
//! illumos ktest, written once and also run on any build host.
//!
//! - [`outcome`]: a body's one result ([`Outcome`]: verdict, line,
//!   bounded message);
//! - [`macros`]: the assertion vocabulary (`kt_assert!`, `kt_assert3u!`,
//!   `kt_eassert!`, `kt_skip!`, ...), which never panics;
//! - the suites: `registry` (one body or more per rule of
//!   `docs/design.md`), `scenario` (the IPD's known issues, replayed
//!   without dld/mac), `obs` (the kstat and the link record cache read
//!   back), `sync` (the lock facade) and `alloc` (the global
//!   allocator); with `--cfg dlszone_ktest_selffail`, also `selffail`,
//!   whose bodies fail on purpose;
//! - `glue` (kernel build, `cfg(kmod)`): the `ktest_fn_t`
//!   trampolines and the registration sequence;
//! - [`host`] (host builds): the runner behind `tests/ktest_host.rs`,
//!   printing what `ktest run` prints.
//!
//! Bodies are plain `fn() -> Outcome` over `core`, `alloc` and the crate:
//! no std, no threads, no `unsafe`. They use
//! [`FakeDlmgmt`](crate::fake::FakeDlmgmt) as dlmgmtd, so
//! they need neither dld nor mac nor a daemon. Each runs on the ktest
//! caller's kernel stack with `ktest_lock` held, so bodies keep their
//! frames small and never register or unregister ktest modules.
//!
//! Names: module `dlszone`, suites as above, and each body `foo` is the
//! test `foo_test`. `ktest` accepts 1 to 63 characters of
//! `[A-Za-z0-9._]`; the table is checked against that at compile time.

#![no_std]
#![deny(unused_must_use)]

extern crate alloc;
#[cfg(not(kmod))]
extern crate std;

use core::ffi::CStr;

pub mod fake;
pub mod macros;
pub mod outcome;
mod table;

mod heap;
mod locks;
mod observe;
mod rules;
mod scenarios;
#[cfg(any(test, dlszone_ktest_selffail))]
mod selffail;

#[cfg(kmod)]
pub(crate) mod glue;
#[cfg(kmod)]
pub mod module;
#[cfg(kmod)]
pub(crate) use dlszone::ffi;
#[cfg(not(kmod))]
pub mod host;

pub use outcome::{MSG_LEN, Outcome, Verdict};
pub use table::{Body, MAX_NAME_LEN, Suite, Test, valid_name};

/// The ktest module name: tests are `dlszone:<suite>:<test>`.
pub const MODULE: &CStr = c"dlszone";

const SUITES: &[Suite] = table::kt_suites! {
    suite registry in rules {
        rule1_same_name_in_several_zones,
        rule1_lookups_are_zone_qualified,
        rule2_ngz_links_are_owned_and_transient,
        rule2_persistent_create_in_ngz_refused,
        rule2_create_errnos,
        rule2_pending_links_hidden_until_activated,
        rule3_lend_reserves_gz_name,
        rule3_lend_errnos,
        rule3_return_blocked_by_zone_holds,
        rule4_rename_in_borrowing_zone,
        rule4_rename_errnos,
        rule5_holders_report_provenance,
        rule5_unmatched_release_refused,
        rule5_hold_errnos,
        rule6_halt_condemns_and_returns,
        rule6_gz_holder_survives_halt,
        rule6_halt_without_dlmgmtd_sticks,
        rule7_recover_then_replay_in_order,
        rule7_force_reclaims_zone_holds,
        rule8_ngz_sees_only_its_links,
        rule9_equivalent_histories_dump_same,
        rule10_destroy_refused_while_held,
        rule10_interrupted_destroy_unchanged,
        rule10_destroy_errnos,
        rule10_destroy_of_a_mac_spares_a_reused_id,
        zone_errnos,
    }
    suite scenario in scenarios {
        illumos10001_returns_never_collide,
        illumos15167_ngz_links_never_reach_gz,
        os8627_holder_handle_outlives_teardown,
        stuck_down_zone_recovers,
        outbox_replay_ordered_exactly_once,
        outbox_replay_reentry_refused,
    }
    suite obs in observe {
        kstat_reads_back_gauges,
        kstat_reads_back_stuck_zone_recovery,
        kstat_shows_one_registry_at_a_time,
        link_records_come_from_the_cache,
    }
    suite sync in locks {
        mutex_guards_data,
        condvar_wait_times_out,
        condvar_notify_has_no_memory,
        condvar_wait_sig_interrupted,
        rwlock_readers_share,
        atomics_and_arc,
    }
    suite alloc in heap {
        box_and_vec_round_trip,
        zeroed_allocation,
        aligned_16,
        aligned_64,
        aligned_4096,
        mixed_sizes_churn,
    }
    #[cfg(dlszone_ktest_selffail)]
    suite selffail in selffail {
        deliberate_fail,
        deliberate_error,
    }
};

const _: () = assert!(valid_name(MODULE) && table::valid_table(SUITES));

/// Every suite, in registration order.
pub fn suites() -> &'static [Suite] {
    SUITES
}

/// How many tests the table holds.
pub fn test_count() -> usize {
    SUITES.iter().map(|s| s.tests.len()).sum()
}

#[cfg(not(kmod))]
mod alloc_check;
#[cfg(not(kmod))]
pub use alloc_check::CheckedAlloc;
