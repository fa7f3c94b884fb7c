//! `netroute demo`: the main job on built-in data.
//!
//! What it runs, over the pieces that have landed:
//! * an interface table (`lo0`, `eth0`, `eth1`, documentation addresses), one of whose
//!   interfaces is detached and re-attached while everything else runs;
//! * Internet-sized FIBs: by default synthetic tables with the shape of the 2026 RIS tables
//!   (1,042,325 IPv4 and 246,175 IPv6 prefixes, `netroute::synth`), compiled into
//!   `SharedFib`s whose next hops index a table of 500 next-hop objects published through
//!   psref slots;
//! * forwarder threads doing batched lookups (one read section per batch) over a skewed
//!   flow mix, resolving each result to its next-hop object and checking its canary;
//! * a writer replaying an update stream into the FIBs in batches, and replacing next-hop
//!   objects (one synchronize per batch of replacements);
//! * TIME_WAIT churn through the VTW table.
//!
//! At the end: lookups per second, updates applied, publication latency, stale uses (a
//! forwarder that saw a destroyed object; must be 0), TIME_WAIT entries and their bytes
//! against full protocol control blocks.

use indicatif::{ProgressBar, ProgressStyle};
use ipnet::{IpNet, Ipv4Net};
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags};
use netroute::route::fib::{FibOp, NextHop, SharedFib};
use netroute::route::{Redirect, RouteCache, RouteKey, RouteSpec};
use netroute::synth::{self, SplitMix64, Update};
use netroute::timewait::{ClassCapacities, LocalAddrId, MslClass, TimeWaitInfo, Tuple, VtwConfig};
use netroute::{Stack, StackConfig};
use psref::{Batch, Slot};
use serde::Serialize;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Arguments of `netroute demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Forwarder threads (default: one per core, at least 1).
    #[arg(long)]
    threads: Option<usize>,
    /// How long to run the forwarding phase.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Size of the synthetic tables relative to the 2026 Internet (1.0 = 1.04 M IPv4 and
    /// 246 k IPv6 prefixes).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of the synthetic tables, updates and flows.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// A real table instead of the synthetic ones (text `prefix [nexthop]` lines or an
    /// MRT TABLE_DUMP_V2 RIB dump, plain or gzip), e.g. the RIS files of `../shared/data`.
    /// A family the file does not hold stays synthetic.
    #[arg(long, value_name = "FILE")]
    table: Option<std::path::PathBuf>,
    /// An update stream (`A prefix` / `W prefix` lines, plain or gzip) replayed by the
    /// writer instead of a generated one (its IPv4 updates; the forwarders' FIB is IPv4).
    #[arg(long, value_name = "FILE")]
    updates: Option<std::path::PathBuf>,
    /// Build the stack in a fenced psref domain (readers fence per read section, grace
    /// periods never interrupt them) instead of the default process-mode one.
    #[arg(long)]
    fenced: bool,
}

const ALIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const DEAD: u64 = 0xDEAD_BEEF_DEAD_BEEF;
const NEXT_HOPS: u32 = 500;
/// A full PCB for comparison: FreeBSD's tcpcb alone was 728 B (timewait.md, UMA data),
/// before the inpcb and socket it also keeps.
const FULL_PCB_BYTES: f64 = 728.0;

/// A next-hop object (what an rtentry's gateway/interface part resolves to).
struct NextHopObj {
    canary: AtomicU64,
    gateway: Ipv4Addr,
    version: u64,
}

impl Drop for NextHopObj {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::SeqCst);
    }
}

fn next_hop_obj(i: u32, version: u64) -> NextHopObj {
    NextHopObj {
        canary: AtomicU64::new(ALIVE),
        gateway: Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1),
        version,
    }
}

#[derive(Serialize, Debug, Default)]
struct Report {
    barrier_mode: String,
    tables: String,
    updates_source: String,
    threads: usize,
    seconds: f64,
    prefixes_v4: usize,
    prefixes_v6: usize,
    build_ms: f64,
    fib_bytes_per_prefix_v4: f64,
    fib_bytes_per_prefix_v6: f64,
    fib_pair_bytes_per_prefix_v4: f64,
    fib_pair_bytes_per_prefix_v6: f64,
    lookups: u64,
    lookups_per_sec: f64,
    fib_updates_applied: u64,
    routes: usize,
    routes_already_present: u64,
    route_cache_lookups: u64,
    route_cache_hit_rate: f64,
    route_changes: u64,
    fib_publish_p50_us: f64,
    fib_publish_p99_us: f64,
    next_hop_replacements: u64,
    interface_detaches: u64,
    stale_uses: u64,
    timewait_inserted: u64,
    timewait_live: usize,
    timewait_bytes_per_entry: f64,
    full_pcb_bytes_per_entry: f64,
}

fn hash_nh(x: u128) -> NextHop {
    let mut r = SplitMix64::new(x as u64 ^ (x >> 64) as u64);
    NextHop::new(1 + (r.next_u64() % u64::from(NEXT_HOPS)) as u32).expect("index in range")
}

/// The spinner shown while loading: hidden under `--json` and when stderr is not a
/// terminal (indicatif draws nothing then), so logs and pipes stay clean.
fn spinner(json: bool) -> ProgressBar {
    let pb = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// The files named by `--table` and `--updates`, read before anything else runs.
#[derive(Default)]
struct Inputs {
    table: Option<Vec<netroute_cli::input::TableEntry>>,
    updates: Option<Vec<netroute_cli::input::Update>>,
}

/// Runs the demo. A bad `--table` or `--updates` file is a bad-input error (exit 3,
/// naming the file and line); a failure while running (or a stale use) exit 1.
pub(crate) fn run(args: &Args) -> Result<(), netroute_cli::CliError> {
    use netroute_cli::CliError;
    let mut inputs = Inputs::default();
    if let Some(p) = &args.table {
        inputs.table = Some(netroute_cli::input::read_table(p).map_err(CliError::bad_input)?);
    }
    if let Some(p) = &args.updates {
        inputs.updates = Some(netroute_cli::input::read_updates(p).map_err(CliError::bad_input)?);
    }
    run_with(args, &inputs).map_err(CliError::failure)
}

fn run_with(args: &Args, inputs: &Inputs) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(format!(
            "--seconds must be in (0, 3600], got {}",
            args.seconds
        ));
    }
    if !(args.scale > 0.0 && args.scale <= 1.0) {
        return Err(format!("--scale must be in (0, 1], got {}", args.scale));
    }
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let mut report = Report {
        barrier_mode: String::new(),
        threads,
        updates_source: "generated".to_owned(),
        ..Report::default()
    };
    let pb = spinner(args.json);
    // The stack: interfaces, route tables and TIME_WAIT tables under one domain.
    let mut tw_cfg = VtwConfig::with_entries(300_000);
    tw_cfg.capacity = ClassCapacities {
        loopback: 10_000,
        local: 30_000,
        remote: 260_000,
    };
    let stack = Stack::with_config(StackConfig {
        vtw_v4: tw_cfg,
        vtw_v6: VtwConfig::with_entries(3_000),
        fenced_domain: args.fenced,
        ..StackConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let domain = stack.domain().clone();
    report.barrier_mode = format!("{:?}", domain.barrier_mode());
    let ifs = stack.ifs();
    let vtw = stack.vtw();

    // Interfaces.
    let e = |e: netroute::ifnet::IfError| e.to_string();
    let lo0 = ifs
        .attach(IfConfig::new("lo0").flags(IfFlags::UP | IfFlags::LOOPBACK))
        .map_err(e)?;
    ifs.add_addr(lo0, AddrSpec::new(Ipv4Addr::LOCALHOST, 8))
        .map_err(e)?;
    let eth0 = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP | IfFlags::BROADCAST))
        .map_err(e)?;
    ifs.add_addr(eth0, AddrSpec::new([192, 0, 2, 1], 24))
        .map_err(e)?;
    let eth1_cfg = || IfConfig::new("eth1").flags(IfFlags::UP | IfFlags::BROADCAST);
    let eth1 = ifs.attach(eth1_cfg()).map_err(e)?;
    ifs.add_addr(eth1, AddrSpec::new([198, 51, 100, 1], 24))
        .map_err(e)?;

    // Tables.
    let t0 = Instant::now();
    pb.set_message("generating the synthetic tables");
    let mut v4 = synth::ipv4_table(args.seed, args.scale);
    let mut v6 = synth::ipv6_table(args.seed, args.scale);
    report.tables = "synthetic, 2026 RIS shape".to_owned();
    if let Some(path) = &args.table {
        pb.set_message(format!("reading {}", path.display()));
        let entries = inputs.table.as_deref().unwrap_or_default();
        let (a, b): (Vec<_>, Vec<_>) = entries
            .iter()
            .map(|e| e.prefix)
            .partition(|n| matches!(n, IpNet::V4(_)));
        if !a.is_empty() {
            v4 = a
                .iter()
                .filter_map(|n| match n {
                    IpNet::V4(x) => Some(*x),
                    IpNet::V6(_) => None,
                })
                .collect();
        }
        if !b.is_empty() {
            v6 = b
                .iter()
                .filter_map(|n| match n {
                    IpNet::V6(x) => Some(*x),
                    IpNet::V4(_) => None,
                })
                .collect();
        }
        // Duplicate lines (a dump lists a prefix once per peer) collapse to one route.
        v4.sort_unstable();
        v4.dedup();
        v6.sort_unstable();
        v6.dedup();
        report.tables = format!(
            "{} ({} IPv4, {} IPv6 prefixes from the file)",
            path.display(),
            a.len(),
            b.len()
        );
    }
    if v4.is_empty() || v6.is_empty() {
        return Err("the tables must hold at least one prefix of each family".to_owned());
    }
    report.prefixes_v4 = v4.len();
    report.prefixes_v6 = v6.len();
    pb.set_message("compiling the FIBs");
    let fib4 = SharedFib::<u32>::from_routes(
        v4.iter().map(|n| {
            (
                u32::from(n.network()),
                n.prefix_len(),
                hash_nh(u128::from(u32::from(n.network()))),
            )
        }),
        &domain,
    )
    .map_err(|e| e.to_string())?;
    let fib6 = SharedFib::<u128>::from_routes(
        v6.iter().map(|n| {
            (
                u128::from(n.network()),
                n.prefix_len(),
                hash_nh(u128::from(n.network())),
            )
        }),
        &domain,
    )
    .map_err(|e| e.to_string())?;
    report.build_ms = t0.elapsed().as_secs_f64() * 1e3;
    // SharedFib keeps two copies (left-right) that share most of their memory: report
    // the published one, as the lookups see it, and both together.
    report.fib_bytes_per_prefix_v4 = fib4.published_bytes(&domain) as f64 / v4.len() as f64;
    report.fib_bytes_per_prefix_v6 = fib6.published_bytes(&domain) as f64 / v6.len() as f64;
    report.fib_pair_bytes_per_prefix_v4 = fib4.memory_bytes(&domain) as f64 / v4.len() as f64;
    report.fib_pair_bytes_per_prefix_v6 = fib6.memory_bytes(&domain) as f64 / v6.len() as f64;
    let next_hops: Vec<Slot<NextHopObj>> = (0..=NEXT_HOPS)
        .map(|i| Slot::new(next_hop_obj(i, 0), &domain))
        .collect();
    let updates4: Vec<Update<Ipv4Net>> = match &args.updates {
        None => synth::updates(&v4, args.seed, 400_000),
        Some(path) => {
            pb.set_message(format!("reading {}", path.display()));
            let u: Vec<Update<Ipv4Net>> = inputs
                .updates
                .as_deref()
                .unwrap_or_default()
                .iter()
                .copied()
                .filter_map(|u| match u {
                    netroute_cli::input::Update::Announce(IpNet::V4(n)) => {
                        Some(Update::Announce(n))
                    }
                    netroute_cli::input::Update::Withdraw(IpNet::V4(n)) => {
                        Some(Update::Withdraw(n))
                    }
                    _ => None,
                })
                .collect();
            if u.is_empty() {
                return Err(format!("{}: no IPv4 updates", path.display()));
            }
            report.updates_source = path.display().to_string();
            u
        }
    };
    pb.set_message("loading the IPv4 table into the routing table (rtentries)");
    let rt = stack.routes();
    let gw = Ipv4Addr::new(192, 0, 2, 254);
    let specs: Vec<RouteSpec> = v4
        .iter()
        .map(|n| RouteSpec::new(IpNet::V4(*n)).via(gw))
        .collect();
    // A table prefix that is also a connected subnet of the demo's interfaces exists
    // already (metric 0): keep the connected route, count the duplicate.
    for r in rt.add_many(&specs) {
        match r {
            Ok(_) => {}
            Err(netroute::route::RouteError::Exists { .. }) => report.routes_already_present += 1,
            Err(e) => return Err(format!("a table route was refused: {e}")),
        }
    }
    report.routes = rt.v4().len();

    // Flows: addresses inside table prefixes; half of the traffic goes to 1 % of them.
    let mut rng = SplitMix64::new(args.seed ^ 0xF10F);
    let flows4: Vec<u32> = (0..65_536)
        .map(|_| {
            let n = v4[rng.below(v4.len() as u64) as usize];
            let host = (rng.next_u64() as u32) & !u32::from(n.netmask());
            u32::from(n.network()) | host
        })
        .collect();
    let flows6: Vec<u128> = (0..16_384)
        .map(|_| {
            let n = v6[rng.below(v6.len() as u64) as usize];
            let host = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))
                & !u128::from(n.netmask());
            u128::from(n.network()) | host
        })
        .collect();

    let stop = AtomicBool::new(false);
    let lookups = AtomicU64::new(0);
    let stale = AtomicU64::new(0);
    let publish = Mutex::new(Vec::<Duration>::new());
    let tw_inserted = AtomicU64::new(0);
    let cache_lookups = AtomicU64::new(0);
    let cache_hits = AtomicU64::new(0);
    pb.finish_and_clear();
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((args.seconds * 10.0).ceil() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {elapsed:>4}/{duration} forwarding with {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{threads} thread(s)"));

    thread::scope(|s| -> Result<(), String> {
        for t in 0..threads {
            let (domain, fib4, fib6, next_hops, flows4, flows6) =
                (&domain, &fib4, &fib6, &next_hops, &flows4, &flows6);
            let (stop, lookups, stale) = (&stop, &lookups, &stale);
            s.spawn(move || {
                let mut rng = SplitMix64::new(t as u64 + 1);
                let reader = domain.reader();
                let mut batch4 = [0u32; 256];
                let mut out = [None; 256];
                let mut batch6 = [0u128; 64];
                let mut out6 = [None; 64];
                let (mut n, mut bad) = (0u64, 0u64);
                let hot = flows4.len() as u64 / 100;
                while !stop.load(Ordering::Relaxed) {
                    for a in batch4.iter_mut() {
                        let r = rng.next_u64();
                        let i = if r & 1 == 0 {
                            (r >> 1) % hot
                        } else {
                            (r >> 1) % flows4.len() as u64
                        };
                        *a = flows4[i as usize];
                    }
                    for a in batch6.iter_mut() {
                        *a = flows6[(rng.next_u64() % flows6.len() as u64) as usize];
                    }
                    let g = reader.read();
                    fib4.load(&g).lookup_batch(&batch4, &mut out);
                    fib6.load(&g).lookup_batch(&batch6, &mut out6);
                    for nh in out.iter().chain(out6.iter()).flatten() {
                        match next_hops[usize::from(nh.index())].load(&g) {
                            Some(obj) => {
                                bad += u64::from(obj.canary.load(Ordering::Relaxed) != ALIVE);
                                black_box(obj.gateway);
                            }
                            None => bad += 1,
                        }
                    }
                    drop(g);
                    n += (batch4.len() + batch6.len()) as u64;
                }
                lookups.fetch_add(n, Ordering::Relaxed);
                stale.fetch_add(bad, Ordering::Relaxed);
            });
        }
        // Sockets: each flow keeps its own route cache (`struct route` in a PCB) and
        // revalidates it on every packet; any route change invalidates all of them.
        {
            let (rt, flows4, stop, stale) = (rt, &flows4, &stop, &stale);
            let (cache_lookups, cache_hits) = (&cache_lookups, &cache_hits);
            s.spawn(move || {
                let mut caches: Vec<RouteCache> = (0..1024).map(|_| RouteCache::new()).collect();
                let mut rng = SplitMix64::new(99);
                let (mut n, mut hits, mut bad) = (0u64, 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let r = rng.next_u64();
                        // Skewed: half the packets belong to 32 busy flows.
                        let f = if r & 1 == 0 {
                            (r >> 1) % 32
                        } else {
                            (r >> 1) % 1024
                        } as usize;
                        let dst = Ipv4Addr::from(flows4[f]);
                        let (route, hit) = caches[f].lookup(rt, dst);
                        if let Some(route) = route {
                            bad += u64::from(
                                !route.is_intact()
                                    || !route.dst().contains(&std::net::IpAddr::V4(dst)),
                            );
                            black_box(route.next_hop(std::net::IpAddr::V4(dst)));
                        }
                        hits += u64::from(hit);
                        n += 1;
                    }
                }
                cache_lookups.fetch_add(n, Ordering::Relaxed);
                cache_hits.fetch_add(hits, Ordering::Relaxed);
                stale.fetch_add(bad, Ordering::Relaxed);
            });
        }
        // TIME_WAIT churn: connections closing at a steady rate, peers probing.
        {
            let (vtw, stop, tw_inserted) = (vtw, &stop, &tw_inserted);
            s.spawn(move || {
                let mut rng = SplitMix64::new(77);
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..512 {
                        let r = rng.next_u64();
                        let t = Tuple {
                            local: LocalAddrId(0),
                            lport: 443,
                            faddr: Ipv4Addr::from((r >> 32) as u32),
                            fport: (r as u16) | 1024,
                        };
                        let info = TimeWaitInfo {
                            snd_nxt: r as u32,
                            rcv_nxt: (r >> 16) as u32,
                            rcv_wnd: 65_535,
                            rcv_wscale: 7,
                            ts_recent: Some(k as u32),
                            uid: 0,
                            reuse_addr: false,
                            reuse_port: false,
                            v6only: false,
                        };
                        // Mostly remote peers, some on an attached subnet, a few loopback.
                        let class = match r % 100 {
                            0..=1 => MslClass::Loopback,
                            2..=11 => MslClass::Local,
                            _ => MslClass::Remote,
                        };
                        if vtw.insert(t, class, info).is_ok() {
                            k += 1;
                        }
                        black_box(vtw.contains(&t));
                    }
                    vtw.expire();
                    thread::sleep(Duration::from_micros(500));
                }
                tw_inserted.store(k, Ordering::Relaxed);
            });
        }

        // The writer: update bursts, next-hop replacements, an interface bounce.
        let start = Instant::now();
        let run_for = Duration::from_secs_f64(args.seconds);
        let mut cursor = 0usize;
        let mut version = 0u64;
        let mut detached = false;
        let mut rng = SplitMix64::new(args.seed ^ 0xAB);
        while start.elapsed() < run_for {
            let burst = 256 + rng.below(1792) as usize;
            let ops: Vec<FibOp<u32>> = (0..burst)
                .map(|_| {
                    let u = updates4[cursor % updates4.len()];
                    cursor += 1;
                    match u {
                        Update::Announce(n) => FibOp::Insert {
                            addr: u32::from(n.network()),
                            len: n.prefix_len(),
                            nh: hash_nh(u128::from(u32::from(n.network())) ^ cursor as u128),
                        },
                        Update::Withdraw(n) => FibOp::Remove {
                            addr: u32::from(n.network()),
                            len: n.prefix_len(),
                        },
                    }
                })
                .collect();
            let r = fib4.apply(&ops, &domain).map_err(|e| e.to_string())?;
            report.fib_updates_applied += ops.len() as u64;
            publish
                .lock()
                .map_err(|e| e.to_string())?
                .push(r.publish_latency);
            // Replace a few next-hop objects (a gateway moved), one synchronize for all.
            let mut b = Batch::new(&domain);
            for _ in 0..8 {
                version += 1;
                let i = 1 + rng.below(u64::from(NEXT_HOPS)) as u32;
                if let Some(old) = next_hops[i as usize].store(next_hop_obj(i, version), &domain) {
                    debug_assert!(old.get().version < version);
                    b.push(old);
                }
            }
            report.next_hop_replacements += b.len() as u64;
            b.finish();
            // A host route comes and goes every few milliseconds (a redirect, a VPN
            // peer): each add and delete bumps the generation every cache checks.
            let host = IpNet::V4(
                Ipv4Net::new(Ipv4Addr::new(203, 0, 113, (version % 250) as u8 + 1), 32)
                    .expect("valid"),
            );
            if version.is_multiple_of(32) {
                if rt.add(&RouteSpec::new(host).via(gw)).is_ok() {
                    report.route_changes += 1;
                }
            } else if version % 32 == 16 && rt.delete(&RouteKey::new(host).host()).is_ok() {
                report.route_changes += 1;
            } else if version % 64 == 40 {
                // The gateway redirects a destination to its neighbour: a DYNAMIC host
                // route appears (and the slow timer reaps it when it expires).
                let r = Redirect {
                    dst: Ipv4Addr::new(203, 0, 113, 200 + (version % 50) as u8).into(),
                    gateway: Ipv4Addr::new(192, 0, 2, 253).into(),
                    src: gw.into(),
                };
                if rt.redirect(&r).is_ok() {
                    report.route_changes += 1;
                }
                stack.tick();
            }
            if !detached && start.elapsed() > run_for / 2 {
                ifs.detach(eth1).map_err(e)?;
                let again = ifs.attach(eth1_cfg()).map_err(e)?;
                ifs.add_addr(again, AddrSpec::new([198, 51, 100, 1], 24))
                    .map_err(e)?;
                report.interface_detaches += 1;
                detached = true;
            }
            bar.set_position((start.elapsed().as_secs_f64() * 10.0) as u64);
            thread::sleep(Duration::from_millis(2));
        }
        bar.finish_and_clear();
        stop.store(true, Ordering::Relaxed);
        report.seconds = start.elapsed().as_secs_f64();
        Ok(())
    })?;

    let mut lat = std::mem::take(&mut *publish.lock().map_err(|e| e.to_string())?);
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    report.fib_publish_p50_us = pct(0.5);
    report.fib_publish_p99_us = pct(0.99);
    report.lookups = lookups.load(Ordering::Relaxed);
    report.lookups_per_sec = report.lookups as f64 / report.seconds;
    report.stale_uses = stale.load(Ordering::Relaxed);
    report.route_cache_lookups = cache_lookups.load(Ordering::Relaxed);
    report.route_cache_hit_rate =
        cache_hits.load(Ordering::Relaxed) as f64 / report.route_cache_lookups.max(1) as f64;
    report.timewait_inserted = tw_inserted.load(Ordering::Relaxed);
    let (live, mem) = (vtw.len::<Ipv4Addr>(), vtw.memory::<Ipv4Addr>().core());
    report.timewait_live = live;
    report.timewait_bytes_per_entry = if live > 0 {
        mem as f64 / live as f64
    } else {
        0.0
    };
    report.full_pcb_bytes_per_entry = FULL_PCB_BYTES;

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_report(&report);
    }
    if report.stale_uses != 0 {
        return Err(format!(
            "{} stale uses: a forwarder saw a destroyed object",
            report.stale_uses
        ));
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!(
        "netroute demo ({} barrier, {} forwarder thread(s), {:.1} s)",
        r.barrier_mode, r.threads, r.seconds
    );
    println!(
        "  tables          {} IPv4 + {} IPv6 prefixes ({}), compiled in {:.0} ms",
        r.prefixes_v4, r.prefixes_v6, r.tables, r.build_ms
    );
    println!(
        "  FIB memory      {:.2} B/prefix IPv4, {:.2} B/prefix IPv6 (published copy; both left-right copies: {:.2} / {:.2})",
        r.fib_bytes_per_prefix_v4,
        r.fib_bytes_per_prefix_v6,
        r.fib_pair_bytes_per_prefix_v4,
        r.fib_pair_bytes_per_prefix_v6
    );
    println!(
        "  lookups         {} ({:.1} M/s, batched, IPv4 and IPv6)",
        r.lookups,
        r.lookups_per_sec / 1e6
    );
    println!(
        "  updates         {} FIB updates applied, publish p50 {:.0} µs / p99 {:.0} µs",
        r.fib_updates_applied, r.fib_publish_p50_us, r.fib_publish_p99_us
    );
    println!(
        "  writers         {} next-hop objects replaced, {} interface detach/re-attach",
        r.next_hop_replacements, r.interface_detaches
    );
    println!(
        "  route caches    {} routes (rtentries); {} cached lookups by 1,024 flows, {:.1} % hits, {} route changes",
        r.routes,
        r.route_cache_lookups,
        r.route_cache_hit_rate * 100.0,
        r.route_changes
    );
    println!("  stale uses      {}", r.stale_uses);
    println!(
        "  TIME_WAIT       {} inserted, {} live, {:.1} B/entry (a full PCB: ≥ {:.0} B)",
        r.timewait_inserted,
        r.timewait_live,
        r.timewait_bytes_per_entry,
        r.full_pcb_bytes_per_entry
    );
}
