//! The broker server: configuration, metrics, and (as the team adds them) shards, connections
//! and the handlers that wire the engine and the replication state machines to the wire
//! protocol.
//!
//! | module           | owns                                                                   |
//! |------------------|------------------------------------------------------------------------|
//! | [`config`]       | [`BrokerConfig`]: the TOML file, command-line overrides, validation, conversions to the engine's and replication's configs |
//! | [`topic_config`] | [`TopicConfig`]: topic-level keys as string pairs (CreateTopics, DescribeConfigs, AlterConfigs), their typed [`TopicSettings`] and persisted form |
//! | [`metrics`]      | metric names and recording helpers, the Prometheus recorder, and the `/metrics` HTTP responder ([`MetricsServer`]) |

pub mod config;
pub mod metrics;
pub mod topic_config;

pub use config::{BrokerConfig, BrokerOverrides, ConfigError};
pub use metrics::{MetricsError, MetricsServer};
pub use topic_config::{TopicConfig, TopicConfigError, TopicSettings};
