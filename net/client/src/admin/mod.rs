//! [`Admin`]: create, delete, list and describe topics; describe and alter their configs;
//! list, describe and delete consumer groups and read their committed offsets (`groups`); a
//! new idempotent producer's id ([`Admin::init_producer_id`]); users' SCRAM credentials and
//! ACLs (`security`).
//! Requests go to any broker (the broker forwards to the controller); each is retried with
//! backoff on retriable errors within `request_timeout`, and a topic's own error code comes
//! back as [`ClientError::Broker`] naming the operation and the topic.

use std::sync::Arc;
use std::time::Duration;

use ringlog_format::LeaderEpoch;
use ringlog_replication::{BrokerId, TopicId};
use tokio::time::Instant;

use crate::cluster::{Cluster, Retry, unexpected};
use crate::error::ClientError;
use ringlog_wire::api::TopicResult;
use ringlog_wire::api::alter_configs::{AlterConfigsRequest, AlterConfigsTopic, ConfigChange};
use ringlog_wire::api::create_topics::{ConfigValue, CreatableTopic, CreateTopicsRequest};
use ringlog_wire::api::delete_topics::DeleteTopicsRequest;
use ringlog_wire::api::describe_configs::{DescribeConfigsRequest, DescribeConfigsTopic};
use ringlog_wire::api::init_producer_id::InitProducerIdRequest;
use ringlog_wire::api::metadata::MetadataResponse;
use ringlog_wire::{Request, Response};

mod groups;
mod security;
pub use groups::{GroupDescription, GroupListing, GroupMemberDescription};
pub use security::{SALT_LEN, ScramUser};

/// A topic as Metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// The topic's id; `None` for a topic created before topic ids.
    pub topic_id: Option<TopicId>,
    /// By partition index.
    pub partitions: Vec<PartitionDescription>,
}

/// One partition's leadership and replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition's index.
    pub partition: u32,
    /// `None`: no leader right now.
    pub leader: Option<BrokerId>,
    /// The current leader's epoch; `None`: unknown.
    pub leader_epoch: Option<LeaderEpoch>,
    /// Every replica, in replica order.
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Replicas on brokers that are down.
    pub offline_replicas: Vec<BrokerId>,
}

/// One config key of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key (`retention_ms`, ...).
    pub name: String,
    /// `None`: no value.
    pub value: Option<String>,
    /// The broker's default, not set on the topic.
    pub is_default: bool,
}

/// An idempotent producer's identity, as InitProducerId gives it: every batch it sends
/// carries both (`ringlog_format::BatchBuilder::with_producer`), with sequences per partition
/// from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    /// No other producer of the cluster has had it; at least 0.
    pub producer_id: i64,
    /// 0 for a new id. The producer bumps it itself to start its sequences again (Kafka's
    /// KIP-360), and asks for a new id when it would pass `i16::MAX`.
    pub epoch: i16,
}

/// Topic administration.
#[derive(Clone, Debug)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    pub(crate) fn new(cluster: Arc<Cluster>) -> Admin {
        Admin { cluster }
    }

    /// Sends `request` to any broker, retrying retriable failures (a whole-request error code
    /// included) within `request_timeout`.
    async fn request(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Response, ClientError> {
        let api_key = request.api_key();
        let mut retry = Retry::new(
            &self.cluster,
            Instant::now() + self.cluster.config.request_timeout,
        );
        loop {
            let generation = self.cluster.metadata().generation();
            let error = match self.cluster.send_to_any(request.clone(), server_wait).await {
                Ok(Response::Error(error)) => {
                    ClientError::broker(format!("{api_key}"), error.error_code, Some(error.message))
                }
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            retry.after(error, generation).await?;
        }
    }

    /// Creates `name` with `partitions` partitions of `replication_factor` replicas and the
    /// given config overrides, waiting up to `request_timeout` for the creation to commit.
    /// `None` leaves a count to the broker's default (`num_partitions`,
    /// `default_replication_factor`), as Kafka's -1 does.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
        replication_factor: Option<u16>,
        configs: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let timeout = self.cluster.config.request_timeout;
        let topic = CreatableTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor,
            configs: configs
                .iter()
                .map(|(name, value)| ConfigValue {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        };
        let request = Request::CreateTopics(CreateTopicsRequest {
            topics: vec![topic],
            timeout,
            validate_only: false,
        });
        match self.request(request, timeout).await? {
            Response::CreateTopics(response) => {
                topic_result(&response.topics, name, "create topic")
            }
            other => Err(unexpected("CreateTopics", &other)),
        }
    }

    /// Deletes `name`, waiting up to `request_timeout` for the deletion to commit.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let timeout = self.cluster.config.request_timeout;
        let request = Request::DeleteTopics(DeleteTopicsRequest {
            topic_names: vec![name.to_string()],
            timeout,
        });
        match self.request(request, timeout).await? {
            Response::DeleteTopics(response) => {
                topic_result(&response.topics, name, "delete topic")
            }
            other => Err(unexpected("DeleteTopics", &other)),
        }
    }

    /// A fresh producer id at epoch 0, from any broker (each hands out ids from blocks the
    /// controller quorum allocates it, so no two producers get the same one). A broker still
    /// waiting for its block holds the request, then answers COORDINATOR_LOAD_IN_PROGRESS,
    /// which is retried within `request_timeout`.
    pub async fn init_producer_id(&self) -> Result<ProducerIdAndEpoch, ClientError> {
        let request = Request::InitProducerId(InitProducerIdRequest);
        let wait = self.cluster.config.request_timeout;
        match self.request(request, wait).await? {
            Response::InitProducerId(response) => Ok(ProducerIdAndEpoch {
                producer_id: response.producer_id,
                epoch: response.producer_epoch,
            }),
            other => Err(unexpected("InitProducerId", &other)),
        }
    }

    /// The names of every topic, sorted.
    pub async fn list_topics(&self) -> Result<Vec<String>, ClientError> {
        let response = self.metadata(None).await?;
        let mut names: Vec<String> = response
            .topics
            .into_iter()
            .filter(|topic| topic.error_code.is_none())
            .map(|topic| topic.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Each named topic's partitions, leaders and replicas, in the order asked.
    pub async fn describe_topics(
        &self,
        names: &[&str],
    ) -> Result<Vec<TopicDescription>, ClientError> {
        let response = self
            .metadata(Some(names.iter().map(|name| name.to_string()).collect()))
            .await?;
        names
            .iter()
            .map(|name| {
                let topic = response
                    .topics
                    .iter()
                    .find(|topic| topic.name == *name)
                    .ok_or_else(|| missing("describe topic", name))?;
                if !topic.error_code.is_none() {
                    return Err(ClientError::broker(
                        format!("describe topic {name}"),
                        topic.error_code,
                        None,
                    ));
                }
                let mut partitions: Vec<PartitionDescription> = topic
                    .partitions
                    .iter()
                    .map(|p| PartitionDescription {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline_replicas: p.offline_replicas.clone(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Ok(TopicDescription {
                    name: name.to_string(),
                    topic_id: Some(topic.topic_id).filter(|id| !id.is_zero()),
                    partitions,
                })
            })
            .collect()
    }

    async fn metadata(&self, topics: Option<Vec<String>>) -> Result<MetadataResponse, ClientError> {
        let request = Request::Metadata(ringlog_wire::api::metadata::MetadataRequest { topics });
        match self.request(request, Duration::ZERO).await? {
            Response::Metadata(response) => Ok(response),
            other => Err(unexpected("Metadata", &other)),
        }
    }

    /// The topic's config: the keys named, or every key when `keys` is `None`.
    pub async fn describe_configs(
        &self,
        topic: &str,
        keys: Option<&[&str]>,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let request = Request::DescribeConfigs(DescribeConfigsRequest {
            topics: vec![DescribeConfigsTopic {
                name: topic.to_string(),
                config_keys: keys.map(|keys| keys.iter().map(|key| key.to_string()).collect()),
            }],
        });
        let response = match self.request(request, Duration::ZERO).await? {
            Response::DescribeConfigs(response) => response,
            other => return Err(unexpected("DescribeConfigs", &other)),
        };
        let result = response
            .topics
            .into_iter()
            .find(|result| result.name == topic)
            .ok_or_else(|| missing("describe configs of", topic))?;
        if !result.error_code.is_none() {
            return Err(ClientError::broker(
                format!("describe configs of {topic}"),
                result.error_code,
                result.error_message,
            ));
        }
        Ok(result
            .configs
            .into_iter()
            .map(|config| ConfigEntry {
                name: config.name,
                value: config.value,
                is_default: config.is_default,
            })
            .collect())
    }

    /// Sets (`Some`) or resets to the default (`None`) the named keys of the topic's config;
    /// keys not named keep their values. The change applies whole or not at all.
    pub async fn alter_configs(
        &self,
        topic: &str,
        changes: &[(&str, Option<&str>)],
    ) -> Result<(), ClientError> {
        let request = Request::AlterConfigs(AlterConfigsRequest {
            topics: vec![AlterConfigsTopic {
                name: topic.to_string(),
                configs: changes
                    .iter()
                    .map(|(name, value)| ConfigChange {
                        name: name.to_string(),
                        value: value.map(str::to_string),
                    })
                    .collect(),
            }],
            validate_only: false,
        });
        match self.request(request, Duration::ZERO).await? {
            Response::AlterConfigs(response) => {
                topic_result(&response.topics, topic, "alter configs of")
            }
            other => Err(unexpected("AlterConfigs", &other)),
        }
    }
}

/// The named topic's outcome in a CreateTopics, DeleteTopics or AlterConfigs response.
fn topic_result(results: &[TopicResult], name: &str, what: &str) -> Result<(), ClientError> {
    let result = results
        .iter()
        .find(|result| result.name == name)
        .ok_or_else(|| missing(what, name))?;
    if result.error_code.is_none() {
        return Ok(());
    }
    Err(ClientError::broker(
        format!("{what} {name}"),
        result.error_code,
        result.error_message.clone(),
    ))
}

fn missing_user(what: &str, user: &str) -> ClientError {
    ClientError::Protocol {
        address: "broker".into(),
        detail: format!("the answer to {what} {user} does not mention the user"),
    }
}

fn missing(what: &str, name: &str) -> ClientError {
    ClientError::Protocol {
        address: "broker".into(),
        detail: format!("the answer to {what} {name} does not mention the topic"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::ErrorCode;

    #[test]
    fn a_topic_error_names_the_operation_and_the_topic() {
        let results = [TopicResult {
            name: "orders".into(),
            error_code: ErrorCode::TOPIC_ALREADY_EXISTS,
            error_message: Some("created at 12:00".into()),
        }];
        let error = topic_result(&results, "orders", "create topic").unwrap_err();
        assert_eq!(
            error.to_string(),
            "create topic orders: broker answered TOPIC_ALREADY_EXISTS (36): created at 12:00"
        );
        let missing = topic_result(&results, "other", "delete topic").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "protocol error from broker: the answer to delete topic other does not mention the topic"
        );
    }
}
