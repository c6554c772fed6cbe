//! The simulated cluster: brokers, the controller, one client, the network between them and
//! the record of what clients were told. One seed drives every choice.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ringlog_replication::controller::{IsrProposal, Partition};
use ringlog_replication::partition::{Acks, FetchId, FetchResponse, FollowerFetchRequest};
use ringlog_replication::{BrokerId, KafkaError, Offset};

use crate::broker::Broker;
use crate::client::Client;
use crate::controller::Controller;
use crate::disk::ModelBatch;
use crate::network::{Envelope, Network, Node};

/// The simulated topic's partitions are numbered from 0.
pub(crate) type PartitionIndex = usize;

/// Time in the simulation, in milliseconds. Every interval is scaled down from Kafka's defaults
/// (ratios kept) so a seed covers many failures in little simulated time.
pub(crate) mod timing {
    pub(crate) const BROKER_TICK_MS: u64 = 50;
    pub(crate) const HEARTBEAT_MS: u64 = 200;
    pub(crate) const BROKER_SESSION_TIMEOUT_MS: u64 = 900;
    pub(crate) const REPLICA_LAG_TIME_MAX_MS: u64 = 1000;
    pub(crate) const FETCH_TIMEOUT_MS: u64 = 500;
    pub(crate) const FETCH_BACKOFF_MS: u64 = 50;
    pub(crate) const FETCH_WAIT_MAX_MS: u64 = 100;
    pub(crate) const PRODUCE_TIMEOUT_MS: u64 = 1500;
    pub(crate) const CONTROLLER_TICK_MS: u64 = 50;
    pub(crate) const CLIENT_TICK_MS: u64 = 20;
    pub(crate) const METADATA_REFRESH_MS: u64 = 200;
    pub(crate) const DISK_LATENCY_MAX_MS: u64 = 5;
    pub(crate) const ISR_PROPOSAL_TIMEOUT_MS: u64 = 300;
}

/// A follower fetch's tag: the follower's incarnation (its connection: a restart drops every
/// answer to a fetch sent before it, as a reset TCP connection does) and the fetch's id.
pub(crate) type FetchTag = (u64, FetchId);

/// Everything that travels between nodes.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    /// A follower's fetch.
    Fetch {
        partition: PartitionIndex,
        fetch_id: FetchTag,
        request: FollowerFetchRequest,
    },
    /// The leader's answer, with the batches when there are records.
    FetchReply {
        partition: PartitionIndex,
        fetch_id: FetchTag,
        response: FetchResponse,
        batches: Vec<ModelBatch>,
    },
    Heartbeat {
        incarnation: u64,
    },
    AlterIsr {
        partition: PartitionIndex,
        proposal: IsrProposal,
    },
    /// Sent to the broker incarnation that proposed.
    AlterIsrRefused {
        incarnation: u64,
        partition: PartitionIndex,
    },
    /// The controller's committed state of these partitions (pushed on change, and in reply
    /// to heartbeats and metadata requests). To a broker, it names the incarnation the
    /// controller knows: a restarted broker acts on no state until the controller has seen its
    /// new incarnation (and fenced the old one), as a KRaft broker waits for its registration.
    PartitionStates {
        incarnation: Option<u64>,
        states: Vec<(PartitionIndex, Partition)>,
    },
    MetadataRequest,
    Produce {
        partition: PartitionIndex,
        request: u64,
        acks: Acks,
        records: Vec<u64>,
        /// The idempotent producer's id, epoch and sequences, when one sent it.
        producer: Option<ringlog_format::producer::ProducerBatch>,
    },
    ProduceReply {
        partition: PartitionIndex,
        request: u64,
        result: Result<Offset, KafkaError>,
    },
    ConsumerFetch {
        partition: PartitionIndex,
        offset: Offset,
    },
    ConsumerFetchReply {
        partition: PartitionIndex,
        offset: Offset,
        result: Result<Vec<(Offset, u64)>, KafkaError>,
        /// Where the broker's log starts: a consumer refused OFFSET_OUT_OF_RANGE below it
        /// resets there (auto.offset.reset = earliest).
        log_start_offset: Offset,
    },
    /// DeleteRecords: the log is to start at `offset` (`None`: the high watermark).
    DeleteRecords {
        partition: PartitionIndex,
        request: u64,
        offset: Option<Offset>,
    },
    /// Its answer: the low watermark reached, or the refusal.
    DeleteRecordsReply {
        partition: PartitionIndex,
        request: u64,
        result: Result<Offset, KafkaError>,
    },
}

/// What the event queue holds.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    Deliver(Envelope),
    BrokerTick {
        broker: BrokerId,
        incarnation: u64,
    },
    /// A leader's append reached the disk (the log is written with `flush = always`).
    AppendDurable {
        broker: BrokerId,
        incarnation: u64,
        partition: PartitionIndex,
        produce: ringlog_replication::partition::ProduceId,
        end: Offset,
    },
    ControllerTick,
    ClientTick,
}

/// One seed's cluster.
#[derive(Clone, Debug)]
pub(crate) struct SimConfig {
    pub seed: u64,
    pub brokers: u32,
    pub partitions: usize,
    pub replication_factor: u16,
    pub min_insync_replicas: u16,
    pub unclean_leader_election: bool,
    /// Followers truncate to their high watermark instead of the diverging epoch's end: the
    /// broken variant the simulator must catch.
    pub broken_truncation: bool,
    /// The partition driver applies a new state while appends are pending: the broken
    /// driver the simulator must catch (it runs the broker's driver, not a model of it).
    pub broken_driver: bool,
    /// Leaders append an idempotent producer's retries again, as a broker without producer
    /// state would: the broken variant the idempotence invariant must catch.
    pub broken_idempotence: bool,
    /// Keep a readable trace of every step (for a replay).
    pub trace: bool,
}

impl SimConfig {
    pub(crate) fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            brokers: 3,
            partitions: 2,
            replication_factor: 3,
            min_insync_replicas: 2,
            unclean_leader_election: false,
            broken_truncation: false,
            broken_driver: false,
            broken_idempotence: false,
            trace: false,
        }
    }
}

/// A produce a client was told succeeded.
#[derive(Clone, Debug)]
pub(crate) struct Acked {
    pub partition: PartitionIndex,
    pub base: Offset,
    pub records: Vec<u64>,
    pub acks: Acks,
}

/// A leader's acks=all success, as it was given: checked against every log at that moment.
#[derive(Clone, Debug)]
pub(crate) struct AcksAllAnswer {
    pub leader: BrokerId,
    pub partition: PartitionIndex,
    pub base: Offset,
    pub records: Vec<u64>,
    pub isr_len: usize,
}

/// A DeleteRecords a leader answered: every ISR replica's log then started at or past
/// `low_watermark`.
#[derive(Clone, Debug)]
pub(crate) struct Deletion {
    pub leader: BrokerId,
    pub partition: PartitionIndex,
    pub low_watermark: Offset,
}

/// An unclean election and what it cost.
#[derive(Clone, Debug)]
pub(crate) struct UncleanElection {
    pub partition: PartitionIndex,
    pub leader: BrokerId,
    /// Records acknowledged with acks=all that the new leader's log lacks.
    pub lost: Vec<u64>,
}

/// What the clients were told and what the cluster did that the invariants look back on.
#[derive(Debug, Default)]
pub(crate) struct History {
    pub acked: Vec<Acked>,
    /// Per partition: offset -> record, as consumers read them.
    pub consumed: Vec<BTreeMap<Offset, u64>>,
    /// acks=all successes since the last invariant check.
    pub acks_all_answers: Vec<AcksAllAnswer>,
    pub unclean_elections: Vec<UncleanElection>,
    /// Every DeleteRecords answered with success.
    pub deletions: Vec<Deletion>,
}

impl History {
    pub(crate) fn had_unclean_election(&self, partition: PartitionIndex) -> bool {
        self.unclean_elections
            .iter()
            .any(|u| u.partition == partition)
    }
}

/// The last steps, for a failure report.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    pub enabled: bool,
    pub lines: std::collections::VecDeque<String>,
}

pub(crate) const TRACE_LINES: usize = 60;

/// A run that takes more steps than this is stuck in a storm of events (a livelock); a seed
/// takes about 6,000.
pub(crate) const STEPS_MAX: u64 = 1_000_000;

impl Trace {
    pub(crate) fn record(&mut self, now: u64, what: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        if self.lines.len() == TRACE_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(format!("{now:>7} ms  {}", what()));
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

/// The whole simulated cluster.
pub(crate) struct World {
    pub config: SimConfig,
    pub net: Network,
    pub brokers: BTreeMap<BrokerId, Broker>,
    pub controller: Controller,
    pub client: Client,
    pub history: History,
    pub trace: Trace,
    /// Steps taken (events handled).
    pub steps: u64,
    /// What the invariants remember between steps.
    pub memory: crate::invariants::Memory,
}

impl World {
    pub(crate) fn new(config: SimConfig) -> World {
        let mut net = Network::new(ChaCha8Rng::seed_from_u64(config.seed));
        let ids: Vec<BrokerId> = (1..=config.brokers).map(BrokerId).collect();
        let mut controller = Controller::new(&config);
        let mut brokers = BTreeMap::new();
        for &id in &ids {
            controller.register(id, 0);
            brokers.insert(id, Broker::new(id, &config));
        }
        let states = controller.create_topic(&config);
        let history = History {
            consumed: vec![BTreeMap::new(); config.partitions],
            ..History::default()
        };
        let client = Client::new(&config);
        let trace = Trace {
            enabled: config.trace,
            ..Trace::default()
        };
        for &id in &ids {
            net.send(
                Node::Controller,
                Node::Broker(id),
                Message::PartitionStates {
                    incarnation: Some(0),
                    states: states.clone(),
                },
            );
            let first_tick = net.range(0, timing::BROKER_TICK_MS);
            net.schedule(
                first_tick,
                Event::BrokerTick {
                    broker: id,
                    incarnation: 0,
                },
            );
        }
        net.schedule(timing::CONTROLLER_TICK_MS, Event::ControllerTick);
        net.schedule(timing::CLIENT_TICK_MS, Event::ClientTick);
        World {
            config,
            net,
            brokers,
            controller,
            client,
            history,
            trace,
            steps: 0,
            memory: Default::default(),
        }
    }

    /// Handles the next event; `false` when none is left before `until`.
    pub(crate) fn step(&mut self, until: u64) -> bool {
        match self.net.next_time() {
            Some(at) if at <= until => {}
            _ => {
                self.net.now = self.net.now.max(until);
                return false;
            }
        }
        let (now, event) = self.net.pop().expect("peeked");
        if let Some(frozen_until) = self.frozen_target(&event) {
            self.net.schedule(frozen_until, event);
            return true;
        }
        self.steps += 1;
        self.trace.record(now, || describe(&event));
        match event {
            Event::Deliver(envelope) => self.deliver(envelope),
            Event::BrokerTick {
                broker,
                incarnation,
            } => {
                let b = self.brokers.get_mut(&broker).expect("known broker");
                b.on_tick(incarnation, &mut self.net, &mut self.history);
            }
            Event::AppendDurable {
                broker,
                incarnation,
                partition,
                produce,
                end,
            } => {
                let b = self.brokers.get_mut(&broker).expect("known broker");
                b.on_append_durable(
                    incarnation,
                    partition,
                    produce,
                    end,
                    &mut self.net,
                    &mut self.history,
                );
            }
            Event::ControllerTick => {
                self.controller
                    .on_tick(&mut self.net, &mut self.history, &self.brokers);
            }
            Event::ClientTick => self.client.on_tick(&mut self.net),
        }
        true
    }

    /// When `event` is for a paused broker, the time it resumes: the event waits until then.
    fn frozen_target(&self, event: &Event) -> Option<u64> {
        let broker = match event {
            Event::Deliver(Envelope {
                to: Node::Broker(id),
                ..
            }) => id,
            Event::BrokerTick { broker, .. } | Event::AppendDurable { broker, .. } => broker,
            _ => return None,
        };
        let frozen_until = self.brokers[broker].frozen_until;
        (frozen_until > self.net.now).then_some(frozen_until)
    }

    fn deliver(&mut self, envelope: Envelope) {
        if self.net.is_cut(envelope.from, envelope.to) {
            return;
        }
        match envelope.to {
            Node::Broker(id) => {
                let b = self.brokers.get_mut(&id).expect("known broker");
                b.on_message(envelope, &mut self.net, &mut self.history);
            }
            Node::Controller => {
                self.controller.on_message(
                    envelope,
                    &mut self.net,
                    &mut self.history,
                    &self.brokers,
                );
            }
            Node::Client => self
                .client
                .on_message(envelope, &mut self.net, &mut self.history),
        }
    }

    /// Runs events until simulated time `until`, checking every invariant after each step.
    pub(crate) fn run_until(&mut self, until: u64) -> Result<(), String> {
        while self.step(until) {
            crate::invariants::check_all(self)?;
            if self.steps > STEPS_MAX {
                return Err(format!(
                    "bounded steps: more than {STEPS_MAX} steps by {} ms; the cluster is stuck in \
                     a storm of events",
                    self.net.now
                ));
            }
        }
        Ok(())
    }

    /// Runs for `duration` more simulated milliseconds.
    pub(crate) fn run_for(&mut self, duration: u64) -> Result<(), String> {
        let until = self.net.now + duration;
        self.run_until(until)
    }

    pub(crate) fn now(&self) -> u64 {
        self.net.now
    }

    // ---- faults and their repair, used by the runner and the scenarios ----

    pub(crate) fn crash(&mut self, id: BrokerId) {
        self.trace
            .record(self.net.now, || format!("FAULT crash broker {id}"));
        self.brokers.get_mut(&id).expect("known broker").crash();
    }

    pub(crate) fn restart(&mut self, id: BrokerId) {
        self.trace
            .record(self.net.now, || format!("FAULT restart broker {id}"));
        let b = self.brokers.get_mut(&id).expect("known broker");
        b.restart(&mut self.net);
    }

    /// Cuts the link from `a` to `b`, and back if `both_ways`.
    pub(crate) fn cut(&mut self, a: Node, b: Node, both_ways: bool) {
        self.trace.record(self.net.now, || {
            format!(
                "FAULT cut {a:?} -> {b:?}{}",
                if both_ways { " and back" } else { "" }
            )
        });
        self.net.faults.cut.insert((a, b));
        if both_ways {
            self.net.faults.cut.insert((b, a));
        }
    }

    /// Cuts every link of `node`, both ways.
    pub(crate) fn isolate(&mut self, node: Node) {
        for other in self.nodes() {
            if other != node {
                self.cut(node, other, true);
            }
        }
    }

    pub(crate) fn heal_network(&mut self) {
        self.trace
            .record(self.net.now, || "FAULT heal the network".to_string());
        self.net.faults = Default::default();
    }

    pub(crate) fn nodes(&self) -> Vec<Node> {
        let mut nodes: Vec<Node> = self.brokers.keys().map(|&b| Node::Broker(b)).collect();
        nodes.push(Node::Controller);
        nodes.push(Node::Client);
        nodes
    }

    /// The controller's leader of `partition` if that broker is up and has taken the
    /// leadership in the controller's current epoch.
    pub(crate) fn established_leader(&self, partition: PartitionIndex) -> Option<&Broker> {
        let state = self.controller.partition(partition);
        let broker = self.brokers.get(&state.leader()?)?;
        let leader = broker.leader(partition)?;
        (leader.leader_epoch() == state.leader_epoch()).then_some(broker)
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Deliver(e) => format!("{:?} -> {:?}: {:?}", e.from, e.to, e.message),
        other => format!("{other:?}"),
    }
}
