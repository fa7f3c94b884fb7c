//! Witness types: an address that passed a check carries the fact in its type (after
//! Fuchsia netstack3's `SpecifiedAddr` and `UnicastAddr`), so later code cannot forget
//! the check.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;

use super::AddrError;

/// An address that is not the unspecified address (`0.0.0.0`, `::`).
///
/// Routes refuse unspecified gateways and sockets unspecified destinations by taking
/// this type. `A` is [`Ipv4Addr`], [`Ipv6Addr`] or [`IpAddr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecifiedAddr<A>(A);

impl<A: Copy + Into<IpAddr>> SpecifiedAddr<A> {
    /// `addr`, or [`AddrError::Unspecified`] if it is the unspecified address.
    pub fn new(addr: A) -> Result<Self, AddrError> {
        let ip: IpAddr = addr.into();
        if ip.is_unspecified() {
            return Err(AddrError::Unspecified { addr: ip });
        }
        Ok(Self(addr))
    }

    /// The address.
    pub fn get(self) -> A {
        self.0
    }
}

/// A unicast address: specified, not multicast and, for IPv4, not the limited
/// broadcast `255.255.255.255`.
///
/// Source address selection only yields, and only accepts, this type. Whether an IPv4
/// address is a subnet's directed broadcast depends on the interface configuration and
/// is not checked here. `A` is [`Ipv4Addr`], [`Ipv6Addr`] or [`IpAddr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnicastAddr<A>(A);

impl<A: Copy + Into<IpAddr>> UnicastAddr<A> {
    /// `addr`, or [`AddrError::Unspecified`] / [`AddrError::NotUnicast`].
    pub fn new(addr: A) -> Result<Self, AddrError> {
        let ip: IpAddr = addr.into();
        SpecifiedAddr::new(addr)?;
        let not_unicast = match ip {
            IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
            IpAddr::V6(a) => a.is_multicast(),
        };
        if not_unicast {
            return Err(AddrError::NotUnicast { addr: ip });
        }
        Ok(Self(addr))
    }

    /// The address.
    pub fn get(self) -> A {
        self.0
    }

    /// The same address as a [`SpecifiedAddr`] (every unicast address is specified).
    pub fn to_specified(self) -> SpecifiedAddr<A> {
        SpecifiedAddr(self.0)
    }
}

macro_rules! witness_common {
    ($w:ident) => {
        impl<A> Deref for $w<A> {
            type Target = A;
            fn deref(&self) -> &A {
                &self.0
            }
        }

        impl<A: fmt::Display> fmt::Display for $w<A> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$w<Ipv4Addr>> for $w<IpAddr> {
            fn from(a: $w<Ipv4Addr>) -> Self {
                $w(IpAddr::V4(a.0))
            }
        }

        impl From<$w<Ipv6Addr>> for $w<IpAddr> {
            fn from(a: $w<Ipv6Addr>) -> Self {
                $w(IpAddr::V6(a.0))
            }
        }
    };
}

witness_common!(SpecifiedAddr);
witness_common!(UnicastAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        // (address, specified?, unicast?)
        let table: &[(&str, bool, bool)] = &[
            ("0.0.0.0", false, false),
            ("::", false, false),
            ("192.0.2.1", true, true),
            ("127.0.0.1", true, true),
            ("224.0.0.1", true, false),
            ("255.255.255.255", true, false),
            ("2001:db8::1", true, true),
            ("fe80::1", true, true),
            ("ff02::1", true, false),
        ];
        for &(text, specified, unicast) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(SpecifiedAddr::new(ip).is_ok(), specified, "{text}");
            assert_eq!(UnicastAddr::new(ip).is_ok(), unicast, "{text}");
            let err = UnicastAddr::new(ip).err();
            match (specified, unicast) {
                (false, _) => assert_eq!(err, Some(AddrError::Unspecified { addr: ip })),
                (true, false) => assert_eq!(err, Some(AddrError::NotUnicast { addr: ip })),
                (true, true) => assert_eq!(err, None),
            }
        }
    }

    #[test]
    fn per_family_and_widening() {
        let v4 = UnicastAddr::new(Ipv4Addr::new(192, 0, 2, 1)).unwrap();
        let wide: UnicastAddr<IpAddr> = v4.into();
        assert_eq!(wide.get(), IpAddr::V4(*v4));
        assert_eq!(v4.to_specified().get(), v4.get());
        assert_eq!(v4.to_string(), "192.0.2.1");
        let v6 = SpecifiedAddr::new(Ipv6Addr::LOCALHOST).unwrap();
        let wide: SpecifiedAddr<IpAddr> = v6.into();
        assert_eq!(*wide, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            SpecifiedAddr::new(Ipv6Addr::UNSPECIFIED),
            Err(AddrError::Unspecified {
                addr: Ipv6Addr::UNSPECIFIED.into()
            })
        );
    }
}
