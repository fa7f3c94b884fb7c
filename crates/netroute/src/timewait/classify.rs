//! MSLT classification: which [`MslClass`] a connection gets (NetBSD `tcp_established` in
//! tcp_subr.c: loopback local address → loop, `in_localaddr(faddr)` → local, else remote).
//!
//! The table does not know the stack's interfaces; the caller answers two questions
//! through [`Locality`] and [`classify`] applies the rules the same way for IPv4, IPv6
//! and IPv4-mapped IPv6 addresses.
//!
//! Differences from NetBSD: NetBSD tests only `inp_laddr == INADDR_LOOPBACK` (or `::1`) for
//! the loopback class, so a connection to one of our own non-loopback addresses counts as
//! "local"; here a peer that is one of our own addresses is loopback too (the peer is this
//! host, which is what the class means; FreeBSD D50830 fixed the same confusion). An
//! IPv4-mapped address is classified as the IPv4 address it carries, so a v4 peer reached
//! through a v6 socket gets the same class as through a v4 socket.

use std::net::IpAddr;

use super::MslClass;

/// What the stack knows about addresses, for classification.
pub trait Locality {
    /// Is `a` one of this host's own addresses (any interface)? Called with plain IPv4 or
    /// IPv6 addresses, never IPv4-mapped ones.
    fn is_own_address(&self, a: IpAddr) -> bool;
    /// Is `a` on a subnet attached to one of our interfaces (NetBSD `in_localaddr` /
    /// `in6_localaddr`)? Called with plain addresses, never IPv4-mapped ones.
    fn is_on_link(&self, a: IpAddr) -> bool;
}

/// `a` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into IPv4.
pub fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The class of a connection between our `local` address and `peer`: `Loopback` if either
/// is a loopback address, they are equal, or the peer is one of our own addresses;
/// `Local` if the peer is on an attached subnet; else `Remote`. IPv4-mapped addresses are
/// classified as their IPv4 address.
pub fn classify(loc: &impl Locality, local: IpAddr, peer: IpAddr) -> MslClass {
    let (local, peer) = (unmap(local), unmap(peer));
    if local.is_loopback() || peer.is_loopback() || local == peer || loc.is_own_address(peer) {
        MslClass::Loopback
    } else if loc.is_on_link(peer) {
        MslClass::Local
    } else {
        MslClass::Remote
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// One interface 192.0.2.1/24 and 2001:db8:1::1/64, plus loopback.
    struct Host;

    impl Locality for Host {
        fn is_own_address(&self, a: IpAddr) -> bool {
            assert!(
                !matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()),
                "mapped address leaked to the stack: {a}"
            );
            a == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
                || a == "2001:db8:1::1".parse::<IpAddr>().unwrap()
        }
        fn is_on_link(&self, a: IpAddr) -> bool {
            match a {
                IpAddr::V4(v4) => v4.octets()[..3] == [192, 0, 2],
                IpAddr::V6(v6) => v6.segments()[..4] == [0x2001, 0xdb8, 1, 0],
            }
        }
    }

    fn c(local: &str, peer: &str) -> MslClass {
        classify(&Host, local.parse().unwrap(), peer.parse().unwrap())
    }

    #[test]
    fn ipv4() {
        assert_eq!(c("127.0.0.1", "127.0.0.1"), MslClass::Loopback);
        assert_eq!(c("127.0.0.1", "127.0.0.2"), MslClass::Loopback);
        // Our own non-loopback address on both ends: the peer is this host.
        assert_eq!(c("192.0.2.1", "192.0.2.1"), MslClass::Loopback);
        assert_eq!(c("192.0.2.1", "192.0.2.77"), MslClass::Local);
        assert_eq!(c("192.0.2.1", "198.51.100.7"), MslClass::Remote);
    }

    #[test]
    fn ipv6() {
        assert_eq!(c("::1", "::1"), MslClass::Loopback);
        assert_eq!(c("2001:db8:1::1", "2001:db8:1::1"), MslClass::Loopback);
        assert_eq!(c("2001:db8:1::1", "2001:db8:1::42"), MslClass::Local);
        assert_eq!(c("2001:db8:1::1", "2001:db8:2::42"), MslClass::Remote);
    }

    #[test]
    fn ipv4_mapped_is_classified_as_ipv4() {
        assert_eq!(
            c("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
            MslClass::Loopback
        );
        assert_eq!(
            c("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            MslClass::Loopback
        );
        assert_eq!(c("::ffff:192.0.2.1", "::ffff:192.0.2.9"), MslClass::Local);
        assert_eq!(
            c("::ffff:192.0.2.1", "::ffff:198.51.100.7"),
            MslClass::Remote
        );
        // Mixed spelling of the same peer gives the same class.
        assert_eq!(
            c("::ffff:192.0.2.1", "192.0.2.9"),
            c("192.0.2.1", "192.0.2.9")
        );
        assert_eq!(
            unmap(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
    }
}
