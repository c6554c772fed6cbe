//! Kafka's partition-level APIs over a real socket to in-process brokers on 127.0.0.1 (port
//! 0): requests built and responses decoded with `kafka-protocol` (Kafka's own message
//! schemas), so what is checked is what a Kafka client sees. ListOffsets' max timestamp and
//! its tiered specs, OffsetForLeaderEpoch (which librdkafka sends only on its own, to validate
//! a position after a leader change) and DeleteRecords, on one broker and across a cluster
//! of three whose leader stops. The tests with librdkafka are in the tools crate.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteRecordsRequest, FetchRequest, FindCoordinatorRequest, GroupId,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_broker::{Broker, ServerOptions};
use ringlog_engine::Offset;
use ringlog_engine::checkpoint::{LOG_START_OFFSET_FILE, read_offset};
use ringlog_engine::format::{BatchBuilder, Record};

mod kafka_connection;
mod three_brokers;
use kafka_connection::Kafka;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The replica id a consumer's request carries.
const CONSUMER: kafka_protocol::messages::BrokerId = kafka_protocol::messages::BrokerId(-1);

/// Kafka's error codes the tests expect.
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn create_topic(kafka: &mut Kafka, topic: &str, partitions: i32, replication_factor: i16) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor),
        ])
        .with_timeout_ms(30_000);
    let response = kafka.call(7, &request);
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
}

/// (leader, leader epoch, isr) of `topic`'s `partition`, as Metadata says.
fn partition_state(kafka: &mut Kafka, topic: &str, partition: i32) -> (i32, i32, Vec<i32>) {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let response = kafka.call(12, &request);
    let p = response.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .expect("the partition is listed");
    let isr = p.isr_nodes.iter().map(|b| b.0).collect();
    (p.leader_id.0, p.leader_epoch, isr)
}

/// Produces one batch with acks=all whose records carry `timestamps`; its base offset.
fn produce(kafka: &mut Kafka, topic: &str, partition: i32, timestamps: &[i64]) -> i64 {
    let mut builder = BatchBuilder::new();
    for &timestamp in timestamps {
        builder.push(&Record {
            value: Some(b"value"),
            timestamp,
            ..Record::default()
        });
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(Bytes::from(builder.finish()))),
                ]),
        ]);
    let response = kafka.call(9, &request);
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0, "{answer:?}");
    answer.base_offset
}

/// ListOffsets at `version` for `spec`: (error, offset, timestamp, leader epoch).
fn list_offsets(
    kafka: &mut Kafka,
    version: i16,
    topic: &str,
    partition: i32,
    spec: i64,
    current_leader_epoch: i32,
) -> (i16, i64, i64, i32) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(CONSUMER)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_current_leader_epoch(current_leader_epoch)
                        .with_timestamp(spec),
                ]),
        ])
        .with_timeout_ms(1_000);
    let response = kafka.call(version, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp, p.leader_epoch)
}

/// OffsetForLeaderEpoch v4: (error, leader epoch, end offset).
fn end_offset_for_epoch(
    kafka: &mut Kafka,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
        OffsetForLeaderTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![
                OffsetForLeaderPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(current_leader_epoch)
                    .with_leader_epoch(leader_epoch),
            ]),
    ]);
    let response = kafka.call(4, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// DeleteRecords v2 up to `offset`: (error, low watermark).
fn delete_records(kafka: &mut Kafka, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ])
        .with_timeout_ms(30_000);
    let response = kafka.call(2, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

/// A Fetch v12 from `offset` without waiting: (error, log start offset, high watermark).
fn fetch(kafka: &mut Kafka, topic: &str, partition: i32, offset: i64) -> (i16, i64, i64) {
    let request = FetchRequest::default()
        .with_replica_id(CONSUMER)
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let response = kafka.call(12, &request);
    let p = &response.responses[0].partitions[0];
    (p.error_code, p.log_start_offset, p.high_watermark)
}

fn start(dir: &Path) -> Broker {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut options = ServerOptions::new(dir.to_path_buf(), listen);
    options.shards = 2;
    let broker = Broker::start(options).expect("the broker starts");
    broker.wait_ready(TIMEOUT).expect("the broker registers");
    broker
}

#[test]
fn partition_apis_answer_max_timestamps_epoch_ends_and_deletions_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    create_topic(&mut kafka, "p", 2, 1);
    let (leader, epoch, _) = partition_state(&mut kafka, "p", 1);
    assert_eq!(leader, 1);
    assert_eq!(produce(&mut kafka, "p", 1, &[100, 500, 300]), 0);
    assert_eq!(produce(&mut kafka, "p", 1, &[500, 200]), 3);

    // ListOffsets: the max timestamp (v7) is the first record holding the largest; earliest
    // local (v8) is the log start; nothing is tiered (v9); latest carries the leader epoch.
    let list = |kafka: &mut Kafka, version, spec| list_offsets(kafka, version, "p", 1, spec, epoch);
    assert_eq!(list(&mut kafka, 7, -3), (0, 1, 500, epoch));
    assert_eq!(list(&mut kafka, 8, -4), (0, 0, -1, epoch));
    assert_eq!(list(&mut kafka, 9, -5), (0, -1, -1, -1));
    assert_eq!(list(&mut kafka, 10, -1), (0, 5, -1, epoch));
    assert_eq!(list(&mut kafka, 10, 250), (0, 1, 500, epoch));
    // The current leader epoch a client names is checked, as a fetch's is.
    let ahead = list_offsets(&mut kafka, 10, "p", 1, -1, epoch + 1);
    assert_eq!(ahead.0, UNKNOWN_LEADER_EPOCH);
    // An empty partition has no max timestamp.
    assert_eq!(list_offsets(&mut kafka, 7, "p", 0, -3, -1), (0, -1, -1, -1));

    // OffsetForLeaderEpoch: the current epoch ends at the log end; a newer one is unknown
    // (UNDEFINED_EPOCH); the fence and unknown partitions answer with Kafka's codes.
    assert_eq!(
        end_offset_for_epoch(&mut kafka, "p", 1, epoch, epoch),
        (0, epoch, 5)
    );
    assert_eq!(
        end_offset_for_epoch(&mut kafka, "p", 1, -1, epoch + 3),
        (0, -1, -1)
    );
    assert_eq!(
        end_offset_for_epoch(&mut kafka, "p", 1, epoch + 1, epoch).0,
        UNKNOWN_LEADER_EPOCH
    );
    if epoch > 0 {
        assert_eq!(
            end_offset_for_epoch(&mut kafka, "p", 1, epoch - 1, epoch).0,
            FENCED_LEADER_EPOCH
        );
    }
    assert_eq!(
        end_offset_for_epoch(&mut kafka, "p", 7, -1, epoch).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // DeleteRecords: up to the high watermark at most; -1 is the high watermark.
    assert_eq!(
        delete_records(&mut kafka, "p", 1, 6),
        (OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        delete_records(&mut kafka, "p", 1, -2),
        (OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(delete_records(&mut kafka, "p", 1, 2), (0, 2));
    assert_eq!(fetch(&mut kafka, "p", 1, 1).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(fetch(&mut kafka, "p", 1, 2), (0, 2, 5));
    assert_eq!(list(&mut kafka, 10, -2), (0, 2, -1, epoch));
    // The record at offset 1 held the max timestamp; the first still readable with it is 3.
    assert_eq!(list(&mut kafka, 7, -3), (0, 3, 500, epoch));
    assert_eq!(delete_records(&mut kafka, "p", 1, -1), (0, 5));
    assert_eq!(list(&mut kafka, 7, -3), (0, -1, -1, -1));
    drop(kafka);

    // The new log start is durable: a restarted broker starts the log there.
    broker.stop().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    let started = Instant::now();
    loop {
        let (error, offset, _, _) = list_offsets(&mut kafka, 10, "p", 1, -2, -1);
        if error == 0 {
            assert_eq!(offset, 5);
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "ListOffsets answered {error}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(kafka);
    broker.stop().unwrap();
}

/// Three brokers in this process, every one a controller voter.
struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    brokers: Vec<Option<Broker>>,
}

impl Cluster {
    fn start() -> Cluster {
        let three_brokers::ThreeBrokers { dirs, brokers } =
            three_brokers::start(TIMEOUT, |options| {
                options.config.replica_lag_time_max = Duration::from_millis(3000);
                options.config.replica_fetch_backoff = Duration::from_millis(100);
            });
        Cluster { dirs, brokers }
    }

    fn kafka(&self, id: i32) -> Kafka {
        let broker = self.brokers[id as usize - 1].as_ref().expect("running");
        Kafka::connect(broker.kafka_addr().unwrap())
    }

    /// Any running broker's Kafka connection.
    fn any(&self) -> Kafka {
        let id = (1..=3)
            .find(|&id| self.brokers[id as usize - 1].is_some())
            .unwrap();
        self.kafka(id)
    }

    fn partition_dir(&self, id: i32, topic: &str, partition: i32) -> PathBuf {
        self.dirs[id as usize - 1]
            .path()
            .join(format!("{topic}-{partition}"))
    }

    /// Waits until `done` holds of (leader, epoch, isr), as Metadata says.
    fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&(i32, i32, Vec<i32>)) -> bool,
    ) -> (i32, i32, Vec<i32>) {
        let started = Instant::now();
        loop {
            let state = partition_state(&mut self.any(), "d", 0);
            if done(&state) {
                return state;
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "timed out waiting for {what}: {state:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for broker in self.brokers.iter_mut().filter_map(Option::take) {
            let _ = broker.stop();
        }
    }
}

#[test]
fn delete_records_is_answered_once_every_isr_replica_starts_there_and_outlives_its_leader() {
    let mut cluster = Cluster::start();
    create_topic(&mut cluster.any(), "d", 1, 3);
    let (leader, _, _) =
        cluster.wait_for("three in the isr", |(l, _, isr)| *l > 0 && isr.len() == 3);
    let mut kafka = cluster.kafka(leader);
    for n in 0..10 {
        produce(&mut kafka, "d", 0, &[1_000 + n]);
    }
    // A follower refuses: only the leader deletes.
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    assert_eq!(
        delete_records(&mut cluster.kafka(follower), "d", 0, 4).0,
        NOT_LEADER_OR_FOLLOWER
    );
    // The answer comes once every ISR replica's log starts at 6: their log start
    // checkpoints (written before the deletion is reported) already say so.
    assert_eq!(delete_records(&mut kafka, "d", 0, 6), (0, 6));
    for id in 1..=3 {
        let dir = cluster.partition_dir(id, "d", 0);
        let start = read_offset(&dir, LOG_START_OFFSET_FILE).unwrap();
        assert_eq!(start, Some(Offset(6)), "broker {id}'s log start");
    }
    drop(kafka);

    // The leader stops; the next one's log starts at 6 too.
    cluster.brokers[leader as usize - 1]
        .take()
        .unwrap()
        .stop()
        .unwrap();
    let (next, _, _) = cluster.wait_for("a new leader", |(l, _, _)| *l > 0 && *l != leader);
    let mut kafka = cluster.kafka(next);
    let (error, offset, _, _) = list_offsets(&mut kafka, 10, "d", 0, -2, -1);
    assert_eq!((error, offset), (0, 6));
    assert_eq!(fetch(&mut kafka, "d", 0, 5).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(list_offsets(&mut kafka, 7, "d", 0, -3, -1).1, 9);
}

/// FindCoordinator: one key (v0-v3) or a batch (v4, KIP-699), each group answered with the
/// leader of its partition of `__consumer_offsets`; a transactional key has no coordinator.
#[test]
fn find_coordinator_answers_one_key_and_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let addr = broker.kafka_addr().unwrap();
    let mut kafka = Kafka::connect(addr);
    let deadline = Instant::now() + TIMEOUT;
    // The offsets topic is created as the broker starts: wait for its leaders.
    let single = loop {
        let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g1"));
        let response = kafka.call(3, &request);
        if response.error_code == 0 || Instant::now() > deadline {
            break response;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(single.error_code, 0);
    assert_eq!((single.node_id.0, single.port), (1, i32::from(addr.port())));
    let keys = ["g1", "g2", "g3"].map(StrBytes::from_static_str).to_vec();
    let batched = kafka.call(
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(keys),
    );
    let answered: Vec<(&str, i16, i32)> = batched
        .coordinators
        .iter()
        .map(|c| (c.key.as_str(), c.error_code, c.node_id.0))
        .collect();
    assert_eq!(answered, [("g1", 0, 1), ("g2", 0, 1), ("g3", 0, 1)]);
    let transactional = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_static_str("tx")]);
    let refused = kafka.call(4, &transactional);
    assert_eq!(
        refused.coordinators[0].error_code, 15,
        "COORDINATOR_NOT_AVAILABLE"
    );
}

/// OffsetFetch v8 (KIP-709): several groups in one request, each answered with its own
/// commits, or its own error.
#[test]
fn offset_fetch_answers_several_groups_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    create_topic(&mut kafka, "o", 1, 1);
    let deadline = Instant::now() + TIMEOUT;
    for (group, offset) in [("first", 7), ("second", 11)] {
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name("o"))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]);
        // The offsets topic may still be getting its leaders.
        loop {
            let response = kafka.call(8, &commit);
            let code = response.topics[0].partitions[0].error_code;
            if code == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "commit refused with {code}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let group = |id: &'static str| {
        // No topics (null): every partition the group committed.
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str(id)))
            .with_topics(None)
    };
    let request = OffsetFetchRequest::default().with_groups(vec![
        group("first"),
        group("second"),
        group(""),
        group("never"),
    ]);
    let response = kafka.call(8, &request);
    let answered: Vec<(&str, i16, Vec<i64>)> = response
        .groups
        .iter()
        .map(|g| {
            let offsets = g
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
                .collect();
            (g.group_id.0.as_str(), g.error_code, offsets)
        })
        .collect();
    assert_eq!(
        answered,
        [
            ("first", 0, vec![7]),
            ("second", 0, vec![11]),
            ("", 24, vec![]),
            ("never", 0, vec![]),
        ]
    );
}
