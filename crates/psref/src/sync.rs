//! The loom seam: every primitive the protocol uses comes from here, so that
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked versions (as tokio's
//! `loom/mod.rs` does). Everything outside the protocol (ids, statistics) uses std
//! directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

pub(crate) use std::sync::atomic::Ordering;

/// One step of a polling loop. Under loom every step must yield so the model can
/// schedule the thread being waited for.
#[inline]
pub(crate) fn backoff(step: u32) {
    #[cfg(loom)]
    {
        let _ = step;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        if step < 64 {
            std::hint::spin_loop();
        } else if step < 80 {
            std::thread::yield_now();
        } else {
            // 20 µs doubling up to 1 ms: a reader preempted inside its section may
            // need a whole scheduler slice to come back.
            let shift = (step - 80).min(6);
            std::thread::sleep(std::time::Duration::from_micros(20u64 << shift));
        }
    }
}

/// Reads an atomic pointer through `&mut` (no other thread can see it).
#[inline]
pub(crate) fn ptr_get_mut<T>(a: &mut AtomicPtr<T>) -> *mut T {
    #[cfg(loom)]
    {
        a.with_mut(|p| *p)
    }
    #[cfg(not(loom))]
    {
        *a.get_mut()
    }
}
