//! Broker lifecycle on [`ClusterMetadata`]: registration, heartbeats, fencing on a silent
//! session and unfencing on a heartbeat, with the partition changes each one causes.
//!
//! Fencing a broker:
//! - removes it from every ISR it is in, except where it is the last member: there it stays
//!   (classic KRaft, without ELR), so the ISR still names who holds every committed record;
//! - re-elects every partition it led by the election rule, bumping the leader epoch; a
//!   partition with no eligible live replica goes offline (leader none).
//!
//! Unfencing a broker elects leaders for the offline partitions it makes electable.

use crate::controller::election::{Election, elect_leader};
use crate::controller::liveness;
use crate::controller::metadata::{Broker, ClusterMetadata, Partition, PartitionChange};
use crate::error::BrokerError;
use crate::types::{BrokerId, Millis, Rack, TopicPartition};

/// What a [`ClusterMetadata::tick`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// Brokers whose session expired, fenced in id order.
    pub fenced: Vec<BrokerId>,
    /// The partition changes the fencing caused, in the order they were made.
    pub changes: Vec<PartitionChange>,
}

impl ClusterMetadata {
    /// Registers a broker. Registration counts as its first heartbeat: it starts unfenced.
    pub fn register_broker(
        &mut self,
        id: BrokerId,
        rack: Option<Rack>,
        now: Millis,
    ) -> Result<(), BrokerError> {
        if self.brokers.contains_key(&id) {
            return Err(BrokerError::DuplicateRegistration { broker: id });
        }
        let broker = Broker {
            id,
            rack,
            fenced: false,
            last_heartbeat: now,
        };
        self.brokers.insert(id, broker);
        self.debug_check_invariants();
        Ok(())
    }

    /// Sets the rack of a registered broker, as a new life of it registers: placement of later
    /// topics reads it; no partition changes.
    pub fn set_broker_rack(&mut self, id: BrokerId, rack: Option<Rack>) -> Result<(), BrokerError> {
        self.broker_mut(id)?.rack = rack;
        Ok(())
    }

    /// Records a heartbeat from `id` at `now`. A fenced broker is unfenced by it, and the
    /// leaders its return makes electable are elected.
    pub fn heartbeat(
        &mut self,
        id: BrokerId,
        now: Millis,
    ) -> Result<Vec<PartitionChange>, BrokerError> {
        let broker = self.broker_mut(id)?;
        if broker.fenced {
            return self.unfence_broker(id, now);
        }
        broker.last_heartbeat = broker.last_heartbeat.max(now);
        Ok(Vec::new())
    }

    /// Fences every unfenced broker whose session has expired at `now`.
    pub fn tick(&mut self, now: Millis) -> TickOutcome {
        let unfenced = self
            .brokers
            .values()
            .filter(|broker| !broker.fenced)
            .map(|broker| (broker.id, broker.last_heartbeat));
        let expired = liveness::expired_sessions(unfenced, now, &self.liveness);
        let mut outcome = TickOutcome::default();
        for id in expired {
            let changes = self
                .fence_broker(id)
                .expect("an expired broker is registered");
            outcome.fenced.push(id);
            outcome.changes.extend(changes);
        }
        outcome
    }

    /// Fences `id`: it leaves every ISR it is not the last member of and every partition it led
    /// is re-elected. Fencing a fenced broker changes nothing.
    pub fn fence_broker(&mut self, id: BrokerId) -> Result<Vec<PartitionChange>, BrokerError> {
        let broker = self.broker_mut(id)?;
        if broker.fenced {
            return Ok(Vec::new());
        }
        broker.fenced = true;
        let mut changes = Vec::new();
        let brokers = &self.brokers;
        let is_live = |broker: BrokerId| brokers.get(&broker).is_some_and(|b| !b.fenced);
        for topic in self.topics.values_mut() {
            let unclean_allowed = topic.config.unclean_leader_election;
            for (index, partition) in (0..).zip(topic.partitions.iter_mut()) {
                if let Some(unclean_election) =
                    fence_in_partition(partition, id, is_live, unclean_allowed)
                {
                    changes.push(PartitionChange {
                        topic_partition: TopicPartition::new(topic.name.clone(), index),
                        partition: partition.clone(),
                        unclean_election,
                    });
                }
            }
        }
        self.debug_check_invariants();
        Ok(changes)
    }

    /// Unfences `id` as of a heartbeat at `now`, then elects leaders for the offline partitions
    /// that can now have one. Unfencing a live broker only records the heartbeat.
    pub fn unfence_broker(
        &mut self,
        id: BrokerId,
        now: Millis,
    ) -> Result<Vec<PartitionChange>, BrokerError> {
        let broker = self.broker_mut(id)?;
        broker.last_heartbeat = broker.last_heartbeat.max(now);
        if !broker.fenced {
            return Ok(Vec::new());
        }
        broker.fenced = false;
        Ok(self.elect_leaders_for_offline())
    }

    /// Runs the election rule for every offline partition and commits those that elect a
    /// leader. A clean election keeps the ISR (its one member now leads); an unclean one makes
    /// the new leader the whole ISR, as Kafka does.
    pub fn elect_leaders_for_offline(&mut self) -> Vec<PartitionChange> {
        let mut changes = Vec::new();
        let brokers = &self.brokers;
        let is_live = |broker: BrokerId| brokers.get(&broker).is_some_and(|b| !b.fenced);
        for topic in self.topics.values_mut() {
            let unclean_allowed = topic.config.unclean_leader_election;
            for (index, partition) in (0..).zip(topic.partitions.iter_mut()) {
                if partition.leader.is_some() {
                    continue;
                }
                let election = elect_leader(
                    &partition.replicas,
                    &partition.isr,
                    is_live,
                    unclean_allowed,
                );
                if let Election::Elected { leader, unclean } = election {
                    let isr = if unclean {
                        vec![leader]
                    } else {
                        partition.isr.clone()
                    };
                    partition.change(Some(leader), isr);
                    changes.push(PartitionChange {
                        topic_partition: TopicPartition::new(topic.name.clone(), index),
                        partition: partition.clone(),
                        unclean_election: unclean,
                    });
                }
            }
        }
        self.debug_check_invariants();
        changes
    }

    fn broker_mut(&mut self, id: BrokerId) -> Result<&mut Broker, BrokerError> {
        self.brokers
            .get_mut(&id)
            .ok_or(BrokerError::NotRegistered { broker: id })
    }
}

/// Applies the fencing of `fenced` (already marked fenced in `is_live`) to one partition.
/// Returns `None` if the partition did not change, else whether its new leader was elected
/// uncleanly.
fn fence_in_partition(
    partition: &mut Partition,
    fenced: BrokerId,
    is_live: impl Fn(BrokerId) -> bool,
    unclean_allowed: bool,
) -> Option<bool> {
    let in_isr = partition.isr.contains(&fenced);
    let led = partition.leader == Some(fenced);
    if !in_isr && !led {
        return None;
    }
    let mut isr = partition.isr.clone();
    if isr.len() > 1 {
        isr.retain(|&member| member != fenced);
    }
    let mut leader = partition.leader;
    let mut unclean = false;
    if led {
        match elect_leader(&partition.replicas, &isr, is_live, unclean_allowed) {
            Election::Elected {
                leader: elected,
                unclean: elected_uncleanly,
            } => {
                leader = Some(elected);
                unclean = elected_uncleanly;
                if unclean {
                    isr = vec![elected];
                }
            }
            Election::Offline => leader = None,
        }
    }
    partition.change(leader, isr).then_some(unclean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_cluster::{cluster, cluster_with_topic, ids, t0};
    use crate::types::{LeaderEpoch, PartitionEpoch};

    #[test]
    fn silent_broker_is_fenced_after_the_session_timeout() {
        let mut metadata = cluster(3);
        for id in [1, 2] {
            metadata.heartbeat(BrokerId(id), Millis(5000)).unwrap();
        }
        // Broker 3 was last heard from at 0: alive at exactly 9000 ms, fenced just after.
        assert!(metadata.tick(Millis(9000)).fenced.is_empty());
        let outcome = metadata.tick(Millis(9001));
        assert_eq!(outcome.fenced, ids(&[3]));
        assert!(metadata.broker(BrokerId(3)).unwrap().is_fenced());
        assert!(metadata.is_live(BrokerId(1)));
    }

    #[test]
    fn tick_fences_a_broker_once() {
        let mut metadata = cluster(1);
        assert_eq!(metadata.tick(Millis(20_000)).fenced, ids(&[1]));
        assert_eq!(metadata.tick(Millis(40_000)), TickOutcome::default());
    }

    #[test]
    fn fencing_a_follower_removes_it_from_the_isr_and_keeps_the_leader_epoch() {
        let mut metadata = cluster_with_topic(false);
        let changes = metadata.fence_broker(BrokerId(2)).unwrap();
        assert_eq!(changes.len(), 1);
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.isr(), ids(&[1, 3]));
        assert_eq!(partition.leader(), Some(BrokerId(1)));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(0));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(1));
    }

    #[test]
    fn fencing_the_leader_elects_a_new_one_and_bumps_the_leader_epoch() {
        let mut metadata = cluster_with_topic(false);
        let changes = metadata.fence_broker(BrokerId(1)).unwrap();
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(2)));
        assert_eq!(partition.isr(), ids(&[2, 3]));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(1));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(1));
        assert_eq!(changes[0].partition, *partition);
        assert!(!changes[0].unclean_election);
    }

    #[test]
    fn fencing_the_last_isr_member_keeps_it_in_the_isr_and_goes_offline() {
        let mut metadata = cluster_with_topic(false);
        metadata.fence_broker(BrokerId(2)).unwrap();
        metadata.fence_broker(BrokerId(3)).unwrap();
        metadata.fence_broker(BrokerId(1)).unwrap();
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), None);
        assert_eq!(partition.isr(), ids(&[1]));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(1));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(3));
    }

    #[test]
    fn fencing_a_broker_outside_every_isr_changes_no_partition() {
        let mut metadata = cluster_with_topic(false);
        metadata
            .register_broker(BrokerId(4), None, Millis(0))
            .unwrap();
        assert!(metadata.fence_broker(BrokerId(4)).unwrap().is_empty());
    }

    #[test]
    fn fencing_a_fenced_broker_changes_nothing() {
        let mut metadata = cluster_with_topic(false);
        metadata.fence_broker(BrokerId(2)).unwrap();
        assert!(metadata.fence_broker(BrokerId(2)).unwrap().is_empty());
    }

    #[test]
    fn heartbeat_unfences_and_offline_partitions_get_a_leader() {
        let mut metadata = cluster_with_topic(false);
        for id in [2, 3, 1] {
            metadata.fence_broker(BrokerId(id)).unwrap();
        }
        // A replica outside the ISR coming back does not make the partition electable.
        assert!(
            metadata
                .heartbeat(BrokerId(2), Millis(100))
                .unwrap()
                .is_empty()
        );
        assert!(metadata.is_live(BrokerId(2)));
        let changes = metadata.heartbeat(BrokerId(1), Millis(200)).unwrap();
        assert_eq!(changes.len(), 1);
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(1)));
        assert_eq!(partition.isr(), ids(&[1]));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(2));
        assert!(!changes[0].unclean_election);
    }

    #[test]
    fn an_unfenced_broker_does_not_rejoin_the_isr_by_itself() {
        let mut metadata = cluster_with_topic(false);
        metadata.fence_broker(BrokerId(3)).unwrap();
        assert!(
            metadata
                .heartbeat(BrokerId(3), Millis(10))
                .unwrap()
                .is_empty()
        );
        assert_eq!(metadata.partition(&t0()).unwrap().isr(), ids(&[1, 2]));
    }

    #[test]
    fn heartbeat_restarts_the_session() {
        let mut metadata = cluster(1);
        metadata.heartbeat(BrokerId(1), Millis(8000)).unwrap();
        assert!(metadata.tick(Millis(17_000)).fenced.is_empty());
        assert_eq!(metadata.tick(Millis(17_001)).fenced, ids(&[1]));
    }

    #[test]
    fn heartbeat_from_an_unregistered_broker_is_refused() {
        let mut metadata = cluster(1);
        let error = metadata.heartbeat(BrokerId(9), Millis(0)).unwrap_err();
        assert_eq!(
            error,
            BrokerError::NotRegistered {
                broker: BrokerId(9)
            }
        );
        assert_eq!(error.kafka_error().code(), 102);
    }

    #[test]
    fn setting_a_rack_changes_no_partition_and_is_refused_for_an_unknown_broker() {
        let mut metadata = cluster_with_topic(false);
        let before = metadata.partition(&t0()).unwrap().clone();
        let rack = Some(Rack("b".to_string()));
        metadata.set_broker_rack(BrokerId(2), rack.clone()).unwrap();
        assert_eq!(metadata.broker(BrokerId(2)).unwrap().rack(), rack.as_ref());
        assert_eq!(metadata.partition(&t0()).unwrap(), &before);
        let error = metadata.set_broker_rack(BrokerId(9), None).unwrap_err();
        assert_eq!(error.kafka_error().code(), 102);
    }

    #[test]
    fn registering_a_broker_twice_is_refused() {
        let mut metadata = cluster(1);
        let error = metadata
            .register_broker(BrokerId(1), None, Millis(0))
            .unwrap_err();
        assert_eq!(error.kafka_error().code(), 101);
    }

    #[test]
    fn unclean_election_on_fencing_makes_the_new_leader_the_whole_isr() {
        let mut metadata = cluster_with_topic(true);
        metadata.fence_broker(BrokerId(2)).unwrap();
        metadata.fence_broker(BrokerId(3)).unwrap();
        // Broker 2 returns but stays out of the ISR; then the leader dies.
        metadata.heartbeat(BrokerId(2), Millis(1)).unwrap();
        let changes = metadata.fence_broker(BrokerId(1)).unwrap();
        assert!(changes[0].unclean_election);
        let partition = metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(2)));
        assert_eq!(partition.isr(), ids(&[2]));
    }

    /// The seeds' scenario at the metadata level: RF 3, both followers fenced so the ISR shrinks
    /// to the leader, then the leader fenced. With unclean election off the partition goes
    /// offline; with it on, a stale follower that comes back is elected and the change flagged.
    #[test]
    fn seeds_scenario_offline_when_clean_and_stale_follower_leads_when_unclean() {
        for unclean_leader_election in [false, true] {
            let mut metadata = cluster_with_topic(unclean_leader_election);
            metadata.fence_broker(BrokerId(2)).unwrap();
            metadata.fence_broker(BrokerId(3)).unwrap();
            assert_eq!(metadata.partition(&t0()).unwrap().isr(), ids(&[1]));
            let changes = metadata.fence_broker(BrokerId(1)).unwrap();
            let partition = metadata.partition(&t0()).unwrap();
            assert_eq!(partition.leader(), None);
            assert_eq!(partition.isr(), ids(&[1]));
            assert!(!changes[0].unclean_election);

            let changes = metadata.heartbeat(BrokerId(3), Millis(100)).unwrap();
            let partition = metadata.partition(&t0()).unwrap();
            if unclean_leader_election {
                assert_eq!(changes.len(), 1);
                assert!(changes[0].unclean_election);
                assert_eq!(partition.leader(), Some(BrokerId(3)));
                assert_eq!(partition.isr(), ids(&[3]));
                assert_eq!(partition.leader_epoch(), LeaderEpoch(2));
            } else {
                assert!(changes.is_empty());
                assert_eq!(partition.leader(), None);
            }
        }
    }
}
