//! The FIB: a compiled longest-prefix-match structure per family.
//!
//! (Design notes and measured figures: see the end of this comment once filled in.)

mod key;
mod lpm;
mod rib;
mod shared;
mod table;

pub use key::Key;
pub use lpm::Lpm;
pub use shared::{ApplyReport, SharedFib};
pub use table::{Fib, FibOp};

use std::num::NonZeroU16;

/// A next hop: an index into the routing table's next-hop (rtentry) slab.
///
/// Guarantees: the index is at most [`NextHop::MAX`]; `Option<NextHop>` is two bytes
/// (the leaf encoding of the compiled structure, 0 meaning "no route").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHop(NonZeroU16);

impl NextHop {
    /// The largest index a next hop can carry (65,534).
    pub const MAX: u32 = u16::MAX as u32 - 1;

    /// A next hop for slab index `index`.
    ///
    /// # Errors
    /// [`FibError::NextHopOverflow`] if `index > NextHop::MAX`.
    pub fn new(index: u32) -> Result<Self, FibError> {
        if index > Self::MAX {
            return Err(FibError::NextHopOverflow { index });
        }
        // index + 1 is in 1..=u16::MAX.
        NonZeroU16::new(index as u16 + 1)
            .map(NextHop)
            .ok_or(FibError::NextHopOverflow { index })
    }

    /// The slab index.
    #[inline]
    pub fn index(self) -> u16 {
        self.0.get() - 1
    }

    /// The leaf encoding (index + 1).
    #[inline(always)]
    pub(crate) fn enc(self) -> u16 {
        self.0.get()
    }

    /// From the leaf encoding (0 = no route).
    #[inline(always)]
    pub(crate) fn from_enc(enc: u16) -> Option<Self> {
        NonZeroU16::new(enc).map(NextHop)
    }
}

/// Bad input to the FIB. Every operation that returns it has changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    /// The prefix length exceeds the family's address width.
    #[error("prefix length /{len} out of range (at most /{max})")]
    PrefixLength {
        /// The length given.
        len: u8,
        /// The family's maximum (32 or 128).
        max: u8,
    },
    /// The address has bits set beyond the prefix length.
    #[error("non-canonical prefix {addr}/{len}: host bits set")]
    NonCanonical {
        /// The address given, as text.
        addr: String,
        /// The length given.
        len: u8,
    },
    /// The next-hop index does not fit the compiled leaves.
    #[error("next-hop index {index} exceeds the maximum {}", NextHop::MAX)]
    NextHopOverflow {
        /// The index given.
        index: u32,
    },
}

#[cfg(test)]
mod tests;
