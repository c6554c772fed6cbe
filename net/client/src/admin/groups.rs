//! [`Admin`]'s consumer-group operations: list (every broker asked, as Kafka's admin client
//! does, since each answers for the groups it coordinates), describe, delete, and the group's
//! committed offsets. A group's requests go to its coordinator (see `group`), retried within
//! `request_timeout` while it moves.

use std::collections::BTreeMap;
use std::time::Duration;

use ringlog_format::Offset;
use ringlog_replication::{BrokerId, TopicPartition};
use tokio::time::Instant;

use super::Admin;
use crate::cluster::unexpected;
use crate::consumer_protocol::{Assignment, PROTOCOL_TYPE};
use crate::error::ClientError;
use crate::group::call_coordinator;
use ringlog_wire::api::delete_groups::DeleteGroupsRequest;
use ringlog_wire::api::describe_groups::DescribeGroupsRequest;
use ringlog_wire::api::list_groups::ListGroupsRequest;
use ringlog_wire::api::offset_fetch::OffsetFetchRequest;
use ringlog_wire::{ErrorCode, Request, Response};

/// A group as ListGroups names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    /// The group's id.
    pub group_id: String,
    /// "consumer" for consumer groups; "" for a group that only stores offsets.
    pub protocol_type: String,
    /// Empty, PreparingRebalance, CompletingRebalance or Stable.
    pub state: String,
}

/// A group's state and members, as its coordinator describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// Empty, PreparingRebalance, CompletingRebalance, Stable, or Dead for a group unknown.
    pub state: String,
    /// "consumer" for consumer groups; "" when unknown.
    pub protocol_type: String,
    /// The protocol (assignor) chosen; "" unless Stable.
    pub protocol: String,
    /// The members, in the coordinator's order.
    pub members: Vec<GroupMemberDescription>,
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMemberDescription {
    /// The id the coordinator gave it.
    pub member_id: String,
    /// A static member's instance id.
    pub group_instance_id: Option<String>,
    /// The client's name for itself.
    pub client_id: String,
    /// Its address as the broker saw it (`/127.0.0.1`).
    pub client_host: String,
    /// Its partitions, decoded from a consumer group's assignment (Kafka's ConsumerProtocol);
    /// empty for other protocol types, or unless the group is Stable.
    pub assignment: Vec<TopicPartition>,
}

impl Admin {
    /// Every group of the cluster: each live broker lists those it coordinates; sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        // Fresh metadata: every live broker must be asked, not those of an old answer.
        let generation = self.cluster.metadata().generation();
        self.cluster.refresh_metadata(generation).await?;
        let brokers: Vec<BrokerId> = self
            .cluster
            .metadata()
            .brokers()
            .map(|(id, _)| id)
            .collect();
        let mut groups = BTreeMap::new();
        for broker in brokers {
            let request = Request::ListGroups(ListGroupsRequest { states: Vec::new() });
            let response = match self
                .cluster
                .send_to_broker(broker, request, Duration::ZERO)
                .await?
            {
                Response::ListGroups(response) => response,
                Response::Error(error) => {
                    return Err(ClientError::broker(
                        format!("list groups of broker {broker}"),
                        error.error_code,
                        Some(error.message),
                    ));
                }
                other => return Err(unexpected("ListGroups", &other)),
            };
            for group in response.groups {
                groups.insert(
                    group.group_id.clone(),
                    GroupListing {
                        group_id: group.group_id,
                        protocol_type: group.protocol_type,
                        state: group.state,
                    },
                );
            }
        }
        Ok(groups.into_values().collect())
    }

    /// The group's state and members; a group the coordinator does not know is `Dead` with
    /// no members, as Kafka describes it.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, ClientError> {
        let request = Request::DescribeGroups(DescribeGroupsRequest {
            groups: vec![group.to_string()],
        });
        let response = match self.call(group, request).await? {
            Response::DescribeGroups(response) => response,
            other => return Err(unexpected("DescribeGroups", &other)),
        };
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| missing_group("describe", group))?;
        if !described.error_code.is_none() {
            return Err(ClientError::broker(
                format!("describe group {group}"),
                described.error_code,
                None,
            ));
        }
        let is_consumer = described.protocol_type == PROTOCOL_TYPE;
        let members = described
            .members
            .into_iter()
            .map(|member| GroupMemberDescription {
                assignment: if is_consumer {
                    assigned_partitions(&member.assignment)
                } else {
                    Vec::new()
                },
                member_id: member.member_id,
                group_instance_id: member.group_instance_id,
                client_id: member.client_id,
                client_host: member.client_host,
            })
            .collect();
        Ok(GroupDescription {
            group_id: described.group_id,
            state: described.state,
            protocol_type: described.protocol_type,
            protocol: described.protocol,
            members,
        })
    }

    /// Deletes the group and its committed offsets; refused (NON_EMPTY_GROUP) while it has
    /// members, and GROUP_ID_NOT_FOUND for a group unknown.
    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        let request = Request::DeleteGroups(DeleteGroupsRequest {
            groups: vec![group.to_string()],
        });
        let response = match self.call(group, request).await? {
            Response::DeleteGroups(response) => response,
            other => return Err(unexpected("DeleteGroups", &other)),
        };
        let result = response
            .results
            .into_iter()
            .find(|r| r.group_id == group)
            .ok_or_else(|| missing_group("delete", group))?;
        match result.error_code {
            ErrorCode::NONE => Ok(()),
            code => Err(ClientError::broker(
                format!("delete group {group}"),
                code,
                None,
            )),
        }
    }

    /// Every offset the group committed, by partition.
    pub async fn group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, Offset>, ClientError> {
        let request = Request::OffsetFetch(OffsetFetchRequest {
            group_id: group.to_string(),
            topics: None,
        });
        let response = match self.call(group, request).await? {
            Response::OffsetFetch(response) => response,
            other => return Err(unexpected("OffsetFetch", &other)),
        };
        let mut offsets = BTreeMap::new();
        for topic in response.topics {
            for partition in topic.partitions {
                let topic_partition =
                    TopicPartition::new(topic.name.clone(), partition.partition_index);
                if !partition.error_code.is_none() {
                    return Err(ClientError::broker(
                        format!("committed offset of {topic_partition} for group {group}"),
                        partition.error_code,
                        None,
                    ));
                }
                if let Some(offset) = partition.committed_offset {
                    offsets.insert(topic_partition, offset);
                }
            }
        }
        Ok(offsets)
    }

    async fn call(&self, group: &str, request: Request) -> Result<Response, ClientError> {
        let deadline = Instant::now() + self.cluster.config.request_timeout;
        call_coordinator(&self.cluster, group, request, Duration::ZERO, deadline).await
    }
}

/// The partitions of a ConsumerProtocol assignment; none when it does not decode (a member of
/// another client may put anything there).
fn assigned_partitions(bytes: &[u8]) -> Vec<TopicPartition> {
    let Ok(assignment) = Assignment::decode(bytes) else {
        return Vec::new();
    };
    assignment
        .partitions
        .into_iter()
        .flat_map(|(topic, partitions)| {
            partitions
                .into_iter()
                .map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect()
}

fn missing_group(what: &str, group: &str) -> ClientError {
    ClientError::Protocol {
        address: "coordinator".into(),
        detail: format!("the answer to {what} group {group} does not mention the group"),
    }
}
