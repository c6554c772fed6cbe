//! The broker server: `shards` io_uring runtimes, each owning a share of the partitions and
//! its own connections, a protocol frontend per protocol, the partitions served through the
//! replication crate's partition driver over the engine, and the agent linking the broker to
//! the controller quorum. `docs/architecture.md` is the map; `docs/broker.md` the long form.
//!
//! | file              | owns                                                                   |
//! |-------------------|------------------------------------------------------------------------|
//! | [`Broker`] (here) | binding the listeners, starting the controller, the shards and the agent, stopping them cleanly |
//! | [`options`]       | [`ServerOptions`]: the runtime's settings                              |
//! | `shard`           | one runtime: its ring, connections, owned partitions, cross-shard parts, long polls, stop |
//! | `ring`            | the io_uring submissions and their tokens (the unsafe part)            |
//! | `connection`      | a connection: frames in, responses out in request order, `sendfile` for record bytes |
//! | `tls`             | the TLS listeners' rustls config (reloaded when its files change), the followers' and controllers' TLS |
//! | `ktls`            | the kernel's TLS under the TLS listeners: the start-up probe, each direction's crypto info, moving a connection's record layer into the kernel (the unsafe part) |
//! | `bus`             | what the shards and the agent share and send each other: `Shared`, inboxes, `ShardMsg`, `AgentMsg`, reply routes |
//! | `frontend/`       | one frontend per protocol: frames cut and decoded, requests into operations, results into responses (`thin.rs`, `kafka/`) |
//! | `ops`             | the operations a partition part runs on its owner (`PartOp`) and their results (`PartResult`) |
//! | `partition`       | a partition on its owner: the partition driver over the engine's log, reads for consumers and followers |
//! | `agent`           | the link to the controller quorum: registration, heartbeats, metadata to the shards, follower fetches, ISR proposals, admin requests, producer id blocks, controlled shutdown |
//! | `producer_ids`    | the producer ids this broker hands out (InitProducerId): its blocks from the controller and the requests waiting for one, pure |
//! | `catalog`         | the cluster as of the last metadata image: brokers, topics, partition states, topic configs |
//! | [`config`]        | [`BrokerConfig`]: the TOML file, command-line overrides, validation, conversions to the engine's and replication's configs |
//! | [`topic_config`]  | [`TopicConfig`]: topic-level keys as string pairs (CreateTopics, DescribeConfigs, AlterConfigs), their typed [`TopicSettings`] and persisted form |
//! | `int_rule`        | the range a configuration integer may take, shared by broker and topic keys |
//! | [`metrics`]       | metric names and recording helpers, the Prometheus recorder, the `/metrics` HTTP responder ([`MetricsServer`]) |
//! | `offsets`         | the committed-offset records of `__consumer_offsets` (key version 1) |
//! | `group`           | the consumer-group coordinator of one `__consumer_offsets` partition, a pure state machine (Kafka's classic protocol), its group records and replay; run by the shard that owns the partition (`shard/groups.rs`) |
//! | `meta_properties` | `data_dir/meta.properties`: the node the data dir belongs to, checked at start |
//! | `metrics_hooks`   | what the runtime records through the `metrics` facade                  |

mod agent;
mod bus;
mod catalog;
pub mod config;
mod connection;
mod frontend;
mod group;
mod int_rule;
mod ktls;
mod meta_properties;
pub mod metrics;
mod metrics_hooks;
mod offsets;
mod ops;
pub mod options;
mod partition;
mod partition_metadata;
mod producer_ids;
mod ring;
mod shard;
mod tls;
pub mod topic_config;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

pub use config::{BrokerConfig, BrokerOverrides, ConfigError};
pub use metrics::{MetricsError, MetricsServer};
pub use options::ServerOptions;
pub use topic_config::{TopicConfig, TopicConfigError, TopicSettings};

use agent::Agent;
use bus::{Inbox, ShardMsg, Shared};
use catalog::Catalog;

use shard::Shard;

use ringlog_controller::{Controller, ControllerConfig, RaftTiming};

/// Connections waiting to be accepted, on each listening socket.
const LISTEN_BACKLOG: i32 = 1024;

/// A running broker. Dropping it without [`Broker::stop`] leaves the shards running until the
/// process ends.
pub struct Broker {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    local_addr: SocketAddr,
    kafka_addr: Option<SocketAddr>,
    controller: Controller,
    agent: Option<Agent>,
    /// The data dir's lock file, held while the broker runs: a second broker on the same
    /// data dir fails to start.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("node_id", &self.shared.options.node_id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Binds the listeners (one socket per protocol, which every shard accepts on), starts this
    /// node's controller (a quorum voter, or an observer of the quorum) and the shards, then
    /// registers with the quorum.
    /// Returns once every shard is serving; the partitions this broker holds open (recovering
    /// if needed) as the controller's metadata reaches them.
    pub fn start(mut options: ServerOptions) -> io::Result<Broker> {
        // The config's validation holds the key to it; options set in code are checked here.
        if options.max_connections > ring::CONNECTION_SLOTS as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "max_connections {} is more than the {} connection slots a shard's ring \
                     token holds",
                    options.max_connections,
                    ring::CONNECTION_SLOTS
                ),
            ));
        }
        options.shards = options.shards.max(1);
        let shards = options.shards;
        std::fs::create_dir_all(&options.data_dir)?;
        let lock = ringlog_engine::lock_dir(&options.data_dir)
            .map_err(|error| io::Error::new(io::ErrorKind::ResourceBusy, error.to_string()))?;
        // Before the controller replays the data dir's metadata log as this node's.
        meta_properties::check_or_claim(&options.data_dir, options.node_id)?;
        let thin = bind_shards(options.listen, shards)?;
        let local_addr = thin[0].local_addr()?;
        let kafka = match options.kafka_listen {
            Some(address) => Some(bind_shards(address, shards)?),
            None => None,
        };
        let kafka_addr = match &kafka {
            Some(listeners) => Some(listeners[0].local_addr()?),
            None => None,
        };
        let kafka_advertised = options
            .kafka_advertised
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| kafka_addr.map(|address| address.to_string()));
        let mut kafka = kafka.map(Vec::into_iter);
        let config_listeners = &options.config.listeners;
        let thin_kind = frontend::ListenerKind {
            protocol: frontend::Protocol::Thin,
            tls: config_listeners.thin_security.tls(),
            sasl: config_listeners.thin_security.sasl(),
        };
        let kafka_kind = frontend::ListenerKind {
            protocol: frontend::Protocol::Kafka,
            tls: config_listeners.kafka_security.tls(),
            sasl: config_listeners.kafka_security.sasl(),
        };
        let sasl = (thin_kind.sasl || (kafka.is_some() && kafka_kind.sasl)).then(|| {
            warn_of_plain_in_clear(&options.config, kafka.is_some());
            frontend::sasl::SaslListener::new(&options.config)
        });
        let listeners = thin.into_iter().map(|thin| {
            let mut listeners = vec![(thin_kind, thin)];
            if let Some(kafka) = kafka.as_mut().and_then(Iterator::next) {
                listeners.push((kafka_kind, kafka));
            }
            listeners
        });
        let tls = tls::ServerTls::load(&options.config)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
        let peer_tls = tls::peer_tls(&options.config)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
        let peer_sasl = peer_sasl(&options.config)?;
        let mut inboxes = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..shards {
            let (inbox, receiver) = Inbox::new()?;
            inboxes.push(inbox);
            receivers.push(receiver);
        }
        let controller = start_controller(&options)?;
        let (agent, agent_inbox) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            advertised: options.advertised.unwrap_or(local_addr),
            kafka_advertised,
            tls,
            peer_tls,
            peer_sasl,
            sasl,
            catalog: RwLock::new(Arc::new(Catalog::empty(&options.data_dir))),
            catalog_offset: tokio::sync::watch::channel(0).0,
            registered: tokio::sync::watch::channel(false).0,
            options,
            inboxes,
            agent,
            started: Instant::now(),
            connections: AtomicUsize::new(0),
            shard_connections: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
        });
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, (listener, receiver)) in listeners.zip(receivers).enumerate() {
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
        let agent = Agent::start(shared.clone(), controller.clone(), agent_inbox)?;
        let broker = Broker {
            shared,
            threads,
            local_addr,
            kafka_addr,
            controller,
            agent: Some(agent),
            _lock: lock,
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

    /// The connections of each shard now, in shard order (open, or given to it by the shard
    /// that accepted them and on their way): how the accepts spread.
    pub fn connections_per_shard(&self) -> Vec<usize> {
        self.shared
            .shard_connections
            .iter()
            .map(|count| count.load(std::sync::atomic::Ordering::Relaxed))
            .collect()
    }

    /// The address the thin protocol's listener is bound to (the port chosen, when port 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address Kafka's listener is bound to, if the broker has one.
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka_addr
    }

    /// Waits until the controller quorum has this broker registered and its metadata has
    /// reached the broker: from then on it serves the partitions it holds and takes admin
    /// requests. A cluster's brokers must all be started before any of them can be ready
    /// (the quorum needs a majority of its voters).
    pub fn wait_ready(&self, timeout: std::time::Duration) -> io::Result<()> {
        let mut registered = self.shared.registered.subscribe();
        // On a thread of its own, so any caller may wait, even one inside a tokio runtime.
        let waited = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()?;
                    Ok::<_, io::Error>(runtime.block_on(async {
                        tokio::time::timeout(timeout, registered.wait_for(|&ready| ready))
                            .await
                            .map(|ready| ready.is_ok())
                    }))
                })
                .join()
                .map_err(|_| io::Error::other("waiting for the registration panicked"))?
        })?;
        match waited {
            Ok(true) => Ok(()),
            Ok(false) => Err(io::Error::other(
                "the broker stopped before it was registered",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "broker {} was not registered with the controller quorum within {timeout:?}",
                    self.shared.options.node_id
                ),
            )),
        }
    }

    /// The address of this node's controller listener.
    pub fn controller_addr(&self) -> SocketAddr {
        self.controller.local_addr()
    }

    /// This node's controller.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Stops the broker: a controlled shutdown first (the controller moves this broker's
    /// leaderships away), then every shard (no new connections, waiting requests answered,
    /// what is owed written for at most `shutdown_grace`, logs closed cleanly), then the
    /// controller. Returns the first shard error.
    pub fn stop(mut self) -> io::Result<()> {
        if let Some(agent) = self.agent.take() {
            agent.stop();
        }
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
        self.controller.shutdown();
        first_error.map_or(Ok(()), Err)
    }
}

/// Starts this node's controller: a voter of `controller_quorum_voters` listening on its own
/// voter address, an observer when the quorum does not list it, or, with no quorum
/// configured, the only voter of a one-node quorum (listening on a free loopback port).
/// PLAIN sends the password itself: on a `SASL_PLAINTEXT` listener, anyone on the path reads
/// it. Kafka allows it, and so does ringlog, loudly.
fn warn_of_plain_in_clear(config: &BrokerConfig, kafka: bool) {
    let plain = config
        .sasl_enabled_mechanisms
        .contains(&config::SaslMechanism::Plain);
    let listeners = &config.listeners;
    let in_clear = [
        (kafka, listeners.kafka_security, listeners.kafka_name()),
        (true, listeners.thin_security, listeners.thin_name()),
    ];
    for (bound, security, name) in in_clear {
        if plain && bound && security.sasl() && !security.tls() {
            tracing::warn!(
                listener = name,
                "SASL PLAIN is enabled on a listener without TLS: passwords cross the network \
                 in clear; use SASL_SSL (THIN_SASL_SSL), or SCRAM only"
            );
        }
    }
}

/// The login to the other brokers' thin listeners (follower fetches) when the thin listener
/// asks for SASL: every broker of a cluster is taken to. Without the credentials
/// (`inter_broker_sasl_username`, `inter_broker_sasl_password`) the broker does not start: it
/// could follow no leader.
fn peer_sasl(config: &BrokerConfig) -> io::Result<Option<ringlog_client::ClientSasl>> {
    if !config.listeners.thin_security.sasl() {
        return Ok(None);
    }
    if config.inter_broker_sasl_username.is_empty() || config.inter_broker_sasl_password.is_empty()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "listener {} makes the brokers log in to each other for their follower \
                 fetches: set inter_broker_sasl_username and inter_broker_sasl_password",
                config.listeners.thin_name()
            ),
        ));
    }
    Ok(Some(ringlog_client::ClientSasl::new(
        config.inter_broker_sasl_mechanism,
        config.inter_broker_sasl_username.clone(),
        config.inter_broker_sasl_password.reveal(),
    )))
}

fn start_controller(options: &ServerOptions) -> io::Result<Controller> {
    let config = &options.config;
    let me = options.node_id;
    let quorum = &config.controller_quorum_voters;
    let (voters, listener) = if quorum.is_empty() {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        let address = listener.local_addr()?.to_string();
        (BTreeMap::from([(me, address)]), listener)
    } else {
        let voters: BTreeMap<_, _> = quorum
            .voters()
            .iter()
            .map(|voter| (voter.id, voter.address.to_string()))
            .collect();
        let listener = match quorum.get(me) {
            Some(voter) => {
                let address = voter.address.to_string();
                std::net::TcpListener::bind(address.as_str()).map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("cannot listen on controller address {address}: {error}"),
                    )
                })?
            }
            None => std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?,
        };
        (voters, listener)
    };
    Controller::start(ControllerConfig {
        node_id: me,
        voters,
        listener,
        data_dir: options.data_dir.clone(),
        liveness: config.liveness_config(),
        timing: RaftTiming::default(),
        snapshot_every: 1000,
        tls: tls::controller_tls(config)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?,
    })
    .map_err(io::Error::other)
}

/// The broker's one listening socket, duplicated for each shard: every shard's ring accepts on
/// the same socket, and the kernel hands each new connection to one of the accepts waiting on
/// it. SO_REUSEADDR lets a restart bind while the old connections linger in TIME_WAIT; there is
/// no SO_REUSEPORT, which would let a second broker (of the same user) bind the same address
/// and take half the connections: it fails with AddrInUse instead. With port 0 the kernel
/// picks the port.
fn bind_shards(listen: SocketAddr, shards: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let named = |error: io::Error| {
        io::Error::new(error.kind(), format!("cannot listen on {listen}: {error}"))
    };
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&listen.into()).map_err(named)?;
    socket.listen(LISTEN_BACKLOG).map_err(named)?;
    let listener: std::net::TcpListener = socket.into();
    let mut listeners = Vec::with_capacity(shards);
    for _ in 1..shards {
        listeners.push(listener.try_clone()?);
    }
    listeners.push(listener);
    Ok(listeners)
}
