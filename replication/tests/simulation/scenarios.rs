//! The seeds' scenarios (../shared/seeds/: acks, ISR, `min_insync_replicas`, unclean leader
//! election) as named tests on a scripted cluster of three brokers and one partition (replicas
//! 1, 2, 3; broker 1 leads first). The faults are scripted; message delays still come from the
//! seed, and every invariant is still checked after every step.

use ringlog_replication::partition::Acks;
use ringlog_replication::{BrokerId, KafkaError, Offset};

use crate::invariants::converged;
use crate::network::Node;
use crate::world::{SimConfig, World};

const P: usize = 0;
const B1: BrokerId = BrokerId(1);
const B2: BrokerId = BrokerId(2);
const B3: BrokerId = BrokerId(3);

type Outcome = Result<(), String>;

struct Script {
    world: World,
}

impl Script {
    fn new(min_insync_replicas: u16, unclean_leader_election: bool) -> Script {
        let mut config = SimConfig::new(7);
        config.partitions = 1;
        config.min_insync_replicas = min_insync_replicas;
        config.unclean_leader_election = unclean_leader_election;
        config.trace = true;
        let mut world = World::new(config);
        world.client.producing = false;
        Script { world }
    }

    fn run_for(&mut self, ms: u64) -> Outcome {
        self.world.run_for(ms)
    }

    /// Runs until `done` holds, at most `max_ms`; says whether it came to hold.
    fn run_until(&mut self, max_ms: u64, done: impl Fn(&World) -> bool) -> Result<bool, String> {
        let deadline = self.world.now() + max_ms;
        while self.world.now() < deadline {
            if done(&self.world) {
                return Ok(true);
            }
            self.world.run_for(10)?;
        }
        Ok(done(&self.world))
    }

    /// Waits until the partition has an established leader the client knows of.
    fn settle(&mut self) -> Outcome {
        let settled = self.run_until(3_000, |w| {
            let leader = w.established_leader(P).map(|b| b.id);
            leader.is_some() && w.client.known_leader(P) == leader
        })?;
        settled
            .then_some(())
            .ok_or_else(|| "no leader the client knows".to_string())
    }

    fn leader(&self) -> Option<BrokerId> {
        self.world.controller.partition(P).leader()
    }

    fn isr(&self) -> Vec<BrokerId> {
        self.world.controller.partition(P).isr().to_vec()
    }

    /// Produces `count` records in one batch and waits for the answer (up to 3 s).
    fn produce(
        &mut self,
        acks: Acks,
        count: u64,
    ) -> Result<(Result<Offset, KafkaError>, Vec<u64>), String> {
        let (request, records) = self
            .world
            .client
            .produce(&mut self.world.net, P, acks, count);
        let answered = self.run_until(3_000, |w| w.client.results.contains_key(&request))?;
        if !answered {
            return Err(format!("produce {request} was never answered"));
        }
        Ok((self.world.client.results[&request], records))
    }

    /// Produces and requires success; returns the records' base offset.
    fn produce_ok(&mut self, acks: Acks, count: u64) -> Result<(Offset, Vec<u64>), String> {
        match self.produce(acks, count)? {
            (Ok(base), records) => Ok((base, records)),
            (Err(error), _) => Err(format!("produce failed with {}", error.name())),
        }
    }

    /// Deletes the partition's records up to `offset` (`None`: the high watermark) and waits
    /// for the answer (up to 3 s).
    fn delete_records(
        &mut self,
        offset: Option<u64>,
    ) -> Result<Result<Offset, KafkaError>, String> {
        let request = self
            .world
            .client
            .delete_records(&mut self.world.net, P, offset.map(Offset));
        let answered = self.run_until(3_000, |w| w.client.delete_results.contains_key(&request))?;
        if !answered {
            return Err(format!("delete {request} was never answered"));
        }
        Ok(self.world.client.delete_results[&request].1)
    }

    fn log_start(&self, broker: BrokerId) -> Offset {
        self.world.brokers[&broker].log(P).start
    }

    fn record_at(&self, broker: BrokerId, offset: u64) -> Option<u64> {
        self.world.brokers[&broker].log(P).record_at(Offset(offset))
    }

    fn converge(&mut self) -> Outcome {
        crate::runner::heal(&mut self.world);
        let converged = self.run_until(10_000, |w| converged::check(w).is_ok())?;
        converged
            .then_some(())
            .ok_or_else(|| converged::check(&self.world).expect_err("not converged"))
    }
}

fn run(scenario: impl FnOnce(&mut Script) -> Outcome, script: Script) {
    let mut script = script;
    if let Err(error) = scenario(&mut script) {
        panic!("{error}\nlast steps:\n{}", script.world.trace.render());
    }
}

#[test]
fn a_paused_follower_falls_out_of_the_isr_and_rejoins_after_it_resumes() {
    run(
        |s| {
            s.settle()?;
            s.produce_ok(Acks::All, 10)?;
            let b3 = s.world.brokers.get_mut(&B3).expect("broker 3");
            b3.frozen_until = s.world.net.now + 3_000;
            let out = s.run_until(2_500, |w| !w.controller.partition(P).isr().contains(&B3))?;
            assert!(out, "the paused follower stayed in the isr {:?}", s.isr());
            // Two replicas remain: acks=all still meets min_insync_replicas = 2.
            s.produce_ok(Acks::All, 10)?;
            let back = s.run_until(5_000, |w| w.controller.partition(P).isr().contains(&B3))?;
            assert!(back, "the follower did not rejoin: isr {:?}", s.isr());
            s.converge()
        },
        Script::new(2, false),
    );
}

#[test]
fn a_follower_that_stops_fetching_is_dropped_by_replica_lag_time_max_not_by_fencing() {
    run(
        |s| {
            s.settle()?;
            s.produce_ok(Acks::All, 5)?;
            // Broker 3 still heartbeats to the controller but cannot reach the leader.
            s.world.cut(Node::Broker(B3), Node::Broker(B1), true);
            s.run_until(2_000, |w| !w.controller.partition(P).isr().contains(&B3))?;
            assert_eq!(s.isr(), vec![B1, B2]);
            assert!(!s.world.controller.is_fenced(B3), "broker 3 was fenced");
            s.world.heal_network();
            let back = s.run_until(3_000, |w| w.controller.partition(P).isr().contains(&B3))?;
            assert!(back, "the follower did not rejoin: isr {:?}", s.isr());
            Ok(())
        },
        Script::new(2, false),
    );
}

/// The leader takes a record with acks=1 its followers never copy, then dies: a follower
/// leads, the record is gone, and the old leader truncates it when it returns.
#[test]
fn acks_one_loses_an_unreplicated_record_when_the_leader_dies() {
    run(
        |s| {
            s.settle()?;
            s.produce_ok(Acks::All, 5)?;
            s.world.cut(Node::Broker(B1), Node::Broker(B2), true);
            s.world.cut(Node::Broker(B1), Node::Broker(B3), true);
            let (offset, records) = s.produce_ok(Acks::Leader, 1)?;
            s.world.crash(B1);
            s.world.heal_network();
            let moved = s.run_until(3_000, |w| {
                w.established_leader(P).is_some_and(|b| b.id != B1)
            })?;
            assert!(moved, "no new leader");
            let leader = s.leader().expect("elected");
            assert_eq!(
                s.record_at(leader, offset.0),
                None,
                "the acks=1 record survived"
            );
            s.converge()?;
            assert_ne!(
                s.record_at(B1, offset.0),
                Some(records[0]),
                "the old leader kept the record the others never had"
            );
            Ok(())
        },
        Script::new(2, false),
    );
}

/// The same failure with acks=all: the record cannot be acknowledged while the followers
/// lack it, and everything acknowledged survives the leader's death.
#[test]
fn acks_all_with_min_insync_replicas_two_loses_nothing_when_the_leader_dies() {
    run(
        |s| {
            s.settle()?;
            let (offset, records) = s.produce_ok(Acks::All, 5)?;
            s.world.cut(Node::Broker(B1), Node::Broker(B2), true);
            s.world.cut(Node::Broker(B1), Node::Broker(B3), true);
            let (result, _) = s.produce(Acks::All, 1)?;
            let refused = [
                KafkaError::RequestTimedOut,
                KafkaError::NotEnoughReplicasAfterAppend,
                KafkaError::NotEnoughReplicas,
            ];
            assert!(
                result.as_ref().is_err_and(|e| refused.contains(e)),
                "an unreplicated acks=all record was acknowledged: {result:?}"
            );
            s.world.crash(B1);
            s.world.heal_network();
            s.converge()?;
            for (i, record) in records.iter().enumerate() {
                for broker in [B1, B2, B3] {
                    assert_eq!(s.record_at(broker, offset.0 + i as u64), Some(*record));
                }
            }
            Ok(())
        },
        Script::new(2, false),
    );
}

/// Why `min_insync_replicas` exists: with it at 1, a leader alone in the ISR acknowledges
/// acks=all, and losing that one replica loses the record (here through an unclean election).
/// With it at 2 the same produce is refused.
#[test]
fn an_isr_of_one_with_min_insync_replicas_one_can_lose_an_acks_all_record() {
    run(
        |s| {
            s.settle()?;
            s.world.crash(B2);
            s.world.crash(B3);
            s.run_until(3_000, |w| w.controller.partition(P).isr() == [B1])?;
            let (_, records) = s.produce_ok(Acks::All, 1)?;
            s.world.crash(B1);
            s.world.restart(B2);
            let elected = s.run_until(3_000, |w| w.controller.partition(P).leader() == Some(B2))?;
            assert!(elected, "no unclean election");
            let unclean = &s.world.history.unclean_elections;
            assert_eq!(unclean.len(), 1);
            assert_eq!(unclean[0].leader, B2);
            assert_eq!(unclean[0].lost, records, "the loss was not reported");
            Ok(())
        },
        Script::new(1, true),
    );
    run(
        |s| {
            s.settle()?;
            s.world.crash(B2);
            s.world.crash(B3);
            s.run_until(3_000, |w| w.controller.partition(P).isr() == [B1])?;
            s.run_for(200)?;
            let (result, _) = s.produce(Acks::All, 1)?;
            assert_eq!(result, Err(KafkaError::NotEnoughReplicas));
            Ok(())
        },
        Script::new(2, false),
    );
}

/// The seeds' example: offsets 0-100 are on every replica; with replicas 2 and 3 down the
/// leader alone takes 100-200; then it dies and replica 2, which has only 0-100, comes back.
fn offsets_100_to_200(s: &mut Script) -> Result<(Vec<u64>, Vec<u64>), String> {
    s.settle()?;
    let mut first = Vec::new();
    for _ in 0..10 {
        first.extend(s.produce_ok(Acks::All, 10)?.1);
    }
    s.run_for(500)?;
    s.world.crash(B2);
    s.world.crash(B3);
    s.run_until(3_000, |w| w.controller.partition(P).isr() == [B1])?;
    let mut second = Vec::new();
    for _ in 0..10 {
        let (base, records) = s.produce_ok(Acks::All, 10)?;
        assert!(base.0 >= 100, "the second hundred starts at {base}");
        second.extend(records);
    }
    s.world.crash(B1);
    s.world.restart(B2);
    Ok((first, second))
}

#[test]
fn the_offsets_100_to_200_example_without_unclean_election_waits_and_loses_nothing() {
    run(
        |s| {
            let (first, second) = offsets_100_to_200(s)?;
            s.run_for(3_000)?;
            assert_eq!(s.leader(), None, "an out-of-sync replica was elected");
            let (result, _) = s.produce(Acks::Leader, 1)?;
            assert!(result.is_err(), "an offline partition took a produce");
            s.world.restart(B1);
            s.converge()?;
            assert_eq!(s.leader(), Some(B1));
            for (offset, record) in first.iter().chain(&second).enumerate() {
                for broker in [B1, B2, B3] {
                    assert_eq!(s.record_at(broker, offset as u64), Some(*record));
                }
            }
            Ok(())
        },
        Script::new(1, false),
    );
}

#[test]
fn the_offsets_100_to_200_example_with_unclean_election_diverges_truncation_repairs_the_old_leader_and_the_loss_is_reported()
 {
    run(
        |s| {
            let (first, second) = offsets_100_to_200(s)?;
            let elected = s.run_until(3_000, |w| {
                w.established_leader(P).is_some_and(|b| b.id == B2)
            })?;
            assert!(elected, "no unclean election");
            let unclean = s.world.history.unclean_elections.clone();
            assert_eq!(unclean.len(), 1);
            assert_eq!(
                unclean[0].lost, second,
                "the lost records were not all reported"
            );
            s.settle()?;
            let mut third = Vec::new();
            for _ in 0..10 {
                third.extend(s.produce_ok(Acks::All, 10)?.1);
            }
            s.world.restart(B1);
            s.converge()?;
            let log: Vec<u64> = first.iter().chain(&third).copied().collect();
            for broker in [B1, B2, B3] {
                let held: Vec<u64> = s.world.brokers[&broker]
                    .log(P)
                    .records()
                    .map(|(_, r)| r)
                    .collect();
                assert_eq!(
                    held, log,
                    "broker {broker} does not hold the new leader's log"
                );
            }
            Ok(())
        },
        Script::new(1, true),
    );
}

#[test]
fn an_acknowledged_delete_is_on_every_isr_replica_and_survives_its_leaders_crash() {
    run(
        |s| {
            s.settle()?;
            s.produce_ok(Acks::All, 10)?;
            s.produce_ok(Acks::All, 10)?;
            let low = s.delete_records(Some(15))?;
            assert_eq!(
                low,
                Ok(Offset(15)),
                "the delete is answered with the low watermark"
            );
            for broker in s.isr() {
                assert!(
                    s.log_start(broker) >= Offset(15),
                    "broker {broker} starts earlier"
                );
            }
            let old = s.leader().expect("a leader");
            s.world.crash(old);
            let moved = s.run_until(3_000, |w| {
                w.established_leader(P).is_some_and(|b| b.id != old)
            })?;
            assert!(moved, "no new leader");
            s.settle()?;
            let new = s.leader().expect("a leader");
            assert!(
                s.log_start(new) >= Offset(15),
                "the deletion came back on {new}"
            );
            assert_eq!(
                s.delete_records(Some(21))?,
                Err(KafkaError::OffsetOutOfRange)
            );
            s.converge()
        },
        Script::new(2, false),
    );
}

#[test]
fn a_follower_behind_a_deleted_start_restarts_there_and_rejoins() {
    run(
        |s| {
            s.settle()?;
            s.produce_ok(Acks::All, 5)?;
            // Broker 3 is cut off while the leader moves on and deletes past its log end.
            let leader = s.leader().expect("a leader");
            let lagging = [B1, B2, B3]
                .into_iter()
                .find(|&b| b != leader)
                .expect("a follower");
            s.world.isolate(Node::Broker(lagging));
            let out = s.run_until(3_000, |w| {
                !w.controller.partition(P).isr().contains(&lagging)
            })?;
            assert!(out, "the cut follower stayed in the isr");
            s.produce_ok(Acks::All, 10)?;
            s.produce_ok(Acks::All, 10)?;
            // Inside the second batch of 10 (offsets 15..25): a start no batch begins at.
            assert_eq!(s.delete_records(Some(19))?, Ok(Offset(19)));
            s.world.heal_network();
            let back = s.run_until(5_000, |w| {
                w.controller.partition(P).isr().contains(&lagging)
            })?;
            assert!(back, "the follower did not rejoin: isr {:?}", s.isr());
            assert!(s.log_start(lagging) >= Offset(19));
            assert_eq!(s.record_at(lagging, 24), s.record_at(leader, 24));
            s.converge()
        },
        Script::new(2, false),
    );
}
