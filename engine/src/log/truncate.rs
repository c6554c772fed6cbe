//! Moving the ends of the log: follower truncation (the tail), `delete_records` and retention
//! (the head). Each change is made durable before it is reported: cut files are synced, deleted
//! files are preceded by the checkpoint that makes them unneeded, and the leader-epoch cache
//! follows the log.

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::format::producer::ProducerStates;
use crate::producer_state;
use crate::segment::Segment;
use crate::types::{Offset, Timestamp};

use super::{Log, State, sync_dir};

/// What a retention pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start_offset: Offset,
}

impl Log {
    /// Removes every batch with an offset at or past `offset`; a batch that `offset` falls inside
    /// goes whole, so the log ends on the greatest batch boundary at or below `offset` (or
    /// restarts empty at the log start offset when that boundary lies below it). Returns the
    /// new log end offset. Below the log start offset, the log is emptied and restarts at
    /// `offset`. Serves follower truncation to a diverging epoch's end offset.
    pub fn truncate_to(&self, offset: Offset) -> Result<Offset> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        let leo = state.log_end_offset();
        if offset >= leo {
            return Ok(leo);
        }
        let first_base = *state
            .segments
            .keys()
            .next()
            .expect("a log always has a segment");
        if offset < state.log_start_offset || offset < first_base {
            self.restart_at(&mut state, offset)?;
            return Ok(offset);
        }
        let keep = *state
            .segments
            .range(..=offset)
            .next_back()
            .expect("offset >= first base")
            .0;
        let later: Vec<Offset> = state
            .segments
            .range(keep..)
            .skip(1)
            .map(|(b, _)| *b)
            .collect();
        for base in later.into_iter().rev() {
            state
                .segments
                .remove(&base)
                .expect("listed")
                .delete_files()?;
        }
        let backend = self.backend.as_ref();
        let interval = self.config.index_interval_bytes;
        let start = state.log_start_offset;
        let segment = state.segments.get_mut(&keep).expect("kept");
        if let Some(cut) = segment.find_batch(backend, offset)? {
            if (cut.header.base_offset as u64) < start.0 {
                // The batch holding the log start goes: nothing readable is left.
                self.restart_at(&mut state, start)?;
                return Ok(start);
            }
            segment.truncate_to(backend, cut.position, interval)?;
        }
        let new_leo = state.log_end_offset();
        // Snapshots past the new end describe batches that are gone.
        producer_state::delete_snapshots_outside(&self.dir, Offset::ZERO, new_leo)?;
        sync_dir(&self.dir)?;
        self.after_truncation(&mut state, new_leo)?;
        let (producers, _) = producer_state::rebuild(&self.dir, self.backend.as_ref(), &state)?;
        state.producers = producers;
        tracing::info!(dir = %self.dir.display(), from = leo.0, to = new_leo.0, "log truncated");
        Ok(new_leo)
    }

    /// Empties the log and restarts it at `offset` (a follower whose leader's log starts past
    /// everything it has).
    pub fn truncate_fully_and_start_at(&self, offset: Offset) -> Result<()> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        self.restart_at(&mut state, offset)
    }

    fn restart_at(&self, state: &mut State, offset: Offset) -> Result<()> {
        let bases: Vec<Offset> = state.segments.keys().copied().collect();
        for base in bases.into_iter().rev() {
            state
                .segments
                .remove(&base)
                .expect("listed")
                .delete_files()?;
        }
        state
            .segments
            .insert(offset, Segment::create(&self.dir, offset)?);
        producer_state::delete_all_snapshots(&self.dir)?;
        state.producers = ProducerStates::new();
        sync_dir(&self.dir)?;
        state.log_start_offset = offset;
        state.high_watermark = offset;
        state.recovery_point = offset;
        state.written_offset = offset;
        state.truncations += 1;
        state.epochs = crate::LeaderEpochCache::new();
        checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
        self.write_checkpoints(state)?;
        self.debug_check(state);
        Ok(())
    }

    /// Pulls every mark down to the new log end offset and persists what moved back.
    fn after_truncation(&self, state: &mut State, new_leo: Offset) -> Result<()> {
        state.truncations += 1;
        state.high_watermark = state.high_watermark.min(new_leo);
        state.written_offset = state.written_offset.min(new_leo);
        if state.epochs.truncate_from_end(new_leo) {
            checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
        }
        if state.recovery_point > new_leo {
            // A stale, larger recovery point would make recovery treat new, unsynced data at
            // these offsets as durable: write the smaller one now.
            state.recovery_point = new_leo;
            self.write_checkpoints(state)?;
        }
        self.debug_check(state);
        Ok(())
    }

    /// Advances the log start offset to `new_start` (Kafka's DeleteRecords): reads below it are
    /// refused from now on, and segments wholly below it are deleted. Returns the log start
    /// offset. `new_start` may not pass the log end offset.
    pub fn delete_records(&self, new_start: Offset) -> Result<Offset> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        let leo = state.log_end_offset();
        if new_start > leo {
            return Err(Error::OffsetOutOfRange {
                offset: new_start,
                log_start_offset: state.log_start_offset,
                log_end_offset: leo,
            });
        }
        if new_start <= state.log_start_offset {
            return Ok(state.log_start_offset);
        }
        let doomed: Vec<Offset> = state
            .segments
            .values()
            .filter(|s| s.next_offset <= new_start && !s.is_empty())
            .map(|s| s.base_offset)
            .collect();
        self.advance_start(&mut state, new_start, &doomed)?;
        Ok(new_start)
    }

    /// Deletes whole segments past `retention_ms` (their newest record older than `now` minus
    /// it) or beyond `retention_bytes`, oldest first, and only segments wholly below the high
    /// watermark. The active segment is rolled first when it is itself due.
    pub fn apply_retention(&self, now: Timestamp) -> Result<RetentionOutcome> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        let doomed = self.retention_candidates(&state, now);
        let Some(last) = doomed.last().copied() else {
            return Ok(RetentionOutcome {
                log_start_offset: state.log_start_offset,
                ..RetentionOutcome::default()
            });
        };
        let new_start = state.segments[&last].next_offset;
        let bytes_deleted = doomed.iter().map(|b| state.segments[b].size).sum();
        self.advance_start(&mut state, new_start, &doomed)?;
        tracing::info!(dir = %self.dir.display(), segments = doomed.len(), bytes = bytes_deleted, log_start_offset = new_start.0, "retention deleted segments");
        Ok(RetentionOutcome {
            segments_deleted: doomed.len(),
            bytes_deleted,
            log_start_offset: state.log_start_offset,
        })
    }

    fn retention_candidates(&self, state: &State, now: Timestamp) -> Vec<Offset> {
        let mut remaining = state.size_bytes();
        let mut doomed = Vec::new();
        for segment in state.segments.values() {
            if segment.is_empty() || segment.next_offset > state.high_watermark {
                break;
            }
            let expired = self
                .config
                .retention_ms
                .zip(segment.max_timestamp)
                .is_some_and(|(ms, (max, _))| max.0 < now.0.saturating_sub(ms.as_millis() as i64));
            let oversize = self
                .config
                .retention_bytes
                .is_some_and(|limit| remaining - segment.size >= limit);
            if !expired && !oversize {
                break;
            }
            remaining -= segment.size;
            doomed.push(segment.base_offset);
        }
        doomed
    }

    /// Moves the log start to `new_start` durably, then deletes the `doomed` segments (rolling
    /// first if the active one is among them).
    fn advance_start(&self, state: &mut State, new_start: Offset, doomed: &[Offset]) -> Result<()> {
        let active = state.active().base_offset;
        if doomed.contains(&active) {
            let leo = state.log_end_offset();
            self.roll(state, leo)?;
        }
        state.log_start_offset = new_start;
        state.high_watermark = state.high_watermark.max(new_start);
        state.recovery_point = state.recovery_point.max(new_start);
        checkpoint::write_offset(&self.dir, checkpoint::LOG_START_OFFSET_FILE, new_start)?;
        for base in doomed {
            state
                .segments
                .remove(base)
                .expect("doomed segment exists")
                .delete_files()?;
        }
        state.producers.forget_below(new_start);
        let first_base = *state
            .segments
            .keys()
            .next()
            .expect("a log always has a segment");
        producer_state::delete_snapshots_outside(&self.dir, first_base, Offset(u64::MAX))?;
        sync_dir(&self.dir)?;
        if state.epochs.drop_before(new_start) {
            checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
        }
        self.debug_check(state);
        Ok(())
    }
}
