//! The real kernel objects on the emulated kernel:
//!
//! - `build/amd64/dlszone_ktest` registers every test of the crate's
//!   table and all of them pass, within the stack budget, with nothing
//!   leaked or left held; a kernel lacking symbols it uses refuses it,
//!   naming them;
//! - its `_init` unwinds cleanly from every `KM_NOSLEEP` failure ktest can
//!   return, and from a failing `mod_install`;
//! - while `mod_remove` refuses, `_fini` leaves the module working, tests
//!   included;
//! - its observability is wired as illumos expects: every SDT probe of
//!   `dlszone::sdt::PROBES` has call sites krtld patches, and the tests
//!   fire them all; `_init` creates the `dlszone:0:dlszone` named kstat
//!   (its update callback and lock set) and `dlszone_link_cache`, the
//!   tests' link records come from that cache, and `_fini` deletes and
//!   destroys both, every record given back; the console messages of a
//!   stuck halt and a forced recovery are logged;
//! - the deliberately failing build (`--cfg dlszone_ktest_selffail`,
//!   `build/amd64/selffail/dlszone_ktest`) fails with the lines of its
//!   assertions.
//!
//! The objects come from the kernel build (`make`, and `make test` for
//! the self-fail one); `KLOAD_KTEST` and `KLOAD_KTEST_SELFFAIL` name
//! others.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use kload::emu::{console, kmem, kstat, ktest};
use kload::runner::{self, RunOptions};
use kload::{LoadOptions, Machine};

fn object(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(default));
    assert!(
        p.is_file(),
        "{} does not exist: `make` builds build/amd64/dlszone_ktest, `make test` the self-fail \
         build too ({var} names another)",
        p.display()
    );
    p
}

fn ktest_object() -> PathBuf {
    object("KLOAD_KTEST", "build/amd64/dlszone_ktest")
}

fn kload(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kload")).args(args).output().expect("run kload");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_registered_test_runs_and_passes() {
    let obj = ktest_object();
    let (code, out, err) = kload(&[obj.to_str().unwrap(), "-p", "-o", "result,module,suite,test"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let ran: BTreeSet<String> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            assert!(f[0] == "PASS" || f[0] == "SKIP", "{l}");
            format!("{}:{}:{}", f[1], f[2], f[3])
        })
        .collect();
    // Exactly the table the crate declares (the host build of the same
    // source), each test once.
    let module = dlszone_ktest::MODULE.to_str().unwrap();
    let want: BTreeSet<String> = dlszone_ktest::suites()
        .iter()
        .flat_map(|s| s.tests.iter().map(move |t| (s, t)))
        .map(|(s, t)| format!("{module}:{}:{}", s.name_str(), t.name_str()))
        .collect();
    assert_eq!(ran, want);
    assert!(ran.len() >= 43);
    assert_eq!(out.lines().count(), ran.len());
    assert!(err.contains(&format!("ran {n} of the {n} tests", n = ran.len())), "{err}");
    assert!(err.contains(&format!("dlszone_ktest: loaded, {} tests registered", ran.len())));
    assert!(!err.contains("FAIL"), "{err}");
}

#[test]
fn a_kernel_without_a_symbol_it_uses_refuses_the_module() {
    let obj = ktest_object();
    let (code, out, err) =
        kload(&[obj.to_str().unwrap(), "--without", "cv_broadcast", "--without", "ktest_add_test"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.is_empty(), "nothing may run: {out}");
    for sym in ["cv_broadcast", "ktest_add_test"] {
        assert!(err.contains(&format!("dlszone_ktest: undefined symbol '{sym}'")), "{err}");
    }
    assert!(err.contains("2 undefined symbol(s) the emulated kernel lacks"), "{err}");
    assert!(err.contains("not loaded"), "{err}");
}

#[test]
fn init_unwinds_every_nosleep_failure() {
    let obj = ktest_object();
    // How many KM_NOSLEEP allocations a clean _init makes.
    let calls = {
        let m = Machine::boot().unwrap();
        let mut module = m.load(&obj, &LoadOptions::default()).unwrap();
        assert_eq!(module.init().unwrap().rc, 0);
        let n = kmem::stats().nosleep_calls;
        assert_eq!(module.fini().unwrap().rc, 0);
        assert_eq!(module.unload(), Vec::<String>::new());
        n
    };
    // One ktest_create_module, one ktest_add_suite per suite and one
    // ktest_add_test per test.
    let suites = dlszone_ktest::suites().len() as u64;
    assert_eq!(calls, 1 + suites + dlszone_ktest::test_count() as u64);
    for k in 1..=calls {
        let m = Machine::boot().unwrap();
        let mut module = m.load(&obj, &LoadOptions::default()).unwrap();
        kmem::fail_nosleep(Some(k));
        let c = module.init().unwrap();
        assert_eq!(c.rc, 12, "KM_NOSLEEP failure {k}: _init must return ENOMEM");
        assert!(!module.installed());
        assert!(ktest::registered_modules().is_empty(), "failure {k}: tests left registered");
        assert_eq!(module.unload(), Vec::<String>::new(), "failure {k}: unclean");
    }
}

#[test]
fn init_unwinds_a_failing_mod_install() {
    let obj = ktest_object();
    let (code, out, err) = kload(&[obj.to_str().unwrap(), "--fail-install", "16"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("_init() = 16"), "{err}");
    assert!(!err.contains("FAIL:"), "a failed _init must leave nothing behind:\n{err}");
}

#[test]
fn a_refused_fini_leaves_the_module_working() {
    let obj = ktest_object();
    let (code, out, err) = kload(&[obj.to_str().unwrap(), "--busy-remove", "1", "-H", ":sync"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("_fini() = 16"), "{err}");
    assert!(err.contains("tests still registered, running them again"), "{err}");
    let rows =
        out.lines().filter(|l| l.starts_with("PASS") && l.contains("mutex_guards_data_test"));
    assert_eq!(rows.count(), 2, "{out}");
    assert!(err.contains("_fini() = 0"), "{err}");
}

#[test]
fn the_selffail_build_fails_with_the_lines_of_its_assertions() {
    let obj = object("KLOAD_KTEST_SELFFAIL", "build/amd64/selffail/dlszone_ktest");
    let src = include_str!("../../../kernel/ktest/selffail.rs");
    let line_of = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let (fail, err_line) = (line_of("kt_assert3u!(sum"), line_of("kt_eok!(setup"));
    let (code, out, err) =
        kload(&[obj.to_str().unwrap(), "-p", "-o", "result,test,line,reason", "dlszone:selffail"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let want = [
        format!(
            "FAIL:deliberate_fail_test:{fail}:sum == 5 (0x4 == 0x5)\\: deliberate failure \
             (dlszone_ktest_selffail)"
        ),
        format!(
            "ERROR:deliberate_error_test:{err_line}:setup failed\\: ENOMEM(12)\\: deliberate \
             error (dlszone_ktest_selffail)"
        ),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{err}");
    // The rest of that build still passes.
    let (code, out, err) = kload(&[obj.to_str().unwrap(), "-H", "dlszone:registry"]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn every_probe_has_sites_and_fires() {
    let obj = ktest_object();
    let want: BTreeSet<&str> =
        dlszone::sdt::PROBES.iter().map(|p| &p.symbol["__dtrace_probe_".len()..]).collect();
    {
        let m = Machine::boot().unwrap();
        let module = m.load(&obj, &LoadOptions::default()).unwrap();
        let sites: BTreeSet<&str> =
            module.object().probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(sites, want, "probe sites in the object");
        assert_eq!(module.unload(), Vec::<String>::new());
    }
    let (code, out, err) = kload(&[obj.to_str().unwrap(), "--fire-probes", "-H"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = err.lines().find(|l| l.contains("SDT probes fired: ")).expect(&err);
    for p in &want {
        assert!(line.contains(&format!("{p} x")), "{p} never fired: {line}");
    }
}

#[test]
fn init_sets_up_the_kstat_and_the_link_cache_and_fini_removes_them() {
    let obj = ktest_object();
    let m = Machine::boot().unwrap();
    let mut module = m.load(&obj, &LoadOptions::default()).unwrap();
    assert_eq!(module.init().unwrap().rc, 0);
    let k = kstat::kstats();
    assert_eq!(k.len(), 1, "{k:?}");
    let k = &k[0];
    assert_eq!(
        (k.module.as_str(), k.instance, k.name.as_str(), k.class.as_str()),
        ("dlszone", 0, "dlszone", "misc")
    );
    assert!(k.installed && k.has_update && k.has_lock, "{k:?}");
    let names: Vec<&str> = k.entries.iter().map(|e| e.name.as_str()).collect();
    let want: Vec<&str> =
        dlszone::registry::Stats::NAMES.iter().map(|n| n.to_str().unwrap()).collect();
    assert_eq!(names, want);
    assert!(k.entries.iter().all(|e| e.data_type == 4 && e.value == 0), "{k:?}");
    let c = kmem::cache_stats();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].name.as_str(), c[0].allocs), ("dlszone_link_cache", 0));

    let triple = dlszone_ktest::host::Triple::parse("dlszone:obs").unwrap();
    let opts = RunOptions { triples: vec![triple], ..RunOptions::default() };
    let summary = runner::run(&opts, &mut std::io::sink()).unwrap();
    assert_eq!(summary.runs.len(), 4);
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert!(summary.counts.success(), "{summary:?}");
    let c = &kmem::cache_stats()[0];
    // 3 + 1 + 0 + 2 links made by the four bodies.
    assert!(c.allocs == 6 && c.live == 0, "records from the cache: {c:?}");
    let logged: Vec<String> = console::messages().into_iter().map(|m| m.text).collect();
    let has = |s: &str| logged.iter().any(|t| t.contains(s));
    assert!(has("dlszone: halt of zone 1 (uniqid 101) left 1 link(s)"), "{logged:?}");
    assert!(has("dlszone: forced recovery of zone 1 (uniqid 101) reclaimed 1 link(s)"));

    assert_eq!(module.fini().unwrap().rc, 0);
    let k = &kstat::kstats()[0];
    assert!(k.deleted && !k.installed);
    let c = &kmem::cache_stats()[0];
    assert!(c.destroyed && c.live == 0 && c.frees == c.allocs, "{c:?}");
    assert_eq!(module.unload(), Vec::<String>::new());
}
