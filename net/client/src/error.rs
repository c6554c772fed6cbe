//! [`ClientError`], the client's one error family. Messages are lowercase, name what was being
//! done (which broker, topic, partition, offset) and carry the numbers; a Kafka error code from
//! a broker is shown with its name (`NOT_LEADER_OR_FOLLOWER (6)`).
//!
//! Errors are `Clone`: one failed produce request fails every record of its batches with the
//! same error. An `io::Error` is kept behind an [`Arc`] for that reason.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ringlog_format::RecordError;
use ringlog_replication::TopicPartition;

use ringlog_wire::{ApiKey, ErrorCode, WireError};

/// Why a client call failed. A broken invariant is a bug and panics; it is never one of these.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A broker answered with an error code: for the whole request, or for one topic or
    /// partition (`context` says which).
    #[error("{context}: broker answered {code}{}", detail(message.as_deref()))]
    Broker {
        /// What was asked, of which topic or partition (`produce to orders-3 on broker 1`).
        context: String,
        /// The broker's code.
        code: ErrorCode,
        /// The broker's explanation, when it gave one.
        message: Option<String>,
    },

    /// No answer within the time allowed.
    #[error("{what} timed out after {} ms", after.as_millis())]
    Timeout {
        /// What was waited for (`Metadata to 127.0.0.1:9092`).
        what: String,
        /// How long.
        after: Duration,
    },

    /// A record was not acknowledged within the producer's `delivery_timeout`.
    #[error(
        "{topic_partition}: record not delivered within delivery_timeout {} ms ({attempts} attempts){}",
        delivery_timeout.as_millis(),
        last_error.as_ref().map(|error| format!(", last error: {error}")).unwrap_or_default()
    )]
    DeliveryTimeout {
        /// The record's partition.
        topic_partition: TopicPartition,
        /// The producer's `delivery_timeout`.
        delivery_timeout: Duration,
        /// Produce requests that carried the record.
        attempts: u32,
        /// Why the last attempt failed; `None` if the record was never sent (no leader).
        last_error: Option<Box<ClientError>>,
    },

    /// A TCP connection could not be opened.
    #[error("connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The system's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The connection closed (or failed) before the answer arrived. Every request in flight on
    /// it fails with this error; whether a produce was appended is unknown.
    #[error(
        "connection to {address} closed with {in_flight} request{} in flight: {reason}",
        if *in_flight == 1 { "" } else { "s" }
    )]
    ConnectionClosed {
        /// `host:port`.
        address: String,
        /// Requests that were waiting for an answer when it closed.
        in_flight: usize,
        /// Why it closed (`closed by the broker`, `read failed: ...`, a protocol violation).
        reason: String,
    },

    /// The broker refused the SASL login (a wrong password, an unknown user, a mechanism its
    /// listener does not offer), the broker failed SCRAM's proof that it holds the user's
    /// credential, or the client and the listener disagree on SASL. Not retriable: the same
    /// login fails again.
    #[error(
        "SASL login to {address}{} failed: {reason}",
        user.as_ref().map(|user| format!(" as {user:?}")).unwrap_or_default()
    )]
    Authentication {
        /// `host:port`.
        address: String,
        /// The user the client logged in as, if it had one.
        user: Option<String>,
        /// The broker's answer (`authentication failed: invalid credentials with SASL mechanism
        /// SCRAM-SHA-512`), or what the client found wrong.
        reason: String,
    },

    /// None of the bootstrap or known brokers could be reached.
    #[error("no broker reachable (tried {}): last error: {last_error}", tried.join(", "))]
    NoBrokerReachable {
        /// The addresses tried, in order.
        tried: Vec<String>,
        /// The last one's failure.
        last_error: Box<ClientError>,
    },

    /// The broker's bytes broke the protocol: a frame that does not decode, an answer out of
    /// order, a frame over `max_frame_bytes`. The connection is closed.
    #[error("protocol error from {address}: {detail}")]
    Protocol {
        /// The broker (`host:port`, or `broker N`).
        address: String,
        /// What was wrong.
        detail: String,
    },

    /// A request could not be encoded (a topic name too long for its field, ...).
    #[error("request cannot be encoded: {0}")]
    Encode(#[source] WireError),

    /// The broker does not speak an API the client needs at any version the client speaks.
    #[error("{address} does not speak {api_key} at a version this client speaks")]
    UnsupportedApi {
        /// `host:port`.
        address: String,
        /// The API not spoken.
        api_key: ApiKey,
    },

    /// A fetched batch failed validation (CRC, lengths, records) or decompression. Nothing of
    /// it is returned; the consumer's position stays at the batch.
    #[error("{topic_partition}: batch at offset {offset} rejected: {source}")]
    CorruptBatch {
        /// The partition fetched.
        topic_partition: TopicPartition,
        /// The batch's base offset as its header says, or the fetch offset when the header
        /// itself is unreadable.
        offset: i64,
        /// What the check found.
        #[source]
        source: RecordError,
    },

    /// The producer's buffer of unsent records has no room and its policy is to fail.
    #[error(
        "producer buffer full: {used} of buffer_bytes {buffer_bytes} used, the record needs {needed}"
    )]
    BufferFull {
        /// Bytes held by records not yet acknowledged.
        used: usize,
        /// The producer's limit.
        buffer_bytes: usize,
        /// What the record would take.
        needed: usize,
    },

    /// A record larger than a limit it must fit whole.
    #[error("record of about {size} bytes exceeds {limit} {max}")]
    RecordTooLarge {
        /// An upper bound of the record's encoded size, with a batch header.
        size: usize,
        /// The limit's name (`max_request_bytes`, `buffer_bytes`).
        limit: &'static str,
        /// The limit's value.
        max: usize,
    },

    /// A record names a partition the topic does not have.
    #[error("{topic_partition}: the topic has {}", partitions(*partition_count))]
    UnknownPartition {
        /// The partition asked for.
        topic_partition: TopicPartition,
        /// The topic's partitions, per the metadata.
        partition_count: u32,
    },

    /// A consumer call about a partition that is not assigned.
    #[error("{topic_partition} is not assigned to this consumer")]
    NotAssigned {
        /// The partition asked about.
        topic_partition: TopicPartition,
    },

    /// A partition has no committed offset and `auto_offset_reset` is `None`, or its offset is
    /// out of range and the policy forbids resetting.
    #[error(
        "{topic_partition}: no valid offset to fetch from ({reason}) and auto_offset_reset is none"
    )]
    NoOffset {
        /// The partition with no position.
        topic_partition: TopicPartition,
        /// Nothing committed, or the offset is out of range.
        reason: String,
    },

    /// A configuration value out of its range, or a call the configuration does not allow.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The producer was closed.
    #[error("producer is closed")]
    Closed,
}

/// `count` partitions, singular for one: `1 partition`, `4 partitions`.
pub(crate) fn partitions(count: u32) -> String {
    match count {
        1 => "1 partition".to_string(),
        count => format!("{count} partitions"),
    }
}

fn detail(message: Option<&str>) -> String {
    message
        .filter(|message| !message.is_empty())
        .map(|message| format!(": {message}"))
        .unwrap_or_default()
}

impl ClientError {
    /// Whether the same request may succeed later: Kafka's retriable flag for broker codes
    /// ([`ErrorCode::is_retriable`]), and true for timeouts and lost connections.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Broker { code, .. } => code.is_retriable(),
            ClientError::Timeout { .. }
            | ClientError::Connect { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::NoBrokerReachable { .. } => true,
            _ => false,
        }
    }

    /// Whether the client should refresh its metadata before retrying: the broker is not (or
    /// no longer) the partition's leader, or the connection to it failed.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            ClientError::Broker { code, .. } => refreshes_metadata(*code),
            ClientError::Connect { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::NoBrokerReachable { .. } => true,
            _ => false,
        }
    }

    /// The Kafka error code this error stands for, when there is one: the broker's, or
    /// NETWORK_EXCEPTION and REQUEST_TIMED_OUT for the client-side failures Kafka names so.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::Connect { .. } | ClientError::ConnectionClosed { .. } => {
                Some(ErrorCode::NETWORK_EXCEPTION)
            }
            ClientError::Timeout { .. } => Some(ErrorCode::REQUEST_TIMED_OUT),
            _ => None,
        }
    }

    pub(crate) fn broker(
        context: impl Into<String>,
        code: ErrorCode,
        message: Option<String>,
    ) -> ClientError {
        debug_assert!(!code.is_none(), "an error needs an error code, not NONE");
        ClientError::Broker {
            context: context.into(),
            code,
            message,
        }
    }
}

/// Codes after which the client's idea of who leads a partition is wrong or stale.
pub(crate) fn refreshes_metadata(code: ErrorCode) -> bool {
    [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode::LEADER_NOT_AVAILABLE,
        ErrorCode::FENCED_LEADER_EPOCH,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
        ErrorCode::KAFKA_STORAGE_ERROR,
        // A group's coordinator is the leader of its partition of the offsets topic.
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::COORDINATOR_NOT_AVAILABLE,
    ]
    .contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_error_names_the_code_and_what_it_was_about() {
        let error = ClientError::broker(
            "produce to orders-3",
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            Some("broker 2 leads it".into()),
        );
        assert_eq!(
            error.to_string(),
            "produce to orders-3: broker answered NOT_LEADER_OR_FOLLOWER (6): broker 2 leads it"
        );
        assert!(error.is_retriable());
        assert!(error.needs_metadata_refresh());
        assert_eq!(error.error_code(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        let error = ClientError::broker("create topic x", ErrorCode::TOPIC_ALREADY_EXISTS, None);
        assert_eq!(
            error.to_string(),
            "create topic x: broker answered TOPIC_ALREADY_EXISTS (36)"
        );
        assert!(!error.is_retriable());
        assert!(!error.needs_metadata_refresh());
    }

    #[test]
    fn lost_connections_and_timeouts_are_retriable() {
        let closed = ClientError::ConnectionClosed {
            address: "127.0.0.1:9092".into(),
            in_flight: 3,
            reason: "closed by the broker".into(),
        };
        assert!(closed.is_retriable());
        assert!(closed.needs_metadata_refresh());
        assert_eq!(closed.error_code(), Some(ErrorCode::NETWORK_EXCEPTION));
        assert_eq!(
            closed.to_string(),
            "connection to 127.0.0.1:9092 closed with 3 requests in flight: closed by the broker"
        );
        let one = ClientError::ConnectionClosed {
            address: "127.0.0.1:9092".into(),
            in_flight: 1,
            reason: "closed by the broker".into(),
        };
        assert_eq!(
            one.to_string(),
            "connection to 127.0.0.1:9092 closed with 1 request in flight: closed by the broker"
        );
        let timeout = ClientError::Timeout {
            what: "Fetch to 127.0.0.1:9092".into(),
            after: Duration::from_millis(1500),
        };
        assert!(timeout.is_retriable());
        assert!(!timeout.needs_metadata_refresh());
        assert_eq!(
            timeout.to_string(),
            "Fetch to 127.0.0.1:9092 timed out after 1500 ms"
        );
    }

    #[test]
    fn a_failed_login_names_the_user_and_is_not_retried() {
        let error = ClientError::Authentication {
            address: "127.0.0.1:9095".into(),
            user: Some("alice".into()),
            reason: "authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-512"
                .into(),
        };
        assert_eq!(
            error.to_string(),
            "SASL login to 127.0.0.1:9095 as \"alice\" failed: authentication failed: invalid \
             credentials with SASL mechanism SCRAM-SHA-512"
        );
        assert!(!error.is_retriable());
        assert!(!error.needs_metadata_refresh());
    }

    #[test]
    fn a_delivery_timeout_carries_the_last_error() {
        let error = ClientError::DeliveryTimeout {
            topic_partition: TopicPartition::new("orders", 1),
            delivery_timeout: Duration::from_secs(2),
            attempts: 4,
            last_error: Some(Box::new(ClientError::broker(
                "produce to orders-1",
                ErrorCode::NOT_ENOUGH_REPLICAS,
                None,
            ))),
        };
        assert_eq!(
            error.to_string(),
            "orders-1: record not delivered within delivery_timeout 2000 ms (4 attempts), last error: produce to orders-1: broker answered NOT_ENOUGH_REPLICAS (19)"
        );
        assert!(!error.is_retriable());
    }
}
