//! Differential tests against a naive model (one map per prefix length, scanned
//! longest-first), proptest on random op sequences, and a concurrent reader/writer test.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// The naive reference: one exact-match map per length.
#[derive(Clone, Debug)]
pub(crate) struct Model<K: Key> {
    by_len: Vec<HashMap<K, NextHop>>,
}

impl<K: Key> Model<K> {
    pub(crate) fn new() -> Self {
        Model {
            by_len: vec![HashMap::new(); usize::from(K::BITS) + 1],
        }
    }
    pub(crate) fn apply(&mut self, op: &FibOp<K>) {
        match *op {
            FibOp::Insert { addr, len, nh } => {
                self.by_len[usize::from(len)].insert(addr, nh);
            }
            FibOp::Remove { addr, len } => {
                self.by_len[usize::from(len)].remove(&addr);
            }
        }
    }
    pub(crate) fn lookup(&self, addr: K) -> Option<NextHop> {
        for l in (0..=K::BITS).rev() {
            if let Some(&nh) = self.by_len[usize::from(l)].get(&addr.and(K::mask(l))) {
                return Some(nh);
            }
        }
        None
    }
}

fn nh(i: u32) -> NextHop {
    NextHop::new(i).unwrap()
}

/// Addresses worth probing after `ops`: each prefix's first and last address and their
/// neighbours, plus `extra`.
fn probes<K: Key>(ops: &[FibOp<K>], extra: &[K], step: impl Fn(K, bool) -> K) -> Vec<K> {
    let mut v = extra.to_vec();
    for op in ops {
        let (a, l) = op.prefix();
        let last = a.last(l);
        v.extend([a, last, step(a, false), step(last, true)]);
    }
    v
}

fn check_all<K: Key>(fib: &Fib<K>, model: &Model<K>, probes: &[K]) {
    let mut out = vec![None; probes.len()];
    fib.lookup_batch(probes, &mut out);
    for (i, &p) in probes.iter().enumerate() {
        let want = model.lookup(p);
        assert_eq!(fib.lookup(p), want, "lookup {p:?}");
        assert_eq!(out[i], want, "lookup_batch {p:?}");
    }
}

fn op_v4() -> impl Strategy<Value = FibOp<u32>> {
    // Few distinct top bytes so that prefixes nest and share chunks and nodes.
    (
        any::<bool>(),
        prop_oneof![Just(0u32), Just(10), Just(192), Just(255)],
        any::<u32>(),
        prop_oneof![0u8..=32, 16u8..=32, 24u8..=32],
        0u32..5,
    )
        .prop_map(|(ins, top, low, len, n)| {
            let addr = ((top << 24) | (low & 0x00ff_ffff)) & u32::mask(len);
            if ins || n == 4 {
                FibOp::Insert {
                    addr,
                    len,
                    nh: nh(n),
                }
            } else {
                FibOp::Remove { addr, len }
            }
        })
}

fn op_v6() -> impl Strategy<Value = FibOp<u128>> {
    (
        any::<bool>(),
        prop_oneof![
            Just(0u128),
            Just(0x2001_0db8),
            Just(0x2a00_1450),
            Just(0xffff_ffff)
        ],
        any::<u128>(),
        prop_oneof![0u8..=128, 16u8..=64, 40u8..=128],
        0u32..5,
    )
        .prop_map(|(ins, top, low, len, n)| {
            let addr = ((top << 96) | (low >> 32)) & u128::mask(len);
            if ins || n == 4 {
                FibOp::Insert {
                    addr,
                    len,
                    nh: nh(n),
                }
            } else {
                FibOp::Remove { addr, len }
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn v4_incremental_matches_model(ops in prop::collection::vec(op_v4(), 1..200), extra in prop::collection::vec(any::<u32>(), 16)) {
        let mut fib = Fib::<u32>::new();
        let mut model = Model::new();
        for op in &ops {
            fib.apply(std::slice::from_ref(op)).unwrap();
            model.apply(op);
        }
        let p = probes(&ops, &extra, |a, up| if up { a.wrapping_add(1) } else { a.wrapping_sub(1) });
        check_all(&fib, &model, &p);
        // A bulk build of the final set answers the same.
        let bulk = Fib::from_routes(fib.iter()).unwrap();
        check_all(&bulk, &model, &p);
    }

    #[test]
    fn v6_incremental_matches_model(ops in prop::collection::vec(op_v6(), 1..200), extra in prop::collection::vec(any::<u128>(), 16)) {
        let mut fib = Fib::<u128>::new();
        let mut model = Model::new();
        for op in &ops {
            fib.apply(std::slice::from_ref(op)).unwrap();
            model.apply(op);
        }
        let p = probes(&ops, &extra, |a, up| if up { a.wrapping_add(1) } else { a.wrapping_sub(1) });
        check_all(&fib, &model, &p);
        let bulk = Fib::from_routes(fib.iter()).unwrap();
        check_all(&bulk, &model, &p);
    }

    #[test]
    fn shared_matches_model(ops in prop::collection::vec(op_v4(), 1..100), batch in 1usize..20) {
        let domain = psref::Domain::new();
        let fib = SharedFib::<u32>::new(&domain);
        let mut model = Model::new();
        for chunk in ops.chunks(batch) {
            fib.apply(chunk, &domain).unwrap();
            prop_assert!(fib.copies_identical(&domain), "left-right copies differ");
            for op in chunk { model.apply(op); }
            let g = domain.read();
            let lpm = fib.load(&g);
            for &(a, l) in chunk.iter().map(|o| o.prefix()).collect::<Vec<_>>().iter() {
                for p in [a, a.last(l)] {
                    prop_assert_eq!(lpm.lookup(p), model.lookup(p));
                }
            }
        }
        // After the call returned, the spare copy was patched too: the next publication
        // (which exposes it) must still answer correctly.
        fib.apply(&[FibOp::Insert { addr: 0, len: 32, nh: nh(9) }], &domain).unwrap();
        model.apply(&FibOp::Insert { addr: 0, len: 32, nh: nh(9) });
        let g = domain.read();
        let lpm = fib.load(&g);
        for op in &ops {
            let (a, l) = op.prefix();
            for p in [a, a.last(l)] {
                prop_assert_eq!(lpm.lookup(p), model.lookup(p));
            }
        }
    }
}

/// `Rib::covering` (the jumping walk) against its definition (one probe per shorter
/// length), for every prefix of the ops and its neighbours, both families.
fn covering_matches_probes<K: Key>(ops: &[FibOp<K>]) -> Result<(), TestCaseError> {
    let mut rib = super::rib::Rib::<K, NextHop>::new();
    for op in ops {
        op.apply_rib(&mut rib);
    }
    for op in ops {
        let (a, l) = op.prefix();
        for len in [
            l,
            l.saturating_add(1).min(K::BITS),
            l.saturating_sub(1),
            K::BITS,
        ] {
            let k = a.and(K::mask(len));
            prop_assert_eq!(
                rib.covering(k, len),
                rib.covering_by_probes(k, len),
                "{:?}/{}",
                k,
                len
            );
        }
    }
    Ok(())
}

/// Prefixes over a few sparse address bits around the direct-table boundary, so that
/// they nest densely on both sides of it (what the covering walk must get right).
fn dense_op<K: Key>(ins: bool, addr: K, len: u8) -> FibOp<K> {
    let addr = addr.and(K::mask(len));
    if ins {
        FibOp::Insert {
            addr,
            len,
            nh: nh(u32::from(len)),
        }
    } else {
        FibOp::Remove { addr, len }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn covering_walk_matches_probes_v4(
        ops in prop::collection::vec(op_v4(), 1..300),
        dense in prop::collection::vec((any::<bool>(), any::<u32>(), 8u8..=32), 1..300),
    ) {
        covering_matches_probes(&ops)?;
        let dense: Vec<_> = dense.into_iter().map(|(i, r, l)| dense_op(i || l % 3 == 0, 0x0a00_0000 | (r & 0x0003_ffc0), l)).collect();
        covering_matches_probes(&dense)?;
    }

    #[test]
    fn covering_walk_matches_probes_v6(
        ops in prop::collection::vec(op_v6(), 1..300),
        dense in prop::collection::vec((any::<bool>(), any::<u64>(), 8u8..=52), 1..300),
    ) {
        covering_matches_probes(&ops)?;
        let dense: Vec<_> = dense.into_iter().map(|(i, r, l)| {
            let a = (0x2001u128 << 112) | (u128::from(r & 0x000f_ff00_0000_f000) << 64);
            dense_op(i || l % 3 == 0, a, l)
        }).collect();
        covering_matches_probes(&dense)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// IPv6 through `SharedFib`: every batch is patched into both copies at once
    /// (`patch_many`: several units of one chunk spliced in one pass).
    #[test]
    fn shared_v6_batches_match_model(ops in prop::collection::vec(op_v6(), 1..200), batch in 1usize..40, extra in prop::collection::vec(any::<u128>(), 16)) {
        let domain = psref::Domain::new();
        let fib = SharedFib::<u128>::new(&domain);
        let mut model = Model::new();
        let p = probes(&ops, &extra, |a, up| if up { a.wrapping_add(1) } else { a.wrapping_sub(1) });
        for chunk in ops.chunks(batch) {
            fib.apply(chunk, &domain).unwrap();
            prop_assert!(fib.copies_identical(&domain), "left-right copies differ");
            for op in chunk { model.apply(op); }
            let g = domain.read();
            let lpm = fib.load(&g);
            for &a in &p {
                prop_assert_eq!(lpm.lookup(a), model.lookup(a), "{:#x}", a);
            }
        }
        // The spare copy was patched with the same batches.
        fib.apply(&[FibOp::Insert { addr: 0, len: 128, nh: nh(9) }], &domain).unwrap();
        model.apply(&FibOp::Insert { addr: 0, len: 128, nh: nh(9) });
        let g = domain.read();
        let lpm = fib.load(&g);
        let mut out = vec![None; p.len()];
        lpm.lookup_batch(&p, &mut out);
        for (i, &a) in p.iter().enumerate() {
            prop_assert_eq!(lpm.lookup(a), model.lookup(a), "{:#x}", a);
            prop_assert_eq!(out[i], model.lookup(a), "batch {:#x}", a);
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Long churn through `SharedFib` (many batches of mixed sizes over a table dense
/// enough that freed blocks are reused across batches and the IPv4 structure compacts
/// itself): after every batch the two left-right copies are identical (the second one
/// catches up by copying what the first one's patch wrote) and answer as the model.
fn churn_keeps_copies_identical<K: Key>(
    mut rand_prefix: impl FnMut(&mut Rng) -> (K, u8),
    probe: impl Fn(&mut Rng) -> K,
) {
    let mut r = Rng(11);
    let domain = psref::Domain::new();
    let mut model = Model::new();
    let table: Vec<FibOp<K>> = (0..20_000)
        .map(|_| {
            let (addr, len) = rand_prefix(&mut r);
            FibOp::Insert {
                addr,
                len,
                nh: nh((r.next() % 500) as u32),
            }
        })
        .collect();
    for op in &table {
        model.apply(op);
    }
    let fib = SharedFib::<K>::from_routes(
        table.iter().filter_map(|op| match *op {
            FibOp::Insert { addr, len, nh } => Some((addr, len, nh)),
            FibOp::Remove { .. } => None,
        }),
        &domain,
    )
    .unwrap();
    let probes: Vec<K> = (0..2_000).map(|_| probe(&mut r)).collect();
    for round in 0..300 {
        let n = [1, 2, 7, 64, 300][round % 5];
        let ops: Vec<FibOp<K>> = (0..n)
            .map(|_| {
                let (addr, len) = rand_prefix(&mut r);
                if r.next().is_multiple_of(2) {
                    FibOp::Remove { addr, len }
                } else {
                    FibOp::Insert {
                        addr,
                        len,
                        nh: nh((r.next() % 500) as u32),
                    }
                }
            })
            .collect();
        fib.apply(&ops, &domain).unwrap();
        assert!(
            fib.copies_identical(&domain),
            "copies differ after round {round}"
        );
        for op in &ops {
            model.apply(op);
        }
        if round % 50 == 49 {
            let g = domain.read();
            for &a in &probes {
                assert_eq!(
                    fib.load(&g).lookup(a),
                    model.lookup(a),
                    "{a:?} round {round}"
                );
            }
        }
    }
}

/// Without a spare (a call that panicked half-way), the next batch compiles one afresh
/// and the retired copy becomes a clone of it, not a catch-up from a patch log it
/// does not match.
#[test]
fn shared_recovers_a_missing_spare() {
    let domain = psref::Domain::new();
    // Layouts diverge from a fresh build's once patches have freed and reused space.
    fn run<K: Key>(domain: &psref::Domain, prefix: impl Fn(u32) -> (K, u8)) {
        let fib = SharedFib::<K>::new(domain);
        let batch = |from: u32, to: u32, n: u32, remove: bool| -> Vec<FibOp<K>> {
            (from..to)
                .map(|i| {
                    let (addr, len) = prefix(i);
                    if remove {
                        FibOp::Remove { addr, len }
                    } else {
                        FibOp::Insert {
                            addr,
                            len,
                            nh: nh(n + i % 7),
                        }
                    }
                })
                .collect()
        };
        // A bulk load, then batches small enough (under an eighth of the table) to be
        // patched rather than recompiled.
        fib.apply(&batch(0, 4000, 1, false), domain).unwrap();
        for round in 0..6 {
            let at = round * 300;
            fib.apply(&batch(at, at + 100, 0, true), domain).unwrap();
            fib.apply(&batch(at + 50, at + 150, 20, false), domain)
                .unwrap();
        }
        fib.drop_spare();
        fib.apply(&batch(2000, 2100, 40, false), domain).unwrap();
        assert!(
            fib.copies_identical(domain),
            "copies differ after a missing spare"
        );
        fib.apply(&batch(0, 50, 60, false), domain).unwrap();
        assert!(fib.copies_identical(domain));
    }
    run::<u32>(&domain, |i| {
        (0x0a00_0000 | (i * 37 % 4096) << 10 | (i % 4) << 8, 24)
    });
    run::<u128>(&domain, |i| {
        (
            (0x2001u128 << 112) | u128::from(i * 37 % 4096) << 84 | u128::from(i % 4) << 80,
            48,
        )
    });
}

#[test]
fn shared_churn_keeps_copies_identical_v4() {
    // Two /8s, lengths 12..=30: chunks of leaf-only records and of node trees.
    churn_keeps_copies_identical::<u32>(
        |r| {
            let len = 12 + (r.next() % 19) as u8;
            let a = ((10 + (r.next() % 2) as u32) << 24) | (r.next() as u32 & 0x00ff_ffff);
            (a & u32::mask(len), len)
        },
        |r| ((10 + (r.next() % 2) as u32) << 24) | (r.next() as u32 & 0x00ff_ffff),
    );
}

/// The two IPv6 copies of a `SharedFib` share the lines of every chunk a batch did not
/// replace: the pair costs little more than one copy, before and after updates.
/// A /18 dense with long prefixes (node chunks three levels deep): single updates take
/// the path copy, and both the published copy and the model agree after each, with no
/// free block reachable from either copy (checked inside `apply`).
#[test]
fn dense_chunk_single_updates_path_copy() {
    let mut model = Model::new();
    let mut routes = Vec::new();
    for i in 0..2048u32 {
        let a = 0x0a40_0000 | (i * 7 % 16384);
        let len = [32, 30, 27, 25][(i % 4) as usize];
        let a = a & u32::mask(len);
        model.apply(&FibOp::Insert {
            addr: a,
            len,
            nh: nh(i % 300),
        });
        routes.push((a, len, nh(i % 300)));
    }
    let domain = psref::Domain::fenced();
    let fib = SharedFib::<u32>::from_routes(routes.iter().copied(), &domain).unwrap();
    let mut r = Rng(17);
    for step in 0..400u32 {
        let (a, len, _) = routes[(r.next() % routes.len() as u64) as usize];
        let op = if step % 3 == 0 {
            FibOp::Remove { addr: a, len }
        } else {
            FibOp::Insert {
                addr: a,
                len,
                nh: nh(300 + step % 50),
            }
        };
        model.apply(&op);
        fib.apply(&[op], &domain).unwrap();
        assert!(fib.copies_identical(&domain), "step {step}");
        let g = domain.read();
        let lpm = fib.load(&g);
        for _ in 0..64 {
            let x = 0x0a40_0000 | (r.next() as u32 & 0x3fff);
            assert_eq!(lpm.lookup(x), model.lookup(x), "step {step}, {x:#x}");
        }
    }
}

#[test]
fn shared_v4_copies_share_the_arena() {
    let mut r = Rng(6);
    // Long prefixes too, so that chunks are node trees and leaf arrays, not only records.
    let routes: Vec<(u32, u8, NextHop)> = (0..20_000)
        .map(|_| {
            let len = 8 + (r.next() % 25) as u8;
            let a = r.next() as u32 & u32::mask(len);
            (a, len, nh((r.next() % 500) as u32))
        })
        .collect();
    let domain = psref::Domain::fenced();
    let fib = SharedFib::<u32>::from_routes(routes.iter().copied(), &domain).unwrap();
    // The spare owns only its direct table (2^18 entries).
    let direct = (1 << 18) * 4;
    assert_eq!(
        fib.memory_bytes(&domain),
        fib.published_bytes(&domain) + direct
    );
    let mut grew = 0;
    for round in 0..200u32 {
        let before = fib.published_bytes(&domain);
        let ops: Vec<FibOp<u32>> = (0..1 + round % 40)
            .map(|i| {
                let (a, l, _) = routes[((round * 131 + i * 17) as usize) % routes.len()];
                if (round + i) % 3 == 0 {
                    FibOp::Remove { addr: a, len: l }
                } else {
                    FibOp::Insert {
                        addr: a,
                        len: l,
                        nh: nh(500 + (round + i) % 100),
                    }
                }
            })
            .collect();
        fib.apply(&ops, &domain).unwrap();
        assert!(fib.copies_identical(&domain), "round {round}");
        // After every batch the two copies are one arena again (the twin adopts a grown
        // or recompiled arena when it catches up).
        assert_eq!(
            fib.memory_bytes(&domain),
            fib.published_bytes(&domain) + direct,
            "round {round}"
        );
        grew += usize::from(fib.published_bytes(&domain) > before);
    }
    // Freed blocks are reused: the arena grows now and then, not with every batch.
    assert!(grew < 40, "the arena grew in {grew} of 200 batches");
}

#[test]
fn shared_v6_copies_share_unchanged_chunks() {
    let mut r = Rng(5);
    let routes: Vec<(u128, u8, NextHop)> = (0..20_000)
        .map(|_| {
            let len = 20 + (r.next() % 29) as u8;
            let a = ((0x2001 + (r.next() % 8) as u128) << 112) | (u128::from(r.next()) << 48);
            (a & u128::mask(len), len, nh((r.next() % 500) as u32))
        })
        .collect();
    let domain = psref::Domain::new();
    let fib = SharedFib::<u128>::from_routes(routes.iter().copied(), &domain).unwrap();
    let one = {
        let g = domain.read();
        fib.load(&g).memory_bytes()
    };
    // The spare's own: its direct table (2^16 entries) and chunk vector.
    let tables = (1 << 16) * 4 + 16 * 1024;
    let pair = fib.memory_bytes(&domain);
    assert!(
        pair <= one + tables,
        "pair {pair} B for one copy of {one} B"
    );
    // One prefix changes one chunk: the spare holds its own copy of that chunk only.
    let (a, l, _) = routes[7];
    fib.apply(
        &[FibOp::Insert {
            addr: a,
            len: l,
            nh: nh(600),
        }],
        &domain,
    )
    .unwrap();
    assert!(fib.copies_identical(&domain));
    let after = fib.memory_bytes(&domain);
    assert!(
        after <= one + tables + one / 4,
        "pair {after} B after one update, one copy {one} B"
    );
}

#[test]
fn shared_churn_keeps_copies_identical_v6() {
    // Two /16s, lengths 12..=64 (past /48: child chunks).
    churn_keeps_copies_identical::<u128>(
        |r| {
            let len = 12 + (r.next() % 53) as u8;
            let a = ((0x2001 + (r.next() % 2) as u128) << 112) | (u128::from(r.next()) << 48);
            (a & u128::mask(len), len)
        },
        |r| ((0x2001 + (r.next() % 2) as u128) << 112) | (u128::from(r.next()) << 48),
    );
}

/// Random tables with every prefix length, many random lookups, incremental vs model.
#[test]
fn random_tables_all_lengths() {
    let mut r = Rng(7);
    let mut fib = Fib::<u32>::new();
    let mut model = Model::new();
    for round in 0..4_000 {
        // Mostly long prefixes: a short one recompiles every chunk it covers.
        let len = if r.next().is_multiple_of(8) {
            (r.next() % 33) as u8
        } else {
            17 + (r.next() % 16) as u8
        };
        let top = [0u32, 10, 100, 172, 192, 224][(r.next() % 6) as usize] << 24;
        let addr = (top | (r.next() as u32 & 0x00ff_ffff)) & u32::mask(len);
        let op = if r.next().is_multiple_of(4) {
            FibOp::Remove { addr, len }
        } else {
            FibOp::Insert {
                addr,
                len,
                nh: nh((r.next() % 1000) as u32),
            }
        };
        fib.apply(&[op]).unwrap();
        model.apply(&op);
        if round % 500 == 499 {
            for _ in 0..20_000 {
                let top = [0u32, 10, 100, 172, 192, 224][(r.next() % 6) as usize] << 24;
                let a = top | (r.next() as u32 & 0x00ff_ffff);
                assert_eq!(fib.lookup(a), model.lookup(a), "{a:#x}");
            }
        }
    }
}

/// A random IPv6 op: every prefix length `0..=128`, addresses concentrated in a few
/// /16s (so that chunks fill up, nest and get child chunks).
fn random_op_v6(r: &mut Rng, short_every: u64) -> FibOp<u128> {
    let len = if r.next().is_multiple_of(short_every) {
        (r.next() % 17) as u8
    } else {
        17 + (r.next() % 112) as u8
    };
    let top = [0x2001u128, 0x2a00, 0x2a02, 0xfe80][(r.next() % 4) as usize] << 112;
    // Few distinct values in bits 16..64 so that long prefixes share key blocks.
    let mid = u128::from(r.next() % 64) << 80 | u128::from(r.next() % 4) << 64;
    let low = u128::from(r.next());
    let addr = (top | mid | low) & u128::mask(len);
    if r.next().is_multiple_of(4) {
        FibOp::Remove { addr, len }
    } else {
        FibOp::Insert {
            addr,
            len,
            nh: nh((r.next() % 1000) as u32),
        }
    }
}

/// A random address near the random ops' prefixes.
fn random_addr_v6(r: &mut Rng) -> u128 {
    let top = [0x2001u128, 0x2a00, 0x2a02, 0xfe80, 0x3000][(r.next() % 5) as usize] << 112;
    let mid = u128::from(r.next() % 64) << 80 | u128::from(r.next() % 4) << 64;
    top | mid | u128::from(r.next() % 8) << 60 | u128::from(r.next() & 0xff)
}

/// IPv6 random tables with every prefix length: one update at a time through `Fib`,
/// batches through `SharedFib`, a bulk build of the result, all against the model.
#[test]
fn random_tables_all_lengths_v6() {
    let mut r = Rng(5);
    let mut fib = Fib::<u128>::new();
    let domain = psref::Domain::new();
    let shared = SharedFib::<u128>::new(&domain);
    let mut model = Model::new();
    let mut batch = Vec::new();
    for round in 0..6_000 {
        let op = random_op_v6(&mut r, 16);
        fib.apply(&[op]).unwrap();
        model.apply(&op);
        batch.push(op);
        if batch.len() == 1 + round % 97 {
            shared.apply(&batch, &domain).unwrap();
            batch.clear();
        }
        if round % 1_000 == 999 {
            shared.apply(&batch, &domain).unwrap();
            batch.clear();
            let bulk = Fib::from_routes(fib.iter()).unwrap();
            let g = domain.read();
            let lpm = shared.load(&g);
            for _ in 0..20_000 {
                let a = random_addr_v6(&mut r);
                let want = model.lookup(a);
                assert_eq!(fib.lookup(a), want, "{a:#x}");
                assert_eq!(bulk.lookup(a), want, "bulk {a:#x}");
                assert_eq!(lpm.lookup(a), want, "shared {a:#x}");
            }
        }
    }
}

/// Ten million random lookups against the model on a random IPv6 table with every
/// prefix length (and on its incrementally built twin). Release build:
/// `cargo test -p netroute --release --lib ten_million_v6 -- --ignored`
#[test]
#[ignore = "ten million lookups: run in release"]
fn ten_million_lookups_v6() {
    let mut r = Rng(99);
    let mut model = Model::new();
    let mut inc = Fib::<u128>::new();
    for _ in 0..60_000 {
        let op = random_op_v6(&mut r, 64);
        model.apply(&op);
        inc.apply(&[op]).unwrap();
    }
    let bulk = Fib::from_routes(inc.iter()).unwrap();
    let mut addrs = vec![0u128; 4096];
    let mut out = vec![None; 4096];
    for _ in 0..10_000_000 / 4096 + 1 {
        for a in addrs.iter_mut() {
            *a = random_addr_v6(&mut r);
        }
        bulk.lookup_batch(&addrs, &mut out);
        for (&a, &o) in addrs.iter().zip(&out) {
            let want = model.lookup(a);
            assert_eq!(o, want, "batch {a:#x}");
            assert_eq!(bulk.lookup(a), want, "{a:#x}");
            assert_eq!(inc.lookup(a), want, "incremental {a:#x}");
        }
    }
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let mut fib = Fib::<u32>::new();
    fib.insert(0x0a00_0000, 8, nh(1)).unwrap();
    assert_eq!(
        fib.insert(0, 33, nh(1)),
        Err(FibError::PrefixLength { len: 33, max: 32 })
    );
    assert!(matches!(
        fib.insert(0x0a00_0001, 8, nh(1)),
        Err(FibError::NonCanonical { len: 8, .. })
    ));
    assert_eq!(
        NextHop::new(65_535),
        Err(FibError::NextHopOverflow { index: 65_535 })
    );
    assert!(NextHop::new(NextHop::MAX).is_ok());
    // A batch with one bad op is rejected as a whole.
    let ops = [
        FibOp::Insert {
            addr: 0x0b00_0000,
            len: 8,
            nh: nh(2),
        },
        FibOp::Remove { addr: 1, len: 8 },
    ];
    assert!(fib.apply(&ops).is_err());
    assert_eq!(fib.lookup(0x0b00_0001), None);
    assert_eq!(fib.lookup(0x0a00_0001), Some(nh(1)));
    assert_eq!(fib.len(), 1);
    let mut f6 = Fib::<u128>::new();
    assert_eq!(
        f6.remove(0, 129),
        Err(FibError::PrefixLength { len: 129, max: 128 })
    );
}

#[test]
fn default_route_and_host_routes() {
    let mut fib = Fib::<u128>::new();
    fib.insert(0, 0, nh(0)).unwrap();
    fib.insert(u128::MAX, 128, nh(1)).unwrap();
    fib.insert(1, 128, nh(2)).unwrap();
    assert_eq!(fib.lookup(0), Some(nh(0)));
    assert_eq!(fib.lookup(1), Some(nh(2)));
    assert_eq!(fib.lookup(u128::MAX), Some(nh(1)));
    assert_eq!(fib.lookup(u128::MAX - 1), Some(nh(0)));
    fib.remove(0, 0).unwrap();
    assert_eq!(fib.lookup(2), None);
    assert_eq!(fib.lookup(1), Some(nh(2)));
}

/// Readers race a writer that flips the table between two versions; every read section
/// must see one version entirely (no half-applied batch), and memory stays valid.
#[test]
fn concurrent_readers_see_whole_batches() {
    let v4: Vec<(u32, u8)> = (0..200u32)
        .map(|i| ((i * 7919) << 12 & u32::mask(20), 20 + (i % 13) as u8))
        .map(|(a, l)| (a & u32::mask(l), l))
        .collect();
    let v6: Vec<(u128, u8)> = (0..200u128)
        .map(|i| ((0x2001u128 << 112) | (i * 7919) << 84, 36 + (i % 29) as u8))
        .map(|(a, l)| (a & u128::mask(l), l))
        .collect();
    // Both fence protocols of psref: the writer's grace periods must hold either way.
    for fenced in [false, true] {
        let domain = || {
            if fenced {
                psref::Domain::fenced()
            } else {
                psref::Domain::new()
            }
        };
        whole_batches_in(domain(), &v4);
        whole_batches_in(domain(), &v6);
    }
}

/// Two readers look all `prefixes` up in one section at a time while the writer
/// flips every prefix between two next hops per batch: a section sees one of the two
/// versions, never a mix.
fn whole_batches_in<K: Key>(domain: psref::Domain, prefixes: &[(K, u8)]) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let version = |v: u32| -> Vec<FibOp<K>> {
        prefixes
            .iter()
            .map(|&(addr, len)| FibOp::Insert {
                addr,
                len,
                nh: nh(v),
            })
            .collect()
    };
    let fib = SharedFib::<K>::new(&domain);
    fib.apply(&version(1), &domain).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let reader = domain.reader();
                let probes: Vec<K> = prefixes.iter().map(|&(a, _)| a).collect();
                let mut out = vec![None; probes.len()];
                let mut sections = 0u64;
                while !stop.load(Ordering::Relaxed) || sections < 10 {
                    let g = reader.read();
                    let lpm = fib.load(&g);
                    lpm.lookup_batch(&probes, &mut out);
                    let first = out[0];
                    assert!(first == Some(nh(1)) || first == Some(nh(2)));
                    assert!(out.iter().all(|&o| o == first), "half-applied batch seen");
                    sections += 1;
                }
            });
        }
        for i in 0..300 {
            fib.apply(&version(1 + (i % 2)), &domain).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// Readers race a writer that patches (small batches, the incremental path, not the
/// heavy-churn rebuild): the prefixes come in pairs, and each batch flips both prefixes
/// of one pair to the pair's next state. Every read section must see each pair in one
/// state (no half-applied batch), and every answer must be one of the two next hops of
/// the probe's own prefix (a reader reaching a block the writer freed and reused would
/// see another prefix's next hop). The tables mix deep chunks (nodes and leaf arrays)
/// with leaf-only records, so blocks of every kind are retired and reused under the
/// readers.
#[test]
fn concurrent_readers_see_patched_pairs() {
    // IPv4: /32s and /28s in 10.128.0.0/9 (node chunks), /20–/24s in 10.0.0.0/9 (records),
    // all disjoint, under a covering /8.
    let v4: Vec<(u32, u8)> = (0..160u32)
        .map(|i| {
            let len = [32, 28, 24, 20][(i % 4) as usize];
            let base = if len >= 28 { 0x0a80_0000 } else { 0x0a00_0000 };
            let a = base | (i.wrapping_mul(0x9e37_79b9) >> 9 << 8 & 0x007f_ff00) | (i & 0xf0);
            (a & u32::mask(len), len)
        })
        .collect();
    let v6: Vec<(u128, u8)> = (0..160u128)
        .map(|i| {
            let len = [48u8, 56, 64, 128][(i % 4) as usize];
            let a = (0x2001u128 << 112) | ((i * 0x9e37_79b9) & 0xffff_ffff) << 80 | i << 64;
            (a & u128::mask(len), len)
        })
        .collect();
    for fenced in [false, true] {
        let domain = || {
            if fenced {
                psref::Domain::fenced()
            } else {
                psref::Domain::new()
            }
        };
        patched_pairs_in(domain(), &v4, (0x0a00_0000, 8));
        patched_pairs_in(domain(), &v6, (0x2001u128 << 112, 16));
    }
}

fn patched_pairs_in<K: Key>(domain: psref::Domain, prefixes: &[(K, u8)], cover: (K, u8)) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut uniq = prefixes.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), prefixes.len(), "test prefixes must be distinct");
    // Prefix i answers nh(2i + state of its pair).
    let nh_of = |i: usize, state: u32| nh(2 * i as u32 + state);
    let mut routes: Vec<(K, u8, NextHop)> = vec![(cover.0, cover.1, nh(1000))];
    routes.extend(
        prefixes
            .iter()
            .enumerate()
            .map(|(i, &(a, l))| (a, l, nh_of(i, 0))),
    );
    let fib = SharedFib::<K>::from_routes(routes, &domain).unwrap();
    // Probes: each prefix's own address (its longest match: the prefixes are disjoint).
    let probes: Vec<K> = prefixes.iter().map(|&(a, _)| a).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let reader = domain.reader();
                let mut out = vec![None; probes.len()];
                let mut sections = 0u64;
                while !stop.load(Ordering::Relaxed) || sections < 10 {
                    let g = reader.read();
                    fib.load(&g).lookup_batch(&probes, &mut out);
                    for (i, o) in out.iter().enumerate() {
                        let state = match *o {
                            Some(n) if n == nh_of(i, 0) => 0,
                            Some(n) if n == nh_of(i, 1) => 1,
                            other => panic!("probe {i}: {other:?}, not its prefix's next hop"),
                        };
                        if i % 2 == 1 {
                            let mate = u32::from(out[i - 1] == Some(nh_of(i - 1, 1)));
                            assert_eq!(state, mate, "pair {}: half-applied batch seen", i / 2);
                        }
                    }
                    sections += 1;
                }
            });
        }
        let mut state = vec![0u32; prefixes.len() / 2];
        let mut x = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..600 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // One to eight pairs per batch (at most 16 of the 161 prefixes: below the
            // rebuild threshold), so that blocks retired early in a batch could be
            // reused later in it.
            let mut ops: Vec<FibOp<K>> = Vec::new();
            for j in 0..1 + (x >> 40) % 8 {
                let k = ((x >> (j * 5)) % state.len() as u64) as usize;
                if ops.iter().any(|o| o.prefix() == prefixes[2 * k]) {
                    continue;
                }
                state[k] ^= 1;
                for i in [2 * k, 2 * k + 1] {
                    ops.push(FibOp::Insert {
                        addr: prefixes[i].0,
                        len: prefixes[i].1,
                        nh: nh_of(i, state[k]),
                    });
                }
            }
            fib.apply(&ops, &domain).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(fib.copies_identical(&domain));
}

/// A union-like table (many prefixes longer than /24 and /48, mixed with short ones):
/// bulk build, random lookups, then half of it removed incrementally.
fn union_like<K: Key>(
    n: usize,
    gen_prefix: impl Fn(&mut Rng) -> (K, u8),
    inside: impl Fn(&mut Rng, K, u8) -> K,
) {
    let mut r = Rng(11);
    let mut model = Model::new();
    let mut routes = Vec::new();
    for i in 0..n {
        let (a, l) = gen_prefix(&mut r);
        let op = FibOp::Insert {
            addr: a,
            len: l,
            nh: nh((i % 700) as u32),
        };
        model.apply(&op);
        routes.push((a, l, nh((i % 700) as u32)));
    }
    let mut fib = Fib::from_routes(routes.iter().copied()).unwrap();
    println!(
        "union-like /{}: {} prefixes, {:.2} B/prefix, shape {:?}",
        K::BITS,
        fib.len(),
        fib.memory_bytes() as f64 / fib.len() as f64,
        fib.lpm().shape()
    );
    let check = |fib: &Fib<K>, r: &mut Rng, model: &Model<K>| {
        for _ in 0..100_000 {
            let (a, l, _) = routes[(r.next() % routes.len() as u64) as usize];
            let p = inside(r, a, l);
            assert_eq!(fib.lookup(p), model.lookup(p), "{p:?}");
        }
    };
    check(&fib, &mut r, &model);
    for &(a, l, _) in routes.iter().step_by(2) {
        let op = FibOp::Remove { addr: a, len: l };
        fib.apply(&[op]).unwrap();
        model.apply(&op);
    }
    check(&fib, &mut r, &model);
}

#[test]
fn union_like_v4() {
    union_like::<u32>(
        60_000,
        |r| {
            let len = [8u8, 16, 19, 22, 24, 24, 24, 26, 28, 30, 32][(r.next() % 11) as usize];
            // Concentrate in a few /8s so that long prefixes share chunks.
            let a = ((r.next() % 4) as u32 + 40) << 24 | (r.next() as u32 & 0x00ff_ffff);
            (a & u32::mask(len), len)
        },
        |r, a, l| a | (r.next() as u32 & !u32::mask(l)),
    );
}

#[test]
fn union_like_v6() {
    union_like::<u128>(
        30_000,
        |r| {
            let len = [20u8, 32, 40, 44, 48, 48, 56, 64, 96, 127, 128][(r.next() % 11) as usize];
            let a = (0x2a00u128 + (r.next() % 4) as u128) << 112
                | (u128::from(r.next()) << 48)
                | u128::from(r.next());
            (a & u128::mask(len), len)
        },
        |r, a, l| a | (((u128::from(r.next()) << 64) | u128::from(r.next())) & !u128::mask(l)),
    );
}

/// The RIS table of a family from `CARGO_MANIFEST_DIR/../../../shared/data`, if present.
fn ris_table<K: Key>(tag: &str, parse: impl Fn(&str) -> Option<K>) -> Option<Vec<(K, u8)>> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../../shared/data/ris-rrc00-as3333-20260511-table-{tag}.txt.gz"
    ));
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let v: Vec<(K, u8)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (a, len) = l.split_whitespace().next()?.split_once('/')?;
            Some((parse(a)?, len.parse().ok()?))
        })
        .collect();
    (!v.is_empty()).then_some(v)
}

fn leaf_memory<K: Key>(table: &[(K, u8)]) {
    let n = table.len() as f64;
    let mix = |a: K, l: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&(a, l), &mut h);
        std::hash::Hasher::finish(&h)
    };
    let f16 = Fib::<K, NextHop>::from_routes(
        table
            .iter()
            .map(|&(a, l)| (a, l, nh(1 + (mix(a, l) % 512) as u32))),
    )
    .unwrap();
    let f32s = Fib::<K, SlabIndex>::from_routes(
        table
            .iter()
            .map(|&(a, l)| (a, l, SlabIndex::new(1 + (mix(a, l) % 512) as u32).unwrap())),
    )
    .unwrap();
    let f32u = Fib::<K, SlabIndex>::from_routes(
        table
            .iter()
            .enumerate()
            .map(|(i, &(a, l))| (a, l, SlabIndex::new(i as u32).unwrap())),
    )
    .unwrap();
    println!(
        "/{}: {} prefixes; u16 leaves (512 next hops): {:.2} B/prefix {:?}; \
         u32 leaves (512 values): {:.2} B/prefix {:?}; u32 leaves (one slab index per \
         prefix): {:.2} B/prefix {:?}; RIB {:.1} B/prefix",
        K::BITS,
        table.len(),
        f16.memory_bytes() as f64 / n,
        f16.lpm().shape(),
        f32s.memory_bytes() as f64 / n,
        f32s.lpm().shape(),
        f32u.memory_bytes() as f64 / n,
        f32u.lpm().shape(),
        f32u.rib_memory_bytes() as f64 / n,
    );
}

/// Memory of the compiled structure by leaf type on the RIS tables (figures for the
/// module docs). `cargo test -p netroute --release --lib ris_memory_by_leaf -- --ignored
/// --nocapture`
#[test]
#[ignore = "needs the RIS tables; prints figures"]
fn ris_memory_by_leaf() {
    if let Some(t) = ris_table::<u32>("v4", |a| {
        a.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
    }) {
        leaf_memory(&t);
    }
    if let Some(t) = ris_table::<u128>("v6", |a| {
        a.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
    }) {
        leaf_memory(&t);
    }
}
