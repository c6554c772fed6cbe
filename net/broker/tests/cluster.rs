//! Three brokers in one process, each with its own data directory, its own client and
//! controller listeners on 127.0.0.1 and a voter of one controller quorum: followers fetch
//! from leaders, acks=all waits for the ISR, and leadership moves when a broker stops. The
//! process-level fault tests (kill -9, SIGSTOP, cut networks) are in `tools/tests/`.

use std::net::SocketAddr;
use std::time::Duration;

use ringlog_broker::{Broker, ServerOptions};
use ringlog_client::{
    Acks, Client, ClientConfig, ConsumerConfig, OffsetReset, ProducerConfig, Record, TopicPartition,
};
use ringlog_replication::BrokerId;

const DEADLINE: Duration = Duration::from_secs(60);
const READY: Duration = Duration::from_secs(30);

struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    listen: Vec<SocketAddr>,
    voters: String,
    brokers: Vec<Option<Broker>>,
    /// What the test changes in every broker's options.
    tune: fn(&mut ServerOptions),
}

impl Cluster {
    /// `n` brokers, all voters, all registered.
    fn start(n: u32) -> Cluster {
        Cluster::start_tuned(n, |_| {})
    }

    /// `n` brokers with their options changed by `tune`.
    fn start_tuned(n: u32, tune: fn(&mut ServerOptions)) -> Cluster {
        let listen: Vec<SocketAddr> = (0..n)
            .map(|_| ringlog_ports::free_addr().unwrap())
            .collect();
        let voters: Vec<String> = (1..=n)
            .map(|id| format!("{id}@{}", ringlog_ports::free_addr().unwrap()))
            .collect();
        let mut cluster = Cluster {
            dirs: (0..n).map(|_| tempfile::tempdir().unwrap()).collect(),
            listen,
            voters: voters.join(","),
            brokers: (0..n).map(|_| None).collect(),
            tune,
        };
        for index in 0..n as usize {
            cluster.brokers[index] = Some(Broker::start(cluster.options(index)).unwrap());
        }
        for broker in cluster.brokers.iter().flatten() {
            broker.wait_ready(READY).unwrap();
        }
        cluster
    }

    fn options(&self, index: usize) -> ServerOptions {
        let mut options =
            ServerOptions::new(self.dirs[index].path().to_path_buf(), self.listen[index]);
        let id = BrokerId(index as u32 + 1);
        options.node_id = id;
        options.config.node_id = id;
        options.config.controller_quorum_voters = self.voters.parse().unwrap();
        options.config.broker_session_timeout = Duration::from_millis(3000);
        options.config.broker_heartbeat_interval = Duration::from_millis(500);
        options.config.replica_lag_time_max = Duration::from_millis(3000);
        options.config.replica_fetch_backoff = Duration::from_millis(100);
        options.shards = 2;
        (self.tune)(&mut options);
        options
    }

    fn bootstrap(&self) -> Vec<String> {
        self.listen.iter().map(SocketAddr::to_string).collect()
    }

    /// Stops broker `id` cleanly (a controlled shutdown first).
    fn stop(&mut self, id: BrokerId) {
        let broker = self.brokers[id.0 as usize - 1].take().expect("running");
        broker.stop().unwrap();
    }

    fn restart(&mut self, id: BrokerId) {
        let index = id.0 as usize - 1;
        let broker = Broker::start(self.options(index)).unwrap();
        broker.wait_ready(READY).unwrap();
        self.brokers[index] = Some(broker);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for broker in self.brokers.iter_mut().filter_map(Option::take) {
            let _ = broker.stop();
        }
    }
}

async fn connect(cluster: &Cluster) -> Client {
    let config = ClientConfig {
        bootstrap: cluster.bootstrap(),
        ..ClientConfig::default()
    };
    Client::connect(config).await.unwrap()
}

/// Creates a topic with a replica on every broker (each registered before it served, so the
/// controller places on all three even where the broker asked has not seen them all yet).
async fn create_topic(client: &Client, name: &str, partitions: u32, configs: &[(&str, &str)]) {
    client
        .admin()
        .create_topic(name, Some(partitions), Some(3), configs)
        .await
        .unwrap_or_else(|error| panic!("create topic {name}: {error}"));
}

async fn produce(client: &Client, topic: &str, values: std::ops::Range<u32>) {
    produce_to(client, topic, None, values).await;
}

/// Produces `values` with acks=all, to `partition` or where the partitioner puts them.
async fn produce_to(
    client: &Client,
    topic: &str,
    partition: Option<u32>,
    values: std::ops::Range<u32>,
) {
    let producer = client
        .producer(ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(1),
            ..ProducerConfig::default()
        })
        .unwrap();
    let mut deliveries = Vec::new();
    for i in values {
        let mut record = Record::new(topic).value(format!("value-{i}"));
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.flush().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close().await.unwrap();
}

async fn consume(client: &Client, topic: &str, count: usize) -> Vec<String> {
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer
        .assign(&[TopicPartition::new(topic, 0)])
        .await
        .unwrap();
    let mut values = Vec::new();
    while values.len() < count {
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            values.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_records_survive_their_leader_stopping() {
    let mut cluster = Cluster::start(3);
    tokio::time::timeout(DEADLINE, async {
        let client = connect(&cluster).await;
        create_topic(&client, "t", 1, &[("min_insync_replicas", "2")]).await;
        produce(&client, "t", 0..200).await;
        let leader = client.admin().describe_topics(&["t"]).await.unwrap()[0].partitions[0]
            .leader
            .expect("a leader");
        drop(client);
        tokio::task::block_in_place(|| cluster.stop(leader));
        let client = connect(&cluster).await;
        produce(&client, "t", 200..300).await;
        let described = client.admin().describe_topics(&["t"]).await.unwrap();
        let partition = &described[0].partitions[0];
        assert_ne!(partition.leader, Some(leader), "leadership moved");
        assert!(
            !partition.isr.contains(&leader),
            "the stopped broker left the ISR"
        );
        let expected: Vec<String> = (0..300).map(|i| format!("value-{i}")).collect();
        assert_eq!(consume(&client, "t", 300).await, expected);
        drop(client);
        tokio::task::block_in_place(|| cluster.restart(leader));
        // The restarted broker catches up and rejoins the ISR.
        let client = connect(&cluster).await;
        loop {
            let described = client.admin().describe_topics(&["t"]).await.unwrap();
            if described[0].partitions[0].isr.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("within the deadline");
}

/// Followers whose long poll lasts 5 s (and who stay in the ISR meanwhile).
fn long_polls(options: &mut ServerOptions) {
    options.config.replica_lag_time_max = Duration::from_secs(30);
    options.config.replica_fetch_wait_max = Duration::from_secs(5);
    options.config.fetch_max_wait = Duration::from_secs(5);
    options.fetch_wait_max = Duration::from_secs(5);
}

/// A partition that begins to follow a leader while its broker's fetcher long-polls that
/// leader for other partitions fetches at once: an acks=all produce to a new topic is
/// acknowledged long before the 5 s long poll of the idle topic would end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_partition_does_not_wait_for_the_long_poll_of_the_others() {
    let cluster = Cluster::start_tuned(3, long_polls);
    tokio::time::timeout(DEADLINE, async {
        let client = connect(&cluster).await;
        // Three leaders: every broker follows a partition of each of the others.
        create_topic(&client, "idle", 3, &[]).await;
        // An acks=all produce is answered once the followers' next fetches report the
        // records; those fetches wait at the leaders now, for 5 s, with nothing to come.
        for partition in 0..3 {
            produce_to(&client, "idle", Some(partition), 0..1).await;
        }
        create_topic(&client, "new", 3, &[]).await;
        let started = std::time::Instant::now();
        for partition in 0..3 {
            produce_to(&client, "new", Some(partition), 0..1).await;
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "acks=all to a new topic took {took:?}: its followers waited for the long poll"
        );
    })
    .await
    .expect("within the deadline");
}
