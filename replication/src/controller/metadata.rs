//! The controller's metadata state: brokers, topics and partitions, and the invariants that
//! hold between them after every change.
//!
//! Every state change is a method on [`ClusterMetadata`] that returns what changed (a
//! [`PartitionChange`] per partition touched, the new state in full, as Kafka's
//! PartitionChangeRecord carries it). The methods live beside the rule they apply: topic
//! creation here, broker liveness in `fencing.rs`, ISR proposals in `alter_isr.rs`, topic
//! config changes in `config_change.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::controller::liveness::LivenessConfig;
use crate::controller::placement::{self, PARTITIONS_PER_PLACEMENT_MAX, PlacementBroker};
use crate::error::{CreatePartitionsError, CreateTopicError, DeleteTopicError, PlacementError};
use crate::types::{
    BrokerId, LeaderEpoch, Millis, PartitionEpoch, Rack, TopicPartition, next_leader_epoch,
};

/// The longest topic name Kafka accepts.
pub const TOPIC_NAME_LEN_MAX: usize = 249;

/// The most partitions one topic may have: the controller refuses more, and brokers check
/// their `num_partitions` and each creation against this same limit before asking.
pub const PARTITIONS_PER_TOPIC_MAX: u32 = PARTITIONS_PER_PLACEMENT_MAX;

/// A registered broker as the controller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broker {
    pub(crate) id: BrokerId,
    pub(crate) rack: Option<Rack>,
    pub(crate) fenced: bool,
    pub(crate) last_heartbeat: Millis,
}

impl Broker {
    pub fn id(&self) -> BrokerId {
        self.id
    }

    pub fn rack(&self) -> Option<&Rack> {
        self.rack.as_ref()
    }

    /// A fenced broker may not lead nor be in any ISR (except as the last member of an
    /// offline partition's ISR).
    pub fn is_fenced(&self) -> bool {
        self.fenced
    }

    /// When the controller last heard from the broker.
    pub fn last_heartbeat(&self) -> Millis {
        self.last_heartbeat
    }
}

/// A topic's settings that the controller's rules read. Keys mirror Kafka's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// The ISR size below which an acks=all produce is refused (read by leaders, not here).
    /// At least 1; it may exceed the replication factor, as Kafka allows, and then every acks=all
    /// produce is refused.
    pub min_insync_replicas: u16,
    /// Whether a replica outside the ISR may lead when no ISR member is live.
    pub unclean_leader_election: bool,
}

impl Default for TopicConfig {
    fn default() -> TopicConfig {
        TopicConfig {
            min_insync_replicas: 1,
            unclean_leader_election: false,
        }
    }
}

/// Where a new topic's (or new partitions') replicas go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replicas {
    /// `partition_count` partitions of `replication_factor` replicas, spread over the live
    /// brokers, racks alternating.
    Spread {
        partition_count: u32,
        replication_factor: u16,
    },
    /// Each partition's replicas as given, preferred leader first.
    Assigned(Vec<Vec<BrokerId>>),
}

impl Replicas {
    fn partition_count(&self) -> u32 {
        match self {
            Replicas::Spread {
                partition_count, ..
            } => *partition_count,
            Replicas::Assigned(lists) => u32::try_from(lists.len()).unwrap_or(u32::MAX),
        }
    }
}

/// One change per partition of `partitions`, numbered from `first_index`.
fn new_partition_changes(
    name: &str,
    first_index: u32,
    partitions: &[Partition],
) -> Vec<PartitionChange> {
    partitions
        .iter()
        .zip(first_index..)
        .map(|(partition, index)| PartitionChange {
            topic_partition: TopicPartition::new(name, index),
            partition: partition.clone(),
            unclean_election: false,
        })
        .collect()
}

/// A topic: its replication factor, config and partitions (index `p` is partition `p`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub(crate) name: String,
    pub(crate) replication_factor: u16,
    pub(crate) config: TopicConfig,
    pub(crate) partitions: Vec<Partition>,
}

impl Topic {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn replication_factor(&self) -> u16 {
        self.replication_factor
    }

    pub fn config(&self) -> TopicConfig {
        self.config
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }
}

/// One partition's leadership as the controller committed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub(crate) replicas: Vec<BrokerId>,
    pub(crate) leader: Option<BrokerId>,
    pub(crate) isr: Vec<BrokerId>,
    #[serde(with = "crate::types::leader_epoch_serde")]
    pub(crate) leader_epoch: LeaderEpoch,
    pub(crate) partition_epoch: PartitionEpoch,
}

impl Partition {
    /// A partition's state as the controller committed it, for a broker that learns it from the
    /// metadata log or a test that needs one.
    ///
    /// # Panics
    /// If it breaks [`Partition::check_invariants`].
    pub fn new(
        replicas: Vec<BrokerId>,
        leader: Option<BrokerId>,
        isr: Vec<BrokerId>,
        leader_epoch: LeaderEpoch,
        partition_epoch: PartitionEpoch,
    ) -> Partition {
        let partition = Partition {
            replicas,
            leader,
            isr,
            leader_epoch,
            partition_epoch,
        };
        partition.check_invariants();
        partition
    }

    /// The replicas in preference order: elections take the first eligible one.
    pub fn replicas(&self) -> &[BrokerId] {
        &self.replicas
    }

    /// `None` while the partition is offline.
    pub fn leader(&self) -> Option<BrokerId> {
        self.leader
    }

    /// The in-sync replicas, kept in replica order.
    pub fn isr(&self) -> &[BrokerId] {
        &self.isr
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> PartitionEpoch {
        self.partition_epoch
    }

    /// Sets the leader and ISR, bumping the leader epoch if the leader changed and the
    /// partition epoch if either did. Returns whether anything changed.
    pub(crate) fn change(&mut self, leader: Option<BrokerId>, isr: Vec<BrokerId>) -> bool {
        let isr = self.in_replica_order(&isr);
        let leader_changed = leader != self.leader;
        if !leader_changed && isr == self.isr {
            return false;
        }
        if leader_changed {
            self.leader_epoch = next_leader_epoch(self.leader_epoch);
        }
        self.leader = leader;
        self.isr = isr;
        self.partition_epoch = self.partition_epoch.next();
        true
    }

    /// `members` sorted into replica order (members that are not replicas are dropped; callers
    /// have refused those already).
    pub(crate) fn in_replica_order(&self, members: &[BrokerId]) -> Vec<BrokerId> {
        self.replicas
            .iter()
            .copied()
            .filter(|replica| members.contains(replica))
            .collect()
    }

    /// Panics unless: replicas are distinct and non-empty; the ISR is non-empty, distinct, a
    /// subset of the replicas and in replica order; the leader, when there is one, is in the ISR.
    pub fn check_invariants(&self) {
        assert!(!self.replicas.is_empty(), "partition has no replicas");
        for (index, replica) in self.replicas.iter().enumerate() {
            assert!(
                !self.replicas[..index].contains(replica),
                "replica {replica} listed twice in {:?}",
                self.replicas
            );
        }
        assert!(!self.isr.is_empty(), "isr is empty");
        assert_eq!(
            self.isr,
            self.in_replica_order(&self.isr),
            "isr {:?} is not a distinct subset of replicas {:?} in replica order",
            self.isr,
            self.replicas
        );
        if let Some(leader) = self.leader {
            assert!(
                self.isr.contains(&leader),
                "leader {leader} is not in isr {:?}",
                self.isr
            );
        }
    }
}

/// A change the controller committed to one partition: its state afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic_partition: TopicPartition,
    pub partition: Partition,
    /// This change elected a leader from outside the ISR: records the old ISR acknowledged may
    /// be lost. Logged and counted by the caller.
    pub unclean_election: bool,
}

/// The controller's whole view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMetadata {
    pub(crate) liveness: LivenessConfig,
    pub(crate) brokers: BTreeMap<BrokerId, Broker>,
    pub(crate) topics: BTreeMap<String, Topic>,
    /// Partitions created so far: the next topic's placement starts here, so preferred leaders
    /// of successive topics do not all land on the same broker.
    pub(crate) partitions_created: usize,
}

impl ClusterMetadata {
    /// An empty cluster: no brokers, no topics.
    pub fn new(liveness: LivenessConfig) -> ClusterMetadata {
        ClusterMetadata {
            liveness,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            partitions_created: 0,
        }
    }

    pub fn liveness_config(&self) -> LivenessConfig {
        self.liveness
    }

    pub fn broker(&self, id: BrokerId) -> Option<&Broker> {
        self.brokers.get(&id)
    }

    /// Registered brokers in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &Broker> {
        self.brokers.values()
    }

    /// Registered and not fenced.
    pub fn is_live(&self, id: BrokerId) -> bool {
        self.brokers.get(&id).is_some_and(|broker| !broker.fenced)
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    /// Topics in name order.
    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }

    pub fn partition(&self, topic_partition: &TopicPartition) -> Option<&Partition> {
        self.topics
            .get(&topic_partition.topic)?
            .partitions
            .get(usize::try_from(topic_partition.partition).ok()?)
    }

    /// Every partition, topics in name order and partitions in index order.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &Partition)> {
        self.topics.values().flat_map(|topic| {
            topic
                .partitions
                .iter()
                .enumerate()
                .map(|(index, partition)| {
                    let index = u32::try_from(index).expect("partition index fits in u32");
                    (TopicPartition::new(topic.name.clone(), index), partition)
                })
        })
    }

    /// Creates a topic with `partition_count` partitions of `replication_factor` replicas placed
    /// over the live brokers. Every replica starts in the ISR and the first one leads, at leader
    /// and partition epoch 0. Returns one change per new partition.
    pub fn create_topic(
        &mut self,
        name: &str,
        partition_count: u32,
        replication_factor: u16,
        config: TopicConfig,
    ) -> Result<Vec<PartitionChange>, CreateTopicError> {
        let spread = Replicas::Spread {
            partition_count,
            replication_factor,
        };
        self.create_topic_with(name, spread, config)
    }

    /// Creates a topic whose replicas are `replicas`: spread over the live brokers, or as
    /// assigned by hand (CreateTopics' explicit assignment: each partition's list, preferred
    /// leader first, of registered brokers).
    pub fn create_topic_with(
        &mut self,
        name: &str,
        replicas: Replicas,
        config: TopicConfig,
    ) -> Result<Vec<PartitionChange>, CreateTopicError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(CreateTopicError::TopicAlreadyExists {
                topic: name.to_string(),
            });
        }
        let partition_count = replicas.partition_count();
        if partition_count == 0 || partition_count > PARTITIONS_PER_TOPIC_MAX {
            return Err(CreateTopicError::InvalidPartitionCount {
                topic: name.to_string(),
                requested: partition_count,
                max: PARTITIONS_PER_TOPIC_MAX,
            });
        }
        if config.min_insync_replicas == 0 {
            return Err(CreateTopicError::InvalidMinInsyncReplicas {
                topic: name.to_string(),
                min_insync_replicas: config.min_insync_replicas,
            });
        }
        let placements = self.place(replicas, None)?;
        let replication_factor = u16::try_from(placements[0].len()).expect("checked by placement");
        let partitions: Vec<Partition> = placements.into_iter().map(|r| self.created(r)).collect();
        let changes = new_partition_changes(name, 0, &partitions);
        let topic = Topic {
            name: name.to_string(),
            replication_factor,
            config,
            partitions,
        };
        self.topics.insert(name.to_string(), topic);
        self.debug_check_invariants();
        Ok(changes)
    }

    /// Adds partitions to `name` until it has `new_count` (Kafka's CreatePartitions): placed
    /// over the live brokers with the topic's replication factor, or on `assigned` (one list
    /// per new partition). The existing partitions do not change. Returns one change per new
    /// partition.
    pub fn create_partitions(
        &mut self,
        name: &str,
        new_count: u32,
        assigned: Option<Vec<Vec<BrokerId>>>,
    ) -> Result<Vec<PartitionChange>, CreatePartitionsError> {
        let topic = self
            .topics
            .get(name)
            .ok_or_else(|| CreatePartitionsError::UnknownTopic {
                topic: name.to_string(),
            })?;
        let current =
            u32::try_from(topic.partitions.len()).expect("at most PARTITIONS_PER_TOPIC_MAX");
        if new_count <= current || new_count > PARTITIONS_PER_TOPIC_MAX {
            return Err(CreatePartitionsError::InvalidPartitionCount {
                topic: name.to_string(),
                current,
                requested: new_count,
                max: PARTITIONS_PER_TOPIC_MAX,
            });
        }
        let replication_factor = topic.replication_factor;
        let replicas = match assigned {
            Some(lists) => Replicas::Assigned(lists),
            None => Replicas::Spread {
                partition_count: new_count - current,
                replication_factor,
            },
        };
        if replicas.partition_count() != new_count - current {
            let reason = format!(
                "{} partitions assigned, {} added",
                replicas.partition_count(),
                new_count - current
            );
            return Err(PlacementError::InvalidReplicaAssignment { reason }.into());
        }
        let placements = self.place(replicas, Some(replication_factor))?;
        let added: Vec<Partition> = placements.into_iter().map(|r| self.created(r)).collect();
        let changes = new_partition_changes(name, current, &added);
        let topic = self.topics.get_mut(name).expect("checked above");
        topic.partitions.extend(added);
        self.debug_check_invariants();
        Ok(changes)
    }

    /// A new partition on `replicas`: the live ones in the ISR, the first of those leading (a
    /// partition assigned to fenced brokers only has no leader until one comes back), epochs 0.
    fn created(&self, replicas: Vec<BrokerId>) -> Partition {
        let isr: Vec<BrokerId> = replicas
            .iter()
            .copied()
            .filter(|id| self.brokers.get(id).is_some_and(|broker| !broker.fenced))
            .collect();
        Partition {
            leader: isr.first().copied(),
            isr: if isr.is_empty() {
                replicas.clone()
            } else {
                isr
            },
            replicas,
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
        }
    }

    /// Each new partition's replicas: spread over the live brokers (the next partitions of the
    /// round-robin), or assigned by hand and checked against the registered brokers (and
    /// `replication_factor`, when the topic has one).
    fn place(
        &mut self,
        replicas: Replicas,
        replication_factor: Option<u16>,
    ) -> Result<Vec<Vec<BrokerId>>, PlacementError> {
        let placements = match replicas {
            Replicas::Spread {
                partition_count,
                replication_factor,
            } => {
                let live: Vec<PlacementBroker> = self
                    .brokers
                    .values()
                    .filter(|broker| !broker.fenced)
                    .map(|broker| PlacementBroker {
                        id: broker.id,
                        rack: broker.rack.clone(),
                    })
                    .collect();
                placement::assign_replicas(
                    &live,
                    partition_count,
                    replication_factor,
                    self.partitions_created,
                )?
            }
            Replicas::Assigned(lists) => {
                let registered = self.brokers.keys().copied().collect();
                placement::check_assignments(&registered, &lists, replication_factor)?;
                lists
            }
        };
        self.partitions_created = self.partitions_created.wrapping_add(placements.len());
        Ok(placements)
    }

    /// Deletes `name` and all its partitions; returns the topic as it was. No partition of
    /// another topic changes, and placement of later topics goes on from where it was (the
    /// deleted partitions still count in `partitions_created`).
    pub fn delete_topic(&mut self, name: &str) -> Result<Topic, DeleteTopicError> {
        let topic = self
            .topics
            .remove(name)
            .ok_or_else(|| DeleteTopicError::UnknownTopic {
                topic: name.to_string(),
            })?;
        self.debug_check_invariants();
        Ok(topic)
    }

    /// Panics unless every partition holds its own invariants and, across the cluster: each
    /// topic's partitions have `replication_factor` registered replicas; a partition with a
    /// leader has only live brokers in its ISR; a partition without one has no live ISR member
    /// (its ISR is the one fenced broker that was last in it) and, when its topic allows unclean
    /// elections, no live replica either.
    pub fn check_invariants(&self) {
        for topic in self.topics.values() {
            assert!(
                !topic.partitions.is_empty(),
                "topic {} has no partitions",
                topic.name
            );
            for (index, partition) in topic.partitions.iter().enumerate() {
                self.check_partition(topic, index, partition);
            }
        }
    }

    fn check_partition(&self, topic: &Topic, index: usize, partition: &Partition) {
        let name = &topic.name;
        partition.check_invariants();
        assert_eq!(
            partition.replicas.len(),
            usize::from(topic.replication_factor),
            "{name}-{index}: replica count differs from the replication factor"
        );
        for replica in &partition.replicas {
            assert!(
                self.brokers.contains_key(replica),
                "{name}-{index}: replica {replica} is not a registered broker"
            );
        }
        let live_isr = partition.isr.iter().filter(|&&id| self.is_live(id)).count();
        match partition.leader {
            Some(leader) => {
                assert!(
                    self.is_live(leader),
                    "{name}-{index}: leader {leader} is fenced"
                );
                assert_eq!(
                    live_isr,
                    partition.isr.len(),
                    "{name}-{index}: isr {:?} holds a fenced broker while online",
                    partition.isr
                );
            }
            None => {
                assert_eq!(
                    live_isr, 0,
                    "{name}-{index}: offline with a live isr member"
                );
                assert_eq!(
                    partition.isr.len(),
                    1,
                    "{name}-{index}: offline isr {:?} is not its last member alone",
                    partition.isr
                );
                let live_replica = partition.replicas.iter().any(|&id| self.is_live(id));
                assert!(
                    !(topic.config.unclean_leader_election && live_replica),
                    "{name}-{index}: offline with unclean election on and a live replica"
                );
            }
        }
    }

    /// Runs [`check_invariants`](Self::check_invariants) in debug builds, after every mutation.
    pub(crate) fn debug_check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }
}

fn validate_topic_name(name: &str) -> Result<(), CreateTopicError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > TOPIC_NAME_LEN_MAX {
        Some("longer than 249 characters")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are reserved")
    } else if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        Some("only ascii letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CreateTopicError::InvalidTopicName {
            topic: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_cluster::{cluster, ids, t0};
    use crate::error::{KafkaError, PlacementError};

    #[test]
    fn a_new_topic_has_every_replica_in_the_isr_and_the_first_leading() {
        let mut metadata = cluster(3);
        let changes = metadata
            .create_topic("t", 2, 3, TopicConfig::default())
            .unwrap();
        assert_eq!(changes.len(), 2);
        for change in &changes {
            let partition = &change.partition;
            assert_eq!(partition.isr(), partition.replicas());
            assert_eq!(partition.leader(), Some(partition.replicas()[0]));
            assert_eq!(partition.leader_epoch(), LeaderEpoch(0));
            assert_eq!(partition.partition_epoch(), PartitionEpoch(0));
            assert!(!change.unclean_election);
        }
        assert_eq!(metadata.partition(&t0()), Some(&changes[0].partition));
    }

    #[test]
    fn successive_topics_start_placement_where_the_last_one_ended() {
        let mut metadata = cluster(3);
        metadata
            .create_topic("a", 1, 1, TopicConfig::default())
            .unwrap();
        let changes = metadata
            .create_topic("b", 1, 1, TopicConfig::default())
            .unwrap();
        assert_eq!(changes[0].partition.replicas(), ids(&[2]));
    }

    #[test]
    fn placement_only_uses_live_brokers() {
        let mut metadata = cluster(3);
        metadata.fence_broker(BrokerId(2)).unwrap();
        let changes = metadata
            .create_topic("t", 4, 2, TopicConfig::default())
            .unwrap();
        for change in changes {
            assert!(!change.partition.replicas().contains(&BrokerId(2)));
        }
    }

    #[test]
    fn replication_factor_above_live_brokers_is_invalid() {
        let mut metadata = cluster(3);
        metadata.fence_broker(BrokerId(3)).unwrap();
        let error = metadata
            .create_topic("t", 1, 3, TopicConfig::default())
            .unwrap_err();
        assert_eq!(
            error,
            CreateTopicError::Placement(PlacementError::InvalidReplicationFactor {
                requested: 3,
                available: 2
            })
        );
        assert_eq!(error.kafka_error().code(), 38);
        assert!(metadata.topic("t").is_none());
    }

    #[test]
    fn a_topic_assigned_by_hand_takes_its_replicas_as_given() {
        let mut metadata = cluster(3);
        metadata.fence_broker(BrokerId(3)).unwrap();
        let assigned = vec![ids(&[3, 1]), ids(&[2, 3])];
        let changes = metadata
            .create_topic_with("t", Replicas::Assigned(assigned), TopicConfig::default())
            .unwrap();
        // The fenced broker is a replica, outside the ISR until it catches up.
        assert_eq!(changes[0].partition.replicas(), ids(&[3, 1]));
        assert_eq!(changes[0].partition.isr(), ids(&[1]));
        assert_eq!(changes[0].partition.leader(), Some(BrokerId(1)));
        assert_eq!(changes[1].partition.leader(), Some(BrokerId(2)));
        assert_eq!(metadata.topic("t").unwrap().replication_factor(), 2);
        let refused = |lists: Vec<Vec<BrokerId>>| {
            let mut metadata = cluster(3);
            let error = metadata
                .create_topic_with("u", Replicas::Assigned(lists), TopicConfig::default())
                .unwrap_err();
            assert_eq!(error.kafka_error(), KafkaError::InvalidReplicaAssignment);
            assert!(metadata.topic("u").is_none());
            error.to_string()
        };
        assert!(
            refused(vec![ids(&[1, 2]), ids(&[3])]).contains("partition 1 has 1 replicas, not 2")
        );
        assert!(refused(vec![ids(&[1, 1])]).contains("names a broker twice"));
        assert!(refused(vec![ids(&[1, 9])]).contains("broker 9, which is not registered"));
        assert!(refused(vec![vec![]]).contains("has 0 replicas"));
    }

    #[test]
    fn partitions_are_added_and_the_existing_ones_stay() {
        let mut metadata = cluster(3);
        metadata
            .create_topic("t", 2, 2, TopicConfig::default())
            .unwrap();
        let before: Vec<Partition> = metadata.topic("t").unwrap().partitions().to_vec();
        let changes = metadata.create_partitions("t", 5, None).unwrap();
        let indexes: Vec<u32> = changes
            .iter()
            .map(|c| c.topic_partition.partition)
            .collect();
        assert_eq!(indexes, [2, 3, 4]);
        let topic = metadata.topic("t").unwrap();
        assert_eq!(topic.partitions().len(), 5);
        assert_eq!(&topic.partitions()[..2], &before[..]);
        assert!(topic.partitions().iter().all(|p| p.replicas().len() == 2));
        // By hand, with the topic's replication factor.
        let changes = metadata
            .create_partitions("t", 6, Some(vec![ids(&[3, 2])]))
            .unwrap();
        assert_eq!(changes[0].partition.replicas(), ids(&[3, 2]));
        let error = metadata
            .create_partitions("t", 7, Some(vec![ids(&[1])]))
            .unwrap_err();
        assert_eq!(error.kafka_error(), KafkaError::InvalidReplicaAssignment);
        let error = metadata
            .create_partitions("t", 8, Some(vec![ids(&[1, 2])]))
            .unwrap_err();
        assert!(
            error.to_string().contains("1 partitions assigned, 2 added"),
            "{error}"
        );
        // Never fewer, never as many.
        let error = metadata.create_partitions("t", 6, None).unwrap_err();
        assert_eq!(error.kafka_error(), KafkaError::InvalidPartitions);
        assert_eq!(
            error.to_string(),
            format!(
                "topic t has 6 partitions: it can grow to between 7 and {PARTITIONS_PER_TOPIC_MAX}, not 6"
            )
        );
        let error = metadata.create_partitions("nope", 2, None).unwrap_err();
        assert_eq!(error.kafka_error(), KafkaError::UnknownTopicOrPartition);
        assert_eq!(metadata.topic("t").unwrap().partitions().len(), 6);
    }

    /// The controller quorum snapshots the metadata as JSON: a round trip keeps every field,
    /// leader epochs (the engine's type) included.
    #[test]
    fn metadata_survives_a_json_round_trip() {
        let mut metadata = cluster(3);
        metadata
            .create_topic("t", 2, 3, TopicConfig::default())
            .unwrap();
        metadata.fence_broker(BrokerId(1)).unwrap();
        let json = serde_json::to_string(&metadata).unwrap();
        let decoded: ClusterMetadata = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded, metadata);
        assert_eq!(
            decoded.partition(&t0()).unwrap().leader_epoch(),
            LeaderEpoch(1)
        );
        decoded.check_invariants();
    }

    #[test]
    fn deleting_a_topic_removes_its_partitions_and_no_other() {
        let mut metadata = cluster(3);
        let kept = metadata
            .create_topic("kept", 2, 2, TopicConfig::default())
            .unwrap();
        metadata
            .create_topic("t", 3, 3, TopicConfig::default())
            .unwrap();
        let deleted = metadata.delete_topic("t").unwrap();
        assert_eq!(deleted.name(), "t");
        assert_eq!(deleted.partitions().len(), 3);
        assert!(metadata.topic("t").is_none());
        assert_eq!(metadata.partition(&t0()), None);
        let remaining: Vec<_> = metadata
            .partitions()
            .map(|(tp, p)| (tp, p.clone()))
            .collect();
        let expected: Vec<_> = kept
            .into_iter()
            .map(|change| (change.topic_partition, change.partition))
            .collect();
        assert_eq!(remaining, expected);
    }

    #[test]
    fn deleting_an_unknown_topic_is_refused_and_changes_nothing() {
        let mut metadata = cluster(1);
        metadata
            .create_topic("t", 1, 1, TopicConfig::default())
            .unwrap();
        let before = metadata.clone();
        let error = metadata.delete_topic("missing").unwrap_err();
        assert_eq!(
            error,
            DeleteTopicError::UnknownTopic {
                topic: "missing".to_string()
            }
        );
        assert_eq!(error.kafka_error().code(), 3);
        assert_eq!(metadata, before);
    }

    #[test]
    fn a_deleted_topic_can_be_created_again() {
        let mut metadata = cluster(2);
        metadata
            .create_topic("t", 1, 2, TopicConfig::default())
            .unwrap();
        metadata.delete_topic("t").unwrap();
        let changes = metadata
            .create_topic("t", 1, 1, TopicConfig::default())
            .unwrap();
        assert_eq!(changes[0].partition.leader_epoch(), LeaderEpoch(0));
        assert_eq!(metadata.topic("t").unwrap().replication_factor(), 1);
    }

    #[test]
    fn creating_an_existing_topic_is_refused() {
        let mut metadata = cluster(1);
        metadata
            .create_topic("t", 1, 1, TopicConfig::default())
            .unwrap();
        let error = metadata
            .create_topic("t", 1, 1, TopicConfig::default())
            .unwrap_err();
        assert_eq!(
            error,
            CreateTopicError::TopicAlreadyExists {
                topic: "t".to_string()
            }
        );
    }

    #[test]
    fn a_topic_needs_at_least_one_partition() {
        let mut metadata = cluster(1);
        let error = metadata
            .create_topic("t", 0, 1, TopicConfig::default())
            .unwrap_err();
        assert_eq!(error.kafka_error().code(), 37);
    }

    #[test]
    fn min_insync_replicas_of_zero_is_invalid() {
        let mut metadata = cluster(1);
        let config = TopicConfig {
            min_insync_replicas: 0,
            unclean_leader_election: false,
        };
        let error = metadata.create_topic("t", 1, 1, config).unwrap_err();
        assert_eq!(error.kafka_error().code(), 40);
    }

    #[test]
    fn topic_names_outside_kafkas_alphabet_are_invalid() {
        let mut metadata = cluster(1);
        for name in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            let error = metadata
                .create_topic(name, 1, 1, TopicConfig::default())
                .unwrap_err();
            assert_eq!(error.kafka_error().code(), 17, "name {name:?}");
        }
        metadata
            .create_topic(&"x".repeat(249), 1, 1, TopicConfig::default())
            .unwrap();
    }

    #[test]
    fn a_change_of_leader_bumps_both_epochs() {
        let mut partition = partition(&[1, 2, 3]);
        assert!(partition.change(Some(BrokerId(2)), ids(&[2, 3])));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(1));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(1));
    }

    #[test]
    fn a_change_of_isr_alone_bumps_only_the_partition_epoch() {
        let mut partition = partition(&[1, 2, 3]);
        assert!(partition.change(Some(BrokerId(1)), ids(&[1, 3])));
        assert_eq!(partition.leader_epoch(), LeaderEpoch(0));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(1));
    }

    #[test]
    fn no_change_bumps_nothing() {
        let mut partition = partition(&[1, 2, 3]);
        assert!(!partition.change(Some(BrokerId(1)), ids(&[3, 2, 1])));
        assert_eq!(partition.partition_epoch(), PartitionEpoch(0));
    }

    #[test]
    #[should_panic(expected = "is not in isr")]
    fn a_leader_outside_the_isr_breaks_the_invariants() {
        let mut partition = partition(&[1, 2, 3]);
        partition.isr = ids(&[2, 3]);
        partition.check_invariants();
    }

    #[test]
    #[should_panic(expected = "listed twice")]
    fn duplicate_replicas_break_the_invariants() {
        let mut partition = partition(&[1, 2, 2]);
        partition.isr = ids(&[1]);
        partition.check_invariants();
    }

    #[test]
    #[should_panic(expected = "isr is empty")]
    fn an_empty_isr_breaks_the_invariants() {
        let mut partition = partition(&[1, 2, 3]);
        partition.leader = None;
        partition.isr.clear();
        partition.check_invariants();
    }

    #[test]
    #[should_panic(expected = "not a distinct subset")]
    fn an_isr_member_outside_the_replicas_breaks_the_invariants() {
        let mut partition = partition(&[1, 2, 3]);
        partition.isr = ids(&[1, 4]);
        partition.check_invariants();
    }

    fn partition(replicas: &[u32]) -> Partition {
        Partition {
            replicas: ids(replicas),
            leader: Some(BrokerId(replicas[0])),
            isr: ids(replicas),
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
        }
    }
}
