//! `ringlog broker`: runs a broker until SIGTERM or SIGINT, then stops it cleanly (no new
//! connections, waiting requests answered, logs closed so the next start skips recovery).
//!
//! The first line on stdout is `listening on ADDR` once it serves (the bound address, so
//! `--listen 127.0.0.1:0` can be used by scripts and tests); logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use ringlog_net::server::{Broker, ServerOptions};
use ringlog_replication::BrokerId;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// This broker's id (Kafka's `node.id`).
    #[arg(long, default_value_t = 1)]
    pub node_id: u32,
    /// Where clients connect.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// Where the logs and the topic catalog live.
    #[arg(long, default_value = "./ringlog-data")]
    pub data_dir: PathBuf,
    /// io_uring runtimes, each owning a share of the partitions (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub shards: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut options = ServerOptions::new(args.data_dir.clone(), args.listen);
    options.node_id = BrokerId(args.node_id);
    if args.shards > 0 {
        options.shards = args.shards;
    }
    // Signals are blocked for every thread the broker starts once this exists.
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("install signal handlers")?;
    let broker = Broker::start(options).with_context(|| {
        format!(
            "start the broker on {} with data in {}",
            args.listen,
            args.data_dir.display()
        )
    })?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", broker.local_addr())?;
    stdout.flush()?;
    let signal = signals.forever().next();
    tracing::info!(?signal, "stopping");
    broker.stop().context("stop the broker")?;
    Ok(())
}
