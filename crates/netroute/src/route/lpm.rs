//! The FIB seam: prefix → slab index, longest match, published RCU-style.
//!
//! NetBSD matches in the radix tree (`rn_match`, `sys/net/radix.c`) under `rt_lock`;
//! FreeBSD 13 keeps the radix tree as the RIB and serves lookups from a pluggable
//! compiled algorithm (`sys/net/route/fib_algo.c`: DXR, DIR-24-8). Here readers load the
//! published version from a [`psref::Slot`] inside their read section; the writer (one
//! per family, under the RIB lock) derives the next version from a batch of changes with
//! [`Fib::next`], publishes it with one pointer store, and hands the retired version back
//! with [`Fib::recycle`] once the grace period is over. [`Fib`] is the whole contract;
//! [`DefaultFib`] picks the implementation without touching callers.
//!
//! # Implementations
//!
//! * [`CompiledFib`] (the default): the compiled LPM of `route/fib/` (a Poptrie for
//!   IPv4, flattened ranges searched by cache-line trees for IPv6) with
//!   30-bit [`SlabIndex`] leaves, run left-right: the writer patches a private copy
//!   (only the units the changed prefixes live in), the table publishes it, and the
//!   retired copy, after its grace period, is patched the same way and becomes the next
//!   private copy (`fib/versions.rs`). A batch changing more than an eighth of the table
//!   (and more than 4,096 prefixes), e.g. `add_many` of a full feed, is compiled in one
//!   ordered pass instead.
//! * [`HashFib`]: one hash map per prefix length, persistent (copy-on-write per length).
//!   Obviously correct, slow on full tables; kept as the reference the compiled FIB is
//!   tested against (`route/tests.rs`, `fib_seam_*`).
//!
//! # Why 32-bit leaves
//!
//! The compiled structure was written with 16-bit next hops (FreeBSD's `nhop` indices,
//! shared by many prefixes). The routing table has no next-hop objects: every prefix
//! has its own rtentry and slab index (up to `RouteConfig::max_routes`, 2 Mi), so a
//! 16-bit leaf cannot name it and an extra indirection table (prefix → u16 group →
//! slab index) would not compress anything (one group per prefix). The structure is
//! therefore generic over its leaf ([`fib::Leaf`](super::fib::Leaf)): the standalone
//! FIB keeps [`NextHop`](super::fib::NextHop) (u16) and its figures, the table uses
//! [`SlabIndex`] (u32, 30 bits: a direct-table entry holds a leaf in its 30-bit payload).
//! Measured on the RIS tables (`ris_memory_by_leaf` in `fib/tests.rs`), compiled bytes
//! per prefix, one copy:
//!
//! | table | u16 leaves (512 next hops) | u32 leaves (512 values) | u32 leaves (one slab index per prefix) |
//! |---|---|---|---|
//! | IPv4, 1,042,325 prefixes | 3.93 | 6.07 | 6.08 |
//! | IPv6, 246,175 prefixes | 10.32 | 12.63 | 12.64 |
//!
//! The route table holds two copies (left-right) plus the FIB's own prefix set (about
//! 19 B/prefix IPv4, 59 B/prefix IPv6, estimated): about 33 MB for the IPv4 full table,
//! the same order as the per-length hash maps of [`HashFib`] (about 25 MB by a count of
//! their buckets, not measured), which also copy a whole length's map per update.
//!
//! # Guarantees kept for the table
//!
//! * Readers see a version completely or not at all: a version is never modified while
//!   published or during its grace period (the writer only patches the private copy).
//! * After the delete path's "publish, then synchronize" (the retired version coming back
//!   from `Retired::into_inner`), no reader can reach a removed slab index through the
//!   FIB; the retired version still holds it but is private and is caught up (patched
//!   for every prefix changed since it was published) before it is ever published again.
//! * A single add/delete/change publishes after patching one copy (microseconds); the
//!   second patch runs after the grace period, off the publication path.

use std::collections::HashMap;
use std::sync::Arc;

use super::Afi;
use super::fib::{Leaf, SlabIndex, Version, Versions};

/// A published longest-prefix-match version, with its writer side.
///
/// Guarantees required of implementations: [`lookup`](Self::lookup) returns the index
/// stored for the longest prefix containing the address; [`next`](Self::next) leaves the
/// published version untouched (readers may still use it) and returns a version with
/// the changes applied in order; a version passed to [`recycle`](Self::recycle) is no
/// longer reachable by any reader.
pub(crate) trait Fib<P: Afi>: Send + Sync + Sized + 'static {
    /// Writer-side state, kept under the family's RIB lock.
    type Writer: Send + 'static;
    /// The empty FIB and its writer state.
    fn new() -> (Self, Self::Writer);
    /// The index of the longest prefix containing `addr`.
    fn lookup(&self, addr: P::Addr) -> Option<u32>;
    /// The next version: `published` (the current one) with the changes applied, `Some(i)`
    /// setting the prefix's index, `None` removing it.
    fn next(w: &mut Self::Writer, published: &Self, changes: &[(P, Option<u32>)]) -> Self;
    /// A retired version after its grace period (the writer may reuse it).
    fn recycle(w: &mut Self::Writer, old: Self);
}

/// The FIB the tables use.
pub(crate) type DefaultFib<P> = CompiledFib<P>;

/// The largest slab index a FIB can serve (the table's slab is capped to it).
pub(crate) const MAX_SLAB_INDEX: u32 = SlabIndex::MAX;

/// The compiled FIB (`route/fib/`: Poptrie for IPv4, ranges for IPv6) with slab-index
/// leaves; see the module
/// docs.
pub(crate) struct CompiledFib<P: Afi>(Version<P::FibKey, SlabIndex>);

impl<P: Afi> Fib<P> for CompiledFib<P> {
    type Writer = Versions<P::FibKey, SlabIndex>;

    fn new() -> (Self, Self::Writer) {
        let (v, w) = Versions::new();
        (Self(v), w)
    }

    #[inline]
    fn lookup(&self, addr: P::Addr) -> Option<u32> {
        self.0.lookup(P::fib_addr(addr)).map(Leaf::to_index)
    }

    fn next(w: &mut Self::Writer, published: &Self, changes: &[(P, Option<u32>)]) -> Self {
        let changes: Vec<_> = changes
            .iter()
            .map(|(p, i)| {
                let (k, l) = p.fib_prefix();
                // The slab is capped to MAX_SLAB_INDEX: the conversion cannot fail.
                (k, l, i.and_then(|i| SlabIndex::new(i).ok()))
            })
            .collect();
        Self(w.next(&published.0, &changes))
    }

    fn recycle(w: &mut Self::Writer, old: Self) {
        w.recycle(old.0);
    }
}

/// The simple, obviously correct FIB: one hash map per prefix length, probed from the
/// longest non-empty length down. An update copies the maps of the lengths it touches
/// (copy-on-write per length), so it costs O(routes of those lengths): the reference
/// for tests, far too slow for full tables.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct HashFib<P: Afi> {
    /// Non-empty lengths, longest first.
    lens: Vec<u8>,
    /// Indexed by prefix length.
    maps: Vec<Arc<HashMap<P, u32>>>,
}

#[cfg_attr(not(test), allow(dead_code))]
impl<P: Afi> HashFib<P> {
    fn empty() -> Self {
        Self {
            lens: Vec::new(),
            maps: (0..=P::MAX_LEN).map(|_| Arc::new(HashMap::new())).collect(),
        }
    }

    fn with_changes(&self, changes: &[(P, Option<u32>)]) -> Self {
        let mut maps = self.maps.clone();
        for (p, idx) in changes {
            let m = Arc::make_mut(&mut maps[p.prefix_len() as usize]);
            match idx {
                Some(i) => {
                    m.insert(*p, *i);
                }
                None => {
                    m.remove(p);
                }
            }
        }
        let mut lens: Vec<u8> = (0..=P::MAX_LEN)
            .rev()
            .filter(|&l| !maps[l as usize].is_empty())
            .collect();
        lens.shrink_to_fit();
        Self { lens, maps }
    }
}

impl<P: Afi> Fib<P> for HashFib<P> {
    type Writer = ();

    fn new() -> (Self, ()) {
        (Self::empty(), ())
    }

    fn lookup(&self, addr: P::Addr) -> Option<u32> {
        self.lens.iter().find_map(|&len| {
            let key = P::new_truncating(addr, len).ok()?;
            self.maps[len as usize].get(&key).copied()
        })
    }

    fn next(_: &mut (), published: &Self, changes: &[(P, Option<u32>)]) -> Self {
        published.with_changes(changes)
    }

    fn recycle(_: &mut (), _old: Self) {}
}

#[cfg(test)]
mod tests {
    //! The compiled FIB against the reference through the seam: random batches with every
    //! prefix length, versions recycled late, out of order or never (the clone path and
    //! the log floor), bulk batches (the rebuild path).

    use super::*;
    use ipnet::{Ipv4Net, Ipv6Net};
    use std::net::{Ipv4Addr, Ipv6Addr};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    trait TestAfi: Afi {
        /// The address whose top bits are those of `x` (a 128-bit pattern).
        fn addr(x: u128) -> Self::Addr;
        /// `x` with the bits after `len` set to ones (the last address of the prefix).
        fn last(p: &Self) -> Self::Addr;
        /// Neighbours of an address (wrapping).
        fn step(a: Self::Addr, up: bool) -> Self::Addr;
    }

    impl TestAfi for Ipv4Net {
        fn addr(x: u128) -> Ipv4Addr {
            Ipv4Addr::from((x >> 96) as u32)
        }
        fn last(p: &Self) -> Ipv4Addr {
            p.broadcast()
        }
        fn step(a: Ipv4Addr, up: bool) -> Ipv4Addr {
            let a = u32::from(a);
            Ipv4Addr::from(if up {
                a.wrapping_add(1)
            } else {
                a.wrapping_sub(1)
            })
        }
    }

    impl TestAfi for Ipv6Net {
        fn addr(x: u128) -> Ipv6Addr {
            Ipv6Addr::from(x)
        }
        fn last(p: &Self) -> Ipv6Addr {
            p.broadcast()
        }
        fn step(a: Ipv6Addr, up: bool) -> Ipv6Addr {
            let a = u128::from(a);
            Ipv6Addr::from(if up {
                a.wrapping_add(1)
            } else {
                a.wrapping_sub(1)
            })
        }
    }

    /// A random prefix: one of a few clustered bases, any length `0..=MAX_LEN`.
    fn prefix<P: TestAfi>(r: &mut Rng, bases: &[u128]) -> P {
        let base = bases[r.below(bases.len() as u64) as usize];
        let noise = (u128::from(r.next()) << 64 | u128::from(r.next())) >> r.below(128);
        // Lengths: uniform over 0..=MAX_LEN, with extra weight around the chunk border
        // (/18) and the ends.
        let max = u64::from(P::MAX_LEN);
        let len = match r.below(4) {
            0 => 14 + r.below(10) as u8,
            1 => (max - r.below(4)) as u8,
            _ => r.below(max + 1) as u8,
        };
        P::new_truncating(P::addr(base ^ noise), len).expect("len in range")
    }

    fn check<P: TestAfi>(c: &CompiledFib<P>, h: &HashFib<P>, probes: &[P::Addr], ctx: &str) {
        for &a in probes {
            assert_eq!(c.lookup(a), h.lookup(a), "{ctx}: lookup {a}");
        }
    }

    fn differential<P: TestAfi>(seed: u64, steps: usize) {
        let mut r = Rng(seed);
        let bases: Vec<u128> = (0..4)
            .map(|_| u128::from(r.next()) << 64 | u128::from(r.next()))
            .chain([0, u128::MAX])
            .collect();
        let (mut c, mut w) = <CompiledFib<P> as Fib<P>>::new();
        let (mut h, mut hw) = <HashFib<P> as Fib<P>>::new();
        let mut out: Vec<CompiledFib<P>> = Vec::new();
        let mut known: Vec<P> = Vec::new();
        for step in 0..steps {
            // A batch: mostly small, sometimes a bulk one (the rebuild path).
            let n = match r.below(50) {
                0 => 5000 + r.below(3000) as usize,
                1..=5 => 20 + r.below(100) as usize,
                _ => 1 + r.below(6) as usize,
            };
            let mut changes = Vec::with_capacity(n);
            for _ in 0..n {
                let p = if !known.is_empty() && r.below(3) == 0 {
                    known[r.below(known.len() as u64) as usize]
                } else {
                    let p = prefix::<P>(&mut r, &bases);
                    known.push(p);
                    p
                };
                let v = if r.below(3) == 0 {
                    None
                } else {
                    Some(r.below(u64::from(MAX_SLAB_INDEX) + 1) as u32)
                };
                changes.push((p, v));
            }
            let next = <CompiledFib<P> as Fib<P>>::next(&mut w, &c, &changes);
            out.push(std::mem::replace(&mut c, next));
            h = <HashFib<P> as Fib<P>>::next(&mut hw, &h, &changes);
            // Retired versions come back now, later, out of order, or never.
            while !out.is_empty() && r.below(3) != 0 {
                let i = r.below(out.len() as u64) as usize;
                let v = out.swap_remove(i);
                if r.below(10) != 0 {
                    <CompiledFib<P> as Fib<P>>::recycle(&mut w, v);
                }
            }
            if out.len() > 4 {
                out.clear();
            }
            let mut probes: Vec<P::Addr> = (0..64)
                .map(|_| prefix::<P>(&mut r, &bases).prefix_addr())
                .collect();
            for (p, _) in changes.iter().take(256) {
                let (a, l) = (p.prefix_addr(), P::last(p));
                probes.extend([a, l, P::step(a, false), P::step(l, true)]);
            }
            check(&c, &h, &probes, &format!("seed {seed} step {step}"));
        }
        // Finally every known prefix's edges.
        let probes: Vec<P::Addr> = known
            .iter()
            .flat_map(|p| {
                let (a, l) = (p.prefix_addr(), P::last(p));
                [a, l, P::step(a, false), P::step(l, true)]
            })
            .collect();
        check(&c, &h, &probes, &format!("seed {seed} end"));
    }

    #[test]
    fn fib_seam_compiled_matches_hashfib_v4() {
        for seed in 1..=3 {
            differential::<Ipv4Net>(seed, 300);
        }
    }

    #[test]
    fn fib_seam_compiled_matches_hashfib_v6() {
        for seed in 1..=3 {
            differential::<Ipv6Net>(seed, 300);
        }
    }
}
