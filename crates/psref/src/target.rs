//! `struct psref_target`: the part of a protected object that references point at.

use crate::sync::{AtomicBool, Ordering};

/// The psref target embedded in every protected object (NetBSD `struct psref_target`).
///
/// It records which domain the object belongs to (a reader of another domain that finds it
/// panics instead of racing with a writer that does not wait for it) and whether the object
/// is being destroyed (`prt_draining`).
#[derive(Debug)]
pub struct Target {
    domain_id: u64,
    draining: AtomicBool,
}

impl Target {
    pub(crate) fn new(domain_id: u64) -> Self {
        Target {
            domain_id,
            draining: AtomicBool::new(false),
        }
    }

    /// Id of the domain the object was published in.
    pub fn domain_id(&self) -> u64 {
        self.domain_id
    }

    /// True once a destroy of the object has begun. No reference can be acquired after
    /// that point (checked in debug builds and loom models).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
