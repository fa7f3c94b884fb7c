//! `in6_selectsrc` and `in6_select_best_ia` of sys/netinet6/in6_src.c (1.85): IPv6
//! source address selection, RFC 6724 §5.
//!
//! The candidates are compared pairwise with the rules in RFC order
//! ([`compare_sources`]: one line per rule, each answering "A", "B" or "no decision").
//! All candidate facts are computed once, inside one read section, into plain
//! [`Candidate`] values, and the chosen address is copied out before the section ends
//! (NetBSD's fix of returning a pointer into an `in6_ifaddr`).

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::addr::{Family, IfIndex, Ipv6Scope, ScopedAddr, SockAddrIn6, scope_of};
use crate::ifnet::{IfAddr, IfFlags, IfTable, IfaAddr, Ifnet, In6Flags, MulticastOptions};
use crate::route::RouteCache;

use super::route6::{SelectedIf, in6_selectif};
use super::{Ip6PktOpts, MobilityPref, PolicyTable, SelectCtx, SelectError, SrcPrefs, TempPref};

/// What decided a source address: the socket's own choice, or the RFC 6724 §5 rule
/// that eliminated the last competitor.
///
/// Variants are in evaluation order, so `Ord` says "decided later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SrcRule {
    /// `IPV6_PKTINFO` gave the address.
    PktInfo,
    /// The socket is bound to the address.
    Bound,
    /// Only one candidate survived the filters.
    OnlyCandidate,
    /// Rule 1: prefer the same address as the destination.
    SameAddress,
    /// Rule 2: prefer appropriate scope.
    Scope,
    /// Rule 3: avoid deprecated addresses.
    Deprecated,
    /// Rule 4: prefer home addresses (or care-of addresses, by preference).
    Home,
    /// Rule 5: prefer the outgoing interface.
    OutgoingInterface,
    /// Rule 5.5: prefer addresses in a prefix advertised by the next hop.
    NextHopPrefix,
    /// Rule 6: prefer a matching label.
    Label,
    /// Rule 7: prefer temporary addresses (or public ones, by preference).
    Temporary,
    /// KAME's extra rule, after rule 7 (NetBSD's rule 8): prefer addresses on
    /// interfaces that are up.
    InterfaceUp,
    /// Rule 8: use the longest matching prefix.
    LongestMatch,
    /// Nothing told the candidates apart: the first in address-list order won.
    ListOrder,
}

impl SrcRule {
    /// The rule's name as RFC 6724 numbers it (`"rule 5.5"`), or what decided.
    pub fn name(self) -> &'static str {
        match self {
            SrcRule::PktInfo => "pktinfo",
            SrcRule::Bound => "bound",
            SrcRule::OnlyCandidate => "only candidate",
            SrcRule::SameAddress => "rule 1 (same address)",
            SrcRule::Scope => "rule 2 (appropriate scope)",
            SrcRule::Deprecated => "rule 3 (avoid deprecated)",
            SrcRule::Home => "rule 4 (home address)",
            SrcRule::OutgoingInterface => "rule 5 (outgoing interface)",
            SrcRule::NextHopPrefix => "rule 5.5 (next-hop prefix)",
            SrcRule::Label => "rule 6 (matching label)",
            SrcRule::Temporary => "rule 7 (temporary address)",
            SrcRule::InterfaceUp => "KAME rule (interface up)",
            SrcRule::LongestMatch => "rule 8 (longest matching prefix)",
            SrcRule::ListOrder => "list order",
        }
    }
}

impl fmt::Display for SrcRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The source address `in6_selectsrc` chose, copied out of the read section.
///
/// Guarantees: owned data, no reference held; the address was one of ours, usable as a
/// source (not anycast, tentative, duplicated or detached) when it was chosen — except
/// for [`SrcRule::Bound`], which is the socket's bound address, copied as NetBSD does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Src6 {
    /// The address, with its zone if it is scoped.
    pub addr: ScopedAddr,
    /// The outgoing interface (`None` only for a bound or pktinfo address when no
    /// interface could be chosen).
    pub ifindex: Option<IfIndex>,
    /// What decided.
    pub rule: SrcRule,
    /// The address's flags when chosen (empty for [`SrcRule::Bound`]).
    pub flags: In6Flags,
    /// Whether the address was deprecated when chosen (flag or preferred lifetime).
    pub deprecated: bool,
    /// The address's prefix length (128 for [`SrcRule::Bound`]).
    pub prefix_len: u8,
    attach_id: u64,
}

impl Src6 {
    /// A passive reference to the outgoing interface (`if_get_byindex`), `None` if
    /// there is none or it was detached since the selection.
    pub fn interface<'t>(&self, ifs: &'t IfTable) -> Option<psref::PsRef<'t, Ifnet>> {
        ifs.get_by_index(self.ifindex?)
            .filter(|i| i.attach_id() == self.attach_id)
    }
}

/// Everything the rules need to know about one candidate source address, computed once.
///
/// Public so that rules can be tested (and explained) on plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The address.
    pub addr: ScopedAddr,
    /// Its scope.
    pub scope: Ipv6Scope,
    /// Deprecated (flag or preferred lifetime over).
    pub deprecated: bool,
    /// A home address (`In6Flags::HOME`); other addresses count as care-of addresses.
    pub home: bool,
    /// On the outgoing interface.
    pub outgoing: bool,
    /// Inside the prefix the next hop advertises (rule 5.5), as far as known.
    pub next_hop_prefix: bool,
    /// The policy label, `None` if no policy row matches.
    pub label: Option<u8>,
    /// A temporary address.
    pub temporary: bool,
    /// Its interface is up.
    pub if_up: bool,
    /// `CommonPrefixLen(addr, dst)` capped at the address's prefix length (RFC 6724
    /// §2.2).
    pub match_len: u8,
    /// The address's flags (not used by the rules; copied into [`Src6`]).
    pub flags: In6Flags,
    /// The address's prefix length (not used by the rules; copied into [`Src6`]).
    pub prefix_len: u8,
}

/// The destination as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The address, with its zone.
    pub addr: ScopedAddr,
    /// Its scope.
    pub scope: Ipv6Scope,
    /// Its policy label.
    pub label: Option<u8>,
}

impl Destination {
    /// The destination `addr` under `policy`.
    pub fn new(addr: ScopedAddr, policy: &PolicyTable) -> Self {
        Self {
            addr,
            scope: addr.scope(),
            label: policy.lookup(&addr.addr()).map(|p| p.label),
        }
    }
}

/// The number of leading bits `a` and `b` share.
pub(crate) fn common_prefix_len(a: &Ipv6Addr, b: &Ipv6Addr) -> u8 {
    // At most 128, fits in a u8.
    (u128::from(*a) ^ u128::from(*b)).leading_zeros() as u8
}

/// Every rule of RFC 6724 §5 prefers one value of a per-candidate fact (given the
/// destination and the preferences), so the rules together are a lexicographic order on
/// one packed rank: rule 1 in the most significant bits, rule 8 in the least. A higher
/// rank is preferred, equal ranks tie, and the highest bit where two ranks differ names
/// the rule that decided. The bit fields, least significant first:
const MATCH_LEN: u32 = 0; // 8 bits: rule 8
const IF_UP: u32 = 8; // KAME
const TEMPORARY: u32 = 9; // rule 7
const LABEL: u32 = 10; // rule 6
const NEXT_HOP: u32 = 11; // rule 5.5
const OUTGOING: u32 = 12; // rule 5
const HOME: u32 = 13; // rule 4
const NOT_DEPRECATED: u32 = 14; // rule 3
const SCOPE: u32 = 15; // 5 bits: rule 2
const SAME: u32 = 20; // rule 1

/// The rank of `c` for `dst` (see [`MATCH_LEN`] and the other fields).
#[inline]
fn rank(c: &Candidate, dst: &Destination, prefs: SrcPrefs) -> u32 {
    let bit = |b: bool, at: u32| u32::from(b) << at;
    // Rule 1: "If SA = D, then prefer SA. Similarly, if SB = D, then prefer SB."
    bit(c.addr == dst.addr, SAME)
        // Rule 2: "If Scope(SA) < Scope(SB): If Scope(SA) < Scope(D), then prefer SB
        // and otherwise prefer SA. Similarly, if Scope(SB) < Scope(SA): If Scope(SB) <
        // Scope(D), then prefer SA and otherwise prefer SB." Equivalently: scopes at
        // least as wide as D's first, the narrowest of those; then, below D's, the
        // widest.
        | (match c.scope >= dst.scope {
            true => 0x10 | u32::from(0xf - c.scope.value()),
            false => u32::from(c.scope.value()),
        }) << SCOPE
        // Rule 3: "If SA is deprecated and SB is not, then prefer SB."
        | bit(!c.deprecated, NOT_DEPRECATED)
        // Rule 4: "If SA is a home address and SB is not, then prefer SA" (reversed by
        // IPV6_PREFER_SRC_COA).
        | bit(c.home == (prefs.mobility == MobilityPref::Home), HOME)
        // Rule 5: "If SA is assigned to the interface that will be used to send to D
        // and SB is assigned to a different interface, then prefer SA."
        | bit(c.outgoing, OUTGOING)
        // Rule 5.5: "If SA is in a prefix advertised by the next-hop and SB is not,
        // then prefer SA."
        | bit(c.next_hop_prefix, NEXT_HOP)
        // Rule 6: "If Label(SA) = Label(D) and Label(SB) <> Label(D), then prefer SA."
        // Without a label for D the rule does not apply; a candidate without one does
        // not match (NetBSD's ADDR_LABEL_NOTAPP).
        | bit(dst.label.is_some() && c.label == dst.label, LABEL)
        // Rule 7: "If SA is a temporary address and SB is a public address, then prefer
        // SA" (reversed by IPV6_PREFER_SRC_PUBLIC).
        | bit(c.temporary == (prefs.temp == TempPref::Temporary), TEMPORARY)
        // KAME (NetBSD's rule 8): prefer addresses on interfaces that are up.
        | bit(c.if_up, IF_UP)
        // Rule 8: "If CommonPrefixLen(SA, D) > CommonPrefixLen(SB, D), then prefer SA."
        | u32::from(c.match_len) << MATCH_LEN
}

/// The rule that tells apart two different ranks: the field of their highest differing
/// bit; [`SrcRule::ListOrder`] for equal ranks.
#[inline]
fn deciding_rule(a: u32, b: u32) -> SrcRule {
    let x = a ^ b;
    if x == 0 {
        return SrcRule::ListOrder;
    }
    match 31 - x.leading_zeros() {
        SAME.. => SrcRule::SameAddress,
        SCOPE.. => SrcRule::Scope,
        NOT_DEPRECATED => SrcRule::Deprecated,
        HOME => SrcRule::Home,
        OUTGOING => SrcRule::OutgoingInterface,
        NEXT_HOP => SrcRule::NextHopPrefix,
        LABEL => SrcRule::Label,
        TEMPORARY => SrcRule::Temporary,
        IF_UP => SrcRule::InterfaceUp,
        _ => SrcRule::LongestMatch,
    }
}

/// Compares two candidates for `dst` with the RFC 6724 §5 rules in order:
/// `Ordering::Less` if `a` is preferred, `Greater` if `b` is, `Equal` if no rule tells
/// them apart; with the rule that decided ([`SrcRule::ListOrder`] for `Equal`).
///
/// Rule 6 applies only when the policy table gives the destination a label (a
/// candidate without one does not match, as NetBSD's `ADDR_LABEL_NOTAPP`); the KAME
/// "interface up" rule sits between 7 and 8, as in NetBSD. Every rule prefers one value
/// of a per-candidate fact, so this is a total preorder (transitive), and the winner of
/// a list does not depend on the order of the list except among ties.
pub fn compare_sources(
    a: &Candidate,
    b: &Candidate,
    dst: &Destination,
    prefs: SrcPrefs,
) -> (Ordering, SrcRule) {
    let (ra, rb) = (rank(a, dst, prefs), rank(b, dst, prefs));
    (rb.cmp(&ra), deciding_rule(ra, rb))
}

/// Picks the best of `candidates` for `dst` the way `in6_select_best_ia` walks its list
/// (keep the best so far; replace it when a rule prefers the new one; ties keep the
/// earlier), and reports which rule decided: the latest rule needed to beat any other
/// candidate ([`SrcRule::ListOrder`] if one ties with the winner). Returns the winner's
/// index; `None` for no candidates.
pub fn select_best(
    candidates: &[Candidate],
    dst: &Destination,
    prefs: SrcPrefs,
) -> Option<(usize, SrcRule)> {
    let mut best: Option<(usize, u32)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let r = rank(c, dst, prefs);
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((i, r));
        }
    }
    let (w, rw) = best?;
    let rule = candidates
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != w)
        .map(|(_, c)| deciding_rule(rw, rank(c, dst, prefs)))
        .max()
        .unwrap_or(SrcRule::OnlyCandidate);
    Some((w, rule))
}

/// Flags that keep an address out of the candidate set: not usable as a source.
const NEVER: In6Flags = In6Flags::ANYCAST
    .union(In6Flags::TENTATIVE)
    .union(In6Flags::DUPLICATED)
    .union(In6Flags::DETACHED);

/// `in6_selectsrc`: the source address for a packet to `dst`, copied out.
///
/// Order, as NetBSD:
/// 0. [`in6_selectif`] chooses the outgoing interface (its error is remembered);
/// 1. an `IPV6_PKTINFO` source address: scoped to the outgoing interface if it needs a
///    zone; it must be one of ours and not anycast, tentative or duplicated
///    ([`SelectError::AddrNotAvailable`]) — [`SrcRule::PktInfo`];
/// 2. else the bound address `laddr`, copied as is — [`SrcRule::Bound`];
/// 3. else, without an outgoing interface, step 0's error;
/// 4. else the best candidate (`in6_select_best_ia`): every IPv6 address of the stack,
///    filtered and compared by the RFC 6724 §5 rules in order. A scoped destination
///    without a zone takes the outgoing interface's.
///
/// Filters: anycast, tentative, duplicated and detached addresses are never
/// candidates; deprecated ones only while `use_deprecated` is on; `::1` only when the
/// outgoing interface is a loopback interface; an address whose interface is in
/// another zone than the outgoing interface for the destination's scope or for its own
/// scope is skipped (RFC 6724 §4, NetBSD's zone checks). No candidate:
/// [`SelectError::AddrNotAvailable`].
///
/// Rules (see [`compare_sources`]): 1 same address; 2 appropriate scope; 3 avoid
/// deprecated; 4 home addresses (by the socket's `IPV6_PREFER_SRC_HOME/COA`,
/// else the stack default); 5 outgoing interface; **5.5** the next hop's prefix —
/// "known" here means: the packet leaves through a router (an IPv6 gateway route on
/// the outgoing interface) and the candidate's prefix was advertised by that router
/// ([`AddrSpec::with_advertising_router`](crate::ifnet::AddrSpec::with_advertising_router),
/// what KAME records in `ndpr_advrtrs`). Manually configured addresses name no router,
/// so the rule never prefers them; on-link destinations, `IPV6_PKTINFO` and
/// `IPV6_MULTICAST_IF` consult no router, and then
/// rule 5.5 decides nothing. 6 matching label (policy table); 7 temporary or public
/// (`IPV6_PREFER_SRC_TMP/PUBLIC`, else the stack default); KAME: interface up; 8
/// longest matching prefix, capped at the candidate's prefix length (RFC 6724 §2.2;
/// NetBSD does not cap).
///
/// Differences from NetBSD: rules 4 and 5.5 are implemented (NetBSD compiles rule 4 out
/// and lacks 5.5); the policy table is RFC 6724's by default; the answer says which rule
/// decided; no interface reference is returned with an error — call
/// [`Src6::interface`] on success for one.
pub fn in6_selectsrc(
    ctx: &SelectCtx<'_>,
    dst: &SockAddrIn6,
    mut opts: Option<&mut Ip6PktOpts>,
    mopts: Option<&MulticastOptions>,
    ro: &mut RouteCache,
    laddr: Option<ScopedAddr>,
) -> Result<Src6, SelectError> {
    let ifs = ctx.routes.ifs();
    let sel = in6_selectif(ctx.routes, dst, opts.as_deref_mut(), mopts, ro);
    let pktinfo_src = opts.as_ref().and_then(|o| o.pktinfo).and_then(|p| p.src());
    let prefs = opts
        .as_ref()
        .and_then(|o| o.prefer_src)
        .unwrap_or(ctx.config.prefer);

    if let Some(src) = pktinfo_src {
        let scoped = match &sel {
            Ok(s) => ScopedAddr::on_interface(src, &s.zones)?,
            Err(_) => ScopedAddr::new(src, None)?,
        };
        let bad = SelectError::AddrNotAvailable {
            addr: Some(IpAddr::V6(src)),
        };
        let ia = ifs.ifa_ifwithaddr(scoped).ok_or(bad.clone())?;
        let flags = ia.flags6();
        if flags.intersects(In6Flags::ANYCAST | In6Flags::TENTATIVE | In6Flags::DUPLICATED) {
            return Err(bad);
        }
        let (ifindex, attach_id) = match &sel {
            Ok(s) => (s.ifindex, s.attach_id),
            Err(_) => (ia.ifindex(), ia.if_attach_id()),
        };
        return Ok(Src6 {
            addr: scoped,
            ifindex: Some(ifindex),
            rule: SrcRule::PktInfo,
            flags,
            deprecated: ia.is_deprecated(ifs.clock().now()),
            prefix_len: ia.prefix_len(),
            attach_id,
        });
    }
    if let Some(l) = laddr.filter(|l| !l.addr().is_unspecified()) {
        let (ifindex, attach_id) = sel
            .as_ref()
            .map_or((None, 0), |s| (Some(s.ifindex), s.attach_id));
        return Ok(Src6 {
            addr: l,
            ifindex,
            rule: SrcRule::Bound,
            flags: In6Flags::empty(),
            deprecated: false,
            prefix_len: 128,
            attach_id,
        });
    }
    let sel = sel?;
    let mut d = *dst;
    d.set_scope(&sel.zones)?;
    let dst = Destination::new(d.scoped()?, ctx.policy);
    select_best_ia(ctx, ifs, &sel, &dst, prefs)
}

/// `in6_select_best_ia`: one read section over the address list; the result is copied
/// out before it ends.
fn select_best_ia(
    ctx: &SelectCtx<'_>,
    ifs: &IfTable,
    sel: &SelectedIf,
    dst: &Destination,
    prefs: SrcPrefs,
) -> Result<Src6, SelectError> {
    let now = ifs.clock().now();
    let g = ifs.domain().read();
    let out_zone_dst = sel.zones.zone(dst.scope);
    let cand = |ia: &IfAddr| -> Option<Candidate> {
        let IfaAddr::V6(addr) = ia.addr() else {
            return None;
        };
        let flags = ia.flags6();
        if flags.intersects(NEVER) {
            return None;
        }
        let deprecated = ia.is_deprecated(now);
        if deprecated && !ctx.config.use_deprecated {
            return None;
        }
        if addr.addr().is_loopback() && !sel.loopback {
            return None;
        }
        let ifp = ifs.byindex(&g, ia.ifindex())?;
        let zones = ifp.zones();
        let scope = scope_of(&addr.addr());
        if zones.zone(dst.scope) != out_zone_dst || zones.zone(scope) != sel.zones.zone(scope) {
            return None;
        }
        let prefix_len = ia.prefix_len();
        Some(Candidate {
            addr,
            scope,
            deprecated,
            home: flags.contains(In6Flags::HOME),
            outgoing: ia.ifindex() == sel.ifindex,
            next_hop_prefix: sel.next_hop.is_some_and(|g| ia.is_advertised_by(g)),
            label: ctx.policy.lookup(&addr.addr()).map(|p| p.label),
            temporary: flags.contains(In6Flags::TEMPORARY),
            if_up: ifp.flags().contains(IfFlags::UP),
            match_len: common_prefix_len(&addr.addr(), &dst.addr.addr()).min(prefix_len),
            flags,
            prefix_len,
        })
    };
    // One pass over the address list; the rules then run on plain values.
    let cands: Vec<Candidate> = ifs
        .addrs_in(&g, Family::Inet6)
        .filter_map(|ia| cand(&ia))
        .collect();
    let (best, rule) =
        select_best(&cands, dst, prefs).ok_or(SelectError::AddrNotAvailable { addr: None })?;
    let best = cands[best];
    drop(g);
    Ok(Src6 {
        addr: best.addr,
        ifindex: Some(sel.ifindex),
        rule,
        flags: best.flags,
        deprecated: best.deprecated,
        prefix_len: best.prefix_len,
        attach_id: sel.attach_id,
    })
}
