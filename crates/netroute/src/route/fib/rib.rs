//! The writer's exact-match view of the prefixes (the source every compiled part is built
//! from), plus the expansion of short prefixes onto the direct table.

use super::key::Key;
use super::leaf::Leaf;
use super::leaf::sealed::Sealed;
use super::{FibError, NextHop};
use std::collections::BTreeMap;

type E<L> = <L as Sealed>::Enc;

/// Exact-match prefix set: `(network, len) -> encoded leaf` plus, per direct-table
/// chunk, the longest prefix of length `<= DIRECT_BITS` covering it.
#[derive(Clone, Debug)]
pub(crate) struct Rib<K: Key, L: Leaf = NextHop> {
    pub(crate) map: BTreeMap<(K, u8), E<L>>,
    /// Encoded leaf (0 = none) of the longest short prefix covering each chunk.
    pub(crate) dflt: Vec<E<L>>,
    /// Length + 1 of that prefix (0 = none).
    pub(crate) dlen: Vec<u8>,
}

/// Checks a prefix: length in range and no host bits set.
pub(crate) fn check<K: Key>(addr: K, len: u8) -> Result<(), FibError> {
    if len > K::BITS {
        return Err(FibError::PrefixLength { len, max: K::BITS });
    }
    if addr.and(K::mask(len)) != addr {
        return Err(FibError::NonCanonical {
            addr: addr.to_text(),
            len,
        });
    }
    Ok(())
}

impl<K: Key, L: Leaf> Rib<K, L> {
    pub(crate) fn new() -> Self {
        let n = 1usize << K::DIRECT_BITS;
        Rib {
            map: BTreeMap::new(),
            dflt: vec![E::<L>::default(); n],
            dlen: vec![0; n],
        }
    }

    /// Builds from validated routes; later duplicates win.
    pub(crate) fn from_sorted(routes: Vec<((K, u8), E<L>)>) -> Self {
        let mut rib = Rib::new();
        rib.map = routes.into_iter().collect();
        let mut short: Vec<(u8, K, E<L>)> = rib
            .map
            .iter()
            .filter(|((_, l), _)| u32::from(*l) <= K::DIRECT_BITS)
            .map(|(&(k, l), &v)| (l, k, v))
            .collect();
        short.sort_unstable();
        for (l, k, v) in short {
            let (lo, n) = Self::chunk_span(k, l);
            rib.dflt[lo..lo + n].fill(v);
            rib.dlen[lo..lo + n].fill(l + 1);
        }
        rib
    }

    /// The chunks a short prefix covers: first index and count.
    pub(crate) fn chunk_span(k: K, len: u8) -> (usize, usize) {
        let lo = k.top(K::DIRECT_BITS);
        (lo, 1usize << (K::DIRECT_BITS - u32::from(len)))
    }

    /// Longest prefix strictly shorter than `len` covering `k` (encoded next hop,
    /// length + 1), or `(0, 0)` if none.
    ///
    /// Walks the ordered map downwards from `(k, len)` with jumps instead of probing
    /// every shorter length (up to 47 B-tree descents for a /48): the entry just below
    /// the bound either covers `k` (then it is the longest such, every longer candidate
    /// sorting after it) or shares only its first `c` bits with `k`, and then every
    /// covering prefix is at most `c` long and sorts at or below `(k & mask(c), c)`.
    /// A few descents on real tables. Below `DIRECT_BITS` bits the answer of a longer
    /// prefix is the chunk's short-prefix default.
    pub(crate) fn covering(&self, k: K, len: u8) -> (E<L>, u8) {
        use std::ops::Bound;
        let long = u32::from(len) > K::DIRECT_BITS;
        let mut hi = Bound::Excluded((k, len));
        // A /0 has nothing shorter; the walk's `c` needs `len >= 1`.
        let mut below = self
            .map
            .range((Bound::Unbounded, hi))
            .next_back()
            .filter(|_| len > 0);
        while let Some((&(x, lx), &v)) = below {
            if lx < len && k.and(K::mask(lx)) == x {
                return (v, lx + 1);
            }
            let c = k.common_prefix(x).min(u32::from(len) - 1);
            if long && c <= K::DIRECT_BITS {
                break;
            }
            hi = Bound::Included((k.and(K::mask(c as u8)), c as u8));
            below = self.map.range((Bound::Unbounded, hi)).next_back();
        }
        if long {
            let ch = k.top(K::DIRECT_BITS);
            return (self.dflt[ch], self.dlen[ch]);
        }
        (E::<L>::default(), 0)
    }

    /// The slow definition of [`Rib::covering`] (tests).
    #[cfg(test)]
    pub(crate) fn covering_by_probes(&self, k: K, len: u8) -> (E<L>, u8) {
        for l in (0..len).rev() {
            if let Some(&v) = self.map.get(&(k.and(K::mask(l)), l)) {
                return (v, l + 1);
            }
        }
        (E::<L>::default(), 0)
    }

    /// Inserts or replaces; returns the previous next hop.
    pub(crate) fn insert(&mut self, k: K, len: u8, nh: L) -> Option<L> {
        let v = nh.enc();
        let old = self.map.insert((k, len), v);
        if u32::from(len) <= K::DIRECT_BITS {
            let (lo, n) = Self::chunk_span(k, len);
            for c in lo..lo + n {
                if self.dlen[c] <= len + 1 {
                    self.dflt[c] = v;
                    self.dlen[c] = len + 1;
                }
            }
        }
        old.and_then(L::from_enc)
    }

    /// Removes; returns the removed next hop.
    pub(crate) fn remove(&mut self, k: K, len: u8) -> Option<L> {
        let old = self.map.remove(&(k, len))?;
        if u32::from(len) <= K::DIRECT_BITS {
            let (pv, pl) = self.covering(k, len);
            let (lo, n) = Self::chunk_span(k, len);
            for c in lo..lo + n {
                if self.dlen[c] == len + 1 {
                    self.dflt[c] = pv;
                    self.dlen[c] = pl;
                }
            }
        }
        L::from_enc(old)
    }

    /// Prefixes strictly longer than `off` inside the prefix `(base, off)`, sorted.
    pub(crate) fn items_in(&self, base: K, off: u32, out: &mut Vec<(K, u8, E<L>)>) {
        out.clear();
        let off8 = off as u8;
        let hi = base.last(off8);
        out.extend(
            self.map
                .range((base, off8.saturating_add(1))..=(hi, K::BITS))
                .filter(|((_, l), _)| *l > off8)
                .map(|(&(k, l), &v)| (k, l, v)),
        );
    }

    /// The prefix `(base, len)` itself, if present, and the prefixes inside it, sorted
    /// (one range scan).
    pub(crate) fn items_from(&self, base: K, len: u8, out: &mut Vec<(K, u8, E<L>)>) {
        out.clear();
        out.extend(
            self.map
                .range((base, len)..=(base.last(len), K::BITS))
                .filter(|((_, l), _)| *l >= len)
                .map(|(&(k, l), &v)| (k, l, v)),
        );
    }

    /// Heap bytes (estimate: BTreeMap nodes hold 11 entries of key + value plus edges).
    pub(crate) fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(K, u8)>() + std::mem::size_of::<E<L>>();
        // B-tree leaves are on average ~2/3 full; internal nodes add ~1/11.
        self.map.len() * entry * 3 / 2 + self.dflt.len() * (1 + std::mem::size_of::<E<L>>())
    }
}
