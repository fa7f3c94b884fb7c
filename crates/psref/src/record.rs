//! Per-thread reader records: the read-section word and the psref table.
//!
//! A record belongs to one thread at a time (its *owner*). Only the owner writes it; the
//! writers of the domain (synchronize, target destroy) only read it. That is the whole
//! point: entering a read section or taking a reference writes only memory that no other
//! thread writes, so nothing bounces between caches (NetBSD keeps the same state per CPU).
//!
//! Fields that only the owner reads and writes are still atomics, accessed `Relaxed`: they
//! compile to plain loads and stores, and they let a record pass to a new owner (thread
//! exit, recycling) with the ordering given by the `owned` flag's Acquire/Release.

use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::ptr;

/// Entries per table chunk. A thread rarely holds more than a few references at once
/// (NetBSD: "only a few per CPU"); the first chunk lives inside the record.
pub(crate) const CHUNK_ENTRIES: usize = 16;

/// One psref table entry: "this thread holds `count` references to `target`".
///
/// Written only by the owning thread, with Release stores and no read-modify-write. An
/// entry never moves and a copied reference increments the *same* entry: were a copy
/// placed in an entry the destroyer had already scanned, the destroyer could sum zero
/// while a reference lives (the pitfall in `psref-feasibility.md`).
pub(crate) struct Entry {
    /// Address of the `Target` referenced; stale when `count == 0`.
    pub(crate) target: AtomicUsize,
    /// Number of live `PsRef`s (original plus copies) in this entry.
    pub(crate) count: AtomicUsize,
    /// Owner-only free-list link.
    next_free: AtomicPtr<Entry>,
    /// Where the first reference in this entry was taken (feature `holder-locations`).
    #[cfg(feature = "holder-locations")]
    pub(crate) location: std::sync::Mutex<Option<&'static std::panic::Location<'static>>>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            target: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            next_free: AtomicPtr::new(ptr::null_mut()),
            #[cfg(feature = "holder-locations")]
            location: std::sync::Mutex::new(None),
        }
    }
}

pub(crate) struct Chunk {
    pub(crate) entries: [Entry; CHUNK_ENTRIES],
    /// Next chunk; published with Release by the owner, walked with Acquire by destroyers.
    pub(crate) next: AtomicPtr<Chunk>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            entries: std::array::from_fn(|_| Entry::new()),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// A reader record. Aligned to two cache lines so that the owner's stores never share a
/// line with another thread's record (adjacent-line prefetch pairs lines on x86).
#[repr(align(128))]
pub(crate) struct Record {
    /// `epoch | 1` while the owner is inside a read section, `0` outside.
    pub(crate) active: AtomicU64,
    /// Read-section nesting depth (owner only).
    pub(crate) nest: AtomicU64,
    /// Head of the owner-only free list of table entries.
    free: AtomicPtr<Entry>,
    /// Last chunk of the table (owner only), where a new chunk is linked.
    tail: AtomicPtr<Chunk>,
    /// The table's first chunk; more are linked from it.
    pub(crate) table: Chunk,
    /// True while some thread (or `Reader`) owns this record.
    pub(crate) owned: AtomicBool,
    /// Token of the owning thread (0 when free); for deadlock checks and reports.
    pub(crate) owner_token: AtomicU64,
    /// Name of the owning thread, for slow-drain reports.
    pub(crate) owner_name: std::sync::Mutex<String>,
    /// Next record of the domain's list; set once before the record is published.
    pub(crate) next: AtomicPtr<Record>,
    /// Set when the domain is dropped, so threads can forget their registration.
    pub(crate) orphaned: std::sync::atomic::AtomicBool,
}

impl Record {
    pub(crate) fn new() -> Self {
        Record {
            active: AtomicU64::new(0),
            nest: AtomicU64::new(0),
            free: AtomicPtr::new(ptr::null_mut()),
            tail: AtomicPtr::new(ptr::null_mut()),
            table: Chunk::new(),
            owned: AtomicBool::new(false),
            owner_token: AtomicU64::new(0),
            owner_name: std::sync::Mutex::new(String::new()),
            next: AtomicPtr::new(ptr::null_mut()),
            orphaned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Claims a free record; true if this caller is now its owner.
    pub(crate) fn try_claim(&self) -> bool {
        !self.owned.load(Ordering::Relaxed)
            && self
                .owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Called by the new owner right after claiming.
    pub(crate) fn adopt(&self, token: u64) {
        self.owner_token.store(token, Ordering::Relaxed);
        if let Ok(mut name) = self.owner_name.lock() {
            name.clear();
            name.push_str(std::thread::current().name().unwrap_or("<unnamed>"));
        }
        if self.tail.load(Ordering::Relaxed).is_null() {
            // First owner ever: thread the inline chunk onto the free list.
            let first = &self.table as *const Chunk as *mut Chunk;
            self.tail.store(first, Ordering::Relaxed);
            self.push_chunk_entries(&self.table);
        }
    }

    /// Gives the record up (thread exit, `Reader` drop). A read section left open by a
    /// leaked guard is closed: the thread can no longer read, so writers must not wait for
    /// it. References leaked with `mem::forget` stay in the table and keep their targets
    /// from being destroyed, exactly as a leaked reference must.
    pub(crate) fn release(&self) {
        if self.nest.load(Ordering::Relaxed) != 0 {
            self.nest.store(0, Ordering::Relaxed);
            self.active.store(0, Ordering::Release);
        }
        self.owner_token.store(0, Ordering::Relaxed);
        self.owned.store(false, Ordering::Release);
    }

    fn push_chunk_entries(&self, chunk: &Chunk) {
        // Push in reverse so that entries are handed out in table order.
        for e in chunk.entries.iter().rev() {
            let e = e as *const Entry as *mut Entry;
            // SAFETY: `e` points into a chunk owned by this record, which lives as long as
            // the record; only the owner touches the free list.
            unsafe {
                (*e).next_free
                    .store(self.free.load(Ordering::Relaxed), Ordering::Relaxed)
            };
            self.free.store(e, Ordering::Relaxed);
        }
    }

    /// Takes a free entry (owner only).
    #[inline]
    pub(crate) fn alloc_entry(&self) -> &Entry {
        let mut head = self.free.load(Ordering::Relaxed);
        if head.is_null() {
            self.grow();
            head = self.free.load(Ordering::Relaxed);
        }
        // SAFETY: entries on the free list live in this record's chunks, which are never
        // freed before the record; only the owner (us) manipulates the list.
        let entry = unsafe { &*head };
        self.free
            .store(entry.next_free.load(Ordering::Relaxed), Ordering::Relaxed);
        entry
    }

    /// Returns an entry whose count reached zero to the free list (owner only).
    #[inline]
    pub(crate) fn free_entry(&self, entry: &Entry) {
        entry
            .next_free
            .store(self.free.load(Ordering::Relaxed), Ordering::Relaxed);
        self.free
            .store(entry as *const Entry as *mut Entry, Ordering::Relaxed);
    }

    #[cold]
    fn grow(&self) {
        let chunk = Box::into_raw(Box::new(Chunk::new()));
        let tail = self.tail.load(Ordering::Relaxed);
        // SAFETY: `tail` is this record's last chunk, alive as long as the record. Release
        // publishes the new chunk's initialised entries to destroyers.
        unsafe { (*tail).next.store(chunk, Ordering::Release) };
        self.tail.store(chunk, Ordering::Relaxed);
        // SAFETY: `chunk` is now owned by this record and never freed before it.
        self.push_chunk_entries(unsafe { &*chunk });
    }

    /// Calls `f` on every table entry (any thread; entries are read with Acquire).
    pub(crate) fn for_each_entry(&self, mut f: impl FnMut(&Entry)) {
        let mut chunk: *const Chunk = &self.table;
        while !chunk.is_null() {
            // SAFETY: chunks are freed only when the record is dropped, and the caller
            // holds the record alive.
            let c = unsafe { &*chunk };
            c.entries.iter().for_each(&mut f);
            chunk = c.next.load(Ordering::Acquire);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let mut chunk = self.table.next.load(Ordering::Relaxed);
        while !chunk.is_null() {
            // SAFETY: linked chunks were allocated by `grow` with Box and are owned by this
            // record, which nobody else references any more (we are in its Drop).
            let b = unsafe { Box::from_raw(chunk) };
            chunk = b.next.load(Ordering::Relaxed);
        }
    }
}
