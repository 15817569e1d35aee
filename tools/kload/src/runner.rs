//! Running registered ktests as `ktest run` does, with the checks only a
//! host can make cheaply.
//!
//! Each selected test runs on a kernel thread of its own with a fresh,
//! pattern-filled stack, with `ktest_lock` held, exactly as ktest calls it
//! (one `ktest_fn_t` call with a context handle). Its row is printed
//! through the same [`Report`] as the in-process host runner
//! (`kernel/ktest/host.rs`), so the table reads as `ktest run`'s. Then:
//!
//! - a lock the test's thread still holds when the test returns is a
//!   problem (in the kernel, the next user of that lock would hang);
//! - a kmem buffer the test allocated and did not free is a problem;
//! - a test whose deepest stack use exceeds the budget is a problem (see
//!   [`STACK_BUDGET`], and docs/build.md's "Stack budget" for the budget
//!   of the objects' own frames it stands beside);
//! - a test that does not return within the timeout ends the run, with
//!   what every blocked kernel thread waits for.
//!
//! A test registered with `KTEST_FLAG_INPUT` gets the ERROR the `ktest`
//! command gives when no input file is named.

use std::io::{self, Write};
use std::time::Duration;

use dlszone_ktest::Verdict;
use dlszone_ktest::host::{Counts, Options, Report, Reported, Triple};

use crate::emu::{kmem, ktest, sync};
use crate::kthread::{self, StackUse};
use crate::machine;

/// The kernel stack budget of one test, in bytes: 20,480 (5 pages) −
/// 9,432 (`ktest_run_op_t` on the ioctl path) − 2,048 (syscall entry,
/// ioctl dispatch, ktest frames) − 1,024 (the deepest DDI callee below a
/// module frame): what overflows the thread outright under a light
/// kernel callee. It is not the 4,096-byte budget of the objects' own
/// frames that docs/build.md ("Stack budget") derives, which keeps 4 KiB
/// for kernel callees and a margin; the docs compare the measured depths
/// with both.
pub const STACK_BUDGET: usize = 20_480 - 9_432 - 2_048 - 1_024;

/// What to run and how to report it.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Which tests (default: all).
    pub triples: Vec<Triple>,
    /// How to print the table.
    pub report: Options,
    /// Stack budget per test, in bytes.
    pub budget: usize,
    /// How long one test may take.
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            triples: vec![Triple::all()],
            report: Options::default(),
            budget: STACK_BUDGET,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One test that ran.
#[derive(Clone, Debug)]
pub struct TestRun {
    /// `module:suite:test`.
    pub triple: String,
    /// What it reported.
    pub result: Reported,
    /// Its line.
    pub line: u32,
    /// Its reason (prepend text and message).
    pub reason: String,
    /// Its stack use.
    pub stack: StackUse,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// The counts `ktest run` prints.
    pub counts: Counts,
    /// Every test run, in order.
    pub runs: Vec<TestRun>,
    /// How many tests were registered (selected or not).
    pub registered: usize,
    /// Held locks, leaks and blown budgets, one line each.
    pub problems: Vec<String>,
}

fn reported(kind: i32) -> Reported {
    match kind {
        ktest::PASS => Reported::Verdict(Verdict::Pass),
        ktest::FAIL => Reported::Verdict(Verdict::Fail),
        ktest::SKIP => Reported::Verdict(Verdict::Skip),
        ktest::ERROR => Reported::Verdict(Verdict::Error),
        _ => Reported::None,
    }
}

/// Runs the selected registered tests, printing the table to `out`.
/// A test that hangs ends the process (status 4) after reporting it.
pub fn run(opts: &RunOptions, out: &mut dyn Write) -> io::Result<Summary> {
    let tests = ktest::registered();
    let mut summary = Summary { registered: tests.len(), ..Summary::default() };
    let mut report = Report::new(&opts.report, out)?;
    for t in tests {
        if !opts.triples.iter().any(|tr| tr.matches(&t.module, &t.suite, &t.test)) {
            continue;
        }
        let triple = format!("{}:{}:{}", t.module, t.suite, t.test);
        if t.input {
            let reason = "test requires input and none provided";
            let result = Reported::Verdict(Verdict::Error);
            report.row(&t.module, &t.suite, &t.test, result, 0, reason)?;
            let stack = StackUse::default();
            summary.runs.push(TestRun { triple, result, line: 0, reason: reason.into(), stack });
            continue;
        }
        let mark = kmem::mark();
        let test = t.clone();
        let ran = kthread::run(&triple, opts.timeout, move |ks| {
            let ctx = ktest::begin(&test);
            // SAFETY: a registered ktest_fn_t of a loaded object, called
            // with the context handle ktest would pass.
            unsafe { ks.call(test.func, ctx) };
            let held = sync::held_by(kthread::curthread());
            (ktest::end(ctx), held)
        })?;
        let Ok(((res, held), stack)) = ran else {
            eprintln!("kload: {}", machine::hang_report(&triple, opts.timeout));
            std::process::exit(4);
        };
        let result = reported(res.kind);
        let line = u32::try_from(res.line).unwrap_or(0);
        let reason = format!("{}{}", res.prepend, res.msg);
        report.row(&t.module, &t.suite, &t.test, result, line, &reason)?;
        for h in held {
            summary.problems.push(format!(
                "{triple} returned holding {} {}, entered at\n{}",
                h.kind,
                crate::symbols::describe(h.addr),
                h.stack.trim_end()
            ));
        }
        let leaks = kmem::leaks_since(mark);
        if !leaks.is_empty() {
            let bytes: usize = leaks.iter().map(|l| l.size).sum();
            let first = &leaks[0];
            summary.problems.push(format!(
                "{triple} leaked {} kmem buffer(s), {bytes} bytes; the first, {} bytes, \
                 allocated at\n{}",
                leaks.len(),
                first.size,
                first.stack.trim_end()
            ));
        }
        if stack.deepest > opts.budget {
            summary.problems.push(format!(
                "{triple} used {} bytes of kernel stack, over the budget of {} bytes",
                stack.deepest, opts.budget
            ));
        }
        summary.runs.push(TestRun { triple, result, line, reason, stack });
    }
    summary.counts = report.finish()?;
    Ok(summary)
}

/// The per-test stack table printed after the results.
pub fn write_stack_table(runs: &[TestRun], budget: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "kernel stack per test (budget {budget} bytes; deepest use, and depth at the deepest \
         kernel call):"
    )?;
    let w = runs.iter().map(|r| r.triple.len()).max().unwrap_or(0).max(4);
    writeln!(out, "{:<w$} {:>7} {:>7}", "TEST", "DEEPEST", "AT-DDI")?;
    for r in runs {
        writeln!(out, "{:<w$} {:>7} {:>7}", r.triple, r.stack.deepest, r.stack.kernel_call)?;
    }
    if let Some(max) = runs.iter().max_by_key(|r| r.stack.deepest) {
        let (d, t) = (max.stack.deepest, &max.triple);
        if d <= budget {
            writeln!(out, "deepest: {d} bytes ({t}), {} bytes under the budget", budget - d)?;
        } else {
            writeln!(out, "deepest: {d} bytes ({t}), {} bytes OVER the budget", d - budget)?;
        }
    }
    Ok(())
}
