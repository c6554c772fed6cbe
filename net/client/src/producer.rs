//! [`Producer`]: sends records to partitions in batches and resolves one [`DeliveryFuture`]
//! per record with its partition and offset.
//!
//! - [`Producer::send`] picks the partition (the record's own, else Kafka's murmur2 of the
//!   key, else round robin), waits for room in the buffer (`buffer_bytes`; or fails at once
//!   with [`BufferFullPolicy::Error`]) and for the topic's metadata, both within `max_block`,
//!   and appends the record to its partition's batch.
//! - A sender task sends ready batches (see the accumulator: `linger`, `batch_bytes`, flush)
//!   to each partition's leader, several partitions per Produce request up to
//!   `max_request_bytes`, with the connection's bound on requests in flight.
//! - A failed batch is retried with exponential backoff while its error is retriable and its
//!   `delivery_timeout` (from the batch's first record) has not passed; NOT_LEADER_OR_FOLLOWER
//!   and a lost connection refresh the metadata first. Requests reach each broker in the order
//!   they were planned (queued on its connection one after the other).
//! - Idempotent (the default with acks=all, as Kafka's since 3.0; `idempotence`): the producer
//!   first gets a producer id (InitProducerId), and each batch carries it with its partition's
//!   epoch and sequence, so that a retry of a batch the partition already holds (the first
//!   attempt's answer was lost, its leader died) is answered with its first offsets instead of
//!   being appended again: delivery is exactly once into the log, in order. Up to five
//!   requests of a partition are in flight, one batch each; a retried batch goes alone once the
//!   batches after it are answered (see the accumulator). A refusal as a duplicate sequence
//!   (the batch was appended, its records since deleted) delivers the batch with an unknown
//!   offset; one as out of sequence or from an unknown producer for the partition's first
//!   batch not acknowledged means the leader lost what came before it, and the partition
//!   starts its next epoch from sequence 0 (KIP-360).
//! - Not idempotent (acks 0 or 1, or `idempotence: false`): one request per partition is in
//!   flight at a time, so a partition's records are appended and acknowledged in order; it
//!   carries the partition's front batch and, when records come faster than the round trips,
//!   the full batches queued behind it, back to back in one records field. Retries may append a
//!   batch twice (the first attempt's answer was lost): delivery is at least once.
//! - With acks=0 the broker answers before appending and the offset is unknown (`None`).
//! - [`Producer::retrying`] lists the partitions being retried and why (the last error, the
//!   attempts, for how long), for a program to say why its records are slow: a retry is
//!   otherwise silent until the record's [`ClientError::DeliveryTimeout`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use ringlog_format::{Compression, HEADER_LEN, Header};
use ringlog_format::{Offset, Timestamp};
use ringlog_replication::{BrokerId, TopicPartition};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::accumulator::{Accumulator, AccumulatorConfig, AppendError, Batch, record_size_bound};
use crate::admin::Admin;
use crate::backoff::{self, RetryDecision};
use crate::cluster::{Cluster, unexpected};
use crate::error::ClientError;
use crate::partitioner::{RoundRobin, partition_for_key};
use ringlog_wire::api::Topic;
use ringlog_wire::api::produce::{Acks, ProducePartition, ProduceRequest, ProduceResponse};
use ringlog_wire::{ErrorCode, Request, Response};

/// What [`Producer::send`] does when the buffer has no room for a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferFullPolicy {
    /// Wait for room, at most `max_block`.
    #[default]
    Block,
    /// Fail at once with [`ClientError::BufferFull`].
    Error,
}

/// A producer's batching, delivery and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerConfig {
    /// When the broker answers: `None` before appending, `Leader` after its append, `All`
    /// when the ISR has the batch. Default `All`.
    pub acks: Acks,
    /// How long a batch waits for more records before it is sent. Default 5 ms.
    pub linger: Duration,
    /// A batch is sent once it holds this many bytes (uncompressed). Default 16 KiB.
    pub batch_bytes: usize,
    /// Bytes of records appended and not acknowledged yet, at most. Default 32 MiB.
    pub buffer_bytes: usize,
    /// What `send` does when the buffer is full. Default `Block`.
    pub buffer_full: BufferFullPolicy,
    /// How long `send` may wait for metadata or buffer room. Default 60 s.
    pub max_block: Duration,
    /// The codec batches are compressed with. Default none.
    pub compression: Compression,
    /// How long a record may take from `send` to acknowledgement, retries included. Default
    /// 120 s.
    pub delivery_timeout: Duration,
    /// How long an acks=all produce may wait for replication on the broker (the request's
    /// `timeout_ms`). Default 30 s.
    pub ack_timeout: Duration,
    /// The most bytes of batches in one Produce request; a single batch may exceed it only if
    /// it is one record. Also the largest record accepted. Default 1 MiB.
    pub max_request_bytes: usize,
    /// Whether, with acks=all, batches carry a producer id and sequences so that a retry is
    /// never appended twice (Kafka's `enable.idempotence`, on by default). With acks 0 or 1 the
    /// producer is not idempotent whatever this says, as Kafka's producer when it is not asked
    /// for explicitly. Default true.
    pub idempotence: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_bytes: 16 * 1024,
            buffer_bytes: 32 * 1024 * 1024,
            buffer_full: BufferFullPolicy::Block,
            max_block: Duration::from_secs(60),
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(120),
            ack_timeout: Duration::from_secs(30),
            max_request_bytes: 1024 * 1024,
            idempotence: true,
        }
    }
}

impl ProducerConfig {
    /// Whether the producer is idempotent: `idempotence` with acks=all.
    pub fn is_idempotent(&self) -> bool {
        self.idempotence && self.acks == Acks::All
    }

    fn validate(&self) -> Result<(), ClientError> {
        let invalid = |message: String| Err(ClientError::Config(message));
        if self.batch_bytes <= HEADER_LEN {
            return invalid(format!(
                "batch_bytes {} cannot hold a {HEADER_LEN}-byte batch header and a record",
                self.batch_bytes
            ));
        }
        if self.batch_bytes > self.max_request_bytes {
            return invalid(format!(
                "batch_bytes {} exceeds max_request_bytes {}",
                self.batch_bytes, self.max_request_bytes
            ));
        }
        if self.max_request_bytes > self.buffer_bytes {
            return invalid(format!(
                "max_request_bytes {} exceeds buffer_bytes {}",
                self.max_request_bytes, self.buffer_bytes
            ));
        }
        if self.delivery_timeout.is_zero() {
            return invalid("delivery_timeout must not be zero".into());
        }
        Ok(())
    }
}

/// A record to send. Key, value and header values are [`Bytes`] (from `&'static str`,
/// `String`, `Vec<u8>`, ...); `None` is Kafka's null, not an empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The topic to send to.
    pub topic: String,
    /// `None`: chosen by key (murmur2) or round robin.
    pub partition: Option<u32>,
    /// Partitions the record (murmur2) when it names no partition.
    pub key: Option<Bytes>,
    /// The payload.
    pub value: Option<Bytes>,
    /// Header keys (UTF-8) and values, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// `None`: the time of `send`.
    pub timestamp: Option<Timestamp>,
}

impl Record {
    /// A record for `topic` with no key, value or headers.
    pub fn new(topic: impl Into<String>) -> Record {
        Record {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// The same record with this key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Record {
        self.key = Some(key.into());
        self
    }

    /// The same record with this value.
    #[must_use]
    pub fn value(mut self, value: impl Into<Bytes>) -> Record {
        self.value = Some(value.into());
        self
    }

    /// The same record with one more header.
    #[must_use]
    pub fn header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Record {
        self.headers.push((key.into(), value));
        self
    }

    /// The same record, for this partition.
    #[must_use]
    pub fn partition(mut self, partition: u32) -> Record {
        self.partition = Some(partition);
        self
    }

    /// The same record with this timestamp.
    #[must_use]
    pub fn timestamp(mut self, timestamp: Timestamp) -> Record {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where an acknowledged record is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The record's topic.
    pub topic: String,
    /// The partition it was appended to.
    pub partition: u32,
    /// `None` with acks=0: the broker answered before appending.
    pub offset: Option<Offset>,
    /// The record's timestamp as sent.
    pub timestamp: Timestamp,
}

/// Resolves once the record is acknowledged, or failed for good (the error names the Kafka
/// error code, or the timeout). Dropping it does not cancel the send.
///
/// The records of one batch share one outcome, resolved once for all of them (as
/// Kafka's producer shares one result per batch): no channel or wake-up per record.
#[derive(Debug)]
pub struct DeliveryFuture {
    outcome: Arc<SharedOutcome>,
    /// The record's place in its batch: its offset is the batch's base plus this.
    index: u64,
    timestamp: Timestamp,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(result) = this.outcome.result.get() {
            return Poll::Ready(this.metadata(result));
        }
        let mut wakers = this.outcome.wakers.lock().expect("not poisoned");
        // Checked again under the lock `resolve` takes after setting the result: a result set
        // in between is seen here, or this waker is woken.
        if let Some(result) = this.outcome.result.get() {
            return Poll::Ready(this.metadata(result));
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl DeliveryFuture {
    fn metadata(
        &self,
        result: &Result<Option<Offset>, ClientError>,
    ) -> Result<RecordMetadata, ClientError> {
        let base_offset = result.as_ref().map_err(Clone::clone)?;
        Ok(RecordMetadata {
            topic: self.outcome.topic_partition.topic.clone(),
            partition: self.outcome.topic_partition.partition,
            offset: base_offset.map(|base| base.plus(self.index)),
            timestamp: self.timestamp,
        })
    }
}

/// What every record of one batch waits for: set once, when the batch is acknowledged (with
/// its base offset; `None` with acks=0) or fails.
#[derive(Debug)]
struct SharedOutcome {
    topic_partition: TopicPartition,
    result: OnceLock<Result<Option<Offset>, ClientError>>,
    wakers: Mutex<Vec<Waker>>,
}

impl SharedOutcome {
    fn new(topic_partition: TopicPartition) -> Arc<SharedOutcome> {
        Arc::new(SharedOutcome {
            topic_partition,
            result: OnceLock::new(),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Resolves the batch (the first call wins) and wakes the futures waiting on it.
    fn resolve(&self, result: Result<Option<Offset>, ClientError>) {
        if self.result.get().is_some() {
            return;
        }
        if self.result.set(result).is_ok() {
            let wakers = std::mem::take(&mut *self.wakers.lock().expect("not poisoned"));
            for waker in wakers {
                waker.wake();
            }
        }
    }
}

/// What completes a batch's records: the outcome their futures share. A batch dropped
/// unresolved (the producer went away) resolves its records as closed.
#[derive(Debug)]
struct Completion {
    outcome: Arc<SharedOutcome>,
}

impl Drop for Completion {
    fn drop(&mut self) {
        // A no-op when the batch was resolved already: the first resolution wins.
        self.outcome.resolve(Err(ClientError::Closed));
    }
}

/// Sends records in batches. Cheap to clone; when the last clone is dropped, the sender task
/// delivers what was already sent (within `delivery_timeout`) and stops.
#[derive(Clone, Debug)]
pub struct Producer {
    inner: Arc<Inner>,
    _close_on_drop: Arc<CloseOnDrop>,
}

#[derive(Debug)]
struct Inner {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    state: Mutex<State>,
    /// Something for the sender task to look at: a record, a flush, a close.
    wake_sender: Notify,
    /// Batches completed or expired: room in the buffer, flushes to check.
    progress: Notify,
}

#[derive(Debug)]
struct State {
    accumulator: Accumulator<Completion>,
    /// Each topic sent to, by name.
    routes: BTreeMap<String, Route>,
    flush_upto: Option<u64>,
    closing: bool,
    /// The partitions whose last attempt failed and will be retried: one entry per partition
    /// with batches outstanding, at most.
    retrying: BTreeMap<TopicPartition, Retrying>,
    /// An idempotent producer's id: `Wanted` until InitProducerId answers; nothing is sent
    /// before.
    producer_id: ProducerId,
}

/// Where an idempotent producer stands with its producer id.
#[derive(Debug)]
enum ProducerId {
    /// Not idempotent: none is needed.
    NotNeeded,
    /// Needed and not known yet; the last failure to get one, if any (the error expired
    /// batches report).
    Wanted(Option<ClientError>),
    /// Known (and given to the accumulator).
    Known(i64),
}

/// A partition being retried, from its first failed attempt until an attempt succeeds or its
/// batch fails for good.
#[derive(Debug)]
struct Retrying {
    since: Instant,
    attempts: u32,
    last_error: ClientError,
}

/// A partition whose last produce attempt failed with a retriable error: its batch waits to be
/// sent again ([`Producer::retrying`]).
#[derive(Clone, Debug)]
pub struct RetryingPartition {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// Attempts that carried its oldest unacknowledged batch, all failed.
    pub attempts: u32,
    /// Why the last one failed: the broker's refusal with its code and message
    /// (`NOT_ENOUGH_REPLICAS (19): not enough replicas: ...`), a timeout, a lost connection.
    pub last_error: ClientError,
    /// Since the first of those failed attempts.
    pub failing_for: Duration,
}

#[derive(Debug)]
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.wake_sender.notify_one();
    }
}

/// When a `send` stops waiting: `max_block` after it first has to wait. The clock is read
/// then, not on every send (most never wait, and a clock read costs about as much as
/// encoding a small record).
#[derive(Debug)]
struct Deadline {
    max_block: Duration,
    at: Option<Instant>,
}

impl Deadline {
    fn new(max_block: Duration) -> Deadline {
        Deadline {
            max_block,
            at: None,
        }
    }

    fn at(&mut self) -> Instant {
        *self
            .at
            .get_or_insert_with(|| Instant::now() + self.max_block)
    }
}

impl Producer {
    pub(crate) fn start(
        cluster: Arc<Cluster>,
        config: ProducerConfig,
    ) -> Result<Producer, ClientError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::Config("a producer needs a tokio runtime to run on".into())
        })?;
        let idempotent = config.is_idempotent();
        let accumulator = Accumulator::new(AccumulatorConfig {
            batch_bytes: config.batch_bytes,
            buffer_bytes: config.buffer_bytes,
            linger: config.linger,
            compression: config.compression,
        });
        let inner = Arc::new(Inner {
            cluster,
            config,
            state: Mutex::new(State {
                accumulator,
                routes: BTreeMap::new(),
                flush_upto: None,
                closing: false,
                retrying: BTreeMap::new(),
                producer_id: if idempotent {
                    ProducerId::Wanted(None)
                } else {
                    ProducerId::NotNeeded
                },
            }),
            wake_sender: Notify::new(),
            progress: Notify::new(),
        });
        runtime.spawn(run_sender(Arc::clone(&inner)));
        Ok(Producer {
            _close_on_drop: Arc::new(CloseOnDrop(Arc::clone(&inner))),
            inner,
        })
    }

    /// Appends `record` to its partition's batch and returns the future of its
    /// acknowledgement. Waits, at most `max_block`, for the topic's metadata and for room in
    /// the buffer.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn keeps the record in its future twice (as its argument and as its \
                  local), and every send sets up and moves that future"
    )]
    pub fn send(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<DeliveryFuture, ClientError>> + Send + '_ {
        async move {
            // A send that finds room never waits: without this, a loop of sends on a
            // current-thread runtime would starve the sender task (and the connection's reads
            // and writes) until the buffer fills, and the broker's round trip would never
            // overlap the appends. The task yields when its coop budget runs out, as on a
            // socket.
            tokio::task::coop::consume_budget().await;
            match self.try_send(&record)? {
                Attempt::Appended(delivery) => Ok(delivery),
                // Boxed: the waits hold timers and a whole metadata request, and in place they
                // would make every send's future kilobytes to set up and move, for the few
                // sends that wait.
                attempt => Box::pin(self.send_waiting(&record, attempt)).await,
            }
        }
    }

    /// `send` once it has to wait: for the topic's metadata, then for room in the buffer.
    async fn send_waiting(
        &self,
        record: &Record,
        mut attempt: Attempt,
    ) -> Result<DeliveryFuture, ClientError> {
        let mut deadline = Deadline::new(self.inner.config.max_block);
        loop {
            match attempt {
                Attempt::Appended(delivery) => return Ok(delivery),
                Attempt::Unrouted => {
                    self.route(&record.topic, &mut deadline).await?;
                    attempt = self.try_send(record)?;
                }
                Attempt::Full {
                    topic_partition,
                    timestamp,
                } => {
                    let wait =
                        self.wait_and_append(record, &topic_partition, timestamp, &mut deadline);
                    return wait.await;
                }
            }
        }
    }

    /// One attempt under the lock, without waiting: picks the record's partition from the
    /// topic's route and appends the record to it.
    fn try_send(&self, record: &Record) -> Result<Attempt, ClientError> {
        // Read again by the attempt after a wait for metadata: as Kafka's, the timestamp is
        // taken once the topic is known.
        let timestamp = record.timestamp.unwrap_or_else(Timestamp::now);
        let generation = self.inner.cluster.metadata_generation();
        let mut state = self.inner.lock();
        let State {
            accumulator,
            routes,
            closing,
            ..
        } = &mut *state;
        let Some(route) = routes
            .get_mut(record.topic.as_str())
            .filter(|route| route.generation == generation)
        else {
            return Ok(Attempt::Unrouted);
        };
        let topic_partition = route.choose(record)?;
        let appended = with_encoded(record, timestamp, |encoded| {
            let config = &self.inner.config;
            let size = record_size_bound(encoded) + HEADER_LEN;
            if size > config.max_request_bytes {
                return Err(ClientError::RecordTooLarge {
                    size,
                    limit: "max_request_bytes",
                    max: config.max_request_bytes,
                });
            }
            self.inner
                .append(accumulator, *closing, topic_partition, encoded, timestamp)
        })?;
        let Some((delivery, opened)) = appended else {
            return Ok(Attempt::Full {
                topic_partition: topic_partition.clone(),
                timestamp,
            });
        };
        drop(state);
        Ok(Attempt::Appended(self.inner.appended(delivery, opened)))
    }

    /// Waits (within the deadline) until the metadata cache knows `topic`, and routes the
    /// topic with its partition count.
    async fn route(&self, topic: &str, deadline: &mut Deadline) -> Result<(), ClientError> {
        loop {
            if let Some((partition_count, generation)) =
                self.inner.cluster.cached_partition_count(topic)
            {
                let mut state = self.inner.lock();
                let route = state.routes.entry(topic.to_string()).or_default();
                route.update(topic, partition_count, generation);
                return Ok(());
            }
            let cluster = &self.inner.cluster;
            tokio::time::timeout_at(deadline.at(), cluster.partition_count(topic, deadline.at()))
                .await
                .map_err(|_| ClientError::Timeout {
                    what: format!("metadata for topic {topic}"),
                    after: self.inner.config.max_block,
                })??;
        }
    }

    /// Waits for room in the buffer (or fails, as `buffer_full` says) and appends.
    async fn wait_and_append(
        &self,
        record: &Record,
        topic_partition: &TopicPartition,
        timestamp: Timestamp,
        deadline: &mut Deadline,
    ) -> Result<DeliveryFuture, ClientError> {
        loop {
            // Armed before the attempt, so room freed between a full buffer and the wait is not
            // missed.
            let progress = self.inner.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let appended = with_encoded(record, timestamp, |encoded| {
                let mut state = self.inner.lock();
                let closing = state.closing;
                let accumulator = &mut state.accumulator;
                self.inner
                    .append(accumulator, closing, topic_partition, encoded, timestamp)
            })?;
            if let Some((delivery, opened)) = appended {
                return Ok(self.inner.appended(delivery, opened));
            }
            let config = &self.inner.config;
            tokio::time::timeout_at(deadline.at(), progress)
                .await
                .map_err(|_| ClientError::Timeout {
                    what: format!(
                        "waiting for room in the producer buffer ({} bytes)",
                        config.buffer_bytes
                    ),
                    after: config.max_block,
                })?;
        }
    }

    /// Sends every record appended before the call at once (ignoring `linger`) and waits until
    /// each is acknowledged or failed (the records' futures tell which). Bounded by
    /// `delivery_timeout`.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let target = {
            let mut state = self.inner.lock();
            let Some(last) = state.accumulator.last_batch_id() else {
                return Ok(());
            };
            state.flush_upto = Some(state.flush_upto.map_or(last, |upto| upto.max(last)));
            last
        };
        self.inner.wake_sender.notify_one();
        loop {
            let progress = self.inner.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let oldest = self.inner.lock().accumulator.oldest_outstanding();
            if oldest.is_none_or(|id| id > target) {
                return Ok(());
            }
            progress.await;
        }
    }

    /// Refuses further records, then delivers the ones already sent (as [`flush`](Self::flush)).
    pub async fn close(&self) -> Result<(), ClientError> {
        self.inner.lock().closing = true;
        self.inner.wake_sender.notify_one();
        self.flush().await
    }

    /// The idempotent producer's id, once InitProducerId gave it (before its first batch is
    /// sent); `None` for a producer that is not idempotent.
    pub fn producer_id(&self) -> Option<i64> {
        match self.inner.lock().producer_id {
            ProducerId::Known(producer_id) => Some(producer_id),
            ProducerId::NotNeeded | ProducerId::Wanted(_) => None,
        }
    }

    /// Bytes of records appended and not yet acknowledged or failed.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.lock().accumulator.buffer_used()
    }

    /// The partitions being retried now, in partition order: each one's last attempt failed
    /// with a retriable error (NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER, a timeout, a lost
    /// connection) and its batch waits to be sent again. A partition is listed from its first
    /// failed attempt until an attempt succeeds or its batch fails for good (a final error, or
    /// `delivery_timeout`); empty while every partition's last attempt succeeded.
    ///
    /// Retries are otherwise silent until `delivery_timeout` fails the records: a program polls
    /// this to say why its records wait (`ringlog produce` prints it every few seconds). One
    /// lock and one entry per partition listed.
    pub fn retrying(&self) -> Vec<RetryingPartition> {
        let now = Instant::now();
        let state = self.inner.lock();
        state
            .retrying
            .iter()
            .map(|(topic_partition, retrying)| RetryingPartition {
                topic_partition: topic_partition.clone(),
                attempts: retrying.attempts,
                last_error: retrying.last_error.clone(),
                failing_for: now.saturating_duration_since(retrying.since),
            })
            .collect()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("producer state lock poisoned")
    }

    /// Appends to the partition's batch, under the lock: the record's future and whether it
    /// opened a batch, or `None` when the buffer is full and `send` should wait.
    fn append(
        &self,
        accumulator: &mut Accumulator<Completion>,
        closing: bool,
        topic_partition: &TopicPartition,
        record: &ringlog_format::Record<'_>,
        timestamp: Timestamp,
    ) -> Result<Option<(DeliveryFuture, bool)>, ClientError> {
        if closing {
            return Err(ClientError::Closed);
        }
        let open_batch = || {
            let outcome = SharedOutcome::new(topic_partition.clone());
            (Instant::now().into_std(), Completion { outcome })
        };
        let joined = |completion: &Completion| Arc::clone(&completion.outcome);
        let appended = accumulator.append(topic_partition, record, open_batch, joined);
        let config = &self.config;
        match appended {
            Ok(appended) => {
                let delivery = DeliveryFuture {
                    outcome: appended.joined,
                    index: appended.index,
                    timestamp,
                };
                Ok(Some((delivery, appended.opened)))
            }
            Err(AppendError::TooLarge { size }) => Err(ClientError::RecordTooLarge {
                size,
                limit: "buffer_bytes",
                max: config.buffer_bytes,
            }),
            Err(AppendError::BufferFull { used, needed }) => match config.buffer_full {
                BufferFullPolicy::Error => Err(ClientError::BufferFull {
                    used,
                    buffer_bytes: config.buffer_bytes,
                    needed,
                }),
                BufferFullPolicy::Block => Ok(None),
            },
        }
    }

    /// After the lock is released: the sender is woken only when an append opened a batch
    /// (to time its `linger` and send the one it closed), not for every record.
    fn appended(&self, delivery: DeliveryFuture, opened: bool) -> DeliveryFuture {
        if opened {
            self.wake_sender.notify_one();
        }
        delivery
    }
}

/// Where [`Producer::try_send`] got to.
#[derive(Debug)]
enum Attempt {
    /// Appended: the record's future.
    Appended(DeliveryFuture),
    /// The topic has no route, or the metadata changed since it was made: learn it, then try
    /// again.
    Unrouted,
    /// The buffer is full: wait for room, then append to this partition (chosen once) with
    /// this timestamp.
    Full {
        topic_partition: TopicPartition,
        timestamp: Timestamp,
    },
}

/// Calls `f` with `record` as the batch builder takes it, stamped with `timestamp`.
fn with_encoded<R>(
    record: &Record,
    timestamp: Timestamp,
    f: impl FnOnce(&ringlog_format::Record<'_>) -> R,
) -> R {
    let headers: Vec<Header<'_>> = record
        .headers
        .iter()
        .map(|(key, value)| Header {
            key,
            value: value.as_deref(),
        })
        .collect();
    f(&ringlog_format::Record {
        key: record.key.as_deref(),
        value: record.value.as_deref(),
        headers: &headers,
        timestamp: timestamp.0,
    })
}

/// What `send` needs of a topic, kept across sends so that a record costs no lookup in the
/// metadata and no `String`: its partition count as of a metadata generation, the round
/// robin's place, and a key per partition.
#[derive(Debug, Default)]
struct Route {
    /// The metadata generation `partitions` was read at; a newer one makes `send` read it
    /// again.
    generation: u64,
    partitions: Vec<TopicPartition>,
    round_robin: RoundRobin,
}

impl Route {
    /// Takes in the topic's partition count as of metadata `generation`; the round robin
    /// goes on from where it was.
    fn update(&mut self, topic: &str, partition_count: u32, generation: u64) {
        self.generation = generation;
        let count = partition_count as usize;
        self.partitions.truncate(count);
        let known = self.partitions.len() as u32;
        let added = (known..partition_count).map(|partition| TopicPartition::new(topic, partition));
        self.partitions.extend(added);
    }

    /// The record's partition: its own, else Kafka's murmur2 of the key, else round robin.
    fn choose(&mut self, record: &Record) -> Result<&TopicPartition, ClientError> {
        let partition_count = u32::try_from(self.partitions.len()).expect("counted from a u32");
        let partition = match (record.partition, &record.key) {
            (Some(partition), _) => partition,
            (None, Some(key)) => partition_for_key(key, partition_count),
            (None, None) => self.round_robin.next(partition_count),
        };
        self.partitions
            .get(partition as usize)
            .ok_or_else(|| ClientError::UnknownPartition {
                topic_partition: TopicPartition::new(record.topic.clone(), partition),
                partition_count,
            })
    }
}

/// Batches for one Produce request to one broker.
#[derive(Debug)]
struct PlannedRequest {
    broker: BrokerId,
    /// A partition's batches are next to each other, in their order: they go as one records
    /// field, back to back.
    batches: Vec<Batch<Completion>>,
    bytes: usize,
}

impl PlannedRequest {
    /// Whether the request has a batch of `topic_partition` already.
    fn carries(&self, topic_partition: &TopicPartition) -> bool {
        self.batches
            .iter()
            .any(|batch| &batch.topic_partition == topic_partition)
    }
}

/// What the sender does next.
#[derive(Debug)]
struct Plan {
    requests: Vec<PlannedRequest>,
    /// When a batch not ready now becomes ready.
    next_check: Option<Instant>,
    /// The metadata the leaders were looked up in.
    generation: u64,
    /// False when a ready partition has no known leader: its batch waits for a refresh.
    leaders_known: bool,
}

/// A Produce request's batches and how it went.
#[derive(Debug)]
struct Sent {
    broker: BrokerId,
    batches: Vec<Batch<Completion>>,
    result: Result<Response, ClientError>,
    generation: u64,
}

/// The sender task: sends what is ready, handles answers, sleeps until the next linger or
/// backoff ends; stops once the producer is closed and nothing is left.
async fn run_sender(inner: Arc<Inner>) {
    let (done, mut answers) = mpsc::unbounded_channel::<Sent>();
    let mut lanes = Lanes::new(Arc::clone(&inner), done);
    let mut requests_out = 0usize;
    let mut stale_generation: Option<u64> = None;
    loop {
        if let Some(generation) = stale_generation.take() {
            // A failed refresh leaves the leaders unknown: the batches wait and retry.
            let _ = inner.cluster.refresh_metadata(generation).await;
        }
        inner.cluster.refresh_if_stale();
        let id_wanted = inner.producer_id_wanted() && !inner.init_producer_id().await;
        let now = Instant::now();
        let plan = inner.plan(now);
        if !plan.leaders_known {
            stale_generation = Some(plan.generation);
        }
        for request in plan.requests {
            requests_out += 1;
            lanes.queue(request, plan.generation);
        }
        if requests_out == 0 && inner.finished() {
            return;
        }
        let backoff_check = (stale_generation.is_some() || id_wanted)
            .then(|| now + inner.cluster.config.retry_backoff);
        let wake_at = backoff_check
            .into_iter()
            .chain(plan.next_check)
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        tokio::select! {
            Some(sent) = answers.recv() => {
                requests_out -= 1;
                if inner.handle_answer(sent.batches, sent.result, sent.broker) {
                    stale_generation = Some(sent.generation);
                }
            }
            () = inner.wake_sender.notified() => {}
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

/// Queues each broker's requests on its connection in the order they were planned (so an
/// idempotent producer's batches of a partition reach its leader in sequence order), a lane
/// per broker so that one broker's connecting never holds up another's. The answers come back
/// to the sender task through `done`.
struct Lanes {
    inner: Arc<Inner>,
    done: mpsc::UnboundedSender<Sent>,
    lanes: BTreeMap<BrokerId, mpsc::UnboundedSender<(PlannedRequest, u64)>>,
}

impl Lanes {
    fn new(inner: Arc<Inner>, done: mpsc::UnboundedSender<Sent>) -> Lanes {
        Lanes {
            inner,
            done,
            lanes: BTreeMap::new(),
        }
    }

    /// Queues `request` behind the requests planned before it for its broker.
    fn queue(&mut self, request: PlannedRequest, generation: u64) {
        let broker = request.broker;
        let lane = self.lanes.entry(broker).or_insert_with(|| {
            let (lane, queued) = mpsc::unbounded_channel();
            tokio::spawn(run_lane(Arc::clone(&self.inner), queued, self.done.clone()));
            lane
        });
        if let Err(mpsc::error::SendError((request, generation))) = lane.send((request, generation))
        {
            // The lane task ended (its runtime is going down): the batches fail with it.
            let _ = self.done.send(Sent {
                broker,
                batches: request.batches,
                result: Err(ClientError::Closed),
                generation,
            });
        }
    }
}

/// One broker's lane: queues each request on the broker's connection in turn, then waits for
/// its answer aside and reports it.
async fn run_lane(
    inner: Arc<Inner>,
    mut queued: mpsc::UnboundedReceiver<(PlannedRequest, u64)>,
    done: mpsc::UnboundedSender<Sent>,
) {
    let server_wait = match inner.config.acks {
        Acks::All => inner.config.ack_timeout,
        Acks::None | Acks::Leader => Duration::ZERO,
    };
    while let Some((planned, generation)) = queued.recv().await {
        let request = Request::Produce(produce_request(&inner.config, &planned.batches));
        let answer = inner
            .cluster
            .enqueue_to_broker(planned.broker, request, server_wait)
            .await;
        let done = done.clone();
        tokio::spawn(async move {
            let result = match answer {
                Ok(answer) => answer.wait().await,
                Err(error) => Err(error),
            };
            let _ = done.send(Sent {
                broker: planned.broker,
                batches: planned.batches,
                result,
                generation,
            });
        });
    }
}

impl Inner {
    /// Whether the producer needs its producer id before anything can be sent: idempotent,
    /// without one yet, and with records to send.
    fn producer_id_wanted(&self) -> bool {
        let state = self.lock();
        matches!(state.producer_id, ProducerId::Wanted(_)) && !state.accumulator.is_idle()
    }

    /// Asks any broker for a producer id (InitProducerId, retried within `request_timeout`);
    /// whether it has one now.
    async fn init_producer_id(&self) -> bool {
        let answer = Admin::new(Arc::clone(&self.cluster))
            .init_producer_id()
            .await;
        let mut state = self.lock();
        match answer {
            Ok(identity) => {
                state.accumulator.set_producer_id(identity.producer_id);
                state.producer_id = ProducerId::Known(identity.producer_id);
                true
            }
            Err(error) => {
                state.producer_id = ProducerId::Wanted(Some(error));
                false
            }
        }
    }

    /// Fails expired batches and takes the ready ones, grouped into requests per leader.
    fn plan(&self, now: Instant) -> Plan {
        let mut state = self.lock();
        let expired = state
            .accumulator
            .expire(now.into_std(), self.config.delivery_timeout);
        if !expired.is_empty() {
            for batch in expired {
                // Expired while waiting: every attempt so far failed and was retried, or no
                // producer id could be had to send it with.
                let last_error = match &state.producer_id {
                    ProducerId::Wanted(Some(error)) if batch.last_error.is_none() => {
                        Some(error.clone())
                    }
                    _ => batch.last_error.clone(),
                };
                let error = self.delivery_timeout(&batch, batch.retries, last_error);
                state.retrying.remove(&batch.topic_partition);
                fail_batch(batch, &error);
            }
            self.progress.notify_waiters();
        }
        let metadata = self.cluster.metadata();
        let generation = metadata.generation();
        let mut requests: Vec<PlannedRequest> = Vec::new();
        let mut leaders_known = true;
        let State {
            accumulator,
            flush_upto,
            closing,
            producer_id,
            ..
        } = &mut *state;
        if let ProducerId::Wanted(_) = producer_id {
            // Nothing goes without the producer id; the sender asks again after a backoff.
            return Plan {
                requests,
                next_check: None,
                generation,
                leaders_known,
            };
        }
        let idempotent = matches!(producer_id, ProducerId::Known(_));
        // An idempotent producer's request carries one batch of a partition, and up to five of
        // a partition's are out at once: as long as partitions stay ready, each pass takes
        // one more batch of each, into a request of its own where needed.
        let next_check = loop {
            let readiness = accumulator.ready(now.into_std(), *flush_upto, *closing);
            let mut took = false;
            for topic_partition in &readiness.ready {
                let Ok(leader) = metadata.leader(topic_partition) else {
                    leaders_known = false;
                    continue;
                };
                let len = accumulator
                    .front_len(topic_partition)
                    .expect("ready has a batch");
                let max = self.config.max_request_bytes;
                let open = requests.iter().rposition(|request| {
                    request.broker == leader.broker
                        && request.bytes + len <= max
                        && !(idempotent && request.carries(topic_partition))
                });
                let index = open.unwrap_or_else(|| {
                    requests.push(PlannedRequest {
                        broker: leader.broker,
                        batches: Vec::new(),
                        bytes: 0,
                    });
                    requests.len() - 1
                });
                let request = &mut requests[index];
                // The front batch, and without idempotence the partition's backlog behind it,
                // as the request has room.
                let taken = accumulator.take(topic_partition, max - request.bytes);
                assert!(!taken.is_empty(), "ready is not muted");
                request.bytes += taken.iter().map(|batch| batch.bytes().len()).sum::<usize>();
                request.batches.extend(taken);
                took = true;
            }
            if !idempotent || !took {
                break readiness.next_check;
            }
        };
        Plan {
            requests,
            next_check: next_check.map(Instant::from_std),
            generation,
            leaders_known,
        }
    }

    fn finished(&self) -> bool {
        let state = self.lock();
        state.closing && state.accumulator.is_idle()
    }

    /// Completes, retries or fails each batch of an answered (or failed) request; whether the
    /// metadata should be refreshed.
    fn handle_answer(
        &self,
        batches: Vec<Batch<Completion>>,
        result: Result<Response, ClientError>,
        broker: BrokerId,
    ) -> bool {
        let outcomes = outcomes(batches, result, broker);
        let now = Instant::now();
        let backoff = self.cluster.backoff();
        let mut refresh = false;
        let mut retries = Vec::new();
        let mut state = self.lock();
        for (batch, outcome) in outcomes {
            let error = match outcome {
                Ok(base_offset) => {
                    state.accumulator.complete(&batch);
                    state.retrying.remove(&batch.topic_partition);
                    complete_batch(batch, base_offset);
                    continue;
                }
                Err(error) => error,
            };
            let deadline = batch.created + self.config.delivery_timeout;
            let decision = match sequence_verdict(&mut state.accumulator, &batch, &error) {
                SequenceVerdict::Delivered => {
                    state.accumulator.complete(&batch);
                    state.retrying.remove(&batch.topic_partition);
                    complete_batch(batch, None);
                    continue;
                }
                SequenceVerdict::SendAgain if now.into_std() < deadline => RetryDecision::RetryAt {
                    at: now.into_std() + backoff.initial,
                    refresh_metadata: false,
                },
                SequenceVerdict::SendAgain => RetryDecision::DeadlinePassed,
                SequenceVerdict::Other => {
                    backoff::decide(backoff, &error, batch.retries, now.into_std(), deadline)
                }
            };
            match decision {
                RetryDecision::RetryAt {
                    at,
                    refresh_metadata,
                } => {
                    refresh |= refresh_metadata;
                    note_retry(&mut state.retrying, &batch, &error, now);
                    retries.push((batch, at, error));
                }
                RetryDecision::GiveUp => {
                    state.accumulator.complete(&batch);
                    state.retrying.remove(&batch.topic_partition);
                    fail_batch(batch, &error);
                }
                RetryDecision::DeadlinePassed => {
                    state.accumulator.complete(&batch);
                    state.retrying.remove(&batch.topic_partition);
                    let error = self.delivery_timeout(&batch, batch.retries + 1, Some(error));
                    fail_batch(batch, &error);
                }
            }
        }
        // Last first: a partition's batches go back to the front of its queue in their order.
        for (batch, at, error) in retries.into_iter().rev() {
            state.accumulator.retry(batch, at, error);
        }
        drop(state);
        self.progress.notify_waiters();
        self.wake_sender.notify_one();
        refresh
    }

    fn delivery_timeout(
        &self,
        batch: &Batch<Completion>,
        attempts: u32,
        last_error: Option<ClientError>,
    ) -> ClientError {
        ClientError::DeliveryTimeout {
            topic_partition: batch.topic_partition.clone(),
            delivery_timeout: self.config.delivery_timeout,
            attempts,
            last_error: last_error.map(Box::new),
        }
    }
}

/// Records that `batch`'s attempt failed with `error` and will be retried. Batches of a
/// partition sent together fail together: the partition's attempts are its oldest batch's.
fn note_retry(
    retrying: &mut BTreeMap<TopicPartition, Retrying>,
    batch: &Batch<Completion>,
    error: &ClientError,
    now: Instant,
) {
    let attempts = batch.retries + 1;
    let entry = retrying
        .entry(batch.topic_partition.clone())
        .or_insert_with(|| Retrying {
            since: now,
            attempts,
            last_error: error.clone(),
        });
    entry.attempts = entry.attempts.max(attempts);
    entry.last_error = error.clone();
}

/// What an idempotent producer's batch refused for its sequence means.
enum SequenceVerdict {
    /// DUPLICATE_SEQUENCE_NUMBER: appended before (its records since deleted), so delivered;
    /// its offsets are not known.
    Delivered,
    /// Out of sequence behind a batch still missing (it is sent again after that one), or the
    /// partition's leader lost the producer's batches before it: the partition starts its next
    /// epoch and its batches not acknowledged go again from sequence 0 (KIP-360).
    SendAgain,
    /// Not a sequence refusal (or not an idempotent batch): the usual retry rules.
    Other,
}

fn sequence_verdict(
    accumulator: &mut Accumulator<Completion>,
    batch: &Batch<Completion>,
    error: &ClientError,
) -> SequenceVerdict {
    if batch.stamped().is_none() {
        return SequenceVerdict::Other;
    }
    match error.error_code() {
        Some(ErrorCode::DUPLICATE_SEQUENCE_NUMBER) => SequenceVerdict::Delivered,
        Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID) => {
            if accumulator.is_first_unacknowledged(batch)
                && accumulator.bump_epoch(&batch.topic_partition).is_none()
            {
                // Every epoch of the producer id used up on this partition: it fails.
                return SequenceVerdict::Other;
            }
            SequenceVerdict::SendAgain
        }
        _ => SequenceVerdict::Other,
    }
}

fn produce_request(config: &ProducerConfig, batches: &[Batch<Completion>]) -> ProduceRequest {
    let mut topics: BTreeMap<&str, Vec<ProducePartition>> = BTreeMap::new();
    for group in batches.chunk_by(|a, b| a.topic_partition == b.topic_partition) {
        let topic_partition = &group[0].topic_partition;
        let records = match group {
            [batch] => batch.bytes(),
            // A partition's backlog: its batches back to back in one records field, which the
            // broker appends whole or not at all.
            _ => {
                let len = group.iter().map(|batch| batch.bytes().len()).sum();
                let mut records = Vec::with_capacity(len);
                for batch in group {
                    records.extend_from_slice(&batch.bytes());
                }
                Bytes::from(records)
            }
        };
        topics
            .entry(&topic_partition.topic)
            .or_default()
            .push(ProducePartition {
                partition_index: topic_partition.partition,
                records,
            });
    }
    ProduceRequest {
        acks: config.acks,
        timeout: config.ack_timeout,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| Topic {
                name: name.to_string(),
                partitions,
            })
            .collect(),
    }
}

/// A batch's base offset (`None` with acks=0), or the error for it.
type BatchOutcome = Result<Option<Offset>, ClientError>;

/// Each batch's outcome.
fn outcomes(
    batches: Vec<Batch<Completion>>,
    result: Result<Response, ClientError>,
    broker: BrokerId,
) -> Vec<(Batch<Completion>, BatchOutcome)> {
    let response = match result {
        Ok(Response::Produce(response)) => response,
        Ok(Response::Error(error)) => {
            let error = ClientError::broker(
                format!("produce to broker {broker}"),
                error.error_code,
                Some(error.message),
            );
            return batches
                .into_iter()
                .map(|b| (b, Err(error.clone())))
                .collect();
        }
        Ok(other) => {
            let error = unexpected("Produce", &other);
            return batches
                .into_iter()
                .map(|b| (b, Err(error.clone())))
                .collect();
        }
        Err(error) => {
            return batches
                .into_iter()
                .map(|b| (b, Err(error.clone())))
                .collect();
        }
    };
    // Batches sent together for a partition follow each other from its base offset.
    let mut next: Option<(TopicPartition, Offset)> = None;
    batches
        .into_iter()
        .map(|batch| {
            let outcome = partition_outcome(&response, &batch.topic_partition, broker);
            let outcome = match (outcome, next.take()) {
                (Ok(Some(_)), Some((previous, offset))) if previous == batch.topic_partition => {
                    Ok(Some(offset))
                }
                (outcome, _) => outcome,
            };
            if let Ok(Some(base)) = outcome {
                next = Some((
                    batch.topic_partition.clone(),
                    base.plus(batch.record_count()),
                ));
            }
            (batch, outcome)
        })
        .collect()
}

/// One partition's answer in a Produce response.
fn partition_outcome(
    response: &ProduceResponse,
    topic_partition: &TopicPartition,
    broker: BrokerId,
) -> Result<Option<Offset>, ClientError> {
    let answer = response
        .topics
        .iter()
        .filter(|topic| topic.name == topic_partition.topic)
        .flat_map(|topic| &topic.partitions)
        .find(|partition| partition.partition_index == topic_partition.partition);
    let Some(answer) = answer else {
        return Err(ClientError::Protocol {
            address: format!("broker {broker}"),
            detail: format!("produce response has no entry for {topic_partition}"),
        });
    };
    if answer.error_code.is_none() {
        return Ok(answer.base_offset);
    }
    Err(ClientError::broker(
        format!("produce to {topic_partition} on broker {broker}"),
        answer.error_code,
        answer.error_message.clone(),
    ))
}

/// Resolves every record of an acknowledged batch: record `i` is at `base_offset + i`.
fn complete_batch(batch: Batch<Completion>, base_offset: Option<Offset>) {
    batch.completion.outcome.resolve(Ok(base_offset));
}

fn fail_batch(batch: Batch<Completion>, error: &ClientError) {
    batch.completion.outcome.resolve(Err(error.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::ErrorCode;
    use ringlog_wire::api::produce::ProducePartitionResponse;

    #[test]
    fn the_default_config_is_valid_and_limits_are_checked() {
        assert!(ProducerConfig::default().validate().is_ok());
        let error = ProducerConfig {
            batch_bytes: 2 << 20,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: batch_bytes 2097152 exceeds max_request_bytes 1048576"
        );
        let error = ProducerConfig {
            batch_bytes: 61,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            error.to_string().contains("batch_bytes 61 cannot hold"),
            "{error}"
        );
    }

    #[test]
    fn records_build_with_bytes_from_strings_and_vectors() {
        let record = Record::new("orders")
            .key("k")
            .value(vec![1, 2])
            .header("h", Some(Bytes::from_static(b"v")))
            .partition(2);
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(record.value.as_deref(), Some(&[1, 2][..]));
        assert_eq!(record.partition, Some(2));
        assert_eq!(record.headers.len(), 1);
    }

    /// A Produce answer for topic `t`: partition 0 appended at offset 40, partition 1 moved.
    fn answer_40_and_moved() -> ProduceResponse {
        ProduceResponse {
            topics: vec![Topic {
                name: "t".into(),
                partitions: vec![
                    ProducePartitionResponse {
                        partition_index: 0,
                        error_code: ErrorCode::NONE,
                        base_offset: Some(Offset(40)),
                        log_start_offset: Some(Offset(0)),
                        error_message: None,
                    },
                    ProducePartitionResponse {
                        partition_index: 1,
                        error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER,
                        base_offset: None,
                        log_start_offset: None,
                        error_message: Some("moved".into()),
                    },
                ],
            }],
        }
    }

    #[test]
    fn each_partition_reads_its_own_answer() {
        let response = answer_40_and_moved();
        let broker = BrokerId(3);
        assert_eq!(
            partition_outcome(&response, &TopicPartition::new("t", 0), broker).unwrap(),
            Some(Offset(40))
        );
        let error = partition_outcome(&response, &TopicPartition::new("t", 1), broker).unwrap_err();
        assert_eq!(
            error.to_string(),
            "produce to t-1 on broker 3: broker answered NOT_LEADER_OR_FOLLOWER (6): moved"
        );
        let missing =
            partition_outcome(&response, &TopicPartition::new("t", 2), broker).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "protocol error from broker 3: produce response has no entry for t-2"
        );
    }

    /// An accumulator of batches of `batch_bytes`, lingering not at all.
    fn accumulator(batch_bytes: usize) -> Accumulator<Completion> {
        Accumulator::new(AccumulatorConfig {
            batch_bytes,
            buffer_bytes: 1 << 20,
            linger: Duration::ZERO,
            compression: Compression::None,
        })
    }

    /// Appends a record of `value` stamped `timestamp` to `topic_partition`; its future.
    fn append_one(
        accumulator: &mut Accumulator<Completion>,
        topic_partition: &TopicPartition,
        value: &[u8],
        timestamp: i64,
    ) -> DeliveryFuture {
        let record = ringlog_format::Record {
            value: Some(value),
            timestamp,
            ..Default::default()
        };
        let open_batch = || {
            let outcome = SharedOutcome::new(topic_partition.clone());
            (std::time::Instant::now(), Completion { outcome })
        };
        let joined = |completion: &Completion| Arc::clone(&completion.outcome);
        let appended = accumulator
            .append(topic_partition, &record, open_batch, joined)
            .unwrap();
        DeliveryFuture {
            outcome: appended.joined,
            index: appended.index,
            timestamp: Timestamp(timestamp),
        }
    }

    #[tokio::test]
    async fn a_backlog_goes_as_one_records_field_and_its_batches_get_consecutive_offsets() {
        let value = [5u8; 100];
        // Two records a batch.
        let mut accumulator = accumulator(HEADER_LEN + 2 * 140);
        let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        // Five records: two full batches and an open one on partition 0; one on partition 1.
        let futures: Vec<_> = (0..5)
            .map(|_| append_one(&mut accumulator, &p0, &value, 1))
            .collect();
        let moved = append_one(&mut accumulator, &p1, &value, 1);
        let mut batches = accumulator.take(&p0, usize::MAX);
        assert_eq!(batches.len(), 2);
        batches.extend(accumulator.take(&p1, usize::MAX));

        let request = produce_request(&ProducerConfig::default(), &batches);
        let partitions = &request.topics[0].partitions;
        assert_eq!(partitions.len(), 2);
        let counts: Vec<_> = ringlog_format::BatchIter::new(&partitions[0].records, 1 << 20)
            .map(|batch| batch.unwrap().header.record_count)
            .collect();
        assert_eq!(counts, [2, 2]);

        let response = answer_40_and_moved();
        let outcomes = outcomes(batches, Ok(Response::Produce(response)), BrokerId(1));
        for (batch, outcome) in outcomes {
            match outcome {
                Ok(base_offset) => complete_batch(batch, base_offset),
                Err(error) => fail_batch(batch, &error),
            }
        }
        for (i, future) in futures.into_iter().take(4).enumerate() {
            assert_eq!(future.await.unwrap().offset, Some(Offset(40 + i as u64)));
        }
        assert!(moved.await.is_err());
    }

    #[tokio::test]
    async fn a_batch_dropped_unresolved_resolves_its_records_as_closed() {
        let outcome = SharedOutcome::new(TopicPartition::new("t", 0));
        let completion = Completion {
            outcome: Arc::clone(&outcome),
        };
        let future = DeliveryFuture {
            outcome,
            index: 0,
            timestamp: Timestamp(0),
        };
        drop(completion);
        assert!(matches!(future.await, Err(ClientError::Closed)));
    }

    #[tokio::test]
    async fn a_resolved_batch_keeps_its_outcome_when_dropped() {
        let outcome = SharedOutcome::new(TopicPartition::new("t", 0));
        let completion = Completion {
            outcome: Arc::clone(&outcome),
        };
        completion.outcome.resolve(Ok(Some(Offset(7))));
        drop(completion);
        assert!(matches!(outcome.result.get(), Some(Ok(Some(Offset(7))))));
    }

    #[tokio::test]
    async fn records_of_a_batch_resolve_in_order_with_consecutive_offsets() {
        let mut accumulator = accumulator(1 << 20);
        let topic_partition = TopicPartition::new("t", 0);
        let answers: Vec<_> = (0..3)
            .map(|i| append_one(&mut accumulator, &topic_partition, b"v", i))
            .collect();
        let batch = accumulator.take(&topic_partition, 0).pop().unwrap();
        complete_batch(batch, Some(Offset(100)));
        for (i, answer) in answers.into_iter().enumerate() {
            let metadata = answer.await.unwrap();
            assert_eq!(metadata.offset, Some(Offset(100 + i as u64)));
            assert_eq!(metadata.timestamp, Timestamp(i as i64));
        }
    }
}
