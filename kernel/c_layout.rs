//! Test support: the C compiler's view of the layouts the crate pins.
//!
//! Compiles `tests/c/layout.c` with the host C compiler (`$CC`, else
//! `cc`, `gcc` or `clang`), runs it once per test process, and returns its
//! "name value" lines as a map, so unit tests can compare every size and
//! offset asserted on the Rust side with what C makes of the same
//! declarations. The host is x86_64 LP64, laid out as the amd64 illumos
//! kernel is.

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

fn build_and_run() -> BTreeMap<String, usize> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("tests/c/layout.c");
    let out = env::temp_dir().join(format!("dlszone-layout-{}", std::process::id()));
    let mut compilers: Vec<String> = env::var("CC").into_iter().collect();
    compilers.extend(["cc", "gcc", "clang"].iter().map(|s| String::from(*s)));
    let mut tried = vec![];
    let built = compilers.iter().any(|cc| {
        let ok = Command::new(cc)
            .args(["-std=c99", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .is_ok_and(|s| s.success());
        tried.push(cc.clone());
        ok
    });
    assert!(built, "no C compiler could build {} (tried {tried:?})", src.display());
    let run = Command::new(&out).output().expect("run the layout program");
    let _ = std::fs::remove_file(&out);
    assert!(run.status.success(), "layout program failed");
    let text = String::from_utf8(run.stdout).expect("layout output is text");
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad layout line {line:?}");
        };
        map.insert(String::from(k), v.parse().expect("a number"));
    }
    map
}
