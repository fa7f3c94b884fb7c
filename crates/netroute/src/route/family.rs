//! The per-family part of the table (`struct domain` / `rt_tables[af]`): how a
//! destination becomes a route key.
//!
//! IPv6 keys embed the zone of scoped addresses in bytes 2–3, as KAME does inside the
//! NetBSD kernel (`in6_setzoneid`), so `fe80::/64` on two links are two keys and a
//! lookup of `fe80::1%2` finds the route of zone 2.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::addr::{Family, IfIndex, Prefix, ZoneId, requires_zone};
use crate::ifnet::IfaAddr;

use super::RouteError;

/// A routed address family: the key type of one [`RouteTable`](super::RouteTable).
///
/// Guarantees: keys are canonical prefixes; a key built from a destination with a zone
/// differs from the same destination in another zone.
pub trait Afi: Prefix + Send + Sync + 'static {
    /// The key of destination `dst` (masked to its length, zone embedded).
    fn key(dst: IpNet, zone: Option<ZoneId>) -> Result<Self, RouteError>;
    /// The key address of a lookup destination, `None` for the other family.
    fn addr_key(dst: &IfaAddr) -> Option<Self::Addr>;
    /// Wraps a plain destination (zone from `dev` when the address needs one).
    fn wrap(addr: IpAddr, dev: Option<IfIndex>) -> Result<IfaAddr, RouteError>;
    /// The compiled FIB's key for the family ([`fib::Key`](super::fib::Key): `u32` or
    /// `u128`).
    type FibKey: super::fib::Key;
    /// The prefix as (network address as a FIB key, length).
    fn fib_prefix(&self) -> (Self::FibKey, u8);
    /// A lookup address as a FIB key.
    fn fib_addr(addr: Self::Addr) -> Self::FibKey;
}

impl Afi for Ipv4Net {
    fn key(dst: IpNet, _zone: Option<ZoneId>) -> Result<Self, RouteError> {
        match dst {
            IpNet::V4(n) => Ok(n.trunc()),
            IpNet::V6(_) => Err(RouteError::WrongFamily {
                what: "destination",
                got: Family::Inet6,
                want: Family::Inet,
            }),
        }
    }
    fn addr_key(dst: &IfaAddr) -> Option<Ipv4Addr> {
        match dst {
            IfaAddr::V4(a) => Some(*a),
            IfaAddr::V6(_) => None,
        }
    }
    fn wrap(addr: IpAddr, _dev: Option<IfIndex>) -> Result<IfaAddr, RouteError> {
        wrap(addr, _dev)
    }
    type FibKey = u32;
    #[inline]
    fn fib_prefix(&self) -> (u32, u8) {
        (u32::from(self.network()), self.prefix_len())
    }
    #[inline]
    fn fib_addr(addr: Ipv4Addr) -> u32 {
        u32::from(addr)
    }
}

fn embed(a: Ipv6Addr, zone: Option<ZoneId>) -> Result<Ipv6Addr, RouteError> {
    let Some(z) = zone.filter(|_| requires_zone(&a)) else {
        return Ok(a);
    };
    let z16 = u16::try_from(z.get()).map_err(|_| RouteError::ZoneTooLarge(z.get()))?;
    let mut s = a.segments();
    s[1] = z16;
    Ok(Ipv6Addr::from(s))
}

impl Afi for Ipv6Net {
    fn key(dst: IpNet, zone: Option<ZoneId>) -> Result<Self, RouteError> {
        match dst {
            IpNet::V6(n) => {
                let n = n.trunc();
                let a = embed(n.network(), zone)?;
                Ok(Ipv6Net::new(a, n.prefix_len())
                    .map_err(|_| RouteError::NoNextHop)?
                    .trunc())
            }
            IpNet::V4(_) => Err(RouteError::WrongFamily {
                what: "destination",
                got: Family::Inet,
                want: Family::Inet6,
            }),
        }
    }
    fn addr_key(dst: &IfaAddr) -> Option<Ipv6Addr> {
        match dst {
            IfaAddr::V6(s) => embed(s.addr(), s.zone()).ok(),
            IfaAddr::V4(_) => None,
        }
    }
    fn wrap(addr: IpAddr, dev: Option<IfIndex>) -> Result<IfaAddr, RouteError> {
        wrap(addr, dev)
    }
    type FibKey = u128;
    #[inline]
    fn fib_prefix(&self) -> (u128, u8) {
        (u128::from(self.network()), self.prefix_len())
    }
    #[inline]
    fn fib_addr(addr: Ipv6Addr) -> u128 {
        u128::from(addr)
    }
}

/// `addr` as a lookup destination; an IPv6 scoped address takes the zone of `dev`
/// (the KAME default: a link's zone is its interface index).
pub(crate) fn wrap(addr: IpAddr, dev: Option<IfIndex>) -> Result<IfaAddr, RouteError> {
    Ok(match addr {
        IpAddr::V4(a) => IfaAddr::V4(a),
        IpAddr::V6(a) => {
            let zone = if requires_zone(&a) {
                dev.and_then(|d| ZoneId::new(d.get()))
            } else {
                None
            };
            IfaAddr::V6(crate::addr::ScopedAddr::new(a, zone)?)
        }
    })
}

pub(crate) fn family_of(n: &IpNet) -> Family {
    match n {
        IpNet::V4(_) => Family::Inet,
        IpNet::V6(_) => Family::Inet6,
    }
}

pub(crate) fn family_of_ip(a: &IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
    }
}
