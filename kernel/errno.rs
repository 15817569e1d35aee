//! Error numbers as the illumos kernel defines them (`sys/errno.h`).
//!
//! These are illumos' values, not the build host's: a host `libc::ENOTSUP`
//! is 95 on Linux, while the illumos kernel and its callers expect 48.
//! Every error the registry returns across the C ABI is one of these.

use core::fmt;

/// An illumos errno value.
///
/// # Invariants
///
/// The wrapped value is one of the positive constants defined in this
/// module.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(i32);

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $val:expr;)*) => {
        impl Errno {
            $($(#[$doc])* pub const $name: Errno = Errno($val);)*

            /// The symbolic name, e.g. `"EBUSY"`.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($val => stringify!($name),)*
                    _ => "E?",
                }
            }

            /// Every errno this module defines, for table-driven tests.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];
        }
    };
}

errnos! {
    /// Not owner / not permitted.
    EPERM = 1;
    /// No such link, or a link the caller's zone cannot see.
    ENOENT = 2;
    /// Interrupted wait.
    EINTR = 4;
    /// No such zone (unknown, or not in a state that can take links).
    ENXIO = 6;
    /// dlmgmtd door not registered (the daemon is down).
    EBADF = 9;
    /// Try again (e.g. a dlmgmtd notification for this link is pending).
    EAGAIN = 11;
    /// Out of memory.
    ENOMEM = 12;
    /// Operation reserved to the global zone.
    EACCES = 13;
    /// Bad address (a null pointer from C).
    EFAULT = 14;
    /// Link or zone busy.
    EBUSY = 16;
    /// Name, link id or MAC name already in use.
    EEXIST = 17;
    /// Invalid argument.
    EINVAL = 22;
    /// Hold table full.
    ENOSPC = 28;
    /// Operation not supported (persistent link from a non-global zone).
    ENOTSUP = 48;
    /// Name too long (no NUL within the buffer, or over MAXLINKNAMELEN).
    ENAMETOOLONG = 78;
    /// Value too large.
    EOVERFLOW = 79;
    /// Directory (zone) not empty.
    ENOTEMPTY = 93;
    /// Timed out.
    ETIMEDOUT = 145;
    /// Operation already in progress.
    EALREADY = 149;
    /// Stale handle (a zone generation that no longer exists).
    ESTALE = 151;
}

impl Errno {
    /// The raw value to hand back to C.
    pub const fn to_raw(self) -> i32 {
        self.0
    }

    /// Converts a raw value, if it is one this module knows.
    pub fn from_raw(v: i32) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.0 == v)
    }

    /// Carries any illumos errno (`1..=151`), named here or not: what
    /// dlmgmtd answers (`EIO`, `EROFS`, ...) goes back to the C caller
    /// unchanged, through the registry, as gate returns it.
    pub fn from_illumos(v: i32) -> Option<Errno> {
        (1..=151).contains(&v).then_some(Errno(v))
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result with an illumos errno as the error.
pub type KResult<T> = core::result::Result<T, Errno>;

/// Maps a result to the C convention: 0 or a positive errno.
pub fn to_c(r: KResult<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illumos_values_not_host_values() {
        assert_eq!(Errno::ENOTSUP.to_raw(), 48);
        assert_eq!(Errno::ETIMEDOUT.to_raw(), 145);
        assert_eq!(Errno::ENAMETOOLONG.to_raw(), 78);
        assert_eq!(Errno::EALREADY.to_raw(), 149);
        assert_eq!(Errno::ESTALE.to_raw(), 151);
    }

    #[test]
    fn values_are_distinct_and_round_trip() {
        for (i, a) in Errno::ALL.iter().enumerate() {
            assert_eq!(Errno::from_raw(a.to_raw()), Some(*a));
            for b in &Errno::ALL[i + 1..] {
                assert_ne!(a.to_raw(), b.to_raw());
            }
        }
        assert_eq!(to_c(Ok(())), 0);
        assert_eq!(to_c(Err(Errno::EBUSY)), 16);
        assert_eq!(Errno::from_illumos(30).map(Errno::to_raw), Some(30));
        assert_eq!(Errno::from_illumos(0), None);
        assert_eq!(Errno::from_illumos(152), None);
    }
}
