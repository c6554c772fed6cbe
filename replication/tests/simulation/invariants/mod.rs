//! The rules the cluster must keep, one file each, named for the rule. Every one is checked
//! after every step of the simulation; [`converged`] is the liveness check once faults stop.
//!
//! Rules about what was committed hold only while the partition has had no unclean election:
//! an unclean election is the documented trade of those records for availability, and
//! [`crate::world::History::unclean_elections`] reports what it cost.

pub(crate) mod acked_records_are_never_lost;
pub(crate) mod acknowledged_deletions_stay;
pub(crate) mod acks_all_needs_min_insync_replicas;
pub(crate) mod committed_prefixes_agree;
pub(crate) mod consumers_never_see_records_vanish;
pub(crate) mod converged;
pub(crate) mod high_watermark_is_monotonic_and_within_the_isr;
pub(crate) mod idempotent_records_appear_once_in_send_order;
pub(crate) mod leader_epochs_only_grow;
pub(crate) mod log_start_is_within_the_committed_log;

use std::collections::BTreeMap;

use ringlog_replication::{BrokerId, LeaderEpoch, Offset};

use crate::world::{PartitionIndex, World};

/// What the invariants remember from one step to the next.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// Per partition, the committed records by offset, as the first replica to commit each
    /// one had it.
    pub committed: Vec<Vec<u64>>,
    /// The high watermark each leader last reported, with the epoch it led in.
    pub leader_high_watermarks: BTreeMap<(BrokerId, PartitionIndex), (LeaderEpoch, Offset)>,
    /// The controller's last leader epoch of each partition.
    pub controller_epochs: BTreeMap<PartitionIndex, LeaderEpoch>,
    /// The last leader epoch each broker applied for each partition.
    pub broker_epochs: BTreeMap<(BrokerId, PartitionIndex), LeaderEpoch>,
    /// What each check last looked at, so it skips what has not changed since: per partition
    /// (leader, its epoch, its log's generation, how many records there were to look for).
    pub acked_checked: BTreeMap<PartitionIndex, LeaderLogSeen>,
    pub consumed_checked: BTreeMap<PartitionIndex, LeaderLogSeen>,
    /// Per replica: (its log's generation, its high watermark).
    pub prefix_checked: BTreeMap<(BrokerId, PartitionIndex), (u64, Offset)>,
    /// Per replica: its log's generation.
    pub epochs_checked: BTreeMap<(BrokerId, PartitionIndex), u64>,
    /// Per replica: (its log's generation, its high watermark), for the idempotence check.
    pub idempotent_checked: BTreeMap<(BrokerId, PartitionIndex), (u64, Offset)>,
}

/// What a check of "the established leader's log still holds these records" last saw of one
/// partition: the leader, its epoch, its log's generation, how many records there were.
pub(crate) type LeaderLogSeen = (BrokerId, LeaderEpoch, u64, usize);

/// The established leader of `partition` and its log, if the partition had no unclean election
/// and anything changed since the check that keeps `checked` last looked (`records` is how
/// many records it looks for).
pub(crate) fn leader_log_to_check<'w>(
    world: &'w World,
    partition: PartitionIndex,
    records: usize,
    checked: &mut BTreeMap<PartitionIndex, LeaderLogSeen>,
) -> Option<(BrokerId, &'w crate::disk::ModelLog)> {
    if world.history.had_unclean_election(partition) {
        return None;
    }
    let leader = world.established_leader(partition)?;
    let log = &leader.log(partition);
    let epoch = world.controller.partition(partition).leader_epoch();
    let seen = (leader.id, epoch, log.generation, records);
    (checked.insert(partition, seen) != Some(seen)).then_some((leader.id, log))
}

/// Runs every safety invariant; the error names the rule and the numbers.
pub(crate) fn check_all(world: &mut World) -> Result<(), String> {
    acks_all_needs_min_insync_replicas::check(world)?;
    world.history.acks_all_answers.clear();
    let mut memory = std::mem::take(&mut world.memory);
    let result = acked_records_are_never_lost::check(world, &mut memory)
        .and_then(|()| consumers_never_see_records_vanish::check(world, &mut memory))
        .and_then(|()| committed_prefixes_agree::check(world, &mut memory))
        .and_then(|()| idempotent_records_appear_once_in_send_order::check(world, &mut memory))
        .and_then(|()| high_watermark_is_monotonic_and_within_the_isr::check(world, &mut memory))
        .and_then(|()| leader_epochs_only_grow::check(world, &mut memory))
        .and_then(|()| acknowledged_deletions_stay::check(world))
        .and_then(|()| log_start_is_within_the_committed_log::check(world));
    world.memory = memory;
    result
}
