//! A leader's ISR proposal (Kafka's AlterPartition), accepted or refused by the controller.
//! Leaders only propose ISR changes; the controller commits them, so two leaders, or a leader
//! and a fencing, can never both change an ISR built on the same version.
//!
//! Checked in Kafka's order, the first failure refusing the proposal:
//! 1. the partition exists (UNKNOWN_TOPIC_OR_PARTITION);
//! 2. the proposer is the current leader (NOT_LEADER_OR_FOLLOWER);
//! 3. its leader epoch is the current one (FENCED_LEADER_EPOCH);
//! 4. its partition epoch is the current one: it has seen every change (INVALID_UPDATE_VERSION);
//! 5. the new ISR names each broker once and holds the leader (INVALID_REQUEST);
//! 6. every member is a replica and not fenced (INELIGIBLE_REPLICA).

use serde::{Deserialize, Serialize};

use crate::controller::metadata::{ClusterMetadata, PartitionChange};
use crate::error::{AlterIsrError, Ineligibility};
use crate::types::{BrokerId, LeaderEpoch, PartitionEpoch, TopicPartition};

/// An ISR change a leader asks the controller to commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrProposal {
    /// The broker proposing: it must be the leader.
    pub leader: BrokerId,
    /// The leader epoch the proposer leads in.
    #[serde(with = "crate::types::leader_epoch_serde")]
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch of the state the proposal was built on.
    pub partition_epoch: PartitionEpoch,
    pub new_isr: Vec<BrokerId>,
}

impl ClusterMetadata {
    /// Accepts or refuses `proposal` for `topic_partition`. On acceptance the ISR becomes the
    /// proposed one (in replica order) and the partition epoch is bumped. A proposal of the ISR
    /// as it already is bumps the partition epoch too: it is how a leader makes every proposal
    /// it sent earlier stale (one refused for a fenced replica could otherwise still be applied
    /// if a delayed copy arrives after the replica is back), so it can stop counting them in
    /// its high watermark. A refusal leaves the partition as it was.
    pub fn alter_isr(
        &mut self,
        topic_partition: &TopicPartition,
        proposal: &IsrProposal,
    ) -> Result<PartitionChange, AlterIsrError> {
        self.validate_isr_proposal(topic_partition, proposal)?;
        let topic = self
            .topics
            .get_mut(&topic_partition.topic)
            .expect("validated partition exists");
        let partition = &mut topic.partitions[topic_partition.partition as usize];
        if !partition.change(partition.leader, proposal.new_isr.clone()) {
            partition.partition_epoch = partition.partition_epoch.next();
        }
        let change = PartitionChange {
            topic_partition: topic_partition.clone(),
            partition: partition.clone(),
            unclean_election: false,
        };
        self.debug_check_invariants();
        Ok(change)
    }

    fn validate_isr_proposal(
        &self,
        topic_partition: &TopicPartition,
        proposal: &IsrProposal,
    ) -> Result<(), AlterIsrError> {
        let topic_partition_owned = || topic_partition.clone();
        let partition = self.partition(topic_partition).ok_or_else(|| {
            AlterIsrError::UnknownTopicOrPartition {
                topic_partition: topic_partition_owned(),
            }
        })?;
        if partition.leader() != Some(proposal.leader) {
            return Err(AlterIsrError::NotLeader {
                topic_partition: topic_partition_owned(),
                proposer: proposal.leader,
                leader: partition.leader(),
            });
        }
        if proposal.leader_epoch != partition.leader_epoch() {
            return Err(AlterIsrError::FencedLeaderEpoch {
                topic_partition: topic_partition_owned(),
                proposed: proposal.leader_epoch,
                current: partition.leader_epoch(),
            });
        }
        if proposal.partition_epoch != partition.partition_epoch() {
            return Err(AlterIsrError::StalePartitionEpoch {
                topic_partition: topic_partition_owned(),
                proposed: proposal.partition_epoch,
                current: partition.partition_epoch(),
            });
        }
        let new_isr = &proposal.new_isr;
        for (index, member) in new_isr.iter().enumerate() {
            if new_isr[..index].contains(member) {
                return Err(AlterIsrError::DuplicateIsrMember {
                    topic_partition: topic_partition_owned(),
                    broker: *member,
                });
            }
        }
        if !new_isr.contains(&proposal.leader) {
            return Err(AlterIsrError::IsrWithoutLeader {
                topic_partition: topic_partition_owned(),
                leader: proposal.leader,
            });
        }
        for &member in new_isr {
            let reason = if !partition.replicas().contains(&member) {
                Some(Ineligibility::NotAReplica)
            } else if !self.is_live(member) {
                Some(Ineligibility::Fenced)
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(AlterIsrError::IneligibleReplica {
                    topic_partition: topic_partition_owned(),
                    broker: member,
                    reason,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_cluster::{cluster_with_topic, ids, t0};

    fn proposal(metadata: &ClusterMetadata, new_isr: &[u32]) -> IsrProposal {
        let partition = metadata.partition(&t0()).unwrap();
        IsrProposal {
            leader: partition.leader().unwrap(),
            leader_epoch: partition.leader_epoch(),
            partition_epoch: partition.partition_epoch(),
            new_isr: ids(new_isr),
        }
    }

    #[test]
    fn isr_proposal_from_the_current_leader_is_committed() {
        let mut metadata = cluster_with_topic(false);
        let change = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[3, 1]))
            .unwrap();
        assert_eq!(change.partition.isr(), ids(&[1, 3]));
        assert_eq!(change.partition.partition_epoch(), PartitionEpoch(1));
        assert_eq!(change.partition.leader_epoch(), LeaderEpoch(0));
        assert_eq!(metadata.partition(&t0()), Some(&change.partition));
    }

    #[test]
    fn isr_proposal_adding_a_caught_up_replica_back_is_committed() {
        let mut metadata = cluster_with_topic(false);
        metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1]))
            .unwrap();
        let change = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 2]))
            .unwrap();
        assert_eq!(change.partition.isr(), ids(&[1, 2]));
        assert_eq!(change.partition.partition_epoch(), PartitionEpoch(2));
    }

    #[test]
    fn isr_proposal_of_the_current_isr_only_bumps_the_partition_epoch() {
        let mut metadata = cluster_with_topic(false);
        let change = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 2, 3]))
            .unwrap();
        assert_eq!(change.partition.isr(), ids(&[1, 2, 3]));
        assert_eq!(change.partition.partition_epoch(), PartitionEpoch(1));
    }

    #[test]
    fn isr_proposal_with_stale_partition_epoch_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let stale = proposal(&metadata, &[1, 2]);
        metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 3]))
            .unwrap();
        let error = metadata.alter_isr(&t0(), &stale).unwrap_err();
        assert_eq!(
            error,
            AlterIsrError::StalePartitionEpoch {
                topic_partition: t0(),
                proposed: PartitionEpoch(0),
                current: PartitionEpoch(1)
            }
        );
        assert_eq!(error.kafka_error().name(), "INVALID_UPDATE_VERSION");
        assert_eq!(metadata.partition(&t0()).unwrap().isr(), ids(&[1, 3]));
    }

    #[test]
    fn isr_proposal_with_stale_leader_epoch_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let mut stale = proposal(&metadata, &[1, 2]);
        stale.leader_epoch = LeaderEpoch(7);
        let error = metadata.alter_isr(&t0(), &stale).unwrap_err();
        assert_eq!(error.kafka_error().code(), 74);
    }

    #[test]
    fn isr_proposal_from_a_deposed_leader_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let old = proposal(&metadata, &[1, 2]);
        metadata.fence_broker(BrokerId(1)).unwrap();
        let error = metadata.alter_isr(&t0(), &old).unwrap_err();
        assert_eq!(
            error,
            AlterIsrError::NotLeader {
                topic_partition: t0(),
                proposer: BrokerId(1),
                leader: Some(BrokerId(2))
            }
        );
        assert_eq!(error.kafka_error().code(), 6);
    }

    #[test]
    fn isr_proposal_adding_a_fenced_broker_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        metadata.fence_broker(BrokerId(3)).unwrap();
        let error = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 2, 3]))
            .unwrap_err();
        assert_eq!(
            error,
            AlterIsrError::IneligibleReplica {
                topic_partition: t0(),
                broker: BrokerId(3),
                reason: Ineligibility::Fenced
            }
        );
        assert_eq!(error.kafka_error().code(), 107);
    }

    #[test]
    fn isr_proposal_adding_a_non_replica_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        metadata
            .register_broker(BrokerId(4), None, crate::types::Millis(0))
            .unwrap();
        let error = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 4]))
            .unwrap_err();
        assert_eq!(
            error,
            AlterIsrError::IneligibleReplica {
                topic_partition: t0(),
                broker: BrokerId(4),
                reason: Ineligibility::NotAReplica
            }
        );
    }

    #[test]
    fn isr_proposal_without_the_leader_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let error = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[2, 3]))
            .unwrap_err();
        assert_eq!(
            error,
            AlterIsrError::IsrWithoutLeader {
                topic_partition: t0(),
                leader: BrokerId(1)
            }
        );
        assert_eq!(error.kafka_error().code(), 42);
    }

    #[test]
    fn isr_proposal_naming_a_broker_twice_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let error = metadata
            .alter_isr(&t0(), &proposal(&metadata, &[1, 2, 1]))
            .unwrap_err();
        assert_eq!(error.kafka_error().code(), 42);
    }

    #[test]
    fn isr_proposal_for_an_unknown_partition_is_rejected() {
        let mut metadata = cluster_with_topic(false);
        let error = metadata
            .alter_isr(&TopicPartition::new("t", 1), &proposal(&metadata, &[1]))
            .unwrap_err();
        assert_eq!(error.kafka_error().code(), 3);
    }
}
