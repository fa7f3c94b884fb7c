//! The inputs of selection: the stack-wide tunables (`ip6_use_deprecated`,
//! `ip6_prefer_tempaddr`), the RFC 5014 `IPV6_PREFER_SRC_*` socket preferences and the
//! per-socket IPv6 packet options that steer it (`struct ip6_pktopts`:
//! `ip6po_pktinfo`, `ip6po_nexthop` with its cache `ip6po_nextroute`,
//! `ip6po_prefer_tempaddr`), from sys/netinet6/ip6_var.h and in6_src.c.

use std::net::Ipv6Addr;

use crate::addr::{IfIndex, SockAddr};
use crate::route::{RouteCache, RouteTables};

use super::{PolicyTable, SelectError};

/// `IPV6_PREFER_SRC_TMP` (RFC 5014): prefer temporary addresses.
pub const IPV6_PREFER_SRC_TMP: u32 = 0x0001;
/// `IPV6_PREFER_SRC_PUBLIC` (RFC 5014): prefer public addresses.
pub const IPV6_PREFER_SRC_PUBLIC: u32 = 0x0002;
/// `IPV6_PREFER_SRC_PUBTMP_DEFAULT` (RFC 5014): the stack's default for temporary vs
/// public.
pub const IPV6_PREFER_SRC_PUBTMP_DEFAULT: u32 = 0x0100;
/// `IPV6_PREFER_SRC_COA` (RFC 5014): prefer care-of addresses.
pub const IPV6_PREFER_SRC_COA: u32 = 0x0004;
/// `IPV6_PREFER_SRC_HOME` (RFC 5014): prefer home addresses.
pub const IPV6_PREFER_SRC_HOME: u32 = 0x0400;
/// `IPV6_PREFER_SRC_CGA` (RFC 5014): accepted, without effect (no CGAs here).
pub const IPV6_PREFER_SRC_CGA: u32 = 0x0008;
/// `IPV6_PREFER_SRC_NONCGA` (RFC 5014): accepted, without effect.
pub const IPV6_PREFER_SRC_NONCGA: u32 = 0x0800;

/// Source rule 7: temporary or public addresses first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TempPref {
    /// Prefer temporary (privacy) addresses: RFC 6724's default.
    #[default]
    Temporary,
    /// Prefer public addresses: NetBSD's default (`ip6_prefer_tempaddr = 0`).
    Public,
}

/// Source rule 4: home or care-of addresses first (Mobile IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MobilityPref {
    /// Prefer home addresses: RFC 6724's default.
    #[default]
    Home,
    /// Prefer care-of addresses (`IPV6_PREFER_SRC_COA`).
    CareOf,
}

/// The RFC 5014 source preferences of one socket, or the stack's default.
///
/// Guarantees: a value always names one choice per pair; contradictory flag sets are
/// refused by [`with_flags`](Self::with_flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SrcPrefs {
    /// Rule 7.
    pub temp: TempPref,
    /// Rule 4.
    pub mobility: MobilityPref,
}

impl SrcPrefs {
    /// These preferences overridden by the `IPV6_PREFER_SRC_*` flags of a
    /// `setsockopt(IPV6_ADDR_PREFERENCES)`; `IPV6_PREFER_SRC_PUBTMP_DEFAULT` keeps
    /// `self`'s (the stack default's) choice for rule 7.
    ///
    /// Errors: [`SelectError::BadPreferFlags`] for unknown bits or both flags of a pair
    /// (`TMP`+`PUBLIC`, `TMP`/`PUBLIC`+`PUBTMP_DEFAULT`, `HOME`+`COA`, `CGA`+`NONCGA`),
    /// RFC 5014's `EINVAL`.
    pub fn with_flags(self, flags: u32) -> Result<Self, SelectError> {
        let known = IPV6_PREFER_SRC_TMP
            | IPV6_PREFER_SRC_PUBLIC
            | IPV6_PREFER_SRC_PUBTMP_DEFAULT
            | IPV6_PREFER_SRC_COA
            | IPV6_PREFER_SRC_HOME
            | IPV6_PREFER_SRC_CGA
            | IPV6_PREFER_SRC_NONCGA;
        let bad = || SelectError::BadPreferFlags { flags };
        let count = |m: u32| (flags & m).count_ones();
        if flags & !known != 0
            || count(IPV6_PREFER_SRC_TMP | IPV6_PREFER_SRC_PUBLIC | IPV6_PREFER_SRC_PUBTMP_DEFAULT)
                > 1
            || count(IPV6_PREFER_SRC_HOME | IPV6_PREFER_SRC_COA) > 1
            || count(IPV6_PREFER_SRC_CGA | IPV6_PREFER_SRC_NONCGA) > 1
        {
            return Err(bad());
        }
        let mut out = self;
        if flags & IPV6_PREFER_SRC_TMP != 0 {
            out.temp = TempPref::Temporary;
        }
        if flags & IPV6_PREFER_SRC_PUBLIC != 0 {
            out.temp = TempPref::Public;
        }
        if flags & IPV6_PREFER_SRC_HOME != 0 {
            out.mobility = MobilityPref::Home;
        }
        if flags & IPV6_PREFER_SRC_COA != 0 {
            out.mobility = MobilityPref::CareOf;
        }
        Ok(out)
    }
}

/// The stack-wide tunables of source selection (sysctls).
///
/// Guarantees: plain data; the `Stack` owns one and passes it in [`SelectCtx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectConfig {
    /// `net.inet6.ip6.use_deprecated` (default on): deprecated addresses stay
    /// candidates (rule 3 still puts them last); off, they are never chosen.
    pub use_deprecated: bool,
    /// The default `IPV6_PREFER_SRC_*` preferences of sockets that set none
    /// (`net.inet6.ip6.prefer_tempaddr`). Defaults to RFC 6724's (temporary, home);
    /// NetBSD's default is public.
    pub prefer: SrcPrefs,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self {
            use_deprecated: true,
            prefer: SrcPrefs::default(),
        }
    }
}

/// The stack-wide context of a selection: the route tables (with their interface
/// table), the policy table and the tunables. Explicit, no globals: the `Stack` builds
/// one per call from what it owns.
///
/// Load the policy table once per call from the stack's
/// [`PolicyHolder`](super::PolicyHolder) so that one selection sees one table.
#[derive(Debug, Clone, Copy)]
pub struct SelectCtx<'a> {
    /// The route tables; `routes.ifs()` is the interface table.
    pub routes: &'a RouteTables,
    /// The RFC 6724 policy table.
    pub policy: &'a PolicyTable,
    /// The tunables.
    pub config: &'a SelectConfig,
}

/// `struct in6_pktinfo` (`IPV6_PKTINFO`): a source address and/or an outgoing interface
/// for one packet or, as a sticky option, for every packet of a socket.
///
/// The unspecified address `::` means "no source given", as in NetBSD. A scoped source
/// address (link-local) takes its zone from the outgoing interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PktInfo6 {
    /// `ipi6_addr`: the source address, `::` for none.
    pub addr: Ipv6Addr,
    /// `ipi6_ifindex`: the outgoing interface, `None` for "any" (index 0).
    pub ifindex: Option<IfIndex>,
}

impl Default for PktInfo6 {
    fn default() -> Self {
        Self {
            addr: Ipv6Addr::UNSPECIFIED,
            ifindex: None,
        }
    }
}

impl PktInfo6 {
    /// The source address, unless unspecified.
    pub fn src(&self) -> Option<Ipv6Addr> {
        Some(self.addr).filter(|a| !a.is_unspecified())
    }
}

/// The IPv6 packet options that steer selection (`struct ip6_pktopts`, the selection
/// part).
///
/// Guarantees: the next-hop cache (`ip6po_nextroute`) belongs to these options and is
/// emptied whenever the next hop changes, so it never holds a route to an old next hop;
/// like every [`RouteCache`], the options are `Send` but not `Sync` (one owner).
#[derive(Debug, Default)]
pub struct Ip6PktOpts {
    /// `IPV6_PKTINFO`.
    pub pktinfo: Option<PktInfo6>,
    /// `IPV6_ADDR_PREFERENCES` (RFC 5014), `None` for the stack default
    /// (`ip6po_prefer_tempaddr` = `IP6PO_TEMPADDR_SYSTEM`).
    pub prefer_src: Option<SrcPrefs>,
    nexthop: Option<SockAddr>,
    pub(crate) nextroute: RouteCache,
}

impl Ip6PktOpts {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `IPV6_NEXTHOP`: sends to `nexthop` (any family is accepted here; selection
    /// refuses a non-IPv6 one with [`SelectError::NextHopFamily`], as NetBSD), or
    /// clears it. Empties the next-hop cache (`ip6_setpktopt`'s `rtcache_free`).
    pub fn set_nexthop(&mut self, nexthop: Option<SockAddr>) {
        self.nexthop = nexthop;
        self.nextroute.free();
    }

    /// The `IPV6_NEXTHOP` address, if set.
    pub fn nexthop(&self) -> Option<SockAddr> {
        self.nexthop
    }

    /// The next-hop cache (`ip6po_nextroute`), for inspection.
    pub fn nextroute(&self) -> &RouteCache {
        &self.nextroute
    }
}
