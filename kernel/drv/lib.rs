//! `drv/dlszone`: a pseudo driver whose ioctls let userland reach the IPD
//! 3 entry points of `dls_mgmt.o` (`include/sys/dlszone.h`): forced
//! recovery of a halted zone's links, the zone-qualified link list with
//! hold counts, the holders of a link, and the dlmgmtd outbox replay.
//! `include/sys/dlszone_ioctl.h` documents the interface; `dlszonectl`
//! is its command-line tool.
//!
//! Layers:
//!
//! - `dls`: the IPD 3 entry points (undefined symbols bound to `misc/dls`
//!   in the kernel; the `dlszone-dls` host build on the host) behind safe
//!   wrappers, the only place here that hands them pointers;
//! - [`sys`]: what the driver needs from the kernel, one small trait;
//! - [`ops`] and [`entry`]: the ioctls and the `cb_ops` entry points, safe
//!   code generic over that trait;
//! - `illumos` (kernel build): the trait over the DDI, `dev_ops`/`cb_ops`,
//!   attach/detach/getinfo and the `modldrv` linkage;
//! - [`host`] (host build): the trait over a simulated address space and
//!   credentials, and a driver instance for tests and `dlszonectl`;
//!   [`fixture`] builds the known-failure scenarios on the fake kernel.

#![no_std]
#![deny(unused_must_use)]

extern crate alloc;
#[cfg(not(kmod))]
extern crate std;

// The host build binds the IPD 3 entry points to the dlszone-dls crate's
// exported functions: it must be linked.
#[cfg(not(kmod))]
extern crate dlszone_dls;

pub mod dls;
pub mod entry;
pub mod ops;
pub mod sys;

#[cfg(not(kmod))]
pub mod fixture;
#[cfg(not(kmod))]
pub mod host;
#[cfg(kmod)]
pub mod illumos;
