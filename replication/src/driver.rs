//! The partition driver: one partition on one broker, its [`Replica`] stepped and the
//! replica's intents carried out on the partition's log. The broker runs it over the storage
//! engine's log; the deterministic simulator runs the same code over its model disk. So a bug
//! in how intents are carried out (an append's offsets, a truncation, the order of a role
//! change and an append in flight) fails a simulation seed.
//!
//! The driver knows no protocol and no transport: inputs are the replica's inputs plus the
//! record bytes that come with them; what must travel elsewhere comes back as [`Effects`]
//! (produce answers, the answer to a follower's fetch, fetches to send to the leader, ISR
//! proposals). Refusals are [`Refusal`]s in the crate's [`KafkaError`] vocabulary; protocol
//! frontends turn them into their wire codes.
//!
//! The log is anything that implements [`DriverLog`]. An append as leader may complete at
//! once ([`LeaderAppend::Done`], the engine: the records are in the page cache when it
//! returns) or later ([`LeaderAppend::Pending`], the simulator's disk with latency; the host
//! calls [`PartitionDriver::append_completed`]). While an append is pending the driver keeps
//! a new state of the partition from the controller back, and applies it once the appends
//! complete: a replica taking a role reads the log's end, and an end that includes writes not
//! yet complete would let a new leader's high watermark cover records a crash can still take.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::controller::{IsrProposal, Partition};
use crate::error::KafkaError;
use crate::partition::{
    Acks, DeleteError, DeleteId, FetchId, FetchResponse, FollowerConfig, FollowerFetchAnswer,
    FollowerFetchRequest, FollowerOutput, Leader, LeaderConfig, LeaderOutput, LogState,
    ProduceError, ProduceId, Replica, ReplicaInput, ReplicaOutput,
};
use crate::types::{BrokerId, LeaderEpoch, Millis, Offset, TopicPartition};

/// The log a [`PartitionDriver`] carries its replica's intents out on.
pub trait DriverLog {
    /// Record batches as this log takes them: a producer's, or those of a leader's fetch
    /// response.
    type Records;
    /// Why the log refused an operation.
    type Error: fmt::Display;

    /// What the replica knows of the log when it takes a role: its end, its last high
    /// watermark, its leader-epoch cache. Called only with no append pending.
    fn state(&self) -> LogState;

    /// The first offset the log holds.
    fn log_start_offset(&self) -> Offset;

    /// The next offset to be assigned.
    fn log_end_offset(&self) -> Offset;

    /// Appends a producer's batches as the leader of `leader_epoch`: offsets from the log end,
    /// batches stamped with the epoch. When it returns `Ok`, later reads see the batches.
    fn append_as_leader(
        &mut self,
        records: Self::Records,
        leader_epoch: LeaderEpoch,
    ) -> Result<LeaderAppend, Self::Error>;

    /// Appends the batches of `records` from `base_offset` up to `end_offset`, as the leader
    /// stamped them (a follower's append). Complete when it returns.
    fn append_replicated(
        &mut self,
        records: &Self::Records,
        base_offset: Offset,
        end_offset: Offset,
    ) -> Result<(), Self::Error>;

    /// Removes every batch holding an offset at or past `end_offset`: a batch `end_offset`
    /// falls inside goes whole. A log cut below its start restarts empty at the cut; one cut
    /// inside the batch holding its start restarts empty at its start. The replica reads
    /// [`Self::state`] afterwards.
    fn truncate_to(&mut self, end_offset: Offset) -> Result<(), Self::Error>;

    /// Empties the log and restarts it at `offset`.
    fn truncate_fully_and_start_at(&mut self, offset: Offset) -> Result<(), Self::Error>;

    /// Records the replica's high watermark (the log checkpoints it).
    fn set_high_watermark(&mut self, high_watermark: Offset);

    /// Moves the log's start up to `log_start_offset`, at most the high watermark last set:
    /// reads below it are refused from now on and whole segments below it deleted. A start
    /// not above the current one changes nothing. When it returns `Ok`, the new start is
    /// durable (a restart keeps it).
    fn advance_log_start(&mut self, log_start_offset: Offset) -> Result<(), Self::Error>;

    /// The refusal a produce gets when [`Self::append_as_leader`] fails with `error`.
    fn append_refusal(error: &Self::Error) -> KafkaError;
}

/// How a leader's append went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderAppend {
    /// Appended from `first_offset`; the log now ends at `log_end_offset`.
    Done {
        first_offset: Offset,
        log_end_offset: Offset,
    },
    /// Offsets assigned from `first_offset`; the write completes later, and the host then
    /// calls [`PartitionDriver::append_completed`].
    Pending { first_offset: Offset },
}

/// A request refused: the error as Kafka names it and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: KafkaError,
    pub message: String,
}

impl Refusal {
    pub fn new(error: KafkaError, message: impl Into<String>) -> Refusal {
        Refusal {
            error,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error.name(), self.message)
    }
}

/// A produce's answer: where its batches went, or why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProduceOutcome {
    /// Appended (and replicated as far as its acks asked). `base_offset` is `None` only for
    /// an acks=0 produce answered before its append. `isr_len` is the size of the ISR the
    /// leader answered with (what an acks=all acknowledgement stood on).
    Appended {
        base_offset: Option<Offset>,
        log_start_offset: Offset,
        isr_len: usize,
    },
    Refused(Refusal),
}

/// A DeleteRecords' answer: the low watermark it reached (the smallest log start over the
/// ISR, at least the offset asked for), or why it was refused.
pub type DeleteOutcome = Result<Offset, Refusal>;

/// What a step asks of the host beyond the log, which the driver has already written.
#[derive(Debug)]
pub struct Effects<R> {
    /// Produce answers now due.
    pub answers: Vec<(R, ProduceOutcome)>,
    /// DeleteRecords answers now due.
    pub delete_answers: Vec<(R, DeleteOutcome)>,
    /// The leader's answer to the follower fetch being handled.
    pub fetch_answer: Option<FollowerFetchAnswer>,
    /// Fetches this follower must send to its leader.
    pub send_fetches: Vec<(FetchId, BrokerId, FollowerFetchRequest)>,
    /// ISR changes this leader asks the controller for.
    pub isr_proposals: Vec<IsrProposal>,
    /// The log end offset or the high watermark moved: waiting fetches may have data now.
    pub progressed: bool,
    /// Records this follower cut from its log's end where it diverged from the leader's.
    pub truncated: u64,
    /// Leader appends now pending, with the log end each reaches: the host calls
    /// [`PartitionDriver::append_completed`] for each once its write completes.
    pub appends_pending: Vec<(ProduceId, Offset)>,
}

impl<R> Default for Effects<R> {
    fn default() -> Self {
        Effects {
            answers: Vec::new(),
            delete_answers: Vec::new(),
            fetch_answer: None,
            send_fetches: Vec::new(),
            isr_proposals: Vec::new(),
            progressed: false,
            truncated: 0,
            appends_pending: Vec::new(),
        }
    }
}

/// A produce waiting for the replica's answer, and what the client is told then.
#[derive(Debug)]
struct WaitingProduce<R> {
    reply: R,
    base_offset: Option<Offset>,
}

/// One partition on one broker. `L` is its log; `R` is how the host routes a produce's
/// answer back.
pub struct PartitionDriver<L: DriverLog, R> {
    topic_partition: TopicPartition,
    me: BrokerId,
    log: L,
    replica: Replica,
    next_produce: u64,
    waiting: BTreeMap<ProduceId, WaitingProduce<R>>,
    next_delete: u64,
    waiting_deletes: BTreeMap<DeleteId, R>,
    /// Leader appends not yet complete.
    appends_pending: usize,
    /// The newest state of the partition that arrived while appends were pending.
    deferred_state: Option<Partition>,
    /// Test only: apply a new state at once even with appends pending (the broken order the
    /// simulator must catch).
    test_only_apply_state_during_appends: bool,
}

impl<L, R> fmt::Debug for PartitionDriver<L, R>
where
    L: DriverLog + fmt::Debug,
    R: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionDriver")
            .field("topic_partition", &self.topic_partition)
            .field("me", &self.me)
            .field("log", &self.log)
            .field("replica", &self.replica)
            .field("appends_pending", &self.appends_pending)
            .finish_non_exhaustive()
    }
}

impl<L: DriverLog, R> PartitionDriver<L, R> {
    /// A driver for `log`. The replica takes no role until the controller's state of the
    /// partition is applied ([`Self::apply_state`]).
    pub fn new(
        me: BrokerId,
        topic_partition: TopicPartition,
        log: L,
        leader_config: LeaderConfig,
        follower_config: FollowerConfig,
    ) -> PartitionDriver<L, R> {
        let replica = Replica::new(me, leader_config, follower_config, log.state());
        PartitionDriver {
            topic_partition,
            me,
            log,
            replica,
            next_produce: 0,
            waiting: BTreeMap::new(),
            next_delete: 0,
            waiting_deletes: BTreeMap::new(),
            appends_pending: 0,
            deferred_state: None,
            test_only_apply_state_during_appends: false,
        }
    }

    /// Test only: breaks the driver the way the simulator once caught (a new state applied
    /// while appends are pending), so a test can check the simulator still catches it.
    #[doc(hidden)]
    pub fn test_only_apply_state_during_appends(&mut self) {
        self.test_only_apply_state_during_appends = true;
    }

    /// The broker this driver runs on.
    pub fn me(&self) -> BrokerId {
        self.me
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    /// The log, for the host's upkeep of it that leaves its offsets alone (a model disk
    /// marking a completed write durable, say). Appends and truncations go through the
    /// replica.
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// Gives the log back, for closing it.
    pub fn into_log(self) -> L {
        self.log
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn high_watermark(&self) -> Offset {
        self.replica.high_watermark()
    }

    /// The last state of the partition the controller committed, as applied here.
    pub fn state(&self) -> Option<&Partition> {
        self.replica.partition()
    }

    /// The leader epoch this broker leads the partition in, if it leads it.
    pub fn leader_epoch(&self) -> Option<LeaderEpoch> {
        self.replica.as_leader().map(|leader| leader.leader_epoch())
    }

    pub fn is_leader(&self) -> bool {
        self.replica.as_leader().is_some()
    }

    /// How far the slowest ISR follower is behind, when this broker leads.
    pub fn isr_lag(&self) -> Option<u64> {
        self.replica.as_leader().map(|leader| leader.isr_lag())
    }

    /// The ISR this broker leads with, when it leads.
    pub fn isr(&self) -> Option<&[BrokerId]> {
        self.replica.as_leader().map(|leader| leader.isr())
    }

    /// Produces waiting for an answer, and leader appends not complete.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.waiting.len(), self.appends_pending)
    }

    /// DeleteRecords waiting for an answer.
    pub fn deletes_waiting(&self) -> usize {
        self.waiting_deletes.len()
    }

    /// Where a consumer's read may go: up to the high watermark, from the leader only. A
    /// consumer that names a leader epoch learns whether its view is stale.
    pub fn consumer_read_end(
        &self,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> Result<Offset, KafkaError> {
        self.leading(current_leader_epoch)?;
        Ok(self.high_watermark())
    }

    /// The leader, for a client that names the leader epoch it believes current (if it
    /// does): NOT_LEADER_OR_FOLLOWER on a broker that does not lead, FENCED_LEADER_EPOCH for a
    /// client behind this leadership, UNKNOWN_LEADER_EPOCH for one ahead of it.
    pub fn leading(
        &self,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> Result<&Leader, KafkaError> {
        let leader = self
            .replica
            .as_leader()
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        let epoch = leader.leader_epoch();
        match current_leader_epoch {
            Some(asked) if asked < epoch => Err(KafkaError::FencedLeaderEpoch),
            Some(asked) if asked > epoch => Err(KafkaError::UnknownLeaderEpoch),
            _ => Ok(leader),
        }
    }

    /// Kafka's OffsetsForLeaderEpoch on the leader, behind the same leader-epoch fence as a
    /// consumer's fetch: the largest epoch at most `requested` and the offset where it ends
    /// in this log (the log end for the current epoch); `Ok(None)` when no epoch answers
    /// (Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET).
    pub fn end_offset_for_epoch(
        &self,
        current_leader_epoch: Option<LeaderEpoch>,
        requested: LeaderEpoch,
    ) -> Result<Option<(LeaderEpoch, Offset)>, KafkaError> {
        let leader = self.leading(current_leader_epoch)?;
        Ok(leader.end_offset_for_epoch(requested, self.log.log_start_offset()))
    }

    /// Where the read for a follower whose fetch the leader accepted may go: the log end as
    /// the leader knows it, which leaves out appends still pending (they may not survive a
    /// crash, and a follower must never be ahead of its leader).
    pub fn follower_read_end(&self) -> Result<Offset, KafkaError> {
        self.replica
            .as_leader()
            .map(|leader| leader.log_end_offset())
            .ok_or(KafkaError::NotLeaderOrFollower)
    }

    /// Applies the controller's state of the partition: the replica takes the role it gives
    /// this broker (or keeps it, when the state is not newer than the last one applied). With
    /// appends pending, the state waits for them.
    pub fn apply_state(&mut self, partition: Partition, now: Millis) -> Effects<R> {
        if self.appends_pending > 0 && !self.test_only_apply_state_during_appends {
            let newer = self
                .deferred_state
                .as_ref()
                .is_none_or(|deferred| partition.partition_epoch() > deferred.partition_epoch());
            if newer {
                self.deferred_state = Some(partition);
            }
            return Effects::default();
        }
        let input = ReplicaInput::PartitionChanged {
            partition,
            log: self.log.state(),
            now,
        };
        let outputs = self.replica.step(input);
        let mut effects = self.carry_out(outputs, None);
        // Produces waiting on a leadership this broker no longer has were answered by the
        // replica, and fetches waiting on it must hear so.
        effects.progressed = true;
        effects
    }

    /// A producer's batches for this partition, as the leader takes them. The effects carry
    /// this produce's answer, unless it waits for its append or the high watermark.
    pub fn produce(
        &mut self,
        records: L::Records,
        acks: Acks,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Effects<R> {
        let id = ProduceId(self.next_produce);
        self.next_produce += 1;
        self.waiting.insert(
            id,
            WaitingProduce {
                reply,
                base_offset: None,
            },
        );
        let outputs = self.replica.step(ReplicaInput::Produce {
            id,
            acks,
            timeout,
            now,
        });
        self.carry_out(outputs, Some(Payload::Produce(records)))
    }

    /// A DeleteRecords: the log is to start at `offset` (`None`: at the high watermark). The
    /// leader moves its log start at once; the answer waits until every ISR replica's log
    /// starts there too, at most `timeout` (`partition::delete`). The effects carry it when it
    /// is due.
    pub fn delete_records(
        &mut self,
        offset: Option<Offset>,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Effects<R> {
        let id = DeleteId(self.next_delete);
        self.next_delete += 1;
        self.waiting_deletes.insert(id, reply);
        let outputs = self.replica.step(ReplicaInput::DeleteRecords {
            id,
            offset,
            timeout,
            now,
        });
        self.carry_out(outputs, None)
    }

    /// A pending leader append completed: the log now ends at `log_end_offset`.
    pub fn append_completed(
        &mut self,
        id: ProduceId,
        log_end_offset: Offset,
        now: Millis,
    ) -> Effects<R> {
        assert!(
            self.appends_pending > 0,
            "partition {}: append {id:?} completed with none pending",
            self.topic_partition
        );
        self.appends_pending -= 1;
        let outputs = self
            .replica
            .step(ReplicaInput::Appended { id, log_end_offset });
        let mut effects = self.carry_out(outputs, None);
        effects.progressed = true;
        if self.appends_pending == 0
            && let Some(state) = self.deferred_state.take()
        {
            let applied = self.apply_state(state, now);
            effects.merge(applied);
        }
        effects
    }

    /// Time passed: produces past their deadline are answered, lagging followers leave the
    /// ISR, a follower's lost fetch is sent again.
    pub fn tick(&mut self, now: Millis) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::Tick { now });
        self.carry_out(outputs, None)
    }

    /// A follower's fetch arrived; the effects carry the leader's answer to it.
    pub fn follower_fetch(
        &mut self,
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
    ) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::FollowerFetch {
            replica,
            request,
            now,
        });
        self.carry_out(outputs, None)
    }

    /// The leader answered this follower's fetch `fetch_id` with `response`, whose batches
    /// are `records` (checked whole by the caller: nothing damaged reaches the log).
    pub fn fetch_response(
        &mut self,
        fetch_id: FetchId,
        response: FetchResponse,
        records: L::Records,
        now: Millis,
    ) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::FetchResponse {
            fetch_id,
            response,
            now,
        });
        self.carry_out(outputs, Some(Payload::Fetched(records)))
    }

    /// The controller refused this leader's ISR proposal.
    pub fn isr_rejected(&mut self) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::IsrRejected);
        self.carry_out(outputs, None)
    }

    /// Answers every produce and DeleteRecords still waiting with `error`: the partition is
    /// closing. The effects carry nothing else.
    pub fn abandon(&mut self, error: KafkaError) -> Effects<R> {
        let message = format!(
            "partition {} closed while the request waited",
            self.topic_partition
        );
        let refusal = || Refusal::new(error, message.clone());
        let answers = std::mem::take(&mut self.waiting)
            .into_values()
            .map(|waiting| (waiting.reply, ProduceOutcome::Refused(refusal())))
            .collect();
        let delete_answers = std::mem::take(&mut self.waiting_deletes)
            .into_values()
            .map(|reply| (reply, Err(refusal())))
            .collect();
        Effects {
            answers,
            delete_answers,
            ..Effects::default()
        }
    }

    /// Carries out the replica's intents on the log; returns what is left for the host.
    fn carry_out(
        &mut self,
        outputs: Vec<ReplicaOutput>,
        payload: Option<Payload<L::Records>>,
    ) -> Effects<R> {
        let mut effects = Effects::default();
        let mut payload = payload;
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for output in pending {
                match output {
                    ReplicaOutput::Leader(output) => {
                        next.extend(self.carry_out_leader(output, &mut payload, &mut effects));
                    }
                    ReplicaOutput::Follower(output) => {
                        next.extend(self.carry_out_follower(
                            output,
                            payload.as_ref(),
                            &mut effects,
                        ));
                    }
                }
            }
            pending = next;
        }
        effects
    }

    fn carry_out_leader(
        &mut self,
        output: LeaderOutput,
        payload: &mut Option<Payload<L::Records>>,
        effects: &mut Effects<R>,
    ) -> Vec<ReplicaOutput> {
        match output {
            LeaderOutput::Append { id, leader_epoch } => {
                let Some(Payload::Produce(records)) = payload.take() else {
                    unreachable!("one append per produce, with its batches");
                };
                effects.progressed = true;
                return self.append(id, records, leader_epoch, effects);
            }
            LeaderOutput::Answer { id, result } => {
                if let Some(answer) = self.answer(id, result) {
                    effects.answers.push(answer);
                }
            }
            LeaderOutput::HighWatermark(high_watermark) => {
                self.log.set_high_watermark(high_watermark);
                effects.progressed = true;
            }
            LeaderOutput::ProposeIsr {
                isr,
                leader_epoch,
                partition_epoch,
            } => effects.isr_proposals.push(IsrProposal {
                leader: self.me,
                leader_epoch,
                partition_epoch,
                new_isr: isr,
            }),
            LeaderOutput::FetchAnswer { answer, .. } => effects.fetch_answer = Some(answer),
            LeaderOutput::AdvanceLogStart {
                id,
                log_start_offset,
            } => return self.advance_log_start(id, log_start_offset, effects),
            LeaderOutput::DeleteAnswer { id, result } => {
                if let Some(reply) = self.waiting_deletes.remove(&id) {
                    let outcome = result.map_err(|error: DeleteError| {
                        Refusal::new(error.kafka_error(), error.to_string())
                    });
                    effects.delete_answers.push((reply, outcome));
                }
            }
        }
        Vec::new()
    }

    /// Moves the log's start for delete `id` and tells the replica where it now is; a log
    /// that refuses answers the delete with KAFKA_STORAGE_ERROR (the replica's wait for it
    /// then ends unanswered at its deadline, as a refused append's does).
    fn advance_log_start(
        &mut self,
        id: DeleteId,
        log_start_offset: Offset,
        effects: &mut Effects<R>,
    ) -> Vec<ReplicaOutput> {
        match self.log.advance_log_start(log_start_offset) {
            Ok(()) => self.replica.step(ReplicaInput::LogStartAdvanced {
                id,
                log_start_offset: self.log.log_start_offset(),
            }),
            Err(error) => {
                if let Some(reply) = self.waiting_deletes.remove(&id) {
                    let message = format!(
                        "partition {}: moving the log start to {log_start_offset} failed: {error}",
                        self.topic_partition
                    );
                    let refusal = Refusal::new(KafkaError::KafkaStorageError, message);
                    effects.delete_answers.push((reply, Err(refusal)));
                }
                Vec::new()
            }
        }
    }

    fn carry_out_follower(
        &mut self,
        output: FollowerOutput,
        payload: Option<&Payload<L::Records>>,
        effects: &mut Effects<R>,
    ) -> Vec<ReplicaOutput> {
        let mut next = Vec::new();
        let result = match output {
            FollowerOutput::SendFetch {
                fetch_id,
                leader,
                request,
            } => {
                effects.send_fetches.push((fetch_id, leader, request));
                Ok(())
            }
            FollowerOutput::AppendReplicated {
                base_offset,
                end_offset,
            } => {
                let Some(Payload::Fetched(records)) = payload else {
                    unreachable!("a replicated append follows a fetch response");
                };
                effects.progressed = true;
                let appended = self.log.append_replicated(records, base_offset, end_offset);
                debug_assert!(
                    appended.is_err() || self.log.log_end_offset() == end_offset,
                    "partition {}: the follower appended up to {}, told {end_offset}",
                    self.topic_partition,
                    self.log.log_end_offset()
                );
                appended
            }
            FollowerOutput::Truncate { end_offset } => {
                // Records this replica had that the leader's log does not: written by an
                // earlier leader and never committed, or lost to an unclean election.
                let before = self.log.log_end_offset();
                let truncated = self.log.truncate_to(end_offset);
                if truncated.is_ok() {
                    let after = self.log.log_end_offset();
                    effects.truncated += before.0.saturating_sub(after.0);
                    let log = self.log.state();
                    next = self.replica.step(ReplicaInput::Truncated { log });
                }
                truncated
            }
            FollowerOutput::TruncateFullyAndStartAt { offset } => {
                self.log.truncate_fully_and_start_at(offset)
            }
            FollowerOutput::HighWatermark(high_watermark) => {
                self.log.set_high_watermark(high_watermark);
                Ok(())
            }
            FollowerOutput::AdvanceLogStart(log_start_offset) => {
                self.log.advance_log_start(log_start_offset)
            }
        };
        if let Err(error) = result {
            // The replica believes the log did what it was told; it did not. Nothing stored
            // is trusted past this point: stop serving the partition loudly.
            panic!(
                "partition {}: the log refused a follower's intent: {error}",
                self.topic_partition
            );
        }
        next
    }

    fn append(
        &mut self,
        id: ProduceId,
        records: L::Records,
        leader_epoch: LeaderEpoch,
        effects: &mut Effects<R>,
    ) -> Vec<ReplicaOutput> {
        match self.log.append_as_leader(records, leader_epoch) {
            Ok(LeaderAppend::Done {
                first_offset,
                log_end_offset,
            }) => {
                self.note_base_offset(id, first_offset);
                self.replica
                    .step(ReplicaInput::Appended { id, log_end_offset })
            }
            Ok(LeaderAppend::Pending { first_offset }) => {
                self.note_base_offset(id, first_offset);
                self.appends_pending += 1;
                effects
                    .appends_pending
                    .push((id, self.log.log_end_offset()));
                Vec::new()
            }
            Err(error) => {
                if let Some(waiting) = self.waiting.remove(&id) {
                    let refusal = Refusal::new(L::append_refusal(&error), error.to_string());
                    effects
                        .answers
                        .push((waiting.reply, ProduceOutcome::Refused(refusal)));
                }
                Vec::new()
            }
        }
    }

    fn note_base_offset(&mut self, id: ProduceId, first_offset: Offset) {
        if let Some(waiting) = self.waiting.get_mut(&id) {
            waiting.base_offset = Some(first_offset);
        }
    }

    fn answer(
        &mut self,
        id: ProduceId,
        result: Result<Option<Offset>, ProduceError>,
    ) -> Option<(R, ProduceOutcome)> {
        let waiting = self.waiting.remove(&id)?;
        let outcome = match result {
            Ok(_) => ProduceOutcome::Appended {
                base_offset: waiting.base_offset,
                log_start_offset: self.log.log_start_offset(),
                isr_len: self.isr().map_or(0, <[BrokerId]>::len),
            },
            Err(error) => {
                ProduceOutcome::Refused(Refusal::new(error.kafka_error(), error.to_string()))
            }
        };
        Some((waiting.reply, outcome))
    }
}

impl<R> Effects<R> {
    /// Adds `other`'s effects to these.
    fn merge(&mut self, other: Effects<R>) {
        self.answers.extend(other.answers);
        self.delete_answers.extend(other.delete_answers);
        assert!(
            other.fetch_answer.is_none() || self.fetch_answer.is_none(),
            "one fetch answer per step"
        );
        self.fetch_answer = self.fetch_answer.take().or(other.fetch_answer);
        self.send_fetches.extend(other.send_fetches);
        self.isr_proposals.extend(other.isr_proposals);
        self.progressed |= other.progressed;
        self.truncated += other.truncated;
        self.appends_pending.extend(other.appends_pending);
    }
}

/// The record bytes an intent may need: a produce's batches, or a leader's fetch response.
enum Payload<T> {
    Produce(T),
    Fetched(T),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PartitionEpoch;

    const ME: BrokerId = BrokerId(1);

    /// A log of record counts per batch: enough to check what the driver asks of a log.
    #[derive(Debug, Default)]
    struct CountLog {
        /// (base offset, records, epoch) per batch.
        batches: Vec<(Offset, u64, LeaderEpoch)>,
        high_watermark: Offset,
        log_start_offset: Offset,
        /// Leader appends complete later.
        pending: bool,
        /// Leader appends fail.
        broken: bool,
    }

    impl DriverLog for CountLog {
        type Records = Vec<u64>;
        type Error = String;

        fn state(&self) -> LogState {
            LogState {
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
                high_watermark: self.high_watermark,
                ..LogState::default()
            }
        }

        fn log_start_offset(&self) -> Offset {
            self.log_start_offset
        }

        fn log_end_offset(&self) -> Offset {
            self.batches
                .last()
                .map_or(Offset::ZERO, |(base, count, _)| base.plus(*count))
        }

        fn append_as_leader(
            &mut self,
            records: Vec<u64>,
            leader_epoch: LeaderEpoch,
        ) -> Result<LeaderAppend, String> {
            if self.broken {
                return Err("disk full".into());
            }
            let first_offset = self.log_end_offset();
            for count in records {
                let base = self.log_end_offset();
                self.batches.push((base, count, leader_epoch));
            }
            Ok(if self.pending {
                LeaderAppend::Pending { first_offset }
            } else {
                LeaderAppend::Done {
                    first_offset,
                    log_end_offset: self.log_end_offset(),
                }
            })
        }

        fn append_replicated(
            &mut self,
            _records: &Vec<u64>,
            _base_offset: Offset,
            _end_offset: Offset,
        ) -> Result<(), String> {
            unreachable!("these tests lead")
        }

        fn truncate_to(&mut self, end_offset: Offset) -> Result<(), String> {
            self.batches.retain(|(base, _, _)| *base < end_offset);
            Ok(())
        }

        fn truncate_fully_and_start_at(&mut self, _offset: Offset) -> Result<(), String> {
            unreachable!("these tests lead")
        }

        fn set_high_watermark(&mut self, high_watermark: Offset) {
            self.high_watermark = high_watermark;
        }

        fn advance_log_start(&mut self, log_start_offset: Offset) -> Result<(), String> {
            if self.broken {
                return Err("disk full".into());
            }
            self.log_start_offset = self.log_start_offset.max(log_start_offset);
            Ok(())
        }

        fn append_refusal(_error: &String) -> KafkaError {
            KafkaError::KafkaStorageError
        }
    }

    fn driver(
        log: CountLog,
        min_insync_replicas: usize,
    ) -> PartitionDriver<CountLog, &'static str> {
        let config = LeaderConfig {
            min_insync_replicas,
            ..LeaderConfig::default()
        };
        let topic_partition = TopicPartition::new("t", 0);
        PartitionDriver::new(ME, topic_partition, log, config, FollowerConfig::default())
    }

    fn leading(isr: &[u32], leader_epoch: u32, partition_epoch: u32) -> Partition {
        let ids = |ids: &[u32]| ids.iter().map(|&i| BrokerId(i)).collect::<Vec<_>>();
        Partition::new(
            ids(&[1, 2, 3]),
            Some(ME),
            ids(isr),
            LeaderEpoch(leader_epoch),
            PartitionEpoch(partition_epoch),
        )
    }

    fn following(leader: u32, leader_epoch: u32, partition_epoch: u32) -> Partition {
        Partition::new(
            vec![BrokerId(1), BrokerId(2), BrokerId(3)],
            Some(BrokerId(leader)),
            vec![BrokerId(1), BrokerId(2), BrokerId(3)],
            LeaderEpoch(leader_epoch),
            PartitionEpoch(partition_epoch),
        )
    }

    fn produce(
        driver: &mut PartitionDriver<CountLog, &'static str>,
        records: u64,
        acks: Acks,
        reply: &'static str,
    ) -> Effects<&'static str> {
        driver.produce(
            vec![records],
            acks,
            Duration::from_secs(30),
            Millis(0),
            reply,
        )
    }

    #[test]
    fn a_leader_appends_stamped_with_its_epoch_and_answers_acks_1_with_the_base_offset() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1], 4, 1), Millis(0));
        produce(&mut driver, 3, Acks::Leader, "a");
        let effects = produce(&mut driver, 2, Acks::Leader, "b");
        assert_eq!(
            driver.log().batches,
            vec![
                (Offset(0), 3, LeaderEpoch(4)),
                (Offset(3), 2, LeaderEpoch(4))
            ]
        );
        let [(reply, outcome)] = &effects.answers[..] else {
            panic!("one answer: {:?}", effects.answers);
        };
        assert_eq!(*reply, "b");
        assert!(
            matches!(
                outcome,
                ProduceOutcome::Appended {
                    base_offset: Some(Offset(3)),
                    isr_len: 1,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert!(effects.progressed);
        assert!(effects.appends_pending.is_empty());
    }

    #[test]
    fn a_failed_append_is_refused_with_the_logs_refusal_and_nothing_waits() {
        let log = CountLog {
            broken: true,
            ..CountLog::default()
        };
        let mut driver = driver(log, 1);
        driver.apply_state(leading(&[1], 0, 1), Millis(0));
        let effects = produce(&mut driver, 1, Acks::All, "a");
        let [(_, ProduceOutcome::Refused(refusal))] = &effects.answers[..] else {
            panic!("refused: {:?}", effects.answers);
        };
        assert_eq!(refusal.error, KafkaError::KafkaStorageError);
        assert_eq!(refusal.message, "disk full");
        assert_eq!(driver.in_flight(), (0, 0));
    }

    #[test]
    fn acks_all_below_min_insync_replicas_is_refused_and_appends_nothing() {
        let mut driver = driver(CountLog::default(), 2);
        driver.apply_state(leading(&[1], 0, 1), Millis(0));
        let effects = produce(&mut driver, 1, Acks::All, "a");
        let [(_, ProduceOutcome::Refused(refusal))] = &effects.answers[..] else {
            panic!("refused: {:?}", effects.answers);
        };
        assert_eq!(refusal.error, KafkaError::NotEnoughReplicas);
        assert!(driver.log().batches.is_empty());
    }

    #[test]
    fn a_new_state_waits_for_pending_appends_and_is_applied_when_they_complete() {
        let log = CountLog {
            pending: true,
            ..CountLog::default()
        };
        let mut driver = driver(log, 1);
        driver.apply_state(leading(&[1], 0, 1), Millis(0));
        let effects = produce(&mut driver, 5, Acks::Leader, "a");
        assert!(
            effects.answers.is_empty(),
            "answered before its append completed"
        );
        assert_eq!(effects.appends_pending, vec![(ProduceId(0), Offset(5))]);
        assert_eq!(driver.in_flight(), (1, 1));

        // Broker 2 takes over while the append is pending: kept back.
        let effects = driver.apply_state(following(2, 1, 2), Millis(1));
        assert!(driver.is_leader(), "the state was applied during an append");
        assert!(effects.answers.is_empty() && effects.send_fetches.is_empty());

        // The append completes: the produce is answered as the leader it was, then the
        // driver follows broker 2.
        let effects = driver.append_completed(ProduceId(0), Offset(5), Millis(2));
        assert!(
            matches!(
                &effects.answers[..],
                [(
                    "a",
                    ProduceOutcome::Appended {
                        base_offset: Some(Offset(0)),
                        ..
                    }
                )]
            ),
            "{:?}",
            effects.answers
        );
        assert!(!driver.is_leader());
        assert_eq!(
            driver.state().and_then(Partition::leader),
            Some(BrokerId(2))
        );
        assert_eq!(driver.in_flight(), (0, 0));
    }

    #[test]
    fn reads_are_bounded_by_role_and_fenced_by_the_consumers_leader_epoch() {
        let mut driver = driver(CountLog::default(), 1);
        assert_eq!(
            driver.consumer_read_end(None),
            Err(KafkaError::NotLeaderOrFollower)
        );
        assert_eq!(
            driver.follower_read_end(),
            Err(KafkaError::NotLeaderOrFollower)
        );
        driver.apply_state(leading(&[1, 2], 3, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "a");
        // The high watermark waits for broker 2; a follower may read up to the log end.
        assert_eq!(driver.consumer_read_end(None), Ok(Offset(0)));
        assert_eq!(
            driver.consumer_read_end(Some(LeaderEpoch(3))),
            Ok(Offset(0))
        );
        assert_eq!(
            driver.consumer_read_end(Some(LeaderEpoch(2))),
            Err(KafkaError::FencedLeaderEpoch)
        );
        assert_eq!(
            driver.consumer_read_end(Some(LeaderEpoch(4))),
            Err(KafkaError::UnknownLeaderEpoch)
        );
        assert_eq!(driver.follower_read_end(), Ok(Offset(4)));
    }

    #[test]
    fn abandoning_answers_every_waiting_produce_with_the_error() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1, 2], 0, 1), Millis(0));
        produce(&mut driver, 1, Acks::Leader, "p");
        follower_fetch(&mut driver, 1, 0);
        let delete = delete(&mut driver, Some(1), "d");
        assert!(delete.delete_answers.is_empty(), "waits for broker 2");
        produce(&mut driver, 1, Acks::All, "a");
        produce(&mut driver, 1, Acks::All, "b");
        let effects = driver.abandon(KafkaError::NotLeaderOrFollower);
        let answers = effects.answers;
        let replies: Vec<_> = answers.iter().map(|(reply, _)| *reply).collect();
        assert_eq!(replies, ["a", "b"]);
        assert!(matches!(
            &effects.delete_answers[..],
            [(
                "d",
                Err(Refusal {
                    error: KafkaError::NotLeaderOrFollower,
                    ..
                })
            )]
        ));
        assert_eq!(driver.deletes_waiting(), 0);
        assert!(answers.iter().all(|(_, outcome)| matches!(
            outcome,
            ProduceOutcome::Refused(Refusal {
                error: KafkaError::NotLeaderOrFollower,
                ..
            })
        )));
        assert_eq!(driver.in_flight(), (0, 0));
    }

    fn delete(
        driver: &mut PartitionDriver<CountLog, &'static str>,
        offset: Option<u64>,
        reply: &'static str,
    ) -> Effects<&'static str> {
        let offset = offset.map(Offset);
        driver.delete_records(offset, Duration::from_secs(30), Millis(0), reply)
    }

    fn follower_fetch(
        driver: &mut PartitionDriver<CountLog, &'static str>,
        fetch_offset: u64,
        log_start_offset: u64,
    ) -> Effects<&'static str> {
        let request = FollowerFetchRequest {
            fetch_offset: Offset(fetch_offset),
            last_fetched_epoch: Some(LeaderEpoch(0)),
            current_leader_epoch: LeaderEpoch(0),
            log_start_offset: Offset(log_start_offset),
        };
        driver.follower_fetch(BrokerId(2), request, Millis(0))
    }

    #[test]
    fn a_lone_leader_deletes_up_to_the_high_watermark_and_answers_at_once() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1], 0, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "p");
        assert_eq!(driver.high_watermark(), Offset(4));
        let effects = delete(&mut driver, Some(2), "a");
        assert_eq!(effects.delete_answers, vec![("a", Ok(Offset(2)))]);
        assert_eq!(driver.log().log_start_offset, Offset(2));
        let effects = delete(&mut driver, Some(5), "b");
        let [("b", Err(refusal))] = &effects.delete_answers[..] else {
            panic!("refused: {:?}", effects.delete_answers);
        };
        assert_eq!(refusal.error, KafkaError::OffsetOutOfRange);
        assert_eq!(
            refusal.message,
            "offset out of range: records may be deleted up to the high watermark 4, not 5"
        );
        // No offset: the high watermark. An offset below the start moves nothing.
        let effects = delete(&mut driver, None, "c");
        assert_eq!(effects.delete_answers, vec![("c", Ok(Offset(4)))]);
        let effects = delete(&mut driver, Some(1), "d");
        assert_eq!(effects.delete_answers, vec![("d", Ok(Offset(4)))]);
        assert_eq!(driver.log().log_start_offset, Offset(4));
    }

    #[test]
    fn a_delete_waits_for_every_isr_replicas_log_start() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1, 2], 0, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "p");
        follower_fetch(&mut driver, 4, 0);
        assert_eq!(driver.high_watermark(), Offset(4));
        let effects = delete(&mut driver, Some(3), "a");
        assert!(effects.delete_answers.is_empty(), "waits for broker 2");
        assert_eq!(driver.log().log_start_offset, Offset(3), "moved at once");
        assert_eq!(driver.deletes_waiting(), 1);
        let effects = follower_fetch(&mut driver, 4, 2);
        assert!(effects.delete_answers.is_empty(), "broker 2 starts at 2");
        let effects = follower_fetch(&mut driver, 4, 3);
        assert_eq!(effects.delete_answers, vec![("a", Ok(Offset(3)))]);
        assert_eq!(driver.deletes_waiting(), 0);
    }

    #[test]
    fn a_delete_not_answered_by_its_timeout_times_out() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1, 2], 0, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "p");
        follower_fetch(&mut driver, 4, 0);
        delete(&mut driver, Some(3), "a");
        assert!(driver.tick(Millis(29_999)).delete_answers.is_empty());
        let effects = driver.tick(Millis(30_000));
        let [("a", Err(refusal))] = &effects.delete_answers[..] else {
            panic!("timed out: {:?}", effects.delete_answers);
        };
        assert_eq!(refusal.error, KafkaError::RequestTimedOut);
    }

    #[test]
    fn a_delete_the_log_refuses_is_answered_with_a_storage_error() {
        let mut driver = driver(CountLog::default(), 1);
        driver.apply_state(leading(&[1], 0, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "p");
        driver.log_mut().broken = true;
        let effects = delete(&mut driver, Some(2), "a");
        let [("a", Err(refusal))] = &effects.delete_answers[..] else {
            panic!("refused: {:?}", effects.delete_answers);
        };
        assert_eq!(refusal.error, KafkaError::KafkaStorageError);
        assert_eq!(driver.log().log_start_offset, Offset::ZERO);
        // Its wait in the replica ends at the deadline with no second answer.
        assert!(driver.tick(Millis(30_000)).delete_answers.is_empty());
    }

    #[test]
    fn a_delete_on_a_broker_that_does_not_lead_is_refused() {
        let mut driver = driver(CountLog::default(), 1);
        let effects = delete(&mut driver, None, "a");
        let [("a", Err(refusal))] = &effects.delete_answers[..] else {
            panic!("refused: {:?}", effects.delete_answers);
        };
        assert_eq!(refusal.error, KafkaError::NotLeaderOrFollower);
    }

    #[test]
    fn end_offsets_of_epochs_come_from_the_leader_behind_the_epoch_fence() {
        let mut driver = driver(CountLog::default(), 1);
        assert_eq!(
            driver.end_offset_for_epoch(None, LeaderEpoch(0)),
            Err(KafkaError::NotLeaderOrFollower)
        );
        driver.apply_state(leading(&[1], 3, 1), Millis(0));
        produce(&mut driver, 4, Acks::Leader, "p");
        let end =
            |driver: &PartitionDriver<CountLog, &'static str>, current: Option<u32>, requested| {
                driver.end_offset_for_epoch(current.map(LeaderEpoch), LeaderEpoch(requested))
            };
        // The current epoch is open: it ends at the log end.
        assert_eq!(
            end(&driver, Some(3), 3),
            Ok(Some((LeaderEpoch(3), Offset(4))))
        );
        // An epoch older than any here: Kafka answers it with the first known epoch's start.
        assert_eq!(end(&driver, None, 1), Ok(Some((LeaderEpoch(1), Offset(0)))));
        assert_eq!(end(&driver, None, 4), Ok(None));
        assert_eq!(end(&driver, Some(2), 3), Err(KafkaError::FencedLeaderEpoch));
        assert_eq!(
            end(&driver, Some(4), 3),
            Err(KafkaError::UnknownLeaderEpoch)
        );
    }
}
