//! A property test: random joins, syncs, heartbeats, leaves, appends answered or failed, and
//! time passing, for a few clients of one group (one of them static). After every step:
//! - the group's own rules hold (one leader, a member; a join timer exactly while preparing);
//! - the generation never decreases;
//! - every member of a Stable group has the generation's assignment;
//! - no reply token is answered twice.
//!
//! At the end the clients stop, appends are answered and time runs past every timeout: every
//! parked JoinGroup and SyncGroup has been answered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use ringlog_replication::KafkaError;

use super::member::tests::subscription;
use super::*;

const CLIENTS: usize = 4;
/// Client 3 is static.
const STATIC_CLIENT: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Leave(usize),
    /// Answer the oldest append in flight: stored, or failed.
    Persisted(bool),
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..CLIENTS).prop_map(Step::Join),
        3 => (0..CLIENTS).prop_map(Step::Sync),
        2 => (0..CLIENTS).prop_map(Step::Heartbeat),
        1 => (0..CLIENTS).prop_map(Step::Leave),
        2 => any::<bool>().prop_map(Step::Persisted),
        2 => (0u64..40).prop_map(Step::Advance),
    ]
}

/// What a client knows: its member id, the generation it joined, and the members it leads.
#[derive(Clone, Debug, Default)]
struct Client {
    member_id: String,
    generation: i32,
    led: Vec<String>,
}

struct World {
    coordinator: Coordinator<u32>,
    now: Now,
    clients: Vec<Client>,
    next_reply: u32,
    /// Replies parked and not yet answered.
    open: BTreeSet<u32>,
    answered: BTreeSet<u32>,
    /// Which client each open reply belongs to.
    owner: BTreeMap<u32, usize>,
    persists: Vec<PersistToken>,
    generation: i32,
}

impl World {
    fn new() -> World {
        let config = GroupConfig {
            initial_rebalance_delay: Duration::from_secs(3),
            ..GroupConfig::default()
        };
        World {
            coordinator: Coordinator::with_member_id_prefix(config, 1),
            now: Now {
                instant: Instant::now(),
                wall_ms: 0,
            },
            clients: vec![Client::default(); CLIENTS],
            next_reply: 0,
            open: BTreeSet::new(),
            answered: BTreeSet::new(),
            owner: BTreeMap::new(),
            persists: Vec::new(),
            generation: 0,
        }
    }

    fn reply(&mut self, client: usize) -> u32 {
        self.next_reply += 1;
        self.open.insert(self.next_reply);
        self.owner.insert(self.next_reply, client);
        self.next_reply
    }

    fn run(&mut self, step: &Step) {
        let effects = match *step {
            Step::Join(client) => {
                let request = self.join_request(client);
                let reply = self.reply(client);
                self.coordinator.join(request, reply, self.now)
            }
            Step::Sync(client) => {
                let request = self.sync_request(client);
                let reply = self.reply(client);
                self.coordinator.sync(request, reply, self.now)
            }
            Step::Heartbeat(client) => {
                let c = &self.clients[client];
                let request = HeartbeatRequest {
                    group_id: "g".to_string(),
                    generation: c.generation,
                    member_id: c.member_id.clone(),
                    group_instance_id: instance(client),
                };
                let _ = self.coordinator.heartbeat(request, self.now);
                Vec::new()
            }
            Step::Leave(client) => {
                let request = LeaveRequest {
                    group_id: "g".to_string(),
                    members: vec![LeavingMember {
                        member_id: self.clients[client].member_id.clone(),
                        group_instance_id: instance(client),
                        reason: None,
                    }],
                };
                self.coordinator.leave(request, self.now).1
            }
            Step::Persisted(stored) => match self.persists.first().copied() {
                Some(token) => {
                    self.persists.remove(0);
                    let result = if stored {
                        Ok(())
                    } else {
                        Err(KafkaError::NotEnoughReplicas)
                    };
                    self.coordinator.persisted(token, result, self.now)
                }
                None => Vec::new(),
            },
            Step::Advance(seconds) => {
                self.now = self.now.after(Duration::from_secs(seconds));
                self.coordinator.tick(self.now)
            }
        };
        self.take(effects);
        self.check();
    }

    fn join_request(&self, client: usize) -> JoinRequest {
        let c = &self.clients[client];
        JoinRequest {
            group_id: "g".to_string(),
            member_id: c.member_id.clone(),
            group_instance_id: instance(client),
            client_id: format!("c{client}"),
            client_host: "/127.0.0.1".to_string(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(20),
            protocol_type: "consumer".to_string(),
            protocols: vec![("range".to_string(), subscription(&["orders"]))],
            require_known_member_id: true,
            reason: None,
        }
    }

    fn sync_request(&self, client: usize) -> SyncRequest {
        let c = &self.clients[client];
        let assignment = Bytes::from(format!("gen{}", c.generation));
        SyncRequest {
            group_id: "g".to_string(),
            generation: c.generation,
            member_id: c.member_id.clone(),
            group_instance_id: instance(client),
            protocol_type: None,
            protocol_name: None,
            assignments: c
                .led
                .iter()
                .map(|m| (m.clone(), assignment.clone()))
                .collect(),
        }
    }

    fn take(&mut self, effects: Vec<Effect<u32>>) {
        for effect in effects {
            let reply = match effect {
                Effect::Persist { token, .. } => {
                    self.persists.push(token);
                    continue;
                }
                Effect::Join(reply, outcome) => {
                    self.learn(reply, &outcome);
                    reply
                }
                Effect::Sync(reply, _) => reply,
            };
            assert!(
                self.open.remove(&reply),
                "reply {reply} answered twice or never asked"
            );
            assert!(self.answered.insert(reply));
        }
    }

    fn learn(&mut self, reply: u32, outcome: &JoinOutcome) {
        let client = &mut self.clients[self.owner[&reply]];
        match outcome.error {
            None => {
                client.member_id = outcome.member_id.clone();
                client.generation = outcome.generation;
                client.led = outcome
                    .members
                    .iter()
                    .map(|m| m.member_id.clone())
                    .collect();
            }
            Some(KafkaError::MemberIdRequired) => client.member_id = outcome.member_id.clone(),
            Some(KafkaError::UnknownMemberId | KafkaError::FencedInstanceId) => {
                *client = Client::default();
            }
            Some(_) => {}
        }
    }

    fn check(&mut self) {
        self.coordinator.check_invariants();
        let Some(group) = self.coordinator.groups.get("g") else {
            // Gone (an Empty group without offsets is dropped at a retention check, as in
            // Kafka): a group of the same name starts over.
            self.generation = 0;
            return;
        };
        group.check_invariants();
        assert!(group.generation >= self.generation, "generation went back");
        self.generation = group.generation;
        if group.state == GroupState::Stable {
            let expected = Bytes::from(format!("gen{}", group.generation));
            for member in group.members.values() {
                assert_eq!(member.assignment, expected, "member {}", member.id);
            }
        }
    }

    /// The clients stop; appends are answered and time runs past every timeout.
    fn drain(&mut self) {
        for _ in 0..200 {
            while let Some(token) = self.persists.first().copied() {
                self.persists.remove(0);
                let effects = self.coordinator.persisted(token, Ok(()), self.now);
                self.take(effects);
            }
            if self.open.is_empty() {
                break;
            }
            self.now = self.now.after(Duration::from_secs(30));
            let effects = self.coordinator.tick(self.now);
            self.take(effects);
            self.check();
        }
        assert!(
            self.open.is_empty(),
            "replies never answered: {:?}",
            self.open
        );
    }
}

fn instance(client: usize) -> Option<String> {
    (client == STATIC_CLIENT).then(|| "static-1".to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_coordinators_rules_hold_at_every_step(steps in proptest::collection::vec(step(), 1..120)) {
        let mut world = World::new();
        for step in &steps {
            world.run(step);
        }
        world.drain();
    }
}

/// The world's clients do reach a Stable group (so the property above checks Stable groups,
/// not only groups that never get there): join twice (MEMBER_ID_REQUIRED first), wait out the
/// initial delay, sync, store.
#[test]
fn the_worlds_clients_reach_a_stable_group() {
    let mut world = World::new();
    let steps = [
        Step::Join(0),
        Step::Join(0),
        Step::Join(STATIC_CLIENT),
        Step::Advance(3),
        Step::Advance(3),
        Step::Sync(STATIC_CLIENT),
        Step::Sync(0),
        Step::Persisted(true),
    ];
    for step in &steps {
        world.run(step);
    }
    let group = &world.coordinator.groups["g"];
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.members.len(), 2);
    world.drain();
}
