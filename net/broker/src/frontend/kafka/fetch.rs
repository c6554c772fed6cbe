//! Fetch (v4 to v16; topics by id from v13), for consumers: one part per partition on its owner, a long poll of up
//! to `max_wait_ms` for `min_bytes`, and a response whose record bytes go from the segment
//! files to the socket with `sendfile` ([`super::fetch_response`]).
//!
//! Fetch sessions (KIP-227) are kept per connection ([`super::fetch_session`]): a full fetch
//! may start one, and incremental fetches then name only what changed. `read_committed` reads
//! up to the last stable offset, which is the high watermark while ringlog has no
//! transactions. Each topic needs Read: a topic without it is answered
//! TOPIC_AUTHORIZATION_FAILED on every fetch, and stays in the session.

use std::time::{Duration, Instant};

use kafka_protocol::messages::FetchRequest;
use ringlog_engine::{FileSlice, LeaderEpoch};
use ringlog_replication::{TopicId, TopicPartition};
use ringlog_security::acl::Operation;

use super::fetch_response::{
    FetchPartition, FetchResponseHead, FetchTopic, Piece, RecordChunk, encode_fetch_response,
};
use super::fetch_session::{self, FetchSession, TopicKey, Wanted};
use super::topics::{Named, UNKNOWN_TOPIC_ID};
use super::{Head, Plan, Planned as AnyPlanned, code, count_errors};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{FetchOutcome, PartOp, PartResult};

/// What a fetch's answer needs: its topics' partitions in response order, and its session.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<Named>,
    session_id: i32,
}

/// The first version that names topics by id.
const TOPIC_IDS_FROM: i16 = 13;

/// Plans a fetch: the partitions it names, through the connection's fetch `session`
/// ([`super::fetch_session`]), become one part each.
pub(super) fn plan(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: FetchRequest,
    session: &mut Option<FetchSession>,
) -> Plan {
    let catalog = shared.catalog();
    let by_id = head.version >= TOPIC_IDS_FROM;
    let mut requested = Vec::new();
    for topic in &request.topics {
        let named = Named::resolve(&catalog, by_id, &topic.topic, topic.topic_id);
        requested.extend(topic.partitions.iter().map(|p| Wanted {
            name: named.name.clone(),
            id: named.id,
            partition: p.partition,
            fetch_offset: p.fetch_offset,
            partition_max_bytes: p.partition_max_bytes,
            current_leader_epoch: p.current_leader_epoch,
        }));
    }
    let forgotten: Vec<(TopicKey, i32)> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|topic| {
            let key = if by_id {
                TopicKey::Id(TopicId(topic.topic_id.into_bytes()))
            } else {
                TopicKey::Name(topic.topic.0.to_string())
            };
            topic.partitions.iter().map(move |&p| (key.clone(), p))
        })
        .collect();
    let session_id = request.session_id;
    let epoch = request.session_epoch;
    let fetching = match fetch_session::apply(session, session_id, epoch, requested, &forgotten) {
        Ok(fetching) => fetching,
        Err(code) => return Plan::Respond(session_refused(head, code)),
    };
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
    let mut topics: Vec<Named> = Vec::new();
    for wanted in fetching.partitions {
        let same_topic = topics
            .last()
            .is_some_and(|t| t.name == wanted.name && t.id == wanted.id);
        if !same_topic {
            let mut named = Named {
                name: wanted.name.clone(),
                id: wanted.id,
                partitions: Vec::new(),
                refusal: wanted.name.is_none().then_some(UNKNOWN_TOPIC_ID),
            };
            named.authorize(access, Operation::Read);
            topics.push(named);
        }
        let topic = topics.last_mut().expect("pushed above");
        topic.partitions.push(wanted.partition);
        let Some(name) = topic.served() else {
            continue;
        };
        let max_bytes = u64::try_from(wanted.partition_max_bytes)
            .unwrap_or(0)
            .min(response_max);
        let op = PartOp::Fetch {
            offset: ringlog_engine::Offset(u64::try_from(wanted.fetch_offset).unwrap_or(u64::MAX)),
            max_bytes,
            deadline,
            current_leader_epoch: u32::try_from(wanted.current_leader_epoch)
                .ok()
                .map(LeaderEpoch),
        };
        let index = u32::try_from(wanted.partition).unwrap_or(u32::MAX);
        parts.push((TopicPartition::new(name, index), op));
    }
    Plan::Parts {
        planned: AnyPlanned::Fetch(Planned {
            topics,
            session_id: fetching.session_id,
        }),
        parts,
        min_bytes: u64::try_from(request.min_bytes).unwrap_or(0),
    }
}

/// A fetch refused whole by its session fields: `code`, and no partitions.
fn session_refused(head: &Head, code: i16) -> Vec<OutPiece> {
    count_errors(head, [code]);
    let response_head = FetchResponseHead {
        throttle_time_ms: 0,
        error_code: code,
        session_id: 0,
    };
    let topics: Vec<FetchTopic<FileSlice>> = Vec::new();
    pieces(encode_fetch_response(
        head.correlation_id,
        head.version,
        &response_head,
        topics,
    ))
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
                    let partition = match named.refusal {
                        None => partition_response(index, results.next()),
                        Some(code) => refused(index, code),
                    };
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
        session_id: planned.session_id,
    };
    pieces(encode_fetch_response(
        head.correlation_id,
        head.version,
        &response_head,
        topics,
    ))
}

/// The response's pieces as the connection sends them: record chunks by `sendfile`.
fn pieces(encoded: Vec<Piece<FileSlice>>) -> Vec<OutPiece> {
    encoded
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

/// A partition of a topic refused before any part ran, with `code`.
fn refused(index: i32, code: i16) -> FetchPartition<FileSlice> {
    FetchPartition {
        partition_index: index,
        error_code: code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        diverging_epoch: None,
        current_leader: None,
        preferred_read_replica: -1,
        records: Vec::new(),
    }
}

/// A partition's answer from its part's result.
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
