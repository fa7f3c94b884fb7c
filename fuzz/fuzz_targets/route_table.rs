//! Route table differential: random add / delete / change (with metrics, gateways and
//! blackholes) and lookups (table and route cache) on `RouteTables`, both families,
//! against a naive model (a list of routes; longest prefix by scan, then lowest
//! metric). Every error must be the model's and change nothing.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arbitrary::Arbitrary;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use netroute::addr::ScopedAddr;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfTableConfig, IfaAddr};
use netroute::psref::Domain;
use netroute::route::{
    RouteCache, RouteConfig, RouteError, RouteKey, RouteSpec, RouteTables, RtFlags,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Add {
        v6: bool,
        p: u32,
        len: u8,
        metric: u8,
        blackhole: bool,
    },
    Delete {
        v6: bool,
        p: u32,
        len: u8,
        metric: Option<u8>,
    },
    Change {
        v6: bool,
        p: u32,
        len: u8,
        metric: u8,
        new_metric: Option<u8>,
    },
    Lookup {
        v6: bool,
        a: u32,
    },
}

/// Prefixes inside 10.0.0.0/8 (IPv6: 2001:db8:a000::/40) with lengths that nest.
fn prefix(v6: bool, p: u32, len: u8) -> IpNet {
    let lens = [8u8, 9, 12, 16, 17, 20, 24, 28, 32];
    let l = lens[usize::from(len) % lens.len()];
    let bits = p & 0x00ff_ffff;
    if v6 {
        let a =
            Ipv6Addr::from(0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from(bits) << 80);
        IpNet::new(IpAddr::V6(a), l + 16).unwrap().trunc()
    } else {
        IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | bits)), l)
            .unwrap()
            .trunc()
    }
}

fn dst(v6: bool, a: u32) -> IfaAddr {
    let bits = a & 0x00ff_ffff;
    if v6 {
        let a = Ipv6Addr::from(
            0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from(bits) << 80 | 1,
        );
        IfaAddr::V6(ScopedAddr::new(a, None).unwrap())
    } else {
        IfaAddr::V4(Ipv4Addr::from(0x0a00_0000 | bits))
    }
}

fn gw(v6: bool) -> IpAddr {
    if v6 {
        "2001:db8::fe".parse().unwrap()
    } else {
        "192.0.2.254".parse().unwrap()
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let ifs = Arc::new(IfTable::with_config(
        Arc::new(Domain::new()),
        IfTableConfig {
            max_interfaces: 4,
            max_addresses: 8,
        },
        Arc::new(netroute::clock::SystemClock::new()),
    ));
    let rt = RouteTables::with_config(
        Arc::clone(&ifs),
        RouteConfig {
            max_routes: 4096,
            ..RouteConfig::default()
        },
    );
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))
        .unwrap();
    ifs.add_addr(
        eth0,
        AddrSpec::new("2001:db8::1".parse::<IpAddr>().unwrap(), 64),
    )
    .unwrap();
    // (prefix, metric, id)
    let mut model: Vec<(IpNet, u32, u64)> = Vec::new();
    let mut cache = RouteCache::new();
    let gen0 = rt.generation();
    let mut changes = 0u64;
    for op in ops.into_iter().take(512) {
        match op {
            Op::Add {
                v6,
                p,
                len,
                metric,
                blackhole,
            } => {
                let d = prefix(v6, p, len);
                let metric = u32::from(metric % 4);
                let spec = if blackhole {
                    RouteSpec::new(d).flags(RtFlags::BLACKHOLE).metric(metric)
                } else {
                    RouteSpec::new(d).via(gw(v6)).metric(metric)
                };
                match rt.add(&spec) {
                    Ok(info) => {
                        assert!(!model.iter().any(|e| e.0 == d && e.1 == metric));
                        model.push((d, metric, info.id));
                        changes += 1;
                    }
                    Err(RouteError::Exists { .. }) => {
                        assert!(model.iter().any(|e| e.0 == d && e.1 == metric))
                    }
                    Err(e) => panic!("add {d}: {e}"),
                }
            }
            Op::Delete { v6, p, len, metric } => {
                let d = prefix(v6, p, len);
                let m = metric.map(|m| u32::from(m % 4));
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
                        changes += 1;
                    }
                    (Err(RouteError::NoSuchRoute { .. }), None) => {}
                    (g, w) => panic!("delete {d}: {g:?} vs {w:?}"),
                }
            }
            Op::Change {
                v6,
                p,
                len,
                metric,
                new_metric,
            } => {
                let d = prefix(v6, p, len);
                let metric = u32::from(metric % 4);
                let nm = new_metric.map(|m| u32::from(m % 4));
                let got = rt.change(&RouteSpec::new(d).via(gw(v6)).metric(metric), nm);
                let pos = model.iter().position(|e| e.0 == d && e.1 == metric);
                let clash =
                    nm.is_some_and(|n| n != metric && model.iter().any(|e| e.0 == d && e.1 == n));
                match (got, pos) {
                    (Ok(info), Some(i)) if !clash => {
                        assert_eq!(info.id, model[i].2);
                        model[i].1 = nm.unwrap_or(metric);
                        changes += 1;
                    }
                    (Err(RouteError::Exists { .. }), Some(_)) if clash => {}
                    (Err(RouteError::NoSuchRoute { .. }), None) => {}
                    (g, p) => panic!("change {d}: {g:?} vs {p:?}"),
                }
            }
            Op::Lookup { v6, a } => {
                let a = dst(v6, a);
                let want = model
                    .iter()
                    .filter(|e| e.0.contains(&a.ip()))
                    .min_by_key(|e| (std::cmp::Reverse(e.0.prefix_len()), e.1))
                    .map(|e| e.2);
                assert_eq!(rt.lookup(a, false).map(|e| e.id()), want, "lookup {a}");
                let (c, _) = cache.lookup(&rt, a);
                assert_eq!(c.map(|e| e.id()), want, "cache lookup {a}");
                let (c, hit) = cache.lookup(&rt, a);
                assert_eq!(c.map(|e| e.id()), want);
                assert_eq!(hit, want.is_some());
            }
        }
    }
    // Every successful add, delete and change bumped the one generation.
    assert_eq!(rt.generation() - gen0, changes);
    let n4 = model.iter().filter(|e| e.0.addr().is_ipv4()).count();
    // + the connected and local routes of eth0's two addresses.
    assert_eq!(rt.v4().len(), n4 + 2);
    assert_eq!(rt.v6().len(), model.len() - n4 + 2);
});
