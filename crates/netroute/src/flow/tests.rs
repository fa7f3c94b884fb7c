//! Unit tests of the flow cache and the tunnel route caches, each body run for IPv4
//! and IPv6.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use psref::Domain;

use super::*;
use crate::addr::{IfIndex, ScopedAddr};
use crate::ifnet::{AddrSpec, FakeClock, IfConfig, IfFlags, IfTable, IfTableConfig, IfaAddr};
use crate::route::{RouteCache, RouteError, RouteKey, RouteSpec, RouteTables, RtFlags};

struct Fam {
    eth0: (&'static str, u8),
    eth1: (&'static str, u8),
    gw0: &'static str,
    gw1: &'static str,
    far: &'static str,
    dst: [&'static str; 5],
    src: &'static str,
    scoped: &'static str,
    multicast: &'static str,
}

const V4: Fam = Fam {
    eth0: ("192.0.2.1", 24),
    eth1: ("198.51.100.1", 24),
    gw0: "192.0.2.254",
    gw1: "198.51.100.254",
    far: "10.0.0.0/8",
    dst: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
    src: "203.0.113.7",
    scoped: "169.254.0.1",
    multicast: "224.0.0.9",
};

const V6: Fam = Fam {
    eth0: ("2001:db8::1", 64),
    eth1: ("2001:db8:1::1", 64),
    gw0: "2001:db8::fe",
    gw1: "2001:db8:1::fe",
    far: "2001:db8:a000::/36",
    dst: [
        "2001:db8:a000::1",
        "2001:db8:a000::2",
        "2001:db8:a000::3",
        "2001:db8:a000::4",
        "2001:db8:a000::5",
    ],
    src: "2001:db8:f::7",
    scoped: "fe80::1",
    multicast: "ff02::9",
};

struct World {
    ifs: Arc<IfTable>,
    rt: Arc<RouteTables>,
    clock: Arc<FakeClock>,
    eth0: IfIndex,
    eth1: IfIndex,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ifa(a: IpAddr) -> IfaAddr {
    match a {
        IpAddr::V4(a) => IfaAddr::V4(a),
        IpAddr::V6(a) => IfaAddr::V6(ScopedAddr::new(a, None).unwrap()),
    }
}

fn world(f: &Fam) -> World {
    let clock = Arc::new(FakeClock::new());
    let ifs = Arc::new(IfTable::with_config(
        Arc::new(Domain::new()),
        IfTableConfig::default(),
        Arc::clone(&clock) as Arc<dyn crate::ifnet::Clock>,
    ));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let up = IfFlags::UP | IfFlags::BROADCAST;
    let eth0 = ifs.attach(IfConfig::new("eth0").flags(up)).unwrap();
    ifs.add_addr(eth0, AddrSpec::new(ip(f.eth0.0), f.eth0.1))
        .unwrap();
    let eth1 = ifs.attach(IfConfig::new("eth1").flags(up)).unwrap();
    ifs.add_addr(eth1, AddrSpec::new(ip(f.eth1.0), f.eth1.1))
        .unwrap();
    World {
        ifs,
        rt,
        clock,
        eth0,
        eth1,
    }
}

fn pkt_to(dst: &str, src: &str, class: u8) -> Packet {
    match (ip(dst), ip(src)) {
        (IpAddr::V4(d), IpAddr::V4(s)) => Packet::v4(s, d, class, 64, 6, 1000),
        (IpAddr::V6(d), IpAddr::V6(s)) => Packet::v6(s, d, u32::from(class) << 20, 64, 6, 1000),
        _ => unreachable!(),
    }
}

fn pkt(f: &Fam, i: usize) -> Packet {
    pkt_to(f.dst[i], f.src, 0)
}

/// What the slow path does for `p`: route it with a cache, then make its flow.
fn slow_path(w: &World, flows: &mut FlowTable, p: &Packet) -> Result<Created, NotCreated> {
    let mut ro = RouteCache::new();
    let (r, _) = ro.lookup(&w.rt, ifa(p.key.dst()));
    assert!(r.is_some(), "slow path found no route for {:?}", p.key);
    drop(r);
    flows.create(&w.rt, p, &mut ro)
}

fn table(w: &World, max: usize) -> FlowTable {
    FlowTable::new(
        FlowConfig {
            max_flows: max,
            idle_timeout: Duration::from_secs(5),
        },
        Arc::clone(&w.clock) as Arc<dyn crate::ifnet::Clock>,
    )
}

fn both(body: impl Fn(&Fam)) {
    body(&V4);
    body(&V6);
}

#[test]
fn fast_forward_hit_decrements_ttl_and_names_next_hop() {
    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)))
            .unwrap();
        let mut flows = table(&w, 8);
        let p = pkt(f, 0);
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::NoFlow)
        );
        slow_path(&w, &mut flows, &p).unwrap();
        for _ in 0..3 {
            match flows.forward(&w.rt, &p) {
                Verdict::Forward(fw) => {
                    assert_eq!(fw.ifindex, w.eth0);
                    assert_eq!(fw.next_hop, ip(f.gw0));
                    assert_eq!(fw.ttl, 63);
                    assert_eq!(fw.route.dst(), net(f.far));
                }
                v => panic!("{v:?}"),
            }
        }
        let s = flows.stats();
        assert_eq!((s.hits, s.misses, s.created), (3, 1, 1));
        assert_eq!(flows.uses(&p.key), Some(3));
        // The slow timer folds the flow's uses into rt_use.
        let before = w.rt.lookup(ifa(p.key.dst()), false).unwrap().uses();
        assert_eq!(flows.slow_timer(&w.rt), ReapReport::default());
        assert_eq!(flows.uses(&p.key), Some(0));
        let after = w.rt.lookup(ifa(p.key.dst()), false).unwrap().uses();
        assert_eq!(after, before + 3 + 1);
        // Another TOS / traffic class is another flow.
        assert_eq!(
            flows
                .forward(&w.rt, &pkt_to(f.dst[0], f.src, 0x10))
                .slow_reason(),
            Some(SlowReason::NoFlow)
        );
    });
}

#[test]
fn eviction_is_fifo_and_recreation_moves_to_front() {
    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)))
            .unwrap();
        let mut flows = table(&w, 3);
        let k = |i: usize| pkt(f, i).key;
        for i in 0..3 {
            let c = slow_path(&w, &mut flows, &pkt(f, i)).unwrap();
            assert_eq!(c.evicted, None);
        }
        assert_eq!(flows.keys_oldest_first(), vec![k(0), k(1), k(2)]);
        // Full: the oldest goes, even though it is the most used one.
        for _ in 0..10 {
            assert!(flows.forward(&w.rt, &pkt(f, 0)).is_forward());
        }
        let c = slow_path(&w, &mut flows, &pkt(f, 3)).unwrap();
        assert_eq!(c.evicted, Some(k(0)));
        assert!(!flows.contains(&k(0)));
        assert_eq!(flows.keys_oldest_first(), vec![k(1), k(2), k(3)]);
        // Re-creating a flow refreshes it in place (no eviction) and moves it first.
        let c = slow_path(&w, &mut flows, &pkt(f, 1)).unwrap();
        assert_eq!(
            c,
            Created {
                replaced: true,
                evicted: None
            }
        );
        assert_eq!(flows.keys_oldest_first(), vec![k(2), k(3), k(1)]);
        let c = slow_path(&w, &mut flows, &pkt(f, 4)).unwrap();
        assert_eq!(c.evicted, Some(k(2)));
        assert_eq!(flows.keys_oldest_first(), vec![k(3), k(1), k(4)]);
        assert_eq!(flows.len(), 3);
        assert_eq!(flows.stats().evicted, 2);
        flows.flush(&w.rt);
        assert!(flows.is_empty() && flows.keys_oldest_first().is_empty());
    });
}

#[test]
fn idle_flows_expire_on_the_slow_timer() {
    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)))
            .unwrap();
        let mut flows = table(&w, 8);
        let (a, b) = (pkt(f, 0), pkt(f, 1));
        slow_path(&w, &mut flows, &a).unwrap();
        slow_path(&w, &mut flows, &b).unwrap();
        w.clock.advance(Duration::from_secs(3));
        assert_eq!(flows.slow_timer(&w.rt).expired, 0);
        // `a` is used after the timer at t=3: stamped 3.
        assert!(flows.forward(&w.rt, &a).is_forward());
        w.clock.advance(Duration::from_millis(1999));
        assert_eq!(flows.slow_timer(&w.rt).expired, 0);
        w.clock.advance(Duration::from_millis(1));
        // t=5: `b` (idle since 0) goes, `a` (used at 3) stays.
        assert_eq!(
            flows.slow_timer(&w.rt),
            ReapReport {
                expired: 1,
                reaped: 0
            }
        );
        assert!(flows.contains(&a.key) && !flows.contains(&b.key));
        w.clock.advance(Duration::from_secs(3));
        assert_eq!(flows.slow_timer(&w.rt).expired, 1);
        assert!(flows.is_empty());
        assert_eq!(flows.stats().expired, 2);
    });
}

#[test]
fn flows_are_reaped_after_route_delete_change_and_interface_down() {
    both(|f| {
        let w = world(f);
        let far = net(f.far);
        w.rt.add(&RouteSpec::new(far).via(ip(f.gw0))).unwrap();
        let mut flows = table(&w, 8);
        let p = pkt(f, 0);

        // Delete.
        slow_path(&w, &mut flows, &p).unwrap();
        assert!(flows.forward(&w.rt, &p).is_forward());
        w.rt.delete(&RouteKey::new(far)).unwrap();
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::RouteChanged)
        );
        assert_eq!(flows.slow_timer(&w.rt).reaped, 1);
        assert!(flows.is_empty());

        // Change (to the other interface): the flow must not keep the old route.
        w.rt.add(&RouteSpec::new(far).via(ip(f.gw0))).unwrap();
        slow_path(&w, &mut flows, &p).unwrap();
        w.rt.change(&RouteSpec::new(far).via(ip(f.gw1)), None)
            .unwrap();
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::RouteChanged)
        );
        // The slow path re-creates the flow with the new route.
        slow_path(&w, &mut flows, &p).unwrap();
        match flows.forward(&w.rt, &p) {
            Verdict::Forward(fw) => {
                assert_eq!(fw.ifindex, w.eth1);
                assert_eq!(fw.next_hop, ip(f.gw1));
            }
            v => panic!("{v:?}"),
        }
        // An unrelated add anywhere (even the other family) also invalidates: the
        // slow timer reaps.
        w.rt.add(&RouteSpec::new(net("203.0.113.0/24")).via(ip("192.0.2.254")))
            .ok();
        w.rt.add(&RouteSpec::new(net("2001:db8:ff::/48")).flags(RtFlags::BLACKHOLE))
            .unwrap();
        assert_eq!(flows.slow_timer(&w.rt).reaped, 1);

        // Interface down: refused at once, reaped by the timer (route still valid).
        slow_path(&w, &mut flows, &p).unwrap();
        w.ifs
            .set_flags(w.eth1, IfFlags::empty(), IfFlags::UP)
            .unwrap();
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::InterfaceDown)
        );
        assert_eq!(flows.slow_timer(&w.rt).reaped, 1);
        w.ifs
            .set_flags(w.eth1, IfFlags::UP, IfFlags::empty())
            .unwrap();

        // Detach: its routes go, the flow's cache no longer validates.
        slow_path(&w, &mut flows, &p).unwrap();
        assert!(flows.forward(&w.rt, &p).is_forward());
        w.ifs.detach(w.eth1).unwrap();
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::RouteChanged)
        );
        assert_eq!(flows.slow_timer(&w.rt).reaped, 1);
        assert_eq!(flows.stats().reaped, 4);
    });
}

#[test]
fn blackhole_reject_and_broadcast_routes_are_refused() {
    both(|f| {
        let w = world(f);
        let far = net(f.far);
        let mut flows = table(&w, 8);
        let p = pkt(f, 0);
        for (flags, want) in [
            (RtFlags::BLACKHOLE, SlowReason::Blackhole),
            (RtFlags::REJECT, SlowReason::Reject),
            (RtFlags::PROHIBIT, SlowReason::Reject),
        ] {
            w.rt.add(&RouteSpec::new(far).flags(flags)).unwrap();
            slow_path(&w, &mut flows, &p).unwrap();
            assert_eq!(flows.forward(&w.rt, &p).slow_reason(), Some(want));
            w.rt.delete(&RouteKey::new(far)).unwrap();
        }
        w.rt.add(&RouteSpec::new(far).dev(w.eth0).flags(RtFlags::BROADCAST))
            .unwrap();
        slow_path(&w, &mut flows, &p).unwrap();
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::Broadcast)
        );
        assert_eq!(flows.stats().hits, 0);
    });
}

#[test]
fn header_rules_send_packets_to_the_slow_path() {
    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)).mtu(1280))
            .unwrap();
        let mut flows = table(&w, 8);
        let p = pkt(f, 0);
        slow_path(&w, &mut flows, &p).unwrap();
        let slow = |flows: &mut FlowTable, q: Packet| flows.forward(&w.rt, &q).slow_reason();
        assert_eq!(slow(&mut flows, p), None);
        assert_eq!(
            slow(&mut flows, p.link_multicast()),
            Some(SlowReason::LinkMulticast)
        );
        let opts = if p.key.dst().is_ipv6() {
            Packet { proto: 0, ..p }
        } else {
            p.with_options()
        };
        assert_eq!(slow(&mut flows, opts), Some(SlowReason::Options));
        assert_eq!(
            slow(&mut flows, Packet { len: 10, ..p }),
            Some(SlowReason::BadLength)
        );
        assert_eq!(
            slow(&mut flows, Packet { ttl: 1, ..p }),
            Some(SlowReason::TtlExpired)
        );
        assert_eq!(
            slow(&mut flows, Packet { ttl: 0, ..p }),
            Some(SlowReason::TtlExpired)
        );
        assert!(flows.forward(&w.rt, &Packet { ttl: 2, ..p }).is_forward());
        // The route's MTU (1280) caps the interface's (1500).
        assert_eq!(
            slow(&mut flows, Packet { len: 1281, ..p }),
            Some(SlowReason::TooBig { mtu: 1280 })
        );
        assert_eq!(slow(&mut flows, Packet { len: 1280, ..p }), None);
        if !p.key.dst().is_ipv6() {
            assert_eq!(
                slow(&mut flows, p.bad_checksum()),
                Some(SlowReason::BadChecksum)
            );
        }
        for bad in [f.multicast, f.scoped] {
            let q = pkt_to(bad, f.src, 0);
            if bad == f.scoped && !q.key.dst().is_ipv6() {
                continue; // IPv4 link-local is forwarded like any unicast address.
            }
            assert_eq!(slow(&mut flows, q), Some(SlowReason::NotUnicastGlobal));
            let mut ro = RouteCache::new();
            assert_eq!(
                flows.create(&w.rt, &q, &mut ro),
                Err(NotCreated::Ineligible(SlowReason::NotUnicastGlobal))
            );
        }
        // No flows for ICMP.
        let icmp = Packet {
            proto: if p.key.dst().is_ipv6() { 58 } else { 1 },
            ..pkt(f, 1)
        };
        let mut ro = RouteCache::new();
        let _ = ro.lookup(&w.rt, ifa(icmp.key.dst()));
        assert_eq!(flows.create(&w.rt, &icmp, &mut ro), Err(NotCreated::Icmp));
        // The slow path's cache must be for the packet's destination.
        let mut elsewhere = RouteCache::new();
        assert_eq!(
            flows.create(&w.rt, &icmp, &mut RouteCache::new()),
            Err(NotCreated::Icmp)
        );
        assert_eq!(
            flows.create(&w.rt, &pkt(f, 2), &mut elsewhere),
            Err(NotCreated::NoDestination)
        );
        let _ = elsewhere.lookup(&w.rt, ifa(pkt(f, 3).key.dst()));
        assert_eq!(
            flows.create(&w.rt, &pkt(f, 2), &mut elsewhere),
            Err(NotCreated::OtherDestination)
        );
        assert!(!flows.contains(&pkt(f, 2).key));
        // A disabled table forwards nothing and creates nothing.
        let mut off = table(&w, 0);
        assert_eq!(off.create(&w.rt, &p, &mut ro), Err(NotCreated::Disabled));
        assert_eq!(
            off.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::Disabled)
        );
        let s = flows.stats();
        assert_eq!(s.hits + s.misses + s.refused, 11);
    });
}

#[test]
fn flow_table_is_send_not_sync() {
    fn send<T: Send>() {}
    send::<FlowTable>();
    send::<TunnelRoute>();
    fn sync<T: Sync>() {}
    sync::<Tunnel>();
}

// ------------------------------------------------------------------ tunnels

/// A point-to-point tunnel interface `gif0` and a tunnel over it towards `dst[0]`.
fn gif(w: &World, f: &Fam) -> (IfIndex, Arc<Tunnel>) {
    let gif0 = w
        .ifs
        .attach(IfConfig::new("gif0").flags(IfFlags::UP | IfFlags::POINTOPOINT))
        .unwrap();
    (gif0, Tunnel::new(gif0, ifa(ip(f.dst[0]))))
}

#[test]
fn tunnel_route_through_the_tunnel_itself_is_a_loop() {
    both(|f| {
        let w = world(f);
        let far = net(f.far);
        let (gif0, tun) = gif(&w, f);
        let mut ro = tun.route_cache();
        assert_eq!(
            ro.route(&w.rt).unwrap_err(),
            TunnelError::NoRoute {
                dst: ifa(ip(f.dst[0]))
            }
        );
        // The outer destination is routed into the tunnel: infinite encapsulation.
        w.rt.add(&RouteSpec::new(far).dev(gif0)).unwrap();
        let e = ro.route(&w.rt).unwrap_err();
        assert_eq!(
            e,
            TunnelError::Loop {
                dst: ifa(ip(f.dst[0])),
                tunnel: gif0
            }
        );
        assert_eq!(e.errno(), 51);
        assert!(
            !ro.has_route(),
            "the looping route must be dropped from the cache"
        );
        // Fixed: out through eth0; the route is cached (second call is a hit).
        w.rt.change(&RouteSpec::new(far).via(ip(f.gw0)), None)
            .unwrap();
        assert_eq!(ro.route(&w.rt).unwrap().ifindex(), Some(w.eth0));
        assert_eq!(ro.route(&w.rt).unwrap().ifindex(), Some(w.eth0));
        assert!(ro.stats().hits >= 1);
        // A more specific route into the tunnel appears: the revalidation re-resolves
        // and the loop check runs again.
        let host = IpNet::new(ip(f.dst[0]), if f.dst[0].contains(':') { 128 } else { 32 }).unwrap();
        w.rt.add(&RouteSpec::new(host).dev(gif0)).unwrap();
        assert!(matches!(ro.route(&w.rt), Err(TunnelError::Loop { .. })));
        assert!(!ro.has_route());
        assert_eq!(ro.stats().loops, 2);
        // Another thread's cache of the same tunnel decides the same.
        let mut other = tun.route_cache();
        assert!(matches!(other.route(&w.rt), Err(TunnelError::Loop { .. })));
        w.rt.delete(&RouteKey::new(host)).unwrap();
        assert_eq!(ro.route(&w.rt).unwrap().ifindex(), Some(w.eth0));
        // Reject routes to the endpoint fail typed.
        w.rt.add(&RouteSpec::new(host).flags(RtFlags::BLACKHOLE))
            .unwrap();
        assert_eq!(
            ro.route(&w.rt).unwrap_err(),
            TunnelError::Route(RouteError::Blackhole)
        );
    });
}

#[test]
fn tunnel_endpoint_change_retargets_every_thread_cache() {
    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)))
            .unwrap();
        let (_gif0, tun) = gif(&w, f);
        let mut ro = tun.route_cache();
        assert_eq!(ro.route(&w.rt).unwrap().dst(), net(f.far));
        // New endpoint on eth1's subnet: the next packet uses the connected route.
        tun.set_dst(ifa(ip(f.gw1)));
        let r = ro.route(&w.rt).unwrap();
        assert_eq!(r.ifindex(), Some(w.eth1));
        assert!(!r.dst().contains(&ip(f.dst[0])));
    });
}

#[test]
fn tunnel_nesting_is_capped() {
    // NetBSD's counting: the first encapsulation tags the packet (count 0), each
    // further one increments; past the limit → EIO.
    let mut n = TunnelNesting::new();
    assert_eq!(n.count(), None);
    n.check(1).unwrap();
    n.check(1).unwrap();
    let e = n.check(1).unwrap_err();
    assert_eq!(e, TunnelError::TooDeep { count: 2, limit: 1 });
    assert_eq!(e.errno(), 5);
    let mut n = TunnelNesting::new();
    n.check(0).unwrap();
    assert!(n.check(0).is_err());

    both(|f| {
        let w = world(f);
        w.rt.add(&RouteSpec::new(net(f.far)).via(ip(f.gw0)))
            .unwrap();
        let (_gif0, tun) = gif(&w, f);
        assert_eq!(tun.max_nesting(), 1);
        let mut ro = tun.route_cache();
        // One packet through the same tunnel config three times (nested tunnels).
        let mut tag = TunnelNesting::new();
        assert!(tun.output(&w.rt, &mut ro, &mut tag).is_ok());
        assert!(tun.output(&w.rt, &mut ro, &mut tag).is_ok());
        assert!(matches!(
            tun.output(&w.rt, &mut ro, &mut tag),
            Err(TunnelError::TooDeep { count: 2, limit: 1 })
        ));
        tun.set_max_nesting(3);
        let mut tag = TunnelNesting::new();
        for _ in 0..4 {
            tun.output(&w.rt, &mut ro, &mut tag).unwrap();
        }
        assert!(tun.output(&w.rt, &mut ro, &mut tag).is_err());
        assert_eq!(ro.stats().too_deep, 2);
    });
}

#[test]
fn a_forwarded_route_stays_valid_while_its_delete_waits() {
    both(|f| {
        let w = world(f);
        let far = net(f.far);
        w.rt.add(&RouteSpec::new(far).via(ip(f.gw0))).unwrap();
        let mut flows = table(&w, 8);
        let p = pkt(f, 0);
        slow_path(&w, &mut flows, &p).unwrap();
        let Verdict::Forward(fw) = flows.forward(&w.rt, &p) else {
            panic!("not forwarded")
        };
        std::thread::scope(|s| {
            let deleter = s.spawn(|| w.rt.delete(&RouteKey::new(far)).unwrap());
            std::thread::sleep(Duration::from_millis(50));
            // The packet is still being sent: its route must not go away under it.
            assert!(!deleter.is_finished(), "delete returned under a reference");
            assert!(fw.route.is_intact());
            assert_eq!(fw.route.dst(), far);
            drop(fw);
            deleter.join().unwrap();
        });
        assert_eq!(
            flows.forward(&w.rt, &p).slow_reason(),
            Some(SlowReason::RouteChanged)
        );
    });
}
