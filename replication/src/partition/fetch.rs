//! A follower's fetch as both sides see it: what the request carries
//! ([`FollowerFetchRequest`]), how the leader may refuse it ([`FetchError`]), where it tells the
//! follower their logs part ([`DivergingEpoch`]), and what the follower learns of each batch it
//! receives ([`BatchMeta`], read off the batch header).
//!
//! The rules (Kafka's KIP-320 and KIP-595 fetch validation):
//! - The request carries the follower's current leader epoch. Older than the leader's: the
//!   follower has missed a leadership change and is fenced (FENCED_LEADER_EPOCH). Newer: the
//!   broker answering has not learned of the change yet (UNKNOWN_LEADER_EPOCH). Either way the
//!   follower retries once its view of the partition changes.
//! - It also carries the epoch of the follower's last batch. The leader looks up where that
//!   epoch ends in its own log; if the epoch is unknown to it, or ends before the fetch offset,
//!   the follower's log has a suffix the leader's lacks, and the answer is that diverging epoch
//!   instead of records. The follower truncates there and fetches again.

use crate::error::KafkaError;
use crate::types::{BrokerId, LeaderEpoch, Offset};

/// A fetch from a follower, as the leader receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerFetchRequest {
    /// The follower's log end offset: where it wants records from.
    pub fetch_offset: Offset,
    /// The leader epoch of the follower's last batch; `None` when its log is empty.
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// The leader epoch the follower believes current.
    pub current_leader_epoch: LeaderEpoch,
    /// The follower's log start offset: the leader answers a DeleteRecords once every ISR
    /// replica's has reached the offset deleted to ([`super::delete`]).
    pub log_start_offset: Offset,
}

/// Why a leader refused a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error(
        "fenced leader epoch: the fetch carries leader epoch {requested}, the leader is at {current}"
    )]
    FencedLeaderEpoch {
        requested: LeaderEpoch,
        current: LeaderEpoch,
    },
    #[error(
        "unknown leader epoch: the fetch carries leader epoch {requested}, this broker knows only {current}"
    )]
    UnknownLeaderEpoch {
        requested: LeaderEpoch,
        current: LeaderEpoch,
    },
    #[error(
        "not leader or follower: broker {replica} is not a replica of this partition, or this broker does not lead it"
    )]
    NotLeaderOrFollower { replica: BrokerId },
}

impl FetchError {
    /// The Kafka error this is.
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            FetchError::FencedLeaderEpoch { .. } => KafkaError::FencedLeaderEpoch,
            FetchError::UnknownLeaderEpoch { .. } => KafkaError::UnknownLeaderEpoch,
            FetchError::NotLeaderOrFollower { .. } => KafkaError::NotLeaderOrFollower,
        }
    }
}

/// Where a follower's log parts from the leader's: the largest epoch the leader has that is not
/// newer than the follower's last one, and where that epoch ends in the leader's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivergingEpoch {
    pub epoch: LeaderEpoch,
    pub end_offset: Offset,
}

/// One batch of a fetch response, as its header describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    pub base_offset: Offset,
    pub last_offset: Offset,
    pub leader_epoch: LeaderEpoch,
}

impl BatchMeta {
    /// The offset after the batch's last record.
    pub fn end_offset(&self) -> Offset {
        Offset(self.last_offset.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_errors_carry_kafka_codes_and_numbers() {
        let fenced = FetchError::FencedLeaderEpoch {
            requested: LeaderEpoch(3),
            current: LeaderEpoch(4),
        };
        assert_eq!(fenced.kafka_error().code(), 74);
        assert_eq!(
            fenced.to_string(),
            "fenced leader epoch: the fetch carries leader epoch 3, the leader is at 4"
        );
        let unknown = FetchError::UnknownLeaderEpoch {
            requested: LeaderEpoch(5),
            current: LeaderEpoch(4),
        };
        assert_eq!(unknown.kafka_error().name(), "UNKNOWN_LEADER_EPOCH");
        assert_eq!(unknown.kafka_error().code(), 75);
    }
}
