//! The broker's view of the cluster: brokers, topics, partition states and topic configs, as
//! of the last metadata image the controller quorum applied ([`Catalog::from_image`]). Every
//! broker applies the same metadata log, so every broker's catalog converges on the same
//! view; nothing here is written by the broker itself.
//!
//! Partition logs live under `data_dir`, one directory each: `<topic>-<partition>/` (the
//! engine's directory, Kafka's naming).
//!
//! Users' SCRAM credentials and the ACL bindings come with each image too ([`Security`]),
//! for the SASL handshakes to read, and with `authorizer_enabled` the [`Authorizer`] over the
//! bindings, which every request is checked against (`frontend::access`). Both are carried
//! over from the previous view when the image did not change them: most images change
//! partitions, not users or ACLs.
//!
//! Shared by the shards behind a lock: metadata changes are rare next to produces and
//! fetches, which go to the partition's owner shard and never take it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ringlog_replication::controller::Partition;
use ringlog_replication::controller::metadata::PARTITIONS_PER_TOPIC_MAX;
use ringlog_replication::{BrokerId, TopicId, TopicPartition};

use ringlog_controller::MetadataImage;
use ringlog_controller::security::Credentials;
use ringlog_security::acl::{AclBinding, Authorizer};

use crate::config::BrokerConfig;

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicEntry {
    /// The controller's state of each partition, by index.
    pub partitions: Vec<Partition>,
    /// Topic-level configs as set (key, value); the broker defaults fill the rest.
    pub configs: BTreeMap<String, String>,
    /// The topic's id; [`TopicId::ZERO`] for a topic created before ids existed.
    pub id: TopicId,
}

/// One registered broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BrokerEntry {
    pub id: BrokerId,
    /// Where its thin protocol's clients (and followers) connect: `host:port`.
    pub endpoint: String,
    /// Where Kafka's clients connect, if it has a Kafka listener: `host:port`.
    pub kafka_endpoint: Option<String>,
    pub rack: Option<String>,
    /// Fenced by the controller: its session expired or it shut down.
    pub fenced: bool,
}

/// Who may connect and what they may do, as of one metadata image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Security {
    /// Users' SCRAM credentials: user -> mechanism -> credential.
    pub scram_credentials: Credentials,
    /// The ACL bindings, in their order (by resource pattern, then entry).
    pub acls: BTreeSet<AclBinding>,
}

/// The cluster as of one metadata image.
#[derive(Clone, Debug)]
pub(crate) struct Catalog {
    data_dir: PathBuf,
    /// The metadata log offset of the image this view was built from.
    offset: u64,
    topics: BTreeMap<String, TopicEntry>,
    brokers: BTreeMap<BrokerId, BrokerEntry>,
    /// The cluster's id, once a broker has named the cluster.
    cluster_id: Option<String>,
    security: Arc<Security>,
    /// The ACLs' authorizer, with `authorizer_enabled`.
    authorizer: Option<Arc<Authorizer>>,
}

impl Catalog {
    /// The view before any image arrived: no brokers, no topics.
    pub(crate) fn empty(data_dir: &Path) -> Catalog {
        Catalog {
            data_dir: data_dir.to_path_buf(),
            offset: 0,
            topics: BTreeMap::new(),
            brokers: BTreeMap::new(),
            cluster_id: None,
            security: Arc::default(),
            authorizer: None,
        }
    }

    /// The view of `image`, following `previous`, for a broker configured by `config`.
    pub(crate) fn from_image(
        data_dir: &Path,
        config: &BrokerConfig,
        image: &MetadataImage,
        previous: &Catalog,
    ) -> Catalog {
        let state = &image.state;
        let topics = state
            .metadata
            .topics()
            .map(|topic| {
                // Partition indexes are u32 (`partitions`, `partition_count`): the
                // controller's limit on a topic's partitions keeps them so.
                assert!(
                    topic.partitions().len() <= PARTITIONS_PER_TOPIC_MAX as usize,
                    "topic {} has {} partitions, the controller allows at most {PARTITIONS_PER_TOPIC_MAX}",
                    topic.name(),
                    topic.partitions().len()
                );
                let entry = TopicEntry {
                    partitions: topic.partitions().to_vec(),
                    configs: state
                        .topic_configs
                        .get(topic.name())
                        .cloned()
                        .unwrap_or_default(),
                    id: state
                        .topic_ids
                        .get(topic.name())
                        .copied()
                        .unwrap_or(TopicId::ZERO),
                };
                (topic.name().to_string(), entry)
            })
            .collect();
        let brokers = state
            .brokers
            .iter()
            .map(|(&id, registration)| {
                let entry = BrokerEntry {
                    id,
                    endpoint: registration.endpoint.clone(),
                    kafka_endpoint: registration.kafka_endpoint.clone(),
                    rack: registration.rack.clone(),
                    fenced: state.metadata.broker(id).is_none_or(|b| b.is_fenced()),
                };
                (id, entry)
            })
            .collect();
        let unchanged = previous.security.scram_credentials == state.scram_credentials
            && previous.security.acls == state.acls;
        let security = match unchanged {
            true => Arc::clone(&previous.security),
            false => Arc::new(Security {
                scram_credentials: state.scram_credentials.clone(),
                acls: state.acls.clone(),
            }),
        };
        let authorizer = match &previous.authorizer {
            Some(authorizer) if previous.security.acls == state.acls => {
                Some(Arc::clone(authorizer))
            }
            _ if config.authorizer_enabled => Some(Arc::new(authorizer_of(config, &state.acls))),
            _ => None,
        };
        Catalog {
            data_dir: data_dir.to_path_buf(),
            offset: image.offset,
            topics,
            brokers,
            cluster_id: state.cluster_id.clone(),
            security,
            authorizer,
        }
    }

    /// Users' credentials and the ACL bindings.
    pub(crate) fn security(&self) -> &Arc<Security> {
        &self.security
    }

    /// The authorizer requests are checked by; `None` without `authorizer_enabled`.
    pub(crate) fn authorizer(&self) -> Option<&Arc<Authorizer>> {
        self.authorizer.as_ref()
    }

    /// The metadata log offset this view is at.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The cluster's id (Kafka's `cluster.id`), once named.
    pub(crate) fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The name of the topic with id `id`.
    pub(crate) fn topic_named_by(&self, id: TopicId) -> Option<&str> {
        if id.is_zero() {
            return None;
        }
        self.topics
            .iter()
            .find(|(_, topic)| topic.id == id)
            .map(|(name, _)| name.as_str())
    }

    pub(crate) fn topic(&self, name: &str) -> Option<&TopicEntry> {
        self.topics.get(name)
    }

    pub(crate) fn topics(&self) -> impl Iterator<Item = (&String, &TopicEntry)> {
        self.topics.iter()
    }

    /// Whether `topic_partition` exists.
    pub(crate) fn contains(&self, topic_partition: &TopicPartition) -> bool {
        self.partition(topic_partition).is_some()
    }

    /// The controller's state of `topic_partition`.
    pub(crate) fn partition(&self, topic_partition: &TopicPartition) -> Option<&Partition> {
        self.topic(&topic_partition.topic)?
            .partitions
            .get(topic_partition.partition as usize)
    }

    /// Every partition of every topic, with its state.
    pub(crate) fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &Partition)> {
        self.topics.iter().flat_map(|(name, topic)| {
            (0..)
                .zip(&topic.partitions)
                .map(|(index, partition)| (TopicPartition::new(name.clone(), index), partition))
        })
    }

    pub(crate) fn broker(&self, id: BrokerId) -> Option<&BrokerEntry> {
        self.brokers.get(&id)
    }

    pub(crate) fn brokers(&self) -> impl Iterator<Item = &BrokerEntry> {
        self.brokers.values()
    }

    /// How many registered brokers are not fenced.
    pub(crate) fn live_brokers(&self) -> usize {
        self.brokers.values().filter(|b| !b.fenced).count()
    }

    /// The directory of a partition's log.
    pub(crate) fn partition_dir(&self, topic_partition: &TopicPartition) -> PathBuf {
        partition_dir(&self.data_dir, topic_partition)
    }
}

/// The directory of a partition's log under `data_dir`: `<topic>-<partition>`.
pub(crate) fn partition_dir(data_dir: &Path, topic_partition: &TopicPartition) -> PathBuf {
    data_dir.join(topic_partition.to_string())
}

/// An authorizer over `acls` with the broker's super users and default. A stored binding the
/// authorizer refuses (one stored before a rule was tightened) is left out, with an error
/// logged: it could never apply as written.
fn authorizer_of(config: &BrokerConfig, acls: &BTreeSet<AclBinding>) -> Authorizer {
    let mut authorizer = Authorizer::new(
        config.super_users.clone(),
        config.allow_everyone_if_no_acl_found,
    );
    for binding in acls {
        if let Err(error) = authorizer.add(binding.clone()) {
            tracing::error!(acl = %binding, %error, "a stored ACL is not valid; it is left out");
        }
    }
    authorizer
}
