//! RFC 6724 §6 destination address ordering: what getaddrinfo(3) does with the
//! addresses a name resolves to (NetBSD's libc `getaddrinfo.c` `comp_dst` after
//! KAME; here inside the stack, with the stack's own source selection and policy).
//!
//! Each destination gets its source address from [`in6_selectsrc`] or
//! [`in_selectsrc`] (fresh route caches, no socket options); the list is then sorted
//! with the ten rules, stably, by insertion sort: the rules are pairwise and rule 9 only
//! compares addresses of one family, so they are not a total order, and `slice::sort_by`
//! may panic on comparators that are not (Rust ≥ 1.81). Lists are short.

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::addr::{Ipv6Scope, SockAddrIn6, scope_of, v4};
use crate::ifnet::{IfaAddr, In6Flags};
use crate::route::RouteCache;

use super::policy::as_v6;
use super::src6::common_prefix_len;
use super::{PolicyTable, SelectCtx, in_selectsrc, in6_selectsrc};

/// The rule of RFC 6724 §6 that ordered two destinations.
///
/// Variants are in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DstRule {
    /// Rule 1: avoid unusable destinations.
    Unusable,
    /// Rule 2: prefer matching scope.
    MatchingScope,
    /// Rule 3: avoid deprecated addresses.
    Deprecated,
    /// Rule 4: prefer home addresses.
    Home,
    /// Rule 5: prefer matching label.
    Label,
    /// Rule 6: prefer higher precedence.
    Precedence,
    /// Rule 7: prefer native transport.
    Native,
    /// Rule 8: prefer smaller scope.
    SmallerScope,
    /// Rule 9: use longest matching prefix.
    LongestMatch,
    /// Rule 10: otherwise, leave the order unchanged.
    Order,
}

impl fmt::Display for DstRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DstRule::Unusable => "rule 1 (avoid unusable destinations)",
            DstRule::MatchingScope => "rule 2 (matching scope)",
            DstRule::Deprecated => "rule 3 (avoid deprecated addresses)",
            DstRule::Home => "rule 4 (home addresses)",
            DstRule::Label => "rule 5 (matching label)",
            DstRule::Precedence => "rule 6 (higher precedence)",
            DstRule::Native => "rule 7 (native transport)",
            DstRule::SmallerScope => "rule 8 (smaller scope)",
            DstRule::LongestMatch => "rule 9 (longest matching prefix)",
            DstRule::Order => "rule 10 (original order)",
        })
    }
}

/// One destination with everything the §6 rules look at, computed once.
///
/// Guarantees: `src` is `None` exactly when no source address is usable for `dst`
/// (then rule 1 puts it last); all other facts describe `src` when it is `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DstInfo {
    /// The destination.
    pub dst: IfaAddr,
    /// Its selected source address, `None` if unusable (no route, a reject route, or
    /// no source address).
    pub src: Option<IfaAddr>,
    /// The source is deprecated.
    pub src_deprecated: bool,
    /// The source is a home address (Mobile IPv6).
    pub src_home: bool,
    /// The source's prefix length (caps rule 9's common prefix, RFC 6724 §2.2).
    pub src_prefix_len: u8,
}

/// The RFC 6724 §3.2 scope of a destination or source: IPv6 by [`scope_of`]; IPv4
/// loopback (127/8) and link-local (169.254/16) are link-local, everything else global.
pub fn rfc6724_scope(a: IpAddr) -> Ipv6Scope {
    match a {
        IpAddr::V6(a) => scope_of(&a),
        IpAddr::V4(a) if v4::is_loopback_net(a) || v4::is_link_local(a) => Ipv6Scope::LinkLocal,
        IpAddr::V4(_) => Ipv6Scope::Global,
    }
}

/// Whether a destination is reached through an encapsulating transition mechanism, as
/// far as the addresses tell: the destination or its source is a 6to4 (`2002::/16`) or
/// Teredo (`2001::/32`) address. The interface layer has no tunnel type, so a
/// configured IPv6-in-IPv4 tunnel interface with native-looking addresses is not
/// recognised.
fn encapsulated(d: &DstInfo) -> bool {
    let tunnelled = |a: IpAddr| match a {
        IpAddr::V6(a) => {
            let s = a.segments();
            s[0] == 0x2002 || (s[0] == 0x2001 && s[1] == 0)
        }
        IpAddr::V4(_) => false,
    };
    tunnelled(d.dst.ip()) || d.src.is_some_and(|s| tunnelled(s.ip()))
}

fn prefer(a: bool, b: bool) -> Option<Ordering> {
    match (a, b) {
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        _ => None,
    }
}

/// Compares two destinations with the ten rules of RFC 6724 §6, `a` first in the
/// original list: `Less` puts `a` first, `Greater` puts `b` first, `Equal` keeps the
/// order (rule 10); with the rule that decided.
///
/// Rule 9 applies only to two IPv6 destinations. RFC 6724 allows it for two IPv4 ones,
/// but on IPv4 the common prefix with one's own (often private) address says nothing
/// about distance and defeats DNS round-robin (Go issues 13283 and 18518; glibc limits
/// it too), so, like Go, we do not.
pub fn compare_destinations(a: &DstInfo, b: &DstInfo, policy: &PolicyTable) -> (Ordering, DstRule) {
    let (sa, sb) = match (a.src, b.src) {
        (Some(sa), Some(sb)) => (sa, sb),
        (Some(_), None) => return (Ordering::Less, DstRule::Unusable),
        (None, Some(_)) => return (Ordering::Greater, DstRule::Unusable),
        (None, None) => return (Ordering::Equal, DstRule::Order),
    };
    let (da, db) = (a.dst.ip(), b.dst.ip());
    let scope = rfc6724_scope;
    let rules: [(DstRule, &dyn Fn() -> Option<Ordering>); 8] = [
        (DstRule::MatchingScope, &|| {
            prefer(scope(da) == scope(sa.ip()), scope(db) == scope(sb.ip()))
        }),
        (DstRule::Deprecated, &|| {
            prefer(!a.src_deprecated, !b.src_deprecated)
        }),
        (DstRule::Home, &|| prefer(a.src_home, b.src_home)),
        (DstRule::Label, &|| {
            let l = |x: IpAddr| policy.lookup_ip(x).map(|p| p.label);
            let (la, lsa, lb, lsb) = (l(da), l(sa.ip()), l(db), l(sb.ip()));
            if [la, lsa, lb, lsb].iter().any(Option::is_none) {
                return None;
            }
            prefer(la == lsa, lb == lsb)
        }),
        (DstRule::Precedence, &|| {
            // No matching row: below every precedence.
            let p = |x: IpAddr| policy.lookup_ip(x).map_or(-1, |p| i16::from(p.precedence));
            Some(p(db).cmp(&p(da))).filter(|o| o.is_ne())
        }),
        (DstRule::Native, &|| {
            prefer(!encapsulated(a), !encapsulated(b))
        }),
        (DstRule::SmallerScope, &|| {
            Some(scope(da).cmp(&scope(db))).filter(|o| o.is_ne())
        }),
        (DstRule::LongestMatch, &|| {
            let (IpAddr::V6(da6), IpAddr::V6(db6)) = (da, db) else {
                return None;
            };
            let m = |d: &Ipv6Addr, s: IpAddr, len: u8| common_prefix_len(d, &as_v6(s)).min(len);
            let (ma, mb) = (
                m(&da6, sa.ip(), a.src_prefix_len),
                m(&db6, sb.ip(), b.src_prefix_len),
            );
            Some(mb.cmp(&ma)).filter(|o| o.is_ne())
        }),
    ];
    rules
        .iter()
        .find_map(|(rule, f)| f().map(|o| (o, *rule)))
        .unwrap_or((Ordering::Equal, DstRule::Order))
}

/// The facts about one destination (its source address by the stack's own selection,
/// with no socket options). A destination is unusable when selection fails: no route,
/// a reject or blackhole route, or no source address.
pub fn destination_info(ctx: &SelectCtx<'_>, dst: IfaAddr) -> DstInfo {
    let unusable = DstInfo {
        dst,
        src: None,
        src_deprecated: false,
        src_home: false,
        src_prefix_len: 0,
    };
    let mut ro = RouteCache::new();
    match dst {
        IfaAddr::V4(d) => {
            // IPv4 selection falls back to any address without a route (NetBSD); here
            // a usable destination also needs a usable route.
            let usable = ctx
                .routes
                .lookup(d, false)
                .is_some_and(|rt| ctx.routes.check_reject(&rt).is_ok());
            if !usable {
                return unusable;
            }
            match in_selectsrc(ctx.routes, d, &mut ro, false, None) {
                Ok(s) => DstInfo {
                    src: Some(IfaAddr::V4(s.addr)),
                    src_prefix_len: s.prefix_len,
                    ..unusable
                },
                Err(_) => unusable,
            }
        }
        IfaAddr::V6(d) => {
            let sa = SockAddrIn6::from_scoped(d, 0);
            match in6_selectsrc(ctx, &sa, None, None, &mut ro, None) {
                Ok(s) => DstInfo {
                    src: Some(IfaAddr::V6(s.addr)),
                    src_deprecated: s.deprecated,
                    src_home: s.flags.contains(In6Flags::HOME),
                    src_prefix_len: s.prefix_len,
                    ..unusable
                },
                Err(_) => unusable,
            }
        }
    }
}

/// Sorts `dsts` by RFC 6724 §6 for the stack in `ctx`, each with its selected source
/// (`None` when unusable). Stable: destinations no rule tells apart keep their order.
pub fn sort_destinations(ctx: &SelectCtx<'_>, dsts: &[IfaAddr]) -> Vec<DstInfo> {
    let mut v: Vec<DstInfo> = dsts.iter().map(|&d| destination_info(ctx, d)).collect();
    sort_infos(&mut v, ctx.policy);
    v
}

/// Sorts precomputed [`DstInfo`]s by RFC 6724 §6 (stable insertion sort; never panics
/// on the rules' non-transitive cases).
pub fn sort_infos(v: &mut [DstInfo], policy: &PolicyTable) {
    for i in 1..v.len() {
        let mut j = i;
        // Move v[j] up while it is strictly preferred to its predecessor.
        while j > 0 && compare_destinations(&v[j - 1], &v[j], policy).0 == Ordering::Greater {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}
