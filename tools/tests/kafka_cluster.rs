//! librdkafka (through the `rdkafka` crate) against a real three-broker cluster of `ringlog
//! broker` processes, over Kafka's protocol: a leader killed with SIGKILL while acks=all
//! records flow loses none that were acknowledged, an acks=all produce meets
//! NOT_ENOUGH_REPLICAS when the ISR is below `min.insync.replicas` while reads go on, an
//! idempotent producer (`enable.idempotence`) whose partition's leader is killed three times
//! leaves every acknowledged record in the log once and in send order, and a consumer group
//! whose coordinator is killed goes on with the next one from its committed offsets. Each test
//! bounds every wait and kills what it started.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use support::{Cluster, DEADLINE};

/// Quick failure detection, so each test runs in seconds.
const FAST: &str = "broker_session_timeout_ms = 3000\nbroker_heartbeat_interval_ms = 500\n\
                    replica_lag_time_max_ms = 2000\nreplica_fetch_backoff_ms = 100\n";

fn leader(partition: &Value) -> Option<u32> {
    partition["leader"].as_u64().map(|l| l as u32)
}

fn isr(partition: &Value) -> Vec<u32> {
    partition["isr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap() as u32)
        .collect()
}

fn config(cluster: &Cluster) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.kafka_bootstrap())
        .set("socket.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "500")
        .set("retry.backoff.ms", "100");
    config
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Creates `name` (one partition, three replicas) with `configs` through Kafka's admin API.
fn create_topic(cluster: &Cluster, name: &str, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = config(cluster).create().unwrap();
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(3));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(DEADLINE));
    let results = block_on(admin.create_topics([&topic], &options)).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// Every delivery report: the record's value and its offset, or the error.
#[derive(Default)]
struct Deliveries(Mutex<Vec<(String, Result<i64, KafkaError>)>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let value = |m: &rdkafka::message::BorrowedMessage<'_>| {
            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
        };
        let report = match result {
            Ok(message) => (value(message), Ok(message.offset())),
            Err((error, message)) => (value(message), Err(error.clone())),
        };
        self.0.lock().unwrap().push(report);
    }
}

/// An acks=all producer that retries a record for up to `timeout_ms`, at most `retries` times.
fn producer(cluster: &Cluster, timeout_ms: &str, retries: &str) -> ThreadedProducer<Deliveries> {
    config(cluster)
        .set("acks", "all")
        .set("message.timeout.ms", timeout_ms)
        .set("retries", retries)
        .set("linger.ms", "2")
        .create_with_context(Deliveries::default())
        .expect("create a producer")
}

/// Sends `values` to partition 0 of `topic` and waits for every delivery report.
fn produce_all(producer: &ThreadedProducer<Deliveries>, topic: &str, values: &[String]) {
    for value in values {
        let mut record = BaseRecord::to(topic).partition(0).payload(value.as_str());
        loop {
            match producer.send::<(), _>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((error, _)) => panic!("send {value}: {error}"),
            }
        }
    }
    producer.flush(DEADLINE).expect("every record is reported");
}

/// Every record of partition 0 of `topic`: offset and value, read from the beginning until
/// `count` are there.
fn consume_all(cluster: &Cluster, topic: &str, count: usize) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = config(cluster)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "read {} of {count} records",
            records.len()
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
            records.push((message.offset(), value.into_owned()));
        }
    }
    records
}

#[test]
fn a_killed_leader_loses_no_acknowledged_record() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", &[("min.insync.replicas", "2")]);
    let partition = cluster.wait_for("t", 0, "a leader", |p| leader(p).is_some());
    let victim = leader(&partition).unwrap();
    let producer = producer(&cluster, "30000", "1000");
    let first: Vec<String> = (0..500).map(|n| format!("before-{n}")).collect();
    produce_all(&producer, "t", &first);
    eprintln!("kill -9 broker {victim}, the leader");
    cluster.kill(victim);
    cluster.wait_for("t", 0, "a new leader", |p| {
        leader(p).is_some_and(|l| l != victim)
    });
    let second: Vec<String> = (0..500).map(|n| format!("after-{n}")).collect();
    produce_all(&producer, "t", &second);
    let deliveries = std::mem::take(&mut *producer.context().0.lock().unwrap());
    let acked: Vec<(String, i64)> = deliveries
        .iter()
        .filter_map(|(value, result)| Some((value.clone(), *result.as_ref().ok()?)))
        .collect();
    assert!(
        acked.len() >= 900,
        "most records were acknowledged: {} of 1000; errors: {:?}",
        acked.len(),
        deliveries
            .iter()
            .filter(|(_, r)| r.is_err())
            .take(3)
            .collect::<Vec<_>>()
    );
    let high = acked.iter().map(|(_, offset)| *offset).max().unwrap();
    let consumed = consume_all(&cluster, "t", high as usize + 1);
    let offsets: Vec<i64> = consumed.iter().map(|(offset, _)| *offset).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets ascend");
    for (value, offset) in &acked {
        let found = consumed.iter().find(|(o, _)| o == offset);
        assert_eq!(
            found.map(|(_, v)| v),
            Some(value),
            "acknowledged record {value} at offset {offset} is there"
        );
    }
}

/// librdkafka's idempotent producer keeps up to five requests in flight and retries whatever a
/// dying leader left unanswered: the new leader (which learned the producer from the batches
/// it replicated) answers those already appended with their offsets instead of appending them
/// again. Three leader kills under a steady stream: every acknowledged record is in the log
/// exactly once, where it was acknowledged, and the log holds the records in send order.
#[test]
fn an_idempotent_producer_duplicates_nothing_when_its_leader_is_killed_three_times() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", &[("min.insync.replicas", "2")]);
    let producer: ThreadedProducer<Deliveries> = config(&cluster)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "5")
        .create_with_context(Deliveries::default())
        .expect("create an idempotent producer");
    let sending = std::sync::atomic::AtomicBool::new(true);
    let sent = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut sent = 0u64;
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                let value = format!("{sent:08}");
                let record = BaseRecord::to("t").partition(0).payload(value.as_str());
                match producer.send::<(), _>(record) {
                    Ok(()) => sent += 1,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
                    Err((error, _)) => panic!("send {value}: {error}"),
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            sent
        });
        for round in 0..3 {
            std::thread::sleep(Duration::from_millis(1500));
            let partition = cluster.wait_for("t", 0, "a leader", |p| leader(p).is_some());
            let victim = leader(&partition).unwrap();
            eprintln!("round {round}: kill -9 broker {victim}, the leader");
            cluster.kill(victim);
            cluster.wait_for("t", 0, "a new leader", |p| {
                leader(p).is_some_and(|l| l != victim)
            });
            cluster.restart(victim);
            cluster.wait_for("t", 0, "the ISR back to 3", |p| isr(p).len() == 3);
        }
        std::thread::sleep(Duration::from_millis(500));
        sending.store(false, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap()
    });
    producer.flush(DEADLINE).expect("every record is reported");
    let deliveries = std::mem::take(&mut *producer.context().0.lock().unwrap());
    assert_eq!(deliveries.len() as u64, sent);
    let acked: Vec<(String, i64)> = deliveries
        .iter()
        .filter_map(|(value, result)| Some((value.clone(), *result.as_ref().ok()?)))
        .collect();
    assert_eq!(
        acked.len() as u64,
        sent,
        "every record was acknowledged; errors: {:?}",
        deliveries
            .iter()
            .filter(|(_, r)| r.is_err())
            .take(3)
            .collect::<Vec<_>>()
    );
    let high = acked.iter().map(|(_, offset)| *offset).max().unwrap();
    let consumed = consume_all(&cluster, "t", high as usize + 1);
    let values: Vec<&String> = consumed.iter().map(|(_, value)| value).collect();
    assert!(
        values.windows(2).all(|pair| pair[0] < pair[1]),
        "the log holds each record once, in send order"
    );
    for (value, offset) in &acked {
        let found = consumed.iter().find(|(o, _)| o == offset);
        assert_eq!(
            found.map(|(_, v)| v),
            Some(value),
            "acknowledged record {value} at offset {offset} is there"
        );
    }
    assert_eq!(
        consumed.len() as u64,
        sent,
        "nothing more than what was sent"
    );
}

#[test]
fn acks_all_meets_not_enough_replicas_below_min_insync_replicas_and_reads_go_on() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", &[("min.insync.replicas", "3")]);
    let partition = cluster.wait_for("t", 0, "all three in the ISR", |p| isr(p).len() == 3);
    let first = leader(&partition).unwrap();
    let committer = producer(&cluster, "30000", "1000");
    produce_all(&committer, "t", &["committed".to_string()]);
    let follower = (1..=3).find(|&b| b != first).unwrap();
    cluster.stop(follower);
    cluster.wait_for("t", 0, "the ISR down to two", |p| isr(p).len() == 2);
    // No retries: the broker's refusal is the record's error (retried, NOT_ENOUGH_REPLICAS
    // would end as a timeout).
    let refused = producer(&cluster, "10000", "0");
    produce_all(&refused, "t", &["refused".to_string()]);
    let reports = std::mem::take(&mut *refused.context().0.lock().unwrap());
    assert!(
        matches!(
            &reports[..],
            [(
                _,
                Err(KafkaError::MessageProduction(
                    RDKafkaErrorCode::NotEnoughReplicas
                ))
            )]
        ),
        "{reports:?}"
    );
    // Reads go on: the committed record is there.
    assert_eq!(
        consume_all(&cluster, "t", 1),
        [(0, "committed".to_string())]
    );
}

/// Creates `name` with `partitions` partitions of three replicas each.
fn create_partitioned(cluster: &Cluster, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(cluster).create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(3));
    let options = AdminOptions::new().operation_timeout(Some(DEADLINE));
    let results = block_on(admin.create_topics([&topic], &options)).expect("CreateTopics");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// Polls `consumer` (which runs its group protocol) until it has read `count` records, each
/// as (partition, offset, value).
fn poll_member(consumer: &BaseConsumer, count: usize) -> Vec<(i32, i64, String)> {
    let started = Instant::now();
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "read {} of {count} records: {records:?}",
            records.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
                records.push((message.partition(), message.offset(), value.into_owned()));
            }
            Some(Err(error)) => eprintln!("consumer: {error}"),
            None => {}
        }
    }
    records
}

#[test]
fn a_group_resumes_on_a_new_coordinator_with_its_committed_offsets_when_the_old_one_is_killed() {
    let mut cluster = Cluster::start(3, FAST);
    create_partitioned(&cluster, "work", 3);
    for partition in 0..3 {
        cluster.wait_for("work", partition, "a leader", |p| leader(p).is_some());
    }
    let producer = producer(&cluster, "30000", "1000");
    let first: Vec<String> = (0..30).map(|n| format!("first-{n}")).collect();
    produce_all(&producer, "work", &first);
    let group = "survivors";
    let member: BaseConsumer = config(&cluster)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .unwrap();
    member.subscribe(&["work"]).unwrap();
    let read = poll_member(&member, 30);
    assert_eq!(read.len(), 30);
    member
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("the member's commit is stored");
    // The group's coordinator is the leader of its partition of the offsets topic.
    let offsets_partition = ringlog_wire::group::partition_for(group) as usize;
    let coordinator = leader(&cluster.wait_for(
        "__consumer_offsets",
        offsets_partition,
        "a coordinator",
        |p| leader(p).is_some() && isr(p).len() == 3,
    ))
    .unwrap();
    eprintln!("kill -9 broker {coordinator}, the group's coordinator");
    cluster.kill(coordinator);
    cluster.wait_for(
        "__consumer_offsets",
        offsets_partition,
        "a new coordinator",
        |p| leader(p).is_some_and(|l| l != coordinator),
    );
    for partition in 0..3 {
        cluster.wait_for("work", partition, "a live leader", |p| {
            leader(p).is_some_and(|l| l != coordinator)
        });
    }
    // The commit made on the old coordinator is there on the new one.
    let reader: BaseConsumer = config(&cluster).set("group.id", group).create().unwrap();
    let committed_on_partition_0 = || {
        let mut asked = TopicPartitionList::new();
        asked.add_partition("work", 0);
        let committed = reader
            .committed_offsets(asked, DEADLINE)
            .expect("OffsetFetch");
        committed.find_partition("work", 0).unwrap().offset()
    };
    assert_eq!(committed_on_partition_0(), Offset::Offset(30));
    let second: Vec<String> = (0..3).map(|n| format!("second-{n}")).collect();
    produce_all(&producer, "work", &second);
    // The member goes on with the new coordinator, from the group's commits: only the new
    // records, none of the first thirty again.
    let more = poll_member(&member, 3);
    let values: Vec<&str> = more.iter().map(|(_, _, v)| v.as_str()).collect();
    assert!(
        values.iter().all(|v| v.starts_with("second-")),
        "resumed from the commits: {more:?}"
    );
    // A member whose session ran out while it looked for the new coordinator is answered
    // UNKNOWN_MEMBER_ID (or a rebalance is under way): as any Kafka client, it rejoins (its
    // polls run the group protocol), reads again from the group's commits, and commits again.
    let started = Instant::now();
    loop {
        let committed = member
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
            .is_ok();
        if committed && committed_on_partition_0() == Offset::Offset(33) {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "every record read is committed on the new coordinator: {:?}",
            committed_on_partition_0()
        );
        let _ = member.poll(Duration::from_millis(200));
    }
}
