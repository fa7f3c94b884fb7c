//! Route caches of tunnel interfaces: the outer-destination `struct route` of gif
//! (sys/netinet/in_gif.c `in_gif_output`, sys/netinet6/in6_gif.c, per CPU in
//! `gif_ro_percpu`), gre (sys/net/if_gre.c `gre_compute_route`) and stf
//! (sys/net/if_stf.c `sc_ro`), their "infinite encapsulation" loop check, and
//! `if_tunnel_check_nesting` of sys/net/if.c.
//!
//! * [`Tunnel`] is the shared part of a tunnel softc: the tunnel's own interface index,
//!   its outer destination (`gv_pdst`) and the nesting limit. It is `Sync`; changing
//!   the destination ([`Tunnel::set_dst`], `gif_set_tunnel`) bumps a version.
//! * [`TunnelRoute`] is one thread's route cache to that destination (one CPU's
//!   `gif_ro_percpu` slot; the mutex NetBSD puts next to it is not needed, as the
//!   cache is owned by its thread). It sees a new version and re-targets itself
//!   (NetBSD flushes every CPU's cache with `percpu_foreach`).
//! * [`TunnelRoute::route`] is the `rtcache_lookup` + loop check of `in_gif_output`:
//!   after every (re)validation, a route whose interface is the tunnel itself would
//!   encapsulate forever, so the cache is **freed** (not just unreferenced: the next
//!   packet re-resolves) and the packet fails with [`TunnelError::Loop`]
//!   (`ENETUNREACH`).
//! * [`TunnelNesting`] is the per-packet `PACKET_TAG_TUNNEL_INFO` tag: the second loop
//!   defence, against recursion through several tunnels.
//!
//! Beyond NetBSD: reject and blackhole routes to the outer destination fail with their
//! typed [`RouteError`] here (NetBSD finds out in `ip_output`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::addr::IfIndex;
use crate::ifnet::IfaAddr;
use crate::route::{RouteCache, RouteError, RouteRef, RouteTables};

/// NetBSD's `MAX_GIF_NEST` (sys/net/if_gif.h): the default nesting limit.
pub const DEFAULT_MAX_NESTING: u32 = 1;

/// Why a tunnel cannot send a packet.
///
/// Guarantees: [`errno`](Self::errno) is the value NetBSD returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// `ENETUNREACH`: no route to the outer destination.
    #[error("network unreachable: no route to the tunnel endpoint {dst:?}")]
    NoRoute {
        /// The outer destination.
        dst: IfaAddr,
    },
    /// `ENETUNREACH`: the route to the outer destination goes out through the tunnel
    /// itself ("the route constitutes infinite encapsulation"); the cache was freed.
    #[error("network unreachable: the route to {dst:?} goes through tunnel {tunnel} itself")]
    Loop {
        /// The outer destination.
        dst: IfaAddr,
        /// The tunnel's interface.
        tunnel: IfIndex,
    },
    /// `EIO`: the packet was already encapsulated more times than the limit
    /// (`if_tunnel_check_nesting`: "recursively called too many times").
    #[error("tunnel nesting {count} over the limit {limit}")]
    TooDeep {
        /// The nesting count the packet reached.
        count: u32,
        /// The limit.
        limit: u32,
    },
    /// The route to the outer destination is a reject or blackhole route.
    #[error("route to the tunnel endpoint: {0}")]
    Route(RouteError),
}

impl TunnelError {
    /// The NetBSD errno (`ENETUNREACH` 51, `EIO` 5, or the route error's).
    pub fn errno(&self) -> i32 {
        match self {
            TunnelError::NoRoute { .. } | TunnelError::Loop { .. } => 51,
            TunnelError::TooDeep { .. } => 5,
            TunnelError::Route(e) => e.errno(),
        }
    }
}

/// The per-packet nesting tag (`PACKET_TAG_TUNNEL_INFO`): travels with one packet
/// through every tunnel it is encapsulated by.
///
/// Guarantees (NetBSD's counting): the first encapsulation creates the tag with count
/// 0; each further one increments it and fails once it exceeds the limit. With the
/// default limit 1 a packet may be encapsulated twice (a tunnel inside a tunnel); the
/// third fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelNesting {
    count: Option<u32>,
}

impl TunnelNesting {
    /// A packet that no tunnel has seen yet (no tag).
    pub fn new() -> Self {
        Self::default()
    }

    /// `if_tunnel_check_nesting(ifp, m, limit)`: counts this encapsulation.
    ///
    /// Errors: [`TunnelError::TooDeep`] (`EIO`) past `limit`.
    pub fn check(&mut self, limit: u32) -> Result<(), TunnelError> {
        match &mut self.count {
            None => {
                self.count = Some(0);
                Ok(())
            }
            Some(c) => {
                *c = c.saturating_add(1);
                if *c > limit {
                    Err(TunnelError::TooDeep { count: *c, limit })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The count (`None`: never encapsulated).
    pub fn count(&self) -> Option<u32> {
        self.count
    }
}

/// The shared configuration of a tunnel interface (the softc's `gif_variant`).
///
/// Guarantees: `Sync`; a [`TunnelRoute`] made from it targets the destination set
/// last, from its next packet on.
#[derive(Debug)]
pub struct Tunnel {
    ifindex: IfIndex,
    dst: RwLock<IfaAddr>,
    version: AtomicU64,
    max_nesting: AtomicU64,
}

impl Tunnel {
    /// The tunnel whose own interface is `ifindex`, towards outer destination `dst`,
    /// with the default nesting limit ([`DEFAULT_MAX_NESTING`]).
    pub fn new(ifindex: IfIndex, dst: impl Into<IfaAddr>) -> Arc<Self> {
        Arc::new(Self {
            ifindex,
            dst: RwLock::new(dst.into()),
            version: AtomicU64::new(1),
            max_nesting: AtomicU64::new(u64::from(DEFAULT_MAX_NESTING)),
        })
    }

    /// The tunnel's own interface.
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// The outer destination.
    pub fn dst(&self) -> IfaAddr {
        *self.dst.read()
    }

    /// `gif_set_tunnel` / `gre_compute_route` on an endpoint change: every thread's
    /// cache re-targets on its next packet.
    pub fn set_dst(&self, dst: impl Into<IfaAddr>) {
        let mut d = self.dst.write();
        *d = dst.into();
        // Release under the lock: a route that sees the new version reads the new dst.
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The nesting limit (`max_gif_nesting`).
    pub fn max_nesting(&self) -> u32 {
        self.max_nesting.load(Ordering::Relaxed) as u32
    }

    /// Sets the nesting limit.
    pub fn set_max_nesting(&self, limit: u32) {
        self.max_nesting.store(u64::from(limit), Ordering::Relaxed);
    }

    /// A new per-thread route cache for this tunnel.
    pub fn route_cache(self: &Arc<Self>) -> TunnelRoute {
        TunnelRoute {
            tunnel: Arc::clone(self),
            cache: RouteCache::new(),
            version: 0,
            stats: TunnelStats::default(),
        }
    }

    /// `gif_output`'s two checks for one packet: the nesting tag
    /// ([`TunnelNesting::check`] with this tunnel's limit), then the route to the outer
    /// destination through `ro` ([`TunnelRoute::route`]).
    ///
    /// # Panics
    /// If `ro` was made by another tunnel.
    pub fn output<'s>(
        &self,
        t: &'s RouteTables,
        ro: &'s mut TunnelRoute,
        nesting: &mut TunnelNesting,
    ) -> Result<RouteRef<'s>, TunnelError> {
        assert!(
            std::ptr::eq(self, Arc::as_ptr(&ro.tunnel)),
            "a TunnelRoute of another tunnel"
        );
        if let Err(e) = nesting.check(self.max_nesting()) {
            ro.stats.too_deep += 1;
            return Err(e);
        }
        ro.route(t)
    }
}

/// Counters of one [`TunnelRoute`].
///
/// Guarantees: each [`TunnelRoute::route`] call counts once in `hits`, `misses`
/// (refilled from the table, successfully or not) and at most once in `loops`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Cache hits.
    pub hits: u64,
    /// Table lookups (cache misses).
    pub misses: u64,
    /// Routes refused because they go through the tunnel itself.
    pub loops: u64,
    /// Packets refused by the nesting limit.
    pub too_deep: u64,
}

/// One thread's route cache to a tunnel's outer destination (a `gif_ro_percpu` slot).
///
/// Guarantees: `Send`, not `Sync` (owned by one thread); every route it returns was
/// validated or looked up for the tunnel's current destination and does not go out
/// through the tunnel itself.
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<netroute::flow::TunnelRoute>();
/// ```
#[derive(Debug)]
pub struct TunnelRoute {
    tunnel: Arc<Tunnel>,
    cache: RouteCache,
    version: u64,
    stats: TunnelStats,
}

impl TunnelRoute {
    /// The tunnel.
    pub fn tunnel(&self) -> &Arc<Tunnel> {
        &self.tunnel
    }

    /// The counters.
    pub fn stats(&self) -> TunnelStats {
        self.stats
    }

    /// True if the cache holds a route handle (possibly stale).
    pub fn has_route(&self) -> bool {
        self.cache.has_route()
    }

    /// The route to the outer destination (`rtcache_lookup`: a miss is reported as
    /// [`RouteEvent::Miss`](crate::route::RouteEvent::Miss)), then the loop check:
    /// if the route's interface is the tunnel itself, the cache is freed and the call
    /// fails with [`TunnelError::Loop`]. A reject or blackhole route fails with
    /// [`TunnelError::Route`].
    ///
    /// Errors: [`TunnelError::NoRoute`], [`TunnelError::Loop`], [`TunnelError::Route`].
    pub fn route<'s>(&'s mut self, t: &'s RouteTables) -> Result<RouteRef<'s>, TunnelError> {
        let v = self.tunnel.version.load(Ordering::Acquire);
        if v != self.version {
            // Endpoint changed (or first use): `rtcache_free` and re-target.
            self.cache.free();
            self.version = v;
        }
        let dst = match self.cache.dst() {
            Some(d) => d,
            None => self.tunnel.dst(),
        };
        let tunnel = self.tunnel.ifindex;
        // Decide with the route held, act on the cache after releasing it (freeing the
        // cache while a reference borrows it is impossible). If a route changed between
        // the decision and the final validation, decide again.
        for _ in 0..4 {
            let (hit, verdict) = {
                let (rt, hit) = self.cache.lookup(t, dst);
                let verdict = match &rt {
                    None => Err(TunnelError::NoRoute { dst }),
                    Some(r) if r.ifindex() == Some(tunnel) => {
                        Err(TunnelError::Loop { dst, tunnel })
                    }
                    Some(r) => t.check_reject(r).map_err(TunnelError::Route),
                };
                (hit, verdict)
            };
            if hit {
                self.stats.hits += 1;
            } else {
                self.stats.misses += 1;
            }
            match verdict {
                Err(e @ TunnelError::Loop { .. }) => {
                    self.stats.loops += 1;
                    self.cache.free();
                    return Err(e);
                }
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            // The same generation means the same (immutable) entry that was checked.
            if self.cache.validate(t).is_some() {
                break;
            }
        }
        self.cache.validate(t).ok_or(TunnelError::NoRoute { dst })
    }
}
