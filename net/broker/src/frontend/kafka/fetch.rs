//! Fetch (v4 to v16; topics by id from v13), for consumers: one part per partition on its owner, a long poll of up
//! to `max_wait_ms` for `min_bytes`, and a response whose record bytes go from the segment
//! files to the socket with `sendfile` ([`super::fetch_response`]).
//!
//! Fetch sessions (KIP-227): every fetch is answered as a full, sessionless one (session id
//! 0), which Kafka's clients accept: a client asking for a session gets none and keeps
//! sending full fetches. `read_committed` reads up to the last stable offset, which is the
//! high watermark while ringlog has no transactions.

use std::time::{Duration, Instant};

use kafka_protocol::messages::FetchRequest;
use ringlog_engine::{FileSlice, LeaderEpoch};
use ringlog_replication::TopicPartition;

use super::fetch_response::{
    FetchPartition, FetchResponseHead, FetchTopic, Piece, RecordChunk, encode_fetch_response,
};
use super::topics::{Named, UNKNOWN_TOPIC_ID};
use super::{Head, Plan, Planned as AnyPlanned, code, count_errors};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::ops::{FetchOutcome, PartOp, PartResult};

/// What a fetch's answer needs: its topics' partitions in request order.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<Named>,
}

/// The first version that names topics by id.
const TOPIC_IDS_FROM: i16 = 13;

pub(super) fn plan(shared: &Shared, head: &Head, request: FetchRequest) -> Plan {
    let catalog = shared.catalog();
    let wait = if request.min_bytes <= 0 {
        Duration::ZERO
    } else {
        let asked = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
        asked.min(shared.options.fetch_wait_max)
    };
    let deadline = Instant::now() + wait;
    // A response holds at most `max_bytes` (a soft limit, as in Kafka: a partition's first
    // batch comes whole), split here per partition.
    let response_max = u64::try_from(request.max_bytes).unwrap_or(0);
    let mut parts = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let by_id = head.version >= TOPIC_IDS_FROM;
        let mut named = Named::resolve(&catalog, by_id, &topic.topic, topic.topic_id);
        for partition in topic.partitions {
            named.partitions.push(partition.partition);
            let Some(name) = &named.name else {
                continue;
            };
            let max_bytes = u64::try_from(partition.partition_max_bytes)
                .unwrap_or(0)
                .min(response_max);
            let op = PartOp::Fetch {
                offset: ringlog_engine::Offset(
                    u64::try_from(partition.fetch_offset).unwrap_or(u64::MAX),
                ),
                max_bytes,
                deadline,
                current_leader_epoch: u32::try_from(partition.current_leader_epoch)
                    .ok()
                    .map(LeaderEpoch),
            };
            let index = u32::try_from(partition.partition).unwrap_or(u32::MAX);
            parts.push((TopicPartition::new(name.as_str(), index), op));
        }
        topics.push(named);
    }
    Plan::Parts {
        planned: AnyPlanned::Fetch(Planned { topics }),
        parts,
        min_bytes: u64::try_from(request.min_bytes).unwrap_or(0),
    }
}

/// A segment file's bytes, sent with `sendfile`.
impl RecordChunk for FileSlice {
    fn len(&self) -> u64 {
        self.len
    }
}

pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let mut results = results.into_iter();
    let mut codes = Vec::new();
    let topics = planned
        .topics
        .into_iter()
        .map(|named| FetchTopic {
            topic_id: named.id.0,
            partitions: named
                .partitions
                .iter()
                .map(|&index| {
                    let result = named.name.as_ref().and_then(|_| results.next());
                    let partition = partition_response(index, result);
                    codes.push(partition.error_code);
                    partition
                })
                .collect(),
            name: named.name.unwrap_or_default(),
        })
        .collect();
    count_errors(head, codes);
    let response_head = FetchResponseHead {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
    };
    encode_fetch_response(head.correlation_id, head.version, &response_head, topics)
        .into_iter()
        .map(|piece| match piece {
            Piece::Bytes(bytes) => OutPiece::Bytes(bytes),
            Piece::Records(slice) => OutPiece::File {
                file: slice.file,
                position: slice.position.0,
                len: slice.len,
            },
        })
        .collect()
}

/// A partition's answer from its part's result; `None`: its topic's id is unknown.
fn partition_response(index: i32, result: Option<PartResult>) -> FetchPartition<FileSlice> {
    let outcome = match result {
        Some(PartResult::Fetch(outcome)) => outcome,
        None => {
            return FetchPartition {
                partition_index: index,
                error_code: UNKNOWN_TOPIC_ID,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                diverging_epoch: None,
                current_leader: None,
                preferred_read_replica: -1,
                records: Vec::new(),
            };
        }
        other => unreachable!("a fetch part answered {other:?}"),
    };
    let FetchOutcome {
        error,
        high_watermark,
        log_start_offset,
        slices,
        ..
    } = outcome;
    let offset = |o: Option<ringlog_engine::Offset>| {
        o.map_or(-1, |o| i64::try_from(o.0).unwrap_or(i64::MAX))
    };
    FetchPartition {
        partition_index: index,
        error_code: code(error),
        high_watermark: offset(high_watermark),
        last_stable_offset: offset(high_watermark),
        log_start_offset: offset(log_start_offset),
        diverging_epoch: None,
        current_leader: None,
        preferred_read_replica: -1,
        records: slices,
    }
}
