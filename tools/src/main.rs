//! `ringlog`: the one command-line tool of the project.
//!
//! | file                         | owns                                                   |
//! |------------------------------|--------------------------------------------------------|
//! | this file                    | the command line (clap), logging set-up, dispatch, exit codes |
//! | [`cmd::broker`]              | `ringlog broker`: a broker until SIGTERM/SIGINT, then a clean stop |
//! | [`cmd::dev`]                 | `ringlog dev`: a local cluster, one broker process each, stopped by Ctrl-C |
//! | [`cmd::topic`]               | `ringlog topic create/list/describe/delete/alter-config` |
//! | [`cmd::produce`]             | `ringlog produce`: one record per stdin line            |
//! | [`cmd::consume`]             | `ringlog consume`: one value per stdout line, group membership and commits |
//! | [`cmd::group`]               | `ringlog group list/describe/delete/reset-offsets`      |
//! | [`cmd::user`]                | `ringlog user create/delete/list`: users' SCRAM credentials |
//! | [`cmd::acl`]                 | `ringlog acl add/remove/list`: Kafka's ACL bindings     |
//! | [`cmd::perf_log`]            | `ringlog perf log`: engine-level append throughput and latency |
//! | [`cmd::perf_produce`]        | `ringlog perf produce`: producer throughput, send-to-ack latency |
//! | [`cmd::perf_consume`]        | `ringlog perf consume`: consumer throughput             |
//! | [`cmd::perf_group_member`]   | `ringlog perf group-member`: a consumer group member printing its assignments and reads, timed |
//! | [`cmd::verifiable_producer`] | `ringlog verifiable-producer`: one JSON line per ack or failure |
//! | [`cmd::verifiable_consumer`] | `ringlog verifiable-consumer`: one JSON line per record read |
//! | [`cmd::dump_log`]            | `ringlog dump-log`: the batches of segment files, verified |
//! | [`cmd::bench`]               | `ringlog bench`: Kafka's 2014 benchmark beside the hardware baselines (`ringlog_bench::harness`) |
//! | `cmd::client`                | what the client commands share: `--bootstrap` (env `RINGLOG_BOOTSTRAP`), the runtime, flags, errors |
//! | `cmd::partition_offsets`     | a partition's log start offset, HW and LEO, asked of its leader |
//! | `cmd::perf_report`           | latency histograms in ms, the progress bar, `--throughput` |
//!
//! Each subcommand lives in its own file under `cmd/` with an `Args` struct (clap derive) and a
//! `run(args) -> anyhow::Result<()>`. Reports go to stdout; logs (`RUST_LOG`) and progress bars
//! go to stderr, so `--json` output can be piped. A failure prints one line, `error: ...`, naming
//! the Kafka error code when a broker answered with one, and exits 1.

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
    /// Run a local cluster on 127.0.0.1, one broker process each (until Ctrl-C).
    Dev(cmd::dev::Args),
    /// Create, list, describe and delete topics; alter their configs.
    Topic(cmd::topic::Args),
    /// Send one record per line of stdin.
    ///
    /// A line that cannot be sent (no --key-separator in it, too large) stops the input: the
    /// records of the lines before it are delivered, the lines after it are not read, and the
    /// command fails naming the line and how many records before it were delivered. While a
    /// partition's batch is retried (refused with NOT_ENOUGH_REPLICAS, say), stderr says which
    /// and why every few seconds; records not acknowledged within --delivery-timeout-ms fail.
    Produce(cmd::produce::Args),
    /// Print the records of a topic, one value per line.
    Consume(cmd::consume::Args),
    /// List, describe and delete consumer groups; reset their offsets.
    Group(cmd::group::Args),
    /// Set, delete and list users' SCRAM credentials (stored; not enforced yet).
    User(cmd::user::Args),
    /// Add, remove and list ACLs (stored; not enforced yet).
    Acl(cmd::acl::Args),
    /// Measure performance.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Send numbered records and print one JSON line per acknowledgement or failure.
    VerifiableProducer(cmd::verifiable_producer::Args),
    /// Read a topic and print one JSON line per record.
    VerifiableConsumer(cmd::verifiable_consumer::Args),
    /// Print the record batches of a segment file or a partition directory, read-only.
    DumpLog(cmd::dump_log::Args),
    /// Run Kafka's 2014 benchmark scenarios on local brokers beside the hardware baselines;
    /// write results.json, report.md and plots.
    Bench(cmd::bench::Args),
}

#[derive(Subcommand, Debug)]
enum PerfCommand {
    /// Append throughput and latency of one partition log, in process (no broker, no network).
    Log(cmd::perf_log::Args),
    /// Producer throughput and send-to-acknowledgement latency against a running cluster.
    Produce(cmd::perf_produce::Args),
    /// Consumer throughput against a running cluster.
    Consume(cmd::perf_consume::Args),
    /// A consumer group member printing a JSON line, with its time, for each assignment it
    /// takes and each poll that returned records (for timing rebalances).
    GroupMember(cmd::perf_group_member::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Broker(args) => cmd::broker::run(args),
        Command::Dev(args) => cmd::dev::run(args),
        Command::Topic(args) => cmd::topic::run(args),
        Command::Produce(args) => cmd::produce::run(args),
        Command::Consume(args) => cmd::consume::run(args),
        Command::Group(args) => cmd::group::run(args),
        Command::User(args) => cmd::user::run(args),
        Command::Acl(args) => cmd::acl::run(args),
        Command::Perf(PerfCommand::Log(args)) => cmd::perf_log::run(args),
        Command::Perf(PerfCommand::Produce(args)) => cmd::perf_produce::run(args),
        Command::Perf(PerfCommand::Consume(args)) => cmd::perf_consume::run(args),
        Command::Perf(PerfCommand::GroupMember(args)) => cmd::perf_group_member::run(args),
        Command::VerifiableProducer(args) => cmd::verifiable_producer::run(args),
        Command::VerifiableConsumer(args) => cmd::verifiable_consumer::run(args),
        Command::DumpLog(args) => cmd::dump_log::run(args),
        Command::Bench(args) => cmd::bench::run(args),
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

/// Logs to stderr, filtered by `RUST_LOG` (when it is unset: warnings and errors, but none
/// of openraft's, which reports every unreachable peer during ordinary elections and
/// restarts, `RUST_LOG=warn,openraft=warn` shows them; and the security audit, failed logins
/// and authorization denials, at INFO: `ringlog::audit=off` hides it).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,openraft=off,ringlog::audit=info")
    });
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
