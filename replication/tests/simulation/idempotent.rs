//! The simulated idempotent producer: one per partition, acks=all, at most five batches
//! unacknowledged, each batch numbered by its producer's sequence. A batch whose answer is
//! lost (a dropped or delayed message, a crashed leader) or refused with a retriable error is
//! sent again, the same records with the same sequences, to the leader the client knows then;
//! a new batch never waits for an old one's answer. What was acknowledged goes into the
//! history; that the log holds each record once and in send order is an invariant
//! (`invariants/idempotent_records_appear_once_in_send_order.rs`).
//!
//! Its records are numbered with [`IDEMPOTENT_RECORD`] set, in send order per partition, so
//! the invariant can tell them from the other producer's and check their order.

use std::collections::{BTreeMap, VecDeque};

use ringlog_format::producer::{BATCHES_KEPT, ProducerBatch};
use ringlog_replication::partition::Acks;
use ringlog_replication::{BrokerId, KafkaError, Offset};

use crate::network::{Network, Node};
use crate::world::{Acked, History, Message, PartitionIndex};

/// The bit that marks an idempotent producer's records.
pub(crate) const IDEMPOTENT_RECORD: u64 = 1 << 62;

/// A batch unanswered this long is sent again: past the leader's produce timeout and a
/// round trip, so its answer was lost.
const RETRY_MS: u64 = 2_000;
/// After a retriable refusal, the wait before sending again.
const BACKOFF_MS: u64 = 100;
/// A first unacknowledged batch refused this many times in a row as out of sequence (or from
/// an unknown producer), each time sent as the first, starts a new epoch.
const REFUSALS_TO_BUMP: u32 = 3;
/// The wait before sending again a first batch refused as out of sequence: time for a stale
/// leader to learn it was deposed.
const REFUSED_BACKOFF_MS: u64 = 500;

/// One batch sent and not acknowledged yet.
#[derive(Clone, Debug)]
struct Unacked {
    first_sequence: i32,
    records: Vec<u64>,
    /// When to send it (again).
    send_at: u64,
    /// How many times in a row, as the first unacknowledged batch, it was refused as out of
    /// sequence or from an unknown producer.
    refusals: u32,
}

/// One partition's producer.
#[derive(Clone, Debug)]
struct Producer {
    producer_id: i64,
    epoch: i16,
    next_sequence: i32,
    /// Oldest first.
    unacked: VecDeque<Unacked>,
}

/// What a request carried: which batch, and whether it was the first unacknowledged when sent.
#[derive(Clone, Copy, Debug)]
struct Sent {
    partition: PartitionIndex,
    epoch: i16,
    first_sequence: i32,
    as_first: bool,
}

/// The idempotent producers of every partition, and which request went for which batch.
pub(crate) struct IdempotentProducers {
    producers: Vec<Producer>,
    requests: BTreeMap<u64, Sent>,
    next_record: u64,
    /// Per mille of ticks that start a new batch (on a random partition).
    pub produce_per_mille: u32,
    /// Batches acknowledged, retries answered as duplicates included.
    pub acknowledged: u64,
    /// Epoch bumps after the leader did not know the producer or lost its batches.
    pub epoch_bumps: u64,
}

impl IdempotentProducers {
    pub(crate) fn new(partitions: usize) -> IdempotentProducers {
        IdempotentProducers {
            producers: (0..partitions)
                .map(|p| Producer {
                    producer_id: 1_000 + p as i64,
                    epoch: 0,
                    next_sequence: 0,
                    unacked: VecDeque::new(),
                })
                .collect(),
            requests: BTreeMap::new(),
            next_record: IDEMPOTENT_RECORD,
            produce_per_mille: 200,
            acknowledged: 0,
            epoch_bumps: 0,
        }
    }

    /// Whether every batch sent was acknowledged.
    pub(crate) fn idle(&self) -> bool {
        self.producers.iter().all(|p| p.unacked.is_empty())
    }

    /// Starts a new batch now and then (while `producing`), and sends every batch that is due
    /// to its partition's leader as `leader_of` knows it.
    pub(crate) fn on_tick(
        &mut self,
        net: &mut Network,
        producing: bool,
        next_request: &mut u64,
        leader_of: impl Fn(PartitionIndex) -> Option<BrokerId>,
    ) {
        if producing && net.chance(self.produce_per_mille) {
            let partition = net.range(0, self.producers.len() as u64 - 1) as usize;
            let producer = &mut self.producers[partition];
            if producer.unacked.len() < BATCHES_KEPT {
                let count = net.range(1, 3);
                let records: Vec<u64> = (self.next_record..self.next_record + count).collect();
                self.next_record += count;
                producer.unacked.push_back(Unacked {
                    first_sequence: producer.next_sequence,
                    records,
                    send_at: net.now,
                    refusals: 0,
                });
                producer.next_sequence += count as i32;
            }
        }
        for (partition, producer) in self.producers.iter_mut().enumerate() {
            let Some(leader) = leader_of(partition) else {
                continue;
            };
            let now = net.now;
            for (index, batch) in producer.unacked.iter_mut().enumerate() {
                if batch.send_at > now {
                    continue;
                }
                batch.send_at = now + RETRY_MS;
                let request = *next_request;
                *next_request += 1;
                let sent = Sent {
                    partition,
                    epoch: producer.epoch,
                    first_sequence: batch.first_sequence,
                    as_first: index == 0,
                };
                self.requests.insert(request, sent);
                let last_sequence = batch.first_sequence + batch.records.len() as i32 - 1;
                let produce = Message::Produce {
                    partition,
                    request,
                    acks: Acks::All,
                    records: batch.records.clone(),
                    producer: Some(ProducerBatch {
                        producer_id: producer.producer_id,
                        epoch: producer.epoch,
                        first_sequence: batch.first_sequence,
                        last_sequence,
                        max_timestamp: 0,
                    }),
                };
                net.send(Node::Client, Node::Broker(leader), produce);
            }
        }
    }

    /// The answer to `request`, if it carried one of these producers' batches: true if so.
    pub(crate) fn on_reply(
        &mut self,
        request: u64,
        result: Result<Offset, KafkaError>,
        now: u64,
        history: &mut History,
    ) -> bool {
        let Some(sent) = self.requests.remove(&request) else {
            return false;
        };
        let partition = sent.partition;
        let producer = &mut self.producers[partition];
        // An answer about an older epoch, or a batch acknowledged meanwhile, is stale.
        let Some(index) = producer
            .unacked
            .iter()
            .position(|b| b.first_sequence == sent.first_sequence)
            .filter(|_| sent.epoch == producer.epoch)
        else {
            return true;
        };
        match result {
            Ok(base) => {
                let batch = producer.unacked.remove(index).expect("found above");
                self.acknowledged += 1;
                history.acked.push(Acked {
                    partition,
                    base,
                    records: batch.records,
                    acks: Acks::All,
                });
            }
            // Appended before, its records deleted since: delivered, its offsets unknown.
            Err(KafkaError::DuplicateSequenceNumber) => {
                producer.unacked.remove(index);
                self.acknowledged += 1;
            }
            // The first unacknowledged batch refused as out of sequence, or from a producer
            // the leader does not know: the leader lost the batches before it (an unclean
            // election), or the producer with its deleted records (a follower that restarted
            // its log past them), or it is a stale view (a deposed leader, an answer the
            // network delayed past later ones, which Kafka's one ordered connection per broker
            // never sees). Only a refusal that persists, each time sent as the first, starts
            // a new epoch from sequence 0 with what is not acknowledged, as Kafka's producer
            // does (KIP-360); a refusal of a later batch only means an earlier one is still
            // missing, and it is sent again when due.
            Err(KafkaError::UnknownProducerId | KafkaError::OutOfOrderSequenceNumber)
                if index == 0 && sent.as_first =>
            {
                let batch = &mut producer.unacked[0];
                batch.refusals += 1;
                batch.send_at = batch.send_at.min(now + REFUSED_BACKOFF_MS);
                if batch.refusals >= REFUSALS_TO_BUMP {
                    producer.epoch += 1;
                    self.epoch_bumps += 1;
                    let mut sequence = 0;
                    for batch in &mut producer.unacked {
                        batch.first_sequence = sequence;
                        batch.send_at = now;
                        batch.refusals = 0;
                        sequence += batch.records.len() as i32;
                    }
                    producer.next_sequence = sequence;
                }
            }
            Err(_) => {
                let batch = &mut producer.unacked[index];
                batch.send_at = batch.send_at.min(now + BACKOFF_MS);
            }
        }
        true
    }
}
