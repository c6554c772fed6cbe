//! Rebalances: preparing one (PreparingRebalance, with Kafka's initial delay for a group
//! coming from Empty), completing it (the next generation, its protocol and leader, the
//! JoinGroup answers), and the timers that drive them: [`Coordinator::tick`] and
//! [`Coordinator::next_deadline`].

use std::time::Instant;

use ringlog_replication::KafkaError;

use super::api::{Effect, JoinOutcome};
use super::coordinator::{Coordinator, Pending};
use super::member::Member;
use super::state::{Group, JoinTimer};
use super::{GroupState, Now};

impl<R> Coordinator<R> {
    /// Runs the timers due at `now`: pending members forgotten, sessions expired, rebalances
    /// completed at their timeout (or their initial delay extended), members that never
    /// synced removed, and retention.
    pub(crate) fn tick(&mut self, now: Now) -> Vec<Effect<R>> {
        self.touch(now);
        let mut effects = Vec::new();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            self.expire_pending(&id, now, &mut effects);
            self.expire_sessions(&id, now, &mut effects);
            self.join_timer_due(&id, now, &mut effects);
            self.sync_timer_due(&id, now, &mut effects);
        }
        if self
            .next_retention_check
            .is_some_and(|at| at <= now.instant)
        {
            self.next_retention_check =
                Some(now.instant + self.config.offsets_retention_check_interval);
            effects.extend(self.expire_offsets(now));
        }
        self.check_invariants();
        effects
    }

    /// When [`Coordinator::tick`] next has work, if ever without another call.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let groups = self.groups.values().flat_map(|group| {
            let members = group.members.values().filter_map(Member::expiry);
            let pending = group.pending.values().copied();
            let join = group.join_timer.map(|t| t.deadline);
            members
                .chain(pending)
                .chain(join)
                .chain(group.sync_deadline)
        });
        groups.chain(self.next_retention_check).min()
    }

    /// MEMBER_ID_REQUIRED members that never rejoined within their session are forgotten.
    fn expire_pending(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let group = self.groups.get_mut(id).expect("ticking a known group");
        let before = group.pending.len();
        group.pending.retain(|_, deadline| *deadline > now.instant);
        if group.pending.len() < before && group.state == GroupState::PreparingRebalance {
            self.try_complete_join(id, now, effects);
        }
    }

    fn expire_sessions(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let expired: Vec<String> = self.groups[id]
            .members
            .values()
            .filter(|m| m.expired(now.instant))
            .map(|m| m.id.clone())
            .collect();
        for member_id in expired {
            tracing::info!(group = id, member = %member_id, "session expired, removing the member");
            self.remove_member_and_update(id, &member_id, now, effects);
        }
    }

    fn join_timer_due(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let group = self.groups.get_mut(id).expect("ticking a known group");
        let Some(timer) = group.join_timer.filter(|t| t.deadline <= now.instant) else {
            return;
        };
        match timer.initial_remaining {
            // Kafka's InitialDelayedJoin: a member joined during the delay, and the rebalance
            // timeout has room left: wait another delay (or what is left).
            Some(remaining) if timer.new_member_added && !remaining.is_zero() => {
                let delay = self.config.initial_rebalance_delay.min(remaining);
                group.join_timer = Some(JoinTimer {
                    deadline: now.instant + delay,
                    initial_remaining: Some(remaining - delay),
                    new_member_added: false,
                });
            }
            _ => self.complete_join(id, now, effects),
        }
    }

    /// Kafka's pending-sync timeout: members that got the generation's JoinGroup answer but
    /// never synced within the rebalance timeout are removed, and the group rebalances.
    fn sync_timer_due(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let group = self.groups.get_mut(id).expect("ticking a known group");
        if group.sync_deadline.is_none_or(|at| at > now.instant) {
            return;
        }
        group.sync_deadline = None;
        let laggards: Vec<String> = group.pending_sync.iter().cloned().collect();
        if laggards.is_empty() {
            return;
        }
        tracing::info!(group = id, members = ?laggards, "members never synced, removing them");
        for member_id in &laggards {
            if let Some(member) = group.remove(member_id) {
                answer_removed(member, effects);
            }
        }
        // With no one left, the rebalance completes at once into Empty.
        self.prepare_rebalance(id, now, effects);
    }

    /// Removes a member (a session that ran out, a LeaveGroup) and moves the group on: a
    /// Stable or CompletingRebalance group rebalances, a PreparingRebalance one may complete.
    pub(super) fn remove_member_and_update(
        &mut self,
        id: &str,
        member_id: &str,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let group = self
            .groups
            .get_mut(id)
            .expect("removing from a known group");
        if let Some(member) = group.remove(member_id) {
            answer_removed(member, effects);
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(id, now, effects)
            }
            GroupState::PreparingRebalance => self.try_complete_join(id, now, effects),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Starts a rebalance if the group's state allows one (Kafka's maybePrepareRebalance).
    pub(super) fn maybe_prepare_rebalance(
        &mut self,
        id: &str,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let state = self.groups[id].state;
        if matches!(
            state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(id, now, effects);
        }
    }

    /// Moves the group to PreparingRebalance: parked syncs are told to rejoin, and the join
    /// timer starts (the initial delay when coming from Empty).
    pub(super) fn prepare_rebalance(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let delay = self.config.initial_rebalance_delay;
        let group = self.groups.get_mut(id).expect("rebalancing a known group");
        if group.state == GroupState::CompletingRebalance {
            for member in group.members.values_mut() {
                member.assignment = bytes::Bytes::new();
            }
            let error = Some(KafkaError::RebalanceInProgress);
            super::coordinator::propagate_assignment(group, error, now.instant, effects);
        }
        group.pending_sync.clear();
        group.sync_deadline = None;
        group.persisting = None;
        let rebalance_timeout = group.rebalance_timeout();
        group.join_timer = Some(if group.state == GroupState::Empty {
            JoinTimer {
                deadline: now.instant + delay,
                initial_remaining: Some(rebalance_timeout.saturating_sub(delay)),
                new_member_added: false,
            }
        } else {
            JoinTimer {
                deadline: now.instant + rebalance_timeout,
                initial_remaining: None,
                new_member_added: false,
            }
        });
        tracing::info!(
            group = id,
            generation = group.generation,
            "preparing to rebalance"
        );
        group.transition(GroupState::PreparingRebalance, now.wall_ms);
        self.try_complete_join(id, now, effects);
    }

    /// Completes the rebalance if every member has rejoined, unless the initial delay runs.
    pub(super) fn try_complete_join(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let group = &self.groups[id];
        let initial = group
            .join_timer
            .is_some_and(|t| t.initial_remaining.is_some());
        if group.state == GroupState::PreparingRebalance && !initial && group.all_joined() {
            self.complete_join(id, now, effects);
        }
    }

    /// Ends PreparingRebalance (Kafka's onCompleteJoin): dynamic members that did not rejoin
    /// are removed, and the next generation starts with a protocol and a leader, every parked
    /// JoinGroup answered. Static members that did not rejoin stay: their sessions decide.
    pub(super) fn complete_join(&mut self, id: &str, now: Now, effects: &mut Vec<Effect<R>>) {
        let group = self.groups.get_mut(id).expect("completing a known group");
        let absent: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for member_id in absent {
            if let Some(member) = group.remove(&member_id) {
                answer_removed(member, effects);
            }
        }
        if !group.members.is_empty() && !group.elect_joined_leader() {
            // Only absent static members are left: wait another rebalance timeout for them to
            // rejoin or for their sessions to run out.
            group.join_timer = Some(JoinTimer {
                deadline: now.instant + group.rebalance_timeout(),
                initial_remaining: None,
                new_member_added: false,
            });
            return;
        }
        group.join_timer = None;
        group.generation += 1;
        if group.members.is_empty() {
            group.protocol = None;
            group.subscribed = group.compute_subscribed();
            group.transition(GroupState::Empty, now.wall_ms);
            tracing::info!(group = id, generation = group.generation, "group is empty");
            let records = [self.group_record(id, None)];
            effects.push(self.persist(&records, Pending::Unawaited, now));
            return;
        }
        group.protocol = Some(group.select_protocol().expect("a group with members"));
        group.subscribed = group.compute_subscribed();
        group.transition(GroupState::CompletingRebalance, now.wall_ms);
        tracing::info!(
            group = id,
            generation = group.generation,
            members = group.members.len(),
            "rebalance completed"
        );
        answer_joins(group, now.instant, effects);
        group.sync_deadline = Some(now.instant + group.rebalance_timeout());
    }
}

/// Answers every parked JoinGroup with the new generation (the leader gets every member) and
/// starts every member's session and wait for its SyncGroup.
fn answer_joins<R>(group: &mut Group<R>, now: Instant, effects: &mut Vec<Effect<R>>) {
    let joined = group.joined_members();
    let leader = group
        .leader
        .clone()
        .expect("a group with members has a leader");
    for member in group.members.values_mut() {
        if let Some(reply) = member.awaiting_join.take() {
            let outcome = JoinOutcome {
                error: None,
                generation: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol_name: group.protocol.clone(),
                leader: leader.clone(),
                member_id: member.id.clone(),
                members: if member.id == leader {
                    joined.clone()
                } else {
                    Vec::new()
                },
            };
            effects.push(Effect::Join(reply, outcome));
        }
        member.renew(now);
        member.is_new = false;
        group.pending_sync.insert(member.id.clone());
    }
}

/// A removed member's parked requests learn it is gone, so that no reply waits forever.
pub(super) fn answer_removed<R>(member: Member<R>, effects: &mut Vec<Effect<R>>) {
    if let Some(reply) = member.awaiting_join {
        effects.push(Effect::Join(
            reply,
            JoinOutcome::error("", KafkaError::UnknownMemberId),
        ));
    }
    if let Some(reply) = member.awaiting_sync {
        let outcome = super::api::SyncOutcome::error(KafkaError::UnknownMemberId);
        effects.push(Effect::Sync(reply, outcome));
    }
}
