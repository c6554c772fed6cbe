//! A log's idempotent producers on disk: snapshot files of its
//! [`ProducerStates`] and their rebuild on open.
//!
//! A snapshot `<offset>.snapshot` (20 digits, as Kafka names them; the layout is in
//! `docs/disk-format.md`) holds the states of every batch below `offset`. One is written when a
//! segment rolls (at the new segment's base) and when the log closes (at the log end), each
//! atomically. On open, the newest snapshot that is readable and not past the log end is
//! loaded and the batches after it replayed; a snapshot past the log end (its data was lost
//! with a torn tail) or damaged is deleted and an older one, or the whole log, used instead.
//! Truncation deletes the snapshots past the new end and rebuilds the same way; moving the
//! log start forgets what lies below it and deletes the snapshots older than the first
//! segment. So a snapshot is never trusted beyond what the log it describes still holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::producer::{ProducerBatch, ProducerStates};
use crate::io::IoBackend;
use crate::log::State;
use crate::segment;
use crate::types::{FilePos, Offset};

/// The suffix of a producer-state snapshot file.
pub const SNAPSHOT_SUFFIX: &str = "snapshot";

/// The path of the snapshot covering the offsets below `covered`.
pub fn snapshot_path(dir: &Path, covered: Offset) -> PathBuf {
    dir.join(segment::file_name(covered, SNAPSHOT_SUFFIX))
}

/// The snapshot files in `dir`, by the offset each covers.
pub fn list_snapshots(dir: &Path) -> Result<BTreeMap<Offset, PathBuf>> {
    let mut found = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        if suffix != SNAPSHOT_SUFFIX || stem.len() != 20 {
            continue;
        }
        if let Ok(covered) = stem.parse() {
            found.insert(Offset(covered), entry.path());
        }
    }
    Ok(found)
}

/// Writes the snapshot of `states` as of `covered`: to a temporary file renamed into place, so
/// a reader sees a whole snapshot or none. Not synced: a snapshot only saves a replay, and one
/// a power loss damaged fails its CRC on open and is rebuilt from the log, so a roll does not
/// pay an fsync for it.
pub(crate) fn write_snapshot(dir: &Path, states: &ProducerStates, covered: Offset) -> Result<()> {
    let path = snapshot_path(dir, covered);
    let tmp = path.with_extension("snapshot.tmp");
    std::fs::write(&tmp, states.encode_snapshot(covered))
        .map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &tmp, e))
}

/// Deletes every snapshot (the log restarts empty).
pub(crate) fn delete_all_snapshots(dir: &Path) -> Result<()> {
    for path in list_snapshots(dir)?.into_values() {
        std::fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))?;
    }
    Ok(())
}

/// Deletes the snapshots covering less than `from` (older than the first segment) or more
/// than `to` (past the log end). Returns their paths.
pub(crate) fn delete_snapshots_outside(
    dir: &Path,
    from: Offset,
    to: Offset,
) -> Result<Vec<PathBuf>> {
    let mut deleted = Vec::new();
    for (covered, path) in list_snapshots(dir)? {
        if covered < from || covered > to {
            std::fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))?;
            deleted.push(path);
        }
    }
    Ok(deleted)
}

/// How the producer states of a log were rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerRebuild {
    /// The snapshot loaded, by the offset it covers; `None` when the log was replayed whole.
    pub snapshot: Option<Offset>,
    /// Batches replayed after it.
    pub batches_replayed: u64,
    /// Snapshots deleted: past the log end, or unreadable (with why).
    pub discarded: Vec<String>,
}

/// The producer states of the log `state` describes: the newest usable snapshot, then every
/// batch after it (module docs). Snapshots that cannot be used are deleted.
pub(crate) fn rebuild(
    dir: &Path,
    backend: &dyn IoBackend,
    state: &State,
) -> Result<(ProducerStates, ProducerRebuild)> {
    let log_start = state.log_start_offset;
    let log_end = state.log_end_offset();
    let mut rebuild = ProducerRebuild::default();
    let mut loaded = None;
    for (covered, path) in list_snapshots(dir)?.into_iter().rev() {
        let problem = if covered > log_end {
            Some(format!(
                "covers up to {covered}, past the log end {log_end}"
            ))
        } else if loaded.is_some() {
            None
        } else {
            match std::fs::read(&path) {
                Ok(bytes) => match ProducerStates::decode_snapshot(&bytes) {
                    Ok((states, at)) if at == covered => {
                        loaded = Some((states, covered));
                        None
                    }
                    Ok((_, at)) => Some(format!("names offset {at}, not its file's {covered}")),
                    Err(error) => Some(error.to_string()),
                },
                Err(error) => Some(format!("unreadable: {error}")),
            }
        };
        if let Some(problem) = problem {
            std::fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))?;
            rebuild
                .discarded
                .push(format!("deleted {}: {problem}", path.display()));
        }
    }
    let (mut states, from) = match loaded {
        Some((states, covered)) => {
            rebuild.snapshot = Some(covered);
            (states, covered.max(log_start))
        }
        None => (ProducerStates::new(), log_start),
    };
    rebuild.batches_replayed = replay(backend, state, from, &mut states)?;
    states.forget_below(log_start);
    Ok((states, rebuild))
}

/// Applies every idempotent data batch of the log from `from` to its end; returns how many
/// batches were read.
fn replay(
    backend: &dyn IoBackend,
    state: &State,
    from: Offset,
    states: &mut ProducerStates,
) -> Result<u64> {
    let mut batches = 0;
    let first_base = state
        .segments
        .range(..=from)
        .next_back()
        .map_or(from, |(base, _)| *base);
    for segment in state.segments.range(first_base..).map(|(_, s)| s) {
        if segment.next_offset <= from {
            continue;
        }
        let start = if segment.base_offset < from {
            match segment.find_batch(backend, from)? {
                Some(found) => found.position,
                None => continue,
            }
        } else {
            FilePos(0)
        };
        segment.scan_headers(backend, start, |b| {
            batches += 1;
            let header = &b.header;
            if header.last_offset() >= from.as_i64()
                && !crate::format::producer::is_control(header)
                && let Some(batch) = ProducerBatch::of(header)
            {
                states.apply(
                    &batch,
                    Offset(header.base_offset as u64),
                    Offset(header.last_offset() as u64),
                );
            }
            true
        })?;
    }
    Ok(batches)
}
