//! A broker's model disk: one log per partition as a list of batches, each record a unique id,
//! with the point up to which the log is durable. A crash keeps only the durable part, which
//! is how "a broker crash loses the unflushed tail of its log" is simulated.

use std::convert::Infallible;

use ringlog_format::{EpochEntry, LeaderEpochCache};
use ringlog_replication::KafkaError;
use ringlog_replication::driver::{DriverLog, LeaderAppend};
use ringlog_replication::partition::{BatchMeta, LogState};
use ringlog_replication::{LeaderEpoch, Offset};

/// One batch: consecutive records from `base`, stamped with the leader epoch that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModelBatch {
    pub base: Offset,
    pub epoch: LeaderEpoch,
    pub records: Vec<u64>,
}

impl ModelBatch {
    pub(crate) fn end(&self) -> Offset {
        Offset(self.base.0 + self.records.len() as u64)
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
    /// Everything below survives a crash.
    pub durable_end: Offset,
    /// The high watermark checkpoint: the last one the replica reported.
    pub high_watermark: Offset,
    /// Bumped by every change to the batches, so invariants can skip a log they checked.
    pub generation: u64,
}

impl ModelLog {
    pub(crate) fn end(&self) -> Offset {
        self.batches.last().map_or(Offset::ZERO, ModelBatch::end)
    }

    /// The record at `offset`, if the log holds it.
    pub(crate) fn record_at(&self, offset: Offset) -> Option<u64> {
        let index = self.batches.partition_point(|b| b.end() <= offset);
        let batch = self.batches.get(index)?;
        let within = offset.0.checked_sub(batch.base.0)?;
        batch.records.get(within as usize).copied()
    }

    /// Appends `batch`, which must start at the log end. Durable only if `durable`.
    pub(crate) fn append(&mut self, batch: ModelBatch, durable: bool) {
        assert_eq!(batch.base, self.end(), "append not at the log end");
        self.generation += 1;
        self.batches.push(batch);
        if durable {
            self.durable_end = self.end();
        }
    }

    /// Cuts the log to end at `end`, which must be a batch boundary (the protocol only ever
    /// truncates to one: epoch starts and log ends).
    pub(crate) fn truncate(&mut self, end: Offset) {
        let keep = self.batches.partition_point(|b| b.end() <= end);
        assert!(
            keep == self.batches.len() || self.batches[keep].base >= end,
            "truncation to {end} splits the batch at {}",
            self.batches[keep].base
        );
        self.batches.truncate(keep);
        self.generation += 1;
        self.durable_end = self.durable_end.min(self.end());
        self.high_watermark = self.high_watermark.min(self.end());
    }

    /// Empties the log and restarts it at `offset` (only from offset 0 here: the simulated
    /// logs keep everything, so a leader's log always starts at 0).
    pub(crate) fn truncate_fully(&mut self) {
        self.batches.clear();
        self.generation += 1;
        self.durable_end = Offset::ZERO;
        self.high_watermark = Offset::ZERO;
    }

    /// A write up to `end` completed: everything below it survives a crash.
    pub(crate) fn make_durable(&mut self, end: Offset) {
        self.durable_end = self.durable_end.max(end.min(self.end()));
    }

    /// What a crash leaves.
    pub(crate) fn crash(&mut self) {
        let durable = self.durable_end;
        let keep = self.batches.partition_point(|b| b.end() <= durable);
        self.batches.truncate(keep);
        self.generation += 1;
        self.high_watermark = self.high_watermark.min(self.end());
    }

    /// The batches from `from` (a batch boundary) up to `end`, at most `max` of them.
    pub(crate) fn read(&self, from: Offset, end: Offset, max: usize) -> Vec<ModelBatch> {
        let start = self.batches.partition_point(|b| b.base < from);
        if let Some(first) = self.batches.get(start) {
            assert!(
                start == 0 || self.batches[start - 1].end() == from,
                "a read from {from} starts inside a batch (next batch at {})",
                first.base
            );
        }
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
        LogState {
            log_end_offset: self.end(),
            high_watermark: self.high_watermark.min(self.end()),
            epochs: LeaderEpochCache::from_entries(entries).expect("batch epochs never go back"),
        }
    }

    /// Every record with its offset, in order.
    pub(crate) fn records(&self) -> impl Iterator<Item = (Offset, u64)> + '_ {
        self.batches.iter().flat_map(|b| {
            (b.base.0..)
                .zip(b.records.iter())
                .map(|(o, r)| (Offset(o), *r))
        })
    }
}

/// The model log under the broker's partition driver. A leader's append is written at once
/// (reads see it) and durable only when the simulated disk completes it; a follower's append
/// is durable at once.
impl DriverLog for ModelLog {
    type Records = Vec<ModelBatch>;
    type Error = Infallible;

    fn state(&self) -> LogState {
        ModelLog::state(self)
    }

    fn log_start_offset(&self) -> Offset {
        Offset::ZERO
    }

    fn log_end_offset(&self) -> Offset {
        self.end()
    }

    fn append_as_leader(
        &mut self,
        records: Vec<ModelBatch>,
        leader_epoch: LeaderEpoch,
    ) -> Result<LeaderAppend, Infallible> {
        let first_offset = self.end();
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
    ) -> Result<(), Infallible> {
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

    fn truncate_to(&mut self, end_offset: Offset) -> Result<(), Infallible> {
        self.truncate(end_offset);
        Ok(())
    }

    fn truncate_fully_and_start_at(&mut self, offset: Offset) -> Result<(), Infallible> {
        assert_eq!(offset, Offset::ZERO, "simulated logs always start at 0");
        self.truncate_fully();
        Ok(())
    }

    fn set_high_watermark(&mut self, high_watermark: Offset) {
        self.high_watermark = high_watermark;
    }

    fn append_refusal(error: &Infallible) -> KafkaError {
        match *error {}
    }
}
