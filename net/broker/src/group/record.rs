//! The records of `__consumer_offsets` (the layout is in the module docs of `group`): offset
//! commits (key version 1, `crate::offsets`' codec), group metadata (key version 2), their
//! tombstones, and the replay of a partition's log into the latest value per key.

use std::collections::BTreeMap;

use bytes::Bytes;
use ringlog_engine::format::{BatchBuilder, Record, RecordIter};
use ringlog_engine::{Log, Offset};

use crate::offsets::{self, Committed, Cursor, put_string};

/// The key version of a group's metadata.
const GROUP_KEY_VERSION: u8 = 2;
/// The value version of a group's metadata written now.
const GROUP_VALUE_VERSION: u8 = 0;
/// Bytes replayed per read when loading.
const REPLAY_CHUNK_BYTES: u64 = 1 << 20;
/// A batch's header is this long before its length field ends (baseOffset i64, length i32).
const BATCH_LENGTH_END: usize = 12;

/// A group's metadata as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GroupRecord {
    pub protocol_type: Option<String>,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group's state began, ms since the Unix epoch.
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberRecord>,
}

/// One member of a stored group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MemberRecord {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Its metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One record to write: a key and its value, `None` for a tombstone.
pub(super) type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// What one record of the partition says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    /// `committed` is `None` for a tombstone.
    Offset {
        group: String,
        topic: String,
        partition: u32,
        committed: Option<Committed>,
    },
    /// `record` is `None` for a tombstone.
    Group {
        group: String,
        record: Option<GroupRecord>,
    },
}

/// The latest live value of every key of a partition, as replayed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Replayed {
    /// By (group, topic, partition): the commit and its record's timestamp.
    pub offsets: BTreeMap<(String, String, u32), (Committed, i64)>,
    pub groups: BTreeMap<String, GroupRecord>,
}

impl Replayed {
    fn apply(&mut self, decoded: Decoded, timestamp: i64) {
        match decoded {
            Decoded::Offset {
                group,
                topic,
                partition,
                committed,
            } => {
                let key = (group, topic, partition);
                match committed {
                    Some(committed) => self.offsets.insert(key, (committed, timestamp)),
                    None => self.offsets.remove(&key),
                };
            }
            Decoded::Group { group, record } => match record {
                Some(record) => {
                    self.groups.insert(group, record);
                }
                None => {
                    self.groups.remove(&group);
                }
            },
        }
    }

    /// Applies the records of `batches` (validated batches back to back); a batch or record
    /// that does not read is skipped with a warning.
    pub(super) fn apply_batches(&mut self, mut batches: &[u8]) {
        while batches.len() >= BATCH_LENGTH_END {
            let length = u32::from_be_bytes(batches[8..12].try_into().expect("4 bytes"));
            let total = BATCH_LENGTH_END.saturating_add(length as usize);
            let (batch, rest) = batches.split_at(total.min(batches.len()));
            batches = rest;
            let records = match RecordIter::new(batch) {
                Ok(records) => records,
                Err(error) => {
                    tracing::warn!(%error, "__consumer_offsets: skipping a batch that does not read");
                    continue;
                }
            };
            for record in records {
                let record = match record {
                    Ok(record) => record,
                    Err(error) => {
                        tracing::warn!(%error, "__consumer_offsets: skipping a record that does not read");
                        break;
                    }
                };
                match decode(record.key, record.value) {
                    Some(decoded) => self.apply(decoded, record.timestamp),
                    None => tracing::warn!(
                        offset = record.offset,
                        "__consumer_offsets: skipping a record that does not decode"
                    ),
                }
            }
        }
    }
}

/// The replay of a partition of `__consumer_offsets`, in steps of a bounded number of bytes,
/// so a coordinator whose partition holds a long history loads without stalling the shard that
/// runs it (which answers COORDINATOR_LOAD_IN_PROGRESS for the partition's groups meanwhile).
#[derive(Debug)]
pub(crate) struct Loader {
    replayed: Replayed,
    /// The next offset to replay.
    next: Offset,
    /// Bytes replayed so far.
    bytes: u64,
}

impl Loader {
    /// A replay of `log` from its start.
    pub(crate) fn new(log: &Log) -> Self {
        Loader {
            replayed: Replayed::default(),
            next: log.log_start_offset(),
            bytes: 0,
        }
    }

    /// Replays about `budget` more bytes of `log` (at least one batch); true once it reached
    /// the log end.
    pub(crate) fn step(&mut self, log: &Log, budget: u64) -> Result<bool, ringlog_engine::Error> {
        let end = log.log_end_offset();
        // Nothing deletes records of the offsets topic, but a replay must not ask for an
        // offset below the log start if something ever did.
        self.next = self.next.max(log.log_start_offset());
        let mut stepped = 0;
        while self.next < end && stepped < budget {
            let read = log.read_bytes(self.next, REPLAY_CHUNK_BYTES.min(budget), end)?;
            if read.batch_count == 0 {
                break;
            }
            self.replayed.apply_batches(&read.bytes);
            self.next = read.next_offset;
            stepped += read.bytes.len() as u64;
        }
        self.bytes += stepped;
        Ok(self.next >= end || stepped == 0)
    }

    /// Bytes replayed so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The latest live value of every key replayed.
    pub(super) fn finish(self) -> Replayed {
        self.replayed
    }
}

/// One batch of `records`, stamped `timestamp_ms`.
pub(super) fn batch(records: &[KeyValue], timestamp_ms: i64) -> Bytes {
    let mut builder = BatchBuilder::new();
    for (key, value) in records {
        builder.push(&Record {
            key: Some(key),
            value: value.as_deref(),
            timestamp: timestamp_ms,
            ..Record::default()
        });
    }
    Bytes::from(builder.finish())
}

/// The tombstone of `group`'s commit for one partition.
pub(super) fn offset_tombstone(group: &str, topic: &str, partition: u32) -> KeyValue {
    (offsets::encode_key(group, topic, partition), None)
}

/// `group`'s metadata record; `None` writes its tombstone.
pub(super) fn group_record(group: &str, record: Option<&GroupRecord>) -> KeyValue {
    let mut key = vec![GROUP_KEY_VERSION];
    put_string(&mut key, Some(group));
    (key, record.map(encode_group))
}

fn encode_group(record: &GroupRecord) -> Vec<u8> {
    let mut out = vec![GROUP_VALUE_VERSION];
    put_string(&mut out, record.protocol_type.as_deref());
    out.extend_from_slice(&record.generation.to_be_bytes());
    put_string(&mut out, record.protocol.as_deref());
    put_string(&mut out, record.leader.as_deref());
    out.extend_from_slice(&record.state_timestamp_ms.to_be_bytes());
    let count = u32::try_from(record.members.len()).expect("fewer than 2^32 members");
    out.extend_from_slice(&count.to_be_bytes());
    for member in &record.members {
        put_string(&mut out, Some(&member.member_id));
        put_string(&mut out, member.instance_id.as_deref());
        put_string(&mut out, Some(&member.client_id));
        put_string(&mut out, Some(&member.client_host));
        out.extend_from_slice(&member.session_timeout_ms.to_be_bytes());
        out.extend_from_slice(&member.rebalance_timeout_ms.to_be_bytes());
        put_bytes(&mut out, &member.subscription);
        put_bytes(&mut out, &member.assignment);
    }
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a member's metadata is under 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A record of the partition; `None` for anything that does not decode (never a panic).
pub(super) fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<Decoded> {
    let key = key?;
    match *key.first()? {
        offsets::KEY_VERSION => {
            let (group, topic, partition) = offsets::decode_key(key)?;
            let committed = match value {
                Some(value) => Some(offsets::decode_value(value)?),
                None => None,
            };
            Some(Decoded::Offset {
                group,
                topic,
                partition,
                committed,
            })
        }
        GROUP_KEY_VERSION => {
            let mut cursor = Cursor(&key[1..]);
            let group = cursor.string()??;
            if !cursor.is_empty() {
                return None;
            }
            let record = match value {
                Some(value) => Some(decode_group(value)?),
                None => None,
            };
            Some(Decoded::Group { group, record })
        }
        _ => None,
    }
}

fn decode_group(value: &[u8]) -> Option<GroupRecord> {
    let mut value = Cursor(value);
    if value.u8()? != GROUP_VALUE_VERSION {
        return None;
    }
    let protocol_type = value.string()?;
    let generation = value.i32()?;
    let protocol = value.string()?;
    let leader = value.string()?;
    let state_timestamp_ms = value.i64()?;
    let count = value.u32()?;
    let mut members = Vec::new();
    for _ in 0..count {
        // Each member takes bytes: a count past what is left fails here, not in an allocation.
        members.push(decode_member(&mut value)?);
    }
    Some(GroupRecord {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp_ms,
        members,
    })
}

fn decode_member(value: &mut Cursor<'_>) -> Option<MemberRecord> {
    Some(MemberRecord {
        member_id: value.string()??,
        instance_id: value.string()?,
        client_id: value.string()??,
        client_host: value.string()??,
        session_timeout_ms: value.i32()?,
        rebalance_timeout_ms: value.i32()?,
        subscription: take_bytes(value)?,
        assignment: take_bytes(value)?,
    })
}

fn take_bytes(value: &mut Cursor<'_>) -> Option<Bytes> {
    let len = usize::try_from(value.u32()?).ok()?;
    Some(Bytes::copy_from_slice(value.take(len)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stored_group() -> GroupRecord {
        GroupRecord {
            protocol_type: Some("consumer".to_string()),
            generation: 7,
            protocol: Some("range".to_string()),
            leader: Some("c-1".to_string()),
            state_timestamp_ms: 1_700_000_000_000,
            members: vec![MemberRecord {
                member_id: "c-1".to_string(),
                instance_id: Some("i-1".to_string()),
                client_id: "c".to_string(),
                client_host: "/10.0.0.1".to_string(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 60_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assigned"),
            }],
        }
    }

    fn commit(group: &str, offset: u64) -> crate::offsets::Commit {
        crate::offsets::Commit {
            group: group.to_string(),
            topic: "t".to_string(),
            partition: 0,
            committed: Committed {
                offset: Offset(offset),
                leader_epoch: None,
                metadata: None,
            },
        }
    }

    #[test]
    fn a_group_record_round_trips() {
        let (key, value) = group_record("g", Some(&stored_group()));
        let decoded = decode(Some(&key), value.as_deref()).unwrap();
        assert_eq!(
            decoded,
            Decoded::Group {
                group: "g".to_string(),
                record: Some(stored_group())
            }
        );
    }

    #[test]
    fn tombstones_decode_as_none_and_the_latest_record_wins() {
        let commit = crate::offsets::Commit {
            group: "g".to_string(),
            topic: "t".to_string(),
            partition: 1,
            committed: Committed {
                offset: ringlog_engine::Offset(5),
                leader_epoch: None,
                metadata: None,
            },
        };
        let (commit_key, commit_value) = crate::offsets::encode(&commit);
        let records = [
            group_record("g", Some(&stored_group())),
            (commit_key, Some(commit_value)),
            group_record("g", None),
            group_record("h", Some(&stored_group())),
            offset_tombstone("g", "t", 1),
        ];
        let mut replayed = Replayed::default();
        replayed.apply_batches(&batch(&records, 42));
        assert!(replayed.offsets.is_empty());
        assert_eq!(replayed.groups.keys().collect::<Vec<_>>(), vec!["h"]);
    }

    #[test]
    fn the_commit_time_is_the_record_timestamp() {
        let commit = crate::offsets::Commit {
            group: "g".to_string(),
            topic: "t".to_string(),
            partition: 0,
            committed: Committed {
                offset: ringlog_engine::Offset(9),
                leader_epoch: None,
                metadata: None,
            },
        };
        let mut replayed = Replayed::default();
        replayed.apply_batches(&crate::offsets::encode_batch(&[commit], 1234));
        let (_, timestamp) = replayed.offsets[&("g".to_string(), "t".to_string(), 0)];
        assert_eq!(timestamp, 1234);
    }

    #[test]
    fn malformed_group_records_are_none() {
        let (key, value) = group_record("g", Some(&stored_group()));
        let value = value.unwrap();
        for cut in 0..value.len() {
            assert_eq!(
                decode(Some(&key), Some(&value[..cut])),
                None,
                "cut at {cut}"
            );
        }
        assert_eq!(decode(Some(&[3, 0, 0]), None), None);
        assert_eq!(decode(Some(&[]), None), None);
        assert_eq!(decode(None, Some(&value)), None);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(
            key in proptest::collection::vec(any::<u8>(), 0..48),
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..96)),
            version in 1u8..=2,
        ) {
            let mut key = key;
            if let Some(first) = key.first_mut() {
                *first = version;
            }
            let _ = decode(Some(&key), value.as_deref());
        }

        /// A coordinator loaded in steps of any budget knows what one loaded at once does;
        /// a step replays one batch at least, and the last step says it is the last.
        #[test]
        fn a_replay_in_steps_equals_one_at_once(
            batches in proptest::collection::vec((0u8..3, 0u8..4, 0u64..1000), 1..40),
            budget in 1u64..4096,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = Log::open(dir.path(), ringlog_engine::LogConfig::default()).unwrap();
            for (i, (kind, group, value)) in batches.iter().enumerate() {
                let group = format!("g{group}");
                let mut bytes = match kind {
                    0 => crate::offsets::encode_batch(&[commit(&group, *value)], i as i64),
                    1 => batch(&[offset_tombstone(&group, "t", 0)], i as i64),
                    _ => {
                        let mut record = stored_group();
                        record.generation = *value as i32;
                        batch(&[group_record(&group, Some(&record))], i as i64)
                    }
                }
                .to_vec();
                log.append(&mut bytes, ringlog_engine::LeaderEpoch(0)).unwrap();
            }
            let mut whole = Loader::new(&log);
            prop_assert!(whole.step(&log, u64::MAX).unwrap());
            let mut stepped = Loader::new(&log);
            let mut steps = 1;
            while !stepped.step(&log, budget).unwrap() {
                steps += 1;
                prop_assert!(steps <= batches.len(), "{steps} steps for {} batches", batches.len());
            }
            if budget == 1 {
                prop_assert_eq!(steps, batches.len());
            }
            prop_assert_eq!(stepped.bytes(), whole.bytes());
            prop_assert_eq!(stepped.finish(), whole.finish());
        }

        #[test]
        fn replay_never_panics_on_arbitrary_batches(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut replayed = Replayed::default();
            replayed.apply_batches(&bytes);
        }
    }
}
