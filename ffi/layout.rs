//! Compile-time checks of the C layouts and values the Rust code relies on.
//!
//! These hold for the amd64 (LP64) illumos kernel. They are checked against
//! whatever header bindgen read: the project's `include/dlszone_ddi.h` by
//! default, or the real illumos-gate headers when `ILLUMOS_GATE` is set, so
//! a declaration that disagrees with illumos fails the build here.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};

use static_assertions::const_assert_eq;

use super::*;
use crate::errno::Errno;

// Lock words: one pointer for kmutex_t and krwlock_t, one ushort for
// kcondvar_t. The kernel backend of crate::sync allocates exactly these.
const_assert_eq!(size_of::<kmutex_t>(), 8);
const_assert_eq!(align_of::<kmutex_t>(), 8);
const_assert_eq!(size_of::<krwlock_t>(), 8);
const_assert_eq!(align_of::<krwlock_t>(), 8);
const_assert_eq!(size_of::<kcondvar_t>(), 2);
const_assert_eq!(align_of::<kcondvar_t>(), 2);

// Module linkage, as krtld and modctl read it from the module's .data.
const_assert_eq!(size_of::<modlinkage>(), 64);
const_assert_eq!(offset_of!(modlinkage, ml_rev), 0);
const_assert_eq!(offset_of!(modlinkage, ml_linkage), 8);
const_assert_eq!(size_of::<[*mut c_void; 7]>(), 56);
const_assert_eq!(size_of::<modlmisc>(), 16);
const_assert_eq!(offset_of!(modlmisc, misc_linkinfo), 8);
const_assert_eq!(size_of::<mod_ops>(), 24);
const_assert_eq!(MODREV_1, 1);
const_assert_eq!(MODMAXNAMELEN, 32);
const_assert_eq!(MODMAXLINKINFOLEN, 32);

// Scalar types: same width *and* signedness as illumos (a type mismatch
// fails to compile, a width mismatch fails the assertion).
const _: zoneid_t = -1i32;
const _: datalink_id_t = 0u32;
const _: clock_t = -1i64;
const_assert_eq!(size_of::<boolean_t>(), 4);
const_assert_eq!(boolean_t::B_FALSE.0, 0);
const_assert_eq!(boolean_t::B_TRUE.0, 1);

// Zones.
const_assert_eq!(GLOBAL_ZONEID, 0);
const_assert_eq!(MIN_ZONEID, 0);
const_assert_eq!(MAX_ZONEID, 9999);
const_assert_eq!(ALL_ZONES, -1);

// Lock types and modes.
const_assert_eq!(size_of::<kmutex_type_t>(), 4);
const_assert_eq!(kmutex_type_t::MUTEX_ADAPTIVE.0, 0);
const_assert_eq!(kmutex_type_t::MUTEX_SPIN.0, 1);
const_assert_eq!(kmutex_type_t::MUTEX_DRIVER.0, 4);
const_assert_eq!(kmutex_type_t::MUTEX_DEFAULT.0, 6);
const_assert_eq!(size_of::<krw_type_t>(), 4);
const_assert_eq!(krw_type_t::RW_DRIVER.0, 2);
const_assert_eq!(krw_type_t::RW_DEFAULT.0, 4);
const_assert_eq!(size_of::<krw_t>(), 4);
const_assert_eq!(krw_t::RW_WRITER.0, 0);
const_assert_eq!(krw_t::RW_READER.0, 1);
const_assert_eq!(size_of::<kcv_type_t>(), 4);
const_assert_eq!(kcv_type_t::CV_DEFAULT.0, 0);
const_assert_eq!(kcv_type_t::CV_DRIVER.0, 1);
const_assert_eq!(time_res_t::TR_CLOCK_TICK.0, 4);

// kmem flags and cmn_err levels.
const_assert_eq!(KM_SLEEP, 0);
const_assert_eq!(KM_NOSLEEP, 1);
const_assert_eq!(CE_CONT, 0);
const_assert_eq!(CE_NOTE, 1);
const_assert_eq!(CE_WARN, 2);
const_assert_eq!(CE_PANIC, 3);
const_assert_eq!(CE_IGNORE, 4);

// ktest.
const_assert_eq!(size_of::<ktest_test_flags_t>(), 4);
const_assert_eq!(ktest_test_flags_t::KTEST_FLAG_NONE.0, 0);
const_assert_eq!(ktest_test_flags_t::KTEST_FLAG_INPUT.0, 1);
const_assert_eq!(ktest_result_type_t::KTEST_RESULT_PASS.0, 1);
const_assert_eq!(ktest_result_type_t::KTEST_RESULT_ERROR.0, 4);
const_assert_eq!(KTEST_MAX_NAME_LEN, 64);
const_assert_eq!(KTEST_MAX_LOG_LEN, 4096);

// ---- The dls_mgmt.o seam --------------------------------------------------
//
// Derived from the illumos-gate headers named in include/dlszone_ddi.h, with
// LP64 sizes (int 4, long and pointers 8, long long 8 with 8-byte
// alignment, enums 4). The unit test below compares the structures with
// what the host C compiler makes of tests/c/layout.c.

// Scalars: width and signedness (a wrong type fails to compile).
const _: dev_t = u64::MAX; // ulong_t: major in the high 32 bits
const _: major_t = u32::MAX;
const _: minor_t = u32::MAX;
const _: hrtime_t = i64::MIN;
const _: pid_t = -1i32;
const _: netstackid_t = -1i32;
const _: taskqid_t = usize::MAX; // uintptr_t; 0 means "not dispatched"
const _: datalink_media_t = u64::MAX;
const _: door_attr_t = u32::MAX;
const _: door_ptr_t = u64::MAX;
const _: door_id_t = u64::MAX;
const _: kid_t = -1i32;
const_assert_eq!(size_of::<door_handle_t>(), 8);
const_assert_eq!(size_of::<mac_handle_t>(), 8);
const_assert_eq!(size_of::<mac_perim_handle_t>(), 8);
const_assert_eq!(size_of::<dls_dev_handle_t>(), 8);
const_assert_eq!(size_of::<mod_hash_key_t>(), 8);
const_assert_eq!(size_of::<task_func_t>(), 8);
const_assert_eq!(size_of::<zone_status_t>(), 4);
const_assert_eq!(size_of::<datalink_class_t>(), 4);

// door_arg_t (sys/door.h): what door_ki_upcall_limited() reads and updates.
const_assert_eq!(size_of::<door_arg_t>(), 48);
const_assert_eq!(offset_of!(door_arg_t, data_ptr), 0);
const_assert_eq!(offset_of!(door_arg_t, data_size), 8);
const_assert_eq!(offset_of!(door_arg_t, desc_ptr), 16);
const_assert_eq!(offset_of!(door_arg_t, desc_num), 24);
const_assert_eq!(offset_of!(door_arg_t, rbuf), 32);
const_assert_eq!(offset_of!(door_arg_t, rsize), 40);

// door_info_t (sys/door.h): di_attributes tells a revoked door. The header
// packs it to 4 bytes on amd64 (#pragma pack(4) when long long is 8-aligned
// in 64-bit and 4-aligned in 32-bit code), so its 64-bit members sit at
// 4-byte offsets and it is 48 bytes, the i386 layout. Read its fields by
// value (it is #[repr(packed(4))] in Rust).
const_assert_eq!(size_of::<door_info_t>(), 48);
const_assert_eq!(align_of::<door_info_t>(), 4);
const_assert_eq!(offset_of!(door_info_t, di_target), 0);
const_assert_eq!(offset_of!(door_info_t, di_proc), 4);
const_assert_eq!(offset_of!(door_info_t, di_data), 12);
const_assert_eq!(offset_of!(door_info_t, di_attributes), 20);
const_assert_eq!(offset_of!(door_info_t, di_uniquifier), 24);
const_assert_eq!(offset_of!(door_info_t, di_resv), 32);
const_assert_eq!(DOOR_REVOKED, 0x08);

// kstat_t (sys/kstat.h): the link kstat's ks_update callback reads
// ks_private (the link id); named kstats fill ks_data.
const_assert_eq!(size_of::<kstat_t>(), 184);
const_assert_eq!(offset_of!(kstat_t, ks_crtime), 0);
const_assert_eq!(offset_of!(kstat_t, ks_data), 120);
const_assert_eq!(offset_of!(kstat_t, ks_ndata), 128);
const_assert_eq!(offset_of!(kstat_t, ks_data_size), 136);
const_assert_eq!(offset_of!(kstat_t, ks_update), 152);
const_assert_eq!(offset_of!(kstat_t, ks_private), 160);
const_assert_eq!(offset_of!(kstat_t, ks_lock), 176);
const_assert_eq!(size_of::<kstat_named_t>(), 48);
const_assert_eq!(align_of::<kstat_named_t>(), 8);
const_assert_eq!(offset_of!(kstat_named_t, name), 0);
const_assert_eq!(offset_of!(kstat_named_t, data_type), 31);
const_assert_eq!(offset_of!(kstat_named_t, value), 32);
const_assert_eq!(KSTAT_STRLEN, 31);
const_assert_eq!(KSTAT_TYPE_NAMED, 1);
const_assert_eq!(KSTAT_FLAG_VIRTUAL, 0x01);
const_assert_eq!(KSTAT_DATA_UINT32, 2);
const_assert_eq!(KSTAT_DATA_UINT64, 4);
const_assert_eq!(KSTAT_READ, 0);
const_assert_eq!(KSTAT_WRITE, 1);

// Task queues, network stacks, zones.
const_assert_eq!(TQ_SLEEP, 0x00);
const_assert_eq!(TQ_NOSLEEP, 0x01);
const_assert_eq!(NS_DLS, 0);
const_assert_eq!(GLOBAL_ZONEUNIQID, 0);
const_assert_eq!(zone_status_t::ZONE_IS_UNINITIALIZED.0, 0);
const_assert_eq!(zone_status_t::ZONE_IS_RUNNING.0, 4);
const_assert_eq!(zone_status_t::ZONE_IS_SHUTTING_DOWN.0, 5);
const_assert_eq!(zone_status_t::ZONE_IS_EMPTY.0, 6);
const_assert_eq!(zone_status_t::ZONE_IS_DOWN.0, 7);
const_assert_eq!(zone_status_t::ZONE_IS_DYING.0, 8);
const_assert_eq!(zone_status_t::ZONE_IS_DEAD.0, 9);

// Zone-specific data (the zone incarnation without gate headers,
// kernel/kmod/zone.rs): a key is a uint_t, 0 before it is created.
const _: zone_key_t = u32::MAX;
const_assert_eq!(ZONE_KEY_UNINITIALIZED, 0);

// iptun_kparams_t (inet/iptun.h): the implicit-tunnel path fills one in
// Rust (kernel/kmod/iptun.rs) when the C shim is not built. It writes
// linkid, flags and type; the address and IPsec members are opaque blobs
// of their C size and alignment (sockaddr_storage 256/8, ipsec_req_t
// 16/4), so every offset below is the C one. 544 bytes for 32- and
// 64-bit code alike (the explicit trailing pad).
const_assert_eq!(size_of::<iptun_kparams_t>(), 544);
const_assert_eq!(align_of::<iptun_kparams_t>(), 8);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_linkid), 0);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_flags), 4);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_laddr), 8);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_raddr), 264);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_secinfo), 520);
const_assert_eq!(offset_of!(iptun_kparams_t, iptun_kparam_type), 536);
const_assert_eq!(offset_of!(iptun_kparams_t, _iptun_kparam_padding), 540);
const_assert_eq!(size_of::<sockaddr_storage>(), 256);
const_assert_eq!(align_of::<sockaddr_storage>(), 8);
const_assert_eq!(size_of::<ipsec_req_t>(), 16);
const_assert_eq!(align_of::<ipsec_req_t>(), 4);
const_assert_eq!(size_of::<iptun_type_t>(), 4);
const_assert_eq!(iptun_type_t::IPTUN_TYPE_UNKNOWN.0, 0);
const_assert_eq!(iptun_type_t::IPTUN_TYPE_IPV4.0, 1);
const_assert_eq!(iptun_type_t::IPTUN_TYPE_IPV6.0, 2);
const_assert_eq!(iptun_type_t::IPTUN_TYPE_6TO4.0, 3);
const_assert_eq!(IPTUN_KPARAM_TYPE, 0x01);
const_assert_eq!(IPTUN_KPARAM_IMPLICIT, 0x10);
// The members Rust writes have the C types (a wrong one fails to compile).
const _: fn(&iptun_kparams_t) -> (datalink_id_t, u32, iptun_type_t) =
    |k| (k.iptun_kparam_linkid, k.iptun_kparam_flags, k.iptun_kparam_type);

// Datalink identity: the header's values are the door module's.
const_assert_eq!(DATALINK_INVALID_LINKID as u32, crate::door::proto::DATALINK_INVALID_LINKID);
const_assert_eq!(DLMGMT_ACTIVE as u32, crate::door::LinkFlags::ACTIVE.0);
const_assert_eq!(DLMGMT_PERSIST as u32, crate::door::LinkFlags::PERSIST.0);
const_assert_eq!(DLMGMT_TRANSIENT as u32, crate::door::LinkFlags::TRANSIENT.0);
macro_rules! same_class {
    ($($c:ident = $d:ident),* $(,)?) => {
        $(const_assert_eq!(datalink_class_t::$c.0, crate::door::DatalinkClass::$d.0);)*
    };
}
same_class!(
    DATALINK_CLASS_PHYS = PHYS,
    DATALINK_CLASS_VLAN = VLAN,
    DATALINK_CLASS_AGGR = AGGR,
    DATALINK_CLASS_VNIC = VNIC,
    DATALINK_CLASS_ETHERSTUB = ETHERSTUB,
    DATALINK_CLASS_SIMNET = SIMNET,
    DATALINK_CLASS_BRIDGE = BRIDGE,
    DATALINK_CLASS_IPTUN = IPTUN,
    DATALINK_CLASS_PART = PART,
    DATALINK_CLASS_OVERLAY = OVERLAY,
    DATALINK_CLASS_MISC = MISC,
);

// ---- drv/dlszone ----------------------------------------------------------
//
// The driver's vectors as modctl and specfs read them (sys/devops.h,
// sys/modctl.h), and the constants it passes.
const_assert_eq!(size_of::<cb_ops>(), 136);
const_assert_eq!(offset_of!(cb_ops, cb_open), 0);
const_assert_eq!(offset_of!(cb_ops, cb_close), 8);
const_assert_eq!(offset_of!(cb_ops, cb_ioctl), 56);
const_assert_eq!(offset_of!(cb_ops, cb_chpoll), 88);
const_assert_eq!(offset_of!(cb_ops, cb_prop_op), 96);
const_assert_eq!(offset_of!(cb_ops, cb_str), 104);
const_assert_eq!(offset_of!(cb_ops, cb_flag), 112);
const_assert_eq!(offset_of!(cb_ops, cb_rev), 116);
const_assert_eq!(offset_of!(cb_ops, cb_aread), 120);
const_assert_eq!(offset_of!(cb_ops, cb_awrite), 128);
const_assert_eq!(size_of::<dev_ops>(), 88);
const_assert_eq!(offset_of!(dev_ops, devo_refcnt), 4);
const_assert_eq!(offset_of!(dev_ops, devo_getinfo), 8);
const_assert_eq!(offset_of!(dev_ops, devo_attach), 32);
const_assert_eq!(offset_of!(dev_ops, devo_detach), 40);
const_assert_eq!(offset_of!(dev_ops, devo_cb_ops), 56);
const_assert_eq!(offset_of!(dev_ops, devo_bus_ops), 64);
const_assert_eq!(offset_of!(dev_ops, devo_quiesce), 80);
const_assert_eq!(size_of::<modldrv>(), 24);
const_assert_eq!(offset_of!(modldrv, drv_linkinfo), 8);
const_assert_eq!(offset_of!(modldrv, drv_dev_ops), 16);
const_assert_eq!(size_of::<ddi_info_cmd_t>(), 4);
const_assert_eq!(ddi_info_cmd_t::DDI_INFO_DEVT2DEVINFO.0, 0);
const_assert_eq!(ddi_info_cmd_t::DDI_INFO_DEVT2INSTANCE.0, 1);
const_assert_eq!(ddi_attach_cmd_t::DDI_ATTACH.0, 0);
const_assert_eq!(ddi_detach_cmd_t::DDI_DETACH.0, 0);
const_assert_eq!(DEVO_REV, 4);
const_assert_eq!(CB_REV, 1);
const_assert_eq!(D_NEW, 0);
const_assert_eq!(D_MP, 0x20);
const_assert_eq!(DDI_SUCCESS, 0);
const_assert_eq!(DDI_FAILURE, -1);
const_assert_eq!(S_IFCHR, 0x2000);
const_assert_eq!(OTYP_CHR, 2);
const _: &[u8; 11] = DDI_PSEUDO;

// errno: kernel/errno.rs is the crate's source of truth; the header's
// values must be the same. ERRNO_TABLE lists every pair, and a unit test
// checks that it covers all of Errno::ALL.
macro_rules! errno_table {
    ($($name:ident),* $(,)?) => {
        $(const_assert_eq!(Errno::$name.to_raw(), $name);)*
        /// `(Errno, value from the C header)` for every errno the crate uses.
        pub(crate) const ERRNO_TABLE: &[(Errno, i32)] = &[$((Errno::$name, $name)),*];
    };
}

errno_table!(
    EPERM,
    ENOENT,
    EINTR,
    ENXIO,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOSPC,
    ENOTSUP,
    ENAMETOOLONG,
    EOVERFLOW,
    ENOTEMPTY,
    ETIMEDOUT,
    EALREADY,
    ESTALE,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_layout::c_value;

    /// The seam's structures as the host C compiler lays out the same
    /// declarations (tests/c/layout.c).
    #[test]
    fn seam_layouts_match_the_c_compiler() {
        macro_rules! same {
            ($ty:ty, $c:literal, [$($f:ident),*]) => {{
                assert_eq!(size_of::<$ty>(), c_value($c), "sizeof {}", $c);
                $(assert_eq!(
                    offset_of!($ty, $f),
                    c_value(concat!($c, ".", stringify!($f))),
                    "offsetof {}.{}", $c, stringify!($f)
                );)*
            }};
        }
        same!(door_arg_t, "door_arg_t", [data_ptr, data_size, desc_ptr, desc_num, rbuf, rsize]);
        same!(
            door_info_t,
            "door_info_t",
            [di_target, di_proc, di_data, di_attributes, di_uniquifier, di_resv]
        );
        same!(
            kstat_t,
            "kstat_t",
            [ks_data, ks_ndata, ks_data_size, ks_update, ks_private, ks_lock]
        );
        same!(kstat_named_t, "kstat_named_t", [name, data_type, value]);
        same!(
            iptun_kparams_t,
            "iptun_kparams_t",
            [
                iptun_kparam_linkid,
                iptun_kparam_flags,
                iptun_kparam_laddr,
                iptun_kparam_raddr,
                iptun_kparam_secinfo,
                iptun_kparam_type,
                _iptun_kparam_padding
            ]
        );
        assert_eq!(size_of::<sockaddr_storage>(), c_value("sockaddr_storage"));
        assert_eq!(size_of::<ipsec_req_t>(), c_value("ipsec_req_t"));
        assert_eq!(align_of::<iptun_kparams_t>(), c_value("iptun_kparams_t.align"));
    }

    /// include/sys/dlszone.h compiles, and its structures have the
    /// documented sizes, as 64-bit code (run) and as i386 code (its static
    /// assertions, compiled freestanding).
    #[test]
    fn ipd3_header_layouts() {
        assert_eq!(c_value("dls_recover_result_t"), 24);
        assert_eq!(c_value("dls_holder_t"), 32);
        assert_eq!(c_value("dls_link_info_t"), 368);
        let i386 = ["-m32", "-std=c11", "-ffreestanding", "-fsyntax-only", "-Wall", "-Werror"];
        let r = crate::c_layout::c_compile(
            "dlszone_h.c",
            &[&i386[..], &["-DDLSZONE_SYNTAX_ONLY"]].concat(),
        );
        assert!(r.is_ok(), "sys/dlszone.h does not compile for i386: {r:?}");
    }

    #[test]
    fn errno_table_covers_kernel_errno() {
        assert_eq!(ERRNO_TABLE.len(), Errno::ALL.len(), "ffi and kernel/errno.rs disagree");
        for e in Errno::ALL {
            let hit = ERRNO_TABLE.iter().find(|(k, _)| k == e);
            assert_eq!(hit.map(|(_, v)| *v), Some(e.to_raw()), "{e:?}");
        }
    }
}
