//! Zones and credentials: the caller's zone, a credential's zone, and a
//! zone's incarnation and state.
//!
//! Zone ids are recycled, so the registry names a zone by (id,
//! incarnation). The incarnation comes from one of two places:
//!
//! - **shim mode** (`cfg(dlszone_shim)`: built against illumos-gate
//!   headers): the zone's own `zone_uniqid`, read by the C shim
//!   (`dlszone_zone_key()`), since Rust never hard-codes a `zone_t` offset;
//! - **ZSD mode** (the default build, without gate headers): a number of
//!   dlszone's own, handed out through zone-specific data. [`init`]
//!   registers a ZSD key whose create callback runs for every zone that
//!   exists then and every zone created later, and gives each a fresh
//!   number from a counter; [`info`] reads it back with
//!   `zone_getspecific()`. The global zone's is 0, as its `zone_uniqid`
//!   (`GLOBAL_ZONEUNIQID`). The number is stored *as* the ZSD value (a
//!   non-null integer, never a pointer to memory), so there is nothing to
//!   free and no window in which a reader could see freed memory: the key
//!   needs no shutdown or destroy callback.
//!
//! In ZSD mode a zone that was already `down` (or further gone) when the
//! key was created has no number; [`info`] treats it as gone. No link of
//! this registry can refer to such a zone: links are recorded only while
//! the module is loaded, and a zone in `down` takes no new links.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::sync::atomic::{AtomicU64, Ordering};

/// The first incarnation number ZSD mode gives a non-global zone; 0 is the
/// global zone's (`GLOBAL_ZONEUNIQID`), and a null ZSD value means "none".
pub const FIRST_INCARNATION: u64 = 1;

/// A source of incarnation numbers: unique for the life of the module,
/// never 0.
pub struct Incarnations {
    next: AtomicU64,
}

impl Default for Incarnations {
    fn default() -> Self {
        Self::new()
    }
}

impl Incarnations {
    /// A counter starting at [`FIRST_INCARNATION`].
    pub const fn new() -> Self {
        Incarnations { next: AtomicU64::new(FIRST_INCARNATION) }
    }

    /// A fresh number. After 2^64 - 1 zone creations (never, in practice)
    /// it would wrap; 0 is skipped even then, so a number is never taken
    /// for "none".
    pub fn next(&self) -> u64 {
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            if n != 0 {
                return n;
            }
        }
    }
}

/// The ZSD value that stores incarnation `n` (a non-null word, not an
/// address).
pub const fn incarnation_to_zsd(n: u64) -> usize {
    n as usize
}

/// The incarnation a ZSD value stores; `None` for null (no value: the zone
/// was already `down` when the key was made, or the key does not exist).
pub const fn zsd_to_incarnation(v: usize) -> Option<u64> {
    if v == 0 { None } else { Some(v as u64) }
}

// usize is 64 bits on the kernel's LP64 target, so the cast is lossless.
static_assertions::const_assert!(core::mem::size_of::<usize>() == core::mem::size_of::<u64>());

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    #[cfg(not(dlszone_shim))]
    use core::ffi::c_void;
    #[cfg(not(dlszone_shim))]
    use core::ptr;
    #[cfg(not(dlszone_shim))]
    use core::sync::atomic::{AtomicU32, Ordering};

    #[cfg(not(dlszone_shim))]
    use super::{Incarnations, incarnation_to_zsd, zsd_to_incarnation};
    use crate::ffi;
    use crate::kmod::cabi;

    /// A zone's incarnation and `zone_status_t`, as [`info`] reports them.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct Info {
        /// `zone_uniqid` (shim mode) or dlszone's number (ZSD mode).
        pub uniqid: u64,
        /// The zone's `zone_status_t`.
        pub status: i32,
    }

    /// The zone of the calling thread: `crgetzoneid(CRED())`.
    pub fn current() -> i32 {
        // SAFETY: ddi_get_cred() returns the calling thread's credential,
        // never null and held by the thread for as long as it runs.
        unsafe { ffi::crgetzoneid(ffi::ddi_get_cred()) }
    }

    /// The zone of credential `cr` (a `cred_t *` from the kernel, as an
    /// integer); `None` for a null one.
    pub fn of_cred(cr: usize) -> Option<i32> {
        if cr == 0 {
            return None;
        }
        // SAFETY: a non-null credential the kernel handed to the caller,
        // who holds it for the duration of the call (the seam's contract).
        Some(unsafe { ffi::crgetzoneid(cabi::ptr(cr)) })
    }

    /// The credential `zone_kcred()`: the kernel credential of the calling
    /// thread's zone (upcalls and implicit-tunnel deletion act with it).
    pub(crate) fn kcred() -> *mut ffi::cred_t {
        // SAFETY: no arguments; the zone's kcred lives as long as the
        // zone, which outlives the calling thread.
        unsafe { ffi::zone_kcred() }
    }

    /// The calling thread's credential (`CRED()`).
    pub(crate) fn cred() -> *mut ffi::cred_t {
        // SAFETY: as in `current`.
        unsafe { ffi::ddi_get_cred() }
    }

    // ---- shim mode --------------------------------------------------------

    #[cfg(dlszone_shim)]
    unsafe extern "C" {
        /// `ffi/shim/dlszone_shim.h`: 0, or ENXIO when no zone has the id.
        fn dlszone_zone_key(zid: ffi::zoneid_t, uniqidp: *mut u64, statusp: *mut i32) -> i32;
    }

    /// Zone `zid`'s incarnation and state; `None` if no zone has that id
    /// now (`zone_find_by_id()` finds none). May block on `zonehash_lock`.
    #[cfg(dlszone_shim)]
    pub fn info(zid: i32) -> Option<Info> {
        let mut uniqid: u64 = 0;
        let mut status: i32 = 0;
        // SAFETY: both out-pointers are to locals; the shim takes and
        // drops its own zone reference.
        let err = unsafe { dlszone_zone_key(zid, &mut uniqid, &mut status) };
        (err == 0).then_some(Info { uniqid, status })
    }

    /// Shim mode needs no set-up: `zone_uniqid` is the incarnation.
    #[cfg(dlszone_shim)]
    pub fn init() {}

    /// Shim mode: nothing to undo.
    #[cfg(dlszone_shim)]
    pub fn fini() {}

    // ---- ZSD mode ---------------------------------------------------------

    /// The ZSD key (`zone_key_t`); 0 (`ZONE_KEY_UNINITIALIZED`) until
    /// [`init`] and after [`fini`].
    #[cfg(not(dlszone_shim))]
    static KEY: AtomicU32 = AtomicU32::new(0);

    /// Where ZSD mode's incarnation numbers come from.
    #[cfg(not(dlszone_shim))]
    static INCARNATIONS: Incarnations = Incarnations::new();

    /// The ZSD create callback: a fresh number for every zone but the
    /// global one (whose incarnation is 0 and needs no value).
    #[cfg(not(dlszone_shim))]
    unsafe extern "C" fn zsd_create(zid: ffi::zoneid_t) -> *mut c_void {
        if zid == ffi::GLOBAL_ZONEID {
            return ptr::null_mut();
        }
        ptr::without_provenance_mut(incarnation_to_zsd(INCARNATIONS.next()))
    }

    /// Registers the ZSD key (`zone_key_create()`), which runs the create
    /// callback for every zone initialised and not yet `down` before it
    /// returns.
    /// Sleeps (KM_SLEEP). Call once, from the module's init; a second call
    /// does nothing.
    #[cfg(not(dlszone_shim))]
    pub fn init() {
        if KEY.load(Ordering::Acquire) != 0 {
            return;
        }
        let mut key: ffi::zone_key_t = 0;
        // SAFETY: `key` is a local the kernel writes once the create
        // callback has run for every zone; the callback is a plain
        // function with the ZSD signature and never unwinds. No shutdown
        // or destroy callback: the values are numbers, not memory.
        unsafe { ffi::zone_key_create(&mut key, Some(zsd_create), None, None) };
        KEY.store(key, Ordering::Release);
    }

    /// Deletes the ZSD key (`zone_key_delete()`). Call once, from the
    /// module's fini, when no thread can be in [`info`]. Sleeps.
    #[cfg(not(dlszone_shim))]
    pub fn fini() {
        let key = KEY.swap(0, Ordering::AcqRel);
        if key != 0 {
            // SAFETY: a key zone_key_create() gave us, deleted once (the
            // swap above). Its -1 (unknown key) cannot happen and needs no
            // handling.
            let _ = unsafe { ffi::zone_key_delete(key) };
        }
    }

    /// Zone `zid`'s incarnation and state; `None` if no zone has that id
    /// now, or if the zone has no number (it was already `down` when
    /// [`init`] ran, or `init` has not run). May block on `zonehash_lock`
    /// and the zone's `zone_lock`; does not sleep.
    #[cfg(not(dlszone_shim))]
    pub fn info(zid: i32) -> Option<Info> {
        // SAFETY: zone_find_by_id() takes a reference on the zone it
        // returns (or returns null), released below.
        let zp = unsafe { ffi::zone_find_by_id(zid) };
        if zp.is_null() {
            return None;
        }
        let key = KEY.load(Ordering::Acquire);
        // SAFETY: `zp` is held. zone_getspecific() takes the zone's lock
        // and returns null for a key the zone does not have (including 0).
        let (status, value) = unsafe {
            let status = ffi::zone_status_get(zp);
            let value = if key == 0 { ptr::null_mut() } else { ffi::zone_getspecific(key, zp) };
            ffi::zone_rele(zp);
            (status, value)
        };
        let uniqid = if zid == ffi::GLOBAL_ZONEID {
            ffi::GLOBAL_ZONEUNIQID as u64
        } else {
            zsd_to_incarnation(value.addr())?
        };
        Some(Info { uniqid, status: status.0 as i32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_are_fresh_and_never_zero() {
        let inc = Incarnations::new();
        assert_eq!(inc.next(), FIRST_INCARNATION);
        assert_eq!(inc.next(), FIRST_INCARNATION + 1);
        // Force the wrap: u64::MAX, then 0 is skipped.
        inc.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(inc.next(), u64::MAX);
        assert_eq!(inc.next(), 1);
    }

    #[test]
    fn zsd_values_round_trip_and_null_means_none() {
        assert_eq!(zsd_to_incarnation(0), None);
        for n in [1u64, 2, 77, u64::MAX] {
            assert_eq!(zsd_to_incarnation(incarnation_to_zsd(n)), Some(n));
        }
    }
}
