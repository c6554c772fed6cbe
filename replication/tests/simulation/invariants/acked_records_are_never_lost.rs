//! No record acknowledged with acks=all is ever lost: the partition's established leader holds
//! every one of them at the offset it was acknowledged at. (A new leader comes from the ISR, and
//! every ISR member had the record when the high watermark passed it.)

use crate::world::World;
use ringlog_replication::Offset;
use ringlog_replication::partition::Acks;

pub fn check(world: &World) -> Result<(), String> {
    for acked in world.history.acked.iter().filter(|a| a.acks == Acks::All) {
        let partition = acked.partition;
        if world.history.had_unclean_election(partition) {
            continue;
        }
        let Some(leader) = world.established_leader(partition) else {
            continue;
        };
        let log = &leader.logs[partition];
        for (offset, &record) in (acked.base.0..).zip(&acked.records) {
            let found = log.record_at(Offset(offset));
            if found != Some(record) {
                return Err(format!(
                    "acked_records_are_never_lost: record {record} acknowledged with acks=all at \
                     partition {partition} offset {offset} is not in the log of leader {} \
                     (found {found:?}, log end {})",
                    leader.id,
                    log.end()
                ));
            }
        }
    }
    Ok(())
}
