//! The single-threaded FIB: the writer's prefix set plus one compiled structure, patched
//! in place.

use super::key::Key;
use super::leaf::Leaf;
use super::lpm::Lpm;
use super::rib::{Rib, check};
use super::{FibError, NextHop};

/// One change to a FIB (leaves of type `L`, [`NextHop`] by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FibOp<K, L = NextHop> {
    /// Add the prefix `addr/len`, or change its next hop.
    Insert {
        /// Network address (host bits zero).
        addr: K,
        /// Prefix length.
        len: u8,
        /// Next hop (or slab index).
        nh: L,
    },
    /// Delete the prefix `addr/len` (a no-op if absent).
    Remove {
        /// Network address (host bits zero).
        addr: K,
        /// Prefix length.
        len: u8,
    },
}

impl<K: Key, L: Leaf> FibOp<K, L> {
    pub(crate) fn prefix(&self) -> (K, u8) {
        match *self {
            FibOp::Insert { addr, len, .. } | FibOp::Remove { addr, len } => (addr, len),
        }
    }

    pub(crate) fn check(&self) -> Result<(), FibError> {
        let (a, l) = self.prefix();
        check(a, l)
    }

    /// Applies to the prefix set; true if it changed anything.
    pub(crate) fn apply_rib(&self, rib: &mut Rib<K, L>) -> bool {
        match *self {
            FibOp::Insert { addr, len, nh } => rib.insert(addr, len, nh) != Some(nh),
            FibOp::Remove { addr, len } => rib.remove(addr, len).is_some(),
        }
    }
}

/// Validates and sorts routes for a bulk build (later duplicates win).
pub(crate) fn collect_routes<K: Key, L: Leaf>(
    routes: impl IntoIterator<Item = (K, u8, L)>,
) -> Result<Rib<K, L>, FibError> {
    let mut v = Vec::new();
    for (a, l, nh) in routes {
        check(a, l)?;
        v.push(((a, l), nh.enc()));
    }
    Ok(Rib::from_sorted(v))
}

/// A longest-prefix-match FIB for one family (`Fib<u32>` for IPv4, `Fib<u128>` for
/// IPv6), single-threaded: updates patch the compiled structure in place. For readers
/// concurrent with a writer use [`SharedFib`](super::SharedFib). Leaves are 16-bit
/// [`NextHop`]s unless `L` says otherwise ([`SlabIndex`](super::SlabIndex)).
///
/// Guarantees: after every successful call, [`Fib::lookup`] answers exactly as a
/// longest-match scan over the prefixes inserted and not removed; a call that returns an
/// error has changed nothing.
#[derive(Clone, Debug)]
pub struct Fib<K: Key, L: Leaf = NextHop> {
    rib: Rib<K, L>,
    lpm: Lpm<K, L>,
}

impl<K: Key, L: Leaf> Default for Fib<K, L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key, L: Leaf> Fib<K, L> {
    /// An empty FIB.
    pub fn new() -> Self {
        Fib {
            rib: Rib::new(),
            lpm: Lpm::empty(),
        }
    }

    /// Bulk load: validates every route, then compiles once (later duplicates win).
    ///
    /// # Errors
    /// The first invalid prefix; nothing is built then.
    pub fn from_routes(routes: impl IntoIterator<Item = (K, u8, L)>) -> Result<Self, FibError> {
        let rib = collect_routes(routes)?;
        let lpm = Lpm::build(&rib);
        Ok(Fib { rib, lpm })
    }

    /// Adds `addr/len` or changes its next hop; returns the previous next hop.
    ///
    /// # Errors
    /// [`FibError::PrefixLength`] or [`FibError::NonCanonical`]; nothing changes then.
    pub fn insert(&mut self, addr: K, len: u8, nh: L) -> Result<Option<L>, FibError> {
        check(addr, len)?;
        let old = self.rib.insert(addr, len, nh);
        if old != Some(nh) {
            self.lpm.patch(&self.rib, addr, len);
        }
        Ok(old)
    }

    /// Deletes `addr/len`; returns its next hop if it was present.
    ///
    /// # Errors
    /// [`FibError::PrefixLength`] or [`FibError::NonCanonical`]; nothing changes then.
    pub fn remove(&mut self, addr: K, len: u8) -> Result<Option<L>, FibError> {
        check(addr, len)?;
        let old = self.rib.remove(addr, len);
        if old.is_some() {
            self.lpm.patch(&self.rib, addr, len);
        }
        Ok(old)
    }

    /// Applies `ops` in order, after validating all of them.
    ///
    /// # Errors
    /// The first invalid op; nothing changes then.
    pub fn apply(&mut self, ops: &[FibOp<K, L>]) -> Result<(), FibError> {
        ops.iter().try_for_each(FibOp::check)?;
        for op in ops {
            if op.apply_rib(&mut self.rib) {
                let (a, l) = op.prefix();
                self.lpm.patch(&self.rib, a, l);
            }
        }
        Ok(())
    }

    /// Recompiles the whole structure from the prefix set (after heavy churn; also done
    /// automatically when replaced parts exceed half of the live bytes).
    pub fn rebuild(&mut self) {
        self.lpm = Lpm::build(&self.rib);
    }

    /// The next hop of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: K) -> Option<L> {
        self.lpm.lookup(addr)
    }

    /// Batch lookup; see [`Lpm::lookup_batch`].
    #[inline]
    pub fn lookup_batch(&self, addrs: &[K], out: &mut [Option<L>]) {
        self.lpm.lookup_batch(addrs, out)
    }

    /// Exact match: the next hop stored for `addr/len`.
    pub fn get(&self, addr: K, len: u8) -> Option<L> {
        self.rib
            .map
            .get(&(addr, len))
            .copied()
            .and_then(L::from_enc)
    }

    /// The prefixes, in (address, length) order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u8, L)> + '_ {
        self.rib
            .map
            .iter()
            .filter_map(|(&(a, l), &v)| L::from_enc(v).map(|nh| (a, l, nh)))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.rib.map.len()
    }

    /// True if no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.rib.map.is_empty()
    }

    /// The compiled structure.
    pub fn lpm(&self) -> &Lpm<K, L> {
        &self.lpm
    }

    /// Heap bytes of the compiled lookup structure.
    pub fn memory_bytes(&self) -> usize {
        self.lpm.memory_bytes()
    }

    /// Estimated heap bytes of the writer-side prefix set (not touched by lookups).
    pub fn rib_memory_bytes(&self) -> usize {
        self.rib.memory_bytes()
    }
}
