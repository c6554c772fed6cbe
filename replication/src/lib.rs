//! ringlog-replication: Kafka's ISR replication protocol as pure state machines (no IO, no
//! clock, no sockets). The caller passes in what happened and the time; the crate returns what
//! changed.
//!
//! Built so far: the controller's side (broker liveness, elections, ISR proposals and replica
//! placement over the cluster metadata) and a partition's leader (follower progress, ISR
//! proposals, the high watermark, acks and `min_insync_replicas`). The follower state machine
//! (fetch, truncation by leader epoch) and the deterministic simulator come next.
//!
//! | module         | owns                                                                  |
//! |----------------|-----------------------------------------------------------------------|
//! | [`controller`] | [`ClusterMetadata`](controller::ClusterMetadata) and the rules that change it: liveness, election, ISR proposals, placement |
//! | [`partition`]  | a partition's leader as a state machine: follower progress, ISR proposals, high watermark, acks and `min_insync_replicas` |
//! | [`types`]      | [`BrokerId`], [`PartitionEpoch`], [`Rack`], [`TopicPartition`], [`Millis`]; [`Offset`] and [`LeaderEpoch`] from the engine |
//! | [`error`]      | the crate's one error family, each error mapped to its Kafka code ([`KafkaError`]) |
//!
//! The crate depends on `ringlog-engine` for shared types only and never calls its IO.

#![forbid(unsafe_code)]

pub mod controller;
pub mod error;
pub mod partition;
pub mod types;

pub use error::AlterConfigError;
pub use error::{AlterIsrError, BrokerError, CreateTopicError, KafkaError, PlacementError};
pub use types::{BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch, Rack, TopicPartition};
