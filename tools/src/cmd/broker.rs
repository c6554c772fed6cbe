//! `ringlog broker`: runs a broker until SIGTERM or SIGINT, then stops it cleanly (no new
//! connections, waiting requests answered, logs closed so the next start skips recovery).
//!
//! Configuration: the defaults, the TOML file of `--config` over them, the flags over both
//! (`docs/operations.md` lists every key; `--print-default-config` prints them). A bad key or
//! value stops the start with an error naming it.
//!
//! The first line on stdout is `listening on PLAINTEXT://ADDR, THIN://ADDR` once it serves,
//! which is once the controller quorum has registered it: each listener by name with its bound
//! address, so `--listeners PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0` can be used by scripts
//! and tests. Then `metrics on ADDR`; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use ringlog_broker::config::{Listeners, QuorumVoters, default_toml};
use ringlog_broker::metrics::install_recorder;
use ringlog_broker::{Broker, BrokerConfig, BrokerOverrides, MetricsServer, ServerOptions};
use ringlog_engine::IoBackendKind;
use ringlog_replication::{BrokerId, Rack};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[derive(ClapArgs, Debug)]
pub(crate) struct Args {
    /// A TOML file of broker settings (keys mirror Kafka's names); every key has a default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// This broker's id (`node_id`).
    #[arg(long)]
    pub node_id: Option<u32>,
    /// Where clients connect, `NAME://ip:port,...` (`listeners`; default
    /// PLAINTEXT://127.0.0.1:9092 for Kafka clients, THIN://127.0.0.1:9095 for ringlog's).
    #[arg(long)]
    pub listeners: Option<Listeners>,
    /// Where the logs and the topic catalog live (`data_dir`, default ./ringlog-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where Prometheus metrics are served (`metrics_listen`, default 127.0.0.1:9644).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// io_uring runtimes, each owning a share of the partitions (`shards`; 0: one per core).
    #[arg(long)]
    pub shards: Option<u16>,
    /// `auto`, `uring` or `portable` (`io_backend`).
    #[arg(long)]
    pub io_backend: Option<IoBackendKind>,
    /// This broker's rack (`rack`).
    #[arg(long)]
    pub rack: Option<String>,
    /// The controller quorum, `1@host:port,2@host:port,...` (`controller_quorum_voters`).
    #[arg(long)]
    pub controller_quorum_voters: Option<String>,
    /// Print every configuration key with its default and exit.
    #[arg(long)]
    pub print_default_config: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if args.print_default_config {
        print!("{}", default_toml());
        return Ok(());
    }
    let config = resolve(&args)?;
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("install signal handlers")?;
    let metrics = install_recorder().context("install the metrics recorder")?;
    let metrics_server = MetricsServer::start(config.metrics_listen, metrics)
        .with_context(|| format!("serve metrics on {}", config.metrics_listen))?;
    let data_dir = config.data_dir.clone();
    let listen = config.listeners.to_string();
    let (kafka_name, thin_name) = (config.listeners.kafka_name(), config.listeners.thin_name());
    let broker = Broker::start(ServerOptions::from_config(config)).with_context(|| {
        format!(
            "start the broker on {listen} with data in {}",
            data_dir.display()
        )
    })?;
    // Serving starts once the controller quorum has this broker registered: until a
    // majority of the voters runs, that waits (a signal still stops it).
    loop {
        if let Some(signal) = signals.pending().next() {
            tracing::info!(signal, "stopping before registration");
            broker.stop().context("stop the broker")?;
            metrics_server.stop();
            return Ok(());
        }
        match broker.wait_ready(Duration::from_millis(500)) {
            Ok(()) => break,
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(error) => return Err(error).context("register with the controller quorum"),
        }
    }
    let mut stdout = std::io::stdout();
    let mut listening = Vec::new();
    if let Some(kafka) = broker.kafka_addr() {
        listening.push(format!("{kafka_name}://{kafka}"));
    }
    listening.push(format!("{thin_name}://{}", broker.local_addr()));
    writeln!(stdout, "listening on {}", listening.join(", "))?;
    writeln!(
        stdout,
        "metrics on http://{}/metrics",
        metrics_server.local_addr()
    )?;
    stdout.flush()?;
    let signal = signals.forever().next();
    tracing::info!(?signal, "stopping");
    broker.stop().context("stop the broker")?;
    metrics_server.stop();
    Ok(())
}

fn resolve(args: &Args) -> anyhow::Result<BrokerConfig> {
    let controller_quorum_voters = args
        .controller_quorum_voters
        .as_deref()
        .map(str::parse::<QuorumVoters>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--controller-quorum-voters: {e}"))?;
    let overrides = BrokerOverrides {
        node_id: args.node_id.map(BrokerId),
        listeners: args.listeners.clone(),
        data_dir: args.data_dir.clone(),
        metrics_listen: args.metrics_listen,
        shards: args.shards,
        io_backend: args.io_backend,
        rack: args.rack.clone().map(Rack),
        controller_quorum_voters,
    };
    Ok(BrokerConfig::resolve(args.config.as_deref(), overrides)?)
}
