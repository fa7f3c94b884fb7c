//! Issue 4's concurrent proof on real data: forwarder threads, each with its own
//! [`RouteCache`] per flow (256 flows per thread), look up destinations inside real RIS
//! prefixes while one writer replays the real 24 h update stream (both families, time
//! order, against the full table loaded with `add_many`) and detaches / re-attaches an
//! interface (`eth2`, which carries the routes the stream moves to its gateway).
//!
//! Staleness is checked per entry *object*, not per route: every add and change gives
//! the object a fresh serial number, carried in the route's `rtt` metric (a value the
//! table stores and never interprets). When a `change` or `delete` returns, or a detach
//! returns (deleting the routes through the interface), the writer stamps the retired
//! serials with a new sequence number and publishes the sequence. A forwarder reads the
//! sequence before each lookup; a route it then gets whose object was retired at or
//! before that sequence is a stale route (the issue's "a validated route is never one
//! whose delete completed before validate began"). Also checked: no torn or freed
//! entry (canary), every route covers its destination, every delete / change / detach
//! returns within [`BOUND`].
//!
//! Runtime: the writer replays for `ROUTE_REPLAY_SECS` (default 8 s) or until the end
//! of the streams (`NETROUTE_FULL_REPLAY=1` lifts the time limit; measured 2026-11-25
//! at opt-level 1 on 2 loaded cores: all 2,631,656 updates and 1,914 detaches in
//! 1,597 s, 379 M forwarder lookups, 0 stale, 0 torn, slowest detach 1.65 s). Skipped, with a
//! printed reason, without `../shared/data`. Not a duplicate of `route_stress.rs`,
//! which churns synthetic prefixes in a small table.
#![cfg(not(loom))]

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::replay::{self, Update, World, gw_index, ifa, inside, mix};
use common::ris::Rng;
use ipnet::IpNet;
use netroute::addr::IfIndex;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfaAddr};
use netroute::route::{RouteCache, RouteError, RouteKey, RouteSpec, RtEntry, RtMetrics};

/// Longest a writer call may take.
const BOUND: Duration = Duration::from_secs(5);
/// Flows (route caches) per forwarder thread.
const FLOWS: usize = 256;
/// Forwarder threads.
const FORWARDERS: u64 = 2;

/// `eth2`, the interface that comes and goes, and its gateways.
fn attach_eth2(ifs: &IfTable) -> IfIndex {
    let i = ifs
        .attach(IfConfig::new("eth2").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    ifs.add_addr(i, AddrSpec::new([203, 0, 113, 1], 24))
        .unwrap();
    ifs.add_addr(
        i,
        AddrSpec::new("2001:db8:2::1".parse::<IpAddr>().unwrap(), 64),
    )
    .unwrap();
    i
}

fn eth2_gateway(v6: bool) -> IpAddr {
    if v6 {
        "2001:db8:2::fe".parse().unwrap()
    } else {
        "203.0.113.254".parse().unwrap()
    }
}

/// The gateway slot of an update: 0–3 on eth0/eth1, 4 on eth2 (one update in 8).
fn slot_of(p: &IpNet, pos: u64) -> usize {
    if mix(replay::hash_prefix(p), pos ^ 0x5a5a).is_multiple_of(8) {
        4
    } else {
        gw_index(p, pos)
    }
}

#[test]
fn forwarders_never_see_a_retired_route_during_the_real_stream() {
    let Some(data) = replay::load() else {
        println!(
            "SKIP route_concurrent_replay: RIS data not found at \
             CARGO_MANIFEST_DIR/../../../shared/data"
        );
        return;
    };
    let full = std::env::var("NETROUTE_FULL_REPLAY").is_ok_and(|v| v == "1");
    let secs: f64 = std::env::var("ROUTE_REPLAY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    let w = World::new();
    let mut eth2 = attach_eth2(&w.ifs);
    let gws = replay::gateways();
    let gw = |p: &IpNet, slot: usize| {
        let v6 = p.addr().is_ipv6();
        if slot == 4 {
            eth2_gateway(v6)
        } else {
            gws[usize::from(v6)][slot]
        }
    };
    let spec = |p: IpNet, slot: usize, serial: u64| {
        RouteSpec::new(p).via(gw(&p, slot)).metrics(RtMetrics {
            rtt: u32::try_from(serial).unwrap(),
            ..RtMetrics::default()
        })
    };

    // The initial table: serials 1..=n, gateways on eth0/eth1.
    let mut serial = 0u64;
    let mut model: HashMap<IpNet, (usize, u64)> = HashMap::with_capacity(data.table.len());
    let specs: Vec<RouteSpec> = data
        .table
        .iter()
        .map(|p| {
            serial += 1;
            let slot = gw_index(p, u64::MAX);
            model.insert(*p, (slot, serial));
            spec(*p, slot, serial)
        })
        .collect();
    for (s, r) in specs.iter().zip(w.rt.add_many(&specs)) {
        r.unwrap_or_else(|e| panic!("load {}: {e}", s.dst));
    }
    drop(specs);

    let stream = replay::interleave(&data.updates_v4, &data.updates_v6);
    // Forwarders aim at prefixes the writer is about to touch, and at the table.
    let hot: Vec<IpNet> = stream.iter().take(200_000).map(|u| u.prefix).collect();
    let retired: Vec<AtomicU64> = (0..data.table.len() + stream.len() + 2)
        .map(|_| AtomicU64::new(0))
        .collect();
    let seq = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (stale, torn, found, hits, lookups) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );

    let slowest = std::thread::scope(|s| {
        for t in 0..FORWARDERS {
            let (w, hot, table) = (&w, &hot, &data.table);
            let (seq, retired, stop) = (&seq, &retired, &stop);
            let (stale, torn, found, hits, lookups) = (&stale, &torn, &found, &hits, &lookups);
            s.spawn(move || {
                let mut r = Rng(0xF0_0000 + t);
                let pick = |r: &mut Rng| {
                    let x = r.next_u64();
                    let p = if x & 1 == 0 {
                        hot[(x >> 1) as usize % hot.len()]
                    } else {
                        table[(x >> 1) as usize % table.len()]
                    };
                    ifa(inside(r, &p))
                };
                let mut flows: Vec<(IfaAddr, RouteCache)> = (0..FLOWS)
                    .map(|_| (pick(&mut r), RouteCache::new()))
                    .collect();
                let check = |e: &RtEntry, d: &IfaAddr, s0: u64| {
                    if !e.is_intact() || !e.dst().contains(&d.ip()) {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                    let serial = u64::from(e.metrics().rtt) as usize;
                    if serial != 0 {
                        let gone = retired[serial].load(Ordering::SeqCst);
                        if gone != 0 && gone <= s0 {
                            stale.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    found.fetch_add(1, Ordering::Relaxed);
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let x = r.next_u64();
                    let f = (x % FLOWS as u64) as usize;
                    if x >> 60 == 0 {
                        flows[f].0 = pick(&mut r);
                    }
                    let (d, cache) = &mut flows[f];
                    let s0 = seq.load(Ordering::SeqCst);
                    if (x >> 8).is_multiple_of(16) {
                        // A plain table lookup (rtalloc1) now and then.
                        if let Some(e) = w.rt.lookup(*d, false) {
                            check(&e, d, s0);
                        }
                    } else {
                        let (e, hit) = cache.lookup_noclone(&w.rt, *d);
                        if let Some(e) = e {
                            if hit {
                                hits.fetch_add(1, Ordering::Relaxed);
                            }
                            if (x >> 12).is_multiple_of(64) {
                                // Hold the reference across a yield: deletes and
                                // changes must wait for it.
                                std::thread::yield_now();
                            }
                            check(&e, d, s0);
                        }
                    }
                }
                lookups.fetch_add(n, Ordering::Relaxed);
            });
        }

        // The writer.
        let stamp = |serials: &[u64]| {
            let s = seq.load(Ordering::SeqCst) + 1;
            for &x in serials {
                retired[x as usize].store(s, Ordering::SeqCst);
            }
            seq.store(s, Ordering::SeqCst);
        };
        let started = Instant::now();
        let mut slowest = [Duration::ZERO; 3]; // change, delete, detach
        let mut over = [0u64; 3]; // calls over a tenth of the bound
        let (mut adds, mut changes, mut deletes, mut detaches) = (0u64, 0u64, 0u64, 0u64);
        let mut done = 0usize;
        let mut last_detach = Instant::now();
        for (
            pos,
            &Update {
                announce,
                prefix: p,
            },
        ) in stream.iter().enumerate()
        {
            if !full && started.elapsed().as_secs_f64() >= secs {
                break;
            }
            let present = model.get(&p).copied();
            let t0 = Instant::now();
            match (announce, present) {
                (true, None) => {
                    serial += 1;
                    let slot = slot_of(&p, pos as u64);
                    w.rt.add(&spec(p, slot, serial))
                        .unwrap_or_else(|e| panic!("update {pos} A {p}: {e}"));
                    model.insert(p, (slot, serial));
                    adds += 1;
                }
                (true, Some((_, old))) => {
                    serial += 1;
                    let slot = slot_of(&p, pos as u64);
                    w.rt.change(&spec(p, slot, serial), None)
                        .unwrap_or_else(|e| panic!("update {pos} A {p}: {e}"));
                    slowest[0] = slowest[0].max(t0.elapsed());
                    over[0] += u64::from(t0.elapsed() > BOUND / 10);
                    stamp(&[old]);
                    model.insert(p, (slot, serial));
                    changes += 1;
                }
                (false, Some((_, old))) => {
                    w.rt.delete(&RouteKey::new(p))
                        .unwrap_or_else(|e| panic!("update {pos} W {p}: {e}"));
                    slowest[1] = slowest[1].max(t0.elapsed());
                    over[1] += u64::from(t0.elapsed() > BOUND / 10);
                    stamp(&[old]);
                    model.remove(&p);
                    deletes += 1;
                }
                (false, None) => match w.rt.delete(&RouteKey::new(p)) {
                    Err(RouteError::NoSuchRoute { .. }) => {}
                    other => panic!("update {pos}: W {p} of an absent prefix: {other:?}"),
                },
            }
            done = pos + 1;
            if last_detach.elapsed() >= Duration::from_millis(400) {
                let t0 = Instant::now();
                w.ifs.detach(eth2).unwrap();
                slowest[2] = slowest[2].max(t0.elapsed());
                over[2] += u64::from(t0.elapsed() > BOUND / 10);
                let gone: Vec<IpNet> = model
                    .iter()
                    .filter(|(_, (slot, _))| *slot == 4)
                    .map(|(p, _)| *p)
                    .collect();
                let serials: Vec<u64> = gone.iter().map(|p| model[p].1).collect();
                for p in &gone {
                    model.remove(p);
                }
                stamp(&serials);
                // Every route through eth2 is gone from the table too.
                for p in &gone {
                    assert!(
                        matches!(
                            w.rt.get(&RouteKey::new(*p)),
                            Err(RouteError::NoSuchRoute { .. })
                        ),
                        "{p} survived the detach of its interface"
                    );
                }
                eth2 = attach_eth2(&w.ifs);
                detaches += 1;
                last_detach = Instant::now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        println!(
            "route_concurrent_replay: {done} of {} updates in {:?} ({adds} adds, {changes} \
             changes, {deletes} deletes, {detaches} detaches of eth2); slowest change {:?}, \
             delete {:?}, detach {:?}; calls over {:?}: {over:?}",
            stream.len(),
            started.elapsed(),
            slowest[0],
            slowest[1],
            slowest[2],
            BOUND / 10,
        );
        assert!(done > 0 && changes > 0);
        slowest
    });
    println!(
        "route_concurrent_replay: {} forwarder lookups, {} found a route, {} cache hits; \
         {} stale, {} torn",
        lookups.load(Ordering::Relaxed),
        found.load(Ordering::Relaxed),
        hits.load(Ordering::Relaxed),
        stale.load(Ordering::Relaxed),
        torn.load(Ordering::Relaxed),
    );
    assert_eq!(stale.load(Ordering::Relaxed), 0, "stale routes returned");
    assert_eq!(torn.load(Ordering::Relaxed), 0, "torn or wrong entries");
    assert!(found.load(Ordering::Relaxed) > 0);
    // Checked last, so a slow machine still gets the staleness verdict.
    for (what, d) in ["change", "delete", "detach"].iter().zip(slowest) {
        assert!(d < BOUND, "a {what} took {d:?}");
    }
}
