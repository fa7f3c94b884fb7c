//! The routing tables (`rt_tables`, the radix trees of sys/net/route.c), `rtrequest1`
//! (add / delete / change / get), `rtalloc1`, `rt_check_reject_route`, `rt_gwroute`,
//! `rtcache_generation`, and the route side of the interface layer (`rt_ifa_addlocal`,
//! `in_addprefix`, `rt_delete_matched_entries` on detach).
//!
//! # Structure
//!
//! Per family a [`RouteTable`]: a RIB (every route, by key, ordered by metric, under a
//! writer lock), a FIB version derived from it (best route per key → slab index, the
//! compiled LPM of `fib/` behind the seam of `lpm.rs`), and a slab of [`psref::Slot`]s
//! holding the [`RtEntry`] objects. The FIB's writer side (its private copy and change
//! log) lives under the RIB lock; a retired FIB version is handed back to it after its
//! grace period (`retire_fib`), re-taking the RIB lock. Both
//! families share one [`Domain`] with the [`IfTable`], and one generation.
//!
//! # Differences from NetBSD
//!
//! * Several routes per destination, told apart by `metric`; the lowest is served
//!   (Linux). A duplicate is the same destination and metric (`EEXIST`).
//! * Readers take no lock: `rt_lock` is replaced by read sections and the RCU-published
//!   FIB; writers of one family serialise on that family's RIB lock.
//! * `RTM_CHANGE` replaces the entry object (same id, same slab index) instead of the
//!   `RTF_UPDATING` protocol: readers never wait and never see a half-changed route; the
//!   change returns after references to the old object drained. It bumps the
//!   generation (NetBSD 1.207 does not for in-place changes) so caches pick up the new
//!   object at once.
//! * Delete is two-phase: unpublish from the FIB and bump the generation, synchronize
//!   (no reader can still reach the entry through an old FIB), then empty the slot and
//!   drain references. A reader therefore never misses a covering route because a more
//!   specific one is being deleted.
//! * Dev-only routes may have no source address (NetBSD requires an ifa:
//!   `ENETUNREACH`); reject/blackhole routes need neither gateway nor interface.
//! * A given gateway always means `RTF_GATEWAY` (route(8)'s default); an interface
//!   route is written with `dev` and no gateway.
//! * Local routes (`RTF_LOCAL`) go out through the address's own interface (NetBSD
//!   uses `lo0` when `useloopback`); connected routes are not moved to another address
//!   of the same subnet when their address goes (`in_scrubprefix` does); no
//!   `RTF_BROADCAST` routes, redirects (`RTM_REDIRECT`/`RTM_LOSING`) or route timers.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use psref::{Batch, Domain, PsRef, ReadGuard, Retired, Shared, Slot};

use crate::addr::{Family, IfIndex, ZoneId, requires_zone};
use crate::ifnet::{IfAddr, IfFlags, IfTable, IfaAddr, RouteHook};

use super::RouteError;
use super::entry::{Gateway, RouteInfo, RtEntry, RtFlags, RtMetrics};
use super::event::{RouteEvent, RouteEventBus, RouteSubscription};
use super::family::{Afi, family_of, family_of_ip, wrap};
use super::lpm::{DefaultFib, Fib, MAX_SLAB_INDEX};
use super::slab::Slab;
use super::sync::AtomicU64;

/// A passive reference to a routing entry (`struct rtentry *` with its psref).
///
/// Guarantees: the entry stays valid (not freed) while the reference lives; the
/// reference stays on the thread that took it (`!Send`). A reference returned by a
/// [`RouteCache`](super::RouteCache) borrows the cache, so a cache hands out at most one
/// at a time (`rtcache_unref` is the drop).
pub struct RouteRef<'a>(pub(crate) PsRef<'a, RtEntry>);

impl std::ops::Deref for RouteRef<'_> {
    type Target = RtEntry;
    fn deref(&self) -> &RtEntry {
        &self.0
    }
}

impl std::fmt::Debug for RouteRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RouteRef").field(&*self.0).finish()
    }
}

/// What to add or change (`struct rt_addrinfo` of `rtrequest1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `RTAX_DST` + `RTAX_NETMASK`: masked to its length (host bits are ignored, as
    /// `rt_maskedcopy` does); with `host` in the flags the length is the full width.
    pub dst: IpNet,
    /// `RTAX_GATEWAY`: a router of the same family; implies `RTF_GATEWAY`.
    pub gateway: Option<IpAddr>,
    /// `RTAX_IFP`: the output interface (also the zone of scoped IPv6 addresses).
    pub dev: Option<IfIndex>,
    /// `RTAX_IFA`: the source address to use (must be one of ours).
    pub src: Option<IpAddr>,
    /// Flags asked for (`local` is refused: local routes belong to addresses).
    pub flags: RtFlags,
    /// Preference among routes to the same destination (lower wins).
    pub metric: u32,
    /// Metrics.
    pub metrics: RtMetrics,
}

impl RouteSpec {
    /// A route to `dst` with nothing else set.
    pub fn new(dst: IpNet) -> Self {
        Self {
            dst,
            gateway: None,
            dev: None,
            src: None,
            flags: RtFlags::empty(),
            metric: 0,
            metrics: RtMetrics::default(),
        }
    }
    /// Through gateway `gw`.
    pub fn via(mut self, gw: impl Into<IpAddr>) -> Self {
        self.gateway = Some(gw.into());
        self
    }
    /// Out of interface `dev`.
    pub fn dev(mut self, dev: IfIndex) -> Self {
        self.dev = Some(dev);
        self
    }
    /// With source address `src`.
    pub fn src(mut self, src: impl Into<IpAddr>) -> Self {
        self.src = Some(src.into());
        self
    }
    /// With `flags` added.
    pub fn flags(mut self, flags: RtFlags) -> Self {
        self.flags |= flags;
        self
    }
    /// With metric `m`.
    pub fn metric(mut self, m: u32) -> Self {
        self.metric = m;
        self
    }
    /// With path MTU `mtu`.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.metrics.mtu = mtu;
        self
    }
    /// With metrics `m`.
    pub fn metrics(mut self, m: RtMetrics) -> Self {
        self.metrics = m;
        self
    }
    fn key(&self) -> RouteKey {
        RouteKey {
            dst: self.dst,
            dev: self.dev,
            host: self.flags.contains(RtFlags::HOST),
            metric: Some(self.metric),
        }
    }
}

/// Which route a delete or get names (`RTAX_DST` + `RTAX_NETMASK`, plus a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKey {
    /// The destination (masked to its length).
    pub dst: IpNet,
    /// The zone of a scoped IPv6 destination, as an interface index.
    pub dev: Option<IfIndex>,
    /// Host route: the length is the full width.
    pub host: bool,
    /// The metric; `None` names the best (lowest-metric) route.
    pub metric: Option<u32>,
}

impl RouteKey {
    /// The best route to `dst`.
    pub fn new(dst: IpNet) -> Self {
        Self {
            dst,
            dev: None,
            host: false,
            metric: None,
        }
    }
    /// The route with metric `m`.
    pub fn metric(mut self, m: u32) -> Self {
        self.metric = Some(m);
        self
    }
    /// In the zone of interface `dev`.
    pub fn dev(mut self, dev: IfIndex) -> Self {
        self.dev = Some(dev);
        self
    }
    /// As a host route.
    pub fn host(mut self) -> Self {
        self.host = true;
        self
    }
}

/// A routing request (`rtrequest1`'s `req` and info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtRequest {
    /// `RTM_ADD`.
    Add(RouteSpec),
    /// `RTM_DELETE`.
    Delete(RouteKey),
    /// `RTM_CHANGE`: the route with `spec`'s destination and metric gets `spec`'s
    /// gateway, interface, flags and metrics, and metric `new_metric` if given.
    Change {
        /// The route (destination + metric) and its new attributes.
        spec: RouteSpec,
        /// A new metric.
        new_metric: Option<u32>,
    },
    /// `RTM_GET`: exact match.
    Get(RouteKey),
}

/// Limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// Most routes per family (at most `2^30 - 1`: the FIB's slab-index leaves are
    /// 30-bit; larger values are capped).
    pub max_routes: usize,
    /// Lifetime of a route created by a redirect, in seconds (0: forever);
    /// `net.inet.icmp.redirtimeout`.
    pub redirect_timeout_secs: u64,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            max_routes: 1 << 21,
            redirect_timeout_secs: Self::DEFAULT_REDIRECT_TIMEOUT_SECS,
        }
    }
}

/// Counters (`struct rtstat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteStats {
    /// `rts_unreach`: lookups that found no route.
    pub unreach: u64,
    /// `rts_badredirect`: redirects refused.
    pub badredirect: u64,
    /// `rts_dynamic`: host routes created by redirects.
    pub dynamic: u64,
    /// `rts_newgateway`: routes whose gateway a redirect replaced.
    pub newgateway: u64,
}

/// The redirect counters of [`RouteStats`].
#[derive(Default)]
pub(super) struct RedirectCounters {
    bad: AtomicU64,
    dynamic: AtomicU64,
    newgateway: AtomicU64,
}

impl RedirectCounters {
    pub(super) fn bad(&self) {
        self.bad.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn dynamic(&self) {
        self.dynamic.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn newgateway(&self) {
        self.newgateway.fetch_add(1, Ordering::Relaxed);
    }
}

/// The global generation (`rtcache_generation`), alone on its cache line so the
/// readers' relaxed loads do not share a line with anything written more often.
#[repr(align(128))]
pub(crate) struct Generation(pub(crate) AtomicU64);

#[derive(Clone)]
struct RibRoute {
    metric: u32,
    idx: u32,
    id: u64,
    flags: RtFlags,
    ifindex: Option<IfIndex>,
    ifa: Option<Arc<IfAddr>>,
}

/// The writer state of a family's FIB (kept under the RIB lock).
type FibWriter<P> = <DefaultFib<P> as Fib<P>>::Writer;

struct Rib<P: Afi> {
    routes: BTreeMap<P, Vec<RibRoute>>,
    free: Vec<u32>,
    next: u32,
    count: usize,
    /// The FIB's writer side (its private copy and change log, see `lpm.rs`).
    fib: FibWriter<P>,
}

/// One family's table: RIB, FIB snapshot and entry slab.
///
/// Guarantees: lookups take no lock; the FIB serves, for every destination, the
/// lowest-metric route of the longest matching prefix in the RIB once the writer call
/// that changed it returned.
pub struct RouteTable<P: Afi> {
    slab: Slab<RtEntry>,
    fib: Slot<DefaultFib<P>>,
    rib: Mutex<Rib<P>>,
}

impl<P: Afi> RouteTable<P> {
    fn new(domain: &Domain, max: usize) -> Self {
        // Slab indices must fit the FIB's leaves (30 bits).
        let max = max.min(MAX_SLAB_INDEX as usize + 1);
        let (fib, writer) = DefaultFib::<P>::new();
        Self {
            slab: Slab::new(max),
            fib: Slot::new(fib, domain),
            rib: Mutex::new(Rib {
                routes: BTreeMap::new(),
                free: Vec::new(),
                next: 0,
                count: 0,
                fib: writer,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Rib<P>> {
        self.rib.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of routes (all metrics).
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// True if the table has no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn lookup_shared<'a, 'g>(
        &'a self,
        g: &'g ReadGuard<'a>,
        key: P::Addr,
    ) -> Option<(u32, Shared<'g, 'a, RtEntry>)> {
        let idx = self.fib.load(g)?.get().lookup(key)?;
        Some((idx, self.slab.get(idx)?.load(g)?))
    }

    #[inline]
    fn load_cached<'a, 'g>(
        &'a self,
        g: &'g ReadGuard<'a>,
        idx: u32,
        id: u64,
    ) -> Option<Shared<'g, 'a, RtEntry>> {
        self.slab.get(idx)?.load(g).filter(|e| e.id == id)
    }
}

/// A FIB snapshot taken out of service, freed after a synchronize.
type RetiredFib<'d, P> = Retired<'d, DefaultFib<P>>;

/// Which table a cached handle points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handle {
    pub(crate) v6: bool,
    pub(crate) idx: u32,
    pub(crate) id: u64,
}

static NEXT_TABLES_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The routing tables of one stack: IPv4 and IPv6, one generation, one event bus.
///
/// Guarantees:
/// * lookups never block and return references that keep the entry alive;
/// * every successful add, delete and change bumps the one generation (both families),
///   after the change is visible to lookups;
/// * [`delete`](Self::delete) and [`change`](Self::change) return only after every
///   reference to the removed or replaced entry object was released, and no lookup or
///   cache validation that begins after they return can see it;
/// * a failed request changes nothing;
/// * routes through an interface are deleted when it is detached; local and connected
///   routes follow the interface addresses.
///
/// # Panics
/// Writers that drain ([`delete`](Self::delete), [`change`](Self::change),
/// [`delete_routes_through`](Self::delete_routes_through), and [`add`](Self::add),
/// which frees the previous FIB snapshot after a synchronize) panic when called inside
/// a read section of the domain or while the calling thread holds a reference to the
/// route being destroyed: psref's deadlock check (the call would wait forever).
pub struct RouteTables {
    domain: Arc<Domain>,
    ifs: Arc<IfTable>,
    generation: Generation,
    next_id: std::sync::atomic::AtomicU64,
    unreach: std::sync::atomic::AtomicU64,
    tables_id: u64,
    v4: RouteTable<Ipv4Net>,
    v6: RouteTable<Ipv6Net>,
    events: RouteEventBus,
    config: RouteConfig,
    redirects: RedirectCounters,
    /// The `rt_timer` queue: (expire, route id) → the route's key, for every route that
    /// was added or changed as `DYNAMIC` with an `expire` (redirect routes). Entries of
    /// routes deleted or re-armed since are skipped when they come due.
    timers: std::sync::Mutex<std::collections::BTreeMap<(u64, u64), RouteKey>>,
}

impl std::fmt::Debug for RouteTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTables")
            .field("v4", &self.v4.len())
            .field("v6", &self.v6.len())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

macro_rules! by_family {
    ($self:ident, $fam:expr, |$t:ident| $body:expr) => {
        match $fam {
            Family::Inet6 => {
                let $t = &$self.v6;
                $body
            }
            _ => {
                let $t = &$self.v4;
                $body
            }
        }
    };
}

struct Hook(Weak<RouteTables>);

impl RouteHook for Hook {
    fn delete_routes_through(&self, index: IfIndex) {
        if let Some(t) = self.0.upgrade() {
            t.delete_routes_through(index);
        }
    }
    fn addr_added(&self, ifa: &Arc<IfAddr>) {
        if let Some(t) = self.0.upgrade() {
            t.addr_added(ifa);
        }
    }
    fn addr_removed(&self, ifa: &Arc<IfAddr>) {
        if let Some(t) = self.0.upgrade() {
            t.addr_removed(ifa);
        }
    }
}

struct Resolved {
    flags: RtFlags,
    gateway: Gateway,
    ifindex: Option<IfIndex>,
    attach_id: u64,
    ifa: Option<Arc<IfAddr>>,
    metrics: RtMetrics,
}

impl RouteTables {
    /// Tables sharing `ifs`'s domain, registered as its route hook (detach deletes the
    /// routes through the interface; address changes add and remove local and
    /// connected routes). Addresses already configured get their routes now. The hook
    /// replaces any the interface table had: one set of route tables per interface
    /// table (the `Stack` owns both).
    pub fn new(ifs: Arc<IfTable>) -> Arc<Self> {
        Self::with_config(ifs, RouteConfig::default())
    }

    /// [`new`](Self::new) with explicit limits.
    pub fn with_config(ifs: Arc<IfTable>, config: RouteConfig) -> Arc<Self> {
        let domain = Arc::clone(ifs.domain());
        let t = Arc::new(Self {
            v4: RouteTable::new(&domain, config.max_routes),
            v6: RouteTable::new(&domain, config.max_routes),
            domain,
            ifs: Arc::clone(&ifs),
            generation: Generation(AtomicU64::new(1)),
            next_id: std::sync::atomic::AtomicU64::new(1),
            unreach: std::sync::atomic::AtomicU64::new(0),
            tables_id: NEXT_TABLES_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            events: RouteEventBus::default(),
            config,
            redirects: RedirectCounters::default(),
            timers: std::sync::Mutex::default(),
        });
        ifs.set_route_hook(Arc::new(Hook(Arc::downgrade(&t))));
        for i in ifs.indices() {
            for a in ifs.addrs_of(i, None) {
                let a = a.counted();
                t.addr_added(&a);
            }
        }
        t
    }

    /// Publishes `e` on the route bus and, when anyone listens there, on the interface
    /// table's bus (the stack's routing socket), so a `Stack` subscriber sees route and
    /// interface messages in one order.
    pub(super) fn emit(&self, e: RouteEvent) {
        if let RouteEvent::Add(i) | RouteEvent::Change(i) = &e
            && i.flags.contains(RtFlags::DYNAMIC)
            && i.metrics.expire != 0
        {
            self.arm_timer(i);
        }
        let bus = self.ifs.events();
        if bus.subscribers() > 0 {
            bus.publish(crate::ifnet::Event::Route(e.clone()));
        }
        self.events.publish(e);
    }

    /// The limits and timeouts the tables were built with.
    pub(super) fn config(&self) -> &RouteConfig {
        &self.config
    }

    pub(super) fn redirect_stats(&self) -> &RedirectCounters {
        &self.redirects
    }

    /// Adds a route made by the stack itself (a redirect): user-flag checks, no
    /// `STATIC`.
    pub(super) fn add_internal(&self, spec: &RouteSpec) -> Result<RouteInfo, RouteError> {
        check_user_flags(spec.flags)?;
        by_family!(self, family_of(&spec.dst), |t| self.add_in(t, spec))
    }

    /// Changes a route in place for the stack itself (a redirect).
    pub(super) fn change_internal(&self, spec: &RouteSpec) -> Result<RouteInfo, RouteError> {
        check_user_flags(spec.flags)?;
        by_family!(self, family_of(&spec.dst), |t| self
            .change_in(t, spec, None))
    }

    /// Timers queued (due or not), for tests.
    #[cfg(test)]
    pub(crate) fn pending_timers(&self) -> usize {
        self.timers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Queues `info`'s expiry (`rt_timer_add`): its key as `delete` would name it.
    fn arm_timer(&self, info: &RouteInfo) {
        let mut key = RouteKey::new(info.dst).metric(info.metric);
        if info.flags.contains(RtFlags::HOST) {
            key = key.host();
        }
        if let (Some(_), Some(i)) = (info.zone, info.ifindex) {
            key = key.dev(i);
        }
        self.timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((info.metrics.expire, info.id), key);
    }

    /// Deletes the `DYNAMIC` routes whose `expire` is in `1..=now`; returns how many.
    /// Only the timers that came due are looked at (no RIB scan): each names a route by
    /// key and id, which is deleted if it is still there, still `DYNAMIC` and still due
    /// (a re-armed route has a later timer of its own).
    pub(super) fn delete_expired_dynamic(&self, now: u64) -> usize {
        let due: Vec<(u64, RouteKey)> = {
            let mut q = self.timers.lock().unwrap_or_else(|e| e.into_inner());
            let later = q.split_off(&(now + 1, 0));
            std::mem::replace(&mut *q, later)
                .into_iter()
                .map(|((_, id), k)| (id, k))
                .collect()
        };
        due.iter()
            .filter(|(id, k)| {
                by_family!(self, family_of(&k.dst), |t| self.expire_one(t, k, *id, now))
            })
            .count()
    }

    fn expire_one<P: Afi>(&self, t: &RouteTable<P>, k: &RouteKey, id: u64, now: u64) -> bool {
        let Ok((_, _, key)) = self.key_of::<P>(k) else {
            return false;
        };
        let rib = t.lock();
        let still_due = {
            let g = self.domain.read();
            find(&rib, &key, k.metric).is_some_and(|r| {
                r.id == id
                    && r.flags.contains(RtFlags::DYNAMIC)
                    && t.slab
                        .get(r.idx)
                        .and_then(|s| s.load(&g))
                        .is_some_and(|e| (1..=now).contains(&e.metrics().expire))
            })
        };
        still_due
            && !self
                .remove_where_in(t, rib, Some(&key), |kk, rr| *kk == key && rr.id == id)
                .is_empty()
    }

    /// The domain whose read sections protect routes and interfaces.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// The interface table.
    pub fn ifs(&self) -> &Arc<IfTable> {
        &self.ifs
    }

    /// The IPv4 table.
    pub fn v4(&self) -> &RouteTable<Ipv4Net> {
        &self.v4
    }

    /// The IPv6 table.
    pub fn v6(&self) -> &RouteTable<Ipv6Net> {
        &self.v6
    }

    /// The current generation (`rtcache_generation`).
    pub fn generation(&self) -> u64 {
        self.generation.0.load(Ordering::Acquire)
    }

    pub(crate) fn generation_relaxed(&self) -> u64 {
        self.generation.0.load(Ordering::Relaxed)
    }

    pub(crate) fn id(&self) -> u64 {
        self.tables_id
    }

    fn invalidate(&self) {
        // Test-only deliberate bug (`NETROUTE_MUTATION=no_generation_bump`, see
        // build.rs): caches are never told that the table changed. The torture test
        // must catch it (`tests/torture.rs`).
        if cfg!(netroute_mutation = "no_generation_bump") {
            return;
        }
        // Release: a reader that sees the new generation (Acquire) sees the new FIB.
        self.generation.0.fetch_add(1, Ordering::Release);
    }

    /// A subscriber to route events with a queue of `capacity`.
    pub fn subscribe(&self, capacity: usize) -> RouteSubscription {
        self.events.subscribe(capacity)
    }

    /// A subscriber to the route events of `kinds` only (`RO_MSGFILTER`), with a queue
    /// of `capacity`; see [`RouteEventBus::subscribe_filtered`].
    pub fn subscribe_filtered(
        &self,
        capacity: usize,
        kinds: super::RouteEventKinds,
    ) -> RouteSubscription {
        self.events.subscribe_filtered(capacity, kinds)
    }

    /// Counters.
    pub fn stats(&self) -> RouteStats {
        RouteStats {
            unreach: self.unreach.load(std::sync::atomic::Ordering::Relaxed),
            badredirect: self.redirects.bad.load(Ordering::Relaxed),
            dynamic: self.redirects.dynamic.load(Ordering::Relaxed),
            newgateway: self.redirects.newgateway.load(Ordering::Relaxed),
        }
    }

    // ------------------------------------------------------------------ readers

    /// Longest match inside the caller's read section (no reference taken).
    pub(crate) fn lookup_in<'a, 'g>(
        &'a self,
        g: &'g ReadGuard<'a>,
        dst: &IfaAddr,
    ) -> Option<(Handle, Shared<'g, 'a, RtEntry>)> {
        match dst {
            IfaAddr::V4(_) => {
                let (idx, e) = self.v4.lookup_shared(g, Ipv4Net::addr_key(dst)?)?;
                Some((
                    Handle {
                        v6: false,
                        idx,
                        id: e.id,
                    },
                    e,
                ))
            }
            IfaAddr::V6(_) => {
                let (idx, e) = self.v6.lookup_shared(g, Ipv6Net::addr_key(dst)?)?;
                Some((
                    Handle {
                        v6: true,
                        idx,
                        id: e.id,
                    },
                    e,
                ))
            }
        }
    }

    /// `rtalloc1` inside the caller's read section: no reference taken, no use
    /// counted, no miss reported; the entry is valid until the section ends. One
    /// section can cover the route and its interface
    /// ([`IfTable::byindex`](crate::ifnet::IfTable::byindex)).
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the tables' (psref's check).
    pub fn lookup_shared<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        dst: &IfaAddr,
    ) -> Option<Shared<'g, 'a, RtEntry>> {
        self.lookup_in(guard, dst).map(|(_, e)| e)
    }

    #[inline]
    pub(crate) fn load_handle<'a, 'g>(
        &'a self,
        g: &'g ReadGuard<'a>,
        h: Handle,
    ) -> Option<Shared<'g, 'a, RtEntry>> {
        if h.v6 {
            self.v6.load_cached(g, h.idx, h.id)
        } else {
            self.v4.load_cached(g, h.idx, h.id)
        }
    }

    pub(crate) fn note_miss(&self, dst: IfaAddr, report: bool) {
        self.unreach
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if report {
            self.emit(RouteEvent::Miss { dst });
        }
    }

    /// `rtalloc1(dst, report)`: the route the FIB serves for `dst` (longest prefix,
    /// then lowest metric), with a reference. A miss counts in
    /// [`RouteStats::unreach`] and, if `report`, emits [`RouteEvent::Miss`]. Reject and
    /// blackhole routes are returned as routes: see [`check_reject`](Self::check_reject)
    /// and [`route_to`](Self::route_to). Counts one use on the entry.
    pub fn lookup(&self, dst: impl Into<IfaAddr>, report: bool) -> Option<RouteRef<'_>> {
        let dst = dst.into();
        let found = {
            let g = self.domain.read();
            self.lookup_in(&g, &dst).map(|(_, e)| {
                e.add_use(1);
                RouteRef(e.acquire())
            })
        };
        if found.is_none() {
            self.note_miss(dst, report);
        }
        found
    }

    /// A lookup that counts nothing (for the writer's own resolution).
    fn peek(&self, dst: IfaAddr) -> Option<RouteRef<'_>> {
        let g = self.domain.read();
        self.lookup_in(&g, &dst).map(|(_, e)| RouteRef(e.acquire()))
    }

    /// What output code does with a destination: [`lookup`](Self::lookup) (reporting
    /// misses) then [`check_reject`](Self::check_reject). A miss is
    /// [`RouteError::NetUnreachable`].
    pub fn route_to(&self, dst: impl Into<IfaAddr>) -> Result<RouteRef<'_>, RouteError> {
        let rt = self
            .lookup(dst, true)
            .ok_or(RouteError::NetUnreachable { via: None })?;
        self.check_reject(&rt)?;
        Ok(rt)
    }

    /// `rt_check_reject_route`: `Ok` for usable routes; for `blackhole`
    /// [`RouteError::Blackhole`], for `prohibit` [`RouteError::Prohibited`]; for
    /// `reject` (unless its `expire` passed): on no interface or a loopback interface
    /// `EHOSTUNREACH` (host route) / `ENETUNREACH` (net route), elsewhere
    /// `EHOSTUNREACH` (gateway route) / `EHOSTDOWN`.
    pub fn check_reject(&self, rt: &RtEntry) -> Result<(), RouteError> {
        let f = rt.flags();
        if f.contains(RtFlags::BLACKHOLE) {
            return Err(RouteError::Blackhole);
        }
        if f.contains(RtFlags::PROHIBIT) {
            return Err(RouteError::Prohibited);
        }
        if !f.contains(RtFlags::REJECT) {
            return Ok(());
        }
        let exp = rt.metrics().expire;
        if exp != 0 && self.ifs.clock().now().as_secs() >= exp {
            return Ok(());
        }
        let loopback = match rt.ifindex() {
            None => true,
            Some(i) => self
                .ifs
                .get_by_index(i)
                .is_none_or(|ifp| ifp.flags().contains(IfFlags::LOOPBACK)),
        };
        Err(
            match (
                loopback,
                f.contains(RtFlags::HOST),
                f.contains(RtFlags::GATEWAY),
            ) {
                (true, true, _) => RouteError::HostUnreachable,
                (true, false, _) => RouteError::NetUnreachable { via: None },
                (false, _, true) => RouteError::HostUnreachable,
                (false, _, false) => RouteError::HostDown,
            },
        )
    }

    /// `rt_gwroute`: for a gateway route, the route to its gateway (which must be a
    /// usable non-gateway route, else [`RouteError::HostUnreachable`]); `Ok(None)` for a
    /// route without gateway (the destination itself is the next hop).
    pub fn gwroute(&self, rt: &RtEntry) -> Result<Option<RouteRef<'_>>, RouteError> {
        let Gateway::Addr(gw, zone) = rt.gateway() else {
            return Ok(None);
        };
        let dst = wrap(gw, zone.and_then(|z| IfIndex::new(z.get())))
            .map_err(|_| RouteError::HostUnreachable)?;
        let g = self.lookup(dst, false).ok_or(RouteError::HostUnreachable)?;
        if g.flags().intersects(RtFlags::GATEWAY) || self.check_reject(&g).is_err() {
            return Err(RouteError::HostUnreachable);
        }
        Ok(Some(g))
    }

    /// Every route of `family` (all metrics), by destination then metric.
    pub fn routes(&self, family: Family) -> Vec<RouteInfo> {
        by_family!(self, family, |t| self.dump(t))
    }

    fn dump<P: Afi>(&self, t: &RouteTable<P>) -> Vec<RouteInfo> {
        let rib = t.lock();
        let g = self.domain.read();
        rib.routes
            .values()
            .flatten()
            .filter_map(|r| t.slab.get(r.idx)?.load(&g).map(|e| e.info()))
            .collect()
    }

    // ------------------------------------------------------------------ writers

    /// `rtrequest1`: one of add, delete, change or get; returns the route concerned.
    pub fn rtrequest(&self, req: RtRequest) -> Result<RouteInfo, RouteError> {
        match req {
            RtRequest::Add(s) => self.add(&s),
            RtRequest::Delete(k) => self.delete(&k),
            RtRequest::Change { spec, new_metric } => self.change(&spec, new_metric),
            RtRequest::Get(k) => self.get(&k),
        }
    }

    /// `RTM_ADD` of an administrator's route (flagged `static`, as route(8) does).
    /// The output interface comes from `dev`, else from `src`'s interface,
    /// else from the gateway (`ifa_ifwithroute`: the peer of a point-to-point address,
    /// a connected subnet, or a non-gateway route to it). The gateway route's MTU caps
    /// the route's (`rt_setgate`). Emits [`RouteEvent::Add`].
    ///
    /// Errors: [`RouteError::Exists`] (same destination and metric),
    /// [`RouteError::NoInterface`], [`RouteError::NetUnreachable`] (gateway not
    /// reachable), [`RouteError::NoSuchAddress`] (`src` not ours),
    /// [`RouteError::WrongFamily`], [`RouteError::NoNextHop`], [`RouteError::BadFlags`],
    /// [`RouteError::Addr`] (zone missing), [`RouteError::TableFull`].
    pub fn add(&self, spec: &RouteSpec) -> Result<RouteInfo, RouteError> {
        check_user_flags(spec.flags)?;
        let spec = &RouteSpec {
            flags: spec.flags | RtFlags::STATIC,
            ..spec.clone()
        };
        by_family!(self, family_of(&spec.dst), |t| self.add_in(t, spec))
    }

    fn add_in<P: Afi>(&self, t: &RouteTable<P>, spec: &RouteSpec) -> Result<RouteInfo, RouteError> {
        let mut rib = t.lock();
        let mut changes = Vec::new();
        let info = self.add_locked(t, &mut rib, spec, &mut changes)?;
        let old = self.publish_fib(t, &mut rib, &changes);
        drop(rib);
        self.emit(RouteEvent::Add(info.clone()));
        self.retire_fib(t, old);
        Ok(info)
    }

    /// Validates, resolves and stages one add (RIB lock held; FIB not yet published).
    fn add_locked<P: Afi>(
        &self,
        t: &RouteTable<P>,
        rib: &mut Rib<P>,
        spec: &RouteSpec,
        changes: &mut Vec<(P, Option<u32>)>,
    ) -> Result<RouteInfo, RouteError> {
        let (dst, zone, key) = self.key_of::<P>(&spec.key())?;
        let r = self.resolve(spec)?;
        self.insert(
            t,
            rib,
            key,
            dst,
            zone,
            r,
            spec.metric,
            self.new_id(),
            0,
            changes,
        )
    }

    /// Many `RTM_ADD`s at once (a routing daemon's bulk load): per family one RIB
    /// lock, one FIB republish, one generation bump and one synchronize. Results are in
    /// the order of `specs`, each as [`add`](Self::add) would return it, except that a
    /// gateway is resolved against the table as it was before the batch.
    pub fn add_many(&self, specs: &[RouteSpec]) -> Vec<Result<RouteInfo, RouteError>> {
        let mut out: Vec<Option<Result<RouteInfo, RouteError>>> = vec![None; specs.len()];
        self.add_many_in(&self.v4, Family::Inet, specs, &mut out);
        self.add_many_in(&self.v6, Family::Inet6, specs, &mut out);
        out.into_iter()
            .map(|o| o.unwrap_or(Err(RouteError::NoNextHop)))
            .collect()
    }

    fn add_many_in<P: Afi>(
        &self,
        t: &RouteTable<P>,
        fam: Family,
        specs: &[RouteSpec],
        out: &mut [Option<Result<RouteInfo, RouteError>>],
    ) {
        let mine: Vec<usize> = (0..specs.len())
            .filter(|&i| family_of(&specs[i].dst) == fam)
            .collect();
        if mine.is_empty() {
            return;
        }
        let mut rib = t.lock();
        let mut changes = Vec::new();
        let mut added = Vec::new();
        for i in mine {
            let res = check_user_flags(specs[i].flags).and_then(|()| {
                let spec = RouteSpec {
                    flags: specs[i].flags | RtFlags::STATIC,
                    ..specs[i].clone()
                };
                self.add_locked(t, &mut rib, &spec, &mut changes)
            });
            if let Ok(info) = &res {
                added.push(info.clone());
            }
            out[i] = Some(res);
        }
        if added.is_empty() {
            return;
        }
        let old = self.publish_fib(t, &mut rib, &changes);
        drop(rib);
        for a in added {
            self.emit(RouteEvent::Add(a));
        }
        self.retire_fib(t, old);
    }

    fn new_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Validates a key: family, host flag, zone. Returns (dst, zone, table key).
    fn key_of<P: Afi>(&self, k: &RouteKey) -> Result<(IpNet, Option<ZoneId>, P), RouteError> {
        let dst = if k.host {
            IpNet::new(k.dst.addr(), k.dst.max_prefix_len()).unwrap_or(k.dst)
        } else {
            k.dst.trunc()
        };
        let zone = match dst.network() {
            IpAddr::V6(a) if requires_zone(&a) => {
                let i = k
                    .dev
                    .ok_or(crate::addr::AddrError::ZoneRequired { addr: a })?;
                ZoneId::new(i.get())
            }
            _ => None,
        };
        let key = P::key(dst, zone)?;
        Ok((dst, zone, key))
    }

    /// Inserts a resolved route (RIB lock held). Returns its info and the retired FIB.
    #[allow(clippy::too_many_arguments)]
    fn insert<'d, P: Afi>(
        &'d self,
        t: &'d RouteTable<P>,
        rib: &mut Rib<P>,
        key: P,
        dst: IpNet,
        zone: Option<ZoneId>,
        r: Resolved,
        metric: u32,
        id: u64,
        uses: u64,
        changes: &mut Vec<(P, Option<u32>)>,
    ) -> Result<RouteInfo, RouteError> {
        if rib
            .routes
            .get(&key)
            .is_some_and(|v| v.iter().any(|x| x.metric == metric))
        {
            return Err(RouteError::Exists { dst, metric });
        }
        let idx = match rib.free.last() {
            Some(&i) => i,
            None => rib.next,
        };
        let slot = t.slab.get_or_create(idx).ok_or(RouteError::TableFull {
            max: t.slab.capacity(),
        })?;
        if rib.free.pop().is_none() {
            rib.next += 1;
        }
        let entry = RtEntry::new(
            id,
            dst,
            zone,
            r.gateway,
            r.ifindex,
            r.attach_id,
            r.ifa.clone(),
            r.flags,
            metric,
            r.metrics,
            uses,
        );
        let info = entry.info();
        // Publish the object before the FIB that leads to it.
        let stale = slot.store(entry, &self.domain);
        debug_assert!(stale.is_none(), "slab index reused before it was emptied");
        drop(stale);
        let v = rib.routes.entry(key).or_default();
        let pos = v.partition_point(|x| x.metric < metric);
        v.insert(
            pos,
            RibRoute {
                metric,
                idx,
                id,
                flags: info.flags,
                ifindex: r.ifindex,
                ifa: r.ifa,
            },
        );
        rib.count += 1;
        if pos == 0 {
            changes.push((key, Some(idx)));
        }
        Ok(info)
    }

    /// Publishes the FIB with `changes` (if any) and bumps the generation; the old
    /// version is to be handed to [`retire_fib`](Self::retire_fib) (synchronize) after
    /// the RIB lock is released.
    fn publish_fib<'d, P: Afi>(
        &'d self,
        t: &'d RouteTable<P>,
        rib: &mut Rib<P>,
        changes: &[(P, Option<u32>)],
    ) -> Option<RetiredFib<'d, P>> {
        let old = if changes.is_empty() {
            None
        } else {
            t.fib
                .store(t.next_fib(&self.domain, rib, changes), &self.domain)
        };
        self.invalidate();
        old
    }

    /// Waits for the grace period of a FIB version taken out of service (no reader can
    /// reach it afterwards), then gives it back to the FIB's writer side for reuse.
    /// Takes the RIB lock: call without it (and outside read sections).
    fn retire_fib<P: Afi>(&self, t: &RouteTable<P>, old: Option<RetiredFib<'_, P>>) {
        if let Some(old) = old {
            let v = old.into_inner();
            DefaultFib::<P>::recycle(&mut t.lock().fib, v);
        }
    }

    /// Resolves the output interface, source address and gateway of a request
    /// (`rt_getifp`, `rt_getifa`, `ifa_ifwithroute`, `rt_setgate`).
    fn resolve(&self, spec: &RouteSpec) -> Result<Resolved, RouteError> {
        let fam = family_of(&spec.dst);
        let mut flags = spec.flags;
        if flags.contains(RtFlags::PROHIBIT) {
            flags |= RtFlags::REJECT;
        }
        if spec.dst.prefix_len() == spec.dst.max_prefix_len() {
            flags |= RtFlags::HOST;
        }
        let mut metrics = spec.metrics;
        for (what, a) in [("gateway", spec.gateway), ("source address", spec.src)] {
            if let Some(a) = a
                && family_of_ip(&a) != fam
            {
                return Err(RouteError::WrongFamily {
                    what,
                    got: family_of_ip(&a),
                    want: fam,
                });
            }
        }
        // RTAX_IFP
        let mut ifindex = None;
        let mut attach_id = 0;
        if let Some(d) = spec.dev {
            let ifp = self
                .ifs
                .get_by_index(d)
                .ok_or(RouteError::NoInterface { index: d.get() })?;
            ifindex = Some(d);
            attach_id = ifp.attach_id();
        }
        // RTAX_IFA
        let mut ifa: Option<Arc<IfAddr>> = None;
        if let Some(src) = spec.src {
            let a = self
                .ifs
                .ifa_ifwithaddr(wrap(src, spec.dev)?)
                .filter(|a| spec.dev.is_none_or(|d| a.ifindex() == d))
                .ok_or(RouteError::NoSuchAddress { addr: src })?;
            flags |= RtFlags::SRC;
            ifa = Some(a.counted());
        }
        let gateway = match spec.gateway {
            Some(gw) => {
                flags |= RtFlags::GATEWAY;
                let gwa = wrap(gw, spec.dev)?;
                let zone = match gwa {
                    IfaAddr::V6(s) => s.zone(),
                    IfaAddr::V4(_) => None,
                };
                // The gateway's own route: for the MTU, and to find the interface.
                let gw_route = self.peek(gwa).filter(|r| {
                    !r.flags()
                        .intersects(RtFlags::GATEWAY | RtFlags::REJECT | RtFlags::BLACKHOLE)
                });
                if let Some(g) = &gw_route
                    && g.metrics().mtu != 0
                    && (metrics.mtu == 0 || metrics.mtu > g.metrics().mtu)
                {
                    metrics.mtu = g.metrics().mtu;
                }
                if let Some(d) = spec.dev {
                    if ifa.is_none() {
                        ifa = self.ifs.ifaof_ifpforaddr(gwa, d).map(|a| a.counted());
                    }
                } else {
                    let via_ifa = ifa
                        .clone()
                        .or_else(|| self.ifs.ifa_ifwithdstaddr(gwa).map(|a| a.counted()))
                        .or_else(|| self.ifs.ifa_ifwithnet(gwa).map(|a| a.counted()));
                    let via_route = gw_route.as_ref().and_then(|g| Some((g.ifindex()?, g)));
                    let (i, a) = match (via_ifa, via_route) {
                        (Some(a), _) => (a.ifindex(), Some(a)),
                        (None, Some((i, g))) => (i, g.ifa().cloned()),
                        (None, None) => return Err(RouteError::NetUnreachable { via: Some(gw) }),
                    };
                    let ifp = self
                        .ifs
                        .get_by_index(i)
                        .ok_or(RouteError::NetUnreachable { via: Some(gw) })?;
                    ifindex = Some(i);
                    attach_id = ifp.attach_id();
                    ifa = a;
                }
                Gateway::Addr(gw, zone)
            }
            None => match (spec.dev, &ifa) {
                (Some(d), _) => {
                    if ifa.is_none() {
                        let da = wrap(spec.dst.addr(), spec.dev)?;
                        ifa = self.ifs.ifaof_ifpforaddr(da, d).map(|a| a.counted());
                    }
                    Gateway::Link(d)
                }
                (None, Some(a)) => {
                    let i = a.ifindex();
                    let ifp = self
                        .ifs
                        .get_by_index(i)
                        .ok_or(RouteError::NoInterface { index: i.get() })?;
                    ifindex = Some(i);
                    attach_id = ifp.attach_id();
                    Gateway::Link(i)
                }
                (None, None) if flags.intersects(RtFlags::REJECT | RtFlags::BLACKHOLE) => {
                    Gateway::None
                }
                (None, None) => return Err(RouteError::NoNextHop),
            },
        };
        Ok(Resolved {
            flags,
            gateway,
            ifindex,
            attach_id,
            ifa,
            metrics,
        })
    }

    /// `RTM_GET` (exact match on destination, and metric if given).
    ///
    /// Errors: [`RouteError::NoSuchRoute`], or a bad key.
    pub fn get(&self, key: &RouteKey) -> Result<RouteInfo, RouteError> {
        by_family!(self, family_of(&key.dst), |t| self.get_in(t, key))
    }

    fn get_in<P: Afi>(&self, t: &RouteTable<P>, k: &RouteKey) -> Result<RouteInfo, RouteError> {
        let (dst, _, key) = self.key_of::<P>(k)?;
        let rib = t.lock();
        let r = find(&rib, &key, k.metric).ok_or(RouteError::NoSuchRoute { dst })?;
        let g = self.domain.read();
        t.slab
            .get(r.idx)
            .and_then(|s| s.load(&g))
            .map(|e| e.info())
            .ok_or(RouteError::NoSuchRoute { dst })
    }

    /// `RTM_DELETE` of the route named by `key` (the lowest metric if none is given).
    /// Returns after the entry was unpublished, every reference to it released and it
    /// was freed. Emits [`RouteEvent::Delete`].
    ///
    /// Errors: [`RouteError::NoSuchRoute`] (ESRCH), [`RouteError::LocalRoute`] (local
    /// routes go with their address), or a bad key.
    pub fn delete(&self, key: &RouteKey) -> Result<RouteInfo, RouteError> {
        by_family!(self, family_of(&key.dst), |t| self.delete_in(t, key))
    }

    /// Many `RTM_DELETE`s at once (a routing daemon withdrawing a peer's routes): per
    /// family one RIB lock, one FIB republish, one grace period and one drain, instead
    /// of one each per route. Results are in the order of `keys`, each as
    /// [`delete`](Self::delete) would return it had the keys been deleted one by one in
    /// that order (a key without metric given twice deletes its best two routes; a key
    /// with a metric given twice gets [`RouteError::NoSuchRoute`] the second time).
    /// Returns after every deleted route's references
    /// drained; emits one [`RouteEvent::Delete`] per route.
    pub fn delete_many(&self, keys: &[RouteKey]) -> Vec<Result<RouteInfo, RouteError>> {
        let mut out: Vec<Option<Result<RouteInfo, RouteError>>> = vec![None; keys.len()];
        self.delete_many_in(&self.v4, Family::Inet, keys, &mut out);
        self.delete_many_in(&self.v6, Family::Inet6, keys, &mut out);
        out.into_iter()
            .map(|o| o.unwrap_or(Err(RouteError::NoNextHop)))
            .collect()
    }

    fn delete_many_in<P: Afi>(
        &self,
        t: &RouteTable<P>,
        fam: Family,
        keys: &[RouteKey],
        out: &mut [Option<Result<RouteInfo, RouteError>>],
    ) {
        let mine: Vec<usize> = (0..keys.len())
            .filter(|&i| family_of(&keys[i].dst) == fam)
            .collect();
        if mine.is_empty() {
            return;
        }
        let rib = t.lock();
        // Route id → positions in `keys` (the first one deletes, later ones miss).
        let mut targets: HashMap<u64, usize> = HashMap::new();
        let mut rib_keys = Vec::new();
        for i in mine {
            let res = self.key_of::<P>(&keys[i]).and_then(|(dst, _, key)| {
                // As if the earlier keys of the batch were already deleted: a key without
                // metric names the best route not yet taken, one with a metric its route
                // unless taken.
                let v = rib.routes.get(&key).map_or(&[][..], Vec::as_slice);
                let r = match keys[i].metric {
                    None => v.iter().find(|r| !targets.contains_key(&r.id)),
                    Some(m) => v
                        .iter()
                        .find(|r| r.metric == m)
                        .filter(|r| !targets.contains_key(&r.id)),
                }
                .ok_or(RouteError::NoSuchRoute { dst })?;
                if r.flags.contains(RtFlags::LOCAL) {
                    return Err(RouteError::LocalRoute { dst });
                }
                Ok((r.id, key))
            });
            match res {
                Ok((id, key)) => {
                    targets.insert(id, i);
                    rib_keys.push(key);
                }
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        if targets.is_empty() {
            return;
        }
        rib_keys.sort_unstable();
        rib_keys.dedup();
        let ids: std::collections::HashSet<u64> = targets.keys().copied().collect();
        for info in self.remove_where_keys(t, rib, Some(&rib_keys), |_, r| ids.contains(&r.id)) {
            if let Some(&i) = targets.get(&info.id) {
                out[i] = Some(Ok(info));
            }
        }
    }

    fn delete_in<P: Afi>(&self, t: &RouteTable<P>, k: &RouteKey) -> Result<RouteInfo, RouteError> {
        let (dst, _, key) = self.key_of::<P>(k)?;
        let rib = t.lock();
        let r = find(&rib, &key, k.metric).ok_or(RouteError::NoSuchRoute { dst })?;
        if r.flags.contains(RtFlags::LOCAL) {
            return Err(RouteError::LocalRoute { dst });
        }
        let id = r.id;
        let mut out = self.remove_where_in(t, rib, Some(&key), |kk, rr| *kk == key && rr.id == id);
        out.pop().ok_or(RouteError::NoSuchRoute { dst })
    }

    /// Deletes every route of `t` matching `pred` (only among the routes of key `only`
    /// if given: a single delete must not scan the whole RIB), in the two phases
    /// described in the module docs; consumes the RIB lock. Returns the deleted routes.
    fn remove_where<P: Afi>(
        &self,
        t: &RouteTable<P>,
        rib: MutexGuard<'_, Rib<P>>,
        pred: impl Fn(&P, &RibRoute) -> bool,
    ) -> Vec<RouteInfo> {
        self.remove_where_in(t, rib, None, pred)
    }

    /// [`remove_where`](Self::remove_where) over the routes of key `only` if given (a
    /// single delete looks at one key, not the whole RIB), else over all.
    fn remove_where_in<P: Afi>(
        &self,
        t: &RouteTable<P>,
        rib: MutexGuard<'_, Rib<P>>,
        only: Option<&P>,
        pred: impl Fn(&P, &RibRoute) -> bool,
    ) -> Vec<RouteInfo> {
        self.remove_where_keys(t, rib, only.map(std::slice::from_ref), pred)
    }

    /// [`remove_where_in`](Self::remove_where_in) over the routes of the keys `only`
    /// (sorted, without duplicates) if given, else over all.
    fn remove_where_keys<P: Afi>(
        &self,
        t: &RouteTable<P>,
        mut rib: MutexGuard<'_, Rib<P>>,
        only: Option<&[P]>,
        pred: impl Fn(&P, &RibRoute) -> bool,
    ) -> Vec<RouteInfo> {
        let mut changes = Vec::new();
        let mut gone = Vec::new();
        let mut empty = Vec::new();
        let mut visit = |k: &P, v: &mut Vec<RibRoute>| {
            let best = v[0].idx;
            let before = v.len();
            v.retain(|r| {
                if pred(k, r) {
                    gone.push(r.idx);
                    false
                } else {
                    true
                }
            });
            if v.len() != before {
                match v.first() {
                    None => {
                        changes.push((*k, None));
                        empty.push(*k);
                    }
                    Some(b) if b.idx != best => changes.push((*k, Some(b.idx))),
                    Some(_) => {}
                }
            }
        };
        match only {
            // One B-tree descent per key: a batch spread over the table must not walk it.
            Some(keys) => {
                for k in keys {
                    if let Some(v) = rib.routes.get_mut(k) {
                        visit(k, v);
                    }
                }
            }
            None => {
                for (k, v) in rib.routes.iter_mut() {
                    visit(k, v);
                }
            }
        }
        if gone.is_empty() {
            return Vec::new();
        }
        for k in empty {
            rib.routes.remove(&k);
        }
        rib.count -= gone.len();
        // Test-only deliberate bug (`NETROUTE_MUTATION=early_delete_event`): the
        // `RTM_DELETE` messages go out before the routes are unpublished, so a listener
        // believes a route gone while lookups still return it.
        let early = cfg!(netroute_mutation = "early_delete_event");
        if early {
            let g = self.domain.read();
            let early_infos: Vec<RouteInfo> = gone
                .iter()
                .filter_map(|&i| t.slab.get(i)?.load(&g).map(|e| e.info()))
                .collect();
            drop(g);
            for i in early_infos {
                self.emit(RouteEvent::Delete(i));
            }
        }
        // Phase 1: unpublish from the FIB and invalidate caches.
        let old_fib = self.publish_fib(t, &mut rib, &changes);
        drop(rib);
        // Phase 2: no reader can still reach the entries through an old FIB (the retired
        // version comes back only after its grace period).
        match old_fib {
            Some(f) => self.retire_fib(t, Some(f)),
            None => self.domain.synchronize(),
        }
        // Phase 3: empty the slots, wait for references, free.
        let mut infos = Vec::with_capacity(gone.len());
        let mut batch = Batch::new(&self.domain);
        for &i in &gone {
            if let Some(r) = t.slab.get(i).and_then(|s| s.take(&self.domain)) {
                infos.push(r.get().info());
                batch.push(r);
            }
        }
        batch.finish();
        // Phase 4: the indices may be reused.
        t.lock().free.extend(gone);
        for i in infos.iter().filter(|_| !early) {
            self.emit(RouteEvent::Delete(i.clone()));
        }
        infos
    }

    /// `RTM_CHANGE`: the route with `spec.dst` and `spec.metric` gets the gateway,
    /// interface, source, flags and metrics of `spec` (resolved as for
    /// [`add`](Self::add)) and `new_metric` if given. Readers see the old or the new
    /// route; returns after references to the old object drained. Keeps the route's id
    /// and use count. Emits [`RouteEvent::Change`].
    ///
    /// Errors: those of [`add`](Self::add) ([`RouteError::Exists`] if `new_metric` is
    /// taken), [`RouteError::NoSuchRoute`], [`RouteError::LocalRoute`].
    pub fn change(
        &self,
        spec: &RouteSpec,
        new_metric: Option<u32>,
    ) -> Result<RouteInfo, RouteError> {
        check_user_flags(spec.flags)?;
        by_family!(self, family_of(&spec.dst), |t| self
            .change_in(t, spec, new_metric))
    }

    fn change_in<P: Afi>(
        &self,
        t: &RouteTable<P>,
        spec: &RouteSpec,
        new_metric: Option<u32>,
    ) -> Result<RouteInfo, RouteError> {
        let (dst, _, key) = self.key_of::<P>(&spec.key())?;
        let mut rib = t.lock();
        let cur = find(&rib, &key, Some(spec.metric))
            .ok_or(RouteError::NoSuchRoute { dst })?
            .clone();
        if cur.flags.contains(RtFlags::LOCAL) {
            return Err(RouteError::LocalRoute { dst });
        }
        let metric = new_metric.unwrap_or(spec.metric);
        if metric != spec.metric && find(&rib, &key, Some(metric)).is_some() {
            return Err(RouteError::Exists { dst, metric });
        }
        let r = self.resolve(spec)?;
        let Some(slot) = t.slab.get(cur.idx) else {
            return Err(RouteError::NoSuchRoute { dst });
        };
        let (uses, zone) = {
            let g = self.domain.read();
            slot.load(&g).map_or((0, None), |e| (e.uses(), e.zone()))
        };
        let keep = r.flags & !RtFlags::UP | cur.flags & RtFlags::STATIC;
        let entry = RtEntry::new(
            cur.id,
            dst,
            zone,
            r.gateway,
            r.ifindex,
            r.attach_id,
            r.ifa.clone(),
            keep,
            metric,
            r.metrics,
            uses,
        );
        let info = entry.info();
        let old_entry = slot.store(entry, &self.domain);
        let v = rib
            .routes
            .get_mut(&key)
            .ok_or(RouteError::NoSuchRoute { dst })?;
        let best_before = v[0].idx;
        v.retain(|x| x.id != cur.id);
        let pos = v.partition_point(|x| x.metric < metric);
        v.insert(
            pos,
            RibRoute {
                metric,
                idx: cur.idx,
                id: cur.id,
                flags: info.flags,
                ifindex: r.ifindex,
                ifa: r.ifa,
            },
        );
        let best_after = v[0].idx;
        let changes: &[(P, Option<u32>)] = if best_before != best_after {
            &[(key, Some(best_after))]
        } else {
            &[]
        };
        // Bumps the generation even without a FIB change.
        let old_fib = self.publish_fib(t, &mut rib, changes);
        drop(rib);
        self.emit(RouteEvent::Change(info.clone()));
        // The FIB version first (its grace period), then the old entry's references.
        self.retire_fib(t, old_fib);
        let mut batch = Batch::new(&self.domain);
        batch.extend(old_entry);
        batch.finish();
        Ok(info)
    }

    /// `rt_delete_matched_entries(rt_ifp == ifp)` for both families: deletes every
    /// route through interface `index` (local ones included) and returns how many.
    /// Called by the interface layer's detach.
    pub fn delete_routes_through(&self, index: IfIndex) -> usize {
        let a = self.remove_where(&self.v4, self.v4.lock(), |_, r| r.ifindex == Some(index));
        let b = self.remove_where(&self.v6, self.v6.lock(), |_, r| r.ifindex == Some(index));
        a.len() + b.len()
    }

    /// `rt_ifa_addlocal` + `in_addprefix`: the local host route of a new address and
    /// the connected route of its subnet (a host route to the peer on point-to-point
    /// links). A route that exists already (another address of the subnet) is kept.
    fn addr_added(&self, ifa: &Arc<IfAddr>) {
        let i = ifa.ifindex();
        let zone = match ifa.addr() {
            IfaAddr::V6(s) => s.zone(),
            IfaAddr::V4(_) => None,
        };
        let host = |a: IpAddr| IpNet::new(a, if a.is_ipv4() { 32 } else { 128 }).ok();
        let mut want = Vec::new();
        if let Some(d) = host(ifa.ip()) {
            want.push((d, zone, RtFlags::HOST | RtFlags::LOCAL));
        }
        match ifa.dst() {
            Some(peer) => {
                let pz = match peer {
                    IfaAddr::V6(s) => s.zone(),
                    IfaAddr::V4(_) => None,
                };
                if let Some(d) = host(peer.ip()) {
                    want.push((d, pz, RtFlags::HOST | RtFlags::CONNECTED));
                }
            }
            None => {
                let p = ifa.prefix().trunc();
                if p.prefix_len() < p.max_prefix_len() {
                    want.push((p, zone, RtFlags::CONNECTED));
                }
            }
        }
        let attach_id = self.ifs.get_by_index(i).map_or(0, |f| f.attach_id());
        for (dst, zone, flags) in want {
            let r = Resolved {
                flags,
                gateway: Gateway::Link(i),
                ifindex: Some(i),
                attach_id,
                ifa: Some(Arc::clone(ifa)),
                metrics: RtMetrics::default(),
            };
            let res = by_family!(self, family_of(&dst), |t| self
                .insert_internal(t, dst, zone, r));
            if let Ok(info) = res {
                self.emit(RouteEvent::Add(info));
            }
        }
    }

    fn insert_internal<P: Afi>(
        &self,
        t: &RouteTable<P>,
        dst: IpNet,
        zone: Option<ZoneId>,
        r: Resolved,
    ) -> Result<RouteInfo, RouteError> {
        let key = P::key(dst, zone)?;
        let mut rib = t.lock();
        // Checked under the RIB lock: a detach deactivates the interface (and a removal
        // marks the address) before its hook takes this lock to delete the routes, so
        // either we see it going and add nothing, or the hook runs after us and
        // deletes what we add.
        let ifa = r.ifa.as_ref();
        let live = r.ifindex.is_some_and(|i| {
            self.ifs
                .get_by_index(i)
                .is_some_and(|f| f.attach_id() == r.attach_id)
        });
        if !live || ifa.is_some_and(|a| a.is_removed()) {
            return Err(RouteError::NetUnreachable { via: None });
        }
        let mut changes = Vec::new();
        let info = self.insert(
            t,
            &mut rib,
            key,
            dst,
            zone,
            r,
            0,
            self.new_id(),
            0,
            &mut changes,
        )?;
        let old = self.publish_fib(t, &mut rib, &changes);
        drop(rib);
        self.retire_fib(t, old);
        Ok(info)
    }

    /// `in_scrubaddr` / `in6_purgeaddr`: deletes the local and connected routes owned
    /// by a removed address.
    fn addr_removed(&self, ifa: &Arc<IfAddr>) {
        fn owned(r: &RibRoute, ifa: &Arc<IfAddr>) -> bool {
            r.flags.intersects(RtFlags::LOCAL | RtFlags::CONNECTED)
                && r.ifa.as_ref().is_some_and(|a| Arc::ptr_eq(a, ifa))
        }
        match ifa.family() {
            Family::Inet6 => {
                self.remove_where(&self.v6, self.v6.lock(), |_, r| owned(r, ifa));
            }
            _ => {
                self.remove_where(&self.v4, self.v4.lock(), |_, r| owned(r, ifa));
            }
        }
    }
}

impl<P: Afi> RouteTable<P> {
    /// The next FIB version: the published one (which cannot change: the RIB lock is
    /// held, `rib` is its guard's content) with `changes` applied, by the FIB's writer.
    fn next_fib(
        &self,
        domain: &Domain,
        rib: &mut Rib<P>,
        changes: &[(P, Option<u32>)],
    ) -> DefaultFib<P> {
        let g = domain.read();
        match self.fib.load(&g) {
            Some(f) => DefaultFib::<P>::next(&mut rib.fib, f.get(), changes),
            None => unreachable!("the FIB slot is never empty"),
        }
    }
}

fn find<'r, P: Afi>(rib: &'r Rib<P>, key: &P, metric: Option<u32>) -> Option<&'r RibRoute> {
    let v = rib.routes.get(key)?;
    match metric {
        None => v.first(),
        Some(m) => v.iter().find(|r| r.metric == m),
    }
}

fn check_user_flags(f: RtFlags) -> Result<(), RouteError> {
    if f.contains(RtFlags::LOCAL) {
        return Err(RouteError::BadFlags(
            "local routes are made by adding an address",
        ));
    }
    if (f & (RtFlags::REJECT | RtFlags::BLACKHOLE))
        .bits()
        .count_ones()
        > 1
        || f.contains(RtFlags::PROHIBIT | RtFlags::BLACKHOLE)
    {
        return Err(RouteError::BadFlags(
            "reject, blackhole and prohibit are exclusive",
        ));
    }
    Ok(())
}
