//! [`Stack`]: the one explicit context that owns the routing core.
//!
//! NetBSD keeps the interface list, the routing tables, the VTW tables and the sysctls in
//! kernel globals (`ifnet_list`, `rt_tables`, `vtw_tcpv4[]`, `tcp_vtw_entries`, …). A
//! userspace stack may want several — a test harness, a VRF per tenant, a simulator — so
//! here they hang off one value and nothing is global: two `Stack`s in one process share
//! no state (each has its own pserialize [`Domain`], so even a `synchronize` on one never
//! waits for a reader of the other).
//!
//! What a stack owns:
//!
//! | here | NetBSD |
//! |---|---|
//! | [`Stack::ifs`] ([`IfTable`]) | `ifindex2ifnet`, `ifnet_list`, `in_ifaddrhashtbl`, `in6_ifaddrlist` |
//! | [`Stack::routes`] ([`RouteTables`]) | `rt_tables[AF_INET]`, `rt_tables[AF_INET6]`, `rtcache_generation` |
//! | [`Stack::vtw`] ([`Vtw`]) | `vtw_tcpv4[]`, `vtw_tcpv6[]`, `fat_tcpv4/6` |
//! | [`Stack::subscribe`] | a `PF_ROUTE` socket |
//! | [`Stack::sysctl_get`] / [`Stack::sysctl_set`] | `sysctl net.inet.tcp.vtw.*`, `net.inet.tcp.mslt.*` |
//! | [`Stack::clock`] | `time_uptime` / `getmicrouptime()` |
//! | [`Stack::tick`] | the slow timers: `nd6_timer` lifetimes, `rt_timer`, `vtw_tick` |
//!
//! The route tables are registered as the interface table's route hook when the stack is
//! built, so adding an address adds its local and connected routes, and detaching an
//! interface deletes the routes through it, as `in_ifinit`/`if_detach` do.
//!
//! [`file`](mod@file) reads and writes a stack as JSON (the stack file of design §5):
//! [`Stack::from_file`], [`Stack::to_file`].
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::sync::Arc;

use psref::Domain;

use crate::addr::ScopedAddr;
use crate::clock::{Clock, SystemClock};
use crate::ifnet::{IfTable, IfTableConfig, IfaAddr, Subscription};
use crate::route::{RouteCache, RouteConfig, RouteTables, RtFlags};
use crate::select::{
    DstInfo, PolicyHolder, SelectConfig, SelectCtx, SelectError, in_selectsrc, in6_selectsrc,
    sort_destinations,
};
use crate::timewait::classify::{self, Locality};
use crate::timewait::{MslClass, Vtw, VtwConfig, VtwError};

pub mod file;

pub use file::{AddressSpec, InterfaceSpec, RouteEntrySpec, StackFile, StackFileError, ZonedIp};

/// Everything a [`Stack`] is built from. `Default` gives NetBSD-like defaults: 1,024
/// interfaces, 16,384 addresses, 2 Mi routes per family, 65,536 TIME_WAIT entries per
/// family (NetBSD's `tcp_vtw_entries` is a power of two of this order), the system clock.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Interface and address limits.
    pub ifnet: IfTableConfig,
    /// Route limits.
    pub route: RouteConfig,
    /// The IPv4 VTW table.
    pub vtw_v4: VtwConfig,
    /// The IPv6 VTW table.
    pub vtw_v6: VtwConfig,
    /// The clock driving address lifetimes and TIME_WAIT expiry; `None` for the system's
    /// monotonic clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Source selection tunables (`net.inet6.ip6.use_deprecated`, `prefer_tempaddr`).
    pub select: SelectConfig,
    /// Whether the stack's psref domain is fenced ([`Domain::fenced`]): readers pay one
    /// locked instruction per read section and writers never interrupt them. The default
    /// (`false`) is a process-mode domain ([`Domain::new`]), NetBSD's model: entering a
    /// section is a plain store, and every grace period interrupts the running readers
    /// with `membarrier(2)` (about 6 µs of reader time each on the project's KVM guests).
    /// Take the fenced kind when routes change often while forwarders read (see the
    /// "Which psref domain" measurements of [`route::fib`](crate::route::fib)).
    pub fenced_domain: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        Self {
            ifnet: IfTableConfig::default(),
            route: RouteConfig::default(),
            vtw_v4: VtwConfig::with_entries(1 << 16),
            vtw_v6: VtwConfig::with_entries(1 << 16),
            clock: None,
            select: SelectConfig::default(),
            fenced_domain: false,
        }
    }
}

/// What one [`Stack::tick`] expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Addresses whose valid lifetime ran out (removed with their routes).
    pub addresses_removed: usize,
    /// Addresses whose preferred lifetime ran out (now deprecated).
    pub addresses_deprecated: usize,
    /// Redirect (`DYNAMIC`) routes whose lifetime ran out.
    pub routes_expired: usize,
    /// TIME_WAIT entries past 2×MSL.
    pub time_wait_expired: usize,
}

/// Why a [`Stack`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// A VTW table's configuration was rejected.
    #[error("TIME_WAIT table: {0}")]
    Vtw(#[from] VtwError),
}

/// The routing core of one network stack: interfaces and addresses, both route tables,
/// both VTW tables, the clock and the tunables, sharing one pserialize domain.
///
/// Guarantees: every part is reachable only through this value (no globals); the parts
/// are consistent with each other (the route tables follow the interface table's
/// addresses and detaches); all methods take `&self`, so a `Stack` is shared between
/// threads by reference or `Arc`.
pub struct Stack {
    clock: Arc<dyn Clock>,
    ifs: Arc<IfTable>,
    routes: Arc<RouteTables>,
    vtw: Vtw,
    policy: PolicyHolder,
    select: arc_swap::ArcSwap<SelectConfig>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("domain", &self.domain().id())
            .field("interfaces", &self.ifs.indices().len())
            .field("routes_v4", &self.routes.v4().len())
            .field("routes_v6", &self.routes.v6().len())
            .finish_non_exhaustive()
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

impl Stack {
    /// A stack with the default configuration ([`StackConfig::default`]) and no
    /// interfaces.
    pub fn new() -> Self {
        // The default VTW configuration is valid; a failure here is a bug in the defaults.
        Self::with_config(StackConfig::default()).expect("default stack configuration is valid")
    }

    /// A stack built from `config`, with no interfaces. Errors when a VTW configuration is
    /// invalid; nothing is left behind.
    pub fn with_config(config: StackConfig) -> Result<Self, StackError> {
        let clock = config
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::new()) as Arc<dyn Clock>);
        let vtw = Vtw::new(config.vtw_v4, config.vtw_v6, Arc::clone(&clock))?;
        let domain = Arc::new(if config.fenced_domain {
            Domain::fenced()
        } else {
            Domain::new()
        });
        let ifs = Arc::new(IfTable::with_config(
            domain,
            config.ifnet,
            Arc::clone(&clock),
        ));
        let routes = RouteTables::with_config(Arc::clone(&ifs), config.route);
        Ok(Self {
            clock,
            ifs,
            routes,
            vtw,
            policy: PolicyHolder::default(),
            select: arc_swap::ArcSwap::from_pointee(config.select),
        })
    }

    /// The pserialize domain whose read sections protect routes, interfaces and
    /// addresses of this stack (and only this stack).
    pub fn domain(&self) -> &Arc<Domain> {
        self.ifs.domain()
    }

    /// The interface and address table.
    pub fn ifs(&self) -> &Arc<IfTable> {
        &self.ifs
    }

    /// The IPv4 and IPv6 route tables.
    pub fn routes(&self) -> &Arc<RouteTables> {
        &self.routes
    }

    /// The TIME_WAIT tables of both families.
    pub fn vtw(&self) -> &Vtw {
        &self.vtw
    }

    /// The clock shared by every part of the stack.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A routing socket: interface, address and route messages in one sequence (the
    /// sequence number orders them), at most `capacity` queued; beyond that losses are
    /// counted and reported in order. Route messages are [`crate::ifnet::Event::Route`].
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        self.ifs.subscribe(capacity)
    }

    /// A routing socket with a message filter (`RO_MSGFILTER`): only the events of
    /// `kinds` are queued or counted lost.
    pub fn subscribe_filtered(
        &self,
        capacity: usize,
        kinds: crate::ifnet::EventKinds,
    ) -> Subscription {
        self.ifs.subscribe_filtered(capacity, kinds)
    }

    /// Reads a tunable by its NetBSD sysctl name (`net.inet.tcp.vtw.enable`,
    /// `net.inet6.tcp6.vtw.entries`, `net.inet.tcp.mslt.remote`, …), in NetBSD units.
    pub fn sysctl_get(&self, name: &str) -> Result<u64, VtwError> {
        self.vtw.sysctl_get(name)
    }

    /// Sets a tunable by its NetBSD sysctl name; on error nothing changes.
    pub fn sysctl_set(&self, name: &str, value: u64) -> Result<(), VtwError> {
        self.vtw.sysctl_set(name, value)
    }

    /// The RFC 6724 policy table (`addrsel_policytab`), replaceable at run time; a
    /// selection in progress keeps the table it started with.
    pub fn policy(&self) -> &PolicyHolder {
        &self.policy
    }

    /// The source selection tunables in force.
    pub fn select_config(&self) -> SelectConfig {
        **self.select.load()
    }

    /// Replaces the source selection tunables; selections already running keep the old
    /// ones.
    pub fn set_select_config(&self, c: SelectConfig) {
        self.select.store(Arc::new(c));
    }

    /// Runs `f` with a selection context of this stack: one policy table and one set of
    /// tunables for the whole call.
    pub fn with_select<R>(&self, f: impl FnOnce(&SelectCtx<'_>) -> R) -> R {
        let policy = self.policy.load();
        let config = self.select_config();
        f(&SelectCtx {
            routes: &self.routes,
            policy: &policy,
            config: &config,
        })
    }

    /// The source address an unbound socket would use to reach `dst`:
    /// [`in_selectsrc`] for IPv4, [`in6_selectsrc`] (RFC 6724) for IPv6 — a link-local
    /// or other scoped `dst` needs its zone ([`IfaAddr::V6`] carries it). A fresh route
    /// cache is used and dropped.
    pub fn select_source(&self, dst: IfaAddr) -> Result<IfaAddr, SelectError> {
        let mut ro = RouteCache::new();
        match dst {
            IfaAddr::V4(d) => {
                in_selectsrc(&self.routes, d, &mut ro, false, None).map(|s| IfaAddr::V4(s.addr))
            }
            IfaAddr::V6(d) => self.with_select(|ctx| {
                let sa = crate::addr::SockAddrIn6::from_scoped(d, 0);
                in6_selectsrc(ctx, &sa, None, None, &mut ro, None).map(|s| IfaAddr::V6(s.addr))
            }),
        }
    }

    /// RFC 6724 §6 destination ordering of `dsts` for this stack (what getaddrinfo
    /// does), each with the source it would use (`None` when unusable; those sort last).
    pub fn order_destinations(&self, dsts: &[IfaAddr]) -> Vec<DstInfo> {
        self.with_select(|ctx| sort_destinations(ctx, dsts))
    }

    /// The slow timer (NetBSD's `nd6_timer`/`in6_tmpaddrtimer` for address lifetimes, the
    /// `rt_timer` callout for redirect routes, `vtw_tick` for TIME_WAIT): expires
    /// addresses, routes and TIME_WAIT entries that are due on the stack's clock. Call
    /// it about once a second; each part does nothing when nothing is due.
    pub fn tick(&self) -> TickReport {
        let addrs = self.ifs.expire();
        TickReport {
            addresses_removed: addrs.removed.len(),
            addresses_deprecated: addrs.deprecated.len(),
            routes_expired: self.routes.expire_routes(),
            time_wait_expired: self.vtw.expire(),
        }
    }

    /// The MSLT class of a connection from our `local` address to `peer`, from this
    /// stack's state: loopback (either end loopback, equal ends, or the peer is one of our
    /// addresses), local (the peer is on an attached subnet, or the route to it has no
    /// gateway), else remote (reached through a gateway, or no route). IPv4-mapped
    /// addresses are classified as the IPv4 address they carry.
    pub fn mslt_class(&self, local: IpAddr, peer: IpAddr) -> MslClass {
        classify::classify(self, local, peer)
    }
}

/// `a` as an interface-address key; `None` for an IPv6 address whose scope needs a zone
/// that a bare `IpAddr` cannot carry.
fn ifa_addr(a: IpAddr) -> Option<IfaAddr> {
    match a {
        IpAddr::V4(v4) => Some(IfaAddr::V4(v4)),
        IpAddr::V6(v6) => ScopedAddr::new(v6, None).ok().map(IfaAddr::V6),
    }
}

impl Locality for Stack {
    fn is_own_address(&self, a: IpAddr) -> bool {
        match ifa_addr(a) {
            Some(k) => self.ifs.ifa_ifwithaddr(k).is_some(),
            // A link-local peer without a zone: ours if any interface has it.
            None => self.ifs.indices().into_iter().any(|i| {
                self.ifs
                    .addrs_of(i, Some(crate::addr::Family::Inet6))
                    .iter()
                    .any(|x| x.addr().ip() == a)
            }),
        }
    }

    fn is_on_link(&self, a: IpAddr) -> bool {
        let Some(k) = ifa_addr(a) else {
            // Link-local (zone needed): on a link by definition.
            return true;
        };
        if self.ifs.is_local_subnet(k) {
            return true;
        }
        self.routes
            .lookup(k, false)
            .is_some_and(|rt| !rt.flags().contains(RtFlags::GATEWAY))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use ipnet::IpNet;

    use super::*;
    use crate::clock::FakeClock;
    use crate::ifnet::{AddrSpec, Event, IfConfig, IfFlags, Notice};
    use crate::route::{RouteEvent, RouteKey, RouteSpec};

    fn stack_with_eth0() -> (Stack, crate::addr::IfIndex) {
        let s = Stack::new();
        let lo = s
            .ifs()
            .attach(IfConfig::new("lo0").flags(IfFlags::UP | IfFlags::LOOPBACK))
            .unwrap();
        s.ifs()
            .add_addr(lo, AddrSpec::new(Ipv4Addr::LOCALHOST, 8))
            .unwrap();
        let eth0 = s
            .ifs()
            .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
            .unwrap();
        s.ifs()
            .add_addr(eth0, AddrSpec::new(Ipv4Addr::new(192, 0, 2, 1), 24))
            .unwrap();
        (s, eth0)
    }

    #[test]
    fn two_stacks_share_nothing() {
        let (a, _) = stack_with_eth0();
        let b = Stack::new();
        assert_ne!(a.domain().id(), b.domain().id());
        assert!(b.ifs().get("eth0").is_none());
        assert!(
            b.routes()
                .lookup(Ipv4Addr::new(192, 0, 2, 9), false)
                .is_none()
        );
        assert!(
            a.routes()
                .lookup(Ipv4Addr::new(192, 0, 2, 9), false)
                .is_some()
        );
        b.sysctl_set("net.inet.tcp.vtw.enable", 0).unwrap();
        assert_eq!(a.sysctl_get("net.inet.tcp.vtw.enable").unwrap(), 1);
    }

    #[test]
    fn addresses_bring_their_routes() {
        let (s, eth0) = stack_with_eth0();
        let rt = s
            .routes()
            .lookup(Ipv4Addr::new(192, 0, 2, 77), false)
            .unwrap();
        assert_eq!(rt.ifindex(), Some(eth0));
        assert!(rt.flags().contains(RtFlags::CONNECTED));
        drop(rt);
        s.ifs().detach(eth0).unwrap();
        assert!(
            s.routes()
                .lookup(Ipv4Addr::new(192, 0, 2, 77), false)
                .is_none()
        );
    }

    #[test]
    fn one_routing_socket_orders_interface_and_route_messages() {
        let s = Stack::new();
        let mut sub = s.subscribe(64);
        let eth0 = s
            .ifs()
            .attach(IfConfig::new("eth0").flags(IfFlags::UP))
            .unwrap();
        s.ifs()
            .add_addr(eth0, AddrSpec::new(Ipv4Addr::new(198, 51, 100, 1), 24))
            .unwrap();
        s.routes()
            .add(
                &RouteSpec::new("203.0.113.0/24".parse::<IpNet>().unwrap())
                    .via(Ipv4Addr::new(198, 51, 100, 254)),
            )
            .unwrap();
        let mut seqs = Vec::new();
        let mut saw_newaddr = None;
        let mut saw_add = None;
        while let Some(n) = sub.try_next() {
            let Notice::Event { seq, event } = n else {
                panic!("lost events with a 64-deep queue");
            };
            seqs.push(seq);
            match event {
                Event::NewAddr { .. } => saw_newaddr = Some(seq),
                Event::Route(RouteEvent::Add(info)) if info.dst.to_string() == "203.0.113.0/24" => {
                    saw_add = Some(seq)
                }
                _ => {}
            }
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert!(saw_newaddr.unwrap() < saw_add.unwrap());
    }

    #[test]
    fn a_filtered_routing_socket_is_not_crowded_out_by_misses() {
        use crate::ifnet::EventKinds;
        let s = Stack::new();
        let mut daemon =
            s.subscribe_filtered(2, EventKinds::IF_ANNOUNCE | EventKinds::ROUTE_DELETE);
        let mut all = s.subscribe(2);
        for _ in 0..50 {
            assert!(
                s.routes()
                    .lookup(Ipv4Addr::new(203, 0, 113, 9), true)
                    .is_none()
            );
        }
        let eth0 = s
            .ifs()
            .attach(IfConfig::new("eth0").flags(IfFlags::UP))
            .unwrap();
        s.ifs()
            .add_addr(eth0, AddrSpec::new(Ipv4Addr::new(198, 51, 100, 1), 24))
            .unwrap();
        let far: IpNet = "203.0.113.0/24".parse().unwrap();
        s.routes()
            .add(&RouteSpec::new(far).via(Ipv4Addr::new(198, 51, 100, 254)))
            .unwrap();
        s.routes().delete(&RouteKey::new(far)).unwrap();
        let kinds: Vec<EventKinds> = std::iter::from_fn(|| daemon.try_next())
            .map(|n| match n {
                Notice::Event { event, .. } => event.kind(),
                Notice::Lost { count } => panic!("{count} lost on the filtered socket"),
            })
            .collect();
        assert_eq!(kinds, [EventKinds::IF_ANNOUNCE, EventKinds::ROUTE_DELETE]);
        // The unfiltered one with the same queue lost most of the misses.
        assert!(
            std::iter::from_fn(|| all.try_next())
                .any(|n| matches!(n, Notice::Lost { count } if count > 40))
        );
    }

    #[test]
    fn mslt_classes_follow_the_stack() {
        let (s, _) = stack_with_eth0();
        s.routes()
            .add(
                &RouteSpec::new("0.0.0.0/0".parse::<IpNet>().unwrap())
                    .via(Ipv4Addr::new(192, 0, 2, 254)),
            )
            .unwrap();
        let me = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(s.mslt_class(me, v4(127, 0, 0, 1)), MslClass::Loopback);
        assert_eq!(s.mslt_class(v4(127, 0, 0, 1), me), MslClass::Loopback);
        assert_eq!(s.mslt_class(me, me), MslClass::Loopback);
        assert_eq!(s.mslt_class(me, v4(192, 0, 2, 50)), MslClass::Local);
        assert_eq!(s.mslt_class(me, v4(203, 0, 113, 5)), MslClass::Remote);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 50).to_ipv6_mapped());
        let mapped_me = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(s.mslt_class(mapped_me, mapped), MslClass::Local);
        let ll: IpAddr = "fe80::2".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(
            s.mslt_class("fe80::1".parse::<Ipv6Addr>().unwrap().into(), ll),
            MslClass::Local
        );
    }

    #[test]
    fn the_domain_kind_is_configurable() {
        let fenced = Stack::with_config(StackConfig {
            fenced_domain: true,
            ..StackConfig::default()
        })
        .unwrap();
        assert_eq!(
            fenced.domain().barrier_mode(),
            psref::barrier::BarrierMode::Fallback
        );
        let default = Stack::new();
        assert_eq!(
            default.domain().barrier_mode(),
            psref::Domain::new().barrier_mode()
        );
    }

    #[test]
    fn one_clock_drives_lifetimes_and_time_wait() {
        let clock = Arc::new(FakeClock::new());
        let s = Stack::with_config(StackConfig {
            clock: Some(clock.clone()),
            ..StackConfig::default()
        })
        .unwrap();
        assert_eq!(s.clock().now(), Duration::ZERO);
        clock.advance(Duration::from_secs(5));
        assert_eq!(s.clock().now_ms(), 5_000);
        // One tick expires what is due in every part.
        let eth0 = s
            .ifs()
            .attach(IfConfig::new("eth0").flags(IfFlags::UP))
            .unwrap();
        s.ifs()
            .add_addr(eth0, AddrSpec::new(Ipv4Addr::new(192, 0, 2, 1), 24))
            .unwrap();
        s.routes()
            .add(
                &RouteSpec::new("0.0.0.0/0".parse::<IpNet>().unwrap())
                    .via(Ipv4Addr::new(192, 0, 2, 254)),
            )
            .unwrap();
        s.routes()
            .redirect(&crate::route::Redirect {
                dst: Ipv4Addr::new(203, 0, 113, 1).into(),
                gateway: Ipv4Addr::new(192, 0, 2, 253).into(),
                src: Ipv4Addr::new(192, 0, 2, 254).into(),
            })
            .unwrap();
        assert_eq!(s.tick(), TickReport::default());
        clock.advance(Duration::from_secs(601));
        assert_eq!(s.tick().routes_expired, 1);
    }

    #[test]
    fn selection_through_the_stack() {
        use crate::addr::ScopedAddr;
        use crate::select::{PolicyEntry, PolicyTable};
        let (s, eth0) = stack_with_eth0();
        let v6 = |t: &str| t.parse::<Ipv6Addr>().unwrap();
        s.ifs()
            .add_addr(eth0, AddrSpec::new(v6("2001:db8::1"), 64))
            .unwrap();
        s.routes()
            .add(
                &RouteSpec::new("0.0.0.0/0".parse::<IpNet>().unwrap())
                    .via(Ipv4Addr::new(192, 0, 2, 254)),
            )
            .unwrap();
        s.routes()
            .add(&RouteSpec::new("::/0".parse::<IpNet>().unwrap()).via(v6("2001:db8::fe")))
            .unwrap();
        let d4 = IfaAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        let d6 = IfaAddr::V6(ScopedAddr::new(v6("2001:db8:9::1"), None).unwrap());
        assert_eq!(
            s.select_source(d4).unwrap(),
            IfaAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            s.select_source(d6).unwrap(),
            IfaAddr::V6(ScopedAddr::new(v6("2001:db8::1"), None).unwrap())
        );
        // RFC 6724 default: IPv6 (precedence 40) before IPv4 (35).
        let order = s.order_destinations(&[d4, d6]);
        assert_eq!(order[0].dst, d6);
        // Replace the policy table at run time: IPv4-mapped addresses first.
        let t = PolicyTable::rfc6724().with_replaced(PolicyEntry::new(
            "::ffff:0.0.0.0/96".parse().unwrap(),
            100,
            4,
        ));
        s.policy().store(t);
        let order = s.order_destinations(&[d6, d4]);
        assert_eq!(order[0].dst, d4);
        assert!(order.iter().all(|i| i.src.is_some()));
    }

    #[test]
    fn bad_vtw_config_is_a_typed_error() {
        let mut cfg = StackConfig::default();
        cfg.vtw_v4.mark_granularity_ms = 0;
        assert!(matches!(Stack::with_config(cfg), Err(StackError::Vtw(_))));
    }
}
