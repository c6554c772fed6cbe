//! The replicated state machine of the controller quorum, pure: [`MetadataState`] and the
//! [`MetadataCommand`]s the metadata log holds, applied deterministically from the command alone.
//!
//! Time is inside the commands: the Raft leader stamps `now` from its wall clock just before it
//! proposes, so every node that applies a command computes the same state. Applying a command
//! returns a [`CommandOutcome`]; a refused command changes nothing.
//!
//! Broker lives: each start of a broker process is a new incarnation. A registration with a
//! newer incarnation than the registered one fences the old life first (it leaves every ISR and
//! its leaderships are re-elected), then unfences the new one, as KRaft does on re-registration.
//! Heartbeats and shutdowns from any other incarnation than the registered one are refused
//! (STALE_BROKER_EPOCH), so a delayed request of a dead life cannot act for the new one.
//!
//! Producer ids: brokers hand out idempotent producers' ids from blocks the state allocates
//! ([`MetadataCommand::AllocateProducerIds`], Kafka's KIP-730). Each block starts where the last
//! one ended ([`MetadataState::next_producer_id`]), so no two blocks overlap and no two brokers,
//! nor two lives of one, ever give the same id. The block's length is in the command, not a
//! constant here, so replaying an old log allocates what was allocated then.
//!
//! Security: users' SCRAM credentials and the ACL bindings live here too
//! ([`MetadataCommand::AlterScramCredentials`], [`MetadataCommand::CreateAcls`],
//! [`MetadataCommand::DeleteAcls`], under the rules of [`crate::security`]). Each entry of such
//! a command succeeds or fails on its own, as in Kafka, so the command itself is never
//! refused: its [`Applied`] carries each entry's outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ringlog_replication::controller::{
    ClusterMetadata, IsrProposal, LivenessConfig, PartitionChange, TopicConfig, TopicConfigChange,
    liveness, metadata::Replicas,
};
use ringlog_replication::{
    BrokerError, BrokerId, KafkaError, Millis, Rack, TopicId, TopicPartition,
};
use ringlog_security::acl::{AclBinding, AclFilter};
use serde::{Deserialize, Serialize};

use crate::security::{self, Credentials, ScramAlteration, UserOutcome};

/// A registered broker's life and where clients reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// Which start of the broker process this is; a restart registers a greater one.
    pub incarnation: u64,
    /// `host:port` of its thin protocol listener (ringlog's clients and followers).
    pub endpoint: String,
    /// `host:port` of its Kafka listener, if it has one (absent from metadata logs written
    /// before Kafka's protocol came).
    #[serde(default)]
    pub kafka_endpoint: Option<String>,
    /// Its rack (`broker.rack`), for rack-aware placement.
    pub rack: Option<String>,
}

/// The most producer ids one [`MetadataCommand::AllocateProducerIds`] may ask for.
pub const PRODUCER_ID_BLOCK_LEN_MAX: u32 = 1_000_000;

/// Producer ids allocated to one broker: `first` to `end` (exclusive), never given to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlock {
    /// The block's first id.
    pub first: i64,
    /// One past its last id.
    pub end: i64,
}

impl ProducerIdBlock {
    /// How many ids the block holds.
    pub fn len(&self) -> u64 {
        u64::try_from(self.end - self.first).expect("a block ends after it starts")
    }

    /// Whether the block holds no id.
    pub fn is_empty(&self) -> bool {
        self.end <= self.first
    }
}

/// The cluster metadata as the controller quorum replicates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataState {
    /// Brokers, topics and partitions under the replication crate's rules.
    pub metadata: ClusterMetadata,
    /// Every broker registered in `metadata`, with its incarnation and endpoint.
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    /// Every topic's config overrides as set (key -> value), opaque to the controller.
    pub topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Every topic's id, given at creation (a topic created before ids existed has none).
    #[serde(default)]
    pub topic_ids: BTreeMap<String, TopicId>,
    /// The cluster's id, set once by the first [`MetadataCommand::InitCluster`] (Kafka's
    /// `cluster.id`): `None` until a broker has proposed one.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Unclean elections applied so far.
    pub unclean_elections: u64,
    /// The first producer id no block has had: every id below it went to one broker, once
    /// (0 in metadata logs and snapshots written before producer ids).
    #[serde(default)]
    pub next_producer_id: i64,
    /// Users' SCRAM credentials by user and mechanism (none in metadata logs and snapshots
    /// written before security).
    #[serde(default)]
    pub scram_credentials: Credentials,
    /// The ACL bindings (none in metadata logs and snapshots written before security).
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
}

/// A change to the cluster metadata: one entry of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MetadataCommand {
    /// A broker starts (or restarts, with a greater incarnation).
    RegisterBroker {
        broker: BrokerId,
        incarnation: u64,
        endpoint: String,
        #[serde(default)]
        kafka_endpoint: Option<String>,
        rack: Option<String>,
        now: Millis,
    },
    /// A broker is alive.
    Heartbeat {
        broker: BrokerId,
        incarnation: u64,
        now: Millis,
    },
    /// Fences every broker whose session has expired at `now`; proposed by the leader's timer.
    ExpireSessions {
        now: Millis,
    },
    CreateTopic {
        name: String,
        partitions: u32,
        replication_factor: u16,
        /// The keys the controller's rules read.
        config: TopicConfig,
        /// The topic's config overrides as set, stored as they are.
        configs: BTreeMap<String, String>,
        /// The topic's id, drawn by the proposer (absent from logs written before topic ids).
        #[serde(default)]
        topic_id: Option<TopicId>,
        /// Each partition's replicas as assigned by hand (preferred leader first); `None`:
        /// `partitions` of `replication_factor` spread over the live brokers.
        #[serde(default)]
        assignments: Option<Vec<Vec<BrokerId>>>,
    },
    /// Adds partitions to a topic until it has `count` (Kafka's CreatePartitions): spread over
    /// the live brokers, or on `assignments` (one list per new partition).
    CreatePartitions {
        name: String,
        count: u32,
        assignments: Option<Vec<Vec<BrokerId>>>,
    },
    DeleteTopic {
        name: String,
    },
    /// A leader's ISR proposal (Kafka's AlterPartition).
    AlterPartition {
        topic_partition: TopicPartition,
        proposal: IsrProposal,
    },
    /// Changes a topic's config: the keys the rules read, and the stored overrides.
    AlterTopicConfig {
        name: String,
        change: TopicConfigChange,
        /// The full new override map.
        configs: BTreeMap<String, String>,
    },
    /// A broker about to stop: fenced now, so its leaderships move before it goes.
    ControlledShutdown {
        broker: BrokerId,
        incarnation: u64,
    },
    /// Names the cluster, if it has no name yet: the first one applied wins and later ones
    /// change nothing, so every broker may propose one as it starts.
    InitCluster {
        cluster_id: String,
    },
    /// A broker's next block of `count` producer ids (Kafka's AllocateProducerIds), starting
    /// at [`MetadataState::next_producer_id`]; [`Applied::producer_ids`] carries it. Refused
    /// for a broker that is not registered under `incarnation`, as a heartbeat is.
    AllocateProducerIds {
        broker: BrokerId,
        incarnation: u64,
        /// At least 1, at most [`PRODUCER_ID_BLOCK_LEN_MAX`].
        count: u32,
    },
    /// Sets and removes users' SCRAM credentials (Kafka's AlterUserScramCredentials), each
    /// user on its own: [`Applied::users`] says what became of each. It carries credentials
    /// (salt, iterations, StoredKey, ServerKey), never a password.
    AlterScramCredentials {
        alterations: Vec<ScramAlteration>,
    },
    /// Adds ACL bindings (Kafka's CreateAcls), each on its own: [`Applied::acl_creations`].
    CreateAcls {
        bindings: Vec<AclBinding>,
    },
    /// Removes the ACL bindings each filter matches (Kafka's DeleteAcls):
    /// [`Applied::acl_deletions`].
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
}

impl MetadataCommand {
    /// The command with its time set to `now`, for those that carry one: the leader calls this
    /// just before it proposes.
    pub fn stamped(mut self, at: Millis) -> MetadataCommand {
        match &mut self {
            MetadataCommand::RegisterBroker { now, .. }
            | MetadataCommand::Heartbeat { now, .. }
            | MetadataCommand::ExpireSessions { now } => *now = at,
            _ => {}
        }
        self
    }
}

/// A topic to create, as [`MetadataCommand::CreateTopic`] carries it.
struct NewTopic<'a> {
    replicas: Replicas,
    config: TopicConfig,
    configs: &'a BTreeMap<String, String>,
    topic_id: Option<TopicId>,
}

/// What applying one command did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Every partition the command changed, in the order changed, with its new state.
    pub changes: Vec<PartitionChange>,
    /// Brokers the command fenced.
    pub fenced: Vec<BrokerId>,
    /// The block of producer ids [`MetadataCommand::AllocateProducerIds`] allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_ids: Option<ProducerIdBlock>,
    /// [`MetadataCommand::AlterScramCredentials`]: per user named, in the order first named,
    /// its refusal if it was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserOutcome>,
    /// [`MetadataCommand::CreateAcls`]: per binding, in order, its refusal if it was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_creations: Vec<Option<Refusal>>,
    /// [`MetadataCommand::DeleteAcls`]: per filter, in order, the bindings it deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_deletions: Vec<Vec<AclBinding>>,
}

/// Why a command was refused; it changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The Kafka error a broker passes on to its client.
    pub code: KafkaError,
    /// Why, naming the object and carrying the numbers.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: KafkaError, error: &impl std::fmt::Display) -> Refusal {
        Refusal {
            code,
            message: error.to_string(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.name(),
            self.code.code(),
            self.message
        )
    }
}

/// The outcome of applying a command.
pub type CommandOutcome = Result<Applied, Refusal>;

impl MetadataState {
    /// An empty cluster.
    pub fn new(liveness: LivenessConfig) -> MetadataState {
        MetadataState {
            metadata: ClusterMetadata::new(liveness),
            brokers: BTreeMap::new(),
            topic_configs: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            cluster_id: None,
            unclean_elections: 0,
            next_producer_id: 0,
            scram_credentials: Credentials::new(),
            acls: BTreeSet::new(),
        }
    }

    /// Applies `command`. A refusal leaves the state as it was.
    pub fn apply(&mut self, command: &MetadataCommand) -> CommandOutcome {
        let outcome = match command {
            MetadataCommand::RegisterBroker {
                broker,
                incarnation,
                endpoint,
                kafka_endpoint,
                rack,
                now,
            } => {
                let registration = BrokerRegistration {
                    incarnation: *incarnation,
                    endpoint: endpoint.clone(),
                    kafka_endpoint: kafka_endpoint.clone(),
                    rack: rack.clone(),
                };
                self.register_broker(*broker, registration, *now)
            }
            MetadataCommand::Heartbeat {
                broker,
                incarnation,
                now,
            } => self.heartbeat(*broker, *incarnation, *now),
            MetadataCommand::ExpireSessions { now } => {
                let outcome = self.metadata.tick(*now);
                Ok(Applied {
                    changes: outcome.changes,
                    fenced: outcome.fenced,
                    ..Applied::default()
                })
            }
            MetadataCommand::CreateTopic {
                name,
                partitions,
                replication_factor,
                config,
                configs,
                topic_id,
                assignments,
            } => {
                let replicas = match assignments {
                    Some(lists) => Replicas::Assigned(lists.clone()),
                    None => Replicas::Spread {
                        partition_count: *partitions,
                        replication_factor: *replication_factor,
                    },
                };
                let topic = NewTopic {
                    replicas,
                    config: *config,
                    configs,
                    topic_id: *topic_id,
                };
                self.create_topic(name, topic)
            }
            MetadataCommand::CreatePartitions {
                name,
                count,
                assignments,
            } => self.create_partitions(name, *count, assignments.clone()),
            MetadataCommand::DeleteTopic { name } => self.delete_topic(name),
            MetadataCommand::AlterPartition {
                topic_partition,
                proposal,
            } => self.alter_partition(topic_partition, proposal),
            MetadataCommand::AlterTopicConfig {
                name,
                change,
                configs,
            } => self.alter_topic_config(name, *change, configs),
            MetadataCommand::ControlledShutdown {
                broker,
                incarnation,
            } => self.controlled_shutdown(*broker, *incarnation),
            MetadataCommand::InitCluster { cluster_id } => {
                self.cluster_id.get_or_insert_with(|| cluster_id.clone());
                Ok(Applied::default())
            }
            MetadataCommand::AllocateProducerIds {
                broker,
                incarnation,
                count,
            } => self.allocate_producer_ids(*broker, *incarnation, *count),
            MetadataCommand::AlterScramCredentials { alterations } => Ok(Applied {
                users: security::alter_credentials(&mut self.scram_credentials, alterations),
                ..Applied::default()
            }),
            MetadataCommand::CreateAcls { bindings } => Ok(Applied {
                acl_creations: security::create_acls(&mut self.acls, bindings),
                ..Applied::default()
            }),
            MetadataCommand::DeleteAcls { filters } => Ok(Applied {
                acl_deletions: security::delete_acls(&mut self.acls, filters),
                ..Applied::default()
            }),
        };
        if let Ok(applied) = &outcome {
            let unclean = applied.changes.iter().filter(|c| c.unclean_election);
            self.unclean_elections += unclean.count() as u64;
        }
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        outcome
    }

    /// Whether a leader that has led for `leading_for` should propose
    /// [`MetadataCommand::ExpireSessions`] at `now`: some unfenced broker's session has expired,
    /// and the leader has led for at least a session timeout. A new leader did not see the
    /// heartbeats its predecessor took, so it gives every broker that long to reach it first.
    pub fn expiry_due(&self, leading_for: Duration, now: Millis) -> bool {
        let config = self.metadata.liveness_config();
        leading_for >= config.broker_session_timeout
            && self.metadata.brokers().any(|broker| {
                !broker.is_fenced()
                    && liveness::session_expired(broker.last_heartbeat(), now, &config)
            })
    }

    /// Panics unless the metadata holds its own invariants, every registered broker has exactly
    /// one registration with the same rack, every topic exactly one config map, and every
    /// stored credential and ACL binding is one its command would take.
    pub fn check_invariants(&self) {
        self.metadata.check_invariants();
        let registered: Vec<BrokerId> = self.metadata.brokers().map(|b| b.id()).collect();
        let recorded: Vec<BrokerId> = self.brokers.keys().copied().collect();
        assert_eq!(
            registered, recorded,
            "registered brokers differ from the registrations"
        );
        for broker in self.metadata.brokers() {
            let rack = self.brokers[&broker.id()].rack.as_deref();
            assert_eq!(
                broker.rack().map(|rack| rack.0.as_str()),
                rack,
                "broker {}: rack differs from its registration",
                broker.id()
            );
        }
        let topics: Vec<&str> = self.metadata.topics().map(|t| t.name()).collect();
        let configured: Vec<&str> = self.topic_configs.keys().map(String::as_str).collect();
        assert_eq!(topics, configured, "topics differ from the topic configs");
        for (name, id) in &self.topic_ids {
            assert!(
                self.topic_configs.contains_key(name),
                "topic id {id} names topic {name}, which does not exist"
            );
        }
        assert!(
            self.next_producer_id >= 0,
            "next producer id {} is negative",
            self.next_producer_id
        );
        security::check_credentials(&self.scram_credentials);
        for binding in &self.acls {
            if let Err(refusal) = security::validate_binding(binding) {
                panic!("a stored acl is not valid: {refusal}");
            }
        }
    }

    fn register_broker(
        &mut self,
        broker: BrokerId,
        registration: BrokerRegistration,
        now: Millis,
    ) -> CommandOutcome {
        let incarnation = registration.incarnation;
        let rack = &registration.rack;
        let Some(registered) = self.brokers.get(&broker).map(|r| r.incarnation) else {
            let rack = rack.clone().map(Rack);
            self.metadata
                .register_broker(broker, rack, now)
                .map_err(|e| broker_refusal(&e))?;
            self.brokers.insert(broker, registration);
            return Ok(Applied::default());
        };
        if incarnation < registered {
            return Err(stale(broker, incarnation, registered));
        }
        if incarnation == registered {
            let changes = self.metadata.heartbeat(broker, now).expect("registered");
            return Ok(Applied {
                changes,
                ..Applied::default()
            });
        }
        // A new life: the old one leaves every ISR and its leaderships before the new one is
        // unfenced, since the new process has none of the old one's unflushed records.
        let was_live = self.metadata.is_live(broker);
        let mut changes = self.metadata.fence_broker(broker).expect("registered");
        let rack_of_new_life = rack.clone().map(Rack);
        self.metadata
            .set_broker_rack(broker, rack_of_new_life)
            .expect("registered");
        changes.extend(self.metadata.heartbeat(broker, now).expect("registered"));
        self.brokers.insert(broker, registration);
        let fenced = if was_live { vec![broker] } else { Vec::new() };
        Ok(Applied {
            changes,
            fenced,
            ..Applied::default()
        })
    }

    fn heartbeat(&mut self, broker: BrokerId, incarnation: u64, now: Millis) -> CommandOutcome {
        self.check_incarnation(broker, incarnation)?;
        let changes = self.metadata.heartbeat(broker, now).expect("registered");
        Ok(Applied {
            changes,
            ..Applied::default()
        })
    }

    fn create_topic(&mut self, name: &str, topic: NewTopic<'_>) -> CommandOutcome {
        if let Some(id) = topic.topic_id
            && let Some((other, _)) = self.topic_ids.iter().find(|(_, other)| **other == id)
        {
            // Ids are 122 random bits: this is a proposer's bug, refused rather than applied.
            let message = format!("topic id {id} is already topic {other}'s");
            return Err(Refusal::new(KafkaError::TopicAlreadyExists, &message));
        }
        let changes = self
            .metadata
            .create_topic_with(name, topic.replicas, topic.config)
            .map_err(|e| Refusal::new(e.kafka_error(), &e))?;
        self.topic_configs
            .insert(name.to_string(), topic.configs.clone());
        if let Some(id) = topic.topic_id {
            self.topic_ids.insert(name.to_string(), id);
        }
        Ok(Applied {
            changes,
            ..Applied::default()
        })
    }

    fn create_partitions(
        &mut self,
        name: &str,
        count: u32,
        assignments: Option<Vec<Vec<BrokerId>>>,
    ) -> CommandOutcome {
        let changes = self
            .metadata
            .create_partitions(name, count, assignments)
            .map_err(|e| Refusal::new(e.kafka_error(), &e))?;
        Ok(Applied {
            changes,
            ..Applied::default()
        })
    }

    fn delete_topic(&mut self, name: &str) -> CommandOutcome {
        self.metadata
            .delete_topic(name)
            .map_err(|e| Refusal::new(e.kafka_error(), &e))?;
        self.topic_configs.remove(name);
        self.topic_ids.remove(name);
        Ok(Applied::default())
    }

    fn alter_partition(
        &mut self,
        topic_partition: &TopicPartition,
        proposal: &IsrProposal,
    ) -> CommandOutcome {
        let change = self
            .metadata
            .alter_isr(topic_partition, proposal)
            .map_err(|e| Refusal::new(e.kafka_error(), &e))?;
        Ok(Applied {
            changes: vec![change],
            ..Applied::default()
        })
    }

    fn alter_topic_config(
        &mut self,
        name: &str,
        change: TopicConfigChange,
        configs: &BTreeMap<String, String>,
    ) -> CommandOutcome {
        let changes = self
            .metadata
            .alter_topic_config(name, change)
            .map_err(|e| Refusal::new(e.kafka_error(), &e))?;
        self.topic_configs.insert(name.to_string(), configs.clone());
        Ok(Applied {
            changes,
            ..Applied::default()
        })
    }

    fn controlled_shutdown(&mut self, broker: BrokerId, incarnation: u64) -> CommandOutcome {
        self.check_incarnation(broker, incarnation)?;
        let was_live = self.metadata.is_live(broker);
        let changes = self.metadata.fence_broker(broker).expect("registered");
        let fenced = if was_live { vec![broker] } else { Vec::new() };
        Ok(Applied {
            changes,
            fenced,
            ..Applied::default()
        })
    }

    /// The next `count` producer ids, for `broker`'s life `incarnation` alone.
    fn allocate_producer_ids(
        &mut self,
        broker: BrokerId,
        incarnation: u64,
        count: u32,
    ) -> CommandOutcome {
        self.check_incarnation(broker, incarnation)?;
        if !(1..=PRODUCER_ID_BLOCK_LEN_MAX).contains(&count) {
            let message = format!(
                "broker {broker}: a block of {count} producer ids asked, expected 1 to \
                 {PRODUCER_ID_BLOCK_LEN_MAX}"
            );
            return Err(Refusal::new(KafkaError::InvalidRequest, &message));
        }
        let first = self.next_producer_id;
        let Some(end) = first.checked_add(i64::from(count)) else {
            // 2^63 ids: a thousand a millisecond would last 292 million years.
            let message = format!("producer ids exhausted: the next is {first}");
            return Err(Refusal::new(KafkaError::InvalidRequest, &message));
        };
        self.next_producer_id = end;
        Ok(Applied {
            producer_ids: Some(ProducerIdBlock { first, end }),
            ..Applied::default()
        })
    }

    /// Refuses an unknown broker and any incarnation but the registered one.
    fn check_incarnation(&self, broker: BrokerId, incarnation: u64) -> Result<(), Refusal> {
        let Some(registration) = self.brokers.get(&broker) else {
            return Err(broker_refusal(&BrokerError::NotRegistered { broker }));
        };
        if registration.incarnation != incarnation {
            return Err(stale(broker, incarnation, registration.incarnation));
        }
        Ok(())
    }
}

fn broker_refusal(error: &BrokerError) -> Refusal {
    Refusal::new(error.kafka_error(), error)
}

fn stale(broker: BrokerId, incarnation: u64, registered: u64) -> Refusal {
    broker_refusal(&BrokerError::StaleIncarnation {
        broker,
        incarnation,
        registered,
    })
}

#[cfg(test)]
mod tests {
    use ringlog_replication::LeaderEpoch;
    use ringlog_security::acl::{
        AccessEntry, Operation, PatternType, Permission, ResourcePattern, ResourceType,
    };
    use ringlog_security::scram::{Mechanism, ScramCredential};

    use super::*;

    const LIVENESS_MS: u64 = 1000;

    fn state() -> MetadataState {
        MetadataState::new(LivenessConfig::from_broker_session_timeout_ms(LIVENESS_MS))
    }

    fn register(broker: u32, incarnation: u64, now: u64) -> MetadataCommand {
        MetadataCommand::RegisterBroker {
            broker: BrokerId(broker),
            incarnation,
            endpoint: format!("127.0.0.1:{}", 9000 + broker),
            kafka_endpoint: None,
            rack: None,
            now: Millis(now),
        }
    }

    fn heartbeat(broker: u32, incarnation: u64, now: u64) -> MetadataCommand {
        MetadataCommand::Heartbeat {
            broker: BrokerId(broker),
            incarnation,
            now: Millis(now),
        }
    }

    fn create(name: &str, partitions: u32, replication_factor: u16) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.to_string(),
            partitions,
            replication_factor,
            config: TopicConfig::default(),
            configs: BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
            topic_id: Some(TopicId::from_random(std::array::from_fn(|i| {
                name.as_bytes().get(i).copied().unwrap_or(0)
            }))),
            assignments: None,
        }
    }

    /// Three brokers at incarnation 1 and topic `t` of one partition on [1, 2, 3], led by 1.
    fn cluster() -> MetadataState {
        let mut state = state();
        for broker in 1..=3 {
            state.apply(&register(broker, 1, 0)).unwrap();
        }
        state.apply(&create("t", 1, 3)).unwrap();
        state
    }

    fn t0() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn assert_refused(state: &mut MetadataState, command: MetadataCommand, code: i16) -> Refusal {
        let before = state.clone();
        let refusal = state.apply(&command).unwrap_err();
        assert_eq!(refusal.code.code(), code, "{refusal}");
        assert_eq!(*state, before, "a refused command changed the state");
        refusal
    }

    #[test]
    fn registering_a_new_broker_records_its_registration() {
        let mut state = state();
        let mut command = register(1, 7, 5);
        if let MetadataCommand::RegisterBroker { rack, .. } = &mut command {
            *rack = Some("a".to_string());
        }
        assert_eq!(state.apply(&command).unwrap(), Applied::default());
        let registration = &state.brokers[&BrokerId(1)];
        assert_eq!(registration.incarnation, 7);
        assert_eq!(registration.endpoint, "127.0.0.1:9001");
        assert_eq!(registration.rack.as_deref(), Some("a"));
        let broker = state.metadata.broker(BrokerId(1)).unwrap();
        assert_eq!(broker.last_heartbeat(), Millis(5));
        assert_eq!(broker.rack(), Some(&Rack("a".to_string())));
    }

    #[test]
    fn registering_the_same_incarnation_again_is_a_heartbeat() {
        let mut state = cluster();
        let applied = state.apply(&register(2, 1, 500)).unwrap();
        assert_eq!(applied, Applied::default());
        let broker = state.metadata.broker(BrokerId(2)).unwrap();
        assert_eq!(broker.last_heartbeat(), Millis(500));
    }

    #[test]
    fn a_new_incarnation_fences_the_old_life_then_unfences_the_new_one() {
        let mut state = cluster();
        let mut command = register(1, 2, 100);
        if let MetadataCommand::RegisterBroker { endpoint, rack, .. } = &mut command {
            *endpoint = "127.0.0.1:7777".to_string();
            *rack = Some("b".to_string());
        }
        let applied = state.apply(&command).unwrap();
        assert_eq!(applied.fenced, vec![BrokerId(1)]);
        // The old life led t-0: leadership moved to 2 and 1 left the ISR.
        let partition = state.metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(2)));
        assert_eq!(partition.isr(), [BrokerId(2), BrokerId(3)]);
        assert_eq!(partition.leader_epoch(), LeaderEpoch(1));
        assert_eq!(applied.changes.len(), 1);
        assert_eq!(applied.changes[0].partition, *partition);
        assert!(state.metadata.is_live(BrokerId(1)));
        let registration = &state.brokers[&BrokerId(1)];
        assert_eq!(registration.incarnation, 2);
        assert_eq!(registration.endpoint, "127.0.0.1:7777");
        assert_eq!(registration.rack.as_deref(), Some("b"));
    }

    #[test]
    fn a_new_incarnation_of_a_fenced_broker_elects_its_offline_partitions() {
        let mut state = state();
        state.apply(&register(1, 1, 0)).unwrap();
        state.apply(&create("t", 1, 1)).unwrap();
        let expired = MetadataCommand::ExpireSessions { now: Millis(5000) };
        assert_eq!(state.apply(&expired).unwrap().fenced, vec![BrokerId(1)]);
        assert_eq!(state.metadata.partition(&t0()).unwrap().leader(), None);
        let applied = state.apply(&register(1, 2, 6000)).unwrap();
        assert!(applied.fenced.is_empty(), "already fenced: {applied:?}");
        assert_eq!(applied.changes.len(), 1);
        let partition = state.metadata.partition(&t0()).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(1)));
    }

    #[test]
    fn a_registration_older_than_the_registered_incarnation_is_refused() {
        let mut state = cluster();
        state.apply(&register(2, 5, 10)).unwrap();
        let refusal = assert_refused(&mut state, register(2, 4, 20), 77);
        assert_eq!(
            refusal.message,
            "broker 2: incarnation 4 is stale, the registered one is 5"
        );
    }

    #[test]
    fn heartbeat_of_the_registered_incarnation_unfences() {
        let mut state = cluster();
        state
            .apply(&MetadataCommand::ExpireSessions { now: Millis(1001) })
            .unwrap();
        assert!(!state.metadata.is_live(BrokerId(3)));
        state.apply(&heartbeat(3, 1, 1500)).unwrap();
        assert!(state.metadata.is_live(BrokerId(3)));
        assert_eq!(
            state.metadata.broker(BrokerId(3)).unwrap().last_heartbeat(),
            Millis(1500)
        );
    }

    #[test]
    fn heartbeat_of_another_incarnation_is_refused_as_stale() {
        let mut state = cluster();
        state.apply(&register(1, 2, 10)).unwrap();
        assert_refused(&mut state, heartbeat(1, 1, 20), 77);
        assert_refused(&mut state, heartbeat(1, 3, 20), 77);
    }

    #[test]
    fn heartbeat_of_an_unknown_broker_is_refused() {
        let mut state = cluster();
        let refusal = assert_refused(&mut state, heartbeat(9, 1, 20), 102);
        assert_eq!(refusal.code, KafkaError::BrokerIdNotRegistered);
    }

    #[test]
    fn expire_sessions_fences_the_silent_brokers_only() {
        let mut state = cluster();
        state.apply(&heartbeat(1, 1, 800)).unwrap();
        state.apply(&heartbeat(3, 1, 800)).unwrap();
        let applied = state
            .apply(&MetadataCommand::ExpireSessions { now: Millis(1001) })
            .unwrap();
        assert_eq!(applied.fenced, vec![BrokerId(2)]);
        assert_eq!(
            state.metadata.partition(&t0()).unwrap().isr(),
            [BrokerId(1), BrokerId(3)]
        );
        let again = MetadataCommand::ExpireSessions { now: Millis(1001) };
        assert_eq!(state.apply(&again).unwrap(), Applied::default());
    }

    #[test]
    fn create_topic_stores_its_configs_and_a_refusal_stores_nothing() {
        let mut state = cluster();
        assert_eq!(
            state.topic_configs["t"]["retention.ms"], "1000",
            "{:?}",
            state.topic_configs
        );
        assert_refused(&mut state, create("t", 1, 1), 36);
        assert_refused(&mut state, create("u", 1, 4), 38);
        assert_refused(&mut state, create("bad name", 1, 1), 17);
        let applied = state.apply(&create("u", 3, 2)).unwrap();
        assert_eq!(applied.changes.len(), 3);
        assert!(state.topic_configs.contains_key("u"));
    }

    #[test]
    fn delete_topic_removes_the_topic_and_its_configs() {
        let mut state = cluster();
        let delete = MetadataCommand::DeleteTopic {
            name: "t".to_string(),
        };
        assert_eq!(state.apply(&delete).unwrap(), Applied::default());
        assert!(state.metadata.topic("t").is_none());
        assert!(state.topic_configs.is_empty());
        assert_refused(&mut state, delete, 3);
    }

    #[test]
    fn alter_partition_commits_a_valid_proposal_and_refuses_a_stale_one() {
        let mut state = cluster();
        let proposal = IsrProposal {
            leader: BrokerId(1),
            leader_epoch: LeaderEpoch(0),
            partition_epoch: ringlog_replication::PartitionEpoch(0),
            new_isr: vec![BrokerId(1), BrokerId(2)],
        };
        let command = MetadataCommand::AlterPartition {
            topic_partition: t0(),
            proposal,
        };
        let applied = state.apply(&command).unwrap();
        assert_eq!(
            applied.changes[0].partition.isr(),
            [BrokerId(1), BrokerId(2)]
        );
        // The same proposal again is built on an old partition epoch.
        assert_refused(&mut state, command, 95);
    }

    #[test]
    fn alter_topic_config_replaces_the_overrides_and_counts_unclean_elections() {
        let mut state = cluster();
        for broker in [2, 3, 1] {
            let shutdown = MetadataCommand::ControlledShutdown {
                broker: BrokerId(broker),
                incarnation: 1,
            };
            state.apply(&shutdown).unwrap();
        }
        state.apply(&heartbeat(3, 1, 10)).unwrap();
        assert_eq!(state.metadata.partition(&t0()).unwrap().leader(), None);
        let configs = BTreeMap::from([(
            "unclean.leader.election.enable".to_string(),
            "true".to_string(),
        )]);
        let command = MetadataCommand::AlterTopicConfig {
            name: "t".to_string(),
            change: TopicConfigChange {
                unclean_leader_election: Some(true),
                ..TopicConfigChange::default()
            },
            configs: configs.clone(),
        };
        let applied = state.apply(&command).unwrap();
        assert!(applied.changes[0].unclean_election);
        assert_eq!(state.unclean_elections, 1);
        assert_eq!(state.topic_configs["t"], configs);
        let unknown = MetadataCommand::AlterTopicConfig {
            name: "missing".to_string(),
            change: TopicConfigChange::default(),
            configs,
        };
        assert_refused(&mut state, unknown, 3);
    }

    #[test]
    fn controlled_shutdown_moves_leadership_and_checks_the_incarnation() {
        let mut state = cluster();
        let stale_shutdown = MetadataCommand::ControlledShutdown {
            broker: BrokerId(1),
            incarnation: 0,
        };
        assert_refused(&mut state, stale_shutdown, 77);
        let shutdown = MetadataCommand::ControlledShutdown {
            broker: BrokerId(1),
            incarnation: 1,
        };
        let applied = state.apply(&shutdown).unwrap();
        assert_eq!(applied.fenced, vec![BrokerId(1)]);
        assert_eq!(
            state.metadata.partition(&t0()).unwrap().leader(),
            Some(BrokerId(2))
        );
        // Already fenced: nothing more to do, and not reported fenced again.
        assert_eq!(state.apply(&shutdown).unwrap(), Applied::default());
        let unknown = MetadataCommand::ControlledShutdown {
            broker: BrokerId(9),
            incarnation: 1,
        };
        assert_refused(&mut state, unknown, 102);
    }

    #[test]
    fn expiry_is_due_for_a_silent_broker_once_the_leader_has_led_a_session_timeout() {
        let mut state = cluster();
        let session = Duration::from_millis(LIVENESS_MS);
        state.apply(&heartbeat(1, 1, 900)).unwrap();
        state.apply(&heartbeat(2, 1, 900)).unwrap();
        // Broker 3 was last heard from at 0: silent for exactly the timeout is still alive.
        assert!(!state.expiry_due(session, Millis(1000)));
        assert!(state.expiry_due(session, Millis(1001)));
        // A leader that has not led a whole session timeout waits.
        assert!(!state.expiry_due(session - Duration::from_millis(1), Millis(5000)));
        // Once fenced, a silent broker is not due again.
        state
            .apply(&MetadataCommand::ExpireSessions { now: Millis(1001) })
            .unwrap();
        assert!(!state.expiry_due(session, Millis(1500)));
    }

    #[test]
    fn topics_keep_their_ids_and_the_first_cluster_id_wins() {
        let mut state = cluster();
        let id = state.topic_ids["t"];
        assert!(!id.is_zero());
        // Another topic may not take an id already given.
        let mut clash = create("u", 1, 1);
        if let MetadataCommand::CreateTopic { topic_id, .. } = &mut clash {
            *topic_id = Some(id);
        }
        let refusal = state.apply(&clash).unwrap_err();
        assert_eq!(refusal.code, KafkaError::TopicAlreadyExists);
        assert!(
            refusal.message.contains("is already topic t's"),
            "{refusal}"
        );
        // Deleted and created again, the name has a new id.
        state
            .apply(&MetadataCommand::DeleteTopic { name: "t".into() })
            .unwrap();
        assert!(!state.topic_ids.contains_key("t"));
        let mut again = create("t", 1, 3);
        if let MetadataCommand::CreateTopic { topic_id, .. } = &mut again {
            *topic_id = Some(TopicId::from_random([7; 16]));
        }
        state.apply(&again).unwrap();
        assert_ne!(state.topic_ids["t"], id);
        // The cluster id: the first proposal wins, later ones change nothing.
        assert_eq!(state.cluster_id, None);
        for proposed in ["first", "second"] {
            let init = MetadataCommand::InitCluster {
                cluster_id: proposed.to_string(),
            };
            state.apply(&init).unwrap();
        }
        assert_eq!(state.cluster_id.as_deref(), Some("first"));
    }

    fn allocate(broker: u32, incarnation: u64, count: u32) -> MetadataCommand {
        MetadataCommand::AllocateProducerIds {
            broker: BrokerId(broker),
            incarnation,
            count,
        }
    }

    fn block(state: &mut MetadataState, command: &MetadataCommand) -> ProducerIdBlock {
        let applied = state.apply(command).unwrap();
        assert!(applied.changes.is_empty() && applied.fenced.is_empty());
        applied.producer_ids.expect("a block")
    }

    #[test]
    fn producer_id_blocks_follow_each_other_and_never_overlap() {
        let mut state = cluster();
        assert_eq!(state.next_producer_id, 0);
        let mut blocks = Vec::new();
        for (round, count) in [1000, 1, 7, 1000, PRODUCER_ID_BLOCK_LEN_MAX]
            .iter()
            .enumerate()
        {
            let broker = round as u32 % 3 + 1;
            blocks.push(block(&mut state, &allocate(broker, 1, *count)));
        }
        assert_eq!(
            blocks[0],
            ProducerIdBlock {
                first: 0,
                end: 1000
            }
        );
        assert_eq!(
            blocks[1],
            ProducerIdBlock {
                first: 1000,
                end: 1001
            }
        );
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].end, pair[1].first, "{pair:?}");
        }
        let total: u64 = blocks.iter().map(ProducerIdBlock::len).sum();
        assert_eq!(state.next_producer_id, i64::try_from(total).unwrap());
        // A new life of a broker gets ids no earlier life had.
        state.apply(&register(2, 2, 10)).unwrap();
        let after_restart = block(&mut state, &allocate(2, 2, 10));
        assert_eq!(after_restart.first, state.next_producer_id - 10);
        assert!(blocks.iter().all(|b| b.end <= after_restart.first));
    }

    #[test]
    fn producer_ids_are_refused_to_strangers_stale_lives_and_odd_counts() {
        let mut state = cluster();
        state.apply(&register(1, 2, 10)).unwrap();
        let refusal = assert_refused(&mut state, allocate(9, 1, 1000), 102);
        assert_eq!(refusal.message, "broker 9 is not registered");
        assert_refused(&mut state, allocate(1, 1, 1000), 77);
        let refusal = assert_refused(&mut state, allocate(1, 2, 0), 42);
        assert_eq!(
            refusal.message,
            "broker 1: a block of 0 producer ids asked, expected 1 to 1000000"
        );
        assert_refused(
            &mut state,
            allocate(1, 2, PRODUCER_ID_BLOCK_LEN_MAX + 1),
            42,
        );
        // The space's end: refused, nothing wraps.
        state.next_producer_id = i64::MAX - 5;
        let refusal = assert_refused(&mut state, allocate(1, 2, 10), 42);
        assert!(refusal.message.contains("exhausted"), "{refusal}");
        assert_eq!(
            block(&mut state, &allocate(1, 2, 5)),
            ProducerIdBlock {
                first: i64::MAX - 5,
                end: i64::MAX
            }
        );
    }

    #[test]
    fn the_next_producer_id_is_in_the_snapshot_and_absent_from_old_ones() {
        let mut state = cluster();
        block(&mut state, &allocate(1, 1, 1000));
        let json = serde_json::to_string(&state).unwrap();
        let mut restored: MetadataState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, state);
        assert_eq!(
            block(&mut restored, &allocate(2, 1, 1000)),
            ProducerIdBlock {
                first: 1000,
                end: 2000
            }
        );
        // A snapshot written before producer ids loads with none allocated.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("next_producer_id");
        let loaded: MetadataState = serde_json::from_value(old).unwrap();
        assert_eq!(loaded.next_producer_id, 0);
        // An outcome without a block is written as before blocks existed.
        let outcome = serde_json::to_string(&Applied::default()).unwrap();
        assert_eq!(outcome, r#"{"changes":[],"fenced":[]}"#);
    }

    fn credential(mechanism: Mechanism, iterations: u32) -> ScramCredential {
        let salted = vec![
            7;
            if mechanism == Mechanism::ScramSha256 {
                32
            } else {
                64
            }
        ];
        ScramCredential::from_salted_password(mechanism, &salted, vec![1, 2, 3], iterations)
            .unwrap()
    }

    fn upsert(user: &str, credential: ScramCredential) -> ScramAlteration {
        ScramAlteration::Upsert {
            user: user.to_string(),
            credential,
        }
    }

    fn delete(user: &str, mechanism: Mechanism) -> ScramAlteration {
        ScramAlteration::Delete {
            user: user.to_string(),
            mechanism,
        }
    }

    /// Applies `alterations`: each user's error code (0 for none), in the answer's order.
    fn alter(state: &mut MetadataState, alterations: Vec<ScramAlteration>) -> Vec<(String, i16)> {
        let command = MetadataCommand::AlterScramCredentials { alterations };
        let applied = state.apply(&command).expect("never refused whole");
        applied
            .users
            .into_iter()
            .map(|u| (u.user, u.refusal.map_or(0, |r| r.code.code())))
            .collect()
    }

    fn pairs(list: &[(&str, i16)]) -> Vec<(String, i16)> {
        list.iter().map(|(u, c)| (u.to_string(), *c)).collect()
    }

    #[test]
    fn scram_credentials_are_set_replaced_and_deleted_per_user_and_mechanism() {
        use Mechanism::{ScramSha256, ScramSha512};
        let mut state = cluster();
        let outcome = alter(
            &mut state,
            vec![
                upsert("alice", credential(ScramSha256, 4096)),
                upsert("bob", credential(ScramSha512, 8192)),
            ],
        );
        assert_eq!(outcome, pairs(&[("alice", 0), ("bob", 0)]));
        // Replaced: the same mechanism with other iterations.
        alter(
            &mut state,
            vec![upsert("alice", credential(ScramSha256, 10_000))],
        );
        alter(
            &mut state,
            vec![upsert("alice", credential(ScramSha512, 4096))],
        );
        let alice = &state.scram_credentials["alice"];
        assert_eq!(alice[&ScramSha256].iterations, 10_000);
        assert_eq!(alice.len(), 2);
        assert_eq!(alice[&ScramSha512], credential(ScramSha512, 4096));
        // Deleting the last credential forgets the user.
        let outcome = alter(&mut state, vec![delete("bob", ScramSha512)]);
        assert_eq!(outcome, pairs(&[("bob", 0)]));
        assert!(!state.scram_credentials.contains_key("bob"));
        alter(&mut state, vec![delete("alice", ScramSha256)]);
        assert_eq!(
            state.scram_credentials["alice"].keys().collect::<Vec<_>>(),
            [&ScramSha512]
        );
    }

    #[test]
    fn each_user_of_an_alteration_fails_alone_with_kafkas_errors() {
        use Mechanism::{ScramSha256, ScramSha512};
        let mut state = cluster();
        alter(
            &mut state,
            vec![upsert("carol", credential(ScramSha256, 4096))],
        );
        let before = state.clone();
        let mut too_few = credential(ScramSha256, 4096);
        too_few.iterations = 4095;
        let mut too_many = credential(ScramSha512, 4096);
        too_many.iterations = 16_385;
        let mut short_key = credential(ScramSha512, 4096);
        short_key.stored_key.pop();
        let outcome = alter(
            &mut state,
            vec![
                delete("dave", ScramSha256),
                upsert("erin", credential(ScramSha256, 4096)),
                delete("carol", ScramSha512),
                upsert("erin", credential(ScramSha512, 4096)),
                upsert("frank", too_few),
                upsert("grace", too_many),
                upsert("", credential(ScramSha256, 4096)),
                upsert("heidi", short_key),
            ],
        );
        // RESOURCE_NOT_FOUND (91) deleting what is not there, DUPLICATE_RESOURCE (92) for a
        // user named twice, UNACCEPTABLE_CREDENTIAL (93) for the iterations, the name, a key.
        let expected = [
            ("dave", 91),
            ("erin", 92),
            ("carol", 91),
            ("frank", 93),
            ("grace", 93),
            ("", 93),
            ("heidi", 93),
        ];
        assert_eq!(outcome, pairs(&expected));
        assert_eq!(state, before, "every user refused: nothing changed");
        // One user refused, another applied, in one command.
        let outcome = alter(
            &mut state,
            vec![
                delete("carol", ScramSha512),
                upsert("ivan", credential(ScramSha256, 4096)),
            ],
        );
        assert_eq!(outcome, pairs(&[("carol", 91), ("ivan", 0)]));
        assert!(state.scram_credentials.contains_key("ivan"));
    }

    fn acl(principal: &str, operation: Operation, name: &str) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.to_string(),
                pattern_type: PatternType::Literal,
            },
            entry: AccessEntry {
                principal: principal.to_string(),
                host: "*".to_string(),
                operation,
                permission: Permission::Allow,
            },
        }
    }

    fn filter(principal: Option<&str>, operation: Operation) -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: principal.map(String::from),
            host: None,
            operation,
            permission: Permission::Any,
        }
    }

    #[test]
    fn acls_are_created_each_on_its_own_and_again_without_a_duplicate() {
        let mut state = cluster();
        let read = acl("User:alice", Operation::Read, "t");
        let invalid = acl("alice", Operation::Read, "t");
        let write = acl("User:bob", Operation::Write, "t");
        let command = MetadataCommand::CreateAcls {
            bindings: vec![read.clone(), invalid, write.clone()],
        };
        let applied = state.apply(&command).unwrap();
        let codes: Vec<i16> = applied
            .acl_creations
            .iter()
            .map(|r| r.as_ref().map_or(0, |r| r.code.code()))
            .collect();
        assert_eq!(codes, [0, 42, 0]);
        assert_eq!(state.acls, BTreeSet::from([read.clone(), write.clone()]));
        // Created again: success, and still one of each.
        let again = MetadataCommand::CreateAcls {
            bindings: vec![read.clone()],
        };
        assert_eq!(state.apply(&again).unwrap().acl_creations, vec![None]);
        assert_eq!(state.acls.len(), 2);
    }

    #[test]
    fn acl_deletions_answer_per_filter_what_it_matched() {
        let mut state = cluster();
        let alice_read = acl("User:alice", Operation::Read, "t");
        let alice_write = acl("User:alice", Operation::Write, "t");
        let bob_read = acl("User:bob", Operation::Read, "u");
        let create = MetadataCommand::CreateAcls {
            bindings: vec![alice_read.clone(), alice_write.clone(), bob_read.clone()],
        };
        state.apply(&create).unwrap();
        let delete = MetadataCommand::DeleteAcls {
            filters: vec![
                filter(Some("User:alice"), Operation::Read),
                filter(None, Operation::Read),
                filter(Some("User:nobody"), Operation::Any),
            ],
        };
        let applied = state.apply(&delete).unwrap();
        // A binding two filters match is in both answers, deleted once.
        assert_eq!(
            applied.acl_deletions,
            vec![
                vec![alice_read.clone()],
                vec![alice_read, bob_read],
                Vec::new()
            ]
        );
        assert_eq!(state.acls, BTreeSet::from([alice_write]));
        // Deleting again deletes nothing: not an error.
        let applied = state.apply(&delete).unwrap();
        assert!(applied.acl_deletions.iter().all(Vec::is_empty));
    }

    #[test]
    fn credentials_and_acls_are_in_the_snapshot_and_absent_from_old_ones() {
        let mut state = cluster();
        alter(
            &mut state,
            vec![upsert("alice", credential(Mechanism::ScramSha512, 8192))],
        );
        let create = MetadataCommand::CreateAcls {
            bindings: vec![acl("User:alice", Operation::Read, "t")],
        };
        state.apply(&create).unwrap();
        let json = serde_json::to_string(&state).unwrap();
        let restored: MetadataState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, state);
        // A snapshot written before security loads with no users and no acls.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        let fields = old.as_object_mut().unwrap();
        assert!(fields.remove("scram_credentials").is_some());
        assert!(fields.remove("acls").is_some());
        let loaded: MetadataState = serde_json::from_value(old).unwrap();
        assert!(loaded.scram_credentials.is_empty() && loaded.acls.is_empty());
        // The commands and their outcomes travel as JSON too (the log, submits).
        for command in [
            MetadataCommand::AlterScramCredentials {
                alterations: vec![
                    upsert("bob", credential(Mechanism::ScramSha256, 4096)),
                    delete("alice", Mechanism::ScramSha512),
                ],
            },
            create,
            MetadataCommand::DeleteAcls {
                filters: vec![filter(None, Operation::Any)],
            },
        ] {
            let json = serde_json::to_string(&command).unwrap();
            assert_eq!(
                serde_json::from_str::<MetadataCommand>(&json).unwrap(),
                command
            );
            let outcome = state.apply(&command);
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(
                serde_json::from_str::<CommandOutcome>(&json).unwrap(),
                outcome
            );
        }
    }

    #[test]
    fn stamping_sets_the_time_of_timed_commands_only() {
        let stamped = register(1, 1, 0).stamped(Millis(42));
        assert!(matches!(
            stamped,
            MetadataCommand::RegisterBroker {
                now: Millis(42),
                ..
            }
        ));
        let delete = MetadataCommand::DeleteTopic {
            name: "t".to_string(),
        };
        assert_eq!(delete.clone().stamped(Millis(42)), delete);
    }

    #[test]
    fn applying_the_same_commands_gives_the_same_state() {
        let commands = [
            register(1, 1, 0),
            register(2, 1, 0),
            create("a", 4, 2),
            MetadataCommand::ExpireSessions { now: Millis(3000) },
            register(2, 2, 3100),
            heartbeat(1, 1, 3200),
            allocate(1, 1, 1000),
            allocate(2, 2, 1000),
        ];
        let mut first = state();
        let mut second = state();
        for command in &commands {
            let outcome = first.apply(command);
            assert_eq!(second.apply(command), outcome);
        }
        assert_eq!(first, second);
        let json = serde_json::to_string(&first).unwrap();
        assert_eq!(serde_json::from_str::<MetadataState>(&json).unwrap(), first);
    }
}
