//! The Kafka rows' clients: librdkafka (the rdkafka crate, the C library built from source),
//! talking Kafka's protocol to the brokers' `PLAINTEXT` listeners, on the calling thread of the
//! harness process (librdkafka runs its own IO threads behind it). They mirror `ringlog perf
//! produce` and `ringlog perf consume`, so a Kafka row and its thin twin differ in the protocol
//! and the client, and in the producer's batching only as far as it takes for both to send
//! requests of about the same size:
//!
//! | setting                 | producer                              | consumer                      |
//! |-------------------------|---------------------------------------|-------------------------------|
//! | batching                | `batch.size` [`KAFKA_BATCH_BYTES`], `linger.ms` [`KAFKA_LINGER_MS`]: one partition's batch per request, about as large as the thin producer's requests | - |
//! | buffer                  | `queue.buffering.max.kbytes` 32 MiB (the thin producer's `buffer_bytes`) | prefetch up to `queued.max.messages.kbytes` (64 MiB, the default), looked at every 10 ms |
//! | request size            | `message.max.bytes` 1 MiB (`max_request_bytes`) | `fetch.max.bytes` 50 MiB, `max.partition.fetch.bytes` 1 MiB, `fetch.min.bytes` 1, `fetch.wait.max.ms` 500 (the thin consumer's) |
//! | partitions              | round robin, record by record (as the thin producer's keyless records) | all, assigned from the beginning |
//! | delivery                | `acks` 1 or all, `compression.type` none, `enable.idempotence` false (as its thin twin's `--idempotence false`: the rows compare the protocols, not idempotence) | `enable.auto.commit` false: no group is joined (assign mode); a `group.id` is set only because librdkafka's `assign` needs one |
//!
//! The producer's clock runs from the first send to the last acknowledgement; one record in
//! `LATENCY_SAMPLE` has its send-to-acknowledgement time measured, as the thin producer
//! samples. The consumer's runs from its assignment to the record that completes the count.
//! Bytes are value (and key) bytes, as the thin clients count them.
//!
//! librdkafka's log lines and errors are kept, not printed (they would land between the
//! progress lines): the last one is named when a client fails.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::plan::{Acks, KAFKA_BATCH_BYTES, KAFKA_LINGER_MS};
use super::process::check_interrupted;
use super::results::Latency;
use super::workload::{Figures, combined};

/// One record in this many has its send-to-acknowledgement time measured (as `perf produce`).
const LATENCY_SAMPLE: u64 = 16;
/// Sends between two polls of the producer's delivery reports.
const POLL_EVERY: u64 = 1024;
/// How long a wait for queue room or a record lasts before the deadline is looked at again.
const WAIT_STEP: Duration = Duration::from_millis(100);
/// How long the consumer waits for a record before it gives up (as the thin consumer's
/// `--timeout-ms`).
const CONSUMER_IDLE: Duration = Duration::from_secs(30);
/// How long a metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// The group librdkafka's `assign` needs; never joined, nothing committed.
const GROUP: &str = "ringlog-bench";

/// `librdkafka VERSION`, for the results.
pub fn client_name() -> String {
    format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1)
}

/// Sends `records` records of `record_size` bytes into `topic` (its `partitions` partitions
/// round robin) with `acks`, by `deadline`; the producer's figures. Fails if a record was not
/// delivered.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    records: u64,
    record_size: u32,
    acks: Acks,
    deadline: Instant,
) -> Result<Figures> {
    let producer: BaseProducer<Deliveries> = producer_config(bootstrap, acks)
        .create_with_context(Deliveries::new()?)
        .context("create a librdkafka producer")?;
    // The topic's metadata before the clock starts, as the thin producer has it.
    producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .with_context(|| format!("librdkafka metadata of {topic}"))?;
    let payload: Vec<u8> = (0..record_size).map(|i| b'A' + (i % 26) as u8).collect();
    let started = Instant::now();
    let clock = producer.context().started;
    for i in 0..records {
        let sent_at = if i % LATENCY_SAMPLE == 0 {
            micros_since(clock) + 1
        } else {
            0
        };
        let partition = i32::try_from(i % u64::from(partitions)).expect("partitions fit i32");
        let record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_at)
            .partition(partition)
            .payload(&payload);
        send(&producer, record, deadline)?;
        if i % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    flush(&producer, deadline)?;
    let seconds = started.elapsed().as_secs_f64();
    let deliveries = producer.context();
    let (acknowledged, failed) = (
        deliveries.acknowledged.load(Ordering::Relaxed),
        deliveries.failed.load(Ordering::Relaxed),
    );
    if failed > 0 || acknowledged != records {
        bail!(
            "librdkafka delivered {acknowledged} of {records} records to {topic}, {failed} failed: {}",
            deliveries.first_failure.last()
        );
    }
    Ok(Figures {
        rate: combined([(acknowledged, acknowledged * u64::from(record_size), seconds)]),
        latency: Some(deliveries.latency()),
        consumer: None,
        throttle: None,
    })
}

/// Reads `records` records of `topic`, every partition from its beginning, by `deadline`; the
/// consumer's figures.
pub fn consume(bootstrap: &str, topic: &str, records: u64, deadline: Instant) -> Result<Figures> {
    let consumer: BaseConsumer<KeptLog> = consumer_config(bootstrap)
        .create_with_context(KeptLog::default())
        .context("create a librdkafka consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .with_context(|| format!("librdkafka metadata of {topic}"))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .filter(|&n| n > 0)
        .with_context(|| format!("librdkafka sees no partitions of {topic}"))?;
    let mut assignment = TopicPartitionList::with_capacity(partitions);
    for partition in 0..partitions {
        let partition = i32::try_from(partition).expect("partitions fit i32");
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    let started = Instant::now();
    consumer.assign(&assignment).context("librdkafka assign")?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut last_record = Instant::now();
    while count < records {
        check_interrupted()?;
        if Instant::now() >= deadline {
            bail!("librdkafka consumer: {count} of {records} records of {topic} by the deadline");
        }
        match consumer.poll(WAIT_STEP) {
            Some(Ok(message)) => {
                let key = message.key().map_or(0, <[u8]>::len);
                let value = message.payload().map_or(0, <[u8]>::len);
                bytes += (key + value) as u64;
                count += 1;
                last_record = Instant::now();
            }
            Some(Err(error)) => {
                bail!("librdkafka consumer, {count} of {records} records of {topic} read: {error}")
            }
            None if last_record.elapsed() >= CONSUMER_IDLE => bail!(
                "librdkafka consumer: {count} of {records} records of {topic}, none for {CONSUMER_IDLE:?}: {}",
                consumer.context().last()
            ),
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Figures {
        rate: combined([(count, bytes, seconds)]),
        latency: None,
        consumer: None,
        throttle: None,
    })
}

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "ringlog-bench")
        .set("socket.timeout.ms", "30000")
        .set_log_level(RDKafkaLogLevel::Warning);
    config
}

fn producer_config(bootstrap: &str, acks: Acks) -> ClientConfig {
    let mut config = base_config(bootstrap);
    config
        .set("acks", acks.as_arg())
        .set("enable.idempotence", "false")
        .set("compression.type", "none")
        .set("batch.size", KAFKA_BATCH_BYTES.to_string())
        // batch.size or linger.ms, not a record count, ends a batch.
        .set("batch.num.messages", "1000000")
        .set("linger.ms", KAFKA_LINGER_MS.to_string())
        .set("queue.buffering.max.kbytes", (32 * 1024).to_string())
        .set("queue.buffering.max.messages", "10000000")
        .set("message.max.bytes", (1 << 20).to_string())
        .set("message.timeout.ms", "120000");
    config
}

fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = base_config(bootstrap);
    config
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.min.bytes", "1")
        .set("fetch.max.bytes", (50 << 20).to_string())
        .set("max.partition.fetch.bytes", (1 << 20).to_string())
        .set("fetch.wait.max.ms", "500")
        // librdkafka stops fetching a partition whose local queue holds queued.min.messages
        // (100,000 by default: 10 MB of 100 B records, a fraction of a second here) and waits
        // fetch.queue.backoff.ms (1 s by default) before it looks again, though the queue
        // drains in milliseconds: the consumer would idle most of a run. The queue is held to
        // queued.max.messages.kbytes instead (64 MiB, the default), looked at every 10 ms.
        .set("queued.min.messages", "10000000")
        .set("fetch.queue.backoff.ms", "10");
    config
}

/// Enqueues `record`, serving delivery reports while the queue is full.
fn send<'a>(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'a, (), [u8], usize>,
    deadline: Instant,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                check_interrupted()?;
                if Instant::now() >= deadline {
                    bail!(
                        "librdkafka producer: its queue was still full at the deadline: {}",
                        producer.context().log.last()
                    );
                }
                producer.poll(Duration::from_millis(1));
            }
            Err((error, _)) => bail!("librdkafka producer: {error}"),
        }
    }
}

/// Waits until every record sent is acknowledged or failed, by `deadline`.
fn flush(producer: &BaseProducer<Deliveries>, deadline: Instant) -> Result<()> {
    loop {
        check_interrupted()?;
        match producer.flush(WAIT_STEP) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                if Instant::now() < deadline => {}
            Err(error) => bail!(
                "librdkafka producer: {} records unacknowledged: {error}: {}",
                producer.in_flight_count(),
                producer.context().log.last()
            ),
        }
    }
}

fn micros_since(started: Instant) -> usize {
    usize::try_from(started.elapsed().as_micros()).unwrap_or(usize::MAX - 1)
}

/// The last line librdkafka logged or error it reported (kept, not printed).
#[derive(Default)]
struct KeptLog(Mutex<Option<String>>);

impl KeptLog {
    fn keep(&self, line: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(line);
    }

    fn last(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "librdkafka logged nothing".to_string())
    }
}

impl ClientContext for KeptLog {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        self.keep(format!("librdkafka {level:?} {facility}: {line}"));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.keep(format!("librdkafka error {error}: {reason}"));
    }
}

impl ConsumerContext for KeptLog {}

/// The producer's delivery reports, counted; each report's opaque is 0, or 1 + the
/// microseconds from `started` to the record's send for a sampled record.
struct Deliveries {
    started: Instant,
    acknowledged: AtomicU64,
    failed: AtomicU64,
    /// Send to acknowledgement, µs (reports come on the thread that polls: never contended).
    latency_us: Mutex<Histogram<u64>>,
    log: KeptLog,
    first_failure: KeptLog,
}

impl Deliveries {
    fn new() -> Result<Deliveries> {
        Ok(Deliveries {
            started: Instant::now(),
            acknowledged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).context("a latency histogram")?,
            ),
            log: KeptLog::default(),
            first_failure: KeptLog::default(),
        })
    }

    fn latency(&self) -> Latency {
        let histogram = self
            .latency_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(histogram.value_at_quantile(0.5)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            percentiles: Vec::new(),
        }
    }
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        self.log.log(level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        match result {
            Ok(_) => {
                self.acknowledged.fetch_add(1, Ordering::Relaxed);
                if sent_at > 0 {
                    let latency = micros_since(self.started).saturating_sub(sent_at - 1);
                    let mut histogram = self
                        .latency_us
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    histogram.saturating_record(latency.max(1) as u64);
                }
            }
            Err((error, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    self.first_failure
                        .keep(format!("the first record not delivered: {error}"));
                }
            }
        }
    }
}
