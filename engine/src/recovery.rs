//! Opening a log directory: what is on disk becomes a [`State`](crate::log) the log can trust.
//!
//! - **Clean shutdown** (the `.clean-shutdown` marker, written by `close()`): no scan. Indexes
//!   are loaded and spot-checked, and only the active segment's tail past its last index entry
//!   is read to find the log end offset, which must match the one the marker recorded.
//! - **Otherwise**: every segment from the one holding the recovery point on is read in full and
//!   every batch validated (header, CRC, offsets continuing, epochs not going back), rebuilding
//!   that segment's indexes. At the first bad batch: if it lies at or past the recovery point it
//!   is a torn or unsynced tail, and the log is cut there (reported: file, position, bytes);
//!   before the recovery point the data was synced, so damage there is an error naming the file
//!   and position and nothing is cut. Segments before the recovery point keep their indexes when
//!   they pass the checks and are rebuilt (validating every batch) when not.
//! - Checkpoint files that fail their checksum are reported and replaced by safe values: a
//!   recovery point of the log start (scan everything), a leader-epoch cache rebuilt from the
//!   batches, the first segment's base offset as log start, a high watermark of the log start.
//!   None of these drops data.
//!
//! The marker is removed before anything else happens, so a crash from then on is unclean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint;
use crate::config::LogConfig;
use crate::epoch_cache::LeaderEpochCache;
use crate::error::{Error, Result};
use crate::format::producer::ProducerStates;
use crate::format::{BatchHeader, HEADER_LEN, batch};
use crate::io::{IoBackend, read_exact_at};
use crate::log::{CLEAN_SHUTDOWN_FILE, State, sync_dir};
use crate::segment::{self, LOG_SUFFIX, Segment, offset_index, time_index};
use crate::types::{FilePos, LeaderEpoch, Offset};

/// How much of a segment recovery reads at a time.
const SCAN_CHUNK: usize = 1 << 20;
/// Batches written under an older `max_batch_bytes` are still valid: recovery only refuses
/// lengths no writer could have produced.
const SCAN_BATCH_MAX: u32 = i32::MAX as u32;

/// What opening the log found and did.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The log was closed cleanly and no scan was needed.
    pub clean_shutdown: bool,
    pub segments: usize,
    pub segments_scanned: usize,
    pub batches_scanned: u64,
    pub bytes_scanned: u64,
    /// Tails cut because they were torn or corrupt past the recovery point.
    pub truncations: Vec<TailCut>,
    /// Index files rebuilt from their segment.
    pub indexes_rebuilt: Vec<PathBuf>,
    /// Anything odd that was repaired without losing data (a bad checkpoint, orphan files).
    pub warnings: Vec<String>,
    /// How the idempotent producers' states were rebuilt.
    pub producers: crate::producer_state::ProducerRebuild,
    pub elapsed: Duration,
}

/// A tail cut from a segment during recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailCut {
    pub file: PathBuf,
    pub position: FilePos,
    pub bytes: u64,
    pub reason: String,
}

/// Checkpoints as read, each `None` when missing or unreadable (the latter warned about).
struct Checkpoints {
    log_start: Option<Offset>,
    recovery_point: Option<Offset>,
    high_watermark: Option<Offset>,
    epochs: Option<LeaderEpochCache>,
}

struct Recovery<'a> {
    dir: &'a Path,
    config: &'a LogConfig,
    backend: &'a dyn IoBackend,
    report: RecoveryReport,
    segments: BTreeMap<Offset, Segment>,
    epochs: LeaderEpochCache,
    /// Whether `epochs` came from a valid checkpoint (else it is rebuilt from the batches).
    epochs_trusted: bool,
    /// The epoch of the last batch scanned, across segments.
    last_epoch: Option<i32>,
    /// Batches wholly below it are logically deleted: the epoch cache no longer covers them.
    log_start: Offset,
}

/// Opens every segment in `dir` and makes the log consistent; see the module docs.
pub(crate) fn recover(
    dir: &Path,
    config: &LogConfig,
    shared_backend: &Arc<dyn IoBackend>,
) -> Result<(State, RecoveryReport)> {
    let backend = shared_backend.as_ref();
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let bases = list_segments(dir, &mut report)?;
    let marker = take_clean_marker(dir, &mut report)?;
    let checkpoints = read_checkpoints(dir, &mut report);
    let mut segments = BTreeMap::new();
    for base in bases {
        segments.insert(base, Segment::open(dir, base)?);
    }
    report.segments = segments.len();
    let mut recovery = Recovery {
        dir,
        config,
        backend,
        report,
        segments,
        epochs_trusted: checkpoints.epochs.is_some(),
        epochs: checkpoints.epochs.clone().unwrap_or_default(),
        last_epoch: None,
        log_start: checkpoints.log_start.unwrap_or(Offset::ZERO),
    };
    let clean = match marker {
        Some(leo) if recovery.epochs_trusted => recovery.load_clean(leo)?,
        Some(_) => {
            recovery.report.warnings.push(
                "clean shutdown marker present, but the leader-epoch checkpoint is unreadable; recovering in full".into(),
            );
            false
        }
        None => false,
    };
    if !clean {
        let recovery_point = checkpoints
            .recovery_point
            .or(checkpoints.log_start)
            .unwrap_or(Offset::ZERO);
        recovery.recover_unclean(recovery_point)?;
    }
    let queue = crate::io::write_queue(shared_backend)
        .map_err(|e| Error::io("set up the write queue for", dir, e))?;
    let writer = crate::log::Writer::new(queue, config.write_buffer_bytes);
    let mut state = recovery.finish(&checkpoints, clean, writer)?;
    state.check_invariants();
    let mut report = recovery.report;
    let (producers, rebuild) = crate::producer_state::rebuild(dir, backend, &state)?;
    state.producers = producers;
    report.warnings.extend(rebuild.discarded.iter().cloned());
    report.producers = rebuild;
    report.clean_shutdown = clean;
    report.elapsed = started.elapsed();
    for cut in &report.truncations {
        tracing::warn!(file = %cut.file.display(), position = cut.position.0, bytes = cut.bytes, reason = %cut.reason, "recovery cut a torn tail");
    }
    for warning in &report.warnings {
        tracing::warn!(dir = %dir.display(), "{warning}");
    }
    state.last_flush = Instant::now();
    Ok((state, report))
}

/// The base offsets of the segments in `dir`. Index files without their `.log` are deleted
/// (left by a crash during segment deletion).
fn list_segments(dir: &Path, report: &mut RecoveryReport) -> Result<Vec<Offset>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let Some((base, suffix)) = name.to_str().and_then(segment::parse_file_name) else {
            continue;
        };
        if suffix == LOG_SUFFIX {
            logs.push(base);
        } else {
            indexes.push((base, entry.path()));
        }
    }
    logs.sort();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))?;
            report.warnings.push(format!(
                "deleted {} (no segment of that base offset)",
                path.display()
            ));
        }
    }
    Ok(logs)
}

/// Reads and removes the clean-shutdown marker; the log end offset it recorded, if valid.
fn take_clean_marker(dir: &Path, report: &mut RecoveryReport) -> Result<Option<Offset>> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    std::fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))?;
    sync_dir(dir)?;
    let leo = text
        .lines()
        .find_map(|l| l.strip_prefix("log_end_offset "))
        .and_then(|v| v.trim().parse().ok())
        .map(Offset);
    if leo.is_none() {
        report.warnings.push(format!(
            "{} is unreadable ({text:?}); recovering as after a crash",
            path.display()
        ));
    }
    Ok(leo)
}

fn read_checkpoints(dir: &Path, report: &mut RecoveryReport) -> Checkpoints {
    let mut offset = |file: &str, fallback: &str| match checkpoint::read_offset(dir, file) {
        Ok(v) => v,
        Err(e) => {
            report.warnings.push(format!("{e}; using {fallback}"));
            None
        }
    };
    let log_start = offset(
        checkpoint::LOG_START_OFFSET_FILE,
        "the first segment's base offset",
    );
    let recovery_point = offset(checkpoint::RECOVERY_POINT_FILE, "the log start (full scan)");
    let high_watermark = offset(checkpoint::HIGH_WATERMARK_FILE, "the log start");
    let epochs = match checkpoint::read_epochs(dir) {
        Ok(Some(entries)) => match LeaderEpochCache::from_entries(entries) {
            Ok(cache) => Some(cache),
            Err(reason) => {
                report.warnings.push(format!(
                    "checkpoint {}: {reason}; rebuilding from the batches",
                    dir.join(checkpoint::LEADER_EPOCH_FILE).display()
                ));
                None
            }
        },
        Ok(None) => Some(LeaderEpochCache::new()),
        Err(e) => {
            report
                .warnings
                .push(format!("{e}; rebuilding from the batches"));
            None
        }
    };
    Checkpoints {
        log_start,
        recovery_point,
        high_watermark,
        epochs,
    }
}

impl Recovery<'_> {
    /// The clean path: load every index, read only the active segment's tail. Returns false
    /// (with a warning) when anything does not add up, and the caller recovers in full.
    fn load_clean(&mut self, marker_leo: Offset) -> Result<bool> {
        let bases: Vec<Offset> = self.segments.keys().copied().collect();
        for (i, base) in bases.iter().enumerate() {
            let next = bases.get(i + 1).copied();
            let segment = self.segments.get_mut(base).expect("listed");
            let loaded = load_indexes(self.backend, segment, next).and_then(|()| match next {
                Some(_) => Ok(()),
                None => scan_tail(self.backend, segment, self.config.index_interval_bytes),
            });
            if let Err(reason) = loaded {
                self.report.warnings.push(format!(
                    "clean shutdown marker present, but {}: {reason}; recovering in full",
                    segment.log_path().display()
                ));
                return Ok(false);
            }
        }
        let leo = self.segments.values().next_back().map(|s| s.next_offset);
        if leo.is_some_and(|leo| leo != marker_leo) {
            self.report.warnings.push(format!(
                "clean shutdown marker says log end offset {marker_leo}, the log ends at {}; recovering in full",
                leo.unwrap_or_default()
            ));
            return Ok(false);
        }
        Ok(true)
    }

    /// The unclean path; see the module docs.
    fn recover_unclean(&mut self, recovery_point: Offset) -> Result<()> {
        let bases: Vec<Offset> = self.segments.keys().copied().collect();
        let Some(&first) = bases.first() else {
            return Ok(());
        };
        let scan_from = if self.epochs_trusted {
            self.segments
                .range(..=recovery_point)
                .next_back()
                .map_or(first, |(b, _)| *b)
        } else {
            first
        };
        let mut expected: Option<Offset> = None;
        for (i, &base) in bases.iter().enumerate() {
            if base < scan_from {
                self.load_or_rebuild(base, bases.get(i + 1).copied(), recovery_point)?;
                continue;
            }
            if let Some(expected) = expected
                && base != expected
            {
                let reason =
                    format!("segment starts at offset {base}, the previous one ends at {expected}");
                self.cut(&bases[i..], base, FilePos(0), reason, recovery_point)?;
                return Ok(());
            }
            match self.scan(base, i + 1 == bases.len())? {
                None => {
                    // Written since the last clean close: the crash may have left blocks
                    // reserved past its end, given back now unless it stays the active one.
                    let segment = self.segments.get_mut(&base).expect("listed");
                    segment.assume_reserved_past_end();
                    if i + 1 < bases.len() {
                        segment.trim_preallocation()?;
                    }
                    expected = Some(segment.next_offset);
                }
                Some((position, reason)) => {
                    self.cut(&bases[i..], base, position, reason, recovery_point)?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// A segment below the recovery point: keep its indexes if they check out, else rebuild
    /// them by a full, validating scan (any bad batch there is an error: the data was synced).
    fn load_or_rebuild(
        &mut self,
        base: Offset,
        next: Option<Offset>,
        recovery_point: Offset,
    ) -> Result<()> {
        let segment = self.segments.get_mut(&base).expect("listed");
        if let Err(reason) = load_indexes(self.backend, segment, next) {
            self.report.warnings.push(format!(
                "{}: {reason}; rebuilding its indexes",
                segment.index_path().display()
            ));
            if let Some((position, reason)) = self.scan(base, next.is_none())? {
                return Err(self.corrupt(base, position, reason, recovery_point));
            }
        }
        Ok(())
    }

    /// Reads all of segment `base`, validating every batch and rebuilding its indexes. Returns
    /// where the first bad batch is, and why; the segment then holds what came before it. A
    /// segment read whole that is not the `last` one gets its time index sealed, as at a roll:
    /// a later open takes a sealed segment's max timestamp from that last entry.
    fn scan(&mut self, base: Offset, last: bool) -> Result<Option<(FilePos, String)>> {
        let segment = self.segments.get_mut(&base).expect("listed");
        let file_len = segment.size;
        segment.reset_state();
        let mut scanner = Scanner::default();
        let mut result = None;
        while segment.size < file_len {
            let position = FilePos(segment.size);
            let batch = match scanner.next_batch(self.backend, segment, file_len) {
                Ok(b) => b,
                Err(reason) => {
                    result = Some((position, reason));
                    break;
                }
            };
            if let Err(reason) = check_continuity(&batch, segment.next_offset, self.last_epoch) {
                result = Some((position, reason));
                break;
            }
            let deleted = batch.last_offset() < self.log_start.as_i64();
            if !deleted
                && let Err(reason) = note_epoch(&mut self.epochs, self.epochs_trusted, &batch)
            {
                result = Some((position, reason));
                break;
            }
            if batch.partition_leader_epoch >= 0 {
                self.last_epoch = Some(batch.partition_leader_epoch);
            }
            segment.record_batch(&batch, position, self.config.index_interval_bytes);
            segment.size += batch.total_len() as u64;
            self.report.batches_scanned += 1;
            self.report.bytes_scanned += batch.total_len() as u64;
        }
        if result.is_none() && !last {
            segment.seal();
        }
        segment.rewrite_indexes(self.backend)?;
        self.report.segments_scanned += 1;
        self.report.indexes_rebuilt.push(segment.index_path());
        Ok(result)
    }

    /// Handles a bad batch at `position` of segment `base` (the first of `from`): an error when
    /// it lies before the recovery point, else the log is cut there and every later segment
    /// deleted.
    fn cut(
        &mut self,
        from: &[Offset],
        base: Offset,
        position: FilePos,
        reason: String,
        recovery_point: Offset,
    ) -> Result<()> {
        let segment = &self.segments[&base];
        if segment.next_offset < recovery_point {
            return Err(self.corrupt(base, position, reason, recovery_point));
        }
        for later in from.iter().skip(1).rev() {
            let doomed = self.segments.remove(later).expect("listed");
            let bytes = std::fs::metadata(doomed.log_path()).map_or(0, |m| m.len());
            self.report.truncations.push(TailCut {
                file: doomed.log_path(),
                position: FilePos(0),
                bytes,
                reason: format!(
                    "follows a cut at {} position {position}",
                    segment::file_name(base, LOG_SUFFIX)
                ),
            });
            doomed.delete_files()?;
        }
        let segment = self.segments.get_mut(&base).expect("listed");
        let file_len = std::fs::metadata(segment.log_path())
            .map_err(|e| Error::io("stat", segment.log_path(), e))?
            .len();
        segment.truncate_to(self.backend, position, self.config.index_interval_bytes)?;
        self.report.truncations.push(TailCut {
            file: segment.log_path(),
            position,
            bytes: file_len - position.0,
            reason,
        });
        sync_dir(self.dir)
    }

    fn corrupt(
        &self,
        base: Offset,
        position: FilePos,
        reason: String,
        recovery_point: Offset,
    ) -> Error {
        Error::CorruptLog {
            file: self.segments[&base].log_path(),
            position,
            reason: format!(
                "{reason} (below the recovery point {recovery_point}, so this data was synced: refusing to cut it)"
            ),
        }
    }

    /// Settles the log's offsets and builds its state.
    fn finish(
        &mut self,
        checkpoints: &Checkpoints,
        clean: bool,
        writer: crate::log::Writer,
    ) -> Result<State> {
        let first_base = self.segments.keys().next().copied();
        let mut log_start = checkpoints.log_start.or(first_base).unwrap_or(Offset::ZERO);
        if let Some(first) = first_base
            && log_start < first
        {
            self.report.warnings.push(format!(
                "log start offset checkpoint {log_start} is below the first segment {first}; using {first}"
            ));
            log_start = first;
        }
        let leo = self.segments.values().next_back().map(|s| s.next_offset);
        if leo.is_none_or(|leo| log_start > leo) {
            self.restart_empty(log_start)?;
        }
        self.drop_segments_below(log_start)?;
        let leo = self
            .segments
            .values()
            .next_back()
            .expect("at least one")
            .next_offset;
        let mut epochs_changed = !self.epochs_trusted;
        epochs_changed |= self.epochs.truncate_from_end(leo);
        epochs_changed |= self.epochs.drop_before(log_start);
        if epochs_changed {
            checkpoint::write_epochs(self.dir, self.epochs.entries())?;
        }
        for segment in self.segments.values_mut() {
            segment.written_size = segment.size;
            // After a crash nothing is known durable until synced here.
            segment.flushed_size = if clean { segment.size } else { 0 };
        }
        if !clean {
            for segment in self.segments.values_mut() {
                crate::log::sync_segment(self.backend, segment)?;
            }
            sync_dir(self.dir)?;
            checkpoint::write_offset(self.dir, checkpoint::RECOVERY_POINT_FILE, leo)?;
        }
        let high_watermark = checkpoints
            .high_watermark
            .unwrap_or(log_start)
            .clamp(log_start, leo);
        Ok(State {
            segments: std::mem::take(&mut self.segments),
            log_start_offset: log_start,
            recovery_point: leo,
            written_offset: leo,
            writer,
            high_watermark,
            epochs: std::mem::take(&mut self.epochs),
            poisoned: None,
            truncations: 0,
            last_flush: Instant::now(),
            checkpointed: (leo, log_start, high_watermark),
            last_checkpoint: Instant::now(),
            producers: ProducerStates::new(),
        })
    }

    /// No segment, or every batch lies below the log start offset: start afresh there.
    fn restart_empty(&mut self, log_start: Offset) -> Result<()> {
        if !self.segments.is_empty() {
            self.report.warnings.push(format!(
                "log start offset {log_start} is past every batch; starting empty there"
            ));
        }
        for (_, segment) in std::mem::take(&mut self.segments).into_iter().rev() {
            segment.delete_files()?;
        }
        self.segments
            .insert(log_start, Segment::create(self.dir, log_start)?);
        sync_dir(self.dir)
    }

    /// Deletes segments wholly below the log start (a crash between a retention checkpoint and
    /// the file deletions leaves them), always keeping the last.
    fn drop_segments_below(&mut self, log_start: Offset) -> Result<()> {
        let last = *self.segments.keys().next_back().expect("at least one");
        let doomed: Vec<Offset> = self
            .segments
            .values()
            .filter(|s| s.base_offset != last && s.next_offset <= log_start)
            .map(|s| s.base_offset)
            .collect();
        for base in doomed {
            self.segments
                .remove(&base)
                .expect("listed")
                .delete_files()?;
        }
        Ok(())
    }
}

/// Loads a segment's index files and checks them against the segment: entries in order, every
/// position inside the file, the last offset entry pointing at a batch with that base offset.
/// With `next` (the following segment's base), the segment is not the last: its next offset
/// and max timestamp come from there and its time index.
fn load_indexes(
    backend: &dyn IoBackend,
    segment: &mut Segment,
    next: Option<Offset>,
) -> Result<(), String> {
    if !segment.indexes_found {
        return Err("index files missing".into());
    }
    let entries = offset_index::decode(&read_all(segment.index_path())?)?;
    let times = time_index::decode(&read_all(segment.time_index_path())?)?;
    if let Some(bad) = entries
        .iter()
        .find(|e| u64::from(e.position) >= segment.size)
    {
        return Err(format!(
            "index entry position {} is past the end {}",
            bad.position, segment.size
        ));
    }
    if let Some(last) = entries.last() {
        let header = segment
            .read_header(backend, FilePos(u64::from(last.position)))
            .map_err(|e| e.to_string())?;
        let expected = segment.base_offset.0 + u64::from(last.relative_offset);
        if header.base_offset != expected as i64 {
            return Err(format!(
                "index entry for offset {expected} points at a batch of base offset {}",
                header.base_offset
            ));
        }
    }
    segment.offset_index = segment::OffsetIndex::from_entries(segment.base_offset, entries);
    segment.time_index = segment::TimeIndex::from_entries(segment.base_offset, times);
    segment.mark_indexes_loaded();
    let Some(next) = next else {
        return Ok(());
    };
    if let Some(bad) = segment
        .time_index
        .last()
        .filter(|t| segment.base_offset.0 + u64::from(t.relative_offset) >= next.0)
    {
        return Err(format!(
            "time index entry offset {} is past the segment end {next}",
            bad.relative_offset
        ));
    }
    if segment.size > 0 && segment.time_index.last().is_none() {
        return Err("the time index is empty for a non-empty segment".into());
    }
    if segment.size == 0 && next != segment.base_offset {
        return Err(format!("empty segment followed by one at {next}"));
    }
    segment.next_offset = next;
    segment.max_timestamp = segment.max_timestamp_in_time_index();
    Ok(())
}

/// The clean path's read of the active segment: from its last index entry to the end of the
/// file, validating every batch, to learn the next offset and max timestamp.
fn scan_tail(backend: &dyn IoBackend, segment: &mut Segment, interval: u32) -> Result<(), String> {
    let file_len = segment.size;
    let (start_offset, start_pos) = match segment.offset_index.entries().last() {
        Some(e) => (
            segment.base_offset.plus(u64::from(e.relative_offset)),
            u64::from(e.position),
        ),
        None => (segment.base_offset, 0),
    };
    segment.size = start_pos;
    segment.next_offset = start_offset;
    segment.max_timestamp = segment.max_timestamp_in_time_index();
    let mut scanner = Scanner::default();
    while segment.size < file_len {
        let position = FilePos(segment.size);
        let batch = scanner.next_batch(backend, segment, file_len)?;
        check_continuity(&batch, segment.next_offset, None)?;
        // Entries up to here came from the file; the scan starts at the last one with nothing
        // counted since it, so it adds entries only past it.
        segment.record_batch(&batch, position, interval);
        segment.size += batch.total_len() as u64;
    }
    Ok(())
}

fn read_all(path: PathBuf) -> Result<Vec<u8>, String> {
    match std::fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("missing".into()),
        Err(e) => Err(format!("unreadable: {e}")),
    }
}

fn check_continuity(
    batch: &BatchHeader,
    expected: Offset,
    last_epoch: Option<i32>,
) -> Result<(), String> {
    if batch.base_offset != expected.as_i64() {
        return Err(format!(
            "batch base offset {} where offset {expected} was expected",
            batch.base_offset
        ));
    }
    if let Some(last) = last_epoch
        && batch.partition_leader_epoch < last
    {
        return Err(format!(
            "leader epoch {} after a batch of epoch {last}",
            batch.partition_leader_epoch
        ));
    }
    Ok(())
}

/// Enters a scanned batch's epoch into the cache. With a trusted cache an epoch newer than its
/// latest cannot be genuine (the cache is written before any batch of a new epoch).
fn note_epoch(
    epochs: &mut LeaderEpochCache,
    trusted: bool,
    batch: &BatchHeader,
) -> Result<(), String> {
    if batch.partition_leader_epoch < 0 {
        return Ok(());
    }
    let epoch = LeaderEpoch(batch.partition_leader_epoch as u32);
    match epochs.latest_epoch() {
        Some(latest) if epoch <= latest => Ok(()),
        _ if trusted => Err(format!(
            "leader epoch {epoch} is newer than any in the leader-epoch checkpoint ({})",
            epochs
                .latest_epoch()
                .map_or("none".into(), |e| e.to_string())
        )),
        _ => {
            epochs.assign(epoch, Offset(batch.base_offset as u64));
            Ok(())
        }
    }
}

/// Reads a segment sequentially in large chunks and hands out validated batches.
#[derive(Default)]
struct Scanner {
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
}

impl Scanner {
    /// The batch at `segment.size`, validated (header, length, CRC), or why it is bad.
    fn next_batch(
        &mut self,
        backend: &dyn IoBackend,
        segment: &Segment,
        file_len: u64,
    ) -> Result<BatchHeader, String> {
        let position = segment.size;
        let available = file_len - position;
        let head = self.bytes(
            backend,
            segment,
            position,
            (HEADER_LEN as u64).min(available) as usize,
            file_len,
        )?;
        let Some(header) = BatchHeader::decode(head) else {
            return Err(format!(
                "truncated header: {available} bytes left, a header takes {HEADER_LEN}"
            ));
        };
        header.validate(SCAN_BATCH_MAX).map_err(|e| e.to_string())?;
        let len = header.total_len() as u64;
        if len > available {
            return Err(format!(
                "truncated batch: {len} bytes long, {available} left in the file"
            ));
        }
        let bytes = self.bytes(backend, segment, position, len as usize, file_len)?;
        batch::validate_batch(bytes, SCAN_BATCH_MAX).map_err(|e| e.to_string())
    }

    /// `len` bytes at file position `at`, reading ahead a chunk at a time, never past `end`
    /// (the file's length when the scan began).
    fn bytes(
        &mut self,
        backend: &dyn IoBackend,
        segment: &Segment,
        at: u64,
        len: usize,
        end: u64,
    ) -> Result<&[u8], String> {
        let buffered_end = self.buf_pos + self.buf.len() as u64;
        if at < self.buf_pos || at + len as u64 > buffered_end {
            let want = len.max(SCAN_CHUNK);
            let remaining = end.saturating_sub(at) as usize;
            let read = want.min(remaining).max(len);
            self.buf.resize(read, 0);
            self.buf_pos = at;
            read_exact_at(backend, segment.log_file(), at, &mut self.buf)
                .map_err(|e| format!("read failed: {e}"))?;
        }
        let from = (at - self.buf_pos) as usize;
        Ok(&self.buf[from..from + len])
    }
}
