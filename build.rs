//! Build script: tells the crate whether it is being built for the illumos
//! kernel target (`cfg(kmod)`), and generates the raw DDI bindings.
//!
//! # Bindings
//!
//! bindgen reads one C header and writes `$OUT_DIR/ddi_bindings.rs`, which
//! `ffi/mod.rs` includes:
//!
//! - by default `include/dlszone_ddi.h`, the project's own declarations of
//!   exactly the DDI subset it uses;
//! - when `ILLUMOS_GATE` names an illumos-gate checkout,
//!   `include/gate_wrapper.h`, which includes the real kernel headers from
//!   `$ILLUMOS_GATE/usr/src/uts/{common,intel}` with `-D_KERNEL`.
//!
//! Both go through the same allowlists, so the generated items have the
//! same names either way; `ffi/layout.rs` pins the sizes and values the
//! Rust code relies on, so a header that disagrees fails the build.
//!
//! The bindings are generated for host builds too: the crate's unit tests
//! compare the constants with `kernel/errno.rs` and the layouts with the
//! LP64 sizes, and a host `x86_64` build has the same data model as the
//! amd64 illumos kernel.

use std::env;
use std::path::PathBuf;

/// The custom target whose builds are kernel builds.
const KERNEL_TARGET: &str = "x86_64-unknown-illumos-kernel";

/// DDI functions the crate may call. Anything else stays out of `ffi`.
const FUNCTIONS: &[&str] = &[
    "mutex_(init|destroy|enter|tryenter|exit|owned)",
    "rw_(init|destroy|enter|tryenter|exit|read_held|write_held|lock_held)",
    "cv_(init|destroy|wait|wait_sig|reltimedwait|timedwait|signal|broadcast)",
    "drv_usectohz",
    "ddi_get_lbolt",
    "kmem_(alloc|zalloc|free)",
    "kmem_cache_(create|destroy|alloc|free)",
    "cmn_err",
    "panic",
    "mod_(install|remove|info)",
    "ktest_(create_module|add_suite|add_test|register_module|unregister_module|free_module)",
    "ktest_(hold_mod|release_mod|get_fn|get_input)",
    "ktest_result_(pass|fail|error|skip)",
    "ktest_msg_(prepend|clear)",
    // The seam of the dls_mgmt.o object (docs/integration.md, "Kernel
    // interfaces the object calls"); tools/dls_mgmt-symbols.allow says
    // where each is defined.
    "delay",
    "getzoneid",
    "zone_(find_by_id|rele|status_get|datalink_walk|check_datalink|kcred)",
    // Zone-specific data: the zone incarnation without gate headers.
    "zone_(key_create|key_delete|getspecific)",
    "crget(zoneid|zone)",
    "ddi_get_cred",
    "getmajor|getminor|makedevice",
    "ddi_(major_to_name|name_to_major|hold_devi_by_instance|release_devi)",
    "door_ki_(open|hold|rele|info|upcall_limited)",
    "taskq_(dispatch|wait_id)",
    "kstat_(create|create_zone|install|delete|named_init)",
    "netstack_(register|unregister|get_current|rele)",
    "netstackid_to_zoneid",
    "mod_hash_find",
    "mac_(name|open|close|rename_primary|mark_exclusive|unmark_exclusive)",
    "mac_perim_(enter_by_mh|enter_by_macname|enter_by_linkid|exit|held)",
    "dls_link_(hold|hold_create|rele|rele_by_name|setzid|getzid|dev)",
    "dls_stat_(create|update)",
    "softmac_(hold_device|rele_device|recreate)",
    "iptun_(create|delete)",
    // drv/dlszone (kernel/drv): tools/dlszone-symbols.allow.
    "ddi_(create_minor_node|remove_minor_node|get_instance|copyin|copyout)",
    "ddi_(prop_op|quiesce_not_needed)",
    "nochpoll|nodev|nulldev",
    "secpolicy_dl_config",
];

/// Types the crate names directly (their dependencies come along).
const TYPES: &[&str] = &[
    "kmutex_t",
    "kmutex_type_t",
    "krwlock_t",
    "krw_t",
    "krw_type_t",
    "kcondvar_t",
    "kcv_type_t",
    "time_res_t",
    "clock_t",
    "boolean_t",
    "zoneid_t",
    "datalink_id_t",
    "mod_ops",
    "modlinkage",
    "modlmisc",
    "modinfo",
    "ktest_.*_hdl_t",
    "ktest_fn_t",
    "ktest_test_flags_t",
    "ktest_result_type_t",
    "uintptr_t",
    "hrtime_t",
    "major_t",
    "minor_t",
    "dev_t",
    "zone_t",
    "zone_status_t",
    "cred_t",
    "datalink_class_t",
    "datalink_media_t",
    "door_handle_t",
    "door_arg_t",
    "door_info_t",
    "taskq_t",
    "taskqid_t",
    "task_func_t",
    "kstat_t",
    "kstat_named_t",
    "netstackid_t",
    "netstack_t",
    "mod_hash_t",
    "mod_hash_(key|val)_t",
    "mac_handle_t",
    "mac_perim_handle_t",
    "dls_link_t",
    "dls_dev_handle_t",
    "iptun_kparams_t",
    "iptun_type_t",
    "zone_key_t",
    "dev_info_t",
    "kmem_cache_t",
    "vmem_t",
    "cb_ops",
    "dev_ops",
    "modldrv",
    "ddi_(info|attach|detach|reset)_cmd_t",
    "ddi_prop_op_t",
    "intptr_t",
];

/// Structures the crate only points at, or embeds without touching their
/// fields: bindgen emits them as opaque blobs of their size and alignment,
/// so no field of theirs is ever read from Rust (ffi/shim reads the few
/// that are needed) and the generated code is the same shape with the
/// project's header and with gate's.
const OPAQUE: &[&str] = &[
    "zone",
    "cred",
    "netstack",
    "taskq",
    "mod_hash",
    "dls_link_s",
    "dls_dev_t",
    "__dev_info",
    "door_desc",
    "kmem_cache",
    "vmem",
    // Members of iptun_kparams_t the object never sets (addresses, IPsec
    // request): same size and alignment, no fields.
    "sockaddr_storage",
    "ipsec_req",
    "__door_handle",
    "__mac_handle",
    "__mac_perim_handle",
    "buf",
    "uio",
    "as",
    "pollhead",
    "aio_req",
    "streamtab",
    "bus_ops",
];

/// Data and `#define` constants the crate uses.
const VARS: &[&str] = &[
    "mod_miscops",
    "KM_(SLEEP|NOSLEEP)",
    "CE_(CONT|NOTE|WARN|PANIC|IGNORE)",
    "MODREV_1",
    "MODMAXNAMELEN",
    "MODMAXLINKINFOLEN",
    "GLOBAL_ZONEID",
    "MIN_ZONEID",
    "MAX_ZONEID",
    "ALL_ZONES",
    "KTEST_MAX_NAME_LEN",
    "KTEST_MAX_LOG_LEN",
    // The errno values kernel/errno.rs defines (a unit test compares them).
    "E(PERM|NOENT|INTR|NXIO|BADF|AGAIN|NOMEM|ACCES|FAULT|BUSY|EXIST|INVAL)",
    "E(NOSPC|NOTSUP|NAMETOOLONG|OVERFLOW|NOTEMPTY|TIMEDOUT|ALREADY|STALE)",
    // The dls_mgmt.o seam.
    "GLOBAL_ZONEUNIQID",
    "DATALINK_INVALID_LINKID",
    "DLMGMT_(ACTIVE|PERSIST|TRANSIENT)",
    "DOOR_REVOKED",
    "sys_shutdown",
    "TQ_(SLEEP|NOSLEEP)",
    "system_taskq",
    "KSTAT_(STRLEN|TYPE_NAMED|FLAG_VIRTUAL|DATA_UINT32|DATA_UINT64|READ|WRITE)",
    "NS_DLS",
    "i_dls_link_hash",
    "ZONE_KEY_UNINITIALIZED",
    "IPTUN_KPARAM_(TYPE|IMPLICIT)",
    // drv/dlszone.
    "mod_driverops",
    "DEVO_REV",
    "CB_REV",
    "D_(NEW|MP)",
    "DDI_(SUCCESS|FAILURE|PSEUDO)",
    "S_IFCHR",
    "OTYP_CHR",
];

/// Types that are kernel lock state: never `Copy`, so Rust code cannot
/// duplicate a lock word by accident.
const NO_COPY: &str = "kmutex_t|mutex|krwlock_t|_krwlock|kcondvar_t|_kcondvar";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kmod)");
    println!("cargo::rustc-check-cfg=cfg(dlszone_shim)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    if target == KERNEL_TARGET {
        println!("cargo::rustc-cfg=kmod");
        build_shim();
    }
    generate_bindings();
}

/// Flags for C code that goes into the amd64 illumos kernel: the same
/// constraints as the Rust target (no red zone, no FPU/SIMD, kernel code
/// model, no PIC, no unwind tables), so the object gates hold for it too.
const SHIM_CFLAGS: &[&str] = &[
    "--target=x86_64-pc-solaris2.11",
    "-U__EXTENSIONS__",
    "-U_XOPEN_SOURCE",
    "-U_LARGEFILE_SOURCE",
    "-U_LARGEFILE64_SOURCE",
    "-ffreestanding",
    "-nostdinc",
    "-D_KERNEL",
    "-D_ELF64",
    "-D_SYSCALL32",
    "-D_SYSCALL32_IMPL",
    "-D_DDI_STRICT",
    "-Dsun",
    "-D__sun",
    "-D__SVR4",
    "-mno-red-zone",
    "-mcmodel=kernel",
    "-mno-mmx",
    "-mno-sse",
    "-mno-avx",
    "-msoft-float",
    "-fno-pic",
    "-fno-pie",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
    "-O2",
    "-Wall",
    "-Wno-unknown-pragmas",
];

/// Compiles `ffi/shim/dlszone_shim.c` into the kernel staticlib and sets
/// `cfg(dlszone_shim)`. The shim reads fields of illumos structures
/// (`zone_t`, `iptun_kparams_t`), so it is only built against the real
/// headers: for the kernel target with `ILLUMOS_GATE` set. Without them
/// there is nothing faithful to compile it against, and the Rust code
/// that needs it is built only under `cfg(dlszone_shim)`.
fn build_shim() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let shim = manifest.join("ffi/shim");
    println!("cargo::rerun-if-changed={}", shim.display());
    let Some(gate) = env::var_os("ILLUMOS_GATE").filter(|g| !g.is_empty()) else {
        return;
    };
    let gate = PathBuf::from(gate);
    let mut b = cc::Build::new();
    b.file(shim.join("dlszone_shim.c"))
        .include(&shim)
        .include(gate.join("usr/src/uts/intel"))
        .include(gate.join("usr/src/uts/common"))
        .compiler(env::var_os("KERNEL_CC").unwrap_or_else(|| "clang".into()))
        .no_default_flags(true)
        .warnings(false)
        .target("x86_64-unknown-none");
    for f in SHIM_CFLAGS {
        b.flag(f);
    }
    b.compile("dlszone_shim");
    println!("cargo::rustc-cfg=dlszone_shim");
}

fn generate_bindings() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let include = manifest.join("include");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("ddi_bindings.rs");

    println!("cargo::rerun-if-env-changed=ILLUMOS_GATE");
    println!("cargo::rerun-if-env-changed=LIBCLANG_PATH");
    println!("cargo::rerun-if-changed={}", include.display());
    for f in ["dlszone_ddi.h", "gate_wrapper.h"] {
        println!("cargo::rerun-if-changed={}", include.join(f).display());
    }

    // clang parses the headers as the amd64 illumos kernel compiler would:
    // an LP64 Solaris-family target, freestanding, no host headers.
    let mut clang_args: Vec<String> = [
        "--target=x86_64-pc-solaris2.11",
        "-ffreestanding",
        "-nostdinc",
        "-D_KERNEL",
        "-D_ELF64",
        "-D_SYSCALL32",
        "-D_SYSCALL32_IMPL",
        "-Dsun",
        "-D__sun",
        "-D__SVR4",
        // clang's Solaris target predefines these for user programs; the
        // kernel is compiled without them (with them, gate's sys/time.h
        // pulls in <time.h> and sys/signal.h stops compiling).
        "-U__EXTENSIONS__",
        "-U_XOPEN_SOURCE",
        "-U_LARGEFILE_SOURCE",
        "-U_LARGEFILE64_SOURCE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let header = match env::var_os("ILLUMOS_GATE").filter(|g| !g.is_empty()) {
        Some(gate) => {
            let gate = PathBuf::from(gate);
            let common = gate.join("usr/src/uts/common");
            let intel = gate.join("usr/src/uts/intel");
            if !common.join("sys/mutex.h").is_file() {
                panic!(
                    "ILLUMOS_GATE={} does not look like an illumos-gate checkout \
                     (no usr/src/uts/common/sys/mutex.h)",
                    gate.display()
                );
            }
            println!("cargo::rerun-if-changed={}", common.join("sys").display());
            println!("cargo::warning=bindgen reads the illumos-gate headers in {}", gate.display());
            // The kernel build puts the ISA directory first, then common.
            clang_args.push(format!("-I{}", intel.display()));
            clang_args.push(format!("-I{}", common.display()));
            include.join("gate_wrapper.h")
        }
        None => include.join("dlszone_ddi.h"),
    };

    // The crate's rust-version; bindgen must not use newer syntax.
    let Ok(rust_target) = bindgen::RustTarget::stable(85, 0) else {
        panic!("bindgen does not know Rust 1.85");
    };
    let mut b = bindgen::Builder::default()
        .header(header.to_str().expect("header path is UTF-8"))
        .clang_args(&clang_args)
        .use_core()
        .ctypes_prefix("core::ffi")
        .rust_target(rust_target)
        .rust_edition(bindgen::RustEdition::Edition2024)
        // C enums become `#[repr(transparent)]` newtypes with associated
        // constants: a value the kernel hands back that Rust does not know
        // is still a valid value, never undefined behaviour.
        .default_enum_style(bindgen::EnumVariation::NewType {
            is_bitfield: false,
            is_global: false,
        })
        .prepend_enum_name(false)
        // `#define` integers become `i32` constants: every one the crate
        // uses is an `int` on the C side (kmflags, cmn_err levels, errno,
        // zone ids, ml_rev).
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .no_copy(NO_COPY)
        .derive_default(false)
        .derive_debug(false)
        .generate_comments(false)
        .layout_tests(false)
        .merge_extern_blocks(true)
        .formatter(bindgen::Formatter::None)
        .allowlist_recursively(true);
    for f in FUNCTIONS {
        b = b.allowlist_function(f);
    }
    for t in TYPES {
        b = b.allowlist_type(t);
    }
    for v in VARS {
        b = b.allowlist_var(v);
    }
    for t in OPAQUE {
        // The type, and the anonymous unions and structs bindgen names
        // after it (which would otherwise drag in what they point to).
        b = b.opaque_type(t).opaque_type(format!("{t}__.*"));
    }

    let bindings = match b.generate() {
        Ok(b) => b,
        Err(e) => panic!(
            "bindgen failed on {}: {e}\n\
             bindgen needs libclang: on Debian, `apt-get install libclang-dev clang` \
             (or set LIBCLANG_PATH to the directory holding libclang.so)",
            header.display()
        ),
    };
    bindings.write_to_file(&out).expect("write ddi_bindings.rs");
}
