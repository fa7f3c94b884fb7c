//! The routing torture test (after Linux's `rcutorture`): reader threads hammer a
//! [`Stack`] the way forwarders and sockets do while writers replay route updates,
//! detach and re-attach interfaces, add and remove addresses and churn TIME_WAIT
//! state; every reader checks every object it is handed. `netroute stress` runs it.
//!
//! No NetBSD counterpart (NetBSD has no such harness); it checks the promises of the
//! design's protection model (§3):
//!
//! * **no freed object is read** — every route, interface and address a reader gets is
//!   checked with its canary (`is_intact()`), again after holding the reference across a
//!   yield;
//! * **no route whose delete completed before the lookup started is returned** — writers
//!   publish a monotonic "completed" sequence number and stamp each deleted route id
//!   (each detached interface's attach id, each removed address) with it once the
//!   delete returned; a reader reads the sequence *before* its lookup and fails if the
//!   object it got carries a stamp at or below what it read;
//! * **route caches are coherent** — a cache hit must name the route a fresh table
//!   lookup names whenever no writer call was in flight during both (writers bracket
//!   every call that can change a route with "started"/"finished" counters);
//! * **returned routes are right** — the route covers the destination, an interface
//!   found by index has that index, a TIME_WAIT entry found for a 4-tuple is that
//!   tuple's;
//! * **every destroy completes within a bound** — route delete and change, address
//!   removal and interface detach are timed; the maximum is reported and one beyond
//!   [`TortureConfig::bound`] is a violation.
//!
//! A run is reproducible from its seed as far as the writers' choices go (thread
//! interleavings are not); a failure says how to rerun it.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::addr::{IfIndex, ScopedAddr};
use crate::ifnet::{AddrSpec, Event, IfConfig, IfFlags, IfaAddr, Notice, Subscription};
use crate::route::{RouteError, RouteEvent, RouteKey, RouteSpec, RtEntry};
use crate::stack::{Stack, StackConfig};
use crate::synth::{self, SplitMix64, Update};
use crate::timewait::{LocalAddrId, MslClass, TimeWaitInfo, Tuple, VtwConfig};

/// The deliberate bug this build of the library carries, if any (`NETROUTE_MUTATION`
/// at build time; see `build.rs`). `None` in every normal build.
pub const MUTATION: Option<&str> = mutation();

const fn mutation() -> Option<&'static str> {
    if cfg!(netroute_mutation = "no_generation_bump") {
        Some("no_generation_bump")
    } else if cfg!(netroute_mutation = "early_delete_event") {
        Some("early_delete_event")
    } else {
        None
    }
}

/// What to run. `Default` gives a 5 s run with two readers and two writers over a
/// synthetic table at 1 % of the Internet's size.
#[derive(Clone, Debug)]
pub struct TortureConfig {
    /// How long to run, in seconds (the run also stops at [`ops`](Self::ops)).
    pub seconds: f64,
    /// Stop after this many writer operations (all writers together), if set.
    pub ops: Option<u64>,
    /// Reader threads (at least 1).
    pub readers: usize,
    /// Writer threads (at least 1): the first replays route updates, the second churns
    /// interfaces, addresses and TIME_WAIT state, further ones churn TIME_WAIT only.
    /// With one writer it does everything.
    pub writers: usize,
    /// Seed of the table, the update stream and every thread's choices.
    pub seed: u64,
    /// Size of the synthetic tables relative to the Internet (ignored for a family
    /// whose table is given in [`table`](Self::table)).
    pub scale: f64,
    /// A real table (both families mixed) instead of the synthetic ones.
    pub table: Option<Arc<Vec<IpNet>>>,
    /// A real update stream (announce/withdraw, both families) to replay instead of a
    /// synthetic one; replayed cyclically.
    pub updates: Option<Arc<Vec<Update<IpNet>>>>,
    /// Longest acceptable delete, change, address removal or detach.
    pub bound: Duration,
    /// Route caches (flows) per reader.
    pub flows_per_reader: usize,
    /// Stop at the first violation (the default) rather than running to the end.
    pub fail_fast: bool,
}

impl Default for TortureConfig {
    fn default() -> Self {
        Self {
            seconds: 5.0,
            ops: None,
            readers: 2,
            writers: 2,
            seed: 2026,
            scale: 0.01,
            table: None,
            updates: None,
            bound: Duration::from_secs(2),
            flows_per_reader: 64,
            fail_fast: true,
        }
    }
}

/// Kinds of violation the readers and writers detect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViolationKind {
    /// An object's canary said it was freed (use after free).
    FreedObject,
    /// A route whose delete had completed before the lookup started was returned.
    StaleRoute,
    /// An interface whose detach had completed before the lookup started was found.
    StaleInterface,
    /// An address whose removal had completed before the lookup started was found.
    StaleAddress,
    /// A route, interface, address or TIME_WAIT entry that is not the one asked for.
    WrongObject,
    /// A cache hit differed from a fresh lookup with no writer call in flight.
    IncoherentCache,
    /// A delete, change, removal or detach took longer than the bound.
    SlowDestroy,
    /// A writer call failed where the writer's own model said it must succeed, or the
    /// stack's state disagreed with the writer's model.
    Inconsistent,
}

impl ViolationKind {
    const ALL: [ViolationKind; 8] = [
        ViolationKind::FreedObject,
        ViolationKind::StaleRoute,
        ViolationKind::StaleInterface,
        ViolationKind::StaleAddress,
        ViolationKind::WrongObject,
        ViolationKind::IncoherentCache,
        ViolationKind::SlowDestroy,
        ViolationKind::Inconsistent,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kind is in ALL")
    }
}

/// One detected violation: what and a human-readable detail.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// What was violated.
    pub kind: ViolationKind,
    /// Which object, which thread, which sequence numbers.
    pub detail: String,
    /// Seconds into the run.
    pub at_secs: f64,
}

/// Counts of a finished run. Every counter is exact (summed over threads at the end).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TortureReport {
    /// The seed the run used.
    pub seed: u64,
    /// Reader threads.
    pub readers: usize,
    /// Writer threads.
    pub writers: usize,
    /// Wall-clock duration of the concurrent phase.
    pub elapsed: Duration,
    /// Routes in the tables when the readers started (both families).
    pub initial_routes: usize,
    /// Route-cache destination allocations made to fail (`rtcache_setdst` ENOMEM,
    /// [`RouteCache::fail_next_alloc`](crate::route::RouteCache::fail_next_alloc)); each
    /// must leave the cache empty and the next packet must refill it.
    pub alloc_failures: u64,
    /// Route-cache "packets" (a validate or refill per packet).
    pub cache_packets: u64,
    /// Of those, cache hits.
    pub cache_hits: u64,
    /// Plain table lookups (`rtalloc1`, inside read sections or with a reference).
    pub table_lookups: u64,
    /// Routes handed to readers and checked.
    pub routes_checked: u64,
    /// Cache hits compared with a fresh lookup in a quiet window.
    pub coherence_checks: u64,
    /// Interface lookups by index (with psrefs).
    pub if_lookups: u64,
    /// Address lookups (`ifa_ifwithaddr`, with psrefs).
    pub addr_lookups: u64,
    /// TIME_WAIT lookups.
    pub vtw_lookups: u64,
    /// Route adds that succeeded.
    pub route_adds: u64,
    /// Route deletes that succeeded.
    pub route_deletes: u64,
    /// Route changes that succeeded.
    pub route_changes: u64,
    /// Updates of the stream replayed (including no-ops such as withdrawing an absent
    /// prefix of a real stream).
    pub updates_replayed: u64,
    /// `RTM_DELETE` messages the monitor thread (a routing daemon) read on the routing
    /// socket: explicit deletes, and the routes detaches and address removals took with
    /// them; each stamps its route as deleted.
    pub delete_events: u64,
    /// Interfaces detached.
    pub detaches: u64,
    /// Interfaces attached (after the start).
    pub attaches: u64,
    /// Addresses added (after the start).
    pub addr_adds: u64,
    /// Addresses removed.
    pub addr_removes: u64,
    /// TIME_WAIT entries inserted.
    pub vtw_inserts: u64,
    /// TIME_WAIT entries removed.
    pub vtw_removes: u64,
    /// Messages the monitor's routing socket lost (fewer staleness checks, not a
    /// violation).
    pub events_lost: u64,
    /// Slowest route delete.
    pub max_delete: Duration,
    /// Slowest route change.
    pub max_change: Duration,
    /// Slowest interface detach.
    pub max_detach: Duration,
    /// Slowest address removal.
    pub max_addr_remove: Duration,
    /// Violations by kind (same order as [`ViolationKind`]'s variants); all zero in a
    /// passing run.
    pub violations: Vec<(ViolationKind, u64)>,
}

impl TortureReport {
    /// Total violations.
    pub fn violation_count(&self) -> u64 {
        self.violations.iter().map(|&(_, n)| n).sum()
    }

    /// Writer operations of every kind.
    pub fn writer_ops(&self) -> u64 {
        self.route_adds
            + self.route_deletes
            + self.route_changes
            + self.detaches
            + self.attaches
            + self.addr_adds
            + self.addr_removes
            + self.vtw_inserts
            + self.vtw_removes
    }
}

/// A failed run: the first violations (at most 16), the counts, and how to reproduce.
#[derive(Clone, Debug)]
pub struct TortureFailure {
    /// The first violations detected, in detection order.
    pub first: Vec<Violation>,
    /// The counts, including every violation.
    pub report: Box<TortureReport>,
}

impl fmt::Display for TortureFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        writeln!(
            f,
            "routing torture FAILED: {} violation(s) in {:.2} s with seed {} \
             (reproduce: netroute stress --seed {} --threads {} --seconds {:.0})",
            r.violation_count(),
            r.elapsed.as_secs_f64(),
            r.seed,
            r.seed,
            r.readers,
            r.elapsed.as_secs_f64().ceil().max(1.0)
        )?;
        if let Some(m) = MUTATION {
            writeln!(f, "  (library built with the deliberate mutation {m})")?;
        }
        for v in &self.first {
            writeln!(f, "  [{:.3} s] {:?}: {}", v.at_secs, v.kind, v.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for TortureFailure {}

// ----------------------------------------------------------------------- shared state

/// Sequence stamps keyed by a never-reused id (route id, attach id): 0 = none. Two
/// levels of chunks allocated on first use, so readers look up with two loads. Memory
/// grows by 512 KiB per 65,536 ids handed out during the run; ids beyond the table
/// (2^30 routes, 2^26 attachments) are not tracked (fewer checks, never a false alarm).
struct Stamps {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

const STAMP_CHUNK_BITS: u32 = 16;

impl Stamps {
    fn new(max_chunks: usize) -> Self {
        Self {
            chunks: (0..max_chunks).map(|_| OnceLock::new()).collect(),
        }
    }

    fn get(&self, id: u64) -> u64 {
        let c = (id >> STAMP_CHUNK_BITS) as usize;
        let i = (id & ((1 << STAMP_CHUNK_BITS) - 1)) as usize;
        self.chunks
            .get(c)
            .and_then(OnceLock::get)
            .map_or(0, |c| c[i].load(Ordering::SeqCst))
    }

    /// Stamps `id` with `seq` unless it has a stamp already. False if `id` is beyond
    /// the table (not tracked).
    fn mark(&self, id: u64, seq: u64) -> bool {
        let c = (id >> STAMP_CHUNK_BITS) as usize;
        let i = (id & ((1 << STAMP_CHUNK_BITS) - 1)) as usize;
        let Some(chunk) = self.chunks.get(c) else {
            return false;
        };
        let chunk = chunk.get_or_init(|| {
            (0..1 << STAMP_CHUNK_BITS)
                .map(|_| AtomicU64::new(0))
                .collect()
        });
        let _ = chunk[i].compare_exchange(0, seq, Ordering::SeqCst, Ordering::SeqCst);
        true
    }
}

/// Addresses the interface writer adds to and removes from `eth0` (each in its own
/// /24 of 100.64.0.0/10, so each brings a connected route).
const CANDIDATES: usize = 8;
/// Interfaces the interface writer detaches and re-attaches.
const CHURN_IFS: usize = 4;
/// Distinct TIME_WAIT tuples the writers churn.
const VTW_TUPLES: u64 = 4096;
const MAX_FIRST: usize = 16;

struct Shared {
    start: Instant,
    stop: AtomicBool,
    /// Writer operations, all writers (for [`TortureConfig::ops`]).
    ops: AtomicU64,
    /// The completed-destroy sequence: readers read it before a lookup.
    seq: AtomicU64,
    /// Allocator of stamps (a stamp is taken after the destroy completed).
    next_seq: AtomicU64,
    /// Writer calls that may change a route: started / finished.
    started: AtomicU64,
    finished: AtomicU64,
    route_stamps: Stamps,
    if_stamps: Stamps,
    /// Per candidate address: `seq << 1` once a removal completed, `(seq << 1) | 1`
    /// written before an add starts.
    addr_state: Vec<AtomicU64>,
    /// Largest index a churned interface ever had (readers probe 1..=this).
    max_index: AtomicU64,
    violations: Vec<AtomicU64>,
    first: Mutex<Vec<Violation>>,
    fail_fast: bool,
}

impl Shared {
    fn violation(&self, kind: ViolationKind, detail: impl FnOnce() -> String) {
        self.violations[kind.index()].fetch_add(1, Ordering::Relaxed);
        {
            let mut f = self.first.lock().unwrap_or_else(|e| e.into_inner());
            if f.len() < MAX_FIRST {
                f.push(Violation {
                    kind,
                    detail: detail(),
                    at_secs: self.start.elapsed().as_secs_f64(),
                });
            }
        }
        if self.fail_fast {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Publishes the completion of a destroy; returns its stamp.
    fn complete(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn publish(&self, s: u64) {
        self.seq.fetch_max(s, Ordering::SeqCst);
    }

    fn begin(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    fn end(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    fn count_op(&self, n: u64) {
        self.ops.fetch_add(n, Ordering::Relaxed);
    }
}

fn ifa_of(ip: IpAddr) -> IfaAddr {
    match ip {
        IpAddr::V4(a) => IfaAddr::V4(a),
        IpAddr::V6(a) => {
            IfaAddr::V6(ScopedAddr::new(a, None).expect("torture addresses are global"))
        }
    }
}

fn candidate(j: usize) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, j as u8, 1)
}

/// The stable next hops: on `eth0` and `eth1`, per family.
fn gateway(v6: bool, which: u64) -> IpAddr {
    match (v6, which & 1) {
        (false, 0) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
        (false, _) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 254)),
        (true, 0) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe)),
        (true, _) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xfe)),
    }
}

/// The subnet of churned interface `k` (one IPv4 /28, one IPv6 /64), its address and
/// gateway, and a few more-specific routes through it.
fn churn_addrs(k: usize) -> (Ipv4Addr, Ipv4Addr, Ipv6Addr) {
    let a = Ipv4Addr::new(203, 0, 113, (16 * k + 1) as u8);
    let gw = Ipv4Addr::new(203, 0, 113, (16 * k + 14) as u8);
    let a6 = Ipv6Addr::new(0x2001, 0xdb8, 0xf0 + k as u16, 0, 0, 0, 0, 1);
    (a, gw, a6)
}

fn churn_routes(k: usize) -> [IpNet; 2] {
    let p4 = IpNet::new(IpAddr::V4(Ipv4Addr::new(198, 18, k as u8, 0)), 24).expect("valid prefix");
    let p4b =
        IpNet::new(IpAddr::V4(Ipv4Addr::new(198, 18, k as u8, 128)), 25).expect("valid prefix");
    [p4, p4b]
}

fn vtw_tuple(i: u64) -> Tuple<Ipv4Addr> {
    Tuple {
        local: LocalAddrId(0),
        lport: 80,
        faddr: Ipv4Addr::new(198, 19, (i >> 4) as u8, (i & 0xf) as u8 + 1),
        fport: 40_000 + (i & 0xff) as u16,
    }
}

fn vtw_snd_nxt(t: &Tuple<Ipv4Addr>) -> u32 {
    t.faddr.to_bits().rotate_left(7) ^ u32::from(t.fport)
}

// --------------------------------------------------------------------------- run

/// Runs the torture test described by `cfg` and returns its counts, or the violations
/// it found (with the seed to reproduce them).
///
/// Guarantees: returns `Ok` only if no reader and no writer detected a violation;
/// every thread it starts has ended when it returns; the stack it builds is private to
/// the call. Panics only on a bug in the harness itself (an impossible setup error).
pub fn run(cfg: &TortureConfig) -> Result<TortureReport, TortureFailure> {
    let readers = cfg.readers.max(1);
    let writers = cfg.writers.max(1);
    let stack = Stack::with_config(StackConfig {
        vtw_v4: VtwConfig::with_entries(1 << 12),
        vtw_v6: VtwConfig::with_entries(1 << 10),
        ..StackConfig::default()
    })
    .expect("the torture stack configuration is valid");
    let ifs = stack.ifs();
    let up = IfFlags::UP | IfFlags::BROADCAST | IfFlags::RUNNING;
    let lo0 = ifs
        .attach(IfConfig::new("lo0").flags(IfFlags::UP | IfFlags::LOOPBACK))
        .expect("attach lo0");
    ifs.add_addr(lo0, AddrSpec::new(Ipv4Addr::LOCALHOST, 8))
        .expect("lo0 address");
    let eth0 = ifs.attach(IfConfig::new("eth0").flags(up)).expect("eth0");
    let eth1 = ifs.attach(IfConfig::new("eth1").flags(up)).expect("eth1");
    for (i, a4, a6) in [
        (
            eth0,
            [192, 0, 2, 1],
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        ),
        (
            eth1,
            [198, 51, 100, 1],
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
        ),
    ] {
        ifs.add_addr(i, AddrSpec::new(a4, 24)).expect("v4 address");
        ifs.add_addr(i, AddrSpec::new(a6, 64)).expect("v6 address");
    }

    // Default routes, so that lookups find a covering route whatever the writers do
    // (and misses, each an `RTM_MISS` message, stay rare).
    for (d, v6) in [("0.0.0.0/0", false), ("::/0", true)] {
        let d: IpNet = d.parse().expect("valid prefix");
        stack
            .routes()
            .add(&RouteSpec::new(d).via(gateway(v6, 0)))
            .expect("default route");
    }
    // The table.
    let table: Vec<IpNet> = match &cfg.table {
        Some(t) => t.to_vec(),
        None => synth::ipv4_table(cfg.seed, cfg.scale)
            .into_iter()
            .map(IpNet::V4)
            .chain(
                synth::ipv6_table(cfg.seed, cfg.scale)
                    .into_iter()
                    .map(IpNet::V6),
            )
            .collect(),
    };
    let mut present = HashSet::with_capacity(table.len());
    for chunk in table.chunks(4096) {
        let specs: Vec<RouteSpec> = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| RouteSpec::new(*p).via(gateway(p.addr().is_ipv6(), i as u64)))
            .collect();
        for (p, r) in chunk.iter().zip(stack.routes().add_many(&specs)) {
            if r.is_ok() {
                present.insert(*p);
            }
        }
    }
    let initial_routes = stack.routes().v4().len() + stack.routes().v6().len();
    let updates: Arc<Vec<Update<IpNet>>> = match &cfg.updates {
        Some(u) => Arc::clone(u),
        None => Arc::new(synth::updates(
            &table,
            cfg.seed,
            table.len().clamp(1024, 1 << 20),
        )),
    };

    // Flows: destinations inside table prefixes, the churned subnets and the candidate
    // subnets, so that every kind of writer call changes what some flow sees.
    let mut rng = SplitMix64::new(cfg.seed ^ 0xF10E);
    let flows: Vec<Vec<IfaAddr>> = (0..readers)
        .map(|_| {
            (0..cfg.flows_per_reader.max(1))
                .map(|_| flow_dst(&mut rng, &table))
                .collect()
        })
        .collect();

    let sh = Shared {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        seq: AtomicU64::new(0),
        next_seq: AtomicU64::new(0),
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        route_stamps: Stamps::new(1 << 14),
        if_stamps: Stamps::new(1 << 10),
        addr_state: (0..CANDIDATES).map(|_| AtomicU64::new(0)).collect(),
        max_index: AtomicU64::new(u64::from(eth1.get()) + CHURN_IFS as u64 + 1),
        violations: ViolationKind::ALL
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect(),
        first: Mutex::new(Vec::new()),
        fail_fast: cfg.fail_fast,
    };
    let deadline = Duration::from_secs_f64(cfg.seconds.max(0.0));
    let mut report = TortureReport {
        seed: cfg.seed,
        readers,
        writers,
        initial_routes,
        ..TortureReport::default()
    };
    let sub = stack.subscribe(1 << 16);
    let start = Instant::now();
    let (rstats, wstats) = std::thread::scope(|s| {
        let rh: Vec<_> = flows
            .into_iter()
            .enumerate()
            .map(|(t, fl)| {
                let (stack, sh) = (&stack, &sh);
                let seed = cfg.seed ^ ((t as u64 + 1) << 32);
                s.spawn(move || reader(stack, sh, fl, seed))
            })
            .collect();
        let wh: Vec<_> = (0..writers)
            .map(|w| {
                let (stack, sh, updates, present) = (&stack, &sh, &updates, &present);
                let seed = cfg.seed ^ ((w as u64 + 1) << 48);
                let role = match (writers, w) {
                    (1, _) => Role::All,
                    (_, 0) => Role::Routes,
                    (_, 1) => Role::Interfaces,
                    _ => Role::TimeWait,
                };
                let bound = cfg.bound;
                s.spawn(move || {
                    let mut w = Writer::new(stack, sh, seed, bound);
                    let owner = matches!(role, Role::All | Role::Routes);
                    let mut present = if owner {
                        present.clone()
                    } else {
                        HashSet::new()
                    };
                    w.run(role, updates, &mut present);
                    (w.stats, owner.then_some(present))
                })
            })
            .collect();
        // A routing daemon: reads the routing socket and stamps every route an
        // `RTM_DELETE` names as deleted (the message promises the delete completed).
        let mh = {
            let sh = &sh;
            s.spawn(move || monitor(sh, sub))
        };
        // The clock.
        while !sh.stopped() {
            if start.elapsed() >= deadline
                || cfg.ops.is_some_and(|n| sh.ops.load(Ordering::Relaxed) >= n)
            {
                sh.stop.store(true, Ordering::SeqCst);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let r: Vec<ReaderStats> = rh
            .into_iter()
            .map(|h| h.join().expect("a torture reader panicked"))
            .collect();
        let w: Vec<(WriterStats, Option<HashSet<IpNet>>)> = wh
            .into_iter()
            .map(|h| h.join().expect("a torture writer panicked"))
            .collect();
        let (events, lost) = mh.join().expect("the torture monitor panicked");
        report.delete_events = events;
        report.events_lost = lost;
        (r, w)
    });
    let mut model = None;
    let wstats: Vec<WriterStats> = wstats
        .into_iter()
        .map(|(s, p)| {
            if p.is_some() {
                model = p;
            }
            s
        })
        .collect();
    report.elapsed = start.elapsed();
    for r in &rstats {
        report.cache_packets += r.cache_packets;
        report.alloc_failures += r.alloc_failures;
        report.cache_hits += r.cache_hits;
        report.table_lookups += r.table_lookups;
        report.routes_checked += r.routes_checked;
        report.coherence_checks += r.coherence_checks;
        report.if_lookups += r.if_lookups;
        report.addr_lookups += r.addr_lookups;
        report.vtw_lookups += r.vtw_lookups;
    }
    for w in &wstats {
        report.route_adds += w.route_adds;
        report.route_deletes += w.route_deletes;
        report.route_changes += w.route_changes;
        report.updates_replayed += w.updates_replayed;
        report.detaches += w.detaches;
        report.attaches += w.attaches;
        report.addr_adds += w.addr_adds;
        report.addr_removes += w.addr_removes;
        report.vtw_inserts += w.vtw_inserts;
        report.vtw_removes += w.vtw_removes;
        report.max_delete = report.max_delete.max(w.max_delete);
        report.max_change = report.max_change.max(w.max_change);
        report.max_detach = report.max_detach.max(w.max_detach);
        report.max_addr_remove = report.max_addr_remove.max(w.max_addr_remove);
    }
    // Quiescent end-of-run checks: the tables agree with the writer's model.
    final_checks(&stack, &sh, &table, model.as_ref());
    report.violations = ViolationKind::ALL
        .iter()
        .map(|&k| (k, sh.violations[k.index()].load(Ordering::Relaxed)))
        .collect();
    if report.violation_count() == 0 {
        Ok(report)
    } else {
        let first = std::mem::take(&mut *sh.first.lock().unwrap_or_else(|e| e.into_inner()));
        Err(TortureFailure {
            first,
            report: Box::new(report),
        })
    }
}

/// After the threads ended: the route table holds exactly the writer's model of the
/// replayed prefixes (sampled), a cache filled now agrees with the table, and the
/// TIME_WAIT table's length agrees with its counters.
fn final_checks(stack: &Stack, sh: &Shared, table: &[IpNet], model: Option<&HashSet<IpNet>>) {
    let rt = stack.routes();
    let mut rng = SplitMix64::new(0xE0D);
    if let Some(model) = model
        && !table.is_empty()
    {
        for _ in 0..table.len().min(4096) {
            let p = table[rng.below(table.len() as u64) as usize];
            let there = rt.get(&RouteKey::new(p)).is_ok();
            if there != model.contains(&p) {
                sh.violation(ViolationKind::Inconsistent, || {
                    format!(
                        "at rest, route {p} is {} the table but {} the writer's model",
                        if there { "in" } else { "not in" },
                        if there { "not in" } else { "in" }
                    )
                });
            }
            let d = ifa_of(p.addr());
            let fresh = rt.lookup(d, false).map(|r| r.id());
            let mut c = crate::route::RouteCache::new();
            let (cached, _) = c.lookup(rt, d);
            let cached = cached.map(|r| r.id());
            if fresh != cached {
                sh.violation(ViolationKind::Inconsistent, || {
                    format!("at rest, a cache fill for {d} gives {cached:?}, the table {fresh:?}")
                });
            }
        }
    }
    let mut bad = Vec::new();
    stack.vtw().for_each_table::<Ipv4Addr>(|t, _| {
        let (len, st) = (t.len() as u64, *t.stats());
        let gone = st.deletes + st.expired + st.evicted + st.rst_kills + st.reopens + st.tw_reuses;
        if st.inserts.checked_sub(gone) != Some(len) {
            bad.push((len, st));
        }
    });
    for (len, st) in bad {
        sh.violation(ViolationKind::Inconsistent, || {
            format!("a TIME_WAIT table holds {len} entries, its counters say {st:?}")
        });
    }
}

fn flow_dst(rng: &mut SplitMix64, table: &[IpNet]) -> IfaAddr {
    let pick = rng.below(16);
    let ip = if pick < 2 {
        let k = rng.below(CHURN_IFS as u64) as u8;
        IpAddr::V4(Ipv4Addr::new(198, 18, k, rng.below(256) as u8))
    } else if pick < 3 {
        IpAddr::V4(Ipv4Addr::new(
            100,
            64,
            rng.below(CANDIDATES as u64) as u8,
            7,
        ))
    } else if table.is_empty() {
        IpAddr::V4(Ipv4Addr::from_bits(rng.next_u64() as u32))
    } else {
        let p = table[rng.below(table.len() as u64) as usize];
        match p {
            IpNet::V4(n) => {
                let host = !u32::from(n.netmask()) & rng.next_u64() as u32;
                IpAddr::V4(Ipv4Addr::from_bits(u32::from(n.network()) | host))
            }
            IpNet::V6(n) => {
                let r = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
                let host = !u128::from(n.netmask()) & r;
                IpAddr::V6(Ipv6Addr::from_bits(u128::from(n.network()) | host))
            }
        }
    };
    ifa_of(ip)
}

// ------------------------------------------------------------------------- readers

#[derive(Default)]
struct ReaderStats {
    alloc_failures: u64,
    cache_packets: u64,
    cache_hits: u64,
    table_lookups: u64,
    routes_checked: u64,
    coherence_checks: u64,
    if_lookups: u64,
    addr_lookups: u64,
    vtw_lookups: u64,
}

fn check_route(sh: &Shared, e: &RtEntry, dst: &IfaAddr, s0: u64, how: &str) {
    if !e.is_intact() {
        sh.violation(ViolationKind::FreedObject, || {
            format!("{how}: route id {} for {dst} is freed", e.id())
        });
        return;
    }
    if !e.dst().contains(&dst.ip()) {
        sh.violation(ViolationKind::WrongObject, || {
            format!(
                "{how}: route {} (id {}) does not cover {dst}",
                e.dst(),
                e.id()
            )
        });
    }
    let del = sh.route_stamps.get(e.id());
    if del != 0 && del <= s0 {
        sh.violation(ViolationKind::StaleRoute, || {
            format!(
                "{how}: route {} (id {}) for {dst} was returned although its delete \
                 completed at sequence {del}, before the lookup started (sequence {s0})",
                e.dst(),
                e.id()
            )
        });
    }
}

fn reader(stack: &Stack, sh: &Shared, flows: Vec<IfaAddr>, seed: u64) -> ReaderStats {
    let mut st = ReaderStats::default();
    let mut rng = SplitMix64::new(seed);
    let rt = stack.routes();
    let ifs = stack.ifs();
    let mut caches: Vec<(IfaAddr, crate::route::RouteCache)> = flows
        .into_iter()
        .map(|d| (d, crate::route::RouteCache::new()))
        .collect();
    let n = caches.len() as u64;
    while !sh.stopped() {
        let op = rng.below(16);
        let s0 = sh.seq.load(Ordering::SeqCst);
        match op {
            // A packet of a flow: validate its cache (refill on a miss).
            0..=9 => {
                // Skewed: half the packets go to an eighth of the flows.
                let i = if rng.below(2) == 0 {
                    rng.below(n.div_ceil(8))
                } else {
                    rng.below(n)
                } as usize;
                let f0 = sh.finished.load(Ordering::SeqCst);
                let b0 = sh.started.load(Ordering::SeqCst);
                let (dst, cache) = &mut caches[i];
                let dst = *dst;
                if rng.below(64) == 0 {
                    // Failure injection: `rtcache_setdst` gets ENOMEM. The packet finds
                    // no route, the cache is left empty, the next packet refills it.
                    st.alloc_failures += 1;
                    cache.free();
                    cache.fail_next_alloc();
                    let (r, hit) = cache.lookup(rt, dst);
                    let bad = r.is_some() || hit;
                    drop(r);
                    if bad || cache.dst().is_some() || cache.has_route() {
                        sh.violation(ViolationKind::Inconsistent, || {
                            format!("a route cache for {dst} is not empty after ENOMEM")
                        });
                    }
                    continue;
                }
                let (r, hit) = cache.lookup(rt, dst);
                st.cache_packets += 1;
                let Some(r) = r else { continue };
                if hit {
                    st.cache_hits += 1;
                }
                st.routes_checked += 1;
                check_route(sh, &r, &dst, s0, "cache");
                let id = r.id();
                if rng.below(8) == 0 {
                    std::thread::yield_now();
                    check_route(sh, &r, &dst, s0, "cache, after a yield");
                }
                drop(r);
                // Coherence: with no writer call in flight from before the validate to
                // after the fresh lookup, both must name the same route.
                if hit && f0 == b0 {
                    let fresh = {
                        let g = stack.domain().read();
                        rt.lookup_shared(&g, &dst).map(|e| e.id())
                    };
                    if sh.started.load(Ordering::SeqCst) == b0 {
                        st.coherence_checks += 1;
                        if fresh != Some(id) {
                            sh.violation(ViolationKind::IncoherentCache, || {
                                format!(
                                    "cache hit for {dst} gave route id {id}, a fresh lookup \
                                     {fresh:?}, with no writer call in between"
                                )
                            });
                        }
                    }
                }
            }
            // rtalloc1 with a reference held across a yield, then its interface.
            10 | 11 => {
                let dst = caches[rng.below(n) as usize].0;
                st.table_lookups += 1;
                let Some(r) = rt.lookup(dst, false) else {
                    continue;
                };
                st.routes_checked += 1;
                check_route(sh, &r, &dst, s0, "lookup");
                if rng.below(4) == 0 {
                    std::thread::yield_now();
                    check_route(sh, &r, &dst, s0, "lookup, after a yield");
                }
                if let Some(ix) = r.ifindex() {
                    st.if_lookups += 1;
                    if let Some(ifp) = ifs.get_by_index(ix) {
                        check_ifnet(sh, &ifp, ix, s0, "route's interface");
                    }
                }
                if let Some(a) = r.ifa()
                    && !a.is_intact()
                {
                    sh.violation(ViolationKind::FreedObject, || {
                        format!("the source address of route id {} is freed", r.id())
                    });
                }
            }
            // One read section covering the route and its interface.
            12 => {
                let dst = caches[rng.below(n) as usize].0;
                st.table_lookups += 1;
                let g = stack.domain().read();
                if let Some(e) = rt.lookup_shared(&g, &dst) {
                    st.routes_checked += 1;
                    check_route(sh, &e, &dst, s0, "lookup_shared");
                    if let Some(ix) = e.ifindex() {
                        st.if_lookups += 1;
                        if let Some(ifp) = ifs.byindex(&g, ix) {
                            check_ifnet(sh, &ifp, ix, s0, "byindex in the route's section");
                        }
                    }
                }
            }
            // An address by value (the candidates come and go).
            13 => {
                let j = rng.below(CANDIDATES as u64) as usize;
                let a = candidate(j);
                st.addr_lookups += 1;
                if let Some(ifa) = ifs.ifa_ifwithaddr(a) {
                    if !ifa.is_intact() {
                        sh.violation(ViolationKind::FreedObject, || {
                            format!("address {a} is freed")
                        });
                    }
                    if ifa.ip() != IpAddr::V4(a) {
                        sh.violation(ViolationKind::WrongObject, || {
                            format!("looked up {a}, got {}", ifa.ip())
                        });
                    }
                    if rng.below(4) == 0 {
                        std::thread::yield_now();
                    }
                    let state = sh.addr_state[j].load(Ordering::SeqCst);
                    if state & 1 == 0 && state != 0 && state >> 1 <= s0 {
                        sh.violation(ViolationKind::StaleAddress, || {
                            format!(
                                "address {a} found although its removal completed at \
                                 sequence {}, before the lookup (sequence {s0})",
                                state >> 1
                            )
                        });
                    }
                    if !ifa.is_intact() {
                        sh.violation(ViolationKind::FreedObject, || {
                            format!("address {a} freed while referenced")
                        });
                    }
                }
            }
            // An interface by index.
            14 => {
                let max = sh.max_index.load(Ordering::Relaxed).max(1);
                let Some(ix) = IfIndex::new(1 + rng.below(max) as u32) else {
                    continue;
                };
                st.if_lookups += 1;
                if let Some(ifp) = ifs.get_by_index(ix) {
                    check_ifnet(sh, &ifp, ix, s0, "get_by_index");
                    if rng.below(4) == 0 {
                        std::thread::yield_now();
                        check_ifnet(sh, &ifp, ix, s0, "get_by_index, after a yield");
                    }
                }
            }
            // TIME_WAIT.
            _ => {
                let t = vtw_tuple(rng.below(VTW_TUPLES));
                st.vtw_lookups += 1;
                if let Some(e) = stack.vtw().lookup(&t)
                    && (e.tuple != t || e.snd_nxt != vtw_snd_nxt(&t))
                {
                    sh.violation(ViolationKind::WrongObject, || {
                        format!("TIME_WAIT lookup of {t:?} returned {e:?}")
                    });
                }
            }
        }
    }
    st
}

fn check_ifnet(sh: &Shared, ifp: &crate::ifnet::Ifnet, ix: IfIndex, s0: u64, how: &str) {
    if !ifp.is_intact() {
        sh.violation(ViolationKind::FreedObject, || {
            format!("{how}: interface {ix} is freed")
        });
        return;
    }
    if ifp.index() != ix {
        sh.violation(ViolationKind::WrongObject, || {
            format!("{how}: asked for index {ix}, got {}", ifp.index())
        });
    }
    let det = sh.if_stamps.get(ifp.attach_id());
    if det != 0 && det <= s0 {
        sh.violation(ViolationKind::StaleInterface, || {
            format!(
                "{how}: interface {} (attach id {}) found although its detach completed at \
                 sequence {det}, before the lookup (sequence {s0})",
                ifp.name(),
                ifp.attach_id()
            )
        });
    }
}

// ------------------------------------------------------------------------- writers

fn record_route_delete(sh: &Shared, id: u64) {
    let s = sh.complete();
    sh.route_stamps.mark(id, s);
    sh.publish(s);
}

/// The routing daemon: stamps the routes `RTM_DELETE` messages name, until the run
/// stops and the queue is empty. Returns (messages, losses).
fn monitor(sh: &Shared, mut sub: Subscription) -> (u64, u64) {
    let (mut n, mut lost) = (0, 0);
    loop {
        match sub.next_timeout(Duration::from_millis(20)) {
            Some(Notice::Event {
                event: Event::Route(RouteEvent::Delete(info)),
                ..
            }) => {
                n += 1;
                record_route_delete(sh, info.id);
            }
            Some(Notice::Lost { count }) => lost += count,
            Some(_) => {}
            None if sh.stopped() => return (n, lost),
            None => {}
        }
    }
}

#[derive(Clone, Copy)]
enum Role {
    All,
    Routes,
    Interfaces,
    TimeWait,
}

#[derive(Default)]
struct WriterStats {
    route_adds: u64,
    route_deletes: u64,
    route_changes: u64,
    updates_replayed: u64,
    detaches: u64,
    attaches: u64,
    addr_adds: u64,
    addr_removes: u64,
    vtw_inserts: u64,
    vtw_removes: u64,
    max_delete: Duration,
    max_change: Duration,
    max_detach: Duration,
    max_addr_remove: Duration,
}

struct Writer<'a> {
    stack: &'a Stack,
    sh: &'a Shared,
    rng: SplitMix64,
    bound: Duration,
    churn: [Option<IfIndex>; CHURN_IFS],
    cand: [bool; CANDIDATES],
    cursor: usize,
    stats: WriterStats,
}

impl<'a> Writer<'a> {
    fn new(stack: &'a Stack, sh: &'a Shared, seed: u64, bound: Duration) -> Self {
        Self {
            stack,
            sh,
            rng: SplitMix64::new(seed),
            bound,
            churn: [None; CHURN_IFS],
            cand: [false; CANDIDATES],
            cursor: 0,
            stats: WriterStats::default(),
        }
    }

    fn run(&mut self, role: Role, updates: &[Update<IpNet>], present: &mut HashSet<IpNet>) {
        // Start from a random point of the stream so that writers with other seeds
        // replay other parts.
        if !updates.is_empty() {
            self.cursor = self.rng.below(updates.len() as u64) as usize;
        }
        while !self.sh.stopped() {
            let kind = match role {
                Role::Routes => 0,
                Role::Interfaces => 1 + self.rng.below(3),
                Role::TimeWait => 3,
                Role::All => match self.rng.below(16) {
                    0..=11 => 0,
                    12 | 13 => 1,
                    14 => 2,
                    _ => 3,
                },
            };
            match kind {
                0 => self.route_op(updates, present),
                1 => self.interface_op(),
                2 => self.address_op(),
                _ => self.vtw_op(),
            }
            self.sh.count_op(1);
            // Leave the readers quiet windows now and then (the coherence check needs
            // them) and let them run on a loaded machine.
            if self.rng.below(4) == 0 {
                std::thread::yield_now();
            }
        }
        // Take back what this writer attached, so every detach is timed and checked.
        for k in 0..CHURN_IFS {
            if self.churn[k].is_some() {
                self.detach(k);
            }
        }
    }

    fn timed(&self, what: &str, max: &mut Duration, t0: Instant) {
        let d = t0.elapsed();
        *max = (*max).max(d);
        if d > self.bound {
            self.sh.violation(ViolationKind::SlowDestroy, || {
                format!("{what} took {d:?} (bound {:?})", self.bound)
            });
        }
    }

    fn record_route_delete(&self, id: u64) {
        record_route_delete(self.sh, id);
    }

    fn route_op(&mut self, updates: &[Update<IpNet>], present: &mut HashSet<IpNet>) {
        if updates.is_empty() {
            return;
        }
        let u = updates[self.cursor % updates.len()];
        self.cursor = self.cursor.wrapping_add(1);
        self.stats.updates_replayed += 1;
        let rt = self.stack.routes();
        let sh = self.sh;
        match u {
            Update::Announce(p) if present.contains(&p) => {
                // A re-announcement: the next hop moves (RTM_CHANGE).
                let gw = gateway(p.addr().is_ipv6(), self.rng.next_u64());
                sh.begin();
                let t0 = Instant::now();
                let r = rt.change(&RouteSpec::new(p).via(gw), None);
                sh.end();
                let mut max = self.stats.max_change;
                self.timed("route change", &mut max, t0);
                self.stats.max_change = max;
                match r {
                    Ok(_) => self.stats.route_changes += 1,
                    Err(e) => sh.violation(ViolationKind::Inconsistent, || {
                        format!("change of present route {p} failed: {e}")
                    }),
                }
            }
            Update::Announce(p) => {
                let gw = gateway(p.addr().is_ipv6(), self.rng.next_u64());
                sh.begin();
                let r = rt.add(&RouteSpec::new(p).via(gw));
                sh.end();
                match r {
                    Ok(_) => {
                        self.stats.route_adds += 1;
                        present.insert(p);
                    }
                    // A real stream may announce what a stable route already covers
                    // exactly (a connected subnet): the writer owns it from now on.
                    Err(RouteError::Exists { .. }) => {
                        present.insert(p);
                    }
                    Err(e) => sh.violation(ViolationKind::Inconsistent, || {
                        format!("add of absent route {p} failed: {e}")
                    }),
                }
            }
            Update::Withdraw(p) if present.contains(&p) => {
                sh.begin();
                let t0 = Instant::now();
                let r = rt.delete(&RouteKey::new(p));
                sh.end();
                let mut max = self.stats.max_delete;
                self.timed("route delete", &mut max, t0);
                self.stats.max_delete = max;
                match r {
                    Ok(info) => {
                        self.stats.route_deletes += 1;
                        present.remove(&p);
                        self.record_route_delete(info.id);
                    }
                    Err(e) => sh.violation(ViolationKind::Inconsistent, || {
                        format!("delete of present route {p} failed: {e}")
                    }),
                }
            }
            // Withdrawing an absent prefix (real streams do): must say so.
            Update::Withdraw(p) => {
                if let Ok(info) = rt.get(&RouteKey::new(p))
                    && info.metric == 0
                {
                    sh.violation(ViolationKind::Inconsistent, || {
                        format!("route {p} exists although the writer deleted it: {info:?}")
                    });
                }
            }
        }
    }

    fn attach(&mut self, k: usize) {
        let ifs = self.stack.ifs();
        let sh = self.sh;
        let name = format!("vif{k}");
        sh.begin();
        let r = ifs.attach(
            IfConfig::new(name.as_str()).flags(IfFlags::UP | IfFlags::BROADCAST | IfFlags::RUNNING),
        );
        let ix = match r {
            Ok(ix) => ix,
            Err(e) => {
                sh.end();
                sh.violation(ViolationKind::Inconsistent, || {
                    format!("attach of {name} failed: {e}")
                });
                return;
            }
        };
        sh.max_index
            .fetch_max(u64::from(ix.get()), Ordering::Relaxed);
        let (a, gw, a6) = churn_addrs(k);
        let mut ok = ifs.add_addr(ix, AddrSpec::new(a, 28)).is_ok();
        ok &= ifs.add_addr(ix, AddrSpec::new(a6, 64)).is_ok();
        for p in churn_routes(k) {
            ok &= self.stack.routes().add(&RouteSpec::new(p).via(gw)).is_ok();
        }
        sh.end();
        if !ok {
            sh.violation(ViolationKind::Inconsistent, || {
                format!("configuring {name} (index {ix}) failed")
            });
        }
        self.stats.attaches += 1;
        self.churn[k] = Some(ix);
    }

    fn detach(&mut self, k: usize) {
        let Some(ix) = self.churn[k].take() else {
            return;
        };
        let ifs = self.stack.ifs();
        let sh = self.sh;
        let attach_id = ifs.get_by_index(ix).map(|i| i.attach_id());
        sh.begin();
        let t0 = Instant::now();
        let r = ifs.detach(ix);
        sh.end();
        let mut max = self.stats.max_detach;
        self.timed("interface detach", &mut max, t0);
        self.stats.max_detach = max;
        match (r, attach_id) {
            (Ok(()), Some(id)) => {
                self.stats.detaches += 1;
                let s = sh.complete();
                sh.if_stamps.mark(id, s);
                sh.publish(s);
            }
            (r, id) => sh.violation(ViolationKind::Inconsistent, || {
                format!("detach of vif{k} (index {ix}, attach id {id:?}) gave {r:?}")
            }),
        }
    }

    fn interface_op(&mut self) {
        let k = self.rng.below(CHURN_IFS as u64) as usize;
        if self.churn[k].is_some() {
            self.detach(k);
        } else {
            self.attach(k);
        }
    }

    fn address_op(&mut self) {
        let j = self.rng.below(CANDIDATES as u64) as usize;
        let ifs = self.stack.ifs();
        let sh = self.sh;
        let Some(eth0) = ifs.get("eth0").map(|i| i.index()) else {
            sh.violation(ViolationKind::Inconsistent, || "eth0 vanished".into());
            return;
        };
        let a = candidate(j);
        if self.cand[j] {
            sh.begin();
            let t0 = Instant::now();
            let r = ifs.remove_addr(eth0, a);
            sh.end();
            let mut max = self.stats.max_addr_remove;
            self.timed("address removal", &mut max, t0);
            self.stats.max_addr_remove = max;
            match r {
                Ok(()) => {
                    self.stats.addr_removes += 1;
                    self.cand[j] = false;
                    let s = sh.complete();
                    sh.addr_state[j].store(s << 1, Ordering::SeqCst);
                    sh.publish(s);
                }
                Err(e) => sh.violation(ViolationKind::Inconsistent, || {
                    format!("removal of {a} failed: {e}")
                }),
            }
        } else {
            let s = sh.next_seq.load(Ordering::SeqCst);
            sh.addr_state[j].store((s << 1) | 1, Ordering::SeqCst);
            sh.begin();
            let r = ifs.add_addr(eth0, AddrSpec::new(a, 24));
            sh.end();
            match r {
                Ok(_) => {
                    self.stats.addr_adds += 1;
                    self.cand[j] = true;
                }
                Err(e) => sh.violation(ViolationKind::Inconsistent, || {
                    format!("add of {a} failed: {e}")
                }),
            }
        }
    }

    fn vtw_op(&mut self) {
        let vtw = self.stack.vtw();
        let t = vtw_tuple(self.rng.below(VTW_TUPLES));
        match self.rng.below(8) {
            0..=4 => {
                let info = TimeWaitInfo {
                    snd_nxt: vtw_snd_nxt(&t),
                    rcv_nxt: 1,
                    rcv_wnd: 65_535,
                    rcv_wscale: 0,
                    ts_recent: None,
                    uid: 0,
                    reuse_addr: false,
                    reuse_port: false,
                    v6only: false,
                };
                let class = [MslClass::Loopback, MslClass::Local, MslClass::Remote]
                    [self.rng.below(3) as usize];
                if vtw.insert(t, class, info).is_ok() {
                    self.stats.vtw_inserts += 1;
                }
            }
            5 | 6 => {
                if let Some(e) = vtw.remove(&t) {
                    self.stats.vtw_removes += 1;
                    if e.tuple != t || e.snd_nxt != vtw_snd_nxt(&t) {
                        self.sh.violation(ViolationKind::WrongObject, || {
                            format!("TIME_WAIT remove of {t:?} returned {e:?}")
                        });
                    }
                    if vtw.contains(&t) {
                        self.sh.violation(ViolationKind::Inconsistent, || {
                            format!("TIME_WAIT {t:?} still there after its removal")
                        });
                    }
                }
            }
            _ => {
                vtw.expire();
            }
        }
    }
}

/// Parses a table file's text: one prefix per line (`prefix` or `prefix nexthop`),
/// `#` comments and blank lines skipped. Host bits are cleared. Errors name the line.
pub fn parse_table(text: &str) -> Result<Vec<IpNet>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let p = line.split_whitespace().next().unwrap_or("");
        let net: IpNet = p
            .parse()
            .map_err(|e| format!("line {}: {p:?}: {e}", n + 1))?;
        out.push(net.trunc());
    }
    Ok(out)
}

/// Parses an update file's text: `A prefix` / `W prefix` lines, `#` comments and blank
/// lines skipped. Errors name the line.
pub fn parse_updates(text: &str) -> Result<Vec<Update<IpNet>>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.split_whitespace();
        let (op, p) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
        let net: IpNet = p
            .parse()
            .map_err(|e| format!("line {}: {p:?}: {e}", n + 1))?;
        out.push(match op {
            "A" => Update::Announce(net.trunc()),
            "W" => Update::Withdraw(net.trunc()),
            _ => return Err(format!("line {}: expected A or W, got {op:?}", n + 1)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_mark_once_and_read_back() {
        let s = Stamps::new(2);
        assert_eq!(s.get(5), 0);
        assert!(s.mark(5, 9));
        assert!(s.mark(5, 11));
        assert_eq!(s.get(5), 9);
        assert!(s.mark(70_000, 3));
        assert_eq!(s.get(70_000), 3);
        assert!(!s.mark(1 << 40, 1));
        assert_eq!(s.get(1 << 40), 0);
    }

    #[test]
    fn parsers_accept_the_ris_formats_and_name_bad_lines() {
        let t = parse_table("# c\n10.0.0.0/8 192.0.2.1\n\n2001:db8::/32\n").unwrap();
        assert_eq!(t.len(), 2);
        let u = parse_updates("# c\nA 10.1.0.0/16\nW 2001:db8::/32\n").unwrap();
        assert_eq!(u.len(), 2);
        assert!(matches!(u[1], Update::Withdraw(_)));
        assert!(
            parse_updates("X 10.0.0.0/8")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse_table("a\nnot-a-prefix")
                .unwrap_err()
                .contains("line 1")
        );
    }

    #[test]
    fn a_short_run_passes_and_counts() {
        let cfg = TortureConfig {
            seconds: 0.5,
            readers: 2,
            writers: 2,
            scale: 0.002,
            ..TortureConfig::default()
        };
        match run(&cfg) {
            Ok(r) => {
                assert!(r.cache_packets > 0 && r.routes_checked > 0, "{r:?}");
                assert!(r.writer_ops() > 0, "{r:?}");
            }
            Err(f) if MUTATION.is_some() => eprintln!("{f}"),
            Err(f) => panic!("{f}"),
        }
    }
}
