//! The concurrent FIB: readers in pserialize read sections, one writer at a time patching
//! a private copy and publishing it with one pointer store (left-right over a psref
//! [`Slot`]).

use super::key::Key;
use super::leaf::Leaf;
use super::lpm::Lpm;
use super::rib::Rib;
use super::table::{FibOp, collect_routes};
use super::{FibError, NextHop};
use psref::{Domain, ReadGuard, Slot};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A batch changing more than 1/8 of the prefixes is compiled afresh instead of patched.
const REBUILD_FRACTION_DEN: usize = 8;

struct Writer<K: Key, L: Leaf> {
    rib: Rib<K, L>,
    /// The unpublished copy; `None` only while an update is in progress.
    spare: Option<Lpm<K, L>>,
}

/// What one [`SharedFib::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Ops that changed the prefix set (the others were no-ops).
    pub changed: usize,
    /// From the call to the moment the new version was visible to new read sections.
    pub publish_latency: Duration,
    /// The whole call, including the grace period and the patching of the second copy.
    pub total: Duration,
}

/// A FIB that readers query without locks while one writer at a time updates it.
///
/// Design (left-right with passive serialization): two compiled copies exist. Readers
/// load the published one from a [`Slot`] inside a read section of the domain
/// ([`SharedFib::load`]) and look up as many addresses as they like under that one
/// section. A writer applies a batch of ops to the writer-side prefix set, patches the
/// unpublished copy (only the affected units, each once per batch), publishes it with
/// one pointer swap, waits for a grace period (`synchronize` + drain of the old copy's
/// psref target) and then brings the old copy up to date by copying the parts the patch
/// wrote (no second compile); it becomes the next spare. The copies share most of their
/// memory (IPv4: one arena under two direct tables; IPv6: unchanged chunks), and no part
/// a reader can reach is ever modified or freed.
///
/// Guarantees: a reader sees each batch completely or not at all, never a half-patched
/// structure; readers never block and write no shared cache line per lookup. A batch is
/// visible to read sections opened after [`ApplyReport::publish_latency`] (the patch time
/// of one copy, a few µs for a routine update); the call returns after the grace period
/// and the catch-up. After every call the two copies are identical. Memory: one compiled
/// copy plus what the copies do not share ([`SharedFib::memory_bytes`]).
///
/// Use a [`Domain::fenced`](psref::Domain::fenced) domain when the FIB is updated while
/// it is read: a membarrier domain's grace periods interrupt every running reader (see
/// the module docs, "Which psref domain").
pub struct SharedFib<K: Key, L: Leaf = NextHop> {
    slot: Slot<Lpm<K, L>>,
    writer: Mutex<Writer<K, L>>,
}

impl<K: Key, L: Leaf> std::fmt::Debug for SharedFib<K, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFib").finish_non_exhaustive()
    }
}

impl<K: Key, L: Leaf> SharedFib<K, L> {
    /// An empty FIB published in `domain`.
    pub fn new(domain: &Domain) -> Self {
        Self::with_rib(Rib::new(), domain)
    }

    /// Bulk load (see [`Fib::from_routes`](super::Fib::from_routes)).
    ///
    /// # Errors
    /// The first invalid prefix; nothing is built then.
    pub fn from_routes(
        routes: impl IntoIterator<Item = (K, u8, L)>,
        domain: &Domain,
    ) -> Result<Self, FibError> {
        Ok(Self::with_rib(collect_routes(routes)?, domain))
    }

    fn with_rib(rib: Rib<K, L>, domain: &Domain) -> Self {
        let (lpm, spare) = Lpm::build(&rib).into_pair();
        SharedFib {
            slot: Slot::new(lpm, domain),
            writer: Mutex::new(Writer {
                rib,
                spare: Some(spare),
            }),
        }
    }

    /// The published structure, valid for the read section `guard`. Open one section per
    /// batch of lookups, not one per lookup.
    ///
    /// # Panics
    /// If `guard` belongs to another domain than the one this FIB was created in.
    #[inline]
    pub fn load<'g>(&'g self, guard: &'g ReadGuard<'g>) -> &'g Lpm<K, L> {
        match self.slot.load(guard) {
            Some(s) => s.get(),
            None => unreachable!("the slot is never empty"),
        }
    }

    /// Applies `ops` in order as one atomic batch (readers see all or none of it).
    ///
    /// Must not be called from inside a read section of `domain` (it waits for a grace
    /// period: that would deadlock, and psref panics instead).
    ///
    /// # Errors
    /// The first invalid op; nothing changes then.
    pub fn apply(&self, ops: &[FibOp<K, L>], domain: &Domain) -> Result<ApplyReport, FibError> {
        ops.iter().try_for_each(FibOp::check)?;
        let t0 = Instant::now();
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let w = &mut *w;
        let mut changed: Vec<(K, u8)> = Vec::with_capacity(ops.len());
        for op in ops {
            if op.apply_rib(&mut w.rib) {
                changed.push(op.prefix());
            }
        }
        if changed.is_empty() {
            return Ok(ApplyReport::default());
        }
        // A prefix changed twice in one batch is patched once (against the final set).
        changed.sort_unstable();
        changed.dedup();
        let n = changed.len();
        if n > REBUILD_FRACTION_DEN.max(w.rib.map.len() / REBUILD_FRACTION_DEN) {
            // Heavy churn (a session reset): one fresh compile beats patching.
            let (fresh, spare) = Lpm::build(&w.rib).into_pair();
            let old = self.slot.store(fresh, domain);
            let publish_latency = t0.elapsed();
            drop(w.spare.take());
            if let Some(old) = old {
                old.destroy();
            }
            w.spare = Some(spare);
            return Ok(ApplyReport {
                changed: n,
                publish_latency,
                total: t0.elapsed(),
            });
        }
        // The spare is missing only if an earlier call panicked half-way: then it is
        // compiled afresh, and the old copy, which the fresh one's (empty) patch log
        // cannot bring up to date, is replaced by a clone of it.
        let (mut spare, fresh) = match w.spare.take() {
            Some(mut s) => {
                s.patch_many(&w.rib, &changed);
                (s, false)
            }
            None => (Lpm::build(&w.rib), true),
        };
        #[cfg(test)]
        {
            // The blocks the patch may have overwritten were unreachable from both.
            let g = domain.read();
            if let Err(e) = spare.check_free_unreachable(self.load(&g)) {
                panic!("after the patch: {e}");
            }
        }
        // The bookkeeping goes to whichever copy is private next.
        let state = spare.detach();
        let old = self.slot.store(spare, domain);
        let publish_latency = t0.elapsed();
        // The slot is never empty; were it, the old copy would be rebuilt as a twin.
        let (mut old, fresh) = match old {
            Some(r) => (r.into_inner(), fresh),
            None => (Lpm::empty(), true),
        };
        {
            let g = domain.read();
            if fresh {
                old.become_twin(self.load(&g), state);
            } else {
                old.catch_up(self.load(&g), state);
            }
        }
        w.spare = Some(old);
        Ok(ApplyReport {
            changed: changed.len(),
            publish_latency,
            total: t0.elapsed(),
        })
    }

    /// Whether the spare copy is identical to the published one (tests: after every
    /// `apply` the two copies of the left-right pair must agree).
    #[cfg(test)]
    pub(crate) fn copies_identical(&self, domain: &Domain) -> bool {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let g = domain.read();
        w.spare.as_ref().is_some_and(|s| {
            s.same_as(self.load(&g)) && s.check_free_unreachable(self.load(&g)).is_ok()
        })
    }

    /// Drops the spare copy, as a call that panicked half-way leaves it (tests).
    #[cfg(test)]
    pub(crate) fn drop_spare(&self) {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).spare = None;
    }

    /// Recompiles both copies from the prefix set and publishes the result.
    pub fn rebuild(&self, domain: &Domain) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (fresh, spare) = Lpm::build(&w.rib).into_pair();
        if let Some(old) = self.slot.store(fresh, domain) {
            old.destroy();
        }
        w.spare = Some(spare);
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rib
            .map
            .len()
    }

    /// True if no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of the published compiled copy: what lookups read.
    pub fn published_bytes(&self, domain: &Domain) -> usize {
        let g = domain.read();
        self.load(&g).memory_bytes()
    }

    /// Heap bytes of both compiled copies (the published one and what the spare does
    /// not share with it: IPv4 copies share their arenas and differ only in their 1 MiB
    /// direct tables, IPv6 copies share the lines of unchanged chunks).
    pub fn memory_bytes(&self, domain: &Domain) -> usize {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let g = domain.read();
        let published = self.load(&g);
        published.memory_bytes() + w.spare.as_ref().map_or(0, |s| s.unshared_bytes(published))
    }
}
