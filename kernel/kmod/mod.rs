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
//!
//! The kernel side of the `dls_mgmt.o` seam (`kernel/dls/seam.rs`, whose
//! `illumos.rs` calls these and nothing else). Each is a thin, documented
//! wrapper over the illumos functions named; kernel pointers travel as
//! opaque integers ([`cabi::handle`]), names as byte slices with their NUL
//! ([`cabi::arg`]), errors as [`RawErrno`](crate::door::RawErrno):
//!
//! | module          | host build (tested)                 | kernel build (`cfg(kmod)`)                         |
//! |-----------------|-------------------------------------|----------------------------------------------------|
//! | [`cabi`]        | C string checks, copies, errno      | same                                               |
//! | [`kmutex`]      | —                                   | `kmutex_t` in a `static` (door slot, MAC marks)    |
//! | [`zone`]        | incarnation numbers                 | `crgetzoneid`, `zone_find_by_id`, ZSD or the shim  |
//! | [`door_ki`]     | reply placement, event levels       | the dlmgmtd door slot and its `DoorPort`           |
//! | [`taskq`]       | `TQ_*` flags                        | `taskq_dispatch(system_taskq)`                     |
//! | [`netstack`]    | callback types                      | `netstack_register(NS_DLS)`, stack to zone         |
//! | [`mac`]         | the table of exclusive marks        | `mac_name`, perimeter, rename, exclusive           |
//! | [`dls_link`]    | —                                   | `dls_link_*`, `i_dls_link_hash` lookup             |
//! | [`link_kstat`]  | `ks_private` ↔ link id              | `dls_stat_create`, `kstat_delete`, update          |
//! | [`softmac`]     | —                                   | `softmac_hold_device`/`rele`/`recreate`            |
//! | [`iptun`]       | implicit-tunnel parameters          | `iptun_create`/`iptun_delete`                      |
//! | [`devname`]     | `(major_t)-1`                       | `ddi_major_to_name`, `ddi_name_to_major`           |

pub mod arc;
pub mod cabi;
pub mod cache;
pub mod devname;
pub mod dls_link;
pub mod door_ki;
pub mod iptun;
pub mod kmem;
#[cfg(kmod)]
pub mod kmutex;
pub mod kstat;
pub mod link_kstat;
pub mod linkage;
pub mod log;
pub mod logbuf;
pub mod mac;
pub mod netstack;
pub mod obs;
pub mod softmac;
pub mod taskq;
pub mod zone;

#[cfg(kmod)]
mod panic;
