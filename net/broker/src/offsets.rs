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

use bytes::Bytes;
#[cfg(test)]
use ringlog_engine::Log;
use ringlog_engine::format::{BatchBuilder, Record};
use ringlog_engine::{LeaderEpoch, Offset};

pub(crate) use ringlog_wire::group::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS, partition_for};

/// A commit's metadata string may have at most this many bytes (Kafka's default).
pub(crate) const METADATA_MAX_BYTES: usize = 4096;
/// The key version of an offset commit.
pub(crate) const KEY_VERSION: u8 = 1;

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
    fn malformed_records_are_skipped() {
        assert_eq!(decode(Some(&[1, 0]), Some(&[])), None);
        assert_eq!(decode(None, None), None);
    }

    #[test]
    fn a_group_always_maps_to_the_same_partition() {
        assert_eq!(partition_for("group-a"), partition_for("group-a"));
        assert!(partition_for("x") < OFFSETS_TOPIC_PARTITIONS);
    }

    /// The coordinator's view after a reopen: the latest commit per key wins, and a
    /// tombstone deletes the commit.
    #[test]
    fn offsets_survive_in_a_real_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), ringlog_engine::LogConfig::default()).unwrap();
        let commits = [commit("g", 2, 7), commit("g", 2, 9), commit("h", 1, 5)];
        let mut batch = encode_batch(&commits, 0).to_vec();
        log.append(&mut batch, LeaderEpoch(0)).unwrap();
        let mut builder = BatchBuilder::new();
        builder.push(&Record {
            key: Some(&encode_key("h", "orders", 1)),
            value: None,
            ..Record::default()
        });
        log.append(&mut builder.finish(), LeaderEpoch(0)).unwrap();
        log.close().unwrap();
        let log = Log::open(dir.path(), ringlog_engine::LogConfig::default()).unwrap();
        let now = crate::group::Now {
            instant: std::time::Instant::now(),
            wall_ms: 0,
        };
        let mut loader = crate::group::Loader::new(&log);
        // A budget of one byte: every step replays one batch, and the last one says so.
        while !loader.step(&log, 1).unwrap() {}
        let loaded: crate::group::Coordinator<()> =
            crate::group::Coordinator::load(crate::group::GroupConfig::default(), loader, now);
        let wanted = |group: &str, partition| {
            let found = loaded.offsets(group, Some(vec![("orders".to_string(), vec![partition])]));
            found["orders"][0].1.clone().map(|c| c.offset)
        };
        assert_eq!(wanted("g", 2), Some(Offset(9)));
        assert_eq!(wanted("h", 1), None);
    }
}
