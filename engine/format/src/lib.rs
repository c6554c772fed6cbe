//! ringlog-format: the log's vocabulary and its record-batch format, pure: encode, decode and
//! validate over byte slices, no IO, no io_uring.
//!
//! It is its own crate so that everything that speaks record batches without storing them
//! (the client library, the wire codec, the replication state machines) depends on this and
//! not on the storage engine. `ringlog-engine` re-exports it whole as `ringlog_engine::format`
//! (and its types at the engine's root), so an embedder needs only the engine.
//!
//! | module        | owns                                                                  |
//! |---------------|-----------------------------------------------------------------------|
//! | [`types`]     | [`Offset`], [`FilePos`], [`LeaderEpoch`], [`Timestamp`]: the domain integers as newtypes |
//! | [`batch`]     | the 61-byte RecordBatch v2 header, validation, CRC, offset stamping, iterating batches in a buffer |
//! | [`record`]    | varint-framed records inside a batch, the [`BatchBuilder`], reading records back ([`RecordIter`], [`BatchRecords`] for compressed batches) |
//! | [`compression`] | the codecs of a batch's records section (none, lz4, zstd) with Kafka's attribute codes; bounded decompression |
//! | [`varint`]    | zigzag varints and varlongs (protobuf style, as Kafka uses them)      |
//! | [`epoch_cache`] | [`LeaderEpochCache`]: leader epoch → start offset, for follower truncation |
//! | [`producer`]  | [`ProducerStates`]: each idempotent producer's epoch and last batches, the sequence checks that keep retries from duplicating, snapshots |
//!
//! One format on disk and on the wire: the bytes a consumer receives are the bytes in the
//! segment file, which is what lets a fetch be sent with `sendfile`.

pub mod batch;
pub mod compression;
pub mod epoch_cache;
pub mod producer;
pub mod record;
pub mod types;
pub mod varint;

pub use batch::{
    BatchError, BatchHeader, BatchInfo, BatchIter, HEADER_LEN, LOG_OVERHEAD, MAGIC, crc32c,
};
pub use compression::{Compression, CompressionError};
pub use epoch_cache::{EpochEntry, LeaderEpochCache};
pub use producer::{ProducerBatch, ProducerStates, SequenceCheck, SequenceError};
pub use record::{BatchBuilder, BatchRecords, Header, Record, RecordError, RecordIter, RecordView};
pub use types::{FilePos, LeaderEpoch, Offset, Timestamp};
