//! Proves the object gates (`tools/kobj-gates`) bite.
//!
//! Every fixture under `tests/fixtures/` is assembled with GNU `as`; the
//! well-formed one must pass every gate (also after going through
//! `tools/link-kmod`, the real link step), and each `bad_*` one must fail,
//! naming the gate and the offending symbol, relocation or instruction.
//! A few defects `as` cannot produce (wrong ELF class, type, machine,
//! SHT_REL) are made by patching the good object's bytes.
//!
//! The illumos link (`tools/link-kmod --linker illumos`) cannot run here:
//! its tests check the commands and mapfile it would use, and apply the
//! mapfile's symbol scoping to a fixture with GNU objcopy to run the
//! exports gate on the result.
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

/// A scratch directory of this test's own, under one of this process's
/// own: two runs of the suite at once (two `cargo test`s, a loop of the
/// binary) must not remove or overwrite each other's files. The first
/// call removes what runs no longer alive left behind.
fn scratch(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let top = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gates");
    SWEEP.call_once(|| {
        for e in std::fs::read_dir(&top).into_iter().flatten().flatten() {
            let pid = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok());
            match pid {
                Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {}
                _ => {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    });
    let dir = top.join(std::process::id().to_string()).join(name);
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
fn depends_and_mod_ops_name_what_the_module_needs() {
    let dir = scratch("linkage-names");
    let obj = assemble("good", &dir);
    let r = gates(&obj, &["--depends", "drv/ktest", "--mod-ops", "mod_miscops"]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 18 gates passed"), "{}", r.text);
    assert_fails(
        &obj,
        &["--depends", "misc/dls"],
        &["[depends] _depends_on names drv/ktest, not misc/dls"],
    );
    assert_fails(
        &obj,
        &["--depends", "drv/ktest misc/dls"],
        &["[depends] _depends_on names drv/ktest, not drv/ktest misc/dls"],
    );
    assert_fails(
        &obj,
        &["--mod-ops", "mod_driverops"],
        &["[mod-ops] no data refers to mod_driverops"],
    );
}

#[test]
fn good_fixture_passes_every_gate() {
    let dir = scratch("good");
    let obj = assemble("good", &dir);
    let r = gates(&obj, &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 16 gates passed"), "{}", r.text);
    let r = gates(&obj, &["--stack-budget", "4096"]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 17 gates passed"), "{}", r.text);
    // fixture_helper: %rbp, 16 bytes of locals and the return address,
    // plus 16 for the thunk of its indirect call, which can reach no
    // function (the only address-taken one is itself, an entry point).
    assert!(r.text.contains("stack: budget 4096 bytes, 4 entry points, worst 48 "), "{}", r.text);
    assert!(
        r.text.contains("     32  fixture_helper\n             16  <indirect, no target>"),
        "{}",
        r.text
    );
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
    let r = gates(&module, &["--exports", exports, "--stack-budget", "4096"]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    assert!(r.text.contains("all 18 gates passed"), "{}", r.text);
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
fn sdt_probe_symbols_only_at_call_sites() {
    bad_fixture(
        "bad_sdt",
        &[
            "[sdt] __dtrace_probe_taken at .text+",
            "is not the rel32 of a call",
            "[sdt] __dtrace_probe_lea at .text+",
            "not a call or jmp instruction",
            "[sdt] __dtrace_probe_in__data referenced from data",
        ],
    );
    let dir = scratch("bad_sdt_site");
    let run = gates(&assemble("bad_sdt", &dir), &[]);
    assert!(!run.text.contains("__dtrace_probe_good__site"), "{}", run.text);
    assert!(!run.text.contains("[undefined] __dtrace_probe"), "{}", run.text);
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

#[test]
fn indirect_branches_fail() {
    bad_fixture(
        "bad_indirect",
        &[
            "[indirect-branch] `call   *%rax`",
            "in calls_through_register: indirect call not through a retpoline thunk",
            "`jmp    *(%rax,%rdi,8)`",
            "in jumps_through_table: indirect jump",
            "`call   *0x8(%rdi)`",
            "in calls_through_memory",
        ],
    );
}

#[test]
fn thunks_other_than_the_kernels_fail() {
    bad_fixture(
        "bad_thunk",
        &[
            "[indirect-branch] __llvm_retpoline_r11 is defined in the module",
            "[indirect-branch] __x86_indirect_thunk_rsp: not a retpoline thunk illumos defines",
            "[undefined] __x86_indirect_thunk_rsp",
        ],
    );
}

#[test]
fn stack_over_budget_fails() {
    let dir = scratch("bad_stack");
    let obj = assemble("bad_stack", &dir);
    let budget = ["--stack-budget", "4096", "--stack-root", "declared_entry"];
    assert_fails(
        &obj,
        &budget,
        &[
            // A frame read from the prologue: 8 (%rbp) + 8 (%rbx) + 0x1400
            // + 8 (return address), under _init's 16.
            "[stack] _init: worst path 5160 bytes, over the budget of 4096",
            " 5144  big_frame",
            // A probe loop of 0x10000 and a sub of 0x28, reached by a tail
            // jump, which reuses _fini's frame.
            "[stack] _fini: worst path 65592 bytes",
            "65592  probed_frame  [tail]",
            // The address-taken function an indirect call can reach.
            "[stack] _info: worst path 6176 bytes",
            " 6160  callback  [indirect]",
            // A frame .stack_sizes records, for a --stack-root entry.
            "[stack] declared_entry: worst path 8200 bytes",
            "[stack] recursion: recurses -> recurses",
        ],
    );
    // Within a budget large enough for the deepest path, only the
    // recursion is left.
    let r = gates(&obj, &["--stack-budget", "65592", "--stack-root", "declared_entry"]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(!r.text.contains("over the budget"), "{}", r.text);
    assert!(r.text.contains("[stack] recursion: recurses -> recurses"), "{}", r.text);
    // A --stack-root that names nothing is an error, not a silent pass.
    let r = gates(&obj, &["--stack-budget", "100000", "--stack-root", "no_such_function"]);
    assert!(r.text.contains("--stack-root 'no_such_function' matches no function"), "{}", r.text);
}

/// Archives the good fixture as `lib.a` in `dir`.
fn good_archive(dir: &Path) -> PathBuf {
    let obj = assemble("good", dir);
    let lib = dir.join("libgood.a");
    let out = run(Command::new("ar").arg("rcs").arg(&lib).arg(&obj));
    assert!(out.status.success(), "ar: {}", String::from_utf8_lossy(&out.stderr));
    lib
}

/// What `link-kmod --dry-run` prints: one command per line, as words.
fn dry_run(args: &[&str], out: &Path, lib: &Path) -> (bool, Vec<Vec<String>>, String) {
    let o = run(Command::new(root().join("tools/link-kmod"))
        .args(args)
        .arg("--dry-run")
        .arg("--out")
        .arg(out)
        .arg(lib));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let cmds = stdout.lines().map(|l| l.split_whitespace().map(String::from).collect()).collect();
    (o.status.success(), cmds, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The names a version-2 mapfile's SYMBOL_SCOPE keeps global, and
/// whether it reduces everything else (`local: *;` or `eliminate: *;`).
fn mapfile_scope(text: &str) -> (Vec<String>, bool) {
    let body: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(body.first(), Some(&"$mapfile_version 2"), "first directive:\n{text}");
    assert_eq!(body.get(1), Some(&"SYMBOL_SCOPE {"), "{text}");
    assert_eq!(body.last(), Some(&"};"), "{text}");
    let (mut globals, mut rest_reduced, mut scope) = (Vec::new(), false, "");
    for line in &body[2..body.len() - 1] {
        match *line {
            "global:" | "local:" | "eliminate:" => scope = line,
            sym => {
                let name = sym.strip_suffix(';').expect("one symbol per line, ';'-terminated");
                match (scope, name) {
                    ("global:", n) => globals.push(n.to_string()),
                    ("local:" | "eliminate:", "*") => rest_reduced = true,
                    (s, n) => panic!("unexpected {n} in scope {s}:\n{text}"),
                }
            }
        }
    }
    (globals, rest_reduced)
}

fn exports_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read exports")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn illumos_link_runs_ld_with_the_mapfile_and_dependencies() {
    let dir = scratch("illumos-module");
    let lib = good_archive(&dir);
    let exports = root().join("tools/dlszone_ktest.exports");
    let out = dir.join("dlszone_ktest");
    let mapfile = dir.join("dlszone_ktest.mapfile");
    let exports_s = exports.to_str().expect("utf-8 path");
    let (ok, cmds, err) = dry_run(
        &["--linker", "illumos", "--exports", exports_s, "--depends", "drv/ktest misc/dls"],
        &out,
        &lib,
    );
    assert!(ok, "{err}");
    assert_eq!(cmds.len(), 3, "{cmds:?}");
    // 1: the unwind tables and .stack_sizes leave a copy of the archive.
    let strip = &cmds[0];
    for sec in [".eh_frame", ".rela.eh_frame", ".stack_sizes", ".rela.stack_sizes"] {
        assert!(strip.contains(&format!("--remove-section={sec}")), "{strip:?}");
    }
    assert_eq!(strip[strip.len() - 2], lib.to_str().unwrap(), "{strip:?}");
    let copy = strip.last().unwrap().clone();
    // 2: ld makes a kernel module from it, with the mapfile applied.
    let ld = &cmds[1];
    let at = |flag: &str| ld.iter().position(|w| w == flag);
    let pair = |a: &str, b: &str| ld.windows(2).any(|w| w[0] == a && w[1] == b);
    assert!(pair("-z", "type=kmod"), "{ld:?}");
    assert!(
        pair("-B", "reduce"),
        "mapfile scoping needs -B reduce on a relocatable output: {ld:?}"
    );
    assert!(pair("-z", "ignore"), "unreferenced sections are dropped: {ld:?}");
    assert!(pair("-z", "allextract"), "{ld:?}");
    assert!(pair("-M", mapfile.to_str().unwrap()), "{ld:?}");
    assert!(pair("-N", "drv/ktest") && pair("-N", "misc/dls"), "{ld:?}");
    assert!(at("-r").is_none(), "-z type=kmod already makes a relocatable module: {ld:?}");
    assert_eq!(ld.last(), Some(&copy), "{ld:?}");
    // 3: the result replaces the output.
    assert_eq!(cmds[2][0], "mv", "{cmds:?}");
    assert_eq!(cmds[2].last().unwrap(), out.to_str().unwrap());
    // The mapfile keeps exactly the exports global and reduces the rest.
    let text = std::fs::read_to_string(&mapfile).expect("mapfile written by --dry-run");
    let (globals, rest_reduced) = mapfile_scope(&text);
    assert_eq!(globals, exports_list(&exports), "{text}");
    assert!(rest_reduced, "every other global must be reduced:\n{text}");
}

#[test]
fn illumos_link_of_an_object_has_no_linkage_or_dependencies() {
    let dir = scratch("illumos-object");
    let lib = good_archive(&dir);
    let exports = dir.join("object.exports");
    std::fs::write(&exports, "# an object's C interface\nfixture_helper\n").expect("write");
    let exports = exports.to_str().unwrap();
    let out = dir.join("object.o");
    let (ok, cmds, err) =
        dry_run(&["--linker", "illumos", "--kind", "object", "--exports", exports], &out, &lib);
    assert!(ok, "{err}");
    let ld = &cmds[1];
    assert!(ld.contains(&"-r".to_string()) && !ld.contains(&"type=kmod".to_string()), "{ld:?}");
    assert!(!ld.contains(&"-N".to_string()), "{ld:?}");
    let (globals, rest_reduced) =
        mapfile_scope(&std::fs::read_to_string(dir.join("object.o.mapfile")).expect("mapfile"));
    assert_eq!((globals, rest_reduced), (vec!["fixture_helper".to_string()], true));
    // An object declares no dependencies: the module linking it does.
    let (ok, _, err) = dry_run(
        &["--linker", "illumos", "--kind", "object", "--exports", exports, "--depends", "misc/mac"],
        &out,
        &lib,
    );
    assert!(!ok && err.contains("--kind object takes no --depends"), "{err}");
}

#[test]
fn exports_gate_holds_for_the_mapfile_scoping() {
    // Apply the scoping the illumos mapfile asks for (its global names stay
    // global, every other global becomes local) to the good fixture with
    // GNU objcopy, as -B reduce would, and run the exports gate on it.
    let dir = scratch("mapfile-scope");
    let lib = good_archive(&dir);
    let obj = dir.join("good.o");
    let exports = root().join("tools/dlszone_ktest.exports");
    let exports_s = exports.to_str().unwrap();
    let out = dir.join("dlszone_ktest");
    let (ok, _, err) = dry_run(&["--linker", "illumos", "--exports", exports_s], &out, &lib);
    assert!(ok, "{err}");
    let (globals, rest_reduced) =
        mapfile_scope(&std::fs::read_to_string(dir.join("dlszone_ktest.mapfile")).unwrap());
    assert!(rest_reduced);
    let keep = dir.join("keep");
    std::fs::write(&keep, globals.join("\n") + "\n").expect("write");
    let scoped = dir.join("scoped.o");
    let o = run(Command::new("objcopy")
        .arg(format!("--keep-global-symbols={}", keep.display()))
        .arg(&obj)
        .arg(&scoped));
    assert!(o.status.success(), "objcopy: {}", String::from_utf8_lossy(&o.stderr));
    let r = gates(&scoped, &["--exports", exports_s]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    // Without the reduction, the fixture's extra global would be exported.
    assert_fails(&obj, &["--exports", exports_s], &["[exports] fixture_helper is exported"]);
}
