//! A partition on one broker across role changes. The controller's committed state of the
//! partition ([`Partition`]) decides the role: the broker it names leader runs a [`Leader`], the
//! other replicas run a [`Follower`] of it, and while the partition is offline (or this broker
//! no longer holds it) the replica is idle. Inputs for the other role are answered as Kafka
//! does: a produce or a fetch sent to a broker that does not lead the partition is refused
//! NOT_LEADER_OR_FOLLOWER, or with the leader-epoch error that tells the sender whose view is
//! stale.
//!
//! States of the partition arrive in any order (the simulator reorders them, a broker may
//! replay its metadata log): one whose partition epoch is not newer than the last applied is
//! ignored.

use super::delete::{DeleteError, DeleteId};
use super::fetch::{FetchError, FollowerFetchRequest};
use super::follower::{
    FetchId, FetchResponse, Follower, FollowerConfig, FollowerInput, FollowerOutput,
};
use super::leader::{
    Acks, FollowerFetchAnswer, Leader, LeaderConfig, LeaderInput, LeaderOutput, ProduceError,
    ProduceId,
};
use super::log_state::LogState;
use crate::controller::Partition;
use crate::types::{BrokerId, LeaderEpoch, Millis, Offset};

use std::time::Duration;

/// What happened, for the replica to react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaInput {
    /// The controller committed this state of the partition. `log` is the replica's log as it
    /// is now, read by the broker; it is used only if the role changes.
    PartitionChanged {
        partition: Partition,
        log: LogState,
        now: Millis,
    },
    /// A produce arrived (see [`LeaderInput::Produce`]).
    Produce {
        id: ProduceId,
        acks: Acks,
        timeout: Duration,
        now: Millis,
    },
    /// A produce's batches were appended (see [`LeaderInput::Appended`]).
    Appended {
        id: ProduceId,
        log_end_offset: Offset,
    },
    /// A follower's fetch arrived.
    FollowerFetch {
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
    },
    /// The answer to this broker's fetch arrived.
    FetchResponse {
        fetch_id: FetchId,
        response: FetchResponse,
        now: Millis,
    },
    /// The controller refused this broker's ISR proposal.
    IsrRejected,
    /// Time passed.
    Tick { now: Millis },
    /// A follower's truncation is done (see [`FollowerInput::Truncated`]).
    Truncated { log: LogState },
    /// A DeleteRecords arrived (see [`LeaderInput::DeleteRecords`]).
    DeleteRecords {
        id: DeleteId,
        offset: Option<Offset>,
        timeout: Duration,
        now: Millis,
    },
    /// The log's start moved for a DeleteRecords (see [`LeaderInput::LogStartAdvanced`]).
    LogStartAdvanced {
        id: DeleteId,
        log_start_offset: Offset,
    },
}

/// What the broker must do, in order: a leader's intents or a follower's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaOutput {
    Leader(LeaderOutput),
    Follower(FollowerOutput),
}

#[derive(Clone, Debug)]
enum Role {
    Leader(Leader),
    Follower(Follower),
    /// Offline, or not a replica any more: the log as it was left.
    Idle(LogState),
}

/// One partition on one broker. See the module docs.
#[derive(Clone, Debug)]
pub struct Replica {
    me: BrokerId,
    leader_config: LeaderConfig,
    follower_config: FollowerConfig,
    /// The last partition state applied.
    partition: Option<Partition>,
    role: Role,
    /// The next follower's first fetch id: ids never repeat across leaderships, so a late
    /// answer from an earlier leader cannot pass for the current one's.
    next_fetch_id: FetchId,
}

impl Replica {
    /// A replica that has not yet heard from the controller, over `log`.
    pub fn new(
        me: BrokerId,
        leader_config: LeaderConfig,
        follower_config: FollowerConfig,
        log: LogState,
    ) -> Replica {
        Replica {
            me,
            leader_config,
            follower_config,
            partition: None,
            role: Role::Idle(log),
            next_fetch_id: FetchId(0),
        }
    }

    /// The leader, when this replica leads.
    pub fn as_leader(&self) -> Option<&Leader> {
        match &self.role {
            Role::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    /// The follower, when this replica follows.
    pub fn as_follower(&self) -> Option<&Follower> {
        match &self.role {
            Role::Follower(follower) => Some(follower),
            _ => None,
        }
    }

    /// The last partition state applied.
    pub fn partition(&self) -> Option<&Partition> {
        self.partition.as_ref()
    }

    /// The high watermark this replica knows.
    pub fn high_watermark(&self) -> Offset {
        match &self.role {
            Role::Leader(leader) => leader.high_watermark(),
            Role::Follower(follower) => follower.high_watermark(),
            Role::Idle(log) => log.high_watermark,
        }
    }

    /// The leader epoch of the last partition state applied.
    pub fn leader_epoch(&self) -> Option<LeaderEpoch> {
        self.partition.as_ref().map(Partition::leader_epoch)
    }

    /// Takes one input; returns what the broker must do, in order.
    pub fn step(&mut self, input: ReplicaInput) -> Vec<ReplicaOutput> {
        let out = self.dispatch(input);
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        out
    }

    /// Panics unless the role is the one the last partition state gives this broker (leader
    /// if it names this broker leader, a follower of the named leader in its epoch if this
    /// broker is another replica, idle otherwise) and the role's own invariants hold.
    pub fn check_invariants(&self) {
        let Some(partition) = &self.partition else {
            assert!(
                matches!(self.role, Role::Idle(_)),
                "broker {} took a role before any partition state",
                self.me
            );
            return;
        };
        let epoch = partition.leader_epoch();
        match (&self.role, partition.leader()) {
            (Role::Leader(leader), Some(named)) => {
                assert_eq!(
                    named, self.me,
                    "broker {} leads a partition led by {named}",
                    self.me
                );
                assert_eq!(leader.leader_epoch(), epoch, "leader in a stale epoch");
                leader.check_invariants();
            }
            (Role::Follower(follower), Some(named)) => {
                assert_eq!(
                    follower.leader(),
                    named,
                    "broker {} follows the wrong leader",
                    self.me
                );
                assert_eq!(follower.leader_epoch(), epoch, "follower in a stale epoch");
                follower.check_invariants();
            }
            (Role::Idle(log), leader) => {
                let replica = partition.replicas().contains(&self.me);
                assert!(
                    leader.is_none() || !replica,
                    "broker {} is idle in a partition led by {leader:?}",
                    self.me
                );
                log.check_invariants();
            }
            (_, None) => panic!("broker {} holds a role in an offline partition", self.me),
        }
    }

    fn dispatch(&mut self, input: ReplicaInput) -> Vec<ReplicaOutput> {
        match input {
            ReplicaInput::PartitionChanged {
                partition,
                log,
                now,
            } => self.on_partition_changed(partition, log, now),
            ReplicaInput::Produce {
                id,
                acks,
                timeout,
                now,
            } => match &mut self.role {
                Role::Leader(leader) => {
                    let input = LeaderInput::Produce {
                        id,
                        acks,
                        timeout,
                        now,
                    };
                    leader_outputs(leader.step(input))
                }
                _ => vec![self.refuse_produce(id)],
            },
            ReplicaInput::Appended { id, log_end_offset } => match &mut self.role {
                Role::Leader(leader) => {
                    leader_outputs(leader.step(LeaderInput::Appended { id, log_end_offset }))
                }
                // A produce of an earlier leadership: it was answered when that ended.
                _ => Vec::new(),
            },
            ReplicaInput::FollowerFetch {
                replica,
                request,
                now,
            } => match &mut self.role {
                Role::Leader(leader) => {
                    let input = LeaderInput::FollowerFetch {
                        replica,
                        request,
                        now,
                    };
                    leader_outputs(leader.step(input))
                }
                _ => vec![self.refuse_fetch(replica, &request)],
            },
            ReplicaInput::FetchResponse {
                fetch_id,
                response,
                now,
            } => match &mut self.role {
                Role::Follower(follower) => {
                    let input = FollowerInput::FetchResponse {
                        fetch_id,
                        response,
                        now,
                    };
                    follower_outputs(follower.step(input))
                }
                _ => Vec::new(),
            },
            ReplicaInput::IsrRejected => match &mut self.role {
                Role::Leader(leader) => leader_outputs(leader.step(LeaderInput::IsrRejected)),
                _ => Vec::new(),
            },
            ReplicaInput::Truncated { log } => match &mut self.role {
                Role::Follower(follower) => {
                    follower_outputs(follower.step(FollowerInput::Truncated { log }))
                }
                _ => Vec::new(),
            },
            ReplicaInput::DeleteRecords {
                id,
                offset,
                timeout,
                now,
            } => match &mut self.role {
                Role::Leader(leader) => {
                    let input = LeaderInput::DeleteRecords {
                        id,
                        offset,
                        timeout,
                        now,
                    };
                    leader_outputs(leader.step(input))
                }
                _ => vec![ReplicaOutput::Leader(LeaderOutput::DeleteAnswer {
                    id,
                    result: Err(DeleteError::NotLeaderOrFollower),
                })],
            },
            ReplicaInput::LogStartAdvanced {
                id,
                log_start_offset,
            } => match &mut self.role {
                Role::Leader(leader) => {
                    let input = LeaderInput::LogStartAdvanced {
                        id,
                        log_start_offset,
                    };
                    leader_outputs(leader.step(input))
                }
                // A delete of an earlier leadership: it was answered when that ended.
                _ => Vec::new(),
            },
            ReplicaInput::Tick { now } => match &mut self.role {
                Role::Leader(leader) => leader_outputs(leader.step(LeaderInput::Tick { now })),
                Role::Follower(follower) => {
                    follower_outputs(follower.step(FollowerInput::Tick { now }))
                }
                Role::Idle(_) => Vec::new(),
            },
        }
    }

    fn on_partition_changed(
        &mut self,
        partition: Partition,
        log: LogState,
        now: Millis,
    ) -> Vec<ReplicaOutput> {
        let stale = self
            .partition
            .as_ref()
            .is_some_and(|known| partition.partition_epoch() <= known.partition_epoch());
        if stale {
            return Vec::new();
        }
        let mut out = Vec::new();
        let same_leadership = self.partition.as_ref().is_some_and(|known| {
            known.leader() == partition.leader() && known.leader_epoch() == partition.leader_epoch()
        });
        match (&mut self.role, same_leadership) {
            (Role::Leader(leader), true) => {
                let input = LeaderInput::IsrCommitted {
                    isr: partition.isr().to_vec(),
                    partition_epoch: partition.partition_epoch(),
                };
                out.extend(leader_outputs(leader.step(input)));
            }
            (Role::Follower(_), true) => {}
            _ => self.change_role(&partition, log, now, &mut out),
        }
        self.partition = Some(partition);
        out
    }

    /// Leaves the current role (answering a leader's waiting produces) and takes the one
    /// `partition` gives this broker.
    fn change_role(
        &mut self,
        partition: &Partition,
        log: LogState,
        now: Millis,
        out: &mut Vec<ReplicaOutput>,
    ) {
        let old = std::mem::replace(&mut self.role, Role::Idle(LogState::default()));
        match old {
            Role::Leader(leader) => {
                let (answers, _) = leader.resign();
                out.extend(leader_outputs(answers));
            }
            Role::Follower(follower) => self.next_fetch_id = follower.next_fetch_id(),
            Role::Idle(_) => {}
        }
        let is_replica = partition.replicas().contains(&self.me);
        self.role = match partition.leader() {
            Some(leader) if leader == self.me => {
                let config = self.leader_config.clone();
                let known = log.high_watermark;
                let leader = Leader::new(self.me, config, partition, log, now);
                // A lone ISR commits the whole log as the leadership begins.
                if leader.high_watermark() > known {
                    let moved = LeaderOutput::HighWatermark(leader.high_watermark());
                    out.push(ReplicaOutput::Leader(moved));
                }
                Role::Leader(leader)
            }
            Some(leader) if is_replica => {
                let config = self.follower_config.clone();
                let epoch = partition.leader_epoch();
                let mut follower = Follower::new(self.me, config, leader, epoch, log)
                    .starting_fetch_ids_at(self.next_fetch_id);
                out.extend(follower_outputs(follower.step(FollowerInput::Tick { now })));
                Role::Follower(follower)
            }
            _ => Role::Idle(log),
        };
    }

    fn refuse_produce(&self, id: ProduceId) -> ReplicaOutput {
        let leader_epoch = self.leader_epoch().unwrap_or_default();
        ReplicaOutput::Leader(LeaderOutput::Answer {
            id,
            result: Err(ProduceError::NotLeaderOrFollower { leader_epoch }),
        })
    }

    /// A fetch for a leadership this broker does not hold: the epoch error if the sender's
    /// view and this broker's differ (so the stale side learns it), else NOT_LEADER_OR_FOLLOWER.
    fn refuse_fetch(&self, replica: BrokerId, request: &FollowerFetchRequest) -> ReplicaOutput {
        let requested = request.current_leader_epoch;
        let error = match self.leader_epoch() {
            Some(current) if requested < current => {
                FetchError::FencedLeaderEpoch { requested, current }
            }
            Some(current) if requested > current => {
                FetchError::UnknownLeaderEpoch { requested, current }
            }
            _ => FetchError::NotLeaderOrFollower { replica },
        };
        ReplicaOutput::Leader(LeaderOutput::FetchAnswer {
            replica,
            answer: FollowerFetchAnswer::Refused(error),
        })
    }
}

fn leader_outputs(outputs: Vec<LeaderOutput>) -> Vec<ReplicaOutput> {
    outputs.into_iter().map(ReplicaOutput::Leader).collect()
}

fn follower_outputs(outputs: Vec<FollowerOutput>) -> Vec<ReplicaOutput> {
    outputs.into_iter().map(ReplicaOutput::Follower).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PartitionEpoch;

    const ME: BrokerId = BrokerId(1);

    fn ids(ids: &[u32]) -> Vec<BrokerId> {
        ids.iter().map(|&i| BrokerId(i)).collect()
    }

    fn state(
        leader: Option<u32>,
        isr: &[u32],
        leader_epoch: u32,
        partition_epoch: u32,
    ) -> Partition {
        Partition::new(
            ids(&[1, 2, 3]),
            leader.map(BrokerId),
            ids(isr),
            LeaderEpoch(leader_epoch),
            PartitionEpoch(partition_epoch),
        )
    }

    fn changed(partition: Partition) -> ReplicaInput {
        ReplicaInput::PartitionChanged {
            partition,
            log: LogState::default(),
            now: Millis(0),
        }
    }

    fn replica() -> Replica {
        let config = LeaderConfig {
            min_insync_replicas: 2,
            ..LeaderConfig::default()
        };
        Replica::new(ME, config, FollowerConfig::default(), LogState::default())
    }

    fn produce(id: u64) -> ReplicaInput {
        ReplicaInput::Produce {
            id: ProduceId(id),
            acks: Acks::All,
            timeout: Duration::from_secs(30),
            now: Millis(0),
        }
    }

    fn fetch_in(epoch: u32) -> ReplicaInput {
        ReplicaInput::FollowerFetch {
            replica: BrokerId(2),
            request: FollowerFetchRequest {
                fetch_offset: Offset(0),
                last_fetched_epoch: None,
                current_leader_epoch: LeaderEpoch(epoch),
                log_start_offset: Offset::ZERO,
            },
            now: Millis(0),
        }
    }

    fn refused(error: FetchError) -> Vec<ReplicaOutput> {
        vec![ReplicaOutput::Leader(LeaderOutput::FetchAnswer {
            replica: BrokerId(2),
            answer: FollowerFetchAnswer::Refused(error),
        })]
    }

    #[test]
    fn a_state_naming_this_broker_leader_makes_it_the_leader() {
        let mut r = replica();
        assert_eq!(r.step(changed(state(Some(1), &[1, 2, 3], 0, 0))), vec![]);
        assert_eq!(
            r.as_leader().map(Leader::leader_epoch),
            Some(LeaderEpoch(0))
        );
    }

    #[test]
    fn a_state_naming_another_leader_makes_it_a_follower_that_fetches_at_once() {
        let mut r = replica();
        let out = r.step(changed(state(Some(2), &[1, 2, 3], 4, 7)));
        let fetch = FollowerOutput::SendFetch {
            fetch_id: FetchId(0),
            leader: BrokerId(2),
            request: FollowerFetchRequest {
                fetch_offset: Offset(0),
                last_fetched_epoch: None,
                current_leader_epoch: LeaderEpoch(4),
                log_start_offset: Offset::ZERO,
            },
        };
        assert_eq!(out, vec![ReplicaOutput::Follower(fetch)]);
        assert_eq!(r.as_follower().map(Follower::leader), Some(BrokerId(2)));
    }

    #[test]
    fn a_new_leaderships_fetch_ids_continue_the_last_ones() {
        let mut r = replica();
        r.step(changed(state(Some(2), &[1, 2, 3], 4, 7)));
        let out = r.step(changed(state(Some(3), &[1, 3], 5, 8)));
        let first_id = out.iter().find_map(|o| match o {
            ReplicaOutput::Follower(FollowerOutput::SendFetch { fetch_id, .. }) => Some(*fetch_id),
            _ => None,
        });
        assert_eq!(first_id, Some(FetchId(1)));
    }

    #[test]
    fn a_state_with_an_older_partition_epoch_is_ignored() {
        let mut r = replica();
        r.step(changed(state(Some(1), &[1, 2, 3], 5, 9)));
        assert_eq!(r.step(changed(state(Some(2), &[2, 3], 4, 8))), vec![]);
        assert!(r.as_leader().is_some());
    }

    #[test]
    fn a_new_isr_in_the_same_leadership_is_committed_to_the_leader() {
        let mut r = replica();
        r.step(changed(state(Some(1), &[1, 2, 3], 5, 9)));
        r.step(changed(state(Some(1), &[1, 2], 5, 10)));
        assert_eq!(r.as_leader().map(Leader::isr), Some(&ids(&[1, 2])[..]));
    }

    #[test]
    fn losing_the_leadership_answers_waiting_produces_not_leader_or_follower() {
        let mut r = replica();
        r.step(changed(state(Some(1), &[1, 2, 3], 5, 9)));
        r.step(produce(1));
        let out = r.step(changed(state(Some(2), &[2, 3], 6, 10)));
        let answer = ReplicaOutput::Leader(LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(ProduceError::NotLeaderOrFollower {
                leader_epoch: LeaderEpoch(5),
            }),
        });
        assert_eq!(out.first(), Some(&answer));
        assert!(r.as_follower().is_some());
    }

    #[test]
    fn a_produce_to_a_follower_is_refused_not_leader_or_follower() {
        let mut r = replica();
        r.step(changed(state(Some(2), &[1, 2, 3], 4, 7)));
        let answer = ReplicaOutput::Leader(LeaderOutput::Answer {
            id: ProduceId(1),
            result: Err(ProduceError::NotLeaderOrFollower {
                leader_epoch: LeaderEpoch(4),
            }),
        });
        assert_eq!(r.step(produce(1)), vec![answer]);
    }

    #[test]
    fn a_fetch_to_a_non_leader_tells_the_stale_side_by_its_epoch() {
        let mut r = replica();
        r.step(changed(state(Some(3), &[1, 2, 3], 4, 7)));
        let fenced = FetchError::FencedLeaderEpoch {
            requested: LeaderEpoch(3),
            current: LeaderEpoch(4),
        };
        assert_eq!(r.step(fetch_in(3)), refused(fenced));
        let unknown = FetchError::UnknownLeaderEpoch {
            requested: LeaderEpoch(5),
            current: LeaderEpoch(4),
        };
        assert_eq!(r.step(fetch_in(5)), refused(unknown));
        let not_leader = FetchError::NotLeaderOrFollower {
            replica: BrokerId(2),
        };
        assert_eq!(r.step(fetch_in(4)), refused(not_leader));
    }

    #[test]
    fn an_offline_partition_leaves_the_replica_idle() {
        let mut r = replica();
        r.step(changed(state(Some(1), &[1, 2, 3], 5, 9)));
        r.step(changed(state(None, &[1], 6, 10)));
        assert!(r.as_leader().is_none() && r.as_follower().is_none());
        assert_eq!(r.step(ReplicaInput::Tick { now: Millis(99) }), vec![]);
    }
}
