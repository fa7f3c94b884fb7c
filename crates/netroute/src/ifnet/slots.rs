//! Index → object storage readable without locks: the `ifindex2ifnet[]` array of
//! sys/net/if.c, made of chunks that are allocated once and never moved.
//!
//! NetBSD grows `ifindex2ifnet` by allocating a larger array, copying, and freeing the old
//! one after the readers have gone. Here the table of chunk pointers has a fixed length
//! (the configured maximum divided by [`CHUNK`]) and each chunk is created on first use
//! through a [`OnceLock`], so a reader holding `&Slot` never sees it move or vanish: a
//! slot lives as long as the table.

use std::sync::OnceLock;

use psref::Slot;

/// Slots per chunk.
pub(crate) const CHUNK: usize = 64;

/// One chunk of slots, allocated on first use.
type Chunk<T> = OnceLock<Box<[Slot<T>]>>;

/// A fixed-capacity array of [`Slot`]s, allocated chunk by chunk.
pub(crate) struct Slots<T> {
    chunks: Box<[Chunk<T>]>,
    capacity: usize,
}

impl<T> Slots<T> {
    /// Room for `capacity` slots (numbered `0..capacity`); nothing is allocated yet
    /// beyond the chunk table.
    pub(crate) fn new(capacity: usize) -> Self {
        let n = capacity.div_ceil(CHUNK);
        Self {
            chunks: (0..n).map(|_| OnceLock::new()).collect(),
            capacity,
        }
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slot `i` if its chunk exists (readers: an absent chunk means an empty slot).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Slot<T>> {
        if i >= self.capacity {
            return None;
        }
        self.chunks[i / CHUNK].get().map(|c| &c[i % CHUNK])
    }

    /// The slot `i`, creating its chunk if needed (writers); `None` beyond capacity.
    pub(crate) fn get_or_create(&self, i: usize) -> Option<&Slot<T>> {
        if i >= self.capacity {
            return None;
        }
        let c = self.chunks[i / CHUNK].get_or_init(|| (0..CHUNK).map(|_| Slot::empty()).collect());
        Some(&c[i % CHUNK])
    }
}

impl<T> std::fmt::Debug for Slots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chunks = self.chunks.iter().filter(|c| c.get().is_some()).count();
        f.debug_struct("Slots")
            .field("capacity", &self.capacity)
            .field("chunks", &chunks)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_appear_on_demand_and_bounds_hold() {
        let s: Slots<u32> = Slots::new(100);
        assert_eq!(s.capacity(), 100);
        assert!(s.get(5).is_none());
        assert!(s.get_or_create(5).is_some());
        assert!(s.get(5).is_some_and(|x| x.is_empty()));
        assert!(s.get(70).is_none());
        assert!(s.get_or_create(99).is_some());
        assert!(s.get_or_create(100).is_none());
        assert!(s.get(100).is_none());
        let a = s.get(5).unwrap() as *const _;
        s.get_or_create(64);
        assert_eq!(a, s.get(5).unwrap() as *const _, "a slot never moves");
    }
}
