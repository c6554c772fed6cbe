//! The admin requests: CreateTopics, CreatePartitions and DeleteTopics (carried out by the
//! agent through the controller quorum), DescribeConfigs (from the catalog), AlterConfigs and
//! IncrementalAlterConfigs (the agent).
//!
//! Config keys are Kafka's names on this protocol (`retention.ms`, `cleanup.policy`, ...),
//! mapped both ways to ringlog's (`retention_ms`; [`ringlog_key`], [`kafka_key`]). A value
//! ringlog does not support (`cleanup.policy=compact`) is refused with INVALID_CONFIG naming
//! the key, as an unknown key is.
//!
//! Each entry is authorized on its own, as Kafka authorizes it, and a refused one answered
//! without reaching the agent: creating a topic needs Create on the cluster or the topic,
//! deleting one Delete, adding partitions Alter (TOPIC_AUTHORIZATION_FAILED); describing
//! configs needs DescribeConfigs and altering them AlterConfigs, on the topic or, for a
//! broker's, on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::time::Duration;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_replication::driver::Refusal;
use ringlog_replication::{BrokerId, KafkaError};

use ringlog_security::acl::{Operation, ResourceType};

use super::{
    CLUSTER_AUTHORIZATION_FAILED, Head, Plan, Planned as AnyPlanned, TOPIC_AUTHORIZATION_FAILED,
    count_errors, respond,
};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{AdminOp, AdminOutcome, NewPartitions, NewTopic, TopicAlteration};
use crate::topic_config::{TopicConfigEntry, TopicConfigKey, TopicSettings};

/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;
/// Kafka's INVALID_CONFIG.
const INVALID_CONFIG: i16 = 40;
/// DescribeConfigs' and AlterConfigs' resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// DescribeConfigs' config sources.
const TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// ringlog's name of Kafka's topic config key `kafka` (`retention.ms` is `retention_ms`,
/// `flush.ms` is `flush_interval_ms`); ringlog's own name is taken as well.
pub(crate) fn ringlog_key(kafka: &str) -> String {
    match kafka {
        "flush.ms" => "flush_interval_ms".to_string(),
        "flush.policy" => "flush_policy".to_string(),
        other => other.replace('.', "_"),
    }
}

/// Kafka's name of a topic config key.
pub(crate) fn kafka_key(key: TopicConfigKey) -> String {
    match key {
        TopicConfigKey::FlushIntervalMs => "flush.ms".to_string(),
        other => other.name().replace('_', "."),
    }
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A request timeout in milliseconds as a duration (a negative one is none).
fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// CreateTopics: each topic with a partition count and replication factor (-1: the broker's
/// defaults), or with its replicas assigned by hand (and both counts -1, as Kafka requires).
pub(super) fn plan_create(access: &Access, request: CreateTopicsRequest) -> Plan {
    let mut planned = Planned::default();
    let mut topics = Vec::new();
    for (position, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        if !access.may_create_topic(&name) {
            planned.refuse_topic(position, name, Operation::Create);
            continue;
        }
        let assignments = match assigned_replicas(&topic) {
            Ok(assignments) => assignments,
            Err((code, message)) => {
                planned.refused.push(Refused {
                    position,
                    name,
                    resource_type: TOPIC,
                    code,
                    message,
                });
                continue;
            }
        };
        topics.push(NewTopic {
            name,
            // -1: the broker's default (CreateTopics v4 and up).
            partitions: u32::try_from(topic.num_partitions).ok(),
            replication_factor: u16::try_from(topic.replication_factor).ok(),
            configs: topic
                .configs
                .into_iter()
                .filter_map(|c| Some((ringlog_key(&c.name), c.value?.to_string())))
                .collect(),
            assignments,
        });
    }
    let op = AdminOp::CreateTopics {
        topics,
        timeout: millis(request.timeout_ms),
        validate_only: request.validate_only,
    };
    Plan::Admin(op, AnyPlanned::Admin(planned))
}

/// A topic's replicas assigned by hand, one list per partition in index order; the
/// controller checks the brokers.
fn assigned_replicas(topic: &CreatableTopic) -> Result<Option<Vec<Vec<BrokerId>>>, (i16, String)> {
    if topic.assignments.is_empty() {
        return Ok(None);
    }
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        let message = format!(
            "topic {}: with a replica assignment, the partition count and replication factor \
             must be -1 (they are {} and {})",
            topic.name.0, topic.num_partitions, topic.replication_factor
        );
        return Err((INVALID_REQUEST, message));
    }
    let mut assignments: Vec<&CreatableReplicaAssignment> = topic.assignments.iter().collect();
    assignments.sort_by_key(|a| a.partition_index);
    let consecutive = (0..).zip(&assignments).all(|(i, a)| a.partition_index == i);
    if !consecutive {
        let message = format!(
            "topic {}: the assignment must name partitions 0 to {} once each",
            topic.name.0,
            assignments.len() - 1
        );
        return Err((KafkaError::InvalidReplicaAssignment.code(), message));
    }
    Ok(Some(
        assignments
            .iter()
            .map(|a| broker_ids(&a.broker_ids))
            .collect(),
    ))
}

/// Kafka's broker ids as ringlog's (a negative one names no broker: u32::MAX, which the
/// controller refuses as not registered).
fn broker_ids(ids: &[kafka_protocol::messages::BrokerId]) -> Vec<BrokerId> {
    ids.iter()
        .map(|id| BrokerId(u32::try_from(id.0).unwrap_or(u32::MAX)))
        .collect()
}

/// CreatePartitions: each topic grows to its new count, its new partitions spread over the
/// live brokers or assigned by hand.
pub(super) fn plan_create_partitions(access: &Access, request: CreatePartitionsRequest) -> Plan {
    let mut planned = Planned::default();
    let mut topics = Vec::new();
    for (position, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        if !access.allows(Operation::Alter, ResourceType::Topic, &name) {
            planned.refuse_topic(position, name, Operation::Alter);
            continue;
        }
        topics.push(NewPartitions {
            name,
            count: u32::try_from(topic.count).unwrap_or(0),
            assignments: topic
                .assignments
                .map(|lists| lists.iter().map(|a| broker_ids(&a.broker_ids)).collect()),
        });
    }
    let op = AdminOp::CreatePartitions {
        topics,
        timeout: millis(request.timeout_ms),
        validate_only: request.validate_only,
    };
    Plan::Admin(op, AnyPlanned::Admin(planned))
}

pub(super) fn plan_delete(access: &Access, request: DeleteTopicsRequest) -> Plan {
    // v6 names topics in `topics` (by name or id); earlier versions in `topic_names`.
    let mut names: Vec<String> = request
        .topic_names
        .iter()
        .map(|n| n.0.to_string())
        .collect();
    names.extend(
        request
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref())
            .map(|n| n.0.to_string()),
    );
    let mut planned = Planned::default();
    let mut allowed = Vec::with_capacity(names.len());
    for (position, name) in names.into_iter().enumerate() {
        match access.allows(Operation::Delete, ResourceType::Topic, &name) {
            true => allowed.push(name),
            false => planned.refuse_topic(position, name, Operation::Delete),
        }
    }
    let op = AdminOp::DeleteTopics {
        names: allowed,
        timeout: millis(request.timeout_ms),
    };
    Plan::Admin(op, AnyPlanned::Admin(planned))
}

/// Why the client may not do `operation` (DescribeConfigs, AlterConfigs) on the configs of
/// the resource of Kafka's config resource type `resource_type` named `name`, if it may not:
/// a topic's are the topic's to authorize, a broker's the cluster's.
fn config_refusal(
    access: &Access,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Option<(i16, String)> {
    let verb = match operation {
        Operation::AlterConfigs => "alter",
        _ => "describe",
    };
    match resource_type {
        TOPIC if !access.allows(operation, ResourceType::Topic, name) => Some((
            TOPIC_AUTHORIZATION_FAILED,
            format!("not authorized to {verb} the configs of topic {name}"),
        )),
        BROKER if !access.allows_cluster(operation) => Some((
            CLUSTER_AUTHORIZATION_FAILED,
            format!("not authorized to {verb} broker configs"),
        )),
        _ => None,
    }
}

/// AlterConfigs replaces a topic's config whole: keys the request does not name return to
/// their defaults, as in Kafka. Only topics can be altered: broker configs are read from the
/// broker's file at start.
pub(super) fn plan_alter(shared: &Shared, access: &Access, request: AlterConfigsRequest) -> Plan {
    let catalog = shared.catalog();
    let mut planned = Planned::default();
    let mut topics = Vec::new();
    for (position, resource) in request.resources.into_iter().enumerate() {
        let name = resource.resource_name.to_string();
        let resource_type = resource.resource_type;
        let refusal = config_refusal(access, Operation::AlterConfigs, resource_type, &name)
            .or_else(|| {
                (resource_type != TOPIC).then(|| (INVALID_REQUEST, not_a_topic(resource_type)))
            });
        if let Some((code, message)) = refusal {
            planned.refused.push(Refused {
                position,
                name,
                resource_type,
                code,
                message,
            });
            continue;
        }
        let mut changes: Vec<(String, Option<String>)> = resource
            .configs
            .into_iter()
            .map(|c| (ringlog_key(&c.name), c.value.map(|v| v.to_string())))
            .collect();
        let set: Vec<String> = catalog
            .topic(&name)
            .map(|t| t.configs.keys().cloned().collect())
            .unwrap_or_default();
        for key in set {
            if !changes.iter().any(|(named, _)| *named == key) {
                changes.push((key, None));
            }
        }
        topics.push(TopicAlteration { name, changes });
    }
    let op = AdminOp::AlterConfigs {
        topics,
        validate_only: request.validate_only,
    };
    Plan::Admin(op, AnyPlanned::Admin(planned))
}

/// IncrementalAlterConfigs' operations on one key.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// IncrementalAlterConfigs: per topic, each key named is set, deleted (back to its default)
/// or, for a list (`cleanup.policy`, ringlog's one list), appended to or subtracted from; the
/// keys not named keep their values. Only topics can be altered.
pub(super) fn plan_incremental(
    shared: &Shared,
    access: &Access,
    request: IncrementalAlterConfigsRequest,
) -> Plan {
    let catalog = shared.catalog();
    let defaults = shared.options.config.topic_defaults();
    let mut planned = Planned::default();
    let mut topics = Vec::new();
    for (position, resource) in request.resources.into_iter().enumerate() {
        let name = resource.resource_name.to_string();
        let current = shared.topic_config(&catalog, &name).settings(&defaults);
        let refusal = config_refusal(
            access,
            Operation::AlterConfigs,
            resource.resource_type,
            &name,
        );
        let changes: Result<Vec<_>, (i16, String)> = if let Some(refusal) = refusal {
            Err(refusal)
        } else if resource.resource_type == TOPIC {
            resource
                .configs
                .into_iter()
                .map(|config| {
                    let key = ringlog_key(&config.name);
                    let value = config.value.map(|v| v.to_string());
                    incremental_change(&current, key, config.config_operation, value)
                })
                .collect()
        } else {
            Err((INVALID_REQUEST, not_a_topic(resource.resource_type)))
        };
        match changes {
            Ok(changes) => topics.push(TopicAlteration { name, changes }),
            Err((code, message)) => planned.refused.push(Refused {
                position,
                name,
                resource_type: resource.resource_type,
                code,
                message,
            }),
        }
    }
    let op = AdminOp::AlterConfigs {
        topics,
        validate_only: request.validate_only,
    };
    Plan::Admin(op, AnyPlanned::Admin(planned))
}

/// One key's change: its new value (`None`: back to the default).
fn incremental_change(
    current: &TopicSettings,
    key: String,
    operation: i8,
    value: Option<String>,
) -> Result<(String, Option<String>), (i16, String)> {
    match operation {
        SET => Ok((key, value)),
        DELETE => Ok((key, None)),
        APPEND | SUBTRACT => {
            let Ok(TopicConfigKey::CleanupPolicy) = TopicConfigKey::from_name(&key) else {
                let message = format!(
                    "{key} is not a list: APPEND and SUBTRACT apply to list configs \
                     (cleanup.policy)"
                );
                return Err((INVALID_CONFIG, message));
            };
            let items = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(String::from)
                    .collect()
            };
            let mut list = items(&current.get(TopicConfigKey::CleanupPolicy));
            let named = items(value.as_deref().unwrap_or(""));
            if operation == APPEND {
                list.extend(
                    named
                        .into_iter()
                        .filter(|n| !list.contains(n))
                        .collect::<Vec<_>>(),
                );
            } else {
                list.retain(|item| !named.contains(item));
            }
            Ok((key, Some(list.join(","))))
        }
        other => Err((
            INVALID_REQUEST,
            format!(
                "{key}: config operation {other} is not SET (0), DELETE (1), APPEND (2) or SUBTRACT (3)"
            ),
        )),
    }
}

fn not_a_topic(resource_type: i8) -> String {
    format!(
        "resource type {resource_type} cannot be altered: only topics can (broker configs are \
         read from the broker's config file at start)"
    )
}

/// What an admin answer needs beyond the agent's outcome: the entries refused before the
/// request reached the agent, and where they go among the others.
#[derive(Debug, Default)]
pub(super) struct Planned {
    refused: Vec<Refused>,
}

impl Planned {
    /// Refuses the topic at `position`: the client may not do `operation` on it.
    fn refuse_topic(&mut self, position: usize, name: String, operation: Operation) {
        let verb = match operation {
            Operation::Create => "create",
            Operation::Delete => "delete",
            _ => "alter",
        };
        let message = format!("not authorized to {verb} topic {name}");
        self.refused.push(Refused {
            position,
            name,
            resource_type: TOPIC,
            code: TOPIC_AUTHORIZATION_FAILED,
            message,
        });
    }
}

/// One entry of an admin request refused by the frontend.
#[derive(Debug)]
struct Refused {
    /// Its place in the request.
    position: usize,
    name: String,
    resource_type: i8,
    code: i16,
    message: String,
}

/// The answer to an admin request from its outcome: per topic, in request order.
pub(super) fn finish(head: &Head, planned: Planned, outcome: AdminOutcome) -> Vec<OutPiece> {
    let AdminOutcome::Topics(outcome) = outcome else {
        unreachable!("a topic admin request has an outcome per topic")
    };
    let mut results: Vec<(String, i8, i16, Option<StrBytes>)> = outcome
        .into_iter()
        .map(|(name, refusal)| {
            let code = refusal.as_ref().map_or(0, |r| r.error.code());
            let message = refusal.map(|Refusal { message, .. }| str_bytes(message));
            (name, TOPIC, code, message)
        })
        .collect();
    for refused in planned.refused {
        let at = refused.position.min(results.len());
        let entry = (
            refused.name,
            refused.resource_type,
            refused.code,
            Some(str_bytes(refused.message)),
        );
        results.insert(at, entry);
    }
    count_errors(head, results.iter().map(|r| r.2));
    let results = results.into_iter();
    match head.api {
        ApiKey::CreateTopics => {
            let topics = results
                .map(|(name, _, code, message)| {
                    CreatableTopicResult::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_error_code(code)
                        .with_error_message(message)
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                })
                .collect();
            respond(head, &CreateTopicsResponse::default().with_topics(topics))
        }
        ApiKey::DeleteTopics => {
            let responses = results
                .map(|(name, _, code, message)| {
                    let result = DeletableTopicResult::default()
                        .with_name(Some(TopicName(str_bytes(name))))
                        .with_error_code(code);
                    // The message came with v5.
                    if head.version >= 5 {
                        result.with_error_message(message)
                    } else {
                        result
                    }
                })
                .collect();
            respond(
                head,
                &DeleteTopicsResponse::default().with_responses(responses),
            )
        }
        ApiKey::CreatePartitions => {
            let results = results
                .map(|(name, _, code, message)| {
                    CreatePartitionsTopicResult::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            respond(
                head,
                &CreatePartitionsResponse::default().with_results(results),
            )
        }
        ApiKey::IncrementalAlterConfigs => {
            let responses = results
                .map(|(name, resource_type, code, message)| {
                    IncrementalResourceResponse::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(str_bytes(name))
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            let response = IncrementalAlterConfigsResponse::default().with_responses(responses);
            respond(head, &response)
        }
        ApiKey::AlterConfigs => {
            let responses = results
                .map(|(name, resource_type, code, message)| {
                    AlterConfigsResourceResponse::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(str_bytes(name))
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            respond(
                head,
                &AlterConfigsResponse::default().with_responses(responses),
            )
        }
        other => unreachable!("{other:?} is not an admin request"),
    }
}

/// DescribeConfigs of topics (every key, with its source: set on the topic, or the broker's
/// default) and of this broker (its config file's keys by Kafka's names where Kafka has one).
pub(super) fn describe_configs(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: DescribeConfigsRequest,
) -> Vec<OutPiece> {
    let results: Vec<DescribeConfigsResult> = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.to_string();
            let keys = resource
                .configuration_keys
                .map(|keys| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
            let refusal = config_refusal(
                access,
                Operation::DescribeConfigs,
                resource.resource_type,
                &name,
            );
            let described = match (refusal, resource.resource_type) {
                (Some(refusal), _) => Err(refusal),
                (None, TOPIC) => describe_topic(shared, &name, keys.as_deref()),
                (None, BROKER) => describe_broker(shared, &name, keys.as_deref()),
                (None, other) => Err((
                    INVALID_REQUEST,
                    format!("resource type {other} has no configs in ringlog"),
                )),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            match described {
                Ok(configs) => result.with_configs(configs),
                Err((code, message)) => result
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    count_errors(head, results.iter().map(|r| r.error_code));
    respond(
        head,
        &DescribeConfigsResponse::default().with_results(results),
    )
}

type Described = Result<Vec<DescribeConfigsResourceResult>, (i16, String)>;

fn describe_topic(shared: &Shared, name: &str, keys: Option<&[String]>) -> Described {
    let catalog = shared.catalog();
    if catalog.topic(name).is_none() {
        let error = KafkaError::UnknownTopicOrPartition;
        return Err((error.code(), format!("unknown topic {name}")));
    }
    let defaults = shared.options.config.topic_defaults();
    // Keys ringlog does not have are left out, as Kafka leaves out keys it does not know.
    let wanted: Option<Vec<String>> = keys.map(|keys| {
        keys.iter()
            .map(|k| ringlog_key(k))
            .filter(|k| TopicConfigKey::from_name(k).is_ok())
            .collect()
    });
    let entries = shared
        .topic_config(&catalog, name)
        .describe(&defaults, wanted.as_deref())
        .map_err(|error| (INVALID_CONFIG, error.to_string()))?;
    Ok(entries.into_iter().map(topic_entry).collect())
}

fn topic_entry(entry: TopicConfigEntry) -> DescribeConfigsResourceResult {
    let source = if entry.is_default {
        DEFAULT_CONFIG
    } else {
        TOPIC_CONFIG
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(kafka_key(entry.key)))
        .with_value(Some(str_bytes(entry.value)))
        .with_config_source(source)
        .with_read_only(false)
}

fn describe_broker(shared: &Shared, name: &str, keys: Option<&[String]>) -> Described {
    let me = shared.options.node_id.0.to_string();
    if !name.is_empty() && name != me {
        return Err((
            INVALID_REQUEST,
            format!("this is broker {me}, not {name}: ask that broker"),
        ));
    }
    let config = &shared.options.config;
    let configs = config
        .described()
        .into_iter()
        .filter(|entry| keys.is_none_or(|keys| keys.iter().any(|k| *k == entry.name)))
        .map(|entry| {
            let source = if entry.is_default {
                DEFAULT_CONFIG
            } else {
                STATIC_BROKER_CONFIG
            };
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(entry.name))
                .with_is_sensitive(entry.value.is_none())
                .with_value(entry.value.map(str_bytes))
                .with_config_source(source)
                .with_read_only(true)
        })
        .collect();
    Ok(configs)
}
