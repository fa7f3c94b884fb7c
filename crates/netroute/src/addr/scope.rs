//! IPv6 address scopes and zones: `in6_addrscope`, `struct scope6_id` and the zone half
//! of `in6_setscope` (sys/netinet6/scope6.c), RFC 4007 and RFC 7346.

use std::cmp::Ordering;
use std::fmt;
use std::net::Ipv6Addr;
use std::num::NonZeroU32;

use super::AddrError;

/// An interface index (`if_index`): nonzero, as in NetBSD where index 0 means "none".
///
/// Guarantees the value is never 0; "no interface" is written `Option<IfIndex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfIndex(NonZeroU32);

impl IfIndex {
    /// The index `n`, or `None` for 0 (which names no interface).
    pub const fn new(n: u32) -> Option<Self> {
        match NonZeroU32::new(n) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The index as a number (never 0).
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv6 scope zone index (RFC 4007 §6), the value of `sin6_scope_id`.
///
/// Guarantees the value is never 0: a zone of 0 means "no zone" and is written
/// `Option<ZoneId>` (`None`). By default a link's zone is the index of its interface
/// (the KAME "one link per interface" assumption), see [`ScopeZones::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(NonZeroU32);

impl ZoneId {
    /// The zone `n`, or `None` for 0 (which means "no zone").
    pub const fn new(n: u32) -> Option<Self> {
        match NonZeroU32::new(n) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The zone as a number (never 0), as stored in `sin6_scope_id`.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl From<IfIndex> for ZoneId {
    /// The zone an interface's index names: the default interface-local and link-local
    /// zone of that interface.
    fn from(index: IfIndex) -> Self {
        Self(index.0)
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Multicast scope values RFC 4291 §2.7 and RFC 7346 mark reserved (0 and 0xf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservedScope {
    /// Scope value 0.
    Scope0,
    /// Scope value 0xf.
    ScopeF,
}

/// Multicast scope values RFC 7346 leaves unassigned (6, 7, 9 to 0xd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnassignedScope {
    /// Scope value 6.
    Scope6,
    /// Scope value 7.
    Scope7,
    /// Scope value 9.
    Scope9,
    /// Scope value 0xa.
    ScopeA,
    /// Scope value 0xb.
    ScopeB,
    /// Scope value 0xc.
    ScopeC,
    /// Scope value 0xd.
    ScopeD,
}

/// The scope of an IPv6 address (RFC 4007 §4, RFC 4291 §2.7, RFC 7346 §2).
///
/// Every variant has the 4-bit value of the multicast scope field
/// ([`value`](Self::value)); scopes compare by that value, so "smaller" means "narrower"
/// as RFC 6724 source selection expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6Scope {
    /// Interface-local (1): multicast loopback within one interface.
    InterfaceLocal,
    /// Link-local (2): `fe80::/10`, `ff02::/16`-like multicast, and the loopback `::1`.
    LinkLocal,
    /// Realm-local (3, RFC 7346), multicast only.
    RealmLocal,
    /// Admin-local (4), multicast only.
    AdminLocal,
    /// Site-local (5): deprecated `fec0::/10` unicast (RFC 3879) and site multicast.
    SiteLocal,
    /// Organization-local (8), multicast only.
    OrganizationLocal,
    /// Global (0xe): every other unicast address, including `::` and `fc00::/7`.
    Global,
    /// A reserved multicast scope value (0 or 0xf).
    Reserved(ReservedScope),
    /// An unassigned multicast scope value (6, 7, 9 to 0xd).
    Unassigned(UnassignedScope),
}

impl Ipv6Scope {
    /// The scope named by a 4-bit multicast scope value; `None` if `value > 0xf`.
    pub const fn from_value(value: u8) -> Option<Self> {
        use Ipv6Scope::*;
        Some(match value {
            0x0 => Reserved(ReservedScope::Scope0),
            0x1 => InterfaceLocal,
            0x2 => LinkLocal,
            0x3 => RealmLocal,
            0x4 => AdminLocal,
            0x5 => SiteLocal,
            0x6 => Unassigned(UnassignedScope::Scope6),
            0x7 => Unassigned(UnassignedScope::Scope7),
            0x8 => OrganizationLocal,
            0x9 => Unassigned(UnassignedScope::Scope9),
            0xa => Unassigned(UnassignedScope::ScopeA),
            0xb => Unassigned(UnassignedScope::ScopeB),
            0xc => Unassigned(UnassignedScope::ScopeC),
            0xd => Unassigned(UnassignedScope::ScopeD),
            0xe => Global,
            0xf => Reserved(ReservedScope::ScopeF),
            _ => return None,
        })
    }

    /// The 4-bit scope value (`IPV6_ADDR_SCOPE_*`), always `<= 0xf`.
    pub const fn value(self) -> u8 {
        use Ipv6Scope::*;
        match self {
            Reserved(ReservedScope::Scope0) => 0x0,
            InterfaceLocal => 0x1,
            LinkLocal => 0x2,
            RealmLocal => 0x3,
            AdminLocal => 0x4,
            SiteLocal => 0x5,
            Unassigned(UnassignedScope::Scope6) => 0x6,
            Unassigned(UnassignedScope::Scope7) => 0x7,
            OrganizationLocal => 0x8,
            Unassigned(UnassignedScope::Scope9) => 0x9,
            Unassigned(UnassignedScope::ScopeA) => 0xa,
            Unassigned(UnassignedScope::ScopeB) => 0xb,
            Unassigned(UnassignedScope::ScopeC) => 0xc,
            Unassigned(UnassignedScope::ScopeD) => 0xd,
            Global => 0xe,
            Reserved(ReservedScope::ScopeF) => 0xf,
        }
    }

    /// The scope of `addr`; the same as [`scope_of`].
    pub fn of(addr: &Ipv6Addr) -> Self {
        scope_of(addr)
    }

    /// Whether this scope is divided into zones (RFC 4007 §5): every scope narrower
    /// than global. Global, reserved and unassigned scopes have no zones.
    pub const fn has_zones(self) -> bool {
        matches!(
            self,
            Self::InterfaceLocal
                | Self::LinkLocal
                | Self::RealmLocal
                | Self::AdminLocal
                | Self::SiteLocal
                | Self::OrganizationLocal
        )
    }
}

impl PartialOrd for Ipv6Scope {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ipv6Scope {
    /// Orders by the scope value: interface-local < link-local < ... < global.
    fn cmp(&self, other: &Self) -> Ordering {
        self.value().cmp(&other.value())
    }
}

impl fmt::Display for Ipv6Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InterfaceLocal => f.write_str("interface-local"),
            Self::LinkLocal => f.write_str("link-local"),
            Self::RealmLocal => f.write_str("realm-local"),
            Self::AdminLocal => f.write_str("admin-local"),
            Self::SiteLocal => f.write_str("site-local"),
            Self::OrganizationLocal => f.write_str("organization-local"),
            Self::Global => f.write_str("global"),
            Self::Reserved(_) => write!(f, "reserved({:#x})", self.value()),
            Self::Unassigned(_) => write!(f, "unassigned({:#x})", self.value()),
        }
    }
}

/// The scope of an IPv6 address (`in6_addrscope`).
///
/// * `fe80::/10` is link-local and `fec0::/10` site-local; other `fe00::/8` addresses
///   are global (as NetBSD: "just in case").
/// * Multicast: the scope field, verbatim, including reserved and unassigned values.
///   **Differs from NetBSD**, which folds every multicast scope except 1, 2 and 5 into
///   global (so `ff08::1` would be "global" and never get an organization zone). We
///   follow RFC 4007/RFC 7346 as FreeBSD and Linux do, so that RFC 6724 scope
///   comparisons are right.
/// * `::1` is link-local (KAME/NetBSD; RFC 4291 §2.5.3 says the loopback address is
///   "treated as having Link-Local scope"), but it carries no zone
///   ([`requires_zone`] is false): there is only one loopback address.
/// * `::` and every other address (including unique-local `fc00::/7`) is global.
pub fn scope_of(addr: &Ipv6Addr) -> Ipv6Scope {
    let b = addr.octets();
    if b[0] == 0xff {
        // `b[1] & 0xf <= 0xf`, so the lookup cannot fail.
        return Ipv6Scope::from_value(b[1] & 0x0f).unwrap_or(Ipv6Scope::Global);
    }
    if b[0] == 0xfe {
        return match b[1] & 0xc0 {
            0x80 => Ipv6Scope::LinkLocal,
            0xc0 => Ipv6Scope::SiteLocal,
            _ => Ipv6Scope::Global,
        };
    }
    if *addr == Ipv6Addr::LOCALHOST {
        return Ipv6Scope::LinkLocal;
    }
    Ipv6Scope::Global
}

/// Whether `addr` is ambiguous without a zone and so must carry one wherever it is
/// used to reach a node: link-local unicast (`fe80::/10`), link-local multicast and
/// interface-local multicast.
///
/// This is NetBSD's `IN6_IS_SCOPE_EMBEDDABLE`: exactly the addresses into whose bytes
/// 2-3 NetBSD embeds the zone. We never embed; the zone is a separate field
/// ([`ScopedAddr`](super::ScopedAddr), [`SockAddrIn6`](super::SockAddrIn6)), and only
/// these addresses may carry one.
pub fn requires_zone(addr: &Ipv6Addr) -> bool {
    let b = addr.octets();
    (b[0] == 0xfe && b[1] & 0xc0 == 0x80) || (b[0] == 0xff && matches!(b[1] & 0x0f, 1 | 2))
}

/// The zones one interface belongs to, one per scope (`struct scope6_id`).
///
/// Guarantees: the interface-local zone is always the interface's index and the
/// link-local zone is always set; only scopes that [have zones](Ipv6Scope::has_zones)
/// have an entry. Later layers keep one per interface and use [`zone_for`] to scope
/// addresses (`in6_setscope`).
///
/// [`zone_for`]: ScopeZones::zone_for
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeZones {
    ifindex: IfIndex,
    loopback: bool,
    /// Indexed by [`Ipv6Scope::value`]; `None` for scopes without zones.
    zones: [Option<ZoneId>; 16],
}

impl ScopeZones {
    /// The default zones of the interface with index `ifindex` (`scope6_ifattach`):
    /// interface-local and link-local zone = `ifindex`; realm-, admin-, site- and
    /// organization-local zone = 1 (NetBSD's `MULTI_SCOPE` default of "one site, one
    /// organization"; NetBSD leaves realm and admin unset because its `in6_addrscope`
    /// never returns them).
    pub fn new(ifindex: IfIndex) -> Self {
        let one = ZoneId::new(1);
        let mut zones = [None; 16];
        for scope in [
            Ipv6Scope::RealmLocal,
            Ipv6Scope::AdminLocal,
            Ipv6Scope::SiteLocal,
            Ipv6Scope::OrganizationLocal,
        ] {
            zones[usize::from(scope.value())] = one;
        }
        zones[usize::from(Ipv6Scope::InterfaceLocal.value())] = Some(ifindex.into());
        zones[usize::from(Ipv6Scope::LinkLocal.value())] = Some(ifindex.into());
        Self {
            ifindex,
            loopback: false,
            zones,
        }
    }

    /// The same zones, for an interface that is (or is not) a loopback interface
    /// (`IFF_LOOPBACK`): only a loopback interface may own `::1`.
    pub fn with_loopback(mut self, loopback: bool) -> Self {
        self.loopback = loopback;
        self
    }

    /// The interface these zones belong to.
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// Whether the interface is a loopback interface.
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The interface's zone for `scope` (`s6id_list[scope]`); `None` for scopes without
    /// zones.
    pub fn zone(&self, scope: Ipv6Scope) -> Option<ZoneId> {
        self.zones[usize::from(scope.value())]
    }

    /// Sets the interface's zone for `scope` (one entry of `scope6_set`).
    ///
    /// Fails with [`AddrError::BadScopeZone`] for a scope without zones, or for an
    /// interface-local zone other than the interface's index (a zone of that scope *is*
    /// the interface by definition). Nothing changes on error. As in NetBSD, addresses
    /// already scoped with the old zone are not updated.
    pub fn set_zone(&mut self, scope: Ipv6Scope, zone: ZoneId) -> Result<(), AddrError> {
        let fixed = scope == Ipv6Scope::InterfaceLocal && zone != ZoneId::from(self.ifindex);
        if !scope.has_zones() || fixed {
            return Err(AddrError::BadScopeZone { scope, zone });
        }
        self.zones[usize::from(scope.value())] = Some(zone);
        Ok(())
    }

    /// The zone `addr` has when it belongs to this interface: the zone lookup of
    /// `in6_setscope`.
    ///
    /// `::1` has no zone and belongs only to a loopback interface
    /// ([`AddrError::LoopbackOnNonLoopback`] otherwise, NetBSD's EINVAL). Any other
    /// address gets the interface's zone for [its scope](scope_of), `None` for global.
    /// The result is `Some` for every address that [`requires_zone`].
    pub fn zone_for(&self, addr: &Ipv6Addr) -> Result<Option<ZoneId>, AddrError> {
        if *addr == Ipv6Addr::LOCALHOST {
            return if self.loopback {
                Ok(None)
            } else {
                Err(AddrError::LoopbackOnNonLoopback)
            };
        }
        Ok(self.zone(scope_of(addr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn scope_of_every_class() {
        use Ipv6Scope::*;
        #[rustfmt::skip]
        let table: &[(&str, Ipv6Scope, bool)] = &[
            // unicast
            ("fe80::1", LinkLocal, true),
            ("febf:ffff::1", LinkLocal, true),
            ("fec0::1", SiteLocal, false),
            ("feff::1", SiteLocal, false),
            ("fe00::1", Global, false),
            ("fe7f::1", Global, false),
            ("::1", LinkLocal, false),
            ("::", Global, false),
            ("::2", Global, false),
            ("fd00::1", Global, false),
            ("2001:db8::1", Global, false),
            ("::ffff:192.0.2.1", Global, false),
            // multicast, every scope value
            ("ff00::1", Reserved(ReservedScope::Scope0), false),
            ("ff01::1", InterfaceLocal, true),
            ("ff02::1", LinkLocal, true),
            ("ff12::1", LinkLocal, true),
            ("ff32::1", LinkLocal, true),
            ("ff03::1", RealmLocal, false),
            ("ff04::1", AdminLocal, false),
            ("ff05::2", SiteLocal, false),
            ("ff06::1", Unassigned(UnassignedScope::Scope6), false),
            ("ff07::1", Unassigned(UnassignedScope::Scope7), false),
            ("ff08::1", OrganizationLocal, false),
            ("ff09::1", Unassigned(UnassignedScope::Scope9), false),
            ("ff0a::1", Unassigned(UnassignedScope::ScopeA), false),
            ("ff0b::1", Unassigned(UnassignedScope::ScopeB), false),
            ("ff0c::1", Unassigned(UnassignedScope::ScopeC), false),
            ("ff0d::1", Unassigned(UnassignedScope::ScopeD), false),
            ("ff0e::1", Global, false),
            ("ff1e::1", Global, false),
            ("ff0f::1", Reserved(ReservedScope::ScopeF), false),
        ];
        for &(addr, scope, zoned) in table {
            assert_eq!(scope_of(&a(addr)), scope, "{addr}");
            assert_eq!(Ipv6Scope::of(&a(addr)), scope, "{addr}");
            assert_eq!(requires_zone(&a(addr)), zoned, "{addr}");
        }
    }

    #[test]
    fn scope_values_round_trip_and_order() {
        for v in 0..=0xfu8 {
            let s = Ipv6Scope::from_value(v).unwrap();
            assert_eq!(s.value(), v);
        }
        assert_eq!(Ipv6Scope::from_value(0x10), None);
        assert!(Ipv6Scope::InterfaceLocal < Ipv6Scope::LinkLocal);
        assert!(Ipv6Scope::LinkLocal < Ipv6Scope::SiteLocal);
        assert!(Ipv6Scope::SiteLocal < Ipv6Scope::OrganizationLocal);
        assert!(Ipv6Scope::OrganizationLocal < Ipv6Scope::Global);
        assert_eq!(Ipv6Scope::Global.to_string(), "global");
        assert_eq!(
            Ipv6Scope::from_value(7).unwrap().to_string(),
            "unassigned(0x7)"
        );
        assert_eq!(
            Ipv6Scope::from_value(0).unwrap().to_string(),
            "reserved(0x0)"
        );
    }

    #[test]
    fn zero_is_not_an_index_or_zone() {
        assert_eq!(IfIndex::new(0), None);
        assert_eq!(ZoneId::new(0), None);
        assert_eq!(ZoneId::new(7).unwrap().get(), 7);
        assert_eq!(
            ZoneId::from(IfIndex::new(3).unwrap()),
            ZoneId::new(3).unwrap()
        );
    }

    #[test]
    fn default_zones_follow_scope6_ifattach() {
        let z = ScopeZones::new(IfIndex::new(4).unwrap());
        let four = ZoneId::new(4);
        let one = ZoneId::new(1);
        assert_eq!(z.zone(Ipv6Scope::InterfaceLocal), four);
        assert_eq!(z.zone(Ipv6Scope::LinkLocal), four);
        assert_eq!(z.zone(Ipv6Scope::SiteLocal), one);
        assert_eq!(z.zone(Ipv6Scope::OrganizationLocal), one);
        assert_eq!(z.zone(Ipv6Scope::Global), None);
        assert_eq!(z.zone_for(&a("fe80::1")).unwrap(), four);
        assert_eq!(z.zone_for(&a("ff01::1")).unwrap(), four);
        assert_eq!(z.zone_for(&a("fec0::1")).unwrap(), one);
        assert_eq!(z.zone_for(&a("2001:db8::1")).unwrap(), None);
    }

    #[test]
    fn loopback_only_on_loopback_interface() {
        let idx = IfIndex::new(1).unwrap();
        let ether = ScopeZones::new(idx);
        assert_eq!(
            ether.zone_for(&Ipv6Addr::LOCALHOST),
            Err(AddrError::LoopbackOnNonLoopback)
        );
        let lo = ScopeZones::new(idx).with_loopback(true);
        assert!(lo.is_loopback());
        assert_eq!(lo.zone_for(&Ipv6Addr::LOCALHOST), Ok(None));
    }

    #[test]
    fn set_zone_checks_scope() {
        let mut z = ScopeZones::new(IfIndex::new(2).unwrap());
        let before = z.clone();
        let nine = ZoneId::new(9).unwrap();
        for scope in [
            Ipv6Scope::Global,
            Ipv6Scope::InterfaceLocal,
            Ipv6Scope::from_value(0).unwrap(),
            Ipv6Scope::from_value(6).unwrap(),
        ] {
            assert_eq!(
                z.set_zone(scope, nine),
                Err(AddrError::BadScopeZone { scope, zone: nine })
            );
        }
        assert_eq!(z, before);
        z.set_zone(Ipv6Scope::InterfaceLocal, ZoneId::new(2).unwrap())
            .unwrap();
        z.set_zone(Ipv6Scope::LinkLocal, nine).unwrap();
        z.set_zone(Ipv6Scope::SiteLocal, nine).unwrap();
        assert_eq!(z.zone_for(&a("fe80::1")).unwrap(), Some(nine));
        assert_eq!(z.zone_for(&a("ff05::1")).unwrap(), Some(nine));
        assert_eq!(z.ifindex().get(), 2);
    }
}
