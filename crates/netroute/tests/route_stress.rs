//! Multi-thread stress of the routing tables and route caches: forwarder threads, each
//! with its own [`RouteCache`] (and sometimes a plain table lookup), look up random
//! destinations of both families, hold the reference across a yield, and check every
//! entry's canary and that it covers the destination; one writer adds, deletes and
//! changes routes (with metrics) and detaches and re-attaches an interface.
//!
//! The staleness check uses sequence numbers: the writer learns a route's delete
//! completed from its `RTM_DELETE` event (published after the references drained),
//! then stamps the route id with a new sequence number and publishes the sequence. A
//! forwarder reads the sequence before each lookup; a route stamped at or before it
//! must never come back. Checks: zero stale uses, zero torn entries, no lost events,
//! every delete/change/detach within a bound. Duration `ROUTE_STRESS_SECS` (default 2 s).
#![cfg(not(loom))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netroute::addr::ScopedAddr;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfaAddr};
use netroute::psref::Domain;
use netroute::route::{
    RouteCache, RouteEvent, RouteEventKinds, RouteKey, RouteNotice, RouteSpec, RouteTables,
};

const MAX_IDS: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(3);

/// The library's deterministic generator (`synth::SplitMix64`).
type Rng = netroute::synth::SplitMix64;

fn dst_of(r: &mut Rng) -> IfaAddr {
    let x = r.next_u64();
    if x & 1 == 0 {
        IfaAddr::V4(Ipv4Addr::from(0x0a00_0000 | (x as u32 >> 8 & 0x3_ffff)))
    } else {
        let a = Ipv6Addr::from(
            0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from(x >> 8 & 0x3_ffff) << 64,
        );
        IfaAddr::V6(ScopedAddr::new(a, None).unwrap())
    }
}

fn prefix_of(r: &mut Rng) -> ipnet::IpNet {
    let x = r.next_u64();
    let lens4 = [8u8, 12, 16, 20, 24];
    let lens6 = [40u8, 44, 48, 52, 56];
    let i = (x >> 8) as usize % 5;
    if x & 1 == 0 {
        let a = Ipv4Addr::from(0x0a00_0000 | ((x >> 16) as u32 & 0x3_ffff) << 6);
        ipnet::IpNet::new(IpAddr::V4(a), lens4[i]).unwrap().trunc()
    } else {
        let a = Ipv6Addr::from(
            0x2001_0db8_a000_0000_0000_0000_0000_0000u128 | u128::from((x >> 16) & 0x3_ffff) << 70,
        );
        ipnet::IpNet::new(IpAddr::V6(a), lens6[i]).unwrap().trunc()
    }
}

fn covers(n: &ipnet::IpNet, d: &IfaAddr) -> bool {
    n.contains(&d.ip())
}

#[test]
fn forwarders_never_use_a_deleted_route() {
    let secs: f64 = std::env::var("ROUTE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let up = IfFlags::UP | IfFlags::BROADCAST;
    let eth0 = ifs.attach(IfConfig::new("eth0").flags(up)).unwrap();
    ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))
        .unwrap();
    ifs.add_addr(
        eth0,
        AddrSpec::new("2001:db8::1".parse::<IpAddr>().unwrap(), 64),
    )
    .unwrap();
    let attach_eth1 = || {
        let i = ifs.attach(IfConfig::new("eth1").flags(up)).unwrap();
        ifs.add_addr(i, AddrSpec::new([198, 51, 100, 1], 24))
            .unwrap();
        ifs.add_addr(
            i,
            AddrSpec::new("2001:db8:1::1".parse::<IpAddr>().unwrap(), 64),
        )
        .unwrap();
        i
    };
    let mut eth1 = attach_eth1();
    let gws: [[IpAddr; 2]; 2] = [
        [
            "192.0.2.254".parse().unwrap(),
            "198.51.100.254".parse().unwrap(),
        ],
        [
            "2001:db8::fe".parse().unwrap(),
            "2001:db8:1::fe".parse().unwrap(),
        ],
    ];

    let seq = AtomicU64::new(0);
    let deleted: Vec<AtomicU64> = (0..MAX_IDS).map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let stale = AtomicU64::new(0);
    let torn = AtomicU64::new(0);
    let found = AtomicU64::new(0);
    let hits = AtomicU64::new(0);
    // Only deletes: the forwarders' lookups publish RTM_MISS at a rate that can fill any
    // queue while the writer is descheduled (seen on a loaded 2-vCPU machine).
    let mut sub = rt.subscribe_filtered(1 << 16, RouteEventKinds::DELETE);

    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (rt, seq, deleted, stop) = (&rt, &seq, &deleted, &stop);
            let (stale, torn, found, hits) = (&stale, &torn, &found, &hits);
            s.spawn(move || {
                let mut r = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut cache = RouteCache::new();
                let mut d = dst_of(&mut r);
                while !stop.load(Ordering::Relaxed) {
                    if r.below(8) == 0 {
                        d = dst_of(&mut r);
                    }
                    let s0 = seq.load(Ordering::SeqCst);
                    let check = |e: &netroute::route::RtEntry, d: &IfaAddr| {
                        if !e.is_intact() || !covers(&e.dst(), d) {
                            torn.fetch_add(1, Ordering::Relaxed);
                        }
                        let id = e.id() as usize;
                        assert!(id < MAX_IDS);
                        let del = deleted[id].load(Ordering::SeqCst);
                        if del != 0 && del <= s0 {
                            stale.fetch_add(1, Ordering::Relaxed);
                        }
                        found.fetch_add(1, Ordering::Relaxed);
                    };
                    match r.below(4) {
                        0 => {
                            if let Some(e) = rt.lookup(d, r.below(2) == 0) {
                                std::thread::yield_now();
                                check(&e, &d);
                            }
                        }
                        1 => {
                            let cd = cache.dst();
                            if let Some(e) = cache.validate(rt) {
                                match cd {
                                    Some(cd) => check(&e, &cd),
                                    None => {
                                        torn.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                        _ => {
                            let (e, hit) = cache.lookup(rt, d);
                            if let Some(e) = e {
                                if hit {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                }
                                std::thread::yield_now();
                                check(&e, &d);
                            }
                        }
                    }
                }
            });
        }

        // The writer.
        let mut r = Rng::new(0x1234_5678_9ABC_DEF1);
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        let mut ops = 0u64;
        let mut lost = 0u64;
        let mut record = |sub: &mut netroute::route::RouteSubscription| {
            while let Some(n) = sub.try_next() {
                match n {
                    RouteNotice::Event {
                        event: RouteEvent::Delete(info),
                        ..
                    } => {
                        let s = seq.load(Ordering::SeqCst) + 1;
                        deleted[info.id as usize].store(s, Ordering::SeqCst);
                        seq.store(s, Ordering::SeqCst);
                    }
                    RouteNotice::Lost { count } => lost += count,
                    _ => {}
                }
            }
        };
        while started.elapsed().as_secs_f64() < secs {
            let p = prefix_of(&mut r);
            let fam = usize::from(p.addr().is_ipv6());
            let metric = r.below(3) as u32;
            let t0 = Instant::now();
            match r.below(10) {
                0..=3 => {
                    let gw = gws[fam][r.below(2) as usize];
                    let _ = rt.add(&RouteSpec::new(p).via(gw).metric(metric));
                }
                4..=6 => {
                    let _ = rt.delete(&RouteKey::new(p).metric(metric));
                }
                7 | 8 => {
                    let gw = gws[fam][r.below(2) as usize];
                    let _ = rt.change(&RouteSpec::new(p).via(gw).metric(metric), None);
                }
                _ => {
                    if r.below(8) == 0 {
                        ifs.detach(eth1).unwrap();
                        eth1 = attach_eth1();
                    }
                }
            }
            slowest = slowest.max(t0.elapsed());
            ops += 1;
            record(&mut sub);
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!(
            "route stress: {ops} writer ops, slowest {slowest:?}, {} lookups found, {} cache hits",
            found.load(Ordering::Relaxed),
            hits.load(Ordering::Relaxed)
        );
        assert!(slowest < BOUND, "a writer call took {slowest:?}");
        assert_eq!(lost, 0, "delete events lost");
    });
    assert_eq!(stale.load(Ordering::Relaxed), 0, "stale routes used");
    assert_eq!(torn.load(Ordering::Relaxed), 0, "torn or wrong entries");
    assert!(found.load(Ordering::Relaxed) > 0);
}
