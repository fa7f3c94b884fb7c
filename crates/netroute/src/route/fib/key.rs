//! Address families as key types: `u32` (IPv4) and `u128` (IPv6), host byte order, most
//! significant bit first (bit 0 of a prefix is the top bit of the integer).

use std::fmt::Debug;
use std::hash::Hash;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
}

/// An address family's key: the address as an unsigned integer in host byte order
/// (`u32::from(Ipv4Addr)`, `u128::from(Ipv6Addr)`).
///
/// Sealed: implemented for `u32` (IPv4) and `u128` (IPv6) only. The constants fix the
/// shape of the compiled structure per family (see the module docs for why).
pub trait Key: sealed::Sealed + Copy + Ord + Eq + Hash + Debug + Send + Sync + 'static {
    /// Address width in bits (32 or 128); prefix lengths run `0..=BITS`.
    const BITS: u8;
    /// Bits resolved by the direct-pointing top table (`2^DIRECT_BITS` entries).
    const DIRECT_BITS: u32;
    /// Whether chunks whose prefixes all end within the first stride below the direct
    /// table are stored as one leaf-only record (see the module docs).
    const COMPACT: bool;
    /// Whether the family compiles to the range-search structure (`ranges.rs`, IPv6)
    /// rather than the Poptrie (IPv4); see the module docs for why.
    const RANGES: bool;
    /// The all-zero address.
    const ZERO: Self;

    /// The network mask of a prefix of length `len` (`len <= BITS`).
    fn mask(len: u8) -> Self;
    /// Bitwise and.
    fn and(self, other: Self) -> Self;
    /// Bitwise or with the complement of `mask(len)`: the last address of the prefix.
    fn last(self, len: u8) -> Self;
    /// The top `n` bits (`n <= 32`) as an index.
    fn top(self, n: u32) -> usize;
    /// Six bits starting at bit `off` (from the top), zero-padded past the end.
    fn stride(self, off: u32) -> usize;
    /// The address whose top `n` bits are `idx` and whose other bits are zero.
    fn from_top(idx: usize, n: u32) -> Self;
    /// The 32 bits starting at bit `off` (from the top), zero-padded past the end.
    fn window(self, off: u32) -> u32;
    /// The address in its usual text form (dotted quad or RFC 5952).
    fn to_text(self) -> String;
    /// Number of leading bits `self` and `other` share (`BITS` if equal).
    fn common_prefix(self, other: Self) -> u32;
}

impl Key for u32 {
    const BITS: u8 = 32;
    const DIRECT_BITS: u32 = 18;
    const COMPACT: bool = true;
    const RANGES: bool = false;
    const ZERO: Self = 0;

    #[inline(always)]
    fn mask(len: u8) -> Self {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }
    #[inline(always)]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline(always)]
    fn last(self, len: u8) -> Self {
        self | !Self::mask(len)
    }
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (32 - n)) as usize
    }
    #[inline(always)]
    fn stride(self, off: u32) -> usize {
        // Six bits at `off`, padded with zeros: shift a 64-bit copy so that bit `off`
        // lands at bit 5 of the result.
        ((((self as u64) << 6) >> (32 - off)) & 63) as usize
    }
    #[inline(always)]
    fn from_top(idx: usize, n: u32) -> Self {
        if n == 0 { 0 } else { (idx as u32) << (32 - n) }
    }
    #[inline(always)]
    fn window(self, off: u32) -> u32 {
        if off >= 32 { 0 } else { self << off }
    }
    fn to_text(self) -> String {
        std::net::Ipv4Addr::from(self).to_string()
    }
    #[inline(always)]
    fn common_prefix(self, other: Self) -> u32 {
        (self ^ other).leading_zeros()
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    const DIRECT_BITS: u32 = 16;
    const COMPACT: bool = false;
    const RANGES: bool = true;
    const ZERO: Self = 0;

    #[inline(always)]
    fn mask(len: u8) -> Self {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        }
    }
    #[inline(always)]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline(always)]
    fn last(self, len: u8) -> Self {
        self | !Self::mask(len)
    }
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (128 - n)) as usize
    }
    #[inline(always)]
    fn stride(self, off: u32) -> usize {
        if off <= 122 {
            ((self >> (122 - off)) & 63) as usize
        } else {
            ((self << (off - 122)) & 63) as usize
        }
    }
    #[inline(always)]
    fn from_top(idx: usize, n: u32) -> Self {
        if n == 0 {
            0
        } else {
            (idx as u128) << (128 - n)
        }
    }
    #[inline(always)]
    fn window(self, off: u32) -> u32 {
        if off >= 128 {
            0
        } else {
            ((self << off) >> 96) as u32
        }
    }
    fn to_text(self) -> String {
        std::net::Ipv6Addr::from(self).to_string()
    }
    #[inline(always)]
    fn common_prefix(self, other: Self) -> u32 {
        (self ^ other).leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_v4() {
        let a: u32 = 0b1010_1100_0000_0000_0000_0000_0000_0011;
        assert_eq!(a.stride(0), 0b101011);
        assert_eq!(a.stride(30), 0b110000);
        assert_eq!(a.stride(26), 0b000011);
        assert_eq!(a.top(18), (a >> 14) as usize);
        assert_eq!(u32::from_top(3, 2), 0xC000_0000);
        assert_eq!(u32::mask(0), 0);
        assert_eq!(u32::mask(32), u32::MAX);
        assert_eq!(0x0A00_0000u32.last(8), 0x0AFF_FFFF);
    }

    #[test]
    fn strides_v6() {
        let a: u128 = (0b101011u128 << 122) | 0b11;
        assert_eq!(a.stride(0), 0b101011);
        assert_eq!(a.stride(126), 0b110000);
        assert_eq!(a.stride(122), 0b000011);
        assert_eq!(u128::mask(128), u128::MAX);
    }

    #[test]
    fn windows() {
        let a: u128 = 0x2001_0db8_1234_5678_9abc_def0_1122_3344;
        assert_eq!(a.window(16), 0x0db8_1234);
        assert_eq!(a.window(48), 0x5678_9abc);
        assert_eq!(a.window(112), 0x3344_0000);
        assert_eq!(a.window(128), 0);
        assert_eq!(0x0a0b_0c0du32.window(16), 0x0c0d_0000);
        assert_eq!(0x0a0b_0c0du32.window(32), 0);
    }
}
