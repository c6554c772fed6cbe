//! The record-batch format, pure: encode, decode and validate over byte slices, no IO.
//!
//! | file          | owns                                                                  |
//! |---------------|-----------------------------------------------------------------------|
//! | [`batch`]     | the 61-byte RecordBatch v2 header, validation, CRC, offset stamping, iterating batches in a buffer |
//! | [`record`]    | varint-framed records inside a batch, the [`BatchBuilder`], reading records back ([`RecordIter`], [`BatchRecords`] for compressed batches) |
//! | [`compression`] | the codecs of a batch's records section (none, lz4, zstd) with Kafka's attribute codes; bounded decompression |
//! | [`varint`]    | zigzag varints and varlongs (protobuf style, as Kafka uses them)      |
//!
//! One format on disk and on the wire: the bytes a consumer receives are the bytes in the
//! segment file, which is what lets a fetch be sent with `sendfile`.

pub mod batch;
pub mod compression;
pub mod record;
pub mod varint;

pub use batch::{
    BatchError, BatchHeader, BatchInfo, BatchIter, HEADER_LEN, LOG_OVERHEAD, MAGIC, crc32c,
};
pub use compression::{Compression, CompressionError};
pub use record::{BatchBuilder, BatchRecords, Header, Record, RecordError, RecordIter, RecordView};
