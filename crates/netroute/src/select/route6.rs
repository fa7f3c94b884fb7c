//! `in6_selectroute` and `in6_selectif` of sys/netinet6/in6_src.c (1.85): the route and
//! the outgoing interface of an IPv6 packet, with the `IPV6_NEXTHOP` and `IPV6_PKTINFO`
//! options.
//!
//! # The pktinfo-interface mismatch leak, made impossible
//!
//! NetBSD's `in6_selectroute` looks the route up (taking a psref through
//! `rtcache_lookup`), then, when `IPV6_PKTINFO` names an interface the route does not
//! leave through, sets `rt = NULL` and returns `EHOSTUNREACH` without
//! `rtcache_unref`: the reference is leaked and the thread stays bound. Here the route
//! is a [`RouteRef`] that borrows the cache it came from and releases its reference
//! when dropped; an error return carries only an owned [`SelectError`], so the
//! reference is released on every path, and safe code cannot leak one except by
//! `mem::forget` (which `#![forbid(unsafe_code)]` code can always do, but never by
//! forgetting a line). The returned route also borrows the cache that was used, so the
//! "unref must target the swapped `struct route *`" rule of `IPV6_NEXTHOP` is kept by the
//! borrow checker instead of by convention.

use std::net::{IpAddr, Ipv6Addr};

use crate::addr::{IfIndex, ScopeZones, SockAddr, SockAddrIn6, scope_of};
use crate::ifnet::{IfFlags, IfTable, IfaAddr};
use crate::route::{Gateway, RouteCache, RouteRef, RouteTables, RtEntry, RtFlags};

use super::{Ip6PktOpts, SelectError};

/// Which route cache a selected route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheUsed {
    /// The caller's cache (the PCB's `in6p_route`).
    Caller,
    /// The options' next-hop cache (`ip6po_nextroute`), because `IPV6_NEXTHOP` is set.
    NextHop,
}

/// The route `in6_selectroute` chose, with its passive reference.
///
/// Guarantees: the entry stays valid while this lives; the reference borrows the cache
/// named by [`cache`](Self::cache), so that cache hands out no second reference
/// meanwhile, and dropping this is the `rtcache_unref` on the right cache.
///
/// The caller's cache cannot be used again while the route is held (one reference
/// per cache; the unref cannot be forgotten or aimed at the wrong cache):
/// ```compile_fail
/// # use std::sync::Arc;
/// # use netroute::{ifnet::IfTable, psref::Domain, route::{RouteCache, RouteTables}};
/// # use netroute::select::in6_selectroute;
/// let rt = RouteTables::new(Arc::new(IfTable::new(Arc::new(Domain::new()))));
/// let dst = "[2001:db8::1]:0".parse().unwrap();
/// let mut ro = RouteCache::new();
/// let r = in6_selectroute(&rt, &dst, None, &mut ro);
/// ro.free();
/// drop(r);
/// ```
/// and the route does not leave its thread (`!Send`, as a psref):
/// ```compile_fail
/// # use std::sync::Arc;
/// # use netroute::{ifnet::IfTable, psref::Domain, route::{RouteCache, RouteTables}};
/// # use netroute::select::in6_selectroute;
/// let rt = RouteTables::new(Arc::new(IfTable::new(Arc::new(Domain::new()))));
/// let dst = "[2001:db8::1]:0".parse().unwrap();
/// let mut ro = RouteCache::new();
/// let r = in6_selectroute(&rt, &dst, None, &mut ro);
/// std::thread::scope(|s| { s.spawn(move || drop(r)); });
/// ```
#[derive(Debug)]
pub struct SelectedRoute<'c> {
    route: RouteRef<'c>,
    cache: CacheUsed,
    hit: bool,
}

impl<'c> SelectedRoute<'c> {
    /// The route.
    pub fn route(&self) -> &RouteRef<'c> {
        &self.route
    }

    /// The route, keeping its reference.
    pub fn into_route(self) -> RouteRef<'c> {
        self.route
    }

    /// Which cache answered.
    pub fn cache(&self) -> CacheUsed {
        self.cache
    }

    /// Whether the cache answered without a table lookup (`rtcache_lookup`'s `hit`).
    pub fn hit(&self) -> bool {
        self.hit
    }
}

impl std::ops::Deref for SelectedRoute<'_> {
    type Target = RtEntry;
    fn deref(&self) -> &RtEntry {
        &self.route
    }
}

/// The destination as a route-lookup key: the address with its zone (NetBSD clears
/// `sin6_scope_id` but keeps the embedded zone; ours is a separate field, kept).
fn lookup_key(dst: &SockAddrIn6) -> Result<IfaAddr, SelectError> {
    Ok(IfaAddr::V6(dst.scoped()?))
}

/// Whether `ifindex` is a loopback interface (a missing one counts as not).
fn is_loopback(ifs: &IfTable, ifindex: Option<IfIndex>) -> bool {
    ifindex
        .and_then(|i| ifs.get_by_index(i))
        .is_some_and(|ifp| ifp.flags().contains(IfFlags::LOOPBACK))
}

/// `nd6_is_addr_neighbor(nexthop, rt->rt_ifp)` as far as this stack knows neighbours:
/// the route is an interface route (no gateway) out of an interface, and the next hop
/// is on that link: link-local in the interface's zone, the peer of one of its
/// point-to-point addresses, or inside the on-link prefix of one of its addresses, or
/// the route itself is a connected (on-link) route.
fn is_neighbor(ifs: &IfTable, nexthop: &IfaAddr, rt: &RtEntry) -> bool {
    let (Some(i), Gateway::Link(_)) = (rt.ifindex(), rt.gateway()) else {
        return false;
    };
    if rt
        .flags()
        .intersects(RtFlags::GATEWAY | RtFlags::REJECT | RtFlags::BLACKHOLE)
    {
        return false;
    }
    if rt.flags().contains(RtFlags::CONNECTED) {
        return true;
    }
    let IfaAddr::V6(nh) = nexthop else {
        return false;
    };
    if nh.addr().is_unicast_link_local() {
        let zones = ifs.get_by_index(i).map(|ifp| ifp.zones().clone());
        return zones.is_some_and(|z| z.zone(scope_of(&nh.addr())) == nh.zone());
    }
    ifs.addrs_of(i, Some(crate::addr::Family::Inet6))
        .iter()
        .any(|a| {
            a.dst() == Some(*nexthop)
                || (a.dst().is_none() && a.prefix().contains(&std::net::IpAddr::V6(nh.addr())))
        })
}

/// `in6_selectroute`: the route for `dst`, from the options' next-hop cache when
/// `IPV6_NEXTHOP` is set, else from the caller's cache `ro` (looked up and refilled as
/// needed; a stale cache is revalidated against the table generation).
///
/// * With a next hop: it must be an IPv6 address
///   ([`SelectError::NextHopFamily`] otherwise) with its zone if it is scoped; its
///   route must be an interface route through which it is a neighbour, else the
///   next-hop cache is emptied and the answer is [`SelectError::HostUnreachable`].
///   The answer is the route **to the next hop**, from [`CacheUsed::NextHop`].
/// * Without: `dst` must carry its zone if it is scoped ([`SelectError::Addr`]); no
///   route is [`SelectError::HostUnreachable`].
/// * If `IPV6_PKTINFO` names an interface and the route leaves through another one
///   that is not a loopback interface: [`SelectError::HostUnreachable`], and the
///   reference taken by the lookup is released (NetBSD leaks it; see the module doc).
///
/// Reject and blackhole routes are returned as routes (as NetBSD): output code checks
/// them; [`in6_selectif`] refuses them.
pub fn in6_selectroute<'c>(
    routes: &'c RouteTables,
    dst: &SockAddrIn6,
    opts: Option<&'c mut Ip6PktOpts>,
    ro: &'c mut RouteCache,
) -> Result<SelectedRoute<'c>, SelectError> {
    let ifs = routes.ifs();
    let pi_ifindex = opts
        .as_ref()
        .and_then(|o| o.pktinfo)
        .and_then(|p| p.ifindex);
    let mismatch = |rt: &RtEntry| {
        pi_ifindex.is_some_and(|want| rt.ifindex() != Some(want) && !is_loopback(ifs, rt.ifindex()))
    };

    if let Some(o) = opts
        && let Some(nexthop) = o.nexthop()
    {
        let nh = match nexthop {
            SockAddr::Inet6(s) => IfaAddr::V6(s.scoped()?),
            other => {
                return Err(SelectError::NextHopFamily {
                    family: other.family(),
                });
            }
        };
        let (rt, hit) = o
            .nextroute
            .lookup_checked(routes, nh, |rt| is_neighbor(ifs, &nh, rt));
        let route = rt.ok_or(SelectError::HostUnreachable)?;
        if mismatch(&route) {
            // `route` is dropped here: the reference is released (no leak).
            return Err(SelectError::HostUnreachable);
        }
        return Ok(SelectedRoute {
            route,
            cache: CacheUsed::NextHop,
            hit,
        });
    }

    let key = lookup_key(dst)?;
    let (rt, hit) = ro.lookup(routes, key);
    let route = rt.ok_or(SelectError::HostUnreachable)?;
    if mismatch(&route) {
        // `route` is dropped here: the reference is released (no leak).
        return Err(SelectError::HostUnreachable);
    }
    Ok(SelectedRoute {
        route,
        cache: CacheUsed::Caller,
        hit,
    })
}

/// How [`in6_selectif`] found the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IfVia {
    /// `IPV6_PKTINFO` named it.
    PktInfo,
    /// The destination is multicast and the socket's `IPV6_MULTICAST_IF` named it.
    Multicast,
    /// From the route ([`in6_selectroute`]), through this cache.
    Route(CacheUsed),
}

/// The outgoing interface `in6_selectif` chose, copied out of the read section.
///
/// Guarantees: owned data, no reference held; [`interface`](Self::interface) takes a
/// passive reference on demand and fails safely if the interface went away since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedIf {
    /// The interface index.
    pub ifindex: IfIndex,
    /// Its attachment ([`Ifnet::attach_id`](crate::ifnet::Ifnet::attach_id)).
    pub attach_id: u64,
    /// Its scope zones (for scoping the destination and the candidates).
    pub zones: ScopeZones,
    /// Whether it is a loopback interface.
    pub loopback: bool,
    /// How it was found.
    pub via: IfVia,
    /// The route's next hop when the packet goes through a router on this interface
    /// (an IPv6 gateway route leaving through it): the router whose advertised prefixes
    /// rule 5.5 prefers (see [`in6_selectsrc`](super::in6_selectsrc)). `None` for
    /// on-link destinations and when no route was consulted.
    pub next_hop: Option<Ipv6Addr>,
}

impl SelectedIf {
    /// A passive reference to the interface (`if_get_byindex`), `None` if it was
    /// detached (or its index reused) since it was chosen.
    pub fn interface<'t>(&self, ifs: &'t IfTable) -> Option<psref::PsRef<'t, crate::ifnet::Ifnet>> {
        ifs.get_by_index(self.ifindex)
            .filter(|i| i.attach_id() == self.attach_id)
    }
}

/// `in6_selectif`: only the outgoing interface of a packet to `dst`.
///
/// 1. `IPV6_PKTINFO` with an interface index: that interface
///    ([`SelectError::NoInterface`] if there is none).
/// 2. A multicast destination and an `IPV6_MULTICAST_IF` that still names an attached
///    interface: that interface, no route needed (a detached one falls through to the
///    routing table, as NetBSD's failed `if_get_byindex`).
/// 3. Otherwise the route from [`in6_selectroute`] (its errors are returned). A reject
///    or blackhole route is refused: [`SelectError::HostUnreachable`] for a host route,
///    [`SelectError::NetUnreachable`] otherwise. **Differs from NetBSD**, which returns
///    the interface with the error ("XXX") and so lets `in6_selectsrc` pick a source
///    for an unreachable destination.
/// 4. "Adjust": if the route's source address sits on another interface than the route
///    (a route to one of our own addresses through the loopback), that interface.
///
/// The route reference is released before returning.
pub fn in6_selectif(
    routes: &RouteTables,
    dst: &SockAddrIn6,
    opts: Option<&mut Ip6PktOpts>,
    mopts: Option<&crate::ifnet::MulticastOptions>,
    ro: &mut RouteCache,
) -> Result<SelectedIf, SelectError> {
    let ifs = routes.ifs();
    let found = |ifp: &crate::ifnet::Ifnet, via, next_hop| SelectedIf {
        ifindex: ifp.index(),
        attach_id: ifp.attach_id(),
        zones: ifp.zones().clone(),
        loopback: ifp.flags().contains(IfFlags::LOOPBACK),
        via,
        next_hop,
    };
    if let Some(index) = opts
        .as_ref()
        .and_then(|o| o.pktinfo)
        .and_then(|p| p.ifindex)
    {
        let ifp = ifs
            .get_by_index(index)
            .ok_or(SelectError::NoInterface { index })?;
        return Ok(found(&ifp, IfVia::PktInfo, None));
    }
    if dst.addr().is_multicast()
        && let Some(m) = mopts
        && let Ok(Some(ifp)) = m.interface(ifs)
    {
        return Ok(found(&ifp, IfVia::Multicast, None));
    }
    let rt = in6_selectroute(routes, dst, opts, ro)?;
    let f = rt.flags();
    if f.intersects(RtFlags::REJECT | RtFlags::BLACKHOLE) {
        return Err(if f.contains(RtFlags::HOST) {
            SelectError::HostUnreachable
        } else {
            SelectError::NetUnreachable
        });
    }
    let mut index = rt.ifindex().ok_or(SelectError::NetUnreachable)?;
    let src_if = rt.ifa().filter(|a| !a.is_removed()).map(|a| a.ifindex());
    if let Some(i) = src_if
        && i != index
        && ifs.get_by_index(i).is_some()
    {
        index = i;
    }
    let next_hop = match rt.gateway() {
        Gateway::Addr(IpAddr::V6(g), _)
            if f.contains(RtFlags::GATEWAY) && rt.ifindex() == Some(index) =>
        {
            Some(g)
        }
        _ => None,
    };
    let via = IfVia::Route(rt.cache());
    drop(rt);
    let ifp = ifs.get_by_index(index).ok_or(SelectError::NetUnreachable)?;
    Ok(found(&ifp, via, next_hop))
}
