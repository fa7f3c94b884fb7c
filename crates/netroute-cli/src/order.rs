//! `netroute order`: RFC 6724 §6 destination address ordering for a stack (what
//! getaddrinfo does with the answers of a name lookup), each destination with the source
//! address the stack would use for it.
//!
//! Plain output: the destinations, one per line, best first. `--json`: one array of
//! `{"dst","src"}` objects, `src` null when no source is usable (such destinations sort
//! last, RFC 6724 rule 1).
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::IpAddr;

use netroute::Stack;
use netroute::addr::requires_zone;
use netroute::ifnet::IfaAddr;
use serde::Serialize;

use crate::get::parse_dst;
use crate::show::zoned;
use crate::{CliError, exit};

/// One ordered destination (`--json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Ordered {
    /// The destination, as given (normalised; link-local with its zone).
    pub dst: String,
    /// The source address the stack would use, or null.
    pub src: Option<String>,
}

fn text(stack: &Stack, a: IfaAddr) -> String {
    let ip = a.ip();
    let zone_if = match (ip, a) {
        (IpAddr::V6(v6), IfaAddr::V6(s)) if requires_zone(&v6) => {
            s.zone().and_then(|z| netroute::addr::IfIndex::new(z.get()))
        }
        _ => None,
    };
    zoned(stack, ip, zone_if)
}

/// The destinations `addrs` in RFC 6724 order for `stack`. A destination that cannot
/// be parsed is a bad-input error naming it; nothing is printed then.
pub fn order(stack: &Stack, addrs: &[String]) -> Result<Vec<Ordered>, CliError> {
    let mut keys = Vec::with_capacity(addrs.len());
    for s in addrs {
        let (key, _) =
            parse_dst(stack, s).map_err(|m| CliError::bad_input(format!("bad destination {m}")))?;
        keys.push(key);
    }
    Ok(stack
        .order_destinations(&keys)
        .into_iter()
        .map(|d| Ordered {
            dst: text(stack, d.dst),
            src: d.src.map(|s| text(stack, s)),
        })
        .collect())
}

/// Prints the order of `addrs` to `out` (plain or `--json`); exit code [`exit::OK`].
pub fn run(
    stack: &Stack,
    addrs: &[String],
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let v = order(stack, addrs)?;
    let io = |e: std::io::Error| CliError::failure(format!("writing output: {e}"));
    if json {
        serde_json::to_writer(&mut *out, &v).map_err(CliError::failure)?;
        out.write_all(b"\n").map_err(io)?;
    } else {
        for o in &v {
            writeln!(out, "{}", o.dst).map_err(io)?;
        }
    }
    Ok(exit::OK)
}
