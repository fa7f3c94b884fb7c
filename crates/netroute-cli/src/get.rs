//! `netroute get`: what the stack answers for a destination, like `ip route get`.
//!
//! For each destination: the route (longest prefix, then lowest metric), its gateway,
//! output interface, the selected source and the flags; or the error a reject route or a
//! miss gives (`unreachable`, `host-unreachable`, `host-down`, `blackhole`, `prohibited`).
//! Plain output is one line per destination in `ip route get`'s order of words; `--json`
//! one object per line:
//! `{"dst","route":"CIDR","gateway"|null,"dev","src"|null,"flags":[…]}` or
//! `{"dst","error":"unreachable"|…}`.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::net::IpAddr;

use netroute::Stack;
use netroute::addr::{IfIndex, ScopedAddr, ZoneId, requires_zone};
use netroute::ifnet::IfaAddr;
use netroute::route::{RouteError, RtFlags};
use netroute::stack::ZonedIp;
use serde::Serialize;

use crate::show::{flag_letters, zoned};
use crate::{CliError, exit, if_name};

/// A successful answer (`--json`).
#[derive(Debug, Serialize)]
pub struct Answer {
    /// The destination as asked (normalised).
    pub dst: String,
    /// The matching route's prefix.
    pub route: String,
    /// The gateway, or null for a directly connected destination.
    pub gateway: Option<String>,
    /// The output interface.
    pub dev: Option<String>,
    /// The selected source address, or null when none is usable.
    pub src: Option<String>,
    /// The route's flags (stack-file names).
    pub flags: Vec<&'static str>,
    /// The same flags as bits (for the plain output's letters).
    #[serde(skip)]
    pub rt_flags: RtFlags,
}

/// A failed answer (`--json`).
#[derive(Debug, Serialize)]
pub struct Failure {
    /// The destination as asked.
    pub dst: String,
    /// `unreachable`, `host-unreachable`, `host-down`, `blackhole` or `prohibited`.
    pub error: &'static str,
}

/// The word for a routing error in `get`'s output.
pub fn error_word(e: &RouteError) -> &'static str {
    match e {
        RouteError::Blackhole => "blackhole",
        RouteError::Prohibited => "prohibited",
        RouteError::HostUnreachable => "host-unreachable",
        RouteError::HostDown => "host-down",
        _ => "unreachable",
    }
}

/// Parses a destination (`192.0.2.1`, `2001:db8::1`, `fe80::1%eth0`) into the key the
/// route table takes; a link-local address needs its zone.
pub fn parse_dst(stack: &Stack, s: &str) -> Result<(IfaAddr, ZonedIp), String> {
    let z: ZonedIp = s.trim().parse()?;
    let key = match z.ip {
        IpAddr::V4(v4) => IfaAddr::V4(v4),
        IpAddr::V6(v6) => {
            let zone = match &z.zone {
                None if requires_zone(&v6) => {
                    return Err(format!(
                        "{s}: a link-local destination needs its zone (fe80::1%eth0)"
                    ));
                }
                None => None,
                Some(name) => {
                    let ifp = stack
                        .ifs()
                        .get(name)
                        .ok_or_else(|| format!("{s}: no interface \"{name}\""))?;
                    if requires_zone(&v6) {
                        ZoneId::new(ifp.index().get())
                    } else {
                        None
                    }
                }
            };
            IfaAddr::V6(ScopedAddr::new(v6, zone).map_err(|e| format!("{s}: {e}"))?)
        }
    };
    Ok((key, z))
}

/// The source address an unbound socket would use for packets to `dst`: the stack's
/// source selection (`in_selectsrc` for IPv4, `in6_selectsrc` with every RFC 6724 rule
/// for IPv6), `None` when no address is usable.
pub fn select_source(stack: &Stack, dst: IfaAddr) -> Option<IpAddr> {
    stack.select_source(dst).ok().map(|a| a.ip())
}

/// One answer: `Ok` with the JSON object and the plain line, or `Err` with the error word.
pub fn answer(stack: &Stack, key: IfaAddr, z: &ZonedIp) -> Result<Answer, &'static str> {
    let routes = stack.routes();
    let rt = routes
        .lookup(key, false)
        .ok_or(error_word(&RouteError::NetUnreachable { via: None }))?;
    routes.check_reject(&rt).map_err(|e| error_word(&e))?;
    let info = rt.info();
    let zone_if = |ip: IpAddr| match ip {
        IpAddr::V6(v6) if requires_zone(&v6) => info.ifindex,
        _ => None,
    };
    Ok(Answer {
        dst: z.to_string(),
        route: info.dst.to_string(),
        gateway: crate::show::gateway_text(stack, &info),
        dev: info.ifindex.map(|i: IfIndex| if_name(stack, i)),
        src: select_source(stack, key).map(|s| zoned(stack, s, zone_if(s))),
        flags: info.flags.names(),
        rt_flags: info.flags,
    })
}

/// Answers every destination of `args`, then (with `stdin`) every line of `input`,
/// writing to `out`. Returns the exit code: [`exit::OK`], [`exit::UNREACHABLE`] if some
/// destination had no usable route, [`exit::BAD_INPUT`] if some could not be parsed
/// (reported on `err`, with the line number for `--stdin`).
pub fn run(
    stack: &Stack,
    args: &[String],
    input: Option<&mut dyn BufRead>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let io = |e: std::io::Error| CliError::failure(format!("writing output: {e}"));
    let mut bad = false;
    let mut unreachable = false;
    let mut one = |s: &str, where_: &str, out: &mut dyn Write| -> Result<(), CliError> {
        let (key, z) = match parse_dst(stack, s) {
            Ok(x) => x,
            Err(m) => {
                bad = true;
                let _ = writeln!(err, "netroute: {where_}bad destination {m}");
                return Ok(());
            }
        };
        match answer(stack, key, &z) {
            Ok(a) => {
                if json {
                    serde_json::to_writer(&mut *out, &a).map_err(CliError::failure)?;
                    out.write_all(b"\n").map_err(io)?;
                } else {
                    let mut line = a.dst.clone();
                    if let Some(g) = &a.gateway {
                        line.push_str(" via ");
                        line.push_str(g);
                    }
                    if let Some(d) = &a.dev {
                        line.push_str(" dev ");
                        line.push_str(d);
                    }
                    if let Some(src) = &a.src {
                        line.push_str(" src ");
                        line.push_str(src);
                    }
                    line.push_str(" route ");
                    line.push_str(&a.route);
                    line.push_str(" flags ");
                    line.push_str(&flag_letters(a.rt_flags));
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            Err(word) => {
                unreachable = true;
                if json {
                    serde_json::to_writer(
                        &mut *out,
                        &Failure {
                            dst: z.to_string(),
                            error: word,
                        },
                    )
                    .map_err(CliError::failure)?;
                    out.write_all(b"\n").map_err(io)?;
                } else {
                    writeln!(out, "{z} {word}").map_err(io)?;
                }
            }
        }
        Ok(())
    };
    for a in args {
        one(a, "", out)?;
    }
    if let Some(input) = input {
        let mut line = String::new();
        let mut n = 0u64;
        loop {
            line.clear();
            let got = input
                .read_line(&mut line)
                .map_err(|e| CliError::bad_input(format!("stdin:{}: {e}", n + 1)))?;
            if got == 0 {
                break;
            }
            n += 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            one(t, &format!("stdin:{n}: "), out)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(if bad {
        exit::BAD_INPUT
    } else if unreachable {
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}
