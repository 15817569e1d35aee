//! Build script: `cfg(kmod)` for the illumos kernel target, as the other
//! crates set it (kernel vs host is a cfg, never a feature; see
//! docs/build.md).

/// The custom target whose builds are kernel builds.
const KERNEL_TARGET: &str = "x86_64-unknown-illumos-kernel";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(kmod)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == KERNEL_TARGET {
        println!("cargo:rustc-cfg=kmod");
    }
}
