//! Builds the C shims: the variadic DDI entry points (`cmn_err`, `panic`,
//! `ktest_result_*`, `ktest_msg_prepend`), which stable Rust cannot
//! define. They format with the C library's `vsnprintf` and hand the text
//! to Rust.

fn main() {
    println!("cargo::rerun-if-changed=src/shims.c");
    cc::Build::new().file("src/shims.c").warnings(true).extra_warnings(true).compile("kload_shims");
}
