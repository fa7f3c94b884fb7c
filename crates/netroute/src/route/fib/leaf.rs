//! Leaf types: what a compiled FIB answers. [`NextHop`](super::NextHop) (16-bit, the
//! standalone FIB's next-hop index) or [`SlabIndex`] (30-bit, the routing table's rtentry
//! slab index, one per prefix).

use std::fmt::Debug;
use std::hash::Hash;
use std::num::NonZeroU32;

use super::{FibError, NextHop};

pub(crate) mod sealed {
    use std::fmt::Debug;
    use std::hash::Hash;

    /// The in-structure encoding of a leaf: an unsigned integer, 0 meaning "no route".
    pub trait Enc: Copy + Eq + Ord + Hash + Default + Debug + Send + Sync + 'static {
        /// Widened (lossless).
        fn to_u64(self) -> u64;
        /// Narrowed (keeps the low bits).
        fn from_u64(v: u64) -> Self;
        /// The atomic cell storing one value in the IPv4 leaf arena, which the writer
        /// fills while readers read other parts of it (`lpm.rs`).
        type Cell: Default + Debug + Send + Sync + 'static;
        /// Relaxed load (readers reach the cell only through a publication that
        /// ordered its store before them).
        fn load(c: &Self::Cell) -> Self;
        /// Relaxed store.
        fn store(c: &Self::Cell, v: Self);
    }

    impl Enc for u16 {
        type Cell = std::sync::atomic::AtomicU16;
        #[inline(always)]
        fn load(c: &Self::Cell) -> Self {
            c.load(std::sync::atomic::Ordering::Relaxed)
        }
        #[inline(always)]
        fn store(c: &Self::Cell, v: Self) {
            c.store(v, std::sync::atomic::Ordering::Relaxed)
        }
        #[inline(always)]
        fn to_u64(self) -> u64 {
            u64::from(self)
        }
        #[inline(always)]
        fn from_u64(v: u64) -> Self {
            v as u16
        }
    }

    impl Enc for u32 {
        type Cell = std::sync::atomic::AtomicU32;
        #[inline(always)]
        fn load(c: &Self::Cell) -> Self {
            c.load(std::sync::atomic::Ordering::Relaxed)
        }
        #[inline(always)]
        fn store(c: &Self::Cell, v: Self) {
            c.store(v, std::sync::atomic::Ordering::Relaxed)
        }
        #[inline(always)]
        fn to_u64(self) -> u64 {
            u64::from(self)
        }
        #[inline(always)]
        fn from_u64(v: u64) -> Self {
            v as u32
        }
    }

    /// The encoding side of a leaf type (crate-internal).
    pub trait Sealed: Copy {
        /// The stored form (`u16` or `u32`).
        type Enc: Enc;
        /// Bits of the stored form (16 or 32).
        const WIDTH: u32;
        /// Leaves kept inline in a leaf-only node (in `base0` and the low 31 bits of
        /// `base1`): 3 of 16 bits, 2 of 30 bits.
        const INLINE_MAX: usize;
        /// The stored form (never 0).
        fn enc(self) -> Self::Enc;
        /// From the stored form (0 = no route).
        fn from_enc(e: Self::Enc) -> Option<Self>;
    }
}

/// A leaf type of the compiled structure (sealed: [`NextHop`] and [`SlabIndex`]).
///
/// The structure is generic over it so that the standalone FIB keeps its 16-bit leaves
/// (and its memory figures) while the routing table stores a full slab index per prefix
/// (see the module docs, "Leaves", for the measured cost).
pub trait Leaf: sealed::Sealed + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    /// The largest index the type carries.
    const MAX: u32;

    /// The leaf for `index`.
    ///
    /// # Errors
    /// [`FibError::NextHopOverflow`] or [`FibError::SlabIndexOverflow`] if
    /// `index > Self::MAX`.
    fn from_index(index: u32) -> Result<Self, FibError>;

    /// The index.
    fn to_index(self) -> u32;
}

impl sealed::Sealed for NextHop {
    type Enc = u16;
    const WIDTH: u32 = 16;
    const INLINE_MAX: usize = 3;
    #[inline(always)]
    fn enc(self) -> u16 {
        NextHop::enc(self)
    }
    #[inline(always)]
    fn from_enc(e: u16) -> Option<Self> {
        NextHop::from_enc(e)
    }
}

impl Leaf for NextHop {
    const MAX: u32 = NextHop::MAX;
    fn from_index(index: u32) -> Result<Self, FibError> {
        NextHop::new(index)
    }
    fn to_index(self) -> u32 {
        u32::from(self.index())
    }
}

/// An index into the routing table's rtentry slab, as a FIB leaf: 30 bits (the direct
/// table's leaf payload), at most [`SlabIndex::MAX`].
///
/// Guarantees: `Option<SlabIndex>` is four bytes; the stored encoding is index + 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlabIndex(NonZeroU32);

impl SlabIndex {
    /// The largest index (`2^30 - 2`; the encoding index + 1 must fit in 30 bits).
    pub const MAX: u32 = (1 << 30) - 2;

    /// The leaf for slab index `index`.
    ///
    /// # Errors
    /// [`FibError::SlabIndexOverflow`] if `index > SlabIndex::MAX`.
    pub fn new(index: u32) -> Result<Self, FibError> {
        if index > Self::MAX {
            return Err(FibError::SlabIndexOverflow { index });
        }
        NonZeroU32::new(index + 1)
            .map(SlabIndex)
            .ok_or(FibError::SlabIndexOverflow { index })
    }

    /// The slab index.
    #[inline]
    pub fn index(self) -> u32 {
        self.0.get() - 1
    }
}

impl sealed::Sealed for SlabIndex {
    type Enc = u32;
    const WIDTH: u32 = 32;
    const INLINE_MAX: usize = 2;
    #[inline(always)]
    fn enc(self) -> u32 {
        self.0.get()
    }
    #[inline(always)]
    fn from_enc(e: u32) -> Option<Self> {
        NonZeroU32::new(e).map(SlabIndex)
    }
}

impl Leaf for SlabIndex {
    const MAX: u32 = SlabIndex::MAX;
    fn from_index(index: u32) -> Result<Self, FibError> {
        SlabIndex::new(index)
    }
    fn to_index(self) -> u32 {
        self.index()
    }
}
