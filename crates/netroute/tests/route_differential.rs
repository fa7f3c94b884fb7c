//! Long differential run of the routing table against a naive model (a list of routes;
//! longest prefix by scan, then lowest metric), both families, with a route cache
//! checked on every lookup. `ROUTE_DIFF_OPS` sets the number of operations per family
//! (default 20 000; the 1 M: `ROUTE_DIFF_OPS=1000000`, release build advised).
#![cfg(not(loom))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use netroute::addr::ScopedAddr;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfaAddr};
use netroute::psref::Domain;
use netroute::route::{RouteCache, RouteError, RouteKey, RouteSpec, RouteTables, RtFlags};

struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn prefix(v6: bool, x: u64) -> IpNet {
    // Prefixes nested inside one /8 (or /24 for IPv6) so that they overlap a lot.
    let lens = [8u8, 9, 12, 16, 17, 20, 24, 28, 32];
    let len = lens[(x % lens.len() as u64) as usize];
    let bits = (x >> 8) as u32 & 0x00ff_ffff & !0x5555;
    if v6 {
        let a =
            Ipv6Addr::from(0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from(bits) << 80);
        IpNet::new(IpAddr::V6(a), len + 16).unwrap().trunc()
    } else {
        let a = Ipv4Addr::from(0x0a00_0000 | bits);
        IpNet::new(IpAddr::V4(a), len).unwrap().trunc()
    }
}

fn dst(v6: bool, x: u64) -> IfaAddr {
    let bits = (x >> 8) as u32 & 0x00ff_ffff;
    if v6 {
        let a = Ipv6Addr::from(
            0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from(bits) << 80 | 1,
        );
        IfaAddr::V6(ScopedAddr::new(a, None).unwrap())
    } else {
        IfaAddr::V4(Ipv4Addr::from(0x0a00_0000 | bits))
    }
}

fn run(v6: bool) {
    let n: u64 = std::env::var("ROUTE_DIFF_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    let (addr, gw): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::fe".parse().unwrap(),
        )
    } else {
        ("192.0.2.1".parse().unwrap(), "192.0.2.254".parse().unwrap())
    };
    ifs.add_addr(eth0, AddrSpec::new(addr, if v6 { 64 } else { 24 }))
        .unwrap();
    let mut model: Vec<(IpNet, u32, u64)> = Vec::new();
    let mut r = Xorshift(if v6 {
        0xfeed_beef_1234_5679
    } else {
        0x0123_4567_89ab_cdef
    });
    let mut cache = RouteCache::new();
    let (mut lookups, mut found) = (0u64, 0u64);
    for _ in 0..n {
        let x = r.next();
        let metric = (x >> 40) as u32 % 3;
        match x % 8 {
            0..=2 => {
                let d = prefix(v6, r.next());
                let spec = if x & 0x100 == 0 {
                    RouteSpec::new(d).via(gw).metric(metric)
                } else {
                    RouteSpec::new(d).flags(RtFlags::BLACKHOLE).metric(metric)
                };
                match rt.add(&spec) {
                    Ok(info) => {
                        assert!(!model.iter().any(|e| e.0 == d && e.1 == metric));
                        model.push((d, metric, info.id));
                    }
                    Err(RouteError::Exists { .. }) => {
                        assert!(model.iter().any(|e| e.0 == d && e.1 == metric))
                    }
                    Err(e) => panic!("add {d}: {e}"),
                }
            }
            3 | 4 => {
                let d = prefix(v6, r.next());
                let m = (x & 0x200 != 0).then_some(metric);
                let want = model
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.0 == d && m.is_none_or(|m| e.1 == m))
                    .min_by_key(|(_, e)| e.1)
                    .map(|(i, _)| i);
                let got = rt.delete(&RouteKey {
                    dst: d,
                    dev: None,
                    host: false,
                    metric: m,
                });
                match (got, want) {
                    (Ok(info), Some(i)) => {
                        assert_eq!(info.id, model[i].2);
                        model.remove(i);
                    }
                    (Err(RouteError::NoSuchRoute { .. }), None) => {}
                    (g, w) => panic!("delete {d}: {g:?} vs {w:?}"),
                }
            }
            5 => {
                let d = prefix(v6, r.next());
                let nm = (x & 0x400 != 0).then_some((x >> 50) as u32 % 3);
                let got = rt.change(&RouteSpec::new(d).via(gw).metric(metric), nm);
                let pos = model.iter().position(|e| e.0 == d && e.1 == metric);
                let clash =
                    nm.is_some_and(|n| n != metric && model.iter().any(|e| e.0 == d && e.1 == n));
                match (got, pos) {
                    (Ok(info), Some(i)) if !clash => {
                        assert_eq!(info.id, model[i].2);
                        model[i].1 = nm.unwrap_or(metric);
                    }
                    (Err(RouteError::Exists { .. }), Some(_)) if clash => {}
                    (Err(RouteError::NoSuchRoute { .. }), None) => {}
                    (g, p) => panic!("change {d}: {g:?} vs {p:?}"),
                }
            }
            _ => {
                let a = dst(v6, r.next());
                let want = model
                    .iter()
                    .filter(|e| e.0.contains(&a.ip()))
                    .min_by_key(|e| (std::cmp::Reverse(e.0.prefix_len()), e.1))
                    .map(|e| e.2);
                lookups += 1;
                found += u64::from(want.is_some());
                assert_eq!(rt.lookup(a, false).map(|e| e.id()), want, "lookup {a}");
                let (c, _) = cache.lookup(&rt, a);
                assert_eq!(c.map(|e| e.id()), want, "cache lookup {a}");
                // A second lookup of the same destination is a hit with the same answer.
                let (c, hit) = cache.lookup(&rt, a);
                assert_eq!(c.map(|e| e.id()), want);
                assert_eq!(hit, want.is_some());
            }
        }
    }
    assert!(
        found > lookups / 10,
        "the run must exercise matches: {found}/{lookups}"
    );
}

#[test]
fn ipv4_matches_the_model() {
    run(false);
}

#[test]
fn ipv6_matches_the_model() {
    run(true);
}
