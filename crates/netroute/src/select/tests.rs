//! Unit tests of source, route and destination selection: one table-driven case per
//! RFC 6724 source rule and per destination rule (each showing that rule deciding),
//! the worked examples of RFC 6724 §10, the socket inputs, the next-hop cache, the
//! error paths, and IPv4 `in_selectsrc`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use psref::Domain;

use super::*;
use crate::addr::{AddrError, IfIndex, Ipv6Net, NumericZones, ScopedAddr, SockAddr, SockAddrIn6};
use crate::ifnet::{
    AddrSpec, FakeClock, IfConfig, IfError, IfFlags, IfTable, IfTableConfig, IfaAddr, In6Flags,
    Lifetime, MulticastOptions,
};
use crate::route::{RouteCache, RouteKey, RouteSpec, RouteTables, RtFlags};

// ------------------------------------------------------------------------ harness

/// A small stack: interfaces, addresses, routes, a fake clock, a policy and tunables.
struct Net {
    ifs: Arc<IfTable>,
    rt: Arc<RouteTables>,
    clock: Arc<FakeClock>,
    policy: PolicyTable,
    config: SelectConfig,
}

fn idx(n: u32) -> IfIndex {
    IfIndex::new(n).unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// `addr` or `addr%zone` as a socket address (zone may be missing).
fn sa6(s: &str) -> SockAddrIn6 {
    SockAddrIn6::parse_addr(s, &NumericZones).unwrap()
}

/// `addr` or `addr%zone` as a scoped address (zone required where needed).
fn scoped(s: &str) -> ScopedAddr {
    sa6(s).scoped().unwrap()
}

/// A destination of either family (`fe80::1%2` carries its zone).
fn dst(s: &str) -> IfaAddr {
    match s.parse::<Ipv4Addr>() {
        Ok(a) => IfaAddr::V4(a),
        Err(_) => IfaAddr::V6(scoped(s)),
    }
}

impl Net {
    fn new() -> Self {
        let clock = Arc::new(FakeClock::new());
        let ifs = Arc::new(IfTable::with_config(
            Arc::new(Domain::new()),
            IfTableConfig::default(),
            clock.clone(),
        ));
        let rt = RouteTables::new(Arc::clone(&ifs));
        Self {
            ifs,
            rt,
            clock,
            policy: PolicyTable::rfc6724(),
            config: SelectConfig::default(),
        }
    }

    /// An Ethernet-like interface, up.
    fn eth(&self, name: &str) -> IfIndex {
        self.ifs
            .attach(
                IfConfig::new(name).flags(IfFlags::UP | IfFlags::BROADCAST | IfFlags::MULTICAST),
            )
            .unwrap()
    }

    fn lo(&self) -> IfIndex {
        self.ifs
            .attach(IfConfig::new("lo0").flags(IfFlags::UP | IfFlags::LOOPBACK))
            .unwrap()
    }

    /// Adds `addr/len` with IPv6 `flags`.
    fn addr(&self, i: IfIndex, cidr: &str, flags: In6Flags) {
        let (a, l) = cidr.split_once('/').unwrap();
        let a: IpAddr = a.parse().unwrap();
        self.ifs
            .add_addr(i, AddrSpec::new(a, l.parse().unwrap()).with_flags(flags))
            .unwrap();
    }

    /// Adds `addr/len` as configured from a Router Advertisement of `router`.
    fn addr_adv(&self, i: IfIndex, cidr: &str, flags: In6Flags, router: &str) {
        let (a, l) = cidr.split_once('/').unwrap();
        let spec = AddrSpec::new(a.parse::<IpAddr>().unwrap(), l.parse().unwrap())
            .with_flags(flags | In6Flags::AUTOCONF)
            .with_advertising_router(v6(router));
        self.ifs.add_addr(i, spec).unwrap();
    }

    fn route(&self, spec: RouteSpec) {
        self.rt.add(&spec).unwrap();
    }

    /// The IPv6 default route through the link-local router `fe80::fe` on `i` (which
    /// advertised none of the test's addresses unless a test says so, so rule 5.5 stays
    /// out of the way).
    fn default6_ll(&self, i: IfIndex) {
        self.route(
            RouteSpec::new("::/0".parse().unwrap())
                .via(v6("fe80::fe"))
                .dev(i),
        );
    }

    fn ctx(&self) -> SelectCtx<'_> {
        SelectCtx {
            routes: &self.rt,
            policy: &self.policy,
            config: &self.config,
        }
    }

    fn src(&self, d: &str) -> Result<Src6, SelectError> {
        self.src_with(d, None, None, None)
    }

    fn src_with(
        &self,
        d: &str,
        opts: Option<&mut Ip6PktOpts>,
        mopts: Option<&MulticastOptions>,
        laddr: Option<ScopedAddr>,
    ) -> Result<Src6, SelectError> {
        let mut ro = RouteCache::new();
        in6_selectsrc(&self.ctx(), &sa6(d), opts, mopts, &mut ro, laddr)
    }

    fn info(&self, d: &str) -> DstInfo {
        destination_info(&self.ctx(), dst(d))
    }

    fn order(&self, ds: &[&str]) -> Vec<String> {
        let ds: Vec<IfaAddr> = ds.iter().map(|d| dst(d)).collect();
        sort_destinations(&self.ctx(), &ds)
            .iter()
            .map(|i| i.dst.ip().to_string())
            .collect()
    }
}

const NONE: In6Flags = In6Flags::empty();
const DEP: In6Flags = In6Flags::DEPRECATED;
const HOME: In6Flags = In6Flags::HOME;
const TMP: In6Flags = In6Flags::TEMPORARY;

// ------------------------------------------------------------------------ source rules

/// One source-selection case: addresses per interface (eth0 = 1, eth1 = 2, eth2 = 3),
/// routes, the destination, and what must be chosen by which rule.
struct SrcCase {
    name: &'static str,
    addrs: &'static [(u32, &'static str, In6Flags)],
    /// IPv6 default route through `fe80::fe` on this interface.
    default_ll: Option<u32>,
    /// Extra routes: (destination, gateway, device).
    routes: &'static [(&'static str, Option<&'static str>, Option<u32>)],
    down: &'static [u32],
    prefer: Option<u32>,
    dst: &'static str,
    want: &'static str,
    rule: SrcRule,
}

fn run_src(c: &SrcCase) {
    let n = Net::new();
    for name in ["eth0", "eth1", "eth2"] {
        n.eth(name);
    }
    for &(i, cidr, f) in c.addrs {
        n.addr(idx(i), cidr, f);
    }
    if let Some(i) = c.default_ll {
        n.default6_ll(idx(i));
    }
    for &(d, gw, dev) in c.routes {
        let mut s = RouteSpec::new(d.parse().unwrap());
        if let Some(g) = gw {
            s = s.via(g.parse::<IpAddr>().unwrap());
        }
        if let Some(i) = dev {
            s = s.dev(idx(i));
        }
        n.route(s);
    }
    for &i in c.down {
        n.ifs
            .set_flags(idx(i), IfFlags::empty(), IfFlags::UP)
            .unwrap();
    }
    let mut opts = Ip6PktOpts::new();
    if let Some(f) = c.prefer {
        opts.prefer_src = Some(n.config.prefer.with_flags(f).unwrap());
    }
    let got = n
        .src_with(c.dst, Some(&mut opts), None, None)
        .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    assert_eq!(got.addr, scoped(c.want), "{}: chosen address", c.name);
    assert_eq!(got.rule, c.rule, "{}: deciding rule", c.name);
}

#[test]
fn each_source_rule_decides() {
    #[rustfmt::skip]
    let cases = [
        SrcCase { name: "rule 1: same address, even deprecated (RFC 10.1)",
            addrs: &[(1, "2001:db8:1::1/64", DEP), (1, "2001:db8:2::1/64", NONE)],
            default_ll: None, routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::1", want: "2001:db8:1::1", rule: SrcRule::SameAddress },
        SrcCase { name: "rule 2: global source for a global destination",
            addrs: &[(1, "fe80::1/64", NONE), (2, "2001:db8:3::1/64", NONE)],
            default_ll: Some(1), routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::1", want: "2001:db8:3::1", rule: SrcRule::Scope },
        SrcCase { name: "rule 2: link-local source for a link-local destination, even deprecated",
            addrs: &[(1, "fe80::2/64", DEP), (1, "2001:db8:1::1/64", NONE)],
            default_ll: None, routes: &[], down: &[], prefer: None,
            dst: "fe80::1%1", want: "fe80::2%1", rule: SrcRule::Scope },
        SrcCase { name: "rule 3: avoid deprecated",
            addrs: &[(1, "fe80::1/64", NONE), (1, "2001:db8:1::1/64", DEP), (2, "2001:db8:1:1::2/64", NONE)],
            default_ll: Some(1), routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::9:9", want: "2001:db8:1:1::2", rule: SrcRule::Deprecated },
        SrcCase { name: "rule 4: prefer home address (RFC 10.1)",
            addrs: &[(1, "2001:db8:1::2/64", NONE), (2, "2001:db8:3::2/64", HOME)],
            default_ll: None, routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::1", want: "2001:db8:3::2", rule: SrcRule::Home },
        SrcCase { name: "rule 4: IPV6_PREFER_SRC_COA reverses it",
            addrs: &[(1, "fe80::1/64", NONE), (2, "2001:db8:1::2/64", NONE), (2, "2001:db8:3::2/64", HOME)],
            default_ll: Some(1), routes: &[], down: &[], prefer: Some(IPV6_PREFER_SRC_COA),
            dst: "2001:db8:3::9", want: "2001:db8:1::2", rule: SrcRule::Home },
        SrcCase { name: "rule 5: the outgoing interface beats a longer match",
            addrs: &[(1, "2001:db8:1::1/64", NONE), (2, "2001:db8:9:1::1/64", NONE)],
            default_ll: None, routes: &[("2001:db8:9::/64", None, Some(1))], down: &[], prefer: None,
            dst: "2001:db8:9::1", want: "2001:db8:1::1", rule: SrcRule::OutgoingInterface },
        SrcCase { name: "rule 6: matching label (RFC 10.1, 6to4)",
            addrs: &[(1, "fe80::1/64", NONE), (1, "2001:db8:1::2/64", NONE),
                     (1, "2002:c633:6401::d5e3:7953:13eb:22e8/128", TMP)],
            default_ll: Some(1), routes: &[], down: &[], prefer: Some(IPV6_PREFER_SRC_PUBLIC),
            dst: "2002:c633:6401::1", want: "2002:c633:6401::d5e3:7953:13eb:22e8", rule: SrcRule::Label },
        SrcCase { name: "rule 7: prefer temporary (RFC 10.1)",
            addrs: &[(1, "2001:db8:1::2/64", NONE), (1, "2001:db8:1::d5e3:7953:13eb:22e8/64", TMP)],
            default_ll: None, routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::d5e3:0:0:1", want: "2001:db8:1::d5e3:7953:13eb:22e8", rule: SrcRule::Temporary },
        SrcCase { name: "rule 7: IPV6_PREFER_SRC_PUBLIC reverses it",
            addrs: &[(1, "2001:db8:1::2/64", NONE), (1, "2001:db8:1::d5e3:7953:13eb:22e8/64", TMP)],
            default_ll: None, routes: &[], down: &[], prefer: Some(IPV6_PREFER_SRC_PUBLIC),
            dst: "2001:db8:1::d5e3:0:0:1", want: "2001:db8:1::2", rule: SrcRule::Temporary },
        SrcCase { name: "KAME rule: an interface that is up",
            addrs: &[(1, "fe80::1/64", NONE), (2, "2001:db8:1::1/64", NONE), (3, "2001:db8:2::1/64", NONE)],
            default_ll: Some(1), routes: &[], down: &[2], prefer: None,
            dst: "2001:db8:1:1::9", want: "2001:db8:2::1", rule: SrcRule::InterfaceUp },
        SrcCase { name: "rule 8: longest matching prefix",
            addrs: &[(1, "fe80::1/64", NONE), (1, "2001:db8:3::2/64", NONE), (1, "2001:db8:1::2/64", NONE)],
            default_ll: Some(1), routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1:1::1", want: "2001:db8:1::2", rule: SrcRule::LongestMatch },
        SrcCase { name: "rule 8 is capped at the prefix length (RFC 6724 §2.2)",
            addrs: &[(1, "fe80::1/64", NONE), (1, "2001:db8:1::2/64", NONE), (1, "2001:db8:1::1:2/64", NONE)],
            default_ll: Some(1), routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::1:1", want: "2001:db8:1::2", rule: SrcRule::ListOrder },
        SrcCase { name: "only one candidate",
            addrs: &[(1, "2001:db8:1::2/64", NONE)],
            default_ll: None, routes: &[], down: &[], prefer: None,
            dst: "2001:db8:1::1", want: "2001:db8:1::2", rule: SrcRule::OnlyCandidate },
    ];
    for c in &cases {
        run_src(c);
    }
}

/// Rule 5.5 prefers the addresses whose prefix the route's next hop advertised, and
/// only those: an address nobody is known to have advertised (configured by hand), an
/// on-link destination and a route through a router that advertised neither candidate
/// leave the decision to the later rules.
#[test]
fn rule_5_5_follows_the_advertising_router() {
    // Two routers on one link, each advertising its own prefix.
    let two_routers = |via: &str| {
        let n = Net::new();
        let e = n.eth("eth0");
        n.addr(e, "fe80::1/64", NONE);
        n.addr_adv(e, "2001:db8:1::1/64", NONE, "fe80::a");
        n.addr_adv(e, "2001:db8:2::1/64", NONE, "fe80::b");
        n.route(RouteSpec::new("::/0".parse().unwrap()).via(v6(via)).dev(e));
        n
    };
    // Through fe80::b, its prefix wins over a longer match with the other.
    let s = two_routers("fe80::b").src("2001:db8:1:1::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:2::1"), SrcRule::NextHopPrefix)
    );
    // Through fe80::a, the other way round.
    let s = two_routers("fe80::a").src("2001:db8:2:1::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::1"), SrcRule::NextHopPrefix)
    );
    // Through a third router that advertised neither: longest match decides.
    let s = two_routers("fe80::c").src("2001:db8:2:1::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:2::1"), SrcRule::LongestMatch)
    );
    // On-link destination: no next hop, so no 5.5 (rule 8 picks the on-link prefix).
    let n = two_routers("fe80::b");
    let s = n.src("2001:db8:1::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::1"), SrcRule::LongestMatch)
    );

    // Manually configured addresses and a global gateway, no link-local address: the
    // route's source address (`rt_ifa`, 2001:db8:2::1 here) says nothing about what the
    // router advertised, so rule 5.5 does not fire (the heuristic that read it so chose
    // 2001:db8:2::1 here by "rule 5.5").
    let n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "2001:db8:1::1/64", NONE);
    n.addr(e, "2001:db8:2::1/64", NONE);
    n.route(RouteSpec::new("::/0".parse().unwrap()).via(v6("2001:db8:2::fe")));
    let s = n.src("2001:db8:1:1::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::1"), SrcRule::LongestMatch)
    );

    // The router must be link-local (RFC 4861 §6.1.2), and only IPv6 addresses have one.
    let n = Net::new();
    let e = n.eth("eth0");
    let spec = AddrSpec::new(v6("2001:db8:1::1"), 64).with_advertising_router(v6("2001:db8::fe"));
    assert!(matches!(
        n.ifs.add_addr(e, spec),
        Err(IfError::BadRouter { router }) if router == v6("2001:db8::fe")
    ));
    let spec =
        AddrSpec::new(Ipv4Addr::new(192, 0, 2, 1), 24).with_advertising_router(v6("fe80::a"));
    assert!(matches!(
        n.ifs.add_addr(e, spec),
        Err(IfError::Ipv6Only {
            what: "advertising routers",
            ..
        })
    ));
    // Accepted ones are kept, once each.
    let spec = AddrSpec::new(v6("2001:db8:1::1"), 64)
        .with_advertising_router(v6("fe80::a"))
        .with_advertising_router(v6("fe80::b"))
        .with_advertising_router(v6("fe80::a"));
    n.ifs.add_addr(e, spec).unwrap();
    let a = n
        .ifs
        .addrs_of(e, None)
        .into_iter()
        .find(|a| a.ip() == IpAddr::V6(v6("2001:db8:1::1")))
        .unwrap();
    assert_eq!(a.advertising_routers(), &[v6("fe80::a"), v6("fe80::b")]);
    assert!(a.is_advertised_by(v6("fe80::b")) && !a.is_advertised_by(v6("fe80::c")));
}

/// RFC 6724 §10.1 "Default Source Address Selection", all eight examples as the RFC
/// states them (destination, candidate source addresses with their properties,
/// result and the rule it names), checked against the RFC text. Two misprints in the
/// RFC's results are read as the candidate they clearly mean: the first example
/// prints "2001:db8::1" (not a candidate) for 2001:db8:3::1, the fifth
/// "2001:db8:1:::2" for 2001:db8:1::2.
///
/// The candidates sit on one link with a default route through a link-local router
/// (the examples say nothing of routes), and are all the addresses there are.
#[test]
fn rfc6724_10_1_source_examples() {
    struct Ex {
        dst: &'static str,
        srcs: &'static [(&'static str, In6Flags)],
        want: &'static str,
        rule: SrcRule,
    }
    #[rustfmt::skip]
    let examples = [
        // "Result: 2001:db8::1 (prefer appropriate scope)" [sic].
        Ex { dst: "2001:db8:1::1", srcs: &[("2001:db8:3::1/64", NONE), ("fe80::1/64", NONE)],
             want: "2001:db8:3::1", rule: SrcRule::Scope },
        // "Result: 2001:db8:3::1 (prefer appropriate scope)".
        Ex { dst: "ff05::1", srcs: &[("2001:db8:3::1/64", NONE), ("fe80::1/64", NONE)],
             want: "2001:db8:3::1", rule: SrcRule::Scope },
        // "Result: 2001:db8:1::1 (prefer same address)".
        Ex { dst: "2001:db8:1::1", srcs: &[("2001:db8:1::1/64", DEP), ("2001:db8:2::1/64", NONE)],
             want: "2001:db8:1::1", rule: SrcRule::SameAddress },
        // "Result: fe80::2 (prefer appropriate scope)".
        Ex { dst: "fe80::1%1", srcs: &[("fe80::2/64", DEP), ("2001:db8:1::1/64", NONE)],
             want: "fe80::2%1", rule: SrcRule::Scope },
        // "Result: 2001:db8:1:::2 (longest matching prefix)" [sic].
        Ex { dst: "2001:db8:1::1", srcs: &[("2001:db8:1::2/64", NONE), ("2001:db8:3::2/64", NONE)],
             want: "2001:db8:1::2", rule: SrcRule::LongestMatch },
        // "2001:db8:1::2 (care-of address) or 2001:db8:3::2 (home address)",
        // "Result: 2001:db8:3::2 (prefer home address)".
        Ex { dst: "2001:db8:1::1", srcs: &[("2001:db8:1::2/64", NONE), ("2001:db8:3::2/64", HOME)],
             want: "2001:db8:3::2", rule: SrcRule::Home },
        // "2002:c633:6401::d5e3:7953:13eb:22e8 (temporary) or 2001:db8:1::2",
        // "Result: 2002:c633:6401::d5e3:7953:13eb:22e8 (prefer matching label)".
        Ex { dst: "2002:c633:6401::1",
             srcs: &[("2002:c633:6401::d5e3:7953:13eb:22e8/64", TMP), ("2001:db8:1::2/64", NONE)],
             want: "2002:c633:6401::d5e3:7953:13eb:22e8", rule: SrcRule::Label },
        // "2001:db8:1::2 (public) or 2001:db8:1::d5e3:7953:13eb:22e8 (temporary)",
        // "Result: 2001:db8:1::d5e3:7953:13eb:22e8 (prefer temporary address)".
        Ex { dst: "2001:db8:1::d5e3:0:0:1",
             srcs: &[("2001:db8:1::2/64", NONE), ("2001:db8:1::d5e3:7953:13eb:22e8/64", TMP)],
             want: "2001:db8:1::d5e3:7953:13eb:22e8", rule: SrcRule::Temporary },
    ];
    for (i, ex) in examples.iter().enumerate() {
        // Both candidate orders: the answer may not depend on the list order.
        for rev in [false, true] {
            let n = Net::new();
            let e = n.eth("eth0");
            let mut srcs = ex.srcs.to_vec();
            if rev {
                srcs.reverse();
            }
            for (c, f) in srcs {
                n.addr(e, c, f);
            }
            n.default6_ll(e);
            n.route(RouteSpec::new("ff00::/8".parse().unwrap()).dev(e));
            let s = n
                .src(ex.dst)
                .unwrap_or_else(|err| panic!("example {}: {err}", i + 1));
            assert_eq!(
                (s.addr, s.rule),
                (scoped(ex.want), ex.rule),
                "§10.1 example {} (candidates reversed: {rev})",
                i + 1
            );
        }
    }
}

/// The rules on plain values: every pair of rule inputs, and the rule named.
#[test]
fn compare_sources_on_values() {
    let policy = PolicyTable::rfc6724();
    let d = Destination::new(scoped("2001:db8:1::1"), &policy);
    let base = Candidate {
        addr: scoped("2001:db8:2::1"),
        scope: crate::addr::Ipv6Scope::Global,
        deprecated: false,
        home: false,
        outgoing: true,
        next_hop_prefix: false,
        label: Some(1),
        temporary: false,
        if_up: true,
        match_len: 40,
        flags: NONE,
        prefix_len: 64,
    };
    let prefs = SrcPrefs::default();
    let b = Candidate {
        addr: scoped("2001:db8:3::1"),
        ..base
    };
    assert_eq!(
        compare_sources(&base, &b, &d, prefs),
        (std::cmp::Ordering::Equal, SrcRule::ListOrder)
    );
    let with = |f: &dyn Fn(&mut Candidate)| {
        let mut x = b;
        f(&mut x);
        x
    };
    use std::cmp::Ordering::{Greater, Less};
    #[rustfmt::skip]
    let table: Vec<(Candidate, std::cmp::Ordering, SrcRule)> = vec![
        (with(&|c| c.addr = d.addr), Greater, SrcRule::SameAddress),
        (with(&|c| { c.addr = scoped("fe80::1%1"); c.scope = crate::addr::Ipv6Scope::LinkLocal }), Less, SrcRule::Scope),
        (with(&|c| c.deprecated = true), Less, SrcRule::Deprecated),
        (with(&|c| c.home = true), Greater, SrcRule::Home),
        (with(&|c| c.outgoing = false), Less, SrcRule::OutgoingInterface),
        (with(&|c| c.next_hop_prefix = true), Greater, SrcRule::NextHopPrefix),
        (with(&|c| c.label = Some(2)), Less, SrcRule::Label),
        (with(&|c| c.temporary = true), Greater, SrcRule::Temporary),
        (with(&|c| c.if_up = false), Less, SrcRule::InterfaceUp),
        (with(&|c| c.match_len = 41), Greater, SrcRule::LongestMatch),
        // A candidate without label does not match (NetBSD's ADDR_LABEL_NOTAPP).
        (with(&|c| { c.label = None; c.match_len = 41 }), Less, SrcRule::Label),
    ];
    for (i, (cand, ord, rule)) in table.iter().enumerate() {
        assert_eq!(
            compare_sources(&base, cand, &d, prefs),
            (*ord, *rule),
            "row {i}"
        );
        // Symmetric.
        assert_eq!(
            compare_sources(cand, &base, &d, prefs),
            (ord.reverse(), *rule),
            "row {i} reversed"
        );
    }
    // A destination without label: rule 6 does not apply.
    let nolabel = Destination { label: None, ..d };
    assert_eq!(
        compare_sources(&base, &with(&|c| c.label = Some(7)), &nolabel, prefs),
        (std::cmp::Ordering::Equal, SrcRule::ListOrder)
    );
    // Rule 2's other branch: a narrower destination prefers the narrower source.
    let ll = Destination::new(scoped("fe80::9%1"), &policy);
    let lla = with(&|c| {
        c.addr = scoped("fe80::1%1");
        c.scope = crate::addr::Ipv6Scope::LinkLocal
    });
    assert_eq!(
        compare_sources(&base, &lla, &ll, prefs),
        (Greater, SrcRule::Scope)
    );
    // select_best with nothing.
    assert!(select_best(&[], &d, prefs).is_none());
    assert_eq!(
        select_best(&[base], &d, prefs),
        Some((0, SrcRule::OnlyCandidate))
    );
    assert_eq!(
        select_best(&[base, b, table[9].0], &d, prefs),
        Some((2, SrcRule::LongestMatch))
    );
}

// ------------------------------------------------------------------------ filters

#[test]
fn unusable_addresses_are_never_candidates() {
    for f in [
        In6Flags::TENTATIVE,
        In6Flags::DUPLICATED,
        In6Flags::DETACHED,
        In6Flags::ANYCAST,
    ] {
        let n = Net::new();
        let e = n.eth("eth0");
        n.addr(e, "2001:db8:1::2/64", f);
        assert_eq!(
            n.src("2001:db8:1::1"),
            Err(SelectError::AddrNotAvailable { addr: None }),
            "{f:?}"
        );
        // A usable address next to it is chosen.
        n.addr(e, "2001:db8:1::3/64", NONE);
        let s = n.src("2001:db8:1::1").unwrap();
        assert_eq!(
            (s.addr, s.rule),
            (scoped("2001:db8:1::3"), SrcRule::OnlyCandidate)
        );
    }
}

#[test]
fn deprecated_by_lifetime_and_use_deprecated() {
    let mut n = Net::new();
    let e = n.eth("eth0");
    n.ifs
        .add_addr(
            e,
            AddrSpec::new(v6("2001:db8:1::3"), 64).with_lifetime(Lifetime {
                valid: Some(Duration::from_secs(100)),
                preferred: Some(Duration::from_secs(10)),
            }),
        )
        .unwrap();
    n.addr(e, "2001:db8:1::2/64", NONE);
    // Before expiry: ::3 and ::2 tie (the first in the list wins).
    let s = n.src("2001:db8:1::4").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::3"), SrcRule::ListOrder)
    );
    assert!(!s.deprecated);
    // Its preferred lifetime runs out: rule 3.
    n.clock.advance(Duration::from_secs(11));
    let s = n.src("2001:db8:1::4").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::2"), SrcRule::Deprecated)
    );
    let s = n.src("2001:db8:1::3").unwrap();
    assert_eq!(s.rule, SrcRule::SameAddress, "rule 1 beats rule 3");
    assert!(s.deprecated);
    // use_deprecated off: the deprecated address is not even a candidate.
    n.config.use_deprecated = false;
    let s = n.src("2001:db8:1::3").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::2"), SrcRule::OnlyCandidate)
    );
}

#[test]
fn loopback_and_zone_filters() {
    let n = Net::new();
    let lo = n.lo();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(lo, "::1/128", NONE);
    n.addr(e0, "fe80::1/64", NONE);
    n.addr(e1, "fe80::2/64", NONE);
    // fe80::9 on eth1: only eth1's link-local address is in that zone.
    let s = n.src("fe80::9%3").unwrap();
    assert_eq!((s.addr, s.ifindex), (scoped("fe80::2%3"), Some(e1)));
    assert_eq!(s.rule, SrcRule::OnlyCandidate);
    let s = n.src("fe80::9%2").unwrap();
    assert_eq!(s.addr, scoped("fe80::1%2"));
    // ::1 is chosen for ::1 (through the loopback) and never elsewhere.
    // (The link-local addresses are in other zones than the loopback's.)
    let s = n.src("::1").unwrap();
    assert_eq!((s.addr, s.rule), (scoped("::1"), SrcRule::OnlyCandidate));
    assert_eq!(s.ifindex, Some(lo));
    assert!(n.src("fe80::9%2").unwrap().addr != scoped("::1"));
}

// ------------------------------------------------------------------------ socket inputs

#[test]
fn pktinfo_source_and_interface() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e0, "fe80::1/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.addr(e1, "fe80::2/64", NONE);
    n.addr(e1, "2001:db8:2::99/64", In6Flags::ANYCAST);
    n.addr(e1, "2001:db8:2::98/64", In6Flags::TENTATIVE);
    n.default6_ll(e0);
    // The source given.
    let mut o = Ip6PktOpts::new();
    o.pktinfo = Some(PktInfo6 {
        addr: v6("2001:db8:2::2"),
        ifindex: None,
    });
    let s = n
        .src_with("2001:db8:9::1", Some(&mut o), None, None)
        .unwrap();
    assert_eq!(
        (s.addr, s.rule, s.ifindex),
        (scoped("2001:db8:2::2"), SrcRule::PktInfo, Some(e0))
    );
    // A link-local source takes the outgoing interface's zone.
    o.pktinfo = Some(PktInfo6 {
        addr: v6("fe80::2"),
        ifindex: Some(e1),
    });
    let s = n
        .src_with("2001:db8:9::1", Some(&mut o), None, None)
        .unwrap();
    assert_eq!((s.addr, s.ifindex), (scoped("fe80::2%2"), Some(e1)));
    // Not ours, anycast, tentative: EADDRNOTAVAIL.
    for bad in ["2001:db8:2::3", "2001:db8:2::99", "2001:db8:2::98"] {
        o.pktinfo = Some(PktInfo6 {
            addr: v6(bad),
            ifindex: None,
        });
        assert_eq!(
            n.src_with("2001:db8:9::1", Some(&mut o), None, None),
            Err(SelectError::AddrNotAvailable {
                addr: Some(IpAddr::V6(v6(bad)))
            }),
            "{bad}"
        );
    }
    // Only an interface: it is the outgoing interface (rule 5 picks its address) and a
    // link-local destination without zone takes its zone.
    o.pktinfo = Some(PktInfo6 {
        addr: Ipv6Addr::UNSPECIFIED,
        ifindex: Some(e1),
    });
    let s = n
        .src_with("2001:db8:9::1", Some(&mut o), None, None)
        .unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:2::2"), SrcRule::OutgoingInterface)
    );
    let s = n.src_with("fe80::9", Some(&mut o), None, None).unwrap();
    assert_eq!(s.addr, scoped("fe80::2%2"));
    // An index no interface has.
    o.pktinfo = Some(PktInfo6 {
        addr: Ipv6Addr::UNSPECIFIED,
        ifindex: Some(idx(42)),
    });
    assert_eq!(
        n.src_with("2001:db8:9::1", Some(&mut o), None, None),
        Err(SelectError::NoInterface { index: idx(42) })
    );
}

#[test]
fn bound_address_and_multicast_interface() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e0, "fe80::1/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.addr(e1, "fe80::2/64", NONE);
    n.route(RouteSpec::new("ff00::/8".parse().unwrap()).dev(e0));
    // A bound address is copied as is, even with no route.
    let l = scoped("2001:db8:2::2");
    let s = n.src_with("2001:db8:77::1", None, None, Some(l)).unwrap();
    assert_eq!((s.addr, s.rule, s.ifindex), (l, SrcRule::Bound, None));
    // The unspecified bound address means "not bound".
    assert_eq!(
        n.src_with("2001:db8:77::1", None, None, Some(scoped("::"))),
        Err(SelectError::HostUnreachable)
    );
    // IPV6_MULTICAST_IF chooses the interface for multicast destinations.
    let mut m = MulticastOptions::new();
    m.set_interface(&n.ifs, e1).unwrap();
    let s = n.src_with("ff0e::1", None, Some(&m), None).unwrap();
    assert_eq!((s.addr, s.ifindex), (scoped("2001:db8:2::2"), Some(e1)));
    assert_eq!(s.rule, SrcRule::OutgoingInterface);
    // Link-scope multicast without zone: the interface's zone.
    let s = n.src_with("ff02::1", None, Some(&m), None).unwrap();
    assert_eq!(s.addr, scoped("fe80::2%2"));
    // Without the option, the route (eth0) decides.
    let s = n.src_with("ff0e::1", None, None, None).unwrap();
    assert_eq!(s.addr, scoped("2001:db8:1::2"));
    // Not for unicast destinations.
    n.default6_ll(e0);
    let s = n.src_with("2001:db8:77::1", None, Some(&m), None).unwrap();
    assert_eq!(s.ifindex, Some(e0));
    // A detached interface falls back to the routing table.
    n.ifs.detach(e1).unwrap();
    let s = n.src_with("ff0e::1", None, Some(&m), None).unwrap();
    assert_eq!((s.addr, s.ifindex), (scoped("2001:db8:1::2"), Some(e0)));
}

#[test]
fn source_interface_reference_on_demand() {
    let n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "2001:db8:1::2/64", NONE);
    let s = n.src("2001:db8:1::1").unwrap();
    let ifp = s.interface(&n.ifs).unwrap();
    assert_eq!(ifp.name(), "eth0");
    drop(ifp);
    n.ifs.detach(e).unwrap();
    assert!(s.interface(&n.ifs).is_none());
}

// ------------------------------------------------------------------------ errors

#[test]
fn source_selection_errors() {
    let n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "2001:db8:1::2/64", NONE);
    n.route(RouteSpec::new("2001:db8:bad::/48".parse().unwrap()).flags(RtFlags::REJECT));
    n.route(RouteSpec::new("2001:db8:bad:1::1/128".parse().unwrap()).flags(RtFlags::REJECT));
    n.route(RouteSpec::new("2001:db8:b1a::/48".parse().unwrap()).flags(RtFlags::BLACKHOLE));
    n.route(RouteSpec::new("2001:db8:9::/48".parse().unwrap()).flags(RtFlags::PROHIBIT));
    assert_eq!(n.src("2001:db8:77::1"), Err(SelectError::HostUnreachable));
    assert_eq!(n.src("2001:db8:bad::1"), Err(SelectError::NetUnreachable));
    assert_eq!(
        n.src("2001:db8:bad:1::1"),
        Err(SelectError::HostUnreachable)
    );
    assert_eq!(n.src("2001:db8:b1a::1"), Err(SelectError::NetUnreachable));
    assert_eq!(n.src("2001:db8:9::1"), Err(SelectError::NetUnreachable));
    // A link-local destination without a zone and no interface to take it from.
    assert_eq!(
        n.src("fe80::1"),
        Err(SelectError::Addr(AddrError::ZoneRequired {
            addr: v6("fe80::1")
        }))
    );
    // A zone that contradicts IPV6_PKTINFO's interface.
    let e1 = n.eth("eth1");
    let mut o = Ip6PktOpts::new();
    o.pktinfo = Some(PktInfo6 {
        addr: Ipv6Addr::UNSPECIFIED,
        ifindex: Some(e1),
    });
    assert!(matches!(
        n.src_with("fe80::1%1", Some(&mut o), None, None),
        Err(SelectError::Addr(AddrError::ZoneMismatch { .. }))
    ));
    // No route on that link; with one, no candidate on it.
    assert_eq!(n.src("fe80::1%1"), Err(SelectError::HostUnreachable));
    n.route(RouteSpec::new("fe80::/64".parse().unwrap()).dev(e1));
    assert_eq!(
        n.src("fe80::1%2"),
        Err(SelectError::AddrNotAvailable { addr: None })
    );
    assert_eq!(SelectError::HostUnreachable.errno(), 65);
    assert_eq!(SelectError::AddrNotAvailable { addr: None }.errno(), 49);
}

// ------------------------------------------------------------------------ route selection

#[test]
fn selectroute_uses_and_revalidates_the_callers_cache() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.route(RouteSpec::new("2001:db8:9::/48".parse().unwrap()).via(v6("2001:db8:1::fe")));
    let d = sa6("2001:db8:9::1");
    let mut ro = RouteCache::new();
    {
        let r = in6_selectroute(&n.rt, &d, None, &mut ro).unwrap();
        assert_eq!((r.cache(), r.hit()), (CacheUsed::Caller, false));
        assert_eq!(r.ifindex(), Some(e0));
    }
    {
        let r = in6_selectroute(&n.rt, &d, None, &mut ro).unwrap();
        assert_eq!((r.cache(), r.hit()), (CacheUsed::Caller, true));
    }
    // A more specific route: the stale cache revalidates (miss) and finds it.
    n.route(RouteSpec::new("2001:db8:9::/64".parse().unwrap()).via(v6("2001:db8:2::fe")));
    let r = in6_selectroute(&n.rt, &d, None, &mut ro).unwrap();
    assert_eq!((r.hit(), r.ifindex()), (false, Some(e1)));
    assert_eq!(r.dst(), "2001:db8:9::/64".parse::<IpNet>().unwrap());
    drop(r);
    // No route, and a scoped destination without zone.
    let mut ro = RouteCache::new();
    assert_eq!(
        in6_selectroute(&n.rt, &sa6("2001:db8:77::1"), None, &mut ro).unwrap_err(),
        SelectError::HostUnreachable
    );
    assert!(matches!(
        in6_selectroute(&n.rt, &sa6("fe80::1"), None, &mut ro).unwrap_err(),
        SelectError::Addr(AddrError::ZoneRequired { .. })
    ));
}

#[test]
fn nexthop_option_uses_its_own_cache_and_revalidates_it() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e0, "fe80::1/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.route(RouteSpec::new("::/0".parse().unwrap()).via(v6("2001:db8:2::fe")));
    let d = sa6("2001:db8:9::1");
    let mut ro = RouteCache::new();
    let mut o = Ip6PktOpts::new();
    o.set_nexthop(Some(SockAddr::Inet6(sa6("fe80::fe%1"))));
    {
        let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
        assert_eq!((r.cache(), r.hit()), (CacheUsed::NextHop, false));
        // The route to the next hop (the link-local connected route), not to dst.
        assert_eq!(r.ifindex(), Some(e0));
        assert_eq!(r.dst(), "fe80::/64".parse::<IpNet>().unwrap());
    }
    // The caller's cache was not touched; the options' cache holds the next hop.
    assert_eq!(ro.dst(), None);
    assert_eq!(o.nextroute().dst(), Some(dst("fe80::fe%1")));
    {
        let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
        assert_eq!((r.cache(), r.hit()), (CacheUsed::NextHop, true));
    }
    // A route change makes the next-hop cache stale: it is revalidated, not trusted.
    n.route(
        RouteSpec::new("fe80::fe/128".parse().unwrap())
            .dev(e0)
            .mtu(1280),
    );
    {
        let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
        assert_eq!((r.cache(), r.hit()), (CacheUsed::NextHop, false));
        assert_eq!(r.dst(), "fe80::fe/128".parse::<IpNet>().unwrap());
        assert_eq!(r.metrics().mtu, 1280);
    }
    // in6_selectif and in6_selectsrc follow the next hop too.
    let sel = in6_selectif(&n.rt, &d, Some(&mut o), None, &mut ro).unwrap();
    assert_eq!(
        (sel.ifindex, sel.via),
        (e0, IfVia::Route(CacheUsed::NextHop))
    );
    let mut ro2 = RouteCache::new();
    let s = in6_selectsrc(&n.ctx(), &d, Some(&mut o), None, &mut ro2, None).unwrap();
    assert_eq!(s.addr, scoped("2001:db8:1::2"));
    // Without the option, the caller's cache and the default route (eth1).
    o.set_nexthop(None);
    assert_eq!(o.nextroute().dst(), None, "set_nexthop empties the cache");
    let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
    assert_eq!((r.cache(), r.ifindex()), (CacheUsed::Caller, Some(e1)));
}

#[test]
fn nexthop_errors() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.route(RouteSpec::new("::/0".parse().unwrap()).via(v6("2001:db8:1::fe")));
    let d = sa6("2001:db8:9::1");
    let mut ro = RouteCache::new();
    let mut o = Ip6PktOpts::new();
    // Not IPv6.
    o.set_nexthop(Some(SockAddr::Inet("192.0.2.1:0".parse().unwrap())));
    assert_eq!(
        in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap_err(),
        SelectError::NextHopFamily {
            family: crate::addr::Family::Inet
        }
    );
    // Only reachable through a gateway: not a neighbour; the cache is emptied.
    o.set_nexthop(Some(SockAddr::Inet6(sa6("2001:db8:77::1"))));
    assert_eq!(
        in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap_err(),
        SelectError::HostUnreachable
    );
    assert_eq!(o.nextroute().dst(), None);
    assert!(!o.nextroute().has_route());
    // A neighbour on the connected prefix is fine.
    o.set_nexthop(Some(SockAddr::Inet6(sa6("2001:db8:1::fe"))));
    let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
    assert_eq!(r.cache(), CacheUsed::NextHop);
    drop(r);
    // A scoped next hop without zone.
    o.set_nexthop(Some(SockAddr::Inet6(sa6("fe80::fe"))));
    assert!(matches!(
        in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap_err(),
        SelectError::Addr(AddrError::ZoneRequired { .. })
    ));
}

#[test]
fn pktinfo_interface_mismatch_releases_the_route() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.route(RouteSpec::new("2001:db8:9::/48".parse().unwrap()).via(v6("2001:db8:1::fe")));
    let d = sa6("2001:db8:9::1");
    let mut ro = RouteCache::new();
    let mut o = Ip6PktOpts::new();
    o.pktinfo = Some(PktInfo6 {
        addr: Ipv6Addr::UNSPECIFIED,
        ifindex: Some(e1),
    });
    assert_eq!(
        in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap_err(),
        SelectError::HostUnreachable
    );
    // The route's reference was released: deleting it (which waits for references,
    // and panics if this thread still held one) returns.
    n.rt.delete(&RouteKey::new("2001:db8:9::/48".parse().unwrap()))
        .unwrap();
    // The same interface is fine.
    n.route(RouteSpec::new("2001:db8:9::/48".parse().unwrap()).via(v6("2001:db8:2::fe")));
    let r = in6_selectroute(&n.rt, &d, Some(&mut o), &mut ro).unwrap();
    assert_eq!(r.ifindex(), Some(e1));
}

#[test]
fn selectif_reports_how_and_where() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::2/64", NONE);
    n.addr(e1, "2001:db8:2::2/64", NONE);
    n.route(RouteSpec::new("::/0".parse().unwrap()).via(v6("2001:db8:1::fe")));
    let d = sa6("2001:db8:9::1");
    let mut ro = RouteCache::new();
    let s = in6_selectif(&n.rt, &d, None, None, &mut ro).unwrap();
    assert_eq!(s.ifindex, e0);
    assert_eq!(s.via, IfVia::Route(CacheUsed::Caller));
    assert_eq!(s.next_hop, Some(v6("2001:db8:1::fe")));
    assert_eq!(s.interface(&n.ifs).unwrap().name(), "eth0");
    let mut o = Ip6PktOpts::new();
    o.pktinfo = Some(PktInfo6 {
        addr: Ipv6Addr::UNSPECIFIED,
        ifindex: Some(e1),
    });
    let s = in6_selectif(&n.rt, &d, Some(&mut o), None, &mut ro).unwrap();
    assert_eq!((s.ifindex, s.via, s.next_hop), (e1, IfVia::PktInfo, None));
    let mut m = MulticastOptions::new();
    m.set_interface(&n.ifs, e1).unwrap();
    let s = in6_selectif(&n.rt, &sa6("ff0e::1"), None, Some(&m), &mut ro).unwrap();
    assert_eq!((s.ifindex, s.via), (e1, IfVia::Multicast));
}

// ------------------------------------------------------------------------ IPv4

#[test]
fn in_selectsrc_paths() {
    let n = Net::new();
    let lo = n.lo();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    let e2 = n.eth("eth2");
    n.addr(lo, "127.0.0.1/8", NONE);
    n.addr(e0, "192.0.2.1/24", NONE);
    n.addr(e1, "198.51.100.1/24", NONE);
    n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([192, 0, 2, 254]));
    n.route(RouteSpec::new("198.51.100.0/25".parse().unwrap()).dev(lo));
    n.route(RouteSpec::new("203.0.113.0/24".parse().unwrap()).dev(lo));
    let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let sel = |d: &str, ro: &mut RouteCache, dontroute, m: Option<&MulticastOptions>| {
        in_selectsrc(&n.rt, a(d), ro, dontroute, m)
    };
    let mut ro = RouteCache::new();
    // The route's address.
    let s = sel("203.0.113.200", &mut RouteCache::new(), false, None);
    assert_eq!(s.unwrap().via, Src4Via::FirstAddress);
    let s = sel("8.8.8.8", &mut ro, false, None).unwrap();
    assert_eq!(
        (s.addr, s.ifindex, s.via),
        (a("192.0.2.1"), e0, Src4Via::Route)
    );
    assert!(ro.has_route());
    let s = sel("198.51.100.200", &mut ro, false, None).unwrap();
    assert_eq!((s.addr, s.via), (a("198.51.100.1"), Src4Via::Route));
    // Through the loopback: the address of the subnet holding dst.
    let s = sel("198.51.100.7", &mut ro, false, None).unwrap();
    assert_eq!(
        (s.addr, s.ifindex, s.via),
        (a("198.51.100.1"), e1, Src4Via::LocalNet)
    );
    // Through the loopback, no subnet: the first address not on a loopback interface.
    let s = sel("203.0.113.5", &mut ro, false, None).unwrap();
    assert_eq!((s.addr, s.via), (a("192.0.2.1"), Src4Via::FirstAddress));
    // SO_DONTROUTE: no route consulted, the cache emptied.
    let s = sel("192.0.2.9", &mut ro, true, None).unwrap();
    assert_eq!((s.addr, s.via), (a("192.0.2.1"), Src4Via::LocalNet));
    assert_eq!(ro.dst(), None);
    // IP_MULTICAST_IF overrides for multicast destinations only.
    let mut m = MulticastOptions::new();
    m.set_interface(&n.ifs, e1).unwrap();
    let s = sel("224.0.0.251", &mut ro, false, Some(&m)).unwrap();
    assert_eq!((s.addr, s.via), (a("198.51.100.1"), Src4Via::Multicast));
    let s = sel("8.8.8.8", &mut ro, false, Some(&m)).unwrap();
    assert_eq!(s.via, Src4Via::Route);
    // An interface without IPv4 address: EADDRNOTAVAIL.
    m.set_interface(&n.ifs, e2).unwrap();
    assert_eq!(
        sel("224.0.0.251", &mut ro, false, Some(&m)),
        Err(SelectError::AddrNotAvailable { addr: None })
    );
    // A detached one is ignored.
    n.ifs.detach(e2).unwrap();
    let s = sel("224.0.0.251", &mut ro, false, Some(&m)).unwrap();
    assert_eq!(s.via, Src4Via::Route);
}

#[test]
fn in_selectsrc_without_addresses() {
    let n = Net::new();
    let lo = n.lo();
    n.addr(lo, "127.0.0.1/8", NONE);
    let mut ro = RouteCache::new();
    assert_eq!(
        in_selectsrc(&n.rt, Ipv4Addr::new(192, 0, 2, 1), &mut ro, false, None),
        Err(SelectError::AddrNotAvailable { addr: None })
    );
}

// ------------------------------------------------------------------------ destination rules

/// One destination-ordering case: a configured stack, two destinations in their
/// original order, and which comes first by which rule.
struct DstCase {
    name: &'static str,
    setup: fn(&mut Net),
    a: &'static str,
    b: &'static str,
    first: &'static str,
    rule: DstRule,
}

fn two_links(n: &Net) -> (IfIndex, IfIndex) {
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    (e0, e1)
}

#[test]
fn each_destination_rule_decides() {
    #[rustfmt::skip]
    let cases: Vec<DstCase> = vec![
        DstCase { name: "rule 1: unusable (no route)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2001:db8:1::2/64", NONE); },
            a: "2001:db8:9::1", b: "2001:db8:1::1", first: "2001:db8:1::1", rule: DstRule::Unusable },
        DstCase { name: "rule 1: unusable (reject route)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2001:db8:1::2/64", NONE); n.default6_ll(e);
                n.route(RouteSpec::new("2001:db8:9::/48".parse().unwrap()).flags(RtFlags::REJECT)); },
            a: "2001:db8:9::1", b: "2001:db8:8::1", first: "2001:db8:8::1", rule: DstRule::Unusable },
        DstCase { name: "rule 2: matching scope (RFC 10.2)",
            setup: |n| { let e = n.eth("eth0"); for c in ["2001:db8:1::2/64", "fe80::1/64", "169.254.13.78/16"] { n.addr(e, c, NONE); }
                n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([169, 254, 0, 1])); },
            a: "198.51.100.121", b: "2001:db8:1::1", first: "2001:db8:1::1", rule: DstRule::MatchingScope },
        DstCase { name: "rule 3: avoid deprecated sources",
            setup: |n| { let (e0, e1) = two_links(n); n.addr(e0, "fe80::2/64", In6Flags::DEPRECATED); n.addr(e1, "fe80::2/64", NONE); },
            a: "fe80::1%1", b: "fe80::1%2", first: "fe80::1%2", rule: DstRule::Deprecated },
        DstCase { name: "rule 4: prefer home addresses",
            setup: |n| { let (e0, e1) = two_links(n); n.addr(e0, "fe80::2/64", NONE); n.addr(e1, "fe80::2/64", In6Flags::HOME); },
            a: "fe80::1%1", b: "fe80::1%2", first: "fe80::1%2", rule: DstRule::Home },
        DstCase { name: "rule 5: matching label (RFC 10.2)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2002:c633:6401::2/64", NONE); n.addr(e, "fe80::2/64", NONE); n.default6_ll(e); },
            a: "2001:db8:1::1", b: "2002:c633:6401::1", first: "2002:c633:6401::1", rule: DstRule::Label },
        DstCase { name: "rule 6: higher precedence (RFC 10.2)",
            setup: |n| { let e = n.eth("eth0"); for c in ["2001:db8:1::2/64", "fe80::2/64", "2002:c633:6401::2/64"] { n.addr(e, c, NONE); } n.default6_ll(e); },
            a: "2002:c633:6401::1", b: "2001:db8:1::1", first: "2001:db8:1::1", rule: DstRule::Precedence },
        DstCase { name: "rule 7: native transport (Teredo given the default precedence)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2001:db8:1::2/64", NONE); n.default6_ll(e);
                n.policy = n.policy.without("2001::/32".parse().unwrap()).unwrap(); },
            a: "2001:0:5ef5:79fd::1", b: "2001:db8:1::1", first: "2001:db8:1::1", rule: DstRule::Native },
        DstCase { name: "rule 8: smaller scope (RFC 10.2)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2001:db8:1::2/64", NONE); n.addr(e, "fe80::2/64", NONE); },
            a: "2001:db8:1::1", b: "fe80::1%1", first: "fe80::1%1", rule: DstRule::SmallerScope },
        DstCase { name: "rule 9: longest matching prefix (IPv6)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "2001:db8:1::2/64", NONE); n.default6_ll(e); },
            a: "2001:db8:9::1", b: "2001:db8:1:1::1", first: "2001:db8:1:1::1", rule: DstRule::LongestMatch },
        DstCase { name: "rule 10: IPv4 keeps its order (no rule 9 for IPv4)",
            setup: |n| { let e = n.eth("eth0"); n.addr(e, "192.0.2.4/24", NONE);
                n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([192, 0, 2, 254])); },
            a: "203.0.113.9", b: "192.0.2.200", first: "203.0.113.9", rule: DstRule::Order },
    ];
    for c in &cases {
        let mut n = Net::new();
        (c.setup)(&mut n);
        let (a, b) = (n.info(c.a), n.info(c.b));
        let (ord, rule) = compare_destinations(&a, &b, &n.policy);
        assert_eq!(rule, c.rule, "{}: rule ({a:?} vs {b:?})", c.name);
        let first = if ord == std::cmp::Ordering::Greater {
            c.b
        } else {
            c.a
        };
        assert_eq!(first, c.first, "{}: order", c.name);
        // The same through the sort, in both input orders.
        let want = dst(c.first).ip().to_string();
        assert_eq!(n.order(&[c.a, c.b])[0], want, "{}: sorted", c.name);
        if c.rule != DstRule::Order {
            assert_eq!(
                n.order(&[c.b, c.a])[0],
                want,
                "{}: sorted, reversed",
                c.name
            );
        }
    }
}

/// RFC 6724 §10.2 "Default Destination Address Selection", with the source chosen for
/// each destination, in the RFC's input order and reversed.
///
/// Examples 1–5 and 9 (matching scope twice, higher precedence, smaller scope, home
/// address, higher precedence) are checked against the RFC text. Examples 6–8 (avoid
/// deprecated, longest matching prefix, matching label) could not be retrieved here:
/// they are RFC 3484 §10.2's examples carried over to RFC 6724's addresses (site-local
/// replaced by link-local, `3ffe::`/`3f44::` by `2001:db8:3ffe::`/`2001:db8:3f44::`,
/// 6to4 by `2002:c633:6401::`), and each still shows its rule deciding
/// (`each_destination_rule_decides` has one table row per rule besides).
#[test]
fn rfc6724_10_2_destination_examples() {
    #[rustfmt::skip]
    let examples = [
        RfcDstEx { name: "10.2 example 1 (prefer matching scope)",
            srcs: &[("2001:db8:1::2/64", NONE), ("fe80::1/64", NONE), ("169.254.13.78/16", NONE)],
            gw4: Some([169, 254, 0, 1]),
            dsts: &["2001:db8:1::1", "198.51.100.121"],
            want: &[("2001:db8:1::1", "2001:db8:1::2"), ("198.51.100.121", "169.254.13.78")] },
        RfcDstEx { name: "10.2 example 2 (prefer matching scope)",
            srcs: &[("fe80::1/64", NONE), ("198.51.100.117/24", NONE)],
            gw4: None,
            dsts: &["2001:db8:1::1", "198.51.100.121"],
            want: &[("198.51.100.121", "198.51.100.117"), ("2001:db8:1::1", "fe80::1")] },
        RfcDstEx { name: "10.2 example 3 (prefer higher precedence)",
            srcs: &[("2001:db8:1::2/64", NONE), ("fe80::1/64", NONE), ("10.1.2.4/8", NONE)],
            gw4: None,
            dsts: &["2001:db8:1::1", "10.1.2.3"],
            want: &[("2001:db8:1::1", "2001:db8:1::2"), ("10.1.2.3", "10.1.2.4")] },
        RfcDstEx { name: "10.2 example 4 (prefer smaller scope)",
            srcs: &[("2001:db8:1::2/64", NONE), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8:1::1", "fe80::1%1"],
            want: &[("fe80::1", "fe80::2"), ("2001:db8:1::1", "2001:db8:1::2")] },
        // "2001:db8:1::2 (care-of address) or 2001:db8:3::1 (home address) or fe80::2
        // (care-of address)".
        RfcDstEx { name: "10.2 example 5 (prefer home address)",
            srcs: &[("2001:db8:1::2/64", NONE), ("2001:db8:3::1/64", HOME), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8:1::1", "fe80::1%1"],
            want: &[("2001:db8:1::1", "2001:db8:3::1"), ("fe80::1", "fe80::2")] },
        // Carried over from RFC 3484 (see above).
        RfcDstEx { name: "10.2 example 6 (avoid deprecated addresses)",
            srcs: &[("2001:db8:1::2/64", NONE), ("fe80::2/64", DEP)],
            gw4: None,
            dsts: &["fe80::1%1", "2001:db8:1::1"],
            want: &[("2001:db8:1::1", "2001:db8:1::2"), ("fe80::1", "fe80::2")] },
        RfcDstEx { name: "10.2 example 7 (longest matching prefix)",
            srcs: &[("2001:db8:1::2/64", NONE), ("2001:db8:3f44::2/64", NONE), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8:3ffe::1", "2001:db8:1::1"],
            want: &[("2001:db8:1::1", "2001:db8:1::2"), ("2001:db8:3ffe::1", "2001:db8:3f44::2")] },
        RfcDstEx { name: "10.2 example 8 (prefer matching label)",
            srcs: &[("2002:c633:6401::2/64", NONE), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8:1::1", "2002:c633:6401::1"],
            want: &[("2002:c633:6401::1", "2002:c633:6401::2"), ("2001:db8:1::1", "2002:c633:6401::2")] },
        RfcDstEx { name: "10.2 example 9 (prefer higher precedence)",
            srcs: &[("2002:c633:6401::2/64", NONE), ("2001:db8:1::2/64", NONE), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2002:c633:6401::1", "2001:db8:1::1"],
            want: &[("2001:db8:1::1", "2001:db8:1::2"), ("2002:c633:6401::1", "2002:c633:6401::2")] },
    ];
    let policy = PolicyTable::rfc6724();
    for ex in &examples {
        run_rfc_dst(&policy, ex);
    }
}

#[test]
fn sort_is_stable_and_handles_unusable() {
    let n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "2001:db8:1::2/64", NONE);
    n.addr(e, "192.0.2.4/24", NONE);
    n.default6_ll(e);
    n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([192, 0, 2, 254]));
    n.route(RouteSpec::new("2001:db8:dead::/48".parse().unwrap()).flags(RtFlags::BLACKHOLE));
    let got = n.order(&[
        "2001:db8:dead::1",
        "203.0.113.1",
        "2001:db8:5::1",
        "198.51.100.1",
        "2001:db8:6::1",
    ]);
    assert_eq!(
        got,
        [
            "2001:db8:5::1",
            "2001:db8:6::1",
            "203.0.113.1",
            "198.51.100.1",
            "2001:db8:dead::1"
        ]
    );
    let infos = sort_destinations(&n.ctx(), &[dst("2001:db8:dead::1")]);
    assert_eq!(infos[0].src, None);
    assert!(sort_destinations(&n.ctx(), &[]).is_empty());
}

// ------------------------------------------------------------------------ policy table

#[test]
fn default_policy_lookups() {
    let t = PolicyTable::rfc6724();
    #[rustfmt::skip]
    let table: &[(&str, u8, u8)] = &[
        ("::1", 50, 0), ("2001:db8::1", 40, 1), ("::ffff:192.0.2.1", 35, 4),
        ("2002:c633:6401::1", 30, 2), ("2001:0:5ef5:79fd::1", 5, 5), ("fd00::1", 3, 13),
        ("::192.0.2.1", 1, 3), ("fec0::1", 1, 11), ("3ffe::1", 1, 12), ("fe80::1", 40, 1),
    ];
    for &(a, precedence, label) in table {
        assert_eq!(t.lookup(&v6(a)), Some(Policy { precedence, label }), "{a}");
    }
    assert_eq!(
        t.lookup_ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        Some(Policy {
            precedence: 35,
            label: 4
        })
    );
    assert_eq!(t.entries().len(), 9);
    assert_eq!(PolicyTable::empty().lookup(&v6("::1")), None);
}

#[test]
fn policy_table_updates() {
    let t = PolicyTable::rfc6724();
    let p: Ipv6Net = "2001:db8:1::/48".parse().unwrap();
    let t2 = t.with(PolicyEntry::new(p, 45, 14)).unwrap();
    assert_eq!(
        t2.lookup(&v6("2001:db8:1::1")),
        Some(Policy {
            precedence: 45,
            label: 14
        })
    );
    assert_eq!(
        t2.with(PolicyEntry::new(p, 1, 1)),
        Err(SelectError::DuplicatePolicy { prefix: p })
    );
    assert_eq!(t.without(p), Err(SelectError::NoSuchPolicy { prefix: p }));
    assert_eq!(t2.without(p).unwrap(), t);
    assert_eq!(
        t2.with_replaced(PolicyEntry::new(p, 1, 2))
            .lookup(&v6("2001:db8:1::1")),
        Some(Policy {
            precedence: 1,
            label: 2
        })
    );
    // Host bits are cleared.
    let e = PolicyEntry::new("2001:db8:1::5/48".parse().unwrap(), 1, 1);
    assert_eq!(e.prefix, p);
    assert_eq!(
        PolicyTable::new([e, e]),
        Err(SelectError::DuplicatePolicy { prefix: p })
    );
    let h = PolicyHolder::default();
    assert_eq!(*h.load(), t);
    let held = h.load();
    h.update(|t| t.with(PolicyEntry::new(p, 45, 14))).unwrap();
    assert_eq!(*held, t, "a loaded table does not change under its reader");
    assert_eq!(*h.load(), t2);
    assert!(h.update(|t| t.with(PolicyEntry::new(p, 45, 14))).is_err());
    let old = h.store(PolicyTable::empty());
    assert_eq!(*old, t2);
    assert_eq!(h.load().entries().len(), 0);
}

/// One worked destination-ordering example of RFC 6724 §10, as the RFC states it: the
/// candidate source addresses (all on one link, with their flags), the destination
/// address list, and the result as (destination, its source) pairs in order. Off-link
/// IPv6 destinations go through a link-local router; `gw4` is the IPv4 default router.
struct RfcDstEx {
    name: &'static str,
    srcs: &'static [(&'static str, In6Flags)],
    gw4: Option<[u8; 4]>,
    dsts: &'static [&'static str],
    want: &'static [(&'static str, &'static str)],
}

impl Net {
    /// The sorted destinations with their selected sources.
    fn order_src(&self, ds: &[&str]) -> Vec<(String, String)> {
        let ds: Vec<IfaAddr> = ds.iter().map(|d| dst(d)).collect();
        sort_destinations(&self.ctx(), &ds)
            .iter()
            .map(|i| {
                let s = i
                    .src
                    .map_or_else(|| "-".to_string(), |s| s.ip().to_string());
                (i.dst.ip().to_string(), s)
            })
            .collect()
    }
}

/// Runs `ex` under `policy`, in the RFC's input order and reversed.
fn run_rfc_dst(policy: &PolicyTable, ex: &RfcDstEx) {
    let mut n = Net::new();
    n.policy = policy.clone();
    let e = n.eth("eth0");
    for &(c, f) in ex.srcs {
        n.addr(e, c, f);
    }
    n.default6_ll(e);
    if let Some(g) = ex.gw4 {
        n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via(g));
    }
    let want: Vec<(String, String)> = ex
        .want
        .iter()
        .map(|(d, s)| (d.parse::<IpAddr>().unwrap().to_string(), s.to_string()))
        .collect();
    assert_eq!(n.order_src(ex.dsts), want, "{}", ex.name);
    let rev: Vec<&str> = ex.dsts.iter().rev().copied().collect();
    assert_eq!(n.order_src(&rev), want, "{} (input reversed)", ex.name);
}

/// RFC 6724 §10.3 "Configuring Preference for IPv6 or IPv4", Examples 1–3, verbatim:
/// the default table with `::ffff:0:0/96` raised to precedence 100 (label 4). The
/// change is made at run time through a [`PolicyHolder`].
#[test]
fn rfc6724_10_3_prefer_ipv4_by_policy() {
    let h = PolicyHolder::default();
    h.update(|t| Ok(t.with_replaced(PolicyEntry::new("::ffff:0:0/96".parse().unwrap(), 100, 4))))
        .unwrap();
    let policy = h.load().clone();
    #[rustfmt::skip]
    let examples = [
        // Example 1, unchanged result (prefer matching scope).
        RfcDstEx { name: "10.3 example 1",
            srcs: &[("2001:db8::2/64", NONE), ("fe80::1/64", NONE), ("169.254.13.78/16", NONE)],
            gw4: Some([169, 254, 0, 1]),
            dsts: &["2001:db8::1", "198.51.100.121"],
            want: &[("2001:db8::1", "2001:db8::2"), ("198.51.100.121", "169.254.13.78")] },
        // Example 2, unchanged result (prefer matching scope).
        RfcDstEx { name: "10.3 example 2",
            srcs: &[("fe80::1/64", NONE), ("198.51.100.117/24", NONE)],
            gw4: None,
            dsts: &["2001:db8::1", "198.51.100.121"],
            want: &[("198.51.100.121", "198.51.100.117"), ("2001:db8::1", "fe80::1")] },
        // Example 3, new result (prefer higher precedence).
        RfcDstEx { name: "10.3 example 3",
            srcs: &[("2001:db8::2/64", NONE), ("fe80::1/64", NONE), ("10.1.2.4/8", NONE)],
            gw4: None,
            dsts: &["2001:db8::1", "10.1.2.3"],
            want: &[("10.1.2.3", "10.1.2.4"), ("2001:db8::1", "2001:db8::2")] },
    ];
    for ex in &examples {
        run_rfc_dst(&policy, ex);
    }
    // Example 3 is decided by precedence.
    let mut n = Net::new();
    n.policy = policy;
    let e = n.eth("eth0");
    for c in ["2001:db8::2/64", "fe80::1/64", "10.1.2.4/8"] {
        n.addr(e, c, NONE);
    }
    let (_, rule) = compare_destinations(&n.info("2001:db8::1"), &n.info("10.1.2.3"), &n.policy);
    assert_eq!(rule, DstRule::Precedence);
}

/// RFC 6724 §10.4 "Configuring Preference for Link-Local Addresses", Examples 1–2,
/// verbatim: the default table plus `fe80::/10` with precedence 33, label 1.
#[test]
fn rfc6724_10_4_prefer_global_over_link_local() {
    let policy = PolicyTable::rfc6724()
        .with(PolicyEntry::new("fe80::/10".parse().unwrap(), 33, 1))
        .unwrap();
    #[rustfmt::skip]
    let examples = [
        // Example 1, new result (prefer higher precedence).
        RfcDstEx { name: "10.4 example 1",
            srcs: &[("2001:db8::2/64", NONE), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8::1", "fe80::1%1"],
            want: &[("2001:db8::1", "2001:db8::2"), ("fe80::1", "fe80::2")] },
        // Example 2, unchanged result (avoid deprecated addresses).
        RfcDstEx { name: "10.4 example 2",
            srcs: &[("2001:db8::2/64", DEP), ("fe80::2/64", NONE)],
            gw4: None,
            dsts: &["2001:db8::1", "fe80::1%1"],
            want: &[("fe80::1", "fe80::2"), ("2001:db8::1", "2001:db8::2")] },
    ];
    for ex in &examples {
        run_rfc_dst(&policy, ex);
    }
}

/// RFC 6724 §10.5 "Configuring a Multi-Homed Site", Example 1, verbatim (default
/// table): site A holds 2001:db8:1aaa::/48 (high-performance ISP) and
/// 2001:db8:70aa::/48 (normal ISP); site B likewise 1bbb and 70bb.
///
/// Example 2 and the site-specific policy table that follows it are not tested: only
/// the start of Example 2 was retrievable here ("Destination Address List:
/// 2001:db8:1ccc::c or ..."), and the table was not, so they are not guessed at.
#[test]
fn rfc6724_10_5_multihomed_site() {
    // Example 1, result (longest matching prefix).
    run_rfc_dst(
        &PolicyTable::rfc6724(),
        &RfcDstEx {
            name: "10.5 example 1",
            srcs: &[
                ("2001:db8:1aaa::a/64", NONE),
                ("2001:db8:70aa::a/64", NONE),
                ("fe80::a/64", NONE),
            ],
            gw4: None,
            dsts: &["2001:db8:1bbb::b", "2001:db8:70bb::b"],
            want: &[
                ("2001:db8:70bb::b", "2001:db8:70aa::a"),
                ("2001:db8:1bbb::b", "2001:db8:1aaa::a"),
            ],
        },
    );
    let n = Net::new();
    let e = n.eth("eth0");
    for c in ["2001:db8:1aaa::a/64", "2001:db8:70aa::a/64", "fe80::a/64"] {
        n.addr(e, c, NONE);
    }
    n.default6_ll(e);
    let (_, rule) = compare_destinations(
        &n.info("2001:db8:1bbb::b"),
        &n.info("2001:db8:70bb::b"),
        &n.policy,
    );
    assert_eq!(rule, DstRule::LongestMatch);
}

/// Not an RFC example (an earlier stand-in for §10.5, kept as a policy-label test): a
/// host with prefixes from two providers labels one provider's prefixes alike so that
/// a destination in that provider's network gets a source from it, against the
/// longest match.
#[test]
fn multihomed_provider_labels() {
    let mut n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "fe80::1/64", NONE);
    n.addr(e, "2001:db8:1::2/64", NONE);
    n.addr(e, "2001:db8:2::2/64", NONE);
    n.default6_ll(e);
    // Without labels: longest match.
    let s = n.src("2001:db8:1:ff::9").unwrap();
    assert_eq!(
        (s.addr, s.rule),
        (scoped("2001:db8:1::2"), SrcRule::LongestMatch)
    );
    // ISP 2 serves 2001:db8:2::/48 and also 2001:db8:1:ff::/64 (say): label them alike.
    n.policy = n
        .policy
        .with(PolicyEntry::new("2001:db8:2::/48".parse().unwrap(), 40, 20))
        .unwrap()
        .with(PolicyEntry::new(
            "2001:db8:1:ff::/64".parse().unwrap(),
            40,
            20,
        ))
        .unwrap();
    let s = n.src("2001:db8:1:ff::9").unwrap();
    assert_eq!((s.addr, s.rule), (scoped("2001:db8:2::2"), SrcRule::Label));
}

/// RFC 6724 §10.6 "Configuring ULA Preference", Examples 1–4, verbatim. Example 1 uses
/// the default table; Examples 2–4 add `fd11:1111:1111::/48` with precedence 45, label 14.
#[test]
fn rfc6724_10_6_ula_preference() {
    const SRCS: &[(&str, In6Flags)] =
        &[("2001:db8:1::1/64", NONE), ("fd11:1111:1111:1::1/64", NONE)];
    let ula = PolicyTable::rfc6724()
        .with(PolicyEntry::new(
            "fd11:1111:1111::/48".parse().unwrap(),
            45,
            14,
        ))
        .unwrap();
    // Example 1, default table (prefer higher precedence).
    run_rfc_dst(
        &PolicyTable::rfc6724(),
        &RfcDstEx {
            name: "10.6 example 1",
            srcs: SRCS,
            gw4: None,
            dsts: &["2001:db8:2::2", "fd22:2222:2222:2::2"],
            want: &[
                ("2001:db8:2::2", "2001:db8:1::1"),
                ("fd22:2222:2222:2::2", "fd11:1111:1111:1::1"),
            ],
        },
    );
    // Example 2, unchanged result. (The RFC names "prefer higher precedence"; with the
    // new row the ULA source's label is 14 and fd22::'s is 13, so rule 5, matching label,
    // already puts 2001:db8:2::2 first. The order and sources are the RFC's.)
    run_rfc_dst(
        &ula,
        &RfcDstEx {
            name: "10.6 example 2",
            srcs: SRCS,
            gw4: None,
            dsts: &["2001:db8:2::2", "fd22:2222:2222:2::2"],
            want: &[
                ("2001:db8:2::2", "2001:db8:1::1"),
                ("fd22:2222:2222:2::2", "fd11:1111:1111:1::1"),
            ],
        },
    );
    // Example 3, new result (prefer higher precedence).
    run_rfc_dst(
        &ula,
        &RfcDstEx {
            name: "10.6 example 3",
            srcs: SRCS,
            gw4: None,
            dsts: &["2001:db8:2::2", "fd11:1111:1111:2::2"],
            want: &[
                ("fd11:1111:1111:2::2", "fd11:1111:1111:1::1"),
                ("2001:db8:2::2", "2001:db8:1::1"),
            ],
        },
    );
    // Example 4: candidates 2001:db8:1::1 or fd11:1111:1111:1::1, destination written
    // "ff00:1" in the RFC (not a valid IPv6 literal; read as ff00::1) → 2001:db8:1::1
    // (prefer matching label). Exactly the RFC's two candidates; the interface comes
    // from IPV6_MULTICAST_IF.
    let mut n = Net::new();
    n.policy = ula;
    let e = n.eth("eth0");
    for &(c, f) in SRCS {
        n.addr(e, c, f);
    }
    let mut m = MulticastOptions::new();
    m.set_interface(&n.ifs, e).unwrap();
    let s = n.src_with("ff00::1", None, Some(&m), None).unwrap();
    assert_eq!((s.addr, s.rule), (scoped("2001:db8:1::1"), SrcRule::Label));
}

/// RFC 6724 §10.7 "Configuring 6to4 Preference", Examples 1–2, verbatim. Example 1
/// uses the default table; Example 2 adds `2002:c633:6401::/48` with precedence 45,
/// label 14.
#[test]
fn rfc6724_10_7_6to4_preference() {
    // Example 1, default table (prefer matching label).
    run_rfc_dst(
        &PolicyTable::rfc6724(),
        &RfcDstEx {
            name: "10.7 example 1",
            srcs: &[("2002:c633:6401::2/64", NONE), ("10.1.2.3/8", NONE)],
            gw4: Some([10, 0, 0, 1]),
            dsts: &["2001:db8:1::1", "203.0.113.1"],
            want: &[
                ("203.0.113.1", "10.1.2.3"),
                ("2001:db8:1::1", "2002:c633:6401::2"),
            ],
        },
    );
    // Example 2, new result (prefer higher precedence). The RFC's "(sec 10.1.2.3)" is
    // a typo for "(src 10.1.2.3)".
    let policy = PolicyTable::rfc6724()
        .with(PolicyEntry::new(
            "2002:c633:6401::/48".parse().unwrap(),
            45,
            14,
        ))
        .unwrap();
    run_rfc_dst(
        &policy,
        &RfcDstEx {
            name: "10.7 example 2",
            srcs: &[("2002:c633:6401:1::1/64", NONE), ("10.1.2.3/8", NONE)],
            gw4: Some([10, 0, 0, 1]),
            dsts: &["2002:c633:6401:2::2", "203.0.113.1"],
            want: &[
                ("2002:c633:6401:2::2", "2002:c633:6401:1::1"),
                ("203.0.113.1", "10.1.2.3"),
            ],
        },
    );
}

// ------------------------------------------------------------------------ preferences

#[test]
fn prefer_src_flags() {
    let d = SrcPrefs::default();
    assert_eq!(d.temp, TempPref::Temporary);
    assert_eq!(d.mobility, MobilityPref::Home);
    let p = d
        .with_flags(IPV6_PREFER_SRC_PUBLIC | IPV6_PREFER_SRC_COA)
        .unwrap();
    assert_eq!(
        (p.temp, p.mobility),
        (TempPref::Public, MobilityPref::CareOf)
    );
    assert_eq!(p.with_flags(IPV6_PREFER_SRC_PUBTMP_DEFAULT).unwrap(), p);
    assert_eq!(
        p.with_flags(IPV6_PREFER_SRC_TMP).unwrap().temp,
        TempPref::Temporary
    );
    assert_eq!(d.with_flags(IPV6_PREFER_SRC_CGA).unwrap(), d);
    for bad in [
        IPV6_PREFER_SRC_TMP | IPV6_PREFER_SRC_PUBLIC,
        IPV6_PREFER_SRC_TMP | IPV6_PREFER_SRC_PUBTMP_DEFAULT,
        IPV6_PREFER_SRC_HOME | IPV6_PREFER_SRC_COA,
        IPV6_PREFER_SRC_CGA | IPV6_PREFER_SRC_NONCGA,
        0x8000,
    ] {
        assert_eq!(
            d.with_flags(bad),
            Err(SelectError::BadPreferFlags { flags: bad })
        );
    }
}

#[test]
fn stack_default_prefers_public_when_configured() {
    let mut n = Net::new();
    let e = n.eth("eth0");
    n.addr(e, "2001:db8:1::2/64", NONE);
    n.addr(e, "2001:db8:1::d5e3:7953:13eb:22e8/64", In6Flags::TEMPORARY);
    assert_eq!(
        n.src("2001:db8:1::9").unwrap().addr,
        scoped("2001:db8:1::d5e3:7953:13eb:22e8")
    );
    n.config.prefer.temp = TempPref::Public;
    assert_eq!(
        n.src("2001:db8:1::9").unwrap().addr,
        scoped("2001:db8:1::2")
    );
    // A socket preference overrides the stack default.
    let mut o = Ip6PktOpts::new();
    o.prefer_src = Some(n.config.prefer.with_flags(IPV6_PREFER_SRC_TMP).unwrap());
    assert_eq!(
        n.src_with("2001:db8:1::9", Some(&mut o), None, None)
            .unwrap()
            .addr,
        scoped("2001:db8:1::d5e3:7953:13eb:22e8")
    );
}

// ------------------------------------------------------------------------ properties

mod props {
    use std::cmp::Ordering;

    use proptest::prelude::*;

    use super::*;

    const POOL: &[&str] = &[
        "2001:db8:1::1",
        "2001:db8:1::2",
        "2001:db8:2::1",
        "2002:c633:6401::1",
        "fd00::1",
        "fe80::1%1",
        "fe80::2%2",
        "fec0::1",
    ];

    fn candidate() -> impl Strategy<Value = Candidate> {
        (
            0..POOL.len(),
            any::<[bool; 6]>(),
            proptest::option::of(0..3u8),
            0..=128u8,
        )
            .prop_map(|(i, f, label, match_len)| {
                let addr = scoped(POOL[i]);
                Candidate {
                    addr,
                    scope: addr.scope(),
                    deprecated: f[0],
                    home: f[1],
                    outgoing: f[2],
                    next_hop_prefix: f[3],
                    label,
                    temporary: f[4],
                    if_up: f[5],
                    match_len,
                    flags: NONE,
                    prefix_len: 64,
                }
            })
    }

    fn info() -> impl Strategy<Value = DstInfo> {
        let addrs = [
            "2001:db8:1::1",
            "2001:db8:9::1",
            "fe80::1%1",
            "2002:c633:6401::1",
            "192.0.2.1",
            "169.254.1.1",
            "198.51.100.1",
        ];
        (
            0..addrs.len(),
            proptest::option::of(0..addrs.len()),
            any::<[bool; 2]>(),
            0..=128u8,
        )
            .prop_map(move |(d, s, f, len)| DstInfo {
                dst: dst(addrs[d]),
                src: s.map(|s| dst(addrs[s])),
                src_deprecated: f[0],
                src_home: f[1],
                src_prefix_len: len,
            })
    }

    /// RFC 6724 §5 written pairwise, rule after rule, straight from the text: the
    /// reference the packed rank of `compare_sources` is checked against.
    fn reference(
        a: &Candidate,
        b: &Candidate,
        d: &Destination,
        p: SrcPrefs,
    ) -> (Ordering, SrcRule) {
        use Ordering::{Greater as B, Less as A};
        let pick = |x: bool, y: bool| match (x, y) {
            (true, false) => Some(A),
            (false, true) => Some(B),
            _ => None,
        };
        let home = |c: &Candidate| c.home == (p.mobility == MobilityPref::Home);
        let temp = |c: &Candidate| c.temporary == (p.temp == TempPref::Temporary);
        let rules: [(SrcRule, Option<Ordering>); 10] = [
            (
                SrcRule::SameAddress,
                pick(a.addr == d.addr, b.addr == d.addr),
            ),
            (
                SrcRule::Scope,
                if a.scope < b.scope {
                    Some(if a.scope < d.scope { B } else { A })
                } else if b.scope < a.scope {
                    Some(if b.scope < d.scope { A } else { B })
                } else {
                    None
                },
            ),
            (SrcRule::Deprecated, pick(!a.deprecated, !b.deprecated)),
            (SrcRule::Home, pick(home(a), home(b))),
            (SrcRule::OutgoingInterface, pick(a.outgoing, b.outgoing)),
            (
                SrcRule::NextHopPrefix,
                pick(a.next_hop_prefix, b.next_hop_prefix),
            ),
            (
                SrcRule::Label,
                d.label
                    .and_then(|l| pick(a.label == Some(l), b.label == Some(l))),
            ),
            (SrcRule::Temporary, pick(temp(a), temp(b))),
            (SrcRule::InterfaceUp, pick(a.if_up, b.if_up)),
            (
                SrcRule::LongestMatch,
                Some(b.match_len.cmp(&a.match_len)).filter(|o| o.is_ne()),
            ),
        ];
        rules
            .iter()
            .find_map(|&(r, o)| o.map(|o| (o, r)))
            .unwrap_or((Ordering::Equal, SrcRule::ListOrder))
    }

    proptest! {
        /// The packed rank decides exactly as the rules read one after the other.
        #[test]
        fn rank_matches_the_rules_read_in_order(
            a in candidate(),
            b in candidate(),
            d in 0..POOL.len(),
            flags in any::<[bool; 3]>(),
        ) {
            let policy = if flags[2] { PolicyTable::rfc6724() } else { PolicyTable::empty() };
            let dst = Destination::new(scoped(POOL[d]), &policy);
            let prefs = SrcPrefs {
                temp: if flags[0] { TempPref::Public } else { TempPref::Temporary },
                mobility: if flags[1] { MobilityPref::CareOf } else { MobilityPref::Home },
            };
            prop_assert_eq!(compare_sources(&a, &b, &dst, prefs), reference(&a, &b, &dst, prefs));
        }

        /// The rules form a total preorder, so the walk's winner is never beaten, and
        /// the answer does not depend on the list order except among ties.
        #[test]
        fn winner_is_never_beaten(
            cands in proptest::collection::vec(candidate(), 1..16),
            d in 0..POOL.len(),
            public in any::<bool>(),
        ) {
            let policy = PolicyTable::rfc6724();
            let dst = Destination::new(scoped(POOL[d]), &policy);
            let prefs = SrcPrefs {
                temp: if public { TempPref::Public } else { TempPref::Temporary },
                ..SrcPrefs::default()
            };
            let (w, rule) = select_best(&cands, &dst, prefs).unwrap();
            for c in &cands {
                prop_assert_ne!(compare_sources(&cands[w], c, &dst, prefs).0, Ordering::Greater);
            }
            let mut rev = cands.clone();
            rev.reverse();
            let (w2, _) = select_best(&rev, &dst, prefs).unwrap();
            prop_assert_eq!(compare_sources(&cands[w], &rev[w2], &dst, prefs).0, Ordering::Equal);
            if cands.len() == 1 {
                prop_assert_eq!(rule, SrcRule::OnlyCandidate);
            }
        }

        /// Sorting never panics (the rules are not a total order across families), keeps
        /// every destination, and puts usable ones first.
        #[test]
        fn destination_sort_is_a_permutation(
            mut v in proptest::collection::vec(info(), 0..12),
        ) {
            let policy = PolicyTable::rfc6724();
            let before = v.clone();
            sort_infos(&mut v, &policy);
            prop_assert_eq!(v.len(), before.len());
            for x in &before {
                prop_assert_eq!(
                    v.iter().filter(|y| *y == x).count(),
                    before.iter().filter(|y| *y == x).count()
                );
            }
            let first_unusable = v.iter().position(|x| x.src.is_none()).unwrap_or(v.len());
            prop_assert!(v[first_unusable..].iter().all(|x| x.src.is_none()));
        }
    }
}

// ------------------------------------------------------------------------ concurrency

/// Selection on one thread while another adds and removes addresses and routes: every
/// answer is an address that was configured (copied out, never a dangling one), or a
/// typed error; removals (which wait for references) never hang.
#[test]
fn selection_under_address_and_route_churn() {
    let n = Net::new();
    let e0 = n.eth("eth0");
    let e1 = n.eth("eth1");
    n.addr(e0, "2001:db8:1::1/64", NONE);
    n.addr(e0, "192.0.2.1/24", NONE);
    n.default6_ll(e0);
    n.route(RouteSpec::new("0.0.0.0/0".parse().unwrap()).via([192, 0, 2, 254]));
    let churn: Vec<Ipv6Addr> = (1..=8u16)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 2, i, 0, 0, 0, 1))
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut ok6, mut ok4, mut errs) = (0u32, 0u32, 0u32);
    std::thread::scope(|s| {
        s.spawn(|| {
            for round in 0..300 {
                for (k, a) in churn.iter().enumerate() {
                    let i = if k % 2 == 0 { e0 } else { e1 };
                    n.ifs.add_addr(i, AddrSpec::new(*a, 64)).unwrap();
                    if round % 4 == 0 {
                        let p: IpNet = format!("2001:db8:9:{k}::/64").parse().unwrap();
                        n.rt.add(&RouteSpec::new(p).dev(i)).unwrap();
                        n.rt.delete(&RouteKey::new(p)).unwrap();
                    }
                }
                for (k, a) in churn.iter().enumerate() {
                    let i = if k % 2 == 0 { e0 } else { e1 };
                    n.ifs
                        .remove_addr(i, IfaAddr::V6(scoped(&a.to_string())))
                        .unwrap();
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
        });
        let mut ro6 = RouteCache::new();
        let mut ro4 = RouteCache::new();
        let ctx = n.ctx();
        let d6 = sa6("2001:db8:9:3::1");
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            match in6_selectsrc(&ctx, &d6, None, None, &mut ro6, None) {
                Ok(s) => {
                    let a = s.addr.addr();
                    assert!(a == v6("2001:db8:1::1") || churn.contains(&a), "{a}");
                    ok6 += 1;
                }
                Err(e) => {
                    assert_eq!(e, SelectError::AddrNotAvailable { addr: None });
                    errs += 1;
                }
            }
            let s = in_selectsrc(&n.rt, Ipv4Addr::new(198, 51, 100, 1), &mut ro4, false, None);
            assert_eq!(s.unwrap().addr, Ipv4Addr::new(192, 0, 2, 1));
            ok4 += 1;
        }
    });
    assert!(ok6 > 0 && ok4 > 0, "{ok6} {ok4} {errs}");
}
