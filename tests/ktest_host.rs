//! Runs every in-kernel test body on the build host and reports it as
//! `ktest run -o result,module,suite,test,line,reason` does on illumos.
//!
//! ```text
//! cargo test --test ktest_host                       # every test
//! cargo test --test ktest_host -- 'dlszone:scenario'  # ktest triples
//! cargo test --test ktest_host -- -p -o result,test,line,reason '*'
//! ```
//!
//! Exit status as `ktest run`: 0 when every test passed or skipped, 1
//! otherwise, 2 for a usage error. libtest's `--list` and `--exact` are
//! understood, and its other flags ignored, so test drivers can run it.

use std::io::{self, Write};
use std::process::ExitCode;

use dlszone_ktest::host::{self, Field, Options, Triple};

// Allocation under the table writer, a gate or the outbox fails the body.
#[global_allocator]
static ALLOC: dlszone_ktest::CheckedAlloc = dlszone_ktest::CheckedAlloc;

const USAGE: &str = "usage: ktest_host [-H] [[-p] -o field,...] [--list] [triple ...]";

/// What the command line asks for.
struct Args {
    opts: Options,
    triples: Vec<Triple>,
    list: bool,
    /// libtest's `--ignored`: no body is ignored, so nothing is selected.
    ignored_only: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut opts = Options::default();
    let mut triples = Vec::new();
    let mut list = false;
    let mut ignored_only = false;
    let mut fields_given = false;
    while let Some(a) = argv.next() {
        match a.as_str() {
            "-H" => opts.no_header = true,
            "-p" => opts.parsable = true,
            "-o" => {
                let v = argv.next().ok_or("-o needs a field list")?;
                opts.fields = Field::parse_list(&v)?;
                fields_given = true;
            }
            "--list" => list = true,
            "--ignored" => ignored_only = true,
            // libtest flags test drivers pass; they change nothing here.
            "--exact" | "--nocapture" | "--show-output" | "--quiet" | "-q"
            | "--include-ignored" => {}
            "--test-threads" | "--format" | "--color" | "--logfile" | "--skip" => {
                argv.next();
            }
            s if s.starts_with("--") && s.contains('=') => {}
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => triples.push(Triple::parse(s)?),
        }
    }
    if opts.parsable && !fields_given {
        return Err("-p requires -o".into());
    }
    if triples.is_empty() {
        triples.push(Triple::all());
    }
    Ok(Args { opts, triples, list, ignored_only })
}

fn main() -> ExitCode {
    // The bodies take the facade's locks directly; loom's and shuttle's
    // work only inside a model, so under those cfgs there is nothing to run.
    if cfg!(any(loom, shuttle)) {
        println!("0 passed, 0 failed, 0 skipped (ktest bodies do not run under a model checker)");
        return ExitCode::SUCCESS;
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ktest_host: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // What the module's _init does first: the link record cache and the
    // kstat the `obs` suite reads back.
    if let Err(e) = dlszone::kmod::obs::init() {
        eprintln!("ktest_host: kmod::obs::init: {e:?}");
        return ExitCode::from(1);
    }
    let suites = if args.ignored_only { &[] } else { dlszone_ktest::suites() };
    let mut out = io::stdout().lock();
    let res = if args.list {
        host::list(suites, &args.triples, &mut out).map(|_| true)
    } else {
        host::run(suites, &args.triples, &args.opts, &mut out).map(|c| c.success())
    };
    let _ = out.flush();
    match res {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ktest_host: {e}");
            ExitCode::from(1)
        }
    }
}
