//! A consumer never sees a record that later disappears: every record consumed (consumers read
//! below the high watermark only) stays in the established leader's log at its offset.

use super::Memory;
use crate::world::World;

pub fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    for (partition, consumed) in world.history.consumed.iter().enumerate() {
        if world.history.had_unclean_election(partition) {
            continue;
        }
        let Some(leader) = world.established_leader(partition) else {
            continue;
        };
        let log = &leader.logs[partition];
        let epoch = world.controller.partition(partition).leader_epoch();
        let seen = (leader.id, epoch, log.generation, consumed.len());
        if memory.consumed_checked.insert(partition, seen) == Some(seen) {
            continue;
        }
        for (&offset, &record) in consumed {
            let found = log.record_at(offset);
            if found != Some(record) {
                return Err(format!(
                    "consumers_never_see_records_vanish: a consumer read record {record} at \
                     partition {partition} offset {offset}; leader {} now has {found:?} there",
                    leader.id
                ));
            }
        }
    }
    Ok(())
}
