//! Source address selection: `in6_selectsrc` over 16 candidate addresses (the issue's
//! benchmark), the RFC 6724 rules alone on the same 16 candidates as plain values, and
//! IPv4 `in_selectsrc`, each with a warm route cache (the PCB case).
//!
//! `cargo bench -p netroute --bench select -- --warm-up-time 1 --measurement-time 3`
//!
//! Measured quickly (2026-11-25, 2 cores shared with other builds: load average
//! about 10 during the runs, so criterion's wall-clock figures are inflated; the
//! command above; criterion medians of the last run):
//!
//! | what | time |
//! |---|---|
//! | `in6_selectsrc`, 16 candidates, warm route cache | 1.76 µs |
//! | `select_best`, the rules alone on the 16 candidates (32 ranks) | 492 ns |
//! | `in_selectsrc`, warm route cache | 80.7 ns |
//!
//! An earlier run at a somewhat lower load gave 1.53 µs / 431 ns / 63.5 ns; the first
//! version (candidates built twice, rules as an `Option` chain) took 3.5 µs for
//! `in6_selectsrc`. About a quarter of `in6_selectsrc` is the rules; the rest is
//! building the candidates (address walk, interface and zone checks, policy lookup)
//! and `in6_selectif` (route cache hit, interface reference).
//!
//! Setup: two interfaces; on each one link-local address and seven global ones (/64s
//! of 2001:db8::/32, some temporary, one deprecated), so 16 IPv6 candidates; a default
//! route through a global gateway on the first interface. The destination is off-link,
//! so every rule up to 8 (longest match) is evaluated for most pairs.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use netroute::addr::{IfIndex, ScopedAddr, SockAddrIn6};
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, In6Flags};
use netroute::psref::Domain;
use netroute::route::{RouteCache, RouteSpec, RouteTables};
use netroute::select::{
    Candidate, Destination, PolicyHolder, SelectConfig, SelectCtx, SrcPrefs, in_selectsrc,
    in6_selectsrc, select_best,
};

fn setup() -> (Arc<IfTable>, Arc<RouteTables>, Vec<IfIndex>) {
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let mut idx = Vec::new();
    for (k, name) in ["eth0", "eth1"].iter().enumerate() {
        let i = ifs
            .attach(
                IfConfig::new(*name).flags(IfFlags::UP | IfFlags::BROADCAST | IfFlags::MULTICAST),
            )
            .unwrap();
        idx.push(i);
        ifs.add_addr(i, AddrSpec::new("fe80::1".parse::<Ipv6Addr>().unwrap(), 64))
            .unwrap();
        for j in 0..7u16 {
            let a = Ipv6Addr::new(0x2001, 0xdb8, (k as u16) << 8 | j, 0, 0, 0, 0, 2);
            let flags = match j {
                1 | 4 => In6Flags::TEMPORARY,
                5 => In6Flags::DEPRECATED,
                _ => In6Flags::empty(),
            };
            ifs.add_addr(i, AddrSpec::new(a, 64).with_flags(flags))
                .unwrap();
        }
        ifs.add_addr(i, AddrSpec::new(Ipv4Addr::new(192, 0, 2 + k as u8, 1), 24))
            .unwrap();
    }
    rt.add(
        &RouteSpec::new("::/0".parse().unwrap()).via("2001:db8::fe".parse::<Ipv6Addr>().unwrap()),
    )
    .unwrap();
    rt.add(&RouteSpec::new("0.0.0.0/0".parse().unwrap()).via(Ipv4Addr::new(192, 0, 2, 254)))
        .unwrap();
    (ifs, rt, idx)
}

fn bench(c: &mut Criterion) {
    let (ifs, rt, _idx) = setup();
    let policy = PolicyHolder::default();
    let config = SelectConfig::default();
    let dst = SockAddrIn6::new("2001:db8:4242::1".parse().unwrap(), 0, 0, None).unwrap();
    let mut ro = RouteCache::new();
    {
        let p = policy.load();
        let ctx = SelectCtx {
            routes: &rt,
            policy: &p,
            config: &config,
        };
        let s = in6_selectsrc(&ctx, &dst, None, None, &mut ro, None).unwrap();
        eprintln!("in6_selectsrc picks {} by {}", s.addr, s.rule);
    }
    let mut g = c.benchmark_group("select");
    g.bench_function("in6_selectsrc/16 candidates, warm cache", |b| {
        b.iter(|| {
            let p = policy.load();
            let ctx = SelectCtx {
                routes: &rt,
                policy: &p,
                config: &config,
            };
            black_box(in6_selectsrc(&ctx, black_box(&dst), None, None, &mut ro, None).unwrap())
        })
    });

    // The rules alone: the same 16 candidates as values.
    let p = policy.load();
    let d = Destination::new(ScopedAddr::new(dst.addr(), None).unwrap(), &p);
    let cands: Vec<Candidate> = ifs
        .indices()
        .into_iter()
        .flat_map(|i| ifs.addrs_of(i, Some(netroute::addr::Family::Inet6)))
        .map(|a| {
            let netroute::ifnet::IfaAddr::V6(s) = a.addr() else {
                unreachable!()
            };
            let flags = a.flags6();
            Candidate {
                addr: s,
                scope: s.scope(),
                deprecated: flags.contains(In6Flags::DEPRECATED),
                home: false,
                outgoing: a.ifindex().get() == 1,
                next_hop_prefix: false,
                label: p.lookup(&s.addr()).map(|x| x.label),
                temporary: flags.contains(In6Flags::TEMPORARY),
                if_up: true,
                match_len: ((u128::from(s.addr()) ^ u128::from(dst.addr())).leading_zeros() as u8)
                    .min(a.prefix_len()),
                flags,
                prefix_len: a.prefix_len(),
            }
        })
        .collect();
    assert_eq!(cands.len(), 16);
    g.bench_function("select_best/16 candidate values", |b| {
        b.iter(|| {
            black_box(select_best(
                black_box(&cands),
                black_box(&d),
                SrcPrefs::default(),
            ))
        })
    });

    let mut ro4 = RouteCache::new();
    let d4 = Ipv4Addr::new(198, 51, 100, 7);
    g.bench_function("in_selectsrc/warm cache", |b| {
        b.iter(|| black_box(in_selectsrc(&rt, black_box(d4), &mut ro4, false, None).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
