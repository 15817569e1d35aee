//! kload: loads dlszone's illumos kernel objects into a host process, the
//! way krtld and modctl load them into a kernel, and runs them against an
//! emulated DDI.
//!
//! The kernel build produces `build/amd64/dlszone_ktest`, an ELF64
//! relocatable object for the amd64 kernel code model. kload
//!
//! 1. reads it as krtld does and refuses what krtld would refuse (or
//!    mis-apply): [`kobj`], [`elf`], [`reloc`];
//! 2. maps it below 2 GiB, where kernel-model addressing works in a user
//!    process ([`lowmem`]), binds its undefined symbols to the emulated
//!    kernel ([`emu`]) and relocates it;
//! 3. drives its module life cycle (`_init`, `_info`, `_fini`:
//!    [`machine`]), each call on a kernel thread with a measured stack
//!    ([`kthread`]);
//! 4. runs the ktests it registered as `ktest run` does and prints the
//!    same table ([`runner`]);
//! 5. reports what a DEBUG kernel with kmem debugging would: leaks,
//!    locks held, wrong frees, blown stack budgets.
//!
//! [`dls`] does the same for `build/amd64/dls_mgmt.o`, the object linked
//! into misc/dls: as a static library that the C tests of its interface
//! link in place of the host build, it loads the object and forwards
//! every exported function to it. [`drv`] loads a driver that depends on
//! misc/dls (`build/amd64/dlszone`) next to it, its IPD 3 symbols bound
//! to the loaded object's, and acts as the device framework: attach,
//! open, ioctl, close, detach ([`emu::ddi`]).
//!
//! Only amd64 Linux hosts are supported: the object's code runs natively.
//! What this proves and what only an illumos kernel can: docs/testing.md.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("kload runs amd64 kernel code natively: it needs an x86_64 Linux host");

pub mod dls;
pub mod drv;
pub mod elf;
pub mod emu;
pub mod kobj;
pub mod kthread;
pub mod lowmem;
pub mod machine;
pub mod reloc;
pub mod runner;
pub mod symbols;

pub use kobj::{LoadError, LoadOptions, ModuleExports, Object};
pub use machine::{Machine, Module};
