//! The `netroute` command. See `netroute --help`.
//!
//! Today it carries the `demo` main job over the pieces that have landed (psref, ifnet,
//! the compiled FIB, VTW); route queries, snapshots, benchmarks and the stress command
//! arrive with the routing table (see the README).
#![forbid(unsafe_code)]

mod demo;
mod stress;

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
    /// The routing torture test: reader threads look routes up (route caches, table
    /// lookups, interfaces and addresses with passive references, TIME_WAIT) while
    /// writers replay route updates, detach and re-attach interfaces, add and remove
    /// addresses; every object read is checked. Fails with the seed to reproduce.
    Stress(stress::Args),
}

fn main() -> ExitCode {
    // Decide the barrier mode while the process has one thread: registering for expedited
    // membarrier is cheap now and costs ~15 ms once threads exist.
    psref::barrier::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Stress(args) => stress::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netroute: {e}");
            ExitCode::FAILURE
        }
    }
}
