//! The producer's unsent records: per partition, a queue of batches, the last one open to new
//! records. Pure: the caller passes the time, and `C` is whatever completes a batch's records
//! (the outcome their futures share in the producer, a number in the tests), made when the
//! batch opens: a record costs no completion of its own.
//!
//! - A record joins the partition's open batch while the batch stays within `batch_bytes`
//!   (uncompressed); otherwise it opens a new batch. A record larger than `batch_bytes` gets a
//!   batch of its own.
//! - Every record counts against `buffer_bytes` with an upper bound of its encoded size (plus
//!   a batch header when it opens a batch) from append until its batch is acknowledged or
//!   failed; an append that does not fit is refused, and the producer waits or fails.
//! - A partition's front batch is ready when it is full (a batch behind it, or `batch_bytes`
//!   reached), `linger` after it was opened, when a flush covers it, when the producer closes,
//!   or at its retry time.
//! - Without idempotence, at most one request per partition is in flight: a partition is muted
//!   while its batches are out (Kafka's ordering guarantee without idempotence). A request
//!   takes the front batch and the full ones queued behind it, up to a byte budget: a partition
//!   that records reach faster than one batch a round trip sends its backlog at once instead of
//!   one batch a round trip. Retried batches go back to the front of their queue in their
//!   order, so records reach the log, and are acknowledged, in append order.
//! - With idempotence (a producer id, [`Accumulator::set_producer_id`]), each batch carries the
//!   producer id, the partition's epoch and the sequence of its first record, stamped when it
//!   is first sent; a request takes one batch of a partition, and up to
//!   [`IDEMPOTENT_IN_FLIGHT`] of a partition's batches are out at once (the broker keeps the
//!   last five of each producer to answer retries). A retried batch goes back into its queue
//!   in sequence order and is sent again only once nothing of its partition is in flight, so
//!   the partition's batches reach the leader in sequence order. After the leader lost the
//!   producer's batches before one (UNKNOWN_PRODUCER_ID, or OUT_OF_ORDER_SEQUENCE_NUMBER for
//!   the first batch not acknowledged), [`Accumulator::bump_epoch`] starts the partition's
//!   next epoch: every batch not acknowledged is stamped again from sequence 0 (KIP-360).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringlog_format::producer::BATCHES_KEPT;
use ringlog_format::{BatchBuilder, Compression, HEADER_LEN, Record};
use ringlog_replication::TopicPartition;

use crate::error::ClientError;

/// Upper bounds of a record's varint fields: length, offset delta, key and value lengths and
/// header count are varints (at most 5 bytes), the timestamp delta a varlong (10), plus the
/// attributes byte.
const RECORD_OVERHEAD_MAX: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/// A header's key and value lengths, at most.
const HEADER_OVERHEAD_MAX: usize = 5 + 5;
/// An idempotent producer's batches of one partition in flight at once, at most: the broker
/// answers a retry of any of a producer's last five batches.
pub(crate) const IDEMPOTENT_IN_FLIGHT: usize = BATCHES_KEPT;

/// The accumulator's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccumulatorConfig {
    pub batch_bytes: usize,
    pub buffer_bytes: usize,
    pub linger: Duration,
    pub compression: Compression,
}

/// Why an append was refused; the completion comes back with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendError {
    /// Not enough room in the buffer now; it may free up.
    BufferFull { used: usize, needed: usize },
    /// The record can never fit the buffer.
    TooLarge { size: usize },
}

/// The most bytes `record` takes in a batch (uncompressed).
pub(crate) fn record_size_bound(record: &Record<'_>) -> usize {
    let headers: usize = record
        .headers
        .iter()
        .map(|header| HEADER_OVERHEAD_MAX + header.key.len() + header.value.map_or(0, <[u8]>::len))
        .sum();
    RECORD_OVERHEAD_MAX
        + record.key.map_or(0, <[u8]>::len)
        + record.value.map_or(0, <[u8]>::len)
        + headers
}

/// One batch of one partition, with what completes its records.
#[derive(Debug)]
pub(crate) struct Batch<C> {
    /// Increasing in creation order across all partitions.
    pub id: u64,
    pub topic_partition: TopicPartition,
    /// `Some` while open to records.
    builder: Option<BatchBuilder>,
    /// The finished batch bytes, once sealed; resent as they are on retry (an idempotent
    /// producer's stamped again after an epoch bump).
    sealed: Option<Bytes>,
    /// The idempotent producer's (epoch, first sequence) stamped into `sealed`.
    stamped: Option<(i16, i32)>,
    /// Completes every record of the batch at once; record `i` is at the base offset plus `i`.
    pub completion: C,
    /// Records in the batch.
    record_count: u64,
    pub created: Instant,
    /// What it counts against `buffer_bytes`.
    accounted_bytes: usize,
    pub retries: u32,
    retry_at: Option<Instant>,
    /// The error of the last failed attempt.
    pub last_error: Option<ClientError>,
}

impl<C> Batch<C> {
    fn new(
        id: u64,
        topic_partition: TopicPartition,
        builder: BatchBuilder,
        now: Instant,
        completion: C,
    ) -> Self {
        Batch {
            id,
            topic_partition,
            builder: Some(builder),
            sealed: None,
            stamped: None,
            completion,
            record_count: 0,
            created: now,
            accounted_bytes: 0,
            retries: 0,
            retry_at: None,
            last_error: None,
        }
    }

    /// Uncompressed size while open; the finished size once sealed.
    fn size_bytes(&self) -> usize {
        match (&self.builder, &self.sealed) {
            (Some(builder), _) => builder.size_bytes(),
            (None, Some(sealed)) => sealed.len(),
            (None, None) => unreachable!("a batch is open or sealed"),
        }
    }

    /// Finishes the batch (compressing it) if it is still open; no record joins it after.
    fn seal(&mut self) -> &Bytes {
        if let Some(builder) = self.builder.take() {
            self.sealed = Some(Bytes::from(builder.finish()));
        }
        self.sealed.as_ref().expect("sealed above")
    }

    /// Records in the batch.
    pub(crate) fn record_count(&self) -> u64 {
        self.record_count
    }

    /// The idempotent producer's (epoch, first sequence) it was last sent with.
    pub(crate) fn stamped(&self) -> Option<(i16, i32)> {
        self.stamped
    }

    /// Stamps the sealed batch as `producer_id`'s at `epoch` from `sequence` (its CRC again).
    fn stamp(&mut self, producer_id: i64, epoch: i16, sequence: i32) {
        let sealed = self.sealed.as_ref().expect("stamped once sealed");
        let mut bytes = sealed.to_vec();
        ringlog_format::batch::set_producer(&mut bytes, producer_id, epoch, sequence);
        self.sealed = Some(Bytes::from(bytes));
        self.stamped = Some((epoch, sequence));
    }

    /// The finished batch bytes. Panics if not sealed: [`Accumulator::take`] seals.
    pub(crate) fn bytes(&self) -> Bytes {
        self.sealed.clone().expect("a taken batch is sealed")
    }
}

/// Where [`Accumulator::append`] put a record.
#[derive(Debug)]
pub(crate) struct Appended<R> {
    /// The record's place in its batch: its offset is the batch's base offset plus this.
    pub index: u64,
    /// The record opened the batch.
    pub opened: bool,
    /// What the caller's `joined` made of the batch's completion.
    pub joined: R,
}

/// The sequence after `records` records from `sequence`: sequences wrap from `i32::MAX` to 0.
fn next_sequence(sequence: i32, records: i32) -> i32 {
    ((i64::from(sequence) + i64::from(records)) % (i64::from(i32::MAX) + 1)) as i32
}

/// Pushes `record` into `batch`, which has room for it, counting `accounted` bytes.
fn push<C, R>(
    batch: &mut Batch<C>,
    record: &Record<'_>,
    accounted: usize,
    opened: bool,
    joined: impl FnOnce(&C) -> R,
) -> Appended<R> {
    batch.builder.as_mut().expect("open").push(record);
    let index = batch.record_count;
    batch.record_count += 1;
    batch.accounted_bytes += accounted;
    Appended {
        index,
        opened,
        joined: joined(&batch.completion),
    }
}

#[derive(Debug)]
struct PartitionQueue<C> {
    batches: VecDeque<Batch<C>>,
    /// The ids of this partition's batches in flight: one request's without idempotence
    /// (muted while any is), up to [`IDEMPOTENT_IN_FLIGHT`] requests' with it.
    in_flight: BTreeSet<u64>,
}

/// An idempotent producer's place in one partition: its epoch there and the sequence of the
/// next batch's first record. Kept while the producer lives, past its partition's queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sequence {
    epoch: i16,
    next: i32,
}

/// Which partitions can send now, and when to look again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub ready: Vec<TopicPartition>,
    /// The earliest time a batch not ready now becomes ready (linger or retry backoff).
    pub next_check: Option<Instant>,
}

/// Per-partition batches of unsent records.
#[derive(Debug)]
pub(crate) struct Accumulator<C> {
    config: AccumulatorConfig,
    partitions: BTreeMap<TopicPartition, PartitionQueue<C>>,
    buffer_used: usize,
    next_id: u64,
    /// Batches appended to and not yet completed or failed, by id.
    outstanding: BTreeSet<u64>,
    /// The idempotent producer's id, once known.
    producer_id: Option<i64>,
    /// Its epoch and next sequence in each partition it sent to.
    sequences: BTreeMap<TopicPartition, Sequence>,
}

impl<C> Accumulator<C> {
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        Accumulator {
            config,
            partitions: BTreeMap::new(),
            buffer_used: 0,
            next_id: 0,
            outstanding: BTreeSet::new(),
            producer_id: None,
            sequences: BTreeMap::new(),
        }
    }

    /// Makes the producer idempotent as `producer_id` (from InitProducerId): from now on each
    /// batch is stamped with it when first sent (module docs).
    pub(crate) fn set_producer_id(&mut self, producer_id: i64) {
        self.producer_id = Some(producer_id);
    }

    /// The partition's next epoch, after its leader lost the producer's batches before the
    /// first one not acknowledged: every batch of it not acknowledged is stamped again from
    /// sequence 0 when next sent. Returns the new epoch; `None` past the last epoch (the
    /// producer needs a new id).
    pub(crate) fn bump_epoch(&mut self, topic_partition: &TopicPartition) -> Option<i16> {
        let sequence = self.sequences.entry(topic_partition.clone()).or_default();
        sequence.epoch = sequence.epoch.checked_add(1)?;
        sequence.next = 0;
        Some(sequence.epoch)
    }

    /// Whether `batch`, in flight, is the partition's first batch not acknowledged: no batch
    /// of the partition opened before it is queued or in flight.
    pub(crate) fn is_first_unacknowledged(&self, batch: &Batch<C>) -> bool {
        self.partitions
            .get(&batch.topic_partition)
            .is_none_or(|queue| {
                queue.batches.front().is_none_or(|b| b.id > batch.id)
                    && queue.in_flight.first().is_none_or(|&id| id >= batch.id)
            })
    }

    /// Adds `record` to `topic_partition`'s open batch, or to a new one when the open batch
    /// has no room for it. `open_batch` is called only when a batch opens (so the caller reads
    /// the clock once a batch, not once a record): the time, and what completes the new
    /// batch's records. `joined` is given the completion of the record's batch; what it
    /// returns comes back in [`Appended`]. A refused append changes nothing and calls neither.
    pub(crate) fn append<R>(
        &mut self,
        topic_partition: &TopicPartition,
        record: &Record<'_>,
        open_batch: impl FnOnce() -> (Instant, C),
        joined: impl FnOnce(&C) -> R,
    ) -> Result<Appended<R>, AppendError> {
        let size = record_size_bound(record);
        if size + HEADER_LEN > self.config.buffer_bytes {
            return Err(AppendError::TooLarge {
                size: size + HEADER_LEN,
            });
        }
        let batch_bytes = self.config.batch_bytes;
        let buffer_bytes = self.config.buffer_bytes;
        let used = self.buffer_used;
        let open = self
            .partitions
            .get_mut(topic_partition)
            .and_then(|queue| queue.batches.back_mut())
            .filter(|batch| batch.builder.is_some());
        // The common case, in one lookup: the record joins the open batch.
        let capacity = match open {
            Some(batch) if batch.size_bytes() + size <= batch_bytes => {
                if used + size > buffer_bytes {
                    return Err(AppendError::BufferFull { used, needed: size });
                }
                let appended = push(batch, record, size, false, joined);
                self.buffer_used += size;
                self.check_invariants();
                return Ok(appended);
            }
            // The open batch filled up: records come faster than batches go, and the new
            // batch is likely to fill too, so it gets its whole size at once rather than
            // growing to it by copies. Otherwise it starts small: a partition's sealed batches
            // keep their capacity while they wait, and most of a quiet partition's would be
            // empty.
            Some(_) => batch_bytes,
            None => 0,
        };
        let needed = size + HEADER_LEN;
        if used + needed > buffer_bytes {
            return Err(AppendError::BufferFull { used, needed });
        }
        let (now, completion) = open_batch();
        let batch = self.open_batch(topic_partition, now, completion, capacity);
        let appended = push(batch, record, needed, true, joined);
        self.buffer_used += needed;
        self.check_invariants();
        Ok(appended)
    }

    fn open_batch(
        &mut self,
        topic_partition: &TopicPartition,
        now: Instant,
        completion: C,
        capacity: usize,
    ) -> &mut Batch<C> {
        let id = self.next_id;
        self.next_id += 1;
        self.outstanding.insert(id);
        let builder =
            BatchBuilder::with_capacity(capacity).with_compression(self.config.compression);
        let batch = Batch::new(id, topic_partition.clone(), builder, now, completion);
        let queue = self
            .partitions
            .entry(topic_partition.clone())
            .or_insert_with(|| PartitionQueue {
                batches: VecDeque::new(),
                in_flight: BTreeSet::new(),
            });
        queue.batches.push_back(batch);
        queue.batches.back_mut().expect("pushed above")
    }

    /// The partitions whose front batch may be sent now. `flush_upto`: batches up to this id
    /// are wanted now; `closing`: every batch is.
    pub(crate) fn ready(&self, now: Instant, flush_upto: Option<u64>, closing: bool) -> Readiness {
        let mut readiness = Readiness {
            ready: Vec::new(),
            next_check: None,
        };
        let idempotent = self.producer_id.is_some();
        for (topic_partition, queue) in &self.partitions {
            let Some(front) = queue.batches.front() else {
                continue;
            };
            // Without idempotence a partition is muted while a request of it is out; with it,
            // up to IDEMPOTENT_IN_FLIGHT may be, but a retry goes alone, once the batches sent
            // after it are answered, so that the leader sees the partition's sequences in order.
            let room = if idempotent && front.retries == 0 {
                queue.in_flight.len() < IDEMPOTENT_IN_FLIGHT
            } else {
                queue.in_flight.is_empty()
            };
            if !room {
                continue;
            }
            let full = queue.batches.len() > 1 || front.size_bytes() >= self.config.batch_bytes;
            let wanted = closing || flush_upto.is_some_and(|upto| front.id <= upto);
            let due = match front.retry_at {
                Some(at) => at,
                None if full || wanted => now,
                None => front.created + self.config.linger,
            };
            if due <= now {
                readiness.ready.push(topic_partition.clone());
            } else {
                readiness.next_check = Some(readiness.next_check.map_or(due, |t| t.min(due)));
            }
        }
        readiness
    }

    /// The finished size of the partition's front batch, sealing it (no record joins it
    /// after), to decide whether it fits a request.
    pub(crate) fn front_len(&mut self, topic_partition: &TopicPartition) -> Option<usize> {
        let queue = self.partitions.get_mut(topic_partition)?;
        Some(queue.batches.front_mut()?.seal().len())
    }

    /// Takes the partition's front batch to send, sealed, with the full batches queued behind
    /// it while their sizes add up to at most `max_bytes` (the front batch goes whatever its
    /// size), and mutes the partition. Empty when the partition is muted or has no batch.
    pub(crate) fn take(
        &mut self,
        topic_partition: &TopicPartition,
        max_bytes: usize,
    ) -> Vec<Batch<C>> {
        let Some(queue) = self.partitions.get_mut(topic_partition) else {
            return Vec::new();
        };
        if let Some(producer_id) = self.producer_id {
            // One batch a request, stamped when first sent or after an epoch bump.
            let room = match queue.batches.front() {
                Some(front) if front.retries == 0 => queue.in_flight.len() < IDEMPOTENT_IN_FLIGHT,
                Some(_) => queue.in_flight.is_empty(),
                None => false,
            };
            if !room {
                return Vec::new();
            }
            let mut front = queue.batches.pop_front().expect("checked above");
            front.seal();
            let sequence = self.sequences.entry(topic_partition.clone()).or_default();
            if front
                .stamped
                .is_none_or(|(epoch, _)| epoch != sequence.epoch)
            {
                front.stamp(producer_id, sequence.epoch, sequence.next);
                let records = i32::try_from(front.record_count).expect("a batch's records fit i32");
                sequence.next = next_sequence(sequence.next, records);
            }
            front.retry_at = None;
            queue.in_flight.insert(front.id);
            return vec![front];
        }
        if !queue.in_flight.is_empty() {
            return Vec::new();
        }
        let Some(mut front) = queue.batches.pop_front() else {
            return Vec::new();
        };
        let mut bytes = front.seal().len();
        let mut taken = vec![front];
        // A batch with another behind it is full; the last one may still take records.
        while queue.batches.len() > 1 || queue.batches.front().is_some_and(|b| b.sealed.is_some()) {
            let next = queue.batches.front_mut().expect("checked above");
            let len = next.seal().len();
            if bytes + len > max_bytes {
                break;
            }
            bytes += len;
            taken.push(queue.batches.pop_front().expect("checked above"));
        }
        for batch in &mut taken {
            batch.retry_at = None;
        }
        queue.in_flight = taken.iter().map(|batch| batch.id).collect();
        taken
    }

    /// Puts a failed batch back into its partition's queue, in the order the batches were
    /// opened (ahead of every batch opened after it), to be sent again at `at`.
    pub(crate) fn retry(&mut self, mut batch: Batch<C>, at: Instant, error: ClientError) {
        batch.retries += 1;
        batch.retry_at = Some(at);
        batch.last_error = Some(error);
        let queue = self
            .partitions
            .get_mut(&batch.topic_partition)
            .expect("an in-flight batch keeps its partition's queue");
        assert!(
            queue.in_flight.remove(&batch.id),
            "batch {} was not in flight",
            batch.id
        );
        let at = queue.batches.partition_point(|queued| queued.id < batch.id);
        queue.batches.insert(at, batch);
    }

    /// Releases an in-flight batch that succeeded or failed for good; its partition is unmuted
    /// once every batch taken with it is completed or retried.
    pub(crate) fn complete(&mut self, batch: &Batch<C>) {
        let queue = self
            .partitions
            .get_mut(&batch.topic_partition)
            .expect("an in-flight batch keeps its partition's queue");
        assert!(
            queue.in_flight.remove(&batch.id),
            "batch {} was not in flight",
            batch.id
        );
        self.release(batch);
        self.check_invariants();
    }

    fn release(&mut self, batch: &Batch<C>) {
        self.buffer_used -= batch.accounted_bytes;
        self.outstanding.remove(&batch.id);
        let queue = &self.partitions[&batch.topic_partition];
        if queue.batches.is_empty() && queue.in_flight.is_empty() {
            self.partitions.remove(&batch.topic_partition);
        }
    }

    /// Takes out the batches that waited `delivery_timeout` since they were opened, from
    /// partitions with nothing in flight (so a partition's records still fail in order).
    pub(crate) fn expire(&mut self, now: Instant, delivery_timeout: Duration) -> Vec<Batch<C>> {
        let mut expired = Vec::new();
        for queue in self
            .partitions
            .values_mut()
            .filter(|queue| queue.in_flight.is_empty())
        {
            while queue
                .batches
                .front()
                .is_some_and(|batch| batch.created + delivery_timeout <= now)
            {
                expired.push(queue.batches.pop_front().expect("front exists"));
            }
        }
        for batch in &expired {
            self.release(batch);
        }
        self.check_invariants();
        expired
    }

    /// The oldest batch not completed yet; a flush waits until it is past its target.
    pub(crate) fn oldest_outstanding(&self) -> Option<u64> {
        self.outstanding.first().copied()
    }

    /// The newest batch opened so far.
    pub(crate) fn last_batch_id(&self) -> Option<u64> {
        self.next_id.checked_sub(1)
    }

    pub(crate) fn buffer_used(&self) -> usize {
        self.buffer_used
    }

    /// Nothing queued and nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.partitions.is_empty()
    }

    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            let accounted: usize = self
                .partitions
                .values()
                .flat_map(|queue| &queue.batches)
                .map(|batch| batch.accounted_bytes)
                .sum();
            // In-flight batches are not in the queues but still hold their bytes.
            debug_assert!(
                accounted <= self.buffer_used,
                "queued batches account {accounted} bytes, buffer_used is {}",
                self.buffer_used
            );
            debug_assert!(
                self.buffer_used <= self.config.buffer_bytes,
                "buffer_used {} exceeds buffer_bytes {}",
                self.buffer_used,
                self.config.buffer_bytes
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_format::BatchRecords;
    use ringlog_format::batch::validate_batch;

    const LINGER: Duration = Duration::from_millis(5);

    fn config(batch_bytes: usize, buffer_bytes: usize) -> AccumulatorConfig {
        AccumulatorConfig {
            batch_bytes,
            buffer_bytes,
            linger: LINGER,
            compression: Compression::None,
        }
    }

    fn record(value: &[u8]) -> Record<'_> {
        Record {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp: 1_000,
        }
    }

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::new("t", partition)
    }

    /// Appends `value`, completing a batch it opens with `name`; whether it opened one.
    fn append(
        acc: &mut Accumulator<&'static str>,
        partition: u32,
        value: &[u8],
        name: &'static str,
        now: Instant,
    ) -> Result<bool, AppendError> {
        acc.append(&tp(partition), &record(value), || (now, name), |_| ())
            .map(|appended| appended.opened)
    }

    /// Takes the partition's front batch alone.
    fn take_one<C>(acc: &mut Accumulator<C>, partition: u32) -> Batch<C> {
        let mut taken = acc.take(&tp(partition), 0);
        assert_eq!(taken.len(), 1, "one batch taken");
        taken.pop().unwrap()
    }

    /// The values of a taken batch's records, in order.
    fn values<C>(batch: &Batch<C>) -> Vec<Vec<u8>> {
        let bytes = batch.bytes();
        let records = BatchRecords::new(&bytes, 1 << 20).unwrap();
        let values = records.iter().map(|r| r.unwrap().value.unwrap().to_vec());
        values.collect()
    }

    #[test]
    fn a_batch_becomes_ready_when_linger_has_passed() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        assert!(append(&mut acc, 0, b"a", "first", now).unwrap());
        let later = now + Duration::from_millis(3);
        assert!(!append(&mut acc, 0, b"b", "second", later).unwrap());
        let early = acc.ready(now + Duration::from_millis(4), None, false);
        assert_eq!(
            early,
            Readiness {
                ready: vec![],
                next_check: Some(now + LINGER)
            }
        );
        let late = acc.ready(now + LINGER, None, false);
        assert_eq!(late.ready, [tp(0)]);
        let batch = take_one(&mut acc, 0);
        assert_eq!(batch.completion, "first");
        assert_eq!(values(&batch), [b"a", b"b"]);
        let bytes = batch.bytes();
        validate_batch(&bytes, u32::MAX).unwrap();
    }

    /// The producer id, epoch and base sequence a taken batch carries, checked whole.
    fn identity<C>(batch: &Batch<C>) -> (i64, i16, i32) {
        let header = validate_batch(&batch.bytes(), u32::MAX).unwrap();
        (
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
        )
    }

    /// An idempotent accumulator holding `batches` full batches of two records for partition 0.
    fn idempotent_with(batches: usize, now: Instant) -> Accumulator<&'static str> {
        let value = [7u8; 100];
        let per_record = record_size_bound(&record(&value));
        let mut acc = Accumulator::new(config(HEADER_LEN + 2 * per_record, 1 << 20));
        acc.set_producer_id(42);
        for _ in 0..batches * 2 {
            append(&mut acc, 0, &value, "b", now).unwrap();
        }
        acc
    }

    #[test]
    fn an_idempotent_partition_sends_five_batches_at_once_each_numbered_in_order() {
        let now = Instant::now();
        let mut acc = idempotent_with(7, now);
        let mut sent = Vec::new();
        for expected_sequence in [0, 2, 4, 6, 8] {
            assert_eq!(acc.ready(now + LINGER, None, false).ready, [tp(0)]);
            let batch = take_one(&mut acc, 0);
            assert_eq!(identity(&batch), (42, 0, expected_sequence));
            sent.push(batch);
        }
        // Five in flight: the sixth waits for an answer.
        assert!(acc.ready(now + LINGER, None, false).ready.is_empty());
        assert!(acc.take(&tp(0), usize::MAX).is_empty());
        let first = sent.remove(0);
        acc.complete(&first);
        assert_eq!(identity(&take_one(&mut acc, 0)), (42, 0, 10));
    }

    #[test]
    fn an_idempotent_retry_keeps_its_sequence_and_waits_for_the_batches_after_it() {
        let now = Instant::now();
        let mut acc = idempotent_with(4, now);
        let mut sent: Vec<_> = (0..3).map(|_| take_one(&mut acc, 0)).collect();
        let error = ClientError::Closed;
        // The first failed, the two after it are still out: nothing goes until they are back.
        acc.retry(sent.remove(0), now, error.clone());
        assert!(acc.ready(now + LINGER, None, false).ready.is_empty());
        acc.retry(sent.remove(1), now, error.clone());
        assert!(acc.ready(now + LINGER, None, false).ready.is_empty());
        acc.retry(sent.remove(0), now, error);
        // In order again, with the sequences they had; then the batch never sent.
        let retried = take_one(&mut acc, 0);
        assert_eq!(identity(&retried), (42, 0, 0));
        assert!(
            acc.take(&tp(0), usize::MAX).is_empty(),
            "a retry goes alone"
        );
        acc.complete(&retried);
        for expected in [2, 4, 6] {
            let batch = take_one(&mut acc, 0);
            assert_eq!(identity(&batch), (42, 0, expected));
            acc.complete(&batch);
        }
    }

    #[test]
    fn an_epoch_bump_numbers_what_is_not_acknowledged_from_zero() {
        let now = Instant::now();
        let mut acc = idempotent_with(3, now);
        let first = take_one(&mut acc, 0);
        acc.complete(&first);
        let mut sent: Vec<_> = (0..2).map(|_| take_one(&mut acc, 0)).collect();
        assert!(acc.is_first_unacknowledged(&sent[0]));
        let error = ClientError::Closed;
        // The leader lost the producer: the first batch not acknowledged bumps the epoch.
        let second = sent.remove(0);
        assert_eq!(acc.bump_epoch(&tp(0)), Some(1));
        acc.retry(second, now, error.clone());
        let third = sent.remove(0);
        assert!(!acc.is_first_unacknowledged(&third));
        acc.retry(third, now, error);
        let second = take_one(&mut acc, 0);
        assert_eq!(identity(&second), (42, 1, 0));
        acc.complete(&second);
        assert_eq!(identity(&take_one(&mut acc, 0)), (42, 1, 2));
    }

    #[test]
    fn records_are_numbered_within_their_batch_and_the_open_is_called_once_a_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        let mut opens = 0;
        for expected in 0..3 {
            let open_batch = || {
                opens += 1;
                (now, "only")
            };
            let appended = acc
                .append(&tp(0), &record(b"v"), open_batch, |name| *name)
                .unwrap();
            assert_eq!(appended.index, expected);
            assert_eq!(appended.opened, expected == 0);
            assert_eq!(appended.joined, "only");
        }
        assert_eq!(opens, 1);
        let first_of_another = acc.append(&tp(1), &record(b"v"), || (now, "other"), |_| ());
        assert_eq!(first_of_another.unwrap().index, 0);
    }

    #[test]
    fn a_full_batch_is_ready_at_once_and_the_next_record_opens_another() {
        let now = Instant::now();
        let value = [7u8; 100];
        let per_record = record_size_bound(&record(&value));
        // Room for exactly two records.
        let mut acc = Accumulator::new(config(HEADER_LEN + 2 * per_record, 1 << 20));
        assert!(append(&mut acc, 0, &value, "first", now).unwrap());
        assert!(!append(&mut acc, 0, &value, "unused", now).unwrap());
        assert!(acc.ready(now, None, false).ready.is_empty());
        assert!(append(&mut acc, 0, &value, "second", now).unwrap());
        assert_eq!(acc.ready(now, None, false).ready, [tp(0)]);
        let batch = take_one(&mut acc, 0);
        assert_eq!(batch.completion, "first");
        assert_eq!(values(&batch).len(), 2);
    }

    #[test]
    fn a_record_larger_than_batch_bytes_gets_a_batch_of_its_own() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(100, 1 << 20));
        append(&mut acc, 0, &[1; 500], "big", now).unwrap();
        assert_eq!(acc.ready(now, None, false).ready, [tp(0)]);
        let batch = take_one(&mut acc, 0);
        assert_eq!(values(&batch).len(), 1);
    }

    #[test]
    fn the_buffer_refuses_what_does_not_fit_and_frees_on_completion() {
        let now = Instant::now();
        let value = [0u8; 1000];
        let needed = record_size_bound(&record(&value)) + HEADER_LEN;
        let mut acc = Accumulator::new(config(1 << 20, needed + 10));
        append(&mut acc, 0, &value, "first", now).unwrap();
        assert_eq!(acc.buffer_used(), needed);
        // A refused append opens no batch: its `open` is not called.
        let refused = acc.append(
            &tp(1),
            &record(&value),
            || unreachable!("refused"),
            |_| unreachable!("refused"),
        );
        assert_eq!(
            refused.unwrap_err(),
            AppendError::BufferFull {
                used: needed,
                needed
            }
        );
        let error = append(&mut acc, 1, &[0; 5000], "too large", now).unwrap_err();
        assert!(matches!(error, AppendError::TooLarge { .. }), "{error:?}");
        assert_eq!(acc.last_batch_id(), Some(0));
        let batch = take_one(&mut acc, 0);
        acc.complete(&batch);
        assert_eq!(acc.buffer_used(), 0);
        assert!(acc.is_idle());
        append(&mut acc, 1, &value, "second", now).unwrap();
    }

    #[test]
    fn a_partition_in_flight_is_muted_and_a_retry_goes_first() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        append(&mut acc, 0, b"first", "first", now).unwrap();
        let flush = acc.last_batch_id();
        let batch = take_one(&mut acc, 0);
        // Records appended while the batch is out open a new batch, which waits.
        assert!(append(&mut acc, 0, b"second", "second", now).unwrap());
        assert!(acc.take(&tp(0), usize::MAX).is_empty());
        assert!(acc.ready(now + LINGER, None, true).ready.is_empty());
        // The attempt fails: the batch goes back in front, and waits for its backoff even
        // though the batch behind it is due.
        let retry_at = now + Duration::from_millis(100);
        let error = ClientError::Closed;
        acc.retry(batch, retry_at, error);
        let readiness = acc.ready(now + LINGER, flush, false);
        assert_eq!(
            readiness,
            Readiness {
                ready: vec![],
                next_check: Some(retry_at)
            }
        );
        assert_eq!(acc.ready(retry_at, None, false).ready, [tp(0)]);
        let again = take_one(&mut acc, 0);
        assert_eq!(again.completion, "first");
        assert_eq!(values(&again), [b"first"]);
        assert_eq!(again.retries, 1);
        acc.complete(&again);
        assert_eq!(take_one(&mut acc, 0).completion, "second");
    }

    #[test]
    fn a_backlog_goes_in_one_take_up_to_the_budget_and_comes_back_in_order() {
        let now = Instant::now();
        let value = [7u8; 100];
        let per_record = record_size_bound(&record(&value));
        // One record a batch: every append opens a batch, and seals the one before it.
        let mut acc = Accumulator::new(config(HEADER_LEN + per_record, 1 << 20));
        for name in ["b0", "b1", "b2", "b3", "open"] {
            assert!(append(&mut acc, 0, &value, name, now).unwrap());
        }
        let sealed_len = acc.front_len(&tp(0)).unwrap();
        // Room for the front and one more: the third full batch waits.
        let taken = acc.take(&tp(0), 2 * sealed_len + sealed_len / 2);
        let names: Vec<_> = taken.iter().map(|b| b.completion).collect();
        assert_eq!(names, ["b0", "b1"]);
        assert!(acc.take(&tp(0), usize::MAX).is_empty(), "muted");
        assert!(acc.ready(now + LINGER, None, true).ready.is_empty());
        // Both fail: retried last first, they queue in their order again.
        for batch in taken.into_iter().rev() {
            acc.retry(batch, now, ClientError::Closed);
        }
        // Without a budget the whole backlog goes, but not the batch still open.
        let taken = acc.take(&tp(0), usize::MAX);
        let names: Vec<_> = taken.iter().map(|b| b.completion).collect();
        assert_eq!(names, ["b0", "b1", "b2", "b3"]);
        assert!(taken.iter().take(2).all(|b| b.retries == 1));
        // Muted until every batch of the take is done.
        for batch in &taken[..3] {
            acc.complete(batch);
            assert!(acc.ready(now + LINGER, None, true).ready.is_empty());
        }
        acc.complete(&taken[3]);
        assert_eq!(acc.ready(now + LINGER, None, true).ready, [tp(0)]);
        assert_eq!(take_one(&mut acc, 0).completion, "open");
    }

    #[test]
    fn a_retried_batch_takes_no_new_records() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        append(&mut acc, 0, b"a", "first", now).unwrap();
        let batch = take_one(&mut acc, 0);
        acc.retry(batch, now, ClientError::Closed);
        assert!(append(&mut acc, 0, b"b", "second", now).unwrap());
        let batch = take_one(&mut acc, 0);
        assert_eq!(batch.completion, "first");
        assert_eq!(values(&batch), [b"a"]);
    }

    #[test]
    fn flush_and_close_make_batches_ready_before_linger() {
        let now = Instant::now();
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        append(&mut acc, 0, b"a", "first", now).unwrap();
        let flush_upto = acc.last_batch_id();
        append(&mut acc, 1, b"b", "second", now).unwrap();
        assert_eq!(acc.ready(now, flush_upto, false).ready, [tp(0)]);
        assert_eq!(acc.ready(now, None, true).ready, [tp(0), tp(1)]);
        assert_eq!(acc.oldest_outstanding(), Some(0));
    }

    #[test]
    fn expiry_skips_partitions_in_flight_and_frees_the_buffer() {
        let now = Instant::now();
        let timeout = Duration::from_secs(1);
        let mut acc = Accumulator::new(config(1 << 20, 1 << 20));
        append(&mut acc, 0, b"a", "first", now).unwrap();
        append(&mut acc, 1, b"b", "second", now).unwrap();
        let in_flight = take_one(&mut acc, 0);
        append(&mut acc, 0, b"c", "third", now).unwrap();
        let expired = acc.expire(now + timeout, timeout);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].completion, "second");
        assert!(acc.expire(now + timeout / 2, timeout).is_empty());
        acc.complete(&in_flight);
        let expired = acc.expire(now + timeout, timeout);
        assert_eq!(expired[0].completion, "third");
        assert_eq!(acc.buffer_used(), 0);
        assert!(acc.is_idle());
        assert_eq!(acc.oldest_outstanding(), None);
    }

    #[test]
    fn batches_are_compressed_when_sealed() {
        let now = Instant::now();
        let mut acc = Accumulator::new(AccumulatorConfig {
            compression: Compression::Zstd,
            ..config(1 << 20, 1 << 20)
        });
        for _ in 0..100 {
            append(&mut acc, 0, &[b'x'; 100], "compressed", now).unwrap();
        }
        let sealed_len = acc.front_len(&tp(0)).unwrap();
        // Sealed: the next record opens a new batch.
        assert!(append(&mut acc, 0, b"later", "later", now).unwrap());
        let batch = take_one(&mut acc, 0);
        let bytes = batch.bytes();
        assert_eq!(bytes.len(), sealed_len);
        assert!(bytes.len() < 1000, "{}", bytes.len());
        let read = BatchRecords::new(&bytes, 1 << 20).unwrap();
        assert_eq!(read.compression(), Compression::Zstd);
        assert_eq!(read.iter().count(), 100);
    }

    #[test]
    fn the_size_bound_is_never_below_the_encoded_size() {
        let headers = [ringlog_format::Header {
            key: "h",
            value: Some(b"v"),
        }];
        let records = [
            Record {
                key: Some(b"key"),
                value: Some(&[1; 300]),
                headers: &headers,
                timestamp: i64::MIN,
            },
            Record::default(),
        ];
        for record in records {
            let mut builder = BatchBuilder::new();
            builder.push(&record);
            assert!(builder.size_bytes() - HEADER_LEN <= record_size_bound(&record));
        }
    }
}
