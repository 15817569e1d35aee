//! Module setup and teardown of dlszone's observability: the link record
//! cache and the `dlszone` kstat. What a module's `_init`/`_fini` (the
//! ktest module) or `dls_mgmt_init`/`dls_mgmt_fini` (the C ABI object)
//! call, in this order:
//!
//! ```text
//! init:  kmod::obs::init()?;                  // cache, then kstat
//!        let reg = Registry::new();
//!        kmod::obs::show(&reg);               // the kstat shows reg
//! fini:  kmod::obs::hide();                   // the kstat shows nothing
//!        drop(reg);                           // frees its link records
//!        kmod::obs::fini()?;                  // kstat, then cache
//! ```
//!
//! The probes need no setup: krtld wires them at load.
//!
//! # Context
//!
//! Module load and unload only (may sleep); neither runs concurrently
//! with the other or with any registry operation.

use super::{cache, kstat};
use crate::errno::KResult;
use crate::registry::Registry;

/// Creates the link record cache, then the kstat. On failure nothing is
/// left behind. Errors: `EEXIST` already set up; `ENOMEM`.
pub fn init() -> KResult<()> {
    cache::LINK_CACHE.create(cache::link_record_layout())?;
    if let Err(e) = kstat::create() {
        // Nothing was allocated from the cache yet.
        let _ = cache::LINK_CACHE.destroy();
        return Err(e);
    }
    Ok(())
}

/// Deletes the kstat, then destroys the cache. Errors: `EBUSY` link
/// records are still alive (a registry not dropped, or a holder's
/// reference): the cache stays, the kstat is gone; call again once they
/// are freed.
pub fn fini() -> KResult<()> {
    kstat::delete();
    cache::LINK_CACHE.destroy()
}

/// Makes the kstat show `registry`'s statistics (replacing any other).
pub fn show(registry: &Registry) {
    drop(kstat::show(Some(registry.stats_handle())));
}

/// Makes the kstat show nothing (zeros).
pub fn hide() {
    drop(kstat::show(None));
}

/// Link records alive in the cache (for module teardown and tests).
pub fn live_link_records() -> usize {
    cache::LINK_CACHE.live()
}
