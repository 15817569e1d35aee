//! Helpers shared by the scenario tests (each test file uses a subset).
#![allow(dead_code)]

use dlszone::errno::Errno;
use dlszone::registry::{LinkName, Registry, Snapshot};

/// Checks every registry invariant after a step, passing its result on.
pub(crate) fn checked<T>(r: &Registry, out: T) -> T {
    if let Err(v) = r.check_invariants() {
        panic!("invariant broken: {v:?}");
    }
    out
}

/// A valid link name.
pub(crate) fn name(s: &str) -> LinkName {
    LinkName::new(s.as_bytes()).unwrap()
}

/// Asserts a call was refused with `e` and left the registry as `before`.
pub(crate) fn refused<T: std::fmt::Debug>(
    r: &Registry,
    before: &Snapshot,
    e: Errno,
    out: Result<T, Errno>,
) {
    assert_eq!(checked(r, out).err(), Some(e));
    assert_eq!(&r.snapshot(), before, "a refused call changed the registry");
}

// Every binary that shares these helpers also checks that the registry
// never allocates under its table writer, a gate or the outbox
// (`dlszone::registry::noalloc`).
#[global_allocator]
static ALLOC: dlszone_ktest::CheckedAlloc = dlszone_ktest::CheckedAlloc;
