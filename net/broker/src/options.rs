//! What a running broker needs: its [`BrokerConfig`] and the runtime's knobs derived from it
//! (or set directly by an embedder or a test).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ringlog_replication::BrokerId;

use super::config::{BrokerConfig, HostPort, Listeners};

/// A broker's runtime settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The configuration: topic defaults, limits, timeouts.
    pub config: BrokerConfig,
    pub node_id: BrokerId,
    /// Where the thin protocol's clients and followers connect (port 0: any free port; the
    /// bound address is reported).
    pub listen: SocketAddr,
    /// The thin listener's address Metadata tells clients; its bound address when `None`.
    pub advertised: Option<SocketAddr>,
    /// Where Kafka's clients connect; `None`: no Kafka listener.
    pub kafka_listen: Option<SocketAddr>,
    /// The Kafka listener's address its Metadata tells clients; its bound address when `None`.
    pub kafka_advertised: Option<HostPort>,
    pub data_dir: PathBuf,
    /// io_uring runtimes, each owning a share of the partitions; at least 1.
    pub shards: usize,
    pub max_frame_bytes: u32,
    pub max_connections: usize,
    /// Requests read from a connection and not yet answered; reading pauses at this many.
    pub max_inflight_requests_per_connection: usize,
    /// The longest a fetch may wait for data, whatever it asks.
    pub fetch_wait_max: Duration,
    /// Fetch partitions a shard keeps waiting for data at once; a fetch of one more is
    /// answered at once with what there is.
    pub fetch_purgatory_max_partitions: usize,
    /// How long a shutdown waits for responses to be written before closing connections.
    pub shutdown_grace: Duration,
}

impl ServerOptions {
    /// The runtime settings `config` gives.
    pub fn from_config(config: BrokerConfig) -> ServerOptions {
        let advertised = config.advertised_listeners.thin.as_ref().and_then(|a| {
            use std::net::ToSocketAddrs;
            (a.host.as_str(), a.port).to_socket_addrs().ok()?.next()
        });
        ServerOptions {
            node_id: config.node_id,
            listen: config.listeners.thin,
            advertised,
            kafka_listen: config.listeners.kafka,
            kafka_advertised: config.advertised_listeners.kafka.clone(),
            data_dir: config.data_dir.clone(),
            shards: config.shard_count(),
            max_frame_bytes: config.socket_request_max_bytes,
            max_connections: config.max_connections as usize,
            max_inflight_requests_per_connection: config.max_inflight_requests_per_connection
                as usize,
            fetch_wait_max: config.fetch_max_wait,
            fetch_purgatory_max_partitions: config.fetch_purgatory_max_partitions as usize,
            shutdown_grace: Duration::from_secs(5),
            config,
        }
    }

    /// The default configuration with its data in `data_dir`, the thin protocol's listener on
    /// `listen` and Kafka's on a free port of the same address.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> ServerOptions {
        let config = BrokerConfig {
            data_dir,
            listeners: Listeners {
                thin: listen,
                kafka: Some(SocketAddr::new(listen.ip(), 0)),
                ..Listeners::default()
            },
            ..BrokerConfig::default()
        };
        ServerOptions::from_config(config)
    }
}
