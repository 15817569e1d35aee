//! Network stacks: the `NS_DLS` callbacks through which the object learns
//! that a zone's stack is created, shut down (the zone halts) and
//! destroyed, and the netstack-to-zone mapping.
//!
//! The callbacks are the C ABI's; this module only registers them. Their
//! Rust types take `*mut c_void` where C has `netstack_t *` (an opaque
//! pointer the object never reads), so the registration converts the
//! function pointers between two ABI-identical signatures.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::ffi::c_void;

/// The create callback: `void *(*)(netstackid_t, netstack_t *)`.
pub type Create = unsafe extern "C" fn(i32, *mut c_void) -> *mut c_void;

/// The shutdown and destroy callbacks: `void (*)(netstackid_t, void *)`.
pub type Hook = unsafe extern "C" fn(i32, *mut c_void);

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ffi::c_void;

    use super::{Create, Hook};
    use crate::ffi;

    /// The create callback as bindgen types it.
    type CCreate = unsafe extern "C" fn(ffi::netstackid_t, *mut ffi::netstack_t) -> *mut c_void;

    /// `netstack_register(NS_DLS, ...)`: create runs at once for every
    /// existing stack, then for each new one. Sleeps.
    pub fn register(create: Create, shutdown: Hook, destroy: Hook) {
        // SAFETY: the two signatures differ only in the pointee type of
        // the second parameter (an opaque pointer either way): same ABI.
        let create = unsafe { core::mem::transmute::<Create, CCreate>(create) };
        // SAFETY: NS_DLS is dls' own module id; the callbacks are the
        // module's and stay loaded until `unregister` returns.
        unsafe { ffi::netstack_register(ffi::NS_DLS, Some(create), Some(shutdown), Some(destroy)) };
    }

    /// `netstack_unregister(NS_DLS)`: runs shutdown and destroy for every
    /// stack before it returns. Sleeps.
    pub fn unregister() {
        // SAFETY: undoes `register`; called once, from the module's fini.
        unsafe { ffi::netstack_unregister(ffi::NS_DLS) };
    }

    /// The zone of netstack `stackid` (`netstackid_to_zoneid()`).
    pub fn zone_of(stackid: i32) -> i32 {
        // SAFETY: a pure lookup by id.
        unsafe { ffi::netstackid_to_zoneid(stackid) }
    }

    /// A reference on the calling thread's netstack
    /// (`netstack_get_current()`), dropped with `netstack_rele()`.
    pub(crate) struct Current(*mut ffi::netstack_t);

    impl Current {
        /// Holds the calling thread's netstack (may be none).
        pub(crate) fn hold() -> Current {
            // SAFETY: returns the current netstack held, or null.
            Current(unsafe { ffi::netstack_get_current() })
        }
    }

    impl Drop for Current {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: the reference `hold` took.
                unsafe { ffi::netstack_rele(self.0) };
            }
        }
    }
}
