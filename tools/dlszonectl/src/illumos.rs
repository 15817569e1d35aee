//! The illumos backend: [`Dev`] over `/dev/dlszone`, and zone names from
//! libc (`getzonenamebyid(3C)`, `getzoneidbyname(3C)`).

use std::ffi::{CString, c_char, c_int};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

use dlszone_ioctl::DZ_DEVICE;

use crate::{Dev, Errno};

unsafe extern "C" {
    fn ioctl(fd: c_int, request: c_int, ...) -> c_int;
    fn getzoneidbyname(name: *const c_char) -> i32;
    fn getzonenamebyid(id: i32, buf: *mut c_char, len: usize) -> isize;
}

/// An open `/dev/dlszone`.
pub struct DevNode {
    file: File,
}

impl DevNode {
    /// Opens the node.
    pub fn open() -> io::Result<DevNode> {
        let file = OpenOptions::new().read(true).open(DZ_DEVICE)?;
        Ok(DevNode { file })
    }
}

impl Dev for DevNode {
    fn ioctl(
        &mut self,
        cmd: i32,
        arg: &mut [u8],
        data: Option<(&mut [u8], usize)>,
    ) -> Result<(), Errno> {
        if let Some((d, off)) = data {
            let at = d.as_mut_ptr() as u64;
            if let Some(slot) = arg.get_mut(off..off + 8) {
                slot.copy_from_slice(&at.to_ne_bytes());
            }
        }
        // SAFETY: `arg` is a live buffer of the structure's size and any
        // data buffer whose address it carries outlives the call (it is
        // borrowed for it); the driver writes within both sizes.
        let r = unsafe { ioctl(self.file.as_raw_fd(), cmd, arg.as_mut_ptr()) };
        if r == 0 {
            return Ok(());
        }
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(5))
    }

    fn zone_name(&self, id: i32) -> Option<String> {
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { getzonenamebyid(id, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return None;
        }
        let s = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Some(String::from_utf8_lossy(&buf[..s]).into_owned())
    }

    fn zone_id(&self, name: &str) -> Option<i32> {
        let c = CString::new(name).ok()?;
        // SAFETY: a NUL-terminated string that outlives the call.
        let id = unsafe { getzoneidbyname(c.as_ptr()) };
        (id >= 0).then_some(id)
    }
}
