//! Reads. [`Log::read`] answers with file slices ending on batch boundaries, for the server to
//! send with sendfile/splice without copying; [`Log::read_bytes`] copies them out and validates
//! every batch on the way back in. [`Log::offset_for_timestamp`] and
//! [`Log::max_timestamp_offset`] serve ListOffsets.

use std::fs::File;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{BatchIter, BatchRecords};
use crate::io::read_exact_at;
use crate::segment::{BatchPos, Segment};
use crate::types::{FilePos, Offset, Timestamp};

use super::{Log, State};

/// A run of whole batches in one segment file.
#[derive(Clone, Debug)]
pub struct FileSlice {
    /// The segment's `.log`, kept open for as long as the slice lives (even if the segment is
    /// deleted meanwhile).
    pub file: Arc<File>,
    pub position: FilePos,
    pub len: u64,
}

/// The answer to a read: slices in offset order.
#[derive(Clone, Debug, Default)]
pub struct ReadSlices {
    pub slices: Vec<FileSlice>,
    /// The base offset of the first batch (at or before the offset asked for).
    pub first_offset: Offset,
    /// The offset after the last batch returned: where the next read continues. Equal to the
    /// offset asked for when nothing was returned.
    pub next_offset: Offset,
    pub bytes: u64,
    pub batch_count: usize,
}

impl ReadSlices {
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }
}

/// A read copied into memory: whole batches back to back, each validated.
#[derive(Clone, Debug, Default)]
pub struct ReadBytes {
    pub bytes: Vec<u8>,
    pub first_offset: Offset,
    pub next_offset: Offset,
    pub batch_count: usize,
}

/// The most bytes one batch's records may decompress to in a lookup by timestamp: a batch is
/// at most `max_batch_bytes` (1 MiB by default) compressed, and a batch that inflates past this
/// is answered from its header instead of held in memory.
const RECORDS_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// The answer to a lookup by timestamp: a record's offset and timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub offset: Offset,
    pub timestamp: Timestamp,
}

impl Log {
    /// Batches from the one holding `offset` on, as file slices: at most `max_bytes` in all,
    /// except that the first batch is returned whole even when larger, so a reader always
    /// progresses. Only batches that lie wholly below `upper_bound` (the high watermark for
    /// consumers, the log end offset for followers) are returned. `offset` must lie within
    /// `log_start_offset..=log_end_offset`, else [`Error::OffsetOutOfRange`].
    pub fn read(&self, offset: Offset, max_bytes: u64, upper_bound: Offset) -> Result<ReadSlices> {
        self.ensure_written(upper_bound)?;
        let state = self.read_state();
        self.check_in_range(&state, offset)?;
        // Appends that came after `ensure_written` may still be in the write pipeline: the read
        // answers from what is written, which covers everything below `upper_bound` at the call.
        let upper = upper_bound.min(state.written_offset);
        let mut out = ReadSlices {
            first_offset: offset,
            next_offset: offset,
            ..ReadSlices::default()
        };
        if offset >= upper {
            return Ok(out);
        }
        let first_base = state
            .segments
            .range(..=offset)
            .next_back()
            .map_or(state.log_start_offset, |(base, _)| *base);
        for segment in state.segments.range(first_base..).map(|(_, s)| s) {
            let start = if segment.base_offset == first_base {
                match segment.find_batch(self.backend.as_ref(), offset)? {
                    Some(b) => b.position,
                    None => continue,
                }
            } else {
                FilePos(0)
            };
            if !self.collect(segment, start, max_bytes, upper, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    /// Adds the batches of `segment` from `start` to `out` until the byte budget or the upper
    /// bound stops it; returns whether the next segment may add more.
    fn collect(
        &self,
        segment: &Segment,
        start: FilePos,
        max_bytes: u64,
        upper: Offset,
        out: &mut ReadSlices,
    ) -> Result<bool> {
        let mut more = true;
        let mut end = start;
        segment.scan_headers(self.backend.as_ref(), start, |b| {
            let len = b.header.total_len() as u64;
            let fits = out.bytes == 0 || out.bytes + len <= max_bytes;
            if b.header.last_offset() >= upper.as_i64() || !fits {
                more = false;
                return false;
            }
            if out.batch_count == 0 {
                out.first_offset = Offset(b.header.base_offset as u64);
            }
            out.bytes += len;
            out.batch_count += 1;
            out.next_offset = Offset(b.header.next_offset() as u64);
            end = FilePos(b.position.0 + len);
            true
        })?;
        if end > start {
            out.slices.push(FileSlice {
                file: segment.log_file().clone(),
                position: start,
                len: end.0 - start.0,
            });
        }
        Ok(more)
    }

    /// Like [`read`](Self::read), copying the batches into memory and validating each (CRC
    /// included): a batch that fails is [`Error::CorruptLog`] naming the file and position.
    pub fn read_bytes(
        &self,
        offset: Offset,
        max_bytes: u64,
        upper_bound: Offset,
    ) -> Result<ReadBytes> {
        let slices = self.read(offset, max_bytes, upper_bound)?;
        let mut bytes = vec![0u8; slices.bytes as usize];
        let mut at = 0usize;
        for slice in &slices.slices {
            let len = slice.len as usize;
            read_exact_at(
                self.backend.as_ref(),
                &slice.file,
                slice.position.0,
                &mut bytes[at..at + len],
            )
            .map_err(|e| Error::io("read", self.dir.clone(), e))?;
            let mut iter = BatchIter::new(&bytes[at..at + len], u32::MAX);
            while let Some(item) = iter.next() {
                if let Err(e) = item {
                    return Err(self.corrupt_at(slice, iter.position(), e.to_string()));
                }
            }
            at += len;
        }
        Ok(ReadBytes {
            bytes,
            first_offset: slices.first_offset,
            next_offset: slices.next_offset,
            batch_count: slices.batch_count,
        })
    }

    /// The first record whose timestamp is at or after `target`, at or after the log start
    /// offset; `None` when every record is older. Records in compressed batches are read
    /// decompressed; a batch whose records cannot be read (a codec the engine does not read,
    /// or more than 64 MiB decompressed) answers with its base offset and max
    /// timestamp.
    pub fn offset_for_timestamp(&self, target: Timestamp) -> Result<Option<TimestampOffset>> {
        self.ensure_written(Offset(u64::MAX))?;
        let state = self.read_state();
        let floor = state.log_start_offset;
        let mut from = floor;
        // Each round moves `from` past one batch, so the loop ends with the log.
        loop {
            let Some((segment, batch)) = self.first_batch_reaching(&state, target, from)? else {
                return Ok(None);
            };
            let Some(records) = self.records_of(segment, &batch)? else {
                return Ok(Some(whole_batch(&batch, floor)));
            };
            let found = records
                .into_iter()
                .find(|&(offset, timestamp)| offset >= floor.as_i64() && timestamp >= target.0);
            if let Some((offset, timestamp)) = found {
                return Ok(Some(TimestampOffset {
                    offset: Offset(offset as u64),
                    timestamp: Timestamp(timestamp),
                }));
            }
            // The batch reached `target` only with records below the log start (or its
            // header's max is not its records'): look on after it.
            from = Offset(batch.header.next_offset() as u64);
        }
    }

    /// The first batch holding offsets at or after `from` whose max timestamp reaches
    /// `target`, and its segment.
    fn first_batch_reaching<'s>(
        &self,
        state: &'s State,
        target: Timestamp,
        from: Offset,
    ) -> Result<Option<(&'s Segment, BatchPos)>> {
        let backend = self.backend.as_ref();
        let reaching = state.segments.values().filter(|s| {
            s.next_offset > from && s.max_timestamp.is_some_and(|(max, _)| max >= target)
        });
        for segment in reaching {
            let start_offset = segment.time_index.lookup(target).max(from);
            let Some(start) = segment.find_batch(backend, start_offset)? else {
                continue;
            };
            let mut found = None;
            segment.scan_headers(backend, start.position, |b| {
                if b.header.max_timestamp >= target.0 {
                    found = Some(b);
                    return false;
                }
                true
            })?;
            if let Some(batch) = found {
                return Ok(Some((segment, batch)));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp at or after the log start offset (the first such
    /// record when several share it, as Kafka answers ListOffsets' max timestamp, KIP-734);
    /// `None` for a log with no record. A batch whose records cannot be read answers with its
    /// base offset and max timestamp, as [`Self::offset_for_timestamp`] does.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        self.ensure_written(Offset(u64::MAX))?;
        let state = self.read_state();
        let floor = state.log_start_offset;
        let mut best: Option<(Timestamp, &Segment, BatchPos)> = None;
        for segment in state.segments.values() {
            let Some((timestamp, batch)) = self.segment_max_timestamp(segment, floor)? else {
                continue;
            };
            // Strictly larger: on a tie the earlier record stays.
            if best.as_ref().is_none_or(|(max, _, _)| timestamp > *max) {
                best = Some((timestamp, segment, batch));
            }
        }
        let Some((max, segment, batch)) = best else {
            return Ok(None);
        };
        let record = self.first_record(segment, &batch, floor, |ts| ts == max.0)?;
        Ok(Some(record.unwrap_or_else(|| whole_batch(&batch, floor))))
    }

    /// The largest timestamp of `segment`'s records at or after `floor` (the log start
    /// offset) and the first batch holding it. A segment wholly at or after `floor` answers
    /// from what it tracks; the one `floor` falls in is scanned, since the records below
    /// `floor` that may hold its max are gone for readers.
    fn segment_max_timestamp(
        &self,
        segment: &Segment,
        floor: Offset,
    ) -> Result<Option<(Timestamp, BatchPos)>> {
        let backend = self.backend.as_ref();
        if segment.next_offset <= floor {
            return Ok(None);
        }
        if segment.base_offset >= floor {
            let Some((max, base)) = segment.max_timestamp else {
                return Ok(None);
            };
            let batch = segment
                .find_batch(backend, base)?
                .expect("a segment's max timestamp is of one of its batches");
            return Ok(Some((max, batch)));
        }
        let Some(first) = segment.find_batch(backend, floor)? else {
            return Ok(None);
        };
        // The batch `floor` falls in counts with its records still readable only; one whose
        // records cannot be read counts with its header's max.
        let straddles = first.header.base_offset < floor.as_i64();
        let mut best: Option<(i64, BatchPos)> = None;
        if straddles {
            let readable_max = match self.records_of(segment, &first)? {
                Some(records) => records
                    .iter()
                    .filter(|(offset, _)| *offset >= floor.as_i64())
                    .map(|(_, timestamp)| *timestamp)
                    .max(),
                None => Some(first.header.max_timestamp),
            };
            best = readable_max.map(|max| (max, first));
        }
        segment.scan_headers(backend, first.position, |b| {
            let counted = straddles && b.position == first.position;
            if !counted
                && best
                    .as_ref()
                    .is_none_or(|(max, _)| b.header.max_timestamp > *max)
            {
                best = Some((b.header.max_timestamp, b));
            }
            true
        })?;
        let Some((max, batch)) = best else {
            return Ok(None);
        };
        Ok(Some((Timestamp(max), batch)))
    }

    /// The first record of `batch` at or after `floor` whose timestamp satisfies `wanted`;
    /// `None` when the batch's records cannot be read or none does.
    fn first_record(
        &self,
        segment: &Segment,
        batch: &BatchPos,
        floor: Offset,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<Option<TimestampOffset>> {
        let Some(records) = self.records_of(segment, batch)? else {
            return Ok(None);
        };
        Ok(records
            .into_iter()
            .find(|&(offset, timestamp)| offset >= floor.as_i64() && wanted(timestamp))
            .map(|(offset, timestamp)| TimestampOffset {
                offset: Offset(offset as u64),
                timestamp: Timestamp(timestamp),
            }))
    }

    /// The (offset, timestamp) of every record of `batch`, read from `segment` and
    /// decompressed; `None` when they cannot be read here.
    fn records_of(&self, segment: &Segment, batch: &BatchPos) -> Result<Option<Vec<(i64, i64)>>> {
        let mut bytes = vec![0u8; batch.header.total_len()];
        read_exact_at(
            self.backend.as_ref(),
            segment.log_file(),
            batch.position.0,
            &mut bytes,
        )
        .map_err(|e| Error::io("read", segment.log_path(), e))?;
        let Ok(records) = BatchRecords::new(&bytes, RECORDS_DECOMPRESSED_BYTES_MAX) else {
            return Ok(None);
        };
        let read: std::result::Result<Vec<(i64, i64)>, _> = records
            .iter()
            .map(|r| r.map(|r| (r.offset, r.timestamp)))
            .collect();
        Ok(read.ok())
    }

    fn check_in_range(&self, state: &State, offset: Offset) -> Result<()> {
        if offset < state.log_start_offset || offset > state.log_end_offset() {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset(),
            });
        }
        Ok(())
    }

    fn corrupt_at(&self, slice: &FileSlice, within: usize, reason: String) -> Error {
        let state = self.read_state();
        let file = state
            .segments
            .values()
            .find(|s| Arc::ptr_eq(s.log_file(), &slice.file))
            .map_or_else(|| self.dir.clone(), |s| s.log_path());
        Error::CorruptLog {
            file,
            position: FilePos(slice.position.0 + within as u64),
            reason,
        }
    }
}

/// What a batch whose records cannot be read answers for them: its first offset still
/// readable (at or after `floor`, the log start offset) and its max timestamp.
fn whole_batch(batch: &BatchPos, floor: Offset) -> TimestampOffset {
    TimestampOffset {
        offset: Offset(batch.header.base_offset.max(floor.as_i64()) as u64),
        timestamp: Timestamp(batch.header.max_timestamp),
    }
}
