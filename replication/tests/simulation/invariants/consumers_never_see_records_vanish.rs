//! A consumer never sees a record that later disappears: every record consumed (consumers read
//! below the high watermark only) stays in the established leader's log at its offset, unless
//! a DeleteRecords removed it (it lies below the log start).

use super::{Memory, leader_log_to_check};
use crate::world::World;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    for (partition, consumed) in world.history.consumed.iter().enumerate() {
        let checked = &mut memory.consumed_checked;
        let Some((leader, log)) = leader_log_to_check(world, partition, consumed.len(), checked)
        else {
            continue;
        };
        for (&offset, &record) in consumed.range(log.start..) {
            let found = log.record_at(offset);
            if found != Some(record) {
                return Err(format!(
                    "consumers_never_see_records_vanish: a consumer read record {record} at \
                     partition {partition} offset {offset}; leader {leader} now has {found:?} there"
                ));
            }
        }
    }
    Ok(())
}
