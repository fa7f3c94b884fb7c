//! The stack file: a [`Stack`]'s interfaces, addresses and routes as JSON (design §5).
//!
//! ```json
//! {"interfaces": [{"name": "eth0", "index": 2, "flags": ["up", "broadcast"], "mtu": 1500,
//!                  "addresses": [{"addr": "192.0.2.1", "prefixlen": 24, "flags": []},
//!                                {"addr": "fe80::1%eth0", "prefixlen": 64, "flags": ["nodad"]}]}],
//!  "routes": [{"dst": "0.0.0.0/0", "gateway": "192.0.2.254", "dev": "eth0", "flags": ["up", "gateway"]}]}
//! ```
//!
//! This is what `netroute snapshot` writes from the Linux kernel and what `get`, `show` and
//! `order` read. Reading is strict: an unknown field or flag name is an error naming it, with
//! the line and column (syntax, types, names) or the JSON path (`routes[3]`: meaning, such
//! as an unknown interface or a route the table refuses).
//!
//! # How a file becomes a stack ([`Stack::from_file`])
//!
//! 1. Interfaces are attached in index order with their flags and MTU, keeping the file's
//!    indices (gaps are filled with placeholder interfaces that are detached again), so the
//!    IPv6 zone of an interface is its index as in the kernel the file came from. An MTU
//!    above [`MTU_MAX`] (Linux's loopback has 65536) is clamped to it.
//! 2. Addresses are added with their flags; as in NetBSD, each brings its local host route
//!    and its connected route (`in_ifinit`, `in6_update_ifa`).
//! 3. Routes are added as administrator routes (`static`), except the ones the stack makes
//!    itself from addresses:
//!    - routes of `"table": "local"` and routes flagged `local` or `broadcast` are **skipped**:
//!      they are Linux's local table (own addresses, broadcast addresses, `ff00::/8`), which
//!      the stack derives from its addresses (local routes) or does not keep (broadcast,
//!      multicast routes: NetBSD has none);
//!    - a route without gateway whose destination and interface equal a local or connected
//!      route that an address brought (Linux's `proto kernel` prefix routes such as
//!      `192.0.2.0/24 dev eth0` or `fe80::/64 dev eth0 metric 256`) is **skipped** as the
//!      duplicate it is; so is a `connected` route to a subnet an address brought on another
//!      interface (two interfaces on one subnet: like NetBSD, the stack keeps one connected
//!      route, the first address's); any other route is added, and a refusal is an error.
//!
//!    Routes without a gateway are added before gateway routes, so a gateway may be reached
//!    through an interface route of the same file. Flags the table derives itself (`up`,
//!    `gateway`, `host`, `static`, `src`) are accepted and recomputed.
//!
//! [`Stack::to_file`] writes every interface, address and route, local and connected routes
//! included (flagged as such, local ones with `"table": "local"`), so
//! `from_file(&s.to_file())` rebuilds an equal stack.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Stack, StackConfig, StackError};
use crate::addr::{Family, IfIndex, requires_zone};
use crate::ifnet::{AddrSpec, IfConfig, IfFlags, In6Flags, MTU_MAX};
use crate::route::{Gateway, RouteError, RouteSpec, RtFlags, RtMetrics};

/// A whole stack file: interfaces (with their addresses) and routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// The interfaces, any order (the stack attaches them by index).
    #[serde(default)]
    pub interfaces: Vec<InterfaceSpec>,
    /// The routes of both families.
    #[serde(default)]
    pub routes: Vec<RouteEntrySpec>,
}

/// One interface of a [`StackFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    /// Its name (`eth0`), unique in the file.
    pub name: String,
    /// Its index (not 0), unique in the file; IPv6 zones are interface indices.
    pub index: u32,
    /// Interface flags: `up`, `running`, `loopback`, `pointopoint`, `broadcast`,
    /// `multicast` (and NetBSD's other `IFF_*` names in lower case).
    #[serde(default, with = "flag_list")]
    pub flags: IfFlags,
    /// The MTU (default 1500).
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<AddressSpec>,
}

fn default_mtu() -> u32 {
    1500
}

/// One address of an [`InterfaceSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSpec {
    /// The address; an IPv6 link-local one may carry its zone (`fe80::1%eth0`), which must
    /// then name the interface it is on.
    #[serde(with = "as_str")]
    pub addr: ZonedIp,
    /// The prefix length.
    pub prefixlen: u8,
    /// IPv6 address flags: `tentative`, `duplicated`, `deprecated`, `detached`, `anycast`,
    /// `temporary`, `autoconf`, `home`, `nodad` (IPv4 addresses take none).
    #[serde(default, with = "flag_list")]
    pub flags: In6Flags,
    /// IPv6 only: the link-local addresses of the routers that advertised this address's
    /// prefix (`["fe80::1"]`, no zone: they are on this interface's link), for RFC 6724
    /// rule 5.5 (see [`AddrSpec::with_advertising_router`]). Omitted when empty; the
    /// kernel does not report them, so `netroute snapshot` writes none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<Ipv6Addr>,
}

/// One route of a [`StackFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntrySpec {
    /// The destination prefix (`198.51.100.0/24`, `2001:db8::/32`, `0.0.0.0/0`).
    #[serde(with = "as_str")]
    pub dst: IpNet,
    /// The gateway; a link-local one may carry its zone (`fe80::1%eth0`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_str")]
    pub gateway: Option<ZonedIp>,
    /// The output interface, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Route flags: `up`, `gateway`, `host`, `reject`, `blackhole`, `prohibit`, `local`,
    /// `broadcast`, `connected`, `static`, `dynamic`, `modified` (and `src`).
    #[serde(default, with = "flag_list")]
    pub flags: RtFlags,
    /// The metric (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// The path MTU (default: the interface's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// A fixed source address (one of the stack's).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_str")]
    pub src: Option<ZonedIp>,
    /// The kernel table the route came from: `main` (the default) or `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

/// An IP address with an optional IPv6 zone given by interface name (`fe80::1%eth0`).
///
/// Guarantees: a zone is only ever attached to an IPv6 address, and is a non-empty name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZonedIp {
    /// The address.
    pub ip: IpAddr,
    /// The interface name after `%`, if any.
    pub zone: Option<String>,
}

impl ZonedIp {
    /// `ip` without a zone.
    pub fn new(ip: IpAddr) -> Self {
        Self { ip, zone: None }
    }
}

impl fmt::Display for ZonedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.zone {
            Some(z) => write!(f, "{}%{z}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

impl FromStr for ZonedIp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, zone) = match s.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (s, None),
        };
        let ip: IpAddr = a.parse().map_err(|_| {
            format!(
                "bad address \"{s}\": expected an IPv4 or IPv6 address (fe80::1%eth0 for a zone)"
            )
        })?;
        match zone {
            None => Ok(Self { ip, zone: None }),
            Some("") => Err(format!("bad address \"{s}\": empty zone after %")),
            Some(_) if ip.is_ipv4() => Err(format!(
                "bad address \"{s}\": only IPv6 addresses take a zone"
            )),
            Some(z) => Ok(Self {
                ip,
                zone: Some(z.to_owned()),
            }),
        }
    }
}

/// Why a stack file could not be read or turned into a [`Stack`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackFileError {
    /// Not JSON, or not the schema: a syntax error, a wrong type, a missing or unknown field,
    /// an unknown flag, a malformed address or prefix.
    #[error("line {line}, column {column}: {msg}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong and what was expected.
        msg: String,
    },
    /// Well-formed, but the stack refuses it: duplicate or unknown interfaces, an address or
    /// route the tables reject.
    #[error("{at}: {msg}")]
    Invalid {
        /// Where, as a JSON path (`interfaces[1].addresses[0]`, `routes[7]`).
        at: String,
        /// What is wrong.
        msg: String,
    },
    /// The stack itself could not be built.
    #[error(transparent)]
    Stack(#[from] StackError),
}

impl StackFileError {
    fn invalid(at: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::Invalid {
            at: at.into(),
            msg: msg.to_string(),
        }
    }
}

impl From<serde_json::Error> for StackFileError {
    fn from(e: serde_json::Error) -> Self {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        Self::Syntax {
            line: e.line(),
            column: e.column(),
            msg,
        }
    }
}

impl StackFile {
    /// Parses a stack file from JSON text.
    pub fn from_json(text: &str) -> Result<Self, StackFileError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses a stack file from a reader of JSON text.
    pub fn from_reader(r: impl std::io::Read) -> Result<Self, StackFileError> {
        Ok(serde_json::from_reader(r)?)
    }

    /// The file as JSON for people and diffs: one compact interface and one compact route
    /// per line (a million-route table stays about 100 bytes a route), a final newline.
    pub fn to_json_pretty(&self) -> String {
        fn list<T: Serialize>(out: &mut String, key: &str, items: &[T], last: bool) {
            out.push_str(&format!("  \"{key}\": ["));
            for (k, it) in items.iter().enumerate() {
                out.push_str(if k == 0 { "\n    " } else { ",\n    " });
                // Serialising plain strings, numbers and lists cannot fail.
                out.push_str(&serde_json::to_string(it).unwrap_or_default());
            }
            out.push_str(if items.is_empty() { "]" } else { "\n  ]" });
            out.push_str(if last { "\n" } else { ",\n" });
        }
        let mut out = String::with_capacity(64 + 100 * (self.interfaces.len() + self.routes.len()));
        out.push_str("{\n");
        list(&mut out, "interfaces", &self.interfaces, false);
        list(&mut out, "routes", &self.routes, true);
        out.push_str("}\n");
        out
    }
}

/// Flags the route table derives itself; accepted in a file and recomputed.
const DERIVED: RtFlags = RtFlags::UP
    .union(RtFlags::GATEWAY)
    .union(RtFlags::HOST)
    .union(RtFlags::STATIC)
    .union(RtFlags::SRC);

impl Stack {
    /// Builds a stack from a stack file with the default configuration (the interface
    /// limit raised to the file's largest index); see the [module](self) for the rules.
    /// Errors name the JSON path of the offending entry.
    pub fn from_file(file: &StackFile) -> Result<Stack, StackFileError> {
        Self::from_file_with_config(file, StackConfig::default())
    }

    /// [`from_file`](Self::from_file) with an explicit configuration.
    pub fn from_file_with_config(
        file: &StackFile,
        mut config: StackConfig,
    ) -> Result<Stack, StackFileError> {
        // Interfaces: unique names and indices, attached in index order.
        let mut order: Vec<usize> = (0..file.interfaces.len()).collect();
        order.sort_by_key(|&i| file.interfaces[i].index);
        let mut names: HashMap<&str, u32> = HashMap::new();
        let mut seen_idx: HashSet<u32> = HashSet::new();
        for (i, ifc) in file.interfaces.iter().enumerate() {
            let at = format!("interfaces[{i}]");
            if ifc.index == 0 {
                return Err(StackFileError::invalid(at, "index 0 names no interface"));
            }
            if names.insert(ifc.name.as_str(), ifc.index).is_some() {
                return Err(StackFileError::invalid(
                    at,
                    format!("duplicate interface name \"{}\"", ifc.name),
                ));
            }
            if !seen_idx.insert(ifc.index) {
                return Err(StackFileError::invalid(
                    at,
                    format!("duplicate interface index {}", ifc.index),
                ));
            }
        }
        let max_index = file.interfaces.iter().map(|i| i.index).max().unwrap_or(0) as usize;
        config.ifnet.max_interfaces = config.ifnet.max_interfaces.max(max_index);
        let stack = Stack::with_config(config)?;
        let ifs = stack.ifs();

        let mut next = 1u32;
        let mut gaps = Vec::new();
        for &i in &order {
            let ifc = &file.interfaces[i];
            let at = format!("interfaces[{i}]");
            while next < ifc.index {
                let gap = ifs
                    .attach(IfConfig::new(format!("#gap{next}")))
                    .map_err(|e| StackFileError::invalid(&at, e))?;
                gaps.push(gap);
                next += 1;
            }
            let got = ifs
                .attach(
                    IfConfig::new(ifc.name.clone())
                        .flags(ifc.flags)
                        .mtu(ifc.mtu.min(MTU_MAX)),
                )
                .map_err(|e| StackFileError::invalid(&at, e))?;
            if got.get() != ifc.index {
                return Err(StackFileError::invalid(
                    at,
                    format!(
                        "could not attach at index {} (got {})",
                        ifc.index,
                        got.get()
                    ),
                ));
            }
            next = ifc.index + 1;
        }
        for g in gaps {
            ifs.detach(g)
                .map_err(|e| StackFileError::invalid("interfaces", e))?;
        }

        // Addresses.
        for &i in &order {
            let ifc = &file.interfaces[i];
            let index = IfIndex::new(ifc.index).expect("checked non-zero above");
            for (j, a) in ifc.addresses.iter().enumerate() {
                let at = format!("interfaces[{i}].addresses[{j}]");
                if let Some(z) = &a.addr.zone
                    && *z != ifc.name
                {
                    return Err(StackFileError::invalid(
                        at,
                        format!(
                            "address {} has zone {z} but is on interface {}",
                            a.addr, ifc.name
                        ),
                    ));
                }
                let spec = a.routers.iter().fold(
                    AddrSpec::new(a.addr.ip, a.prefixlen).with_flags(a.flags),
                    |spec, &r| spec.with_advertising_router(r),
                );
                ifs.add_addr(index, spec)
                    .map_err(|e| StackFileError::invalid(at, format!("address {}: {e}", a.addr)))?;
            }
        }

        // What the addresses brought: (destination, interface) of local/connected routes.
        let mut derived: HashSet<(IpNet, u32)> = HashSet::new();
        let mut derived_dst: HashSet<IpNet> = HashSet::new();
        for fam in [Family::Inet, Family::Inet6] {
            for r in stack.routes().routes(fam) {
                if r.flags.intersects(RtFlags::LOCAL | RtFlags::CONNECTED)
                    && let Some(i) = r.ifindex
                {
                    derived.insert((r.dst, i.get()));
                    derived_dst.insert(r.dst);
                }
            }
        }

        // Routes: interface routes first, then gateway routes.
        let mut direct = Vec::new();
        let mut via = Vec::new();
        for (k, r) in file.routes.iter().enumerate() {
            let at = || format!("routes[{k}] ({})", r.dst);
            match r.table.as_deref() {
                None | Some("main") => {}
                Some("local") => continue,
                Some(t) => {
                    return Err(StackFileError::invalid(
                        at(),
                        format!("unknown table \"{t}\" (expected \"main\" or \"local\")"),
                    ));
                }
            }
            let mut dev = match &r.dev {
                Some(n) => Some(*names.get(n.as_str()).ok_or_else(|| {
                    StackFileError::invalid(at(), format!("unknown interface \"{n}\""))
                })?),
                None => None,
            };
            for (what, a) in [("gateway", &r.gateway), ("src", &r.src)] {
                let Some(z) = a.as_ref().and_then(|a| a.zone.as_ref()) else {
                    continue;
                };
                let zi = *names.get(z.as_str()).ok_or_else(|| {
                    StackFileError::invalid(at(), format!("{what} zone: unknown interface \"{z}\""))
                })?;
                match dev {
                    Some(d) if d != zi => {
                        return Err(StackFileError::invalid(
                            at(),
                            format!("{what} zone {z} is not the route's interface"),
                        ));
                    }
                    _ => dev = Some(zi),
                }
            }
            if r.flags.intersects(RtFlags::LOCAL | RtFlags::BROADCAST) {
                continue;
            }
            let dst = r.dst.trunc();
            let rejecting = r
                .flags
                .intersects(RtFlags::REJECT | RtFlags::BLACKHOLE | RtFlags::PROHIBIT);
            if r.gateway.is_none()
                && !rejecting
                && let Some(d) = dev
                && (derived.contains(&(dst, d))
                    || (r.flags.contains(RtFlags::CONNECTED) && derived_dst.contains(&dst)))
            {
                continue;
            }
            if r.gateway.is_none() && r.flags.contains(RtFlags::GATEWAY) {
                return Err(StackFileError::invalid(
                    at(),
                    "flag gateway without a gateway address",
                ));
            }
            let mut spec = RouteSpec::new(dst).flags(r.flags - DERIVED);
            if let Some(g) = &r.gateway {
                spec = spec.via(g.ip);
            }
            if let Some(d) = dev {
                spec = spec.dev(IfIndex::new(d).expect("interface indices are non-zero"));
            }
            if let Some(s) = &r.src {
                spec = spec.src(s.ip);
            }
            if let Some(m) = r.metric {
                spec = spec.metric(m);
            }
            if let Some(m) = r.mtu {
                spec = spec.metrics(RtMetrics {
                    mtu: m,
                    ..RtMetrics::default()
                });
            }
            if r.gateway.is_some() {
                via.push((k, spec));
            } else {
                direct.push((k, spec));
            }
        }
        for batch in [direct, via] {
            let specs: Vec<RouteSpec> = batch.iter().map(|(_, s)| s.clone()).collect();
            let results = stack.routes().add_many(&specs);
            for ((k, _), res) in batch.iter().zip(results) {
                if let Err(e) = res {
                    return Err(route_error(*k, &file.routes[*k], &e));
                }
            }
        }
        Ok(stack)
    }

    /// The stack as a stack file: every interface (index order) with its addresses, and
    /// every route of both families, the ones addresses brought included.
    pub fn to_file(&self) -> StackFile {
        let ifs = self.ifs();
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut interfaces = Vec::new();
        for i in ifs.indices() {
            let Some(ifp) = ifs.get_by_index(i) else {
                continue;
            };
            names.insert(i.get(), ifp.name().to_owned());
            let addresses = ifs
                .addrs_of(i, None)
                .iter()
                .map(|a| {
                    let ip = a.ip();
                    let zone = match ip {
                        IpAddr::V6(v6) if requires_zone(&v6) => Some(ifp.name().to_owned()),
                        _ => None,
                    };
                    AddressSpec {
                        addr: ZonedIp { ip, zone },
                        prefixlen: a.prefix_len(),
                        flags: a.flags6(),
                        routers: a.advertising_routers().to_vec(),
                    }
                })
                .collect();
            interfaces.push(InterfaceSpec {
                name: ifp.name().to_owned(),
                index: i.get(),
                flags: ifp.flags(),
                mtu: ifp.mtu(),
                addresses,
            });
        }
        let name_of = |i: u32| names.get(&i).cloned().unwrap_or_else(|| i.to_string());
        let mut routes = Vec::new();
        for fam in [Family::Inet, Family::Inet6] {
            for r in self.routes().routes(fam) {
                let gateway = match r.gateway {
                    Gateway::Addr(ip, zone) => Some(ZonedIp {
                        ip,
                        zone: match ip {
                            IpAddr::V6(v6) if requires_zone(&v6) => zone.map(|z| name_of(z.get())),
                            _ => None,
                        },
                    }),
                    _ => None,
                };
                routes.push(RouteEntrySpec {
                    dst: r.dst,
                    gateway,
                    dev: r.ifindex.map(|i| name_of(i.get())),
                    flags: r.flags,
                    metric: (r.metric != 0).then_some(r.metric),
                    mtu: (r.metrics.mtu != 0).then_some(r.metrics.mtu),
                    src: if r.flags.contains(RtFlags::SRC) {
                        r.src.map(|ip| {
                            let zone = match (ip, r.ifindex) {
                                (IpAddr::V6(v6), Some(i)) if requires_zone(&v6) => {
                                    Some(name_of(i.get()))
                                }
                                _ => None,
                            };
                            ZonedIp { ip, zone }
                        })
                    } else {
                        None
                    },
                    table: r.flags.contains(RtFlags::LOCAL).then(|| "local".to_owned()),
                });
            }
        }
        StackFile { interfaces, routes }
    }
}

fn route_error(k: usize, r: &RouteEntrySpec, e: &RouteError) -> StackFileError {
    let via = r
        .gateway
        .as_ref()
        .map(|g| format!(" via {g}"))
        .unwrap_or_default();
    StackFileError::invalid(
        format!("routes[{k}] ({}{via})", r.dst),
        format!("route refused: {e}"),
    )
}

/// Flag sets as lists of lower-case names.
trait FlagNames: Sized + Copy {
    const WHAT: &'static str;
    fn to_names(self) -> Vec<String>;
    fn parse_name(n: &str) -> Option<Self>;
    fn all_names() -> Vec<String>;
    fn or(self, other: Self) -> Self;
    fn none() -> Self;
}

impl FlagNames for IfFlags {
    const WHAT: &'static str = "interface";
    fn to_names(self) -> Vec<String> {
        self.names()
    }
    fn parse_name(n: &str) -> Option<Self> {
        Self::from_names([n]).ok()
    }
    fn all_names() -> Vec<String> {
        Self::all().names()
    }
    fn or(self, o: Self) -> Self {
        self | o
    }
    fn none() -> Self {
        Self::empty()
    }
}

impl FlagNames for In6Flags {
    const WHAT: &'static str = "address";
    fn to_names(self) -> Vec<String> {
        self.names()
    }
    fn parse_name(n: &str) -> Option<Self> {
        Self::from_names([n]).ok()
    }
    fn all_names() -> Vec<String> {
        Self::all().names()
    }
    fn or(self, o: Self) -> Self {
        self | o
    }
    fn none() -> Self {
        Self::empty()
    }
}

impl FlagNames for RtFlags {
    const WHAT: &'static str = "route";
    fn to_names(self) -> Vec<String> {
        self.names().into_iter().map(str::to_owned).collect()
    }
    fn parse_name(n: &str) -> Option<Self> {
        Self::by_name(n)
    }
    fn all_names() -> Vec<String> {
        Self::NAMES.iter().map(|(n, _)| (*n).to_owned()).collect()
    }
    fn or(self, o: Self) -> Self {
        self | o
    }
    fn none() -> Self {
        Self::empty()
    }
}

mod flag_list {
    use super::*;

    pub(super) fn serialize<F: FlagNames, S: Serializer>(f: &F, s: S) -> Result<S::Ok, S::Error> {
        f.to_names().serialize(s)
    }

    pub(super) fn deserialize<'de, F: FlagNames, D: Deserializer<'de>>(
        d: D,
    ) -> Result<F, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut out = F::none();
        for n in &names {
            match F::parse_name(n) {
                Some(f) => out = out.or(f),
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown {} flag \"{n}\" (expected one of: {})",
                        F::WHAT,
                        F::all_names().join(", ")
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// A value written as its `Display` string and read with `FromStr`.
trait StrValue: Sized + fmt::Display {
    fn parse_value(s: &str) -> Result<Self, String>;
}

impl StrValue for ZonedIp {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.parse()
    }
}

impl StrValue for IpNet {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| {
            format!("bad prefix \"{s}\": expected address/length (192.0.2.0/24, 2001:db8::/32)")
        })
    }
}

mod as_str {
    use super::*;

    pub(super) fn serialize<T: StrValue, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, T: StrValue, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let s = String::deserialize(d)?;
        T::parse_value(&s).map_err(serde::de::Error::custom)
    }
}

mod opt_str {
    use super::*;

    pub(super) fn serialize<T: StrValue, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, T: StrValue, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => T::parse_value(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const EXAMPLE: &str = r#"{
  "interfaces": [
    {"name": "lo", "index": 1, "flags": ["up", "loopback", "running"], "mtu": 65536,
     "addresses": [{"addr": "127.0.0.1", "prefixlen": 8}, {"addr": "::1", "prefixlen": 128, "flags": ["nodad"]}]},
    {"name": "eth0", "index": 3, "flags": ["up", "broadcast", "running", "multicast"], "mtu": 1500,
     "addresses": [{"addr": "192.0.2.1", "prefixlen": 24, "flags": []},
                   {"addr": "2001:db8:1::1", "prefixlen": 64, "flags": ["nodad", "autoconf"],
                    "routers": ["fe80::fe"]},
                   {"addr": "fe80::1%eth0", "prefixlen": 64, "flags": ["nodad"]}]}
  ],
  "routes": [
    {"dst": "192.0.2.0/24", "dev": "eth0", "flags": ["up"], "src": "192.0.2.1"},
    {"dst": "2001:db8:1::/64", "dev": "eth0", "flags": ["up"], "metric": 256},
    {"dst": "fe80::/64", "dev": "eth0", "flags": ["up"], "metric": 256},
    {"dst": "0.0.0.0/0", "gateway": "192.0.2.254", "dev": "eth0", "flags": ["up", "gateway"]},
    {"dst": "::/0", "gateway": "fe80::fe%eth0", "flags": ["up", "gateway"], "metric": 1024},
    {"dst": "198.51.100.0/24", "flags": ["blackhole"]},
    {"dst": "203.0.113.0/24", "flags": ["prohibit"]},
    {"dst": "192.0.2.1/32", "dev": "eth0", "flags": ["local", "host"], "table": "local"},
    {"dst": "192.0.2.255/32", "dev": "eth0", "flags": ["broadcast"], "table": "local"}
  ]
}"#;

    #[test]
    fn example_builds_and_round_trips() {
        let f = StackFile::from_json(EXAMPLE).unwrap();
        let s = Stack::from_file(&f).unwrap();
        let eth0 = s.ifs().get("eth0").unwrap();
        assert_eq!(eth0.index().get(), 3);
        drop(eth0);
        assert!(s.ifs().get("#gap2").is_none());
        let rt = s
            .routes()
            .lookup(Ipv4Addr::new(203, 0, 113, 9), false)
            .unwrap();
        assert!(rt.flags().contains(RtFlags::PROHIBIT));
        drop(rt);
        let back = s.to_file();
        let json = back.to_json_pretty();
        assert!(json.contains("\"fe80::1%eth0\""), "{json}");
        assert!(json.contains("\"fe80::fe%eth0\""), "{json}");
        assert!(json.contains("\"routers\""), "{json}");
        let again = Stack::from_file(&StackFile::from_json(&json).unwrap()).unwrap();
        assert_eq!(again.to_file(), back);
    }

    #[test]
    fn advertising_routers_reach_source_selection() {
        let f = StackFile::from_json(EXAMPLE).unwrap();
        let s = Stack::from_file(&f).unwrap();
        let eth0 = s.ifs().get("eth0").unwrap().index();
        let a = s
            .ifs()
            .addrs_of(eth0, Some(Family::Inet6))
            .into_iter()
            .find(|a| a.ip().to_string() == "2001:db8:1::1")
            .unwrap();
        assert_eq!(
            a.advertising_routers(),
            &["fe80::fe".parse::<Ipv6Addr>().unwrap()]
        );
        // A router that is not link-local is refused, naming the address.
        let text = EXAMPLE.replace(
            "\"routers\": [\"fe80::fe\"]",
            "\"routers\": [\"2001:db8::fe\"]",
        );
        let msg = Stack::from_file(&StackFile::from_json(&text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("advertising router 2001:db8::fe is not a link-local"),
            "{msg}"
        );
        // On an IPv4 address.
        let text = EXAMPLE.replace(
            "{\"addr\": \"192.0.2.1\", \"prefixlen\": 24, \"flags\": []}",
            "{\"addr\": \"192.0.2.1\", \"prefixlen\": 24, \"routers\": [\"fe80::1\"]}",
        );
        let msg = Stack::from_file(&StackFile::from_json(&text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("advertising routers apply only to IPv6"),
            "{msg}"
        );
    }

    #[test]
    fn kernel_prefix_routes_of_a_shared_subnet_are_skipped() {
        let text = r#"{"interfaces": [
            {"name": "eth0", "index": 1, "flags": ["up", "broadcast"],
             "addresses": [{"addr": "192.0.2.1", "prefixlen": 24}]},
            {"name": "eth1", "index": 2, "flags": ["up", "broadcast"],
             "addresses": [{"addr": "192.0.2.2", "prefixlen": 24}]}],
          "routes": [
            {"dst": "192.0.2.0/24", "dev": "eth0", "flags": ["up", "connected"]},
            {"dst": "192.0.2.0/24", "dev": "eth1", "flags": ["up", "connected"]}]}"#;
        let s = Stack::from_file(&StackFile::from_json(text).unwrap()).unwrap();
        let n = s
            .routes()
            .routes(Family::Inet)
            .iter()
            .filter(|r| r.dst.to_string() == "192.0.2.0/24")
            .count();
        assert_eq!(n, 1);
    }

    #[test]
    fn unknown_flag_is_named_with_position() {
        let text = EXAMPLE.replace("\"multicast\"]", "\"multicats\"]");
        let e = StackFile::from_json(&text).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("unknown interface flag \"multicats\""),
            "{msg}"
        );
        assert!(matches!(e, StackFileError::Syntax { line: 5, .. }), "{e:?}");
        let text = EXAMPLE.replace("[\"blackhole\"]", "[\"blackhol\"]");
        let msg = StackFile::from_json(&text).unwrap_err().to_string();
        assert!(msg.contains("unknown route flag \"blackhol\""), "{msg}");
    }

    #[test]
    fn unknown_field_and_bad_prefix_are_named() {
        let text = EXAMPLE.replace("\"prefixlen\": 8}", "\"prefixlen\": 8, \"peer\": \"x\"}");
        let msg = StackFile::from_json(&text).unwrap_err().to_string();
        assert!(msg.contains("unknown field `peer`"), "{msg}");
        let text = EXAMPLE.replace("198.51.100.0/24", "198.51.100/24");
        let msg = StackFile::from_json(&text).unwrap_err().to_string();
        assert!(msg.contains("bad prefix \"198.51.100/24\""), "{msg}");
        let text = EXAMPLE.replace("\"192.0.2.254\"", "\"192.0.2.254%eth0\"");
        let msg = StackFile::from_json(&text).unwrap_err().to_string();
        assert!(msg.contains("only IPv6 addresses take a zone"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_entry() {
        let text = EXAMPLE.replace(
            "\"dev\": \"eth0\", \"flags\": [\"up\", \"gateway\"]",
            "\"dev\": \"eth9\", \"flags\": [\"up\", \"gateway\"]",
        );
        let f = StackFile::from_json(&text).unwrap();
        let msg = Stack::from_file(&f).unwrap_err().to_string();
        assert_eq!(msg, "routes[3] (0.0.0.0/0): unknown interface \"eth9\"");
        let text = EXAMPLE.replace(
            "\"gateway\": \"192.0.2.254\", \"dev\": \"eth0\",",
            "\"gateway\": \"203.0.113.254\",",
        );
        let f = StackFile::from_json(&text).unwrap();
        let msg = Stack::from_file(&f).unwrap_err().to_string();
        assert!(
            msg.starts_with("routes[3] (0.0.0.0/0 via 203.0.113.254): route refused"),
            "{msg}"
        );
        let text = EXAMPLE.replace("\"index\": 3", "\"index\": 1");
        let msg = Stack::from_file(&StackFile::from_json(&text).unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "interfaces[1]: duplicate interface index 1");
        let text = EXAMPLE.replace("\"fe80::1%eth0\"", "\"fe80::1%lo\"");
        let msg = Stack::from_file(&StackFile::from_json(&text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("interfaces[1].addresses[2]: address fe80::1%lo has zone lo"),
            "{msg}"
        );
    }
}
