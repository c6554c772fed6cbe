//! Broker liveness from heartbeats, as pure functions of the last heartbeat and the time now.
//!
//! A broker the controller has not heard from for longer than `broker_session_timeout` is
//! fenced: it leaves every ISR and its partitions are re-elected (see
//! [`ClusterMetadata::tick`](super::ClusterMetadata::tick)). A fenced broker that heartbeats
//! again is unfenced. The time is always the caller's: this module reads no clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{BrokerId, Millis};

/// Kafka's default `broker.session.timeout.ms`.
pub const BROKER_SESSION_TIMEOUT_DEFAULT: Duration = Duration::from_millis(9000);

/// The controller's liveness settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivenessConfig {
    /// How long a broker may stay silent before it is fenced (`broker_session_timeout_ms`).
    pub broker_session_timeout: Duration,
}

impl LivenessConfig {
    /// The config from its key's value in milliseconds.
    pub fn from_broker_session_timeout_ms(broker_session_timeout_ms: u64) -> LivenessConfig {
        LivenessConfig {
            broker_session_timeout: Duration::from_millis(broker_session_timeout_ms),
        }
    }
}

impl Default for LivenessConfig {
    fn default() -> LivenessConfig {
        LivenessConfig {
            broker_session_timeout: BROKER_SESSION_TIMEOUT_DEFAULT,
        }
    }
}

/// Whether a broker last heard from at `last_heartbeat` has outlived its session at `now`. The
/// session lasts the whole timeout: silence of exactly the timeout is still alive (Kafka's
/// `lastContact + timeout < now`).
pub fn session_expired(last_heartbeat: Millis, now: Millis, config: &LivenessConfig) -> bool {
    now.saturating_since(last_heartbeat) > config.broker_session_timeout
}

/// The brokers among `(id, last_heartbeat)` of the unfenced ones whose session has expired at
/// `now`, in the order given.
pub fn expired_sessions(
    unfenced: impl IntoIterator<Item = (BrokerId, Millis)>,
    now: Millis,
    config: &LivenessConfig,
) -> Vec<BrokerId> {
    unfenced
        .into_iter()
        .filter(|&(_, last_heartbeat)| session_expired(last_heartbeat, now, config))
        .map(|(broker, _)| broker)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_session_timeout_is_nine_seconds() {
        assert_eq!(
            LivenessConfig::default().broker_session_timeout,
            Duration::from_millis(9000)
        );
    }

    #[test]
    fn silence_of_exactly_the_timeout_is_not_expired() {
        let config = LivenessConfig::default();
        assert!(!session_expired(Millis(1000), Millis(10_000), &config));
    }

    #[test]
    fn silence_beyond_the_timeout_is_expired() {
        let config = LivenessConfig::default();
        assert!(session_expired(Millis(1000), Millis(10_001), &config));
    }

    #[test]
    fn a_clock_that_steps_back_never_expires_a_session() {
        let config = LivenessConfig::from_broker_session_timeout_ms(1);
        assert!(!session_expired(Millis(5000), Millis(0), &config));
    }

    #[test]
    fn only_brokers_past_the_timeout_are_reported() {
        let config = LivenessConfig::from_broker_session_timeout_ms(100);
        let unfenced = [
            (BrokerId(1), Millis(0)),
            (BrokerId(2), Millis(50)),
            (BrokerId(3), Millis(10)),
        ];
        assert_eq!(
            expired_sessions(unfenced, Millis(120), &config),
            vec![BrokerId(1), BrokerId(3)]
        );
    }
}
