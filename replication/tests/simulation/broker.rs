//! A simulated broker: one [`Replica`] and one model log per partition, carrying out the
//! replicas' intents against the model disk and network the way the real broker will against
//! the engine and sockets. It long-polls follower fetches, writes a leader's appends with a
//! disk latency (the append completes once durable), and loses its unflushed tail and all its
//! memory when it crashes. It applies a partition's new state only once the partition's
//! appends in flight have completed: a replica taking a role reads the log's end, and an end
//! that includes writes not yet durable would let a new leader's high watermark cover records a
//! crash can still take (the broker of the cluster issue must keep the same order).

use std::collections::BTreeMap;
use std::time::Duration;

use ringlog_replication::controller::IsrProposal;
use ringlog_replication::partition::{
    Acks, FetchResponse, FollowerConfig, FollowerFetchAnswer, FollowerOutput, Leader, LeaderConfig,
    LeaderOutput, ProduceId, Replica, ReplicaInput, ReplicaOutput,
};
use ringlog_replication::{BrokerId, KafkaError, Millis, Offset};

use crate::disk::{ModelBatch, ModelLog};
use crate::network::{Envelope, Network, Node};
use crate::world::{
    AcksAllAnswer, Event, FetchTag, History, Message, PartitionIndex, SimConfig, timing,
};

/// How many batches one fetch response carries at most.
const FETCH_BATCHES_MAX: usize = 8;
/// How many records one consumer fetch returns at most.
const CONSUMER_RECORDS_MAX: usize = 32;

/// A produce the broker is working on.
#[derive(Clone, Debug)]
struct InFlightProduce {
    request: u64,
    acks: Acks,
    records: Vec<u64>,
    base: Option<Offset>,
}

/// A follower fetch waiting for data (long poll).
#[derive(Clone, Debug)]
struct ParkedFetch {
    follower: BrokerId,
    partition: PartitionIndex,
    fetch_id: FetchTag,
    fetch_offset: Offset,
    deadline: u64,
}

/// What an intent may need from the input that caused it.
#[derive(Default)]
struct Cause<'a> {
    /// The fetch being answered.
    fetch: Option<(BrokerId, FetchTag)>,
    /// The batches of the fetch response being handled.
    batches: &'a [ModelBatch],
}

pub struct Broker {
    pub id: BrokerId,
    pub up: bool,
    /// Bumped at every crash: events of an earlier life are ignored.
    pub incarnation: u64,
    /// Paused (SIGSTOP) until then: its events wait.
    pub frozen_until: u64,
    /// Its clock's offset from the simulation's.
    pub skew: i64,
    pub logs: Vec<ModelLog>,
    replicas: Vec<Replica>,
    produces: BTreeMap<ProduceId, InFlightProduce>,
    parked: Vec<ParkedFetch>,
    /// Per partition: appends written and not yet durable.
    appending: Vec<usize>,
    /// Per partition: the newest state that arrived while appends were in flight.
    deferred_states: Vec<Option<ringlog_replication::controller::Partition>>,
    next_produce: u64,
    disk_free_at: u64,
    next_heartbeat: u64,
    leader_config: LeaderConfig,
    follower_config: FollowerConfig,
}

impl Broker {
    pub fn new(id: BrokerId, config: &SimConfig) -> Broker {
        let leader_config = LeaderConfig {
            replica_lag_time_max: Duration::from_millis(timing::REPLICA_LAG_TIME_MAX_MS),
            min_insync_replicas: usize::from(config.min_insync_replicas),
            isr_proposal_timeout: Duration::from_millis(timing::ISR_PROPOSAL_TIMEOUT_MS),
        };
        let follower_config = FollowerConfig {
            fetch_timeout: Duration::from_millis(timing::FETCH_TIMEOUT_MS),
            fetch_backoff: Duration::from_millis(timing::FETCH_BACKOFF_MS),
            test_only_truncate_to_high_watermark: config.broken_truncation,
        };
        let logs = vec![ModelLog::default(); config.partitions];
        let appending = vec![0; config.partitions];
        let deferred_states = vec![None; config.partitions];
        let mut broker = Broker {
            id,
            up: true,
            incarnation: 0,
            frozen_until: 0,
            skew: 0,
            logs,
            replicas: Vec::new(),
            produces: BTreeMap::new(),
            parked: Vec::new(),
            appending,
            deferred_states,
            next_produce: 0,
            disk_free_at: 0,
            next_heartbeat: 0,
            leader_config,
            follower_config,
        };
        broker.start_replicas();
        broker
    }

    fn start_replicas(&mut self) {
        self.replicas = self
            .logs
            .iter()
            .map(|log| {
                Replica::new(
                    self.id,
                    self.leader_config.clone(),
                    self.follower_config.clone(),
                    log.state(),
                )
            })
            .collect();
    }

    pub fn leader(&self, partition: PartitionIndex) -> Option<&Leader> {
        if !self.up {
            return None;
        }
        self.replicas.get(partition)?.as_leader()
    }

    pub fn replica(&self, partition: PartitionIndex) -> Option<&Replica> {
        if !self.up {
            return None;
        }
        self.replicas.get(partition)
    }

    pub fn pending_produces(&self) -> usize {
        self.produces.len()
    }

    fn clock(&self, net: &Network) -> Millis {
        let now = i64::try_from(net.now).expect("simulated time fits") + self.skew;
        Millis(u64::try_from(now).unwrap_or(0))
    }

    fn node(&self) -> Node {
        Node::Broker(self.id)
    }

    pub fn crash(&mut self) {
        self.up = false;
        self.incarnation += 1;
        for log in &mut self.logs {
            log.crash();
        }
        self.replicas.clear();
        self.produces.clear();
        self.parked.clear();
        self.appending.iter_mut().for_each(|n| *n = 0);
        self.deferred_states.iter_mut().for_each(|s| *s = None);
    }

    pub fn restart(&mut self, net: &mut Network) {
        if self.up {
            return;
        }
        self.up = true;
        self.frozen_until = 0;
        self.start_replicas();
        self.next_heartbeat = net.now;
        net.schedule(
            net.now,
            Event::BrokerTick {
                broker: self.id,
                incarnation: self.incarnation,
            },
        );
    }

    pub fn on_tick(&mut self, incarnation: u64, net: &mut Network, history: &mut History) {
        if !self.up || incarnation != self.incarnation {
            return;
        }
        let now = self.clock(net);
        for partition in 0..self.replicas.len() {
            let outputs = self.replicas[partition].step(ReplicaInput::Tick { now });
            self.execute(partition, outputs, &Cause::default(), net, history);
        }
        self.answer_parked(net, |parked, now| parked.deadline <= now);
        if net.now >= self.next_heartbeat {
            self.next_heartbeat = net.now + timing::HEARTBEAT_MS;
            let heartbeat = Message::Heartbeat {
                incarnation: self.incarnation,
            };
            net.send(self.node(), Node::Controller, heartbeat);
        }
        net.schedule(
            net.now + timing::BROKER_TICK_MS,
            Event::BrokerTick {
                broker: self.id,
                incarnation,
            },
        );
    }

    pub fn on_append_durable(
        &mut self,
        incarnation: u64,
        partition: PartitionIndex,
        produce: ProduceId,
        end: Offset,
        net: &mut Network,
        history: &mut History,
    ) {
        if !self.up || incarnation != self.incarnation {
            return;
        }
        let log = &mut self.logs[partition];
        log.durable_end = log.durable_end.max(end.min(log.end()));
        self.appending[partition] -= 1;
        if self
            .produces
            .get(&produce)
            .is_some_and(|p| p.acks == Acks::None)
        {
            self.produces.remove(&produce);
        }
        let input = ReplicaInput::Appended {
            id: produce,
            log_end_offset: end,
        };
        let outputs = self.replicas[partition].step(input);
        self.execute(partition, outputs, &Cause::default(), net, history);
        self.answer_parked(net, |_, _| false);
        if self.appending[partition] == 0
            && let Some(state) = self.deferred_states[partition].take()
        {
            self.apply_state(partition, state, net, history);
        }
    }

    /// Applies the controller's state of `partition`, or keeps it until the partition's appends
    /// in flight are durable.
    fn apply_state(
        &mut self,
        partition: PartitionIndex,
        state: ringlog_replication::controller::Partition,
        net: &mut Network,
        history: &mut History,
    ) {
        if self.appending[partition] > 0 {
            let newer = self.deferred_states[partition]
                .as_ref()
                .is_none_or(|d| state.partition_epoch() > d.partition_epoch());
            if newer {
                self.deferred_states[partition] = Some(state);
            }
            return;
        }
        let input = ReplicaInput::PartitionChanged {
            partition: state,
            log: self.logs[partition].state(),
            now: self.clock(net),
        };
        let outputs = self.replicas[partition].step(input);
        self.execute(partition, outputs, &Cause::default(), net, history);
        if self.replicas[partition].as_leader().is_none() {
            self.parked.retain(|p| p.partition != partition);
        }
    }

    pub fn on_message(&mut self, envelope: Envelope, net: &mut Network, history: &mut History) {
        if !self.up {
            return;
        }
        let now = self.clock(net);
        match envelope.message {
            Message::Fetch {
                partition,
                fetch_id,
                request,
            } => {
                let Node::Broker(follower) = envelope.from else {
                    return;
                };
                let input = ReplicaInput::FollowerFetch {
                    replica: follower,
                    request,
                    now,
                };
                let outputs = self.replicas[partition].step(input);
                let cause = Cause {
                    fetch: Some((follower, fetch_id)),
                    ..Cause::default()
                };
                self.execute(partition, outputs, &cause, net, history);
            }
            Message::FetchReply {
                partition,
                fetch_id: (incarnation, fetch_id),
                response,
                batches,
            } => {
                if incarnation != self.incarnation {
                    return;
                }
                let input = ReplicaInput::FetchResponse {
                    fetch_id,
                    response,
                    now,
                };
                let outputs = self.replicas[partition].step(input);
                let cause = Cause {
                    batches: &batches,
                    ..Cause::default()
                };
                self.execute(partition, outputs, &cause, net, history);
            }
            Message::PartitionStates {
                incarnation,
                states,
            } => {
                if incarnation != Some(self.incarnation) {
                    return;
                }
                for (partition, state) in states {
                    self.apply_state(partition, state, net, history);
                }
            }
            Message::AlterIsrRefused {
                incarnation,
                partition,
            } => {
                if incarnation != self.incarnation {
                    return;
                }
                let outputs = self.replicas[partition].step(ReplicaInput::IsrRejected);
                self.execute(partition, outputs, &Cause::default(), net, history);
            }
            Message::Produce {
                partition,
                request,
                acks,
                records,
            } => {
                let id = ProduceId(self.next_produce);
                self.next_produce += 1;
                let produce = InFlightProduce {
                    request,
                    acks,
                    records,
                    base: None,
                };
                self.produces.insert(id, produce);
                let input = ReplicaInput::Produce {
                    id,
                    acks,
                    timeout: Duration::from_millis(timing::PRODUCE_TIMEOUT_MS),
                    now,
                };
                let outputs = self.replicas[partition].step(input);
                self.execute(partition, outputs, &Cause::default(), net, history);
            }
            Message::ConsumerFetch { partition, offset } => {
                let result = self.consume(partition, offset);
                let reply = Message::ConsumerFetchReply {
                    partition,
                    offset,
                    result,
                };
                net.send(self.node(), envelope.from, reply);
            }
            other => panic!("broker {} got {other:?}", self.id),
        }
    }

    /// A consumer reads below the high watermark, from the leader only.
    fn consume(
        &self,
        partition: PartitionIndex,
        offset: Offset,
    ) -> Result<Vec<(Offset, u64)>, KafkaError> {
        let leader = self.replicas[partition]
            .as_leader()
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        let high_watermark = leader.high_watermark();
        Ok(self.logs[partition]
            .records()
            .skip_while(|(o, _)| *o < offset)
            .take_while(|(o, _)| *o < high_watermark)
            .take(CONSUMER_RECORDS_MAX)
            .collect())
    }

    fn execute(
        &mut self,
        partition: PartitionIndex,
        outputs: Vec<ReplicaOutput>,
        cause: &Cause<'_>,
        net: &mut Network,
        history: &mut History,
    ) {
        for output in outputs {
            match output {
                ReplicaOutput::Leader(output) => {
                    self.execute_leader(partition, output, cause, net, history)
                }
                ReplicaOutput::Follower(output) => {
                    self.execute_follower(partition, output, cause, net)
                }
            }
        }
    }

    fn execute_leader(
        &mut self,
        partition: PartitionIndex,
        output: LeaderOutput,
        cause: &Cause<'_>,
        net: &mut Network,
        history: &mut History,
    ) {
        match output {
            LeaderOutput::Append { id, leader_epoch } => {
                let produce = self
                    .produces
                    .get_mut(&id)
                    .expect("appending a known produce");
                let log = &mut self.logs[partition];
                let base = log.end();
                let batch = ModelBatch {
                    base,
                    epoch: leader_epoch,
                    records: produce.records.clone(),
                };
                let end = batch.end();
                log.append(batch, false);
                self.appending[partition] += 1;
                produce.base = Some(base);
                let latency = net.range(1, timing::DISK_LATENCY_MAX_MS);
                self.disk_free_at = self.disk_free_at.max(net.now) + latency;
                net.schedule(
                    self.disk_free_at,
                    Event::AppendDurable {
                        broker: self.id,
                        incarnation: self.incarnation,
                        partition,
                        produce: id,
                        end,
                    },
                );
            }
            LeaderOutput::Answer { id, result } => {
                self.answer_produce(partition, id, result, net, history)
            }
            LeaderOutput::ProposeIsr {
                isr,
                leader_epoch,
                partition_epoch,
            } => {
                let proposal = IsrProposal {
                    leader: self.id,
                    leader_epoch,
                    partition_epoch,
                    new_isr: isr,
                };
                net.send(
                    self.node(),
                    Node::Controller,
                    Message::AlterIsr {
                        partition,
                        proposal,
                    },
                );
            }
            LeaderOutput::HighWatermark(high_watermark) => {
                self.logs[partition].high_watermark = high_watermark;
                self.answer_parked(net, |_, _| false);
            }
            LeaderOutput::FetchAnswer { replica, answer } => {
                let (follower, fetch_id) = cause.fetch.expect("a fetch answer answers a fetch");
                debug_assert_eq!(follower, replica);
                match answer {
                    FollowerFetchAnswer::Records { fetch_offset, .. } => {
                        let parked = ParkedFetch {
                            follower,
                            partition,
                            fetch_id,
                            fetch_offset,
                            deadline: net.now + timing::FETCH_WAIT_MAX_MS,
                        };
                        self.parked.push(parked);
                        self.answer_parked(net, |_, _| false);
                    }
                    FollowerFetchAnswer::Diverging {
                        diverging,
                        high_watermark,
                    } => {
                        let response = FetchResponse::Diverging {
                            diverging,
                            high_watermark,
                        };
                        self.reply_fetch(follower, partition, fetch_id, response, Vec::new(), net);
                    }
                    FollowerFetchAnswer::Refused(error) => {
                        let response = FetchResponse::Refused(error);
                        self.reply_fetch(follower, partition, fetch_id, response, Vec::new(), net);
                    }
                }
            }
        }
    }

    fn answer_produce(
        &mut self,
        partition: PartitionIndex,
        id: ProduceId,
        result: Result<Option<Offset>, ringlog_replication::partition::ProduceError>,
        net: &mut Network,
        history: &mut History,
    ) {
        let Some(produce) = self.produces.get(&id) else {
            return;
        };
        if produce.acks == Acks::None {
            // acks=0 gets no answer. An accepted one stays until its append is durable.
            if result.is_err() {
                self.produces.remove(&id);
            }
            return;
        }
        let produce = self.produces.remove(&id).expect("present");
        let result = match result {
            Ok(_) => {
                let base = produce.base.expect("answered after its append");
                if produce.acks == Acks::All {
                    let leader = self.replicas[partition]
                        .as_leader()
                        .expect("a leader answered");
                    history.acks_all_answers.push(AcksAllAnswer {
                        leader: self.id,
                        partition,
                        base,
                        records: produce.records.clone(),
                        isr_len: leader.isr().len(),
                    });
                }
                Ok(base)
            }
            Err(error) => Err(error.kafka_error()),
        };
        let reply = Message::ProduceReply {
            partition,
            request: produce.request,
            result,
        };
        net.send(self.node(), Node::Client, reply);
    }

    fn execute_follower(
        &mut self,
        partition: PartitionIndex,
        output: FollowerOutput,
        cause: &Cause<'_>,
        net: &mut Network,
    ) {
        let log = &mut self.logs[partition];
        match output {
            FollowerOutput::SendFetch {
                fetch_id,
                leader,
                request,
            } => {
                let fetch = Message::Fetch {
                    partition,
                    fetch_id: (self.incarnation, fetch_id),
                    request,
                };
                net.send(self.node(), Node::Broker(leader), fetch);
            }
            FollowerOutput::AppendReplicated {
                base_offset,
                end_offset,
            } => {
                for batch in cause.batches {
                    if batch.base >= base_offset && batch.end() <= end_offset {
                        log.append(batch.clone(), true);
                    }
                }
                assert_eq!(
                    log.end(),
                    end_offset,
                    "the follower appended what it was told"
                );
            }
            FollowerOutput::Truncate { end_offset } => log.truncate(end_offset),
            FollowerOutput::TruncateFullyAndStartAt { offset } => {
                assert_eq!(offset, Offset::ZERO, "simulated logs always start at 0");
                log.truncate_fully();
            }
            FollowerOutput::HighWatermark(high_watermark) => log.high_watermark = high_watermark,
        }
    }

    /// Answers the parked fetches that have data to send or for which `expired` holds.
    fn answer_parked(&mut self, net: &mut Network, expired: impl Fn(&ParkedFetch, u64) -> bool) {
        let parked = std::mem::take(&mut self.parked);
        for fetch in parked {
            let Some(leader) = self.replicas[fetch.partition].as_leader() else {
                continue;
            };
            let log = &self.logs[fetch.partition];
            let batches = log.read(
                fetch.fetch_offset,
                leader.log_end_offset(),
                FETCH_BATCHES_MAX,
            );
            if batches.is_empty() && !expired(&fetch, net.now) {
                self.parked.push(fetch);
                continue;
            }
            let response = FetchResponse::Records {
                batches: batches.iter().map(ModelBatch::meta).collect(),
                high_watermark: leader.high_watermark(),
            };
            self.reply_fetch(
                fetch.follower,
                fetch.partition,
                fetch.fetch_id,
                response,
                batches,
                net,
            );
        }
    }

    fn reply_fetch(
        &self,
        follower: BrokerId,
        partition: PartitionIndex,
        fetch_id: FetchTag,
        response: FetchResponse,
        batches: Vec<ModelBatch>,
        net: &mut Network,
    ) {
        let reply = Message::FetchReply {
            partition,
            fetch_id,
            response,
            batches,
        };
        net.send(self.node(), Node::Broker(follower), reply);
    }
}
