//! Change notifications: NetBSD's routing-socket messages `RTM_IFANNOUNCE`,
//! `RTM_IFINFO`, `RTM_NEWADDR`, `RTM_CHGADDR` and `RTM_DELADDR` (`rt_ifannouncemsg`, `rt_ifmsg`,
//! `rt_newaddrmsg` of sys/net/rtsock.c) as typed events on a subscriber list.
//!
//! Each subscriber has a bounded queue. A writer never blocks on a slow subscriber: an
//! event that does not fit is dropped and counted, as a full routing socket drops
//! messages (`ROUTE_ENOBUFS`). Unlike a routing socket, the loss is never silent: the
//! subscriber receives [`Notice::Lost`] at the place in the stream where events went
//! missing. The route layer will publish its own events (`RTM_ADD`, ...) on the same
//! bus, hence `#[non_exhaustive]` on [`Event`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::addr::IfIndex;

use super::{IfFlags, IfaAddr, In6Flags};

/// `ifan_what` of `RTM_IFANNOUNCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// `IFAN_ARRIVAL`: the interface was attached.
    Arrival,
    /// `IFAN_DEPARTURE`: the interface was detached (sent once it is freed).
    Departure,
}

/// One change notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `RTM_IFANNOUNCE`: an interface arrived or departed.
    IfAnnounce {
        /// Its index.
        index: IfIndex,
        /// Its name.
        name: String,
        /// Arrival or departure.
        what: Announce,
    },
    /// `RTM_IFINFO`: an interface's flags or MTU changed.
    IfInfo {
        /// Its index.
        index: IfIndex,
        /// The flags after the change.
        flags: IfFlags,
        /// The MTU after the change.
        mtu: u32,
    },
    /// `RTM_NEWADDR`: an address was added.
    NewAddr {
        /// The interface.
        index: IfIndex,
        /// The address.
        addr: IfaAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// `RTM_CHGADDR`: an address's IPv6 flags changed (DAD finished or failed, the
    /// preferred lifetime ran out or was refreshed).
    ChgAddr {
        /// The interface.
        index: IfIndex,
        /// The address.
        addr: IfaAddr,
        /// The flags after the change.
        flags: In6Flags,
    },
    /// `RTM_DELADDR`: an address was removed (explicitly, by expiry or by detach).
    DelAddr {
        /// The interface.
        index: IfIndex,
        /// The address.
        addr: IfaAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// `RTM_ADD`/`RTM_DELETE`/`RTM_CHANGE`/`RTM_MISS` from the route tables built on this
    /// interface table, in one sequence with the interface and address messages — the
    /// stack's routing socket.
    Route(crate::route::RouteEvent),
}

impl Event {
    /// The event's kind, for [`EventBus::subscribe_filtered`].
    pub fn kind(&self) -> EventKinds {
        use crate::route::RouteEvent as R;
        match self {
            Event::IfAnnounce { .. } => EventKinds::IF_ANNOUNCE,
            Event::IfInfo { .. } => EventKinds::IF_INFO,
            Event::NewAddr { .. } => EventKinds::NEW_ADDR,
            Event::ChgAddr { .. } => EventKinds::CHG_ADDR,
            Event::DelAddr { .. } => EventKinds::DEL_ADDR,
            Event::Route(r) => match r {
                R::Add(_) => EventKinds::ROUTE_ADD,
                R::Delete(_) => EventKinds::ROUTE_DELETE,
                R::Change(_) => EventKinds::ROUTE_CHANGE,
                R::Miss { .. } => EventKinds::ROUTE_MISS,
                R::Redirect { .. } => EventKinds::ROUTE_REDIRECT,
                R::Losing(_) => EventKinds::ROUTE_LOSING,
            },
        }
    }
}

bitflags::bitflags! {
    /// A set of routing-socket message kinds: what a subscriber asked for (NetBSD's
    /// `RO_MSGFILTER`). Events of other kinds never enter its queue, so they can neither
    /// fill it nor be reported lost to it (a daemon that wants interface and route
    /// changes is not crowded out by forwarders' `RTM_MISS` messages).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct EventKinds: u16 {
        /// `RTM_IFANNOUNCE`.
        const IF_ANNOUNCE = 0x0001;
        /// `RTM_IFINFO`.
        const IF_INFO = 0x0002;
        /// `RTM_NEWADDR`.
        const NEW_ADDR = 0x0004;
        /// `RTM_CHGADDR`.
        const CHG_ADDR = 0x0008;
        /// `RTM_DELADDR`.
        const DEL_ADDR = 0x0010;
        /// `RTM_ADD`.
        const ROUTE_ADD = 0x0100;
        /// `RTM_DELETE`.
        const ROUTE_DELETE = 0x0200;
        /// `RTM_CHANGE`.
        const ROUTE_CHANGE = 0x0400;
        /// `RTM_MISS`.
        const ROUTE_MISS = 0x0800;
        /// `RTM_REDIRECT`.
        const ROUTE_REDIRECT = 0x1000;
        /// `RTM_LOSING`.
        const ROUTE_LOSING = 0x2000;
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// An event, with the bus-wide sequence number it was published under.
    Event {
        /// Increases by one per published event (over all subscribers).
        seq: u64,
        /// The event.
        event: Event,
    },
    /// `count` events were dropped here because this subscriber's queue was full.
    Lost {
        /// How many.
        count: u64,
    },
}

struct Sub {
    tx: SyncSender<(u64, u64, Event)>,
    dropped: Arc<AtomicU64>,
    kinds: EventKinds,
}

/// The subscriber list. Guarantees: [`publish`](Self::publish) never blocks on a
/// subscriber (it takes only the bus's own short lock), and every event is either queued
/// for a subscriber or counted as lost for it.
#[derive(Default)]
pub struct EventBus {
    inner: Mutex<BusInner>,
}

#[derive(Default)]
struct BusInner {
    seq: u64,
    subs: Vec<Sub>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("EventBus")
            .field("seq", &g.seq)
            .field("subscribers", &g.subs.len())
            .finish()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new subscriber whose queue holds at most `capacity` events (at least 1).
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        self.subscribe_filtered(capacity, EventKinds::all())
    }

    /// A new subscriber to the events of `kinds` only, with a queue of `capacity` (at
    /// least 1). Sequence numbers stay bus-wide (gaps where other kinds went by); losses
    /// are counted only for its own kinds.
    pub fn subscribe_filtered(&self, capacity: usize, kinds: EventKinds) -> Subscription {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.lock().subs.push(Sub {
            tx,
            dropped: dropped.clone(),
            kinds,
        });
        Subscription {
            rx,
            dropped,
            reported: 0,
            pending: None,
        }
    }

    /// Sends `event` to every subscriber without waiting; full queues count a loss,
    /// closed subscriptions are forgotten.
    pub fn publish(&self, event: Event) {
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        let kind = event.kind();
        g.subs.retain(|s| {
            if !s.kinds.intersects(kind) {
                return true;
            }
            let before = s.dropped.load(Ordering::Relaxed);
            match s.tx.try_send((seq, before, event.clone())) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Release);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.lock().subs.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One subscriber's end of the bus. Dropping it unsubscribes.
///
/// Guarantees: notices come in publication order; a gap is reported as
/// [`Notice::Lost`] exactly where it happened, with the exact number of events lost.
pub struct Subscription {
    rx: Receiver<(u64, u64, Event)>,
    dropped: Arc<AtomicU64>,
    reported: u64,
    pending: Option<(u64, Event)>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("lost", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl Subscription {
    /// The next notice if one is ready, without waiting.
    pub fn try_next(&mut self) -> Option<Notice> {
        if let Some((seq, event)) = self.pending.take() {
            return Some(Notice::Event { seq, event });
        }
        match self.rx.try_recv() {
            Ok(m) => Some(self.deliver(m)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => self.lost_at_tail(),
        }
    }

    /// The next notice, waiting at most `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Notice> {
        if let Some(n) = self.try_next() {
            return Some(n);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Some(self.deliver(m)),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => self.lost_at_tail(),
        }
    }

    /// Every notice ready now.
    pub fn drain(&mut self) -> Vec<Notice> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Total events lost by this subscriber so far.
    pub fn lost(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }

    fn deliver(&mut self, (seq, dropped_before, event): (u64, u64, Event)) -> Notice {
        if dropped_before > self.reported {
            let count = dropped_before - self.reported;
            self.reported = dropped_before;
            self.pending = Some((seq, event));
            return Notice::Lost { count };
        }
        Notice::Event { seq, event }
    }

    fn lost_at_tail(&mut self) -> Option<Notice> {
        let d = self.dropped.load(Ordering::Acquire);
        (d > self.reported).then(|| {
            let count = d - self.reported;
            self.reported = d;
            Notice::Lost { count }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> Event {
        Event::IfInfo {
            index: IfIndex::new(i).unwrap(),
            flags: IfFlags::UP,
            mtu: 1500,
        }
    }

    #[test]
    fn slow_subscriber_is_told_where_it_lost_events() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe(2);
        let mut fast = bus.subscribe(16);
        for i in 1..=5 {
            bus.publish(ev(i));
        }
        assert_eq!(fast.drain().len(), 5);
        assert_eq!(slow.lost(), 3);
        // The two queued events, then the loss of 3 at the tail.
        let got = slow.drain();
        assert_eq!(
            got,
            vec![
                Notice::Event {
                    seq: 1,
                    event: ev(1)
                },
                Notice::Event {
                    seq: 2,
                    event: ev(2)
                },
                Notice::Lost { count: 3 },
            ]
        );
        // A later event comes after nothing lost.
        bus.publish(ev(6));
        bus.publish(ev(7));
        bus.publish(ev(8)); // dropped
        bus.publish(ev(9)); // dropped
        let _ = slow.try_next(); // frees room for one
        bus.publish(ev(10));
        let rest = slow.drain();
        assert_eq!(
            rest,
            vec![
                Notice::Event {
                    seq: 7,
                    event: ev(7)
                },
                Notice::Lost { count: 2 },
                Notice::Event {
                    seq: 10,
                    event: ev(10)
                },
            ]
        );
    }

    #[test]
    fn dropped_subscription_is_forgotten() {
        let bus = EventBus::new();
        let s = bus.subscribe(1);
        assert_eq!(bus.subscribers(), 1);
        drop(s);
        bus.publish(ev(1));
        assert_eq!(bus.subscribers(), 0);
    }
}
