//! Figures criterion cannot take: two threads on one target, synchronize latency with a
//! running reader, and batch destroy. Prints a table; `--json` prints JSON lines.
//!
//! `cargo bench -p psref --bench scaling` (add `PSREF_FORCE_FALLBACK=1` for the fallback).
//!
//! Scaling is measured as in `psref-feasibility.md`: best of N windows, each thread's own
//! count over the same window, against a parallel baseline loop (register-only work) in
//! the same process, because a shared 2-vCPU guest rarely gives two full cores.

use psref::{Batch, Domain, Slot, barrier};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_millis(150);
const REPEATS: usize = 9;

/// 128-byte aligned so the two threads' objects never share a line.
#[repr(align(128))]
struct Padded(u64);

/// Runs `op` in a tight loop for WINDOW on `threads` threads at once; returns the total
/// operations per second (best of REPEATS).
fn rate<S: Sync>(threads: usize, shared: &S, op: impl Fn(&S) + Sync) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..REPEATS {
        let start = Barrier::new(threads);
        let total: u64 = thread::scope(|sc| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    sc.spawn(|| {
                        start.wait();
                        let t0 = Instant::now();
                        let mut n = 0u64;
                        while t0.elapsed() < WINDOW {
                            for _ in 0..256 {
                                op(shared);
                            }
                            n += 256;
                        }
                        (n as f64 / t0.elapsed().as_secs_f64()) as u64
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        best = best.max(total as f64);
    }
    best
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mode = format!("{:?}", barrier::init());
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| {
        if json {
            println!("{{\"mode\":\"{mode}\",\"metric\":\"{k}\",\"value\":\"{v}\"}}");
        } else {
            println!("{k:<58} {v}");
        }
        rows.push((k.into(), v));
    };
    if !json {
        println!("psref scaling figures, barrier mode {mode}");
    }

    // --- two threads on the same target -------------------------------------------
    let d = Domain::new();
    let slot = Slot::new(Padded(7), &d);
    let base1 = rate(1, &(), |_| {
        black_box(std::hint::black_box(3u64).wrapping_mul(7));
    });
    let base2 = rate(2, &(), |_| {
        black_box(std::hint::black_box(3u64).wrapping_mul(7));
    });
    row(
        "baseline loop 2-thread/1-thread",
        format!("{:.2}x", base2 / base1),
    );
    let pattern = |(d, s): &(&Domain, &Slot<Padded>)| {
        let r = {
            let g = d.read();
            s.load(&g).unwrap().acquire()
        };
        black_box(r.0);
    };
    let p1 = rate(1, &(&d, &slot), pattern);
    let p2 = rate(2, &(&d, &slot), pattern);
    row(
        "psref enter+acquire+exit+release, 1 thread (ns/op)",
        format!("{:.2}", 1e9 / p1),
    );
    row(
        "psref same target 2-thread/1-thread aggregate",
        format!("{:.2}x", p2 / p1),
    );
    let arc = Arc::new(Padded(7));
    let a1 = rate(1, &arc, |a| drop(black_box(a.clone())));
    let a2 = rate(2, &arc, |a| drop(black_box(a.clone())));
    row(
        "Arc clone+drop, 1 thread (ns/op)",
        format!("{:.2}", 1e9 / a1),
    );
    row(
        "Arc same object 2-thread/1-thread aggregate",
        format!("{:.2}x", a2 / a1),
    );
    let e1 = rate(1, &(), |_| drop(black_box(crossbeam_epoch::pin())));
    let e2 = rate(2, &(), |_| drop(black_box(crossbeam_epoch::pin())));
    row(
        "crossbeam_epoch::pin 2-thread/1-thread aggregate",
        format!("{:.2}x", e2 / e1),
    );
    let sw = arc_swap::ArcSwap::from_pointee(Padded(7));
    let s1 = rate(1, &sw, |s| drop(black_box(s.load_full())));
    let s2 = rate(2, &sw, |s| drop(black_box(s.load_full())));
    row(
        "arc_swap load_full same object 2-thread/1-thread",
        format!("{:.2}x", s2 / s1),
    );

    // --- synchronize latency ------------------------------------------------------
    let d = Arc::new(Domain::new());
    let mut lat = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t0 = Instant::now();
        d.synchronize();
        lat.push(t0.elapsed());
    }
    row(
        "synchronize, no reader: p50",
        format!("{:?}", percentile(&mut lat, 0.5)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Slot::new(Padded(1), &d));
    let reader = {
        let (d, stop, slot) = (d.clone(), stop.clone(), slot.clone());
        thread::spawn(move || {
            let r = d.reader();
            while !stop.load(Ordering::Relaxed) {
                let g = r.read();
                black_box(slot.load(&g).map(|o| o.0));
            }
        })
    };
    thread::sleep(Duration::from_millis(20));
    lat.clear();
    for _ in 0..2000 {
        let t0 = Instant::now();
        d.synchronize();
        lat.push(t0.elapsed());
    }
    row(
        "synchronize, 1 running reader: p50",
        format!("{:?}", percentile(&mut lat, 0.5)),
    );
    row(
        "synchronize, 1 running reader: p99",
        format!("{:?}", percentile(&mut lat, 0.99)),
    );

    // --- batch destroy ---------------------------------------------------------------
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let slots: Vec<Slot<Padded>> = (0..10_000).map(|i| Slot::new(Padded(i), &d)).collect();
        let t0 = Instant::now();
        let mut b = Batch::new(&d);
        for s in &slots {
            b.push(s.take(&d).unwrap());
        }
        b.finish();
        best = best.min(t0.elapsed());
    }
    row(
        "batch destroy of 10,000 unreferenced targets (1 reader running)",
        format!("{best:?}"),
    );
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
}
