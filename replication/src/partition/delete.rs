//! Deleting a partition's records below an offset (Kafka's DeleteRecords) as its leader does
//! it: the leader moves its own log start there (never past the high watermark), and the
//! request is answered once every replica the leader counts in the ISR reports a log start at
//! least that far, or when its timeout passes. Followers learn the leader's log start from
//! fetch responses and report theirs in their fetches, as in Kafka; a follower whose log ends
//! below the leader's start is answered OFFSET_OUT_OF_RANGE and restarts its log there.
//!
//! Waiting for the ISR is what makes an acknowledged deletion stay: a clean election picks the
//! next leader from the ISR, and every member of it had the new log start when the answer
//! went out (a replica joining the ISR later learned it from the fetch that brought it up to
//! the high watermark). Kafka waits for every live replica; this leader cannot tell which
//! replicas live, and the ISR is the set a new leader comes from.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::KafkaError;
use crate::types::{LeaderEpoch, Millis, Offset};

/// The broker's name for one DeleteRecords of this partition, echoed in the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeleteId(pub u64);

/// Why a DeleteRecords failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeleteError {
    #[error(
        "offset out of range: records may be deleted up to the high watermark {high_watermark}, not {requested}"
    )]
    OffsetOutOfRange {
        requested: Offset,
        high_watermark: Offset,
    },
    #[error(
        "request timed out after {waited:?} waiting for every isr replica's log start to reach {required} (the lowest is {low_watermark})"
    )]
    RequestTimedOut {
        waited: Duration,
        required: Offset,
        low_watermark: Offset,
    },
    #[error("not leader or follower: this broker does not lead the partition")]
    NotLeaderOrFollower,
    #[error(
        "not leader or follower: this broker led the partition in leader epoch {leader_epoch} and no longer does"
    )]
    LeadershipEnded { leader_epoch: LeaderEpoch },
}

impl DeleteError {
    /// The Kafka error this is.
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            DeleteError::OffsetOutOfRange { .. } => KafkaError::OffsetOutOfRange,
            DeleteError::RequestTimedOut { .. } => KafkaError::RequestTimedOut,
            DeleteError::NotLeaderOrFollower | DeleteError::LeadershipEnded { .. } => {
                KafkaError::NotLeaderOrFollower
            }
        }
    }
}

/// One DeleteRecords waiting for the replicas' log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiting {
    /// Every replica's log start must reach this.
    required: Offset,
    received_at: Millis,
    deadline: Millis,
}

/// The DeleteRecords a leader has not answered yet. Pure bookkeeping: the leader says when the
/// low watermark (the smallest log start over the ISR) moved and when time passed.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingDeletes {
    waiting: BTreeMap<DeleteId, Waiting>,
}

impl PendingDeletes {
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// `id` waits until the low watermark reaches `required`, at most until `deadline`.
    pub(super) fn wait(&mut self, id: DeleteId, required: Offset, now: Millis, deadline: Millis) {
        let waiting = Waiting {
            required,
            received_at: now,
            deadline,
        };
        self.waiting.insert(id, waiting);
    }

    /// The deletes `low_watermark` satisfies, answered with it.
    pub(super) fn satisfied(
        &mut self,
        low_watermark: Offset,
    ) -> Vec<(DeleteId, Result<Offset, DeleteError>)> {
        let done: Vec<DeleteId> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.required <= low_watermark)
            .map(|(id, _)| *id)
            .collect();
        done.into_iter()
            .map(|id| {
                self.waiting.remove(&id);
                (id, Ok(low_watermark))
            })
            .collect()
    }

    /// The deletes past their deadline at `now`, answered REQUEST_TIMED_OUT.
    pub(super) fn expired(
        &mut self,
        now: Millis,
        low_watermark: Offset,
    ) -> Vec<(DeleteId, Result<Offset, DeleteError>)> {
        let expired: Vec<DeleteId> = self
            .waiting
            .iter()
            .filter(|(_, w)| now >= w.deadline)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .map(|id| {
                let waiting = self.waiting.remove(&id).expect("listed");
                let error = DeleteError::RequestTimedOut {
                    waited: now.saturating_since(waiting.received_at),
                    required: waiting.required,
                    low_watermark,
                };
                (id, Err(error))
            })
            .collect()
    }

    /// Every delete still waiting, answered NOT_LEADER_OR_FOLLOWER: the leadership ended.
    pub(super) fn resign(
        &mut self,
        leader_epoch: LeaderEpoch,
    ) -> Vec<(DeleteId, Result<Offset, DeleteError>)> {
        let error = DeleteError::LeadershipEnded { leader_epoch };
        std::mem::take(&mut self.waiting)
            .into_keys()
            .map(|id| (id, Err(error.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_is_answered_once_the_low_watermark_reaches_it_with_the_low_watermark() {
        let mut pending = PendingDeletes::default();
        pending.wait(DeleteId(1), Offset(50), Millis(0), Millis(1000));
        pending.wait(DeleteId(2), Offset(80), Millis(0), Millis(1000));
        assert_eq!(pending.satisfied(Offset(49)), vec![]);
        assert_eq!(
            pending.satisfied(Offset(60)),
            vec![(DeleteId(1), Ok(Offset(60)))]
        );
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn a_delete_past_its_deadline_times_out_naming_what_it_waited_for() {
        let mut pending = PendingDeletes::default();
        pending.wait(DeleteId(1), Offset(50), Millis(100), Millis(600));
        assert_eq!(pending.expired(Millis(599), Offset(10)), vec![]);
        let [(id, Err(error))] = &pending.expired(Millis(600), Offset(10))[..] else {
            panic!("one timeout");
        };
        assert_eq!(*id, DeleteId(1));
        assert_eq!(error.kafka_error(), KafkaError::RequestTimedOut);
        assert_eq!(
            error.to_string(),
            "request timed out after 500ms waiting for every isr replica's log start to reach 50 (the lowest is 10)"
        );
    }

    #[test]
    fn a_resigning_leader_answers_every_delete_not_leader() {
        let mut pending = PendingDeletes::default();
        pending.wait(DeleteId(1), Offset(50), Millis(0), Millis(1000));
        let answers = pending.resign(LeaderEpoch(3));
        assert!(matches!(
            &answers[..],
            [(DeleteId(1), Err(DeleteError::LeadershipEnded { .. }))]
        ));
        assert_eq!(pending.len(), 0);
    }
}
