//! Addresses: family-tagged socket addresses, prefixes and IPv6 scope zones, as plain
//! Rust values. NetBSD's `struct sockaddr` family, the prefix helpers of `in.c`/`in6.c`
//! and `scope6.c`.
//!
//! Everything later (interfaces, the routing table, source selection, the stack-file
//! parser) builds on these types, so they are small, `Copy`, and checked at
//! construction: a value that exists is valid.
//!
//! # Map to NetBSD
//!
//! | here | NetBSD |
//! |---|---|
//! | [`SockAddr`], [`Family`] | `struct sockaddr`, `sa_family`; `sockaddr_dup`/`sockaddr_copy` are `Copy`, `sockaddr_cmp` is `Eq`/`Ord` |
//! | [`SockAddrIn::new`] | `struct sockaddr_in`, `sockaddr_in_init` |
//! | [`SockAddrIn6::new`] | `struct sockaddr_in6`, `sockaddr_in6_init` |
//! | [`SockAddrDl`], [`LinkAddr`] | `struct sockaddr_dl`, `sockaddr_dl_init`, `LLADDR` |
//! | [`Prefix`] for [`Ipv4Net`]/[`Ipv6Net`] | route key + netmask; `in_len2mask`, `in6_prefixlen2mask`, `in_mask2len`, `in6_mask2len` |
//! | [`scope_of`], [`Ipv6Scope`] | `in6_addrscope`, `IPV6_ADDR_SCOPE_*` |
//! | [`requires_zone`] | `IN6_IS_SCOPE_EMBEDDABLE` |
//! | [`ScopeZones`] | `struct scope6_id`, `scope6_ifattach`, `scope6_set` |
//! | [`ScopedAddr::on_interface`], [`SockAddrIn6::set_scope`] | `in6_setscope` |
//! | [`ScopedAddr::with_zone`], [`SockAddrIn6::set_zone`] | `in6_setzoneid` |
//! | [`SockAddrIn6::clear_scope`] | `in6_clearscope` |
//! | [`SockAddrIn6::scoped`], [`ScopedAddr::new`] | the checks of `sa6_embedscope` / `sa6_recoverscope` |
//! | [`v4`] | `IN_LOOPBACK`, `IN_MULTICAST`, `IN_LINKLOCAL`, `IN_ZERONET`, `IN_EXPERIMENTAL`, `IN_CLASS*_NET`, `IN6_IS_ADDR_V4MAPPED` |
//!
//! # Where we differ from NetBSD, and why
//!
//! * **Zones are never embedded in the address.** KAME/NetBSD stores the zone of a
//!   link-local address in bytes 2-3 of the `in6_addr` inside the kernel and must
//!   remember to strip it before comparing with or exporting an address (the design
//!   notes list cache comparisons that clear `sin6_scope_id` first). Here the zone is
//!   a separate [`ZoneId`] field of [`ScopedAddr`] and [`SockAddrIn6`]; address bytes
//!   are always the wire bytes. `sa6_embedscope`/`sa6_recoverscope` therefore become
//!   checks, not conversions.
//! * **A missing zone is an error, not a guess.** Where NetBSD may use a default zone
//!   (`ip6_use_defzone`), [`SockAddrIn6::scoped`] fails with
//!   [`AddrError::ZoneRequired`].
//! * **Zones only on addresses that need them.** A zone on a global address is
//!   refused ([`AddrError::ZoneNotAllowed`]) where NetBSD silently ignores it.
//! * **`in6_setscope` does not overwrite** a different zone already on the address: it
//!   fails with [`AddrError::ZoneMismatch`].
//! * **Multicast scopes are reported as written** ([`scope_of`]): NetBSD's
//!   `in6_addrscope` folds every multicast scope other than 1, 2 and 5 into global.
//! * **[`SockAddrDl`] keeps no interface name or type**, only the index and the
//!   link-layer address: the interface table owns names, and a copy would go stale.
//! * [`IfIndex`] lives here (not in the interface layer) because link-layer socket
//!   addresses and default zones are made of it.
//! * Errors are one typed enum, [`AddrError`]; nothing panics on bad input.
//!
//! # Text forms
//!
//! IPv6 link-local addresses are written `fe80::1%eth0` or `fe80::1%3` (RFC 4007 §11).
//! Only the interface table knows names, so parsing takes a [`ZoneResolver`] and
//! printing by name a [`ZoneNamer`]; the `FromStr`/`Display` impls use numbers only.
//! An all-digit zone is a zone number, which a resolver may refuse when no interface
//! has it ([`ZoneResolver::knows_zone`], NetBSD's ENXIO).
//!
//! ```
//! use netroute::addr::{AddrError, IfIndex, Ipv4Net, Prefix, ScopeZones, ScopedAddr, ZoneId};
//!
//! // The interface table resolves names; a closure stands in for it here.
//! let names = |name: &str| if name == "eth0" { ZoneId::new(2) } else { None };
//! let gw = ScopedAddr::parse("fe80::1%eth0", &names)?;
//! assert_eq!(gw.zone(), ZoneId::new(2));
//! assert_eq!(gw.to_string(), "fe80::1%2");
//!
//! // A link-local address without a zone is an error, never a guess ...
//! assert_eq!(
//!     ScopedAddr::parse("fe80::1", &names),
//!     Err(AddrError::ZoneRequired { addr: "fe80::1".parse().unwrap() })
//! );
//! // ... unless the interface is known (in6_setscope).
//! let eth0 = ScopeZones::new(IfIndex::new(2).unwrap());
//! assert_eq!(ScopedAddr::parse_on("fe80::1", &names, &eth0)?, gw);
//!
//! // Route keys are canonical prefixes.
//! let net = Ipv4Net::parse_strict("192.0.2.0/24")?;
//! assert!(net.contains_addr("192.0.2.7".parse().unwrap()));
//! assert!(matches!(
//!     Ipv4Net::parse_strict("192.0.2.7/24"),
//!     Err(AddrError::HostBitsSet { .. })
//! ));
//! assert_eq!(Ipv4Net::parse_truncating("192.0.2.7/24")?, net);
//! # Ok::<(), AddrError>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod prefix;
mod scope;
mod scoped;
mod sockaddr;
pub mod v4;
mod witness;

pub use error::AddrError;
pub use prefix::{
    IpNet, Ipv4Net, Ipv6Net, Prefix, parse_prefix_strict, parse_prefix_truncating,
    prefix_from_mask_strict,
};
pub use scope::{
    IfIndex, Ipv6Scope, ReservedScope, ScopeZones, UnassignedScope, ZoneId, requires_zone, scope_of,
};
pub use scoped::{NumericZones, ScopedAddr, ZoneNamer, ZoneResolver};
pub use sockaddr::{
    Family, LINK_ADDR_MAX, LinkAddr, SockAddr, SockAddrDl, SockAddrIn, SockAddrIn6,
};
pub use witness::{SpecifiedAddr, UnicastAddr};
