//! Produce (v3 and up: record batches v2 only). Each partition's records are a slice of the
//! request frame (no copy) and become one part on the partition's owner; acks=0 is answered
//! by nothing, as in Kafka.

use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use ringlog_replication::TopicPartition;
use ringlog_replication::driver::{ProduceOutcome, Refusal};
use ringlog_replication::partition::Acks;

use super::{Head, Plan, Planned as AnyPlanned, count_errors, respond};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::ops::{PartOp, PartResult};

/// Kafka's INVALID_REQUIRED_ACKS.
const INVALID_REQUIRED_ACKS: i16 = 21;

/// What a produce's answer needs: its topics' partitions in request order, and whether it
/// is answered at all.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<(TopicName, Vec<i32>)>,
    acks_zero: bool,
}

pub(super) fn plan(shared: &Shared, head: &Head, request: ProduceRequest) -> Plan {
    let acks = match request.acks {
        0 => Acks::None,
        1 => Acks::Leader,
        -1 => Acks::All,
        _ => return Plan::Respond(refuse_all(head, &request, INVALID_REQUIRED_ACKS)),
    };
    super::super::auto_create(shared, request.topic_data.iter().map(|t| t.name.0.as_str()));
    let timeout_ms = u64::try_from(request.timeout_ms).unwrap_or(0);
    let timeout = Duration::from_millis(timeout_ms).min(shared.options.config.request_timeout);
    let mut parts = Vec::new();
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for partition in topic.partition_data {
            partitions.push(partition.index);
            let topic_partition = topic_partition(&topic.name, partition.index);
            let op = PartOp::Produce {
                records: partition.records.unwrap_or_default(),
                acks,
                timeout,
            };
            parts.push((topic_partition, op));
        }
        topics.push((topic.name, partitions));
    }
    Plan::Parts {
        planned: AnyPlanned::Produce(Planned {
            topics,
            acks_zero: acks == Acks::None,
        }),
        parts,
        min_bytes: 0,
    }
}

/// The partition a request names; a negative index names none (it is refused as unknown
/// by the owner, which serves no such partition).
pub(super) fn topic_partition(name: &TopicName, index: i32) -> TopicPartition {
    TopicPartition::new(name.0.as_str(), u32::try_from(index).unwrap_or(u32::MAX))
}

pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let mut results = results.into_iter();
    let mut codes = Vec::new();
    let responses = planned
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let partition_responses = partitions
                .into_iter()
                .map(|index| {
                    let response = partition_response(index, results.next());
                    codes.push(response.error_code);
                    response
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partition_responses)
        })
        .collect();
    count_errors(head, codes);
    if planned.acks_zero {
        return Vec::new();
    }
    respond(head, &ProduceResponse::default().with_responses(responses))
}

fn partition_response(index: i32, result: Option<PartResult>) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default()
        .with_index(index)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    match result {
        Some(PartResult::Produce(ProduceOutcome::Appended {
            base_offset,
            log_start_offset,
            ..
        })) => match base_offset {
            Some(base_offset) => response
                .with_base_offset(offset(base_offset.0))
                .with_log_start_offset(offset(log_start_offset.0)),
            // acks=0: answered before the append.
            None => response,
        },
        Some(PartResult::Produce(ProduceOutcome::Refused(Refusal { error, message }))) => response
            .with_error_code(error.code())
            .with_error_message(Some(message.into())),
        other => unreachable!("a produce part answered {other:?}"),
    }
}

fn offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// Every partition of `request` refused with `code`.
fn refuse_all(head: &Head, request: &ProduceRequest, code: i16) -> Vec<OutPiece> {
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    count_errors(head, [code]);
    respond(head, &ProduceResponse::default().with_responses(responses))
}
