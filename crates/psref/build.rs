//! Test-only protocol mutations: `PSREF_MUTATION=NAME` builds psref with one deliberate
//! bug (see `tests/loom.rs`), so that CI can show each one is caught. Going through an
//! environment variable rather than RUSTFLAGS rebuilds only this crate.

const MUTATIONS: &[&str] = &[
    "no_reader_fence",
    "relaxed_enter",
    "no_synchronize",
    "no_drain",
    "copy_new_entry",
];

fn main() {
    println!("cargo::rerun-if-env-changed=PSREF_MUTATION");
    match std::env::var("PSREF_MUTATION") {
        Ok(m) if m.is_empty() => {}
        Ok(m) if MUTATIONS.contains(&m.as_str()) => {
            println!("cargo::warning=psref built with the deliberate mutation {m}: for tests only");
            println!("cargo::rustc-cfg=psref_mutation=\"{m}\"");
        }
        Ok(m) => panic!("PSREF_MUTATION={m:?} is not one of {MUTATIONS:?}"),
        Err(_) => {}
    }
}
