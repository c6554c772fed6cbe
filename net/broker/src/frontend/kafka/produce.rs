//! Produce (v3 to v13: record batches v2 only; topics by id from v13). Each partition's records are a slice of the
//! request frame (no copy) and become one part on the partition's owner; acks=0 is answered
//! by nothing, as in Kafka. Each topic needs Write (else TOPIC_AUTHORIZATION_FAILED for its
//! partitions, nothing appended), and creating one on first use needs Create.

use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use ringlog_replication::TopicPartition;
use ringlog_replication::driver::{ProduceOutcome, Refusal};
use ringlog_replication::partition::Acks;

use ringlog_security::acl::Operation;

use super::topics::Named;
use super::{Head, Plan, Planned as AnyPlanned, count_errors, respond};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{PartOp, PartResult};

/// Kafka's INVALID_REQUIRED_ACKS.
const INVALID_REQUIRED_ACKS: i16 = 21;

/// What a produce's answer needs: its topics' partitions in request order, and whether it
/// is answered at all.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<Named>,
    acks_zero: bool,
}

/// The first version that names topics by id.
const TOPIC_IDS_FROM: i16 = 13;

pub(super) fn plan(shared: &Shared, access: &Access, head: &Head, request: ProduceRequest) -> Plan {
    let acks = match request.acks {
        0 => Acks::None,
        1 => Acks::Leader,
        -1 => Acks::All,
        _ => return Plan::Respond(refuse_all(head, &request, INVALID_REQUIRED_ACKS)),
    };
    let catalog = shared.catalog();
    let by_id = head.version >= TOPIC_IDS_FROM;
    let mut topics: Vec<Named> = request
        .topic_data
        .iter()
        .map(|topic| {
            let mut named = Named::resolve(&catalog, by_id, &topic.name, topic.topic_id);
            named.authorize(access, Operation::Write);
            named
        })
        .collect();
    if !by_id {
        let missing = topics
            .iter()
            .filter_map(Named::served)
            .filter(|name| catalog.topic(name).is_none() && access.may_create_topic(name));
        super::super::auto_create(shared, missing);
    }
    let timeout_ms = u64::try_from(request.timeout_ms).unwrap_or(0);
    let timeout = Duration::from_millis(timeout_ms).min(shared.options.config.request_timeout);
    let mut parts = Vec::new();
    for (topic, named) in request.topic_data.into_iter().zip(&mut topics) {
        for partition in topic.partition_data {
            named.partitions.push(partition.index);
            let Some(name) = named.served() else {
                continue;
            };
            let index = u32::try_from(partition.index).unwrap_or(u32::MAX);
            let topic_partition = TopicPartition::new(name, index);
            let op = PartOp::Produce {
                records: partition.records.unwrap_or_default(),
                acks,
                timeout,
            };
            parts.push((topic_partition, op));
        }
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

pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let mut results = results.into_iter();
    let mut codes = Vec::new();
    let responses = planned
        .topics
        .into_iter()
        .map(|named| {
            let partition_responses = named
                .partitions
                .iter()
                .map(|&index| {
                    let response = match named.refusal {
                        None => partition_response(index, results.next()),
                        Some(code) => refused(index, code),
                    };
                    codes.push(response.error_code);
                    response
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(named.kafka_name())
                .with_topic_id(named.kafka_id())
                .with_partition_responses(partition_responses)
        })
        .collect();
    count_errors(head, codes);
    if planned.acks_zero {
        return Vec::new();
    }
    respond(head, &ProduceResponse::default().with_responses(responses))
}

/// A partition of a topic refused before any part ran, with `code`.
fn refused(index: i32, code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
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
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    count_errors(head, [code]);
    respond(head, &ProduceResponse::default().with_responses(responses))
}
