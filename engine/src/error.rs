//! The engine's one error family. Messages are lowercase, name the object and carry the numbers;
//! an underlying `io::Error` is the `#[source]`, with what was being done.

use std::io;
use std::path::PathBuf;

use crate::format::BatchError;
use crate::types::{FilePos, LeaderEpoch, Offset};

/// Everything the engine can refuse or fail with. A broken invariant is a bug and panics; it is
/// never one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed; `op` says what was being done (open, append, fsync, ...).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A batch handed to an append failed validation; nothing of the append was written.
    #[error("batch {index} of the append (byte {position} of the input): {source}")]
    InvalidBatch {
        index: usize,
        position: usize,
        #[source]
        source: BatchError,
    },

    /// An append carried no batches.
    #[error("append has no batches")]
    EmptyAppend,

    /// An idempotent producer's batch out of sequence, from a fenced epoch, or from a producer
    /// the log does not know: Kafka's errors of the same names.
    #[error(transparent)]
    Sequence(#[from] crate::format::SequenceError),

    /// A transactional or control batch from a producer: transactions are not supported yet.
    #[error(
        "batch of producer {producer_id} is transactional or a control batch: transactions are not supported yet"
    )]
    TransactionsUnsupported { producer_id: i64 },

    /// An append with an idempotent producer's batch holds more than one batch.
    #[error(
        "an append holding an idempotent producer's batch holds {count} batches: it must hold exactly one, as in Kafka"
    )]
    IdempotentAppendOfManyBatches { count: usize },

    /// An append is larger than a segment may hold.
    #[error("append of {size} bytes exceeds segment_bytes {segment_bytes}")]
    AppendTooLarge { size: u64, segment_bytes: u64 },

    /// A replicated append does not continue at the log end offset (or its batches are not
    /// contiguous among themselves).
    #[error(
        "replicated batch at offset {found} does not continue the log: expected offset {expected}"
    )]
    NonContiguous { expected: Offset, found: Offset },

    /// A leader appended with an epoch older than the newest one the log has seen.
    #[error("stale leader epoch {epoch}: the log already holds epoch {latest}")]
    StaleLeaderEpoch {
        epoch: LeaderEpoch,
        latest: LeaderEpoch,
    },

    /// A read, truncation or delete asked for an offset outside the log.
    #[error(
        "offset {offset} is out of range: log start offset {log_start_offset}, log end offset {log_end_offset}"
    )]
    OffsetOutOfRange {
        offset: Offset,
        log_start_offset: Offset,
        log_end_offset: Offset,
    },

    /// A batch on disk failed validation where the log is known to be durable (before the
    /// recovery point), or while reading it back. Nothing is cut: this needs an operator.
    #[error("{}: corrupt batch at file position {position}: {reason}", file.display())]
    CorruptLog {
        file: PathBuf,
        position: FilePos,
        reason: String,
    },

    /// Batches appended by a waiting caller were truncated away before they became durable.
    #[error(
        "batches up to offset {offset} were truncated (log end offset now {log_end_offset}) before they became durable"
    )]
    TruncatedBeforeDurable {
        offset: Offset,
        log_end_offset: Offset,
    },

    /// A replicated batch carries no leader epoch (the leader must stamp every batch).
    #[error("replicated batch at offset {offset} carries no leader epoch ({epoch})")]
    UnstampedBatch { offset: Offset, epoch: i32 },

    /// A checkpoint file could not be read back.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },

    /// An earlier fsync failed, so the kernel may have dropped written pages: the log refuses
    /// every write until it is reopened (and recovered).
    #[error("log {} is poisoned by a failed fsync ({cause}); reopen it to recover", dir.display())]
    Poisoned { dir: PathBuf, cause: String },

    /// Another process (or another `Log` in this one) has the directory open: its lock file
    /// ([`lock_dir`](crate::lock_dir)) is held.
    #[error("{} is already in use (its lock file is held by another process, or opened twice in this one)", dir.display())]
    Locked { dir: PathBuf },

    /// A configuration value is out of its range.
    #[error("invalid config {key}: {reason}")]
    Config { key: &'static str, reason: String },
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `io::Error` with the operation and the file it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
