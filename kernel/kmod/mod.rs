//! Kernel glue: the allocator, `cmn_err` logging, the panic handler and the
//! module linkage of `dlszone_ktest`.
//!
//! The logic that can be tested off the kernel lives in modules that build
//! on the host too ([`arc`], [`logbuf`], [`log`], [`kmem`], [`linkage`]); only the
//! calls into illumos are behind `cfg(kmod)`:
//!
//! | module          | host build                     | kernel build (`cfg(kmod)`)                  |
//! |-----------------|--------------------------------|---------------------------------------------|
//! | [`arc`]         | `Arc`, tested (std's is used)  | `crate::sync::Arc`: overflow panics         |
//! | [`logbuf`]      | bounded NUL-terminated buffer  | same                                        |
//! | [`log`]         | writes to stderr               | `cmn_err(level, "%s", buf)`                 |
//! | [`kmem`]        | layout arithmetic, tested      | `#[global_allocator]` over kmem_alloc/free  |
//! | [`linkage`]     | `_depends_on` checks, `SyncCell` | same                                      |
//! | [`cache`]       | record caches over std, tested | `kmem_cache_*`: `dlszone_link_cache`        |
//! | [`kstat`]       | per-thread stand-in            | the `dlszone:0:dlszone` named kstat         |
//! | [`obs`]         | `init`/`fini` of both          | same: what module setup calls               |
//! | `panic`         | (std's)                        | `#[panic_handler]` → `panic("%s", buf)`     |

pub mod arc;
pub mod cache;
pub mod kmem;
pub mod kstat;
pub mod linkage;
pub mod log;
pub mod logbuf;
pub mod obs;

#[cfg(kmod)]
mod panic;
