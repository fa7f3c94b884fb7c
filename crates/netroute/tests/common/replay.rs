//! The real RIS table and 24 h update stream (`ris.rs`) turned into routing requests
//! for [`RouteTables`]: shared by `route_replay.rs` and `route_concurrent_replay.rs`.
//!
//! Every RIS prefix becomes a gateway route; the gateway is one of four per family (two
//! on `eth0`, two on `eth1`), chosen by a hash of the prefix and of the update's position,
//! so an announce of a prefix already present is a real `RTM_CHANGE` (new gateway, often
//! a new interface).
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netroute::addr::IfIndex;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable};
use netroute::psref::Domain;
use netroute::route::RouteTables;

use super::ris;

/// One update of the stream: announce (`true`) or withdraw of a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// `A` (true) or `W` (false).
    pub announce: bool,
    /// The prefix.
    pub prefix: IpNet,
}

/// The RIS tables and update streams of both families, as `IpNet`s.
pub struct Data {
    /// Initial table, IPv4 then IPv6.
    pub table: Vec<IpNet>,
    /// IPv4 updates in time order.
    pub updates_v4: Vec<Update>,
    /// IPv6 updates in time order.
    pub updates_v6: Vec<Update>,
}

fn v4(a: u32, l: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

fn v6(a: u128, l: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}

/// Loads the data, `None` (the caller skips, saying why) if it is not there.
pub fn load() -> Option<Data> {
    let t4 = ris::table::<u32>()?;
    let t6 = ris::table::<u128>()?;
    let u4 = ris::updates::<u32>()?;
    let u6 = ris::updates::<u128>()?;
    let mut table: Vec<IpNet> = t4.iter().map(|&(a, l)| v4(a, l)).collect();
    table.extend(t6.iter().map(|&(a, l)| v6(a, l)));
    Some(Data {
        table,
        updates_v4: u4
            .iter()
            .map(|&(announce, a, l)| Update {
                announce,
                prefix: v4(a, l),
            })
            .collect(),
        updates_v6: u6
            .iter()
            .map(|&(announce, a, l)| Update {
                announce,
                prefix: v6(a, l),
            })
            .collect(),
    })
}

/// Interleaves the two streams (v4, v6, v4, ... while both last), keeping each in order.
pub fn interleave(a: &[Update], b: &[Update]) -> Vec<Update> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() {
            out.push(a[i]);
            i += 1;
        }
        if j < b.len() {
            out.push(b[j]);
            j += 1;
        }
    }
    out
}

/// An interface table with `eth0` and `eth1` (both up, one IPv4 and one IPv6 subnet
/// each) and route tables on it.
pub struct World {
    /// The interfaces.
    pub ifs: Arc<IfTable>,
    /// The routes.
    pub rt: Arc<RouteTables>,
    /// `eth0`.
    pub eth0: IfIndex,
    /// `eth1`.
    pub eth1: IfIndex,
}

/// The gateways: `[family][i]`, `i` 0–1 on `eth0`, 2–3 on `eth1`.
pub fn gateways() -> [[IpAddr; 4]; 2] {
    [
        [
            "192.0.2.254".parse().unwrap(),
            "192.0.2.253".parse().unwrap(),
            "198.51.100.254".parse().unwrap(),
            "198.51.100.253".parse().unwrap(),
        ],
        [
            "2001:db8::fe".parse().unwrap(),
            "2001:db8::fd".parse().unwrap(),
            "2001:db8:1::fe".parse().unwrap(),
            "2001:db8:1::fd".parse().unwrap(),
        ],
    ]
}

/// Adds `eth1`'s addresses (after an attach).
pub fn address_eth1(ifs: &IfTable, i: IfIndex) {
    ifs.add_addr(i, AddrSpec::new([198, 51, 100, 1], 24))
        .unwrap();
    ifs.add_addr(
        i,
        AddrSpec::new("2001:db8:1::1".parse::<IpAddr>().unwrap(), 64),
    )
    .unwrap();
}

impl World {
    /// The two interfaces, addressed, and empty route tables (but for the local and
    /// connected routes of the addresses).
    pub fn new() -> Self {
        let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
        let rt = RouteTables::new(Arc::clone(&ifs));
        let up = IfFlags::UP | IfFlags::BROADCAST;
        let eth0 = ifs.attach(IfConfig::new("eth0").flags(up)).unwrap();
        ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))
            .unwrap();
        ifs.add_addr(
            eth0,
            AddrSpec::new("2001:db8::1".parse::<IpAddr>().unwrap(), 64),
        )
        .unwrap();
        let eth1 = ifs.attach(IfConfig::new("eth1").flags(up)).unwrap();
        address_eth1(&ifs, eth1);
        Self {
            ifs,
            rt,
            eth0,
            eth1,
        }
    }
}

/// A deterministic hash (splitmix64 of the inputs).
pub fn mix(a: u64, b: u64) -> u64 {
    ris::Rng(a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64()
}

/// A hash of a prefix.
pub fn hash_prefix(p: &IpNet) -> u64 {
    let (hi, lo) = match p.network() {
        IpAddr::V4(a) => (0, u64::from(u32::from(a))),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            ((x >> 64) as u64, x as u64)
        }
    };
    mix(mix(hi, lo), u64::from(p.prefix_len()))
}

/// The gateway index (0–3) of `prefix` at update position `pos` (`u64::MAX`: the
/// initial table).
pub fn gw_index(prefix: &IpNet, pos: u64) -> usize {
    (mix(hash_prefix(prefix), pos) % 4) as usize
}

/// `a` as an interface-address key (IPv6 without a zone: the tables hold global prefixes).
pub fn ifa(a: IpAddr) -> netroute::ifnet::IfaAddr {
    match a {
        IpAddr::V4(a) => netroute::ifnet::IfaAddr::V4(a),
        IpAddr::V6(a) => {
            netroute::ifnet::IfaAddr::V6(netroute::addr::ScopedAddr::new(a, None).unwrap())
        }
    }
}

/// A random address inside `p`.
pub fn inside(r: &mut ris::Rng, p: &IpNet) -> IpAddr {
    match p {
        IpNet::V4(n) => {
            let host = u32::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(
                u32::from(n.network()) | (r.next_u64() as u32 & host),
            ))
        }
        IpNet::V6(n) => {
            let host = u128::MAX
                .checked_shr(u32::from(n.prefix_len()))
                .unwrap_or(0);
            let x = (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64());
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (x & host)))
        }
    }
}
