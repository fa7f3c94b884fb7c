//! Steady-state insert + expire-oldest at 50/90/100 % of a 1,111,111-slot table (one
//! class, one insert per simulated ms, so each insert also expires or evicts one entry),
//! IPv4 at each occupancy and IPv6 at 90 %, one `VtwTable::insert` call per connection,
//! 3 M inserts after the fill. Prints ns per insert in CPU time of the thread (from
//! `/proc/thread-self/schedstat`, so time other processes had the CPU is not counted) and
//! in wall time. `CAP=60000` runs a table that fits in the caches; `OPS=n` times `n`
//! inserts instead of 3 M (for runs under valgrind); `ONLY=v4-90` (`v4-50`, `v4-100`,
//! `v6-90`) runs one case; `BATCH=16` inserts through `VtwTable::insert_batch`, 16
//! connections per call at one clock value (the batch's last insertion time).
//!
//! Run: `cargo run --release -p netroute --example vtw_steady`. Uses only API that
//! existed before this branch (`insert`, `insert_batch`, `stats`), so the same file
//! measures older commits too.
use netroute::timewait::*;
use std::net::{Ipv4Addr, Ipv6Addr};
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
trait K: VtwAddr {
    fn nth(i: u64) -> Self;
}
impl K for Ipv4Addr {
    fn nth(i: u64) -> Self {
        Ipv4Addr::from_bits((i as u32).wrapping_mul(0x9e37_79b1) ^ 0x5bd1_e995)
    }
}
impl K for Ipv6Addr {
    fn nth(i: u64) -> Self {
        Ipv6Addr::from_bits(
            (0x2001_0db8u128 << 96) | u128::from(mix(i)) << 32 | u128::from(i as u32),
        )
    }
}
fn tuple<A: K>(i: u64) -> Tuple<A> {
    let r = mix(i ^ 0xabcd);
    Tuple {
        local: LocalAddrId(0),
        lport: 443,
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
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
fn run<A: K>(name: &str, occ: u32) {
    let cap: u32 = std::env::var("CAP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_111_111);
    let tw: u64 = match occ {
        50 => u64::from(cap) / 2,
        90 => u64::from(cap) * 9 / 10,
        _ => u64::MAX / 4,
    };
    let mut c = VtwConfig {
        capacity: ClassCapacities {
            loopback: 0,
            local: 0,
            remote: cap,
        },
        mark_granularity_ms: 1000,
        ..VtwConfig::with_entries(3)
    };
    c.tunables.msl_remote_ms = tw / 2;
    let Ok(mut t) = VtwTable::<A>::new(c) else {
        eprintln!("bad configuration");
        return;
    };
    let fill = u64::from(cap) + 10_000;
    for i in 0..fill {
        let _ = t.insert(tuple::<A>(i), MslClass::Remote, info(i), i);
    }
    let s0 = *t.stats();
    let n: u64 = std::env::var("OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000_000);
    let batch: u64 = std::env::var("BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut items = Vec::with_capacity(batch as usize);
    let (c0, w0) = (cpu_ns(), std::time::Instant::now());
    if batch <= 1 {
        for i in fill..fill + n {
            let _ = t.insert(tuple::<A>(i), MslClass::Remote, info(i), i);
        }
    } else {
        // One clock value per batch: the batch's last insertion time (as a caller with
        // one clock read per batch would pass).
        let mut i = fill;
        while i < fill + n {
            let end = (i + batch).min(fill + n);
            items.clear();
            items.extend((i..end).map(|j| (tuple::<A>(j), MslClass::Remote, info(j))));
            t.insert_batch(&items, end - 1, |_, r| {
                std::hint::black_box(r.is_ok());
            });
            i = end;
        }
    }
    let (c1, w1) = (cpu_ns(), w0.elapsed());
    let s1 = t.stats();
    println!(
        "{name} {occ}%: {:.1} ns/op CPU ({:.2} M/s), {:.1} ns/op wall, live {}, \
         {:.3} index buckets per duplicate check",
        (c1 - c0) as f64 / n as f64,
        n as f64 * 1e3 / (c1 - c0) as f64,
        w1.as_nanos() as f64 / n as f64,
        t.len(),
        (s1.probes - s0.probes) as f64 / (s1.lookups - s0.lookups).max(1) as f64
    );
}
fn main() {
    let only = std::env::var("ONLY").ok();
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for occ in [50, 90, 100] {
        if want(&format!("v4-{occ}")) {
            run::<Ipv4Addr>("v4", occ);
        }
    }
    if want("v6-90") {
        run::<Ipv6Addr>("v6", 90);
    }
}
