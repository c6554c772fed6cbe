//! Fetch (key 1): read record batches from partitions, for consumers and for followers.
//! Long-polls: the broker answers once `min_bytes` are available, `max_wait_ms` passed, or a
//! later Fetch arrived on the same connection (answers go out in request order).
//!
//! Request body:
//!
//! | field        | type   | notes                                                      |
//! |--------------|--------|------------------------------------------------------------|
//! | replica_id   | i32    | -1: a consumer (reads up to the high watermark); else the fetching follower's broker id |
//! | max_wait_ms  | u32    | the longest the broker may hold the request                |
//! | min_bytes    | u32    | answer as soon as this many record bytes are available      |
//! | max_bytes    | u32    | record bytes in the whole response, at most (soft: see below) |
//! | topics       | array  |                                                            |
//! | . name       | string |                                                            |
//! | . partitions | array  | entries of 32 bytes, laid out as follows                   |
//!
//! | partition field        | offset | size | type | notes                                   |
//! |------------------------|-------:|-----:|------|-----------------------------------------|
//! | partition_index        |      0 |    4 | u32  |                                         |
//! | current_leader_epoch   |      4 |    4 | i32  | the epoch the fetcher believes current; -1: unknown (no check) |
//! | fetch_offset           |      8 |    8 | i64  | at least 0                              |
//! | last_fetched_epoch     |     16 |    4 | i32  | epoch of the fetcher's last batch; -1: none (no divergence check) |
//! | log_start_offset       |     20 |    8 | i64  | a follower's log start offset; -1 for consumers |
//! | partition_max_bytes    |     28 |    4 | u32  | record bytes for this partition, at most (soft) |
//!
//! As in Kafka, the limits are soft: the first batch of the first non-empty partition is
//! returned whole even when larger, so a consumer always makes progress.
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field        | type   | notes                                            |
//! |--------------|--------|--------------------------------------------------|
//! | topics       | array  |                                                  |
//! | . name       | string |                                                  |
//! | . partitions | array  | each a 46-byte header, then `records_len` bytes  |
//!
//! | partition field        | offset | size | type | notes                                   |
//! |------------------------|-------:|-----:|------|-----------------------------------------|
//! | partition_index        |      0 |    4 | u32  |                                         |
//! | error_code             |      4 |    2 | i16  | see `net/PROTOCOL.md`                   |
//! | high_watermark         |      6 |    8 | i64  | -1 on error                             |
//! | log_start_offset       |     14 |    8 | i64  | -1 on error                             |
//! | log_end_offset         |     22 |    8 | i64  | the leader's; -1 on error (consumer lag = log_end_offset - position) |
//! | diverging_epoch        |     30 |    4 | i32  | -1: no divergence                       |
//! | diverging_end_offset   |     34 |    8 | i64  | where that epoch ends on the leader: truncate to it; -1 when diverging_epoch is -1 |
//! | records_len            |     42 |    4 | u32  |                                         |
//! | records                |     46 |    - |      | whole RecordBatch v2 batches, as stored |
//!
//! The records are the segment file's bytes, unchanged, so the broker sends them with
//! sendfile/splice: [`encode_fetch_response`] encodes everything else as [`Piece`]s, with a
//! [`Piece::Records`] marker where a partition's records go. A client decodes them as
//! [`Bytes`] slices of the received frame, without a copy.

use std::time::Duration;

use bytes::Bytes;
use ringlog_format::{LeaderEpoch, Offset};
use ringlog_replication::BrokerId;

use crate::api::Topic;
use crate::api_key::ApiKey;
use crate::error::WireError;
use crate::error::check_version;
use crate::error_code::ErrorCode;
use crate::frame::{self, CorrelationId};
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Where each field of a request's partition entry starts, each derived from the one before.
pub mod request_partition {
    pub const PARTITION_INDEX_AT: usize = 0;
    pub const CURRENT_LEADER_EPOCH_AT: usize = PARTITION_INDEX_AT + 4;
    pub const FETCH_OFFSET_AT: usize = CURRENT_LEADER_EPOCH_AT + 4;
    pub const LAST_FETCHED_EPOCH_AT: usize = FETCH_OFFSET_AT + 8;
    pub const LOG_START_OFFSET_AT: usize = LAST_FETCHED_EPOCH_AT + 4;
    pub const PARTITION_MAX_BYTES_AT: usize = LOG_START_OFFSET_AT + 8;
    /// The size of one entry.
    pub const LEN: usize = PARTITION_MAX_BYTES_AT + 4;

    const _: () = assert!(LEN == 32);
}

/// Where each field of a response partition's header starts, each derived from the one
/// before. The records follow the header.
pub mod response_partition {
    pub const PARTITION_INDEX_AT: usize = 0;
    pub const ERROR_CODE_AT: usize = PARTITION_INDEX_AT + 4;
    pub const HIGH_WATERMARK_AT: usize = ERROR_CODE_AT + 2;
    pub const LOG_START_OFFSET_AT: usize = HIGH_WATERMARK_AT + 8;
    pub const LOG_END_OFFSET_AT: usize = LOG_START_OFFSET_AT + 8;
    pub const DIVERGING_EPOCH_AT: usize = LOG_END_OFFSET_AT + 8;
    pub const DIVERGING_END_OFFSET_AT: usize = DIVERGING_EPOCH_AT + 4;
    pub const RECORDS_LEN_AT: usize = DIVERGING_END_OFFSET_AT + 8;
    /// The size of the header; the records start here.
    pub const HEADER_LEN: usize = RECORDS_LEN_AT + 4;

    const _: () = assert!(HEADER_LEN == 46);
}

/// Read batches from partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// `None` (-1): a consumer; else the follower fetching.
    pub replica_id: Option<BrokerId>,
    /// How long the broker may wait for `min_bytes` (`max_wait_ms` on the wire).
    pub max_wait: Duration,
    pub min_bytes: u32,
    pub max_bytes: u32,
    pub topics: Vec<Topic<FetchPartition>>,
}

/// Where to read one partition from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition_index: u32,
    /// `None` (-1): unknown, not checked.
    pub current_leader_epoch: Option<LeaderEpoch>,
    pub fetch_offset: Offset,
    /// The epoch of the fetcher's last batch; `None` (-1): no divergence check.
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// A follower's log start offset; `None` (-1) for consumers.
    pub log_start_offset: Option<Offset>,
    pub partition_max_bytes: u32,
}

/// Batches per partition. `R` holds one partition's record bytes: [`Bytes`] in memory (what a
/// client decodes), or whatever the broker sends from files (see [`RecordsSource`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse<R = Bytes> {
    pub topics: Vec<Topic<FetchPartitionResponse<R>>>,
}

/// One partition's batches and marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPartitionResponse<R = Bytes> {
    pub partition_index: u32,
    pub error_code: ErrorCode,
    /// `None` (-1) on error.
    pub high_watermark: Option<Offset>,
    /// `None` (-1) on error.
    pub log_start_offset: Option<Offset>,
    /// `None` (-1) on error.
    pub log_end_offset: Option<Offset>,
    /// Set when the fetcher's `last_fetched_epoch` ends earlier on the leader: the fetcher
    /// truncates to `end_offset` and fetches again.
    pub diverging_epoch: Option<EpochEndOffset>,
    pub records: R,
}

/// An epoch and where it ends on the leader (the first offset of the next epoch, or the log
/// end offset for the latest epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub epoch: LeaderEpoch,
    pub end_offset: Offset,
}

/// One partition's record bytes as the response encoder sees them: only their length. The
/// bytes themselves reach the socket some other way (sendfile, splice, a copy).
pub trait RecordsSource {
    /// The number of record bytes; the frame carries exactly this many.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecordsSource for Bytes {
    fn len(&self) -> usize {
        Bytes::len(self)
    }
}

/// A part of an encoded fetch response frame, in sending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Encoded bytes to send as they are.
    Bytes(Vec<u8>),
    /// Send `len` record bytes here: `topics[topic_position].partitions[partition_position]
    /// .records` of the response that was encoded (positions in the vectors, not partition
    /// indexes).
    Records {
        topic_position: usize,
        partition_position: usize,
        len: usize,
    },
}

impl Piece {
    /// How many bytes of the frame this piece is.
    pub fn len(&self) -> usize {
        match self {
            Piece::Bytes(bytes) => bytes.len(),
            Piece::Records { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A fetch response frame ready to send: its pieces in order, summing to `frame_len`. The
/// first piece holds the frame header, whose length field is already filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponseFrame {
    /// The whole frame's size, length field included.
    pub frame_len: usize,
    pub pieces: Vec<Piece>,
}

impl FetchResponseFrame {
    /// The frame as one buffer, the record bytes copied in from `response` (the response the
    /// pieces were encoded from). For clients, tests and a broker without zero-copy.
    pub fn assemble<R: RecordsSource + AsRef<[u8]>>(&self, response: &FetchResponse<R>) -> Vec<u8> {
        let mut frame = Vec::with_capacity(self.frame_len);
        for piece in &self.pieces {
            match piece {
                Piece::Bytes(bytes) => frame.extend_from_slice(bytes),
                Piece::Records {
                    topic_position,
                    partition_position,
                    len,
                } => {
                    let records = response.topics[*topic_position].partitions[*partition_position]
                        .records
                        .as_ref();
                    assert_eq!(
                        records.len(),
                        *len,
                        "records of topic {topic_position} partition {partition_position} changed length since encoding"
                    );
                    frame.extend_from_slice(records);
                }
            }
        }
        debug_assert_eq!(frame.len(), self.frame_len);
        frame
    }
}

/// Encodes a fetch response frame without its record bytes: the header pieces, a
/// [`Piece::Records`] marker where each non-empty partition's records go, and the frame's
/// length (computed from the records' lengths up front, so the length field is in the first
/// piece). `api_version` is the request's.
pub fn encode_fetch_response<R: RecordsSource>(
    response: &FetchResponse<R>,
    api_version: u16,
    correlation_id: CorrelationId,
) -> Result<FetchResponseFrame, WireError> {
    check_version(ApiKey::FETCH, api_version)?;
    let mut w = Writer::new(api_version);
    frame::encode_response_header(correlation_id, &mut w);
    w.error_code(ErrorCode::NONE);
    let mut pieces = Vec::new();
    response.encode_topics(&mut w, |w, topic_position, partition_position, records| {
        pieces.push(Piece::Bytes(w.take()));
        pieces.push(Piece::Records {
            topic_position,
            partition_position,
            len: records.len(),
        });
    })?;
    if w.len() > 0 {
        pieces.push(Piece::Bytes(w.into_inner()));
    }
    let frame_len = pieces
        .iter()
        .try_fold(0u64, |sum, piece| sum.checked_add(piece.len() as u64))
        .unwrap_or(u64::MAX);
    let length = frame::length_field(frame_len)?;
    let Some(Piece::Bytes(first)) = pieces.first_mut() else {
        panic!("a fetch response frame starts with its header");
    };
    first[frame::LENGTH_AT..frame::LENGTH_PREFIX_LEN].copy_from_slice(&length.to_be_bytes());
    Ok(FetchResponseFrame {
        frame_len: frame_len as usize,
        pieces,
    })
}

impl<R: RecordsSource> FetchResponse<R> {
    /// Encodes the topics, calling `records` where each non-empty partition's record bytes
    /// go (with the partition's positions in `topics` and `partitions`).
    fn encode_topics(
        &self,
        w: &mut Writer,
        mut records: impl FnMut(&mut Writer, usize, usize, &R),
    ) -> Result<(), WireError> {
        w.count("topics", self.topics.len())?;
        for (topic_position, topic) in self.topics.iter().enumerate() {
            w.string("topic name", &topic.name)?;
            w.count("partitions", topic.partitions.len())?;
            for (partition_position, partition) in topic.partitions.iter().enumerate() {
                partition.encode_header(w)?;
                if !partition.records.is_empty() {
                    records(w, topic_position, partition_position, &partition.records);
                }
            }
        }
        Ok(())
    }
}

impl<R: RecordsSource> FetchPartitionResponse<R> {
    /// Everything up to and including `records_len`: [`response_partition::HEADER_LEN`] bytes.
    fn encode_header(&self, w: &mut Writer) -> Result<(), WireError> {
        let start = w.len();
        w.u32(self.partition_index);
        w.error_code(self.error_code);
        w.optional_offset("high_watermark", self.high_watermark)?;
        w.optional_offset("log_start_offset", self.log_start_offset)?;
        w.optional_offset("log_end_offset", self.log_end_offset)?;
        match self.diverging_epoch {
            Some(diverging) => {
                w.leader_epoch("diverging_epoch", diverging.epoch)?;
                w.offset("diverging_end_offset", diverging.end_offset)?;
            }
            None => {
                w.optional_leader_epoch("diverging_epoch", None)?;
                w.optional_offset("diverging_end_offset", None)?;
            }
        }
        w.bytes_len("records", self.records.len())?;
        debug_assert_eq!(w.len() - start, response_partition::HEADER_LEN);
        Ok(())
    }
}

/// The in-memory form: records are copied into the frame on encode and come out of it as
/// slices on decode.
impl Wire for FetchResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        self.encode_topics(w, |w, _, _, records| w.raw(records))
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let topics = r.array_with("topics", STRING_MIN_LEN + ARRAY_MIN_LEN, |r| {
            Ok(Topic {
                name: r.string("topic name")?,
                partitions: r.array_with(
                    "partitions",
                    response_partition::HEADER_LEN,
                    FetchPartitionResponse::decode,
                )?,
            })
        })?;
        Ok(FetchResponse { topics })
    }
}

impl FetchPartitionResponse {
    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(FetchPartitionResponse {
            partition_index: r.u32("partition_index")?,
            error_code: r.error_code("error_code")?,
            high_watermark: r.optional_offset("high_watermark")?,
            log_start_offset: r.optional_offset("log_start_offset")?,
            log_end_offset: r.optional_offset("log_end_offset")?,
            diverging_epoch: decode_diverging_epoch(r)?,
            records: r.bytes("records")?,
        })
    }
}

fn decode_diverging_epoch(r: &mut Reader) -> Result<Option<EpochEndOffset>, WireError> {
    match r.optional_leader_epoch("diverging_epoch")? {
        Some(epoch) => Ok(Some(EpochEndOffset {
            epoch,
            end_offset: r.offset("diverging_end_offset")?,
        })),
        None => match r.optional_offset("diverging_end_offset")? {
            None => Ok(None),
            Some(end_offset) => Err(WireError::InvalidValue {
                field: "diverging_end_offset",
                value: end_offset.as_i64(),
                expected: "-1 when diverging_epoch is -1",
            }),
        },
    }
}

impl Wire for FetchRequest {
    const MIN_LEN: usize = 4 + 4 + 4 + 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.optional_broker_id("replica_id", self.replica_id)?;
        w.duration_ms("max_wait_ms", self.max_wait)?;
        w.u32(self.min_bytes);
        w.u32(self.max_bytes);
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(FetchRequest {
            replica_id: r.optional_broker_id("replica_id")?,
            max_wait: r.duration_ms("max_wait_ms")?,
            min_bytes: r.u32("min_bytes")?,
            max_bytes: r.u32("max_bytes")?,
            topics: r.array("topics")?,
        })
    }
}

impl Wire for FetchPartition {
    const MIN_LEN: usize = request_partition::LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.optional_leader_epoch("current_leader_epoch", self.current_leader_epoch)?;
        w.offset("fetch_offset", self.fetch_offset)?;
        w.optional_leader_epoch("last_fetched_epoch", self.last_fetched_epoch)?;
        w.optional_offset("log_start_offset", self.log_start_offset)?;
        w.u32(self.partition_max_bytes);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(FetchPartition {
            partition_index: r.u32("partition_index")?,
            current_leader_epoch: r.optional_leader_epoch("current_leader_epoch")?,
            fetch_offset: r.offset("fetch_offset")?,
            last_fetched_epoch: r.optional_leader_epoch("last_fetched_epoch")?,
            log_start_offset: r.optional_offset("log_start_offset")?,
            partition_max_bytes: r.u32("partition_max_bytes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        bytes[at..at + N].try_into().unwrap()
    }

    #[test]
    fn request_partition_fields_sit_at_their_offsets() {
        let partition = FetchPartition {
            partition_index: 7,
            current_leader_epoch: Some(LeaderEpoch(3)),
            fetch_offset: Offset(0x0102_0304_0506),
            last_fetched_epoch: None,
            log_start_offset: Some(Offset(9)),
            partition_max_bytes: 1 << 20,
        };
        let mut w = Writer::new(0);
        partition.encode(&mut w).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), request_partition::LEN);
        assert_eq!(
            be::<4>(&bytes, request_partition::PARTITION_INDEX_AT),
            7u32.to_be_bytes()
        );
        assert_eq!(
            be::<4>(&bytes, request_partition::CURRENT_LEADER_EPOCH_AT),
            3i32.to_be_bytes()
        );
        assert_eq!(
            be::<8>(&bytes, request_partition::FETCH_OFFSET_AT),
            0x0102_0304_0506i64.to_be_bytes()
        );
        assert_eq!(
            be::<4>(&bytes, request_partition::LAST_FETCHED_EPOCH_AT),
            (-1i32).to_be_bytes()
        );
        assert_eq!(
            be::<8>(&bytes, request_partition::LOG_START_OFFSET_AT),
            9i64.to_be_bytes()
        );
        assert_eq!(
            be::<4>(&bytes, request_partition::PARTITION_MAX_BYTES_AT),
            (1u32 << 20).to_be_bytes()
        );
    }

    fn response(records: &[&'static [u8]]) -> FetchResponse {
        let partitions = records
            .iter()
            .enumerate()
            .map(|(i, records)| FetchPartitionResponse {
                partition_index: i as u32,
                error_code: ErrorCode::NONE,
                high_watermark: Some(Offset(10)),
                log_start_offset: Some(Offset(0)),
                log_end_offset: Some(Offset(12)),
                diverging_epoch: None,
                records: Bytes::from_static(records),
            })
            .collect();
        FetchResponse {
            topics: vec![Topic {
                name: "t".to_string(),
                partitions,
            }],
        }
    }

    /// Built by hand from the tables: one topic "t", one partition with 3 record bytes.
    #[test]
    fn response_known_answer() {
        let frame = encode_fetch_response(&response(&[b"abc"]), 0, CorrelationId(9)).unwrap();
        let mut expected = vec![
            0, 0, 0, 66, // length: 70 - 4
            0, 0, 0, 9, // correlation_id
            0, 0, // error_code NONE
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index
            0, 0, // error_code
        ];
        expected.extend_from_slice(&10i64.to_be_bytes()); // high_watermark
        expected.extend_from_slice(&0i64.to_be_bytes()); // log_start_offset
        expected.extend_from_slice(&12i64.to_be_bytes()); // log_end_offset
        expected.extend_from_slice(&(-1i32).to_be_bytes()); // diverging_epoch
        expected.extend_from_slice(&(-1i64).to_be_bytes()); // diverging_end_offset
        expected.extend_from_slice(&3u32.to_be_bytes()); // records_len
        assert_eq!(
            frame.pieces,
            vec![
                Piece::Bytes(expected.clone()),
                Piece::Records {
                    topic_position: 0,
                    partition_position: 0,
                    len: 3
                }
            ]
        );
        assert_eq!(frame.frame_len, 70);
        expected.extend_from_slice(b"abc");
        assert_eq!(frame.assemble(&response(&[b"abc"])), expected);
    }

    #[test]
    fn empty_partitions_get_no_records_piece_and_headers_are_merged() {
        let response = response(&[b"", b"xy", b"", b""]);
        let frame = encode_fetch_response(&response, 0, CorrelationId(1)).unwrap();
        let kinds: Vec<bool> = frame
            .pieces
            .iter()
            .map(|piece| matches!(piece, Piece::Records { .. }))
            .collect();
        assert_eq!(kinds, [false, true, false]);
        assert_eq!(
            frame.pieces.iter().map(Piece::len).sum::<usize>(),
            frame.frame_len
        );
    }

    #[test]
    fn a_diverging_end_offset_without_an_epoch_is_refused() {
        let mut w = Writer::new(0);
        w.i32(-1);
        w.i64(5);
        let mut r = Reader::new(Bytes::from(w.into_inner()), 0);
        assert_eq!(
            decode_diverging_epoch(&mut r).unwrap_err().to_string(),
            "invalid diverging_end_offset 5: expected -1 when diverging_epoch is -1"
        );
    }
}
