//! The character device entry points (`cb_ops`), generic over [`Sys`]:
//! the kernel's `extern "C"` functions (`illumos`) and the host tests
//! (`host`) both call these.

#![forbid(unsafe_code)]

use dlszone::errno::Errno;
use dlszone_ioctl::DZ_MINOR;

use crate::ops::{self, Rc};
use crate::sys::Sys;

/// `OTYP_CHR` (`sys/open.h`): opened as a character device.
pub const OTYP_CHR: i32 = 2;

/// `open(9E)`: only the one minor node, only as a character device.
/// Anyone may open it (the node's permissions decide); each ioctl checks
/// the caller's privilege and zone itself.
pub fn open<K: Sys>(k: &K, dev: u64, _flag: i32, otyp: i32, _cr: K::Cred) -> Rc {
    if otyp != OTYP_CHR {
        return Errno::EINVAL.to_raw();
    }
    if k.minor(dev) != DZ_MINOR {
        return Errno::ENXIO.to_raw();
    }
    0
}

/// `close(9E)`: nothing is kept per open.
pub fn close<K: Sys>(_k: &K, _dev: u64, _flag: i32, otyp: i32, _cr: K::Cred) -> Rc {
    if otyp != OTYP_CHR {
        return Errno::EINVAL.to_raw();
    }
    0
}

/// `ioctl(9E)`: `*rval` is always 0; the outcome is the errno.
pub fn ioctl<K: Sys>(
    k: &K,
    dev: u64,
    cmd: i32,
    arg: u64,
    mode: i32,
    cr: K::Cred,
    rval: &mut i32,
) -> Rc {
    *rval = 0;
    if k.minor(dev) != DZ_MINOR {
        return Errno::ENXIO.to_raw();
    }
    ops::ioctl(k, cmd, arg, mode, cr)
}
