//! The compiled lookup structure [`Lpm`]: per family, either the Poptrie below (IPv4: a
//! direct-pointing top table over 64-ary nodes with popcount-compressed children and
//! leaves) or the range-search structure of `ranges.rs` (IPv6), chosen by
//! [`Key::RANGES`].

use super::NextHop;
use super::key::Key;
use super::leaf::Leaf;
use super::leaf::sealed::{Enc, Sealed};
use super::ranges::Ranges;
use super::rib::Rib;
use std::marker::PhantomData;

/// The stored form of leaf type `L`.
type E<L> = <L as Sealed>::Enc;

/// Direct entry tags (top two bits); the low 30 bits are the payload.
const TAG_SHIFT: u32 = 30;
const PAYLOAD: u32 = (1 << TAG_SHIFT) - 1;
const TAG_LEAF: u32 = 0;
const TAG_COMPACT: u32 = 1;
const TAG_NODE: u32 = 2;

/// Stride of every trie level below the direct table.
const STRIDE: u32 = 6;

/// Flag in `Node::base1` of a leaf-only node whose (at most `L::INLINE_MAX`) leaves are
/// stored in the node itself, packed `L::WIDTH` bits each into `base0` then the low 31
/// bits of `base1` (16-bit leaves: 0 and 1 in `base0`, 2 in the low half of `base1`;
/// 30-bit leaves: one in each).
const INLINE: u32 = 1 << 31;

/// The structure recompiles itself when the replaced parts waiting in the free lists
/// exceed `COMPACT_MIN` bytes and `1 / COMPACT_DEN` of the live bytes (much sooner under
/// test, so that the tests cross compactions).
const COMPACT_MIN: usize = if cfg!(test) { 4 * 1024 } else { 64 * 1024 };
const COMPACT_DEN: usize = if cfg!(test) { 64 } else { 2 };

/// Lanes interleaved by the batch lookup.
const LANES: usize = 16;

/// A Poptrie internal node (24 bytes): `vector` marks the 64 slots that have a child,
/// `leafvec` marks where a new run of equal leaves starts among the others. Children are
/// `nodes[base1..base1 + popcnt(vector)]`, leaves `leaves[base0..]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Node {
    vector: u64,
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// Mask of bits `0..=v`.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// The Poptrie (IPv4): see the module docs of `fib`.
#[derive(Clone, Debug)]
pub(crate) struct Poptrie<K: Key, L: Leaf = NextHop> {
    direct: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<E<L>>,
    /// Leaf-only chunk records: word 0 is the leaf vector, then the leaves packed
    /// `64 / L::WIDTH` a word (four 16-bit or two 32-bit).
    compact: Vec<u64>,
    /// Bytes of replaced parts waiting in the free lists (reused by later patches, or
    /// compacted away by a rebuild).
    garbage: usize,
    /// Free node blocks by length (1..=64), leaf runs by length (1..=64), compact records
    /// by word count (2..=17 or 2..=33): patching reuses them, so steady churn does not grow the
    /// arenas.
    free_nodes: Vec<Vec<u32>>,
    free_leaves: Vec<Vec<u32>>,
    free_compact: Vec<Vec<u32>>,
    /// What the last patch wrote, for [`Poptrie::copy_patched`].
    log: PatchLog,
    _k: PhantomData<(K, L)>,
}

/// The parts of a [`Poptrie`] one patch wrote: enough for a second copy that was equal
/// before the patch to catch up by copying them.
#[derive(Clone, Debug, Default)]
struct PatchLog {
    /// The patch recompiled everything (a compaction): copy it all.
    rebuilt: bool,
    /// Direct entries written.
    direct: Vec<u32>,
    /// Arena blocks written, `(start, len)`.
    nodes: Vec<(u32, u32)>,
    leaves: Vec<(u32, u32)>,
    compact: Vec<(u32, u32)>,
    /// Size classes whose free lists changed (bit `n` for blocks of `n`).
    free_nodes: u128,
    free_leaves: u128,
    free_compact: u64,
}

impl PatchLog {
    fn clear(&mut self) {
        self.rebuilt = false;
        self.direct.clear();
        self.nodes.clear();
        self.leaves.clear();
        self.compact.clear();
        (self.free_nodes, self.free_leaves, self.free_compact) = (0, 0, 0);
    }
}

/// Copies the free lists of the size classes set in `mask` from `src`.
fn copy_lists(dst: &mut [Vec<u32>], src: &[Vec<u32>], mut mask: u128) {
    while mask != 0 {
        let n = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        dst[n].clone_from(&src[n]);
    }
}

/// Copies the blocks `(start, len)` of `src` into `dst` (same length).
fn copy_blocks<T: Copy>(dst: &mut [T], src: &[T], blocks: &[(u32, u32)]) {
    for &(at, n) in blocks {
        let r = at as usize..(at + n) as usize;
        dst[r.clone()].copy_from_slice(&src[r]);
    }
}

/// A compiled, read-only-for-readers longest-prefix-match structure for one family,
/// answering leaves of type `L` ([`NextHop`] by default, or
/// [`SlabIndex`](super::SlabIndex)): the Poptrie for IPv4, the range-search structure for
/// IPv6 (see the module docs of [`fib`](super) for the layouts and why).
///
/// Guarantees: [`Lpm::lookup`] returns the leaf of the longest prefix containing the
/// address among those it was compiled from (or `None`), in a bounded number of
/// dependent loads (IPv4: at most 1 + 3 nodes; IPv6: the direct entry plus, per 32-bit
/// level below it (at most four), one chunk descriptor, `height + 1` tree lines and one
/// value), without allocating or panicking. It is produced and patched by
/// [`Fib`](super::Fib) and [`SharedFib`](super::SharedFib); readers only ever see it
/// through `&`.
#[derive(Clone, Debug)]
pub struct Lpm<K: Key, L: Leaf = NextHop>(Inner<K, L>);

#[derive(Clone, Debug)]
enum Inner<K: Key, L: Leaf> {
    Poptrie(Poptrie<K, L>),
    Ranges(Ranges<K, L>),
}

impl<K: Key, L: Leaf> Lpm<K, L> {
    /// An empty structure: every lookup misses.
    pub(crate) fn empty() -> Self {
        if K::RANGES {
            Lpm(Inner::Ranges(Ranges::empty()))
        } else {
            Lpm(Inner::Poptrie(Poptrie::empty()))
        }
    }

    /// Compiles everything in `rib`.
    pub(crate) fn build(rib: &Rib<K, L>) -> Self {
        if K::RANGES {
            Lpm(Inner::Ranges(Ranges::build(rib)))
        } else {
            Lpm(Inner::Poptrie(Poptrie::build(rib)))
        }
    }

    /// Brings the structure up to date with `rib` after the prefix `(k, len)` changed
    /// there, recompiling only the affected part.
    pub(crate) fn patch(&mut self, rib: &Rib<K, L>, k: K, len: u8) {
        match &mut self.0 {
            Inner::Poptrie(p) => p.patch(rib, k, len),
            Inner::Ranges(r) => r.patch(rib, k, len),
        }
    }

    /// [`Lpm::patch`] for many changed prefixes (sorted, deduplicated); the IPv6
    /// structure rebuilds each affected chunk once.
    pub(crate) fn patch_many(&mut self, rib: &Rib<K, L>, changed: &[(K, u8)]) {
        match &mut self.0 {
            Inner::Poptrie(p) => p.patch_many(rib, changed),
            Inner::Ranges(r) => r.patch_many(rib, changed),
        }
    }

    /// Brings `self` to the state of `src` after `src`'s last patch, where `self` was
    /// equal to `src` before that patch (the second copy of a left-right pair): copies
    /// the parts the patch wrote (chunks and direct entries for IPv6, arena blocks, direct
    /// entries and free lists for IPv4), a memory copy instead of a second compile.
    pub(crate) fn catch_up(&mut self, src: &Lpm<K, L>) {
        match (&mut self.0, &src.0) {
            (Inner::Ranges(d), Inner::Ranges(s)) => d.copy_patched(s),
            (Inner::Poptrie(d), Inner::Poptrie(s)) => d.copy_patched(s),
            // Not reached: the family fixes the variant.
            _ => self.clone_from(src),
        }
    }

    /// Whether two structures are identical (tests of [`Lpm::catch_up`]).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Lpm<K, L>) -> bool {
        match (&self.0, &other.0) {
            (Inner::Ranges(a), Inner::Ranges(b)) => a.same_as(b),
            (Inner::Poptrie(a), Inner::Poptrie(b)) => a.same_as(b),
            _ => false,
        }
    }

    /// Single-address lookup: the leaf of the longest matching prefix.
    #[inline]
    pub fn lookup(&self, addr: K) -> Option<L> {
        match &self.0 {
            Inner::Poptrie(p) => p.lookup(addr),
            Inner::Ranges(r) => r.lookup(addr),
        }
    }

    /// Batch lookup: `out[i] = lookup(addrs[i])` for `i < min(addrs.len(), out.len())`.
    ///
    /// Lookups are processed 16 at a time, level by level, so the independent memory
    /// accesses of different addresses overlap (memory-level parallelism).
    pub fn lookup_batch(&self, addrs: &[K], out: &mut [Option<L>]) {
        match &self.0 {
            Inner::Poptrie(p) => p.lookup_batch(addrs, out),
            Inner::Ranges(r) => r.lookup_batch(addrs, out),
        }
    }

    /// Heap bytes of `self` that `base` (the other copy of a [`SharedFib`](super::SharedFib)
    /// pair) does not share: IPv6 copies share the lines of unchanged chunks.
    pub(crate) fn unshared_bytes(&self, base: &Lpm<K, L>) -> usize {
        match (&self.0, &base.0) {
            (Inner::Ranges(a), Inner::Ranges(b)) => a.unshared_bytes(b),
            _ => self.memory_bytes(),
        }
    }

    /// Heap bytes of the lookup structure (allocated capacity, garbage included).
    pub fn memory_bytes(&self) -> usize {
        match &self.0 {
            Inner::Poptrie(p) => p.memory_bytes(),
            Inner::Ranges(r) => r.memory_bytes(),
        }
    }

    /// Bytes of replaced parts held in free lists for reuse (included in
    /// [`Lpm::memory_bytes`]; IPv4 only, a rebuild happens when they exceed half the
    /// live bytes). The IPv6 structure frees replaced chunks at once: always 0.
    pub fn garbage_bytes(&self) -> usize {
        match &self.0 {
            Inner::Poptrie(p) => p.garbage_bytes(),
            Inner::Ranges(_) => 0,
        }
    }

    /// Shape counters. IPv4: (internal nodes, leaves, compact words); IPv6: (chunks,
    /// ranges, 64-byte tree lines).
    pub fn shape(&self) -> (usize, usize, usize) {
        match &self.0 {
            Inner::Poptrie(p) => p.shape(),
            Inner::Ranges(r) => r.shape(),
        }
    }
}

/// Scratch state of one build.
struct Slots<T> {
    val: [T; 64],
}

impl<K: Key, L: Leaf> Poptrie<K, L> {
    /// Leaves per compact-record word.
    const PER_WORD: usize = 64 / L::WIDTH as usize;
    /// Words of the largest compact record.
    const MAX_WORDS: usize = 1 + 64 / Self::PER_WORD;

    /// An empty structure: every lookup misses.
    pub(crate) fn empty() -> Self {
        Poptrie {
            direct: vec![TAG_LEAF; 1 << K::DIRECT_BITS],
            nodes: Vec::new(),
            leaves: Vec::new(),
            compact: Vec::new(),
            garbage: 0,
            free_nodes: vec![Vec::new(); 65],
            free_leaves: vec![Vec::new(); 65],
            free_compact: vec![Vec::new(); Self::MAX_WORDS + 1],
            log: PatchLog::default(),
            _k: PhantomData,
        }
    }

    /// Compiles everything in `rib`.
    pub(crate) fn build(rib: &Rib<K, L>) -> Self {
        let mut lpm = Poptrie::empty();
        lpm.nodes.reserve(rib.map.len() / 8);
        lpm.leaves.reserve(rib.map.len());
        let mut items: Vec<(K, u8, E<L>)> = Vec::new();
        let mut cur = usize::MAX;
        for (&(k, l), &v) in rib.map.range((K::ZERO, (K::DIRECT_BITS + 1) as u8)..) {
            if u32::from(l) <= K::DIRECT_BITS {
                continue;
            }
            let c = k.top(K::DIRECT_BITS);
            if c != cur {
                if cur != usize::MAX {
                    lpm.direct[cur] = lpm.compile_chunk(&items, rib.dflt[cur]);
                }
                items.clear();
                cur = c;
            }
            items.push((k, l, v));
        }
        if cur != usize::MAX {
            lpm.direct[cur] = lpm.compile_chunk(&items, rib.dflt[cur]);
        }
        // Chunks without long prefixes are plain leaves.
        for (c, e) in lpm.direct.iter_mut().enumerate() {
            if *e == TAG_LEAF {
                *e = rib.dflt[c].to_u64() as u32;
            }
        }
        lpm.nodes.shrink_to_fit();
        lpm.leaves.shrink_to_fit();
        lpm.compact.shrink_to_fit();
        lpm
    }

    /// Single-address lookup.
    #[inline]
    pub(crate) fn lookup(&self, addr: K) -> Option<L> {
        let e = self.direct[addr.top(K::DIRECT_BITS)];
        let enc = match e >> TAG_SHIFT {
            TAG_LEAF => E::<L>::from_u64(u64::from(e)),
            TAG_COMPACT => self.compact_leaf((e & PAYLOAD) as usize, addr),
            _ => self.walk((e & PAYLOAD) as usize, addr),
        };
        L::from_enc(enc)
    }

    #[inline(always)]
    fn compact_leaf(&self, off: usize, addr: K) -> E<L> {
        let v = addr.stride(K::DIRECT_BITS);
        let i = (self.compact[off] & upto(v)).count_ones() as usize - 1;
        let per = Self::PER_WORD;
        E::<L>::from_u64(self.compact[off + 1 + i / per] >> (L::WIDTH as usize * (i % per)))
    }

    #[inline(always)]
    fn walk(&self, mut idx: usize, addr: K) -> E<L> {
        let mut off = K::DIRECT_BITS;
        loop {
            let n = &self.nodes[idx];
            let v = addr.stride(off);
            let m = upto(v);
            if n.vector & (1u64 << v) != 0 {
                idx = n.base1 as usize + (n.vector & m).count_ones() as usize - 1;
                off += STRIDE;
            } else {
                return self.node_leaf(n, m);
            }
        }
    }

    /// The leaf of a non-child slot of `n` (`m` = mask up to the slot).
    #[inline(always)]
    fn node_leaf(&self, n: &Node, m: u64) -> E<L> {
        let i = (n.leafvec & m).count_ones() as usize - 1;
        if n.base1 & INLINE != 0 {
            let packed = u64::from(n.base0) | (u64::from(n.base1 & !INLINE) << 32);
            E::<L>::from_u64(packed >> (L::WIDTH as usize * i))
        } else {
            self.leaves[n.base0 as usize + i]
        }
    }

    /// Batch lookup: `out[i] = lookup(addrs[i])` for `i < min(addrs.len(), out.len())`.
    ///
    /// Lookups are processed 16 at a time, level by level, so the independent memory
    /// accesses of different addresses overlap (memory-level parallelism).
    pub(crate) fn lookup_batch(&self, addrs: &[K], out: &mut [Option<L>]) {
        for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let n = a.len().min(o.len());
            let mut ent = [0u32; LANES];
            for i in 0..n {
                ent[i] = self.direct[a[i].top(K::DIRECT_BITS)];
            }
            let mut idx = [0usize; LANES];
            let mut active = 0u32;
            for i in 0..n {
                let e = ent[i];
                match e >> TAG_SHIFT {
                    TAG_LEAF => o[i] = L::from_enc(E::<L>::from_u64(u64::from(e))),
                    TAG_COMPACT => {
                        o[i] = L::from_enc(self.compact_leaf((e & PAYLOAD) as usize, a[i]))
                    }
                    _ => {
                        idx[i] = (e & PAYLOAD) as usize;
                        active |= 1 << i;
                    }
                }
            }
            let mut off = K::DIRECT_BITS;
            while active != 0 {
                let mut bits = active;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let nd = &self.nodes[idx[i]];
                    let v = a[i].stride(off);
                    let m = upto(v);
                    if nd.vector & (1u64 << v) != 0 {
                        idx[i] = nd.base1 as usize + (nd.vector & m).count_ones() as usize - 1;
                    } else {
                        o[i] = L::from_enc(self.node_leaf(nd, m));
                        active &= !(1 << i);
                    }
                }
                off += STRIDE;
            }
        }
    }

    /// Heap bytes of the lookup structure (allocated capacity, garbage included).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.direct.capacity() * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.leaves.capacity() * std::mem::size_of::<E<L>>()
            + self.compact.capacity() * 8
    }

    /// Bytes of replaced parts held in free lists for reuse (included in
    /// [`Lpm::memory_bytes`]); a rebuild happens when they exceed half the live bytes.
    pub(crate) fn garbage_bytes(&self) -> usize {
        self.garbage
    }

    /// Shape counters: (internal nodes, leaves, compact words).
    pub(crate) fn shape(&self) -> (usize, usize, usize) {
        (self.nodes.len(), self.leaves.len(), self.compact.len())
    }

    fn live_bytes(&self) -> usize {
        (self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.leaves.len() * std::mem::size_of::<E<L>>()
            + self.compact.len() * 8)
            .saturating_sub(self.garbage)
    }

    /// Compiles one direct-table chunk; returns its direct entry.
    fn compile_chunk(&mut self, items: &[(K, u8, E<L>)], dflt: E<L>) -> u32 {
        if items.is_empty() {
            return dflt.to_u64() as u32;
        }
        let off = K::DIRECT_BITS;
        if K::COMPACT && items.iter().all(|&(_, l, _)| u32::from(l) <= off + STRIDE) {
            let mut s = Slots { val: [dflt; 64] };
            paint(&mut s, items, off);
            let per = Self::PER_WORD;
            let mut words = [0u64; 33];
            let mut n = 0usize;
            for (slot, &v) in s.val.iter().enumerate() {
                if slot == 0 || v != s.val[slot - 1] {
                    words[0] |= 1 << slot;
                    words[1 + n / per] |= v.to_u64() << (L::WIDTH as usize * (n % per));
                    n += 1;
                }
            }
            let w = 1 + n.div_ceil(per);
            let at = match self.free_compact[w].pop() {
                Some(at) => {
                    self.log.free_compact |= 1 << w;
                    self.garbage -= 8 * w;
                    at as usize
                }
                None => {
                    grow(&mut self.compact, w);
                    let at = self.compact.len();
                    self.compact.resize(at + w, 0);
                    at
                }
            };
            self.compact[at..at + w].copy_from_slice(&words[..w]);
            self.log.compact.push((at as u32, w as u32));
            assert!(at <= PAYLOAD as usize, "compact arena beyond 2^30 words");
            return (TAG_COMPACT << TAG_SHIFT) | at as u32;
        }
        let node = self.build_node(items, off, dflt);
        let at = self.alloc_nodes(1);
        self.nodes[at] = node;
        assert!(at <= PAYLOAD as usize, "node arena beyond 2^30 nodes");
        (TAG_NODE << TAG_SHIFT) | at as u32
    }

    /// Builds the node covering bits `off..off + 6` for `items` (all longer than `off`,
    /// sorted, inside the node's range); `inherited` is the next hop of the range from
    /// shorter prefixes. Children and leaves are appended; the node itself is returned.
    fn build_node(&mut self, items: &[(K, u8, E<L>)], off: u32, inherited: E<L>) -> Node {
        let mut s = Slots {
            val: [inherited; 64],
        };
        paint(&mut s, items, off);
        // Child ranges: items longer than off + 6, grouped by slot (contiguous, after the
        // short items of the same slot).
        let mut child: [(u32, u32); 64] = [(0, 0); 64];
        let mut vector = 0u64;
        let mut i = 0;
        while i < items.len() {
            let slot = items[i].0.stride(off);
            let mut j = i;
            while j < items.len() && items[j].0.stride(off) == slot {
                j += 1;
            }
            let mut k = i;
            while k < j && u32::from(items[k].1) <= off + STRIDE {
                k += 1;
            }
            if k < j {
                vector |= 1 << slot;
                child[slot] = (k as u32, j as u32);
            }
            i = j;
        }
        let mut runs = [E::<L>::default(); 64];
        let mut nruns = 0;
        let mut leafvec = 0u64;
        for (slot, &v) in s.val.iter().enumerate() {
            if vector & (1 << slot) != 0 {
                continue;
            }
            if nruns == 0 || v != runs[nruns - 1] {
                leafvec |= 1 << slot;
                runs[nruns] = v;
                nruns += 1;
            }
        }
        if vector == 0 && nruns <= L::INLINE_MAX {
            let packed = runs[..nruns].iter().enumerate().fold(0u64, |p, (i, &v)| {
                p | (v.to_u64() << (L::WIDTH as usize * i))
            });
            return Node {
                vector,
                leafvec,
                base0: packed as u32,
                base1: INLINE | ((packed >> 32) as u32 & !INLINE),
            };
        }
        let base0 = self.alloc_leaves(nruns);
        self.leaves[base0..base0 + nruns].copy_from_slice(&runs[..nruns]);
        let nchild = vector.count_ones() as usize;
        let base1 = self.alloc_nodes(nchild);
        let mut c = 0;
        let mut bits = vector;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (lo, hi) = child[slot];
            let n = self.build_node(&items[lo as usize..hi as usize], off + STRIDE, s.val[slot]);
            self.nodes[base1 + c] = n;
            c += 1;
        }
        assert!(
            self.nodes.len() < INLINE as usize && self.leaves.len() <= u32::MAX as usize,
            "arena beyond 2^31 nodes or 2^32 leaves"
        );
        Node {
            vector,
            leafvec,
            base0: base0 as u32,
            base1: base1 as u32,
        }
    }

    /// A block of `n` (at most 64) nodes, from the free list or the end of the arena.
    fn alloc_nodes(&mut self, n: usize) -> usize {
        if n == 0 {
            return self.nodes.len();
        }
        let at = match self.free_nodes[n].pop() {
            Some(at) => {
                self.log.free_nodes |= 1 << n;
                self.garbage -= n * std::mem::size_of::<Node>();
                at as usize
            }
            None => {
                grow(&mut self.nodes, n);
                let at = self.nodes.len();
                self.nodes.resize(at + n, Node::default());
                at
            }
        };
        // The caller writes the block.
        self.log.nodes.push((at as u32, n as u32));
        at
    }

    /// A run of `n` (at most 64) leaves.
    fn alloc_leaves(&mut self, n: usize) -> usize {
        if n == 0 {
            return self.leaves.len();
        }
        let at = match self.free_leaves[n].pop() {
            Some(at) => {
                self.log.free_leaves |= 1 << n;
                self.garbage -= std::mem::size_of::<E<L>>() * n;
                at as usize
            }
            None => {
                grow(&mut self.leaves, n);
                let at = self.leaves.len();
                self.leaves.resize(at + n, E::<L>::default());
                at
            }
        };
        self.log.leaves.push((at as u32, n as u32));
        at
    }

    /// Frees the leaves and the descendants of `nodes[idx]` (not the node itself, which
    /// lives in its parent's block).
    fn free_below(&mut self, idx: usize) {
        let n = self.nodes[idx];
        let nl = n.leafvec.count_ones() as usize;
        if n.base1 & INLINE == 0 && nl > 0 {
            self.free_leaves[nl].push(n.base0);
            self.log.free_leaves |= 1 << nl;
            self.garbage += std::mem::size_of::<E<L>>() * nl;
        }
        let nc = n.vector.count_ones() as usize;
        if nc > 0 {
            for c in 0..nc {
                self.free_below(n.base1 as usize + c);
            }
            self.free_nodes[nc].push(n.base1);
            self.log.free_nodes |= 1 << nc;
            self.garbage += nc * std::mem::size_of::<Node>();
        }
    }

    /// Frees whatever a direct entry points to.
    fn drop_entry(&mut self, e: u32) {
        let at = e & PAYLOAD;
        match e >> TAG_SHIFT {
            TAG_COMPACT => {
                let n = self.compact[at as usize].count_ones() as usize;
                let w = 1 + n.div_ceil(Self::PER_WORD);
                self.free_compact[w].push(at);
                self.log.free_compact |= 1 << w;
                self.garbage += 8 * w;
            }
            TAG_NODE => {
                self.free_below(at as usize);
                self.free_nodes[1].push(at);
                self.log.free_nodes |= 1 << 1;
                self.garbage += std::mem::size_of::<Node>();
            }
            _ => {}
        }
    }

    /// Recompiles chunk `c` from `rib`.
    fn rebuild_chunk(&mut self, rib: &Rib<K, L>, c: usize, items: &mut Vec<(K, u8, E<L>)>) {
        let old = self.direct[c];
        self.drop_entry(old);
        rib.items_in(K::from_top(c, K::DIRECT_BITS), K::DIRECT_BITS, items);
        self.direct[c] = self.compile_chunk(items, rib.dflt[c]);
        self.log.direct.push(c as u32);
    }

    /// Brings the structure up to date with `rib` after the prefix `(k, len)` changed
    /// there: rebuilds only the smallest compiled unit containing it (the subtree of the
    /// deepest existing node whose range contains the prefix, a whole chunk, or for a
    /// prefix of at most `DIRECT_BITS` bits every chunk it covers).
    pub(crate) fn patch(&mut self, rib: &Rib<K, L>, k: K, len: u8) {
        self.log.clear();
        self.patch_unit(rib, k, len, &mut Vec::new());
        self.compact_if_sparse(rib);
    }

    /// [`Poptrie::patch`] for many changed prefixes (sorted, deduplicated): each
    /// affected chunk is recompiled once, however many of its prefixes changed (a 4,096-op
    /// batch of the real IPv4 stream changes about 1,900 prefixes in about 640 chunks).
    /// A chunk with a single changed prefix below /18 and no changed short prefix over
    /// it keeps the cheaper subtree patch.
    pub(crate) fn patch_many(&mut self, rib: &Rib<K, L>, changed: &[(K, u8)]) {
        if let [(k, len)] = *changed {
            return self.patch(rib, k, len);
        }
        self.log.clear();
        // (chunk, index into `changed` of its only long prefix, or usize::MAX when the
        // chunk must be recompiled whole).
        let mut units: Vec<(usize, usize)> = Vec::with_capacity(changed.len());
        for (i, &(k, len)) in changed.iter().enumerate() {
            if u32::from(len) <= K::DIRECT_BITS {
                let (lo, n) = Rib::<K, L>::chunk_span(k, len);
                units.extend((lo..lo + n).map(|c| (c, usize::MAX)));
            } else {
                units.push((k.top(K::DIRECT_BITS), i));
            }
        }
        units.sort_unstable();
        let mut items = Vec::new();
        let mut i = 0;
        while i < units.len() {
            let (c, first) = units[i];
            let mut j = i + 1;
            while j < units.len() && units[j].0 == c {
                j += 1;
            }
            if j == i + 1 && first != usize::MAX {
                let (k, len) = changed[first];
                self.patch_unit(rib, k, len, &mut items);
            } else {
                self.rebuild_chunk(rib, c, &mut items);
            }
            i = j;
        }
        self.compact_if_sparse(rib);
    }

    /// Whether two structures are identical (tests).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.direct == other.direct
            && self.nodes == other.nodes
            && self.leaves == other.leaves
            && self.compact == other.compact
            && self.free_nodes == other.free_nodes
            && self.free_leaves == other.free_leaves
            && self.free_compact == other.free_compact
            && self.garbage == other.garbage
    }

    /// Recompiles everything when replaced parts exceed half of the live bytes.
    fn compact_if_sparse(&mut self, rib: &Rib<K, L>) {
        if self.garbage > COMPACT_MIN && self.garbage > self.live_bytes() / COMPACT_DEN {
            *self = Poptrie::build(rib);
            self.log.rebuilt = true;
        }
    }

    /// Brings `self` to the state of `src` after `src`'s last patch, by copying what that
    /// patch wrote (its [`PatchLog`]), provided `self` was equal to `src` before it.
    pub(crate) fn copy_patched(&mut self, src: &Self) {
        if src.log.rebuilt {
            self.clone_from(src);
            self.log.clear();
            return;
        }
        let log = &src.log;
        self.nodes.resize(src.nodes.len(), Node::default());
        self.leaves.resize(src.leaves.len(), E::<L>::default());
        self.compact.resize(src.compact.len(), 0);
        copy_blocks(&mut self.nodes, &src.nodes, &log.nodes);
        copy_blocks(&mut self.leaves, &src.leaves, &log.leaves);
        copy_blocks(&mut self.compact, &src.compact, &log.compact);
        for &c in &log.direct {
            self.direct[c as usize] = src.direct[c as usize];
        }
        copy_lists(&mut self.free_nodes, &src.free_nodes, log.free_nodes);
        copy_lists(&mut self.free_leaves, &src.free_leaves, log.free_leaves);
        copy_lists(
            &mut self.free_compact,
            &src.free_compact,
            u128::from(log.free_compact),
        );
        self.garbage = src.garbage;
        self.log.clear();
    }

    /// [`Poptrie::patch`] without the compaction check.
    fn patch_unit(&mut self, rib: &Rib<K, L>, k: K, len: u8, items: &mut Vec<(K, u8, E<L>)>) {
        if u32::from(len) <= K::DIRECT_BITS {
            let (lo, n) = Rib::<K, L>::chunk_span(k, len);
            for c in lo..lo + n {
                self.rebuild_chunk(rib, c, items);
            }
        } else {
            let c = k.top(K::DIRECT_BITS);
            let e = self.direct[c];
            if e >> TAG_SHIFT != TAG_NODE {
                self.rebuild_chunk(rib, c, items);
            } else {
                let mut idx = (e & PAYLOAD) as usize;
                let mut off = K::DIRECT_BITS;
                loop {
                    let n = self.nodes[idx];
                    if u32::from(len) > off + STRIDE {
                        let v = k.stride(off);
                        if n.vector & (1u64 << v) != 0 {
                            idx = n.base1 as usize + (n.vector & upto(v)).count_ones() as usize - 1;
                            off += STRIDE;
                            continue;
                        }
                    }
                    break;
                }
                // Rebuild the subtree at `idx` (range: the top `off` bits of k).
                let off8 = off as u8;
                let base = k.and(K::mask(off8));
                let mut inh = rib.dflt[c];
                for l in (K::DIRECT_BITS as u8 + 1..=off8).rev() {
                    if let Some(&v) = rib.map.get(&(base.and(K::mask(l)), l)) {
                        inh = v;
                        break;
                    }
                }
                self.free_below(idx);
                rib.items_in(base, off, items);
                let node = self.build_node(items, off, inh);
                self.nodes[idx] = node;
                self.log.nodes.push((idx as u32, 1));
            }
        }
    }
}

/// Paints the slot values of the node at `off` with the items ending inside its stride
/// (in sorted order a contained prefix follows its container, so it overwrites it).
fn paint<K: Key, T: Copy>(s: &mut Slots<T>, items: &[(K, u8, T)], off: u32) {
    for &(k, l, v) in items {
        let l = u32::from(l);
        if l <= off + STRIDE {
            let first = k.stride(off);
            let n = 1usize << (off + STRIDE - l);
            s.val[first..first + n].fill(v);
        }
    }
}

/// Makes room for `n` more elements, growing by an eighth rather than doubling (memory
/// is reported by capacity; patches grow the arenas slowly).
fn grow<T>(v: &mut Vec<T>, n: usize) {
    if v.len() + n > v.capacity() {
        v.reserve_exact(n.max(v.capacity() / 8));
    }
}
