//! `kload`: load a dlszone kernel object on the host, run its module life
//! cycle and its ktests, and report what a checking kernel would.
//!
//! ```text
//! kload [options] OBJECT [TRIPLE ...]
//! ```
//!
//! Exit status: 0 when the object loaded, every selected test passed or
//! skipped and no check failed; 1 otherwise; 2 for a usage error; 3 when
//! the module panicked (a kernel would have); 4 when a call hung.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use dlszone_ktest::host::{Field, Options, Triple};
use kload::emu::{self, console, kmem, ktest, modctl, sdt, sync};
use kload::machine::{Call, Machine};
use kload::runner::{self, RunOptions};
use kload::{LoadOptions, Module};

const USAGE: &str = "\
usage: kload [options] OBJECT [TRIPLE ...]
  -H                    no header line (as ktest run)
  -p -o FIELD,...       parsable output of the given fields (as ktest run)
  -o FIELD,...          fields: result,module,suite,test,line,reason
  --budget BYTES        kernel stack budget per test (default: docs/testing.md)
  --timeout SECS        longest a call into the module may take (default 120)
  --fail-nosleep N      the Nth KM_NOSLEEP allocation after load fails
  --fail-install ERRNO  mod_install fails with ERRNO
  --busy-remove N       the first N mod_remove calls fail with EBUSY
  --interrupt-waits N   the first N cv_wait_sig calls find a signal pending
  --without SYMBOL      boot a kernel without SYMBOL (repeatable)
  --fire-probes         enable the object's SDT probes and count their firings
  --depends 'a/b c/d'   the object's dependencies, instead of what it declares
  --load-only           load and relocate only
  --no-tests            _init, _info and _fini only";

struct Args {
    object: PathBuf,
    run: RunOptions,
    fail_nosleep: Option<u64>,
    fail_install: Option<i32>,
    busy_remove: u32,
    interrupt_waits: u32,
    without: Vec<String>,
    fire_probes: bool,
    depends: Option<Vec<String>>,
    load_only: bool,
    no_tests: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut run = RunOptions::default();
    let mut opts = Options::default();
    let mut fields_given = false;
    let mut object = None;
    let mut triples = Vec::new();
    let mut a = Args {
        object: PathBuf::new(),
        run: RunOptions::default(),
        fail_nosleep: None,
        fail_install: None,
        busy_remove: 0,
        interrupt_waits: 0,
        without: Vec::new(),
        fire_probes: false,
        depends: None,
        load_only: false,
        no_tests: false,
    };
    let num = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.as_deref().and_then(|s| s.parse().ok()).ok_or(format!("{what} needs a number"))
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-H" => opts.no_header = true,
            "-p" => opts.parsable = true,
            "-o" => {
                opts.fields = Field::parse_list(&argv.next().ok_or("-o needs a field list")?)?;
                fields_given = true;
            }
            "--budget" => run.budget = num(argv.next(), "--budget")? as usize,
            "--timeout" => run.timeout = Duration::from_secs(num(argv.next(), "--timeout")?),
            "--fail-nosleep" => a.fail_nosleep = Some(num(argv.next(), "--fail-nosleep")?),
            "--fail-install" => a.fail_install = Some(num(argv.next(), "--fail-install")? as i32),
            "--busy-remove" => a.busy_remove = num(argv.next(), "--busy-remove")? as u32,
            "--interrupt-waits" => {
                a.interrupt_waits = num(argv.next(), "--interrupt-waits")? as u32;
            }
            "--without" => a.without.push(argv.next().ok_or("--without needs a symbol")?),
            "--fire-probes" => a.fire_probes = true,
            "--depends" => {
                let d = argv.next().ok_or("--depends needs a list")?;
                a.depends = Some(d.split_whitespace().map(String::from).collect());
            }
            "--load-only" => a.load_only = true,
            "--no-tests" => a.no_tests = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if object.is_none() => object = Some(PathBuf::from(s)),
            s => triples.push(Triple::parse(s)?),
        }
    }
    if opts.parsable && !fields_given {
        return Err("-p requires -o".into());
    }
    a.object = object.ok_or("no object named")?;
    if !triples.is_empty() {
        run.triples = triples;
    }
    run.report = opts;
    a.run = run;
    Ok(a)
}

/// Where status lines go: stderr, so stdout is exactly ktest's table.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("kload: {}", format_args!($($t)*)) };
}

fn describe_call(what: &str, c: &Call) -> String {
    format!(
        "{what}() = {} (kernel stack: {} bytes deepest, {} at the deepest DDI call)",
        c.rc, c.stack.deepest, c.stack.kernel_call
    )
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("kload: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            say!("{e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let mut table = emu::table();
    table.retain(|s| !args.without.contains(&s.name));
    let mut machine = Machine::boot_with(table).map_err(|e| format!("cannot boot: {e}"))?;
    machine.timeout = args.run.timeout;
    let load = LoadOptions { depends: args.depends.clone(), ..LoadOptions::default() };
    let mut module = match machine.load(&args.object, &load) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            say!("{}: not loaded ({} problem(s))", args.object.display(), e.problems.len());
            return Ok(false);
        }
    };
    report_load(&module, &args.object);
    if args.load_only {
        return Ok(finish(module, Vec::new(), true));
    }

    if args.fire_probes {
        // SAFETY: no kernel thread runs the object's code before _init.
        unsafe { module.object().set_probes(true) }.map_err(|e| format!("probes: {e}"))?;
    }
    sync::interrupt_waits(args.interrupt_waits);
    kmem::fail_nosleep(args.fail_nosleep);
    modctl::fail_install(args.fail_install);
    modctl::busy_removes(args.busy_remove);
    let mut problems = Vec::new();
    let init = module.init()?;
    say!("{}", describe_call("_init", &init));
    check_held("_init", &init, &mut problems);
    if init.rc != 0 {
        say!("_init failed: the module is not installed");
        return Ok(finish(module, problems, false));
    }
    let info = module.info()?;
    say!("{}", describe_call("_info", &info));
    if info.rc == 0 {
        problems.push("_info() returned 0 (mod_info failed)".into());
    }

    let mut ok = true;
    if !args.no_tests {
        ok &= run_tests(args, &mut problems)?;
    }
    // _fini, retried while mod_remove is (made) busy; the module must stay
    // fully working in between.
    for attempt in 0..=args.busy_remove {
        let fini = module.fini()?;
        say!("{}", describe_call("_fini", &fini));
        check_held("_fini", &fini, &mut problems);
        if fini.rc == 0 {
            break;
        }
        if attempt == args.busy_remove {
            problems.push(format!("_fini() = {}: the module cannot be unloaded", fini.rc));
            break;
        }
        let n = ktest::registered().len();
        say!("_fini refused; {n} tests still registered, running them again");
        if n == 0 {
            problems.push("_fini failed but unregistered the tests anyway".into());
        } else if !args.no_tests {
            ok &= run_tests(args, &mut problems)?;
        }
    }
    Ok(finish(module, problems, ok))
}

fn run_tests(args: &Args, problems: &mut Vec<String>) -> Result<bool, String> {
    // Not locked for the whole run: a panic on a kernel thread flushes
    // stdout before it ends the process.
    let mut stdout = io::stdout();
    let summary = runner::run(&args.run, &mut stdout).map_err(|e| e.to_string())?;
    let parsable = args.run.report.parsable;
    let mut table = Vec::new();
    runner::write_stack_table(&summary.runs, args.run.budget, &mut table)
        .map_err(|e| e.to_string())?;
    if parsable {
        io::stderr().write_all(&table).map_err(|e| e.to_string())?;
    } else {
        writeln!(stdout).and_then(|_| stdout.write_all(&table)).map_err(|e| e.to_string())?;
    }
    say!(
        "ran {} of the {} tests the module registered ({} ktest module(s): {})",
        summary.runs.len(),
        summary.registered,
        ktest::registered_modules().len(),
        ktest::registered_modules().join(", ")
    );
    problems.extend(summary.problems);
    Ok(summary.counts.success())
}

fn check_held(what: &str, c: &Call, problems: &mut Vec<String>) {
    for h in &c.held {
        problems.push(format!(
            "{what} returned holding {} {}, entered at\n{}",
            h.kind,
            kload::symbols::describe(h.addr),
            h.stack.trim_end()
        ));
    }
}

fn report_load(module: &Module<'_>, path: &std::path::Path) {
    let o = module.object();
    let s = &o.stats;
    let (start, _) = o.range();
    let relocs: usize = s.relocations.values().sum();
    let by_type: Vec<String> = s.relocations.iter().map(|(t, n)| format!("{n} {t}")).collect();
    say!(
        "loaded {} at {start:#x} in {:.1} ms: text {} bytes, rodata {}, data {}, bss {}",
        path.display(),
        s.time.as_secs_f64() * 1000.0,
        s.text,
        s.rodata,
        s.data,
        s.bss
    );
    say!("{relocs} relocations applied ({})", by_type.join(", "));
    say!(
        "{} kernel symbols bound, dependencies: {}; {} SDT probe site(s)",
        s.kernel_symbols.len(),
        if o.depends.is_empty() { "none".into() } else { o.depends.join(" ") },
        o.probes.len()
    );
}

/// Unloads, prints every problem, and says whether everything passed.
fn finish(module: Module<'_>, mut problems: Vec<String>, ok: bool) -> bool {
    problems.extend(module.unload());
    let st = kmem::stats();
    say!(
        "kmem: {} allocations, {} frees, peak {} bytes; {} KM_NOSLEEP call(s), {} failed by \
         injection; {} _info call(s); {} message(s) logged",
        st.allocs,
        st.frees,
        st.peak,
        st.nosleep_calls,
        st.nosleep_failed,
        modctl::info_calls(),
        console::messages().len()
    );
    let fired = sdt::take_fired();
    if !fired.is_empty() {
        let mut tally = std::collections::BTreeMap::new();
        for f in fired {
            *tally.entry(f.probe).or_insert(0u64) += 1;
        }
        let t: Vec<String> = tally.iter().map(|(p, n)| format!("{p} x{n}")).collect();
        say!("SDT probes fired: {}", t.join(", "));
    }
    for p in &problems {
        say!("FAIL: {p}");
    }
    ok && problems.is_empty()
}
