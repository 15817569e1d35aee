//! libFuzzer entry point of the `door` target (tests/fuzz/targets/door.rs).
#![no_main]

// The target module reaches its input reader as `super::input`.
#[path = "../targets/door.rs"]
mod door;
#[path = "../targets/input.rs"]
mod input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| door::run(data));
