//! The 4-tuple index: NetBSD's "fat pointers" (`fatp_t`, `fatp_vtw_inshash`,
//! `vtw_lookup_hash_v4`) rebuilt as open addressing over one-cache-line buckets.
//!
//! A bucket is exactly 64 bytes: 16 one-byte tags (8 bits of the keyed hash, 0 = empty),
//! 16 entry indices of 22 bits each packed into 44 bytes, a 16-bit overflow count and a
//! 16-bit overflow filter (one bit, chosen by 4 hash bits, per entry that passed over the
//! bucket; cleared when the count returns to 0), so most misses stop at a bucket that
//! overflowed for other keys without reading the next one. A lookup compares the search
//! tag against all 16 tags at once (a 128-bit has-zero-byte test, whose rare false
//! candidates are confirmed byte by byte) and dereferences an arena entry only for a
//! matching tag, so a miss usually touches one cache line and no entry (NetBSD: "15 data
//! elements can be searched with one cache line fill"). The probe step is computed only
//! when a probe leaves the home bucket; the home bucket is searched inline, the rest of a
//! probe out of line.
//!
//! Differences from NetBSD, and the reasons:
//! - NetBSD chains extra fat pointers below a full bucket head and never compacts
//!   ("tapeworm like"); under churn chains grow and misses walk them. Here a full bucket
//!   sends the entry along a probe sequence (double hashing over a prime number of buckets,
//!   the step taken from the hash), and every bucket passed over counts the entry in its
//!   *overflow count*. Removal walks the same sequence and decrements, so counts are exact
//!   and there are no tombstones: a miss stops at the first bucket whose overflow count is
//!   0, however long the table has churned (the pitfall measured in
//!   `vtw-feasibility.md`: linear probing with tombstones degraded from 1.5 to 6.8 buckets
//!   per miss). A count that reaches `u16::MAX` sticks there (lookups stay correct, they
//!   only probe further); this cannot happen below 65,535 displaced entries per bucket.
//! - NetBSD allocates fat pointers from a pool and force-expires an entry when the pool
//!   is empty. Here the bucket array is sized once so that a full arena loads the slots to
//!   at most 75 %; an insert can therefore always find a free slot, and the impossible
//!   case is a typed error, never a silent loss. (At 90 % load a full table's misses
//!   read 2.0 buckets, the overflow filters saturating; at 75 % 1.06, at 80 % 1.10 —
//!   measured with `vtw_steady` at 1,111,111 entries.)
//! - NetBSD's tag is the unkeyed sum `faddr + fport + laddr + lport` (chosen collisions
//!   are trivial) and its IPv6 tag is 0 without `IN6_HASH`. The caller here supplies a keyed
//!   hash (foldhash with a random per-table seed).

/// Slots per bucket.
pub(crate) const SLOTS: usize = 16;
/// Bits of an entry index; the arena holds at most `1 << IDX_BITS` entries.
pub(crate) const IDX_BITS: u32 = 22;
/// Largest arena the index can address.
pub(crate) const MAX_ENTRIES: usize = 1 << IDX_BITS;
const IDX_MASK: u32 = (1 << IDX_BITS) - 1;
/// Byte offset of the packed indices inside a bucket.
const IDX_OFF: usize = 16;
/// Byte offset of the overflow count.
const OVF_OFF: usize = 60;
/// Byte offset of the 16-bit overflow filter.
const FILTER_OFF: usize = 62;
/// Slot occupancy the index is sized for when the whole arena is live.
const MAX_LOAD: f64 = 0.75;

const LO: u64 = 0x0101_0101_0101_0101;
#[cfg(test)]
const HI: u64 = 0x8080_8080_8080_8080;
const LO128: u128 = (LO as u128) << 64 | LO as u128;
const HI128: u128 = LO128 << 7;

/// One 64-byte, cache-line-aligned bucket.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    bytes: [u8; 64],
}

impl Bucket {
    const EMPTY: Bucket = Bucket { bytes: [0; 64] };

    #[cfg(test)]
    fn tag_words(&self) -> [u64; 2] {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&self.bytes[0..8]);
        b.copy_from_slice(&self.bytes[8..16]);
        [u64::from_le_bytes(a), u64::from_le_bytes(b)]
    }

    /// The 16 tags as one little-endian word (byte i = slot i).
    #[inline]
    fn tags(&self) -> u128 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.bytes[0..16]);
        u128::from_le_bytes(a)
    }

    /// Candidate slots for `tag`: the high bit of byte i is set if slot i may hold `tag`.
    /// Every slot that holds it is set; a slot holding `tag ^ 1` above one that holds
    /// `tag` may be set too (the borrow of the classic has-zero-byte test), so callers
    /// confirm with [`Bucket::tag`]. Cheaper than an exact per-byte mask: no
    /// gather multiply, 128-bit operations instead of two 64-bit halves.
    #[inline]
    fn candidates(&self, tag: u8) -> u128 {
        let x = self.tags() ^ u128::from_le_bytes([tag; 16]);
        x.wrapping_sub(LO128) & !x & HI128
    }

    /// The lowest empty slot, exact (the has-zero-byte test never errs below the first
    /// zero byte).
    #[inline]
    fn first_empty(&self) -> Option<usize> {
        let x = self.tags();
        let m = x.wrapping_sub(LO128) & !x & HI128;
        (m != 0).then(|| (m.trailing_zeros() / 8) as usize)
    }

    /// Bit mask (bit i = slot i) of the slots whose tag equals `tag` (exact).
    #[cfg(test)]
    fn match_tag(&self, tag: u8) -> u32 {
        let pat = LO.wrapping_mul(u64::from(tag));
        let [a, b] = self.tag_words();
        zero_bytes(a ^ pat) | (zero_bytes(b ^ pat) << 8)
    }

    /// Bit mask (bit i = slot i) of the empty slots (exact).
    #[cfg(test)]
    fn empty_slots(&self) -> u32 {
        let [a, b] = self.tag_words();
        zero_bytes(a) | (zero_bytes(b) << 8)
    }

    #[inline]
    fn tag(&self, slot: usize) -> u8 {
        self.bytes[slot & (SLOTS - 1)]
    }

    #[inline]
    fn idx(&self, slot: usize) -> u32 {
        let bit = (slot & (SLOTS - 1)) * IDX_BITS as usize;
        let at = IDX_OFF + bit / 8;
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.bytes[at..at + 4]);
        (u32::from_le_bytes(w) >> (bit % 8)) & IDX_MASK
    }

    #[inline]
    fn set(&mut self, slot: usize, tag: u8, idx: u32) {
        let slot = slot & (SLOTS - 1);
        self.bytes[slot] = tag;
        let bit = slot * IDX_BITS as usize;
        let at = IDX_OFF + bit / 8;
        let shift = bit % 8;
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.bytes[at..at + 4]);
        let mut v = u32::from_le_bytes(w);
        v &= !(IDX_MASK << shift);
        v |= (idx & IDX_MASK) << shift;
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn overflow(&self) -> u16 {
        u16::from_le_bytes([self.bytes[OVF_OFF], self.bytes[OVF_OFF + 1]])
    }

    #[inline]
    fn set_overflow(&mut self, v: u16) {
        self.bytes[OVF_OFF..OVF_OFF + 2].copy_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn filter(&self) -> u16 {
        u16::from_le_bytes([self.bytes[FILTER_OFF], self.bytes[FILTER_OFF + 1]])
    }

    #[inline]
    fn set_filter(&mut self, v: u16) {
        self.bytes[FILTER_OFF..FILTER_OFF + 2].copy_from_slice(&v.to_le_bytes());
    }
}

/// Exact per-byte "is zero" mask, one bit per byte (bit i = byte i): the reference the
/// tests check [`Bucket::candidates`] against.
#[cfg(test)]
fn zero_bytes(x: u64) -> u32 {
    // Classic exact variant: (((x & 0x7f..) + 0x7f..) | x) has the high bit of every
    // non-zero byte set.
    let low7 = !HI;
    let t = ((x & low7).wrapping_add(low7) | x) & HI;
    let z = !t & HI; // high bit set exactly for zero bytes
    // Gather the 8 high bits into one byte.
    ((z >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Where an indexed entry sits: the bucket, the slot in it, and the probe distance from the
/// home bucket (the number of overflow counts the entry holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) bucket: u32,
    pub(crate) slot: u8,
}

/// Counters the index reports back to the table's statistics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Probe {
    /// Buckets (cache lines) read.
    pub(crate) buckets: u32,
    /// Entries dereferenced that did not match (NetBSD's "losing").
    pub(crate) losing: u32,
}

/// The bucket array.
pub(crate) struct TagIndex {
    buckets: Vec<Bucket>,
    n: u32,
}

/// The overflow-filter bit of a hash: taken from the low bits, which barely influence
/// the home bucket (chosen by the high bits of the low word) and not at all the step or tag.
#[inline]
fn filter_bit(h: u64) -> u16 {
    1 << (h & 15)
}

/// The home bucket of hash `h` among `n` (high bits of the low word, by multiply-shift).
#[inline]
fn home_of(h: u64, n: u32) -> u32 {
    ((u64::from(h as u32) * u64::from(n)) >> 32) as u32
}

/// The tag of hash `h`: its top byte, 0 (the empty mark) turned into 1.
#[inline]
fn tag_of(h: u64) -> u8 {
    let t = (h >> 56) as u8;
    t | u8::from(t == 0)
}

/// The probe step of hash `h` among `n` buckets (bits 32..56), in `1..n`. Needed only
/// when a probe leaves the home bucket, so computed only then.
#[inline]
fn step_of(h: u64, n: u32) -> u32 {
    // n is prime, so every step in 1..n walks all buckets.
    let step = 1 + ((((h >> 32) & 0xff_ffff) * u64::from(n - 1)) >> 24) as u32;
    step.min(n - 1).max(1)
}

/// Splits a 64-bit hash into (home bucket, probe step, tag).
#[inline]
fn split(h: u64, n: u32) -> (u32, u32, u8) {
    (home_of(h, n), step_of(h, n), tag_of(h))
}

#[inline]
fn next(b: u32, step: u32, n: u32) -> u32 {
    let x = b + step;
    if x >= n { x - n } else { x }
}

fn is_prime(x: u64) -> bool {
    if x < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= x {
        if x.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

impl TagIndex {
    /// Buckets needed so that `entries` live entries load the slots to at most 75 %.
    pub(crate) fn buckets_for(entries: usize) -> usize {
        let need = ((entries as f64) / (SLOTS as f64 * MAX_LOAD)).ceil() as u64;
        let mut n = need.max(3);
        while !is_prime(n) {
            n += 1;
        }
        n as usize
    }

    /// An empty index for an arena of `entries` (≤ [`MAX_ENTRIES`]) entries.
    pub(crate) fn new(entries: usize) -> Self {
        let n = Self::buckets_for(entries);
        TagIndex {
            buckets: vec![Bucket::EMPTY; n],
            n: n as u32,
        }
    }

    /// Bytes held by the bucket array.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// Finds the entry with hash `h` for which `is_match(idx)` holds. The home bucket is
    /// searched inline; a probe that has to go on (the bucket overflowed for a hash with
    /// this filter bit) continues out of line.
    #[inline]
    pub(crate) fn find(
        &self,
        h: u64,
        probe: &mut Probe,
        mut is_match: impl FnMut(u32) -> bool,
    ) -> Option<(Pos, u32)> {
        let tag = tag_of(h);
        let home = home_of(h, self.n);
        let bucket = &self.buckets[home as usize];
        probe.buckets += 1;
        if let Some(hit) = Self::search(bucket, home, tag, probe, &mut is_match) {
            return Some(hit);
        }
        if bucket.overflow() == 0 || bucket.filter() & filter_bit(h) == 0 {
            return None;
        }
        self.find_far(h, home, probe, is_match)
    }

    /// The entries of `bucket` (number `b`) tagged `tag` for which `is_match` holds.
    #[inline]
    fn search(
        bucket: &Bucket,
        b: u32,
        tag: u8,
        probe: &mut Probe,
        is_match: &mut impl FnMut(u32) -> bool,
    ) -> Option<(Pos, u32)> {
        let mut m = bucket.candidates(tag);
        while m != 0 {
            let s = (m.trailing_zeros() / 8) as usize;
            m &= m - 1;
            if bucket.tag(s) != tag {
                continue;
            }
            let idx = bucket.idx(s);
            if is_match(idx) {
                return Some((
                    Pos {
                        bucket: b,
                        slot: s as u8,
                    },
                    idx,
                ));
            }
            probe.losing += 1;
        }
        None
    }

    /// [`TagIndex::find`] past the home bucket `home` (already searched).
    #[cold]
    #[inline(never)]
    fn find_far(
        &self,
        h: u64,
        home: u32,
        probe: &mut Probe,
        mut is_match: impl FnMut(u32) -> bool,
    ) -> Option<(Pos, u32)> {
        let n = self.n;
        let tag = tag_of(h);
        let fbit = filter_bit(h);
        let step = step_of(h, n);
        let mut b = next(home, step, n);
        for _ in 1..n {
            let bucket = &self.buckets[b as usize];
            probe.buckets += 1;
            if let Some(hit) = Self::search(bucket, b, tag, probe, &mut is_match) {
                return Some(hit);
            }
            if bucket.overflow() == 0 || bucket.filter() & fbit == 0 {
                return None;
            }
            b = next(b, step, n);
        }
        None
    }

    /// True if a lookup of `h` ends in its home bucket without a match: no slot there
    /// carries `h`'s tag and no entry of `h`'s filter bit passed over it. The common
    /// case of an insert's duplicate check, decided from one cache line.
    #[inline]
    pub(crate) fn home_clear(&self, h: u64) -> bool {
        let Some(bucket) = self.buckets.get(home_of(h, self.n) as usize) else {
            return false;
        };
        bucket.candidates(tag_of(h)) == 0
            && (bucket.overflow() == 0 || bucket.filter() & filter_bit(h) == 0)
    }

    /// Reads one byte of `h`'s home bucket: a software prefetch without `unsafe`.
    #[inline]
    pub(crate) fn touch(&self, h: u64) -> u8 {
        self.buckets[home_of(h, self.n) as usize].bytes[OVF_OFF]
    }

    /// Entry indices in `h`'s home bucket whose tag equals `h`'s: the entries a lookup of
    /// `h` would dereference there (used to touch them ahead of the lookup).
    #[inline]
    pub(crate) fn home_matches(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        let tag = tag_of(h);
        let bucket = &self.buckets[home_of(h, self.n) as usize];
        let mut m = bucket.candidates(tag);
        std::iter::from_fn(move || {
            while m != 0 {
                let s = (m.trailing_zeros() / 8) as usize;
                m &= m - 1;
                if bucket.tag(s) == tag {
                    return Some(bucket.idx(s));
                }
            }
            None
        })
    }

    /// Finds the slot that holds exactly entry `idx` under hash `h` (no dereference, no
    /// counting): the home bucket inline, the rest of the probe out of line.
    #[inline]
    pub(crate) fn find_idx(&self, h: u64, idx: u32) -> Option<Pos> {
        let tag = tag_of(h);
        let home = home_of(h, self.n);
        let bucket = &self.buckets[home as usize];
        let mut m = bucket.candidates(tag);
        while m != 0 {
            let s = (m.trailing_zeros() / 8) as usize;
            m &= m - 1;
            if bucket.tag(s) == tag && bucket.idx(s) == idx {
                return Some(Pos {
                    bucket: home,
                    slot: s as u8,
                });
            }
        }
        if bucket.overflow() == 0 {
            return None;
        }
        let mut probe = Probe::default();
        self.find_far(h, home, &mut probe, |i| i == idx)
            .map(|(p, _)| p)
    }

    /// Inserts entry `idx` under hash `h`. Returns `None` only if every bucket is full,
    /// which the sizing rules out while the arena is not larger than the index was built
    /// for.
    #[inline]
    pub(crate) fn insert(&mut self, h: u64, idx: u32) -> Option<Pos> {
        let home = home_of(h, self.n);
        let bk = &mut self.buckets[home as usize];
        if let Some(s) = bk.first_empty() {
            bk.set(s, tag_of(h), idx);
            return Some(Pos {
                bucket: home,
                slot: s as u8,
            });
        }
        self.insert_probing(h, idx)
    }

    /// [`TagIndex::insert`] when the home bucket is full.
    #[cold]
    fn insert_probing(&mut self, h: u64, idx: u32) -> Option<Pos> {
        let (home, step, tag) = split(h, self.n);
        let mut b = home;
        for _ in 0..self.n {
            if let Some(s) = self.buckets[b as usize].first_empty() {
                self.buckets[b as usize].set(s, tag, idx);
                // Count the entry in every bucket it passed over.
                let mut c = home;
                while c != b {
                    let bk = &mut self.buckets[c as usize];
                    let o = bk.overflow();
                    if o != u16::MAX {
                        bk.set_overflow(o + 1);
                    }
                    bk.set_filter(bk.filter() | filter_bit(h));
                    c = next(c, step, self.n);
                }
                return Some(Pos {
                    bucket: b,
                    slot: s as u8,
                });
            }
            b = next(b, step, self.n);
        }
        None
    }

    /// Removes the entry at `pos`, whose hash is `h`. Only the tag is cleared (an empty
    /// slot's index bits are never read).
    #[inline]
    pub(crate) fn remove(&mut self, h: u64, pos: Pos) {
        let bk = &mut self.buckets[pos.bucket as usize];
        bk.bytes[usize::from(pos.slot) & (SLOTS - 1)] = 0;
        if pos.bucket != home_of(h, self.n) {
            self.uncount(h, pos);
        }
    }

    /// Takes a displaced entry's overflow counts back from the buckets between its home
    /// and `pos`.
    #[cold]
    fn uncount(&mut self, h: u64, pos: Pos) {
        let (home, step, _) = split(h, self.n);
        let mut c = home;
        let mut guard = 0;
        while c != pos.bucket && guard < self.n {
            let bk = &mut self.buckets[c as usize];
            let o = bk.overflow();
            if o != u16::MAX && o != 0 {
                bk.set_overflow(o - 1);
                if o == 1 {
                    bk.set_filter(0);
                }
            }
            c = next(c, step, self.n);
            guard += 1;
        }
    }

    /// Points the slot at `pos` to entry `idx` (same hash, so same tag and bucket).
    pub(crate) fn repoint(&mut self, pos: Pos, idx: u32) {
        let b = &mut self.buckets[pos.bucket as usize];
        let tag = b.tag(usize::from(pos.slot));
        b.set(usize::from(pos.slot), tag, idx);
    }

    /// Empties the index.
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(Bucket::EMPTY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
    }

    #[test]
    fn packed_indices_round_trip() {
        let mut b = Bucket::EMPTY;
        for s in 0..SLOTS {
            b.set(s, (s + 1) as u8, (IDX_MASK - s as u32) ^ 0x15_5555);
        }
        b.set_overflow(0xbeef);
        for s in 0..SLOTS {
            assert_eq!(b.tag(s), (s + 1) as u8);
            assert_eq!(b.idx(s), (IDX_MASK - s as u32) ^ 0x15_5555);
        }
        assert_eq!(b.overflow(), 0xbeef);
        b.set(7, 0, 0);
        assert_eq!(b.idx(6), (IDX_MASK - 6) ^ 0x15_5555);
        assert_eq!(b.idx(8), (IDX_MASK - 8) ^ 0x15_5555);
        assert_eq!(b.empty_slots(), 1 << 7);
    }

    #[test]
    fn candidates_cover_exact_matches() {
        // Every tag pattern near the borrow edge: tag, tag ^ 1, 0 and others mixed.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let tag = (x >> 56) as u8 | 1;
            let mut b = Bucket::EMPTY;
            for s in 0..SLOTS {
                let r = (x >> (s * 4)) & 15;
                b.bytes[s] = match r {
                    0..=3 => tag,
                    4..=7 => tag ^ 1,
                    8..=10 => 0,
                    _ => (r as u8).wrapping_mul(37).wrapping_add(round as u8),
                };
            }
            let exact = b.match_tag(tag);
            let mut confirmed = 0u32;
            let mut m = b.candidates(tag);
            while m != 0 {
                let s = (m.trailing_zeros() / 8) as usize;
                m &= m - 1;
                if b.tag(s) == tag {
                    confirmed |= 1 << s;
                }
            }
            assert_eq!(confirmed, exact, "{:x?} tag {tag}", &b.bytes[..16]);
            let empty = b.empty_slots();
            let first = b.first_empty();
            assert_eq!(first, (empty != 0).then(|| empty.trailing_zeros() as usize));
        }
    }

    #[test]
    fn zero_bytes_exact() {
        for (x, want) in [
            (0u64, 0xff),
            (0x0100_0000_0000_0000, 0x7f),
            (0x0000_0000_0000_0100, 0xfd),
            (0x8080_8080_8080_8080, 0),
            (0x0001_0000_ff00_0001, 0b1011_0110),
        ] {
            assert_eq!(zero_bytes(x), want, "{x:#x}");
        }
    }

    #[test]
    fn overflow_counts_return_to_zero() {
        // Force every hash home to the same bucket: all but 16 overflow.
        let mut ix = TagIndex::new(200);
        let n = ix.n;
        let hashes: Vec<u64> = (0..100u64).map(|i| (i << 32) | 5).collect();
        let mut pos = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            pos.push(ix.insert(*h, i as u32).expect("room"));
        }
        for (i, h) in hashes.iter().enumerate() {
            let mut p = Probe::default();
            let got = ix.find(*h, &mut p, |x| x == i as u32);
            assert_eq!(got.map(|g| g.0), Some(pos[i]));
        }
        for (i, h) in hashes.iter().enumerate() {
            ix.remove(*h, pos[i]);
        }
        for b in 0..n as usize {
            assert_eq!(ix.buckets[b].overflow(), 0);
            assert_eq!(ix.buckets[b].filter(), 0);
            assert_eq!(ix.buckets[b].empty_slots(), 0xffff);
        }
    }
}
