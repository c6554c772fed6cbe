//! Committed prefixes agree across all replicas: below its own high watermark, every replica's
//! log holds the same record at each offset as every other's (from its log start on: what a
//! DeleteRecords removed is not compared).

use super::Memory;
use crate::world::World;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    let partitions = world.config.partitions;
    memory.committed.resize(partitions, Vec::new());
    for partition in 0..partitions {
        if world.history.had_unclean_election(partition) {
            continue;
        }
        let committed = &mut memory.committed[partition];
        for broker in world.brokers.values() {
            let log = &broker.log(partition);
            let seen = (log.generation, log.high_watermark);
            let key = (broker.id, partition);
            if memory.prefix_checked.insert(key, seen) == Some(seen) {
                continue;
            }
            for (offset, record) in log.records().take_while(|(o, _)| *o < log.high_watermark) {
                let index = offset.0 as usize;
                match committed.get(index) {
                    Some(&known) if known != record => {
                        return Err(format!(
                            "committed_prefixes_agree: partition {partition} offset {offset} is \
                             committed as record {known}, broker {} holds {record} below its high \
                             watermark {}",
                            broker.id, log.high_watermark
                        ));
                    }
                    Some(_) => {}
                    // Past what is known, with a gap: the records before it were deleted
                    // before any replica was looked at with them committed. Not comparable.
                    None if index > committed.len() => {}
                    None => committed.push(record),
                }
            }
        }
    }
    Ok(())
}
