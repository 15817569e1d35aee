//! `#[repr(C)]` mirrors of the dlmgmtd door arguments and replies of
//! `sys/dls_mgmt.h` that the kernel sends and reads, with safe encoding
//! and decoding.
//!
//! # Layout
//!
//! Every structure below has the field order and C types of its
//! counterpart in `usr/src/uts/common/sys/dls_mgmt.h` of current
//! illumos-gate (`int`, `uint_t`, `uint32_t`, `boolean_t`,
//! `datalink_id_t`, `datalink_class_t` and `zoneid_t` are 4 bytes;
//! `uint64_t` and `datalink_media_t` are 8 bytes with 8-byte alignment on
//! amd64; `char[N]` is N bytes). The sizes and offsets asserted at the end
//! of this file are the amd64 (LP64) values. They were derived from the
//! header by hand and checked by compiling a C program with `cc` on an
//! x86_64 LP64 host against a declaration of the same structures: the
//! unit test `layouts_match_the_c_compiler` builds and runs
//! `tests/c/layout.c` and compares every number. i386 shares them, which
//! is what the `ld_padding`/`lr_padding` fields in the header are for.
//!
//! The `GETLINKID` request carries `ld_zoneid` (40 bytes): the form gate
//! has had since dlmgmtd learned zone-qualified lookups (`dladm -z`); a
//! daemon that predates it expects 36 bytes and refuses the call with
//! `EINVAL` because its size check is exact.
//!
//! # Validation
//!
//! Encoding refuses a value the daemon would misread (a name that does
//! not fit with its NUL, a `boolean_t` other than 0/1, an unknown class,
//! link id 0 where a link is named). Decoding a reply checks the size
//! first, then `lr_err` (0 or an illumos errno, `1..=151`), and looks at
//! the rest only when `lr_err` is 0: dlmgmtd builds its replies in an
//! uninitialised buffer and fills in only what the command defines, so a
//! failed reply's body, and fields a command does not set, are garbage
//! that must not be judged or used. What each command sets is checked by
//! the per-command wrappers in `upcall.rs`.
//!
//! Every failure is `EINVAL` (the errno `i_dls_mgmt_upcall()` and
//! `dls_mgmt_get_linkinfo()` give for a reply of the wrong size or a bad
//! name), except a name too long for its field on encoding
//! (`ENAMETOOLONG`). Nothing here panics.

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

use super::MAX_ERRNO;
use super::wire::{Reader, Writer, boolean, c_str_len, c_string};
use crate::errno::{Errno, KResult};

/// `MAXLINKNAMELEN` (`sys/param.h`): a link name and its NUL.
pub const MAXLINKNAMELEN: usize = 32;
/// `MAXNAMELEN` (`sys/param.h`): a device (MAC) name and its NUL.
pub const MAXNAMELEN: usize = 256;
/// `MAXLINKATTRLEN`: a link attribute name and its NUL.
pub const MAXLINKATTRLEN: usize = 32;
/// `MAXLINKATTRVALLEN`: the largest attribute value.
pub const MAXLINKATTRVALLEN: usize = 1024;
/// `MAX_ZONEID` (`sys/zone.h`).
pub const MAX_ZONEID: i32 = 9999;
/// `ALL_ZONES` (`sys/zone.h`); in `ld_zoneid`, "the caller's zone".
pub const ALL_ZONES: i32 = -1;
/// `DATALINK_INVALID_LINKID`.
pub const DATALINK_INVALID_LINKID: u32 = 0;

/// `FPHYMAJ`: attribute holding a physical link's major number (`uint64_t`).
pub const FPHYMAJ: &[u8] = b"phymaj";
/// `FPHYINST`: attribute holding a physical link's instance + 1 (`uint64_t`).
pub const FPHYINST: &[u8] = b"phyinst";
/// `FDEVNAME`: attribute holding a physical link's device name (string).
pub const FDEVNAME: &[u8] = b"devname";

/// `DLMGMT_DOOR`, NUL-terminated for `door_ki_open()`.
pub const DLMGMT_DOOR: &[u8] = b"/etc/svc/volatile/dladm/dlmgmt_door\0";

/// `dladm_datatype_t` values of `lr_type` (`libdladm.h`).
pub mod datatype {
    /// `DLADM_TYPE_STR`.
    pub const STR: u32 = 0;
    /// `DLADM_TYPE_BOOLEAN`.
    pub const BOOLEAN: u32 = 1;
    /// `DLADM_TYPE_UINT64`.
    pub const UINT64: u32 = 2;
}

/// A door command (`DLMGMT_CMD_*`), the first field of every request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cmd(pub i32);

impl Cmd {
    /// `DLMGMT_CMD_DLS_CREATE`.
    pub const DLS_CREATE: Cmd = Cmd(1);
    /// `DLMGMT_CMD_DLS_GETATTR`.
    pub const DLS_GETATTR: Cmd = Cmd(2);
    /// `DLMGMT_CMD_DLS_DESTROY`.
    pub const DLS_DESTROY: Cmd = Cmd(3);
    /// `DLMGMT_CMD_GETNAME`.
    pub const GETNAME: Cmd = Cmd(4);
    /// `DLMGMT_CMD_GETLINKID`.
    pub const GETLINKID: Cmd = Cmd(5);
    /// `DLMGMT_CMD_GETNEXT`.
    pub const GETNEXT: Cmd = Cmd(6);
    /// `DLMGMT_CMD_DLS_UPDATE`.
    pub const DLS_UPDATE: Cmd = Cmd(7);
    /// `DLMGMT_CMD_LINKPROP_INIT`.
    pub const LINKPROP_INIT: Cmd = Cmd(8);
    /// `DLMGMT_CMD_SETZONEID`.
    pub const SETZONEID: Cmd = Cmd(9);
    /// `DLMGMT_CMD_BASE`: commands from here on are libdladm's, never the
    /// kernel's.
    pub const BASE: Cmd = Cmd(128);
}

/// `datalink_class_t`: one bit per class; `GETNEXT` takes a mask of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DatalinkClass(pub u32);

impl DatalinkClass {
    /// `DATALINK_CLASS_PHYS`.
    pub const PHYS: DatalinkClass = DatalinkClass(0x01);
    /// `DATALINK_CLASS_VLAN`.
    pub const VLAN: DatalinkClass = DatalinkClass(0x02);
    /// `DATALINK_CLASS_AGGR`.
    pub const AGGR: DatalinkClass = DatalinkClass(0x04);
    /// `DATALINK_CLASS_VNIC`.
    pub const VNIC: DatalinkClass = DatalinkClass(0x08);
    /// `DATALINK_CLASS_ETHERSTUB`.
    pub const ETHERSTUB: DatalinkClass = DatalinkClass(0x10);
    /// `DATALINK_CLASS_SIMNET`.
    pub const SIMNET: DatalinkClass = DatalinkClass(0x20);
    /// `DATALINK_CLASS_BRIDGE`.
    pub const BRIDGE: DatalinkClass = DatalinkClass(0x40);
    /// `DATALINK_CLASS_IPTUN`.
    pub const IPTUN: DatalinkClass = DatalinkClass(0x80);
    /// `DATALINK_CLASS_PART`.
    pub const PART: DatalinkClass = DatalinkClass(0x100);
    /// `DATALINK_CLASS_OVERLAY`.
    pub const OVERLAY: DatalinkClass = DatalinkClass(0x200);
    /// `DATALINK_CLASS_MISC` (gate; Oxide's fork calls the same bit
    /// `DATALINK_CLASS_TFPORT`).
    pub const MISC: DatalinkClass = DatalinkClass(0x400);
    /// `DATALINK_CLASS_ALL`: every class bit.
    pub const ALL: DatalinkClass = DatalinkClass(0x7ff);

    /// Exactly one known class: what a link has.
    pub const fn is_class(self) -> bool {
        self.0 & !Self::ALL.0 == 0 && self.0.is_power_of_two()
    }

    /// A non-empty set of known classes: what `GETNEXT` filters on.
    pub const fn is_mask(self) -> bool {
        self.0 != 0 && self.0 & !Self::ALL.0 == 0
    }
}

/// Link mapping flags in `lr_flags` and `ld_flags`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkFlags(pub u32);

impl LinkFlags {
    /// `DLMGMT_ACTIVE`.
    pub const ACTIVE: LinkFlags = LinkFlags(0x01);
    /// `DLMGMT_PERSIST`.
    pub const PERSIST: LinkFlags = LinkFlags(0x02);
    /// `DLMGMT_TRANSIENT`: active, and destroyed with its zone rather than
    /// returned to the global zone.
    pub const TRANSIENT: LinkFlags = LinkFlags(0x04);
    /// Every flag this kernel knows.
    pub const KNOWN: LinkFlags = LinkFlags(0x07);

    /// True when every bit of `f` is set.
    pub const fn contains(self, f: LinkFlags) -> bool {
        self.0 & f.0 == f.0
    }
}

/// `datalink_media_t`: a media type in the low 32 bits; bit 32 set means
/// "any media type" (`DATALINK_ANY_MEDIATYPE`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DatalinkMedia(pub u64);

impl DatalinkMedia {
    /// `DATALINK_ANY_MEDIATYPE`.
    pub const ANY: DatalinkMedia = DatalinkMedia(1 << 32);

    /// Only media `m` (a `DL_*` value).
    pub const fn only(m: u32) -> DatalinkMedia {
        DatalinkMedia(m as u64)
    }

    /// Whether a link of media `m` passes this filter
    /// (`DATALINK_MEDIA_ACCEPTED`).
    pub const fn accepts(self, m: u32) -> bool {
        (self.0 >> 32) & 1 == 1 || self.0 as u32 == m
    }

    /// The high word is 0 or 1: nothing else is defined.
    pub const fn is_valid(self) -> bool {
        self.0 >> 32 <= 1
    }
}

/// A structure that travels through the door.
pub trait Wire: Sized {
    /// Its size in bytes (amd64, and i386 alike).
    const SIZE: usize;

    /// A byte buffer of exactly [`Wire::SIZE`] bytes, so a caller's stack
    /// frame holds what this structure needs and no more.
    type Buf: AsRef<[u8]> + AsMut<[u8]>;

    /// A zeroed [`Wire::Buf`].
    fn buf() -> Self::Buf;

    /// Checks the value (see the module documentation).
    fn check(&self) -> KResult<()>;

    /// Writes the checked value into `out`, which must be exactly
    /// [`Wire::SIZE`] bytes; padding goes out as zeros.
    fn encode_into(&self, out: &mut [u8]) -> KResult<()>;

    /// Reads and checks a value from exactly [`Wire::SIZE`] bytes.
    fn decode(bytes: &[u8]) -> KResult<Self>;
}

/// Generates the byte mapping of a mirror from its field list: every
/// field is written and read at its `offset_of!`, so the bytes follow the
/// `#[repr(C)]` layout that the assertions below pin.
macro_rules! wire {
    ($ty:ident, $size:expr, { $($field:ident : $kind:ident),* $(,)? }) => {
        impl Wire for $ty {
            const SIZE: usize = $size;
            type Buf = [u8; $size];

            fn buf() -> [u8; $size] {
                [0u8; $size]
            }

            fn check(&self) -> KResult<()> {
                $ty::check_fields(self)
            }

            fn encode_into(&self, out: &mut [u8]) -> KResult<()> {
                self.check()?;
                let mut w = Writer::new(out, $size)?;
                $( wire!(@put w, $kind, offset_of!($ty, $field), self.$field); )*
                w.finish()
            }

            fn decode(bytes: &[u8]) -> KResult<$ty> {
                let r = Reader::new(bytes, $size)?;
                let v = $ty { $( $field: wire!(@get r, $kind, offset_of!($ty, $field)), )* };
                v.check()?;
                Ok(v)
            }
        }

        impl $ty {
            /// The checked value as the bytes the door carries.
            pub fn to_bytes(&self) -> KResult<[u8; $size]> {
                let mut out = [0u8; $size];
                self.encode_into(&mut out)?;
                Ok(out)
            }
        }

        const_assert_eq!(size_of::<$ty>(), $size);
    };
    (@put $w:ident, u32, $off:expr, $v:expr) => { $w.u32($off, $v) };
    (@put $w:ident, i32, $off:expr, $v:expr) => { $w.i32($off, $v) };
    (@put $w:ident, u64, $off:expr, $v:expr) => { $w.u64($off, $v) };
    (@put $w:ident, bytes, $off:expr, $v:expr) => { $w.bytes($off, &$v) };
    (@get $r:ident, u32, $off:expr) => { $r.u32($off)? };
    (@get $r:ident, i32, $off:expr) => { $r.i32($off)? };
    (@get $r:ident, u64, $off:expr) => { $r.u64($off)? };
    (@get $r:ident, bytes, $off:expr) => { $r.bytes($off)? };
}

fn expect(ok: bool) -> KResult<()> {
    if ok { Ok(()) } else { Err(Errno::EINVAL) }
}

fn check_cmd(got: i32, want: Cmd) -> KResult<()> {
    expect(got == want.0)
}

fn check_linkid(id: u32) -> KResult<()> {
    expect(id != DATALINK_INVALID_LINKID)
}

/// A C string field holding a non-empty name.
fn check_name(field: &[u8]) -> KResult<usize> {
    let n = c_str_len(field)?;
    expect(n > 0)?;
    Ok(n)
}

fn check_zone(z: i32) -> KResult<()> {
    expect((0..=MAX_ZONEID).contains(&z))
}

/// `lr_err`: 0 or an illumos errno.
fn check_err(e: u32) -> KResult<()> {
    expect(i64::from(e) <= i64::from(MAX_ERRNO))
}

/// The bytes of a C string field before its NUL (the field itself if it
/// has none, which `check_name` has already refused on any checked value).
fn name_of(field: &[u8]) -> &[u8] {
    let n = c_str_len(field).unwrap_or(field.len());
    field.get(..n).unwrap_or(field)
}

// ---- Requests ------------------------------------------------------------

/// `dlmgmt_upcall_arg_create_t`: `DLMGMT_CMD_DLS_CREATE`, sent by
/// `dls_mgmt_create()` to get a link id for a new link.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtUpcallArgCreate {
    /// `DLMGMT_CMD_DLS_CREATE`.
    pub ld_cmd: i32,
    /// The link's class (one bit).
    pub ld_class: u32,
    /// Its `DL_*` media type (`DL_OTHER` when not yet known).
    pub ld_media: u32,
    /// `boolean_t`: make the mapping persistent too.
    pub ld_persist: u32,
    /// `getmajor()` of the physical `dev_t` (0 for virtual links).
    pub ld_phymaj: u64,
    /// `getminor()` of the physical `dev_t` (instance + 1).
    pub ld_phyinst: u64,
    /// The device name (`bge0`, or the link name for virtual links).
    pub ld_devname: [u8; MAXNAMELEN],
}

wire!(DlmgmtUpcallArgCreate, 288, {
    ld_cmd: i32, ld_class: u32, ld_media: u32, ld_persist: u32,
    ld_phymaj: u64, ld_phyinst: u64, ld_devname: bytes,
});

impl DlmgmtUpcallArgCreate {
    /// A create request. `ENAMETOOLONG` if `devname` does not fit in
    /// `MAXNAMELEN` with its NUL (gate gives `EINVAL` there), `EINVAL` for
    /// an empty name or a class that is not exactly one known class.
    pub fn new(
        devname: &[u8],
        phymaj: u64,
        phyinst: u64,
        class: DatalinkClass,
        media: u32,
        persist: bool,
    ) -> KResult<Self> {
        let v = DlmgmtUpcallArgCreate {
            ld_cmd: Cmd::DLS_CREATE.0,
            ld_class: class.0,
            ld_media: media,
            ld_persist: u32::from(persist),
            ld_phymaj: phymaj,
            ld_phyinst: phyinst,
            ld_devname: c_string(devname)?,
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::DLS_CREATE)?;
        expect(DatalinkClass(self.ld_class).is_class())?;
        boolean(self.ld_persist)?;
        check_name(&self.ld_devname).map(|_| ())
    }

    /// The device name, without its NUL.
    pub fn devname(&self) -> &[u8] {
        name_of(&self.ld_devname)
    }
}

/// `dlmgmt_upcall_arg_destroy_t`: `DLMGMT_CMD_DLS_DESTROY`, sent by
/// `dls_mgmt_destroy()`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtUpcallArgDestroy {
    /// `DLMGMT_CMD_DLS_DESTROY`.
    pub ld_cmd: i32,
    /// The link.
    pub ld_linkid: u32,
    /// `boolean_t`: remove the persistent mapping too.
    pub ld_persist: u32,
    /// Keeps the size the same on i386 and amd64; sent as 0.
    pub ld_padding: i32,
}

wire!(DlmgmtUpcallArgDestroy, 16, {
    ld_cmd: i32, ld_linkid: u32, ld_persist: u32, ld_padding: i32,
});

impl DlmgmtUpcallArgDestroy {
    /// A destroy request; `EINVAL` for link id 0.
    pub fn new(linkid: u32, persist: bool) -> KResult<Self> {
        let v = DlmgmtUpcallArgDestroy {
            ld_cmd: Cmd::DLS_DESTROY.0,
            ld_linkid: linkid,
            ld_persist: u32::from(persist),
            ld_padding: 0,
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::DLS_DESTROY)?;
        check_linkid(self.ld_linkid)?;
        boolean(self.ld_persist).map(|_| ())
    }
}

/// `dlmgmt_upcall_arg_update_t`: `DLMGMT_CMD_DLS_UPDATE`, sent by
/// `dls_mgmt_update()` when a physical link reattaches.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtUpcallArgUpdate {
    /// `DLMGMT_CMD_DLS_UPDATE`.
    pub ld_cmd: i32,
    /// `boolean_t`: the device does not support vanity names.
    pub ld_novanity: u32,
    /// Its `DL_*` media type.
    pub ld_media: u32,
    /// Keeps `ld_devname` at the same offset on i386; sent as 0.
    pub ld_padding: u32,
    /// The device name.
    pub ld_devname: [u8; MAXNAMELEN],
}

wire!(DlmgmtUpcallArgUpdate, 272, {
    ld_cmd: i32, ld_novanity: u32, ld_media: u32, ld_padding: u32, ld_devname: bytes,
});

impl DlmgmtUpcallArgUpdate {
    /// An update request; the name rules of [`DlmgmtUpcallArgCreate::new`].
    pub fn new(devname: &[u8], media: u32, novanity: bool) -> KResult<Self> {
        let v = DlmgmtUpcallArgUpdate {
            ld_cmd: Cmd::DLS_UPDATE.0,
            ld_novanity: u32::from(novanity),
            ld_media: media,
            ld_padding: 0,
            ld_devname: c_string(devname)?,
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::DLS_UPDATE)?;
        boolean(self.ld_novanity)?;
        check_name(&self.ld_devname).map(|_| ())
    }

    /// The device name, without its NUL.
    pub fn devname(&self) -> &[u8] {
        name_of(&self.ld_devname)
    }
}

/// `dlmgmt_upcall_arg_getattr_t`: `DLMGMT_CMD_DLS_GETATTR`, sent by
/// `dls_mgmt_get_phydev()` for `FPHYMAJ` and `FPHYINST`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtUpcallArgGetattr {
    /// `DLMGMT_CMD_DLS_GETATTR`.
    pub ld_cmd: i32,
    /// The link.
    pub ld_linkid: u32,
    /// The attribute name.
    pub ld_attr: [u8; MAXLINKATTRLEN],
}

wire!(DlmgmtUpcallArgGetattr, 40, { ld_cmd: i32, ld_linkid: u32, ld_attr: bytes });

impl DlmgmtUpcallArgGetattr {
    /// A get-attribute request; `EINVAL` for link id 0 or an empty name,
    /// `ENAMETOOLONG` for a name of 32 bytes or more.
    pub fn new(linkid: u32, attr: &[u8]) -> KResult<Self> {
        let v = DlmgmtUpcallArgGetattr {
            ld_cmd: Cmd::DLS_GETATTR.0,
            ld_linkid: linkid,
            ld_attr: c_string(attr)?,
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::DLS_GETATTR)?;
        check_linkid(self.ld_linkid)?;
        check_name(&self.ld_attr).map(|_| ())
    }

    /// The attribute name, without its NUL.
    pub fn attr(&self) -> &[u8] {
        name_of(&self.ld_attr)
    }
}

/// `dlmgmt_door_getname_t`: `DLMGMT_CMD_GETNAME`, sent by
/// `dls_mgmt_get_linkinfo()`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtDoorGetname {
    /// `DLMGMT_CMD_GETNAME`.
    pub ld_cmd: i32,
    /// The link.
    pub ld_linkid: u32,
}

wire!(DlmgmtDoorGetname, 8, { ld_cmd: i32, ld_linkid: u32 });

impl DlmgmtDoorGetname {
    /// A get-name request; `EINVAL` for link id 0.
    pub fn new(linkid: u32) -> KResult<Self> {
        let v = DlmgmtDoorGetname { ld_cmd: Cmd::GETNAME.0, ld_linkid: linkid };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::GETNAME)?;
        check_linkid(self.ld_linkid)
    }
}

/// `dlmgmt_door_getlinkid_t`: `DLMGMT_CMD_GETLINKID`, sent by
/// `dls_mgmt_get_linkid()`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtDoorGetlinkid {
    /// `DLMGMT_CMD_GETLINKID`.
    pub ld_cmd: i32,
    /// The link name.
    pub ld_link: [u8; MAXLINKNAMELEN],
    /// The zone whose namespace to search, or `ALL_ZONES` (-1) for the
    /// calling zone's. dlmgmtd honours an explicit zone only from the
    /// global zone.
    pub ld_zoneid: i32,
}

wire!(DlmgmtDoorGetlinkid, 40, { ld_cmd: i32, ld_link: bytes, ld_zoneid: i32 });

impl DlmgmtDoorGetlinkid {
    /// A get-link-id request for `name` in `zone` (`None`: the caller's
    /// zone, sent as -1). `ENAMETOOLONG` for a name of 32 bytes or more
    /// (gate truncates it silently), `EINVAL` for an empty name or a zone
    /// id outside `0..=MAX_ZONEID`.
    pub fn new(name: &[u8], zone: Option<i32>) -> KResult<Self> {
        let v = DlmgmtDoorGetlinkid {
            ld_cmd: Cmd::GETLINKID.0,
            ld_link: c_string(name)?,
            ld_zoneid: zone.unwrap_or(ALL_ZONES),
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::GETLINKID)?;
        check_name(&self.ld_link)?;
        if self.ld_zoneid == ALL_ZONES { Ok(()) } else { check_zone(self.ld_zoneid) }
    }

    /// The link name, without its NUL.
    pub fn link(&self) -> &[u8] {
        name_of(&self.ld_link)
    }
}

/// `dlmgmt_door_getnext_t`: `DLMGMT_CMD_GETNEXT`, sent by
/// `dls_mgmt_get_next()` (the `/dev/net` directory walk).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtDoorGetnext {
    /// `DLMGMT_CMD_GETNEXT`.
    pub ld_cmd: i32,
    /// Start after this link id (0 to start at the beginning).
    pub ld_linkid: u32,
    /// Classes to report (a mask).
    pub ld_class: u32,
    /// Flags a link must have one of (`DLMGMT_ACTIVE`, ...).
    pub ld_flags: u32,
    /// Media filter.
    pub ld_dmedia: u64,
}

wire!(DlmgmtDoorGetnext, 24, {
    ld_cmd: i32, ld_linkid: u32, ld_class: u32, ld_flags: u32, ld_dmedia: u64,
});

impl DlmgmtDoorGetnext {
    /// A get-next request. `EINVAL` for an empty or unknown class mask,
    /// flags that are empty or unknown, or a media filter whose high word
    /// is neither 0 nor 1.
    pub fn new(
        after: u32,
        classes: DatalinkClass,
        media: DatalinkMedia,
        flags: LinkFlags,
    ) -> KResult<Self> {
        let v = DlmgmtDoorGetnext {
            ld_cmd: Cmd::GETNEXT.0,
            ld_linkid: after,
            ld_class: classes.0,
            ld_flags: flags.0,
            ld_dmedia: media.0,
        };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::GETNEXT)?;
        expect(DatalinkClass(self.ld_class).is_mask())?;
        expect(self.ld_flags != 0 && self.ld_flags & !LinkFlags::KNOWN.0 == 0)?;
        expect(DatalinkMedia(self.ld_dmedia).is_valid())
    }
}

/// `dlmgmt_door_linkprop_init_t`: `DLMGMT_CMD_LINKPROP_INIT`, sent by
/// `dls_mgmt_linkprop_init()` so dlmgmtd pushes the link's properties.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtDoorLinkpropInit {
    /// `DLMGMT_CMD_LINKPROP_INIT`.
    pub ld_cmd: i32,
    /// The link.
    pub ld_linkid: u32,
}

wire!(DlmgmtDoorLinkpropInit, 8, { ld_cmd: i32, ld_linkid: u32 });

impl DlmgmtDoorLinkpropInit {
    /// A property-load request; `EINVAL` for link id 0.
    pub fn new(linkid: u32) -> KResult<Self> {
        let v = DlmgmtDoorLinkpropInit { ld_cmd: Cmd::LINKPROP_INIT.0, ld_linkid: linkid };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::LINKPROP_INIT)?;
        check_linkid(self.ld_linkid)
    }
}

/// `dlmgmt_door_setzoneid_t`: `DLMGMT_CMD_SETZONEID`, sent when a link
/// changes zone (and, with IPD 3, for every queued `SetZone` notice).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtDoorSetzoneid {
    /// `DLMGMT_CMD_SETZONEID`.
    pub ld_cmd: i32,
    /// The link.
    pub ld_linkid: u32,
    /// Its new zone.
    pub ld_zoneid: i32,
}

wire!(DlmgmtDoorSetzoneid, 12, { ld_cmd: i32, ld_linkid: u32, ld_zoneid: i32 });

impl DlmgmtDoorSetzoneid {
    /// A set-zone request; `EINVAL` for link id 0 or a zone id outside
    /// `0..=MAX_ZONEID`.
    pub fn new(linkid: u32, zoneid: i32) -> KResult<Self> {
        let v =
            DlmgmtDoorSetzoneid { ld_cmd: Cmd::SETZONEID.0, ld_linkid: linkid, ld_zoneid: zoneid };
        v.check()?;
        Ok(v)
    }

    fn check_fields(&self) -> KResult<()> {
        check_cmd(self.ld_cmd, Cmd::SETZONEID)?;
        check_linkid(self.ld_linkid)?;
        check_zone(self.ld_zoneid)
    }
}

// ---- Replies -------------------------------------------------------------

/// `dlmgmt_retval_t` (also `dlmgmt_destroy_retval_t`,
/// `dlmgmt_linkprop_init_retval_t`, `dlmgmt_setzoneid_retval_t`): just the
/// error.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtRetval {
    /// 0, or the errno dlmgmtd reports.
    pub lr_err: u32,
}

wire!(DlmgmtRetval, 4, { lr_err: u32 });

impl DlmgmtRetval {
    fn check_fields(&self) -> KResult<()> {
        check_err(self.lr_err)
    }
}

/// `struct dlmgmt_linkid_retval_s` (`dlmgmt_create_retval_t`,
/// `dlmgmt_update_retval_t`, `dlmgmt_getlinkid_retval_t`,
/// `dlmgmt_getnext_retval_t`).
///
/// Which fields are meaningful depends on the command: `CREATE` sets only
/// `lr_linkid`; `UPDATE` sets `lr_linkid` and `lr_media`, also with
/// `EEXIST`; `GETLINKID` and `GETNEXT` set all four. The rest is
/// uninitialised memory of the daemon's.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtLinkidRetval {
    /// 0, or the errno dlmgmtd reports.
    pub lr_err: u32,
    /// The link id.
    pub lr_linkid: u32,
    /// `DLMGMT_ACTIVE` | `DLMGMT_PERSIST` | `DLMGMT_TRANSIENT`.
    pub lr_flags: u32,
    /// The link's class.
    pub lr_class: u32,
    /// The link's media type.
    pub lr_media: u32,
    /// Keeps the size the same on i386 and amd64.
    pub lr_padding: u32,
}

wire!(DlmgmtLinkidRetval, 24, {
    lr_err: u32, lr_linkid: u32, lr_flags: u32, lr_class: u32, lr_media: u32, lr_padding: u32,
});

impl DlmgmtLinkidRetval {
    fn check_fields(&self) -> KResult<()> {
        check_err(self.lr_err)
    }
}

/// `dlmgmt_getname_retval_t`: the reply to `GETNAME`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtGetnameRetval {
    /// 0, or the errno dlmgmtd reports.
    pub lr_err: u32,
    /// The link name in the caller's zone.
    pub lr_link: [u8; MAXLINKNAMELEN],
    /// The link's class.
    pub lr_class: u32,
    /// The link's media type.
    pub lr_media: u32,
    /// `DLMGMT_ACTIVE` | `DLMGMT_PERSIST` | `DLMGMT_TRANSIENT`.
    pub lr_flags: u32,
}

wire!(DlmgmtGetnameRetval, 48, {
    lr_err: u32, lr_link: bytes, lr_class: u32, lr_media: u32, lr_flags: u32,
});

impl DlmgmtGetnameRetval {
    /// Shortest name `dls_mgmt_get_linkinfo()` accepts (it refuses a name
    /// of 0 or 1 characters with `EINVAL`; a valid link name has a letter
    /// and a digit at least).
    pub const MIN_NAME: usize = 2;

    fn check_fields(&self) -> KResult<()> {
        check_err(self.lr_err)?;
        if self.lr_err != 0 {
            return Ok(());
        }
        let n = c_str_len(&self.lr_link)?;
        expect(n >= Self::MIN_NAME)?;
        expect(DatalinkClass(self.lr_class).is_class())
    }

    /// The link name, without its NUL (meaningful when `lr_err` is 0).
    pub fn link(&self) -> &[u8] {
        name_of(&self.lr_link)
    }
}

/// `dlmgmt_getattr_retval_t`: the reply to `DLS_GETATTR`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DlmgmtGetattrRetval {
    /// 0, or the errno dlmgmtd reports.
    pub lr_err: u32,
    /// A `dladm_datatype_t` ([`datatype`]).
    pub lr_type: u32,
    /// Bytes of `lr_attrval` in use.
    pub lr_attrsz: u32,
    /// Keeps `lr_attrval` at the same offset on i386.
    pub lr_padding: u32,
    /// The value.
    pub lr_attrval: [u8; MAXLINKATTRVALLEN],
}

wire!(DlmgmtGetattrRetval, 1040, {
    lr_err: u32, lr_type: u32, lr_attrsz: u32, lr_padding: u32, lr_attrval: bytes,
});

impl DlmgmtGetattrRetval {
    fn check_fields(&self) -> KResult<()> {
        check_err(self.lr_err)?;
        if self.lr_err != 0 {
            return Ok(());
        }
        expect(self.lr_type <= datatype::UINT64)?;
        expect(usize::try_from(self.lr_attrsz).is_ok_and(|n| n <= MAXLINKATTRVALLEN))
    }

    /// The value's bytes (meaningful when `lr_err` is 0).
    pub fn value(&self) -> &[u8] {
        let n = usize::try_from(self.lr_attrsz).unwrap_or(0);
        self.lr_attrval.get(..n).unwrap_or(&[])
    }

    /// The value of a successful reply, checked as [`Wire::decode`] checks
    /// it, read in place: the reply is 1 KiB, and a decoded copy of it on
    /// a kernel stack would be another.
    pub fn value_in(bytes: &[u8]) -> KResult<&[u8]> {
        let r = Reader::new(bytes, Self::SIZE)?;
        let err = r.u32(offset_of!(Self, lr_err))?;
        check_err(err)?;
        expect(err == 0)?;
        expect(r.u32(offset_of!(Self, lr_type))? <= datatype::UINT64)?;
        let n = usize::try_from(r.u32(offset_of!(Self, lr_attrsz))?).map_err(|_| Errno::EINVAL)?;
        expect(n <= MAXLINKATTRVALLEN)?;
        let start = offset_of!(Self, lr_attrval);
        bytes.get(start..start.saturating_add(n)).ok_or(Errno::EINVAL)
    }
}

/// The largest request the kernel sends.
pub const MAX_REQUEST: usize = 288;
/// The largest reply the kernel reads.
pub const MAX_REPLY: usize = 1040;

// ---- Layout, pinned to the amd64 values ------------------------------------
//
// Sizes and offsets in bytes, from sys/dls_mgmt.h with 4-byte int, uint_t,
// uint32_t, boolean_t, datalink_id_t, datalink_class_t and zoneid_t, and
// 8-byte-aligned uint64_t/datalink_media_t. tests/c/layout.c prints the
// same numbers from C (unit test layouts_match_the_c_compiler).

const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_class), 4);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_media), 8);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_persist), 12);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_phymaj), 16);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_phyinst), 24);
const_assert_eq!(offset_of!(DlmgmtUpcallArgCreate, ld_devname), 32);

const_assert_eq!(offset_of!(DlmgmtUpcallArgDestroy, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtUpcallArgDestroy, ld_linkid), 4);
const_assert_eq!(offset_of!(DlmgmtUpcallArgDestroy, ld_persist), 8);
const_assert_eq!(offset_of!(DlmgmtUpcallArgDestroy, ld_padding), 12);

const_assert_eq!(offset_of!(DlmgmtUpcallArgUpdate, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtUpcallArgUpdate, ld_novanity), 4);
const_assert_eq!(offset_of!(DlmgmtUpcallArgUpdate, ld_media), 8);
const_assert_eq!(offset_of!(DlmgmtUpcallArgUpdate, ld_padding), 12);
const_assert_eq!(offset_of!(DlmgmtUpcallArgUpdate, ld_devname), 16);

const_assert_eq!(offset_of!(DlmgmtUpcallArgGetattr, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtUpcallArgGetattr, ld_linkid), 4);
const_assert_eq!(offset_of!(DlmgmtUpcallArgGetattr, ld_attr), 8);

const_assert_eq!(offset_of!(DlmgmtDoorGetname, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtDoorGetname, ld_linkid), 4);

const_assert_eq!(offset_of!(DlmgmtDoorGetlinkid, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtDoorGetlinkid, ld_link), 4);
const_assert_eq!(offset_of!(DlmgmtDoorGetlinkid, ld_zoneid), 36);

const_assert_eq!(offset_of!(DlmgmtDoorGetnext, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtDoorGetnext, ld_linkid), 4);
const_assert_eq!(offset_of!(DlmgmtDoorGetnext, ld_class), 8);
const_assert_eq!(offset_of!(DlmgmtDoorGetnext, ld_flags), 12);
const_assert_eq!(offset_of!(DlmgmtDoorGetnext, ld_dmedia), 16);

const_assert_eq!(offset_of!(DlmgmtDoorLinkpropInit, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtDoorLinkpropInit, ld_linkid), 4);

const_assert_eq!(offset_of!(DlmgmtDoorSetzoneid, ld_cmd), 0);
const_assert_eq!(offset_of!(DlmgmtDoorSetzoneid, ld_linkid), 4);
const_assert_eq!(offset_of!(DlmgmtDoorSetzoneid, ld_zoneid), 8);

const_assert_eq!(offset_of!(DlmgmtRetval, lr_err), 0);

const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_err), 0);
const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_linkid), 4);
const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_flags), 8);
const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_class), 12);
const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_media), 16);
const_assert_eq!(offset_of!(DlmgmtLinkidRetval, lr_padding), 20);

const_assert_eq!(offset_of!(DlmgmtGetnameRetval, lr_err), 0);
const_assert_eq!(offset_of!(DlmgmtGetnameRetval, lr_link), 4);
const_assert_eq!(offset_of!(DlmgmtGetnameRetval, lr_class), 36);
const_assert_eq!(offset_of!(DlmgmtGetnameRetval, lr_media), 40);
const_assert_eq!(offset_of!(DlmgmtGetnameRetval, lr_flags), 44);

const_assert_eq!(offset_of!(DlmgmtGetattrRetval, lr_err), 0);
const_assert_eq!(offset_of!(DlmgmtGetattrRetval, lr_type), 4);
const_assert_eq!(offset_of!(DlmgmtGetattrRetval, lr_attrsz), 8);
const_assert_eq!(offset_of!(DlmgmtGetattrRetval, lr_padding), 12);
const_assert_eq!(offset_of!(DlmgmtGetattrRetval, lr_attrval), 16);

const_assert_eq!(MAX_REQUEST, 288);
const_assert_eq!(MAX_REPLY, 1040);

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests;
