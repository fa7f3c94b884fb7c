//! Interface addresses: `struct ifaddr`, `struct in_ifaddr` and `struct in6_ifaddr`
//! (sys/net/if.h, sys/netinet/in_var.h, sys/netinet6/in6_var.h) as one family-tagged
//! type, with IPv6 flags and lifetimes (`ia6_flags`, `ia6_lifetime`).
//!
//! References, as in NetBSD, come in two kinds: a short passive reference
//! ([`IfAddrRef`], `ifa_acquire`/`ifa_release`) that pins the address's table slot and
//! makes its removal wait, and a long-lived counted one (`Arc<IfAddr>`,
//! `ifaref`/`ifafree`) that routes keep so that "routes keep their ifaddr alive". A
//! counted holder can see that the address was removed ([`IfAddr::is_removed`], NetBSD's
//! `IFA_DESTROYING`) but its memory stays valid.

use super::sync::{AtomicBool, AtomicU32, AtomicU64};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use psref::PsRef;

use crate::addr::{Family, IfIndex, IpNet, ScopedAddr};

use super::In6Flags;

const ALIVE: u64 = 0x1FA0_A11E_1FA0_A11E;
const DEAD: u64 = 0xDEAD_1FA0_DEAD_1FA0;
/// Stored expiry meaning "never".
const FOREVER: u64 = u64::MAX;

/// The address an interface address is known by: an IPv4 address, or an IPv6 address
/// with its zone (`fe80::1%2` and `fe80::1%3` are different addresses).
///
/// Guarantees: an IPv6 value carries a zone exactly when its scope needs one (it is a
/// [`ScopedAddr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfaAddr {
    /// IPv4 (`struct in_ifaddr`).
    V4(Ipv4Addr),
    /// IPv6 with its zone (`struct in6_ifaddr`).
    V6(ScopedAddr),
}

impl IfaAddr {
    /// The address bytes, without the zone.
    pub fn ip(&self) -> IpAddr {
        match self {
            IfaAddr::V4(a) => IpAddr::V4(*a),
            IfaAddr::V6(a) => IpAddr::V6(a.addr()),
        }
    }

    /// The address family.
    pub fn family(&self) -> Family {
        match self {
            IfaAddr::V4(_) => Family::Inet,
            IfaAddr::V6(_) => Family::Inet6,
        }
    }
}

impl From<Ipv4Addr> for IfaAddr {
    fn from(a: Ipv4Addr) -> Self {
        IfaAddr::V4(a)
    }
}

impl From<ScopedAddr> for IfaAddr {
    fn from(a: ScopedAddr) -> Self {
        IfaAddr::V6(a)
    }
}

impl fmt::Display for IfaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfaAddr::V4(a) => a.fmt(f),
            IfaAddr::V6(a) => a.fmt(f),
        }
    }
}

/// Valid and preferred lifetimes of an address (`struct in6_addrlifetime`), relative to
/// the moment the address is added; `None` is infinite (`ND6_INFINITE_LIFETIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// After this the address is removed ([`IfTable::expire`](super::IfTable::expire)).
    pub valid: Option<Duration>,
    /// After this the address is deprecated (not chosen as a source).
    pub preferred: Option<Duration>,
}

impl Lifetime {
    /// Infinite lifetimes (the default; what IPv4 addresses always have).
    pub const INFINITE: Lifetime = Lifetime {
        valid: None,
        preferred: None,
    };

    /// Checks RFC 4862 §5.5.3 (e): preferred ≤ valid.
    pub(crate) fn is_consistent(&self) -> bool {
        match (self.preferred, self.valid) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(p), Some(v)) => p <= v,
        }
    }
}

/// What to add: the input of `SIOCAIFADDR`/`SIOCAIFADDR_IN6`.
///
/// Built with [`AddrSpec::new`] and refined with the `with_*` methods; checked by
/// [`IfTable::add_addr`](super::IfTable::add_addr), which refuses bad combinations with
/// a typed error and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    pub(crate) addr: IpAddr,
    pub(crate) zone: Option<crate::addr::ZoneId>,
    pub(crate) prefix_len: u8,
    pub(crate) dst: Option<IpAddr>,
    pub(crate) broadcast: Option<Ipv4Addr>,
    pub(crate) flags6: In6Flags,
    pub(crate) lifetime: Lifetime,
    pub(crate) routers: Vec<Ipv6Addr>,
}

impl AddrSpec {
    /// `addr/prefix_len`. An IPv6 address that needs a zone gets the interface's
    /// (`in6_setscope`).
    pub fn new(addr: impl Into<IpAddr>, prefix_len: u8) -> Self {
        Self {
            addr: addr.into(),
            zone: None,
            prefix_len,
            dst: None,
            broadcast: None,
            flags6: In6Flags::empty(),
            lifetime: Lifetime::INFINITE,
            routers: Vec::new(),
        }
    }

    /// An IPv6 address that already carries a zone; adding it to an interface of
    /// another zone fails with [`AddrError::ZoneMismatch`](crate::addr::AddrError).
    pub fn scoped(addr: ScopedAddr, prefix_len: u8) -> Self {
        Self {
            zone: addr.zone(),
            ..Self::new(addr.addr(), prefix_len)
        }
    }

    /// The peer of a point-to-point link (`ifra_dstaddr`); only on `POINTOPOINT`
    /// interfaces.
    pub fn with_dst(mut self, dst: impl Into<IpAddr>) -> Self {
        self.dst = Some(dst.into());
        self
    }

    /// An explicit IPv4 broadcast address (`ifra_broadaddr`); only on `BROADCAST`
    /// interfaces. Without it, a `BROADCAST` interface gets the subnet's all-ones
    /// address (for prefixes shorter than /31).
    pub fn with_broadcast(mut self, b: Ipv4Addr) -> Self {
        self.broadcast = Some(b);
        self
    }

    /// IPv6 address flags (`ifra_flags`); ignored for nothing: IPv4 addresses refuse
    /// non-empty flags.
    pub fn with_flags(mut self, f: In6Flags) -> Self {
        self.flags6 = f;
        self
    }

    /// Lifetimes (`ifra_lifetime`); IPv4 addresses accept only infinite ones.
    pub fn with_lifetime(mut self, l: Lifetime) -> Self {
        self.lifetime = l;
        self
    }

    /// A router that advertised this address's prefix (the source of the Router
    /// Advertisement whose Prefix Information option configured it; KAME keeps these in
    /// `nd_prefix::ndpr_advrtrs`). Call once per router; duplicates are kept once.
    ///
    /// RFC 4861 §6.1.2 has routers send advertisements from their link-local address,
    /// so `router` must be a link-local unicast address on the same link: anything
    /// else, or any router on an IPv4 address, is refused by
    /// [`IfTable::add_addr`](super::IfTable::add_addr). Source selection uses this for
    /// RFC 6724 rule 5.5 ([`in6_selectsrc`](crate::select::in6_selectsrc)): an address
    /// is "in a prefix advertised by the next hop" exactly when the route's gateway is
    /// one of its routers. Without routers the rule never prefers the address.
    pub fn with_advertising_router(mut self, router: Ipv6Addr) -> Self {
        if !self.routers.contains(&router) {
            self.routers.push(router);
        }
        self
    }
}

/// An interface address (`struct ifaddr` with its `in_ifaddr`/`in6_ifaddr` part).
///
/// Guarantees: the address, prefix, destination, broadcast address and owning interface
/// never change after creation; flags and lifetimes change atomically; the memory stays
/// valid as long as any [`IfAddrRef`] or `Arc<IfAddr>` exists, even after removal.
pub struct IfAddr {
    pub(crate) id: u32,
    pub(crate) addr: IfaAddr,
    pub(crate) prefix: IpNet,
    pub(crate) dst: Option<IfaAddr>,
    pub(crate) broadcast: Option<Ipv4Addr>,
    pub(crate) ifindex: IfIndex,
    pub(crate) if_attach_id: u64,
    pub(crate) flags6: AtomicU32,
    /// Clock nanoseconds; [`FOREVER`] = never.
    pub(crate) valid_until: AtomicU64,
    pub(crate) preferred_until: AtomicU64,
    pub(crate) removed: AtomicBool,
    /// Routers that advertised the prefix (link-local, on this interface's link).
    pub(crate) routers: Box<[Ipv6Addr]>,
    canary: AtomicU64,
}

impl IfAddr {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u32,
        addr: IfaAddr,
        prefix: IpNet,
        dst: Option<IfaAddr>,
        broadcast: Option<Ipv4Addr>,
        ifindex: IfIndex,
        if_attach_id: u64,
        flags6: In6Flags,
        lifetime: Lifetime,
        routers: Box<[Ipv6Addr]>,
        now: Duration,
    ) -> Self {
        let (valid_until, preferred_until) = expiry(lifetime, now);
        Self {
            id,
            addr,
            prefix,
            dst,
            broadcast,
            ifindex,
            if_attach_id,
            flags6: AtomicU32::new(flags6.bits()),
            valid_until: AtomicU64::new(valid_until),
            preferred_until: AtomicU64::new(preferred_until),
            removed: AtomicBool::new(false),
            routers,
            canary: AtomicU64::new(ALIVE),
        }
    }

    /// The address (`ifa_addr`), with its zone for IPv6.
    pub fn addr(&self) -> IfaAddr {
        self.addr
    }

    /// The routers known to have advertised this address's prefix (see
    /// [`AddrSpec::with_advertising_router`]); empty when none is known (a manually
    /// configured address, an IPv4 address). Never changes after the address is added.
    pub fn advertising_routers(&self) -> &[Ipv6Addr] {
        &self.routers
    }

    /// Whether `router` (a link-local address on this address's link) advertised its
    /// prefix: RFC 6724 rule 5.5's "SA is in a prefix advertised by the next hop".
    pub fn is_advertised_by(&self, router: Ipv6Addr) -> bool {
        self.routers.contains(&router)
    }

    /// The address bytes (`ifa_addr` without zone).
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.addr.family()
    }

    /// The subnet (`ia_subnet`/`ia_subnetmask`, `ia_prefixmask`): canonical.
    pub fn prefix(&self) -> IpNet {
        self.prefix
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix.prefix_len()
    }

    /// The point-to-point peer (`ifa_dstaddr` on `POINTOPOINT` interfaces).
    pub fn dst(&self) -> Option<IfaAddr> {
        self.dst
    }

    /// The IPv4 broadcast address (`ia_broadaddr`), on `BROADCAST` interfaces.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        self.broadcast
    }

    /// The owning interface (`ifa_ifp`, as an index: never a pointer).
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// The attachment of the owning interface ([`Ifnet::attach_id`](super::Ifnet::attach_id)).
    pub fn if_attach_id(&self) -> u64 {
        self.if_attach_id
    }

    /// IPv6 flags (`ia6_flags`); always empty for IPv4.
    pub fn flags6(&self) -> In6Flags {
        In6Flags::from_bits_retain(self.flags6.load(Ordering::Acquire))
    }

    /// Applies the change; returns `(old, new)`.
    pub(crate) fn update_flags6(&self, set: In6Flags, clear: In6Flags) -> (In6Flags, In6Flags) {
        let old = self
            .flags6
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                Some((f & !clear.bits()) | set.bits())
            })
            .unwrap_or_else(|f| f);
        (
            In6Flags::from_bits_retain(old),
            In6Flags::from_bits_retain((old & !clear.bits()) | set.bits()),
        )
    }

    /// Restarts the lifetimes from `now` (a router advertisement refreshing a prefix).
    pub(crate) fn set_lifetime(&self, lifetime: Lifetime, now: Duration) {
        let (v, p) = expiry(lifetime, now);
        self.valid_until.store(v, Ordering::Release);
        self.preferred_until.store(p, Ordering::Release);
    }

    /// Remaining valid lifetime at clock time `now`; `None` if infinite, zero if
    /// expired.
    pub fn valid_remaining(&self, now: Duration) -> Option<Duration> {
        remaining(self.valid_until.load(Ordering::Acquire), now)
    }

    /// Remaining preferred lifetime at clock time `now`; `None` if infinite.
    pub fn preferred_remaining(&self, now: Duration) -> Option<Duration> {
        remaining(self.preferred_until.load(Ordering::Acquire), now)
    }

    /// True if the address should not be chosen as a source at `now`: flagged
    /// `DEPRECATED`, or its preferred lifetime has run out (`IFA6_IS_DEPRECATED`).
    pub fn is_deprecated(&self, now: Duration) -> bool {
        self.flags6().contains(In6Flags::DEPRECATED)
            || self.preferred_remaining(now) == Some(Duration::ZERO)
    }

    /// True if the valid lifetime has run out at `now` (`IFA6_IS_INVALID`).
    pub fn is_expired(&self, now: Duration) -> bool {
        self.valid_remaining(now) == Some(Duration::ZERO)
    }

    /// True once the address was removed from its interface (NetBSD `IFA_DESTROYING`):
    /// it is no longer found by lookups; counted holders should let it go.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// True unless the object was dropped: for stress tests; `false` would mean a
    /// use after free in the reference protocol (never expected).
    pub fn is_intact(&self) -> bool {
        self.canary.load(Ordering::Acquire) == ALIVE
    }
}

/// Absolute expiry (clock nanoseconds, [`FOREVER`] for infinite) of both lifetimes.
fn expiry(lifetime: Lifetime, now: Duration) -> (u64, u64) {
    let until = |d: Option<Duration>| {
        d.map_or(FOREVER, |d| {
            u64::try_from((now + d).as_nanos()).unwrap_or(FOREVER - 1)
        })
    };
    (until(lifetime.valid), until(lifetime.preferred))
}

fn remaining(until: u64, now: Duration) -> Option<Duration> {
    if until == FOREVER {
        return None;
    }
    let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    Some(Duration::from_nanos(until.saturating_sub(now)))
}

impl Drop for IfAddr {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::Release);
    }
}

impl fmt::Debug for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IfAddr")
            .field("addr", &self.addr)
            .field("prefix", &self.prefix)
            .field("dst", &self.dst)
            .field("broadcast", &self.broadcast)
            .field("ifindex", &self.ifindex)
            .field("flags6", &self.flags6())
            .field("removed", &self.is_removed())
            .finish()
    }
}

/// A short-lived passive reference to an interface address (`ifa_acquire`; dropping it
/// is `ifa_release`).
///
/// Guarantees: while it lives, removal of the address waits; it stays on the thread that
/// took it (`!Send`). [`counted`](Self::counted) turns it into a long-lived reference.
pub struct IfAddrRef<'a>(pub(crate) PsRef<'a, Arc<IfAddr>>);

impl IfAddrRef<'_> {
    /// A long-lived counted reference to the same address (`ifaref`), which may cross
    /// threads and outlive the address's removal.
    pub fn counted(&self) -> Arc<IfAddr> {
        Arc::clone(&self.0)
    }

    /// True if both refer to the same address object.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        PsRef::ptr_eq(&a.0, &b.0)
    }
}

impl<'a> From<PsRef<'a, Arc<IfAddr>>> for IfAddrRef<'a> {
    /// Wraps a reference taken from [`IfTable::addrs_in`](super::IfTable::addrs_in).
    fn from(r: PsRef<'a, Arc<IfAddr>>) -> Self {
        Self(r)
    }
}

impl Clone for IfAddrRef<'_> {
    /// `psref_copy`.
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl std::ops::Deref for IfAddrRef<'_> {
    type Target = IfAddr;
    fn deref(&self) -> &IfAddr {
        &self.0
    }
}

impl fmt::Debug for IfAddrRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IfAddrRef").field(&**self).finish()
    }
}
