//! `ringlog`: the one command-line tool of the project.
//!
//! | file                 | owns                                                          |
//! |----------------------|---------------------------------------------------------------|
//! | this file            | the command line (clap), logging set-up, dispatch, exit codes |
//! | [`cmd::broker`]      | `ringlog broker`: a broker until SIGTERM/SIGINT, then a clean stop |
//! | [`cmd::perf_log`]    | `ringlog perf log`: engine-level append throughput and latency |
//! | [`cmd::dump_log`]    | `ringlog dump-log`: the batches of segment files, verified     |
//!
//! Each subcommand lives in its own file under `cmd/` with an `Args` struct (clap derive) and a
//! `run(args) -> anyhow::Result<()>`. Reports go to stdout; logs (`RUST_LOG`) and progress bars
//! go to stderr, so `--json` output can be piped.

mod cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ringlog", version, about = "ringlog: a replicated commit log")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a broker (until SIGTERM or SIGINT).
    Broker(cmd::broker::Args),
    /// Measure performance.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Print the record batches of a segment file or a partition directory, read-only.
    DumpLog(cmd::dump_log::Args),
}

#[derive(Subcommand, Debug)]
enum PerfCommand {
    /// Append throughput and latency of one partition log, in process (no broker, no network).
    Log(cmd::perf_log::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Broker(args) => cmd::broker::run(args),
        Command::Perf(PerfCommand::Log(args)) => cmd::perf_log::run(args),
        Command::DumpLog(args) => cmd::dump_log::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`ringlog dump-log dir | head`) is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (warnings and errors when it is unset).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
