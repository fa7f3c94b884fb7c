//! Live heap bytes, for the memory figures of `netroute bench`: the binary's global
//! allocator is the system allocator wrapped by the `cap` crate, which counts every
//! allocation (two relaxed atomic adds per call; nothing on the lookup paths allocates).

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Bytes currently allocated by the whole process.
pub(crate) fn live() -> usize {
    ALLOCATOR.allocated()
}
