//! The host build of the driver: [`Sys`] over a simulated address space
//! and simulated credentials, on top of the host build of `dls_mgmt.o`
//! (`dlszone-dls` and its fake kernel and dlmgmtd).
//!
//! A [`Driver`] is an attached instance: the tests and `dlszonectl`'s host
//! backend call its [`open`](Driver::open), [`ioctl`](Driver::ioctl) and
//! [`close`](Driver::close), which run the same entry points the kernel's
//! `cb_ops` do. User memory is what they [`map`](Driver::map) into the
//! driver's simulated user address space: an address outside every
//! mapping, or a range running past one, faults (`EFAULT`), as `copyin(9F)`
//! does for a bad user pointer. With `FKIOCTL` in the mode the address is
//! looked up in a separate kernel address space instead, as
//! `ddi_copyin(9F)` then copies from kernel memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

use dlszone::errno::Errno;

use crate::dls::DlsCred;
use crate::entry;
use crate::ops::Rc;
use crate::sys::Sys;

/// `FKIOCTL` (`sys/file.h`): the ioctl comes from the kernel; its
/// argument addresses are kernel addresses.
pub const FKIOCTL: i32 = 0x8000_0000_u32 as i32;
/// `OTYP_CHR`.
pub const OTYP_CHR: i32 = entry::OTYP_CHR;
/// The major number of the host driver's `dev_t`s.
pub const HOST_MAJOR: u32 = 250;

/// A `dev_t` of the host driver (`makedevice()` on LP64).
pub fn makedev(minor: u32) -> u64 {
    (u64::from(HOST_MAJOR) << 32) | u64::from(minor)
}

/// A simulated credential: its zone, and whether it holds the privilege
/// `secpolicy_dl_config()` asks for (`sys_dl_config` or
/// `sys_net_config`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostCred {
    /// `crgetzoneid()`.
    pub zone: i32,
    /// `secpolicy_dl_config()` succeeds.
    pub dl_config: bool,
}

impl HostCred {
    /// root in the global zone.
    pub const fn global() -> HostCred {
        HostCred { zone: 0, dl_config: true }
    }

    /// A caller in zone `zone` with the privilege (root of an
    /// exclusive-IP zone has `sys_dl_config` in its limit set).
    pub const fn privileged(zone: i32) -> HostCred {
        HostCred { zone, dl_config: true }
    }

    /// A caller in zone `zone` without it.
    pub const fn unprivileged(zone: i32) -> HostCred {
        HostCred { zone, dl_config: false }
    }
}

/// One simulated address space: mappings by base address.
struct Space {
    maps: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

impl Space {
    fn new(base: u64) -> Space {
        Space { maps: BTreeMap::new(), next: base }
    }

    /// Maps `bytes` at a fresh address, with an unmapped page after it.
    fn map(&mut self, bytes: &[u8]) -> u64 {
        let base = self.next;
        let pages = (bytes.len() as u64).div_ceil(4096).max(1);
        self.next = base + (pages + 1) * 4096;
        self.maps.insert(base, bytes.to_vec());
        base
    }

    /// The mapping holding `[addr, addr + len)` and the offset in it.
    fn find(&mut self, addr: u64, len: usize) -> Option<(&mut Vec<u8>, usize)> {
        let (&base, m) = self.maps.range_mut(..=addr).next_back()?;
        let off = usize::try_from(addr - base).ok()?;
        let end = off.checked_add(len)?;
        (end <= m.len()).then_some((m, off))
    }
}

/// The user and kernel address spaces of a [`Driver`].
struct Memory {
    user: Space,
    kernel: Space,
}

impl Memory {
    fn space(&mut self, mode: i32) -> &mut Space {
        if mode & FKIOCTL != 0 { &mut self.kernel } else { &mut self.user }
    }
}

/// The host implementation of [`Sys`].
pub struct HostSys {
    mem: Mutex<Memory>,
}

impl HostSys {
    fn mem(&self) -> MutexGuard<'_, Memory> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sys for HostSys {
    type Cred = HostCred;

    fn copyin(&self, uaddr: u64, dst: &mut [u8], mode: i32) -> Result<(), Errno> {
        let mut mem = self.mem();
        let (m, off) = mem.space(mode).find(uaddr, dst.len()).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(m.get(off..off + dst.len()).ok_or(Errno::EFAULT)?);
        Ok(())
    }

    fn copyout(&self, src: &[u8], uaddr: u64, mode: i32) -> Result<(), Errno> {
        let mut mem = self.mem();
        let (m, off) = mem.space(mode).find(uaddr, src.len()).ok_or(Errno::EFAULT)?;
        m.get_mut(off..off + src.len()).ok_or(Errno::EFAULT)?.copy_from_slice(src);
        Ok(())
    }

    fn minor(&self, dev: u64) -> u32 {
        dev as u32
    }

    fn zone(&self, cr: HostCred) -> i32 {
        cr.zone
    }

    fn dl_config(&self, cr: HostCred) -> Result<(), Errno> {
        if cr.dl_config { Ok(()) } else { Err(Errno::EPERM) }
    }

    fn zone_exists(&self, zid: i32) -> bool {
        // zone_find_by_id() finds zones up to ZONE_IS_DOWN (7).
        (0..=7).contains(&dlszone_dls::host::dlszone_host_zone_state(zid))
    }

    fn dls_cred(&self, cr: HostCred) -> DlsCred {
        let p = dlszone_dls::host::dlszone_host_cred(cr.zone);
        // SAFETY: a fake kernel credential from dlszone_host_cred(), which
        // the host entry points decode as a number, never dereference.
        unsafe { DlsCred::new(p) }
    }
}

/// An attached host instance of the driver.
pub struct Driver {
    sys: HostSys,
}

impl Default for Driver {
    fn default() -> Self {
        Driver::new()
    }
}

impl Driver {
    /// A driver with empty address spaces.
    pub fn new() -> Driver {
        let mem = Memory {
            user: Space::new(0x0000_1000_0000),
            kernel: Space::new(0xffff_fe00_0000_0000),
        };
        Driver { sys: HostSys { mem: Mutex::new(mem) } }
    }

    /// Maps a copy of `bytes` into the user address space; its address.
    pub fn map(&self, bytes: &[u8]) -> u64 {
        self.sys.mem().user.map(bytes)
    }

    /// Maps a copy of `bytes` into the kernel address space (for
    /// `FKIOCTL` callers); its address.
    pub fn map_kernel(&self, bytes: &[u8]) -> u64 {
        self.sys.mem().kernel.map(bytes)
    }

    /// The current contents of the user mapping at `addr`.
    pub fn read(&self, addr: u64) -> Option<Vec<u8>> {
        self.sys.mem().user.maps.get(&addr).cloned()
    }

    /// The current contents of the kernel mapping at `addr`.
    pub fn read_kernel(&self, addr: u64) -> Option<Vec<u8>> {
        self.sys.mem().kernel.maps.get(&addr).cloned()
    }

    /// Unmaps the user mapping at `addr`.
    pub fn unmap(&self, addr: u64) {
        self.sys.mem().user.maps.remove(&addr);
    }

    /// `open(9E)` of minor `minor`.
    pub fn open(&self, minor: u32, otyp: i32, cr: HostCred) -> Rc {
        entry::open(&self.sys, makedev(minor), 0, otyp, cr)
    }

    /// `ioctl(9E)` on minor `minor`; `arg` is an address in the address
    /// space `mode` selects.
    pub fn ioctl(&self, minor: u32, cmd: i32, arg: u64, mode: i32, cr: HostCred) -> Rc {
        let mut rval = -1;
        let r = entry::ioctl(&self.sys, makedev(minor), cmd, arg, mode, cr, &mut rval);
        debug_assert_eq!(rval, 0);
        r
    }

    /// `close(9E)`.
    pub fn close(&self, minor: u32, otyp: i32, cr: HostCred) -> Rc {
        entry::close(&self.sys, makedev(minor), 0, otyp, cr)
    }
}
