//! What the driver needs from the kernel, as one small trait: user copies,
//! credentials, and the credential form the IPD 3 entry points take.
//!
//! `illumos` implements it over the DDI (`ddi_copyin`, `ddi_copyout`,
//! `crgetzoneid`, `secpolicy_dl_config`, `zone_find_by_id`); `host`
//! implements it for the tests, with a simulated user address space and
//! credentials that carry a zone and whether they hold the privilege.

use dlszone::errno::Errno;

use crate::dls::DlsCred;

/// The kernel services of the driver.
pub trait Sys {
    /// A caller's credential (`cred_t *` in the kernel).
    type Cred: Copy;

    /// Copies `dst.len()` bytes in from address `uaddr`, as
    /// `ddi_copyin(uaddr, dst, len, mode)` does: a user address unless
    /// `mode` has `FKIOCTL`. `EFAULT` if any byte cannot be read.
    fn copyin(&self, uaddr: u64, dst: &mut [u8], mode: i32) -> Result<(), Errno>;

    /// Copies `src` out to address `uaddr`, as `ddi_copyout()` does.
    /// `EFAULT` if any byte cannot be written.
    fn copyout(&self, src: &[u8], uaddr: u64, mode: i32) -> Result<(), Errno>;

    /// The minor number of a `dev_t` (`getminor()`).
    fn minor(&self, dev: u64) -> u32;

    /// The zone of a credential (`crgetzoneid()`).
    fn zone(&self, cr: Self::Cred) -> i32;

    /// `secpolicy_dl_config(cr)`: `Ok` if the credential may configure
    /// datalinks, otherwise the policy's error (`EPERM`).
    fn dl_config(&self, cr: Self::Cred) -> Result<(), Errno>;

    /// Whether a zone of this id exists (`zone_find_by_id()` finds it).
    fn zone_exists(&self, zid: i32) -> bool;

    /// The credential as the IPD 3 entry points take it.
    fn dls_cred(&self, cr: Self::Cred) -> DlsCred;
}
