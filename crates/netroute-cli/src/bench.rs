//! `netroute bench`: the library's figures next to peer crates, in one process.
//!
//! What runs (each rate is the median of three timed rounds; `--quick` shortens rounds
//! and shrinks the tables so CI can run it):
//!
//! * **FIB**, both families: single-address and batch lookups of our compiled LPM next
//!   to prefix-trie 0.10 (the anchor of issue 5), for addresses inside table prefixes
//!   ("in-table") and uniform random ones, plus dependent lookups (each address depends
//!   on the previous answer); memory of both (counted by the allocator); build time.
//!   The other Rust LPM crates run in the same groups (`bench_peers.rs`: ts_bart,
//!   treebitmap, iptrie's LC-trie, poptrie), each checked against prefix-trie first;
//!   ratios stay against prefix-trie. The header says whether the build uses `popcnt`
//!   and which of `popcnt`/`avx2`/`avx512f` the CPU has (the code is compiled once, for
//!   the build's target features: `RUSTFLAGS="-C target-cpu=native"` to use them).
//! * **Updates**: a stream replayed into a [`SharedFib`] in batches while one reader
//!   thread looks up; the reader's rate idle (before and after the replay, averaged)
//!   and during the replay, and updates/s. The
//!   same replay into prefix-trie behind a `RwLock` and behind an `ArcSwap` rebuilt by
//!   copying (the single-writer peers made concurrent the usual two ways).
//! * **Route cache**: `RouteCache` hit paths against a fresh `RouteTables::lookup` on the
//!   same table (IPv4); withdrawing routes one at a time against `delete_many` while a
//!   forwarder thread reads.
//! * **VTW**: insert with oldest-first eviction in a full table and bytes per entry,
//!   next to a `HashMap` + FIFO holding the same facts.
//!
//! Tables: the built-in synthetic 2026-shaped tables (`netroute::synth`), or `--table
//! FILE` (one prefix per line, gzip allowed) for one family's real table.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netroute::ifnet::{AddrSpec, IfConfig, IfFlags};
use netroute::route::fib::{Fib, FibOp, Key, NextHop, SharedFib};
use netroute::route::{RouteCache, RouteSpec};
use netroute::synth::{self, SplitMix64, Update};
use netroute::timewait::{LocalAddrId, MslClass, TimeWaitInfo, Tuple, VtwConfig, VtwTable};
use netroute::{Stack, psref::Domain};
use prefix_trie::PrefixMap;
use serde::Serialize;

use crate::alloc_count;

/// Options of `netroute bench`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print the results as one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Draw lookups/s per structure and family, and the reader's rate during the
    /// update replay, into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// A real table (text, one prefix per line, optionally gzip) instead of the
    /// built-in synthetic ones; its family is benchmarked, the other family synthetic.
    #[arg(long, value_name = "FILE")]
    table: Option<PathBuf>,
    /// Short rounds and small tables (seconds, for CI).
    #[arg(long)]
    quick: bool,
    /// Seed of the synthetic tables and addresses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// What was measured (`fib-v4/in-table`, `vtw-v4/insert+evict`, …).
    pub(crate) group: String,
    /// Which structure or path.
    pub(crate) name: String,
    /// The value.
    pub(crate) value: f64,
    /// Its unit.
    pub(crate) unit: &'static str,
    /// The value divided by the peer's in the same group (higher is better for rates,
    /// lower for bytes), when there is a peer.
    pub(crate) ratio: Option<f64>,
}

/// Everything one run measured, as printed by `--json`.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// Where the tables came from.
    pub(crate) tables: String,
    /// Whether the CPU path used `popcnt` (compiled in).
    pub(crate) popcnt: bool,
    /// The CPU features this machine has that a `-C target-cpu=native` build would use
    /// (`popcnt`, `avx2`, `avx512f`; detected at run time), for reading the figures:
    /// the lookup code is compiled once, for the build's target features.
    pub(crate) cpu_has: Vec<&'static str>,
    /// The figures.
    pub(crate) rows: Vec<Row>,
    /// Reader lookups per 10 ms window across the update replay (for the plot), with
    /// the replay's start and end window.
    pub(crate) replay_timeline: Timeline,
}

/// The reader's rate over time during an update replay.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Timeline {
    /// Lookups per second in each 10 ms window.
    pub(crate) rates: Vec<f64>,
    /// First window of the replay.
    pub(crate) start: usize,
    /// First window after it.
    pub(crate) end: usize,
    /// The reader's mean rate over the whole replay (lookups counted from its first to
    /// its last update, over that time; also right for replays shorter than a window).
    pub(crate) during: f64,
}

struct Cfg {
    round: Duration,
    scale: f64,
    addrs: usize,
    vtw_entries: u32,
    updates: usize,
}

/// Runs every benchmark and prints the report. A bad `--table` file is a bad-input
/// error (exit 3); anything else an operational failure.
pub(crate) fn run(args: &Args) -> Result<(), netroute_cli::CliError> {
    use netroute_cli::CliError;
    let quick = args.quick;
    let cfg = config(quick);
    let t = tables(args, &cfg).map_err(CliError::bad_input)?;
    run_with(args, &cfg, t).map_err(CliError::failure)
}

fn config(quick: bool) -> Cfg {
    if quick {
        Cfg {
            round: Duration::from_millis(40),
            scale: 0.05,
            addrs: 1 << 14,
            vtw_entries: 1 << 16,
            updates: 20_000,
        }
    } else {
        Cfg {
            round: Duration::from_millis(300),
            scale: 1.0,
            addrs: 1 << 16,
            vtw_entries: 1 << 20,
            updates: 400_000,
        }
    }
}

fn run_with(
    args: &Args,
    cfg: &Cfg,
    (v4, v6, tables): (Table<u32>, Table<u128>, String),
) -> Result<(), String> {
    let mut rows = Vec::new();
    eprintln!(
        "bench: {} IPv4 and {} IPv6 prefixes ({tables})",
        v4.len(),
        v6.len()
    );
    fib_family::<u32>("v4", &v4, cfg, args.seed, &mut rows);
    fib_family::<u128>("v6", &v6, cfg, args.seed, &mut rows);
    let timeline = replay::<u32>("v4", &v4, cfg, args.seed, &mut rows);
    replay::<u128>("v6", &v6, cfg, args.seed, &mut rows);
    route_cache(&v4, cfg, &mut rows)?;
    vtw(cfg, &mut rows)?;
    let report = Report {
        tables,
        popcnt: cfg!(target_feature = "popcnt"),
        cpu_has: cpu_features(),
        rows,
        replay_timeline: timeline,
    };
    if let Some(path) = &args.plot {
        crate::bench_plot::draw(path, &report)?;
        eprintln!("bench: wrote {}", path.display());
    }
    if args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{s}");
    } else {
        print_table(&report);
    }
    Ok(())
}

type Table<K> = Vec<(K, u8)>;

fn tables(args: &Args, cfg: &Cfg) -> Result<(Table<u32>, Table<u128>, String), String> {
    let mut v4: Table<u32> = synth::ipv4_table(args.seed, cfg.scale)
        .iter()
        .map(|n| (u32::from(n.addr()), n.prefix_len()))
        .collect();
    let mut v6: Table<u128> = synth::ipv6_table(args.seed, cfg.scale)
        .iter()
        .map(|n| (u128::from(n.addr()), n.prefix_len()))
        .collect();
    let mut what = format!("synthetic 2026-shaped tables, scale {}", cfg.scale);
    if let Some(path) = &args.table {
        let nets: Vec<ipnet::IpNet> = netroute_cli::input::read_table(path)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|e| e.prefix)
            .collect();
        let (a, b): (Vec<_>, Vec<_>) = nets.into_iter().partition(|n| n.addr().is_ipv4());
        if !a.is_empty() {
            v4 = a
                .iter()
                .filter_map(|n| match n.addr() {
                    IpAddr::V4(x) => Some((u32::from(x), n.prefix_len())),
                    IpAddr::V6(_) => None,
                })
                .collect();
        }
        if !b.is_empty() {
            v6 = b
                .iter()
                .filter_map(|n| match n.addr() {
                    IpAddr::V6(x) => Some((u128::from(x), n.prefix_len())),
                    IpAddr::V4(_) => None,
                })
                .collect();
        }
        what = format!("{} (other family synthetic)", path.display());
    }
    Ok((v4, v6, what))
}

/// The median of three rounds of `f`, each repeated until `round` has passed; `f`
/// returns how many operations it did. Operations per second.
pub(crate) fn rate(round: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut ops = 0u64;
            while t.elapsed() < round {
                ops += f();
            }
            ops as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
}

fn nh_of(i: u64) -> NextHop {
    NextHop::new(1 + (i % 500) as u32).expect("in range")
}

/// Address generation per family.
trait Family: Key + Copy + Send + Sync + 'static + crate::bench_peers::PeerFamily
where
    (Self, u8): prefix_trie::Prefix,
{
    fn random(r: &mut SplitMix64) -> Self;
    fn inside(r: &mut SplitMix64, a: Self, len: u8) -> Self;
    fn host(self) -> (Self, u8);
    fn mix(self, nh: Option<NextHop>) -> Self;
}

impl Family for u32 {
    fn random(r: &mut SplitMix64) -> u32 {
        (r.next_u64() >> 32) as u32
    }
    fn inside(r: &mut SplitMix64, a: u32, len: u8) -> u32 {
        let host = if len >= 32 { 0 } else { u32::MAX >> len };
        a | (Self::random(r) & host)
    }
    fn host(self) -> (u32, u8) {
        (self, 32)
    }
    fn mix(self, nh: Option<NextHop>) -> u32 {
        // Next hops are < 2^10: shifting them out leaves 0 the compiler cannot see; it
        // goes into the top bit (as the criterion bench does, and as the feasibility
        // study advises: low bits let the CPU start the next lookup's first steps).
        self ^ ((u32::from(nh.map_or(0, |n| n.index())) >> 12) << 31)
    }
}

impl Family for u128 {
    fn random(r: &mut SplitMix64) -> u128 {
        // Uniform over 2000::/3, where the table lives.
        (u128::from(r.next_u64()) << 64 | u128::from(r.next_u64())) >> 3 | 1 << 125
    }
    fn inside(r: &mut SplitMix64, a: u128, len: u8) -> u128 {
        let x = u128::from(r.next_u64()) << 64 | u128::from(r.next_u64());
        let host = if len >= 128 { 0 } else { u128::MAX >> len };
        a | (x & host)
    }
    fn host(self) -> (u128, u8) {
        (self, 128)
    }
    fn mix(self, nh: Option<NextHop>) -> u128 {
        self ^ ((u128::from(nh.map_or(0, |n| n.index())) >> 12) << 127)
    }
}

pub(crate) fn push(rows: &mut Vec<Row>, group: &str, name: &str, value: f64, unit: &'static str) {
    rows.push(Row {
        group: group.to_owned(),
        name: name.to_owned(),
        value,
        unit,
        ratio: None,
    });
}

/// Sets `ratio` of every row of `group` against the row named `peer`.
fn ratios(rows: &mut [Row], group: &str, peer: &str, lower_is_better: bool) {
    let Some(p) = rows
        .iter()
        .find(|r| r.group == group && r.name == peer)
        .map(|r| r.value)
    else {
        return;
    };
    for r in rows
        .iter_mut()
        .filter(|r| r.group == group && r.name != peer)
    {
        r.ratio = Some(if lower_is_better {
            p / r.value
        } else {
            r.value / p
        });
    }
}

fn fib_family<K: Family>(tag: &str, table: &Table<K>, cfg: &Cfg, seed: u64, rows: &mut Vec<Row>)
where
    (K, u8): prefix_trie::Prefix,
{
    let mut r = SplitMix64::new(seed ^ 0xF1B);
    let routes: Vec<(K, u8, NextHop)> = table
        .iter()
        .enumerate()
        .map(|(i, &(a, l))| (a, l, nh_of(i as u64)))
        .collect();
    let before = alloc_count::live();
    let t = Instant::now();
    let fib = match Fib::from_routes(routes.iter().copied()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench: fib-{tag}: {e}");
            return;
        }
    };
    let build = t.elapsed();
    let ours_bytes = alloc_count::live().saturating_sub(before);
    let before = alloc_count::live();
    let t = Instant::now();
    let mut pt: PrefixMap<(K, u8), u16> = PrefixMap::new();
    for &(a, l, n) in &routes {
        pt.insert((a, l), n.index());
    }
    let pt_build = t.elapsed();
    let pt_bytes = alloc_count::live().saturating_sub(before);
    let n = routes.len().max(1) as f64;
    let g = format!("fib-{tag}/memory");
    push(
        rows,
        &g,
        "ours (compiled LPM)",
        fib.memory_bytes() as f64 / n,
        "B/prefix",
    );
    push(
        rows,
        &g,
        "ours (LPM + RIB, counted)",
        ours_bytes as f64 / n,
        "B/prefix",
    );
    push(rows, &g, "prefix-trie", pt_bytes as f64 / n, "B/prefix");
    ratios(rows, &g, "prefix-trie", true);
    let g = format!("fib-{tag}/build");
    push(rows, &g, "ours", build.as_secs_f64() * 1e3, "ms");
    push(rows, &g, "prefix-trie", pt_build.as_secs_f64() * 1e3, "ms");
    ratios(rows, &g, "prefix-trie", true);

    // Answers must agree before anything is timed.
    let lpm = fib.lpm();
    let mut check = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let (a, l) = table[r.below(table.len() as u64) as usize];
        let x = K::inside(&mut r, a, l);
        let want = pt.get_lpm(&x.host()).map(|(_, &v)| v);
        assert_eq!(
            lpm.lookup(x).map(|h| h.index()),
            want,
            "fib-{tag} disagrees"
        );
        check.push((x, want));
    }
    let in_table: Vec<K> = (0..cfg.addrs)
        .map(|_| {
            let (a, l) = table[r.below(table.len() as u64) as usize];
            K::inside(&mut r, a, l)
        })
        .collect();
    let uniform: Vec<K> = (0..cfg.addrs).map(|_| K::random(&mut r)).collect();
    let mut out = vec![None; 64];
    for (name, addrs) in [("in-table", &in_table), ("uniform", &uniform)] {
        let g = format!("fib-{tag}/{name}");
        let single = rate(cfg.round, || {
            let mut s = 0u64;
            for &a in addrs.iter() {
                s = s.wrapping_add(lpm.lookup(a).map_or(0, |h| u64::from(h.index())));
            }
            black_box(s);
            addrs.len() as u64
        });
        let batch = rate(cfg.round, || {
            for c in addrs.chunks(64) {
                lpm.lookup_batch(c, &mut out[..c.len()]);
                black_box(&out);
            }
            addrs.len() as u64
        });
        let peer = rate(cfg.round, || {
            let mut s = 0u64;
            for &a in addrs.iter() {
                s = s.wrapping_add(pt.get_lpm(&a.host()).map_or(0, |(_, &v)| u64::from(v)));
            }
            black_box(s);
            addrs.len() as u64
        });
        push(rows, &g, "ours single", single, "lookups/s");
        push(rows, &g, "ours batch", batch, "lookups/s");
        push(rows, &g, "prefix-trie", peer, "lookups/s");
        ratios(rows, &g, "prefix-trie", false);
    }
    let g = format!("fib-{tag}/dependent");
    let ours = rate(cfg.round, || {
        let mut prev = None;
        for &a in &in_table {
            prev = lpm.lookup(a.mix(prev));
        }
        black_box(prev);
        in_table.len() as u64
    });
    let peer = rate(cfg.round, || {
        let mut prev: Option<NextHop> = None;
        for &a in &in_table {
            prev = pt
                .get_lpm(&a.mix(prev).host())
                .and_then(|(_, &v)| NextHop::new(u32::from(v)).ok());
        }
        black_box(prev);
        in_table.len() as u64
    });
    push(rows, &g, "ours", ours, "lookups/s");
    push(rows, &g, "prefix-trie", peer, "lookups/s");
    ratios(rows, &g, "prefix-trie", false);

    // The other peers, then every group's ratios again (to prefix-trie, as before).
    let mut ctx =
        crate::bench_peers::Ctx::new(tag, &routes, &check, &in_table, &uniform, cfg.round, rows);
    crate::bench_peers::run(&mut ctx);
    for (g, lower) in [
        ("memory", true),
        ("build", true),
        ("in-table", false),
        ("uniform", false),
        ("dependent", false),
    ] {
        ratios(rows, &format!("fib-{tag}/{g}"), "prefix-trie", lower);
    }
    group_rows(rows);
}

/// Brings the rows of each group together, groups in order of first appearance, rows
/// in order within a group.
fn group_rows(rows: &mut [Row]) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        first.entry(r.group.clone()).or_insert(i);
    }
    rows.sort_by_key(|r| first[&r.group]);
}

/// Replays a synthetic update stream into a [`SharedFib`] (batches of 1,024, one
/// publication each) while a reader thread looks up in-table addresses in sections of
/// 64 lookups; returns the reader's timeline. The FIB lives in a fenced psref domain,
/// as its docs recommend for a FIB updated while it is read (grace periods do not
/// interrupt the reader).
fn replay<K: Family>(
    tag: &str,
    table: &Table<K>,
    cfg: &Cfg,
    seed: u64,
    rows: &mut Vec<Row>,
) -> Timeline
where
    (K, u8): prefix_trie::Prefix,
{
    let domain = Domain::fenced();
    let routes = table
        .iter()
        .enumerate()
        .map(|(i, &(a, l))| (a, l, nh_of(i as u64)));
    let shared = match SharedFib::from_routes(routes, &domain) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: replay-{tag}: {e}");
            return Timeline::default();
        }
    };
    let ops: Vec<FibOp<K>> = synth::updates(table, seed, cfg.updates)
        .into_iter()
        .enumerate()
        .map(|(i, u)| match u {
            Update::Announce((addr, len)) => FibOp::Insert {
                addr,
                len,
                nh: nh_of(i as u64 * 7),
            },
            Update::Withdraw((addr, len)) => FibOp::Remove { addr, len },
        })
        .collect();
    let mut r = SplitMix64::new(seed ^ 0x5EED);
    let addrs: Vec<K> = (0..cfg.addrs)
        .map(|_| {
            let (a, l) = table[r.below(table.len() as u64) as usize];
            K::inside(&mut r, a, l)
        })
        .collect();
    let (timeline, replay_time) = drive(
        &ops,
        cfg,
        |stop, done| {
            let reader = domain.reader();
            let mut out = [None; 64];
            let (mut i, mut n) = (0usize, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let g = reader.read();
                let lpm = shared.load(&g);
                let c = &addrs[i..i + 64];
                lpm.lookup_batch(c, &mut out);
                black_box(&out);
                drop(g);
                i = (i + 64) % (addrs.len() - 64);
                n += 64;
                done.store(n, Ordering::Relaxed);
            }
        },
        |batch| {
            shared
                .apply(batch, &domain)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .unwrap_or_else(|(t, d, e)| {
        eprintln!("bench: replay-{tag}: {e}");
        (t, d)
    });
    replay_rows(
        rows,
        tag,
        "SharedFib::apply (batches of 1,024)",
        "",
        ops.len(),
        &timeline,
        replay_time,
    );
    replay_peers(tag, table, &ops, &addrs, cfg, rows);
    timeline
}

/// The rows of one replay: updates/s in `replay-TAG/updates` under `name`, and the
/// reader's idle and during rates in `replay-TAG/one reader threadSUFFIX`.
fn replay_rows(
    rows: &mut Vec<Row>,
    tag: &str,
    name: &str,
    suffix: &str,
    ops: usize,
    timeline: &Timeline,
    took: Duration,
) {
    let updates = ops as f64 / took.as_secs_f64();
    push(
        rows,
        &format!("replay-{tag}/updates"),
        name,
        updates,
        "updates/s",
    );
    let (idle, during) = timeline.idle_and_during();
    let g = format!("replay-{tag}/one reader thread{suffix}");
    push(rows, &g, "reader idle", idle, "lookups/s");
    push(rows, &g, "reader during replay", during, "lookups/s");
    ratios(rows, &g, "reader idle", false);
}

impl Timeline {
    /// Mean reader rate while idle (the windows before the replay and after it, so that
    /// a host slowing down or speeding up over the run biases neither side) and during
    /// the replay.
    fn idle_and_during(&self) -> (f64, f64) {
        let end = self.end.min(self.rates.len());
        let idle: Vec<f64> = self.rates[..self.start.min(end)]
            .iter()
            .chain(&self.rates[end..])
            .copied()
            .collect();
        (
            idle.iter().sum::<f64>() / idle.len().max(1) as f64,
            self.during,
        )
    }
}

/// Runs `reader` on its own thread (it loops until the flag is set, storing its running
/// count of lookups in the counter: a plain store, not a read-modify-write, so counting
/// costs the reader next to nothing), samples its rate every 10 ms while idle, while `apply` replays `ops`
/// in batches of 1,024, and idle again. Returns the timeline and the replay's duration;
/// an `apply` error stops the replay and comes back with both.
#[allow(clippy::type_complexity)]
fn drive<K>(
    ops: &[FibOp<K>],
    cfg: &Cfg,
    reader: impl Fn(&AtomicBool, &AtomicU64) + Sync,
    mut apply: impl FnMut(&[FibOp<K>]) -> Result<(), String>,
) -> Result<(Timeline, Duration), (Timeline, Duration, String)> {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let window = Duration::from_millis(10);
    let idle = cfg.round * 2;
    let mut timeline = Timeline::default();
    let mut replay_time = Duration::ZERO;
    let mut failed = None;
    std::thread::scope(|s| {
        let r = s.spawn(|| reader(&stop, &done));
        let sample = |tl: &mut Timeline, last: &mut u64| {
            let now = done.load(Ordering::Relaxed);
            tl.rates.push((now - *last) as f64 / window.as_secs_f64());
            *last = now;
        };
        let mut last = 0u64;
        let t = Instant::now();
        while t.elapsed() < idle {
            std::thread::sleep(window);
            sample(&mut timeline, &mut last);
        }
        timeline.start = timeline.rates.len();
        let t0 = Instant::now();
        let done0 = done.load(Ordering::Relaxed);
        let mut next = t0 + window;
        for batch in ops.chunks(1024) {
            if let Err(e) = apply(batch) {
                failed = Some(e);
                break;
            }
            while Instant::now() >= next {
                sample(&mut timeline, &mut last);
                next += window;
            }
        }
        replay_time = t0.elapsed();
        timeline.during = (done.load(Ordering::Relaxed) - done0) as f64 / replay_time.as_secs_f64();
        timeline.end = timeline.rates.len();
        let t = Instant::now();
        while t.elapsed() < idle {
            std::thread::sleep(window);
            sample(&mut timeline, &mut last);
        }
        stop.store(true, Ordering::Relaxed);
        let _ = r.join();
    });
    match failed {
        None => Ok((timeline, replay_time)),
        Some(e) => Err((timeline, replay_time, e)),
    }
}

/// The concurrent-update peers of issue 5: prefix-trie (single writer) behind a
/// `RwLock` (the reader takes the read lock per section of 64 lookups, the writer the
/// write lock per batch of 1,024 updates), and behind an `ArcSwap` rebuilt by copying:
/// the writer applies each batch to its private copy and publishes a clone of it once
/// at least 50 ms passed since the last publication (and at the end), the reader loads
/// the current map once per section.
fn replay_peers<K: Family>(
    tag: &str,
    table: &Table<K>,
    ops: &[FibOp<K>],
    addrs: &[K],
    cfg: &Cfg,
    rows: &mut Vec<Row>,
) where
    (K, u8): prefix_trie::Prefix,
{
    let base: PrefixMap<(K, u8), u16> = table
        .iter()
        .enumerate()
        .map(|(i, &(a, l))| ((a, l), nh_of(i as u64).index()))
        .collect();
    let apply_to = |m: &mut PrefixMap<(K, u8), u16>, batch: &[FibOp<K>]| {
        for op in batch {
            match *op {
                FibOp::Insert { addr, len, nh } => {
                    m.insert((addr, len), nh.index());
                }
                FibOp::Remove { addr, len } => {
                    m.remove(&(addr, len));
                }
            }
        }
    };
    let section = |m: &PrefixMap<(K, u8), u16>, c: &[K]| {
        let mut s = 0u64;
        for &a in c {
            s = s.wrapping_add(m.get_lpm(&a.host()).map_or(0, |(_, &v)| u64::from(v)));
        }
        black_box(s);
    };
    let mut report = |name: &str, timeline: &Timeline, d: Duration| {
        replay_rows(
            rows,
            tag,
            name,
            &format!(", {name}"),
            ops.len(),
            timeline,
            d,
        );
    };

    let locked = std::sync::RwLock::new(base.clone());
    let read = |stop: &AtomicBool, done: &AtomicU64| {
        let (mut i, mut n) = (0usize, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let m = locked.read().unwrap_or_else(|e| e.into_inner());
            section(&m, &addrs[i..i + 64]);
            drop(m);
            i = (i + 64) % (addrs.len() - 64);
            n += 64;
            done.store(n, Ordering::Relaxed);
        }
    };
    let write = |batch: &[FibOp<K>]| {
        let mut m = locked.write().unwrap_or_else(|e| e.into_inner());
        apply_to(&mut m, batch);
        Ok(())
    };
    if let Ok((t, d)) = drive(ops, cfg, read, write) {
        report("prefix-trie in a RwLock", &t, d);
    }

    let swapped = arc_swap::ArcSwap::from_pointee(base.clone());
    let mut private = base;
    let mut published = Instant::now();
    let chunks = ops.chunks(1024).count();
    let mut applied = 0usize;
    let read = |stop: &AtomicBool, done: &AtomicU64| {
        let (mut i, mut n) = (0usize, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let m = swapped.load();
            section(&m, &addrs[i..i + 64]);
            drop(m);
            i = (i + 64) % (addrs.len() - 64);
            n += 64;
            done.store(n, Ordering::Relaxed);
        }
    };
    let write = |batch: &[FibOp<K>]| {
        apply_to(&mut private, batch);
        applied += 1;
        if published.elapsed() >= Duration::from_millis(50) || applied == chunks {
            swapped.store(Arc::new(private.clone()));
            published = Instant::now();
        }
        Ok(())
    };
    if let Ok((t, d)) = drive(ops, cfg, read, write) {
        report(
            "prefix-trie in an ArcSwap, copied per publication (≥ 50 ms)",
            &t,
            d,
        );
    }
}

fn route_cache(table: &Table<u32>, cfg: &Cfg, rows: &mut Vec<Row>) -> Result<(), String> {
    let stack = Stack::new();
    let eth0 = stack
        .ifs()
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .map_err(|e| e.to_string())?;
    stack
        .ifs()
        .add_addr(eth0, AddrSpec::new([100, 64, 0, 1], 16))
        .map_err(|e| e.to_string())?;
    let rt = stack.routes();
    let specs: Vec<RouteSpec> = table
        .iter()
        .enumerate()
        .map(|(i, &(a, l))| {
            let net = ipnet::Ipv4Net::new(Ipv4Addr::from(a), l).expect("valid length");
            RouteSpec::new(net.into()).via(Ipv4Addr::new(100, 64, 1, 1 + (i % 200) as u8))
        })
        .collect();
    let t = Instant::now();
    let ok = rt.add_many(&specs).iter().filter(|r| r.is_ok()).count();
    let g = "route/load";
    push(
        rows,
        g,
        "RouteTables::add_many",
        ok as f64 / t.elapsed().as_secs_f64(),
        "routes/s",
    );
    let mut r = SplitMix64::new(7);
    let dsts: Vec<Ipv4Addr> = (0..cfg.addrs.min(4096))
        .map(|_| {
            let (a, l) = table[r.below(table.len() as u64) as usize];
            Ipv4Addr::from(u32::inside(&mut r, a, l))
        })
        .collect();
    let mut flows: Vec<RouteCache> = dsts
        .iter()
        .take(32)
        .map(|&d| {
            let mut c = RouteCache::new();
            let _ = c.lookup(rt, d);
            c
        })
        .collect();
    let g = "route/per-packet";
    let reader = rt.domain().reader();
    let shared = rate(cfg.round, || {
        for _ in 0..64 {
            let guard = reader.read();
            for c in flows.iter_mut() {
                black_box(c.validate_shared(rt, &guard).map(|e| e.get().ifindex()));
            }
        }
        64 * 32
    });
    let psref = rate(cfg.round, || {
        for _ in 0..64 {
            for c in flows.iter_mut() {
                black_box(c.validate(rt).map(|e| e.ifindex()));
            }
        }
        64 * 32
    });
    let fresh = rate(cfg.round, || {
        for &d in &dsts {
            black_box(rt.lookup(d, false).map(|e| e.ifindex()));
        }
        dsts.len() as u64
    });
    push(
        rows,
        g,
        "RouteCache::validate_shared (32 flows/section)",
        shared,
        "packets/s",
    );
    push(rows, g, "RouteCache::validate (psref)", psref, "packets/s");
    push(
        rows,
        g,
        "RouteTables::lookup (fresh, rtalloc1)",
        fresh,
        "packets/s",
    );
    ratios(rows, g, "RouteTables::lookup (fresh, rtalloc1)", false);
    withdraw(rt, &specs, &dsts, cfg, rows);
    Ok(())
}

/// Withdrawing routes while a forwarder thread keeps looking up (read sections of 64
/// lookups): `RouteTables::delete` one route at a time (a grace period and a drain
/// each) against `RouteTables::delete_many` in batches of 1,024 (one each per batch),
/// on disjoint halves of the same routes.
fn withdraw(
    rt: &netroute::route::RouteTables,
    specs: &[RouteSpec],
    dsts: &[Ipv4Addr],
    cfg: &Cfg,
    rows: &mut Vec<Row>,
) {
    use netroute::route::RouteKey;
    let n = specs
        .len()
        .min(if cfg.scale < 1.0 { 4_000 } else { 40_000 });
    let keys: Vec<RouteKey> = specs[..n].iter().map(|s| RouteKey::new(s.dst)).collect();
    let (one, many) = keys.split_at(n / 2);
    let stop = AtomicBool::new(false);
    let (mut t_one, mut t_many) = (Duration::ZERO, Duration::ZERO);
    let (mut ok_one, mut ok_many) = (0usize, 0usize);
    std::thread::scope(|s| {
        s.spawn(|| {
            let reader = rt.domain().reader();
            while !stop.load(Ordering::Relaxed) {
                let g = reader.read();
                for d in dsts.iter().take(64) {
                    black_box(rt.lookup_shared(&g, &(*d).into()).is_some());
                }
            }
        });
        let t = Instant::now();
        ok_one = one.iter().filter(|k| rt.delete(k).is_ok()).count();
        t_one = t.elapsed();
        let t = Instant::now();
        for c in many.chunks(1024) {
            ok_many += rt.delete_many(c).iter().filter(|r| r.is_ok()).count();
        }
        t_many = t.elapsed();
        stop.store(true, Ordering::Relaxed);
    });
    let g = "route/withdraw, one forwarder reading";
    push(
        rows,
        g,
        "RouteTables::delete, one at a time",
        ok_one as f64 / t_one.as_secs_f64(),
        "routes/s",
    );
    push(
        rows,
        g,
        "RouteTables::delete_many, batches of 1,024",
        ok_many as f64 / t_many.as_secs_f64(),
        "routes/s",
    );
    ratios(rows, g, "RouteTables::delete, one at a time", false);
}

fn tw_info(i: u64) -> TimeWaitInfo {
    TimeWaitInfo {
        snd_nxt: i as u32,
        rcv_nxt: (i >> 7) as u32,
        rcv_wnd: 65_535,
        rcv_wscale: 7,
        ts_recent: Some(i as u32 ^ 0x55),
        uid: 1000,
        reuse_addr: false,
        reuse_port: false,
        v6only: false,
    }
}

fn tw_tuple(i: u64) -> Tuple<Ipv4Addr> {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Tuple {
        local: LocalAddrId(0),
        lport: 443,
        faddr: Ipv4Addr::from((x >> 32) as u32),
        fport: (x >> 16) as u16 | 1024,
    }
}

/// The same facts as a VTW entry, kept the simple way.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct PlainEntry {
    info: TimeWaitInfo,
    class: MslClass,
    expire_ms: u64,
}

fn vtw(cfg: &Cfg, rows: &mut Vec<Row>) -> Result<(), String> {
    let cap = cfg.vtw_entries;
    let mut vcfg = VtwConfig::with_entries(cap);
    vcfg.capacity.loopback = 0;
    vcfg.capacity.local = 0;
    vcfg.capacity.remote = cap;
    let before = alloc_count::live();
    let mut t = VtwTable::<Ipv4Addr>::new(vcfg).map_err(|e| e.to_string())?;
    let live90 = u64::from(cap) * 9 / 10;
    let mut i = 0u64;
    while i < live90 {
        t.insert(tw_tuple(i), MslClass::Remote, tw_info(i), 0)
            .map_err(|e| e.to_string())?;
        i += 1;
    }
    let ours_bytes = alloc_count::live().saturating_sub(before) as f64 / live90 as f64;
    // Full: every insert evicts the oldest.
    while i < u64::from(cap) {
        let _ = t.insert(tw_tuple(i), MslClass::Remote, tw_info(i), 0);
        i += 1;
    }
    let ours = rate(cfg.round, || {
        for _ in 0..1024 {
            let _ = t.insert(tw_tuple(i), MslClass::Remote, tw_info(i), 0);
            i += 1;
        }
        1024
    });
    let before = alloc_count::live();
    let mut m: HashMap<Tuple<Ipv4Addr>, PlainEntry> = HashMap::new();
    let mut fifo: VecDeque<Tuple<Ipv4Addr>> = VecDeque::new();
    let mut j = 0u64;
    let put = |m: &mut HashMap<_, _>, fifo: &mut VecDeque<_>, j: u64| {
        if fifo.len() as u64 >= u64::from(cap)
            && let Some(old) = fifo.pop_front()
        {
            m.remove(&old);
        }
        let k = tw_tuple(j);
        m.insert(
            k,
            PlainEntry {
                info: tw_info(j),
                class: MslClass::Remote,
                expire_ms: 120_000,
            },
        );
        fifo.push_back(k);
    };
    while j < live90 {
        put(&mut m, &mut fifo, j);
        j += 1;
    }
    let plain_bytes = alloc_count::live().saturating_sub(before) as f64 / live90 as f64;
    while j < u64::from(cap) {
        put(&mut m, &mut fifo, j);
        j += 1;
    }
    let plain = rate(cfg.round, || {
        for _ in 0..1024 {
            put(&mut m, &mut fifo, j);
            j += 1;
        }
        1024
    });
    let g = "vtw-v4/memory (90% full)";
    push(rows, g, "VTW", ours_bytes, "B/entry");
    push(rows, g, "HashMap + FIFO", plain_bytes, "B/entry");
    ratios(rows, g, "HashMap + FIFO", true);
    let g = "vtw-v4/insert, evicting oldest (100% full)";
    push(rows, g, "VTW", ours, "inserts/s");
    push(rows, g, "HashMap + FIFO", plain, "inserts/s");
    ratios(rows, g, "HashMap + FIFO", false);
    black_box((&m, &fifo, t.len()));
    vtw_threads(cfg, rows)?;
    vtw_churn(cfg, rows)
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`, first field), so
/// a loaded machine's waiting is not counted; wall time where that file is missing. The
/// kernel brings the figure up to date at scheduler ticks, so it can lag by one tick
/// (a few ms): the timed windows are made much longer than that.
fn thread_cpu_ns(wall: Instant) -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| wall.elapsed().as_nanos() as u64)
}

/// Bytes a TIME_WAIT connection holds without VTW, in the full-PCB model: NetBSD's VTW
/// headline ("103 megabytes more free RAM … approximately 64k vestigial PCBs",
/// `tcp_vtw.c`) is ≈ 1,648 B per connection — the inpcb, tcpcb and socket (with its
/// buffers' bookkeeping) that stay allocated for 2×MSL. FreeBSD's 2008 UMA figure of a
/// 728 B tcpcb alone is the lower bound (`timewait.md` §1–3).
const FULL_PCB_BYTES: usize = 1_648;

/// The churn simulation: `rate` connections per second enter TIME_WAIT, 20 % loopback,
/// 30 % local, 50 % remote (MSLT defaults: 2 / 10 / 60 s of TIME_WAIT), on a simulated
/// clock in 1 ms steps with NetBSD's 200 ms `vtw_tick`. After 60 simulated seconds
/// (steady state) `measure_s` more are timed. Each connection's control block is
/// allocated (1,648 B) when it closes in both models; with VTW it is freed at once and a
/// vestige inserted, without VTW it stays in a PCB hash and a per-class 2×MSL queue
/// until it expires. Reported: memory held per TIME_WAIT connection and in total at
/// steady state (counting allocator), and CPU time per connection (this thread's run
/// time, so waiting on a loaded machine is not counted).
fn vtw_churn(cfg: &Cfg, rows: &mut Vec<Row>) -> Result<(), String> {
    let quick = cfg.vtw_entries < 1 << 20;
    let rate: u64 = if quick { 2_000 } else { 5_000 };
    let measure_s: u64 = if quick { 30 } else { 120 };
    let tw_ms = [2_000u64, 10_000, 60_000];
    let class_of = |i: u64| match i % 10 {
        0 | 1 => MslClass::Loopback,
        2..=4 => MslClass::Local,
        _ => MslClass::Remote,
    };
    let share = [0.2, 0.3, 0.5];
    // Steady-state TIME_WAIT population per class, with 10 % headroom for the capacity.
    let live: Vec<u64> = (0..3)
        .map(|c| (rate as f64 * share[c] * tw_ms[c] as f64 / 1000.0) as u64)
        .collect();
    let per_ms = rate / 1000;
    let warm_ms = 60_000u64;
    let total_ms = warm_ms + measure_s * 1000;
    let group =
        format!("vtw-churn ({rate} conn/s; 20/30/50 % loopback/local/remote; TIME_WAIT 2/10/60 s)");

    // With VTW.
    let mut vcfg = VtwConfig::with_entries(3);
    vcfg.capacity.loopback = (live[0] * 11 / 10) as u32;
    vcfg.capacity.local = (live[1] * 11 / 10) as u32;
    vcfg.capacity.remote = (live[2] * 11 / 10) as u32;
    let before = alloc_count::live();
    let mut t = VtwTable::<Ipv4Addr>::new(vcfg).map_err(|e| e.to_string())?;
    let mut i = 0u64;
    let (mut cpu0, mut vtw_mem, mut vtw_live) = (0u64, 0usize, 0usize);
    let wall = Instant::now();
    for now in 0..total_ms {
        if now == warm_ms {
            cpu0 = thread_cpu_ns(wall);
        }
        for _ in 0..per_ms {
            let pcb = vec![0u8; FULL_PCB_BYTES];
            black_box(&pcb);
            drop(pcb);
            let _ = t.insert(tw_tuple(i), class_of(i), tw_info(i), now);
            i += 1;
        }
        if now % 200 == 0 {
            t.expire(now);
        }
        if now == total_ms - 1 {
            vtw_live = t.len();
            vtw_mem = alloc_count::live().saturating_sub(before);
        }
    }
    let vtw_cpu = (thread_cpu_ns(wall) - cpu0) as f64 / (measure_s * rate) as f64;
    let evicted = t.stats().evicted;
    drop(t);

    // Without VTW: full PCBs in a PCB hash plus per-class 2×MSL queues.
    let full = |mslt: bool| -> (f64, usize, usize) {
        let before = alloc_count::live();
        let mut pcbs: HashMap<Tuple<Ipv4Addr>, Box<[u8]>> = HashMap::new();
        let mut q: [VecDeque<(u64, Tuple<Ipv4Addr>)>; 3] = Default::default();
        let (mut cpu0, mut mem, mut n) = (0u64, 0usize, 0usize);
        let mut i = 0u64;
        let wall = Instant::now();
        for now in 0..total_ms {
            if now == warm_ms {
                cpu0 = thread_cpu_ns(wall);
            }
            for _ in 0..per_ms {
                let c = if mslt { class_of(i).index() } else { 2 };
                let k = tw_tuple(i);
                pcbs.insert(k, vec![0u8; FULL_PCB_BYTES].into_boxed_slice());
                q[c].push_back((now + tw_ms[c], k));
                i += 1;
            }
            if now % 200 == 0 {
                for qc in &mut q {
                    while let Some(&(at, k)) = qc.front() {
                        if at > now {
                            break;
                        }
                        qc.pop_front();
                        pcbs.remove(&k);
                    }
                }
            }
            if now == total_ms - 1 {
                n = pcbs.len();
                mem = alloc_count::live().saturating_sub(before);
            }
        }
        let cpu = (thread_cpu_ns(wall) - cpu0) as f64 / (measure_s * rate) as f64;
        (cpu, mem, n)
    };
    let (pcb_cpu, pcb_mem, pcb_live) = full(true);
    let (pcb60_cpu, pcb60_mem, pcb60_live) = full(false);
    let per = |m: usize, n: usize| m as f64 / n.max(1) as f64;
    let mb = |m: usize| m as f64 / 1e6;
    let g = format!("{group}: memory per TIME_WAIT connection");
    push(rows, &g, "VTW", per(vtw_mem, vtw_live), "B/conn");
    push(rows, &g, "full PCB, MSLT", per(pcb_mem, pcb_live), "B/conn");
    push(
        rows,
        &g,
        "full PCB, 60 s",
        per(pcb60_mem, pcb60_live),
        "B/conn",
    );
    ratios(rows, &g, "full PCB, MSLT", true);
    let g = format!("{group}: memory held at steady state");
    push(rows, &g, "VTW", mb(vtw_mem), "MB");
    push(rows, &g, "full PCB, MSLT", mb(pcb_mem), "MB");
    push(rows, &g, "full PCB, 60 s", mb(pcb60_mem), "MB");
    ratios(rows, &g, "full PCB, MSLT", true);
    let g = format!("{group}: TIME_WAIT connections at steady state");
    push(rows, &g, "VTW", vtw_live as f64, "conns");
    push(rows, &g, "VTW evictions", evicted as f64, "conns");
    push(rows, &g, "full PCB, MSLT", pcb_live as f64, "conns");
    push(rows, &g, "full PCB, 60 s", pcb60_live as f64, "conns");
    let g = format!("{group}: CPU per connection (close + TIME_WAIT + expiry)");
    push(rows, &g, "VTW", vtw_cpu, "ns/conn");
    push(rows, &g, "full PCB, MSLT", pcb_cpu, "ns/conn");
    push(rows, &g, "full PCB, 60 s", pcb60_cpu, "ns/conn");
    ratios(rows, &g, "full PCB, MSLT", true);
    Ok(())
}

/// Inserts (evicting) and lookups from one and from two threads on the shared [`Vtw`](netroute::timewait::Vtw),
/// sharded and as one table under one lock.
fn vtw_threads(cfg: &Cfg, rows: &mut Vec<Row>) -> Result<(), String> {
    use netroute::timewait::Vtw;
    let clock = Arc::new(netroute::clock::SystemClock::new());
    for (label, shards) in [
        ("sharded", netroute::timewait::DEFAULT_SHARDS),
        ("one lock", 1),
    ] {
        let mut per = Vec::new();
        for threads in [1u64, 2] {
            let vtw = Vtw::with_shards(
                VtwConfig::with_entries(cfg.vtw_entries),
                VtwConfig::with_entries(3),
                clock.clone(),
                shards,
            )
            .map_err(|e| e.to_string())?;
            let start = Instant::now();
            let ops = AtomicU64::new(0);
            std::thread::scope(|s| {
                for th in 0..threads {
                    let (vtw, ops) = (&vtw, &ops);
                    s.spawn(move || {
                        let mut i = th << 40;
                        while start.elapsed() < cfg.round * 3 {
                            for _ in 0..256 {
                                let _ = vtw.insert(tw_tuple(i), MslClass::Remote, tw_info(i));
                                black_box(vtw.contains(&tw_tuple(i ^ 1)));
                                i += 1;
                            }
                            ops.fetch_add(512, Ordering::Relaxed);
                        }
                    });
                }
            });
            per.push(ops.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64());
        }
        let g = format!("vtw-v4/threads ({label})");
        push(rows, &g, "1 thread", per[0], "ops/s");
        push(rows, &g, "2 threads", per[1], "ops/s");
        ratios(rows, &g, "1 thread", false);
    }
    // Shard owners: thread k of T inserts only tuples whose shard is k mod T (connections
    // steered to CPUs by the same hash), 64 per `Vtw::insert_batch` (one clock read, each
    // shard locked once). Tuples of the other thread's shards are generated and skipped;
    // that cost counts. The table is full, so every insert evicts its shard's oldest.
    let mut per = Vec::new();
    for threads in [1u64, 2] {
        let vtw = Vtw::with_shards(
            full_class(cfg.vtw_entries),
            VtwConfig::with_entries(3),
            clock.clone(),
            netroute::timewait::DEFAULT_SHARDS,
        )
        .map_err(|e| e.to_string())?;
        for i in 0..u64::from(cfg.vtw_entries) {
            let _ = vtw.insert(tw_tuple(i), MslClass::Remote, tw_info(i));
        }
        let start = Instant::now();
        let ops = AtomicU64::new(0);
        std::thread::scope(|s| {
            for th in 0..threads {
                let (vtw, ops) = (&vtw, &ops);
                s.spawn(move || {
                    let shards = vtw.shards::<Ipv4Addr>();
                    let mut i = (1u64 << 40) + th;
                    let mut items = [(tw_tuple(0), MslClass::Remote, tw_info(0)); 64];
                    let mut n = 0u64;
                    while start.elapsed() < cfg.round * 3 {
                        for _ in 0..16 {
                            let mut k = 0;
                            while k < 64 {
                                let t = tw_tuple(i);
                                if shards.shard_of(&t) as u64 % threads == th {
                                    items[k] = (t, MslClass::Remote, tw_info(i));
                                    k += 1;
                                }
                                i += threads;
                            }
                            vtw.insert_batch(&items, |_, r| {
                                black_box(r.is_ok());
                            });
                            n += 64;
                        }
                    }
                    ops.fetch_add(n, Ordering::Relaxed);
                });
            }
        });
        per.push(ops.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64());
    }
    let g = "vtw-v4/threads (shard owners, batches of 64, insert evicting)";
    push(rows, g, "1 thread", per[0], "inserts/s");
    push(rows, g, "2 threads", per[1], "inserts/s");
    ratios(rows, g, "1 thread", false);
    Ok(())
}

/// `entries` slots, all in the remote class.
fn full_class(entries: u32) -> VtwConfig {
    let mut c = VtwConfig::with_entries(entries);
    c.capacity.loopback = 0;
    c.capacity.local = 0;
    c.capacity.remote = entries;
    c
}

fn human(v: f64, unit: &str) -> String {
    if unit.ends_with("/s") {
        if v >= 1e6 {
            format!("{:.1} M{unit}", v / 1e6)
        } else if v >= 1e3 {
            format!("{:.1} k{unit}", v / 1e3)
        } else {
            format!("{v:.0} {unit}")
        }
    } else {
        format!("{v:.2} {unit}")
    }
}

/// The run-time-detected CPU features relevant to the lookup code.
fn cpu_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v = Vec::new();
        if std::arch::is_x86_feature_detected!("popcnt") {
            v.push("popcnt");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push("avx512f");
        }
        v
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}

fn print_table(r: &Report) {
    println!(
        "tables: {}   popcnt compiled in: {}   CPU has: {}",
        r.tables,
        r.popcnt,
        if r.cpu_has.is_empty() {
            "-".to_owned()
        } else {
            r.cpu_has.join(" ")
        }
    );
    if !r.popcnt && r.cpu_has.contains(&"popcnt") {
        println!(
            "note: this build does not use popcnt; RUSTFLAGS=\"-C target-cpu=native\" (or \"-C target-feature=+popcnt\") makes the compiled lookups use it"
        );
    }
    println!(
        "ratio: times better than the group's reference row (>1 is better, for rates and bytes alike)"
    );
    let mut group = "";
    for row in &r.rows {
        if row.group != group {
            group = &row.group;
            println!("\n{group}");
        }
        let ratio = row.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default();
        println!(
            "  {:<48} {:>22} {:>8}",
            row.name,
            human(row.value, row.unit),
            ratio
        );
    }
}
