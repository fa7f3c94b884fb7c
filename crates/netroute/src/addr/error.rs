//! [`AddrError`]: every way a value of the `addr` module can be refused.

use std::net::{IpAddr, Ipv6Addr};

use super::{Family, Ipv6Scope, ZoneId};

/// Why an address, prefix, zone or socket address was refused.
///
/// Every constructor and parser of the `addr` module reports bad input with one of these
/// variants and never panics. Messages name the offending input. New variants may be added
/// as later layers need them, hence `#[non_exhaustive]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The text is not an IPv4 or IPv6 address of the expected family.
    #[error("invalid {family} address {input:?}")]
    InvalidAddr {
        /// The address family that was expected.
        family: Family,
        /// The text that failed to parse.
        input: String,
    },
    /// The text after `/` in a prefix is not a plain decimal number.
    #[error("invalid prefix length {input:?}")]
    InvalidPrefixLen {
        /// The text that failed to parse.
        input: String,
    },
    /// A prefix length is larger than the address width (32 for IPv4, 128 for IPv6).
    #[error("prefix length {len} exceeds the maximum of {max}")]
    PrefixLenTooLong {
        /// The length that was given.
        len: u32,
        /// The largest length of the family.
        max: u8,
    },
    /// A canonical prefix was asked for but the address has bits set beyond the length.
    #[error("{prefix} has host bits set (the canonical prefix is {canonical})")]
    HostBitsSet {
        /// The prefix as given, in text.
        prefix: String,
        /// The same prefix with the host bits cleared, in text.
        canonical: String,
    },
    /// A netmask whose one bits are not contiguous from the top (`in_mask2len` fails).
    #[error("netmask {mask} is not contiguous")]
    NonContiguousMask {
        /// The mask that was given.
        mask: IpAddr,
    },
    /// A value of one address family was given where another was required.
    #[error("expected an {expected} address, got {got}")]
    FamilyMismatch {
        /// The family that was required.
        expected: Family,
        /// The family that was given.
        got: Family,
    },
    /// A link-layer address was given where an IP socket address is required.
    #[error("a {family} address has no IP form")]
    NotIp {
        /// The family that was given.
        family: Family,
    },
    /// An IPv6 address whose scope has zones (link-local, interface-local multicast)
    /// carries no zone where one is needed; the zone is never guessed.
    #[error("{addr} needs a zone (for example {addr}%eth0) but has none")]
    ZoneRequired {
        /// The address without a zone.
        addr: Ipv6Addr,
    },
    /// A zone was given for an address whose scope has no zones (global, site-local,
    /// loopback, ...).
    #[error("{addr} cannot carry a zone (got zone {zone})")]
    ZoneNotAllowed {
        /// The address.
        addr: Ipv6Addr,
        /// The zone that was refused.
        zone: ZoneId,
    },
    /// The address already carries a zone that differs from the one the interface
    /// implies (`in6_setscope` on an address of another link).
    #[error("{addr}%{zone} does not belong to zone {expected}")]
    ZoneMismatch {
        /// The address.
        addr: Ipv6Addr,
        /// The zone the address carries.
        zone: ZoneId,
        /// The zone the interface implies.
        expected: ZoneId,
    },
    /// A textual zone (after `%`) is a name the resolver does not know.
    #[error("unknown zone {name:?}")]
    UnknownZone {
        /// The name that was not found.
        name: String,
    },
    /// A textual zone is empty or the number 0 (0 means "no zone" and is not written).
    #[error("invalid zone {input:?}")]
    InvalidZone {
        /// The zone text as given.
        input: String,
    },
    /// A zone was set for a scope that has no zones, or an interface-local zone other
    /// than the interface's own index (`scope6_set` fails with EINVAL).
    #[error("cannot set zone {zone} for {scope} scope")]
    BadScopeZone {
        /// The scope.
        scope: Ipv6Scope,
        /// The zone that was refused.
        zone: ZoneId,
    },
    /// `::1` was scoped to an interface that is not a loopback interface (`in6_setscope`
    /// fails with EINVAL).
    #[error("::1 can only belong to a loopback interface")]
    LoopbackOnNonLoopback,
    /// The unspecified address (`0.0.0.0`, `::`) was given where a specified one is
    /// required (a route's gateway, a source address).
    #[error("{addr} is the unspecified address")]
    Unspecified {
        /// The address.
        addr: IpAddr,
    },
    /// A multicast or broadcast address was given where a unicast one is required.
    #[error("{addr} is not a unicast address")]
    NotUnicast {
        /// The address.
        addr: IpAddr,
    },
    /// A socket address text lacks its port, or the port is not a number in 0..=65535.
    #[error("invalid socket address {input:?}")]
    InvalidSockAddr {
        /// The text that failed to parse.
        input: String,
    },
    /// A link-layer address text is not hex bytes separated by `:`, or is too long.
    #[error("invalid link-layer address {input:?}")]
    InvalidLinkAddr {
        /// The text that failed to parse.
        input: String,
    },
    /// A link-layer address is longer than [`LINK_ADDR_MAX`](super::LINK_ADDR_MAX) bytes.
    #[error("link-layer address of {len} bytes exceeds the maximum of {max}")]
    LinkAddrTooLong {
        /// The length that was given.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message names the offending input.
    #[test]
    fn messages_name_the_input() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let g: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let z = |n| ZoneId::new(n).unwrap();
        let table: Vec<(AddrError, &str)> = vec![
            (
                AddrError::InvalidAddr {
                    family: Family::Inet,
                    input: "1.2.3".into(),
                },
                "invalid IPv4 address \"1.2.3\"",
            ),
            (
                AddrError::InvalidPrefixLen { input: "x".into() },
                "invalid prefix length \"x\"",
            ),
            (
                AddrError::PrefixLenTooLong { len: 33, max: 32 },
                "prefix length 33 exceeds the maximum of 32",
            ),
            (
                AddrError::HostBitsSet {
                    prefix: "192.0.2.1/24".into(),
                    canonical: "192.0.2.0/24".into(),
                },
                "192.0.2.1/24 has host bits set (the canonical prefix is 192.0.2.0/24)",
            ),
            (
                AddrError::NonContiguousMask {
                    mask: "255.0.255.0".parse().unwrap(),
                },
                "netmask 255.0.255.0 is not contiguous",
            ),
            (
                AddrError::FamilyMismatch {
                    expected: Family::Inet6,
                    got: Family::Inet,
                },
                "expected an IPv6 address, got IPv4",
            ),
            (
                AddrError::NotIp {
                    family: Family::Link,
                },
                "a link-layer address has no IP form",
            ),
            (
                AddrError::ZoneRequired { addr: ll },
                "fe80::1 needs a zone (for example fe80::1%eth0) but has none",
            ),
            (
                AddrError::ZoneNotAllowed {
                    addr: g,
                    zone: z(3),
                },
                "2001:db8::1 cannot carry a zone (got zone 3)",
            ),
            (
                AddrError::ZoneMismatch {
                    addr: ll,
                    zone: z(3),
                    expected: z(4),
                },
                "fe80::1%3 does not belong to zone 4",
            ),
            (
                AddrError::UnknownZone {
                    name: "eth9".into(),
                },
                "unknown zone \"eth9\"",
            ),
            (
                AddrError::InvalidZone { input: "0".into() },
                "invalid zone \"0\"",
            ),
            (
                AddrError::BadScopeZone {
                    scope: Ipv6Scope::Global,
                    zone: z(2),
                },
                "cannot set zone 2 for global scope",
            ),
            (
                AddrError::LoopbackOnNonLoopback,
                "::1 can only belong to a loopback interface",
            ),
            (
                AddrError::Unspecified {
                    addr: "::".parse().unwrap(),
                },
                ":: is the unspecified address",
            ),
            (
                AddrError::NotUnicast {
                    addr: "224.0.0.1".parse().unwrap(),
                },
                "224.0.0.1 is not a unicast address",
            ),
            (
                AddrError::InvalidSockAddr {
                    input: "[::1]".into(),
                },
                "invalid socket address \"[::1]\"",
            ),
            (
                AddrError::InvalidLinkAddr { input: "zz".into() },
                "invalid link-layer address \"zz\"",
            ),
            (
                AddrError::LinkAddrTooLong { len: 21, max: 20 },
                "link-layer address of 21 bytes exceeds the maximum of 20",
            ),
        ];
        for (err, want) in table {
            assert_eq!(err.to_string(), want);
        }
    }
}
