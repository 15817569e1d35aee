//! The functions `dls_mgmt.o` exports (`tools/dls_mgmt.exports`), with
//! their C prototypes, each forwarding to the loaded object's symbol of
//! the same name ([`super::call`]). The C tests link these instead of the
//! host build's; the datum `devnet_need_rebuild` is reached through
//! `dlszone_host_devnet_need_rebuild()` ([`super::control`]).
//!
//! Arguments go in the integer registers exactly as a C caller puts them
//! (a 32-bit value zero-extended, which the callee ignores above its
//! width); the result is `%rax` cut to the return type.
#![allow(clippy::not_unsafe_ptr_arg_deref, clippy::unused_unit)]

use std::ffi::{c_char, c_int, c_void};

/// A C argument, as the 64-bit register value that carries it.
pub trait Arg {
    /// The register value.
    fn bits(self) -> u64;
}

impl Arg for c_int {
    fn bits(self) -> u64 {
        u64::from(self as u32)
    }
}

impl Arg for u32 {
    fn bits(self) -> u64 {
        u64::from(self)
    }
}

impl Arg for u64 {
    fn bits(self) -> u64 {
        self
    }
}

impl<T> Arg for *const T {
    fn bits(self) -> u64 {
        self as usize as u64
    }
}

impl<T> Arg for *mut T {
    fn bits(self) -> u64 {
        self as usize as u64
    }
}

/// A C return type, from `%rax`.
pub trait Ret {
    /// The value `%rax` holds.
    fn from_bits(rax: u64) -> Self;
}

impl Ret for () {
    fn from_bits(_: u64) {}
}

impl Ret for c_int {
    fn from_bits(rax: u64) -> c_int {
        rax as u32 as c_int
    }
}

impl Ret for u32 {
    fn from_bits(rax: u64) -> u32 {
        rax as u32
    }
}

impl<T> Ret for *const T {
    fn from_bits(rax: u64) -> *const T {
        rax as usize as *const T
    }
}

macro_rules! forward {
    ($( $(#[$m:meta])* fn $name:ident ( $($a:ident : $t:ty),* $(,)? ) -> $r:ty; )*) => {
        $(
            $(#[$m])*
            #[unsafe(no_mangle)]
            pub extern "C" fn $name($($a: $t),*) -> $r {
                let args: &[u64] = &[$(Arg::bits($a)),*];
                <$r as Ret>::from_bits(super::call(stringify!($name), args))
            }
        )*

        /// Every function forwarded, by name.
        pub const FORWARDED: &[&str] = &[$(stringify!($name)),*];
    };
}

type Handle = *mut c_void;

forward! {
    /// `dls_mgmt_init()`.
    fn dls_mgmt_init() -> ();
    /// `dls_mgmt_fini()`.
    fn dls_mgmt_fini() -> ();
    /// `dls_mgmt_door_set()`.
    fn dls_mgmt_door_set(start: c_int) -> c_int;
    /// `dls_mgmt_create()`.
    fn dls_mgmt_create(
        devname: *const c_char,
        dev: u64,
        class: u32,
        media: u32,
        persist: c_int,
        linkidp: *mut u32,
    ) -> c_int;
    /// `dls_mgmt_destroy()`.
    fn dls_mgmt_destroy(linkid: u32, persist: c_int) -> c_int;
    /// `dls_mgmt_update()`.
    fn dls_mgmt_update(
        devname: *const c_char,
        media: u32,
        novanity: c_int,
        mediap: *mut u32,
        linkidp: *mut u32,
    ) -> c_int;
    /// `dls_mgmt_get_linkinfo()`.
    fn dls_mgmt_get_linkinfo(
        linkid: u32,
        link: *mut c_char,
        classp: *mut u32,
        mediap: *mut u32,
        flagsp: *mut u32,
    ) -> c_int;
    /// `dls_mgmt_get_linkid()`.
    fn dls_mgmt_get_linkid(link: *const c_char, linkidp: *mut u32) -> c_int;
    /// `dls_mgmt_get_next()`.
    fn dls_mgmt_get_next(linkid: u32, class: u32, dmedia: u64, flags: u32) -> u32;
    /// `dls_mgmt_get_phydev()`.
    fn dls_mgmt_get_phydev(linkid: u32, devp: *mut u64) -> c_int;
    /// `dls_mgmt_linkprop_init()`.
    fn dls_mgmt_linkprop_init(linkid: u32) -> c_int;
    /// `dls_devnet_create()`.
    fn dls_devnet_create(mh: *mut c_void, linkid: u32, zoneid: c_int) -> c_int;
    /// `dls_devnet_recreate()`.
    fn dls_devnet_recreate(mh: *mut c_void, linkid: u32) -> c_int;
    /// `dls_devnet_destroy()`.
    fn dls_devnet_destroy(mh: *mut c_void, idp: *mut u32, wait: c_int) -> c_int;
    /// `dls_devnet_rename()`.
    fn dls_devnet_rename(id1: u32, id2: u32, link: *const c_char) -> c_int;
    /// `dls_devnet_hold()`.
    fn dls_devnet_hold(linkid: u32, ddhp: *mut Handle) -> c_int;
    /// `dls_devnet_hold_tmp()`.
    fn dls_devnet_hold_tmp(linkid: u32, ddhp: *mut Handle) -> c_int;
    /// `dls_devnet_rele_tmp()`.
    fn dls_devnet_rele_tmp(ddh: Handle) -> ();
    /// `dls_devnet_hold_tmp_by_link()`.
    fn dls_devnet_hold_tmp_by_link(dlp: *mut c_void, ddhp: *mut Handle) -> c_int;
    /// `dls_devnet_hold_link()`.
    fn dls_devnet_hold_link(linkid: u32, ddhp: *mut Handle, dlpp: *mut *mut c_void) -> c_int;
    /// `dls_devnet_rele_link()`.
    fn dls_devnet_rele_link(ddh: Handle, dlp: *mut c_void) -> ();
    /// `dls_devnet_hold_by_dev()`.
    fn dls_devnet_hold_by_dev(dev: u64, ddhp: *mut Handle) -> c_int;
    /// `dls_devnet_rele()`.
    fn dls_devnet_rele(ddh: Handle) -> ();
    /// `dls_devnet_open()`.
    fn dls_devnet_open(link: *const c_char, ddhp: *mut Handle, devp: *mut u64) -> c_int;
    /// `dls_devnet_close()`.
    fn dls_devnet_close(ddh: Handle) -> ();
    /// `dls_devnet_prop_task_wait()`.
    fn dls_devnet_prop_task_wait(ddh: Handle) -> ();
    /// `dls_devnet_setzid()`.
    fn dls_devnet_setzid(ddh: Handle, zid: c_int) -> c_int;
    /// `dls_devnet_setzid_transient()`.
    fn dls_devnet_setzid_transient(ddh: Handle, zid: c_int, transient: c_int) -> c_int;
    /// `dls_devnet_getzid()`.
    fn dls_devnet_getzid(ddh: Handle) -> c_int;
    /// `dls_devnet_getownerzid()`.
    fn dls_devnet_getownerzid(ddh: Handle) -> c_int;
    /// `dls_devnet_islinkvisible()`.
    fn dls_devnet_islinkvisible(linkid: u32, zid: c_int) -> c_int;
    /// `dls_devnet_link()`.
    fn dls_devnet_link(ddh: Handle) -> *const c_char;
    /// `dls_devnet_mac()`.
    fn dls_devnet_mac(ddh: Handle) -> *const c_char;
    /// `dls_devnet_linkid()`.
    fn dls_devnet_linkid(ddh: Handle) -> u32;
    /// `dls_devnet_macname2linkid()`.
    fn dls_devnet_macname2linkid(mac: *const c_char, linkidp: *mut u32) -> c_int;
    /// `dls_devnet_dev2linkid()`.
    fn dls_devnet_dev2linkid(dev: u64, linkidp: *mut u32) -> c_int;
    /// `dls_devnet_phydev()`.
    fn dls_devnet_phydev(linkid: u32, devp: *mut u64) -> c_int;
    /// `dls_devnet_rebuild()`.
    fn dls_devnet_rebuild() -> c_int;
    /// `dls_devnet_hold_zlink()`.
    fn dls_devnet_hold_zlink(
        cr: *const c_void,
        zoneid: c_int,
        link: *const c_char,
        flags: u32,
        ddhp: *mut Handle,
    ) -> c_int;
    /// `dls_devnet_release()`.
    fn dls_devnet_release(ddh: Handle) -> c_int;
    /// `dls_zone_recover()`.
    fn dls_zone_recover(
        cr: *const c_void,
        zoneid: c_int,
        uniqid: u64,
        timeout_ms: u32,
        flags: u32,
        res: *mut c_void,
    ) -> c_int;
    /// `dls_devnet_holders()`.
    fn dls_devnet_holders(
        cr: *const c_void,
        linkid: u32,
        flags: u32,
        buf: *mut c_void,
        countp: *mut u32,
    ) -> c_int;
    /// `dls_devnet_snapshot()`.
    fn dls_devnet_snapshot(
        cr: *const c_void,
        buf: *mut c_void,
        countp: *mut u32,
        genp: *mut u64,
    ) -> c_int;
    /// `dls_mgmt_outbox_replay()`.
    fn dls_mgmt_outbox_replay(cr: *const c_void, deliveredp: *mut u32, pendingp: *mut u32)
    -> c_int;
    /// `dls_devnet_counters()`.
    fn dls_devnet_counters(cr: *const c_void, out: *mut c_void) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function of `tools/dls_mgmt.exports` is forwarded, and only
    /// those (the one datum is reached another way).
    #[test]
    fn the_exports_list_is_forwarded() {
        let list = include_str!("../../../dls_mgmt.exports");
        let mut want: Vec<&str> = list
            .lines()
            .filter_map(|l| l.split('#').next()?.split_whitespace().next())
            .filter(|s| *s != "devnet_need_rebuild")
            .collect();
        want.sort();
        let mut have = FORWARDED.to_vec();
        have.sort();
        assert_eq!(have, want);
    }
}
