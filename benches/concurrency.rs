//! Concurrency benchmarks (being written).

fn main() {}
