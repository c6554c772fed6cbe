//! Retries: the exponential backoff schedule and the decision whether to retry at all. Pure:
//! the caller passes the time.
//!
//! The n-th retry waits `retry_backoff * 2^(n-1)`, capped at `retry_backoff_max` (Kafka's
//! `retry.backoff.ms` and `retry.backoff.max.ms`, without Kafka's random jitter: the schedule is
//! exact so tests can assert it). A retry happens only for a retriable error and only if it
//! can start before the deadline (for a produce, its `delivery_timeout` from the first append).

use std::time::{Duration, Instant};

use crate::error::ClientError;

/// The exponential backoff schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// How long to wait before retry number `retry` (from 1).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// What to do after an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RetryDecision {
    /// Try again at this time, refreshing metadata first when asked.
    RetryAt { at: Instant, refresh_metadata: bool },
    /// The error is final.
    GiveUp,
    /// The error is retriable, but the next try would start after the deadline.
    DeadlinePassed,
}

/// Decides about a failed attempt: `retries_so_far` retries were already made.
pub(crate) fn decide(
    backoff: Backoff,
    error: &ClientError,
    retries_so_far: u32,
    now: Instant,
    deadline: Instant,
) -> RetryDecision {
    if !error.is_retriable() {
        return RetryDecision::GiveUp;
    }
    let at = now + backoff.delay(retries_so_far + 1);
    if at >= deadline {
        return RetryDecision::DeadlinePassed;
    }
    RetryDecision::RetryAt {
        at,
        refresh_metadata: error.needs_metadata_refresh(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::ErrorCode;

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };

    #[test]
    fn the_delay_doubles_from_the_initial_one_up_to_the_cap() {
        let delays: Vec<u128> = (1..=7).map(|n| BACKOFF.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        // Huge retry counts neither overflow nor exceed the cap.
        assert_eq!(BACKOFF.delay(u32::MAX), Duration::from_secs(1));
        let zero = Backoff {
            initial: Duration::ZERO,
            max: Duration::from_secs(1),
        };
        assert_eq!(zero.delay(10), Duration::ZERO);
    }

    #[test]
    fn retriable_errors_retry_until_the_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(1000);
        let not_leader = ClientError::broker("p", ErrorCode::NOT_LEADER_OR_FOLLOWER, None);
        assert_eq!(
            decide(BACKOFF, &not_leader, 0, now, deadline),
            RetryDecision::RetryAt {
                at: now + Duration::from_millis(100),
                refresh_metadata: true
            }
        );
        let not_enough = ClientError::broker("p", ErrorCode::NOT_ENOUGH_REPLICAS, None);
        assert_eq!(
            decide(BACKOFF, &not_enough, 2, now, deadline),
            RetryDecision::RetryAt {
                at: now + Duration::from_millis(400),
                refresh_metadata: false
            }
        );
        // The fourth retry would wait 800 ms from 300 ms before the deadline.
        let late = now + Duration::from_millis(700);
        assert_eq!(
            decide(BACKOFF, &not_enough, 3, late, deadline),
            RetryDecision::DeadlinePassed
        );
    }

    #[test]
    fn final_errors_are_not_retried() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(100);
        let too_large = ClientError::broker("p", ErrorCode::MESSAGE_TOO_LARGE, None);
        assert_eq!(
            decide(BACKOFF, &too_large, 0, now, deadline),
            RetryDecision::GiveUp
        );
        let unknown = ClientError::broker("p", ErrorCode(9999), None);
        assert_eq!(
            decide(BACKOFF, &unknown, 0, now, deadline),
            RetryDecision::GiveUp
        );
    }
}
