//! The `netroute` command. See `netroute --help`.
//!
//! Today it carries the `demo` main job over the pieces that have landed (psref, ifnet,
//! the compiled FIB, VTW); route queries, snapshots, benchmarks and the stress command
//! arrive with the routing table (see the README).
#![forbid(unsafe_code)]

mod alloc_count;
mod bench;
mod bench_plot;
mod demo;
mod input;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// netroute: an MP-safe routing core after NetBSD's, for userspace network stacks.
#[derive(Parser, Debug)]
#[command(name = "netroute", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the main job on built-in data: Internet-sized FIBs read by forwarder threads
    /// while a writer replays updates, replaces next hops and bounces an interface, with
    /// TIME_WAIT churn; then report throughput and safety counters.
    Demo(demo::Args),
    /// Run the library's benchmarks side by side with peer crates (prefix-trie for the
    /// FIB, a HashMap + FIFO for TIME_WAIT) and print a table of ratios.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    // Decide the barrier mode while the process has one thread: registering for expedited
    // membarrier is cheap now and costs ~15 ms once threads exist.
    psref::barrier::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netroute: {e}");
            ExitCode::FAILURE
        }
    }
}
