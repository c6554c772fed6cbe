//! The high watermark never goes backwards and never passes any ISR member's log end: a
//! leader's high watermark only grows while it leads in one epoch, and the established
//! leader's is at most the log end of every member of the controller's ISR.

use super::Memory;
use crate::world::World;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    for partition in 0..world.config.partitions {
        for broker in world.brokers.values() {
            let Some(leader) = broker.leader(partition) else {
                continue;
            };
            let (epoch, hw) = (leader.leader_epoch(), leader.high_watermark());
            let key = (broker.id, partition);
            let known = memory.leader_high_watermarks.get(&key);
            if let Some(&(known_epoch, known_hw)) = known
                && known_epoch == epoch
                && hw < known_hw
            {
                return Err(format!(
                    "high_watermark_is_monotonic: leader {} of partition {partition} in epoch \
                     {epoch} moved its high watermark back from {known_hw} to {hw}",
                    broker.id
                ));
            }
            memory.leader_high_watermarks.insert(key, (epoch, hw));
        }
        let Some(leader) = world.established_leader(partition) else {
            continue;
        };
        let hw = leader
            .leader(partition)
            .expect("established")
            .high_watermark();
        for member in world.controller.partition(partition).isr() {
            let end = world.brokers[member].log(partition).end();
            if hw > end {
                return Err(format!(
                    "high_watermark_is_within_the_isr: leader {} of partition {partition} has its \
                     high watermark at {hw}, past isr member {member}'s log end {end}",
                    leader.id
                ));
            }
        }
    }
    Ok(())
}
