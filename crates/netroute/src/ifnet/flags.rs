//! Interface flags (`IFF_*` of sys/net/if.h) and IPv6 address flags (`IN6_IFF_*` of
//! sys/netinet6/in6_var.h), as `bitflags` types with NetBSD's bit values.

use bitflags::bitflags;

bitflags! {
    /// Interface flags (`if_flags`, `IFF_*`), with NetBSD's values.
    ///
    /// Guarantees: the bit values are NetBSD's, so a value can be exchanged with code
    /// that speaks `if_flags`. The stack-file names are the lower-case flag names
    /// ([`IfFlags::from_names`], [`IfFlags::names`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct IfFlags: u32 {
        /// `IFF_UP`: administratively up.
        const UP = 0x0001;
        /// `IFF_BROADCAST`: the broadcast address is valid.
        const BROADCAST = 0x0002;
        /// `IFF_DEBUG`.
        const DEBUG = 0x0004;
        /// `IFF_LOOPBACK`: a loopback interface (may own `::1`, `127/8`).
        const LOOPBACK = 0x0008;
        /// `IFF_POINTOPOINT`: a point-to-point link (addresses have a destination).
        const POINTOPOINT = 0x0010;
        /// `IFF_RUNNING`: resources allocated, the driver is running.
        const RUNNING = 0x0040;
        /// `IFF_NOARP`.
        const NOARP = 0x0080;
        /// `IFF_PROMISC`.
        const PROMISC = 0x0100;
        /// `IFF_ALLMULTI`.
        const ALLMULTI = 0x0200;
        /// `IFF_SIMPLEX`: cannot hear its own transmissions.
        const SIMPLEX = 0x0800;
        /// `IFF_MULTICAST`: supports multicast.
        const MULTICAST = 0x8000;
    }
}

bitflags! {
    /// IPv6 address flags (`ia6_flags`, `IN6_IFF_*`), with NetBSD's values.
    ///
    /// Guarantees: NetBSD's bit values for the flags NetBSD has; `HOME` (KAME's Mobile
    /// IPv6 home address, absent from NetBSD's in6_var.h) uses a bit NetBSD leaves free.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct In6Flags: u32 {
        /// `IN6_IFF_ANYCAST`: an anycast address (never a source).
        const ANYCAST = 0x01;
        /// `IN6_IFF_TENTATIVE`: duplicate address detection in progress.
        const TENTATIVE = 0x02;
        /// `IN6_IFF_DUPLICATED`: DAD found a duplicate; the address is unusable.
        const DUPLICATED = 0x04;
        /// `IN6_IFF_DETACHED`: the prefix's router went away (may be unreachable).
        const DETACHED = 0x08;
        /// `IN6_IFF_DEPRECATED`: preferred lifetime expired; avoid as a source.
        const DEPRECATED = 0x10;
        /// `IN6_IFF_NODAD`: skip duplicate address detection.
        const NODAD = 0x20;
        /// `IN6_IFF_AUTOCONF`: configured by stateless autoconfiguration.
        const AUTOCONF = 0x40;
        /// `IN6_IFF_TEMPORARY`: an RFC 8981 temporary (privacy) address.
        const TEMPORARY = 0x80;
        /// Home address (Mobile IPv6, KAME `IN6_IFF_HOME`); not in NetBSD.
        const HOME = 0x100;
    }
}

macro_rules! names_impl {
    ($t:ty) => {
        impl $t {
            /// The lower-case names of the set flags (the stack-file form), in bit order.
            pub fn names(self) -> Vec<String> {
                self.iter_names()
                    .map(|(n, _)| n.to_ascii_lowercase())
                    .collect()
            }

            /// Parses lower-case flag names; `Err(name)` names the first unknown one.
            pub fn from_names<'a>(
                names: impl IntoIterator<Item = &'a str>,
            ) -> Result<Self, String> {
                let mut out = Self::empty();
                for n in names {
                    match Self::from_name(&n.to_ascii_uppercase()) {
                        Some(f) if n.bytes().all(|b| !b.is_ascii_uppercase()) => out |= f,
                        _ => return Err(n.to_owned()),
                    }
                }
                Ok(out)
            }
        }
    };
}
names_impl!(IfFlags);
names_impl!(In6Flags);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbsd_values_and_names() {
        assert_eq!(IfFlags::UP.bits(), 0x1);
        assert_eq!(IfFlags::MULTICAST.bits(), 0x8000);
        assert_eq!(In6Flags::TEMPORARY.bits(), 0x80);
        let f = IfFlags::UP | IfFlags::POINTOPOINT | IfFlags::MULTICAST;
        assert_eq!(f.names(), ["up", "pointopoint", "multicast"]);
        assert_eq!(
            IfFlags::from_names(["up", "pointopoint", "multicast"]),
            Ok(f)
        );
        assert_eq!(IfFlags::from_names(["up", "bogus"]), Err("bogus".into()));
        assert_eq!(IfFlags::from_names(["UP"]), Err("UP".into()));
        let a = In6Flags::from_names(["tentative", "nodad", "home"]).unwrap();
        assert_eq!(a, In6Flags::TENTATIVE | In6Flags::NODAD | In6Flags::HOME);
    }
}
