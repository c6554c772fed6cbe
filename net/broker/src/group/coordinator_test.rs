//! The coordinator's rules, one test per rule: each drives a [`Coordinator`] with plain reply
//! ids and asserts the exact answers and appends a step returns.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ringlog_engine::{LeaderEpoch, Log, LogConfig, Offset};
use ringlog_replication::KafkaError;

use super::member::tests::subscription;
use super::*;
use crate::offsets::{Commit, Committed};

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);
const DELAY: Duration = Duration::from_secs(3);

type Effects = Vec<Effect<u32>>;

struct Harness {
    coordinator: Coordinator<u32>,
    now: Now,
    next_reply: u32,
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay: DELAY,
        offsets_retention: Duration::from_secs(3600),
        offsets_retention_check_interval: Duration::from_secs(60),
        ..GroupConfig::default()
    }
}

fn request(member_id: &str, client: &str) -> JoinRequest {
    JoinRequest {
        group_id: "g".to_string(),
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: client.to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), subscription(&["orders"]))],
        require_known_member_id: true,
        reason: None,
    }
}

fn joins(effects: &Effects) -> Vec<(u32, JoinOutcome)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Join(reply, outcome) => Some((*reply, outcome.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(effects: &Effects) -> Vec<(u32, SyncOutcome)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Sync(reply, outcome) => Some((*reply, outcome.clone())),
            _ => None,
        })
        .collect()
}

fn persists(effects: &Effects) -> Vec<PersistToken> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist { token, .. } => Some(*token),
            _ => None,
        })
        .collect()
}

impl Harness {
    fn new() -> Harness {
        Harness::with(config())
    }

    fn with(config: GroupConfig) -> Harness {
        Harness {
            coordinator: Coordinator::with_member_id_prefix(config, 7),
            now: Now {
                instant: Instant::now(),
                wall_ms: 1_700_000_000_000,
            },
            next_reply: 0,
        }
    }

    fn reply(&mut self) -> u32 {
        self.next_reply += 1;
        self.next_reply
    }

    fn join(&mut self, request: JoinRequest) -> (u32, Effects) {
        let reply = self.reply();
        (reply, self.coordinator.join(request, reply, self.now))
    }

    /// A new member's id, through MEMBER_ID_REQUIRED.
    fn member_id(&mut self, client: &str) -> String {
        let (reply, effects) = self.join(request("", client));
        let answers = joins(&effects);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, reply);
        assert_eq!(answers[0].1.error, Some(KafkaError::MemberIdRequired));
        answers[0].1.member_id.clone()
    }

    fn advance(&mut self, elapsed: Duration) -> Effects {
        self.now = self.now.after(elapsed);
        self.coordinator.tick(self.now)
    }

    /// Time passes, a delay at a time, until the initial rebalance answers its joins (each
    /// member after the first extends it once).
    fn complete_initial(&mut self) -> Effects {
        for _ in 0..10 {
            let effects = self.advance(DELAY);
            if !joins(&effects).is_empty() {
                return effects;
            }
        }
        panic!("the initial rebalance never completed");
    }

    fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> (u32, Effects) {
        let reply = self.reply();
        let request = SyncRequest {
            group_id: "g".to_string(),
            generation,
            member_id: member_id.to_string(),
            group_instance_id: None,
            protocol_type: Some("consumer".to_string()),
            protocol_name: Some("range".to_string()),
            assignments,
        };
        (reply, self.coordinator.sync(request, reply, self.now))
    }

    fn heartbeat(&mut self, member_id: &str, generation: i32) -> Result<(), KafkaError> {
        let request = HeartbeatRequest {
            group_id: "g".to_string(),
            generation,
            member_id: member_id.to_string(),
            group_instance_id: None,
        };
        self.coordinator.heartbeat(request, self.now)
    }

    fn state(&self) -> GroupState {
        self.coordinator.describe("g").state
    }

    /// A Stable group of `clients` (the first is leader), each assigned its own name.
    fn stable(&mut self, clients: &[&str]) -> (i32, Vec<String>) {
        let ids: Vec<String> = clients.iter().map(|c| self.member_id(c)).collect();
        for (id, client) in ids.iter().zip(clients) {
            let (_, effects) = self.join(request(id, client));
            assert!(
                joins(&effects).is_empty(),
                "parked during the initial delay"
            );
        }
        let effects = self.complete_initial();
        let answered = joins(&effects);
        assert_eq!(answered.len(), ids.len());
        let generation = answered[0].1.generation;
        let leader = answered[0].1.leader.clone();
        assert_eq!(leader, ids[0], "the first member leads");
        let assignments = ids
            .iter()
            .map(|id| (id.clone(), Bytes::from(id.clone())))
            .collect();
        let (_, effects) = self.sync(&leader, generation, assignments);
        let token = persists(&effects)[0];
        for id in &ids[1..] {
            self.sync(id, generation, Vec::new());
        }
        let effects = self.coordinator.persisted(token, Ok(()), self.now);
        assert_eq!(syncs(&effects).len(), ids.len());
        assert_eq!(self.state(), GroupState::Stable);
        (generation, ids)
    }
}

#[test]
fn a_new_member_is_told_its_id_and_parks_when_it_rejoins() {
    let mut h = Harness::new();
    let id = h.member_id("client");
    assert!(id.starts_with("client-"), "{id}");
    assert_eq!(h.state(), GroupState::Empty);
    let (reply, effects) = h.join(request(&id, "client"));
    assert!(effects.is_empty());
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let effects = h.advance(DELAY);
    let answered = joins(&effects);
    assert_eq!(answered.len(), 1);
    let (to, outcome) = &answered[0];
    assert_eq!(*to, reply);
    assert_eq!(outcome.error, None);
    assert_eq!(
        (outcome.generation, outcome.leader.as_str()),
        (1, id.as_str())
    );
    assert_eq!(outcome.protocol_name.as_deref(), Some("range"));
    assert_eq!(outcome.members.len(), 1, "the leader sees every member");
    assert_eq!(h.state(), GroupState::CompletingRebalance);
}

#[test]
fn without_require_known_member_id_a_member_is_added_at_once() {
    let mut h = Harness::new();
    let mut join = request("", "old-client");
    join.require_known_member_id = false;
    let (_, effects) = h.join(join);
    assert!(effects.is_empty(), "parked, not MEMBER_ID_REQUIRED");
    let answered = joins(&h.advance(DELAY));
    assert_eq!(answered.len(), 1);
    assert!(answered[0].1.member_id.starts_with("old-client-"));
}

#[test]
fn the_initial_delay_is_extended_by_each_new_member_up_to_the_rebalance_timeout() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    h.join(request(&a, "a"));
    h.advance(Duration::from_secs(2));
    let b = h.member_id("b");
    h.join(request(&b, "b"));
    // The first delay ends with b new: another delay, though everyone has joined.
    assert!(joins(&h.advance(Duration::from_secs(1))).is_empty());
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let answered = joins(&h.advance(DELAY));
    assert_eq!(answered.len(), 2);
    assert!(answered.iter().all(|(_, o)| o.generation == 1));
}

#[test]
fn the_protocol_is_the_most_voted_of_those_every_member_supports() {
    let mut h = Harness::new();
    let metadata = |names: &[&str]| -> Vec<(String, Bytes)> {
        names
            .iter()
            .map(|n| (n.to_string(), subscription(&["orders"])))
            .collect()
    };
    let preferences: [&[&str]; 3] = [
        &["sticky", "range"],
        &["range", "sticky"],
        &["range", "sticky"],
    ];
    for (i, protocols) in preferences.iter().enumerate() {
        let client = format!("c{i}");
        let id = h.member_id(&client);
        let mut join = request(&id, &client);
        join.protocols = metadata(protocols);
        h.join(join);
    }
    let answered = joins(&h.complete_initial());
    assert_eq!(answered.len(), 3);
    assert!(
        answered
            .iter()
            .all(|(_, o)| o.protocol_name.as_deref() == Some("range"))
    );
    // A member with no protocol in common, or another protocol type, is refused.
    let mut odd = request("", "odd");
    odd.protocols = metadata(&["roundrobin"]);
    let (_, effects) = h.join(odd);
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::InconsistentGroupProtocol)
    );
    let mut connect = request("", "connect");
    connect.protocol_type = "connect".to_string();
    let (_, effects) = h.join(connect);
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::InconsistentGroupProtocol)
    );
}

#[test]
fn joins_are_checked_before_anything_changes() {
    let mut h = Harness::new();
    let mut short = request("", "c");
    short.session_timeout = Duration::from_secs(1);
    let (_, effects) = h.join(short);
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::InvalidSessionTimeout)
    );
    let mut nameless = request("", "c");
    nameless.group_id = String::new();
    let (_, effects) = h.join(nameless);
    assert_eq!(joins(&effects)[0].1.error, Some(KafkaError::InvalidGroupId));
    let (_, effects) = h.join(request("made-up", "c"));
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::UnknownMemberId)
    );
    assert_eq!(h.state(), GroupState::Dead, "no group was made");
}

#[test]
fn the_group_max_size_refuses_a_member_past_it() {
    let mut h = Harness::with(GroupConfig {
        max_size: Some(1),
        ..config()
    });
    h.stable(&["a"]);
    let (_, effects) = h.join(request("", "b"));
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::GroupMaxSizeReached)
    );
}

#[test]
fn syncs_wait_for_the_leader_and_its_append() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    let b = h.member_id("b");
    let c = h.member_id("c");
    for (id, client) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        h.join(request(id, client));
    }
    let generation = joins(&h.complete_initial())[0].1.generation;
    let (b_reply, effects) = h.sync(&b, generation, Vec::new());
    assert!(effects.is_empty(), "a follower waits for the leader");
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
    ];
    let (a_reply, effects) = h.sync(&a, generation, assignments);
    let tokens = persists(&effects);
    assert_eq!(tokens.len(), 1, "the assignment is appended first");
    assert!(syncs(&effects).is_empty());
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let effects = h.coordinator.persisted(tokens[0], Ok(()), h.now);
    let mut answered = syncs(&effects);
    answered.sort_by_key(|(reply, _)| *reply);
    assert_eq!(answered.len(), 2);
    assert_eq!(
        (answered[0].0, answered[0].1.assignment.as_ref()),
        (b_reply, &b"B"[..])
    );
    assert_eq!(
        (answered[1].0, answered[1].1.assignment.as_ref()),
        (a_reply, &b"A"[..])
    );
    assert_eq!(h.state(), GroupState::Stable);
    // c, left out by the leader, syncs late: an empty assignment at once.
    let (_, effects) = h.sync(&c, generation, Vec::new());
    let late = syncs(&effects);
    assert_eq!(late[0].1.error, None);
    assert!(late[0].1.assignment.is_empty());
}

#[test]
fn a_failed_append_fails_every_waiting_sync_and_the_group_rebalances() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    let b = h.member_id("b");
    h.join(request(&a, "a"));
    h.join(request(&b, "b"));
    let generation = joins(&h.complete_initial())[0].1.generation;
    h.sync(&b, generation, Vec::new());
    let (_, effects) = h.sync(&a, generation, vec![(a.clone(), Bytes::from_static(b"A"))]);
    let token = persists(&effects)[0];
    let effects = h
        .coordinator
        .persisted(token, Err(KafkaError::NotLeaderOrFollower), h.now);
    let answered = syncs(&effects);
    assert_eq!(answered.len(), 2);
    assert!(
        answered
            .iter()
            .all(|(_, o)| o.error == Some(KafkaError::NotCoordinator))
    );
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

#[test]
fn heartbeats_answer_by_state() {
    let mut h = Harness::new();
    assert_eq!(h.heartbeat("x", 1), Err(KafkaError::UnknownMemberId));
    let a = h.member_id("a");
    h.join(request(&a, "a"));
    assert_eq!(h.heartbeat(&a, 0), Err(KafkaError::RebalanceInProgress));
    let generation = joins(&h.complete_initial())[0].1.generation;
    assert_eq!(h.heartbeat(&a, generation), Ok(()), "CompletingRebalance");
    assert_eq!(
        h.heartbeat(&a, generation + 1),
        Err(KafkaError::IllegalGeneration)
    );
    assert_eq!(
        h.heartbeat("stranger", generation),
        Err(KafkaError::UnknownMemberId)
    );
    let (_, effects) = h.sync(&a, generation, Vec::new());
    h.coordinator
        .persisted(persists(&effects)[0], Ok(()), h.now);
    assert_eq!(h.heartbeat(&a, generation), Ok(()), "Stable");
}

#[test]
fn an_expired_session_removes_the_member_and_the_group_rebalances() {
    let mut h = Harness::new();
    let (generation, ids) = h.stable(&["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    h.advance(Duration::from_secs(6));
    assert_eq!(h.heartbeat(b, generation), Ok(()));
    h.advance(Duration::from_secs(5));
    assert_eq!(
        h.state(),
        GroupState::PreparingRebalance,
        "a's session ran out"
    );
    assert_eq!(h.heartbeat(a, generation), Err(KafkaError::UnknownMemberId));
    let (reply, effects) = h.join(request(b, "b"));
    let answered = joins(&effects);
    assert_eq!(answered.len(), 1, "b was the last to rejoin");
    assert_eq!(answered[0].0, reply);
    assert_eq!(answered[0].1.generation, generation + 1);
    assert_eq!(&answered[0].1.leader, b, "the leader passed to b");
}

#[test]
fn the_rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (generation, ids) = h.stable(&["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    // The leader rejoining starts a rebalance; b only heartbeats.
    let (a_reply, effects) = h.join(request(a, "a"));
    assert!(effects.is_empty());
    for _ in 0..5 {
        h.advance(Duration::from_secs(5));
        assert_eq!(
            h.heartbeat(b, generation),
            Err(KafkaError::RebalanceInProgress)
        );
    }
    let answered = joins(&h.advance(Duration::from_secs(5)));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].0, a_reply);
    assert_eq!(answered[0].1.members.len(), 1, "b is gone");
    assert_eq!(
        h.heartbeat(b, generation + 1),
        Err(KafkaError::UnknownMemberId)
    );
}

#[test]
fn members_that_never_sync_are_removed_and_the_group_rebalances() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    let b = h.member_id("b");
    h.join(request(&a, "a"));
    h.join(request(&b, "b"));
    let generation = joins(&h.complete_initial())[0].1.generation;
    let (b_reply, _) = h.sync(&b, generation, Vec::new());
    // The leader never syncs.
    let effects = h.advance(REBALANCE);
    let answered = syncs(&effects);
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].0, b_reply);
    assert_eq!(answered[0].1.error, Some(KafkaError::RebalanceInProgress));
    assert_eq!(h.coordinator.describe("g").members.len(), 1);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

fn static_request(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.to_string()),
        ..request(member_id, "static")
    }
}

#[test]
fn a_static_member_rejoining_takes_a_new_id_fences_the_old_and_keeps_the_generation() {
    let mut h = Harness::new();
    let (_, effects) = h.join(static_request("", "i-1"));
    assert!(
        effects.is_empty(),
        "static members join without MEMBER_ID_REQUIRED"
    );
    let answered = joins(&h.complete_initial());
    let (old_id, generation) = (answered[0].1.member_id.clone(), answered[0].1.generation);
    let (_, effects) = h.sync(
        &old_id,
        generation,
        vec![(old_id.clone(), Bytes::from_static(b"P"))],
    );
    h.coordinator
        .persisted(persists(&effects)[0], Ok(()), h.now);
    // The process restarts and joins with its instance id alone.
    let (reply, effects) = h.join(static_request("", "i-1"));
    let tokens = persists(&effects);
    assert_eq!(tokens.len(), 1, "the new id is stored before the answer");
    assert!(joins(&effects).is_empty());
    let answered = joins(&h.coordinator.persisted(tokens[0], Ok(()), h.now));
    assert_eq!(answered[0].0, reply);
    let outcome = &answered[0].1;
    assert_eq!(outcome.generation, generation, "no rebalance");
    assert_ne!(outcome.member_id, old_id);
    assert_eq!(h.state(), GroupState::Stable);
    let old = HeartbeatRequest {
        group_id: "g".to_string(),
        generation,
        member_id: old_id.clone(),
        group_instance_id: Some("i-1".to_string()),
    };
    assert_eq!(
        h.coordinator.heartbeat(old, h.now),
        Err(KafkaError::FencedInstanceId)
    );
    let (_, effects) = h.sync(&outcome.member_id, generation, Vec::new());
    assert_eq!(
        syncs(&effects)[0].1.assignment.as_ref(),
        b"P",
        "its assignment is kept"
    );
}

/// Kafka (JoinGroup before v9, and ringlog at every version) answers a static leader that
/// rejoins a Stable group with the leader id as it was, its old member id: the member does
/// not take itself for the leader, so it runs no assignment that the Stable group would not
/// hand out (with no members' metadata to run it on).
#[test]
fn a_static_leader_rejoining_a_stable_group_is_not_told_it_leads() {
    let mut h = Harness::new();
    h.join(static_request("", "i-1"));
    let answered = joins(&h.complete_initial());
    let (old_id, generation) = (answered[0].1.member_id.clone(), answered[0].1.generation);
    assert_eq!(answered[0].1.leader, old_id, "the only member leads");
    let (_, effects) = h.sync(&old_id, generation, Vec::new());
    h.coordinator
        .persisted(persists(&effects)[0], Ok(()), h.now);
    let (reply, effects) = h.join(static_request("", "i-1"));
    let answered = joins(
        &h.coordinator
            .persisted(persists(&effects)[0], Ok(()), h.now),
    );
    assert_eq!(answered[0].0, reply);
    let outcome = &answered[0].1;
    assert_eq!(outcome.generation, generation);
    assert_eq!(outcome.leader, old_id, "the leader as it was");
    assert_ne!(outcome.leader, outcome.member_id);
    assert!(outcome.members.is_empty());
}

#[test]
fn a_static_member_rejoining_with_other_protocols_rebalances() {
    let mut h = Harness::new();
    h.join(static_request("", "i-1"));
    let answered = joins(&h.complete_initial());
    let (id, generation) = (answered[0].1.member_id.clone(), answered[0].1.generation);
    let (_, effects) = h.sync(&id, generation, Vec::new());
    h.coordinator
        .persisted(persists(&effects)[0], Ok(()), h.now);
    let mut changed = static_request("", "i-1");
    changed.protocols = vec![
        ("sticky".to_string(), subscription(&["orders"])),
        ("range".to_string(), subscription(&["orders"])),
    ];
    let (_, effects) = h.join(changed);
    let answered = joins(&effects);
    assert_eq!(
        answered.len(),
        1,
        "the only member rejoined: the rebalance completes"
    );
    assert_eq!(answered[0].1.generation, generation + 1);
    assert_eq!(answered[0].1.protocol_name.as_deref(), Some("sticky"));
}

#[test]
fn leave_answers_each_member_and_rebalances() {
    let mut h = Harness::new();
    let (generation, ids) = h.stable(&["a", "b"]);
    let leave = LeaveRequest {
        group_id: "g".to_string(),
        members: vec![
            LeavingMember {
                member_id: ids[0].clone(),
                group_instance_id: None,
                reason: Some("closing".to_string()),
            },
            LeavingMember {
                member_id: "stranger".to_string(),
                group_instance_id: None,
                reason: None,
            },
            LeavingMember {
                member_id: ids[1].clone(),
                group_instance_id: Some("not-its".to_string()),
                reason: None,
            },
        ],
    };
    let (answers, _) = h.coordinator.leave(leave, h.now);
    assert_eq!(
        answers,
        vec![
            None,
            Some(KafkaError::UnknownMemberId),
            Some(KafkaError::UnknownMemberId)
        ]
    );
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat(&ids[1], generation),
        Err(KafkaError::RebalanceInProgress)
    );
}

#[test]
fn commits_are_checked_by_state_member_and_generation() {
    let mut h = Harness::new();
    let check = |h: &mut Harness, member: &str, generation: i32| {
        let now = h.now;
        h.coordinator
            .check_commit("g", member, None, generation, now)
    };
    assert_eq!(check(&mut h, "", -1), Ok(()), "assign mode, unknown group");
    assert_eq!(check(&mut h, "m", 1), Err(KafkaError::IllegalGeneration));
    let a = h.member_id("a");
    h.join(request(&a, "a"));
    let generation = joins(&h.complete_initial())[0].1.generation;
    assert_eq!(
        check(&mut h, &a, generation),
        Err(KafkaError::RebalanceInProgress)
    );
    let (_, effects) = h.sync(&a, generation, Vec::new());
    h.coordinator
        .persisted(persists(&effects)[0], Ok(()), h.now);
    assert_eq!(check(&mut h, &a, generation), Ok(()));
    assert_eq!(
        check(&mut h, "", -1),
        Err(KafkaError::UnknownMemberId),
        "a group with members"
    );
    assert_eq!(
        check(&mut h, &a, generation - 1),
        Err(KafkaError::IllegalGeneration)
    );
    assert_eq!(
        check(&mut h, "b", generation),
        Err(KafkaError::UnknownMemberId)
    );
    // b's pending id holds the rebalance open once the leader rejoins.
    let _pending = h.member_id("b");
    h.join(request(&a, "a"));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        check(&mut h, &a, generation),
        Ok(()),
        "preparing takes the current generation"
    );
}

fn commit(group: &str, topic: &str, partition: u32, offset: u64) -> Commit {
    Commit {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
        committed: Committed {
            offset: Offset(offset),
            leader_epoch: Some(LeaderEpoch(1)),
            metadata: None,
        },
    }
}

#[test]
fn describe_and_list_show_groups_as_kafka_does() {
    let mut h = Harness::new();
    let (_, ids) = h.stable(&["a", "b"]);
    let described = h.coordinator.describe("g");
    assert_eq!(
        (described.state.name(), described.protocol.as_str()),
        ("Stable", "range")
    );
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.members.len(), 2);
    let a = described
        .members
        .iter()
        .find(|m| m.member_id == ids[0])
        .unwrap();
    assert_eq!(a.assignment, Bytes::from(ids[0].clone()));
    assert_eq!(a.metadata, subscription(&["orders"]));
    let unknown = h.coordinator.describe("nope");
    assert_eq!(
        (unknown.state, unknown.members.len()),
        (GroupState::Dead, 0)
    );
    h.coordinator
        .apply_commits(vec![commit("simple", "t", 0, 5)], h.now.wall_ms);
    let all = h.coordinator.list(&[]);
    let names: Vec<(&str, &str)> = all
        .iter()
        .map(|l| (l.group_id.as_str(), l.state.name()))
        .collect();
    assert_eq!(names, vec![("g", "Stable"), ("simple", "Empty")]);
    let empty = h.coordinator.list(&[GroupState::parse("empty").unwrap()]);
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].group_id, "simple");
}

#[test]
fn only_a_group_without_members_is_deleted_with_its_offsets() {
    let mut h = Harness::new();
    h.stable(&["a"]);
    h.coordinator.apply_commits(
        vec![commit("g", "t", 0, 5), commit("other", "t", 0, 1)],
        h.now.wall_ms,
    );
    assert_eq!(
        h.coordinator.delete_group("g", h.now),
        Err(KafkaError::NonEmptyGroup)
    );
    assert_eq!(
        h.coordinator.delete_group("nope", h.now),
        Err(KafkaError::GroupIdNotFound)
    );
    let Ok(Effect::Persist { records, .. }) = h.coordinator.delete_group("other", h.now) else {
        panic!("an Empty group is deleted");
    };
    let mut replayed = record::Replayed::default();
    let (key, value) = crate::offsets::encode(&commit("other", "t", 0, 1));
    replayed.apply_batches(&record::batch(&[(key, Some(value))], 0));
    replayed.apply_batches(&records);
    assert!(
        replayed.offsets.is_empty(),
        "the tombstones delete the commit"
    );
    assert!(h.coordinator.offsets("other", None).is_empty());
    assert_eq!(h.coordinator.describe("other").state, GroupState::Dead);
}

#[test]
fn offsets_of_subscribed_topics_are_not_deleted() {
    let mut h = Harness::new();
    h.stable(&["a"]);
    h.coordinator.apply_commits(
        vec![commit("g", "orders", 0, 5), commit("g", "payments", 0, 7)],
        h.now.wall_ms,
    );
    let partitions = [("orders".to_string(), 0), ("payments".to_string(), 0)];
    let (answers, effect) = h
        .coordinator
        .delete_offsets("g", &partitions, h.now)
        .unwrap();
    assert_eq!(answers[0].2, Some(KafkaError::GroupSubscribedToTopic));
    assert_eq!(answers[1].2, None);
    assert!(matches!(effect, Some(Effect::Persist { .. })));
    let left = h.coordinator.committed("g");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "orders");
    assert_eq!(
        h.coordinator.delete_offsets("nope", &partitions, h.now),
        Err(KafkaError::GroupIdNotFound)
    );
}

#[test]
fn offsets_expire_after_the_retention() {
    let mut h = Harness::new();
    let (generation, ids) = h.stable(&["a"]);
    h.coordinator
        .apply_commits(vec![commit("g", "orders", 0, 5)], h.now.wall_ms);
    h.coordinator
        .apply_commits(vec![commit("simple", "orders", 0, 5)], h.now.wall_ms);
    let mut effects = Vec::new();
    for _ in 0..720 {
        effects.extend(h.advance(Duration::from_secs(5)));
        assert_eq!(h.heartbeat(&ids[0], generation), Ok(()));
    }
    assert_eq!(persists(&effects).len(), 1, "one batch of tombstones");
    assert!(
        h.coordinator.committed("simple").is_empty(),
        "a simple consumer's commit expired"
    );
    assert_eq!(
        h.coordinator.committed("g").len(),
        1,
        "a Stable group keeps its offsets"
    );
    // The member stops: once Empty for the retention, the group and its offsets go.
    h.advance(Duration::from_secs(20));
    assert_eq!(h.state(), GroupState::Empty);
    h.advance(Duration::from_secs(1800));
    assert_eq!(
        h.coordinator.committed("g").len(),
        1,
        "not Empty long enough"
    );
    h.advance(Duration::from_secs(1800));
    assert!(h.coordinator.committed("g").is_empty());
    assert_eq!(h.state(), GroupState::Dead);
}

#[test]
fn a_stable_group_and_its_offsets_come_back_from_the_log() {
    let mut h = Harness::new();
    let (generation, ids) = h.stable(&["a", "b"]);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let mut appended = Vec::new();
    // Replay what the coordinator asked to append: the group record of the last sync.
    let (_, effects) = h.sync(&ids[0], generation, Vec::new());
    assert!(
        persists(&effects).is_empty(),
        "a Stable group's sync appends nothing"
    );
    let group_record = h.coordinator.group_record("g", None);
    appended.push(record::batch(&[group_record], h.now.wall_ms));
    appended.push(
        h.coordinator
            .commit_records(&[commit("g", "orders", 0, 42)], h.now.wall_ms),
    );
    for batch in appended {
        log.append(&mut batch.to_vec(), LeaderEpoch(0)).unwrap();
    }
    log.close().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let mut loader = record::Loader::new(&log);
    assert!(loader.step(&log, u64::MAX).unwrap());
    let mut loaded = Coordinator::<u32>::load(config(), loader, h.now);
    let described = loaded.describe("g");
    assert_eq!(described.state, GroupState::Stable);
    assert_eq!(described.members.len(), 2);
    let offsets = loaded.offsets("g", Some(vec![("orders".to_string(), vec![0, 1])]));
    assert_eq!(offsets["orders"][0].1.as_ref().unwrap().offset, Offset(42));
    assert_eq!(offsets["orders"][1].1, None);
    // b goes on heartbeating with its generation; a died while the coordinator moved.
    let heartbeat = |member: &str| HeartbeatRequest {
        group_id: "g".to_string(),
        generation,
        member_id: member.to_string(),
        group_instance_id: None,
    };
    let later = h.now.after(Duration::from_secs(6));
    assert_eq!(loaded.heartbeat(heartbeat(&ids[1]), later), Ok(()));
    loaded.tick(h.now.after(SESSION));
    assert_eq!(loaded.describe("g").state, GroupState::PreparingRebalance);
    assert_eq!(loaded.describe("g").members.len(), 1);
}

#[test]
fn unloading_answers_every_parked_request() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    let (reply, _) = h.join(request(&a, "a"));
    let effects = h.coordinator.unload();
    let answered = joins(&effects);
    assert_eq!(answered.len(), 1);
    assert_eq!(
        (answered[0].0, answered[0].1.error),
        (reply, Some(KafkaError::NotCoordinator))
    );
}

#[test]
fn a_pending_member_that_never_rejoins_is_forgotten() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    h.advance(SESSION);
    let (_, effects) = h.join(request(&a, "a"));
    assert_eq!(
        joins(&effects)[0].1.error,
        Some(KafkaError::UnknownMemberId)
    );
}

#[test]
fn the_next_deadline_is_the_earliest_timer() {
    let mut h = Harness::new();
    let a = h.member_id("a");
    let pending_until = h.now.instant + SESSION;
    assert_eq!(h.coordinator.next_deadline(), Some(pending_until));
    h.join(request(&a, "a"));
    assert_eq!(
        h.coordinator.next_deadline(),
        Some(h.now.instant + DELAY),
        "the initial delay"
    );
    let start = h.now.instant;
    h.complete_initial();
    // Completing: the member's session and its sync deadline.
    assert_eq!(h.coordinator.next_deadline(), Some(start + DELAY + SESSION));
    assert!(h.advance(SESSION - Duration::from_millis(1)).is_empty());
    assert_eq!(
        h.state(),
        GroupState::CompletingRebalance,
        "nothing due before the deadline"
    );
}
