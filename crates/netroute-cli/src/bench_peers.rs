//! The other Rust LPM crates next to ours in `netroute bench` (issue 5's peer list):
//! ts_bart 0.6 (BART, a popcount-compressed multibit trie after Go's `bart`),
//! ip_network_table-deps-treebitmap 0.5 (Tree Bitmap), iptrie 0.11 (its level-compressed
//! LC-trie, the read-only form made by `compress()`) and poptrie 0.2 (another Poptrie).
//! prefix-trie, the anchor, stays in `bench.rs` where it has always been.
//!
//! Each peer gets the same routes (next hops `1..=500` as `u16`), is checked against
//! prefix-trie on 2,000 in-table addresses before anything is timed (a peer that
//! disagrees is reported on stderr and left out, not timed), and is measured like ours:
//! memory by the counting allocator around its build, build time, single-address
//! lookups in-table and uniform, dependent lookups. Every peer is called through a
//! generic function, so no dynamic dispatch is timed.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ip_network_table_deps_treebitmap::IpLookupTable;
use ipnet::IpNet;
use iptrie::{Ipv4Prefix, Ipv6Prefix};
use netroute::route::fib::NextHop;
use poptrie::Poptrie;

use crate::alloc_count;
use crate::bench::{Row, push, rate};

/// A built peer: longest match of an address to its `u16` next hop.
pub(crate) trait PeerLpm<K> {
    fn get(&self, a: K) -> Option<u16>;
}

/// The address conversions the peers' APIs need.
pub(crate) trait PeerKey: Copy {
    fn ip(self) -> IpAddr;
    fn net(self, len: u8) -> IpNet;
    /// Makes `self` depend on the previous answer without changing it (as `bench.rs`'s
    /// `Family::mix`): next hops are below 2^10, so the shift leaves 0, put in the top bit.
    fn mix_prev(self, prev: Option<u16>) -> Self;
}

impl PeerKey for u32 {
    fn ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    fn net(self, len: u8) -> IpNet {
        IpNet::new(self.ip(), len).expect("valid prefix length")
    }
    fn mix_prev(self, prev: Option<u16>) -> u32 {
        self ^ ((u32::from(prev.unwrap_or(0)) >> 12) << 31)
    }
}

impl PeerKey for u128 {
    fn ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    fn net(self, len: u8) -> IpNet {
        IpNet::new(self.ip(), len).expect("valid prefix length")
    }
    fn mix_prev(self, prev: Option<u16>) -> u128 {
        self ^ ((u128::from(prev.unwrap_or(0)) >> 12) << 127)
    }
}

struct Bart(ts_bart::Table<u16>);

impl<K: PeerKey> PeerLpm<K> for Bart {
    fn get(&self, a: K) -> Option<u16> {
        use ts_bart::RoutingTable;
        self.0.lookup(a.ip()).copied()
    }
}

fn bart<K: PeerKey>(routes: &[(K, u8, NextHop)]) -> Bart {
    use ts_bart::RoutingTable;
    let mut t = ts_bart::Table::default();
    for &(a, l, n) in routes {
        t.insert(a.net(l), n.index());
    }
    Bart(t)
}

struct TreeBitmap4(IpLookupTable<Ipv4Addr, u16>);
struct TreeBitmap6(IpLookupTable<Ipv6Addr, u16>);

impl PeerLpm<u32> for TreeBitmap4 {
    fn get(&self, a: u32) -> Option<u16> {
        self.0.longest_match(Ipv4Addr::from(a)).map(|(_, _, &v)| v)
    }
}

impl PeerLpm<u128> for TreeBitmap6 {
    fn get(&self, a: u128) -> Option<u16> {
        self.0.longest_match(Ipv6Addr::from(a)).map(|(_, _, &v)| v)
    }
}

/// iptrie's LC-trie answers every lookup (the root prefix holds a value): 0 = no route.
struct LcTrie4(iptrie::Ipv4LCTrieMap<u16>);
struct LcTrie6(iptrie::Ipv6LCTrieMap<u16>);

impl PeerLpm<u32> for LcTrie4 {
    fn get(&self, a: u32) -> Option<u16> {
        Some(*self.0.lookup(&Ipv4Addr::from(a)).1).filter(|&v| v != 0)
    }
}

impl PeerLpm<u128> for LcTrie6 {
    fn get(&self, a: u128) -> Option<u16> {
        Some(*self.0.lookup(&Ipv6Addr::from(a)).1).filter(|&v| v != 0)
    }
}

struct PopTrie<K: poptrie::Address>(Poptrie<(K, u8), u16>);

impl<K: poptrie::Address> PeerLpm<K> for PopTrie<K> {
    fn get(&self, a: K) -> Option<u16> {
        self.0.lookup(a).copied()
    }
}

/// The per-family peers that need the standard address types.
pub(crate) trait PeerFamily:
    PeerKey + poptrie::Address + Sized + Send + Sync + 'static
{
    /// Runs the Tree Bitmap and LC-trie peers (they are typed per family).
    fn typed_peers(ctx: &mut Ctx<'_, Self>);
}

/// The Tree Bitmap and LC-trie peers of one family: its key, standard address type,
/// iptrie map and prefix types, and our wrappers.
macro_rules! typed_peers {
    ($key:ty, $addr:ty, $tb:ident, $lc:ident, $map:ty, $prefix:ty) => {
        impl PeerFamily for $key {
            fn typed_peers(ctx: &mut Ctx<'_, $key>) {
                let tb = ctx.build(|routes| {
                    let mut t = IpLookupTable::new();
                    for &(a, l, n) in routes {
                        t.insert(<$addr>::from(a), u32::from(l), n.index());
                    }
                    $tb(t)
                });
                ctx.measure("treebitmap", tb);
                let lc = ctx.build(|routes| {
                    let mut t = <$map>::with_root(0u16);
                    for &(a, l, n) in routes {
                        let p = <$prefix>::new(<$addr>::from(a), l).expect("valid length");
                        t.insert(p, n.index());
                    }
                    $lc(t.compress())
                });
                ctx.measure("iptrie LC-trie", lc);
            }
        }
    };
}

typed_peers!(
    u32,
    Ipv4Addr,
    TreeBitmap4,
    LcTrie4,
    iptrie::Ipv4RTrieMap<u16>,
    Ipv4Prefix
);
typed_peers!(
    u128,
    Ipv6Addr,
    TreeBitmap6,
    LcTrie6,
    iptrie::Ipv6RTrieMap<u16>,
    Ipv6Prefix
);

/// What one family's peer runs share.
pub(crate) struct Ctx<'a, K> {
    pub(crate) tag: &'a str,
    pub(crate) routes: &'a [(K, u8, NextHop)],
    /// In-table addresses with prefix-trie's answers (the reference).
    pub(crate) check: &'a [(K, Option<u16>)],
    pub(crate) in_table: &'a [K],
    pub(crate) uniform: &'a [K],
    pub(crate) round: Duration,
    pub(crate) rows: &'a mut Vec<Row>,
    /// Bytes and build time of the peer being built.
    built: Option<(usize, Duration)>,
}

impl<'a, K: PeerKey> Ctx<'a, K> {
    /// A context for one family.
    pub(crate) fn new(
        tag: &'a str,
        routes: &'a [(K, u8, NextHop)],
        check: &'a [(K, Option<u16>)],
        in_table: &'a [K],
        uniform: &'a [K],
        round: Duration,
        rows: &'a mut Vec<Row>,
    ) -> Self {
        Self {
            tag,
            routes,
            check,
            in_table,
            uniform,
            round,
            rows,
            built: None,
        }
    }

    fn build<P>(&mut self, f: impl FnOnce(&[(K, u8, NextHop)]) -> P) -> P {
        let before = alloc_count::live();
        let t = Instant::now();
        let p = f(self.routes);
        self.built = Some((alloc_count::live().saturating_sub(before), t.elapsed()));
        p
    }

    /// Checks `p` against the reference, then times it into the rows of `name`.
    fn measure<P: PeerLpm<K>>(&mut self, name: &str, p: P) {
        let (bytes, build) = self.built.take().unwrap_or_default();
        if let Some(&(a, want)) = self.check.iter().find(|&&(a, want)| p.get(a) != want) {
            eprintln!(
                "bench: fib-{}: {name} answers {:?} for {}, prefix-trie {want:?}: left out",
                self.tag,
                p.get(a),
                a.ip()
            );
            return;
        }
        let n = self.routes.len().max(1) as f64;
        let tag = self.tag;
        push(
            self.rows,
            &format!("fib-{tag}/memory"),
            name,
            bytes as f64 / n,
            "B/prefix",
        );
        push(
            self.rows,
            &format!("fib-{tag}/build"),
            name,
            build.as_secs_f64() * 1e3,
            "ms",
        );
        for (g, addrs) in [("in-table", self.in_table), ("uniform", self.uniform)] {
            let r = rate(self.round, || {
                let mut s = 0u64;
                for &a in addrs {
                    s = s.wrapping_add(u64::from(p.get(a).unwrap_or(0)));
                }
                black_box(s);
                addrs.len() as u64
            });
            push(self.rows, &format!("fib-{tag}/{g}"), name, r, "lookups/s");
        }
        let r = rate(self.round, || {
            let mut prev = None;
            for &a in self.in_table {
                prev = p.get(a.mix_prev(prev));
            }
            black_box(prev);
            self.in_table.len() as u64
        });
        push(
            self.rows,
            &format!("fib-{tag}/dependent"),
            name,
            r,
            "lookups/s",
        );
    }
}

/// Builds, checks and times every peer of one family into `ctx.rows`.
pub(crate) fn run<K: PeerFamily>(ctx: &mut Ctx<'_, K>) {
    let b = ctx.build(bart);
    ctx.measure("ts_bart", b);
    // Its bulk build (`FromIterator`, sorted paths); one insert at a time took 2.5 s
    // for 52 k prefixes.
    let p = ctx.build(|routes| {
        PopTrie(
            routes
                .iter()
                .map(|&(a, l, n)| ((a, l), n.index()))
                .collect(),
        )
    });
    ctx.measure("poptrie", p);
    K::typed_peers(ctx);
}
