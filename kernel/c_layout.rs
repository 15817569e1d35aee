//! Test support: the C compiler's view of the layouts the crate pins.
//!
//! Compiles `tests/c/layout.c` and `tests/c/dlszone_h.c` with the host C
//! compiler (`$CC`, else `cc`, `gcc` or `clang`), runs them once per test
//! process, and returns their "name value" lines as one map, so unit tests
//! can compare every size and offset asserted on the Rust side with what C
//! makes of the same declarations. The host is x86_64 LP64, laid out as
//! the amd64 illumos kernel is.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::string::String;
use std::sync::OnceLock;
use std::vec::Vec;
use std::{env, format, vec};

/// Every "name value" line the C program printed.
pub(crate) fn c_layout() -> &'static BTreeMap<String, usize> {
    static MAP: OnceLock<BTreeMap<String, usize>> = OnceLock::new();
    MAP.get_or_init(build_and_run)
}

/// One value, failing the test if C did not print it.
pub(crate) fn c_value(key: &str) -> usize {
    match c_layout().get(key) {
        Some(v) => *v,
        None => panic!("tests/c/layout.c prints no {key:?}"),
    }
}

fn compilers() -> Vec<String> {
    let mut c: Vec<String> = env::var("CC").into_iter().collect();
    c.extend(["cc", "gcc", "clang"].iter().map(|s| String::from(*s)));
    c
}

/// Compiles `tests/c/<name>` with `args` by the first compiler that can.
pub(crate) fn c_compile(name: &str, args: &[&str]) -> Result<String, Vec<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(name);
    let mut tried = vec![];
    for cc in compilers() {
        if Command::new(&cc).args(args).arg(&src).status().is_ok_and(|s| s.success()) {
            return Ok(cc);
        }
        tried.push(cc);
    }
    Err(tried)
}

fn build_and_run() -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for (name, std) in [("layout.c", "-std=c99"), ("dlszone_h.c", "-std=c11")] {
        run_one(name, std, &mut map);
    }
    map
}

fn run_one(name: &str, std: &str, map: &mut BTreeMap<String, usize>) {
    let out = env::temp_dir().join(format!("dlszone-{name}-{}", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    if let Err(tried) = c_compile(name, &[std, "-Wall", "-Werror", "-o", &out_s]) {
        panic!("no C compiler could build tests/c/{name} (tried {tried:?})");
    }
    let run = Command::new(&out).output().expect("run the layout program");
    let _ = std::fs::remove_file(&out);
    assert!(run.status.success(), "tests/c/{name} failed");
    let text = String::from_utf8(run.stdout).expect("layout output is text");
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad layout line {line:?}");
        };
        map.insert(String::from(k), v.parse().expect("a number"));
    }
}
