//! Errors of the routing layer: the errno values `rtrequest1`, `rtalloc1`,
//! `rt_check_reject_route` and `rtcache_setdst` return in NetBSD, as one typed enum.

use std::net::IpAddr;

use crate::addr::{AddrError, Family, IfIndex};

/// Why a route request or lookup failed. A failed request changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// `EEXIST`: a route with this destination and metric is already in the table.
    #[error("route to {dst} metric {metric} already exists")]
    Exists {
        /// The destination.
        dst: ipnet::IpNet,
        /// The metric.
        metric: u32,
    },
    /// `ESRCH`: no such route (delete, change or get of a route that is not there).
    #[error("no such route to {dst}")]
    NoSuchRoute {
        /// The destination asked for.
        dst: ipnet::IpNet,
    },
    /// `ENETUNREACH`: no interface address leads to the gateway (`rt_getifa` found no
    /// ifa), or a net reject route answered.
    #[error("network unreachable{}", .via.map(|g| format!(" (gateway {g})")).unwrap_or_default())]
    NetUnreachable {
        /// The gateway that could not be resolved, if that was the reason.
        via: Option<IpAddr>,
    },
    /// `EHOSTUNREACH`: a host reject route answered, or a gateway's own route is
    /// missing or itself a gateway route (`rt_gwroute`).
    #[error("host unreachable")]
    HostUnreachable,
    /// `EHOSTDOWN`: a reject route on a non-loopback interface without a gateway.
    #[error("host is down")]
    HostDown,
    /// A `prohibit` route answered (Linux's `EACCES` "prohibited").
    #[error("administratively prohibited")]
    Prohibited,
    /// A `blackhole` route answered: discard silently.
    #[error("blackhole route")]
    Blackhole,
    /// `ENXIO`: the named interface does not exist (or is being detached).
    #[error("no interface with index {index}")]
    NoInterface {
        /// The index asked for.
        index: u32,
    },
    /// `EADDRNOTAVAIL`: the requested source address (`RTAX_IFA`) is not one of ours.
    #[error("{addr} is not an address of this host")]
    NoSuchAddress {
        /// The address asked for.
        addr: IpAddr,
    },
    /// `EAFNOSUPPORT`: the gateway or source address is of another family than the
    /// destination.
    #[error("{what} is {got:?}, the destination is {want:?}")]
    WrongFamily {
        /// Which part of the request.
        what: &'static str,
        /// Its family.
        got: Family,
        /// The destination's family.
        want: Family,
    },
    /// `EINVAL`: a route needs a gateway, an interface or the reject/blackhole flag.
    #[error("a route needs a gateway, an interface, or reject/blackhole")]
    NoNextHop,
    /// `EINVAL`: the flags conflict or name internal state (`local` routes belong to the
    /// address layer; `reject`, `blackhole` and `prohibit` are exclusive).
    #[error("bad flags: {0}")]
    BadFlags(&'static str),
    /// `EPERM`: a local route is removed with its address, not directly.
    #[error("local route to {dst} belongs to an interface address")]
    LocalRoute {
        /// Its destination.
        dst: ipnet::IpNet,
    },
    /// A bad destination or gateway address (zone missing or not allowed, ...).
    #[error("bad address: {0}")]
    Addr(#[from] AddrError),
    /// An IPv6 zone that cannot be embedded in a route key (above 65535).
    #[error("zone {0} too large for a route key")]
    ZoneTooLarge(u32),
    /// `ENOBUFS`: the route slab is full.
    #[error("routing table full ({max} routes)")]
    TableFull {
        /// The configured maximum.
        max: usize,
    },
    /// A redirect that is old, forged or malformed (`rts_badredirect`).
    #[error("bad redirect: {0}")]
    BadRedirect(&'static str),
    /// `ENOMEM`: `rtcache_setdst` could not allocate (only through the failure
    /// injection knob, [`RouteCache::fail_next_alloc`](super::RouteCache::fail_next_alloc)).
    #[error("out of memory")]
    NoMemory,
    /// The cache has no destination (`rtcache_init` requires one).
    #[error("route cache has no destination")]
    NoDestination,
    /// The interface is being detached.
    #[error("interface {index} is going away")]
    InterfaceGone {
        /// Its index.
        index: IfIndex,
    },
}

impl RouteError {
    /// The NetBSD errno this error stands for.
    pub fn errno(&self) -> i32 {
        match self {
            RouteError::Exists { .. } => 17,         // EEXIST
            RouteError::NoSuchRoute { .. } => 3,     // ESRCH
            RouteError::NetUnreachable { .. } => 51, // ENETUNREACH
            RouteError::HostUnreachable => 65,       // EHOSTUNREACH
            RouteError::HostDown => 64,              // EHOSTDOWN
            RouteError::Prohibited => 13,            // EACCES
            RouteError::Blackhole => 0,              // silently dropped
            RouteError::NoInterface { .. } | RouteError::InterfaceGone { .. } => 6, // ENXIO
            RouteError::NoSuchAddress { .. } => 49,  // EADDRNOTAVAIL
            RouteError::WrongFamily { .. } => 47,    // EAFNOSUPPORT
            RouteError::NoNextHop | RouteError::BadFlags(_) | RouteError::Addr(_) => 22, // EINVAL
            RouteError::ZoneTooLarge(_) | RouteError::BadRedirect(_) => 22,
            RouteError::LocalRoute { .. } => 1, // EPERM
            RouteError::TableFull { .. } => 55, // ENOBUFS
            RouteError::NoMemory => 12,         // ENOMEM
            RouteError::NoDestination => 22,
        }
    }
}
