//! Consumer groups' committed offsets, stored durably in the internal topic
//! `__consumer_offsets` through the engine like any other records, and kept in memory by the
//! shard that owns the group's partition of it.
//!
//! A group's offsets live in partition `hash(group) % OFFSETS_TOPIC_PARTITIONS`. Each commit
//! is one batch, one record per committed partition; the latest record for a key wins. On
//! open, the owner replays the partition to rebuild its map.
//!
//! Record layout (all big-endian):
//!
//! | part  | field           | type                        |
//! |-------|-----------------|-----------------------------|
//! | key   | version         | u8 = 1                      |
//! | key   | group           | u16 length + UTF-8          |
//! | key   | topic           | u16 length + UTF-8          |
//! | key   | partition       | u32                         |
//! | value | offset          | i64                         |
//! | value | leader epoch    | i32, -1 unknown             |
//! | value | metadata        | u16 length + UTF-8; 0xFFFF null |
//!
//! A null value is a tombstone: the group's commit for that partition was deleted (DeleteGroups,
//! OffsetDelete, retention). The commit's time is the record's timestamp. Key version 2 (a
//! group's membership) is `group::record`'s; this module skips it.

use std::collections::BTreeMap;

use bytes::Bytes;
use ringlog_engine::format::{BatchBuilder, Record, RecordIter};
use ringlog_engine::{LeaderEpoch, Log, Offset};

pub(crate) use ringlog_wire::group::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS, partition_for};

/// A commit's metadata string may have at most this many bytes (Kafka's default).
pub(crate) const METADATA_MAX_BYTES: usize = 4096;
/// The key version of an offset commit.
pub(crate) const KEY_VERSION: u8 = 1;
/// Bytes replayed per read when rebuilding.
const REPLAY_CHUNK_BYTES: u64 = 1 << 20;

/// What a group committed for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    pub offset: Offset,
    pub leader_epoch: Option<LeaderEpoch>,
    pub metadata: Option<String>,
}

/// One committed position: the group, the topic partition, and what was committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub committed: Committed,
}

/// The committed offsets of the groups in one partition of the internal topic.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupOffsets {
    offsets: BTreeMap<(String, String, u32), Committed>,
}

impl GroupOffsets {
    /// Replays the partition's log.
    pub(crate) fn load(log: &Log) -> Result<GroupOffsets, ringlog_engine::Error> {
        let mut offsets = GroupOffsets::default();
        let end = log.log_end_offset();
        let mut next = log.log_start_offset();
        while next < end {
            let read = log.read_bytes(next, REPLAY_CHUNK_BYTES, end)?;
            if read.batch_count == 0 {
                break;
            }
            offsets.apply_batches(&read.bytes);
            next = read.next_offset;
        }
        Ok(offsets)
    }

    /// Applies the commits in `batches` (validated batches back to back).
    fn apply_batches(&mut self, mut batches: &[u8]) {
        while batches.len() >= 12 {
            let len = 12 + u32::from_be_bytes(batches[8..12].try_into().expect("4 bytes")) as usize;
            let (batch, rest) = batches.split_at(len.min(batches.len()));
            if let Ok(records) = RecordIter::new(batch) {
                for record in records.flatten() {
                    let Some(key) = record.key.and_then(decode_key) else {
                        continue;
                    };
                    match record.value.map(decode_value) {
                        Some(Some(committed)) => {
                            self.offsets.insert(key, committed);
                        }
                        // A tombstone.
                        None => {
                            self.offsets.remove(&key);
                        }
                        Some(None) => {}
                    }
                }
            }
            batches = rest;
        }
    }

    pub(crate) fn apply(&mut self, commit: Commit) {
        let key = (commit.group, commit.topic, commit.partition);
        self.offsets.insert(key, commit.committed);
    }

    pub(crate) fn get(&self, group: &str, topic: &str, partition: u32) -> Option<&Committed> {
        self.offsets
            .get(&(group.to_string(), topic.to_string(), partition))
    }

    /// Every partition `group` committed, by topic.
    pub(crate) fn of_group(&self, group: &str) -> BTreeMap<String, Vec<(u32, Committed)>> {
        let mut topics: BTreeMap<String, Vec<(u32, Committed)>> = BTreeMap::new();
        for ((g, topic, partition), committed) in &self.offsets {
            if g == group {
                topics
                    .entry(topic.clone())
                    .or_default()
                    .push((*partition, committed.clone()));
            }
        }
        topics
    }
}

/// One batch holding `commits`, to append to the group's partition.
pub(crate) fn encode_batch(commits: &[Commit], timestamp: i64) -> Bytes {
    let mut builder = BatchBuilder::new();
    for commit in commits {
        let (key, value) = encode(commit);
        builder.push(&Record {
            key: Some(&key),
            value: Some(&value),
            timestamp,
            ..Record::default()
        });
    }
    Bytes::from(builder.finish())
}

/// A commit's key and value.
pub(crate) fn encode(commit: &Commit) -> (Vec<u8>, Vec<u8>) {
    let key = encode_key(&commit.group, &commit.topic, commit.partition);
    let mut value = Vec::new();
    value.extend_from_slice(&(commit.committed.offset.0 as i64).to_be_bytes());
    let epoch = commit.committed.leader_epoch.map_or(-1, |e| e.0 as i32);
    value.extend_from_slice(&epoch.to_be_bytes());
    put_string(&mut value, commit.committed.metadata.as_deref());
    (key, value)
}

/// The key of `group`'s commit for one partition (a tombstone's key too).
pub(crate) fn encode_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    let mut key = vec![KEY_VERSION];
    put_string(&mut key, Some(group));
    put_string(&mut key, Some(topic));
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

/// Writes a u16-length string, 0xFFFF for null. Strings longer than that are a caller's bug:
/// group ids, topics and client ids come from Kafka's int16-length strings.
pub(crate) fn put_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            assert!(
                s.len() < usize::from(u16::MAX),
                "string of {} bytes",
                s.len()
            );
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        None => out.extend_from_slice(&u16::MAX.to_be_bytes()),
    }
}

/// A record back into a commit; `None` for anything malformed or a tombstone (skipped, never
/// a panic).
#[cfg(test)]
fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<Commit> {
    let (group, topic, partition) = decode_key(key?)?;
    let committed = decode_value(value?)?;
    Some(Commit {
        group,
        topic,
        partition,
        committed,
    })
}

/// An offset commit's key: (group, topic, partition); `None` for another key version or bad
/// bytes.
pub(crate) fn decode_key(key: &[u8]) -> Option<(String, String, u32)> {
    let mut key = Cursor(key);
    if key.u8()? != KEY_VERSION {
        return None;
    }
    let group = key.string()??;
    let topic = key.string()??;
    let partition = key.u32()?;
    Some((group, topic, partition))
}

/// An offset commit's (non-null) value; `None` for bad bytes. Bytes after the metadata are
/// ignored, so a later version may append fields.
pub(crate) fn decode_value(value: &[u8]) -> Option<Committed> {
    let mut value = Cursor(value);
    let offset = value.i64()?;
    let epoch = value.i32()?;
    let metadata = value.string()?;
    Some(Committed {
        offset: Offset(u64::try_from(offset).ok()?),
        leader_epoch: u32::try_from(epoch).ok().map(LeaderEpoch),
        metadata,
    })
}

/// Reads big-endian fields off a byte slice; every read is `None` past the end.
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Some(None)` for a null string.
    pub(crate) fn string(&mut self) -> Option<Option<String>> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        if len == u16::MAX {
            return Some(None);
        }
        let bytes = self.take(usize::from(len))?;
        Some(Some(String::from_utf8(bytes.to_vec()).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, partition: u32, offset: u64) -> Commit {
        Commit {
            group: group.to_string(),
            topic: "orders".to_string(),
            partition,
            committed: Committed {
                offset: Offset(offset),
                leader_epoch: Some(LeaderEpoch(3)),
                metadata: Some("note".to_string()),
            },
        }
    }

    #[test]
    fn commits_round_trip_through_a_batch_and_the_latest_wins() {
        let batch = encode_batch(
            &[commit("g", 0, 10), commit("g", 0, 12), commit("h", 1, 5)],
            0,
        );
        let mut offsets = GroupOffsets::default();
        offsets.apply_batches(&batch);
        assert_eq!(offsets.get("g", "orders", 0).unwrap().offset, Offset(12));
        assert_eq!(
            offsets.get("h", "orders", 1).unwrap().metadata.as_deref(),
            Some("note")
        );
        assert_eq!(offsets.get("g", "orders", 1), None);
    }

    #[test]
    fn a_tombstone_removes_the_commit_on_replay() {
        let mut builder = BatchBuilder::new();
        let (key, value) = encode(&commit("g", 0, 10));
        builder.push(&Record {
            key: Some(&key),
            value: Some(&value),
            ..Record::default()
        });
        builder.push(&Record {
            key: Some(&encode_key("g", "orders", 0)),
            value: None,
            ..Record::default()
        });
        let mut offsets = GroupOffsets::default();
        offsets.apply_batches(&builder.finish());
        assert_eq!(offsets.get("g", "orders", 0), None);
    }

    #[test]
    fn malformed_records_are_skipped() {
        assert_eq!(decode(Some(&[1, 0]), Some(&[])), None);
        assert_eq!(decode(None, None), None);
    }

    #[test]
    fn a_group_always_maps_to_the_same_partition() {
        assert_eq!(partition_for("group-a"), partition_for("group-a"));
        assert!(partition_for("x") < OFFSETS_TOPIC_PARTITIONS);
    }

    #[test]
    fn offsets_survive_in_a_real_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), ringlog_engine::LogConfig::default()).unwrap();
        let mut batch = encode_batch(&[commit("g", 2, 7)], 0).to_vec();
        log.append(&mut batch, LeaderEpoch(0)).unwrap();
        log.close().unwrap();
        let log = Log::open(dir.path(), ringlog_engine::LogConfig::default()).unwrap();
        let offsets = GroupOffsets::load(&log).unwrap();
        assert_eq!(offsets.get("g", "orders", 2).unwrap().offset, Offset(7));
    }
}
