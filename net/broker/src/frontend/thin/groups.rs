//! Consumer-group membership on the thin protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! DescribeGroups, ListGroups and DeleteGroups become operations on the coordinator of each
//! group's partition of `__consumer_offsets` ([`parts`]), as the Kafka frontend's do, and the
//! coordinator's answers become the thin responses ([`respond`]). The request itself is kept
//! until the answer (the thin frontend's `Pending`): it says which groups were asked about.

use std::net::SocketAddr;

use ringlog_replication::{KafkaError, TopicPartition};
use ringlog_wire::api::delete_groups::{DeleteGroupsResponse, DeletedGroup};
use ringlog_wire::api::describe_groups::{DescribeGroupsResponse, DescribedGroup, DescribedMember};
use ringlog_wire::api::heartbeat::HeartbeatResponse;
use ringlog_wire::api::join_group::{JoinGroupMember, JoinGroupRequest, JoinGroupResponse};
use ringlog_wire::api::leave_group::{
    LeaveGroupMemberResponse, LeaveGroupRequest, LeaveGroupResponse,
};
use ringlog_wire::api::list_groups::{ListGroupsResponse, ListedGroup};
use ringlog_wire::api::sync_group::{SyncGroupRequest, SyncGroupResponse};
use ringlog_wire::{ErrorCode, ErrorResponse, Request, Response};

use super::code_of;
use crate::frontend::groups::{
    client_host, list_parts, merge_listings, millis, offsets_partition, parts_per_group,
};
use crate::group::{self, GroupDescription, GroupState, JoinOutcome, LeavingMember, SyncOutcome};
use crate::ops::{GroupAnswer, GroupOp, PartOp, PartResult};

/// The parts of a group request (`None` for any other request), on the coordinators of its
/// groups; `peer` is the connection's, a joining member's host.
pub(super) fn parts(peer: SocketAddr, request: &Request) -> Option<Vec<(TopicPartition, PartOp)>> {
    let one = |group: &str, op: GroupOp| vec![(offsets_partition(group), PartOp::Group(op))];
    let parts = match request {
        Request::JoinGroup(join) => one(&join.group_id, GroupOp::Join(join_request(peer, join))),
        Request::SyncGroup(sync) => one(&sync.group_id, GroupOp::Sync(sync_request(sync))),
        Request::Heartbeat(heartbeat) => one(
            &heartbeat.group_id,
            GroupOp::Heartbeat(group::HeartbeatRequest {
                group_id: heartbeat.group_id.clone(),
                generation: heartbeat.generation_id,
                member_id: heartbeat.member_id.clone(),
                group_instance_id: heartbeat.group_instance_id.clone(),
            }),
        ),
        Request::LeaveGroup(leave) => one(&leave.group_id, GroupOp::Leave(leave_request(leave))),
        Request::DescribeGroups(describe) => {
            parts_per_group(&describe.groups, |g| GroupOp::Describe(g.to_string()))
        }
        Request::ListGroups(list) => list_parts(list.states.iter().map(String::as_str), false),
        Request::DeleteGroups(delete) => {
            parts_per_group(&delete.groups, |g| GroupOp::Delete(g.to_string()))
        }
        _ => return None,
    };
    Some(parts)
}

/// A thin JoinGroup in the coordinator's terms. A new member is always given its id first
/// (MEMBER_ID_REQUIRED), as by Kafka's JoinGroup v4+.
fn join_request(peer: SocketAddr, join: &JoinGroupRequest) -> group::JoinRequest {
    group::JoinRequest {
        group_id: join.group_id.clone(),
        member_id: join.member_id.clone(),
        group_instance_id: join.group_instance_id.clone(),
        client_id: join.client_id.clone(),
        client_host: client_host(peer),
        session_timeout: millis(join.session_timeout_ms),
        rebalance_timeout: millis(join.rebalance_timeout_ms),
        protocol_type: join.protocol_type.clone(),
        protocols: join
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect(),
        require_known_member_id: true,
        reason: None,
    }
}

fn sync_request(sync: &SyncGroupRequest) -> group::SyncRequest {
    group::SyncRequest {
        group_id: sync.group_id.clone(),
        generation: sync.generation_id,
        member_id: sync.member_id.clone(),
        group_instance_id: sync.group_instance_id.clone(),
        protocol_type: sync.protocol_type.clone(),
        protocol_name: sync.protocol_name.clone(),
        assignments: sync
            .assignments
            .iter()
            .map(|a| (a.member_id.clone(), a.assignment.clone()))
            .collect(),
    }
}

fn leave_request(leave: &LeaveGroupRequest) -> group::LeaveRequest {
    group::LeaveRequest {
        group_id: leave.group_id.clone(),
        members: leave
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                reason: m.reason.clone(),
            })
            .collect(),
    }
}

/// The response to a group request from its parts' answers, in part order.
pub(super) fn respond(request: &Request, results: Vec<PartResult>) -> Response {
    let mut answers = results.into_iter().map(|result| match result {
        PartResult::Group(answer) => answer,
        other => unreachable!("a group part answered {other:?}"),
    });
    match (request, answers.next()) {
        (Request::JoinGroup(_), Some(GroupAnswer::Join(outcome))) => join_response(outcome),
        (Request::SyncGroup(_), Some(GroupAnswer::Sync(outcome))) => sync_response(outcome),
        (Request::Heartbeat(_), Some(GroupAnswer::Heartbeat(error))) => {
            Response::Heartbeat(HeartbeatResponse {
                error_code: code_of(error),
            })
        }
        (Request::LeaveGroup(_), Some(GroupAnswer::Leave(outcome))) => leave_response(outcome),
        (Request::DescribeGroups(describe), first) => {
            let groups = describe
                .groups
                .iter()
                .zip(first.into_iter().chain(answers))
                .map(|(group, answer)| match answer {
                    GroupAnswer::Describe(outcome) => described(group, outcome),
                    other => unreachable!("a describe answered {other:?}"),
                })
                .collect();
            Response::DescribeGroups(DescribeGroupsResponse { groups })
        }
        (Request::ListGroups(_), first) => list_response(first.into_iter().chain(answers)),
        (Request::DeleteGroups(delete), first) => {
            let results = delete
                .groups
                .iter()
                .zip(first.into_iter().chain(answers))
                .map(|(group, answer)| match answer {
                    GroupAnswer::Delete(error) => DeletedGroup {
                        group_id: group.clone(),
                        error_code: code_of(error),
                    },
                    other => unreachable!("a delete answered {other:?}"),
                })
                .collect();
            Response::DeleteGroups(DeleteGroupsResponse { results })
        }
        (request, answer) => unreachable!(
            "{:?} is not a group request answered {answer:?}",
            request.api_key()
        ),
    }
}

fn join_response(outcome: JoinOutcome) -> Response {
    Response::JoinGroup(JoinGroupResponse {
        error_code: code_of(outcome.error),
        generation_id: outcome.generation,
        protocol_type: outcome.protocol_type,
        protocol_name: outcome.protocol_name,
        leader: outcome.leader,
        member_id: outcome.member_id,
        members: outcome
            .members
            .into_iter()
            .map(|m| JoinGroupMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                metadata: m.metadata,
            })
            .collect(),
    })
}

fn sync_response(outcome: SyncOutcome) -> Response {
    Response::SyncGroup(SyncGroupResponse {
        error_code: code_of(outcome.error),
        protocol_type: outcome.protocol_type,
        protocol_name: outcome.protocol_name,
        assignment: outcome.assignment,
    })
}

/// Each member's answer; a refusal of the whole request is the frame's error.
fn leave_response(
    outcome: Result<(Vec<LeavingMember>, Vec<Option<KafkaError>>), KafkaError>,
) -> Response {
    match outcome {
        Ok((members, errors)) => Response::LeaveGroup(LeaveGroupResponse {
            members: members
                .into_iter()
                .zip(errors)
                .map(|(member, error)| LeaveGroupMemberResponse {
                    member_id: member.member_id,
                    group_instance_id: member.group_instance_id,
                    error_code: code_of(error),
                })
                .collect(),
        }),
        Err(error) => refused(error, "the group's coordinator refused the leave"),
    }
}

fn described(group: &str, outcome: Result<GroupDescription, KafkaError>) -> DescribedGroup {
    match outcome {
        Err(error) => DescribedGroup {
            error_code: ErrorCode::from(error),
            group_id: group.to_string(),
            state: GroupState::Dead.name().to_string(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        },
        Ok(description) => DescribedGroup {
            error_code: ErrorCode::NONE,
            group_id: description.group_id,
            state: description.state.name().to_string(),
            protocol_type: description.protocol_type,
            protocol: description.protocol,
            members: description
                .members
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    metadata: m.metadata,
                    assignment: m.assignment,
                })
                .collect(),
        },
    }
}

/// The groups of the offsets partitions led here; a partition led here that cannot list them
/// refuses the request (its groups would be missing).
fn list_response(answers: impl Iterator<Item = GroupAnswer>) -> Response {
    let (groups, error) = merge_listings(answers);
    if let Some(error) = error {
        return refused(
            error,
            "a group coordinator on this broker cannot list its groups",
        );
    }
    Response::ListGroups(ListGroupsResponse {
        groups: groups
            .into_iter()
            .map(|g| ListedGroup {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                state: g.state.name().to_string(),
            })
            .collect(),
    })
}

fn refused(error: KafkaError, message: &str) -> Response {
    Response::Error(ErrorResponse {
        error_code: ErrorCode::from(error),
        message: message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use ringlog_wire::api::describe_groups::DescribeGroupsRequest;
    use ringlog_wire::api::join_group::JoinGroupProtocol;

    use super::*;

    #[test]
    fn a_join_is_the_coordinators_join_with_the_peer_as_host_and_ids_required() {
        let request = Request::JoinGroup(JoinGroupRequest {
            group_id: "g".to_string(),
            client_id: "c".to_string(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: -5,
            member_id: String::new(),
            group_instance_id: Some("i".to_string()),
            protocol_type: "consumer".to_string(),
            protocols: vec![JoinGroupProtocol {
                name: "range".to_string(),
                metadata: Bytes::from_static(b"m"),
            }],
        });
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let parts = parts(peer, &request).unwrap();
        let [(tp, PartOp::Group(GroupOp::Join(join)))] = <[_; 1]>::try_from(parts).unwrap() else {
            panic!("one join part");
        };
        assert_eq!(tp, offsets_partition("g"));
        assert_eq!(join.client_host, "/127.0.0.1");
        assert_eq!(join.client_id, "c");
        assert!(join.require_known_member_id);
        assert_eq!(join.session_timeout, Duration::from_secs(10));
        assert_eq!(
            join.rebalance_timeout,
            Duration::ZERO,
            "a negative timeout is none"
        );
        assert_eq!(join.group_instance_id.as_deref(), Some("i"));
        assert_eq!(
            join.protocols,
            vec![("range".to_string(), Bytes::from_static(b"m"))]
        );
    }

    #[test]
    fn a_leave_refused_whole_is_the_frames_error() {
        let request = Request::LeaveGroup(LeaveGroupRequest {
            group_id: "g".to_string(),
            members: vec![],
        });
        let answer = GroupAnswer::Leave(Err(KafkaError::NotCoordinator));
        let Response::Error(error) = respond(&request, vec![PartResult::Group(answer)]) else {
            panic!("not refused whole");
        };
        assert_eq!(error.error_code, ErrorCode::NOT_COORDINATOR);
    }

    #[test]
    fn a_group_described_elsewhere_is_dead_with_its_error() {
        let request = Request::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["a".to_string(), "b".to_string()],
        });
        let parts = parts("127.0.0.1:1".parse().unwrap(), &request).unwrap();
        assert_eq!(parts[1].0, offsets_partition("b"));
        let described = GroupDescription {
            group_id: "a".to_string(),
            state: GroupState::Empty,
            protocol_type: String::new(),
            protocol: String::new(),
            members: vec![],
        };
        let results = vec![
            PartResult::Group(GroupAnswer::Describe(Ok(described))),
            PartResult::Group(GroupAnswer::Describe(Err(KafkaError::NotCoordinator))),
        ];
        let Response::DescribeGroups(response) = respond(&request, results) else {
            panic!("not a describe groups response");
        };
        assert_eq!(response.groups[0].state, "Empty");
        assert_eq!(response.groups[0].error_code, ErrorCode::NONE);
        assert_eq!(response.groups[1].group_id, "b");
        assert_eq!(response.groups[1].state, "Dead");
        assert_eq!(response.groups[1].error_code, ErrorCode::NOT_COORDINATOR);
    }
}
