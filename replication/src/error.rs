//! The crate's one error family: an enum per kind of request the controller refuses, each
//! `#[non_exhaustive]`, each mapping to the Kafka error code a broker or client would see
//! ([`KafkaError`]). Messages are lowercase, name the object and carry the numbers. A broken
//! invariant is a bug and panics; it is never one of these.

use serde::{Deserialize, Serialize};

use crate::types::{BrokerId, LeaderEpoch, PartitionEpoch, TopicPartition};

/// The Kafka protocol errors that refusals inside ringlog map to (the controller's, a
/// partition's), with their wire codes: the one error vocabulary below the protocol frontends.
/// Serialized by name, so a stored or sent error keeps its meaning if variants are reordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KafkaError {
    OffsetOutOfRange,
    CorruptMessage,
    LeaderNotAvailable,
    CoordinatorNotAvailable,
    NotCoordinator,
    MessageTooLarge,
    RecordListTooLarge,
    KafkaStorageError,
    UnknownTopicOrPartition,
    NotLeaderOrFollower,
    InvalidTopicException,
    TopicAlreadyExists,
    InvalidPartitions,
    InvalidReplicationFactor,
    InvalidReplicaAssignment,
    InvalidConfig,
    InvalidRequest,
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    StaleBrokerEpoch,
    InvalidUpdateVersion,
    DuplicateBrokerRegistration,
    BrokerIdNotRegistered,
    IneligibleReplica,
    RequestTimedOut,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    // The group coordinator's refusals (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
    // OffsetCommit, DeleteGroups, OffsetDelete).
    CoordinatorLoadInProgress,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    UnknownMemberId,
    InvalidSessionTimeout,
    RebalanceInProgress,
    NonEmptyGroup,
    GroupIdNotFound,
    MemberIdRequired,
    GroupMaxSizeReached,
    FencedInstanceId,
    GroupSubscribedToTopic,
    OutOfOrderSequenceNumber,
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    UnknownProducerId,
    InvalidRecord,
    // Users' SCRAM credentials (AlterUserScramCredentials, DescribeUserScramCredentials).
    UnsupportedSaslMechanism,
    ResourceNotFound,
    DuplicateResource,
    UnacceptableCredential,
}

impl KafkaError {
    /// The error code on the wire.
    pub fn code(self) -> i16 {
        match self {
            KafkaError::OffsetOutOfRange => 1,
            KafkaError::CorruptMessage => 2,
            KafkaError::LeaderNotAvailable => 5,
            KafkaError::CoordinatorNotAvailable => 15,
            KafkaError::NotCoordinator => 16,
            KafkaError::MessageTooLarge => 10,
            KafkaError::RecordListTooLarge => 18,
            KafkaError::KafkaStorageError => 56,
            KafkaError::UnknownTopicOrPartition => 3,
            KafkaError::NotLeaderOrFollower => 6,
            KafkaError::InvalidTopicException => 17,
            KafkaError::TopicAlreadyExists => 36,
            KafkaError::InvalidPartitions => 37,
            KafkaError::InvalidReplicaAssignment => 39,
            KafkaError::InvalidReplicationFactor => 38,
            KafkaError::InvalidConfig => 40,
            KafkaError::InvalidRequest => 42,
            KafkaError::FencedLeaderEpoch => 74,
            KafkaError::UnknownLeaderEpoch => 75,
            KafkaError::StaleBrokerEpoch => 77,
            KafkaError::InvalidUpdateVersion => 95,
            KafkaError::DuplicateBrokerRegistration => 101,
            KafkaError::BrokerIdNotRegistered => 102,
            KafkaError::IneligibleReplica => 107,
            KafkaError::RequestTimedOut => 7,
            KafkaError::NotEnoughReplicas => 19,
            KafkaError::NotEnoughReplicasAfterAppend => 20,
            KafkaError::CoordinatorLoadInProgress => 14,
            KafkaError::IllegalGeneration => 22,
            KafkaError::InconsistentGroupProtocol => 23,
            KafkaError::InvalidGroupId => 24,
            KafkaError::UnknownMemberId => 25,
            KafkaError::InvalidSessionTimeout => 26,
            KafkaError::RebalanceInProgress => 27,
            KafkaError::NonEmptyGroup => 68,
            KafkaError::GroupIdNotFound => 69,
            KafkaError::MemberIdRequired => 79,
            KafkaError::GroupMaxSizeReached => 81,
            KafkaError::FencedInstanceId => 82,
            KafkaError::GroupSubscribedToTopic => 86,
            KafkaError::OutOfOrderSequenceNumber => 45,
            KafkaError::DuplicateSequenceNumber => 46,
            KafkaError::InvalidProducerEpoch => 47,
            KafkaError::UnknownProducerId => 59,
            KafkaError::InvalidRecord => 87,
            KafkaError::UnsupportedSaslMechanism => 33,
            KafkaError::ResourceNotFound => 91,
            KafkaError::DuplicateResource => 92,
            KafkaError::UnacceptableCredential => 93,
        }
    }

    /// The error's name as Kafka spells it.
    pub fn name(self) -> &'static str {
        match self {
            KafkaError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            KafkaError::CorruptMessage => "CORRUPT_MESSAGE",
            KafkaError::LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            KafkaError::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            KafkaError::NotCoordinator => "NOT_COORDINATOR",
            KafkaError::MessageTooLarge => "MESSAGE_TOO_LARGE",
            KafkaError::RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            KafkaError::KafkaStorageError => "KAFKA_STORAGE_ERROR",
            KafkaError::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            KafkaError::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            KafkaError::InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            KafkaError::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            KafkaError::InvalidPartitions => "INVALID_PARTITIONS",
            KafkaError::InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            KafkaError::InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            KafkaError::InvalidConfig => "INVALID_CONFIG",
            KafkaError::InvalidRequest => "INVALID_REQUEST",
            KafkaError::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            KafkaError::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            KafkaError::StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            KafkaError::InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            KafkaError::DuplicateBrokerRegistration => "DUPLICATE_BROKER_REGISTRATION",
            KafkaError::BrokerIdNotRegistered => "BROKER_ID_NOT_REGISTERED",
            KafkaError::IneligibleReplica => "INELIGIBLE_REPLICA",
            KafkaError::RequestTimedOut => "REQUEST_TIMED_OUT",
            KafkaError::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            KafkaError::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            KafkaError::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            KafkaError::IllegalGeneration => "ILLEGAL_GENERATION",
            KafkaError::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            KafkaError::InvalidGroupId => "INVALID_GROUP_ID",
            KafkaError::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            KafkaError::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            KafkaError::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            KafkaError::NonEmptyGroup => "NON_EMPTY_GROUP",
            KafkaError::GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            KafkaError::MemberIdRequired => "MEMBER_ID_REQUIRED",
            KafkaError::GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            KafkaError::FencedInstanceId => "FENCED_INSTANCE_ID",
            KafkaError::GroupSubscribedToTopic => "GROUP_SUBSCRIBED_TO_TOPIC",
            KafkaError::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            KafkaError::DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            KafkaError::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            KafkaError::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            KafkaError::InvalidRecord => "INVALID_RECORD",
            KafkaError::UnsupportedSaslMechanism => "UNSUPPORTED_SASL_MECHANISM",
            KafkaError::ResourceNotFound => "RESOURCE_NOT_FOUND",
            KafkaError::DuplicateResource => "DUPLICATE_RESOURCE",
            KafkaError::UnacceptableCredential => "UNACCEPTABLE_CREDENTIAL",
        }
    }
}

/// A broker registration, heartbeat, fencing or unfencing the controller refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    #[error("broker {broker} is already registered")]
    DuplicateRegistration { broker: BrokerId },

    #[error("broker {broker} is not registered")]
    NotRegistered { broker: BrokerId },

    /// A request from another life of the broker than the one registered: a heartbeat or a
    /// shutdown from an older incarnation, or a registration older than the registered one.
    #[error(
        "broker {broker}: incarnation {incarnation} is stale, the registered one is {registered}"
    )]
    StaleIncarnation {
        broker: BrokerId,
        incarnation: u64,
        registered: u64,
    },
}

impl BrokerError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            BrokerError::DuplicateRegistration { .. } => KafkaError::DuplicateBrokerRegistration,
            BrokerError::NotRegistered { .. } => KafkaError::BrokerIdNotRegistered,
            BrokerError::StaleIncarnation { .. } => KafkaError::StaleBrokerEpoch,
        }
    }
}

/// A replica assignment that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// The replication factor is zero, or larger than the number of live brokers.
    #[error(
        "invalid replication factor {requested}: {available} live brokers available, need between 1 and {available}"
    )]
    InvalidReplicationFactor { requested: u16, available: usize },

    /// Replicas assigned by hand that cannot be: an empty list, lists of different lengths, a
    /// broker twice in one list, or a broker not registered.
    #[error("invalid replica assignment: {reason}")]
    InvalidReplicaAssignment { reason: String },
}

impl PlacementError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            PlacementError::InvalidReplicationFactor { .. } => KafkaError::InvalidReplicationFactor,
            PlacementError::InvalidReplicaAssignment { .. } => KafkaError::InvalidReplicaAssignment,
        }
    }
}

/// A topic creation the controller refuses; nothing of the topic is created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateTopicError {
    #[error("topic {topic} already exists")]
    TopicAlreadyExists { topic: String },

    /// Empty, longer than [`TOPIC_NAME_LEN_MAX`](crate::controller::metadata::TOPIC_NAME_LEN_MAX),
    /// or with a character outside `[a-zA-Z0-9._-]`.
    #[error("invalid topic name {topic:?}: {reason}")]
    InvalidTopicName { topic: String, reason: &'static str },

    #[error("invalid partition count {requested} for topic {topic}: must be between 1 and {max}")]
    InvalidPartitionCount {
        topic: String,
        requested: u32,
        max: u32,
    },

    #[error(
        "invalid min_insync_replicas {min_insync_replicas} for topic {topic}: must be at least 1"
    )]
    InvalidMinInsyncReplicas {
        topic: String,
        min_insync_replicas: u16,
    },

    #[error(transparent)]
    Placement(#[from] PlacementError),
}

impl CreateTopicError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            CreateTopicError::TopicAlreadyExists { .. } => KafkaError::TopicAlreadyExists,
            CreateTopicError::InvalidTopicName { .. } => KafkaError::InvalidTopicException,
            CreateTopicError::InvalidPartitionCount { .. } => KafkaError::InvalidPartitions,
            CreateTopicError::InvalidMinInsyncReplicas { .. } => KafkaError::InvalidConfig,
            CreateTopicError::Placement(error) => error.kafka_error(),
        }
    }
}

/// Partitions the controller refuses to add; nothing is added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreatePartitionsError {
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },

    /// The new count is not above the current one, or above the most a topic may have.
    #[error(
        "topic {topic} has {current} partitions: it can grow to between {} and {max}, not {requested}",
        current + 1
    )]
    InvalidPartitionCount {
        topic: String,
        current: u32,
        requested: u32,
        max: u32,
    },

    #[error(transparent)]
    Placement(#[from] PlacementError),
}

impl CreatePartitionsError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            CreatePartitionsError::UnknownTopic { .. } => KafkaError::UnknownTopicOrPartition,
            CreatePartitionsError::InvalidPartitionCount { .. } => KafkaError::InvalidPartitions,
            CreatePartitionsError::Placement(error) => error.kafka_error(),
        }
    }
}

/// A topic deletion the controller refuses; nothing is deleted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeleteTopicError {
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },
}

impl DeleteTopicError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            DeleteTopicError::UnknownTopic { .. } => KafkaError::UnknownTopicOrPartition,
        }
    }
}

/// A topic config change the controller refuses; neither field of the change is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlterConfigError {
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },

    #[error(
        "invalid min_insync_replicas {min_insync_replicas} for topic {topic}: must be at least 1"
    )]
    InvalidMinInsyncReplicas {
        topic: String,
        min_insync_replicas: u16,
    },
}

impl AlterConfigError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            AlterConfigError::UnknownTopic { .. } => KafkaError::UnknownTopicOrPartition,
            AlterConfigError::InvalidMinInsyncReplicas { .. } => KafkaError::InvalidConfig,
        }
    }
}

/// Why a replica may not be in a proposed ISR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ineligibility {
    /// The broker is not one of the partition's replicas.
    NotAReplica,
    /// The broker is fenced: the controller has not heard from it within the session timeout.
    Fenced,
}

impl std::fmt::Display for Ineligibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ineligibility::NotAReplica => "not a replica",
            Ineligibility::Fenced => "fenced",
        })
    }
}

/// A leader's ISR proposal (Kafka's AlterPartition) the controller refuses; the partition is
/// left as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlterIsrError {
    #[error("unknown topic or partition {topic_partition}")]
    UnknownTopicOrPartition { topic_partition: TopicPartition },

    #[error(
        "{topic_partition}: broker {proposer} proposed an isr but the leader is {}",
        leader.map_or_else(|| "none".to_string(), |leader| leader.to_string())
    )]
    NotLeader {
        topic_partition: TopicPartition,
        proposer: BrokerId,
        leader: Option<BrokerId>,
    },

    #[error("{topic_partition}: proposal carries leader epoch {proposed}, current is {current}")]
    FencedLeaderEpoch {
        topic_partition: TopicPartition,
        proposed: LeaderEpoch,
        current: LeaderEpoch,
    },

    #[error("{topic_partition}: proposal carries partition epoch {proposed}, current is {current}")]
    StalePartitionEpoch {
        topic_partition: TopicPartition,
        proposed: PartitionEpoch,
        current: PartitionEpoch,
    },

    #[error("{topic_partition}: proposed isr lacks the leader {leader}")]
    IsrWithoutLeader {
        topic_partition: TopicPartition,
        leader: BrokerId,
    },

    #[error("{topic_partition}: proposed isr names broker {broker} more than once")]
    DuplicateIsrMember {
        topic_partition: TopicPartition,
        broker: BrokerId,
    },

    #[error("{topic_partition}: broker {broker} may not join the isr: {reason}")]
    IneligibleReplica {
        topic_partition: TopicPartition,
        broker: BrokerId,
        reason: Ineligibility,
    },
}

impl AlterIsrError {
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            AlterIsrError::UnknownTopicOrPartition { .. } => KafkaError::UnknownTopicOrPartition,
            AlterIsrError::NotLeader { .. } => KafkaError::NotLeaderOrFollower,
            AlterIsrError::FencedLeaderEpoch { .. } => KafkaError::FencedLeaderEpoch,
            AlterIsrError::StalePartitionEpoch { .. } => KafkaError::InvalidUpdateVersion,
            AlterIsrError::IsrWithoutLeader { .. } | AlterIsrError::DuplicateIsrMember { .. } => {
                KafkaError::InvalidRequest
            }
            AlterIsrError::IneligibleReplica { .. } => KafkaError::IneligibleReplica,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_coordinator_errors_carry_kafkas_codes_and_names() {
        let expected = [
            (
                KafkaError::CoordinatorLoadInProgress,
                14,
                "COORDINATOR_LOAD_IN_PROGRESS",
            ),
            (KafkaError::IllegalGeneration, 22, "ILLEGAL_GENERATION"),
            (
                KafkaError::InconsistentGroupProtocol,
                23,
                "INCONSISTENT_GROUP_PROTOCOL",
            ),
            (KafkaError::InvalidGroupId, 24, "INVALID_GROUP_ID"),
            (KafkaError::UnknownMemberId, 25, "UNKNOWN_MEMBER_ID"),
            (
                KafkaError::InvalidSessionTimeout,
                26,
                "INVALID_SESSION_TIMEOUT",
            ),
            (KafkaError::RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS"),
            (KafkaError::NonEmptyGroup, 68, "NON_EMPTY_GROUP"),
            (KafkaError::GroupIdNotFound, 69, "GROUP_ID_NOT_FOUND"),
            (KafkaError::MemberIdRequired, 79, "MEMBER_ID_REQUIRED"),
            (
                KafkaError::GroupMaxSizeReached,
                81,
                "GROUP_MAX_SIZE_REACHED",
            ),
            (KafkaError::FencedInstanceId, 82, "FENCED_INSTANCE_ID"),
            (
                KafkaError::GroupSubscribedToTopic,
                86,
                "GROUP_SUBSCRIBED_TO_TOPIC",
            ),
            (
                KafkaError::OutOfOrderSequenceNumber,
                45,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ),
            (
                KafkaError::DuplicateSequenceNumber,
                46,
                "DUPLICATE_SEQUENCE_NUMBER",
            ),
            (
                KafkaError::InvalidProducerEpoch,
                47,
                "INVALID_PRODUCER_EPOCH",
            ),
            (KafkaError::UnknownProducerId, 59, "UNKNOWN_PRODUCER_ID"),
            (KafkaError::InvalidRecord, 87, "INVALID_RECORD"),
            (
                KafkaError::UnsupportedSaslMechanism,
                33,
                "UNSUPPORTED_SASL_MECHANISM",
            ),
            (KafkaError::ResourceNotFound, 91, "RESOURCE_NOT_FOUND"),
            (KafkaError::DuplicateResource, 92, "DUPLICATE_RESOURCE"),
            (
                KafkaError::UnacceptableCredential,
                93,
                "UNACCEPTABLE_CREDENTIAL",
            ),
        ];
        for (error, code, name) in expected {
            assert_eq!((error.code(), error.name()), (code, name), "{error:?}");
        }
    }

    #[test]
    fn errors_map_to_kafka_codes_and_names() {
        let placement = PlacementError::InvalidReplicationFactor {
            requested: 4,
            available: 3,
        };
        assert_eq!(placement.kafka_error().code(), 38);
        assert_eq!(placement.kafka_error().name(), "INVALID_REPLICATION_FACTOR");
        let topic_partition = TopicPartition::new("t", 0);
        let stale = AlterIsrError::StalePartitionEpoch {
            topic_partition: topic_partition.clone(),
            proposed: PartitionEpoch(1),
            current: PartitionEpoch(2),
        };
        assert_eq!(stale.kafka_error().code(), 95);
        let fenced = AlterIsrError::FencedLeaderEpoch {
            topic_partition: topic_partition.clone(),
            proposed: LeaderEpoch(1),
            current: LeaderEpoch(2),
        };
        assert_eq!(fenced.kafka_error().code(), 74);
        let not_leader = AlterIsrError::NotLeader {
            topic_partition: topic_partition.clone(),
            proposer: BrokerId(2),
            leader: None,
        };
        assert_eq!(not_leader.kafka_error().code(), 6);
        let ineligible = AlterIsrError::IneligibleReplica {
            topic_partition: topic_partition.clone(),
            broker: BrokerId(3),
            reason: Ineligibility::Fenced,
        };
        assert_eq!(ineligible.kafka_error().code(), 107);
        let unknown = AlterIsrError::UnknownTopicOrPartition { topic_partition };
        assert_eq!(unknown.kafka_error().code(), 3);
        let exists = CreateTopicError::TopicAlreadyExists {
            topic: "t".to_string(),
        };
        assert_eq!(exists.kafka_error().code(), 36);
        let unknown_topic = AlterConfigError::UnknownTopic {
            topic: "t".to_string(),
        };
        assert_eq!(unknown_topic.kafka_error().code(), 3);
        let invalid_config = AlterConfigError::InvalidMinInsyncReplicas {
            topic: "t".to_string(),
            min_insync_replicas: 0,
        };
        assert_eq!(invalid_config.kafka_error().name(), "INVALID_CONFIG");
        let stale = BrokerError::StaleIncarnation {
            broker: BrokerId(1),
            incarnation: 3,
            registered: 4,
        };
        assert_eq!(stale.kafka_error().code(), 77);
        assert_eq!(stale.kafka_error().name(), "STALE_BROKER_EPOCH");
        assert_eq!(
            stale.to_string(),
            "broker 1: incarnation 3 is stale, the registered one is 4"
        );
        let unknown_topic = DeleteTopicError::UnknownTopic {
            topic: "t".to_string(),
        };
        assert_eq!(unknown_topic.kafka_error().code(), 3);
    }

    #[test]
    fn messages_are_lowercase_and_carry_the_numbers() {
        let error = AlterIsrError::StalePartitionEpoch {
            topic_partition: TopicPartition::new("orders", 3),
            proposed: PartitionEpoch(4),
            current: PartitionEpoch(6),
        };
        assert_eq!(
            error.to_string(),
            "orders-3: proposal carries partition epoch 4, current is 6"
        );
        let error = PlacementError::InvalidReplicationFactor {
            requested: 4,
            available: 3,
        };
        assert_eq!(
            error.to_string(),
            "invalid replication factor 4: 3 live brokers available, need between 1 and 3"
        );
    }
}
