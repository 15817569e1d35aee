//! The dlmgmtd door protocol, as the kernel speaks it.
//!
//! The kernel asks dlmgmtd (the datalink management daemon) questions and
//! tells it about changes through a door upcall: it hands the door a
//! fixed-size request structure from `sys/dls_mgmt.h` and reads a
//! fixed-size reply that always starts with a `uint_t lr_err`. This module
//! is that protocol, portable and without `unsafe`:
//!
//! - [`proto`]: `#[repr(C)]` mirrors of every request the kernel sends
//!   (`DLMGMT_CMD_DLS_CREATE` .. `DLMGMT_CMD_SETZONEID`) and every reply it
//!   reads, each size and field offset pinned at compile time to the amd64
//!   (LP64) values, with safe encoding to bytes and decoding from bytes.
//!   Decoding never panics: a reply of the wrong size or with contents the
//!   kernel cannot trust (a name without its NUL, an unknown class, an
//!   `lr_err` that is no illumos errno, ...) is an [`Errno`] error.
//! - [`upcall`]: the retry rules of illumos' `i_dls_mgmt_upcall()` over a
//!   small trait ([`upcall::DoorPort`]), and the per-command wrappers with
//!   the semantics of the `dls_mgmt_*` functions of `dls_mgmt.c`, so the
//!   kernel implements the trait with `door_ki_*` and the tests with a fake.
//!
//! Errors of the door call itself and errors dlmgmtd reports are any
//! illumos errno, not only the ones the registry uses, so they travel as a
//! [`RawErrno`]; format errors found while decoding are [`Errno`] values.
//!
//! Nothing here locks, allocates or sleeps, except through the
//! [`upcall::DoorPort`] the caller supplies.

#![forbid(unsafe_code)]
// Nothing here may panic on input from dlmgmtd or from C: no indexing or
// slicing that can fail, no unwrap, no arithmetic that can overflow.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

pub mod proto;
pub mod upcall;
mod wire;

use core::fmt;

use crate::errno::Errno;

pub use proto::{
    Cmd, DatalinkClass, DatalinkMedia, DlmgmtDoorGetlinkid, DlmgmtDoorGetname, DlmgmtDoorGetnext,
    DlmgmtDoorLinkpropInit, DlmgmtDoorSetzoneid, DlmgmtGetattrRetval, DlmgmtGetnameRetval,
    DlmgmtLinkidRetval, DlmgmtRetval, DlmgmtUpcallArgCreate, DlmgmtUpcallArgDestroy,
    DlmgmtUpcallArgGetattr, DlmgmtUpcallArgUpdate, LinkFlags,
};

/// The largest errno value illumos defines (`ESTALE`, 151, in
/// `sys/errno.h`).
pub const MAX_ERRNO: i32 = 151;

/// An illumos errno value as a door call or dlmgmtd reports it.
///
/// Unlike [`Errno`], which names only the values the registry itself
/// returns, this carries any value illumos defines, because the kernel
/// hands dlmgmtd's answer (`EROFS`, `EIO`, `E2BIG`, ...) back to its
/// caller unchanged, as `i_dls_mgmt_upcall()` does.
///
/// # Invariants
///
/// The value is in `1..=MAX_ERRNO`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RawErrno(u8);

impl RawErrno {
    /// Wraps `v` if it is an illumos errno value (`1..=MAX_ERRNO`).
    pub fn new(v: i64) -> Option<RawErrno> {
        if (1..=i64::from(MAX_ERRNO)).contains(&v) {
            u8::try_from(v).ok().map(RawErrno)
        } else {
            None
        }
    }

    /// The value to hand back to C.
    pub const fn get(self) -> i32 {
        self.0 as i32
    }

    /// The same value as an [`Errno`], if the registry's set has it.
    pub fn errno(self) -> Option<Errno> {
        Errno::from_raw(self.get())
    }

    /// The same value as an [`Errno`], whether or not the registry's set
    /// names it, so it can travel through the registry unchanged.
    pub fn to_errno(self) -> Errno {
        Errno::from_illumos(self.get()).unwrap_or(Errno::EINVAL)
    }

    /// True when this is `e`.
    pub fn is(self, e: Errno) -> bool {
        self.get() == e.to_raw()
    }
}

impl From<Errno> for RawErrno {
    fn from(e: Errno) -> RawErrno {
        // Every Errno constant is an illumos value in 1..=151.
        match RawErrno::new(i64::from(e.to_raw())) {
            Some(r) => r,
            None => RawErrno(22),
        }
    }
}

impl fmt::Debug for RawErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Some(e) => write!(f, "{e:?}"),
            None => write!(f, "E#{}", self.0),
        }
    }
}

/// Result of an upcall: any illumos errno on failure.
pub type UpcallResult<T> = core::result::Result<T, RawErrno>;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn raw_errno_range() {
        assert_eq!(RawErrno::new(0), None);
        assert_eq!(RawErrno::new(-4), None);
        assert_eq!(RawErrno::new(152), None);
        assert_eq!(RawErrno::new(i64::MAX), None);
        assert_eq!(RawErrno::new(1).map(RawErrno::get), Some(1));
        assert_eq!(RawErrno::new(151).map(RawErrno::get), Some(151));
        // EROFS is an illumos errno the registry never returns itself.
        let erofs = RawErrno::new(30).expect("EROFS");
        assert_eq!(erofs.errno(), None);
        assert_eq!(format!("{erofs:?}"), "E#30");
    }

    #[test]
    fn raw_errno_from_errno_round_trips() {
        for e in Errno::ALL {
            let r = RawErrno::from(*e);
            assert_eq!(r.get(), e.to_raw());
            assert_eq!(r.errno(), Some(*e));
            assert!(r.is(*e));
        }
    }
}
