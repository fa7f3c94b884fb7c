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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
/// `nodes[base1..base1 + popcnt(vector)]`, leaves `leaves[base0..]`. Stored as a
/// [`NodeCell`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Node {
    vector: u64,
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// A node as the arena stores it: `vector`, `leafvec`, `base0 | base1 << 32`.
#[derive(Debug, Default)]
struct NodeCell([AtomicU64; 3]);

impl NodeCell {
    #[inline(always)]
    fn get(&self) -> Node {
        let b = self.0[2].load(Relaxed);
        Node {
            vector: self.0[0].load(Relaxed),
            leafvec: self.0[1].load(Relaxed),
            base0: b as u32,
            base1: (b >> 32) as u32,
        }
    }

    fn set(&self, n: Node) {
        self.0[0].store(n.vector, Relaxed);
        self.0[1].store(n.leafvec, Relaxed);
        self.0[2].store(u64::from(n.base0) | (u64::from(n.base1) << 32), Relaxed);
    }
}

/// Mask of bits `0..=v`.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// The three arenas of a [`Poptrie`]: every element exists (zero until written); which
/// ones are in use is the writer's [`Alloc`].
///
/// The two copies of a [`SharedFib`](super::SharedFib) pair share one arena (they differ
/// only in their direct tables), so a reader that moves from one copy to the other after
/// a publication finds the same nodes and records in its caches. Sharing is safe because
/// the writer only ever writes elements that neither direct table reaches (free or
/// never-used blocks) and frees a replaced block only once both copies have stopped
/// reaching it and the grace period of the publication that replaced it has passed. The
/// elements are relaxed atomics so that such writes, next to readers of other elements,
/// need no `unsafe`; on x86-64 and AArch64 a relaxed load or store is a plain one.
#[derive(Debug)]
struct Arena<L: Leaf> {
    nodes: Vec<NodeCell>,
    leaves: Vec<<E<L> as Enc>::Cell>,
    compact: Vec<AtomicU64>,
}

impl<L: Leaf> Default for Arena<L> {
    fn default() -> Self {
        Arena {
            nodes: Vec::new(),
            leaves: Vec::new(),
            compact: Vec::new(),
        }
    }
}

/// The arena a block lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Nodes = 0,
    Leaves = 1,
    Compact = 2,
}

impl<L: Leaf> Arena<L> {
    fn len(&self, kind: Kind) -> usize {
        match kind {
            Kind::Nodes => self.nodes.len(),
            Kind::Leaves => self.leaves.len(),
            Kind::Compact => self.compact.len(),
        }
    }

    /// Bytes of one element.
    fn unit(kind: Kind) -> usize {
        match kind {
            Kind::Nodes => std::mem::size_of::<NodeCell>(),
            Kind::Leaves => std::mem::size_of::<<E<L> as Enc>::Cell>(),
            Kind::Compact => 8,
        }
    }

    /// Grows (or, given a smaller `len`, truncates) one arena to exactly `len` elements.
    fn resize(&mut self, kind: Kind, len: usize) {
        fn exact<T: Default>(v: &mut Vec<T>, len: usize) {
            if len > v.len() {
                v.reserve_exact(len - v.len());
                v.resize_with(len, T::default);
            } else {
                v.truncate(len);
                v.shrink_to_fit();
            }
        }
        match kind {
            Kind::Nodes => exact(&mut self.nodes, len),
            Kind::Leaves => exact(&mut self.leaves, len),
            Kind::Compact => exact(&mut self.compact, len),
        }
    }

    /// A private copy of the arena (a copy must never share elements with the original
    /// unless it is its left-right twin).
    fn deep_copy(&self) -> Self {
        let leaf = |c: &<E<L> as Enc>::Cell| {
            let n = <E<L> as Enc>::Cell::default();
            E::<L>::store(&n, E::<L>::load(c));
            n
        };
        Arena {
            nodes: self
                .nodes
                .iter()
                .map(|c| {
                    let n = NodeCell::default();
                    n.set(c.get());
                    n
                })
                .collect(),
            leaves: self.leaves.iter().map(leaf).collect(),
            compact: self
                .compact
                .iter()
                .map(|w| AtomicU64::new(w.load(Relaxed)))
                .collect(),
        }
    }

    fn bytes(&self) -> usize {
        self.nodes.capacity() * Self::unit(Kind::Nodes)
            + self.leaves.capacity() * Self::unit(Kind::Leaves)
            + self.compact.capacity() * 8
    }

    #[inline(always)]
    fn word(&self, i: usize) -> u64 {
        self.compact[i].load(Relaxed)
    }
}

/// The writer's bookkeeping of an arena: used lengths, free blocks by size, and blocks
/// replaced but possibly still reachable from the other copy. Exactly one copy of a
/// left-right pair holds it (the one the writer patches; see [`Lpm::detach`]).
#[derive(Clone, Debug)]
pub(crate) struct Alloc {
    /// Elements in use (or free-listed) at the front of each arena, by [`Kind`].
    used: [usize; 3],
    /// Free blocks by kind and length (1..=64; compact records 2..=33 words): patching
    /// reuses them, so steady churn does not grow the arenas.
    free: [Vec<Vec<u32>>; 3],
    /// Blocks replaced by patches since the other copy last caught up, `(kind, len,
    /// start)`: freed only when no copy reaches them ([`Alloc::release_retired`]).
    retired: Vec<(Kind, u32, u32)>,
    /// Bytes of free and retired blocks (reused by later patches, or compacted away by a
    /// rebuild).
    garbage: usize,
}

impl Alloc {
    fn new() -> Self {
        Alloc {
            used: [0; 3],
            free: std::array::from_fn(|_| vec![Vec::new(); 65]),
            retired: Vec::new(),
            garbage: 0,
        }
    }

    /// Moves the retired blocks to the free lists: the caller guarantees that no copy
    /// reaches them and that no reader still can.
    fn release_retired(&mut self) {
        for (kind, n, at) in self.retired.drain(..) {
            self.free[kind as usize][n as usize].push(at);
        }
    }
}

/// The Poptrie (IPv4): see the module docs of `fib`.
#[derive(Debug)]
pub(crate) struct Poptrie<K: Key, L: Leaf = NextHop> {
    direct: Vec<u32>,
    /// Nodes, leaves and leaf-only chunk records (word 0 the leaf vector, then the leaves
    /// packed `64 / L::WIDTH` a word: four 16-bit or two 32-bit); shared with the twin.
    arena: Arc<Arena<L>>,
    /// The arena's bookkeeping; `None` in a copy detached for publication.
    alloc: Option<Alloc>,
    /// Direct entries written by the last patch, for the twin's [`Poptrie::catch_up`].
    log: Vec<u32>,
    _k: PhantomData<K>,
}

impl<K: Key, L: Leaf> Clone for Poptrie<K, L> {
    /// A private copy: its own arena (it is not the twin of `self`).
    fn clone(&self) -> Self {
        Poptrie {
            direct: self.direct.clone(),
            arena: Arc::new(self.arena.deep_copy()),
            alloc: self.alloc.clone(),
            log: self.log.clone(),
            _k: PhantomData,
        }
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

    /// The second copy of a left-right pair for `self`, equal to it. IPv4 copies share
    /// their arenas (only the direct tables are per copy, see [`Arena`]); IPv6 copies
    /// share the lines of every chunk. The writer's bookkeeping stays with `self`.
    pub(crate) fn twin(&self) -> Self {
        match &self.0 {
            Inner::Poptrie(p) => Lpm(Inner::Poptrie(p.twin())),
            Inner::Ranges(r) => Lpm(Inner::Ranges(r.clone())),
        }
    }

    /// A freshly compiled structure as a left-right pair: (the copy to publish, the
    /// writer's private twin holding the bookkeeping).
    pub(crate) fn into_pair(mut self) -> (Self, Self) {
        let state = self.detach();
        let mut spare = self.twin();
        spare.become_twin(&self, state);
        (self, spare)
    }

    /// Takes the writer's bookkeeping out of a copy about to be published (which the
    /// writer must not patch again until it is back as the spare and has caught up):
    /// [`Lpm::catch_up`] hands it to the other copy.
    pub(crate) fn detach(&mut self) -> Detached {
        match &mut self.0 {
            Inner::Poptrie(p) => Detached(p.alloc.take()),
            Inner::Ranges(_) => Detached(None),
        }
    }

    /// Brings `self` to the state of `src` after `src`'s last patch, where `self` was
    /// equal to `src` before that patch (the second copy of a left-right pair, back from
    /// the grace period of `src`'s publication), and gives it `src`'s bookkeeping
    /// (`state`, from [`Lpm::detach`]). IPv4: copies the direct entries the patch wrote
    /// (the arena is shared) and frees the blocks the patch replaced, which neither copy
    /// reaches any more; IPv6: copies the patched chunks and direct entries. If `src` was
    /// recompiled into a new arena, `self` becomes its twin.
    pub(crate) fn catch_up(&mut self, src: &Lpm<K, L>, state: Detached) {
        match (&mut self.0, &src.0) {
            (Inner::Ranges(d), Inner::Ranges(s)) => d.copy_patched(s),
            (Inner::Poptrie(d), Inner::Poptrie(s)) => d.catch_up(s, state.0),
            // Not reached: the family fixes the variant.
            _ => *self = src.twin(),
        }
    }

    /// `self` becomes the twin of `src` holding the bookkeeping `state` (after a fresh
    /// compile of `src`, which the patch log cannot describe).
    pub(crate) fn become_twin(&mut self, src: &Lpm<K, L>, state: Detached) {
        *self = src.twin();
        if let Inner::Poptrie(p) = &mut self.0 {
            p.alloc = state.0;
        }
    }

    /// Whether `self` and `other` are the two copies of a left-right pair over one IPv4
    /// arena ([`Lpm::twin`] and what patching and catching up make of it). IPv6 copies
    /// share chunks without bookkeeping and are never twins in this sense.
    pub(crate) fn is_twin_of(&self, other: &Lpm<K, L>) -> bool {
        match (&self.0, &other.0) {
            (Inner::Poptrie(a), Inner::Poptrie(b)) => Arc::ptr_eq(&a.arena, &b.arena),
            _ => false,
        }
    }

    /// Whether the twin of a copy shares its memory under the writer's bookkeeping (IPv4;
    /// IPv6 copies share chunks by reference counting instead).
    pub(crate) fn twins_share_memory(&self) -> bool {
        matches!(self.0, Inner::Poptrie(_))
    }

    /// Whether `self` holds the writer's bookkeeping (always for IPv6).
    pub(crate) fn has_bookkeeping(&self) -> bool {
        match &self.0 {
            Inner::Poptrie(p) => p.alloc.is_some(),
            Inner::Ranges(_) => true,
        }
    }

    /// Whether the writer may patch `self` on its own: it holds its bookkeeping and no
    /// other copy shares its arena (always for IPv6).
    pub(crate) fn is_private(&self) -> bool {
        match &self.0 {
            Inner::Poptrie(p) => p.alloc.is_some() && Arc::strong_count(&p.arena) == 1,
            Inner::Ranges(_) => true,
        }
    }

    /// A private copy of `self` (its own IPv4 arena) for the writer, with `state` as its
    /// bookkeeping if `self` was detached; `None` if neither has any.
    pub(crate) fn private_copy(&self, state: Option<&Detached>) -> Option<Self> {
        match &self.0 {
            Inner::Poptrie(p) => {
                let mut c = p.clone();
                if c.alloc.is_none() {
                    c.alloc = state.and_then(|s| s.0.clone());
                }
                // Blocks retired by the patch that made `self` are not reached by it, so
                // not by its copy either.
                c.alloc.as_mut()?.release_retired();
                Some(Lpm(Inner::Poptrie(c)))
            }
            Inner::Ranges(r) => Some(Lpm(Inner::Ranges(r.clone()))),
        }
    }

    /// [`Lpm::catch_up`] for an IPv4 twin that may be more than one patch behind `src`:
    /// copies the direct entries of every chunk a prefix of `changed` (the prefixes
    /// changed since the twin was last equal to `src`) covers, takes the bookkeeping
    /// `state` if given (else keeps its own) and frees the retired blocks. The caller
    /// guarantees that no reader is inside `self` any more and that `src`'s patches
    /// since then changed only those prefixes.
    pub(crate) fn catch_up_twin(
        &mut self,
        src: &Lpm<K, L>,
        changed: &[(K, u8)],
        state: Option<Detached>,
    ) {
        if let (Inner::Poptrie(d), Inner::Poptrie(s)) = (&mut self.0, &src.0) {
            d.catch_up_chunks(s, changed, state.and_then(|s| s.0));
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

    /// Checks that no free block of the writer's bookkeeping (held by `self` or by
    /// `other`) is reachable from either copy, and no retired block from the copy holding
    /// the bookkeeping (tests: the writer may overwrite free blocks while readers use
    /// the other copy). IPv6 always passes (its chunks are reference-counted).
    #[cfg(test)]
    pub(crate) fn check_free_unreachable(&self, other: &Lpm<K, L>) -> Result<(), String> {
        match (&self.0, &other.0) {
            (Inner::Poptrie(a), Inner::Poptrie(b)) => a.check_free_unreachable(b),
            _ => Ok(()),
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
    /// pair) does not share: IPv4 copies share their arenas, IPv6 copies the lines of
    /// unchanged chunks.
    pub(crate) fn unshared_bytes(&self, base: &Lpm<K, L>) -> usize {
        match (&self.0, &base.0) {
            (Inner::Ranges(a), Inner::Ranges(b)) => a.unshared_bytes(b),
            (Inner::Poptrie(a), Inner::Poptrie(b)) => a.unshared_bytes(b),
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

/// The writer's bookkeeping taken out of a copy for publication ([`Lpm::detach`]).
#[derive(Debug)]
pub(crate) struct Detached(Option<Alloc>);

/// Scratch state of one build.
struct Slots<T> {
    val: [T; 64],
}

impl<K: Key, L: Leaf> Poptrie<K, L> {
    /// Leaves per compact-record word.
    const PER_WORD: usize = 64 / L::WIDTH as usize;

    /// An empty structure: every lookup misses.
    pub(crate) fn empty() -> Self {
        Poptrie {
            direct: vec![TAG_LEAF; 1 << K::DIRECT_BITS],
            arena: Arc::new(Arena::default()),
            alloc: Some(Alloc::new()),
            log: Vec::new(),
            _k: PhantomData,
        }
    }

    /// Compiles everything in `rib`.
    pub(crate) fn build(rib: &Rib<K, L>) -> Self {
        let mut lpm = Poptrie::empty();
        let mut items: Vec<(K, u8, E<L>)> = Vec::new();
        let mut cur = usize::MAX;
        for (&(k, l), &v) in rib.map.range((K::ZERO, (K::DIRECT_BITS + 1) as u8)..) {
            if u32::from(l) <= K::DIRECT_BITS {
                continue;
            }
            let c = k.top(K::DIRECT_BITS);
            if c != cur {
                if cur != usize::MAX {
                    lpm.direct[cur] = lpm.compile_chunk(&items, rib.dflt[cur], true);
                }
                items.clear();
                cur = c;
            }
            items.push((k, l, v));
        }
        if cur != usize::MAX {
            lpm.direct[cur] = lpm.compile_chunk(&items, rib.dflt[cur], true);
        }
        // Chunks without long prefixes are plain leaves.
        for (c, e) in lpm.direct.iter_mut().enumerate() {
            if *e == TAG_LEAF {
                *e = rib.dflt[c].to_u64() as u32;
            }
        }
        // Trim the doubling of the build (patches grow the arenas by an eighth).
        let used = lpm.alloc.as_ref().map_or([0; 3], |a| a.used);
        if let Some(a) = Arc::get_mut(&mut lpm.arena) {
            for kind in [Kind::Nodes, Kind::Leaves, Kind::Compact] {
                a.resize(kind, used[kind as usize]);
            }
        }
        lpm
    }

    /// The other copy of a left-right pair: the same direct table over the same arena,
    /// without the bookkeeping.
    fn twin(&self) -> Self {
        Poptrie {
            direct: self.direct.clone(),
            arena: Arc::clone(&self.arena),
            alloc: None,
            log: Vec::new(),
            _k: PhantomData,
        }
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
        let a = &*self.arena;
        let v = addr.stride(K::DIRECT_BITS);
        let i = (a.word(off) & upto(v)).count_ones() as usize - 1;
        let per = Self::PER_WORD;
        E::<L>::from_u64(a.word(off + 1 + i / per) >> (L::WIDTH as usize * (i % per)))
    }

    #[inline(always)]
    fn walk(&self, mut idx: usize, addr: K) -> E<L> {
        let mut off = K::DIRECT_BITS;
        loop {
            let n = self.arena.nodes[idx].get();
            let v = addr.stride(off);
            let m = upto(v);
            if n.vector & (1u64 << v) != 0 {
                idx = n.base1 as usize + (n.vector & m).count_ones() as usize - 1;
                off += STRIDE;
            } else {
                return self.node_leaf(&n, m);
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
            E::<L>::load(&self.arena.leaves[n.base0 as usize + i])
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
                    let nd = self.arena.nodes[idx[i]].get();
                    let v = a[i].stride(off);
                    let m = upto(v);
                    if nd.vector & (1u64 << v) != 0 {
                        idx[i] = nd.base1 as usize + (nd.vector & m).count_ones() as usize - 1;
                    } else {
                        o[i] = L::from_enc(self.node_leaf(&nd, m));
                        active &= !(1 << i);
                    }
                }
                off += STRIDE;
            }
        }
    }

    /// Heap bytes of the lookup structure (allocated capacity, garbage included; the
    /// writer's free lists are not counted).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.direct.capacity() * 4 + self.arena.bytes()
    }

    /// Heap bytes of `self` that its twin `base` does not share.
    pub(crate) fn unshared_bytes(&self, base: &Self) -> usize {
        if Arc::ptr_eq(&self.arena, &base.arena) {
            self.direct.capacity() * 4
        } else {
            self.memory_bytes()
        }
    }

    /// Bytes of replaced parts held for reuse (included in [`Lpm::memory_bytes`]); a
    /// rebuild happens when they exceed half the live bytes. 0 in a detached copy.
    pub(crate) fn garbage_bytes(&self) -> usize {
        self.alloc.as_ref().map_or(0, |a| a.garbage)
    }

    /// Shape counters: (internal nodes, leaves, compact words) in use.
    pub(crate) fn shape(&self) -> (usize, usize, usize) {
        let u = self.alloc.as_ref().map_or(
            [
                self.arena.nodes.len(),
                self.arena.leaves.len(),
                self.arena.compact.len(),
            ],
            |a| a.used,
        );
        (u[0], u[1], u[2])
    }

    fn live_bytes(&self) -> usize {
        let u = self.shape();
        (self.direct.len() * 4
            + u.0 * Arena::<L>::unit(Kind::Nodes)
            + u.1 * Arena::<L>::unit(Kind::Leaves)
            + u.2 * 8)
            .saturating_sub(self.garbage_bytes())
    }

    /// A block of `n` (1..=64) elements of `kind`, from the free list or the end of the
    /// arena (growing it: in place if no twin shares it, else into a new arena, which the
    /// twin adopts when it catches up). `fast`: grow by doubling (bulk builds) rather
    /// than by an eighth.
    fn alloc(&mut self, kind: Kind, n: usize, fast: bool) -> usize {
        let Some(a) = self.alloc.as_mut() else {
            unreachable!("patching a detached copy")
        };
        if let Some(at) = a.free[kind as usize][n].pop() {
            a.garbage -= n * Arena::<L>::unit(kind);
            return at as usize;
        }
        let at = a.used[kind as usize];
        a.used[kind as usize] += n;
        let len = self.arena.len(kind);
        if at + n > len {
            let want = (at + n).max(if fast { 2 * len } else { len + len / 8 });
            match Arc::get_mut(&mut self.arena) {
                Some(arena) => arena.resize(kind, want),
                None => {
                    let mut copy = self.arena.deep_copy();
                    copy.resize(kind, want);
                    self.arena = Arc::new(copy);
                }
            }
        }
        at
    }

    /// Marks a replaced block for freeing once no copy reaches it.
    fn retire(&mut self, kind: Kind, n: usize, at: u32) {
        if let Some(a) = self.alloc.as_mut() {
            a.retired.push((kind, n as u32, at));
            a.garbage += n * Arena::<L>::unit(kind);
        }
    }

    /// Compiles one direct-table chunk into free or new blocks; returns its direct entry.
    fn compile_chunk(&mut self, items: &[(K, u8, E<L>)], dflt: E<L>, fast: bool) -> u32 {
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
            let at = self.alloc(Kind::Compact, w, fast);
            for (cell, &word) in self.arena.compact[at..at + w].iter().zip(&words[..w]) {
                cell.store(word, Relaxed);
            }
            assert!(at <= PAYLOAD as usize, "compact arena beyond 2^30 words");
            return (TAG_COMPACT << TAG_SHIFT) | at as u32;
        }
        let node = self.build_node(items, off, dflt, fast);
        let at = self.alloc(Kind::Nodes, 1, fast);
        self.arena.nodes[at].set(node);
        assert!(at <= PAYLOAD as usize, "node arena beyond 2^30 nodes");
        (TAG_NODE << TAG_SHIFT) | at as u32
    }

    /// Builds the node covering bits `off..off + 6` for `items` (all longer than `off`,
    /// sorted, inside the node's range); `inherited` is the next hop of the range from
    /// shorter prefixes. Children and leaves are written to new blocks; the node itself
    /// is returned.
    fn build_node(
        &mut self,
        items: &[(K, u8, E<L>)],
        off: u32,
        inherited: E<L>,
        fast: bool,
    ) -> Node {
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
        let base0 = if nruns == 0 {
            0
        } else {
            self.alloc(Kind::Leaves, nruns, fast)
        };
        for (cell, &v) in self.arena.leaves[base0..base0 + nruns]
            .iter()
            .zip(&runs[..nruns])
        {
            E::<L>::store(cell, v);
        }
        let nchild = vector.count_ones() as usize;
        let base1 = if nchild == 0 {
            0
        } else {
            self.alloc(Kind::Nodes, nchild, fast)
        };
        let mut c = 0;
        let mut bits = vector;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (lo, hi) = child[slot];
            let n = self.build_node(
                &items[lo as usize..hi as usize],
                off + STRIDE,
                s.val[slot],
                fast,
            );
            self.arena.nodes[base1 + c].set(n);
            c += 1;
        }
        assert!(
            base1 + nchild < INLINE as usize && base0 + nruns <= u32::MAX as usize,
            "arena beyond 2^31 nodes or 2^32 leaves"
        );
        Node {
            vector,
            leafvec,
            base0: base0 as u32,
            base1: base1 as u32,
        }
    }

    /// Retires the leaves and the descendants of `n` (not `n` itself, which lives in its
    /// parent's block).
    fn retire_below(&mut self, n: Node) {
        let nl = n.leafvec.count_ones() as usize;
        if n.base1 & INLINE == 0 && nl > 0 {
            self.retire(Kind::Leaves, nl, n.base0);
        }
        let nc = n.vector.count_ones() as usize;
        if nc > 0 {
            for c in 0..nc {
                let child = self.arena.nodes[n.base1 as usize + c].get();
                self.retire_below(child);
            }
            self.retire(Kind::Nodes, nc, n.base1);
        }
    }

    /// Retires whatever a direct entry points to.
    fn retire_entry(&mut self, e: u32) {
        let at = e & PAYLOAD;
        match e >> TAG_SHIFT {
            TAG_COMPACT => {
                let n = self.arena.word(at as usize).count_ones() as usize;
                let w = 1 + n.div_ceil(Self::PER_WORD);
                self.retire(Kind::Compact, w, at);
            }
            TAG_NODE => {
                let root = self.arena.nodes[at as usize].get();
                self.retire_below(root);
                self.retire(Kind::Nodes, 1, at);
            }
            _ => {}
        }
    }

    /// Recompiles chunk `c` from `rib` into new blocks and points its direct entry at
    /// them (copy-on-write: blocks the twin may reach are never modified).
    fn rebuild_chunk(&mut self, rib: &Rib<K, L>, c: usize, items: &mut Vec<(K, u8, E<L>)>) {
        let old = self.direct[c];
        self.retire_entry(old);
        rib.items_in(K::from_top(c, K::DIRECT_BITS), K::DIRECT_BITS, items);
        self.direct[c] = self.compile_chunk(items, rib.dflt[c], false);
        self.log.push(c as u32);
    }

    /// Patches node chunk `c` for the long prefix `(k, len)` by path copying: the subtree
    /// of the deepest node whose range contains the prefix is recompiled into new blocks,
    /// and each block on the path from the chunk's root down to it is copied with the
    /// one changed node replaced; the direct entry then points at the new root. Blocks a
    /// reader may reach are never written, and a chunk dense with long prefixes (thousands
    /// of /32s in a /18) costs the subtree and at most three 64-node blocks per update
    /// instead of a whole-chunk compile.
    fn patch_path(
        &mut self,
        rib: &Rib<K, L>,
        c: usize,
        k: K,
        len: u8,
        items: &mut Vec<(K, u8, E<L>)>,
    ) {
        let root = (self.direct[c] & PAYLOAD) as usize;
        // The path: (index of the node, its position in its parent's child block).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        let mut off = K::DIRECT_BITS;
        loop {
            let (idx, _) = path[path.len() - 1];
            let n = self.arena.nodes[idx].get();
            if u32::from(len) > off + STRIDE {
                let v = k.stride(off);
                if n.vector & (1u64 << v) != 0 {
                    let pos = (n.vector & upto(v)).count_ones() as usize - 1;
                    path.push((n.base1 as usize + pos, pos));
                    off += STRIDE;
                    continue;
                }
            }
            break;
        }
        // Recompile the subtree at the deepest node (range: the top `off` bits of k).
        let (idx, _) = path[path.len() - 1];
        let off8 = off as u8;
        let base = k.and(K::mask(off8));
        let mut inh = rib.dflt[c];
        for l in (K::DIRECT_BITS as u8 + 1..=off8).rev() {
            if let Some(&v) = rib.map.get(&(base.and(K::mask(l)), l)) {
                inh = v;
                break;
            }
        }
        let old = self.arena.nodes[idx].get();
        self.retire_below(old);
        rib.items_in(base, off, items);
        let mut child = self.build_node(items, off, inh, false);
        // Copy the blocks on the path, bottom up.
        for d in (1..path.len()).rev() {
            let (_, pos) = path[d];
            let (pidx, _) = path[d - 1];
            let mut parent = self.arena.nodes[pidx].get();
            let nc = parent.vector.count_ones() as usize;
            let at = self.alloc(Kind::Nodes, nc, false);
            for q in 0..nc {
                let n = if q == pos {
                    child
                } else {
                    self.arena.nodes[parent.base1 as usize + q].get()
                };
                self.arena.nodes[at + q].set(n);
            }
            self.retire(Kind::Nodes, nc, parent.base1);
            parent.base1 = at as u32;
            child = parent;
        }
        let at = self.alloc(Kind::Nodes, 1, false);
        self.arena.nodes[at].set(child);
        self.retire(Kind::Nodes, 1, root as u32);
        assert!(at <= PAYLOAD as usize, "node arena beyond 2^30 nodes");
        self.direct[c] = (TAG_NODE << TAG_SHIFT) | at as u32;
        self.log.push(c as u32);
    }

    /// Brings the structure up to date with `rib` after the prefix `(k, len)` changed
    /// there: recompiles the chunk containing it, or for a prefix of at most
    /// `DIRECT_BITS` bits every chunk it covers.
    pub(crate) fn patch(&mut self, rib: &Rib<K, L>, k: K, len: u8) {
        self.patch_many(rib, &[(k, len)]);
    }

    /// [`Poptrie::patch`] for many changed prefixes (sorted, deduplicated): each
    /// affected chunk is recompiled once, however many of its prefixes changed (a 4,096-op
    /// batch of the real IPv4 stream changes about 1,900 prefixes in about 640 chunks).
    /// A node chunk with a single changed prefix below /18 and no changed short prefix
    /// over it gets the cheaper path copy ([`Poptrie::patch_path`]).
    pub(crate) fn patch_many(&mut self, rib: &Rib<K, L>, changed: &[(K, u8)]) {
        self.log.clear();
        if self.alloc.is_none() {
            // Not reached (the writer patches only the copy holding the bookkeeping):
            // a fresh compile is correct regardless.
            *self = Poptrie::build(rib);
            return;
        }
        // (chunk, index into `changed` of a long prefix, or usize::MAX for a chunk that a
        // short prefix covers).
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
            if j == i + 1 && first != usize::MAX && self.direct[c] >> TAG_SHIFT == TAG_NODE {
                let (k, len) = changed[first];
                self.patch_path(rib, c, k, len, &mut items);
            } else {
                self.rebuild_chunk(rib, c, &mut items);
            }
            i = j;
        }
        if self.garbage_bytes() > COMPACT_MIN
            && self.garbage_bytes() > self.live_bytes() / COMPACT_DEN
        {
            // Recompiled into a new arena: the twin adopts it when it catches up.
            *self = Poptrie::build(rib);
        } else if Arc::strong_count(&self.arena) == 1 {
            // No twin: nothing else reaches the replaced blocks (`&mut self`).
            if let Some(a) = self.alloc.as_mut() {
                a.release_retired();
            }
        }
    }

    /// Brings `self` (the twin, equal to `src` before `src`'s last patch and back from
    /// the grace period of its publication) to the state of `src` and gives it the
    /// bookkeeping `alloc`, freeing the blocks that patch replaced: neither copy reaches
    /// them now, and no reader can still be inside them.
    pub(crate) fn catch_up(&mut self, src: &Self, alloc: Option<Alloc>) {
        if Arc::ptr_eq(&self.arena, &src.arena) {
            for &c in &src.log {
                self.direct[c as usize] = src.direct[c as usize];
            }
        } else {
            self.direct.clone_from(&src.direct);
            self.arena = Arc::clone(&src.arena);
        }
        self.log.clear();
        self.alloc = alloc;
        if let Some(a) = self.alloc.as_mut() {
            a.release_retired();
        }
    }

    /// See [`Lpm::catch_up_twin`].
    fn catch_up_chunks(&mut self, src: &Self, changed: &[(K, u8)], alloc: Option<Alloc>) {
        debug_assert!(Arc::ptr_eq(&self.arena, &src.arena), "not a twin");
        for &(k, len) in changed {
            if u32::from(len) <= K::DIRECT_BITS {
                let (lo, n) = Rib::<K, L>::chunk_span(k, len);
                self.direct[lo..lo + n].copy_from_slice(&src.direct[lo..lo + n]);
            } else {
                let c = k.top(K::DIRECT_BITS);
                self.direct[c] = src.direct[c];
            }
        }
        self.log.clear();
        if alloc.is_some() {
            self.alloc = alloc;
        }
        if let Some(a) = self.alloc.as_mut() {
            a.release_retired();
        }
    }

    /// Whether two structures are identical (tests): the same direct table over the
    /// same arena (or equal arenas).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.direct == other.direct
            && (Arc::ptr_eq(&self.arena, &other.arena) || {
                let (a, b) = (&self.arena, &other.arena);
                a.nodes.len() == b.nodes.len()
                    && a.leaves.len() == b.leaves.len()
                    && a.compact.len() == b.compact.len()
                    && a.nodes
                        .iter()
                        .zip(&b.nodes)
                        .all(|(x, y)| x.get() == y.get())
                    && a.leaves
                        .iter()
                        .zip(&b.leaves)
                        .all(|(x, y)| E::<L>::load(x) == E::<L>::load(y))
                    && a.compact
                        .iter()
                        .zip(&b.compact)
                        .all(|(x, y)| x.load(Relaxed) == y.load(Relaxed))
            })
    }

    /// Marks the elements reachable from the direct table, per kind (tests).
    #[cfg(test)]
    fn reachable(&self) -> [Vec<bool>; 3] {
        let a = &self.arena;
        let mut seen = [
            vec![false; a.nodes.len()],
            vec![false; a.leaves.len()],
            vec![false; a.compact.len()],
        ];
        fn node<L: Leaf>(a: &Arena<L>, seen: &mut [Vec<bool>; 3], at: usize) {
            seen[0][at] = true;
            let n = a.nodes[at].get();
            let nl = n.leafvec.count_ones() as usize;
            if n.base1 & INLINE == 0 {
                seen[1][n.base0 as usize..n.base0 as usize + nl].fill(true);
            }
            for c in 0..n.vector.count_ones() as usize {
                node(a, seen, n.base1 as usize + c);
            }
        }
        for &e in &self.direct {
            let at = (e & PAYLOAD) as usize;
            match e >> TAG_SHIFT {
                TAG_COMPACT => {
                    let n = a.word(at).count_ones() as usize;
                    seen[2][at..at + 1 + n.div_ceil(Self::PER_WORD)].fill(true);
                }
                TAG_NODE => node(a, &mut seen, at),
                _ => {}
            }
        }
        seen
    }

    /// See [`Lpm::check_free_unreachable`].
    #[cfg(test)]
    pub(crate) fn check_free_unreachable(&self, other: &Self) -> Result<(), String> {
        let (owner, twin) = match (&self.alloc, &other.alloc) {
            (Some(_), None) => (self, other),
            (None, Some(_)) => (other, self),
            (None, None) => return Err("neither copy holds the bookkeeping".into()),
            (Some(_), Some(_)) if !Arc::ptr_eq(&self.arena, &other.arena) => {
                return self.check_own().and_then(|()| other.check_own());
            }
            _ => return Err("both copies hold bookkeeping for one arena".into()),
        };
        let Some(a) = &owner.alloc else {
            unreachable!()
        };
        let mine = owner.reachable();
        let theirs = Arc::ptr_eq(&owner.arena, &twin.arena).then(|| twin.reachable());
        for (kind, lists) in a.free.iter().enumerate() {
            for (n, list) in lists.iter().enumerate() {
                for &at in list {
                    let r = at as usize..at as usize + n;
                    if mine[kind][r.clone()].iter().any(|&b| b) {
                        return Err(format!("free block {kind}:{at}+{n} reachable"));
                    }
                    if let Some(t) = &theirs
                        && t[kind][r].iter().any(|&b| b)
                    {
                        return Err(format!(
                            "free block {kind}:{at}+{n} reachable from the twin"
                        ));
                    }
                }
            }
        }
        for &(kind, n, at) in &a.retired {
            let r = at as usize..(at + n) as usize;
            if mine[kind as usize][r].iter().any(|&b| b) {
                return Err(format!("retired block {kind:?}:{at}+{n} still reachable"));
            }
        }
        Ok(())
    }

    /// A copy without a twin: its free and retired blocks must be unreachable.
    #[cfg(test)]
    fn check_own(&self) -> Result<(), String> {
        let Some(a) = &self.alloc else {
            return Ok(());
        };
        let mine = self.reachable();
        let blocks = a
            .free
            .iter()
            .enumerate()
            .flat_map(|(k, l)| {
                l.iter()
                    .enumerate()
                    .flat_map(move |(n, v)| v.iter().map(move |&at| (k, n, at)))
            })
            .chain(
                a.retired
                    .iter()
                    .map(|&(k, n, at)| (k as usize, n as usize, at)),
            );
        for (kind, n, at) in blocks {
            if mine[kind][at as usize..at as usize + n].iter().any(|&b| b) {
                return Err(format!("free block {kind}:{at}+{n} reachable"));
            }
        }
        Ok(())
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
