//! Appends: a leader's (offsets and epoch assigned here) and a follower's (offsets already
//! assigned by the leader). Both validate every batch before touching the log, write the whole
//! append with one call into the active segment, and roll first when it would not fit.

use crate::checkpoint;
use crate::config::FlushPolicy;
use crate::error::{Error, Result};
use crate::format::batch::{set_base_offset, set_partition_leader_epoch};
use crate::format::producer::{
    ProducerBatch, SequenceCheck, is_control, is_transactional_or_control,
};
use crate::format::{BatchHeader, BatchIter};
use crate::producer_state;
use crate::segment::Segment;
use crate::types::{LeaderEpoch, Offset, Timestamp};

use super::writer::Payload;
use super::{Log, State, sync_dir};

/// What an append wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// The base offset of the first batch.
    pub first_offset: Offset,
    /// The offset of the last record (inclusive).
    pub last_offset: Offset,
    pub batch_count: usize,
    pub record_count: u64,
    pub bytes: u64,
    /// The largest max timestamp among the batches.
    pub max_timestamp: Timestamp,
    /// The batch was an idempotent producer's retry of one the log already holds (same
    /// producer, epoch and sequences): nothing was written, and the offsets are those of the
    /// first append.
    pub duplicate: bool,
}

impl AppendInfo {
    /// The log end offset right after this append.
    pub fn next_offset(&self) -> Offset {
        self.last_offset.plus(1)
    }
}

impl Log {
    /// Appends `batches` (one or more RecordBatch v2 back to back, as a producer sent them) as
    /// the leader in `epoch`: assigns offsets from the log end offset and stamps each batch's
    /// `baseOffset` and `partitionLeaderEpoch` in place (outside the CRC, so the bytes stay
    /// valid). Every batch is validated first; if any fails, nothing is written. With
    /// `flush = always` this returns once the batches are durable.
    pub fn append(&self, batches: &mut [u8], epoch: LeaderEpoch) -> Result<AppendInfo> {
        self.append_as_leader(LeaderInput::Borrowed(batches), epoch)
    }

    /// [`append`](Self::append), taking ownership of the buffer: with the write pipeline on,
    /// the batches go to the kernel from this buffer (no staging copy) and it is dropped once
    /// written. For callers that own their batches anyway, such as a broker's request buffers.
    pub fn append_owned(&self, batches: Vec<u8>, epoch: LeaderEpoch) -> Result<AppendInfo> {
        self.append_as_leader(LeaderInput::Owned(batches), epoch)
    }

    fn append_as_leader(
        &self,
        mut input: LeaderInput<'_>,
        epoch: LeaderEpoch,
    ) -> Result<AppendInfo> {
        let mut headers = self.validate_append(input.bytes_mut())?;
        let producer = producer_batch(&headers)?;
        let (info, truncations) = {
            let mut state = self.write_state();
            self.check_writable(&state)?;
            if let Some(latest) = state.epochs.latest_epoch()
                && epoch < latest
            {
                return Err(Error::StaleLeaderEpoch { epoch, latest });
            }
            if let Some(producer) = &producer
                && let SequenceCheck::Duplicate(kept) = state.producers.check(producer)?
            {
                let header = &headers[0];
                let info = AppendInfo {
                    first_offset: kept.first_offset,
                    last_offset: kept.last_offset,
                    batch_count: 1,
                    record_count: header.record_count as u64,
                    bytes: 0,
                    max_timestamp: Timestamp(header.max_timestamp),
                    duplicate: true,
                };
                (info, state.truncations)
            } else {
                let base = state.log_end_offset();
                stamp(input.bytes_mut(), &mut headers, base, epoch);
                if state.epochs.assign(epoch, base) {
                    checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
                }
                let info = self.write_batches(&mut state, input.into_payload(), &headers)?;
                if let Some(producer) = &producer {
                    state
                        .producers
                        .apply(producer, info.first_offset, info.last_offset);
                }
                (info, state.truncations)
            }
        };
        // A duplicate waits for the first append's durability like the first append would.
        self.apply_flush_policy(info, truncations)
    }

    /// Appends batches a follower fetched from its leader: offsets and epochs are already
    /// stamped, and the first batch must start at the log end offset (and each batch where the
    /// one before ended), else [`Error::NonContiguous`]. New epochs in the batches enter the
    /// leader-epoch cache.
    pub fn append_replicated(&self, batches: &[u8]) -> Result<AppendInfo> {
        let headers = self.validate_append(batches)?;
        let (info, truncations) = {
            let mut state = self.write_state();
            self.check_writable(&state)?;
            self.check_replicated(&state, &headers)?;
            let mut epochs_changed = false;
            for h in &headers {
                epochs_changed |= state.epochs.assign(
                    LeaderEpoch(h.partition_leader_epoch as u32),
                    Offset(h.base_offset as u64),
                );
            }
            if epochs_changed {
                checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
            }
            let info = self.write_batches(&mut state, Payload::Borrowed(batches), &headers)?;
            // The leader checked its producers' sequences; a follower takes them as they come,
            // so that it deduplicates the same retries once it leads.
            for header in &headers {
                if !is_control(header)
                    && let Some(producer) = ProducerBatch::of(header)
                {
                    let first = Offset(header.base_offset as u64);
                    let last = Offset(header.last_offset() as u64);
                    state.producers.apply(&producer, first, last);
                }
            }
            (info, state.truncations)
        };
        self.apply_flush_policy(info, truncations)
    }

    /// Validates every batch of an append; returns their headers.
    fn validate_append(&self, batches: &[u8]) -> Result<Vec<BatchHeader>> {
        if batches.is_empty() {
            return Err(Error::EmptyAppend);
        }
        if batches.len() as u64 > self.config.segment_bytes {
            return Err(Error::AppendTooLarge {
                size: batches.len() as u64,
                segment_bytes: self.config.segment_bytes,
            });
        }
        let mut iter = BatchIter::new(batches, self.config.max_batch_bytes);
        let mut headers = Vec::new();
        while let Some(item) = iter.next() {
            match item {
                Ok(info) => headers.push(info.header),
                Err(source) => {
                    return Err(Error::InvalidBatch {
                        index: headers.len(),
                        position: iter.position(),
                        source,
                    });
                }
            }
        }
        Ok(headers)
    }

    fn check_replicated(&self, state: &State, headers: &[BatchHeader]) -> Result<()> {
        let mut expected = state.log_end_offset();
        let mut latest = state.epochs.latest_epoch();
        for h in headers {
            let found = Offset(h.base_offset as u64);
            if found != expected {
                return Err(Error::NonContiguous { expected, found });
            }
            if h.partition_leader_epoch < 0 {
                return Err(Error::UnstampedBatch {
                    offset: found,
                    epoch: h.partition_leader_epoch,
                });
            }
            let epoch = LeaderEpoch(h.partition_leader_epoch as u32);
            if let Some(l) = latest
                && epoch < l
            {
                return Err(Error::StaleLeaderEpoch { epoch, latest: l });
            }
            latest = Some(epoch);
            expected = Offset(h.next_offset() as u64);
        }
        Ok(())
    }

    /// Writes validated, stamped batches into the active segment, rolling first when they
    /// would not fit or the segment is older than `segment_ms`.
    fn write_batches(
        &self,
        state: &mut State,
        payload: Payload<'_>,
        headers: &[BatchHeader],
    ) -> Result<AppendInfo> {
        let len = payload.len() as u64;
        if should_roll(&self.config, state.active(), len, Timestamp::now()) {
            let leo = state.log_end_offset();
            self.roll(state, leo)?;
        }
        let backend = self.backend.as_ref();
        let interval = self.config.index_interval_bytes;
        let active = state.active_mut();
        let old_size = active.size;
        active.preallocate(
            old_size + len,
            self.config.preallocate_bytes,
            self.config.segment_bytes,
        );
        if self.config.write_buffer_bytes > 0 {
            active.record_appended(headers, interval);
            state.stage_append(&self.dir, old_size, payload)?;
        } else if let Err(e) = active.append(backend, payload.bytes(), headers, interval) {
            // The failed write may have left part of the batches past `size`: cut them, so the
            // file never holds a partial append. If even that fails, stop writing.
            if let Err(cut) = active.log_file().set_len(old_size) {
                state.poisoned = Some(format!("cutting a failed append failed: {cut}"));
            }
            return Err(e);
        } else {
            state.written_offset = state.log_end_offset();
        }
        let first = headers.first().expect("validated appends hold a batch");
        let last = headers.last().expect("validated appends hold a batch");
        let info = AppendInfo {
            first_offset: Offset(first.base_offset as u64),
            last_offset: Offset(last.last_offset() as u64),
            batch_count: headers.len(),
            record_count: headers.iter().map(|h| h.record_count as u64).sum(),
            bytes: len,
            max_timestamp: Timestamp(headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1)),
            duplicate: false,
        };
        self.debug_check(state);
        Ok(info)
    }

    /// Seals the active segment and starts a new one at `base_offset` (the log end offset).
    pub(crate) fn roll(&self, state: &mut State, base_offset: Offset) -> Result<()> {
        debug_assert_eq!(base_offset, state.log_end_offset());
        state.drain_writes(&self.dir)?;
        let active = state.active_mut();
        active.trim_preallocation()?;
        active.seal();
        active.write_indexes(self.backend.as_ref())?;
        // The producers as of the new segment's base: an open after a crash replays from here.
        producer_state::write_snapshot(&self.dir, &state.producers, base_offset)?;
        let segment = Segment::create(&self.dir, base_offset)?;
        sync_dir(&self.dir)?;
        tracing::debug!(dir = %self.dir.display(), base_offset = base_offset.0, "segment rolled");
        state.segments.insert(base_offset, segment);
        Ok(())
    }

    fn apply_flush_policy(&self, info: AppendInfo, truncations: u64) -> Result<AppendInfo> {
        match self.config.flush {
            FlushPolicy::Always => self.wait_durable(info.next_offset(), truncations)?,
            FlushPolicy::Interval(interval) => {
                if self.read_state().last_flush.elapsed() >= interval {
                    self.wait_durable(info.next_offset(), truncations)?;
                }
            }
            FlushPolicy::Never => {}
        }
        Ok(info)
    }
}

/// The idempotent producer's batch among a leader's `headers`, if any: transactional and
/// control batches are refused (no transactions yet), and so is an idempotent batch that is
/// not alone in its append (Kafka's produce carries one batch per partition; one batch per
/// check keeps the verdict whole: appended, or a duplicate, or refused).
fn producer_batch(headers: &[BatchHeader]) -> Result<Option<ProducerBatch>> {
    let mut found = None;
    for header in headers {
        if is_transactional_or_control(header) {
            return Err(Error::TransactionsUnsupported {
                producer_id: header.producer_id,
            });
        }
        if let Some(producer) = ProducerBatch::of(header) {
            found = Some(producer);
        }
    }
    if found.is_some() && headers.len() > 1 {
        return Err(Error::IdempotentAppendOfManyBatches {
            count: headers.len(),
        });
    }
    Ok(found)
}

/// A leader's batches, borrowed or owned.
enum LeaderInput<'a> {
    Borrowed(&'a mut [u8]),
    Owned(Vec<u8>),
}

impl<'a> LeaderInput<'a> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            LeaderInput::Borrowed(b) => b,
            LeaderInput::Owned(v) => v,
        }
    }

    fn into_payload(self) -> Payload<'a> {
        match self {
            LeaderInput::Borrowed(b) => Payload::Borrowed(b),
            LeaderInput::Owned(v) => Payload::Owned(v),
        }
    }
}

/// Stamps offsets from `base` and the leader epoch into each batch (and its parsed header).
fn stamp(batches: &mut [u8], headers: &mut [BatchHeader], base: Offset, epoch: LeaderEpoch) {
    let mut next = base;
    let mut at = 0;
    for h in headers {
        set_base_offset(&mut batches[at..], next.as_i64());
        set_partition_leader_epoch(&mut batches[at..], epoch.as_i32());
        h.base_offset = next.as_i64();
        h.partition_leader_epoch = epoch.as_i32();
        next = Offset(h.next_offset() as u64);
        at += h.total_len();
    }
}

/// Whether an append of `len` bytes at `now` starts a new segment: never into an empty one;
/// when it would take the active segment past `segment_bytes`, or the segment is older than
/// `segment_ms`.
pub(crate) fn should_roll(
    config: &crate::LogConfig,
    active: &Segment,
    len: u64,
    now: Timestamp,
) -> bool {
    if active.is_empty() {
        return false;
    }
    let full = active.size + len > config.segment_bytes;
    let old = config.segment_ms.is_some_and(|max| {
        now.0.saturating_sub(active.created_at.0)
            >= i64::try_from(max.as_millis()).unwrap_or(i64::MAX)
    });
    full || old
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LogConfig;

    fn segment_of(dir: &std::path::Path, size: u64) -> Segment {
        let mut segment = Segment::create(dir, Offset(0)).unwrap();
        segment.size = size;
        segment
    }

    #[test]
    fn a_segment_older_than_segment_ms_rolls_on_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_ms: Some(Duration::from_millis(1000)),
            ..LogConfig::default()
        };
        let segment = segment_of(dir.path(), 100);
        let born = segment.created_at.0;
        assert!(!should_roll(&config, &segment, 100, Timestamp(born + 999)));
        assert!(should_roll(&config, &segment, 100, Timestamp(born + 1000)));
    }

    #[test]
    fn an_empty_segment_never_rolls() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 1000,
            segment_ms: Some(Duration::from_millis(1)),
            ..LogConfig::default()
        };
        let segment = segment_of(dir.path(), 0);
        assert!(!should_roll(
            &config,
            &segment,
            5000,
            Timestamp(segment.created_at.0 + 10_000)
        ));
    }

    #[test]
    fn an_append_that_would_pass_segment_bytes_rolls_first() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 1000,
            segment_ms: None,
            ..LogConfig::default()
        };
        let segment = segment_of(dir.path(), 900);
        let now = segment.created_at;
        assert!(!should_roll(&config, &segment, 100, now));
        assert!(should_roll(&config, &segment, 101, now));
    }
}
