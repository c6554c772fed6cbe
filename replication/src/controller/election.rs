//! The election rule, as a pure function of a partition's replicas, its ISR and which brokers
//! are live.
//!
//! 1. The first live ISR member in replica order leads: replica order is the preference order,
//!    and only an ISR member is sure to hold every committed record.
//! 2. With no live ISR member the partition is offline, unless `unclean_leader_election` is on
//!    for its topic: then the first live replica leads, and the election is flagged unclean,
//!    because records the old ISR acknowledged may be lost.

use crate::types::BrokerId;

/// What an election decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    /// `leader` leads; `unclean` when it was taken from outside the ISR.
    Elected { leader: BrokerId, unclean: bool },
    /// No eligible live replica: the partition has no leader.
    Offline,
}

impl Election {
    /// The elected leader, if any.
    pub fn leader(self) -> Option<BrokerId> {
        match self {
            Election::Elected { leader, .. } => Some(leader),
            Election::Offline => None,
        }
    }
}

/// Elects a leader for a partition with `replicas` (in preference order) and `isr`.
pub fn elect_leader(
    replicas: &[BrokerId],
    isr: &[BrokerId],
    is_live: impl Fn(BrokerId) -> bool,
    unclean_leader_election: bool,
) -> Election {
    let clean = replicas
        .iter()
        .copied()
        .find(|&replica| isr.contains(&replica) && is_live(replica));
    if let Some(leader) = clean {
        return Election::Elected {
            leader,
            unclean: false,
        };
    }
    if !unclean_leader_election {
        return Election::Offline;
    }
    match replicas.iter().copied().find(|&replica| is_live(replica)) {
        Some(leader) => Election::Elected {
            leader,
            unclean: true,
        },
        None => Election::Offline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u32]) -> Vec<BrokerId> {
        raw.iter().copied().map(BrokerId).collect()
    }

    fn live_set(raw: &[u32]) -> impl Fn(BrokerId) -> bool {
        let live = ids(raw);
        move |broker| live.contains(&broker)
    }

    #[test]
    fn election_picks_first_live_isr_member_in_replica_order() {
        // The ISR lists 3 before 2, but replica order puts 2 first; 1 is dead.
        let election = elect_leader(&ids(&[1, 2, 3]), &ids(&[3, 2, 1]), live_set(&[2, 3]), false);
        assert_eq!(
            election,
            Election::Elected {
                leader: BrokerId(2),
                unclean: false
            }
        );
    }

    #[test]
    fn election_skips_live_replicas_outside_the_isr() {
        let election = elect_leader(&ids(&[1, 2, 3]), &ids(&[3]), live_set(&[1, 2, 3]), false);
        assert_eq!(election.leader(), Some(BrokerId(3)));
    }

    #[test]
    fn no_live_isr_member_leaves_partition_offline() {
        let election = elect_leader(&ids(&[1, 2, 3]), &ids(&[1]), live_set(&[2, 3]), false);
        assert_eq!(election, Election::Offline);
    }

    #[test]
    fn unclean_election_picks_first_live_replica_and_flags_it() {
        let election = elect_leader(&ids(&[1, 2, 3]), &ids(&[1]), live_set(&[3, 2]), true);
        assert_eq!(
            election,
            Election::Elected {
                leader: BrokerId(2),
                unclean: true
            }
        );
    }

    #[test]
    fn unclean_election_prefers_a_live_isr_member() {
        let election = elect_leader(&ids(&[1, 2, 3]), &ids(&[3]), live_set(&[2, 3]), true);
        assert_eq!(
            election,
            Election::Elected {
                leader: BrokerId(3),
                unclean: false
            }
        );
    }

    #[test]
    fn unclean_election_with_no_live_replica_is_offline() {
        let election = elect_leader(&ids(&[1, 2]), &ids(&[1]), live_set(&[4]), true);
        assert_eq!(election, Election::Offline);
    }
}
