//! Replica placement for a new topic: Kafka's rack-aware assignment, deterministic given a
//! start index.
//!
//! 1. Arrange the live brokers so that racks alternate: racks in order, brokers in id order
//!    within a rack, taken one per rack in turn (`a1 b1 c1 a2 b2 a3`). Brokers without a rack
//!    count as one rack of their own, so with no racks at all this is the brokers in id order.
//! 2. Partition `p`'s first replica (its preferred leader) is broker `(p + start) % n` of that
//!    arrangement, so leaders spread evenly.
//! 3. Each further replica walks on from the first, with a shift that grows every `n`
//!    partitions, and skips a broker that already holds a replica of the partition, and a broker
//!    whose rack already holds one while some rack holds none. Replicas are therefore always on
//!    distinct brokers, and on distinct racks when there are at least as many racks as replicas.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::PlacementError;
use crate::types::{BrokerId, Rack};

/// The most partitions one placement assigns (a limit on the loop, as on everything).
pub const PARTITIONS_PER_PLACEMENT_MAX: u32 = 100_000;

/// A broker placement may put replicas on, with its rack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementBroker {
    pub id: BrokerId,
    pub rack: Option<Rack>,
}

/// Assigns `replication_factor` replicas to each of `partition_count` partitions over
/// `brokers` (the live ones, each id once), starting at `start_index`. Entry `p` of the result is
/// partition `p`'s replicas, preferred leader first.
pub fn assign_replicas(
    brokers: &[PlacementBroker],
    partition_count: u32,
    replication_factor: u16,
    start_index: usize,
) -> Result<Vec<Vec<BrokerId>>, PlacementError> {
    let invalid = PlacementError::InvalidReplicationFactor {
        requested: replication_factor,
        available: brokers.len(),
    };
    if replication_factor == 0 || usize::from(replication_factor) > brokers.len() {
        return Err(invalid);
    }
    assert!(
        partition_count <= PARTITIONS_PER_PLACEMENT_MAX,
        "partition count {partition_count} exceeds {PARTITIONS_PER_PLACEMENT_MAX}"
    );
    let arranged = rack_alternated(brokers);
    let racks: BTreeMap<BrokerId, Option<&Rack>> = brokers
        .iter()
        .map(|broker| (broker.id, broker.rack.as_ref()))
        .collect();
    assert_eq!(racks.len(), brokers.len(), "broker ids must be distinct");
    let rack_count = racks.values().collect::<BTreeSet<_>>().len();
    let broker_count = arranged.len();
    let mut replica_shift = start_index;
    let mut placements = Vec::with_capacity(partition_count as usize);
    for partition in 0..partition_count as usize {
        if partition > 0 && partition.is_multiple_of(broker_count) {
            replica_shift += 1;
        }
        let first = (partition + start_index) % broker_count;
        let walk = ReplicaWalk {
            arranged: &arranged,
            racks: &racks,
            rack_count,
            first,
            shift: replica_shift.wrapping_mul(rack_count),
        };
        placements.push(walk.replicas(usize::from(replication_factor)));
    }
    Ok(placements)
}

/// Checks replicas assigned by hand (CreateTopics' and CreatePartitions' explicit
/// assignments): every partition gets `replication_factor` distinct replicas (the first list's
/// length when `None`), each a broker of `registered`. Kafka checks the same.
pub fn check_assignments(
    registered: &BTreeSet<BrokerId>,
    assignments: &[Vec<BrokerId>],
    replication_factor: Option<u16>,
) -> Result<(), PlacementError> {
    let invalid = |reason: String| PlacementError::InvalidReplicaAssignment { reason };
    let Some(first) = assignments.first() else {
        return Err(invalid("no partition is assigned".to_string()));
    };
    let wanted = replication_factor.map_or(first.len(), usize::from);
    for (index, replicas) in assignments.iter().enumerate() {
        if replicas.is_empty() || replicas.len() != wanted {
            return Err(invalid(format!(
                "partition {index} has {} replicas, not {wanted}",
                replicas.len()
            )));
        }
        let distinct: BTreeSet<BrokerId> = replicas.iter().copied().collect();
        if distinct.len() != replicas.len() {
            return Err(invalid(format!(
                "partition {index} names a broker twice: {replicas:?}"
            )));
        }
        if let Some(unknown) = replicas.iter().find(|id| !registered.contains(id)) {
            return Err(invalid(format!(
                "partition {index} names broker {unknown}, which is not registered"
            )));
        }
    }
    Ok(())
}

/// The brokers with racks alternating: one broker from each rack in turn, racks in order and
/// brokers by id within each.
fn rack_alternated(brokers: &[PlacementBroker]) -> Vec<BrokerId> {
    let mut by_rack: BTreeMap<Option<&Rack>, Vec<BrokerId>> = BTreeMap::new();
    for broker in brokers {
        by_rack
            .entry(broker.rack.as_ref())
            .or_default()
            .push(broker.id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|round| {
            by_rack
                .values()
                .filter_map(move |ids| ids.get(round).copied())
        })
        .collect()
}

/// One partition's walk over the arranged brokers, from its first replica.
struct ReplicaWalk<'a> {
    arranged: &'a [BrokerId],
    racks: &'a BTreeMap<BrokerId, Option<&'a Rack>>,
    rack_count: usize,
    first: usize,
    shift: usize,
}

impl ReplicaWalk<'_> {
    fn replicas(&self, replication_factor: usize) -> Vec<BrokerId> {
        let leader = self.arranged[self.first];
        let mut replicas = vec![leader];
        let mut racks_used = BTreeSet::from([self.racks[&leader]]);
        let mut step = 0;
        while replicas.len() < replication_factor {
            // Every broker but the first is visited once per `n - 1` steps and some broker
            // always qualifies, so a replica is found within that many steps.
            assert!(
                step < replication_factor * self.arranged.len(),
                "placement walk did not terminate: {step} steps for {} replicas over {} brokers",
                replication_factor,
                self.arranged.len()
            );
            let broker = self.arranged[self.index(step)];
            step += 1;
            let rack = self.racks[&broker];
            let rack_is_new = !racks_used.contains(&rack) || racks_used.len() == self.rack_count;
            if rack_is_new && !replicas.contains(&broker) {
                replicas.push(broker);
                racks_used.insert(rack);
            }
        }
        replicas
    }

    /// The arranged index of the `step`th candidate: never the first replica itself.
    fn index(&self, step: usize) -> usize {
        let broker_count = self.arranged.len();
        let offset = 1 + (self.shift.wrapping_add(step)) % (broker_count - 1);
        (self.first + offset) % broker_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(spec: &[(u32, Option<&str>)]) -> Vec<PlacementBroker> {
        spec.iter()
            .map(|&(id, rack)| PlacementBroker {
                id: BrokerId(id),
                rack: rack.map(|rack| Rack(rack.to_string())),
            })
            .collect()
    }

    fn ids(raw: &[u32]) -> Vec<BrokerId> {
        raw.iter().copied().map(BrokerId).collect()
    }

    #[test]
    fn rack_alternated_order_takes_one_broker_per_rack_in_turn() {
        let brokers = brokers(&[
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("a")),
            (4, Some("b")),
            (5, Some("b")),
            (6, Some("c")),
        ]);
        assert_eq!(rack_alternated(&brokers), ids(&[1, 4, 6, 2, 5, 3]));
    }

    #[test]
    fn placement_spreads_replicas_over_racks() {
        // Brokers 1, 2 in rack a; 3, 4 in rack b; 5, 6 in rack c.
        let brokers = brokers(&[
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("b")),
            (4, Some("b")),
            (5, Some("c")),
            (6, Some("c")),
        ]);
        let placements = assign_replicas(&brokers, 12, 3, 0).unwrap();
        let rack_of = |id: BrokerId| id.0.div_ceil(2);
        for replicas in &placements {
            let racks: BTreeSet<u32> = replicas.iter().map(|&id| rack_of(id)).collect();
            assert_eq!(racks.len(), 3, "replicas {replicas:?} share a rack");
        }
    }

    #[test]
    fn placement_spreads_preferred_leaders_over_brokers() {
        let brokers = brokers(&[(1, None), (2, None), (3, None)]);
        let placements = assign_replicas(&brokers, 6, 2, 0).unwrap();
        let leaders: Vec<BrokerId> = placements.iter().map(|replicas| replicas[0]).collect();
        assert_eq!(leaders, ids(&[1, 2, 3, 1, 2, 3]));
    }

    #[test]
    fn placement_without_racks_matches_kafkas_rack_unaware_layout() {
        // Kafka with fixed start index 0 over brokers 0..5, RF 3: p0 [0,1,2], p1 [1,2,3], ...
        let brokers = brokers(&[(0, None), (1, None), (2, None), (3, None), (4, None)]);
        let placements = assign_replicas(&brokers, 6, 3, 0).unwrap();
        assert_eq!(placements[0], ids(&[0, 1, 2]));
        assert_eq!(placements[1], ids(&[1, 2, 3]));
        assert_eq!(placements[4], ids(&[4, 0, 1]));
        // After a full round the shift grows, so followers differ from the first round.
        assert_eq!(placements[5], ids(&[0, 2, 3]));
    }

    #[test]
    fn placement_is_deterministic_given_the_start_index() {
        let brokers = brokers(&[(1, Some("a")), (2, Some("b")), (3, Some("a")), (4, None)]);
        let first = assign_replicas(&brokers, 8, 3, 5).unwrap();
        let second = assign_replicas(&brokers, 8, 3, 5).unwrap();
        assert_eq!(first, second);
        assert_ne!(first, assign_replicas(&brokers, 8, 3, 6).unwrap());
    }

    #[test]
    fn replication_factor_above_live_brokers_is_invalid() {
        let brokers = brokers(&[(1, None), (2, None)]);
        assert_eq!(
            assign_replicas(&brokers, 1, 3, 0),
            Err(PlacementError::InvalidReplicationFactor {
                requested: 3,
                available: 2
            })
        );
    }

    #[test]
    fn replication_factor_zero_is_invalid() {
        let brokers = brokers(&[(1, None)]);
        assert_eq!(
            assign_replicas(&brokers, 1, 0, 0),
            Err(PlacementError::InvalidReplicationFactor {
                requested: 0,
                available: 1
            })
        );
    }

    #[test]
    fn replication_factor_equal_to_the_brokers_uses_every_broker() {
        let brokers = brokers(&[(7, Some("x")), (8, Some("x")), (9, Some("y"))]);
        for replicas in assign_replicas(&brokers, 5, 3, 2).unwrap() {
            let distinct: BTreeSet<BrokerId> = replicas.iter().copied().collect();
            assert_eq!(distinct, ids(&[7, 8, 9]).into_iter().collect());
        }
    }
}
