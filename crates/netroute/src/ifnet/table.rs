//! The interface table: `ifnet_list`, `ifindex2ifnet[]`, `if_attach`/`if_detach`, the
//! `if_get*` lookups of sys/net/if.c, and the address lists and hashes
//! (`in_ifaddrhashtbl`, `in_ifaddrhead`, `in6_ifaddrlist`) with the `ifa_ifwith*`
//! lookups.

use super::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use psref::{Batch, Domain, PsRef, ReadGuard, Retired, Shared, Slot};

use crate::addr::{
    Family, IfIndex, IpNet, Ipv4Net, Ipv6Net, LinkAddr, Prefix, ScopeZones, ScopedAddr, UnicastAddr,
};

use super::event::{Announce, Event, EventBus, Subscription};
use super::slots::Slots;
use super::{AddrSpec, Clock, IfAddr, IfAddrRef, IfError, IfFlags, IfaAddr, In6Flags, SystemClock};

/// NetBSD's `IFNAMSIZ` is 16 including the terminating NUL.
pub const IF_NAME_MAX: usize = 15;
/// Smallest MTU accepted (IPv4's minimum datagram a link must carry, RFC 791).
pub const MTU_MIN: u32 = 68;
/// Largest MTU accepted (an IPv4 total length).
pub const MTU_MAX: u32 = 65535;

const ALIVE: u64 = 0x1F0E_A11E_1F0E_A11E;
const DEAD: u64 = 0xDEAD_1F0E_DEAD_1F0E;

/// What to attach: name, flags, MTU, link-layer address (the driver-filled part of
/// `struct ifnet` before `if_attach`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfConfig {
    name: String,
    flags: IfFlags,
    mtu: u32,
    lladdr: Option<LinkAddr>,
}

impl IfConfig {
    /// An interface called `name`, no flags, MTU 1500, no link-layer address.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            flags: IfFlags::empty(),
            mtu: 1500,
            lladdr: None,
        }
    }

    /// Initial flags.
    pub fn flags(mut self, flags: IfFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Initial MTU ([`MTU_MIN`]..=[`MTU_MAX`]).
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = mtu;
        self
    }

    /// Link-layer address (`if_sadl`).
    pub fn lladdr(mut self, lladdr: LinkAddr) -> Self {
        self.lladdr = Some(lladdr);
        self
    }
}

/// An interface (`struct ifnet`).
///
/// Guarantees: name, index, attachment id, link-layer address and scope zones never
/// change while the object lives; flags and MTU are atomics changed in place by the
/// table's writers (so a reader holding a reference sees changes without a new lookup);
/// the object is freed only after every [`PsRef`] to it was released.
pub struct Ifnet {
    name: String,
    index: IfIndex,
    attach_id: u64,
    flags: AtomicU32,
    mtu: AtomicU32,
    lladdr: Option<LinkAddr>,
    zones: ScopeZones,
    deactivated: AtomicBool,
    canary: AtomicU64,
}

impl Ifnet {
    /// The name (`if_xname`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index (`if_index`).
    pub fn index(&self) -> IfIndex {
        self.index
    }

    /// A number unique to this attachment over the table's life (indices are reused,
    /// these never are): what handles compare to notice that "their" interface was
    /// detached and the index given to another.
    pub fn attach_id(&self) -> u64 {
        self.attach_id
    }

    /// Current flags (`if_flags`).
    pub fn flags(&self) -> IfFlags {
        IfFlags::from_bits_retain(self.flags.load(Ordering::Acquire))
    }

    /// Whether `UP` is set.
    pub fn is_up(&self) -> bool {
        self.flags().contains(IfFlags::UP)
    }

    /// Current MTU (`if_mtu`).
    pub fn mtu(&self) -> u32 {
        self.mtu.load(Ordering::Acquire)
    }

    /// The link-layer address (`if_sadl`), if the interface has one.
    pub fn lladdr(&self) -> Option<&LinkAddr> {
        self.lladdr.as_ref()
    }

    /// The IPv6 scope zones of the interface (`ND_IFINFO(ifp)->scope6_id`).
    pub fn zones(&self) -> &ScopeZones {
        &self.zones
    }

    /// False once detach has begun (`if_is_deactivated`): lookups no longer find it.
    pub fn is_active(&self) -> bool {
        !self.deactivated.load(Ordering::Acquire)
    }

    /// True unless the object was dropped: for stress tests; `false` would mean a use
    /// after free in the reference protocol (never expected).
    pub fn is_intact(&self) -> bool {
        self.canary.load(Ordering::Acquire) == ALIVE
    }
}

impl Drop for Ifnet {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::Release);
    }
}

impl std::fmt::Debug for Ifnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ifnet")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("attach_id", &self.attach_id)
            .field("flags", &self.flags())
            .field("mtu", &self.mtu())
            .field("lladdr", &self.lladdr)
            .field("active", &self.is_active())
            .finish()
    }
}

/// The route layer's part of a detach: "delete every route through this interface"
/// (`rt_delete_matched_entries(af, rt_ifp == ifp)` for every family).
///
/// Called by [`IfTable::detach`] after the interface's addresses were purged and before
/// it is unlinked, without any table lock held, so it may look interfaces and addresses
/// up. It must not call the table's writer methods for the same interface. A panic in
/// the hook propagates out of `detach`, leaving the interface deactivated (invisible) and
/// its index unused for good.
pub trait RouteHook: Send + Sync {
    /// Deletes the routes whose interface is `index`.
    fn delete_routes_through(&self, index: IfIndex);

    /// An address was added and is visible to lookups (`in_ifinit` / `in6_update_ifa`
    /// adding the local and connected routes). Called after the table's writer lock
    /// was released; the default does nothing.
    fn addr_added(&self, _ifa: &Arc<IfAddr>) {}

    /// An address was removed by [`IfTable::remove_addr`] or [`IfTable::expire`]
    /// (`in_scrubaddr` / `in6_purgeaddr` deleting its routes). Called after the
    /// address's references were drained and the writer lock released; not called for
    /// the addresses a detach purges (those routes go with
    /// [`delete_routes_through`](Self::delete_routes_through)). The default does nothing.
    fn addr_removed(&self, _ifa: &Arc<IfAddr>) {}
}

impl<F: Fn(IfIndex) + Send + Sync> RouteHook for F {
    fn delete_routes_through(&self, index: IfIndex) {
        self(index)
    }
}

/// Limits of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfTableConfig {
    /// Largest interface index (`if_indexlim - 1`); attach beyond fails with
    /// [`IfError::TableFull`].
    pub max_interfaces: usize,
    /// Most addresses at once, over all interfaces and families.
    pub max_addresses: usize,
}

impl Default for IfTableConfig {
    fn default() -> Self {
        Self {
            max_interfaces: 1024,
            max_addresses: 16384,
        }
    }
}

/// The address hashes and lists, published as one copy-on-write snapshot.
///
/// NetBSD keeps `in_ifaddrhashtbl` (509 buckets of pslists) and separate lists, updated
/// in place under `IFNET_LOCK`. Address changes are rare and the sets small, so the
/// writer here rebuilds a `HashMap` snapshot and republishes it; readers load one pointer.
#[derive(Clone, Default, Debug)]
struct AddrIndex {
    /// Exact address → address ids (the same address may sit on several interfaces).
    by_addr: HashMap<IfaAddr, Vec<u32>>,
    /// IPv4 broadcast address → ids.
    by_bcast: HashMap<Ipv4Addr, Vec<u32>>,
    /// Per-interface lists in insertion order (`if_addrlist`).
    by_if: HashMap<IfIndex, Vec<u32>>,
    /// Global lists in insertion order (`in_ifaddrhead`, `in6_ifaddrlist`).
    v4: Vec<u32>,
    v6: Vec<u32>,
}

fn remove_id(v: &mut Vec<u32>, id: u32) {
    v.retain(|&x| x != id);
}

impl AddrIndex {
    fn insert(&mut self, a: &IfAddr) {
        self.by_addr.entry(a.addr).or_default().push(a.id);
        if let Some(b) = a.broadcast {
            self.by_bcast.entry(b).or_default().push(a.id);
        }
        self.by_if.entry(a.ifindex).or_default().push(a.id);
        match a.addr {
            IfaAddr::V4(_) => self.v4.push(a.id),
            IfaAddr::V6(_) => self.v6.push(a.id),
        }
    }

    fn remove(&mut self, a: &IfAddr) {
        fn rm<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Vec<u32>>, k: &K, id: u32) {
            if let Some(v) = m.get_mut(k) {
                remove_id(v, id);
                if v.is_empty() {
                    m.remove(k);
                }
            }
        }
        rm(&mut self.by_addr, &a.addr, a.id);
        if let Some(b) = a.broadcast {
            rm(&mut self.by_bcast, &b, a.id);
        }
        rm(&mut self.by_if, &a.ifindex, a.id);
        remove_id(&mut self.v4, a.id);
        remove_id(&mut self.v6, a.id);
    }

    fn family(&self, f: Family) -> &[u32] {
        match f {
            Family::Inet => &self.v4,
            Family::Inet6 => &self.v6,
            _ => &[],
        }
    }
}

struct IfMeta {
    name: String,
    detaching: bool,
}

/// Writer-side state, under the writer lock (`IFNET_LOCK` + `IFNET_GLOBAL_LOCK`).
#[derive(Default)]
struct Writer {
    ifs: HashMap<u32, IfMeta>,
    names: HashMap<String, IfIndex>,
    free_if: BTreeSet<u32>,
    next_if: u32,
    next_attach_id: u64,
    /// Every live address, by id: the writer's own (counted) references.
    addrs: HashMap<u32, Arc<IfAddr>>,
    free_addr: Vec<u32>,
    next_addr: u32,
    /// The master copy of the published snapshot.
    index: AddrIndex,
}

impl Writer {
    /// The live address `addr` on interface `index` (writer side).
    fn addr_on(&self, index: IfIndex, addr: IfaAddr) -> Result<&Arc<IfAddr>, IfError> {
        self.index
            .by_addr
            .get(&addr)
            .into_iter()
            .flatten()
            .filter_map(|id| self.addrs.get(id))
            .find(|a| a.ifindex == index)
            .ok_or(IfError::NoSuchAddress {
                addr,
                index: index.get(),
            })
    }
}

/// What [`IfTable::expire`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Addresses removed because their valid lifetime ran out.
    pub removed: Vec<(IfIndex, IfaAddr)>,
    /// Addresses newly flagged `DEPRECATED` because their preferred lifetime ran out.
    pub deprecated: Vec<(IfIndex, IfaAddr)>,
}

/// The interface table (NetBSD's `ifnet_list` + `ifindex2ifnet` + address hashes).
///
/// Guarantees:
/// * lookups never block and never see freed memory: they run inside a read section of
///   the table's [`Domain`] and return passive references ([`PsRef`], [`IfAddrRef`]);
/// * an interface being detached is invisible to new lookups from the moment detach
///   begins, and its memory is freed only after every reference was released;
///   [`detach`](Self::detach) returns only then;
/// * an index is reused only after the previous interface with it was freed (so no
///   reference to the old one can exist); [`Ifnet::attach_id`] is never reused;
/// * writers are serialised by one lock that readers never take; a failed writer call
///   changes nothing.
///
/// Writer methods that remove something ([`detach`](Self::detach),
/// [`remove_addr`](Self::remove_addr), [`expire`](Self::expire)) and those that
/// republish the address index ([`add_addr`](Self::add_addr)) synchronize with readers;
/// calling them inside a read section of the domain, or while the calling thread holds a
/// reference to the object being destroyed, panics (psref's deadlock check).
pub struct IfTable {
    domain: Arc<Domain>,
    /// Indexed by interface index (slot 0 unused).
    ifs: Slots<Ifnet>,
    /// One past the highest index ever attached: bounds reader scans.
    high_water: AtomicUsize,
    addrs: Slots<Arc<IfAddr>>,
    index: Slot<AddrIndex>,
    writer: Mutex<Writer>,
    hook: Mutex<Option<Arc<dyn RouteHook>>>,
    events: EventBus,
    clock: Arc<dyn Clock>,
    max_addresses: usize,
}

impl std::fmt::Debug for IfTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IfTable")
            .field("domain", &self.domain.id())
            .field("ifs", &self.ifs)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl IfTable {
    /// A table in `domain` with default limits and the system clock. The domain is
    /// shared with the routing tables so one read section covers a route and its
    /// interface.
    pub fn new(domain: Arc<Domain>) -> Self {
        Self::with_config(
            domain,
            IfTableConfig::default(),
            Arc::new(SystemClock::new()),
        )
    }

    /// A table with explicit limits and clock (tests inject a
    /// [`FakeClock`](super::FakeClock)).
    pub fn with_config(domain: Arc<Domain>, config: IfTableConfig, clock: Arc<dyn Clock>) -> Self {
        let max_if = config.max_interfaces.min(u32::MAX as usize - 1);
        let max_addr = config.max_addresses.min(u32::MAX as usize);
        let index = Slot::new(AddrIndex::default(), &domain);
        Self {
            ifs: Slots::new(max_if + 1),
            high_water: AtomicUsize::new(1),
            addrs: Slots::new(max_addr),
            index,
            writer: Mutex::new(Writer {
                next_if: 1,
                next_attach_id: 1,
                ..Writer::default()
            }),
            hook: Mutex::new(None),
            events: EventBus::new(),
            clock,
            max_addresses: max_addr,
            domain,
        }
    }

    /// The domain whose read sections protect the table.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// The clock lifetimes are measured against.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Registers the route layer's detach hook (replacing any previous one).
    pub fn set_route_hook(&self, hook: Arc<dyn RouteHook>) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn route_hook(&self) -> Option<Arc<dyn RouteHook>> {
        self.hook.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A new subscriber to interface and address events, with a queue of `capacity`.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        self.events.subscribe(capacity)
    }

    /// A subscriber to the events of `kinds` only (`RO_MSGFILTER`); see
    /// [`EventBus::subscribe_filtered`].
    pub fn subscribe_filtered(&self, capacity: usize, kinds: super::EventKinds) -> Subscription {
        self.events.subscribe_filtered(capacity, kinds)
    }

    /// The event bus (the route layer publishes its events on it too).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---------------------------------------------------------------- readers: ifnet

    /// `if_byindex`: the active interface with index `index`, inside the caller's read
    /// section (no reference taken; valid until the section ends).
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the table's (psref's check).
    #[inline]
    pub fn byindex<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        index: IfIndex,
    ) -> Option<Shared<'g, 'a, Ifnet>> {
        let slot = self.ifs.get(index.get() as usize)?;
        slot.load(guard).filter(|i| i.is_active())
    }

    /// `if_get_byindex`: a passive reference to the active interface `index`; dropping
    /// it is `if_put`.
    pub fn get_by_index(&self, index: IfIndex) -> Option<PsRef<'_, Ifnet>> {
        let g = self.domain.read();
        self.byindex(&g, index).map(Shared::acquire)
    }

    /// `ifunit`: the active interface named `name` inside the caller's read section; an
    /// all-digit name is an index.
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the table's (psref's check).
    pub fn unit<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        name: &str,
    ) -> Option<Shared<'g, 'a, Ifnet>> {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = name.parse().ok()?;
            return self.byindex(guard, IfIndex::new(n)?);
        }
        self.scan(guard, |i| i.name == name)
    }

    /// `if_get`: a passive reference to the active interface named `name`; an all-digit
    /// name is taken as an index (`"3"` is interface 3).
    pub fn get(&self, name: &str) -> Option<PsRef<'_, Ifnet>> {
        let g = self.domain.read();
        self.unit(&g, name).map(Shared::acquire)
    }

    /// `if_get_bylla`: a passive reference to the first active interface whose
    /// link-layer address is `lla`.
    pub fn get_by_lla(&self, lla: &[u8]) -> Option<PsRef<'_, Ifnet>> {
        let g = self.domain.read();
        self.scan(&g, |i| {
            i.lladdr.as_ref().is_some_and(|l| l.as_bytes() == lla)
        })
        .map(Shared::acquire)
    }

    fn scan<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        pred: impl Fn(&Ifnet) -> bool,
    ) -> Option<Shared<'g, 'a, Ifnet>> {
        let hw = self.high_water.load(Ordering::Acquire);
        (1..hw)
            .filter_map(|i| self.ifs.get(i)?.load(guard))
            .find(|s| s.is_active() && pred(s))
    }

    /// Indices of the active interfaces, ascending (a snapshot).
    pub fn indices(&self) -> Vec<IfIndex> {
        let g = self.domain.read();
        let hw = self.high_water.load(Ordering::Acquire);
        (1..hw)
            .filter_map(|i| self.ifs.get(i)?.load(&g))
            .filter(|s| s.is_active())
            .map(|s| s.index)
            .collect()
    }

    // ---------------------------------------------------------------- writers: ifnet

    /// `if_attach`: adds an interface and returns its index (the lowest free one).
    ///
    /// Errors: [`IfError::NameTooLong`], [`IfError::InvalidName`],
    /// [`IfError::DuplicateName`] (also while an interface of that name is still
    /// detaching), [`IfError::BadMtu`], [`IfError::TableFull`]. Emits
    /// `IfAnnounce(Arrival)`.
    pub fn attach(&self, cfg: IfConfig) -> Result<IfIndex, IfError> {
        check_name(&cfg.name)?;
        check_mtu(cfg.mtu)?;
        let mut w = self.lock();
        if w.names.contains_key(&cfg.name) {
            return Err(IfError::DuplicateName { name: cfg.name });
        }
        let n = match w.free_if.first() {
            Some(&n) => n,
            None => w.next_if,
        };
        let full = IfError::TableFull {
            what: "interfaces",
            max: self.ifs.capacity() - 1,
        };
        let (Some(index), Some(slot)) = (IfIndex::new(n), self.ifs.get_or_create(n as usize))
        else {
            return Err(full);
        };
        if !w.free_if.remove(&n) {
            w.next_if += 1;
        }
        let attach_id = w.next_attach_id;
        w.next_attach_id += 1;
        let zones = ScopeZones::new(index).with_loopback(cfg.flags.contains(IfFlags::LOOPBACK));
        let ifp = Ifnet {
            name: cfg.name.clone(),
            index,
            attach_id,
            flags: AtomicU32::new(cfg.flags.bits()),
            mtu: AtomicU32::new(cfg.mtu),
            lladdr: cfg.lladdr,
            zones,
            deactivated: AtomicBool::new(false),
            canary: AtomicU64::new(ALIVE),
        };
        let stale = slot.store(ifp, &self.domain);
        debug_assert!(stale.is_none(), "index reused before its slot was emptied");
        self.high_water.fetch_max(n as usize + 1, Ordering::AcqRel);
        w.names.insert(cfg.name.clone(), index);
        w.ifs.insert(
            n,
            IfMeta {
                name: cfg.name.clone(),
                detaching: false,
            },
        );
        self.events.publish(Event::IfAnnounce {
            index,
            name: cfg.name,
            what: Announce::Arrival,
        });
        drop(w);
        drop(stale);
        Ok(index)
    }

    /// Changes flags: sets `set`, then clears `clear` (`if_up`/`if_down`/`SIOCSIFFLAGS`).
    /// Emits `IfInfo` if anything changed. Returns the new flags.
    ///
    /// Errors: [`IfError::NoSuchIndex`] (also while detaching).
    pub fn set_flags(
        &self,
        index: IfIndex,
        set: IfFlags,
        clear: IfFlags,
    ) -> Result<IfFlags, IfError> {
        let w = self.lock();
        let g = self.domain.read();
        let ifp = self.active_meta(&w, &g, index)?;
        let old = ifp
            .flags
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                Some((f | set.bits()) & !clear.bits())
            })
            .unwrap_or_else(|f| f);
        let new = (old | set.bits()) & !clear.bits();
        if new != old {
            self.events.publish(Event::IfInfo {
                index,
                flags: IfFlags::from_bits_retain(new),
                mtu: ifp.mtu(),
            });
        }
        Ok(IfFlags::from_bits_retain(new))
    }

    /// Sets the MTU (`SIOCSIFMTU`); emits `IfInfo` if it changed.
    ///
    /// Errors: [`IfError::BadMtu`], [`IfError::NoSuchIndex`].
    pub fn set_mtu(&self, index: IfIndex, mtu: u32) -> Result<(), IfError> {
        check_mtu(mtu)?;
        let w = self.lock();
        let g = self.domain.read();
        let ifp = self.active_meta(&w, &g, index)?;
        if ifp.mtu.swap(mtu, Ordering::AcqRel) != mtu {
            self.events.publish(Event::IfInfo {
                index,
                flags: ifp.flags(),
                mtu,
            });
        }
        Ok(())
    }

    fn active_meta<'a, 'g>(
        &'a self,
        w: &Writer,
        g: &'g ReadGuard<'a>,
        index: IfIndex,
    ) -> Result<Shared<'g, 'a, Ifnet>, IfError> {
        let nosuch = IfError::NoSuchIndex { index: index.get() };
        match w.ifs.get(&index.get()) {
            Some(m) if !m.detaching => {}
            _ => return Err(nosuch),
        }
        self.byindex(g, index).ok_or(nosuch)
    }

    /// `if_detach`, in NetBSD's order, while other threads keep looking up:
    ///
    /// 1. deactivate (lookups stop finding it) and clear `UP`/`RUNNING`;
    /// 2. purge its addresses (they stop being found at once; the call waits for their
    ///    references, emitting `DelAddr` for each);
    /// 3. call the [`RouteHook`] ("delete routes through it");
    /// 4. unlink it from the index array;
    /// 5. synchronize and destroy its psref target, waiting for every reference;
    /// 6. free it, make the index reusable, emit `IfAnnounce(Departure)`.
    ///
    /// Returns only after the interface was freed. Must not be called from inside a read
    /// section of the domain or while this thread holds a reference to the interface or
    /// one of its addresses (psref panics rather than deadlock).
    ///
    /// Errors: [`IfError::NoSuchIndex`] if no such interface is attached or it is
    /// already being detached (by another thread).
    pub fn detach(&self, index: IfIndex) -> Result<(), IfError> {
        // 1. Deactivate, and unpublish the addresses in the same critical section.
        let mut batch = Batch::new(&self.domain);
        let mut purged = Vec::new();
        let mut w = self.lock();
        {
            let g = self.domain.read();
            let ifp = self.active_meta(&w, &g, index)?;
            ifp.deactivated.store(true, Ordering::Release);
            let old = ifp
                .flags
                .fetch_and(!(IfFlags::UP | IfFlags::RUNNING).bits(), Ordering::AcqRel);
            let new = old & !(IfFlags::UP | IfFlags::RUNNING).bits();
            if new != old {
                self.events.publish(Event::IfInfo {
                    index,
                    flags: IfFlags::from_bits_retain(new),
                    mtu: ifp.mtu(),
                });
            }
        }
        if let Some(m) = w.ifs.get_mut(&index.get()) {
            m.detaching = true;
        }
        // 2. Purge addresses.
        let ids = w.index.by_if.get(&index).cloned().unwrap_or_default();
        for id in ids {
            if let Some(r) = self.unlink_addr(&mut w, id) {
                purged.push(id);
                batch.push(r);
            }
        }
        if !purged.is_empty() {
            self.publish_index(&w, &mut batch);
        }
        drop(w);
        batch.finish();
        self.free_addr_ids(&purged);
        // 3. Routes through it.
        if let Some(h) = self.route_hook() {
            h.delete_routes_through(index);
        }
        // 4. Unlink.
        let mut w = self.lock();
        let retired = self
            .ifs
            .get(index.get() as usize)
            .and_then(|s| s.take(&self.domain));
        let name = w
            .ifs
            .remove(&index.get())
            .map(|m| m.name)
            .unwrap_or_default();
        w.names.remove(&name);
        drop(w);
        // 5. Synchronize, wait for references, free.
        drop(retired);
        // 6. The index may be reused now.
        self.lock().free_if.insert(index.get());
        self.events.publish(Event::IfAnnounce {
            index,
            name,
            what: Announce::Departure,
        });
        Ok(())
    }

    // ---------------------------------------------------------------- readers: addresses

    fn addr_index<'a, 'g>(&'a self, g: &'g ReadGuard<'a>) -> Option<&'g AddrIndex> {
        self.index.load(g).map(|s| s.get())
    }

    fn load_addr<'a, 'g>(
        &'a self,
        g: &'g ReadGuard<'a>,
        id: u32,
    ) -> Option<Shared<'g, 'a, Arc<IfAddr>>> {
        self.addrs
            .get(id as usize)?
            .load(g)
            .filter(|a| !a.is_removed())
    }

    fn find_addr<'a>(
        &'a self,
        pick: impl for<'g> FnOnce(
            &'g ReadGuard<'a>,
            &'g AddrIndex,
        ) -> Option<Shared<'g, 'a, Arc<IfAddr>>>,
    ) -> Option<IfAddrRef<'a>> {
        let g = self.domain.read();
        let idx = self.addr_index(&g)?;
        pick(&g, idx).map(|s| IfAddrRef(s.acquire()))
    }

    /// `ifa_ifwithaddr`: the address `addr` on any interface, or, for IPv4, the address
    /// whose broadcast address is `addr` (on `BROADCAST` interfaces).
    pub fn ifa_ifwithaddr(&self, addr: impl Into<IfaAddr>) -> Option<IfAddrRef<'_>> {
        let addr = addr.into();
        self.find_addr(|g, idx| {
            let exact = idx.by_addr.get(&addr).into_iter().flatten();
            let bcast = match addr {
                IfaAddr::V4(a) => idx.by_bcast.get(&a),
                IfaAddr::V6(_) => None,
            };
            exact
                .chain(bcast.into_iter().flatten())
                .find_map(|&id| self.load_addr(g, id))
        })
    }

    /// `ifa_ifwithdstaddr`: the address whose point-to-point peer is `addr`.
    pub fn ifa_ifwithdstaddr(&self, addr: impl Into<IfaAddr>) -> Option<IfAddrRef<'_>> {
        let addr = addr.into();
        self.find_addr(|g, idx| {
            idx.family(addr.family())
                .iter()
                .filter_map(|&id| self.load_addr(g, id))
                .find(|a| a.dst == Some(addr))
        })
    }

    /// `ifa_ifwithnet`: the address of a point-to-point link whose peer is `addr`, else
    /// the address whose subnet contains `addr` with the longest prefix (first added on
    /// ties). An IPv6 address with a zone matches only addresses of that zone.
    pub fn ifa_ifwithnet(&self, addr: impl Into<IfaAddr>) -> Option<IfAddrRef<'_>> {
        let addr = addr.into();
        self.find_addr(|g, idx| {
            let mut best: Option<Shared<'_, '_, Arc<IfAddr>>> = None;
            for &id in idx.family(addr.family()) {
                let Some(a) = self.load_addr(g, id) else {
                    continue;
                };
                if a.dst == Some(addr) {
                    return Some(a);
                }
                if subnet_contains(&a, &addr)
                    && best.is_none_or(|b| a.prefix_len() > b.prefix_len())
                {
                    best = Some(a);
                }
            }
            best
        })
    }

    /// `ifaof_ifpforaddr`: the address of interface `index` best suited to talk to
    /// `addr`: an exact match, else the peer of a point-to-point address, else the
    /// longest subnet containing `addr`, else the first address of the family.
    pub fn ifaof_ifpforaddr(
        &self,
        addr: impl Into<IfaAddr>,
        index: IfIndex,
    ) -> Option<IfAddrRef<'_>> {
        let addr = addr.into();
        self.find_addr(|g, idx| {
            let mut first = None;
            let mut best: Option<Shared<'_, '_, Arc<IfAddr>>> = None;
            for &id in idx.by_if.get(&index)? {
                let Some(a) = self.load_addr(g, id) else {
                    continue;
                };
                if a.family() != addr.family() {
                    continue;
                }
                if a.addr == addr || a.dst == Some(addr) {
                    return Some(a);
                }
                first = first.or(Some(a));
                if subnet_contains(&a, &addr)
                    && best.is_none_or(|b| a.prefix_len() > b.prefix_len())
                {
                    best = Some(a);
                }
            }
            best.or(first)
        })
    }

    /// `in6ifa_ifpwithaddr` / `in_get_ia_on_iface`: the address `addr` on interface
    /// `index`.
    pub fn addr_on(&self, index: IfIndex, addr: impl Into<IfaAddr>) -> Option<IfAddrRef<'_>> {
        let addr = addr.into();
        self.find_addr(|g, idx| {
            idx.by_addr
                .get(&addr)?
                .iter()
                .filter_map(|&id| self.load_addr(g, id))
                .find(|a| a.ifindex == index)
        })
    }

    /// `in6ifa_ifpforlinklocal`: the first IPv6 link-local address of interface `index`
    /// that has none of the `ignore` flags (callers pass `TENTATIVE | DUPLICATED` to get a
    /// usable one).
    pub fn link_local_of(&self, index: IfIndex, ignore: In6Flags) -> Option<IfAddrRef<'_>> {
        self.find_addr(|g, idx| {
            idx.by_if
                .get(&index)?
                .iter()
                .filter_map(|&id| self.load_addr(g, id))
                .find(|a| {
                    matches!(a.addr, IfaAddr::V6(s) if s.addr().is_unicast_link_local())
                        && !a.flags6().intersects(ignore)
                })
        })
    }

    /// `in_localaddr` / `in6_localaddr`: whether `addr` is on a directly attached subnet
    /// (IPv6 loopback and link-local addresses always are, as in NetBSD).
    pub fn is_local_subnet(&self, addr: impl Into<IfaAddr>) -> bool {
        let addr = addr.into();
        if let IfaAddr::V6(s) = addr
            && (s.addr().is_loopback() || s.addr().is_unicast_link_local())
        {
            return true;
        }
        let g = self.domain.read();
        let Some(idx) = self.addr_index(&g) else {
            return false;
        };
        idx.family(addr.family())
            .iter()
            .filter_map(|&id| self.load_addr(&g, id))
            .any(|a| subnet_contains(&a, &addr))
    }

    /// `in_get_ia_from_ifp` and friends: the first address of `family` on `index`.
    pub fn first_addr(&self, index: IfIndex, family: Family) -> Option<IfAddrRef<'_>> {
        self.find_addr(|g, idx| {
            idx.by_if
                .get(&index)?
                .iter()
                .filter_map(|&id| self.load_addr(g, id))
                .find(|a| a.family() == family)
        })
    }

    /// `IN_ADDRLIST_READER_FOREACH` / `IN6_ADDRLIST_READER_FOREACH`: every address of
    /// `family` (all interfaces, insertion order) inside the caller's read section, for
    /// walks such as source address selection. Turn one into a reference with
    /// [`Shared::acquire`] and [`IfAddrRef::from`].
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the table's (psref's check).
    pub fn addrs_in<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        family: Family,
    ) -> impl Iterator<Item = Shared<'g, 'a, Arc<IfAddr>>> {
        let ids: &'g [u32] = self.addr_index(guard).map_or(&[], |i| i.family(family));
        ids.iter().filter_map(move |&id| self.load_addr(guard, id))
    }

    /// `IFADDR_READER_FOREACH(ifa, ifp)`: the addresses of interface `index` (of
    /// `family`, or all), in insertion order, inside the caller's read section.
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the table's (psref's check).
    pub fn addrs_of_in<'a, 'g>(
        &'a self,
        guard: &'g ReadGuard<'a>,
        index: IfIndex,
        family: Option<Family>,
    ) -> impl Iterator<Item = Shared<'g, 'a, Arc<IfAddr>>> {
        let ids: &'g [u32] = self
            .addr_index(guard)
            .and_then(|i| i.by_if.get(&index))
            .map_or(&[], |v| v.as_slice());
        ids.iter()
            .filter_map(move |&id| self.load_addr(guard, id))
            .filter(move |a| family.is_none_or(|f| a.family() == f))
    }

    /// The addresses of interface `index` (of `family`, or all), in insertion order, as
    /// passive references (`IFADDR_READER_FOREACH` + `ifa_acquire`).
    pub fn addrs_of(&self, index: IfIndex, family: Option<Family>) -> Vec<IfAddrRef<'_>> {
        let g = self.domain.read();
        let Some(idx) = self.addr_index(&g) else {
            return Vec::new();
        };
        idx.by_if
            .get(&index)
            .into_iter()
            .flatten()
            .filter_map(|&id| self.load_addr(&g, id))
            .filter(|a| family.is_none_or(|f| a.family() == f))
            .map(|s| IfAddrRef(s.acquire()))
            .collect()
    }

    /// Number of addresses configured (all interfaces, both families).
    pub fn addr_count(&self) -> usize {
        self.lock().addrs.len()
    }

    // ---------------------------------------------------------------- writers: addresses

    /// `in_control(SIOCAIFADDR)` / `in6_update_ifa`: adds an address to interface
    /// `index` and returns its key (IPv6 addresses get the interface's zone).
    ///
    /// Errors, each leaving everything unchanged: [`IfError::NoSuchIndex`] (missing or
    /// detaching interface); [`IfError::Addr`] for a prefix length beyond the family's
    /// width, an unspecified/multicast address, a zone that is not the interface's
    /// (`ZoneMismatch`) or `::1` off a loopback interface; [`IfError::BadCompanion`] for
    /// a destination of another family or on a non-`POINTOPOINT` interface, a broadcast
    /// address on IPv6 or a non-`BROADCAST` interface; [`IfError::Ipv6Only`] for IPv6
    /// flags or finite lifetimes on an IPv4 address; [`IfError::BadLifetime`];
    /// [`IfError::AddressExists`] if the interface already has it;
    /// [`IfError::TableFull`]. Emits `NewAddr`.
    pub fn add_addr(&self, index: IfIndex, spec: AddrSpec) -> Result<IfaAddr, IfError> {
        let mut w = self.lock();
        let (flags, zones, attach_id) = {
            let g = self.domain.read();
            let ifp = self.active_meta(&w, &g, index)?;
            (ifp.flags(), ifp.zones.clone(), ifp.attach_id)
        };
        let now = self.clock.now();
        let checked = check_spec(&spec, flags, &zones)?;
        if w.index
            .by_addr
            .get(&checked.addr)
            .into_iter()
            .flatten()
            .any(|id| w.addrs.get(id).is_some_and(|a| a.ifindex == index))
        {
            return Err(IfError::AddressExists {
                addr: checked.addr,
                index: index.get(),
            });
        }
        let id = match w.free_addr.last() {
            Some(&id) => id,
            None => w.next_addr,
        };
        let full = IfError::TableFull {
            what: "addresses",
            max: self.max_addresses,
        };
        let Some(slot) = self.addrs.get_or_create(id as usize) else {
            return Err(full);
        };
        if w.free_addr.pop().is_none() {
            w.next_addr += 1;
        }
        let a = Arc::new(IfAddr::new(
            id,
            checked.addr,
            checked.prefix,
            checked.dst,
            checked.broadcast,
            index,
            attach_id,
            spec.flags6,
            spec.lifetime,
            spec.routers.clone().into_boxed_slice(),
            now,
        ));
        // Publish the object first, then the index that leads to it.
        let stale = slot.store(Arc::clone(&a), &self.domain);
        debug_assert!(stale.is_none(), "address slot reused before it was emptied");
        w.index.insert(&a);
        w.addrs.insert(id, Arc::clone(&a));
        let mut batch = Batch::new(&self.domain);
        self.publish_index(&w, &mut batch);
        self.events.publish(Event::NewAddr {
            index,
            addr: a.addr,
            prefix_len: a.prefix_len(),
        });
        drop(w);
        batch.extend(stale);
        batch.finish();
        if let Some(h) = self.route_hook() {
            h.addr_added(&a);
        }
        Ok(a.addr)
    }

    /// `in_purgeaddr` / `in6_purgeaddr`: removes `addr` from interface `index` and
    /// returns once no passive reference to it remains (counted references may keep the
    /// object, flagged [removed](IfAddr::is_removed)). Emits `DelAddr`.
    ///
    /// Errors: [`IfError::NoSuchAddress`] (also for a missing interface); nothing changes.
    /// Must not be called inside a read section or while holding a reference to it.
    pub fn remove_addr(&self, index: IfIndex, addr: impl Into<IfaAddr>) -> Result<(), IfError> {
        let addr = addr.into();
        let mut w = self.lock();
        let id = w
            .index
            .by_addr
            .get(&addr)
            .into_iter()
            .flatten()
            .copied()
            .find(|id| w.addrs.get(id).is_some_and(|a| a.ifindex == index))
            .ok_or(IfError::NoSuchAddress {
                addr,
                index: index.get(),
            })?;
        let mut batch = Batch::new(&self.domain);
        let removed = w.addrs.get(&id).cloned();
        if let Some(r) = self.unlink_addr(&mut w, id) {
            batch.push(r);
        }
        self.publish_index(&w, &mut batch);
        drop(w);
        batch.finish();
        self.free_addr_ids(&[id]);
        if let (Some(h), Some(a)) = (self.route_hook(), removed) {
            h.addr_removed(&a);
        }
        Ok(())
    }

    /// Sets and clears IPv6 address flags in place (DAD completion clears `TENTATIVE`,
    /// a duplicate sets `DUPLICATED`, ...). Returns the new flags; emits `ChgAddr` if
    /// they changed.
    ///
    /// Errors: [`IfError::NoSuchAddress`]; [`IfError::Ipv6Only`] for an IPv4 address.
    pub fn set_addr_flags(
        &self,
        index: IfIndex,
        addr: impl Into<IfaAddr>,
        set: In6Flags,
        clear: In6Flags,
    ) -> Result<In6Flags, IfError> {
        let addr = addr.into();
        let w = self.lock();
        let a = w.addr_on(index, addr)?;
        if a.family() != Family::Inet6 {
            return Err(IfError::Ipv6Only {
                addr: a.ip(),
                what: "IPv6 flags",
            });
        }
        Ok(self.change_flags6(a, set, clear))
    }

    /// Restarts the lifetimes of `addr` on `index` from now (`in6_update_ifa` on an
    /// existing address, as a router advertisement refreshing its prefix does); clears
    /// `DEPRECATED` if the new preferred lifetime is not zero.
    ///
    /// Errors: [`IfError::NoSuchAddress`]; [`IfError::BadLifetime`]; [`IfError::Ipv6Only`]
    /// for finite lifetimes on an IPv4 address. Nothing changes on error.
    pub fn set_lifetime(
        &self,
        index: IfIndex,
        addr: impl Into<IfaAddr>,
        lifetime: super::Lifetime,
    ) -> Result<(), IfError> {
        let addr = addr.into();
        if !lifetime.is_consistent() {
            return Err(IfError::BadLifetime);
        }
        let w = self.lock();
        let a = w.addr_on(index, addr)?;
        if a.family() == Family::Inet && lifetime != super::Lifetime::INFINITE {
            return Err(IfError::Ipv6Only {
                addr: a.ip(),
                what: "finite lifetimes",
            });
        }
        a.set_lifetime(lifetime, self.clock.now());
        if lifetime.preferred != Some(std::time::Duration::ZERO) {
            self.change_flags6(a, In6Flags::empty(), In6Flags::DEPRECATED);
        }
        Ok(())
    }

    /// The lifetime pass of `nd6_timer`: removes every address whose valid lifetime has
    /// run out (waiting for their references, emitting `DelAddr`) and flags `DEPRECATED`
    /// those whose preferred lifetime has (emitting `ChgAddr`).
    pub fn expire(&self) -> ExpireReport {
        let now = self.clock.now();
        let mut report = ExpireReport::default();
        let mut batch = Batch::new(&self.domain);
        let mut ids = Vec::new();
        let mut gone = Vec::new();
        let mut w = self.lock();
        let all: Vec<Arc<IfAddr>> = w.addrs.values().cloned().collect();
        for a in all {
            if a.is_expired(now) {
                if let Some(r) = self.unlink_addr(&mut w, a.id) {
                    batch.push(r);
                    ids.push(a.id);
                    gone.push(Arc::clone(&a));
                    report.removed.push((a.ifindex, a.addr));
                }
            } else if a.preferred_remaining(now) == Some(std::time::Duration::ZERO)
                && !a.flags6().contains(In6Flags::DEPRECATED)
            {
                self.change_flags6(&a, In6Flags::DEPRECATED, In6Flags::empty());
                report.deprecated.push((a.ifindex, a.addr));
            }
        }
        if !ids.is_empty() {
            self.publish_index(&w, &mut batch);
        }
        drop(w);
        batch.finish();
        self.free_addr_ids(&ids);
        if let Some(h) = self.route_hook() {
            for a in &gone {
                h.addr_removed(a);
            }
        }
        report.removed.sort();
        report.deprecated.sort();
        report
    }

    /// Changes an address's IPv6 flags (writer lock held) and emits `ChgAddr` if they
    /// changed.
    fn change_flags6(&self, a: &IfAddr, set: In6Flags, clear: In6Flags) -> In6Flags {
        let (old, new) = a.update_flags6(set, clear);
        if old != new {
            self.events.publish(Event::ChgAddr {
                index: a.ifindex,
                addr: a.addr,
                flags: new,
            });
        }
        new
    }

    /// Marks address `id` removed, drops it from the master index and empties its slot.
    /// The caller republishes the index and drains the returned object.
    fn unlink_addr<'d>(&'d self, w: &mut Writer, id: u32) -> Option<Retired<'d, Arc<IfAddr>>> {
        let a = w.addrs.remove(&id)?;
        a.removed.store(true, Ordering::Release);
        w.index.remove(&a);
        self.events.publish(Event::DelAddr {
            index: a.ifindex,
            addr: a.addr,
            prefix_len: a.prefix_len(),
        });
        self.addrs.get(id as usize)?.take(&self.domain)
    }

    fn publish_index<'d>(&'d self, w: &Writer, batch: &mut Batch<'d>) {
        if let Some(old) = self.index.store(w.index.clone(), &self.domain) {
            batch.push(old);
        }
    }

    fn free_addr_ids(&self, ids: &[u32]) {
        if !ids.is_empty() {
            self.lock().free_addr.extend_from_slice(ids);
        }
    }
}

fn subnet_contains(a: &IfAddr, addr: &IfaAddr) -> bool {
    match (a.prefix, addr) {
        (IpNet::V4(n), IfaAddr::V4(x)) => n.contains_addr(*x),
        (IpNet::V6(n), IfaAddr::V6(x)) => {
            let zone_ok = match (a.addr, x.zone()) {
                (IfaAddr::V6(mine), Some(z)) => mine.zone() == Some(z),
                _ => true,
            };
            zone_ok && n.contains_addr(x.addr())
        }
        _ => false,
    }
}

fn check_name(name: &str) -> Result<(), IfError> {
    if name.len() > IF_NAME_MAX {
        return Err(IfError::NameTooLong {
            name: name.to_owned(),
            max: IF_NAME_MAX,
        });
    }
    let ok = !name.is_empty()
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'%' && b != b'/');
    if ok {
        Ok(())
    } else {
        Err(IfError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn check_mtu(mtu: u32) -> Result<(), IfError> {
    if (MTU_MIN..=MTU_MAX).contains(&mtu) {
        Ok(())
    } else {
        Err(IfError::BadMtu {
            mtu,
            min: MTU_MIN,
            max: MTU_MAX,
        })
    }
}

struct Checked {
    addr: IfaAddr,
    prefix: IpNet,
    dst: Option<IfaAddr>,
    broadcast: Option<Ipv4Addr>,
}

fn check_spec(spec: &AddrSpec, flags: IfFlags, zones: &ScopeZones) -> Result<Checked, IfError> {
    UnicastAddr::new(spec.addr)?;
    if !spec.lifetime.is_consistent() {
        return Err(IfError::BadLifetime);
    }
    let family = match spec.addr {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
    };
    let companion = |what, got: IpAddr| IfError::BadCompanion { what, got, family };
    if let Some(d) = spec.dst
        && (!flags.contains(IfFlags::POINTOPOINT) || d.is_ipv4() != spec.addr.is_ipv4())
    {
        return Err(companion("destination", d));
    }
    if let Some(b) = spec.broadcast
        && (!flags.contains(IfFlags::BROADCAST) || spec.addr.is_ipv6())
    {
        return Err(companion("broadcast", IpAddr::V4(b)));
    }
    let scope6 = |a: std::net::Ipv6Addr, zone| -> Result<ScopedAddr, IfError> {
        let s = match zone {
            None => ScopedAddr::on_interface(a, zones)?,
            Some(z) => {
                let s = ScopedAddr::new(a, Some(z))?;
                s.check_interface(zones)?;
                s
            }
        };
        Ok(s)
    };
    match spec.addr {
        IpAddr::V4(a) => {
            if !spec.flags6.is_empty() {
                return Err(IfError::Ipv6Only {
                    addr: spec.addr,
                    what: "IPv6 flags",
                });
            }
            if spec.lifetime != super::Lifetime::INFINITE {
                return Err(IfError::Ipv6Only {
                    addr: spec.addr,
                    what: "finite lifetimes",
                });
            }
            if !spec.routers.is_empty() {
                return Err(IfError::Ipv6Only {
                    addr: spec.addr,
                    what: "advertising routers",
                });
            }
            let prefix = Ipv4Net::new_truncating(a, spec.prefix_len)?;
            let broadcast = spec.broadcast.or_else(|| {
                (flags.contains(IfFlags::BROADCAST) && spec.prefix_len < 31)
                    .then(|| prefix.broadcast())
            });
            let dst = match spec.dst {
                Some(IpAddr::V4(d)) => Some(IfaAddr::V4(d)),
                _ => None,
            };
            Ok(Checked {
                addr: IfaAddr::V4(a),
                prefix: IpNet::V4(prefix),
                dst,
                broadcast,
            })
        }
        IpAddr::V6(a) => {
            let prefix = Ipv6Net::new_truncating(a, spec.prefix_len)?;
            let addr = scope6(a, spec.zone)?;
            if let Some(&router) = spec.routers.iter().find(|r| !r.is_unicast_link_local()) {
                return Err(IfError::BadRouter { router });
            }
            let dst = match spec.dst {
                Some(IpAddr::V6(d)) => Some(IfaAddr::V6(scope6(d, None)?)),
                _ => None,
            };
            Ok(Checked {
                addr: IfaAddr::V6(addr),
                prefix: IpNet::V6(prefix),
                dst,
                broadcast: None,
            })
        }
    }
}
