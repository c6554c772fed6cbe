//! The client library against the real broker, in process, on 127.0.0.1 (port 0): topics
//! through Admin, records through the Producer (every acks, compressed and not) and back
//! through the Consumer, committed offsets for a group.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringlog_broker::{Broker, ServerOptions};
use ringlog_client::{
    Acks, Client, ClientConfig, Compression, ConsumerConfig, OffsetReset, ProducerConfig, Record,
    TopicPartition,
};

const DEADLINE: Duration = Duration::from_secs(30);

fn start() -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(
        dir.path().to_path_buf(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    );
    options.shards = 2;
    let broker = Broker::start(options).unwrap();
    broker
        .wait_ready(std::time::Duration::from_secs(10))
        .unwrap();
    (dir, broker)
}

async fn connect(broker: &Broker) -> Client {
    let config = ClientConfig {
        bootstrap: vec![broker.local_addr().to_string()],
        ..ClientConfig::default()
    };
    Client::connect(config).await.unwrap()
}

async fn round_trip(compression: Compression, acks: Acks) {
    let (_dir, broker) = start();
    let client = connect(&broker).await;
    client
        .admin()
        .create_topic("orders", Some(3), Some(1), &[])
        .await
        .unwrap();
    let producer = client
        .producer(ProducerConfig {
            acks,
            compression,
            linger: Duration::from_millis(2),
            ..ProducerConfig::default()
        })
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..300u32 {
        let record = Record::new("orders")
            .key(format!("key-{}", i % 7))
            .value(format!("value-{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.flush().await.unwrap();
    for delivery in deliveries {
        let metadata = delivery.await.unwrap();
        assert!(metadata.partition < 3);
        assert_eq!(metadata.offset.is_some(), acks != Acks::None);
    }
    let consumer = client.consumer(ConsumerConfig {
        group: Some("readers".into()),
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    let partitions: Vec<TopicPartition> =
        (0..3).map(|p| TopicPartition::new("orders", p)).collect();
    consumer.assign(&partitions).await.unwrap();
    let mut values = Vec::new();
    while values.len() < 300 {
        let records = consumer.poll(Duration::from_millis(500)).await.unwrap();
        assert!(
            !records.is_empty() || values.len() == 300,
            "a poll came back empty at {}",
            values.len()
        );
        for record in records {
            values.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
    }
    values.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("value-{i}")).collect();
    expected.sort();
    assert_eq!(values, expected);
    consumer.commit().await.unwrap();
    let committed = consumer.committed(&partitions).await.unwrap();
    let total: u64 = committed.values().map(|o| o.map_or(0, |o| o.0)).sum();
    assert_eq!(
        total, 300,
        "committed positions sum to every record read: {committed:?}"
    );
    producer.close().await.unwrap();
    drop(client);
    broker.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_with_acks_all() {
    tokio::time::timeout(DEADLINE, round_trip(Compression::None, Acks::All))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_batches_round_trip_with_acks_one() {
    tokio::time::timeout(DEADLINE, round_trip(Compression::Lz4, Acks::Leader))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_batches_round_trip_with_acks_zero() {
    tokio::time::timeout(DEADLINE, round_trip(Compression::Zstd, Acks::None))
        .await
        .unwrap();
}
