//! Where a consumer group's offsets live and who coordinates it, as the protocol defines it: a
//! client sends a group's OffsetCommit, OffsetFetch, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups and DeleteGroups to the leader of the group's partition of the
//! internal topic [`OFFSETS_TOPIC`] (the group's coordinator), and a broker that does not lead
//! it answers NOT_COORDINATOR. Both sides
//! compute the partition with [`partition_for`], so the rule lives here, in the codec both
//! depend on.

/// The internal topic holding consumer groups' committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Its partitions, fixed when the cluster first creates it.
pub const OFFSETS_TOPIC_PARTITIONS: u32 = 8;

/// Which partition of [`OFFSETS_TOPIC`] holds `group`'s offsets: FNV-1a of the group id,
/// modulo [`OFFSETS_TOPIC_PARTITIONS`].
pub fn partition_for(group: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in group.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % OFFSETS_TOPIC_PARTITIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_fnv1a_of_the_group_modulo_the_partition_count() {
        // FNV-1a 32 of "" is its offset basis, of "a" is 0xe40c292c.
        assert_eq!(partition_for(""), 0x811c_9dc5 % OFFSETS_TOPIC_PARTITIONS);
        assert_eq!(partition_for("a"), 0xe40c_292c % OFFSETS_TOPIC_PARTITIONS);
    }
}
