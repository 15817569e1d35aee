//! Unit tests of the illumos baseline model that `make bench` measures
//! dlszone against (`benches/side_by_side/illumos.rs`, issue 12): record
//! sizes, the hash functions and chain use, hold and release counts, the
//! destroy drain and the zone halt. The model itself lives with the
//! benchmark; this file only runs its tests under `cargo test`.

// The benchmark uses what the tests do not, and the other way round.
#[allow(dead_code)]
#[path = "../benches/side_by_side/illumos.rs"]
mod illumos;
