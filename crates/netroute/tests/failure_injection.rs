//! Failure injection: the allocation failures NetBSD has on these paths are reachable
//! and leave state consistent.
//!
//! * `rtcache_setdst` → `sockaddr_dup` ENOMEM ([`RouteCache::fail_next_alloc`]): the
//!   cache is left empty (no destination, no route), the table and its counters are
//!   untouched, other caches keep working, and the next use refills it — also while a
//!   writer changes the table.
//! * VTW pool exhaustion (a class ring full of live entries), under both overflow
//!   policies: refused inserts change nothing, evicting inserts drop exactly the oldest,
//!   and the length, the lookups, the port index and the counters agree throughout.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::IpNet;
use netroute::Stack;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfaAddr};
use netroute::route::{RouteCache, RouteError, RouteKey, RouteSpec};
use netroute::timewait::{
    ClassCapacities, LocalAddrId, MslClass, Overflow, TimeWaitInfo, Tuple, VtwConfig, VtwError,
    VtwStats, VtwTable,
};

fn stack() -> Stack {
    let s = Stack::new();
    let eth0 = s
        .ifs()
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    s.ifs()
        .add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))
        .unwrap();
    s.ifs()
        .add_addr(
            eth0,
            AddrSpec::new("2001:db8::1".parse::<IpAddr>().unwrap(), 64),
        )
        .unwrap();
    s.routes()
        .add(&RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([192, 0, 2, 254]))
        .unwrap();
    s.routes()
        .add(
            &RouteSpec::new("::/0".parse().unwrap()).via("2001:db8::fe".parse::<IpAddr>().unwrap()),
        )
        .unwrap();
    s
}

fn v6(s: &str) -> IfaAddr {
    IfaAddr::V6(netroute::addr::ScopedAddr::new(s.parse().unwrap(), None).unwrap())
}

#[test]
fn route_cache_enomem_leaves_everything_consistent() {
    let s = stack();
    let rt = s.routes();
    let d4 = IfaAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let d6 = v6("2001:db8:77::7");
    let mut other = RouteCache::new();
    assert!(other.lookup(rt, d4).0.is_some());
    let generation = rt.generation();
    let unreach = rt.stats().unreach;
    let uses = rt
        .get(&RouteKey::new("0.0.0.0/0".parse().unwrap()))
        .unwrap()
        .uses;
    let mut sub = rt.subscribe(16);

    let mut c = RouteCache::new();
    // Every entry point that allocates a destination.
    c.fail_next_alloc();
    assert_eq!(c.set_dst(d4), Err(RouteError::NoMemory));
    assert_eq!((c.dst(), c.has_route()), (None, false));
    assert!(c.validate(rt).is_none());
    c.fail_next_alloc();
    let (r, hit) = c.lookup(rt, d4);
    assert!(r.is_none() && !hit);
    drop(r);
    assert_eq!((c.dst(), c.has_route()), (None, false));
    // A family change reallocates: fails, and forgets the old destination and route.
    assert!(c.lookup(rt, d4).0.is_some());
    c.fail_next_alloc();
    let (r, hit) = c.lookup_noclone(rt, d6);
    assert!(r.is_none() && !hit);
    drop(r);
    assert_eq!((c.dst(), c.has_route()), (None, false));
    // copy_from into a cache whose allocation fails.
    let mut copy = RouteCache::new();
    copy.fail_next_alloc();
    assert_eq!(copy.copy_from(rt, &mut other), Err(RouteError::NoMemory));
    assert_eq!((copy.dst(), copy.has_route()), (None, false));
    assert!(
        other.validate(rt).is_some(),
        "the source cache is untouched"
    );

    // Nothing shared moved: no generation bump, no miss counted or reported, one use
    // (the refill above) on the default route.
    assert_eq!(rt.generation(), generation);
    assert_eq!(rt.stats().unreach, unreach);
    assert!(sub.try_next().is_none(), "ENOMEM reported as a route miss");
    assert_eq!(
        rt.get(&RouteKey::new("0.0.0.0/0".parse().unwrap()))
            .unwrap()
            .uses,
        uses + 1
    );
    // The knob is one-shot: the next use works and caches.
    let (r, hit) = c.lookup(rt, d6);
    assert!(r.is_some() && !hit);
    drop(r);
    assert!(c.lookup(rt, d6).1);
}

#[test]
fn route_cache_enomem_under_concurrent_changes() {
    let s = stack();
    let rt = s.routes();
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let p: IpNet = format!("198.51.{}.0/24", (i / 2) % 200).parse().unwrap();
                if i.is_multiple_of(2) {
                    rt.add(&RouteSpec::new(p).via([192, 0, 2, 253])).unwrap();
                } else {
                    rt.delete(&RouteKey::new(p)).unwrap();
                    assert!(rt.get(&RouteKey::new(p)).is_err());
                }
                i += 1;
            }
        });
        let mut c = RouteCache::new();
        let mut failed = 0;
        for n in 0..20_000u32 {
            let d = IfaAddr::V4(Ipv4Addr::new(198, 51, (n % 200) as u8, 9));
            if n.is_multiple_of(7) {
                c.free();
                c.fail_next_alloc();
                let (r, _) = c.lookup(rt, d);
                assert!(r.is_none());
                drop(r);
                assert_eq!((c.dst(), c.has_route()), (None, false));
                failed += 1;
                continue;
            }
            let (r, _) = c.lookup(rt, d);
            let r = r.expect("the default route covers everything");
            assert!(r.is_intact() && r.dst().contains(&d.ip()));
        }
        stop.store(true, Ordering::Relaxed);
        assert!(failed > 2000);
    });
    // Afterwards every prefix the writer left is consistent with a fresh cache.
    let mut c = RouteCache::new();
    for k in 0..200u8 {
        let d = IfaAddr::V4(Ipv4Addr::new(198, 51, k, 9));
        let fresh = rt.lookup(d, false).map(|r| r.id());
        assert_eq!(c.lookup(rt, d).0.map(|r| r.id()), fresh);
    }
}

// ------------------------------------------------------------------------------ VTW

fn tup(i: u32) -> Tuple<Ipv4Addr> {
    Tuple {
        local: LocalAddrId((i % 3) as u16),
        lport: 80 + (i % 4) as u16,
        faddr: Ipv4Addr::from_bits(0xc633_0000 + i),
        fport: 30_000 + (i % 5000) as u16,
    }
}

fn info(i: u32) -> TimeWaitInfo {
    TimeWaitInfo {
        snd_nxt: 7 * i,
        rcv_nxt: 11 * i,
        rcv_wnd: 1 << 16,
        rcv_wscale: 2,
        ts_recent: None,
        uid: 0,
        reuse_addr: false,
        reuse_port: false,
        v6only: false,
    }
}

fn live(st: &VtwStats) -> u64 {
    st.inserts - st.deletes - st.expired - st.evicted - st.rst_kills - st.reopens - st.tw_reuses
}

/// Checks that the table holds exactly `model` (oldest first) and that its counters
/// and port index agree.
fn check(t: &mut VtwTable<Ipv4Addr>, model: &VecDeque<u32>, gone: &[u32], now: u64) {
    assert_eq!(t.len(), model.len());
    assert_eq!(t.class_len(MslClass::Local), model.len());
    assert_eq!(live(t.stats()), model.len() as u64, "{:?}", t.stats());
    for &i in model {
        let e = t.lookup(&tup(i), now).expect("a live entry is found");
        assert_eq!((e.tuple, e.snd_nxt, e.rcv_nxt), (tup(i), 7 * i, 11 * i));
    }
    for &i in gone {
        assert!(t.lookup(&tup(i), now).is_none(), "entry {i} should be gone");
    }
    for lport in 80..84u16 {
        let want = model.iter().filter(|&&i| tup(i).lport == lport).count();
        let mut n = 0;
        t.for_each_port_user(lport, None, now, |_| n += 1);
        assert_eq!(n > 0, want > 0, "port {lport}");
    }
}

fn pool(cap: u32, overflow: Overflow) -> VtwTable<Ipv4Addr> {
    let mut t = VtwTable::new(VtwConfig {
        capacity: ClassCapacities {
            loopback: 0,
            local: cap,
            remote: 0,
        },
        hash_seed: Some(7),
        mark_granularity_ms: 1,
        ..VtwConfig::with_entries(3)
    })
    .unwrap();
    t.tunables_mut().overflow = overflow;
    t
}

#[test]
fn vtw_pool_exhaustion_refuse_changes_nothing() {
    const CAP: u32 = 64;
    let mut t = pool(CAP, Overflow::Refuse);
    let mut model: VecDeque<u32> = (0..CAP).collect();
    for i in 0..CAP {
        assert_eq!(t.insert(tup(i), MslClass::Local, info(i), 0), Ok(false));
    }
    check(&mut t, &model, &[], 0);
    // Hammer the full class: every insert refused, nothing changes.
    let refused: Vec<u32> = (CAP..CAP + 1000).collect();
    for &i in &refused {
        assert_eq!(
            t.insert(tup(i), MslClass::Local, info(i), 1),
            Err(VtwError::ClassFull(MslClass::Local))
        );
    }
    assert_eq!(t.stats().insert_class_full, 1000);
    assert_eq!(t.stats().evicted, 0);
    check(&mut t, &model, &refused, 1);
    // A removal in the middle of the ring leaves the class full until the tail reaches
    // the hole (documented, as NetBSD's rings); a removal of the oldest makes room for
    // exactly one.
    t.remove(&tup(5), 2).unwrap();
    model.retain(|&i| i != 5);
    assert_eq!(
        t.insert(tup(CAP), MslClass::Local, info(CAP), 2),
        Err(VtwError::ClassFull(MslClass::Local))
    );
    check(&mut t, &model, &[5, CAP], 2);
    t.remove(&tup(0), 2).unwrap();
    model.retain(|&i| i != 0);
    assert_eq!(t.insert(tup(CAP), MslClass::Local, info(CAP), 2), Ok(false));
    model.push_back(CAP);
    assert!(
        t.insert(tup(CAP + 1), MslClass::Local, info(CAP + 1), 2)
            .is_err()
    );
    check(&mut t, &model, &[0, 5, CAP + 1], 2);
    // Expiry empties the pool and inserts work again.
    let later = 60_000;
    assert_eq!(t.expire(later), model.len());
    check(&mut t, &VecDeque::new(), &[0, CAP], later);
    assert_eq!(t.insert(tup(1), MslClass::Local, info(1), later), Ok(false));
}

#[test]
fn vtw_pool_exhaustion_evict_oldest_keeps_the_newest() {
    const CAP: u32 = 64;
    let mut t = pool(CAP, Overflow::EvictOldest);
    let mut model = VecDeque::new();
    let mut gone = Vec::new();
    for i in 0..CAP * 20 {
        // An insert into a full ring evicts at most one entry, the oldest live one, and
        // says so; holes in the middle are reclaimed when the tail reaches them.
        let evicted = t.insert(tup(i), MslClass::Local, info(i), 0).unwrap();
        if evicted {
            gone.push(model.pop_front().unwrap());
        }
        model.push_back(i);
        assert!(model.len() <= CAP as usize);
        if model.len() == CAP as usize {
            assert!(t.insert(tup(i), MslClass::Local, info(i), 0).is_err());
        }
        // Remove some from the middle: holes are reused without eviction.
        if i % 9 == 4 {
            let victim = model[model.len() / 2];
            t.remove(&tup(victim), 0).unwrap();
            model.retain(|&x| x != victim);
            gone.push(victim);
        }
        if i % 97 == 0 {
            check(&mut t, &model, &gone, 0);
        }
    }
    check(&mut t, &model, &gone, 0);
    assert!(t.stats().evicted > 0 && t.stats().insert_class_full == 0);
    // A duplicate of a live entry in a full class neither evicts nor inserts.
    let before = *t.stats();
    let newest = *model.back().unwrap();
    assert_eq!(
        t.insert(tup(newest), MslClass::Local, info(newest), 0),
        Err(VtwError::Duplicate)
    );
    assert_eq!(t.stats().evicted, before.evicted);
    check(&mut t, &model, &gone, 0);
}
