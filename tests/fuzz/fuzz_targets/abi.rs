//! libFuzzer entry point of the `abi` target (tests/fuzz/targets/abi.rs).
#![no_main]

// The target module reaches its input reader as `super::input`.
#[path = "../targets/abi.rs"]
mod abi;
#[path = "../targets/input.rs"]
mod input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| abi::run(data));
