//! Redirects, "losing" routes and route expiry: `rtredirect`, `in_losing` /
//! `in6_losing` and the redirect route timer (`icmp_redirect_timeout`,
//! `rt_timer_*`) of sys/net/route.c and sys/netinet/in_pcb.c.
//!
//! A redirect (ICMP type 5 / ND redirect, already parsed by the caller) tells us that
//! `src`, our current router for `dst`, wants us to use `gateway` instead. NetBSD's
//! rules, kept here:
//!
//! 1. the new gateway must be directly reachable (`ifa_ifwithnet`), else
//!    [`RouteError::NetUnreachable`];
//! 2. the redirect must come from the router we use for `dst` (`src` equals the
//!    current route's gateway) over the interface the gateway is on, else it is old or
//!    forged: [`RouteError::BadRedirect`];
//! 3. a gateway that is one of our own addresses would loop:
//!    [`RouteError::HostUnreachable`];
//! 4. no route, or only the default route: a new host route `GATEWAY | HOST | DYNAMIC`
//!    is created (`rts_dynamic`);
//! 5. a network route through a gateway and a host redirect: a host route is created
//!    rather than smashing the network route (`rts_dynamic`);
//! 6. otherwise the route's gateway is replaced in place and it is marked `MODIFIED`
//!    (`rts_newgateway`); a route to an interface (no gateway) is never redirected
//!    ([`RouteError::HostUnreachable`]).
//!
//! Every redirect, accepted or not, emits [`RouteEvent::Redirect`] (`RTM_REDIRECT`
//! carries the error) and counts in [`RouteStats`](super::RouteStats).
//! Routes created by a redirect expire after [`RouteConfig::redirect_timeout_secs`]
//! (`net.inet.icmp.redirtimeout`, 600 s) of the interface table's clock;
//! [`RouteTables::expire_routes`] (the `rt_timer` callout, run by the caller about once
//! a second) deletes them and any other route whose `expire` metric has passed and that
//! is `DYNAMIC`.
//!
//! Differences from NetBSD: the in-place gateway change goes through
//! [`RouteTables::change`]'s machinery, so it *does* bump the generation (1.207 does not
//! for in-place changes, and relies on caches seeing the mutated entry); here entries are
//! immutable and caches must refetch.

use std::net::IpAddr;

use ipnet::IpNet;

use super::table::RouteConfig;
use super::{
    Gateway, RouteCache, RouteError, RouteEvent, RouteInfo, RouteKey, RouteSpec, RouteTables,
    RtFlags,
};
use crate::ifnet::IfaAddr;

/// An ICMP or ND redirect, as parsed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The destination being redirected (`icmp_ip.ip_dst`).
    pub dst: IfaAddr,
    /// The new first hop (`icmp_gwaddr`).
    pub gateway: IfaAddr,
    /// The router that sent the redirect (the packet's source).
    pub src: IfaAddr,
}

/// What an accepted redirect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectOutcome {
    /// A new `DYNAMIC` host route was created (`rts_dynamic`).
    Created(RouteInfo),
    /// An existing route's gateway was replaced and it is now `MODIFIED`
    /// (`rts_newgateway`).
    Modified(RouteInfo),
}

impl RedirectOutcome {
    /// The route after the redirect.
    pub fn route(&self) -> &RouteInfo {
        match self {
            RedirectOutcome::Created(r) | RedirectOutcome::Modified(r) => r,
        }
    }
}

fn host_net(a: IpAddr) -> IpNet {
    IpNet::from(a)
}

impl RouteTables {
    /// `rtredirect`: applies `r` under the rules of the module docs (`route/redirect.rs`), emits
    /// [`RouteEvent::Redirect`] whatever the outcome, and counts it. On error the table
    /// is unchanged.
    pub fn redirect(&self, r: &Redirect) -> Result<RedirectOutcome, RouteError> {
        let result = self.redirect_inner(r);
        let stats = self.redirect_stats();
        match &result {
            Ok(RedirectOutcome::Created(_)) => stats.dynamic(),
            Ok(RedirectOutcome::Modified(_)) => stats.newgateway(),
            Err(_) => stats.bad(),
        }
        self.emit(RouteEvent::Redirect {
            dst: r.dst,
            gateway: r.gateway,
            src: r.src,
            accepted: result.is_ok(),
        });
        result
    }

    fn redirect_inner(&self, r: &Redirect) -> Result<RedirectOutcome, RouteError> {
        let fam = r.dst.family();
        if r.gateway.family() != fam || r.src.family() != fam {
            return Err(RouteError::BadRedirect("families differ"));
        }
        // 1: the gateway must be on one of our subnets.
        let Some(ifa) = self.ifs().ifa_ifwithnet(r.gateway) else {
            return Err(RouteError::NetUnreachable {
                via: Some(r.gateway.ip()),
            });
        };
        let gw_if = ifa.ifindex();
        drop(ifa);
        let cur = self.lookup(r.dst, false).map(|rt| rt.info());
        // 2: only our current router for dst may redirect us.
        if let Some(cur) = &cur {
            let from_router = matches!(cur.gateway, Gateway::Addr(g, _) if g == r.src.ip());
            if !from_router || cur.ifindex != Some(gw_if) {
                return Err(RouteError::BadRedirect("not from the current router"));
            }
        }
        // 3: a redirect to ourselves would loop.
        if self.ifs().ifa_ifwithaddr(r.gateway).is_some() {
            return Err(RouteError::HostUnreachable);
        }
        let expire = self.ifs().clock().now().as_secs() + self.config().redirect_timeout_secs;
        let mut metrics = super::RtMetrics::default();
        if self.config().redirect_timeout_secs > 0 {
            metrics.expire = expire;
        }
        let create = |_: ()| -> Result<RedirectOutcome, RouteError> {
            let spec = RouteSpec::new(host_net(r.dst.ip()))
                .via(r.gateway.ip())
                .dev(gw_if)
                .flags(RtFlags::GATEWAY | RtFlags::HOST | RtFlags::DYNAMIC)
                .metrics(metrics);
            self.add_internal(&spec).map(RedirectOutcome::Created)
        };
        let Some(cur) = cur else {
            // 4: no route at all.
            return create(());
        };
        if cur.dst.prefix_len() == 0 {
            // 4: only the wildcard (default) route.
            return create(());
        }
        if !cur.flags.contains(RtFlags::GATEWAY) {
            // 6: never redirect a route to an interface.
            return Err(RouteError::HostUnreachable);
        }
        if !cur.flags.contains(RtFlags::HOST) {
            // 5: keep the network route, add a host route.
            return create(());
        }
        // 6: smash the gateway of the host route.
        let mut m = cur.metrics;
        if cur.flags.contains(RtFlags::DYNAMIC) && metrics.expire != 0 {
            m.expire = metrics.expire;
        }
        let keep = cur.flags & (RtFlags::HOST | RtFlags::DYNAMIC | RtFlags::STATIC);
        let spec = RouteSpec::new(cur.dst)
            .via(r.gateway.ip())
            .dev(gw_if)
            .flags(keep | RtFlags::GATEWAY | RtFlags::MODIFIED)
            .metric(cur.metric)
            .metrics(m);
        self.change_internal(&spec).map(RedirectOutcome::Modified)
    }

    /// `in_losing` / `in6_losing`: a connection using `cache` keeps timing out. Emits
    /// [`RouteEvent::Losing`] for its route, deletes the route if a redirect created it
    /// (`DYNAMIC`: the redirect was probably wrong), and forgets the cached route so the
    /// next use looks the destination up again. Returns the route reported, if any.
    pub fn losing(&self, cache: &mut RouteCache) -> Option<RouteInfo> {
        let info = cache.validate(self).map(|r| r.info());
        cache.clear();
        let info = info?;
        self.emit(RouteEvent::Losing(info.clone()));
        if info.flags.contains(RtFlags::DYNAMIC) {
            let mut key = RouteKey::new(info.dst).metric(info.metric);
            if info.flags.contains(RtFlags::HOST) {
                key = key.host();
            }
            if let (Some(_), Some(i)) = (info.zone, info.ifindex) {
                key = key.dev(i);
            }
            // Someone else may have deleted it already; that is fine.
            let _ = self.delete(&key);
        }
        Some(info)
    }

    /// The `rt_timer` callout: deletes every `DYNAMIC` route whose `expire` metric (in
    /// seconds of the interface table's clock) has passed, as `icmp_redirect_timeout`
    /// does for redirect routes. Returns how many were deleted. Call it about once a
    /// second; it takes the RIB locks only when something expired.
    pub fn expire_routes(&self) -> usize {
        let now = self.ifs().clock().now().as_secs();
        self.delete_expired_dynamic(now)
    }
}

impl RouteConfig {
    /// NetBSD's `net.inet.icmp.redirtimeout` default: 600 s.
    pub const DEFAULT_REDIRECT_TIMEOUT_SECS: u64 = 600;
}
