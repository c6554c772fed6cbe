//! One seed's run: a random cluster configuration, a fault phase in which the seed picks
//! faults (crashes and restarts, cut links one way or both, slow and paused brokers, clock
//! jumps, dropped and duplicated messages) while the client produces and consumes, then a
//! healing phase in which the cluster must converge within a bound. Invariants are checked
//! after every step.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringlog_replication::BrokerId;

use crate::invariants::converged;
use crate::network::Node;
use crate::world::{SimConfig, World};

/// How long the seed injects faults, in simulated milliseconds.
pub(crate) const FAULT_PHASE_MS: u64 = 20_000;
/// How long the cluster has to converge once faults stop.
pub(crate) const CONVERGE_MAX_MS: u64 = 10_000;
/// At most this many brokers are down at once.
const DOWN_MAX: usize = 2;

/// What a seed's run found.
#[derive(Debug)]
pub(crate) struct Summary {
    pub steps: u64,
    pub acked: usize,
    pub unclean_elections: usize,
    /// DeleteRecords answered with success.
    pub deletions: usize,
    /// Idempotent producers' batches acknowledged, and the epochs they had to start anew.
    pub idempotent_acked: u64,
    pub epoch_bumps: u64,
}

/// The configuration a seed runs: mostly `min_insync_replicas = 2`, sometimes 1, and unclean
/// election now and then.
pub(crate) fn random_config(seed: u64) -> SimConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c0f1_9000_0000);
    let mut config = SimConfig::new(seed);
    config.brokers = if rng.random_range(0..4) == 0 { 4 } else { 3 };
    config.min_insync_replicas = if rng.random_range(0..4) == 0 { 1 } else { 2 };
    config.unclean_leader_election = rng.random_range(0..8) == 0;
    config
}

/// Runs one seed to the end; the error names the broken rule.
pub(crate) fn run(config: SimConfig) -> Result<Summary, String> {
    let mut world = World::new(config);
    while world.now() < FAULT_PHASE_MS {
        let next = world.now() + world.net.range(50, 600);
        world.run_until(next)?;
        inject_fault(&mut world);
    }
    heal(&mut world);
    let deadline = world.now() + CONVERGE_MAX_MS;
    loop {
        world.run_for(100)?;
        match converged::check(&world) {
            Ok(()) => break,
            Err(missing) if world.now() >= deadline => {
                return Err(format!(
                    "converged: {CONVERGE_MAX_MS} ms after the faults stopped the cluster has not \
                     converged: {missing}"
                ));
            }
            Err(_) => {}
        }
    }
    Ok(Summary {
        steps: world.steps,
        acked: world.history.acked.len(),
        unclean_elections: world.history.unclean_elections.len(),
        deletions: world.history.deletions.len(),
        idempotent_acked: world.client.idempotent.acknowledged,
        epoch_bumps: world.client.idempotent.epoch_bumps,
    })
}

/// Runs `config`, turning a panic (a state machine's broken invariant) into an error.
pub(crate) fn run_catching(config: SimConfig) -> Result<Summary, String> {
    match catch_unwind(AssertUnwindSafe(|| run(config))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(format!("panicked: {message}"))
        }
    }
}

/// Replays `seed` with the trace on and renders the failure: the seed, the rule, the last
/// steps, and how to replay it.
pub(crate) fn report(config: &SimConfig, error: &str) -> String {
    let mut traced = config.clone();
    traced.trace = true;
    let mut world = World::new(traced);
    // The replay fails again the same way; the trace is read whether it returns or panics.
    let _ = catch_unwind(AssertUnwindSafe(|| replay_into(&mut world)));
    let world_trace = world.trace.render();
    format!(
        "simulation seed {} failed ({config:?}):\n  {error}\nlast steps:\n{world_trace}\nreplay with RINGLOG_SIM_SEED={}",
        config.seed, config.seed
    )
}

fn replay_into(world: &mut World) -> Result<(), String> {
    while world.now() < FAULT_PHASE_MS {
        let next = world.now() + world.net.range(50, 600);
        world.run_until(next)?;
        inject_fault(world);
    }
    heal(world);
    let deadline = world.now() + CONVERGE_MAX_MS;
    while world.now() < deadline {
        world.run_for(100)?;
        if converged::check(world).is_ok() {
            break;
        }
    }
    Ok(())
}

fn inject_fault(world: &mut World) {
    let ids: Vec<BrokerId> = world.brokers.keys().copied().collect();
    let pick = world.net.range(0, ids.len() as u64 - 1) as usize;
    let broker = ids[pick];
    let other = ids[(pick + 1 + world.net.range(0, ids.len() as u64 - 2) as usize) % ids.len()];
    let down = world.brokers.values().filter(|b| !b.up).count();
    match world.net.range(0, 11) {
        0 | 1 if down < DOWN_MAX && world.brokers[&broker].up => world.crash(broker),
        0..=2 => {
            if let Some(id) = world.brokers.values().find(|b| !b.up).map(|b| b.id) {
                world.restart(id);
            }
        }
        3 => world.cut(Node::Broker(broker), Node::Broker(other), true),
        4 => world.cut(Node::Broker(broker), Node::Broker(other), false),
        5 => {
            let both_ways = world.net.range(0, 1) == 0;
            world.cut(Node::Broker(broker), Node::Controller, both_ways);
        }
        6 => world.isolate(Node::Broker(broker)),
        7 => world.heal_network(),
        8 => {
            let extra = world.net.range(20, 400);
            world.trace.record(world.now(), || {
                format!("FAULT broker {broker} slow by {extra} ms")
            });
            world.net.faults.slow.insert(Node::Broker(broker), extra);
        }
        9 => {
            let pause = world.net.range(100, 2_000);
            world.trace.record(world.now(), || {
                format!("FAULT pause broker {broker} for {pause} ms")
            });
            let b = world.brokers.get_mut(&broker).expect("known");
            b.frozen_until = b.frozen_until.max(world.net.now + pause);
        }
        10 => {
            let jump = world.net.range(0, 3_000) as i64 - 1_000;
            world.trace.record(world.now(), || {
                format!("FAULT broker {broker}'s clock jumps {jump} ms")
            });
            world.brokers.get_mut(&broker).expect("known").skew += jump;
        }
        _ => {
            let drop = world.net.range(0, 100) as u32;
            let duplicate = world.net.range(0, 50) as u32;
            world.trace.record(world.now(), || {
                format!("FAULT network drops {drop}‰, duplicates {duplicate}‰")
            });
            world.net.faults.drop_per_mille = drop;
            world.net.faults.duplicate_per_mille = duplicate;
        }
    }
}

/// Faults stop: the network heals, down brokers restart, the client stops producing. Paused
/// brokers resume when their pause ends (at most 2 s): ending it early would let events they
/// queued overtake ones they queue after, which no real disk or socket does.
pub(crate) fn heal(world: &mut World) {
    world.heal_network();
    world.client.producing = false;
    let ids: Vec<BrokerId> = world.brokers.keys().copied().collect();
    for id in ids {
        world.restart(id);
    }
}
