//! Single-thread costs of read sections and references, side by side with the peers:
//! `crossbeam_epoch::pin`, seize guards, `RwLock::read`, `Arc` clone/drop and arc-swap
//! `load_full`.
//!
//! `cargo bench -p psref --bench sync` measures the mode the kernel offers (membarrier);
//! `PSREF_FORCE_FALLBACK=1 cargo bench -p psref --bench sync` measures the fallback.

use criterion::{Criterion, criterion_group, criterion_main};
use psref::{Domain, Slot, barrier};
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Duration;

fn mode() -> &'static str {
    match barrier::init() {
        barrier::BarrierMode::Membarrier => "membarrier",
        barrier::BarrierMode::Fallback => "fallback",
    }
}

fn read_sections(c: &mut Criterion) {
    let m = mode();
    let mut g = c.benchmark_group("read_section");
    let d = Domain::new();
    g.bench_function(format!("psref::Domain::read ({m})"), |b| {
        b.iter(|| drop(black_box(d.read())))
    });
    let r = d.reader();
    g.bench_function(format!("psref::Reader::read ({m})"), |b| {
        b.iter(|| drop(black_box(r.read())))
    });
    g.bench_function("crossbeam_epoch::pin", |b| {
        b.iter(|| drop(black_box(crossbeam_epoch::pin())))
    });
    let collector = seize::Collector::new();
    g.bench_function("seize::Collector::enter", |b| {
        b.iter(|| drop(black_box(collector.enter())))
    });
    let lock = RwLock::new(0u64);
    g.bench_function("std::RwLock::read", |b| {
        b.iter(|| drop(black_box(lock.read().unwrap())))
    });
    g.finish();
}

fn references(c: &mut Criterion) {
    let m = mode();
    let mut g = c.benchmark_group("reference");
    let d = Domain::new();
    let s = Slot::new(42u64, &d);
    {
        let guard = d.read();
        g.bench_function(
            format!("psref acquire+release in open section ({m})"),
            |b| b.iter(|| drop(black_box(s.load(&guard).unwrap().acquire()))),
        );
    }
    g.bench_function(format!("psref enter+acquire+exit+release ({m})"), |b| {
        b.iter(|| {
            let r = {
                let guard = d.read();
                s.load(&guard).unwrap().acquire()
            };
            drop(black_box(r));
        })
    });
    let reader = d.reader();
    g.bench_function(
        format!("psref Reader enter+acquire+exit+release ({m})"),
        |b| {
            b.iter(|| {
                let r = {
                    let guard = reader.read();
                    s.load(&guard).unwrap().acquire()
                };
                drop(black_box(r));
            })
        },
    );
    let a = Arc::new(42u64);
    g.bench_function("Arc clone+drop", |b| b.iter(|| drop(black_box(a.clone()))));
    let sw = arc_swap::ArcSwap::from_pointee(42u64);
    g.bench_function("arc_swap load_full+drop", |b| {
        b.iter(|| drop(black_box(sw.load_full())))
    });
    g.bench_function("arc_swap load (guard)", |b| {
        b.iter(|| drop(black_box(sw.load())))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = read_sections, references }
criterion_main!(benches);
