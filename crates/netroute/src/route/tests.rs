//! Unit tests: every rtrequest rule and error, lookups, events, and every RouteCache
//! method, with one generic body run for IPv4 and IPv6; a differential proptest against
//! a naive model.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use psref::Domain;

use super::*;
use crate::addr::{Family, IfIndex, ScopedAddr};
use crate::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfaAddr};

/// Addresses of one family for the generic test bodies.
struct Fam {
    family: Family,
    eth0_addr: &'static str,
    eth0_len: u8,
    eth0_net: &'static str,
    eth1_addr: &'static str,
    eth1_len: u8,
    gw: &'static str,
    gw1: &'static str,
    far_net: &'static str,
    far_more: &'static str,
    in_more: &'static str,
    in_far: &'static str,
    unreachable_gw: &'static str,
    other_family: &'static str,
}

const V4: Fam = Fam {
    family: Family::Inet,
    eth0_addr: "192.0.2.1",
    eth0_len: 24,
    eth0_net: "192.0.2.0/24",
    eth1_addr: "198.51.100.1",
    eth1_len: 24,
    gw: "192.0.2.254",
    gw1: "198.51.100.254",
    far_net: "10.0.0.0/8",
    far_more: "10.1.0.0/16",
    in_more: "10.1.2.3",
    in_far: "10.200.0.1",
    unreachable_gw: "203.0.113.9",
    other_family: "2001:db8::99",
};

const V6: Fam = Fam {
    family: Family::Inet6,
    eth0_addr: "2001:db8::1",
    eth0_len: 64,
    eth0_net: "2001:db8::/64",
    eth1_addr: "2001:db8:1::1",
    eth1_len: 64,
    gw: "2001:db8::fe",
    gw1: "2001:db8:1::fe",
    far_net: "2001:db8:a000::/36",
    far_more: "2001:db8:a100::/40",
    in_more: "2001:db8:a100::3",
    in_far: "2001:db8:af00::1",
    unreachable_gw: "2001:db8:dead::9",
    other_family: "192.0.2.99",
};

impl Fam {
    /// An address on eth0's subnet that is not a gateway (reached by the connected
    /// route).
    fn gw1_on_eth0(&self) -> &'static str {
        if self.family == Family::Inet {
            "192.0.2.77"
        } else {
            "2001:db8::77"
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
fn dst(s: &str) -> IfaAddr {
    match ip(s) {
        IpAddr::V4(a) => IfaAddr::V4(a),
        IpAddr::V6(a) => IfaAddr::V6(ScopedAddr::new(a, None).unwrap()),
    }
}
fn host(s: &str) -> IpNet {
    let a = ip(s);
    IpNet::new(a, if a.is_ipv4() { 32 } else { 128 }).unwrap()
}

struct Fx {
    ifs: Arc<IfTable>,
    rt: Arc<RouteTables>,
    eth0: IfIndex,
    eth1: IfIndex,
    lo: IfIndex,
}

fn fixture(f: &Fam) -> Fx {
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let up = IfFlags::UP | IfFlags::BROADCAST;
    let eth0 = ifs.attach(IfConfig::new("eth0").flags(up)).unwrap();
    let eth1 = ifs.attach(IfConfig::new("eth1").flags(up)).unwrap();
    let lo = ifs
        .attach(IfConfig::new("lo0").flags(IfFlags::UP | IfFlags::LOOPBACK))
        .unwrap();
    ifs.add_addr(eth0, AddrSpec::new(ip(f.eth0_addr), f.eth0_len))
        .unwrap();
    ifs.add_addr(eth1, AddrSpec::new(ip(f.eth1_addr), f.eth1_len))
        .unwrap();
    Fx {
        ifs,
        rt,
        eth0,
        eth1,
        lo,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn v4() {
                super::$name(&super::V4)
            }
            #[test]
            fn v6() {
                super::$name(&super::V6)
            }
        })*
    };
}

both!(
    connected_and_local_routes_follow_addresses,
    gateway_resolves_interface_and_source,
    unreachable_gateway_and_missing_interface_fail_unchanged,
    duplicates_and_metrics,
    delete_missing_is_esrch,
    host_routes_ignore_the_mask,
    longest_prefix_then_lowest_metric,
    reject_blackhole_prohibit,
    bad_input_is_typed_and_changes_nothing,
    change_replaces_the_entry,
    gwroute_finds_the_gateway_route,
    detach_deletes_routes_through_the_interface,
    events_add_delete_change_miss,
    cache_hit_miss_and_invalidation,
    cache_copy_and_set_dst,
    cache_in_an_open_section,
    redirects_losing_and_expiry,
    redirect_timer_rearms_and_spares_newcomers,
    delete_many_equals_deletes_one_by_one,
    use_counter_counts_misses_only,
);

fn connected_and_local_routes_follow_addresses(f: &Fam) {
    let x = fixture(f);
    let local = x.rt.get(&RouteKey::new(host(f.eth0_addr)).host()).unwrap();
    assert!(
        local
            .flags
            .contains(RtFlags::LOCAL | RtFlags::HOST | RtFlags::UP)
    );
    assert_eq!(local.ifindex, Some(x.eth0));
    let conn = x.rt.get(&RouteKey::new(net(f.eth0_net))).unwrap();
    assert!(conn.flags.contains(RtFlags::CONNECTED));
    assert!(!conn.flags.contains(RtFlags::GATEWAY));
    assert_eq!(conn.gateway, Gateway::Link(x.eth0));
    assert_eq!(conn.src, Some(ip(f.eth0_addr)));
    // Local routes are not deleted directly.
    let e =
        x.rt.delete(&RouteKey::new(host(f.eth0_addr)).host())
            .unwrap_err();
    assert!(matches!(e, RouteError::LocalRoute { .. }), "{e}");
    assert_eq!(e.errno(), 1);
    // They go with their address.
    x.ifs.remove_addr(x.eth0, dst(f.eth0_addr)).unwrap();
    assert!(x.rt.get(&RouteKey::new(host(f.eth0_addr)).host()).is_err());
    assert!(x.rt.get(&RouteKey::new(net(f.eth0_net))).is_err());
    assert!(x.rt.get(&RouteKey::new(host(f.eth1_addr)).host()).is_ok());
}

fn gateway_resolves_interface_and_source(f: &Fam) {
    let x = fixture(f);
    let r =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
            .unwrap();
    assert_eq!(r.ifindex, Some(x.eth0));
    assert!(r.flags.contains(RtFlags::GATEWAY | RtFlags::UP));
    assert_eq!(r.src, Some(ip(f.eth0_addr)));
    assert_eq!(r.gateway, Gateway::Addr(ip(f.gw), None));
    let r =
        x.rt.add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw1)))
            .unwrap();
    assert_eq!(r.ifindex, Some(x.eth1));
    // Explicit interface.
    let r =
        x.rt.add(&RouteSpec::new(net(f.far_net)).dev(x.eth1).metric(5))
            .unwrap();
    assert_eq!(
        (r.ifindex, r.gateway),
        (Some(x.eth1), Gateway::Link(x.eth1))
    );
    // A fixed source address selects the interface.
    let r =
        x.rt.add(
            &RouteSpec::new(net(f.far_net))
                .src(ip(f.eth1_addr))
                .metric(7),
        )
        .unwrap();
    assert!(r.flags.contains(RtFlags::SRC));
    assert_eq!(r.ifindex, Some(x.eth1));
    // A gateway reached through another (non-gateway) route: an interface route.
    x.rt.add(&RouteSpec::new(host(f.unreachable_gw)).dev(x.eth1).mtu(1280))
        .unwrap();
    let r =
        x.rt.add(
            &RouteSpec::new(net(f.far_net))
                .via(ip(f.unreachable_gw))
                .metric(9)
                .mtu(9000),
        )
        .unwrap();
    assert_eq!(r.ifindex, Some(x.eth1));
    assert_eq!(
        r.metrics.mtu, 1280,
        "the gateway route's MTU caps the route's"
    );
}

fn unreachable_gateway_and_missing_interface_fail_unchanged(f: &Fam) {
    let x = fixture(f);
    let before = (x.rt.routes(f.family), x.rt.generation());
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.unreachable_gw)))
            .unwrap_err();
    assert_eq!(
        e,
        RouteError::NetUnreachable {
            via: Some(ip(f.unreachable_gw))
        }
    );
    assert_eq!(e.errno(), 51);
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).dev(IfIndex::new(99).unwrap()))
            .unwrap_err();
    assert_eq!(e, RouteError::NoInterface { index: 99 });
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).src(ip(f.gw)))
            .unwrap_err();
    assert!(matches!(e, RouteError::NoSuchAddress { .. }));
    let e = x.rt.add(&RouteSpec::new(net(f.far_net))).unwrap_err();
    assert_eq!(e, RouteError::NoNextHop);
    assert_eq!((x.rt.routes(f.family), x.rt.generation()), before);
}

fn duplicates_and_metrics(f: &Fam) {
    let x = fixture(f);
    let a =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)).metric(10))
            .unwrap();
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(10))
            .unwrap_err();
    assert_eq!(
        e,
        RouteError::Exists {
            dst: net(f.far_net),
            metric: 10
        }
    );
    assert_eq!(e.errno(), 17);
    let b =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(20))
            .unwrap();
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), a.id);
    let c =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(5))
            .unwrap();
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), c.id);
    // Delete without a metric removes the best.
    assert_eq!(
        x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap().id,
        c.id
    );
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), a.id);
    assert_eq!(
        x.rt.delete(&RouteKey::new(net(f.far_net)).metric(20))
            .unwrap()
            .id,
        b.id
    );
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), a.id);
    x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap();
    assert!(x.rt.lookup(dst(f.in_far), false).is_none());
}

fn delete_missing_is_esrch(f: &Fam) {
    let x = fixture(f);
    let g = x.rt.generation();
    let e = x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap_err();
    assert_eq!(
        e,
        RouteError::NoSuchRoute {
            dst: net(f.far_net)
        }
    );
    assert_eq!(e.errno(), 3);
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)).metric(1))
        .unwrap();
    assert!(
        x.rt.delete(&RouteKey::new(net(f.far_net)).metric(2))
            .is_err()
    );
    assert!(x.rt.get(&RouteKey::new(net(f.far_more))).is_err());
    assert!(x.rt.generation() > g);
}

fn host_routes_ignore_the_mask(f: &Fam) {
    let x = fixture(f);
    let with_mask = IpNet::new(ip(f.in_more), 8).unwrap();
    let r =
        x.rt.add(&RouteSpec::new(with_mask).via(ip(f.gw)).flags(RtFlags::HOST))
            .unwrap();
    assert_eq!(r.dst, host(f.in_more));
    assert!(r.flags.contains(RtFlags::HOST));
    assert!(
        x.rt.lookup(dst(f.in_far), false).is_none(),
        "not a net route"
    );
    assert_eq!(x.rt.lookup(dst(f.in_more), false).unwrap().id(), r.id);
    assert_eq!(x.rt.get(&RouteKey::new(with_mask).host()).unwrap().id, r.id);
    // A net route's host bits are masked (rt_maskedcopy).
    let r = x.rt.add(&RouteSpec::new(with_mask).via(ip(f.gw))).unwrap();
    assert_eq!(r.dst, with_mask.trunc());
}

fn longest_prefix_then_lowest_metric(f: &Fam) {
    let x = fixture(f);
    let far =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
            .unwrap();
    let more =
        x.rt.add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw1)).metric(50))
            .unwrap();
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(1))
        .unwrap();
    assert_eq!(x.rt.lookup(dst(f.in_more), false).unwrap().id(), more.id);
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), far.id);
    let def = if f.family == Family::Inet {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    assert!(x.rt.lookup(dst(f.unreachable_gw), false).is_none());
    let d = x.rt.add(&RouteSpec::new(net(def)).via(ip(f.gw))).unwrap();
    assert_eq!(
        x.rt.lookup(dst(f.unreachable_gw), false).unwrap().id(),
        d.id
    );
    x.rt.delete(&RouteKey::new(net(f.far_more))).unwrap();
    assert_eq!(x.rt.lookup(dst(f.in_more), false).unwrap().id(), far.id);
}

fn reject_blackhole_prohibit(f: &Fam) {
    let x = fixture(f);
    x.rt.add(&RouteSpec::new(net(f.far_net)).flags(RtFlags::BLACKHOLE))
        .unwrap();
    x.rt.add(&RouteSpec::new(net(f.far_more)).flags(RtFlags::REJECT))
        .unwrap();
    x.rt.add(&RouteSpec::new(host(f.in_more)).flags(RtFlags::REJECT))
        .unwrap();
    assert_eq!(
        x.rt.route_to(dst(f.in_far)).unwrap_err(),
        RouteError::Blackhole
    );
    let other = IpNet::new(
        ip(f.in_more),
        if f.family == Family::Inet { 24 } else { 64 },
    )
    .unwrap()
    .trunc();
    let near = match other.addr() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 9).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 9).into()),
    };
    assert_eq!(
        x.rt.route_to(dst(&near.to_string())).unwrap_err(),
        RouteError::NetUnreachable { via: None }
    );
    assert_eq!(
        x.rt.route_to(dst(f.in_more)).unwrap_err(),
        RouteError::HostUnreachable
    );
    // On a real interface: EHOSTDOWN without gateway, EHOSTUNREACH with.
    let p =
        x.rt.add(
            &RouteSpec::new(net(f.far_more))
                .flags(RtFlags::REJECT)
                .dev(x.eth0)
                .metric(0),
        )
        .unwrap_err();
    assert!(matches!(p, RouteError::Exists { .. }));
    x.rt.change(
        &RouteSpec::new(net(f.far_more))
            .flags(RtFlags::REJECT)
            .dev(x.eth0),
        None,
    )
    .unwrap();
    assert_eq!(
        x.rt.route_to(dst(&near.to_string())).unwrap_err(),
        RouteError::HostDown
    );
    x.rt.change(
        &RouteSpec::new(net(f.far_more))
            .flags(RtFlags::REJECT)
            .via(ip(f.gw)),
        None,
    )
    .unwrap();
    assert_eq!(
        x.rt.route_to(dst(&near.to_string())).unwrap_err(),
        RouteError::HostUnreachable
    );
    // On loopback, a net route answers ENETUNREACH.
    x.rt.change(
        &RouteSpec::new(net(f.far_more))
            .flags(RtFlags::REJECT)
            .dev(x.lo),
        None,
    )
    .unwrap();
    assert_eq!(
        x.rt.route_to(dst(&near.to_string())).unwrap_err(),
        RouteError::NetUnreachable { via: None }
    );
    // Prohibit.
    x.rt.change(
        &RouteSpec::new(net(f.far_more)).flags(RtFlags::PROHIBIT),
        None,
    )
    .unwrap();
    let r = x.rt.lookup(dst(&near.to_string()), false).unwrap();
    assert!(r.flags().contains(RtFlags::REJECT | RtFlags::PROHIBIT));
    assert_eq!(x.rt.check_reject(&r).unwrap_err(), RouteError::Prohibited);
    drop(r);
    // An expired reject route stops rejecting.
    let m = RtMetrics {
        expire: 1,
        ..RtMetrics::default()
    };
    x.rt.change(
        &RouteSpec::new(net(f.far_more))
            .flags(RtFlags::REJECT)
            .metrics(m),
        None,
    )
    .unwrap();
    let now = x.ifs.clock().now().as_secs();
    assert_eq!(x.rt.route_to(dst(&near.to_string())).is_ok(), now >= 1);
}

fn bad_input_is_typed_and_changes_nothing(f: &Fam) {
    let x = fixture(f);
    let before = (
        x.rt.routes(Family::Inet),
        x.rt.routes(Family::Inet6),
        x.rt.generation(),
    );
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.other_family)))
            .unwrap_err();
    assert!(
        matches!(
            e,
            RouteError::WrongFamily {
                what: "gateway",
                ..
            }
        ),
        "{e}"
    );
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).src(ip(f.other_family)))
            .unwrap_err();
    assert!(matches!(e, RouteError::WrongFamily { .. }));
    let e =
        x.rt.add(
            &RouteSpec::new(net(f.far_net))
                .via(ip(f.gw))
                .flags(RtFlags::LOCAL),
        )
        .unwrap_err();
    assert!(matches!(e, RouteError::BadFlags(_)));
    let e =
        x.rt.add(&RouteSpec::new(net(f.far_net)).flags(RtFlags::REJECT | RtFlags::BLACKHOLE))
            .unwrap_err();
    assert!(matches!(e, RouteError::BadFlags(_)));
    let e =
        x.rt.change(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)), None)
            .unwrap_err();
    assert!(matches!(e, RouteError::NoSuchRoute { .. }));
    let e =
        x.rt.change(&RouteSpec::new(host(f.eth0_addr)).dev(x.eth0), None)
            .unwrap_err();
    assert!(matches!(e, RouteError::LocalRoute { .. }), "{e}");
    if f.family == Family::Inet6 {
        // A link-local destination needs a zone (an interface).
        let e =
            x.rt.add(&RouteSpec::new(net("fe80::/64")).flags(RtFlags::BLACKHOLE))
                .unwrap_err();
        assert!(matches!(e, RouteError::Addr(_)), "{e}");
        let e =
            x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip("fe80::1")))
                .unwrap_err();
        assert!(matches!(e, RouteError::Addr(_)), "{e}");
    }
    let after = (
        x.rt.routes(Family::Inet),
        x.rt.routes(Family::Inet6),
        x.rt.generation(),
    );
    assert_eq!(before, after);
}

fn change_replaces_the_entry(f: &Fam) {
    let x = fixture(f);
    let a =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)).metric(10))
            .unwrap();
    let b =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)).metric(20))
            .unwrap();
    let held = x.rt.lookup(dst(f.in_far), false).unwrap();
    assert_eq!(held.id(), a.id);
    let g = x.rt.generation();
    // Change waits for references: run it on another thread while we hold one.
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            x.rt.change(
                &RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(10),
                None,
            )
            .unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!h.is_finished(), "change must wait for the reference");
        // The old object is intact and unchanged.
        assert!(held.is_intact());
        assert_eq!(held.gateway(), Gateway::Addr(ip(f.gw), None));
        drop(held);
        let c = h.join().unwrap();
        assert_eq!(c.id, a.id);
        assert_eq!(c.ifindex, Some(x.eth1));
    });
    assert!(x.rt.generation() > g);
    let r = x.rt.lookup(dst(f.in_far), false).unwrap();
    assert_eq!(r.gateway(), Gateway::Addr(ip(f.gw1), None));
    drop(r);
    // A metric change reorders: a's route goes behind b.
    let e =
        x.rt.change(
            &RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(10),
            Some(20),
        )
        .unwrap_err();
    assert!(matches!(e, RouteError::Exists { metric: 20, .. }));
    x.rt.change(
        &RouteSpec::new(net(f.far_net)).via(ip(f.gw1)).metric(10),
        Some(30),
    )
    .unwrap();
    assert_eq!(x.rt.lookup(dst(f.in_far), false).unwrap().id(), b.id);
    assert_eq!(
        x.rt.get(&RouteKey::new(net(f.far_net)).metric(30))
            .unwrap()
            .id,
        a.id
    );
}

fn gwroute_finds_the_gateway_route(f: &Fam) {
    let x = fixture(f);
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    let r = x.rt.lookup(dst(f.in_far), false).unwrap();
    let g = x.rt.gwroute(&r).unwrap().unwrap();
    assert!(g.flags().contains(RtFlags::CONNECTED));
    assert_eq!(r.next_hop(ip(f.in_far)), ip(f.gw));
    let c = x.rt.lookup(dst(f.gw), false).unwrap();
    assert!(x.rt.gwroute(&c).unwrap().is_none());
    assert_eq!(c.next_hop(ip(f.gw)), ip(f.gw));
    drop((r, g, c));
    // A gateway whose route is itself a gateway route: EHOSTUNREACH.
    x.rt.add(&RouteSpec::new(host(f.gw)).via(ip(f.gw1)))
        .unwrap();
    let r = x.rt.lookup(dst(f.in_far), false).unwrap();
    assert_eq!(x.rt.gwroute(&r).unwrap_err(), RouteError::HostUnreachable);
}

fn detach_deletes_routes_through_the_interface(f: &Fam) {
    let x = fixture(f);
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)))
        .unwrap();
    x.rt.add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw)))
        .unwrap();
    let mut sub = x.rt.subscribe(64);
    x.ifs.detach(x.eth1).unwrap();
    let left = x.rt.routes(f.family);
    assert!(left.iter().all(|r| r.ifindex != Some(x.eth1)), "{left:?}");
    assert!(x.rt.get(&RouteKey::new(net(f.far_more))).is_ok());
    assert!(x.rt.get(&RouteKey::new(net(f.far_net))).is_err());
    let deleted = sub
        .events()
        .into_iter()
        .filter(|e| matches!(e, RouteEvent::Delete(_)))
        .count();
    assert!(
        deleted >= 3,
        "gateway route, local and connected routes: {deleted}"
    );
}

fn events_add_delete_change_miss(f: &Fam) {
    let x = fixture(f);
    let mut sub = x.rt.subscribe(64);
    let a =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
            .unwrap();
    let c =
        x.rt.change(&RouteSpec::new(net(f.far_net)).via(ip(f.gw1)), None)
            .unwrap();
    let d = x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap();
    assert!(x.rt.lookup(dst(f.in_far), true).is_none());
    assert!(x.rt.lookup(dst(f.in_far), false).is_none());
    let mut cache = RouteCache::new();
    assert!(cache.lookup_noclone(&x.rt, dst(f.in_far)).0.is_none());
    cache.clear();
    assert!(cache.init_noclone(&x.rt).is_none());
    assert!(cache.init(&x.rt).is_none());
    assert_eq!(
        sub.events(),
        vec![
            RouteEvent::Add(a),
            RouteEvent::Change(c),
            RouteEvent::Delete(d),
            RouteEvent::Miss { dst: dst(f.in_far) },
            RouteEvent::Miss { dst: dst(f.in_far) },
        ]
    );
    assert_eq!(x.rt.stats().unreach, 5);
    // A full queue loses events but never blocks, and says so.
    let mut small = x.rt.subscribe(1);
    for _ in 0..3 {
        x.rt.lookup(dst(f.in_far), true);
    }
    assert!(matches!(small.try_next(), Some(RouteNotice::Event { .. })));
    assert_eq!(small.try_next(), Some(RouteNotice::Lost { count: 2 }));
    assert_eq!(small.try_next(), None);
    // A filtered subscriber (RO_MSGFILTER) is not crowded out by kinds it did not ask
    // for: a flood of misses neither fills its one-slot queue nor counts as lost there.
    let mut deletes = x.rt.subscribe_filtered(1, RouteEventKinds::DELETE);
    let mut all = x.rt.subscribe(1);
    for _ in 0..100 {
        x.rt.lookup(dst(f.in_far), true);
    }
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    let d = x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap();
    assert!(matches!(
        deletes.try_next(),
        Some(RouteNotice::Event { event: RouteEvent::Delete(i), .. }) if i == d
    ));
    assert_eq!(deletes.try_next(), None);
    assert!(matches!(all.try_next(), Some(RouteNotice::Event { .. })));
    assert_eq!(all.try_next(), Some(RouteNotice::Lost { count: 101 }));
    assert_eq!(RouteEvent::Delete(d).kind(), RouteEventKinds::DELETE);
}

fn cache_hit_miss_and_invalidation(f: &Fam) {
    let x = fixture(f);
    let other = if f.family == Family::Inet { &V6 } else { &V4 };
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    let mut c = RouteCache::new();
    assert!(c.validate(&x.rt).is_none(), "empty cache");
    let (r, hit) = c.lookup(&x.rt, dst(f.in_far));
    assert!(!hit && r.is_some());
    drop(r);
    let (r, hit) = c.lookup(&x.rt, dst(f.in_far));
    assert!(hit && r.is_some());
    drop(r);
    assert!(c.validate(&x.rt).is_some());
    // Any change in the OTHER family invalidates (one global generation).
    let o =
        x.rt.add(&RouteSpec::new(net(other.far_net)).flags(RtFlags::BLACKHOLE))
            .unwrap();
    assert!(c.validate(&x.rt).is_none());
    assert!(!c.has_route() && c.dst() == Some(dst(f.in_far)));
    let (_, hit) = c.lookup(&x.rt, dst(f.in_far));
    assert!(!hit);
    assert!(c.validate(&x.rt).is_some());
    x.rt.delete(&RouteKey::new(o.dst)).unwrap();
    assert!(c.validate(&x.rt).is_none());
    // Add of a more specific route: the cache refills to it.
    assert!(c.update(&x.rt, true).is_some());
    let more =
        x.rt.add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw1)))
            .unwrap();
    assert!(c.validate(&x.rt).is_none());
    let (r, _) = c.lookup(&x.rt, dst(f.in_more));
    assert_eq!(r.unwrap().id(), more.id);
    // Change: the cache sees the new object after revalidating.
    x.rt.change(&RouteSpec::new(net(f.far_more)).via(ip(f.gw)), None)
        .unwrap();
    assert!(c.validate(&x.rt).is_none());
    let (r, hit) = c.lookup(&x.rt, dst(f.in_more));
    assert!(!hit);
    assert_eq!(r.unwrap().gateway(), Gateway::Addr(ip(f.gw), None));
    // Delete: the route is gone from the cache and the table.
    x.rt.delete(&RouteKey::new(net(f.far_more))).unwrap();
    assert!(c.validate(&x.rt).is_none());
    // Another destination replaces the cached one.
    let (r, hit) = c.lookup(&x.rt, dst(f.in_far));
    assert!(!hit && r.is_some());
    drop(r);
    // clear keeps the destination, free forgets both.
    c.clear();
    assert!(c.validate(&x.rt).is_none());
    assert_eq!(c.dst(), Some(dst(f.in_far)));
    assert!(c.init(&x.rt).is_some());
    c.free();
    assert_eq!(c.dst(), None);
    assert!(c.init(&x.rt).is_none() && c.validate(&x.rt).is_none());
    // A cache filled from other tables never validates against these.
    let y = fixture(f);
    y.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    c.set_dst(dst(f.in_far)).unwrap();
    assert!(c.init(&y.rt).is_some());
    assert!(c.validate(&x.rt).is_none());
}

/// `validate_shared` / `lookup_shared`: the same answers as the psref path, entries
/// borrowed from the caller's section, invalidation by any change.
fn cache_in_an_open_section(f: &Fam) {
    let x = fixture(f);
    let far =
        x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
            .unwrap();
    let mut c = RouteCache::new();
    let domain = std::sync::Arc::clone(x.rt.domain());
    {
        let g = domain.read();
        assert!(c.validate_shared(&x.rt, &g).is_none(), "empty cache");
        let (e, hit) = c.lookup_shared(&x.rt, &g, dst(f.in_far));
        assert!(!hit);
        assert_eq!(e.unwrap().get().id(), far.id);
        let (e, hit) = c.lookup_shared(&x.rt, &g, dst(f.in_far));
        assert!(hit);
        // Several entries from one section at once: the cache is not borrowed.
        let a = c.validate_shared(&x.rt, &g).unwrap();
        let b = c.validate_shared(&x.rt, &g).unwrap();
        assert_eq!(a.get().id(), b.get().id());
        assert_eq!(e.unwrap().get().id(), far.id);
    }
    // The psref path sees what the shared path cached.
    assert_eq!(c.validate(&x.rt).unwrap().id(), far.id);
    let more =
        x.rt.add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw1)))
            .unwrap();
    {
        let g = domain.read();
        assert!(c.validate_shared(&x.rt, &g).is_none(), "add invalidates");
        assert!(!c.has_route() && c.dst() == Some(dst(f.in_far)));
        let (e, hit) = c.lookup_shared(&x.rt, &g, dst(f.in_more));
        assert!(!hit);
        assert_eq!(e.unwrap().get().id(), more.id);
    }
    x.rt.delete(&RouteKey::new(net(f.far_more))).unwrap();
    x.rt.delete(&RouteKey::new(net(f.far_net))).unwrap();
    let misses = x.rt.stats().unreach;
    let mut sub = x.rt.subscribe(8);
    {
        let g = domain.read();
        assert!(c.validate_shared(&x.rt, &g).is_none(), "delete invalidates");
        let (e, hit) = c.lookup_shared(&x.rt, &g, dst(f.in_more));
        assert!(e.is_none() && !hit);
    }
    // A miss in a section is counted, never reported.
    assert_eq!(x.rt.stats().unreach, misses + 1);
    assert_eq!(sub.try_next(), None);
    // Caches of other tables never validate here.
    let y = fixture(f);
    y.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    c.set_dst(dst(f.in_far)).unwrap();
    assert!(c.init(&y.rt).is_some());
    let g = domain.read();
    assert!(c.validate_shared(&x.rt, &g).is_none());
}

/// `rtredirect`'s rules one by one, `in_losing`, and the redirect timer.
/// Route tables on a fake clock at 1,000 s with `eth0` holding `f`'s address: the
/// redirect tests' setup.
fn redirect_fixture(f: &Fam) -> (Arc<crate::clock::FakeClock>, Arc<RouteTables>) {
    let clock = Arc::new(crate::clock::FakeClock::new());
    clock.advance(std::time::Duration::from_secs(1000));
    let ifs = Arc::new(IfTable::with_config(
        Arc::new(Domain::new()),
        crate::ifnet::IfTableConfig::default(),
        clock.clone(),
    ));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .unwrap();
    ifs.add_addr(eth0, AddrSpec::new(ip(f.eth0_addr), f.eth0_len))
        .unwrap();
    (clock, rt)
}

fn redirects_losing_and_expiry(f: &Fam) {
    use std::time::Duration;
    let (clock, rt) = redirect_fixture(f);
    let gw2 = if f.family == Family::Inet {
        "192.0.2.253"
    } else {
        "2001:db8::fd"
    };
    let default = if f.family == Family::Inet {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    rt.add(&RouteSpec::new(net(default)).via(ip(f.gw))).unwrap();
    let mut sub = rt.subscribe(64);
    let redirect = |d: &str, gw: &str, src: &str| {
        rt.redirect(&Redirect {
            dst: dst(d),
            gateway: dst(gw),
            src: dst(src),
        })
    };
    // Rule 4: only the default route covers dst → a dynamic host route.
    let created = redirect(f.in_far, gw2, f.gw).unwrap();
    let RedirectOutcome::Created(r) = &created else {
        panic!("{created:?}")
    };
    assert_eq!(r.dst, host(f.in_far));
    assert!(
        r.flags
            .contains(RtFlags::GATEWAY | RtFlags::HOST | RtFlags::DYNAMIC)
    );
    assert!(!r.flags.contains(RtFlags::STATIC));
    assert_eq!(r.gateway, Gateway::Addr(ip(gw2), None));
    assert_eq!(r.metrics.expire, 1000 + 600);
    assert_eq!(rt.lookup(dst(f.in_far), false).unwrap().id(), r.id);
    // Rule 2: the old router may no longer redirect dst; the new one may.
    assert!(matches!(
        redirect(f.in_far, f.gw, f.gw),
        Err(RouteError::BadRedirect(_))
    ));
    // Rule 6: the host route's gateway is replaced in place, marked MODIFIED.
    let modified = redirect(f.in_far, f.gw, gw2).unwrap();
    let RedirectOutcome::Modified(m) = &modified else {
        panic!("{modified:?}")
    };
    assert_eq!(m.id, r.id);
    assert!(
        m.flags
            .contains(RtFlags::MODIFIED | RtFlags::DYNAMIC | RtFlags::UP)
    );
    assert_eq!(m.gateway, Gateway::Addr(ip(f.gw), None));
    // Rule 1: a gateway on no subnet of ours.
    assert!(matches!(
        redirect(f.in_more, f.unreachable_gw, f.gw),
        Err(RouteError::NetUnreachable { .. })
    ));
    // Rule 3: a gateway that is our own address.
    assert!(matches!(
        redirect(f.in_more, f.eth0_addr, f.gw),
        Err(RouteError::HostUnreachable)
    ));
    // Rule 2 for a route to an interface: its "router" is the link, never src.
    assert!(matches!(
        redirect(f.gw1_on_eth0(), gw2, f.gw),
        Err(RouteError::BadRedirect(_))
    ));
    // Rule 5: a network route through a gateway stays; a host route is added.
    let netr = rt
        .add(&RouteSpec::new(net(f.far_more)).via(ip(f.gw)))
        .unwrap();
    let RedirectOutcome::Created(h) = redirect(f.in_more, gw2, f.gw).unwrap() else {
        panic!("expected a new host route")
    };
    assert_eq!(h.dst, host(f.in_more));
    assert!(rt.get(&RouteKey::new(net(f.far_more))).is_ok());
    assert_eq!(rt.stats().dynamic, 2);
    assert_eq!(rt.stats().newgateway, 1);
    assert_eq!(rt.stats().badredirect, 4);
    // Every redirect was announced, with its outcome.
    let verdicts: Vec<bool> = sub
        .events()
        .into_iter()
        .filter_map(|e| match e {
            RouteEvent::Redirect { accepted, .. } => Some(accepted),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [true, false, true, false, false, false, true]);
    // in_losing: a dynamic route goes, a static one stays; the cache is cleared.
    let mut c = RouteCache::new();
    c.set_dst(dst(f.in_more)).unwrap();
    assert_eq!(c.init(&rt).unwrap().id(), h.id);
    assert_eq!(rt.losing(&mut c).unwrap().id, h.id);
    assert!(!c.has_route());
    assert_eq!(rt.lookup(dst(f.in_more), false).unwrap().id(), netr.id);
    assert!(c.init(&rt).is_some());
    assert_eq!(rt.losing(&mut c).unwrap().id, netr.id);
    assert!(rt.get(&RouteKey::new(net(f.far_more))).is_ok());
    assert!(
        sub.events()
            .iter()
            .any(|e| matches!(e, RouteEvent::Losing(i) if i.id == netr.id))
    );
    assert!(rt.losing(&mut RouteCache::new()).is_none());
    // The redirect timer: nothing before 600 s, the dynamic host route after.
    clock.advance(Duration::from_secs(599));
    assert_eq!(rt.expire_routes(), 0);
    clock.advance(Duration::from_secs(2));
    assert_eq!(rt.expire_routes(), 1);
    assert!(rt.get(&RouteKey::new(host(f.in_far)).host()).is_err());
    assert!(rt.lookup(dst(f.in_far), false).unwrap().dst().prefix_len() == 0);
    assert_eq!(rt.expire_routes(), 0);
}

/// The redirect timer queue: a route re-armed by a later redirect lives until its new
/// deadline; a timer whose route was deleted and replaced by a static route of the same
/// key leaves the newcomer alone; due timers leave the queue.
fn redirect_timer_rearms_and_spares_newcomers(f: &Fam) {
    use std::time::Duration;
    let (clock, rt) = redirect_fixture(f);
    let (gw2, default) = if f.family == Family::Inet {
        ("192.0.2.253", "0.0.0.0/0")
    } else {
        ("2001:db8::fd", "::/0")
    };
    rt.add(&RouteSpec::new(net(default)).via(ip(f.gw))).unwrap();
    let redirect = |d: &str, gw: &str, src: &str| {
        rt.redirect(&Redirect {
            dst: dst(d),
            gateway: dst(gw),
            src: dst(src),
        })
        .unwrap()
    };
    let RedirectOutcome::Created(r) = redirect(f.in_far, gw2, f.gw) else {
        panic!("not created")
    };
    assert_eq!(r.metrics.expire, 1600);
    clock.advance(Duration::from_secs(300));
    let RedirectOutcome::Modified(m) = redirect(f.in_far, f.gw, gw2) else {
        panic!("not modified")
    };
    assert_eq!((m.id, m.metrics.expire), (r.id, 1900));
    assert_eq!(rt.pending_timers(), 2);
    clock.advance(Duration::from_secs(301));
    assert_eq!(rt.expire_routes(), 0, "re-armed: the first deadline passes");
    assert!(rt.get(&RouteKey::new(host(f.in_far)).host()).is_ok());
    assert_eq!(rt.pending_timers(), 1);
    clock.advance(Duration::from_secs(300));
    assert_eq!(rt.expire_routes(), 1);
    assert!(rt.get(&RouteKey::new(host(f.in_far)).host()).is_err());
    assert_eq!(rt.pending_timers(), 0);

    // Deleted, then replaced by a static route of the same key: its timer spares it.
    let RedirectOutcome::Created(r) = redirect(f.in_far, gw2, f.gw) else {
        panic!("not created")
    };
    rt.delete(&RouteKey::new(host(f.in_far)).host()).unwrap();
    let s = rt
        .add(&RouteSpec::new(host(f.in_far)).via(ip(gw2)))
        .unwrap();
    assert_ne!(s.id, r.id);
    clock.advance(Duration::from_secs(601));
    assert_eq!(rt.expire_routes(), 0);
    assert_eq!(
        rt.get(&RouteKey::new(host(f.in_far)).host()).unwrap().id,
        s.id
    );
    assert_eq!(rt.pending_timers(), 0);
}

/// `delete_many` against the same keys deleted one by one on a twin table: the same
/// results (routes, errors, duplicates, local routes, unknown keys), the same table
/// afterwards, one `RTM_DELETE` per deleted route.
fn delete_many_equals_deletes_one_by_one(f: &Fam) {
    let (a, b) = (fixture(f), fixture(f));
    let prefix = |i: u32| -> IpNet {
        if f.family == Family::Inet {
            format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap()
        } else {
            format!("2001:db8:{:x}::/48", 0x1000 + i).parse().unwrap()
        }
    };
    let mut r = crate::synth::SplitMix64::new(7);
    for i in 0..300 {
        for x in [&a, &b] {
            for m in 0..=(i % 3) {
                x.rt.add(&RouteSpec::new(prefix(i)).via(ip(f.gw)).metric(m))
                    .unwrap();
            }
        }
    }
    let mut keys: Vec<RouteKey> = (0..400)
        .map(|_| {
            let i = r.below(320) as u32; // some beyond the table
            let k = RouteKey::new(prefix(i));
            match r.below(3) {
                0 => k,
                _ => k.metric(r.below(3) as u32),
            }
        })
        .collect();
    keys.push(RouteKey::new(host(f.eth0_addr)).host()); // a local route
    keys.push(keys[0]); // a duplicate
    let mut sub = a.rt.subscribe_filtered(1 << 12, RouteEventKinds::DELETE);
    let many = a.rt.delete_many(&keys);
    let one_by_one: Vec<_> = keys.iter().map(|k| b.rt.delete(k)).collect();
    assert_eq!(many.len(), one_by_one.len());
    if let Some(i) = (0..many.len()).find(|&i| many[i] != one_by_one[i]) {
        panic!(
            "key {:?}: {:?} vs one by one {:?}",
            keys[i], many[i], one_by_one[i]
        );
    }
    assert!(many.iter().any(Result::is_ok) && many.iter().any(Result::is_err));
    assert_eq!(a.rt.routes(f.family), b.rt.routes(f.family));
    let deleted = many.iter().filter(|x| x.is_ok()).count();
    assert_eq!(sub.events().len(), deleted);
    assert_eq!(a.rt.delete_many(&[]), vec![]);
}

fn cache_copy_and_set_dst(f: &Fam) {
    let x = fixture(f);
    let other = if f.family == Family::Inet { &V6 } else { &V4 };
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    let mut old = RouteCache::new();
    old.set_dst(dst(f.in_far)).unwrap();
    assert!(old.init(&x.rt).is_some());
    let mut new = RouteCache::new();
    new.copy_from(&x.rt, &mut old).unwrap();
    assert_eq!(new.dst(), old.dst());
    assert!(
        new.validate(&x.rt).is_some(),
        "copy holds the route at the current generation"
    );
    // A stale source copies the destination only.
    x.rt.add(&RouteSpec::new(net(other.far_net)).flags(RtFlags::BLACKHOLE))
        .unwrap();
    let mut new2 = RouteCache::new();
    new2.copy_from(&x.rt, &mut old).unwrap();
    assert_eq!(new2.dst(), Some(dst(f.in_far)));
    assert!(!new2.has_route());
    // set_dst: same family in place (route forgotten), family change reallocates and
    // can fail with ENOMEM, leaving an empty cache.
    assert!(new.init(&x.rt).is_some());
    new.fail_next_alloc();
    new.set_dst(dst(f.in_more)).unwrap();
    assert!(!new.has_route());
    let e = new.set_dst(dst(other.in_far)).unwrap_err();
    assert_eq!(e, RouteError::NoMemory);
    assert_eq!(e.errno(), 12);
    assert_eq!((new.dst(), new.has_route()), (None, false));
    new.set_dst(dst(other.in_far)).unwrap();
    assert_eq!(new.dst(), Some(dst(other.in_far)));
    assert!(new.init(&x.rt).is_some());
    // lookup with ENOMEM: a miss, and the invariant holds.
    new.fail_next_alloc();
    let (r, hit) = new.lookup(&x.rt, dst(f.in_far));
    assert!(r.is_none() && !hit);
    drop(r);
    assert_eq!((new.dst(), new.has_route()), (None, false));
}

fn use_counter_counts_misses_only(f: &Fam) {
    let x = fixture(f);
    x.rt.add(&RouteSpec::new(net(f.far_net)).via(ip(f.gw)))
        .unwrap();
    let mut c = RouteCache::new();
    drop(c.lookup(&x.rt, dst(f.in_far)));
    for _ in 0..10 {
        assert!(c.lookup(&x.rt, dst(f.in_far)).1);
    }
    let r = c.validate(&x.rt).unwrap();
    assert_eq!(r.uses(), 1, "hits write nothing shared");
    r.add_use(10);
    assert_eq!(r.uses(), 11);
    drop(r);
    x.rt.lookup(dst(f.in_far), false);
    assert_eq!(x.rt.get(&RouteKey::new(net(f.far_net))).unwrap().uses, 12);
}

#[test]
fn ipv6_link_local_routes_are_per_zone() {
    let x = fixture(&V6);
    // Both interfaces get fe80::/64 connected routes of their own zone.
    for (i, a) in [(x.eth0, "fe80::1"), (x.eth1, "fe80::2")] {
        let s = ScopedAddr::new(
            ip(a).to_string().parse().unwrap(),
            crate::addr::ZoneId::new(i.get()),
        )
        .unwrap();
        x.ifs.add_addr(i, AddrSpec::scoped(s, 64)).unwrap();
    }
    for i in [x.eth0, x.eth1] {
        let r = x.rt.get(&RouteKey::new(net("fe80::/64")).dev(i)).unwrap();
        assert_eq!(r.ifindex, Some(i));
        let peer = ScopedAddr::new(
            "fe80::77".parse().unwrap(),
            crate::addr::ZoneId::new(i.get()),
        )
        .unwrap();
        assert_eq!(x.rt.lookup(peer, false).unwrap().ifindex(), Some(i));
    }
    // A link-local gateway takes its zone from dev.
    let r =
        x.rt.add(
            &RouteSpec::new(net(V6.far_net))
                .via(ip("fe80::fe"))
                .dev(x.eth1),
        )
        .unwrap();
    assert_eq!(r.ifindex, Some(x.eth1));
    let lr = x.rt.lookup(dst(V6.in_far), false).unwrap();
    assert!(x.rt.gwroute(&lr).unwrap().is_some());
}

#[test]
fn delete_waits_for_references_without_blocking_lookups() {
    let x = fixture(&V6);
    x.rt.add(&RouteSpec::new(net(V6.far_net)).via(ip(V6.gw)))
        .unwrap();
    let held = x.rt.lookup(dst(V6.in_far), false).unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| x.rt.delete(&RouteKey::new(net(V6.far_net))).unwrap());
        // Lookups go on meanwhile, and stop finding it once it is unpublished.
        let t0 = std::time::Instant::now();
        while x.rt.lookup(dst(V6.in_far), false).is_some() {
            assert!(t0.elapsed().as_secs() < 10, "delete never unpublished");
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(!h.is_finished(), "delete must wait for the reference");
        assert!(held.is_intact());
        drop(held);
        h.join().unwrap();
    });
}

#[test]
fn expired_addresses_take_their_routes_and_p2p_gets_a_peer_route() {
    use crate::ifnet::{FakeClock, IfTableConfig, Lifetime};
    use std::time::Duration;
    let clock = Arc::new(FakeClock::new());
    let ifs = Arc::new(IfTable::with_config(
        Arc::new(Domain::new()),
        IfTableConfig::default(),
        clock.clone(),
    ));
    let eth = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP))
        .unwrap();
    // Addresses configured before the tables exist get their routes at creation.
    let life = Lifetime {
        valid: Some(Duration::from_secs(10)),
        preferred: Some(Duration::from_secs(5)),
    };
    ifs.add_addr(
        eth,
        AddrSpec::new(ip("2001:db8:5::1"), 64).with_lifetime(life),
    )
    .unwrap();
    let rt = RouteTables::new(Arc::clone(&ifs));
    assert!(rt.get(&RouteKey::new(net("2001:db8:5::/64"))).is_ok());
    let mut sub = rt.subscribe(16);
    clock.advance(Duration::from_secs(11));
    assert_eq!(ifs.expire().removed.len(), 1);
    assert!(rt.get(&RouteKey::new(net("2001:db8:5::/64"))).is_err());
    assert!(
        rt.get(&RouteKey::new(host("2001:db8:5::1")).host())
            .is_err()
    );
    assert_eq!(sub.events().len(), 2, "local and connected deletes");
    // A point-to-point address: a host route to the peer instead of a subnet route.
    let tun = ifs
        .attach(IfConfig::new("tun0").flags(IfFlags::UP | IfFlags::POINTOPOINT))
        .unwrap();
    ifs.add_addr(
        tun,
        AddrSpec::new(ip("10.9.0.1"), 32).with_dst(ip("10.9.0.2")),
    )
    .unwrap();
    let peer = rt.get(&RouteKey::new(host("10.9.0.2")).host()).unwrap();
    assert!(peer.flags.contains(RtFlags::HOST | RtFlags::CONNECTED));
    assert_eq!(peer.ifindex, Some(tun));
    let r = rt
        .add(&RouteSpec::new(net("10.10.0.0/16")).via(ip("10.9.0.2")))
        .unwrap();
    assert_eq!(r.ifindex, Some(tun));
}

#[test]
fn add_many_is_one_publication() {
    let x = fixture(&V4);
    let g = x.rt.generation();
    let mut sub = x.rt.subscribe(16);
    let res = x.rt.add_many(&[
        RouteSpec::new(net(V4.far_net)).via(ip(V4.gw)),
        RouteSpec::new(net(V6.far_net)).via(ip(V6.gw)),
        RouteSpec::new(net(V4.far_more)).via(ip(V4.gw1)),
        RouteSpec::new(net(V4.far_net)).via(ip(V4.gw1)),
        RouteSpec::new(net(V4.far_net)).via(ip(V4.gw1)).metric(1),
        RouteSpec::new(net(V4.far_net)).flags(RtFlags::LOCAL),
    ]);
    assert!(res[0].is_ok() && res[2].is_ok() && res[4].is_ok());
    assert!(
        matches!(res[1], Err(RouteError::NetUnreachable { .. })),
        "no IPv6 address here"
    );
    assert!(matches!(res[3], Err(RouteError::Exists { .. })));
    assert!(matches!(res[5], Err(RouteError::BadFlags(_))));
    assert_eq!(x.rt.generation(), g + 1, "one bump for the batch");
    let id = |i: usize| res[i].as_ref().unwrap().id;
    assert_eq!(x.rt.lookup(dst(V4.in_more), false).unwrap().id(), id(2));
    assert_eq!(x.rt.lookup(dst(V4.in_far), false).unwrap().id(), id(0));
    assert_eq!(sub.events().len(), 3);
}

#[test]
fn one_read_section_covers_route_and_interface() {
    let x = fixture(&V4);
    let r =
        x.rt.add(&RouteSpec::new(net(V4.far_net)).via(ip(V4.gw)))
            .unwrap();
    assert!(
        r.flags.contains(RtFlags::STATIC),
        "administrator routes are static"
    );
    let g = x.rt.domain().read();
    let e = x.rt.lookup_shared(&g, &dst(V4.in_far)).unwrap();
    let ifp = x.ifs.byindex(&g, e.ifindex().unwrap()).unwrap();
    assert_eq!(ifp.name(), "eth0");
    assert_eq!(e.uses(), 0, "section lookups count nothing");
}

#[test]
fn flag_names_and_values() {
    assert_eq!(RtFlags::UP.bits(), 0x1);
    assert_eq!(RtFlags::LOCAL.bits(), 0x40000);
    assert_eq!(RtFlags::BLACKHOLE.bits(), 0x1000);
    assert_eq!(RtFlags::CONNECTED.bits(), 0x100);
    for (n, f) in RtFlags::NAMES {
        assert_eq!(RtFlags::by_name(n), Some(*f));
    }
    assert_eq!(
        (RtFlags::UP | RtFlags::GATEWAY).names(),
        vec!["up", "gateway"]
    );
    assert_eq!(RtFlags::by_name("cloning"), None);
}

#[test]
fn rtrequest_dispatches() {
    let x = fixture(&V4);
    let a =
        x.rt.rtrequest(RtRequest::Add(
            RouteSpec::new(net(V4.far_net)).via(ip(V4.gw)),
        ))
        .unwrap();
    assert_eq!(
        x.rt.rtrequest(RtRequest::Get(RouteKey::new(net(V4.far_net))))
            .unwrap(),
        a
    );
    let c =
        x.rt.rtrequest(RtRequest::Change {
            spec: RouteSpec::new(net(V4.far_net)).via(ip(V4.gw1)),
            new_metric: Some(3),
        })
        .unwrap();
    assert_eq!(c.metric, 3);
    x.rt.rtrequest(RtRequest::Delete(RouteKey::new(net(V4.far_net)).metric(3)))
        .unwrap();
    assert!(x.rt.v4().len() >= 4 && x.rt.v6().is_empty());
}

#[test]
fn route_cache_is_send_not_sync() {
    fn send<T: Send>() {}
    send::<RouteCache>();
    send::<RouteTables>();
    fn sync<T: Sync>() {}
    sync::<RouteTables>();
}

mod differential {
    //! Random add/delete/change/lookup sequences against a naive model: a list of
    //! routes, longest prefix by scan, then lowest metric.
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u8, u32, bool),
        Delete(u8, u8, Option<u32>),
        Change(u8, u8, u32, Option<u32>),
        Lookup(u32),
    }

    fn pfx(a: u8, l: u8) -> IpNet {
        let lens = [0u8, 8, 16, 20, 24, 32];
        let len = lens[l as usize % lens.len()];
        let addr = Ipv4Addr::from(0x0a00_0000u32 | (u32::from(a % 8) << 12) | u32::from(a));
        IpNet::new(IpAddr::V4(addr), len).unwrap().trunc()
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), 0..6u8, 0..3u32, any::<bool>())
                .prop_map(|(a, l, m, g)| Op::Add(a, l, m, g)),
            (any::<u8>(), 0..6u8, proptest::option::of(0..3u32))
                .prop_map(|(a, l, m)| Op::Delete(a, l, m)),
            (any::<u8>(), 0..6u8, 0..3u32, proptest::option::of(0..3u32))
                .prop_map(|(a, l, m, n)| Op::Change(a, l, m, n)),
            any::<u32>().prop_map(|x| Op::Lookup(0x0a00_0000 | (x & 0x7fff))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn table_matches_naive_model(ops in proptest::collection::vec(op(), 1..60)) {
            let x = fixture(&V4);
            // (dst, metric, id)
            let mut model: Vec<(IpNet, u32, u64)> = Vec::new();
            let mut cache = RouteCache::new();
            for o in ops {
                match o {
                    Op::Add(a, l, m, g) => {
                        let d = pfx(a, l);
                        let spec = if g {
                            RouteSpec::new(d).via(ip(V4.gw)).metric(m)
                        } else {
                            RouteSpec::new(d).flags(RtFlags::BLACKHOLE).metric(m)
                        };
                        let r = x.rt.add(&spec);
                        if model.iter().any(|e| e.0 == d && e.1 == m) {
                            prop_assert!(matches!(r, Err(RouteError::Exists { .. })), "want EEXIST");
                        } else {
                            model.push((d, m, r.unwrap().id));
                        }
                    }
                    Op::Delete(a, l, m) => {
                        let d = pfx(a, l);
                        let k = RouteKey { dst: d, dev: None, host: false, metric: m };
                        let want = model
                            .iter()
                            .enumerate()
                            .filter(|(_, e)| e.0 == d && m.is_none_or(|m| e.1 == m))
                            .min_by_key(|(_, e)| e.1)
                            .map(|(i, _)| i);
                        match (x.rt.delete(&k), want) {
                            (Ok(info), Some(i)) => {
                                prop_assert_eq!(info.id, model[i].2);
                                model.remove(i);
                            }
                            (Err(RouteError::NoSuchRoute { .. }), None) => {}
                            (got, want) => prop_assert!(false, "{:?} vs {:?}", got, want),
                        }
                    }
                    Op::Change(a, l, m, n) => {
                        let d = pfx(a, l);
                        let r = x.rt.change(&RouteSpec::new(d).via(ip(V4.gw1)).metric(m), n);
                        let pos = model.iter().position(|e| e.0 == d && e.1 == m);
                        let clash = n.is_some_and(|n| n != m && model.iter().any(|e| e.0 == d && e.1 == n));
                        match (r, pos) {
                            (Err(RouteError::NoSuchRoute { .. }), None) => {}
                            (Err(RouteError::Exists { .. }), Some(_)) if clash => {}
                            (Ok(info), Some(i)) if !clash => {
                                prop_assert_eq!(info.id, model[i].2);
                                model[i].1 = n.unwrap_or(m);
                            }
                            (got, pos) => prop_assert!(false, "{:?} vs {:?}", got, pos),
                        }
                    }
                    Op::Lookup(a) => {
                        let a = Ipv4Addr::from(a);
                        let want = model
                            .iter()
                            .filter(|e| e.0.contains(&IpAddr::V4(a)))
                            .min_by_key(|e| (std::cmp::Reverse(e.0.prefix_len()), e.1))
                            .map(|e| e.2);
                        let got = x.rt.lookup(a, false).map(|r| r.id());
                        prop_assert_eq!(got, want);
                        let (c, _) = cache.lookup(&x.rt, a);
                        prop_assert_eq!(c.map(|r| r.id()), want);
                    }
                }
            }
            let ours = x.rt.routes(Family::Inet).into_iter().filter(|r| !r.flags.intersects(RtFlags::LOCAL | RtFlags::CONNECTED)).count();
            prop_assert_eq!(ours, model.len());
        }
    }
}
