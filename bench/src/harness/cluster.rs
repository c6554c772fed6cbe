//! The brokers a run measures: `ringlog broker` processes on 127.0.0.1, one or three, with
//! their data in a temporary directory, and the `ringlog` client commands run against them.
//! Each broker serves the thin protocol and Kafka's, each on a listener of its own, and its
//! metrics; [`Cluster::spent`] samples what each has spent so far ([`super::usage`]).
//!
//! Every broker reads one config file the harness writes: the group settings the
//! consumer-group rows run with ([`BrokerSettings`]); every other key keeps its default.
//!
//! A TLS cluster's thin listener is `THIN_SSL`: the harness makes a CA and a certificate for
//! 127.0.0.1 with `rcgen` in the cluster's directory (none is checked in), points the brokers'
//! `ssl_keystore_location` and `ssl_truststore_location` at them, and gives every `ringlog`
//! command the CA (`RINGLOG_TLS_CA`).
//!
//! A three-broker cluster is three processes, each a controller quorum voter (as `ringlog dev`
//! starts them, but each a child of the harness so each is stopped on every path). Brokers are
//! stopped with SIGTERM (a controlled shutdown) when the [`Cluster`] is dropped, and its
//! directory is removed after them.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::process::{ClientRun, Process, Stop, check_interrupted, last_lines};
use super::usage::{self, Spent};

/// How long a broker may take to start serving (register with the controller quorum).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker may take to stop cleanly before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a `ringlog topic` command may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a topic may take to get its leaders and full ISR, or its followers to catch up.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a topic's state is asked for while waiting for it (the brokers push nothing).
const TOPIC_POLL: Duration = Duration::from_millis(100);

/// One partition as `ringlog topic describe --json` reports it, the fields used.
#[derive(Deserialize, Debug)]
struct PartitionState {
    leader: Option<u32>,
    replicas: Vec<u32>,
    isr: Vec<u32>,
    high_watermark: Option<u64>,
}

#[derive(Deserialize, Debug)]
struct TopicState {
    partitions: Vec<PartitionState>,
}

/// Running brokers. Field order matters: the brokers stop before the directory goes.
pub struct Cluster {
    brokers: Vec<Process>,
    /// Each broker's metrics address, in broker order.
    metrics: Vec<SocketAddr>,
    /// The thin listeners, comma-separated.
    bootstrap: String,
    /// The Kafka (`PLAINTEXT`) listeners, comma-separated.
    kafka_bootstrap: String,
    ringlog: PathBuf,
    /// The CA file the thin listeners' certificate is checked against, on a TLS cluster.
    tls_ca: Option<PathBuf>,
    dir: tempfile::TempDir,
}

/// A broker's listeners, as its first stdout line names them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listening {
    thin: String,
    kafka: String,
}

/// How to start the brokers.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// The `ringlog` executable.
    pub ringlog: PathBuf,
    /// Where the temporary data directory is made.
    pub work_dir: PathBuf,
    /// `--io-backend` of every broker.
    pub io_backend: String,
    /// Every broker's `group_initial_rebalance_delay_ms`.
    pub group_initial_rebalance_delay_ms: u64,
    /// Every broker's `group_min_session_timeout_ms`.
    pub group_min_session_timeout_ms: u64,
}

impl BrokerSettings {
    /// The brokers' config file: the keys set here, every other at its default.
    fn config_toml(&self) -> String {
        format!(
            "# written by ringlog bench\n\
             group_initial_rebalance_delay_ms = {}\n\
             group_min_session_timeout_ms = {}\n",
            self.group_initial_rebalance_delay_ms, self.group_min_session_timeout_ms
        )
    }
}

impl Cluster {
    /// Starts `brokers` brokers and waits until each serves, their thin listeners speaking TLS
    /// if `tls`. One broker is its own controller and runs one shard per core; each of a
    /// larger cluster is a voter with one shard, as `ringlog dev` starts them.
    pub fn start(brokers: u32, tls: bool, settings: &BrokerSettings) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("ringlog-bench-")
            .tempdir_in(&settings.work_dir)
            .with_context(|| format!("make a directory in {}", settings.work_dir.display()))?;
        let controllers: Vec<SocketAddr> =
            (0..brokers).map(|_| free_addr()).collect::<Result<_>>()?;
        let voters: Vec<String> = controllers
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{}@{addr}", i + 1))
            .collect();
        let mut cluster = Cluster {
            brokers: Vec::new(),
            metrics: Vec::new(),
            bootstrap: String::new(),
            kafka_bootstrap: String::new(),
            ringlog: settings.ringlog.clone(),
            tls_ca: None,
            dir,
        };
        let mut config_toml = settings.config_toml();
        if tls {
            let files = tls_files(cluster.dir.path())?;
            config_toml.push_str(&files.config_toml());
            cluster.tls_ca = Some(files.ca);
        }
        let config = cluster.config_path();
        std::fs::write(&config, config_toml)
            .with_context(|| format!("write {}", config.display()))?;
        let (ready_tx, ready) = std::sync::mpsc::channel();
        for id in 1..=brokers {
            let voters = (brokers > 1).then(|| voters.join(","));
            let metrics = free_addr()?;
            let mut broker =
                cluster.spawn_broker(id, voters.as_deref(), metrics, &settings.io_backend, tls)?;
            announce(id, broker.take_stdout().expect("piped"), ready_tx.clone());
            cluster.brokers.push(broker);
            cluster.metrics.push(metrics);
        }
        let mut addresses = vec![None; brokers as usize];
        let deadline = Instant::now() + START_TIMEOUT;
        for _ in 0..brokers {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready.recv_timeout(left) {
                Ok((id, Some(listening))) => addresses[id as usize - 1] = Some(listening),
                Ok((id, None)) => {
                    check_interrupted()?;
                    bail!(
                        "broker {id} stopped before serving: {}",
                        cluster.log_tail(id)
                    )
                }
                Err(_) => bail!("the brokers did not all serve within {START_TIMEOUT:?}"),
            }
        }
        let addresses: Vec<Listening> = addresses.into_iter().flatten().collect();
        let join = |which: fn(&Listening) -> &str| {
            addresses.iter().map(which).collect::<Vec<_>>().join(",")
        };
        cluster.bootstrap = join(|l| &l.thin);
        cluster.kafka_bootstrap = join(|l| &l.kafka);
        Ok(cluster)
    }

    /// Starts broker `id`, a voter of `voters` (with one shard) or, without, its own
    /// controller (with one shard per core), serving its metrics on `metrics`, with the
    /// cluster's config file; its stderr goes to a log file beside its data.
    fn spawn_broker(
        &self,
        id: u32,
        voters: Option<&str>,
        metrics: SocketAddr,
        io_backend: &str,
        tls: bool,
    ) -> Result<Process> {
        let mut command = Command::new(&self.ringlog);
        command
            .arg("broker")
            .arg("--config")
            .arg(self.config_path())
            .args(["--node-id", &id.to_string()])
            .args(["--listeners", &listeners(tls)?])
            .args(["--metrics-listen", &metrics.to_string()])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("broker-{id}")))
            .args(["--io-backend", io_backend]);
        if let Some(voters) = voters {
            command
                .args(["--shards", "1"])
                .args(["--controller-quorum-voters", voters]);
        }
        let log = self.log_path(id);
        let stderr = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        command.stdout(Stdio::piped()).stderr(stderr);
        Process::spawn(format!("broker {id}"), &mut command, grace())
    }

    /// The brokers' thin-protocol addresses, comma-separated.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The brokers' Kafka-protocol addresses, comma-separated (`bootstrap.servers`).
    pub fn kafka_bootstrap(&self) -> &str {
        &self.kafka_bootstrap
    }

    /// Whether the first broker's TLS connections go through the kernel's TLS: its
    /// `ringlog_tls_kernel_offload` gauge (none: it has no such gauge).
    pub fn kernel_tls_gauge(&self) -> Result<Option<f64>> {
        let metrics = *self.metrics.first().context("no broker")?;
        usage::kernel_tls_gauge(metrics)
    }

    /// What each broker has spent so far (CPU time, bytes sent), in broker order.
    pub fn spent(&self) -> Result<Vec<Spent>> {
        self.brokers
            .iter()
            .zip(&self.metrics)
            .map(|(broker, &metrics)| {
                usage::sample(broker.pid(), metrics).with_context(|| broker.name().to_string())
            })
            .collect()
    }

    /// A `ringlog ARGS` command against this cluster (not started).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.ringlog);
        command.args(args).env("RINGLOG_BOOTSTRAP", &self.bootstrap);
        if let Some(ca) = &self.tls_ca {
            command.env("RINGLOG_TLS_CA", ca);
        }
        command
    }

    /// Runs `ringlog ARGS` to its end; returns its stdout.
    pub fn ringlog(&self, args: &[&str]) -> Result<String> {
        let name = format!("ringlog {}", args.join(" "));
        ClientRun::start(name, &mut self.command(args))?.finish(Instant::now() + ADMIN_TIMEOUT)
    }

    /// Creates topic `name`.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        configs: &[&str],
    ) -> Result<()> {
        let (partitions, replication_factor) =
            (partitions.to_string(), replication_factor.to_string());
        let mut args = vec![
            "topic",
            "create",
            name,
            "--partitions",
            &partitions,
            "--replication-factor",
            &replication_factor,
        ];
        for config in configs {
            args.extend(["--config", config]);
        }
        self.ringlog(&args)?;
        Ok(())
    }

    /// Waits until every partition of topic `name` has a leader and every replica in its ISR,
    /// so no client starts against a topic still being set up.
    pub fn wait_topic_ready(&self, name: &str) -> Result<()> {
        self.wait_for_topic(name, "a leader and a full ISR for every partition", |_| {
            true
        })
    }

    /// Waits until `records` records of topic `name` are below its high watermarks (every
    /// follower has them, as acks=1 producers do not wait for), so a reader can read them all
    /// and the next scenario does not run beside the followers' catching up.
    pub fn wait_replicated(&self, name: &str, records: u64) -> Result<()> {
        self.wait_for_topic(
            name,
            &format!("{records} records replicated"),
            |partitions| {
                let replicated: u64 = partitions.iter().filter_map(|p| p.high_watermark).sum();
                replicated >= records
            },
        )
    }

    /// Asks for topic `name`'s state until every partition has a leader and a full ISR and
    /// `done` holds of them.
    fn wait_for_topic(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&[PartitionState]) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        loop {
            let described = self.ringlog(&["topic", "describe", name, "--json"])?;
            let state: TopicState = serde_json::from_str(described.trim())
                .with_context(|| format!("parse the description of {name}: {described:?}"))?;
            let settled = state
                .partitions
                .iter()
                .all(|p| p.leader.is_some() && p.isr.len() == p.replicas.len());
            if settled && done(&state.partitions) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("topic {name}: no {what} within {TOPIC_TIMEOUT:?}: {described}");
            }
            std::thread::sleep(TOPIC_POLL);
        }
    }

    /// Deletes topic `name` and its data (so a run holds one scenario's data at a time).
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.ringlog(&["topic", "delete", name])?;
        Ok(())
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("broker.toml")
    }

    fn log_path(&self, id: u32) -> PathBuf {
        self.dir.path().join(format!("broker-{id}.log"))
    }

    /// The last lines of broker `id`'s stderr, for an error message.
    fn log_tail(&self, id: u32) -> String {
        let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        last_lines(&text, 10)
    }
}

fn grace() -> Stop {
    Stop::Term { grace: STOP_GRACE }
}

/// Reads a broker's first stdout line on a thread of its own, sends `(id, Some(listeners))`
/// (or `None` when the broker ended first or named no thin or no Kafka listener), then drains
/// the rest so the broker never blocks on a full pipe.
fn announce(
    id: u32,
    stdout: std::process::ChildStdout,
    ready: std::sync::mpsc::Sender<(u32, Option<Listening>)>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let listening = match reader.read_line(&mut line) {
            Ok(_) => listening(&line),
            Err(_) => None,
        };
        let _ = ready.send((id, listening));
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
}

/// The listeners of a broker's first stdout line, `listening on PLAINTEXT://ADDR,
/// THIN://ADDR` (in any order; `THIN_SSL` for a TLS thin listener).
fn listening(line: &str) -> Option<Listening> {
    let listeners = line.trim().strip_prefix("listening on ")?;
    let find = |scheme: &str| {
        listeners
            .split(", ")
            .find_map(|listener| listener.strip_prefix(scheme))
            .map(str::to_string)
    };
    Some(Listening {
        thin: find("THIN://").or_else(|| find("THIN_SSL://"))?,
        kafka: find("PLAINTEXT://")?,
    })
}

/// A broker's `--listeners`: Kafka's and the thin protocol's (over TLS if `tls`), each on a
/// free loopback port.
fn listeners(tls: bool) -> Result<String> {
    let thin = if tls { "THIN_SSL" } else { "THIN" };
    Ok(format!(
        "PLAINTEXT://{},{thin}://{}",
        free_addr()?,
        free_addr()?
    ))
}

/// The files of a TLS cluster: a CA made for the run, and the brokers' key and certificate
/// for 127.0.0.1 signed by it.
struct TlsFiles {
    /// The brokers' private key, then their certificate (PEM).
    keystore: PathBuf,
    /// The CA's certificate (PEM).
    ca: PathBuf,
}

impl TlsFiles {
    /// The brokers' keys for them (the CA is also their truststore: followers fetch over TLS).
    fn config_toml(&self) -> String {
        format!(
            "ssl_keystore_location = {:?}\nssl_truststore_location = {:?}\n",
            self.keystore.display().to_string(),
            self.ca.display().to_string()
        )
    }
}

/// Makes a CA and a broker certificate for 127.0.0.1 and localhost in `dir`.
fn tls_files(dir: &Path) -> Result<TlsFiles> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().context("make the CA's key")?;
    let mut params = CertificateParams::new(Vec::<String>::new()).context("the CA")?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "ringlog bench CA");
    let ca = params.self_signed(&ca_key).context("sign the CA")?;
    let key = KeyPair::generate().context("make the brokers' key")?;
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let mut params = CertificateParams::new(names).context("the brokers' certificate")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ringlog bench broker");
    let certificate = params
        .signed_by(&key, &ca, &ca_key)
        .context("sign the brokers' certificate")?;
    let files = TlsFiles {
        keystore: dir.join("broker-keystore.pem"),
        ca: dir.join("ca.pem"),
    };
    let keystore = format!("{}{}", key.serialize_pem(), certificate.pem());
    std::fs::write(&files.keystore, keystore)
        .with_context(|| format!("write {}", files.keystore.display()))?;
    std::fs::write(&files.ca, ca.pem()).with_context(|| format!("write {}", files.ca.display()))?;
    Ok(files)
}

/// A loopback address nothing listens on right now, and no connection can take before a
/// broker binds it (`ringlog_ports`).
fn free_addr() -> Result<SocketAddr> {
    ringlog_ports::free_addr().context("find a free port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_listeners_are_read_from_the_first_line() {
        let expected = Listening {
            thin: "127.0.0.1:9095".to_string(),
            kafka: "127.0.0.1:9092".to_string(),
        };
        let line = "listening on PLAINTEXT://127.0.0.1:9092, THIN://127.0.0.1:9095\n";
        assert_eq!(listening(line), Some(expected.clone()));
        let line = "listening on THIN://127.0.0.1:9095, PLAINTEXT://127.0.0.1:9092";
        assert_eq!(listening(line), Some(expected));
        assert_eq!(listening("listening on THIN://127.0.0.1:9095"), None);
        let line = "listening on PLAINTEXT://127.0.0.1:9092, THIN_SSL://127.0.0.1:9096";
        assert_eq!(listening(line).unwrap().thin, "127.0.0.1:9096");
        assert_eq!(listening("error: address in use"), None);
    }

    #[test]
    fn a_tls_cluster_gets_a_ca_and_a_keystore_for_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let files = tls_files(dir.path()).unwrap();
        let keystore = std::fs::read_to_string(&files.keystore).unwrap();
        assert!(keystore.contains("PRIVATE KEY"), "{keystore}");
        assert!(keystore.contains("BEGIN CERTIFICATE"), "{keystore}");
        let ca = std::fs::read_to_string(&files.ca).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE"), "{ca}");
        let toml = files.config_toml();
        assert!(toml.contains("ssl_keystore_location = \""), "{toml}");
        assert!(toml.contains("ssl_truststore_location = \""), "{toml}");
        assert_eq!(listeners(true).unwrap().matches("THIN_SSL://").count(), 1);
        assert_eq!(listeners(false).unwrap().matches("THIN://").count(), 1);
    }

    #[test]
    fn the_config_file_sets_the_group_keys() {
        let settings = BrokerSettings {
            ringlog: PathBuf::from("ringlog"),
            work_dir: PathBuf::from("/tmp"),
            io_backend: "auto".to_string(),
            group_initial_rebalance_delay_ms: 1_000,
            group_min_session_timeout_ms: 3_000,
        };
        let toml = settings.config_toml();
        let lines: Vec<&str> = toml.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "group_initial_rebalance_delay_ms = 1000",
                "group_min_session_timeout_ms = 3000"
            ]
        );
    }
}
