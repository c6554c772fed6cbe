//! The cluster-metadata controller quorum: the replication crate's [`ClusterMetadata`] rules
//! replicated with Raft (the `openraft` crate) over ringlog's frames.
//!
//! A [`Controller`] runs on its own thread with its own tokio runtime. Voters (the ids in
//! `controller_quorum_voters`) run Raft and store the metadata log in
//! `data_dir/__cluster_metadata/`; any other node is an observer, which long-polls the voters
//! for the metadata and forwards its submits to them. Every node publishes a
//! [`MetadataImage`] after each change it applies ([`Controller::watch`]).
//!
//! | module          | owns                                                                   |
//! |-----------------|------------------------------------------------------------------------|
//! | `state`         | [`MetadataState`] and [`MetadataCommand`]: the replicated state machine, pure |
//! | [`security`]    | users' SCRAM credentials and the ACL bindings: their rules and ACL filters, pure |
//! | `format`        | the record framing of the storage files, pure                         |
//! | `log_store`     | the Raft log and vote on disk (openraft's `RaftLogStorage`)            |
//! | `state_machine` | the applied state, its snapshots on disk, image publishing (openraft's `RaftStateMachine`) |
//! | `rpc`           | the controller APIs on the wire (api keys 1000-1004), pure            |
//! | `transport`     | a client connection to another controller                              |
//! | `network`       | openraft's network over that transport                                 |
//! | `server`        | the listener serving the controller APIs                               |
//! | `node`          | a node in its runtime: submit and forwarding, long polls, session expiry, the observer loop |
//! | `raft_types`    | the openraft type configuration                                        |
//! | `error`         | [`ControllerError`]                                                    |
//!
//! [`ClusterMetadata`]: ringlog_replication::controller::ClusterMetadata

mod error;
mod format;
mod log_store;
mod network;
mod node;
mod raft_types;
mod rpc;
pub mod security;
mod server;
mod state;
mod state_machine;
mod transport;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, SnapshotPolicy};
use ringlog_replication::BrokerId;
use ringlog_replication::controller::LivenessConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

pub use error::ControllerError;
pub use state::{
    Applied, BrokerRegistration, CommandOutcome, MetadataCommand, MetadataState,
    PRODUCER_ID_BLOCK_LEN_MAX, ProducerIdBlock, Refusal,
};

use log_store::{LogStore, io_error};
use node::Node;
use raft_types::{Raft, node_id};
use state_machine::StateMachineStore;

/// The folder of `data_dir` the controller keeps its storage in.
pub const METADATA_DIR: &str = "__cluster_metadata";
/// The default `snapshot_every`: a snapshot every this many log entries.
pub const SNAPSHOT_EVERY_DEFAULT: u64 = 1000;
/// At most this many entries are kept in the log behind a snapshot, for followers slightly
/// behind it to catch up from the log rather than a snapshot.
pub const LOGS_KEPT_AFTER_SNAPSHOT_MAX: u64 = 300;
/// The size of the chunks a snapshot is sent to a follower in.
const SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;

/// How a controller node starts.
#[derive(Debug)]
pub struct ControllerConfig {
    /// This node: a voter if `voters` names it, else an observer.
    pub node_id: BrokerId,
    /// The voters: id -> controller `host:port` (`controller_quorum_voters`).
    pub voters: BTreeMap<BrokerId, String>,
    /// Bound by the caller (port 0 in tests); when this node is a voter its address must be
    /// its voter address.
    pub listener: std::net::TcpListener,
    /// The broker's data_dir; the controller uses `data_dir/__cluster_metadata`.
    pub data_dir: PathBuf,
    /// `broker_session_timeout` of a new cluster's metadata. It becomes part of the replicated
    /// state, so every voter must start with the same one.
    pub liveness: LivenessConfig,
    /// Raft timings and the submit deadline.
    pub timing: RaftTiming,
    /// A snapshot every this many log entries; the log keeps
    /// `min(snapshot_every, LOGS_KEPT_AFTER_SNAPSHOT_MAX)` entries behind it.
    pub snapshot_every: u64,
}

/// The Raft timings and the submit deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftTiming {
    /// How often the leader sends heartbeats; also the timeout of one AppendEntries.
    pub heartbeat_interval: Duration,
    /// A follower that heard no leader for a random time in
    /// `[election_timeout_min, election_timeout_max)` starts an election.
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// How long a submit retries (leader changes, unreachable voters) before it gives up.
    pub submit_timeout: Duration,
}

impl Default for RaftTiming {
    fn default() -> RaftTiming {
        RaftTiming {
            heartbeat_interval: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(600),
            election_timeout_max: Duration::from_millis(1200),
            submit_timeout: Duration::from_secs(10),
        }
    }
}

/// The metadata as of one point of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// The index of the last log entry applied to `state`.
    pub offset: u64,
    /// The metadata after that entry.
    pub state: MetadataState,
}

impl MetadataImage {
    /// The image of an empty cluster, before anything is applied.
    pub fn empty(liveness: LivenessConfig) -> MetadataImage {
        MetadataImage {
            offset: 0,
            state: MetadataState::new(liveness),
        }
    }
}

/// What a controller node knows of the quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerStatus {
    /// The leader this node knows of (an observer: as a voter last told it).
    pub leader: Option<BrokerId>,
    /// Whether this node is one of the voters (else an observer).
    pub is_voter: bool,
    /// Whether this node leads the quorum.
    pub is_leader: bool,
    /// The offset of this node's current image: the last log index it applied.
    pub metadata_offset: u64,
    /// The Raft term this node is in (an observer: of the voter it last heard from).
    pub current_term: u64,
}

/// Parses `controller_quorum_voters`: `id@host:port` entries separated by commas.
pub fn parse_voters(text: &str) -> Result<BTreeMap<BrokerId, String>, ControllerError> {
    let mut voters = BTreeMap::new();
    for entry in text.split(',').map(str::trim) {
        let invalid = |reason: &str| ControllerError::InvalidVoters {
            entry: entry.to_string(),
            reason: reason.to_string(),
        };
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| invalid("expected id@host:port"))?;
        let id: u32 = id
            .parse()
            .map_err(|_| invalid("the id is not a broker id (an integer from 0 to 2^32-1)"))?;
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| invalid("the address has no port"))?;
        if host.is_empty() {
            return Err(invalid("the address has no host"));
        }
        port.parse::<u16>()
            .map_err(|_| invalid("the port is not an integer from 0 to 65535"))?;
        if voters.insert(BrokerId(id), addr.to_string()).is_some() {
            return Err(invalid("the id is listed twice"));
        }
    }
    Ok(voters)
}

/// A running controller node. Clones share it; the last one dropped shuts it down.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("local_addr", &self.inner.local_addr)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

struct Inner {
    node: Arc<Node>,
    runtime: tokio::runtime::Handle,
    local_addr: SocketAddr,
    /// Taken by the first shutdown: the stop signal and the controller's thread.
    running: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

/// What the controller's thread needs to start the node.
struct Setup {
    config: ControllerConfig,
    stores: Option<(LogStore, StateMachineStore)>,
    images: watch::Sender<Arc<MetadataImage>>,
}

type Started = Result<(Arc<Node>, tokio::runtime::Handle), ControllerError>;

impl Controller {
    /// Opens the storage (a voter), starts the controller's thread and runtime, Raft (a voter;
    /// a first start initializes the cluster with the voters) or the observer loop, and the
    /// listener. Returns once the listener serves and the storage is open.
    pub fn start(config: ControllerConfig) -> Result<Controller, ControllerError> {
        let local_addr = config
            .listener
            .local_addr()
            .map_err(|source| io_error("local address of", &config.data_dir, source))?;
        validate(&config, local_addr)?;
        let initial = Arc::new(MetadataImage::empty(config.liveness));
        let (images, _) = watch::channel(initial);
        let stores = if config.voters.contains_key(&config.node_id) {
            let dir = config.data_dir.join(METADATA_DIR);
            std::fs::create_dir_all(&dir).map_err(|source| io_error("create", &dir, source))?;
            let log = LogStore::open(&dir)?;
            let state_machine = StateMachineStore::open(&dir, config.liveness, images.clone())?;
            Some((log, state_machine))
        } else {
            None
        };
        config
            .listener
            .set_nonblocking(true)
            .map_err(|source| io_error("set nonblocking", &config.data_dir, source))?;
        let setup = Setup {
            config,
            stores,
            images,
        };
        let (started_tx, started_rx) = mpsc::channel::<Started>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let name = format!("controller-{}", setup.config.node_id);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(setup, started_tx, stop_rx))
            .map_err(|source| ControllerError::Io {
                op: "spawn the thread of",
                path: PathBuf::from("controller"),
                source,
            })?;
        let started = started_rx.recv().unwrap_or(Err(ControllerError::ShutDown));
        let (node, runtime) = match started {
            Ok(started) => started,
            Err(error) => {
                let _ = thread.join();
                return Err(error);
            }
        };
        Ok(Controller {
            inner: Arc::new(Inner {
                node,
                runtime,
                local_addr,
                running: Mutex::new(Some((stop_tx, thread))),
            }),
        })
    }

    /// The address the controller listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Applies `command` through the leader and returns its outcome once applied. Callable
    /// from any tokio runtime; the work runs on the controller's own.
    pub async fn submit(
        &self,
        command: MetadataCommand,
    ) -> Result<CommandOutcome, ControllerError> {
        let node = Arc::clone(&self.inner.node);
        let task = self
            .inner
            .runtime
            .spawn(async move { node.submit(command).await });
        task.await.unwrap_or(Err(ControllerError::ShutDown))
    }

    /// [`submit`](Self::submit) for a caller outside any async context: blocks the thread.
    pub fn submit_blocking(
        &self,
        command: MetadataCommand,
    ) -> Result<CommandOutcome, ControllerError> {
        let (answer_tx, answer_rx) = mpsc::channel();
        let node = Arc::clone(&self.inner.node);
        self.inner.runtime.spawn(async move {
            let _ = answer_tx.send(node.submit(command).await);
        });
        answer_rx.recv().unwrap_or(Err(ControllerError::ShutDown))
    }

    /// The images this node publishes, the current one first.
    pub fn watch(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.inner.node.images.subscribe()
    }

    /// What this node knows of the quorum right now.
    pub fn status(&self) -> ControllerStatus {
        self.inner.node.status()
    }

    /// Stops Raft, the listener and the controller's thread; returns when they have stopped.
    /// Later calls do nothing. Not to be called from the controller's own thread.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn shutdown(&self) {
        let running = self.running.lock().expect("shutdown lock").take();
        if let Some((stop, thread)) = running {
            let _ = stop.send(());
            if thread.join().is_err() {
                tracing::error!("controller: its thread panicked");
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn validate(config: &ControllerConfig, local_addr: SocketAddr) -> Result<(), ControllerError> {
    let invalid = |reason: String| Err(ControllerError::InvalidConfig { reason });
    if config.voters.is_empty() {
        return invalid("controller_quorum_voters names no voter".to_string());
    }
    if config.snapshot_every == 0 {
        return invalid("snapshot_every must be at least 1".to_string());
    }
    let timing = &config.timing;
    if timing.election_timeout_min >= timing.election_timeout_max {
        return invalid(format!(
            "election_timeout_min {:?} must be below election_timeout_max {:?}",
            timing.election_timeout_min, timing.election_timeout_max
        ));
    }
    if timing.heartbeat_interval.is_zero()
        || timing.heartbeat_interval >= timing.election_timeout_min
    {
        return invalid(format!(
            "heartbeat_interval {:?} must be above zero and below election_timeout_min {:?}",
            timing.heartbeat_interval, timing.election_timeout_min
        ));
    }
    if let Some(addr) = config.voters.get(&config.node_id)
        && !listens_on(addr, local_addr)
    {
        return invalid(format!(
            "controller {} listens on {local_addr}, not on its voter address {addr}",
            config.node_id
        ));
    }
    Ok(())
}

/// Whether `voter_addr` names the address the listener is bound to.
fn listens_on(voter_addr: &str, local_addr: SocketAddr) -> bool {
    let Ok(resolved) = voter_addr.to_socket_addrs() else {
        return false;
    };
    resolved.into_iter().any(|addr| {
        addr == local_addr || (local_addr.ip().is_unspecified() && addr.port() == local_addr.port())
    })
}

/// The controller's thread: its runtime runs the node until the stop signal.
fn run(setup: Setup, started: mpsc::Sender<Started>, stop: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            let error = io_error("start the runtime of", &setup.config.data_dir, source);
            let _ = started.send(Err(error));
            return;
        }
    };
    runtime.block_on(async move {
        let node = match start_node(setup).await {
            Ok(node) => node,
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let handle = tokio::runtime::Handle::current();
        if started.send(Ok((Arc::clone(&node), handle))).is_err() {
            return;
        }
        let _ = stop.await;
        if let Some(raft) = &node.raft
            && let Err(error) = raft.shutdown().await
        {
            tracing::warn!(%error, "controller: raft did not shut down cleanly");
        }
    });
    // Dropping the runtime stops the listener and every connection and timer task.
}

async fn start_node(setup: Setup) -> Result<Arc<Node>, ControllerError> {
    let Setup {
        config,
        stores,
        images,
    } = setup;
    let listener = tokio::net::TcpListener::from_std(config.listener)
        .map_err(|source| io_error("listen on", &config.data_dir, source))?;
    let raft = match stores {
        Some((log, state_machine)) => Some(
            start_raft(
                &config.voters,
                config.node_id,
                &config.timing,
                config.snapshot_every,
                log,
                state_machine,
            )
            .await?,
        ),
        None => None,
    };
    let node = Arc::new(Node::new(
        config.node_id,
        config.voters,
        config.timing,
        raft,
        images,
    ));
    tokio::spawn(server::serve(listener, Arc::clone(&node)));
    if node.raft.is_some() {
        tokio::spawn(Arc::clone(&node).expire_sessions());
    } else {
        tokio::spawn(Arc::clone(&node).observe());
    }
    Ok(node)
}

async fn start_raft(
    voters: &BTreeMap<BrokerId, String>,
    id: BrokerId,
    timing: &RaftTiming,
    snapshot_every: u64,
    log: LogStore,
    state_machine: StateMachineStore,
) -> Result<Raft, ControllerError> {
    let config = raft_config(timing, snapshot_every)?;
    let network = network::Network {
        retry_unreachable: timing.heartbeat_interval,
    };
    let raft = Raft::new(node_id(id), Arc::new(config), network, log, state_machine)
        .await
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
    if !initialized {
        // Every voter of a new cluster proposes the same membership; the ones that find it
        // already there are told so, which is fine.
        let members: BTreeMap<u64, BasicNode> = voters
            .iter()
            .map(|(&voter, addr)| (node_id(voter), BasicNode::new(addr)))
            .collect();
        match raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(error) => return Err(ControllerError::Raft(error.to_string())),
        }
    }
    Ok(raft)
}

fn raft_config(
    timing: &RaftTiming,
    snapshot_every: u64,
) -> Result<openraft::Config, ControllerError> {
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let config = openraft::Config {
        cluster_name: "ringlog-controller".to_string(),
        heartbeat_interval: millis(timing.heartbeat_interval),
        election_timeout_min: millis(timing.election_timeout_min),
        election_timeout_max: millis(timing.election_timeout_max),
        install_snapshot_timeout: millis(timing.election_timeout_max).max(1000),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: snapshot_every.min(LOGS_KEPT_AFTER_SNAPSHOT_MAX),
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
        ..openraft::Config::default()
    };
    config
        .validate()
        .map_err(|e| ControllerError::InvalidConfig {
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_from_id_at_host_port_entries() {
        let voters = parse_voters("1@127.0.0.1:9093, 2@localhost:9094,3@[::1]:9095").unwrap();
        assert_eq!(voters[&BrokerId(1)], "127.0.0.1:9093");
        assert_eq!(voters[&BrokerId(2)], "localhost:9094");
        assert_eq!(voters[&BrokerId(3)], "[::1]:9095");
    }

    #[test]
    fn a_bad_voter_entry_is_named_in_the_error() {
        for (text, entry, reason) in [
            ("1@h:1,2h:2", "2h:2", "expected id@host:port"),
            ("x@h:1", "x@h:1", "the id is not a broker id"),
            ("1@h", "1@h", "the address has no port"),
            ("1@:9", "1@:9", "the address has no host"),
            ("1@h:99999", "1@h:99999", "the port is not an integer"),
            ("1@h:1,1@h:2", "1@h:2", "the id is listed twice"),
            ("", "", "expected id@host:port"),
        ] {
            let error = parse_voters(text).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!(
                    "controller_quorum_voters entry {entry:?}: {reason}"
                )),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn the_default_timing_is_kraft_like() {
        let timing = RaftTiming::default();
        assert_eq!(timing.heartbeat_interval, Duration::from_millis(150));
        assert_eq!(timing.election_timeout_min, Duration::from_millis(600));
        assert_eq!(timing.election_timeout_max, Duration::from_millis(1200));
        assert_eq!(timing.submit_timeout, Duration::from_secs(10));
        let config = raft_config(&timing, SNAPSHOT_EVERY_DEFAULT).unwrap();
        assert_eq!(config.max_in_snapshot_log_to_keep, 300);
    }
}
