//! No record acknowledged with acks=all is ever lost: the partition's established leader holds
//! every one of them at the offset it was acknowledged at, unless a DeleteRecords removed it
//! (it lies below the log start). (A new leader comes from the ISR, and every ISR member had
//! the record when the high watermark passed it.)

use super::{Memory, leader_log_to_check};
use crate::world::World;
use ringlog_replication::Offset;
use ringlog_replication::partition::Acks;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    let records = world.history.acked.len();
    for partition in 0..world.config.partitions {
        let checked = &mut memory.acked_checked;
        if let Some((leader, log)) = leader_log_to_check(world, partition, records, checked) {
            check_partition(world, partition, leader, log)?;
        }
    }
    Ok(())
}

fn check_partition(
    world: &World,
    partition: usize,
    leader: ringlog_replication::BrokerId,
    log: &crate::disk::ModelLog,
) -> Result<(), String> {
    let acked = world.history.acked.iter();
    for acked in acked.filter(|a| a.acks == Acks::All && a.partition == partition) {
        for (offset, &record) in (acked.base.0..).zip(&acked.records) {
            if Offset(offset) < log.start {
                continue;
            }
            let found = log.record_at(Offset(offset));
            if found != Some(record) {
                return Err(format!(
                    "acked_records_are_never_lost: record {record} acknowledged with acks=all at \
                     partition {partition} offset {offset} is not in the log of leader {} \
                     (found {found:?}, log end {})",
                    leader,
                    log.end()
                ));
            }
        }
    }
    Ok(())
}
