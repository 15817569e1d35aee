//! Implicit IP tunnels: opening `/dev/net/ip.tun0` (or `ip6.tun0`,
//! `ip.6to4tun0`) when no such link exists creates the tunnel, and the
//! last close deletes it. misc/dls reaches iptun through genunix stubs.
//!
//! The create needs an `iptun_kparams_t` with the link id, the tunnel
//! type and the flags `IPTUN_KPARAM_TYPE | IPTUN_KPARAM_IMPLICIT`, the
//! rest zero. With gate headers (`cfg(dlszone_shim)`) the C shim fills it
//! in; otherwise [`implicit_params`] does, over the declaration in
//! `include/dlszone_ddi.h`, whose size and every offset `ffi/layout.rs`
//! pins and a unit test compares with the C compiler.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::ffi;

/// `IPTUN_TYPE_IPV4`.
pub const TYPE_IPV4: u32 = 1;
/// `IPTUN_TYPE_6TO4`, the largest type.
pub const TYPE_6TO4: u32 = 3;

static_assertions::const_assert_eq!(TYPE_IPV4, ffi::iptun_type_t::IPTUN_TYPE_IPV4.0);
static_assertions::const_assert_eq!(TYPE_6TO4, ffi::iptun_type_t::IPTUN_TYPE_6TO4.0);

/// Whether `kind` is a tunnel type an implicit tunnel can have (IPv4,
/// IPv6, 6to4).
pub const fn kind_is_valid(kind: u32) -> bool {
    kind >= TYPE_IPV4 && kind <= TYPE_6TO4
}

/// The `iptun_kparams_t` of implicit tunnel `linkid` of type `kind`;
/// `None` for a type that is not one of the three.
pub fn implicit_params(linkid: u32, kind: u32) -> Option<ffi::iptun_kparams_t> {
    if !kind_is_valid(kind) {
        return None;
    }
    // SAFETY: the structure is integers, a C enum (an integer newtype) and
    // opaque byte blobs: all zeroes is a valid value, and the one C wants
    // for the members an implicit tunnel leaves unset.
    let mut k: ffi::iptun_kparams_t = unsafe { core::mem::zeroed() };
    k.iptun_kparam_linkid = linkid;
    k.iptun_kparam_type = ffi::iptun_type_t(kind);
    k.iptun_kparam_flags = (ffi::IPTUN_KPARAM_TYPE | ffi::IPTUN_KPARAM_IMPLICIT) as u32;
    Some(k)
}

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ffi::CStr;

    use super::kind_is_valid;
    use crate::door::RawErrno;
    use crate::errno::Errno;
    use crate::ffi;
    use crate::kmod::{cabi, devname, netstack, zone};

    /// `IPTUN_DRIVER_NAME` (`inet/iptun/iptun_impl.h`).
    const DRIVER: &CStr = c"iptun";

    /// Instance 0 of the iptun driver, attached and held
    /// (`ddi_hold_devi_by_instance()`), released on drop.
    struct Attached(*mut ffi::dev_info_t);

    impl Attached {
        /// `EINVAL` if the driver is unknown or does not attach, as gate.
        fn hold() -> Result<Attached, RawErrno> {
            // SAFETY: a NUL-terminated name that is only read.
            let major =
                devname::major(unsafe { ffi::ddi_name_to_major(DRIVER.as_ptr().cast_mut()) })
                    .ok_or(RawErrno::from(Errno::EINVAL))?;
            // SAFETY: attaches (if needed) and holds instance 0; null on
            // failure.
            let dip = unsafe { ffi::ddi_hold_devi_by_instance(major, 0, 0) };
            if dip.is_null() { Err(Errno::EINVAL.into()) } else { Ok(Attached(dip)) }
        }
    }

    impl Drop for Attached {
        fn drop(&mut self) {
            // SAFETY: the hold `hold` took, released once.
            unsafe { ffi::ddi_release_devi(self.0) };
        }
    }

    /// Creates implicit tunnel `linkid` of type `kind` (1 IPv4, 2 IPv6,
    /// 3 6to4) as the calling thread (`iptun_create()` with `CRED()`),
    /// after making sure the iptun driver is attached and holding the
    /// caller's netstack for the call, as gate does. `EINVAL` for another
    /// type or a driver that does not attach; iptun's errors otherwise.
    /// Sleeps.
    pub fn create_implicit(linkid: u32, kind: u32) -> Result<(), RawErrno> {
        if !kind_is_valid(kind) {
            return Err(Errno::EINVAL.into());
        }
        let _attached = Attached::hold()?;
        let _stack = netstack::Current::hold();
        create(linkid, kind)
    }

    #[cfg(dlszone_shim)]
    unsafe extern "C" {
        /// `ffi/shim/dlszone_shim.h`: iptun_create()'s result, or EINVAL.
        fn dlszone_iptun_create_implicit(
            linkid: ffi::datalink_id_t,
            kind: core::ffi::c_int,
            cr: *mut ffi::cred_t,
        ) -> core::ffi::c_int;
    }

    /// The create itself, through the C shim (gate headers).
    #[cfg(dlszone_shim)]
    fn create(linkid: u32, kind: u32) -> Result<(), RawErrno> {
        let kind = core::ffi::c_int::try_from(kind).map_err(|_| RawErrno::from(Errno::EINVAL))?;
        // SAFETY: the caller's own credential; the shim builds the
        // parameters on its stack.
        cabi::check(unsafe { dlszone_iptun_create_implicit(linkid, kind, zone::cred()) })
    }

    /// The create itself, with the parameters built in Rust.
    #[cfg(not(dlszone_shim))]
    fn create(linkid: u32, kind: u32) -> Result<(), RawErrno> {
        let mut k = super::implicit_params(linkid, kind).ok_or(RawErrno::from(Errno::EINVAL))?;
        // SAFETY: `k` is a complete iptun_kparams_t (layout pinned in
        // ffi/layout.rs) that iptun_create() reads; the caller's own
        // credential.
        cabi::check(unsafe { ffi::iptun_create(&mut k, zone::cred()) })
    }

    /// Deletes implicit tunnel `linkid` with the zone's kernel credential
    /// (`iptun_delete(linkid, zone_kcred())`): the thread making the last
    /// close may lack the privilege, but the tunnel must go. Sleeps.
    pub fn delete(linkid: u32) -> Result<(), RawErrno> {
        // SAFETY: a link id and the zone's kernel credential.
        cabi::check(unsafe { ffi::iptun_delete(linkid, zone::kcred()) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn implicit_params_set_id_type_and_flags_only() {
        for kind in 1..=3u32 {
            let k = implicit_params(42, kind).unwrap();
            assert_eq!(k.iptun_kparam_linkid, 42);
            assert_eq!(k.iptun_kparam_type.0, kind);
            assert_eq!(k.iptun_kparam_flags, 0x11);
            assert_eq!(k._iptun_kparam_padding, 0);
            // Everything else is zero.
            // SAFETY: reading the plain-data structure as bytes.
            let bytes: &[u8; 544] = unsafe { &*(&raw const k).cast::<[u8; 544]>() };
            assert!(bytes.get(8..536).unwrap().iter().all(|&b| b == 0));
        }
        assert!(implicit_params(42, 0).is_none());
        assert!(implicit_params(42, 4).is_none());
    }
}
