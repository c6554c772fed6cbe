//! The simulated client: a producer that sends batches of new, unique records to partition
//! leaders with acks 0, 1 or all, an idempotent producer per partition that sends again what
//! was not acknowledged (`idempotent.rs`), now and then a DeleteRecords (up to the high
//! watermark, or to where its consumer has read), and one consumer per partition reading from
//! the leader (from the log start when its position was deleted). All learn leaders from the
//! controller's metadata. What they are told goes into [`History`].

use std::collections::BTreeMap;

use ringlog_replication::controller::Partition;
use ringlog_replication::partition::Acks;
use ringlog_replication::{KafkaError, Offset};

use crate::idempotent::IdempotentProducers;
use crate::network::{Envelope, Network, Node};
use crate::world::{Acked, Event, History, Message, PartitionIndex, SimConfig, timing};

/// A consumer fetch unanswered this long is sent again.
const CONSUMER_FETCH_TIMEOUT_MS: u64 = 300;

#[derive(Clone, Debug)]
struct InFlight {
    acks: Acks,
    records: Vec<u64>,
}

pub(crate) struct Client {
    /// Produce on its own at random (the random runs); scenarios produce by hand.
    pub producing: bool,
    /// Per mille of ticks that produce.
    pub produce_per_mille: u32,
    /// Per mille of ticks that send a DeleteRecords.
    pub delete_per_mille: u32,
    metadata: Vec<Option<Partition>>,
    next_request: u64,
    next_record: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// The answer to each produce request, for scenarios to look at.
    pub results: BTreeMap<u64, Result<Offset, KafkaError>>,
    /// The answer to each DeleteRecords (partition, low watermark or refusal), for scenarios.
    pub delete_results: BTreeMap<u64, (PartitionIndex, Result<Offset, KafkaError>)>,
    positions: Vec<Offset>,
    consumer_in_flight: Vec<Option<u64>>,
    next_metadata: u64,
    /// One idempotent producer per partition.
    pub idempotent: IdempotentProducers,
}

impl Client {
    pub(crate) fn new(config: &SimConfig) -> Client {
        Client {
            producing: true,
            produce_per_mille: 500,
            delete_per_mille: 3,
            metadata: vec![None; config.partitions],
            next_request: 0,
            next_record: 1,
            in_flight: BTreeMap::new(),
            results: BTreeMap::new(),
            delete_results: BTreeMap::new(),
            positions: vec![Offset::ZERO; config.partitions],
            consumer_in_flight: vec![None; config.partitions],
            next_metadata: 0,
            idempotent: IdempotentProducers::new(config.partitions),
        }
    }

    /// The leader of `partition` as this client last learned it.
    pub(crate) fn known_leader(
        &self,
        partition: PartitionIndex,
    ) -> Option<ringlog_replication::BrokerId> {
        self.metadata[partition]
            .as_ref()
            .and_then(Partition::leader)
    }

    /// Sends a batch of `count` new records to `partition`'s leader as the client knows it.
    /// Returns the request's id (its answer lands in `results`) and the records.
    pub(crate) fn produce(
        &mut self,
        net: &mut Network,
        partition: PartitionIndex,
        acks: Acks,
        count: u64,
    ) -> (u64, Vec<u64>) {
        let request = self.next_request;
        self.next_request += 1;
        let records: Vec<u64> = (self.next_record..self.next_record + count).collect();
        self.next_record += count;
        let leader = self.metadata[partition]
            .as_ref()
            .and_then(Partition::leader);
        if let Some(leader) = leader {
            self.in_flight.insert(
                request,
                InFlight {
                    acks,
                    records: records.clone(),
                },
            );
            let produce = Message::Produce {
                partition,
                request,
                acks,
                records: records.clone(),
                producer: None,
            };
            net.send(Node::Client, Node::Broker(leader), produce);
        } else {
            self.results
                .insert(request, Err(KafkaError::NotLeaderOrFollower));
        }
        (request, records)
    }

    /// Sends a DeleteRecords of `partition` up to `offset` (`None`: the high watermark) to its
    /// leader as the client knows it. Returns the request's id (its answer lands in
    /// `delete_results`).
    pub(crate) fn delete_records(
        &mut self,
        net: &mut Network,
        partition: PartitionIndex,
        offset: Option<Offset>,
    ) -> u64 {
        let request = self.next_request;
        self.next_request += 1;
        let Some(leader) = self.known_leader(partition) else {
            let refused = (partition, Err(KafkaError::NotLeaderOrFollower));
            self.delete_results.insert(request, refused);
            return request;
        };
        let delete = Message::DeleteRecords {
            partition,
            request,
            offset,
        };
        net.send(Node::Client, Node::Broker(leader), delete);
        request
    }

    pub(crate) fn on_tick(&mut self, net: &mut Network) {
        if net.now >= self.next_metadata {
            self.next_metadata = net.now + timing::METADATA_REFRESH_MS;
            net.send(Node::Client, Node::Controller, Message::MetadataRequest);
        }
        if self.producing && net.chance(self.produce_per_mille) {
            let partition = net.range(0, self.metadata.len() as u64 - 1) as usize;
            let acks = match net.range(0, 9) {
                0 => Acks::None,
                1..=3 => Acks::Leader,
                _ => Acks::All,
            };
            let count = net.range(1, 3);
            self.produce(net, partition, acks, count);
        }
        let metadata = &self.metadata;
        self.idempotent
            .on_tick(net, self.producing, &mut self.next_request, |partition| {
                metadata[partition].as_ref().and_then(Partition::leader)
            });
        if self.producing && net.chance(self.delete_per_mille) {
            let partition = net.range(0, self.metadata.len() as u64 - 1) as usize;
            // Up to the high watermark, or to what the consumer has read (which may be past
            // a new leader's high watermark: OFFSET_OUT_OF_RANGE).
            let offset = (net.range(0, 1) == 0).then_some(self.positions[partition]);
            self.delete_records(net, partition, offset);
        }
        for partition in 0..self.positions.len() {
            let waiting = self.consumer_in_flight[partition]
                .is_some_and(|since| net.now < since + CONSUMER_FETCH_TIMEOUT_MS);
            let leader = self.metadata[partition]
                .as_ref()
                .and_then(Partition::leader);
            if let (false, Some(leader)) = (waiting, leader) {
                self.consumer_in_flight[partition] = Some(net.now);
                let fetch = Message::ConsumerFetch {
                    partition,
                    offset: self.positions[partition],
                };
                net.send(Node::Client, Node::Broker(leader), fetch);
            }
        }
        net.schedule(net.now + timing::CLIENT_TICK_MS, Event::ClientTick);
    }

    pub(crate) fn on_message(
        &mut self,
        envelope: Envelope,
        net: &mut Network,
        history: &mut History,
    ) {
        match envelope.message {
            Message::PartitionStates { states, .. } => {
                for (partition, state) in states {
                    let known = &mut self.metadata[partition];
                    let newer = known
                        .as_ref()
                        .is_none_or(|k| state.partition_epoch() > k.partition_epoch());
                    if newer {
                        *known = Some(state);
                    }
                }
            }
            Message::ProduceReply {
                partition,
                request,
                result,
            } => {
                let Some(produce) = self.in_flight.remove(&request) else {
                    // The idempotent producers', or a duplicated answer.
                    self.idempotent.on_reply(request, result, net.now, history);
                    return;
                };
                if let Ok(base) = result {
                    history.acked.push(Acked {
                        partition,
                        base,
                        records: produce.records,
                        acks: produce.acks,
                    });
                }
                self.results.insert(request, result);
            }
            Message::DeleteRecordsReply {
                partition,
                request,
                result,
            } => {
                // The history has what leaders answered from the moment they did; this is
                // what the client learned, for scenarios.
                self.delete_results.insert(request, (partition, result));
            }
            Message::ConsumerFetchReply {
                partition,
                offset,
                result,
                log_start_offset,
            } => {
                if offset != self.positions[partition] {
                    return; // a late or duplicated answer
                }
                self.consumer_in_flight[partition] = None;
                match result {
                    Ok(records) => {
                        for (offset, record) in records {
                            assert_eq!(
                                offset, self.positions[partition],
                                "consumer of partition {partition} skipped an offset"
                            );
                            history.consumed[partition].insert(offset, record);
                            self.positions[partition] = Offset(offset.0 + 1);
                        }
                    }
                    Err(KafkaError::OffsetOutOfRange) => {
                        let position = &mut self.positions[partition];
                        *position = (*position).max(log_start_offset);
                    }
                    Err(_) => self.next_metadata = net.now,
                }
            }
            other => panic!("client got {other:?}"),
        }
    }
}
