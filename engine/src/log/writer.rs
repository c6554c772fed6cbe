//! The append path's write pipeline, used when `write_buffer_bytes > 0`.
//!
//! Appended batches are staged: copied into a staging buffer ([`Log::append`](crate::Log::append)),
//! or kept as the caller's own buffer ([`Log::append_owned`](crate::Log::append_owned), no copy).
//! Once `write_buffer_bytes` are staged they go to the backend's [`WriteQueue`] as one vectored
//! write. On io_uring
//! the write is still in flight when the append returns: the kernel copies it into the page
//! cache on an io-wq worker (another core) while the appender validates the next batches, and
//! one large write costs the kernel far less per byte than many ~100 KiB ones (see
//! `docs/storage.md`). Other backends write at submit time, still in large writes.
//!
//! What an append promises, then: its batches are in the log (offsets assigned, readable through
//! this `Log`: every read, flush, roll, truncation, retention pass and close first drains the
//! pipeline). They are in the page cache once [`Log::written_offset`](crate::Log::written_offset)
//! passes them, and durable once the flushed offset does. With `flush = always` an append returns
//! only when durable, so nothing changes there; with `write_buffer_bytes = 0` every append is
//! written before it returns (Kafka's page-cache semantics: it survives a crash of the process).
//!
//! In-flight writes always target the active segment: a roll drains the pipeline first. A write
//! that fails after its append returned poisons the log (its batches were already acknowledged).

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::WriteQueue;
use crate::types::Offset;

use super::State;

/// Writes the log keeps in flight; the next submission first waits for the oldest beyond this.
const IN_FLIGHT_MAX: usize = 4;
/// Staging buffers kept for reuse across every log of the process: a fresh 1 MiB allocation
/// costs 256 page faults to touch, and a broker's many partitions need not each keep their own.
const POOL_MAX: usize = 64;

static STAGING_POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// An empty staging buffer of at least `capacity` bytes, warm from the pool when one is there.
fn take_buffer(capacity: usize) -> Vec<u8> {
    let pooled = STAGING_POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut buf = pooled.unwrap_or_default();
    buf.clear();
    buf.reserve(capacity);
    buf
}

/// Returns a staging buffer to the pool (owned batches are not staging buffers: they are
/// dropped by the caller).
fn return_buffer(buf: Vec<u8>) {
    let mut pool = STAGING_POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOL_MAX {
        pool.push(buf);
    }
}

/// What one write's completion proves: segment `segment` is written up to `end_pos`, and the
/// log up to `end_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub segment: Offset,
    pub end_pos: u64,
    pub end_offset: Offset,
}

/// Chunks per write at most: the kernel takes 1024 iovecs per call.
const CHUNKS_PER_WRITE_MAX: usize = 512;

/// Bytes handed to the pipeline: copied into a staging buffer, or owned and written as they are.
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(v) => v,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes().len()
    }
}

#[derive(Debug)]
pub(crate) struct Writer {
    queue: Box<dyn WriteQueue>,
    buffer_bytes: usize,
    /// The next write, in file order: staging buffers holding copies and owned batches.
    chunks: Vec<Vec<u8>>,
    staged_bytes: usize,
    /// Where the staged bytes go (segment, file, position of the first) and where they end.
    target: Option<(Offset, Arc<File>, u64)>,
    staged_end: Offset,
    /// Submitted writes, oldest first.
    submitted: VecDeque<Written>,
    /// The newest completion not yet applied to the state.
    completed: Option<Written>,
    /// How many chunks of each submitted write are staging buffers (the first ones are not
    /// necessarily; they are marked by position), oldest write first.
    staging_marks: VecDeque<Vec<bool>>,
    /// Which of `chunks` are staging buffers.
    chunk_is_staging: Vec<bool>,
}

impl Writer {
    pub(crate) fn new(queue: Box<dyn WriteQueue>, buffer_bytes: usize) -> Writer {
        Writer {
            queue,
            buffer_bytes,
            chunks: Vec::new(),
            staged_bytes: 0,
            target: None,
            staged_end: Offset::ZERO,
            submitted: VecDeque::new(),
            completed: None,
            staging_marks: VecDeque::new(),
            chunk_is_staging: Vec::new(),
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.chunks.is_empty() && self.submitted.is_empty()
    }

    /// Stages `payload`, which belongs at `pos` of segment `segment` and ends the log at `end`,
    /// submitting once `write_buffer_bytes` are staged.
    pub(crate) fn stage(
        &mut self,
        segment: Offset,
        file: &Arc<File>,
        pos: u64,
        payload: Payload<'_>,
        end: Offset,
    ) -> io::Result<()> {
        // A write never grows past `write_buffer_bytes` by taking part of an append: what is
        // staged goes first, so staging buffers are never reallocated.
        if self.staged_bytes > 0 && self.staged_bytes + payload.len() > self.buffer_bytes {
            self.submit()?;
        }
        match &self.target {
            Some((staged_segment, _, start)) => {
                assert_eq!(*staged_segment, segment, "staged bytes span a roll");
                assert_eq!(
                    start + self.staged_bytes as u64,
                    pos,
                    "staged bytes not contiguous"
                );
            }
            None => self.target = Some((segment, file.clone(), pos)),
        }
        self.staged_bytes += payload.len();
        match payload {
            Payload::Owned(batches) => {
                self.chunks.push(batches);
                self.chunk_is_staging.push(false);
            }
            Payload::Borrowed(bytes) => {
                // Copies extend the last chunk when it is a staging buffer.
                if self.chunk_is_staging.last() != Some(&true) {
                    self.chunks
                        .push(take_buffer(self.buffer_bytes.max(bytes.len())));
                    self.chunk_is_staging.push(true);
                }
                self.chunks
                    .last_mut()
                    .expect("a staging buffer")
                    .extend_from_slice(bytes);
            }
        }
        self.staged_end = end;
        if self.staged_bytes >= self.buffer_bytes || self.chunks.len() >= CHUNKS_PER_WRITE_MAX {
            self.submit()?;
        }
        Ok(())
    }

    /// Hands the staged chunks to the queue as one write, first waiting for the oldest write
    /// when [`IN_FLIGHT_MAX`] are in flight.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        let Some((segment, file, pos)) = self.target.take() else {
            return Ok(());
        };
        while self.submitted.len() >= IN_FLIGHT_MAX {
            self.complete_oldest()?;
        }
        let end_pos = pos + self.staged_bytes as u64;
        let chunks = std::mem::take(&mut self.chunks);
        self.staging_marks
            .push_back(std::mem::take(&mut self.chunk_is_staging));
        self.staged_bytes = 0;
        if let Err(e) = self.queue.submit(file, pos, chunks) {
            self.staging_marks.pop_back();
            return Err(e);
        }
        self.submitted.push_back(Written {
            segment,
            end_pos,
            end_offset: self.staged_end,
        });
        Ok(())
    }

    /// Submits what is staged and waits for every write in flight. On error the rest are still
    /// waited for (their buffers belong to the kernel until then) and the first error returned.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        let mut result = self.submit();
        while !self.submitted.is_empty() {
            let completed = self.complete_oldest();
            if result.is_ok() {
                result = completed;
            }
        }
        result
    }

    fn complete_oldest(&mut self) -> io::Result<()> {
        let written = self.submitted.pop_front().expect("a write in flight");
        let marks = self
            .staging_marks
            .pop_front()
            .expect("marks for each write");
        let bufs = self
            .queue
            .complete_oldest()
            .expect("the queue has it in flight")?;
        // Staging buffers go back to the pool; owned batches are dropped here.
        for (buf, staging) in bufs.into_iter().zip(marks) {
            if staging {
                return_buffer(buf);
            }
        }
        self.completed = Some(written);
        Ok(())
    }

    pub(crate) fn take_completed(&mut self) -> Option<Written> {
        self.completed.take()
    }
}

impl State {
    /// Makes everything appended so far written (in the page cache). A failure poisons the log.
    pub(crate) fn drain_writes(&mut self, dir: &Path) -> Result<()> {
        if self.writer.is_idle() {
            return Ok(());
        }
        let result = self.writer.drain();
        self.apply_written();
        self.write_outcome(dir, result)
    }

    /// Stages an append's bytes (already recorded in the active segment, which ended at `pos`
    /// before them). A failure poisons the log.
    pub(crate) fn stage_append(
        &mut self,
        dir: &Path,
        pos: u64,
        payload: Payload<'_>,
    ) -> Result<()> {
        let active = self.active();
        let (segment, file, end) = (
            active.base_offset,
            active.log_file().clone(),
            active.next_offset,
        );
        let result = self.writer.stage(segment, &file, pos, payload, end);
        self.apply_written();
        self.write_outcome(dir, result)
    }

    fn apply_written(&mut self) {
        if let Some(written) = self.writer.take_completed() {
            if let Some(segment) = self.segments.get_mut(&written.segment) {
                segment.written_size = segment.written_size.max(written.end_pos);
            }
            self.written_offset = self.written_offset.max(written.end_offset);
        }
    }

    fn write_outcome(&mut self, dir: &Path, result: io::Result<()>) -> Result<()> {
        result.map_err(|e| {
            let path = self.active().log_path();
            self.poisoned = Some(format!("a write of appended batches to {} failed: {e}", path.display()));
            tracing::error!(dir = %dir.display(), error = %e, "write failed after append, log poisoned");
            Error::io("write", path, e)
        })
    }
}
