//! Kafka's own client against real `ringlog broker` processes on 127.0.0.1: librdkafka (the C
//! client under kcat, confluent-kafka and most non-Java clients), built from its bundled
//! source by the `rdkafka` crate. Nothing here was written for ringlog: if these pass, the
//! Kafka listener speaks Kafka as librdkafka expects it.
//!
//! Every broker has a deadline to start, every wait a timeout, and every process is killed
//! when its test ends, whatever happens.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Longest a broker may take to start, and any one wait of a client (debug builds on a busy
/// 2-core machine).
const DEADLINE: Duration = Duration::from_secs(60);

/// A `ringlog broker` process, killed on drop.
struct Broker {
    child: Child,
    kafka: SocketAddr,
    thin: SocketAddr,
    metrics: SocketAddr,
    dir: tempfile::TempDir,
}

impl Broker {
    /// A broker with both listeners on free ports and `toml` in its config file.
    fn start(toml: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
        let listeners = "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0";
        let (child, kafka, thin, metrics) =
            Broker::spawn(dir.path(), listeners).expect("the broker starts");
        Broker {
            child,
            kafka,
            thin,
            metrics,
            dir,
        }
    }

    /// Starts `ringlog broker` on `dir` (its config file and data) with `listeners`; the
    /// process and the addresses it reports: Kafka's, the thin protocol's, the metrics'.
    /// `None` if the process ended before it served.
    fn spawn(dir: &Path, listeners: &str) -> Option<(Child, SocketAddr, SocketAddr, SocketAddr)> {
        let (mut child, lines) = support::spawn_with_lines(
            Command::new(env!("CARGO_BIN_EXE_ringlog"))
                .args([
                    "broker",
                    "--listeners",
                    listeners,
                    "--metrics-listen",
                    "127.0.0.1:0",
                    "--shards",
                    "2",
                    "--config",
                ])
                .arg(dir.join("broker.toml"))
                .arg("--data-dir")
                .arg(dir.join("data")),
        );
        let line = || match lines.recv_timeout(DEADLINE) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(timeout) => panic!("the broker reports its addresses: {timeout}"),
        };
        let Some(listening) = line() else {
            let _ = child.wait();
            return None;
        };
        let listener = |name: &str| {
            support::listener_address(&listening, name)
                .unwrap_or_else(|| panic!("unexpected first line {listening:?}"))
        };
        let (kafka, thin) = (listener("PLAINTEXT"), listener("THIN"));
        let metrics_line = line().expect("the broker reports its metrics address");
        let metrics = support::metrics_address(&metrics_line)
            .unwrap_or_else(|| panic!("unexpected second line {metrics_line:?}"));
        Some((child, kafka, thin, metrics))
    }

    /// kill -9 the broker and start it again on the same data, config and ports. The killed
    /// process's listening sockets outlive it briefly (its io_uring is torn down after it), so
    /// a start that finds a port still in use is tried again.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let listeners = format!("PLAINTEXT://{},THIN://{}", self.kafka, self.thin);
        let started = Instant::now();
        let (child, kafka, thin, metrics) = loop {
            if let Some(spawned) = Broker::spawn(self.dir.path(), &listeners) {
                break spawned;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the broker does not start again"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        (self.child, self.kafka, self.thin, self.metrics) = (child, kafka, thin, metrics);
    }

    /// The value of the metric line that starts with `series` (a name and its labels).
    fn metric(&self, series: &str) -> f64 {
        support::metric(self.metrics, series)
    }

    /// A librdkafka config bootstrapping from this broker.
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.kafka.to_string())
            .set("socket.timeout.ms", "30000")
            .set("message.timeout.ms", "30000");
        config
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.config().create().expect("create an admin client")
    }

    fn producer(&self, settings: &[(&str, &str)]) -> FutureProducer {
        let mut config = self.config();
        for (key, value) in settings {
            config.set(*key, *value);
        }
        config.create().expect("create a producer")
    }

    fn consumer(&self, group: &str) -> BaseConsumer {
        self.config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("create a consumer")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a future of librdkafka's admin client or producer to its end.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(DEADLINE))
}

/// Creates `name` with `partitions` and replication factor 1, and `configs`; the topic's
/// error code if it is refused.
fn create_topic(
    broker: &Broker,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), RDKafkaErrorCode> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = block_on(broker.admin().create_topics([&topic], &admin_options()))
        .expect("CreateTopics is answered");
    match results.into_iter().next().expect("one result") {
        Ok(_) => Ok(()),
        Err((_, code)) => Err(code),
    }
}

/// One record as produced and as consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

fn produce(producer: &FutureProducer, topic: &str, partition: i32, record: &Record) -> i64 {
    let mut headers = OwnedHeaders::new();
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let mut future = FutureRecord::to(topic)
        .partition(partition)
        .payload(&record.value)
        .headers(headers);
    if let Some(key) = &record.key {
        future = future.key(key);
    }
    match block_on(producer.send(future, DEADLINE)) {
        Ok(delivery) => delivery.offset,
        Err((error, _)) => panic!("produce to {topic}-{partition} failed: {error}"),
    }
}

/// Reads `count` records of `topic`'s `partition` from `offset` with `consumer` in assign
/// mode, each with its offset.
fn consume(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    offset: Offset,
    count: usize,
) -> Vec<(i64, Record)> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, offset)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    poll_records(consumer, count)
}

/// The next `count` records `consumer` polls, each with its offset.
fn poll_records(consumer: &BaseConsumer, count: usize) -> Vec<(i64, Record)> {
    let deadline = Instant::now() + DEADLINE;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {count} records",
            records.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        let headers = message.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                .collect()
        });
        let record = Record {
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().unwrap_or_default().to_vec(),
            headers,
        };
        records.push((message.offset(), record));
    }
    records
}

fn record(n: usize, tag: &str) -> Record {
    Record {
        key: (!n.is_multiple_of(3)).then(|| format!("key-{n}").into_bytes()),
        value: format!("{tag} record {n}").repeat(1 + n % 5).into_bytes(),
        headers: (0..n % 3)
            .map(|h| (format!("h{h}"), format!("{tag}-{n}-{h}").into_bytes()))
            .collect(),
    }
}

#[test]
fn metadata_lists_the_broker_its_kafka_address_and_topics() {
    let broker = Broker::start("");
    create_topic(&broker, "listed", 3, &[]).unwrap();
    let consumer = broker.consumer("metadata");
    let metadata = consumer
        .fetch_metadata(None, DEADLINE)
        .expect("Metadata is answered");
    let brokers: Vec<(i32, String, i32)> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), b.host().to_string(), b.port()))
        .collect();
    assert_eq!(
        brokers,
        [(1, "127.0.0.1".to_string(), i32::from(broker.kafka.port()))]
    );
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == "listed")
        .expect("the topic is listed");
    assert_eq!(topic.error(), None);
    assert_eq!(topic.partitions().len(), 3);
    for partition in topic.partitions() {
        assert_eq!(partition.leader(), 1);
        assert_eq!(partition.replicas(), [1]);
        assert_eq!(partition.isr(), [1]);
    }
}

#[test]
fn records_round_trip_with_keys_headers_every_codec_and_every_acks() {
    let broker = Broker::start("");
    create_topic(&broker, "round-trip", 2, &[]).unwrap();
    let mut expected = Vec::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let producer = broker.producer(&[
                ("compression.codec", codec),
                ("acks", acks),
                ("linger.ms", "5"),
            ]);
            let tag = format!("{codec}/acks={acks}");
            for n in 0..20 {
                let record = record(n, &tag);
                let offset = produce(&producer, "round-trip", 1, &record);
                if acks != "0" {
                    // acks=0 learns no offset (librdkafka reports -1).
                    assert_eq!(offset, expected.len() as i64, "{tag}");
                }
                expected.push(record);
            }
        }
    }
    let consumer = broker.consumer("round-trip");
    let consumed = consume(
        &consumer,
        "round-trip",
        1,
        Offset::Beginning,
        expected.len(),
    );
    let offsets: Vec<i64> = consumed.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, (0..expected.len() as i64).collect::<Vec<_>>());
    let records: Vec<Record> = consumed.into_iter().map(|(_, record)| record).collect();
    assert_eq!(records, expected);
}

#[test]
fn assign_mode_consumers_start_from_a_timestamp_and_from_committed_offsets() {
    let broker = Broker::start("");
    create_topic(&broker, "assigned", 1, &[]).unwrap();
    let producer = broker.producer(&[("acks", "all")]);
    let base = 1_700_000_000_000_i64;
    for n in 0..10_i64 {
        let value = format!("at {n}");
        let record = FutureRecord::<(), _>::to("assigned")
            .partition(0)
            .payload(&value)
            .timestamp(base + n * 1000);
        block_on(producer.send(record, DEADLINE)).expect("produce");
    }
    let consumer = broker.consumer("assigned-group");
    // By timestamp: the first record at or after base + 4.5 s is the 6th.
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("assigned", 0, Offset::Offset(base + 4500))
        .unwrap();
    let found = consumer
        .offsets_for_times(wanted, DEADLINE)
        .expect("ListOffsets is answered");
    let offset = found.find_partition("assigned", 0).unwrap().offset();
    assert_eq!(offset, Offset::Offset(5));
    let (first, _) = consume(&consumer, "assigned", 0, offset, 1)[0].clone();
    assert_eq!(first, 5);
    // Latest and earliest.
    let (low, high) = consumer
        .fetch_watermarks("assigned", 0, DEADLINE)
        .expect("watermarks");
    assert_eq!((low, high), (0, 10));
    // Committed offsets: stored, read back by another consumer of the group, and resumed from.
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("assigned", 0, Offset::Offset(7))
        .unwrap();
    consumer
        .commit(&commit, CommitMode::Sync)
        .expect("OffsetCommit is answered");
    let other = broker.consumer("assigned-group");
    let mut asked = TopicPartitionList::new();
    asked.add_partition("assigned", 0);
    let committed = other
        .committed_offsets(asked, DEADLINE)
        .expect("OffsetFetch is answered");
    assert_eq!(
        committed.find_partition("assigned", 0).unwrap().offset(),
        Offset::Offset(7)
    );
    let (resumed, record) = consume(&other, "assigned", 0, Offset::Stored, 1)[0].clone();
    assert_eq!(resumed, 7);
    assert_eq!(record.value, b"at 7");
    // A group that never committed has nothing stored.
    let stranger = broker.consumer("another-group");
    let mut asked = TopicPartitionList::new();
    asked.add_partition("assigned", 0);
    let committed = stranger.committed_offsets(asked, DEADLINE).unwrap();
    assert_eq!(
        committed.find_partition("assigned", 0).unwrap().offset(),
        Offset::Invalid
    );
}

#[test]
fn kafka_admin_creates_describes_alters_and_deletes_topics() {
    let broker = Broker::start("");
    let admin = broker.admin();
    create_topic(&broker, "managed", 2, &[("retention.ms", "60000")]).unwrap();
    // Refusals, each with Kafka's code.
    assert_eq!(
        create_topic(&broker, "managed", 2, &[]),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );
    let too_many = NewTopic::new("replicated", 1, TopicReplication::Fixed(3));
    let results = block_on(admin.create_topics([&too_many], &admin_options())).unwrap();
    assert!(
        matches!(
            &results[0],
            Err((_, RDKafkaErrorCode::InvalidReplicationFactor))
        ),
        "{results:?}"
    );
    assert_eq!(
        create_topic(&broker, "compacted", 1, &[("cleanup.policy", "compact")]),
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    // DescribeConfigs: Kafka's names, the value set on the topic and its source.
    let configs = describe(&admin, "managed");
    assert_eq!(
        configs.get("retention.ms"),
        Some(&("60000".to_string(), ConfigSource::DynamicTopic))
    );
    assert_eq!(
        configs
            .get("cleanup.policy")
            .map(|(value, _)| value.as_str()),
        Some("delete")
    );
    assert_eq!(
        configs.get("min.insync.replicas").map(|(_, source)| source),
        Some(&ConfigSource::Default)
    );
    // AlterConfigs replaces the topic's config whole: retention.ms returns to its default.
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("managed")).set("segment.bytes", "4194304");
    let altered = block_on(admin.alter_configs([&alter], &admin_options())).unwrap();
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    let configs = describe(&admin, "managed");
    assert_eq!(
        configs.get("segment.bytes"),
        Some(&("4194304".to_string(), ConfigSource::DynamicTopic))
    );
    assert_eq!(
        configs.get("retention.ms").map(|(_, source)| source),
        Some(&ConfigSource::Default)
    );
    // DeleteTopics, then the topic is gone from Metadata.
    let deleted = block_on(admin.delete_topics(&["managed"], &admin_options())).unwrap();
    assert_eq!(deleted, [Ok("managed".to_string())]);
    let missing = block_on(admin.delete_topics(&["managed"], &admin_options())).unwrap();
    assert!(
        matches!(
            &missing[0],
            Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))
        ),
        "{missing:?}"
    );
    let metadata = broker
        .consumer("admin")
        .fetch_metadata(None, DEADLINE)
        .unwrap();
    assert!(metadata.topics().iter().all(|t| t.name() != "managed"));
}

/// A topic's configs by name: value and source.
fn describe(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> BTreeMap<String, (String, ConfigSource)> {
    let described =
        block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options()))
            .expect("DescribeConfigs is answered");
    let resource = described
        .into_iter()
        .next()
        .unwrap()
        .expect("the topic is described");
    resource
        .entries
        .into_iter()
        .map(|entry| {
            let value = entry.value.unwrap_or_default();
            (entry.name, (value, entry.source))
        })
        .collect()
}

#[test]
fn a_produce_to_an_unknown_topic_or_partition_is_refused_with_kafkas_code() {
    let broker = Broker::start("");
    create_topic(&broker, "known", 1, &[]).unwrap();
    let producer = broker.producer(&[("acks", "all"), ("message.timeout.ms", "3000")]);
    let record = FutureRecord::<(), _>::to("known")
        .partition(5)
        .payload("lost");
    let error = block_on(producer.send(record, DEADLINE)).expect_err("partition 5 does not exist");
    assert!(
        matches!(
            error.0,
            KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition)
        ),
        "{:?}",
        error.0
    );
}

#[test]
fn kafka_admin_adds_partitions_and_assigns_replicas_by_hand() {
    use rdkafka::admin::NewPartitions;
    let broker = Broker::start("");
    let admin = broker.admin();
    // Replicas assigned by hand: every partition on broker 1, the one there is.
    let assigned: &[&[i32]] = &[&[1], &[1]];
    let topic = NewTopic::new("assigned", 2, TopicReplication::Variable(assigned));
    let results = block_on(admin.create_topics([&topic], &admin_options())).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // A broker that is not registered is refused.
    let elsewhere: &[&[i32]] = &[&[7]];
    let topic = NewTopic::new("elsewhere", 1, TopicReplication::Variable(elsewhere));
    let results = block_on(admin.create_topics([&topic], &admin_options())).unwrap();
    assert!(
        matches!(
            &results[0],
            Err((_, RDKafkaErrorCode::InvalidReplicaAssignment))
        ),
        "{results:?}"
    );
    // CreatePartitions: 2 -> 5, then records go to a new partition and come back.
    let more = NewPartitions::new("assigned", 5);
    let results = block_on(admin.create_partitions([&more], &admin_options())).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let consumer = broker.consumer("partitions");
    let metadata = consumer.fetch_metadata(Some("assigned"), DEADLINE).unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 5);
    let producer = broker.producer(&[("acks", "all")]);
    let offset = produce(&producer, "assigned", 4, &record(1, "new"));
    assert_eq!(offset, 0);
    let consumed = consume(&consumer, "assigned", 4, Offset::Beginning, 1);
    assert_eq!(consumed[0].1, record(1, "new"));
    // Never fewer partitions, nor as many.
    let fewer = NewPartitions::new("assigned", 3);
    let results = block_on(admin.create_partitions([&fewer], &admin_options())).unwrap();
    assert!(
        matches!(&results[0], Err((_, RDKafkaErrorCode::InvalidPartitions))),
        "{results:?}"
    );
    let unknown = NewPartitions::new("nowhere", 3);
    let results = block_on(admin.create_partitions([&unknown], &admin_options())).unwrap();
    assert!(
        matches!(
            &results[0],
            Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))
        ),
        "{results:?}"
    );
}

/// Produces `count` records with acks=all to `topic`'s `partition`, the n-th stamped
/// `base + n` seconds; their offsets.
fn produce_timed(broker: &Broker, topic: &str, partition: i32, base: i64, count: i64) -> Vec<i64> {
    let producer = broker.producer(&[("acks", "all")]);
    (0..count)
        .map(|n| {
            let value = format!("at {n}");
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&value)
                .timestamp(base + n * 1000);
            block_on(producer.send(record, DEADLINE))
                .expect("produce")
                .offset
        })
        .collect()
}

/// DeleteRecords through librdkafka's admin client: per partition, the low watermark it
/// answered or the error.
fn delete_records(
    broker: &Broker,
    topic: &str,
    offsets: &[(i32, Offset)],
) -> Vec<(i32, Result<Offset, KafkaError>)> {
    let mut wanted = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        wanted
            .add_partition_offset(topic, partition, offset)
            .unwrap();
    }
    let deleted = block_on(broker.admin().delete_records(&wanted, &admin_options()))
        .expect("DeleteRecords is answered");
    deleted
        .elements()
        .iter()
        .map(|e| (e.partition(), e.error().map(|()| e.offset())))
        .collect()
}

#[test]
fn delete_records_moves_the_low_watermark_for_every_client_and_survives_a_restart() {
    let mut broker = Broker::start("");
    create_topic(&broker, "trimmed", 2, &[]).unwrap();
    let base = 1_700_000_000_000_i64;
    assert_eq!(
        produce_timed(&broker, "trimmed", 0, base, 10),
        (0..10).collect::<Vec<_>>()
    );
    // Up to offset 4 of partition 0; partition 1 is empty, so 3 is past its high watermark.
    let deleted = delete_records(
        &broker,
        "trimmed",
        &[(0, Offset::Offset(4)), (1, Offset::Offset(3))],
    );
    assert_eq!(deleted[0], (0, Ok(Offset::Offset(4))));
    assert!(
        matches!(
            deleted[1],
            (
                1,
                Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetOutOfRange))
            )
        ),
        "{deleted:?}"
    );
    // Every reader sees the new start: watermarks, a consumer from the beginning, and a
    // lookup by a timestamp whose record is gone (ListOffsets v7, as librdkafka asks).
    let consumer = broker.consumer("trimmed");
    let watermarks = consumer.fetch_watermarks("trimmed", 0, DEADLINE).unwrap();
    assert_eq!(watermarks, (4, 10));
    let (first, record) = consume(&consumer, "trimmed", 0, Offset::Beginning, 1)[0].clone();
    assert_eq!((first, record.value), (4, b"at 4".to_vec()));
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("trimmed", 0, Offset::Offset(base + 1000))
        .unwrap();
    let found = consumer.offsets_for_times(wanted, DEADLINE).unwrap();
    assert_eq!(
        found.find_partition("trimmed", 0).unwrap().offset(),
        Offset::Offset(4)
    );
    // Offset::End deletes everything there is.
    let deleted = delete_records(&broker, "trimmed", &[(0, Offset::End)]);
    assert_eq!(deleted, [(0, Ok(Offset::Offset(10)))]);
    drop(consumer);
    // The log start is durable: a broker killed and started again keeps it.
    broker.restart();
    let consumer = broker.consumer("trimmed");
    let watermarks = consumer.fetch_watermarks("trimmed", 0, DEADLINE).unwrap();
    assert_eq!(watermarks, (10, 10));
}

#[test]
fn a_consumer_validates_its_position_with_offset_for_leader_epoch_after_a_restart() {
    let mut broker = Broker::start("");
    create_topic(&broker, "validated", 1, &[]).unwrap();
    produce_timed(&broker, "validated", 0, 1_700_000_000_000, 5);
    let consumer: BaseConsumer = broker
        .config()
        .set("group.id", "validating")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("create a consumer");
    let before = consume(&consumer, "validated", 0, Offset::Beginning, 5);
    assert_eq!(before.last().map(|(offset, _)| *offset), Some(4));
    // The restarted broker leads the partition in a new leader epoch: librdkafka, whose
    // position carries the epoch of the batches it read, asks where that epoch ends
    // (KIP-320) before it fetches on, and goes on from its position.
    broker.restart();
    produce_timed(&broker, "validated", 0, 1_700_000_100_000, 5);
    let deadline = Instant::now() + DEADLINE;
    let (mut offsets, mut errors) = (Vec::new(), Vec::new());
    while offsets.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "consumed {offsets:?} after the restart; errors {errors:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => offsets.push(message.offset()),
            // The connection lost to the restart is reported; librdkafka reconnects.
            Some(Err(error)) => errors.push(error),
            None => {}
        }
    }
    // Neither a reset (a truncation wrongly detected) nor records read again.
    assert_eq!(offsets, [5, 6, 7, 8, 9], "errors {errors:?}");
    let asked = broker.metric("ringlog_requests_total{api=\"OffsetForLeaderEpoch\"}");
    assert!(
        asked >= 1.0,
        "librdkafka validated its position: {asked} requests"
    );
}

/// A group member: `subscribe()`, Kafka's classic group protocol through librdkafka.
fn member(broker: &Broker, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = broker
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .expect("create a group member");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// The partitions of `topic` assigned to `consumer`.
fn assigned<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str) -> BTreeSet<i32> {
    consumer
        .assignment()
        .expect("assignment")
        .elements_for_topic(topic)
        .iter()
        .map(|e| e.partition())
        .collect()
}

/// Polls every consumer (each poll runs its group protocol) until `done` holds.
fn poll_until<C: ConsumerContext>(
    consumers: &[&BaseConsumer<C>],
    read: &mut BTreeMap<(i32, i64), Vec<u8>>,
    done: impl Fn(&BTreeMap<(i32, i64), Vec<u8>>) -> bool,
    what: &str,
) {
    let deadline = Instant::now() + DEADLINE;
    while !done(read) {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        for consumer in consumers {
            if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                let message = message.expect("consume");
                let value = message.payload().unwrap_or_default().to_vec();
                read.insert((message.partition(), message.offset()), value);
            }
        }
    }
}

#[test]
fn group_members_share_partitions_commit_and_take_over_when_one_leaves() {
    let broker = Broker::start("");
    create_topic(&broker, "shared", 4, &[]).unwrap();
    let producer = broker.producer(&[("acks", "all")]);
    for n in 0..40 {
        let value = format!("first {n}");
        produce(
            &producer,
            "shared",
            n % 4,
            &Record {
                key: None,
                value: value.into_bytes(),
                headers: Vec::new(),
            },
        );
    }
    let a = member(&broker, "sharers", "shared");
    let b = member(&broker, "sharers", "shared");
    // Both join one generation: each gets a share, together every partition, none twice.
    let mut read = BTreeMap::new();
    let shared = || {
        let (mine, theirs) = (assigned(&a, "shared"), assigned(&b, "shared"));
        !mine.is_empty()
            && !theirs.is_empty()
            && mine.is_disjoint(&theirs)
            && mine.union(&theirs).count() == 4
    };
    poll_until(
        &[&a, &b],
        &mut read,
        |read| shared() && read.len() == 40,
        "two members share the topic",
    );
    // Each commits what it read, as a member of the generation.
    for consumer in [&a, &b] {
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .expect("a member's OffsetCommit is accepted");
    }
    // The coordinator's metrics: the members and each partition's commit (exported every
    // few seconds).
    let deadline = Instant::now() + DEADLINE;
    while broker.metric("ringlog_group_members{group=\"sharers\"}") != 2.0
        || broker.metric(
            "ringlog_group_committed_offset{group=\"sharers\",topic=\"shared\",partition=\"3\"}",
        ) != 10.0
    {
        assert!(
            Instant::now() < deadline,
            "the group's metrics are exported"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The group as an admin sees it.
    let groups = a
        .fetch_group_list(Some("sharers"), DEADLINE)
        .expect("DescribeGroups is answered");
    let group = &groups.groups()[0];
    assert_eq!(
        (group.state(), group.protocol_type()),
        ("Stable", "consumer")
    );
    assert_eq!(group.members().len(), 2);
    // One leaves (LeaveGroup on close): the other takes every partition and resumes from the
    // group's commits, reading only what came after them.
    drop(a);
    let mut after = BTreeMap::new();
    poll_until(
        &[&b],
        &mut after,
        |_| assigned(&b, "shared").len() == 4,
        "the last member takes over",
    );
    for n in 0..4 {
        let value = format!("second {n}");
        produce(
            &producer,
            "shared",
            n,
            &Record {
                key: None,
                value: value.into_bytes(),
                headers: Vec::new(),
            },
        );
    }
    poll_until(
        &[&b],
        &mut after,
        |read| read.len() >= 4,
        "the new records are read",
    );
    let values: BTreeSet<String> = after
        .values()
        .map(|v| String::from_utf8_lossy(v).to_string())
        .collect();
    let expected: BTreeSet<String> = (0..4).map(|n| format!("second {n}")).collect();
    assert_eq!(
        values, expected,
        "resumed from the commits: nothing read twice"
    );
    assert!(after.keys().all(|(_, offset)| *offset == 10));
    // The groups' topic keeps its records whatever their age: retention would delete a live
    // group's last commit.
    let offsets_topic = describe(&broker.admin(), "__consumer_offsets");
    assert_eq!(offsets_topic["retention.ms"].0, "-1");
    assert_eq!(offsets_topic["retention.bytes"].0, "-1");
}

/// The session timeout of the static members: room for a member to stop and start again
/// within it, on a loaded machine.
const STATIC_SESSION: Duration = Duration::from_secs(10);

/// What a group member went through, in order: its rebalance callbacks (`assign {0, 1}`,
/// `revoke {0, 1}`) and each JoinGroup answer that made it the leader (`lead`: it runs the
/// assignment), which librdkafka tells only in its debug log.
#[derive(Clone, Default)]
struct GroupEvents(Arc<Mutex<Vec<String>>>);

impl GroupEvents {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl ClientContext for GroupEvents {
    fn log(&self, _: RDKafkaLogLevel, _: &str, message: &str) {
        // librdkafka's `cgrp` debug line: `I am elected leader for group "g" with 2 member(s)`.
        if message.contains("I am elected leader") {
            self.0.lock().unwrap().push("lead".to_string());
        }
    }
}

impl ConsumerContext for GroupEvents {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> BTreeSet<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let event = match rebalance {
            Rebalance::Assign(list) => format!("assign {:?}", partitions(list)),
            Rebalance::Revoke(list) => format!("revoke {:?}", partitions(list)),
            Rebalance::Error(error) => format!("error {error}"),
        };
        self.0.lock().unwrap().push(event);
    }
}

/// A member of `group` on `topic`, static when it has an `instance` id, and what it goes
/// through.
fn recorded_member(
    broker: &Broker,
    group: &str,
    topic: &str,
    instance: Option<&str>,
) -> (BaseConsumer<GroupEvents>, GroupEvents) {
    let events = GroupEvents::default();
    let mut config = broker.config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", STATIC_SESSION.as_millis().to_string())
        .set("heartbeat.interval.ms", "300")
        .set("debug", "cgrp")
        .set_log_level(RDKafkaLogLevel::Debug);
    if let Some(instance) = instance {
        config.set("group.instance.id", instance);
    }
    let consumer: BaseConsumer<GroupEvents> = config
        .create_with_context(events.clone())
        .expect("create a group member");
    consumer.subscribe(&[topic]).expect("subscribe");
    (consumer, events)
}

/// One record `{tag} {partition}` to each of `topic`'s `partitions`.
fn produce_to_each(producer: &FutureProducer, topic: &str, partitions: i32, tag: &str) {
    for partition in 0..partitions {
        let record = Record {
            key: None,
            value: format!("{tag} {partition}").into_bytes(),
            headers: Vec::new(),
        };
        produce(producer, topic, partition, &record);
    }
}

/// The values of `read`, as text.
fn values_read(read: &BTreeMap<(i32, i64), Vec<u8>>) -> BTreeSet<String> {
    read.values()
        .map(|v| String::from_utf8_lossy(v).to_string())
        .collect()
}

#[test]
fn a_static_member_back_within_its_session_gets_its_partitions_and_nobody_rebalances() {
    let broker = Broker::start("group_initial_rebalance_delay_ms = 300\n");
    create_topic(&broker, "statics", 4, &[]).unwrap();
    let producer = broker.producer(&[("acks", "all")]);
    // The static member joins first and leads; a dynamic member joins it.
    let (a, a_before) = recorded_member(&broker, "statics", "statics", Some("a"));
    let mut read = BTreeMap::new();
    poll_until(
        &[&a],
        &mut read,
        |_| assigned(&a, "statics").len() == 4,
        "the static member takes the topic",
    );
    let (b, b_events) = recorded_member(&broker, "statics", "statics", None);
    poll_until(
        &[&a, &b],
        &mut read,
        |_| {
            let (mine, theirs) = (assigned(&a, "statics"), assigned(&b, "statics"));
            mine.len() == 2 && theirs.len() == 2 && mine.is_disjoint(&theirs)
        },
        "the two members share the topic",
    );
    let (a_share, b_share) = (assigned(&a, "statics"), assigned(&b, "statics"));
    produce_to_each(&producer, "statics", 4, "first");
    poll_until(
        &[&a, &b],
        &mut read,
        |read| read.len() == 4,
        "the first records are read",
    );
    a.commit_consumer_state(CommitMode::Sync)
        .expect("the static member commits");
    let b_seen = b_events.seen();
    assert!(
        a_before.seen().contains(&"lead".to_string()),
        "the static member leads: {:?}",
        a_before.seen()
    );

    // The static member stops (librdkafka sends no LeaveGroup for one) and a new process
    // with its instance id starts: it gets the same partitions, from its commits, in the
    // same generation.
    let stopped_at = Instant::now();
    drop(a);
    let (a, a_events) = recorded_member(&broker, "statics", "statics", Some("a"));
    let mut a_read = BTreeMap::new();
    poll_until(
        &[&a],
        &mut a_read,
        |_| !assigned(&a, "statics").is_empty(),
        "the static member is back",
    );
    assert!(
        stopped_at.elapsed() < STATIC_SESSION,
        "the restart took {:?}, longer than the session",
        stopped_at.elapsed()
    );
    assert_eq!(assigned(&a, "statics"), a_share);
    produce_to_each(&producer, "statics", 4, "second");
    poll_until(
        &[&a],
        &mut a_read,
        |read| read.len() == 2,
        "the static member reads on",
    );
    let mut b_read = BTreeMap::new();
    poll_until(
        &[&b],
        &mut b_read,
        |read| read.len() == 2,
        "the other member reads on",
    );
    let second = |share: &BTreeSet<i32>| -> BTreeSet<String> {
        share.iter().map(|p| format!("second {p}")).collect()
    };
    assert_eq!(values_read(&a_read), second(&a_share), "from its commits");
    assert_eq!(values_read(&b_read), second(&b_share));

    // Past the session the stopped process would have had, nothing changes: its member id
    // went with the instance id to the new process, and the old id's session with it.
    let mut late = Vec::new();
    let quiet_until = stopped_at + STATIC_SESSION + Duration::from_secs(1);
    while Instant::now() < quiet_until {
        for consumer in [&a, &b] {
            if let Some(polled) = consumer.poll(Duration::from_millis(100)) {
                late.push(polled.map(|message| (message.partition(), message.offset())));
            }
        }
    }
    assert!(late.is_empty(), "polled again: {late:?}");
    assert_eq!(assigned(&a, "statics"), a_share);
    assert_eq!(assigned(&b, "statics"), b_share);
    assert_eq!(b_events.seen(), b_seen, "the other member was not revoked");
    // Told the leader's id as it was, the returning leader runs no assignment: a Stable group
    // would not hand it out.
    assert_eq!(
        a_events.seen(),
        [format!("assign {a_share:?}")],
        "the static member was assigned once, and did not lead"
    );
}

#[test]
fn a_second_static_member_with_the_same_instance_id_fences_the_first() {
    let broker = Broker::start("group_initial_rebalance_delay_ms = 300\n");
    create_topic(&broker, "fenced", 2, &[]).unwrap();
    let (first, _) = recorded_member(&broker, "fenced", "fenced", Some("twin"));
    let mut read = BTreeMap::new();
    poll_until(
        &[&first],
        &mut read,
        |_| assigned(&first, "fenced").len() == 2,
        "the first instance takes the topic",
    );
    // The newer member takes the instance id, and with it the assignment; the older one's
    // next heartbeat is answered FENCED_INSTANCE_ID, which librdkafka makes a fatal error.
    let (second, _) = recorded_member(&broker, "fenced", "fenced", Some("twin"));
    let deadline = Instant::now() + DEADLINE;
    let mut errors = Vec::new();
    while first.client().fatal_error().is_none() || assigned(&second, "fenced").len() != 2 {
        assert!(
            Instant::now() < deadline,
            "no fencing: errors {errors:?}, second assigned {:?}",
            assigned(&second, "fenced")
        );
        for consumer in [&first, &second] {
            if let Some(Err(error)) = consumer.poll(Duration::from_millis(50)) {
                errors.push(error);
            }
        }
    }
    let (code, message) = first.client().fatal_error().expect("fenced");
    assert_eq!(code, RDKafkaErrorCode::FencedInstanceId, "{message}");
    assert_eq!(second.client().fatal_error(), None);
    let groups = second
        .fetch_group_list(Some("fenced"), DEADLINE)
        .expect("DescribeGroups is answered");
    let group = &groups.groups()[0];
    assert_eq!(group.state(), "Stable");
    assert_eq!(group.members().len(), 1, "one member holds the instance id");
}

/// The batches of a partition directory as `ringlog dump-log --json` lists them.
fn dumped_batches(partition_dir: &Path) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .arg("dump-log")
        .arg("--json")
        .arg(partition_dir)
        .output()
        .expect("ringlog dump-log runs");
    assert!(output.status.success(), "dump-log: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["kind"] == "batch")
        .collect()
}

/// Counts the message sets librdkafka will send again without knowing whether the broker
/// stored them (its `msg` debug log: "... encountered error: ... (actions ...,
/// MsgPossiblyPersisted)"): a connection lost with them in flight.
#[derive(Clone, Default)]
struct PossiblyPersisted(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl rdkafka::ClientContext for PossiblyPersisted {
    fn log(&self, _: rdkafka::config::RDKafkaLogLevel, _: &str, line: &str) {
        if line.contains("MsgPossiblyPersisted") {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Sends `count` records round robin over `partitions` without waiting, numbered from
/// `first`: their delivery futures, in send order.
fn send_all<C: rdkafka::ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    partitions: i32,
    first: usize,
    count: usize,
) -> Vec<(i32, String, rdkafka::producer::DeliveryFuture)> {
    (first..first + count)
        .map(|n| {
            let partition = (n % partitions as usize) as i32;
            let value = format!("idempotent {n}");
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&value);
            let future = producer
                .send_result(record)
                .unwrap_or_else(|(error, _)| panic!("enqueue record {n}: {error}"));
            (partition, value, future)
        })
        .collect()
}

/// An idempotent librdkafka producer (`enable.idempotence=true`, so acks=all and at most five
/// requests in flight per partition) gets its producer id with InitProducerId and stamps its
/// batches with it. The broker is killed and started again while the producer streams, so
/// librdkafka sends again the message sets it had no answer for (with the same sequences),
/// which the broker may have appended already: every record is still stored once and
/// in send order, and the batches on disk carry the producer id, epoch 0 and sequences that
/// follow each other from 0.
#[test]
fn an_idempotent_producer_stores_every_record_once_across_a_broker_restart() {
    const PER_PARTITION: i64 = 1500;
    let mut broker = Broker::start("");
    create_topic(&broker, "idempotent", 2, &[]).unwrap();
    let retried = PossiblyPersisted::default();
    let producer: FutureProducer<PossiblyPersisted> = broker
        .config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .set("batch.num.messages", "10")
        .set("debug", "msg")
        .set_log_level(rdkafka::config::RDKafkaLogLevel::Debug)
        .create_with_context(retried.clone())
        .expect("create an idempotent producer");
    let mut sent = send_all(&producer, "idempotent", 2, 0, 2000);
    // Streaming: once the first records are acknowledged, requests are surely in flight.
    let first = sent.remove(0);
    let first_delivery = block_on(first.2).expect("the producer lives");
    assert_eq!(first_delivery.map(|d| d.offset).ok(), Some(0));
    let mut delivered: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    delivered.entry(0).or_default().push((0, first.1));
    broker.restart();
    sent.extend(send_all(&producer, "idempotent", 2, 2000, 1000));
    for (partition, value, future) in sent {
        let delivery = block_on(future).expect("the producer lives");
        let delivery = delivery.unwrap_or_else(|(error, _)| panic!("{value}: {error}"));
        assert_eq!(delivery.partition, partition);
        delivered
            .entry(partition)
            .or_default()
            .push((delivery.offset, value));
    }
    let consumer = broker.consumer("idempotent");
    for (partition, records) in &delivered {
        // In send order, one offset each from 0, and nothing else in the partition.
        let offsets: Vec<i64> = records.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(
            offsets,
            (0..PER_PARTITION).collect::<Vec<i64>>(),
            "partition {partition}"
        );
        let watermarks = consumer
            .fetch_watermarks("idempotent", *partition, DEADLINE)
            .unwrap();
        assert_eq!(
            watermarks,
            (0, PER_PARTITION),
            "partition {partition}: a record stored twice"
        );
        let count = PER_PARTITION as usize;
        let consumed = consume(
            &consumer,
            "idempotent",
            *partition,
            Offset::Beginning,
            count,
        );
        let values: Vec<&[u8]> = consumed.iter().map(|(_, r)| &r.value[..]).collect();
        let sent: Vec<&[u8]> = records.iter().map(|(_, v)| v.as_bytes()).collect();
        assert_eq!(values, sent, "partition {partition}");
    }
    // On disk: the producer's id on every batch of both partitions, its sequences unbroken.
    let mut producer_ids = BTreeSet::new();
    for partition in 0..2 {
        let dir = broker
            .dir
            .path()
            .join("data")
            .join(format!("idempotent-{partition}"));
        let mut next_sequence = 0;
        for batch in dumped_batches(&dir) {
            let producer_id = batch["producer_id"].as_i64().unwrap();
            assert!(producer_id >= 0, "a batch without a producer id: {batch}");
            producer_ids.insert(producer_id);
            assert_eq!(batch["producer_epoch"], 0, "{batch}");
            assert_eq!(batch["base_sequence"], next_sequence, "{batch}");
            next_sequence += batch["count"].as_i64().unwrap();
        }
        assert_eq!(next_sequence, PER_PARTITION, "partition {partition}");
    }
    assert_eq!(
        producer_ids.len(),
        1,
        "one producer, one id: {producer_ids:?}"
    );
    let retried = retried.0.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        retried > 0,
        "no message set was in flight when the broker was killed"
    );
}
