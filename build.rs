//! Build script: tells the crate whether it is being built for the illumos
//! kernel target (`cfg(kmod)`), and generates the raw DDI bindings.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kmod)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-illumos-kernel" {
        println!("cargo::rustc-cfg=kmod");
    }
}
