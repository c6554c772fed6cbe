//! Property tests of the controller's rules: random sequences of broker, topic, ISR and topic
//! config operations keep the metadata's invariants, epochs only grow, and a leader is always a
//! live ISR member that came from the previous ISR unless its election was flagged unclean.
//! Placement over random brokers and racks always yields distinct brokers, and distinct racks
//! when there are enough racks.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use ringlog_replication::controller::{
    ClusterMetadata, IsrProposal, LivenessConfig, Partition, PartitionChange, PlacementBroker,
    Topic, TopicConfig, TopicConfigChange, assign_replicas,
};
use ringlog_replication::{BrokerId, Millis, Rack, TopicPartition};

const BROKER_COUNT: u32 = 5;
const SESSION_TIMEOUT_MS: u64 = 1000;

#[derive(Clone, Debug)]
enum Operation {
    Fence {
        broker: u32,
    },
    Heartbeat {
        broker: u32,
        advance_ms: u64,
    },
    Tick {
        advance_ms: u64,
    },
    CreateTopic {
        partitions: u32,
        replication_factor: u16,
        unclean: bool,
    },
    AlterIsr {
        pick: usize,
        members: u8,
        staleness: Staleness,
    },
    AlterConfig {
        pick: usize,
        change: TopicConfigChange,
    },
}

/// How a generated ISR proposal departs from the current state.
#[derive(Clone, Copy, Debug)]
enum Staleness {
    Current,
    OldPartitionEpoch,
    OldLeaderEpoch,
    NotTheLeader,
}

fn operation() -> impl Strategy<Value = Operation> {
    let staleness = prop_oneof![
        4 => Just(Staleness::Current),
        1 => Just(Staleness::OldPartitionEpoch),
        1 => Just(Staleness::OldLeaderEpoch),
        1 => Just(Staleness::NotTheLeader),
    ];
    prop_oneof![
        2 => (1..=BROKER_COUNT).prop_map(|broker| Operation::Fence { broker }),
        3 => (1..=BROKER_COUNT, 0..600u64)
            .prop_map(|(broker, advance_ms)| Operation::Heartbeat { broker, advance_ms }),
        2 => (0..1500u64).prop_map(|advance_ms| Operation::Tick { advance_ms }),
        1 => (1..4u32, 1..=4u16, any::<bool>()).prop_map(|(partitions, replication_factor, unclean)| {
            Operation::CreateTopic { partitions, replication_factor, unclean }
        }),
        4 => (any::<usize>(), any::<u8>(), staleness)
            .prop_map(|(pick, members, staleness)| Operation::AlterIsr { pick, members, staleness }),
        2 => (any::<usize>(), prop::option::of(0..4u16), prop::option::of(any::<bool>()))
            .prop_map(|(pick, min_insync_replicas, unclean_leader_election)| {
                let change = TopicConfigChange { min_insync_replicas, unclean_leader_election };
                Operation::AlterConfig { pick, change }
            }),
    ]
}

struct Run {
    metadata: ClusterMetadata,
    now: Millis,
    topics_created: usize,
}

impl Run {
    fn new(racks: &[Option<u8>]) -> Run {
        let mut metadata = ClusterMetadata::new(LivenessConfig::from_broker_session_timeout_ms(
            SESSION_TIMEOUT_MS,
        ));
        for (id, rack) in (1..=BROKER_COUNT).zip(racks) {
            let rack = rack.map(|rack| Rack(format!("rack-{rack}")));
            metadata
                .register_broker(BrokerId(id), rack, Millis(0))
                .unwrap();
        }
        Run {
            metadata,
            now: Millis(0),
            topics_created: 0,
        }
    }

    /// Applies one operation and returns the partition changes it reported.
    fn apply(&mut self, operation: &Operation) -> Vec<PartitionChange> {
        match *operation {
            Operation::Fence { broker } => self.metadata.fence_broker(BrokerId(broker)).unwrap(),
            Operation::Heartbeat { broker, advance_ms } => {
                self.now = Millis(self.now.0 + advance_ms);
                self.metadata.heartbeat(BrokerId(broker), self.now).unwrap()
            }
            Operation::Tick { advance_ms } => {
                self.now = Millis(self.now.0 + advance_ms);
                let outcome = self.metadata.tick(self.now);
                for broker in &outcome.fenced {
                    assert!(self.metadata.broker(*broker).unwrap().is_fenced());
                }
                outcome.changes
            }
            Operation::CreateTopic {
                partitions,
                replication_factor,
                unclean,
            } => {
                let name = format!("topic-{}", self.topics_created);
                let config = TopicConfig {
                    min_insync_replicas: 1,
                    unclean_leader_election: unclean,
                };
                let live = self
                    .metadata
                    .brokers()
                    .filter(|broker| !broker.is_fenced())
                    .count();
                let result =
                    self.metadata
                        .create_topic(&name, partitions, replication_factor, config);
                assert_eq!(
                    result.is_ok(),
                    usize::from(replication_factor) <= live,
                    "{result:?}"
                );
                self.topics_created += 1;
                result.unwrap_or_default()
            }
            Operation::AlterIsr {
                pick,
                members,
                staleness,
            } => self.alter_isr(pick, members, staleness),
            Operation::AlterConfig { pick, change } => self.alter_config(pick, change),
        }
    }

    /// Changes the config of a created topic, or of a name no topic has (a failed creation's).
    fn alter_config(&mut self, pick: usize, change: TopicConfigChange) -> Vec<PartitionChange> {
        let name = format!("topic-{}", pick % (self.topics_created + 1));
        let before = self.metadata.topic(&name).map(Topic::config);
        let result = self.metadata.alter_topic_config(&name, change);
        let after = self.metadata.topic(&name).map(Topic::config);
        let valid = before.is_some() && change.min_insync_replicas != Some(0);
        assert_eq!(result.is_ok(), valid, "{name}: {change:?} gave {result:?}");
        assert_eq!(
            after,
            if valid {
                before.map(|config| change.applied_to(config))
            } else {
                before
            }
        );
        let changes = result.unwrap_or_default();
        if change.unclean_leader_election != Some(true) {
            assert!(changes.is_empty(), "{name}: {change:?} changed {changes:?}");
        }
        changes
    }

    fn alter_isr(
        &mut self,
        pick: usize,
        members: u8,
        staleness: Staleness,
    ) -> Vec<PartitionChange> {
        let partitions: Vec<(TopicPartition, Partition)> = self
            .metadata
            .partitions()
            .map(|(topic_partition, partition)| (topic_partition, partition.clone()))
            .collect();
        if partitions.is_empty() {
            return Vec::new();
        }
        let (topic_partition, before) = &partitions[pick % partitions.len()];
        let Some(leader) = before.leader() else {
            return Vec::new();
        };
        // Mostly the leader plus a random subset of the replicas; bit 7 drops the leader.
        let mut new_isr: Vec<BrokerId> = before
            .replicas()
            .iter()
            .enumerate()
            .filter(|&(index, &replica)| {
                (replica == leader && members & 0x80 == 0) || members & (1 << index) != 0
            })
            .map(|(_, &replica)| replica)
            .collect();
        new_isr.dedup();
        let mut proposal = IsrProposal {
            leader,
            leader_epoch: before.leader_epoch(),
            partition_epoch: before.partition_epoch(),
            new_isr: new_isr.clone(),
        };
        let honest = match staleness {
            Staleness::Current => true,
            Staleness::OldPartitionEpoch => {
                proposal.partition_epoch.0 = proposal.partition_epoch.0.wrapping_sub(1);
                false
            }
            Staleness::OldLeaderEpoch => {
                proposal.leader_epoch.0 = proposal.leader_epoch.0.wrapping_sub(1);
                false
            }
            Staleness::NotTheLeader => {
                proposal.leader = BrokerId(leader.0 % BROKER_COUNT + 1);
                false
            }
        };
        let eligible = new_isr.contains(&leader)
            && new_isr.iter().all(|&member| self.metadata.is_live(member));
        match self.metadata.alter_isr(topic_partition, &proposal) {
            Ok(change) => {
                assert!(honest && eligible, "accepted {proposal:?} over {before:?}");
                let mut sorted_isr = change.partition.isr().to_vec();
                sorted_isr.sort_unstable();
                let mut proposed = new_isr;
                proposed.sort_unstable();
                assert_eq!(sorted_isr, proposed);
                vec![change]
            }
            Err(error) => {
                assert!(
                    !(honest && eligible),
                    "refused {proposal:?} over {before:?}: {error}"
                );
                assert_eq!(self.metadata.partition(topic_partition), Some(before));
                Vec::new()
            }
        }
    }
}

fn snapshot(metadata: &ClusterMetadata) -> BTreeMap<TopicPartition, Partition> {
    metadata
        .partitions()
        .map(|(topic_partition, partition)| (topic_partition, partition.clone()))
        .collect()
}

/// The rules that hold between two states and the changes reported for the step between them.
fn check_step(
    before: &BTreeMap<TopicPartition, Partition>,
    metadata: &ClusterMetadata,
    changes: &[PartitionChange],
) {
    metadata.check_invariants();
    let after = snapshot(metadata);
    for (topic_partition, old) in before {
        let new = &after[topic_partition];
        assert!(
            new.leader_epoch() >= old.leader_epoch(),
            "{topic_partition}: leader epoch fell"
        );
        assert!(
            new.partition_epoch() >= old.partition_epoch(),
            "{topic_partition}: partition epoch fell"
        );
        if new.leader() != old.leader() {
            assert!(
                new.leader_epoch() > old.leader_epoch(),
                "{topic_partition}: same leader epoch"
            );
        }
        if new != old {
            assert!(
                new.partition_epoch() > old.partition_epoch(),
                "{topic_partition}: same epoch"
            );
        }
    }
    for (topic_partition, partition) in &after {
        if let Some(leader) = partition.leader() {
            assert!(
                metadata.is_live(leader),
                "{topic_partition}: leader {leader} fenced"
            );
            assert!(
                partition.isr().contains(&leader),
                "{topic_partition}: leader not in isr"
            );
        }
    }
    // Replaying the reported changes in order over the state before gives the state after; a
    // step may change one partition more than once (a tick that fences two brokers).
    let mut replayed = before.clone();
    for change in changes {
        let topic_partition = &change.topic_partition;
        if let Some(old) = replayed.get(topic_partition) {
            assert!(change.partition.leader_epoch() >= old.leader_epoch());
            assert!(
                change.partition.partition_epoch() > old.partition_epoch(),
                "{topic_partition}: changed without a new partition epoch"
            );
            if let Some(leader) = change.partition.leader()
                && old.leader() != Some(leader)
            {
                assert_eq!(
                    change.unclean_election,
                    !old.isr().contains(&leader),
                    "{topic_partition}: leader {leader} from isr {:?}, flagged unclean {}",
                    old.isr(),
                    change.unclean_election
                );
            }
        }
        replayed.insert(topic_partition.clone(), change.partition.clone());
    }
    assert_eq!(
        replayed, after,
        "the reported changes do not add up to the new state"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_keep_the_invariants_and_epochs_only_grow(
        racks in prop::collection::vec(prop::option::of(0..3u8), BROKER_COUNT as usize),
        operations in prop::collection::vec(operation(), 1..80),
    ) {
        let mut run = Run::new(&racks);
        for operation in &operations {
            let before = snapshot(&run.metadata);
            let changes = run.apply(operation);
            check_step(&before, &run.metadata, &changes);
        }
    }

    #[test]
    fn placement_yields_distinct_brokers_and_distinct_racks_when_there_are_enough(
        broker_racks in prop::collection::btree_map(0..50u32, prop::option::of(0..6u8), 1..12),
        replication_factor in 1..=12u16,
        partition_count in 1..40u32,
        start_index in 0..1000usize,
    ) {
        let brokers: Vec<PlacementBroker> = broker_racks
            .iter()
            .map(|(&id, rack)| PlacementBroker {
                id: BrokerId(id),
                rack: rack.map(|rack| Rack(format!("rack-{rack}"))),
            })
            .collect();
        let result = assign_replicas(&brokers, partition_count, replication_factor, start_index);
        if usize::from(replication_factor) > brokers.len() {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let placements = result.unwrap();
        prop_assert_eq!(placements.len(), partition_count as usize);
        // Brokers without a rack count as one rack of their own.
        let rack_count = broker_racks.values().collect::<BTreeSet<_>>().len();
        for replicas in &placements {
            prop_assert_eq!(replicas.len(), usize::from(replication_factor));
            let distinct: BTreeSet<BrokerId> = replicas.iter().copied().collect();
            prop_assert_eq!(distinct.len(), replicas.len(), "replicas {:?}", replicas);
            if rack_count >= usize::from(replication_factor) {
                let racks: BTreeSet<Option<u8>> =
                    replicas.iter().map(|id| broker_racks[&id.0]).collect();
                prop_assert_eq!(racks.len(), replicas.len(), "racks of {:?}", replicas);
            }
        }
    }
}
