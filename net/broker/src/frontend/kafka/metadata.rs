//! The requests answered from the catalog alone: ApiVersions, Metadata, DescribeCluster and
//! FindCoordinator.
//! With the authorizer on, Metadata of every topic shows those the client may describe;
//! a topic named without Describe, or to be created on first use without Create, is answered
//! TOPIC_AUTHORIZATION_FAILED (by id: with no name); the authorized operations asked for (v8
//! and later) are the client's.
//! Brokers are given by their Kafka listener (a broker without one is left out); the
//! controller a client is told of is the broker it asks, which forwards admin requests to
//! the controller quorum itself.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId, DescribeClusterRequest, DescribeClusterResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_replication::{KafkaError, TopicId, TopicPartition};
use uuid::Uuid;

use ringlog_security::acl::{Operation, ResourceType};

use super::{
    GROUP_AUTHORIZATION_FAILED, Head, SASL_SERVED, SERVED, TOPIC_AUTHORIZATION_FAILED,
    count_errors, respond,
};
use crate::bus::Shared;
use crate::catalog::{BrokerEntry, Catalog};
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::offsets::{OFFSETS_TOPIC, partition_for};

/// Kafka's UNKNOWN_TOPIC_ID.
const UNKNOWN_TOPIC_ID: i16 = 100;
/// Kafka's UNSUPPORTED_ENDPOINT_TYPE.
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;

/// Kafka's "authorized operations not asked for" (`-2147483648`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// What ApiVersions answers: [`SERVED`], and [`SASL_SERVED`] on a SASL listener (exactly what
/// that connection is served), with `error_code` (UNSUPPORTED_VERSION for a version of
/// ApiVersions the broker does not know).
pub(super) fn api_versions(error_code: i16, sasl_listener: bool) -> ApiVersionsResponse {
    let sasl_served = if sasl_listener { SASL_SERVED } else { &[] };
    let api_keys = SERVED
        .iter()
        .chain(sasl_served)
        .map(|&(api, min, max)| {
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

/// A broker's Kafka listener as host and port, if it has one.
fn kafka_endpoint(broker: &BrokerEntry) -> Option<(StrBytes, i32)> {
    let (host, port) = broker.kafka_endpoint.as_deref()?.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((StrBytes::from_string(host.to_string()), port.parse().ok()?))
}

/// The live brokers that have a Kafka listener: id, host, port and rack.
fn live_brokers(
    catalog: &Catalog,
) -> impl Iterator<Item = (BrokerId, StrBytes, i32, Option<StrBytes>)> + '_ {
    catalog
        .brokers()
        .filter(|broker| !broker.fenced)
        .filter_map(|broker| {
            let (host, port) = kafka_endpoint(broker)?;
            let rack = broker.rack.clone().map(StrBytes::from_string);
            Some((BrokerId(broker_id(broker.id)), host, port, rack))
        })
}

pub(super) fn answer(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: MetadataRequest,
) -> Vec<OutPiece> {
    let catalog = shared.catalog();
    let brokers = live_brokers(&catalog)
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
    // v0 names no topics to ask for every one; v1 and later send null.
    let every_topic = match &request.topics {
        None => true,
        Some(topics) => head.version == 0 && topics.is_empty(),
    };
    let auto_create = request.allow_auto_topic_creation || head.version < 4;
    let auto_created = auto_create && shared.options.config.auto_create_topics_enable;
    let names: Vec<Asked> = if every_topic {
        catalog
            .topics()
            .filter(|(name, _)| access.shows(Operation::Describe, ResourceType::Topic, name))
            .map(|(name, _)| Asked::Name(topic_name(name)))
            .collect()
    } else {
        // From v10 a topic may be asked for by id, its name null.
        let topics = request.topics.unwrap_or_default();
        topics
            .into_iter()
            .map(|topic| {
                let (name, by_id) = match topic.name {
                    Some(name) => (name, None),
                    None => {
                        let id = TopicId(topic.topic_id.into_bytes());
                        match catalog.topic_named_by(id) {
                            Some(name) => (topic_name(name), Some(topic.topic_id)),
                            None => return Asked::UnknownId(topic.topic_id),
                        }
                    }
                };
                let denied = || Asked::Denied {
                    name: by_id.is_none().then(|| name.clone()),
                    id: by_id.unwrap_or_default(),
                };
                if !access.allows(Operation::Describe, ResourceType::Topic, &name.0) {
                    return denied();
                }
                let created_here = auto_created && catalog.topic(&name.0).is_none();
                if created_here && !access.may_create_topic(&name.0) {
                    return denied();
                }
                Asked::Name(name)
            })
            .collect()
    };
    if auto_create && !every_topic {
        let named = names.iter().filter_map(|asked| match asked {
            Asked::Name(name) => Some(name.0.as_str()),
            Asked::UnknownId(_) | Asked::Denied { .. } => None,
        });
        super::super::auto_create(shared, named);
    }
    let topics: Vec<MetadataResponseTopic> = names
        .into_iter()
        .map(|name| {
            let topic = topic(&catalog, name, auto_created);
            match request.include_topic_authorized_operations && topic.error_code == 0 {
                true => {
                    let name = topic.name.as_ref().map_or("", |n| n.0.as_str());
                    let operations = access.authorized_operations(ResourceType::Topic, name);
                    topic.with_topic_authorized_operations(operations)
                }
                false => topic,
            }
        })
        .collect();
    count_errors(
        head,
        topics.iter().flat_map(|t| {
            std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
        }),
    );
    let cluster_id = catalog
        .cluster_id()
        .map(|id| StrBytes::from_string(id.to_string()));
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(cluster_id)
        .with_controller_id(BrokerId(broker_id(shared.options.node_id)))
        .with_topics(topics)
        .with_cluster_authorized_operations(match request.include_cluster_authorized_operations {
            true => access.authorized_operations(ResourceType::Cluster, CLUSTER),
            false => AUTHORIZED_OPERATIONS_OMITTED,
        });
    respond(head, &response)
}

/// A topic a Metadata request asks about.
enum Asked {
    Name(TopicName),
    /// By an id no topic has.
    UnknownId(Uuid),
    /// A topic the client may not describe (or create on first use): by its name, or by its
    /// id, whose name the answer does not give away.
    Denied {
        name: Option<TopicName>,
        id: Uuid,
    },
}

/// The name of the cluster resource.
const CLUSTER: &str = ringlog_security::acl::CLUSTER_NAME;

fn topic(catalog: &Catalog, asked: Asked, auto_created: bool) -> MetadataResponseTopic {
    let response = MetadataResponseTopic::default()
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    let name = match asked {
        Asked::Name(name) => name,
        Asked::UnknownId(id) => {
            return response.with_topic_id(id).with_error_code(UNKNOWN_TOPIC_ID);
        }
        Asked::Denied { name, id } => {
            return response
                .with_name(name)
                .with_topic_id(id)
                .with_error_code(TOPIC_AUTHORIZATION_FAILED);
        }
    };
    let Some(entry) = catalog.topic(name.0.as_str()) else {
        // A topic being created on first use is on its way: worth retrying.
        let error = if auto_created {
            KafkaError::LeaderNotAvailable
        } else {
            KafkaError::UnknownTopicOrPartition
        };
        return response.with_name(Some(name)).with_error_code(error.code());
    };
    let partitions = (0..)
        .zip(&entry.partitions)
        .map(|(index, partition)| {
            let ids = |brokers: &[ringlog_replication::BrokerId]| {
                brokers.iter().map(|&b| BrokerId(broker_id(b))).collect()
            };
            let offline: Vec<ringlog_replication::BrokerId> = partition
                .replicas()
                .iter()
                .copied()
                .filter(|&r| catalog.broker(r).is_none_or(|b| b.fenced))
                .collect();
            let error = match partition.leader() {
                Some(_) => 0,
                None => KafkaError::LeaderNotAvailable.code(),
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index)
                .with_leader_id(BrokerId(partition.leader().map_or(-1, broker_id)))
                .with_leader_epoch(epoch(partition.leader_epoch().0))
                .with_replica_nodes(ids(partition.replicas()))
                .with_isr_nodes(ids(partition.isr()))
                .with_offline_replicas(ids(&offline))
        })
        .collect();
    response
        .with_is_internal(name.0.as_str() == OFFSETS_TOPIC)
        .with_topic_id(Uuid::from_bytes(entry.id.0))
        .with_name(Some(name))
        .with_partitions(partitions)
}

/// DescribeCluster v0 and v1: the cluster's id, the live brokers by their Kafka listener, and
/// the broker asked as the controller (see the module doc).
pub(super) fn describe_cluster(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: DescribeClusterRequest,
) -> Vec<OutPiece> {
    let catalog = shared.catalog();
    // v1's endpoint type: 1 is brokers, 2 controllers (whose endpoints ringlog does not give).
    if request.endpoint_type > 1 {
        let message = format!(
            "endpoint type {} is not served: only brokers (1)",
            request.endpoint_type
        );
        let response = DescribeClusterResponse::default()
            .with_error_code(UNSUPPORTED_ENDPOINT_TYPE)
            .with_error_message(Some(StrBytes::from_string(message)))
            .with_endpoint_type(request.endpoint_type);
        count_errors(head, [UNSUPPORTED_ENDPOINT_TYPE]);
        return respond(head, &response);
    }
    let brokers = live_brokers(&catalog)
        .map(|(id, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
    let cluster_id = catalog.cluster_id().unwrap_or_default().to_string();
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(StrBytes::from_string(cluster_id))
        .with_controller_id(BrokerId(broker_id(shared.options.node_id)))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(match request.include_cluster_authorized_operations {
            true => access.authorized_operations(ResourceType::Cluster, CLUSTER),
            false => AUTHORIZED_OPERATIONS_OMITTED,
        });
    respond(head, &response)
}

/// FindCoordinator v0 to v3: a group's coordinator is the leader of the group's partition of
/// the offsets topic. Transactions have no coordinator in ringlog.
pub(super) fn find_coordinator(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: FindCoordinatorRequest,
) -> Vec<OutPiece> {
    let response = if head.version >= BATCHED_COORDINATORS_FROM {
        // KIP-699: every key answered on its own.
        let coordinators: Vec<Coordinator> = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let found = coordinator(shared, access, request.key_type, key.as_str());
                let answered = Coordinator::default().with_key(key.clone());
                match found {
                    Ok((node_id, host, port)) => answered
                        .with_node_id(BrokerId(node_id))
                        .with_host(host)
                        .with_port(port),
                    Err((error, message)) => answered
                        .with_error_code(error)
                        .with_error_message(Some(StrBytes::from_string(message)))
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                }
            })
            .collect();
        count_errors(head, coordinators.iter().map(|c| c.error_code));
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        let response = match coordinator(shared, access, request.key_type, request.key.as_str()) {
            Ok((node_id, host, port)) => FindCoordinatorResponse::default()
                .with_node_id(BrokerId(node_id))
                .with_host(host)
                .with_port(port),
            Err((error, message)) => FindCoordinatorResponse::default()
                .with_error_code(error)
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        };
        count_errors(head, [response.error_code]);
        response
    };
    respond(head, &response)
}

/// The first FindCoordinator version that looks up a batch of keys (KIP-699).
const BATCHED_COORDINATORS_FROM: i16 = 4;

/// The coordinator's id, host and port, or why there is none (an error code and a message).
/// Finding a group's coordinator needs Describe on the group.
fn coordinator(
    shared: &Shared,
    access: &Access,
    key_type: i8,
    group: &str,
) -> Result<(i32, StrBytes, i32), (i16, String)> {
    let unavailable = |why: String| (KafkaError::CoordinatorNotAvailable.code(), why);
    if key_type != 0 {
        let why = format!("key type {key_type} has no coordinator: ringlog has no transactions");
        return Err(unavailable(why));
    }
    if !access.allows(Operation::Describe, ResourceType::Group, group) {
        let why = format!("not authorized to describe group {group:?}");
        return Err((GROUP_AUTHORIZATION_FAILED, why));
    }
    let catalog = shared.catalog();
    let offsets = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    let partition = catalog
        .partition(&offsets)
        .ok_or_else(|| unavailable(format!("{offsets} does not exist yet")))?;
    let leader = partition
        .leader()
        .ok_or_else(|| unavailable(format!("{offsets} has no leader")))?;
    let (host, port) = catalog
        .broker(leader)
        .filter(|broker| !broker.fenced)
        .and_then(kafka_endpoint)
        .ok_or_else(|| unavailable(format!("broker {leader} has no Kafka listener")))?;
    Ok((broker_id(leader), host, port))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A broker id as Kafka's `int32` (node ids are at most 2^31-1, `node_id`'s range).
fn broker_id(id: ringlog_replication::BrokerId) -> i32 {
    i32::try_from(id.0).unwrap_or(i32::MAX)
}

fn epoch(epoch: u32) -> i32 {
    i32::try_from(epoch).unwrap_or(i32::MAX)
}
