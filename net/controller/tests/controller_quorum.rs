//! The controller quorum on 127.0.0.1 in one process: real sockets, real files in temp dirs,
//! fast Raft timings. Every wait has a deadline, and every test stops what it started (a
//! controller shuts down when dropped).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ringlog_controller::{
    Applied, CommandOutcome, Controller, ControllerConfig, ControllerError, METADATA_DIR,
    MetadataCommand, MetadataImage, ProducerIdBlock, RaftTiming,
};
use ringlog_replication::controller::{LivenessConfig, TopicConfig};
use ringlog_replication::{BrokerId, KafkaError, Millis, TopicPartition};
use tempfile::TempDir;
use tokio::time::Instant;

/// The longest any test may run.
const TEST_DEADLINE: Duration = Duration::from_secs(60);
/// The longest one wait for a condition may take.
const WAIT: Duration = Duration::from_secs(20);

fn timing() -> RaftTiming {
    RaftTiming {
        heartbeat_interval: Duration::from_millis(100),
        election_timeout_min: Duration::from_millis(400),
        election_timeout_max: Duration::from_millis(800),
        submit_timeout: Duration::from_secs(10),
    }
}

/// Runs a test body under the test deadline.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_DEADLINE, test)
        .await
        .expect("the test ran past its deadline");
}

fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A set of controller nodes, each with its data dir; voters keep their port across restarts.
struct Cluster {
    voters: BTreeMap<BrokerId, String>,
    dirs: BTreeMap<BrokerId, TempDir>,
    nodes: BTreeMap<BrokerId, Controller>,
    liveness: LivenessConfig,
    snapshot_every: u64,
}

impl Cluster {
    /// Binds `count` voters (ids 1..=count) on port 0 and starts them.
    fn start(count: u32) -> Cluster {
        Cluster::start_with(count, LivenessConfig::default(), 1000)
    }

    fn start_with(count: u32, liveness: LivenessConfig, snapshot_every: u64) -> Cluster {
        let listeners: Vec<(BrokerId, TcpListener)> =
            (1..=count).map(|id| (BrokerId(id), bind())).collect();
        let voters = listeners
            .iter()
            .map(|(id, listener)| (*id, listener.local_addr().unwrap().to_string()))
            .collect();
        let mut cluster = Cluster {
            voters,
            dirs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            liveness,
            snapshot_every,
        };
        for (id, listener) in listeners {
            cluster.dirs.insert(id, TempDir::new().unwrap());
            let controller = Controller::start(cluster.config(id, listener)).unwrap();
            cluster.nodes.insert(id, controller);
        }
        cluster
    }

    fn config(&self, id: BrokerId, listener: TcpListener) -> ControllerConfig {
        ControllerConfig {
            node_id: id,
            voters: self.voters.clone(),
            listener,
            data_dir: self.dirs[&id].path().to_path_buf(),
            liveness: self.liveness,
            timing: timing(),
            snapshot_every: self.snapshot_every,
            tls: None,
        }
    }

    fn node(&self, id: BrokerId) -> &Controller {
        &self.nodes[&id]
    }

    fn stop(&mut self, id: BrokerId) {
        self.nodes.remove(&id).expect("running").shutdown();
    }

    /// Starts a stopped voter again from its data dir, on its port.
    fn restart(&mut self, id: BrokerId) -> Result<(), ControllerError> {
        let listener = TcpListener::bind(&self.voters[&id]).unwrap();
        let controller = Controller::start(self.config(id, listener))?;
        self.nodes.insert(id, controller);
        Ok(())
    }

    /// Starts an observer with id `id`.
    fn start_observer(&mut self, id: BrokerId) -> Controller {
        self.dirs.insert(id, TempDir::new().unwrap());
        Controller::start(self.config(id, bind())).unwrap()
    }

    fn metadata_dir(&self, id: BrokerId) -> PathBuf {
        self.dirs[&id].path().join(METADATA_DIR)
    }

    /// The leader all running nodes agree on, once they do.
    async fn leader(&self) -> BrokerId {
        let deadline = Instant::now() + WAIT;
        loop {
            let statuses: Vec<_> = self.nodes.values().map(Controller::status).collect();
            let leader = statuses[0].leader;
            if let Some(leader) = leader
                && statuses.iter().all(|status| status.leader == Some(leader))
                && self
                    .nodes
                    .get(&leader)
                    .is_some_and(|node| node.status().is_leader)
            {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {WAIT:?}: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn follower(&self, leader: BrokerId) -> BrokerId {
        *self
            .nodes
            .keys()
            .find(|&&id| id != leader)
            .expect("a follower")
    }

    /// Waits until every running node's image is at `offset` or later with the same state.
    async fn converged(&self, offset: u64) -> Arc<MetadataImage> {
        let images: Vec<_> = {
            let mut images = Vec::new();
            for node in self.nodes.values() {
                images.push(wait_image(node, "the offset", |image| image.offset >= offset).await);
            }
            images
        };
        let last = images.iter().map(|image| image.offset).max().unwrap();
        let mut converged = Vec::new();
        for node in self.nodes.values() {
            converged.push(wait_image(node, "convergence", |image| image.offset >= last).await);
        }
        for image in &converged[1..] {
            assert_eq!(
                image.state, converged[0].state,
                "states differ at offset {last}"
            );
        }
        Arc::clone(&converged[0])
    }
}

/// Waits until `controller`'s image satisfies `condition`, and returns that image.
async fn wait_image(
    controller: &Controller,
    what: &str,
    condition: impl Fn(&MetadataImage) -> bool,
) -> Arc<MetadataImage> {
    let mut images = controller.watch();
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let image = Arc::clone(&images.borrow_and_update());
            if condition(&image) {
                return image;
            }
            images
                .changed()
                .await
                .expect("the controller publishes images");
        }
    })
    .await;
    let last = Arc::clone(&controller.watch().borrow());
    waited.unwrap_or_else(|_| panic!("timed out waiting for {what}; last image {last:?}"))
}

fn register(broker: u32, incarnation: u64) -> MetadataCommand {
    MetadataCommand::RegisterBroker {
        broker: BrokerId(broker),
        incarnation,
        endpoint: format!("127.0.0.1:{}", 19000 + broker),
        kafka_endpoint: None,
        rack: None,
        now: Millis(0),
    }
}

fn heartbeat(broker: u32, incarnation: u64) -> MetadataCommand {
    MetadataCommand::Heartbeat {
        broker: BrokerId(broker),
        incarnation,
        now: Millis(0),
    }
}

fn create_topic(name: &str, partitions: u32, replication_factor: u16) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: name.to_string(),
        partitions,
        replication_factor,
        config: TopicConfig::default(),
        configs: BTreeMap::from([("cleanup.policy".to_string(), "delete".to_string())]),
        topic_id: None,
        assignments: None,
    }
}

async fn applied(controller: &Controller, command: MetadataCommand) -> Applied {
    let outcome: CommandOutcome = controller.submit(command).await.unwrap();
    outcome.unwrap()
}

/// Registers brokers 1..=3 and creates topic `orders` of 3 partitions, RF 3, through `node`.
async fn populate(node: &Controller) {
    for broker in 1..=3 {
        applied(node, register(broker, 1)).await;
    }
    let created = applied(node, create_topic("orders", 3, 3)).await;
    assert_eq!(created.changes.len(), 3);
}

fn topic_names(image: &MetadataImage) -> Vec<String> {
    image
        .state
        .metadata
        .topics()
        .map(|t| t.name().to_string())
        .collect()
}

#[tokio::test]
async fn three_voters_apply_commands_submitted_through_a_follower_on_every_node() {
    bounded(async {
        let cluster = Cluster::start(3);
        let leader = cluster.leader().await;
        let follower = cluster.node(cluster.follower(leader));
        populate(follower).await;
        let offset = follower.status().metadata_offset;
        let image = cluster.converged(offset).await;
        assert_eq!(topic_names(&image), ["orders"]);
        assert_eq!(image.state.brokers.len(), 3);
        assert_eq!(
            image.state.topic_configs["orders"]["cleanup.policy"],
            "delete"
        );
        // A refused command comes back as a refusal, and changes nothing.
        let refused = follower.submit(create_topic("orders", 1, 1)).await.unwrap();
        assert_eq!(refused.unwrap_err().code, KafkaError::TopicAlreadyExists);
        // Blocking callers get the same.
        let node = follower.clone();
        let outcome = tokio::task::spawn_blocking(move || node.submit_blocking(heartbeat(2, 1)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Ok(Applied::default()));
    })
    .await;
}

#[tokio::test]
async fn a_new_leader_takes_over_and_the_old_one_catches_up_after_a_restart() {
    bounded(async {
        let mut cluster = Cluster::start(3);
        let old_leader = cluster.leader().await;
        populate(cluster.node(old_leader)).await;
        cluster.stop(old_leader);
        let new_leader = cluster.leader().await;
        assert_ne!(new_leader, old_leader);
        let survivor = cluster.node(cluster.follower(new_leader));
        applied(survivor, create_topic("after", 1, 2)).await;
        let offset = survivor.status().metadata_offset;
        cluster.restart(old_leader).unwrap();
        let image = cluster.converged(offset).await;
        assert_eq!(topic_names(&image), ["after", "orders"]);
    })
    .await;
}

#[tokio::test]
async fn all_voters_restart_from_disk_with_their_state_and_offset() {
    bounded(async {
        let mut cluster = Cluster::start(3);
        let leader = cluster.leader().await;
        populate(cluster.node(leader)).await;
        let before = cluster
            .converged(cluster.node(leader).status().metadata_offset)
            .await;
        for id in [1, 2, 3] {
            cluster.stop(BrokerId(id));
        }
        for id in [1, 2, 3] {
            cluster.restart(BrokerId(id)).unwrap();
        }
        let after = cluster.converged(before.offset).await;
        assert_eq!(after.state, before.state);
        cluster.leader().await;
        applied(cluster.node(BrokerId(1)), create_topic("later", 1, 3)).await;
    })
    .await;
}

#[tokio::test]
async fn a_single_voter_cluster_works_alone_and_across_restarts() {
    bounded(async {
        let mut cluster = Cluster::start(1);
        let node = BrokerId(1);
        assert_eq!(cluster.leader().await, node);
        populate(cluster.node(node)).await;
        let before = Arc::clone(&cluster.node(node).watch().borrow());
        cluster.stop(node);
        cluster.restart(node).unwrap();
        let after = wait_image(cluster.node(node), "the replayed log", |image| {
            image.offset >= before.offset
        })
        .await;
        assert_eq!(after.state, before.state);
        let running = cluster.node(node).clone();
        // A command too large for a log entry is refused before it reaches the log.
        let mut huge = create_topic("huge", 1, 1);
        if let MetadataCommand::CreateTopic { configs, .. } = &mut huge {
            configs.insert("padding".to_string(), "x".repeat(2 << 20));
        }
        let refused = running.submit(huge).await.unwrap().unwrap_err();
        assert_eq!(refused.code, KafkaError::InvalidRequest, "{refused}");
        let status = running.status();
        assert!(status.is_voter);
        // Shut down (twice: the second does nothing), a submit is refused, not lost in a hang.
        running.shutdown();
        cluster.stop(node);
        let refused = running.submit(heartbeat(1, 1)).await.unwrap_err();
        assert!(matches!(refused, ControllerError::ShutDown), "{refused}");
        let refused = running.submit_blocking(heartbeat(1, 1)).unwrap_err();
        assert!(matches!(refused, ControllerError::ShutDown), "{refused}");
        assert_eq!(running.status().metadata_offset, after.offset);
    })
    .await;
}

#[tokio::test]
async fn a_second_controller_on_a_data_dir_in_use_is_refused_and_starts_once_it_is_free() {
    bounded(async {
        let mut cluster = Cluster::start(1);
        let node = BrokerId(1);
        assert_eq!(cluster.leader().await, node);
        // The same voter on another port (its own is taken), so only the data dir clashes.
        let listener = bind();
        let mut config = cluster.config(node, listener);
        let address = config.listener.local_addr().unwrap().to_string();
        config.voters.insert(node, address);
        let refused = Controller::start(config).unwrap_err();
        assert!(refused.to_string().contains("already in use"), "{refused}");
        // The running one was not disturbed, and its lock goes with it.
        assert!(cluster.node(node).status().is_voter);
        cluster.stop(node);
        cluster.restart(node).unwrap();
        assert_eq!(cluster.leader().await, node);
    })
    .await;
}

#[tokio::test]
async fn an_observer_sees_every_image_and_submits_through_the_voters() {
    bounded(async {
        let mut cluster = Cluster::start(3);
        let leader = cluster.leader().await;
        let observer = cluster.start_observer(BrokerId(9));
        let status = observer.status();
        assert!(!status.is_voter && !status.is_leader);
        populate(&observer).await;
        let offset = cluster.node(leader).status().metadata_offset;
        let voters_image = cluster.converged(offset).await;
        let observed = wait_image(&observer, "the voters' image", |image| {
            image.offset >= voters_image.offset
        })
        .await;
        assert_eq!(observed.state, voters_image.state);
        assert!(
            !cluster.metadata_dir(BrokerId(9)).exists(),
            "an observer stores no metadata log"
        );
        assert_eq!(observer.status().leader, Some(leader));
        observer.shutdown();
    })
    .await;
}

#[tokio::test]
async fn broker_lives_are_fenced_on_expiry_and_on_a_new_incarnation() {
    bounded(async {
        let liveness = LivenessConfig::from_broker_session_timeout_ms(1000);
        let cluster = Cluster::start_with(1, liveness, 1000);
        let node = cluster.node(BrokerId(1));
        cluster.leader().await;
        applied(node, register(1, 1)).await;
        applied(node, register(2, 1)).await;
        applied(node, create_topic("t", 1, 2)).await;
        let t0 = TopicPartition::new("t", 0);
        let image = Arc::clone(&node.watch().borrow());
        let leader = image
            .state
            .metadata
            .partition(&t0)
            .unwrap()
            .leader()
            .unwrap();
        let other = if leader == BrokerId(1) { 2 } else { 1 };

        // The leader's broker restarts: its old life is fenced (leadership moves, it leaves
        // the ISR), then the new one is unfenced.
        let restarted = applied(node, register(leader.0, 2)).await;
        assert_eq!(restarted.fenced, vec![leader]);
        let image = Arc::clone(&node.watch().borrow());
        let partition = image.state.metadata.partition(&t0).unwrap();
        assert_eq!(partition.leader(), Some(BrokerId(other)));
        assert_eq!(partition.isr(), [BrokerId(other)]);
        assert!(image.state.metadata.is_live(leader));
        assert_eq!(image.state.brokers[&leader].incarnation, 2);

        // A heartbeat of the old life is stale.
        let stale = node
            .submit(heartbeat(leader.0, 1))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(stale.code, KafkaError::StaleBrokerEpoch);
        assert_eq!(stale.code.code(), 77);

        // Nobody heartbeats any more: the leader's timer fences both brokers.
        let image = wait_image(node, "both brokers fenced by session expiry", |image| {
            image
                .state
                .metadata
                .brokers()
                .all(|broker| broker.is_fenced())
        })
        .await;
        let partition = image.state.metadata.partition(&t0).unwrap();
        assert_eq!(partition.leader(), None);
        // Back with a heartbeat of the registered life.
        applied(node, heartbeat(other, 1)).await;
        let image = Arc::clone(&node.watch().borrow());
        assert_eq!(
            image.state.metadata.partition(&t0).unwrap().leader(),
            Some(BrokerId(other))
        );
    })
    .await;
}

fn log_file(dir: &Path) -> PathBuf {
    dir.join("raft-log")
}

#[tokio::test]
async fn a_torn_tail_of_the_log_is_cut_on_restart() {
    bounded(async {
        let mut cluster = Cluster::start(1);
        let node = BrokerId(1);
        cluster.leader().await;
        populate(cluster.node(node)).await;
        let before = Arc::clone(&cluster.node(node).watch().borrow());
        cluster.stop(node);
        let path = log_file(&cluster.metadata_dir(node));
        let whole_len = std::fs::metadata(&path).unwrap().len();
        // Half a record: a length field promising more bytes than follow.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&[0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, b'{'])
            .unwrap();
        drop(file);
        cluster.restart(node).unwrap();
        let after = wait_image(cluster.node(node), "the replayed log", |image| {
            image.offset >= before.offset
        })
        .await;
        assert_eq!(after.state, before.state);
        cluster.leader().await;
        applied(cluster.node(node), create_topic("after-cut", 1, 1)).await;
        assert!(std::fs::metadata(&path).unwrap().len() > whole_len);
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_entry_before_the_tail_stops_the_start_with_its_position() {
    bounded(async {
        let mut cluster = Cluster::start(1);
        let node = BrokerId(1);
        cluster.leader().await;
        populate(cluster.node(node)).await;
        cluster.stop(node);
        let path = log_file(&cluster.metadata_dir(node));
        let mut bytes = std::fs::read(&path).unwrap();
        // The first record's payload: damage that more records follow.
        bytes[8] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let error = cluster.restart(node).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, ControllerError::Corrupt { .. }),
            "{message}"
        );
        assert!(message.contains("raft-log"), "{message}");
        assert!(
            message.contains("corrupt entry at file position 0: crc mismatch"),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_snapshot_and_the_log_after_it_restore_the_state() {
    bounded(async {
        let mut cluster = Cluster::start_with(1, LivenessConfig::default(), 5);
        let node = BrokerId(1);
        cluster.leader().await;
        populate(cluster.node(node)).await;
        for index in 0..8 {
            applied(cluster.node(node), create_topic(&format!("t{index}"), 1, 3)).await;
        }
        let before = Arc::clone(&cluster.node(node).watch().borrow());
        wait_for_purge(&cluster.metadata_dir(node)).await;
        assert!(cluster.metadata_dir(node).join("snapshot").exists());
        cluster.stop(node);
        cluster.restart(node).unwrap();
        let after = wait_image(cluster.node(node), "the restored state", |image| {
            image.offset >= before.offset
        })
        .await;
        assert_eq!(after.state, before.state);
        assert_eq!(topic_names(&after).len(), 9);
    })
    .await;
}

/// Waits until the log in `dir` was purged behind a snapshot: its first record is `Purged`.
async fn wait_for_purge(dir: &Path) {
    let deadline = Instant::now() + WAIT;
    loop {
        let bytes = std::fs::read(log_file(dir)).unwrap_or_default();
        if bytes.get(8..18) == Some(&b"{\"Purged\":"[..]) {
            return;
        }
        assert!(Instant::now() < deadline, "log not purged within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_voter_behind_the_purged_log_catches_up_from_a_snapshot() {
    bounded(async {
        let mut cluster = Cluster::start_with(3, LivenessConfig::default(), 5);
        let leader = cluster.leader().await;
        let behind = cluster.follower(leader);
        cluster.stop(behind);
        populate(cluster.node(leader)).await;
        for index in 0..8 {
            applied(
                cluster.node(leader),
                create_topic(&format!("t{index}"), 1, 3),
            )
            .await;
        }
        wait_for_purge(&cluster.metadata_dir(leader)).await;
        cluster.restart(behind).unwrap();
        let image = cluster
            .converged(cluster.node(leader).status().metadata_offset)
            .await;
        assert_eq!(topic_names(&image).len(), 9);
        assert!(cluster.metadata_dir(behind).join("snapshot").exists());
    })
    .await;
}

/// A block of 1000 producer ids for `broker`'s first life, through `node`.
async fn producer_ids(node: &Controller, broker: u32) -> ProducerIdBlock {
    let command = MetadataCommand::AllocateProducerIds {
        broker: BrokerId(broker),
        incarnation: 1,
        count: 1000,
    };
    applied(node, command).await.producer_ids.expect("a block")
}

#[tokio::test]
async fn producer_id_blocks_never_overlap_across_leader_changes_snapshots_and_restarts() {
    bounded(async {
        let mut cluster = Cluster::start_with(3, LivenessConfig::default(), 5);
        let old_leader = cluster.leader().await;
        let follower = cluster.follower(old_leader);
        populate(cluster.node(follower)).await;
        let mut blocks = Vec::new();
        for broker in [1, 2, 3, 1, 2, 3] {
            blocks.push(producer_ids(cluster.node(follower), broker).await);
        }
        wait_for_purge(&cluster.metadata_dir(old_leader)).await;
        // A new leader goes on from where the old one stopped.
        cluster.stop(old_leader);
        let new_leader = cluster.leader().await;
        for broker in [1, 2] {
            blocks.push(producer_ids(cluster.node(new_leader), broker).await);
        }
        let offset = cluster.node(new_leader).status().metadata_offset;
        cluster.restart(old_leader).unwrap();
        cluster.converged(offset).await;
        // Every voter restarts from its snapshot and the log after it.
        for id in [1, 2, 3] {
            cluster.stop(BrokerId(id));
        }
        for id in [1, 2, 3] {
            cluster.restart(BrokerId(id)).unwrap();
        }
        let image = cluster.converged(offset).await;
        assert_eq!(image.state.next_producer_id, 8000);
        let leader = cluster.leader().await;
        blocks.push(producer_ids(cluster.node(leader), 3).await);
        assert_eq!(blocks[0].first, 0);
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].end, pair[1].first, "blocks {pair:?}");
        }
        assert_eq!(blocks.last().unwrap().end, 9000);
    })
    .await;
}

#[tokio::test]
async fn garbage_on_the_controller_port_closes_that_connection_only() {
    bounded(async {
        let cluster = Cluster::start(3);
        let leader = cluster.leader().await;
        let addr = cluster.node(leader).local_addr();
        let garbage = tokio::task::spawn_blocking(move || {
            // A length field beyond the frame limit: the connection is closed.
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            stream
                .write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
                .unwrap();
            let mut buf = [0; 16];
            assert_eq!(stream.read(&mut buf).unwrap(), 0, "connection not closed");

            // A whole frame whose body is not JSON: refused with INVALID_REQUEST (42).
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let body = b"not json";
            let mut frame = (8 + body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&1003u16.to_be_bytes());
            frame.extend_from_slice(&0u16.to_be_bytes());
            frame.extend_from_slice(&7u32.to_be_bytes());
            frame.extend_from_slice(body);
            stream.write_all(&frame).unwrap();
            let mut header = [0; 10];
            stream.read_exact(&mut header).unwrap();
            assert_eq!(&header[4..8], &7u32.to_be_bytes());
            assert_eq!(i16::from_be_bytes([header[8], header[9]]), 42);
        });
        garbage.await.unwrap();
        populate(cluster.node(leader)).await;
        let offset = cluster.node(leader).status().metadata_offset;
        cluster.converged(offset).await;
    })
    .await;
}
