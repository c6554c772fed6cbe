//! Consumer-group membership, Kafka's classic protocol: JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups, ListGroups, DeleteGroups and OffsetDelete. Each request becomes
//! one operation per group on the coordinator of the group's partition of `__consumer_offsets`
//! (its leader; [`crate::group`] is the state machine, run by the shard that owns the
//! partition), and is answered when the coordinator answers: a JoinGroup waits for its
//! rebalance, a follower's SyncGroup for the leader's assignment. ListGroups asks every
//! partition of the offsets topic and lists the groups of those led here, as a Kafka broker
//! lists the groups it coordinates.
//!
//! Joining, syncing, heartbeating and leaving need Read on the group, describing it Describe,
//! deleting it or its offsets Delete (and Read on each topic whose offsets go): a refused
//! group is answered GROUP_AUTHORIZATION_FAILED without reaching its coordinator. ListGroups
//! lists every group with Describe on the cluster, else those the client may describe.

use std::net::SocketAddr;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_replication::KafkaError;

use kafka_protocol::messages::ApiKey;
use ringlog_security::acl::{CLUSTER_NAME, Operation, ResourceType};

use super::{
    GROUP_AUTHORIZATION_FAILED, Head, Plan, Planned as AnyPlanned, TOPIC_AUTHORIZATION_FAILED,
    code, count_errors, respond,
};
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::frontend::groups::{
    client_host, list_parts, merge_listings, millis, offsets_partition, parts_per_group,
};
use crate::group::{self, GroupDescription, GroupState, JoinOutcome, LeavingMember, SyncOutcome};
use crate::ops::{GroupAnswer, GroupOp, PartOp, PartResult};

/// The first JoinGroup version whose new members are given an id first (KIP-394).
const MEMBER_ID_REQUIRED_FROM: i16 = 4;
/// The first JoinGroup version with a rebalance timeout (v0 uses the session timeout).
const REBALANCE_TIMEOUT_FROM: i16 = 1;
/// The first JoinGroup version whose answer names the protocol type.
const JOIN_PROTOCOL_TYPE_FROM: i16 = 7;
/// The first versions carrying group instance ids (static membership, KIP-345).
const JOIN_INSTANCE_ID_FROM: i16 = 5;
/// The first LeaveGroup version that removes a batch of members.
const LEAVE_BATCH_FROM: i16 = 3;
/// The first ListGroups version that lists each group's type (KIP-848).
const LIST_TYPES_FROM: i16 = 5;
/// The type every group here has: Kafka's classic protocol.
const CLASSIC: &str = "classic";

/// What the answer needs beyond the parts' results.
#[derive(Debug)]
pub(super) enum Planned {
    Join,
    Sync,
    Heartbeat,
    /// The members asked to leave, in request order (v0-2: the one member).
    Leave,
    /// The groups asked about in request order, each sent as a part with the operations
    /// the client may do on it (Kafka's bit field, or "not asked for"), or refused.
    Describe(Vec<(String, Result<i32, i16>)>),
    /// One part per partition of the offsets topic; the answer lists the groups `access`
    /// may see.
    List(Access),
    /// The groups to delete in request order, each sent as a part or refused.
    Delete(Vec<(String, Result<(), i16>)>),
    /// The request's topics and partitions, in order: the part answers each, but for these
    /// topics' partitions, refused (TOPIC_AUTHORIZATION_FAILED) without reaching it.
    OffsetDelete(Vec<(TopicName, Vec<i32>)>),
}

/// Kafka's "authorized operations not asked for" (`-2147483648`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Whether a JoinGroup, SyncGroup, Heartbeat or LeaveGroup may go to its group: it needs
/// Read on the group, else it is answered GROUP_AUTHORIZATION_FAILED at once (the `Err`
/// holds the answer).
pub(super) fn readable(
    access: &Access,
    head: &Head,
    group: &GroupId,
    member_id: &StrBytes,
) -> Result<(), Vec<OutPiece>> {
    if access.allows(Operation::Read, ResourceType::Group, &group.0) {
        return Ok(());
    }
    let error = GROUP_AUTHORIZATION_FAILED;
    count_errors(head, [error]);
    Err(match head.api {
        ApiKey::JoinGroup => {
            // Not nullable before v7.
            let protocol_name = (head.version < JOIN_PROTOCOL_TYPE_FROM).then(StrBytes::default);
            let response = JoinGroupResponse::default()
                .with_error_code(error)
                .with_generation_id(-1)
                .with_protocol_name(protocol_name)
                .with_member_id(member_id.clone());
            respond(head, &response)
        }
        ApiKey::SyncGroup => respond(head, &SyncGroupResponse::default().with_error_code(error)),
        ApiKey::Heartbeat => respond(head, &HeartbeatResponse::default().with_error_code(error)),
        ApiKey::LeaveGroup => respond(head, &LeaveGroupResponse::default().with_error_code(error)),
        other => unreachable!("{other:?} is not a member's group request"),
    })
}

fn one_part(planned: Planned, group: &str, op: GroupOp) -> Plan {
    Plan::Parts {
        planned: AnyPlanned::Group(planned),
        parts: vec![(offsets_partition(group), PartOp::Group(op))],
        min_bytes: 0,
    }
}

fn string(s: &StrBytes) -> String {
    s.as_str().to_string()
}

fn optional(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(string)
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub(super) fn plan_join(
    head: &Head,
    client_id: &str,
    peer: SocketAddr,
    request: JoinGroupRequest,
) -> Plan {
    let session_timeout = millis(request.session_timeout_ms);
    let rebalance_timeout = if head.version >= REBALANCE_TIMEOUT_FROM {
        millis(request.rebalance_timeout_ms)
    } else {
        session_timeout
    };
    let join = group::JoinRequest {
        group_id: string(&request.group_id.0),
        member_id: string(&request.member_id),
        group_instance_id: optional(&request.group_instance_id),
        client_id: client_id.to_string(),
        client_host: client_host(peer),
        session_timeout,
        rebalance_timeout,
        protocol_type: string(&request.protocol_type),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (string(&p.name), p.metadata))
            .collect(),
        require_known_member_id: head.version >= MEMBER_ID_REQUIRED_FROM,
        reason: optional(&request.reason),
    };
    let group = join.group_id.clone();
    one_part(Planned::Join, &group, GroupOp::Join(join))
}

pub(super) fn plan_sync(request: SyncGroupRequest) -> Plan {
    let sync = group::SyncRequest {
        group_id: string(&request.group_id.0),
        generation: request.generation_id,
        member_id: string(&request.member_id),
        group_instance_id: optional(&request.group_instance_id),
        protocol_type: optional(&request.protocol_type),
        protocol_name: optional(&request.protocol_name),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (string(&a.member_id), a.assignment))
            .collect(),
    };
    let group = sync.group_id.clone();
    one_part(Planned::Sync, &group, GroupOp::Sync(sync))
}

pub(super) fn plan_heartbeat(request: HeartbeatRequest) -> Plan {
    let heartbeat = group::HeartbeatRequest {
        group_id: string(&request.group_id.0),
        generation: request.generation_id,
        member_id: string(&request.member_id),
        group_instance_id: optional(&request.group_instance_id),
    };
    let group = heartbeat.group_id.clone();
    one_part(Planned::Heartbeat, &group, GroupOp::Heartbeat(heartbeat))
}

pub(super) fn plan_leave(head: &Head, request: LeaveGroupRequest) -> Plan {
    let members = if head.version >= LEAVE_BATCH_FROM {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: string(&m.member_id),
                group_instance_id: optional(&m.group_instance_id),
                reason: optional(&m.reason),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: string(&request.member_id),
            group_instance_id: None,
            reason: None,
        }]
    };
    let leave = group::LeaveRequest {
        group_id: string(&request.group_id.0),
        members,
    };
    let group = leave.group_id.clone();
    one_part(Planned::Leave, &group, GroupOp::Leave(leave))
}

pub(super) fn plan_describe(access: &Access, request: DescribeGroupsRequest) -> Plan {
    let groups: Vec<(String, Result<i32, i16>)> = request
        .groups
        .iter()
        .map(|g| {
            let group = string(&g.0);
            let asked = match access.allows(Operation::Describe, ResourceType::Group, &group) {
                false => Err(GROUP_AUTHORIZATION_FAILED),
                true if request.include_authorized_operations => {
                    Ok(access.authorized_operations(ResourceType::Group, &group))
                }
                true => Ok(AUTHORIZED_OPERATIONS_OMITTED),
            };
            (group, asked)
        })
        .collect();
    let sent: Vec<String> = allowed_groups(&groups);
    let parts = parts_per_group(&sent, |g| GroupOp::Describe(g.to_string()));
    Plan::Parts {
        planned: AnyPlanned::Group(Planned::Describe(groups)),
        parts,
        min_bytes: 0,
    }
}

/// The groups of a request that are sent as parts, in request order.
fn allowed_groups<T>(groups: &[(String, Result<T, i16>)]) -> Vec<String> {
    groups
        .iter()
        .filter(|(_, asked)| asked.is_ok())
        .map(|(group, _)| group.clone())
        .collect()
}

pub(super) fn plan_list(access: &Access, request: ListGroupsRequest) -> Plan {
    let no_classic = !request.types_filter.is_empty()
        && !request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(CLASSIC));
    let parts = list_parts(request.states_filter.iter().map(|s| s.as_str()), no_classic);
    Plan::Parts {
        planned: AnyPlanned::Group(Planned::List(access.clone())),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn plan_delete(access: &Access, request: DeleteGroupsRequest) -> Plan {
    let groups: Vec<(String, Result<(), i16>)> = request
        .groups_names
        .iter()
        .map(|g| {
            let group = string(&g.0);
            let asked = match access.allows(Operation::Delete, ResourceType::Group, &group) {
                true => Ok(()),
                false => Err(GROUP_AUTHORIZATION_FAILED),
            };
            (group, asked)
        })
        .collect();
    let sent = allowed_groups(&groups);
    let parts = parts_per_group(&sent, |g| GroupOp::Delete(g.to_string()));
    Plan::Parts {
        planned: AnyPlanned::Group(Planned::Delete(groups)),
        parts,
        min_bytes: 0,
    }
}

pub(super) fn plan_offset_delete(
    access: &Access,
    head: &Head,
    request: OffsetDeleteRequest,
) -> Plan {
    let group = string(&request.group_id.0);
    if !access.allows(Operation::Delete, ResourceType::Group, &group) {
        count_errors(head, [GROUP_AUTHORIZATION_FAILED]);
        let response = OffsetDeleteResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
        return Plan::Respond(respond(head, &response));
    }
    let (topics, refused): (Vec<_>, Vec<_>) = request
        .topics
        .into_iter()
        .partition(|t| access.allows(Operation::Read, ResourceType::Topic, &t.name.0));
    let refused = refused
        .into_iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
            (t.name, partitions)
        })
        .collect();
    let partitions = topics
        .iter()
        .flat_map(|t| {
            let topic = string(&t.name.0);
            t.partitions.iter().map(move |p| {
                (
                    topic.clone(),
                    u32::try_from(p.partition_index).unwrap_or(u32::MAX),
                )
            })
        })
        .collect();
    let op = GroupOp::DeleteOffsets {
        group: group.clone(),
        partitions,
    };
    one_part(Planned::OffsetDelete(refused), &group, op)
}

/// The answer from the parts' results.
pub(super) fn finish(head: &Head, planned: Planned, results: Vec<PartResult>) -> Vec<OutPiece> {
    let mut answers = results.into_iter().map(|result| match result {
        PartResult::Group(answer) => answer,
        other => unreachable!("a group part answered {other:?}"),
    });
    match planned {
        Planned::Join => match answers.next() {
            Some(GroupAnswer::Join(outcome)) => join_response(head, outcome),
            other => unreachable!("a join answered {other:?}"),
        },
        Planned::Sync => match answers.next() {
            Some(GroupAnswer::Sync(outcome)) => sync_response(head, outcome),
            other => unreachable!("a sync answered {other:?}"),
        },
        Planned::Heartbeat => match answers.next() {
            Some(GroupAnswer::Heartbeat(error)) => {
                let response = HeartbeatResponse::default().with_error_code(code(error));
                count_errors(head, [response.error_code]);
                respond(head, &response)
            }
            other => unreachable!("a heartbeat answered {other:?}"),
        },
        Planned::Leave => match answers.next() {
            Some(GroupAnswer::Leave(outcome)) => leave_response(head, outcome),
            other => unreachable!("a leave answered {other:?}"),
        },
        Planned::Describe(groups) => {
            let described = groups
                .into_iter()
                .map(|(group, asked)| match asked {
                    Err(error) => DescribedGroup::default()
                        .with_group_id(GroupId(str_bytes(group)))
                        .with_error_code(error)
                        .with_group_state(str_bytes(GroupState::Dead.name())),
                    Ok(operations) => match answers.next() {
                        Some(GroupAnswer::Describe(outcome)) => {
                            described(head, group, outcome).with_authorized_operations(operations)
                        }
                        other => unreachable!("a describe answered {other:?}"),
                    },
                })
                .collect::<Vec<_>>();
            count_errors(head, described.iter().map(|g| g.error_code));
            respond(
                head,
                &DescribeGroupsResponse::default().with_groups(described),
            )
        }
        Planned::List(access) => list_response(head, &access, answers),
        Planned::Delete(groups) => {
            let results = groups
                .into_iter()
                .map(|(group, asked)| {
                    let error = match asked {
                        Err(error) => error,
                        Ok(()) => match answers.next() {
                            Some(GroupAnswer::Delete(error)) => code(error),
                            other => unreachable!("a delete answered {other:?}"),
                        },
                    };
                    DeletableGroupResult::default()
                        .with_group_id(GroupId(str_bytes(group)))
                        .with_error_code(error)
                })
                .collect::<Vec<_>>();
            count_errors(head, results.iter().map(|r| r.error_code));
            respond(head, &DeleteGroupsResponse::default().with_results(results))
        }
        Planned::OffsetDelete(refused) => match answers.next() {
            Some(GroupAnswer::DeleteOffsets(outcome)) => {
                offset_delete_response(head, outcome, refused)
            }
            other => unreachable!("an offset delete answered {other:?}"),
        },
    }
}

fn join_response(head: &Head, outcome: JoinOutcome) -> Vec<OutPiece> {
    let with_instance_ids = head.version >= JOIN_INSTANCE_ID_FROM;
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(
                    m.group_instance_id
                        .filter(|_| with_instance_ids)
                        .map(str_bytes),
                )
                .with_metadata(m.metadata)
        })
        .collect();
    let protocol_type = if head.version >= JOIN_PROTOCOL_TYPE_FROM {
        outcome.protocol_type.map(str_bytes)
    } else {
        None
    };
    // Not nullable before v7: an error answers an empty name.
    let protocol_name = match outcome.protocol_name {
        Some(name) => Some(str_bytes(name)),
        None if head.version < JOIN_PROTOCOL_TYPE_FROM => Some(StrBytes::default()),
        None => None,
    };
    let response = JoinGroupResponse::default()
        .with_error_code(code(outcome.error))
        .with_generation_id(outcome.generation)
        .with_protocol_type(protocol_type)
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(outcome.leader))
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members);
    count_errors(head, [response.error_code]);
    respond(head, &response)
}

fn sync_response(head: &Head, outcome: SyncOutcome) -> Vec<OutPiece> {
    let response = SyncGroupResponse::default()
        .with_error_code(code(outcome.error))
        .with_protocol_type(outcome.protocol_type.map(str_bytes))
        .with_protocol_name(outcome.protocol_name.map(str_bytes))
        .with_assignment(outcome.assignment);
    count_errors(head, [response.error_code]);
    respond(head, &response)
}

fn leave_response(
    head: &Head,
    outcome: Result<(Vec<LeavingMember>, Vec<Option<KafkaError>>), KafkaError>,
) -> Vec<OutPiece> {
    let response = match outcome {
        Err(error) => LeaveGroupResponse::default().with_error_code(error.code()),
        Ok((members, errors)) if head.version >= LEAVE_BATCH_FROM => {
            let members: Vec<MemberResponse> = members
                .into_iter()
                .zip(errors)
                .map(|(member, error)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(member.member_id))
                        .with_group_instance_id(member.group_instance_id.map(str_bytes))
                        .with_error_code(code(error))
                })
                .collect();
            LeaveGroupResponse::default().with_members(members)
        }
        // One member: its error is the request's.
        Ok((_, errors)) => {
            LeaveGroupResponse::default().with_error_code(code(errors.into_iter().next().flatten()))
        }
    };
    count_errors(
        head,
        std::iter::once(response.error_code).chain(response.members.iter().map(|m| m.error_code)),
    );
    respond(head, &response)
}

fn described(
    head: &Head,
    group: String,
    outcome: Result<GroupDescription, KafkaError>,
) -> DescribedGroup {
    let _ = head;
    match outcome {
        Err(error) => DescribedGroup::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_error_code(error.code())
            .with_group_state(str_bytes(GroupState::Dead.name())),
        Ok(description) => {
            let members = description
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(GroupId(str_bytes(description.group_id)))
                .with_group_state(str_bytes(description.state.name()))
                .with_protocol_type(str_bytes(description.protocol_type))
                .with_protocol_data(str_bytes(description.protocol))
                .with_members(members)
        }
    }
}

fn list_response(
    head: &Head,
    access: &Access,
    answers: impl Iterator<Item = GroupAnswer>,
) -> Vec<OutPiece> {
    let (groups, error) = merge_listings(answers);
    let with_types = head.version >= LIST_TYPES_FROM;
    let every_group = access.shows(Operation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    let listed = groups
        .into_iter()
        .filter(|g| {
            every_group || access.shows(Operation::Describe, ResourceType::Group, &g.group_id)
        })
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state.name()));
            if with_types {
                listed.with_group_type(str_bytes(CLASSIC))
            } else {
                listed
            }
        })
        .collect();
    let response = ListGroupsResponse::default()
        .with_error_code(code(error))
        .with_groups(listed);
    count_errors(head, [response.error_code]);
    respond(head, &response)
}

fn offset_delete_response(
    head: &Head,
    outcome: Result<Vec<(String, u32, Option<KafkaError>)>, KafkaError>,
    refused: Vec<(TopicName, Vec<i32>)>,
) -> Vec<OutPiece> {
    let response = match outcome {
        Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
        Ok(partitions) => {
            let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
            for (topic, partition, error) in partitions {
                let answered = OffsetDeleteResponsePartition::default()
                    .with_partition_index(i32::try_from(partition).unwrap_or(i32::MAX))
                    .with_error_code(code(error));
                match topics.last_mut() {
                    Some(last) if last.name.0.as_str() == topic => last.partitions.push(answered),
                    _ => topics.push(
                        OffsetDeleteResponseTopic::default()
                            .with_name(TopicName(str_bytes(topic)))
                            .with_partitions(vec![answered]),
                    ),
                }
            }
            topics.extend(refused.into_iter().map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|index| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            }));
            OffsetDeleteResponse::default().with_topics(topics)
        }
    };
    count_errors(
        head,
        std::iter::once(response.error_code).chain(
            response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
    );
    respond(head, &response)
}

/// A group id's bytes as Kafka encodes them, for tests.
#[cfg(test)]
fn group_id(name: &str) -> GroupId {
    GroupId(str_bytes(name))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::group::GroupListing;
    use bytes::Bytes;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;

    fn head(api: ApiKey, version: i16) -> Head {
        Head {
            api,
            version,
            correlation_id: 1,
        }
    }

    fn joined(version: i16) -> group::JoinRequest {
        let request = JoinGroupRequest::default()
            .with_group_id(group_id("g"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(60_000)
            .with_protocol_type(str_bytes("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(str_bytes("range"))
                    .with_metadata(Bytes::from_static(b"m")),
            ]);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let Plan::Parts { parts, .. } =
            plan_join(&head(ApiKey::JoinGroup, version), "client", peer, request)
        else {
            panic!("a join is a part");
        };
        let [(tp, PartOp::Group(GroupOp::Join(join)))] = <[_; 1]>::try_from(parts).unwrap() else {
            panic!("one join part");
        };
        assert_eq!(tp, offsets_partition("g"));
        join
    }

    #[test]
    fn a_join_becomes_the_coordinators_request() {
        let join = joined(5);
        assert_eq!(join.session_timeout, Duration::from_secs(10));
        assert_eq!(join.rebalance_timeout, Duration::from_secs(60));
        assert_eq!(join.client_host, "/127.0.0.1");
        assert_eq!(
            join.protocols,
            vec![("range".to_string(), Bytes::from_static(b"m"))]
        );
        assert!(join.require_known_member_id);
        // v0 has no rebalance timeout: the session timeout stands for it; before v4 a new
        // member is not asked to rejoin with an id.
        let join = joined(0);
        assert_eq!(join.rebalance_timeout, Duration::from_secs(10));
        assert!(!join.require_known_member_id);
    }

    #[test]
    fn a_refused_join_encodes_at_every_version() {
        for version in 0..=9 {
            let outcome = JoinOutcome::error("", KafkaError::InconsistentGroupProtocol);
            let pieces = join_response(&head(ApiKey::JoinGroup, version), outcome);
            assert_eq!(pieces.len(), 1, "v{version}");
        }
    }

    #[test]
    fn a_list_skips_partitions_led_elsewhere() {
        let listing = |id: &str| GroupListing {
            group_id: id.to_string(),
            protocol_type: "consumer".to_string(),
            state: GroupState::Stable,
        };
        let answers = vec![
            GroupAnswer::List(Ok(vec![listing("b")])),
            GroupAnswer::List(Err(KafkaError::NotCoordinator)),
            GroupAnswer::List(Ok(vec![listing("a")])),
        ];
        let pieces = list_response(
            &head(ApiKey::ListGroups, 5),
            &Access::open(),
            answers.into_iter(),
        );
        assert_eq!(pieces.len(), 1);
    }
}
