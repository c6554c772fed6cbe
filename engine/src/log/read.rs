//! Reads. [`Log::read`] answers with file slices ending on batch boundaries, for the server to
//! send with sendfile/splice without copying; [`Log::read_bytes`] copies them out and validates
//! every batch on the way back in. [`Log::offset_for_timestamp`] serves ListOffsets.

use std::fs::File;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{BatchIter, RecordIter};
use crate::io::read_exact_at;
use crate::segment::Segment;
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

/// The answer to a lookup by timestamp: the first record at or after the time asked for.
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
    /// offset; `None` when every record is older. Batches whose records cannot be read here
    /// (compressed) answer with the batch's base offset and max timestamp.
    pub fn offset_for_timestamp(&self, target: Timestamp) -> Result<Option<TimestampOffset>> {
        self.ensure_written(Offset(u64::MAX))?;
        let state = self.read_state();
        let Some(segment) = state
            .segments
            .values()
            .find(|s| s.max_timestamp.is_some_and(|(max, _)| max >= target))
        else {
            return Ok(None);
        };
        let from = segment
            .time_index
            .lookup(target)
            .max(state.log_start_offset);
        let Some(start) = segment.find_batch(self.backend.as_ref(), from)? else {
            return Ok(None);
        };
        let mut found = None;
        segment.scan_headers(self.backend.as_ref(), start.position, |b| {
            if b.header.max_timestamp >= target.0 {
                found = Some(b);
                return false;
            }
            true
        })?;
        let Some(batch) = found else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; batch.header.total_len()];
        read_exact_at(
            self.backend.as_ref(),
            segment.log_file(),
            batch.position.0,
            &mut bytes,
        )
        .map_err(|e| Error::io("read", segment.log_path(), e))?;
        let floor = state.log_start_offset.as_i64();
        let exact = RecordIter::new(&bytes).ok().and_then(|records| {
            records
                .map_while(|r| r.ok())
                .find(|r| r.offset >= floor && r.timestamp >= target.0)
        });
        Ok(Some(match exact {
            Some(r) => TimestampOffset {
                offset: Offset(r.offset as u64),
                timestamp: Timestamp(r.timestamp),
            },
            None => TimestampOffset {
                offset: Offset(batch.header.base_offset.max(floor) as u64),
                timestamp: Timestamp(batch.header.max_timestamp),
            },
        }))
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
