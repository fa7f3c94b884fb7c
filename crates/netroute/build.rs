//! Test-only deliberate bugs: `NETROUTE_MUTATION=NAME` builds netroute with one (see
//! `netroute::torture::MUTATION` and `tests/torture.rs`), so that CI can show the routing
//! torture test catches it. Going through an environment variable rather than RUSTFLAGS
//! rebuilds only this crate and its dependents.

const MUTATIONS: &[&str] = &["no_generation_bump", "early_delete_event"];

fn main() {
    println!("cargo::rerun-if-env-changed=NETROUTE_MUTATION");
    match std::env::var("NETROUTE_MUTATION") {
        Ok(m) if m.is_empty() => {}
        Ok(m) if MUTATIONS.contains(&m.as_str()) => {
            println!(
                "cargo::warning=netroute built with the deliberate mutation {m}: for tests only"
            );
            println!("cargo::rustc-cfg=netroute_mutation=\"{m}\"");
        }
        Ok(m) => panic!("NETROUTE_MUTATION={m:?} is not one of {MUTATIONS:?}"),
        Err(_) => {}
    }
}
