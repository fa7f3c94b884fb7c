//! The loom seam of the interface layer, as in `psref`'s `sync.rs`: the atomics that
//! carry state readers look at (deactivation, flags, removal marks, canaries) come from
//! here, so that under `--cfg loom` the model explores them along with psref's own.
//! Writer-only state (the writer lock, the event bus, the fake clock) stays on std.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
