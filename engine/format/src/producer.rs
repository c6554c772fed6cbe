//! What a partition remembers of its idempotent producers, so that a retried batch is never
//! appended twice: per producer id, its epoch and the sequence ranges and offsets of its last
//! [`BATCHES_KEPT`] batches. Pure: the engine keeps one [`ProducerStates`] per log (checked on
//! a leader's append, updated by every append, a follower's and recovery's too) and writes it
//! to snapshot files with [`ProducerStates::encode_snapshot`].
//!
//! The rules are Kafka's (its `ProducerStateManager` and `ProducerAppendInfo`):
//!
//! - A batch whose producer id is -1 is not idempotent: nothing is checked or kept.
//! - A batch whose sequence range equals one of the producer's kept batches, at its current
//!   epoch, is a duplicate: it is answered with the original offsets and not appended again.
//! - An epoch below the producer's is refused (INVALID_PRODUCER_EPOCH): a newer instance of
//!   the producer fenced it. A new, higher epoch must start at sequence 0.
//! - At the producer's epoch, a batch must start right after its last sequence (wrapping from
//!   `i32::MAX` to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER: a batch in between was lost. A batch
//!   behind the last sequence that is not one of the kept batches (its records were deleted
//!   by retention or DeleteRecords since) was appended before: DUPLICATE_SEQUENCE_NUMBER,
//!   which Kafka's clients take as delivered.
//! - A producer the partition does not know (never seen, or expired after
//!   `producer.id.expiration.ms` idle) may start at sequence 0 only; a later sequence is
//!   UNKNOWN_PRODUCER_ID, and the client bumps its epoch and starts again at 0 (KIP-360)
//!   rather than risk a duplicate the partition cannot see. Unlike Kafka, which forgets a
//!   producer whose batches are all deleted (and then takes any sequence from it), a
//!   partition here keeps its epoch and last sequence until it expires, so a retry of a
//!   deleted batch is still recognised.

use std::collections::{BTreeMap, VecDeque};

use crate::batch::BatchHeader;
use crate::types::Offset;

/// How many of a producer's last batches a partition keeps, as Kafka: a producer has at most
/// this many requests in flight per partition, so a retry is always of one of them.
pub const BATCHES_KEPT: usize = 5;

/// The producer id of a batch that is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;

/// Attribute bit: the batch belongs to a transaction.
const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attribute bit: the batch holds control records (transaction markers).
const CONTROL_FLAG: i16 = 0x20;

/// The version of the snapshot layout written now.
const SNAPSHOT_VERSION: u16 = 1;
/// A snapshot's fixed part: version u16, crc u32, covered offset u64, producer count u32.
const SNAPSHOT_HEADER_LEN: usize = 2 + 4 + 8 + 4;
/// Where the CRC-covered bytes start (after version and crc).
const SNAPSHOT_CRC_FROM: usize = 6;
/// One producer's fixed part: id i64, epoch i16, last sequence i32, last timestamp i64, batch
/// count u8.
const PRODUCER_LEN: usize = 8 + 2 + 4 + 8 + 1;
/// One kept batch: first and last sequence i32, first and last offset u64.
const BATCH_LEN: usize = 4 + 4 + 8 + 8;

/// What identifies a batch of an idempotent producer, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
    /// The batch's max timestamp: when the producer was last active, for expiry.
    pub max_timestamp: i64,
}

impl ProducerBatch {
    /// The producer identity of a batch, `None` when the batch is not idempotent.
    pub fn of(header: &BatchHeader) -> Option<ProducerBatch> {
        if header.producer_id == NO_PRODUCER_ID {
            return None;
        }
        Some(ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header.base_sequence, header.last_offset_delta),
            max_timestamp: header.max_timestamp,
        })
    }
}

/// Whether a batch is transactional or a control batch: refused until transactions exist.
pub fn is_transactional_or_control(header: &BatchHeader) -> bool {
    header.attributes & (TRANSACTIONAL_FLAG | CONTROL_FLAG) != 0
}

/// Whether a batch holds control records (transaction markers) rather than data.
pub fn is_control(header: &BatchHeader) -> bool {
    header.attributes & CONTROL_FLAG != 0
}

/// The sequence of a batch's last record: sequences wrap from `i32::MAX` to 0.
fn last_sequence(first: i32, last_offset_delta: i32) -> i32 {
    let last = i64::from(first) + i64::from(last_offset_delta);
    // Wrapping into 0..=i32::MAX.
    (last % (i64::from(i32::MAX) + 1)) as i32
}

/// Whether `next` is the sequence right after `last`.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Whether `sequence` is at or behind `last`, within half the sequence space (sequences wrap,
/// so "behind" is measured as a distance back from `last`).
fn at_or_behind(last: i32, sequence: i32) -> bool {
    let space = i64::from(i32::MAX) + 1;
    (i64::from(last) - i64::from(sequence)).rem_euclid(space) < space / 2
}

/// One of a producer's batches as the partition keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: Offset,
    pub last_offset: Offset,
}

/// What a partition knows of one producer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// The sequence of its last record appended at `epoch`, kept when the batches are deleted.
    pub last_sequence: i32,
    /// Its last batches, oldest first, at most [`BATCHES_KEPT`], all of `epoch`; fewer (or
    /// none) once the log's start passed them.
    pub batches: VecDeque<KeptBatch>,
    /// The max timestamp of its last batch.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    /// The offset of its last record in the log, while the log holds it.
    pub fn last_offset(&self) -> Option<Offset> {
        self.batches.back().map(|b| b.last_offset)
    }
}

/// The verdict on a batch a leader is asked to append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already appended: answer with its original offsets, append nothing.
    Duplicate(KeptBatch),
}

/// Why a batch is refused; each is Kafka's error of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id}'s epoch {epoch} is older than its epoch {current} here")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "producer {producer_id} (epoch {epoch}) sent sequence {got}, expected {expected}: a batch in between is missing"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        expected: i32,
        got: i32,
    },
    #[error(
        "producer {producer_id} (epoch {epoch}) sent sequence {got} again: its records up to sequence {last} were appended, and this batch is no longer in the log to answer with"
    )]
    DuplicateSequence {
        producer_id: i64,
        epoch: i16,
        last: i32,
        got: i32,
    },
    #[error(
        "producer {producer_id} is not known to this partition (never seen, or expired), and its batch starts at sequence {got}, not 0"
    )]
    UnknownProducerId { producer_id: i64, got: i32 },
}

/// A snapshot's bytes that cannot be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("producer snapshot is {len} bytes, shorter than its {needed}-byte layout")]
    Truncated { len: usize, needed: usize },
    #[error("producer snapshot version {0} is not one this build reads")]
    UnknownVersion(u16),
    #[error("producer snapshot CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("producer snapshot has {0} bytes after its last producer")]
    TrailingBytes(usize),
    #[error("producer snapshot holds producer {0} twice, or a batch count above the limit")]
    Malformed(i64),
}

/// Every idempotent producer a partition knows, by producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStates {
    pub fn new() -> Self {
        ProducerStates::default()
    }

    /// How many producers are known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// What is known of `producer_id`.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// The verdict on `batch` before a leader appends it (module docs: Kafka's rules).
    pub fn check(&self, batch: &ProducerBatch) -> Result<SequenceCheck, SequenceError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::UnknownProducerId {
                    producer_id: batch.producer_id,
                    got: batch.first_sequence,
                })
            };
        };
        if batch.epoch < entry.epoch {
            return Err(SequenceError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current: entry.epoch,
            });
        }
        if batch.epoch > entry.epoch {
            // A new instance of the producer (or one that bumped its epoch after an error).
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    epoch: batch.epoch,
                    expected: 0,
                    got: batch.first_sequence,
                })
            };
        }
        if let Some(kept) = entry.batches.iter().find(|b| {
            b.first_sequence == batch.first_sequence && b.last_sequence == batch.last_sequence
        }) {
            return Ok(SequenceCheck::Duplicate(*kept));
        }
        let last = entry.last_sequence;
        if in_sequence(last, batch.first_sequence) {
            Ok(SequenceCheck::Append)
        } else if at_or_behind(last, batch.first_sequence) {
            Err(SequenceError::DuplicateSequence {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                last,
                got: batch.first_sequence,
            })
        } else {
            Err(SequenceError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                expected: last.wrapping_add(1).max(0),
                got: batch.first_sequence,
            })
        }
    }

    /// Takes in a batch appended at `first_offset..=last_offset`: a leader's after
    /// [`check`](Self::check) said append, a follower's and recovery's as the log has it (no
    /// check: the leader made it). A new epoch forgets the producer's older batches.
    pub fn apply(&mut self, batch: &ProducerBatch, first_offset: Offset, last_offset: Offset) {
        let entry = self.producers.entry(batch.producer_id).or_default();
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_KEPT {
            entry.batches.pop_front();
        }
        entry.batches.push_back(KeptBatch {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence,
            first_offset,
            last_offset,
        });
        entry.last_sequence = batch.last_sequence;
        entry.last_timestamp = batch.max_timestamp;
    }

    /// The log's start moved to `log_start` (retention, DeleteRecords): batches below it are
    /// forgotten; the producer's epoch and last sequence stay until it expires (module docs).
    pub fn forget_below(&mut self, log_start: Offset) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset >= log_start);
        }
    }

    /// Forgets producers whose last batch is older than `expiration_ms` at `now_ms`
    /// (`producer.id.expiration.ms`); returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }

    /// The snapshot of these states, as of the log offset `covered` (every batch below it is
    /// in them, none at or above): the layout is in `docs/disk-format.md`.
    pub fn encode_snapshot(&self, covered: Offset) -> Vec<u8> {
        let batches: usize = self.producers.values().map(|e| e.batches.len()).sum();
        let mut out = Vec::with_capacity(
            SNAPSHOT_HEADER_LEN + self.producers.len() * PRODUCER_LEN + batches * BATCH_LEN,
        );
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&covered.0.to_be_bytes());
        let count = u32::try_from(self.producers.len()).expect("fewer than 2^32 producers");
        out.extend_from_slice(&count.to_be_bytes());
        for (producer_id, entry) in &self.producers {
            out.extend_from_slice(&producer_id.to_be_bytes());
            out.extend_from_slice(&entry.epoch.to_be_bytes());
            out.extend_from_slice(&entry.last_sequence.to_be_bytes());
            out.extend_from_slice(&entry.last_timestamp.to_be_bytes());
            out.push(entry.batches.len() as u8);
            for batch in &entry.batches {
                out.extend_from_slice(&batch.first_sequence.to_be_bytes());
                out.extend_from_slice(&batch.last_sequence.to_be_bytes());
                out.extend_from_slice(&batch.first_offset.0.to_be_bytes());
                out.extend_from_slice(&batch.last_offset.0.to_be_bytes());
            }
        }
        let crc = crate::batch::crc32c(&out[SNAPSHOT_CRC_FROM..]);
        out[2..SNAPSHOT_CRC_FROM].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot back: the states and the offset they cover. Any damage is an error,
    /// never a partial state: the caller rebuilds from the log instead.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<(ProducerStates, Offset), SnapshotError> {
        let mut reader = Reader { bytes, at: 0 };
        let version = u16::from_be_bytes(reader.take()?);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnknownVersion(version));
        }
        let stored = u32::from_be_bytes(reader.take()?);
        let computed = crate::batch::crc32c(&bytes[SNAPSHOT_CRC_FROM..]);
        if stored != computed {
            return Err(SnapshotError::CrcMismatch { stored, computed });
        }
        let covered = Offset(u64::from_be_bytes(reader.take()?));
        let count = u32::from_be_bytes(reader.take()?);
        let mut states = ProducerStates::new();
        for _ in 0..count {
            let producer_id = i64::from_be_bytes(reader.take()?);
            let epoch = i16::from_be_bytes(reader.take()?);
            let last_sequence = i32::from_be_bytes(reader.take()?);
            let last_timestamp = i64::from_be_bytes(reader.take()?);
            let [batch_count] = reader.take()?;
            if usize::from(batch_count) > BATCHES_KEPT {
                return Err(SnapshotError::Malformed(producer_id));
            }
            let mut batches = VecDeque::with_capacity(usize::from(batch_count));
            for _ in 0..batch_count {
                batches.push_back(KeptBatch {
                    first_sequence: i32::from_be_bytes(reader.take()?),
                    last_sequence: i32::from_be_bytes(reader.take()?),
                    first_offset: Offset(u64::from_be_bytes(reader.take()?)),
                    last_offset: Offset(u64::from_be_bytes(reader.take()?)),
                });
            }
            let entry = ProducerEntry {
                epoch,
                last_sequence,
                batches,
                last_timestamp,
            };
            if states.producers.insert(producer_id, entry).is_some() {
                return Err(SnapshotError::Malformed(producer_id));
            }
        }
        if reader.at != bytes.len() {
            return Err(SnapshotError::TrailingBytes(bytes.len() - reader.at));
        }
        Ok((states, covered))
    }
}

/// Reads fixed-size fields off a snapshot.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let end = self.at + N;
        let field = self
            .bytes
            .get(self.at..end)
            .ok_or(SnapshotError::Truncated {
                len: self.bytes.len(),
                needed: end,
            })?;
        self.at = end;
        Ok(field.try_into().expect("N bytes"))
    }
}

#[cfg(test)]
#[path = "producer_test.rs"]
mod tests;
