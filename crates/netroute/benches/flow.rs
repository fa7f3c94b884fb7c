//! The ipflow fast-forward hit path (`FlowTable::forward`): hash lookup of the flow,
//! route-cache validation (read section + psref), interface check (second read section)
//! and the header rules; with one flow and with a full table of 256 flows (the
//! `IPFLOW_MAX` default) visited round robin. For scale, a fresh `RouteTables::lookup`
//! of the same destinations (what the slow path pays before `ip_forward`'s work).
//!
//! `cargo bench -p netroute --bench flow -- --warm-up-time 1 --measurement-time 3`
//!
//! 1,000 synthetic /24 routes through 4 gateways on one interface; the hit path does not
//! depend on the table size (no LPM on a hit).
//!
//! Measured (2026-11-25, 2 shared cores under heavy load from other jobs — load average
//! ~9 —, psref in membarrier mode; criterion medians, `--warm-up-time 1
//! --measurement-time 3`), with the `route_cache` bench run right after for scale:
//!
//! | what | time |
//! |---|---|
//! | `forward` hit, 1 flow | 46.7 ns (56.5 ns in a first run) |
//! | `forward` hit, 256 flows round robin | 51.2 ns (58.4 ns) |
//! | `forward` miss (no flow) | 13.1 ns (14.3 ns) |
//! | `RouteTables::lookup`, fresh, 256 dsts (1,000 routes, psref) | 80.3 ns (79.4 ns) |
//! | `route_cache`: `RouteCache::validate` hit, same moment | 25.0 ns (12.6 ns when that bench was recorded on a quieter machine) |
//! | `route_cache`: `RouteTables::lookup`, fresh, full IPv4 table, same moment | 1.07 µs (399 ns recorded) |
//!
//! A hit = header rules + flow hash probe (≈ the miss figure) + one read section with
//! the cache validation, the interface lookup by index (`IfTable::byindex`, ~23 % of
//! the hit in `perf`) and one psref acquire/release for the route handed out: about
//! twice a bare `RouteCache::validate` hit measured at the same moment.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use netroute::flow::{FlowConfig, FlowKey, FlowTable, Packet};
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, SystemClock};
use netroute::psref::Domain;
use netroute::route::{RouteCache, RouteSpec, RouteTables};

fn v4(p: &Packet) -> Ipv4Addr {
    match p.key {
        FlowKey::V4 { dst, .. } => dst,
        FlowKey::V6 { .. } => unreachable!(),
    }
}

fn bench(c: &mut Criterion) {
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    ifs.add_addr(eth0, AddrSpec::new([100, 64, 0, 1], 16))
        .unwrap();
    let specs: Vec<RouteSpec> = (0..1000u32)
        .map(|i| {
            let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | i << 8), 24).unwrap();
            RouteSpec::new(IpNet::V4(net)).via(Ipv4Addr::new(100, 64, 0, 10 + (i % 4) as u8))
        })
        .collect();
    for r in rt.add_many(&specs) {
        r.unwrap();
    }
    let src = Ipv4Addr::new(192, 0, 2, 7);
    let pkts: Vec<Packet> = (0..256u32)
        .map(|i| {
            Packet::v4(
                src,
                Ipv4Addr::from(0x0a00_0001 | (i * 3) << 8),
                0,
                64,
                17,
                512,
            )
        })
        .collect();
    let mut flows = FlowTable::new(FlowConfig::default(), Arc::new(SystemClock::new()));
    for p in &pkts {
        let mut ro = RouteCache::new();
        let _ = ro.lookup(&rt, v4(p));
        flows.create(&rt, p, &mut ro).unwrap();
    }
    assert_eq!(flows.len(), 256);

    let mut g = c.benchmark_group("ipflow");
    g.bench_function("forward_hit_1_flow", |b| {
        let p = pkts[0];
        b.iter(|| {
            let v = flows.forward(&rt, black_box(&p));
            black_box(v.is_forward())
        })
    });
    g.bench_function("forward_hit_256_flows", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 255;
            let v = flows.forward(&rt, black_box(&pkts[i]));
            black_box(v.is_forward())
        })
    });
    g.bench_function("forward_miss_no_flow", |b| {
        let p = Packet::v4(src, Ipv4Addr::new(10, 0, 200, 1), 0, 64, 17, 512);
        b.iter(|| {
            let v = flows.forward(&rt, black_box(&p));
            black_box(v.is_forward())
        })
    });
    g.bench_function("fresh_table_lookup_256_dsts", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 255;
            let d = v4(&pkts[i]);
            black_box(rt.lookup(black_box(d), false).is_some())
        })
    });
    g.finish();
    assert!(flows.stats().hits > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
