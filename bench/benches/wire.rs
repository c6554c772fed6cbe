//! The wire codec (`ringlog_wire`), pure (no IO): the hot messages encoded and decoded
//! through the crate's public functions, each against copying bytes of the same frame, in one
//! run. Every message is version 0, as the client and broker send them.
//!
//! - `wire/produce_100Bx1000_encode`: `encode_request` of a Produce request carrying one batch
//!   of 1000 records of 100 bytes, against `raw_copy`: copying the encoded frame into a fresh
//!   buffer of its size (one allocation and one memcpy, the least an encoder that copies the
//!   batch into the frame can do).
//! - `wire/produce_100Bx1000_decode`: what the broker does with that frame: its header
//!   (`decode_request_frame`) and its body (`decode_request`, the records a slice of the frame),
//!   against the same `raw_copy` of the frame.
//! - `wire/fetch_request_8p_encode`, `_decode`: a follower's Fetch request for 8 partitions of one
//!   topic, against `raw_copy` of its frame.
//! - `wire/fetch_response_8p_header_encode`: `encode_fetch_response`, the broker's zero-copy
//!   encoder, for 8 partitions holding one such batch each: every byte of the frame but the
//!   records, which it only counts. Against `raw_copy` of the bytes it encodes (the frame less
//!   the records).
//! - `wire/fetch_response_8p_decode`: the client's `decode_response` of that whole frame (the
//!   records come out as slices of it), against `raw_copy` of the same non-record bytes: the
//!   bytes the decoder reads.
//! - `wire/metadata_response_100p_encode`, `_decode`: a Metadata response for one topic of 100
//!   partitions on 3 brokers (3 replicas, all in sync), against `raw_copy` of its frame.
//! - `wire/request_frame_headers_256`: cutting 256 pipelined requests (that fetch request,
//!   back to back in one buffer) with `decode_request_frame`, as a connection's read loop does
//!   (length checks and the 12-byte header of each), against `raw_parse`: the same walk reading
//!   the same four big-endian fields with no checks. Many frames an iteration, so the number is
//!   the parse and not the call around it.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use ringlog_bench::batch_template;
use ringlog_replication::{BrokerId, LeaderEpoch, Offset};
use ringlog_wire::api::Topic;
use ringlog_wire::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, Piece,
};
use ringlog_wire::api::metadata::{
    MetadataBroker, MetadataPartition, MetadataResponse, MetadataTopic,
};
use ringlog_wire::api::produce::{Acks, ProducePartition, ProduceRequest};
use ringlog_wire::frame::{
    MAX_FRAME_BYTES_DEFAULT, REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, decode_request_frame,
};
use ringlog_wire::{
    ApiKey, CorrelationId, ErrorCode, Request, Response, decode_request, decode_response,
    encode_fetch_response, encode_request, encode_response,
};

const RECORDS: usize = 1000;
const VALUE_SIZE: usize = 100;
const FETCH_PARTITIONS: u32 = 8;
const METADATA_PARTITIONS: u32 = 100;
const CORRELATION_ID: CorrelationId = CorrelationId(7);
const PIPELINED_FRAMES: usize = 256;

fn produce_request(batch: &[u8]) -> Request {
    Request::Produce(ProduceRequest {
        acks: Acks::All,
        timeout: Duration::from_secs(30),
        topics: vec![Topic {
            name: "bench".to_string(),
            partitions: vec![ProducePartition {
                partition_index: 0,
                records: Bytes::copy_from_slice(batch),
            }],
        }],
    })
}

fn fetch_request() -> Request {
    let partitions = (0..FETCH_PARTITIONS)
        .map(|i| FetchPartition {
            partition_index: i,
            current_leader_epoch: Some(LeaderEpoch(3)),
            fetch_offset: Offset(1_000_000 + u64::from(i)),
            last_fetched_epoch: Some(LeaderEpoch(3)),
            log_start_offset: Some(Offset(0)),
            partition_max_bytes: 1 << 20,
        })
        .collect();
    Request::Fetch(FetchRequest {
        replica_id: Some(BrokerId(2)),
        max_wait: Duration::from_millis(500),
        min_bytes: 1,
        max_bytes: 50 << 20,
        topics: vec![Topic {
            name: "bench".to_string(),
            partitions,
        }],
    })
}

fn fetch_response(batch: &Bytes) -> FetchResponse {
    let partitions = (0..FETCH_PARTITIONS)
        .map(|i| FetchPartitionResponse {
            partition_index: i,
            error_code: ErrorCode::NONE,
            high_watermark: Some(Offset(2_000_000)),
            log_start_offset: Some(Offset(0)),
            log_end_offset: Some(Offset(2_000_000)),
            diverging_epoch: None,
            records: batch.clone(),
        })
        .collect();
    FetchResponse {
        topics: vec![Topic {
            name: "bench".to_string(),
            partitions,
        }],
    }
}

fn metadata_response() -> Response {
    let brokers: Vec<BrokerId> = (1..=3).map(BrokerId).collect();
    let partitions = (0..METADATA_PARTITIONS)
        .map(|i| {
            let mut replicas = brokers.clone();
            replicas.rotate_left(i as usize % brokers.len());
            MetadataPartition {
                error_code: ErrorCode::NONE,
                partition_index: i,
                leader_id: Some(replicas[0]),
                leader_epoch: Some(LeaderEpoch(3)),
                replica_nodes: replicas.clone(),
                isr_nodes: replicas,
                offline_replicas: vec![],
            }
        })
        .collect();
    Response::Metadata(MetadataResponse {
        brokers: brokers
            .iter()
            .map(|&broker_id| MetadataBroker {
                broker_id,
                host: format!("broker-{}.ringlog.internal", broker_id.0),
                port: 9092,
                rack: None,
            })
            .collect(),
        topics: vec![MetadataTopic {
            topic_id: ringlog_replication::TopicId::ZERO,
            error_code: ErrorCode::NONE,
            name: "bench".to_string(),
            partitions,
        }],
    })
}

/// The baseline: `bytes` copied into a fresh buffer of their size.
fn raw_copy(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes);
    out
}

/// Times `ringlog` against `raw_copy` of `copied`, as `<name>/ringlog` and `<name>/raw_copy`,
/// with throughput counted in the copied bytes.
fn against_copy<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    copied: &[u8],
    mut ringlog: impl FnMut() -> T,
) {
    group.throughput(Throughput::Bytes(copied.len() as u64));
    group.bench_function(format!("{name}/ringlog"), |b| {
        b.iter(|| black_box(ringlog()))
    });
    group.bench_function(format!("{name}/raw_copy"), |b| {
        b.iter(|| raw_copy(black_box(copied)))
    });
}

/// A request frame's body, as the broker hands it to `decode_request`.
fn request_body(frame: &[u8]) -> Bytes {
    Bytes::copy_from_slice(frame).slice(REQUEST_HEADER_LEN..)
}

fn decode_request_bench(frame: &[u8], body: &Bytes) -> Request {
    let header = decode_request_frame(black_box(frame), MAX_FRAME_BYTES_DEFAULT)
        .expect("a valid frame")
        .expect("a whole frame")
        .header;
    decode_request(&header, body.clone()).expect("a valid request")
}

fn requests(group: &mut BenchmarkGroup<'_, WallTime>, batch: &[u8]) {
    let produce = produce_request(batch);
    let frame = encode_request(&produce, 0, CORRELATION_ID).expect("encodable");
    let body = request_body(&frame);
    assert_eq!(decode_request_bench(&frame, &body), produce);
    against_copy(group, "produce_100Bx1000_encode", &frame, || {
        encode_request(black_box(&produce), 0, CORRELATION_ID).expect("encodable")
    });
    against_copy(group, "produce_100Bx1000_decode", &frame, || {
        decode_request_bench(&frame, &body)
    });

    let fetch = fetch_request();
    let fetch_frame = encode_request(&fetch, 0, CORRELATION_ID).expect("encodable");
    let fetch_body = request_body(&fetch_frame);
    assert_eq!(decode_request_bench(&fetch_frame, &fetch_body), fetch);
    against_copy(group, "fetch_request_8p_encode", &fetch_frame, || {
        encode_request(black_box(&fetch), 0, CORRELATION_ID).expect("encodable")
    });
    against_copy(group, "fetch_request_8p_decode", &fetch_frame, || {
        decode_request_bench(&fetch_frame, &fetch_body)
    });

    let pipelined = fetch_frame.repeat(PIPELINED_FRAMES);
    let cut = cut_frames(&pipelined);
    assert_eq!(cut, raw_cut_frames(&pipelined));
    let fields = CORRELATION_ID.0 + u32::from(ApiKey::FETCH.0); // and version 0
    assert_eq!(cut, (PIPELINED_FRAMES, PIPELINED_FRAMES as u32 * fields));
    group.throughput(Throughput::Elements(PIPELINED_FRAMES as u64));
    group.bench_function("request_frame_headers_256/ringlog", |b| {
        b.iter(|| cut_frames(black_box(&pipelined)))
    });
    group.bench_function("request_frame_headers_256/raw_parse", |b| {
        b.iter(|| raw_cut_frames(black_box(&pipelined)))
    });
}

/// Walks the request frames back to back in `buf` with the codec; returns how many there were
/// and the sum of their header fields but the length, so no field goes unread.
fn cut_frames(buf: &[u8]) -> (usize, u32) {
    let (mut at, mut frames, mut fold) = (0, 0, 0u32);
    while let Some(frame) =
        decode_request_frame(&buf[at..], MAX_FRAME_BYTES_DEFAULT).expect("valid frames")
    {
        let header = frame.header;
        let fields =
            header.correlation_id.0 + u32::from(header.api_key.0) + u32::from(header.api_version);
        fold = fold.wrapping_add(fields);
        frames += 1;
        at += frame.frame_len;
    }
    (frames, fold)
}

/// The same walk reading the four header fields with no checks at all: length, api key,
/// version, correlation id.
fn raw_cut_frames(buf: &[u8]) -> (usize, u32) {
    let be32 = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let be16 = |at: usize| u32::from(u16::from_be_bytes([buf[at], buf[at + 1]]));
    let (mut at, mut frames, mut fold) = (0, 0, 0u32);
    while at < buf.len() {
        fold = fold.wrapping_add(be32(at + 8) + be16(at + 4) + be16(at + 6));
        frames += 1;
        at += 4 + be32(at) as usize;
    }
    (frames, fold)
}

fn responses(group: &mut BenchmarkGroup<'_, WallTime>, batch: &[u8]) {
    let batch = Bytes::copy_from_slice(batch);
    let fetch = fetch_response(&batch);
    let encoded = encode_fetch_response(&fetch, 0, CORRELATION_ID).expect("encodable");
    let header_bytes: Vec<u8> = encoded
        .pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Bytes(bytes) => Some(&bytes[..]),
            Piece::Records { .. } => None,
        })
        .flatten()
        .copied()
        .collect();
    let frame = encoded.assemble(&fetch);
    let body = Bytes::from(frame).slice(RESPONSE_HEADER_LEN..);
    let decoded = decode_response(ApiKey::FETCH, 0, body.clone()).expect("a valid response");
    assert_eq!(decoded, Response::Fetch(fetch.clone()));
    against_copy(
        group,
        "fetch_response_8p_header_encode",
        &header_bytes,
        || encode_fetch_response(black_box(&fetch), 0, CORRELATION_ID).expect("encodable"),
    );
    against_copy(group, "fetch_response_8p_decode", &header_bytes, || {
        decode_response(ApiKey::FETCH, 0, black_box(&body).clone()).expect("a valid response")
    });

    let metadata = metadata_response();
    let frame = encode_response(&metadata, 0, CORRELATION_ID).expect("encodable");
    let body = Bytes::copy_from_slice(&frame[RESPONSE_HEADER_LEN..]);
    assert_eq!(
        decode_response(ApiKey::METADATA, 0, body.clone()).expect("a valid response"),
        metadata
    );
    against_copy(group, "metadata_response_100p_encode", &frame, || {
        encode_response(black_box(&metadata), 0, CORRELATION_ID).expect("encodable")
    });
    against_copy(group, "metadata_response_100p_decode", &frame, || {
        decode_response(ApiKey::METADATA, 0, black_box(&body).clone()).expect("a valid response")
    });
}

fn wire(c: &mut Criterion) {
    let batch = batch_template(RECORDS, VALUE_SIZE);
    let mut group = c.benchmark_group("wire");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    requests(&mut group, &batch);
    responses(&mut group, &batch);
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
