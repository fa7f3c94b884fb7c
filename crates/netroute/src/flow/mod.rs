//! Route-cache users on the forwarding path: the `ipflow` fast-forward cache
//! (sys/netinet/ip_flow.c 1.81 and its IPv6 twin sys/netinet6/ip6_flow.c) and the
//! route caches of tunnel interfaces (`gif_ro_percpu` in sys/netinet/in_gif.c and
//! sys/netinet6/in6_gif.c, `sc->route` in sys/net/if_gre.c, `sc_ro` in
//! sys/net/if_stf.c) with their loop check and `if_tunnel_check_nesting` (sys/net/if.c).
//!
//! | here | NetBSD |
//! |---|---|
//! | [`FlowTable`] | `ipflowtable` + `ipflowlist` (+ `ip6flowtable`), `ip_maxflows` |
//! | [`FlowTable::forward`] → [`Verdict`] | `ipflow_fastforward` / `ip6flow_fastforward` (1 = forwarded, 0 = slow path) |
//! | [`FlowTable::create`] | `ipflow_create` / `ip6flow_create`, called after a slow-path forward |
//! | [`FlowTable::slow_timer`] | `ipflow_slowtimo_work` (expiry, dead routes, `ipflow_addstats`) |
//! | [`FlowTable::flush`] | `ipflow_invalidate_all` |
//! | [`Tunnel`] + [`TunnelRoute`] | a tunnel softc's endpoints + one CPU's `struct route` of `gif_ro_percpu` |
//! | [`TunnelRoute::route`] | `rtcache_lookup` + "route constitutes infinite encapsulation" check of `in_gif_output` |
//! | [`TunnelNesting::check`] | `if_tunnel_check_nesting` (the `PACKET_TAG_TUNNEL_INFO` counter) |
//!
//! # Concurrency
//!
//! Neither structure takes a lock on the per-packet path. A [`FlowTable`] and a
//! [`TunnelRoute`] belong to one forwarder thread (they are `Send`, not `Sync`, like
//! the [`RouteCache`](crate::route::RouteCache)s inside them), as NetBSD keeps
//! `ipforward_rt_percpu` and `gif_ro_percpu` per CPU. NetBSD protects the whole flow
//! table with one `ipflow_lock` mutex (its own comment calls that a "tentative
//! workaround"); here each forwarder has its own table, so a flow steered to two threads
//! (no RSS affinity) is simply cached twice. A [`Tunnel`] (endpoints, limits) is shared
//! (`Sync`); each thread derives its own [`TunnelRoute`] from it, which notices an
//! endpoint change through the tunnel's version number instead of NetBSD's
//! `percpu_foreach` flush of every CPU's cache.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::sync::Arc;
//! use netroute::flow::{FlowConfig, FlowTable, Packet, SlowReason, Verdict};
//! use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, SystemClock};
//! use netroute::psref::Domain;
//! use netroute::route::{RouteCache, RouteSpec, RouteTables};
//!
//! let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
//! let rt = RouteTables::new(Arc::clone(&ifs));
//! let eth0 = ifs.attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))?;
//! ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))?;
//! rt.add(&RouteSpec::new("10.0.0.0/8".parse()?).via([192, 0, 2, 254]))?;
//!
//! // One flow table per forwarder thread.
//! let mut flows = FlowTable::new(FlowConfig::default(), Arc::new(SystemClock::new()));
//! let dst = Ipv4Addr::new(10, 1, 2, 3);
//! let pkt = Packet::v4(Ipv4Addr::new(198, 51, 100, 9), dst, 0, 64, 17, 1200);
//! assert_eq!(flows.forward(&rt, &pkt).slow_reason(), Some(SlowReason::NoFlow));
//!
//! // The slow path routes the packet with its own cache, then makes the flow.
//! let mut ro = RouteCache::new();
//! assert!(ro.lookup(&rt, dst).0.is_some());
//! flows.create(&rt, &pkt, &mut ro)?;
//!
//! // The next packets take the fast path.
//! match flows.forward(&rt, &pkt) {
//!     Verdict::Forward(fw) => {
//!         assert_eq!(fw.ifindex, eth0);
//!         assert_eq!(fw.next_hop, Ipv4Addr::new(192, 0, 2, 254));
//!         assert_eq!(fw.ttl, 63);
//!     }
//!     Verdict::Slow(why) => panic!("{why:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod ipflow;
mod tunnel;

#[cfg(test)]
mod tests;

pub use ipflow::{
    Created, FlowConfig, FlowKey, FlowStats, FlowTable, Forward, NotCreated, Packet, ReapReport,
    SlowReason, Verdict,
};
pub use tunnel::{
    DEFAULT_MAX_NESTING, Tunnel, TunnelError, TunnelNesting, TunnelRoute, TunnelStats,
};
