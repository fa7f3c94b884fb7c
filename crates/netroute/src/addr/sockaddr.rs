//! Family-tagged socket addresses: `struct sockaddr` and its `sockaddr_in`,
//! `sockaddr_in6` and `sockaddr_dl` forms (sys/sys/socket.h, netinet/in.h, net/if_dl.h).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

use super::scoped::{check_zone_allowed, parse_addr_zone, write_addr_zone};
use super::{
    AddrError, IfIndex, Ipv6Scope, NumericZones, ScopeZones, ScopedAddr, ZoneId, ZoneNamer,
    ZoneResolver, requires_zone, scope_of,
};

/// An address family (`sa_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
    /// Link layer (`AF_LINK`).
    Link,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inet => "IPv4",
            Self::Inet6 => "IPv6",
            Self::Link => "link-layer",
        })
    }
}

/// An IPv4 socket address (`struct sockaddr_in`): address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockAddrIn {
    addr: Ipv4Addr,
    port: u16,
}

impl SockAddrIn {
    /// `addr:port` (`sockaddr_in_init`). Interface addresses and route keys use port 0.
    pub const fn new(addr: Ipv4Addr, port: u16) -> Self {
        Self { addr, port }
    }

    /// The address.
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The port (host byte order).
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The same address as an IPv4-mapped IPv6 socket address `::ffff:a.b.c.d`
    /// (`in6_sin_2_v4mapsin6`).
    pub const fn to_v4_mapped(&self) -> SockAddrIn6 {
        SockAddrIn6 {
            addr: self.addr.to_ipv6_mapped(),
            zone: None,
            port: self.port,
            flowinfo: 0,
        }
    }
}

impl fmt::Display for SockAddrIn {
    /// `a.b.c.d:port`, as `std::net::SocketAddrV4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}

impl FromStr for SockAddrIn {
    type Err = AddrError;

    /// Parses `a.b.c.d:port`; anything else is [`AddrError::InvalidSockAddr`].
    fn from_str(s: &str) -> Result<Self, AddrError> {
        s.parse::<SocketAddrV4>()
            .map(Self::from)
            .map_err(|_| AddrError::InvalidSockAddr {
                input: s.to_owned(),
            })
    }
}

impl From<SocketAddrV4> for SockAddrIn {
    fn from(s: SocketAddrV4) -> Self {
        Self::new(*s.ip(), s.port())
    }
}

impl From<SockAddrIn> for SocketAddrV4 {
    fn from(s: SockAddrIn) -> Self {
        SocketAddrV4::new(s.addr, s.port)
    }
}

/// An IPv6 socket address (`struct sockaddr_in6`): address, port, flow info and zone.
///
/// The zone (`sin6_scope_id`) is a separate field, never embedded in the address bytes
/// as NetBSD does inside its kernel. Guarantee: only an address that
/// [`requires_zone`] may carry a zone. Such an address may still lack one here (like a
/// `sin6_scope_id` of 0 from a user); [`scoped`](Self::scoped) is the check that it
/// does not before the address is used, and [`set_scope`](Self::set_scope) fills it in
/// from an interface.
///
/// Equality, hashing and ordering compare every field (address, zone, port, flow
/// info); compare [`addr`](Self::addr) or [`scoped`](Self::scoped) for address-only
/// comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockAddrIn6 {
    addr: Ipv6Addr,
    zone: Option<ZoneId>,
    port: u16,
    flowinfo: u32,
}

impl SockAddrIn6 {
    /// `[addr%zone]:port` with `flowinfo` (`sockaddr_in6_init`).
    ///
    /// Fails with [`AddrError::ZoneNotAllowed`] if `zone` is given for an address that
    /// cannot carry one. A missing zone is accepted here and refused by
    /// [`scoped`](Self::scoped).
    pub fn new(
        addr: Ipv6Addr,
        port: u16,
        flowinfo: u32,
        zone: Option<ZoneId>,
    ) -> Result<Self, AddrError> {
        check_zone_allowed(addr, zone)?;
        Ok(Self {
            addr,
            zone,
            port,
            flowinfo,
        })
    }

    /// The socket address of a scoped address and a port (flow info 0); cannot fail.
    pub const fn from_scoped(addr: ScopedAddr, port: u16) -> Self {
        Self {
            addr: addr.addr(),
            zone: addr.zone(),
            port,
            flowinfo: 0,
        }
    }

    /// The address bytes, exactly as on the wire.
    pub const fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The zone, if set.
    pub const fn zone(&self) -> Option<ZoneId> {
        self.zone
    }

    /// The port (host byte order).
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The flow information field (`sin6_flowinfo`), as given.
    pub const fn flowinfo(&self) -> u32 {
        self.flowinfo
    }

    /// The scope of the address ([`scope_of`]).
    pub fn scope(&self) -> Ipv6Scope {
        scope_of(&self.addr)
    }

    /// The address and zone as a [`ScopedAddr`]: the validation `sa6_embedscope`
    /// performs, without a default zone.
    ///
    /// Fails with [`AddrError::ZoneRequired`] if the address needs a zone and has none.
    /// NetBSD would use the default zone when `ip6_use_defzone` is set; we never guess.
    pub fn scoped(&self) -> Result<ScopedAddr, AddrError> {
        ScopedAddr::new(self.addr, self.zone)
    }

    /// Scopes the address to the interface whose zones are `zones` (`in6_setscope`)
    /// and returns the interface's zone for the address's scope (NetBSD's `*ret_id`).
    ///
    /// Only addresses that [`requires_zone`] store the zone; for others (site-local,
    /// global) the zone is returned but not stored, as NetBSD's `in6_setzoneid` ignores
    /// them. Fails, changing nothing, with [`AddrError::ZoneMismatch`] if the address
    /// already carries a different zone (**differs from NetBSD**, which silently
    /// overwrites it), and with [`AddrError::LoopbackOnNonLoopback`] for `::1` on a
    /// non-loopback interface.
    pub fn set_scope(&mut self, zones: &ScopeZones) -> Result<Option<ZoneId>, AddrError> {
        let zone = zones.zone_for(&self.addr)?;
        if requires_zone(&self.addr) {
            let Some(expected) = zone else {
                return Err(AddrError::ZoneRequired { addr: self.addr });
            };
            match self.zone {
                Some(have) if have != expected => {
                    return Err(AddrError::ZoneMismatch {
                        addr: self.addr,
                        zone: have,
                        expected,
                    });
                }
                _ => self.zone = Some(expected),
            }
        }
        Ok(zone)
    }

    /// Sets the zone, replacing any previous one (`in6_setzoneid`).
    ///
    /// Fails, changing nothing, with [`AddrError::ZoneNotAllowed`] if the address
    /// cannot carry a zone (NetBSD silently ignores the request there).
    pub fn set_zone(&mut self, zone: ZoneId) -> Result<(), AddrError> {
        check_zone_allowed(self.addr, Some(zone))?;
        self.zone = Some(zone);
        Ok(())
    }

    /// Removes the zone (`in6_clearscope`); returns whether there was one.
    pub fn clear_scope(&mut self) -> bool {
        self.zone.take().is_some()
    }

    /// The IPv4 socket address inside an IPv4-mapped address `::ffff:a.b.c.d`
    /// (`in6_sin6_2_sin`), or `None` if the address is not IPv4-mapped.
    pub const fn to_v4(&self) -> Option<SockAddrIn> {
        match self.addr.to_ipv4_mapped() {
            Some(a) => Some(SockAddrIn::new(a, self.port)),
            None => None,
        }
    }

    /// Parses `[addr]:port` or `[addr%zone]:port`, resolving a zone name through
    /// `resolver`.
    ///
    /// Errors: [`AddrError::InvalidSockAddr`] if brackets or port are missing or bad,
    /// the address and zone errors of [`ScopedAddr::parse`] except that a missing zone
    /// is accepted.
    pub fn parse(s: &str, resolver: &(impl ZoneResolver + ?Sized)) -> Result<Self, AddrError> {
        let bad = || AddrError::InvalidSockAddr {
            input: s.to_owned(),
        };
        let rest = s.strip_prefix('[').ok_or_else(bad)?;
        let (inner, port) = rest.rsplit_once("]:").ok_or_else(bad)?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        let (addr, zone) = parse_addr_zone(inner, resolver)?;
        Self::new(addr, port, 0, zone)
    }

    /// Parses a bare `addr` or `addr%zone` into a socket address with port 0, the form
    /// NetBSD uses for interface addresses and route keys. A missing zone is accepted
    /// (complete it with [`set_scope`](Self::set_scope)).
    pub fn parse_addr(s: &str, resolver: &(impl ZoneResolver + ?Sized)) -> Result<Self, AddrError> {
        let (addr, zone) = parse_addr_zone(s, resolver)?;
        Self::new(addr, 0, 0, zone)
    }

    /// A `Display` like this type's (`[addr%zone]:port`) that names the zone through
    /// `namer`.
    pub fn display_with<'a, N: ZoneNamer + ?Sized>(
        &'a self,
        namer: &'a N,
    ) -> impl fmt::Display + 'a {
        In6Display { sa: self, namer }
    }
}

struct In6Display<'a, N: ?Sized> {
    sa: &'a SockAddrIn6,
    namer: &'a N,
}

impl<N: ZoneNamer + ?Sized> fmt::Display for In6Display<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        write_addr_zone(f, &self.sa.addr, self.sa.zone, self.namer)?;
        write!(f, "]:{}", self.sa.port)
    }
}

impl fmt::Display for SockAddrIn6 {
    /// `[addr]:port` or `[addr%zone]:port` with a numeric zone, as
    /// `std::net::SocketAddrV6`; the flow info is not written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_with(&NumericZones).fmt(f)
    }
}

impl FromStr for SockAddrIn6 {
    type Err = AddrError;

    /// [`SockAddrIn6::parse`] with numeric zones only.
    fn from_str(s: &str) -> Result<Self, AddrError> {
        Self::parse(s, &NumericZones)
    }
}

impl TryFrom<SocketAddrV6> for SockAddrIn6 {
    type Error = AddrError;

    /// Scope id 0 becomes "no zone"; a nonzero scope id on an address that cannot
    /// carry a zone is [`AddrError::ZoneNotAllowed`].
    fn try_from(s: SocketAddrV6) -> Result<Self, AddrError> {
        Self::new(*s.ip(), s.port(), s.flowinfo(), ZoneId::new(s.scope_id()))
    }
}

impl From<SockAddrIn6> for SocketAddrV6 {
    /// "No zone" becomes scope id 0.
    fn from(s: SockAddrIn6) -> Self {
        SocketAddrV6::new(s.addr, s.port, s.flowinfo, s.zone.map_or(0, ZoneId::get))
    }
}

/// The largest link-layer address a [`LinkAddr`] holds: 20 bytes, an InfiniBand
/// address (Ethernet needs 6, IEEE 1394 8).
pub const LINK_ADDR_MAX: usize = 20;

/// A link-layer address (the `LLADDR` part of a `sockaddr_dl`), possibly empty.
///
/// Stored inline so that [`SockAddr`] stays `Copy`. Guarantee: at most
/// [`LINK_ADDR_MAX`] bytes; unused storage is zero, so the derived comparisons only see
/// the address bytes and the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LinkAddr {
    len: u8,
    bytes: [u8; LINK_ADDR_MAX],
}

impl LinkAddr {
    /// The address `bytes`; [`AddrError::LinkAddrTooLong`] beyond [`LINK_ADDR_MAX`].
    pub fn new(bytes: &[u8]) -> Result<Self, AddrError> {
        let mut out = Self::default();
        let dst = out
            .bytes
            .get_mut(..bytes.len())
            .ok_or(AddrError::LinkAddrTooLong {
                len: bytes.len(),
                max: LINK_ADDR_MAX,
            })?;
        dst.copy_from_slice(bytes);
        out.len = bytes.len() as u8; // <= LINK_ADDR_MAX, checked above
        Ok(out)
    }

    /// The address bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the address has no bytes (an interface route's gateway, `link#N`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for LinkAddr {
    /// Lower-case hex bytes separated by `:` (`00:11:22:aa:bb:cc`); empty for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for LinkAddr {
    type Err = AddrError;

    /// Parses one or two hex digits per byte, separated by `:` (`0:11:22:aa:bb:cc`);
    /// anything else is [`AddrError::InvalidLinkAddr`]. The empty string is the empty
    /// address.
    fn from_str(s: &str) -> Result<Self, AddrError> {
        let bad = || AddrError::InvalidLinkAddr {
            input: s.to_owned(),
        };
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut buf = [0u8; LINK_ADDR_MAX];
        let mut len = 0;
        for part in s.split(':') {
            let ok = (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
            let byte = if ok {
                u8::from_str_radix(part, 16).ok()
            } else {
                None
            };
            let slot = buf.get_mut(len);
            match (byte, slot) {
                (Some(byte), Some(slot)) => *slot = byte,
                _ => return Err(bad()),
            }
            len += 1;
        }
        Self::new(&buf[..len])
    }
}

/// A link-layer socket address (`struct sockaddr_dl`), as used for the gateway of an
/// interface route (`link#3`) or a neighbour's hardware address.
///
/// Holds the interface index and the link-layer address. **Differs from NetBSD**: no
/// interface name or type is stored (`sdl_nlen`/`sdl_type`); the interface table maps the
/// index to both, and a copied name would go stale on rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockAddrDl {
    index: IfIndex,
    lladdr: LinkAddr,
}

impl SockAddrDl {
    /// The link-layer address `lladdr` on interface `index` (`sockaddr_dl_init`).
    pub const fn new(index: IfIndex, lladdr: LinkAddr) -> Self {
        Self { index, lladdr }
    }

    /// The interface (`sdl_index`).
    pub const fn index(&self) -> IfIndex {
        self.index
    }

    /// The link-layer address, possibly empty.
    pub const fn lladdr(&self) -> &LinkAddr {
        &self.lladdr
    }
}

impl fmt::Display for SockAddrDl {
    /// `link#3` without a link-layer address (as netstat prints it), else
    /// `link#3 00:11:22:aa:bb:cc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link#{}", self.index)?;
        if !self.lladdr.is_empty() {
            write!(f, " {}", self.lladdr)?;
        }
        Ok(())
    }
}

/// A family-tagged socket address (`struct sockaddr`).
///
/// A plain value: NetBSD's `sockaddr_dup`, `sockaddr_copy` and `sockaddr_free` are
/// `Copy` and drop here, and `sockaddr_cmp` is `==` / `Ord`. The order is by family
/// (IPv4, IPv6, link) and then by the fields of each form; it is a total order for
/// use as a map key, not NetBSD's byte-wise `memcmp` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SockAddr {
    /// IPv4 (`AF_INET`).
    Inet(SockAddrIn),
    /// IPv6 (`AF_INET6`).
    Inet6(SockAddrIn6),
    /// Link layer (`AF_LINK`).
    Link(SockAddrDl),
}

impl SockAddr {
    /// The family (`sa_family`).
    pub const fn family(&self) -> Family {
        match self {
            Self::Inet(_) => Family::Inet,
            Self::Inet6(_) => Family::Inet6,
            Self::Link(_) => Family::Link,
        }
    }

    /// The IP address without port or zone; `None` for a link-layer address.
    pub const fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Inet(s) => Some(IpAddr::V4(s.addr)),
            Self::Inet6(s) => Some(IpAddr::V6(s.addr)),
            Self::Link(_) => None,
        }
    }

    /// The port; `None` for a link-layer address.
    pub const fn port(&self) -> Option<u16> {
        match self {
            Self::Inet(s) => Some(s.port),
            Self::Inet6(s) => Some(s.port),
            Self::Link(_) => None,
        }
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet(s) => s.fmt(f),
            Self::Inet6(s) => s.fmt(f),
            Self::Link(s) => s.fmt(f),
        }
    }
}

impl From<SockAddrIn> for SockAddr {
    fn from(s: SockAddrIn) -> Self {
        Self::Inet(s)
    }
}

impl From<SockAddrIn6> for SockAddr {
    fn from(s: SockAddrIn6) -> Self {
        Self::Inet6(s)
    }
}

impl From<SockAddrDl> for SockAddr {
    fn from(s: SockAddrDl) -> Self {
        Self::Link(s)
    }
}

impl TryFrom<SocketAddr> for SockAddr {
    type Error = AddrError;

    /// Fails only for an IPv6 address with a scope id it cannot carry
    /// ([`AddrError::ZoneNotAllowed`]).
    fn try_from(s: SocketAddr) -> Result<Self, AddrError> {
        Ok(match s {
            SocketAddr::V4(s) => Self::Inet(s.into()),
            SocketAddr::V6(s) => Self::Inet6(s.try_into()?),
        })
    }
}

impl TryFrom<SockAddr> for SocketAddr {
    type Error = AddrError;

    /// Fails with [`AddrError::NotIp`] for a link-layer address.
    fn try_from(s: SockAddr) -> Result<Self, AddrError> {
        match s {
            SockAddr::Inet(s) => Ok(SocketAddr::V4(s.into())),
            SockAddr::Inet6(s) => Ok(SocketAddr::V6(s.into())),
            SockAddr::Link(_) => Err(AddrError::NotIp {
                family: Family::Link,
            }),
        }
    }
}

impl TryFrom<SockAddr> for SockAddrIn {
    type Error = AddrError;

    /// Fails with [`AddrError::FamilyMismatch`] for any other family.
    fn try_from(s: SockAddr) -> Result<Self, AddrError> {
        match s {
            SockAddr::Inet(s) => Ok(s),
            other => Err(AddrError::FamilyMismatch {
                expected: Family::Inet,
                got: other.family(),
            }),
        }
    }
}

impl TryFrom<SockAddr> for SockAddrIn6 {
    type Error = AddrError;

    /// Fails with [`AddrError::FamilyMismatch`] for any other family.
    fn try_from(s: SockAddr) -> Result<Self, AddrError> {
        match s {
            SockAddr::Inet6(s) => Ok(s),
            other => Err(AddrError::FamilyMismatch {
                expected: Family::Inet6,
                got: other.family(),
            }),
        }
    }
}

impl FromStr for SockAddr {
    type Err = AddrError;

    /// `a.b.c.d:port` or `[addr%zone]:port` (numeric zones).
    fn from_str(s: &str) -> Result<Self, AddrError> {
        if s.starts_with('[') {
            s.parse().map(Self::Inet6)
        } else {
            s.parse().map(Self::Inet)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn z(n: u32) -> ZoneId {
        ZoneId::new(n).unwrap()
    }
    fn idx(n: u32) -> IfIndex {
        IfIndex::new(n).unwrap()
    }

    #[test]
    fn init_and_accessors() {
        let v4 = SockAddrIn::new(Ipv4Addr::new(192, 0, 2, 1), 80);
        assert_eq!((v4.addr(), v4.port()), (Ipv4Addr::new(192, 0, 2, 1), 80));
        let v6 = SockAddrIn6::new(a6("fe80::1"), 53, 7, Some(z(2))).unwrap();
        assert_eq!(v6.addr(), a6("fe80::1"));
        assert_eq!((v6.port(), v6.flowinfo(), v6.zone()), (53, 7, Some(z(2))));
        assert_eq!(v6.scope(), Ipv6Scope::LinkLocal);
        assert_eq!(
            SockAddrIn6::new(a6("2001:db8::1"), 0, 0, Some(z(2))),
            Err(AddrError::ZoneNotAllowed {
                addr: a6("2001:db8::1"),
                zone: z(2)
            })
        );
        let sa = SockAddr::from(v6);
        assert_eq!(sa.family(), Family::Inet6);
        assert_eq!(sa.port(), Some(53));
        assert_eq!(sa.ip(), Some(IpAddr::V6(a6("fe80::1"))));
        assert_eq!(SockAddr::from(v4).family(), Family::Inet);
        let dl = SockAddrDl::new(idx(3), "0:11:22:aa:bb:cc".parse().unwrap());
        let sa = SockAddr::from(dl);
        assert_eq!(
            (sa.family(), sa.ip(), sa.port()),
            (Family::Link, None, None)
        );
        assert_eq!(dl.index(), idx(3));
        assert_eq!(dl.lladdr().as_bytes(), &[0, 0x11, 0x22, 0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn copy_is_dup_and_eq_is_cmp() {
        let a = SockAddr::from(SockAddrIn::new(Ipv4Addr::LOCALHOST, 1));
        let b = a; // sockaddr_dup
        assert_eq!(a, b);
        let c = SockAddr::from(SockAddrIn::new(Ipv4Addr::LOCALHOST, 2));
        assert_ne!(a, c);
        assert!(a < c);
        // family orders first
        let v6 = SockAddr::from(SockAddrIn6::new(Ipv6Addr::UNSPECIFIED, 0, 0, None).unwrap());
        let dl = SockAddr::from(SockAddrDl::new(idx(1), LinkAddr::default()));
        assert!(c < v6 && v6 < dl);
        // the zone and flowinfo are part of the identity
        let one = SockAddrIn6::new(a6("fe80::1"), 0, 0, Some(z(1))).unwrap();
        let two = SockAddrIn6::new(a6("fe80::1"), 0, 0, Some(z(2))).unwrap();
        assert_ne!(one, two);
        let flow = SockAddrIn6::new(a6("fe80::1"), 0, 9, Some(z(1))).unwrap();
        assert_ne!(one, flow);
    }

    #[test]
    fn scope_operations() {
        let eth = ScopeZones::new(idx(2));
        let lo = ScopeZones::new(idx(1)).with_loopback(true);

        // in6_setscope on a link-local without a zone fills it in.
        let mut ll = SockAddrIn6::new(a6("fe80::1"), 0, 0, None).unwrap();
        assert_eq!(
            ll.scoped(),
            Err(AddrError::ZoneRequired {
                addr: a6("fe80::1")
            })
        );
        assert_eq!(ll.set_scope(&eth), Ok(Some(z(2))));
        assert_eq!(ll.zone(), Some(z(2)));
        assert_eq!(ll.scoped().unwrap().zone(), Some(z(2)));
        // Again on the same interface: fine. On another: mismatch, unchanged.
        assert_eq!(ll.set_scope(&eth), Ok(Some(z(2))));
        let before = ll;
        assert_eq!(
            ll.set_scope(&lo),
            Err(AddrError::ZoneMismatch {
                addr: a6("fe80::1"),
                zone: z(2),
                expected: z(1)
            })
        );
        assert_eq!(ll, before);

        // Site-local: zone returned (ret_id), not stored.
        let mut site = SockAddrIn6::new(a6("fec0::1"), 0, 0, None).unwrap();
        assert_eq!(site.set_scope(&eth), Ok(ZoneId::new(1)));
        assert_eq!(site.zone(), None);
        // Global: no zone at all.
        let mut g = SockAddrIn6::new(a6("2001:db8::1"), 0, 0, None).unwrap();
        assert_eq!(g.set_scope(&eth), Ok(None));
        // Loopback: only on a loopback interface.
        let mut l = SockAddrIn6::new(Ipv6Addr::LOCALHOST, 0, 0, None).unwrap();
        assert_eq!(l.set_scope(&eth), Err(AddrError::LoopbackOnNonLoopback));
        assert_eq!(l.set_scope(&lo), Ok(None));
        assert_eq!(l.zone(), None);

        // in6_setzoneid
        let mut m = SockAddrIn6::new(a6("ff02::1"), 0, 0, None).unwrap();
        m.set_zone(z(4)).unwrap();
        m.set_zone(z(5)).unwrap();
        assert_eq!(m.zone(), Some(z(5)));
        assert_eq!(
            g.set_zone(z(4)),
            Err(AddrError::ZoneNotAllowed {
                addr: a6("2001:db8::1"),
                zone: z(4)
            })
        );
        assert_eq!(g.zone(), None);

        // in6_clearscope
        assert!(m.clear_scope());
        assert!(!m.clear_scope());
        assert!(!g.clear_scope());
        assert_eq!(m.zone(), None);

        // from_scoped
        let s = ScopedAddr::new(a6("fe80::9"), Some(z(3))).unwrap();
        let sa = SockAddrIn6::from_scoped(s, 8080);
        assert_eq!(sa.scoped(), Ok(s));
        assert_eq!(sa.port(), 8080);
    }

    #[test]
    fn v4_mapped_sockaddrs() {
        let v4 = SockAddrIn::new(Ipv4Addr::new(192, 0, 2, 1), 443);
        let m = v4.to_v4_mapped();
        assert_eq!(m.addr(), a6("::ffff:192.0.2.1"));
        assert_eq!(m.port(), 443);
        assert_eq!(m.to_v4(), Some(v4));
        let not = SockAddrIn6::new(a6("2001:db8::1"), 1, 0, None).unwrap();
        assert_eq!(not.to_v4(), None);
    }

    #[test]
    fn text_forms() {
        let names = |n: &str| (n == "eth0").then(|| z(2));
        let namer = |zone: ZoneId| (zone == z(2)).then(|| "eth0".to_string());
        let table: &[(&str, Result<&str, AddrError>)] = &[
            ("[fe80::1%eth0]:80", Ok("[fe80::1%2]:80")),
            ("[fe80::1%2]:80", Ok("[fe80::1%2]:80")),
            ("[fe80::1]:80", Ok("[fe80::1]:80")),
            ("[2001:db8::1]:0", Ok("[2001:db8::1]:0")),
            (
                "[fe80::1%eth1]:80",
                Err(AddrError::UnknownZone {
                    name: "eth1".into(),
                }),
            ),
            (
                "[2001:db8::1%eth0]:80",
                Err(AddrError::ZoneNotAllowed {
                    addr: a6("2001:db8::1"),
                    zone: z(2),
                }),
            ),
            (
                "fe80::1%eth0",
                Err(AddrError::InvalidSockAddr {
                    input: "fe80::1%eth0".into(),
                }),
            ),
            (
                "[fe80::1%eth0]",
                Err(AddrError::InvalidSockAddr {
                    input: "[fe80::1%eth0]".into(),
                }),
            ),
            (
                "[fe80::1]:65536",
                Err(AddrError::InvalidSockAddr {
                    input: "[fe80::1]:65536".into(),
                }),
            ),
            (
                "[fe80::1]:+1",
                Err(AddrError::InvalidSockAddr {
                    input: "[fe80::1]:+1".into(),
                }),
            ),
            (
                "[fe80::x]:1",
                Err(AddrError::InvalidAddr {
                    family: Family::Inet6,
                    input: "fe80::x".into(),
                }),
            ),
        ];
        for (text, want) in table {
            let got = SockAddrIn6::parse(text, &names).map(|s| s.to_string());
            assert_eq!(got, want.clone().map(str::to_owned), "{text}");
        }
        let s = SockAddrIn6::parse("[fe80::1%2]:80", &names).unwrap();
        assert_eq!(s.display_with(&namer).to_string(), "[fe80::1%eth0]:80");
        // bare addresses (interface addresses, route keys): port 0, zone optional
        let bare = SockAddrIn6::parse_addr("fe80::1", &names).unwrap();
        assert_eq!((bare.port(), bare.zone()), (0, None));
        let bare = SockAddrIn6::parse_addr("fe80::1%eth0", &names).unwrap();
        assert_eq!(bare.zone(), Some(z(2)));
        // IPv4
        assert_eq!(
            "192.0.2.1:80".parse::<SockAddrIn>(),
            Ok(SockAddrIn::new(Ipv4Addr::new(192, 0, 2, 1), 80))
        );
        assert_eq!(
            "192.0.2.1".parse::<SockAddrIn>(),
            Err(AddrError::InvalidSockAddr {
                input: "192.0.2.1".into()
            })
        );
        assert_eq!(
            "192.0.2.1:80".parse::<SockAddr>().unwrap().to_string(),
            "192.0.2.1:80"
        );
        assert_eq!(
            "[fe80::1%3]:80".parse::<SockAddr>().unwrap().to_string(),
            "[fe80::1%3]:80"
        );
    }

    #[test]
    fn link_addrs() {
        let table: &[(&str, Result<&[u8], AddrError>)] = &[
            ("", Ok(&[])),
            ("00:11:22:aa:BB:cc", Ok(&[0, 0x11, 0x22, 0xaa, 0xbb, 0xcc])),
            ("1:2", Ok(&[1, 2])),
            (
                "00:11:",
                Err(AddrError::InvalidLinkAddr {
                    input: "00:11:".into(),
                }),
            ),
            (
                "001:11",
                Err(AddrError::InvalidLinkAddr {
                    input: "001:11".into(),
                }),
            ),
            ("zz", Err(AddrError::InvalidLinkAddr { input: "zz".into() })),
            (
                "+1:2",
                Err(AddrError::InvalidLinkAddr {
                    input: "+1:2".into(),
                }),
            ),
        ];
        for (text, want) in table {
            let got = text.parse::<LinkAddr>();
            assert_eq!(
                got.as_ref().map(LinkAddr::as_bytes).map_err(Clone::clone),
                want.clone(),
                "{text}"
            );
        }
        let long = vec![0xab; LINK_ADDR_MAX + 1];
        assert_eq!(
            LinkAddr::new(&long),
            Err(AddrError::LinkAddrTooLong {
                len: LINK_ADDR_MAX + 1,
                max: LINK_ADDR_MAX
            })
        );
        let text = vec!["ab"; LINK_ADDR_MAX + 1].join(":");
        assert_eq!(
            text.parse::<LinkAddr>(),
            Err(AddrError::InvalidLinkAddr {
                input: text.clone()
            })
        );
        let max = LinkAddr::new(&long[..LINK_ADDR_MAX]).unwrap();
        assert_eq!(max.as_bytes().len(), LINK_ADDR_MAX);
        assert!(LinkAddr::default().is_empty());
        let dl = SockAddrDl::new(idx(3), LinkAddr::default());
        assert_eq!(dl.to_string(), "link#3");
        let dl = SockAddrDl::new(idx(3), "0:11:22:aa:bb:cc".parse().unwrap());
        assert_eq!(dl.to_string(), "link#3 00:11:22:aa:bb:cc");
    }

    #[test]
    fn std_conversions_and_family_errors() {
        let std6: SocketAddrV6 = "[fe80::1%4]:22".parse().unwrap();
        let ours = SockAddrIn6::try_from(std6).unwrap();
        assert_eq!(ours.zone(), Some(z(4)));
        assert_eq!(SocketAddrV6::from(ours), std6);
        let global = SocketAddrV6::new(a6("2001:db8::1"), 1, 0, 4);
        assert_eq!(
            SockAddrIn6::try_from(global),
            Err(AddrError::ZoneNotAllowed {
                addr: a6("2001:db8::1"),
                zone: z(4)
            })
        );
        assert!(SockAddr::try_from(SocketAddr::V6(global)).is_err());
        let std4: SocketAddr = "192.0.2.1:7".parse().unwrap();
        let sa = SockAddr::try_from(std4).unwrap();
        assert_eq!(SocketAddr::try_from(sa), Ok(std4));
        assert_eq!(SockAddrIn::try_from(sa).unwrap().port(), 7);
        assert_eq!(
            SockAddrIn6::try_from(sa),
            Err(AddrError::FamilyMismatch {
                expected: Family::Inet6,
                got: Family::Inet
            })
        );
        let dl = SockAddr::from(SockAddrDl::new(idx(1), LinkAddr::default()));
        assert_eq!(
            SocketAddr::try_from(dl),
            Err(AddrError::NotIp {
                family: Family::Link
            })
        );
        assert_eq!(
            SockAddrIn::try_from(dl),
            Err(AddrError::FamilyMismatch {
                expected: Family::Inet,
                got: Family::Link
            })
        );
        let v6 = SockAddr::from(ours);
        assert_eq!(SockAddrIn6::try_from(v6), Ok(ours));
        assert_eq!(SocketAddr::try_from(v6), Ok(SocketAddr::V6(std6)));
    }

    fn any_sockaddr_in6() -> impl Strategy<Value = SockAddrIn6> {
        (
            any::<u128>(),
            0..=u32::MAX,
            any::<u16>(),
            any::<u32>(),
            0..3u8,
        )
            .prop_map(|(bits, zone, port, flow, kind)| {
                let low = bits & ((1 << 64) - 1);
                let bits = match kind {
                    0 => (0xfe80u128 << 112) | low,
                    1 => (0xff02u128 << 112) | low,
                    _ => bits,
                };
                let addr = Ipv6Addr::from(bits);
                let zone = if requires_zone(&addr) {
                    ZoneId::new(zone)
                } else {
                    None
                };
                SockAddrIn6::new(addr, port, flow, zone).unwrap()
            })
    }

    proptest! {
        #[test]
        fn socketaddrv6_round_trip(sa in any_sockaddr_in6()) {
            let std6 = SocketAddrV6::from(sa);
            prop_assert_eq!(std6.scope_id(), sa.zone().map_or(0, ZoneId::get));
            prop_assert_eq!(SockAddrIn6::try_from(std6), Ok(sa));
        }

        #[test]
        fn any_std_socketaddrv6_converts_or_is_refused(
            bits in any::<u128>(), port in any::<u16>(), flow in any::<u32>(), scope in any::<u32>()
        ) {
            let std6 = SocketAddrV6::new(Ipv6Addr::from(bits), port, flow, scope);
            match SockAddrIn6::try_from(std6) {
                Ok(sa) => prop_assert_eq!(SocketAddrV6::from(sa), std6),
                Err(e) => {
                    let refused = matches!(e, AddrError::ZoneNotAllowed { .. });
                    prop_assert!(refused);
                    prop_assert!(scope != 0 && !requires_zone(std6.ip()));
                }
            }
        }

        #[test]
        fn print_parse_round_trip(sa in any_sockaddr_in6()) {
            // The text form has no flow info.
            let sa = SockAddrIn6::new(sa.addr(), sa.port(), 0, sa.zone()).unwrap();
            prop_assert_eq!(sa.to_string().parse::<SockAddrIn6>(), Ok(sa));
            // and agrees with std's text form
            prop_assert_eq!(sa.to_string(), SocketAddrV6::from(sa).to_string());
            let back = sa.to_string().parse::<SocketAddrV6>().unwrap();
            prop_assert_eq!(back, SocketAddrV6::from(sa));
        }

        #[test]
        fn sockaddr_in_round_trips(bits in any::<u32>(), port in any::<u16>()) {
            let sa = SockAddrIn::new(Ipv4Addr::from(bits), port);
            prop_assert_eq!(SockAddrIn::from(SocketAddrV4::from(sa)), sa);
            prop_assert_eq!(sa.to_string().parse::<SockAddrIn>(), Ok(sa));
            prop_assert_eq!(sa.to_v4_mapped().to_v4(), Some(sa));
            let any = SockAddr::from(sa);
            prop_assert_eq!(any.to_string().parse::<SockAddr>(), Ok(any));
        }

        #[test]
        fn link_addr_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..=LINK_ADDR_MAX)) {
            let l = LinkAddr::new(&bytes).unwrap();
            prop_assert_eq!(l.as_bytes(), &bytes[..]);
            prop_assert_eq!(l.to_string().parse::<LinkAddr>(), Ok(l));
        }
    }
}
