//! The host runner: runs test bodies the way `ktest run` runs them in the
//! kernel and prints the same table, so a failure reads the same in both
//! places.
//!
//! ```text
//! RESULT  MODULE       SUITE            TEST                                          LINE   REASON
//! PASS    dlszone      registry         rule1_same_name_in_several_zones_test         54
//! FAIL    dlszone      selffail         deliberate_fail_test                          14     sum == 5 (0x4 == 0x5): ...
//! ```
//!
//! followed by the per-module and per-suite counts `ktest run` prints and
//! a last line `N passed, N failed, N skipped` (ERROR counts as failed).
//! Tests are chosen by ktest triples (`module:suite:test`, globs `*?[]`,
//! empty parts meaning `*`). Success means every test passed or skipped,
//! as for `ktest run`.
//!
//! A body that panics (which in the kernel would panic the system) is
//! reported as ERROR at line 0 with the panic message.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};

use super::{MODULE, Outcome, Suite, Test, Verdict};

/// A `module:suite:test` selection, each part a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Triple {
    module: String,
    suite: String,
    test: String,
}

impl Triple {
    /// Every test (`*:*:*`).
    pub fn all() -> Triple {
        Triple { module: "*".into(), suite: "*".into(), test: "*".into() }
    }

    /// Parses a triple as `ktest` does: missing or empty parts are `*`; a
    /// third `:` or a part of 64 bytes or more is an error.
    pub fn parse(s: &str) -> Result<Triple, String> {
        let mut parts = s.splitn(3, ':');
        let mut next = |what: &str| -> Result<String, String> {
            let p = parts.next().unwrap_or("");
            if p.len() >= super::MAX_NAME_LEN {
                return Err(alloc::format!("{what} pattern too long: {p}"));
            }
            Ok(if p.is_empty() { "*".into() } else { p.into() })
        };
        let (module, suite, test) = (next("module")?, next("suite")?, next("test")?);
        if test.contains(':') {
            return Err(alloc::format!("malformed triple, unexpected ':' in test: {test}"));
        }
        Ok(Triple { module, suite, test })
    }

    /// Whether the triple selects test `module:suite:test`.
    pub fn matches(&self, module: &str, suite: &str, test: &str) -> bool {
        glob(self.module.as_bytes(), module.as_bytes())
            && glob(self.suite.as_bytes(), suite.as_bytes())
            && glob(self.test.as_bytes(), test.as_bytes())
    }
}

/// Shell-style matching (`gmatch(3GEN)`): `*`, `?`, and `[...]` classes
/// with ranges and `!` negation.
pub fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = s.split_first() else { return false };
            match class(rest, c) {
                Some((true, after)) => glob(after, tail),
                Some((false, _)) => false,
                // No closing `]`: the `[` is literal.
                None => c == b'[' && glob(rest, tail),
            }
        }
        Some((&p, rest)) => s.first() == Some(&p) && glob(rest, &s[1..]),
    }
}

/// Matches `c` against a class body (after `[`); returns whether it
/// matched and the pattern after `]`, or `None` if the class is unclosed.
fn class(body: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut i) = if body.first() == Some(&b'!') { (true, 1) } else { (false, 0) };
    let mut hit = false;
    let mut first = true;
    while i < body.len() {
        let p = body[i];
        if p == b']' && !first {
            return Some((hit != negate, &body[i + 1..]));
        }
        first = false;
        if i + 2 < body.len() && body[i + 1] == b'-' && body[i + 2] != b']' {
            hit |= (p..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= p == c;
            i += 1;
        }
    }
    None
}

/// A column of the results table: `ktest run -o` field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `RESULT`.
    Result,
    /// `MODULE`.
    Module,
    /// `SUITE`.
    Suite,
    /// `TEST`.
    Test,
    /// `LINE`.
    Line,
    /// `REASON`.
    Reason,
}

impl Field {
    /// The fields this runner prints by default.
    pub const DEFAULT: [Field; 6] =
        [Field::Result, Field::Module, Field::Suite, Field::Test, Field::Line, Field::Reason];

    /// Parses a `-o` list such as `result,module,suite,test,line,reason`.
    pub fn parse_list(s: &str) -> Result<Vec<Field>, String> {
        s.split(',')
            .map(|f| match f.to_ascii_lowercase().as_str() {
                "result" => Ok(Field::Result),
                "module" => Ok(Field::Module),
                "suite" => Ok(Field::Suite),
                "test" => Ok(Field::Test),
                "line" => Ok(Field::Line),
                "reason" => Ok(Field::Reason),
                _ => Err(alloc::format!("unknown field: {f}")),
            })
            .collect()
    }

    /// Header and width, as `ktest`'s ofmt table has them.
    fn spec(self) -> (&'static str, usize) {
        match self {
            Field::Result => ("RESULT", 7),
            Field::Module => ("MODULE", 12),
            Field::Suite => ("SUITE", 16),
            Field::Test => ("TEST", 45),
            Field::Line => ("LINE", 6),
            Field::Reason => ("REASON", 256),
        }
    }
}

/// How to print.
#[derive(Clone, Debug)]
pub struct Options {
    /// Columns of the results table.
    pub fields: Vec<Field>,
    /// Omit the header line (`-H`).
    pub no_header: bool,
    /// Parsable output (`-p`): `:`-separated, `:` in values escaped as
    /// `\:`, no header, no statistics.
    pub parsable: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { fields: Field::DEFAULT.to_vec(), no_header: false, parsable: false }
    }
}

/// A result as `ktest run` reports it: a [`Verdict`], or NONE for a test
/// that set no result (possible only for tests not written with
/// [`Outcome`], e.g. C tests run by the object loader, `tools/kload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// The test set this verdict.
    Verdict(Verdict),
    /// The test returned without setting a result (`KTEST_RESULT_NONE`).
    None,
}

impl Reported {
    /// The word in the RESULT column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reported::Verdict(v) => v.as_str(),
            Reported::None => "NONE",
        }
    }
}

/// Counts of one module or suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests run.
    pub total: u32,
    /// PASS.
    pub pass: u32,
    /// FAIL.
    pub fail: u32,
    /// ERROR.
    pub error: u32,
    /// SKIP.
    pub skip: u32,
    /// NONE (no result set).
    pub none: u32,
}

impl Counts {
    fn record(&mut self, r: Reported) {
        self.total += 1;
        match r {
            Reported::Verdict(Verdict::Pass) => self.pass += 1,
            Reported::Verdict(Verdict::Fail) => self.fail += 1,
            Reported::Verdict(Verdict::Error) => self.error += 1,
            Reported::Verdict(Verdict::Skip) => self.skip += 1,
            Reported::None => self.none += 1,
        }
    }

    /// Whether every test passed or skipped (`ktest run`'s exit 0).
    pub fn success(&self) -> bool {
        self.fail == 0 && self.error == 0 && self.none == 0
    }
}

/// Runs a body, turning a panic into an ERROR at line 0.
pub fn run_one(t: &Test) -> Outcome {
    match panic::catch_unwind(AssertUnwindSafe(|| t.run())) {
        Ok(o) => o,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".into());
            Outcome::new(
                Verdict::Error,
                0,
                format_args!("body panicked (a kernel would panic here): {msg}"),
            )
        }
    }
}

/// Runs every test of `suites` that some triple selects, printing each
/// row as it finishes, then (unless parsable) the counts and the summary
/// line. Returns the module's counts; `success()` is the exit status.
pub fn run(
    suites: &[Suite],
    triples: &[Triple],
    opts: &Options,
    out: &mut dyn Write,
) -> io::Result<Counts> {
    let module = MODULE.to_str().unwrap_or("?");
    let mut report = Report::new(opts, out)?;
    for suite in suites {
        for test in suite.tests {
            let (s, t) = (suite.name_str(), test.name_str());
            if !triples.iter().any(|tr| tr.matches(module, s, t)) {
                continue;
            }
            let o = run_one(test);
            report.row(module, s, t, Reported::Verdict(o.verdict()), o.line(), o.msg())?;
        }
    }
    report.finish()
}

/// The results table and statistics of `ktest run`, written as results
/// arrive: the host runner above and the object loader (`tools/kload`)
/// print through this, so both read exactly like `ktest run`.
pub struct Report<'a> {
    opts: &'a Options,
    out: &'a mut dyn Write,
    /// Per module, in first-seen order.
    modules: Vec<ModuleCounts>,
}

/// The counts of one module and of its suites, in first-seen order.
struct ModuleCounts {
    name: String,
    total: Counts,
    suites: Vec<(String, Counts)>,
}

impl<'a> Report<'a> {
    /// Starts a report, printing the header unless `-H` or `-p`.
    pub fn new(opts: &'a Options, out: &'a mut dyn Write) -> io::Result<Report<'a>> {
        if !opts.parsable && !opts.no_header {
            let header: Vec<String> = opts.fields.iter().map(|f| f.spec().0.into()).collect();
            write_row(out, opts, &header)?;
        }
        Ok(Report { opts, out, modules: Vec::new() })
    }

    /// Prints one result row (and flushes, so a hang shows where it is).
    pub fn row(
        &mut self,
        module: &str,
        suite: &str,
        test: &str,
        result: Reported,
        line: u32,
        reason: &str,
    ) -> io::Result<()> {
        let idx = match self.modules.iter().position(|m| m.name == module) {
            Some(i) => i,
            None => {
                let m = ModuleCounts {
                    name: module.into(),
                    total: Counts::default(),
                    suites: Vec::new(),
                };
                self.modules.push(m);
                self.modules.len() - 1
            }
        };
        let ModuleCounts { total, suites, .. } = &mut self.modules[idx];
        total.record(result);
        match suites.iter_mut().find(|(s, _)| s == suite) {
            Some((_, c)) => c.record(result),
            None => {
                let mut c = Counts::default();
                c.record(result);
                suites.push((suite.into(), c));
            }
        }
        let cells: Vec<String> = self
            .opts
            .fields
            .iter()
            .map(|f| match f {
                Field::Result => result.as_str().into(),
                Field::Module => module.into(),
                Field::Suite => suite.into(),
                Field::Test => test.into(),
                Field::Line => line.to_string(),
                Field::Reason => reason.into(),
            })
            .collect();
        write_row(self.out, self.opts, &cells)?;
        self.out.flush()
    }

    /// Prints the statistics and the summary line (unless parsable) and
    /// returns the counts over every module.
    pub fn finish(self) -> io::Result<Counts> {
        let mut total = Counts::default();
        for ModuleCounts { total: c, .. } in &self.modules {
            total.total += c.total;
            total.pass += c.pass;
            total.fail += c.fail;
            total.error += c.error;
            total.skip += c.skip;
            total.none += c.none;
        }
        if !self.opts.parsable {
            write_stats(self.out, &self.modules)?;
            writeln!(
                self.out,
                "{} passed, {} failed, {} skipped",
                total.pass,
                total.fail + total.error + total.none,
                total.skip
            )?;
        }
        Ok(total)
    }
}

fn write_row(out: &mut dyn Write, opts: &Options, cells: &[String]) -> io::Result<()> {
    let mut line = String::new();
    for (i, (c, f)) in cells.iter().zip(&opts.fields).enumerate() {
        let last = i + 1 == cells.len();
        if opts.parsable {
            if i > 0 {
                line.push(':');
            }
            line.push_str(&c.replace('\\', "\\\\").replace(':', "\\:"));
        } else if last {
            line.push_str(c);
        } else {
            let _ = write!(line, "{:<w$} ", c, w = f.spec().1);
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// The statistics `ktest run` prints after its results.
fn write_stats(out: &mut dyn Write, modules: &[ModuleCounts]) -> io::Result<()> {
    let row = |out: &mut dyn Write, name: &str, c: &Counts| {
        writeln!(
            out,
            "{:<40} {:<6} {:<6} {:<6} {:<6} {:<6} {}",
            name, c.total, c.pass, c.fail, c.error, c.skip, c.none
        )
    };
    writeln!(out)?;
    writeln!(
        out,
        "{:<40} {:<6} {:<6} {:<6} {:<6} {:<6} NONE",
        "MODULE/SUITE", "TOTAL", "PASS", "FAIL", "ERR", "SKIP"
    )?;
    if modules.is_empty() {
        // Nothing selected: the module line still shows the zero counts.
        row(out, MODULE.to_str().unwrap_or("?"), &Counts::default())?;
        writeln!(out, "{}", "-".repeat(74))?;
    }
    for m in modules {
        row(out, &m.name, &m.total)?;
        writeln!(out, "{}", "-".repeat(74))?;
        for (name, c) in &m.suites {
            row(out, &alloc::format!("  {name}"), c)?;
        }
    }
    writeln!(out)
}

/// Prints `module:suite:test` names as libtest's `--list` does
/// (`<name>: test`), for tools that drive test binaries.
pub fn list(suites: &[Suite], triples: &[Triple], out: &mut dyn Write) -> io::Result<usize> {
    let module = MODULE.to_str().unwrap_or("?");
    let mut n = 0;
    for suite in suites {
        for test in suite.tests {
            let (s, t) = (suite.name_str(), test.name_str());
            if triples.iter().any(|tr| tr.matches(module, s, t)) {
                writeln!(out, "{module}:{s}:{t}: test")?;
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use alloc::vec;

    #[test]
    fn globs_match_like_gmatch() {
        assert!(glob(b"*", b""));
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"rule?_*_test", b"rule1_x_test"));
        assert!(!glob(b"rule?_*_test", b"rule10_x_test"));
        assert!(glob(b"rule[0-9]*", b"rule7_x"));
        assert!(!glob(b"rule[!0-9]*", b"rule7_x"));
        assert!(glob(b"[]]", b"]"));
        assert!(glob(b"a[", b"a["));
        assert!(!glob(b"abc", b"abd"));
    }

    #[test]
    fn triples_parse_like_ktest() {
        let t = |m: &str, s: &str, x: &str| Triple {
            module: m.into(),
            suite: s.into(),
            test: x.into(),
        };
        assert_eq!(Triple::parse("*"), Ok(t("*", "*", "*")));
        assert_eq!(Triple::parse("dlszone"), Ok(t("dlszone", "*", "*")));
        assert_eq!(Triple::parse("dlszone::"), Ok(t("dlszone", "*", "*")));
        assert_eq!(Triple::parse(":sync"), Ok(t("*", "sync", "*")));
        assert_eq!(Triple::parse("a:b:c_test"), Ok(t("a", "b", "c_test")));
        assert!(Triple::parse("a:b:c:d").is_err());
        assert!(Triple::parse(&"m".repeat(64)).is_err());
    }

    fn ok() -> Outcome {
        Outcome::pass(10)
    }
    fn bad() -> Outcome {
        Outcome::new(Verdict::Fail, 20, format_args!("x == 1 (0x2 == 0x1)"))
    }
    fn skip() -> Outcome {
        Outcome::new(Verdict::Skip, 30, format_args!("not here"))
    }
    #[allow(clippy::panic)]
    fn boom() -> Outcome {
        panic!("kaboom")
    }

    fn suite(name: &'static core::ffi::CStr, tests: &'static [Test]) -> Suite {
        Suite { name, tests }
    }

    const fn t(name: &'static core::ffi::CStr, body: Body) -> Test {
        Test { name, body }
    }

    static A: [Test; 3] = [t(c"ok_test", ok), t(c"bad_test", bad), t(c"skip_test", skip)];
    static B: [Test; 1] = [t(c"boom_test", boom)];

    fn render(suites: &[Suite], triples: &[Triple], opts: &Options) -> (String, Counts) {
        let mut out = Vec::new();
        let counts = run(suites, triples, opts, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), counts)
    }

    #[test]
    fn table_rows_stats_and_summary() {
        let suites = [suite(c"one", &A), suite(c"two", &B)];
        let (text, c) = render(&suites, &[Triple::all()], &Options::default());
        assert_eq!(c, Counts { total: 4, pass: 1, fail: 1, error: 1, skip: 1, none: 0 });
        assert!(!c.success());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("RESULT  MODULE       SUITE            TEST"), "{text}");
        assert!(lines[0].ends_with("LINE   REASON"), "{text}");
        let fail = lines.iter().find(|l| l.starts_with("FAIL")).unwrap();
        let cols: Vec<&str> = fail.split_whitespace().collect();
        assert_eq!(&cols[..5], ["FAIL", "dlszone", "one", "bad_test", "20"]);
        assert!(fail.ends_with("x == 1 (0x2 == 0x1)"));
        let pass = lines.iter().find(|l| l.starts_with("PASS")).unwrap();
        assert_eq!(
            pass.split_whitespace().collect::<Vec<_>>(),
            ["PASS", "dlszone", "one", "ok_test", "10"]
        );
        let err = lines.iter().find(|l| l.starts_with("ERROR")).unwrap();
        assert!(err.contains(" 0 ") && err.contains("panicked") && err.contains("kaboom"), "{err}");
        assert!(text.contains("\n  one "), "{text}");
        assert_eq!(*lines.last().unwrap(), "1 passed, 2 failed, 1 skipped");
    }

    #[test]
    fn triples_select_and_parsable_output() {
        let suites = [suite(c"one", &A), suite(c"two", &B)];
        let opts = Options {
            fields: Field::parse_list("result,module,suite,test,line,reason").unwrap(),
            no_header: false,
            parsable: true,
        };
        let (text, c) = render(&suites, &[Triple::parse("dlszone:one:*_test").unwrap()], &opts);
        assert_eq!(c.total, 3);
        assert_eq!(
            text,
            "PASS:dlszone:one:ok_test:10:\nFAIL:dlszone:one:bad_test:20:x == 1 (0x2 == 0x1)\n\
             SKIP:dlszone:one:skip_test:30:not here\n"
        );
        let (_, c) = render(&suites, &[Triple::parse("other").unwrap()], &opts);
        assert_eq!(c, Counts::default());
        assert!(c.success());
        let (_, c) = render(&suites, &[Triple::parse(":one:skip*").unwrap()], &opts);
        assert_eq!(c, Counts { total: 1, skip: 1, ..Counts::default() });
        assert!(c.success());
    }

    #[test]
    fn reports_count_none_and_keep_modules_apart() {
        let opts = Options::default();
        let mut out = Vec::new();
        let mut r = Report::new(&opts, &mut out).unwrap();
        r.row("a", "s", "t1_test", Reported::None, 0, "").unwrap();
        r.row("a", "s", "t2_test", Reported::Verdict(Verdict::Pass), 3, "").unwrap();
        r.row("b", "x", "t3_test", Reported::Verdict(Verdict::Pass), 4, "").unwrap();
        let c = r.finish().unwrap();
        assert_eq!(c, Counts { total: 3, pass: 2, none: 1, ..Counts::default() });
        assert!(!c.success());
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert!(rows.contains(&vec!["NONE", "a", "s", "t1_test", "0"]), "{text}");
        assert!(rows.contains(&vec!["a", "2", "1", "0", "0", "0", "1"]), "{text}");
        assert!(rows.contains(&vec!["b", "1", "1", "0", "0", "0", "0"]), "{text}");
        assert!(rows.contains(&vec!["x", "1", "1", "0", "0", "0", "0"]), "{text}");
        assert!(text.ends_with("2 passed, 1 failed, 0 skipped\n"), "{text}");
    }

    #[test]
    fn parsable_escapes_colons() {
        fn colon() -> Outcome {
            Outcome::new(Verdict::Fail, 5, format_args!("a:b"))
        }
        static C: [Test; 1] = [t(c"colon_test", colon)];
        let opts = Options { fields: vec![Field::Reason], no_header: true, parsable: true };
        let (text, _) = render(&[suite(c"s", &C)], &[Triple::all()], &opts);
        assert_eq!(text, "a\\:b\n");
    }

    #[test]
    fn list_names_triples() {
        let suites = [suite(c"one", &A)];
        let mut out = Vec::new();
        assert_eq!(list(&suites, &[Triple::parse("::ok*").unwrap()], &mut out).unwrap(), 1);
        assert_eq!(String::from_utf8(out).unwrap(), "dlszone:one:ok_test: test\n");
    }

    #[test]
    fn the_real_table_is_well_formed() {
        assert!(crate::test_count() >= 40);
        for s in crate::suites() {
            for t in s.tests {
                assert!(t.name_str().ends_with("_test") && t.name_str().len() < 64);
            }
        }
    }
}
