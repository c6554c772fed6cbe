//! acks=all never succeeds while the ISR is below `min_insync_replicas`: when a leader answers
//! one, its ISR has at least that many members and at least that many replicas' logs hold the
//! batch. (After an unclean election the second half no longer holds: a leader that has not
//! yet learned it was replaced may count a follower that has since truncated to the unclean
//! leader's log. The trade is the unclean election's.) A replica whose log starts past the
//! batch holds it: DeleteRecords removed it there.

use crate::world::World;
use ringlog_replication::Offset;

pub(crate) fn check(world: &World) -> Result<(), String> {
    let min = usize::from(world.config.min_insync_replicas);
    for answer in &world.history.acks_all_answers {
        if answer.isr_len < min {
            return Err(format!(
                "acks_all_needs_min_insync_replicas: leader {} acknowledged acks=all at partition \
                 {} offset {} with an isr of {}, min_insync_replicas is {min}",
                answer.leader, answer.partition, answer.base, answer.isr_len
            ));
        }
        if world.history.had_unclean_election(answer.partition) {
            continue;
        }
        let holders = world
            .brokers
            .values()
            .filter(|b| {
                let log = &b.log(answer.partition);
                // A record below the log start was deleted (by a DeleteRecords that a newer
                // leader answered while this one had not learned it was replaced): held.
                (answer.base.0..)
                    .zip(&answer.records)
                    .all(|(o, r)| Offset(o) < log.start || log.record_at(Offset(o)) == Some(*r))
            })
            .count();
        if holders < min {
            return Err(format!(
                "acks_all_needs_min_insync_replicas: leader {} acknowledged acks=all at partition \
                 {} offset {} held by {holders} replicas, min_insync_replicas is {min}",
                answer.leader, answer.partition, answer.base
            ));
        }
    }
    Ok(())
}
