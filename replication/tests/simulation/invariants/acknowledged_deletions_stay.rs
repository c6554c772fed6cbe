//! An acknowledged DeleteRecords stays: the established leader's log starts at or past the low
//! watermark of every DeleteRecords a leader of the partition answered with success. (The
//! answer waits until every replica the leader counts in the ISR starts there, a replica joins
//! an ISR only once its log start reaches its leader's, and a clean election picks the next
//! leader from the ISR, so the records deleted never come back to a consumer.)

use crate::world::World;

pub(crate) fn check(world: &World) -> Result<(), String> {
    for partition in 0..world.config.partitions {
        if world.history.had_unclean_election(partition) {
            continue;
        }
        let Some(leader) = world.established_leader(partition) else {
            continue;
        };
        let start = leader.log(partition).start;
        let deleted = world
            .history
            .deletions
            .iter()
            .filter(|d| d.partition == partition)
            .max_by_key(|d| d.low_watermark);
        if let Some(deletion) = deleted
            && start < deletion.low_watermark
        {
            return Err(format!(
                "acknowledged_deletions_stay: leader {} answered a DeleteRecords of partition \
                 {partition} with low watermark {}; leader {} now starts its log at {start}",
                deletion.leader, deletion.low_watermark, leader.id
            ));
        }
    }
    Ok(())
}
