//! Leader epochs only grow: the controller's epoch of each partition, the epoch each broker has
//! applied, and the epochs stamped on the batches along each log.

use super::Memory;
use crate::world::World;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    for partition in 0..world.config.partitions {
        let epoch = world.controller.partition(partition).leader_epoch();
        let known = memory.controller_epochs.insert(partition, epoch);
        if known.is_some_and(|k| k > epoch) {
            return Err(format!(
                "leader_epochs_only_grow: the controller moved partition {partition} from leader \
                 epoch {} back to {epoch}",
                known.expect("some")
            ));
        }
        for broker in world.brokers.values() {
            if let Some(epoch) = broker.replica(partition).and_then(|r| r.leader_epoch()) {
                let known = memory.broker_epochs.insert((broker.id, partition), epoch);
                if known.is_some_and(|k| k > epoch) {
                    return Err(format!(
                        "leader_epochs_only_grow: broker {} moved partition {partition} from \
                         leader epoch {} back to {epoch}",
                        broker.id,
                        known.expect("some")
                    ));
                }
            }
            let log = &broker.log(partition);
            let key = (broker.id, partition);
            if memory.epochs_checked.insert(key, log.generation) == Some(log.generation) {
                continue;
            }
            let batches = &log.batches;
            if let Some(pair) = batches.windows(2).find(|w| w[1].epoch < w[0].epoch) {
                return Err(format!(
                    "leader_epochs_only_grow: broker {}'s log of partition {partition} has epoch \
                     {} at {} after epoch {} at {}",
                    broker.id, pair[1].epoch, pair[1].base, pair[0].epoch, pair[0].base
                ));
            }
        }
    }
    Ok(())
}
