//! Liveness: once faults stop, the cluster converges within a bounded time. Every partition has
//! an established leader, every replica is back in the ISR, every replica's log is the
//! leader's (from the later of their log starts: a follower's start reaches the leader's, and
//! may be past it when it learned a deletion the leader did not), every high watermark is at
//! the log end, no produce or DeleteRecords is left waiting (nor an idempotent producer's
//! batch unacknowledged), and every record acknowledged
//! with acks=all is on every replica (unless an unclean election traded it, or a DeleteRecords
//! removed it).

use ringlog_replication::Offset;
use ringlog_replication::partition::Acks;

use crate::world::World;

/// `Ok` once converged; the error says what is still missing.
pub(crate) fn check(world: &World) -> Result<(), String> {
    for broker in world.brokers.values() {
        if !broker.up {
            return Err(format!("broker {} is down", broker.id));
        }
        if broker.pending_produces() > 0 {
            return Err(format!(
                "broker {} has {} produces waiting",
                broker.id,
                broker.pending_produces()
            ));
        }
    }
    if !world.client.idempotent.idle() {
        return Err("an idempotent producer has batches not acknowledged".to_string());
    }
    for partition in 0..world.config.partitions {
        let state = world.controller.partition(partition);
        let Some(leader) = world.established_leader(partition) else {
            return Err(format!("partition {partition} has no established leader"));
        };
        if state.isr() != state.replicas() {
            return Err(format!(
                "partition {partition} isr {:?} is not all replicas {:?}",
                state.isr(),
                state.replicas()
            ));
        }
        let leader_log = &leader.log(partition);
        for replica in state.replicas() {
            let log = &world.brokers[replica].log(partition);
            if log.start < leader_log.start {
                return Err(format!(
                    "partition {partition}: broker {replica}'s log starts at {}, before leader {}'s start {}",
                    log.start, leader.id, leader_log.start
                ));
            }
            let from = log.start.max(leader_log.start);
            let kept = |l: &crate::disk::ModelLog| -> Vec<crate::disk::ModelBatch> {
                l.batches
                    .iter()
                    .filter(|b| b.end() > from)
                    .cloned()
                    .collect()
            };
            if kept(log) != kept(leader_log) || log.end() != leader_log.end() {
                return Err(format!(
                    "partition {partition}: broker {replica}'s log (end {}) differs from leader {}'s (end {})",
                    log.end(),
                    leader.id,
                    leader_log.end()
                ));
            }
            if log.high_watermark != leader_log.end() {
                return Err(format!(
                    "partition {partition}: broker {replica}'s high watermark {} is not at the log end {}",
                    log.high_watermark,
                    leader_log.end()
                ));
            }
        }
        if world.history.had_unclean_election(partition) {
            continue;
        }
        let acked = world
            .history
            .acked
            .iter()
            .filter(|a| a.partition == partition && a.acks == Acks::All);
        for a in acked {
            for (offset, record) in (a.base.0..).zip(&a.records) {
                if Offset(offset) >= leader_log.start
                    && leader_log.record_at(Offset(offset)) != Some(*record)
                {
                    return Err(format!(
                        "converged: acks=all record {record} at partition {partition} offset {offset} is missing"
                    ));
                }
            }
        }
    }
    Ok(())
}
