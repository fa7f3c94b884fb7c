//! The compiled FIB as the routing table drives it: published versions, built by the
//! writer from a private copy (left-right with a change log), under the caller's own
//! writer lock and publication slot.
//!
//! [`SharedFib`](super::SharedFib) owns its slot and waits for the grace period inside
//! `apply`. The routing table cannot: it publishes while holding its RIB lock and waits
//! for the grace period after releasing it (other writers of the family may run in
//! between), and its delete path must be the one that waits. So the pieces are split:
//! [`Versions::next`] returns the next version to publish (the private copy, patched), the
//! table stores it in its slot, and once the retired version came back from the grace
//! period [`Versions::recycle`] keeps it as the next private copy (caught up at once, or,
//! for an IPv4 twin, at the next batch from the published version).
//!
//! Every version carries the sequence number of the batch it reflects; the writer keeps
//! the prefixes changed by recent batches (the log). IPv4 versions come in twins sharing
//! one arena (as in `SharedFib`, see `Lpm::twin`): the retired version, back from its
//! grace period, is kept as the spare and caught up at the next batch by copying, from
//! the published version, the direct entries of the chunks the log names, which also
//! frees the blocks that batch replaced; then it is patched and published. Other spares
//! (IPv6, or an IPv4 version with its own arena) are brought up to date when they come
//! back by patching the logged prefixes (each patch recompiles its unit from the current
//! prefix set, so the order does not matter). A version too old for the log is dropped.
//! When no usable spare is at hand (another writer's retired version is still in its
//! grace period) the published version is copied into a private one (a memory copy,
//! milliseconds on a full table, rare), and for IPv4 that copy's twin becomes the spare.

use super::key::Key;
use super::leaf::Leaf;
use super::leaf::sealed::Sealed;
use super::lpm::{Detached, Lpm};
use super::rib::Rib;

/// A batch changing more prefixes than this, and more than an eighth of the table, is
/// compiled afresh instead of patched (a bulk load, a session reset).
const REBUILD_MIN: usize = 4096;

/// The log is cut back to the last batch when it grows beyond this many prefixes (small
/// under test, so that the seam differential crosses the cut).
const LOG_MAX: usize = if cfg!(test) { 64 } else { 1 << 16 };

/// One compiled version: what readers load.
#[derive(Debug)]
pub(crate) struct Version<K: Key, L: Leaf> {
    pub(crate) lpm: Lpm<K, L>,
    seq: u64,
}

/// The writer side: the prefix set, the private copy, the change log.
#[derive(Debug)]
pub(crate) struct Versions<K: Key, L: Leaf> {
    rib: Rib<K, L>,
    /// The unpublished copy, at `seq` (up to date), or `None` while the previous version
    /// is in its grace period.
    spare: Option<Version<K, L>>,
    /// Sequence number of the latest published version.
    seq: u64,
    /// `(batch, prefix)`: the prefixes each batch after `floor` changed, oldest first.
    log: Vec<(u64, K, u8)>,
    /// Versions older than this cannot be caught up from the log.
    floor: u64,
    /// The writer's bookkeeping of the latest published version's IPv4 arena, taken out
    /// of it at publication (see [`Lpm::detach`]); the spare that shares the arena gets
    /// it back when it catches up.
    state: Option<Detached>,
}

impl<K: Key, L: Leaf> Versions<K, L> {
    /// The empty first version and the writer state.
    pub(crate) fn new() -> (Version<K, L>, Self) {
        (
            Version {
                lpm: Lpm::empty(),
                seq: 0,
            },
            Versions {
                rib: Rib::new(),
                spare: None,
                seq: 0,
                log: Vec::new(),
                floor: 0,
                state: None,
            },
        )
    }

    fn big(&self, n: usize) -> bool {
        n > REBUILD_MIN.max(self.rib.map.len() / 8)
    }

    /// Applies `changes` (in order: `Some` sets the prefix's leaf, `None` removes it) to
    /// the prefix set and returns the next version to publish. `published` (the current
    /// version, which readers may be using) is not modified.
    pub(crate) fn next(
        &mut self,
        published: &Version<K, L>,
        changes: &[(K, u8, Option<L>)],
    ) -> Version<K, L> {
        debug_assert_eq!(published.seq, self.seq, "not the latest version");
        let changed = self.apply_rib(changes);
        self.seq += 1;
        let seq = self.seq;
        if self.big(changed.len()) {
            // Bulk: compile once; the spare is the new version's twin (one arena, see
            // `Lpm::twin`); the retired version will be dropped.
            let (lpm, spare) = Lpm::build(&self.rib).into_pair();
            self.spare = Some(Version { lpm: spare, seq });
            self.state = None;
            self.log.clear();
            self.floor = seq;
            return Version { lpm, seq };
        }
        let mut twin_consumed = false;
        let mut lpm = match self.spare.take() {
            // The twin of the published version (IPv4, one arena): catch up by copying
            // the direct entries of the chunks changed since, then patch.
            Some(mut v)
                if v.seq >= self.floor
                    && v.lpm.is_twin_of(&published.lpm)
                    && (self.state.is_some() || v.lpm.has_bookkeeping()) =>
            {
                let since = self.since(v.seq);
                v.lpm
                    .catch_up_twin(&published.lpm, &since, self.state.take());
                twin_consumed = true;
                self.catch_up(v.lpm, changed.clone())
            }
            // A private copy (IPv6, or an IPv4 copy with its own arena): patch what
            // changed since it was published, and this batch.
            Some(v) if v.seq >= self.floor && v.lpm.is_private() => {
                let mut todo = self.since(v.seq);
                todo.extend_from_slice(&changed);
                self.catch_up(v.lpm, todo)
            }
            // None usable: a private copy of the published version.
            _ => match published.lpm.private_copy(self.state.as_ref()) {
                Some(c) => self.catch_up(c, changed.clone()),
                None => Lpm::build(&self.rib),
            },
        };
        #[cfg(test)]
        if let Err(e) = lpm.check_free_unreachable(&published.lpm) {
            panic!("version {seq}: {e}");
        }
        // A fresh IPv4 arena (a private copy, or a compaction): its twin is the next
        // spare, so that the pair shares it; the retired version, with its own arena,
        // will be dropped.
        if lpm.twins_share_memory() && lpm.is_private() {
            self.spare = Some(Version {
                lpm: lpm.twin(),
                seq,
            });
        }
        // The bookkeeping stays with the writer while readers use the version.
        self.state = Some(lpm.detach());
        // The version being retired is at seq - 1: it lacks `changed` (and, if an older
        // one is still out, that one lacks what the log holds already). After a twin
        // catch-up only the retiring version can still come back usefully.
        if twin_consumed || self.log.len() + changed.len() > LOG_MAX {
            self.log.clear();
            self.floor = seq - 1;
        }
        self.log.extend(changed.iter().map(|&(k, l)| (seq, k, l)));
        Version { lpm, seq }
    }

    /// A retired version, back from its grace period: kept as the private copy if none
    /// is at hand (brought up to date now if it is private; an IPv4 twin sharing the
    /// published version's arena at the next batch, from the published version), else
    /// dropped.
    pub(crate) fn recycle(&mut self, old: Version<K, L>) {
        if self.spare.is_some() || old.seq < self.floor || old.seq > self.seq {
            return;
        }
        if !old.lpm.is_private() {
            self.spare = Some(old);
            return;
        }
        let todo = self.since(old.seq);
        let lpm = self.catch_up(old.lpm, todo);
        self.spare = Some(Version { lpm, seq: self.seq });
        // Anything still out is older than the spare: it will be dropped.
        self.log.clear();
        self.floor = self.seq;
    }

    /// Prefixes changed by batches after `seq`.
    fn since(&self, seq: u64) -> Vec<(K, u8)> {
        self.log
            .iter()
            .filter(|e| e.0 > seq)
            .map(|&(_, k, l)| (k, l))
            .collect()
    }

    /// `lpm` patched for every prefix of `todo` (or rebuilt if that is many).
    fn catch_up(&self, mut lpm: Lpm<K, L>, mut todo: Vec<(K, u8)>) -> Lpm<K, L> {
        todo.sort_unstable();
        todo.dedup();
        if self.big(todo.len()) {
            return Lpm::build(&self.rib);
        }
        lpm.patch_many(&self.rib, &todo);
        lpm
    }

    /// Applies the changes to the prefix set; returns the prefixes that changed.
    fn apply_rib(&mut self, changes: &[(K, u8, Option<L>)]) -> Vec<(K, u8)> {
        if self.rib.map.is_empty()
            && changes.len() > REBUILD_MIN
            && changes.iter().all(|c| c.2.is_some())
        {
            // Bulk load into an empty table: one sorted build of the prefix set.
            let v: Vec<((K, u8), _)> = changes
                .iter()
                .filter_map(|&(k, l, v)| v.map(|v| ((k, l), Sealed::enc(v))))
                .collect();
            let changed = v.iter().map(|&(p, _)| p).collect();
            self.rib = Rib::from_sorted(v);
            return changed;
        }
        let mut changed = Vec::with_capacity(changes.len());
        for &(k, l, v) in changes {
            debug_assert!(super::rib::check(k, l).is_ok(), "bad prefix {k:?}/{l}");
            let did = match v {
                Some(x) => self.rib.insert(k, l, x) != Some(x),
                None => self.rib.remove(k, l).is_some(),
            };
            if did {
                changed.push((k, l));
            }
        }
        changed
    }
}

impl<K: Key, L: Leaf> Version<K, L> {
    /// The leaf of the longest prefix containing `addr`.
    #[inline]
    pub(crate) fn lookup(&self, addr: K) -> Option<L> {
        self.lpm.lookup(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::fib::{Key, SlabIndex};

    /// The leaf of the longest prefix of `set` containing `a` (the naive model).
    fn model(set: &std::collections::BTreeMap<(u32, u8), SlabIndex>, a: u32) -> Option<SlabIndex> {
        (0..=32u8)
            .rev()
            .find_map(|l| set.get(&(a & u32::mask(l), l)).copied())
    }

    /// Versions published and recycled in turn (one writer, each retired version back
    /// before the next batch): every IPv4 version after the first few is the twin of the
    /// one before it, so the pair costs one arena, and lookups match the model.
    #[test]
    fn recycled_v4_versions_share_one_arena() {
        let (mut published, mut w) = Versions::<u32, SlabIndex>::new();
        let mut set = std::collections::BTreeMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut twins = 0;
        for round in 0..300u32 {
            let changes: Vec<(u32, u8, Option<SlabIndex>)> = (0..1 + round % 20)
                .map(|_| {
                    let len = 8 + (next() % 25) as u8;
                    let a = next() as u32 & u32::mask(len);
                    let v =
                        (next() % 4 != 0).then(|| SlabIndex::new((next() % 1000) as u32).unwrap());
                    (a, len, v)
                })
                .collect();
            for &(a, l, v) in &changes {
                match v {
                    Some(v) => set.insert((a, l), v),
                    None => set.remove(&(a, l)),
                };
            }
            let v = w.next(&published, &changes);
            let old = std::mem::replace(&mut published, v);
            w.recycle(old);
            if let Some(s) = &w.spare {
                twins += usize::from(s.lpm.is_twin_of(&published.lpm));
            }
            for _ in 0..200 {
                let a = next() as u32;
                assert_eq!(published.lookup(a), model(&set, a), "round {round}, {a:#x}");
            }
            for (&(a, l), _) in set.iter().take(50) {
                let host = a | (!u32::mask(l) & next() as u32);
                assert_eq!(published.lookup(host), model(&set, host), "round {round}");
            }
        }
        assert!(
            twins > 290,
            "only {twins} of 300 spares shared the published arena"
        );
    }
}
