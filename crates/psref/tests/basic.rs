//! Single- and multi-thread behaviour of the public API (also run under Miri).
#![cfg(not(loom))]

use psref::{Batch, Domain, Slot};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// Counts drops so tests can see when an object was freed.
struct Tracked {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracked(value: u64, drops: &Arc<AtomicUsize>) -> Tracked {
    Tracked {
        value,
        drops: drops.clone(),
    }
}

#[test]
fn read_sees_published_value_and_nests() {
    let d = Domain::new();
    let s = Slot::new(7u32, &d);
    let g1 = d.read();
    let g2 = d.read();
    assert_eq!(*s.load(&g2).unwrap(), 7);
    drop(g2);
    assert_eq!(*s.load(&g1).unwrap().get(), 7);
    drop(g1);
    let empty: Slot<u32> = Slot::empty();
    assert!(d.with_read(|g| empty.load(g).is_none()));
}

#[test]
fn psref_outlives_section_and_blocks_destroy() {
    let d = Arc::new(Domain::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let s = Arc::new(Slot::new(tracked(1, &drops), &d));
    let go = Arc::new(Barrier::new(2));
    let released = Arc::new(AtomicBool::new(false));

    let reader = {
        let (d, s, go, released) = (d.clone(), s.clone(), go.clone(), released.clone());
        thread::spawn(move || {
            let r = {
                let g = d.read();
                s.load(&g).unwrap().acquire()
            };
            go.wait();
            thread::sleep(Duration::from_millis(50));
            assert_eq!(r.value, 1);
            released.store(true, Ordering::SeqCst);
            drop(r);
        })
    };
    go.wait();
    let old = s.store(tracked(2, &drops), &d).unwrap();
    old.destroy();
    assert!(
        released.load(Ordering::SeqCst),
        "destroy returned while a reference was live"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    reader.join().unwrap();
}

#[test]
fn copies_count_in_the_same_entry() {
    let d = Domain::new();
    let s = Slot::new(5u8, &d);
    let a = d.with_read(|g| s.load(g).unwrap().acquire());
    let b = a.clone();
    assert!(d.held(a.target()));
    drop(a);
    assert!(d.held(b.target()), "the copy must keep the target held");
    drop(b);
    let t = d.with_read(|g| s.load(g).unwrap().target() as *const _);
    // SAFETY: only used as an address comparison below, the object is alive.
    assert!(!d.held(unsafe { &*t }));
}

#[test]
fn many_references_grow_the_table() {
    let d = Domain::new();
    let slots: Vec<Slot<usize>> = (0..100).map(|i| Slot::new(i, &d)).collect();
    let g = d.read();
    let refs: Vec<_> = slots
        .iter()
        .map(|s| s.load(&g).unwrap().acquire())
        .collect();
    drop(g);
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(**r, i);
    }
    drop(refs);
    let mut b = Batch::new(&d);
    for s in &slots {
        b.push(s.take(&d).unwrap());
    }
    assert_eq!(b.len(), 100);
    b.finish();
}

#[test]
fn into_inner_returns_the_value() {
    let d = Domain::new();
    let s = Slot::new(String::from("a"), &d);
    let old = s.store(String::from("b"), &d).unwrap();
    assert_eq!(old.get(), "a");
    assert_eq!(old.into_inner(), "a");
    assert_eq!(*d.with_read(|g| s.load(g).unwrap().get().clone()), *"b");
}

#[test]
fn batch_frees_everything_once() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let slots: Vec<_> = (0..50).map(|i| Slot::new(tracked(i, &drops), &d)).collect();
    let mut b = Batch::new(&d);
    b.extend(slots.iter().map(|s| s.take(&d).unwrap()));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(b);
    assert_eq!(drops.load(Ordering::SeqCst), 50);
    drop(slots);
    assert_eq!(drops.load(Ordering::SeqCst), 50);
}

#[test]
fn slot_drop_frees_its_object() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut s = Slot::new(tracked(9, &drops), &d);
    s.get_mut().unwrap().value = 10;
    assert_eq!(d.with_read(|g| s.load(g).unwrap().value), 10);
    drop(s);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
#[should_panic(expected = "inside a read section")]
fn synchronize_inside_section_panics() {
    let d = Domain::new();
    let _g = d.read();
    d.synchronize();
}

#[test]
// The refused destroy leaks the object on purpose (freeing it would be unsound, waiting
// would deadlock); Miri's leak check would report that leak.
#[cfg_attr(miri, ignore)]
#[should_panic(expected = "still references")]
fn destroying_what_you_hold_panics() {
    let d = Domain::new();
    let s = Slot::new(1u8, &d);
    let r = d.with_read(|g| s.load(g).unwrap().acquire());
    let old = s.take(&d).unwrap();
    let _keep = r;
    old.destroy();
}

#[test]
#[should_panic(expected = "another domain")]
fn reading_through_another_domain_panics() {
    let a = Domain::new();
    let b = Domain::new();
    let s = Slot::new(1u8, &a);
    let g = b.read();
    let _ = s.load(&g);
}

#[test]
// Leaks the object on purpose (see above).
#[cfg_attr(miri, ignore)]
#[should_panic(expected = "another domain")]
fn retiring_through_another_domain_panics() {
    let a = Domain::new();
    let b = Domain::new();
    let s = Slot::new(1u8, &a);
    let _ = s.take(&b);
}

#[test]
fn exited_thread_with_open_section_does_not_block_writers() {
    let d = Arc::new(Domain::new());
    {
        let d = d.clone();
        thread::spawn(move || std::mem::forget(d.read()))
            .join()
            .unwrap();
    }
    d.synchronize(); // would hang if the exited thread's section counted
    // The record is recycled by the next thread.
    let d2 = d.clone();
    thread::spawn(move || drop(d2.read())).join().unwrap();
}

#[test]
fn reader_handle_sections_and_release() {
    let d = Domain::new();
    let s = Slot::new(3u16, &d);
    {
        let r = d.reader();
        let g = r.read();
        let p = s.load(&g).unwrap().acquire();
        drop(g);
        assert_eq!(*p, 3);
    }
    d.synchronize();
    s.take(&d).unwrap().destroy();
}

#[test]
fn slow_drain_reports_the_holder() {
    let d = Arc::new(Domain::new());
    let s = Arc::new(Slot::new(1u32, &d));
    let reports = Arc::new(AtomicUsize::new(0));
    {
        let reports = reports.clone();
        d.set_drain_hook(move |r| {
            // A report is a diagnostic read of other threads' counts (relaxed loads): an
            // early one may not show the holder yet (seen under Miri's weak-memory
            // emulation). Count the reports that do; the holder waits for one.
            if r.holders
                .iter()
                .any(|h| h.thread == "holder" && h.count == 1)
            {
                #[cfg(feature = "holder-locations")]
                assert!(
                    r.holders
                        .iter()
                        .all(|h| h.location.is_some_and(|l| l.file().ends_with("basic.rs"))),
                    "{r:?}"
                );
                reports.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    d.set_drain_warning(Duration::from_millis(20));
    let go = Arc::new(Barrier::new(2));
    let t = {
        let (d, s, go, reports) = (d.clone(), s.clone(), go.clone(), reports.clone());
        thread::Builder::new()
            .name("holder".into())
            .spawn(move || {
                let r = d.with_read(|g| s.load(g).unwrap().acquire());
                go.wait();
                // Hold the reference until the drain has reported it (bounded), so the
                // report cannot come after the release on a slow machine or under Miri.
                let start = std::time::Instant::now();
                while reports.load(Ordering::SeqCst) == 0
                    && start.elapsed() < Duration::from_secs(60)
                {
                    thread::sleep(Duration::from_millis(10));
                }
                drop(r);
            })
            .unwrap()
    };
    go.wait();
    s.take(&d).unwrap().destroy();
    t.join().unwrap();
    assert!(
        reports.load(Ordering::SeqCst) >= 1,
        "no slow-drain report naming the holder"
    );
}

#[test]
fn domains_are_independent() {
    let a = Arc::new(Domain::new());
    let b = Domain::new();
    let a2 = a.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (tx2, rx2) = std::sync::mpsc::channel::<()>();
    let t = thread::spawn(move || {
        let _g = a2.read();
        tx.send(()).unwrap();
        rx2.recv().unwrap();
    });
    rx.recv().unwrap();
    b.synchronize(); // must not wait for a reader of `a`
    tx2.send(()).unwrap();
    t.join().unwrap();
    a.synchronize();
}

/// A fenced domain reports the fallback protocol whatever the process mode, and works
/// next to a domain in the process mode.
#[test]
fn fenced_domain_next_to_a_process_mode_domain() {
    let fenced = Domain::fenced();
    let plain = Domain::new();
    assert_eq!(fenced.barrier_mode(), psref::barrier::BarrierMode::Fallback);
    assert_eq!(plain.barrier_mode(), psref::barrier::mode());
    for d in [&fenced, &plain] {
        let slot = Slot::new(1u32, d);
        {
            let g = d.read();
            assert_eq!(slot.load(&g).map(|s| *s.get()), Some(1));
        }
        if let Some(old) = slot.store(2, d) {
            assert_eq!(old.into_inner(), 1);
        }
        d.synchronize();
        let g = d.read();
        assert_eq!(slot.load(&g).map(|s| *s.get()), Some(2));
    }
}
