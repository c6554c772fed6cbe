//! ringlog-replication: Kafka's ISR replication protocol as pure state machines (no IO, no
//! clock, no sockets). The caller passes in what happened and the time; the crate returns what
//! changed.
//!
//! Built: the controller's side (broker liveness, elections, ISR proposals, replica placement,
//! topic config changes, over the cluster metadata) and a partition's replica on a broker (the
//! leader: fetch validation, follower progress, ISR proposals, the high watermark, acks and
//! `min_insync_replicas`; the follower: the fetch loop and truncation by leader epoch; the
//! replica switching between them as the controller's state changes). The deterministic
//! simulator in `tests/simulation/` runs them together under faults.
//!
//! | module         | owns                                                                  |
//! |----------------|-----------------------------------------------------------------------|
//! | [`controller`] | [`ClusterMetadata`](controller::ClusterMetadata) and the rules that change it: liveness, election, ISR proposals, placement |
//! | [`partition`]  | a partition on one broker as state machines: [`Leader`](partition::Leader), [`Follower`](partition::Follower), and [`Replica`](partition::Replica) switching between them |
//! | [`driver`]     | [`PartitionDriver`](driver::PartitionDriver): a [`Replica`](partition::Replica) stepped and its intents carried out on a log behind the [`DriverLog`](driver::DriverLog) trait; the broker runs it over the engine, the simulator over its model disk |
//! | [`types`]      | [`BrokerId`], [`PartitionEpoch`], [`Rack`], [`TopicPartition`], [`Millis`]; [`Offset`] and [`LeaderEpoch`] from `ringlog-format` |
//! | [`error`]      | the crate's one error family, each error mapped to its Kafka code ([`KafkaError`]) |
//!
//! The crate depends on `ringlog-format` (the log's types and the leader-epoch cache) only:
//! no IO of its own. The driver reaches a log only through the [`DriverLog`](driver::DriverLog)
//! trait its host implements.

#![forbid(unsafe_code)]

pub mod controller;
pub mod driver;
pub mod error;
pub mod partition;
pub mod types;

pub use error::AlterConfigError;
pub use error::{
    AlterIsrError, BrokerError, CreateTopicError, DeleteTopicError, KafkaError, PlacementError,
};
pub use types::{
    BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch, Rack, TopicId, TopicPartition,
};
