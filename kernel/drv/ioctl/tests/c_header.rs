//! include/sys/dlszone_ioctl.h against the Rust structures: the host C
//! compiler builds tests/c/dlszone_ioctl_h.c for amd64 and runs it, and
//! every size, offset and value it prints must be the Rust one; it also
//! compiles the header for i386 (freestanding, syntax only), where its
//! static assertions prove the 32-bit layout is the same.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use dlszone_ioctl::*;

fn source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/c/dlszone_ioctl_h.c")
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn c_values() -> BTreeMap<String, i64> {
    let exe = std::env::temp_dir().join(format!("dlszone-ioctl-h-{}", std::process::id()));
    let ok = Command::new(cc())
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(source())
        .status()
        .expect("run the C compiler");
    assert!(ok.success(), "tests/c/dlszone_ioctl_h.c does not compile for amd64");
    let out = Command::new(&exe).output().expect("run the layout program");
    let _ = std::fs::remove_file(&exe);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("text")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("name value");
            (k.to_string(), v.parse().expect("number"))
        })
        .collect()
}

#[test]
fn header_compiles_for_i386() {
    let ok = Command::new(cc())
        .args(["-m32", "-std=c11", "-ffreestanding", "-fsyntax-only", "-Wall", "-Werror"])
        .arg("-DDLSZONE_SYNTAX_ONLY")
        .arg(source())
        .status()
        .expect("run the C compiler");
    assert!(ok.success(), "sys/dlszone_ioctl.h: the i386 layout differs");
}

#[test]
fn header_matches_the_rust_structures() {
    let c = c_values();
    let v = |k: &str| *c.get(k).unwrap_or_else(|| panic!("C printed no {k}"));
    macro_rules! same {
        ($ty:ty, $c:literal, [$($f:ident),*]) => {{
            assert_eq!(size_of::<$ty>() as i64, v($c), "sizeof {}", $c);
            $(assert_eq!(
                offset_of!($ty, $f) as i64,
                v(concat!($c, ".", stringify!($f))),
                "offsetof {}.{}", $c, stringify!($f)
            );)*
        }};
    }
    same!(
        DzRecover,
        "dz_ioc_recover_t",
        [dzr_zoneid, dzr_uniqid, dzr_flags, dzr_timeout_ms, dzr_returned, dzr_left, dzr_notices]
    );
    same!(
        DzList,
        "dz_ioc_list_t",
        [dzl_zoneid, dzl_capacity, dzl_count, dzl_total, dzl_buf, dzl_generation, dzl_oflags]
    );
    same!(
        DzLink,
        "dz_link_t",
        [
            dzk_owner,
            dzk_zone,
            dzk_flags,
            dzk_state,
            dzk_owner_uniqid,
            dzk_zone_uniqid,
            dzk_holds,
            dzk_name,
            dzk_reserved,
            dzk_mac
        ]
    );
    same!(DzHolders, "dz_ioc_holders_t", [dzh_linkid, dzh_flags, dzh_capacity, dzh_total, dzh_buf]);
    same!(DzHolder, "dz_holder_t", [dzhe_kind, dzhe_zoneid, dzhe_state, dzhe_uniqid, dzhe_count]);
    same!(DzReplay, "dz_ioc_replay_t", [dzp_delivered, dzp_pending]);
    for (name, rust) in [
        ("DZIOC_RECOVER", i64::from(DZIOC_RECOVER)),
        ("DZIOC_LIST", i64::from(DZIOC_LIST)),
        ("DZIOC_HOLDERS", i64::from(DZIOC_HOLDERS)),
        ("DZIOC_REPLAY", i64::from(DZIOC_REPLAY)),
        ("DZIOC_VERSION", i64::from(DZIOC_VERSION)),
        ("DZ_RECOVER_FORCE", i64::from(DZ_RECOVER_FORCE)),
        ("DZ_RECOVER_MAX_TIMEOUT_MS", i64::from(DZ_RECOVER_MAX_TIMEOUT_MS)),
        ("DZ_LIST_NOHOLDS", i64::from(DZ_LIST_NOHOLDS)),
        ("DZ_HOLDERS_DETACHED", i64::from(DZ_HOLDERS_DETACHED)),
        ("DZ_LINK_TRANSIENT", i64::from(linkf::TRANSIENT)),
        ("DZ_LINK_PERSISTENT", i64::from(linkf::PERSISTENT)),
        ("DZ_LINK_LENT", i64::from(linkf::LENT)),
        ("DZ_STATE_DETACHED", i64::from(state::DETACHED)),
        ("DZ_HOLD_TEMPORARY", i64::from(kind::TEMPORARY)),
        ("DZ_HOLD_KINDS", kind::COUNT as i64),
    ] {
        assert_eq!(rust, v(name), "{name}");
    }
}
