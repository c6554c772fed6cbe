//! The leader of one partition (Kafka's ISR protocol, as DESIGN.md "Replication" describes it).
//!
//! - **Followers** fetch with their log end offset (LEO) as the fetch offset. A follower is
//!   caught up at a fetch whose offset reaches the leader's LEO; it leaves the ISR when it has
//!   not been caught up for `replica_lag_time_max` (Kafka's `replica.lag.time.max.ms`), and
//!   rejoins once its LEO reaches the high watermark and the start of the current leader epoch.
//! - **ISR changes** are only proposed ([`LeaderOutput::ProposeIsr`], one at a time); the
//!   controller commits them ([`LeaderInput::IsrCommitted`]). Until then the high watermark is
//!   computed over the larger of the committed and proposed ISR, so neither a shrink nor an
//!   expansion can move it past a replica the controller still counts.
//! - **High watermark** = the smallest LEO over that ISR. It never goes back, and it moves only
//!   while the committed ISR has at least `min_insync_replicas` members.
//! - **acks**: 0 is answered before the append; 1 when the leader's append completed; all when
//!   the high watermark passes the batch. An acks=all produce while the ISR is below
//!   `min_insync_replicas` is refused with NOT_ENOUGH_REPLICAS and nothing is appended; one
//!   already appended when the ISR falls below it is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND.
//!   Produces still waiting at their deadline get REQUEST_TIMED_OUT.
//!
//! [`Leader::step`] takes one input and returns the outputs in the order the broker must carry
//! them out. It never performs IO and reads no clock: time comes in with the inputs.

use std::collections::BTreeMap;
use std::time::Duration;

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
    #[error("not enough replicas: isr has {isr} members, min_insync_replicas is {min}")]
    NotEnoughReplicas { isr: usize, min: usize },
    #[error(
        "not enough replicas after append: isr has {isr} members, min_insync_replicas is {min}"
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
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            replica_lag_time_max: Duration::from_secs(30),
            min_insync_replicas: 1,
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
    /// The produce's batches are in the leader's log, which now ends at `log_end_offset`.
    Appended {
        id: ProduceId,
        log_end_offset: Offset,
    },
    /// A follower fetched from `fetch_offset`, which is its log end offset.
    FollowerFetch {
        replica: BrokerId,
        fetch_offset: Offset,
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
}

/// What the leader knows of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FollowerProgress {
    /// Its log end offset, from its last fetch (unknown until it fetches: the leader epoch's
    /// start offset stands in, which the follower may lack).
    log_end_offset: Option<Offset>,
    /// The last time it was caught up with the leader.
    caught_up_at: Millis,
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
    partition_epoch: PartitionEpoch,
    /// The committed ISR, the leader included.
    isr: Vec<BrokerId>,
    /// The ISR proposed and not yet committed or rejected.
    proposed: Option<Vec<BrokerId>>,
    followers: BTreeMap<BrokerId, FollowerProgress>,
    log_end_offset: Offset,
    high_watermark: Offset,
    pending: BTreeMap<ProduceId, Pending>,
}

impl Leader {
    /// Becomes leader of a partition in `leader_epoch`, with the controller's `replicas`, `isr`
    /// and `partition_epoch`, over a log that ends at `log_end_offset` with the high watermark
    /// it had. Followers in the ISR count as caught up at `now`.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is part of the controller's leadership record"
    )]
    pub fn new(
        me: BrokerId,
        config: LeaderConfig,
        leader_epoch: LeaderEpoch,
        partition_epoch: PartitionEpoch,
        replicas: &[BrokerId],
        isr: Vec<BrokerId>,
        log_end_offset: Offset,
        high_watermark: Offset,
        now: Millis,
    ) -> Leader {
        let followers = replicas
            .iter()
            .filter(|&&r| r != me)
            .map(|&r| {
                let progress = FollowerProgress {
                    log_end_offset: None,
                    caught_up_at: now,
                };
                (r, progress)
            })
            .collect();
        let leader = Leader {
            me,
            config,
            leader_epoch,
            epoch_start_offset: log_end_offset,
            partition_epoch,
            isr,
            proposed: None,
            followers,
            log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            pending: BTreeMap::new(),
        };
        leader.check_invariants();
        leader
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
                fetch_offset,
                now,
            } => self.on_fetch(replica, fetch_offset, now, &mut out),
            LeaderInput::Tick { now } => self.on_tick(now, &mut out),
            LeaderInput::IsrCommitted {
                isr,
                partition_epoch,
            } => self.on_isr_committed(isr, partition_epoch, &mut out),
            LeaderInput::IsrRejected => self.proposed = None,
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
    }

    fn on_fetch(
        &mut self,
        replica: BrokerId,
        fetch_offset: Offset,
        now: Millis,
        out: &mut Vec<LeaderOutput>,
    ) {
        let leader_leo = self.log_end_offset;
        let Some(progress) = self.followers.get_mut(&replica) else {
            return;
        };
        let offset = fetch_offset.min(leader_leo);
        progress.log_end_offset = Some(offset);
        if offset >= leader_leo {
            progress.caught_up_at = now;
        }
        let rejoins = !self.isr.contains(&replica)
            && offset >= self.high_watermark
            && offset >= self.epoch_start_offset;
        if rejoins && self.proposed.is_none() {
            let mut isr = self.isr.clone();
            isr.push(replica);
            self.propose(isr, out);
        }
        self.advance_high_watermark(out);
    }

    fn on_tick(&mut self, now: Millis, out: &mut Vec<LeaderOutput>) {
        self.expire_produces(now, out);
        if self.proposed.is_some() {
            return;
        }
        let lag_max = self.config.replica_lag_time_max;
        let lagging: Vec<BrokerId> = self
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.me)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|p| now.saturating_since(p.caught_up_at) > lag_max)
            })
            .collect();
        if !lagging.is_empty() {
            let isr = self
                .isr
                .iter()
                .copied()
                .filter(|r| !lagging.contains(r))
                .collect();
            self.propose(isr, out);
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
        self.partition_epoch = partition_epoch;
        self.isr = isr;
        self.proposed = None;
        let min = self.config.min_insync_replicas;
        if self.isr.len() < min {
            self.fail_waiting_for_replicas(out);
        }
        self.advance_high_watermark(out);
    }

    fn propose(&mut self, mut isr: Vec<BrokerId>, out: &mut Vec<LeaderOutput>) {
        isr.sort();
        self.proposed = Some(isr.clone());
        out.push(LeaderOutput::ProposeIsr {
            isr,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
        });
    }

    /// The ISR the high watermark is computed over: the committed one and the proposed one
    /// together, so a replica leaves the calculation only once the controller agreed.
    fn maximal_isr(&self) -> Vec<BrokerId> {
        let mut isr = self.isr.clone();
        for r in self.proposed.iter().flatten() {
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

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: LeaderEpoch = LeaderEpoch(5);
    const PARTITION_EPOCH: PartitionEpoch = PartitionEpoch(10);

    fn ids(ids: &[u32]) -> Vec<BrokerId> {
        ids.iter().map(|&i| BrokerId(i)).collect()
    }

    /// Broker 1 leads replicas `replicas` with ISR `isr`, over a log ending at 100 with the
    /// high watermark at 100, at time 0.
    fn leader(replicas: &[u32], isr: &[u32], min_insync_replicas: usize) -> Leader {
        let config = LeaderConfig {
            min_insync_replicas,
            ..LeaderConfig::default()
        };
        Leader::new(
            BrokerId(1),
            config,
            EPOCH,
            PARTITION_EPOCH,
            &ids(replicas),
            ids(isr),
            Offset(100),
            Offset(100),
            Millis(0),
        )
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

    fn fetch(replica: u32, offset: u64, now: u64) -> LeaderInput {
        LeaderInput::FollowerFetch {
            replica: BrokerId(replica),
            fetch_offset: Offset(offset),
            now: Millis(now),
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
        assert_eq!(l.step(fetch(2, 110, 10)), vec![]);
        assert_eq!(
            l.step(fetch(3, 110, 10)),
            vec![LeaderOutput::HighWatermark(Offset(110)), answered(1, 110)]
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
                now: Millis(60_000)
            }),
            vec![]
        );
        assert_eq!(l.proposed_isr(), Some(&ids(&[1])[..]));
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
        assert_eq!(l.step(fetch(3, 90, 10)), vec![]);
        assert_eq!(l.step(fetch(3, 100, 20)), vec![proposal(&[1, 2, 3])]);
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
        assert_eq!(l.step(fetch(2, 120, 30_012)), vec![], "3 still counts: 100");
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
        assert_eq!(l.step(fetch(2, 50, 1)), vec![]);
        assert_eq!(l.high_watermark(), Offset(100));
    }

    #[test]
    fn a_fetch_from_a_broker_that_is_not_a_replica_is_ignored() {
        let mut l = leader(&[1, 2], &[1, 2], 1);
        assert_eq!(l.step(fetch(9, 100, 1)), vec![]);
        assert_eq!(l.isr(), &ids(&[1, 2])[..]);
    }

    #[test]
    fn produce_errors_carry_kafka_codes() {
        let refused = ProduceError::NotEnoughReplicas { isr: 1, min: 2 };
        assert_eq!(refused.kafka_error().code(), 19);
        assert_eq!(
            refused.to_string(),
            "not enough replicas: isr has 1 members, min_insync_replicas is 2"
        );
        let after = ProduceError::NotEnoughReplicasAfterAppend { isr: 1, min: 2 };
        assert_eq!(
            after.kafka_error().name(),
            "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
        );
    }
}
