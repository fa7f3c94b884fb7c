//! `netroute snapshot`: the live kernel's interfaces, addresses and routes (main and local
//! tables, IPv4 and IPv6) of the current network namespace, read over rtnetlink, as a
//! stack file.
//!
//! Four dumps on one `NETLINK_ROUTE` socket (links, addresses, IPv4 routes, IPv6 routes)
//! with a 32 MiB receive buffer (the kernel caps it at `net.core.rmem_max`) and a 1 MiB
//! read buffer, so a million-route table streams without loss in the common case. If the
//! kernel reports that a dump was interrupted by a concurrent change (`NLM_F_DUMP_INTR`)
//! or the socket overran (`ENOBUFS`), the whole snapshot restarts on a fresh socket, up to
//! [`MAX_ATTEMPTS`] times, so the file is always one consistent view.
//!
//! Mapping (kernel → stack file):
//! - link flags `IFF_*` → `up`, `broadcast`, `debug`, `loopback`, `pointopoint`,
//!   `running`, `noarp`, `promisc`, `allmulti`, `multicast`;
//! - IPv6 address flags `IFA_F_*` → `nodad`, `tentative`, `duplicated` (`DADFAILED`),
//!   `deprecated`, `home` (`HOMEADDRESS`), `temporary` (`TEMPORARY`, the IPv6 meaning of
//!   bit 0); `optimistic`, `permanent`, `noprefixroute`, … have no stack equivalent and are
//!   dropped; IPv4 addresses carry no flags;
//! - route types: `unicast` → `up` (+`gateway`, `host`; `connected` for `proto kernel`
//!   routes without gateway), `local` → `local`, `broadcast` → `broadcast`, `blackhole`,
//!   `unreachable` → `reject`, `prohibit`; `anycast`/`multicast` are kept in the local
//!   table only; `throw`, `nat`, `xresolve`, multipath next hops after the first and
//!   `via` (RTA_VIA) gateways are skipped with a warning on stderr;
//! - route table 254 → `main` (field omitted), 255 → `"local"`; other tables and cloned
//!   (cache) routes are not read.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteMetric, RouteProtocol, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use netroute::addr::requires_zone;
use netroute::ifnet::{IfFlags, In6Flags};
use netroute::route::RtFlags;
use netroute::stack::{AddressSpec, InterfaceSpec, RouteEntrySpec, StackFile, ZonedIp};

use crate::CliError;

/// How many times a snapshot restarts after an interrupted dump or an overrun.
pub const MAX_ATTEMPTS: usize = 8;

/// The kernel's main and local table ids.
const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;

/// Why one attempt failed.
enum Attempt {
    /// Retry: the dump was interrupted or the socket overran.
    Retry(&'static str),
    /// Give up.
    Fatal(String),
}

impl From<io::Error> for Attempt {
    fn from(e: io::Error) -> Self {
        if e.raw_os_error() == Some(ENOBUFS) {
            Attempt::Retry("receive buffer overrun (ENOBUFS)")
        } else {
            Attempt::Fatal(format!("netlink: {e}"))
        }
    }
}

/// Linux's `ENOBUFS`: the socket's receive queue overflowed and messages were lost.
const ENOBUFS: i32 = 105;

/// Everything the kernel told us, unconverted.
#[derive(Default)]
struct Raw {
    links: Vec<LinkMessage>,
    addrs: Vec<AddressMessage>,
    routes: Vec<RouteMessage>,
}

/// Reads the current namespace's state and converts it to a stack file; warnings about
/// what cannot be represented go to `warn`.
pub fn snapshot(warn: &mut dyn FnMut(String)) -> Result<StackFile, CliError> {
    let mut last = "";
    for _ in 0..MAX_ATTEMPTS {
        match dump_all() {
            Ok(raw) => return Ok(convert(&raw, warn)),
            Err(Attempt::Retry(why)) => last = why,
            Err(Attempt::Fatal(m)) => return Err(CliError::failure(m)),
        }
    }
    Err(CliError::failure(format!(
        "netlink: no consistent dump after {MAX_ATTEMPTS} attempts (last: {last})"
    )))
}

fn dump_all() -> Result<Raw, Attempt> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = sock.set_rx_buf_sz(32 << 20);
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    let mut raw = Raw::default();
    let mut buf = vec![0u8; 1 << 20];
    let reqs = [
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        RouteNetlinkMessage::GetRoute(route_req(AddressFamily::Inet)),
        RouteNetlinkMessage::GetRoute(route_req(AddressFamily::Inet6)),
    ];
    for (seq, req) in reqs.into_iter().enumerate() {
        let seq = seq as u32 + 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
        hdr.sequence_number = seq;
        let mut msg = NetlinkMessage::new(hdr, NetlinkPayload::from(req));
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        sock.send(&out, 0)?;
        'recv: loop {
            let n = sock.recv(&mut &mut buf[..], 0)?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                if len < 16 || off + len > n {
                    return Err(Attempt::Fatal("netlink: malformed message length".into()));
                }
                let bytes = &buf[off..off + len];
                off += (len + 3) & !3;
                let m = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
                    Ok(m) => m,
                    // A message this crate cannot decode (a newer attribute layout): skip it.
                    Err(_) => continue,
                };
                if m.header.sequence_number != seq {
                    continue;
                }
                if m.header.flags & NLM_F_DUMP_INTR != 0 {
                    return Err(Attempt::Retry(
                        "dump interrupted by a change (NLM_F_DUMP_INTR)",
                    ));
                }
                match m.payload {
                    NetlinkPayload::Done(_) => break 'recv,
                    NetlinkPayload::Error(e) => {
                        if let Some(code) = e.code {
                            let err = io::Error::from_raw_os_error(-code.get());
                            return Err(Attempt::from(err));
                        }
                    }
                    NetlinkPayload::Overrun(_) => {
                        return Err(Attempt::Retry("receive buffer overrun"));
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                        raw.links.push(l)
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                        raw.addrs.push(a)
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                        raw.routes.push(r)
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(raw)
}

fn route_req(family: AddressFamily) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    m
}

fn if_flags(f: LinkFlags) -> IfFlags {
    let map = [
        (LinkFlags::Up, IfFlags::UP),
        (LinkFlags::Broadcast, IfFlags::BROADCAST),
        (LinkFlags::Debug, IfFlags::DEBUG),
        (LinkFlags::Loopback, IfFlags::LOOPBACK),
        (LinkFlags::Pointopoint, IfFlags::POINTOPOINT),
        (LinkFlags::Running, IfFlags::RUNNING),
        (LinkFlags::Noarp, IfFlags::NOARP),
        (LinkFlags::Promisc, IfFlags::PROMISC),
        (LinkFlags::Allmulti, IfFlags::ALLMULTI),
        (LinkFlags::Multicast, IfFlags::MULTICAST),
    ];
    map.iter()
        .filter(|(l, _)| f.contains(*l))
        .fold(IfFlags::empty(), |acc, (_, x)| acc | *x)
}

/// `IFA_F_*` → stack-file address flags (IPv6 only).
pub fn addr_flags(f: u32) -> In6Flags {
    let f = AddressFlags::from_bits_retain(f);
    let map = [
        (AddressFlags::Nodad, In6Flags::NODAD),
        (AddressFlags::Tentative, In6Flags::TENTATIVE),
        (AddressFlags::Dadfailed, In6Flags::DUPLICATED),
        (AddressFlags::Deprecated, In6Flags::DEPRECATED),
        (AddressFlags::Homeaddress, In6Flags::HOME),
        // IFA_F_TEMPORARY is IFA_F_SECONDARY's bit for IPv6.
        (AddressFlags::Secondary, In6Flags::TEMPORARY),
    ];
    map.iter()
        .filter(|(l, _)| f.contains(*l))
        .fold(In6Flags::empty(), |acc, (_, x)| acc | *x)
}

fn zoned(ip: IpAddr, ifname: Option<&String>) -> ZonedIp {
    let zone = match ip {
        IpAddr::V6(v6) if requires_zone(&v6) => ifname.cloned(),
        _ => None,
    };
    ZonedIp { ip, zone }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn convert(raw: &Raw, warn: &mut dyn FnMut(String)) -> StackFile {
    let mut ifaces: Vec<InterfaceSpec> = Vec::new();
    let mut names: HashMap<u32, String> = HashMap::new();
    for l in &raw.links {
        let name = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        });
        let Some(name) = name else { continue };
        let mtu = l
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(1500);
        names.insert(l.header.index, name.clone());
        ifaces.push(InterfaceSpec {
            name,
            index: l.header.index,
            flags: if_flags(l.header.flags),
            mtu,
            addresses: Vec::new(),
        });
    }
    ifaces.sort_by_key(|i| i.index);
    let pos: HashMap<u32, usize> = ifaces
        .iter()
        .enumerate()
        .map(|(k, i)| (i.index, k))
        .collect();
    for a in &raw.addrs {
        let Some(&k) = pos.get(&a.header.index) else {
            continue;
        };
        let local = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let address = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        let Some(ip) = local.or(address) else {
            continue;
        };
        let flags = a
            .attributes
            .iter()
            .find_map(|x| match x {
                AddressAttribute::Flags(f) => Some(f.bits()),
                _ => None,
            })
            .unwrap_or(a.header.flags.bits() as u32);
        let flags = if ip.is_ipv6() {
            addr_flags(flags)
        } else {
            In6Flags::empty()
        };
        let ifname = names.get(&a.header.index);
        ifaces[k].addresses.push(AddressSpec {
            addr: zoned(ip, ifname),
            prefixlen: a.header.prefix_len,
            flags,
            routers: Vec::new(),
        });
    }
    let mut routes = Vec::new();
    for r in &raw.routes {
        if r.header.flags.contains(RouteFlags::Cloned) {
            continue;
        }
        let table = r
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(r.header.table as u32);
        if table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL {
            continue;
        }
        let (zero, max) = match r.header.address_family {
            AddressFamily::Inet => (IpAddr::from([0u8; 4]), 32),
            AddressFamily::Inet6 => (IpAddr::from([0u16; 8]), 128),
            _ => continue,
        };
        let mut dst_ip = zero;
        let mut gateway = None;
        let mut oif = None;
        let mut metric = None;
        let mut mtu = None;
        let mut src = None;
        let mut skip = None;
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(d) => dst_ip = route_ip(d).unwrap_or(zero),
                RouteAttribute::Gateway(g) => gateway = route_ip(g),
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::Priority(p) => metric = Some(*p),
                RouteAttribute::PrefSource(s) => src = route_ip(s),
                RouteAttribute::Metrics(ms) => {
                    for m in ms {
                        if let RouteMetric::Mtu(v) = m {
                            mtu = Some(*v);
                        }
                    }
                }
                RouteAttribute::Via(_) => skip = Some("a `via` gateway of another family"),
                RouteAttribute::MultiPath(hops) => {
                    if let Some(h) = hops.first() {
                        oif = Some(h.interface_index);
                        for a in &h.attributes {
                            if let RouteAttribute::Gateway(g) = a {
                                gateway = route_ip(g);
                            }
                        }
                        if hops.len() > 1 {
                            warn(format!(
                                "route to {dst_ip}/{}: multipath, keeping the first of {} next hops",
                                r.header.destination_prefix_length,
                                hops.len()
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        let Ok(dst) = IpNet::new(dst_ip, r.header.destination_prefix_length.min(max)) else {
            continue;
        };
        let mut flags = RtFlags::UP;
        let local_table = table == RT_TABLE_LOCAL;
        match r.header.kind {
            RouteType::Unicast => {
                if gateway.is_none() && r.header.protocol == RouteProtocol::Kernel {
                    flags |= RtFlags::CONNECTED;
                }
            }
            RouteType::Local => flags |= RtFlags::LOCAL,
            RouteType::Broadcast => flags |= RtFlags::BROADCAST,
            RouteType::Anycast | RouteType::Multicast if local_table => {}
            RouteType::BlackHole => flags |= RtFlags::BLACKHOLE,
            RouteType::Unreachable => flags |= RtFlags::REJECT,
            RouteType::Prohibit => flags |= RtFlags::PROHIBIT,
            other => {
                skip = skip.or(Some(match other {
                    RouteType::Throw => "type throw",
                    RouteType::Nat => "type nat",
                    RouteType::Anycast => "type anycast",
                    RouteType::Multicast => "type multicast",
                    _ => "an unsupported type",
                }))
            }
        }
        if let Some(why) = skip {
            warn(format!(
                "route to {dst} skipped: {why} has no stack equivalent"
            ));
            continue;
        }
        if gateway.is_some() {
            flags |= RtFlags::GATEWAY;
        }
        if dst.prefix_len() == dst.max_prefix_len() {
            flags |= RtFlags::HOST;
        }
        if matches!(
            r.header.protocol,
            RouteProtocol::Static | RouteProtocol::Boot
        ) {
            flags |= RtFlags::STATIC;
        }
        let ifname = oif.and_then(|i| names.get(&i));
        routes.push(RouteEntrySpec {
            dst,
            gateway: gateway.map(|g| zoned(g, ifname)),
            dev: ifname.cloned(),
            flags,
            metric: metric.filter(|&m| m != 0),
            mtu: mtu.filter(|&m| m != 0),
            src: src.map(|s| zoned(s, ifname)),
            table: local_table.then(|| "local".to_owned()),
        });
    }
    StackFile {
        interfaces: ifaces,
        routes,
    }
}
