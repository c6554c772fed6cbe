//! The controller's rules, as pure functions and methods over its metadata state: no IO, no
//! clock (the caller passes the time), no randomness (placement is deterministic).
//!
//! | module        | owns                                                                   |
//! |---------------|------------------------------------------------------------------------|
//! | [`metadata`]  | [`ClusterMetadata`]: brokers, topics, partitions, `check_invariants()`, topic creation and deletion |
//! | `fencing`     | registration (and a new life's rack), heartbeats, `tick`, fencing and unfencing brokers, electing leaders for offline partitions |
//! | `alter_isr`   | accepting or refusing a leader's [`IsrProposal`]                       |
//! | `config_change` | changing a topic's [`TopicConfig`] ([`TopicConfigChange`]), electing where turning unclean election on makes a leader electable |
//! | [`liveness`]  | when a silent broker's session has expired ([`LivenessConfig`])         |
//! | [`election`]  | the election rule: first live ISR member, else offline or unclean      |
//! | [`placement`] | rack-aware replica assignment for a new topic                          |

mod alter_isr;
mod config_change;
pub mod election;
mod fencing;
pub mod liveness;
pub mod metadata;
pub mod placement;

pub use alter_isr::IsrProposal;
pub use config_change::TopicConfigChange;
pub use election::{Election, elect_leader};
pub use fencing::TickOutcome;
pub use liveness::LivenessConfig;
pub use metadata::{Broker, ClusterMetadata, Partition, PartitionChange, Topic, TopicConfig};
pub use placement::{PlacementBroker, assign_replicas};

#[cfg(test)]
mod test_cluster;
