//! Route cache hit path against a fresh table lookup, on the real IPv4 table when it is
//! present (`../shared/data/`, or `NETROUTE_TABLE=FILE.txt.gz`), else on 100 000
//! synthetic prefixes. Next hops: 200 gateways on one connected subnet, chosen by a
//! hash of the prefix.
//!
//! `cargo bench -p netroute --bench route_cache`
//!
//! Measured once (2026-11-25, 2 shared cores, psref in membarrier mode; the real table,
//! 1,042,325 routes loaded by `add_many` in 0.9 s; criterion medians):
//!
//! | what | time |
//! |---|---|
//! | `RouteCache::validate` (hit) | 12.6 ns |
//! | `RouteCache::lookup` (hit, same dst) | 13.6 ns |
//! | `RouteTables::lookup` (fresh, 4096 dsts, psref) | 399 ns |
//! | `RouteTables::lookup_shared` (fresh, in a section, no psref) | 333 ns |
//!
//! The hit path is about 30x cheaper than a fresh lookup through the simple FIB but
//! misses the 3 ns target: it pays a read section (`Domain::read`: thread-local
//! lookup, store, fence), the slot load and a psref acquire/release. A forwarder-side
//! variant taking a `psref::Reader` is the obvious next step.
//!
//! The fresh lookup goes through the FIB behind the seam (`route/lpm.rs`). With the
//! compiled FIB there (Poptrie, slab-index leaves) instead of the hash map per prefix
//! length, main vs branch `fib` back to back (2026-11-25, 2 shared cores, load average
//! 4 to 12 from other agents: very noisy; criterion medians, 3 pairs of runs):
//!
//! | what | HashFib (main) | compiled FIB |
//! |---|---|---|
//! | `RouteTables::lookup` (fresh, 4096 dsts, psref) | 1.19 / 3.85 / 4.97 µs | 314 / 473 / 508 ns |
//! | `RouteTables::lookup_shared` (fresh, in a section) | 1.16 / 4.09 / 2.99 µs | 224 / 302 / 287 ns |
//! | single `add` of a /24 on the full table (mean of 100) | 1.07 / 2.98 / 2.59 ms | 14 / 13 / 98 µs |
//! | single `delete` of a /24 (mean of 100) | 98 / 153 / 143 ms | 2.4 / 2.2 µs (*) |
//! | `add_many` of the table | 1.29 / 2.82 / 2.84 s | 1.81 / 2.67 / 2.81 s |
//!
//! (*) with the delete looking at its own key only (it scanned the whole RIB: 88 ms with
//! the compiled FIB in the first pair). A single add or delete includes one grace
//! period. The hit paths do not touch the FIB (differences there are noise).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::IpNet;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable};
use netroute::psref::Domain;
use netroute::route::{RouteCache, RouteKey, RouteSpec, RouteTables};

fn prefixes() -> (Vec<IpNet>, String) {
    let path = std::env::var("NETROUTE_TABLE").unwrap_or_else(|_| {
        let root = env!("CARGO_MANIFEST_DIR");
        format!("{root}/../../../shared/data/ris-rrc00-as3333-20260511-table-v4.txt.gz")
    });
    if std::path::Path::new(&path).exists()
        && let Ok(out) = Command::new("zcat").arg(&path).output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<IpNet> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.trim().parse::<IpNet>().ok())
            .filter(|n| n.addr().is_ipv4())
            .collect();
        if !v.is_empty() {
            return (v, path);
        }
    }
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let v = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = [16u8, 20, 22, 24][(x >> 60) as usize % 4];
            IpNet::new(IpAddr::V4(Ipv4Addr::from((x >> 8) as u32)), len)
                .unwrap()
                .trunc()
        })
        .collect();
    (v, "synthetic".into())
}

fn bench(c: &mut Criterion) {
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    ifs.add_addr(eth0, AddrSpec::new([100, 64, 0, 1], 16))
        .unwrap();
    let (nets, source) = prefixes();
    let t0 = Instant::now();
    let specs: Vec<RouteSpec> = nets
        .iter()
        .map(|n| {
            let h = u32::from_be_bytes(match n.addr() {
                IpAddr::V4(a) => a.octets(),
                IpAddr::V6(_) => [0; 4],
            })
            .wrapping_mul(0x9E37_79B1);
            let gw = Ipv4Addr::new(100, 64, 1, (h >> 24) as u8 % 200 + 1);
            RouteSpec::new(*n).via(gw)
        })
        .collect();
    let ok = rt.add_many(&specs).iter().filter(|r| r.is_ok()).count();
    eprintln!(
        "loaded {ok} routes from {source} in {:?} (add_many)",
        t0.elapsed()
    );
    // Single writes on the full table: /24s (the most populated length) in 198.18/15.
    // Each publishes a FIB version and waits for one grace period.
    let n = 100u32;
    let net = |k: u32| IpNet::new(IpAddr::V4(Ipv4Addr::new(198, 18, k as u8, 0)), 24).unwrap();
    let t = Instant::now();
    for k in 0..n {
        rt.add(&RouteSpec::new(net(k)).via(Ipv4Addr::new(100, 64, 1, 1)))
            .unwrap();
    }
    let add = t.elapsed() / n;
    let t = Instant::now();
    for k in 0..n {
        rt.delete(&RouteKey::new(net(k))).unwrap();
    }
    let del = t.elapsed() / n;
    eprintln!("single add {add:?}, single delete {del:?} (means of {n} /24s on the full table)");
    // Destinations: one address inside each of 4096 prefixes spread over the table.
    let dsts: Vec<Ipv4Addr> = nets
        .iter()
        .step_by((nets.len() / 4096).max(1))
        .map(|n| match n.addr() {
            IpAddr::V4(a) => Ipv4Addr::from(u32::from(a) | 1),
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        })
        .collect();

    let mut g = c.benchmark_group("route");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let mut cache = RouteCache::new();
    let d = dsts[dsts.len() / 2];
    assert!(cache.lookup(&rt, d).0.is_some());
    g.bench_function("RouteCache::validate (hit)", |b| {
        b.iter(|| drop(black_box(cache.validate(&rt))))
    });
    g.bench_function("RouteCache::lookup (hit, same dst)", |b| {
        b.iter(|| drop(black_box(cache.lookup(&rt, black_box(d)).0)))
    });
    // The forwarder pattern: one read section per burst of 32 packets, each packet
    // revalidating its flow's cache without a psref. Reported per packet.
    let mut flows: Vec<RouteCache> = dsts
        .iter()
        .take(32)
        .map(|&d| {
            let mut c = RouteCache::new();
            assert!(c.lookup(&rt, d).0.is_some());
            c
        })
        .collect();
    let reader = rt.domain().reader();
    g.throughput(criterion::Throughput::Elements(32));
    g.bench_function(
        "RouteCache::validate_shared (hit, burst of 32 per section)",
        |b| {
            b.iter(|| {
                let guard = reader.read();
                for c in flows.iter_mut() {
                    black_box(c.validate_shared(&rt, &guard).map(|e| e.get().ifindex()));
                }
            })
        },
    );
    g.bench_function("RouteCache::validate (hit, psref, 32 flows)", |b| {
        b.iter(|| {
            for c in flows.iter_mut() {
                black_box(c.validate(&rt).map(|e| e.ifindex()));
            }
        })
    });
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function(
        "RouteCache::validate_shared (hit, own section per packet)",
        |b| {
            b.iter(|| {
                let guard = reader.read();
                black_box(
                    cache
                        .validate_shared(&rt, &guard)
                        .map(|e| e.get().ifindex()),
                );
            })
        },
    );
    let mut i = 0usize;
    g.bench_function("RouteTables::lookup (fresh, 4096 dsts)", |b| {
        b.iter(|| {
            i = (i + 1) % dsts.len();
            drop(black_box(rt.lookup(dsts[i], false)))
        })
    });
    let mut i = 0usize;
    g.bench_function("RouteTables::lookup_shared in a section (no psref)", |b| {
        b.iter(|| {
            i = (i + 1) % dsts.len();
            let guard = rt.domain().read();
            black_box(
                rt.lookup_shared(&guard, &netroute::ifnet::IfaAddr::V4(dsts[i]))
                    .map(|e| e.id()),
            );
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
