//! The broker server: `shards` io_uring runtimes, each owning a share of the partitions and
//! its own connections (see [`shard`]), over the topics of the [`catalog`].
//!
//! | file              | owns                                                                   |
//! |-------------------|------------------------------------------------------------------------|
//! | [`Broker`] (here) | starting the shards on one address, stopping them cleanly              |
//! | [`options`]       | [`ServerOptions`]: the runtime's settings                              |
//! | [`shard`]         | one runtime: its ring, connections, owned partitions, cross-shard parts, long polls, stop |
//! | `ring`            | the io_uring submissions and their tokens (the unsafe part)            |
//! | `connection`      | a connection: frames in, responses out in request order, `sendfile` for record bytes |
//! | [`handlers`]      | what each API answers: splitting a request into partition parts, building the response |
//! | [`partition`]     | a partition on its owner: the engine's log driven by the replication crate's `Replica` |
//! | [`catalog`]       | the topics, persisted in the data directory                            |
//! | [`config`]        | [`BrokerConfig`]: the TOML file, command-line overrides, validation, conversions to the engine's and replication's configs |
//! | [`topic_config`]  | [`TopicConfig`]: topic-level keys as string pairs (CreateTopics, DescribeConfigs, AlterConfigs), their typed [`TopicSettings`] and persisted form |
//! | [`metrics`]       | metric names and recording helpers, the Prometheus recorder, the `/metrics` HTTP responder ([`MetricsServer`]) |
//! | [`offsets`]       | consumer groups' committed offsets in the internal topic `__consumer_offsets` |
//! | `metrics_hooks`   | what the runtime records through the `metrics` facade                  |

pub mod catalog;
pub mod config;
mod connection;
pub mod handlers;
pub mod metrics;
mod metrics_hooks;
pub mod offsets;
pub mod options;
pub mod partition;
mod ring;
pub mod shard;
pub mod topic_config;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

pub use config::{BrokerConfig, BrokerOverrides, ConfigError};
pub use metrics::{MetricsError, MetricsServer};
pub use options::ServerOptions;
pub use topic_config::{TopicConfig, TopicConfigError, TopicSettings};

use catalog::Catalog;
use shard::{Inbox, Shard, ShardMsg, Shared};

/// Connections waiting to be accepted, per shard.
const LISTEN_BACKLOG: i32 = 1024;

/// A running broker. Dropping it without [`Broker::stop`] leaves the shards running until the
/// process ends.
#[derive(Debug)]
pub struct Broker {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    local_addr: SocketAddr,
}

impl Broker {
    /// Opens the data directory (recovering every partition), binds the listen address on
    /// every shard, and starts serving. Returns once every shard is serving.
    pub fn start(mut options: ServerOptions) -> io::Result<Broker> {
        options.shards = options.shards.max(1);
        let mut catalog = Catalog::load(&options.data_dir)?;
        if catalog.topic(offsets::OFFSETS_TOPIC).is_none() {
            let partitions = offsets::OFFSETS_TOPIC_PARTITIONS;
            catalog
                .create(
                    offsets::OFFSETS_TOPIC,
                    partitions,
                    Default::default(),
                    false,
                )
                .map_err(io::Error::other)?;
        }
        let listeners = bind_shards(options.listen, options.shards)?;
        let local_addr = listeners[0].local_addr()?;
        let mut inboxes = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..options.shards {
            let (inbox, receiver) = Inbox::new()?;
            inboxes.push(inbox);
            receivers.push(receiver);
        }
        let shared = Arc::new(Shared {
            advertised: options.advertised.unwrap_or(local_addr),
            options,
            catalog: std::sync::RwLock::new(catalog),
            inboxes,
            started: Instant::now(),
            connections: AtomicUsize::new(0),
            leader_epochs: Default::default(),
        });
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, (listener, receiver)) in listeners.into_iter().zip(receivers).enumerate() {
            let shared = shared.clone();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ringlog-shard-{index}"))
                .spawn(move || {
                    let shard = match Shard::new(index, shared, listener, receiver) {
                        Ok(shard) => shard,
                        Err(error) => {
                            let _ =
                                ready.send(Err(io::Error::new(error.kind(), error.to_string())));
                            return Err(error);
                        }
                    };
                    let _ = ready.send(Ok(()));
                    shard.run()
                })?;
            threads.push(thread);
        }
        drop(ready_tx);
        let broker = Broker {
            shared,
            threads,
            local_addr,
        };
        for _ in 0..broker.threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    let _ = broker.stop();
                    return Err(error);
                }
                Err(_) => {
                    let _ = broker.stop();
                    return Err(io::Error::other("a shard ended while starting"));
                }
            }
        }
        Ok(broker)
    }

    /// The address the broker listens on (the port chosen, when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops every shard: no new connections, waiting requests answered, what is owed written
    /// (for at most `shutdown_grace`), logs closed cleanly. Returns the first shard error.
    pub fn stop(self) -> io::Result<()> {
        for inbox in &self.shared.inboxes {
            inbox.send(ShardMsg::Stop);
        }
        let mut first_error = None;
        for thread in self.threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a shard panicked")));
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// One listening socket per shard on the same address (SO_REUSEPORT), so the kernel spreads
/// connections over the shards. With port 0 the first socket picks the port, the rest share it.
fn bind_shards(listen: SocketAddr, shards: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(shards);
    let mut addr = listen;
    for _ in 0..shards {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}
