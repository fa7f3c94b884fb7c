//! loom models of the pserialize and psref protocols.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p psref --test loom --profile loom`
//!
//! loom cannot model `membarrier(2)`, so under loom the readers use the fallback protocol
//! (a SeqCst fence after announcing the section). The fast path differs only in who
//! executes that fence: with membarrier the writer makes every running thread execute a
//! full barrier at the point of its own fence, which is at least as strong for the
//! store→load pair the proof needs (see `src/barrier.rs`).
//!
//! The payload is a loom `UnsafeCell`: readers read it, and the writer writes it after
//! the destroy returns (standing for the free). A read not ordered before that write is a
//! causality violation, i.e. a use after free.
//!
//! The suite fails when the implementation is deliberately broken. Build with
//! `PSREF_MUTATION=NAME` (see `build.rs`) to see it, e.g.
//! `PSREF_MUTATION=copy_new_entry RUSTFLAGS='--cfg loom' cargo test -p psref --test loom --profile loom copy`
//! fails `copy_vs_destroy` (the copy lands in an entry the destroyer scanned first).
//! Mutations and the models that catch them (checked by `.ci/run`, which requires every
//! mutated suite to fail):
//! * `no_reader_fence` (reader skips its fence): most models, as causality violations;
//! * `relaxed_enter` (section announcement stored Relaxed): `reader_vs_synchronize`, whose
//!   reader opens a second section that the writer may stop waiting on;
//! * `no_synchronize`: the acquire-after-draining assertion and use-after-free reads;
//! * `no_drain` (destroy does not wait for references): `acquire_vs_destroy`,
//!   `copy_vs_destroy`, `batch_vs_reader`;
//! * `copy_new_entry` (psref_copy takes a fresh entry): `copy_vs_destroy`.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use psref::{Batch, Domain, Slot};

struct Payload(UnsafeCell<u64>);

// SAFETY: access to the cell is what the models check; loom reports any unordered pair.
unsafe impl Sync for Payload {}

impl Payload {
    fn new(v: u64) -> Self {
        Payload(UnsafeCell::new(v))
    }
    fn read(&self) -> u64 {
        // SAFETY: loom checks this access against the writer's "free".
        self.0.with(|p| unsafe { *p })
    }
    fn free(self) {
        drop(self);
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // Freeing is an exclusive access: the destroy protocol says no reader can access the
        // payload any more, and loom checks that every read happened before this write.
        // SAFETY: as just said; a violation is reported by loom, not executed as UB.
        self.0.with_mut(|p| unsafe { *p = 0xdead });
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// A reader inside a read section never sees an object freed by a writer that
/// synchronized (pserialize_perform) before freeing.
#[test]
fn reader_vs_synchronize() {
    model(|| {
        let d = Arc::new(Domain::new());
        let s = Arc::new(Slot::new(Payload::new(1), &d));
        let t = {
            let (d, s) = (d.clone(), s.clone());
            thread::spawn(move || {
                // Two sections back to back: the writer may stop waiting on the second
                // one's announcement, which must then carry the first one's reads.
                for _ in 0..2 {
                    let g = d.read();
                    if let Some(p) = s.load(&g) {
                        let v = p.read();
                        assert!(v == 1 || v == 2, "read freed payload {v:#x}");
                    }
                }
            })
        };
        let old = s.store(Payload::new(2), &d).unwrap();
        old.into_inner().free();
        t.join().unwrap();
    });
}

/// Destroy never returns while a reference lives, and no acquisition succeeds after the
/// destroy began (the acquire path asserts `!draining` under loom).
#[test]
fn acquire_vs_destroy() {
    model(|| {
        let d = Arc::new(Domain::new());
        let s = Arc::new(Slot::new(Payload::new(1), &d));
        let t = {
            let (d, s) = (d.clone(), s.clone());
            thread::spawn(move || {
                let r = {
                    let g = d.read();
                    s.load(&g).map(|p| p.acquire())
                };
                if let Some(r) = r {
                    let v = r.read();
                    assert!(v == 1 || v == 2, "read freed payload {v:#x}");
                }
            })
        };
        let old = s.take(&d).unwrap();
        old.into_inner().free();
        t.join().unwrap();
    });
}

/// A copy of a reference (psref_copy) cannot hide from a destroy that scans the table
/// while the original is released. The reader first frees table entry 0, so that a copy
/// placed in a *new* entry would land in one the destroyer scans before the original's.
#[test]
fn copy_vs_destroy() {
    model(|| {
        let d = Arc::new(Domain::new());
        let dummy = Arc::new(Slot::new(Payload::new(7), &d));
        let s = Arc::new(Slot::new(Payload::new(1), &d));
        let t = {
            let (d, s, dummy) = (d.clone(), s.clone(), dummy.clone());
            thread::spawn(move || {
                let g = d.read();
                let a = dummy.load(&g).unwrap().acquire(); // entry 0
                let p = s.load(&g).map(|p| p.acquire()); // entry 1
                drop(g);
                drop(a); // entry 0 free again
                if let Some(p) = p {
                    let q = p.clone();
                    drop(p);
                    let v = q.read();
                    assert_eq!(v, 1, "read freed payload {v:#x}");
                }
            })
        };
        let old = s.take(&d).unwrap();
        old.into_inner().free();
        t.join().unwrap();
    });
}

/// A thread that exits inside a read section (its guard leaked) does not block writers,
/// and one that exits holding nothing leaves its record reusable.
#[test]
fn thread_exit_during_read_section() {
    model(|| {
        let d = Arc::new(Domain::new());
        let s = Arc::new(Slot::new(Payload::new(1), &d));
        let t = {
            let (d, s) = (d.clone(), s.clone());
            thread::spawn(move || {
                let g = d.read();
                if let Some(p) = s.load(&g) {
                    p.read();
                }
                std::mem::forget(g);
            })
        };
        let old = s.store(Payload::new(2), &d).unwrap();
        old.into_inner().free();
        t.join().unwrap();
        d.synchronize();
    });
}

/// One synchronize for a batch: both objects are freed only after the reader is done with
/// whichever it holds.
#[test]
fn batch_vs_reader() {
    model(|| {
        let d = Arc::new(Domain::new());
        let a = Arc::new(Slot::new(Payload::new(1), &d));
        let b = Arc::new(Slot::new(Payload::new(1), &d));
        let t = {
            let (d, a, b) = (d.clone(), a.clone(), b.clone());
            thread::spawn(move || {
                let g = d.read();
                let ra = a.load(&g).map(|p| p.acquire());
                if let Some(p) = b.load(&g) {
                    assert_eq!(p.read(), 1);
                }
                drop(g);
                if let Some(r) = ra {
                    assert_eq!(r.read(), 1);
                }
            })
        };
        let ra = a.take(&d).unwrap();
        let rb = b.take(&d).unwrap();
        let mut batch = Batch::new(&d);
        batch.push(ra);
        batch.push(rb);
        batch.finish();
        // The batch dropped both payloads: `Payload::drop` is the exclusive access that
        // loom checks every read against.
        t.join().unwrap();
    });
}
