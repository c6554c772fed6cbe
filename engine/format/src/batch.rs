//! RecordBatch v2 (magic 2), Kafka's format byte for byte. Big-endian throughout.
//!
//! | field                | offset | size | type | notes                                        |
//! |----------------------|-------:|-----:|------|----------------------------------------------|
//! | baseOffset           |      0 |    8 | i64  | stamped by the leader; outside the CRC       |
//! | batchLength          |      8 |    4 | i32  | bytes after this field (total - 12)          |
//! | partitionLeaderEpoch |     12 |    4 | i32  | stamped by the leader; outside the CRC       |
//! | magic                |     16 |    1 | i8   | always 2                                     |
//! | crc                  |     17 |    4 | u32  | CRC-32C of bytes 21..end (attributes to end) |
//! | attributes           |     21 |    2 | i16  | bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control |
//! | lastOffsetDelta      |     23 |    4 | i32  | recordCount - 1                              |
//! | baseTimestamp        |     27 |    8 | i64  | ms since the Unix epoch                      |
//! | maxTimestamp         |     35 |    8 | i64  |                                              |
//! | producerId           |     43 |    8 | i64  | -1 when not idempotent                       |
//! | producerEpoch        |     51 |    2 | i16  |                                              |
//! | baseSequence         |     53 |    4 | i32  |                                              |
//! | recordCount          |     57 |    4 | i32  |                                              |
//! | records              |     61 |    - |      | varint-framed, see [`super::record`]         |
//!
//! Because the CRC starts at `attributes`, the leader can stamp `baseOffset` and
//! `partitionLeaderEpoch` in place without recomputing it.

use std::ops::Range;

/// Where each header field starts, each derived from the one before.
pub const BASE_OFFSET_AT: usize = 0;
pub const BATCH_LENGTH_AT: usize = BASE_OFFSET_AT + 8;
pub const PARTITION_LEADER_EPOCH_AT: usize = BATCH_LENGTH_AT + 4;
pub const MAGIC_AT: usize = PARTITION_LEADER_EPOCH_AT + 4;
pub const CRC_AT: usize = MAGIC_AT + 1;
pub const ATTRIBUTES_AT: usize = CRC_AT + 4;
pub const LAST_OFFSET_DELTA_AT: usize = ATTRIBUTES_AT + 2;
pub const BASE_TIMESTAMP_AT: usize = LAST_OFFSET_DELTA_AT + 4;
pub const MAX_TIMESTAMP_AT: usize = BASE_TIMESTAMP_AT + 8;
pub const PRODUCER_ID_AT: usize = MAX_TIMESTAMP_AT + 8;
pub const PRODUCER_EPOCH_AT: usize = PRODUCER_ID_AT + 8;
pub const BASE_SEQUENCE_AT: usize = PRODUCER_EPOCH_AT + 2;
pub const RECORD_COUNT_AT: usize = BASE_SEQUENCE_AT + 4;
/// The length of the header; records start here.
pub const HEADER_LEN: usize = RECORD_COUNT_AT + 4;
/// Bytes that precede what `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = BATCH_LENGTH_AT + 4;
/// The only batch format ringlog reads or writes.
pub const MAGIC: i8 = 2;
/// Mask of the compression codec in `attributes` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub const COMPRESSION_MASK: i16 = 0x07;

const _: () = assert!(HEADER_LEN == 61);
const _: () = assert!(LOG_OVERHEAD == 12);
const _: () = assert!(CRC_AT == 17 && ATTRIBUTES_AT == 21);

/// Why a batch was refused. Each names the numbers involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input ends inside a batch.
    #[error("batch is truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    /// `batchLength` cannot hold even a header.
    #[error("batch length {batch_length} is below the minimum {min}")]
    LengthTooSmall { batch_length: i32, min: i32 },
    /// The batch is larger than the configured maximum.
    #[error("batch of {size} bytes exceeds max_batch_bytes {max}")]
    TooLarge { size: u64, max: u32 },
    /// Not a v2 batch.
    #[error("unsupported magic {magic}: only 2 is accepted")]
    BadMagic { magic: i8 },
    /// The stored CRC does not match the bytes.
    #[error("crc mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch { stored: u32, computed: u32 },
    /// A batch must hold at least one record.
    #[error("record count {record_count} is not positive")]
    BadRecordCount { record_count: i32 },
    /// `lastOffsetDelta` must be `recordCount - 1` (no compaction gaps in ringlog).
    #[error("last offset delta {last_offset_delta} does not match record count {record_count}")]
    OffsetDeltaMismatch {
        last_offset_delta: i32,
        record_count: i32,
    },
    /// `baseOffset` is negative.
    #[error("base offset {base_offset} is negative")]
    NegativeOffset { base_offset: i64 },
    /// `maxTimestamp` is below `baseTimestamp`.
    #[error("max timestamp {max_timestamp} is below base timestamp {base_timestamp}")]
    TimestampOrder {
        base_timestamp: i64,
        max_timestamp: i64,
    },
}

/// A decoded batch header. Decoding reads fields only; [`BatchHeader::validate`] and
/// [`validate_batch`] judge them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}
fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

impl BatchHeader {
    /// Decodes the header at the start of `buf`; `None` when fewer than [`HEADER_LEN`] bytes.
    #[inline]
    pub fn decode(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_AT),
            batch_length: be_i32(buf, BATCH_LENGTH_AT),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_AT),
            magic: buf[MAGIC_AT] as i8,
            crc: be_u32(buf, CRC_AT),
            attributes: be_i16(buf, ATTRIBUTES_AT),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_AT),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
            producer_id: be_i64(buf, PRODUCER_ID_AT),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(buf, BASE_SEQUENCE_AT),
            record_count: be_i32(buf, RECORD_COUNT_AT),
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf` (the CRC as stored in
    /// `self.crc`; see [`stamp_crc`] to compute it once the records are in place).
    #[inline]
    pub fn encode(&self, buf: &mut [u8]) {
        let buf = &mut buf[..HEADER_LEN];
        buf[BASE_OFFSET_AT..BATCH_LENGTH_AT].copy_from_slice(&self.base_offset.to_be_bytes());
        buf[BATCH_LENGTH_AT..PARTITION_LEADER_EPOCH_AT]
            .copy_from_slice(&self.batch_length.to_be_bytes());
        buf[PARTITION_LEADER_EPOCH_AT..MAGIC_AT]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        buf[MAGIC_AT] = self.magic as u8;
        buf[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&self.crc.to_be_bytes());
        buf[ATTRIBUTES_AT..LAST_OFFSET_DELTA_AT].copy_from_slice(&self.attributes.to_be_bytes());
        buf[LAST_OFFSET_DELTA_AT..BASE_TIMESTAMP_AT]
            .copy_from_slice(&self.last_offset_delta.to_be_bytes());
        buf[BASE_TIMESTAMP_AT..MAX_TIMESTAMP_AT]
            .copy_from_slice(&self.base_timestamp.to_be_bytes());
        buf[MAX_TIMESTAMP_AT..PRODUCER_ID_AT].copy_from_slice(&self.max_timestamp.to_be_bytes());
        buf[PRODUCER_ID_AT..PRODUCER_EPOCH_AT].copy_from_slice(&self.producer_id.to_be_bytes());
        buf[PRODUCER_EPOCH_AT..BASE_SEQUENCE_AT]
            .copy_from_slice(&self.producer_epoch.to_be_bytes());
        buf[BASE_SEQUENCE_AT..RECORD_COUNT_AT].copy_from_slice(&self.base_sequence.to_be_bytes());
        buf[RECORD_COUNT_AT..HEADER_LEN].copy_from_slice(&self.record_count.to_be_bytes());
    }

    /// The whole batch's size in bytes, from `batchLength`. Only meaningful once
    /// [`validate`](Self::validate) accepted the length.
    #[inline]
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// The offset of the batch's last record (inclusive).
    #[inline]
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset after the batch's last record.
    #[inline]
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// The compression codec from `attributes` (0 = none).
    #[inline]
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    /// Checks the header's own fields: length bounds, magic, record count against
    /// lastOffsetDelta, offsets, timestamps. Does not look at the CRC.
    #[inline]
    pub fn validate(&self, max_batch_bytes: u32) -> Result<(), BatchError> {
        let min = (HEADER_LEN - LOG_OVERHEAD) as i32;
        if self.batch_length < min {
            return Err(BatchError::LengthTooSmall {
                batch_length: self.batch_length,
                min,
            });
        }
        let size = self.total_len() as u64;
        if size > u64::from(max_batch_bytes) {
            return Err(BatchError::TooLarge {
                size,
                max: max_batch_bytes,
            });
        }
        if self.magic != MAGIC {
            return Err(BatchError::BadMagic { magic: self.magic });
        }
        if self.record_count <= 0 {
            return Err(BatchError::BadRecordCount {
                record_count: self.record_count,
            });
        }
        if i64::from(self.last_offset_delta) != i64::from(self.record_count) - 1 {
            return Err(BatchError::OffsetDeltaMismatch {
                last_offset_delta: self.last_offset_delta,
                record_count: self.record_count,
            });
        }
        if self.base_offset < 0
            || self
                .base_offset
                .checked_add(i64::from(self.last_offset_delta))
                .is_none()
        {
            return Err(BatchError::NegativeOffset {
                base_offset: self.base_offset,
            });
        }
        if self.max_timestamp < self.base_timestamp {
            return Err(BatchError::TimestampOrder {
                base_timestamp: self.base_timestamp,
                max_timestamp: self.max_timestamp,
            });
        }
        Ok(())
    }
}

/// CRC-32C of a whole batch's covered bytes (attributes to end). `batch` is exactly one batch.
#[inline]
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c(&batch[ATTRIBUTES_AT..])
}

/// CRC-32C (Castagnoli), the checksum of Kafka's record batches, computed by the `crc-fast`
/// crate: carry-less multiplication over AVX-512 (VPCLMULQDQ) where the CPU has it, SSE4.2 or
/// PCLMULQDQ where not, chosen at run time. On this project's machines that is 2-2.5x the
/// `crc32c` crate's SSE4.2 code for a 16 KiB to 1 MiB batch (`docs/storage.md`), and the
/// `crc32c` crate stays the reference it is tested against.
#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

/// Computes and stores the CRC of `batch` (exactly one batch, records in place).
#[inline]
pub fn stamp_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites `baseOffset` (outside the CRC) of the batch at the start of `batch`.
#[inline]
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_AT..BATCH_LENGTH_AT].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites `partitionLeaderEpoch` (outside the CRC) of the batch at the start of `batch`.
#[inline]
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_AT..MAGIC_AT].copy_from_slice(&epoch.to_be_bytes());
}

/// Sets the batch's producer id, producer epoch and base sequence (an idempotent producer's
/// batch, stamped again after an epoch bump) and its CRC, which covers them.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    batch[PRODUCER_ID_AT..PRODUCER_EPOCH_AT].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH_AT..BASE_SEQUENCE_AT].copy_from_slice(&epoch.to_be_bytes());
    batch[BASE_SEQUENCE_AT..RECORD_COUNT_AT].copy_from_slice(&base_sequence.to_be_bytes());
    stamp_crc(batch);
}

/// Validates the batch at the start of `buf` completely: header fields, that the buffer holds
/// all of it, and the CRC. Returns the header; the batch is `buf[..header.total_len()]`.
#[inline]
pub fn validate_batch(buf: &[u8], max_batch_bytes: u32) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::decode(buf).ok_or(BatchError::Truncated {
        needed: HEADER_LEN,
        available: buf.len(),
    })?;
    header.validate(max_batch_bytes)?;
    let len = header.total_len();
    if buf.len() < len {
        return Err(BatchError::Truncated {
            needed: len,
            available: buf.len(),
        });
    }
    let computed = compute_crc(&buf[..len]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// One validated batch inside a larger buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub header: BatchHeader,
    /// Where the batch lies in the buffer.
    pub range: Range<usize>,
}

/// Iterates the batches laid back to back in a buffer, validating each completely (CRC
/// included). Stops at the first error, which it yields once; an incomplete trailing batch is
/// [`BatchError::Truncated`].
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    max_batch_bytes: u32,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    #[inline]
    pub fn new(buf: &'a [u8], max_batch_bytes: u32) -> Self {
        BatchIter {
            buf,
            pos: 0,
            max_batch_bytes,
            failed: false,
        }
    }

    /// The position of the next batch to be read (or of the batch that failed).
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<BatchInfo, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match validate_batch(&self.buf[self.pos..], self.max_batch_bytes) {
            Ok(header) => {
                let range = self.pos..self.pos + header.total_len();
                self.pos = range.end;
                Some(Ok(BatchInfo { header, range }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid batch with `records` opaque bytes after the header (the header does not
    /// parse records, so any bytes do for these tests).
    fn raw_batch(record_count: i32, body: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN + body.len()];
        BatchHeader {
            base_offset: 0,
            batch_length: (HEADER_LEN - LOG_OVERHEAD + body.len()) as i32,
            partition_leader_epoch: -1,
            magic: MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: record_count - 1,
            base_timestamp: 1_000,
            max_timestamp: 2_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count,
        }
        .encode(&mut buf);
        buf[HEADER_LEN..].copy_from_slice(body);
        stamp_crc(&mut buf);
        buf
    }

    #[test]
    fn header_round_trips() {
        let buf = raw_batch(3, b"abc");
        let header = BatchHeader::decode(&buf).unwrap();
        let mut again = vec![0u8; HEADER_LEN];
        header.encode(&mut again);
        assert_eq!(&again[..], &buf[..HEADER_LEN]);
        assert_eq!(header.total_len(), buf.len());
        assert_eq!(header.last_offset(), 2);
    }

    #[test]
    fn stamping_offset_and_epoch_keeps_the_crc_valid() {
        let mut buf = raw_batch(2, b"xy");
        set_base_offset(&mut buf, 4096);
        set_partition_leader_epoch(&mut buf, 7);
        let header = validate_batch(&buf, 1 << 20).unwrap();
        assert_eq!(header.base_offset, 4096);
        assert_eq!(header.partition_leader_epoch, 7);
    }

    #[test]
    fn flipped_bit_is_a_crc_mismatch_naming_both_values() {
        let mut buf = raw_batch(1, b"hello");
        buf[HEADER_LEN + 1] ^= 0x10;
        let err = validate_batch(&buf, 1 << 20).unwrap_err();
        assert!(matches!(err, BatchError::CrcMismatch { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("crc mismatch (stored 0x"),
            "{err}"
        );
    }

    #[test]
    fn oversize_batch_is_refused_with_its_size() {
        let buf = raw_batch(1, &[0u8; 100]);
        let err = validate_batch(&buf, 100).unwrap_err();
        assert_eq!(
            err,
            BatchError::TooLarge {
                size: 161,
                max: 100
            }
        );
    }

    #[test]
    fn wrong_magic_is_refused() {
        let mut buf = raw_batch(1, b"m");
        buf[MAGIC_AT] = 1;
        assert_eq!(
            validate_batch(&buf, 1 << 20).unwrap_err(),
            BatchError::BadMagic { magic: 1 }
        );
    }

    #[test]
    fn delta_must_match_record_count() {
        let mut buf = raw_batch(3, b"abc");
        buf[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&5i32.to_be_bytes());
        stamp_crc(&mut buf);
        assert_eq!(
            validate_batch(&buf, 1 << 20).unwrap_err(),
            BatchError::OffsetDeltaMismatch {
                last_offset_delta: 5,
                record_count: 3
            }
        );
    }

    #[test]
    fn truncated_input_says_how_much_is_missing() {
        let buf = raw_batch(1, b"abcdef");
        let err = validate_batch(&buf[..buf.len() - 2], 1 << 20).unwrap_err();
        assert_eq!(
            err,
            BatchError::Truncated {
                needed: buf.len(),
                available: buf.len() - 2
            }
        );
    }

    #[test]
    fn iterator_walks_back_to_back_batches_and_stops_at_damage() {
        let mut buf = raw_batch(1, b"a");
        buf.extend(raw_batch(2, b"bb"));
        let second_at = HEADER_LEN + 1;
        buf.extend(raw_batch(1, b"c"));
        let third_at = buf.len() - HEADER_LEN - 1;
        buf[third_at + HEADER_LEN] ^= 1;
        let items: Vec<_> = BatchIter::new(&buf, 1 << 20).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap().range.start, second_at);
        assert!(matches!(items[2], Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The check value of CRC-32/ISCSI, and the empty input.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    proptest::proptest! {
        #[test]
        fn crc32c_matches_the_reference_crate(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5000),
            skip in 0usize..64,
        ) {
            // Every length and alignment the vector code splits on.
            let bytes = &bytes[skip.min(bytes.len())..];
            proptest::prop_assert_eq!(crc32c(bytes), ::crc32c::crc32c(bytes));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Some(header) = BatchHeader::decode(&bytes) {
                let _ = header.validate(1 << 20);
            }
            let _ = validate_batch(&bytes, 1 << 20);
            for item in BatchIter::new(&bytes, 1 << 20) {
                let _ = item;
            }
        }
    }
}
