//! Kafka's own client against real `ringlog broker` processes on 127.0.0.1: librdkafka (the C
//! client under kcat, confluent-kafka and most non-Java clients), built from its bundled
//! source by the `rdkafka` crate. Nothing here was written for ringlog: if these pass, the
//! Kafka listener speaks Kafka as librdkafka expects it.
//!
//! Every broker has a deadline to start, every wait a timeout, and every process is killed
//! when its test ends, whatever happens.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
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
    _dir: tempfile::TempDir,
}

impl Broker {
    /// A broker with both listeners on free ports and `toml` in its config file.
    fn start(toml: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("broker.toml");
        std::fs::write(&config, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .args([
                "broker",
                "--listeners",
                "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--shards",
                "2",
                "--config",
            ])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ringlog broker");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        let mut broker = Broker {
            child,
            kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("the broker reports its addresses");
        broker.kafka = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|listeners| {
                listeners
                    .split(", ")
                    .find_map(|listener| listener.strip_prefix("PLAINTEXT://"))
            })
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        broker
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
    let deadline = Instant::now() + DEADLINE;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {count} records of {topic}-{partition}",
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
