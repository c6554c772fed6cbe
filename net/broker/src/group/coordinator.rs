//! [`Coordinator`]: the groups and committed offsets of one partition of `__consumer_offsets`,
//! its load from the partition's log, and the appends it asks for and hears back about.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringlog_replication::KafkaError;

use super::api::{Effect, JoinOutcome, PersistToken, SyncOutcome};
use super::member::Member;
use super::record::{self, GroupRecord, KeyValue, MemberRecord};
use super::state::Group;
use super::{GroupConfig, GroupState, Now};
use crate::offsets::{self, Commit, Committed};
use crate::ops::GroupCommits;

/// A committed offset and when it was committed (ms since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StoredOffset {
    pub committed: Committed,
    pub commit_ms: i64,
}

/// What an append in flight is for.
#[derive(Debug)]
pub(super) enum Pending {
    /// The leader's assignment for `generation`: the waiting SyncGroups are answered when it is
    /// stored.
    Assignment {
        group: String,
        generation: i32,
        assignment: BTreeMap<String, Bytes>,
    },
    /// A static member's new id, given while the group is Stable without a rebalance: its
    /// JoinGroup is answered when it is stored, or the old id restored if it is not.
    StaticRejoin {
        group: String,
        generation: i32,
        new_id: String,
        old_id: String,
        old_protocols: Vec<(String, Bytes)>,
        old_timeouts: (Duration, Duration),
    },
    /// Nothing waits on it (an Empty group's record, tombstones): a failure is logged.
    Unawaited,
}

/// The groups and committed offsets of ONE partition of `__consumer_offsets`, as a pure state
/// machine. `R` is the token the shard answers a parked request through.
#[derive(Debug)]
pub(crate) struct Coordinator<R> {
    pub(super) config: GroupConfig,
    pub(super) groups: BTreeMap<String, Group<R>>,
    /// By group, then (topic, partition).
    pub(super) offsets: BTreeMap<String, BTreeMap<(String, u32), StoredOffset>>,
    pub(super) in_flight: BTreeMap<PersistToken, Pending>,
    next_token: u64,
    /// Member ids are `{client id}-{uuid}`, the uuid made of this per-coordinator random
    /// prefix and a counter: unique without a random source inside the state machine.
    member_id_prefix: u64,
    member_id_counter: u64,
    /// When retention is next checked; set by the first call that carries the time.
    pub(super) next_retention_check: Option<Instant>,
}

impl<R> Coordinator<R> {
    /// An empty coordinator (a partition with no records).
    pub(crate) fn new(config: GroupConfig) -> Self {
        let prefix = std::collections::hash_map::RandomState::new().hash_one(0u8);
        Coordinator::with_member_id_prefix(config, prefix)
    }

    /// An empty coordinator whose member ids start from `prefix`: the same ids every run, for
    /// tests and the simulator.
    pub(crate) fn with_member_id_prefix(config: GroupConfig, prefix: u64) -> Self {
        Coordinator {
            config,
            groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_token: 0,
            member_id_prefix: prefix,
            member_id_counter: 0,
            next_retention_check: None,
        }
    }

    /// The coordinator of a partition of `__consumer_offsets` that `loader` replayed to its
    /// end: the latest record per key wins, a tombstone deletes. Groups with members come back
    /// Stable, each member's session starting at `now`: members that died while the
    /// coordinator moved expire, live ones go on heartbeating with their generation.
    pub(crate) fn load(config: GroupConfig, loader: record::Loader, now: Now) -> Self {
        let mut coordinator = Coordinator::new(config);
        coordinator.restore(loader.finish(), now);
        coordinator
    }

    pub(super) fn restore(&mut self, replayed: record::Replayed, now: Now) {
        for ((group, topic, partition), (committed, commit_ms)) in replayed.offsets {
            self.offsets.entry(group).or_default().insert(
                (topic, partition),
                StoredOffset {
                    committed,
                    commit_ms,
                },
            );
        }
        for (id, stored) in replayed.groups {
            let group = restore_group(id.clone(), stored, now.instant);
            self.groups.insert(id, group);
        }
        self.touch(now);
        self.check_invariants();
    }

    /// A batch holding `commits`, to append to the partition (OffsetCommit, once
    /// [`Coordinator::check_commit`] accepted it); stamped `now_ms`, the commit time.
    pub(crate) fn commit_records(&self, commits: &[Commit], now_ms: i64) -> Bytes {
        offsets::encode_batch(commits, now_ms)
    }

    /// Takes in `commits` once their append is committed; `commit_ms` is the time their batch
    /// was stamped with.
    pub(crate) fn apply_commits(&mut self, commits: Vec<Commit>, commit_ms: i64) {
        for commit in commits {
            let stored = StoredOffset {
                committed: commit.committed,
                commit_ms,
            };
            self.offsets
                .entry(commit.group)
                .or_default()
                .insert((commit.topic, commit.partition), stored);
        }
    }

    /// What OffsetFetch answers: every partition `group` committed (`topics` `None`), or the
    /// named ones with `None` where nothing is committed.
    pub(crate) fn offsets(
        &self,
        group: &str,
        topics: Option<Vec<(String, Vec<u32>)>>,
    ) -> GroupCommits {
        let stored = self.offsets.get(group);
        match topics {
            None => {
                let mut found = GroupCommits::new();
                for ((topic, partition), offset) in stored.into_iter().flatten() {
                    found
                        .entry(topic.clone())
                        .or_default()
                        .push((*partition, Some(offset.committed.clone())));
                }
                found
            }
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let key = (topic.clone(), p);
                            (
                                p,
                                stored
                                    .and_then(|s| s.get(&key))
                                    .map(|o| o.committed.clone()),
                            )
                        })
                        .collect();
                    (topic, partitions)
                })
                .collect(),
        }
    }

    /// What `group` committed, partition by partition (the CLI's `group describe` sets these
    /// against the partitions' ends for lag).
    #[cfg(test)]
    pub(crate) fn committed(&self, group: &str) -> Vec<(String, u32, Committed)> {
        self.offsets
            .get(group)
            .into_iter()
            .flatten()
            .map(|((topic, partition), o)| (topic.clone(), *partition, o.committed.clone()))
            .collect()
    }

    /// Every group this partition knows: with members or history, or only offsets.
    pub(crate) fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.extend(
            self.offsets
                .keys()
                .filter(|g| !self.groups.contains_key(*g))
                .cloned(),
        );
        ids.sort();
        ids
    }

    /// The partition's leadership is gone: every parked request is answered NOT_COORDINATOR,
    /// and the coordinator is to be dropped (the next leader loads the partition).
    pub(crate) fn unload(&mut self) -> Vec<Effect<R>> {
        let mut effects = Vec::new();
        for group in self.groups.values_mut() {
            for member in group.members.values_mut() {
                if let Some(reply) = member.awaiting_join.take() {
                    let outcome = JoinOutcome::error(&member.id, KafkaError::NotCoordinator);
                    effects.push(Effect::Join(reply, outcome));
                }
                if let Some(reply) = member.awaiting_sync.take() {
                    effects.push(Effect::Sync(
                        reply,
                        SyncOutcome::error(KafkaError::NotCoordinator),
                    ));
                }
            }
        }
        self.groups.clear();
        self.offsets.clear();
        self.in_flight.clear();
        effects
    }

    /// The answer to an append asked for with [`Effect::Persist`].
    pub(crate) fn persisted(
        &mut self,
        token: PersistToken,
        result: Result<(), KafkaError>,
        now: Now,
    ) -> Vec<Effect<R>> {
        self.touch(now);
        let mut effects = Vec::new();
        let result = result.map_err(coordinator_error);
        match self.in_flight.remove(&token) {
            Some(Pending::Assignment {
                group,
                generation,
                assignment,
            }) => {
                self.assignment_persisted(&group, generation, assignment, result, now, &mut effects)
            }
            Some(Pending::StaticRejoin {
                group,
                generation,
                new_id,
                old_id,
                old_protocols,
                old_timeouts,
            }) => {
                let rejoin = StaticRejoin {
                    generation,
                    new_id,
                    old_id,
                    old_protocols,
                    old_timeouts,
                };
                self.static_rejoin_persisted(&group, rejoin, result, &mut effects);
            }
            Some(Pending::Unawaited) => {
                if let Err(error) = result {
                    tracing::warn!(
                        error = error.name(),
                        "__consumer_offsets: a group record was not stored"
                    );
                }
            }
            None => panic!("persisted({token:?}): no such append in flight"),
        }
        self.check_invariants();
        effects
    }

    fn assignment_persisted(
        &mut self,
        group_id: &str,
        generation: i32,
        assignment: BTreeMap<String, Bytes>,
        result: Result<(), KafkaError>,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        // The group may have moved on while the append ran: then this generation is over.
        if group.state != GroupState::CompletingRebalance || group.generation != generation {
            return;
        }
        group.persisting = None;
        match result {
            Ok(()) => {
                for member in group.members.values_mut() {
                    member.assignment = assignment.get(&member.id).cloned().unwrap_or_default();
                }
                group.transition(GroupState::Stable, now.wall_ms);
                propagate_assignment(group, None, now.instant, effects);
            }
            Err(error) => {
                for member in group.members.values_mut() {
                    member.assignment = Bytes::new();
                }
                propagate_assignment(group, Some(error), now.instant, effects);
                self.maybe_prepare_rebalance(group_id, now, effects);
            }
        }
    }

    fn static_rejoin_persisted(
        &mut self,
        group_id: &str,
        rejoin: StaticRejoin,
        result: Result<(), KafkaError>,
        effects: &mut Vec<Effect<R>>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.state != GroupState::Stable || group.generation != rejoin.generation {
            return;
        }
        // The leader as it was before the new id took the old one's place (Kafka's answer
        // before JoinGroup v9 brought SkipAssignment, which ringlog never sets): a static
        // leader coming back does not take itself for the leader, so it runs no assignment
        // (with no members' metadata to run it on) that a Stable group would not hand out.
        let leader = match &group.leader {
            Some(leader) if *leader == rejoin.new_id => rejoin.old_id.clone(),
            leader => leader.clone().unwrap_or_default(),
        };
        let Some(member) = group.members.get_mut(&rejoin.new_id) else {
            return;
        };
        let Some(reply) = member.awaiting_join.take() else {
            return;
        };
        let outcome = match result {
            Ok(()) => JoinOutcome {
                error: None,
                generation: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol_name: group.protocol.clone(),
                leader,
                member_id: rejoin.new_id.clone(),
                members: Vec::new(),
            },
            Err(error) => {
                member.protocols = rejoin.old_protocols;
                (member.session_timeout, member.rebalance_timeout) = rejoin.old_timeouts;
                rename_member(group, &rejoin.new_id, &rejoin.old_id);
                JoinOutcome::error("", error)
            }
        };
        effects.push(Effect::Join(reply, outcome));
    }

    /// Asks for `records` to be appended, for `pending`.
    pub(super) fn persist(
        &mut self,
        records: &[KeyValue],
        pending: Pending,
        now: Now,
    ) -> Effect<R> {
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        self.in_flight.insert(token, pending);
        Effect::Persist {
            token,
            records: record::batch(records, now.wall_ms),
        }
    }

    /// `group_id`'s metadata record as it stands, with `assignment` for its members' (or their
    /// current assignments).
    pub(super) fn group_record(
        &self,
        group_id: &str,
        assignment: Option<&BTreeMap<String, Bytes>>,
    ) -> KeyValue {
        let group = &self.groups[group_id];
        let protocol = group.protocol.as_deref().unwrap_or_default();
        let members = group
            .members
            .values()
            .map(|m| MemberRecord {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: millis(m.session_timeout),
                rebalance_timeout_ms: millis(m.rebalance_timeout),
                subscription: m.metadata(protocol),
                assignment: match assignment {
                    Some(assignment) => assignment.get(&m.id).cloned().unwrap_or_default(),
                    None => m.assignment.clone(),
                },
            })
            .collect();
        let stored = GroupRecord {
            protocol_type: group.protocol_type.clone(),
            generation: group.generation,
            protocol: group.protocol.clone(),
            leader: group.leader.clone(),
            state_timestamp_ms: group.state_since_ms,
            members,
        };
        record::group_record(group_id, Some(&stored))
    }

    /// A new member id for a member of `client_id` (or its instance id, as Kafka names static
    /// members).
    pub(super) fn new_member_id(&mut self, name: &str) -> String {
        self.member_id_counter += 1;
        let uuid = uuid::Uuid::from_u64_pair(self.member_id_prefix, self.member_id_counter);
        format!("{name}-{}", uuid.hyphenated())
    }

    /// Starts the retention timer at the first call that carries the time.
    pub(super) fn touch(&mut self, now: Now) {
        if self.next_retention_check.is_none() {
            self.next_retention_check =
                Some(now.instant + self.config.offsets_retention_check_interval);
        }
    }

    /// Every group's rules (see `Group::check_invariants`), in debug builds.
    pub(super) fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            for group in self.groups.values() {
                group.check_invariants();
            }
        }
    }
}

/// What a static member's rejoin changed, to restore if its append fails.
pub(super) struct StaticRejoin {
    pub generation: i32,
    pub new_id: String,
    pub old_id: String,
    pub old_protocols: Vec<(String, Bytes)>,
    pub old_timeouts: (Duration, Duration),
}

/// An append's failure as a group's members see it: a partition led elsewhere now means
/// another coordinator.
fn coordinator_error(error: KafkaError) -> KafkaError {
    match error {
        KafkaError::NotLeaderOrFollower | KafkaError::FencedLeaderEpoch => {
            KafkaError::NotCoordinator
        }
        other => other,
    }
}

/// Answers every parked SyncGroup of `group` (its assignment, or `error`); each answered
/// member's session starts again (it may have run out while the sync waited).
pub(super) fn propagate_assignment<R>(
    group: &mut Group<R>,
    error: Option<KafkaError>,
    now: Instant,
    effects: &mut Vec<Effect<R>>,
) {
    let (protocol_type, protocol_name) = match error {
        None => (group.protocol_type.clone(), group.protocol.clone()),
        Some(_) => (None, None),
    };
    for member in group.members.values_mut() {
        if let Some(reply) = member.awaiting_sync.take() {
            let outcome = SyncOutcome {
                error,
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: member.assignment.clone(),
            };
            effects.push(Effect::Sync(reply, outcome));
            member.renew(now);
        }
    }
}

/// Gives member `from` the id `to`, keeping the leadership and static mapping with it.
pub(super) fn rename_member<R>(group: &mut Group<R>, from: &str, to: &str) {
    let mut member = group.members.remove(from).expect("renaming a member");
    member.id = to.to_string();
    if let Some(instance_id) = &member.instance_id {
        group
            .static_members
            .insert(instance_id.clone(), to.to_string());
    }
    if group.is_leader(from) {
        group.leader = Some(to.to_string());
    }
    if group.pending_sync.remove(from) {
        group.pending_sync.insert(to.to_string());
    }
    group.members.insert(to.to_string(), member);
}

/// A group as stored, back in memory: Stable with members, else Empty.
fn restore_group<R>(id: String, stored: GroupRecord, now: Instant) -> Group<R> {
    let mut group = Group::new(id, stored.state_timestamp_ms);
    group.generation = stored.generation;
    group.protocol_type = stored.protocol_type;
    let protocol = stored.protocol.clone().unwrap_or_default();
    for m in stored.members {
        let session_timeout =
            Duration::from_millis(u64::try_from(m.session_timeout_ms).unwrap_or(0));
        let member = Member {
            id: m.member_id,
            instance_id: m.instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            session_timeout,
            rebalance_timeout: Duration::from_millis(
                u64::try_from(m.rebalance_timeout_ms).unwrap_or(0),
            ),
            protocols: vec![(protocol.clone(), m.subscription)],
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            session_deadline: now + session_timeout,
            is_new: false,
        };
        let protocol_type = group.protocol_type.clone().unwrap_or_default();
        // A record naming an instance twice would break the static mapping: keep the first.
        if member
            .instance_id
            .as_ref()
            .is_some_and(|i| group.static_members.contains_key(i))
        {
            tracing::warn!(group = %group.id, member = %member.id, "__consumer_offsets: a stored member repeats an instance id, skipped");
            continue;
        }
        group.add(member, &protocol_type);
    }
    if !group.members.is_empty() && stored.protocol.is_some() {
        group.protocol = stored.protocol;
        if let Some(leader) = stored.leader.filter(|l| group.members.contains_key(l)) {
            group.leader = Some(leader);
        }
        group.state = GroupState::Stable;
    } else {
        // Members without a protocol cannot be Stable: the stored group is taken as Empty.
        group.members.clear();
        group.static_members.clear();
        group.leader = None;
    }
    group.subscribed = group.compute_subscribed();
    group
}

/// A duration in Kafka's i32 milliseconds, saturating.
fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
