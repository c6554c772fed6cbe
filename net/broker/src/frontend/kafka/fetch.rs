//! Fetch (v4 to v12), for consumers: one part per partition on its owner, a long poll of up
//! to `max_wait_ms` for `min_bytes`, and a response whose record bytes go from the segment
//! files to the socket with `sendfile` ([`super::fetch_response`]).
//!
//! Fetch sessions (KIP-227): every fetch is answered as a full, sessionless one (session id
//! 0), which Kafka's clients accept: a client asking for a session gets none and keeps
//! sending full fetches. `read_committed` reads up to the last stable offset, which is the
//! high watermark while ringlog has no transactions.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{FetchRequest, TopicName};
use ringlog_engine::{FileSlice, LeaderEpoch};

use super::fetch_response::{
    FetchPartition, FetchResponseHead, FetchTopic, Piece, RecordChunk, encode_fetch_response,
};
use super::produce::topic_partition;
use super::{Head, Plan, Planned as AnyPlanned, code, count_errors};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::ops::{FetchOutcome, PartOp, PartResult};

/// What a fetch's answer needs: its topics' partitions in request order.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<(TopicName, Vec<i32>)>,
}

pub(super) fn plan(shared: &Shared, _head: &Head, request: FetchRequest) -> Plan {
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
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            partitions.push(partition.partition);
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
            parts.push((topic_partition(&topic.topic, partition.partition), op));
        }
        topics.push((topic.topic, partitions));
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
        .map(|(name, partitions)| FetchTopic {
            name: name.0.to_string(),
            topic_id: [0; 16],
            partitions: partitions
                .into_iter()
                .map(|index| {
                    let partition = partition_response(index, results.next());
                    codes.push(partition.error_code);
                    partition
                })
                .collect(),
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

fn partition_response(index: i32, result: Option<PartResult>) -> FetchPartition<FileSlice> {
    let outcome = match result {
        Some(PartResult::Fetch(outcome)) => outcome,
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
