//! The IPv6 compiled structure: the prefix set flattened into disjoint address ranges,
//! a direct table on the top `DIRECT_BITS` bits pointing at one static search tree per
//! populated chunk, 16 keys of 32 bits per 64-byte line (a cache-line B+ tree in the
//! implicit "S+ tree" layout), every tree searched to the same height.
//!
//! # Layout
//!
//! * **Direct entry** (`u32`): bit 31 clear: the leaf encoding of the whole chunk (0 =
//!   no route); bit 31 set: the index of the chunk's [`Chunk`] in `chunks`.
//! * **Chunk**: the sorted start keys of its ranges (32 bits of the address starting at
//!   the chunk's bit offset; the first key is always 0) and one value per range. Values
//!   are leaf encodings ("narrow" chunks) or, when some range holds prefixes longer than
//!   the 32 key bits, 32-bit words in the direct-entry encoding ("wide" chunks): such a
//!   range covers exactly one key and points at a child chunk keyed on the next 32 bits.
//!   IPv6 levels start at bits 16, 48, 80 and 112, so a /48 is resolved in the first
//!   chunk and a /128 at most four chunks deep.
//! * **Tree**: leaf lines hold up to `lk` keys and their values in the same 64-byte
//!   line (ten keys and ten 16-bit leaves, or eight keys and eight 32-bit values), so
//!   the last tree step also fetches the answer; unused key lanes hold `u32::MAX` and
//!   repeat the last value. Internal lines hold 16 separators for 17 children (the
//!   first key of the leaf line starting the subtree of children 1..=16). Levels are
//!   stored top-down, root first; level sizes follow from the leaf line count (then
//!   `ceil(_ / 17)` up to one line). The child index at every level is clamped to the
//!   level below, which makes `u32::MAX` padding harmless.
//! * **Same height**: every lookup runs `height` internal levels, the maximum over all
//!   chunks; a chunk with fewer levels repeats its root line for the missing ones (an
//!   offset of 0 and a clamp to index 0), so there is no per-chunk loop exit to mispredict
//!   and no padding memory.
//!
//! The key compare is a fixed 16-lane `k <= x` count over `[u32; 16]`, which the compiler
//! vectorizes (one AVX-512 compare and a `popcnt`; AVX2 compares and adds; SSE2).
//!
//! # Updates
//!
//! A change to a prefix longer than `DIRECT_BITS` recomputes only the ranges inside that
//! prefix (or inside the 32-bit key block holding it, for a prefix resolved in a child
//! chunk) from the prefix set and splices them into the chunk: the leaf lines around the
//! changed units are decoded and repacked (possibly partly filled), the others copied,
//! and the internal levels rebuilt, into a fresh allocation (no prefix-set scan beyond
//! the unit). A chunk whose leaf lines exceed the dense count by a quarter is repacked
//! densely. A change to a prefix of `DIRECT_BITS` bits or fewer recompiles every chunk it
//! covers.

use super::NextHop;
use super::key::Key;
use super::leaf::Leaf;
use super::leaf::sealed::{Enc, Sealed};
use super::rib::Rib;
use std::marker::PhantomData;
use std::sync::Arc;

/// The stored form of leaf type `L`.
type E<L> = <L as Sealed>::Enc;

/// Bit 31 of a direct entry or wide value: the rest is a chunk index.
const CHILD: u32 = 1 << 31;

/// Key bits resolved by one chunk.
const KEY_BITS: u32 = 32;

/// Keys per line.
const KEYS: usize = 16;
/// Children per internal line.
const FAN: usize = KEYS + 1;

/// Internal levels a tree can have: `16 * 17^7 > 2^32` keys.
const MAXH: usize = 7;

/// Lanes interleaved by the batch lookup.
const LANES: usize = 16;

/// One 64-byte line of 16 keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
struct Line([u32; KEYS]);

/// Number of keys among the first `lk` of `line` that are `<= x` (the branch-free,
/// vectorizable compare; `lk` is a constant at every call).
///
/// Written as a sum of borrow bits in 64-bit lanes (`x - k` is negative exactly when
/// `k > x`), lanes from `lk` on counted as "above": with AVX-512 this compiles to one
/// 16-lane compare into a mask register and a `popcnt`, with AVX2 to a few vector
/// compares and adds. The obvious `filter(k <= x).count()` compiled to 60 scalar mask
/// extractions here.
#[inline(always)]
fn rank(line: &Line, x: u32, lk: usize) -> usize {
    let x = u64::from(x);
    let above: u64 = line
        .0
        .iter()
        .enumerate()
        .map(|(i, &k)| (x.wrapping_sub(u64::from(k)) >> 63) | u64::from(i >= lk))
        .sum();
    KEYS - above as usize
}

/// Keys per leaf line of a wide chunk (eight keys, eight 32-bit values).
const WIDE_LK: usize = 8;

/// One chunk: a search tree over the start keys of its ranges. Leaf lines hold up to
/// `lk` keys followed by their `lk` values packed `width` bits each in the same line (ten
/// 16-bit or eight 32-bit values), so the last tree step also fetches the answer. A leaf
/// line may be partly filled (after a patch): its unused key lanes hold `u32::MAX` and
/// repeat the last value, so a lookup needs no fill count (only the key `u32::MAX`
/// itself can reach such a lane, and then the repeated value is the right answer).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Chunk {
    /// Internal levels top-down, then the leaf lines. Never modified once built, so the
    /// two copies of a left-right pair share the lines of every chunk a patch did not
    /// replace ([`Ranges::copy_patched`] clones the `Arc`): the pair costs one set of
    /// lines plus the changed chunks, and a reader switching copies keeps its cached
    /// lines.
    lines: Arc<[Line]>,
    /// Number of ranges (at least 1).
    n: u32,
    /// Number of ranges pointing at child chunks.
    children: u32,
    /// Internal level offsets, right-aligned: `off[MAXH - 1]` is the level just above
    /// the leaves; levels a chunk does not have alias its root (offset 0).
    off: [u32; MAXH],
    /// Largest child index at the level below each internal level (0 for the aliases).
    lim: [u32; MAXH],
    /// Line offset of the leaf level.
    leaf: u32,
    /// Internal levels this chunk really has.
    height: u8,
    /// Whether values are 32-bit direct-entry words (some range has a child chunk).
    wide: bool,
}

/// Packs ranges densely into leaf lines of `lk` keys and `width`-bit values, appending
/// to `out`.
fn pack(keys: &[u32], vals: &[u32], lk: usize, width: usize, out: &mut Vec<Line>) {
    let per = 32 / width;
    let low = if width == 32 {
        u32::MAX
    } else {
        (1u32 << width) - 1
    };
    for (ks, vs) in keys.chunks(lk).zip(vals.chunks(lk)) {
        let mut line = Line([u32::MAX; KEYS]);
        line.0[..ks.len()].copy_from_slice(ks);
        line.0[lk..].fill(0);
        let last = vs.last().copied().unwrap_or(0);
        for slot in 0..lk {
            let v = vs.get(slot).copied().unwrap_or(last) & low;
            line.0[lk + slot / per] |= v << (width * (slot % per));
        }
        out.push(line);
    }
}

/// Decodes leaf lines into ranges (start keys and widened values), appending.
fn unpack(lines: &[Line], lk: usize, width: usize, keys: &mut Vec<u32>, vals: &mut Vec<u32>) {
    let low = if width == 32 {
        u32::MAX
    } else {
        (1u32 << width) - 1
    };
    for line in lines {
        keys.push(line.0[0]);
        vals.push(value(line, lk, width, 0) & low);
        for slot in 1..lk {
            let k = line.0[slot];
            let v = value(line, lk, width, slot) & low;
            // Unused lanes: `u32::MAX` repeating the previous value.
            if k <= line.0[slot - 1] || (k == u32::MAX && Some(&v) == vals.last()) {
                break;
            }
            keys.push(k);
            vals.push(v);
        }
    }
}

impl Chunk {
    /// Makes `self` a copy of `src`, sharing its lines.
    fn copy_from(&mut self, src: &Chunk) {
        self.lines = Arc::clone(&src.lines);
        let Chunk {
            lines: _,
            n,
            children,
            off,
            lim,
            leaf,
            height,
            wide,
        } = *src;
        (self.n, self.children, self.off, self.lim) = (n, children, off, lim);
        (self.leaf, self.height, self.wide) = (leaf, height, wide);
    }

    /// A freed slot (never reached by a lookup).
    fn hole() -> Self {
        Chunk {
            lines: Arc::new([]),
            n: 0,
            children: 0,
            off: [0; MAXH],
            lim: [0; MAXH],
            leaf: 0,
            height: 0,
            wide: false,
        }
    }

    fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }

    fn leaves(&self) -> &[Line] {
        &self.lines[self.leaf as usize..]
    }

    /// Builds a chunk of `nleaves` leaf lines (at least one), appended by `fill` to the
    /// line vector after the internal levels, holding `n` ranges of which `children`
    /// are child pointers; then computes the internal levels. The leaf lines are
    /// written once, in place.
    fn new(
        nleaves: usize,
        fill: impl FnOnce(&mut Vec<Line>),
        n: usize,
        children: usize,
        wide: bool,
    ) -> Self {
        // Level sizes, leaves first.
        let mut sizes = vec![nleaves];
        while let Some(&s) = sizes.last() {
            if s <= 1 {
                break;
            }
            sizes.push(s.div_ceil(FAN));
        }
        let height = sizes.len() - 1;
        let inner: usize = sizes[1..].iter().sum();
        let mut lines = Vec::with_capacity(inner + nleaves);
        lines.resize(inner, Line([u32::MAX; KEYS]));
        fill(&mut lines);
        debug_assert_eq!(lines.len(), inner + nleaves, "leaf line count");
        let mut off = [0u32; MAXH];
        let mut lim = [0u32; MAXH];
        // Internal level j (1 = just above the leaves) sits at `MAXH - j`.
        let mut at = 0usize;
        for j in (1..=height).rev() {
            off[MAXH - j] = at as u32;
            lim[MAXH - j] = (sizes[j - 1] - 1) as u32;
            // Leaf lines under one node of level j - 1.
            let span = FAN.pow(j as u32 - 1);
            for m in 0..sizes[j] {
                for t in 1..FAN {
                    let child = m * FAN + t;
                    if child < sizes[j - 1] {
                        let k = lines.get(inner + child * span).map_or(u32::MAX, |l| l.0[0]);
                        lines[at + m].0[t - 1] = k;
                    }
                }
            }
            at += sizes[j];
        }
        Chunk {
            lines: lines.into(),
            n: n as u32,
            children: children as u32,
            off,
            lim,
            leaf: at as u32,
            height: height as u8,
            wide,
        }
    }

    /// The leaf line index reached for key `x` after `h >= self.height` internal levels.
    #[inline(always)]
    fn descend(&self, h: usize, x: u32) -> usize {
        let mut idx = 0usize;
        for l in MAXH - h..MAXH {
            let c = rank(&self.lines[self.off[l] as usize + idx], x, KEYS);
            idx = (idx * FAN + c).min(self.lim[l] as usize);
        }
        idx
    }

    /// The value (widened, not masked) of the range containing `x` within leaf line
    /// `idx`.
    #[inline(always)]
    fn leaf_value(&self, idx: usize, x: u32, lk: usize, width: usize) -> u32 {
        let line = &self.lines[self.leaf as usize + idx];
        let c = rank(line, x, lk);
        value(line, lk, width, c.saturating_sub(1).min(lk - 1))
    }
}

/// Value `slot` of a leaf line with `lk` keys and `width`-bit values (not masked: the
/// caller narrows it).
#[inline(always)]
fn value(line: &Line, lk: usize, width: usize, slot: usize) -> u32 {
    let bit = slot * width;
    line.0[lk + bit / 32] >> (bit % 32)
}

/// A range value while compiling: a leaf, or a key block holding longer prefixes
/// (`items[lo..hi]`, inheriting the leaf of the shorter ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot<T> {
    Leaf(T),
    Child(usize, usize, T),
}

/// The range-search structure (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Ranges<K: Key, L: Leaf = NextHop> {
    direct: Vec<u32>,
    chunks: Vec<Chunk>,
    /// Indices of freed chunk slots.
    free: Vec<u32>,
    /// Internal levels every lookup searches (the maximum over the chunks).
    height: usize,
    /// Chunk slots the last [`Ranges::patch_many`] wrote (stored, released or replaced).
    touched_slots: Vec<u32>,
    /// Direct entries the last [`Ranges::patch_many`] wrote.
    touched_direct: Vec<u32>,
    _k: PhantomData<(K, L)>,
}

/// The 32 key bits of `addr` at bit offset `off`.
#[inline(always)]
fn window<K: Key>(addr: K, off: u32) -> u32 {
    addr.window(off)
}

/// The last key of a prefix of `len` bits at level offset `off` (`off < len <= off + 32`)
/// whose first key is `s`.
#[inline]
fn last_key(s: u32, len: u32, off: u32) -> u32 {
    let d = len - off;
    if d >= KEY_BITS {
        s
    } else {
        s | (u32::MAX >> d)
    }
}

impl<K: Key, L: Leaf> Ranges<K, L> {
    /// Keys per leaf line of a narrow chunk: ten with 16-bit leaves, eight with 32-bit.
    const LK: usize = 512 / (32 + L::WIDTH as usize);

    /// The leaf of the range containing `x` in chunk `ch`.
    #[inline(always)]
    fn narrow(ch: &Chunk, idx: usize, x: u32) -> Option<L> {
        let v = ch.leaf_value(idx, x, Self::LK, L::WIDTH as usize);
        L::from_enc(E::<L>::from_u64(u64::from(v)))
    }

    /// An empty structure.
    pub(crate) fn empty() -> Self {
        Ranges {
            direct: vec![0; 1 << K::DIRECT_BITS],
            chunks: Vec::new(),
            free: Vec::new(),
            height: 0,
            touched_slots: Vec::new(),
            touched_direct: Vec::new(),
            _k: PhantomData,
        }
    }

    /// Compiles everything in `rib`.
    pub(crate) fn build(rib: &Rib<K, L>) -> Self {
        let mut r = Ranges::empty();
        let mut items: Vec<(K, u8, E<L>)> = Vec::new();
        let mut cur = usize::MAX;
        for (&(k, l), &v) in rib.map.range((K::ZERO, (K::DIRECT_BITS + 1) as u8)..) {
            if u32::from(l) <= K::DIRECT_BITS {
                continue;
            }
            let c = k.top(K::DIRECT_BITS);
            if c != cur {
                if cur != usize::MAX {
                    r.direct[cur] = r.compile(&items, K::DIRECT_BITS, rib.dflt[cur]);
                }
                items.clear();
                cur = c;
            }
            items.push((k, l, v));
        }
        if cur != usize::MAX {
            r.direct[cur] = r.compile(&items, K::DIRECT_BITS, rib.dflt[cur]);
        }
        for (c, e) in r.direct.iter_mut().enumerate() {
            if *e == 0 {
                *e = rib.dflt[c].to_u64() as u32;
            }
        }
        r.chunks.shrink_to_fit();
        r
    }

    /// Single-address lookup.
    #[inline]
    pub(crate) fn lookup(&self, addr: K) -> Option<L> {
        let w = self.direct[addr.top(K::DIRECT_BITS)];
        if w & CHILD == 0 {
            return L::from_enc(E::<L>::from_u64(u64::from(w)));
        }
        self.lookup_chunk(w, addr)
    }

    /// The tree part of [`Ranges::lookup`], kept out of line so that the direct-table
    /// hit stays a few instructions where the lookup is inlined.
    #[inline(never)]
    fn lookup_chunk(&self, mut w: u32, addr: K) -> Option<L> {
        let mut off = K::DIRECT_BITS;
        loop {
            if w & CHILD == 0 {
                return L::from_enc(E::<L>::from_u64(u64::from(w)));
            }
            let ch = &self.chunks[(w & !CHILD) as usize];
            let x = window(addr, off);
            let idx = ch.descend(self.height, x);
            if !ch.wide {
                return Self::narrow(ch, idx, x);
            }
            w = ch.leaf_value(idx, x, WIDE_LK, 32);
            off += KEY_BITS;
        }
    }

    /// Batch lookup, 16 addresses interleaved level by level.
    pub(crate) fn lookup_batch(&self, addrs: &[K], out: &mut [Option<L>]) {
        let h = self.height;
        for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let n = a.len().min(o.len());
            let mut w = [0u32; LANES];
            let mut active = 0u32;
            for i in 0..n {
                w[i] = self.direct[a[i].top(K::DIRECT_BITS)];
                if w[i] & CHILD == 0 {
                    o[i] = L::from_enc(E::<L>::from_u64(u64::from(w[i])));
                } else {
                    active |= 1 << i;
                }
            }
            let mut off = K::DIRECT_BITS;
            while active != 0 {
                let mut x = [0u32; LANES];
                let mut idx = [0usize; LANES];
                if active == (1u32 << n) - 1 {
                    // All lanes in chunks (the common case): plain loops.
                    for i in 0..n {
                        x[i] = window(a[i], off);
                    }
                    for l in MAXH - h..MAXH {
                        for i in 0..n {
                            let ch = &self.chunks[(w[i] & !CHILD) as usize];
                            let c = rank(&ch.lines[ch.off[l] as usize + idx[i]], x[i], KEYS);
                            idx[i] = (idx[i] * FAN + c).min(ch.lim[l] as usize);
                        }
                    }
                } else {
                    let mut bits = active;
                    while bits != 0 {
                        let i = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        x[i] = window(a[i], off);
                    }
                    for l in MAXH - h..MAXH {
                        let mut bits = active;
                        while bits != 0 {
                            let i = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            let ch = &self.chunks[(w[i] & !CHILD) as usize];
                            let c = rank(&ch.lines[ch.off[l] as usize + idx[i]], x[i], KEYS);
                            idx[i] = (idx[i] * FAN + c).min(ch.lim[l] as usize);
                        }
                    }
                }
                let mut bits = active;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let ch = &self.chunks[(w[i] & !CHILD) as usize];
                    if !ch.wide {
                        o[i] = Self::narrow(ch, idx[i], x[i]);
                        active &= !(1 << i);
                    } else {
                        w[i] = ch.leaf_value(idx[i], x[i], WIDE_LK, 32);
                        if w[i] & CHILD == 0 {
                            o[i] = L::from_enc(E::<L>::from_u64(u64::from(w[i])));
                            active &= !(1 << i);
                        }
                    }
                }
                off += KEY_BITS;
            }
        }
    }

    /// Heap bytes of `self` not shared with `base` (the other copy of a left-right pair):
    /// its tables and the lines of the chunks whose lines `base` does not share.
    pub(crate) fn unshared_bytes(&self, base: &Self) -> usize {
        let shared: usize = self
            .chunks
            .iter()
            .zip(&base.chunks)
            .filter(|(a, b)| Arc::ptr_eq(&a.lines, &b.lines))
            .map(|(a, _)| a.bytes())
            .sum();
        self.memory_bytes() - shared
    }

    /// Heap bytes (allocated capacity of the tables, the live chunks' blocks).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.direct.capacity() * 4
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.free.capacity() * 4
            + self.chunks.iter().map(Chunk::bytes).sum::<usize>()
    }

    /// Shape counters: (chunks, ranges, lines).
    pub(crate) fn shape(&self) -> (usize, usize, usize) {
        let live = self.chunks.iter().filter(|c| c.n > 0);
        let (mut c, mut r, mut l) = (0, 0, 0);
        for ch in live {
            c += 1;
            r += ch.n as usize;
            l += ch.lines.len();
        }
        (c, r, l)
    }

    /// Stores `ch`; returns its direct-entry encoding.
    fn store(&mut self, ch: Chunk) -> u32 {
        self.height = self.height.max(usize::from(ch.height));
        let at = match self.free.pop() {
            Some(at) => {
                self.chunks[at as usize] = ch;
                at as usize
            }
            None => {
                self.chunks.push(ch);
                self.chunks.len() - 1
            }
        };
        assert!(at < CHILD as usize, "more than 2^31 chunks");
        self.touched_slots.push(at as u32);
        CHILD | at as u32
    }

    /// Frees the chunk tree a direct entry or wide value points to.
    fn release(&mut self, w: u32) {
        if w & CHILD == 0 {
            return;
        }
        let at = (w & !CHILD) as usize;
        let ch = std::mem::replace(&mut self.chunks[at], Chunk::hole());
        self.touched_slots.push(at as u32);
        if ch.wide {
            let (mut k, mut v) = (Vec::new(), Vec::new());
            unpack(ch.leaves(), WIDE_LK, 32, &mut k, &mut v);
            for w in v {
                self.release(w);
            }
        }
        self.free.push(at as u32);
    }

    /// Compiles `items` (sorted, all inside one key block at offset `off`, longer than
    /// `off`) with `dflt` where none matches; returns the direct-entry encoding.
    fn compile(&mut self, items: &[(K, u8, E<L>)], off: u32, dflt: E<L>) -> u32 {
        if items.is_empty() {
            return dflt.to_u64() as u32;
        }
        let mut out = Vec::with_capacity(items.len() * 2 + 1);
        sweep(items, off, dflt, 0, u32::MAX, &mut out);
        let (keys, vals) = self.resolve(items, off, &out);
        self.make(&keys, vals)
    }

    /// Turns swept slots into keys and wide values, compiling child blocks.
    fn resolve(
        &mut self,
        items: &[(K, u8, E<L>)],
        off: u32,
        slots: &[(u32, Slot<E<L>>)],
    ) -> (Vec<u32>, Vec<u32>) {
        let mut keys = Vec::with_capacity(slots.len());
        let mut vals = Vec::with_capacity(slots.len());
        for &(k, s) in slots {
            keys.push(k);
            vals.push(match s {
                Slot::Leaf(v) => v.to_u64() as u32,
                Slot::Child(lo, hi, inh) => self.compile(&items[lo..hi], off + KEY_BITS, inh),
            });
        }
        (keys, vals)
    }

    /// A chunk from keys and wide values; returns its direct-entry encoding (a leaf if
    /// the whole block is one leaf range).
    fn make(&mut self, keys: &[u32], vals: Vec<u32>) -> u32 {
        if keys.len() == 1 && vals[0] & CHILD == 0 {
            return vals[0];
        }
        let children = vals.iter().filter(|&&v| v & CHILD != 0).count();
        let (lk, width) = self.format(children > 0);
        let ch = Chunk::new(
            keys.len().div_ceil(lk),
            |out| pack(keys, &vals, lk, width, out),
            keys.len(),
            children,
            children > 0,
        );
        self.store(ch)
    }

    /// Leaf-line format: keys per line and value width.
    fn format(&self, wide: bool) -> (usize, usize) {
        if wide {
            (WIDE_LK, 32)
        } else {
            (Self::LK, L::WIDTH as usize)
        }
    }

    /// Recompiles chunk `c` from `rib`.
    fn rebuild_chunk(&mut self, rib: &Rib<K, L>, c: usize, items: &mut Vec<(K, u8, E<L>)>) {
        let old = self.direct[c];
        self.release(old);
        rib.items_in(K::from_top(c, K::DIRECT_BITS), K::DIRECT_BITS, items);
        self.direct[c] = self.compile(items, K::DIRECT_BITS, rib.dflt[c]);
        self.touched_direct.push(c as u32);
    }

    /// Brings the structure up to date with `rib` after the prefix `(k, len)` changed
    /// there (see the module docs, "Updates").
    pub(crate) fn patch(&mut self, rib: &Rib<K, L>, k: K, len: u8) {
        self.patch_many(rib, &[(k, len)]);
    }

    /// [`Ranges::patch`] for many changed prefixes at once: every affected chunk is
    /// rebuilt once, with all its changed units spliced in one pass.
    pub(crate) fn patch_many(&mut self, rib: &Rib<K, L>, changed: &[(K, u8)]) {
        self.touched_slots.clear();
        self.touched_direct.clear();
        let off = K::DIRECT_BITS;
        let mut items = Vec::new();
        // Chunks to recompile whole (covered by a changed short prefix), and the units
        // (a prefix, or the key block holding it) per other chunk.
        let mut whole: Vec<usize> = Vec::new();
        let mut units: Vec<(usize, u32, u32, K, u8)> = Vec::new();
        for &(k, len) in changed {
            if u32::from(len) <= off {
                let (lo, n) = Rib::<K, L>::chunk_span(k, len);
                whole.extend(lo..lo + n);
            } else {
                let ql = u32::from(len).min(off + KEY_BITS) as u8;
                let qa = k.and(K::mask(ql));
                let s = window(qa, off);
                units.push((k.top(off), s, last_key(s, u32::from(ql), off), qa, ql));
            }
        }
        whole.sort_unstable();
        whole.dedup();
        for &c in &whole {
            self.rebuild_chunk(rib, c, &mut items);
        }
        // By chunk, then start; the outer of nested units first.
        units.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        let mut u = 0;
        while u < units.len() {
            let c = units[u].0;
            let mut v = u;
            while v < units.len() && units[v].0 == c {
                v += 1;
            }
            if whole.binary_search(&c).is_err() {
                self.splice_chunk(rib, c, &units[u..v], &mut items);
            }
            u = v;
        }
    }

    /// Recomputes the ranges of `units` (sorted by start, outer first; each a prefix
    /// interval `s..=e` of chunk `c`) from `rib` and splices them into the chunk: only
    /// the leaf lines from the one before the first unit to the one after the last unit
    /// are decoded and repacked (the others are copied), then the internal levels are
    /// rebuilt. Repacking leaves partly filled lines; when the leaf lines exceed the
    /// dense count by a quarter, the chunk is repacked densely.
    fn splice_chunk(
        &mut self,
        rib: &Rib<K, L>,
        c: usize,
        units: &[(usize, u32, u32, K, u8)],
        items: &mut Vec<(K, u8, E<L>)>,
    ) {
        let off = K::DIRECT_BITS;
        let (Some(first), Some(last)) = (units.first(), units.iter().map(|u| u.2).max()) else {
            return;
        };
        // The window of old ranges (keys, wide values) to recompute, and the leaf lines
        // before and after it.
        let old = self.direct[c];
        let (mut okeys, mut ovals) = (Vec::new(), Vec::new());
        let (mut before, mut after): (&[Line], &[Line]) = (&[], &[]);
        let (mut old_n, mut old_children, mut old_wide) = (1usize, 0usize, false);
        let chunk_at = (old & CHILD != 0).then_some((old & !CHILD) as usize);
        // Taken out of its slot (which stays off the free list until the end).
        let old_chunk = chunk_at.map(|at| std::mem::replace(&mut self.chunks[at], Chunk::hole()));
        if let Some(at) = chunk_at {
            self.touched_slots.push(at as u32);
        }
        if let Some(ch) = &old_chunk {
            let (lk, width) = self.format(ch.wide);
            let leaves = ch.leaves();
            let la = ch.descend(self.height, first.1).min(leaves.len() - 1);
            let lb = ch.descend(self.height, last).min(leaves.len() - 1);
            let l0 = la.saturating_sub(1);
            let l1 = (lb + 2).min(leaves.len());
            unpack(&leaves[l0..l1], lk, width, &mut okeys, &mut ovals);
            before = &leaves[..l0];
            after = &leaves[l1..];
            old_n = ch.n as usize;
            old_children = ch.children as usize;
            old_wide = ch.wide;
        } else {
            okeys.push(0);
            ovals.push(old);
        }
        let mut keys = Vec::with_capacity(okeys.len() + 2 * units.len() + 1);
        let mut vals = Vec::with_capacity(okeys.len() + 2 * units.len() + 1);
        let mut seg = Vec::new();
        let mut released = 0usize;
        let mut freed: Vec<u32> = Vec::new();
        // Old ranges before `cur` are consumed.
        let mut cur = 0usize;
        // End of the last unit spliced (units nested in it are covered).
        let mut done: Option<u32> = None;
        for &(_, s, e, qa, ql) in units {
            if done.is_some_and(|d| s <= d) {
                continue;
            }
            done = Some(e);
            // The leaf of the longest prefix covering the unit from outside, and the
            // prefixes inside it (itself included), sorted.
            let (inherit, _) = rib.covering(qa, ql);
            rib.items_from(qa, ql, items);
            seg.clear();
            sweep(items, off, inherit, s, e, &mut seg);
            let i = cur + okeys[cur..].partition_point(|&x| x < s);
            let j = cur + okeys[cur..].partition_point(|&x| x <= e);
            for (&k2, &v) in okeys[cur..i].iter().zip(&ovals[cur..i]) {
                push_range(&mut keys, &mut vals, k2, v);
            }
            // Child blocks inside the unit are recompiled: free the old ones (after the
            // new ones are compiled, so that their slots are not reused meanwhile).
            for &v in &ovals[i..j] {
                if v & CHILD != 0 {
                    released += 1;
                    freed.push(v);
                }
            }
            let (skeys, svals) = self.resolve(items, off, &seg);
            for (&k2, &v) in skeys.iter().zip(&svals) {
                push_range(&mut keys, &mut vals, k2, v);
            }
            // The range after the unit starts at e + 1 (an old start, or the old range
            // running across `e`, which is a leaf: a child range is one key wide).
            if e != u32::MAX && !(j < okeys.len() && okeys[j] == e + 1) {
                push_range(&mut keys, &mut vals, e + 1, ovals[j - 1]);
            }
            cur = j;
        }
        for (&k2, &v) in okeys[cur..].iter().zip(&ovals[cur..]) {
            push_range(&mut keys, &mut vals, k2, v);
        }
        for v in freed {
            self.release(v);
        }
        let added = vals.iter().filter(|&&v| v & CHILD != 0).count();
        let children = old_children + added - released;
        let n = old_n - okeys.len() + keys.len();
        let wide = children > 0;
        let (lk, width) = self.format(wide);
        let entry = if n == 1 && !wide {
            vals[0]
        } else if wide != old_wide || {
            let lines = before.len() + keys.len().div_ceil(lk) + after.len();
            lines > 2 + n.div_ceil(lk) * 5 / 4
        } {
            // New format or too sparse: everything decoded and packed densely.
            let (olk, owidth) = self.format(old_wide);
            let (mut all_k, mut all_v) = (Vec::with_capacity(n), Vec::with_capacity(n));
            unpack(before, olk, owidth, &mut all_k, &mut all_v);
            all_k.extend_from_slice(&keys);
            all_v.extend_from_slice(&vals);
            unpack(after, olk, owidth, &mut all_k, &mut all_v);
            let ch = Chunk::new(
                all_k.len().div_ceil(lk),
                |out| pack(&all_k, &all_v, lk, width, out),
                all_k.len(),
                children,
                wide,
            );
            self.store(ch)
        } else {
            let ch = Chunk::new(
                before.len() + keys.len().div_ceil(lk) + after.len(),
                |out| {
                    out.extend_from_slice(before);
                    pack(&keys, &vals, lk, width, out);
                    out.extend_from_slice(after);
                },
                n,
                children,
                wide,
            );
            self.store(ch)
        };
        if let Some(at) = chunk_at {
            self.free.push(at as u32);
        }
        self.direct[c] = entry;
        self.touched_direct.push(c as u32);
    }

    /// Brings `self` to the state of `src` after `src`'s last [`Ranges::patch_many`],
    /// by copying what that patch wrote (chunk slots, direct entries, the free list),
    /// provided `self` was equal to `src` before it: the second copy of a left-right
    /// pair costs a memory copy of the changed chunks instead of a second compile.
    pub(crate) fn copy_patched(&mut self, src: &Self) {
        self.chunks.truncate(src.chunks.len());
        self.chunks.resize_with(src.chunks.len(), Chunk::hole);
        for &at in &src.touched_slots {
            self.chunks[at as usize].copy_from(&src.chunks[at as usize]);
        }
        for &c in &src.touched_direct {
            self.direct[c as usize] = src.direct[c as usize];
        }
        self.free.clone_from(&src.free);
        self.height = src.height;
        self.touched_slots.clear();
        self.touched_direct.clear();
    }

    /// Whether `self` and `other` hold the same structure (tests of
    /// [`Ranges::copy_patched`]).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.direct == other.direct
            && self.chunks == other.chunks
            && self.free == other.free
            && self.height == other.height
    }
}

/// Appends a range, merging it into the previous one when their leaves are equal and
/// replacing a previous range starting at the same key.
fn push_range(keys: &mut Vec<u32>, vals: &mut Vec<u32>, k: u32, v: u32) {
    if keys.last() == Some(&k) {
        keys.pop();
        vals.pop();
    }
    if vals.last() == Some(&v) && v & CHILD == 0 {
        return;
    }
    keys.push(k);
    vals.push(v);
}

/// Appends a swept slot with the same merging rules as [`push_range`].
fn emit<T: Copy + Eq>(out: &mut Vec<(u32, Slot<T>)>, k: u32, s: Slot<T>) {
    if out.last().is_some_and(|l| l.0 == k) {
        out.pop();
    }
    if let (Some((_, Slot::Leaf(a))), Slot::Leaf(b)) = (out.last(), s)
        && *a == b
    {
        return;
    }
    out.push((k, s));
}

/// The disjoint ranges of keys `s..=e` at level offset `off`: `items` (sorted by
/// address then length, all inside `s..=e`) painted over `dflt`, a key block holding
/// prefixes longer than `off + 32` becoming one `Child` range.
fn sweep<K: Key, T: Copy + Eq>(
    items: &[(K, u8, T)],
    off: u32,
    dflt: T,
    s: u32,
    e: u32,
    out: &mut Vec<(u32, Slot<T>)>,
) {
    // Open ranges: (last key, leaf), innermost last.
    let mut stack: Vec<(u32, Slot<T>)> = Vec::new();
    let top = |stack: &Vec<(u32, Slot<T>)>| match stack.last() {
        Some(&(_, Slot::Leaf(v))) => v,
        _ => dflt,
    };
    emit(out, s, Slot::Leaf(dflt));
    let mut i = 0;
    while i < items.len() {
        let (a, l, v) = items[i];
        let start = window(a, off);
        while let Some(&(end, _)) = stack.last() {
            if end >= start {
                break;
            }
            stack.pop();
            let next = stack.last().map_or(Slot::Leaf(dflt), |&(_, s2)| match s2 {
                Slot::Leaf(x) => Slot::Leaf(x),
                Slot::Child(..) => Slot::Leaf(dflt),
            });
            emit(out, end + 1, next);
        }
        if u32::from(l) <= off + KEY_BITS {
            emit(out, start, Slot::Leaf(v));
            stack.push((last_key(start, u32::from(l), off), Slot::Leaf(v)));
            i += 1;
        } else {
            let mut j = i + 1;
            while j < items.len() && window(items[j].0, off) == start {
                j += 1;
            }
            let inh = top(&stack);
            emit(out, start, Slot::Child(i, j, inh));
            stack.push((start, Slot::Child(i, j, inh)));
            i = j;
        }
    }
    while let Some((end, _)) = stack.pop() {
        if end < e {
            let next = match stack.last() {
                Some(&(_, Slot::Leaf(x))) => x,
                _ => dflt,
            };
            emit(out, end + 1, Slot::Leaf(next));
        }
    }
}
