//! Kafka's ConsumerProtocol: what a member of a group of protocol type `"consumer"` sends as its
//! JoinGroup metadata (its [`Subscription`]) and what the leader sends each member with
//! SyncGroup (its [`Assignment`]). Pure. Kafka's own tools and clients (librdkafka, the Java
//! consumer, `kafka-consumer-groups.sh`) read and write the same bytes, so they can share a
//! group with ringlog's consumer and describe it.
//!
//! All integers big-endian; a string is an i16 length then UTF-8; an array is an i32 count;
//! nullable bytes are an i32 length, -1 for null.
//!
//! Subscription (version 0 written; later versions read, their extra fields skipped):
//!
//! | field           | type            | since | notes                                   |
//! |-----------------|-----------------|-------|-----------------------------------------|
//! | version         | i16             | 0     |                                         |
//! | topics          | array of string | 0     |                                         |
//! | user_data       | nullable bytes  | 0     |                                         |
//! | owned_partitions| array           | 1     | skipped: the eager protocol revokes all |
//! | generation_id   | i32             | 2     | skipped                                 |
//! | rack_id         | nullable string | 3     | skipped                                 |
//!
//! Assignment (version 0 written; every version has these fields first):
//!
//! | field           | type            | notes                                   |
//! |-----------------|-----------------|-----------------------------------------|
//! | version         | i16             |                                         |
//! | partitions      | array           | by topic                                |
//! | . topic         | string          |                                         |
//! | . partitions    | array of i32    |                                         |
//! | user_data       | nullable bytes  |                                         |
//!
//! An empty assignment (a member the leader left out) may also come as zero bytes.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol type of a consumer group, as Kafka's consumers send it.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";

/// The version written: the first one, which every Kafka tool reads.
const VERSION_WRITTEN: i16 = 0;

/// A member's topics, as its JoinGroup metadata carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
}

/// A member's partitions, topic by topic, as the leader's SyncGroup carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub partitions: BTreeMap<String, Vec<u32>>,
    pub user_data: Option<Bytes>,
}

/// Bytes that are not a ConsumerProtocol message; says which field and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

impl Subscription {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(VERSION_WRITTEN);
        out.put_i32(count(self.topics.len()));
        for topic in &self.topics {
            put_string(&mut out, topic);
        }
        put_nullable_bytes(&mut out, self.user_data.as_ref());
        out.freeze()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Subscription, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        r.version("subscription")?;
        let n = r.count("subscription topics", 2)?;
        let topics = (0..n)
            .map(|_| r.string("subscription topic"))
            .collect::<Result<_, _>>()?;
        let user_data = r.nullable_bytes("subscription user_data")?;
        Ok(Subscription { topics, user_data })
    }
}

impl Assignment {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(VERSION_WRITTEN);
        out.put_i32(count(self.partitions.len()));
        for (topic, partitions) in &self.partitions {
            put_string(&mut out, topic);
            out.put_i32(count(partitions.len()));
            for &partition in partitions {
                out.put_i32(i32::try_from(partition).expect("partition index fits an i32"));
            }
        }
        put_nullable_bytes(&mut out, self.user_data.as_ref());
        out.freeze()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Assignment, DecodeError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader { bytes, at: 0 };
        r.version("assignment")?;
        let topics = r.count("assignment topics", 2 + 4)?;
        let mut partitions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for _ in 0..topics {
            let topic = r.string("assignment topic")?;
            let n = r.count("assignment partitions", 4)?;
            let entry = partitions.entry(topic).or_default();
            for _ in 0..n {
                let partition = r.i32("assignment partition")?;
                let partition = u32::try_from(partition).map_err(|_| {
                    DecodeError(format!("assignment partition {partition} is negative"))
                })?;
                entry.push(partition);
            }
        }
        let user_data = r.nullable_bytes("assignment user_data")?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

fn count(len: usize) -> i32 {
    i32::try_from(len).expect("a consumer protocol array fits an i32 count")
}

fn put_string(out: &mut BytesMut, s: &str) {
    let len = i16::try_from(s.len()).expect("a topic name fits an i16 length");
    out.put_i16(len);
    out.put_slice(s.as_bytes());
}

fn put_nullable_bytes(out: &mut BytesMut, bytes: Option<&Bytes>) {
    match bytes {
        None => out.put_i32(-1),
        Some(bytes) => {
            out.put_i32(count(bytes.len()));
            out.put_slice(bytes);
        }
    }
}

/// Reads fields off a byte slice; every read checks what is left first.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, field: &str, n: usize) -> Result<&[u8], DecodeError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(DecodeError(format!(
                "{field} at byte {} needs {n} bytes, {left} left",
                self.at
            )));
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn i16(&mut self, field: &str) -> Result<i16, DecodeError> {
        let b = self.take(field, 2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, field: &str) -> Result<i32, DecodeError> {
        let b = self.take(field, 4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn version(&mut self, what: &str) -> Result<i16, DecodeError> {
        let version = self.i16(&format!("{what} version"))?;
        if version < 0 {
            return Err(DecodeError(format!("{what} version {version} is negative")));
        }
        Ok(version)
    }

    /// An array's count, refused when the bytes left cannot hold that many entries of at
    /// least `entry_min_bytes` each (so a bogus count allocates nothing).
    fn count(&mut self, field: &str, entry_min_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.i32(field)?;
        let n = usize::try_from(n)
            .map_err(|_| DecodeError(format!("{field} count {n} is negative")))?;
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(entry_min_bytes) > left {
            return Err(DecodeError(format!(
                "{field} count {n} exceeds the {left} bytes left"
            )));
        }
        Ok(n)
    }

    fn string(&mut self, field: &str) -> Result<String, DecodeError> {
        let len = self.i16(field)?;
        let len = usize::try_from(len)
            .map_err(|_| DecodeError(format!("{field} length {len} is negative")))?;
        let bytes = self.take(field, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError(format!("{field} is not UTF-8")))
    }

    /// Nullable bytes; absent altogether (a message cut after its arrays, which some clients
    /// send) reads as null.
    fn nullable_bytes(&mut self, field: &str) -> Result<Option<Bytes>, DecodeError> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let len = self.i32(field)?;
        if len < 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).expect("not negative");
        Ok(Some(Bytes::copy_from_slice(self.take(field, len)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_subscription_is_kafkas_version_0_layout() {
        let subscription = Subscription {
            topics: vec!["ab".into()],
            user_data: None,
        };
        let expected: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 2, b'a', b'b', 0xff, 0xff, 0xff, 0xff];
        assert_eq!(&subscription.encode()[..], expected);
        assert_eq!(Subscription::decode(expected).unwrap(), subscription);
    }

    #[test]
    fn an_assignment_is_kafkas_version_0_layout() {
        let assignment = Assignment {
            partitions: BTreeMap::from([("t".into(), vec![0, 2])]),
            user_data: Some(Bytes::from_static(b"u")),
        };
        let expected: &[u8] = &[
            0, 0, // version
            0, 0, 0, 1, 0, 1, b't', // one topic "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // partitions 0 and 2
            0, 0, 0, 1, b'u', // user data
        ];
        assert_eq!(&assignment.encode()[..], expected);
        assert_eq!(Assignment::decode(expected).unwrap(), assignment);
    }

    #[test]
    fn a_later_subscription_version_reads_its_version_0_fields() {
        // Version 3, as librdkafka sends it: owned partitions, generation and rack follow.
        let mut bytes = BytesMut::new();
        bytes.put_i16(3);
        bytes.put_i32(1);
        put_string(&mut bytes, "orders");
        bytes.put_i32(-1); // user data
        bytes.put_i32(0); // owned partitions
        bytes.put_i32(7); // generation
        bytes.put_i16(-1); // rack
        let subscription = Subscription::decode(&bytes).unwrap();
        assert_eq!(subscription.topics, ["orders"]);
        assert_eq!(subscription.user_data, None);
    }

    #[test]
    fn an_empty_assignment_may_be_zero_bytes() {
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
    }

    #[test]
    fn truncated_and_bogus_bytes_are_errors_naming_the_field() {
        let error = Subscription::decode(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(
            error.0,
            "subscription topics count 2147483647 exceeds the 0 bytes left"
        );
        let error = Assignment::decode(&[0, 0, 0, 0, 0, 1, 0, 5, b'x']).unwrap_err();
        assert_eq!(
            error.0,
            "assignment topics count 1 exceeds the 3 bytes left"
        );
        let error = Assignment::decode(&[0, 0, 0, 0, 0, 1, 0, 5, b'x', 0, 0, 0]).unwrap_err();
        assert_eq!(error.0, "assignment topic at byte 8 needs 5 bytes, 4 left");
        let error = Assignment::decode(&[0xff, 0xff]).unwrap_err();
        assert_eq!(error.0, "assignment version -1 is negative");
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Subscription::decode(&bytes);
            let _ = Assignment::decode(&bytes);
        }

        #[test]
        fn assignments_round_trip(
            partitions in proptest::collection::btree_map("[a-z]{1,8}", proptest::collection::vec(0u32..1000, 0..5), 0..4),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        ) {
            let assignment = Assignment { partitions, user_data: user_data.map(Bytes::from) };
            prop_assert_eq!(Assignment::decode(&assignment.encode()).unwrap(), assignment);
        }
    }
}
