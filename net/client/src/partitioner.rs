//! Choosing a partition for a record without one: Kafka's default partitioner for keyed
//! records, round robin for keyless ones. Pure.
//!
//! A keyed record goes to `(murmur2(key) & 0x7fffffff) % partition_count`, Kafka's
//! `Utils.toPositive(Utils.murmur2(key)) % numPartitions`: the same key lands on the same
//! partition as with a Java producer, as long as the partition count does not change.
//! Keyless records take the topic's partitions in turn (Kafka 2.4+ uses a "sticky" partitioner
//! instead; round robin spreads small loads more evenly and is simpler to reason about).

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): seed `0x9747b28c`, 4-byte
/// little-endian words, Java's wrapping `int` arithmetic.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes lengths as an int; a key over 2 GiB wraps as it would there.
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for word in words.by_ref() {
        let mut k = u32::from_le_bytes(word.try_into().expect("4 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partition_count`.
///
/// Panics if `partition_count` is 0: a topic has at least one partition.
pub fn partition_for_key(key: &[u8], partition_count: u32) -> u32 {
    assert!(partition_count > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) as u32 % partition_count
}

/// Round robin over one topic's partitions, for keyless records.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    next: u32,
}

impl RoundRobin {
    /// The next partition of the topic, which has `partition_count` partitions.
    pub(crate) fn next(&mut self, partition_count: u32) -> u32 {
        assert!(partition_count > 0, "a topic has at least one partition");
        let partition = self.next % partition_count;
        self.next = self.next.wrapping_add(1);
        partition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own test vectors (`UtilsTest.testMurmur2`).
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyed_partitions_are_stable_and_in_range() {
        // (murmur2("foobar") & 0x7fffffff) % 7, by hand: -790332482 & 0x7fffffff = 1357151166.
        assert_eq!(partition_for_key(b"foobar", 7), 1_357_151_166 % 7);
        for partition_count in [1, 2, 3, 12, 1000] {
            for key in [&b""[..], b"a", b"user-42", b"\xff\xfe"] {
                let partition = partition_for_key(key, partition_count);
                assert!(partition < partition_count);
                assert_eq!(partition_for_key(key, partition_count), partition);
            }
        }
    }

    #[test]
    fn round_robin_takes_partitions_in_turn_per_topic() {
        let (mut a, mut b) = (RoundRobin::default(), RoundRobin::default());
        let taken: Vec<u32> = (0..7).map(|_| a.next(3)).collect();
        assert_eq!(taken, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(b.next(2), 0);
        assert_eq!(a.next(3), 1);
    }
}
