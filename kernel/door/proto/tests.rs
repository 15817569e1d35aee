//! Unit tests of the door mirrors: every structure's bytes, checks and
//! refusals, and a property test that decoding arbitrary bytes never
//! panics.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Encoding then decoding gives the value back, and a buffer one byte
/// short or long is refused both ways.
fn round_trip<T: Wire + PartialEq + core::fmt::Debug>(v: &T) -> Vec<u8> {
    let mut buf = vec![0xa5u8; T::SIZE];
    v.encode_into(&mut buf).expect("encode");
    assert_eq!(T::decode(&buf).as_ref(), Ok(v));
    let mut short = vec![0u8; T::SIZE - 1];
    assert_eq!(v.encode_into(&mut short), Err(Errno::EINVAL));
    let mut long = vec![0u8; T::SIZE + 1];
    assert_eq!(v.encode_into(&mut long), Err(Errno::EINVAL));
    assert_eq!(T::decode(&buf[..T::SIZE - 1]).err(), Some(Errno::EINVAL));
    let mut longer = buf.clone();
    longer.push(0);
    assert_eq!(T::decode(&longer).err(), Some(Errno::EINVAL));
    assert_eq!(T::decode(&[]).err(), Some(Errno::EINVAL));
    buf
}

// ---- requests ---------------------------------------------------------------

#[test]
fn create_bytes() {
    let v = DlmgmtUpcallArgCreate::new(b"bge0", 83, 1, DatalinkClass::PHYS, 4, true).unwrap();
    let b = round_trip(&v);
    assert_eq!(b.len(), 288);
    assert_eq!(i32_at(&b, 0), 1);
    assert_eq!(u32_at(&b, 4), 0x01);
    assert_eq!(u32_at(&b, 8), 4);
    assert_eq!(u32_at(&b, 12), 1);
    assert_eq!(u64_at(&b, 16), 83);
    assert_eq!(u64_at(&b, 24), 1);
    assert_eq!(&b[32..37], b"bge0\0");
    assert!(b[37..].iter().all(|&x| x == 0), "rest of the name is zeroed");
    assert_eq!(v.devname(), b"bge0");
    assert_eq!(v.to_bytes().unwrap().as_slice(), b.as_slice());
}

#[test]
fn create_refusals() {
    let long = [b'a'; 256];
    assert_eq!(
        DlmgmtUpcallArgCreate::new(&long, 0, 0, DatalinkClass::VNIC, 0, false).err(),
        Some(Errno::ENAMETOOLONG)
    );
    let fits = [b'a'; 255];
    assert!(DlmgmtUpcallArgCreate::new(&fits, 0, 0, DatalinkClass::VNIC, 0, false).is_ok());
    assert_eq!(
        DlmgmtUpcallArgCreate::new(b"", 0, 0, DatalinkClass::VNIC, 0, false).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        DlmgmtUpcallArgCreate::new(b"a\0b", 0, 0, DatalinkClass::VNIC, 0, false).err(),
        Some(Errno::EINVAL)
    );
    for bad in [0, 0x03, 0x800, 0x8000_0000, DatalinkClass::ALL.0] {
        assert_eq!(
            DlmgmtUpcallArgCreate::new(b"x0", 0, 0, DatalinkClass(bad), 0, false).err(),
            Some(Errno::EINVAL),
            "class {bad:#x}"
        );
    }
    // Decoding refuses what encoding would not produce.
    let good = DlmgmtUpcallArgCreate::new(b"x0", 0, 0, DatalinkClass::MISC, 0, false).unwrap();
    let mut b = good.to_bytes().unwrap();
    put_u32(&mut b, 0, 3);
    assert_eq!(DlmgmtUpcallArgCreate::decode(&b).err(), Some(Errno::EINVAL), "wrong command");
    let mut b = good.to_bytes().unwrap();
    put_u32(&mut b, 12, 2);
    assert_eq!(DlmgmtUpcallArgCreate::decode(&b).err(), Some(Errno::EINVAL), "boolean 2");
    let mut b = good.to_bytes().unwrap();
    b[32..].fill(b'z');
    assert_eq!(DlmgmtUpcallArgCreate::decode(&b).err(), Some(Errno::EINVAL), "no NUL");
    let mut bad = good;
    bad.ld_class = 0x06;
    assert_eq!(bad.to_bytes().err(), Some(Errno::EINVAL), "encode checks too");
}

#[test]
fn destroy_bytes() {
    let v = DlmgmtUpcallArgDestroy::new(1001, false).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), i32_at(&b, 12)), (3, 1001, 0, 0));
    assert_eq!(DlmgmtUpcallArgDestroy::new(0, true).err(), Some(Errno::EINVAL));
    let mut b = v.to_bytes().unwrap();
    put_u32(&mut b, 12, 0xdead);
    assert_eq!(DlmgmtUpcallArgDestroy::decode(&b).map(|d| d.ld_padding), Ok(0xdead));
}

#[test]
fn update_bytes() {
    let v = DlmgmtUpcallArgUpdate::new(b"e1000g0", 4, true).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12)), (7, 1, 4, 0));
    assert_eq!(&b[16..24], b"e1000g0\0");
    assert_eq!(v.devname(), b"e1000g0");
    assert_eq!(DlmgmtUpcallArgUpdate::new(&[b'q'; 300], 4, false).err(), Some(Errno::ENAMETOOLONG));
}

#[test]
fn getattr_bytes() {
    let v = DlmgmtUpcallArgGetattr::new(5, FPHYMAJ).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4)), (2, 5));
    assert_eq!(&b[8..15], b"phymaj\0");
    assert_eq!(v.attr(), b"phymaj");
    assert_eq!(DlmgmtUpcallArgGetattr::new(0, FPHYINST).err(), Some(Errno::EINVAL));
    assert_eq!(DlmgmtUpcallArgGetattr::new(5, &[b'a'; 32]).err(), Some(Errno::ENAMETOOLONG));
    assert!(DlmgmtUpcallArgGetattr::new(5, &[b'a'; 31]).is_ok());
}

#[test]
fn getname_bytes() {
    let v = DlmgmtDoorGetname::new(77).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4)), (4, 77));
    assert_eq!(DlmgmtDoorGetname::new(0).err(), Some(Errno::EINVAL));
}

#[test]
fn getlinkid_bytes() {
    let v = DlmgmtDoorGetlinkid::new(b"net0", None).unwrap();
    let b = round_trip(&v);
    assert_eq!(b.len(), 40);
    assert_eq!(i32_at(&b, 0), 5);
    assert_eq!(&b[4..9], b"net0\0");
    assert_eq!(i32_at(&b, 36), -1, "caller's zone is sent as ALL_ZONES");
    assert_eq!(v.link(), b"net0");
    let z = DlmgmtDoorGetlinkid::new(b"net0", Some(12)).unwrap();
    assert_eq!(i32_at(&z.to_bytes().unwrap(), 36), 12);
    assert_eq!(DlmgmtDoorGetlinkid::new(b"net0", Some(10000)).err(), Some(Errno::EINVAL));
    assert_eq!(DlmgmtDoorGetlinkid::new(b"net0", Some(-2)).err(), Some(Errno::EINVAL));
    assert_eq!(DlmgmtDoorGetlinkid::new(&[b'n'; 32], None).err(), Some(Errno::ENAMETOOLONG));
    assert!(DlmgmtDoorGetlinkid::new(&[b'n'; 31], None).is_ok());
}

#[test]
fn getnext_bytes() {
    let v = DlmgmtDoorGetnext::new(0, DatalinkClass::ALL, DatalinkMedia::ANY, LinkFlags::ACTIVE)
        .unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12)), (6, 0, 0x7ff, 1));
    assert_eq!(u64_at(&b, 16), 1 << 32);
    let bad = |c: u32, m: u64, f: u32| {
        DlmgmtDoorGetnext::new(3, DatalinkClass(c), DatalinkMedia(m), LinkFlags(f)).err()
    };
    assert_eq!(bad(0, 0, 1), Some(Errno::EINVAL), "no class");
    assert_eq!(bad(0x800, 0, 1), Some(Errno::EINVAL), "unknown class");
    assert_eq!(bad(1, 0, 0), Some(Errno::EINVAL), "no flag");
    assert_eq!(bad(1, 0, 8), Some(Errno::EINVAL), "unknown flag");
    assert_eq!(bad(1, 2 << 32, 1), Some(Errno::EINVAL), "media high word");
    assert_eq!(bad(0x3, 4, 0x7), None, "a mask of classes, one media, all flags");
}

#[test]
fn linkprop_init_and_setzoneid_bytes() {
    let v = DlmgmtDoorLinkpropInit::new(9).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4)), (8, 9));
    assert_eq!(DlmgmtDoorLinkpropInit::new(0).err(), Some(Errno::EINVAL));

    let v = DlmgmtDoorSetzoneid::new(9, 4).unwrap();
    let b = round_trip(&v);
    assert_eq!((i32_at(&b, 0), u32_at(&b, 4), i32_at(&b, 8)), (9, 9, 4));
    assert!(DlmgmtDoorSetzoneid::new(9, 0).is_ok());
    assert!(DlmgmtDoorSetzoneid::new(9, MAX_ZONEID).is_ok());
    assert_eq!(DlmgmtDoorSetzoneid::new(9, -1).err(), Some(Errno::EINVAL));
    assert_eq!(DlmgmtDoorSetzoneid::new(9, 10000).err(), Some(Errno::EINVAL));
    assert_eq!(DlmgmtDoorSetzoneid::new(0, 1).err(), Some(Errno::EINVAL));
}

// ---- replies ----------------------------------------------------------------

#[test]
fn retval_err_range() {
    for e in [0u32, 2, 30, 151] {
        round_trip(&DlmgmtRetval { lr_err: e });
    }
    for e in [152u32, 1000, u32::MAX] {
        assert_eq!(DlmgmtRetval::decode(&e.to_ne_bytes()).err(), Some(Errno::EINVAL), "{e}");
        assert_eq!(DlmgmtRetval { lr_err: e }.to_bytes().err(), Some(Errno::EINVAL));
    }
}

#[test]
fn linkid_retval_bytes() {
    let v = DlmgmtLinkidRetval {
        lr_err: 0,
        lr_linkid: 1002,
        lr_flags: 5,
        lr_class: 8,
        lr_media: 4,
        lr_padding: 0,
    };
    let b = round_trip(&v);
    assert_eq!(
        (u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12), u32_at(&b, 16)),
        (0, 1002, 5, 8, 4)
    );
    // The body is the command's business (upcall.rs): structurally, only
    // lr_err is judged here, since dlmgmtd leaves fields unset.
    let mut garbage = b.clone();
    put_u32(&mut garbage, 12, 0xffff_ffff);
    assert!(DlmgmtLinkidRetval::decode(&garbage).is_ok());
    put_u32(&mut garbage, 0, 152);
    assert_eq!(DlmgmtLinkidRetval::decode(&garbage).err(), Some(Errno::EINVAL));
}

fn getname(name: &[u8], class: u32) -> DlmgmtGetnameRetval {
    let mut lr_link = [0u8; MAXLINKNAMELEN];
    lr_link[..name.len()].copy_from_slice(name);
    DlmgmtGetnameRetval { lr_err: 0, lr_link, lr_class: class, lr_media: 4, lr_flags: 1 }
}

#[test]
fn getname_retval_bytes_and_checks() {
    let v = getname(b"vnic0", 8);
    let b = round_trip(&v);
    assert_eq!(u32_at(&b, 0), 0);
    assert_eq!(&b[4..10], b"vnic0\0");
    assert_eq!((u32_at(&b, 36), u32_at(&b, 40), u32_at(&b, 44)), (8, 4, 1));
    assert_eq!(v.link(), b"vnic0");

    // A name with no NUL in its 32 bytes is refused, never read past.
    let mut b2 = b.clone();
    b2[4..36].fill(b'x');
    assert_eq!(DlmgmtGetnameRetval::decode(&b2).err(), Some(Errno::EINVAL));
    // 31 characters is the longest name.
    assert!(DlmgmtGetnameRetval::decode(&getname(&[b'x'; 31], 8).to_bytes().unwrap()).is_ok());
    // Gate refuses names of 0 and 1 characters (dls_mgmt_get_linkinfo).
    assert_eq!(getname(b"", 8).to_bytes().err(), Some(Errno::EINVAL));
    assert_eq!(getname(b"a", 8).to_bytes().err(), Some(Errno::EINVAL));
    assert!(getname(b"a0", 8).to_bytes().is_ok());
    // The class must be one known class.
    for c in [0u32, 3, 0x800] {
        let mut b3 = b.clone();
        put_u32(&mut b3, 36, c);
        assert_eq!(DlmgmtGetnameRetval::decode(&b3).err(), Some(Errno::EINVAL), "class {c:#x}");
    }
    // With lr_err set, the body is the daemon's uninitialised memory.
    let mut b4 = b2.clone();
    put_u32(&mut b4, 0, 2);
    put_u32(&mut b4, 36, 0xffff);
    assert_eq!(DlmgmtGetnameRetval::decode(&b4).map(|r| r.lr_err), Ok(2));
    put_u32(&mut b4, 0, 200);
    assert_eq!(DlmgmtGetnameRetval::decode(&b4).err(), Some(Errno::EINVAL));
}

#[test]
fn getattr_retval_bytes_and_checks() {
    let mut lr_attrval = [0u8; MAXLINKATTRVALLEN];
    lr_attrval[..8].copy_from_slice(&83u64.to_ne_bytes());
    let v = DlmgmtGetattrRetval {
        lr_err: 0,
        lr_type: datatype::UINT64,
        lr_attrsz: 8,
        lr_padding: 0,
        lr_attrval,
    };
    let b = round_trip(&v);
    assert_eq!(b.len(), 1040);
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8)), (0, 2, 8));
    assert_eq!(u64_at(&b, 16), 83);
    assert_eq!(v.value(), &83u64.to_ne_bytes());

    let mut big = v;
    big.lr_attrsz = 1024;
    assert_eq!(big.value().len(), 1024);
    assert!(big.to_bytes().is_ok());
    big.lr_attrsz = 1025;
    assert_eq!(big.to_bytes().err(), Some(Errno::EINVAL));
    assert_eq!(big.value(), &[] as &[u8], "never past the array");
    let mut b2 = b.clone();
    put_u32(&mut b2, 8, u32::MAX);
    assert_eq!(DlmgmtGetattrRetval::decode(&b2).err(), Some(Errno::EINVAL));
    let mut b3 = b.clone();
    put_u32(&mut b3, 4, 3);
    assert_eq!(DlmgmtGetattrRetval::decode(&b3).err(), Some(Errno::EINVAL), "type 3");
    put_u32(&mut b3, 0, 2);
    assert!(DlmgmtGetattrRetval::decode(&b3).is_ok(), "failed reply: body not judged");
}

#[test]
fn class_and_media_helpers() {
    for c in [1u32, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400] {
        assert!(DatalinkClass(c).is_class());
        assert!(DatalinkClass(c).is_mask());
    }
    assert!(!DatalinkClass(0).is_class());
    assert!(!DatalinkClass(0x7ff).is_class());
    assert!(DatalinkClass::ALL.is_mask());
    assert!(!DatalinkClass(0x1000).is_mask());
    assert!(DatalinkMedia::ANY.accepts(9));
    assert!(DatalinkMedia::only(4).accepts(4));
    assert!(!DatalinkMedia::only(4).accepts(9));
    assert!(LinkFlags(7).contains(LinkFlags::TRANSIENT));
    assert!(!LinkFlags(3).contains(LinkFlags::TRANSIENT));
    assert_eq!(DLMGMT_DOOR.last(), Some(&0));
    assert_eq!(DLMGMT_DOOR.iter().filter(|&&b| b == 0).count(), 1);
}

// ---- decoding arbitrary bytes never panics ----------------------------------

/// Decodes `bytes` as every structure; a successful decode re-encodes to
/// the same bytes (no structure has implicit padding, so every byte
/// belongs to a field).
fn decode_all(bytes: &[u8]) {
    fn one<T: Wire>(bytes: &[u8]) {
        if let Ok(v) = T::decode(bytes) {
            let mut out = vec![0u8; T::SIZE];
            v.encode_into(&mut out).expect("a decoded value encodes");
            assert_eq!(out.as_slice(), bytes);
        }
    }
    one::<DlmgmtUpcallArgCreate>(bytes);
    one::<DlmgmtUpcallArgDestroy>(bytes);
    one::<DlmgmtUpcallArgUpdate>(bytes);
    one::<DlmgmtUpcallArgGetattr>(bytes);
    one::<DlmgmtDoorGetname>(bytes);
    one::<DlmgmtDoorGetlinkid>(bytes);
    one::<DlmgmtDoorGetnext>(bytes);
    one::<DlmgmtDoorLinkpropInit>(bytes);
    one::<DlmgmtDoorSetzoneid>(bytes);
    one::<DlmgmtRetval>(bytes);
    one::<DlmgmtLinkidRetval>(bytes);
    one::<DlmgmtGetnameRetval>(bytes);
    one::<DlmgmtGetattrRetval>(bytes);
}

const SIZES: [usize; 11] = [4, 8, 12, 16, 24, 40, 48, 272, 288, 1040, 0];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoding_exact_sizes_never_panics(
        which in 0..SIZES.len(),
        seed in proptest::collection::vec(any::<u8>(), 1040),
        small in 0u32..200,
    ) {
        let n = SIZES[which];
        let mut bytes = seed[..n].to_vec();
        // Bias the leading word towards plausible commands and errnos so
        // the checks past the first field run too.
        if n >= 4 {
            bytes[..4].copy_from_slice(&(small % 160).to_ne_bytes());
        }
        decode_all(&bytes);
    }
}

// ---- the C compiler agrees --------------------------------------------------

/// Compares a mirror's size and every field offset with what the host C
/// compiler makes of the same declaration (tests/c/layout.c).
macro_rules! same_as_c {
    ($ty:ty, $c:literal, [$($f:ident),* $(,)?]) => {{
        use crate::c_layout::c_value;
        assert_eq!(core::mem::size_of::<$ty>(), c_value($c), "sizeof {}", $c);
        assert_eq!(<$ty as Wire>::SIZE, c_value($c), "Wire::SIZE {}", $c);
        $(
            assert_eq!(
                core::mem::offset_of!($ty, $f),
                c_value(concat!($c, ".", stringify!($f))),
                "offsetof {}.{}", $c, stringify!($f)
            );
        )*
    }};
}

#[test]
fn layouts_match_the_c_compiler() {
    same_as_c!(
        DlmgmtUpcallArgCreate,
        "dlmgmt_upcall_arg_create_t",
        [ld_cmd, ld_class, ld_media, ld_persist, ld_phymaj, ld_phyinst, ld_devname]
    );
    same_as_c!(
        DlmgmtUpcallArgDestroy,
        "dlmgmt_upcall_arg_destroy_t",
        [ld_cmd, ld_linkid, ld_persist, ld_padding]
    );
    same_as_c!(
        DlmgmtUpcallArgUpdate,
        "dlmgmt_upcall_arg_update_t",
        [ld_cmd, ld_novanity, ld_media, ld_padding, ld_devname]
    );
    same_as_c!(DlmgmtUpcallArgGetattr, "dlmgmt_upcall_arg_getattr_t", [ld_cmd, ld_linkid, ld_attr]);
    same_as_c!(DlmgmtDoorGetname, "dlmgmt_door_getname_t", [ld_cmd, ld_linkid]);
    same_as_c!(DlmgmtDoorGetlinkid, "dlmgmt_door_getlinkid_t", [ld_cmd, ld_link, ld_zoneid]);
    same_as_c!(
        DlmgmtDoorGetnext,
        "dlmgmt_door_getnext_t",
        [ld_cmd, ld_linkid, ld_class, ld_flags, ld_dmedia]
    );
    same_as_c!(DlmgmtDoorLinkpropInit, "dlmgmt_door_linkprop_init_t", [ld_cmd, ld_linkid]);
    same_as_c!(DlmgmtDoorSetzoneid, "dlmgmt_door_setzoneid_t", [ld_cmd, ld_linkid, ld_zoneid]);
    same_as_c!(DlmgmtRetval, "dlmgmt_retval_t", [lr_err]);
    same_as_c!(
        DlmgmtLinkidRetval,
        "dlmgmt_linkid_retval_t",
        [lr_err, lr_linkid, lr_flags, lr_class, lr_media, lr_padding]
    );
    same_as_c!(
        DlmgmtGetnameRetval,
        "dlmgmt_getname_retval_t",
        [lr_err, lr_link, lr_class, lr_media, lr_flags]
    );
    same_as_c!(
        DlmgmtGetattrRetval,
        "dlmgmt_getattr_retval_t",
        [lr_err, lr_type, lr_attrsz, lr_padding, lr_attrval]
    );
}
