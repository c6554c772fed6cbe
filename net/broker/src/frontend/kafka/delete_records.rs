//! DeleteRecords (v0 to v2, key 21): moves partitions' log start offsets forward, as
//! `kafka-delete-records.sh` and AdminClient's `deleteRecords` ask. Each partition is answered
//! by its leader: the offset asked for (-1 is the high watermark) may not pass the high
//! watermark (OFFSET_OUT_OF_RANGE, as any other negative offset is); the leader moves its log
//! start there at once (durably: it survives a restart), reads below it are refused
//! OFFSET_OUT_OF_RANGE from then on and the segments wholly below it are deleted. The answer,
//! the new low watermark, waits until every replica of the ISR starts its log there too
//! (followers learn the leader's start from their fetches), at most the request's
//! `timeout_ms` (bounded by `request_timeout_ms`): past it the partition is answered
//! REQUEST_TIMED_OUT, its leader's start moved all the same, as in Kafka. Records of the
//! internal `__consumer_offsets` are not a client's to delete: INVALID_TOPIC_EXCEPTION, as
//! Kafka answers. Each topic needs Delete (else TOPIC_AUTHORIZATION_FAILED).

use std::time::Duration;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, TopicName};
use ringlog_engine::Offset;
use ringlog_replication::KafkaError;
use ringlog_replication::driver::Refusal;

use super::offsets::kafka_offset;
use super::topics::topic_partition;
use ringlog_security::acl::{Operation, ResourceType};

use super::{Head, Plan, Planned as AnyPlanned, TOPIC_AUTHORIZATION_FAILED, count_errors, respond};
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::offsets::OFFSETS_TOPIC;
use crate::ops::{PartOp, PartResult};

/// DeleteRecords' offset that names the high watermark.
const HIGH_WATERMARK: i64 = -1;

/// A partition of the request and its refusal's code, if it was refused before reaching its
/// leader.
type PlannedPartition = (i32, Option<i16>);

/// What the answer needs: the topics' partitions in request order.
#[derive(Debug)]
pub(super) struct Planned {
    topics: Vec<(TopicName, Vec<PlannedPartition>)>,
}

/// Plans `request`; its timeout is capped at `timeout_max` (the broker's
/// `request_timeout_ms`, which bounds every wait inside the broker).
pub(super) fn plan(access: &Access, request: DeleteRecordsRequest, timeout_max: Duration) -> Plan {
    let asked = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let timeout = asked.min(timeout_max);
    let mut parts = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let refused = if !access.allows(Operation::Delete, ResourceType::Topic, &topic.name.0) {
            Some(TOPIC_AUTHORIZATION_FAILED)
        } else if topic.name.0.as_str() == OFFSETS_TOPIC {
            Some(KafkaError::InvalidTopicException.code())
        } else {
            None
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            if refused.is_some() {
                partitions.push((partition.partition_index, refused));
                continue;
            }
            let offset = match partition.offset {
                HIGH_WATERMARK => None,
                offset => match u64::try_from(offset) {
                    Ok(offset) => Some(Offset(offset)),
                    Err(_) => {
                        partitions.push((
                            partition.partition_index,
                            Some(KafkaError::OffsetOutOfRange.code()),
                        ));
                        continue;
                    }
                },
            };
            partitions.push((partition.partition_index, None));
            let op = PartOp::DeleteRecords { offset, timeout };
            parts.push((topic_partition(&topic.name, partition.partition_index), op));
        }
        topics.push((topic.name, partitions));
    }
    Plan::Parts {
        planned: AnyPlanned::DeleteRecords(Planned { topics }),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let mut results = results.into_iter();
    let mut codes = Vec::new();
    let topics = planned
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, refused)| {
                    let answer = match refused {
                        Some(error) => refusal(index, error),
                        None => partition_result(index, results.next()),
                    };
                    codes.push(answer.error_code);
                    answer
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    count_errors(head, codes);
    respond(head, &DeleteRecordsResponse::default().with_topics(topics))
}

fn partition_result(index: i32, result: Option<PartResult>) -> DeleteRecordsPartitionResult {
    match result {
        Some(PartResult::DeleteRecords(Ok(low_watermark))) => {
            DeleteRecordsPartitionResult::default()
                .with_partition_index(index)
                .with_low_watermark(kafka_offset(low_watermark))
        }
        Some(PartResult::DeleteRecords(Err(Refusal { error, message }))) => {
            tracing::debug!(partition = index, %message, "delete records refused");
            refusal(index, error.code())
        }
        other => unreachable!("a delete records part answered {other:?}"),
    }
}

fn refusal(index: i32, code: i16) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult::default()
        .with_partition_index(index)
        .with_low_watermark(-1)
        .with_error_code(code)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{ApiKey, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use ringlog_replication::TopicPartition;

    use super::*;

    fn planned_and_ops(offsets: &[i64]) -> (Planned, Vec<(TopicPartition, Option<Offset>)>) {
        planned_and_ops_of("t", offsets)
    }

    fn planned_and_ops_of(
        topic: &'static str,
        offsets: &[i64],
    ) -> (Planned, Vec<(TopicPartition, Option<Offset>)>) {
        let partitions = offsets
            .iter()
            .enumerate()
            .map(|(index, &offset)| {
                DeleteRecordsPartition::default()
                    .with_partition_index(index as i32)
                    .with_offset(offset)
            })
            .collect();
        let topic = DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(topic)))
            .with_partitions(partitions);
        let request = DeleteRecordsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(5_000);
        let Plan::Parts { planned, parts, .. } =
            plan(&Access::open(), request, Duration::from_secs(30))
        else {
            panic!("partition parts");
        };
        let AnyPlanned::DeleteRecords(planned) = planned else {
            panic!("planned as DeleteRecords");
        };
        let ops = parts
            .into_iter()
            .map(|(tp, op)| match op {
                PartOp::DeleteRecords { offset, timeout } => {
                    assert_eq!(timeout, Duration::from_secs(5));
                    (tp, offset)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        (planned, ops)
    }

    #[test]
    fn minus_one_is_the_high_watermark_and_other_negatives_are_out_of_range() {
        let (_, ops) = planned_and_ops(&[42, -1, -2]);
        assert_eq!(
            ops,
            vec![
                (TopicPartition::new("t", 0), Some(Offset(42))),
                (TopicPartition::new("t", 1), None),
            ]
        );
    }

    #[test]
    fn the_offsets_topic_is_not_a_clients_to_delete() {
        let (planned, ops) = planned_and_ops_of(OFFSETS_TOPIC, &[5]);
        assert!(ops.is_empty(), "{ops:?}");
        assert_eq!(
            planned.topics[0].1,
            vec![(0, Some(KafkaError::InvalidTopicException.code()))]
        );
    }

    #[test]
    fn answers_carry_the_low_watermark_or_the_error_in_request_order() {
        let (planned, _) = planned_and_ops(&[42, -2, -1]);
        let head = Head {
            api: ApiKey::DeleteRecords,
            version: 2,
            correlation_id: 3,
        };
        let results = vec![
            PartResult::DeleteRecords(Ok(Offset(42))),
            PartResult::DeleteRecords(Err(Refusal::new(
                KafkaError::NotLeaderOrFollower,
                "not the leader",
            ))),
        ];
        let pieces = finish(&head, planned, results);
        let [OutPiece::Bytes(frame)] = &pieces[..] else {
            panic!("one frame");
        };
        let mut body = Bytes::copy_from_slice(&frame[4..]);
        let header = ResponseHeader::decode(&mut body, 1).unwrap();
        assert_eq!(header.correlation_id, 3);
        let response = DeleteRecordsResponse::decode(&mut body, 2).unwrap();
        let answers: Vec<(i32, i64, i16)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.low_watermark, p.error_code))
            .collect();
        assert_eq!(answers, vec![(0, 42, 0), (1, -1, 1), (2, -1, 6)]);
    }
}
