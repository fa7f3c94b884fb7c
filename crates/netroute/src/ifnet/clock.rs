//! An injectable monotonic clock for address lifetimes (NetBSD reads `time_uptime`).

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
}

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
}
