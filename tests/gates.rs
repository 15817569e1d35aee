//! Proves the object gates (`tools/kobj-gates`) bite.
//!
//! Every fixture under `tests/fixtures/` is assembled with GNU `as`; the
//! well-formed one must pass every gate (also after going through
//! `tools/link-kmod`, the real link step), and each `bad_*` one must fail,
//! naming the gate and the offending symbol, relocation or instruction.
//! A few defects `as` cannot produce (wrong ELF class, type, machine,
//! SHT_REL) are made by patching the good object's bytes.
//!
//! Needs python3 and GNU binutils (`as`, `ld`, `objcopy`, `readelf`,
//! `objdump`), which `make` installs on Debian.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gates").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run(cmd: &mut Command) -> std::process::Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run {:?}: {e} (the gate tests need python3 and GNU binutils; run `make` first)",
            cmd.get_program()
        ),
    }
}

/// Assembles `tests/fixtures/<name>.s` into `<dir>/<name>.o`.
fn assemble(name: &str, dir: &Path) -> PathBuf {
    let obj = dir.join(format!("{name}.o"));
    let out = run(Command::new("as")
        .arg("--64")
        .arg("-I")
        .arg(fixtures())
        .arg("-o")
        .arg(&obj)
        .arg(fixtures().join(format!("{name}.s"))));
    assert!(out.status.success(), "as {name}.s failed:\n{}", String::from_utf8_lossy(&out.stderr));
    obj
}

struct GateRun {
    code: Option<i32>,
    text: String,
}

fn gates(obj: &Path, extra: &[&str]) -> GateRun {
    let out = run(Command::new("python3")
        .arg(root().join("tools/kobj-gates"))
        .arg("--allow")
        .arg(root().join("tools/kernel-symbols.allow"))
        .args(extra)
        .arg(obj));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    GateRun { code: out.status.code(), text }
}

/// Runs the gates on `obj` and checks that they fail (exit 1) with every
/// one of `expect` in the report.
fn assert_fails(obj: &Path, extra: &[&str], expect: &[&str]) {
    let r = gates(obj, extra);
    assert_eq!(r.code, Some(1), "gates should fail on {}:\n{}", obj.display(), r.text);
    for e in expect {
        assert!(r.text.contains(e), "report for {} lacks {e:?}:\n{}", obj.display(), r.text);
    }
}

fn bad_fixture(name: &str, expect: &[&str]) {
    let dir = scratch(name);
    let obj = assemble(name, &dir);
    assert_fails(&obj, &[], expect);
}

#[test]
fn good_fixture_passes_every_gate() {
    let dir = scratch("good");
    let obj = assemble("good", &dir);
    let r = gates(&obj, &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 14 gates passed"), "{}", r.text);
}

#[test]
fn good_fixture_passes_after_link_kmod() {
    let dir = scratch("good-linked");
    let obj = assemble("good", &dir);
    let lib = dir.join("libgood.a");
    let out = run(Command::new("ar").arg("rcs").arg(&lib).arg(&obj));
    assert!(out.status.success(), "ar: {}", String::from_utf8_lossy(&out.stderr));
    let module = dir.join("good_module");
    let exports = root().join("tools/dlszone_ktest.exports");
    let out = run(Command::new(root().join("tools/link-kmod"))
        .args(["--linker", "gnu", "--exports"])
        .arg(&exports)
        .arg("--out")
        .arg(&module)
        .arg(&lib));
    assert!(out.status.success(), "link-kmod: {}", String::from_utf8_lossy(&out.stderr));
    let exports = exports.to_str().expect("utf-8 path");
    let r = gates(&module, &["--exports", exports]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 15 gates passed"), "{}", r.text);
}

#[test]
fn exports_gate_rejects_extra_globals() {
    // The unlinked object still exports fixture_helper, which link-kmod
    // would have made local.
    let dir = scratch("exports");
    let obj = assemble("good", &dir);
    let exports = root().join("tools/dlszone_ktest.exports");
    let exports = exports.to_str().expect("utf-8 path");
    assert_fails(&obj, &["--exports", exports], &["[exports] fixture_helper is exported"]);
}

#[test]
fn got_relocations_fail() {
    bad_fixture("bad_gotpcrel", &["[reloc-types] R_X86_64_REX_GOTPCRELX against mod_miscops"]);
}

#[test]
fn abs32_relocations_fail() {
    bad_fixture("bad_abs32", &["[reloc-types] R_X86_64_32 against mod_miscops", "small_model"]);
}

#[test]
fn tls_fails() {
    bad_fixture(
        "bad_tls",
        &["[no-tls] section .tbss", "[no-tls] symbol tls_counter", "R_X86_64_TPOFF32"],
    );
}

#[test]
fn dynamic_relocations_fail() {
    bad_fixture(
        "bad_dynrelocs",
        &[
            "R_X86_64_COPY against mod_miscops",
            "R_X86_64_JUMP_SLOT against mod_install",
            "R_X86_64_IRELATIVE against mod_remove",
            "R_X86_64_GLOB_DAT against mod_info",
        ],
    );
}

#[test]
fn nonzero_relocated_fields_fail() {
    bad_fixture("bad_addend", &["[reloc-addend] R_X86_64_64 against mod_miscops"]);
}

#[test]
fn unknown_undefined_symbols_fail() {
    bad_fixture(
        "bad_undefined",
        &[
            "[undefined] __rust_alloc: Rust runtime",
            "[undefined] _Unwind_Resume: unwinder",
            "[undefined] _ZN3std2io5stdio6_print17h0123456789abcdefE: Rust std",
            "[undefined] printf: not an illumos kernel interface",
        ],
    );
}

#[test]
fn own_memcpy_fails() {
    bad_fixture(
        "bad_memcpy",
        &["[no-libc-defs] memcpy is defined here (global)", "memset is defined here (weak)"],
    );
}

#[test]
fn fpu_instructions_fail() {
    bad_fixture(
        "bad_fpu",
        &[
            "%xmm0,(%rdi)` at .text+",
            "in uses_sse",
            "in uses_avx",
            "in uses_mmx",
            "`fldz`",
            "in uses_x87",
            "`fxsave (%rdi)`",
            "in saves_fpu",
        ],
    );
}

#[test]
fn red_zone_accesses_fail() {
    bad_fixture("bad_redzone", &["[red-zone] `mov    %rdi,-0x8(%rsp)`", "leaf_with_red_zone"]);
}

#[test]
fn broken_linkage_fails() {
    bad_fixture(
        "bad_no_init",
        &["_init is not defined", "_fini is local, not global", "_info is not a function"],
    );
}

#[test]
fn depends_on_without_trailing_nul_fails() {
    bad_fixture("bad_depends_nonul", &["[depends-on] _depends_on: last byte (st_size-1)"]);
}

#[test]
fn depends_on_with_embedded_nul_fails() {
    bad_fixture("bad_depends_embedded", &["[depends-on] _depends_on: NUL at byte 9"]);
}

#[test]
fn depends_on_without_directory_fails() {
    bad_fixture("bad_depends_syntax", &["[depends-on] _depends_on: 'ktest' is not a list"]);
}

#[test]
fn constructors_fail() {
    bad_fixture("bad_init_array", &["[no-ctors] section .init_array"]);
}

#[test]
fn unwind_tables_fail() {
    bad_fixture("bad_eh_frame", &["[no-unwind] section .eh_frame"]);
}

#[test]
fn module_without_text_fails() {
    bad_fixture("bad_no_text", &["[text] no non-empty executable section"]);
}

/// Section header `idx` of a little-endian ELF64 file: (offset of the
/// header, sh_type).
fn section_header(elf: &[u8], idx: usize) -> (usize, u32) {
    let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize;
    let off = shoff + idx * 64;
    (off, u32::from_le_bytes(elf[off + 4..off + 8].try_into().unwrap()))
}

/// The good object with `patch` applied to its bytes.
fn patched_good(name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let dir = scratch(name);
    let obj = assemble("good", &dir);
    let mut bytes = std::fs::read(&obj).expect("read object");
    patch(&mut bytes);
    let bad = dir.join(format!("{name}.o"));
    std::fs::write(&bad, bytes).expect("write patched object");
    bad
}

#[test]
fn non_relocatable_objects_fail() {
    let obj = patched_good("et_exec", |b| b[16..18].copy_from_slice(&2u16.to_le_bytes()));
    assert_fails(&obj, &[], &["[elf-header] e_type is 2, not ET_REL"]);
}

#[test]
fn wrong_machine_fails() {
    let obj = patched_good("em_386", |b| b[18..20].copy_from_slice(&3u16.to_le_bytes()));
    assert_fails(&obj, &[], &["[elf-header] e_machine is 3, not EM_X86_64"]);
}

#[test]
fn elf32_fails() {
    let obj = patched_good("elfclass32", |b| b[4] = 1);
    assert_fails(&obj, &[], &["[elf-header] not ELF64"]);
}

#[test]
fn rel_sections_fail() {
    // Turn every SHT_RELA (4) section into SHT_REL (9).
    let obj = patched_good("sht_rel", |b| {
        let shnum = u16::from_le_bytes(b[0x3c..0x3e].try_into().unwrap()) as usize;
        for i in 0..shnum {
            let (off, ty) = section_header(b, i);
            if ty == 4 {
                b[off + 4..off + 8].copy_from_slice(&9u32.to_le_bytes());
            }
        }
    });
    assert_fails(&obj, &[], &["[rela-only] .rela.text is SHT_REL"]);
}

#[test]
fn not_an_elf_file_fails() {
    let dir = scratch("not-elf");
    let junk = dir.join("junk.o");
    std::fs::write(&junk, b"this is not an object file").expect("write");
    assert_fails(&junk, &[], &["[elf-header] not an ELF file"]);
}
