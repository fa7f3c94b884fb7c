//! Prefixes (route keys and netmasks) on `ipnet`: the mask helpers of sys/netinet/in.c
//! (`in_len2mask`, `in_mask2len`) and sys/netinet6/in6.c (`in6_prefixlen2mask`,
//! `in6_mask2len`), plus strict and truncating constructors and parsers.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{AddrError, Family};

/// A prefix of one address family: [`Ipv4Net`] or [`Ipv6Net`].
///
/// Lets the routing table be written once for both families. Two ways to build one,
/// named for what they do with bits set beyond the length:
/// [`new_strict`](Self::new_strict) refuses them ([`AddrError::HostBitsSet`]) and
/// [`new_truncating`](Self::new_truncating) clears them. Both return prefixes whose
/// host bits are zero ("canonical"), which is what a route key must be.
pub trait Prefix: Copy + Eq + Ord + Hash + Debug + Display + Sized {
    /// The address type of the family.
    type Addr: Copy + Eq + Ord + Hash + Debug + Display;

    /// The family.
    const FAMILY: Family;

    /// The address width in bits: 32 or 128.
    const MAX_LEN: u8;

    /// The prefix `addr/len`, refused with [`AddrError::HostBitsSet`] if `addr` has
    /// bits set beyond `len`, or [`AddrError::PrefixLenTooLong`] if `len > MAX_LEN`.
    fn new_strict(addr: Self::Addr, len: u8) -> Result<Self, AddrError>;

    /// The prefix `addr/len` with the bits beyond `len` cleared; fails only with
    /// [`AddrError::PrefixLenTooLong`].
    fn new_truncating(addr: Self::Addr, len: u8) -> Result<Self, AddrError>;

    /// The host prefix `addr/MAX_LEN` (a host route's key); cannot fail.
    fn host(addr: Self::Addr) -> Self;

    /// The prefix's address (its network address, for canonical prefixes).
    fn prefix_addr(&self) -> Self::Addr;

    /// The prefix length.
    fn prefix_len(&self) -> u8;

    /// Whether no bits beyond the length are set.
    fn is_canonical(&self) -> bool;

    /// Whether `addr` lies inside the prefix (its first `len` bits match).
    fn contains_addr(&self, addr: Self::Addr) -> bool;

    /// The netmask of length `len` (`in_len2mask` / `in6_prefixlen2mask`); fails with
    /// [`AddrError::PrefixLenTooLong`].
    fn mask_from_len(len: u8) -> Result<Self::Addr, AddrError>;

    /// The length of netmask `mask` (`in_mask2len`); fails with
    /// [`AddrError::NonContiguousMask`] if its one bits are not contiguous from the top
    /// (NetBSD's `in6_mask2len` returns -1 there).
    fn len_from_mask(mask: Self::Addr) -> Result<u8, AddrError>;

    /// The prefix `addr` & `mask`, the key/mask pair a route message carries; fails on a
    /// non-contiguous mask or host bits, like [`new_strict`](Self::new_strict).
    fn with_mask_strict(addr: Self::Addr, mask: Self::Addr) -> Result<Self, AddrError> {
        Self::new_strict(addr, Self::len_from_mask(mask)?)
    }

    /// Parses `addr/len` or a bare `addr` (a host prefix), refusing host bits.
    ///
    /// Errors: [`AddrError::InvalidAddr`], [`AddrError::InvalidPrefixLen`] (not plain
    /// decimal digits), [`AddrError::PrefixLenTooLong`], [`AddrError::HostBitsSet`].
    fn parse_strict(s: &str) -> Result<Self, AddrError>;

    /// Parses `addr/len` or a bare `addr` and clears host bits (`192.0.2.1/24` is
    /// `192.0.2.0/24`); errors as [`parse_strict`](Self::parse_strict) except
    /// [`AddrError::HostBitsSet`].
    fn parse_truncating(s: &str) -> Result<Self, AddrError>;
}

/// Splits `addr[/len]` and parses the length as plain decimal digits.
fn split_len(s: &str, max: u8) -> Result<(&str, Option<u8>), AddrError> {
    let Some((addr, len)) = s.split_once('/') else {
        return Ok((s, None));
    };
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::InvalidPrefixLen {
            input: len.to_owned(),
        });
    }
    let n: u32 = len.parse().map_err(|_| AddrError::InvalidPrefixLen {
        input: len.to_owned(),
    })?;
    match u8::try_from(n) {
        Ok(n) if n <= max => Ok((addr, Some(n))),
        _ => Err(AddrError::PrefixLenTooLong { len: n, max }),
    }
}

fn too_long(len: u8, max: u8) -> AddrError {
    AddrError::PrefixLenTooLong {
        len: u32::from(len),
        max,
    }
}

macro_rules! impl_prefix {
    ($net:ty, $addr:ty, $bits:ty, $family:expr, $max:expr) => {
        impl Prefix for $net {
            type Addr = $addr;
            const FAMILY: Family = $family;
            const MAX_LEN: u8 = $max;

            fn new_strict(addr: $addr, len: u8) -> Result<Self, AddrError> {
                let net = Self::new_truncating(addr, len)?;
                if net.addr() != addr {
                    return Err(AddrError::HostBitsSet {
                        prefix: format!("{addr}/{len}"),
                        canonical: net.to_string(),
                    });
                }
                Ok(net)
            }

            fn new_truncating(addr: $addr, len: u8) -> Result<Self, AddrError> {
                let mask = <$bits>::from(Self::mask_from_len(len)?);
                let addr = <$addr>::from(<$bits>::from(addr) & mask);
                <$net>::new(addr, len).map_err(|_| too_long(len, $max))
            }

            fn host(addr: $addr) -> Self {
                <$net>::from(addr)
            }

            fn prefix_addr(&self) -> $addr {
                self.addr()
            }

            fn prefix_len(&self) -> u8 {
                <$net>::prefix_len(self)
            }

            fn is_canonical(&self) -> bool {
                self.addr() == self.network()
            }

            fn contains_addr(&self, addr: $addr) -> bool {
                self.contains(&addr)
            }

            fn mask_from_len(len: u8) -> Result<$addr, AddrError> {
                if len > $max {
                    return Err(too_long(len, $max));
                }
                let ones = <$bits>::MAX.checked_shl(u32::from($max - len)).unwrap_or(0);
                Ok(<$addr>::from(ones))
            }

            fn len_from_mask(mask: $addr) -> Result<u8, AddrError> {
                let bits = <$bits>::from(mask);
                let len = bits.leading_ones();
                // Contiguous iff nothing is left after the leading ones.
                if bits.checked_shl(len).unwrap_or(0) != 0 {
                    return Err(AddrError::NonContiguousMask {
                        mask: IpAddr::from(mask),
                    });
                }
                // `len <= MAX_LEN`, which fits in a u8.
                Ok(len as u8)
            }

            fn parse_strict(s: &str) -> Result<Self, AddrError> {
                let (addr, len) = parse_parts::<$addr>(s, $family, $max)?;
                Self::new_strict(addr, len)
            }

            fn parse_truncating(s: &str) -> Result<Self, AddrError> {
                let (addr, len) = parse_parts::<$addr>(s, $family, $max)?;
                Self::new_truncating(addr, len)
            }
        }
    };
}

fn parse_parts<A: std::str::FromStr>(
    s: &str,
    family: Family,
    max: u8,
) -> Result<(A, u8), AddrError> {
    let (addr, len) = split_len(s, max)?;
    let addr = addr.parse::<A>().map_err(|_| AddrError::InvalidAddr {
        family,
        input: s.to_owned(),
    })?;
    Ok((addr, len.unwrap_or(max)))
}

impl_prefix!(Ipv4Net, Ipv4Addr, u32, Family::Inet, 32);
impl_prefix!(Ipv6Net, Ipv6Addr, u128, Family::Inet6, 128);

/// Parses an IPv4 or IPv6 prefix (`a.b.c.d/len`, `2001:db8::/32`, or a bare address
/// for a host prefix), refusing host bits; see [`Prefix::parse_strict`]. The family is
/// IPv6 if the text contains `:`.
pub fn parse_prefix_strict(s: &str) -> Result<IpNet, AddrError> {
    if s.contains(':') {
        Ipv6Net::parse_strict(s).map(IpNet::V6)
    } else {
        Ipv4Net::parse_strict(s).map(IpNet::V4)
    }
}

/// Parses an IPv4 or IPv6 prefix and clears host bits; see
/// [`Prefix::parse_truncating`].
pub fn parse_prefix_truncating(s: &str) -> Result<IpNet, AddrError> {
    if s.contains(':') {
        Ipv6Net::parse_truncating(s).map(IpNet::V6)
    } else {
        Ipv4Net::parse_truncating(s).map(IpNet::V4)
    }
}

/// The prefix `addr` & `mask` for an address and mask of either family, refusing a
/// family mix ([`AddrError::FamilyMismatch`]), a non-contiguous mask or host bits.
pub fn prefix_from_mask_strict(addr: IpAddr, mask: IpAddr) -> Result<IpNet, AddrError> {
    match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => Ipv4Net::with_mask_strict(a, m).map(IpNet::V4),
        (IpAddr::V6(a), IpAddr::V6(m)) => Ipv6Net::with_mask_strict(a, m).map(IpNet::V6),
        (IpAddr::V4(_), IpAddr::V6(_)) => Err(AddrError::FamilyMismatch {
            expected: Family::Inet,
            got: Family::Inet6,
        }),
        (IpAddr::V6(_), IpAddr::V4(_)) => Err(AddrError::FamilyMismatch {
            expected: Family::Inet6,
            got: Family::Inet,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One body for both families: `hosty` has host bits under `/len`, `net` is its
    /// canonical network.
    fn strict_and_truncating<P: Prefix>(hosty: &str, len: u8, net: &str)
    where
        P::Addr: std::str::FromStr,
        <P::Addr as std::str::FromStr>::Err: Debug,
    {
        let addr: P::Addr = hosty.parse().unwrap();
        let net_addr: P::Addr = net.parse().unwrap();
        let want = P::new_strict(net_addr, len).unwrap();
        assert!(want.is_canonical());
        assert_eq!(P::new_truncating(addr, len), Ok(want));
        assert_eq!(
            P::new_strict(addr, len),
            Err(AddrError::HostBitsSet {
                prefix: format!("{hosty}/{len}"),
                canonical: format!("{net}/{len}"),
            })
        );
        assert_eq!(P::parse_truncating(&format!("{hosty}/{len}")), Ok(want));
        assert!(P::parse_strict(&format!("{hosty}/{len}")).is_err());
        assert_eq!(P::parse_strict(&format!("{net}/{len}")), Ok(want));
        assert!(want.contains_addr(addr));
        assert_eq!(want.prefix_len(), len);
        assert_eq!(want.prefix_addr(), net_addr);
        // a host prefix
        let host = P::parse_strict(hosty).unwrap();
        assert_eq!(host, P::host(addr));
        assert_eq!(host.prefix_len(), P::MAX_LEN);
        assert!(host.contains_addr(addr));
        // too long
        let over = P::MAX_LEN + 1;
        let too_long = AddrError::PrefixLenTooLong {
            len: u32::from(over),
            max: P::MAX_LEN,
        };
        assert_eq!(P::new_strict(addr, over), Err(too_long.clone()));
        assert_eq!(P::new_truncating(addr, over), Err(too_long.clone()));
        assert_eq!(P::mask_from_len(over), Err(too_long.clone()));
        assert_eq!(P::parse_strict(&format!("{net}/{over}")), Err(too_long));
        // bad length text
        for bad in ["", "+8", "-1", "8 ", "0x8", "1000", "08a"] {
            assert_eq!(
                P::parse_strict(&format!("{net}/{bad}")),
                Err(AddrError::InvalidPrefixLen { input: bad.into() }),
                "{bad:?}"
            );
        }
        // bad address text
        let text = format!("x{net}/{len}");
        assert_eq!(
            P::parse_strict(&text),
            Err(AddrError::InvalidAddr {
                family: P::FAMILY,
                input: text.clone()
            })
        );
    }

    #[test]
    fn both_families() {
        strict_and_truncating::<Ipv4Net>("192.0.2.77", 24, "192.0.2.0");
        strict_and_truncating::<Ipv4Net>("10.1.2.3", 8, "10.0.0.0");
        strict_and_truncating::<Ipv4Net>("255.255.255.255", 0, "0.0.0.0");
        strict_and_truncating::<Ipv6Net>("2001:db8::1", 32, "2001:db8::");
        strict_and_truncating::<Ipv6Net>("fe80::1:2", 64, "fe80::");
        strict_and_truncating::<Ipv6Net>("2001:db8::1", 127, "2001:db8::");
    }

    #[test]
    fn mask_len_table() {
        let v4: &[(u8, &str)] = &[
            (0, "0.0.0.0"),
            (1, "128.0.0.0"),
            (8, "255.0.0.0"),
            (23, "255.255.254.0"),
            (32, "255.255.255.255"),
        ];
        for &(len, mask) in v4 {
            let mask: Ipv4Addr = mask.parse().unwrap();
            assert_eq!(Ipv4Net::mask_from_len(len), Ok(mask));
            assert_eq!(Ipv4Net::len_from_mask(mask), Ok(len));
        }
        let v6: &[(u8, &str)] = &[
            (0, "::"),
            (10, "ffc0::"),
            (64, "ffff:ffff:ffff:ffff::"),
            (128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ];
        for &(len, mask) in v6 {
            let mask: Ipv6Addr = mask.parse().unwrap();
            assert_eq!(Ipv6Net::mask_from_len(len), Ok(mask));
            assert_eq!(Ipv6Net::len_from_mask(mask), Ok(len));
        }
        for bad in ["255.0.255.0", "0.0.0.1", "127.0.0.0"] {
            let m: Ipv4Addr = bad.parse().unwrap();
            assert_eq!(
                Ipv4Net::len_from_mask(m),
                Err(AddrError::NonContiguousMask { mask: m.into() })
            );
        }
        let m: Ipv6Addr = "ffff::1".parse().unwrap();
        assert_eq!(
            Ipv6Net::len_from_mask(m),
            Err(AddrError::NonContiguousMask { mask: m.into() })
        );
    }

    #[test]
    fn with_mask_and_mixed_families() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            prefix_from_mask_strict(a("192.0.2.0"), a("255.255.255.0")),
            Ok("192.0.2.0/24".parse().unwrap())
        );
        assert_eq!(
            prefix_from_mask_strict(a("2001:db8::"), a("ffff:ffff::")),
            Ok("2001:db8::/32".parse().unwrap())
        );
        assert_eq!(
            prefix_from_mask_strict(a("192.0.2.0"), a("ffff::")),
            Err(AddrError::FamilyMismatch {
                expected: Family::Inet,
                got: Family::Inet6
            })
        );
        assert_eq!(
            prefix_from_mask_strict(a("::"), a("255.0.0.0")),
            Err(AddrError::FamilyMismatch {
                expected: Family::Inet6,
                got: Family::Inet
            })
        );
        assert!(matches!(
            prefix_from_mask_strict(a("192.0.2.1"), a("255.255.255.0")),
            Err(AddrError::HostBitsSet { .. })
        ));
        assert!(matches!(
            prefix_from_mask_strict(a("192.0.2.0"), a("255.0.255.0")),
            Err(AddrError::NonContiguousMask { .. })
        ));
    }

    #[test]
    fn parse_either_family() {
        /// (input, strict result, truncating result); `Err(())` for any error.
        type Row<'a> = (&'a str, Result<&'a str, ()>, Result<&'a str, ()>);
        let table: &[Row<'_>] = &[
            ("192.0.2.0/24", Ok("192.0.2.0/24"), Ok("192.0.2.0/24")),
            ("192.0.2.9/24", Err(()), Ok("192.0.2.0/24")),
            ("192.0.2.9", Ok("192.0.2.9/32"), Ok("192.0.2.9/32")),
            ("0.0.0.0/0", Ok("0.0.0.0/0"), Ok("0.0.0.0/0")),
            ("2001:db8::/32", Ok("2001:db8::/32"), Ok("2001:db8::/32")),
            ("2001:db8::1/32", Err(()), Ok("2001:db8::/32")),
            ("::1", Ok("::1/128"), Ok("::1/128")),
            ("::/0", Ok("::/0"), Ok("::/0")),
            ("2001:db8::/129", Err(()), Err(())),
            ("192.0.2.0/33", Err(()), Err(())),
            ("192.0.2.0/24/8", Err(()), Err(())),
            ("fe80::%eth0/64", Err(()), Err(())),
            ("", Err(()), Err(())),
        ];
        for &(text, strict, trunc) in table {
            let norm = |r: Result<IpNet, AddrError>| r.map(|n| n.to_string()).map_err(|_| ());
            let own = |r: Result<&str, ()>| r.map(str::to_owned);
            assert_eq!(norm(parse_prefix_strict(text)), own(strict), "{text}");
            assert_eq!(norm(parse_prefix_truncating(text)), own(trunc), "{text}");
        }
    }

    proptest! {
        #[test]
        fn mask_len_round_trip_v4(len in 0..=32u8) {
            let m = Ipv4Net::mask_from_len(len).unwrap();
            prop_assert_eq!(Ipv4Net::len_from_mask(m), Ok(len));
        }

        #[test]
        fn mask_len_round_trip_v6(len in 0..=128u8) {
            let m = Ipv6Net::mask_from_len(len).unwrap();
            prop_assert_eq!(Ipv6Net::len_from_mask(m), Ok(len));
        }

        #[test]
        fn any_mask_is_contiguous_or_refused(bits in any::<u32>()) {
            let m = Ipv4Addr::from(bits);
            match Ipv4Net::len_from_mask(m) {
                Ok(len) => prop_assert_eq!(Ipv4Net::mask_from_len(len), Ok(m)),
                Err(e) => prop_assert_eq!(e, AddrError::NonContiguousMask { mask: m.into() }),
            }
        }

        #[test]
        fn truncating_is_canonical_and_contains(bits in any::<u128>(), len in 0..=128u8) {
            let a = Ipv6Addr::from(bits);
            let p = Ipv6Net::new_truncating(a, len).unwrap();
            prop_assert!(p.is_canonical());
            prop_assert!(p.contains_addr(a));
            prop_assert_eq!(Ipv6Net::new_strict(p.prefix_addr(), len), Ok(p));
            prop_assert_eq!(Ipv6Net::parse_strict(&p.to_string()), Ok(p));
        }

        #[test]
        fn print_parse_round_trip_v4(bits in any::<u32>(), len in 0..=32u8) {
            let p = Ipv4Net::new_truncating(Ipv4Addr::from(bits), len).unwrap();
            prop_assert_eq!(Ipv4Net::parse_strict(&p.to_string()), Ok(p));
            prop_assert_eq!(parse_prefix_strict(&p.to_string()), Ok(IpNet::V4(p)));
        }
    }
}
