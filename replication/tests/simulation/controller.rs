//! The controller model: one reliable node holding the crate's real [`ClusterMetadata`] and
//! applying its rules (liveness, fencing, elections, ISR proposals). The Raft quorum behind it
//! is the cluster issue's; here the controller never fails, while its messages to and from the
//! brokers travel the faulty network like any other.
//!
//! A broker that restarts comes back with a new incarnation. The controller fences the old one
//! first (it leaves every ISR and loses its leaderships), as KRaft does on re-registration,
//! then unfences the new one.

use std::collections::BTreeMap;

use ringlog_replication::controller::{
    ClusterMetadata, LivenessConfig, Partition, PartitionChange, TopicConfig,
};
use ringlog_replication::{BrokerId, Millis, Offset, TopicPartition};

use crate::broker::Broker;
use crate::network::{Envelope, Network, Node};
use crate::world::{Event, History, Message, PartitionIndex, SimConfig, UncleanElection, timing};

pub(crate) const TOPIC: &str = "sim";

pub(crate) struct Controller {
    metadata: ClusterMetadata,
    incarnations: BTreeMap<BrokerId, u64>,
    partitions: usize,
}

impl Controller {
    pub(crate) fn new(config: &SimConfig) -> Controller {
        let liveness =
            LivenessConfig::from_broker_session_timeout_ms(timing::BROKER_SESSION_TIMEOUT_MS);
        Controller {
            metadata: ClusterMetadata::new(liveness),
            incarnations: BTreeMap::new(),
            partitions: config.partitions,
        }
    }

    pub(crate) fn register(&mut self, id: BrokerId, now: u64) {
        self.metadata
            .register_broker(id, None, Millis(now))
            .expect("registered once");
        self.incarnations.insert(id, 0);
    }

    pub(crate) fn create_topic(&mut self, config: &SimConfig) -> Vec<(PartitionIndex, Partition)> {
        let topic_config = TopicConfig {
            min_insync_replicas: config.min_insync_replicas,
            unclean_leader_election: config.unclean_leader_election,
        };
        let partitions = u32::try_from(config.partitions).expect("few partitions");
        self.metadata
            .create_topic(TOPIC, partitions, config.replication_factor, topic_config)
            .expect("the simulated topic is valid");
        self.states()
    }

    pub(crate) fn partition(&self, partition: PartitionIndex) -> &Partition {
        let index = u32::try_from(partition).expect("few partitions");
        self.metadata
            .partition(&TopicPartition::new(TOPIC, index))
            .expect("the simulated topic exists")
    }

    pub(crate) fn is_fenced(&self, broker: BrokerId) -> bool {
        !self.metadata.is_live(broker)
    }

    fn states(&self) -> Vec<(PartitionIndex, Partition)> {
        (0..self.partitions)
            .map(|p| (p, self.partition(p).clone()))
            .collect()
    }

    pub(crate) fn on_tick(
        &mut self,
        net: &mut Network,
        history: &mut History,
        brokers: &BTreeMap<BrokerId, Broker>,
    ) {
        let outcome = self.metadata.tick(Millis(net.now));
        self.publish(outcome.changes, net, history, brokers);
        net.schedule(net.now + timing::CONTROLLER_TICK_MS, Event::ControllerTick);
    }

    pub(crate) fn on_message(
        &mut self,
        envelope: Envelope,
        net: &mut Network,
        history: &mut History,
        brokers: &BTreeMap<BrokerId, Broker>,
    ) {
        match (envelope.from, envelope.message) {
            (Node::Broker(id), Message::Heartbeat { incarnation }) => {
                let mut changes = Vec::new();
                let known = self.incarnations.insert(id, incarnation);
                if known.is_some_and(|k| k < incarnation) {
                    changes.extend(self.metadata.fence_broker(id).expect("registered"));
                } else if known.is_some_and(|k| k > incarnation) {
                    // A heartbeat from an earlier life, delayed: ignore it.
                    self.incarnations.insert(id, known.expect("some"));
                    return;
                }
                let now = Millis(net.now);
                changes.extend(self.metadata.heartbeat(id, now).expect("registered"));
                self.publish(changes, net, history, brokers);
                let states = Message::PartitionStates {
                    incarnation: Some(incarnation),
                    states: self.states(),
                };
                net.send(Node::Controller, envelope.from, states);
            }
            (
                Node::Broker(id),
                Message::AlterIsr {
                    partition,
                    proposal,
                },
            ) => {
                let index = u32::try_from(partition).expect("few partitions");
                let topic_partition = TopicPartition::new(TOPIC, index);
                match self.metadata.alter_isr(&topic_partition, &proposal) {
                    Ok(change) => self.publish(vec![change], net, history, brokers),
                    Err(_) => {
                        let refused = Message::AlterIsrRefused {
                            incarnation: self.incarnations[&id],
                            partition,
                        };
                        net.send(Node::Controller, envelope.from, refused);
                    }
                }
            }
            (Node::Client, Message::MetadataRequest) => {
                let states = Message::PartitionStates {
                    incarnation: None,
                    states: self.states(),
                };
                net.send(Node::Controller, Node::Client, states);
            }
            (from, message) => panic!("controller got {message:?} from {from:?}"),
        }
    }

    /// Sends each changed partition's state to every broker; records unclean elections with
    /// the acknowledged records the new leader lacks.
    fn publish(
        &mut self,
        changes: Vec<PartitionChange>,
        net: &mut Network,
        history: &mut History,
        brokers: &BTreeMap<BrokerId, Broker>,
    ) {
        for change in changes {
            let partition = change.topic_partition.partition as usize;
            if change.unclean_election {
                let leader = change.partition.leader().expect("an election elects");
                let log = &brokers[&leader].log(partition);
                let lost = history
                    .acked
                    .iter()
                    .filter(|a| a.partition == partition)
                    .flat_map(|a| (a.base.0..).zip(a.records.iter()))
                    .filter(|(o, r)| log.record_at(Offset(*o)) != Some(**r))
                    .map(|(_, r)| *r)
                    .collect();
                history.unclean_elections.push(UncleanElection {
                    partition,
                    leader,
                    lost,
                });
            }
            for &id in brokers.keys() {
                let states = Message::PartitionStates {
                    incarnation: Some(self.incarnations[&id]),
                    states: vec![(partition, change.partition.clone())],
                };
                net.send(Node::Controller, Node::Broker(id), states);
            }
        }
    }
}
