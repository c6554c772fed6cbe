//! `ringlog dev`: a local cluster on 127.0.0.1 in one command, one `ringlog broker` process
//! per broker, every broker a controller quorum voter (up to 5; the first 5 vote in a larger
//! cluster, the rest observe). Prints the bootstrap addresses once every broker serves;
//! SIGINT (Ctrl-C) or SIGTERM stops every broker cleanly (a controlled shutdown each).
//!
//! Broker `i` (from 1) listens for Kafka clients on `base_port + i - 1` (so broker 1 is on
//! Kafka's 9092), for its controller on `base_port + 100 + i - 1`, for metrics on
//! `base_port + 200 + i - 1`, for ringlog's thin protocol on `base_port + 300 + i - 1`, with
//! its data in `DATA_DIR/broker-i`. With `--base-port 0` every port is a free one the command
//! picks.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Voters in the controller quorum at most: Raft quorums are odd and small.
const VOTERS_MAX: u32 = 5;
/// How long a broker may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker may take to stop cleanly before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(ClapArgs, Debug)]
pub(crate) struct Args {
    /// How many brokers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub brokers: u32,
    /// Where the brokers keep their data, one directory each.
    #[arg(long, default_value = "./ringlog-dev")]
    pub data_dir: PathBuf,
    /// Broker 1's Kafka port; the others follow (0: free ports).
    #[arg(long, default_value_t = 9092)]
    pub base_port: u16,
    /// `shards` of each broker.
    #[arg(long, default_value_t = 1)]
    pub shards: u16,
    /// `io_backend` of each broker: `auto`, `uring` or `portable`.
    #[arg(long, default_value = "auto")]
    pub io_backend: String,
}

/// One broker's addresses.
struct Node {
    id: u32,
    kafka: SocketAddr,
    thin: SocketAddr,
    controller: SocketAddr,
    metrics: SocketAddr,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let nodes = plan(&args)?;
    let voters: Vec<String> = nodes
        .iter()
        .take(VOTERS_MAX as usize)
        .map(|node| format!("{}@{}", node.id, node.controller))
        .collect();
    let voters = voters.join(",");
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("install signal handlers")?;
    let exe = std::env::current_exe().context("find the ringlog executable")?;
    let mut children: Vec<(u32, Child)> = Vec::new();
    for node in &nodes {
        let dir = args.data_dir.join(format!("broker-{}", node.id));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let child = Command::new(&exe)
            .arg("broker")
            .args(["--node-id", &node.id.to_string()])
            .args([
                "--listeners",
                &format!("PLAINTEXT://{},THIN://{}", node.kafka, node.thin),
            ])
            .args(["--metrics-listen", &node.metrics.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--shards", &args.shards.to_string()])
            .args(["--io-backend", &args.io_backend])
            .args(["--controller-quorum-voters", &voters])
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("start broker {}", node.id))?;
        children.push((node.id, child));
    }
    let started = wait_until_serving(&mut children);
    if let Err(error) = started {
        stop_all(&mut children);
        return Err(error);
    }
    let kafka: Vec<String> = nodes.iter().map(|n| n.kafka.to_string()).collect();
    let thin: Vec<String> = nodes.iter().map(|n| n.thin.to_string()).collect();
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "ringlog dev: {} brokers, data in {}",
        nodes.len(),
        args.data_dir.display()
    )?;
    for node in &nodes {
        writeln!(
            stdout,
            "broker {}: kafka on {}, thin on {}, controller on {}, metrics on http://{}/metrics",
            node.id, node.kafka, node.thin, node.controller, node.metrics
        )?;
    }
    writeln!(stdout, "kafka bootstrap: {}", kafka.join(","))?;
    writeln!(stdout, "thin bootstrap: {}", thin.join(","))?;
    writeln!(
        stdout,
        "ringlog's CLI: export RINGLOG_BOOTSTRAP={}",
        thin.join(",")
    )?;
    writeln!(stdout, "Ctrl-C stops the cluster.")?;
    stdout.flush()?;
    signals.forever().next();
    eprintln!("ringlog dev: stopping");
    stop_all(&mut children);
    Ok(())
}

/// Every broker's addresses.
fn plan(args: &Args) -> anyhow::Result<Vec<Node>> {
    let port = |offset: u32| -> anyhow::Result<SocketAddr> {
        if args.base_port == 0 {
            // Below the ephemeral range: no connection of a broker starting meanwhile can
            // take it before its own broker binds it.
            return ringlog_ports::free_addr().context("find a free port");
        }
        let port = u32::from(args.base_port) + offset;
        let port = u16::try_from(port).with_context(|| format!("port {port} is past 65535"))?;
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    };
    (1..=args.brokers)
        .map(|id| {
            Ok(Node {
                id,
                kafka: port(id - 1)?,
                thin: port(300 + id - 1)?,
                controller: port(100 + id - 1)?,
                metrics: port(200 + id - 1)?,
            })
        })
        .collect()
}

/// Waits for every broker's `listening on` line.
fn wait_until_serving(children: &mut [(u32, Child)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let (lines, ready) = std::sync::mpsc::channel();
    for (id, child) in children.iter_mut() {
        let stdout = child.stdout.take().expect("piped");
        let lines = lines.clone();
        let id = *id;
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let serving = reader.read_line(&mut line).is_ok() && line.starts_with("listening on");
            let _ = lines.send((id, serving));
            // Keep draining so the broker never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
    }
    for _ in 0..children.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match ready.recv_timeout(left) {
            Ok((_, true)) => {}
            Ok((id, false)) => bail!("broker {id} stopped before serving (see its log above)"),
            Err(_) => bail!("the brokers did not all serve within {START_TIMEOUT:?}"),
        }
    }
    Ok(())
}

/// Sends SIGTERM to every broker and waits for each (killing one that does not stop in time).
fn stop_all(children: &mut [(u32, Child)]) {
    for (_, child) in children.iter() {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: plain syscall on a child's pid.
            unsafe { libc::kill(pid, SIGTERM) };
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    for (id, child) in children.iter_mut() {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        eprintln!("ringlog dev: broker {id} exited with {status}");
                    }
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    eprintln!("ringlog dev: broker {id} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}
