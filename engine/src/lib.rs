//! ringlog-engine: one partition's log on disk, for embedding.
//!
//! A [`Log`] is a directory of segments holding Kafka RecordBatch v2 batches back to back, with
//! sparse offset and time indexes, checkpoints written atomically, a leader-epoch cache, and
//! recovery that cuts torn tails and refuses damage in synced data. Writes go through io_uring
//! (or a portable `pwrite`/`fdatasync` backend); reads come back as file slices a server can
//! hand to `sendfile`, or as validated bytes.
//!
//! What an append promises: when [`Log::append`] (or [`Log::append_owned`], which hands over the
//! buffer and saves a copy) returns, the batches have their offsets and every read of this log
//! sees them. They reach the page cache in large writes of `write_buffer_bytes` (1 MiB by
//! default), possibly still in flight on return: [`Log::written_offset`] tells how far that got,
//! [`Log::flushed_offset`] how far is durable. With `flush = always` an append returns only once
//! durable; with `write_buffer_bytes = 0` every append is written before it returns.
//!
//! ```
//! use ringlog_engine::format::{BatchBuilder, Record};
//! use ringlog_engine::{LeaderEpoch, Log, LogConfig, Offset};
//!
//! # fn main() -> Result<(), ringlog_engine::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let log = Log::open(dir.path(), LogConfig::default())?;
//!
//! // Build a batch of two records and append it as the leader of epoch 0.
//! let mut builder = BatchBuilder::new();
//! builder.push(&Record { key: Some(b"user-1"), value: Some(b"hello"), timestamp: 1_700_000_000_000, ..Record::default() });
//! builder.push(&Record { key: Some(b"user-2"), value: Some(b"world"), timestamp: 1_700_000_000_001, ..Record::default() });
//! let mut batch = builder.finish();
//! let appended = log.append(&mut batch, LeaderEpoch(0))?;
//! assert_eq!((appended.first_offset, appended.last_offset), (Offset(0), Offset(1)));
//!
//! // Read it back: whole batches, validated on the way in.
//! let read = log.read_bytes(Offset(0), 1 << 20, log.log_end_offset())?;
//! let records: Vec<_> = ringlog_engine::format::RecordIter::new(&read.bytes)
//!     .unwrap()
//!     .map(|r| r.unwrap().value.unwrap().to_vec())
//!     .collect();
//! assert_eq!(records, vec![b"hello".to_vec(), b"world".to_vec()]);
//!
//! // Close cleanly and reopen: no recovery scan needed, everything is still there.
//! log.close()?;
//! let log = Log::open(dir.path(), LogConfig::default())?;
//! assert!(log.recovery_report().clean_shutdown);
//! assert_eq!(log.log_end_offset(), Offset(2));
//! # Ok(())
//! # }
//! ```
//!
//! | module         | owns                                                                  |
//! |----------------|-----------------------------------------------------------------------|
//! | [`log`]        | [`Log`]: append (leader and follower), read, flush (group commit), truncate, delete records, retention, close |
//! | [`recovery`]   | opening a directory: the clean fast path, the validating scan, [`RecoveryReport`] |
//! | [`segment`]    | one segment: its `.log`, `.index` and `.timeindex`                    |
//! | [`format`](mod@format) | the RecordBatch v2 format: header, validation, records, builder (pure; the `ringlog-format` crate, re-exported) |
//! | [`checkpoint`] | atomic, checksummed checkpoint files                                  |
//! | [`producer_state`] | the idempotent producers' snapshot files and their rebuild on open (the state itself is `format::producer`) |
//! | [`epoch_cache`]| leader epoch → start offset, for follower truncation (from `ringlog-format`) |
//! | [`io`]         | the IO backends: io_uring, portable, fault-injecting (tests)          |
//! | [`config`]     | [`LogConfig`], [`FlushPolicy`]                                        |
//! | [`types`]      | [`Offset`], [`FilePos`], [`LeaderEpoch`], [`Timestamp`] (from `ringlog-format`) |
//! | [`error`]      | [`Error`], the crate's one error family                               |
//!
//! The on-disk format is specified byte by byte in `docs/disk-format.md`.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod io;
pub mod log;
pub mod producer_state;
pub mod recovery;
pub mod segment;

pub use config::{FlushPolicy, LogConfig};
pub use error::{Error, Result};
pub use io::{IoBackend, IoBackendKind};
pub use log::{
    AppendInfo, FileSlice, Log, ReadBytes, ReadSlices, RetentionOutcome, SegmentInfo,
    TimestampOffset, lock_dir,
};
pub use recovery::{RecoveryReport, TailCut};
/// The record-batch format, pure (the `ringlog-format` crate, re-exported whole).
pub use ringlog_format as format;
pub use ringlog_format::{EpochEntry, LeaderEpochCache, epoch_cache, types};
pub use ringlog_format::{FilePos, LeaderEpoch, Offset, Timestamp};
