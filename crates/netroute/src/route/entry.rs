//! `struct rtentry`, `RTF_*` and `struct rt_metrics` of sys/net/route.h.
//!
//! Differences from NetBSD: an entry is immutable once published (only its use counter
//! is atomic), so an `RTM_CHANGE` publishes a whole new object in the entry's slot and
//! readers see the old or the new route, never a mix (NetBSD mutates in place under
//! `RTF_UPDATING` after draining readers). The output interface is kept as an index plus
//! attach id rather than a pointer; the source address as a counted `Arc<IfAddr>`
//! (`rt_ifa` with its `ifaref`, "routes keep their ifaddr alive").

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ipnet::IpNet;

use crate::addr::{IfIndex, ZoneId};
use crate::ifnet::IfAddr;

use super::sync::AtomicU64;

bitflags::bitflags! {
    /// `RTF_*` route flags, with NetBSD's values (`prohibit` is ours: a reject route
    /// that answers "prohibited").
    ///
    /// Guarantees: the bits of flags NetBSD defines have NetBSD's values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RtFlags: u32 {
        /// `RTF_UP`: usable (every published entry has it).
        const UP = 0x1;
        /// `RTF_GATEWAY`: the next hop is the gateway, not the destination.
        const GATEWAY = 0x2;
        /// `RTF_HOST`: host route (the mask is ignored).
        const HOST = 0x4;
        /// `RTF_REJECT`: answer unreachable.
        const REJECT = 0x8;
        /// `RTF_DYNAMIC`: created by a redirect.
        const DYNAMIC = 0x10;
        /// `RTF_MODIFIED`: modified by a redirect.
        const MODIFIED = 0x20;
        /// `RTF_CONNECTED`: hosts on this route are neighbours (interface subnet).
        const CONNECTED = 0x100;
        /// `RTF_STATIC`: added by an administrator.
        const STATIC = 0x800;
        /// `RTF_BLACKHOLE`: discard silently.
        const BLACKHOLE = 0x1000;
        /// `RTF_SRC`: fixed source address.
        const SRC = 0x10000;
        /// `RTF_LOCAL`: route to one of our own addresses.
        const LOCAL = 0x40000;
        /// `RTF_BROADCAST`: route to a broadcast address.
        const BROADCAST = 0x80000;
        /// A reject route answering "prohibited" (not in NetBSD; bit chosen outside
        /// NetBSD's range).
        const PROHIBIT = 0x1000_0000;
    }
}

impl RtFlags {
    /// The lower-case names used by the stack file and the command line.
    pub const NAMES: &'static [(&'static str, RtFlags)] = &[
        ("up", RtFlags::UP),
        ("gateway", RtFlags::GATEWAY),
        ("host", RtFlags::HOST),
        ("reject", RtFlags::REJECT),
        ("blackhole", RtFlags::BLACKHOLE),
        ("prohibit", RtFlags::PROHIBIT),
        ("local", RtFlags::LOCAL),
        ("broadcast", RtFlags::BROADCAST),
        ("connected", RtFlags::CONNECTED),
        ("static", RtFlags::STATIC),
        ("dynamic", RtFlags::DYNAMIC),
        ("modified", RtFlags::MODIFIED),
        ("src", RtFlags::SRC),
    ];

    /// The flag named `name` (lower case), if any.
    pub fn by_name(name: &str) -> Option<RtFlags> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }

    /// The names of the set flags, in [`NAMES`](Self::NAMES) order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .map(|&(n, _)| n)
            .collect()
    }
}

/// `struct rt_metrics` (the part the stack uses). Zero means "not set" for every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RtMetrics {
    /// `rmx_mtu`: path MTU (0: the interface's).
    pub mtu: u32,
    /// `rmx_hopcount`.
    pub hopcount: u32,
    /// `rmx_expire`: when the route stops being valid, in seconds of the interface
    /// table's clock (0: never). A reject route with an expiry stops rejecting then.
    pub expire: u64,
    /// `rmx_rtt`, microseconds.
    pub rtt: u32,
    /// `rmx_rttvar`, microseconds.
    pub rttvar: u32,
    /// `rmx_pksent`.
    pub pksent: u64,
}

/// Where a route sends packets (`rt_gateway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gateway {
    /// No next hop (reject/blackhole routes without an interface).
    None,
    /// `RTF_GATEWAY`: through this router (IPv6 link-local gateways carry their zone).
    Addr(IpAddr, Option<ZoneId>),
    /// Directly on this interface (`AF_LINK` gateway: connected and local routes,
    /// `-interface` routes).
    Link(IfIndex),
}

const ALIVE: u64 = 0x0A1E_A11E_0A1E_A11E;
const DEAD: u64 = 0xDEAD_0A1E_DEAD_0A1E;

/// A routing entry (`struct rtentry`).
///
/// Guarantees: every field but the use counter is fixed for the life of the object; an
/// entry reached through a table lookup or a cache is published (`RTF_UP`) and its
/// memory stays valid while any [`RouteRef`](super::RouteRef) to it exists; [`id`]
/// identifies the route across changes and is never reused by another route of the
/// same [`RouteTables`](super::RouteTables).
///
/// [`id`]: RtEntry::id
pub struct RtEntry {
    pub(crate) id: u64,
    pub(crate) dst: IpNet,
    pub(crate) zone: Option<ZoneId>,
    pub(crate) gateway: Gateway,
    pub(crate) ifindex: Option<IfIndex>,
    pub(crate) if_attach_id: u64,
    pub(crate) ifa: Option<Arc<IfAddr>>,
    pub(crate) flags: RtFlags,
    pub(crate) metric: u32,
    pub(crate) metrics: RtMetrics,
    /// `rt_use`: counted on table lookups (cache fills), not on cache hits.
    pub(crate) use_count: AtomicU64,
    canary: AtomicU64,
}

impl RtEntry {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        dst: IpNet,
        zone: Option<ZoneId>,
        gateway: Gateway,
        ifindex: Option<IfIndex>,
        if_attach_id: u64,
        ifa: Option<Arc<IfAddr>>,
        flags: RtFlags,
        metric: u32,
        metrics: RtMetrics,
        uses: u64,
    ) -> Self {
        Self {
            id,
            dst,
            zone,
            gateway,
            ifindex,
            if_attach_id,
            ifa,
            flags: flags | RtFlags::UP,
            metric,
            metrics,
            use_count: AtomicU64::new(uses),
            canary: AtomicU64::new(ALIVE),
        }
    }

    /// The route's identity: kept by `RTM_CHANGE`, never given to another route.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The destination (`rt_getkey` + `rt_mask`), canonical (host bits clear).
    pub fn dst(&self) -> IpNet {
        self.dst
    }

    /// The IPv6 zone of a scoped destination (`fe80::/64` on one link).
    pub fn zone(&self) -> Option<ZoneId> {
        self.zone
    }

    /// The gateway (`rt_gateway`).
    pub fn gateway(&self) -> Gateway {
        self.gateway
    }

    /// The output interface (`rt_ifp`), if the route has one.
    pub fn ifindex(&self) -> Option<IfIndex> {
        self.ifindex
    }

    /// The attach id of the output interface when the route was made (0 if none);
    /// a different [`Ifnet::attach_id`](crate::ifnet::Ifnet::attach_id) at the same
    /// index means the interface was replaced.
    pub fn if_attach_id(&self) -> u64 {
        self.if_attach_id
    }

    /// The source interface address (`rt_ifa`), a counted reference.
    pub fn ifa(&self) -> Option<&Arc<IfAddr>> {
        self.ifa.as_ref()
    }

    /// The flags (`rt_flags`).
    pub fn flags(&self) -> RtFlags {
        self.flags
    }

    /// The route's preference among routes to the same destination (lower wins).
    pub fn metric(&self) -> u32 {
        self.metric
    }

    /// The metrics (`rt_rmx`).
    pub fn metrics(&self) -> RtMetrics {
        self.metrics
    }

    /// `rt_use`: the number of table lookups that returned this route (cache misses;
    /// see [`add_use`](Self::add_use) for hits).
    pub fn uses(&self) -> u64 {
        self.use_count.load(Ordering::Relaxed)
    }

    /// Folds `n` packets counted elsewhere (a per-thread cache, a flow) into `rt_use`,
    /// as `ipflow` does; one shared write per call, so call it per batch, not per packet.
    pub fn add_use(&self, n: u64) {
        self.use_count.fetch_add(n, Ordering::Relaxed);
    }

    /// False once the object was freed (a use-after-free canary for the tests).
    pub fn is_intact(&self) -> bool {
        self.canary.load(Ordering::Acquire) == ALIVE
    }

    /// The next hop for `dst`: the gateway for `RTF_GATEWAY` routes, `dst` otherwise.
    pub fn next_hop(&self, dst: IpAddr) -> IpAddr {
        match self.gateway {
            Gateway::Addr(g, _) => g,
            _ => dst,
        }
    }

    /// A plain copy of the entry (what `RTM_GET` answers).
    pub fn info(&self) -> RouteInfo {
        RouteInfo {
            id: self.id,
            dst: self.dst,
            zone: self.zone,
            gateway: self.gateway,
            ifindex: self.ifindex,
            src: self.ifa.as_ref().map(|a| a.ip()),
            flags: self.flags,
            metric: self.metric,
            metrics: self.metrics,
            uses: self.uses(),
        }
    }
}

impl Drop for RtEntry {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::Release);
    }
}

impl std::fmt::Debug for RtEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtEntry")
            .field("id", &self.id)
            .field("dst", &self.dst)
            .field("zone", &self.zone)
            .field("gateway", &self.gateway)
            .field("ifindex", &self.ifindex)
            .field("flags", &self.flags)
            .field("metric", &self.metric)
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// An owned snapshot of a route (an `RTM_GET` answer, an event payload, a dump line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// [`RtEntry::id`].
    pub id: u64,
    /// The destination.
    pub dst: IpNet,
    /// The zone of a scoped IPv6 destination.
    pub zone: Option<ZoneId>,
    /// The gateway.
    pub gateway: Gateway,
    /// The output interface.
    pub ifindex: Option<IfIndex>,
    /// The source address (`rt_ifa`).
    pub src: Option<IpAddr>,
    /// The flags.
    pub flags: RtFlags,
    /// The metric.
    pub metric: u32,
    /// The metrics.
    pub metrics: RtMetrics,
    /// `rt_use` when the snapshot was taken.
    pub uses: u64,
}
