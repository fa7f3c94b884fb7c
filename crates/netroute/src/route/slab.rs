//! The rtentry slab: entries live in [`psref::Slot`]s addressed by a small index (what
//! the FIB stores instead of a pointer), in chunks allocated once and never moved, as
//! `ifnet`'s index array.
//!
//! Index reuse rule: an index goes back on the free list only after its previous entry
//! was destroyed (synchronize + drain), so no reader can find a different route at an
//! index it got from a FIB snapshot; caches additionally compare the entry id.

use std::sync::OnceLock;

use psref::Slot;

const CHUNK: usize = 256;

/// One chunk of slots, allocated on first use.
type Chunk<T> = OnceLock<Box<[Slot<T>]>>;

/// A fixed-capacity array of slots, allocated chunk by chunk.
pub(crate) struct Slab<T> {
    chunks: Box<[Chunk<T>]>,
    capacity: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            chunks: (0..capacity.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
            capacity,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slot `i` if its chunk exists (readers).
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<&Slot<T>> {
        let i = i as usize;
        if i >= self.capacity {
            return None;
        }
        self.chunks[i / CHUNK].get().map(|c| &c[i % CHUNK])
    }

    /// Slot `i`, creating its chunk (writers).
    pub(crate) fn get_or_create(&self, i: u32) -> Option<&Slot<T>> {
        let i = i as usize;
        if i >= self.capacity {
            return None;
        }
        let c = self.chunks[i / CHUNK].get_or_init(|| (0..CHUNK).map(|_| Slot::empty()).collect());
        Some(&c[i % CHUNK])
    }
}
