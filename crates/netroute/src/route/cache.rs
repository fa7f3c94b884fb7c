//! `struct route` and the `rtcache_*` functions of sys/net/route.c (1.207 semantics).
//!
//! A [`RouteCache`] belongs to one user (a PCB under its lock, a per-thread
//! forwarder): it is `Send` but not `Sync`, and every method takes `&mut self`. It
//! holds the destination, a weak handle to the entry (slab index + route id, not a
//! reference: the cache never keeps the entry alive between uses) and the generation it
//! was filled at.
//!
//! Hit path ([`RouteCache::validate`]): one relaxed load and compare of the global
//! generation, one read section, one slot load and id compare, one psref acquire; no
//! LPM. The reference returned borrows the cache, so a cache hands out one reference at
//! a time and the borrow checker enforces `rtcache_unref` (the drop).
//!
//! Why a relaxed generation load is enough: a delete bumps the generation, then
//! synchronizes, then empties the slot and drains references. A validation whose read
//! section started before that synchronize may see the old generation, but then the
//! entry is still in its slot and the psref it takes keeps the delete waiting; one that
//! starts after it sees the new generation (pserialize orders the writer's stores
//! before the synchronize with every later section). The (index, id) compare is a
//! second guard: indices are reused only after a drain and ids never.
//!
//! Differences from NetBSD: the destination is an [`IfaAddr`] (IPv6 with its zone, not
//! an embedded one); `set_dst` can fail only through the failure injection knob
//! ([`RouteCache::fail_next_alloc`]), standing for `sockaddr_dup`'s `ENOMEM`;
//! [`RouteCache::clear`] exists again (NetBSD 1.207 removed it in favour of
//! `rtcache_free`/`rtcache_update`); [`RouteCache::copy_from`] takes no route if the
//! generation moved between validating the source and snapshotting (NetBSD excludes
//! that window with `RT_RLOCK`).

use std::cell::Cell;
use std::marker::PhantomData;

use psref::{ReadGuard, Shared};

use crate::ifnet::IfaAddr;

use super::table::Handle;
use super::{RouteError, RouteRef, RouteTables, RtEntry};

/// A route cache (`struct route`).
///
/// Invariant (`rtcache_invariants`): a cache without a destination has no route.
///
/// A cache hands out one reference at a time (the second `validate` needs the first
/// reference dropped: `rtcache_unref`):
/// ```compile_fail
/// # use std::sync::Arc;
/// # use netroute::{ifnet::IfTable, psref::Domain, route::{RouteCache, RouteTables}};
/// let rt = RouteTables::new(Arc::new(IfTable::new(Arc::new(Domain::new()))));
/// let mut c = RouteCache::new();
/// let a = c.validate(&rt);
/// let b = c.validate(&rt);
/// drop((a, b));
/// ```
/// A cache is not shared between threads (`Send`, not `Sync`):
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<netroute::route::RouteCache>();
/// ```
/// and neither is a reference from it:
/// ```compile_fail
/// # use std::sync::Arc;
/// # use netroute::{ifnet::IfTable, psref::Domain, route::{RouteCache, RouteTables}};
/// let rt = RouteTables::new(Arc::new(IfTable::new(Arc::new(Domain::new()))));
/// let mut c = RouteCache::new();
/// let r = c.validate(&rt);
/// std::thread::scope(|s| { s.spawn(move || drop(r)); });
/// ```
#[derive(Debug, Default)]
pub struct RouteCache {
    dst: Option<IfaAddr>,
    rt: Option<Handle>,
    generation: u64,
    tables: u64,
    fail_alloc: bool,
    _not_sync: PhantomData<Cell<()>>,
}

impl RouteCache {
    /// An empty cache (no destination, no route).
    pub fn new() -> Self {
        Self::default()
    }

    fn check(&self) {
        debug_assert!(
            self.dst.is_some() || self.rt.is_none(),
            "route cache invariant"
        );
    }

    /// The destination (`rtcache_getdst`).
    pub fn dst(&self) -> Option<IfaAddr> {
        self.dst
    }

    /// True if the cache holds a route handle (possibly stale; see
    /// [`validate`](Self::validate)).
    pub fn has_route(&self) -> bool {
        self.rt.is_some()
    }

    /// Failure injection: the next allocation of a destination (first set, or a family
    /// change) fails with [`RouteError::NoMemory`].
    pub fn fail_next_alloc(&mut self) {
        self.fail_alloc = true;
    }

    /// `rtcache_setdst`: forgets the route and sets the destination. The same family
    /// is overwritten in place; a new family "reallocates", which may fail with
    /// [`RouteError::NoMemory`], leaving the cache empty (no destination, no route).
    pub fn set_dst(&mut self, dst: impl Into<IfaAddr>) -> Result<(), RouteError> {
        let dst = dst.into();
        self.rt = None;
        let same = self.dst.is_some_and(|d| d.family() == dst.family());
        if !same {
            self.free();
            if std::mem::take(&mut self.fail_alloc) {
                return Err(RouteError::NoMemory);
            }
        }
        self.dst = Some(dst);
        self.check();
        Ok(())
    }

    /// `rtcache_free`: forgets the route and the destination.
    pub fn free(&mut self) {
        self.rt = None;
        self.dst = None;
    }

    /// Forgets the route, keeps the destination (the next use looks it up again).
    pub fn clear(&mut self) {
        self.rt = None;
    }

    /// The cached route if still valid, with a reference taken in the caller's table.
    fn try_validate<'t>(&self, t: &'t RouteTables) -> Option<RouteRef<'t>> {
        let h = self.rt?;
        if self.generation != t.generation_relaxed() || self.tables != t.id() {
            return None;
        }
        let g = t.domain().read();
        t.load_handle(&g, h).map(|e| RouteRef(e.acquire()))
    }

    /// `rtcache_validate`: the cached route if no route of either family changed since
    /// it was cached, with a passive reference borrowed from the cache; `None` (and the
    /// handle forgotten) otherwise, or if the cache belongs to other tables.
    #[inline]
    pub fn validate<'s>(&'s mut self, t: &'s RouteTables) -> Option<RouteRef<'s>> {
        if let Some(r) = self.try_validate(t) {
            return Some(r);
        }
        self.rt = None;
        None
    }

    /// [`validate`](Self::validate) inside the caller's open read section, for
    /// forwarders that handle a batch of packets per section: no psref is taken, so the
    /// entry is borrowed from the section (`'g`) and valid until it ends; the cache is
    /// free for the next use at once. The hit path is the generation compare, one slot
    /// load and one id compare.
    ///
    /// A route deleted after the section began may still be returned (as from any
    /// reader that started first); one whose delete *completed* before the section
    /// began never is: the delete bumped the generation before its synchronize, and
    /// pserialize orders that bump before every later section.
    ///
    /// # Panics
    /// If `guard` is a section of another domain than the tables' (psref's check).
    #[inline]
    pub fn validate_shared<'a, 'g>(
        &mut self,
        t: &'a RouteTables,
        guard: &'g ReadGuard<'a>,
    ) -> Option<Shared<'g, 'a, RtEntry>> {
        if let Some(h) = self.rt
            && self.generation == t.generation_relaxed()
            && self.tables == t.id()
            && let Some(e) = t.load_handle(guard, h)
        {
            return Some(e);
        }
        self.rt = None;
        None
    }

    /// [`lookup_noclone`](Self::lookup_noclone) inside the caller's open read section
    /// (see [`validate_shared`](Self::validate_shared)): the route to `dst` from the
    /// cache if it holds `dst` and still validates (`hit == true`), else from the FIB,
    /// refilling the cache. Misses are counted, not reported (reporting may block on
    /// the event bus's lock, which has no place in a read section); the use counter is
    /// bumped on a refill only.
    pub fn lookup_shared<'a, 'g>(
        &mut self,
        t: &'a RouteTables,
        guard: &'g ReadGuard<'a>,
        dst: impl Into<IfaAddr>,
    ) -> (Option<Shared<'g, 'a, RtEntry>>, bool) {
        let dst = dst.into();
        if self.dst == Some(dst) {
            if let Some(e) = self.validate_shared(t, guard) {
                return (Some(e), true);
            }
        } else {
            self.free();
        }
        if self.set_dst(dst).is_err() {
            return (None, false);
        }
        let generation = t.generation();
        match t.lookup_in(guard, &dst) {
            Some((h, e)) => {
                e.add_use(1);
                self.rt = Some(h);
                self.generation = generation;
                self.tables = t.id();
                (Some(e), false)
            }
            None => {
                t.note_miss(dst, false);
                (None, false)
            }
        }
    }

    /// `_rtcache_init`: looks the destination up and caches the result.
    fn fill<'t>(&mut self, t: &'t RouteTables, report: bool) -> Option<RouteRef<'t>> {
        let dst = self.dst?;
        let g = t.domain().read();
        // The generation first: a fill that sees a writer's bump (Acquire) also sees
        // its FIB; one that does not is tagged with a generation already stale.
        let generation = t.generation();
        match t.lookup_in(&g, &dst) {
            Some((h, e)) => {
                e.add_use(1);
                self.rt = Some(h);
                self.generation = generation;
                self.tables = t.id();
                Some(RouteRef(e.acquire()))
            }
            None => {
                drop(g);
                self.rt = None;
                t.note_miss(dst, report);
                None
            }
        }
    }

    /// `rtcache_init`: looks the destination up (reporting a miss as
    /// [`RouteEvent::Miss`](super::RouteEvent::Miss)) and caches the result. `None` on
    /// a miss or without a destination.
    pub fn init<'s>(&'s mut self, t: &'s RouteTables) -> Option<RouteRef<'s>> {
        self.fill(t, true)
    }

    /// `rtcache_init_noclone`: as [`init`](Self::init) but a miss is not reported.
    pub fn init_noclone<'s>(&'s mut self, t: &'s RouteTables) -> Option<RouteRef<'s>> {
        self.fill(t, false)
    }

    /// `rtcache_update(ro, clone)`: forgets the route and looks it up again.
    pub fn update<'s>(&'s mut self, t: &'s RouteTables, report: bool) -> Option<RouteRef<'s>> {
        self.rt = None;
        self.fill(t, report)
    }

    /// `rtcache_lookup`: the route to `dst`, from the cache if it holds `dst` and is
    /// still valid (`hit == true`), else by a table lookup that refills it (a miss is
    /// reported). A different destination replaces the cached one.
    pub fn lookup<'s>(
        &'s mut self,
        t: &'s RouteTables,
        dst: impl Into<IfaAddr>,
    ) -> (Option<RouteRef<'s>>, bool) {
        self.lookup2(t, dst.into(), true)
    }

    /// `rtcache_lookup1(ro, dst, 0)`: as [`lookup`](Self::lookup) without reporting a
    /// miss.
    pub fn lookup_noclone<'s>(
        &'s mut self,
        t: &'s RouteTables,
        dst: impl Into<IfaAddr>,
    ) -> (Option<RouteRef<'s>>, bool) {
        self.lookup2(t, dst.into(), false)
    }

    /// `rtcache_lookup` followed by a check of the route: if `accept` refuses it, the
    /// reference is released and the cache emptied (`rtcache_unref` +
    /// `rtcache_free`, as `in6_selectroute` does for a next hop that is not a
    /// neighbour) and the answer is `None`. `hit` is as for [`lookup`](Self::lookup).
    pub fn lookup_checked<'s>(
        &'s mut self,
        t: &'s RouteTables,
        dst: impl Into<IfaAddr>,
        accept: impl FnOnce(&super::RtEntry) -> bool,
    ) -> (Option<RouteRef<'s>>, bool) {
        let (r, hit) = self.lookup2(t, dst.into(), true);
        match r {
            Some(r) if accept(&r) => (Some(r), hit),
            r => {
                drop(r);
                self.free();
                (None, hit)
            }
        }
    }

    fn lookup2<'t>(
        &mut self,
        t: &'t RouteTables,
        dst: IfaAddr,
        report: bool,
    ) -> (Option<RouteRef<'t>>, bool) {
        if self.dst == Some(dst) {
            if let Some(r) = self.try_validate(t) {
                return (Some(r), true);
            }
            self.rt = None;
        } else {
            self.free();
        }
        if self.set_dst(dst).is_err() {
            return (None, false);
        }
        (self.fill(t, report), false)
    }

    /// `rtcache_copy(self, old)`: takes `old`'s destination and, if `old` validates,
    /// its route, tagged with the *current* generation (as NetBSD). No reference is
    /// kept. Fails only as [`set_dst`](Self::set_dst) does.
    pub fn copy_from(&mut self, t: &RouteTables, old: &mut RouteCache) -> Result<(), RouteError> {
        let Some(dst) = old.dst else {
            self.free();
            return Ok(());
        };
        let validated = old.generation;
        let handle = old.validate(t).map(|_r| ());
        let h = handle.and(old.rt);
        self.set_dst(dst)?;
        let now = t.generation();
        if h.is_some() && now == validated {
            self.rt = h;
            self.generation = now;
            self.tables = t.id();
        }
        self.check();
        Ok(())
    }
}
