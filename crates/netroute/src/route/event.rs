//! Route change notifications: the routing socket's `RTM_ADD`, `RTM_DELETE`,
//! `RTM_CHANGE` and `RTM_MISS` (`rt_newmsg`, `rt_missmsg` of sys/net/rtsock.c) as typed
//! events, with the delivery rules of the interface layer's
//! [`EventBus`](crate::ifnet::EventBus): a bounded queue per subscriber, a writer never
//! blocks, losses are counted and reported in the stream. (`RTM_GET` answers are the
//! return value of [`RouteTables::get`](super::RouteTables::get).)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};

use crate::ifnet::IfaAddr;

use super::RouteInfo;

/// One routing message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteEvent {
    /// `RTM_ADD`: a route was added.
    Add(RouteInfo),
    /// `RTM_DELETE`: a route was deleted (sent once its references drained).
    Delete(RouteInfo),
    /// `RTM_CHANGE`: a route was replaced; the new contents.
    Change(RouteInfo),
    /// `RTM_MISS`: a lookup found no route (not sent for `noclone` lookups).
    Miss {
        /// The destination looked up.
        dst: IfaAddr,
    },
    /// `RTM_REDIRECT`: a redirect was received, accepted or not.
    Redirect {
        /// The destination redirected.
        dst: IfaAddr,
        /// The new first hop it named.
        gateway: IfaAddr,
        /// The router that sent it.
        src: IfaAddr,
        /// Whether the table followed it.
        accepted: bool,
    },
    /// `RTM_LOSING`: a connection using this route keeps timing out (`in_losing`).
    Losing(RouteInfo),
}

impl RouteEvent {
    /// The event's kind, for [`RouteEventBus::subscribe_filtered`].
    pub fn kind(&self) -> RouteEventKinds {
        match self {
            RouteEvent::Add(_) => RouteEventKinds::ADD,
            RouteEvent::Delete(_) => RouteEventKinds::DELETE,
            RouteEvent::Change(_) => RouteEventKinds::CHANGE,
            RouteEvent::Miss { .. } => RouteEventKinds::MISS,
            RouteEvent::Redirect { .. } => RouteEventKinds::REDIRECT,
            RouteEvent::Losing(_) => RouteEventKinds::LOSING,
        }
    }
}

bitflags::bitflags! {
    /// A set of routing message kinds: what a subscriber asked for (NetBSD's
    /// `RO_MSGFILTER` routing-socket option). Events of other kinds never enter its
    /// queue, so they can neither fill it nor be reported lost to it: a listener that
    /// needs every `RTM_DELETE` is not crowded out by forwarders' `RTM_MISS` floods.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RouteEventKinds: u8 {
        /// [`RouteEvent::Add`].
        const ADD = 0x01;
        /// [`RouteEvent::Delete`].
        const DELETE = 0x02;
        /// [`RouteEvent::Change`].
        const CHANGE = 0x04;
        /// [`RouteEvent::Miss`].
        const MISS = 0x08;
        /// [`RouteEvent::Redirect`].
        const REDIRECT = 0x10;
        /// [`RouteEvent::Losing`].
        const LOSING = 0x20;
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteNotice {
    /// An event and its bus-wide sequence number.
    Event {
        /// Increases by one per published event.
        seq: u64,
        /// The event.
        event: RouteEvent,
    },
    /// `count` events were dropped here because the queue was full.
    Lost {
        /// How many.
        count: u64,
    },
}

struct Sub {
    tx: SyncSender<(u64, u64, RouteEvent)>,
    dropped: Arc<AtomicU64>,
    kinds: RouteEventKinds,
}

/// The subscriber list. Guarantees: [`publish`](Self::publish) never blocks on a
/// subscriber and every event is queued or counted as lost for each subscriber.
#[derive(Default)]
pub struct RouteEventBus {
    inner: Mutex<(u64, Vec<Sub>)>,
}

impl std::fmt::Debug for RouteEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteEventBus").finish_non_exhaustive()
    }
}

impl RouteEventBus {
    /// A new subscriber to every kind of event, with a queue of `capacity` (at least 1).
    pub fn subscribe(&self, capacity: usize) -> RouteSubscription {
        self.subscribe_filtered(capacity, RouteEventKinds::all())
    }

    /// A new subscriber to the events of `kinds` only, with a queue of `capacity` (at
    /// least 1). Sequence numbers stay bus-wide, so a filtered subscriber sees gaps
    /// where other kinds were published; losses are reported only for its own kinds.
    pub fn subscribe_filtered(&self, capacity: usize, kinds: RouteEventKinds) -> RouteSubscription {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.push(Sub {
            tx,
            dropped: Arc::clone(&dropped),
            kinds,
        });
        RouteSubscription {
            rx,
            dropped,
            stash: None,
        }
    }

    /// Publishes `event` to every subscriber without blocking; gone subscribers are
    /// forgotten.
    pub fn publish(&self, event: RouteEvent) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let seq = g.0;
        let kind = event.kind();
        g.1.retain(|s| {
            if !s.kinds.intersects(kind) {
                return true;
            }
            let lost = s.dropped.swap(0, Ordering::Relaxed);
            match s.tx.try_send((seq, lost, event.clone())) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    s.dropped.fetch_add(lost + 1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }
}

/// One subscriber's queue.
#[derive(Debug)]
pub struct RouteSubscription {
    rx: Receiver<(u64, u64, RouteEvent)>,
    dropped: Arc<AtomicU64>,
    stash: Option<(u64, RouteEvent)>,
}

impl RouteSubscription {
    /// The next notice, if one is queued; a [`RouteNotice::Lost`] comes where events
    /// were dropped.
    pub fn try_next(&mut self) -> Option<RouteNotice> {
        if let Some((seq, event)) = self.stash.take() {
            return Some(RouteNotice::Event { seq, event });
        }
        match self.rx.try_recv() {
            Ok((seq, lost, event)) if lost > 0 => {
                self.stash = Some((seq, event));
                Some(RouteNotice::Lost { count: lost })
            }
            Ok((seq, _, event)) => Some(RouteNotice::Event { seq, event }),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {
                let lost = self.dropped.swap(0, Ordering::Relaxed);
                (lost > 0).then_some(RouteNotice::Lost { count: lost })
            }
        }
    }

    /// Every event queued now (losses skipped), for tests and simple consumers.
    pub fn events(&mut self) -> Vec<RouteEvent> {
        std::iter::from_fn(|| self.try_next())
            .filter_map(|n| match n {
                RouteNotice::Event { event, .. } => Some(event),
                RouteNotice::Lost { .. } => None,
            })
            .collect()
    }
}
