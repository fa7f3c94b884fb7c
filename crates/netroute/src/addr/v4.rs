//! IPv4 address classes the routing code checks (sys/netinet/in.h `IN_*` macros), and
//! IPv4-mapped IPv6 addresses (`IN6_IS_ADDR_V4MAPPED`).

use std::net::{Ipv4Addr, Ipv6Addr};

/// In the loopback network `127.0.0.0/8` (`IN_LOOPBACK`); packets to it never leave
/// the host.
pub const fn is_loopback_net(a: Ipv4Addr) -> bool {
    a.octets()[0] == 127
}

/// A multicast address, `224.0.0.0/4` (`IN_MULTICAST`).
pub const fn is_multicast(a: Ipv4Addr) -> bool {
    a.octets()[0] & 0xf0 == 0xe0
}

/// The limited broadcast address `255.255.255.255` (`INADDR_BROADCAST`).
pub const fn is_limited_broadcast(a: Ipv4Addr) -> bool {
    u32::from_be_bytes(a.octets()) == u32::MAX
}

/// A link-local address, `169.254.0.0/16` (`IN_LINKLOCAL`, RFC 3927); never
/// forwarded.
pub const fn is_link_local(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 169 && o[1] == 254
}

/// In "this network", `0.0.0.0/8` (`IN_ZERONET`); invalid as a source to forward or
/// as a destination.
pub const fn is_zeronet(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0
}

/// In the former class E, `240.0.0.0/4` (`IN_EXPERIMENTAL`, `IN_BADCLASS`), which
/// includes `255.255.255.255`; NetBSD refuses to forward these.
pub const fn is_experimental(a: Ipv4Addr) -> bool {
    a.octets()[0] & 0xf0 == 0xf0
}

/// The classful network length of `a` (`IN_CLASSA/B/C_NET`): 8, 16 or 24, and `None`
/// for class D (multicast) and E. NetBSD's `in_ifinit` uses it as the netmask when
/// an address is configured without one.
pub const fn classful_prefix_len(a: Ipv4Addr) -> Option<u8> {
    let first = a.octets()[0];
    if first & 0x80 == 0 {
        Some(8)
    } else if first & 0xc0 == 0x80 {
        Some(16)
    } else if first & 0xe0 == 0xc0 {
        Some(24)
    } else {
        None
    }
}

/// The IPv4-mapped IPv6 address `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
pub const fn to_v4_mapped(a: Ipv4Addr) -> Ipv6Addr {
    a.to_ipv6_mapped()
}

/// The IPv4 address inside an IPv4-mapped address `::ffff:a.b.c.d`, `None` for any
/// other address (`IN6_IS_ADDR_V4MAPPED`). IPv4-compatible `::a.b.c.d` is not mapped.
pub const fn from_v4_mapped(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    a.to_ipv4_mapped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        /// addr, loopback, multicast, bcast, linklocal, zeronet, experimental, classful
        type Row<'a> = (&'a str, bool, bool, bool, bool, bool, bool, Option<u8>);
        #[rustfmt::skip]
        let table: &[Row<'_>] = &[
            ("0.0.0.0",         false, false, false, false, true,  false, Some(8)),
            ("0.1.2.3",         false, false, false, false, true,  false, Some(8)),
            ("10.0.0.1",        false, false, false, false, false, false, Some(8)),
            ("126.255.255.255", false, false, false, false, false, false, Some(8)),
            ("127.0.0.1",       true,  false, false, false, false, false, Some(8)),
            ("127.255.0.9",     true,  false, false, false, false, false, Some(8)),
            ("128.0.0.1",       false, false, false, false, false, false, Some(16)),
            ("169.254.1.1",     false, false, false, true,  false, false, Some(16)),
            ("169.253.1.1",     false, false, false, false, false, false, Some(16)),
            ("192.0.2.1",       false, false, false, false, false, false, Some(24)),
            ("223.255.255.0",   false, false, false, false, false, false, Some(24)),
            ("224.0.0.1",       false, true,  false, false, false, false, None),
            ("239.255.255.255", false, true,  false, false, false, false, None),
            ("240.0.0.1",       false, false, false, false, false, true,  None),
            ("255.255.255.255", false, false, true,  false, false, true,  None),
        ];
        for &(text, lo, mc, bc, ll, zn, ex, cl) in table {
            let a: Ipv4Addr = text.parse().unwrap();
            assert_eq!(is_loopback_net(a), lo, "{text}");
            assert_eq!(is_multicast(a), mc, "{text}");
            assert_eq!(is_limited_broadcast(a), bc, "{text}");
            assert_eq!(is_link_local(a), ll, "{text}");
            assert_eq!(is_zeronet(a), zn, "{text}");
            assert_eq!(is_experimental(a), ex, "{text}");
            assert_eq!(classful_prefix_len(a), cl, "{text}");
        }
    }

    #[test]
    fn mapped() {
        let a = Ipv4Addr::new(192, 0, 2, 1);
        let m = to_v4_mapped(a);
        assert_eq!(m, "::ffff:192.0.2.1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(from_v4_mapped(&m), Some(a));
        let compat: Ipv6Addr = "::192.0.2.1".parse().unwrap();
        assert_eq!(from_v4_mapped(&compat), None);
        assert_eq!(from_v4_mapped(&Ipv6Addr::LOCALHOST), None);
    }
}
