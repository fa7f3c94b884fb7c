//! Vestigial TIME_WAIT (VTW) with MSL truncation (MSLT): NetBSD's `sys/netinet/tcp_vtw.[ch]`
//! and the MSLT parts of `tcp_subr.c`/`tcp_input.c`, rebuilt compact and keyed.
//!
//! A TCP connection that reaches TIME_WAIT with no socket left is replaced by a small
//! fixed-size record, kept until 2×MSL of its class has passed, so its 4-tuple stays
//! protected while the full control block is freed. Map to NetBSD:
//!
//! | here | NetBSD |
//! |---|---|
//! | [`VtwTable`] (one per family) | `vtw_ctl_t vtw_tcpv4[]/vtw_tcpv6[]` + `fatp_ctl_t fat_tcpv4/6` |
//! | arena slot (`table::Slot`, 24 B v4 / 36 B v6) | `vtw_v4_t` (64 B) / `vtw_v6_t` (88 B) |
//! | `index::TagIndex`, 64-byte buckets of tags | fat pointers `fatp_t`, `fatp_vtw_inshash`, `vtw_lookup_hash_v4` |
//! | one FIFO ring per [`MslClass`] | per-class clock hand `alloc`/`oldest`, `vtw_alloc`, `vtw_age` |
//! | [`VtwTable::insert`] / [`VtwTable::remove`] / [`VtwTable::expire`] | `vtw_add` / `vtw_del` / `vtw_age` from `vtw_tick` |
//! | [`VtwTable::lookup`], [`VtwTable::contains`] | `tcp_lookup_v4/v6` hooks of `in_pcblookup_connect` |
//! | [`VtwTable::for_each_port_user`] | `init_ports4/next_port4` hooks of `in_pcblookup_port` |
//! | [`segment::decide`], [`VtwTable::process_segment`] | `tcp_vtw_input` |
//! | [`Tunables`] | `tcp{4,6}_vtw_enable`, `tcp_vtw_entries`, `tcp_msl_*` and their sysctls |
//! | [`classify::classify`] with a caller's [`classify::Locality`] | MSLT class choice in `tcp_established` |
//! | [`VtwStats`] | `vtw_stats_t` |
//!
//! # Layout and byte budget
//!
//! An IPv4 slot is 24 bytes: foreign address 4, ports 4, a 2-byte interned *context* id,
//! the 2-byte window field, snd_nxt, rcv_nxt and ts_recent (4 each). IPv6 is 36 bytes
//! (foreign address 16). Not stored, derived:
//! - the local address: a [`LocalAddrId`] into the caller's address table, held in the
//!   context together with the owner uid, reuse flags, v6only, window scale and whether
//!   timestamps were in use (a few distinct contexts serve millions of entries);
//! - the MSL class: which ring slice holds the slot;
//! - the insertion time (hence expiry and ts_recent age): per-class time marks, one per
//!   group of entries inserted within `mark_granularity_ms`; a mark keeps the *latest*
//!   time of its group, so derived expiry is never early (at most one granularity late);
//! - our timestamp offset: a keyed hash of the 4-tuple ([`VtwTable::ts_offset`],
//!   RFC 7323 §5.4).
//!
//! The index is sized so that a full arena loads its 16-slot buckets to at most 75 %:
//! about 5.3 bytes per slot of capacity (at 90 % load, 4.4 bytes, a full table's
//! overflow filters saturate and misses read two buckets instead of one). The port index (bind/connect checks) is a
//! separate `(local port, context) → count` map whose size depends on how many distinct
//! ports are in TIME_WAIT, not on the entry count; it is reported separately
//! ([`MemoryReport::port_index`]). Measured figures are in `BENCHMARKS.md`.
//!
//! # NetBSD bugs and weaknesses avoided
//!
//! - Unkeyed additive tuple hash (`v4_tag` is a sum) and a zero IPv6 hash without
//!   `IN6_HASH`: here a keyed foldhash with a random seed per table.
//! - `vtw_add` never sets `rcv_wnd` (nor `snd_scale`): here both are stored.
//! - No timestamp state, so no PAWS, ACKs without TSopt, no RFC 6191 reopen: here
//!   ts_recent is stored, the offset derived, and SYNs follow RFC 6191.
//! - A SYN beyond the window and any new data are answered with RST: here no RST is ever
//!   sent (RFC 9293 "Ignore the segment text"; reopen per RFC 6191).
//! - One static port iterator per family (not reentrant): here iteration state is local
//!   to each call.
//! - Fat-pointer chains that "hang down, tapeworm like" and grow under churn: here open
//!   addressing with exact overflow counts, no tombstones (see `index`).
//! - Equal static split of the arena over the classes: capacities are configurable per
//!   class ([`ClassCapacities`]), and no slot is left to a classless class 0.
//! - Class 0 (truncation off) is a separate arena slice in NetBSD and "usurpation"
//!   between classes can fail during transitions: here truncation off simply files new
//!   entries under `Remote`, whose MSL class 0 used anyway.
//! - The 128-byte cache line configuration is unusable in NetBSD (`FATP_MAX = 2`); here
//!   the bucket is always 64 bytes.
//!
//! Other differences: the arena is allocated when the table is built, not lazily when
//! `vtw.enable` is first set; the entry count need not be a power of two; MSL changes
//! apply to entries already present (expiry is derived, not stored); expiry is reaped
//! lazily by every operation as well as by [`VtwTable::expire`], so an entry past its
//! 2×MSL is never returned even if no tick has run.
//!
//! Overflow: by default ([`Overflow::EvictOldest`], as NetBSD and FreeBSD) an insert into
//! a full class evicts that class's oldest entry; [`Overflow::Refuse`] returns
//! [`VtwError::ClassFull`] instead (Linux `tcp_max_tw_buckets`). Like NetBSD, a slot freed
//! in the middle of a ring (delete, RST kill, restart) is reused only when the ring's tail
//! reaches it, so a class with many such holes is "full" a little before
//! `live == capacity`. Every eviction and refusal is counted.
//!
//! # Concurrency
//!
//! NetBSD runs VTW under `softnet_lock`. [`Vtw`] splits each family into up to
//! [`DEFAULT_SHARDS`] tables, each under its own [`parking_lot::Mutex`], chosen by a
//! keyed hash of the 4-tuple: inserts, lookups and segment processing lock one shard;
//! expiry and port queries visit the shards one at a time, and expiry work per shard is
//! proportional to what expired. See [`Vtw`] for what sharding does to eviction order.
//!
//! Shard owners: a stack that steers each connection to a CPU by the shard hash
//! ([`VtwShards::shard_of`], as RSS steers by a tuple hash) lets each CPU own its shards:
//! [`Vtw::lock_shard`] takes one uncontended lock and one clock reading for a batch of
//! operations ([`ShardGuard`], which refuses another shard's tuples with a typed error),
//! and [`Vtw::insert_batch`] groups a batch by shard. Counters are per shard (plain
//! integers under the shard's lock, summed on read), so no counter line moves between
//! CPUs.
//!
//! # Cost per operation
//!
//! Every operation first calls [`VtwTable::expire`], which is one comparison unless
//! something is due (the table keeps the earliest time any class can fall due). An
//! insert hashes its tuple once and reads its home bucket (and, in a full class, the
//! home bucket of the entry it evicts, whose hash is then reused for the unlink). Its
//! duplicate check is decided from the home bucket alone when no tag there matches and
//! nothing was displaced past it; otherwise it runs the full lookup.
//! The port index keeps the last `(port, context)` key's change aside, so a server's
//! inserts and expiries, which all share one key, touch no hash map. Rings keep their
//! head and tail offsets, so no insert divides.
//!
//! At a million entries the table is far larger than this guest's caches, and each
//! insert's home bucket is a memory access the caller's next insert cannot overlap with
//! (see `BENCHMARKS.md`). [`VtwTable::insert_batch`] first hashes 16 inserts, then
//! reads their home buckets and those of the entries they will evict back to back (a
//! loop with nothing else in it, so all the misses are in flight together), then the
//! entries whose tags match, and only then inserts. Expiry does the same for 32 entries
//! at a time: hash, read the buckets back to back, unlink.
#![forbid(unsafe_code)]

pub mod classify;

mod index;
pub mod segment;
mod table;
mod tunables;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

pub use crate::clock::{Clock, ManualClock, MonotonicClock};
pub use segment::{Action, RstPolicy, Segment, SegmentPolicy, TcpFlags, TsOpt, TwState};
pub use table::{
    ClassCapacities, LocalAddrId, MemoryReport, PortUser, Reused, TimeWaitInfo, Tuple, TwReuse,
    VtwAddr, VtwConfig, VtwEntry, VtwStats, VtwTable,
};
pub use tunables::{MslClass, Overflow, PR_SLOWHZ, SYSCTL_NAMES, TCPTV_MSL_MS, Tunables};

/// Errors of the VTW table. Every error leaves the table as it was (apart from reaping
/// expired entries and counting the event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VtwError {
    /// `vtw.enable` is off: the caller keeps the connection in a full TIME_WAIT.
    #[error("vestigial TIME_WAIT is disabled (vtw.enable = 0)")]
    Disabled,
    /// The 4-tuple is already in the table.
    #[error("the 4-tuple is already in TIME_WAIT")]
    Duplicate,
    /// The class was configured with no slots.
    #[error("MSL class {0} has no capacity")]
    NoCapacity(MslClass),
    /// The class ring is full of live entries and the overflow policy is
    /// [`Overflow::Refuse`].
    #[error("MSL class {0} is full")]
    ClassFull(MslClass),
    /// Every context (distinct local address / uid / flags combination) is in use.
    #[error("all {0} entry contexts are in use")]
    ContextsExhausted(u16),
    /// The index found no free slot; the sizing rule makes this unreachable.
    #[error("the TIME_WAIT index has no free slot")]
    IndexFull,
    /// A [`ShardGuard`] was given a 4-tuple that belongs to another shard.
    #[error("the 4-tuple belongs to shard {0}, not to this one")]
    WrongShard(usize),
    /// The configured capacity exceeds what 22-bit entry indices address.
    #[error("capacity {requested} exceeds the maximum of {max} entries")]
    CapacityTooLarge {
        /// Requested total.
        requested: u64,
        /// Largest supported total.
        max: u64,
    },
    /// A configuration value is out of range.
    #[error("bad VTW configuration: {0}")]
    BadConfig(&'static str),
    /// A window scale above 14 (RFC 7323 §2.3).
    #[error("window scale {0} exceeds 14")]
    BadWindowScale(u8),
    /// No such sysctl.
    #[error("unknown sysctl {0}")]
    UnknownSysctl(String),
    /// The sysctl cannot be written (`vtw.entries`).
    #[error("sysctl {0} is read-only")]
    ReadOnlySysctl(String),
    /// The value is out of range for the sysctl.
    #[error("bad value {value} for sysctl {name}")]
    BadSysctlValue {
        /// The sysctl.
        name: String,
        /// The rejected value.
        value: u64,
    },
}

/// Shard count [`Vtw::new`] aims for: enough that the threads of a busy host rarely meet
/// on one lock, few enough that oldest-first eviction stays close to global (see
/// [`Vtw::with_shards`]).
pub const DEFAULT_SHARDS: usize = 16;

/// Smallest per-class capacity a shard is given: below it a family uses fewer shards, so
/// small tables keep exact oldest-first eviction.
pub const MIN_SHARD_CLASS_CAPACITY: u32 = 1024;

/// One lock and table, alone on its cache lines so two threads working on different
/// shards never share a line.
#[repr(align(128))]
struct Shard<A: VtwAddr>(Mutex<VtwTable<A>>);

/// One family's tables inside a [`Vtw`]: a power-of-two number of [`VtwTable`]s, each
/// under its own lock, a connection's 4-tuple choosing its shard by a keyed hash (a
/// random key per `Vtw`, so a remote peer cannot aim all its tuples at one shard).
pub struct VtwShards<A: VtwAddr> {
    shards: Box<[Shard<A>]>,
    hasher: foldhash::fast::RandomState,
}

impl<A: VtwAddr> VtwShards<A> {
    fn new(cfg: VtwConfig, want: usize) -> Result<Self, VtwError> {
        // Validate the whole configuration once, as one table would.
        drop(VtwTable::<A>::new(cfg.clone())?);
        let smallest = [
            cfg.capacity.loopback,
            cfg.capacity.local,
            cfg.capacity.remote,
        ]
        .into_iter()
        .filter(|&c| c > 0)
        .min()
        .unwrap_or(0);
        let mut n = want.max(1).next_power_of_two();
        while n > 1 && smallest / (n as u32) < MIN_SHARD_CLASS_CAPACITY {
            n /= 2;
        }
        let part = |total: u32, i: usize| {
            let n = n as u32;
            total / n + u32::from((i as u32) < total % n)
        };
        let shards = (0..n)
            .map(|i| {
                let mut c = cfg.clone();
                c.capacity = ClassCapacities {
                    loopback: part(cfg.capacity.loopback, i),
                    local: part(cfg.capacity.local, i),
                    remote: part(cfg.capacity.remote, i),
                };
                VtwTable::new(c).map(|t| Shard(Mutex::new(t)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            shards: shards.into_boxed_slice(),
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    /// Number of shards (a power of two).
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Always false: a family has at least one shard.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The shard that holds `t`: fixed for the lifetime of the [`Vtw`] (a keyed hash of
    /// the 4-tuple), always `< self.len()`. A stack that steers each connection to a CPU
    /// by this value (as RSS steers by a tuple hash) lets each CPU own its shards.
    pub fn shard_of(&self, t: &Tuple<A>) -> usize {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(t);
        // High bits: foldhash mixes them best.
        (h >> 40) as usize & (self.shards.len() - 1)
    }

    fn of(&self, t: &Tuple<A>) -> &Mutex<VtwTable<A>> {
        &self.shards[self.shard_of(t)].0
    }

    fn each(&self) -> impl Iterator<Item = &Mutex<VtwTable<A>>> {
        self.shards.iter().map(|s| &s.0)
    }
}

/// Both families' TIME_WAIT tables with the clock that drives them — what the `Stack`
/// owns. All methods take `&self`, lock the one shard a 4-tuple hashes to (or each shard
/// in turn for whole-family operations), read the clock and delegate to [`VtwTable`]; see
/// there for the guarantees.
///
/// Sharding: each family is split into up to [`DEFAULT_SHARDS`] tables (fewer when a
/// class would get less than [`MIN_SHARD_CLASS_CAPACITY`] slots per shard), the class
/// capacities divided among them. Lookups and inserts of different connections then
/// rarely contend. The price: oldest-first eviction is exact within a shard, so with `S`
/// shards the evicted entry is the oldest of its shard, which the keyed hash makes a
/// uniform sample of the class — among the oldest `S`-th or so of entries, not always the
/// single oldest. [`Vtw::with_shards`]`(…, 1)` gives NetBSD's exact order.
pub struct Vtw {
    v4: VtwShards<Ipv4Addr>,
    v6: VtwShards<Ipv6Addr>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Vtw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vtw")
            .field("v4_shards", &self.v4.len())
            .field("v6_shards", &self.v6.len())
            .finish_non_exhaustive()
    }
}

impl Vtw {
    /// Builds both families with up to [`DEFAULT_SHARDS`] shards each. Errors as
    /// [`VtwTable::new`].
    pub fn new(v4: VtwConfig, v6: VtwConfig, clock: Arc<dyn Clock>) -> Result<Self, VtwError> {
        Self::with_shards(v4, v6, clock, DEFAULT_SHARDS)
    }

    /// Builds both families with up to `shards` shards each (rounded up to a power of
    /// two; 1 for one table per family under one lock, NetBSD's `softnet_lock` model).
    pub fn with_shards(
        v4: VtwConfig,
        v6: VtwConfig,
        clock: Arc<dyn Clock>,
        shards: usize,
    ) -> Result<Self, VtwError> {
        Ok(Vtw {
            v4: VtwShards::new(v4, shards)?,
            v6: VtwShards::new(v6, shards)?,
            clock,
        })
    }

    /// Family `A`'s shards.
    pub fn shards<A: VtwAddr>(&self) -> &VtwShards<A> {
        A::shards(self)
    }

    /// Runs `f` on the table holding `t` (family `A`) under its lock, with the current
    /// time.
    pub fn with_table_of<A: VtwAddr, R>(
        &self,
        t: &Tuple<A>,
        f: impl FnOnce(&mut VtwTable<A>, u64) -> R,
    ) -> R {
        let now = self.clock.now_ms();
        f(&mut A::shards(self).of(t).lock(), now)
    }

    /// Runs `f` on each of family `A`'s tables in turn, each under its lock, with the
    /// current time.
    pub fn for_each_table<A: VtwAddr>(&self, mut f: impl FnMut(&mut VtwTable<A>, u64)) {
        let now = self.clock.now_ms();
        for s in A::shards(self).each() {
            f(&mut s.lock(), now);
        }
    }

    /// Locks shard `i` of family `A` once and reads the clock once, for a batch of work by
    /// the thread that owns the shard (see [`VtwShards::shard_of`]): one uncontended lock
    /// acquisition and one clock read for many operations, and the shard's lines stay in
    /// that CPU's cache. The guard accepts only tuples of shard `i` (others get
    /// [`VtwError::WrongShard`] or `None`), so nothing can be filed where lookups would
    /// not find it. `None` if `i` is not a shard number.
    pub fn lock_shard<A: VtwAddr>(&self, i: usize) -> Option<ShardGuard<'_, A>> {
        let shards = A::shards(self);
        let s = shards.shards.get(i)?;
        Some(ShardGuard {
            table: s.0.lock(),
            shards,
            index: i,
            now: self.clock.now_ms(),
        })
    }

    /// [`VtwTable::insert_batch`] for family `A` at one clock reading: the items are
    /// grouped by shard and each shard is locked once. Results are those of calling
    /// [`Vtw::insert`] on each item in turn at that time (items of different shards do
    /// not interact), reported as `on_result(i, result)` grouped by shard, ascending
    /// within a shard.
    pub fn insert_batch<A: VtwAddr>(
        &self,
        items: &[(Tuple<A>, MslClass, TimeWaitInfo)],
        mut on_result: impl FnMut(usize, Result<bool, VtwError>),
    ) {
        let now = self.clock.now_ms();
        let shards = A::shards(self);
        let mut order = [(0u32, 0u32); 64];
        for (c, chunk) in items.chunks(64).enumerate() {
            let base = c * 64;
            let order = &mut order[..chunk.len()];
            for (k, (t, _, _)) in chunk.iter().enumerate() {
                order[k] = (shards.shard_of(t) as u32, (base + k) as u32);
            }
            order.sort_unstable();
            for run in order.chunk_by(|a, b| a.0 == b.0) {
                let mut t = shards.shards[run[0].0 as usize].0.lock();
                t.insert_some(
                    items,
                    run.iter().map(|&(_, i)| i as usize),
                    now,
                    &mut on_result,
                );
            }
        }
    }

    /// [`VtwTable::insert`] at the current time.
    pub fn insert<A: VtwAddr>(
        &self,
        t: Tuple<A>,
        class: MslClass,
        info: TimeWaitInfo,
    ) -> Result<bool, VtwError> {
        self.with_table_of(&t, |tb, now| tb.insert(t, class, info, now))
    }

    /// [`VtwTable::lookup`] at the current time.
    pub fn lookup<A: VtwAddr>(&self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.with_table_of(t, |tb, now| tb.lookup(t, now))
    }

    /// [`VtwTable::contains`] at the current time.
    pub fn contains<A: VtwAddr>(&self, t: &Tuple<A>) -> bool {
        self.with_table_of(t, |tb, now| tb.contains(t, now))
    }

    /// [`VtwTable::remove`] at the current time.
    pub fn remove<A: VtwAddr>(&self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.with_table_of(t, |tb, now| tb.remove(t, now))
    }

    /// [`VtwTable::process_segment`] at the current time.
    pub fn process_segment<A: VtwAddr>(
        &self,
        t: &Tuple<A>,
        seg: &Segment,
    ) -> Option<(Action, VtwEntry<A>)> {
        self.with_table_of(t, |tb, now| tb.process_segment(t, seg, now))
    }

    /// [`VtwTable::try_reuse`] at the current time.
    pub fn try_reuse<A: VtwAddr>(
        &self,
        t: &Tuple<A>,
        mode: TwReuse,
        delay_ms: u64,
    ) -> Option<Reused> {
        self.with_table_of(t, |tb, now| tb.try_reuse(t, mode, delay_ms, now))
    }

    /// The groups of entries on `lport` (and `local`, if given) over all shards, groups
    /// with the same attributes merged (their counts added).
    pub fn port_users<A: VtwAddr>(&self, lport: u16, local: Option<LocalAddrId>) -> Vec<PortUser> {
        let mut v: Vec<PortUser> = Vec::new();
        self.for_each_table::<A>(|tb, now| {
            tb.for_each_port_user(lport, local, now, |u| {
                let same = |x: &PortUser| {
                    (x.local, x.uid, x.reuse_addr, x.reuse_port, x.v6only)
                        == (u.local, u.uid, u.reuse_addr, u.reuse_port, u.v6only)
                };
                match v.iter_mut().find(|x| same(x)) {
                    Some(x) => x.count += u.count,
                    None => v.push(u),
                }
            })
        });
        v
    }

    /// Whether any entry of family `A` holds `lport` (on `local`, if given).
    pub fn port_in_use<A: VtwAddr>(&self, lport: u16, local: Option<LocalAddrId>) -> bool {
        let now = self.clock.now_ms();
        A::shards(self)
            .each()
            .any(|s| s.lock().port_in_use(lport, local, now))
    }

    /// Reaps both families (what NetBSD's 200 ms `vtw_tick` callout does), one shard at a
    /// time so lookups elsewhere go on. Returns the number of entries that expired.
    pub fn expire(&self) -> usize {
        let mut n = 0;
        self.for_each_table::<Ipv4Addr>(|t, now| n += t.expire(now));
        self.for_each_table::<Ipv6Addr>(|t, now| n += t.expire(now));
        n
    }

    /// Live entries of family `A` (all shards).
    pub fn len<A: VtwAddr>(&self) -> usize {
        A::shards(self).each().map(|s| s.lock().len()).sum()
    }

    /// True if neither family holds an entry.
    pub fn is_empty(&self) -> bool {
        self.len::<Ipv4Addr>() == 0 && self.len::<Ipv6Addr>() == 0
    }

    /// Family `A`'s memory, summed over its shards.
    pub fn memory<A: VtwAddr>(&self) -> MemoryReport {
        let mut m = MemoryReport::default();
        for s in A::shards(self).each() {
            let r = s.lock().memory();
            m.arena += r.arena;
            m.index += r.index;
            m.fixed += r.fixed;
            m.port_index += r.port_index;
        }
        m
    }

    /// Family `A`'s counters, summed over its shards.
    pub fn stats<A: VtwAddr>(&self) -> VtwStats {
        let mut st = VtwStats::default();
        for s in A::shards(self).each() {
            st.merge(s.lock().stats());
        }
        st
    }

    /// Reads a sysctl by NetBSD name: `net.inet.tcp.vtw.*` from the IPv4 tables
    /// (`vtw.entries` summed over shards), `net.inet6.tcp6.vtw.*` from the IPv6 tables,
    /// `net.inet.tcp.mslt.*` (shared) from the IPv4 tables.
    pub fn sysctl_get(&self, name: &str) -> Result<u64, VtwError> {
        fn get<A: VtwAddr>(s: &VtwShards<A>, name: &str) -> Result<u64, VtwError> {
            if name.ends_with(".vtw.entries") {
                let mut total = 0;
                for t in s.each() {
                    total += t.lock().sysctl_get(name)?;
                }
                Ok(total)
            } else {
                s.shards[0].0.lock().sysctl_get(name)
            }
        }
        if name.starts_with("net.inet6.") {
            get(&self.v6, name)
        } else {
            get(&self.v4, name)
        }
    }

    /// Sets a sysctl by NetBSD name on every shard; the `mslt` knobs apply to both
    /// families (they are global in NetBSD). On error nothing changes.
    pub fn sysctl_set(&self, name: &str, value: u64) -> Result<(), VtwError> {
        fn set<A: VtwAddr>(
            s: &VtwShards<A>,
            af: &str,
            name: &str,
            value: u64,
        ) -> Result<(), VtwError> {
            // Validate on a copy first so a failure changes nothing; then every shard
            // gets the same change (their tunables are always equal).
            let mut probe = s.shards[0].0.lock().tunables().clone();
            probe.sysctl_set(af, name, value)?;
            for t in s.each() {
                t.lock().sysctl_set(name, value)?;
            }
            Ok(())
        }
        if name.starts_with("net.inet6.") {
            set(&self.v6, Ipv6Addr::SYSCTL_AF, name, value)
        } else if name.starts_with("net.inet.tcp.mslt.") {
            set(&self.v4, Ipv4Addr::SYSCTL_AF, name, value)?;
            set(&self.v6, Ipv4Addr::SYSCTL_AF, name, value)
        } else {
            set(&self.v4, Ipv4Addr::SYSCTL_AF, name, value)
        }
    }
}

/// One shard of a [`Vtw`] family, locked, with the time read when it was locked (see
/// [`Vtw::lock_shard`]). Every method checks that the 4-tuple belongs to this shard.
pub struct ShardGuard<'a, A: VtwAddr> {
    table: parking_lot::MutexGuard<'a, VtwTable<A>>,
    shards: &'a VtwShards<A>,
    index: usize,
    now: u64,
}

impl<A: VtwAddr> std::fmt::Debug for ShardGuard<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardGuard")
            .field("index", &self.index)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl<A: VtwAddr> ShardGuard<'_, A> {
    fn mine(&self, t: &Tuple<A>) -> Result<(), VtwError> {
        match self.shards.shard_of(t) {
            i if i == self.index => Ok(()),
            i => Err(VtwError::WrongShard(i)),
        }
    }

    /// The time (ms of the [`Vtw`]'s clock) all operations of this guard use.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// This shard's number.
    pub fn index(&self) -> usize {
        self.index
    }

    /// [`VtwTable::insert`]; [`VtwError::WrongShard`] for a tuple of another shard.
    pub fn insert(
        &mut self,
        t: Tuple<A>,
        class: MslClass,
        info: TimeWaitInfo,
    ) -> Result<bool, VtwError> {
        self.mine(&t)?;
        self.table.insert(t, class, info, self.now)
    }

    /// [`VtwTable::insert_batch`]; items of another shard get [`VtwError::WrongShard`] and
    /// are skipped, the others are inserted in order.
    pub fn insert_batch(
        &mut self,
        items: &[(Tuple<A>, MslClass, TimeWaitInfo)],
        mut on_result: impl FnMut(usize, Result<bool, VtwError>),
    ) {
        let mut ok = Vec::new();
        let mut all_mine = true;
        for (t, _, _) in items {
            all_mine &= self.shards.shard_of(t) == self.index;
        }
        if all_mine {
            self.table.insert_batch(items, self.now, on_result);
            return;
        }
        for (i, (t, _, _)) in items.iter().enumerate() {
            match self.mine(t) {
                Ok(()) => ok.push(i),
                Err(e) => on_result(i, Err(e)),
            }
        }
        self.table
            .insert_some(items, ok.into_iter(), self.now, &mut on_result);
    }

    /// [`VtwTable::lookup`]; `None` for a tuple of another shard.
    pub fn lookup(&mut self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.mine(t).ok()?;
        self.table.lookup(t, self.now)
    }

    /// [`VtwTable::contains`]; false for a tuple of another shard.
    pub fn contains(&mut self, t: &Tuple<A>) -> bool {
        self.mine(t).is_ok() && self.table.contains(t, self.now)
    }

    /// [`VtwTable::remove`]; `None` for a tuple of another shard.
    pub fn remove(&mut self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.mine(t).ok()?;
        self.table.remove(t, self.now)
    }

    /// [`VtwTable::expire`] at the guard's time.
    pub fn expire(&mut self) -> usize {
        self.table.expire(self.now)
    }

    /// The shard's table, read-only (length, counters, memory).
    pub fn table(&self) -> &VtwTable<A> {
        &self.table
    }
}

#[cfg(test)]
mod tests;
