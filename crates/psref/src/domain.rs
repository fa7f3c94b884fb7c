//! The domain: pserialize (`pserialize_read_enter/exit`, `pserialize_perform`) and the
//! psref class (`psref_class_create`, `psref_target_destroy`) of one protected world.
//!
//! NetBSD has one system-wide pserialize and a psref class per object kind; here both live
//! in a `Domain` value owned by whoever owns the protected objects (netroute's `Stack`),
//! so two stacks in one process never wait for each other's readers.
//!
//! # Protocol
//!
//! *Reader.* Enter: load the domain epoch (Acquire), store `epoch | 1` into the thread's
//! record (Release), reader fence (a compiler fence when the domain's writers use
//! membarrier, a SeqCst fence otherwise; fixed per domain at creation, so both sides of
//! one domain always agree). Exit: store 0 (Release). Nested sections only count.
//!
//! *Writer (`synchronize`).* Bump the epoch by 2 (AcqRel), writer barrier (SeqCst fence +
//! membarrier), then for every record wait until it shows 0 or an epoch at least the new
//! one. A reader either (a) fenced before the writer's barrier, so the writer sees its
//! announcement and waits for its exit, whose Release store then orders the whole section
//! before the writer's next step; or (b) fenced after it, so its loads already see every
//! store the writer made before synchronize (the unlink). A reader whose announcement
//! carries the new epoch read that epoch from the writer's AcqRel bump and so sees the
//! unlink too: that is why new readers never make the writer wait (no starvation).
//! Release on the exit store matters: the writer may stop waiting on the *next* section's
//! announcement, and only a Release store there carries the previous section's accesses.
//!
//! *Registration.* A new record is pushed on the domain's list and followed by a SeqCst
//! fence before its first read section; `synchronize` loads the list head after its own
//! fence. Of the two fences one comes first: either the writer sees the record, or the
//! record's first epoch load sees the bump (and, as above, the unlink).

use crate::barrier;
use crate::record::{Entry, Record};
use crate::sync::{AtomicPtr, AtomicU64, Backoff, Ordering, fence};
use crate::target::Target;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ids are never reused, so a thread-local cache keyed by id cannot confuse a dead domain
/// with a new one at the same address.
static NEXT_DOMAIN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static NEXT_THREAD_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a slow drain reports: which threads still hold references to the targets a
/// destroy is waiting for.
///
/// A diagnostic snapshot, best effort: the holders keep running while their records are
/// read (each field with an acquire load, but not as one atomic view), so a reference
/// taken or released during the scan may be missing or counted in the old state, and a
/// report may name no holder at all. The destroy itself never relies on it: it waits on
/// the per-CPU counts, whatever a report says.
#[derive(Clone, Debug)]
pub struct DrainReport {
    /// How long the destroy has waited so far.
    pub waited: Duration,
    /// Targets still referenced.
    pub targets_waiting: usize,
    /// One line per (thread, target) still holding references.
    pub holders: Vec<Holder>,
}

/// A thread that holds references to a target being destroyed.
#[derive(Clone, Debug)]
pub struct Holder {
    /// Name of the holding thread (`<unnamed>`, or `<exited>` for a record whose thread
    /// exited while leaking a reference).
    pub thread: String,
    /// Address of the target (stable for the life of the object).
    pub target: usize,
    /// Number of references.
    pub count: usize,
    /// Where the reference was taken, with the `holder-locations` feature.
    pub location: Option<&'static std::panic::Location<'static>>,
}

type DrainHook = Box<dyn Fn(&DrainReport) + Send + Sync>;

/// A pserialize domain plus its psref class.
///
/// Guarantees:
/// * [`read`](Self::read) never blocks and writes only the calling thread's record;
/// * [`synchronize`](Self::synchronize) returns only after every read section of this
///   domain that was open when it was called has closed, and is not delayed by sections
///   that open after it was called;
/// * a target destroyed through this domain ([`Retired`](crate::Retired),
///   [`Batch`](crate::Batch)) is freed only after every [`PsRef`](crate::PsRef) to it
///   was released.
pub struct Domain {
    id: u64,
    /// Even; starts at 2 so that `epoch | 1` is never 0.
    epoch: crossbeam_padded::Padded<AtomicU64>,
    /// Whether this domain's writers send `membarrier(2)` and its readers therefore only
    /// need a compiler fence. Fixed at creation: readers and writers of one domain always
    /// agree on the protocol.
    membarrier: bool,
    /// Append-only list of records (never shrinks while the domain lives).
    head: AtomicPtr<Record>,
    drain_warn_after: std::sync::Mutex<Duration>,
    drain_hook: std::sync::Mutex<Option<DrainHook>>,
}

mod crossbeam_padded {
    /// Keeps the epoch on its own cache-line pair: readers load it on every section entry,
    /// and a neighbour written often would make those loads miss.
    #[repr(align(128))]
    pub(crate) struct Padded<T>(pub(crate) T);
    impl<T> std::ops::Deref for Padded<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }
}

// SAFETY: the records reachable from `head` are only mutated through atomics (or
// std Mutexes), and each is kept alive by the Arc reference the list owns.
unsafe impl Send for Domain {}
// SAFETY: as above; every shared access is atomic.
unsafe impl Sync for Domain {}

impl Default for Domain {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("id", &self.id)
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("records", &self.records().count())
            .finish()
    }
}

struct TlsEntry {
    domain_id: u64,
    record: Arc<Record>,
}

/// Gives every thread's records back when the thread exits, so exited threads never
/// block writers and their records are reused.
struct TlsRegistry(Vec<TlsEntry>);

impl Drop for TlsRegistry {
    fn drop(&mut self) {
        // A failed loom model unwinds outside its execution, where loom atomics panic.
        #[cfg(loom)]
        if std::thread::panicking() {
            return;
        }
        for e in self.0.drain(..) {
            e.record.release();
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static LAST: Cell<(u64, *const Record)> = const { Cell::new((0, ptr::null())) };
    static REGISTRY: std::cell::RefCell<TlsRegistry> = const { std::cell::RefCell::new(TlsRegistry(Vec::new())) };
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}
#[cfg(loom)]
loom::thread_local! {
    static LAST: Cell<(u64, *const Record)> = Cell::new((0, ptr::null()));
    static REGISTRY: std::cell::RefCell<TlsRegistry> = std::cell::RefCell::new(TlsRegistry(Vec::new()));
    static TOKEN: Cell<u64> = Cell::new(0);
}

/// A token identifying the calling thread (never 0, never reused).
pub(crate) fn thread_token() -> u64 {
    TOKEN.with(|t| {
        let v = t.get();
        if v != 0 {
            return v;
        }
        let v = NEXT_THREAD_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        t.set(v);
        v
    })
}

impl Domain {
    /// Creates a domain in the process's barrier mode: membarrier where the kernel offers
    /// it (see [`barrier::init`](crate::barrier::init); the first call in a process
    /// decides the mode).
    pub fn new() -> Self {
        let membarrier = barrier::init() == barrier::BarrierMode::Membarrier;
        Self::with_membarrier(membarrier)
    }

    /// Creates a domain whose readers fence every section entry themselves (one locked
    /// instruction on x86-64, about 10 ns) and whose writers therefore never interrupt
    /// them with `membarrier(2)`, whatever the process mode.
    ///
    /// The choice for readers that open one section per batch of work (a FIB reader per
    /// 1,024 lookups, a forwarder per packet burst) while a writer synchronizes often: on
    /// the project's 2-vCPU KVM guests each membarrier costs a running reader several
    /// microseconds (the IPI and its VM exits, about 6 µs measured), so a writer
    /// publishing single route updates through a membarrier domain took an IPv4 FIB
    /// reader down to 26–68 % of its rate, and to 71–76 % through a fenced one (IPv6:
    /// 64–87 % and 93–98 %; BENCHMARKS.md, FIB "Session 4"). Readers that open a section
    /// per object, where the fence would dominate, want [`Domain::new`].
    pub fn fenced() -> Self {
        barrier::init();
        Self::with_membarrier(false)
    }

    fn with_membarrier(membarrier: bool) -> Self {
        Domain {
            id: NEXT_DOMAIN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            epoch: crossbeam_padded::Padded(AtomicU64::new(2)),
            membarrier,
            head: AtomicPtr::new(ptr::null_mut()),
            drain_warn_after: std::sync::Mutex::new(Duration::from_secs(1)),
            drain_hook: std::sync::Mutex::new(None),
        }
    }

    /// This domain's id (unique in the process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The fence protocol of this domain ([`Domain::new`]: the process mode;
    /// [`Domain::fenced`]: always [`Fallback`](barrier::BarrierMode::Fallback)).
    pub fn barrier_mode(&self) -> barrier::BarrierMode {
        if self.membarrier {
            barrier::BarrierMode::Membarrier
        } else {
            barrier::BarrierMode::Fallback
        }
    }

    /// Opens a read section on the calling thread (`pserialize_read_enter`).
    ///
    /// Cheap: a thread-local lookup, a load of the epoch and a store to the thread's own
    /// record. Never blocks (the first call on a thread registers it, which allocates).
    /// Sections nest. The guard is neither `Send` nor `Sync`, and must not be held across
    /// anything that waits for a writer of this domain.
    #[inline]
    pub fn read(&self) -> ReadGuard<'_> {
        let rec = self.local_record();
        // SAFETY: `rec` is owned by this thread and kept alive by this domain's list,
        // which `self` borrows for the guard's lifetime.
        unsafe { ReadGuard::enter(self, rec) }
    }

    /// Runs `f` inside a read section.
    #[inline]
    pub fn with_read<'d, R>(&'d self, f: impl FnOnce(&ReadGuard<'d>) -> R) -> R {
        let g = self.read();
        f(&g)
    }

    /// A per-thread reader handle: owns a record of its own for as long as it lives, so
    /// its read sections skip the thread-local lookup. For hot loops (forwarders, batch
    /// lookups).
    pub fn reader(&self) -> Reader<'_> {
        let rec = self.claim_record();
        Reader {
            domain: self,
            rec: NonNull::from(&*rec),
            _record: rec,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn local_record(&self) -> NonNull<Record> {
        let (id, p) = LAST.with(|c| c.get());
        if id == self.id {
            // SAFETY: cached by `local_record_slow` for this domain; ids are unique and the
            // thread's registry keeps the record alive.
            return unsafe { NonNull::new_unchecked(p as *mut Record) };
        }
        self.local_record_slow()
    }

    #[cold]
    fn local_record_slow(&self) -> NonNull<Record> {
        let found = REGISTRY.try_with(|reg| {
            let mut reg = reg.borrow_mut();
            if let Some(e) = reg.0.iter().find(|e| e.domain_id == self.id) {
                return NonNull::from(&*e.record);
            }
            // Forget registrations of dropped domains, so a long-lived thread that sees many
            // short-lived domains does not accumulate records.
            reg.0
                .retain(|e| !e.record.orphaned.load(std::sync::atomic::Ordering::Relaxed));
            let record = self.claim_record();
            let p = NonNull::from(&*record);
            reg.0.push(TlsEntry {
                domain_id: self.id,
                record,
            });
            p
        });
        match found {
            Ok(p) => {
                LAST.with(|c| c.set((self.id, p.as_ptr())));
                p
            }
            // The thread is tearing down its thread-locals: give it a record it keeps for
            // good (one per such thread and domain; it holds no section once closed).
            Err(_) => {
                let rec = self.claim_record();
                let p = NonNull::from(&*rec);
                std::mem::forget(rec);
                p
            }
        }
    }

    /// Claims a free record of this domain or adds a new one.
    fn claim_record(&self) -> Arc<Record> {
        let token = thread_token();
        for p in self.record_ptrs() {
            // SAFETY: records in the list are freed only when the domain is dropped.
            let rec = unsafe { &*p };
            if rec.try_claim() {
                rec.adopt(token);
                // SAFETY: `p` is the pointer the list got from `Arc::into_raw`, and the list
                // still owns that count.
                return unsafe { arc_from_list(p) };
            }
        }
        let rec = Arc::new(Record::new());
        assert!(rec.try_claim());
        rec.adopt(token);
        let raw = Arc::into_raw(rec.clone()) as *mut Record;
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            // SAFETY: `raw` is ours until the CAS below publishes it.
            unsafe { (*raw).next.store(head, Ordering::Relaxed) };
            match self
                .head
                .compare_exchange_weak(head, raw, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        // Pairs with the fence in `synchronize`: see "Registration" in the module docs.
        fence(Ordering::SeqCst);
        rec
    }

    /// Iterates over every record ever registered, as the list's own pointers (which keep
    /// the provenance of the `Arc` allocation).
    fn record_ptrs(&self) -> impl Iterator<Item = *const Record> + '_ {
        let mut p = self.head.load(Ordering::Acquire);
        std::iter::from_fn(move || {
            if p.is_null() {
                return None;
            }
            let cur = p;
            // SAFETY: records in the list are freed only when the domain is dropped.
            p = unsafe { &*cur }.next.load(Ordering::Acquire);
            Some(cur as *const Record)
        })
    }

    /// Iterates over every record ever registered.
    pub(crate) fn records(&self) -> impl Iterator<Item = &Record> {
        // SAFETY: records in the list are freed only when the domain is dropped, and the
        // references borrow the domain.
        self.record_ptrs().map(|p| unsafe { &*p })
    }

    /// Waits for every read section open at the call to close (`pserialize_perform`).
    ///
    /// # Panics
    /// If the calling thread is itself inside a read section of this domain: that would
    /// wait forever.
    pub fn synchronize(&self) {
        let token = thread_token();
        for rec in self.records() {
            if rec.owner_token.load(Ordering::Relaxed) == token
                && rec.nest.load(Ordering::Relaxed) != 0
            {
                panic!(
                    "psref: synchronize() called inside a read section of the same domain (would deadlock)"
                );
            }
        }
        #[cfg(psref_mutation = "no_synchronize")]
        {
            // Mutation: writers do not wait for readers. The loom models must catch this.
            return;
        }
        #[allow(unreachable_code)]
        {
            let target = self.epoch.fetch_add(2, Ordering::AcqRel) + 2;
            barrier::writer_barrier(self.membarrier);
            let mut backoff = Backoff::new();
            for rec in self.records() {
                loop {
                    let a = rec.active.load(Ordering::Acquire);
                    if a == 0 || a > target {
                        break;
                    }
                    backoff.snooze();
                }
            }
        }
    }

    /// Sets how long a destroy may wait for references before it reports the holders
    /// (default 1 s; the report repeats each time the wait doubles).
    pub fn set_drain_warning(&self, after: Duration) {
        *self
            .drain_warn_after
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = after;
    }

    /// Replaces the slow-drain reporter (default: one line per holder on stderr).
    pub fn set_drain_hook(&self, hook: impl Fn(&DrainReport) + Send + Sync + 'static) {
        *self.drain_hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
    }

    /// Addresses of the targets the calling thread holds references to.
    fn held_by_current_thread(&self) -> Vec<usize> {
        let token = thread_token();
        let mut held = Vec::new();
        for r in self
            .records()
            .filter(|r| r.owner_token.load(Ordering::Relaxed) == token)
        {
            r.for_each_entry(|e| {
                if e.count.load(Ordering::Relaxed) != 0 {
                    held.push(e.target.load(Ordering::Relaxed));
                }
            });
        }
        held
    }

    /// True if the calling thread holds a [`PsRef`](crate::PsRef) to `target`
    /// (`psref_held`). For assertions.
    pub fn held(&self, target: &Target) -> bool {
        let token = thread_token();
        let addr = target as *const Target as usize;
        self.records()
            .filter(|r| r.owner_token.load(Ordering::Relaxed) == token)
            .any(|r| {
                let mut held = false;
                r.for_each_entry(|e| {
                    held |= e.count.load(Ordering::Relaxed) != 0
                        && e.target.load(Ordering::Relaxed) == addr
                });
                held
            })
    }

    /// Destroys targets (`psref_target_destroy` for each, under one synchronize): marks them
    /// draining, synchronizes so no acquisition can be in progress, then polls the
    /// reference tables until no entry references any of them.
    ///
    /// The caller guarantees the targets are unreachable for new readers (unlinked).
    pub(crate) fn drain(&self, targets: &[&Target]) {
        if targets.is_empty() {
            return;
        }
        for t in targets {
            assert_eq!(
                t.domain_id(),
                self.id,
                "psref: target destroyed through another domain"
            );
        }
        let mine = self.held_by_current_thread();
        if !mine.is_empty()
            && targets
                .iter()
                .any(|t| mine.contains(&(*t as *const Target as usize)))
        {
            panic!("psref: destroying a target this thread still references (would deadlock)");
        }
        // The targets are unlinked: once every section that could have found them has
        // ended, no acquisition can start, and the draining mark says so to assertions.
        self.synchronize();
        for t in targets {
            t.set_draining();
        }
        #[cfg(psref_mutation = "no_drain")]
        {
            // Mutation: do not wait for references. The loom models must catch this.
            return;
        }
        #[allow(unreachable_code)]
        {
            let start = Instant::now();
            let mut warn_at = *self
                .drain_warn_after
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mut waiting: Vec<usize> = targets
                .iter()
                .map(|t| *t as *const Target as usize)
                .collect();
            let mut backoff = Backoff::new();
            loop {
                waiting = self.still_referenced(&waiting);
                if waiting.is_empty() {
                    return;
                }
                if start.elapsed() >= warn_at {
                    self.report(start.elapsed(), &waiting);
                    warn_at *= 2;
                }
                backoff.snooze();
            }
        }
    }

    /// The subset of `targets` that some table entry references.
    fn still_referenced(&self, targets: &[usize]) -> Vec<usize> {
        if targets.len() <= 8 {
            return targets
                .iter()
                .copied()
                .filter(|&t| self.count_refs(t) != 0)
                .collect();
        }
        let mut held = std::collections::HashSet::new();
        for rec in self.records() {
            rec.for_each_entry(|e| {
                let t = e.target.load(Ordering::Acquire);
                if e.count.load(Ordering::Acquire) != 0 {
                    held.insert(t);
                }
            });
        }
        targets
            .iter()
            .copied()
            .filter(|t| held.contains(t))
            .collect()
    }

    fn count_refs(&self, target: usize) -> usize {
        let mut n = 0;
        for rec in self.records() {
            rec.for_each_entry(|e: &Entry| {
                // Target first, then count: a count read after the target can only be
                // higher than the truth (entry reused since), never lower.
                if e.target.load(Ordering::Acquire) == target {
                    n += e.count.load(Ordering::Acquire);
                }
            });
        }
        n
    }

    #[cold]
    fn report(&self, waited: Duration, waiting: &[usize]) {
        let mut holders = Vec::new();
        for rec in self.records() {
            let mut per: HashMap<usize, (usize, Option<&'static std::panic::Location<'static>>)> =
                HashMap::new();
            rec.for_each_entry(|e| {
                let t = e.target.load(Ordering::Acquire);
                let c = e.count.load(Ordering::Acquire);
                if c != 0 && waiting.contains(&t) {
                    let slot = per.entry(t).or_insert((0, None));
                    slot.0 += c;
                    #[cfg(feature = "holder-locations")]
                    if let Ok(l) = e.location.lock() {
                        slot.1 = slot.1.or(*l);
                    }
                }
            });
            if per.is_empty() {
                continue;
            }
            let thread = if rec.owned.load(Ordering::Relaxed) {
                rec.owner_name.lock().map(|n| n.clone()).unwrap_or_default()
            } else {
                "<exited>".to_string()
            };
            for (target, (count, location)) in per {
                holders.push(Holder {
                    thread: thread.clone(),
                    target,
                    count,
                    location,
                });
            }
        }
        let report = DrainReport {
            waited,
            targets_waiting: waiting.len(),
            holders,
        };
        let hook = self.drain_hook.lock().unwrap_or_else(|e| e.into_inner());
        match hook.as_ref() {
            Some(h) => h(&report),
            None => {
                eprintln!(
                    "psref: destroy has waited {:?} for {} target(s) still referenced:",
                    report.waited, report.targets_waiting
                );
                for h in &report.holders {
                    match h.location {
                        Some(l) => eprintln!(
                            "  thread {:?} holds {} ref(s) to {:#x}, taken at {l}",
                            h.thread, h.count, h.target
                        ),
                        None => eprintln!(
                            "  thread {:?} holds {} ref(s) to {:#x}",
                            h.thread, h.count, h.target
                        ),
                    }
                }
            }
        }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        let mut p = crate::sync::ptr_get_mut(&mut self.head);
        while !p.is_null() {
            // SAFETY: each list node carries one Arc count, created by `Arc::into_raw`.
            let rec = unsafe { Arc::from_raw(p as *const Record) };
            rec.orphaned
                .store(true, std::sync::atomic::Ordering::Relaxed);
            p = rec.next.load(Ordering::Relaxed);
        }
    }
}

/// Turns a record pointer from the list into a new `Arc`.
///
/// # Safety
/// `p` must be a pointer of some domain's list (from `Arc::into_raw`), which holds an
/// `Arc` count for it.
unsafe fn arc_from_list(p: *const Record) -> Arc<Record> {
    // SAFETY: by the contract, `p` came from `Arc::into_raw` and that count is still held.
    unsafe { Arc::increment_strong_count(p) };
    // SAFETY: the count taken just above is the one the new Arc owns.
    unsafe { Arc::from_raw(p) }
}

/// An open read section (`pserialize_read_enter` … `pserialize_read_exit`).
///
/// Neither `Send` nor `Sync`: a section belongs to the thread that opened it.
pub struct ReadGuard<'d> {
    domain: &'d Domain,
    pub(crate) rec: NonNull<Record>,
}

impl<'d> ReadGuard<'d> {
    /// # Safety
    /// `rec` must be owned by the calling thread and belong to `domain`.
    #[inline(always)]
    unsafe fn enter(domain: &'d Domain, rec: NonNull<Record>) -> Self {
        // SAFETY: by the contract the record is alive and ours.
        let r = unsafe { rec.as_ref() };
        let n = r.nest.load(Ordering::Relaxed);
        r.nest.store(n + 1, Ordering::Relaxed);
        if n == 0 {
            let e = domain.epoch.load(Ordering::Acquire);
            barrier::announce(&r.active, e | 1, domain.membarrier);
        }
        ReadGuard { domain, rec }
    }

    /// The domain this section belongs to.
    pub fn domain(&self) -> &'d Domain {
        self.domain
    }

    #[inline(always)]
    pub(crate) fn record(&self) -> &Record {
        // SAFETY: the record outlives the guard (the domain's list holds it) and is ours.
        unsafe { self.rec.as_ref() }
    }
}

impl Drop for ReadGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let r = self.record();
        let n = r.nest.load(Ordering::Relaxed) - 1;
        r.nest.store(n, Ordering::Relaxed);
        if n == 0 {
            r.active.store(0, Ordering::Release);
        }
    }
}

/// A reader handle bound to one thread: owns a record until dropped.
///
/// `Domain::read` looks the thread's record up in thread-local storage; a `Reader` has it
/// at hand. Neither `Send` nor `Sync`.
pub struct Reader<'d> {
    domain: &'d Domain,
    rec: NonNull<Record>,
    _record: Arc<Record>,
    _not_send: PhantomData<*const ()>,
}

impl<'d> Reader<'d> {
    /// Opens a read section on this handle's record. The guard (and every reference taken
    /// under it) borrows the handle: the record must not change owner while they live.
    #[inline(always)]
    pub fn read(&self) -> ReadGuard<'_> {
        // SAFETY: the record is owned by this handle, which is bound to this thread.
        unsafe { ReadGuard::enter(self.domain, self.rec) }
    }

    /// The domain.
    pub fn domain(&self) -> &'d Domain {
        self.domain
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        // Guards and references borrow the handle, so none is alive here.
        self._record.release();
    }
}
