//! What the locking protocol costs and buys under contention (issue 4;
//! figures in `docs/performance.md`, section "Concurrency"):
//!
//! - `tmp_hold_under_churn/N`: temporary hold + release pairs from N
//!   threads (1, 2, 4), each on its own link, while another thread keeps
//!   booting zones, lending into them and halting them. Readers take only
//!   the table lock as reader and count their hold atomically on the
//!   link, with no link mutex, so they should scale and never stall
//!   behind a halt's upcalls.
//! - `halt_200x4/{serial,parallel}/{mixed,lent}-<latency>`: wall time to
//!   halt 200 zones of 4 links each (`mixed`: 2 lent, 2 their own;
//!   `lent`: 4 lent), one after another or from 8 threads at once, with a
//!   dlmgmtd that answers at once or after a fixed delay, until every
//!   notice is delivered. Halts of different zones share no lock across an
//!   upcall, so the parallel run overlaps the daemon's latency for returns;
//!   the notices of transient links go through the ordered outbox, one
//!   replayer at a time.
//!
//! Run with `make bench` (or `cargo bench --bench concurrency`).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dlszone::registry::{LinkId, Registry, ZoneId, ZoneKey};
use dlszone_ktest::fake::FakeDlmgmt;

const GZ: ZoneId = ZoneId::GLOBAL;

/// dlmgmtd answering after a fixed delay (a door round trip), as `r`'s
/// door.
fn slow(r: &Registry, latency_us: u64) -> std::sync::Arc<FakeDlmgmt> {
    let d = FakeDlmgmt::shared();
    d.set_latency_us(latency_us);
    r.set_door(d.clone());
    d
}

/// Zone `z` of incarnation `generation` holding four links: two lent
/// from the global zone and two of its own (transient), or, with
/// `lent_only`, four lent ones.
fn populate_zone(r: &Registry, z: i32, generation: u64, lent_only: bool) -> ZoneKey {
    let k = ZoneKey::new(z, generation * 10_000 + z as u64);
    r.zone_boot(k).unwrap();
    for i in 0..4u32 {
        if i < 2 || lent_only {
            r.lend(GZ, LinkId(50_000 + 4 * z as u32 + i), k.id, false).unwrap();
        } else {
            let own = LinkId(100_000 + 4 * z as u32 + i);
            let (mac, name) = (format!("z{z}v{i}"), format!("zl{i}x0"));
            r.create(k.id, mac.as_bytes(), own, name.as_bytes(), false).unwrap();
        }
    }
    k
}

/// Four global-zone links per zone, to lend.
fn gz_links(r: &Registry, zones: i32) {
    for z in 1..=zones {
        for i in 0..4u32 {
            let id = LinkId(50_000 + 4 * z as u32 + i);
            r.create(GZ, format!("g{z}v{i}").as_bytes(), id, format!("g{z}x{i}").as_bytes(), false)
                .unwrap();
        }
    }
}

fn tmp_hold_under_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("tmp_hold_under_churn");
    g.throughput(Throughput::Elements(1));
    for threads in [1u32, 2, 4] {
        let r = Arc::new(Registry::new());
        // One link per reader, and zones 1..=8 for the churn thread.
        for t in 0..threads {
            let (mac, name) = (format!("hv{t}"), format!("h{t}x0"));
            r.create(GZ, mac.as_bytes(), LinkId(1 + t), name.as_bytes(), false).unwrap();
        }
        gz_links(&r, 8);
        let stop = Arc::new(AtomicBool::new(false));
        let halts = Arc::new(AtomicU64::new(0));
        let churn = {
            let (r, stop, halts) = (r.clone(), stop.clone(), halts.clone());
            thread::spawn(move || {
                let _up = slow(&r, 20);
                let mut generation = 1;
                while !stop.load(Ordering::Relaxed) {
                    for z in 1..=8 {
                        let k = populate_zone(&r, z, generation, false);
                        assert!(r.zone_halt(k).unwrap().is_clean());
                        r.zone_destroy(k).unwrap();
                        halts.fetch_add(1, Ordering::Relaxed);
                    }
                    generation += 1;
                }
            })
        };
        // Measure only once the churn is under way.
        while halts.load(Ordering::Relaxed) == 0 {
            thread::yield_now();
        }
        g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(u64::from(threads));
                let start = Instant::now();
                thread::scope(|s| {
                    for t in 0..threads {
                        let r = &r;
                        s.spawn(move || {
                            for _ in 0..per {
                                let h = r.hold_tmp(GZ, LinkId(1 + t)).unwrap();
                                r.rele_tmp(black_box(h)).unwrap();
                            }
                        });
                    }
                });
                // Wall time for all pairs: time per element is the
                // inverse of the aggregate throughput.
                start.elapsed().mul_f64(iters as f64 / (per * u64::from(threads)) as f64)
            });
        });
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        eprintln!(
            "churn: {} zone halts during the {threads}-thread run",
            halts.load(Ordering::Relaxed)
        );
    }
    g.finish();
}

const HALT_ZONES: i32 = 200;
const HALT_THREADS: i32 = 8;

/// Halts every zone of a fresh registry, serially or from 8 threads, and
/// returns the wall time of the halts alone.
fn halt_all(parallel: bool, lent_only: bool, latency_us: u64) -> Duration {
    let r = Registry::new();
    let up = slow(&r, 0);
    gz_links(&r, HALT_ZONES);
    let keys: Vec<ZoneKey> = (1..=HALT_ZONES).map(|z| populate_zone(&r, z, 1, lent_only)).collect();
    up.set_latency_us(latency_us);
    let start = Instant::now();
    if parallel {
        thread::scope(|s| {
            for w in 0..HALT_THREADS {
                let (r, keys) = (&r, &keys);
                s.spawn(move || {
                    for k in keys.iter().filter(|k| k.id.0 % HALT_THREADS == w) {
                        assert!(r.zone_halt(*k).unwrap().is_clean());
                    }
                });
            }
        });
    } else {
        for k in &keys {
            assert!(r.zone_halt(*k).unwrap().is_clean());
        }
    }
    // Halts deliver transient links' notices through the outbox, by one
    // replayer at a time; the time to drain it is part of the cost.
    while !r.outbox().is_empty() {
        let _ = r.replay_outbox();
    }
    let spent = start.elapsed();
    assert_eq!(r.list(GZ, Some(GZ)).unwrap().len(), 4 * HALT_ZONES as usize);
    spent
}

fn halt_200x4(c: &mut Criterion) {
    let mut g = c.benchmark_group("halt_200x4");
    g.sample_size(10);
    for latency_us in [0u64, 50] {
        for lent_only in [false, true] {
            for (label, parallel) in [("serial", false), ("parallel", true)] {
                let mix = if lent_only { "lent" } else { "mixed" };
                let id = BenchmarkId::new(label, format!("{mix}-{latency_us}us"));
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        (0..iters).map(|_| halt_all(parallel, lent_only, latency_us)).sum()
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, tmp_hold_under_churn, halt_200x4);
criterion_main!(benches);
