//! The ioctl interface of `/dev/dlszone`, the dlszone pseudo driver: the
//! Rust side of `include/sys/dlszone_ioctl.h`.
//!
//! Every structure has fixed-width fields only, with explicit padding, so
//! 32-bit and 64-bit callers share one layout (the sizes and offsets are
//! pinned below with `static_assertions`, and a C test compiles the header
//! for i386 and amd64 and compares). User buffers are named by `u64`
//! addresses, never by pointers, for the same reason.
//!
//! The driver copies the structures in and out as bytes; [`Wire`] turns a
//! structure into its native-endian bytes and back without `unsafe`, so
//! the driver, its host tests and `dlszonectl` share one encoding.

#![no_std]
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

/// The device node.
pub const DZ_DEVICE: &str = "/dev/dlszone";
/// Minor number of the one node the driver creates.
pub const DZ_MINOR: u32 = 0;
/// Name of that minor node (`/devices/pseudo/dlszone@0:dlszone`).
pub const DZ_MINOR_NAME: &str = "dlszone";

/// The interface version every structure's first field carries.
pub const DZIOC_VERSION: u32 = 1;

/// Base of the command numbers: `('d' << 24) | ('z' << 16) | ('c' << 8)`.
pub const DZIOC: i32 = ((b'd' as i32) << 24) | ((b'z' as i32) << 16) | ((b'c' as i32) << 8);
/// Forced recovery of a halted zone's links ([`DzRecover`]).
pub const DZIOC_RECOVER: i32 = DZIOC | 0x01;
/// The links the caller may see ([`DzList`] + [`DzLink`] entries).
pub const DZIOC_LIST: i32 = DZIOC | 0x02;
/// Who holds a link ([`DzHolders`] + [`DzHolder`] entries).
pub const DZIOC_HOLDERS: i32 = DZIOC | 0x03;
/// Deliver the notices queued for dlmgmtd now ([`DzReplay`]).
pub const DZIOC_REPLAY: i32 = DZIOC | 0x04;

/// `dzr_flags`: also drop long holds taken by the dead zone itself.
pub const DZ_RECOVER_FORCE: u32 = 0x0001;
/// The largest `dzr_timeout_ms` accepted (one minute).
pub const DZ_RECOVER_MAX_TIMEOUT_MS: u32 = 60_000;
/// `dzh_flags`: include detached links that are still held.
pub const DZ_HOLDERS_DETACHED: u32 = 0x0001;
/// `dzl_oflags`: hold counts were not gathered (the caller is not in the
/// global zone, which alone may ask who holds a link).
pub const DZ_LIST_NOHOLDS: u32 = 0x0001;

/// `ALL_ZONES`: in `dzl_zoneid`, every zone the caller may see.
pub const ALL_ZONES: i32 = -1;
/// `GLOBAL_ZONEID`.
pub const GLOBAL_ZONEID: i32 = 0;
/// `MAX_ZONEID`.
pub const MAX_ZONEID: i32 = 9999;
/// `MAXLINKNAMELEN`.
pub const MAXLINKNAMELEN: usize = 32;
/// `MAXNAMELEN`.
pub const MAXNAMELEN: usize = 256;

/// `dzk_flags` bits (the values of `DLS_LINKF_*` in `sys/dlszone.h`).
pub mod linkf {
    /// Goes away with its zone instead of returning to its owner.
    pub const TRANSIENT: u32 = 0x0001;
    /// Created persistent.
    pub const PERSISTENT: u32 = 0x0002;
    /// In a zone other than its owner.
    pub const LENT: u32 = 0x0004;
}

/// `dzk_state`, `dzhe_state` (the values of `DLS_LINK_*`).
pub mod state {
    /// Visible and holdable.
    pub const ACTIVE: u32 = 1;
    /// Being destroyed; takes no new hold.
    pub const CONDEMNED: u32 = 2;
    /// Unreachable; freed at its last release.
    pub const DETACHED: u32 = 3;
    /// A physical link without an id yet.
    pub const INITIALIZING: u32 = 4;
}

/// `dzhe_kind` (the values of `DLS_HOLDER_*`); index `kind - 1` of
/// `dzk_holds`.
pub mod kind {
    /// The registry: the link exists.
    pub const EXISTENCE: u32 = 1;
    /// The registry: lent to a zone.
    pub const LOAN: u32 = 2;
    /// A DLPI stream.
    pub const STREAM: u32 = 3;
    /// A `/dev/net` node.
    pub const DEVNET: u32 = 4;
    /// `dls_devnet_hold()` and `dls_devnet_hold_zlink()` callers.
    pub const NAMED: u32 = 5;
    /// Temporary holds.
    pub const TEMPORARY: u32 = 6;
    /// Number of kinds (`DZ_HOLD_KINDS`).
    pub const COUNT: usize = 6;
}

/// A structure with a fixed native-endian byte form.
pub trait Wire: Sized {
    /// Its size in bytes (`sizeof` in C).
    const SIZE: usize;
    /// Writes the structure into `out` (exactly [`Self::SIZE`] bytes;
    /// shorter output is left as it is).
    fn encode(&self, out: &mut [u8]);
    /// Reads a structure from `b` (missing bytes read as zero).
    fn decode(b: &[u8]) -> Self;
}

/// Native-endian field reader over a byte slice; out of range reads zero.
struct Rd<'a>(&'a [u8]);

impl Rd<'_> {
    fn u32(&self, off: usize) -> u32 {
        let mut a = [0u8; 4];
        if let Some(s) = self.0.get(off..off + 4) {
            a.copy_from_slice(s);
        }
        u32::from_ne_bytes(a)
    }
    fn i32(&self, off: usize) -> i32 {
        self.u32(off) as i32
    }
    fn u64(&self, off: usize) -> u64 {
        let mut a = [0u8; 8];
        if let Some(s) = self.0.get(off..off + 8) {
            a.copy_from_slice(s);
        }
        u64::from_ne_bytes(a)
    }
    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = self.0.get(off..off + N) {
            a.copy_from_slice(s);
        }
        a
    }
}

/// Native-endian field writer; out of range writes are dropped.
struct Wr<'a>(&'a mut [u8]);

impl Wr<'_> {
    fn put(&mut self, off: usize, v: &[u8]) {
        if let Some(d) = self.0.get_mut(off..off + v.len()) {
            d.copy_from_slice(v);
        }
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_ne_bytes());
    }
    fn i32(&mut self, off: usize, v: i32) {
        self.put(off, &v.to_ne_bytes());
    }
    fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_ne_bytes());
    }
}

macro_rules! wire {
    ($ty:ident { $($f:ident : $k:ident),* $(,)? }) => {
        impl Wire for $ty {
            const SIZE: usize = size_of::<$ty>();
            fn encode(&self, out: &mut [u8]) {
                let mut w = Wr(out);
                $(wire!(@put w, $k, offset_of!($ty, $f), self.$f);)*
            }
            fn decode(b: &[u8]) -> Self {
                let r = Rd(b);
                $ty { $($f: wire!(@get r, $k, offset_of!($ty, $f)),)* }
            }
        }
    };
    (@put $w:ident, u32, $off:expr, $v:expr) => { $w.u32($off, $v) };
    (@put $w:ident, i32, $off:expr, $v:expr) => { $w.i32($off, $v) };
    (@put $w:ident, u64, $off:expr, $v:expr) => { $w.u64($off, $v) };
    (@put $w:ident, bytes, $off:expr, $v:expr) => { $w.put($off, &$v) };
    (@put $w:ident, holds, $off:expr, $v:expr) => {
        for (i, h) in $v.iter().enumerate() { $w.u64($off + 8 * i, *h) }
    };
    (@get $r:ident, u32, $off:expr) => { $r.u32($off) };
    (@get $r:ident, i32, $off:expr) => { $r.i32($off) };
    (@get $r:ident, u64, $off:expr) => { $r.u64($off) };
    (@get $r:ident, bytes, $off:expr) => { $r.bytes($off) };
    (@get $r:ident, holds, $off:expr) => {{
        let mut h = [0u64; kind::COUNT];
        for (i, v) in h.iter_mut().enumerate() { *v = $r.u64($off + 8 * i) }
        h
    }};
}

/// `dz_ioc_recover_t`: argument of [`DZIOC_RECOVER`].
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DzRecover {
    /// In: [`DZIOC_VERSION`].
    pub dzr_version: u32,
    /// In: the zone (1 to `MAX_ZONEID`).
    pub dzr_zoneid: i32,
    /// In: its `zone_uniqid`, naming the incarnation that halted.
    pub dzr_uniqid: u64,
    /// In: 0 or [`DZ_RECOVER_FORCE`].
    pub dzr_flags: u32,
    /// In: bound on every wait inside, at most
    /// [`DZ_RECOVER_MAX_TIMEOUT_MS`].
    pub dzr_timeout_ms: u32,
    /// Out: lent links given back to their owner.
    pub dzr_returned: u32,
    /// Out: transient links torn down.
    pub dzr_condemned: u32,
    /// Out: links still in the zone.
    pub dzr_left: u32,
    /// Out: the zone's own long holds dropped.
    pub dzr_holds_reclaimed: u32,
    /// Out: condemned links whose free waits for holders.
    pub dzr_delayed: u32,
    /// Out: notices queued for dlmgmtd.
    pub dzr_notices: u32,
}

wire!(DzRecover {
    dzr_version: u32,
    dzr_zoneid: i32,
    dzr_uniqid: u64,
    dzr_flags: u32,
    dzr_timeout_ms: u32,
    dzr_returned: u32,
    dzr_condemned: u32,
    dzr_left: u32,
    dzr_holds_reclaimed: u32,
    dzr_delayed: u32,
    dzr_notices: u32,
});

/// `dz_ioc_list_t`: argument of [`DZIOC_LIST`].
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DzList {
    /// In: [`DZIOC_VERSION`].
    pub dzl_version: u32,
    /// In: [`ALL_ZONES`], or the zone whose links to list.
    pub dzl_zoneid: i32,
    /// In: 0.
    pub dzl_flags: u32,
    /// In: how many [`DzLink`] entries `dzl_buf` has room for (0: only
    /// tell the number).
    pub dzl_capacity: u32,
    /// Out: entries written.
    pub dzl_count: u32,
    /// Out: entries there are.
    pub dzl_total: u32,
    /// In: user address of the entries.
    pub dzl_buf: u64,
    /// Out: the registry generation of the snapshot.
    pub dzl_generation: u64,
    /// Out: [`DZ_LIST_NOHOLDS`].
    pub dzl_oflags: u32,
    /// Zero.
    pub dzl_pad: u32,
}

wire!(DzList {
    dzl_version: u32,
    dzl_zoneid: i32,
    dzl_flags: u32,
    dzl_capacity: u32,
    dzl_count: u32,
    dzl_total: u32,
    dzl_buf: u64,
    dzl_generation: u64,
    dzl_oflags: u32,
    dzl_pad: u32,
});

/// `dz_link_t`: one link of [`DZIOC_LIST`].
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DzLink {
    /// The link id.
    pub dzk_linkid: u32,
    /// The zone that created it.
    pub dzk_owner: i32,
    /// The zone it is in now.
    pub dzk_zone: i32,
    /// [`linkf`] bits.
    pub dzk_flags: u32,
    /// A [`state`] value.
    pub dzk_state: u32,
    /// Zero.
    pub dzk_pad: u32,
    /// The owner's `zone_uniqid`.
    pub dzk_owner_uniqid: u64,
    /// The current zone's `zone_uniqid`.
    pub dzk_zone_uniqid: u64,
    /// Long and temporary holds by [`kind`] (index `kind - 1`), summed
    /// over holder zones; zero with [`DZ_LIST_NOHOLDS`].
    pub dzk_holds: [u64; kind::COUNT],
    /// Its name in `dzk_zone` (NUL-terminated).
    pub dzk_name: [u8; MAXLINKNAMELEN],
    /// While lent: the owner-zone name kept reserved; empty otherwise.
    pub dzk_reserved: [u8; MAXLINKNAMELEN],
    /// The MAC name.
    pub dzk_mac: [u8; MAXNAMELEN],
}

impl Default for DzLink {
    fn default() -> Self {
        DzLink {
            dzk_linkid: 0,
            dzk_owner: 0,
            dzk_zone: 0,
            dzk_flags: 0,
            dzk_state: 0,
            dzk_pad: 0,
            dzk_owner_uniqid: 0,
            dzk_zone_uniqid: 0,
            dzk_holds: [0; kind::COUNT],
            dzk_name: [0; MAXLINKNAMELEN],
            dzk_reserved: [0; MAXLINKNAMELEN],
            dzk_mac: [0; MAXNAMELEN],
        }
    }
}

wire!(DzLink {
    dzk_linkid: u32,
    dzk_owner: i32,
    dzk_zone: i32,
    dzk_flags: u32,
    dzk_state: u32,
    dzk_pad: u32,
    dzk_owner_uniqid: u64,
    dzk_zone_uniqid: u64,
    dzk_holds: holds,
    dzk_name: bytes,
    dzk_reserved: bytes,
    dzk_mac: bytes,
});

/// `dz_ioc_holders_t`: argument of [`DZIOC_HOLDERS`].
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DzHolders {
    /// In: [`DZIOC_VERSION`].
    pub dzh_version: u32,
    /// In: the link.
    pub dzh_linkid: u32,
    /// In: 0 or [`DZ_HOLDERS_DETACHED`].
    pub dzh_flags: u32,
    /// In: room at `dzh_buf`, in [`DzHolder`] entries.
    pub dzh_capacity: u32,
    /// Out: entries written.
    pub dzh_count: u32,
    /// Out: entries there are.
    pub dzh_total: u32,
    /// In: user address of the entries.
    pub dzh_buf: u64,
}

wire!(DzHolders {
    dzh_version: u32,
    dzh_linkid: u32,
    dzh_flags: u32,
    dzh_capacity: u32,
    dzh_count: u32,
    dzh_total: u32,
    dzh_buf: u64,
});

/// `dz_holder_t`: one holder of [`DZIOC_HOLDERS`] (the layout of
/// `dls_holder_t`).
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DzHolder {
    /// The link.
    pub dzhe_linkid: u32,
    /// A [`kind`] value.
    pub dzhe_kind: u32,
    /// The holder's zone; -1 for temporary holds.
    pub dzhe_zoneid: i32,
    /// The link's [`state`].
    pub dzhe_state: u32,
    /// The holder zone's `zone_uniqid`.
    pub dzhe_uniqid: u64,
    /// Holds of this kind from that zone.
    pub dzhe_count: u64,
}

wire!(DzHolder {
    dzhe_linkid: u32,
    dzhe_kind: u32,
    dzhe_zoneid: i32,
    dzhe_state: u32,
    dzhe_uniqid: u64,
    dzhe_count: u64,
});

/// `dz_ioc_replay_t`: argument of [`DZIOC_REPLAY`].
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DzReplay {
    /// In: [`DZIOC_VERSION`].
    pub dzp_version: u32,
    /// In: 0.
    pub dzp_flags: u32,
    /// Out: notices delivered.
    pub dzp_delivered: u32,
    /// Out: notices still queued.
    pub dzp_pending: u32,
}

wire!(DzReplay { dzp_version: u32, dzp_flags: u32, dzp_delivered: u32, dzp_pending: u32 });

/// The bytes of a NUL-terminated name field, without the NUL.
pub fn cstr(field: &[u8]) -> &[u8] {
    let n = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..n).unwrap_or(&[])
}

// The layouts of include/sys/dlszone_ioctl.h. Every 64-bit field sits at a
// multiple of 8 and every size is a multiple of 8, so i386 (which aligns
// 64-bit integers to 4) lays them out as amd64 does.
const_assert_eq!(size_of::<DzRecover>(), 48);
const_assert_eq!(offset_of!(DzRecover, dzr_uniqid), 8);
const_assert_eq!(offset_of!(DzRecover, dzr_flags), 16);
const_assert_eq!(offset_of!(DzRecover, dzr_returned), 24);
const_assert_eq!(offset_of!(DzRecover, dzr_notices), 44);
const_assert_eq!(size_of::<DzList>(), 48);
const_assert_eq!(offset_of!(DzList, dzl_capacity), 12);
const_assert_eq!(offset_of!(DzList, dzl_total), 20);
const_assert_eq!(offset_of!(DzList, dzl_buf), 24);
const_assert_eq!(offset_of!(DzList, dzl_generation), 32);
const_assert_eq!(offset_of!(DzList, dzl_oflags), 40);
const_assert_eq!(size_of::<DzLink>(), 408);
const_assert_eq!(offset_of!(DzLink, dzk_owner_uniqid), 24);
const_assert_eq!(offset_of!(DzLink, dzk_zone_uniqid), 32);
const_assert_eq!(offset_of!(DzLink, dzk_holds), 40);
const_assert_eq!(offset_of!(DzLink, dzk_name), 88);
const_assert_eq!(offset_of!(DzLink, dzk_reserved), 120);
const_assert_eq!(offset_of!(DzLink, dzk_mac), 152);
const_assert_eq!(size_of::<DzHolders>(), 32);
const_assert_eq!(offset_of!(DzHolders, dzh_buf), 24);
const_assert_eq!(size_of::<DzHolder>(), 32);
const_assert_eq!(offset_of!(DzHolder, dzhe_uniqid), 16);
const_assert_eq!(offset_of!(DzHolder, dzhe_count), 24);
const_assert_eq!(size_of::<DzReplay>(), 16);
const_assert_eq!(DZIOC, 0x647a_6300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_at_the_c_offsets() {
        let r = DzRecover {
            dzr_version: 1,
            dzr_zoneid: 5,
            dzr_uniqid: 0x1122_3344_5566_7788,
            dzr_flags: DZ_RECOVER_FORCE,
            dzr_timeout_ms: 250,
            dzr_notices: 9,
            ..DzRecover::default()
        };
        let mut b = [0u8; DzRecover::SIZE];
        r.encode(&mut b);
        assert_eq!(b[4..8], 5i32.to_ne_bytes());
        assert_eq!(b[8..16], 0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(b[44..48], 9u32.to_ne_bytes());
        assert_eq!(DzRecover::decode(&b), r);

        let mut l = DzLink { dzk_linkid: 1001, dzk_zone: -1, ..DzLink::default() };
        l.dzk_holds[kind::STREAM as usize - 1] = 3;
        l.dzk_name[..4].copy_from_slice(b"net0");
        l.dzk_mac[..8].copy_from_slice(b"vnic1001");
        let mut b = [0u8; DzLink::SIZE];
        l.encode(&mut b);
        assert_eq!(b[40 + 16..40 + 24], 3u64.to_ne_bytes());
        assert_eq!(&b[88..92], b"net0");
        assert_eq!(&b[152..160], b"vnic1001");
        assert_eq!(DzLink::decode(&b), l);
        assert_eq!(cstr(&l.dzk_name), b"net0");
    }

    #[test]
    fn short_buffers_never_panic() {
        let d = DzList::decode(&[1, 0, 0]);
        assert_eq!(d, DzList::default());
        let mut tiny = [0u8; 3];
        DzHolder { dzhe_linkid: 7, ..DzHolder::default() }.encode(&mut tiny);
        assert_eq!(tiny, [0; 3]);
    }
}
