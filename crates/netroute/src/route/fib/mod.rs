//! The FIB: a compiled longest-prefix-match (LPM) structure per address family, mapping
//! prefixes of any length (`0..=32` for IPv4, `0..=128` for IPv6) to a leaf: a
//! [`NextHop`] (16-bit next-hop index, the standalone FIB's default) or a [`SlabIndex`]
//! (30-bit index into the routing table's rtentry slab, what the routing tables use
//! behind their FIB seam, `route/lpm.rs`).
//!
//! # Counterparts
//!
//! NetBSD answers a route lookup with `rn_match` on the BSD radix tree
//! (`sys/net/radix.c`): a pointer-chasing Patricia trie with backtracking, one node per
//! bit decision. FreeBSD 13 made the lookup algorithm pluggable (`sys/net/route/fib_algo.c`)
//! and ships compiled structures next to radix: DXR (`fib_dxr.c`, a direct table plus
//! binary search over ranges) and DPDK's DIR-24-8 (`dpdk_lpm4`); the RIB stays a radix
//! tree and the algorithm is rebuilt or patched from it. This module is that split: the
//! writer keeps an exact-match view of the prefixes (a `BTreeMap`, the "RIB side") and
//! compiles a read-only structure ([`Lpm`]) from it; lookups touch only the latter.
//!
//! # The structures (chosen by measurement, see BENCHMARKS.md `## FIB`)
//!
//! [`Lpm`] is a Poptrie for IPv4 and a range-search structure for IPv6 ([`Key::RANGES`]);
//! both sit behind the same interface, so [`Fib`], [`SharedFib`] and the routing table's
//! seam (`versions.rs`) do not know which one they drive.
//!
//! ## IPv4: Poptrie
//!
//! A Poptrie (Asai & Ohara, SIGCOMM 2015) with direct pointing, written from the paper:
//!
//! * **Direct table** of `2^18` 32-bit entries indexed by the top 18 address bits. An
//!   entry is either a leaf (the next hop of the whole /18 chunk), a leaf-only record, or
//!   the index of the chunk's root node. 18 bits because a 6-bit stride then ends exactly
//!   at /24 (63 % of the IPv4 table, nothing longer): the feasibility study measured 4.5x
//!   more nodes and half the speed with 16 bits, and a 20-bit table (4 MiB) falling out of
//!   L2.
//! * **Nodes** (24 bytes) resolve 6 bits each: `vector` marks the slots with a child,
//!   `leafvec` marks where a run of equal leaves starts among the others; the child or
//!   leaf index is a base plus a popcount of the bits up to the slot. Children of a node
//!   are contiguous, leaves are 16-bit and run-length compressed.
//! * **Leaf-only records**: a chunk whose prefixes all end by /24 is one record in a
//!   `u64` arena: the 64-bit leaf vector followed by the packed 16-bit leaves, usually in
//!   the same cache line. A lookup of such a chunk is two dependent loads. On the RIS
//!   table every populated chunk is of this kind (nothing is longer than /24).
//! * **Inline leaves**: a leaf-only node with at most three distinct leaves keeps them in
//!   its own base fields, saving the leaf load at the bottom of the trie.
//!
//! Lookups take at most `1 + ceil((32 - 18) / 6)` dependent node loads. `count_ones`
//! compiles to `popcnt` only when the target enables it: build with
//! `RUSTFLAGS="-C target-cpu=native"` (or `-C target-feature=+popcnt`); the benchmark
//! prints which path ran.
//!
//! ## IPv6: flattened ranges searched by cache-line trees
//!
//! The same Poptrie served IPv6 until this structure replaced it (with an 18-bit direct
//! table: 15.9 B/prefix, 2.4–2.5x prefix-trie single-address in-table, 3.1x batched, 1.5x
//! dependent; a /48 was the direct entry plus five dependent 6-bit nodes). After the
//! feasibility study (`fib-feasibility.md`):
//!
//! * **Ranges**: the prefixes of each /16 chunk are flattened into disjoint address
//!   ranges (the 246,175 RIS prefixes give 333,283 ranges in 64 chunks), each with the
//!   leaf of its longest matching prefix; adjacent ranges with equal leaves merge.
//! * **Direct table** of `2^16` 32-bit entries: the leaf of a chunk without longer
//!   prefixes, or the index of its chunk.
//! * **Search tree per chunk**: the ranges' start keys (the 32 address bits after the
//!   chunk's 16, so a /48 is one key) in a static B+ tree of 64-byte lines, implicit
//!   layout. Internal lines hold 16 separators (17 children); **leaf lines hold 10 keys
//!   and their 10 16-bit leaves** (8 and 8 with 32-bit leaves), so the last tree step
//!   also fetches the answer: a lookup is the direct entry, the chunk descriptor, one
//!   line per internal level and one leaf line. The key compare counts `k <= x` over a
//!   fixed 16-lane array; written as a sum of borrow bits it compiles to one AVX-512
//!   compare and a `popcnt` (`ranges.rs`, `rank`).
//! * **Same height**: every lookup searches as many internal levels as the tallest
//!   chunk (3 on the RIS table); a shorter chunk repeats its root line for the missing
//!   levels (no padding memory), so the level loop has a fixed trip count instead of a
//!   per-chunk exit the predictor misses.
//! * **Longer prefixes** (past /48) make their /48 key a one-key range pointing at a
//!   child chunk keyed on the next 32 bits (bits 48, 80, 112): a /128 is at most four
//!   chunks deep. Such "wide" chunks store 32-bit values (leaf or child index).
//!
//! Measured on the RIS table (2 vCPU Xeon guest, AVX-512, `-C target-cpu=native`,
//! medians of per-run ratios to prefix-trie 0.10 over 3 runs on a loaded machine,
//! BENCHMARKS.md `## FIB`, the Poptrie measured in the same session): **10.32 B/prefix**
//! (Poptrie 15.92; goal 12), in-table **4.35x** single-address and **6.40x** batched
//! (Poptrie 2.70x / 3.57x; goals 4x, and 8x batched: missed by a fifth), uniform 4.02x /
//! 7.33x (Poptrie 4.84x / 6.54x), dependent **2.01x** (Poptrie 1.69x; goal 1.5x, stretch
//! 2x). In a lighter-load re-run (after keeping the direct-table hit inline, where
//! prefix-trie itself ran twice as fast): in-table 3.94x single (goal 4x: missed by
//! 1.5 %) and 5.59x batched, uniform 8.29x / 7.66x, dependent 1.84x; the Poptrie in the
//! same window 2.64x / 3.47x, 5.31x / 6.96x, 1.61x. Bulk build 58 ms from shuffled input. The
//! price is in updates: a patch rewrites a whole chunk's lines (up to 4,000 lines for the
//! largest /16), see "Updates".
//!
//! Lookups are safe Rust (bounds-checked indexing; the checks are predictable branches)
//! and allocation-free. Without AVX-512 the compare compiles to AVX2 compares and adds, and
//! without any `target-cpu` to SSE2 (39 instructions instead of 5); the benchmark prints
//! which path it was built for.
//!
//! # Leaves
//!
//! The structure is generic over its leaf type ([`Leaf`], sealed): [`NextHop`] stores
//! 16-bit leaves (FreeBSD's `nhop` index: many prefixes share a next hop), [`SlabIndex`]
//! 32-bit ones (NetBSD's model, one rtentry per prefix: the routing table's slab index,
//! up to 2 Mi by default, needs more than 16 bits and an indirection table would hold
//! one entry per prefix anyway). Only the leaf arrays, the leaf words of the compact
//! records (four or two leaves a word) and the inline leaves of a node (three or two)
//! change; a direct-table entry holds a leaf in its 30-bit payload, hence the 30-bit
//! limit of [`SlabIndex`]. Compiled bytes per prefix on the RIS tables
//! (`ris_memory_by_leaf` in `tests.rs`, one copy):
//!
//! | table | `NextHop` (512 next hops) | `SlabIndex` (one per prefix) |
//! |---|---|---|
//! | IPv4, 1,042,325 prefixes | 3.93 | 6.08 |
//! | IPv6, 246,175 prefixes | 10.32 | 12.64 |
//!
//! The 16-bit variant keeps the issue's memory figures; the routing table pays about
//! 2.2 B/prefix (IPv4) and 2.3 B/prefix (IPv6) more for naming every rtentry directly
//! (IPv6 leaf lines then hold 8 keys instead of 10).
//!
//! # Limits
//!
//! IPv4 has no path compression: a sparse long prefix costs one 24-byte node per 6 bits
//! below /18 on its path; 48 k random IPv4 prefixes with a quarter longer than /24
//! compile to 39 B/prefix (the 1 MiB direct table dominates at that size). IPv6 prefixes
//! longer than /48 cost a child chunk per populated /48 (and per /80, /112 below it): a
//! synthetic table of 27 k random IPv6 prefixes up to /128 in four /16s compiles to
//! 177 B/prefix (27 k chunks, each a descriptor and at least one line; the Poptrie needed
//! 208). Clean full-feed tables (nothing longer than /24 and /48) do not notice — see the
//! `union_like_*` tests. A chunk holds at most `16 * 17^7` ranges (more than `2^32`, the
//! key space), so no input overflows the tree. [`NextHop`] leaves are 16-bit: at most 65,535 distinct
//! next hops per FIB; [`SlabIndex`] leaves at most `2^30 - 1` slab entries.
//!
//! # Updates
//!
//! [`Fib::insert`]/[`Fib::remove`] update the prefix set and then recompile only the
//! affected unit.
//!
//! IPv4 (Poptrie): the unit is the /18 chunk holding the prefix or, for a prefix of 18
//! bits or fewer, every chunk it covers (a /8 touches 1,024 chunks). A chunk is
//! recompiled into free or new arena blocks and its direct entry repointed: copy-on-write,
//! so a block a reader may reach is never written. A node chunk with a single changed long
//! prefix is path-copied instead: the subtree of the deepest node containing the prefix is
//! recompiled and the (at most three) blocks above it are copied with one node replaced, so
//! a /18 holding thousands of /32s costs 0.7–2.1 µs per update rather than a whole-chunk
//! compile (35–460 µs, measured with 256–16,384 /32s in one /18, session 5). Replaced
//! blocks are retired, then freed into per-size free lists once no copy reaches them (at
//! once in a [`Fib`]; in a [`SharedFib`] after the other copy caught up) and reused by
//! later patches; when free and retired bytes exceed half of the live bytes the structure
//! is recompiled. A batch recompiles each affected chunk once, however many of its
//! prefixes changed: a 4,096-op batch of the real stream changes about 1,900 prefixes in
//! about 640 chunks. Replaying the 24 h RIS stream one update at a time costs 0.65–1.04 µs
//! per update on average (p99 2.2–3.2 µs; six runs in session 4, AMD EPYC guest,
//! BENCHMARKS.md).
//!
//! IPv6 (ranges): the unit is the prefix's own key interval (or, past /48, its /48 key
//! with the child chunks below it). Its ranges are recomputed from the prefix set (the
//! covering prefix's leaf by a walk down the ordered prefix set that jumps over whole
//! sibling subtrees, a few B-tree descents where probing every shorter length took up
//! to 47; the prefixes inside by one range scan) and spliced into the chunk's range
//! list: only the leaf lines from the one before the unit to the one after it are
//! decoded and repacked, the others are copied, and the internal levels are rebuilt,
//! into a fresh chunk allocation (the old one is freed at once, so there is no garbage
//! to compact). Repacking leaves partly filled lines (their unused lanes repeat the
//! last value, so lookups need no fill count); a chunk whose lines exceed the dense
//! count by a quarter is repacked densely. A batch ([`SharedFib::apply`], the routing
//! table's versions) splices all the units of a chunk in one pass. A prefix of /16 or
//! shorter recompiles every chunk it covers. Replaying the 24 h RIS stream one update
//! at a time costs 5.3–10 µs per update on average (p99 16–30 µs, six runs in session
//! 4; goal 100 µs): the copy of the chunk (up to 256 KB for the largest /16) dominates.
//!
//! A bulk build ([`Fib::from_routes`]) compiles in one ordered pass (IPv4 68–109 ms,
//! IPv6 27–41 ms from shuffled input on the session-4 machine).
//!
//! # Concurrency
//!
//! [`SharedFib`] lets readers look up while a writer updates, with the project's
//! passive serialization ([`psref`]): two compiled copies (left-right), the published
//! one in a [`psref::Slot`]. A reader opens one read section (per batch or per session,
//! not per lookup), loads the published [`Lpm`] and looks up freely; it writes no shared
//! memory. A writer patches the private copy, publishes it with one pointer swap, waits
//! for the grace period (`synchronize`), then brings the old copy up to date and keeps
//! it as the next private one. Readers therefore never see a partially applied batch.
//!
//! The copies share most of their memory, so that a reader moving to the newly
//! published copy finds it in its caches. With two private IPv4 copies, a reader doing
//! batch lookups kept 75–84 % of its idle rate while a writer published every single
//! update in a fenced domain; with one shared arena it keeps 93 % (median of nine runs,
//! session 5; BENCHMARKS.md). What the copies share:
//!
//! * IPv4: one arena of nodes, leaves and records, two direct tables (1 MiB each). The
//!   arena's elements are relaxed atomics; the writer writes only blocks that neither
//!   direct table reaches (free-listed or never used), and frees the blocks a batch
//!   replaced only after the publication's grace period and the other copy's catch-up
//!   (the two copies then reach the same blocks again). The catch-up copies the direct
//!   entries the batch wrote. An arena that must grow while shared is copied into a new
//!   one, which the other copy adopts when it catches up (as after a compaction).
//! * IPv6: chunk lines are immutable and reference-counted; the catch-up copies the
//!   changed chunks' references and direct entries.
//!
//! No memory a reader can reach is modified or freed; after every batch the two copies
//! are equal (the tests check it, and that no free block is reachable from either copy,
//! before and after every patch).
//!
//! Publication latency (call to visibility) is the patch time of one copy: a few µs
//! for a single update, about 0.75 ms (IPv4) and 3 ms (IPv6) for a batch of 4,096 real
//! updates, 10–20 ms for 65,536; the call returns after the grace period and the
//! catch-up. Batched replay of the real 24 h streams runs at 3.6–5.2 M updates/s for
//! IPv4 already with 4,096-op batches (a publication every 1.7–2.7 ms; session 5), and
//! 2.1 M / 4.2 M for IPv6 with 16,384 / 65,536-op batches (every 14 / 20 ms; session 4;
//! BENCHMARKS.md). Memory on the RIS tables: one copy plus a direct table, about 5 MiB
//! for IPv4 and 2.8 MiB for IPv6, plus the writer-side prefix set (reported separately,
//! [`Fib::rib_memory_bytes`]).
//!
//! Which psref domain: every grace period of a [`psref::Domain::new`] domain interrupts
//! the running readers with `membarrier(2)`, and on the project's 2-vCPU KVM guests
//! that costs a FIB reader about 6 µs each: a writer publishing every single update
//! takes a reader doing batch lookups down to about 44 % (IPv4, session 5) / 64–87 %
//! (IPv6, session 4) of its idle rate. In a [`psref::Domain::fenced`] domain readers pay
//! one locked instruction per section instead and writers never interrupt them: 93 % /
//! 92 % (medians, session 5) for the same replay, with a writer 2–3× faster. FIB readers
//! open one section per batch, so the fence is noise for them: use a fenced domain for a
//! `SharedFib` that is updated while it is read.
//!
//! How often to publish: each publication moves the readers to the other copy, of which
//! only the part the two copies do not share (the IPv4 direct table, the IPv6 direct
//! table and changed chunks) is not in their caches. In a fenced domain an IPv4 reader
//! keeps 93–97 % of its idle rate (medians of nine runs, session 5) whether the writer
//! publishes every update or every 131,072, an IPv6 reader 88–98 % (session 4).
//!
//! The routing tables run the same left-right scheme through their own slot and RIB
//! lock (`versions.rs`, crate-private): the writer patches the private copy and the
//! table publishes it while holding its RIB lock, but the grace period is waited for
//! after the lock is released (by the delete path, which must wait for it anyway), so
//! the retired copy comes back later and is caught up from a log of the prefixes
//! changed since it was published (IPv4: the published version's twin, copying the
//! direct entries of the changed chunks at the next batch, as above; IPv6: recompiling
//! the changed prefixes; a version that comes back too late is dropped and the published
//! one copied).
//!
//! # Example
//!
//! ```
//! use netroute::psref::Domain;
//! use netroute::route::fib::{Fib, FibOp, NextHop, SharedFib};
//! use std::net::Ipv4Addr;
//!
//! let nh = |i| NextHop::new(i).unwrap();
//! let a = |a, b, c, d| u32::from(Ipv4Addr::new(a, b, c, d));
//! let mut fib = Fib::<u32>::new();
//! fib.insert(a(10, 0, 0, 0), 8, nh(1))?;
//! fib.insert(a(10, 1, 0, 0), 16, nh(2))?;
//! assert_eq!(fib.lookup(a(10, 1, 2, 3)), Some(nh(2)));
//! assert_eq!(fib.lookup(a(10, 2, 0, 1)), Some(nh(1)));
//! assert_eq!(fib.lookup(a(11, 0, 0, 1)), None);
//!
//! // Concurrent use: a writer publishes whole batches, readers look up inside one read
//! // section per batch of addresses (a fenced domain: the writer's grace periods do not
//! // interrupt the readers).
//! let domain = Domain::fenced();
//! let shared = SharedFib::from_routes(fib.iter(), &domain)?;
//! shared.apply(&[FibOp::Remove { addr: a(10, 1, 0, 0), len: 16 }], &domain)?;
//! let reader = domain.reader();
//! let guard = reader.read();
//! let mut out = [None; 2];
//! shared.load(&guard).lookup_batch(&[a(10, 1, 2, 3), a(11, 0, 0, 1)], &mut out);
//! assert_eq!(out, [Some(nh(1)), None]);
//! # Ok::<(), netroute::route::fib::FibError>(())
//! ```

mod key;
mod leaf;
mod lpm;
mod ranges;
mod rib;
mod shared;
mod table;
mod versions;

pub use key::Key;
pub use leaf::{Leaf, SlabIndex};
pub use lpm::Lpm;
pub use shared::{ApplyReport, SharedFib};
pub use table::{Fib, FibOp};
pub(crate) use versions::{Version, Versions};

use std::num::NonZeroU16;

/// A next hop: an index into the routing table's next-hop (rtentry) slab.
///
/// Guarantees: the index is at most [`NextHop::MAX`]; `Option<NextHop>` is two bytes
/// (the leaf encoding of the compiled structure, 0 meaning "no route").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHop(NonZeroU16);

impl NextHop {
    /// The largest index a next hop can carry (65,534).
    pub const MAX: u32 = u16::MAX as u32 - 1;

    /// A next hop for slab index `index`.
    ///
    /// # Errors
    /// [`FibError::NextHopOverflow`] if `index > NextHop::MAX`.
    pub fn new(index: u32) -> Result<Self, FibError> {
        if index > Self::MAX {
            return Err(FibError::NextHopOverflow { index });
        }
        // index + 1 is in 1..=u16::MAX.
        NonZeroU16::new(index as u16 + 1)
            .map(NextHop)
            .ok_or(FibError::NextHopOverflow { index })
    }

    /// The slab index.
    #[inline]
    pub fn index(self) -> u16 {
        self.0.get() - 1
    }

    /// The leaf encoding (index + 1).
    #[inline(always)]
    pub(crate) fn enc(self) -> u16 {
        self.0.get()
    }

    /// From the leaf encoding (0 = no route).
    #[inline(always)]
    pub(crate) fn from_enc(enc: u16) -> Option<Self> {
        NonZeroU16::new(enc).map(NextHop)
    }
}

/// Bad input to the FIB. Every operation that returns it has changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    /// The prefix length exceeds the family's address width.
    #[error("prefix length /{len} out of range (at most /{max})")]
    PrefixLength {
        /// The length given.
        len: u8,
        /// The family's maximum (32 or 128).
        max: u8,
    },
    /// The address has bits set beyond the prefix length.
    #[error("non-canonical prefix {addr}/{len}: host bits set")]
    NonCanonical {
        /// The address given, as text.
        addr: String,
        /// The length given.
        len: u8,
    },
    /// The next-hop index does not fit the compiled leaves.
    #[error("next-hop index {index} exceeds the maximum {}", NextHop::MAX)]
    NextHopOverflow {
        /// The index given.
        index: u32,
    },
    /// The slab index does not fit the compiled leaves (30 bits).
    #[error("slab index {index} exceeds the maximum {}", SlabIndex::MAX)]
    SlabIndexOverflow {
        /// The index given.
        index: u32,
    },
}

#[cfg(test)]
mod tests;
