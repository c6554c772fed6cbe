//! The replication crate's domain values. Integers that mean different things get different
//! types, so a broker id is never confused with an epoch. [`Offset`] and [`LeaderEpoch`] are the
//! engine's own, re-exported so both crates speak of the same values.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ringlog_format::{LeaderEpoch, Offset};

/// A broker's id, unique in the cluster (Kafka's `node.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerId(pub u32);

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A topic's id: a UUID given at creation, as Kafka gives one, which tells a topic from an
/// older one of the same name (deleted and created again). Shown as Kafka shows it: URL-safe
/// base64 without padding, 22 characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    /// No id: a topic created before ids existed. Kafka's `Uuid.ZERO_UUID`.
    pub const ZERO: TopicId = TopicId([0; 16]);

    /// A random version-4 UUID from `bytes` (16 random bytes): the version and variant bits
    /// set as RFC 4122 says. Never [`TopicId::ZERO`].
    pub fn from_random(mut bytes: [u8; 16]) -> TopicId {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        TopicId(bytes)
    }

    pub fn is_zero(self) -> bool {
        self == TopicId::ZERO
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

impl std::str::FromStr for TopicId {
    /// What is wrong with it.
    type Err = String;

    fn from_str(s: &str) -> Result<TopicId, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|error| format!("topic id {s:?} is not URL-safe base64: {error}"))?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!("topic id {s:?} holds {} bytes, not 16", bytes.len())
        })?;
        Ok(TopicId(bytes))
    }
}

/// The version of a partition's leader and ISR as the controller committed them. Every change to
/// either bumps it; an ISR proposal built on an older one is refused (Kafka's
/// INVALID_UPDATE_VERSION), so a leader cannot overwrite a change it has not seen.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PartitionEpoch(pub u32);

impl PartitionEpoch {
    /// The epoch after this one.
    pub fn next(self) -> PartitionEpoch {
        PartitionEpoch(self.0.checked_add(1).expect("partition epoch overflow"))
    }
}

impl fmt::Display for PartitionEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Serde for [`LeaderEpoch`], the engine's type (which stays free of serde): its number, as a
/// field attribute `#[serde(with = "crate::types::leader_epoch_serde")]`.
pub(crate) mod leader_epoch_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::LeaderEpoch;

    pub(crate) fn serialize<S: Serializer>(
        epoch: &LeaderEpoch,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        epoch.0.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<LeaderEpoch, D::Error> {
        u32::deserialize(deserializer).map(LeaderEpoch)
    }
}

/// The leader epoch after `epoch`. A free function because [`LeaderEpoch`] belongs to the engine.
pub fn next_leader_epoch(epoch: LeaderEpoch) -> LeaderEpoch {
    LeaderEpoch(epoch.0.checked_add(1).expect("leader epoch overflow"))
}

/// The failure domain a broker sits in (Kafka's `broker.rack`). Placement spreads a partition's
/// replicas over racks before it puts two in one rack.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rack(pub String);

impl fmt::Display for Rack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One partition of one topic. Displays as Kafka does: `orders-3`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A point in time in milliseconds, always supplied by the caller: this crate reads no clock, so
/// a test or the simulator decides what time it is.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// The time elapsed from `earlier` to `self`; zero if `earlier` is later (a caller's clock
    /// that stepped back never makes a broker look silent).
    pub fn saturating_since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// The time `duration` after this one, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Millis {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Millis(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_prints_uuids_and_parse_back() {
        // Kafka's Uuid.toString of 0x0102..0f10: URL-safe base64, no padding.
        let id = TopicId(std::array::from_fn(|i| i as u8 + 1));
        assert_eq!(id.to_string(), "AQIDBAUGBwgJCgsMDQ4PEA");
        assert_eq!("AQIDBAUGBwgJCgsMDQ4PEA".parse::<TopicId>(), Ok(id));
        assert_eq!(TopicId::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        assert!(
            "AQID"
                .parse::<TopicId>()
                .unwrap_err()
                .contains("holds 3 bytes, not 16")
        );
        assert!("not base64!".parse::<TopicId>().is_err());
        let random = TopicId::from_random([0xff; 16]);
        assert_eq!(random.0[6] >> 4, 4, "version 4");
        assert_eq!(random.0[8] >> 6, 0b10, "RFC 4122 variant");
        assert!(!TopicId::from_random([0; 16]).is_zero());
    }

    #[test]
    fn topic_partition_displays_as_topic_dash_partition() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
    }

    #[test]
    fn elapsed_time_never_goes_negative() {
        assert_eq!(Millis(5).saturating_since(Millis(9)), Duration::ZERO);
        assert_eq!(
            Millis(9).saturating_since(Millis(5)),
            Duration::from_millis(4)
        );
    }

    #[test]
    fn epochs_step_by_one() {
        assert_eq!(PartitionEpoch(4).next(), PartitionEpoch(5));
        assert_eq!(next_leader_epoch(LeaderEpoch(7)), LeaderEpoch(8));
    }
}
