//! `in_selectsrc` of sys/netinet/in.c (as called by `in_pcbconnect` in in_pcb.c): IPv4
//! source address selection.
//!
//! NetBSD returns an `in_ifaddr` with a psref that the caller rechecks and copies; here
//! the address is copied out directly and nothing stays referenced.

use std::net::Ipv4Addr;

use crate::addr::{Family, IfIndex, v4};
use crate::ifnet::{IfFlags, IfTable, IfaAddr, MulticastOptions};
use crate::route::{RouteCache, RouteTables};

use super::SelectError;

/// How [`in_selectsrc`] found the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Src4Via {
    /// The route's source address (`rt_ifa`).
    Route,
    /// The address whose subnet (or point-to-point peer) holds the destination
    /// (`ifa_ifwithladdr`), because the route goes out the loopback interface, has no
    /// source address, or there is no route.
    LocalNet,
    /// The first IPv4 address not on a loopback interface (the last resort).
    FirstAddress,
    /// The first IPv4 address of the socket's `IP_MULTICAST_IF` interface.
    Multicast,
}

/// The source address `in_selectsrc` chose, copied out.
///
/// Guarantees: owned data; the address was one of ours when chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Src4 {
    /// The address.
    pub addr: Ipv4Addr,
    /// The interface the address is on.
    pub ifindex: IfIndex,
    /// How it was found.
    pub via: Src4Via,
    /// Its prefix length.
    pub prefix_len: u8,
}

fn is_loopback(ifs: &IfTable, i: Option<IfIndex>) -> bool {
    i.and_then(|i| ifs.get_by_index(i))
        .is_some_and(|ifp| ifp.flags().contains(IfFlags::LOOPBACK))
}

fn v4_of(a: &crate::ifnet::IfAddr) -> Option<Ipv4Addr> {
    match a.addr() {
        IfaAddr::V4(x) => Some(x),
        IfaAddr::V6(_) => None,
    }
}

/// `in_selectsrc`: the source address for a connection to `dst`.
///
/// 1. `dontroute` (`SO_DONTROUTE`) empties the cache and consults no route; otherwise
///    the route comes from the caller's cache `ro` (refilled as needed).
/// 2. The route's source address (`rt_ifa`), unless the route goes out a loopback
///    interface (or has none, or its address was removed) — [`Src4Via::Route`].
/// 3. Else the address of the point-to-point peer or subnet holding `dst`
///    (`ifa_ifwithladdr`) — [`Src4Via::LocalNet`]; else the first address not on a
///    loopback interface — [`Src4Via::FirstAddress`]; else
///    [`SelectError::AddrNotAvailable`].
/// 4. A multicast destination with an `IP_MULTICAST_IF` that still names an attached
///    interface: that interface's first IPv4 address instead ([`Src4Via::Multicast`]);
///    none is [`SelectError::AddrNotAvailable`]. A detached interface is ignored (as
///    NetBSD's failed `if_get_byindex`).
///
/// Reject routes are not refused here (NetBSD does not either: output fails later).
/// Not done: the IPSELSRC scoring hook (`ifa_getifa`), and `in_pcbconnect`'s mapping of
/// `INADDR_ANY` and `INADDR_BROADCAST` destinations (the caller's business).
pub fn in_selectsrc(
    routes: &RouteTables,
    dst: Ipv4Addr,
    ro: &mut RouteCache,
    dontroute: bool,
    mopts: Option<&MulticastOptions>,
) -> Result<Src4, SelectError> {
    let ifs = routes.ifs();
    let mut found: Option<Src4> = None;
    if dontroute {
        ro.free();
    } else {
        let (rt, _hit) = ro.lookup(routes, dst);
        if let Some(rt) = rt
            && !is_loopback(ifs, rt.ifindex())
            && let Some(ia) = rt.ifa().filter(|a| !a.is_removed())
            && let Some(addr) = v4_of(ia)
        {
            found = Some(Src4 {
                addr,
                ifindex: ia.ifindex(),
                via: Src4Via::Route,
                prefix_len: ia.prefix_len(),
            });
        }
    }
    if found.is_none() {
        found = ifs
            .ifa_ifwithdstaddr(dst)
            .or_else(|| ifs.ifa_ifwithnet(dst))
            .and_then(|ia| {
                Some(Src4 {
                    addr: v4_of(&ia)?,
                    ifindex: ia.ifindex(),
                    via: Src4Via::LocalNet,
                    prefix_len: ia.prefix_len(),
                })
            });
    }
    if found.is_none() {
        let g = ifs.domain().read();
        found = ifs
            .addrs_in(&g, Family::Inet)
            .filter(|ia| {
                ifs.byindex(&g, ia.ifindex())
                    .is_some_and(|ifp| !ifp.flags().contains(IfFlags::LOOPBACK))
            })
            .find_map(|ia| {
                Some(Src4 {
                    addr: v4_of(&ia)?,
                    ifindex: ia.ifindex(),
                    via: Src4Via::FirstAddress,
                    prefix_len: ia.prefix_len(),
                })
            });
    }
    if v4::is_multicast(dst)
        && let Some(m) = mopts
        && let Ok(Some(ifp)) = m.interface(ifs)
    {
        let ia = ifs
            .first_addr(ifp.index(), Family::Inet)
            .ok_or(SelectError::AddrNotAvailable { addr: None })?;
        return Ok(Src4 {
            addr: v4_of(&ia).ok_or(SelectError::AddrNotAvailable { addr: None })?,
            ifindex: ia.ifindex(),
            via: Src4Via::Multicast,
            prefix_len: ia.prefix_len(),
        });
    }
    found.ok_or(SelectError::AddrNotAvailable { addr: None })
}
