//! Loading the RIPE RIS tables and update streams from `../shared/data` (shared between
//! the FIB tests and benchmarks). Files are gzipped text; `gzip -dc` decompresses them so
//! the project needs no decompression dependency.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

/// `CARGO_MANIFEST_DIR/../../../shared/data`, if present.
pub fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    d.join("ris-rrc00-as3333-20260511-table-v4.txt.gz")
        .exists()
        .then_some(d)
}

fn read_gz(name: &str) -> Option<String> {
    let path = data_dir()?.join(name);
    let out = Command::new("gzip").arg("-dc").arg(&path).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// Parses `addr/len` for a family.
pub trait Family: Copy + Ord + std::hash::Hash + std::fmt::Debug {
    /// Parses a CIDR string.
    fn parse(s: &str) -> Option<(Self, u8)>;
    /// File-name tag.
    const TAG: &'static str;
}

impl Family for u32 {
    fn parse(s: &str) -> Option<(u32, u8)> {
        let (a, l) = s.split_once('/')?;
        Some((u32::from(a.parse::<Ipv4Addr>().ok()?), l.parse().ok()?))
    }
    const TAG: &'static str = "v4";
}

impl Family for u128 {
    fn parse(s: &str) -> Option<(u128, u8)> {
        let (a, l) = s.split_once('/')?;
        Some((u128::from(a.parse::<Ipv6Addr>().ok()?), l.parse().ok()?))
    }
    const TAG: &'static str = "v6";
}

/// The full table of a family.
pub fn table<K: Family>() -> Option<Vec<(K, u8)>> {
    let text = read_gz(&format!(
        "ris-rrc00-as3333-20260511-table-{}.txt.gz",
        K::TAG
    ))?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| K::parse(l.split_whitespace().next()?))
            .collect(),
    )
}

/// The update stream of a family: `(announce?, prefix)` in time order.
pub fn updates<K: Family>() -> Option<Vec<(bool, K, u8)>> {
    let text = read_gz(&format!(
        "ris-rrc00-as3333-20260511-updates-{}.txt.gz",
        K::TAG
    ))?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (op, p) = l.split_once(' ')?;
                let (a, len) = K::parse(p.trim())?;
                Some((op == "A", a, len))
            })
            .collect(),
    )
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Deterministic next hop in `1..=512` for a prefix (FreeBSD fib_algo tests use ~500).
pub fn nh_of(h: u64) -> u32 {
    let mut r = Rng(h);
    1 + (r.next_u64() % 512) as u32
}

/// A random address inside the prefix `(a, len)` (u32 or u128 via the closure).
pub fn in_prefix_v4(r: &mut Rng, a: u32, len: u8) -> u32 {
    let host = if len == 32 { 0 } else { u32::MAX >> len };
    a | (r.next_u64() as u32 & host)
}

/// Same for IPv6.
pub fn in_prefix_v6(r: &mut Rng, a: u128, len: u8) -> u128 {
    let host = if len == 128 { 0 } else { u128::MAX >> len };
    let x = (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64());
    a | (x & host)
}

/// The hash the FIB tests and benchmarks derive next hops from (std's `DefaultHasher`
/// with its fixed keys: the same value in every run).
pub fn h<T: std::hash::Hash>(x: T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(x)
}

/// A next hop for hash `x` (see [`nh_of`]).
pub fn nh(x: u64) -> netroute::route::fib::NextHop {
    netroute::route::fib::NextHop::new(nh_of(x)).expect("nh_of is at most 512")
}

/// The update stream as FIB ops. Announcements get a next hop hashed from (prefix,
/// position in the stream), so nearly every announcement changes the FIB (pessimistic).
pub fn replay_ops<K: Family + netroute::route::fib::Key>(
    updates: &[(bool, K, u8)],
) -> Vec<netroute::route::fib::FibOp<K>> {
    use netroute::route::fib::FibOp;
    updates
        .iter()
        .enumerate()
        .map(|(i, &(ann, addr, len))| {
            if ann {
                FibOp::Insert {
                    addr,
                    len,
                    nh: nh(h((addr, len, i))),
                }
            } else {
                FibOp::Remove { addr, len }
            }
        })
        .collect()
}
