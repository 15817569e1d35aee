//! dlszone and a model of illumos' devnet bookkeeping, side by side, in
//! one binary and one run (issue 12; figures in `docs/performance.md`,
//! "Side by side with illumos").
//!
//! At 100, 10,000 and 100,000 links over the same 1,000 zones (the
//! population of `benches/registry.rs`), both sides are built from the
//! same list of links and measured on the same targets: temporary hold +
//! release, long hold + release and hold by (zone, name) + release over a
//! warm set (64 links spread over the population) and a cold one (every
//! link, in a fixed random order); create + destroy; the halt of a zone of
//! 8 links; and the heap bytes and blocks each link costs, counted by this
//! binary's allocator. Rounds of the two sides alternate, so load on the
//! machine hits both alike, and each figure is the median of the rounds.
//! It prints one table: both figures and their ratio, dlszone / illumos.
//!
//! Modes (environment `DLSZONE_BENCH`, or an argument `--smoke`/`--quick`):
//!
//! - `full` (the default, what `make bench` runs): 9 rounds of at least
//!   50 ms per figure, 100 halts per round (about a minute);
//! - `quick`: 3 rounds of at least 2 ms, 10 halts per round;
//! - `smoke`: 100 links only, one iteration of everything, one round: a
//!   check that the binary builds and runs (`make bench-smoke`).
//!
//! `DLSZONE_BENCH_SCALES=100,10000` restricts the scales.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

mod baseline;
mod dlszone;
// `cargo test --bench` builds this binary with cfg(test) but no test
// harness: the model's unit tests (run from tests/illumos_model.rs) and
// their helpers are compiled, unused.
#[cfg_attr(test, allow(dead_code, unused_imports))]
mod illumos;

use baseline::Baseline;
use dlszone::Dlszone;

// ---- counting allocator --------------------------------------------------

/// Counts live heap bytes and blocks, so memory per link is measured.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System` upholds the `GlobalAlloc` contract; the counters
// are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> (isize, isize) {
    (LIVE_BYTES.load(Ordering::Relaxed), LIVE_BLOCKS.load(Ordering::Relaxed))
}

// ---- the population ------------------------------------------------------

pub(crate) const ZONES: i32 = 1_000;
/// The zone the halt benchmark halts, over and over.
pub(crate) const HALT_ZONE: i32 = 2_000;
/// Ids of the halting zone's own links, and of the global-zone links lent
/// to it; above every population link.
pub(crate) const HALT_OWN: u32 = 2_000_000;
pub(crate) const HALT_LENT: u32 = 3_000_000;
/// Ids of the links create + destroy makes.
const SPARE: u32 = 5_000_000;
/// Links in the warm set.
const WARM: usize = 64;

/// A link: its id, the zone that creates it, its name there, its MAC name.
pub(crate) struct Target {
    pub(crate) id: u32,
    pub(crate) zone: i32,
    pub(crate) name: String,
    pub(crate) mac: String,
}

/// Link `i` of the population: link `i / ZONES` of zone `1 + i % ZONES`.
fn member(i: usize) -> Target {
    Target {
        id: i as u32 + 1,
        zone: 1 + (i % ZONES as usize) as i32,
        name: format!("net{}", i / ZONES as usize),
        mac: format!("vnic{i}"),
    }
}

/// Spare link `j`, for create + destroy: spread over the zones.
fn spare(j: usize) -> Target {
    Target {
        id: SPARE + j as u32,
        zone: 1 + ((j * 13) % ZONES as usize) as i32,
        name: format!("cd{j}"),
        mac: format!("cdvnic{j}"),
    }
}

/// The halting zone's own link `j` (of 4).
pub(crate) fn halt_own(j: u32) -> Target {
    Target { id: HALT_OWN + j, zone: HALT_ZONE, name: format!("h{j}"), mac: format!("hvnic{j}") }
}

/// The global-zone link `j` (of 4) lent to the halting zone.
pub(crate) fn halt_lent(j: u32) -> Target {
    Target { id: HALT_LENT + j, zone: 0, name: format!("gz{j}"), mac: format!("gzvnic{j}") }
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

// ---- the two sides ---------------------------------------------------------

/// What both sides do. Each side's file says how.
pub(crate) trait Subject {
    /// A target in the side's own terms, prepared once so that no
    /// conversion is timed.
    type Key;
    /// Zones 1..=ZONES and HALT_ZONE running; the four global-zone links
    /// to lend to the halting zone created.
    fn new() -> Self;
    /// Creates one population link (counted for memory).
    fn populate(&self, t: &Target);
    fn key(&self, t: &Target) -> Self::Key;
    fn tmp_hold_rele(&self, k: &Self::Key);
    fn hold_rele(&self, k: &Self::Key);
    fn hold_by_name_rele(&self, k: &Self::Key);
    /// `zone_list`: for illumos, include dlmgmtd's zone datalink list
    /// calls (dlszone keeps zone membership itself and ignores it).
    fn create_destroy(&self, k: &Self::Key, zone_list: bool);
    /// Untimed: gives the halting zone its 8 links.
    fn halt_prepare(&mut self);
    /// Timed: halts the zone.
    fn halt(&mut self);
    /// Untimed: checks the halt and readies the zone for the next one.
    fn halt_finish(&mut self);
    /// Checks the side's own invariants.
    fn check(&self);
}

// ---- measuring -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Smoke,
    Quick,
    Full,
}

struct Mode {
    kind: Kind,
    rounds: usize,
    /// Least time one round of one figure runs for.
    round: Duration,
    halts: usize,
    scales: Vec<usize>,
}

impl Mode {
    fn get() -> Mode {
        let mut kind = match std::env::var("DLSZONE_BENCH").as_deref() {
            Ok("smoke") => Kind::Smoke,
            Ok("quick") => Kind::Quick,
            _ => Kind::Full,
        };
        // cargo bench passes --bench; other arguments are ignored too.
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--smoke" => kind = Kind::Smoke,
                "--quick" => kind = Kind::Quick,
                _ => {}
            }
        }
        let (rounds, round, halts) = match kind {
            Kind::Smoke => (1, Duration::ZERO, 1),
            Kind::Quick => (3, Duration::from_millis(2), 10),
            Kind::Full => (9, Duration::from_millis(50), 100),
        };
        let mut scales = match std::env::var("DLSZONE_BENCH_SCALES") {
            Ok(s) => {
                s.split(',').map(|n| n.trim().parse().expect("DLSZONE_BENCH_SCALES")).collect()
            }
            Err(_) => vec![100, 10_000, 100_000],
        };
        if kind == Kind::Smoke {
            scales = vec![100];
        }
        Mode { kind, rounds, round, halts, scales }
    }
}

/// Nanoseconds per operation over the rounds of one side.
#[derive(Default)]
struct Figure(Vec<f64>);

impl Figure {
    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
    }

    /// (max - min) / median: how much the rounds disagreed.
    fn spread(&self) -> f64 {
        let max = self.0.iter().copied().fold(f64::MIN, f64::max);
        let min = self.0.iter().copied().fold(f64::MAX, f64::min);
        (max - min) / self.median()
    }
}

fn run<F: FnMut()>(f: &mut F, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Iterations that take at least `target` (1 in smoke mode).
fn calibrate<F: FnMut()>(f: &mut F, target: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let t = run(f, n);
        if t >= target || n >= 1 << 32 {
            return n;
        }
        let scaled = (n as f64 * target.as_secs_f64() / t.as_secs_f64().max(1e-9) * 1.1) as u64;
        n = scaled.clamp(n * 2, n * 100);
    }
}

/// Times `a` and `b` in alternating rounds: (dlszone, illumos).
fn pair<A: FnMut(), B: FnMut()>(mode: &Mode, mut a: A, mut b: B) -> (Figure, Figure) {
    let (na, nb) = (calibrate(&mut a, mode.round), calibrate(&mut b, mode.round));
    let (mut fa, mut fb) = (Figure::default(), Figure::default());
    for _ in 0..mode.rounds {
        fa.0.push(run(&mut a, na).as_nanos() as f64 / na as f64);
        fb.0.push(run(&mut b, nb).as_nanos() as f64 / nb as f64);
    }
    (fa, fb)
}

/// An operation over a set of targets, one after the other, cycling.
fn cycle<'a, K>(keys: &'a [K], op: impl Fn(&K) + 'a) -> impl FnMut() + 'a {
    let mut i = 0;
    move || {
        op(black_box(&keys[i]));
        i += 1;
        if i == keys.len() {
            i = 0;
        }
    }
}

/// Mean time of one halt over `n` halts, preparation not timed.
fn halt_round<S: Subject>(s: &mut S, n: usize) -> f64 {
    let mut spent = Duration::ZERO;
    for _ in 0..n {
        s.halt_prepare();
        let start = Instant::now();
        s.halt();
        spent += start.elapsed();
        s.halt_finish();
    }
    spent.as_nanos() as f64 / n as f64
}

/// Builds a side over the population: the side and its heap bytes and
/// blocks per link.
fn build<S: Subject>(population: &[Target]) -> (S, f64, f64) {
    let s = S::new();
    let (bytes, blocks) = live();
    for t in population {
        s.populate(t);
    }
    let (bytes2, blocks2) = live();
    let n = population.len() as f64;
    s.check();
    (s, (bytes2 - bytes) as f64 / n, (blocks2 - blocks) as f64 / n)
}

// ---- the table -------------------------------------------------------------

#[derive(Clone, Copy)]
enum Unit {
    Ns,
    Us,
    Bytes,
    Blocks,
}

struct Row {
    op: &'static str,
    set: &'static str,
    links: usize,
    unit: Unit,
    dlszone: f64,
    illumos: f64,
    /// The larger round-to-round spread of the two sides (timed rows).
    spread: Option<f64>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ns if v < 100.0 => format!("{v:.1} ns"),
        Unit::Ns => format!("{} ns", thousands(v.round() as u64)),
        Unit::Us if v < 10_000.0 => format!("{:.2} µs", v / 1000.0),
        Unit::Us => format!("{} µs", thousands((v / 1000.0).round() as u64)),
        Unit::Bytes => format!("{} B", thousands(v.round() as u64)),
        Unit::Blocks => format!("{v:.2}"),
    }
}

/// Two significant digits below 0.1, two decimals above.
fn ratio(r: f64) -> String {
    if r >= 0.1 {
        format!("{r:.2}")
    } else {
        let decimals = (1.0 - r.log10().floor()) as usize;
        format!("{r:.decimals$}")
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| operation | set | links | dlszone | illumos model | ratio | spread |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let spread = r.spread.map_or(String::new(), |s| format!("{:.0}%", s * 100.0));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.op,
            r.set,
            thousands(r.links as u64),
            show(r.dlszone, r.unit),
            show(r.illumos, r.unit),
            ratio(r.dlszone / r.illumos),
            spread
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn timed(
    op: &'static str,
    set: &'static str,
    links: usize,
    unit: Unit,
    f: (Figure, Figure),
) -> Row {
    let spread = f.0.spread().max(f.1.spread());
    Row { op, set, links, unit, dlszone: f.0.median(), illumos: f.1.median(), spread: Some(spread) }
}

fn main() {
    let mode = Mode::get();
    let started = Instant::now();
    println!(
        "side_by_side: {} mode, {} rounds per figure, scales {:?}; load average at start {}",
        match mode.kind {
            Kind::Smoke => "smoke",
            Kind::Quick => "quick",
            Kind::Full => "full",
        },
        mode.rounds,
        mode.scales,
        loadavg()
    );
    let mut rows = Vec::new();
    let spares: Vec<Target> = (0..WARM).map(spare).collect();
    for &links in &mode.scales {
        let population: Vec<Target> = (0..links).map(member).collect();
        let (mut d, d_bytes, d_blocks) = build::<Dlszone>(&population);
        let (mut b, b_bytes, b_blocks) = build::<Baseline>(&population);
        let mem = |op, unit, dlszone, illumos| Row {
            op,
            set: "",
            links,
            unit,
            dlszone,
            illumos,
            spread: None,
        };
        rows.push(mem("heap bytes per link", Unit::Bytes, d_bytes, b_bytes));
        rows.push(mem("heap blocks per link", Unit::Blocks, d_blocks, b_blocks));

        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let warm: Vec<usize> = (0..WARM).map(|_| rng.below(links)).collect();
        let mut cold: Vec<usize> = (0..links).collect();
        for i in (1..cold.len()).rev() {
            cold.swap(i, rng.below(i + 1));
        }
        for (set, members) in [("warm", &warm), ("cold", &cold)] {
            let dk: Vec<_> = members.iter().map(|&i| d.key(&population[i])).collect();
            let bk: Vec<_> = members.iter().map(|&i| b.key(&population[i])).collect();
            let f =
                pair(&mode, cycle(&dk, |k| d.tmp_hold_rele(k)), cycle(&bk, |k| b.tmp_hold_rele(k)));
            rows.push(timed("temporary hold + release", set, links, Unit::Ns, f));
            let f = pair(&mode, cycle(&dk, |k| d.hold_rele(k)), cycle(&bk, |k| b.hold_rele(k)));
            rows.push(timed("long hold + release", set, links, Unit::Ns, f));
            let f = pair(
                &mode,
                cycle(&dk, |k| d.hold_by_name_rele(k)),
                cycle(&bk, |k| b.hold_by_name_rele(k)),
            );
            rows.push(timed("hold by (zone, name) + release", set, links, Unit::Ns, f));
        }

        let dk: Vec<_> = spares.iter().map(|t| d.key(t)).collect();
        let bk: Vec<_> = spares.iter().map(|t| b.key(t)).collect();
        let f = pair(
            &mode,
            cycle(&dk, |k| d.create_destroy(k, false)),
            cycle(&bk, |k| b.create_destroy(k, false)),
        );
        rows.push(timed("create + destroy (illumos: dls only)", "", links, Unit::Ns, f));
        let f = pair(
            &mode,
            cycle(&dk, |k| d.create_destroy(k, true)),
            cycle(&bk, |k| b.create_destroy(k, true)),
        );
        rows.push(timed("create + destroy (illumos: + zone list)", "", links, Unit::Ns, f));

        // One untimed round first, as calibration is for the others.
        if mode.kind != Kind::Smoke {
            halt_round(&mut d, mode.halts);
            halt_round(&mut b, mode.halts);
        }
        let (mut fd, mut fb) = (Figure::default(), Figure::default());
        for _ in 0..mode.rounds {
            fd.0.push(halt_round(&mut d, mode.halts));
            fb.0.push(halt_round(&mut b, mode.halts));
        }
        rows.push(timed("halt of an 8-link zone", "", links, Unit::Us, (fd, fb)));

        d.check();
        b.check();
        eprintln!("side_by_side: {links} links done after {:.1?}", started.elapsed());
    }
    print_table(&rows);
    println!();
    println!(
        "ratio: dlszone / illumos model (below 1: dlszone is cheaper); spread: (max - min) / \
         median of the rounds, the worse side; load average at end {}; {:.1?} in all",
        loadavg(),
        started.elapsed()
    );
}
