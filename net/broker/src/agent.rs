//! The broker's link to the cluster, on its own thread with a tokio runtime: everything the
//! shards must not wait for.
//!
//! - **Registration and heartbeats.** The broker registers with the controller quorum under a
//!   new incarnation at every start (the controller fences the previous life first), then
//!   heartbeats every `broker_heartbeat_interval`. It acts on no metadata until the image
//!   shows its own registration (a rule the simulator found: a restarted broker acting on
//!   the state of its previous life can lose acknowledged records).
//! - **Metadata.** Each image the controller applies becomes the shards' [`Catalog`]; each
//!   partition this broker holds gets its new state on its owner shard
//!   ([`ShardMsg::PartitionState`]), a changed topic config reopens the partition
//!   ([`ShardMsg::Reconfigure`]), a deleted topic deletes its logs ([`ShardMsg::Delete`]).
//! - **Follower fetches.** One fetcher per leader broker gathers the fetches the partitions'
//!   followers want into one long poll at a time (as Kafka's replica fetcher threads do),
//!   and hands each partition's answer to its owner shard ([`ShardMsg::FetchAnswer`]). A
//!   fetch that comes while the long poll is out goes at once in a request that ends it, so
//!   no partition's fetch waits behind the others' long poll.
//! - **Controller requests.** ISR proposals ([`MetadataCommand::AlterPartition`]); the admin
//!   requests (CreateTopics, DeleteTopics, AlterConfigs, topics created on first use; users'
//!   SCRAM credentials and ACLs, in `security`), whose answers go back to the shard that read
//!   the request ([`ShardMsg::AdminDone`]).
//! - **Producer ids.** InitProducerId requests take ids from the blocks the controller
//!   allocates this broker ([`MetadataCommand::AllocateProducerIds`]), kept by one task
//!   ([`hand_out_producer_ids`], over the pure [`ProducerIdPool`]): the next block is asked
//!   for before the current one runs out, and a request that finds no id waits for it.
//! - **TLS reloads.** The TLS listeners' key and certificates are loaded again when their
//!   files change ([`reload_tls`]).
//! - **Bootstrap users.** `sasl_bootstrap_users` are written into a new cluster's metadata
//!   (`sasl_bootstrap`).
//! - **Controlled shutdown.** Before the broker stops, the controller moves its leaderships
//!   away ([`MetadataCommand::ControlledShutdown`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use ringlog_engine::Offset;

use ringlog_replication::controller::metadata::{PARTITIONS_PER_TOPIC_MAX, Replicas};
use ringlog_replication::controller::{Partition, TopicConfigChange};
use ringlog_replication::driver::Refusal;
use ringlog_replication::partition::{FetchId, FollowerFetchRequest};
use ringlog_replication::{BrokerId, KafkaError, Millis, TopicId, TopicPartition};
use tokio::sync::{mpsc, watch};

mod sasl_bootstrap;
mod security;

use super::bus::JobKey;
use super::bus::{AgentMsg, ShardMsg, Shared, owner_of};
use super::catalog::Catalog;
use super::offsets::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS};
use super::ops::{
    AdminOp, AdminOutcome, LeaderAnswer, NewPartitions, NewTopic, TopicAlteration, TopicOutcomes,
};
use super::producer_ids::{Answer, PRODUCER_ID_BLOCK_LEN, ProducerIdPool};
use super::topic_config::{TopicConfig, TopicSettings};
use ringlog_client::ClientError;
use ringlog_client::connection::{Connection, ConnectionLimits};
use ringlog_controller::{
    Applied, CommandOutcome, Controller, ControllerError, MetadataCommand, MetadataImage,
    ProducerIdBlock,
};
use ringlog_wire::api::Topic;
use ringlog_wire::api::fetch::{FetchPartition, FetchPartitionResponse, FetchRequest};
use ringlog_wire::{ErrorCode, Request, Response};

/// How long a follower fetcher waits, after a response, for the partitions it answered to
/// ask again before it sends the next long poll without them (a partition that asks later is
/// sent at once, in a request that ends the long poll).
const FETCH_GATHER_MAX: Duration = Duration::from_millis(20);

/// How long a controlled shutdown waits for the controller to move the leaderships away.
pub(crate) const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The running agent: its thread and the way to stop it.
#[derive(Debug)]
pub(crate) struct Agent {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Agent {
    /// Starts the agent on its own thread. `inbox` is the receiving end of
    /// [`Shared::agent`].
    pub(crate) fn start(
        shared: Arc<Shared>,
        controller: Controller,
        inbox: mpsc::UnboundedReceiver<AgentMsg>,
    ) -> std::io::Result<Agent> {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("ringlog-agent".to_string())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the agent");
                runtime.block_on(run(shared, controller, inbox, stopped));
            })?;
        Ok(Agent {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the agent (after a controlled shutdown, which it waits for at most
    /// [`CONTROLLED_SHUTDOWN_TIMEOUT`]).
    pub(crate) fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The broker's identity towards the controller.
#[derive(Clone, Copy, Debug)]
struct Identity {
    me: BrokerId,
    incarnation: u64,
}

async fn run(
    shared: Arc<Shared>,
    controller: Controller,
    mut inbox: mpsc::UnboundedReceiver<AgentMsg>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let identity = Identity {
        me: shared.options.node_id,
        incarnation: incarnation(),
    };
    let mut images = controller.watch();
    let registration = tokio::spawn(register_and_heartbeat(
        shared.clone(),
        controller.clone(),
        identity,
    ));
    let (producer_ids, id_requests) = mpsc::unbounded_channel();
    let producer_id_task = tokio::spawn(hand_out_producer_ids(
        shared.clone(),
        controller.clone(),
        identity,
        id_requests,
    ));
    let tls_task = tokio::spawn(reload_tls(shared.clone()));
    let mut hosting = Hosting::default();
    let mut tasks = Tasks {
        fetchers: Fetchers::new(shared.clone()),
        producer_ids,
    };
    let mut offsets_topic_asked = false;
    let mut bootstrap_users_asked = false;
    let image = images.borrow_and_update().clone();
    hosting.apply(&shared, &image, identity);
    loop {
        tokio::select! {
            changed = images.changed() => {
                if changed.is_err() {
                    break;
                }
                let image = images.borrow_and_update().clone();
                hosting.apply(&shared, &image, identity);
                tasks.fetchers.forget_unfollowed(&hosting);
                if !offsets_topic_asked && offsets_topic_due(&shared, &image, identity) {
                    offsets_topic_asked = true;
                    handle(&shared, &controller, &mut tasks, AgentMsg::CreateOffsetsTopic);
                }
                let registered = registered(&image, identity);
                if !bootstrap_users_asked && sasl_bootstrap::due(&shared, &image, registered) {
                    bootstrap_users_asked = true;
                    tokio::spawn(sasl_bootstrap::write(shared.clone(), controller.clone()));
                }
                super::metrics::set_controller_leader(controller.status().leader.map(|id| id.0));
            }
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                handle(&shared, &controller, &mut tasks, msg);
            }
            _ = &mut stopped => {
                controlled_shutdown(&shared, &controller, identity, &mut images).await;
                break;
            }
        }
    }
    registration.abort();
    producer_id_task.abort();
    tls_task.abort();
}

/// Looks at the TLS listeners' key, certificates and CAs every `ssl_reload_interval_ms`, and
/// loads them again when they change (see [`crate::tls`]).
async fn reload_tls(shared: Arc<Shared>) {
    let Some(tls) = shared.tls.as_ref() else {
        return;
    };
    let mut interval = tokio::time::interval(shared.options.config.ssl_reload_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match tls.reload_if_changed() {
            Ok(true) => {
                tracing::info!("TLS key and certificates reloaded: new connections use them")
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(
                %error,
                "TLS files changed but do not load: connections go on with the ones loaded before"
            ),
        }
    }
}

/// What the agent's loop hands messages to besides the controller: the follower fetchers and
/// the producer id task.
struct Tasks {
    fetchers: Fetchers,
    producer_ids: mpsc::UnboundedSender<IdRequest>,
}

/// A number no earlier start of this broker used: nanoseconds since the UNIX epoch.
fn incarnation() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

fn handle(shared: &Arc<Shared>, controller: &Controller, tasks: &mut Tasks, msg: AgentMsg) {
    match msg {
        AgentMsg::Fetch {
            topic_partition,
            fetch_id,
            leader,
            request,
        } => tasks
            .fetchers
            .fetch(topic_partition, fetch_id, leader, request),
        AgentMsg::Admin {
            shard,
            job,
            op: AdminOp::InitProducerId,
        } => {
            // The task stops only with the agent.
            let _ = tasks.producer_ids.send(IdRequest { shard, job });
        }
        AgentMsg::ProposeIsr {
            topic_partition,
            proposal,
        } => {
            let shared = shared.clone();
            let controller = controller.clone();
            tokio::spawn(async move {
                let command = MetadataCommand::AlterPartition {
                    topic_partition: topic_partition.clone(),
                    proposal,
                };
                match controller.submit(command).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(refusal)) => {
                        tracing::info!(partition = %topic_partition, %refusal.message, "isr proposal refused");
                        let owner = owner_of(&topic_partition, shared.options.shards);
                        shared.inboxes[owner].send(ShardMsg::IsrRejected { topic_partition });
                    }
                    // The leader sends the proposal again after `isr_proposal_timeout`.
                    Err(error) => {
                        tracing::warn!(partition = %topic_partition, %error, "isr proposal not delivered")
                    }
                }
            });
        }
        AgentMsg::Admin { shard, job, op } => {
            let shared = shared.clone();
            let controller = controller.clone();
            tokio::spawn(async move {
                let outcome = admin(&shared, &controller, op).await;
                shared.inboxes[shard].send(ShardMsg::AdminDone { job, outcome });
            });
        }
        AgentMsg::CreateOnUse { names } => {
            let shared = shared.clone();
            let controller = controller.clone();
            tokio::spawn(async move {
                let config = &shared.options.config;
                for name in names {
                    let replicas = Replicas::Spread {
                        partition_count: config.num_partitions,
                        replication_factor: config.default_replication_factor,
                    };
                    let outcome =
                        create_topic(&shared, &controller, &name, replicas, &TopicConfig::new())
                            .await;
                    match outcome {
                        Ok(()) => tracing::info!(topic = %name, "topic created on first use"),
                        Err(refusal) if refusal.error == KafkaError::TopicAlreadyExists => {}
                        Err(refusal) => {
                            tracing::warn!(topic = %name, %refusal, "cannot create topic on first use")
                        }
                    }
                }
            });
        }
        AgentMsg::CreateOffsetsTopic => {
            let shared = shared.clone();
            let controller = controller.clone();
            tokio::spawn(async move {
                let live = shared.catalog().live_brokers().max(1);
                let wanted = shared.options.config.offsets_topic_replication_factor;
                let replication_factor = wanted.min(u16::try_from(live).unwrap_or(u16::MAX));
                let replicas = Replicas::Spread {
                    partition_count: OFFSETS_TOPIC_PARTITIONS,
                    replication_factor,
                };
                let outcome = create_topic(
                    &shared,
                    &controller,
                    OFFSETS_TOPIC,
                    replicas,
                    &offsets_topic_config(&shared.options.config.topic_defaults()),
                )
                .await;
                match outcome {
                    Ok(()) => tracing::info!(replication_factor, "created {OFFSETS_TOPIC}"),
                    Err(refusal) if refusal.error == KafkaError::TopicAlreadyExists => {}
                    Err(refusal) => {
                        tracing::warn!(%refusal, "cannot create {OFFSETS_TOPIC}")
                    }
                }
            });
        }
    }
}

// ---- registration ----

async fn register_and_heartbeat(shared: Arc<Shared>, controller: Controller, identity: Identity) {
    let config = &shared.options.config;
    let endpoint = shared.advertised.to_string();
    let rack = config.rack.as_ref().map(|rack| rack.0.clone());
    let register = MetadataCommand::RegisterBroker {
        broker: identity.me,
        incarnation: identity.incarnation,
        endpoint,
        kafka_endpoint: shared.kafka_advertised.clone(),
        rack,
        now: Millis(0),
    };
    let mut registered = false;
    let mut interval = tokio::time::interval(config.broker_heartbeat_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let command = if registered {
            MetadataCommand::Heartbeat {
                broker: identity.me,
                incarnation: identity.incarnation,
                now: Millis(0),
            }
        } else {
            register.clone()
        };
        match controller.submit(command).await {
            Ok(Ok(_)) => {
                if !registered {
                    tracing::info!(broker = %identity.me, incarnation = identity.incarnation, "registered with the controller");
                    name_the_cluster(&controller).await;
                }
                registered = true;
            }
            Ok(Err(refusal)) => {
                tracing::error!(broker = %identity.me, code = ?refusal.code, %refusal.message, "the controller refused this broker");
                // Registering again is the way back for a broker the controller forgot; a
                // newer life of this id makes every attempt fail loudly.
                registered = false;
            }
            Err(error) => tracing::warn!(%error, "cannot reach the controller"),
        }
    }
}

/// Proposes a cluster id (Kafka's `cluster.id`: a random UUID in URL-safe base64): the first
/// broker's proposal is applied, the others change nothing.
async fn name_the_cluster(controller: &Controller) {
    let cluster_id = TopicId::from_random(random_bytes()).to_string();
    match controller
        .submit(MetadataCommand::InitCluster { cluster_id })
        .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => tracing::warn!(%refusal, "the controller refused a cluster id"),
        Err(error) => tracing::warn!(%error, "cannot propose a cluster id"),
    }
}

/// 16 bytes from the kernel's random source, for topic and cluster ids.
fn random_bytes() -> [u8; 16] {
    use std::io::Read;
    let mut bytes = [0; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("/dev/urandom gives random bytes");
    bytes
}

/// `__consumer_offsets`' own config: no retention by time or size, which would delete a live
/// group's last commit or its group record once they are old enough; the coordinator expires
/// what is stale itself (`offsets_retention_minutes`), and compaction (Kafka's policy for
/// this topic) is what will bound its size.
fn offsets_topic_config(defaults: &TopicSettings) -> TopicConfig {
    TopicConfig::from_pairs(
        [("retention_ms", "-1"), ("retention_bytes", "-1")],
        defaults,
    )
    .expect("unlimited retention is a valid topic config")
}

/// Whether `__consumer_offsets` should be created now: it does not exist, this broker is
/// registered, and as many brokers are live as the topic should have replicas (at most the
/// quorum's voters, so a one-node cluster creates it at once). A group request that comes
/// earlier creates it with the brokers live then.
fn offsets_topic_due(shared: &Shared, image: &MetadataImage, identity: Identity) -> bool {
    let state = &image.state;
    if state.metadata.topic(OFFSETS_TOPIC).is_some() || !registered(image, identity) {
        return false;
    }
    let voters = shared.options.config.controller_quorum_voters.len().max(1);
    let wanted = usize::from(shared.options.config.offsets_topic_replication_factor).min(voters);
    let live = state.metadata.brokers().filter(|b| !b.is_fenced()).count();
    live >= wanted
}

/// Whether `image` holds this broker's registration under this incarnation.
fn registered(image: &MetadataImage, identity: Identity) -> bool {
    image
        .state
        .brokers
        .get(&identity.me)
        .is_some_and(|registration| registration.incarnation == identity.incarnation)
}

async fn controlled_shutdown(
    shared: &Arc<Shared>,
    controller: &Controller,
    identity: Identity,
    images: &mut watch::Receiver<Arc<MetadataImage>>,
) {
    let command = MetadataCommand::ControlledShutdown {
        broker: identity.me,
        incarnation: identity.incarnation,
    };
    let deadline = tokio::time::Instant::now() + CONTROLLED_SHUTDOWN_TIMEOUT;
    match tokio::time::timeout_at(deadline, controller.submit(command)).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(refusal))) => {
            tracing::warn!(%refusal.message, "controlled shutdown refused");
            return;
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "controlled shutdown not delivered");
            return;
        }
        Err(_) => {
            tracing::warn!("controlled shutdown timed out");
            return;
        }
    }
    // Wait until the applied metadata leads nothing here, so the shards stop as followers.
    let leads_nothing = |image: &MetadataImage| {
        image
            .state
            .metadata
            .partitions()
            .all(|(_, partition)| partition.leader() != Some(identity.me))
    };
    let waited = tokio::time::timeout_at(deadline, images.wait_for(|i| leads_nothing(i))).await;
    if waited.is_err() {
        tracing::warn!("leaderships still here after the controlled shutdown timeout");
    }
    let _ = shared;
}

// ---- metadata ----

/// What this broker has told its shards so far.
#[derive(Debug, Default)]
struct Hosting {
    /// The last state sent for each partition held here.
    partitions: BTreeMap<TopicPartition, Partition>,
    /// The topic configs the open partitions run with.
    configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The data dir was swept of stray partition directories (once a life).
    swept: bool,
}

impl Hosting {
    /// Publishes `image` to the shards.
    fn apply(&mut self, shared: &Shared, image: &MetadataImage, identity: Identity) {
        let catalog = Arc::new(Catalog::from_image(
            &shared.options.data_dir,
            &shared.options.config,
            image,
            &shared.catalog(),
        ));
        super::metrics_hooks::metadata(&catalog, identity.me, image.state.unclean_elections);
        *shared.catalog.write().expect("not poisoned") = Arc::clone(&catalog);
        shared.catalog_offset.send_replace(catalog.offset());
        if !registered(image, identity) {
            return;
        }
        if !std::mem::replace(&mut self.swept, true) {
            set_strays_aside(&shared.options.data_dir, &catalog, identity);
        }
        let shards = shared.options.shards;
        let send = |topic_partition: &TopicPartition, msg: ShardMsg| {
            shared.inboxes[owner_of(topic_partition, shards)].send(msg);
        };
        // Gone, or not held here any more: delete the logs.
        let gone: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| {
                catalog
                    .partition(tp)
                    .is_none_or(|p| !p.replicas().contains(&identity.me))
            })
            .cloned()
            .collect();
        for topic_partition in gone {
            self.partitions.remove(&topic_partition);
            send(
                &topic_partition,
                ShardMsg::Delete {
                    topic_partition: topic_partition.clone(),
                },
            );
        }
        self.configs
            .retain(|topic, _| catalog.topic(topic).is_some());
        for (name, topic) in catalog.topics() {
            let reconfigure = self
                .configs
                .insert(name.clone(), topic.configs.clone())
                .is_some_and(|before| before != topic.configs);
            for (index, partition) in (0..).zip(&topic.partitions) {
                if !partition.replicas().contains(&identity.me) {
                    continue;
                }
                let topic_partition = TopicPartition::new(name.clone(), index);
                let known = self.partitions.get(&topic_partition);
                if reconfigure && known.is_some() {
                    send(
                        &topic_partition,
                        ShardMsg::Reconfigure {
                            topic_partition: topic_partition.clone(),
                        },
                    );
                }
                if let Some(before) = known
                    && before.leader() == Some(identity.me)
                    && partition.leader() == Some(identity.me)
                {
                    super::metrics_hooks::isr_changed(before.isr(), partition.isr());
                }
                if known != Some(partition) {
                    self.partitions
                        .insert(topic_partition.clone(), partition.clone());
                    let msg = ShardMsg::PartitionState {
                        topic_partition: topic_partition.clone(),
                        partition: partition.clone(),
                    };
                    send(&topic_partition, msg);
                }
            }
        }
        // Ready once the shards have been told their partitions: a client that waited for it
        // finds them led (their states are in the shards' inboxes before its request).
        shared.registered.send_replace(true);
    }
}

/// Renames each partition directory in `data_dir` that the catalog does not give this broker
/// (its topic was deleted, or its replica moved, while the broker was down) to
/// `<topic>-<partition>.<incarnation>-stray`, as Kafka does: out of the way and never opened,
/// but kept for the operator to remove, since a catalog that lost its topics must not cost
/// their data. Runs before any partition opens in this life.
fn set_strays_aside(data_dir: &Path, catalog: &Catalog, identity: Identity) {
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(dir = %data_dir.display(), %error, "cannot list the data dir for stray partitions");
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(topic_partition) = name.to_str().and_then(partition_of_dir) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let held = catalog
            .partition(&topic_partition)
            .is_some_and(|p| p.replicas().contains(&identity.me));
        if held {
            continue;
        }
        let stray = data_dir.join(format!("{topic_partition}.{}-stray", identity.incarnation));
        match std::fs::rename(entry.path(), &stray) {
            Ok(()) => tracing::warn!(
                partition = %topic_partition,
                moved_to = %stray.display(),
                "stray partition: not in the cluster's metadata for this broker; set aside (remove it once it is not needed)"
            ),
            Err(error) => {
                tracing::error!(dir = %entry.path().display(), %error, "cannot set a stray partition aside")
            }
        }
    }
}

/// The partition a data-dir entry named `<topic>-<partition>` holds, if it is named so.
fn partition_of_dir(name: &str) -> Option<TopicPartition> {
    let (topic, digits) = name.rsplit_once('-')?;
    let partition: u32 = digits.parse().ok()?;
    // Only the name `partition_dir` gives it: no sign, no leading zeros.
    (!topic.is_empty() && partition.to_string() == digits)
        .then(|| TopicPartition::new(topic, partition))
}

// ---- follower fetches ----

/// One partition's fetch, waiting to be sent to its leader.
#[derive(Clone, Debug)]
struct PendingFetch {
    fetch_id: FetchId,
    request: FollowerFetchRequest,
}

/// What a fetcher is told.
#[derive(Debug)]
enum FetcherMsg {
    Fetch(TopicPartition, PendingFetch),
    /// The partition follows another leader now, or is gone.
    Forget(TopicPartition),
}

/// The fetchers, one per leader broker, and which leader each partition fetches from.
struct Fetchers {
    shared: Arc<Shared>,
    fetchers: HashMap<BrokerId, mpsc::UnboundedSender<FetcherMsg>>,
    leaders: HashMap<TopicPartition, BrokerId>,
}

impl Fetchers {
    fn new(shared: Arc<Shared>) -> Fetchers {
        Fetchers {
            shared,
            fetchers: HashMap::new(),
            leaders: HashMap::new(),
        }
    }

    fn fetch(
        &mut self,
        topic_partition: TopicPartition,
        fetch_id: FetchId,
        leader: BrokerId,
        request: FollowerFetchRequest,
    ) {
        if let Some(previous) = self.leaders.insert(topic_partition.clone(), leader)
            && previous != leader
            && let Some(fetcher) = self.fetchers.get(&previous)
        {
            let _ = fetcher.send(FetcherMsg::Forget(topic_partition.clone()));
        }
        let fetcher = self.fetchers.entry(leader).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(fetcher(self.shared.clone(), leader, receiver));
            sender
        });
        let _ = fetcher.send(FetcherMsg::Fetch(
            topic_partition,
            PendingFetch { fetch_id, request },
        ));
    }

    /// Forgets the partitions no longer held here, and those no longer following the leader
    /// they fetch from (this broker leads them now, or they are offline): their fetches
    /// would only be refused.
    fn forget_unfollowed(&mut self, hosting: &Hosting) {
        let gone: Vec<TopicPartition> = self
            .leaders
            .iter()
            .filter(|(tp, leader)| {
                hosting
                    .partitions
                    .get(*tp)
                    .is_none_or(|state| state.leader() != Some(**leader))
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        for topic_partition in gone {
            if let Some(leader) = self.leaders.remove(&topic_partition)
                && let Some(fetcher) = self.fetchers.get(&leader)
            {
                let _ = fetcher.send(FetcherMsg::Forget(topic_partition));
            }
        }
    }
}

/// Sends the fetches of the partitions following `leader` and hands each partition's answer to
/// its owner shard.
///
/// One request at a time long-polls the leader with every fetch there is to send, after
/// waiting (at most [`FETCH_GATHER_MAX`]) for the partitions the last answers answered to ask
/// again. A fetch that comes while the long poll is out (a partition that just began to
/// follow `leader`, or one whose shard took its answer in late) must not wait behind it: it
/// goes out at once in a second request on the connection that does not wait, and that
/// request ends the long poll at the leader (a broker answers a waiting fetch when a later one
/// arrives on the same connection: answers go out in order). Both answers come back at once,
/// and the next long poll holds every partition again.
///
/// A failed request is sent again (to the leader's current address) after
/// `replica_fetch_backoff`; a fetch stays to be sent until it is answered, replaced by the
/// partition's next one, or forgotten.
async fn fetcher(
    shared: Arc<Shared>,
    leader: BrokerId,
    mut inbox: mpsc::UnboundedReceiver<FetcherMsg>,
) {
    let config = &shared.options.config;
    let limits = ConnectionLimits {
        connect_timeout: config.request_timeout,
        request_timeout: config.request_timeout,
        // The long poll, and the request that ends it.
        max_in_flight: 2,
        max_frame_bytes: shared.options.max_frame_bytes,
    };
    let mut book = FetchBook::default();
    let mut connection: Option<(String, Connection)> = None;
    loop {
        if !book.has_unsent() {
            match inbox.recv().await {
                Some(msg) => book.take(msg),
                None => return,
            }
        }
        let gather_until = tokio::time::Instant::now() + FETCH_GATHER_MAX;
        loop {
            while let Ok(msg) = inbox.try_recv() {
                book.take(msg);
            }
            if book.gathered() {
                break;
            }
            match tokio::time::timeout_at(gather_until, inbox.recv()).await {
                Ok(Some(msg)) => book.take(msg),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        book.stop_waiting();
        if !book.has_unsent() {
            continue;
        }
        let Some(address) = shared.catalog().broker(leader).map(|b| b.endpoint.clone()) else {
            tokio::time::sleep(config.replica_fetch_backoff).await;
            continue;
        };
        if connection
            .as_ref()
            .is_none_or(|(at, c)| *at != address || c.is_closed())
        {
            let (tls, sasl) = (shared.peer_tls.as_ref(), shared.peer_sasl.as_ref());
            match Connection::connect(&address, limits, tls, sasl).await {
                Ok(opened) => connection = Some((address.clone(), opened)),
                Err(error @ ClientError::Authentication { .. }) => {
                    // Not the network: this broker's inter_broker_sasl_* credentials. Said
                    // loudly, as it keeps this broker out of the ISR.
                    tracing::warn!(%leader, %address, %error, "cannot log in to the leader");
                    connection = None;
                    tokio::time::sleep(config.replica_fetch_backoff).await;
                    continue;
                }
                Err(error) => {
                    tracing::debug!(%leader, %address, %error, "cannot connect to the leader");
                    connection = None;
                    tokio::time::sleep(config.replica_fetch_backoff).await;
                    continue;
                }
            }
        }
        let (_, open) = connection.as_ref().expect("connected above");
        let Some(sent) = long_poll(&shared, leader, open, &mut book, &mut inbox).await else {
            return;
        };
        match sent {
            Sent::Answered => {}
            Sent::Refused => tokio::time::sleep(config.replica_fetch_backoff).await,
            Sent::Failed => {
                connection = None;
                tokio::time::sleep(config.replica_fetch_backoff).await;
            }
        }
    }
}

/// How a round of requests to the leader ended; of two, the later variant decides what the
/// fetcher does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sent {
    /// Every request was answered.
    Answered,
    /// The leader answered a request with an error response: its fetches are to be sent again.
    Refused,
    /// The connection failed: its fetches are to be sent again on a new one.
    Failed,
}

/// Sends the fetches to send as one long poll and, if a fetch comes while it is out, that
/// one in a request that does not wait (which ends the long poll at the leader). Hands every
/// answer to its shard. `None`: the agent is stopping.
async fn long_poll(
    shared: &Shared,
    leader: BrokerId,
    open: &Connection,
    book: &mut FetchBook,
    inbox: &mut mpsc::UnboundedReceiver<FetcherMsg>,
) -> Option<Sent> {
    let wait_max = shared.options.config.replica_fetch_wait_max;
    let held = book.send_unsent();
    tracing::trace!(%leader, partitions = held.len(), "follower fetch");
    let answer = open.send(
        Request::Fetch(fetch_request(shared, &held, wait_max)),
        wait_max,
    );
    tokio::pin!(answer);
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break Some(outcome),
            msg = inbox.recv() => {
                book.take(msg?);
                if book.has_unsent() {
                    break None;
                }
            }
        }
    };
    if let Some(outcome) = outcome {
        return Some(hand_over(shared, leader, book, held, outcome));
    }
    let prompt = book.send_unsent();
    tracing::trace!(%leader, partitions = prompt.len(), "follower fetch ending the long poll");
    let request = Request::Fetch(fetch_request(shared, &prompt, Duration::ZERO));
    let (outcome, prompt_outcome) = tokio::join!(&mut answer, open.send(request, Duration::ZERO));
    let first = hand_over(shared, leader, book, held, outcome);
    let second = hand_over(shared, leader, book, prompt, prompt_outcome);
    Some(first.max(second))
}

/// Hands each partition's answer in `outcome` to its owner shard; the fetches `sent` that
/// were not answered are to be sent again.
fn hand_over(
    shared: &Shared,
    leader: BrokerId,
    book: &mut FetchBook,
    sent: Vec<(TopicPartition, PendingFetch)>,
    outcome: Result<Response, ClientError>,
) -> Sent {
    let response = match outcome {
        Ok(Response::Fetch(response)) => response,
        Ok(other) => {
            tracing::warn!(%leader, ?other, "the leader refused a follower fetch");
            book.unanswered(sent);
            return Sent::Refused;
        }
        Err(error) => {
            tracing::debug!(%leader, %error, "follower fetch failed");
            book.unanswered(sent);
            return Sent::Failed;
        }
    };
    for topic in response.topics {
        for answer in topic.partitions {
            let topic_partition = TopicPartition::new(topic.name.clone(), answer.partition_index);
            let Some(fetch_id) = sent
                .iter()
                .find(|(tp, _)| *tp == topic_partition)
                .map(|(_, fetch)| fetch.fetch_id)
            else {
                continue;
            };
            book.answered(&topic_partition, fetch_id);
            let owner = owner_of(&topic_partition, shared.options.shards);
            shared.inboxes[owner].send(ShardMsg::FetchAnswer {
                topic_partition,
                fetch_id,
                answer: leader_answer(answer),
            });
        }
    }
    Sent::Answered
}

/// A partition's part of the leader's Fetch response, as the partition's owner takes it.
fn leader_answer(answer: FetchPartitionResponse<Bytes>) -> LeaderAnswer {
    let high_watermark = answer.high_watermark.unwrap_or(Offset::ZERO);
    match answer.error_code {
        ErrorCode::NONE => match answer.diverging_epoch {
            Some(diverging) => LeaderAnswer::Diverging {
                epoch: diverging.epoch,
                end_offset: diverging.end_offset,
                high_watermark,
            },
            None => LeaderAnswer::Records {
                high_watermark,
                log_start_offset: answer.log_start_offset,
                records: answer.records,
            },
        },
        ErrorCode::OFFSET_OUT_OF_RANGE => LeaderAnswer::OffsetOutOfRange {
            log_start_offset: answer.log_start_offset,
        },
        ErrorCode::FENCED_LEADER_EPOCH => LeaderAnswer::FencedLeaderEpoch,
        ErrorCode::UNKNOWN_LEADER_EPOCH => LeaderAnswer::UnknownLeaderEpoch,
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
            LeaderAnswer::NotLeader
        }
        other => LeaderAnswer::Unusable(format!("the leader answered {other}")),
    }
}

/// One leader's follower fetches as its fetcher keeps them: to send, out in a request, or
/// answered with the partition's next fetch still to come. A partition has at most one fetch
/// to send (the newest its follower asked for); the answer to an older one still goes to the
/// shard, whose follower drops it.
#[derive(Debug, Default)]
struct FetchBook {
    unsent: BTreeMap<TopicPartition, PendingFetch>,
    out: BTreeMap<TopicPartition, PendingFetch>,
    /// The partitions answered since the last long poll was sent whose next fetch has not come
    /// yet: the next long poll waits for them, briefly.
    awaited: BTreeSet<TopicPartition>,
}

impl FetchBook {
    fn take(&mut self, msg: FetcherMsg) {
        match msg {
            FetcherMsg::Fetch(topic_partition, fetch) => {
                self.awaited.remove(&topic_partition);
                self.unsent.insert(topic_partition, fetch);
            }
            FetcherMsg::Forget(topic_partition) => {
                self.awaited.remove(&topic_partition);
                self.unsent.remove(&topic_partition);
                self.out.remove(&topic_partition);
            }
        }
    }

    fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Whether every partition answered since the last long poll has asked again.
    fn gathered(&self) -> bool {
        self.awaited.is_empty()
    }

    /// The next long poll goes without the partitions still awaited.
    fn stop_waiting(&mut self) {
        self.awaited.clear();
    }

    /// The fetches to send, now out.
    fn send_unsent(&mut self) -> Vec<(TopicPartition, PendingFetch)> {
        let sent: Vec<(TopicPartition, PendingFetch)> =
            std::mem::take(&mut self.unsent).into_iter().collect();
        for (topic_partition, fetch) in &sent {
            self.out.insert(topic_partition.clone(), fetch.clone());
        }
        sent
    }

    /// The leader answered fetch `fetch_id`: unless a newer one replaced it, the partition's
    /// next fetch is awaited.
    fn answered(&mut self, topic_partition: &TopicPartition, fetch_id: FetchId) {
        if self.out.get(topic_partition).map(|f| f.fetch_id) != Some(fetch_id) {
            return;
        }
        self.out.remove(topic_partition);
        if !self.unsent.contains_key(topic_partition) {
            self.awaited.insert(topic_partition.clone());
        }
    }

    /// `sent` got no answer: each fetch still current is to be sent again.
    fn unanswered(&mut self, sent: Vec<(TopicPartition, PendingFetch)>) {
        for (topic_partition, fetch) in sent {
            if self.out.get(&topic_partition).map(|f| f.fetch_id) != Some(fetch.fetch_id) {
                continue;
            }
            self.out.remove(&topic_partition);
            self.unsent.entry(topic_partition).or_insert(fetch);
        }
    }
}

/// A Fetch request of `fetches`, letting the leader wait at most `max_wait`.
fn fetch_request(
    shared: &Shared,
    fetches: &[(TopicPartition, PendingFetch)],
    max_wait: Duration,
) -> FetchRequest {
    let config = &shared.options.config;
    let mut topics: Vec<Topic<FetchPartition>> = Vec::new();
    for (topic_partition, fetch) in fetches {
        let partition = FetchPartition {
            partition_index: topic_partition.partition,
            current_leader_epoch: Some(fetch.request.current_leader_epoch),
            fetch_offset: fetch.request.fetch_offset,
            last_fetched_epoch: fetch.request.last_fetched_epoch,
            log_start_offset: Some(fetch.request.log_start_offset),
            partition_max_bytes: config.replica_fetch_max_bytes,
        };
        match topics.last_mut() {
            Some(topic) if topic.name == topic_partition.topic => topic.partitions.push(partition),
            _ => topics.push(Topic {
                name: topic_partition.topic.clone(),
                partitions: vec![partition],
            }),
        }
    }
    FetchRequest {
        replica_id: Some(shared.options.node_id),
        max_wait,
        min_bytes: 1,
        max_bytes: config.replica_fetch_response_max_bytes,
        topics,
    }
}

// ---- producer ids ----

/// An InitProducerId request, read by `shard` as its job `job`.
#[derive(Debug)]
struct IdRequest {
    shard: usize,
    job: JobKey,
}

/// How long after a failed block request the next one goes (the controller refused, or could
/// not be reached within the submit timeout): a broker not registered yet is soon.
const PRODUCER_ID_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Answers InitProducerId requests from the blocks the controller allocates this broker (a
/// [`ProducerIdPool`]): asks for a block whenever the pool wants one (one request at a time,
/// again after [`PRODUCER_ID_RETRY_BACKOFF`] when one fails), and answers each request with
/// an id, or with COORDINATOR_LOAD_IN_PROGRESS once it has waited `request_timeout` for one.
async fn hand_out_producer_ids(
    shared: Arc<Shared>,
    controller: Controller,
    identity: Identity,
    mut requests: mpsc::UnboundedReceiver<IdRequest>,
) {
    let timeout = shared.options.config.request_timeout;
    let mut pool = ProducerIdPool::new();
    let mut allocation: Option<Allocation> = None;
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        if allocation.is_none() && pool.wants_block() && retry_at.is_none_or(|at| at <= now) {
            retry_at = None;
            pool.asked();
            let asked = allocate_producer_ids(controller.clone(), identity);
            allocation = Some(Box::pin(asked));
        }
        let wake = [pool.next_deadline().map(Into::into), retry_at]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                let deadline = std::time::Instant::now() + timeout;
                if let Some(answer) = pool.request(request, deadline) {
                    answer_producer_id(&shared, answer, timeout);
                }
            }
            outcome = async {
                match allocation.as_mut() {
                    Some(running) => running.await,
                    None => std::future::pending().await,
                }
            } => {
                allocation = None;
                match outcome {
                    Ok(block) => {
                        tracing::info!(first = block.first, end = block.end, "producer id block allocated");
                        for answer in pool.received(block) {
                            answer_producer_id(&shared, answer, timeout);
                        }
                    }
                    Err(why) => {
                        tracing::warn!(%why, "no producer id block from the controller; asking again");
                        pool.failed();
                        retry_at = Some(tokio::time::Instant::now() + PRODUCER_ID_RETRY_BACKOFF);
                    }
                }
            }
            () = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                for answer in pool.expire(std::time::Instant::now()) {
                    answer_producer_id(&shared, answer, timeout);
                }
            }
        }
    }
}

/// A block of producer ids asked of the controller, on its way.
type Allocation = std::pin::Pin<Box<dyn Future<Output = Result<ProducerIdBlock, String>> + Send>>;

/// Asks the controller for this broker's next block of producer ids.
async fn allocate_producer_ids(
    controller: Controller,
    identity: Identity,
) -> Result<ProducerIdBlock, String> {
    let command = MetadataCommand::AllocateProducerIds {
        broker: identity.me,
        incarnation: identity.incarnation,
        count: PRODUCER_ID_BLOCK_LEN,
    };
    match controller.submit(command).await {
        Ok(Ok(applied)) => applied
            .producer_ids
            .ok_or_else(|| "the controller applied the allocation without a block".to_string()),
        Ok(Err(refusal)) => Err(refusal.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

/// Sends a request's producer id (or the refusal of one that got none) to its shard.
fn answer_producer_id(shared: &Shared, (request, id): Answer<IdRequest>, timeout: Duration) {
    let outcome = id.ok_or_else(|| {
        Refusal::new(
            KafkaError::CoordinatorLoadInProgress,
            format!(
                "no producer id to give: no block of ids from the controller quorum within \
                 request_timeout_ms {} (or too many requests wait for one); retry",
                timeout.as_millis()
            ),
        )
    });
    shared.inboxes[request.shard].send(ShardMsg::AdminDone {
        job: request.job,
        outcome: AdminOutcome::ProducerId(outcome),
    });
}

// ---- admin requests ----

/// An admin operation, carried out through the controller quorum, topic by topic.
async fn admin(shared: &Arc<Shared>, controller: &Controller, op: AdminOp) -> AdminOutcome {
    let topics = match op {
        AdminOp::CreateTopics {
            topics,
            timeout,
            validate_only,
        } => create_topics(shared, controller, topics, timeout, validate_only).await,
        AdminOp::DeleteTopics { names, timeout } => {
            delete_topics(shared, controller, names, timeout).await
        }
        AdminOp::AlterConfigs {
            topics,
            validate_only,
        } => alter_configs(shared, controller, topics, validate_only).await,
        AdminOp::CreatePartitions {
            topics,
            timeout,
            validate_only,
        } => create_partitions(shared, controller, topics, timeout, validate_only).await,
        AdminOp::InitProducerId => unreachable!("handle gives it to the producer id task"),
        AdminOp::AlterScramCredentials {
            users,
            refused,
            alterations,
        } => {
            let outcome = security::alter_scram_credentials(shared, controller, alterations).await;
            return security::per_user(users, refused, outcome);
        }
        AdminOp::CreateAcls { bindings } => {
            return security::create_acls(shared, controller, bindings).await;
        }
        AdminOp::DeleteAcls { filters } => {
            return security::delete_acls(shared, controller, filters).await;
        }
    };
    AdminOutcome::Topics(topics)
}

/// CreatePartitions: each topic's addition checked against what this broker knows, then
/// committed by the controller (which checks it again, whole) and waited for.
async fn create_partitions(
    shared: &Arc<Shared>,
    controller: &Controller,
    additions: Vec<NewPartitions>,
    timeout: Duration,
    validate_only: bool,
) -> TopicOutcomes {
    let mut topics = Vec::new();
    for NewPartitions {
        name,
        count,
        assignments,
    } in additions
    {
        let outcome = async {
            let current = shared
                .catalog()
                .topic(&name)
                .map(|topic| topic.partitions.len())
                .ok_or_else(|| {
                    Refusal::new(
                        KafkaError::UnknownTopicOrPartition,
                        format!("unknown topic {name}"),
                    )
                })?;
            let wanted = usize::try_from(count).unwrap_or(usize::MAX);
            if wanted <= current || count > PARTITIONS_PER_TOPIC_MAX {
                return Err(Refusal::new(
                    KafkaError::InvalidPartitions,
                    format!(
                        "topic {name} has {current} partitions: it can grow to between {} and \
                         {PARTITIONS_PER_TOPIC_MAX}, not {count}",
                        current + 1
                    ),
                ));
            }
            if validate_only {
                return Ok(());
            }
            let command = MetadataCommand::CreatePartitions {
                name: name.clone(),
                count,
                assignments,
            };
            submit(controller, command).await?;
            wait_for_catalog(shared, controller, |image| {
                image
                    .state
                    .metadata
                    .topic(&name)
                    .is_some_and(|topic| topic.partitions().len() >= wanted)
            })
            .await;
            Ok(())
        };
        let outcome = within(timeout, outcome, || {
            format!("topic {name}: partitions not added within the request's timeout")
        })
        .await;
        topics.push((name, outcome.err()));
    }
    topics
}

/// `outcome`, or REQUEST_TIMED_OUT with `why()` once `timeout` passes first (an admin
/// request's wait for its change to commit and reach this broker's catalog).
async fn within(
    timeout: Duration,
    outcome: impl Future<Output = Result<(), Refusal>>,
    why: impl FnOnce() -> String,
) -> Result<(), Refusal> {
    tokio::time::timeout(timeout.max(Duration::from_millis(1)), outcome)
        .await
        .unwrap_or_else(|_| Err(Refusal::new(KafkaError::RequestTimedOut, why())))
}

async fn create_topics(
    shared: &Arc<Shared>,
    controller: &Controller,
    new_topics: Vec<NewTopic>,
    timeout: Duration,
    validate_only: bool,
) -> TopicOutcomes {
    let config = &shared.options.config;
    let defaults = config.topic_defaults();
    let mut topics = Vec::new();
    for topic in new_topics {
        // Left out (-1 on Kafka's wire), as in Kafka: the broker's defaults.
        let partitions = topic.partitions.unwrap_or(config.num_partitions);
        let replication_factor = topic
            .replication_factor
            .unwrap_or(config.default_replication_factor);
        let replicas = match topic.assignments {
            Some(lists) => Replicas::Assigned(lists),
            None => Replicas::Spread {
                partition_count: partitions,
                replication_factor,
            },
        };
        let count = match &replicas {
            Replicas::Assigned(lists) => u32::try_from(lists.len()).unwrap_or(u32::MAX),
            Replicas::Spread { .. } => partitions,
        };
        let pairs = topic.configs.iter().map(|(name, value)| (name, value));
        let outcome = match TopicConfig::from_pairs(pairs, &defaults) {
            Err(error) => Err(Refusal::new(
                KafkaError::InvalidConfig,
                format!("topic {}: {error}", topic.name),
            )),
            Ok(_) if validate_only => {
                validate_creation(shared, &topic.name, count).and_then(|()| match replicas {
                    Replicas::Spread { .. } => {
                        check_replication_factor(shared, &topic.name, replication_factor)
                    }
                    Replicas::Assigned(_) => Ok(()),
                })
            }
            Ok(topic_config) => {
                let outcome =
                    create_topic(shared, controller, &topic.name, replicas, &topic_config);
                within(timeout, outcome, || {
                    format!(
                        "topic {}: not created within the request's timeout",
                        topic.name
                    )
                })
                .await
            }
        };
        topics.push((topic.name, outcome.err()));
    }
    topics
}

/// What can be checked of a creation without the controller.
fn validate_creation(shared: &Shared, name: &str, partitions: u32) -> Result<(), Refusal> {
    let catalog = shared.catalog();
    if catalog.topic(name).is_some() {
        return Err(Refusal::new(
            KafkaError::TopicAlreadyExists,
            format!("topic {name} already exists"),
        ));
    }
    check_partition_count(name, partitions)
}

/// The internal topic is created with a fixed count, which the limit must allow.
const _: () = assert!(OFFSETS_TOPIC_PARTITIONS <= PARTITIONS_PER_TOPIC_MAX);

/// A creation's partition count against the controller's limit, which `num_partitions` (the
/// count of topics created without one) is validated against too.
fn check_partition_count(name: &str, partitions: u32) -> Result<(), Refusal> {
    if partitions == 0 || partitions > PARTITIONS_PER_TOPIC_MAX {
        return Err(Refusal::new(
            KafkaError::InvalidPartitions,
            format!(
                "topic {name}: {partitions} partitions requested, expected 1 to {PARTITIONS_PER_TOPIC_MAX}"
            ),
        ));
    }
    Ok(())
}

/// A `validate_only` creation's check of the replication factor against the live brokers this
/// broker knows of. A real creation leaves it to the controller, whose placement refuses with
/// the same code and sees every registration (this broker's catalog may lag behind: right
/// after a cluster starts, it refused topics the controller would have placed).
fn check_replication_factor(
    shared: &Shared,
    name: &str,
    replication_factor: u16,
) -> Result<(), Refusal> {
    let live = shared.catalog().live_brokers();
    if replication_factor == 0 || usize::from(replication_factor) > live {
        return Err(Refusal::new(
            KafkaError::InvalidReplicationFactor,
            format!(
                "topic {name}: replication factor {replication_factor} asked, {live} {} live",
                if live == 1 {
                    "broker is"
                } else {
                    "brokers are"
                }
            ),
        ));
    }
    Ok(())
}

/// Creates a topic through the controller and waits until this broker's catalog has it.
async fn create_topic(
    shared: &Arc<Shared>,
    controller: &Controller,
    name: &str,
    replicas: Replicas,
    config: &TopicConfig,
) -> Result<(), Refusal> {
    let (partitions, replication_factor, assignments) = match replicas {
        Replicas::Spread {
            partition_count,
            replication_factor,
        } => (partition_count, replication_factor, None),
        Replicas::Assigned(lists) => {
            let count = u32::try_from(lists.len()).unwrap_or(u32::MAX);
            let factor = lists
                .first()
                .map_or(0, |l| u16::try_from(l.len()).unwrap_or(0));
            (count, factor, Some(lists))
        }
    };
    validate_creation(shared, name, partitions)?;
    let settings = shared.options.config.topic_settings(config);
    let command = MetadataCommand::CreateTopic {
        name: name.to_string(),
        partitions,
        replication_factor,
        config: settings.controller_config(),
        configs: stored_pairs(config),
        topic_id: Some(TopicId::from_random(random_bytes())),
        assignments,
    };
    submit(controller, command).await?;
    wait_for_catalog(shared, controller, |image| {
        image.state.metadata.topic(name).is_some()
    })
    .await;
    Ok(())
}

async fn delete_topics(
    shared: &Arc<Shared>,
    controller: &Controller,
    names: Vec<String>,
    timeout: Duration,
) -> TopicOutcomes {
    let mut topics = Vec::new();
    for name in names {
        let outcome = async {
            if shared.catalog().topic(&name).is_none() {
                return Err(Refusal::new(
                    KafkaError::UnknownTopicOrPartition,
                    format!("unknown topic {name}"),
                ));
            }
            let command = MetadataCommand::DeleteTopic { name: name.clone() };
            submit(controller, command).await?;
            wait_for_catalog(shared, controller, |image| {
                image.state.metadata.topic(&name).is_none()
            })
            .await;
            Ok(())
        };
        let outcome = within(timeout, outcome, || {
            format!("topic {name}: not deleted within the request's timeout")
        })
        .await;
        topics.push((name, outcome.err()));
    }
    topics
}

/// AlterConfigs: each topic's change is checked whole against its current config; a valid
/// one becomes a metadata record, and every broker reopens its partitions of the topic with
/// the new settings when it applies it.
async fn alter_configs(
    shared: &Arc<Shared>,
    controller: &Controller,
    alterations: Vec<TopicAlteration>,
    validate_only: bool,
) -> TopicOutcomes {
    let defaults = shared.options.config.topic_defaults();
    let mut topics = Vec::new();
    for TopicAlteration { name, changes } in alterations {
        let outcome = async {
            let current = shared
                .catalog()
                .topic(&name)
                .map(|t| t.configs.clone())
                .ok_or_else(|| {
                    Refusal::new(
                        KafkaError::UnknownTopicOrPartition,
                        format!("unknown topic {name}"),
                    )
                })?;
            let invalid = |error: super::topic_config::TopicConfigError| {
                Refusal::new(KafkaError::InvalidConfig, format!("topic {name}: {error}"))
            };
            let changes = changes.iter().map(|(key, value)| (key, value.as_ref()));
            let config = TopicConfig::from_pairs(current.iter(), &defaults)
                .map_err(invalid)?
                .altered(changes, &defaults)
                .map_err(invalid)?;
            if validate_only {
                return Ok(());
            }
            let settings = shared.options.config.topic_settings(&config);
            let replication = settings.controller_config();
            let configs = stored_pairs(&config);
            let command = MetadataCommand::AlterTopicConfig {
                name: name.clone(),
                change: TopicConfigChange {
                    min_insync_replicas: Some(replication.min_insync_replicas),
                    unclean_leader_election: Some(replication.unclean_leader_election),
                },
                configs: configs.clone(),
            };
            submit(controller, command).await?;
            wait_for_catalog(shared, controller, |image| {
                image.state.topic_configs.get(&name) == Some(&configs)
            })
            .await;
            Ok(())
        };
        let outcome = outcome.await;
        topics.push((name, outcome.err()));
    }
    topics
}

/// A topic config as the metadata log stores it: the keys set, canonical values.
fn stored_pairs(config: &TopicConfig) -> BTreeMap<String, String> {
    config
        .overrides()
        .map(|(key, value)| (key.name().to_string(), value.to_string()))
        .collect()
}

/// Submits `command`; a refusal or a controller that cannot be reached is the topic's error.
async fn submit(controller: &Controller, command: MetadataCommand) -> Result<(), Refusal> {
    submit_applied(controller, command).await.map(|_| ())
}

/// Submits `command`: what it did, or its refusal (REQUEST_TIMED_OUT for a controller that
/// cannot be reached).
async fn submit_applied(
    controller: &Controller,
    command: MetadataCommand,
) -> Result<Applied, Refusal> {
    let outcome: Result<CommandOutcome, ControllerError> = controller.submit(command).await;
    match outcome {
        Ok(Ok(applied)) => Ok(applied),
        Ok(Err(refusal)) => Err(Refusal::new(refusal.code, refusal.message)),
        Err(error) => Err(Refusal::new(KafkaError::RequestTimedOut, error.to_string())),
    }
}

/// Waits until this broker's catalog shows a state where `done` holds, so the answer to an
/// admin request is visible in the next Metadata this broker answers.
async fn wait_for_catalog(
    shared: &Shared,
    controller: &Controller,
    done: impl Fn(&MetadataImage) -> bool,
) {
    let mut images = controller.watch();
    let offset = match images.wait_for(|image| done(image)).await {
        Ok(image) => image.offset,
        Err(_) => return,
    };
    let mut published = shared.catalog_offset.subscribe();
    let _ = published.wait_for(|&at| at >= offset).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_engine::{LeaderEpoch, Offset};

    fn fetch(partition: u32, fetch_id: u64) -> FetcherMsg {
        let request = FollowerFetchRequest {
            fetch_offset: Offset(fetch_id * 10),
            last_fetched_epoch: None,
            current_leader_epoch: LeaderEpoch(1),
            log_start_offset: Offset::ZERO,
        };
        let fetch = PendingFetch {
            fetch_id: FetchId(fetch_id),
            request,
        };
        FetcherMsg::Fetch(TopicPartition::new("t", partition), fetch)
    }

    fn sent_ids(sent: &[(TopicPartition, PendingFetch)]) -> Vec<(u32, u64)> {
        sent.iter()
            .map(|(tp, fetch)| (tp.partition, fetch.fetch_id.0))
            .collect()
    }

    #[test]
    fn a_fetch_that_comes_while_a_request_is_out_is_to_send_at_once() {
        let mut book = FetchBook::default();
        book.take(fetch(0, 1));
        book.take(fetch(1, 1));
        assert_eq!(sent_ids(&book.send_unsent()), [(0, 1), (1, 1)]);
        assert!(!book.has_unsent());
        book.take(fetch(2, 1));
        assert!(book.has_unsent());
        assert_eq!(sent_ids(&book.send_unsent()), [(2, 1)]);
    }

    #[test]
    fn an_answered_partition_is_awaited_until_its_next_fetch_comes() {
        let mut book = FetchBook::default();
        book.take(fetch(0, 1));
        book.take(fetch(1, 1));
        book.send_unsent();
        book.answered(&TopicPartition::new("t", 0), FetchId(1));
        book.answered(&TopicPartition::new("t", 1), FetchId(1));
        assert!(!book.gathered());
        book.take(fetch(0, 2));
        assert!(!book.gathered(), "partition 1 has not asked again");
        book.take(fetch(1, 2));
        assert!(book.gathered());
        assert_eq!(sent_ids(&book.send_unsent()), [(0, 2), (1, 2)]);
    }

    #[test]
    fn the_answer_to_a_replaced_fetch_awaits_nothing() {
        let mut book = FetchBook::default();
        book.take(fetch(0, 1));
        book.send_unsent();
        // The follower gave up on fetch 1 and asked again before its answer came.
        book.take(fetch(0, 2));
        book.answered(&TopicPartition::new("t", 0), FetchId(1));
        assert!(book.gathered());
        assert_eq!(sent_ids(&book.send_unsent()), [(0, 2)]);
    }

    #[test]
    fn unanswered_fetches_are_sent_again_unless_replaced_or_forgotten() {
        let mut book = FetchBook::default();
        for partition in 0..3 {
            book.take(fetch(partition, 1));
        }
        let sent = book.send_unsent();
        book.take(fetch(0, 2));
        book.take(FetcherMsg::Forget(TopicPartition::new("t", 2)));
        book.unanswered(sent);
        assert_eq!(sent_ids(&book.send_unsent()), [(0, 2), (1, 1)]);
    }

    #[test]
    fn a_forgotten_partition_is_not_awaited() {
        let mut book = FetchBook::default();
        book.take(fetch(0, 1));
        book.send_unsent();
        book.answered(&TopicPartition::new("t", 0), FetchId(1));
        book.take(FetcherMsg::Forget(TopicPartition::new("t", 0)));
        assert!(book.gathered());
        assert!(!book.has_unsent());
    }

    /// A broker whose config passes validation creates its topics with `num_partitions`
    /// (created on first use, or without a count): the creation must accept every count the
    /// config does.
    #[test]
    fn every_num_partitions_the_config_accepts_a_creation_accepts() {
        use crate::config::BrokerConfig;
        for partitions in [
            0,
            1,
            10_000,
            10_001,
            PARTITIONS_PER_TOPIC_MAX,
            PARTITIONS_PER_TOPIC_MAX + 1,
        ] {
            let toml = format!("num_partitions = {partitions}\n");
            let config = BrokerConfig::from_toml_str(&toml, "broker.toml");
            let created = check_partition_count("t", partitions);
            assert_eq!(
                config.is_ok(),
                created.is_ok(),
                "num_partitions = {partitions}: config {:?}, creation {created:?}",
                config.err()
            );
        }
    }

    #[test]
    fn only_partition_directory_names_name_a_partition() {
        let named = |name| partition_of_dir(name);
        assert_eq!(named("orders-3"), Some(TopicPartition::new("orders", 3)));
        assert_eq!(
            named("my-topic-0"),
            Some(TopicPartition::new("my-topic", 0))
        );
        for other in [
            "__cluster_metadata",
            "orders-03",
            "orders-+3",
            "-3",
            "orders-3.1700000000-stray",
            ".lock",
        ] {
            assert_eq!(named(other), None, "{other}");
        }
    }
}
