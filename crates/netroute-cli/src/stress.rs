//! `netroute stress`: the routing torture test ([`netroute::torture`]) from the command
//! line. Exit status 0 when no violation was found; a failure prints the violations and
//! the seed to reproduce them and exits non-zero.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netroute::torture::{self, TortureConfig, TortureReport};

/// Arguments of `netroute stress`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Reader threads (default: one per core, at least 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Writer threads: route updates; interfaces, addresses and TIME_WAIT; more churn
    /// TIME_WAIT only.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Stop after this many writer operations (all writers), if sooner.
    #[arg(long)]
    ops: Option<u64>,
    /// Seed of the table, the update stream and every thread's choices.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Size of the synthetic table relative to the Internet (1.0 = 1.04 M IPv4 and
    /// 246 k IPv6 prefixes).
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// A table file (`prefix [nexthop]` lines, `.gz` read through `gzip -dc`) instead of
    /// the synthetic table.
    #[arg(long)]
    table: Option<PathBuf>,
    /// An update file (`A prefix` / `W prefix` lines, `.gz` read through `gzip -dc`) to
    /// replay instead of a synthetic stream.
    #[arg(long)]
    updates: Option<PathBuf>,
    /// Longest acceptable delete, change, address removal or detach, in seconds.
    #[arg(long, default_value_t = 2.0)]
    bound: f64,
    /// Keep running after the first violation (to count them all).
    #[arg(long)]
    keep_going: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

fn read_text(path: &Path) -> Result<String, String> {
    if path.extension().is_some_and(|e| e == "gz") {
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .output()
            .map_err(|e| format!("{}: gzip -dc: {e}", path.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{}: gzip -dc failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn json_report(r: &TortureReport, ok: bool) -> serde_json::Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    serde_json::json!({
        "ok": ok,
        "mutation": torture::MUTATION,
        "seed": r.seed,
        "readers": r.readers,
        "writers": r.writers,
        "seconds": r.elapsed.as_secs_f64(),
        "initial_routes": r.initial_routes,
        "reads": {
            "cache_packets": r.cache_packets,
            "cache_hits": r.cache_hits,
            "alloc_failures_injected": r.alloc_failures,
            "table_lookups": r.table_lookups,
            "routes_checked": r.routes_checked,
            "coherence_checks": r.coherence_checks,
            "if_lookups": r.if_lookups,
            "addr_lookups": r.addr_lookups,
            "vtw_lookups": r.vtw_lookups,
        },
        "writes": {
            "route_adds": r.route_adds,
            "route_deletes": r.route_deletes,
            "route_changes": r.route_changes,
            "updates_replayed": r.updates_replayed,
            "delete_events": r.delete_events,
            "detaches": r.detaches,
            "attaches": r.attaches,
            "addr_adds": r.addr_adds,
            "addr_removes": r.addr_removes,
            "vtw_inserts": r.vtw_inserts,
            "vtw_removes": r.vtw_removes,
            "events_lost": r.events_lost,
        },
        "max_ms": {
            "delete": ms(r.max_delete),
            "change": ms(r.max_change),
            "detach": ms(r.max_detach),
            "addr_remove": ms(r.max_addr_remove),
        },
        "violations": r.violations.iter()
            .map(|(k, n)| (format!("{k:?}"), serde_json::Value::from(*n)))
            .collect::<serde_json::Map<_, _>>(),
    })
}

fn print_report(r: &TortureReport) {
    let s = r.elapsed.as_secs_f64().max(1e-9);
    let rate = |n: u64| n as f64 / s;
    println!(
        "netroute stress: {:.1} s, {} readers, {} writers, seed {}, {} routes at start",
        s, r.readers, r.writers, r.seed, r.initial_routes
    );
    println!(
        "  readers: {} cache packets ({:.0}/s, {:.1} % hits, {} ENOMEM injected), {} table \
         lookups, {} routes checked, {} coherence checks, {} interface, {} address, {} \
         TIME_WAIT lookups",
        r.cache_packets,
        rate(r.cache_packets),
        100.0 * r.cache_hits as f64 / r.cache_packets.max(1) as f64,
        r.alloc_failures,
        r.table_lookups,
        r.routes_checked,
        r.coherence_checks,
        r.if_lookups,
        r.addr_lookups,
        r.vtw_lookups
    );
    println!(
        "  writers: {} updates replayed ({} adds, {} deletes, {} changes), {} RTM_DELETE \
         read, {} detaches, {} attaches, {} address adds, {} removals, {} TIME_WAIT \
         inserts, {} removals, {} events lost",
        r.updates_replayed,
        r.route_adds,
        r.route_deletes,
        r.route_changes,
        r.delete_events,
        r.detaches,
        r.attaches,
        r.addr_adds,
        r.addr_removes,
        r.vtw_inserts,
        r.vtw_removes,
        r.events_lost
    );
    println!(
        "  slowest: delete {:?}, change {:?}, detach {:?}, address removal {:?}",
        r.max_delete, r.max_change, r.max_detach, r.max_addr_remove
    );
    println!("  violations: {}", r.violation_count());
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds <= 86_400.0) {
        return Err(format!(
            "--seconds must be in (0, 86400], got {}",
            args.seconds
        ));
    }
    if !(args.scale > 0.0 && args.scale <= 1.0) {
        return Err(format!("--scale must be in (0, 1], got {}", args.scale));
    }
    if !(args.bound > 0.0 && args.bound <= 3600.0) {
        return Err(format!("--bound must be in (0, 3600], got {}", args.bound));
    }
    let readers = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);
    let table = match &args.table {
        Some(p) => Some(Arc::new(
            torture::parse_table(&read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let updates = match &args.updates {
        Some(p) => Some(Arc::new(
            torture::parse_updates(&read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let cfg = TortureConfig {
        seconds: args.seconds,
        ops: args.ops,
        readers,
        writers: args.writers.clamp(1, 64),
        seed: args.seed,
        scale: args.scale,
        table,
        updates,
        bound: Duration::from_secs_f64(args.bound),
        fail_fast: !args.keep_going,
        ..TortureConfig::default()
    };
    if let Some(m) = torture::MUTATION {
        eprintln!("netroute stress: this build carries the deliberate mutation {m}");
    }
    match torture::run(&cfg) {
        Ok(r) => {
            if args.json {
                println!("{}", json_report(&r, true));
            } else {
                print_report(&r);
            }
            Ok(())
        }
        Err(f) => {
            if args.json {
                println!("{}", json_report(&f.report, false));
            } else {
                print_report(&f.report);
            }
            Err(f.to_string().trim_end().to_string())
        }
    }
}
