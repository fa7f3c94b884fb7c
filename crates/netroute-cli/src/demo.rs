//! `netroute demo`: the main job on built-in data.
//!
//! What it runs today: a table of route objects published through `psref::Slot`s in one
//! `psref::Domain`; forwarder threads look entries up inside read sections (most lookups
//! stay inside the section, a share take a passive reference and hold it across a yield,
//! as a socket holding a route would); one writer replaces entries in batches (one
//! synchronize per batch, as a BGP update burst would be applied) and sometimes one at a
//! time. Every object carries a canary that its destructor kills before the memory is
//! freed and a sequence number; forwarders count any dead canary they see ("stale uses",
//! which must be 0). At the end: lookups per second, updates applied, synchronize latency,
//! stale uses, and the barrier mode in force.

use psref::{Batch, Domain, Slot, barrier};
use serde::Serialize;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Arguments of `netroute demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Forwarder threads (default: one per core, at least 1).
    #[arg(long)]
    threads: Option<usize>,
    /// How long to run.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Number of table entries.
    #[arg(long, default_value_t = 65_536)]
    entries: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

const ALIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const DEAD: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// A stand-in route entry with a canary, 64 bytes like a compact rtentry.
struct Entry {
    canary: AtomicU64,
    seq: u64,
    nexthop: u32,
    _pad: [u64; 5],
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::SeqCst);
    }
}

fn entry(seq: u64) -> Entry {
    Entry {
        canary: AtomicU64::new(ALIVE),
        seq,
        nexthop: (seq % 500) as u32,
        _pad: [0; 5],
    }
}

#[derive(Serialize, Debug)]
struct Report {
    barrier_mode: String,
    threads: usize,
    seconds: f64,
    entries: usize,
    lookups: u64,
    lookups_per_sec: f64,
    psrefs_taken: u64,
    updates_applied: u64,
    update_batches: u64,
    synchronize_p50_us: f64,
    synchronize_p99_us: f64,
    stale_uses: u64,
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(format!(
            "--seconds must be in (0, 3600], got {}",
            args.seconds
        ));
    }
    if args.entries == 0 || args.entries > 10_000_000 {
        return Err(format!(
            "--entries must be in 1..=10000000, got {}",
            args.entries
        ));
    }
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let domain = Arc::new(Domain::new());
    let table: Arc<Vec<Slot<Entry>>> = Arc::new(
        (0..args.entries as u64)
            .map(|i| Slot::new(entry(i), &domain))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stale = Arc::new(AtomicU64::new(0));
    let lookups = Arc::new(AtomicU64::new(0));
    let psrefs = Arc::new(AtomicU64::new(0));

    let forwarders: Vec<_> = (0..threads)
        .map(|t| {
            let (domain, table, stop, stale, lookups, psrefs) = (
                domain.clone(),
                table.clone(),
                stop.clone(),
                stale.clone(),
                lookups.clone(),
                psrefs.clone(),
            );
            thread::spawn(move || {
                let mut rng = SplitMix(t as u64 + 1);
                let reader = domain.reader();
                let (mut n, mut held, mut bad, mut sum) = (0u64, 0u64, 0u64, 0u64);
                let n_entries = table.len() as u64;
                while !stop.load(Ordering::Relaxed) {
                    // A batch of lookups per read section, as a forwarder handles a burst.
                    let g = reader.read();
                    for _ in 0..64 {
                        // Skewed flow mix: half the lookups hit 1/64 of the table.
                        let r = rng.next();
                        let i = if r & 1 == 0 {
                            (r >> 8) % (n_entries / 64).max(1)
                        } else {
                            (r >> 8) % n_entries
                        };
                        if let Some(e) = table[i as usize].load(&g) {
                            bad += u64::from(e.canary.load(Ordering::Relaxed) != ALIVE);
                            sum = sum.wrapping_add(u64::from(e.nexthop));
                        }
                    }
                    n += 64;
                    // A socket-like holder: keep one entry past the section.
                    let i = (rng.next() % n_entries) as usize;
                    let p = table[i].load(&g).map(|e| e.acquire());
                    drop(g);
                    if let Some(p) = p {
                        held += 1;
                        thread::yield_now();
                        bad += u64::from(p.canary.load(Ordering::Relaxed) != ALIVE);
                    }
                }
                black_box(sum);
                lookups.fetch_add(n, Ordering::Relaxed);
                psrefs.fetch_add(held, Ordering::Relaxed);
                stale.fetch_add(bad, Ordering::Relaxed);
            })
        })
        .collect();

    let sync_lat = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let start = Instant::now();
    let run_for = Duration::from_secs_f64(args.seconds);
    let mut rng = SplitMix(0xC0FFEE);
    let mut seq = args.entries as u64;
    let (mut updates, mut batches) = (0u64, 0u64);
    while start.elapsed() < run_for {
        let mut batch = Batch::new(&domain);
        let burst = 1 + (rng.next() % 256) as usize;
        for _ in 0..burst {
            let i = (rng.next() % args.entries as u64) as usize;
            seq += 1;
            if let Some(old) = table[i].store(entry(seq), &domain) {
                debug_assert!(old.get().seq < seq);
                batch.push(old);
            }
        }
        updates += batch.len() as u64;
        let t0 = Instant::now();
        batch.finish();
        sync_lat
            .lock()
            .map_err(|e| e.to_string())?
            .push(t0.elapsed());
        batches += 1;
        thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    for f in forwarders {
        f.join()
            .map_err(|_| "a forwarder thread panicked".to_string())?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *sync_lat.lock().map_err(|e| e.to_string())?);
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    let total = lookups.load(Ordering::Relaxed);
    let report = Report {
        barrier_mode: format!("{:?}", barrier::mode()),
        threads,
        seconds: elapsed,
        entries: args.entries,
        lookups: total,
        lookups_per_sec: total as f64 / elapsed,
        psrefs_taken: psrefs.load(Ordering::Relaxed),
        updates_applied: updates,
        update_batches: batches,
        synchronize_p50_us: pct(0.5),
        synchronize_p99_us: pct(0.99),
        stale_uses: stale.load(Ordering::Relaxed),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "netroute demo — psref/pserialize core ({} barrier)",
            report.barrier_mode
        );
        println!(
            "  forwarders        {} threads, {} entries, {:.1} s",
            report.threads, report.entries, report.seconds
        );
        println!(
            "  lookups           {} ({:.1} M/s)",
            report.lookups,
            report.lookups_per_sec / 1e6
        );
        println!("  psrefs held       {}", report.psrefs_taken);
        println!(
            "  updates applied   {} in {} batches",
            report.updates_applied, report.update_batches
        );
        println!(
            "  batch destroy     p50 {:.1} µs, p99 {:.1} µs (synchronize + drain + free)",
            report.synchronize_p50_us, report.synchronize_p99_us
        );
        println!("  stale uses        {}", report.stale_uses);
    }
    if report.stale_uses != 0 {
        return Err(format!(
            "{} stale uses: a reader saw a freed entry",
            report.stale_uses
        ));
    }
    Ok(())
}
