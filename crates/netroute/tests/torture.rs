//! The routing torture test (`netroute::torture`) as a test: a short run must pass; a
//! library built with a deliberate mutation (`NETROUTE_MUTATION=NAME`, see build.rs)
//! must fail it within seconds. `TORTURE_SECS` lengthens the run (default 3 s; the
//! mutation run gets up to 20 s to be caught), `TORTURE_SEED` picks the seed.
#![cfg(not(loom))]

use std::time::Duration;

use netroute::torture::{self, TortureConfig};

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn config(seconds: f64) -> TortureConfig {
    TortureConfig {
        seconds,
        readers: env("TORTURE_READERS").unwrap_or(2),
        writers: 2,
        seed: env("TORTURE_SEED").unwrap_or(2026),
        scale: 0.005,
        // Sanitizer builds are an order of magnitude slower.
        bound: Duration::from_secs(env("TORTURE_BOUND_SECS").unwrap_or(5)),
        ..TortureConfig::default()
    }
}

/// Without a mutation the run must pass; with one (`torture::MUTATION`, set by
/// `NETROUTE_MUTATION` at build time) it must fail, within seconds.
#[test]
fn torture_passes_and_catches_mutations() {
    match torture::MUTATION {
        None => {
            let secs = env("TORTURE_SECS").unwrap_or(3.0);
            match torture::run(&config(secs)) {
                Ok(r) => {
                    eprintln!("torture: {r:#?}");
                    assert!(r.cache_hits > 0 && r.coherence_checks > 0, "{r:?}");
                    assert!(r.route_deletes > 0 && r.route_changes > 0, "{r:?}");
                    assert!(r.detaches > 0 && r.addr_removes > 0, "{r:?}");
                }
                Err(f) => panic!("{f}"),
            }
        }
        Some(m) => {
            let secs = env("TORTURE_SECS").unwrap_or(20.0);
            match torture::run(&config(secs)) {
                Ok(r) => panic!(
                    "mutation {m} NOT caught in {:.1} s: {r:#?}",
                    r.elapsed.as_secs_f64()
                ),
                Err(f) => {
                    let at = f.first.first().map_or(f64::NAN, |v| v.at_secs);
                    eprintln!("mutation {m}: caught after {at:.3} s\n{f}");
                }
            }
        }
    }
}
