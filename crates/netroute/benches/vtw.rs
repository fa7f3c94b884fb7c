//! VTW benchmark: the compact TIME_WAIT table against a `Mutex<HashMap>` + FIFO and a
//! `DashMap` + FIFO holding the same fields, all at 1 M entries, in one run.
//!
//! Run: `cargo bench -p netroute --bench vtw`. Besides criterion's figures it prints
//! `VTW-MEM` lines (bytes per entry, counted by a counting global allocator) and
//! `VTW-EXPIRE` lines (bulk expiry rate).
//!
//! Scenarios: one class with capacity C = 1,111,111 (so 1 M live = 90 %), one insert per
//! simulated millisecond, TIME_WAIT set to C/2, 1 M or (for "100") longer than the run,
//! so each insert expires (or evicts) one old entry in steady state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dashmap::DashMap;
use netroute::timewait::{
    ClassCapacities, LocalAddrId, MslClass, TimeWaitInfo, Tuple, VtwAddr, VtwConfig, VtwTable,
};
use parking_lot::Mutex;

// ------------------------------------------------------------ counting allocator

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is bookkeeping only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` was allocated by `System` with layout `l` (through us).
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` was allocated by `System` with layout `l`; same contract forwarded.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

// ------------------------------------------------------------ clocks

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): time the thread ran,
/// without the time other processes had the CPU. With `VTW_CPU_TIME` set, the
/// single-thread benchmarks report this instead of wall time, so a loaded machine
/// measures the table's cost rather than the scheduler's share (cache pollution by the
/// other processes still counts).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` and returns its duration: thread CPU time under `VTW_CPU_TIME`, else wall.
fn timed(f: impl FnOnce()) -> Duration {
    if std::env::var_os("VTW_CPU_TIME").is_some() {
        let t0 = thread_cpu();
        f();
        thread_cpu() - t0
    } else {
        let t0 = Instant::now();
        f();
        t0.elapsed()
    }
}

// ------------------------------------------------------------ keys

const CAP: u32 = 1_111_111;
const LIVE_90: u64 = 1_000_000;

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds the i-th tuple; distinct for distinct i < 2^32 (the address is a bijection of i).
trait Key: VtwAddr + std::hash::Hash {
    fn nth(i: u64) -> Self;
    /// The j-th attacker tuple (server port 443, local address 0): all tuples collide under
    /// NetBSD's tuple hash. IPv4: `v4_tag` is the unkeyed sum faddr + fport + laddr +
    /// lport, and 65,536 tuples share each of 2^20 sums; IPv6: NetBSD's tag is 0 without
    /// `IN6_HASH`, so any tuples collide and these are consecutive addresses.
    fn attack(j: u64) -> Tuple<Self>;
}

impl Key for Ipv4Addr {
    fn nth(i: u64) -> Self {
        Ipv4Addr::from_bits((i as u32).wrapping_mul(0x9e37_79b1) ^ 0x5bd1_e995)
    }
    fn attack(j: u64) -> Tuple<Self> {
        let fport = (j % 65_536) as u16;
        let sum = 0x5000_0000u32.wrapping_add(((j / 65_536) as u32).wrapping_mul(0x1000));
        Tuple {
            local: LocalAddrId(0),
            lport: 443,
            faddr: Ipv4Addr::from_bits(sum.wrapping_sub(u32::from(fport)).wrapping_sub(443)),
            fport,
        }
    }
}

impl Key for Ipv6Addr {
    fn attack(j: u64) -> Tuple<Self> {
        Tuple {
            local: LocalAddrId(0),
            lport: 443,
            faddr: Ipv6Addr::from_bits((0x2001_0db8u128 << 96) | u128::from(j >> 4)),
            fport: 1024 + (j & 15) as u16,
        }
    }
    fn nth(i: u64) -> Self {
        Ipv6Addr::from_bits(
            (0x2001_0db8u128 << 96) | u128::from(mix(i)) << 32 | u128::from(i as u32),
        )
    }
}

fn tuple<A: Key>(i: u64, client: bool) -> Tuple<A> {
    let r = mix(i ^ 0xabcd);
    Tuple {
        local: LocalAddrId(0),
        lport: if client {
            32_768 + (r % 28_232) as u16
        } else {
            443
        },
        faddr: A::nth(i),
        fport: (r >> 40) as u16,
    }
}

fn info(i: u64) -> TimeWaitInfo {
    TimeWaitInfo {
        snd_nxt: i as u32,
        rcv_nxt: (i >> 3) as u32,
        rcv_wnd: 65_535 << 7,
        rcv_wscale: 7,
        ts_recent: Some(i as u32),
        uid: 1000,
        reuse_addr: false,
        reuse_port: false,
        v6only: false,
    }
}

/// The peers store the full fields (no interning, no derivation): what a straightforward
/// table would keep.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct FullValue {
    snd_nxt: u32,
    rcv_nxt: u32,
    rcv_wnd: u32,
    ts_recent: u32,
    ts_offset: u32,
    uid: u32,
    expire_ms: u64,
    flags: u8,
    wscale: u8,
    class: u8,
}

fn full(i: u64, now: u64) -> FullValue {
    FullValue {
        snd_nxt: i as u32,
        rcv_nxt: (i >> 3) as u32,
        rcv_wnd: 65_535 << 7,
        ts_recent: i as u32,
        ts_offset: 7,
        uid: 1000,
        expire_ms: now,
        flags: 0,
        wscale: 7,
        class: 1,
    }
}

// ------------------------------------------------------------ the tables under test

trait TwMap {
    fn name(&self) -> &'static str;
    fn insert(&self, i: u64, now: u64);
    /// Inserts `start..start + n` at time `start + n - 1` (one clock read per batch).
    fn insert_batch(&self, start: u64, n: u64) {
        for i in start..start + n {
            self.insert(i, i);
        }
    }
    fn contains(&self, i: u64, now: u64) -> bool;
    fn expire(&self, now: u64) -> usize;
}

struct Vtw<A: Key> {
    t: Mutex<VtwTable<A>>,
    name: &'static str,
    client: bool,
    /// Whether `insert_batch` uses [`VtwTable::insert_batch`] (else one insert per item).
    batch: bool,
    /// Whether index i stands for `Key::attack(i)` instead of a random tuple.
    attack: bool,
}

impl<A: Key> Vtw<A> {
    fn key(&self, i: u64) -> Tuple<A> {
        if self.attack {
            A::attack(i)
        } else {
            tuple::<A>(i, self.client)
        }
    }
}

/// Items per `VtwTable::insert_batch` call in the batch variants.
const BATCH: u64 = 16;

impl<A: Key> Vtw<A> {
    fn new(tw_ms: u64, name: &'static str, client: bool) -> Self {
        let mut c = VtwConfig {
            capacity: ClassCapacities {
                loopback: 0,
                local: 0,
                remote: CAP,
            },
            mark_granularity_ms: 1000,
            ..VtwConfig::with_entries(3)
        };
        c.tunables.msl_remote_ms = tw_ms / 2;
        Vtw {
            t: Mutex::new(VtwTable::new(c).expect("config")),
            name,
            client,
            batch: false,
            attack: false,
        }
    }
}

impl<A: Key> TwMap for Vtw<A> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn insert(&self, i: u64, now: u64) {
        let _ = self
            .t
            .lock()
            .insert(self.key(i), MslClass::Remote, info(i), now);
    }
    fn insert_batch(&self, start: u64, n: u64) {
        if !self.batch {
            for i in start..start + n {
                self.insert(i, i);
            }
            return;
        }
        let mut items = [(tuple::<A>(0, false), MslClass::Remote, info(0)); BATCH as usize];
        let mut i = start;
        while i < start + n {
            let k = (start + n - i).min(BATCH);
            for (j, it) in items[..k as usize].iter_mut().enumerate() {
                let x = i + j as u64;
                *it = (self.key(x), MslClass::Remote, info(x));
            }
            self.t
                .lock()
                .insert_batch(&items[..k as usize], i + k - 1, |_, r| {
                    black_box(r.is_ok());
                });
            i += k;
        }
    }
    fn contains(&self, i: u64, now: u64) -> bool {
        self.t.lock().contains(&self.key(i), now)
    }
    fn expire(&self, now: u64) -> usize {
        self.t.lock().expire(now)
    }
}

/// The same table without a lock (a `RefCell`): what one owning thread gets, and how much
/// of the locked figure is the lock's atomic read-modify-write.
struct VtwUnlocked<A: Key>(std::cell::RefCell<VtwTable<A>>);

impl<A: Key> TwMap for VtwUnlocked<A> {
    fn name(&self) -> &'static str {
        "vtw_v4_unlocked"
    }
    fn insert(&self, i: u64, now: u64) {
        let _ = self
            .0
            .borrow_mut()
            .insert(tuple::<A>(i, false), MslClass::Remote, info(i), now);
    }
    fn contains(&self, i: u64, now: u64) -> bool {
        self.0.borrow_mut().contains(&tuple::<A>(i, false), now)
    }
    fn expire(&self, now: u64) -> usize {
        self.0.borrow_mut().expire(now)
    }
}

type K4 = (u32, u16, u32, u16);

fn k4(i: u64) -> K4 {
    let t = tuple::<Ipv4Addr>(i, false);
    (0x0a00_0001, t.lport, t.faddr.to_bits(), t.fport)
}

type Fifo = VecDeque<(u64, K4)>;

/// `Mutex<HashMap>` (std SipHash-1-3 with a random key) plus a FIFO of (time, key).
struct MapFifo {
    m: Mutex<(HashMap<K4, FullValue>, Fifo)>,
    tw: u64,
}

impl MapFifo {
    fn new(tw: u64) -> Self {
        MapFifo {
            m: Mutex::new((HashMap::new(), VecDeque::new())),
            tw,
        }
    }
}

fn expire_fifo(
    q: &mut VecDeque<(u64, K4)>,
    now: u64,
    tw: u64,
    mut remove: impl FnMut(&K4),
) -> usize {
    let mut n = 0;
    while let Some(&(at, k)) = q.front() {
        if at + tw > now {
            break;
        }
        q.pop_front();
        remove(&k);
        n += 1;
    }
    n
}

impl TwMap for MapFifo {
    fn name(&self) -> &'static str {
        "mutex_hashmap_v4"
    }
    fn insert(&self, i: u64, now: u64) {
        let mut g = self.m.lock();
        let (m, q) = &mut *g;
        expire_fifo(q, now, self.tw, |k| {
            m.remove(k);
        });
        if m.len() >= CAP as usize
            && let Some((_, k)) = q.pop_front()
        {
            m.remove(&k);
        }
        let k = k4(i);
        m.insert(k, full(i, now));
        q.push_back((now, k));
    }
    fn contains(&self, i: u64, _now: u64) -> bool {
        self.m.lock().0.contains_key(&k4(i))
    }
    fn expire(&self, now: u64) -> usize {
        let mut g = self.m.lock();
        let (m, q) = &mut *g;
        expire_fifo(q, now, self.tw, |k| {
            m.remove(k);
        })
    }
}

/// `DashMap` (sharded locks) plus a FIFO under its own mutex.
struct DashFifo {
    m: DashMap<K4, FullValue>,
    q: Mutex<VecDeque<(u64, K4)>>,
    tw: u64,
}

impl TwMap for DashFifo {
    fn name(&self) -> &'static str {
        "dashmap_v4"
    }
    fn insert(&self, i: u64, now: u64) {
        let mut q = self.q.lock();
        expire_fifo(&mut q, now, self.tw, |k| {
            self.m.remove(k);
        });
        if self.m.len() >= CAP as usize
            && let Some((_, k)) = q.pop_front()
        {
            self.m.remove(&k);
        }
        let k = k4(i);
        self.m.insert(k, full(i, now));
        q.push_back((now, k));
    }
    fn contains(&self, i: u64, _now: u64) -> bool {
        self.m.contains_key(&k4(i))
    }
    fn expire(&self, now: u64) -> usize {
        let mut q = self.q.lock();
        expire_fifo(&mut q, now, self.tw, |k| {
            self.m.remove(k);
        })
    }
}

/// Inserts one entry per ms until the structure is in steady state; returns the next
/// index (= the current time).
fn fill(m: &dyn TwMap, n: u64) -> u64 {
    for i in 0..n {
        m.insert(i, i);
    }
    n
}

fn tw_for(occ: u32) -> u64 {
    match occ {
        50 => u64::from(CAP) / 2,
        90 => LIVE_90,
        _ => u64::MAX / 4,
    }
}

fn make(kind: usize, tw: u64) -> Box<dyn TwMap> {
    match kind {
        0 => Box::new(Vtw::<Ipv4Addr>::new(tw, "vtw_v4", false)),
        1 => Box::new(Vtw::<Ipv6Addr>::new(tw, "vtw_v6", false)),
        5 => Box::new(Vtw::<Ipv4Addr> {
            batch: true,
            ..Vtw::new(tw, "vtw_v4_batch16", false)
        }),
        6 => Box::new(Vtw::<Ipv6Addr> {
            batch: true,
            ..Vtw::new(tw, "vtw_v6_batch16", false)
        }),
        7 => Box::new(Vtw::<Ipv4Addr> {
            attack: true,
            ..Vtw::new(tw, "vtw_v4_attack", false)
        }),
        8 => Box::new(Vtw::<Ipv6Addr> {
            attack: true,
            ..Vtw::new(tw, "vtw_v6_attack", false)
        }),
        2 => Box::new(MapFifo::new(tw)),
        4 => Box::new(VtwUnlocked::<Ipv4Addr>(std::cell::RefCell::new(
            Vtw::<Ipv4Addr>::new(tw, "", false).t.into_inner(),
        ))),
        _ => Box::new(DashFifo {
            m: DashMap::new(),
            q: Mutex::new(VecDeque::new()),
            tw,
        }),
    }
}

// ------------------------------------------------------------ memory and bulk expiry

fn memory_report() {
    // Each structure holds exactly 1 M live entries (VTW: 90 % of C) when measured.
    for kind in 0..4 {
        let before = live_bytes();
        let m = make(kind, u64::MAX / 4);
        let end = fill(m.as_ref(), LIVE_90);
        let bytes = live_bytes() - before;
        println!(
            "VTW-MEM {:<18} {:>8.1} B/entry ({} bytes, {} entries)",
            m.name(),
            bytes as f64 / LIVE_90 as f64,
            bytes,
            end
        );
        drop(m);
    }
    // Port index cost for a client (random local ports), reported separately.
    for v6 in [false, true] {
        let before = live_bytes();
        let (core, total) = if v6 {
            let m = Vtw::<Ipv6Addr>::new(u64::MAX / 4, "", true);
            fill(&m, LIVE_90);
            (m.t.lock().memory().core(), live_bytes() - before)
        } else {
            let m = Vtw::<Ipv4Addr>::new(u64::MAX / 4, "", true);
            fill(&m, LIVE_90);
            (m.t.lock().memory().core(), live_bytes() - before)
        };
        println!(
            "VTW-MEM vtw_{}_client_ports  core {:.1} B/entry, port index {:.1} B/entry",
            if v6 { "v6" } else { "v4" },
            core as f64 / LIVE_90 as f64,
            total.saturating_sub(core) as f64 / LIVE_90 as f64
        );
    }
}

fn expire_report() {
    for kind in [0, 1, 2, 3] {
        let m = make(kind, LIVE_90);
        let end = fill(m.as_ref(), LIVE_90);
        let t0 = Instant::now();
        let n = m.expire(end + 2 * LIVE_90);
        let dt = t0.elapsed();
        println!(
            "VTW-EXPIRE {:<18} {} entries in {:?}: {:.1} M/s",
            m.name(),
            n,
            dt,
            n as f64 / dt.as_secs_f64() / 1e6
        );
    }
}

// ------------------------------------------------------------ criterion

/// Benchmark name of each `make` kind (known before building, so a filtered run builds
/// only the tables it measures).
fn kind_name(kind: usize) -> &'static str {
    match kind {
        0 => "vtw_v4",
        1 => "vtw_v6",
        2 => "mutex_hashmap_v4",
        4 => "vtw_v4_unlocked",
        5 => "vtw_v4_batch16",
        6 => "vtw_v6_batch16",
        7 => "vtw_v4_attack",
        8 => "vtw_v6_attack",
        _ => "dashmap_v4",
    }
}

fn bench_insert_expire(c: &mut Criterion) {
    for occ in [50u32, 90, 100] {
        let mut g = c.benchmark_group(format!("vtw_insert_expire_{occ}pct"));
        let kinds: &[usize] = if occ == 90 {
            &[0, 4, 5, 7, 1, 6, 8, 2, 3]
        } else {
            &[0, 4, 5, 1, 6, 2, 3]
        };
        for &kind in kinds {
            let tw = tw_for(occ);
            let mut st: Option<(Box<dyn TwMap>, u64)> = None;
            g.bench_function(kind_name(kind), |b| {
                let (m, next) = st.get_or_insert_with(|| {
                    let m = make(kind, tw);
                    let next = fill(m.as_ref(), u64::from(CAP) + 10_000);
                    (m, next)
                });
                b.iter_custom(|iters| {
                    let d = timed(|| m.insert_batch(*next, iters));
                    *next += iters;
                    d
                })
            });
        }
        g.finish();
    }
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("vtw_lookup_90pct");
    for kind in [0, 4, 7, 1, 8, 2, 3] {
        let mut st: Option<(Box<dyn TwMap>, u64)> = None;
        let mut r = 1u64;
        for hit in [true, false] {
            let name = format!("{}_{}", kind_name(kind), if hit { "hit" } else { "miss" });
            g.bench_function(name, |b| {
                let (m, end) = st.get_or_insert_with(|| {
                    let m = make(kind, LIVE_90);
                    let end = fill(m.as_ref(), u64::from(CAP) + 10_000);
                    (m, end)
                });
                let end = *end;
                b.iter_custom(|iters| {
                    timed(|| {
                        for _ in 0..iters {
                            r = mix(r);
                            if hit {
                                // A live index: inserted within the last 990,000 ms.
                                black_box(m.contains(end - 1 - r % 990_000, end));
                            } else {
                                black_box(m.contains((1 << 31) + (r >> 34), end));
                            }
                        }
                    })
                })
            });
        }
    }
    g.finish();
}

/// Index buckets (cache lines of the index) read per lookup at 90 % (1 M live entries),
/// from the table's own counters; a hit also reads its arena entry (one more line, two
/// when a 24/36-byte entry straddles a line boundary).
fn probe_report() {
    fn one<A: Key>(name: &str, attack: bool) {
        let m = Vtw::<A> {
            attack,
            ..Vtw::new(LIVE_90, "", false)
        };
        let end = fill(&m, u64::from(CAP) + 10_000);
        let mut t = m.t.lock();
        for (kind, base) in [("hit", end - 990_000), ("miss", 1u64 << 31)] {
            let s0 = *t.stats();
            for i in 0..990_000 {
                let found = t.contains(&m.key(base + i), end);
                assert_eq!(found, kind == "hit");
            }
            let s = t.stats();
            let n = (s.lookups - s0.lookups) as f64;
            let buckets = (s.probes - s0.probes) as f64 / n;
            let entries = (s.entry_lines - s0.entry_lines) as f64 / n;
            println!(
                "VTW-PROBE {name} {kind}: {:.3} cache lines/lookup ({buckets:.3} index buckets + {entries:.3} entry lines), {:.4} non-matching entries read/lookup, max {} buckets",
                buckets + entries,
                (s.losing - s0.losing) as f64 / n,
                s.max_probe
            );
        }
    }
    one::<Ipv4Addr>("vtw_v4", false);
    one::<Ipv6Addr>("vtw_v6", false);
    one::<Ipv4Addr>("vtw_v4_attack", true);
    one::<Ipv6Addr>("vtw_v6_attack", true);
}

/// One and two threads on a shared, sharded `netroute::timewait::Vtw` (16 shards, 1 M
/// slots, all in one class, full so every insert evicts its shard's oldest). Inserts: the
/// shard-owner model — thread k of T inserts only tuples whose shard is k mod T (a stack
/// steering connections to CPUs by the same hash), 64 at a time through
/// `Vtw::insert_batch` (one clock read, each shard locked once per batch); a tuple of
/// another thread's shards is generated and skipped, and that cost is counted. Lookups:
/// any thread, any shard, one `Vtw::contains` (lock + clock read) each. Per-op shared
/// inserts (`Vtw::insert`, one thread) are the baseline for the batching.
fn bench_threads(c: &mut Criterion) {
    use netroute::timewait::Vtw as Shared;
    let mut g = c.benchmark_group("vtw_threads_100pct");
    let clock = Arc::new(netroute::clock::SystemClock::new());
    let mk = |fill: u64| {
        let cfg = |n: u32| VtwConfig {
            capacity: ClassCapacities {
                loopback: 0,
                local: 0,
                remote: n,
            },
            ..VtwConfig::with_entries(3)
        };
        let v = Shared::with_shards(cfg(CAP), cfg(3), clock.clone(), 16).expect("config");
        for i in 0..fill {
            let _ = v.insert(tuple::<Ipv4Addr>(i, false), MslClass::Remote, info(i));
        }
        v
    };
    let mut ins: Option<Shared> = None;
    let mut next = [u64::from(CAP); 2];
    g.bench_function("insert_evict_per_op_1thread", |b| {
        let v = ins.get_or_insert_with(|| mk(u64::from(CAP)));
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let i = next[0];
                next[0] += 2;
                let _ = v.insert(tuple::<Ipv4Addr>(i, false), MslClass::Remote, info(i));
            }
            t0.elapsed()
        })
    });
    for threads in [1u64, 2] {
        g.bench_function(format!("insert_evict_owned_batch64_{threads}thread"), |b| {
            let v = &*ins.get_or_insert_with(|| mk(u64::from(CAP)));
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads);
                let t0 = Instant::now();
                let ends: Vec<u64> = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads)
                        .map(|th| {
                            let mut i = next[th as usize] | th;
                            s.spawn(move || {
                                let shards = v.shards::<Ipv4Addr>();
                                let mut items =
                                    [(tuple::<Ipv4Addr>(0, false), MslClass::Remote, info(0)); 64];
                                let mut done = 0;
                                while done < per {
                                    let mut k = 0;
                                    while k < 64 && done + (k as u64) < per {
                                        let t = tuple::<Ipv4Addr>(i, false);
                                        if shards.shard_of(&t) as u64 % threads == th {
                                            items[k] = (t, MslClass::Remote, info(i));
                                            k += 1;
                                        }
                                        i += 2;
                                    }
                                    v.insert_batch(&items[..k], |_, r| {
                                        black_box(r.is_ok());
                                    });
                                    done += k as u64;
                                }
                                i
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().expect("thread")).collect()
                });
                let dt = t0.elapsed();
                for (th, e) in ends.into_iter().enumerate() {
                    next[th] = e & !1;
                }
                dt
            })
        });
    }
    drop(ins.take());
    let mut look: Option<Shared> = None;
    for threads in [1u64, 2] {
        g.bench_function(format!("lookup_hit_{threads}thread"), |b| {
            let v = &*look.get_or_insert_with(|| mk(LIVE_90));
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads);
                let t0 = Instant::now();
                std::thread::scope(|s| {
                    for th in 0..threads {
                        s.spawn(move || {
                            let mut r = mix(th + 7);
                            for _ in 0..per {
                                r = mix(r);
                                // Live: 90 % full, no shard has evicted.
                                let i = r % LIVE_90;
                                black_box(v.contains(&tuple::<Ipv4Addr>(i, false)));
                            }
                        });
                    }
                });
                t0.elapsed()
            })
        });
    }
    g.finish();
}

fn reports(_c: &mut Criterion) {
    if std::env::var_os("VTW_NO_REPORTS").is_some() {
        return;
    }
    memory_report();
    probe_report();
    expire_report();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = reports, bench_insert_expire, bench_lookup, bench_threads
}
criterion_main!(benches);
