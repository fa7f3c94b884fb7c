//! Vestigial TIME_WAIT (VTW) with MSL truncation (MSLT): NetBSD's `sys/netinet/tcp_vtw.[ch]`
//! and the MSLT parts of `tcp_subr.c`/`tcp_input.c`, rebuilt compact and keyed.
//!
//! A TCP connection that reaches TIME_WAIT with no socket left is replaced by a small
//! fixed-size record, kept until 2×MSL of its class has passed, so its 4-tuple stays
//! protected while the full control block is freed. Map to NetBSD:
//!
//! | here | NetBSD |
//! |---|---|
//! | [`VtwTable`] (one per family) | `vtw_ctl_t vtw_tcpv4[]/vtw_tcpv6[]` + `fatp_ctl_t fat_tcpv4/6` |
//! | arena slot (`table::Slot`, 24 B v4 / 36 B v6) | `vtw_v4_t` (64 B) / `vtw_v6_t` (88 B) |
//! | `index::TagIndex`, 64-byte buckets of tags | fat pointers `fatp_t`, `fatp_vtw_inshash`, `vtw_lookup_hash_v4` |
//! | one FIFO ring per [`MslClass`] | per-class clock hand `alloc`/`oldest`, `vtw_alloc`, `vtw_age` |
//! | [`VtwTable::insert`] / [`VtwTable::remove`] / [`VtwTable::expire`] | `vtw_add` / `vtw_del` / `vtw_age` from `vtw_tick` |
//! | [`VtwTable::lookup`], [`VtwTable::contains`] | `tcp_lookup_v4/v6` hooks of `in_pcblookup_connect` |
//! | [`VtwTable::for_each_port_user`] | `init_ports4/next_port4` hooks of `in_pcblookup_port` |
//! | [`segment::decide`], [`VtwTable::process_segment`] | `tcp_vtw_input` |
//! | [`Tunables`] | `tcp{4,6}_vtw_enable`, `tcp_vtw_entries`, `tcp_msl_*` and their sysctls |
//! | [`classify::classify`] with a caller's [`classify::Locality`] | MSLT class choice in `tcp_established` |
//! | [`VtwStats`] | `vtw_stats_t` |
//!
//! # Layout and byte budget
//!
//! An IPv4 slot is 24 bytes: foreign address 4, ports 4, a 2-byte interned *context* id,
//! the 2-byte window field, snd_nxt, rcv_nxt and ts_recent (4 each). IPv6 is 36 bytes
//! (foreign address 16). Not stored, derived:
//! - the local address: a [`LocalAddrId`] into the caller's address table, held in the
//!   context together with the owner uid, reuse flags, v6only, window scale and whether
//!   timestamps were in use (a few distinct contexts serve millions of entries);
//! - the MSL class: which ring slice holds the slot;
//! - the insertion time (hence expiry and ts_recent age): per-class time marks, one per
//!   group of entries inserted within `mark_granularity_ms`; a mark keeps the *latest*
//!   time of its group, so derived expiry is never early (at most one granularity late);
//! - our timestamp offset: a keyed hash of the 4-tuple ([`VtwTable::ts_offset`],
//!   RFC 7323 §5.4).
//!
//! The index is sized so that a full arena loads its 16-slot buckets to at most 90 %:
//! about 4.4 bytes per slot of capacity. The port index (bind/connect checks) is a
//! separate `(local port, context) → count` map whose size depends on how many distinct
//! ports are in TIME_WAIT, not on the entry count; it is reported separately
//! ([`MemoryReport::port_index`]). Measured figures are in `BENCHMARKS.md`.
//!
//! # NetBSD bugs and weaknesses avoided
//!
//! - Unkeyed additive tuple hash (`v4_tag` is a sum) and a zero IPv6 hash without
//!   `IN6_HASH`: here a keyed foldhash with a random seed per table.
//! - `vtw_add` never sets `rcv_wnd` (nor `snd_scale`): here both are stored.
//! - No timestamp state, so no PAWS, ACKs without TSopt, no RFC 6191 reopen: here
//!   ts_recent is stored, the offset derived, and SYNs follow RFC 6191.
//! - A SYN beyond the window and any new data are answered with RST: here no RST is ever
//!   sent (RFC 9293 "Ignore the segment text"; reopen per RFC 6191).
//! - One static port iterator per family (not reentrant): here iteration state is local
//!   to each call.
//! - Fat-pointer chains that "hang down, tapeworm like" and grow under churn: here open
//!   addressing with exact overflow counts, no tombstones (see `index`).
//! - Equal static split of the arena over the classes: capacities are configurable per
//!   class ([`ClassCapacities`]), and no slot is left to a classless class 0.
//! - Class 0 (truncation off) is a separate arena slice in NetBSD and "usurpation"
//!   between classes can fail during transitions: here truncation off simply files new
//!   entries under `Remote`, whose MSL class 0 used anyway.
//! - The 128-byte cache line configuration is unusable in NetBSD (`FATP_MAX = 2`); here
//!   the bucket is always 64 bytes.
//!
//! Other differences: the arena is allocated when the table is built, not lazily when
//! `vtw.enable` is first set; the entry count need not be a power of two; MSL changes
//! apply to entries already present (expiry is derived, not stored); expiry is reaped
//! lazily by every operation as well as by [`VtwTable::expire`], so an entry past its
//! 2×MSL is never returned even if no tick has run.
//!
//! Overflow: by default ([`Overflow::EvictOldest`], as NetBSD and FreeBSD) an insert into
//! a full class evicts that class's oldest entry; [`Overflow::Refuse`] returns
//! [`VtwError::ClassFull`] instead (Linux `tcp_max_tw_buckets`). Like NetBSD, a slot freed
//! in the middle of a ring (delete, RST kill, restart) is reused only when the ring's tail
//! reaches it, so a class with many such holes is "full" a little before
//! `live == capacity`. Every eviction and refusal is counted.
//!
//! # Concurrency
//!
//! NetBSD runs VTW under `softnet_lock`. [`Vtw`] does the same with one
//! [`parking_lot::Mutex`] per family: inserts, lookups, segment processing and expiry
//! all take it, and expiry work per call is proportional to what expired. Lock-free or
//! sharded variants are future work (issue 7).
#![forbid(unsafe_code)]

pub mod classify;

mod index;
pub mod segment;
mod table;
mod tunables;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

pub use crate::clock::{Clock, ManualClock, MonotonicClock};
pub use segment::{Action, RstPolicy, Segment, SegmentPolicy, TcpFlags, TsOpt, TwState};
pub use table::{
    ClassCapacities, LocalAddrId, MemoryReport, PortUser, Reused, TimeWaitInfo, Tuple, TwReuse,
    VtwAddr, VtwConfig, VtwEntry, VtwStats, VtwTable,
};
pub use tunables::{MslClass, Overflow, PR_SLOWHZ, SYSCTL_NAMES, TCPTV_MSL_MS, Tunables};

/// Errors of the VTW table. Every error leaves the table as it was (apart from reaping
/// expired entries and counting the event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VtwError {
    /// `vtw.enable` is off: the caller keeps the connection in a full TIME_WAIT.
    #[error("vestigial TIME_WAIT is disabled (vtw.enable = 0)")]
    Disabled,
    /// The 4-tuple is already in the table.
    #[error("the 4-tuple is already in TIME_WAIT")]
    Duplicate,
    /// The class was configured with no slots.
    #[error("MSL class {0} has no capacity")]
    NoCapacity(MslClass),
    /// The class ring is full of live entries and the overflow policy is
    /// [`Overflow::Refuse`].
    #[error("MSL class {0} is full")]
    ClassFull(MslClass),
    /// Every context (distinct local address / uid / flags combination) is in use.
    #[error("all {0} entry contexts are in use")]
    ContextsExhausted(u16),
    /// The index found no free slot; the sizing rule makes this unreachable.
    #[error("the TIME_WAIT index has no free slot")]
    IndexFull,
    /// The configured capacity exceeds what 22-bit entry indices address.
    #[error("capacity {requested} exceeds the maximum of {max} entries")]
    CapacityTooLarge {
        /// Requested total.
        requested: u64,
        /// Largest supported total.
        max: u64,
    },
    /// A configuration value is out of range.
    #[error("bad VTW configuration: {0}")]
    BadConfig(&'static str),
    /// A window scale above 14 (RFC 7323 §2.3).
    #[error("window scale {0} exceeds 14")]
    BadWindowScale(u8),
    /// No such sysctl.
    #[error("unknown sysctl {0}")]
    UnknownSysctl(String),
    /// The sysctl cannot be written (`vtw.entries`).
    #[error("sysctl {0} is read-only")]
    ReadOnlySysctl(String),
    /// The value is out of range for the sysctl.
    #[error("bad value {value} for sysctl {name}")]
    BadSysctlValue {
        /// The sysctl.
        name: String,
        /// The rejected value.
        value: u64,
    },
}

/// Both families' tables behind one lock each, with the clock that drives them — what the
/// `Stack` will own. All methods take `&self`, lock one family's table, read the clock and
/// delegate to [`VtwTable`]; see there for the guarantees.
pub struct Vtw {
    v4: Mutex<VtwTable<Ipv4Addr>>,
    v6: Mutex<VtwTable<Ipv6Addr>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Vtw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vtw").finish_non_exhaustive()
    }
}

impl Vtw {
    /// Builds both tables. Errors as [`VtwTable::new`].
    pub fn new(v4: VtwConfig, v6: VtwConfig, clock: Arc<dyn Clock>) -> Result<Self, VtwError> {
        Ok(Vtw {
            v4: Mutex::new(VtwTable::new(v4)?),
            v6: Mutex::new(VtwTable::new(v6)?),
            clock,
        })
    }

    /// Runs `f` on family `A`'s table under its lock, with the current time.
    pub fn with_table<A: VtwAddr, R>(&self, f: impl FnOnce(&mut VtwTable<A>, u64) -> R) -> R {
        let now = self.clock.now_ms();
        f(&mut A::table(self).lock(), now)
    }

    /// [`VtwTable::insert`] at the current time.
    pub fn insert<A: VtwAddr>(
        &self,
        t: Tuple<A>,
        class: MslClass,
        info: TimeWaitInfo,
    ) -> Result<bool, VtwError> {
        self.with_table(|tb, now| tb.insert(t, class, info, now))
    }

    /// [`VtwTable::lookup`] at the current time.
    pub fn lookup<A: VtwAddr>(&self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.with_table(|tb, now| tb.lookup(t, now))
    }

    /// [`VtwTable::contains`] at the current time.
    pub fn contains<A: VtwAddr>(&self, t: &Tuple<A>) -> bool {
        self.with_table(|tb, now| tb.contains(t, now))
    }

    /// [`VtwTable::remove`] at the current time.
    pub fn remove<A: VtwAddr>(&self, t: &Tuple<A>) -> Option<VtwEntry<A>> {
        self.with_table(|tb, now| tb.remove(t, now))
    }

    /// [`VtwTable::process_segment`] at the current time.
    pub fn process_segment<A: VtwAddr>(
        &self,
        t: &Tuple<A>,
        seg: &Segment,
    ) -> Option<(Action, VtwEntry<A>)> {
        self.with_table(|tb, now| tb.process_segment(t, seg, now))
    }

    /// [`VtwTable::try_reuse`] at the current time.
    pub fn try_reuse<A: VtwAddr>(
        &self,
        t: &Tuple<A>,
        mode: TwReuse,
        delay_ms: u64,
    ) -> Option<Reused> {
        self.with_table(|tb, now| tb.try_reuse(t, mode, delay_ms, now))
    }

    /// The groups of entries on `lport` (and `local`, if given), collected.
    pub fn port_users<A: VtwAddr>(&self, lport: u16, local: Option<LocalAddrId>) -> Vec<PortUser> {
        let mut v = Vec::new();
        self.with_table::<A, _>(|tb, now| tb.for_each_port_user(lport, local, now, |u| v.push(u)));
        v
    }

    /// Reaps both families (what NetBSD's 200 ms `vtw_tick` callout does). Returns the
    /// number of entries that expired.
    pub fn expire(&self) -> usize {
        let now = self.clock.now_ms();
        self.v4.lock().expire(now) + self.v6.lock().expire(now)
    }

    /// A copy of family `A`'s counters.
    pub fn stats<A: VtwAddr>(&self) -> VtwStats {
        *A::table(self).lock().stats()
    }

    /// Reads a sysctl by NetBSD name: `net.inet.tcp.vtw.*` from the IPv4 table,
    /// `net.inet6.tcp6.vtw.*` from the IPv6 table, `net.inet.tcp.mslt.*` (shared) from the
    /// IPv4 table.
    pub fn sysctl_get(&self, name: &str) -> Result<u64, VtwError> {
        if name.starts_with("net.inet6.") {
            self.v6.lock().sysctl_get(name)
        } else {
            self.v4.lock().sysctl_get(name)
        }
    }

    /// Sets a sysctl by NetBSD name; the `mslt` knobs apply to both families (they are
    /// global in NetBSD). On error nothing changes.
    pub fn sysctl_set(&self, name: &str, value: u64) -> Result<(), VtwError> {
        if name.starts_with("net.inet6.") {
            self.v6.lock().sysctl_set(name, value)
        } else if name.starts_with("net.inet.tcp.mslt.") {
            let mut v4 = self.v4.lock();
            let mut v6 = self.v6.lock();
            // Validate on copies first so a failure changes neither table.
            let mut t4 = v4.tunables().clone();
            t4.sysctl_set(Ipv4Addr::SYSCTL_AF, name, value)?;
            let mut t6 = v6.tunables().clone();
            t6.sysctl_set(Ipv4Addr::SYSCTL_AF, name, value)?;
            *v4.tunables_mut() = t4;
            *v6.tunables_mut() = t6;
            Ok(())
        } else {
            self.v4.lock().sysctl_set(name, value)
        }
    }
}

#[cfg(test)]
mod tests;
