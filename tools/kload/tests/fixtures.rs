//! Proves the loader bites, on small objects built for the purpose:
//!
//! - the object gates' fixtures (`tests/fixtures/*.s` of the project):
//!   an unsupported relocation is refused by type, section, function and
//!   symbol; every symbol the emulated kernel lacks is listed; the
//!   well-formed one loads and runs its life cycle cleanly;
//! - `fixtures/thunks.s`: SDT probe sites are patched as krtld patches
//!   them, can be listed, enabled and fired with their arguments, and all
//!   fifteen retpoline thunks reach their target;
//! - `fixtures/checks.c`: a ktest module whose tests leak, keep a lock,
//!   use too much stack, set no result or two: every one is reported and
//!   the run fails;
//! - `fixtures/panics.c`: what a kernel panics on (a wrong-size or double
//!   free, an overrun, a recursive `mutex_enter`, ...) stops the run with
//!   the panic message and the module's stack.
//!
//! Needs GNU `as` and `clang` (which `make` installs on Debian).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kload::emu::sdt;
use kload::{LoadOptions, Machine};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn root() -> PathBuf {
    here().join("../..")
}

/// A scratch directory of this test's own, under one of this process's
/// own: two runs of the suite at once (two `cargo test`s, a loop of the
/// binary) must not remove or overwrite each other's files. The first
/// call removes what runs no longer alive left behind.
fn scratch(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let top = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kload");
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

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {:?}: {e} (run `make` first)", cmd))
}

/// Assembles `dir_of_source/name.s` with the gate fixtures' includes.
fn assemble(src: &Path, out: &Path) -> PathBuf {
    let obj = out.join(src.with_extension("o").file_name().unwrap());
    let o = run(Command::new("as")
        .args(["--64", "-I"])
        .arg(root().join("tests/fixtures"))
        .arg("-o")
        .arg(&obj)
        .arg(src));
    assert!(o.status.success(), "as {}: {}", src.display(), String::from_utf8_lossy(&o.stderr));
    obj
}

/// Compiles a C fixture as kernel code is compiled: kernel code model,
/// no red zone, no SSE, freestanding, frame pointers kept.
fn compile(name: &str, out: &Path) -> PathBuf {
    let obj = out.join(format!("{name}.o"));
    let o = run(Command::new("clang")
        .args([
            "--target=x86_64-unknown-none-elf",
            "-mcmodel=kernel",
            "-mno-red-zone",
            "-mgeneral-regs-only",
            "-fno-pic",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-stack-protector",
            "-fno-omit-frame-pointer",
            "-fno-asynchronous-unwind-tables",
            "-nostdinc",
            "-O1",
            "-c",
            "-I",
        ])
        .arg(root().join("include"))
        .arg("-o")
        .arg(&obj)
        .arg(here().join(format!("tests/fixtures/{name}.c"))));
    assert!(o.status.success(), "clang {name}.c: {}", String::from_utf8_lossy(&o.stderr));
    obj
}

fn gate_fixture(name: &str) -> PathBuf {
    assemble(&root().join(format!("tests/fixtures/{name}.s")), &scratch(name))
}

fn load_problems(obj: &Path) -> Vec<String> {
    let m = Machine::boot().unwrap();
    match m.load(obj, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded, but should have been refused", obj.display()),
        Err(e) => e.problems,
    }
}

fn has(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

#[test]
fn unsupported_relocations_are_refused_by_name() {
    let p = load_problems(&gate_fixture("bad_gotpcrel"));
    // GNU as emits the relaxable form of GOTPCREL for a movq.
    assert!(
        has(&p, "R_X86_64_REX_GOTPCRELX against mod_miscops at .text+0x")
            && has(&p, "(in uses_got): krtld builds no GOT"),
        "{p:#?}"
    );
    let p = load_problems(&gate_fixture("bad_abs32"));
    assert!(has(&p, "R_X86_64_32 against") && has(&p, "zero-extended"), "{p:#?}");
    let p = load_problems(&gate_fixture("bad_tls"));
    assert!(has(&p, "TLS"), "{p:#?}");
}

#[test]
fn every_missing_symbol_is_listed() {
    let p = load_problems(&gate_fixture("bad_undefined"));
    for sym in
        ["__rust_alloc", "_Unwind_Resume", "_ZN3std2io5stdio6_print17h0123456789abcdefE", "printf"]
    {
        assert!(has(&p, &format!("undefined symbol '{sym}'")), "{sym} not named: {p:#?}");
    }
    assert!(has(&p, "4 undefined symbol(s) the emulated kernel lacks"), "{p:#?}");
}

#[test]
fn kernel_module_symbols_need_the_dependency() {
    // good.s depends on drv/ktest; said to depend on nothing, a ktest
    // symbol would be out of reach. It uses none, so it loads; the
    // checks fixture uses them and must not.
    let dir = scratch("nodeps");
    let obj = compile("checks", &dir);
    let m = Machine::boot().unwrap();
    let e = m
        .load(&obj, &LoadOptions { depends: Some(vec![]), ..LoadOptions::default() })
        .err()
        .expect("refused");
    assert!(
        has(&e.problems, "undefined symbol 'ktest_create_module': defined by drv/ktest"),
        "{e}"
    );
    let e = m
        .load(
            &obj,
            &LoadOptions { depends: Some(vec!["drv/vnic".into()]), ..LoadOptions::default() },
        )
        .err()
        .unwrap();
    assert!(has(&e.problems, "dependency drv/vnic: no such module"), "{e}");
}

#[test]
fn a_well_formed_module_runs_its_life_cycle() {
    let obj = gate_fixture("good");
    let m = Machine::boot().unwrap();
    let mut module = m.load(&obj, &LoadOptions::default()).expect("good.s loads");
    assert_eq!(module.object().depends, ["drv/ktest"]);
    let s = &module.object().stats;
    for t in ["R_X86_64_64", "R_X86_64_PC32", "R_X86_64_PLT32", "R_X86_64_32S", "R_X86_64_PC64"] {
        assert!(s.relocations.contains_key(t), "{t} not applied: {:?}", s.relocations);
    }
    assert_eq!(module.init().unwrap().rc, 0);
    assert!(module.installed());
    assert_eq!(module.info().unwrap().rc, 1);
    assert_eq!(module.fini().unwrap().rc, 0);
    assert_eq!(module.unload(), Vec::<String>::new());
}

#[test]
fn probes_are_patched_and_thunks_reach_their_targets() {
    let obj = assemble(&here().join("tests/fixtures/thunks.s"), &scratch("thunks"));
    let m = Machine::boot().unwrap();
    let module = m.load(&obj, &LoadOptions::default()).expect("thunks.s loads");
    let probes: Vec<(&str, bool)> =
        module.object().probes.iter().map(|p| (p.name.as_str(), p.tail_call)).collect();
    assert_eq!(probes, [("fixture__start", false), ("fixture__done", true)]);
    let f = module.object().global("exercise").expect("exercise").addr;
    // SAFETY: int exercise(void) of the loaded fixture.
    let exercise = || unsafe { kload::machine::call("exercise", f, 0, Duration::from_secs(10)) };
    assert_eq!(exercise().unwrap().rc, 15, "bumps through the 15 thunks");
    assert_eq!(sdt::take_fired(), []);
    // Enabled, both sites fire with their arguments, and the code around
    // them runs as before.
    // SAFETY: no kernel thread runs the fixture's code now.
    unsafe { module.object().set_probes(true) }.unwrap();
    assert_eq!(exercise().unwrap().rc, 15);
    let fired: Vec<(String, u64, u64)> =
        sdt::take_fired().into_iter().map(|f| (f.probe, f.args[0], f.args[1])).collect();
    assert_eq!(fired[0], ("fixture__start".into(), 7, 8));
    assert_eq!((fired[1].0.as_str(), fired[1].1), ("fixture__done", 15));
    assert_eq!(fired.len(), 2);
    // SAFETY: as above.
    unsafe { module.object().set_probes(false) }.unwrap();
    assert_eq!(exercise().unwrap().rc, 15);
    assert_eq!(sdt::take_fired(), []);
    assert_eq!(module.unload(), Vec::<String>::new());
}

fn kload(args: &[&str]) -> (Option<i32>, String, String) {
    let o = run(Command::new(env!("CARGO_BIN_EXE_kload")).args(args));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn broken_tests_are_reported_and_fail_the_run() {
    let obj = compile("checks", &scratch("checks"));
    let obj = obj.to_str().unwrap();
    let (code, out, err) = kload(&[obj]);
    assert_eq!(code, Some(1), "{out}{err}");
    let row = |result: &str, test: &str| {
        out.lines().any(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            c.len() >= 4 && c[0] == result && c[3] == test
        })
    };
    assert!(row("PASS", "passes_test") && row("NONE", "no_result_test"), "{out}");
    assert!(row("ERROR", "two_results_test"), "{out}");
    assert!(out.contains("multiple results: prev result at line 1000"), "{out}");
    assert!(out.contains("context 7: x == 3"), "{out}");
    assert!(out.contains("4 passed, 3 failed, 0 skipped"), "{out}");
    for needle in [
        "FAIL: fixture:checks:leaks_test leaked 1 kmem buffer(s), 64 bytes",
        "checks.o`leaks_test+0x",
        "FAIL: fixture:checks:holds_lock_test returned holding mutex",
        "checks.o`holds_lock_test+0x",
        "FAIL: fixture:checks:deep_stack_test used ",
        "over the budget of 7976 bytes",
        "FAIL: fixture:checks:holds_lock_test returned holding mutex checks.o`checks_lock",
        "mutex checks.o`checks_lock+0x0 in the module's data is still held",
        "kmem: buffer 1 of 1 never freed: 64 bytes at 0x",
    ] {
        assert!(err.contains(needle), "no {needle:?} in:\n{err}");
    }
    // The passing test stayed far inside the budget.
    assert!(out.contains("fixture:checks:passes_test"), "{out}");
}

#[test]
fn what_a_kernel_panics_on_stops_the_run() {
    let obj = compile("panics", &scratch("panics"));
    let obj = obj.to_str().unwrap();
    for (test, needle) in [
        ("wrong_size_free_test", "kmem_free(0x"),
        ("wrong_size_free_test", "wrong size, the buffer was allocated with size 40"),
        ("double_free_test", "buffer freed twice"),
        ("overrun_test", "redzone violated: byte 0 past the end"),
        ("recursive_enter_test", "recursive mutex_enter"),
        ("exit_unowned_test", "mutex_exit: not owner"),
        ("destroy_held_rwlock_test", "rw_destroy: lock still active"),
        ("use_after_destroy_test", "mutex_enter: bad mutex"),
        ("use_after_destroy_test", "mutex_destroy destroyed it"),
        ("copy_of_held_mutex_test", "(not initialised)"),
        ("held_mutex_overwritten_test", "mutex_exit: lock word at 0x"),
        ("held_mutex_overwritten_test", "changed while the lock is in use"),
        ("panic_call_test", "fixture panic 42"),
        ("cmn_err_panic_test", "fixture cmn_err panic 7"),
        ("register_inside_test", "deadlock on ktest_lock"),
        ("stack_overflow_test", "panic: kernel stack overflow"),
    ] {
        let (code, out, err) = kload(&[obj, &format!("fixture:panics:{test}")]);
        assert_eq!(code, Some(3), "{test}: {out}{err}");
        assert!(err.contains(needle), "{test}: no {needle:?} in:\n{err}");
        // A stack overflow names the test; everything else shows the
        // module's stack at the call that panicked.
        let whence = match test {
            "stack_overflow_test" => format!("stack in fixture:panics:{test}"),
            _ => format!("panics.o`{test}+0x"),
        };
        assert!(err.contains(&whence), "{test}: no {whence:?} in:\n{err}");
    }
}
