//! Every replica's log start lies within its committed log: at most its high watermark, at
//! most its log end. (A leader deletes only below its high watermark; a follower follows the
//! leader's start only up to its own high watermark; a crash keeps the start, which is
//! durable, and the records below the high watermark, which are.)

use crate::world::World;

pub(crate) fn check(world: &World) -> Result<(), String> {
    for broker in world.brokers.values() {
        for partition in 0..world.config.partitions {
            let log = broker.log(partition);
            if log.start > log.high_watermark || log.start > log.end() {
                return Err(format!(
                    "log_start_is_within_the_committed_log: broker {}'s log of partition \
                     {partition} starts at {}, past its high watermark {} or its end {}",
                    broker.id,
                    log.start,
                    log.high_watermark,
                    log.end()
                ));
            }
        }
    }
    Ok(())
}
