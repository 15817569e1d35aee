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
//! | `panic`         | (std's)                        | `#[panic_handler]` → `panic("%s", buf)`     |

pub mod arc;
pub mod kmem;
pub mod linkage;
pub mod log;
pub mod logbuf;

#[cfg(kmod)]
mod panic;
