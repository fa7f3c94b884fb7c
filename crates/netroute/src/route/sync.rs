//! The loom seam of the route layer (as `ifnet/sync.rs`): the atomics readers look at
//! (the generation, the use counters, canaries) switch to loom under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
