//! The broker's configuration: a TOML file whose keys mirror Kafka's broker configs (dots
//! become underscores), then command-line overrides, then a check of the whole.
//!
//! Every key has a default, so a broker starts with no file at all. An unknown key, a value
//! of the wrong type or out of its range is a start-up error that names the file, the key, the
//! value and what is allowed; every problem in a file is reported at once.
//!
//! ```text
//! BrokerConfig::load(path)        the file over the defaults       ConfigError::Syntax / File
//!   .apply_overrides(overrides)   command-line flags over the file
//!   .validate()                   every key's range, and what must hold between keys
//!                                                                  ConfigError::Invalid
//! ```
//!
//! [`BrokerConfig::resolve`] does the three. [`default_toml`] renders every key with its
//! default and a one-line comment (`ringlog broker --print-default-config`).
//!
//! | key                                    | default          | Kafka's key                    | notes |
//! |----------------------------------------|------------------|--------------------------------|-------|
//! | `node_id`                              | 1                | `node.id`                      | 0 ..= 2^31-1 (the wire carries it as an i32) |
//! | `listeners`                            | PLAINTEXT://127.0.0.1:9092,THIN://127.0.0.1:9095 | `listeners` | `NAME://ip:port,...`: PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL) is Kafka's protocol (optional), THIN (or THIN_SSL, THIN_SASL_PLAINTEXT, THIN_SASL_SSL) ringlog's (required: its client, CLI and followers speak it) |
//! | `advertised_listeners`                 | "" (= `listeners`) | `advertised.listeners`       | `NAME://host:port,...`; a listener left out advertises its bound address; required for one bound to 0.0.0.0 or `[::]` |
//! | `data_dir`                             | ./ringlog-data   | `log.dirs`                     | one directory, not a list |
//! | `metrics_listen`                       | 127.0.0.1:9644   | none (Kafka uses JMX)          | Prometheus text at `/metrics` |
//! | `shards`                               | 0 (one per core) | none (`num.io.threads` is closest) | 0 ..= 1024 |
//! | `io_backend`                           | auto             | none                           | auto, uring, portable |
//! | `rack`                                 | "" (no rack)     | `broker.rack`                  | |
//! | `controller_quorum_voters`             | "" (single node) | `controller.quorum.voters`     | `1@host:port,2@host:port`, at most 9 voters |
//! | `num_partitions`                       | 1                | `num.partitions`               | |
//! | `default_replication_factor`           | 1                | `default.replication.factor`   | |
//! | `min_insync_replicas`                  | 1                | `min.insync.replicas`          | topic default |
//! | `unclean_leader_election_enable`       | false            | `unclean.leader.election.enable` | topic default |
//! | `auto_create_topics_enable`            | false            | `auto.create.topics.enable`    | Kafka's default is true |
//! | `log_segment_bytes`                    | 1 GiB            | `log.segment.bytes`            | topic default; 61 ..= 2^31-1 (Kafka: at least 1 MiB) |
//! | `log_roll_ms`                          | 7 days           | `log.roll.ms`                  | topic default (Kafka: unset, `log.roll.hours` = 168) |
//! | `log_retention_ms`                     | 7 days           | `log.retention.ms`             | topic default; -1: forever (Kafka: `log.retention.hours` = 168) |
//! | `log_retention_bytes`                  | -1 (no limit)    | `log.retention.bytes`          | topic default |
//! | `log_flush_policy`                     | never            | none (`log.flush.interval.messages`) | topic default: never, always, interval |
//! | `log_flush_interval_ms`                | 1000             | `log.flush.interval.ms`        | topic default; used by `interval` |
//! | `log_index_interval_bytes`             | 4096             | `log.index.interval.bytes`     | topic default |
//! | `log_preallocate_bytes`                | 16 MiB           | none (`file.preallocate` reserves whole segments) | blocks reserved ahead of each active segment's data; 0: off (Redpanda's `segment_fallocation_step`) |
//! | `message_max_bytes`                    | 1 MiB + 12       | `message.max.bytes`            | topic default; the largest batch |
//! | `socket_request_max_bytes`             | 100 MiB          | `socket.request.max.bytes`     | the largest request frame |
//! | `max_connections`                      | 10000            | `max.connections`              | at most 2^24, the connection slots a ring token holds (Kafka's default is 2^31-1) |
//! | `max_inflight_requests_per_connection` | 100              | none (`queued.max.requests` is per broker) | requests read from a connection and not yet answered |
//! | `fetch_purgatory_max_partitions`       | 100000           | none (Kafka's fetch purgatory has no bound) | per shard: fetch partitions waiting for data at once (long polls); one more is answered at once with what there is |
//! | `request_timeout_ms`                   | 30000            | `request.timeout.ms` (a client config) | |
//! | `fetch_max_wait_ms`                    | 500              | `fetch.max.wait.ms` (a consumer config) | the longest a fetch may ask to wait |
//! | `replica_lag_time_max_ms`              | 30000            | `replica.lag.time.max.ms`      | |
//! | `broker_session_timeout_ms`            | 9000             | `broker.session.timeout.ms`    | |
//! | `broker_heartbeat_interval_ms`         | 2000             | `broker.heartbeat.interval.ms` | |
//! | `replica_fetch_wait_max_ms`            | 500              | `replica.fetch.wait.max.ms`    | how long a follower's fetch may wait at the leader |
//! | `replica_fetch_max_bytes`              | 1 MiB            | `replica.fetch.max.bytes`      | per partition, soft (the first batch comes whole) |
//! | `replica_fetch_response_max_bytes`     | 10 MiB           | `replica.fetch.response.max.bytes` | per fetch |
//! | `replica_fetch_backoff_ms`             | 1000             | `replica.fetch.backoff.ms`     | after a failed fetch |
//! | `offsets_topic_replication_factor`     | 3                | `offsets.topic.replication.factor` | cut to the live brokers when the topic is created |
//! | `group_initial_rebalance_delay_ms`     | 3000             | `group.initial.rebalance.delay.ms` | how long a group starting empty waits for more members |
//! | `group_min_session_timeout_ms`         | 6000             | `group.min.session.timeout.ms` | |
//! | `group_max_session_timeout_ms`         | 1800000          | `group.max.session.timeout.ms` | |
//! | `group_max_size`                       | 2147483647       | `group.max.size`               | members per group |
//! | `offsets_retention_minutes`            | 10080 (7 days)   | `offsets.retention.minutes`    | an empty group's offsets (and a consumer's in assign mode, from its commit) expire after it |
//! | `offsets_retention_check_interval_ms`  | 600000           | `offsets.retention.check.interval.ms` | |
//! | `producer_id_expiration_ms`            | 86400000 (1 day) | `producer.id.expiration.ms`    | a partition forgets an idempotent producer idle this long (checked with retention, every 30 s) |
//! | `ssl_keystore_location`                | "" (none)        | `ssl.keystore.location` (with `ssl.keystore.type` PEM) | the TLS listeners' private key and certificate chain in one PEM file; required by an `SSL` or `THIN_SSL` listener |
//! | `ssl_truststore_location`              | "" (none)        | `ssl.truststore.location` (PEM) | CA certificates client certificates are checked against; required by `ssl_client_auth` requested or required |
//! | `ssl_client_auth`                      | none             | `ssl.client.auth`              | none, requested, required |
//! | `ssl_reload_interval_ms`               | 10000            | none (Kafka reloads on an AlterConfigs of the keystore) | the key, certificates and CAs are reloaded when their files change, for new connections |
//! | `ssl_kernel_offload`                   | auto             | none                           | auto: TLS connections move to the kernel's TLS after the handshake when the kernel offers it (fetches by sendfile); off: rustls in user space always |
//! | `controller_security_protocol`         | PLAINTEXT        | `listener.security.protocol.map` (the controller listener's) | SSL: TLS both ways between the controller quorum's nodes (keystore and truststore required): a node without the cluster's credentials cannot vote or read the metadata |
//! | `sasl_enabled_mechanisms`              | SCRAM-SHA-256,SCRAM-SHA-512 | `sasl.enabled.mechanisms` | what a SASL listener (`SASL_PLAINTEXT`, `SASL_SSL`, `THIN_SASL_PLAINTEXT`, `THIN_SASL_SSL`) offers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512. PLAIN is opt-in: it sends the password itself (in clear on `SASL_PLAINTEXT`), SCRAM never does (Kafka's default is GSSAPI) |
//! | `connections_max_reauth_ms`            | 0 (never)        | `connections.max.reauth.ms`    | a SASL session's lifetime (KIP-368): the client re-authenticates on the connection before it ends, else its next request closes the connection |
//! | `connection_failed_authentication_delay_ms` | 100         | `connection.failed.authentication.delay.ms` | how long the answer to a failed authentication waits before it is sent and the connection closed; doubled for each failure from the same address in the last minute, up to 5 s; 0 ..= 60000 |
//! | `sasl_bootstrap_users`                 | [] (none)        | none (`kafka-storage format --add-scram`) | users whose SCRAM credentials the broker writes into a new cluster's metadata (one that holds no credentials yet): `["SCRAM-SHA-512=[name=admin,password=...]"]`; never shown by DescribeConfigs |
//! | `authorizer_enabled`                   | false            | `authorizer.class.name` (`StandardAuthorizer`) | requests are checked against the ACLs (`docs/security.md`); off, every client may do everything and the ACLs are only stored |
//! | `super_users`                          | [] (none)        | `super.users`                  | principals every request is allowed to: `["User:admin"]` |
//! | `allow_everyone_if_no_acl_found`       | false            | `allow.everyone.if.no.acl.found` | an action on a resource no ACL names is allowed rather than denied |
//! | `inter_broker_sasl_mechanism`          | SCRAM-SHA-512    | `sasl.mechanism.inter.broker.protocol` | how a broker logs in to the others' `THIN_SASL_*` listeners for its follower fetches; one of `sasl_enabled_mechanisms` |
//! | `inter_broker_sasl_username`           | "" (none)        | the inter-broker listener's JAAS `username` | the user the broker logs in as; required with a `THIN_SASL_*` listener |
//! | `inter_broker_sasl_password`           | "" (none)        | the inter-broker listener's JAAS `password` | that user's password; required with a `THIN_SASL_*` listener; never shown by DescribeConfigs nor in a log |
//!
//! Durations are [`Duration`]s in [`BrokerConfig`] (`log_roll_ms` is the field `log_roll`); a
//! unit appears only in the keys. The keys marked "topic default" give the defaults of the
//! topic-level keys of [`crate::topic_config`].
//!
//! What must hold between keys ([`BrokerConfig::validate`]): a listener bound to an
//! unspecified address has an advertised address (it cannot be advertised, as Kafka also says);
//! `broker_heartbeat_interval_ms` < `broker_session_timeout_ms`; `fetch_max_wait_ms` <
//! `request_timeout_ms`; `message_max_bytes` < `socket_request_max_bytes` (a produce frame
//! carries the batch and headers) and <= `log_segment_bytes` (the engine refuses an append
//! larger than a segment); the listeners and `metrics_listen` differ. A TLS listener (`SSL`,
//! `SASL_SSL`, `THIN_SSL`, `THIN_SASL_SSL`) needs `ssl_keystore_location`. A `THIN_SASL_*`
//! listener needs the inter-broker credentials (`inter_broker_sasl_username`,
//! `inter_broker_sasl_password`) with a mechanism it offers: followers fetch through it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ringlog_engine::{IoBackendKind, LogConfig};
use ringlog_replication::controller::TopicConfig as ControllerTopicConfig;
use ringlog_replication::controller::liveness::LivenessConfig;
use ringlog_replication::controller::metadata::PARTITIONS_PER_TOPIC_MAX;
use ringlog_replication::partition::FollowerConfig;
use ringlog_replication::partition::leader::LeaderConfig;
use ringlog_replication::{BrokerId, Rack};
use ringlog_security::Principal;

use crate::int_rule::IntRule;

mod sasl;
use crate::topic_config::{
    FLUSH_INTERVAL_MS, FlushMode, INDEX_INTERVAL_BYTES, MAX_MESSAGE_BYTES, MIN_INSYNC_REPLICAS,
    RETENTION_BYTES, RETENTION_MS, SEGMENT_BYTES, SEGMENT_MS, SEVEN_DAYS, TopicConfig,
    TopicConfigKey, TopicSettings, render_millis,
};
pub use sasl::{BOOTSTRAP_ITERATIONS_DEFAULT, BootstrapUser, Password, SaslMechanism};
/// `socket_request_max_bytes`' default: Kafka's, 100 MiB.
pub const SOCKET_REQUEST_MAX_BYTES_DEFAULT: u32 = 100 * 1024 * 1024;
/// `socket_request_max_bytes`' least: a frame must hold a request header of either protocol
/// (the frontends assert theirs fit).
pub const SOCKET_REQUEST_MIN_BYTES: u32 = 12;

/// The most shards a broker runs (`shards`).
pub const SHARDS_MAX: u16 = 1024;

/// The most controller quorum voters (`controller_quorum_voters`): Raft quorums are 1, 3 or
/// 5 in practice.
pub const QUORUM_VOTERS_MAX: usize = 9;

/// The broker's configuration. Field names are the keys without their `_ms` unit; see the
/// module table for each key's default, range and Kafka name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `node_id`: this broker's id in the cluster.
    pub node_id: BrokerId,
    /// `listeners`: the addresses the broker binds, one per protocol.
    pub listeners: Listeners,
    /// `advertised_listeners`: the addresses given to clients and other brokers.
    pub advertised_listeners: AdvertisedListeners,
    /// `data_dir`: where partition logs and checkpoints live.
    pub data_dir: PathBuf,
    /// `metrics_listen`: where Prometheus metrics are served (`/metrics`).
    pub metrics_listen: SocketAddr,
    /// `shards`: io_uring runtimes, one thread each; 0: one per core ([`Self::shard_count`]).
    pub shards: u16,
    /// `io_backend`.
    pub io_backend: IoBackendKind,
    /// `rack`: for rack-aware replica placement; `None`: no rack.
    pub rack: Option<Rack>,
    /// `controller_quorum_voters`: empty: this broker is a single combined node.
    pub controller_quorum_voters: QuorumVoters,
    /// `num_partitions`: partitions of a topic created without a count.
    pub num_partitions: u32,
    /// `default_replication_factor`: replicas of a topic created without a factor.
    pub default_replication_factor: u16,
    /// `min_insync_replicas` (topic default).
    pub min_insync_replicas: u16,
    /// `unclean_leader_election_enable` (topic default).
    pub unclean_leader_election_enable: bool,
    /// `auto_create_topics_enable`: a Metadata or Produce request for an unknown topic creates it.
    pub auto_create_topics_enable: bool,
    /// `log_segment_bytes` (topic default `segment_bytes`).
    pub log_segment_bytes: u64,
    /// `log_roll_ms` (topic default `segment_ms`).
    pub log_roll: Duration,
    /// `log_retention_ms` (topic default `retention_ms`); `None`: forever.
    pub log_retention: Option<Duration>,
    /// `log_retention_bytes` (topic default `retention_bytes`); `None`: no limit.
    pub log_retention_bytes: Option<u64>,
    /// `log_flush_policy` (topic default `flush_policy`).
    pub log_flush_policy: FlushMode,
    /// `log_flush_interval_ms` (topic default `flush_interval_ms`).
    pub log_flush_interval: Duration,
    /// `log_index_interval_bytes` (topic default `index_interval_bytes`).
    pub log_index_interval_bytes: u32,
    /// `log_preallocate_bytes`: the engine's `preallocate_bytes`, for every partition's log.
    pub log_preallocate_bytes: u32,
    /// `message_max_bytes` (topic default `max_message_bytes`): the largest batch.
    pub message_max_bytes: u32,
    /// `socket_request_max_bytes`: the largest request frame, length prefix included.
    pub socket_request_max_bytes: u32,
    /// `max_connections`: client and broker connections open at once.
    pub max_connections: u32,
    /// `max_inflight_requests_per_connection`: requests read and not yet answered; the broker
    /// stops reading a connection at this many.
    pub max_inflight_requests_per_connection: u32,
    /// `fetch_purgatory_max_partitions`: fetch partitions a shard keeps waiting for data at
    /// once; a fetch of one more is answered at once with what there is (nothing).
    pub fetch_purgatory_max_partitions: u32,
    /// `request_timeout_ms`: the longest a request may wait inside the broker (an acks=all
    /// produce's own timeout is capped by it).
    pub request_timeout: Duration,
    /// `fetch_max_wait_ms`: the longest a fetch may ask to wait for data.
    pub fetch_max_wait: Duration,
    /// `replica_lag_time_max_ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max: Duration,
    /// `broker_session_timeout_ms`: a broker silent this long is fenced.
    pub broker_session_timeout: Duration,
    /// `broker_heartbeat_interval_ms`: how often the broker heartbeats to the controller.
    pub broker_heartbeat_interval: Duration,
    /// `replica_fetch_wait_max_ms`: how long a follower's fetch may wait at the leader.
    pub replica_fetch_wait_max: Duration,
    /// `replica_fetch_max_bytes`: record bytes a follower asks for per partition.
    pub replica_fetch_max_bytes: u32,
    /// `replica_fetch_response_max_bytes`: record bytes a follower asks for per fetch.
    pub replica_fetch_response_max_bytes: u32,
    /// `replica_fetch_backoff_ms`: how long a follower waits after a failed fetch.
    pub replica_fetch_backoff: Duration,
    /// `offsets_topic_replication_factor`: replicas of `__consumer_offsets` (at most the live
    /// brokers when it is created).
    pub offsets_topic_replication_factor: u16,
    /// `group_initial_rebalance_delay_ms`: how long a group starting empty waits for more
    /// members before its first generation.
    pub group_initial_rebalance_delay: Duration,
    /// `group_min_session_timeout_ms`: the shortest session timeout a member may ask for.
    pub group_min_session_timeout: Duration,
    /// `group_max_session_timeout_ms`: the longest session timeout a member may ask for.
    pub group_max_session_timeout: Duration,
    /// `group_max_size`: the most members a group may have.
    pub group_max_size: u32,
    /// `offsets_retention_minutes`: how long an empty group's offsets are kept.
    pub offsets_retention: Duration,
    /// `offsets_retention_check_interval_ms`: how often expired offsets are looked for.
    pub offsets_retention_check_interval: Duration,
    /// `producer_id_expiration_ms`: how long a partition keeps an idle idempotent producer.
    pub producer_id_expiration: Duration,
    /// `ssl_keystore_location`: the TLS listeners' private key and certificate chain (PEM).
    pub ssl_keystore_location: Option<PathBuf>,
    /// `ssl_truststore_location`: the CA certificates (PEM) client certificates are checked
    /// against.
    pub ssl_truststore_location: Option<PathBuf>,
    /// `ssl_client_auth`: whether TLS clients must show a certificate.
    pub ssl_client_auth: ClientAuth,
    /// `ssl_reload_interval_ms`: how often the key, certificates and CAs are looked at for a
    /// change on disk.
    pub ssl_reload_interval: Duration,
    /// `ssl_kernel_offload`: `auto` (true) moves TLS connections to the kernel's TLS when it
    /// offers it; `off` (false) keeps them in rustls.
    pub ssl_kernel_offload: bool,
    /// `controller_security_protocol`: PLAINTEXT, or SSL (TLS both ways between the controller
    /// quorum's nodes).
    pub controller_security_protocol: SecurityProtocol,
    /// `sasl_enabled_mechanisms`: what a SASL listener offers, in the order its handshake
    /// lists them.
    pub sasl_enabled_mechanisms: Vec<SaslMechanism>,
    /// `connections_max_reauth_ms`: how long a SASL session lasts before the client must
    /// re-authenticate; `None` (0): sessions do not expire.
    pub connections_max_reauth: Option<Duration>,
    /// `connection_failed_authentication_delay_ms`: how long the answer to a failed
    /// authentication waits (doubled for repeated failures from one address).
    pub connection_failed_authentication_delay: Duration,
    /// `sasl_bootstrap_users`: users written into a new cluster's metadata.
    pub sasl_bootstrap_users: Vec<BootstrapUser>,
    /// `authorizer_enabled`: requests are checked against the ACLs.
    pub authorizer_enabled: bool,
    /// `super_users`: principals every request is allowed to.
    pub super_users: Vec<Principal>,
    /// `allow_everyone_if_no_acl_found`: an action on a resource no ACL names is allowed.
    pub allow_everyone_if_no_acl_found: bool,
    /// `inter_broker_sasl_mechanism`: how this broker logs in to the others' `THIN_SASL_*`
    /// listeners (follower fetches).
    pub inter_broker_sasl_mechanism: SaslMechanism,
    /// `inter_broker_sasl_username`: the user it logs in as; empty: none.
    pub inter_broker_sasl_username: String,
    /// `inter_broker_sasl_password`: that user's password; empty: none.
    pub inter_broker_sasl_password: Password,
}

/// Whether a TLS listener asks its clients for a certificate (Kafka's `ssl.client.auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// One is asked for and checked if given; a client without one is served.
    Requested,
    /// A client without a certificate the truststore's CAs signed is refused.
    Required,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Requested => "requested",
            ClientAuth::Required => "required",
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        let topic = TopicSettings::default();
        BrokerConfig {
            node_id: BrokerId(1),
            listeners: Listeners::default(),
            advertised_listeners: AdvertisedListeners::default(),
            data_dir: PathBuf::from("./ringlog-data"),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9644)),
            shards: 0,
            io_backend: IoBackendKind::Auto,
            rack: None,
            controller_quorum_voters: QuorumVoters::default(),
            num_partitions: 1,
            default_replication_factor: 1,
            min_insync_replicas: topic.min_insync_replicas,
            unclean_leader_election_enable: topic.unclean_leader_election_enable,
            auto_create_topics_enable: false,
            log_segment_bytes: topic.segment_bytes,
            log_roll: SEVEN_DAYS,
            log_retention: Some(SEVEN_DAYS),
            log_retention_bytes: topic.retention_bytes,
            log_flush_policy: topic.flush_policy,
            log_flush_interval: topic.flush_interval,
            log_index_interval_bytes: topic.index_interval_bytes,
            log_preallocate_bytes: u32::try_from(LogConfig::default().preallocate_bytes)
                .expect("the engine's default fits"),
            message_max_bytes: topic.max_message_bytes,
            socket_request_max_bytes: SOCKET_REQUEST_MAX_BYTES_DEFAULT,
            max_connections: 10_000,
            max_inflight_requests_per_connection: 100,
            fetch_purgatory_max_partitions: 100_000,
            request_timeout: Duration::from_millis(30_000),
            fetch_max_wait: Duration::from_millis(500),
            replica_lag_time_max: Duration::from_millis(30_000),
            broker_session_timeout: Duration::from_millis(9000),
            broker_heartbeat_interval: Duration::from_millis(2000),
            replica_fetch_wait_max: Duration::from_millis(500),
            replica_fetch_max_bytes: 1024 * 1024,
            replica_fetch_response_max_bytes: 10 * 1024 * 1024,
            replica_fetch_backoff: Duration::from_millis(1000),
            offsets_topic_replication_factor: 3,
            group_initial_rebalance_delay: Duration::from_millis(3000),
            group_min_session_timeout: Duration::from_millis(6000),
            group_max_session_timeout: Duration::from_millis(1_800_000),
            group_max_size: i32::MAX as u32,
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            offsets_retention_check_interval: Duration::from_millis(600_000),
            producer_id_expiration: Duration::from_millis(86_400_000),
            ssl_keystore_location: None,
            ssl_truststore_location: None,
            ssl_client_auth: ClientAuth::None,
            ssl_reload_interval: Duration::from_secs(10),
            ssl_kernel_offload: true,
            controller_security_protocol: SecurityProtocol::Plaintext,
            sasl_enabled_mechanisms: vec![
                SaslMechanism::Scram(ringlog_security::scram::Mechanism::ScramSha256),
                SaslMechanism::Scram(ringlog_security::scram::Mechanism::ScramSha512),
            ],
            connections_max_reauth: None,
            connection_failed_authentication_delay: Duration::from_millis(100),
            sasl_bootstrap_users: Vec::new(),
            authorizer_enabled: false,
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            inter_broker_sasl_mechanism: SaslMechanism::Scram(
                ringlog_security::scram::Mechanism::ScramSha512,
            ),
            inter_broker_sasl_username: String::new(),
            inter_broker_sasl_password: Password::default(),
        }
    }
}

/// Command-line flags that override the file: each `Some` replaces its key's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerOverrides {
    /// `--node-id`: `node_id`.
    pub node_id: Option<BrokerId>,
    /// `--listeners`: `listeners`.
    pub listeners: Option<Listeners>,
    /// `--data-dir`: `data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `--metrics-listen`: `metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--shards`: `shards`.
    pub shards: Option<u16>,
    /// `--io-backend`: `io_backend`.
    pub io_backend: Option<IoBackendKind>,
    /// `--rack`: `rack`.
    pub rack: Option<Rack>,
    /// `--controller-quorum-voters`: `controller_quorum_voters` (parse it with
    /// [`QuorumVoters::from_str`]).
    pub controller_quorum_voters: Option<QuorumVoters>,
}

impl BrokerConfig {
    /// The defaults, the file at `path` (when given) over them, `overrides` over both, checked
    /// whole: what a broker's `main` calls.
    pub fn resolve(
        path: Option<&Path>,
        overrides: BrokerOverrides,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut config = match path {
            Some(path) => BrokerConfig::load(path)?,
            None => BrokerConfig::default(),
        };
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Reads the TOML file at `path` over the defaults. Each key's type and range are checked
    /// here (so the error names the file); what must hold between keys is checked by
    /// [`Self::validate`], after overrides.
    pub fn load(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        BrokerConfig::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses TOML `text` over the defaults; `file` names it in errors. Every unknown key and
    /// bad value is reported, not just the first.
    pub fn from_toml_str(text: &str, file: &str) -> Result<BrokerConfig, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| ConfigError::Syntax {
                    file: file.to_string(),
                    message: err.to_string().trim_end().to_string(),
                })?;
        let mut config = BrokerConfig::default();
        let mut problems = Vec::new();
        for (name, value) in &table {
            let Some(spec) = KEYS.iter().find(|spec| spec.name == name) else {
                unknown_keys(name, value, &mut problems);
                continue;
            };
            if let Err(allowed) = (spec.parse)(&mut config, value) {
                problems.push(ConfigProblem::BadValue {
                    key: spec.name,
                    value: quoted_value(spec.name, value),
                    allowed,
                });
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            // Key order whatever order the table iterates in (toml's `preserve_order` feature,
            // if another crate turns it on, would make it file order).
            problems.sort_by(|a, b| a.key().cmp(b.key()));
            Err(ConfigError::File {
                file: file.to_string(),
                problems,
            })
        }
    }

    /// Replaces each key the overrides set.
    pub fn apply_overrides(&mut self, overrides: BrokerOverrides) {
        let BrokerOverrides {
            node_id,
            listeners,
            data_dir,
            metrics_listen,
            shards,
            io_backend,
            rack,
            controller_quorum_voters,
        } = overrides;
        if let Some(node_id) = node_id {
            self.node_id = node_id;
        }
        if let Some(listeners) = listeners {
            self.listeners = listeners;
        }
        if let Some(data_dir) = data_dir {
            self.data_dir = data_dir;
        }
        if let Some(metrics_listen) = metrics_listen {
            self.metrics_listen = metrics_listen;
        }
        if let Some(shards) = shards {
            self.shards = shards;
        }
        if let Some(io_backend) = io_backend {
            self.io_backend = io_backend;
        }
        if let Some(rack) = rack {
            self.rack = Some(rack);
        }
        if let Some(voters) = controller_quorum_voters {
            self.controller_quorum_voters = voters;
        }
    }

    /// Checks every key's range (the same rules the file is read with, so an override or a
    /// config built in code is held to them too) and what must hold between keys (see the
    /// module doc). Lists every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut scratch = BrokerConfig::default();
        for spec in KEYS {
            let value = (spec.render)(self);
            if let Err(allowed) = (spec.parse)(&mut scratch, &value) {
                problems.push(ConfigProblem::BadValue {
                    key: spec.name,
                    value: quoted_value(spec.name, &value),
                    allowed,
                });
            }
        }
        self.check_between_keys(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// A `THIN_SASL_*` listener: followers fetch through it, so each broker needs a login of
    /// its own there, with a mechanism the listener offers.
    fn check_inter_broker_sasl(&self, inconsistent: &mut impl FnMut(&[&'static str], String)) {
        let listener = self.listeners.thin_name();
        if self.inter_broker_sasl_username.is_empty() || self.inter_broker_sasl_password.is_empty()
        {
            inconsistent(
                &[
                    "listeners",
                    "inter_broker_sasl_username",
                    "inter_broker_sasl_password",
                ],
                format!(
                    "listener {listener} makes the brokers log in to each other for their \
                     follower fetches: set inter_broker_sasl_username and \
                     inter_broker_sasl_password (a user of sasl_bootstrap_users, or one made \
                     with ringlog user create)"
                ),
            );
        }
        if !self
            .sasl_enabled_mechanisms
            .contains(&self.inter_broker_sasl_mechanism)
        {
            inconsistent(
                &["inter_broker_sasl_mechanism", "sasl_enabled_mechanisms"],
                format!(
                    "inter_broker_sasl_mechanism {} is not among sasl_enabled_mechanisms {}: \
                     listener {listener} would refuse the brokers' logins",
                    self.inter_broker_sasl_mechanism,
                    sasl::render_mechanisms(&self.sasl_enabled_mechanisms)
                ),
            );
        }
    }

    fn check_between_keys(&self, problems: &mut Vec<ConfigProblem>) {
        let mut inconsistent = |keys: &[&'static str], message: String| {
            problems.push(ConfigProblem::Inconsistent {
                keys: keys.to_vec(),
                message,
            });
        };
        for (name, address, advertised) in self.listeners.named(&self.advertised_listeners) {
            if advertised.is_none() && address.ip().is_unspecified() {
                inconsistent(
                    &["listeners", "advertised_listeners"],
                    format!(
                        "listener {name} binds {address}, an unspecified address, which cannot \
                         be advertised: give {name} an address in advertised_listeners"
                    ),
                );
            }
        }
        let advertised = &self.advertised_listeners;
        let names = [
            (
                advertised.kafka_name,
                self.listeners.kafka_name(),
                self.listeners.kafka.is_some(),
            ),
            (advertised.thin_name, self.listeners.thin_name(), true),
        ];
        for (advertised_name, name, bound) in names {
            match advertised_name {
                Some(advertised_name) if !bound => inconsistent(
                    &["listeners", "advertised_listeners"],
                    format!("advertised listener {advertised_name} is not in listeners"),
                ),
                Some(advertised_name) if advertised_name != name => inconsistent(
                    &["listeners", "advertised_listeners"],
                    format!(
                        "advertised listener {advertised_name} names the listener {name}, which \
                         listeners binds: an advertised listener takes its listener's name"
                    ),
                ),
                _ => {}
            }
        }
        if self.listeners.any_tls() && self.ssl_keystore_location.is_none() {
            inconsistent(
                &["listeners", "ssl_keystore_location"],
                format!(
                    "listeners {} has a TLS listener, which needs a key and certificate: set \
                     ssl_keystore_location",
                    self.listeners
                ),
            );
        }
        if self.listeners.thin_security.tls() && self.ssl_truststore_location.is_none() {
            inconsistent(
                &["listeners", "ssl_truststore_location"],
                format!(
                    "listener {} makes the brokers fetch from each other over TLS, checking \
                     each other's certificates against the CAs of ssl_truststore_location: set \
                     it",
                    self.listeners.thin_name()
                ),
            );
        }
        if self.listeners.thin_security.sasl() {
            self.check_inter_broker_sasl(&mut inconsistent);
        }
        if !matches!(
            self.controller_security_protocol,
            SecurityProtocol::Plaintext | SecurityProtocol::Ssl
        ) {
            inconsistent(
                &["controller_security_protocol"],
                "controller_security_protocol is PLAINTEXT or SSL: the controllers authenticate \
                 each other with certificates, not SASL"
                    .to_string(),
            );
        }
        if self.controller_security_protocol.tls()
            && (self.ssl_keystore_location.is_none() || self.ssl_truststore_location.is_none())
        {
            inconsistent(
                &["controller_security_protocol", "ssl_keystore_location"],
                "controller_security_protocol SSL makes the controllers show and check \
                 certificates: set ssl_keystore_location and ssl_truststore_location"
                    .to_string(),
            );
        }
        if self.ssl_client_auth != ClientAuth::None && self.ssl_truststore_location.is_none() {
            inconsistent(
                &["ssl_client_auth", "ssl_truststore_location"],
                format!(
                    "ssl_client_auth is {}, which checks client certificates against the CAs \
                     of ssl_truststore_location: set it",
                    self.ssl_client_auth.as_str()
                ),
            );
        }
        if self.rack.as_ref().is_some_and(|rack| rack.0.is_empty()) {
            inconsistent(
                &["rack"],
                "rack is empty: leave it unset for no rack".to_string(),
            );
        }
        if self.broker_heartbeat_interval >= self.broker_session_timeout {
            inconsistent(
                &["broker_heartbeat_interval_ms", "broker_session_timeout_ms"],
                format!(
                    "broker_heartbeat_interval_ms {} must be less than broker_session_timeout_ms \
                     {}",
                    render_millis(self.broker_heartbeat_interval),
                    render_millis(self.broker_session_timeout)
                ),
            );
        }
        if self.group_min_session_timeout > self.group_max_session_timeout {
            inconsistent(
                &[
                    "group_min_session_timeout_ms",
                    "group_max_session_timeout_ms",
                ],
                format!(
                    "group_min_session_timeout_ms {} must not be more than \
                     group_max_session_timeout_ms {}",
                    render_millis(self.group_min_session_timeout),
                    render_millis(self.group_max_session_timeout)
                ),
            );
        }
        if self.fetch_max_wait >= self.request_timeout {
            inconsistent(
                &["fetch_max_wait_ms", "request_timeout_ms"],
                format!(
                    "fetch_max_wait_ms {} must be less than request_timeout_ms {}",
                    render_millis(self.fetch_max_wait),
                    render_millis(self.request_timeout)
                ),
            );
        }
        if self.message_max_bytes >= self.socket_request_max_bytes {
            inconsistent(
                &["message_max_bytes", "socket_request_max_bytes"],
                format!(
                    "message_max_bytes {} must be less than socket_request_max_bytes {}: a \
                     produce frame carries the batch and its headers",
                    self.message_max_bytes, self.socket_request_max_bytes
                ),
            );
        }
        if u64::from(self.message_max_bytes) > self.log_segment_bytes {
            inconsistent(
                &["message_max_bytes", "log_segment_bytes"],
                format!(
                    "message_max_bytes {} is larger than log_segment_bytes {}: the largest batch \
                     would not fit in a segment",
                    self.message_max_bytes, self.log_segment_bytes
                ),
            );
        }
        let mut bound: Vec<(String, SocketAddr)> =
            (self.listeners.named(&self.advertised_listeners))
                .map(|(name, address, _)| (format!("listener {name}"), address))
                .collect();
        bound.push(("metrics_listen".to_string(), self.metrics_listen));
        for (index, (name, address)) in bound.iter().enumerate() {
            let clash = bound[..index]
                .iter()
                .find(|(_, other)| other == address && address.port() != 0);
            if let Some((other_name, _)) = clash {
                inconsistent(
                    &["listeners", "metrics_listen"],
                    format!(
                        "{other_name} and {name} are both {address}: they need different ports"
                    ),
                );
            }
        }
    }

    /// The config rendered as TOML: every key with its value and a one-line comment. Parsing
    /// it gives this config back.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# ringlog broker configuration. Every key is optional; a key left out takes its \
             default.\n# Keys mirror Kafka's broker configs with underscores for dots; \
             durations are in milliseconds.\n",
        );
        let mut section = "";
        for spec in KEYS {
            if spec.section != section {
                section = spec.section;
                out.push_str(&format!("\n# --- {section} ---\n"));
            }
            let kafka = match spec.kafka {
                "" => String::new(),
                kafka => format!(" (Kafka: {kafka})"),
            };
            out.push_str(&format!("\n# {}{kafka}\n", spec.doc));
            out.push_str(&format!("{} = {}\n", spec.name, (spec.render)(self)));
        }
        out
    }

    /// The topic-level settings of a topic that sets no key.
    pub fn topic_defaults(&self) -> TopicSettings {
        TopicSettings {
            flush_interval: self.log_flush_interval,
            flush_policy: self.log_flush_policy,
            index_interval_bytes: self.log_index_interval_bytes,
            max_message_bytes: self.message_max_bytes,
            min_insync_replicas: self.min_insync_replicas,
            retention_bytes: self.log_retention_bytes,
            retention: self.log_retention,
            segment_bytes: self.log_segment_bytes,
            segment_roll: self.log_roll,
            unclean_leader_election_enable: self.unclean_leader_election_enable,
            ..TopicSettings::default()
        }
    }

    /// A topic's effective settings: its own keys over this broker's defaults.
    pub fn topic_settings(&self, topic: &TopicConfig) -> TopicSettings {
        topic.settings(&self.topic_defaults())
    }

    /// The engine's config for a partition log of a topic with config `topic`.
    pub fn log_config(&self, topic: &TopicConfig) -> LogConfig {
        LogConfig {
            preallocate_bytes: u64::from(self.log_preallocate_bytes),
            ..self.topic_settings(topic).log_config(self.io_backend)
        }
    }

    /// The leader state machine's config for a partition of a topic with config `topic`.
    pub fn leader_config(&self, topic: &TopicConfig) -> LeaderConfig {
        LeaderConfig {
            replica_lag_time_max: self.replica_lag_time_max,
            min_insync_replicas: usize::from(self.topic_settings(topic).min_insync_replicas),
            ..LeaderConfig::default()
        }
    }

    /// The follower state machine's config: a fetch unanswered for the longest it may wait
    /// at the leader plus a request timeout is sent again.
    pub fn follower_config(&self) -> FollowerConfig {
        FollowerConfig {
            fetch_timeout: self.replica_fetch_wait_max + self.request_timeout,
            fetch_backoff: self.replica_fetch_backoff,
            ..FollowerConfig::default()
        }
    }

    /// The settings of a topic with config `topic` that the controller's rules read.
    pub fn controller_topic_config(&self, topic: &TopicConfig) -> ControllerTopicConfig {
        self.topic_settings(topic).controller_config()
    }

    /// The controller's liveness settings.
    pub fn liveness_config(&self) -> LivenessConfig {
        LivenessConfig {
            broker_session_timeout: self.broker_session_timeout,
        }
    }

    /// How many shards to run: `shards`, or one per available core when it is 0.
    pub fn shard_count(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            shards => usize::from(shards),
        }
    }

    /// The thin listener's address given to clients and other brokers: its advertised
    /// address, else the one it binds.
    pub fn advertised_address(&self) -> HostPort {
        self.advertised_listeners
            .thin
            .clone()
            .unwrap_or_else(|| HostPort::from(self.listeners.thin))
    }

    /// Every key with its value as rendered in the file, named by Kafka's name where Kafka has
    /// one (DescribeConfigs of a broker), and whether it is the default.
    pub(crate) fn described(&self) -> Vec<DescribedKey> {
        let defaults = BrokerConfig::default();
        KEYS.iter()
            .map(|spec| {
                let value = (spec.render)(self);
                let is_default = value == (spec.render)(&defaults);
                let value = shown_value(spec.name, &value);
                // `kafka` may go on with a remark after a comma.
                let name = match spec.kafka.split(',').next().unwrap_or("").trim() {
                    "" => spec.name,
                    kafka => kafka,
                };
                DescribedKey {
                    name,
                    value,
                    is_default,
                }
            })
            .collect()
    }

    /// Whether this broker is a controller quorum voter: it is when the quorum is empty (a
    /// single combined node) or lists its `node_id`.
    pub fn is_controller(&self) -> bool {
        self.controller_quorum_voters.is_empty()
            || self.controller_quorum_voters.get(self.node_id).is_some()
    }
}

/// One broker key as DescribeConfigs shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DescribedKey {
    pub name: &'static str,
    /// `None` for a key that holds secrets (Kafka's sensitive configs: null, `is_sensitive`).
    pub value: Option<String>,
    pub is_default: bool,
}

/// [`BrokerConfig::default`] rendered as TOML, every key with a one-line comment.
pub fn default_toml() -> String {
    BrokerConfig::default().to_toml()
}

/// The listeners a broker binds (`listeners`), Kafka's `NAME://ip:port,...`. A listener's name
/// says its protocol and how its connections are secured, as Kafka's names say their security
/// protocol when no map is given:
///
/// | name             | protocol                                  | security |
/// |------------------|-------------------------------------------|----------|
/// | `PLAINTEXT`      | Kafka's wire protocol, for every Kafka client and tool | none |
/// | `SSL`            | Kafka's wire protocol                     | TLS (`ssl_*` keys) |
/// | `SASL_PLAINTEXT` | Kafka's wire protocol                     | SASL authentication (`sasl_*` keys), no encryption |
/// | `SASL_SSL`       | Kafka's wire protocol                     | TLS, then SASL authentication |
/// | `THIN`           | ringlog's thin protocol (`net/PROTOCOL.md`): its client, CLI and followers | none |
/// | `THIN_SSL`       | ringlog's thin protocol                   | TLS (`ssl_*` keys) |
/// | `THIN_SASL_PLAINTEXT` | ringlog's thin protocol              | SASL authentication, no encryption; followers log in with `inter_broker_sasl_*` |
/// | `THIN_SASL_SSL`  | ringlog's thin protocol                   | TLS, then SASL authentication |
///
/// One listener of each protocol: a thin one (required) and a Kafka one (optional).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listeners {
    /// The thin protocol's: required, as followers fetch through it.
    pub thin: SocketAddr,
    /// How the thin listener's connections are secured.
    pub thin_security: SecurityProtocol,
    /// Kafka's protocol; `None`: no Kafka listener.
    pub kafka: Option<SocketAddr>,
    /// How the Kafka listener's connections are secured.
    pub kafka_security: SecurityProtocol,
}

/// How a listener's connections are secured (Kafka's `security.protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// Neither encrypted nor authenticated.
    #[default]
    Plaintext,
    /// TLS (Kafka still calls it SSL), with client certificates if `ssl_client_auth` asks.
    Ssl,
    /// SASL authentication (`sasl_enabled_mechanisms`) on a plaintext connection.
    SaslPlaintext,
    /// TLS, then SASL authentication inside it.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether its connections speak TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether its connections authenticate with SASL before anything else is served.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// The listener name of this security on the Kafka protocol or on the thin one. The thin
    /// protocol's names are Kafka's with `THIN_` before them (`THIN` is its plaintext one).
    pub fn listener_name(self, thin: bool) -> &'static str {
        match (thin, self) {
            (false, SecurityProtocol::Plaintext) => KAFKA_LISTENER,
            (false, SecurityProtocol::Ssl) => KAFKA_SSL_LISTENER,
            (false, SecurityProtocol::SaslPlaintext) => KAFKA_SASL_PLAINTEXT_LISTENER,
            (false, SecurityProtocol::SaslSsl) => KAFKA_SASL_SSL_LISTENER,
            (true, SecurityProtocol::Plaintext) => THIN_LISTENER,
            (true, SecurityProtocol::Ssl) => THIN_SSL_LISTENER,
            (true, SecurityProtocol::SaslPlaintext) => THIN_SASL_PLAINTEXT_LISTENER,
            (true, SecurityProtocol::SaslSsl) => THIN_SASL_SSL_LISTENER,
        }
    }
}

/// The plaintext Kafka listener's name.
pub const KAFKA_LISTENER: &str = "PLAINTEXT";
/// The Kafka listener's name with TLS.
pub const KAFKA_SSL_LISTENER: &str = "SSL";
/// The Kafka listener's name with SASL on plaintext connections.
pub const KAFKA_SASL_PLAINTEXT_LISTENER: &str = "SASL_PLAINTEXT";
/// The Kafka listener's name with SASL inside TLS.
pub const KAFKA_SASL_SSL_LISTENER: &str = "SASL_SSL";
/// The plaintext thin listener's name.
pub const THIN_LISTENER: &str = "THIN";
/// The thin listener's name with TLS.
pub const THIN_SSL_LISTENER: &str = "THIN_SSL";
/// The thin listener's name with SASL on plaintext connections.
pub const THIN_SASL_PLAINTEXT_LISTENER: &str = "THIN_SASL_PLAINTEXT";
/// The thin listener's name with SASL inside TLS.
pub const THIN_SASL_SSL_LISTENER: &str = "THIN_SASL_SSL";

/// Every listener name served: (name, thin protocol?, security).
const LISTENER_NAMES: [(&str, bool, SecurityProtocol); 8] = [
    (KAFKA_LISTENER, false, SecurityProtocol::Plaintext),
    (KAFKA_SSL_LISTENER, false, SecurityProtocol::Ssl),
    (
        KAFKA_SASL_PLAINTEXT_LISTENER,
        false,
        SecurityProtocol::SaslPlaintext,
    ),
    (KAFKA_SASL_SSL_LISTENER, false, SecurityProtocol::SaslSsl),
    (THIN_LISTENER, true, SecurityProtocol::Plaintext),
    (THIN_SSL_LISTENER, true, SecurityProtocol::Ssl),
    (
        THIN_SASL_PLAINTEXT_LISTENER,
        true,
        SecurityProtocol::SaslPlaintext,
    ),
    (THIN_SASL_SSL_LISTENER, true, SecurityProtocol::SaslSsl),
];

impl Default for Listeners {
    /// Kafka's port for Kafka's protocol, so a Kafka client's defaults find it; the thin
    /// protocol beside it.
    fn default() -> Listeners {
        Listeners {
            thin: SocketAddr::from(([127, 0, 0, 1], 9095)),
            thin_security: SecurityProtocol::Plaintext,
            kafka: Some(SocketAddr::from(([127, 0, 0, 1], 9092))),
            kafka_security: SecurityProtocol::Plaintext,
        }
    }
}

impl Listeners {
    /// Both listeners on 127.0.0.1, plaintext, each on a free port the kernel picks (tests,
    /// embedders).
    pub fn loopback_any_port() -> Listeners {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Listeners {
            thin: any,
            kafka: Some(any),
            ..Listeners::default()
        }
    }

    /// The thin listener's name (`THIN`, `THIN_SSL`, `THIN_SASL_PLAINTEXT`, `THIN_SASL_SSL`).
    pub fn thin_name(&self) -> &'static str {
        self.thin_security.listener_name(true)
    }

    /// The Kafka listener's name (`PLAINTEXT`, `SSL`).
    pub fn kafka_name(&self) -> &'static str {
        self.kafka_security.listener_name(false)
    }

    /// Whether any listener speaks TLS.
    pub fn any_tls(&self) -> bool {
        self.thin_security.tls() || (self.kafka.is_some() && self.kafka_security.tls())
    }

    /// Each listener's name, bound address and advertised address (if one is set).
    fn named<'a>(
        &'a self,
        advertised: &'a AdvertisedListeners,
    ) -> impl Iterator<Item = (&'static str, SocketAddr, Option<&'a HostPort>)> + 'a {
        let kafka = self
            .kafka
            .map(|address| (self.kafka_name(), address, advertised.kafka.as_ref()));
        kafka
            .into_iter()
            .chain([(self.thin_name(), self.thin, advertised.thin.as_ref())])
    }
}

/// One entry of a listener list: its name's protocol and security, and its address.
struct ListenerEntry<'a> {
    name: &'static str,
    thin: bool,
    security: SecurityProtocol,
    address: &'a str,
}

/// Splits Kafka's `NAME://address,...` into its entries, each name known and each protocol
/// (thin, Kafka's) at most once.
fn listener_list(s: &str) -> Result<Vec<ListenerEntry<'_>>, String> {
    let mut seen: Vec<ListenerEntry<'_>> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, address) = entry
            .split_once("://")
            .ok_or_else(|| format!("{entry:?}: expected NAME://host:port"))?;
        let (name, thin, security) = LISTENER_NAMES
            .into_iter()
            .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "{entry:?}: unknown listener name {name:?} (known: {KAFKA_LISTENER}, \
                     {KAFKA_SSL_LISTENER}, {KAFKA_SASL_PLAINTEXT_LISTENER} and \
                     {KAFKA_SASL_SSL_LISTENER} for Kafka's protocol, {THIN_LISTENER}, \
                     {THIN_SSL_LISTENER}, {THIN_SASL_PLAINTEXT_LISTENER} and \
                     {THIN_SASL_SSL_LISTENER} for ringlog's)"
                )
            })?;
        if let Some(other) = seen.iter().find(|other| other.thin == thin) {
            let protocol = if thin { "ringlog's thin" } else { "Kafka's" };
            return Err(if other.name == name {
                format!("listener {name} is named twice")
            } else {
                format!(
                    "listeners {} and {name} both speak {protocol} protocol: one listener a \
                     protocol",
                    other.name
                )
            });
        }
        seen.push(ListenerEntry {
            name,
            thin,
            security,
            address,
        });
    }
    Ok(seen)
}

impl FromStr for Listeners {
    /// What is wrong with it.
    type Err = String;

    fn from_str(s: &str) -> Result<Listeners, String> {
        let mut listeners = Listeners {
            kafka: None,
            ..Listeners::default()
        };
        let mut thin = None;
        for entry in listener_list(s)? {
            let address: SocketAddr = entry.address.parse().map_err(|_| {
                format!(
                    "{}://{}: expected an ip address and port, like 127.0.0.1:9092",
                    entry.name, entry.address
                )
            })?;
            if entry.thin {
                thin = Some(address);
                listeners.thin_security = entry.security;
            } else {
                listeners.kafka = Some(address);
                listeners.kafka_security = entry.security;
            }
        }
        listeners.thin = thin.ok_or_else(|| {
            format!(
                "{s:?} has no thin listener ({THIN_LISTENER}, {THIN_SSL_LISTENER}, \
                 {THIN_SASL_PLAINTEXT_LISTENER} or {THIN_SASL_SSL_LISTENER}), which ringlog's \
                 client and followers need"
            )
        })?;
        Ok(listeners)
    }
}

impl fmt::Display for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kafka) = self.kafka {
            write!(f, "{}://{kafka},", self.kafka_name())?;
        }
        write!(f, "{}://{}", self.thin_name(), self.thin)
    }
}

/// The addresses the listeners give to clients and other brokers (`advertised_listeners`):
/// a listener left out advertises the address it binds. Each entry's name is its listener's
/// (checked against `listeners` by [`BrokerConfig::validate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdvertisedListeners {
    pub thin: Option<HostPort>,
    pub thin_name: Option<&'static str>,
    pub kafka: Option<HostPort>,
    pub kafka_name: Option<&'static str>,
}

impl FromStr for AdvertisedListeners {
    /// What is wrong with it.
    type Err = String;

    fn from_str(s: &str) -> Result<AdvertisedListeners, String> {
        let mut advertised = AdvertisedListeners::default();
        for entry in listener_list(s)? {
            let address: HostPort = entry.address.parse()?;
            if entry.thin {
                advertised.thin = Some(address);
                advertised.thin_name = Some(entry.name);
            } else {
                advertised.kafka = Some(address);
                advertised.kafka_name = Some(entry.name);
            }
        }
        Ok(advertised)
    }
}

impl fmt::Display for AdvertisedListeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (self.kafka_name.unwrap_or(KAFKA_LISTENER), &self.kafka),
            (self.thin_name.unwrap_or(THIN_LISTENER), &self.thin),
        ];
        let mut first = true;
        for (name, address) in named {
            if let Some(address) = address {
                let comma = if first { "" } else { "," };
                write!(f, "{comma}{name}://{address}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A `host:port` that need not be an IP address (`advertised_listeners`, quorum voters). An IPv6
/// host is written in brackets: `[::1]:9092`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A DNS name or an IP address (without brackets).
    pub host: String,
    /// 1 ..= 65535.
    pub port: u16,
}

impl FromStr for HostPort {
    /// What is wrong with it.
    type Err = String;

    fn from_str(s: &str) -> Result<HostPort, String> {
        let expected = || format!("{s:?}: expected host:port");
        let (host, port) = s.rsplit_once(':').ok_or_else(expected)?;
        let host = match host.strip_prefix('[') {
            Some(bracketed) => bracketed.strip_suffix(']').ok_or_else(expected)?,
            None if host.contains(':') => return Err(expected()),
            None => host,
        };
        let bad_char = |c: char| c.is_whitespace() || matches!(c, '@' | ',' | '/' | '[' | ']');
        if host.is_empty() || host.chars().any(bad_char) {
            return Err(format!(
                "{s:?}: host {host:?} is not a host name or address"
            ));
        }
        let port = match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("{s:?}: port {port:?} is not between 1 and 65535")),
        };
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// One controller quorum voter: `id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuorumVoter {
    /// The voter's `node_id`.
    pub id: BrokerId,
    /// Where its controller listens.
    pub address: HostPort,
}

/// The controller quorum (`controller_quorum_voters`): Kafka's `1@host:port,2@host:port`,
/// with distinct ids and addresses, at most [`QUORUM_VOTERS_MAX`]. Empty: a single combined
/// node that is its own controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumVoters(Vec<QuorumVoter>);

impl QuorumVoters {
    /// The voters in the order configured.
    pub fn voters(&self) -> &[QuorumVoter] {
        &self.0
    }

    /// No voters: a single combined node.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many voters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The voter with `id`.
    pub fn get(&self, id: BrokerId) -> Option<&QuorumVoter> {
        self.0.iter().find(|voter| voter.id == id)
    }
}

impl TryFrom<Vec<QuorumVoter>> for QuorumVoters {
    /// What is wrong with the list.
    type Error = String;

    fn try_from(voters: Vec<QuorumVoter>) -> Result<QuorumVoters, String> {
        if voters.len() > QUORUM_VOTERS_MAX {
            return Err(format!(
                "{} voters: at most {QUORUM_VOTERS_MAX} are allowed",
                voters.len()
            ));
        }
        for (i, voter) in voters.iter().enumerate() {
            if voter.id.0 > i32::MAX as u32 {
                return Err(format!(
                    "voter id {} is not between 0 and {}",
                    voter.id.0,
                    i32::MAX
                ));
            }
            let earlier = &voters[..i];
            if earlier.iter().any(|other| other.id == voter.id) {
                return Err(format!("voter id {} is listed twice", voter.id.0));
            }
            if earlier.iter().any(|other| other.address == voter.address) {
                return Err(format!("voter address {} is listed twice", voter.address));
            }
        }
        Ok(QuorumVoters(voters))
    }
}

impl FromStr for QuorumVoters {
    /// What is wrong with the list.
    type Err = String;

    fn from_str(s: &str) -> Result<QuorumVoters, String> {
        if s.trim().is_empty() {
            return Ok(QuorumVoters::default());
        }
        let voters = s
            .split(',')
            .map(|voter| {
                let voter = voter.trim();
                let (id, address) = voter
                    .split_once('@')
                    .ok_or_else(|| format!("voter {voter:?}: expected id@host:port"))?;
                let id = id
                    .parse::<u32>()
                    .map_err(|_| format!("voter {voter:?}: id {id:?} is not an integer"))?;
                Ok(QuorumVoter {
                    id: BrokerId(id),
                    address: address.parse()?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        QuorumVoters::try_from(voters)
    }
}

impl fmt::Display for QuorumVoters {
    /// Kafka's form, which [`QuorumVoters::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, voter) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}@{}", voter.id.0, voter.address)?;
        }
        Ok(())
    }
}

/// Why a broker config cannot be used. Every variant that can hold several problems holds all
/// of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read (missing, a directory, no permission).
    #[error("config file {}: cannot read it", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },

    /// Not TOML at all.
    #[error("config file {file}: not valid toml: {message}")]
    Syntax {
        /// The file as given.
        file: String,
        /// The TOML parser's message, with the line and column.
        message: String,
    },

    /// Unknown keys and bad values in the file.
    #[error("config file {file}: {}", list(problems))]
    File {
        /// The file as given.
        file: String,
        /// Every problem, in key order.
        problems: Vec<ConfigProblem>,
    },

    /// What [`BrokerConfig::validate`] found.
    #[error("invalid broker config: {}", list(problems))]
    Invalid {
        /// Every problem: bad values in key order, then those between keys.
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    /// The problems found, empty for a file that cannot be read or parsed.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::File { problems, .. } | ConfigError::Invalid { problems } => problems,
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => &[],
        }
    }
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One problem with one key, or between keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A key ringlog does not know; nested tables are reported by their dotted path.
    #[error("unknown key {key}{}", suggestion_suffix(*suggestion))]
    UnknownKey {
        /// The key as written (a dotted path for a nested table).
        key: String,
        /// The key it probably meant (Kafka's `log.dirs` is `data_dir`).
        suggestion: Option<&'static str>,
    },

    /// A value of the wrong type or out of its range; `value` is as written in TOML.
    #[error("{key} = {value}: expected {allowed}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as TOML writes it (strings quoted).
        value: String,
        /// What the key accepts.
        allowed: String,
    },

    /// Keys whose values cannot hold together; the message names them with their values.
    #[error("{message}")]
    Inconsistent {
        /// The keys involved.
        keys: Vec<&'static str>,
        /// What does not hold, with the values.
        message: String,
    },
}

impl ConfigProblem {
    /// The key the problem is about (the first one, for a problem between keys).
    pub fn key(&self) -> &str {
        match self {
            ConfigProblem::UnknownKey { key, .. } => key,
            ConfigProblem::BadValue { key, .. } => key,
            ConfigProblem::Inconsistent { keys, .. } => keys.first().copied().unwrap_or(""),
        }
    }
}

fn suggestion_suffix(suggestion: Option<&'static str>) -> String {
    suggestion
        .map(|key| format!(" (did you mean {key}?)"))
        .unwrap_or_default()
}

/// Reports `name` (and, for a table, every key under it by dotted path: TOML reads Kafka's
/// `log.dirs = ..` as a table) as unknown.
fn unknown_keys(name: &str, value: &toml::Value, problems: &mut Vec<ConfigProblem>) {
    match value {
        toml::Value::Table(table) if !table.is_empty() => {
            for (inner, value) in table {
                unknown_keys(&format!("{name}.{inner}"), value, problems);
            }
        }
        _ => problems.push(ConfigProblem::UnknownKey {
            key: name.to_string(),
            suggestion: suggest(name),
        }),
    }
}

/// Kafka's names (underscored) that ringlog spells differently, and the key to use.
const BROKER_KEY_ALIASES: &[(&str, &str)] = &[
    ("listen", "listeners"),
    ("advertised_listen", "advertised_listeners"),
    ("log_dirs", "data_dir"),
    ("log_dir", "data_dir"),
    ("broker_rack", "rack"),
    ("broker_id", "node_id"),
    ("log_roll_hours", "log_roll_ms"),
    ("log_retention_hours", "log_retention_ms"),
    ("log_retention_minutes", "log_retention_ms"),
    ("log_flush_interval_messages", "log_flush_policy"),
    ("unclean_leader_election", "unclean_leader_election_enable"),
    ("num_io_threads", "shards"),
    ("num_network_threads", "shards"),
];

/// The key an unknown name probably meant: Kafka's dotted spelling of a key, a Kafka name
/// ringlog spells differently, or a topic-level key whose broker default was meant.
fn suggest(name: &str) -> Option<&'static str> {
    let normalized = name.trim().to_ascii_lowercase().replace(['.', '-'], "_");
    let known = |candidate: &str| KEYS.iter().map(|spec| spec.name).find(|k| *k == candidate);
    known(&normalized)
        .or_else(|| {
            BROKER_KEY_ALIASES
                .iter()
                .find(|(alias, _)| *alias == normalized)
                .and_then(|(_, key)| known(key))
        })
        .or_else(|| {
            TopicConfigKey::from_name(&normalized)
                .ok()
                .and_then(|key| known(key.broker_key()))
        })
}

const NODE_ID: IntRule = IntRule::new(0, i32::MAX as i64);
const SHARDS: IntRule = IntRule::new(0, SHARDS_MAX as i64);
const NUM_PARTITIONS: IntRule = IntRule::new(1, PARTITIONS_PER_TOPIC_MAX as i64);
const REPLICATION_FACTOR: IntRule = IntRule::new(1, u16::MAX as i64);
const SOCKET_REQUEST_MAX_BYTES: IntRule =
    IntRule::new(SOCKET_REQUEST_MIN_BYTES as i64, i32::MAX as i64);
const COUNT: IntRule = IntRule::new(1, i32::MAX as i64);
/// `max_connections`: a shard numbers its connections with slots a ring token holds, and may
/// hold every connection of the broker.
const MAX_CONNECTIONS: IntRule = IntRule::new(1, crate::ring::CONNECTION_SLOTS as i64);
const TIMEOUT_MS: IntRule = IntRule::new(1, i32::MAX as i64);
const WAIT_MS: IntRule = IntRule::new(0, i32::MAX as i64);
/// `connection_failed_authentication_delay_ms`: a delayed connection holds its slot, so a
/// minute at most.
const FAILED_AUTHENTICATION_DELAY_MS: IntRule = IntRule::new(0, 60_000);
/// `log_preallocate_bytes`: a segment holds at most `i32::MAX` bytes.
const PREALLOCATE_BYTES: IntRule = IntRule::new(0, i32::MAX as i64);

/// One broker key: how it is read from TOML (checking its type and range) and rendered back.
struct KeySpec {
    name: &'static str,
    /// Kafka's key, or "" when Kafka has none.
    kafka: &'static str,
    doc: &'static str,
    section: &'static str,
    /// Sets the key from a TOML value, or says what is allowed.
    parse: fn(&mut BrokerConfig, &toml::Value) -> Result<(), String>,
    render: fn(&BrokerConfig) -> toml::Value,
}

fn int(value: &toml::Value, rule: IntRule) -> Result<i64, String> {
    let int = value.as_integer().ok_or_else(|| rule.allowed())?;
    rule.check(int)?;
    Ok(int)
}

/// An integer key's value, narrowed to the field's type (its rule keeps it in range).
fn int_as<T: TryFrom<i64>>(value: &toml::Value, rule: IntRule) -> Result<T, String> {
    T::try_from(int(value, rule)?).map_err(|_| rule.allowed())
}

fn millis(value: &toml::Value, rule: IntRule) -> Result<Duration, String> {
    int_as::<u64>(value, rule).map(Duration::from_millis)
}

/// A sentinel-or-non-negative key: `None` for the sentinel.
fn optional(value: &toml::Value, rule: IntRule) -> Result<Option<u64>, String> {
    Ok(u64::try_from(int(value, rule)?).ok())
}

fn boolean(value: &toml::Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| "true or false".to_string())
}

fn string<'v>(value: &'v toml::Value, allowed: &str) -> Result<&'v str, String> {
    value.as_str().ok_or_else(|| allowed.to_string())
}

fn socket_addr(value: &toml::Value) -> Result<SocketAddr, String> {
    const ALLOWED: &str = "an ip address and port, like \"127.0.0.1:9092\" or \"[::1]:9092\"";
    string(value, ALLOWED)?
        .parse()
        .map_err(|_| ALLOWED.to_string())
}

/// What `listeners` takes.
const LISTENERS_ALLOWED: &str = "NAME://ip:port,... with THIN (or THIN_SSL, THIN_SASL_PLAINTEXT, THIN_SASL_SSL) and optionally PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL), like \"PLAINTEXT://127.0.0.1:9092,THIN://127.0.0.1:9095\"";

fn render_int(value: impl Into<i64>) -> toml::Value {
    toml::Value::Integer(value.into())
}

fn render_u64(value: u64) -> toml::Value {
    toml::Value::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn render_millis_value(duration: Duration) -> toml::Value {
    toml::Value::Integer(render_millis(duration))
}

fn render_str(value: impl Into<String>) -> toml::Value {
    toml::Value::String(value.into())
}

/// Every broker key, in the order [`BrokerConfig::to_toml`] renders them.
const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "node_id",
        kafka: "node.id",
        doc: "this broker's id in the cluster",
        section: "node",
        parse: |c, v| {
            c.node_id = BrokerId(int_as(v, NODE_ID)?);
            Ok(())
        },
        render: |c| render_int(c.node_id.0),
    },
    KeySpec {
        name: "listeners",
        kafka: "listeners",
        doc: "NAME://ip:port the broker binds: PLAINTEXT (SSL: with TLS; SASL_PLAINTEXT, \
              SASL_SSL: with SASL) for Kafka clients (optional), THIN (THIN_SSL) for ringlog's \
              client, CLI and followers",
        section: "node",
        parse: |c, v| {
            let s = string(v, LISTENERS_ALLOWED)?;
            c.listeners = s
                .parse()
                .map_err(|reason| format!("{LISTENERS_ALLOWED} ({reason})"))?;
            Ok(())
        },
        render: |c| render_str(c.listeners.to_string()),
    },
    KeySpec {
        name: "advertised_listeners",
        kafka: "advertised.listeners",
        doc: "NAME://host:port given to clients and other brokers; a listener left out: the \
              address it binds",
        section: "node",
        parse: |c, v| {
            const ALLOWED: &str = "NAME://host:port,... (PLAINTEXT, THIN), or \"\"";
            let s = string(v, ALLOWED)?;
            c.advertised_listeners = s
                .parse()
                .map_err(|reason| format!("{ALLOWED} ({reason})"))?;
            Ok(())
        },
        render: |c| render_str(c.advertised_listeners.to_string()),
    },
    KeySpec {
        name: "data_dir",
        kafka: "log.dirs",
        doc: "the directory that holds partition logs and checkpoints",
        section: "node",
        parse: |c, v| {
            match string(v, "a directory path")? {
                "" => return Err("a directory path, not \"\"".to_string()),
                dir => c.data_dir = PathBuf::from(dir),
            }
            Ok(())
        },
        render: |c| render_str(c.data_dir.to_string_lossy()),
    },
    KeySpec {
        name: "metrics_listen",
        kafka: "",
        doc: "the ip:port that serves Prometheus metrics at /metrics",
        section: "node",
        parse: |c, v| {
            c.metrics_listen = socket_addr(v)?;
            Ok(())
        },
        render: |c| render_str(c.metrics_listen.to_string()),
    },
    KeySpec {
        name: "shards",
        kafka: "",
        doc: "io_uring runtimes, one thread each; 0: one per core",
        section: "node",
        parse: |c, v| {
            c.shards = int_as(v, SHARDS)?;
            Ok(())
        },
        render: |c| render_int(c.shards),
    },
    KeySpec {
        name: "io_backend",
        kafka: "",
        doc: "auto (io_uring, else portable), uring or portable",
        section: "node",
        parse: |c, v| {
            const ALLOWED: &str = "one of auto, uring, portable";
            c.io_backend = string(v, ALLOWED)?
                .parse()
                .map_err(|_| ALLOWED.to_string())?;
            Ok(())
        },
        render: |c| render_str(c.io_backend.as_str()),
    },
    KeySpec {
        name: "rack",
        kafka: "broker.rack",
        doc: "the rack, for rack-aware replica placement; empty: no rack",
        section: "node",
        parse: |c, v| {
            c.rack = match string(v, "a rack name, or \"\" for none")? {
                "" => None,
                rack => Some(Rack(rack.to_string())),
            };
            Ok(())
        },
        render: |c| {
            render_str(
                c.rack
                    .as_ref()
                    .map(|rack| rack.0.clone())
                    .unwrap_or_default(),
            )
        },
    },
    KeySpec {
        name: "controller_quorum_voters",
        kafka: "controller.quorum.voters",
        doc: "the controller quorum as id@host:port,...; empty: a single combined node",
        section: "node",
        parse: |c, v| {
            let allowed = |reason: String| {
                format!(
                    "a comma-separated list of id@host:port with distinct ids, or \"\" for a \
                     single node ({reason})"
                )
            };
            let s = string(v, &allowed("not a string".to_string()))?;
            c.controller_quorum_voters = s.parse().map_err(allowed)?;
            Ok(())
        },
        render: |c| render_str(c.controller_quorum_voters.to_string()),
    },
    KeySpec {
        name: "num_partitions",
        kafka: "num.partitions",
        doc: "partitions of a topic created without a count",
        section: "topic defaults",
        parse: |c, v| {
            c.num_partitions = int_as(v, NUM_PARTITIONS)?;
            Ok(())
        },
        render: |c| render_int(c.num_partitions),
    },
    KeySpec {
        name: "default_replication_factor",
        kafka: "default.replication.factor",
        doc: "replicas of a topic created without a factor",
        section: "topic defaults",
        parse: |c, v| {
            c.default_replication_factor = int_as(v, REPLICATION_FACTOR)?;
            Ok(())
        },
        render: |c| render_int(c.default_replication_factor),
    },
    KeySpec {
        name: "min_insync_replicas",
        kafka: "min.insync.replicas",
        doc: "the fewest in-sync replicas an acks=all produce needs",
        section: "topic defaults",
        parse: |c, v| {
            c.min_insync_replicas = int_as(v, MIN_INSYNC_REPLICAS)?;
            Ok(())
        },
        render: |c| render_int(c.min_insync_replicas),
    },
    KeySpec {
        name: "unclean_leader_election_enable",
        kafka: "unclean.leader.election.enable",
        doc: "whether a replica outside the isr may lead when no isr member is live, losing data",
        section: "topic defaults",
        parse: |c, v| {
            c.unclean_leader_election_enable = boolean(v)?;
            Ok(())
        },
        render: |c| toml::Value::Boolean(c.unclean_leader_election_enable),
    },
    KeySpec {
        name: "auto_create_topics_enable",
        kafka: "auto.create.topics.enable, true by default there",
        doc: "whether a request for an unknown topic creates it",
        section: "topic defaults",
        parse: |c, v| {
            c.auto_create_topics_enable = boolean(v)?;
            Ok(())
        },
        render: |c| toml::Value::Boolean(c.auto_create_topics_enable),
    },
    KeySpec {
        name: "log_segment_bytes",
        kafka: "log.segment.bytes",
        doc: "the active segment rolls when it would pass this size",
        section: "log",
        parse: |c, v| {
            c.log_segment_bytes = int_as(v, SEGMENT_BYTES)?;
            Ok(())
        },
        render: |c| render_u64(c.log_segment_bytes),
    },
    KeySpec {
        name: "log_roll_ms",
        kafka: "log.roll.ms",
        doc: "the active segment rolls when its first batch is older than this",
        section: "log",
        parse: |c, v| {
            c.log_roll = millis(v, SEGMENT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.log_roll),
    },
    KeySpec {
        name: "log_retention_ms",
        kafka: "log.retention.ms",
        doc: "segments whose newest record is older than this are deleted; -1: forever",
        section: "log",
        parse: |c, v| {
            c.log_retention = optional(v, RETENTION_MS)?.map(Duration::from_millis);
            Ok(())
        },
        render: |c| c.log_retention.map_or(render_int(-1), render_millis_value),
    },
    KeySpec {
        name: "log_retention_bytes",
        kafka: "log.retention.bytes",
        doc: "a partition's oldest segments are deleted while it is larger than this; -1: no limit",
        section: "log",
        parse: |c, v| {
            c.log_retention_bytes = optional(v, RETENTION_BYTES)?;
            Ok(())
        },
        render: |c| c.log_retention_bytes.map_or(render_int(-1), render_u64),
    },
    KeySpec {
        name: "log_flush_policy",
        kafka: "",
        doc: "when appends are fdatasynced: never (rely on replication), always, or interval",
        section: "log",
        parse: |c, v| {
            c.log_flush_policy = string(v, FlushMode::ALLOWED)?
                .parse()
                .map_err(str::to_string)?;
            Ok(())
        },
        render: |c| render_str(c.log_flush_policy.as_str()),
    },
    KeySpec {
        name: "log_flush_interval_ms",
        kafka: "log.flush.interval.ms",
        doc: "with log_flush_policy = interval, the longest time between two fdatasyncs",
        section: "log",
        parse: |c, v| {
            c.log_flush_interval = millis(v, FLUSH_INTERVAL_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.log_flush_interval),
    },
    KeySpec {
        name: "log_index_interval_bytes",
        kafka: "log.index.interval.bytes",
        doc: "bytes of batches between two sparse index entries",
        section: "log",
        parse: |c, v| {
            c.log_index_interval_bytes = int_as(v, INDEX_INTERVAL_BYTES)?;
            Ok(())
        },
        render: |c| render_int(c.log_index_interval_bytes),
    },
    KeySpec {
        name: "log_preallocate_bytes",
        kafka: "",
        doc: "blocks reserved (fallocate, the length kept) ahead of each active segment's data, given back on roll; 0: off",
        section: "log",
        parse: |c, v| {
            c.log_preallocate_bytes = int_as(v, PREALLOCATE_BYTES)?;
            Ok(())
        },
        render: |c| render_int(c.log_preallocate_bytes),
    },
    KeySpec {
        name: "message_max_bytes",
        kafka: "message.max.bytes",
        doc: "the largest record batch accepted, header included",
        section: "limits",
        parse: |c, v| {
            c.message_max_bytes = int_as(v, MAX_MESSAGE_BYTES)?;
            Ok(())
        },
        render: |c| render_int(c.message_max_bytes),
    },
    KeySpec {
        name: "socket_request_max_bytes",
        kafka: "socket.request.max.bytes",
        doc: "the largest request frame accepted",
        section: "limits",
        parse: |c, v| {
            c.socket_request_max_bytes = int_as(v, SOCKET_REQUEST_MAX_BYTES)?;
            Ok(())
        },
        render: |c| render_int(c.socket_request_max_bytes),
    },
    KeySpec {
        name: "max_connections",
        kafka: "max.connections",
        doc: "connections open at once; more are closed as they arrive",
        section: "limits",
        parse: |c, v| {
            c.max_connections = int_as(v, MAX_CONNECTIONS).map_err(|allowed| {
                format!(
                    "{allowed} (a shard's ring token holds {} bits of connection slot)",
                    crate::ring::SLOT_BITS
                )
            })?;
            Ok(())
        },
        render: |c| render_int(c.max_connections),
    },
    KeySpec {
        name: "max_inflight_requests_per_connection",
        kafka: "",
        doc: "requests read from one connection and not yet answered; reading pauses at this many",
        section: "limits",
        parse: |c, v| {
            c.max_inflight_requests_per_connection = int_as(v, COUNT)?;
            Ok(())
        },
        render: |c| render_int(c.max_inflight_requests_per_connection),
    },
    KeySpec {
        name: "fetch_purgatory_max_partitions",
        kafka: "",
        doc: "fetch partitions a shard keeps waiting for data at once; one more is answered at once with what there is",
        section: "limits",
        parse: |c, v| {
            c.fetch_purgatory_max_partitions = int_as(v, COUNT)?;
            Ok(())
        },
        render: |c| render_int(c.fetch_purgatory_max_partitions),
    },
    KeySpec {
        name: "request_timeout_ms",
        kafka: "request.timeout.ms, a client config",
        doc: "the longest a request may wait inside the broker",
        section: "timeouts",
        parse: |c, v| {
            c.request_timeout = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.request_timeout),
    },
    KeySpec {
        name: "fetch_max_wait_ms",
        kafka: "fetch.max.wait.ms, a consumer config",
        doc: "the longest a fetch may ask to wait for data (a longer max_wait is cut to this)",
        section: "timeouts",
        parse: |c, v| {
            c.fetch_max_wait = millis(v, WAIT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.fetch_max_wait),
    },
    KeySpec {
        name: "replica_lag_time_max_ms",
        kafka: "replica.lag.time.max.ms",
        doc: "a follower not caught up with the leader for this long leaves the isr",
        section: "timeouts",
        parse: |c, v| {
            c.replica_lag_time_max = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.replica_lag_time_max),
    },
    KeySpec {
        name: "broker_session_timeout_ms",
        kafka: "broker.session.timeout.ms",
        doc: "a broker the controller has not heard from for this long is fenced",
        section: "timeouts",
        parse: |c, v| {
            c.broker_session_timeout = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.broker_session_timeout),
    },
    KeySpec {
        name: "broker_heartbeat_interval_ms",
        kafka: "broker.heartbeat.interval.ms",
        doc: "how often the broker heartbeats to the controller",
        section: "timeouts",
        parse: |c, v| {
            c.broker_heartbeat_interval = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.broker_heartbeat_interval),
    },
    KeySpec {
        name: "replica_fetch_wait_max_ms",
        kafka: "replica.fetch.wait.max.ms",
        doc: "how long a follower's fetch may wait at the leader for data",
        section: "replication",
        parse: |c, v| {
            c.replica_fetch_wait_max = millis(v, WAIT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.replica_fetch_wait_max),
    },
    KeySpec {
        name: "replica_fetch_max_bytes",
        kafka: "replica.fetch.max.bytes",
        doc: "record bytes a follower asks for per partition (the first batch comes whole)",
        section: "replication",
        parse: |c, v| {
            c.replica_fetch_max_bytes = int_as(v, COUNT)?;
            Ok(())
        },
        render: |c| render_int(c.replica_fetch_max_bytes),
    },
    KeySpec {
        name: "replica_fetch_response_max_bytes",
        kafka: "replica.fetch.response.max.bytes",
        doc: "record bytes a follower asks for per fetch, over all partitions",
        section: "replication",
        parse: |c, v| {
            c.replica_fetch_response_max_bytes = int_as(v, COUNT)?;
            Ok(())
        },
        render: |c| render_int(c.replica_fetch_response_max_bytes),
    },
    KeySpec {
        name: "replica_fetch_backoff_ms",
        kafka: "replica.fetch.backoff.ms",
        doc: "how long a follower waits after a failed fetch before the next",
        section: "replication",
        parse: |c, v| {
            c.replica_fetch_backoff = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.replica_fetch_backoff),
    },
    KeySpec {
        name: "offsets_topic_replication_factor",
        kafka: "offsets.topic.replication.factor",
        doc: "replicas of __consumer_offsets, at most the live brokers when it is created",
        section: "replication",
        parse: |c, v| {
            c.offsets_topic_replication_factor = int_as(v, REPLICATION_FACTOR)?;
            Ok(())
        },
        render: |c| render_int(c.offsets_topic_replication_factor),
    },
    KeySpec {
        name: "group_initial_rebalance_delay_ms",
        kafka: "group.initial.rebalance.delay.ms",
        doc: "how long a consumer group starting empty waits for more members before its first generation",
        section: "groups",
        parse: |c, v| {
            c.group_initial_rebalance_delay = millis(v, WAIT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.group_initial_rebalance_delay),
    },
    KeySpec {
        name: "group_min_session_timeout_ms",
        kafka: "group.min.session.timeout.ms",
        doc: "the shortest session timeout a group member may ask for",
        section: "groups",
        parse: |c, v| {
            c.group_min_session_timeout = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.group_min_session_timeout),
    },
    KeySpec {
        name: "group_max_session_timeout_ms",
        kafka: "group.max.session.timeout.ms",
        doc: "the longest session timeout a group member may ask for",
        section: "groups",
        parse: |c, v| {
            c.group_max_session_timeout = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.group_max_session_timeout),
    },
    KeySpec {
        name: "group_max_size",
        kafka: "group.max.size",
        doc: "the most members a consumer group may have",
        section: "groups",
        parse: |c, v| {
            c.group_max_size = int_as(v, COUNT)?;
            Ok(())
        },
        render: |c| render_int(c.group_max_size),
    },
    KeySpec {
        name: "offsets_retention_minutes",
        kafka: "offsets.retention.minutes",
        doc: "how long an empty group's committed offsets are kept (a consumer in assign mode's: from its commit)",
        section: "groups",
        parse: |c, v| {
            c.offsets_retention = Duration::from_secs(60 * int_as::<u64>(v, COUNT)?);
            Ok(())
        },
        render: |c| {
            render_int(u32::try_from(c.offsets_retention.as_secs() / 60).unwrap_or(u32::MAX))
        },
    },
    KeySpec {
        name: "offsets_retention_check_interval_ms",
        kafka: "offsets.retention.check.interval.ms",
        doc: "how often expired group offsets are looked for",
        section: "groups",
        parse: |c, v| {
            c.offsets_retention_check_interval = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.offsets_retention_check_interval),
    },
    KeySpec {
        name: "producer_id_expiration_ms",
        kafka: "producer.id.expiration.ms",
        doc: "how long a partition keeps an idle idempotent producer's id, epoch and sequences",
        section: "log",
        parse: |c, v| {
            c.producer_id_expiration = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.producer_id_expiration),
    },
    KeySpec {
        name: "ssl_keystore_location",
        kafka: "ssl.keystore.location",
        doc: "the TLS listeners' (SSL, THIN_SSL) private key and certificate chain, one PEM \
              file; \"\": none",
        section: "security",
        parse: |c, v| {
            c.ssl_keystore_location = optional_path(v)?;
            Ok(())
        },
        render: |c| render_optional_path(c.ssl_keystore_location.as_deref()),
    },
    KeySpec {
        name: "ssl_truststore_location",
        kafka: "ssl.truststore.location",
        doc: "the CA certificates (PEM) that client certificates are checked against; \"\": none",
        section: "security",
        parse: |c, v| {
            c.ssl_truststore_location = optional_path(v)?;
            Ok(())
        },
        render: |c| render_optional_path(c.ssl_truststore_location.as_deref()),
    },
    KeySpec {
        name: "ssl_client_auth",
        kafka: "ssl.client.auth",
        doc: "none, requested (checked if shown) or required: client certificates on TLS \
              listeners",
        section: "security",
        parse: |c, v| {
            const ALLOWED: &str = "one of none, requested, required";
            c.ssl_client_auth = match string(v, ALLOWED)? {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => return Err(ALLOWED.to_string()),
            };
            Ok(())
        },
        render: |c| render_str(c.ssl_client_auth.as_str()),
    },
    KeySpec {
        name: "ssl_reload_interval_ms",
        kafka: "",
        doc: "how often the keystore and truststore files are looked at; a change is loaded \
              for new connections without a restart",
        section: "security",
        parse: |c, v| {
            c.ssl_reload_interval = millis(v, TIMEOUT_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.ssl_reload_interval),
    },
    KeySpec {
        name: "ssl_kernel_offload",
        kafka: "",
        doc: "auto or off: auto moves each TLS connection to the kernel's TLS (kTLS) after its \
              handshake when the kernel offers it, so fetches go out by sendfile; off keeps \
              every connection in rustls",
        section: "security",
        parse: |c, v| {
            const ALLOWED: &str = "one of auto, off";
            c.ssl_kernel_offload = match string(v, ALLOWED)? {
                "auto" => true,
                "off" => false,
                _ => return Err(ALLOWED.to_string()),
            };
            Ok(())
        },
        render: |c| render_str(if c.ssl_kernel_offload { "auto" } else { "off" }),
    },
    KeySpec {
        name: "controller_security_protocol",
        kafka: "listener.security.protocol.map (the controller listener's)",
        doc: "PLAINTEXT, or SSL: TLS both ways between the controller quorum's nodes, each \
              showing its keystore's certificate, which the others check against the truststore",
        section: "security",
        parse: |c, v| {
            const ALLOWED: &str = "PLAINTEXT or SSL";
            c.controller_security_protocol = match string(v, ALLOWED)? {
                "PLAINTEXT" => SecurityProtocol::Plaintext,
                "SSL" => SecurityProtocol::Ssl,
                _ => return Err(ALLOWED.to_string()),
            };
            Ok(())
        },
        render: |c| {
            // Kafka's names: PLAINTEXT, SSL (a SASL one is refused by `validate`).
            render_str(c.controller_security_protocol.listener_name(false))
        },
    },
    KeySpec {
        name: "sasl_enabled_mechanisms",
        kafka: "sasl.enabled.mechanisms",
        doc: "what a SASL listener (SASL_PLAINTEXT, SASL_SSL, THIN_SASL_PLAINTEXT, \
              THIN_SASL_SSL) offers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; PLAIN is opt-in, it \
              sends the password itself",
        section: "security",
        parse: |c, v| {
            let text = string(v, sasl::MECHANISMS_ALLOWED)?;
            c.sasl_enabled_mechanisms = sasl::parse_mechanisms(text)?;
            Ok(())
        },
        render: |c| render_str(sasl::render_mechanisms(&c.sasl_enabled_mechanisms)),
    },
    KeySpec {
        name: "connections_max_reauth_ms",
        kafka: "connections.max.reauth.ms",
        doc: "a SASL session's lifetime: the client re-authenticates on its connection before \
              it ends, or the connection is closed; 0: sessions do not expire",
        section: "security",
        parse: |c, v| {
            let lifetime = millis(v, WAIT_MS)?;
            c.connections_max_reauth = (!lifetime.is_zero()).then_some(lifetime);
            Ok(())
        },
        render: |c| render_millis_value(c.connections_max_reauth.unwrap_or_default()),
    },
    KeySpec {
        name: "connection_failed_authentication_delay_ms",
        kafka: "connection.failed.authentication.delay.ms",
        doc: "how long the answer to a failed authentication waits before it is sent and the \
              connection closed; doubled for each failure from the same address within a \
              minute, up to 5 s",
        section: "security",
        parse: |c, v| {
            c.connection_failed_authentication_delay = millis(v, FAILED_AUTHENTICATION_DELAY_MS)?;
            Ok(())
        },
        render: |c| render_millis_value(c.connection_failed_authentication_delay),
    },
    KeySpec {
        name: "sasl_bootstrap_users",
        kafka: "",
        doc: "users whose SCRAM credentials the broker writes into a new cluster's metadata (one \
              holding no credentials yet), as Kafka's kafka-storage format --add-scram: \
              [\"SCRAM-SHA-512=[name=admin,password=admin-secret]\"]",
        section: "security",
        parse: |c, v| {
            let entries = v
                .as_array()
                .ok_or_else(|| sasl::BOOTSTRAP_USER_ALLOWED.to_string())?;
            let mut users = Vec::new();
            for entry in entries {
                let text = string(entry, sasl::BOOTSTRAP_USER_ALLOWED)?;
                let user: BootstrapUser = text
                    .parse()
                    .map_err(|why| format!("{} ({why})", sasl::BOOTSTRAP_USER_ALLOWED))?;
                let twice = users
                    .iter()
                    .any(|u: &BootstrapUser| u.name == user.name && u.mechanism == user.mechanism);
                if twice {
                    return Err(format!(
                        "{} (user {:?} has two {} entries)",
                        sasl::BOOTSTRAP_USER_ALLOWED,
                        user.name,
                        user.mechanism
                    ));
                }
                users.push(user);
            }
            c.sasl_bootstrap_users = users;
            Ok(())
        },
        render: |c| {
            let users = c
                .sasl_bootstrap_users
                .iter()
                .map(|u| render_str(u.to_string()));
            toml::Value::Array(users.collect())
        },
    },
    KeySpec {
        name: "authorizer_enabled",
        kafka: "authorizer.class.name (StandardAuthorizer)",
        doc: "check every request against the ACLs (see docs/security.md); off, every client \
              may do everything",
        section: "security",
        parse: |c, v| {
            c.authorizer_enabled = boolean(v)?;
            Ok(())
        },
        render: |c| toml::Value::Boolean(c.authorizer_enabled),
    },
    KeySpec {
        name: "super_users",
        kafka: "super.users",
        doc: "principals every request is allowed to, whatever the ACLs: [\"User:admin\"]",
        section: "security",
        parse: |c, v| {
            const ALLOWED: &str = "an array of principals, TYPE:NAME (\"User:admin\")";
            let entries = v.as_array().ok_or_else(|| ALLOWED.to_string())?;
            c.super_users = entries
                .iter()
                .map(|entry| {
                    let text = string(entry, ALLOWED)?;
                    Principal::parse(text).map_err(|error| format!("{ALLOWED}: {error}"))
                })
                .collect::<Result<_, _>>()?;
            Ok(())
        },
        render: |c| {
            let users = c.super_users.iter().map(|p| render_str(p.to_string()));
            toml::Value::Array(users.collect())
        },
    },
    KeySpec {
        name: "allow_everyone_if_no_acl_found",
        kafka: "allow.everyone.if.no.acl.found",
        doc: "with the authorizer on, an action on a resource no ACL names is allowed rather \
              than denied",
        section: "security",
        parse: |c, v| {
            c.allow_everyone_if_no_acl_found = boolean(v)?;
            Ok(())
        },
        render: |c| toml::Value::Boolean(c.allow_everyone_if_no_acl_found),
    },
    KeySpec {
        name: "inter_broker_sasl_mechanism",
        kafka: "sasl.mechanism.inter.broker.protocol",
        doc: "how this broker logs in to the other brokers' THIN_SASL_* listeners for its \
              follower fetches: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (one the listener offers)",
        section: "security",
        parse: |c, v| {
            const ALLOWED: &str = "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512";
            c.inter_broker_sasl_mechanism =
                SaslMechanism::from_name(string(v, ALLOWED)?).ok_or(ALLOWED)?;
            Ok(())
        },
        render: |c| render_str(c.inter_broker_sasl_mechanism.name()),
    },
    KeySpec {
        name: "inter_broker_sasl_username",
        kafka: "",
        doc: "the user this broker logs in as to the other brokers' THIN_SASL_* listeners \
              (one of sasl_bootstrap_users, or made with ringlog user create); \"\": none",
        section: "security",
        parse: |c, v| {
            c.inter_broker_sasl_username = string(v, "a user name, or \"\"")?.to_string();
            Ok(())
        },
        render: |c| render_str(c.inter_broker_sasl_username.clone()),
    },
    KeySpec {
        name: "inter_broker_sasl_password",
        kafka: "",
        doc: "that user's password; never shown by DescribeConfigs nor logged",
        section: "security",
        parse: |c, v| {
            c.inter_broker_sasl_password = Password::new(string(v, "a password, or \"\"")?);
            Ok(())
        },
        render: |c| render_str(c.inter_broker_sasl_password.reveal()),
    },
];

/// Keys whose values hold secrets: never shown by DescribeConfigs nor quoted in errors.
const SENSITIVE_KEYS: &[&str] = &["sasl_bootstrap_users", "inter_broker_sasl_password"];

/// A key's value as TOML writes it, for an error: hidden for [`SENSITIVE_KEYS`].
fn quoted_value(key: &str, value: &toml::Value) -> String {
    if SENSITIVE_KEYS.contains(&key) {
        return "(hidden: it holds secrets)".to_string();
    }
    value.to_string()
}

/// A key's value as DescribeConfigs shows it: `None` for [`SENSITIVE_KEYS`].
fn shown_value(key: &str, value: &toml::Value) -> Option<String> {
    if SENSITIVE_KEYS.contains(&key) {
        return None;
    }
    Some(match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A file path, or `""` for none.
fn optional_path(value: &toml::Value) -> Result<Option<PathBuf>, String> {
    Ok(match string(value, "a file path, or \"\" for none")? {
        "" => None,
        path => Some(PathBuf::from(path)),
    })
}

fn render_optional_path(path: Option<&Path>) -> toml::Value {
    render_str(path.map_or_else(String::new, |path| path.to_string_lossy().into_owned()))
}

/// Every broker key's name, in rendering order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|spec| spec.name)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::*;

    fn parse(text: &str) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_toml_str(text, "broker.toml")
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), BrokerConfig::default());
        BrokerConfig::default().validate().unwrap();
    }

    #[test]
    fn default_toml_parses_back_to_the_defaults() {
        let text = default_toml();
        assert_eq!(parse(&text).unwrap(), BrokerConfig::default());
        for key in keys() {
            assert!(
                text.lines()
                    .any(|line| line.starts_with(&format!("{key} = "))),
                "{key} missing from default_toml:\n{text}"
            );
        }
    }

    #[test]
    fn every_key_has_a_comment_above_it() {
        let text = default_toml();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with('#') && !line.is_empty() {
                assert!(
                    i > 0 && lines[i - 1].starts_with("# "),
                    "no comment above {line:?}"
                );
            }
        }
    }

    #[test]
    fn the_module_table_lists_every_key() {
        let source = include_str!("config.rs");
        for key in keys() {
            assert!(
                source.contains(&format!("//! | `{key}` ")),
                "{key} is missing from the module doc's table"
            );
        }
    }

    #[test]
    fn a_non_default_config_renders_and_parses_back() {
        let config = BrokerConfig {
            node_id: BrokerId(7),
            listeners: "PLAINTEXT://0.0.0.0:19092,THIN://0.0.0.0:19095"
                .parse()
                .unwrap(),
            advertised_listeners:
                "PLAINTEXT://broker-7.example:19092,THIN://broker-7.example:19095"
                    .parse()
                    .unwrap(),
            data_dir: PathBuf::from("/var/lib/ringlog"),
            rack: Some(Rack("r1".into())),
            controller_quorum_voters: "1@a:9093,2@b:9093,7@[::1]:9093".parse().unwrap(),
            io_backend: IoBackendKind::Portable,
            log_retention: None,
            log_retention_bytes: Some(1 << 40),
            log_flush_policy: FlushMode::Interval,
            log_flush_interval: Duration::from_millis(250),
            unclean_leader_election_enable: true,
            ..BrokerConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_keys_name_the_file_and_suggest_ringlog_spelling() {
        let err =
            parse("log.dirs = \"/data\"\nlisten = \"x\"\ncolour = 1\nlog_retention_hours = 1\n")
                .unwrap_err();
        let ConfigError::File { file, problems } = &err else {
            panic!("{err}");
        };
        assert_eq!(file, "broker.toml");
        assert_eq!(
            problems,
            &[
                ConfigProblem::UnknownKey {
                    key: "colour".into(),
                    suggestion: None
                },
                ConfigProblem::UnknownKey {
                    key: "listen".into(),
                    suggestion: Some("listeners")
                },
                ConfigProblem::UnknownKey {
                    key: "log.dirs".into(),
                    suggestion: Some("data_dir")
                },
                ConfigProblem::UnknownKey {
                    key: "log_retention_hours".into(),
                    suggestion: Some("log_retention_ms")
                },
            ]
        );
        assert_eq!(
            err.to_string(),
            "config file broker.toml: unknown key colour; unknown key listen (did you mean \
             listeners?); unknown key log.dirs (did you mean data_dir?); unknown key \
             log_retention_hours (did you mean log_retention_ms?)"
        );
    }

    #[test]
    fn topic_key_names_suggest_the_broker_default() {
        let err = parse("retention_ms = 5\nlog.segment.bytes = 5\n").unwrap_err();
        let suggestions: Vec<_> = err
            .problems()
            .iter()
            .map(|problem| match problem {
                ConfigProblem::UnknownKey { suggestion, .. } => *suggestion,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(
            suggestions,
            [Some("log_segment_bytes"), Some("log_retention_ms")]
        );
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_what_is_allowed() {
        let err = parse(
            "node_id = \"one\"\nshards = 5000\nlisteners = \"THIN://localhost:9092\"\nio_backend = \
             \"epoll\"\nlog_retention_ms = -5\nunclean_leader_election_enable = \"yes\"\n",
        )
        .unwrap_err();
        let messages: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "io_backend = \"epoll\": expected one of auto, uring, portable",
                "listeners = \"THIN://localhost:9092\": expected NAME://ip:port,... with THIN (or \
                 THIN_SSL, THIN_SASL_PLAINTEXT, THIN_SASL_SSL) and optionally PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL), like \
                 \"PLAINTEXT://127.0.0.1:9092,THIN://127.0.0.1:9095\" (THIN://localhost:9092: \
                 expected an ip address and port, like 127.0.0.1:9092)",
                "log_retention_ms = -5: expected -1 (forever) or an integer between 0 and \
                 9223372036854775807",
                "node_id = \"one\": expected an integer between 0 and 2147483647",
                "shards = 5000: expected an integer between 0 and 1024",
                "unclean_leader_election_enable = \"yes\": expected true or false",
            ]
        );
        assert!(
            err.to_string()
                .starts_with("config file broker.toml: io_backend"),
            "{err}"
        );
    }

    #[test]
    fn listener_names_say_protocol_and_security() {
        let listeners: Listeners = "SSL://127.0.0.1:9093,THIN_SSL://127.0.0.1:9096"
            .parse()
            .unwrap();
        assert_eq!(listeners.kafka_security, SecurityProtocol::Ssl);
        assert_eq!(listeners.thin_security, SecurityProtocol::Ssl);
        assert_eq!(
            listeners.to_string(),
            "SSL://127.0.0.1:9093,THIN_SSL://127.0.0.1:9096"
        );
        let plain: Listeners = "thin://127.0.0.1:9095".parse().unwrap();
        assert_eq!(plain.kafka, None);
        assert_eq!(plain.thin_name(), "THIN");

        let sasl: Listeners = "SASL_PLAINTEXT://127.0.0.1:9094,THIN://127.0.0.1:9095"
            .parse()
            .unwrap();
        assert_eq!(sasl.kafka_security, SecurityProtocol::SaslPlaintext);
        assert!(sasl.kafka_security.sasl() && !sasl.kafka_security.tls());
        assert_eq!(sasl.kafka_name(), "SASL_PLAINTEXT");
        let sasl_ssl: Listeners = "sasl_ssl://127.0.0.1:9094,THIN://127.0.0.1:9095"
            .parse()
            .unwrap();
        assert!(sasl_ssl.kafka_security.sasl() && sasl_ssl.kafka_security.tls());
        assert!(sasl_ssl.any_tls());
        assert_eq!(
            sasl_ssl.to_string(),
            "SASL_SSL://127.0.0.1:9094,THIN://127.0.0.1:9095"
        );

        let thin_sasl: Listeners = "SASL_SSL://127.0.0.1:9093,thin_sasl_ssl://127.0.0.1:9095"
            .parse()
            .unwrap();
        assert_eq!(thin_sasl.thin_security, SecurityProtocol::SaslSsl);
        assert_eq!(thin_sasl.thin_name(), "THIN_SASL_SSL");
        assert_eq!(
            thin_sasl.to_string(),
            "SASL_SSL://127.0.0.1:9093,THIN_SASL_SSL://127.0.0.1:9095"
        );
        let thin_sasl: Listeners = "THIN_SASL_PLAINTEXT://127.0.0.1:9095".parse().unwrap();
        assert!(thin_sasl.thin_security.sasl() && !thin_sasl.any_tls());

        let refusals = [
            (
                "THIN_SASL_SSL://127.0.0.1:9093,THIN://127.0.0.1:9095",
                "listeners THIN_SASL_SSL and THIN both speak ringlog's thin protocol",
            ),
            (
                "SASL_PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,THIN://127.0.0.1:9095",
                "listeners SASL_PLAINTEXT and SSL both speak Kafka's protocol",
            ),
            (
                "KERBEROS://127.0.0.1:9093,THIN://127.0.0.1:9095",
                "known: PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL for Kafka's protocol",
            ),
            (
                "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,THIN://127.0.0.1:9095",
                "listeners PLAINTEXT and SSL both speak Kafka's protocol",
            ),
            (
                "THIN://127.0.0.1:9095,THIN://127.0.0.1:9096",
                "listener THIN is named twice",
            ),
            (
                "SSL://127.0.0.1:9093",
                "has no thin listener (THIN, THIN_SSL",
            ),
        ];
        for (text, expected) in refusals {
            let error = text.parse::<Listeners>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn sasl_keys_parse_render_and_keep_their_secrets() {
        let config = parse(
            "listeners = \"SASL_SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n\
             ssl_keystore_location = \"k.pem\"\n\
             sasl_enabled_mechanisms = \"PLAIN,SCRAM-SHA-512\"\n\
             connections_max_reauth_ms = 60000\n\
             connection_failed_authentication_delay_ms = 0\n\
             sasl_bootstrap_users = [\"SCRAM-SHA-512=[name=admin,password=admin-secret]\"]\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.sasl_enabled_mechanisms,
            [
                SaslMechanism::Plain,
                SaslMechanism::Scram(ringlog_security::scram::Mechanism::ScramSha512)
            ]
        );
        assert_eq!(config.connections_max_reauth, Some(Duration::from_secs(60)));
        assert_eq!(
            config.connection_failed_authentication_delay,
            Duration::ZERO
        );
        assert_eq!(config.sasl_bootstrap_users.len(), 1);
        assert_eq!(config.sasl_bootstrap_users[0].name, "admin");
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
        assert_eq!(
            parse("connections_max_reauth_ms = 0\n")
                .unwrap()
                .connections_max_reauth,
            None
        );
        // Neither the config's Debug nor DescribeConfigs shows the password.
        assert!(!format!("{config:?}").contains("admin-secret"));
        let described = config.described();
        let users = described
            .iter()
            .find(|key| key.name == "sasl_bootstrap_users")
            .unwrap();
        assert_eq!(users.value, None);
        let mechanisms = described
            .iter()
            .find(|key| key.name == "sasl.enabled.mechanisms")
            .unwrap();
        assert_eq!(mechanisms.value.as_deref(), Some("PLAIN,SCRAM-SHA-512"));
        // Nor does an error about it.
        let err =
            parse("sasl_bootstrap_users = [\"SCRAM-SHA-512=[name=admin,password=hunter2\"]\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("sasl_bootstrap_users = (hidden"), "{err}");
        assert!(err.contains("expected a ] at the end"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        for (text, expected) in [
            (
                "sasl_enabled_mechanisms = \"GSSAPI\"\n",
                "GSSAPI\" is not served by ringlog",
            ),
            ("sasl_enabled_mechanisms = \"\"\n", "none is named"),
            (
                "connection_failed_authentication_delay_ms = 60001\n",
                "between 0 and 60000",
            ),
            (
                "connections_max_reauth_ms = -1\n",
                "between 0 and 2147483647",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = parse("listeners = \"SASL_SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("set ssl_keystore_location"), "{err}");
    }

    #[test]
    fn a_thin_sasl_listener_needs_inter_broker_credentials_it_offers() {
        let listeners = "listeners = \"THIN_SASL_PLAINTEXT://127.0.0.1:9095\"\n";
        let err = parse(listeners)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("set inter_broker_sasl_username and inter_broker_sasl_password"),
            "{err}"
        );
        let config = parse(&format!(
            "{listeners}inter_broker_sasl_mechanism = \"SCRAM-SHA-256\"\n\
             inter_broker_sasl_username = \"broker\"\n\
             inter_broker_sasl_password = \"broker-secret\"\n"
        ))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.inter_broker_sasl_username, "broker");
        assert_eq!(config.inter_broker_sasl_password.reveal(), "broker-secret");
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
        // Neither the config's Debug, DescribeConfigs nor an error shows the password.
        assert!(!format!("{config:?}").contains("broker-secret"));
        let described = config.described();
        let password = described
            .iter()
            .find(|key| key.name == "inter_broker_sasl_password")
            .unwrap();
        assert_eq!(password.value, None);
        let err = parse("inter_broker_sasl_password = 7\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("(hidden"), "{err}");
        // A mechanism the listener does not offer.
        let config = BrokerConfig {
            inter_broker_sasl_mechanism: SaslMechanism::Plain,
            ..config
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("inter_broker_sasl_mechanism PLAIN is not among sasl_enabled_mechanisms"),
            "{err}"
        );
        let err = parse("inter_broker_sasl_mechanism = \"GSSAPI\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            "{err}"
        );
    }

    #[test]
    fn tls_listeners_need_their_files() {
        let err = parse("listeners = \"SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("set ssl_keystore_location"), "{err}");
        let err = parse(
            "listeners = \"SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n\
             ssl_keystore_location = \"/etc/ringlog/broker.pem\"\nssl_client_auth = \"required\"\n",
        )
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("set it"), "{err}");
        assert!(err.contains("ssl_truststore_location"), "{err}");
        let config = parse(
            "listeners = \"SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n\
             ssl_keystore_location = \"/etc/ringlog/broker.pem\"\n\
             ssl_truststore_location = \"/etc/ringlog/ca.pem\"\nssl_client_auth = \"requested\"\n",
        )
        .unwrap();
        assert_eq!(config.ssl_client_auth, ClientAuth::Requested);
        let err = parse("ssl_client_auth = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("one of none, requested, required"), "{err}");
    }

    #[test]
    fn an_advertised_listener_takes_its_listeners_name() {
        let err = parse(
            "listeners = \"SSL://127.0.0.1:9093,THIN://127.0.0.1:9095\"\n\
             advertised_listeners = \"PLAINTEXT://broker1:9093\"\n\
             ssl_keystore_location = \"k.pem\"\n",
        )
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("advertised listener PLAINTEXT names the listener SSL"),
            "{err}"
        );
        let config = parse(
            "listeners = \"SSL://0.0.0.0:9093,THIN://127.0.0.1:9095\"\n\
             advertised_listeners = \"SSL://broker1:9093\"\nssl_keystore_location = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            config.advertised_listeners.to_string(),
            "SSL://broker1:9093"
        );
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let err = parse("node_id = 1\nlisteners = \n").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with("config file broker.toml: not valid toml"),
            "{message}"
        );
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn sentinels_and_empty_strings_mean_none() {
        let config = parse(
            "log_retention_ms = -1\nlog_retention_bytes = -1\nadvertised_listeners = \"\"\nrack = \
             \"\"\ncontroller_quorum_voters = \"\"\n",
        )
        .unwrap();
        assert_eq!(config.log_retention, None);
        assert_eq!(config.log_retention_bytes, None);
        assert_eq!(config.advertised_listeners, AdvertisedListeners::default());
        assert_eq!(config.rack, None);
        assert!(config.controller_quorum_voters.is_empty());
        assert!(config.is_controller());
    }

    #[test]
    fn quorum_voters_parse_and_refuse_duplicates() {
        let voters: QuorumVoters = " 1@a:9093, 2@b.example:9093 ,3@[fe80::1]:9093"
            .parse()
            .unwrap();
        assert_eq!(voters.len(), 3);
        assert_eq!(
            voters.get(BrokerId(3)).unwrap().address,
            HostPort {
                host: "fe80::1".into(),
                port: 9093
            }
        );
        assert_eq!(
            voters.to_string(),
            "1@a:9093,2@b.example:9093,3@[fe80::1]:9093"
        );
        assert_eq!(voters.to_string().parse::<QuorumVoters>().unwrap(), voters);

        let refused = [
            ("1@a:9093,1@b:9093", "voter id 1 is listed twice"),
            ("1@a:9093,2@a:9093", "voter address a:9093 is listed twice"),
            ("1:a:9093", "expected id@host:port"),
            ("x@a:9093", "id \"x\" is not an integer"),
            ("1@a", "expected host:port"),
            ("1@a:0", "port \"0\" is not between 1 and 65535"),
            ("1@:9093", "is not a host name or address"),
            ("3000000000@a:1", "not between 0 and 2147483647"),
            (
                "1@a:1,2@a:2,3@a:3,4@a:4,5@a:5,6@a:6,7@a:7,8@a:8,9@a:9,10@a:10",
                "at most 9",
            ),
        ];
        for (text, reason) in refused {
            let err = text.parse::<QuorumVoters>().unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
        let err = parse("controller_quorum_voters = \"1@a:1,1@b:1\"").unwrap_err();
        assert_eq!(
            err.problems()[0].to_string(),
            "controller_quorum_voters = \"1@a:1,1@b:1\": expected a comma-separated list of \
             id@host:port with distinct ids, or \"\" for a single node (voter id 1 is listed \
             twice)"
        );
    }

    #[test]
    fn is_controller_follows_the_quorum() {
        let mut config = BrokerConfig {
            controller_quorum_voters: "1@a:9093,2@b:9093".parse().unwrap(),
            ..BrokerConfig::default()
        };
        assert!(config.is_controller());
        config.node_id = BrokerId(3);
        assert!(!config.is_controller());
    }

    #[test]
    fn overrides_replace_the_file_and_are_validated() {
        let mut config = parse("node_id = 2\nshards = 4\nrack = \"r1\"\n").unwrap();
        config.apply_overrides(BrokerOverrides {
            node_id: Some(BrokerId(5)),
            shards: Some(SHARDS_MAX + 1),
            data_dir: Some(PathBuf::from("/tmp/x")),
            ..BrokerOverrides::default()
        });
        assert_eq!(config.node_id, BrokerId(5));
        assert_eq!(config.rack, Some(Rack("r1".into())));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        let err = config.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid broker config: shards = 1025: expected an integer between 0 and 1024"
        );
    }

    #[test]
    fn validate_lists_every_problem_between_keys() {
        let config = BrokerConfig {
            listeners: "THIN://0.0.0.0:9092".parse().unwrap(),
            metrics_listen: "0.0.0.0:9092".parse().unwrap(),
            broker_heartbeat_interval: Duration::from_millis(9000),
            fetch_max_wait: Duration::from_millis(30_000),
            message_max_bytes: 2000,
            socket_request_max_bytes: 2000,
            log_segment_bytes: 1000,
            rack: Some(Rack(String::new())),
            ..BrokerConfig::default()
        };
        let err = config.validate().unwrap_err();
        let messages: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "listener THIN binds 0.0.0.0:9092, an unspecified address, which cannot be \
                 advertised: give THIN an address in advertised_listeners",
                "rack is empty: leave it unset for no rack",
                "broker_heartbeat_interval_ms 9000 must be less than broker_session_timeout_ms \
                 9000",
                "fetch_max_wait_ms 30000 must be less than request_timeout_ms 30000",
                "message_max_bytes 2000 must be less than socket_request_max_bytes 2000: a \
                 produce frame carries the batch and its headers",
                "message_max_bytes 2000 is larger than log_segment_bytes 1000: the largest \
                 batch would not fit in a segment",
                "listener THIN and metrics_listen are both 0.0.0.0:9092: they need different \
                 ports",
            ]
        );
        assert_eq!(err.problems()[0].key(), "listeners");
    }

    #[test]
    fn validate_checks_ranges_of_values_set_in_code() {
        let config = BrokerConfig {
            node_id: BrokerId(u32::MAX),
            num_partitions: 0,
            advertised_listeners: AdvertisedListeners {
                thin: Some(HostPort {
                    host: String::new(),
                    port: 9092,
                }),
                ..AdvertisedListeners::default()
            },
            log_segment_bytes: 1 << 40,
            ..BrokerConfig::default()
        };
        let err = config.validate().unwrap_err();
        let keys: Vec<&str> = err.problems().iter().map(ConfigProblem::key).collect();
        assert_eq!(
            keys,
            [
                "node_id",
                "advertised_listeners",
                "num_partitions",
                "log_segment_bytes"
            ]
        );
        assert!(
            err.to_string()
                .contains("node_id = 4294967295: expected an integer between 0 and 2147483647"),
            "{err}"
        );
    }

    #[test]
    fn max_connections_is_held_to_the_slots_a_ring_token_holds() {
        let err = parse("max_connections = 16777217\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file broker.toml: max_connections = 16777217: expected an integer between \
             1 and 16777216 (a shard's ring token holds 24 bits of connection slot)"
        );
        assert_eq!(
            parse("max_connections = 16777216\n")
                .unwrap()
                .max_connections,
            16_777_216
        );
        let set_in_code = BrokerConfig {
            max_connections: u32::MAX,
            ..BrokerConfig::default()
        };
        let err = set_in_code.validate().unwrap_err();
        assert_eq!(err.problems()[0].key(), "max_connections", "{err}");
    }

    #[test]
    fn host_port_parses_names_and_addresses() {
        assert_eq!(
            "kafka-1.internal:9092".parse::<HostPort>().unwrap(),
            HostPort {
                host: "kafka-1.internal".into(),
                port: 9092
            }
        );
        let v6: HostPort = "[::1]:9092".parse().unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:9092");
        for bad in ["::1:9092", "host", "host:", "host:65536", "a b:1", "[::1:1"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
        assert_eq!(
            HostPort::from(SocketAddr::from(([10, 0, 0, 1], 9092))).to_string(),
            "10.0.0.1:9092"
        );
    }

    #[test]
    fn conversions_merge_topic_config_over_broker_defaults() {
        let broker = parse(
            "min_insync_replicas = 2\nlog_flush_policy = \"always\"\nreplica_lag_time_max_ms = \
             10000\nio_backend = \"portable\"\nbroker_session_timeout_ms = 6000\n",
        )
        .unwrap();
        let topic = TopicConfig::from_pairs(
            [("min_insync_replicas", "3"), ("retention_ms", "60000")],
            &broker.topic_defaults(),
        )
        .unwrap();

        let log = broker.log_config(&topic);
        assert_eq!(log.flush, ringlog_engine::FlushPolicy::Always);
        assert_eq!(log.retention_ms, Some(Duration::from_secs(60)));
        assert_eq!(log.io_backend, IoBackendKind::Portable);
        log.validate().unwrap();

        let leader = broker.leader_config(&topic);
        assert_eq!(leader.min_insync_replicas, 3);
        assert_eq!(leader.replica_lag_time_max, Duration::from_secs(10));
        assert_eq!(
            broker
                .leader_config(&TopicConfig::new())
                .min_insync_replicas,
            2
        );

        let controller = broker.controller_topic_config(&topic);
        assert_eq!(controller.min_insync_replicas, 3);
        assert!(!controller.unclean_leader_election);
        assert_eq!(
            broker.liveness_config().broker_session_timeout,
            Duration::from_secs(6)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_assignment_to_a_key_is_taken_or_refused_naming_it(
            key in proptest::sample::select(keys().collect::<Vec<_>>()),
            value in proptest::prop_oneof![
                proptest::prelude::any::<i64>().prop_map(|v| v.to_string()),
                // Printable ASCII without the quote and the backslash: always valid TOML.
                "\"[ !#-\\[\\]-~]{0,24}\"",
                proptest::prelude::Just("true".to_string()),
                proptest::prelude::Just("[1, 2]".to_string()),
                proptest::prelude::Just("{ a = 1 }".to_string()),
            ],
        ) {
            let text = format!("{key} = {value}\n");
            match parse(&text) {
                Ok(config) => {
                    // Whatever a file sets renders back to itself.
                    proptest::prop_assert_eq!(parse(&config.to_toml()).unwrap(), config);
                }
                Err(err) => {
                    proptest::prop_assert_eq!(err.problems().len(), 1, "{}", err);
                    proptest::prop_assert_eq!(err.problems()[0].key(), key);
                }
            }
        }
    }

    #[test]
    fn defaults_agree_with_the_other_crates() {
        let config = BrokerConfig::default();
        assert_eq!(config.topic_defaults(), TopicSettings::default());
        let leader = config.leader_config(&TopicConfig::new());
        let leader_default = LeaderConfig::default();
        assert_eq!(
            leader.replica_lag_time_max,
            leader_default.replica_lag_time_max
        );
        assert_eq!(
            leader.min_insync_replicas,
            leader_default.min_insync_replicas
        );
        assert_eq!(config.liveness_config(), LivenessConfig::default());
        assert_eq!(
            config.controller_topic_config(&TopicConfig::new()),
            ControllerTopicConfig::default()
        );
        assert!(config.shard_count() >= 1);
        assert_eq!(config.advertised_address().to_string(), "127.0.0.1:9095");
    }
}
