//! Domain integers as newtypes, so an offset is never confused with a file position or an epoch.
//!
//! Ranges are half-open: an `_end` is exclusive, a `last_` is inclusive. `log_end_offset` is the
//! next offset to be assigned.

use std::fmt;

/// A record's logical offset within one partition. Offsets are never negative inside the log;
/// the wire and on-disk fields that carry them are `i64` (Kafka's), converted at the edges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64);

impl Offset {
    pub const ZERO: Offset = Offset(0);

    /// The offset `n` records later.
    #[inline]
    pub fn plus(self, n: u64) -> Offset {
        Offset(self.0 + n)
    }

    /// The offset as the signed integer Kafka's formats carry.
    #[inline]
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).expect("offset fits in i64")
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A byte position in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FilePos(pub u64);

impl fmt::Display for FilePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The epoch of a partition's leadership: every leader change bumps it, every batch the leader
/// appends is stamped with it. Batches from a producer carry -1 on the wire until stamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaderEpoch(pub u32);

impl LeaderEpoch {
    /// The value stored in a batch's `partitionLeaderEpoch` field.
    #[inline]
    pub fn as_i32(self) -> i32 {
        i32::try_from(self.0).expect("leader epoch fits in i32")
    }
}

impl fmt::Display for LeaderEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch, as Kafka's timestamps are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The wall clock now.
    #[inline]
    pub fn now() -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
