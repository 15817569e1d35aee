//! `dls_mgmt.o`: the dlszone registry behind the exact C ABI of illumos'
//! `usr/src/uts/common/io/dls/dls_mgmt.c`, plus the IPD 3 entry points of
//! `include/sys/dlszone.h` and the dlmgmtd door.
//!
//! Layers (`docs/design.md`):
//!
//! - [`seam`]: everything the object needs from the rest of illumos, as
//!   one trait; `illumos` implements it over `dlszone::kmod` (kernel
//!   build), `host` with a fake kernel and a fake dlmgmtd (host build);
//! - the logic behind each entry point, safe and generic over the seam;
//! - `abi`: the `extern "C"` functions, the only place here that touches
//!   C pointers.

#![no_std]
#![deny(unused_must_use)]

extern crate alloc;
#[cfg(not(kmod))]
extern crate std;

pub mod abi;
mod devnet;
mod dls;
pub mod handles;
mod holds;
mod queries;
pub mod seam;
mod zones;

#[cfg(not(kmod))]
pub mod dlmgmtd;
#[cfg(not(kmod))]
pub mod door_faults;
#[cfg(not(kmod))]
pub mod host;
#[cfg(kmod)]
mod illumos;

pub use dls::{CResult, Dls};
