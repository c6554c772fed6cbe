//! What a running broker needs to know: the runtime's knobs, derived from the broker's
//! configuration (or set directly by an embedder or a test).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ringlog_engine::LogConfig;
use ringlog_replication::BrokerId;
use ringlog_replication::partition::LeaderConfig;

use crate::wire::frame::MAX_FRAME_BYTES_DEFAULT;

/// A broker's runtime settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub node_id: BrokerId,
    /// Where clients connect (port 0: any free port; the bound address is reported).
    pub listen: SocketAddr,
    /// The address Metadata tells clients; the bound listen address when `None`.
    pub advertised: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// io_uring runtimes, each owning a share of the partitions; at least 1.
    pub shards: usize,
    pub max_frame_bytes: u32,
    pub max_connections: usize,
    /// Requests read from a connection and not yet answered; reading pauses at this many.
    pub max_inflight_requests_per_connection: usize,
    /// The longest a fetch may wait for data, whatever it asks.
    pub fetch_wait_max: Duration,
    /// How long a shutdown waits for responses to be written before closing connections.
    pub shutdown_grace: Duration,
    /// The log settings of partitions (topic configs apply on top).
    pub log_config: LogConfig,
    pub leader_config: LeaderConfig,
    /// Partitions of a topic created without a count.
    pub default_partitions: u32,
}

impl ServerOptions {
    /// Defaults for a broker with its data in `data_dir`, listening on `listen`.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> ServerOptions {
        ServerOptions {
            node_id: BrokerId(1),
            listen,
            advertised: None,
            data_dir,
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
            max_connections: 10_000,
            max_inflight_requests_per_connection: 100,
            fetch_wait_max: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(5),
            log_config: LogConfig::default(),
            leader_config: LeaderConfig::default(),
            default_partitions: 1,
        }
    }
}
