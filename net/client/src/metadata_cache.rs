//! What the client knows about the cluster: brokers and their addresses, and for each topic
//! it cares about, its partitions' leaders and epochs. Pure: filled from Metadata responses.
//!
//! Every applied response bumps a generation number. A caller that saw a stale answer (a
//! broker that no longer leads) asks for a refresh *newer than the generation it used*, so
//! many callers failing at once cause one Metadata request, not one each.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ringlog_format::LeaderEpoch;
use ringlog_replication::{BrokerId, TopicPartition};

use ringlog_wire::ErrorCode;
use ringlog_wire::api::metadata::{MetadataPartition, MetadataResponse, MetadataTopic};

/// Where a broker listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BrokerAddress {
    pub host: String,
    pub port: u16,
}

impl BrokerAddress {
    /// `host:port`, as `TcpStream::connect` takes it (IPv6 hosts in brackets).
    pub(crate) fn to_socket_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A partition's leader as the client last learned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionLeader {
    pub broker: BrokerId,
    pub epoch: Option<LeaderEpoch>,
}

/// Why a partition's leader is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaderUnknown {
    /// The client has no metadata for the topic yet.
    TopicNotCached,
    /// The broker reported an error for the topic or partition, or no leader (the code then
    /// is LEADER_NOT_AVAILABLE), or a leader not among the live brokers.
    Error(ErrorCode),
    /// The topic has fewer partitions.
    NoSuchPartition { partition_count: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TopicState {
    error_code: ErrorCode,
    /// By partition index.
    partitions: BTreeMap<u32, MetadataPartition>,
}

/// The cluster as last described by a Metadata response.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetadataCache {
    brokers: BTreeMap<BrokerId, BrokerAddress>,
    topics: BTreeMap<String, TopicState>,
    /// Topics to ask about in every refresh.
    wanted: BTreeSet<String>,
    generation: u64,
    /// When the last response was applied.
    refreshed_at: Option<Instant>,
}

impl MetadataCache {
    /// Takes in a Metadata response received at `now`: the broker list is replaced, and so is
    /// every topic it describes; topics it does not mention keep their state.
    pub(crate) fn apply(&mut self, response: &MetadataResponse, now: Instant) {
        self.brokers = response
            .brokers
            .iter()
            .map(|broker| {
                let address = BrokerAddress {
                    host: broker.host.clone(),
                    port: broker.port,
                };
                (broker.broker_id, address)
            })
            .collect();
        for topic in &response.topics {
            self.topics.insert(topic.name.clone(), topic_state(topic));
        }
        self.generation += 1;
        self.refreshed_at = Some(now);
    }

    /// Whether the last response is older than `max_age` at `now` (or there was none).
    pub(crate) fn is_stale(&self, max_age: Duration, now: Instant) -> bool {
        self.refreshed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= max_age)
    }

    /// Bumped by every [`apply`](Self::apply).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds topics to those every refresh asks about; whether any was new.
    pub(crate) fn want(&mut self, topics: impl IntoIterator<Item = String>) -> bool {
        let before = self.wanted.len();
        self.wanted.extend(topics);
        self.wanted.len() > before
    }

    /// The topics a refresh asks about.
    pub(crate) fn wanted(&self) -> Vec<String> {
        self.wanted.iter().cloned().collect()
    }

    pub(crate) fn broker(&self, id: BrokerId) -> Option<&BrokerAddress> {
        self.brokers.get(&id)
    }

    /// The live brokers, by id.
    pub(crate) fn brokers(&self) -> impl Iterator<Item = (BrokerId, &BrokerAddress)> {
        self.brokers.iter().map(|(id, address)| (*id, address))
    }

    /// The topic's partition count, or why it is not known (a topic-level error such as
    /// UNKNOWN_TOPIC_OR_PARTITION, or no metadata yet).
    pub(crate) fn partition_count(&self, topic: &str) -> Result<u32, LeaderUnknown> {
        let state = self
            .topics
            .get(topic)
            .ok_or(LeaderUnknown::TopicNotCached)?;
        if !state.error_code.is_none() {
            return Err(LeaderUnknown::Error(state.error_code));
        }
        Ok(u32::try_from(state.partitions.len()).expect("partition count fits u32"))
    }

    /// The partition's leader, when known and live.
    pub(crate) fn leader(
        &self,
        topic_partition: &TopicPartition,
    ) -> Result<PartitionLeader, LeaderUnknown> {
        let partition_count = self.partition_count(&topic_partition.topic)?;
        let partition = self.topics[&topic_partition.topic]
            .partitions
            .get(&topic_partition.partition)
            .ok_or(LeaderUnknown::NoSuchPartition { partition_count })?;
        if !partition.error_code.is_none() {
            return Err(LeaderUnknown::Error(partition.error_code));
        }
        match partition.leader_id {
            Some(broker) if self.brokers.contains_key(&broker) => Ok(PartitionLeader {
                broker,
                epoch: partition.leader_epoch,
            }),
            _ => Err(LeaderUnknown::Error(ErrorCode::LEADER_NOT_AVAILABLE)),
        }
    }
}

fn topic_state(topic: &MetadataTopic) -> TopicState {
    TopicState {
        error_code: topic.error_code,
        partitions: topic
            .partitions
            .iter()
            .map(|partition| (partition.partition_index, partition.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::api::metadata::MetadataBroker;

    fn broker(id: u32, port: u16) -> MetadataBroker {
        MetadataBroker {
            broker_id: BrokerId(id),
            host: "127.0.0.1".into(),
            port,
            rack: None,
        }
    }

    fn partition(index: u32, leader: Option<u32>, epoch: u32) -> MetadataPartition {
        MetadataPartition {
            error_code: ErrorCode::NONE,
            partition_index: index,
            leader_id: leader.map(BrokerId),
            leader_epoch: Some(LeaderEpoch(epoch)),
            replica_nodes: vec![BrokerId(1), BrokerId(2)],
            isr_nodes: vec![BrokerId(1), BrokerId(2)],
            offline_replicas: vec![],
        }
    }

    fn topic(name: &str, partitions: Vec<MetadataPartition>) -> MetadataTopic {
        MetadataTopic {
            topic_id: ringlog_replication::TopicId::ZERO,
            error_code: ErrorCode::NONE,
            name: name.into(),
            partitions,
        }
    }

    #[test]
    fn leaders_come_from_the_latest_response() {
        let mut cache = MetadataCache::default();
        let orders = TopicPartition::new("orders", 1);
        assert_eq!(cache.leader(&orders), Err(LeaderUnknown::TopicNotCached));
        cache.apply(
            &MetadataResponse {
                brokers: vec![broker(1, 9001), broker(2, 9002)],
                topics: vec![topic(
                    "orders",
                    vec![partition(0, Some(1), 3), partition(1, Some(2), 5)],
                )],
            },
            Instant::now(),
        );
        assert_eq!(cache.generation(), 1);
        assert_eq!(
            cache.leader(&orders),
            Ok(PartitionLeader {
                broker: BrokerId(2),
                epoch: Some(LeaderEpoch(5))
            })
        );
        assert_eq!(cache.partition_count("orders"), Ok(2));
        assert_eq!(
            cache.broker(BrokerId(2)).unwrap().to_socket_string(),
            "127.0.0.1:9002"
        );
        // Leadership moves: the next response wins.
        cache.apply(
            &MetadataResponse {
                brokers: vec![broker(1, 9001), broker(2, 9002)],
                topics: vec![topic(
                    "orders",
                    vec![partition(0, Some(1), 3), partition(1, Some(1), 6)],
                )],
            },
            Instant::now(),
        );
        assert_eq!(cache.leader(&orders).unwrap().broker, BrokerId(1));
        assert_eq!(cache.generation(), 2);
    }

    #[test]
    fn errors_missing_leaders_and_dead_brokers_are_reported() {
        let mut cache = MetadataCache::default();
        let mut offline = partition(1, None, 2);
        offline.error_code = ErrorCode::LEADER_NOT_AVAILABLE;
        cache.apply(
            &MetadataResponse {
                brokers: vec![broker(1, 9001)],
                topics: vec![
                    topic("a", vec![partition(0, Some(7), 1), offline]),
                    MetadataTopic {
                        topic_id: ringlog_replication::TopicId::ZERO,
                        error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        name: "gone".into(),
                        partitions: vec![],
                    },
                ],
            },
            Instant::now(),
        );
        let leader_not_available = Err(LeaderUnknown::Error(ErrorCode::LEADER_NOT_AVAILABLE));
        // Broker 7 is not among the live brokers.
        assert_eq!(
            cache.leader(&TopicPartition::new("a", 0)),
            leader_not_available
        );
        assert_eq!(
            cache.leader(&TopicPartition::new("a", 1)),
            leader_not_available
        );
        assert_eq!(
            cache.leader(&TopicPartition::new("a", 2)),
            Err(LeaderUnknown::NoSuchPartition { partition_count: 2 })
        );
        assert_eq!(
            cache.partition_count("gone"),
            Err(LeaderUnknown::Error(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
        );
    }

    #[test]
    fn topics_not_in_a_response_keep_their_state_and_wanted_topics_accumulate() {
        let mut cache = MetadataCache::default();
        assert!(cache.want(["a".to_string()]));
        assert!(!cache.want(["a".to_string()]));
        assert!(cache.want(["b".to_string()]));
        assert_eq!(cache.wanted(), ["a", "b"]);
        cache.apply(
            &MetadataResponse {
                brokers: vec![broker(1, 9001)],
                topics: vec![topic("a", vec![partition(0, Some(1), 0)])],
            },
            Instant::now(),
        );
        cache.apply(
            &MetadataResponse {
                brokers: vec![broker(1, 9001)],
                topics: vec![topic("b", vec![partition(0, Some(1), 0)])],
            },
            Instant::now(),
        );
        assert_eq!(cache.partition_count("a"), Ok(1));
        assert_eq!(cache.partition_count("b"), Ok(1));
    }

    #[test]
    fn metadata_goes_stale_after_max_age() {
        let mut cache = MetadataCache::default();
        let now = Instant::now();
        let max_age = Duration::from_secs(300);
        assert!(cache.is_stale(max_age, now));
        cache.apply(
            &MetadataResponse {
                brokers: vec![],
                topics: vec![],
            },
            now,
        );
        assert!(!cache.is_stale(max_age, now + Duration::from_secs(299)));
        assert!(cache.is_stale(max_age, now + max_age));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let address = BrokerAddress {
            host: "::1".into(),
            port: 9092,
        };
        assert_eq!(address.to_socket_string(), "[::1]:9092");
    }
}
