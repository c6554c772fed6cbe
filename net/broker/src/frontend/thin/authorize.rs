//! What a thin request needs of the authorizer (`authorizer_enabled`), with the operations
//! Kafka's requests of the same keys need (`docs/security.md` has the table): Write on each
//! topic produced to, Read on each fetched (a follower's fetch: ClusterAction on the cluster),
//! Describe on each listed or described, Read on a member's group, Alter or Describe on the
//! cluster for users and ACLs, and so on.
//!
//! The thin protocol refuses a request whole: one resource it may not use and the request is
//! answered with the error response (section 2 of `net/PROTOCOL.md`), TOPIC_, GROUP_ or
//! CLUSTER_AUTHORIZATION_FAILED naming the resource and the operation, and nothing of it is
//! carried out. Listings show what the client may see instead: Metadata of every topic lists
//! those it may describe ([`shows_topic`]).

use ringlog_security::acl::{CLUSTER_NAME, Operation, ResourceType};
use ringlog_wire::api::Topic;
use ringlog_wire::{ErrorCode, ErrorResponse, Request};

use crate::frontend::access::Access;

/// Whether `request` may be carried out: `Err` is its refusal.
pub(super) fn authorize(access: &Access, request: &Request) -> Result<(), ErrorResponse> {
    let check = Check { access };
    match request {
        Request::ApiVersions(_) | Request::SaslHandshake(_) | Request::SaslAuthenticate(_) => {
            Ok(())
        }
        // Every topic: the answer lists those the client may describe.
        Request::Metadata(metadata) => match &metadata.topics {
            None => Ok(()),
            Some(names) => names
                .iter()
                .try_for_each(|name| check.topic(Operation::Describe, name)),
        },
        Request::CreateTopics(create) => {
            create
                .topics
                .iter()
                .try_for_each(|topic| match access.may_create_topic(&topic.name) {
                    true => Ok(()),
                    false => Err(refusal(Operation::Create, ResourceType::Topic, &topic.name)),
                })
        }
        Request::DeleteTopics(delete) => delete
            .topic_names
            .iter()
            .try_for_each(|name| check.topic(Operation::Delete, name)),
        Request::AlterConfigs(alter) => alter
            .topics
            .iter()
            .try_for_each(|topic| check.topic(Operation::AlterConfigs, &topic.name)),
        Request::DescribeConfigs(describe) => describe
            .topics
            .iter()
            .try_for_each(|topic| check.topic(Operation::DescribeConfigs, &topic.name)),
        Request::InitProducerId(_) => {
            let may = access.shows(
                Operation::IdempotentWrite,
                ResourceType::Cluster,
                CLUSTER_NAME,
            ) || access.allows_some(Operation::Write, ResourceType::Topic);
            match may {
                true => Ok(()),
                false => Err(refusal(
                    Operation::IdempotentWrite,
                    ResourceType::Cluster,
                    CLUSTER_NAME,
                )),
            }
        }
        Request::Produce(produce) => check.topics(Operation::Write, &produce.topics),
        Request::Fetch(fetch) => match fetch.replica_id {
            Some(_) => check.cluster(Operation::ClusterAction),
            None => check.topics(Operation::Read, &fetch.topics),
        },
        Request::ListOffsets(list) => check.topics(Operation::Describe, &list.topics),
        Request::OffsetForLeaderEpoch(_) => Ok(()),
        Request::OffsetCommit(commit) => {
            check.group(Operation::Read, &commit.group_id)?;
            check.topics(Operation::Read, &commit.topics)
        }
        Request::OffsetFetch(fetch) => {
            check.group(Operation::Describe, &fetch.group_id)?;
            fetch
                .topics
                .iter()
                .flatten()
                .try_for_each(|topic| check.topic(Operation::Describe, &topic.name))
        }
        Request::JoinGroup(join) => check.group(Operation::Read, &join.group_id),
        Request::SyncGroup(sync) => check.group(Operation::Read, &sync.group_id),
        Request::Heartbeat(heartbeat) => check.group(Operation::Read, &heartbeat.group_id),
        Request::LeaveGroup(leave) => check.group(Operation::Read, &leave.group_id),
        Request::DescribeGroups(describe) => describe
            .groups
            .iter()
            .try_for_each(|group| check.group(Operation::Describe, group)),
        Request::ListGroups(_) => check.cluster(Operation::Describe),
        Request::DeleteGroups(delete) => delete
            .groups
            .iter()
            .try_for_each(|group| check.group(Operation::Delete, group)),
        Request::DescribeAcls(_) | Request::DescribeUserScramCredentials(_) => {
            check.cluster(Operation::Describe)
        }
        Request::CreateAcls(_) | Request::DeleteAcls(_) | Request::AlterUserScramCredentials(_) => {
            check.cluster(Operation::Alter)
        }
    }
}

/// Whether Metadata of every topic lists `name`.
pub(super) fn shows_topic(access: &Access, name: &str) -> bool {
    access.shows(Operation::Describe, ResourceType::Topic, name)
}

struct Check<'a> {
    access: &'a Access,
}

impl Check<'_> {
    fn topic(&self, operation: Operation, name: &str) -> Result<(), ErrorResponse> {
        self.resource(operation, ResourceType::Topic, name)
    }

    fn topics<P>(&self, operation: Operation, topics: &[Topic<P>]) -> Result<(), ErrorResponse> {
        topics
            .iter()
            .try_for_each(|topic| self.topic(operation, &topic.name))
    }

    fn group(&self, operation: Operation, group: &str) -> Result<(), ErrorResponse> {
        self.resource(operation, ResourceType::Group, group)
    }

    fn cluster(&self, operation: Operation) -> Result<(), ErrorResponse> {
        self.resource(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    fn resource(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), ErrorResponse> {
        match self.access.allows(operation, resource_type, name) {
            true => Ok(()),
            false => Err(refusal(operation, resource_type, name)),
        }
    }
}

/// The refusal of a request that asked for `operation` on the resource.
fn refusal(operation: Operation, resource_type: ResourceType, name: &str) -> ErrorResponse {
    let error_code = match resource_type {
        ResourceType::Topic => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        ResourceType::Group => ErrorCode::GROUP_AUTHORIZATION_FAILED,
        _ => ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
    };
    let message = format!(
        "not authorized: {} on {} {name:?}",
        operation.name(),
        resource_type.name()
    );
    ErrorResponse {
        error_code,
        message,
    }
}
