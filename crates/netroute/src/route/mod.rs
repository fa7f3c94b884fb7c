//! The routing table and route caches: NetBSD's `struct rtentry`, `rtrequest1`,
//! `rtalloc1`, `struct route` with `rtcache_*`, `rtcache_generation` and the route
//! messages of sys/net/route.c, route.h and rtsock.c.
//!
//! | here | NetBSD |
//! |---|---|
//! | [`RouteTables`] | `rt_tables[]` (one radix tree per family), `rt_lock` |
//! | [`RouteTables::add`], [`delete`](RouteTables::delete), [`change`](RouteTables::change), [`get`](RouteTables::get), [`rtrequest`](RouteTables::rtrequest) | `rtrequest1(RTM_ADD / RTM_DELETE / RTM_GET)`, route socket `RTM_CHANGE` |
//! | [`RouteTables::add_many`], [`delete_many`](RouteTables::delete_many) | a routing daemon's burst of `RTM_ADD`/`RTM_DELETE`, applied under one publication and one grace period |
//! | [`RouteTables::lookup`] | `rtalloc1` (+ `rts_unreach`, `RTM_MISS`) |
//! | [`RouteTables::check_reject`], [`RouteTables::route_to`] | `rt_check_reject_route` |
//! | [`RouteTables::gwroute`] | `rt_gwroute` |
//! | [`RouteTables::delete_routes_through`] | `rt_delete_matched_entries(rt_ifp == ifp)` on `if_detach` |
//! | [`RouteTables::generation`] | `rtcache_generation` |
//! | [`RtEntry`], [`RtFlags`], [`RtMetrics`] | `struct rtentry`, `RTF_*`, `struct rt_metrics` |
//! | [`RouteRef`] | an rtentry with its psref (`rtcache_unref` = drop) |
//! | [`RouteCache`] | `struct route`, `rtcache_*` |
//! | [`RouteTables::redirect`], [`RouteTables::losing`], [`RouteTables::expire_routes`] | `rtredirect`, `in_losing`, the redirect `rt_timer` (a queue of due times: a tick looks only at what came due) |
//! | [`RouteEvent`] | `RTM_ADD`, `RTM_DELETE`, `RTM_CHANGE`, `RTM_MISS`, `RTM_REDIRECT`, `RTM_LOSING` |
//! | [`RouteTables::subscribe_filtered`], [`RouteEventKinds`] | a routing socket with `RO_MSGFILTER` |
//! | [`fib`] | the compiled longest-prefix match (`radix.c`'s role, read-optimised) |
//!
//! # Protection (design §3)
//!
//! Entries are immutable objects in a slab of [`psref::Slot`]s; the FIB (prefix → slab
//! index, the compiled [`fib`] structure) is an immutable version in a `Slot`,
//! republished by the writer (left-right: the writer patches a private copy, publishes
//! it, and reuses the retired copy after its grace period). Lookups run
//! in a read section of the [`psref::Domain`] shared with the
//! [`IfTable`](crate::ifnet::IfTable), so one section covers a route and its
//! interface, and return passive references. Writers serialise per family on the RIB
//! lock; delete and change wait for references without holding it, and never block
//! readers. One generation, on its own cache line, shared by both families, is bumped
//! by every add, delete and change; caches compare it before touching their entry.
//!
//! # Use counter
//!
//! `rt_use` is an atomic in the entry incremented by table lookups and cache fills
//! only, i.e. on cache misses; a cache hit writes nothing shared. Per-packet counts
//! belong to the user's own (per-thread) state and are folded in with
//! [`RtEntry::add_use`], as `ipflow` folds its counters into `rt_use`.
//!
//! See `table.rs` and `cache.rs` for where and why this differs from NetBSD.
//!
//! ```
//! use std::sync::Arc;
//! use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable};
//! use netroute::psref::Domain;
//! use netroute::route::{RouteCache, RouteSpec, RouteTables, RtFlags};
//!
//! let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
//! let rt = RouteTables::new(Arc::clone(&ifs));
//! let eth0 = ifs.attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))?;
//! ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))?;
//! rt.add(&RouteSpec::new("0.0.0.0/0".parse()?).via([192, 0, 2, 254]))?;
//!
//! let mut cache = RouteCache::new();
//! let dst = std::net::Ipv4Addr::new(198, 51, 100, 7);
//! let (r, hit) = cache.lookup(&rt, dst);
//! assert!(!hit && r.unwrap().flags().contains(RtFlags::GATEWAY));
//! let (r, hit) = cache.lookup(&rt, dst);
//! assert!(hit && r.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

// The compiled LPM (Poptrie-style, `route/fib/`). The tables use it behind their FIB
// seam (`lpm::Fib`, `DefaultFib = CompiledFib`, with 30-bit slab-index leaves); the
// simple `HashFib` stays as the reference the tests compare it with.
pub mod fib;

mod cache;
mod entry;
mod error;
mod event;
mod family;
mod lpm;
mod redirect;
mod slab;
mod sync;
mod table;

#[cfg(test)]
mod tests;

pub use cache::RouteCache;
pub use entry::{Gateway, RouteInfo, RtEntry, RtFlags, RtMetrics};
pub use error::RouteError;
pub use event::{RouteEvent, RouteEventBus, RouteEventKinds, RouteNotice, RouteSubscription};
pub use family::Afi;
pub use redirect::{Redirect, RedirectOutcome};
pub use table::{
    RouteConfig, RouteKey, RouteRef, RouteSpec, RouteStats, RouteTable, RouteTables, RtRequest,
};
