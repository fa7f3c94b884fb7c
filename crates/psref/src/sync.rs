//! The loom seam: every primitive the protocol uses comes from here, so that
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked versions (as tokio's
//! `loom/mod.rs` does). Everything outside the protocol (ids, statistics) uses std
//! directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

pub(crate) use std::sync::atomic::Ordering;

/// A polling loop's waiting policy: spin briefly, then yield, then sleep in short steps.
///
/// A writer waits for readers to leave sections that normally last microseconds; a reader
/// preempted inside its section needs a scheduler slice to come back. Spinning for the
/// first ~20 µs catches the common case at once; yielding up to ~200 µs lets a preempted
/// reader run on this CPU; after that the writer sleeps 50 µs at a time (the sleep length
/// is the latency added after the reader finally leaves), and 1 ms at a time once it has
/// waited 10 ms (a reference held across blocking work).
pub(crate) struct Backoff {
    #[cfg(not(loom))]
    start: Option<std::time::Instant>,
    spins: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            #[cfg(not(loom))]
            start: None,
            spins: 0,
        }
    }

    /// Waits a little.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(loom)]
        {
            self.spins += 1;
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            // Pure spinning for the first steps avoids even reading the clock.
            if self.spins < 32 {
                self.spins += 1;
                std::hint::spin_loop();
                return;
            }
            let start = *self.start.get_or_insert_with(std::time::Instant::now);
            let waited = start.elapsed();
            if waited < std::time::Duration::from_micros(20) {
                for _ in 0..16 {
                    std::hint::spin_loop();
                }
            } else if waited < std::time::Duration::from_micros(200) {
                std::thread::yield_now();
            } else if waited < std::time::Duration::from_millis(10) {
                std::thread::sleep(std::time::Duration::from_micros(50));
            } else {
                // A long wait is a reference held across blocking work (a destroy waiting
                // for a psref): poll less often.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
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
