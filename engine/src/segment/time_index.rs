//! The sparse time index of one segment (`<base offset>.timeindex`), Kafka's layout.
//!
//! | field           | offset | size | type | notes                                          |
//! |-----------------|-------:|-----:|------|------------------------------------------------|
//! | timestamp       |      0 |    8 | i64  | the segment's max timestamp so far (ms)        |
//! | relative offset |      8 |    4 | u32  | base offset of the batch that first reached it |
//!
//! Big-endian, back to back, timestamps strictly increasing, offsets non-decreasing; derived
//! data, checked on load and rebuilt from the log like the offset index. An entry is added with
//! each offset-index entry when the max timestamp grew, and once more when the segment stops
//! being active, so the last entry holds the segment's max timestamp.
//!
//! Why the search is right: every batch before an entry's batch has a max timestamp below the
//! entry's, so for a target at or above an entry's timestamp the answer lies at or after the
//! entry's batch.

use crate::types::{Offset, Timestamp};

/// Bytes per entry.
pub const ENTRY_LEN: usize = 12;
const OFFSET_AT: usize = 8;
const _: () = assert!(OFFSET_AT + 4 == ENTRY_LEN);

/// One entry: the largest timestamp so far in the segment is `timestamp`, first reached by the
/// batch whose base offset is `base + relative_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl TimeEntry {
    /// Appends the entry's [`ENTRY_LEN`] bytes to `out`, as the `.timeindex` file holds it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
}

/// Decodes a whole time index file, refusing partial entries and out-of-order columns.
pub fn decode(bytes: &[u8]) -> Result<Vec<TimeEntry>, String> {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "length {} is not a multiple of the entry size {ENTRY_LEN}",
            bytes.len()
        ));
    }
    let mut entries: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / ENTRY_LEN);
    for (i, chunk) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
        let entry = TimeEntry {
            timestamp: i64::from_be_bytes(chunk[..OFFSET_AT].try_into().expect("8 bytes")),
            relative_offset: u32::from_be_bytes(chunk[OFFSET_AT..].try_into().expect("4 bytes")),
        };
        if let Some(prev) = entries.last()
            && (entry.timestamp <= prev.timestamp || entry.relative_offset < prev.relative_offset)
        {
            return Err(format!(
                "entry {i} ({}, {}) does not follow entry {} ({}, {})",
                entry.timestamp,
                entry.relative_offset,
                i - 1,
                prev.timestamp,
                prev.relative_offset
            ));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The in-memory time index of one segment.
#[derive(Clone, Debug, Default)]
pub struct TimeIndex {
    base_offset: Offset,
    entries: Vec<TimeEntry>,
}

impl TimeIndex {
    /// An empty time index of the segment starting at `base_offset`.
    pub fn new(base_offset: Offset) -> Self {
        TimeIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// The time index of the segment starting at `base_offset` with `entries` (as [`decode`]
    /// read them: timestamps strictly increasing, offsets not decreasing).
    pub fn from_entries(base_offset: Offset, entries: Vec<TimeEntry>) -> Self {
        TimeIndex {
            base_offset,
            entries,
        }
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[TimeEntry] {
        &self.entries
    }

    /// The last entry: the segment's largest timestamp so far, if any was indexed.
    pub fn last(&self) -> Option<TimeEntry> {
        self.entries.last().copied()
    }

    /// Records that the max timestamp so far is `timestamp`, first reached by the batch at
    /// `offset`; does nothing unless it is larger than the last entry's.
    pub fn maybe_push(&mut self, timestamp: Timestamp, offset: Offset) {
        if self.last().is_some_and(|e| e.timestamp >= timestamp.0) {
            return;
        }
        let relative = u32::try_from(offset.0 - self.base_offset.0).expect("fits in u32");
        if let Some(last) = self.last() {
            assert!(
                relative >= last.relative_offset,
                "time index offset {relative} before {}",
                last.relative_offset
            );
        }
        self.entries.push(TimeEntry {
            timestamp: timestamp.0,
            relative_offset: relative,
        });
    }

    /// The offset to start scanning from for the first batch whose max timestamp is at least
    /// `target`: the entry with the largest timestamp below it, or the segment base.
    pub fn lookup(&self, target: Timestamp) -> Offset {
        let idx = self.entries.partition_point(|e| e.timestamp < target.0);
        match idx {
            0 => self.base_offset,
            n => self
                .base_offset
                .plus(u64::from(self.entries[n - 1].relative_offset)),
        }
    }

    /// Drops entries for batches at or after `offset` (the segment was cut there).
    pub fn truncate_to_offset(&mut self, offset: Offset) {
        let keep = self
            .entries
            .partition_point(|e| self.base_offset.0 + u64::from(e.relative_offset) < offset.0);
        self.entries.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growing_timestamps_are_recorded() {
        let mut idx = TimeIndex::new(Offset(0));
        idx.maybe_push(Timestamp(10), Offset(0));
        idx.maybe_push(Timestamp(10), Offset(5));
        idx.maybe_push(Timestamp(7), Offset(9));
        idx.maybe_push(Timestamp(20), Offset(12));
        assert_eq!(idx.entries().len(), 2);
        assert_eq!(idx.last().unwrap().timestamp, 20);
    }

    #[test]
    fn lookup_starts_at_the_last_entry_below_the_target() {
        let mut idx = TimeIndex::new(Offset(1000));
        idx.maybe_push(Timestamp(10), Offset(1000));
        idx.maybe_push(Timestamp(20), Offset(1040));
        idx.maybe_push(Timestamp(30), Offset(1080));
        assert_eq!(idx.lookup(Timestamp(5)), Offset(1000));
        assert_eq!(idx.lookup(Timestamp(10)), Offset(1000));
        assert_eq!(idx.lookup(Timestamp(25)), Offset(1040));
        assert_eq!(idx.lookup(Timestamp(99)), Offset(1080));
    }

    #[test]
    fn encoded_entries_decode_back_and_disorder_is_refused() {
        let mut bytes = Vec::new();
        TimeEntry {
            timestamp: 5,
            relative_offset: 0,
        }
        .encode(&mut bytes);
        TimeEntry {
            timestamp: 9,
            relative_offset: 3,
        }
        .encode(&mut bytes);
        assert_eq!(decode(&bytes).unwrap().len(), 2);
        TimeEntry {
            timestamp: 8,
            relative_offset: 4,
        }
        .encode(&mut bytes);
        assert!(decode(&bytes).unwrap_err().contains("entry 2"));
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let _ = decode(&bytes);
        }
    }
}
