//! Interfaces and their addresses: NetBSD's `struct ifnet` / `ifnet_list` /
//! `ifindex2ifnet` and the `if_get*` API of sys/net/if.c, `struct ifaddr` /
//! `in_ifaddr` / `in6_ifaddr` with their lists and hashes (sys/netinet/in.c,
//! sys/netinet6/in6.c), `ip_moptions`/`ip6_moptions`, and the `RTM_IFANNOUNCE` /
//! `RTM_IFINFO` / `RTM_NEWADDR` / `RTM_CHGADDR` / `RTM_DELADDR` messages of sys/net/rtsock.c.
//!
//! # Protection (design §3)
//!
//! Everything readers touch is published through [`psref::Slot`]s of one
//! [`psref::Domain`], which the table receives from its owner (the `Stack`) so that one
//! read section can cover a route lookup and the interface it points at.
//!
//! | here | NetBSD |
//! |---|---|
//! | [`IfTable::byindex`] / [`IfTable::get_by_index`] | `if_byindex` / `if_get_byindex` |
//! | [`IfTable::unit`] / [`IfTable::get`] | `ifunit` / `if_get` (all digits = index) |
//! | [`IfTable::get_by_lla`] | `if_get_bylla` |
//! | dropping the [`psref::PsRef`] | `if_put` |
//! | [`IfTable::attach`] / [`IfTable::detach`] | `if_attach` / `if_detach` |
//! | [`IfTable::set_flags`], [`IfTable::set_mtu`] | `if_up`/`if_down`/`SIOCSIFFLAGS`, `SIOCSIFMTU` |
//! | [`IfTable::add_addr`] / [`IfTable::remove_addr`] | `SIOCAIFADDR(_IN6)` / `in_purgeaddr`, `in6_purgeaddr`, `ifa_remove` |
//! | [`IfTable::ifa_ifwithaddr`], [`IfTable::ifa_ifwithdstaddr`], [`IfTable::ifa_ifwithnet`], [`IfTable::ifaof_ifpforaddr`] | the same names, `_psref` variants |
//! | [`IfTable::addr_on`], [`IfTable::first_addr`], [`IfTable::addrs_of`], [`IfTable::link_local_of`] | `in6ifa_ifpwithaddr`, `in_get_ia_on_iface`, `in_get_ia_from_ifp`, `in6ifa_ifpforlinklocal` |
//! | [`IfTable::addrs_in`], [`IfTable::addrs_of_in`] | `IN_ADDRLIST_READER_FOREACH`, `IN6_ADDRLIST_READER_FOREACH`, `IFADDR_READER_FOREACH` (in the caller's section) |
//! | [`IfTable::is_local_subnet`] | `in_localaddr`, `in6_localaddr` |
//! | [`IfAddrRef`] / `Arc<IfAddr>` | `ifa_acquire`+`ifa_release` / `ifaref`+`ifafree` |
//! | [`IfTable::expire`] | the lifetime part of `nd6_timer` |
//! | [`MulticastOptions`] | `ip_moptions`, `ip6_moptions` (interface, TTL/hop limit, loop) |
//! | [`EventBus`], [`Event`] | the routing socket's `rt_ifannouncemsg`, `rt_ifmsg`, `rt_newaddrmsg` |
//!
//! # Design choices
//!
//! * **Index storage**: `ifindex2ifnet` is a fixed table of lazily allocated 64-slot
//!   chunks (`OnceLock`), so a reader's `&Slot` never moves (NetBSD reallocates the
//!   array and frees the old one after a `pserialize_perform`). The maximum index is set
//!   at construction ([`IfTableConfig`]).
//! * **Index reuse**: the lowest free index is reused, but only after the previous
//!   interface with it was freed (its `Retired` completed), so no reference can see the
//!   new one in place of the old. Handles that outlive a detach compare the never-reused
//!   [`Ifnet::attach_id`].
//! * **Run-time state** (flags, MTU) are atomics inside [`Ifnet`], changed in place
//!   under the writer lock: readers holding a reference see changes without a lookup,
//!   and a flag change costs no synchronize. Name, link-layer address and scope zones
//!   are fixed at attach.
//! * **Address hashes**: NetBSD has `in_ifaddrhashtbl` (509 buckets of pslists) for
//!   IPv4 and lists for IPv6. Here one copy-on-write snapshot (a `HashMap` from address
//!   to ids, the broadcast addresses, per-interface and per-family lists) is republished
//!   by the writer on every address change. Readers do one pointer load and one hash
//!   probe; writers pay a copy and a synchronize, which is fine for rare changes.
//!   Address objects live in their own slots (an arena of chunked slots) so each can be
//!   referenced and drained on its own. [`Ifnet`] therefore holds no address list: the
//!   per-interface lists (`if_addrlist`) are part of the snapshot
//!   ([`IfTable::addrs_of`]), so adding an address never replaces the interface object.
//!   (A `Slot` nested inside a protected object could only hand out references bounded
//!   by the outer borrow, another reason for the flat arena.)
//! * **Duplicate addresses**: the same address may be on several interfaces (NetBSD
//!   allows it for point-to-point links); on one interface it is
//!   [`IfError::AddressExists`].
//! * **Detach** follows NetBSD's order (see [`IfTable::detach`]) but calls the route hook
//!   and waits for references without the writer lock held, so a reference holder that
//!   calls a writer method cannot deadlock the detach.
//! * Lookups skip addresses of an interface being detached at once (they are flagged
//!   removed in the critical section that deactivates the interface) where NetBSD finds
//!   them until `pr_purgeif` reaches them.
//! * **Events**: a bounded queue per subscriber; a full queue drops and counts, and the
//!   subscriber gets [`Notice::Lost`] where the gap is (a routing socket drops silently
//!   apart from a counter).
//! * **Errors** are one `#[non_exhaustive]` enum, [`IfError`]; nothing panics on bad
//!   input and a refused call changes nothing. The psref misuse checks (detach inside a
//!   read section, or while holding a reference to what is being destroyed) still panic,
//!   as they would otherwise deadlock.
//!
//! ```
//! use std::sync::Arc;
//! use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable};
//! use netroute::psref::Domain;
//!
//! let table = IfTable::new(Arc::new(Domain::new()));
//! let eth0 = table.attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))?;
//! table.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))?;
//! let ia = table.ifa_ifwithnet(std::net::Ipv4Addr::new(192, 0, 2, 99)).unwrap();
//! assert_eq!(ia.ifindex(), eth0);
//! assert_eq!(table.get("eth0").unwrap().index(), eth0);
//! drop(ia);
//! table.detach(eth0)?;
//! assert!(table.get_by_index(eth0).is_none());
//! # Ok::<(), netroute::ifnet::IfError>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod event;
mod flags;
mod ifaddr;
mod moptions;
mod slots;
mod sync;
mod table;

#[cfg(test)]
mod tests;

pub use crate::clock::{Clock, FakeClock, SystemClock};
pub use error::IfError;
pub use event::{Announce, Event, EventBus, EventKinds, Notice, Subscription};
pub use flags::{IfFlags, In6Flags};
pub use ifaddr::{AddrSpec, IfAddr, IfAddrRef, IfaAddr, Lifetime};
pub use moptions::{DEFAULT_MULTICAST_HOPS, MulticastOptions};
pub use table::{
    ExpireReport, IF_NAME_MAX, IfConfig, IfTable, IfTableConfig, Ifnet, MTU_MAX, MTU_MIN, RouteHook,
};
