//! The shard's side of consumer groups: the [`Coordinator`] of each `__consumer_offsets`
//! partition it leads (loaded from the partition's log on first use, dropped when the
//! leadership goes), the group operations and offset commits run on it, the appends it asks
//! for (acks=all on the partition, their results handed back), and its timers.

use std::collections::BTreeSet;
use std::time::Instant;

use ringlog_engine::Timestamp;
use ringlog_replication::driver::ProduceOutcome;
use ringlog_replication::partition::Acks;
use ringlog_replication::{KafkaError, TopicPartition};

use super::Shard;
use crate::bus::{ReplyTo, Route};
use crate::group::{Coordinator, Effect, GroupConfig, Loader, Now};
use crate::offsets::Commit;
use crate::ops::{self, CommitMember, GroupAnswer, GroupCommits, GroupOp, PartResult};

/// Bytes of `__consumer_offsets` a loading coordinator replays per turn of its shard's ring.
const LOAD_STEP_BYTES: u64 = 1 << 20;

/// The coordinator's clock: the shard's monotonic instant and the wall clock.
fn now_at(instant: Instant) -> Now {
    Now {
        instant,
        wall_ms: Timestamp::now().0,
    }
}

/// The coordinators' settings, from the broker's `group_*` and `offsets_retention_*` keys.
fn group_config(config: &crate::config::BrokerConfig) -> GroupConfig {
    GroupConfig {
        min_session_timeout: config.group_min_session_timeout,
        max_session_timeout: config.group_max_session_timeout,
        initial_rebalance_delay: config.group_initial_rebalance_delay,
        max_size: Some(config.group_max_size as usize),
        offsets_retention: config.offsets_retention,
        offsets_retention_check_interval: config.offsets_retention_check_interval,
    }
}

impl Shard {
    /// The coordinator of an offsets-topic partition led here. One not loaded yet (starting
    /// its load if none is under way) replays a step at once, so a short partition loads in
    /// it; until its replay ends the answer is COORDINATOR_LOAD_IN_PROGRESS, and the client
    /// retries.
    fn coordinator(
        &mut self,
        topic_partition: &TopicPartition,
    ) -> Result<&mut Coordinator<ReplyTo>, KafkaError> {
        let Some(partition) = self.partitions.get(topic_partition) else {
            return Err(ops::group_error(self.not_served(topic_partition)));
        };
        if !partition.is_leader() {
            return Err(KafkaError::NotCoordinator);
        }
        if !self.coordinators.contains_key(topic_partition) {
            // Every request for a loading coordinator drives its load a step too.
            self.start_loading(topic_partition);
            self.load_step(topic_partition)?;
        }
        self.coordinators
            .get_mut(topic_partition)
            .ok_or(KafkaError::CoordinatorLoadInProgress)
    }

    /// Starts loading the coordinator of an offsets-topic partition this shard now leads,
    /// unless it is loaded or loading.
    pub(super) fn start_loading(&mut self, topic_partition: &TopicPartition) {
        if self.coordinators.contains_key(topic_partition)
            || self.loading.contains_key(topic_partition)
        {
            return;
        }
        let Some(partition) = self.partitions.get(topic_partition) else {
            return;
        };
        let loader = Loader::new(partition.log());
        tracing::info!(partition = %topic_partition, "group coordinator loading");
        self.loading
            .insert(topic_partition.clone(), (loader, Instant::now()));
    }

    /// Runs one step of every coordinator's load (between two turns of the ring, so a long
    /// replay shares the shard with its connections).
    pub(super) fn load_coordinators(&mut self) {
        let loading: Vec<TopicPartition> = self.loading.keys().cloned().collect();
        for topic_partition in loading {
            // A failed load is logged and dropped: the next request for its groups tries again.
            let _ = self.load_step(&topic_partition);
        }
    }

    /// One step of a coordinator's load; after the last, the coordinator serves its groups.
    fn load_step(&mut self, topic_partition: &TopicPartition) -> Result<(), KafkaError> {
        let Some(partition) = self.partitions.get(topic_partition) else {
            self.loading.remove(topic_partition);
            return Err(KafkaError::NotCoordinator);
        };
        let Some((loader, _)) = self.loading.get_mut(topic_partition) else {
            return Ok(());
        };
        let done = match loader.step(partition.log(), LOAD_STEP_BYTES) {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(partition = %topic_partition, %error, "cannot load the group coordinator");
                self.loading.remove(topic_partition);
                return Err(KafkaError::CoordinatorNotAvailable);
            }
        };
        if done {
            let (loader, started) = self.loading.remove(topic_partition).expect("loading above");
            let bytes = loader.bytes();
            let config = group_config(&self.shared.options.config);
            let loaded = Coordinator::load(config, loader, now_at(Instant::now()));
            tracing::info!(
                partition = %topic_partition,
                groups = loaded.group_ids().len(),
                bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "group coordinator loaded"
            );
            self.coordinators.insert(topic_partition.clone(), loaded);
        }
        Ok(())
    }

    /// The partition's leadership went (or the partition did): its coordinator's waiting
    /// members are answered NOT_COORDINATOR and they find the new one.
    pub(super) fn unload_coordinator(&mut self, topic_partition: &TopicPartition) {
        if self.loading.remove(topic_partition).is_some() {
            tracing::info!(partition = %topic_partition, "group coordinator load abandoned");
        }
        if let Some(mut coordinator) = self.coordinators.remove(topic_partition) {
            let effects = coordinator.unload();
            tracing::info!(partition = %topic_partition, "group coordinator unloaded");
            self.carry_out_group(topic_partition, effects);
        }
    }

    pub(super) fn run_group_op(
        &mut self,
        reply: ReplyTo,
        topic_partition: TopicPartition,
        op: GroupOp,
    ) {
        let now = now_at(Instant::now());
        let coordinator = match self.coordinator(&topic_partition) {
            Ok(coordinator) => coordinator,
            Err(KafkaError::CoordinatorLoadInProgress) if matches!(op, GroupOp::Heartbeat(_)) => {
                // As Kafka: a member heartbeating while its group loads is answered blindly;
                // the loaded group starts its session anew.
                self.deliver(reply, PartResult::Group(GroupAnswer::Heartbeat(None)));
                return;
            }
            Err(error) => {
                self.deliver(reply, PartResult::Group(GroupAnswer::refused(&op, error)));
                return;
            }
        };
        let mut answer = None;
        let effects = match op {
            GroupOp::Join(request) => coordinator.join(request, reply, now),
            GroupOp::Sync(request) => coordinator.sync(request, reply, now),
            GroupOp::Heartbeat(request) => {
                answer = Some(GroupAnswer::Heartbeat(
                    coordinator.heartbeat(request, now).err(),
                ));
                Vec::new()
            }
            GroupOp::Leave(request) => {
                let members = request.members.clone();
                let (errors, effects) = coordinator.leave(request, now);
                answer = Some(GroupAnswer::Leave(Ok((members, errors))));
                effects
            }
            GroupOp::Describe(group) => {
                answer = Some(GroupAnswer::Describe(Ok(coordinator.describe(&group))));
                Vec::new()
            }
            GroupOp::List { states, none } => {
                let listed = if none {
                    Vec::new()
                } else {
                    coordinator.list(&states)
                };
                answer = Some(GroupAnswer::List(Ok(listed)));
                Vec::new()
            }
            GroupOp::Delete(group) => match coordinator.delete_group(&group, now) {
                Ok(effect) => {
                    answer = Some(GroupAnswer::Delete(None));
                    vec![effect]
                }
                Err(error) => {
                    answer = Some(GroupAnswer::Delete(Some(error)));
                    Vec::new()
                }
            },
            GroupOp::DeleteOffsets { group, partitions } => {
                match coordinator.delete_offsets(&group, &partitions, now) {
                    Ok((answers, effect)) => {
                        answer = Some(GroupAnswer::DeleteOffsets(Ok(answers)));
                        effect.into_iter().collect()
                    }
                    Err(error) => {
                        answer = Some(GroupAnswer::DeleteOffsets(Err(error)));
                        Vec::new()
                    }
                }
            }
        };
        // Deleted groups and offsets are gone from the coordinator at once; the tombstones'
        // append follows (a failure is logged: the next leader may still see them).
        if let Some(answer) = answer {
            self.deliver(reply, PartResult::Group(answer));
        }
        self.carry_out_group(&topic_partition, effects);
    }

    /// Carries out a coordinator's effects: answers, and appends with acks=all whose results
    /// go back to it.
    pub(super) fn carry_out_group(
        &mut self,
        topic_partition: &TopicPartition,
        effects: Vec<Effect<ReplyTo>>,
    ) {
        for effect in effects {
            match effect {
                Effect::Join(reply, outcome) => {
                    self.deliver(reply, PartResult::Group(GroupAnswer::Join(outcome)));
                }
                Effect::Sync(reply, outcome) => {
                    self.deliver(reply, PartResult::Group(GroupAnswer::Sync(outcome)));
                }
                Effect::Persist { token, records } => {
                    let now = self.shared.now();
                    let timeout = self.shared.options.config.request_timeout;
                    let Some(partition) = self.partitions.get_mut(topic_partition) else {
                        self.group_persisted(
                            topic_partition,
                            token,
                            Err(KafkaError::NotCoordinator),
                        );
                        continue;
                    };
                    let route = Route::Coordinator(token);
                    let effects = partition.produce(records, Acks::All, timeout, now, route);
                    self.carry_out(topic_partition, effects);
                }
            }
        }
    }

    /// The result of an append a coordinator asked for.
    fn group_persisted(
        &mut self,
        topic_partition: &TopicPartition,
        token: crate::group::PersistToken,
        result: Result<(), KafkaError>,
    ) {
        let Some(coordinator) = self.coordinators.get_mut(topic_partition) else {
            // Unloaded meanwhile: its waiting members were answered then.
            return;
        };
        let effects = coordinator.persisted(token, result, now_at(Instant::now()));
        self.carry_out_group(topic_partition, effects);
    }

    /// Runs every coordinator's timers that are due.
    pub(super) fn tick_coordinators(&mut self, instant: Instant) {
        let due: Vec<TopicPartition> = self
            .coordinators
            .iter()
            .filter(|(_, c)| c.next_deadline().is_some_and(|d| d <= instant))
            .map(|(tp, _)| tp.clone())
            .collect();
        for topic_partition in due {
            let Some(coordinator) = self.coordinators.get_mut(&topic_partition) else {
                continue;
            };
            let effects = coordinator.tick(now_at(instant));
            self.carry_out_group(&topic_partition, effects);
        }
    }

    /// Exports what the coordinators loaded here know: each group's members and committed
    /// offsets. A series exported before and gone now (the group deleted or expired, or its
    /// coordinator moved) is set to -1 (offsets) or 0 (members): the metrics facade cannot
    /// remove a series.
    pub(super) fn export_group_metrics(&mut self) {
        let mut exported = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for coordinator in self.coordinators.values() {
            for group in coordinator.group_ids() {
                let members = coordinator.describe(&group).members.len();
                crate::metrics::set_group_members(&group, members);
                for (topic, partitions) in coordinator.offsets(&group, None) {
                    for (partition, committed) in partitions {
                        let offset =
                            committed.map_or(-1, |c| i64::try_from(c.offset.0).unwrap_or(i64::MAX));
                        crate::metrics::set_group_committed_offset(
                            &group, &topic, partition, offset,
                        );
                        exported.insert((group.clone(), topic.clone(), partition));
                    }
                }
                groups.insert(group);
            }
        }
        for (group, topic, partition) in self.exported_group_offsets.difference(&exported) {
            crate::metrics::set_group_committed_offset(group, topic, *partition, -1);
        }
        for group in self.exported_groups.difference(&groups) {
            crate::metrics::set_group_members(group, 0);
        }
        self.exported_group_offsets = exported;
        self.exported_groups = groups;
    }

    /// Delivers a partition's produce answers: to the request's part, to a group coordinator,
    /// or, for a commit of group offsets, to the coordinator's offsets first.
    pub(super) fn on_produce_answers(
        &mut self,
        topic_partition: &TopicPartition,
        answers: Vec<(Route, ProduceOutcome)>,
    ) {
        for (route, outcome) in answers {
            let stored = match &outcome {
                ProduceOutcome::Appended { .. } => Ok(()),
                ProduceOutcome::Refused(refusal) => Err(ops::group_error(refusal.error)),
            };
            match route {
                Route::Part(reply) => self.deliver(reply, PartResult::Produce(outcome)),
                Route::Commit {
                    reply,
                    commits,
                    commit_ms,
                } => {
                    if stored.is_ok()
                        && let Some(coordinator) = self.coordinators.get_mut(topic_partition)
                    {
                        coordinator.apply_commits(commits, commit_ms);
                    }
                    self.deliver(reply, PartResult::OffsetsCommitted(stored.err()));
                }
                Route::Coordinator(token) => {
                    self.group_persisted(topic_partition, token, stored);
                }
            }
        }
    }

    /// OffsetCommit: checked by the group's coordinator (who commits, at which generation),
    /// then appended with acks=all, and taken into the coordinator's offsets once stored.
    pub(super) fn commit_offsets(
        &mut self,
        reply: ReplyTo,
        topic_partition: TopicPartition,
        commits: Vec<Commit>,
        member: Option<CommitMember>,
    ) {
        let now = now_at(Instant::now());
        let checked = self.coordinator(&topic_partition).and_then(|coordinator| {
            let group = commits.first().map_or("", |c| c.group.as_str());
            let (member_id, instance_id, generation) = match &member {
                Some(m) => (
                    m.member_id.as_str(),
                    m.group_instance_id.as_deref(),
                    m.generation,
                ),
                None => ("", None, -1),
            };
            coordinator.check_commit(group, member_id, instance_id, generation, now)?;
            Ok(coordinator.commit_records(&commits, now.wall_ms))
        });
        let records = match checked {
            Ok(records) => records,
            Err(error) => {
                self.deliver(reply, PartResult::OffsetsCommitted(Some(error)));
                return;
            }
        };
        // The commit waits for the offsets partition's ISR (acks=all) as long as any request
        // may wait inside the broker: request_timeout_ms, which also caps a client's acks=all
        // produce. Kafka has offsets.commit.timeout.ms (5 s) for this alone; one bound for
        // every wait is enough here.
        let timeout = self.shared.options.config.request_timeout;
        let route = Route::Commit {
            reply,
            commits,
            commit_ms: now.wall_ms,
        };
        let partition = self
            .partitions
            .get_mut(&topic_partition)
            .expect("its coordinator is loaded");
        let effects = partition.produce(records, Acks::All, timeout, self.shared.now(), route);
        self.carry_out(&topic_partition, effects);
    }

    /// OffsetFetch: what the group committed, from its coordinator.
    pub(super) fn fetch_offsets(
        &mut self,
        topic_partition: &TopicPartition,
        group: &str,
        topics: Option<Vec<(String, Vec<u32>)>>,
    ) -> Result<GroupCommits, KafkaError> {
        Ok(self.coordinator(topic_partition)?.offsets(group, topics))
    }
}
