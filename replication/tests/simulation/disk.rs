//! A broker's model disk: one log per partition as a list of batches, each record a unique id,
//! with the point up to which the log is durable and the log start offset (moved by
//! DeleteRecords, durable at once, as the engine's checkpoint makes it). A crash keeps only the
//! durable part, which is how "a broker crash loses the unflushed tail of its log" is
//! simulated. Moving the start and truncating follow the engine's rules: the records below the
//! start are unreadable (the model keeps their batches, as the engine keeps their epochs in its
//! leader-epoch cache), a truncation takes the batch it falls inside whole, and one below the
//! start, or inside the batch holding it, restarts the log empty.
//!
//! The log keeps its idempotent producers as the engine does, with the same pure state
//! (`ringlog_format::producer`): a leader's append of a retried batch appends nothing and
//! answers the first append's offsets, followers learn producers from what they replicate, and
//! a truncation or crash rebuilds them from the batches left.

use ringlog_format::producer::{ProducerBatch, ProducerStates, SequenceCheck, SequenceError};
use ringlog_format::{EpochEntry, LeaderEpochCache};
use ringlog_replication::KafkaError;
use ringlog_replication::driver::{DriverLog, LeaderAppend};
use ringlog_replication::partition::{BatchMeta, LogState};
use ringlog_replication::{LeaderEpoch, Offset};

/// One batch: consecutive records from `base`, stamped with the leader epoch that wrote it;
/// `producer` when an idempotent producer sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModelBatch {
    pub base: Offset,
    pub epoch: LeaderEpoch,
    pub records: Vec<u64>,
    pub producer: Option<ProducerBatch>,
}

impl ModelBatch {
    pub(crate) fn end(&self) -> Offset {
        Offset(self.base.0 + self.records.len() as u64)
    }

    fn last(&self) -> Offset {
        Offset(self.end().0 - 1)
    }

    pub(crate) fn meta(&self) -> BatchMeta {
        BatchMeta {
            base_offset: self.base,
            last_offset: Offset(self.end().0 - 1),
            leader_epoch: self.epoch,
        }
    }
}

/// One partition's log on one broker.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModelLog {
    pub batches: Vec<ModelBatch>,
    /// The log start offset: records below it are gone for readers.
    pub start: Offset,
    /// Everything below survives a crash.
    pub durable_end: Offset,
    /// The high watermark checkpoint: the last one the replica reported.
    pub high_watermark: Offset,
    /// Bumped by every change to the batches, so invariants can skip a log they checked.
    pub generation: u64,
    /// The idempotent producers of the batches.
    pub producers: ProducerStates,
    /// A leader appends every batch, retries again too (the broken variant).
    pub test_only_forget_producers: bool,
}

impl ModelLog {
    /// The log end offset: past the last batch, or the start when no record is readable.
    pub(crate) fn end(&self) -> Offset {
        self.batches
            .last()
            .map_or(self.start, ModelBatch::end)
            .max(self.start)
    }

    /// The record at `offset`, if the log holds it (at or after the log start).
    pub(crate) fn record_at(&self, offset: Offset) -> Option<u64> {
        if offset < self.start {
            return None;
        }
        let index = self.batches.partition_point(|b| b.end() <= offset);
        let batch = self.batches.get(index)?;
        let within = offset.0.checked_sub(batch.base.0)?;
        batch.records.get(within as usize).copied()
    }

    /// Appends `batch`, which must start at the log end. Durable only if `durable`.
    pub(crate) fn append(&mut self, batch: ModelBatch, durable: bool) {
        assert_eq!(batch.base, self.end(), "append not at the log end");
        self.generation += 1;
        if let Some(producer) = &batch.producer {
            self.producers.apply(producer, batch.base, batch.last());
        }
        self.batches.push(batch);
        if durable {
            self.durable_end = self.end();
        }
    }

    /// Cuts the log to end at `end`, or below it at the start of the batch `end` falls inside,
    /// as the engine does: a cut below the log start restarts the log empty at the cut, one
    /// inside the batch holding the start restarts it empty at the start.
    pub(crate) fn truncate(&mut self, end: Offset) {
        if end >= self.end() {
            return;
        }
        if end < self.start {
            self.truncate_fully(end);
            return;
        }
        let cut = self.batches.partition_point(|b| b.end() <= end);
        if self.batches.get(cut).is_some_and(|b| b.base < self.start) {
            self.truncate_fully(self.start);
            return;
        }
        self.batches.truncate(cut);
        self.generation += 1;
        self.durable_end = self.durable_end.min(self.end());
        self.high_watermark = self.high_watermark.min(self.end());
        self.rebuild_producers();
    }

    /// The producers of the batches the log holds, as the engine rebuilds them after a
    /// truncation or a crash (its snapshots keep the producers of deleted batches too).
    fn rebuild_producers(&mut self) {
        let mut producers = ProducerStates::new();
        for batch in &self.batches {
            if let Some(producer) = &batch.producer {
                producers.apply(producer, batch.base, batch.last());
            }
        }
        producers.forget_below(self.start);
        self.producers = producers;
    }

    /// Empties the log and restarts it at `offset`.
    pub(crate) fn truncate_fully(&mut self, offset: Offset) {
        self.batches.clear();
        self.generation += 1;
        self.start = offset;
        self.durable_end = offset;
        self.high_watermark = offset;
        self.producers = ProducerStates::new();
    }

    /// Moves the log start up to `offset` (at most the high watermark). Durable at once.
    pub(crate) fn advance_start(&mut self, offset: Offset) {
        if offset <= self.start {
            return;
        }
        assert!(
            offset <= self.high_watermark,
            "log start moved to {offset}, past the high watermark {}",
            self.high_watermark
        );
        self.start = offset;
        self.generation += 1;
        self.producers.forget_below(offset);
    }

    /// A write up to `end` completed: everything below it survives a crash.
    pub(crate) fn make_durable(&mut self, end: Offset) {
        self.durable_end = self.durable_end.max(end.min(self.end()));
    }

    /// What a crash leaves.
    pub(crate) fn crash(&mut self) {
        let durable = self.durable_end;
        assert!(
            durable >= self.start || self.batches.is_empty(),
            "the log start {} is past what is durable, {durable}",
            self.start
        );
        let keep = self.batches.partition_point(|b| b.end() <= durable);
        self.batches.truncate(keep);
        self.generation += 1;
        self.high_watermark = self.high_watermark.min(self.end());
        self.rebuild_producers();
    }

    /// The batches from the one holding `from` up to `end`, at most `max` of them, as the
    /// engine reads: a read from inside a batch (from a follower whose empty log starts at a
    /// log start DeleteRecords put inside one, or at a truncation point) gets it whole.
    pub(crate) fn read(&self, from: Offset, end: Offset, max: usize) -> Vec<ModelBatch> {
        let start = self.batches.partition_point(|b| b.end() <= from);
        self.batches[start..]
            .iter()
            .take_while(|b| b.end() <= end)
            .take(max)
            .cloned()
            .collect()
    }

    /// The log as a replica's state machine takes it over.
    pub(crate) fn state(&self) -> LogState {
        let mut entries: Vec<EpochEntry> = Vec::new();
        for batch in &self.batches {
            if entries.last().is_none_or(|e| e.epoch != batch.epoch) {
                entries.push(EpochEntry {
                    epoch: batch.epoch,
                    start_offset: batch.base,
                });
            }
        }
        let mut epochs =
            LeaderEpochCache::from_entries(entries).expect("batch epochs never go back");
        // As the engine's cache: the epochs whose data lies below the start are gone.
        epochs.drop_before(self.start);
        LogState {
            log_start_offset: self.start,
            log_end_offset: self.end(),
            high_watermark: self.high_watermark.min(self.end()),
            epochs,
        }
    }

    /// Every record at or after the log start with its offset, in order.
    pub(crate) fn records(&self) -> impl Iterator<Item = (Offset, u64)> + '_ {
        self.batches
            .iter()
            .flat_map(|b| {
                (b.base.0..)
                    .zip(b.records.iter())
                    .map(|(o, r)| (Offset(o), *r))
            })
            .filter(|(o, _)| *o >= self.start)
    }
}

/// The model log under the broker's partition driver. A leader's append is written at once
/// (reads see it) and durable only when the simulated disk completes it; a follower's append
/// is durable at once. A duplicate of an idempotent producer's batch appends nothing: it is
/// answered with the first append's offset once the log written so far is durable (and
/// committed, for acks=all), as a produce appended now would be.
impl DriverLog for ModelLog {
    type Records = Vec<ModelBatch>;
    type Error = SequenceError;

    fn state(&self) -> LogState {
        ModelLog::state(self)
    }

    fn log_start_offset(&self) -> Offset {
        self.start
    }

    fn log_end_offset(&self) -> Offset {
        self.end()
    }

    fn append_as_leader(
        &mut self,
        records: Vec<ModelBatch>,
        leader_epoch: LeaderEpoch,
    ) -> Result<LeaderAppend, SequenceError> {
        let first_offset = self.end();
        if let [
            ModelBatch {
                producer: Some(producer),
                ..
            },
        ] = records.as_slice()
            && !self.test_only_forget_producers
            && let SequenceCheck::Duplicate(kept) = self.producers.check(producer)?
        {
            return Ok(LeaderAppend::Pending {
                first_offset: kept.first_offset,
            });
        }
        for mut batch in records {
            batch.base = self.end();
            batch.epoch = leader_epoch;
            self.append(batch, false);
        }
        Ok(LeaderAppend::Pending { first_offset })
    }

    fn append_replicated(
        &mut self,
        records: &Vec<ModelBatch>,
        base_offset: Offset,
        end_offset: Offset,
    ) -> Result<(), SequenceError> {
        for batch in records {
            if batch.base >= base_offset && batch.end() <= end_offset {
                self.append(batch.clone(), true);
            }
        }
        assert_eq!(
            self.end(),
            end_offset,
            "the follower appended what it was told"
        );
        Ok(())
    }

    fn truncate_to(&mut self, end_offset: Offset) -> Result<(), SequenceError> {
        self.truncate(end_offset);
        Ok(())
    }

    fn truncate_fully_and_start_at(&mut self, offset: Offset) -> Result<(), SequenceError> {
        self.truncate_fully(offset);
        Ok(())
    }

    fn set_high_watermark(&mut self, high_watermark: Offset) {
        self.high_watermark = high_watermark;
    }

    fn advance_log_start(&mut self, log_start_offset: Offset) -> Result<(), SequenceError> {
        self.advance_start(log_start_offset);
        Ok(())
    }

    fn append_refusal(error: &SequenceError) -> KafkaError {
        match error {
            SequenceError::OutOfOrderSequence { .. } => KafkaError::OutOfOrderSequenceNumber,
            SequenceError::DuplicateSequence { .. } => KafkaError::DuplicateSequenceNumber,
            SequenceError::InvalidProducerEpoch { .. } => KafkaError::InvalidProducerEpoch,
            SequenceError::UnknownProducerId { .. } => KafkaError::UnknownProducerId,
        }
    }
}
