//! Multi-thread stress of the interface table: reader threads look interfaces and
//! addresses up by index, name, link-layer address and address, hold the passive
//! references across yields and short sleeps, keep counted address references across
//! iterations, and check every object's canary and its self-describing contents; one
//! writer attaches and detaches interfaces and adds and removes addresses; one slow
//! subscriber checks that lost events are reported, never silent. Readers also keep
//! multicast options bound to an interface and resolve them on every iteration; the
//! writer also toggles flags in place.
//!
//! Checks: zero faults; no reader sees an attachment again after a lookup of its index
//! was refused; every detach completes within a bound. Duration `IFNET_STRESS_SECS`
//! (default 2 s).
#![cfg(not(loom))]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netroute::addr::{IfIndex, LinkAddr};
use netroute::ifnet::{
    AddrSpec, IfAddr, IfConfig, IfError, IfFlags, IfTable, IfTableConfig, IfaAddr,
    MulticastOptions, Notice, SystemClock,
};
use netroute::psref::Domain;

const MAX_IF: u32 = 16;
const DETACH_BOUND: Duration = Duration::from_secs(3);

/// The library's deterministic generator (`synth::SplitMix64`).
type Rng = netroute::synth::SplitMix64;

/// Everything about interface number `n` is derived from `n`, so a reader can check
/// that the object it holds is consistent (a torn or recycled object would not be).
fn name(n: u32) -> String {
    format!("s{n}")
}
fn lla(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [2, 0, b[0], b[1], b[2], b[3]]
}
fn mtu(n: u32) -> u32 {
    1000 + n % 500
}
fn v4(n: u32, k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, (n >> 8) as u8, n as u8, k)
}
fn v6(n: u32, k: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, (n >> 16) as u16, n as u16, 0, 0, 0, k.into())
}
/// The interface number encoded in an address.
fn n_of(a: &IfAddr) -> u32 {
    match a.addr() {
        IfaAddr::V4(x) => {
            let o = x.octets();
            (u32::from(o[1]) << 8) | u32::from(o[2])
        }
        IfaAddr::V6(x) => {
            let s = x.addr().segments();
            (u32::from(s[2]) << 16) | u32::from(s[3])
        }
    }
}

#[test]
fn ifnet_stress() {
    let secs: f64 = std::env::var("IFNET_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let run = Duration::from_secs_f64(secs);
    let table = IfTable::with_config(
        Arc::new(Domain::new()),
        IfTableConfig {
            max_interfaces: MAX_IF as usize,
            max_addresses: 1024,
        },
        Arc::new(SystemClock::new()),
    );
    let stop = AtomicBool::new(false);
    let faults = AtomicU64::new(0);
    let highest_n = AtomicU64::new(0);
    let lookups = AtomicU64::new(0);
    let hits = AtomicU64::new(0);
    let hook_calls = Arc::new(AtomicU64::new(0));
    let hc = hook_calls.clone();
    table.set_route_hook(Arc::new(move |_: IfIndex| {
        hc.fetch_add(1, Ordering::SeqCst);
    }));
    let mut all_events = table.subscribe(1 << 14);
    let mut slow = table.subscribe(8);
    let fault = |what: &str| {
        eprintln!("fault: {what}");
        faults.fetch_add(1, Ordering::SeqCst);
    };

    let (detaches, max_detach, slow_seen) = std::thread::scope(|s| {
        for r in 0..3u64 {
            let (table, stop, highest_n, lookups, hits, fault) =
                (&table, &stop, &highest_n, &lookups, &hits, &fault);
            s.spawn(move || {
                let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (r + 1));
                // Per index: highest attach id seen, and the attach ids known dead.
                let mut seen: HashMap<u32, u64> = HashMap::new();
                let mut dead_floor: HashMap<u32, u64> = HashMap::new();
                let mut counted: Vec<Arc<IfAddr>> = Vec::new();
                let mut mo = MulticastOptions::new();
                let mut mo_id = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Multicast options resolve their interface on every use.
                    match mo.interface(table) {
                        Ok(Some(ifp)) => {
                            if !ifp.is_intact() || ifp.attach_id() != mo_id {
                                fault("multicast options resolved to another attachment");
                            }
                        }
                        Ok(None) | Err(IfError::InterfaceGone { .. }) => {
                            let i = IfIndex::new(1 + rng.below(u64::from(MAX_IF)) as u32).unwrap();
                            if mo.set_interface(table, i).is_ok() {
                                // The attachment it is bound to; every later
                                // resolution must give the same one or an error.
                                mo_id = match mo.interface(table) {
                                    Ok(Some(x)) => x.attach_id(),
                                    _ => 0,
                                };
                            }
                        }
                        Err(e) => fault(&format!("multicast options: {e}")),
                    }
                    lookups.fetch_add(1, Ordering::Relaxed);
                    let i = 1 + rng.below(u64::from(MAX_IF)) as u32;
                    let index = IfIndex::new(i).unwrap();
                    match table.get_by_index(index) {
                        None => {
                            if let Some(&m) = seen.get(&i) {
                                dead_floor.insert(i, m);
                            }
                        }
                        Some(ifp) => {
                            hits.fetch_add(1, Ordering::Relaxed);
                            let id = ifp.attach_id();
                            if dead_floor.get(&i).is_some_and(|&d| id <= d) {
                                fault("an attachment reappeared after its index was refused");
                            }
                            if seen.get(&i).is_some_and(|&m| id < m) {
                                fault("attach id went backwards");
                            }
                            seen.insert(i, id);
                            let check = |ifp: &netroute::ifnet::Ifnet| {
                                let n: u32 =
                                    match ifp.name().strip_prefix('s').and_then(|x| x.parse().ok())
                                    {
                                        Some(n) => n,
                                        None => return fault("bad name"),
                                    };
                                if !ifp.is_intact() {
                                    fault("ifnet canary");
                                }
                                if ifp.index() != index
                                    || !ifp.flags().contains(IfFlags::BROADCAST)
                                    || ifp.mtu() != mtu(n)
                                    || ifp.lladdr().map(|l| l.as_bytes()) != Some(&lla(n)[..])
                                {
                                    fault("inconsistent ifnet");
                                }
                            };
                            check(&ifp);
                            // Hold the reference across a yield (and sometimes a sleep).
                            std::thread::yield_now();
                            if rng.below(16) == 0 {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                            check(&ifp);
                            let n: u32 = ifp.name()[1..].parse().unwrap_or(0);
                            // By name and link-layer address: the same or nothing (it
                            // may have been detached meanwhile; index reuse gives
                            // another name).
                            if let Some(b) = table.get(&name(n))
                                && (b.attach_id() != id || !b.is_intact())
                            {
                                fault("name lookup found another attachment");
                            }
                            if let Some(b) = table.get_by_lla(&lla(n))
                                && b.attach_id() != id
                            {
                                fault("lla lookup found another attachment");
                            }
                            // Its addresses, while the interface reference is held.
                            for a in table.addrs_of(index, None) {
                                if !a.is_intact() || a.ifindex() != index {
                                    fault("address of the wrong interface");
                                }
                                if a.if_attach_id() != id && a.if_attach_id() < id {
                                    fault("address of an old attachment listed");
                                }
                            }
                            drop(ifp);
                        }
                    }
                    // Address lookups for a recent interface number.
                    let hn = highest_n.load(Ordering::Relaxed) as u32;
                    let n = hn.saturating_sub(rng.below(8) as u32);
                    let k = 1 + rng.below(3) as u8;
                    let found = if rng.below(2) == 0 {
                        table.ifa_ifwithaddr(v4(n, k))
                    } else {
                        table.ifa_ifwithnet(v4(n, 200))
                    };
                    if let Some(a) = found {
                        // IPv4 addresses encode 16 bits of `n`: a fast run attaches
                        // more than 65,536 interfaces in its 2 s (never two alive
                        // with the same low bits: at most MAX_IF are).
                        if !a.is_intact() || n_of(&a) != n & 0xffff {
                            fault("ipv4 address lookup");
                        }
                        std::thread::yield_now();
                        if !a.is_intact() {
                            fault("ipv4 address canary after yield");
                        }
                        if counted.len() < 32 {
                            counted.push(a.counted());
                        }
                    }
                    let g = netroute::addr::ScopedAddr::new(v6(n, k), None).unwrap();
                    if let Some(a) = table.ifa_ifwithaddr(g)
                        && (!a.is_intact() || n_of(&a) != n || a.ip() != v6(n, k))
                    {
                        fault("ipv6 address lookup");
                    }
                    // Counted references stay valid across removal.
                    if rng.below(64) == 0 {
                        for c in counted.drain(..) {
                            if !c.is_intact() {
                                fault("counted address freed");
                            }
                        }
                    }
                }
            });
        }

        // The slow subscriber drains a little now and then.
        let slow_reader = s.spawn(|| {
            let mut got = 0u64;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
                for _ in 0..3 {
                    match slow.try_next() {
                        Some(Notice::Event { .. }) => got += 1,
                        Some(Notice::Lost { count }) => got += count,
                        None => break,
                    }
                }
            }
            for n in slow.drain() {
                match n {
                    Notice::Event { .. } => got += 1,
                    Notice::Lost { count } => got += count,
                }
            }
            (got, slow.lost())
        });

        // The writer.
        let mut rng = Rng::new(0xD1B5_4A32_D192_ED03);
        let mut live: Vec<(IfIndex, u32)> = Vec::new();
        let mut addrs: Vec<(IfIndex, IfaAddr)> = Vec::new();
        let mut next_n = 1u32;
        let mut detaches = 0u64;
        let mut max_detach = Duration::ZERO;
        let start = Instant::now();
        // Run for the time asked, and on a starved machine (where each synchronize waits
        // for descheduled readers) a little longer, until a few detaches happened.
        while start.elapsed() < run || (detaches < 3 && start.elapsed() < run * 20) {
            match rng.below(12) {
                0..=2 if live.len() < MAX_IF as usize - 2 => {
                    let n = next_n;
                    next_n += 1;
                    let cfg = IfConfig::new(name(n))
                        .flags(IfFlags::UP | IfFlags::BROADCAST | IfFlags::RUNNING)
                        .mtu(mtu(n))
                        .lladdr(LinkAddr::new(&lla(n)).unwrap());
                    let index = table.attach(cfg).expect("attach");
                    highest_n.store(u64::from(n), Ordering::Relaxed);
                    live.push((index, n));
                }
                3..=5 if !live.is_empty() => {
                    let (index, n) = live[rng.below(live.len() as u64) as usize];
                    let k = 1 + rng.below(3) as u8;
                    let spec = if rng.below(2) == 0 {
                        AddrSpec::new(v4(n, k), 24)
                    } else {
                        AddrSpec::new(v6(n, k), 64)
                    };
                    if let Ok(key) = table.add_addr(index, spec) {
                        addrs.push((index, key));
                    }
                }
                6..=7 if !addrs.is_empty() => {
                    let (index, key) = addrs.swap_remove(rng.below(addrs.len() as u64) as usize);
                    table.remove_addr(index, key).expect("remove_addr");
                }
                8..=9 if live.len() > 2 => {
                    let (index, _) = live.swap_remove(rng.below(live.len() as u64) as usize);
                    addrs.retain(|(i, _)| *i != index);
                    let t = Instant::now();
                    table.detach(index).expect("detach");
                    let d = t.elapsed();
                    detaches += 1;
                    max_detach = max_detach.max(d);
                }
                _ if !live.is_empty() => {
                    // Flag churn: RUNNING on and off, in place.
                    let (index, _) = live[rng.below(live.len() as u64) as usize];
                    if rng.below(2) == 0 {
                        table.set_flags(index, IfFlags::RUNNING, IfFlags::empty())
                    } else {
                        table.set_flags(index, IfFlags::empty(), IfFlags::RUNNING)
                    }
                    .expect("set_flags");
                }
                _ => std::thread::yield_now(),
            }
        }
        stop.store(true, Ordering::SeqCst);
        let slow_seen = slow_reader.join().unwrap();
        (detaches, max_detach, slow_seen)
    });

    // Every published event, whether the big subscriber kept it or (in long runs) lost it.
    let published = all_events
        .drain()
        .iter()
        .map(|n| match n {
            Notice::Event { .. } => 1,
            Notice::Lost { count } => *count,
        })
        .sum::<u64>();
    eprintln!(
        "ifnet stress: {secs} s, {} lookups ({} hits), {detaches} detaches (max {max_detach:?}), \
         {published} events ({} lost by the slow subscriber)",
        lookups.load(Ordering::Relaxed),
        hits.load(Ordering::Relaxed),
        slow_seen.1
    );
    assert_eq!(faults.load(Ordering::SeqCst), 0, "faults");
    assert!(detaches > 0, "the writer never detached");
    assert_eq!(
        hook_calls.load(Ordering::SeqCst),
        detaches,
        "one route hook call per detach"
    );
    assert!(max_detach < DETACH_BOUND, "a detach took {max_detach:?}");
    assert_eq!(
        slow_seen.0, published,
        "events + lost = published: no silent loss"
    );
}
