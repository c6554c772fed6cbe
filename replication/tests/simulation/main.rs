//! Deterministic simulation of ringlog's replication protocol: the code the broker runs (the
//! [`PartitionDriver`](ringlog_replication::driver::PartitionDriver) stepping a
//! [`Replica`](ringlog_replication::partition::Replica) and carrying out its intents, for every
//! partition on every broker, and the controller's
//! [`ClusterMetadata`](ringlog_replication::controller::ClusterMetadata)) run against model
//! disks and a model network, with faults, from one seed that reproduces any run.
//!
//! | file            | owns                                                                  |
//! |-----------------|-----------------------------------------------------------------------|
//! | `world.rs`      | the cluster, its messages and events, the step loop, fault hooks      |
//! | `network.rs`    | the clock, the event queue, delays, drops, duplicates, cut links       |
//! | `broker.rs`     | a broker: one partition driver per partition, long polls, the network |
//! | `disk.rs`       | a model log under the driver: batches of unique records, durable up to a point |
//! | `controller.rs` | the controller model over the real `ClusterMetadata`                   |
//! | `client.rs`     | a producer (acks 0/1/all) and a consumer per partition                 |
//! | `idempotent.rs` | an idempotent producer per partition that retries what was not acknowledged |
//! | `invariants/`   | one rule per file, checked after every step; `converged` for liveness  |
//! | `runner.rs`     | a seed's run: random faults, then healing and convergence              |
//! | `scenarios.rs`  | the seeds' (source notes') scenarios as named tests                    |
//!
//! `RINGLOG_SIM_SEEDS=n` runs n random seeds (default 10,000) from `RINGLOG_SIM_FIRST_SEED`
//! (default 0); `RINGLOG_SIM_SEED=s` replays one.
//! A failure prints its seed, the broken rule and a trace of the last steps.

mod broker;
mod client;
mod controller;
mod disk;
mod idempotent;
mod invariants;
mod network;
mod runner;
mod scenarios;
mod world;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use world::SimConfig;

const SEEDS_DEFAULT: u64 = 10_000;

/// The seeds to run: one replayed, or the first n.
fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("RINGLOG_SIM_SEED") {
        return vec![seed.parse().expect("RINGLOG_SIM_SEED is a number")];
    }
    let count: u64 = std::env::var("RINGLOG_SIM_SEEDS")
        .map(|n| n.parse().expect("RINGLOG_SIM_SEEDS is a number"))
        .unwrap_or(SEEDS_DEFAULT);
    let first: u64 = std::env::var("RINGLOG_SIM_FIRST_SEED")
        .map(|n| n.parse().expect("RINGLOG_SIM_FIRST_SEED is a number"))
        .unwrap_or(0);
    (first..first + count).collect()
}

/// What the seeds that passed did, summed.
#[derive(Default)]
struct Totals {
    steps: u64,
    acked: u64,
    unclean_elections: u64,
    deletions: u64,
    idempotent_acked: u64,
    epoch_bumps: u64,
}

/// Runs `configs` on every core; returns the totals of the seeds that passed and the first
/// failure (lowest seed).
fn run_all(configs: Vec<SimConfig>, stop_at_first: bool) -> (Totals, Option<(SimConfig, String)>) {
    let next = AtomicU64::new(0);
    let failure: Mutex<Option<(SimConfig, String)>> = Mutex::new(None);
    let totals = Mutex::new(Totals::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(config) = configs.get(index) else {
                        break;
                    };
                    if stop_at_first && failure.lock().expect("not poisoned").is_some() {
                        break;
                    }
                    match runner::run_catching(config.clone()) {
                        Ok(summary) => {
                            let mut totals = totals.lock().expect("not poisoned");
                            totals.steps += summary.steps;
                            totals.acked += summary.acked as u64;
                            totals.unclean_elections += summary.unclean_elections as u64;
                            totals.deletions += summary.deletions as u64;
                            totals.idempotent_acked += summary.idempotent_acked;
                            totals.epoch_bumps += summary.epoch_bumps;
                        }
                        Err(error) => {
                            let mut first = failure.lock().expect("not poisoned");
                            if first.as_ref().is_none_or(|(c, _)| c.seed > config.seed) {
                                *first = Some((config.clone(), error));
                            }
                        }
                    }
                }
            });
        }
    });
    let totals = totals.into_inner().expect("not poisoned");
    (totals, failure.into_inner().expect("not poisoned"))
}

#[test]
fn random_seeds_keep_every_invariant_and_converge() {
    let configs: Vec<SimConfig> = seeds().into_iter().map(runner::random_config).collect();
    let count = configs.len();
    let (totals, failure) = run_all(configs, false);
    if let Some((config, error)) = failure {
        panic!("{}", runner::report(&config, &error));
    }
    eprintln!(
        "simulation: {count} seeds, {} steps, {} produces acknowledged ({} from idempotent \
         producers retrying, {} new epochs), {} DeleteRecords acknowledged, {} unclean \
         elections; every invariant held and every seed converged",
        totals.steps,
        totals.acked,
        totals.idempotent_acked,
        totals.epoch_bumps,
        totals.deletions,
        totals.unclean_elections
    );
}

#[test]
fn the_simulator_catches_followers_truncating_to_their_high_watermark() {
    let configs: Vec<SimConfig> = (0..SEEDS_DEFAULT)
        .map(|seed| {
            let mut config = runner::random_config(seed);
            config.unclean_leader_election = false;
            config.broken_truncation = true;
            config
        })
        .collect();
    let (_, failure) = run_all(configs, true);
    let (config, error) = failure.expect(
        "with followers truncating to their high watermark, no seed broke an invariant: the \
         simulator cannot tell the broken protocol from the right one",
    );
    eprintln!("the broken variant fails at seed {}: {error}", config.seed);
    let safety = [
        "acked_records_are_never_lost",
        "committed_prefixes_agree",
        "consumers_never_see_records_vanish",
        "high_watermark_is_within_the_isr",
    ];
    assert!(
        safety.iter().any(|rule| error.starts_with(rule)),
        "the broken variant failed for another reason: {error}"
    );
}

#[test]
fn the_simulator_catches_leaders_appending_an_idempotent_producers_retries_again() {
    let configs: Vec<SimConfig> = (0..SEEDS_DEFAULT)
        .map(|seed| {
            let mut config = runner::random_config(seed);
            config.broken_idempotence = true;
            config
        })
        .collect();
    let (_, failure) = run_all(configs, true);
    let (config, error) = failure.expect(
        "with leaders appending retried batches again, no seed broke an invariant: the \
         simulator does not exercise the idempotent producer",
    );
    eprintln!("the broken variant fails at seed {}: {error}", config.seed);
    assert!(
        error.starts_with("idempotent_records_appear_once_in_send_order"),
        "the broken variant failed for another reason: {error}"
    );
}

#[test]
fn the_simulator_catches_a_driver_applying_a_new_state_during_appends() {
    let configs: Vec<SimConfig> = (0..SEEDS_DEFAULT)
        .map(|seed| {
            let mut config = runner::random_config(seed);
            config.broken_driver = true;
            config
        })
        .collect();
    let (_, failure) = run_all(configs, true);
    let (config, error) = failure.expect(
        "with the partition driver applying a new state while appends are pending, no seed \
         broke an invariant: the simulator does not exercise the broker's partition driver",
    );
    eprintln!("the broken driver fails at seed {}: {error}", config.seed);
}
