//! The FIB seam: prefix → slab index, longest match, published RCU-style.
//!
//! NetBSD matches in the radix tree under `rt_lock`. Here readers load an immutable
//! snapshot from a [`psref::Slot`] inside their read section; the writer builds the next
//! snapshot with a batch of changes and republishes it, freeing the old one after a
//! synchronize. [`Fib`] is the whole contract: the compiled LPM (`route/fib/`) replaces
//! [`HashFib`] by implementing it and changing [`DefaultFib`], without touching callers.

use std::collections::HashMap;
use std::sync::Arc;

use super::Afi;

/// A published longest-prefix-match snapshot.
///
/// Guarantees required of implementations: [`lookup`](Self::lookup) returns the index
/// stored for the longest prefix containing the address; [`with_changes`] leaves `self`
/// untouched (readers may still use it) and applies the changes in order.
///
/// [`with_changes`]: Self::with_changes
pub(crate) trait Fib<P: Afi>: Send + Sync + Sized + 'static {
    /// The empty FIB.
    fn empty() -> Self;
    /// The index of the longest prefix containing `addr`.
    fn lookup(&self, addr: P::Addr) -> Option<u32>;
    /// A new snapshot: `Some(i)` sets the prefix's index, `None` removes it.
    fn with_changes(&self, changes: &[(P, Option<u32>)]) -> Self;
}

/// The FIB the tables use.
pub(crate) type DefaultFib<P> = HashFib<P>;

/// The simple, obviously correct FIB: one hash map per prefix length, probed from the
/// longest non-empty length down. An update copies the maps of the lengths it touches
/// (copy-on-write per length), so it costs O(routes of those lengths): fine for the
/// tests and small tables, replaced by the compiled FIB for full tables.
pub(crate) struct HashFib<P: Afi> {
    /// Non-empty lengths, longest first.
    lens: Vec<u8>,
    /// Indexed by prefix length.
    maps: Vec<Arc<HashMap<P, u32>>>,
}

impl<P: Afi> Fib<P> for HashFib<P> {
    fn empty() -> Self {
        Self {
            lens: Vec::new(),
            maps: (0..=P::MAX_LEN).map(|_| Arc::new(HashMap::new())).collect(),
        }
    }

    fn lookup(&self, addr: P::Addr) -> Option<u32> {
        self.lens.iter().find_map(|&len| {
            let key = P::new_truncating(addr, len).ok()?;
            self.maps[len as usize].get(&key).copied()
        })
    }

    fn with_changes(&self, changes: &[(P, Option<u32>)]) -> Self {
        let mut maps = self.maps.clone();
        for (p, idx) in changes {
            let m = Arc::make_mut(&mut maps[p.prefix_len() as usize]);
            match idx {
                Some(i) => {
                    m.insert(*p, *i);
                }
                None => {
                    m.remove(p);
                }
            }
        }
        let mut lens: Vec<u8> = (0..=P::MAX_LEN)
            .rev()
            .filter(|&l| !maps[l as usize].is_empty())
            .collect();
        lens.shrink_to_fit();
        Self { lens, maps }
    }
}
