//! `netroute show`: the routing table like NetBSD's `netstat -rn`.
//!
//! Columns: Destination, Gateway, Flags, Refs, Use, Mtu, Interface. Flag letters are
//! NetBSD's (`netstat(1)`): `U` up, `G` gateway, `H` host, `R` reject, `B` blackhole,
//! `D` dynamic, `M` modified, `C` connected, `S` static, `s` fixed source, `l` local,
//! `b` broadcast; `P` is ours (a reject route answering "prohibited"). Refs is `-` (the
//! stack uses passive references, which are not counted), Use is `rt_use`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::IpAddr;

use netroute::Stack;
use netroute::addr::{Family, requires_zone};
use netroute::route::{Gateway, RouteInfo, RtFlags};
use serde::Serialize;

use crate::{CliError, if_name};

/// Which families to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// IPv4 and IPv6.
    Both,
    /// `-4`.
    V4,
    /// `-6`.
    V6,
}

/// The NetBSD `netstat -rn` letters of `f`.
pub fn flag_letters(f: RtFlags) -> String {
    const BITS: &[(RtFlags, char)] = &[
        (RtFlags::UP, 'U'),
        (RtFlags::GATEWAY, 'G'),
        (RtFlags::HOST, 'H'),
        (RtFlags::REJECT, 'R'),
        (RtFlags::DYNAMIC, 'D'),
        (RtFlags::MODIFIED, 'M'),
        (RtFlags::CONNECTED, 'C'),
        (RtFlags::STATIC, 'S'),
        (RtFlags::BLACKHOLE, 'B'),
        (RtFlags::PROHIBIT, 'P'),
        (RtFlags::SRC, 's'),
        (RtFlags::LOCAL, 'l'),
        (RtFlags::BROADCAST, 'b'),
    ];
    BITS.iter()
        .filter(|(b, _)| f.contains(*b))
        .map(|&(_, c)| c)
        .collect()
}

/// One route of `show --json`.
#[derive(Debug, Serialize)]
pub struct RouteJson {
    /// The destination prefix.
    pub dst: String,
    /// The gateway address (with its zone for a link-local one), or null.
    pub gateway: Option<String>,
    /// The output interface, or null.
    pub dev: Option<String>,
    /// The source address (`rt_ifa`), or null.
    pub src: Option<String>,
    /// The flag names (the stack-file names).
    pub flags: Vec<&'static str>,
    /// The metric.
    pub metric: u32,
    /// The path MTU, or null when the interface's applies.
    pub mtu: Option<u32>,
    /// `rt_use`.
    pub uses: u64,
}

/// An address with `%interface` when its scope needs a zone.
pub fn zoned(stack: &Stack, ip: IpAddr, zone_if: Option<netroute::addr::IfIndex>) -> String {
    match (ip, zone_if) {
        (IpAddr::V6(v6), Some(i)) if requires_zone(&v6) => format!("{ip}%{}", if_name(stack, i)),
        _ => ip.to_string(),
    }
}

/// The gateway of `r` as text, for JSON (null for none or a link gateway).
pub fn gateway_text(stack: &Stack, r: &RouteInfo) -> Option<String> {
    match r.gateway {
        Gateway::Addr(ip, zone) => Some(zoned(
            stack,
            ip,
            zone.and_then(|z| netroute::addr::IfIndex::new(z.get())),
        )),
        _ => None,
    }
}

/// The JSON form of a route.
pub fn route_json(stack: &Stack, r: &RouteInfo) -> RouteJson {
    RouteJson {
        dst: r.dst.to_string(),
        gateway: gateway_text(stack, r),
        dev: r.ifindex.map(|i| if_name(stack, i)),
        src: r.src.map(|s| zoned(stack, s, r.ifindex)),
        flags: r.flags.names(),
        metric: r.metric,
        mtu: (r.metrics.mtu != 0).then_some(r.metrics.mtu),
        uses: r.uses,
    }
}

/// Writes the table of `stack` to `out`: the `netstat -rn` layout, or with `json` one
/// JSON array of routes.
pub fn run(stack: &Stack, fams: Families, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let mut sections = Vec::new();
    if fams != Families::V6 {
        sections.push(("Internet:", stack.routes().routes(Family::Inet)));
    }
    if fams != Families::V4 {
        sections.push(("Internet6:", stack.routes().routes(Family::Inet6)));
    }
    let io = |e: std::io::Error| CliError::failure(format!("writing output: {e}"));
    if json {
        let all: Vec<RouteJson> = sections
            .iter()
            .flat_map(|(_, rs)| rs.iter().map(|r| route_json(stack, r)))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &all).map_err(CliError::failure)?;
        writeln!(out).map_err(io)?;
        return Ok(());
    }
    writeln!(out, "Routing tables").map_err(io)?;
    for (title, routes) in sections {
        writeln!(out, "\n{title}").map_err(io)?;
        let rows: Vec<[String; 7]> = routes
            .iter()
            .map(|r| {
                let dst = if r.dst.prefix_len() == 0 {
                    "default".to_owned()
                } else if r.dst.prefix_len() == r.dst.max_prefix_len() {
                    zoned(stack, r.dst.addr(), r.ifindex)
                } else {
                    r.dst.to_string()
                };
                let gw = match r.gateway {
                    Gateway::Addr(..) => gateway_text(stack, r).unwrap_or_default(),
                    Gateway::Link(i) => format!("link#{}", i.get()),
                    Gateway::None => "-".to_owned(),
                };
                let mtu = if r.metrics.mtu != 0 {
                    r.metrics.mtu.to_string()
                } else {
                    "-".to_owned()
                };
                [
                    dst,
                    gw,
                    flag_letters(r.flags),
                    "-".to_owned(),
                    r.uses.to_string(),
                    mtu,
                    r.ifindex
                        .map(|i| if_name(stack, i))
                        .unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        let head = [
            "Destination",
            "Gateway",
            "Flags",
            "Refs",
            "Use",
            "Mtu",
            "Interface",
        ];
        let mut w = head.map(str::len);
        for row in &rows {
            for (k, c) in row.iter().enumerate() {
                w[k] = w[k].max(c.len());
            }
        }
        let line = |c: &[String; 7]| {
            format!(
                "{:<w0$} {:<w1$} {:<w2$} {:>w3$} {:>w4$} {:>w5$} {}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                c[6],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4],
                w5 = w[5]
            )
        };
        writeln!(out, "{}", line(&head.map(str::to_owned)).trim_end()).map_err(io)?;
        for row in &rows {
            writeln!(out, "{}", line(row).trim_end()).map_err(io)?;
        }
    }
    Ok(())
}
