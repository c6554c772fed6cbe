//! The client library: a [`Producer`], a [`Consumer`] and an [`Admin`] over one [`Client`]
//! that knows the cluster. Async, on tokio; the program picks the runtime (multi-thread or
//! current-thread): the client only spawns tasks on the one it runs in.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringlog_client::{Acks, Client, ClientConfig, Compression, ConsumerConfig, OffsetReset, ProducerConfig, Record, TopicPartition};
//!
//! # async fn example() -> Result<(), ringlog_client::ClientError> {
//! let client = Client::connect(ClientConfig { bootstrap: vec!["127.0.0.1:9095".into()], ..Default::default() }).await?;
//! client.admin().create_topic("orders", Some(3), None, &[("retention_ms", "86400000")]).await?; // None: the broker's default
//!
//! let producer = client.producer(ProducerConfig { acks: Acks::All, linger: Duration::from_millis(5), compression: Compression::Lz4, ..Default::default() })?;
//! let delivery = producer.send(Record::new("orders").key("k").value("v")).await?;
//! let metadata = delivery.await?; // partition and offset, once acknowledged
//! producer.flush().await?;
//!
//! let consumer = client.consumer(ConsumerConfig { group: Some("g".into()), auto_offset_reset: OffsetReset::Earliest, ..Default::default() });
//! consumer.assign(&[TopicPartition::new("orders", metadata.partition)]).await?;
//! let records = consumer.poll(Duration::from_millis(500)).await?;
//! consumer.commit().await?;
//!
//! // A member of group "readers": its members share the partitions of "orders".
//! let member = client.consumer(ConsumerConfig { group: Some("readers".into()), ..Default::default() });
//! member.subscribe(&["orders"]).await?;
//! let records = member.poll(Duration::from_millis(500)).await?; // joins first; commits every 5 s
//! member.close().await?; // commits the positions and leaves the group
//! # Ok(()) }
//! ```
//!
//! | file                | owns                                                               |
//! |---------------------|--------------------------------------------------------------------|
//! | `mod.rs`            | [`Client`], [`ClientConfig`]                                       |
//! | [`producer`]        | [`Producer`]: batching per partition (`linger`, `batch_bytes`), the bounded buffer, acks, compression, retries within `delivery_timeout` (and which partitions are being retried, why), one future per record |
//! | `accumulator`       | the producer's batches per partition and when each is ready (pure) |
//! | [`consumer`]        | [`Consumer`]: assign or subscribe, seek, long-poll fetches, offset reset, commit; `subscription`: the group member's rebalances and auto-commit in `poll` |
//! | [`group`]           | a subscribed consumer's JoinGroup, SyncGroup, heartbeat task, LeaveGroup; [`RebalanceListener`]; how group requests reach the coordinator |
//! | `membership`        | the member's id and generation and what each group error code makes it do (pure) |
//! | [`assignor`]        | Kafka's `range` and `roundrobin` assignors, run by the group's leader (pure) |
//! | `consumer_protocol` | Kafka's ConsumerProtocol subscription and assignment bytes (pure)  |
//! | `fetch_decode`      | fetched bytes to records: CRC check, decompression, offsets (pure) |
//! | [`admin`]           | [`Admin`]: topics and their configs; consumer groups (`groups`); idempotent producers' ids |
//! | [`partitioner`]     | Kafka's murmur2 key partitioner, round robin for keyless records (pure) |
//! | `cluster`           | connections per broker, metadata refresh, the retry loop           |
//! | `metadata_cache`    | brokers and partition leaders from Metadata responses (pure)       |
//! | `connection`        | one TCP connection: pipelining, correlation ids, timeouts, `max_frame_bytes`, its SASL login and renewals |
//! | [`sasl`]            | [`ClientSasl`] (who the client logs in as) and the client's side of a PLAIN or SCRAM login (pure) |
//! | [`tls`]             | [`ClientTls`]                                                      |
//! | `in_flight`         | requests in flight matched to responses in order (pure)           |
//! | `backoff`           | the exponential backoff schedule and the retry decision (pure)     |
//! | [`error`]           | [`ClientError`]                                                    |
//!
//! Routing: each partition's requests go to its leader as the latest Metadata response
//! names it. NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
//! FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR and a lost connection
//! refresh the metadata before the retry. A group's requests (OffsetCommit, OffsetFetch,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, DeleteGroups) go to its
//! coordinator, the leader of the group's partition of `__consumer_offsets`
//! (`ringlog_wire::group::partition_for`); NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE refresh
//! the metadata before the retry. ListGroups goes to every broker; other admin requests go to
//! any broker. Each request goes at the highest version both sides speak.
//!
//! Consumer groups are Kafka's classic protocol with protocol type "consumer" and Kafka's
//! ConsumerProtocol bytes, so a group may mix ringlog's consumer with Kafka's clients (through
//! the broker's Kafka listener) when they share an assignor (`range`, `roundrobin`), and
//! Kafka's tools describe it. The rebalance protocol is the eager one: every partition is
//! revoked before a rebalance. The defaults are Kafka's consumer's: session timeout 45 s,
//! heartbeat every 3 s, rebalance timeout 5 min, auto-commit every 5 s.

// Every public item of the client is documented; the compiler keeps it so.
#![deny(missing_docs)]

pub mod admin;
pub mod assignor;
pub mod consumer;
pub mod error;
pub mod group;
pub mod partitioner;
pub mod producer;
pub mod sasl;
pub mod tls;

mod accumulator;
mod backoff;
mod cluster;
pub mod connection;
mod consumer_protocol;
mod fetch_decode;
mod in_flight;
mod membership;
mod metadata_cache;

use std::sync::Arc;
use std::time::Duration;

pub use admin::{
    Admin, ConfigEntry, GroupDescription, GroupListing, GroupMemberDescription,
    PartitionDescription, ProducerIdAndEpoch, SALT_LEN, ScramUser, TopicDescription,
};
pub use assignor::Assignor;
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};
pub use error::ClientError;
pub use group::RebalanceListener;
pub use producer::{
    BufferFullPolicy, DeliveryFuture, Producer, ProducerConfig, Record, RecordMetadata,
    RetryingPartition,
};
pub use ringlog_format::Compression;
pub use ringlog_format::{LeaderEpoch, Offset, Timestamp};
pub use ringlog_replication::{BrokerId, TopicId, TopicPartition};
pub use sasl::{ClientSasl, SaslMechanism};
pub use tls::ClientTls;

use cluster::Cluster;
pub use ringlog_wire::api::produce::Acks;
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, RESPONSE_HEADER_LEN};

/// The most requests a connection may have in flight, whatever the configuration says.
pub const MAX_IN_FLIGHT_REQUESTS_LIMIT: usize = 1024;

/// How the client reaches the cluster, and its limits. Every duration and size is explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// `host:port` addresses to learn the cluster from; at least one.
    pub bootstrap: Vec<String>,
    /// How long to wait for a TCP connection. Default 10 s.
    pub connect_timeout: Duration,
    /// How long to wait for any response, on top of the time the request itself lets the
    /// broker wait (a fetch's `fetch_max_wait`, an acks=all produce's `ack_timeout`). A request
    /// that times out closes its connection. Default 30 s.
    pub request_timeout: Duration,
    /// Requests queued or in flight per connection, at most. Default 5.
    pub max_in_flight_requests: usize,
    /// The largest response frame accepted (its length field); a larger one closes the
    /// connection. Default 100 MiB, the protocol's default.
    pub max_frame_bytes: u32,
    /// The first retry's backoff; each retry doubles it. Default 100 ms.
    pub retry_backoff: Duration,
    /// The longest backoff. Default 1 s.
    pub retry_backoff_max: Duration,
    /// Metadata older than this is refreshed (in the background) even without an error
    /// asking for it: new partitions and moved leaders are learned. Default 5 min.
    pub metadata_max_age: Duration,
    /// TLS to every broker (their `THIN_SSL` or `THIN_SASL_SSL` listeners); `None`:
    /// plaintext. Default `None`.
    pub tls: Option<ClientTls>,
    /// The SASL login of every connection, after TLS if it is set (the brokers'
    /// `THIN_SASL_PLAINTEXT` or `THIN_SASL_SSL` listeners); `None`: none. Default `None`.
    pub sasl: Option<ClientSasl>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight_requests: 5,
            max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            tls: None,
            sasl: None,
        }
    }
}

impl ClientConfig {
    fn validate(&self) -> Result<(), ClientError> {
        let invalid = |message: String| Err(ClientError::Config(message));
        if self.bootstrap.is_empty() {
            return invalid("bootstrap has no address".into());
        }
        if !(1..=MAX_IN_FLIGHT_REQUESTS_LIMIT).contains(&self.max_in_flight_requests) {
            return invalid(format!(
                "max_in_flight_requests {} is not within 1 to {MAX_IN_FLIGHT_REQUESTS_LIMIT}",
                self.max_in_flight_requests
            ));
        }
        if (self.max_frame_bytes as usize) < RESPONSE_HEADER_LEN {
            return invalid(format!(
                "max_frame_bytes {} cannot hold a response header",
                self.max_frame_bytes
            ));
        }
        if self.request_timeout.is_zero()
            || self.connect_timeout.is_zero()
            || self.metadata_max_age.is_zero()
        {
            return invalid(
                "request_timeout, connect_timeout and metadata_max_age must not be zero".into(),
            );
        }
        if self.retry_backoff > self.retry_backoff_max {
            return invalid(format!(
                "retry_backoff {} ms exceeds retry_backoff_max {} ms",
                self.retry_backoff.as_millis(),
                self.retry_backoff_max.as_millis()
            ));
        }
        Ok(())
    }
}

/// A connection to a cluster, shared by the producers, consumers and admins made from it.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    cluster: Arc<Cluster>,
}

impl Client {
    /// Checks `config` and learns the brokers from the first bootstrap address that answers.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        Ok(Client {
            cluster: Cluster::bootstrap(config).await?,
        })
    }

    /// A producer with its own batches and sender task (spawned on the current tokio
    /// runtime).
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer, ClientError> {
        Producer::start(Arc::clone(&self.cluster), config)
    }

    /// A consumer with no partitions assigned yet.
    pub fn consumer(&self, config: ConsumerConfig) -> Consumer {
        Consumer::new(Arc::clone(&self.cluster), config)
    }

    /// Topic administration.
    pub fn admin(&self) -> Admin {
        Admin::new(Arc::clone(&self.cluster))
    }

    /// Asks a broker for the latest metadata of the topics this client uses.
    pub async fn refresh_metadata(&self) -> Result<(), ClientError> {
        let generation = self.cluster.metadata().generation();
        self.cluster.refresh_metadata(generation).await
    }

    /// The configuration the client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.cluster.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClientConfig {
        ClientConfig {
            bootstrap: vec!["127.0.0.1:9095".into()],
            ..Default::default()
        }
    }

    #[test]
    fn the_default_config_with_an_address_is_valid() {
        assert!(valid().validate().is_ok());
        assert_eq!(valid().max_in_flight_requests, 5);
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_numbers() {
        let cases = [
            (
                ClientConfig {
                    bootstrap: vec![],
                    ..valid()
                },
                "invalid configuration: bootstrap has no address",
            ),
            (
                ClientConfig {
                    max_in_flight_requests: 0,
                    ..valid()
                },
                "invalid configuration: max_in_flight_requests 0 is not within 1 to 1024",
            ),
            (
                ClientConfig {
                    max_frame_bytes: 3,
                    ..valid()
                },
                "invalid configuration: max_frame_bytes 3 cannot hold a response header",
            ),
            (
                ClientConfig {
                    retry_backoff: Duration::from_secs(5),
                    ..valid()
                },
                "invalid configuration: retry_backoff 5000 ms exceeds retry_backoff_max 1000 ms",
            ),
        ];
        for (config, message) in cases {
            assert_eq!(config.validate().unwrap_err().to_string(), message);
        }
    }
}
