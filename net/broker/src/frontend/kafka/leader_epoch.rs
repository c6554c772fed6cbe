//! OffsetForLeaderEpoch (v2 to v4, key 23): where a leader epoch ends on the partition's
//! leader. Consumers ask it after a leader change to learn whether their position was
//! truncated away (KIP-320: librdkafka and the Java client validate a position that carries
//! a leader epoch this way); followers of other brokers could ask it too, though ringlog's
//! learn of divergence from fetch responses.
//!
//! Each partition is answered by its leader, behind the same fence as a fetch: a current
//! leader epoch older than the leader's is FENCED_LEADER_EPOCH, a newer one
//! UNKNOWN_LEADER_EPOCH, a broker that does not lead NOT_LEADER_OR_FOLLOWER. The answer is the
//! largest epoch at most the one asked for and the start offset of the epoch after it (the log
//! end for the leader's current epoch), or -1 and -1 (UNDEFINED_EPOCH) for an epoch newer
//! than any the leader knows, or asked as -1.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::offsets::{kafka_epoch, kafka_offset, leader_epoch};
use super::topics::{PlannedTopics, answer_parts, plan_parts, unless_allowed};
use super::{Head, Plan, Planned as AnyPlanned, code, count_errors, respond};
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{PartOp, PartResult};
use ringlog_security::acl::Operation;

/// What the answer needs: the topics' partitions in request order.
#[derive(Debug)]
pub(super) struct Planned {
    topics: PlannedTopics,
}

pub(super) fn plan(access: &Access, request: OffsetForLeaderEpochRequest) -> Plan {
    let requested = request.topics.into_iter().map(|t| (t.topic, t.partitions));
    let (topics, parts) = plan_parts(
        requested,
        unless_allowed(access, Operation::Describe),
        |p| p.partition,
        |p| PartOp::OffsetForLeaderEpoch {
            leader_epoch: leader_epoch(p.leader_epoch),
            current_leader_epoch: leader_epoch(p.current_leader_epoch),
        },
    );
    Plan::Parts {
        planned: AnyPlanned::OffsetForLeaderEpoch(Planned { topics }),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let answered = answer_parts(planned.topics, results, end_offset);
    count_errors(
        head,
        answered
            .iter()
            .flat_map(|(_, ps)| ps.iter().map(|p| p.error_code)),
    );
    let topics = answered
        .into_iter()
        .map(|(name, partitions)| {
            OffsetForLeaderTopicResult::default()
                .with_topic(name)
                .with_partitions(partitions)
        })
        .collect();
    respond(
        head,
        &OffsetForLeaderEpochResponse::default().with_topics(topics),
    )
}

fn end_offset(index: i32, result: Result<PartResult, i16>) -> EpochEndOffset {
    let (error, end) = match result {
        Ok(PartResult::EpochEndOffset { error, end }) => (code(error), end),
        Err(refused) => (refused, None),
        Ok(other) => unreachable!("an offset for leader epoch part answered {other:?}"),
    };
    let (epoch, offset) = end.map_or((-1, -1), |(epoch, offset)| {
        (kafka_epoch(epoch), kafka_offset(offset))
    });
    EpochEndOffset::default()
        .with_partition(index)
        .with_error_code(error)
        .with_leader_epoch(epoch)
        .with_end_offset(offset)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{ApiKey, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use ringlog_engine::{LeaderEpoch, Offset};
    use ringlog_replication::{KafkaError, TopicPartition};

    use super::*;

    fn request() -> OffsetForLeaderEpochRequest {
        let partition = |index, current, epoch| {
            OffsetForLeaderPartition::default()
                .with_partition(index)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)
        };
        let topic = OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![partition(0, 4, 3), partition(1, -1, -1)]);
        OffsetForLeaderEpochRequest::default().with_topics(vec![topic])
    }

    #[test]
    fn each_partition_asks_its_leader_with_the_epochs_it_named() {
        let Plan::Parts { parts, .. } = plan(&Access::open(), request()) else {
            panic!("partition parts");
        };
        let ops: Vec<_> = parts
            .into_iter()
            .map(|(tp, op)| match op {
                PartOp::OffsetForLeaderEpoch {
                    leader_epoch,
                    current_leader_epoch,
                } => (tp, leader_epoch, current_leader_epoch),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                (
                    TopicPartition::new("t", 0),
                    Some(LeaderEpoch(3)),
                    Some(LeaderEpoch(4))
                ),
                (TopicPartition::new("t", 1), None, None),
            ]
        );
    }

    #[test]
    fn answers_carry_the_epoch_and_its_end_or_undefined_or_the_error() {
        let Plan::Parts { planned, .. } = plan(&Access::open(), request()) else {
            panic!("partition parts");
        };
        let AnyPlanned::OffsetForLeaderEpoch(planned) = planned else {
            panic!("planned as OffsetForLeaderEpoch");
        };
        let head = Head {
            api: ApiKey::OffsetForLeaderEpoch,
            version: 4,
            correlation_id: 9,
        };
        let results = vec![
            PartResult::EpochEndOffset {
                error: None,
                end: Some((LeaderEpoch(2), Offset(120))),
            },
            PartResult::EpochEndOffset {
                error: Some(KafkaError::FencedLeaderEpoch),
                end: None,
            },
        ];
        let pieces = finish(&head, planned, results);
        let [OutPiece::Bytes(frame)] = &pieces[..] else {
            panic!("one frame");
        };
        let mut body = Bytes::copy_from_slice(&frame[4..]);
        let header = ResponseHeader::decode(&mut body, 1).unwrap();
        assert_eq!(header.correlation_id, 9);
        let response = OffsetForLeaderEpochResponse::decode(&mut body, 4).unwrap();
        let partitions = &response.topics[0].partitions;
        assert_eq!(
            (partitions[0].leader_epoch, partitions[0].end_offset),
            (2, 120)
        );
        assert_eq!(partitions[0].error_code, 0);
        assert_eq!(partitions[1].error_code, 74);
        assert_eq!(
            (partitions[1].leader_epoch, partitions[1].end_offset),
            (-1, -1)
        );
    }
}
