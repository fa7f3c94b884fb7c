//! Multi-thread canary stress: readers take sections and references (held across yields
//! and sleeps, copied), a writer keeps replacing and destroying objects (alone and in
//! batches), short-lived threads come and go. Every object carries a canary that its drop
//! overwrites before the memory is freed; a reader that ever sees a dead canary has used a
//! freed object. Duration: `PSREF_STRESS_SECS` (default 2 s; a few hundred operations
//! under Miri).
#![cfg(not(loom))]

use psref::{Batch, Domain, Slot};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ALIVE: u64 = 0xA11E_A11E_A11E_A11E;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Padded to 128 bytes: false sharing between objects would only measure the cache.
#[repr(align(128))]
struct Obj {
    canary: AtomicU64,
    seq: u64,
}

impl Drop for Obj {
    fn drop(&mut self) {
        assert_eq!(
            self.canary.swap(DEAD, Ordering::SeqCst),
            ALIVE,
            "object dropped twice"
        );
    }
}

fn obj(seq: u64) -> Obj {
    Obj {
        canary: AtomicU64::new(ALIVE),
        seq,
    }
}

fn check(o: &Obj, faults: &AtomicU64) {
    if o.canary.load(Ordering::SeqCst) != ALIVE {
        faults.fetch_add(1, Ordering::SeqCst);
    }
}

struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn canary_stress() {
    canary_stress_in(Domain::new());
}

/// The same with a fenced domain ([`Domain::fenced`]: readers fence, writers send no
/// membarrier) in a process whose other domains may use membarrier. Under Miri every
/// domain is fenced already.
#[test]
#[cfg_attr(miri, ignore)]
fn canary_stress_fenced() {
    let d = Domain::fenced();
    assert_eq!(d.barrier_mode(), psref::barrier::BarrierMode::Fallback);
    canary_stress_in(d);
}

fn canary_stress_in(d: Domain) {
    let secs: f64 = std::env::var("PSREF_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let (duration, max_ops) = if cfg!(miri) {
        (Duration::from_secs(3600), 300u64)
    } else {
        (Duration::from_secs_f64(secs), u64::MAX)
    };
    let readers = if cfg!(miri) { 2 } else { 3 };
    const SLOTS: usize = 16;

    let d = Arc::new(d);
    let slots: Arc<Vec<Slot<Obj>>> =
        Arc::new((0..SLOTS as u64).map(|i| Slot::new(obj(i), &d)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let max_destroy = Arc::new(Mutex::new(Duration::ZERO));

    let mut handles = Vec::new();
    for r in 0..readers {
        let (d, slots, stop, faults, reads) = (
            d.clone(),
            slots.clone(),
            stop.clone(),
            faults.clone(),
            reads.clone(),
        );
        handles.push(thread::spawn(move || {
            let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (r as u64 + 1));
            let reader = d.reader();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = (rng.next() % SLOTS as u64) as usize;
                let held = {
                    let g = if n.is_multiple_of(2) {
                        reader.read()
                    } else {
                        d.read()
                    };
                    let found = slots[i].load(&g);
                    if let Some(o) = found {
                        check(&o, &faults);
                    }
                    if rng.next().is_multiple_of(4) {
                        found.map(|o| o.acquire())
                    } else {
                        None
                    }
                };
                if let Some(p) = held {
                    let q = p.clone();
                    match rng.next() % 8 {
                        0 => thread::sleep(Duration::from_micros(50)),
                        1 | 2 => thread::yield_now(),
                        _ => {}
                    }
                    check(&p, &faults);
                    drop(p);
                    check(&q, &faults);
                }
                n += 1;
            }
            reads.fetch_add(n, Ordering::Relaxed);
        }));
    }
    // Short-lived readers: records are registered, recycled, and exiting threads
    // (some inside a leaked section) must not block the writer.
    {
        let (d, slots, stop, faults) = (d.clone(), slots.clone(), stop.clone(), faults.clone());
        handles.push(thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (d, slots, faults) = (d.clone(), slots.clone(), faults.clone());
                thread::spawn(move || {
                    let g = d.read();
                    if let Some(o) = slots[(k % SLOTS as u64) as usize].load(&g) {
                        check(&o, &faults);
                    }
                    if k.is_multiple_of(7) {
                        std::mem::forget(g);
                    }
                })
                .join()
                .unwrap();
                k += 1;
                thread::sleep(Duration::from_millis(1));
            }
        }));
    }

    let start = Instant::now();
    let mut rng = Xorshift(42);
    let mut seq = SLOTS as u64;
    let mut destroys = 0u64;
    while start.elapsed() < duration && destroys < max_ops {
        let t0 = Instant::now();
        if rng.next().is_multiple_of(3) {
            let mut b = Batch::new(&d);
            for _ in 0..4 {
                let i = (rng.next() % SLOTS as u64) as usize;
                seq += 1;
                if let Some(old) = slots[i].store(obj(seq), &d) {
                    b.push(old);
                }
            }
            destroys += b.len() as u64;
            b.finish();
        } else {
            let i = (rng.next() % SLOTS as u64) as usize;
            seq += 1;
            if let Some(old) = slots[i].store(obj(seq), &d) {
                assert!(old.get().seq < seq);
                old.destroy();
                destroys += 1;
            }
        }
        let dt = t0.elapsed();
        let mut m = max_destroy.lock().unwrap();
        *m = (*m).max(dt);
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let max = *max_destroy.lock().unwrap();
    eprintln!(
        "canary stress: {destroys} destroys, {} reader iterations, max destroy {max:?}, faults {}",
        reads.load(Ordering::Relaxed),
        faults.load(Ordering::SeqCst)
    );
    assert_eq!(
        faults.load(Ordering::SeqCst),
        0,
        "a reader saw a freed object"
    );
    assert!(destroys > 0);
    assert!(max < Duration::from_secs(5), "a destroy took {max:?}");
}

/// Readers that keep entering and leaving sections back to back, on every core, do not
/// starve a writer: each synchronize waits only for sections open at its call.
#[test]
fn busy_readers_do_not_starve_synchronize() {
    let d = Arc::new(Domain::new());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (d, stop) = (d.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _g = d.read();
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let rounds = if cfg!(miri) { 5 } else { 500 };
    let t0 = Instant::now();
    for _ in 0..rounds {
        d.synchronize();
    }
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        took < Duration::from_secs(20),
        "{rounds} synchronizes took {took:?}"
    );
}
