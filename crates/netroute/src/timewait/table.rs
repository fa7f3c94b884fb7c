//! One family's VTW table: NetBSD's `vtw_ctl_t` arenas and class clock hands, the
//! `fatp_ctl_t` hashes, `vtw_add`/`vtw_del`/`vtw_age`/`vtw_restart` and the lookup hooks
//! (`vtw_lookup_hash_v4/v6`, `vtw_next_port_v4/v6`), single-threaded (`&mut self`); the
//! [`super::Vtw`] wrapper puts a lock around it.
//!
//! Layout (see the module docs of [`super`] for the byte budget):
//! - one arena of fixed-size [`Slot`]s, split into three class slices; each slice is a
//!   FIFO ring (`tail..head`), so age order is expiry order and the oldest entry of a class
//!   is always at its tail (NetBSD's clock hand `alloc` and `oldest`);
//! - the [`TagIndex`] over all slots;
//! - per class a short queue of *time marks* `(first ring position, insertion time)`:
//!   an entry's insertion time, hence its expiry and its ts_recent age, follows from its
//!   ring position, so no time is stored per entry;
//! - an interned *context* per distinct (local address id, owner uid, reuse flags, v6only,
//!   window scale, timestamps-on) so an entry stores 2 bytes instead of ~12;
//! - a port index `(local port, context) → count` for bind/connect checks.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use foldhash::SharedSeed;
use foldhash::fast::{FixedState, FoldHasher, SeedableRandomState};

use super::VtwError;
use super::index::{MAX_ENTRIES, Pos, Probe, TagIndex};
use super::segment::{self, Action, Segment, SegmentPolicy, TwState};
use super::tunables::{MslClass, Overflow, Tunables};

/// Index of one of the stack's own addresses in a table the caller keeps (its
/// `in_ifaddr`/`in6_ifaddr` list). The VTW table stores this instead of the 4 or 16 byte
/// address; equal ids mean equal local addresses (including the IPv6 zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalAddrId(pub u16);

/// A connection's identity: local address (by id), local port, foreign address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple<A> {
    /// The local address, as an index into the caller's address table.
    pub local: LocalAddrId,
    /// Local port.
    pub lport: u16,
    /// Foreign address.
    pub faddr: A,
    /// Foreign port.
    pub fport: u16,
}

/// Address families the table supports: [`Ipv4Addr`] and [`Ipv6Addr`]. Sealed.
pub trait VtwAddr:
    sealed::Sealed + Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static
{
    /// The stored form of the address (4 or 16 bytes, 4-byte aligned).
    type Key: Copy + Eq + Default + std::fmt::Debug + Send + Sync + 'static;
    /// The `{af}` part of this family's sysctl names (`inet.tcp` / `inet6.tcp6`).
    const SYSCTL_AF: &'static str;
    /// Converts to the stored form.
    fn to_key(self) -> Self::Key;
    /// Converts back from the stored form.
    fn from_key(k: Self::Key) -> Self;
    /// Feeds a tuple to the keyed hasher.
    #[doc(hidden)]
    fn hash_tuple(k: Self::Key, fport: u16, lport: u16, local: u16, h: &mut FoldHasher<'_>);
    /// This family's shards inside a [`super::Vtw`].
    fn shards(v: &super::Vtw) -> &super::VtwShards<Self>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

impl VtwAddr for Ipv4Addr {
    type Key = u32;
    const SYSCTL_AF: &'static str = "inet.tcp";
    #[inline]
    fn to_key(self) -> u32 {
        self.to_bits()
    }
    #[inline]
    fn from_key(k: u32) -> Self {
        Ipv4Addr::from_bits(k)
    }
    #[inline]
    fn hash_tuple(k: u32, fport: u16, lport: u16, local: u16, h: &mut FoldHasher<'_>) {
        h.write_u128(
            u128::from(k)
                | (u128::from(fport) << 32)
                | (u128::from(lport) << 48)
                | (u128::from(local) << 64),
        );
    }
    fn shards(v: &super::Vtw) -> &super::VtwShards<Self> {
        &v.v4
    }
}

impl VtwAddr for Ipv6Addr {
    type Key = [u32; 4];
    const SYSCTL_AF: &'static str = "inet6.tcp6";
    #[inline]
    fn to_key(self) -> [u32; 4] {
        let b = self.to_bits();
        [
            (b >> 96) as u32,
            (b >> 64) as u32,
            (b >> 32) as u32,
            b as u32,
        ]
    }
    #[inline]
    fn from_key(k: [u32; 4]) -> Self {
        Ipv6Addr::from_bits(
            (u128::from(k[0]) << 96)
                | (u128::from(k[1]) << 64)
                | (u128::from(k[2]) << 32)
                | u128::from(k[3]),
        )
    }
    #[inline]
    fn hash_tuple(k: [u32; 4], fport: u16, lport: u16, local: u16, h: &mut FoldHasher<'_>) {
        h.write_u128(
            (u128::from(k[0]) << 96)
                | (u128::from(k[1]) << 64)
                | (u128::from(k[2]) << 32)
                | u128::from(k[3]),
        );
        h.write_u64(u64::from(fport) | (u64::from(lport) << 16) | (u64::from(local) << 32));
    }
    fn shards(v: &super::Vtw) -> &super::VtwShards<Self> {
        &v.v6
    }
}

/// One arena slot: 24 bytes for IPv4, 36 for IPv6. `ctx == 0` marks a free slot (never
/// inserted, expired, evicted or deleted).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot<K> {
    faddr: K,
    fport: u16,
    lport: u16,
    ctx: u16,
    /// The window field of our last ACK (RCV.WND >> scale), so replies repeat it.
    wnd: u16,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

/// What the connection knew when it entered TIME_WAIT (the fields NetBSD's `vtw_add`
/// copies from the tcpcb, plus the timestamp state it omits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWaitInfo {
    /// SND.NXT (one past our FIN).
    pub snd_nxt: u32,
    /// RCV.NXT (one past the peer's FIN).
    pub rcv_nxt: u32,
    /// RCV.WND in bytes. Stored as the 16-bit window field (`rcv_wnd >> rcv_wscale`,
    /// clamped to 65,535), so it reads back rounded down to a multiple of 2^scale.
    pub rcv_wnd: u32,
    /// Our receive window scale (RFC 7323 §2.3: at most 14).
    pub rcv_wscale: u8,
    /// TS.Recent if timestamps were negotiated, else `None`.
    pub ts_recent: Option<u32>,
    /// Owner uid of the socket (for bind `EADDRINUSE` checks).
    pub uid: u32,
    /// `SO_REUSEADDR` was set.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT` was set.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY` was set (IPv6 sockets).
    pub v6only: bool,
}

/// A copy of one entry, as lookups return it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VtwEntry<A> {
    /// The 4-tuple.
    pub tuple: Tuple<A>,
    /// MSL class (which ring the entry is in).
    pub class: MslClass,
    /// SND.NXT.
    pub snd_nxt: u32,
    /// RCV.NXT.
    pub rcv_nxt: u32,
    /// RCV.WND in bytes (the stored 16-bit field shifted by `rcv_wscale`).
    pub rcv_wnd: u32,
    /// Receive window scale.
    pub rcv_wscale: u8,
    /// TS.Recent, if timestamps were in use.
    pub ts_recent: Option<u32>,
    /// Milliseconds since TS.Recent was recorded, counted from the entry's (re)insertion
    /// (a lower bound of the true age; at most one mark granularity low).
    pub ts_recent_age_ms: u64,
    /// Our timestamp offset for this 4-tuple (RFC 7323 §5.4), derived from a keyed hash.
    pub ts_offset: u32,
    /// Time of (re)insertion as recorded by the class's time mark: never earlier than the
    /// real time, later by at most the mark granularity (see
    /// [`VtwConfig::mark_granularity_ms`]).
    pub inserted_ms: u64,
    /// When the entry expires under the current tunables.
    pub expires_ms: u64,
    /// Owner uid.
    pub uid: u32,
    /// `SO_REUSEADDR`.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY`.
    pub v6only: bool,
}

/// One group of entries on a local port, for bind/connect checks (NetBSD exports each
/// vestige through `vestigial_inpcb_t`; entries with the same attributes are grouped here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortUser {
    /// The local address id.
    pub local: LocalAddrId,
    /// Owner uid.
    pub uid: u32,
    /// `SO_REUSEADDR`.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY`.
    pub v6only: bool,
    /// Live entries with these attributes on the port (groups may repeat for entries that
    /// differ only in window scale or timestamp use).
    pub count: u32,
}

/// Linux `tcp_tw_reuse` modes for an outgoing connect that finds its 4-tuple in TIME_WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TwReuse {
    /// Never reuse.
    Off,
    /// Reuse any entry that qualifies (`tcp_tw_reuse = 1`).
    Global,
    /// Reuse only loopback-class entries (`tcp_tw_reuse = 2`, Linux's default).
    #[default]
    LoopbackOnly,
}

/// Result of a successful [`VtwTable::try_reuse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reused {
    /// The new connection's ISS must be at or after this (Linux: `tw_snd_nxt + 65535 + 2`).
    pub iss_floor: u32,
    /// TS.Recent to inherit, so PAWS rejects the old incarnation's duplicates.
    pub ts_recent: u32,
}

/// Per-class slot counts. Fixed at construction (NetBSD's `vtw.entries` is read-only too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassCapacities {
    /// Slots for the loopback class.
    pub loopback: u32,
    /// Slots for the local class.
    pub local: u32,
    /// Slots for the remote class.
    pub remote: u32,
}

impl ClassCapacities {
    /// Splits `total` into thirds, the remainder going to `remote` (NetBSD splits `n/3`
    /// each and leaves the remainder to class 0; nothing is left unused here).
    pub fn split(total: u32) -> Self {
        let third = total / 3;
        ClassCapacities {
            loopback: third,
            local: third,
            remote: total - 2 * third,
        }
    }

    /// Capacity of `class`.
    pub fn get(&self, class: MslClass) -> u32 {
        match class {
            MslClass::Loopback => self.loopback,
            MslClass::Local => self.local,
            MslClass::Remote => self.remote,
        }
    }

    /// Sum over the classes.
    pub fn total(&self) -> u64 {
        u64::from(self.loopback) + u64::from(self.local) + u64::from(self.remote)
    }
}

/// Construction parameters of a table.
#[derive(Clone, Debug)]
pub struct VtwConfig {
    /// Slots per class.
    pub capacity: ClassCapacities,
    /// Distinct contexts (local address id, uid, flags, window scale, timestamps-on) that
    /// can be live at once; at most 65,535. Preallocated.
    pub contexts: u16,
    /// Seed of the index hash; `None` (the default) draws a random one. Set only in tests.
    pub hash_seed: Option<u64>,
    /// Seed of the timestamp-offset hash; `None` draws a random one.
    pub ts_seed: Option<u64>,
    /// Resolution of the per-class time marks in ms (NetBSD ticks every 200 ms). Entries
    /// never live less than 2×MSL; they may outlive it by at most this much while a
    /// class's 2×MSL spans at most 1,024 such steps (beyond that the oldest marks merge
    /// and the bound grows accordingly). At least 1.
    pub mark_granularity_ms: u64,
    /// Initial tunables.
    pub tunables: Tunables,
    /// Segment policy used by [`VtwTable::process_segment`].
    pub segment_policy: SegmentPolicy,
}

impl VtwConfig {
    /// A configuration with `entries` slots split evenly over the classes, 4,096 contexts,
    /// random seeds, 100 ms marks and default tunables.
    pub fn with_entries(entries: u32) -> Self {
        VtwConfig {
            capacity: ClassCapacities::split(entries),
            contexts: 4096,
            hash_seed: None,
            ts_seed: None,
            mark_granularity_ms: 100,
            tunables: Tunables::default(),
            segment_policy: SegmentPolicy::default(),
        }
    }
}

/// Event counters (NetBSD `vtw_stats_t`, extended). All monotonic. Non-exhaustive:
/// counters may be added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VtwStats {
    /// Entries inserted (`ins`).
    pub inserts: u64,
    /// Entries deleted by the caller (`del`).
    pub deletes: u64,
    /// Entries that reached 2×MSL and were reaped.
    pub expired: u64,
    /// Live entries evicted, oldest first, because their class ring was full (`kill`).
    pub evicted: u64,
    /// Entries whose 2×MSL timer was restarted.
    pub restarts: u64,
    /// Inserts refused because `vtw.enable` is off.
    pub insert_disabled: u64,
    /// Inserts refused because the tuple was already present.
    pub insert_duplicate: u64,
    /// Inserts refused because every context was in use.
    pub insert_no_context: u64,
    /// Inserts refused because the class has no capacity.
    pub insert_no_room: u64,
    /// Inserts refused because the class ring was full and the policy is
    /// [`Overflow::Refuse`] (Linux `TCPTimeWaitOverflow`).
    pub insert_class_full: u64,
    /// 4-tuple lookups (`look[0]`).
    pub lookups: u64,
    /// Lookups that found an entry (`hit[0]`).
    pub hits: u64,
    /// Lookups that found nothing (`miss[0]`).
    pub misses: u64,
    /// Index buckets (cache lines) read by lookups (`probe[0]`).
    pub probes: u64,
    /// Entries dereferenced whose tuple did not match (`losing[0]`).
    pub losing: u64,
    /// Largest number of buckets one lookup read (`max_probe[0]`).
    pub max_probe: u64,
    /// Cache lines of arena entries read by lookups: every entry a lookup dereferenced
    /// (the match and the non-matching ones) counts the 64-byte lines its bytes span, from
    /// its actual address. With [`probes`](Self::probes) this gives the lines per lookup.
    pub entry_lines: u64,
    /// Port queries (`look[1]`).
    pub port_queries: u64,
    /// Segments processed against an entry.
    pub segments: u64,
    /// Segments dropped silently.
    pub seg_drops: u64,
    /// ACKs to send (out-of-window, PAWS, FIN retransmission, data).
    pub seg_acks: u64,
    /// Challenge ACKs to send (RFC 5961).
    pub seg_challenge_acks: u64,
    /// ACKs or challenge ACKs suppressed by the rate limit.
    pub seg_acks_ratelimited: u64,
    /// Entries deleted by an accepted RST.
    pub rst_kills: u64,
    /// Entries deleted for an RFC 6191 reopen.
    pub reopens: u64,
    /// Entries handed to an outgoing connect by [`VtwTable::try_reuse`] (Linux `TWRecycled`).
    pub tw_reuses: u64,
}

impl VtwStats {
    /// Adds `o`'s counters to these (the largest `max_probe` wins): the counters of a
    /// sharded family are the sum of its shards'.
    pub fn merge(&mut self, o: &VtwStats) {
        self.inserts += o.inserts;
        self.deletes += o.deletes;
        self.expired += o.expired;
        self.evicted += o.evicted;
        self.restarts += o.restarts;
        self.insert_disabled += o.insert_disabled;
        self.insert_duplicate += o.insert_duplicate;
        self.insert_no_context += o.insert_no_context;
        self.insert_no_room += o.insert_no_room;
        self.insert_class_full += o.insert_class_full;
        self.lookups += o.lookups;
        self.hits += o.hits;
        self.misses += o.misses;
        self.probes += o.probes;
        self.losing += o.losing;
        self.max_probe = self.max_probe.max(o.max_probe);
        self.entry_lines += o.entry_lines;
        self.port_queries += o.port_queries;
        self.segments += o.segments;
        self.seg_drops += o.seg_drops;
        self.seg_acks += o.seg_acks;
        self.seg_challenge_acks += o.seg_challenge_acks;
        self.seg_acks_ratelimited += o.seg_acks_ratelimited;
        self.rst_kills += o.rst_kills;
        self.reopens += o.reopens;
        self.tw_reuses += o.tw_reuses;
    }
}

/// Counted or estimated heap bytes of a table, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// The entry arena.
    pub arena: usize,
    /// The 4-tuple index.
    pub index: usize,
    /// Time marks, contexts and their map (fixed, independent of the entry count).
    pub fixed: usize,
    /// The port index (grows with distinct (port, context) pairs).
    pub port_index: usize,
}

impl MemoryReport {
    /// Everything but the port index: the figure the byte budget is about.
    pub fn core(&self) -> usize {
        self.arena + self.index + self.fixed
    }
}

/// Most time marks a class keeps; beyond, the two oldest are merged (conservatively: the
/// merged group takes the later time, so its entries can only expire later).
const MARKS_CAP: usize = 1024;

/// Entries whose buckets [`VtwTable::expire`] touches ahead of unlinking them.
const EXPIRE_BATCH: u64 = 32;

/// Items of [`VtwTable::insert_batch`] whose buckets are touched ahead of inserting them.
const INSERT_BATCH: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Mark {
    /// First ring position of the group.
    pos: u64,
    /// Time the group was opened (decides when a new group starts).
    first_ms: u64,
    /// Latest insertion time in the group (decides expiry).
    last_ms: u64,
}

#[derive(Debug)]
struct Ring {
    base: u32,
    cap: u32,
    head: u64,
    tail: u64,
    /// `head % cap` and `tail % cap`, kept as the positions advance (no division on the
    /// insert path).
    head_off: u32,
    tail_off: u32,
    live: u32,
    marks: VecDeque<Mark>,
}

/// `off + 1` within a ring of `cap` slots.
#[inline]
fn wrap_inc(off: u32, cap: u32) -> u32 {
    if off + 1 >= cap { 0 } else { off + 1 }
}

impl Ring {
    /// The slot at the tail (the oldest position).
    #[inline]
    fn tail_slot(&self) -> u32 {
        self.base + self.tail_off
    }

    #[inline]
    fn is_full(&self) -> bool {
        self.head - self.tail >= u64::from(self.cap)
    }

    /// Moves the tail to `pos` (at most the head).
    #[inline]
    fn set_tail(&mut self, pos: u64) {
        if pos == self.tail + 1 {
            self.tail_off = wrap_inc(self.tail_off, self.cap);
        } else if pos == self.head {
            self.tail_off = self.head_off;
        } else if pos != self.tail {
            self.tail_off = (pos % u64::from(self.cap)) as u32;
        }
        self.tail = pos;
    }

    /// Takes the head position; returns its slot.
    #[inline]
    fn push(&mut self) -> u32 {
        let slot = self.base + self.head_off;
        self.head += 1;
        self.head_off = wrap_inc(self.head_off, self.cap);
        self.live += 1;
        slot
    }

    /// Records that position `pos` (just pushed) was filled at `now`: extends the newest
    /// time mark, or opens one per `g` ms. Returns the mark's time if the new mark is the
    /// ring's only one (the caller then lowers the table's earliest due time).
    #[inline]
    fn stamp(&mut self, pos: u64, now: u64, g: u64) -> Option<u64> {
        match self.marks.back_mut() {
            Some(b) if now < b.first_ms.saturating_add(g) => {
                b.last_ms = b.last_ms.max(now);
                None
            }
            _ => self.open_mark(pos, now),
        }
    }

    #[inline(never)]
    fn open_mark(&mut self, pos: u64, now: u64) -> Option<u64> {
        let last = self.marks.back().map_or(now, |b| b.last_ms.max(now));
        if self.marks.len() >= MARKS_CAP
            && let Some(m0) = self.marks.pop_front()
            && let Some(m1) = self.marks.front_mut()
        {
            m1.pos = m0.pos;
        }
        self.marks.push_back(Mark {
            pos,
            first_ms: now,
            last_ms: last,
        });
        (self.marks.len() == 1).then_some(last)
    }

    /// Moves the tail past one position (whose entry the caller has unlinked) and drops
    /// the time marks behind it.
    #[inline]
    fn pop_tail(&mut self) {
        self.set_tail(self.tail + 1);
        if self.marks.len() >= 2 && self.marks[1].pos <= self.tail {
            self.drop_marks();
        }
        if self.tail == self.head {
            self.marks.clear();
        }
    }

    #[inline(never)]
    fn drop_marks(&mut self) {
        while self.marks.len() >= 2 && self.marks[1].pos <= self.tail {
            self.marks.pop_front();
        }
    }

    /// Gives back the head position [`Ring::push`] just took.
    fn unpush(&mut self) {
        self.head -= 1;
        self.head_off = if self.head_off == 0 {
            self.cap - 1
        } else {
            self.head_off - 1
        };
        self.live -= 1;
    }

    /// Ring position of `slot`, which lies in this ring between tail and head.
    fn pos_of(&self, slot: u32) -> u64 {
        let cap = u64::from(self.cap);
        let off = u64::from(slot - self.base);
        self.tail + (off + cap - u64::from(self.tail_off)) % cap
    }

    /// The mark whose group holds `pos`.
    fn mark_of(&self, pos: u64) -> Option<&Mark> {
        let i = self.marks.partition_point(|m| m.pos <= pos);
        if i == 0 {
            self.marks.front()
        } else {
            self.marks.get(i - 1)
        }
    }
}

/// The port index: `(local port, context) → live entries`, with the last key's pending
/// change held aside. A server's inserts and expiries all hit one key (its port, its
/// context), so in steady state they adjust the pending delta and leave the hash map
/// alone; a different key first applies the pending delta to the map. Every reader goes
/// through [`PortCounts::map`], which applies it first.
struct PortCounts {
    map: HashMap<(u16, u16), u32, FixedState>,
    /// The key whose change is pending (context 0 is never a live context).
    hot: (u16, u16),
    /// Entries added (positive) or removed under `hot` since it was last applied.
    delta: i64,
}

impl PortCounts {
    fn new() -> Self {
        PortCounts {
            map: HashMap::with_hasher(FixedState::default()),
            hot: (0, 0),
            delta: 0,
        }
    }

    #[inline]
    fn add(&mut self, key: (u16, u16), d: i64) {
        if key != self.hot {
            self.switch(key);
        }
        self.delta += d;
    }

    /// Applies the pending delta and makes `key` the hot key.
    #[cold]
    #[inline(never)]
    fn switch(&mut self, key: (u16, u16)) {
        self.flush();
        self.hot = key;
    }

    fn flush(&mut self) {
        let d = std::mem::take(&mut self.delta);
        if d == 0 {
            return;
        }
        let have = self.map.get(&self.hot).map_or(0, |&n| i64::from(n));
        let n = (have + d).max(0);
        if n == 0 {
            self.map.remove(&self.hot);
        } else {
            self.map
                .insert(self.hot, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// The counts, pending change applied.
    fn map(&mut self) -> &HashMap<(u16, u16), u32, FixedState> {
        self.flush();
        &self.map
    }

    fn clear(&mut self) {
        self.map.clear();
        self.delta = 0;
    }

    fn capacity(&self) -> usize {
        self.map.capacity()
    }
}

const F_REUSE_ADDR: u8 = 1;
const F_REUSE_PORT: u8 = 2;
const F_V6ONLY: u8 = 4;
const F_TS: u8 = 8;

/// Laid out as one 8-byte word (no padding), so equality is one comparison.
#[derive(Clone, Copy, Debug, Eq, Default)]
#[repr(C, align(8))]
struct Ctx {
    uid: u32,
    local: u16,
    flags: u8,
    wscale: u8,
}

impl Ctx {
    /// The fields as one word (LLVM turns this into one 8-byte load).
    #[inline]
    fn word(&self) -> u64 {
        u64::from(self.uid)
            | u64::from(self.local) << 32
            | u64::from(self.flags) << 48
            | u64::from(self.wscale) << 56
    }
}

impl PartialEq for Ctx {
    #[inline]
    fn eq(&self, o: &Ctx) -> bool {
        self.word() == o.word()
    }
}

impl std::hash::Hash for Ctx {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.word());
    }
}

/// Interned contexts; id 0 is reserved (free slot).
struct CtxTable {
    slots: Vec<(Ctx, u32)>,
    free: Vec<u16>,
    map: HashMap<Ctx, u16, FixedState>,
    cap: u16,
    /// The context acquired last (a one-entry cache in front of `map`).
    last: u16,
}

impl CtxTable {
    fn new(cap: u16) -> Self {
        let mut slots = Vec::with_capacity(usize::from(cap) + 1);
        slots.push((Ctx::default(), 0));
        CtxTable {
            slots,
            free: Vec::with_capacity(usize::from(cap)),
            map: HashMap::with_capacity_and_hasher(usize::from(cap), FixedState::default()),
            cap,
            last: 0,
        }
    }

    #[inline]
    fn acquire(&mut self, c: Ctx) -> Option<u16> {
        // Fast path: most consecutive inserts share a context (a server port).
        if let Some(s) = self.slots.get_mut(usize::from(self.last))
            && s.1 != 0
            && s.0 == c
        {
            s.1 += 1;
            return Some(self.last);
        }
        self.acquire_slow(c)
    }

    #[inline(never)]
    fn acquire_slow(&mut self, c: Ctx) -> Option<u16> {
        if let Some(&id) = self.map.get(&c) {
            self.last = id;
            self.slots[usize::from(id)].1 += 1;
            return Some(id);
        }
        let id = if let Some(id) = self.free.pop() {
            self.slots[usize::from(id)] = (c, 1);
            id
        } else if self.slots.len() <= usize::from(self.cap) {
            self.slots.push((c, 1));
            (self.slots.len() - 1) as u16
        } else {
            return None;
        };
        self.map.insert(c, id);
        self.last = id;
        Some(id)
    }

    #[inline]
    fn release(&mut self, id: u16) {
        let Some(s) = self.slots.get_mut(usize::from(id)) else {
            return;
        };
        if id == 0 || s.1 == 0 {
            return;
        }
        s.1 -= 1;
        if s.1 == 0 {
            self.retire(id);
        }
    }

    /// Frees context `id`, whose last entry just went.
    #[inline(never)]
    fn retire(&mut self, id: u16) {
        let c = self.get(id);
        self.map.remove(&c);
        self.free.push(id);
    }

    /// Number of contexts in use.
    fn live(&self) -> usize {
        self.map.len()
    }

    /// Ids of the contexts in use (a scan of the context slots).
    fn live_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.slots
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, s)| s.1 != 0)
            .map(|(i, _)| i as u16)
    }

    #[inline]
    fn get(&self, id: u16) -> Ctx {
        self.slots
            .get(usize::from(id))
            .map(|s| s.0)
            .unwrap_or_default()
    }

    fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(Ctx, u32)>()
            + self.free.capacity() * 2
            + self.map.capacity() * (std::mem::size_of::<(Ctx, u16)>() + 1)
    }
}

/// The VTW table of one address family. See the module docs.
///
/// Guarantees: no allocation per entry after construction (the port index excepted, see
/// [`MemoryReport::port_index`]); an entry is never lost silently — it leaves only by
/// [`remove`](Self::remove), expiry after at least 2×MSL of its class, a counted
/// eviction of the oldest entry of a full class ring, or a decision of
/// [`process_segment`](Self::process_segment)/[`try_reuse`](Self::try_reuse) that the
/// caller sees; no method panics.
pub struct VtwTable<A: VtwAddr> {
    arena: Vec<Slot<A::Key>>,
    index: TagIndex,
    rings: [Ring; 3],
    ctxs: CtxTable,
    /// `(local port, context) → live entries`: no hash probe while consecutive inserts
    /// and deletes share a key (see [`PortCounts`]), else one.
    ports: PortCounts,
    hasher: SeedableRandomState,
    /// No class has anything to reap before this time (a lower bound, so skipping
    /// [`Self::expire`] below it is exact); 0 forces a full check.
    next_due: u64,
    ts_hasher: SeedableRandomState,
    granularity: u64,
    tunables: Tunables,
    policy: SegmentPolicy,
    stats: VtwStats,
    rl_second: u64,
    rl_count: u32,
    capacity: ClassCapacities,
}

impl<A: VtwAddr> std::fmt::Debug for VtwTable<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtwTable")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("tunables", &self.tunables)
            .finish_non_exhaustive()
    }
}

/// The index hash of a tuple under `hasher`.
#[inline]
fn keyed_hash<A: VtwAddr>(
    hasher: &SeedableRandomState,
    k: A::Key,
    fport: u16,
    lport: u16,
    local: u16,
) -> u64 {
    let mut h = hasher.build_hasher();
    A::hash_tuple(k, fport, lport, local, &mut h);
    h.finish()
}

/// Takes the live entry `s` (arena slot `slot`, index hash `h`, index position `pos` if
/// known) out of the index, the port index and its context, and frees the slot. The
/// ring's live count is the caller's. A function of the table's parts, so callers can
/// hold them as separate borrows.
#[inline(always)]
fn unlink_parts<K>(
    index: &mut TagIndex,
    ports: &mut PortCounts,
    ctxs: &mut CtxTable,
    s: &mut Slot<K>,
    slot: u32,
    h: u64,
    pos: Option<Pos>,
) {
    if let Some(p) = pos.or_else(|| index.find_idx(h, slot)) {
        index.remove(h, p);
    }
    ports.add((s.lport, s.ctx), -1);
    ctxs.release(s.ctx);
    s.ctx = 0;
}

/// Finds `t` (hash `h`) in the index, counting the lookup in `stats`.
#[inline(always)]
fn find_parts<A: VtwAddr>(
    index: &TagIndex,
    arena: &[Slot<A::Key>],
    ctxs: &CtxTable,
    stats: &mut VtwStats,
    t: &Tuple<A>,
    h: u64,
) -> Option<(Pos, u32)> {
    let key = t.faddr.to_key();
    let mut probe = Probe::default();
    let mut lines = 0u64;
    let r = index.find(h, &mut probe, |idx| {
        let Some(s) = arena.get(idx as usize) else {
            return false;
        };
        let at = std::ptr::from_ref(s).addr();
        let size = std::mem::size_of::<Slot<A::Key>>();
        lines += ((at + size - 1) / 64 - at / 64 + 1) as u64;
        s.faddr == key
            && s.fport == t.fport
            && s.lport == t.lport
            && s.ctx != 0
            && ctxs.get(s.ctx).local == t.local.0
    });
    stats.lookups += 1;
    stats.probes += u64::from(probe.buckets);
    stats.losing += u64::from(probe.losing);
    stats.entry_lines += lines;
    stats.max_probe = stats.max_probe.max(u64::from(probe.buckets));
    if r.is_some() {
        stats.hits += 1;
    } else {
        stats.misses += 1;
    }
    r
}

fn seeded(seed: Option<u64>) -> SeedableRandomState {
    match seed {
        Some(s) => SeedableRandomState::with_seed(s, SharedSeed::global_fixed()),
        None => SeedableRandomState::random(),
    }
}

impl<A: VtwAddr> VtwTable<A> {
    /// Builds a table, allocating everything up front (NetBSD `vtw_control_init`).
    ///
    /// Errors: [`VtwError::BadConfig`] for a zero total capacity, zero contexts or a zero
    /// mark granularity; [`VtwError::CapacityTooLarge`] above 2^22 entries.
    pub fn new(cfg: VtwConfig) -> Result<Self, VtwError> {
        let total = cfg.capacity.total();
        if total == 0 {
            return Err(VtwError::BadConfig("total capacity is 0"));
        }
        if total > MAX_ENTRIES as u64 {
            return Err(VtwError::CapacityTooLarge {
                requested: total,
                max: MAX_ENTRIES as u64,
            });
        }
        if cfg.contexts == 0 || cfg.contexts == u16::MAX {
            return Err(VtwError::BadConfig("contexts must be in 1..=65534"));
        }
        if cfg.mark_granularity_ms == 0 {
            return Err(VtwError::BadConfig("mark granularity is 0 ms"));
        }
        let mut base = 0u32;
        let rings = MslClass::ALL.map(|c| {
            let cap = cfg.capacity.get(c);
            let r = Ring {
                base,
                cap,
                head: 0,
                tail: 0,
                head_off: 0,
                tail_off: 0,
                live: 0,
                marks: VecDeque::with_capacity(if cap == 0 { 0 } else { MARKS_CAP }),
            };
            base += cap;
            r
        });
        Ok(VtwTable {
            arena: vec![Slot::default(); total as usize],
            index: TagIndex::new(total as usize),
            rings,
            ctxs: CtxTable::new(cfg.contexts),
            ports: PortCounts::new(),
            hasher: seeded(cfg.hash_seed),
            next_due: u64::MAX,
            ts_hasher: seeded(cfg.ts_seed.or(cfg.hash_seed.map(|s| !s))),
            granularity: cfg.mark_granularity_ms,
            tunables: cfg.tunables,
            policy: cfg.segment_policy,
            stats: VtwStats::default(),
            rl_second: u64::MAX,
            rl_count: 0,
            capacity: cfg.capacity,
        })
    }

    #[inline]
    fn hash(&self, k: A::Key, fport: u16, lport: u16, local: u16) -> u64 {
        keyed_hash::<A>(&self.hasher, k, fport, lport, local)
    }

    #[inline]
    fn hash_tuple(&self, t: &Tuple<A>) -> u64 {
        self.hash(t.faddr.to_key(), t.fport, t.lport, t.local.0)
    }

    /// Our RFC 7323 §5.4 timestamp offset for `t`: a keyed hash of the 4-tuple, stable for
    /// the table's lifetime, so TSval stays monotonic across incarnations of one 4-tuple
    /// (what RFC 6191 relies on). The stack must use the same function for live
    /// connections of this table.
    pub fn ts_offset(&self, t: &Tuple<A>) -> u32 {
        let mut h = self.ts_hasher.build_hasher();
        A::hash_tuple(t.faddr.to_key(), t.fport, t.lport, t.local.0, &mut h);
        (h.finish() >> 32) as u32
    }

    fn find(&mut self, t: &Tuple<A>, h: u64) -> Option<(Pos, u32)> {
        find_parts::<A>(&self.index, &self.arena, &self.ctxs, &mut self.stats, t, h)
    }

    fn class_of_slot(&self, slot: u32) -> usize {
        self.rings
            .iter()
            .position(|r| slot >= r.base && slot < r.base + r.cap)
            .unwrap_or(2)
    }

    fn entry_at(&self, slot: u32, now: u64) -> VtwEntry<A> {
        let s = self.arena[slot as usize];
        let c = self.ctxs.get(s.ctx);
        let ci = self.class_of_slot(slot);
        let class = MslClass::ALL[ci];
        let ring = &self.rings[ci];
        let inserted = ring
            .mark_of(ring.pos_of(slot))
            .map(|m| m.last_ms)
            .unwrap_or(now);
        let tuple = Tuple {
            local: LocalAddrId(c.local),
            lport: s.lport,
            faddr: A::from_key(s.faddr),
            fport: s.fport,
        };
        VtwEntry {
            class,
            snd_nxt: s.snd_nxt,
            rcv_nxt: s.rcv_nxt,
            rcv_wnd: u32::from(s.wnd) << c.wscale,
            rcv_wscale: c.wscale,
            ts_recent: (c.flags & F_TS != 0).then_some(s.ts_recent),
            ts_recent_age_ms: now.saturating_sub(inserted),
            ts_offset: self.ts_offset(&tuple),
            inserted_ms: inserted,
            expires_ms: inserted.saturating_add(self.tunables.time_wait_ms(class)),
            uid: c.uid,
            reuse_addr: c.flags & F_REUSE_ADDR != 0,
            reuse_port: c.flags & F_REUSE_PORT != 0,
            v6only: c.flags & F_V6ONLY != 0,
            tuple,
        }
    }

    /// Unlinks the live entry in `slot` from the index, the port index and its context,
    /// and frees the slot (the ring position stays until the tail passes it).
    /// `h` is the entry's hash if the caller already has it.
    fn unlink(&mut self, slot: u32, pos: Option<Pos>, h: Option<u64>) {
        let ci = self.class_of_slot(slot);
        self.unlink_in(ci, slot, pos, h);
    }

    /// [`Self::unlink`] for a slot known to be in ring `ci`.
    #[inline]
    fn unlink_in(&mut self, ci: usize, slot: u32, pos: Option<Pos>, h: Option<u64>) {
        let Some(&s) = self.arena.get(slot as usize) else {
            return;
        };
        if s.ctx == 0 {
            return;
        }
        let h = h.unwrap_or_else(|| self.slot_hash(&s));
        let VtwTable {
            arena,
            index,
            rings,
            ctxs,
            ports,
            ..
        } = self;
        unlink_parts(index, ports, ctxs, &mut arena[slot as usize], slot, h, pos);
        rings[ci].live -= 1;
    }

    /// Frees the tail position of ring `ci`, evicting a live entry there (counted). `h` is
    /// the tail entry's hash if the caller already computed it.
    #[inline]
    fn reclaim_tail(&mut self, ci: usize, h: Option<u64>) {
        let r = &self.rings[ci];
        if r.tail == r.head {
            return;
        }
        let slot = r.tail_slot();
        if self.arena[slot as usize].ctx != 0 {
            self.unlink_in(ci, slot, None, h);
            self.stats.evicted += 1;
        }
        self.rings[ci].pop_tail();
    }

    /// Takes the next position at the head of ring `ci` (evicting the oldest if full) and
    /// records its insertion time. Returns the slot. `evict_h`: the hash of the entry at
    /// the tail, if the caller computed it.
    #[inline]
    fn push_head(&mut self, ci: usize, now: u64, evict_h: Option<u64>) -> u32 {
        if self.rings[ci].is_full() {
            self.reclaim_tail(ci, evict_h);
        }
        let g = self.granularity;
        let r = &mut self.rings[ci];
        let pos = r.head;
        let slot = r.push();
        if let Some(last) = r.stamp(pos, now, g) {
            self.lower_due(ci, last);
        }
        slot
    }

    /// A ring's first group, inserted at `last`, can fall due before everything else
    /// present.
    #[inline(never)]
    fn lower_due(&mut self, ci: usize, last: u64) {
        let tw = self.tunables.time_wait_ms(MslClass::ALL[ci]);
        self.next_due = self.next_due.min(last.saturating_add(tw));
    }

    /// The index hash of the entry stored in `s`.
    #[inline]
    fn slot_hash(&self, s: &Slot<A::Key>) -> u64 {
        self.hash(s.faddr, s.fport, s.lport, self.ctxs.get(s.ctx).local)
    }

    /// Reaps every entry whose 2×MSL has passed at `now` (NetBSD `vtw_age` for each class,
    /// driven by `vtw_tick`). Returns how many live entries expired. O(expired + holes);
    /// O(1) when nothing is due (the table keeps the earliest time anything can fall due,
    /// so every operation may call this).
    #[inline]
    pub fn expire(&mut self, now: u64) -> usize {
        if now < self.next_due {
            return 0;
        }
        self.expire_due(now)
    }

    #[inline(never)]
    fn expire_due(&mut self, now: u64) -> usize {
        let mut n = 0;
        let mut due = u64::MAX;
        for ci in 0..3 {
            let tw = self.tunables.time_wait_ms(MslClass::ALL[ci]);
            loop {
                let r = &self.rings[ci];
                if r.tail == r.head {
                    break;
                }
                let Some(m) = r.marks.front() else { break };
                if m.last_ms.saturating_add(tw) > now {
                    due = due.min(m.last_ms.saturating_add(tw));
                    break;
                }
                let end = r.marks.get(1).map_or(r.head, |m| m.pos);
                n += self.expire_range(ci, end);
                let r = &mut self.rings[ci];
                r.set_tail(end);
                r.marks.pop_front();
                if r.tail == r.head {
                    r.marks.clear();
                }
            }
        }
        self.next_due = due;
        self.stats.expired += n as u64;
        n
    }

    /// Unlinks every live entry of ring `ci` from its tail up to ring position `end`
    /// (exclusive; the caller moves the tail). Returns how many were live.
    ///
    /// Works in batches: first hash every entry of the batch and touch its home bucket
    /// (independent loads the CPU overlaps), then unlink them with the hashes kept.
    /// Without the touch pass each unlink waits for its own cache miss in turn. The table
    /// is split into its parts first so the compiler knows a store to one (a counter, the
    /// index) leaves the others' lengths alone.
    fn expire_range(&mut self, ci: usize, end: u64) -> usize {
        let VtwTable {
            arena,
            index,
            rings,
            ctxs,
            ports,
            hasher,
            ..
        } = self;
        let ring = &mut rings[ci];
        let (cap, base) = (ring.cap, ring.base);
        let mut n = 0;
        let mut pos = ring.tail;
        let mut off = ring.tail_off;
        let mut hs = [0u64; EXPIRE_BATCH as usize];
        while pos < end {
            let len = (end - pos).min(EXPIRE_BATCH) as usize;
            let first = off;
            // Hash the live entries (0 marks a hole)...
            for h in hs.iter_mut().take(len) {
                *h = match arena.get((base + off) as usize) {
                    Some(s) if s.ctx != 0 => {
                        keyed_hash::<A>(hasher, s.faddr, s.fport, s.lport, ctxs.get(s.ctx).local)
                    }
                    _ => 0,
                };
                off = wrap_inc(off, cap);
            }
            // ...touch their home buckets back to back (all misses in flight at once)...
            let mut touched = 0u8;
            for &h in hs.iter().take(len) {
                touched ^= index.touch(h);
            }
            std::hint::black_box(touched);
            // ...and unlink them.
            off = first;
            for &h in hs.iter().take(len) {
                let slot = base + off;
                off = wrap_inc(off, cap);
                let Some(s) = arena.get_mut(slot as usize) else {
                    continue;
                };
                if s.ctx == 0 {
                    continue;
                }
                unlink_parts(index, ports, ctxs, s, slot, h, None);
                ring.live -= 1;
                n += 1;
            }
            pos += len as u64;
        }
        n
    }

    /// Inserts a connection entering TIME_WAIT (NetBSD `vtw_add`), after reaping what has
    /// expired at `now`. `class` is the caller's MSLT class (turned into `Remote` when
    /// `mslt.enable` is off). If the class ring is full its oldest entry is evicted
    /// (counted in [`VtwStats::evicted`]); `Ok(true)` says an eviction happened.
    ///
    /// Errors, each leaving the table unchanged except for reaping and counters:
    /// [`VtwError::Disabled`] (keep the full TIME_WAIT, as NetBSD does),
    /// [`VtwError::Duplicate`], [`VtwError::BadWindowScale`], [`VtwError::NoCapacity`],
    /// [`VtwError::ClassFull`] (only under [`Overflow::Refuse`]),
    /// [`VtwError::ContextsExhausted`], [`VtwError::IndexFull`] (unreachable by sizing).
    pub fn insert(
        &mut self,
        t: Tuple<A>,
        class: MslClass,
        info: TimeWaitInfo,
        now: u64,
    ) -> Result<bool, VtwError> {
        let h = self.hash_tuple(&t);
        self.insert_hashed(t, h, class, info, now)
    }

    /// Inserts `items` in order at `now`. Guarantee: the results (passed to
    /// `on_result(i, result)` for item `i`, in order) and the table afterwards are exactly
    /// those of calling [`insert`](Self::insert) on each item in turn. Only faster: the
    /// index buckets an item needs (its own and, in a full class, the evicted entry's) are
    /// read for a group of items before any of them is inserted, so their cache misses
    /// overlap instead of following one another.
    pub fn insert_batch(
        &mut self,
        items: &[(Tuple<A>, MslClass, TimeWaitInfo)],
        now: u64,
        mut on_result: impl FnMut(usize, Result<bool, VtwError>),
    ) {
        self.insert_some(items, 0..items.len(), now, &mut on_result);
    }

    /// [`insert_batch`](Self::insert_batch) over `items[i]` for `i` in `which` (ascending).
    pub(crate) fn insert_some(
        &mut self,
        items: &[(Tuple<A>, MslClass, TimeWaitInfo)],
        which: impl Iterator<Item = usize> + Clone,
        now: u64,
        on_result: &mut impl FnMut(usize, Result<bool, VtwError>),
    ) {
        let mut which = which.peekable();
        let mut hs = [0u64; INSERT_BATCH];
        let mut ids = [0usize; INSERT_BATCH];
        let mut ehs = [0u64; INSERT_BATCH];
        while which.peek().is_some() {
            // Reap first, so the passes below see the rings as the inserts will.
            self.expire(now);
            let mut len = 0;
            let mut per_class = [0u64; 3];
            for i in which.clone().take(INSERT_BATCH) {
                ids[len] = i;
                hs[len] = match items.get(i) {
                    Some((t, class, _)) => {
                        per_class[self.tunables.effective_class(*class).index()] += 1;
                        self.hash_tuple(t)
                    }
                    None => 0,
                };
                len += 1;
            }
            // Touch the home buckets back to back, so that all their cache misses are in
            // flight together (a loop with more work per item would fill the CPU's
            // reorder window before the last load is issued).
            let mut touched = 0u8;
            for &h in &hs[..len] {
                touched ^= self.index.touch(h);
            }
            // The entries the group will evict from full rings (their tail positions in
            // order): hash them, then touch their home buckets the same way. A guess: a
            // duplicate or refused item leaves one in place, which costs only time.
            let mut ne = 0;
            for (ci, &k) in per_class.iter().enumerate() {
                let r = &self.rings[ci];
                let free = u64::from(r.cap).saturating_sub(r.head - r.tail);
                let mut off = r.tail_off;
                for _ in 0..k.saturating_sub(free).min(r.head - r.tail) {
                    if let Some(s) = self.arena.get((r.base + off) as usize)
                        && s.ctx != 0
                        && ne < INSERT_BATCH
                    {
                        ehs[ne] = self.slot_hash(s);
                        ne += 1;
                    }
                    off = wrap_inc(off, r.cap);
                }
            }
            for &h in &ehs[..ne] {
                touched ^= self.index.touch(h);
            }
            std::hint::black_box(touched);
            // The buckets now in cache: touch the entries whose tag matches (the
            // duplicate check will read them; 8-bit tags match a stranger in ≈ 5 % of
            // buckets, each a miss into the arena).
            let mut touched = 0u16;
            for &h in &hs[..len] {
                for idx in self.index.home_matches(h) {
                    if let Some(s) = self.arena.get(idx as usize) {
                        touched ^= s.fport;
                    }
                }
            }
            std::hint::black_box(touched);
            // Insert.
            for k in 0..len {
                let i = ids[k];
                if let Some(&(t, class, info)) = items.get(i) {
                    on_result(i, self.insert_hashed(t, hs[k], class, info, now));
                }
                which.next();
            }
        }
    }

    fn insert_hashed(
        &mut self,
        t: Tuple<A>,
        h: u64,
        class: MslClass,
        info: TimeWaitInfo,
        now: u64,
    ) -> Result<bool, VtwError> {
        self.expire(now);
        if !self.tunables.vtw_enable {
            self.stats.insert_disabled += 1;
            return Err(VtwError::Disabled);
        }
        if info.rcv_wscale > 14 {
            return Err(VtwError::BadWindowScale(info.rcv_wscale));
        }
        let class = self.tunables.effective_class(class);
        let ci = class.index();
        let refuse = self.tunables.overflow == Overflow::Refuse;
        // The table's parts as separate borrows: the compiler then knows a store to one
        // (a counter, the index) leaves the others alone.
        let VtwTable {
            arena,
            index,
            rings,
            ctxs,
            ports,
            hasher,
            stats,
            granularity,
            ..
        } = self;
        let ring = &mut rings[ci];
        if ring.cap == 0 {
            stats.insert_no_room += 1;
            return Err(VtwError::NoCapacity(class));
        }
        let full = ring.is_full();
        // In a full ring, the live entry at the tail is evicted. Its home bucket is read
        // now, so that miss overlaps the duplicate check's; its hash is kept for the
        // eviction.
        let mut evict_h = None;
        if full
            && let Some(s) = arena.get(ring.tail_slot() as usize)
            && s.ctx != 0
        {
            if refuse {
                stats.insert_class_full += 1;
                return Err(VtwError::ClassFull(class));
            }
            let eh = keyed_hash::<A>(hasher, s.faddr, s.fport, s.lport, ctxs.get(s.ctx).local);
            std::hint::black_box(index.touch(eh));
            evict_h = Some(eh);
        }
        // The duplicate check. Usually decided from the home bucket alone (no slot with
        // the tuple's tag, nothing displaced past it), counted as the general lookup
        // counts such a miss; anything else goes through the general lookup.
        if index.home_clear(h) {
            stats.lookups += 1;
            stats.probes += 1;
            stats.misses += 1;
            stats.max_probe = stats.max_probe.max(1);
        } else if find_parts::<A>(index, arena, ctxs, stats, &t, h).is_some() {
            stats.insert_duplicate += 1;
            return Err(VtwError::Duplicate);
        }
        let flags = if info.reuse_addr { F_REUSE_ADDR } else { 0 }
            | if info.reuse_port { F_REUSE_PORT } else { 0 }
            | if info.v6only { F_V6ONLY } else { 0 }
            | if info.ts_recent.is_some() { F_TS } else { 0 };
        let Some(ctx) = ctxs.acquire(Ctx {
            local: t.local.0,
            uid: info.uid,
            flags,
            wscale: info.rcv_wscale,
        }) else {
            stats.insert_no_context += 1;
            return Err(VtwError::ContextsExhausted(ctxs.cap));
        };
        let mut evicted = false;
        if full {
            let ts = ring.tail_slot();
            if let Some(eh) = evict_h
                && let Some(s) = arena.get_mut(ts as usize)
            {
                unlink_parts(index, ports, ctxs, s, ts, eh, None);
                ring.live -= 1;
                stats.evicted += 1;
                evicted = true;
            }
            ring.pop_tail();
        }
        let pos = ring.head;
        let slot = ring.push();
        let first_mark = ring.stamp(pos, now, *granularity);
        if index.insert(h, slot).is_none() {
            // Unreachable with the sizing rule; undo the head push and report.
            ring.unpush();
            ctxs.release(ctx);
            return Err(VtwError::IndexFull);
        }
        if let Some(s) = arena.get_mut(slot as usize) {
            *s = Slot {
                faddr: t.faddr.to_key(),
                fport: t.fport,
                lport: t.lport,
                ctx,
                wnd: (info.rcv_wnd >> info.rcv_wscale).min(u32::from(u16::MAX)) as u16,
                snd_nxt: info.snd_nxt,
                rcv_nxt: info.rcv_nxt,
                ts_recent: info.ts_recent.unwrap_or(0),
            };
        }
        ports.add((t.lport, ctx), 1);
        stats.inserts += 1;
        if let Some(last) = first_mark {
            self.lower_due(ci, last);
        }
        Ok(evicted)
    }

    /// Looks up the entry for `t` after reaping at `now` (NetBSD `vtw_lookup_hash_v4/v6`,
    /// reached from `in_pcblookup_connect`). An entry past its 2×MSL is never returned.
    pub fn lookup(&mut self, t: &Tuple<A>, now: u64) -> Option<VtwEntry<A>> {
        self.expire(now);
        let h = self.hash_tuple(t);
        self.find(t, h).map(|(_, slot)| self.entry_at(slot, now))
    }

    /// Is `t` in TIME_WAIT? The RFC 6056 `check_suitable_port` / `in_pcbconnect` query.
    pub fn contains(&mut self, t: &Tuple<A>, now: u64) -> bool {
        self.expire(now);
        let h = self.hash_tuple(t);
        self.find(t, h).is_some()
    }

    /// Deletes the entry for `t` (NetBSD `vtw_del`), returning it, or `None` if absent.
    pub fn remove(&mut self, t: &Tuple<A>, now: u64) -> Option<VtwEntry<A>> {
        self.expire(now);
        let h = self.hash_tuple(t);
        let (pos, slot) = self.find(t, h)?;
        let e = self.entry_at(slot, now);
        self.unlink(slot, Some(pos), None);
        self.stats.deletes += 1;
        Some(e)
    }

    /// Moves the entry at `slot` (index position `pos`) to the head of its ring: a new
    /// 2×MSL (NetBSD `vtw_restart`, which reallocates and deletes the old record).
    fn restart(&mut self, slot: u32, pos: Pos, ts_recent: Option<u32>, now: u64) -> u32 {
        let mut s = self.arena[slot as usize];
        if let Some(ts) = ts_recent {
            s.ts_recent = ts;
        }
        let ci = self.class_of_slot(slot);
        // Free the old slot but keep its context and port counts: the entry lives on.
        self.arena[slot as usize].ctx = 0;
        self.rings[ci].live -= 1;
        let new_slot = self.push_head(ci, now, None);
        self.arena[new_slot as usize] = s;
        self.index.repoint(pos, new_slot);
        self.stats.restarts += 1;
        new_slot
    }

    fn allow_ack(&mut self, now: u64) -> bool {
        let sec = now / 1000;
        if sec != self.rl_second {
            self.rl_second = sec;
            self.rl_count = 0;
        }
        if self.rl_count < self.tunables.ack_ratelimit_pps {
            self.rl_count += 1;
            true
        } else {
            false
        }
    }

    /// Handles a segment for `t` (NetBSD `tcp_vtw_input`): looks the entry up, runs
    /// [`segment::decide`] with the table's policy and applies the result — restart (with
    /// the TS.Recent update), delete on [`Action::Kill`]/[`Action::Reopen`], and the
    /// per-table ACK rate limit, which turns a suppressed [`Action::Ack`] or
    /// [`Action::ChallengeAck`] into [`Action::Drop`]. Returns `None` if `t` is not in
    /// TIME_WAIT, else the action and the entry (as it is after the action, or as it was
    /// if deleted) to build the reply from.
    pub fn process_segment(
        &mut self,
        t: &Tuple<A>,
        seg: &Segment,
        now: u64,
    ) -> Option<(Action, VtwEntry<A>)> {
        self.expire(now);
        let h = self.hash_tuple(t);
        let (pos, slot) = self.find(t, h)?;
        let e = self.entry_at(slot, now);
        let st = TwState {
            snd_nxt: e.snd_nxt,
            rcv_nxt: e.rcv_nxt,
            rcv_wnd: e.rcv_wnd,
            ts_recent: e.ts_recent,
        };
        self.stats.segments += 1;
        let mut act = segment::decide(&st, seg, &self.policy);
        let out = match act {
            Action::Drop => {
                self.stats.seg_drops += 1;
                e
            }
            Action::Ack | Action::ChallengeAck => {
                if self.allow_ack(now) {
                    if act == Action::Ack {
                        self.stats.seg_acks += 1;
                    } else {
                        self.stats.seg_challenge_acks += 1;
                    }
                } else {
                    self.stats.seg_acks_ratelimited += 1;
                    act = Action::Drop;
                }
                e
            }
            Action::AckAndRestart { ts_recent } | Action::Restart { ts_recent } => {
                if matches!(act, Action::AckAndRestart { .. }) {
                    self.stats.seg_acks += 1;
                }
                let ns = self.restart(slot, pos, ts_recent, now);
                self.entry_at(ns, now)
            }
            Action::Kill => {
                self.unlink(slot, Some(pos), None);
                self.stats.rst_kills += 1;
                e
            }
            Action::Reopen { .. } => {
                self.unlink(slot, Some(pos), None);
                self.stats.reopens += 1;
                e
            }
        };
        Some((act, out))
    }

    /// Linux `tcp_twsk_unique`: may an outgoing connect take over `t`, which is in
    /// TIME_WAIT? Yes only if the old connection used timestamps, `mode` allows the entry's
    /// class, and the entry was (re)inserted at least `delay_ms` ago (Linux
    /// `tcp_tw_reuse_delay`, default 1,000). On yes the entry is removed and the caller gets
    /// the ISS floor and TS.Recent to continue from; on no the tuple stays busy.
    pub fn try_reuse(
        &mut self,
        t: &Tuple<A>,
        mode: TwReuse,
        delay_ms: u64,
        now: u64,
    ) -> Option<Reused> {
        self.expire(now);
        let h = self.hash_tuple(t);
        let (pos, slot) = self.find(t, h)?;
        let e = self.entry_at(slot, now);
        let allowed = match mode {
            TwReuse::Off => false,
            TwReuse::Global => true,
            TwReuse::LoopbackOnly => e.class == MslClass::Loopback,
        };
        let ts = e.ts_recent?;
        if !allowed || now.saturating_sub(e.inserted_ms) < delay_ms {
            return None;
        }
        self.unlink(slot, Some(pos), None);
        self.stats.tw_reuses += 1;
        Some(Reused {
            iss_floor: segment::iss_floor(e.snd_nxt),
            ts_recent: ts,
        })
    }

    /// Calls `f` for each group of live entries on local port `lport`, restricted to
    /// local address `local` if given (NetBSD `init_ports4`/`next_port4`, used by
    /// `in_pcblookup_port` for bind and ephemeral port checks). The iteration state is
    /// local to the call (NetBSD keeps one static iterator per family).
    pub fn for_each_port_user(
        &mut self,
        lport: u16,
        local: Option<LocalAddrId>,
        now: u64,
        mut f: impl FnMut(PortUser),
    ) {
        self.expire(now);
        self.stats.port_queries += 1;
        // Visit whichever is smaller: the (port, context) pairs, or the live contexts
        // (probing each pair). Groups come in ascending context order either way.
        let ports = self.ports.map();
        let mut groups: Vec<(u16, u32)> = if ports.len() <= self.ctxs.live() {
            ports
                .iter()
                .filter(|((p, _), _)| *p == lport)
                .map(|(&(_, ctx), &n)| (ctx, n))
                .collect()
        } else {
            self.ctxs
                .live_ids()
                .filter_map(|ctx| ports.get(&(lport, ctx)).map(|&n| (ctx, n)))
                .collect()
        };
        groups.sort_unstable();
        for (ctx, count) in groups {
            let c = self.ctxs.get(ctx);
            if local.is_some_and(|l| l.0 != c.local) {
                continue;
            }
            f(PortUser {
                local: LocalAddrId(c.local),
                uid: c.uid,
                reuse_addr: c.flags & F_REUSE_ADDR != 0,
                reuse_port: c.flags & F_REUSE_PORT != 0,
                v6only: c.flags & F_V6ONLY != 0,
                count,
            });
        }
    }

    /// Does any live entry use local port `lport` (on `local`, if given)?
    pub fn port_in_use(&mut self, lport: u16, local: Option<LocalAddrId>, now: u64) -> bool {
        let mut any = false;
        self.for_each_port_user(lport, local, now, |_| any = true);
        any
    }

    /// Deletes every entry (NetBSD has no equivalent; a stack or zone teardown). O(capacity).
    pub fn clear(&mut self) {
        let live: u64 = self.rings.iter().map(|r| u64::from(r.live)).sum();
        for s in &mut self.arena {
            s.ctx = 0;
        }
        self.index.clear();
        self.ports.clear();
        let cap = self.ctxs.cap;
        self.ctxs = CtxTable::new(cap);
        for r in &mut self.rings {
            r.set_tail(r.head);
            r.live = 0;
            r.marks.clear();
        }
        self.next_due = u64::MAX;
        self.stats.deletes += live;
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.rings.iter().map(|r| r.live as usize).sum()
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live entries of `class`.
    pub fn class_len(&self, class: MslClass) -> usize {
        self.rings[class.index()].live as usize
    }

    /// The per-class capacities.
    pub fn capacity(&self) -> ClassCapacities {
        self.capacity
    }

    /// Event counters.
    pub fn stats(&self) -> &VtwStats {
        &self.stats
    }

    /// Current tunables.
    pub fn tunables(&self) -> &Tunables {
        &self.tunables
    }

    /// Mutable tunables; changes apply at once, including to entries already present.
    pub fn tunables_mut(&mut self) -> &mut Tunables {
        self.next_due = 0;
        &mut self.tunables
    }

    /// The segment policy.
    pub fn segment_policy(&self) -> &SegmentPolicy {
        &self.policy
    }

    /// Replaces the segment policy.
    pub fn set_segment_policy(&mut self, p: SegmentPolicy) {
        self.policy = p;
    }

    /// Reads a sysctl by NetBSD name (see [`Tunables::sysctl_get`]).
    pub fn sysctl_get(&self, name: &str) -> Result<u64, VtwError> {
        self.tunables
            .sysctl_get(A::SYSCTL_AF, self.capacity.total(), name)
    }

    /// Sets a sysctl by NetBSD name (see [`Tunables::sysctl_set`]).
    pub fn sysctl_set(&mut self, name: &str, value: u64) -> Result<(), VtwError> {
        self.next_due = 0;
        self.tunables.sysctl_set(A::SYSCTL_AF, name, value)
    }

    /// Heap bytes by part; `port_index` is an estimate (a hash map of 8-byte pairs and one
    /// control byte each, at its allocated capacity plus the 1/8 a full table keeps free).
    pub fn memory(&self) -> MemoryReport {
        MemoryReport {
            arena: self.arena.capacity() * std::mem::size_of::<Slot<A::Key>>(),
            index: self.index.heap_bytes(),
            fixed: self
                .rings
                .iter()
                .map(|r| r.marks.capacity() * std::mem::size_of::<Mark>())
                .sum::<usize>()
                + self.ctxs.bytes(),
            port_index: self.ports.capacity() * 9 * 8 / 7,
        }
    }

    /// Size of one arena slot in bytes (24 for IPv4, 36 for IPv6).
    pub fn slot_size() -> usize {
        std::mem::size_of::<Slot<A::Key>>()
    }
}
