//! What members send between rebalances: SyncGroup, Heartbeat, LeaveGroup, and the checks an
//! OffsetCommit passes before the shard appends it.

use std::collections::BTreeMap;

use bytes::Bytes;
use ringlog_replication::KafkaError;

use super::api::{Effect, HeartbeatRequest, LeaveRequest, LeavingMember, SyncOutcome, SyncRequest};
use super::coordinator::{Coordinator, Pending};
use super::join::member_error;
use super::state::Group;
use super::{GroupState, Now};

impl<R> Coordinator<R> {
    /// A SyncGroup. Its answer comes back as an [`Effect::Sync`] carrying `reply`: at once
    /// (refusals, a Stable group's current assignment) or once the leader's assignment is
    /// stored (see [`Coordinator::persisted`]).
    pub(crate) fn sync(&mut self, request: SyncRequest, reply: R, now: Now) -> Vec<Effect<R>> {
        self.touch(now);
        let mut effects = Vec::new();
        let checked = self.sync_checks(&request);
        let state = match checked {
            Ok(state) => state,
            Err(error) => {
                effects.push(Effect::Sync(reply, SyncOutcome::error(error)));
                return effects;
            }
        };
        match state {
            GroupState::Empty | GroupState::Dead => {
                effects.push(Effect::Sync(
                    reply,
                    SyncOutcome::error(KafkaError::UnknownMemberId),
                ));
            }
            GroupState::PreparingRebalance => {
                let outcome = SyncOutcome::error(KafkaError::RebalanceInProgress);
                effects.push(Effect::Sync(reply, outcome));
            }
            GroupState::CompletingRebalance => {
                self.sync_completing(request, reply, now, &mut effects)
            }
            GroupState::Stable => {
                let group = self.groups.get_mut(&request.group_id).expect("checked");
                group.pending_sync.remove(&request.member_id);
                let member = group.members.get_mut(&request.member_id).expect("checked");
                member.renew(now.instant);
                let outcome = SyncOutcome {
                    error: None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol.clone(),
                    assignment: member.assignment.clone(),
                };
                effects.push(Effect::Sync(reply, outcome));
            }
        }
        self.check_invariants();
        effects
    }

    /// The group `member_id` (with `instance_id`) belongs to at `generation`, or why not:
    /// what SyncGroup and Heartbeat check first, as Kafka does.
    fn current_member(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<&Group<R>, KafkaError> {
        if group_id.is_empty() {
            return Err(KafkaError::InvalidGroupId);
        }
        let group = self
            .groups
            .get(group_id)
            .ok_or(KafkaError::UnknownMemberId)?;
        if let Some(error) = member_error(group, member_id, instance_id) {
            return Err(error);
        }
        if generation != group.generation {
            return Err(KafkaError::IllegalGeneration);
        }
        Ok(group)
    }

    /// Kafka's validateSyncGroup: the group's state if the member, generation and protocol
    /// are the group's.
    fn sync_checks(&self, request: &SyncRequest) -> Result<GroupState, KafkaError> {
        let group = self.current_member(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation,
        )?;
        let mismatch = |asked: &Option<String>, have: &Option<String>| {
            asked
                .as_ref()
                .is_some_and(|asked| have.as_ref() != Some(asked))
        };
        if mismatch(&request.protocol_type, &group.protocol_type)
            || mismatch(&request.protocol_name, &group.protocol)
        {
            return Err(KafkaError::InconsistentGroupProtocol);
        }
        Ok(group.state)
    }

    /// A SyncGroup of the generation being completed: parked; the leader's assignment (empty
    /// for members it leaves out) is appended, and the group is Stable once it is stored.
    fn sync_completing(
        &mut self,
        request: SyncRequest,
        reply: R,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let id = request.group_id.clone();
        let group = self.groups.get_mut(&id).expect("checked");
        group.pending_sync.remove(&request.member_id);
        if group.pending_sync.is_empty() {
            group.sync_deadline = None;
        }
        let member = group.members.get_mut(&request.member_id).expect("checked");
        if let Some(previous) = member.awaiting_sync.replace(reply) {
            // The member asked again: its client gave up on the first request.
            let outcome = SyncOutcome::error(KafkaError::RebalanceInProgress);
            effects.push(Effect::Sync(previous, outcome));
        }
        if !group.is_leader(&request.member_id) || group.persisting.is_some() {
            return;
        }
        let assignment = leader_assignment(group, request.assignments);
        let pending = Pending::Assignment {
            group: id.clone(),
            generation: group.generation,
            assignment: assignment.clone(),
        };
        let records = [self.group_record(&id, Some(&assignment))];
        let effect = self.persist(&records, pending, now);
        let Effect::Persist { token, .. } = &effect else {
            unreachable!("persist returns Effect::Persist");
        };
        self.groups.get_mut(&id).expect("checked").persisting = Some(*token);
        effects.push(effect);
    }

    /// A Heartbeat: Ok while the member's generation is Stable or completing,
    /// REBALANCE_IN_PROGRESS while preparing (it still counts as the member being alive).
    pub(crate) fn heartbeat(
        &mut self,
        request: HeartbeatRequest,
        now: Now,
    ) -> Result<(), KafkaError> {
        self.touch(now);
        self.current_member(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation,
        )?;
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("checked above");
        let state = group.state;
        let member = group
            .members
            .get_mut(&request.member_id)
            .expect("validated");
        match state {
            GroupState::Empty | GroupState::Dead => Err(KafkaError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                member.renew(now.instant);
                Err(KafkaError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.renew(now.instant);
                Ok(())
            }
        }
    }

    /// A LeaveGroup: one answer per member, in order (`None` is success); removing members
    /// starts a rebalance, or completes the one under way.
    pub(crate) fn leave(
        &mut self,
        request: LeaveRequest,
        now: Now,
    ) -> (Vec<Option<KafkaError>>, Vec<Effect<R>>) {
        self.touch(now);
        let mut effects = Vec::new();
        let id = request.group_id.as_str();
        let answers = request
            .members
            .iter()
            .map(|leaving| {
                if id.is_empty() {
                    return Some(KafkaError::InvalidGroupId);
                }
                if !self.groups.contains_key(id) {
                    return Some(KafkaError::UnknownMemberId);
                }
                self.leave_one(id, leaving, now, &mut effects)
            })
            .collect();
        self.check_invariants();
        (answers, effects)
    }

    fn leave_one(
        &mut self,
        id: &str,
        leaving: &LeavingMember,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) -> Option<KafkaError> {
        let group = self.groups.get_mut(id).expect("checked by leave");
        let instance_id = leaving.group_instance_id.as_deref();
        let member_id = if leaving.member_id.is_empty() {
            // An admin removing a static member by its instance id.
            match instance_id.and_then(|i| group.static_members.get(i)) {
                Some(member_id) => member_id.clone(),
                None => return Some(KafkaError::UnknownMemberId),
            }
        } else if group.pending.remove(&leaving.member_id).is_some() {
            if group.state == GroupState::PreparingRebalance {
                self.try_complete_join(id, now, effects);
            }
            return None;
        } else {
            if let Some(error) = member_error(group, &leaving.member_id, instance_id) {
                return Some(error);
            }
            leaving.member_id.clone()
        };
        tracing::info!(group = id, member = %member_id, reason = ?leaving.reason, "member left");
        self.remove_member_and_update(id, &member_id, now, effects);
        None
    }

    /// Whether an OffsetCommit may be stored (Kafka's validateOffsetCommit and the state
    /// checks of doCommitOffsets). A member's commit counts as hearing from it. A commit with
    /// generation -1 and no member is a simple (assign mode) consumer's or an admin's: it
    /// may commit to a group with no members only.
    pub(crate) fn check_commit(
        &mut self,
        group: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
        now: Now,
    ) -> Result<(), KafkaError> {
        self.touch(now);
        if group.is_empty() {
            return Err(KafkaError::InvalidGroupId);
        }
        let has_offsets = self.offsets.contains_key(group);
        let Some(group) = self.groups.get_mut(group) else {
            // Only offsets (or nothing): the group is Empty, or not known at all, in which case
            // a member's commit is from a generation this coordinator never had.
            return match (generation < 0, has_offsets) {
                (true, _) => Ok(()),
                (false, true) => Err(KafkaError::UnknownMemberId),
                (false, false) => Err(KafkaError::IllegalGeneration),
            };
        };
        commit_error(group, member_id, group_instance_id, generation, now)
    }
}

fn commit_error<R>(
    group: &mut Group<R>,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
    now: Now,
) -> Result<(), KafkaError> {
    if group.state == GroupState::Dead {
        return Err(KafkaError::CoordinatorNotAvailable);
    }
    if generation < 0 && group.state == GroupState::Empty {
        return Ok(());
    }
    if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        if let Some(error) = member_error(group, member_id, instance_id) {
            return Err(error);
        }
        if generation != group.generation {
            return Err(KafkaError::IllegalGeneration);
        }
    } else if group.state != GroupState::Empty {
        // Only members commit to a group that has them.
        return Err(KafkaError::UnknownMemberId);
    }
    match group.state {
        GroupState::CompletingRebalance => Err(KafkaError::RebalanceInProgress),
        GroupState::Stable | GroupState::PreparingRebalance => {
            if let Some(member) = group.members.get_mut(member_id) {
                member.renew(now.instant);
            }
            Ok(())
        }
        GroupState::Empty | GroupState::Dead => Ok(()),
    }
}

/// The leader's assignment by member: members it leaves out get an empty one, and entries
/// for ids that are not members are dropped.
fn leader_assignment<R>(
    group: &Group<R>,
    assignments: Vec<(String, Bytes)>,
) -> BTreeMap<String, Bytes> {
    let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
    let assignment: BTreeMap<String, Bytes> = group
        .members
        .keys()
        .map(|id| (id.clone(), given.remove(id).unwrap_or_default()))
        .collect();
    if !given.is_empty() {
        tracing::warn!(group = %group.id, unknown = ?given.keys().collect::<Vec<_>>(), "the leader assigned to members that are not in the group");
    }
    assignment
}
