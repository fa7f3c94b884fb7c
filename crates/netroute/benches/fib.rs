//! FIB lookup benchmark on the RIPE RIS tables (`../shared/data`), our compiled LPM next to
//! prefix-trie 0.10 in the same process. Skips (with a message) when the data is absent.
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo bench -p netroute --bench fib
//! ```
//!
//! Groups `fib-v4` / `fib-v6`, each with `{in-table,uniform}/{ours-single,ours-batch,
//! ours-shared-batch,prefix-trie}` (independent lookups, throughput) and
//! `in-table-dep/{ours,prefix-trie}` (each address depends on the previous result through
//! its top bits: latency). After the criterion groups a plain report prints memory
//! (counting allocator), bulk build time from shuffled input and the cost of replaying the
//! 24 h update stream one update at a time, and the lookup comparisons again as paired
//! windows (ours and prefix-trie alternating every 100 ms, ratio per pair: robust
//! against drift of a shared host; `FIB_PAIRED_ONLY=1` stops the report after them).

#[path = "../tests/common/ris.rs"]
mod ris;

use criterion::{BenchmarkId, Criterion, Throughput};
use netroute::route::fib::{Fib, FibOp, Key, NextHop, SharedFib};
use prefix_trie::PrefixMap;
use ris::{Family, Rng, h, nh};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1 << 16;

trait Bench: Key + Family {
    fn inside(r: &mut Rng, a: Self, l: u8) -> Self;
    fn uniform(r: &mut Rng) -> Self;
    fn host(a: Self) -> (Self, u8);
    /// A value that is zero (next hops are < 2^15) but that the compiler cannot prove
    /// zero, moved to the top bits.
    fn dep(nh: Option<NextHop>) -> Self;
    fn xor(self, o: Self) -> Self;
}

impl Bench for u32 {
    fn inside(r: &mut Rng, a: u32, l: u8) -> u32 {
        ris::in_prefix_v4(r, a, l)
    }
    fn uniform(r: &mut Rng) -> u32 {
        r.next_u64() as u32
    }
    fn host(a: u32) -> (u32, u8) {
        (a, 32)
    }
    fn dep(nh: Option<NextHop>) -> u32 {
        (u32::from(nh.map_or(0, NextHop::index)) >> 15) << 31
    }
    fn xor(self, o: u32) -> u32 {
        self ^ o
    }
}

impl Bench for u128 {
    fn inside(r: &mut Rng, a: u128, l: u8) -> u128 {
        ris::in_prefix_v6(r, a, l)
    }
    fn uniform(r: &mut Rng) -> u128 {
        ris::in_prefix_v6(r, 0x2000u128 << 112, 3)
    }
    fn host(a: u128) -> (u128, u8) {
        (a, 128)
    }
    fn dep(nh: Option<NextHop>) -> u128 {
        (u128::from(nh.map_or(0, NextHop::index)) >> 15) << 127
    }
    fn xor(self, o: u128) -> u128 {
        self ^ o
    }
}

fn sum(o: Option<NextHop>) -> u64 {
    o.map_or(0, |n| u64::from(n.index()))
}

fn bench_family<K: Bench>(c: &mut Criterion)
where
    (K, u8): prefix_trie::Prefix,
{
    let Some(table) = ris::table::<K>() else {
        println!(
            "SKIP fib-{}: RIS data not found at CARGO_MANIFEST_DIR/../../../shared/data",
            K::TAG
        );
        return;
    };
    let routes: Vec<(K, u8, NextHop)> = table.iter().map(|&(a, l)| (a, l, nh(h((a, l))))).collect();
    let fib = Fib::from_routes(routes.iter().copied()).expect("valid table");
    let mut pt: PrefixMap<(K, u8), u16> = PrefixMap::new();
    for &(a, l, n) in &routes {
        pt.insert((a, l), n.index());
    }
    let domain = psref::Domain::new();
    let shared = SharedFib::from_routes(routes.iter().copied(), &domain).expect("valid table");
    let mut r = Rng(1);
    let in_table: Vec<K> = (0..N)
        .map(|_| {
            let (a, l) = table[(r.next_u64() % table.len() as u64) as usize];
            K::inside(&mut r, a, l)
        })
        .collect();
    let uniform: Vec<K> = (0..N).map(|_| K::uniform(&mut r)).collect();
    // Cross-check before measuring.
    for &a in in_table.iter().chain(&uniform) {
        let want = pt.get_lpm(&K::host(a)).map(|(_, &v)| v);
        assert_eq!(fib.lookup(a).map(NextHop::index), want, "mismatch at {a:?}");
    }

    let mut g = c.benchmark_group(format!("fib-{}", K::TAG));
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for (name, addrs) in [("in-table", &in_table), ("uniform", &uniform)] {
        g.bench_function(BenchmarkId::new(name, "ours-single"), |b| {
            b.iter(|| {
                let mut s = 0u64;
                for &a in addrs {
                    s = s.wrapping_add(sum(fib.lookup(a)));
                }
                black_box(s)
            })
        });
        let mut out = vec![None; N];
        g.bench_function(BenchmarkId::new(name, "ours-batch"), |b| {
            b.iter(|| {
                fib.lookup_batch(addrs, &mut out);
                black_box(&out);
            })
        });
        let reader = domain.reader();
        g.bench_function(BenchmarkId::new(name, "ours-shared-batch"), |b| {
            b.iter(|| {
                // One read section per 1024 addresses.
                for (a, o) in addrs.chunks(1024).zip(out.chunks_mut(1024)) {
                    let guard = reader.read();
                    shared.load(&guard).lookup_batch(a, o);
                }
                black_box(&out);
            })
        });
        g.bench_function(BenchmarkId::new(name, "prefix-trie"), |b| {
            b.iter(|| {
                let mut s = 0u64;
                for &a in addrs {
                    s = s.wrapping_add(pt.get_lpm(&K::host(a)).map_or(0, |(_, &v)| u64::from(v)));
                }
                black_box(s)
            })
        });
    }
    g.bench_function(BenchmarkId::new("in-table-dep", "ours"), |b| {
        b.iter(|| {
            let mut prev = None;
            let mut s = 0u64;
            for &a in &in_table {
                prev = fib.lookup(a.xor(K::dep(prev)));
                s = s.wrapping_add(sum(prev));
            }
            black_box(s)
        })
    });
    g.bench_function(BenchmarkId::new("in-table-dep", "prefix-trie"), |b| {
        b.iter(|| {
            let mut prev = None;
            let mut s = 0u64;
            for &a in &in_table {
                let p = pt.get_lpm(&K::host(a.xor(K::dep(prev)))).map(|(_, &v)| v);
                prev = p.map(|v| NextHop::new(u32::from(v)).expect("in range"));
                s = s.wrapping_add(sum(prev));
            }
            black_box(s)
        })
    });
    g.finish();
}

/// Ours against a peer in alternating windows (peer, ours, peer, ..., peer: `PAIRS` of
/// ours), each at least 100 ms of whole passes over `addrs` after one warm-up pass; each
/// of our windows is compared with the mean of the peer windows on either side, so that
/// drift of the shared host (which moved prefix-trie's in-table rate between 11 and 40
/// Mlps from one criterion run to the next) hits both sides alike. Prints the median
/// ratio and its spread.
fn paired<K: Bench>(
    what: &str,
    n: usize,
    ours: &mut dyn FnMut() -> u64,
    peer: &mut dyn FnMut() -> u64,
) {
    const PAIRS: usize = 10;
    const WINDOW: Duration = Duration::from_millis(100);
    let window = |f: &mut dyn FnMut() -> u64| {
        black_box(f());
        let t = Instant::now();
        let mut passes = 0u64;
        while t.elapsed() < WINDOW {
            black_box(f());
            passes += 1;
        }
        (passes * n as u64) as f64 / t.elapsed().as_secs_f64()
    };
    let mut peer_rates = vec![window(peer)];
    let mut our_rates = Vec::new();
    for _ in 0..PAIRS {
        our_rates.push(window(ours));
        peer_rates.push(window(peer));
    }
    let mut ratios: Vec<f64> = (0..PAIRS)
        .map(|i| our_rates[i] / ((peer_rates[i] + peer_rates[i + 1]) / 2.0))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] / 1e6
    };
    println!(
        "REPORT fib-{} paired {what}: ours {:.1} Mlps, prefix-trie {:.1} Mlps (median windows); ratio median {:.2}x (min {:.2}, max {:.2}; {PAIRS} window pairs)",
        K::TAG,
        med(&mut our_rates),
        med(&mut peer_rates),
        ratios[PAIRS / 2],
        ratios[0],
        ratios[PAIRS - 1],
    );
}

/// The lookup comparisons of the criterion group, as [`paired`] windows.
fn paired_lookups<K: Bench>(table: &[(K, u8)], routes: &[(K, u8, NextHop)])
where
    (K, u8): prefix_trie::Prefix,
{
    let fib = Fib::from_routes(routes.iter().copied()).expect("valid table");
    let mut pt: PrefixMap<(K, u8), u16> = PrefixMap::new();
    for &(a, l, n) in routes {
        pt.insert((a, l), n.index());
    }
    let mut r = Rng(1);
    let in_table: Vec<K> = (0..N)
        .map(|_| {
            let (a, l) = table[(r.next_u64() % table.len() as u64) as usize];
            K::inside(&mut r, a, l)
        })
        .collect();
    let uniform: Vec<K> = (0..N).map(|_| K::uniform(&mut r)).collect();
    let peer_single = |addrs: &[K]| {
        addrs.iter().fold(0u64, |s, &a| {
            s.wrapping_add(pt.get_lpm(&K::host(a)).map_or(0, |(_, &v)| u64::from(v)))
        })
    };
    let mut out = vec![None; N];
    for (name, addrs) in [("in-table", &in_table), ("uniform", &uniform)] {
        paired::<K>(
            &format!("{name} single"),
            N,
            &mut || {
                addrs
                    .iter()
                    .fold(0u64, |s, &a| s.wrapping_add(sum(fib.lookup(a))))
            },
            &mut || peer_single(addrs),
        );
        paired::<K>(
            &format!("{name} batch"),
            N,
            &mut || {
                fib.lookup_batch(addrs, &mut out);
                out.iter().fold(0u64, |s, &o| s.wrapping_add(sum(o)))
            },
            &mut || peer_single(addrs),
        );
    }
    paired::<K>(
        "in-table dependent",
        N,
        &mut || {
            let mut prev = None;
            in_table.iter().fold(0u64, |s, &a| {
                prev = fib.lookup(a.xor(K::dep(prev)));
                s.wrapping_add(sum(prev))
            })
        },
        &mut || {
            let mut prev = None;
            in_table.iter().fold(0u64, |s, &a| {
                let p = pt.get_lpm(&K::host(a.xor(K::dep(prev)))).map(|(_, &v)| v);
                prev = p.map(|v| NextHop::new(u32::from(v)).expect("in range"));
                s.wrapping_add(sum(prev))
            })
        },
    );
}

fn report_family<K: Bench>()
where
    (K, u8): prefix_trie::Prefix,
{
    let (Some(table), Some(updates)) = (ris::table::<K>(), ris::updates::<K>()) else {
        return;
    };
    let mut routes: Vec<(K, u8, NextHop)> =
        table.iter().map(|&(a, l)| (a, l, nh(h((a, l))))).collect();
    // Shuffle (Fisher-Yates) for a realistic convergence order.
    let mut r = Rng(3);
    for i in (1..routes.len()).rev() {
        let j = (r.next_u64() % (i as u64 + 1)) as usize;
        routes.swap(i, j);
    }
    paired_lookups::<K>(&table, &routes);
    if std::env::var_os("FIB_PAIRED_ONLY").is_some() {
        return;
    }
    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut fib = Fib::from_routes(routes.iter().copied()).expect("valid table");
    let build = t.elapsed();
    let total = LIVE.load(Ordering::Relaxed) - before;
    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut pt: PrefixMap<(K, u8), u16> = PrefixMap::new();
    for &(a, l, n) in &routes {
        pt.insert((a, l), n.index());
    }
    let pt_build = t.elapsed();
    let pt_bytes = LIVE.load(Ordering::Relaxed) - before;
    let n = fib.len() as f64;
    println!(
        "REPORT fib-{} prefixes={} lpm_bytes={} ({:.2} B/pfx) lpm+rib_bytes(counted)={} ({:.2} B/pfx) shape={:?} build_shuffled={:.1?} | prefix-trie bytes(counted)={} ({:.2} B/pfx) build_shuffled={:.1?}",
        K::TAG,
        fib.len(),
        fib.memory_bytes(),
        fib.memory_bytes() as f64 / n,
        total,
        total as f64 / n,
        fib.lpm().shape(),
        build,
        pt_bytes,
        pt_bytes as f64 / n,
        pt_build
    );
    drop(pt);
    // Replay the 24 h stream one update at a time.
    let ops = ris::replay_ops(&updates);
    let mut times = Vec::with_capacity(ops.len());
    let t = Instant::now();
    for op in &ops {
        let t0 = Instant::now();
        fib.apply(std::slice::from_ref(op)).expect("valid update");
        times.push(t0.elapsed());
    }
    let total_t = t.elapsed();
    times.sort_unstable();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "REPORT fib-{} single-update replay: {} updates in {:.2?}: mean {:.2?} p50 {:.2?} p99 {:.2?} p99.9 {:.2?} max {:.2?}; after: {:.2} B/pfx",
        K::TAG,
        ops.len(),
        total_t,
        total_t / ops.len() as u32,
        p(0.5),
        p(0.99),
        p(0.999),
        times[times.len() - 1],
        fib.memory_bytes() as f64 / fib.len() as f64
    );
    // Batched replay through SharedFib, one publication per batch. The interval between
    // two publications is at most one whole `apply` call (the next batch publishes at
    // the end of its first patch): the issue's "publication at least every 50 ms" is
    // the `interval max` figure.
    let domain = psref::Domain::new();
    let shared = SharedFib::from_routes(routes.iter().copied(), &domain).expect("valid table");
    for batch in [4096, 16384, 65536, 131072] {
        let mut lat = Vec::new();
        let mut total = Vec::new();
        let t = Instant::now();
        for b in ops.chunks(batch) {
            let rep = shared.apply(b, &domain).expect("valid update");
            lat.push(rep.publish_latency);
            total.push(rep.total);
        }
        let total_t = t.elapsed();
        lat.sort_unstable();
        total.sort_unstable();
        println!(
            "REPORT fib-{} SharedFib batched replay ({batch} ops/batch): {:.2} M updates/s, publish latency p50 {:.2?} max {:.2?}, interval between publications max {:.2?}",
            K::TAG,
            ops.len() as f64 / total_t.as_secs_f64() / 1e6,
            lat[lat.len() / 2],
            lat[lat.len() - 1],
            total[total.len() - 1]
        );
    }
    // One reader thread doing in-table batch lookups (one read section per 1,024
    // addresses) while the writer alternates idle and replay windows.
    let mut r = Rng(9);
    let addrs: Vec<K> = (0..N)
        .map(|_| {
            let (a, l) = table[(r.next_u64() % table.len() as u64) as usize];
            K::inside(&mut r, a, l)
        })
        .collect();
    drop(shared);
    // Both fence protocols of psref: a membarrier domain (readers' section entry is a
    // plain store, every synchronize interrupts them) and a fenced one (readers fence,
    // writers never interrupt them).
    for fenced in [false, true] {
        let domain = if fenced {
            psref::Domain::fenced()
        } else {
            psref::Domain::new()
        };
        let shared = SharedFib::from_routes(routes.iter().copied(), &domain).expect("valid table");
        for per_pub in [1, 256, 16384, 131072] {
            reader_share::<K>(&shared, &domain, &addrs, &ops, per_pub);
        }
    }
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`, first field):
/// time other processes held the CPU is not counted.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The reader's rate while the writer replays `ops` (one publication per `per_pub` ops)
/// against its rate while the writer sleeps, in alternating 200 ms windows (idle, busy,
/// idle, ...: 8 busy windows), so that drift of the shared host hits both sides alike.
/// A busy window runs whole batches: it ends with the first batch finishing after 200 ms.
/// Each busy window is compared with the mean of the idle windows on either side; the
/// median of those ratios is reported, by wall time and by the reader's own CPU time
/// (which leaves out time other processes of this guest held its CPU).
fn reader_share<K: Bench>(
    shared: &SharedFib<K>,
    domain: &psref::Domain,
    addrs: &[K],
    ops: &[FibOp<K>],
    per_pub: usize,
) {
    const BUSY: usize = 8;
    const WINDOW: Duration = Duration::from_millis(200);
    let phase = std::sync::atomic::AtomicUsize::new(0);
    let done = 2 * BUSY + 1;
    let (windows, applied) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let rd = domain.reader();
            let mut out = vec![None; 1024];
            // Per window: lookups, wall time, CPU time.
            let mut w = vec![(0u64, Duration::ZERO, 0u64); done];
            let (mut t, mut c) = (Instant::now(), thread_cpu_ns());
            let mut cur = 0;
            loop {
                let p = phase.load(Ordering::Relaxed);
                if p != cur {
                    let (t2, c2) = (Instant::now(), thread_cpu_ns());
                    w[cur].1 = t2 - t;
                    w[cur].2 = c2 - c;
                    (t, c, cur) = (t2, c2, p);
                    if p == done {
                        break;
                    }
                }
                for a in addrs.chunks(1024) {
                    let g = rd.read();
                    shared.load(&g).lookup_batch(a, &mut out);
                }
                black_box(&out);
                w[cur].0 += addrs.len() as u64;
            }
            w
        });
        let mut next = ops.chunks(per_pub).cycle();
        let mut applied = (0usize, Duration::ZERO);
        for p in 0..done {
            let t = Instant::now();
            if p % 2 == 0 {
                std::thread::sleep(WINDOW);
            } else {
                while t.elapsed() < WINDOW {
                    let b = next.next().expect("cycled");
                    shared.apply(b, domain).expect("valid update");
                    applied.0 += b.len();
                }
                applied.1 += t.elapsed();
            }
            phase.store(p + 1, Ordering::Relaxed);
        }
        (reader.join().expect("reader"), applied)
    });
    let wall = |w: &(u64, Duration, u64)| w.0 as f64 / w.1.as_secs_f64();
    let cpu = |w: &(u64, Duration, u64)| w.0 as f64 / (w.2.max(1) as f64 / 1e9);
    let ratios = |f: &dyn Fn(&(u64, Duration, u64)) -> f64| {
        let mut v: Vec<f64> = (0..BUSY)
            .map(|b| {
                let i = 2 * b + 1;
                f(&windows[i]) / ((f(&windows[i - 1]) + f(&windows[i + 1])) / 2.0)
            })
            .collect();
        v.sort_by(f64::total_cmp);
        (v[BUSY / 2], v[0], v[BUSY - 1])
    };
    let (mw, lw, hw) = ratios(&wall);
    let (mc, lc, hc) = ratios(&cpu);
    let idle: Vec<f64> = windows.iter().step_by(2).map(wall).collect();
    println!(
        "REPORT fib-{} reader during replay ({:?} domain, {per_pub} ops/publication, {:.2} M updates/s while busy): idle {:.1} Mlps (median window); busy/idle median {:.0} % (min {:.0}, max {:.0}) by wall time, {:.0} % (min {:.0}, max {:.0}) by reader CPU time",
        K::TAG,
        domain.barrier_mode(),
        applied.0 as f64 / applied.1.as_secs_f64() / 1e6,
        {
            let mut v = idle.clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2] / 1e6
        },
        100.0 * mw,
        100.0 * lw,
        100.0 * hw,
        100.0 * mc,
        100.0 * lc,
        100.0 * hc,
    );
}

fn main() {
    println!(
        "fib bench: popcnt instruction {} (build with RUSTFLAGS=\"-C target-cpu=native\" or \"-C target-feature=+popcnt\")",
        if cfg!(target_feature = "popcnt") {
            "ENABLED"
        } else {
            "NOT enabled: software popcount"
        }
    );
    println!(
        "fib bench: IPv6 range compare compiled for {}",
        if cfg!(target_feature = "avx512f") {
            "AVX-512 (avx512f)"
        } else if cfg!(target_feature = "avx2") {
            "AVX2"
        } else {
            "baseline SSE2"
        }
    );
    let mut c = Criterion::default().configure_from_args();
    bench_family::<u32>(&mut c);
    bench_family::<u128>(&mut c);
    c.final_summary();
    // FIB_REPORT=1 reports both families, FIB_REPORT=v4 / v6 one of them.
    let report = std::env::var("FIB_REPORT").unwrap_or_default();
    if !report.is_empty() && report != "0" {
        if report != "v6" {
            report_family::<u32>();
        }
        if report != "v4" {
            report_family::<u128>();
        }
    }
}
