//! Changing a topic's config (Kafka's AlterConfigs on a topic, for the two keys the
//! controller's rules read). A change is validated whole and applied whole: a refused change
//! applies neither of its fields.
//!
//! 1. The topic exists (UNKNOWN_TOPIC_OR_PARTITION).
//! 2. `min_insync_replicas` is at least 1 (INVALID_CONFIG). It may exceed the replication
//!    factor, as Kafka allows: the ISR can then never be that large, so every acks=all produce
//!    to the topic is refused (NOT_ENOUGH_REPLICAS) until it is lowered. Changing it changes no
//!    partition: leaders read it when a produce arrives.
//! 3. Turning `unclean_leader_election` on elects, for every offline partition of the topic
//!    with a live replica, the first live replica in replica order, flagged unclean: the new
//!    leader becomes the whole ISR and both epochs are bumped, as when fencing elects uncleanly.
//!    Kafka's ZooKeeper-era controller does the same on this change (its
//!    TopicUncleanLeaderElectionEnable event). Without it the topic would hold an offline
//!    partition its own config lets lead, which `check_invariants()` forbids.
//! 4. Turning it off changes no partition: a leader elected uncleanly stays leader.

use serde::{Deserialize, Serialize};

use crate::controller::metadata::{ClusterMetadata, PartitionChange, TopicConfig};
use crate::error::AlterConfigError;

/// The config keys a change sets; `None` leaves a key as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfigChange {
    pub min_insync_replicas: Option<u16>,
    pub unclean_leader_election: Option<bool>,
}

impl TopicConfigChange {
    /// `config` with this change's keys set.
    pub fn applied_to(self, config: TopicConfig) -> TopicConfig {
        TopicConfig {
            min_insync_replicas: self
                .min_insync_replicas
                .unwrap_or(config.min_insync_replicas),
            unclean_leader_election: self
                .unclean_leader_election
                .unwrap_or(config.unclean_leader_election),
        }
    }
}

impl ClusterMetadata {
    /// Applies `change` to `topic`'s config and returns the partition changes it caused: the
    /// unclean elections of rule 3 when it turns `unclean_leader_election` on, else none. The
    /// new config is [`topic(topic)`](Self::topic)`.config()`. A refusal changes nothing.
    pub fn alter_topic_config(
        &mut self,
        topic: &str,
        change: TopicConfigChange,
    ) -> Result<Vec<PartitionChange>, AlterConfigError> {
        let current = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| AlterConfigError::UnknownTopic {
                topic: topic.to_string(),
            })?;
        if change.min_insync_replicas == Some(0) {
            return Err(AlterConfigError::InvalidMinInsyncReplicas {
                topic: topic.to_string(),
                min_insync_replicas: 0,
            });
        }
        current.config = change.applied_to(current.config);
        if change.unclean_leader_election != Some(true) {
            self.debug_check_invariants();
            return Ok(Vec::new());
        }
        // Before the change every offline partition was unelectable under its own topic's
        // config (check_invariants), and only this topic's config changed: the cluster-wide
        // pass can elect in this topic alone.
        let changes = self.elect_leaders_for_offline();
        debug_assert!(
            changes
                .iter()
                .all(|change| change.topic_partition.topic == topic && change.unclean_election),
            "enabling unclean election on {topic} changed another topic or elected cleanly: \
             {changes:?}"
        );
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_cluster::{cluster_with_topic, ids, t0};
    use crate::types::{BrokerId, LeaderEpoch, Millis, PartitionEpoch, TopicPartition};

    fn unclean(on: bool) -> TopicConfigChange {
        TopicConfigChange {
            unclean_leader_election: Some(on),
            ..TopicConfigChange::default()
        }
    }

    fn min_insync_replicas(value: u16) -> TopicConfigChange {
        TopicConfigChange {
            min_insync_replicas: Some(value),
            ..TopicConfigChange::default()
        }
    }

    /// `t-0` offline with isr [1] after fencing 2, 3 and then the leader 1.
    fn offline_cluster(unclean_leader_election: bool) -> ClusterMetadata {
        let mut metadata = cluster_with_topic(unclean_leader_election);
        for id in [2, 3, 1] {
            metadata.fence_broker(BrokerId(id)).unwrap();
        }
        assert_eq!(metadata.partition(&t0()).unwrap().leader(), None);
        metadata
    }

    #[test]
    fn enabling_unclean_election_elects_offline_partitions_with_a_live_replica() {
        let mut metadata = offline_cluster(false);
        // Both replicas outside the ISR return; the first in replica order must lead.
        metadata.heartbeat(BrokerId(3), Millis(10)).unwrap();
        metadata.heartbeat(BrokerId(2), Millis(20)).unwrap();
        let before = metadata.partition(&t0()).unwrap().clone();
        assert_eq!(before.leader(), None);

        let changes = metadata.alter_topic_config("t", unclean(true)).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].topic_partition, t0());
        assert!(changes[0].unclean_election);
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(changes[0].partition, *partition);
        assert_eq!(partition.leader(), Some(BrokerId(2)));
        assert_eq!(partition.isr(), ids(&[2]));
        assert_eq!(
            partition.leader_epoch(),
            LeaderEpoch(before.leader_epoch().0 + 1)
        );
        assert_eq!(partition.partition_epoch(), before.partition_epoch().next());
        assert!(
            metadata
                .topic("t")
                .unwrap()
                .config()
                .unclean_leader_election
        );
    }

    #[test]
    fn enabling_unclean_election_leaves_offline_a_partition_with_no_live_replica() {
        let mut metadata = offline_cluster(false);
        let before = metadata.partition(&t0()).unwrap().clone();
        assert!(
            metadata
                .alter_topic_config("t", unclean(true))
                .unwrap()
                .is_empty()
        );
        assert_eq!(metadata.partition(&t0()), Some(&before));
        // The config took effect: the first replica back now leads, uncleanly.
        let changes = metadata.heartbeat(BrokerId(3), Millis(10)).unwrap();
        assert!(changes[0].unclean_election);
        assert_eq!(changes[0].partition.leader(), Some(BrokerId(3)));
    }

    #[test]
    fn enabling_unclean_election_elects_in_that_topic_only() {
        let mut metadata = cluster_with_topic(false);
        metadata
            .create_topic("u", 1, 3, TopicConfig::default())
            .unwrap();
        for id in [3, 2, 1] {
            metadata.fence_broker(BrokerId(id)).unwrap();
        }
        // Both partitions are offline with isr [1]; broker 3, outside both ISRs, comes back.
        let u0 = TopicPartition::new("u", 0);
        assert_eq!(metadata.partition(&u0).unwrap().isr(), ids(&[1]));
        assert!(
            metadata
                .heartbeat(BrokerId(3), Millis(10))
                .unwrap()
                .is_empty()
        );
        let u0_before = metadata.partition(&u0).unwrap().clone();

        let changes = metadata.alter_topic_config("t", unclean(true)).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].topic_partition, t0());
        assert_eq!(metadata.partition(&u0), Some(&u0_before));
    }

    #[test]
    fn disabling_unclean_election_changes_no_partition() {
        let mut metadata = offline_cluster(true);
        // The returning follower is elected uncleanly while the config is on.
        let elected = metadata.heartbeat(BrokerId(2), Millis(10)).unwrap();
        assert!(elected[0].unclean_election);
        let before = metadata.partition(&t0()).unwrap().clone();

        let changes = metadata.alter_topic_config("t", unclean(false)).unwrap();
        assert!(changes.is_empty());
        assert_eq!(metadata.partition(&t0()), Some(&before));
        assert_eq!(before.leader(), Some(BrokerId(2)));
        assert!(
            !metadata
                .topic("t")
                .unwrap()
                .config()
                .unclean_leader_election
        );
    }

    #[test]
    fn changing_min_insync_replicas_changes_no_partition() {
        let mut metadata = cluster_with_topic(false);
        let before = metadata.partition(&t0()).unwrap().clone();
        let changes = metadata
            .alter_topic_config("t", min_insync_replicas(3))
            .unwrap();
        assert!(changes.is_empty());
        assert_eq!(metadata.partition(&t0()), Some(&before));
        let config = metadata.topic("t").unwrap().config();
        assert_eq!(config.min_insync_replicas, 3);
        assert!(!config.unclean_leader_election);
    }

    #[test]
    fn min_insync_replicas_above_the_replication_factor_is_accepted() {
        let mut metadata = cluster_with_topic(false);
        metadata
            .alter_topic_config("t", min_insync_replicas(4))
            .unwrap();
        let topic = metadata.topic("t").unwrap();
        assert_eq!(topic.replication_factor(), 3);
        assert_eq!(topic.config().min_insync_replicas, 4);
    }

    #[test]
    fn min_insync_replicas_of_zero_is_invalid() {
        let mut metadata = cluster_with_topic(false);
        let error = metadata
            .alter_topic_config("t", min_insync_replicas(0))
            .unwrap_err();
        assert_eq!(
            error,
            AlterConfigError::InvalidMinInsyncReplicas {
                topic: "t".to_string(),
                min_insync_replicas: 0
            }
        );
        assert_eq!(error.kafka_error().code(), 40);
        assert_eq!(
            error.to_string(),
            "invalid min_insync_replicas 0 for topic t: must be at least 1"
        );
        assert_eq!(metadata.topic("t").unwrap().config().min_insync_replicas, 2);
    }

    #[test]
    fn a_refused_change_applies_neither_field() {
        let mut metadata = offline_cluster(false);
        metadata.heartbeat(BrokerId(2), Millis(10)).unwrap();
        let before = metadata.partition(&t0()).unwrap().clone();
        let change = TopicConfigChange {
            min_insync_replicas: Some(0),
            unclean_leader_election: Some(true),
        };
        assert!(metadata.alter_topic_config("t", change).is_err());
        assert_eq!(
            metadata.topic("t").unwrap().config(),
            TopicConfig {
                min_insync_replicas: 2,
                unclean_leader_election: false
            }
        );
        assert_eq!(metadata.partition(&t0()), Some(&before));
    }

    #[test]
    fn an_empty_change_changes_nothing() {
        let mut metadata = cluster_with_topic(true);
        let before = metadata.topic("t").unwrap().clone();
        let changes = metadata
            .alter_topic_config("t", TopicConfigChange::default())
            .unwrap();
        assert!(changes.is_empty());
        assert_eq!(metadata.topic("t"), Some(&before));
    }

    #[test]
    fn unknown_topic_is_refused() {
        let mut metadata = cluster_with_topic(false);
        let error = metadata
            .alter_topic_config("nope", unclean(true))
            .unwrap_err();
        assert_eq!(
            error,
            AlterConfigError::UnknownTopic {
                topic: "nope".to_string()
            }
        );
        assert_eq!(error.kafka_error().code(), 3);
        assert_eq!(error.to_string(), "unknown topic nope");
        assert!(metadata.topic("nope").is_none());
    }

    #[test]
    fn enabling_unclean_election_on_an_online_topic_changes_no_partition() {
        let mut metadata = cluster_with_topic(false);
        assert!(
            metadata
                .alter_topic_config("t", unclean(true))
                .unwrap()
                .is_empty()
        );
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.partition_epoch(), PartitionEpoch(0));
        assert_eq!(partition.leader(), Some(BrokerId(1)));
    }
}
