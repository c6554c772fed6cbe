//! [`Consumer`]: reads assigned partitions from positions it keeps, with long-poll fetches to
//! each partition's leader, and commits those positions for a group.
//!
//! Two modes, as Kafka's: [`Consumer::assign`] reads the partitions given, and commits only
//! when told (OffsetCommit with no member); [`Consumer::subscribe`] makes it a member of its
//! group, which gives it partitions, and `poll` rejoins, auto-commits and commits on revoke
//! (see `subscription`), its commits carrying the member's generation.
//!
//! - A partition's position starts unknown. The first poll looks it up: the group's committed
//!   offset (OffsetFetch) if there is a group and one was committed, else `auto_offset_reset`
//!   (ListOffsets earliest or latest; with `None`, an error). OFFSET_OUT_OF_RANGE resets the
//!   same way, skipping the committed offset.
//! - [`Consumer::poll`] sends one Fetch per leader, concurrently, with `max_wait` the smaller
//!   of `fetch_max_wait` and what is left of the poll's timeout, and returns as soon as any
//!   records came back or the timeout passed. At most one Fetch is out to each broker; a poll
//!   sends one to every broker that has none out, for the partitions not already in one, and
//!   returns with the first answers in, leaving the rest out: a leader holding its fetch for
//!   `fetch_max_wait` does not hold up records another leader sent. A poll that returns
//!   records first sends the fetches it can from the new positions, as Kafka's consumer does:
//!   the brokers send while the caller works on the records, and the next poll takes their
//!   answers. An answer for a partition moved since (`seek`) is dropped; `assign` drops every
//!   fetch out. Batches are CRC-checked and decompressed on the
//!   way in; a rejected batch is an error naming its topic, partition and offset, returned
//!   once the records before it were (the position stays at it; `seek` past it to skip it).
//! - Leadership errors, lost connections and other retriable errors refresh the metadata and
//!   fetch again after a backoff, within the same poll.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ringlog_format::{LeaderEpoch, Offset};
use ringlog_replication::{BrokerId, TopicPartition};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::assignor::Assignor;
use crate::cluster::{Cluster, Retry, unexpected, unknown_to_error};
use crate::error::ClientError;
pub use crate::fetch_decode::ConsumerRecord;
use crate::fetch_decode::decode_records;
use ringlog_wire::api::Topic;
use ringlog_wire::api::fetch::{FetchPartition, FetchPartitionResponse, FetchRequest};
use ringlog_wire::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest, OffsetSpec};
use ringlog_wire::api::offset_commit::{NO_GENERATION, OffsetCommitPartition, OffsetCommitRequest};
use ringlog_wire::api::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use ringlog_wire::group::{self as offsets_topic, OFFSETS_TOPIC};
use ringlog_wire::{ErrorCode, Request, Response};
use subscription::Subscribed;

mod subscription;

/// Where to start when a partition has no committed offset, or its offset is out of range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The high watermark: only records produced from now on.
    #[default]
    Latest,
    /// Fail with [`ClientError::NoOffset`].
    None,
}

/// A consumer's group and fetch limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The group whose offsets [`Consumer::commit`] writes and the first poll reads; `None`:
    /// no committed offsets.
    pub group: Option<String>,
    /// Default `Latest`, as Kafka's.
    pub auto_offset_reset: OffsetReset,
    /// The longest a broker may hold a fetch waiting for `fetch_min_bytes`. Default 500 ms.
    pub fetch_max_wait: Duration,
    /// A broker answers a fetch once it has this many bytes. Default 1.
    pub fetch_min_bytes: u32,
    /// Record bytes per fetch response, at most (soft: a first batch larger than it still
    /// comes whole). Default 50 MiB.
    pub fetch_max_bytes: u32,
    /// Record bytes per partition in a fetch, at most (soft). Default 1 MiB.
    pub max_partition_fetch_bytes: u32,
    /// The most bytes one batch may decompress to; a larger one is rejected. Default 64 MiB.
    pub max_decompressed_batch_bytes: usize,
    /// The consumer's name for itself in its group, as DescribeGroups shows it (Kafka's
    /// `client.id`). Default "ringlog".
    pub client_id: String,
    /// Subscribed: without a heartbeat for this long the coordinator drops the member and
    /// gives its partitions to the others. Within the broker's bounds (6 s to 30 min by
    /// default). Default 45 s, as Kafka's.
    pub session_timeout: Duration,
    /// Subscribed: how long a rebalance waits for the member to rejoin (Kafka's
    /// `max.poll.interval.ms`, which it sends as its rebalance timeout). Default 5 min.
    pub rebalance_timeout: Duration,
    /// Subscribed: the time between heartbeats, below `session_timeout` (a third of it or less
    /// is Kafka's advice). Default 3 s.
    pub heartbeat_interval: Duration,
    /// Subscribed: commit the positions every `auto_commit_interval` (in `poll`, so only
    /// records an earlier poll returned are committed), before a rebalance revokes the
    /// partitions, and on [`Consumer::close`]. Default true, as Kafka's. Assign mode commits
    /// only when told to.
    pub enable_auto_commit: bool,
    /// Default 5 s.
    pub auto_commit_interval: Duration,
    /// The assignors the member offers, in its order of preference; the group picks one all
    /// its members offer. Default range, then roundrobin.
    pub assignors: Vec<Assignor>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group: None,
            auto_offset_reset: OffsetReset::Latest,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            max_decompressed_batch_bytes: 64 * 1024 * 1024,
            client_id: "ringlog".into(),
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            assignors: vec![Assignor::Range, Assignor::RoundRobin],
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Position {
    /// The next offset to fetch; `None` until looked up.
    offset: Option<Offset>,
    /// Out of range: reset by policy, not from the committed offset.
    reset: bool,
    /// The epoch of the last record returned, committed with the offset.
    last_epoch: Option<LeaderEpoch>,
}

#[derive(Debug)]
struct State {
    positions: BTreeMap<TopicPartition, Position>,
    /// The Fetch out to each broker, if any.
    in_flight: BTreeMap<BrokerId, InFlight>,
    /// The id the next Fetch gets.
    next_fetch: u64,
    /// Where every fetch task sends its answer.
    answer_tx: mpsc::UnboundedSender<Answer>,
    answers: mpsc::UnboundedReceiver<Answer>,
    /// A rejected batch or final error found while other partitions returned records; the
    /// next poll returns it.
    deferred_error: Option<ClientError>,
    /// Subscribe mode: the topics, the group membership; `None` in assign mode.
    subscription: Option<Subscribed>,
}

/// Reads assigned partitions. Calls take `&self` and run one at a time.
#[derive(Debug)]
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    state: tokio::sync::Mutex<State>,
}

/// One leader's partitions and their results.
type Results<T> = Vec<(TopicPartition, Result<T, ClientError>)>;

/// A Fetch out to one broker.
#[derive(Debug)]
struct InFlight {
    /// Tells its answer from the answer to an earlier fetch that was dropped (`assign`).
    id: u64,
    /// The offset each partition was fetched from: its answer counts only while its position
    /// is still there.
    offsets: BTreeMap<TopicPartition, Offset>,
    /// The metadata generation it was planned with.
    generation: u64,
}

/// A broker's answer to the fetch with an id.
type Answer = (BrokerId, u64, Result<Response, ClientError>);

impl State {
    fn new() -> State {
        let (answer_tx, answers) = mpsc::unbounded_channel();
        State {
            positions: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_fetch: 0,
            answer_tx,
            answers,
            deferred_error: None,
            subscription: None,
        }
    }
}

impl Consumer {
    pub(crate) fn new(cluster: Arc<Cluster>, config: ConsumerConfig) -> Consumer {
        Consumer {
            cluster,
            config,
            state: tokio::sync::Mutex::new(State::new()),
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.cluster.config.request_timeout
    }

    /// Makes `partitions` the consumer's assignment; partitions already assigned keep their
    /// positions. Fails if a topic or partition does not exist.
    pub async fn assign(&self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        if self.state.lock().await.subscription.is_some() {
            return Err(ClientError::Config(
                "assign on a subscribed consumer: close it first".into(),
            ));
        }
        for topic_partition in partitions {
            let count = self
                .cluster
                .partition_count(&topic_partition.topic, self.deadline())
                .await?;
            if topic_partition.partition >= count {
                return Err(ClientError::UnknownPartition {
                    topic_partition: topic_partition.clone(),
                    partition_count: count,
                });
            }
        }
        set_assignment(&mut *self.state.lock().await, partitions);
        Ok(())
    }

    /// The assigned partitions.
    pub async fn assignment(&self) -> Vec<TopicPartition> {
        self.state.lock().await.positions.keys().cloned().collect()
    }

    /// The next offset the consumer will fetch from `topic_partition`; `None` until known.
    pub async fn position(
        &self,
        topic_partition: &TopicPartition,
    ) -> Result<Option<Offset>, ClientError> {
        let state = self.state.lock().await;
        Ok(assigned(&state, topic_partition)?.offset)
    }

    /// Fetches `topic_partition` from `offset` next.
    pub async fn seek(
        &self,
        topic_partition: &TopicPartition,
        offset: Offset,
    ) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        assigned(&state, topic_partition)?;
        state.positions.insert(
            topic_partition.clone(),
            Position {
                offset: Some(offset),
                ..Position::default()
            },
        );
        Ok(())
    }

    /// Moves `partitions` (every assigned one when empty) to their log start offsets.
    pub async fn seek_to_beginning(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<(), ClientError> {
        self.seek_to(partitions, OffsetSpec::Earliest).await
    }

    /// Moves `partitions` (every assigned one when empty) to their high watermarks.
    pub async fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.seek_to(partitions, OffsetSpec::Latest).await
    }

    async fn seek_to(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        let partitions = if partitions.is_empty() {
            state.positions.keys().cloned().collect()
        } else {
            partitions.to_vec()
        };
        for topic_partition in &partitions {
            assigned(&state, topic_partition)?;
        }
        let offsets = self
            .list_offsets(&partitions, spec, self.deadline())
            .await?;
        for (topic_partition, offset) in offsets {
            state.positions.insert(
                topic_partition,
                Position {
                    offset: Some(offset),
                    ..Position::default()
                },
            );
        }
        Ok(())
    }

    /// Fetches records from the assigned partitions: returns as soon as some arrived, or
    /// empty once `timeout` passed. Looks up unknown positions first (committed offset, else
    /// `auto_offset_reset`).
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().await;
        if let Some(error) = state.deferred_error.take() {
            return Err(error);
        }
        let subscribed = state.subscription.is_some();
        if state.positions.is_empty() && !subscribed {
            return Err(ClientError::Config(
                "poll with no partition assigned".into(),
            ));
        }
        loop {
            self.cluster.refresh_if_stale();
            if subscribed {
                self.keep_membership(&mut state).await?;
                if state.positions.is_empty() {
                    // A member the group gave nothing: wait for a rebalance or the timeout.
                    let pause = Instant::now() + self.config.fetch_max_wait;
                    tokio::time::sleep_until(pause.min(deadline)).await;
                    if Instant::now() >= deadline {
                        return Ok(Vec::new());
                    }
                    continue;
                }
            }
            self.resolve_positions(&mut state).await?;
            let records = self.fetch_round(&mut state, deadline).await;
            if !records.is_empty() {
                if state.deferred_error.is_none() {
                    self.send_fetches(&mut state, self.config.fetch_max_wait);
                }
                return Ok(records);
            }
            if let Some(error) = state.deferred_error.take() {
                return Err(error);
            }
            if Instant::now() >= deadline {
                return Ok(records);
            }
        }
    }

    /// Looks up every unknown position: committed offsets first, then the reset policy.
    async fn resolve_positions(&self, state: &mut State) -> Result<(), ClientError> {
        let unknown: Vec<TopicPartition> = state
            .positions
            .iter()
            .filter(|(_, position)| position.offset.is_none())
            .map(|(topic_partition, _)| topic_partition.clone())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut to_reset = Vec::new();
        let lookup: Vec<TopicPartition> = unknown
            .iter()
            .filter(|tp| !state.positions[*tp].reset)
            .cloned()
            .collect();
        let committed = match &self.config.group {
            Some(group) if !lookup.is_empty() => {
                self.fetch_committed(group, &lookup, self.deadline())
                    .await?
            }
            _ => BTreeMap::new(),
        };
        for topic_partition in unknown {
            match committed.get(&topic_partition).copied().flatten() {
                Some(offset) => {
                    let position = state.positions.get_mut(&topic_partition).expect("assigned");
                    position.offset = Some(offset);
                }
                None => to_reset.push(topic_partition),
            }
        }
        self.reset(state, &to_reset).await
    }

    async fn reset(
        &self,
        state: &mut State,
        partitions: &[TopicPartition],
    ) -> Result<(), ClientError> {
        let Some(first) = partitions.first() else {
            return Ok(());
        };
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => {
                let reason = if state.positions[first].reset {
                    "the offset is out of range"
                } else {
                    "nothing committed"
                };
                return Err(ClientError::NoOffset {
                    topic_partition: first.clone(),
                    reason: reason.into(),
                });
            }
        };
        let offsets = self.list_offsets(partitions, spec, self.deadline()).await?;
        for (topic_partition, offset) in offsets {
            let position = state.positions.get_mut(&topic_partition).expect("assigned");
            *position = Position {
                offset: Some(offset),
                ..Position::default()
            };
        }
        Ok(())
    }

    /// Sends what fetches it can, then waits for the first answer (until `deadline`) and takes
    /// in every answer there by then; the records that came back, in partition order.
    async fn fetch_round(&self, state: &mut State, deadline: Instant) -> Vec<ConsumerRecord> {
        let max_wait = self
            .config
            .fetch_max_wait
            .min(deadline.saturating_duration_since(Instant::now()));
        let leaders_known = self.send_fetches(state, max_wait);
        let mut refresh = (!leaders_known).then(|| self.cluster.metadata().generation());
        let mut records = Vec::new();
        let mut answer = match state.in_flight.is_empty() {
            true => None,
            false => tokio::time::timeout_at(deadline, state.answers.recv())
                .await
                .ok()
                .flatten(),
        };
        while let Some((broker, id, result)) = answer {
            if state.in_flight.get(&broker).is_some_and(|f| f.id == id) {
                let fetch = state.in_flight.remove(&broker).expect("just seen");
                if self.take_answer(state, broker, result, &fetch.offsets, &mut records) {
                    refresh = Some(refresh.map_or(fetch.generation, |g| g.min(fetch.generation)));
                }
            }
            answer = state.answers.try_recv().ok();
        }
        if let Some(generation) = refresh {
            let _ =
                tokio::time::timeout_at(deadline, self.cluster.refresh_metadata(generation)).await;
            if records.is_empty() {
                let pause = Instant::now() + self.cluster.config.retry_backoff;
                tokio::time::sleep_until(pause.min(deadline)).await;
            }
        }
        records
    }

    /// Sends a Fetch to each leader with none out, for its partitions whose position is known
    /// and that are in no fetch out; whether every such partition's leader is known.
    fn send_fetches(&self, state: &mut State, max_wait: Duration) -> bool {
        let metadata = self.cluster.metadata();
        let out: BTreeSet<&TopicPartition> = state
            .in_flight
            .values()
            .flat_map(|fetch| fetch.offsets.keys())
            .collect();
        let mut requests: BTreeMap<BrokerId, (FetchRequest, BTreeMap<TopicPartition, Offset>)> =
            BTreeMap::new();
        let mut leaders_known = true;
        for (topic_partition, position) in &state.positions {
            let Some(offset) = position.offset else {
                continue;
            };
            if out.contains(topic_partition) {
                continue;
            }
            let Ok(leader) = metadata.leader(topic_partition) else {
                leaders_known = false;
                continue;
            };
            if state.in_flight.contains_key(&leader.broker) {
                continue;
            }
            let (request, offsets) = requests.entry(leader.broker).or_insert_with(|| {
                let request = FetchRequest {
                    replica_id: None,
                    max_wait,
                    min_bytes: self.config.fetch_min_bytes,
                    max_bytes: self.config.fetch_max_bytes,
                    topics: Vec::new(),
                };
                (request, BTreeMap::new())
            });
            offsets.insert(topic_partition.clone(), offset);
            let partition = FetchPartition {
                partition_index: topic_partition.partition,
                current_leader_epoch: leader.epoch,
                fetch_offset: offset,
                last_fetched_epoch: None,
                log_start_offset: None,
                partition_max_bytes: self.config.max_partition_fetch_bytes,
            };
            push_partition(&mut request.topics, &topic_partition.topic, partition);
        }
        for (broker, (request, offsets)) in requests {
            let id = state.next_fetch;
            state.next_fetch += 1;
            let cluster = Arc::clone(&self.cluster);
            let answers = state.answer_tx.clone();
            tokio::spawn(async move {
                let result = cluster
                    .send_to_broker(broker, Request::Fetch(request), max_wait)
                    .await;
                let _ = answers.send((broker, id, result));
            });
            let generation = metadata.generation();
            state.in_flight.insert(
                broker,
                InFlight {
                    id,
                    offsets,
                    generation,
                },
            );
        }
        leaders_known
    }

    /// Takes one broker's fetch answer in; whether the metadata should be refreshed.
    fn take_answer(
        &self,
        state: &mut State,
        broker: BrokerId,
        answer: Result<Response, ClientError>,
        offsets: &BTreeMap<TopicPartition, Offset>,
        records: &mut Vec<ConsumerRecord>,
    ) -> bool {
        let response = match answer {
            Ok(Response::Fetch(response)) => response,
            Ok(Response::Error(error)) => {
                let error = ClientError::broker(
                    format!("fetch from broker {broker}"),
                    error.error_code,
                    Some(error.message),
                );
                return self.defer_unless_retriable(state, error);
            }
            Ok(other) => return self.defer_unless_retriable(state, unexpected("Fetch", &other)),
            Err(error) => return self.defer_unless_retriable(state, error),
        };
        let mut refresh = false;
        for topic in response.topics {
            for partition in topic.partitions {
                let topic_partition =
                    TopicPartition::new(topic.name.clone(), partition.partition_index);
                let Some(&fetched_from) = offsets.get(&topic_partition) else {
                    continue; // not asked for
                };
                refresh |=
                    self.take_partition(state, &topic_partition, fetched_from, partition, records);
            }
        }
        refresh
    }

    /// Keeps a final error for the caller; a retriable one asks for a metadata refresh and a
    /// backoff before the next fetch (so an error answered at once is not fetched in a loop).
    fn defer_unless_retriable(&self, state: &mut State, error: ClientError) -> bool {
        if error.is_retriable() {
            return true;
        }
        state.deferred_error.get_or_insert(error);
        false
    }

    fn take_partition(
        &self,
        state: &mut State,
        topic_partition: &TopicPartition,
        fetched_from: Offset,
        partition: FetchPartitionResponse,
        records: &mut Vec<ConsumerRecord>,
    ) -> bool {
        let Some(position) = state.positions.get_mut(topic_partition) else {
            return false; // unassigned while the fetch was out
        };
        let Some(offset) = position.offset.filter(|&offset| offset == fetched_from) else {
            return false; // moved while the fetch was out
        };
        let code = partition.error_code;
        if code.is_none() {
            let decoded = decode_records(
                topic_partition,
                &partition.records,
                offset,
                self.config.max_decompressed_batch_bytes,
            );
            if let Some(next) = decoded.next_offset {
                position.offset = Some(next);
                position.last_epoch = decoded.last_epoch.or(position.last_epoch);
            }
            records.extend(decoded.records);
            if let Some(error) = decoded.error {
                state.deferred_error.get_or_insert(error);
            }
            return false;
        }
        if code == ErrorCode::OFFSET_OUT_OF_RANGE {
            *position = Position {
                offset: None,
                reset: true,
                last_epoch: None,
            };
            return false;
        }
        let error = ClientError::broker(
            format!("fetch {topic_partition} at offset {offset}"),
            code,
            None,
        );
        self.defer_unless_retriable(state, error)
    }

    /// Commits the current positions of the assigned partitions (those known) for the group;
    /// subscribed, as the member of the generation it holds.
    pub async fn commit(&self) -> Result<(), ClientError> {
        let state = self.state.lock().await;
        if state.subscription.is_some() {
            return self.commit_positions(&state).await;
        }
        let offsets = known_positions(&state);
        drop(state);
        self.commit_with_epochs(&offsets, (NO_GENERATION, String::new()))
            .await
    }

    /// Commits `offsets` (each the next offset to consume) for the group; subscribed, as the
    /// member of the generation it holds.
    pub async fn commit_offsets(
        &self,
        offsets: &[(TopicPartition, Offset)],
    ) -> Result<(), ClientError> {
        let offsets: Vec<_> = offsets
            .iter()
            .map(|(tp, offset)| (tp.clone(), *offset, None))
            .collect();
        let state = self.state.lock().await;
        match &state.subscription {
            Some(subscribed) => self.commit_as_member(subscribed, &offsets).await,
            None => {
                drop(state);
                self.commit_with_epochs(&offsets, (NO_GENERATION, String::new()))
                    .await
            }
        }
    }

    /// Commits `offsets`; `member` is the generation and member id the commit carries
    /// (OffsetCommit v1), -1 and "" outside a group generation.
    async fn commit_with_epochs(
        &self,
        offsets: &[(TopicPartition, Offset, Option<LeaderEpoch>)],
        member: (i32, String),
    ) -> Result<(), ClientError> {
        let (generation_id, member_id) = member;
        let group = self.group()?;
        let by_partition: BTreeMap<TopicPartition, (Offset, Option<LeaderEpoch>)> = offsets
            .iter()
            .map(|(tp, offset, epoch)| (tp.clone(), (*offset, *epoch)))
            .collect();
        let partitions: Vec<TopicPartition> = by_partition.keys().cloned().collect();
        self.per_coordinator(
            group,
            &partitions,
            self.deadline(),
            async |broker, partitions| {
                let mut topics = Vec::new();
                for topic_partition in &partitions {
                    let (offset, epoch) = by_partition[topic_partition];
                    let partition = OffsetCommitPartition {
                        partition_index: topic_partition.partition,
                        committed_offset: offset,
                        committed_leader_epoch: epoch,
                        committed_metadata: None,
                    };
                    push_partition(&mut topics, &topic_partition.topic, partition);
                }
                // A broker speaking only OffsetCommit v0 takes a commit with no member; one
                // with a member cannot be encoded at v0 and fails here.
                let request = Request::OffsetCommit(OffsetCommitRequest {
                    group_id: group.to_string(),
                    topics,
                    generation_id,
                    member_id: member_id.clone(),
                    group_instance_id: None,
                });
                let response = match self
                    .cluster
                    .send_to_broker(broker, request, Duration::ZERO)
                    .await?
                {
                    Response::OffsetCommit(response) => response,
                    other => return Err(refusal("OffsetCommit", broker, other)),
                };
                let answers = flatten(response.topics, |p| (p.partition_index, p.error_code));
                Ok(pick(&partitions, &answers, "commit offset of", |code| {
                    if code.is_none() { Ok(()) } else { Err(code) }
                }))
            },
        )
        .await?;
        Ok(())
    }

    /// The group's committed offsets (`None`: nothing committed) for `partitions`.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<Offset>>, ClientError> {
        let group = self.group()?;
        self.fetch_committed(group, partitions, self.deadline())
            .await
    }

    fn group(&self) -> Result<&str, ClientError> {
        self.config
            .group
            .as_deref()
            .ok_or_else(|| ClientError::Config("committed offsets need a consumer group".into()))
    }

    async fn fetch_committed(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        deadline: Instant,
    ) -> Result<BTreeMap<TopicPartition, Option<Offset>>, ClientError> {
        self.per_coordinator(group, partitions, deadline, async |broker, partitions| {
            let mut topics: Vec<OffsetFetchTopic> = Vec::new();
            for topic_partition in &partitions {
                match topics.iter_mut().find(|t| t.name == topic_partition.topic) {
                    Some(topic) => topic.partition_indexes.push(topic_partition.partition),
                    None => topics.push(OffsetFetchTopic {
                        name: topic_partition.topic.clone(),
                        partition_indexes: vec![topic_partition.partition],
                    }),
                }
            }
            let request = Request::OffsetFetch(OffsetFetchRequest {
                group_id: group.to_string(),
                topics: Some(topics),
            });
            let response = match self
                .cluster
                .send_to_broker(broker, request, Duration::ZERO)
                .await?
            {
                Response::OffsetFetch(response) => response,
                other => return Err(refusal("OffsetFetch", broker, other)),
            };
            let answers = flatten(response.topics, |p| {
                (p.partition_index, (p.error_code, p.committed_offset))
            });
            Ok(pick(
                &partitions,
                &answers,
                "committed offset of",
                |(code, offset)| {
                    if code.is_none() {
                        Ok(offset)
                    } else {
                        Err(code)
                    }
                },
            ))
        })
        .await
    }

    /// ListOffsets for `partitions`, from their leaders.
    async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
        deadline: Instant,
    ) -> Result<BTreeMap<TopicPartition, Offset>, ClientError> {
        self.per_leader(partitions, deadline, async |broker, partitions| {
            let mut topics = Vec::new();
            for topic_partition in &partitions {
                let epoch = self
                    .cluster
                    .leader(topic_partition)
                    .ok()
                    .and_then(|l| l.epoch);
                let partition = ListOffsetsPartition {
                    partition_index: topic_partition.partition,
                    current_leader_epoch: epoch,
                    spec,
                };
                push_partition(&mut topics, &topic_partition.topic, partition);
            }
            let request = Request::ListOffsets(ListOffsetsRequest { topics });
            let response = match self
                .cluster
                .send_to_broker(broker, request, Duration::ZERO)
                .await?
            {
                Response::ListOffsets(response) => response,
                other => return Err(refusal("ListOffsets", broker, other)),
            };
            let answers = flatten(response.topics, |p| {
                (p.partition_index, (p.error_code, p.offset))
            });
            Ok(pick(
                &partitions,
                &answers,
                "list offsets of",
                |(code, offset)| match (code.is_none(), offset) {
                    (true, Some(offset)) => Ok(offset),
                    (true, None) => Err(ErrorCode::OFFSET_NOT_AVAILABLE),
                    (false, _) => Err(code),
                },
            ))
        })
        .await
    }

    /// Sends requests about `partitions` to their leaders (one call of `send` per leader) and
    /// retries the partitions that failed retriably, refreshing metadata when asked, until
    /// `deadline`.
    async fn per_leader<T>(
        &self,
        partitions: &[TopicPartition],
        deadline: Instant,
        send: impl AsyncFnMut(BrokerId, Vec<TopicPartition>) -> Result<Results<T>, ClientError>,
    ) -> Result<BTreeMap<TopicPartition, T>, ClientError> {
        self.per_broker(partitions, deadline, TopicPartition::clone, send)
            .await
    }

    /// Sends a group's request for `partitions` to the group's coordinator: the leader of
    /// the group's partition of `__consumer_offsets` (the broker answers NOT_COORDINATOR or
    /// COORDINATOR_NOT_AVAILABLE, both retried after a metadata refresh, when that moved or
    /// does not exist yet).
    async fn per_coordinator<T>(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        deadline: Instant,
        send: impl AsyncFnMut(BrokerId, Vec<TopicPartition>) -> Result<Results<T>, ClientError>,
    ) -> Result<BTreeMap<TopicPartition, T>, ClientError> {
        let coordinator = TopicPartition::new(OFFSETS_TOPIC, offsets_topic::partition_for(group));
        self.per_broker(partitions, deadline, |_| coordinator.clone(), send)
            .await
    }

    /// Sends each broker the partitions `route` sends to it: each partition to the leader of
    /// the partition `route` names.
    async fn per_broker<T>(
        &self,
        partitions: &[TopicPartition],
        deadline: Instant,
        route: impl Fn(&TopicPartition) -> TopicPartition,
        mut send: impl AsyncFnMut(BrokerId, Vec<TopicPartition>) -> Result<Results<T>, ClientError>,
    ) -> Result<BTreeMap<TopicPartition, T>, ClientError> {
        let mut done = BTreeMap::new();
        let mut retry = Retry::new(&self.cluster, deadline);
        self.cluster
            .metadata()
            .want(partitions.iter().map(|tp| route(tp).topic));
        loop {
            let generation = self.cluster.metadata().generation();
            let mut last_error = None;
            let mut by_leader: BTreeMap<BrokerId, Vec<TopicPartition>> = BTreeMap::new();
            for topic_partition in partitions.iter().filter(|tp| !done.contains_key(*tp)) {
                let routed = route(topic_partition);
                match self.cluster.leader(&routed) {
                    Ok(leader) => by_leader
                        .entry(leader.broker)
                        .or_default()
                        .push(topic_partition.clone()),
                    Err(unknown) => {
                        last_error = Some(unknown_to_error(&format!("leader of {routed}"), unknown))
                    }
                }
            }
            for (broker, group) in by_leader {
                match send(broker, group).await {
                    Ok(results) => {
                        for (topic_partition, result) in results {
                            match result {
                                Ok(value) => {
                                    done.insert(topic_partition, value);
                                }
                                Err(error) => last_error = Some(error),
                            }
                        }
                    }
                    Err(error) => last_error = Some(error),
                }
            }
            match last_error {
                None => return Ok(done),
                Some(error) => retry.after(error, generation).await?,
            }
        }
    }
}

/// Makes `partitions` the assignment; partitions already assigned keep their positions, and
/// every fetch out is dropped (its answer would be for the old assignment).
fn set_assignment(state: &mut State, partitions: &[TopicPartition]) {
    let mut positions = BTreeMap::new();
    for topic_partition in partitions {
        let position = state
            .positions
            .get(topic_partition)
            .copied()
            .unwrap_or_default();
        positions.insert(topic_partition.clone(), position);
    }
    state.positions = positions;
    state.in_flight.clear();
}

/// The positions known, with the epoch of the last record returned from each.
fn known_positions(state: &State) -> Vec<(TopicPartition, Offset, Option<LeaderEpoch>)> {
    state
        .positions
        .iter()
        .filter_map(|(tp, position)| Some((tp.clone(), position.offset?, position.last_epoch)))
        .collect()
}

fn assigned<'a>(
    state: &'a State,
    topic_partition: &TopicPartition,
) -> Result<&'a Position, ClientError> {
    state
        .positions
        .get(topic_partition)
        .ok_or_else(|| ClientError::NotAssigned {
            topic_partition: topic_partition.clone(),
        })
}

/// Adds a partition entry under its topic, keeping topics in first-seen order.
fn push_partition<P>(topics: &mut Vec<Topic<P>>, name: &str, partition: P) {
    match topics.iter_mut().find(|topic| topic.name == name) {
        Some(topic) => topic.partitions.push(partition),
        None => topics.push(Topic {
            name: name.to_string(),
            partitions: vec![partition],
        }),
    }
}

/// Each partition's answer, keyed by topic partition.
fn flatten<P, A>(
    topics: Vec<Topic<P>>,
    answer: impl Fn(&P) -> (u32, A),
) -> BTreeMap<TopicPartition, A> {
    let mut out = BTreeMap::new();
    for topic in topics {
        for partition in &topic.partitions {
            let (index, value) = answer(partition);
            out.insert(TopicPartition::new(topic.name.clone(), index), value);
        }
    }
    out
}

/// The result for each asked partition: its answer judged by `judge`, or a protocol error
/// when the response left it out.
fn pick<A: Copy, T>(
    partitions: &[TopicPartition],
    answers: &BTreeMap<TopicPartition, A>,
    what: &str,
    judge: impl Fn(A) -> Result<T, ErrorCode>,
) -> Results<T> {
    partitions
        .iter()
        .map(|topic_partition| {
            let result = match answers.get(topic_partition) {
                Some(answer) => judge(*answer).map_err(|code| {
                    ClientError::broker(format!("{what} {topic_partition}"), code, None)
                }),
                None => Err(ClientError::Protocol {
                    address: "broker".into(),
                    detail: format!("the answer about {what} {topic_partition} is missing"),
                }),
            };
            (topic_partition.clone(), result)
        })
        .collect()
}

/// The error for a request refused whole (or answered with another API).
fn refusal(api: &str, broker: BrokerId, response: Response) -> ClientError {
    match response {
        Response::Error(error) => ClientError::broker(
            format!("{api} to broker {broker}"),
            error.error_code,
            Some(error.message),
        ),
        other => unexpected(api, &other),
    }
}
