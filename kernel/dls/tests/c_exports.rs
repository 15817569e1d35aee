//! Every symbol `dls_mgmt.o` exports is exercised by a C test.
//!
//! `tools/dls_mgmt.exports` lists the globals the object defines, and the
//! `#[unsafe(no_mangle)]` items of `abi.rs` are what it defines: the two
//! must agree. Each symbol must then appear in the code (not a comment,
//! not a string) of at least one C test, `tests/c/abi/t_*.c`. So a new
//! export without a C test fails here, in `cargo test` and in
//! `make c-test`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The symbols of an exports list: one a line, `#` starts a comment.
fn exports(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The names Rust source gives C: the item after each
/// `#[unsafe(no_mangle)]` (a function or a static).
fn defined(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut armed = false;
    for line in src.lines() {
        let t = line.trim();
        if t == "#[unsafe(no_mangle)]" {
            armed = true;
            continue;
        }
        if !armed || t.starts_with("#[") || t.starts_with("//") {
            continue;
        }
        let rest = match (t.find("fn "), t.find("static ")) {
            (Some(i), _) => &t[i + 3..],
            (None, Some(i)) => &t[i + 7..],
            (None, None) => panic!("no function or static after no_mangle: {t}"),
        };
        out.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        armed = false;
    }
    out
}

/// C source with its comments and its string and character literals
/// blanked out: what is left is code.
fn code_only(src: &str) -> String {
    #[derive(PartialEq)]
    enum In {
        Code,
        Block,
        Line,
        Quote(char),
    }
    let mut out = String::with_capacity(src.len());
    let mut st = In::Code;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            In::Code => match (c, chars.peek()) {
                ('/', Some('*')) => {
                    chars.next();
                    st = In::Block;
                    out.push(' ');
                }
                ('/', Some('/')) => {
                    chars.next();
                    st = In::Line;
                    out.push(' ');
                }
                ('"' | '\'', _) => {
                    st = In::Quote(c);
                    out.push(' ');
                }
                _ => out.push(c),
            },
            In::Block => {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    st = In::Code;
                }
            }
            In::Line => {
                if c == '\n' {
                    st = In::Code;
                    out.push('\n');
                }
            }
            In::Quote(q) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    st = In::Code;
                }
            }
        }
    }
    out
}

/// Whether `word` occurs in `hay` as a whole identifier.
fn has_word(hay: &str, word: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    hay.match_indices(word).any(|(i, _)| {
        !ident(hay[..i].chars().next_back()) && !ident(hay[i + word.len()..].chars().next())
    })
}

/// The symbols that no source's code refers to.
fn untested<'a>(symbols: &'a [String], sources: &[String]) -> Vec<&'a str> {
    symbols
        .iter()
        .filter(|s| !sources.iter().any(|src| has_word(src, s)))
        .map(String::as_str)
        .collect()
}

/// The C tests, `tests/c/abi/t_*.c`, as code only.
fn c_tests() -> Vec<String> {
    let dir = root().join("tests/c/abi");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("t_") && name.ends_with(".c") {
            out.push(code_only(&read(&path)));
        }
    }
    assert!(!out.is_empty(), "no C tests in {}", dir.display());
    out
}

#[test]
fn exports_list_is_what_abi_rs_defines() {
    let listed: BTreeSet<String> =
        exports(&read(&root().join("tools/dls_mgmt.exports"))).into_iter().collect();
    let defined = defined(&read(&root().join("kernel/dls/abi.rs")));
    assert!(defined.len() > 40, "abi.rs defines too few symbols: {defined:?}");
    let unlisted: Vec<_> = defined.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&defined).collect();
    assert!(unlisted.is_empty(), "defined in abi.rs, not in tools/dls_mgmt.exports: {unlisted:?}");
    assert!(missing.is_empty(), "in tools/dls_mgmt.exports, not defined in abi.rs: {missing:?}");
}

#[test]
fn every_export_is_called_from_a_c_test() {
    let symbols = exports(&read(&root().join("tools/dls_mgmt.exports")));
    let missing = untested(&symbols, &c_tests());
    assert!(missing.is_empty(), "exports no C test (tests/c/abi/t_*.c) refers to: {missing:?}");
}

/// The checks above bite: a symbol named only in a comment, a string, a
/// character literal or as part of a longer name is untested, and an
/// export that nothing defines, or a definition nothing lists, is seen.
#[test]
fn the_checks_bite() {
    let src = code_only(
        "/* dls_x(); */ // dls_x();\n\
         static void t(void) { puts(\"dls_x \\\" dls_x\"); dls_x_more(); c = 'x'; }\n\
         static void u(void) { dls_y(c); }",
    );
    let syms: Vec<String> = ["dls_x", "dls_y", "puts", "x"].iter().map(|s| s.to_string()).collect();
    assert_eq!(untested(&syms, &[src]), vec!["dls_x", "x"]);
    assert_eq!(exports("# c\n a \n\nb # c\n"), vec!["a", "b"]);
    let d = defined(
        "#[unsafe(no_mangle)]\npub extern \"C\" fn f_one() {}\nfn f_two() {}\n\
         #[unsafe(no_mangle)]\n/// doc\npub static V: i32 = 0;\n",
    );
    assert_eq!(d, ["V", "f_one"].iter().map(|s| s.to_string()).collect());
}
