//! An idempotent producer's records appear once, in the order it sent them, in every
//! replica's committed log: however often a batch was sent again (its answer lost, its leader
//! gone, the message duplicated by the network), the log below the high watermark holds it
//! once. Its records are numbered in send order per partition, so "once and in order" is
//! "strictly increasing by offset". Records of the other producer, never sent twice, are not
//! looked at.
//!
//! What a log held once and DeleteRecords removed is not compared with what it holds now: a
//! replica that lost the producer with its deleted records (a follower that fell behind the
//! leader's log start restarts its log empty, as Kafka's does) cannot tell a retry of a deleted
//! batch from a new one, and the producer starts a new epoch (KIP-360) and sends it again.

use super::Memory;
use crate::idempotent::IDEMPOTENT_RECORD;
use crate::world::World;

pub(crate) fn check(world: &World, memory: &mut Memory) -> Result<(), String> {
    for partition in 0..world.config.partitions {
        if world.history.had_unclean_election(partition) {
            continue;
        }
        for broker in world.brokers.values() {
            let log = &broker.log(partition);
            let seen = (log.generation, log.high_watermark);
            if memory
                .idempotent_checked
                .insert((broker.id, partition), seen)
                == Some(seen)
            {
                continue;
            }
            let mut last: Option<(ringlog_replication::Offset, u64)> = None;
            let committed = log
                .records()
                .take_while(|(offset, _)| *offset < log.high_watermark)
                .filter(|(_, record)| record & IDEMPOTENT_RECORD != 0);
            for (offset, record) in committed {
                if let Some((last_offset, last_record)) = last
                    && record <= last_record
                {
                    return Err(format!(
                        "idempotent_records_appear_once_in_send_order: broker {}'s partition \
                         {partition} commits record {record:#x} at offset {offset} after record \
                         {last_record:#x} at offset {last_offset}, sent after it: a duplicate \
                         or out of order (high watermark {})",
                        broker.id, log.high_watermark
                    ));
                }
                last = Some((offset, record));
            }
        }
    }
    Ok(())
}
