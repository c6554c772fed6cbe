//! One segment of a partition log: a `.log` file of batches back to back, named by the base
//! offset of its first batch, with its sparse `.index` and `.timeindex`.
//!
//! | file                  | owns                                                         |
//! |-----------------------|--------------------------------------------------------------|
//! | [`offset_index`]      | offset → file position, sparse (`.index`)                    |
//! | [`time_index`]        | max timestamp → offset, sparse (`.timeindex`)                |
//! | this file             | [`Segment`]: the open files, the size and next offset, appending whole batches, finding a batch by offset, cutting the tail |
//!
//! A segment only ever holds whole, validated batches up to `size`; bytes past `size` (a failed
//! write) are garbage that the next write overwrites and recovery cuts. The indexes live in
//! memory; their files are written when the segment stops being active, on flush and on close.

pub mod offset_index;
pub mod time_index;

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{BatchHeader, HEADER_LEN};
use crate::io::{IoBackend, read_exact_at};
use crate::types::{FilePos, Offset, Timestamp};

pub use offset_index::OffsetIndex;
pub use time_index::TimeIndex;

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `00000000000000004096.log`: the base offset in 20 digits, Kafka's naming.
pub fn file_name(base_offset: Offset, suffix: &str) -> String {
    format!("{:020}.{suffix}", base_offset.0)
}

/// The base offset a segment file name carries, with its suffix; `None` for other files.
pub fn parse_file_name(name: &str) -> Option<(Offset, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match suffix {
        LOG_SUFFIX | INDEX_SUFFIX | TIME_INDEX_SUFFIX => Some((Offset(stem.parse().ok()?), suffix)),
        _ => None,
    }
}

/// Walking small batches, one read covers this many bytes of headers and records; larger
/// batches get a read of just their header. Either way a walk costs one system call per chunk
/// or per batch, whichever is fewer, instead of one per header.
const HEADER_CHUNK: usize = 16 * 1024;

/// Reads batch headers for a sequential walk through a segment.
#[derive(Default)]
struct HeaderCursor {
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
    /// The length of the last batch seen, to choose the next read's size.
    last_len: usize,
}

impl HeaderCursor {
    /// The header of the batch at `position` (a batch boundary below `end`).
    fn header_at(
        &mut self,
        backend: &dyn IoBackend,
        file: &File,
        position: u64,
        end: u64,
    ) -> std::io::Result<BatchHeader> {
        let buffered = position >= self.buf_pos
            && position + HEADER_LEN as u64 <= self.buf_pos + self.buf.len() as u64;
        if !buffered {
            let want = if self.last_len > 0 && self.last_len < HEADER_CHUNK / 4 {
                HEADER_CHUNK
            } else {
                HEADER_LEN
            };
            let len = (want as u64).min(end - position).max(HEADER_LEN as u64) as usize;
            self.buf.resize(len, 0);
            self.buf_pos = position;
            read_exact_at(backend, file, position, &mut self.buf)?;
        }
        let at = (position - self.buf_pos) as usize;
        let header = BatchHeader::decode(&self.buf[at..]).expect("a full header is buffered");
        self.last_len = header.total_len();
        Ok(header)
    }
}

/// A batch's place in a segment, as the log's readers need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPos {
    pub position: FilePos,
    pub header: BatchHeader,
}

/// See the module docs.
#[derive(Debug)]
pub struct Segment {
    pub base_offset: Offset,
    dir: PathBuf,
    log: Arc<File>,
    index_file: Arc<File>,
    time_index_file: Arc<File>,
    /// Bytes of whole, valid batches; the next append goes here.
    pub size: u64,
    /// The offset after the last batch; `base_offset` while empty.
    pub next_offset: Offset,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// The largest batch max timestamp, and the base offset of the first batch that had it.
    pub max_timestamp: Option<(Timestamp, Offset)>,
    /// When the segment was created (the file's birth time when reopened): `segment_ms`
    /// counts from it. Kafka counts from the first batch's timestamp instead, which rolls on
    /// every append when producers send old timestamps.
    pub created_at: Timestamp,
    bytes_since_index_entry: u64,
    /// Data bytes whose write completed (in the page cache); at most `size`, whose tail may
    /// still be in the log's write pipeline.
    pub written_size: u64,
    /// Data bytes known durable; at most `written_size`.
    pub flushed_size: u64,
    index_entries_written: usize,
    time_entries_written: usize,
    /// Whether the index files are durable up to what was written of them.
    indexes_synced: bool,
    /// Whether both index files existed when the segment was opened.
    pub indexes_found: bool,
    /// The file's blocks are reserved up to here ([`preallocate`](Self::preallocate)); at
    /// least `size`.
    preallocated_to: u64,
    /// Blocks may be reserved past `size`: they are given back when the segment stops being
    /// written ([`trim_preallocation`](Self::trim_preallocation)).
    reserved_past_end: bool,
    /// Reserving failed here (a filesystem without `fallocate`, or full): not tried again.
    preallocation_failed: bool,
}

fn open_file(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .open(path)
        .map_err(|e| Error::io(if create { "create" } else { "open" }, path, e))
}

/// The file's creation time where the filesystem keeps one (statx birth time), else now.
fn file_birth(file: &File) -> Timestamp {
    file.metadata()
        .and_then(|m| m.created())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(Timestamp::now, |d| {
            Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        })
}

/// `fallocate(FALLOC_FL_KEEP_SIZE)` of `len` bytes at `pos`: blocks reserved, the length kept.
#[cfg(target_os = "linux")]
fn reserve_blocks(file: &File, pos: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(pos), Ok(len)) = (libc::off_t::try_from(pos), libc::off_t::try_from(len)) else {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    };
    loop {
        // SAFETY: a plain syscall on a descriptor `file` keeps open for the call.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, pos, len) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve_blocks(_file: &File, _pos: u64, _len: u64) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

impl Segment {
    /// Creates the files of a new, empty segment (replacing leftovers of the same name, which
    /// can only lie past the log end).
    pub fn create(dir: &Path, base_offset: Offset) -> Result<Segment> {
        Self::with_files(dir, base_offset, true)
    }

    /// Opens an existing segment's files. Its size is the file's length and its indexes are
    /// empty until recovery loads or rebuilds them.
    pub fn open(dir: &Path, base_offset: Offset) -> Result<Segment> {
        let mut segment = Self::with_files(dir, base_offset, false)?;
        let path = segment.log_path();
        segment.size = segment
            .log
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        segment.written_size = segment.size;
        segment.flushed_size = segment.size;
        segment.preallocated_to = segment.size;
        Ok(segment)
    }

    fn with_files(dir: &Path, base_offset: Offset, create: bool) -> Result<Segment> {
        let log = open_file(&dir.join(file_name(base_offset, LOG_SUFFIX)), create)?;
        let index_path = dir.join(file_name(base_offset, INDEX_SUFFIX));
        let time_index_path = dir.join(file_name(base_offset, TIME_INDEX_SUFFIX));
        let indexes_found = index_path.exists() && time_index_path.exists();
        // Index files may be missing on open (they are derived): create them empty then, and
        // remember, so recovery rebuilds them.
        let index_file =
            open_file(&index_path, create).or_else(|_| open_file(&index_path, true))?;
        let time_index_file =
            open_file(&time_index_path, create).or_else(|_| open_file(&time_index_path, true))?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            created_at: file_birth(&log),
            log: Arc::new(log),
            index_file: Arc::new(index_file),
            time_index_file: Arc::new(time_index_file),
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::new(base_offset),
            time_index: TimeIndex::new(base_offset),
            max_timestamp: None,
            bytes_since_index_entry: 0,
            written_size: 0,
            flushed_size: 0,
            index_entries_written: 0,
            time_entries_written: 0,
            indexes_synced: create,
            indexes_found,
            preallocated_to: 0,
            reserved_past_end: false,
            preallocation_failed: false,
        })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(file_name(self.base_offset, LOG_SUFFIX))
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join(file_name(self.base_offset, INDEX_SUFFIX))
    }

    pub fn time_index_path(&self) -> PathBuf {
        self.dir
            .join(file_name(self.base_offset, TIME_INDEX_SUFFIX))
    }

    /// The `.log` file, shared with readers that send it with sendfile.
    pub fn log_file(&self) -> &Arc<File> {
        &self.log
    }

    pub fn index_file(&self) -> &Arc<File> {
        &self.index_file
    }

    pub fn time_index_file(&self) -> &Arc<File> {
        &self.time_index_file
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Writes `bytes` (whole, validated batches, whose headers are `headers`, offsets already
    /// assigned and continuing `next_offset`) at the end of the segment, then records them.
    /// On error nothing is recorded: `size` still marks the end of valid data.
    pub fn append(
        &mut self,
        backend: &dyn IoBackend,
        bytes: &[u8],
        headers: &[BatchHeader],
        index_interval_bytes: u32,
    ) -> Result<()> {
        backend
            .write_all_at(&self.log, self.size, &[IoSlice::new(bytes)])
            .map_err(|e| Error::io("append to", self.log_path(), e))?;
        self.record_appended(headers, index_interval_bytes);
        self.written_size = self.size;
        Ok(())
    }

    /// Reserves the file's blocks up to at least `end` before a write reaches it, `step` bytes
    /// ahead of the data at a time and not past `limit` (`segment_bytes`) unless `end` is.
    /// The kernel copies a buffered write into reserved blocks without ext4's delayed-allocation
    /// work per block (measured in `docs/storage.md`: 32 MiB in 1 MiB writes 1.45x faster), and
    /// the segment's blocks lie together on disk. `FALLOC_FL_KEEP_SIZE` leaves the file's length
    /// alone, so readers, sendfile and recovery see only `size`. A filesystem that cannot
    /// reserve, or has no room for the step, is not an error: the write goes on without, and
    /// this segment stops trying.
    pub fn preallocate(&mut self, end: u64, step: u64, limit: u64) {
        if step == 0 || end <= self.preallocated_to || self.preallocation_failed {
            return;
        }
        let from = self.preallocated_to.max(self.size);
        let to = end.max(from.saturating_add(step).min(limit));
        match reserve_blocks(&self.log, from, to - from) {
            Ok(()) => {
                self.preallocated_to = to;
                self.reserved_past_end = true;
            }
            Err(e) => {
                tracing::debug!(path = %self.log_path().display(), error = %e, "cannot preallocate the segment; writing without");
                self.preallocation_failed = true;
            }
        }
    }

    /// Gives back the blocks reserved past `size`, once the segment stops being written (roll,
    /// close) and every write to it is done.
    pub fn trim_preallocation(&mut self) -> Result<()> {
        debug_assert_eq!(
            self.written_size, self.size,
            "trimming under writes in flight"
        );
        if self.reserved_past_end {
            // The same length: ext4 frees the blocks past it.
            self.log
                .set_len(self.size)
                .map_err(|e| Error::io("trim", self.log_path(), e))?;
            self.reserved_past_end = false;
        }
        self.preallocated_to = self.size;
        Ok(())
    }

    /// Notes that the file may hold blocks reserved past its end by a run that did not close
    /// the log (recovery after a crash).
    pub fn assume_reserved_past_end(&mut self) {
        self.reserved_past_end = true;
    }

    /// Records batches appended at the end of the segment (their bytes are being written by the
    /// log's write pipeline).
    pub fn record_appended(&mut self, headers: &[BatchHeader], index_interval_bytes: u32) {
        for header in headers {
            self.record_batch(header, FilePos(self.size), index_interval_bytes);
            self.size += header.total_len() as u64;
        }
    }

    /// Accounts for one batch that lies at `position` (the current end): offsets, timestamps and
    /// the sparse index entries. Shared by append and by recovery's rebuild.
    pub fn record_batch(&mut self, header: &BatchHeader, position: FilePos, index_interval: u32) {
        let base = Offset(header.base_offset as u64);
        assert_eq!(
            base, self.next_offset,
            "segment {}: batch at {position} does not continue the segment",
            self.base_offset
        );
        if self.bytes_since_index_entry >= u64::from(index_interval) {
            self.offset_index.push(base, position);
            if let Some((ts, at)) = self.max_timestamp {
                self.time_index.maybe_push(ts, at);
            }
            self.bytes_since_index_entry = 0;
        }
        let ts = Timestamp(header.max_timestamp);
        if self.max_timestamp.is_none_or(|(max, _)| ts > max) {
            self.max_timestamp = Some((ts, base));
        }
        self.bytes_since_index_entry += header.total_len() as u64;
        self.next_offset = Offset(header.next_offset() as u64);
    }

    /// The max timestamp as the time index records it (its last entry holds the segment's max
    /// once the segment was sealed), with the base offset of the batch that first reached it.
    pub fn max_timestamp_in_time_index(&self) -> Option<(Timestamp, Offset)> {
        self.time_index.last().map(|t| {
            (
                Timestamp(t.timestamp),
                self.base_offset.plus(u64::from(t.relative_offset)),
            )
        })
    }

    /// Forgets every batch: the state of a freshly created segment, before a rebuild.
    pub fn reset_state(&mut self) {
        self.size = 0;
        self.next_offset = self.base_offset;
        self.offset_index = OffsetIndex::new(self.base_offset);
        self.time_index = TimeIndex::new(self.base_offset);
        self.max_timestamp = None;
        self.bytes_since_index_entry = 0;
        self.index_entries_written = 0;
        self.time_entries_written = 0;
        self.indexes_synced = false;
    }

    /// Reads the header of the batch at `position`. The caller knows a batch starts there.
    pub fn read_header(&self, backend: &dyn IoBackend, position: FilePos) -> Result<BatchHeader> {
        let mut buf = [0u8; HEADER_LEN];
        read_exact_at(backend, &self.log, position.0, &mut buf)
            .map_err(|e| Error::io("read", self.log_path(), e))?;
        Ok(BatchHeader::decode(&buf).expect("a full header was read"))
    }

    /// The batch holding `offset`, or the first one after it; `None` past the last batch.
    pub fn find_batch(&self, backend: &dyn IoBackend, offset: Offset) -> Result<Option<BatchPos>> {
        let mut from = FilePos(0);
        if let Some((entry_offset, entry_position)) = self.offset_index.lookup_entry(offset) {
            // An index entry that does not lead to the batch it names (damage the load-time
            // checks missed) must not send the scan into the middle of a batch.
            let header = self.read_header(backend, entry_position)?;
            if header.validate(u32::MAX).is_ok() && header.base_offset == entry_offset.as_i64() {
                from = entry_position;
            } else {
                tracing::warn!(index = %self.index_path().display(), entry_offset = entry_offset.0, "index entry does not match the log, scanning the segment from its start");
            }
        }
        let mut found = None;
        self.scan_headers(backend, from, |b| {
            if b.header.last_offset() >= offset.as_i64() {
                found = Some(b);
                return false;
            }
            true
        })?;
        Ok(found)
    }

    /// Calls `f` with each batch header from `from` to the end of what is written of the
    /// segment, in order, until `f` returns false.
    pub fn scan_headers(
        &self,
        backend: &dyn IoBackend,
        from: FilePos,
        mut f: impl FnMut(BatchPos) -> bool,
    ) -> Result<()> {
        // Bytes past the written size may still be in the log's write pipeline.
        let end = self.size.min(self.written_size);
        let mut cursor = HeaderCursor::default();
        let mut position = from;
        while position.0 < end {
            let header = cursor
                .header_at(backend, &self.log, position.0, end)
                .map_err(|e| Error::io("read", self.log_path(), e))?;
            let next = FilePos(position.0 + header.total_len() as u64);
            if !f(BatchPos { position, header }) {
                break;
            }
            position = next;
        }
        Ok(())
    }

    /// Cuts the segment at `position` (a batch boundary): the file, the indexes and the
    /// recorded timestamps, which are recomputed from the batches that remain. The cut is
    /// synced, so it cannot come back after a crash.
    pub fn truncate_to(
        &mut self,
        backend: &dyn IoBackend,
        position: FilePos,
        index_interval: u32,
    ) -> Result<()> {
        let log_path = self.log_path();
        self.log
            .set_len(position.0)
            .map_err(|e| Error::io("truncate", &log_path, e))?;
        backend
            .sync_data(&self.log)
            .map_err(|e| Error::io("fsync", &log_path, e))?;
        let old_size = self.size;
        self.size = position.0;
        self.rebuild_indexes_from_headers(backend, index_interval)?;
        self.written_size = self.size;
        self.flushed_size = self.flushed_size.min(self.size);
        // The cut gave back every block past it.
        self.preallocated_to = self.size;
        self.reserved_past_end = false;
        debug_assert!(self.size <= old_size);
        self.rewrite_indexes(backend)
    }

    /// Replaces the index files with the in-memory indexes (after a rebuild or a cut; they are
    /// small next to the segment).
    pub fn rewrite_indexes(&mut self, backend: &dyn IoBackend) -> Result<()> {
        self.index_entries_written = 0;
        self.time_entries_written = 0;
        self.index_file
            .set_len(0)
            .map_err(|e| Error::io("truncate", self.index_path(), e))?;
        self.time_index_file
            .set_len(0)
            .map_err(|e| Error::io("truncate", self.time_index_path(), e))?;
        self.indexes_synced = false;
        self.write_indexes(backend)
    }

    /// Re-derives next offset, timestamps and indexes from the batch headers in `0..size`.
    pub fn rebuild_indexes_from_headers(
        &mut self,
        backend: &dyn IoBackend,
        index_interval: u32,
    ) -> Result<()> {
        let size = self.size;
        let mut headers = Vec::new();
        self.scan_headers(backend, FilePos(0), |b| {
            headers.push(b);
            true
        })?;
        self.reset_state();
        for b in headers {
            self.record_batch(&b.header, b.position, index_interval);
            self.size = b.position.0 + b.header.total_len() as u64;
        }
        assert_eq!(
            self.size, size,
            "segment {} rebuilt to a different size",
            self.base_offset
        );
        Ok(())
    }

    /// Called when the segment stops being the active one (roll, close): the time index gets a
    /// last entry holding the segment's max timestamp.
    pub fn seal(&mut self) {
        if let Some((ts, at)) = self.max_timestamp {
            self.time_index.maybe_push(ts, at);
        }
    }

    /// Writes index entries not yet in the index files.
    pub fn write_indexes(&mut self, backend: &dyn IoBackend) -> Result<()> {
        let mut bytes = Vec::new();
        for e in &self.offset_index.entries()[self.index_entries_written..] {
            e.encode(&mut bytes);
        }
        if !bytes.is_empty() {
            let at = (self.index_entries_written * offset_index::ENTRY_LEN) as u64;
            backend
                .write_all_at(&self.index_file, at, &[IoSlice::new(&bytes)])
                .map_err(|e| Error::io("write", self.index_path(), e))?;
            self.index_entries_written = self.offset_index.entries().len();
            self.indexes_synced = false;
        }
        bytes.clear();
        for e in &self.time_index.entries()[self.time_entries_written..] {
            e.encode(&mut bytes);
        }
        if !bytes.is_empty() {
            let at = (self.time_entries_written * time_index::ENTRY_LEN) as u64;
            backend
                .write_all_at(&self.time_index_file, at, &[IoSlice::new(&bytes)])
                .map_err(|e| Error::io("write", self.time_index_path(), e))?;
            self.time_entries_written = self.time_index.entries().len();
            self.indexes_synced = false;
        }
        Ok(())
    }

    /// Records that the index files were loaded from disk as they are (recovery's fast path).
    pub fn mark_indexes_loaded(&mut self) {
        self.index_entries_written = self.offset_index.entries().len();
        self.time_entries_written = self.time_index.entries().len();
        self.indexes_synced = true;
    }

    /// Whether the index files hold unsynced writes.
    pub fn indexes_dirty(&self) -> bool {
        !self.indexes_synced
    }

    pub fn mark_indexes_synced(&mut self) {
        self.indexes_synced = true;
    }

    /// Deletes the segment's files: the indexes first, so a crash in between leaves a `.log`
    /// whose indexes are rebuilt rather than indexes without a log.
    pub fn delete_files(&self) -> Result<()> {
        for path in [self.index_path(), self.time_index_path(), self.log_path()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &path, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_twenty_digits_and_parse_back() {
        let name = file_name(Offset(4096), LOG_SUFFIX);
        assert_eq!(name, "00000000000000004096.log");
        assert_eq!(parse_file_name(&name), Some((Offset(4096), LOG_SUFFIX)));
        assert_eq!(
            parse_file_name("00000000000000004096.timeindex"),
            Some((Offset(4096), TIME_INDEX_SUFFIX))
        );
        assert_eq!(parse_file_name("4096.log"), None);
        assert_eq!(parse_file_name("00000000000000004096.log.tmp"), None);
        assert_eq!(parse_file_name("leader-epoch-checkpoint"), None);
    }
}
