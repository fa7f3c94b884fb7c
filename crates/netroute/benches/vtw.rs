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
}

impl Key for Ipv4Addr {
    fn nth(i: u64) -> Self {
        Ipv4Addr::from_bits((i as u32).wrapping_mul(0x9e37_79b1) ^ 0x5bd1_e995)
    }
}

impl Key for Ipv6Addr {
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
    fn contains(&self, i: u64, now: u64) -> bool;
    fn expire(&self, now: u64) -> usize;
}

struct Vtw<A: Key> {
    t: Mutex<VtwTable<A>>,
    name: &'static str,
    client: bool,
}

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
            .insert(tuple::<A>(i, self.client), MslClass::Remote, info(i), now);
    }
    fn contains(&self, i: u64, now: u64) -> bool {
        self.t.lock().contains(&tuple::<A>(i, self.client), now)
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

fn bench_insert_expire(c: &mut Criterion) {
    for occ in [50u32, 90, 100] {
        let mut g = c.benchmark_group(format!("vtw_insert_expire_{occ}pct"));
        for kind in [0, 4, 1, 2, 3] {
            let tw = tw_for(occ);
            let m = make(kind, tw);
            let mut next = fill(m.as_ref(), u64::from(CAP) + 10_000);
            g.bench_function(m.name(), |b| {
                b.iter(|| {
                    m.insert(next, next);
                    next += 1;
                })
            });
        }
        g.finish();
    }
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("vtw_lookup_90pct");
    for kind in [0, 4, 1, 2, 3] {
        let m = make(kind, LIVE_90);
        let end = fill(m.as_ref(), u64::from(CAP) + 10_000);
        let mut r = 1u64;
        g.bench_function(format!("{}_hit", m.name()), |b| {
            b.iter(|| {
                r = mix(r);
                // A live index: inserted within the last 990,000 ms.
                let i = end - 1 - r % 990_000;
                black_box(m.contains(i, end))
            })
        });
        g.bench_function(format!("{}_miss", m.name()), |b| {
            b.iter(|| {
                r = mix(r);
                black_box(m.contains((1 << 31) + (r >> 34), end))
            })
        });
    }
    g.finish();
}

/// Index buckets (cache lines of the index) read per lookup at 90 % (1 M live entries),
/// from the table's own counters; a hit also reads its arena entry (one more line, two
/// when a 24/36-byte entry straddles a line boundary).
fn probe_report() {
    fn one<A: Key>(name: &str) {
        let m = Vtw::<A>::new(LIVE_90, "", false);
        let end = fill(&m, u64::from(CAP) + 10_000);
        let mut t = m.t.lock();
        for (kind, base) in [("hit", end - 990_000), ("miss", 1u64 << 31)] {
            let s0 = *t.stats();
            for i in 0..990_000 {
                let found = t.contains(&tuple::<A>(base + i, false), end);
                assert_eq!(found, kind == "hit");
            }
            let s = t.stats();
            println!(
                "VTW-PROBE {name} {kind}: {:.3} buckets/lookup, {:.4} non-matching entries read/lookup, max {} buckets",
                (s.probes - s0.probes) as f64 / (s.lookups - s0.lookups) as f64,
                (s.losing - s0.losing) as f64 / (s.lookups - s0.lookups) as f64,
                s.max_probe
            );
        }
    }
    one::<Ipv4Addr>("vtw_v4");
    one::<Ipv6Addr>("vtw_v6");
}

fn reports(_c: &mut Criterion) {
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
    targets = reports, bench_insert_expire, bench_lookup
}
criterion_main!(benches);
