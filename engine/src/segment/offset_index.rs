//! The sparse offset index of one segment (`<base offset>.index`), Kafka's layout.
//!
//! | field           | offset | size | type | notes                                         |
//! |-----------------|-------:|-----:|------|-----------------------------------------------|
//! | relative offset |      0 |    4 | u32  | batch base offset minus the segment's base    |
//! | position        |      4 |    4 | u32  | byte position of that batch in the `.log`     |
//!
//! Big-endian, entries back to back, both columns strictly increasing, no header and no
//! checksum: the index is derived data. It is checked against the log when loaded
//! ([`decode`]'s rules plus the recovery's spot check) and rebuilt from the log when missing or
//! inconsistent. An entry is added before a batch once at least `index_interval_bytes` were
//! appended since the previous one, so a lookup lands at most that far before its target.
//!
//! Unlike Kafka (which keys an entry by the batch's last offset) ringlog keys it by the base
//! offset: the lookup for `t` then lands on the batch holding `t` or one before it, either way.

use crate::types::{FilePos, Offset};

/// Bytes per entry.
pub const ENTRY_LEN: usize = 8;
const POSITION_AT: usize = 4;
const _: () = assert!(POSITION_AT + 4 == ENTRY_LEN);

/// One entry: the batch whose base offset is `base + relative_offset` starts at `position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry {
    /// Appends the entry's [`ENTRY_LEN`] bytes to `out`, as the `.index` file holds it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
}

/// Decodes a whole index file. Refuses a length that is not a multiple of [`ENTRY_LEN`] and
/// columns that do not strictly increase, naming the entry.
pub fn decode(bytes: &[u8]) -> Result<Vec<IndexEntry>, String> {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "length {} is not a multiple of the entry size {ENTRY_LEN}",
            bytes.len()
        ));
    }
    let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
    for (i, chunk) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
        let entry = IndexEntry {
            relative_offset: u32::from_be_bytes(chunk[..POSITION_AT].try_into().expect("4 bytes")),
            position: u32::from_be_bytes(chunk[POSITION_AT..].try_into().expect("4 bytes")),
        };
        if let Some(prev) = entries.last() {
            check_increasing(i, prev, &entry)?;
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn check_increasing(i: usize, prev: &IndexEntry, entry: &IndexEntry) -> Result<(), String> {
    if entry.relative_offset <= prev.relative_offset || entry.position <= prev.position {
        return Err(format!(
            "entry {i} ({}, {}) does not follow entry {} ({}, {})",
            entry.relative_offset,
            entry.position,
            i - 1,
            prev.relative_offset,
            prev.position
        ));
    }
    Ok(())
}

/// The in-memory sparse index of one segment.
#[derive(Clone, Debug, Default)]
pub struct OffsetIndex {
    base_offset: Offset,
    entries: Vec<IndexEntry>,
}

impl OffsetIndex {
    /// An empty index of the segment starting at `base_offset`.
    pub fn new(base_offset: Offset) -> Self {
        OffsetIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// The index of the segment starting at `base_offset` with `entries` (as [`decode`] read
    /// them: strictly increasing in both columns).
    pub fn from_entries(base_offset: Offset, entries: Vec<IndexEntry>) -> Self {
        OffsetIndex {
            base_offset,
            entries,
        }
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Adds an entry for the batch starting at `offset`, `position`. Both must lie past the last
    /// entry: the log appends in order.
    pub fn push(&mut self, offset: Offset, position: FilePos) {
        let entry = IndexEntry {
            relative_offset: self.relative(offset),
            position: u32::try_from(position.0).expect("segment positions fit in u32"),
        };
        if let Some(last) = self.entries.last() {
            assert!(
                entry.relative_offset > last.relative_offset,
                "index offset {} after {}",
                entry.relative_offset,
                last.relative_offset
            );
            assert!(
                entry.position > last.position,
                "index position {} after {}",
                entry.position,
                last.position
            );
        }
        self.entries.push(entry);
    }

    /// The position to start scanning from for `offset`: that of the last entry at or before
    /// it, or the start of the segment.
    pub fn lookup(&self, offset: Offset) -> FilePos {
        self.lookup_entry(offset)
            .map_or(FilePos(0), |(_, position)| position)
    }

    /// The last entry at or before `offset`, as (batch base offset, position).
    pub fn lookup_entry(&self, offset: Offset) -> Option<(Offset, FilePos)> {
        let target = offset.0.checked_sub(self.base_offset.0)?;
        let idx = self
            .entries
            .partition_point(|e| u64::from(e.relative_offset) <= target);
        let entry = self.entries.get(idx.checked_sub(1)?)?;
        Some((
            self.base_offset.plus(u64::from(entry.relative_offset)),
            FilePos(u64::from(entry.position)),
        ))
    }

    /// Drops entries for batches at or after `position` (the segment was cut there).
    pub fn truncate_to_position(&mut self, position: FilePos) {
        let keep = self
            .entries
            .partition_point(|e| u64::from(e.position) < position.0);
        self.entries.truncate(keep);
    }

    fn relative(&self, offset: Offset) -> u32 {
        let delta = offset
            .0
            .checked_sub(self.base_offset.0)
            .expect("offset at or after the segment base");
        u32::try_from(delta).expect("relative offset fits in u32")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(u64, u64)]) -> OffsetIndex {
        let mut idx = OffsetIndex::new(Offset(100));
        for &(o, p) in entries {
            idx.push(Offset(o), FilePos(p));
        }
        idx
    }

    #[test]
    fn lookup_lands_on_the_last_entry_at_or_before_the_target() {
        let idx = index(&[(110, 4096), (130, 8200), (150, 12400)]);
        assert_eq!(idx.lookup(Offset(100)), FilePos(0));
        assert_eq!(idx.lookup(Offset(109)), FilePos(0));
        assert_eq!(idx.lookup(Offset(110)), FilePos(4096));
        assert_eq!(idx.lookup(Offset(149)), FilePos(8200));
        assert_eq!(idx.lookup(Offset(10_000)), FilePos(12400));
    }

    #[test]
    fn encoded_entries_decode_back() {
        let idx = index(&[(110, 4096), (130, 8200)]);
        let mut bytes = Vec::new();
        for e in idx.entries() {
            e.encode(&mut bytes);
        }
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        assert_eq!(decode(&bytes).unwrap(), idx.entries());
    }

    #[test]
    fn decreasing_entries_are_inconsistent() {
        let mut bytes = Vec::new();
        IndexEntry {
            relative_offset: 5,
            position: 100,
        }
        .encode(&mut bytes);
        IndexEntry {
            relative_offset: 4,
            position: 200,
        }
        .encode(&mut bytes);
        let err = decode(&bytes).unwrap_err();
        assert!(
            err.contains("entry 1 (4, 200) does not follow entry 0 (5, 100)"),
            "{err}"
        );
    }

    #[test]
    fn partial_entry_is_inconsistent() {
        assert!(decode(&[0u8; 9]).unwrap_err().contains("not a multiple"));
    }

    #[test]
    fn truncation_drops_entries_at_and_after_the_cut() {
        let mut idx = index(&[(110, 4096), (130, 8200), (150, 12400)]);
        idx.truncate_to_position(FilePos(8200));
        assert_eq!(idx.entries().len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let _ = decode(&bytes);
        }
    }
}
