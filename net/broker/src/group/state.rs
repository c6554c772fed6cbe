//! One group: its state, generation, protocol, leader and members, and the timers of the
//! rebalance under way. The membership bookkeeping lives here; what a request or a timer does
//! with it is the coordinator's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::GroupState;
use super::api::JoinedMember;
use super::member::{Member, subscribed_topics};

/// The protocol type of Kafka's consumers, whose subscriptions the coordinator reads.
pub(super) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// When a PreparingRebalance completes at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct JoinTimer {
    pub deadline: Instant,
    /// Set while the group waits out its initial delay (rebalancing from Empty, Kafka's
    /// InitialDelayedJoin): how much of the rebalance timeout is left to extend it by. Until
    /// then, the rebalance does not complete early when everyone has joined.
    pub initial_remaining: Option<Duration>,
    /// A member joined during the current delay: the delay is extended once it runs out.
    pub new_member_added: bool,
}

/// One group of a coordinator.
#[derive(Debug)]
pub(super) struct Group<R> {
    pub id: String,
    pub state: GroupState,
    /// When the state began, ms since the Unix epoch: retention counts an Empty group's age
    /// from it.
    pub state_since_ms: i64,
    pub generation: i32,
    /// Set by the first member; kept while the group is Empty (as Kafka).
    pub protocol_type: Option<String>,
    /// The generation's protocol; `None` while Empty.
    pub protocol: Option<String>,
    /// `Some` exactly when the group has members, and then one of them.
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member<R>>,
    /// Static members: instance id to member id.
    pub static_members: BTreeMap<String, String>,
    /// Member ids given with MEMBER_ID_REQUIRED, and when they are forgotten unless they join.
    pub pending: BTreeMap<String, Instant>,
    /// Members that got this generation's JoinGroup answer and have not synced yet.
    pub pending_sync: BTreeSet<String>,
    /// Set exactly while PreparingRebalance.
    pub join_timer: Option<JoinTimer>,
    /// When the members still in `pending_sync` are removed (Kafka's DelayedSync).
    pub sync_deadline: Option<Instant>,
    /// The leader's assignment being appended, if one is.
    pub persisting: Option<super::api::PersistToken>,
    /// The topics a consumer group's members subscribe to; `None` when not known (another
    /// protocol type, or a subscription that does not parse).
    pub subscribed: Option<BTreeSet<String>>,
}

impl<R> Group<R> {
    pub(super) fn new(id: String, now_ms: i64) -> Group<R> {
        Group {
            id,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_timer: None,
            sync_deadline: None,
            persisting: None,
            subscribed: None,
        }
    }

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Adds `member`, of `protocol_type` (checked by [`Group::supports`]): the first member
    /// sets the group's protocol type and becomes leader.
    pub(super) fn add(&mut self, member: Member<R>, protocol_type: &str) {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.to_string());
        }
        if let Some(instance_id) = &member.instance_id {
            let previous = self
                .static_members
                .insert(instance_id.clone(), member.id.clone());
            assert!(previous.is_none(), "instance {instance_id} added twice");
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes `member_id`, returning it; the leader passes to the first member left.
    pub(super) fn remove(&mut self, member_id: &str) -> Option<Member<R>> {
        self.pending.remove(member_id);
        self.pending_sync.remove(member_id);
        let member = self.members.remove(member_id)?;
        if let Some(instance_id) = &member.instance_id {
            self.static_members.remove(instance_id);
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// Whether a member of `protocol_type` supporting `protocols` may join: the type must be
    /// the group's and one protocol supported by every member (Kafka's supportsProtocols).
    pub(super) fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.supports(name)))
    }

    /// The protocol every member supports that most members prefer; ties go to the protocol
    /// whose first vote came first in member order (Kafka's tie is a hash map's order).
    /// `None` without members.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: BTreeSet<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in self.members.values() {
            let vote = member
                .vote(&candidates)
                .expect("joins keep a protocol in common");
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, count)) => *count += 1,
                None => votes.push((vote, 1)),
            }
        }
        let most = votes.iter().map(|(_, count)| *count).max()?;
        let (name, _) = votes.iter().find(|(_, count)| *count == most)?;
        Some(name.to_string())
    }

    /// The longest rebalance timeout of the members (Kafka's group.rebalanceTimeoutMs).
    pub(super) fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Every member has rejoined and no MEMBER_ID_REQUIRED member is still to come.
    pub(super) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    pub(super) fn awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    /// Keeps the leader if it rejoined, else makes the first member that did leader. False if
    /// no member rejoined (Kafka's maybeElectNewJoinedLeader).
    pub(super) fn elect_joined_leader(&mut self) -> bool {
        let rejoined = |group: &Group<R>, id: &str| {
            group
                .members
                .get(id)
                .is_some_and(|m| m.awaiting_join.is_some())
        };
        if let Some(leader) = &self.leader
            && rejoined(self, leader)
        {
            return true;
        }
        let joined = self
            .members
            .values()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.id.clone());
        match joined {
            Some(id) => {
                self.leader = Some(id);
                true
            }
            None => false,
        }
    }

    /// The members as the leader's JoinGroup answer lists them.
    pub(super) fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// The topics the members subscribe to, for a consumer group with a protocol (Kafka's
    /// computeSubscribedTopics); `None` when not known.
    pub(super) fn compute_subscribed(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(subscribed_topics(&member.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Whether the group is subscribed to `topic`; true when that is not known, to be safe.
    pub(super) fn subscribed_to(&self, topic: &str) -> bool {
        self.subscribed.as_ref().is_none_or(|t| t.contains(topic))
    }

    /// The group's rules, checked after every change in debug builds and by the tests.
    pub(super) fn check_invariants(&self) {
        let id = &self.id;
        assert_eq!(
            self.leader.is_some(),
            !self.members.is_empty(),
            "group {id}: leader {:?} with {} members",
            self.leader,
            self.members.len()
        );
        if let Some(leader) = &self.leader {
            assert!(
                self.members.contains_key(leader),
                "group {id}: leader {leader} not a member"
            );
        }
        for (instance_id, member_id) in &self.static_members {
            let member = self.members.get(member_id);
            assert!(
                member.is_some_and(|m| m.instance_id.as_ref() == Some(instance_id)),
                "group {id}: instance {instance_id} maps to {member_id}, not a member with it"
            );
        }
        let statics = self.members.values().filter(|m| m.instance_id.is_some());
        assert_eq!(statics.count(), self.static_members.len(), "group {id}");
        assert_eq!(
            self.join_timer.is_some(),
            self.state == GroupState::PreparingRebalance,
            "group {id}: join timer in {:?}",
            self.state
        );
        self.check_state_invariants();
    }

    fn check_state_invariants(&self) {
        let id = &self.id;
        match self.state {
            GroupState::Empty => {
                assert!(self.members.is_empty(), "group {id}: Empty with members");
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                assert!(
                    !self.members.is_empty(),
                    "group {id}: {:?} without members",
                    self.state
                );
                assert!(self.protocol.is_some(), "group {id}: no protocol");
            }
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
        let syncing = self.members.values().filter(|m| m.awaiting_sync.is_some());
        if self.state != GroupState::CompletingRebalance {
            assert_eq!(
                syncing.count(),
                0,
                "group {id}: syncs parked in {:?}",
                self.state
            );
        }
        for member in &self.pending_sync {
            assert!(
                self.members.contains_key(member),
                "group {id}: pending sync {member}"
            );
        }
    }
}
