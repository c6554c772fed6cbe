//! The leader of one partition (Kafka's ISR protocol, as `docs/replication.md` describes it).
//!
//! - **Followers** fetch with their log end offset (LEO) as the fetch offset. A follower is
//!   caught up at a fetch whose offset reaches the leader's LEO; it leaves the ISR when it has
//!   not been caught up for `replica_lag_time_max` (Kafka's `replica.lag.time.max.ms`), and
//!   rejoins once its LEO reaches the high watermark and the start of the current leader
//!   epoch, and its log start this leader's.
//! - **ISR changes** are only proposed ([`LeaderOutput::ProposeIsr`], one at a time, sent
//!   again if unanswered for `isr_proposal_timeout`); the controller commits them
//!   ([`LeaderInput::IsrCommitted`]). Until the leader learns a newer partition epoch, the high
//!   watermark is computed over the committed ISR together with every replica any proposal
//!   since then named: a copy of any of them may still be applied (messages are delayed and
//!   duplicated), so none may move the high watermark past a replica the controller might
//!   count. A refused proposal therefore keeps counting; a replica it named that stops keeping
//!   up is dropped by proposing the committed ISR again, which the controller answers with a
//!   new partition epoch.
//! - **High watermark** = the smallest LEO over that ISR. It never goes back, and it moves only
//!   while the committed ISR has at least `min_insync_replicas` members.
//! - **acks**: 0 is answered before the append; 1 when the leader's append completed; all when
//!   the high watermark passes the batch. An acks=all produce while the ISR is below
//!   `min_insync_replicas` is refused with NOT_ENOUGH_REPLICAS and nothing is appended; one
//!   already appended when the ISR falls below it is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND.
//!   Produces still waiting at their deadline get REQUEST_TIMED_OUT.
//!
//! - **DeleteRecords** ([`super::delete`]) moves the leader's log start up to an offset at
//!   most the high watermark, and is answered once every replica counted in the ISR reports
//!   a log start that far in its fetches (or at its timeout).
//! - **Follower fetches** are validated first ([`super::fetch`]): a stale or unknown leader
//!   epoch is refused, and a follower whose last epoch ends earlier in this log than its fetch
//!   offset is told where they diverge instead of being counted. Only a fetch that passes moves
//!   the follower's progress.
//!
//! [`Leader::step`] takes one input and returns the outputs in the order the broker must carry
//! them out. It never performs IO and reads no clock: time comes in with the inputs.

use std::collections::BTreeMap;
use std::time::Duration;

use ringlog_format::LeaderEpochCache;

use super::delete::{DeleteError, DeleteId, PendingDeletes};
use super::fetch::{DivergingEpoch, FetchError, FollowerFetchRequest};
use super::log_state::LogState;
use crate::controller::Partition;
use crate::error::KafkaError;
use crate::types::{BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch};

/// How durable an acknowledgement is, as the producer asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// acks=0: answered before the append.
    None,
    /// acks=1: answered when the leader's append completed.
    Leader,
    /// acks=all (-1): answered when every ISR member has the batch.
    All,
}

/// The broker's name for one produce of this partition, echoed in the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProduceId(pub u64);

/// Why a produce failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    #[error("not enough replicas: the ISR has {isr} replica(s), min_insync_replicas is {min}")]
    NotEnoughReplicas { isr: usize, min: usize },
    #[error(
        "not enough replicas after append: the ISR has {isr} replica(s), min_insync_replicas is {min}"
    )]
    NotEnoughReplicasAfterAppend { isr: usize, min: usize },
    #[error(
        "request timed out after {waited:?} waiting for the high watermark to reach {required} (it is at {high_watermark})"
    )]
    RequestTimedOut {
        waited: Duration,
        required: Offset,
        high_watermark: Offset,
    },
    #[error(
        "not leader or follower: this broker led the partition in leader epoch {leader_epoch} and no longer does"
    )]
    NotLeaderOrFollower { leader_epoch: LeaderEpoch },
}

impl ProduceError {
    /// The Kafka error this is.
    pub fn kafka_error(&self) -> KafkaError {
        match self {
            ProduceError::NotEnoughReplicas { .. } => KafkaError::NotEnoughReplicas,
            ProduceError::NotEnoughReplicasAfterAppend { .. } => {
                KafkaError::NotEnoughReplicasAfterAppend
            }
            ProduceError::RequestTimedOut { .. } => KafkaError::RequestTimedOut,
            ProduceError::NotLeaderOrFollower { .. } => KafkaError::NotLeaderOrFollower,
        }
    }
}

/// A leader's settings: broker defaults overridden by the topic's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// `replica_lag_time_max_ms`, default 30000.
    pub replica_lag_time_max: Duration,
    /// `min_insync_replicas`, default 1.
    pub min_insync_replicas: usize,
    /// How long an ISR proposal may go unanswered before it is sent again (the request or its
    /// answer may have been lost).
    pub isr_proposal_timeout: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            replica_lag_time_max: Duration::from_secs(30),
            min_insync_replicas: 1,
            isr_proposal_timeout: Duration::from_secs(5),
        }
    }
}

/// What happened, for the leader to react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderInput {
    /// A produce arrived; it must be answered by `now + timeout` at the latest.
    Produce {
        id: ProduceId,
        acks: Acks,
        timeout: Duration,
        now: Millis,
    },
    /// The produce's batches are in the leader's log, which now ends at `log_end_offset`
    /// (reports may arrive in any order).
    Appended {
        id: ProduceId,
        log_end_offset: Offset,
    },
    /// A follower fetched; its fetch offset is its log end offset. Answered with
    /// [`LeaderOutput::FetchAnswer`].
    FollowerFetch {
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
    },
    /// Time passed.
    Tick { now: Millis },
    /// The controller committed this ISR for the partition (the proposal this leader made, or
    /// another change).
    IsrCommitted {
        isr: Vec<BrokerId>,
        partition_epoch: PartitionEpoch,
    },
    /// The controller refused the proposal in flight; the leader may propose again.
    IsrRejected,
    /// A DeleteRecords arrived: the log is to start at `offset` (`None`: at the high
    /// watermark); it must be answered by `now + timeout` at the latest.
    DeleteRecords {
        id: DeleteId,
        offset: Option<Offset>,
        timeout: Duration,
        now: Millis,
    },
    /// The log now starts at `log_start_offset`, as [`LeaderOutput::AdvanceLogStart`] asked
    /// for delete `id` (or further: retention may have moved it on its own).
    LogStartAdvanced {
        id: DeleteId,
        log_start_offset: Offset,
    },
}

/// What the broker must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderOutput {
    /// Append the produce's batches to the log as leader in this epoch, then report
    /// [`LeaderInput::Appended`].
    Append {
        id: ProduceId,
        leader_epoch: LeaderEpoch,
    },
    /// Answer the produce: `Ok` with the offset the high watermark (acks=all) or the log end
    /// (acks=1) reached; `Ok(None)` for acks=0.
    Answer {
        id: ProduceId,
        result: Result<Option<Offset>, ProduceError>,
    },
    /// Ask the controller to make this the ISR.
    ProposeIsr {
        isr: Vec<BrokerId>,
        leader_epoch: LeaderEpoch,
        partition_epoch: PartitionEpoch,
    },
    /// The high watermark moved here: consumers may read below it; followers learn it from
    /// fetch responses.
    HighWatermark(Offset),
    /// Answer a follower's fetch.
    FetchAnswer {
        replica: BrokerId,
        answer: FollowerFetchAnswer,
    },
    /// Move the log's start up to `log_start_offset` for delete `id` (the records below are
    /// gone for readers, the segments wholly below deleted), then report
    /// [`LeaderInput::LogStartAdvanced`].
    AdvanceLogStart {
        id: DeleteId,
        log_start_offset: Offset,
    },
    /// Answer the DeleteRecords: `Ok` with the low watermark (the smallest log start over the
    /// ISR) once it reached the requested offset.
    DeleteAnswer {
        id: DeleteId,
        result: Result<Offset, DeleteError>,
    },
}

/// The leader's answer to a follower's fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerFetchAnswer {
    /// Send the log's batches from `fetch_offset` (up to the log end, within the request's
    /// byte limits) with this high watermark.
    Records {
        fetch_offset: Offset,
        high_watermark: Offset,
    },
    /// Send no records: the follower's log has a suffix this one lacks and must be truncated.
    Diverging {
        diverging: DivergingEpoch,
        high_watermark: Offset,
    },
    /// Refuse the fetch with this error.
    Refused(FetchError),
}

/// What the leader knows of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FollowerProgress {
    /// Its log end offset, from its last fetch (unknown until it fetches: the leader epoch's
    /// start offset stands in, which the follower may lack).
    log_end_offset: Option<Offset>,
    /// Its log start offset, from its last fetch (unknown until it fetches).
    log_start_offset: Option<Offset>,
    /// The last time it was caught up with the leader.
    caught_up_at: Millis,
    /// The leader's log end offset and the time at its previous fetch: a fetch that reaches
    /// that offset means the follower was caught up then (Kafka's rule, so a follower of a
    /// leader that never stops appending still counts as caught up).
    previous_fetch: Option<(Offset, Millis)>,
}

/// A produce waiting for its append or for the high watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    acks: Acks,
    received_at: Millis,
    deadline: Millis,
    /// The log end offset right after its batches, once appended.
    required: Option<Offset>,
}

/// The leader of one partition. See the module docs.
#[derive(Clone, Debug)]
pub struct Leader {
    me: BrokerId,
    config: LeaderConfig,
    leader_epoch: LeaderEpoch,
    /// The log end offset when this leadership began: followers must reach it to rejoin.
    epoch_start_offset: Offset,
    /// The log's leader-epoch cache, with this leadership's epoch starting at
    /// `epoch_start_offset`: diverging followers are answered from it.
    epochs: LeaderEpochCache,
    partition_epoch: PartitionEpoch,
    /// The committed ISR, the leader included.
    isr: Vec<BrokerId>,
    /// The ISR proposed and not yet committed or rejected.
    proposed: Option<Vec<BrokerId>>,
    /// Every replica named by a proposal since the last partition epoch this leader learned:
    /// counted in the high watermark until a newer partition epoch makes the proposals stale.
    proposed_members: Vec<BrokerId>,
    /// When the proposal was last sent.
    proposed_at: Millis,
    followers: BTreeMap<BrokerId, FollowerProgress>,
    /// This log's start: where the last DeleteRecords carried out left it.
    log_start_offset: Offset,
    log_end_offset: Offset,
    high_watermark: Offset,
    pending: BTreeMap<ProduceId, Pending>,
    deletes: PendingDeletes,
}

impl Leader {
    /// Becomes leader of `partition` (the controller's state naming `me` leader) over `log`.
    /// This leadership's epoch starts at the log end offset. Followers count as caught up at
    /// `now`.
    ///
    /// # Panics
    /// If `partition` does not name `me` its leader, or its leader epoch is not newer than the
    /// log's last epoch.
    pub fn new(
        me: BrokerId,
        config: LeaderConfig,
        partition: &Partition,
        log: LogState,
        now: Millis,
    ) -> Leader {
        assert_eq!(
            partition.leader(),
            Some(me),
            "broker {me} asked to lead a partition led by {:?}",
            partition.leader()
        );
        let leader_epoch = partition.leader_epoch();
        let mut epochs = log.epochs;
        if let Some(last) = epochs.latest_epoch() {
            assert!(
                leader_epoch >= last,
                "leader epoch {leader_epoch} is older than the log's last epoch {last}"
            );
        }
        epochs.assign(leader_epoch, log.log_end_offset);
        let followers = partition
            .replicas()
            .iter()
            .filter(|&&r| r != me)
            .map(|&r| {
                let progress = FollowerProgress {
                    log_end_offset: None,
                    log_start_offset: None,
                    caught_up_at: now,
                    previous_fetch: None,
                };
                (r, progress)
            })
            .collect();
        let leader = Leader {
            me,
            config,
            leader_epoch,
            epoch_start_offset: log.log_end_offset,
            epochs,
            partition_epoch: partition.partition_epoch(),
            isr: partition.isr().to_vec(),
            proposed: None,
            proposed_members: Vec::new(),
            proposed_at: now,
            followers,
            log_start_offset: log.log_start_offset,
            log_end_offset: log.log_end_offset,
            high_watermark: log.high_watermark.min(log.log_end_offset),
            pending: BTreeMap::new(),
            deletes: PendingDeletes::default(),
        };
        // An ISR of only this broker (with min_insync_replicas 1) commits its whole log at
        // once; with followers, nothing moves until they fetch. The caller reads the result
        // with `high_watermark()` (`Replica` reports it as a `HighWatermark` output).
        let mut leader = leader;
        leader.advance_high_watermark(&mut Vec::new());
        leader.check_invariants();
        leader
    }

    /// Gives up the leadership (the controller moved it, or the partition was deleted): every
    /// produce and DeleteRecords still waiting is answered NOT_LEADER_OR_FOLLOWER. Returns
    /// those answers and the log as this leader left it, for the replica's next role.
    pub fn resign(mut self) -> (Vec<LeaderOutput>, LogState) {
        let error = ProduceError::NotLeaderOrFollower {
            leader_epoch: self.leader_epoch,
        };
        let mut out: Vec<LeaderOutput> = std::mem::take(&mut self.pending)
            .into_keys()
            .map(|id| LeaderOutput::Answer {
                id,
                result: Err(error.clone()),
            })
            .collect();
        let deletes = self.deletes.resign(self.leader_epoch);
        out.extend(delete_answers(deletes));
        let log = LogState {
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            high_watermark: self.high_watermark,
            epochs: self.epochs,
        };
        (out, log)
    }

    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// The committed ISR.
    pub fn isr(&self) -> &[BrokerId] {
        &self.isr
    }

    /// How far the slowest ISR follower is behind this leader's log end, as of its last
    /// fetch (a follower that has not fetched yet counts from this leadership's start).
    pub fn isr_lag(&self) -> u64 {
        self.isr
            .iter()
            .filter(|&&member| member != self.me)
            .map(|member| {
                let follower_end = self
                    .followers
                    .get(member)
                    .and_then(|progress| progress.log_end_offset)
                    .unwrap_or(self.epoch_start_offset);
                self.log_end_offset.0.saturating_sub(follower_end.0)
            })
            .max()
            .unwrap_or(0)
    }

    /// The ISR proposed to the controller and not yet answered.
    pub fn proposed_isr(&self) -> Option<&[BrokerId]> {
        self.proposed.as_deref()
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    /// How many produces wait for their append or the high watermark.
    pub fn pending_produces(&self) -> usize {
        self.pending.len()
    }

    /// How many DeleteRecords wait for the replicas' log starts.
    pub fn pending_deletes(&self) -> usize {
        self.deletes.len()
    }

    /// This log's start, as DeleteRecords left it.
    pub fn log_start_offset(&self) -> Offset {
        self.log_start_offset
    }

    /// Kafka's OffsetsForLeaderEpoch as the leader answers it: the largest epoch at most
    /// `requested` and where it ends in this log (the log end for this leadership's epoch);
    /// `None` (Kafka's UNDEFINED_EPOCH) for an epoch newer than this leadership's. The epochs
    /// are this leader's, which include its own from the leadership's start even before a
    /// batch of it is written, as Kafka's leader epoch cache does; epochs whose data lies
    /// below `log_start_offset` are gone, as retention and DeleteRecords remove them from
    /// Kafka's cache.
    pub fn end_offset_for_epoch(
        &self,
        requested: LeaderEpoch,
        log_start_offset: Offset,
    ) -> Option<(LeaderEpoch, Offset)> {
        let mut epochs = self.epochs.clone();
        epochs.truncate_from_start(log_start_offset);
        epochs.end_offset_for_epoch(requested, self.log_end_offset)
    }

    /// Takes one input; returns what the broker must do, in order.
    pub fn step(&mut self, input: LeaderInput) -> Vec<LeaderOutput> {
        let mut out = Vec::new();
        match input {
            LeaderInput::Produce {
                id,
                acks,
                timeout,
                now,
            } => self.on_produce(id, acks, now.saturating_add(timeout), now, &mut out),
            LeaderInput::Appended { id, log_end_offset } => {
                self.on_appended(id, log_end_offset, &mut out)
            }
            LeaderInput::FollowerFetch {
                replica,
                request,
                now,
            } => self.on_fetch(replica, request, now, &mut out),
            LeaderInput::Tick { now } => self.on_tick(now, &mut out),
            LeaderInput::IsrCommitted {
                isr,
                partition_epoch,
            } => self.on_isr_committed(isr, partition_epoch, &mut out),
            LeaderInput::IsrRejected => self.proposed = None,
            LeaderInput::DeleteRecords {
                id,
                offset,
                timeout,
                now,
            } => self.on_delete(id, offset, now, now.saturating_add(timeout), &mut out),
            LeaderInput::LogStartAdvanced {
                id: _,
                log_start_offset,
            } => {
                self.log_start_offset = self.log_start_offset.max(log_start_offset);
                self.answer_deleted(&mut out);
            }
        }
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        out
    }

    fn on_produce(
        &mut self,
        id: ProduceId,
        acks: Acks,
        deadline: Millis,
        now: Millis,
        out: &mut Vec<LeaderOutput>,
    ) {
        let min = self.config.min_insync_replicas;
        if acks == Acks::All && self.isr.len() < min {
            let error = ProduceError::NotEnoughReplicas {
                isr: self.isr.len(),
                min,
            };
            out.push(LeaderOutput::Answer {
                id,
                result: Err(error),
            });
            return;
        }
        if acks == Acks::None {
            out.push(LeaderOutput::Answer {
                id,
                result: Ok(None),
            });
        } else {
            let pending = Pending {
                acks,
                received_at: now,
                deadline,
                required: None,
            };
            self.pending.insert(id, pending);
        }
        out.push(LeaderOutput::Append {
            id,
            leader_epoch: self.leader_epoch,
        });
    }

    fn on_appended(&mut self, id: ProduceId, log_end_offset: Offset, out: &mut Vec<LeaderOutput>) {
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        if let Some(pending) = self.pending.get_mut(&id) {
            match pending.acks {
                Acks::Leader => {
                    self.pending.remove(&id);
                    out.push(LeaderOutput::Answer {
                        id,
                        result: Ok(Some(log_end_offset)),
                    });
                }
                _ => pending.required = Some(log_end_offset),
            }
        }
        self.advance_high_watermark(out);
        // Appends may be reported out of order: one the high watermark already passed is
        // committed now.
        self.answer_committed(out);
    }

    fn on_fetch(
        &mut self,
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
        out: &mut Vec<LeaderOutput>,
    ) {
        let answer = match self.check_fetch(replica, &request) {
            Err(error) => FollowerFetchAnswer::Refused(error),
            Ok(Some(diverging)) => FollowerFetchAnswer::Diverging {
                diverging,
                high_watermark: self.high_watermark,
            },
            Ok(None) => {
                let progress = self.followers.get_mut(&replica).expect("checked");
                progress.log_start_offset = Some(request.log_start_offset);
                self.record_progress(replica, request.fetch_offset, now, out);
                self.answer_deleted(out);
                FollowerFetchAnswer::Records {
                    fetch_offset: request.fetch_offset,
                    high_watermark: self.high_watermark,
                }
            }
        };
        out.push(LeaderOutput::FetchAnswer { replica, answer });
    }

    /// Refuses a fetch from a non-replica or with another leader epoch; returns where the
    /// follower's log diverges from this one, if it does.
    fn check_fetch(
        &self,
        replica: BrokerId,
        request: &FollowerFetchRequest,
    ) -> Result<Option<DivergingEpoch>, FetchError> {
        if !self.followers.contains_key(&replica) {
            return Err(FetchError::NotLeaderOrFollower { replica });
        }
        let (requested, current) = (request.current_leader_epoch, self.leader_epoch);
        if requested < current {
            return Err(FetchError::FencedLeaderEpoch { requested, current });
        }
        if requested > current {
            return Err(FetchError::UnknownLeaderEpoch { requested, current });
        }
        let Some(last_fetched) = request.last_fetched_epoch else {
            // An empty log diverges from nothing; a fetch offset past this log's end (the
            // follower's log was emptied above its start) is cut back to it.
            return Ok(
                (request.fetch_offset > self.log_end_offset).then_some(DivergingEpoch {
                    epoch: current,
                    end_offset: self.log_end_offset,
                }),
            );
        };
        // A follower's last epoch is never newer than the leader epoch it fetches in.
        let Some((epoch, end_offset)) = self
            .epochs
            .end_offset_for_epoch(last_fetched, self.log_end_offset)
        else {
            return Err(FetchError::UnknownLeaderEpoch {
                requested: last_fetched,
                current,
            });
        };
        let diverges = epoch < last_fetched || end_offset < request.fetch_offset;
        Ok(diverges.then_some(DivergingEpoch { epoch, end_offset }))
    }

    /// A valid fetch at `fetch_offset`: the follower has everything below it.
    fn record_progress(
        &mut self,
        replica: BrokerId,
        fetch_offset: Offset,
        now: Millis,
        out: &mut Vec<LeaderOutput>,
    ) {
        let leader_leo = self.log_end_offset;
        let progress = self.followers.get_mut(&replica).expect("checked");
        let offset = fetch_offset.min(leader_leo);
        progress.log_end_offset = Some(offset);
        if offset >= leader_leo {
            progress.caught_up_at = progress.caught_up_at.max(now);
        } else if let Some((previous_leo, previous_at)) = progress.previous_fetch
            && offset >= previous_leo
        {
            progress.caught_up_at = progress.caught_up_at.max(previous_at);
        }
        progress.previous_fetch = Some((leader_leo, now));
        // A replica joins with this log's start too: every ISR member must hold every
        // deletion an answered DeleteRecords promised, since the next leader comes from them.
        let rejoins = !self.isr.contains(&replica)
            && offset >= self.high_watermark
            && offset >= self.epoch_start_offset
            && progress.log_start_offset >= Some(self.log_start_offset);
        if rejoins && self.proposed.is_none() {
            let mut isr = self.isr.clone();
            isr.push(replica);
            self.propose(isr, now, out);
        }
        self.advance_high_watermark(out);
    }

    fn on_tick(&mut self, now: Millis, out: &mut Vec<LeaderOutput>) {
        self.expire_produces(now, out);
        let expired = self.deletes.expired(now, self.low_watermark());
        out.extend(delete_answers(expired));
        if let Some(isr) = &self.proposed {
            if now.saturating_since(self.proposed_at) >= self.config.isr_proposal_timeout {
                let isr = isr.clone();
                self.propose(isr, now, out);
            }
            return;
        }
        let lag_max = self.config.replica_lag_time_max;
        let lagging: Vec<BrokerId> = self
            .maximal_isr()
            .into_iter()
            .filter(|r| *r != self.me)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|p| now.saturating_since(p.caught_up_at) > lag_max)
            })
            .collect();
        if !lagging.is_empty() {
            // Only named by proposals, not committed: proposing the committed ISR again makes
            // those proposals stale.
            let isr = self
                .isr
                .iter()
                .copied()
                .filter(|r| !lagging.contains(r))
                .collect();
            self.propose(isr, now, out);
        }
    }

    fn on_isr_committed(
        &mut self,
        isr: Vec<BrokerId>,
        partition_epoch: PartitionEpoch,
        out: &mut Vec<LeaderOutput>,
    ) {
        // An older partition epoch is a stale message. An ISR without this broker means the
        // controller moved leadership: the broker replaces this leader when told, not here.
        if partition_epoch < self.partition_epoch || !isr.contains(&self.me) {
            return;
        }
        if partition_epoch > self.partition_epoch {
            self.proposed_members.clear();
        }
        self.partition_epoch = partition_epoch;
        self.isr = isr;
        self.proposed = None;
        let min = self.config.min_insync_replicas;
        if self.isr.len() < min {
            self.fail_waiting_for_replicas(out);
        }
        self.advance_high_watermark(out);
        // A replica left out of the ISR no longer holds a DeleteRecords back.
        self.answer_deleted(out);
    }

    fn on_delete(
        &mut self,
        id: DeleteId,
        offset: Option<Offset>,
        now: Millis,
        deadline: Millis,
        out: &mut Vec<LeaderOutput>,
    ) {
        let requested = offset.unwrap_or(self.high_watermark);
        if requested > self.high_watermark {
            let error = DeleteError::OffsetOutOfRange {
                requested,
                high_watermark: self.high_watermark,
            };
            out.push(LeaderOutput::DeleteAnswer {
                id,
                result: Err(error),
            });
            return;
        }
        self.deletes.wait(id, requested, now, deadline);
        if requested > self.log_start_offset {
            out.push(LeaderOutput::AdvanceLogStart {
                id,
                log_start_offset: requested,
            });
        } else {
            // Already deleted here: the replicas may be there too.
            self.answer_deleted(out);
        }
    }

    /// The smallest log start over the replicas counted in the ISR (a follower that has not
    /// fetched in this leadership counts as starting at 0): how far deletion has reached.
    fn low_watermark(&self) -> Offset {
        self.maximal_isr()
            .iter()
            .map(|&replica| {
                if replica == self.me {
                    return self.log_start_offset;
                }
                self.followers
                    .get(&replica)
                    .and_then(|p| p.log_start_offset)
                    .unwrap_or(Offset::ZERO)
            })
            .min()
            .unwrap_or(self.log_start_offset)
    }

    /// Answers every DeleteRecords the low watermark has reached.
    fn answer_deleted(&mut self, out: &mut Vec<LeaderOutput>) {
        if self.deletes.len() == 0 {
            return;
        }
        let done = self.deletes.satisfied(self.low_watermark());
        out.extend(delete_answers(done));
    }

    fn propose(&mut self, mut isr: Vec<BrokerId>, now: Millis, out: &mut Vec<LeaderOutput>) {
        isr.sort();
        for &member in &isr {
            if !self.isr.contains(&member) && !self.proposed_members.contains(&member) {
                self.proposed_members.push(member);
                // A replica proposed into the ISR is caught up now (it reached the high
                // watermark); it has `replica_lag_time_max` to stay so.
                if let Some(progress) = self.followers.get_mut(&member) {
                    progress.caught_up_at = progress.caught_up_at.max(now);
                }
            }
        }
        self.proposed = Some(isr.clone());
        self.proposed_at = now;
        out.push(LeaderOutput::ProposeIsr {
            isr,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
        });
    }

    /// The ISR the high watermark is computed over: the committed one and every replica a
    /// proposal at this partition epoch named, so a replica leaves the calculation only once
    /// the controller agreed, and joins it as soon as it might be committed.
    fn maximal_isr(&self) -> Vec<BrokerId> {
        let mut isr = self.isr.clone();
        for r in &self.proposed_members {
            if !isr.contains(r) {
                isr.push(*r);
            }
        }
        isr
    }

    fn replica_leo(&self, replica: BrokerId) -> Offset {
        if replica == self.me {
            return self.log_end_offset;
        }
        self.followers
            .get(&replica)
            .and_then(|p| p.log_end_offset)
            .unwrap_or(Offset::ZERO)
            .min(self.log_end_offset)
    }

    fn advance_high_watermark(&mut self, out: &mut Vec<LeaderOutput>) {
        if self.isr.len() < self.config.min_insync_replicas {
            return;
        }
        let candidate = self
            .maximal_isr()
            .iter()
            .map(|&r| self.replica_leo(r))
            .min()
            .unwrap_or(self.log_end_offset);
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            out.push(LeaderOutput::HighWatermark(candidate));
            self.answer_committed(out);
        }
    }

    /// Answers every acks=all produce the high watermark has passed.
    fn answer_committed(&mut self, out: &mut Vec<LeaderOutput>) {
        let hw = self.high_watermark;
        let done: Vec<ProduceId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.required.is_some_and(|r| r <= hw))
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.pending.remove(&id);
            out.push(LeaderOutput::Answer {
                id,
                result: Ok(Some(hw)),
            });
        }
    }

    /// The ISR fell below `min_insync_replicas`: acks=all produces already appended cannot be
    /// acknowledged as the producer asked.
    fn fail_waiting_for_replicas(&mut self, out: &mut Vec<LeaderOutput>) {
        let (isr, min) = (self.isr.len(), self.config.min_insync_replicas);
        let failed: Vec<ProduceId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.acks == Acks::All && p.required.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            self.pending.remove(&id);
            let error = ProduceError::NotEnoughReplicasAfterAppend { isr, min };
            out.push(LeaderOutput::Answer {
                id,
                result: Err(error),
            });
        }
    }

    fn expire_produces(&mut self, now: Millis, out: &mut Vec<LeaderOutput>) {
        let expired: Vec<ProduceId> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let pending = self.pending.remove(&id).expect("listed");
            let error = ProduceError::RequestTimedOut {
                waited: now.saturating_since(pending.received_at),
                required: pending.required.unwrap_or(self.log_end_offset),
                high_watermark: self.high_watermark,
            };
            out.push(LeaderOutput::Answer {
                id,
                result: Err(error),
            });
        }
    }

    /// Panics unless: the leader is in the ISR; the high watermark is at most the leader's log
    /// end offset; no acks=all produce waits for an offset the high watermark already passed.
    pub fn check_invariants(&self) {
        assert!(
            self.isr.contains(&self.me),
            "leader {} not in its isr {:?}",
            self.me,
            self.isr
        );
        assert!(
            self.high_watermark <= self.log_end_offset,
            "high watermark {} above log end offset {}",
            self.high_watermark,
            self.log_end_offset
        );
        assert!(
            self.log_start_offset <= self.high_watermark,
            "log start offset {} above high watermark {}",
            self.log_start_offset,
            self.high_watermark
        );
        for p in self.pending.values() {
            if let Some(required) = p.required {
                assert!(
                    p.acks != Acks::All || required > self.high_watermark,
                    "a produce waits for {required}, already below the high watermark {}",
                    self.high_watermark
                );
            }
        }
    }
}

/// DeleteRecords answers as outputs.
fn delete_answers(
    answers: Vec<(DeleteId, Result<Offset, DeleteError>)>,
) -> impl Iterator<Item = LeaderOutput> {
    answers
        .into_iter()
        .map(|(id, result)| LeaderOutput::DeleteAnswer { id, result })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_format::EpochEntry;

    const EPOCH: LeaderEpoch = LeaderEpoch(5);
    const PREVIOUS_EPOCH: LeaderEpoch = LeaderEpoch(4);
    const PARTITION_EPOCH: PartitionEpoch = PartitionEpoch(10);

    fn ids(ids: &[u32]) -> Vec<BrokerId> {
        ids.iter().map(|&i| BrokerId(i)).collect()
    }

    /// Broker 1 leads replicas `replicas` with ISR `isr`, over a log ending at 100 with the
    /// high watermark at 100, at time 0.
    fn leader(replicas: &[u32], isr: &[u32], min_insync_replicas: usize) -> Leader {
        leader_over(replicas, isr, min_insync_replicas, log())
    }

    /// Broker 1 leads `replicas` with ISR `isr` over `log`, at time 0.
    fn leader_over(
        replicas: &[u32],
        isr: &[u32],
        min_insync_replicas: usize,
        log: LogState,
    ) -> Leader {
        let config = LeaderConfig {
            min_insync_replicas,
            ..LeaderConfig::default()
        };
        let partition = Partition::new(
            ids(replicas),
            Some(BrokerId(1)),
            ids(isr),
            EPOCH,
            PARTITION_EPOCH,
        );
        Leader::new(BrokerId(1), config, &partition, log, Millis(0))
    }

    /// A log ending at 100, all of it written in the epoch before [`EPOCH`], committed.
    fn log() -> LogState {
        let entries = vec![EpochEntry {
            epoch: PREVIOUS_EPOCH,
            start_offset: Offset(0),
        }];
        LogState {
            log_start_offset: Offset::ZERO,
            log_end_offset: Offset(100),
            high_watermark: Offset(100),
            epochs: LeaderEpochCache::from_entries(entries).expect("one entry"),
        }
    }

    fn produce(id: u64, acks: Acks) -> LeaderInput {
        LeaderInput::Produce {
            id: ProduceId(id),
            acks,
            timeout: Duration::from_secs(60),
            now: Millis(0),
        }
    }

    fn appended(id: u64, log_end_offset: u64) -> LeaderInput {
        LeaderInput::Appended {
            id: ProduceId(id),
            log_end_offset: Offset(log_end_offset),
        }
    }

    /// A fetch from a follower in [`EPOCH`] whose log matches the leader's up to `offset`.
    fn fetch(replica: u32, offset: u64, now: u64) -> LeaderInput {
        let last_fetched_epoch = if offset <= 100 { PREVIOUS_EPOCH } else { EPOCH };
        fetch_in(replica, offset, Some(last_fetched_epoch), EPOCH, now)
    }

    fn fetch_in(
        replica: u32,
        offset: u64,
        last_fetched_epoch: Option<LeaderEpoch>,
        current_leader_epoch: LeaderEpoch,
        now: u64,
    ) -> LeaderInput {
        let request = FollowerFetchRequest {
            fetch_offset: Offset(offset),
            last_fetched_epoch,
            current_leader_epoch,
            log_start_offset: Offset::ZERO,
        };
        LeaderInput::FollowerFetch {
            replica: BrokerId(replica),
            request,
            now: Millis(now),
        }
    }

    fn records(replica: u32, offset: u64, high_watermark: u64) -> LeaderOutput {
        LeaderOutput::FetchAnswer {
            replica: BrokerId(replica),
            answer: FollowerFetchAnswer::Records {
                fetch_offset: Offset(offset),
                high_watermark: Offset(high_watermark),
            },
        }
    }

    fn append(id: u64) -> LeaderOutput {
        LeaderOutput::Append {
            id: ProduceId(id),
            leader_epoch: EPOCH,
        }
    }

    fn answered(id: u64, offset: u64) -> LeaderOutput {
        LeaderOutput::Answer {
            id: ProduceId(id),
            result: Ok(Some(Offset(offset))),
        }
    }

    fn proposal(isr: &[u32]) -> LeaderOutput {
        LeaderOutput::ProposeIsr {
            isr: ids(isr),
            leader_epoch: EPOCH,
            partition_epoch: PARTITION_EPOCH,
        }
    }

    #[test]
    fn acks_zero_is_answered_before_the_append() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        let out = l.step(produce(1, Acks::None));
        let answer = LeaderOutput::Answer {
            id: ProduceId(1),
            result: Ok(None),
        };
        assert_eq!(out, vec![answer, append(1)]);
        assert_eq!(l.pending_produces(), 0);
    }

    #[test]
    fn acks_one_is_answered_once_the_leader_appended() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        assert_eq!(l.step(produce(1, Acks::Leader)), vec![append(1)]);
        assert_eq!(l.step(appended(1, 110)), vec![answered(1, 110)]);
    }

    #[test]
    fn acks_all_is_answered_when_every_isr_member_has_the_batch() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        assert_eq!(l.step(produce(1, Acks::All)), vec![append(1)]);
        assert_eq!(l.step(appended(1, 110)), vec![]);
        assert_eq!(l.step(fetch(2, 110, 10)), vec![records(2, 110, 100)]);
        assert_eq!(
            l.step(fetch(3, 110, 10)),
            vec![
                LeaderOutput::HighWatermark(Offset(110)),
                answered(1, 110),
                records(3, 110, 110)
            ]
        );
    }

    #[test]
    fn acks_all_below_min_insync_replicas_is_refused_and_nothing_is_appended() {
        let mut l = leader(&[1, 2, 3], &[1], 2);
        let refused = LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(ProduceError::NotEnoughReplicas { isr: 1, min: 2 }),
        };
        assert_eq!(l.step(produce(1, Acks::All)), vec![refused]);
        assert_eq!(l.pending_produces(), 0);
    }

    #[test]
    fn acks_one_still_works_below_min_insync_replicas() {
        let mut l = leader(&[1, 2, 3], &[1], 2);
        assert_eq!(l.step(produce(1, Acks::Leader)), vec![append(1)]);
        assert_eq!(l.step(appended(1, 105)), vec![answered(1, 105)]);
    }

    #[test]
    fn high_watermark_does_not_move_while_the_isr_is_below_min() {
        let mut l = leader(&[1, 2, 3], &[1], 2);
        l.step(produce(1, Acks::Leader));
        l.step(appended(1, 105));
        assert_eq!(l.high_watermark(), Offset(100));
    }

    #[test]
    fn a_lone_leader_with_min_isr_one_commits_on_append() {
        let mut l = leader(&[1], &[1], 1);
        l.step(produce(1, Acks::All));
        assert_eq!(
            l.step(appended(1, 105)),
            vec![LeaderOutput::HighWatermark(Offset(105)), answered(1, 105)]
        );
    }

    #[test]
    fn isr_shrinking_below_min_fails_appended_acks_all_produces() {
        let mut l = leader(&[1, 2], &[1, 2], 2);
        l.step(produce(1, Acks::All));
        l.step(appended(1, 110));
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_001)
            }),
            vec![proposal(&[1])]
        );
        let failed = LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(ProduceError::NotEnoughReplicasAfterAppend { isr: 1, min: 2 }),
        };
        let committed = LeaderInput::IsrCommitted {
            isr: ids(&[1]),
            partition_epoch: PartitionEpoch(11),
        };
        assert_eq!(l.step(committed), vec![failed]);
    }

    #[test]
    fn a_follower_not_caught_up_for_replica_lag_time_max_is_proposed_out() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 1);
        l.step(fetch(2, 100, 1000));
        l.step(fetch(3, 50, 1000));
        // Replica 3 was last caught up at 0 (when the leadership began).
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_000)
            }),
            vec![]
        );
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_001)
            }),
            vec![proposal(&[1, 2])]
        );
    }

    #[test]
    fn only_one_isr_proposal_is_in_flight() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_001)
            }),
            vec![proposal(&[1])]
        );
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(35_000)
            }),
            vec![]
        );
        assert_eq!(l.proposed_isr(), Some(&ids(&[1])[..]));
    }

    #[test]
    fn an_unanswered_isr_proposal_is_sent_again_after_the_proposal_timeout() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 1);
        l.step(LeaderInput::Tick {
            now: Millis(30_001),
        });
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(35_001)
            }),
            vec![proposal(&[1])]
        );
    }

    #[test]
    fn a_rejected_proposal_may_be_made_again() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_001)
            }),
            vec![proposal(&[1])]
        );
        assert_eq!(l.step(LeaderInput::IsrRejected), vec![]);
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_002)
            }),
            vec![proposal(&[1])]
        );
    }

    #[test]
    fn a_follower_rejoins_once_it_reaches_the_high_watermark() {
        let mut l = leader(&[1, 2, 3], &[1, 2], 1);
        assert_eq!(l.step(fetch(3, 90, 10)), vec![records(3, 90, 100)]);
        assert_eq!(
            l.step(fetch(3, 100, 20)),
            vec![proposal(&[1, 2, 3]), records(3, 100, 100)]
        );
    }

    #[test]
    fn a_follower_rejoins_only_once_its_log_start_reaches_this_ones() {
        let mut l = leader(&[1, 2, 3], &[1, 2], 1);
        l.step(delete_in(1, Some(60), 0));
        l.step(LeaderInput::LogStartAdvanced {
            id: DeleteId(1),
            log_start_offset: Offset(60),
        });
        // Caught up, but its log still starts at 0: the answer teaches it 60.
        assert_eq!(l.step(fetch_with_start(3, 0)), vec![records(3, 100, 100)]);
        assert_eq!(
            l.step(fetch_with_start(3, 60)),
            vec![proposal(&[1, 2, 3]), records(3, 100, 100)]
        );
    }

    #[test]
    fn the_high_watermark_counts_a_proposed_member_until_the_controller_answers() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 1);
        l.step(fetch(2, 100, 20_000));
        l.step(fetch(3, 100, 10));
        // Replica 3 stops fetching; its removal is proposed, not yet committed.
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_011)
            }),
            vec![proposal(&[1, 2])]
        );
        l.step(produce(1, Acks::All));
        l.step(appended(1, 120));
        assert_eq!(
            l.step(fetch(2, 120, 30_012)),
            vec![records(2, 120, 100)],
            "3 still counts: 100"
        );
        let committed = LeaderInput::IsrCommitted {
            isr: ids(&[1, 2]),
            partition_epoch: PartitionEpoch(11),
        };
        assert_eq!(
            l.step(committed),
            vec![LeaderOutput::HighWatermark(Offset(120)), answered(1, 120)]
        );
    }

    #[test]
    fn an_append_reported_after_a_later_one_is_answered_at_once() {
        let mut l = leader(&[1], &[1], 1);
        l.step(produce(1, Acks::All));
        l.step(produce(2, Acks::All));
        assert_eq!(
            l.step(appended(2, 120)),
            vec![LeaderOutput::HighWatermark(Offset(120)), answered(2, 120)]
        );
        assert_eq!(l.step(appended(1, 110)), vec![answered(1, 120)]);
    }

    #[test]
    fn a_refused_expansion_keeps_counting_until_a_newer_partition_epoch() {
        let mut l = leader(&[1, 2, 3], &[1, 2], 1);
        l.step(fetch(2, 100, 1));
        assert_eq!(
            l.step(fetch(3, 100, 1)),
            vec![proposal(&[1, 2, 3]), records(3, 100, 100)]
        );
        l.step(LeaderInput::IsrRejected);
        l.step(produce(1, Acks::All));
        l.step(appended(1, 110));
        // A copy of the refused proposal may still be applied: replica 3 (at 100) still counts.
        assert_eq!(l.step(fetch(2, 110, 2)), vec![records(2, 110, 100)]);
        let committed = LeaderInput::IsrCommitted {
            isr: ids(&[1, 2]),
            partition_epoch: PartitionEpoch(11),
        };
        assert_eq!(
            l.step(committed),
            vec![LeaderOutput::HighWatermark(Offset(110)), answered(1, 110)]
        );
    }

    #[test]
    fn a_replica_only_proposed_that_stops_keeping_up_is_dropped_by_proposing_the_isr_again() {
        let mut l = leader(&[1, 2, 3], &[1, 2], 1);
        l.step(fetch(2, 100, 29_000));
        l.step(fetch(3, 100, 1));
        l.step(LeaderInput::IsrRejected);
        // Replica 3 was caught up at its proposal (time 1) and not since.
        assert_eq!(
            l.step(LeaderInput::Tick {
                now: Millis(30_002)
            }),
            vec![proposal(&[1, 2])]
        );
    }

    #[test]
    fn a_lone_leader_starts_with_its_whole_log_committed() {
        let log = LogState {
            high_watermark: Offset(40),
            ..log()
        };
        assert_eq!(
            leader_over(&[1], &[1], 1, log).high_watermark(),
            Offset(100)
        );
    }

    #[test]
    fn a_leader_with_followers_starts_with_the_high_watermark_it_had() {
        let log = LogState {
            high_watermark: Offset(40),
            ..log()
        };
        assert_eq!(
            leader_over(&[1, 2], &[1, 2], 1, log).high_watermark(),
            Offset(40)
        );
    }

    #[test]
    fn a_stale_isr_commit_is_ignored() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 1);
        let stale = LeaderInput::IsrCommitted {
            isr: ids(&[1]),
            partition_epoch: PartitionEpoch(9),
        };
        assert_eq!(l.step(stale), vec![]);
        assert_eq!(l.isr(), &ids(&[1, 2, 3])[..]);
    }

    #[test]
    fn a_produce_still_waiting_at_its_deadline_times_out() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        l.step(LeaderInput::Produce {
            id: ProduceId(1),
            acks: Acks::All,
            timeout: Duration::from_secs(5),
            now: Millis(0),
        });
        l.step(appended(1, 110));
        l.step(fetch(2, 100, 1));
        assert_eq!(l.step(LeaderInput::Tick { now: Millis(4999) }), vec![]);
        let out = l.step(LeaderInput::Tick { now: Millis(5000) });
        let timed_out = LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(ProduceError::RequestTimedOut {
                waited: Duration::from_secs(5),
                required: Offset(110),
                high_watermark: Offset(100),
            }),
        };
        assert_eq!(out, vec![timed_out]);
    }

    #[test]
    fn the_high_watermark_never_goes_back() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        assert_eq!(l.step(fetch(2, 50, 1)), vec![records(2, 50, 100)]);
        assert_eq!(l.high_watermark(), Offset(100));
    }

    #[test]
    fn a_fetch_from_a_broker_that_is_not_a_replica_is_refused() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        let refused = LeaderOutput::FetchAnswer {
            replica: BrokerId(9),
            answer: FollowerFetchAnswer::Refused(FetchError::NotLeaderOrFollower {
                replica: BrokerId(9),
            }),
        };
        assert_eq!(l.step(fetch(9, 100, 1)), vec![refused]);
        assert_eq!(l.isr(), &ids(&[1, 2])[..]);
    }

    fn refused(replica: u32, error: FetchError) -> LeaderOutput {
        LeaderOutput::FetchAnswer {
            replica: BrokerId(replica),
            answer: FollowerFetchAnswer::Refused(error),
        }
    }

    fn diverging(replica: u32, epoch: LeaderEpoch, end_offset: u64) -> LeaderOutput {
        LeaderOutput::FetchAnswer {
            replica: BrokerId(replica),
            answer: FollowerFetchAnswer::Diverging {
                diverging: DivergingEpoch {
                    epoch,
                    end_offset: Offset(end_offset),
                },
                high_watermark: Offset(100),
            },
        }
    }

    #[test]
    fn a_fetch_in_an_older_leader_epoch_is_fenced_and_not_counted() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        let error = FetchError::FencedLeaderEpoch {
            requested: PREVIOUS_EPOCH,
            current: EPOCH,
        };
        let out = l.step(fetch_in(2, 100, Some(PREVIOUS_EPOCH), PREVIOUS_EPOCH, 1));
        assert_eq!(out, vec![refused(2, error)]);
    }

    #[test]
    fn a_fetch_in_a_newer_leader_epoch_is_answered_unknown_leader_epoch() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        let newer = LeaderEpoch(6);
        let error = FetchError::UnknownLeaderEpoch {
            requested: newer,
            current: EPOCH,
        };
        let out = l.step(fetch_in(2, 100, Some(PREVIOUS_EPOCH), newer, 1));
        assert_eq!(out, vec![refused(2, error)]);
    }

    #[test]
    fn a_follower_with_records_past_its_epochs_end_here_is_told_where_they_diverge() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        // The follower holds 100..150 of the previous epoch, which ended here at 100.
        let out = l.step(fetch_in(2, 150, Some(PREVIOUS_EPOCH), EPOCH, 1));
        assert_eq!(out, vec![diverging(2, PREVIOUS_EPOCH, 100)]);
    }

    #[test]
    fn a_follower_with_an_epoch_this_log_never_had_is_sent_to_the_largest_older_epoch() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        // Epoch 3 is older than every epoch this log holds: its data would end where the
        // log's first epoch starts, 0.
        let out = l.step(fetch_in(2, 50, Some(LeaderEpoch(3)), EPOCH, 1));
        assert_eq!(out, vec![diverging(2, LeaderEpoch(3), 0)]);
    }

    #[test]
    fn a_diverging_fetch_does_not_count_as_progress() {
        let mut l = leader(&[1, 2], &[1, 2], 2);
        l.step(produce(1, Acks::All));
        l.step(appended(1, 120));
        l.step(fetch_in(2, 150, Some(PREVIOUS_EPOCH), EPOCH, 1));
        assert_eq!(l.high_watermark(), Offset(100));
        assert_eq!(l.pending_produces(), 1);
    }

    #[test]
    fn an_empty_follower_log_fetches_from_the_start() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        assert_eq!(
            l.step(fetch_in(2, 0, None, EPOCH, 1)),
            vec![records(2, 0, 100)]
        );
    }

    #[test]
    fn resigning_answers_waiting_produces_not_leader_or_follower() {
        let mut l = leader(&[1, 2], &[1, 2], 2);
        l.step(produce(1, Acks::All));
        l.step(appended(1, 120));
        let (out, log) = l.resign();
        let error = ProduceError::NotLeaderOrFollower {
            leader_epoch: EPOCH,
        };
        let answer = LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(error),
        };
        assert_eq!(out, vec![answer]);
        assert_eq!(log.log_end_offset, Offset(120));
        assert_eq!(log.epochs.latest_epoch(), Some(EPOCH));
    }

    #[test]
    fn produce_errors_carry_kafka_codes() {
        let refused = ProduceError::NotEnoughReplicas { isr: 1, min: 2 };
        assert_eq!(refused.kafka_error().code(), 19);
        assert_eq!(
            refused.to_string(),
            "not enough replicas: the ISR has 1 replica(s), min_insync_replicas is 2"
        );
        let after = ProduceError::NotEnoughReplicasAfterAppend { isr: 1, min: 2 };
        assert_eq!(
            after.kafka_error().name(),
            "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
        );
    }

    fn delete_in(id: u64, offset: Option<u64>, now: u64) -> LeaderInput {
        LeaderInput::DeleteRecords {
            id: DeleteId(id),
            offset: offset.map(Offset),
            timeout: Duration::from_secs(30),
            now: Millis(now),
        }
    }

    /// A fetch by `replica` at 100 (caught up) whose log starts at `log_start`.
    fn fetch_with_start(replica: u32, log_start: u64) -> LeaderInput {
        let request = FollowerFetchRequest {
            fetch_offset: Offset(100),
            last_fetched_epoch: Some(PREVIOUS_EPOCH),
            current_leader_epoch: EPOCH,
            log_start_offset: Offset(log_start),
        };
        LeaderInput::FollowerFetch {
            replica: BrokerId(replica),
            request,
            now: Millis(10),
        }
    }

    fn deleted(id: u64, low_watermark: u64) -> LeaderOutput {
        LeaderOutput::DeleteAnswer {
            id: DeleteId(id),
            result: Ok(Offset(low_watermark)),
        }
    }

    #[test]
    fn a_delete_moves_the_log_start_then_waits_for_every_isr_replicas() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        let advance = LeaderOutput::AdvanceLogStart {
            id: DeleteId(1),
            log_start_offset: Offset(60),
        };
        assert_eq!(l.step(delete_in(1, Some(60), 0)), vec![advance]);
        let advanced = LeaderInput::LogStartAdvanced {
            id: DeleteId(1),
            log_start_offset: Offset(60),
        };
        assert_eq!(l.step(advanced), vec![]);
        assert_eq!(l.log_start_offset(), Offset(60));
        assert_eq!(l.step(fetch_with_start(2, 60)), vec![records(2, 100, 100)]);
        // The last ISR member's log start reaches it: the low watermark (the smallest) is 60.
        assert_eq!(
            l.step(fetch_with_start(3, 75)),
            vec![deleted(1, 60), records(3, 100, 100)]
        );
        assert_eq!(l.pending_deletes(), 0);
    }

    #[test]
    fn a_delete_past_the_high_watermark_is_refused_and_moves_nothing() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        let refused = LeaderOutput::DeleteAnswer {
            id: DeleteId(1),
            result: Err(DeleteError::OffsetOutOfRange {
                requested: Offset(101),
                high_watermark: Offset(100),
            }),
        };
        assert_eq!(l.step(delete_in(1, Some(101), 0)), vec![refused]);
        assert_eq!(l.log_start_offset(), Offset::ZERO);
        assert_eq!(l.pending_deletes(), 0);
    }

    #[test]
    fn a_delete_without_an_offset_deletes_up_to_the_high_watermark() {
        let mut l = leader(&[1], &[1], 1);
        let advance = LeaderOutput::AdvanceLogStart {
            id: DeleteId(1),
            log_start_offset: Offset(100),
        };
        assert_eq!(l.step(delete_in(1, None, 0)), vec![advance]);
        let advanced = LeaderInput::LogStartAdvanced {
            id: DeleteId(1),
            log_start_offset: Offset(100),
        };
        assert_eq!(l.step(advanced), vec![deleted(1, 100)]);
    }

    #[test]
    fn a_replica_leaving_the_isr_no_longer_holds_a_delete_back() {
        let mut l = leader(&[1, 2, 3], &[1, 2, 3], 2);
        l.step(delete_in(1, Some(50), 0));
        l.step(LeaderInput::LogStartAdvanced {
            id: DeleteId(1),
            log_start_offset: Offset(50),
        });
        l.step(fetch_with_start(2, 50));
        let shrunk = LeaderInput::IsrCommitted {
            isr: ids(&[1, 2]),
            partition_epoch: PartitionEpoch(11),
        };
        assert_eq!(l.step(shrunk), vec![deleted(1, 50)]);
    }

    #[test]
    fn a_resigning_leader_answers_its_deletes_not_leader() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        l.step(delete_in(1, Some(50), 0));
        let (out, log) = l.resign();
        let ended = LeaderOutput::DeleteAnswer {
            id: DeleteId(1),
            result: Err(DeleteError::LeadershipEnded {
                leader_epoch: EPOCH,
            }),
        };
        assert_eq!(out, vec![ended]);
        assert_eq!(log.log_start_offset, Offset::ZERO, "never advanced");
    }

    #[test]
    fn end_offsets_of_epochs_include_this_leaderships_and_drop_those_below_the_log_start() {
        let entries = vec![
            EpochEntry {
                epoch: LeaderEpoch(2),
                start_offset: Offset(0),
            },
            EpochEntry {
                epoch: PREVIOUS_EPOCH,
                start_offset: Offset(40),
            },
        ];
        let log = LogState {
            epochs: LeaderEpochCache::from_entries(entries).expect("ordered"),
            ..log()
        };
        let l = leader_over(&[1], &[1], 1, log);
        // This leadership's epoch starts at 100, the log end, before any batch of it.
        assert_eq!(
            l.end_offset_for_epoch(EPOCH, Offset::ZERO),
            Some((EPOCH, Offset(100)))
        );
        assert_eq!(
            l.end_offset_for_epoch(PREVIOUS_EPOCH, Offset::ZERO),
            Some((PREVIOUS_EPOCH, Offset(100)))
        );
        assert_eq!(
            l.end_offset_for_epoch(LeaderEpoch(3), Offset::ZERO),
            Some((LeaderEpoch(2), Offset(40)))
        );
        // With the log starting at 50, epoch 2's data is gone: asked for it, the answer is
        // the first epoch still there, starting at the log start (Kafka's answer).
        assert_eq!(
            l.end_offset_for_epoch(LeaderEpoch(3), Offset(50)),
            Some((LeaderEpoch(3), Offset(50)))
        );
        assert_eq!(l.end_offset_for_epoch(LeaderEpoch(6), Offset::ZERO), None);
    }
}
