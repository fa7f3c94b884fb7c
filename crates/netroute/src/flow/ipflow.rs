//! The fast-forward flow cache: `ipflow` of sys/netinet/ip_flow.c (1.81) and `ip6flow`
//! of sys/netinet6/ip6_flow.c.
//!
//! A flow is keyed by (destination, source, TOS) for IPv4 and (destination, source,
//! flow info = traffic class + flow label) for IPv6, and embeds its own
//! [`RouteCache`] (`ipf_ro`). The slow path forwards the first packet of a flow and then
//! calls [`FlowTable::create`] with the route cache it used (`ipflow_create`, which
//! copies it with `rtcache_copy`). Later packets of the flow go through
//! [`FlowTable::forward`] (`ipflow_fastforward`), which answers "forward through this
//! route" or "slow path, because …" ([`Verdict`]).
//!
//! # The fast-path rules (`ipflow_fastforward`, `ip6flow_fastforward`)
//!
//! In order; the first that fails sends the packet to the slow path with its
//! [`SlowReason`]:
//! 1. the table is enabled (`max_flows > 0`; NetBSD: `ipforwarding` and flows in use);
//! 2. not a link-level broadcast or multicast frame (`M_BCAST|M_MCAST`);
//! 3. a header without options (IPv4 `ip_hl == 5`; IPv6: no hop-by-hop header) and a
//!    sane length (at least the fixed header);
//! 4. a unicast, global-scope destination (multicast goes through `ip_mforward`;
//!    scoped IPv6 addresses need the zone checks of `ip6_forward`) — implicit in NetBSD,
//!    where no flow is ever created for those;
//! 5. the flow exists (a miss);
//! 6. the IPv4 header checksum is good (the caller verified it or the hardware did);
//! 7. `rtcache_validate(&ipf->ipf_ro)` succeeds: no route of either family changed
//!    since the flow's cache was filled;
//! 8. the route is neither `RTF_BLACKHOLE` nor `RTF_BROADCAST` (NetBSD's test) nor
//!    `RTF_REJECT` (ours: the slow path would answer with an ICMP unreachable);
//! 9. the route's interface is still attached (the one the route was made for) and up
//!    (`IFF_UP`);
//! 10. the packet fits the MTU: the route's MTU if set, else the interface's (NetBSD
//!     compares with `if_mtu` only); a larger packet needs fragmentation (IPv4) or a
//!     "packet too big" (IPv6), both slow-path work;
//! 11. the TTL (hop limit) is above `IPTTLDEC` (1): the slow path sends the "time
//!     exceeded".
//!
//! Fragments are forwarded like any packet (NetBSD's fast path does not look at the
//! fragment fields: a router forwards fragments as they are).
//!
//! # Eviction, expiry, reaping
//!
//! At most [`FlowConfig::max_flows`] flows (`ip_maxflows`, default 256). When full,
//! `create` evicts the **oldest** flow (FIFO: NetBSD disabled the move-to-front on use
//! because sorting cost ~10 % of forwarding performance; re-creating a flow does move
//! it to the front, as `ipflow_create` re-inserts it at the list head). NetBSD's
//! `ipflow_reap(true)` walks the whole list looking for a dead route first; here the
//! eviction is O(1) and dead routes are left to the slow timer.
//!
//! [`FlowTable::slow_timer`] is `ipflow_slowtimo`: call it periodically (NetBSD: every
//! 500 ms, `PR_SLOWHZ`). It removes flows idle for [`FlowConfig::idle_timeout`]
//! (`IPFLOW_TIMER`, 5 s), flows whose route cache no longer validates (a route was
//! added, deleted or changed: they would only miss), and — beyond NetBSD — flows whose
//! output interface is down or gone; it folds the use counts of the others into
//! `rt_use` (`ipflow_addstats`). Idle time has the slow timer's resolution, as
//! `ipf_timer` counts `PR_SLOWHZ` ticks: a hit stamps the flow with the time of the
//! last timer run (or creation), so the fast path never reads the clock.
//!
//! # Concurrency
//!
//! One table per forwarder thread (`Send`, not `Sync`); no lock, no shared write on a
//! hit (the flow's counters are the thread's own). See the [module docs](super).
//! The hash is keyed with a random seed per table (`foldhash`), unlike NetBSD's fixed
//! `ipflow_hash`: the keys come from the wire.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::addr::{IfIndex, ScopedAddr, requires_zone};
use crate::ifnet::{Clock, IfaAddr};
use crate::route::{RouteCache, RouteRef, RouteTables, RtFlags};

/// `IPPROTO_ICMP`: no flow is created for ICMP (`ipflow_create`).
const IPPROTO_ICMP: u8 = 1;
/// `IPPROTO_ICMPV6`: no flow is created for ICMPv6 (`ip6flow_create`).
const IPPROTO_ICMPV6: u8 = 58;
/// `IPPROTO_HOPOPTS`: an IPv6 hop-by-hop options header.
const IPPROTO_HOPOPTS: u8 = 0;
/// `IPTTLDEC` / `IPV6_HLIMDEC`.
const TTL_DEC: u8 = 1;
const NIL: u32 = u32::MAX;

/// The key of a flow.
///
/// Guarantees: two packets share a flow exactly when their keys are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowKey {
    /// IPv4: `(ip_dst, ip_src, ip_tos)`.
    V4 {
        /// Destination.
        dst: Ipv4Addr,
        /// Source.
        src: Ipv4Addr,
        /// Type of service.
        tos: u8,
    },
    /// IPv6: `(ip6_dst, ip6_src, ip6_flow)` with the version bits masked off
    /// (traffic class << 20 | flow label).
    V6 {
        /// Destination.
        dst: Ipv6Addr,
        /// Source.
        src: Ipv6Addr,
        /// Traffic class and flow label (28 bits).
        flowinfo: u32,
    },
}

impl FlowKey {
    /// The destination address.
    pub fn dst(&self) -> IpAddr {
        match *self {
            FlowKey::V4 { dst, .. } => IpAddr::V4(dst),
            FlowKey::V6 { dst, .. } => IpAddr::V6(dst),
        }
    }

    /// The source address.
    pub fn src(&self) -> IpAddr {
        match *self {
            FlowKey::V4 { src, .. } => IpAddr::V4(src),
            FlowKey::V6 { src, .. } => IpAddr::V6(src),
        }
    }

    fn is_v6(&self) -> bool {
        matches!(self, FlowKey::V6 { .. })
    }
}

/// What the fast path needs to know about a received packet (the parsed IP header and
/// the receive flags of its mbuf).
///
/// Guarantees: a plain value; building one validates nothing ([`FlowTable::forward`]
/// does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// The flow key (addresses and TOS / flow info).
    pub key: FlowKey,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Protocol (IPv4) or next header (IPv6).
    pub proto: u8,
    /// Total length in bytes (IPv4 `ip_len`; IPv6 40 + payload length).
    pub len: usize,
    /// The IPv4 header has options (`ip_hl > 5`). An IPv6 hop-by-hop header is seen
    /// from `proto` (0).
    pub options: bool,
    /// Received as a link-level broadcast or multicast (`M_BCAST|M_MCAST`).
    pub link_multicast: bool,
    /// The IPv4 header checksum was verified good (always true for IPv6).
    pub checksum_ok: bool,
}

impl Packet {
    /// An IPv4 packet without options, checksum good.
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, tos: u8, ttl: u8, proto: u8, len: usize) -> Self {
        Self {
            key: FlowKey::V4 { dst, src, tos },
            ttl,
            proto,
            len,
            options: false,
            link_multicast: false,
            checksum_ok: true,
        }
    }

    /// An IPv6 packet; `flowinfo` is the traffic class and flow label (masked to 28
    /// bits), `len` the total length.
    pub fn v6(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        flowinfo: u32,
        hop_limit: u8,
        next_header: u8,
        len: usize,
    ) -> Self {
        Self {
            key: FlowKey::V6 {
                dst,
                src,
                flowinfo: flowinfo & 0x0fff_ffff,
            },
            ttl: hop_limit,
            proto: next_header,
            len,
            options: false,
            link_multicast: false,
            checksum_ok: true,
        }
    }

    /// With IPv4 header options.
    pub fn with_options(mut self) -> Self {
        self.options = true;
        self
    }

    /// Received as a link-level broadcast or multicast.
    pub fn link_multicast(mut self) -> Self {
        self.link_multicast = true;
        self
    }

    /// With a bad IPv4 header checksum.
    pub fn bad_checksum(mut self) -> Self {
        self.checksum_ok = false;
        self
    }

    fn header_len(&self) -> usize {
        if self.key.is_v6() { 40 } else { 20 }
    }
}

/// Why a packet takes the slow path (`ipflow_fastforward` returned 0).
///
/// Guarantees: exactly one reason per refused packet, the first rule (module docs)
/// that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlowReason {
    /// The table is disabled (`max_flows == 0`).
    Disabled,
    /// Link-level broadcast or multicast frame.
    LinkMulticast,
    /// IPv4 options or an IPv6 hop-by-hop header.
    Options,
    /// Length shorter than the fixed header.
    BadLength,
    /// Multicast, unspecified or scoped (link-/site-local) address.
    NotUnicastGlobal,
    /// No flow for this key (a miss).
    NoFlow,
    /// Bad IPv4 header checksum.
    BadChecksum,
    /// The flow's route cache no longer validates (a route changed somewhere).
    RouteChanged,
    /// The route has no interface, or its interface was detached.
    InterfaceGone,
    /// The route's interface is down.
    InterfaceDown,
    /// `RTF_BLACKHOLE` route.
    Blackhole,
    /// `RTF_REJECT` (or prohibit) route.
    Reject,
    /// `RTF_BROADCAST` route.
    Broadcast,
    /// Larger than the path MTU (fragmentation or "packet too big" needed).
    TooBig {
        /// The MTU that applies.
        mtu: u32,
    },
    /// TTL / hop limit would reach 0 (`ttl <= IPTTLDEC`): time exceeded.
    TtlExpired,
}

/// A packet cleared for the fast path.
///
/// Guarantees: `route` is the validated route of the flow (its reference borrows the
/// flow table, so it is released before the next packet: `rtcache_unref`); its
/// interface was up and attached when checked; `ttl` is the decremented TTL to write
/// into the header.
#[derive(Debug)]
pub struct Forward<'a> {
    /// The route (`rt`, with its passive reference).
    pub route: RouteRef<'a>,
    /// The output interface (`rt_ifp`).
    pub ifindex: IfIndex,
    /// Where to send: the gateway of a gateway route, else the destination.
    pub next_hop: IpAddr,
    /// The TTL / hop limit after the decrement.
    pub ttl: u8,
}

/// The decision for one packet.
///
/// Guarantees: [`Verdict::Forward`] only if every fast-path rule passed.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// Forward through this route.
    Forward(Forward<'a>),
    /// Hand the packet to the slow path (`ip_input` → `ip_forward`).
    Slow(SlowReason),
}

impl Verdict<'_> {
    /// The reason, if the slow path takes the packet.
    pub fn slow_reason(&self) -> Option<SlowReason> {
        match self {
            Verdict::Forward(_) => None,
            Verdict::Slow(r) => Some(*r),
        }
    }

    /// True for [`Verdict::Forward`].
    pub fn is_forward(&self) -> bool {
        matches!(self, Verdict::Forward(_))
    }
}

/// Limits (`net.inet.ip.maxflows`, `IPFLOW_TIMER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows in the table (`ip_maxflows`, default `IPFLOW_MAX` = 256); 0 disables
    /// the fast path.
    pub max_flows: usize,
    /// A flow unused this long is removed by the slow timer (`IPFLOW_TIMER`, 5 s).
    pub idle_timeout: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            max_flows: 256,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters (NetBSD's `ipf_uses` / `ipstat` increments, per table).
///
/// Guarantees: every [`FlowTable::forward`] call counts once in `hits`, `misses` or
/// `refused`; every flow removed counts once in `evicted`, `expired`, `reaped` or
/// `flushed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowStats {
    /// Packets forwarded by the fast path.
    pub hits: u64,
    /// Packets without a flow.
    pub misses: u64,
    /// Packets refused for any other reason.
    pub refused: u64,
    /// Flows created (re-creating an existing flow counts too).
    pub created: u64,
    /// Flows evicted to make room (FIFO).
    pub evicted: u64,
    /// Flows removed by the slow timer for idleness.
    pub expired: u64,
    /// Flows removed by the slow timer because their route no longer validates or
    /// their interface is down or gone.
    pub reaped: u64,
    /// Flows removed by [`FlowTable::flush`] or [`FlowTable::remove`].
    pub flushed: u64,
}

/// What [`FlowTable::create`] did.
///
/// Guarantees: `evicted` is the flow that made room, if the table was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The flow existed and was refreshed (moved to the front, new route cache).
    pub replaced: bool,
    /// The oldest flow, evicted because the table was full.
    pub evicted: Option<FlowKey>,
}

/// Why [`FlowTable::create`] made no flow.
///
/// Guarantees: the table is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotCreated {
    /// `max_flows == 0`.
    #[error("flow cache disabled")]
    Disabled,
    /// ICMP / ICMPv6 packets get no flow.
    #[error("no flows for ICMP")]
    Icmp,
    /// The packet could never take the fast path (options, multicast, scoped…).
    #[error("packet not eligible for the fast path: {0:?}")]
    Ineligible(SlowReason),
    /// The route cache has no destination.
    #[error("route cache has no destination")]
    NoDestination,
    /// The route cache is for another destination than the packet's.
    #[error("route cache is for another destination")]
    OtherDestination,
}

/// What one [`FlowTable::slow_timer`] run removed.
///
/// Guarantees: the counts of this run only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReapReport {
    /// Idle flows.
    pub expired: usize,
    /// Flows with a dead route or interface.
    pub reaped: usize,
}

struct Flow {
    key: FlowKey,
    cache: RouteCache,
    last_used: Duration,
    uses: u64,
    /// Towards the newer end (`NIL` at the head).
    newer: u32,
    /// Towards the older end (`NIL` at the tail).
    older: u32,
}

/// A fast-forward flow cache for one forwarder thread (`ipflowtable` + `ipflowlist`).
///
/// Guarantees:
/// * at most [`FlowConfig::max_flows`] flows; when full, creating a flow evicts the
///   one created (or re-created) longest ago;
/// * [`forward`](Self::forward) clears a packet only through a route cache that
///   validated for that packet, to an interface that was up (module docs);
/// * the fast path takes no lock and writes nothing shared;
/// * `Send` but not `Sync`: one table per thread.
///
/// One table may hold flows of both families under one limit; a forwarder that wants
/// NetBSD's separate `ip_maxflows` / `ip6_maxflows` keeps two tables.
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<netroute::flow::FlowTable>();
/// ```
pub struct FlowTable {
    config: FlowConfig,
    clock: Arc<dyn Clock>,
    /// Coarse time: of the last slow-timer run or creation.
    now: Duration,
    index: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Flow>>,
    free: Vec<u32>,
    /// Newest flow.
    head: u32,
    /// Oldest flow.
    tail: u32,
    stats: FlowStats,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("config", &self.config)
            .field("flows", &self.index.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The route-cache destination of a flow, or why it can have none.
fn flow_dst(key: &FlowKey) -> Result<IfaAddr, SlowReason> {
    match *key {
        FlowKey::V4 { dst, src, .. } => {
            if dst.is_multicast()
                || dst.is_unspecified()
                || dst.is_broadcast()
                || src.is_multicast()
            {
                return Err(SlowReason::NotUnicastGlobal);
            }
            Ok(IfaAddr::V4(dst))
        }
        FlowKey::V6 { dst, src, .. } => {
            if dst.is_multicast()
                || dst.is_unspecified()
                || src.is_multicast()
                || requires_zone(&dst)
                || requires_zone(&src)
            {
                return Err(SlowReason::NotUnicastGlobal);
            }
            ScopedAddr::new(dst, None)
                .map(IfaAddr::V6)
                .map_err(|_| SlowReason::NotUnicastGlobal)
        }
    }
}

/// The header rules (1–4 of the module docs) that need no flow.
fn header_check(config: &FlowConfig, pkt: &Packet) -> Result<(), SlowReason> {
    if config.max_flows == 0 {
        return Err(SlowReason::Disabled);
    }
    if pkt.link_multicast {
        return Err(SlowReason::LinkMulticast);
    }
    if pkt.options || (pkt.key.is_v6() && pkt.proto == IPPROTO_HOPOPTS) {
        return Err(SlowReason::Options);
    }
    if pkt.len < pkt.header_len() {
        return Err(SlowReason::BadLength);
    }
    flow_dst(&pkt.key).map(|_| ())
}

impl FlowTable {
    /// An empty table with `config`, reading idle time from `clock` (the interface
    /// table's clock, or a [`FakeClock`](crate::ifnet::FakeClock) in tests).
    pub fn new(config: FlowConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            config,
            clock,
            now,
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            stats: FlowStats::default(),
        }
    }

    /// The limits.
    pub fn config(&self) -> FlowConfig {
        self.config
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True if there is no flow.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// True if a flow with this key exists.
    pub fn contains(&self, key: &FlowKey) -> bool {
        self.index.contains_key(key)
    }

    /// The counters.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Packets forwarded through the flow `key` since it was created or last folded
    /// into `rt_use` by the slow timer.
    pub fn uses(&self, key: &FlowKey) -> Option<u64> {
        let i = *self.index.get(key)?;
        self.slots[i as usize].as_ref().map(|f| f.uses)
    }

    /// The keys, oldest first (the eviction order).
    pub fn keys_oldest_first(&self) -> Vec<FlowKey> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = self.tail;
        while i != NIL {
            let f = self.slots[i as usize].as_ref().expect("linked flow");
            out.push(f.key);
            i = f.newer;
        }
        out
    }

    fn unlink(&mut self, i: u32) -> Flow {
        let f = self.slots[i as usize].take().expect("linked flow");
        match f.newer {
            NIL => self.head = f.older,
            n => self.slots[n as usize].as_mut().expect("linked flow").older = f.older,
        }
        match f.older {
            NIL => self.tail = f.newer,
            o => self.slots[o as usize].as_mut().expect("linked flow").newer = f.newer,
        }
        self.index.remove(&f.key);
        self.free.push(i);
        f
    }

    fn link_front(&mut self, mut f: Flow) -> u32 {
        f.newer = NIL;
        f.older = self.head;
        let key = f.key;
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(f);
                i
            }
            None => {
                self.slots.push(Some(f));
                (self.slots.len() - 1) as u32
            }
        };
        if self.head != NIL {
            self.slots[self.head as usize]
                .as_mut()
                .expect("linked flow")
                .newer = i;
        } else {
            self.tail = i;
        }
        self.head = i;
        self.index.insert(key, i);
        i
    }

    /// `ipflow_create(ro, m)`: after the slow path forwarded `pkt` using route cache
    /// `ro`, makes (or refreshes) the packet's flow with a copy of `ro`
    /// (`rtcache_copy`: the route only if `ro` still validates). A refreshed flow moves
    /// to the front and starts counting again; when the table is full the oldest flow
    /// is evicted. ICMP gets no flow.
    pub fn create(
        &mut self,
        t: &RouteTables,
        pkt: &Packet,
        ro: &mut RouteCache,
    ) -> Result<Created, NotCreated> {
        if self.config.max_flows == 0 {
            return Err(NotCreated::Disabled);
        }
        let icmp = if pkt.key.is_v6() {
            IPPROTO_ICMPV6
        } else {
            IPPROTO_ICMP
        };
        if pkt.proto == icmp {
            return Err(NotCreated::Icmp);
        }
        header_check(&self.config, pkt).map_err(NotCreated::Ineligible)?;
        let dst = flow_dst(&pkt.key).map_err(NotCreated::Ineligible)?;
        match ro.dst() {
            None => return Err(NotCreated::NoDestination),
            Some(d) if d != dst => return Err(NotCreated::OtherDestination),
            Some(_) => {}
        }
        let mut cache = RouteCache::new();
        if cache.copy_from(t, ro).is_err() {
            return Err(NotCreated::NoDestination);
        }
        self.now = self.now.max(self.clock.now());
        let replaced = match self.index.get(&pkt.key) {
            Some(&i) => {
                let old = self.unlink(i);
                fold_uses(t, old.cache, old.uses);
                true
            }
            None => false,
        };
        let mut evicted = None;
        if !replaced && self.index.len() >= self.config.max_flows {
            let old = self.unlink(self.tail);
            evicted = Some(old.key);
            self.stats.evicted += 1;
            fold_uses(t, old.cache, old.uses);
        }
        self.link_front(Flow {
            key: pkt.key,
            cache,
            last_used: self.now,
            uses: 0,
            newer: NIL,
            older: NIL,
        });
        self.stats.created += 1;
        Ok(Created { replaced, evicted })
    }

    /// `ipflow_fastforward(m)`: the verdict for one received packet (module docs for
    /// the rules). On [`Verdict::Forward`] the flow counts one use and is stamped as
    /// used; the route reference borrows the table until dropped.
    #[inline]
    pub fn forward<'s>(&'s mut self, t: &'s RouteTables, pkt: &Packet) -> Verdict<'s> {
        if let Err(r) = header_check(&self.config, pkt) {
            self.stats.refused += 1;
            return Verdict::Slow(r);
        }
        let Self {
            index,
            slots,
            stats,
            now,
            ..
        } = self;
        let Some(&i) = index.get(&pkt.key) else {
            stats.misses += 1;
            return Verdict::Slow(SlowReason::NoFlow);
        };
        let flow = slots[i as usize].as_mut().expect("indexed flow");
        match check_route(t, &mut flow.cache, pkt) {
            Ok(fwd) => {
                flow.uses += 1;
                flow.last_used = *now;
                stats.hits += 1;
                Verdict::Forward(fwd)
            }
            Err(r) => {
                stats.refused += 1;
                Verdict::Slow(r)
            }
        }
    }

    /// `ipflow_slowtimo`: removes flows idle for the timeout, flows whose route cache
    /// no longer validates and flows whose interface is down or gone; folds the use
    /// counts of the others into their routes' `rt_use`. Reads the clock once.
    pub fn slow_timer(&mut self, t: &RouteTables) -> ReapReport {
        self.now = self.now.max(self.clock.now());
        let mut report = ReapReport::default();
        let mut i = self.tail;
        while i != NIL {
            let f = self.slots[i as usize].as_mut().expect("linked flow");
            let next = f.newer;
            let idle = self.now.saturating_sub(f.last_used) >= self.config.idle_timeout;
            let alive = !idle && {
                match f.cache.validate(t) {
                    Some(rt) => {
                        let up = interface_up(t, &rt).is_ok();
                        if up {
                            rt.add_use(std::mem::take(&mut f.uses));
                        }
                        up
                    }
                    None => false,
                }
            };
            if !alive {
                let old = self.unlink(i);
                if idle {
                    report.expired += 1;
                    fold_uses(t, old.cache, old.uses);
                } else {
                    report.reaped += 1;
                }
            }
            i = next;
        }
        self.stats.expired += report.expired as u64;
        self.stats.reaped += report.reaped as u64;
        report
    }

    /// Removes the flow `key`; true if it existed.
    pub fn remove(&mut self, t: &RouteTables, key: &FlowKey) -> bool {
        let Some(&i) = self.index.get(key) else {
            return false;
        };
        let old = self.unlink(i);
        fold_uses(t, old.cache, old.uses);
        self.stats.flushed += 1;
        true
    }

    /// `ipflow_invalidate_all`: removes every flow (their uses folded into `rt_use`).
    pub fn flush(&mut self, t: &RouteTables) {
        while self.tail != NIL {
            let old = self.unlink(self.tail);
            fold_uses(t, old.cache, old.uses);
            self.stats.flushed += 1;
        }
    }
}

/// `ipflow_addstats`: folds a removed flow's uses into its route, if still valid.
fn fold_uses(t: &RouteTables, mut cache: RouteCache, uses: u64) {
    if uses == 0 {
        return;
    }
    if let Some(rt) = cache.validate(t) {
        rt.add_use(uses);
    }
}

/// Rule 9 (interface) of the module docs, for the slow timer.
fn interface_up(t: &RouteTables, rt: &RouteRef<'_>) -> Result<(), SlowReason> {
    let idx = rt.ifindex().ok_or(SlowReason::InterfaceGone)?;
    let g = t.domain().read();
    let ifp = t
        .ifs()
        .byindex(&g, idx)
        .filter(|i| i.attach_id() == rt.if_attach_id())
        .ok_or(SlowReason::InterfaceGone)?;
    if !ifp.is_up() {
        return Err(SlowReason::InterfaceDown);
    }
    Ok(())
}

/// Rules 6–11 of the module docs, under one read section: the route and its
/// interface are checked without references, and the route's passive reference is
/// taken only for a packet cleared to go.
#[inline]
fn check_route<'s>(
    t: &'s RouteTables,
    cache: &mut RouteCache,
    pkt: &Packet,
) -> Result<Forward<'s>, SlowReason> {
    if !pkt.checksum_ok {
        return Err(SlowReason::BadChecksum);
    }
    let g = t.domain().read();
    let e = cache
        .validate_shared(t, &g)
        .ok_or(SlowReason::RouteChanged)?;
    let flags = e.flags();
    if flags.contains(RtFlags::BLACKHOLE) {
        return Err(SlowReason::Blackhole);
    }
    if flags.intersects(RtFlags::REJECT | RtFlags::PROHIBIT) {
        return Err(SlowReason::Reject);
    }
    if flags.contains(RtFlags::BROADCAST) {
        return Err(SlowReason::Broadcast);
    }
    let ifindex = e.ifindex().ok_or(SlowReason::InterfaceGone)?;
    let ifp = t
        .ifs()
        .byindex(&g, ifindex)
        .filter(|i| i.attach_id() == e.if_attach_id())
        .ok_or(SlowReason::InterfaceGone)?;
    if !ifp.is_up() {
        return Err(SlowReason::InterfaceDown);
    }
    let if_mtu = ifp.mtu();
    let rt_mtu = e.metrics().mtu;
    let mtu = if rt_mtu != 0 && rt_mtu < if_mtu {
        rt_mtu
    } else {
        if_mtu
    };
    if pkt.len > mtu as usize {
        return Err(SlowReason::TooBig { mtu });
    }
    if pkt.ttl <= TTL_DEC {
        return Err(SlowReason::TtlExpired);
    }
    let next_hop = e.next_hop(pkt.key.dst());
    Ok(Forward {
        route: RouteRef(e.acquire()),
        ifindex,
        next_hop,
        ttl: pkt.ttl - TTL_DEC,
    })
}
