//! Group commit. Whoever needs durability and finds no sync in flight becomes the flusher: it
//! snapshots every file with unsynced bytes (under the read lock), syncs them with no lock held,
//! then records the new recovery point. Appenders that arrive meanwhile keep writing; when the
//! sync ends, those it did not cover elect the next flusher, so N concurrent appenders pay for
//! far fewer than N fdatasyncs.

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::IoBackend;
use crate::segment::Segment;
use crate::types::Offset;

use super::Log;

/// Who is flushing: one flusher at a time, the rest wait for its round to end.
#[derive(Debug, Default)]
pub(crate) struct FlushGate {
    state: Mutex<GateState>,
    round_done: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    in_progress: bool,
    rounds: u64,
}

/// One file to sync, and what syncing it proves.
struct SyncItem {
    base_offset: Offset,
    file: Arc<File>,
    what: SyncWhat,
}

enum SyncWhat {
    /// The segment's data up to this size.
    Data(u64),
    Index,
    TimeIndex,
}

impl Log {
    /// Makes everything appended so far durable; returns the flushed offset.
    pub fn flush(&self) -> Result<Offset> {
        let (target, truncations) = {
            let state = self.read_state();
            (state.log_end_offset(), state.truncations)
        };
        self.wait_durable(target, truncations)?;
        Ok(self.flushed_offset())
    }

    /// Blocks until everything below `target` is durable, sharing syncs with concurrent callers.
    /// `truncations` is the state's truncation count when the caller's data was written.
    pub(crate) fn wait_durable(&self, target: Offset, truncations: u64) -> Result<()> {
        loop {
            {
                let state = self.read_state();
                self.check_writable(&state)?;
                if state.recovery_point >= target {
                    return Ok(());
                }
                let leo = state.log_end_offset();
                if state.truncations != truncations && target > leo {
                    return Err(Error::TruncatedBeforeDurable {
                        offset: target,
                        log_end_offset: leo,
                    });
                }
            }
            let mut gate = self
                .flush_gate
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if gate.in_progress {
                let round = gate.rounds;
                while gate.in_progress && gate.rounds == round {
                    gate = self
                        .flush_gate
                        .round_done
                        .wait(gate)
                        .unwrap_or_else(|e| e.into_inner());
                }
                continue;
            }
            gate.in_progress = true;
            drop(gate);
            let result = self.sync_dirty();
            let mut gate = self
                .flush_gate
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            gate.in_progress = false;
            gate.rounds += 1;
            self.flush_gate.round_done.notify_all();
            drop(gate);
            result?;
        }
    }

    /// One flush round: syncs what is dirty now and advances the recovery point over it.
    fn sync_dirty(&self) -> Result<()> {
        self.write_state().drain_writes(&self.dir)?;
        let (items, upto, truncations) = {
            let state = self.read_state();
            let active = state.active().base_offset;
            let mut items = Vec::new();
            for segment in state.segments.values() {
                dirty_items(segment, segment.base_offset != active, &mut items);
            }
            (items, state.written_offset, state.truncations)
        };
        for item in &items {
            if let Err(e) = self.backend.sync_data(&item.file) {
                let path = self
                    .dir
                    .join(crate::segment::file_name(item.base_offset, "log"));
                let mut state = self.write_state();
                // The kernel may have dropped the dirty pages it failed to write: retrying
                // would report success over lost data (the fsync-gate lesson).
                state.poisoned = Some(format!("fdatasync of {} failed: {e}", path.display()));
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed, log poisoned");
                return Err(Error::io("fsync", path, e));
            }
        }
        let mut state = self.write_state();
        state.last_flush = Instant::now();
        if state.truncations != truncations {
            // The log moved back while syncing: what was synced may no longer be what is there.
            return Ok(());
        }
        for item in items {
            if let Some(segment) = state.segments.get_mut(&item.base_offset) {
                match item.what {
                    SyncWhat::Data(size) => segment.flushed_size = segment.flushed_size.max(size),
                    SyncWhat::Index | SyncWhat::TimeIndex => segment.mark_indexes_synced(),
                }
            }
        }
        state.recovery_point = state.recovery_point.max(upto);
        self.debug_check(&state);
        Ok(())
    }
}

/// The files of `segment` with unsynced bytes. Index files count only once the segment is
/// sealed: the active segment's indexes are rebuilt by recovery anyway.
fn dirty_items(segment: &Segment, sealed: bool, out: &mut Vec<SyncItem>) {
    if segment.flushed_size < segment.written_size {
        out.push(SyncItem {
            base_offset: segment.base_offset,
            file: segment.log_file().clone(),
            what: SyncWhat::Data(segment.written_size),
        });
    }
    if sealed && segment.indexes_dirty() {
        out.push(SyncItem {
            base_offset: segment.base_offset,
            file: segment.index_file().clone(),
            what: SyncWhat::Index,
        });
        out.push(SyncItem {
            base_offset: segment.base_offset,
            file: segment.time_index_file().clone(),
            what: SyncWhat::TimeIndex,
        });
    }
}

/// Syncs all of one segment (data and index files) right now, under the caller's lock (its
/// writes already drained): close and recovery use it.
pub(crate) fn sync_segment(backend: &dyn IoBackend, segment: &mut Segment) -> Result<()> {
    let mut items = Vec::new();
    dirty_items(segment, true, &mut items);
    for item in items {
        backend
            .sync_data(&item.file)
            .map_err(|e| Error::io("fsync", segment.log_path(), e))?;
    }
    segment.flushed_size = segment.written_size;
    segment.mark_indexes_synced();
    Ok(())
}
