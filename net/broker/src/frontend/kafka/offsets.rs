//! ListOffsets, and committed offsets: OffsetCommit and OffsetFetch, stored in the group's
//! partition of `__consumer_offsets` by its leader (the group's coordinator). A group
//! member's commit is checked against the group's members and generation by the coordinator
//! (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID, as
//! Kafka answers); a consumer in assign mode commits with no member and generation -1.
//!
//! ListOffsets (v1 to v10) answers earliest (-2), latest (-1), a timestamp, the max timestamp
//! (-3, v7, KIP-734), the earliest local offset (-4, v8, KIP-405: the log start, as nothing
//! is tiered) and the latest tiered offset (-5, v9, KIP-1005: none, -1, as Kafka answers
//! without tiered storage); v10's `timeout_ms` bounds waits on remote storage, of which there
//! are none. Each answer carries the epoch of the leader that wrote the offset, and the
//! current leader epoch a client names (v4+) is checked as a fetch's is.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, ListOffsetsRequest, ListOffsetsResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_engine::{LeaderEpoch, Offset, Timestamp};
use ringlog_replication::{KafkaError, TopicPartition};
use ringlog_security::acl::{Operation, ResourceType};

use super::topics::{PlannedTopics, answer_parts, plan_parts, topic_partition, unless_allowed};
use super::{
    GROUP_AUTHORIZATION_FAILED, Head, Plan, Planned as AnyPlanned, TOPIC_AUTHORIZATION_FAILED,
    code, count_errors, respond,
};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::offsets::{self, Commit, Committed, OFFSETS_TOPIC};
use crate::ops::{CommitMember, GroupCommits, OffsetSpec, PartOp, PartResult};

/// Kafka's OFFSET_METADATA_TOO_LARGE.
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// Kafka's INVALID_GROUP_ID.
const INVALID_GROUP_ID: i16 = 24;
/// The first ListOffsets version whose answers carry a leader epoch.
const LEADER_EPOCH_FROM: i16 = 4;
/// ListOffsets' timestamps that name an offset rather than a time.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// What a ListOffsets answer needs: its topics' partitions in request order.
#[derive(Debug)]
pub(super) struct ListPlanned {
    topics: PlannedTopics,
}

/// The offset a ListOffsets timestamp asks for.
fn offset_spec(timestamp: i64) -> OffsetSpec {
    match timestamp {
        LATEST => OffsetSpec::Latest,
        EARLIEST => OffsetSpec::Earliest,
        MAX_TIMESTAMP => OffsetSpec::MaxTimestamp,
        // Nothing is in remote storage: the local log is the whole log.
        EARLIEST_LOCAL => OffsetSpec::Earliest,
        LATEST_TIERED => OffsetSpec::LatestTiered,
        // Another negative time is before every record, as Kafka's lookup takes it.
        time => OffsetSpec::Timestamp(Timestamp(time.max(0))),
    }
}

/// A leader epoch a client sent: -1 (or any negative) is none.
pub(super) fn leader_epoch(epoch: i32) -> Option<LeaderEpoch> {
    u32::try_from(epoch).ok().map(LeaderEpoch)
}

pub(super) fn plan_list(access: &Access, request: ListOffsetsRequest) -> Plan {
    let requested = request.topics.into_iter().map(|t| (t.name, t.partitions));
    let (topics, parts) = plan_parts(
        requested,
        unless_allowed(access, Operation::Describe),
        |p| p.partition_index,
        |p| PartOp::ListOffsets {
            spec: offset_spec(p.timestamp),
            current_leader_epoch: leader_epoch(p.current_leader_epoch),
        },
    );
    Plan::Parts {
        planned: AnyPlanned::ListOffsets(ListPlanned { topics }),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn finish_list(
    head: &Head,
    planned: ListPlanned,
    results: Vec<PartResult>,
) -> Vec<OutPiece> {
    let answered = answer_parts(planned.topics, results, |index, result| {
        let mut response = list_partition(index, result);
        if head.version < LEADER_EPOCH_FROM {
            // Not in the layout before v4, and refused by its encoder if set.
            response.leader_epoch = -1;
        }
        response
    });
    count_errors(
        head,
        answered
            .iter()
            .flat_map(|(_, ps)| ps.iter().map(|p| p.error_code)),
    );
    let topics = answered
        .into_iter()
        .map(|(name, partitions)| {
            ListOffsetsTopicResponse::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    respond(head, &ListOffsetsResponse::default().with_topics(topics))
}

fn list_partition(index: i32, result: Result<PartResult, i16>) -> ListOffsetsPartitionResponse {
    match result {
        Err(refused) => ListOffsetsPartitionResponse::default()
            .with_partition_index(index)
            .with_error_code(refused)
            .with_timestamp(-1)
            .with_offset(-1)
            .with_leader_epoch(-1),
        Ok(PartResult::ListOffsets {
            error,
            offset,
            timestamp,
            leader_epoch,
        }) => ListOffsetsPartitionResponse::default()
            .with_partition_index(index)
            .with_error_code(code(error))
            .with_timestamp(timestamp.map_or(-1, |t| t.0))
            .with_offset(offset.map_or(-1, kafka_offset))
            .with_leader_epoch(leader_epoch.map_or(-1, kafka_epoch)),
        Ok(other) => unreachable!("a list offsets part answered {other:?}"),
    }
}

pub(super) fn kafka_offset(offset: Offset) -> i64 {
    i64::try_from(offset.0).unwrap_or(i64::MAX)
}

pub(super) fn kafka_epoch(epoch: LeaderEpoch) -> i32 {
    i32::try_from(epoch.0).unwrap_or(i32::MAX)
}

/// What an OffsetCommit answer needs: the response with every entry refused on its own
/// already answered; the entries sent to the offsets topic take the part's result.
#[derive(Debug)]
pub(super) struct CommitPlanned {
    response: OffsetCommitResponse,
}

/// The partition of the offsets topic that holds `group`'s commits.
fn offsets_partition(group: &str) -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, offsets::partition_for(group))
}

pub(super) fn plan_commit(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: OffsetCommitRequest,
) -> Plan {
    let group = request.group_id.0.to_string();
    let catalog = shared.catalog();
    let group_allowed = access.allows(Operation::Read, ResourceType::Group, &group);
    // A consumer in assign mode commits with no member and generation -1; a group member's
    // commit is checked by the group's coordinator.
    let member = (!request.member_id.is_empty() || request.generation_id_or_member_epoch >= 0)
        .then(|| CommitMember {
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
            generation: request.generation_id_or_member_epoch,
        });
    let mut commits = Vec::new();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let topic_allowed =
                group_allowed && access.allows(Operation::Read, ResourceType::Topic, &topic.name.0);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let tp = topic_partition(&topic.name, p.partition_index);
                    let metadata = p.committed_metadata.map(|m| m.to_string());
                    let error = if !group_allowed {
                        GROUP_AUTHORIZATION_FAILED
                    } else if !topic_allowed {
                        TOPIC_AUTHORIZATION_FAILED
                    } else if group.is_empty() {
                        INVALID_GROUP_ID
                    } else if !catalog.contains(&tp) {
                        KafkaError::UnknownTopicOrPartition.code()
                    } else if metadata.as_ref().map_or(0, String::len) > offsets::METADATA_MAX_BYTES
                    {
                        OFFSET_METADATA_TOO_LARGE
                    } else {
                        commits.push(Commit {
                            group: group.clone(),
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                            committed: Committed {
                                offset: Offset(u64::try_from(p.committed_offset).unwrap_or(0)),
                                leader_epoch: u32::try_from(p.committed_leader_epoch)
                                    .ok()
                                    .map(LeaderEpoch),
                                metadata,
                            },
                        });
                        0
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetCommitResponse::default().with_topics(topics);
    if commits.is_empty() {
        return Plan::Respond(answer_commit(head, response));
    }
    let op = PartOp::CommitOffsets { commits, member };
    Plan::Parts {
        planned: AnyPlanned::OffsetCommit(CommitPlanned { response }),
        parts: vec![(offsets_partition(&group), op)],
        min_bytes: 0,
    }
}

pub(super) fn finish_commit(
    head: &Head,
    planned: CommitPlanned,
    results: Vec<PartResult>,
) -> Vec<OutPiece> {
    let stored = match results.into_iter().next() {
        Some(PartResult::OffsetsCommitted(error)) => code(error),
        other => unreachable!("an offset commit part answered {other:?}"),
    };
    let mut response = planned.response;
    // The part stored the entries that were sent, or failed them all.
    for partition in response
        .topics
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut())
    {
        if partition.error_code == 0 {
            partition.error_code = stored;
        }
    }
    answer_commit(head, response)
}

fn answer_commit(head: &Head, response: OffsetCommitResponse) -> Vec<OutPiece> {
    let codes = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
    count_errors(head, codes);
    respond(head, &response)
}

/// What an OffsetFetch answer needs: the groups asked about in request order (one before
/// v8), each sent as a part or refused, and who asks (which topics the answer may show).
#[derive(Debug)]
pub(super) struct FetchPlanned {
    groups: Vec<(String, GroupAsked)>,
    /// From v8: the groups are answered in the response's `groups`.
    batched: bool,
    access: Access,
}

/// A group of an OffsetFetch.
#[derive(Debug)]
enum GroupAsked {
    /// Answered with this error, without a part: an empty group id (INVALID_GROUP_ID), a
    /// group the client may not describe (GROUP_AUTHORIZATION_FAILED).
    Refused(i16),
    /// Sent as a part, for its committed offsets of these topics (`false`) or of every
    /// topic (`true`): the answer then leaves out the topics the client may not describe,
    /// where it answers named ones TOPIC_AUTHORIZATION_FAILED.
    Sent { every_topic: bool },
}

/// The first OffsetFetch version that asks about several groups (KIP-709).
const GROUPS_FROM: i16 = 8;

/// Which partitions a request names: every committed one (`None`), or these.
fn asked_topics(
    topics: Option<impl IntoIterator<Item = (String, Vec<i32>)>>,
) -> Option<Vec<(String, Vec<u32>)>> {
    topics.map(|topics| {
        topics
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .filter_map(|p| u32::try_from(p).ok())
                    .collect();
                (name, partitions)
            })
            .collect()
    })
}

pub(super) fn plan_fetch(access: &Access, head: &Head, request: OffsetFetchRequest) -> Plan {
    // Each group, and the topics (with partitions) asked about, or none for every one.
    type Asked = (GroupId, Option<Vec<(String, Vec<i32>)>>);
    let asked: Vec<Asked> = if head.version >= GROUPS_FROM {
        request
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                (g.group_id, topics)
            })
            .collect()
    } else {
        let topics = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        vec![(request.group_id, topics)]
    };
    let mut parts = Vec::new();
    let groups = asked
        .into_iter()
        .map(|(group, topics)| {
            let group = group.0.to_string();
            let asked = if group.is_empty() {
                GroupAsked::Refused(INVALID_GROUP_ID)
            } else if !access.allows(Operation::Describe, ResourceType::Group, &group) {
                GroupAsked::Refused(GROUP_AUTHORIZATION_FAILED)
            } else {
                let every_topic = topics.is_none();
                let op = PartOp::FetchOffsets {
                    group: group.clone(),
                    topics: asked_topics(topics),
                };
                parts.push((offsets_partition(&group), op));
                GroupAsked::Sent { every_topic }
            };
            (group, asked)
        })
        .collect();
    let planned = FetchPlanned {
        groups,
        batched: head.version >= GROUPS_FROM,
        access: access.clone(),
    };
    if parts.is_empty() {
        return Plan::Respond(finish_fetch(head, planned, Vec::new()));
    }
    Plan::Parts {
        planned: AnyPlanned::OffsetFetch(planned),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn finish_fetch(
    head: &Head,
    planned: FetchPlanned,
    results: Vec<PartResult>,
) -> Vec<OutPiece> {
    let mut found = results.into_iter().map(|result| match result {
        PartResult::Offsets(found) => found,
        other => unreachable!("an offset fetch part answered {other:?}"),
    });
    let access = &planned.access;
    // Each group's answer: its error, or its topics.
    let mut answers = planned.groups.into_iter().map(|(group, asked)| {
        let answer = match asked {
            GroupAsked::Refused(error) => Err(error),
            GroupAsked::Sent { every_topic } => {
                match found.next().expect("a part per group sent") {
                    Ok(found) => Ok(fetched_topics(access, every_topic, found)),
                    Err(error) => Err(error.code()),
                }
            }
        };
        (group, answer)
    });
    if !planned.batched {
        let (_, answer) = answers.next().expect("one group before v8");
        let response = match answer {
            Ok(topics) => {
                let topics = topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponse::default().with_topics(topics)
            }
            Err(error) => OffsetFetchResponse::default().with_error_code(error),
        };
        count_errors(head, offset_fetch_codes(&response));
        return respond(head, &response);
    }
    let groups: Vec<OffsetFetchResponseGroup> = answers
        .map(|(group, answer)| {
            let answered = OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group)));
            match answer {
                Ok(topics) => answered.with_topics(
                    topics
                        .into_iter()
                        .map(|(name, partitions)| {
                            let partitions = partitions
                                .into_iter()
                                .map(|p| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p.partition_index)
                                        .with_committed_offset(p.committed_offset)
                                        .with_committed_leader_epoch(p.committed_leader_epoch)
                                        .with_metadata(p.metadata)
                                        .with_error_code(p.error_code)
                                })
                                .collect();
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(StrBytes::from_string(name)))
                                .with_partitions(partitions)
                        })
                        .collect(),
                ),
                Err(error) => answered.with_error_code(error),
            }
        })
        .collect();
    let response = OffsetFetchResponse::default().with_groups(groups);
    count_errors(head, offset_fetch_codes(&response));
    respond(head, &response)
}

/// Every error code of an OffsetFetch response: the response's, its groups', and their
/// partitions'.
fn offset_fetch_codes(response: &OffsetFetchResponse) -> Vec<i16> {
    let partitions = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
    let groups = response.groups.iter().flat_map(|g| {
        let partitions = g
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
        std::iter::once(g.error_code).chain(partitions)
    });
    std::iter::once(response.error_code)
        .chain(partitions)
        .chain(groups)
        .collect()
}

/// A group's commits as the response's topics (name, partitions): a topic the client may
/// not describe is left out of an answer about every topic, and answered
/// TOPIC_AUTHORIZATION_FAILED where the request named it.
fn fetched_topics(
    access: &Access,
    every_topic: bool,
    found: GroupCommits,
) -> Vec<(String, Vec<OffsetFetchResponsePartition>)> {
    found
        .into_iter()
        .filter_map(|(name, partitions)| {
            let allowed = match every_topic {
                true => access.shows(Operation::Describe, ResourceType::Topic, &name),
                false => access.allows(Operation::Describe, ResourceType::Topic, &name),
            };
            let partitions = match allowed {
                true => partitions
                    .into_iter()
                    .map(|(index, committed)| fetched_partition(index, committed))
                    .collect(),
                false if every_topic => return None,
                false => partitions
                    .into_iter()
                    .map(|(index, _)| {
                        fetched_partition(index, None).with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    })
                    .collect(),
            };
            Some((name, partitions))
        })
        .collect()
}

fn fetched_partition(index: u32, committed: Option<Committed>) -> OffsetFetchResponsePartition {
    let partition = OffsetFetchResponsePartition::default()
        .with_partition_index(i32::try_from(index).unwrap_or(i32::MAX))
        .with_committed_offset(-1)
        .with_committed_leader_epoch(-1);
    let Some(committed) = committed else {
        return partition;
    };
    partition
        .with_committed_offset(kafka_offset(committed.offset))
        .with_committed_leader_epoch(committed.leader_epoch.map_or(-1, kafka_epoch))
        .with_metadata(committed.metadata.map(StrBytes::from_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_offsets_specs_are_kafkas() {
        assert_eq!(offset_spec(-1), OffsetSpec::Latest);
        assert_eq!(offset_spec(-2), OffsetSpec::Earliest);
        assert_eq!(offset_spec(-3), OffsetSpec::MaxTimestamp);
        // Nothing is tiered: the earliest local offset is the earliest.
        assert_eq!(offset_spec(-4), OffsetSpec::Earliest);
        assert_eq!(offset_spec(-5), OffsetSpec::LatestTiered);
        assert_eq!(offset_spec(-9), OffsetSpec::Timestamp(Timestamp(0)));
        assert_eq!(
            offset_spec(1_700_000_000_000),
            OffsetSpec::Timestamp(Timestamp(1_700_000_000_000))
        );
    }

    #[test]
    fn a_list_offsets_answer_carries_the_leader_epoch_or_minus_one() {
        let found = PartResult::ListOffsets {
            error: None,
            offset: Some(Offset(7)),
            timestamp: Some(Timestamp(500)),
            leader_epoch: Some(LeaderEpoch(3)),
        };
        let answer = list_partition(2, Ok(found));
        assert_eq!(
            (answer.partition_index, answer.offset, answer.timestamp),
            (2, 7, 500)
        );
        assert_eq!(answer.leader_epoch, 3);
        let none = PartResult::ListOffsets {
            error: Some(KafkaError::FencedLeaderEpoch),
            offset: None,
            timestamp: None,
            leader_epoch: None,
        };
        let answer = list_partition(2, Ok(none));
        assert_eq!(
            (
                answer.error_code,
                answer.offset,
                answer.timestamp,
                answer.leader_epoch
            ),
            (74, -1, -1, -1)
        );
    }
}
