//! InitProducerId over both protocols against in-process brokers on 127.0.0.1 (port 0):
//! Kafka's requests built and responses decoded with `kafka-protocol`, the thin protocol's
//! through ringlog's client. Every id is given once: by one broker across its blocks and its
//! restarts, and by the brokers of a cluster, whose blocks come from one controller quorum
//! even when its leader moves. The test with librdkafka's idempotent producer is in the tools
//! crate (`kafka_clients.rs`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_broker::{Broker, ServerOptions};
use ringlog_client::{Client, ClientConfig, ProducerIdAndEpoch};
use ringlog_replication::BrokerId;

mod kafka_connection;
mod three_brokers;
use kafka_connection::Kafka;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Kafka's COORDINATOR_LOAD_IN_PROGRESS and INVALID_REQUEST.
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const INVALID_REQUEST: i16 = 42;

/// How many ids a broker's block holds (the broker's `PRODUCER_ID_BLOCK_LEN`, Kafka's).
const BLOCK: i64 = 1000;

/// InitProducerId over a connection to a broker's Kafka listener.
trait InitProducerIds {
    /// InitProducerId at `version` for an idempotent producer: (error code, id, epoch).
    fn init_producer_id(&mut self, version: i16) -> (i16, i64, i16);
    /// A fresh id from the broker, at epoch 0.
    fn producer_id(&mut self) -> i64;
    /// `request`'s answer: (error code, id, epoch).
    fn answer(&mut self, version: i16, request: &InitProducerIdRequest) -> (i16, i64, i16);
}

impl InitProducerIds for Kafka {
    fn init_producer_id(&mut self, version: i16) -> (i16, i64, i16) {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        self.answer(version, &request)
    }

    fn producer_id(&mut self) -> i64 {
        let (error, id, epoch) = self.init_producer_id(5);
        assert_eq!((error, epoch), (0, 0), "id {id}");
        id
    }

    fn answer(&mut self, version: i16, request: &InitProducerIdRequest) -> (i16, i64, i16) {
        let response: InitProducerIdResponse = self.call(version, request);
        (
            response.error_code,
            response.producer_id.0,
            response.producer_epoch,
        )
    }
}

fn start(dir: &Path) -> Broker {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut options = ServerOptions::new(dir.to_path_buf(), listen);
    options.shards = 2;
    let broker = Broker::start(options).expect("the broker starts");
    broker.wait_ready(TIMEOUT).expect("the broker registers");
    broker
}

async fn thin_client(brokers: &[&Broker]) -> Client {
    let config = ClientConfig {
        bootstrap: brokers.iter().map(|b| b.local_addr().to_string()).collect(),
        ..ClientConfig::default()
    };
    Client::connect(config).await.unwrap()
}

/// Adds `id` to `seen`, which must not hold it yet.
fn once(seen: &mut BTreeSet<i64>, id: i64) {
    assert!(id >= 0, "producer id {id}");
    assert!(seen.insert(id), "producer id {id} given twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_gives_every_id_once_over_both_protocols_across_blocks_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let addr = broker.kafka_addr().unwrap();
    let mut seen = BTreeSet::new();
    let mut kafka = tokio::task::block_in_place(|| Kafka::connect(addr));

    // Every version served answers with a fresh id at epoch 0.
    for version in 0..=5 {
        let (error, id, epoch) = tokio::task::block_in_place(|| kafka.init_producer_id(version));
        assert_eq!((error, epoch), (0, 0), "v{version}");
        once(&mut seen, id);
    }
    // v3+ may name the producer's current id and epoch (KIP-360): an idempotent producer
    // gets a new id all the same, as Kafka gives it. Half of the pair is INVALID_REQUEST.
    let bump = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(ProducerId(0))
        .with_producer_epoch(7);
    let (error, id, epoch) = tokio::task::block_in_place(|| kafka.answer(3, &bump));
    assert_eq!((error, epoch), (0, 0));
    once(&mut seen, id);
    let half = bump.clone().with_producer_epoch(-1);
    let refused = tokio::task::block_in_place(|| kafka.answer(4, &half));
    assert_eq!(refused, (INVALID_REQUEST, -1, -1));
    // A transactional id is refused: ringlog has no transactions.
    for version in [0, 5] {
        let transactional = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))));
        let refused = tokio::task::block_in_place(|| kafka.answer(version, &transactional));
        assert_eq!(refused, (INVALID_REQUEST, -1, -1), "v{version}");
    }

    // The thin protocol takes from the same blocks.
    let client = thin_client(&[&broker]).await;
    for _ in 0..5 {
        let given = client.admin().init_producer_id().await.unwrap();
        assert_eq!(given.epoch, 0);
        once(&mut seen, given.producer_id);
    }
    // Past the first block: the next one was asked for before this one ran out.
    while seen.len() < 1100 {
        let id = tokio::task::block_in_place(|| kafka.producer_id());
        once(&mut seen, id);
    }
    let ProducerIdAndEpoch { producer_id, epoch } =
        client.admin().init_producer_id().await.unwrap();
    assert_eq!(epoch, 0);
    once(&mut seen, producer_id);
    // One broker alone: its ids are the cluster's first, in the order asked.
    let given: Vec<i64> = seen.iter().copied().collect();
    let expected: Vec<i64> = (0..1101).collect();
    assert_eq!(given, expected);
    drop(client);
    drop(kafka);

    // A restarted broker starts from a new block: its earlier life's unused ids are skipped.
    tokio::task::block_in_place(|| broker.stop()).unwrap();
    let broker = tokio::task::block_in_place(|| start(dir.path()));
    let mut kafka = tokio::task::block_in_place(|| Kafka::connect(broker.kafka_addr().unwrap()));
    let id = tokio::task::block_in_place(|| kafka.producer_id());
    assert_eq!(id, 2 * BLOCK, "the first id of the third block");
    once(&mut seen, id);
    let client = thin_client(&[&broker]).await;
    let given = client.admin().init_producer_id().await.unwrap();
    once(&mut seen, given.producer_id);
    drop(kafka);
    tokio::task::block_in_place(|| broker.stop()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_controller_quorum_a_request_waits_request_timeout_then_is_refused_to_retry() {
    // Voter 1 of two whose other voter never starts: no leader, so no block ever comes.
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(
        dir.path().to_path_buf(),
        ringlog_ports::free_addr().unwrap(),
    );
    options.node_id = BrokerId(1);
    options.config.node_id = BrokerId(1);
    let voters = format!(
        "1@{},2@{}",
        ringlog_ports::free_addr().unwrap(),
        ringlog_ports::free_addr().unwrap()
    );
    options.config.controller_quorum_voters = voters.parse().unwrap();
    let request_timeout = Duration::from_millis(1500);
    options.config.request_timeout = request_timeout;
    let broker = Broker::start(options).unwrap();

    let addr = broker.kafka_addr().unwrap();
    let started = std::time::Instant::now();
    let refused = tokio::task::block_in_place(|| Kafka::connect(addr).init_producer_id(4));
    assert_eq!(refused, (COORDINATOR_LOAD_IN_PROGRESS, -1, -1));
    assert!(
        started.elapsed() >= request_timeout,
        "{:?}",
        started.elapsed()
    );
    // The thin protocol's answer says why; the client retries it until its own timeout.
    let config = ClientConfig {
        bootstrap: vec![broker.local_addr().to_string()],
        request_timeout: Duration::from_millis(2000),
        ..ClientConfig::default()
    };
    let client = Client::connect(config).await.unwrap();
    let error = client.admin().init_producer_id().await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("COORDINATOR_LOAD_IN_PROGRESS (14)")
            && message.contains("no block of ids from the controller quorum"),
        "{message}"
    );
    drop(client);
    tokio::task::block_in_place(|| broker.stop()).unwrap();
}

/// Three brokers in this process, every one a controller voter.
struct Cluster {
    _dirs: Vec<tempfile::TempDir>,
    brokers: Vec<Option<Broker>>,
}

impl Cluster {
    fn start() -> Cluster {
        let three_brokers::ThreeBrokers { dirs, brokers } = three_brokers::start(TIMEOUT, |_| {});
        Cluster {
            _dirs: dirs,
            brokers,
        }
    }

    /// The running brokers' Kafka connections, by broker index.
    fn kafkas(&self) -> Vec<(usize, Kafka)> {
        self.brokers
            .iter()
            .enumerate()
            .filter_map(|(index, broker)| {
                let addr = broker.as_ref()?.kafka_addr().unwrap();
                Some((index, Kafka::connect(addr)))
            })
            .collect()
    }

    /// The broker whose controller leads the quorum.
    fn controller_leader(&self) -> usize {
        three_brokers::controller_leader(&self.brokers, TIMEOUT)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for broker in self.brokers.iter_mut().filter_map(Option::take) {
            let _ = broker.stop();
        }
    }
}

/// Asks each of `kafkas` for `rounds` ids in turn: every id new to `seen`, each broker's in
/// blocks of its own (no block holds two brokers' ids).
fn take_round_robin(
    kafkas: &mut [(usize, Kafka)],
    rounds: usize,
    seen: &mut BTreeSet<i64>,
    blocks: &mut [BTreeSet<i64>; 3],
) {
    for _ in 0..rounds {
        for (index, kafka) in kafkas.iter_mut() {
            let id = kafka.producer_id();
            once(seen, id);
            blocks[*index].insert(id / BLOCK);
        }
    }
}

#[test]
fn the_brokers_of_a_cluster_never_give_the_same_id_even_when_the_controller_leader_moves() {
    let mut cluster = Cluster::start();
    let mut seen = BTreeSet::new();
    let mut blocks: [BTreeSet<i64>; 3] = Default::default();
    // Past each broker's first block, asked of all three in turn.
    let mut kafkas = cluster.kafkas();
    take_round_robin(&mut kafkas, 1100, &mut seen, &mut blocks);
    drop(kafkas);

    // The broker whose controller leads stops: the others' next blocks come from a new leader.
    let leader = cluster.controller_leader();
    cluster.brokers[leader].take().unwrap().stop().unwrap();
    let mut kafkas = cluster.kafkas();
    take_round_robin(&mut kafkas, 1000, &mut seen, &mut blocks);

    for (index, broker_blocks) in blocks.iter().enumerate() {
        let others: BTreeSet<i64> = blocks
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        assert!(
            broker_blocks.is_disjoint(&others),
            "broker {} shares a block: {broker_blocks:?} and {others:?}",
            index + 1
        );
    }
    assert_eq!(seen.len(), 3 * 1100 + 2 * 1000);
}
