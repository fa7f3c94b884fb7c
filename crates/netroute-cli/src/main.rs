//! The `netroute` command. See `netroute --help`.
//!
//! `demo` runs the main job on built-in data; `show`, `get` and `snapshot` read and write
//! stack files (the commands live in the `netroute_cli` library so tests and fuzz targets
//! can call them). Exit codes: 0 success, 1 operational failure, 2 usage error, 3 bad
//! input file or value, 4 `get`: some destination unreachable.
#![forbid(unsafe_code)]

mod alloc_count;
mod bench;
mod bench_peers;
mod bench_plot;
mod demo;
mod stress;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args as ClapArgs, Parser, Subcommand};
use netroute_cli::{CliError, exit, get, load_stack, order, show, snapshot};

const EXIT_CODES: &str = "Exit codes: 0 success, 1 operational failure (I/O, netlink), 2 usage \
error, 3 bad input file or value (the message names the file, line and what was expected), \
4 (get) some destination unreachable, blackholed or prohibited.";

/// netroute: an MP-safe routing core after NetBSD's, for userspace network stacks.
#[derive(Parser, Debug)]
#[command(name = "netroute", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the main job on built-in data: Internet-sized FIBs read by forwarder threads
    /// while a writer replays updates, replaces next hops and bounces an interface, with
    /// TIME_WAIT churn; then report throughput and safety counters.
    #[command(
        after_help = "Examples:\n  netroute demo\n  netroute demo --seconds 10 --threads 4 --json\n  netroute demo --fenced\n\n\
Exit codes: 0 success (no stale use seen), 1 failure or a stale use, 2 usage error."
    )]
    Demo(demo::Args),
    /// The routing torture test: reader threads look routes up (route caches, table
    /// lookups, interfaces and addresses with passive references, TIME_WAIT) while
    /// writers replay route updates, detach and re-attach interfaces, add and remove
    /// addresses; every object read is checked. Fails with the seed to reproduce.
    #[command(
        after_help = "Examples:\n  netroute stress --seconds 15 --threads 2\n  \
netroute stress --seconds 60 --table ../shared/data/ris-rrc00-as3333-20260511-table-v4.txt.gz \
--updates ../shared/data/ris-rrc00-as3333-20260511-updates-v4.txt.gz --json\n\n\
Exit codes: 0 no violation, 1 a violation (the report names the seed) or a failure, 2 usage error."
    )]
    Stress(stress::Args),
    /// Run the library's benchmarks side by side with peer crates (prefix-trie for the
    /// FIB, a HashMap + FIFO for TIME_WAIT) and print a table of ratios.
    #[command(after_help = "Examples:\n  netroute bench --quick\n  \
netroute bench --plot bench.svg --json > bench.json\n  \
netroute bench --table ../shared/data/ris-rrc00-as3333-20260511-table-v4.txt.gz\n\n\
Ratios are 'times better than the group's reference row' (>1 is better, for rates and \
bytes alike). Run on a quiet machine: other load skews every figure.\n\n\
Exit codes: 0 success, 1 failure, 2 usage error, 3 bad --table file.")]
    Bench(bench::Args),
    /// Show the routing table of a stack file, like `netstat -rn`.
    #[command(
        after_help = "Example:\n  netroute show --stack stack.json -4\n  netroute show --stack stack.json --json\n\n\
Flags: U up, G gateway, H host, R reject, B blackhole, P prohibit, D dynamic, M modified, \
C connected, S static, s fixed source, l local, b broadcast.\n\n\
Exit codes: 0 success, 1 I/O failure, 2 usage error, 3 bad stack file."
    )]
    Show(ShowArgs),
    /// Ask the stack of a stack file which route, gateway, interface and source it uses
    /// for each destination, like `ip route get`.
    #[command(
        after_help = "Examples:\n  netroute get --stack stack.json 198.51.100.7 2001:db8::1 fe80::2%eth0\n  \
seq -f '192.0.2.%g' 1 254 | netroute get --stack stack.json --json --stdin\n\n\
--json prints one object per destination and line: \
{\"dst\",\"route\",\"gateway\",\"dev\",\"src\",\"flags\"} or {\"dst\",\"error\"} with error \
unreachable, host-unreachable, host-down, blackhole or prohibited.\n\n\
Exit codes: 0 every destination routed, 1 I/O failure, 2 usage error, 3 bad stack file or \
bad destination, 4 some destination unreachable, blackholed or prohibited."
    )]
    Get(GetArgs),
    /// Sort destination addresses the way getaddrinfo does (RFC 6724 §6) for the stack of
    /// a stack file, each with the source address it would use.
    #[command(
        after_help = "Examples:\n  netroute order --stack stack.json 2001:db8::1 192.0.2.7 fe80::2%eth0\n  \
netroute order --stack stack.json --json 198.51.100.1 2001:db8:5::1\n\n\
Plain output: one address per line, best first. --json: [{\"dst\",\"src\"}], src null when \
no source address is usable (those sort last).\n\n\
Exit codes: 0 success, 1 I/O failure, 2 usage error, 3 bad stack file or bad address."
    )]
    Order(OrderArgs),
    /// Read the live kernel's interfaces, addresses and routes (main and local tables,
    /// IPv4 and IPv6) of the current network namespace over netlink and write a stack file.
    #[command(after_help = "Examples:\n  netroute snapshot -o stack.json\n  \
ip netns exec ns1 netroute snapshot > ns1.json\n\n\
Exit codes: 0 success, 1 netlink or I/O failure, 2 usage error.")]
    Snapshot(SnapshotArgs),
}

#[derive(ClapArgs, Debug)]
struct ShowArgs {
    /// The stack file (JSON, plain or gzip).
    #[arg(long, value_name = "FILE")]
    stack: PathBuf,
    /// IPv4 routes only.
    #[arg(short = '4', conflicts_with = "v6")]
    v4: bool,
    /// IPv6 routes only.
    #[arg(short = '6')]
    v6: bool,
    /// A JSON array of routes instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs, Debug)]
struct GetArgs {
    /// The stack file (JSON, plain or gzip).
    #[arg(long, value_name = "FILE")]
    stack: PathBuf,
    /// One JSON object per destination and line.
    #[arg(long)]
    json: bool,
    /// Read destinations from standard input, one per line (after any given as arguments).
    #[arg(long)]
    stdin: bool,
    /// Destinations: 192.0.2.1, 2001:db8::1, fe80::1%eth0.
    #[arg(value_name = "ADDR", required_unless_present = "stdin")]
    addrs: Vec<String>,
}

#[derive(ClapArgs, Debug)]
struct OrderArgs {
    /// The stack file (JSON, plain or gzip).
    #[arg(long, value_name = "FILE")]
    stack: PathBuf,
    /// A JSON array of {"dst","src"} objects.
    #[arg(long)]
    json: bool,
    /// The destinations: 192.0.2.1, 2001:db8::1, fe80::1%eth0.
    #[arg(value_name = "ADDR", required = true)]
    addrs: Vec<String>,
}

#[derive(ClapArgs, Debug)]
struct SnapshotArgs {
    /// Write the stack file here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Decide the barrier mode while the process has one thread: registering for expedited
    // membarrier is cheap now and costs ~15 ms once threads exist.
    psref::barrier::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args).map(|()| exit::OK),
        Command::Stress(args) => stress::run(&args)
            .map(|()| exit::OK)
            .map_err(CliError::failure),
        Command::Bench(args) => bench::run(&args).map(|()| exit::OK),
        Command::Show(a) => run_show(&a),
        Command::Get(a) => run_get(&a),
        Command::Order(a) => run_order(&a),
        Command::Snapshot(a) => run_snapshot(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("netroute: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn run_show(a: &ShowArgs) -> Result<u8, CliError> {
    let stack = load_stack(&a.stack)?;
    let fams = match (a.v4, a.v6) {
        (true, _) => show::Families::V4,
        (_, true) => show::Families::V6,
        _ => show::Families::Both,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    show::run(&stack, fams, a.json, &mut out)?;
    out.flush()
        .map_err(|e| CliError::failure(format!("writing output: {e}")))?;
    Ok(exit::OK)
}

fn run_get(a: &GetArgs) -> Result<u8, CliError> {
    let stack = load_stack(&a.stack)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let stdin = io::stdin();
    let mut lock = stdin.lock();
    let input: Option<&mut dyn io::BufRead> = if a.stdin { Some(&mut lock) } else { None };
    let mut err = io::stderr();
    get::run(&stack, &a.addrs, input, a.json, &mut out, &mut err)
}

fn run_order(a: &OrderArgs) -> Result<u8, CliError> {
    let stack = load_stack(&a.stack)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = order::run(&stack, &a.addrs, a.json, &mut out)?;
    out.flush()
        .map_err(|e| CliError::failure(format!("writing output: {e}")))?;
    Ok(code)
}

fn run_snapshot(a: &SnapshotArgs) -> Result<u8, CliError> {
    let file = snapshot::snapshot(&mut |w| eprintln!("netroute: snapshot: {w}"))?;
    let text = file.to_json_pretty();
    match &a.output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| CliError::failure(format!("{}: {e}", p.display())))?,
        None => io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::failure(format!("writing output: {e}")))?,
    }
    Ok(exit::OK)
}
