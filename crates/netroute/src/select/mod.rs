//! Source address and route selection: `in6_selectsrc`, `in6_selectroute`,
//! `in6_selectif` and the address selection policy of sys/netinet6/in6_src.c (1.85),
//! `in_selectsrc` of sys/netinet/in.c, and RFC 6724 destination address ordering.
//!
//! | here | NetBSD |
//! |---|---|
//! | [`in6_selectsrc`] → [`Src6`] | `in6_selectsrc` (the address copied out inside the read section) |
//! | [`select_best`], [`compare_sources`], [`Candidate`], [`SrcRule`] | `in6_select_best_ia` and its `REPLACE`/`NEXT` rules |
//! | [`in6_selectroute`] → [`SelectedRoute`], [`CacheUsed`] | `in6_selectroute` (the `struct route **` swap for `IPV6_NEXTHOP`) |
//! | [`in6_selectif`] → [`SelectedIf`] | `in6_selectif` |
//! | [`in_selectsrc`] → [`Src4`] | `in_selectsrc` |
//! | [`PolicyTable`], [`PolicyHolder`] | `addrsel_policytab`, `lookup_addrsel_policy`, `SIOCAADDRCTL_POLICY` |
//! | [`Ip6PktOpts`], [`PktInfo6`] | `struct ip6_pktopts` (`ip6po_pktinfo`, `ip6po_nexthop`, `ip6po_nextroute`, `ip6po_prefer_tempaddr`) |
//! | [`SrcPrefs`], `IPV6_PREFER_SRC_*` | `ip6po_prefer_tempaddr` / RFC 5014 `IPV6_ADDR_PREFERENCES` |
//! | [`SelectConfig`] | `ip6_use_deprecated`, `ip6_prefer_tempaddr` |
//! | [`sort_destinations`], [`compare_destinations`], [`DstRule`] | libc getaddrinfo's `comp_dst` (RFC 6724 §6) |
//!
//! # Protection
//!
//! Selection reads interfaces, addresses and routes inside read sections of the one
//! [`psref::Domain`] shared by the [`IfTable`](crate::ifnet::IfTable) and the
//! [`RouteTables`](crate::route::RouteTables). Every answer is **copied out** before
//! its section ends ([`Src6`], [`Src4`], [`SelectedIf`] are owned values): nothing
//! points into an address object afterwards. The one answer that carries a reference is
//! [`SelectedRoute`], whose [`RouteRef`](crate::route::RouteRef) borrows the route
//! cache that produced it, so releasing it is the drop and targets the right cache.
//! Interfaces are then taken by index on demand ([`Src6::interface`],
//! [`SelectedIf::interface`]), failing safely after a detach.
//!
//! # Differences from NetBSD, and why
//!
//! * All RFC 6724 §5 rules, including 4 (home addresses, compiled out in NetBSD) and
//!   5.5 (next-hop prefix, absent; here from the routers recorded with each address,
//!   [`AddrSpec::with_advertising_router`](crate::ifnet::AddrSpec::with_advertising_router)), with the RFC's default policy table (NetBSD's is
//!   empty) and RFC 6724 §2.2's prefix-length cap on rule 8.
//! * Tentative, duplicated, detached and anycast addresses are never candidates
//!   (NetBSD keeps tentative and detached ones as "deprecated").
//! * [`in6_selectif`] refuses reject/blackhole routes without returning an interface,
//!   so no source is chosen for an unreachable destination.
//! * The pktinfo-interface mismatch of `in6_selectroute` releases its route reference
//!   (NetBSD leaks the psref; here the type makes the leak impossible, see `route6.rs`).
//! * Scoped addresses carry their zone as a field and a missing zone is an error,
//!   never a default-zone guess.
//! * Answers say what decided ([`SrcRule`], [`DstRule`], [`IfVia`], [`Src4Via`]).
//!
//! ```
//! use std::sync::Arc;
//! use netroute::addr::{ScopedAddr, SockAddrIn6};
//! use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable, IfaAddr, In6Flags};
//! use netroute::psref::Domain;
//! use netroute::route::{RouteCache, RouteSpec, RouteTables};
//! use netroute::select::{
//!     PolicyHolder, SelectConfig, SelectCtx, SrcRule, in6_selectsrc, sort_destinations,
//! };
//!
//! let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
//! let routes = RouteTables::new(Arc::clone(&ifs));
//! let eth0 = ifs.attach(IfConfig::new("eth0").flags(IfFlags::UP))?;
//! ifs.add_addr(eth0, AddrSpec::new("2001:db8:1::2".parse::<std::net::Ipv6Addr>()?, 64))?;
//! let tmp = "2001:db8:1::77".parse::<std::net::Ipv6Addr>()?;
//! ifs.add_addr(eth0, AddrSpec::new(tmp, 64).with_flags(In6Flags::TEMPORARY))?;
//! ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))?;
//! routes.add(&RouteSpec::new("::/0".parse()?).via("2001:db8:1::fe".parse::<std::net::IpAddr>()?))?;
//!
//! // What the Stack owns: a policy holder (replaceable at run time) and the tunables.
//! let policy = PolicyHolder::default();
//! let config = SelectConfig::default();
//! let table = policy.load(); // one table for the whole call
//! let ctx = SelectCtx { routes: &routes, policy: &table, config: &config };
//!
//! // A socket connecting to 2001:db8:9::1 (its route cache lives in the PCB).
//! let mut ro = RouteCache::new();
//! let dst = SockAddrIn6::new("2001:db8:9::1".parse()?, 443, 0, None)?;
//! let src = in6_selectsrc(&ctx, &dst, None, None, &mut ro, None)?;
//! assert_eq!(src.addr.addr(), tmp); // RFC 6724 default: temporary addresses first
//! assert_eq!(src.rule, SrcRule::Temporary);
//!
//! // getaddrinfo-style ordering: IPv6 (precedence 40) before IPv4 (35).
//! let v4 = IfaAddr::V4("192.0.2.80".parse()?);
//! let v6 = IfaAddr::V6(ScopedAddr::new("2001:db8:9::1".parse()?, None)?);
//! let order = sort_destinations(&ctx, &[v4, v6]);
//! assert_eq!(order[0].dst, v6);
//! assert_eq!(order[1].src, Some(IfaAddr::V4("192.0.2.1".parse()?)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod dest;
mod error;
mod opts;
mod policy;
mod route6;
mod src4;
mod src6;

#[cfg(test)]
mod tests;

pub use dest::{
    DstInfo, DstRule, compare_destinations, destination_info, rfc6724_scope, sort_destinations,
    sort_infos,
};
pub use error::SelectError;
pub use opts::{
    IPV6_PREFER_SRC_CGA, IPV6_PREFER_SRC_COA, IPV6_PREFER_SRC_HOME, IPV6_PREFER_SRC_NONCGA,
    IPV6_PREFER_SRC_PUBLIC, IPV6_PREFER_SRC_PUBTMP_DEFAULT, IPV6_PREFER_SRC_TMP, Ip6PktOpts,
    MobilityPref, PktInfo6, SelectConfig, SelectCtx, SrcPrefs, TempPref,
};
pub use policy::{Policy, PolicyEntry, PolicyGuard, PolicyHolder, PolicyTable};
pub use route6::{CacheUsed, IfVia, SelectedIf, SelectedRoute, in6_selectif, in6_selectroute};
pub use src4::{Src4, Src4Via, in_selectsrc};
pub use src6::{
    Candidate, Destination, Src6, SrcRule, compare_sources, in6_selectsrc, select_best,
};
