//! Deterministic synthetic Internet routing tables and update streams with the shape of the
//! real 2026 tables, for the default `netroute demo`, tests and benchmarks on machines
//! that do not have the RIPE RIS files.
//!
//! Shape (counted from RIPE RIS rrc00, peer AS3333, 2026-05-11; `shared/data/README.md`):
//! the prefix-length histograms below exactly (1,042,325 IPv4 and 246,175 IPv6 prefixes at
//! scale 1.0), and nesting: about half of the IPv4 prefixes lie inside a shorter prefix of
//! the table. Prefixes are placed in the unicast space (IPv4 1/8–223/8 without 10/8 and
//! 127/8; IPv6 inside the 2000::/3 blocks the registries allocate from) and a share of
//! each length is carved out of an already generated shorter prefix, as deaggregation
//! does. The same seed gives the same table on every machine (SplitMix64, no dependency on
//! hash iteration order).
//!
//! No NetBSD counterpart: this is test and demo data.
#![forbid(unsafe_code)]

use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 prefix-length histogram of the RIS table: (length, count).
pub const V4_HISTOGRAM: &[(u8, u32)] = &[
    (8, 16),
    (9, 14),
    (10, 39),
    (11, 95),
    (12, 297),
    (13, 584),
    (14, 1201),
    (15, 2129),
    (16, 13635),
    (17, 8347),
    (18, 13387),
    (19, 25516),
    (20, 45627),
    (21, 52463),
    (22, 113741),
    (23, 107869),
    (24, 657365),
];

/// IPv6 prefix-length histogram of the RIS table: (length, count).
pub const V6_HISTOGRAM: &[(u8, u32)] = &[
    (16, 1),
    (19, 1),
    (20, 14),
    (21, 3),
    (22, 6),
    (23, 6),
    (24, 42),
    (25, 12),
    (26, 17),
    (27, 18),
    (28, 161),
    (29, 5435),
    (30, 827),
    (31, 341),
    (32, 26740),
    (33, 5407),
    (34, 5197),
    (35, 1837),
    (36, 9424),
    (37, 1208),
    (38, 2677),
    (39, 1829),
    (40, 23096),
    (41, 1697),
    (42, 2924),
    (43, 1453),
    (44, 24860),
    (45, 4511),
    (46, 5640),
    (47, 8925),
    (48, 111866),
];

/// Share of each length carved out of a shorter prefix already in the table; the rest is
/// placed outside covered space where it can be, so about half of the table is nested,
/// as in the RIS data (checked by the tests).
const CARVE_SHARE: f64 = 0.47;

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

fn scaled(count: u32, scale: f64) -> usize {
    ((f64::from(count) * scale).round() as usize).max(usize::from(count > 0 && scale > 0.0))
}

fn mask_u32(x: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        x & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask_u128(x: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        x & (u128::MAX << (128 - u32::from(len)))
    }
}

/// Shared generator: lengths ascending, each prefix either carved out of an earlier,
/// shorter one or placed at random, duplicates retried.
fn generate<T: Copy + Eq + std::hash::Hash>(
    histogram: &[(u8, u32)],
    scale: f64,
    rng: &mut SplitMix64,
    random_base: &mut dyn FnMut(&mut SplitMix64) -> T,
    mask: &dyn Fn(T, u8) -> T,
    extend: &dyn Fn(T, u8, u8, &mut SplitMix64) -> T,
) -> Vec<(T, u8)> {
    let total: usize = histogram.iter().map(|&(_, c)| scaled(c, scale)).sum();
    let mut out: Vec<(T, u8)> = Vec::with_capacity(total);
    let mut seen: HashSet<(T, u8), foldhash::fast::FixedState> =
        HashSet::with_capacity_and_hasher(total, foldhash::fast::FixedState::with_seed(0));
    for &(len, count) in histogram {
        let shorter = out.len();
        let want = scaled(count, scale);
        let mut made = 0;
        let mut attempts = 0usize;
        while made < want {
            attempts += 1;
            let base = if shorter > 0 && (rng.unit() < CARVE_SHARE || attempts > want * 50) {
                let (p, plen) = out[rng.below(shorter as u64) as usize];
                extend(p, plen, len, rng)
            } else {
                // Random placement avoids space already covered (a few tries), so that
                // nesting comes from carving, as in the real table, not from chance.
                let mut b = mask(random_base(rng), len);
                for _ in 0..16 {
                    let covered = histogram
                        .iter()
                        .take_while(|&&(l, _)| l < len)
                        .any(|&(l, _)| seen.contains(&(mask(b, l), l)));
                    if !covered {
                        break;
                    }
                    b = mask(random_base(rng), len);
                }
                b
            };
            let key = (mask(base, len), len);
            if seen.insert(key) {
                out.push(key);
                made += 1;
            }
        }
    }
    out
}

/// A synthetic IPv4 table: `scale` 1.0 gives the full 1,042,325 prefixes, smaller scales
/// the same histogram shrunk (each non-empty length keeps at least one prefix).
pub fn ipv4_table(seed: u64, scale: f64) -> Vec<Ipv4Net> {
    let mut rng = SplitMix64::new(seed ^ 0x4_0000);
    let mut random_base = |r: &mut SplitMix64| loop {
        let a = (r.next_u64() >> 32) as u32;
        let first = a >> 24;
        if (1..=223).contains(&first) && first != 10 && first != 127 {
            return a;
        }
    };
    let extend = |p: u32, plen: u8, len: u8, r: &mut SplitMix64| {
        let host = (r.next_u64() >> 32) as u32;
        let keep = if plen == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(plen))
        };
        mask_u32((p & keep) | (host & !keep), len)
    };
    generate(
        V4_HISTOGRAM,
        scale,
        &mut rng,
        &mut random_base,
        &mask_u32,
        &extend,
    )
    .into_iter()
    .map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).expect("length from the histogram is valid"))
    .collect()
}

/// Allocated IPv6 /12-ish blocks the synthetic table draws from (registries' 2000::/3
/// space: 2001::/16, 2400::/12, 2600::/12, 2800::/12, 2a00::/12, 2c00::/12), with weights.
const V6_BLOCKS: &[(u16, u16, u32)] = &[
    (0x2001, 0xffff, 10),
    (0x2400, 0xfff0, 20),
    (0x2600, 0xfff0, 25),
    (0x2800, 0xfff0, 10),
    (0x2a00, 0xfff0, 33),
    (0x2c00, 0xfff0, 2),
];

/// A synthetic IPv6 table: `scale` 1.0 gives the full 246,175 prefixes.
pub fn ipv6_table(seed: u64, scale: f64) -> Vec<Ipv6Net> {
    let mut rng = SplitMix64::new(seed ^ 0x6_0000);
    let weight_total: u32 = V6_BLOCKS.iter().map(|b| b.2).sum();
    // Registries hand out /32s (and /29s) to operators, who number their subnets from the
    // bottom: random prefixes are drawn inside a pool of allocations, with small subnet
    // numbers most of the time, so that long prefixes cluster as in the real table.
    let allocations: Vec<u128> = (0..60_000)
        .map(|_| {
            let mut w = rng.below(u64::from(weight_total)) as u32;
            let mut block = V6_BLOCKS[0];
            for b in V6_BLOCKS {
                if w < b.2 {
                    block = *b;
                    break;
                }
                w -= b.2;
            }
            let top = (block.0 & block.1) | ((rng.next_u64() as u16) & !block.1);
            (u128::from(top) << 112) | (u128::from(rng.next_u64() as u16) << 96)
        })
        .collect();
    let mut random_base = |r: &mut SplitMix64| {
        let alloc = allocations[r.below(allocations.len() as u64) as usize];
        let subnet = if r.unit() < 0.8 {
            r.below(256)
        } else {
            r.below(65_536)
        };
        alloc
            | (u128::from(subnet as u16) << 80)
            | (u128::from(r.next_u64()) & 0xffff_ffff_ffff_ffff)
    };
    let extend = |p: u128, plen: u8, len: u8, r: &mut SplitMix64| {
        let host = (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64());
        let keep = if plen == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(plen))
        };
        mask_u128((p & keep) | (host & !keep), len)
    };
    generate(
        V6_HISTOGRAM,
        scale,
        &mut rng,
        &mut random_base,
        &mask_u128,
        &extend,
    )
    .into_iter()
    .map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).expect("length from the histogram is valid"))
    .collect()
}

/// One operation of an update stream (the `A prefix` / `W prefix` lines of the RIS files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update<N> {
    /// Announce (add, or re-announce an existing prefix).
    Announce(N),
    /// Withdraw a prefix that is in the table at that point of the stream.
    Withdraw(N),
}

/// A deterministic update stream over `table` with the mix of the RIS 24 h streams: mostly
/// re-announcements of existing prefixes, withdrawals of present prefixes and
/// re-announcements of withdrawn ones. Every withdrawal names a prefix present at that
/// point if the stream is applied in order to `table`.
pub fn updates<N: Copy>(table: &[N], seed: u64, count: usize) -> Vec<Update<N>> {
    let mut rng = SplitMix64::new(seed ^ 0x0u64.wrapping_sub(1));
    let mut present: Vec<bool> = vec![true; table.len()];
    let mut withdrawn: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(count);
    if table.is_empty() {
        return out;
    }
    while out.len() < count {
        let r = rng.unit();
        if r < 0.3 && !withdrawn.is_empty() {
            let k = rng.below(withdrawn.len() as u64) as usize;
            let i = withdrawn.swap_remove(k);
            present[i] = true;
            out.push(Update::Announce(table[i]));
        } else if r < 0.6 {
            let i = rng.below(table.len() as u64) as usize;
            if present[i] {
                present[i] = false;
                withdrawn.push(i);
                out.push(Update::Withdraw(table[i]));
            }
        } else {
            let i = rng.below(table.len() as u64) as usize;
            if present[i] {
                out.push(Update::Announce(table[i]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_share_v4(t: &[Ipv4Net]) -> f64 {
        let set: HashSet<(u32, u8)> = t
            .iter()
            .map(|n| (u32::from(n.network()), n.prefix_len()))
            .collect();
        let nested = t
            .iter()
            .filter(|n| {
                let a = u32::from(n.network());
                (0..n.prefix_len()).any(|l| set.contains(&(mask_u32(a, l), l)))
            })
            .count();
        nested as f64 / t.len() as f64
    }

    #[test]
    fn v4_histogram_is_exact_and_prefixes_unique_and_canonical() {
        let t = ipv4_table(1, 0.05);
        let mut by_len = std::collections::BTreeMap::new();
        for n in &t {
            assert_eq!(n.network(), n.addr(), "{n} is not canonical");
            let first = n.addr().octets()[0];
            assert!(
                (1..=223).contains(&first) && first != 10 && first != 127,
                "{n}"
            );
            *by_len.entry(n.prefix_len()).or_insert(0usize) += 1;
        }
        for &(len, count) in V4_HISTOGRAM {
            assert_eq!(
                by_len.get(&len).copied().unwrap_or(0),
                scaled(count, 0.05),
                "/{len}"
            );
        }
        let unique: HashSet<_> = t.iter().collect();
        assert_eq!(unique.len(), t.len());
    }

    #[test]
    fn v4_about_half_is_nested() {
        let share = nested_share_v4(&ipv4_table(7, 0.1));
        assert!((0.4..=0.6).contains(&share), "nested share {share}");
    }

    #[test]
    fn v6_histogram_is_exact_and_inside_2000_3() {
        let t = ipv6_table(3, 0.1);
        let total: usize = V6_HISTOGRAM.iter().map(|&(_, c)| scaled(c, 0.1)).sum();
        assert_eq!(t.len(), total);
        for n in &t {
            assert_eq!(n.network(), n.addr());
            assert_eq!(n.addr().segments()[0] >> 13, 1, "{n} outside 2000::/3");
        }
        let unique: HashSet<_> = t.iter().collect();
        assert_eq!(unique.len(), t.len());
    }

    #[test]
    fn full_scale_counts_match_the_ris_tables() {
        assert_eq!(V4_HISTOGRAM.iter().map(|h| h.1).sum::<u32>(), 1_042_325);
        assert_eq!(V6_HISTOGRAM.iter().map(|h| h.1).sum::<u32>(), 246_175);
    }

    #[test]
    fn deterministic() {
        assert_eq!(ipv4_table(42, 0.01), ipv4_table(42, 0.01));
        assert_ne!(ipv4_table(42, 0.01), ipv4_table(43, 0.01));
        assert_eq!(ipv6_table(42, 0.01), ipv6_table(42, 0.01));
    }

    #[test]
    fn withdrawals_name_present_prefixes() {
        let t = ipv4_table(5, 0.01);
        let mut present: HashSet<Ipv4Net> = t.iter().copied().collect();
        let u = updates(&t, 9, 20_000);
        assert_eq!(u.len(), 20_000);
        let (mut a, mut w) = (0, 0);
        for op in u {
            match op {
                Update::Announce(n) => {
                    present.insert(n);
                    a += 1;
                }
                Update::Withdraw(n) => {
                    assert!(present.remove(&n), "withdrew absent {n}");
                    w += 1;
                }
            }
        }
        assert!(a > 0 && w > 0);
    }
}
