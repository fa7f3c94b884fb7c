//! Differential test of the FIB on the real RIPE RIS tables and their 24 h update
//! streams (`../shared/data`). Skipped, with a printed reason, when the data is absent.

mod common;

use common::ris::{self, Family, Rng, h, nh};
use netroute::route::fib::{Fib, FibOp, Key, NextHop, SharedFib};
use std::collections::HashMap;
use std::time::Instant;

/// Naive reference: one exact-match map per prefix length, scanned longest-first.
struct Model<K: Key> {
    by_len: Vec<HashMap<K, NextHop>>,
}

impl<K: Key> Model<K> {
    fn new() -> Self {
        Model {
            by_len: vec![HashMap::new(); usize::from(K::BITS) + 1],
        }
    }
    fn apply(&mut self, op: &FibOp<K>) {
        match *op {
            FibOp::Insert { addr, len, nh } => {
                self.by_len[usize::from(len)].insert(addr, nh);
            }
            FibOp::Remove { addr, len } => {
                self.by_len[usize::from(len)].remove(&addr);
            }
        }
    }
    fn lookup(&self, addr: K) -> Option<NextHop> {
        (0..=K::BITS).rev().find_map(|l| {
            self.by_len[usize::from(l)]
                .get(&addr.and(K::mask(l)))
                .copied()
        })
    }
}

/// Random probes: half inside random table prefixes, half uniform.
fn probes<K: Key>(
    r: &mut Rng,
    table: &[(K, u8)],
    n: usize,
    inside: impl Fn(&mut Rng, K, u8) -> K,
    uniform: impl Fn(&mut Rng) -> K,
) -> Vec<K> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let (a, l) = table[(r.next_u64() % table.len() as u64) as usize];
                inside(r, a, l)
            } else {
                uniform(r)
            }
        })
        .collect()
}

fn compare<K: Key>(fib: &Fib<K>, model: &Model<K>, probes: &[K]) {
    let mut out = vec![None; probes.len()];
    fib.lookup_batch(probes, &mut out);
    for (i, &p) in probes.iter().enumerate() {
        let want = model.lookup(p);
        assert_eq!(fib.lookup(p), want, "lookup {p:?}");
        assert_eq!(out[i], want, "batch {p:?}");
    }
}

fn run<K: Key + Family>(
    inside: impl Fn(&mut Rng, K, u8) -> K + Copy,
    uniform: impl Fn(&mut Rng) -> K + Copy,
    lookups: usize,
) {
    let (Some(table), Some(updates)) = (ris::table::<K>(), ris::updates::<K>()) else {
        println!(
            "SKIP fib_ris {}: RIS data not found at CARGO_MANIFEST_DIR/../../../shared/data",
            K::TAG
        );
        return;
    };
    let mut r = Rng(42);
    let routes: Vec<(K, u8, NextHop)> = table.iter().map(|&(a, l)| (a, l, nh(h((a, l))))).collect();
    let t = Instant::now();
    let mut fib = Fib::from_routes(routes.iter().copied()).unwrap();
    let build = t.elapsed();
    let mut model = Model::new();
    for &(addr, len, nh) in &routes {
        model.apply(&FibOp::Insert { addr, len, nh });
    }
    println!(
        "{}: {} prefixes, build {:?} (debug build), {} B compiled = {:.2} B/prefix, shape {:?}",
        K::TAG,
        fib.len(),
        build,
        fib.memory_bytes(),
        fib.memory_bytes() as f64 / fib.len() as f64,
        fib.lpm().shape()
    );
    compare(
        &fib,
        &model,
        &probes(&mut r, &table, lookups, inside, uniform),
    );

    // Replay the update stream, op by op; check regularly.
    let domain = psref::Domain::new();
    let shared = SharedFib::from_routes(routes.iter().copied(), &domain).unwrap();
    let mut batch = Vec::new();
    let t = Instant::now();
    let every = updates.len() / 8;
    for (i, op) in ris::replay_ops(&updates).into_iter().enumerate() {
        fib.apply(&[op]).unwrap();
        model.apply(&op);
        batch.push(op);
        if batch.len() == 4096 {
            shared.apply(&batch, &domain).unwrap();
            batch.clear();
        }
        if i % every == every - 1 {
            compare(
                &fib,
                &model,
                &probes(&mut r, &table, lookups / 16, inside, uniform),
            );
        }
    }
    shared.apply(&batch, &domain).unwrap();
    println!(
        "{}: replayed {} updates in {:?} (debug build, incl. a SharedFib replay in batches of 4096)",
        K::TAG,
        updates.len(),
        t.elapsed()
    );
    let p = probes(&mut r, &table, lookups, inside, uniform);
    compare(&fib, &model, &p);
    // The patched structure answers like a fresh build and like the shared copy.
    let fresh = Fib::from_routes(fib.iter()).unwrap();
    compare(&fresh, &model, &p);
    let g = domain.read();
    let lpm = shared.load(&g);
    for &a in &p {
        assert_eq!(lpm.lookup(a), model.lookup(a));
    }
    println!(
        "{}: after replay {} prefixes, {:.2} B/prefix (garbage {} B), fresh {:.2} B/prefix",
        K::TAG,
        fib.len(),
        fib.memory_bytes() as f64 / fib.len() as f64,
        fib.lpm().garbage_bytes(),
        fresh.memory_bytes() as f64 / fresh.len() as f64
    );
}

#[test]
fn ris_v4_matches_model() {
    run::<u32>(ris::in_prefix_v4, |r| r.next_u64() as u32, 2_000_000);
}

#[test]
fn ris_v6_matches_model() {
    run::<u128>(
        ris::in_prefix_v6,
        |r| ris::in_prefix_v6(r, 0x2000u128 << 112, 3),
        2_000_000,
    );
}
