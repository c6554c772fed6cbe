//! A simulated broker: one [`PartitionDriver`] per partition, the same driver the real broker
//! runs, over a model log ([`ModelLog`] implements the driver's log). It long-polls follower
//! fetches, writes a leader's appends with a disk latency (an append completes once durable),
//! and loses its unflushed tail and all its memory when it crashes. It answers consumers and
//! DeleteRecords from the client as the broker does: reads below the log start are refused
//! OFFSET_OUT_OF_RANGE, and a delete is answered when the driver says so. The driver keeps a new
//! state of a partition back while that partition's appends are pending, as it does in the
//! broker: this simulator is where that order is proved.

use std::time::Duration;

use ringlog_replication::controller::{IsrProposal, Partition};
use ringlog_replication::driver::{Effects, PartitionDriver, ProduceOutcome};
use ringlog_replication::partition::{
    Acks, FetchResponse, FollowerConfig, FollowerFetchAnswer, Leader, LeaderConfig, ProduceId,
    Replica,
};
use ringlog_replication::{BrokerId, KafkaError, LeaderEpoch, Millis, Offset, TopicPartition};

use crate::disk::{ModelBatch, ModelLog};
use crate::network::{Envelope, Network, Node};
use crate::world::{
    AcksAllAnswer, Deletion, Event, FetchTag, History, Message, PartitionIndex, SimConfig, timing,
};

/// How many batches one fetch response carries at most.
const FETCH_BATCHES_MAX: usize = 8;
/// How many records one consumer fetch returns at most.
const CONSUMER_RECORDS_MAX: usize = 32;

/// Where a produce's answer goes, and what the history needs of it.
#[derive(Clone, Debug)]
struct ProduceReply {
    request: u64,
    acks: Acks,
    records: Vec<u64>,
}

/// Where a driver's answer goes: a produce's or a DeleteRecords' (its request id).
#[derive(Clone, Debug)]
enum Reply {
    Produce(ProduceReply),
    Delete(u64),
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

type Driver = PartitionDriver<ModelLog, Reply>;

pub(crate) struct Broker {
    pub id: BrokerId,
    pub up: bool,
    /// Bumped at every crash: events of an earlier life are ignored.
    pub incarnation: u64,
    /// Paused (SIGSTOP) until then: its events wait.
    pub frozen_until: u64,
    /// Its clock's offset from the simulation's.
    pub skew: i64,
    /// One driver per partition while up.
    drivers: Vec<Driver>,
    /// The logs while down: what the crash left.
    logs_down: Vec<ModelLog>,
    parked: Vec<ParkedFetch>,
    disk_free_at: u64,
    next_heartbeat: u64,
    leader_config: LeaderConfig,
    follower_config: FollowerConfig,
    broken_driver: bool,
}

impl Broker {
    pub(crate) fn new(id: BrokerId, config: &SimConfig) -> Broker {
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
        let mut broker = Broker {
            id,
            up: true,
            incarnation: 0,
            frozen_until: 0,
            skew: 0,
            drivers: Vec::new(),
            logs_down: vec![
                ModelLog {
                    test_only_forget_producers: config.broken_idempotence,
                    ..ModelLog::default()
                };
                config.partitions
            ],
            parked: Vec::new(),
            disk_free_at: 0,
            next_heartbeat: 0,
            leader_config,
            follower_config,
            broken_driver: config.broken_driver,
        };
        broker.start_drivers();
        broker
    }

    fn start_drivers(&mut self) {
        let logs = std::mem::take(&mut self.logs_down);
        self.drivers = logs
            .into_iter()
            .enumerate()
            .map(|(partition, log)| {
                let topic_partition = TopicPartition::new("sim", partition as u32);
                let mut driver = PartitionDriver::new(
                    self.id,
                    topic_partition,
                    log,
                    self.leader_config.clone(),
                    self.follower_config.clone(),
                );
                if self.broken_driver {
                    driver.test_only_apply_state_during_appends();
                }
                driver
            })
            .collect();
    }

    /// The partition's log, up or down.
    pub(crate) fn log(&self, partition: PartitionIndex) -> &ModelLog {
        if self.up {
            self.drivers[partition].log()
        } else {
            &self.logs_down[partition]
        }
    }

    pub(crate) fn leader(&self, partition: PartitionIndex) -> Option<&Leader> {
        self.replica(partition)?.as_leader()
    }

    pub(crate) fn replica(&self, partition: PartitionIndex) -> Option<&Replica> {
        if !self.up {
            return None;
        }
        self.drivers.get(partition).map(Driver::replica)
    }

    /// Produces and DeleteRecords not answered yet, and leader appends not durable yet.
    pub(crate) fn pending_produces(&self) -> usize {
        self.drivers
            .iter()
            .map(|driver| {
                let (waiting, appending) = driver.in_flight();
                waiting + appending + driver.deletes_waiting()
            })
            .sum()
    }

    fn clock(&self, net: &Network) -> Millis {
        let now = i64::try_from(net.now).expect("simulated time fits") + self.skew;
        Millis(u64::try_from(now).unwrap_or(0))
    }

    fn node(&self) -> Node {
        Node::Broker(self.id)
    }

    pub(crate) fn crash(&mut self) {
        self.up = false;
        self.incarnation += 1;
        self.logs_down = std::mem::take(&mut self.drivers)
            .into_iter()
            .map(|driver| {
                let mut log = driver.into_log();
                log.crash();
                log
            })
            .collect();
        self.parked.clear();
    }

    pub(crate) fn restart(&mut self, net: &mut Network) {
        if self.up {
            return;
        }
        self.up = true;
        self.frozen_until = 0;
        self.start_drivers();
        self.next_heartbeat = net.now;
        net.schedule(
            net.now,
            Event::BrokerTick {
                broker: self.id,
                incarnation: self.incarnation,
            },
        );
    }

    pub(crate) fn on_tick(&mut self, incarnation: u64, net: &mut Network, history: &mut History) {
        if !self.up || incarnation != self.incarnation {
            return;
        }
        let now = self.clock(net);
        for partition in 0..self.drivers.len() {
            let effects = self.drivers[partition].tick(now);
            self.handle(partition, effects, None, net, history);
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

    pub(crate) fn on_append_durable(
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
        let now = self.clock(net);
        let driver = &mut self.drivers[partition];
        driver.log_mut().make_durable(end);
        let effects = driver.append_completed(produce, end, now);
        self.handle(partition, effects, None, net, history);
    }

    /// Applies the controller's state of `partition` (the driver keeps it back while the
    /// partition's appends are pending).
    fn apply_state(
        &mut self,
        partition: PartitionIndex,
        state: Partition,
        net: &mut Network,
        history: &mut History,
    ) {
        let now = self.clock(net);
        let effects = self.drivers[partition].apply_state(state, now);
        self.handle(partition, effects, None, net, history);
    }

    pub(crate) fn on_message(
        &mut self,
        envelope: Envelope,
        net: &mut Network,
        history: &mut History,
    ) {
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
                let effects = self.drivers[partition].follower_fetch(follower, request, now);
                self.handle(partition, effects, Some((follower, fetch_id)), net, history);
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
                let effects =
                    self.drivers[partition].fetch_response(fetch_id, response, batches, now);
                self.handle(partition, effects, None, net, history);
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
                let effects = self.drivers[partition].isr_rejected();
                self.handle(partition, effects, None, net, history);
            }
            Message::Produce {
                partition,
                request,
                acks,
                records,
                producer,
            } => {
                // As a producer sends it: one batch, offsets and epoch for the leader to stamp.
                let batch = ModelBatch {
                    base: Offset::ZERO,
                    epoch: LeaderEpoch(0),
                    records: records.clone(),
                    producer,
                };
                let reply = Reply::Produce(ProduceReply {
                    request,
                    acks,
                    records,
                });
                let timeout = Duration::from_millis(timing::PRODUCE_TIMEOUT_MS);
                let effects =
                    self.drivers[partition].produce(vec![batch], acks, timeout, now, reply);
                self.handle(partition, effects, None, net, history);
            }
            Message::ConsumerFetch { partition, offset } => {
                let result = self.consume(partition, offset);
                let reply = Message::ConsumerFetchReply {
                    partition,
                    offset,
                    result,
                    log_start_offset: self.drivers[partition].log().start,
                };
                net.send(self.node(), envelope.from, reply);
            }
            Message::DeleteRecords {
                partition,
                request,
                offset,
            } => {
                let timeout = Duration::from_millis(timing::PRODUCE_TIMEOUT_MS);
                let reply = Reply::Delete(request);
                let effects = self.drivers[partition].delete_records(offset, timeout, now, reply);
                self.handle(partition, effects, None, net, history);
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
        let driver = &self.drivers[partition];
        let end = driver.consumer_read_end(None)?;
        if offset < driver.log().start {
            return Err(KafkaError::OffsetOutOfRange);
        }
        Ok(driver
            .log()
            .records()
            .skip_while(|(o, _)| *o < offset)
            .take_while(|(o, _)| *o < end)
            .take(CONSUMER_RECORDS_MAX)
            .collect())
    }

    /// Carries out what a driver step left to the host: answers, the answer to the fetch being
    /// handled (`fetch`), fetches and proposals to send, appends to complete, long polls.
    fn handle(
        &mut self,
        partition: PartitionIndex,
        effects: Effects<Reply>,
        fetch: Option<(BrokerId, FetchTag)>,
        net: &mut Network,
        history: &mut History,
    ) {
        let Effects {
            answers,
            delete_answers,
            fetch_answer,
            send_fetches,
            isr_proposals,
            progressed,
            truncated: _,
            appends_pending,
        } = effects;
        for (produce, end) in appends_pending {
            let latency = net.range(1, timing::DISK_LATENCY_MAX_MS);
            self.disk_free_at = self.disk_free_at.max(net.now) + latency;
            net.schedule(
                self.disk_free_at,
                Event::AppendDurable {
                    broker: self.id,
                    incarnation: self.incarnation,
                    partition,
                    produce,
                    end,
                },
            );
        }
        for (reply, outcome) in answers {
            let Reply::Produce(produce) = reply else {
                unreachable!("a produce answer goes to a produce");
            };
            self.answer_produce(partition, produce, outcome, net, history);
        }
        for (reply, outcome) in delete_answers {
            let Reply::Delete(request) = reply else {
                unreachable!("a delete answer goes to a delete");
            };
            if let Ok(low_watermark) = outcome {
                history.deletions.push(Deletion {
                    leader: self.id,
                    partition,
                    low_watermark,
                });
            }
            let reply = Message::DeleteRecordsReply {
                partition,
                request,
                result: outcome.map_err(|refusal| refusal.error),
            };
            net.send(self.node(), Node::Client, reply);
        }
        for (fetch_id, leader, request) in send_fetches {
            let fetch = Message::Fetch {
                partition,
                fetch_id: (self.incarnation, fetch_id),
                request,
            };
            net.send(self.node(), Node::Broker(leader), fetch);
        }
        for proposal in isr_proposals {
            self.propose_isr(partition, proposal, net);
        }
        if let Some(answer) = fetch_answer {
            let (follower, fetch_id) = fetch.expect("a fetch answer answers a fetch");
            self.answer_fetch(partition, follower, fetch_id, answer, net);
        }
        if !self.drivers[partition].is_leader() {
            self.parked.retain(|p| p.partition != partition);
        }
        if progressed {
            self.answer_parked(net, |_, _| false);
        }
    }

    fn propose_isr(&self, partition: PartitionIndex, proposal: IsrProposal, net: &mut Network) {
        net.send(
            self.node(),
            Node::Controller,
            Message::AlterIsr {
                partition,
                proposal,
            },
        );
    }

    fn answer_fetch(
        &mut self,
        partition: PartitionIndex,
        follower: BrokerId,
        fetch_id: FetchTag,
        answer: FollowerFetchAnswer,
        net: &mut Network,
    ) {
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

    fn answer_produce(
        &mut self,
        partition: PartitionIndex,
        produce: ProduceReply,
        outcome: ProduceOutcome,
        net: &mut Network,
        history: &mut History,
    ) {
        if produce.acks == Acks::None {
            // acks=0 gets no answer.
            return;
        }
        let result = match outcome {
            ProduceOutcome::Appended {
                base_offset,
                isr_len,
                ..
            } => {
                let base = base_offset.expect("answered after its append");
                if produce.acks == Acks::All {
                    history.acks_all_answers.push(AcksAllAnswer {
                        leader: self.id,
                        partition,
                        base,
                        records: produce.records.clone(),
                        isr_len,
                    });
                }
                Ok(base)
            }
            ProduceOutcome::Refused(refusal) => Err(refusal.error),
        };
        let reply = Message::ProduceReply {
            partition,
            request: produce.request,
            result,
        };
        net.send(self.node(), Node::Client, reply);
    }

    /// Answers the parked fetches that have data to send or for which `expired` holds.
    fn answer_parked(&mut self, net: &mut Network, expired: impl Fn(&ParkedFetch, u64) -> bool) {
        let parked = std::mem::take(&mut self.parked);
        for fetch in parked {
            let driver = &self.drivers[fetch.partition];
            let Ok(end) = driver.follower_read_end() else {
                continue;
            };
            let log = driver.log();
            if fetch.fetch_offset < log.start {
                // The engine's read refuses it; the broker answers OFFSET_OUT_OF_RANGE with
                // where the log starts.
                let response = FetchResponse::OffsetOutOfRange {
                    log_start_offset: log.start,
                };
                let (follower, partition, fetch_id) =
                    (fetch.follower, fetch.partition, fetch.fetch_id);
                self.reply_fetch(follower, partition, fetch_id, response, Vec::new(), net);
                continue;
            }
            let batches = log.read(fetch.fetch_offset, end, FETCH_BATCHES_MAX);
            if batches.is_empty() && !expired(&fetch, net.now) {
                self.parked.push(fetch);
                continue;
            }
            let response = FetchResponse::Records {
                batches: batches.iter().map(ModelBatch::meta).collect(),
                high_watermark: driver.high_watermark(),
                log_start_offset: log.start,
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
