//! JoinGroup (Kafka's handleJoinGroup): a new member (given an id, perhaps told to rejoin with
//! it first), a pending member rejoining, a static member coming back under a new id, and a
//! known member rejoining in each state.

use ringlog_replication::KafkaError;

use super::api::{Effect, JoinOutcome, JoinRequest};
use super::coordinator::{Coordinator, Pending, rename_member};
use super::member::Member;
use super::state::Group;
use super::{GroupState, Now};

impl<R> Coordinator<R> {
    /// A JoinGroup. Its answer comes back as an [`Effect::Join`] carrying `reply`: at once
    /// (refusals, MEMBER_ID_REQUIRED, a follower of a Stable group) or when the rebalance
    /// completes.
    pub(crate) fn join(&mut self, request: JoinRequest, reply: R, now: Now) -> Vec<Effect<R>> {
        self.touch(now);
        let mut effects = Vec::new();
        if let Err(error) = self.join_checks(&request) {
            effects.push(Effect::Join(
                reply,
                JoinOutcome::error(&request.member_id, error),
            ));
            return effects;
        }
        let id = request.group_id.clone();
        if !self.groups.contains_key(&id) {
            self.groups
                .insert(id.clone(), Group::new(id.clone(), now.wall_ms));
        }
        let group = &self.groups[&id];
        if !self.accepts(group, &request.member_id) {
            self.groups
                .get_mut(&id)
                .expect("just seen")
                .remove(&request.member_id);
            let outcome = JoinOutcome::error("", KafkaError::GroupMaxSizeReached);
            effects.push(Effect::Join(reply, outcome));
        } else if !group.supports(&request.protocol_type, &request.protocols) {
            let outcome =
                JoinOutcome::error(&request.member_id, KafkaError::InconsistentGroupProtocol);
            effects.push(Effect::Join(reply, outcome));
        } else if request.member_id.is_empty() {
            self.join_new(request, reply, now, &mut effects);
        } else {
            self.join_known(request, reply, now, &mut effects);
        }
        if self.groups[&id].state == GroupState::PreparingRebalance {
            self.try_complete_join(&id, now, &mut effects);
        }
        self.check_invariants();
        effects
    }

    /// The checks before any group is touched: the group id, the session timeout's bounds,
    /// and that a member id names a known group.
    fn join_checks(&self, request: &JoinRequest) -> Result<(), KafkaError> {
        if request.group_id.is_empty() {
            return Err(KafkaError::InvalidGroupId);
        }
        let timeout = request.session_timeout;
        if timeout < self.config.min_session_timeout || timeout > self.config.max_session_timeout {
            return Err(KafkaError::InvalidSessionTimeout);
        }
        if !request.member_id.is_empty() && !self.groups.contains_key(&request.group_id) {
            return Err(KafkaError::UnknownMemberId);
        }
        Ok(())
    }

    /// Whether the group has room for `member_id` (Kafka's acceptJoiningMember): while
    /// preparing, the members that rejoined count, so the last to rejoin are the ones left out
    /// when the limit was lowered.
    fn accepts(&self, group: &Group<R>, member_id: &str) -> bool {
        let Some(max) = self.config.max_size else {
            return true;
        };
        match group.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                let rejoined = group
                    .members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some());
                rejoined || group.awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.members.contains_key(member_id) || group.members.len() < max
            }
        }
    }

    fn join_new(&mut self, request: JoinRequest, reply: R, now: Now, effects: &mut Vec<Effect<R>>) {
        let name = request
            .group_instance_id
            .clone()
            .unwrap_or_else(|| request.client_id.clone());
        let member_id = self.new_member_id(&name);
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("created by join");
        match &request.group_instance_id {
            Some(instance_id) => match group.static_members.get(instance_id).cloned() {
                Some(old_id) => self.rejoin_static(request, old_id, member_id, reply, now, effects),
                None => self.add_member_and_rebalance(&request, member_id, reply, now, effects),
            },
            None if request.require_known_member_id => {
                // KIP-394: the member is told its id and rejoins with it, so that a client
                // whose JoinGroup times out does not leave a member behind.
                group
                    .pending
                    .insert(member_id.clone(), now.instant + request.session_timeout);
                let outcome = JoinOutcome::error(&member_id, KafkaError::MemberIdRequired);
                effects.push(Effect::Join(reply, outcome));
            }
            None => self.add_member_and_rebalance(&request, member_id, reply, now, effects),
        }
    }

    fn join_known(
        &mut self,
        request: JoinRequest,
        reply: R,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("checked by join");
        if group.pending.contains_key(&request.member_id) {
            if request.group_instance_id.is_some() {
                // Pending ids are only given to dynamic members.
                let outcome = JoinOutcome::error(&request.member_id, KafkaError::InvalidRequest);
                effects.push(Effect::Join(reply, outcome));
                return;
            }
            let member_id = request.member_id.clone();
            self.add_member_and_rebalance(&request, member_id, reply, now, effects);
            return;
        }
        let member_id = request.member_id.as_str();
        if let Some(error) = member_error(group, member_id, request.group_instance_id.as_deref()) {
            effects.push(Effect::Join(reply, JoinOutcome::error(member_id, error)));
            return;
        }
        let member = &group.members[member_id];
        let unchanged = member.matches(&request.protocols);
        match group.state {
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged
                    && !(group.state == GroupState::Stable && group.is_leader(member_id)) =>
            {
                // The member lost the answer, or a follower of a Stable group asks again: the
                // current generation as it is, no rebalance.
                let outcome = current_generation(group, member_id);
                let member = group.members.get_mut(member_id).expect("validated");
                member.renew(now.instant);
                effects.push(Effect::Join(reply, outcome));
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => {
                // A leader of a Stable group rejoining asks for a new assignment (its metadata
                // may not show why, a topic's partitions changing say).
                let id = request.group_id.clone();
                update_member(group, &request, reply, effects);
                self.maybe_prepare_rebalance(&id, now, effects);
            }
            GroupState::Empty | GroupState::Dead => {
                effects.push(Effect::Join(
                    reply,
                    JoinOutcome::error(member_id, KafkaError::UnknownMemberId),
                ));
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        request: &JoinRequest,
        member_id: String,
        reply: R,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let id = request.group_id.clone();
        let group = self.groups.get_mut(&id).expect("joining a known group");
        let member = Member::joining(member_id, request, reply, now.instant);
        group.add(member, &request.protocol_type);
        if let Some(timer) = group.join_timer.as_mut()
            && timer.initial_remaining.is_some()
        {
            timer.new_member_added = true;
        }
        self.maybe_prepare_rebalance(&id, now, effects);
    }

    /// A known static member joining without its member id (it restarted): it takes a new id
    /// and the old one is fenced. A Stable group whose protocol would not change keeps its
    /// generation: the new id is stored and the member gets the current assignment back.
    fn rejoin_static(
        &mut self,
        request: JoinRequest,
        old_id: String,
        new_id: String,
        reply: R,
        now: Now,
        effects: &mut Vec<Effect<R>>,
    ) {
        let id = request.group_id.clone();
        let group = self.groups.get_mut(&id).expect("joining a known group");
        fence(group, &old_id, effects);
        rename_member(group, &old_id, &new_id);
        let member = group.members.get_mut(&new_id).expect("renamed");
        let old_protocols = std::mem::replace(&mut member.protocols, request.protocols.clone());
        let old_timeouts = (member.session_timeout, member.rebalance_timeout);
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.awaiting_join = Some(reply);
        member.renew(now.instant);
        match group.state {
            GroupState::Stable if group.select_protocol() == group.protocol => {
                let pending = Pending::StaticRejoin {
                    group: id.clone(),
                    generation: group.generation,
                    new_id,
                    old_id,
                    old_protocols,
                    old_timeouts,
                };
                let records = [self.group_record(&id, None)];
                effects.push(self.persist(&records, pending, now));
            }
            // The old id may already be in the leader's assignment: a rebalance hands out one
            // that names the new id.
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(&id, now, effects);
            }
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
    }
}

/// Why `member_id` (with `instance_id`) is not a current member of `group`, if it is not
/// (Kafka's validateCurrentMember): an instance id held by another member id is fenced.
pub(super) fn member_error<R>(
    group: &Group<R>,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<KafkaError> {
    if let Some(instance_id) = instance_id {
        return match group.static_members.get(instance_id) {
            Some(current) if current != member_id => Some(KafkaError::FencedInstanceId),
            Some(_) => None,
            None => Some(KafkaError::UnknownMemberId),
        };
    }
    (!group.members.contains_key(member_id)).then_some(KafkaError::UnknownMemberId)
}

/// The current generation's JoinGroup answer for `member_id`.
fn current_generation<R>(group: &Group<R>, member_id: &str) -> JoinOutcome {
    JoinOutcome {
        error: None,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if group.is_leader(member_id) {
            group.joined_members()
        } else {
            Vec::new()
        },
    }
}

/// Takes the member's new protocols and timeouts and parks its JoinGroup; a JoinGroup it
/// already had parked is superseded (its client gave up on it) and told to rejoin.
fn update_member<R>(
    group: &mut Group<R>,
    request: &JoinRequest,
    reply: R,
    effects: &mut Vec<Effect<R>>,
) {
    let member = group
        .members
        .get_mut(&request.member_id)
        .expect("validated");
    member.protocols = request.protocols.clone();
    member.session_timeout = request.session_timeout;
    member.rebalance_timeout = request.rebalance_timeout;
    if let Some(previous) = member.awaiting_join.replace(reply) {
        let outcome = JoinOutcome::error(&member.id, KafkaError::RebalanceInProgress);
        effects.push(Effect::Join(previous, outcome));
    }
}

/// The requests parked under a static member's old id are answered FENCED_INSTANCE_ID: a
/// newer instance took its place.
fn fence<R>(group: &mut Group<R>, old_id: &str, effects: &mut Vec<Effect<R>>) {
    let member = group.members.get_mut(old_id).expect("a static member");
    if let Some(reply) = member.awaiting_join.take() {
        effects.push(Effect::Join(
            reply,
            JoinOutcome::error(old_id, KafkaError::FencedInstanceId),
        ));
    }
    if let Some(reply) = member.awaiting_sync.take() {
        let outcome = super::api::SyncOutcome::error(KafkaError::FencedInstanceId);
        effects.push(Effect::Sync(reply, outcome));
    }
}
