//! The stack's one injectable monotonic clock.
//!
//! NetBSD reads `time_uptime` for address lifetimes and `getmicrouptime()` in `vtw_tick`
//! for TIME_WAIT expiry; here both read one [`Clock`] that the `Stack` hands to its
//! interface table, VTW tables and flow caches, so tests move time for all of them at
//! once with [`FakeClock`] or [`ManualClock`] instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: time since an arbitrary, fixed origin.
///
/// Guarantees expected of implementors: `now` never goes backwards. The interface
/// table computes lifetime expiry against it, so tests can drive expiry with
/// [`FakeClock`] instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time since the clock's origin.
    fn now(&self) -> Duration;

    /// [`now`](Self::now) in whole milliseconds (saturating), for the coarse timers.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.now().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The name VTW code used for [`SystemClock`].
pub type MonotonicClock = SystemClock;

/// The real clock: [`Instant`] elapsed since the clock was created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told ([`advance`](Self::advance)); for tests.
///
/// Guarantees: `now` returns exactly the sum of all advances (nanosecond resolution).
#[derive(Debug, Default)]
pub struct FakeClock {
    nanos: AtomicU64,
}

impl FakeClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(add))
            });
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ms),
        }
    }

    /// Moves the clock forward by `ms` (saturating).
    pub fn advance(&self, ms: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Sets the clock to `ms` if that is not earlier than the current reading; a request
    /// to go backwards is ignored, so the clock stays monotonic.
    pub fn set(&self, ms: u64) {
        self.now.fetch_max(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }

    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_advances_only_when_told() {
        let c = FakeClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_secs(3));
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now(), Duration::from_millis(3005));
        let s = SystemClock::new();
        let a = s.now();
        assert!(s.now() >= a);
    }

    #[test]
    fn manual_clock_is_monotonic() {
        let c = ManualClock::new(10);
        c.advance(5);
        assert_eq!(c.now_ms(), 15);
        c.set(3);
        assert_eq!(c.now_ms(), 15);
        c.set(100);
        assert_eq!(c.now_ms(), 100);
        c.advance(u64::MAX);
        assert_eq!(c.now_ms(), u64::MAX);
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let c = MonotonicClock::new();
        let a = c.now_ms();
        let b = c.now_ms();
        assert!(b >= a);
    }
}
