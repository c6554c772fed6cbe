//! [`ErrorCode`]: the `i16` error field of every response, with Kafka's numbers and names
//! wherever Kafka has the error (its protocol guide's error table). `NONE` (0) is success.
//! `net/PROTOCOL.md` says what each means in ringlog.
//!
//! A code this table does not know is still a valid code on the wire: a newer broker may send
//! it. [`ErrorCode::name`] is then `None` and the code is not retriable.

use std::fmt;

use ringlog_replication::KafkaError;

/// An error code as carried on the wire. Named codes are associated constants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub i16);

/// Declares the named codes once: the constants, and the table `name` and `is_retriable` read.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, retriable: $retriable:literal;)*) => {
        impl ErrorCode {
            $($(#[$doc])* pub const $name: ErrorCode = ErrorCode($code);)*
        }

        /// Every named code: (code, Kafka's name, whether a client may retry).
        pub const KNOWN_ERROR_CODES: &[(ErrorCode, &str, bool)] =
            &[$((ErrorCode($code), stringify!($name), $retriable),)*];
    };
}

error_codes! {
    /// The broker failed in a way no other code describes (a bug, or an encode failure).
    UNKNOWN_SERVER_ERROR = -1, retriable: false;
    /// Success.
    NONE = 0, retriable: false;
    /// A fetch offset outside `[log_start_offset, log_end_offset]` of the partition.
    OFFSET_OUT_OF_RANGE = 1, retriable: false;
    /// A produced batch failed validation (CRC, magic, lengths, offsets).
    CORRUPT_MESSAGE = 2, retriable: true;
    /// The topic or partition does not exist (or not on this broker).
    UNKNOWN_TOPIC_OR_PARTITION = 3, retriable: true;
    /// A fetch size (`max_bytes`, `partition_max_bytes`) the broker refuses.
    INVALID_FETCH_SIZE = 4, retriable: false;
    /// The partition has no leader right now (an election is under way, or it is offline).
    LEADER_NOT_AVAILABLE = 5, retriable: true;
    /// This broker is not the partition's leader (or, for a follower's fetch, not a replica).
    NOT_LEADER_OR_FOLLOWER = 6, retriable: true;
    /// An acks=all produce, or an admin request, did not complete within its timeout.
    REQUEST_TIMED_OUT = 7, retriable: true;
    /// A produced batch is larger than the broker's or topic's batch limit.
    MESSAGE_TOO_LARGE = 10, retriable: false;
    /// An offset commit's metadata string is longer than the broker accepts.
    OFFSET_METADATA_TOO_LARGE = 12, retriable: false;
    /// The connection failed before a response arrived (client side only; never sent).
    NETWORK_EXCEPTION = 13, retriable: true;
    /// The group coordinator is still loading the group's state (after a leadership move).
    COORDINATOR_LOAD_IN_PROGRESS = 14, retriable: true;
    /// The group coordinator (the leader of the group's partition of `__consumer_offsets`)
    /// is not available yet: the offsets topic is being created, or the partition has no
    /// leader.
    COORDINATOR_NOT_AVAILABLE = 15, retriable: true;
    /// This broker is not the group's coordinator: ask the leader of the group's partition of
    /// `__consumer_offsets`.
    NOT_COORDINATOR = 16, retriable: true;
    /// A topic name that is empty, too long or has a character outside `[a-zA-Z0-9._-]`.
    INVALID_TOPIC_EXCEPTION = 17, retriable: false;
    /// A produce request's records for one partition exceed the broker's limit.
    RECORD_LIST_TOO_LARGE = 18, retriable: false;
    /// acks=all refused before appending: the ISR is smaller than `min_insync_replicas`.
    NOT_ENOUGH_REPLICAS = 19, retriable: true;
    /// acks=all appended, then the ISR fell below `min_insync_replicas` before it committed.
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, retriable: true;
    /// acks other than 0, 1 or -1.
    INVALID_REQUIRED_ACKS = 21, retriable: false;
    /// A group request of a generation that is not the group's current one.
    ILLEGAL_GENERATION = 22, retriable: false;
    /// A member's protocol type or protocols do not match the group's.
    INCONSISTENT_GROUP_PROTOCOL = 23, retriable: false;
    /// An empty or otherwise invalid consumer group id.
    INVALID_GROUP_ID = 24, retriable: false;
    /// A group request from a member id the group does not know.
    UNKNOWN_MEMBER_ID = 25, retriable: false;
    /// A session timeout outside the broker's allowed range.
    INVALID_SESSION_TIMEOUT = 26, retriable: false;
    /// The group is rebalancing: the member must rejoin.
    REBALANCE_IN_PROGRESS = 27, retriable: false;
    /// The authorizer denied the request's principal an operation on a topic it names.
    TOPIC_AUTHORIZATION_FAILED = 29, retriable: false;
    /// The authorizer denied the request's principal an operation on its group.
    GROUP_AUTHORIZATION_FAILED = 30, retriable: false;
    /// The authorizer denied the request's principal an operation on the cluster.
    CLUSTER_AUTHORIZATION_FAILED = 31, retriable: false;
    /// A SASL mechanism the broker does not offer (AlterUserScramCredentials: not
    /// SCRAM-SHA-256 or SCRAM-SHA-512).
    UNSUPPORTED_SASL_MECHANISM = 33, retriable: false;
    /// A SASL request out of turn: a SaslAuthenticate before a handshake, a handshake during
    /// the exchange, or on an authenticated connection that has nothing to renew.
    ILLEGAL_SASL_STATE = 34, retriable: false;
    /// An api key or version the broker does not speak.
    UNSUPPORTED_VERSION = 35, retriable: false;
    /// CreateTopics of a name that exists.
    TOPIC_ALREADY_EXISTS = 36, retriable: false;
    /// A partition count that is zero or above the broker's limit.
    INVALID_PARTITIONS = 37, retriable: false;
    /// A replication factor of zero, or above the number of live brokers.
    INVALID_REPLICATION_FACTOR = 38, retriable: false;
    /// An unknown config key or a value out of its range.
    INVALID_CONFIG = 40, retriable: false;
    /// A request body that does not decode, or whose fields contradict each other.
    INVALID_REQUEST = 42, retriable: false;
    /// The request breaks a policy of the broker's.
    POLICY_VIOLATION = 44, retriable: false;
    /// An idempotent producer's batch does not follow its last one (a batch in between was
    /// lost), or a new epoch does not start at sequence 0.
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, retriable: false;
    /// An idempotent producer's batch the partition already holds (Kafka's answer to some
    /// retries; ringlog answers those with the first append's offsets instead).
    DUPLICATE_SEQUENCE_NUMBER = 46, retriable: false;
    /// An idempotent producer's epoch older than the partition's: a newer instance fenced it.
    INVALID_PRODUCER_EPOCH = 47, retriable: false;
    /// The partition's log failed on disk (its directory is offline on this broker).
    KAFKA_STORAGE_ERROR = 56, retriable: true;
    /// A SASL login failed: a wrong password, an unknown user or an unusable credential
    /// alike (the message never says which), or a malformed message.
    SASL_AUTHENTICATION_FAILED = 58, retriable: false;
    /// A batch from a producer id the partition does not know (expired, or its records
    /// deleted) that does not start at sequence 0: the producer bumps its epoch (KIP-360).
    UNKNOWN_PRODUCER_ID = 59, retriable: false;
    /// DeleteGroups of a group that still has members.
    NON_EMPTY_GROUP = 68, retriable: false;
    /// A group request naming a group that does not exist.
    GROUP_ID_NOT_FOUND = 69, retriable: false;
    /// A fetch session id the broker does not hold (on this connection).
    FETCH_SESSION_ID_NOT_FOUND = 70, retriable: true;
    /// A fetch session epoch that does not follow the session's last.
    INVALID_FETCH_SESSION_EPOCH = 71, retriable: true;
    /// The request carries a leader epoch older than the broker's: the sender is behind.
    FENCED_LEADER_EPOCH = 74, retriable: true;
    /// The request carries a leader epoch newer than the broker's: the broker is behind.
    UNKNOWN_LEADER_EPOCH = 75, retriable: true;
    /// A new leader cannot answer ListOffsets yet (its high watermark is not known).
    OFFSET_NOT_AVAILABLE = 78, retriable: true;
    /// A new member must rejoin with the member id the broker gave it (KIP-394).
    MEMBER_ID_REQUIRED = 79, retriable: false;
    /// The group has as many members as the broker allows.
    GROUP_MAX_SIZE_REACHED = 81, retriable: false;
    /// A static member (group instance id) replaced by a newer one with the same id.
    FENCED_INSTANCE_ID = 82, retriable: false;
    /// OffsetDelete of a partition the group's members are subscribed to.
    GROUP_SUBSCRIBED_TO_TOPIC = 86, retriable: false;
    /// A record or batch the broker refuses as a whole: for now a transactional or control
    /// batch (transactions are not supported yet), or an idempotent batch not alone in its
    /// partition's records.
    INVALID_RECORD = 87, retriable: false;
    /// A user without the credential named (AlterUserScramCredentials' deletion, a describe).
    RESOURCE_NOT_FOUND = 91, retriable: false;
    /// A user named twice in one request of the SCRAM credential APIs.
    DUPLICATE_RESOURCE = 92, retriable: false;
    /// A SCRAM credential outside Kafka's bounds: iterations below 4096 or above 16384, an
    /// empty salt or user name, a salted password of the wrong length.
    UNACCEPTABLE_CREDENTIAL = 93, retriable: false;
    /// An ISR proposal built on an older partition epoch than the controller's.
    INVALID_UPDATE_VERSION = 95, retriable: false;
    /// A topic id the broker does not know.
    UNKNOWN_TOPIC_ID = 100, retriable: true;
    /// A broker registered with an id that is already registered.
    DUPLICATE_BROKER_REGISTRATION = 101, retriable: false;
    /// A heartbeat or proposal from a broker id that is not registered.
    BROKER_ID_NOT_REGISTERED = 102, retriable: false;
    /// An ISR proposal names a replica that may not join (fenced, or not a replica).
    INELIGIBLE_REPLICA = 107, retriable: false;
    /// DescribeCluster asked for an endpoint type the broker does not serve.
    UNSUPPORTED_ENDPOINT_TYPE = 115, retriable: false;
}

impl ErrorCode {
    /// Whether this is success.
    pub fn is_none(self) -> bool {
        self == ErrorCode::NONE
    }

    /// Kafka's name for the code, `None` for a code this build does not know.
    pub fn name(self) -> Option<&'static str> {
        lookup(self).map(|(_, name, _)| name)
    }

    /// Whether a client may retry the same request (after refreshing metadata where the code
    /// is about leadership). Kafka's retriable flag; unknown codes are not retriable.
    pub fn is_retriable(self) -> bool {
        lookup(self).is_some_and(|(_, _, retriable)| retriable)
    }
}

fn lookup(code: ErrorCode) -> Option<(ErrorCode, &'static str, bool)> {
    KNOWN_ERROR_CODES
        .iter()
        .find(|(known, _, _)| *known == code)
        .copied()
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown error code {}", self.0),
        }
    }
}

impl From<KafkaError> for ErrorCode {
    fn from(error: KafkaError) -> ErrorCode {
        ErrorCode(error.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_have_kafkas_numbers() {
        let expected: &[(ErrorCode, i16)] = &[
            (ErrorCode::UNKNOWN_SERVER_ERROR, -1),
            (ErrorCode::NONE, 0),
            (ErrorCode::OFFSET_OUT_OF_RANGE, 1),
            (ErrorCode::CORRUPT_MESSAGE, 2),
            (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, 3),
            (ErrorCode::INVALID_FETCH_SIZE, 4),
            (ErrorCode::LEADER_NOT_AVAILABLE, 5),
            (ErrorCode::NOT_LEADER_OR_FOLLOWER, 6),
            (ErrorCode::REQUEST_TIMED_OUT, 7),
            (ErrorCode::MESSAGE_TOO_LARGE, 10),
            (ErrorCode::COORDINATOR_NOT_AVAILABLE, 15),
            (ErrorCode::NOT_COORDINATOR, 16),
            (ErrorCode::INVALID_TOPIC_EXCEPTION, 17),
            (ErrorCode::RECORD_LIST_TOO_LARGE, 18),
            (ErrorCode::NOT_ENOUGH_REPLICAS, 19),
            (ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20),
            (ErrorCode::INVALID_REQUIRED_ACKS, 21),
            (ErrorCode::UNSUPPORTED_SASL_MECHANISM, 33),
            (ErrorCode::ILLEGAL_SASL_STATE, 34),
            (ErrorCode::UNSUPPORTED_VERSION, 35),
            (ErrorCode::TOPIC_ALREADY_EXISTS, 36),
            (ErrorCode::INVALID_PARTITIONS, 37),
            (ErrorCode::INVALID_REPLICATION_FACTOR, 38),
            (ErrorCode::INVALID_CONFIG, 40),
            (ErrorCode::INVALID_REQUEST, 42),
            (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, 45),
            (ErrorCode::DUPLICATE_SEQUENCE_NUMBER, 46),
            (ErrorCode::INVALID_PRODUCER_EPOCH, 47),
            (ErrorCode::KAFKA_STORAGE_ERROR, 56),
            (ErrorCode::SASL_AUTHENTICATION_FAILED, 58),
            (ErrorCode::UNKNOWN_PRODUCER_ID, 59),
            (ErrorCode::INVALID_RECORD, 87),
            (ErrorCode::FENCED_LEADER_EPOCH, 74),
            (ErrorCode::UNKNOWN_LEADER_EPOCH, 75),
        ];
        for &(code, number) in expected {
            assert_eq!(code.0, number, "{code}");
        }
    }

    #[test]
    fn codes_are_unique() {
        for (i, (code, name, _)) in KNOWN_ERROR_CODES.iter().enumerate() {
            for (other, other_name, _) in &KNOWN_ERROR_CODES[i + 1..] {
                assert_ne!(code, other, "{name} and {other_name} share a code");
            }
        }
    }

    #[test]
    fn names_and_retriability_follow_kafka() {
        assert_eq!(
            ErrorCode::NOT_LEADER_OR_FOLLOWER.name(),
            Some("NOT_LEADER_OR_FOLLOWER")
        );
        assert!(ErrorCode::NOT_LEADER_OR_FOLLOWER.is_retriable());
        assert!(ErrorCode::NOT_ENOUGH_REPLICAS.is_retriable());
        assert!(ErrorCode::CORRUPT_MESSAGE.is_retriable());
        assert!(!ErrorCode::OFFSET_OUT_OF_RANGE.is_retriable());
        assert!(!ErrorCode::MESSAGE_TOO_LARGE.is_retriable());
        assert!(!ErrorCode::NONE.is_retriable());
        assert_eq!(ErrorCode(9999).name(), None);
        assert!(!ErrorCode(9999).is_retriable());
        assert_eq!(ErrorCode(6).to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
        assert_eq!(ErrorCode(9999).to_string(), "unknown error code 9999");
    }

    /// `net/PROTOCOL.md` lists every named code with its number and retriability.
    #[test]
    fn the_spec_lists_every_code() {
        let spec = include_str!("../../PROTOCOL.md");
        for &(code, name, retriable) in KNOWN_ERROR_CODES {
            let retriable = if retriable { "yes" } else { "no" };
            let row = spec
                .lines()
                .find(|line| line.split('|').nth(2).map(str::trim) == Some(name))
                .unwrap_or_else(|| panic!("PROTOCOL.md has no row for {name}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[1], code.0.to_string(), "{name}");
            assert_eq!(cells[3], retriable, "{name}");
        }
    }

    #[test]
    fn every_replication_error_converts_to_its_named_code() {
        let errors = [
            KafkaError::OffsetOutOfRange,
            KafkaError::CorruptMessage,
            KafkaError::LeaderNotAvailable,
            KafkaError::CoordinatorNotAvailable,
            KafkaError::NotCoordinator,
            KafkaError::MessageTooLarge,
            KafkaError::RecordListTooLarge,
            KafkaError::KafkaStorageError,
            KafkaError::UnknownTopicOrPartition,
            KafkaError::NotLeaderOrFollower,
            KafkaError::InvalidTopicException,
            KafkaError::TopicAlreadyExists,
            KafkaError::InvalidPartitions,
            KafkaError::InvalidReplicationFactor,
            KafkaError::InvalidConfig,
            KafkaError::InvalidRequest,
            KafkaError::FencedLeaderEpoch,
            KafkaError::UnknownLeaderEpoch,
            KafkaError::InvalidUpdateVersion,
            KafkaError::DuplicateBrokerRegistration,
            KafkaError::BrokerIdNotRegistered,
            KafkaError::IneligibleReplica,
            KafkaError::RequestTimedOut,
            KafkaError::NotEnoughReplicas,
            KafkaError::NotEnoughReplicasAfterAppend,
        ];
        for error in errors {
            let code = ErrorCode::from(error);
            assert_eq!(code.0, error.code());
            assert_eq!(code.name(), Some(error.name()), "{error:?}");
        }
    }
}
