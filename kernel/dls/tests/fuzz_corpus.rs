//! Replays the checked-in fuzz corpus (`tests/fuzz/corpus/<target>/`)
//! through the fuzz targets of `tests/fuzz/targets/`, without a fuzzing
//! engine: every file is one input, run once, in name order. A failure
//! names the file. `make fuzz` grows the corpus; `docs/testing.md` says
//! how.

use std::fs;
use std::path::{Path, PathBuf};

// The target modules reach their input reader as `super::input`.
#[path = "../../../tests/fuzz/targets/abi.rs"]
mod abi;
#[path = "../../../tests/fuzz/targets/door.rs"]
mod door;
#[path = "../../../tests/fuzz/targets/input.rs"]
mod input;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    for f in &files {
        let data = fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = std::panic::catch_unwind(|| run(&data));
        if r.is_err() {
            panic!("fuzz target {target}: {} fails", f.display());
        }
    }
    println!("fuzz corpus {target}: {} inputs replayed", files.len());
}

/// One test: the ABI target drives the process's one global object.
#[test]
fn fuzz_corpus_replays() {
    replay("door", door::run);
    replay("abi", abi::run);
}
