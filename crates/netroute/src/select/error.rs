//! Errors of source and route selection: the errno values `in6_selectsrc`,
//! `in6_selectroute`, `in6_selectif` and `in_selectsrc` return in NetBSD, as one enum.

use std::net::IpAddr;

use crate::addr::{AddrError, Family, IfIndex, Ipv6Net};

/// Why a selection failed. A failed selection changes nothing but the caller's route
/// caches (a failed next-hop lookup empties the options' cache, as NetBSD's
/// `rtcache_free(ron)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// `EHOSTUNREACH`: no route to the destination (IPv6), a host reject route, a next
    /// hop that is not a neighbour, or a route that leaves through another interface
    /// than the one `IPV6_PKTINFO` names.
    #[error("no route to host")]
    HostUnreachable,
    /// `ENETUNREACH`: a net reject or blackhole route answered, or no route (IPv4).
    #[error("network unreachable")]
    NetUnreachable,
    /// `EADDRNOTAVAIL`: no usable source address: the requested one is not ours, or is
    /// anycast, tentative or duplicated; or no candidate survived the filters.
    #[error("address not available{}", .addr.map(|a| format!(": {a}")).unwrap_or_default())]
    AddrNotAvailable {
        /// The address asked for, if one was.
        addr: Option<IpAddr>,
    },
    /// `ENXIO`: `IPV6_PKTINFO` names an interface index that no interface has.
    #[error("no interface with index {index}")]
    NoInterface {
        /// The index asked for.
        index: IfIndex,
    },
    /// `EAFNOSUPPORT`: the `IPV6_NEXTHOP` address is not an IPv6 socket address.
    #[error("next hop is {family}, not inet6")]
    NextHopFamily {
        /// Its family.
        family: Family,
    },
    /// `EINVAL`: a scoped destination or source without a zone and no interface to
    /// take it from, a zone that contradicts the outgoing interface, or `::1` off a
    /// loopback interface.
    #[error("bad address: {0}")]
    Addr(#[from] AddrError),
    /// `EINVAL`: contradictory `IPV6_PREFER_SRC_*` flags (both of a pair), or unknown
    /// bits.
    #[error("invalid IPV6_PREFER_SRC flags {flags:#x}")]
    BadPreferFlags {
        /// The flags given.
        flags: u32,
    },
    /// `EEXIST`: the policy table already has a row for this prefix.
    #[error("policy for {prefix} already exists")]
    DuplicatePolicy {
        /// The prefix.
        prefix: Ipv6Net,
    },
    /// `ESRCH`: the policy table has no row for this prefix.
    #[error("no policy for {prefix}")]
    NoSuchPolicy {
        /// The prefix.
        prefix: Ipv6Net,
    },
}

impl SelectError {
    /// The NetBSD errno this error stands for.
    pub fn errno(&self) -> i32 {
        match self {
            SelectError::HostUnreachable => 65,         // EHOSTUNREACH
            SelectError::NetUnreachable => 51,          // ENETUNREACH
            SelectError::AddrNotAvailable { .. } => 49, // EADDRNOTAVAIL
            SelectError::NoInterface { .. } => 6,       // ENXIO
            SelectError::NextHopFamily { .. } => 47,    // EAFNOSUPPORT
            SelectError::Addr(_) => 22,                 // EINVAL
            SelectError::BadPreferFlags { .. } => 22,   // EINVAL
            SelectError::DuplicatePolicy { .. } => 17,  // EEXIST
            SelectError::NoSuchPolicy { .. } => 3,      // ESRCH
        }
    }
}
