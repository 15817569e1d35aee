//! The host backend: [`Dev`] over the host build of drv/dlszone (its entry
//! points, over the host build of `dls_mgmt.o` and its fake kernel), for
//! the end-to-end tests. Buffers are mapped into the driver's simulated
//! user address space for each ioctl, as a process's memory would be.

use dlszone_drv::host::{Driver, HostCred, OTYP_CHR};

use crate::{Dev, Errno};

/// An open of the host driver, by a caller with credential `cred`.
pub struct HostDev<'a> {
    drv: &'a Driver,
    cred: HostCred,
    zones: Vec<(i32, String)>,
}

impl<'a> HostDev<'a> {
    /// Opens the driver's node as `cred`; `zones` names the zones.
    pub fn open(drv: &'a Driver, cred: HostCred, zones: &[(i32, &str)]) -> Result<Self, Errno> {
        match drv.open(0, OTYP_CHR, cred) {
            0 => Ok(HostDev {
                drv,
                cred,
                zones: zones.iter().map(|(i, n)| (*i, n.to_string())).collect(),
            }),
            e => Err(e),
        }
    }
}

impl Drop for HostDev<'_> {
    fn drop(&mut self) {
        let _ = self.drv.close(0, OTYP_CHR, self.cred);
    }
}

impl Dev for HostDev<'_> {
    fn ioctl(
        &mut self,
        cmd: i32,
        arg: &mut [u8],
        data: Option<(&mut [u8], usize)>,
    ) -> Result<(), Errno> {
        let mut a = arg.to_vec();
        let mut buf = None;
        if let Some((d, off)) = data {
            let at = self.drv.map(d);
            if let Some(slot) = a.get_mut(off..off + 8) {
                slot.copy_from_slice(&at.to_ne_bytes());
            }
            buf = Some((d, at));
        }
        let at = self.drv.map(&a);
        let r = self.drv.ioctl(0, cmd, at, 0, self.cred);
        if let Some(back) = self.drv.read(at) {
            arg.copy_from_slice(&back[..arg.len()]);
        }
        self.drv.unmap(at);
        if let Some((d, at)) = buf {
            if let Some(back) = self.drv.read(at) {
                d.copy_from_slice(&back[..d.len()]);
            }
            self.drv.unmap(at);
        }
        if r == 0 { Ok(()) } else { Err(r) }
    }

    fn zone_name(&self, id: i32) -> Option<String> {
        self.zones.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone())
    }

    fn zone_id(&self, name: &str) -> Option<i32> {
        self.zones.iter().find(|(_, n)| n == name).map(|(i, _)| *i)
    }
}
