//! Batched replay of the real 24 h RIS update stream through `SharedFib`: the update
//! throughput figure of issue 5 on its own, for profiling and for before/after runs.
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p netroute --example fib_replay -- v6 65536
//! ```
//!
//! Arguments: family (`v4` / `v6`, default both) and ops per batch (default 4096). Next
//! hops are hashed from (prefix, position in the stream), as in `benches/fib.rs`, so
//! nearly every announcement changes the FIB. `READER=1` runs one reader thread doing
//! batch lookups (one read section per 1,024 addresses) during the replay, and
//! `FENCED=1` puts the FIB in a fenced psref domain (`Domain::fenced`). Needs
//! `../shared/data`; says so and exits without it.

#[path = "../tests/common/ris.rs"]
mod ris;

use netroute::route::fib::{Key, NextHop, SharedFib};
use std::time::Instant;

fn run<K: Key + ris::Family>(batch: usize) {
    let (Some(table), Some(updates)) = (ris::table::<K>(), ris::updates::<K>()) else {
        println!("fib_replay: ../shared/data not found, nothing to do");
        return;
    };
    let routes: Vec<(K, u8, NextHop)> = table
        .iter()
        .map(|&(a, l)| (a, l, ris::nh(ris::h((a, l)))))
        .collect();
    let ops = ris::replay_ops(&updates);
    let domain = if std::env::var_os("FENCED").is_some() {
        psref::Domain::fenced()
    } else {
        psref::Domain::new()
    };
    let shared = SharedFib::from_routes(routes.iter().copied(), &domain).expect("valid table");
    let (mut publish, mut total) = (Vec::new(), Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let el = std::thread::scope(|s| {
        let reader = std::env::var_os("READER").map(|_| {
            s.spawn(|| {
                // READER_OTHER=1: the reader reads a second, never updated FIB (same
                // routes, own domain): what the writer costs it without sharing data.
                let other_domain = psref::Domain::fenced();
                let other = std::env::var_os("READER_OTHER").map(|_| {
                    SharedFib::from_routes(routes.iter().copied(), &other_domain).expect("valid")
                });
                let (fib, dom) = match &other {
                    Some(o) => (o, &other_domain),
                    None => (&shared, &domain),
                };
                let rd = dom.reader();
                let mut r = ris::Rng(9);
                let addrs: Vec<K> = (0..65536)
                    .map(|_| routes[(r.next_u64() % routes.len() as u64) as usize].0)
                    .collect();
                let mut out = vec![None; 1024];
                let mut n = 0u64;
                let t = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for a in addrs.chunks(1024) {
                        let g = rd.read();
                        fib.load(&g).lookup_batch(a, &mut out);
                    }
                    std::hint::black_box(&out);
                    n += addrs.len() as u64;
                }
                n as f64 / t.elapsed().as_secs_f64() / 1e6
            })
        });
        if reader.is_some() {
            // The reader alone first.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let t = Instant::now();
        for b in ops.chunks(batch) {
            let rep = shared.apply(b, &domain).expect("valid update");
            publish.push(rep.publish_latency);
            total.push(rep.total);
        }
        let el = t.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = reader {
            println!(
                "reader: {:.1} Mlps over the whole run",
                r.join().expect("reader")
            );
        }
        el
    });
    publish.sort_unstable();
    total.sort_unstable();
    println!(
        "fib_replay {}: {} ops in batches of {batch}: {:.2} M updates/s; publish latency p50 {:.2?} max {:.2?}; interval between publications p50 {:.2?} max {:.2?}",
        K::TAG,
        ops.len(),
        ops.len() as f64 / el.as_secs_f64() / 1e6,
        publish[publish.len() / 2],
        publish[publish.len() - 1],
        total[total.len() / 2],
        total[total.len() - 1],
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fam = args.first().map_or("both", String::as_str);
    let batch = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(4096);
    if fam != "v6" {
        run::<u32>(batch);
    }
    if fam != "v4" {
        run::<u128>(batch);
    }
}
