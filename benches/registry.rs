//! Per-operation cost of the registry as the number of links grows, and
//! the memory each link costs (issue 3; figures in `docs/performance.md`).
//!
//! Every scale spreads its links over the same 1,000 zones, so a change in
//! cost between scales comes from the total number of links alone. Each
//! per-link operation runs over a warm set (64 links spread over the
//! population: the work itself) and a cold one (every link, in a fixed
//! random order: the work plus cache misses), so an index is never
//! measured along one cached path. Run with `make bench` (or
//! `cargo bench --bench registry`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dlszone::registry::{Action, HoldKind, LinkId, LinkOutcome, Registry, ZoneId, ZoneKey};
use dlszone_ktest::fake::FakeDlmgmt;

/// Counts live heap bytes, so memory per link is measured, not estimated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System` upholds the `GlobalAlloc` contract; the counter
// is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const SCALES: [usize; 3] = [100, 10_000, 100_000];
const ZONES: i32 = 1_000;
/// Links in the warm set, whose records and index slots stay in cache.
const WARM: usize = 64;

/// Ids above every population link, for the links the benchmarks move.
const LEND_ID: LinkId = LinkId(4_000_000);
const HALT_ZONE: i32 = 2_000;
const HALT_TRANSIENT: u32 = 2_000_000;
const HALT_LENT: u32 = 3_000_000;

fn zone_key(z: i32) -> ZoneKey {
    ZoneKey::new(z, 10_000 + z as u64)
}

/// One link a benchmark iteration targets, with its keys precomputed so
/// no formatting is timed.
struct Target {
    id: LinkId,
    zone: ZoneId,
    name: Vec<u8>,
    mac: Vec<u8>,
}

/// Link `i` of the population: link `i / ZONES` of zone `1 + i % ZONES`.
fn member(i: usize) -> Target {
    let zone = ZoneId(1 + (i % ZONES as usize) as i32);
    let name = format!("net{}", i / ZONES as usize).into_bytes();
    Target { id: LinkId(i as u32 + 1), zone, name, mac: format!("vnic{i}").into_bytes() }
}

/// A registry populated for one scale, with what the benchmarks target.
struct Fixture {
    links: usize,
    reg: Registry,
    /// A few links spread over the population: the per-operation cost
    /// with the working set in cache.
    warm: Vec<Target>,
    /// Every link, in a fixed random order: the cost when each operation
    /// finds its link (and index slots) out of cache.
    cold: Vec<Target>,
    /// Heap bytes per link: records, names and every index entry.
    bytes_per_link: f64,
    /// Mean time of one `create` while populating, index growth included.
    create_mean: Duration,
}

/// xorshift64 from a fixed seed: the same order on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn build(links: usize) -> Fixture {
    let reg = Registry::new();
    for z in 1..=ZONES {
        reg.zone_boot(zone_key(z)).unwrap();
    }
    reg.zone_boot(zone_key(HALT_ZONE)).unwrap();
    let population: Vec<Target> = (0..links).map(member).collect();
    let before = live_bytes();
    let started = Instant::now();
    for t in &population {
        reg.create(t.zone, &t.mac, t.id, &t.name, false).unwrap();
    }
    let create_mean = started.elapsed() / links as u32;
    let bytes_per_link = (live_bytes() - before) as f64 / links as f64;

    reg.create(ZoneId::GLOBAL, b"lendvnic0", LEND_ID, b"lend0", true).unwrap();
    for j in 0..4 {
        let (mac, name) = (format!("gzvnic{j}"), format!("gz{j}"));
        reg.create(ZoneId::GLOBAL, mac.as_bytes(), LinkId(HALT_LENT + j), name.as_bytes(), true)
            .unwrap();
    }
    reg.check_invariants().unwrap();

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let warm = (0..WARM).map(|_| member(rng.below(links))).collect();
    let mut cold = population;
    for i in (1..cold.len()).rev() {
        cold.swap(i, rng.below(i + 1));
    }
    Fixture { links, reg, warm, cold, bytes_per_link, create_mean }
}

fn fixtures() -> &'static [Fixture] {
    static FIXTURES: std::sync::OnceLock<Vec<Fixture>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let all: Vec<Fixture> = SCALES.iter().map(|&n| build(n)).collect();
        for f in &all {
            println!(
                "memory: {:>7} links over {ZONES} zones: {:.0} heap bytes per link; \
                 create: mean {:.2?}",
                f.links, f.bytes_per_link, f.create_mean
            );
        }
        all
    })
}

/// Benchmarks `op` at every scale, over the warm set and over all links.
fn per_link(c: &mut Criterion, group: &str, op: impl Fn(&Registry, &Target)) {
    let mut g = c.benchmark_group(group);
    for f in fixtures() {
        for (set, targets) in [("warm", &f.warm), ("cold", &f.cold)] {
            g.bench_with_input(BenchmarkId::new(set, f.links), targets, |b, targets| {
                let mut k = 0;
                b.iter(|| {
                    op(&f.reg, &targets[k]);
                    k += 1;
                    if k == targets.len() {
                        k = 0;
                    }
                })
            });
        }
    }
    g.finish();
}

fn lookups(c: &mut Criterion) {
    // `holders` is the read-only query by id (it builds one small Vec).
    per_link(c, "lookup_by_linkid", |r, t| {
        black_box(r.holders(ZoneId::GLOBAL, black_box(t.id)).unwrap());
    });
    // From inside the zone, as `dladm show-link` in the zone asks.
    per_link(c, "lookup_by_zone_name", |r, t| {
        black_box(r.lookup(t.zone, t.zone, black_box(&t.name)).unwrap());
    });
    per_link(c, "lookup_by_mac", |r, t| {
        black_box(r.lookup_mac(ZoneId::GLOBAL, black_box(&t.mac)).unwrap());
    });
}

fn holds(c: &mut Criterion) {
    per_link(c, "hold_tmp_rele", |r, t| {
        let h = r.hold_tmp(ZoneId::GLOBAL, black_box(t.id)).unwrap();
        r.rele_tmp(h).unwrap();
    });
    // A long hold from inside the link's own zone, as a zone's DLPI open
    // takes it: provenance and the zone's state are checked too.
    per_link(c, "hold_rele", |r, t| {
        let h = r.hold(t.zone, black_box(t.id), HoldKind::Stream).unwrap();
        r.rele(h).unwrap();
    });
}

/// Lend a global-zone link to a zone and take it back: two dlmgmtd
/// upcalls to an up daemon, both moves timed.
fn lend_return(c: &mut Criterion) {
    let mut g = c.benchmark_group("lend_return");
    for f in fixtures() {
        let to = ZoneId(1);
        g.bench_with_input(BenchmarkId::from_parameter(f.links), f, |b, f| {
            b.iter_custom(|iters| {
                // A fresh daemon per sample keeps its log short.
                f.reg.set_door(FakeDlmgmt::shared());
                let start = Instant::now();
                for _ in 0..iters {
                    f.reg.lend(ZoneId::GLOBAL, LEND_ID, to, false).unwrap();
                    f.reg.give_back(ZoneId::GLOBAL, LEND_ID).unwrap();
                }
                start.elapsed()
            })
        });
        f.reg.check_invariants().unwrap();
    }
    g.finish();
}

/// Halt of a zone with 8 links, 4 of its own (condemned) and 4 lent by the
/// global zone (returned through dlmgmtd). Booting and populating the next
/// incarnation, and destroying the halted one, are not timed.
fn halt(c: &mut Criterion) {
    /// Gives a fresh incarnation of the halt zone its 8 links.
    fn populate(reg: &Registry, zone: ZoneId) {
        for j in 0..4 {
            let (mac, name) = (format!("hvnic{j}"), format!("h{j}"));
            let id = LinkId(HALT_TRANSIENT + j);
            reg.create(zone, mac.as_bytes(), id, name.as_bytes(), false).unwrap();
            reg.lend(ZoneId::GLOBAL, LinkId(HALT_LENT + j), zone, false).unwrap();
        }
    }

    let mut g = c.benchmark_group("halt_zone_8_links");
    for f in fixtures() {
        let mut uniqid = 1_000_000u64;
        let mut zone = zone_key(HALT_ZONE);
        g.bench_with_input(BenchmarkId::from_parameter(f.links), f, |b, f| {
            b.iter_custom(|iters| {
                f.reg.set_door(FakeDlmgmt::shared());
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    populate(&f.reg, zone.id);
                    let start = Instant::now();
                    let report = f.reg.zone_halt(zone).unwrap();
                    spent += start.elapsed();
                    assert!(report.is_clean() && report.links.len() == 8);
                    let returned = |o: &LinkOutcome| matches!(o.action, Action::Returned { .. });
                    assert_eq!(report.links.iter().filter(|o| returned(o)).count(), 4);
                    f.reg.zone_destroy(zone).unwrap();
                    uniqid += 1;
                    zone = ZoneKey::new(HALT_ZONE, uniqid);
                    f.reg.zone_boot(zone).unwrap();
                }
                spent
            })
        });
        f.reg.check_invariants().unwrap();
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = lookups, holds, lend_return, halt
}
criterion_main!(benches);
