//! [`ScopedAddr`]: an IPv6 address with its zone kept beside it, and the text forms
//! `fe80::1%eth0` / `fe80::1%3` (RFC 4007 §11).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use super::{AddrError, Family, Ipv6Scope, ScopeZones, ZoneId, requires_zone, scope_of};

/// Maps a zone name (an interface name such as `eth0`) to its zone.
///
/// Only the interface table knows names, so parsers take a resolver from the caller.
/// Closures `Fn(&str) -> Option<ZoneId>` are resolvers (they accept every numeric
/// zone).
pub trait ZoneResolver {
    /// The zone named `name`, or `None` if no such name exists. Never called with an
    /// all-digit name: those are zone numbers.
    fn resolve_zone(&self, name: &str) -> Option<ZoneId>;

    /// Whether the numeric zone `zone` (`%3`) exists. The default accepts every zone;
    /// an interface table refuses numbers that name no interface, as NetBSD's
    /// `sa6_embedscope` does (ENXIO). A refused number is
    /// [`AddrError::UnknownZone`].
    fn knows_zone(&self, zone: ZoneId) -> bool {
        let _ = zone;
        true
    }
}

impl<F: Fn(&str) -> Option<ZoneId>> ZoneResolver for F {
    fn resolve_zone(&self, name: &str) -> Option<ZoneId> {
        self(name)
    }
}

/// Maps a zone back to a name for printing (`fe80::1%eth0`).
///
/// Closures `Fn(ZoneId) -> Option<String>` are namers. A zone without a name is printed
/// as its number.
pub trait ZoneNamer {
    /// The name of `zone`, or `None` to print it as a number.
    fn zone_name(&self, zone: ZoneId) -> Option<String>;
}

impl<F: Fn(ZoneId) -> Option<String>> ZoneNamer for F {
    fn zone_name(&self, zone: ZoneId) -> Option<String> {
        self(zone)
    }
}

/// The resolver and namer that knows no names: only numeric zones parse, and zones
/// print as numbers. Used by the `FromStr` and `Display` impls.
#[derive(Debug, Clone, Copy, Default)]
pub struct NumericZones;

impl ZoneResolver for NumericZones {
    fn resolve_zone(&self, _name: &str) -> Option<ZoneId> {
        None
    }
}

impl ZoneNamer for NumericZones {
    fn zone_name(&self, _zone: ZoneId) -> Option<String> {
        None
    }
}

/// Parses `addr` or `addr%zone` into the address and the zone as written, without
/// checking that the zone fits the address.
///
/// An all-digit zone is a zone number (as NetBSD's `if_get` treats an all-digit name as
/// an index); any other zone is looked up with `resolver`.
pub(crate) fn parse_addr_zone(
    s: &str,
    resolver: &(impl ZoneResolver + ?Sized),
) -> Result<(Ipv6Addr, Option<ZoneId>), AddrError> {
    let (addr_text, zone_text) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    let addr: Ipv6Addr = addr_text.parse().map_err(|_| AddrError::InvalidAddr {
        family: Family::Inet6,
        input: s.to_owned(),
    })?;
    let zone = match zone_text {
        None => None,
        Some(z) => Some(parse_zone(z, resolver)?),
    };
    Ok((addr, zone))
}

fn parse_zone(z: &str, resolver: &(impl ZoneResolver + ?Sized)) -> Result<ZoneId, AddrError> {
    if !z.is_empty() && z.bytes().all(|b| b.is_ascii_digit()) {
        let zone =
            z.parse::<u32>()
                .ok()
                .and_then(ZoneId::new)
                .ok_or_else(|| AddrError::InvalidZone {
                    input: z.to_owned(),
                })?;
        if !resolver.knows_zone(zone) {
            return Err(AddrError::UnknownZone { name: z.to_owned() });
        }
        return Ok(zone);
    }
    if z.is_empty() {
        return Err(AddrError::InvalidZone {
            input: z.to_owned(),
        });
    }
    resolver
        .resolve_zone(z)
        .ok_or_else(|| AddrError::UnknownZone { name: z.to_owned() })
}

/// Checks the pairing of an address and a zone: a zone only on addresses that
/// [`requires_zone`]. `None` is accepted for every address.
pub(crate) fn check_zone_allowed(addr: Ipv6Addr, zone: Option<ZoneId>) -> Result<(), AddrError> {
    match zone {
        Some(zone) if !requires_zone(&addr) => Err(AddrError::ZoneNotAllowed { addr, zone }),
        _ => Ok(()),
    }
}

/// Writes `addr` or `addr%zone`, naming the zone through `namer` when it can.
pub(crate) fn write_addr_zone(
    f: &mut fmt::Formatter<'_>,
    addr: &Ipv6Addr,
    zone: Option<ZoneId>,
    namer: &(impl ZoneNamer + ?Sized),
) -> fmt::Result {
    write!(f, "{addr}")?;
    match zone {
        None => Ok(()),
        Some(z) => match namer.zone_name(z) {
            Some(name) => write!(f, "%{name}"),
            None => write!(f, "%{z}"),
        },
    }
}

/// An IPv6 address together with its zone, when and only when its scope needs one.
///
/// **Guarantee** (the reason this type exists): an address that
/// [`requires_zone`] (link-local unicast, link- and interface-local multicast) always
/// carries a zone, and every other address carries none. Code that holds a `ScopedAddr`
/// never has to ask "which link is `fe80::1` on?".
///
/// NetBSD (KAME) embeds the zone in bytes 2-3 of the address inside the kernel and
/// strips it on the way out (`sa6_embedscope`/`sa6_recoverscope`). We never embed: the
/// address bytes are always the wire bytes, and the zone is this separate field.
/// Equality, hashing and ordering compare the address, then the zone, so `fe80::1%1`
/// and `fe80::1%2` are different addresses, as they are different nodes.
///
/// A socket address whose zone may still be missing is a
/// [`SockAddrIn6`](super::SockAddrIn6); [`SockAddrIn6::scoped`](super::SockAddrIn6::scoped)
/// turns it into a `ScopedAddr` or fails with [`AddrError::ZoneRequired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopedAddr {
    addr: Ipv6Addr,
    zone: Option<ZoneId>,
}

impl ScopedAddr {
    /// The address `addr` in `zone`.
    ///
    /// Fails with [`AddrError::ZoneRequired`] if `addr` needs a zone and `zone` is
    /// `None` (we never guess one), and with [`AddrError::ZoneNotAllowed`] if `addr`
    /// cannot carry a zone and `zone` is `Some`.
    pub fn new(addr: Ipv6Addr, zone: Option<ZoneId>) -> Result<Self, AddrError> {
        check_zone_allowed(addr, zone)?;
        if zone.is_none() && requires_zone(&addr) {
            return Err(AddrError::ZoneRequired { addr });
        }
        Ok(Self { addr, zone })
    }

    /// `addr` scoped to the interface whose zones are `zones` (`in6_setscope` on a
    /// plain address): the zone is the interface's zone for the address's scope.
    ///
    /// Fails with [`AddrError::LoopbackOnNonLoopback`] for `::1` on an interface that
    /// is not a loopback interface.
    pub fn on_interface(addr: Ipv6Addr, zones: &ScopeZones) -> Result<Self, AddrError> {
        let zone = zones.zone_for(&addr)?;
        let zone = if requires_zone(&addr) { zone } else { None };
        Self::new(addr, zone)
    }

    /// The address bytes, exactly as on the wire (never with an embedded zone).
    pub const fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The zone; `Some` exactly when [`requires_zone`] holds for the address.
    pub const fn zone(&self) -> Option<ZoneId> {
        self.zone
    }

    /// The scope of the address ([`scope_of`]).
    pub fn scope(&self) -> Ipv6Scope {
        scope_of(&self.addr)
    }

    /// The same address moved to `zone` (`in6_setzoneid`).
    ///
    /// Fails with [`AddrError::ZoneNotAllowed`] if the address carries no zone (NetBSD
    /// silently ignores the request there; we report it).
    pub fn with_zone(self, zone: ZoneId) -> Result<Self, AddrError> {
        Self::new(self.addr, Some(zone))
    }

    /// Checks that the address belongs to the interface whose zones are `zones`: the
    /// check half of `in6_setscope` on an address that already has a zone.
    ///
    /// Fails with [`AddrError::ZoneMismatch`] if the address is in another zone than the
    /// interface's zone for its scope, and with [`AddrError::LoopbackOnNonLoopback`]
    /// for `::1` on a non-loopback interface.
    pub fn check_interface(&self, zones: &ScopeZones) -> Result<(), AddrError> {
        let expected = zones.zone_for(&self.addr)?;
        match (self.zone, expected) {
            (Some(zone), Some(expected)) if zone != expected => Err(AddrError::ZoneMismatch {
                addr: self.addr,
                zone,
                expected,
            }),
            _ => Ok(()),
        }
    }

    /// Parses `addr` or `addr%zone`; a zone name is resolved through `resolver`.
    ///
    /// Errors: [`AddrError::InvalidAddr`], [`AddrError::InvalidZone`] (`%` with nothing
    /// after it, or `%0`), [`AddrError::UnknownZone`], and the errors of
    /// [`new`](Self::new) (a link-local address without `%zone` is
    /// [`AddrError::ZoneRequired`]).
    pub fn parse(s: &str, resolver: &(impl ZoneResolver + ?Sized)) -> Result<Self, AddrError> {
        let (addr, zone) = parse_addr_zone(s, resolver)?;
        Self::new(addr, zone)
    }

    /// Parses `addr` or `addr%zone` for use on the interface whose zones are `zones`,
    /// as a stack file's `"gateway": "fe80::1", "dev": "eth0"` needs: an address
    /// without a zone gets the interface's ([`on_interface`](Self::on_interface)), an
    /// address with one must agree with it ([`check_interface`](Self::check_interface)).
    ///
    /// Errors: those of [`parse`](Self::parse) except [`AddrError::ZoneRequired`], plus
    /// [`AddrError::ZoneMismatch`] and [`AddrError::LoopbackOnNonLoopback`].
    pub fn parse_on(
        s: &str,
        resolver: &(impl ZoneResolver + ?Sized),
        zones: &ScopeZones,
    ) -> Result<Self, AddrError> {
        let (addr, zone) = parse_addr_zone(s, resolver)?;
        match zone {
            None => Self::on_interface(addr, zones),
            Some(_) => {
                let scoped = Self::new(addr, zone)?;
                scoped.check_interface(zones)?;
                Ok(scoped)
            }
        }
    }

    /// A `Display` that writes the zone by name through `namer` (`fe80::1%eth0`),
    /// falling back to the number for zones without a name.
    pub fn display_with<'a, N: ZoneNamer + ?Sized>(
        &'a self,
        namer: &'a N,
    ) -> impl fmt::Display + 'a {
        DisplayWith { addr: self, namer }
    }
}

struct DisplayWith<'a, N: ?Sized> {
    addr: &'a ScopedAddr,
    namer: &'a N,
}

impl<N: ZoneNamer + ?Sized> fmt::Display for DisplayWith<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_addr_zone(f, &self.addr.addr, self.addr.zone, self.namer)
    }
}

impl fmt::Display for ScopedAddr {
    /// Writes `addr` or `addr%zone` with a numeric zone, which [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_addr_zone(f, &self.addr, self.zone, &NumericZones)
    }
}

impl FromStr for ScopedAddr {
    type Err = AddrError;

    /// [`ScopedAddr::parse`] with numeric zones only (`fe80::1%3`).
    fn from_str(s: &str) -> Result<Self, AddrError> {
        Self::parse(s, &NumericZones)
    }
}

impl From<ScopedAddr> for Ipv6Addr {
    /// The address without its zone (`in6_clearscope` on a copy).
    fn from(a: ScopedAddr) -> Self {
        a.addr
    }
}

#[cfg(test)]
mod tests {
    use super::super::IfIndex;
    use super::*;
    use proptest::prelude::*;

    /// A table row's expectation: the address and zone number, or the error.
    type Want<'a> = Result<(&'a str, Option<u32>), AddrError>;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn z(n: u32) -> ZoneId {
        ZoneId::new(n).unwrap()
    }
    fn names(name: &str) -> Option<ZoneId> {
        match name {
            "lo0" => ZoneId::new(1),
            "eth0" => ZoneId::new(2),
            "wg-home.7" => ZoneId::new(7),
            _ => None,
        }
    }
    fn namer(zone: ZoneId) -> Option<String> {
        match zone.get() {
            1 => Some("lo0".into()),
            2 => Some("eth0".into()),
            _ => None,
        }
    }

    #[test]
    fn new_enforces_the_zone_rule() {
        let table: &[(&str, Option<u32>, Result<(), AddrError>)] = &[
            ("fe80::1", Some(2), Ok(())),
            ("ff02::1", Some(2), Ok(())),
            ("ff01::1", Some(2), Ok(())),
            ("2001:db8::1", None, Ok(())),
            ("::1", None, Ok(())),
            ("ff05::2", None, Ok(())),
            ("fec0::1", None, Ok(())),
            (
                "fe80::1",
                None,
                Err(AddrError::ZoneRequired { addr: a("fe80::1") }),
            ),
            (
                "ff02::1",
                None,
                Err(AddrError::ZoneRequired { addr: a("ff02::1") }),
            ),
            (
                "2001:db8::1",
                Some(2),
                Err(AddrError::ZoneNotAllowed {
                    addr: a("2001:db8::1"),
                    zone: z(2),
                }),
            ),
            (
                "::1",
                Some(1),
                Err(AddrError::ZoneNotAllowed {
                    addr: a("::1"),
                    zone: z(1),
                }),
            ),
        ];
        for (addr, zone, want) in table {
            let got = ScopedAddr::new(a(addr), zone.and_then(ZoneId::new));
            assert_eq!(got.map(|_| ()), *want, "{addr} {zone:?}");
        }
    }

    #[test]
    fn parse_table() {
        let table: &[(&str, Want<'_>)] = &[
            ("fe80::1%eth0", Ok(("fe80::1", Some(2)))),
            ("fe80::1%3", Ok(("fe80::1", Some(3)))),
            ("fe80::1%wg-home.7", Ok(("fe80::1", Some(7)))),
            ("ff02::1%lo0", Ok(("ff02::1", Some(1)))),
            ("2001:db8::1", Ok(("2001:db8::1", None))),
            ("fe80::1%", Err(AddrError::InvalidZone { input: "".into() })),
            (
                "fe80::1%0",
                Err(AddrError::InvalidZone { input: "0".into() }),
            ),
            (
                "fe80::1%99999999999",
                Err(AddrError::InvalidZone {
                    input: "99999999999".into(),
                }),
            ),
            (
                "fe80::1%eth9",
                Err(AddrError::UnknownZone {
                    name: "eth9".into(),
                }),
            ),
            (
                "fe80::1",
                Err(AddrError::ZoneRequired { addr: a("fe80::1") }),
            ),
            (
                "2001:db8::1%eth0",
                Err(AddrError::ZoneNotAllowed {
                    addr: a("2001:db8::1"),
                    zone: z(2),
                }),
            ),
            (
                "fe80::g%eth0",
                Err(AddrError::InvalidAddr {
                    family: Family::Inet6,
                    input: "fe80::g%eth0".into(),
                }),
            ),
            (
                "192.0.2.1",
                Err(AddrError::InvalidAddr {
                    family: Family::Inet6,
                    input: "192.0.2.1".into(),
                }),
            ),
            (
                "[fe80::1%3]",
                Err(AddrError::InvalidAddr {
                    family: Family::Inet6,
                    input: "[fe80::1%3]".into(),
                }),
            ),
        ];
        for (text, want) in table {
            let got = ScopedAddr::parse(text, &names);
            let want = want
                .clone()
                .map(|(addr, zone)| ScopedAddr::new(a(addr), zone.and_then(ZoneId::new)).unwrap());
            assert_eq!(got, want, "{text}");
        }
        // FromStr knows no names.
        assert_eq!(
            "fe80::1%eth0".parse::<ScopedAddr>(),
            Err(AddrError::UnknownZone {
                name: "eth0".into()
            })
        );
        assert_eq!(
            "fe80::1%3".parse::<ScopedAddr>().unwrap().zone(),
            ZoneId::new(3)
        );
    }

    /// A resolver that, like an interface table, knows which numbers exist.
    struct Table;

    impl ZoneResolver for Table {
        fn resolve_zone(&self, name: &str) -> Option<ZoneId> {
            names(name)
        }
        fn knows_zone(&self, zone: ZoneId) -> bool {
            matches!(zone.get(), 1 | 2 | 7)
        }
    }

    #[test]
    fn numeric_zones_can_be_checked() {
        assert_eq!(
            ScopedAddr::parse("fe80::1%7", &Table).unwrap().zone(),
            Some(z(7))
        );
        assert_eq!(
            ScopedAddr::parse("fe80::1%8", &Table),
            Err(AddrError::UnknownZone { name: "8".into() })
        );
        assert_eq!(
            ScopedAddr::parse("fe80::1%eth0", &Table).unwrap().zone(),
            Some(z(2))
        );
        // Closures accept every number.
        assert_eq!(
            ScopedAddr::parse("fe80::1%8", &names).unwrap().zone(),
            Some(z(8))
        );
    }

    #[test]
    fn print_with_and_without_names() {
        let s = ScopedAddr::new(a("fe80::1"), Some(z(2))).unwrap();
        assert_eq!(s.to_string(), "fe80::1%2");
        assert_eq!(s.display_with(&namer).to_string(), "fe80::1%eth0");
        let s = ScopedAddr::new(a("fe80::1"), Some(z(5))).unwrap();
        assert_eq!(s.display_with(&namer).to_string(), "fe80::1%5");
        let g = ScopedAddr::new(a("2001:db8::1"), None).unwrap();
        assert_eq!(g.display_with(&namer).to_string(), "2001:db8::1");
        assert_eq!(g.scope(), Ipv6Scope::Global);
        assert_eq!(Ipv6Addr::from(g), a("2001:db8::1"));
    }

    #[test]
    fn on_interface_is_in6_setscope() {
        let eth = ScopeZones::new(IfIndex::new(2).unwrap());
        let lo = ScopeZones::new(IfIndex::new(1).unwrap()).with_loopback(true);
        let ll = ScopedAddr::on_interface(a("fe80::1"), &eth).unwrap();
        assert_eq!(ll.zone(), Some(z(2)));
        // Site-local: the interface has a site zone, but the address carries none
        // (NetBSD's in6_setzoneid only embeds link/interface zones).
        let site = ScopedAddr::on_interface(a("fec0::1"), &eth).unwrap();
        assert_eq!(site.zone(), None);
        let g = ScopedAddr::on_interface(a("2001:db8::1"), &eth).unwrap();
        assert_eq!(g.zone(), None);
        assert_eq!(
            ScopedAddr::on_interface(Ipv6Addr::LOCALHOST, &eth),
            Err(AddrError::LoopbackOnNonLoopback)
        );
        assert_eq!(
            ScopedAddr::on_interface(Ipv6Addr::LOCALHOST, &lo)
                .unwrap()
                .zone(),
            None
        );
        // check_interface
        assert_eq!(ll.check_interface(&eth), Ok(()));
        assert_eq!(
            ll.check_interface(&lo),
            Err(AddrError::ZoneMismatch {
                addr: a("fe80::1"),
                zone: z(2),
                expected: z(1),
            })
        );
        assert_eq!(g.check_interface(&lo), Ok(()));
        // with_zone = in6_setzoneid
        assert_eq!(ll.with_zone(z(9)).unwrap().zone(), Some(z(9)));
        assert_eq!(
            g.with_zone(z(9)),
            Err(AddrError::ZoneNotAllowed {
                addr: a("2001:db8::1"),
                zone: z(9)
            })
        );
    }

    #[test]
    fn parse_on_an_interface() {
        let eth = ScopeZones::new(IfIndex::new(2).unwrap());
        let table: &[(&str, Want<'_>)] = &[
            ("fe80::1", Ok(("fe80::1", Some(2)))),
            ("fe80::1%eth0", Ok(("fe80::1", Some(2)))),
            ("fe80::1%2", Ok(("fe80::1", Some(2)))),
            ("2001:db8::1", Ok(("2001:db8::1", None))),
            (
                "fe80::1%lo0",
                Err(AddrError::ZoneMismatch {
                    addr: a("fe80::1"),
                    zone: z(1),
                    expected: z(2),
                }),
            ),
            ("::1", Err(AddrError::LoopbackOnNonLoopback)),
            (
                "2001:db8::1%2",
                Err(AddrError::ZoneNotAllowed {
                    addr: a("2001:db8::1"),
                    zone: z(2),
                }),
            ),
        ];
        for (text, want) in table {
            let want = want
                .clone()
                .map(|(addr, zone)| ScopedAddr::new(a(addr), zone.and_then(ZoneId::new)).unwrap());
            assert_eq!(ScopedAddr::parse_on(text, &names, &eth), want, "{text}");
        }
    }

    #[test]
    fn zone_is_part_of_identity() {
        let one = ScopedAddr::new(a("fe80::1"), Some(z(1))).unwrap();
        let two = ScopedAddr::new(a("fe80::1"), Some(z(2))).unwrap();
        assert_ne!(one, two);
        assert!(one < two);
    }

    pub(crate) fn any_scoped() -> impl Strategy<Value = ScopedAddr> {
        (any::<u128>(), 1..=u32::MAX, 0..4u8).prop_map(|(bits, zone, kind)| {
            let bits = match kind {
                0 => (0xfe80u128 << 112) | (bits & ((1 << 64) - 1)),
                1 => (0xff02u128 << 112) | (bits & ((1 << 64) - 1)),
                _ => bits,
            };
            let addr = Ipv6Addr::from(bits);
            let zone = requires_zone(&addr).then(|| ZoneId::new(zone).unwrap());
            ScopedAddr::new(addr, zone).unwrap()
        })
    }

    proptest! {
        #[test]
        fn parse_print_round_trip(s in any_scoped()) {
            prop_assert_eq!(s.to_string().parse::<ScopedAddr>(), Ok(s));
            let by_name = |name: &str| name.strip_prefix("if").and_then(|n| n.parse().ok()).and_then(ZoneId::new);
            let to_name = |zone: ZoneId| Some(format!("if{zone}"));
            let text = s.display_with(&to_name).to_string();
            prop_assert_eq!(ScopedAddr::parse(&text, &by_name), Ok(s));
        }

        #[test]
        fn parse_never_panics(text in "[0-9a-fA-F:%.a-z]{0,48}") {
            let _ = ScopedAddr::parse(&text, &names);
        }
    }
}
