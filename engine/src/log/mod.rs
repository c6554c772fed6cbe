//! The partition log: an ordered set of segments in one directory, and the offsets that say
//! what is valid (log start, log end), durable (recovery point) and committed (high watermark).
//!
//! | file            | owns                                                                  |
//! |-----------------|-----------------------------------------------------------------------|
//! | this file       | [`Log`]: open (through [`crate::recovery`]), close, accessors, checkpoints |
//! | `append.rs`     | leader and follower appends, segment rolls                            |
//! | `read.rs`       | reads as file slices (for sendfile) or bytes, lookup by timestamp     |
//! | `flush.rs`      | group commit: concurrent appenders share one fdatasync                |
//! | `truncate.rs`   | follower truncation, `delete_records`, retention                      |
//! | `writer.rs`     | the write pipeline: appends staged and written in large (asynchronous) writes |
//!
//! Concurrency: the log is `Sync`. Appends, truncations and deletions take the state lock for
//! writing, reads take it for reading; fdatasync runs outside the lock so appends continue
//! while a sync is in flight, and everyone waiting for durability shares the next one.
//!
//! Invariants (checked by [`Log::check_invariants`] after every mutation in debug builds):
//! `log_start_offset <= high_watermark <= log_end_offset`, `recovery_point <= log_end_offset`,
//! segments are contiguous (each starts where the previous ends) and the last one is active.

mod append;
mod flush;
mod read;
mod truncate;
mod writer;

pub use append::AppendInfo;
pub(crate) use flush::sync_segment;
pub use read::{FileSlice, ReadBytes, ReadSlices, TimestampOffset};
pub use truncate::RetentionOutcome;
pub(crate) use writer::Writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::checkpoint;
use crate::config::LogConfig;
use crate::epoch_cache::{EpochEntry, LeaderEpochCache};
use crate::error::{Error, Result};
use crate::format::producer::{ProducerEntry, ProducerStates};
use crate::io::{IoBackend, open_backend};
use crate::producer_state;
use crate::recovery::{self, RecoveryReport};
use crate::segment::Segment;
use crate::types::{LeaderEpoch, Offset};

/// The file whose presence says the log was closed cleanly, so the next open skips recovery.
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
/// The file locked while the log is open, so two openers cannot share a directory.
pub const LOCK_FILE: &str = ".lock";

/// The mutable state of a log, behind its lock.
#[derive(Debug)]
pub(crate) struct State {
    /// By base offset; the last one is the active segment. Never empty.
    pub segments: BTreeMap<Offset, Segment>,
    pub log_start_offset: Offset,
    /// Everything below is durable.
    pub recovery_point: Offset,
    /// Everything below is written (in the page cache); see [`writer`].
    pub written_offset: Offset,
    pub writer: writer::Writer,
    pub high_watermark: Offset,
    pub epochs: LeaderEpochCache,
    /// Set by a failed fsync: the reason every later write is refused.
    pub poisoned: Option<String>,
    /// Bumped by every truncation, so a flush or a waiter can tell the log moved back.
    pub truncations: u64,
    pub last_flush: Instant,
    /// The (recovery point, log start offset, high watermark) last written to checkpoints.
    pub checkpointed: (Offset, Offset, Offset),
    pub last_checkpoint: Instant,
    /// The idempotent producers of every batch in the log (see [`crate::producer_state`]).
    pub producers: ProducerStates,
}

impl State {
    pub(crate) fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    pub(crate) fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }

    pub(crate) fn log_end_offset(&self) -> Offset {
        self.active().next_offset
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// What the offset checkpoint files hold when current.
    pub(crate) fn checkpoint_values(&self) -> (Offset, Offset, Offset) {
        (
            self.recovery_point,
            self.log_start_offset,
            self.high_watermark,
        )
    }

    pub(crate) fn check_invariants(&self) {
        let leo = self.log_end_offset();
        assert!(
            self.log_start_offset <= self.high_watermark,
            "log start offset {} above high watermark {}",
            self.log_start_offset,
            self.high_watermark
        );
        assert!(
            self.high_watermark <= leo,
            "high watermark {} above log end offset {leo}",
            self.high_watermark
        );
        assert!(
            self.recovery_point <= self.written_offset,
            "recovery point {} above written offset {}",
            self.recovery_point,
            self.written_offset
        );
        assert!(
            self.written_offset <= leo,
            "written offset {} above log end offset {leo}",
            self.written_offset
        );
        let mut expected: Option<Offset> = None;
        for (base, segment) in &self.segments {
            assert_eq!(
                *base, segment.base_offset,
                "segment keyed by its base offset"
            );
            if let Some(expected) = expected {
                assert_eq!(
                    *base, expected,
                    "segment {base} does not continue the previous one"
                );
            }
            assert!(
                segment.flushed_size <= segment.written_size,
                "segment {base} flushed past what was written"
            );
            assert!(
                segment.written_size <= segment.size,
                "segment {base} written past its size"
            );
            expected = Some(segment.next_offset);
        }
        self.epochs.check_invariants();
        if let Some(latest) = self.epochs.latest() {
            assert!(
                latest.start_offset <= leo,
                "epoch {} starts at {} past log end offset {leo}",
                latest.epoch,
                latest.start_offset
            );
        }
    }
}

/// A summary of one segment, for tools and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: Offset,
    pub next_offset: Offset,
    pub size: u64,
    pub path: PathBuf,
}

/// One partition's log. See the module docs.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    backend: Arc<dyn IoBackend>,
    state: RwLock<State>,
    flush_gate: flush::FlushGate,
    report: RecoveryReport,
    /// Held (flock) while the log is open.
    _lock: File,
}

impl Log {
    /// Opens (creating if needed) the log in `dir` with the backend `config.io_backend` names,
    /// recovering it if it was not closed cleanly. [`Log::recovery_report`] says what recovery
    /// did.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        let backend = open_backend(config.io_backend)
            .map_err(|e| Error::io("set up io backend for", dir.as_ref(), e))?;
        Self::open_with_backend(dir, config, backend)
    }

    /// Opens the log with a given backend, so many logs can share one (a broker) or a test can
    /// inject faults.
    pub fn open_with_backend(
        dir: impl AsRef<Path>,
        config: LogConfig,
        backend: Arc<dyn IoBackend>,
    ) -> Result<Log> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let (state, report) = recovery::recover(&dir, &config, &backend)?;
        state.check_invariants();
        tracing::info!(
            dir = %dir.display(),
            io_backend = backend.name(),
            log_start_offset = state.log_start_offset.0,
            log_end_offset = state.log_end_offset().0,
            clean = report.clean_shutdown,
            "log opened"
        );
        Ok(Log {
            dir,
            config,
            backend,
            state: RwLock::new(state),
            flush_gate: flush::FlushGate::default(),
            report,
            _lock: lock,
        })
    }

    /// Makes everything durable, writes the checkpoints and the clean-shutdown marker, so the
    /// next open skips recovery. Dropping a log without closing it is a crash as far as the
    /// next open can tell.
    pub fn close(self) -> Result<()> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        let leo = state.log_end_offset();
        state.active_mut().trim_preallocation()?;
        state.active_mut().seal();
        state.active_mut().write_indexes(self.backend.as_ref())?;
        for segment in state.segments.values_mut() {
            flush::sync_segment(self.backend.as_ref(), segment)?;
        }
        state.recovery_point = leo;
        self.write_checkpoints(&mut state)?;
        checkpoint::write_epochs(&self.dir, state.epochs.entries())?;
        // The producers as of the log end: the next open replays nothing to know them.
        producer_state::write_snapshot(&self.dir, &state.producers, leo)?;
        let marker = format!("ringlog clean shutdown 1\nlog_end_offset {leo}\n");
        checkpoint::write_atomic(&self.dir.join(CLEAN_SHUTDOWN_FILE), marker.as_bytes())?;
        tracing::info!(dir = %self.dir.display(), log_end_offset = leo.0, "log closed");
        Ok(())
    }

    /// What the open found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The name of the IO backend in use (`uring`, `portable`, ...).
    pub fn io_backend_name(&self) -> &str {
        self.backend.name()
    }

    pub fn log_start_offset(&self) -> Offset {
        self.read_state().log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> Offset {
        self.read_state().log_end_offset()
    }

    /// Everything below this offset is durable (the recovery point).
    pub fn flushed_offset(&self) -> Offset {
        self.read_state().recovery_point
    }

    /// Everything below this offset is written: in the page cache, where it survives a crash of
    /// this process (not of the machine). Appends may run ahead of it by up to
    /// `write_buffer_bytes` plus the writes in flight.
    pub fn written_offset(&self) -> Offset {
        self.read_state().written_offset
    }

    /// Writes out everything appended so far (no sync); returns the written offset.
    pub fn write_out(&self) -> Result<Offset> {
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)?;
        Ok(state.written_offset)
    }

    /// Drains the write pipeline when a read up to `upper` would reach unwritten bytes.
    fn ensure_written(&self, upper: Offset) -> Result<()> {
        {
            let state = self.read_state();
            if state.written_offset >= upper.min(state.log_end_offset()) {
                return Ok(());
            }
        }
        let mut state = self.write_state();
        self.check_writable(&state)?;
        state.drain_writes(&self.dir)
    }

    pub fn high_watermark(&self) -> Offset {
        self.read_state().high_watermark
    }

    /// Sets the high watermark (the replication layer owns it), clamped to the log's range;
    /// returns the value kept. It reaches its checkpoint file with the next checkpoint.
    pub fn set_high_watermark(&self, high_watermark: Offset) -> Offset {
        let mut state = self.write_state();
        let hw = high_watermark.clamp(state.log_start_offset, state.log_end_offset());
        state.high_watermark = hw;
        hw
    }

    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.read_state().epochs.latest_epoch()
    }

    /// The leader-epoch cache's entries (epoch → start offset).
    pub fn epoch_entries(&self) -> Vec<EpochEntry> {
        self.read_state().epochs.entries().to_vec()
    }

    /// Kafka's OffsetsForLeaderEpoch: the largest epoch at or below `epoch` and the offset where
    /// it ended (the log end offset for the latest epoch). Followers truncate to it.
    pub fn end_offset_for_epoch(&self, epoch: LeaderEpoch) -> Option<(LeaderEpoch, Offset)> {
        let state = self.read_state();
        state
            .epochs
            .end_offset_for_epoch(epoch, state.log_end_offset())
    }

    /// The leader epoch that wrote `offset` (the epoch of its batch), from the leader-epoch
    /// cache; `None` when the cache has no epoch that covers it.
    pub fn epoch_for_offset(&self, offset: Offset) -> Option<LeaderEpoch> {
        self.read_state().epochs.epoch_for_offset(offset)
    }

    /// What the log knows of the idempotent producer `producer_id`: its epoch and last
    /// batches' sequences and offsets.
    pub fn producer(&self, producer_id: i64) -> Option<ProducerEntry> {
        self.read_state().producers.get(producer_id).cloned()
    }

    /// How many idempotent producers the log knows.
    pub fn producer_count(&self) -> usize {
        self.read_state().producers.len()
    }

    /// Forgets the producers whose last batch is older than `expiration` at `now` (Kafka's
    /// `producer.id.expiration.ms`): their next batch must start a new sequence. Returns how
    /// many were forgotten.
    pub fn expire_producers(
        &self,
        now: crate::types::Timestamp,
        expiration: std::time::Duration,
    ) -> usize {
        let expiration_ms = i64::try_from(expiration.as_millis()).unwrap_or(i64::MAX);
        self.write_state().producers.expire(now.0, expiration_ms)
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.read_state().size_bytes()
    }

    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.read_state()
            .segments
            .values()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                size: s.size,
                path: s.log_path(),
            })
            .collect()
    }

    /// Periodic work, for the owner to call every so often (a broker does it once a second):
    /// the interval flush when due, and the offset checkpoints when any of them moved and
    /// `recovery_checkpoint_interval` has passed since they were last written.
    pub fn tick(&self) -> Result<()> {
        if !self.read_state().writer.is_idle() {
            self.write_out()?;
        }
        if let crate::FlushPolicy::Interval(interval) = self.config.flush
            && self.read_state().last_flush.elapsed() >= interval
        {
            self.flush()?;
        }
        let due = {
            let state = self.read_state();
            state.checkpointed != state.checkpoint_values()
                && state.last_checkpoint.elapsed() >= self.config.recovery_checkpoint_interval
        };
        if due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes the recovery point, log start offset and high watermark checkpoints now.
    pub fn checkpoint(&self) -> Result<()> {
        let mut state = self.write_state();
        self.write_checkpoints(&mut state)
    }

    /// Panics unless the log's invariants hold (see the module docs).
    pub fn check_invariants(&self) {
        self.read_state().check_invariants();
    }

    fn write_checkpoints(&self, state: &mut State) -> Result<()> {
        checkpoint::write_offset(
            &self.dir,
            checkpoint::RECOVERY_POINT_FILE,
            state.recovery_point,
        )?;
        checkpoint::write_offset(
            &self.dir,
            checkpoint::LOG_START_OFFSET_FILE,
            state.log_start_offset,
        )?;
        checkpoint::write_offset(
            &self.dir,
            checkpoint::HIGH_WATERMARK_FILE,
            state.high_watermark,
        )?;
        state.checkpointed = state.checkpoint_values();
        state.last_checkpoint = Instant::now();
        Ok(())
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock is a bug that already took the process down with it
        // in debug builds; carry on with the state as it is rather than panic again.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn check_writable(&self, state: &State) -> Result<()> {
        match &state.poisoned {
            Some(cause) => Err(Error::Poisoned {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn debug_check(&self, state: &State) {
        if cfg!(debug_assertions) {
            state.check_invariants();
        }
    }
}

impl Drop for Log {
    /// Writes out what the pipeline still holds (best effort: a log dropped without `close()` is
    /// a crash as far as recovery can tell, but a process that goes on should not lose appends).
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.poisoned.is_none() {
            let _ = state.drain_writes(&self.dir);
        }
    }
}

/// Takes the directory's lock file, refusing a second opener.
/// Takes the lock file ([`LOCK_FILE`]) of `dir`, creating it, with a non-blocking exclusive
/// `flock`: held while the returned file is open, it fails with [`Error::Locked`] while another
/// holder has it. A log holds its directory's; a broker holds its data dir's and the
/// controller its metadata dir's, so two processes never write the same files.
pub fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
    }
}

/// fsyncs a directory, so file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}
