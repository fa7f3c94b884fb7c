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
//! period [`Versions::recycle`] catches it up and keeps it as the next private copy.
//!
//! Every version carries the sequence number of the batch it reflects; the writer keeps
//! the prefixes changed by recent batches (the log), so a version returned late, after
//! other batches were published, is brought up to date by patching those prefixes (each
//! patch recompiles its unit from the current prefix set, so the order does not matter).
//! A version too old for the log is dropped. When no private copy is at hand (another
//! writer's retired version is still in its grace period) the published version is
//! cloned: a memory copy of the structure (milliseconds on a full table), rare.

use super::key::Key;
use super::leaf::Leaf;
use super::leaf::sealed::Sealed;
use super::lpm::Lpm;
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
            // Bulk: compile once, keep a copy as the spare (a memory copy, cheaper than a
            // second compile); the retired version will be dropped.
            let lpm = Lpm::build(&self.rib);
            self.spare = Some(Version {
                lpm: lpm.clone(),
                seq,
            });
            self.log.clear();
            self.floor = seq;
            return Version { lpm, seq };
        }
        let lpm = {
            match self.spare.take() {
                Some(v) if v.seq >= self.floor => {
                    let mut todo = self.since(v.seq);
                    todo.extend_from_slice(&changed);
                    self.catch_up(v.lpm, todo)
                }
                _ => self.catch_up(published.lpm.clone(), changed.clone()),
            }
        };
        // The version being retired is at seq - 1: it lacks `changed` (and, if an older
        // one is still out, that one lacks what the log holds already).
        if self.log.len() + changed.len() > LOG_MAX {
            self.log.clear();
            self.floor = seq - 1;
        }
        self.log.extend(changed.iter().map(|&(k, l)| (seq, k, l)));
        Version { lpm, seq }
    }

    /// A retired version, back from its grace period: brought up to date and kept as the
    /// private copy if none is at hand, else dropped.
    pub(crate) fn recycle(&mut self, old: Version<K, L>) {
        if self.spare.is_some() || old.seq < self.floor || old.seq > self.seq {
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
