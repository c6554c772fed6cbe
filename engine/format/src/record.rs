//! Records inside a RecordBatch v2: Kafka's record format byte for byte, the [`BatchBuilder`]
//! that writes a batch and the [`RecordIter`] that reads one back.
//!
//! | field           | size        | type    | notes                                             |
//! |-----------------|------------:|---------|---------------------------------------------------|
//! | length          |         1-5 | varint  | bytes of the record after this field              |
//! | attributes      |           1 | i8      | no bits defined: written 0, ignored on read (as Kafka does) |
//! | timestampDelta  |        1-10 | varlong | timestamp - baseTimestamp, wrapping (Java's `long` arithmetic) |
//! | offsetDelta     |         1-5 | varint  | offset - baseOffset; the i-th record's is i       |
//! | keyLength       |         1-5 | varint  | -1 = null key                                     |
//! | key             |   keyLength | bytes   |                                                   |
//! | valueLength     |         1-5 | varint  | -1 = null value                                   |
//! | value           | valueLength | bytes   |                                                   |
//! | headerCount     |         1-5 | varint  | not negative                                      |
//! | headers         |           - |         | headerCount times the four fields below           |
//! | - keyLength     |         1-5 | varint  | not negative: a header key is never null          |
//! | - key           |   keyLength | UTF-8   |                                                   |
//! | - valueLength   |         1-5 | varint  | -1 = null value                                   |
//! | - value         | valueLength | bytes   |                                                   |
//!
//! Integers are zigzag varints (see [`super::varint`]), so they have no byte order and every
//! field's offset depends on the ones before it: there is no offset column. Records follow the
//! 61-byte batch header back to back; the batch CRC (see [`super::batch`]) covers all of them.
//!
//! Reading is strict where Kafka's reader is lenient about things no writer produces: a length
//! below -1 is refused rather than read as null. [`RecordIter`] checks the framing of every
//! record (its fields take exactly `length` bytes), that the i-th record's offsetDelta is i, that
//! the batch holds exactly recordCount records with nothing after the last, and that header keys
//! are UTF-8. It does not check the CRC: [`super::batch::validate_batch`] (or
//! [`super::BatchIter`]) does, and is what the bytes should have passed first.
//!
//! A compressed batch (see [`super::compression`]) holds the same records, compressed as one
//! block after the header. [`BatchBuilder::with_compression`] writes one; [`BatchRecords`]
//! decompresses one (within a limit) and reads its records with the same [`RecordIter`]. In
//! errors about a compressed batch's records, byte positions count [`HEADER_LEN`] plus the
//! position in the *decompressed* records.

use std::iter::FusedIterator;

use std::borrow::Cow;

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC};
use super::compression::{self, Compression, CompressionError};
use super::varint::{
    VARINT_LEN_MAX, VarintError, get_varint, get_varlong, put_varint, put_varlong, varint_len,
    varlong_len,
};

/// The length that stands for a null key or value.
const NULL_LEN: i32 = -1;
/// The attributes every record is written with: Kafka defines no record-level bits.
const RECORD_ATTRIBUTES: u8 = 0;
/// The largest batch: `batchLength`, which counts all but [`LOG_OVERHEAD`], is an `i32`.
const BATCH_LEN_MAX: usize = LOG_OVERHEAD + i32::MAX as usize;

/// Header fields a builder writes that have no producer or leader behind them yet.
const PARTITION_LEADER_EPOCH_UNSET: i32 = -1;
const PRODUCER_ID_NONE: i64 = -1;
const PRODUCER_EPOCH_NONE: i16 = -1;
const BASE_SEQUENCE_NONE: i32 = -1;

/// One record header: a UTF-8 key and an optional value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
}

/// A record to append with [`BatchBuilder::push`]. `None` key or value is Kafka's null, which is
/// not the same as an empty one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header<'a>],
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// Builds one batch: header and records, compressed with the builder's codec when it is
/// finished (none by default), CRC stamped.
///
/// The header's baseOffset is 0 and partitionLeaderEpoch -1 until the leader stamps them (see
/// [`batch::set_base_offset`]); the batch is not transactional, and not idempotent (producerId,
/// producerEpoch and baseSequence are -1) unless [`with_producer`](Self::with_producer) says
/// whose it is.
#[derive(Clone, Debug)]
pub struct BatchBuilder {
    /// [`HEADER_LEN`] bytes for the header, written when the batch is finished, then the records,
    /// uncompressed until then.
    buf: Vec<u8>,
    /// The codec [`seal`](Self::seal) compresses the records with.
    compression: Compression,
    record_count: i32,
    /// The first record's timestamp; meaningless while empty.
    base_timestamp: i64,
    /// The largest record timestamp; meaningless while empty.
    max_timestamp: i64,
    /// The idempotent producer's id, epoch and the sequence of the batch's first record.
    producer: Option<(i64, i16, i32)>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty builder.
    #[inline]
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty builder that holds `bytes` of batch (header included) before it reallocates.
    #[inline]
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_LEN));
        buf.resize(HEADER_LEN, 0);
        let builder = BatchBuilder {
            buf,
            compression: Compression::None,
            record_count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer: None,
        };
        builder.check_invariants();
        builder
    }

    /// The same builder, compressing the records with `compression` when the batch is finished.
    #[must_use]
    #[inline]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The same builder, its batch an idempotent producer's: `producer_id` at `epoch`, its
    /// first record numbered `base_sequence` (the next ones follow). The partition's leader
    /// appends a batch of a given producer, epoch and sequences once, however often it is sent.
    #[must_use]
    #[inline]
    pub fn with_producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = Some((producer_id, epoch, base_sequence));
        self
    }

    /// The codec the batch will be compressed with.
    #[inline]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Appends `record` with the next offset delta. The first record's timestamp becomes the
    /// batch's baseTimestamp; maxTimestamp is the largest of all.
    ///
    /// Panics if the batch would outgrow `batchLength` (an `i32`): callers cap batches far below
    /// that (`max_batch_bytes`), so reaching it is a bug.
    #[inline]
    pub fn push(&mut self, record: &Record<'_>) {
        let offset_delta = self.record_count;
        assert!(
            offset_delta < i32::MAX,
            "batch already holds {offset_delta} records, the most recordCount can say"
        );
        let base_timestamp = if self.is_empty() {
            record.timestamp
        } else {
            self.base_timestamp
        };
        let timestamp_delta = record.timestamp.wrapping_sub(base_timestamp);
        let body_len = body_len(record, timestamp_delta, offset_delta);
        // Every length inside the record is smaller than the batch, so this check keeps each of
        // them within its i32 varint too.
        let body_len_i32 = i32::try_from(body_len)
            .ok()
            .filter(|&len| varint_len(len) + body_len <= BATCH_LEN_MAX - self.buf.len());
        let Some(body_len_i32) = body_len_i32 else {
            panic!(
                "record of {body_len} bytes does not fit a batch of {} bytes: batchLength is an i32",
                self.buf.len()
            );
        };

        let record_at = self.buf.len();
        put_varint(&mut self.buf, body_len_i32);
        let body_at = self.buf.len();
        put_body(&mut self.buf, record, timestamp_delta, offset_delta);
        debug_assert_eq!(
            self.buf.len() - body_at,
            body_len,
            "record {offset_delta} at byte {record_at}: written length differs from computed"
        );

        self.record_count += 1;
        self.base_timestamp = base_timestamp;
        self.max_timestamp = if offset_delta == 0 {
            record.timestamp
        } else {
            self.max_timestamp.max(record.timestamp)
        };
        self.check_invariants();
    }

    /// The number of records pushed so far.
    #[inline]
    pub fn record_count(&self) -> usize {
        usize::try_from(self.record_count).expect("record count is never negative")
    }

    /// The size in bytes of the batch [`finish`](Self::finish) would return now, before
    /// compression: exact for an uncompressed batch; for a compressed one, the size its header
    /// and records take uncompressed (what a producer counts against its batch and buffer
    /// limits).
    #[inline]
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether no record has been pushed (a batch needs at least one).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The complete batch: header and records, CRC stamped.
    ///
    /// Panics if no record was pushed: an empty batch is invalid, so finishing one is a bug.
    #[must_use]
    #[inline]
    pub fn finish(mut self) -> Vec<u8> {
        self.seal();
        self.buf
    }

    /// Appends the complete batch to `out` and empties the builder for the next batch, keeping
    /// its allocation (and its producer, whose next batch's sequence follows this one's).
    ///
    /// Panics if no record was pushed, as [`finish`](Self::finish) does.
    #[inline]
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.seal();
        out.extend_from_slice(&self.buf);
        self.buf.truncate(HEADER_LEN);
        if let Some((_, _, sequence)) = &mut self.producer {
            // Sequences wrap from i32::MAX to 0.
            *sequence = ((i64::from(*sequence) + i64::from(self.record_count))
                % (i64::from(i32::MAX) + 1)) as i32;
        }
        self.record_count = 0;
        self.base_timestamp = 0;
        self.max_timestamp = 0;
        self.check_invariants();
    }

    /// Compresses the records in place, writes the header over the first [`HEADER_LEN`] bytes
    /// and stamps the CRC (over the compressed bytes, as Kafka does).
    fn seal(&mut self) {
        assert!(
            !self.is_empty(),
            "finishing an empty BatchBuilder: a batch holds at least one record"
        );
        if self.compression != Compression::None {
            let mut compressed = Vec::with_capacity(self.buf.len());
            compressed.extend_from_slice(&self.buf[..HEADER_LEN]);
            compression::compress(self.compression, &self.buf[HEADER_LEN..], &mut compressed);
            self.buf = compressed;
        }
        let Ok(batch_length) = i32::try_from(self.buf.len() - LOG_OVERHEAD) else {
            panic!(
                "{} batch of {} bytes does not fit batchLength, an i32",
                self.compression,
                self.buf.len()
            );
        };
        BatchHeader {
            base_offset: 0,
            batch_length,
            partition_leader_epoch: PARTITION_LEADER_EPOCH_UNSET,
            magic: MAGIC,
            crc: 0,
            attributes: self.compression.attribute_code(),
            last_offset_delta: self.record_count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer.map_or(PRODUCER_ID_NONE, |p| p.0),
            producer_epoch: self.producer.map_or(PRODUCER_EPOCH_NONE, |p| p.1),
            base_sequence: self.producer.map_or(BASE_SEQUENCE_NONE, |p| p.2),
            record_count: self.record_count,
        }
        .encode(&mut self.buf);
        batch::stamp_crc(&mut self.buf);
        // Check on the way out. Debug builds only: it recomputes the CRC.
        debug_assert_eq!(
            batch::validate_batch(&self.buf, u32::MAX).map(|_| ()),
            Ok(()),
            "BatchBuilder produced an invalid batch"
        );
    }

    fn check_invariants(&self) {
        debug_assert!(
            self.buf.len() >= HEADER_LEN,
            "builder buffer of {} bytes is shorter than the header",
            self.buf.len()
        );
        debug_assert!(
            self.buf.len() <= BATCH_LEN_MAX,
            "builder buffer of {} bytes exceeds the batch maximum",
            self.buf.len()
        );
        debug_assert!(
            self.record_count >= 0,
            "record count {} is negative",
            self.record_count
        );
        debug_assert!(
            self.record_count > 0 || self.buf.len() == HEADER_LEN,
            "empty builder holds {} bytes",
            self.buf.len()
        );
        debug_assert!(
            self.max_timestamp >= self.base_timestamp,
            "max timestamp {} is below base timestamp {}",
            self.max_timestamp,
            self.base_timestamp
        );
    }
}

/// The bytes of a record after its length field.
fn body_len(record: &Record<'_>, timestamp_delta: i64, offset_delta: i32) -> usize {
    let headers: usize = record
        .headers
        .iter()
        .map(|header| bytes_len(header.key.len()) + nullable_len(header.value))
        .sum();
    size_of_val(&RECORD_ATTRIBUTES)
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(record.key)
        + nullable_len(record.value)
        + length_varint_len(record.headers.len())
        + headers
}

/// Writes the fields after the length, in the order of the module table.
fn put_body(buf: &mut Vec<u8>, record: &Record<'_>, timestamp_delta: i64, offset_delta: i32) {
    buf.push(RECORD_ATTRIBUTES);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_nullable(buf, record.key);
    put_nullable(buf, record.value);
    put_varint(buf, length_i32(record.headers.len()));
    for header in record.headers {
        put_bytes(buf, header.key.as_bytes());
        put_nullable(buf, header.value);
    }
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, length_i32(bytes.len()));
    buf.extend_from_slice(bytes);
}

fn put_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => put_bytes(buf, bytes),
        None => put_varint(buf, NULL_LEN),
    }
}

fn bytes_len(len: usize) -> usize {
    length_varint_len(len) + len
}

fn nullable_len(bytes: Option<&[u8]>) -> usize {
    bytes.map_or(varint_len(NULL_LEN), |bytes| bytes_len(bytes.len()))
}

/// The size of a length field. A length beyond `i32` cannot be written; counting it as the
/// longest varint lets `push` refuse the record with its size rather than fail here.
fn length_varint_len(len: usize) -> usize {
    i32::try_from(len).map_or(VARINT_LEN_MAX, varint_len)
}

fn length_i32(len: usize) -> i32 {
    i32::try_from(len).expect("push checked that every length fits the batch")
}

/// Why records could not be read from a batch. Positions are byte positions within the batch
/// (the header starts at 0); `index` is the record's place in the batch, from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The batch header is missing or fails [`BatchHeader::validate`].
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The slice is not exactly the one batch its header describes.
    #[error("batch length mismatch: header says {declared} bytes, the slice holds {actual}")]
    BatchLengthMismatch { declared: usize, actual: usize },
    /// [`RecordIter::new`] reads uncompressed batches only; [`BatchRecords`] decompresses.
    #[error("compressed batch (codec {codec}): only uncompressed records can be read")]
    Compressed { codec: i16 },
    /// A compressed batch's codec is not supported, or its records do not decompress within
    /// the limit.
    #[error(transparent)]
    Decompress(#[from] CompressionError),
    /// A field, or the record itself, runs past the end of what holds it: the record's
    /// length (for fields) or the batch (for the record).
    #[error(
        "record {index} at byte {position}: {field} is truncated: needs at least {needed} bytes, {available} left"
    )]
    Truncated {
        index: usize,
        position: usize,
        field: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length is negative (and, for a nullable field, not -1).
    #[error("record {index} at byte {position}: bad {field} length {length}")]
    BadLength {
        index: usize,
        position: usize,
        field: &'static str,
        length: i32,
    },
    /// The header count is negative.
    #[error("record {index} at byte {position}: header count {count} is negative")]
    BadHeaderCount {
        index: usize,
        position: usize,
        count: i32,
    },
    /// A varint or varlong field is malformed.
    #[error("record {index} at byte {position}: bad varint in {field}: {source}")]
    Varint {
        index: usize,
        position: usize,
        field: &'static str,
        #[source]
        source: VarintError,
    },
    /// The record's fields end before its length says it does.
    #[error(
        "record {index} at byte {position}: length says {declared} bytes, its fields take {consumed}"
    )]
    LengthMismatch {
        index: usize,
        position: usize,
        declared: usize,
        consumed: usize,
    },
    /// The i-th record's offsetDelta is not i.
    #[error("offset delta out of order: record {index} has delta {delta}")]
    OffsetDeltaOutOfOrder { index: usize, delta: i32 },
    /// The records end before recordCount of them were read.
    #[error("record count mismatch: header says {expected}, found {found}")]
    CountMismatch { expected: usize, found: usize },
    /// Bytes follow the last record recordCount allows.
    #[error("{count} trailing bytes at byte {position}, after the last record")]
    TrailingBytes { position: usize, count: usize },
    /// A header key is not UTF-8.
    #[error("record {index}: key of header {header} at byte {position} is not utf-8")]
    HeaderKeyNotUtf8 {
        index: usize,
        header: usize,
        position: usize,
    },
}

/// A record read from a batch, borrowing its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// baseOffset + offsetDelta.
    pub offset: i64,
    /// baseTimestamp + timestampDelta (wrapping, as it was written).
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The record's headers, unread: an iterator that has not started.
    headers: HeaderIter<'a>,
}

impl<'a> RecordView<'a> {
    /// The record's headers in order. [`RecordIter`] checked them when it yielded this view, so
    /// the items are `Ok`; the `Result` keeps the decoding panic-free all the same.
    #[inline]
    pub fn headers(&self) -> HeaderIter<'a> {
        self.headers.clone()
    }

    /// The number of headers.
    #[inline]
    pub fn header_count(&self) -> usize {
        self.headers.header_count
    }
}

/// The headers of one record: `(key, value)` pairs. Stops after the first error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderIter<'a> {
    cursor: Cursor<'a>,
    header_count: usize,
    /// The next header to read, from 0.
    next_header: usize,
    failed: bool,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Result<(&'a str, Option<&'a [u8]>), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next_header == self.header_count {
            return None;
        }
        let item = self.decode_header();
        match item {
            Ok(_) => self.next_header += 1,
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

impl FusedIterator for HeaderIter<'_> {}

impl<'a> HeaderIter<'a> {
    fn decode_header(&mut self) -> Result<(&'a str, Option<&'a [u8]>), RecordError> {
        let key_at = self.cursor.position();
        let key = self.cursor.bytes(&HEADER_KEY)?;
        let key = std::str::from_utf8(key).map_err(|_| RecordError::HeaderKeyNotUtf8 {
            index: self.cursor.index,
            header: self.next_header,
            position: key_at,
        })?;
        let value = self.cursor.nullable(&HEADER_VALUE)?;
        Ok((key, value))
    }
}

/// Reads the records of one uncompressed batch, checking them as it goes (see the module
/// doc). Stops after the first error, which it yields once.
#[derive(Clone, Debug)]
pub struct RecordIter<'a> {
    header: BatchHeader,
    /// The batch from [`HEADER_LEN`] on.
    records: &'a [u8],
    /// Where the next record starts in `records`.
    pos: usize,
    /// The next record's index, from 0.
    index: usize,
    record_count: usize,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Reads the header of `batch`, which must be exactly one batch, and checks its fields
    /// ([`BatchHeader::validate`]), its length against the slice, and that it is uncompressed.
    /// The CRC is not checked here (see the module doc).
    #[inline]
    pub fn new(batch: &'a [u8]) -> Result<RecordIter<'a>, RecordError> {
        let header = BatchHeader::decode(batch).ok_or(BatchError::Truncated {
            needed: HEADER_LEN,
            available: batch.len(),
        })?;
        // No size limit here: whoever accepted the bytes applied max_batch_bytes.
        header.validate(u32::MAX)?;
        if header.total_len() != batch.len() {
            return Err(RecordError::BatchLengthMismatch {
                declared: header.total_len(),
                actual: batch.len(),
            });
        }
        let codec = header.compression();
        if codec != 0 {
            return Err(RecordError::Compressed { codec });
        }
        Ok(RecordIter::over_records(header, &batch[HEADER_LEN..]))
    }

    /// Reads `records`, the records section of a batch whose `header` passed
    /// [`BatchHeader::validate`]: the bytes after the header, decompressed if the batch is
    /// compressed. How a caller with its own buffers (a client keeping decompressed records in
    /// a shared buffer) reads a compressed batch; [`BatchRecords`] does it for everyone else.
    ///
    /// Panics if `header.record_count` is below 1, which `validate` refuses.
    #[inline]
    pub fn over_records(header: BatchHeader, records: &'a [u8]) -> RecordIter<'a> {
        let record_count =
            usize::try_from(header.record_count).expect("validate refuses a count below 1");
        assert!(
            record_count > 0,
            "record count {record_count}: validate refuses a count below 1"
        );
        RecordIter {
            header,
            records,
            pos: 0,
            index: 0,
            record_count,
            failed: false,
        }
    }

    /// The batch's header.
    #[inline]
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    fn next_result(&mut self) -> Option<Result<RecordView<'a>, RecordError>> {
        let left = self.records.len() - self.pos;
        if self.index == self.record_count {
            if left == 0 {
                return None;
            }
            return Some(Err(RecordError::TrailingBytes {
                position: HEADER_LEN + self.pos,
                count: left,
            }));
        }
        if left == 0 {
            return Some(Err(RecordError::CountMismatch {
                expected: self.record_count,
                found: self.index,
            }));
        }
        Some(self.decode_record())
    }

    /// Decodes the record at `pos` and moves past it.
    fn decode_record(&mut self) -> Result<RecordView<'a>, RecordError> {
        let mut framing = Cursor {
            buf: self.records,
            pos: self.pos,
            origin: HEADER_LEN,
            index: self.index,
        };
        let record_at = framing.position();
        let body = framing.bytes(&RECORD)?;
        self.pos = framing.pos;
        let body_at = framing.position() - body.len();

        let mut cursor = Cursor {
            buf: body,
            pos: 0,
            origin: body_at,
            index: self.index,
        };
        let view = self.decode_body(&mut cursor)?;
        if cursor.pos != body.len() {
            return Err(RecordError::LengthMismatch {
                index: self.index,
                position: record_at,
                declared: body.len(),
                consumed: cursor.pos,
            });
        }
        Ok(view)
    }

    /// Decodes the fields after the length; `cursor` ends where the record's fields end.
    fn decode_body(&self, cursor: &mut Cursor<'a>) -> Result<RecordView<'a>, RecordError> {
        cursor.take(size_of_val(&RECORD_ATTRIBUTES), "attributes")?;
        let timestamp_delta = cursor.varlong("timestamp delta")?;
        let offset_delta = cursor.varint("offset delta")?;
        if usize::try_from(offset_delta) != Ok(self.index) {
            return Err(RecordError::OffsetDeltaOutOfOrder {
                index: self.index,
                delta: offset_delta,
            });
        }
        let key = cursor.nullable(&KEY)?;
        let value = cursor.nullable(&VALUE)?;
        let count_at = cursor.position();
        let count = cursor.varint("header count")?;
        let header_count = usize::try_from(count).map_err(|_| RecordError::BadHeaderCount {
            index: self.index,
            position: count_at,
            count,
        })?;
        let headers = HeaderIter {
            cursor: cursor.rest(),
            header_count,
            next_header: 0,
            failed: false,
        };
        // Walk the headers now, so a damaged one fails the record and the framing check below
        // sees where they end.
        let mut walk = headers.clone();
        for item in walk.by_ref() {
            item?;
        }
        cursor.pos += walk.cursor.pos;
        Ok(RecordView {
            // validate() checked baseOffset + lastOffsetDelta fits, and offsetDelta < recordCount.
            offset: self.header.base_offset + i64::from(offset_delta),
            timestamp: self.header.base_timestamp.wrapping_add(timestamp_delta),
            key,
            value,
            headers,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_result()?;
        match item {
            Ok(_) => self.index += 1,
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

impl FusedIterator for RecordIter<'_> {}

/// The records of one batch, compressed or not: checks the header as [`RecordIter::new`]
/// does, decompresses the records once (refusing more than a limit), then reads them with
/// [`iter`](Self::iter). The CRC is not checked here: validate the batch first.
#[derive(Clone, Debug)]
pub struct BatchRecords<'a> {
    header: BatchHeader,
    compression: Compression,
    /// The records section: borrowed from the batch when uncompressed.
    records: Cow<'a, [u8]>,
}

impl<'a> BatchRecords<'a> {
    /// Reads the header of `batch`, which must be exactly one batch, and decompresses its
    /// records, refusing them when they would take more than `max_decompressed_bytes`
    /// ([`CompressionError::TooLarge`]) or use a codec ringlog does not read
    /// ([`CompressionError::UnsupportedCodec`]).
    #[inline]
    pub fn new(batch: &'a [u8], max_decompressed_bytes: usize) -> Result<Self, RecordError> {
        let header = BatchHeader::decode(batch).ok_or(BatchError::Truncated {
            needed: HEADER_LEN,
            available: batch.len(),
        })?;
        header.validate(u32::MAX)?;
        if header.total_len() != batch.len() {
            return Err(RecordError::BatchLengthMismatch {
                declared: header.total_len(),
                actual: batch.len(),
            });
        }
        let compression = Compression::from_attributes(header.attributes)?;
        let section = &batch[HEADER_LEN..];
        let records = match compression {
            Compression::None => Cow::Borrowed(section),
            codec => Cow::Owned(compression::decompress(
                codec,
                section,
                max_decompressed_bytes,
            )?),
        };
        Ok(BatchRecords {
            header,
            compression,
            records,
        })
    }

    /// The batch's header.
    #[inline]
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The codec the batch was compressed with.
    #[inline]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The records section, decompressed.
    #[inline]
    pub fn records_bytes(&self) -> &[u8] {
        &self.records
    }

    /// Reads the records, checking them as [`RecordIter`] does.
    #[inline]
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter::over_records(self.header, &self.records)
    }
}

/// The names of a length-prefixed field, for error messages.
struct Field {
    length: &'static str,
    bytes: &'static str,
}

const RECORD: Field = Field {
    length: "record length",
    bytes: "record",
};
const KEY: Field = Field {
    length: "key length",
    bytes: "key",
};
const VALUE: Field = Field {
    length: "value length",
    bytes: "value",
};
const HEADER_KEY: Field = Field {
    length: "header key length",
    bytes: "header key",
};
const HEADER_VALUE: Field = Field {
    length: "header value length",
    bytes: "header value",
};

/// Reads fields of record `index` from `buf`, which starts at byte `origin` of the batch. Every
/// read checks the bytes are there, so no input makes it panic.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    origin: usize,
    index: usize,
}

impl<'a> Cursor<'a> {
    /// The batch position of the next byte.
    fn position(&self) -> usize {
        self.origin + self.pos
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A cursor over what this one has not read yet.
    fn rest(&self) -> Cursor<'a> {
        Cursor {
            buf: &self.buf[self.pos..],
            pos: 0,
            origin: self.position(),
            index: self.index,
        }
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if len > self.left() {
            return Err(RecordError::Truncated {
                index: self.index,
                position: self.position(),
                field,
                needed: len,
                available: self.left(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let decoded = get_varint(&self.buf[self.pos..]);
        self.advance(decoded, field)
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let decoded = get_varlong(&self.buf[self.pos..]);
        self.advance(decoded, field)
    }

    fn advance<T>(
        &mut self,
        decoded: Result<Option<(T, usize)>, VarintError>,
        field: &'static str,
    ) -> Result<T, RecordError> {
        match decoded {
            Ok(Some((value, len))) => {
                self.pos += len;
                Ok(value)
            }
            // The varint is cut short: it needs at least one byte more than is left.
            Ok(None) => Err(RecordError::Truncated {
                index: self.index,
                position: self.position(),
                field,
                needed: self.left() + 1,
                available: self.left(),
            }),
            Err(source) => Err(RecordError::Varint {
                index: self.index,
                position: self.position(),
                field,
                source,
            }),
        }
    }

    /// A length-prefixed field whose length must not be negative.
    fn bytes(&mut self, field: &Field) -> Result<&'a [u8], RecordError> {
        let length_at = self.position();
        let length = self.varint(field.length)?;
        self.take_length(length, length_at, field)
    }

    /// A length-prefixed field where length -1 is null.
    fn nullable(&mut self, field: &Field) -> Result<Option<&'a [u8]>, RecordError> {
        let length_at = self.position();
        let length = self.varint(field.length)?;
        if length == NULL_LEN {
            return Ok(None);
        }
        self.take_length(length, length_at, field).map(Some)
    }

    /// Takes the `length` bytes a length field read at `length_at` counts.
    fn take_length(
        &mut self,
        length: i32,
        length_at: usize,
        field: &Field,
    ) -> Result<&'a [u8], RecordError> {
        let len = usize::try_from(length).map_err(|_| RecordError::BadLength {
            index: self.index,
            position: length_at,
            field: field.bytes,
            length,
        })?;
        self.take(len, field.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchIter;
    use crate::batch::{ATTRIBUTES_AT, BASE_TIMESTAMP_AT, LAST_OFFSET_DELTA_AT, RECORD_COUNT_AT};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn record<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>, timestamp: i64) -> Record<'a> {
        Record {
            key,
            value,
            headers: &[],
            timestamp,
        }
    }

    fn build(records: &[Record<'_>]) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for record in records {
            builder.push(record);
        }
        builder.finish()
    }

    /// Decodes every record, panicking on the first error.
    fn read(batch: &[u8]) -> Vec<RecordView<'_>> {
        RecordIter::new(batch)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The first error reading `batch` yields, and that it is the last item.
    fn first_error(batch: &[u8]) -> RecordError {
        let mut iter = RecordIter::new(batch).unwrap();
        let err = iter.by_ref().find_map(Result::err).expect("an error");
        assert!(iter.next().is_none(), "the iterator stops after an error");
        err
    }

    /// Rewrites a header field and keeps the CRC right, as a writer that meant it would.
    fn patch_i32(batch: &mut [u8], at: usize, value: i32) {
        batch[at..at + 4].copy_from_slice(&value.to_be_bytes());
        batch::stamp_crc(batch);
    }

    /// CRC-32C computed bit by bit, independent of the `crc32c` crate.
    fn crc32c_bitwise(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn one_record_batch_matches_kafka_bytes() {
        assert_eq!(crc32c_bitwise(b"123456789"), 0xe306_9283);
        let mut expected = Vec::new();
        expected.extend(0i64.to_be_bytes()); // baseOffset
        expected.extend(58i32.to_be_bytes()); // batchLength: 70 bytes in all, less 12
        expected.extend((-1i32).to_be_bytes()); // partitionLeaderEpoch
        expected.push(2); // magic
        expected.extend([0; 4]); // crc, computed below
        expected.extend(0i16.to_be_bytes()); // attributes
        expected.extend(0i32.to_be_bytes()); // lastOffsetDelta
        expected.extend(0i64.to_be_bytes()); // baseTimestamp
        expected.extend(0i64.to_be_bytes()); // maxTimestamp
        expected.extend((-1i64).to_be_bytes()); // producerId
        expected.extend((-1i16).to_be_bytes()); // producerEpoch
        expected.extend((-1i32).to_be_bytes()); // baseSequence
        expected.extend(1i32.to_be_bytes()); // recordCount
        assert_eq!(expected.len(), 61);
        expected.extend([
            0x10, // length 8, zigzag 16
            0x00, // attributes
            0x00, // timestampDelta 0
            0x00, // offsetDelta 0
            0x02, b'k', // keyLength 1 (zigzag 2), key
            0x02, b'v', // valueLength 1, value
            0x00, // headerCount 0
        ]);
        let crc = crc32c_bitwise(&expected[21..]);
        expected[17..21].copy_from_slice(&crc.to_be_bytes());

        let batch = build(&[record(Some(b"k"), Some(b"v"), 0)]);
        assert_eq!(batch, expected);
    }

    #[test]
    fn second_record_with_header_and_null_value_matches_kafka_bytes() {
        let headers = [Header {
            key: "h",
            value: None,
        }];
        let second = Record {
            key: Some(b"k"),
            value: None,
            headers: &headers,
            timestamp: 5,
        };
        let batch = build(&[record(None, None, 10), second]);
        let expected = [
            // first record
            0x0c, // length 6 (zigzag 12)
            0x00, // attributes
            0x00, // timestampDelta 0
            0x00, // offsetDelta 0
            0x01, // keyLength -1: null
            0x01, // valueLength -1: null
            0x00, // headerCount 0
            // second record
            0x14, // length 10 (zigzag 20)
            0x00, // attributes
            0x09, // timestampDelta 5 - 10 = -5 (zigzag 9)
            0x02, // offsetDelta 1
            0x02, b'k', // keyLength 1, key
            0x01, // valueLength -1: null
            0x02, // headerCount 1
            0x02, b'h', // header keyLength 1, key
            0x01, // header valueLength -1: null
        ];
        assert_eq!(&batch[HEADER_LEN..], &expected[..]);
    }

    #[test]
    fn built_batch_passes_validation_with_the_right_header() {
        let batch = build(&[
            record(Some(b"a"), Some(b"1"), 1_000),
            record(Some(b"b"), Some(b"2"), 3_000),
            record(Some(b"c"), Some(b"3"), 2_000),
        ]);
        let header = batch::validate_batch(&batch, u32::MAX).unwrap();
        assert_eq!(header.total_len(), batch.len());
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 3_000);
        assert_eq!(header.base_offset, 0);
        assert_eq!(header.partition_leader_epoch, -1);
        assert_eq!(header.magic, MAGIC);
        assert_eq!(header.attributes, 0);
        assert_eq!(header.producer_id, -1);
        assert_eq!(header.producer_epoch, -1);
        assert_eq!(header.base_sequence, -1);
    }

    #[test]
    fn key_and_value_round_trip() {
        let batch = build(&[record(Some(b"key"), Some(b"value"), 7)]);
        let views = read(&batch);
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].key, Some(&b"key"[..]));
        assert_eq!(views[0].value, Some(&b"value"[..]));
        assert_eq!(views[0].timestamp, 7);
        assert_eq!(views[0].offset, 0);
        assert_eq!(views[0].headers().count(), 0);
    }

    #[test]
    fn null_key_round_trips() {
        let batch = build(&[record(None, Some(b"v"), 0)]);
        assert_eq!(read(&batch)[0].key, None);
    }

    #[test]
    fn null_value_round_trips() {
        let batch = build(&[record(Some(b"k"), None, 0)]);
        assert_eq!(read(&batch)[0].value, None);
    }

    #[test]
    fn empty_key_and_value_are_not_null() {
        let batch = build(&[record(Some(b""), Some(b""), 0)]);
        let views = read(&batch);
        assert_eq!(views[0].key, Some(&b""[..]));
        assert_eq!(views[0].value, Some(&b""[..]));
    }

    #[test]
    fn headers_round_trip() {
        let headers = [
            Header {
                key: "trace-id",
                value: Some(b"abc"),
            },
            Header {
                key: "",
                value: Some(b""),
            },
            Header {
                key: "gr\u{fc}n",
                value: None,
            },
        ];
        let batch = build(&[Record {
            key: None,
            value: Some(b"v"),
            headers: &headers,
            timestamp: 0,
        }]);
        let views = read(&batch);
        assert_eq!(views[0].header_count(), 3);
        let read_back: Vec<_> = views[0].headers().map(Result::unwrap).collect();
        let written: Vec<_> = headers.iter().map(|h| (h.key, h.value)).collect();
        assert_eq!(read_back, written);
    }

    #[test]
    fn negative_timestamp_delta_round_trips() {
        let batch = build(&[record(None, None, 5_000), record(None, None, 4_000)]);
        let timestamps: Vec<_> = read(&batch).iter().map(|v| v.timestamp).collect();
        assert_eq!(timestamps, [5_000, 4_000]);
        let header = BatchHeader::decode(&batch).unwrap();
        assert_eq!(header.base_timestamp, 5_000);
        assert_eq!(header.max_timestamp, 5_000);
    }

    #[test]
    fn extreme_timestamps_round_trip_through_a_wrapping_delta() {
        let batch = build(&[record(None, None, i64::MIN), record(None, None, i64::MAX)]);
        let timestamps: Vec<_> = read(&batch).iter().map(|v| v.timestamp).collect();
        assert_eq!(timestamps, [i64::MIN, i64::MAX]);
    }

    #[test]
    fn offsets_count_up_from_the_stamped_base_offset() {
        let mut batch = build(&[record(None, None, 0), record(None, None, 0)]);
        batch::set_base_offset(&mut batch, 4096);
        let offsets: Vec<_> = read(&batch).iter().map(|v| v.offset).collect();
        assert_eq!(offsets, [4096, 4097]);
    }

    #[test]
    fn size_bytes_is_the_finished_length() {
        let mut builder = BatchBuilder::with_capacity(1024);
        assert_eq!(builder.size_bytes(), HEADER_LEN);
        assert!(builder.is_empty());
        builder.push(&record(Some(b"k"), Some(&[7; 300]), 1));
        builder.push(&record(None, None, 2));
        assert_eq!(builder.record_count(), 2);
        assert!(!builder.is_empty());
        let size = builder.size_bytes();
        assert_eq!(builder.finish().len(), size);
    }

    #[test]
    fn finish_into_appends_and_resets_the_builder() {
        let mut builder = BatchBuilder::with_capacity(256);
        let mut out = b"prefix".to_vec();
        builder.push(&record(Some(b"a"), None, 1));
        builder.finish_into(&mut out);
        assert!(builder.is_empty());
        assert_eq!(builder.size_bytes(), HEADER_LEN);
        let capacity = builder.buf.capacity();
        builder.push(&record(Some(b"b"), None, 9));
        builder.push(&record(Some(b"c"), None, 8));
        builder.finish_into(&mut out);
        assert_eq!(builder.buf.capacity(), capacity, "the allocation is kept");

        let batches: Vec<_> = BatchIter::new(&out[6..], u32::MAX)
            .map(Result::unwrap)
            .collect();
        assert_eq!(batches.len(), 2);
        let second = &out[6..][batches[1].range.clone()];
        assert_eq!(batches[1].header.base_timestamp, 9);
        let keys: Vec<_> = read(second).iter().map(|v| v.key.unwrap()).collect();
        assert_eq!(keys, [&b"b"[..], &b"c"[..]]);
    }

    #[test]
    fn a_producers_batches_carry_its_id_epoch_and_following_sequences() {
        let mut builder = BatchBuilder::new().with_producer(42, 3, i32::MAX - 1);
        let mut out = Vec::new();
        for value in [b"a", b"b", b"c"] {
            builder.push(&record(Some(value), None, 1));
        }
        builder.finish_into(&mut out);
        builder.push(&record(Some(b"d"), None, 1));
        builder.finish_into(&mut out);
        let headers: Vec<BatchHeader> = batch::BatchIter::new(&out, u32::MAX)
            .map(|b| b.unwrap().header)
            .collect();
        let identity = |h: &BatchHeader| (h.producer_id, h.producer_epoch, h.base_sequence);
        assert_eq!(identity(&headers[0]), (42, 3, i32::MAX - 1));
        // Three records from i32::MAX - 1: the next batch starts at 1, past the wrap.
        assert_eq!(identity(&headers[1]), (42, 3, 1));
        let mut plain = BatchBuilder::new();
        plain.push(&record(Some(b"x"), None, 1));
        let header = BatchHeader::decode(&plain.finish()).unwrap();
        assert_eq!(identity(&header), (-1, -1, -1));
    }

    #[test]
    #[should_panic(expected = "empty BatchBuilder")]
    fn finishing_an_empty_builder_panics() {
        let _ = BatchBuilder::default().finish();
    }

    #[test]
    fn record_count_mismatch_is_refused() {
        let mut batch = build(&[record(None, None, 0), record(None, None, 0)]);
        patch_i32(&mut batch, RECORD_COUNT_AT, 3);
        patch_i32(&mut batch, LAST_OFFSET_DELTA_AT, 2);
        let err = first_error(&batch);
        assert_eq!(
            err,
            RecordError::CountMismatch {
                expected: 3,
                found: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "record count mismatch: header says 3, found 2"
        );
    }

    #[test]
    fn trailing_bytes_after_the_last_record_are_refused() {
        let mut batch = build(&[record(None, None, 0), record(None, None, 0)]);
        patch_i32(&mut batch, RECORD_COUNT_AT, 1);
        patch_i32(&mut batch, LAST_OFFSET_DELTA_AT, 0);
        let record_len = (batch.len() - HEADER_LEN) / 2;
        let mut iter = RecordIter::new(&batch).unwrap();
        assert!(iter.next().unwrap().is_ok());
        assert_eq!(
            iter.next(),
            Some(Err(RecordError::TrailingBytes {
                position: HEADER_LEN + record_len,
                count: record_len
            }))
        );
        assert_eq!(iter.next(), None);
    }

    /// Batch position of the second record's offsetDelta: its length, attributes and
    /// timestampDelta take a byte each when the record is small and the delta is 0.
    fn second_record_field(batch: &[u8], field_index: usize) -> usize {
        let first_len = usize::from(batch[HEADER_LEN] / 2) + 1;
        HEADER_LEN + first_len + field_index
    }

    #[test]
    fn offset_delta_out_of_order_is_refused() {
        let mut batch = build(&[record(None, None, 0), record(None, None, 0)]);
        let at = second_record_field(&batch, 3);
        assert_eq!(batch[at], 0x02, "offsetDelta 1");
        batch[at] = 0x0a; // offsetDelta 5
        let err = first_error(&batch);
        assert_eq!(
            err,
            RecordError::OffsetDeltaOutOfOrder { index: 1, delta: 5 }
        );
        assert_eq!(
            err.to_string(),
            "offset delta out of order: record 1 has delta 5"
        );
    }

    #[test]
    fn record_length_beyond_its_fields_is_refused() {
        let mut batch = build(&[record(None, None, 0), record(Some(b"k"), None, 0)]);
        // Lengthen the first record by one byte: it swallows the second record's length field.
        let declared = usize::from(batch[HEADER_LEN] / 2);
        batch[HEADER_LEN] += 2;
        assert_eq!(
            first_error(&batch),
            RecordError::LengthMismatch {
                index: 0,
                position: HEADER_LEN,
                declared: declared + 1,
                consumed: declared,
            }
        );
    }

    #[test]
    fn record_length_short_of_its_fields_is_refused() {
        let mut batch = build(&[record(Some(b"key"), None, 0)]);
        batch[HEADER_LEN] -= 2;
        let err = first_error(&batch);
        assert!(
            matches!(err, RecordError::Truncated { index: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn record_running_past_the_batch_end_is_truncated() {
        let mut batch = build(&[record(None, None, 0)]);
        let len = usize::from(batch[HEADER_LEN] / 2);
        batch[HEADER_LEN] += 2;
        assert_eq!(
            first_error(&batch),
            RecordError::Truncated {
                index: 0,
                position: HEADER_LEN + 1,
                field: "record",
                needed: len + 1,
                available: len,
            }
        );
    }

    #[test]
    fn negative_record_length_is_refused() {
        let mut batch = build(&[record(None, None, 0)]);
        batch[HEADER_LEN] = 0x03; // -2
        assert_eq!(
            first_error(&batch),
            RecordError::BadLength {
                index: 0,
                position: HEADER_LEN,
                field: "record",
                length: -2,
            }
        );
    }

    #[test]
    fn key_length_below_minus_one_is_refused() {
        let mut batch = build(&[record(None, None, 0)]);
        let at = HEADER_LEN + 4;
        assert_eq!(batch[at], 0x01, "keyLength -1");
        batch[at] = 0x03; // -2
        let err = first_error(&batch);
        assert_eq!(
            err,
            RecordError::BadLength {
                index: 0,
                position: at,
                field: "key",
                length: -2,
            }
        );
        assert_eq!(err.to_string(), "record 0 at byte 65: bad key length -2");
    }

    #[test]
    fn negative_header_count_is_refused() {
        let mut batch = build(&[record(None, None, 0)]);
        let at = HEADER_LEN + 6;
        assert_eq!(batch[at], 0x00, "headerCount 0");
        batch[at] = 0x01; // -1
        assert_eq!(
            first_error(&batch),
            RecordError::BadHeaderCount {
                index: 0,
                position: at,
                count: -1,
            }
        );
    }

    #[test]
    fn null_header_key_is_refused() {
        let headers = [Header {
            key: "",
            value: None,
        }];
        let mut batch = build(&[Record {
            headers: &headers,
            ..Record::default()
        }]);
        let at = HEADER_LEN + 7;
        assert_eq!(batch[at], 0x00, "header keyLength 0");
        batch[at] = 0x01; // -1: null
        assert_eq!(
            first_error(&batch),
            RecordError::BadLength {
                index: 0,
                position: at,
                field: "header key",
                length: -1,
            }
        );
    }

    #[test]
    fn header_key_not_utf8_is_refused() {
        let headers = [
            Header {
                key: "ok",
                value: None,
            },
            Header {
                key: "Z",
                value: Some(b"v"),
            },
        ];
        let mut batch = build(&[Record {
            headers: &headers,
            ..Record::default()
        }]);
        let at = batch.iter().position(|&b| b == b'Z').unwrap();
        batch[at] = 0xff;
        let err = first_error(&batch);
        assert_eq!(
            err,
            RecordError::HeaderKeyNotUtf8 {
                index: 0,
                header: 1,
                position: at - 1,
            }
        );
        assert_eq!(
            err.to_string(),
            format!("record 0: key of header 1 at byte {} is not utf-8", at - 1)
        );
    }

    #[test]
    fn over_long_varint_in_a_record_is_refused() {
        let mut batch = build(&[record(Some(&[0; 8]), None, 0)]);
        // offsetDelta, keyLength and 3 key bytes become one 5-byte run of continuation bits.
        let at = HEADER_LEN + 3;
        batch[at..at + 5].fill(0x80);
        assert_eq!(
            first_error(&batch),
            RecordError::Varint {
                index: 0,
                position: at,
                field: "offset delta",
                source: VarintError::TooLong { len_max: 5 },
            }
        );
    }

    #[test]
    fn compressed_batch_is_refused() {
        let mut batch = build(&[record(None, None, 0)]);
        batch[ATTRIBUTES_AT + 1] |= 4; // zstd
        batch::stamp_crc(&mut batch);
        let err = RecordIter::new(&batch).unwrap_err();
        assert_eq!(err, RecordError::Compressed { codec: 4 });
        assert_eq!(
            err.to_string(),
            "compressed batch (codec 4): only uncompressed records can be read"
        );
    }

    #[test]
    fn slice_longer_than_the_batch_is_refused() {
        let mut batch = build(&[record(None, None, 0)]);
        let declared = batch.len();
        batch.push(0);
        assert_eq!(
            RecordIter::new(&batch).unwrap_err(),
            RecordError::BatchLengthMismatch {
                declared,
                actual: declared + 1,
            }
        );
    }

    #[test]
    fn input_shorter_than_a_header_is_refused() {
        assert_eq!(
            RecordIter::new(&[0; 10]).unwrap_err(),
            RecordError::Batch(BatchError::Truncated {
                needed: HEADER_LEN,
                available: 10,
            })
        );
    }

    #[test]
    fn invalid_header_fields_are_refused() {
        let mut batch = build(&[record(None, None, 10)]);
        batch[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&20i64.to_be_bytes());
        assert_eq!(
            RecordIter::new(&batch).unwrap_err(),
            RecordError::Batch(BatchError::TimestampOrder {
                base_timestamp: 20,
                max_timestamp: 10,
            })
        );
    }

    fn build_compressed(records: &[Record<'_>], codec: Compression) -> Vec<u8> {
        let mut builder = BatchBuilder::new().with_compression(codec);
        for record in records {
            builder.push(record);
        }
        builder.finish()
    }

    /// Values that compress well, so a compressed batch is visibly smaller.
    fn repetitive_records(values: &[Vec<u8>]) -> Vec<Record<'_>> {
        values
            .iter()
            .enumerate()
            .map(|(i, value)| record(Some(b"key"), Some(value), 1_000 + i as i64))
            .collect()
    }

    #[test]
    fn compressed_batches_round_trip_through_batch_records() {
        let values: Vec<Vec<u8>> = (0..50).map(|i| vec![b'a' + (i % 3) as u8; 200]).collect();
        let records = repetitive_records(&values);
        let plain = build(&records);
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let batch = build_compressed(&records, codec);
            let header = batch::validate_batch(&batch, u32::MAX).unwrap();
            assert_eq!(header.compression(), codec.attribute_code(), "{codec}");
            assert_eq!(header.record_count, 50);
            if codec != Compression::None {
                assert!(batch.len() < plain.len() / 4, "{codec}: {}", batch.len());
            }
            let read = BatchRecords::new(&batch, 1 << 20).unwrap();
            assert_eq!(read.compression(), codec);
            assert_eq!(read.records_bytes(), &plain[HEADER_LEN..], "{codec}");
            let views: Vec<_> = read.iter().map(Result::unwrap).collect();
            assert_eq!(views.len(), 50);
            for (i, view) in views.iter().enumerate() {
                assert_eq!(view.offset, i as i64);
                assert_eq!(view.timestamp, 1_000 + i as i64);
                assert_eq!(view.value, Some(&values[i][..]));
            }
        }
    }

    #[test]
    fn a_compressed_batch_header_matches_the_uncompressed_one_but_for_length_crc_and_codec() {
        let values: Vec<Vec<u8>> = (0..5).map(|i| vec![i; 100]).collect();
        let records = repetitive_records(&values);
        let plain = BatchHeader::decode(&build(&records)).unwrap();
        let zstd = BatchHeader::decode(&build_compressed(&records, Compression::Zstd)).unwrap();
        assert_eq!(zstd.attributes, 4);
        assert_ne!(zstd.batch_length, plain.batch_length);
        assert_eq!(
            BatchHeader {
                batch_length: plain.batch_length,
                crc: plain.crc,
                attributes: plain.attributes,
                ..zstd
            },
            plain
        );
    }

    #[test]
    fn the_crc_covers_the_compressed_bytes() {
        let values = vec![vec![7u8; 500]];
        let mut batch = build_compressed(&repetitive_records(&values), Compression::Lz4);
        let last = batch.len() - 5;
        batch[last] ^= 0x01;
        let error = batch::validate_batch(&batch, u32::MAX).unwrap_err();
        assert!(matches!(error, BatchError::CrcMismatch { .. }), "{error}");
    }

    #[test]
    fn uncompressed_reading_refuses_a_compressed_batch_and_batch_records_reads_it() {
        let values = vec![vec![1u8; 10]];
        let batch = build_compressed(&repetitive_records(&values), Compression::Zstd);
        assert_eq!(
            RecordIter::new(&batch).unwrap_err(),
            RecordError::Compressed { codec: 4 }
        );
        assert_eq!(
            BatchRecords::new(&batch, 1 << 20).unwrap().iter().count(),
            1
        );
    }

    #[test]
    fn batch_records_refuse_gzip_and_snappy_by_name() {
        for (code, name) in [(1, "gzip"), (2, "snappy"), (7, "unassigned")] {
            let mut batch = build(&[record(None, Some(b"v"), 0)]);
            batch[ATTRIBUTES_AT + 1] |= code as u8;
            batch::stamp_crc(&mut batch);
            let error = BatchRecords::new(&batch, 1 << 20).unwrap_err();
            assert_eq!(
                error,
                RecordError::Decompress(CompressionError::UnsupportedCodec { code, name })
            );
            assert!(
                error
                    .to_string()
                    .contains(&format!("codec {code} ({name})"))
            );
        }
    }

    #[test]
    fn batch_records_refuse_records_larger_than_the_limit() {
        let values = vec![vec![0u8; 100_000]];
        let batch = build_compressed(&repetitive_records(&values), Compression::Lz4);
        assert!(batch.len() < 2_000, "{}", batch.len());
        let error = BatchRecords::new(&batch, 50_000).unwrap_err();
        assert!(
            matches!(
                error,
                RecordError::Decompress(CompressionError::TooLarge {
                    codec: Compression::Lz4,
                    max_bytes: 50_000,
                    ..
                })
            ),
            "{error}"
        );
    }

    #[test]
    fn corrupt_compressed_records_are_an_error_not_a_panic() {
        let values: Vec<Vec<u8>> = (0..20).map(|i| vec![i; 300]).collect();
        let batch = build_compressed(&repetitive_records(&values), Compression::Zstd);
        // Cut the compressed section short and fix up the header so only the codec can tell.
        let mut cut = batch[..batch.len() - 10].to_vec();
        let batch_length = (cut.len() - LOG_OVERHEAD) as i32;
        patch_i32(&mut cut, batch::BATCH_LENGTH_AT, batch_length);
        batch::stamp_crc(&mut cut);
        batch::validate_batch(&cut, u32::MAX).unwrap();
        let error = BatchRecords::new(&cut, 1 << 20).unwrap_err();
        assert!(
            matches!(
                error,
                RecordError::Decompress(CompressionError::Corrupt {
                    codec: Compression::Zstd,
                    ..
                })
            ),
            "{error}"
        );
    }

    #[test]
    fn a_compressed_batch_claiming_more_records_than_it_holds_is_refused() {
        let values = vec![vec![3u8; 50], vec![4u8; 50]];
        let mut batch = build_compressed(&repetitive_records(&values), Compression::Lz4);
        patch_i32(&mut batch, RECORD_COUNT_AT, 3);
        patch_i32(&mut batch, LAST_OFFSET_DELTA_AT, 2);
        batch::stamp_crc(&mut batch);
        let read = BatchRecords::new(&batch, 1 << 20).unwrap();
        let items: Vec<_> = read.iter().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[2],
            Err(RecordError::CountMismatch {
                expected: 3,
                found: 2
            })
        );
    }

    /// A record as the property tests generate it, owning its bytes.
    #[derive(Clone, Debug)]
    struct OwnedRecord {
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(String, Option<Vec<u8>>)>,
        timestamp: i64,
    }

    fn nullable_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
        proptest::option::of(vec(any::<u8>(), 0..40))
    }

    fn owned_record() -> impl Strategy<Value = OwnedRecord> {
        let timestamp = prop_oneof![
            any::<i64>(),
            -1_000i64..1_000,
            Just(i64::MIN),
            Just(i64::MAX)
        ];
        (
            nullable_bytes(),
            nullable_bytes(),
            vec((".{0,8}", nullable_bytes()), 0..4),
            timestamp,
        )
            .prop_map(|(key, value, headers, timestamp)| OwnedRecord {
                key,
                value,
                headers,
                timestamp,
            })
    }

    fn borrowed_headers(owned: &OwnedRecord) -> Vec<Header<'_>> {
        owned
            .headers
            .iter()
            .map(|(key, value)| Header {
                key,
                value: value.as_deref(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn built_records_read_back_exactly(
            owned in vec(owned_record(), 1..12),
            base_offset in 0i64..i64::MAX / 2,
        ) {
            let headers: Vec<_> = owned.iter().map(borrowed_headers).collect();
            let mut builder = BatchBuilder::new();
            for (record, headers) in owned.iter().zip(&headers) {
                builder.push(&Record {
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    headers,
                    timestamp: record.timestamp,
                });
                prop_assert_eq!(builder.clone().finish().len(), builder.size_bytes());
            }
            let size = builder.size_bytes();
            let mut batch = builder.finish();
            prop_assert_eq!(batch.len(), size);
            batch::set_base_offset(&mut batch, base_offset);

            let header = batch::validate_batch(&batch, u32::MAX).unwrap();
            prop_assert_eq!(header.record_count as usize, owned.len());
            prop_assert_eq!(header.base_timestamp, owned[0].timestamp);
            prop_assert_eq!(header.max_timestamp, owned.iter().map(|r| r.timestamp).max().unwrap());

            let views: Vec<_> = RecordIter::new(&batch).unwrap().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(views.len(), owned.len());
            for (i, (view, record)) in views.iter().zip(&owned).enumerate() {
                prop_assert_eq!(view.offset, base_offset + i as i64);
                prop_assert_eq!(view.timestamp, record.timestamp);
                prop_assert_eq!(view.key, record.key.as_deref());
                prop_assert_eq!(view.value, record.value.as_deref());
                let read_back: Vec<_> = view.headers().map(Result::unwrap).collect();
                let written: Vec<_> = record.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
                prop_assert_eq!(read_back, written);
            }
        }

        #[test]
        fn compressed_batches_read_back_as_the_uncompressed_one(
            owned in vec(owned_record(), 1..12),
            codec in proptest::sample::select(vec![Compression::Lz4, Compression::Zstd]),
        ) {
            let headers: Vec<_> = owned.iter().map(borrowed_headers).collect();
            let records: Vec<_> = owned.iter().zip(&headers).map(|(record, headers)| Record {
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers,
                timestamp: record.timestamp,
            }).collect();
            let plain = build(&records);
            let compressed = build_compressed(&records, codec);
            batch::validate_batch(&compressed, u32::MAX).unwrap();
            let read = BatchRecords::new(&compressed, 1 << 20).unwrap();
            let expected: Vec<_> = RecordIter::new(&plain).unwrap().collect();
            let found: Vec<_> = read.iter().collect();
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn reading_damaged_compressed_batches_never_panics(
            seed in vec(any::<u8>(), 1..64),
            flips in vec((any::<usize>(), any::<u8>()), 1..4),
            codec in proptest::sample::select(vec![Compression::Lz4, Compression::Zstd]),
        ) {
            let mut batch = build_compressed(&[record(Some(&seed), Some(&seed), 5)], codec);
            for (at, mask) in flips {
                let at = HEADER_LEN + at % (batch.len() - HEADER_LEN);
                batch[at] ^= mask;
            }
            if let Ok(read) = BatchRecords::new(&batch, 4096) {
                for item in read.iter() {
                    let _ = item;
                }
            }
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..200)) {
            read_everything(&bytes);
        }

        #[test]
        fn reading_arbitrary_records_under_a_valid_header_never_panics(
            body in vec(any::<u8>(), 0..120),
            record_count in 1i32..6,
        ) {
            let mut batch = vec![0u8; HEADER_LEN];
            batch.extend(&body);
            BatchHeader {
                base_offset: 0,
                batch_length: i32::try_from(batch.len() - LOG_OVERHEAD).unwrap(),
                partition_leader_epoch: -1,
                magic: MAGIC,
                crc: 0,
                attributes: 0,
                last_offset_delta: record_count - 1,
                base_timestamp: 0,
                max_timestamp: 0,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                record_count,
            }
            .encode(&mut batch);
            read_everything(&batch);
        }

        #[test]
        fn reading_a_damaged_batch_never_panics(
            owned in vec(owned_record(), 1..4),
            damage in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let headers: Vec<_> = owned.iter().map(borrowed_headers).collect();
            let mut builder = BatchBuilder::new();
            for (record, headers) in owned.iter().zip(&headers) {
                builder.push(&Record {
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    headers,
                    timestamp: record.timestamp,
                });
            }
            let mut batch = builder.finish();
            let records_len = batch.len() - HEADER_LEN;
            for (index, byte) in damage {
                batch[HEADER_LEN + index.index(records_len)] = byte;
            }
            read_everything(&batch);
        }
    }

    /// Reads every record and header `batch` yields, ignoring errors; panics only if the
    /// decoder does.
    fn read_everything(batch: &[u8]) {
        let Ok(iter) = RecordIter::new(batch) else {
            return;
        };
        for view in iter.flatten() {
            for header in view.headers() {
                let _ = header;
            }
        }
    }
}
