//! Fixtures for the controller's unit tests.

use crate::controller::{ClusterMetadata, LivenessConfig, TopicConfig};
use crate::types::{BrokerId, Millis, TopicPartition};

pub(crate) fn ids(raw: &[u32]) -> Vec<BrokerId> {
    raw.iter().copied().map(BrokerId).collect()
}

/// A cluster of brokers `1..=broker_count` without racks, registered at time 0.
pub(crate) fn cluster(broker_count: u32) -> ClusterMetadata {
    let mut metadata = ClusterMetadata::new(LivenessConfig::default());
    for id in 1..=broker_count {
        metadata
            .register_broker(BrokerId(id), None, Millis(0))
            .unwrap();
    }
    metadata
}

/// `cluster(3)` with topic `t` of one partition, replicas [1, 2, 3], leader 1.
pub(crate) fn cluster_with_topic(unclean_leader_election: bool) -> ClusterMetadata {
    let mut metadata = cluster(3);
    let config = TopicConfig {
        min_insync_replicas: 2,
        unclean_leader_election,
    };
    metadata.create_topic("t", 1, 3, config).unwrap();
    assert_eq!(
        metadata.partition(&t0()).unwrap().replicas(),
        ids(&[1, 2, 3])
    );
    metadata
}

pub(crate) fn t0() -> TopicPartition {
    TopicPartition::new("t", 0)
}
