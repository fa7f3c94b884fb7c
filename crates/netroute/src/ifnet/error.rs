//! [`IfError`]: every way an operation of the interface layer can be refused.

use std::net::IpAddr;

use crate::addr::{AddrError, Family};

use super::IfaAddr;

/// Why an interface-table operation was refused.
///
/// Guarantees: every operation that returns one of these has changed nothing (no
/// interface, address, flag or event was added or removed). Nothing in the interface
/// layer panics on bad input. `#[non_exhaustive]`: later layers may add variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IfError {
    /// An attached interface already has this name (`if_attach` of a duplicate `if_xname`).
    #[error("an interface named {name:?} already exists")]
    DuplicateName {
        /// The name that is taken.
        name: String,
    },
    /// The name does not fit NetBSD's `IFNAMSIZ` (16 bytes including the NUL).
    #[error("interface name {name:?} is longer than {max} bytes")]
    NameTooLong {
        /// The name that was given.
        name: String,
        /// The longest name accepted.
        max: usize,
    },
    /// The name is empty, all digits (it would read as an index, see
    /// [`IfTable::get`](super::IfTable::get)), or contains a byte outside printable ASCII
    /// or `%`/`/` (which would make `fe80::1%name` ambiguous).
    #[error("invalid interface name {name:?}")]
    InvalidName {
        /// The name that was given.
        name: String,
    },
    /// No attached, active interface has this index (`if_get_byindex` returns NULL).
    #[error("no interface with index {index}")]
    NoSuchIndex {
        /// The index that was looked up (0 included).
        index: u32,
    },
    /// No attached, active interface has this name (`if_get` returns NULL).
    #[error("no interface named {name:?}")]
    NoSuchName {
        /// The name that was looked up.
        name: String,
    },
    /// The interface a handle (multicast options) was bound to has been detached; the
    /// index may since have been given to another interface, which is not used.
    #[error("the interface with index {index} is gone")]
    InterfaceGone {
        /// The index the handle held.
        index: u32,
    },
    /// Every interface index (or address slot) of the table is in use.
    #[error("the table is full ({max} {what})")]
    TableFull {
        /// What ran out: "interfaces" or "addresses".
        what: &'static str,
        /// The configured maximum.
        max: usize,
    },
    /// The same address (with the same zone) is already configured on this interface.
    #[error("{addr} already exists on interface {index}")]
    AddressExists {
        /// The address.
        addr: IfaAddr,
        /// The interface it is on.
        index: u32,
    },
    /// The address is not configured on the interface named.
    #[error("{addr} is not configured on interface {index}")]
    NoSuchAddress {
        /// The address.
        addr: IfaAddr,
        /// The interface looked at.
        index: u32,
    },
    /// An IPv6-only property (address flags, finite lifetimes) was given for an IPv4
    /// address. (A prefix length beyond the family's width is
    /// [`IfError::Addr`]`(`[`AddrError::PrefixLenTooLong`]`)`.)
    #[error("{what} apply only to IPv6 addresses, not to {addr}")]
    Ipv6Only {
        /// The IPv4 address.
        addr: IpAddr,
        /// What was given: "IPv6 flags", "finite lifetimes" or "advertising routers".
        what: &'static str,
    },
    /// An advertising router that is not a link-local unicast address (RFC 4861 §6.1.2:
    /// routers advertise from their link-local address).
    #[error("advertising router {router} is not a link-local unicast address")]
    BadRouter {
        /// The router given.
        router: std::net::Ipv6Addr,
    },
    /// A destination or broadcast address of another family than the address, or a
    /// broadcast address on an IPv6 address / a point-to-point destination on an
    /// interface without `POINTOPOINT`.
    #[error("{what} {got} does not fit address family {family}")]
    BadCompanion {
        /// "destination" or "broadcast".
        what: &'static str,
        /// The offending address.
        got: IpAddr,
        /// The family of the main address.
        family: Family,
    },
    /// An MTU outside the accepted range.
    #[error("MTU {mtu} is outside {min}..={max}")]
    BadMtu {
        /// The MTU given.
        mtu: u32,
        /// Smallest accepted.
        min: u32,
        /// Largest accepted.
        max: u32,
    },
    /// A preferred lifetime longer than the valid lifetime (RFC 4862 §5.5.3 e).
    #[error("preferred lifetime exceeds valid lifetime")]
    BadLifetime,
    /// An address error from the `addr` module (zone required, zone mismatch, ...).
    #[error(transparent)]
    Addr(#[from] AddrError),
}
