//! The Kafka Fetch response (key 1), encoded by hand around the record bytes. The broker
//! sends fetched records straight from segment files (sendfile), so they never are in memory
//! to hand to kafka-protocol's encoder: [`encode_fetch_response`] writes everything else and
//! returns the frame as [`Piece`]s, encoded bytes and the caller's record chunks in order.
//!
//! The frame, from `FetchResponse.json` at versions [`FETCH_VERSIONS`] (`.` marks a field of
//! an array's entries):
//!
//! | field                      | type            | versions | notes                                    |
//! |----------------------------|-----------------|----------|------------------------------------------|
//! | size                       | i32             | all      | bytes after it, record chunks included   |
//! | correlation_id             | i32             | all      | response header v0                       |
//! | header tagged fields       | tagged fields   | 12+      | response header v1: none                 |
//! | throttle_time_ms           | i32             | all      | (1+ in the schema)                       |
//! | error_code                 | i16             | 7+       | left out before                          |
//! | session_id                 | i32             | 7+       | 0 before (asserted)                      |
//! | responses                  | array           | all      | the topics                               |
//! | . topic                    | string          | 4-12     | the name                                 |
//! | . topic_id                 | uuid            | 13+      | 16 bytes                                 |
//! | . partitions               | array           | all      |                                          |
//! | . . partition_index        | i32             | all      |                                          |
//! | . . error_code             | i16             | all      |                                          |
//! | . . high_watermark         | i64             | all      |                                          |
//! | . . last_stable_offset     | i64             | all      |                                          |
//! | . . log_start_offset       | i64             | 5+       |                                          |
//! | . . aborted_transactions   | nullable array  | all      | always empty, see below                  |
//! | . . preferred_read_replica | i32             | 11+      | -1: none; -1 before (asserted)           |
//! | . . records                | nullable bytes  | all      | length, then the chunks; never null      |
//! | . . tagged fields          | tagged fields   | 12+      | 0: diverging_epoch, 1: current_leader    |
//! | . tagged fields            | tagged fields   | 12+      | none                                     |
//! | tagged fields              | tagged fields   | 12+      | none (tag 0, node_endpoints, is 16+)     |
//!
//! | tagged field (partition)     | tag | fields                                                     |
//! |------------------------------|----:|------------------------------------------------------------|
//! | diverging_epoch              |   0 | epoch i32, end_offset i64, tagged fields (none): 13 bytes   |
//! | current_leader               |   1 | leader_id i32, leader_epoch i32, tagged fields (none): 9 bytes |
//!
//! Flexible versions (12+) write array and string lengths as unsigned varints of length + 1
//! (0 is null), record lengths the same way (compact bytes); before, an array length is an
//! i32, a string length an i16, a records length an i32. A tagged fields section is an
//! unsigned varint count, then each field's tag and size (unsigned varints) and the field,
//! in tag order. Versions before 12 have no tagged fields, so a partition's diverging_epoch
//! and current_leader are left out there: Kafka only finds a diverging epoch from a request's
//! `last_fetched_epoch` (v12+), and the current leader is a hint. snapshot_id (tag 2) is for
//! KRaft's own log, never sent.
//!
//! `aborted_transactions` is always an empty array. Kafka sends null to READ_UNCOMMITTED
//! consumers and to followers, an array to READ_COMMITTED consumers (empty when no
//! transaction aborted in the range) and an empty array with every partition answered with
//! an error, whatever the isolation level; so every client reads an empty array, and none
//! reads a null where it expects an array. ringlog has no transactions: none ever aborts.
//! Records are never null: librdkafka refuses a negative records length.

use std::ops::RangeInclusive;

use bytes::BufMut;

use super::frame::SIZE_LEN;

/// The Fetch versions this encoder writes.
pub(crate) const FETCH_VERSIONS: RangeInclusive<i16> = 4..=16;

const LOG_START_OFFSET_FROM: i16 = 5;
const SESSION_FROM: i16 = 7;
const PREFERRED_READ_REPLICA_FROM: i16 = 11;
/// Compact lengths, tagged fields and response header v1.
const FLEXIBLE_FROM: i16 = 12;
/// The topic's id instead of its name.
const TOPIC_ID_FROM: i16 = 13;

const DIVERGING_EPOCH_TAG: u32 = 0;
const CURRENT_LEADER_TAG: u32 = 1;

/// A part of an encoded response, in sending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece<R> {
    /// Encoded bytes, sent as they are. Never empty, and never next to another.
    Bytes(Vec<u8>),
    /// One of the record chunks given to the encoder, sent whole. Never empty.
    Records(R),
}

/// A run of whole record batches, sent as it is (a file slice, sent with sendfile).
pub(crate) trait RecordChunk {
    /// The chunk's size in bytes: what it adds to its partition's records length.
    fn len(&self) -> u64;
}

/// The response's top-level fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FetchResponseHead {
    pub throttle_time_ms: i32,
    /// Left out before v7.
    pub error_code: i16,
    /// The fetch session's id, 0 for none; must be 0 before v7, which has no sessions.
    pub session_id: i32,
}

/// A topic of the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FetchTopic<R> {
    /// Sent up to v12.
    pub name: String,
    /// Sent from v13.
    pub topic_id: [u8; 16],
    pub partitions: Vec<FetchPartition<R>>,
}

/// A partition of the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FetchPartition<R> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// Sent from v5.
    pub log_start_offset: i64,
    /// Sent from v12 (tag 0).
    pub diverging_epoch: Option<DivergingEpoch>,
    /// Sent from v12 (tag 1).
    pub current_leader: Option<CurrentLeader>,
    /// -1: none; must be -1 before v11, which cannot redirect a consumer.
    pub preferred_read_replica: i32,
    /// Chunks of whole batches, concatenated on the wire.
    pub records: Vec<R>,
}

/// Where the fetcher's log diverges from the leader's: the largest epoch both have, and
/// where it ends on the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DivergingEpoch {
    pub epoch: i32,
    pub end_offset: i64,
}

/// The partition's leader as this broker knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CurrentLeader {
    pub leader_id: i32,
    pub leader_epoch: i32,
}

/// The whole Fetch response frame at `version`, as pieces (see the table above). A version
/// outside [`FETCH_VERSIONS`], a field a version cannot carry set (see [`FetchResponseHead`]
/// and [`FetchPartition`]), or a frame over 2 GiB, is a bug of the caller and panics.
pub(crate) fn encode_fetch_response<R: RecordChunk>(
    correlation_id: i32,
    version: i16,
    head: &FetchResponseHead,
    topics: Vec<FetchTopic<R>>,
) -> Vec<Piece<R>> {
    assert!(
        FETCH_VERSIONS.contains(&version),
        "fetch response v{version} is not among {FETCH_VERSIONS:?}"
    );
    let mut w = Writer::new(version);
    w.bytes.put_i32(correlation_id);
    if w.flexible() {
        w.no_tagged_fields();
    }
    encode_head(&mut w, head);
    w.array_len(topics.len());
    for topic in topics {
        encode_topic(&mut w, topic);
    }
    if w.flexible() {
        w.no_tagged_fields();
    }
    w.finish()
}

fn encode_head<R>(w: &mut Writer<R>, head: &FetchResponseHead) {
    w.bytes.put_i32(head.throttle_time_ms);
    if w.version >= SESSION_FROM {
        w.bytes.put_i16(head.error_code);
        w.bytes.put_i32(head.session_id);
    } else {
        assert_eq!(
            head.session_id, 0,
            "fetch response v{} has no session",
            w.version
        );
    }
}

fn encode_topic<R: RecordChunk>(w: &mut Writer<R>, topic: FetchTopic<R>) {
    if w.version < TOPIC_ID_FROM {
        w.string(&topic.name);
    } else {
        w.bytes.put_slice(&topic.topic_id);
    }
    w.array_len(topic.partitions.len());
    for partition in topic.partitions {
        encode_partition(w, partition);
    }
    if w.flexible() {
        w.no_tagged_fields();
    }
}

fn encode_partition<R: RecordChunk>(w: &mut Writer<R>, partition: FetchPartition<R>) {
    w.bytes.put_i32(partition.partition_index);
    w.bytes.put_i16(partition.error_code);
    w.bytes.put_i64(partition.high_watermark);
    w.bytes.put_i64(partition.last_stable_offset);
    if w.version >= LOG_START_OFFSET_FROM {
        w.bytes.put_i64(partition.log_start_offset);
    }
    w.array_len(0); // aborted_transactions: none, see the module's doc
    if w.version >= PREFERRED_READ_REPLICA_FROM {
        w.bytes.put_i32(partition.preferred_read_replica);
    } else {
        assert_eq!(
            partition.preferred_read_replica, -1,
            "fetch response v{} has no preferred read replica",
            w.version
        );
    }
    encode_records(w, partition.records);
    if w.flexible() {
        encode_partition_tags(w, partition.diverging_epoch, partition.current_leader);
    }
}

/// The records' length, then the chunks themselves.
fn encode_records<R: RecordChunk>(w: &mut Writer<R>, records: Vec<R>) {
    let len: u64 = records.iter().map(RecordChunk::len).sum();
    let len = i32::try_from(len)
        .unwrap_or_else(|_| panic!("a fetch response partition of {len} record bytes"));
    if w.flexible() {
        w.unsigned_varint(len as u32 + 1);
    } else {
        w.bytes.put_i32(len);
    }
    for chunk in records {
        w.records(chunk);
    }
}

fn encode_partition_tags<R>(
    w: &mut Writer<R>,
    diverging_epoch: Option<DivergingEpoch>,
    current_leader: Option<CurrentLeader>,
) {
    let count = u32::from(diverging_epoch.is_some()) + u32::from(current_leader.is_some());
    w.unsigned_varint(count);
    if let Some(diverging) = diverging_epoch {
        w.tagged_field(DIVERGING_EPOCH_TAG, |w| {
            w.bytes.put_i32(diverging.epoch);
            w.bytes.put_i64(diverging.end_offset);
            w.no_tagged_fields();
        });
    }
    if let Some(leader) = current_leader {
        w.tagged_field(CURRENT_LEADER_TAG, |w| {
            w.bytes.put_i32(leader.leader_id);
            w.bytes.put_i32(leader.leader_epoch);
            w.no_tagged_fields();
        });
    }
}

/// Collects the frame's pieces: encoded bytes gather in `bytes` until a record chunk comes.
struct Writer<R> {
    version: i16,
    pieces: Vec<Piece<R>>,
    bytes: Vec<u8>,
}

impl<R: RecordChunk> Writer<R> {
    fn records(&mut self, chunk: R) {
        if chunk.len() == 0 {
            return;
        }
        self.flush_bytes();
        self.pieces.push(Piece::Records(chunk));
    }

    /// The pieces, the size field at the front filled in.
    fn finish(mut self) -> Vec<Piece<R>> {
        self.flush_bytes();
        let frame_len: u64 = self.pieces.iter().map(Piece::len).sum();
        let size = i32::try_from(frame_len - SIZE_LEN as u64)
            .unwrap_or_else(|_| panic!("a fetch response of {frame_len} bytes is over 2 GiB"));
        let Some(Piece::Bytes(first)) = self.pieces.first_mut() else {
            unreachable!("a fetch response starts with its size and header");
        };
        first[..SIZE_LEN].copy_from_slice(&size.to_be_bytes());
        self.pieces
    }
}

impl<R> Writer<R> {
    /// A writer with a zero size field, filled in by [`Writer::finish`].
    fn new(version: i16) -> Self {
        Writer {
            version,
            pieces: Vec::new(),
            bytes: vec![0; SIZE_LEN],
        }
    }

    fn flexible(&self) -> bool {
        self.version >= FLEXIBLE_FROM
    }

    fn flush_bytes(&mut self) {
        if !self.bytes.is_empty() {
            self.pieces
                .push(Piece::Bytes(std::mem::take(&mut self.bytes)));
        }
    }

    fn array_len(&mut self, len: usize) {
        let len = i32::try_from(len).expect("a fetch response array of over 2^31 entries");
        if self.flexible() {
            self.unsigned_varint(len as u32 + 1);
        } else {
            self.bytes.put_i32(len);
        }
    }

    fn string(&mut self, value: &str) {
        let len = i16::try_from(value.len())
            .unwrap_or_else(|_| panic!("a string of {} bytes in a fetch response", value.len()));
        if self.flexible() {
            self.unsigned_varint(len as u32 + 1);
        } else {
            self.bytes.put_i16(len);
        }
        self.bytes.put_slice(value.as_bytes());
    }

    fn unsigned_varint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.bytes.put_u8(value as u8 | 0x80);
            value >>= 7;
        }
        self.bytes.put_u8(value as u8);
    }

    fn no_tagged_fields(&mut self) {
        self.unsigned_varint(0);
    }

    /// A tagged field: its tag, its size, then what `write` writes (under 128 bytes, so the
    /// size is one byte, filled in after).
    fn tagged_field(&mut self, tag: u32, write: impl FnOnce(&mut Self)) {
        self.unsigned_varint(tag);
        let size_at = self.bytes.len();
        self.bytes.put_u8(0);
        write(self);
        let size = self.bytes.len() - size_at - 1;
        assert!(size < 0x80, "a tagged field of {size} bytes");
        self.bytes[size_at] = size as u8;
    }
}

impl<R: RecordChunk> Piece<R> {
    /// How many bytes of the frame this piece is.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Records(chunk) => chunk.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::fetch_response::{
        EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use proptest::prelude::*;

    impl RecordChunk for Vec<u8> {
        fn len(&self) -> u64 {
            <[u8]>::len(self) as u64
        }
    }

    /// The pieces concatenated, as the client receives them.
    fn concat(pieces: &[Piece<Vec<u8>>]) -> Vec<u8> {
        let mut frame = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Bytes(bytes) => frame.extend_from_slice(bytes),
                Piece::Records(chunk) => frame.extend_from_slice(chunk),
            }
        }
        frame
    }

    /// What kafka-protocol decodes from a response holding `head` and `topics` at `version`:
    /// each field where the version carries it, its schema default elsewhere.
    fn expected(
        version: i16,
        head: &FetchResponseHead,
        topics: &[FetchTopic<Vec<u8>>],
    ) -> FetchResponse {
        let error_code = if version >= SESSION_FROM {
            head.error_code
        } else {
            0
        };
        FetchResponse::default()
            .with_throttle_time_ms(head.throttle_time_ms)
            .with_error_code(error_code)
            .with_session_id(head.session_id)
            .with_responses(topics.iter().map(|t| expected_topic(version, t)).collect())
    }

    fn expected_topic(version: i16, topic: &FetchTopic<Vec<u8>>) -> FetchableTopicResponse {
        let mut expected = FetchableTopicResponse::default().with_partitions(
            topic
                .partitions
                .iter()
                .map(|p| expected_partition(version, p))
                .collect(),
        );
        if version < TOPIC_ID_FROM {
            expected = expected.with_topic(TopicName(StrBytes::from_string(topic.name.clone())));
        } else {
            // kafka-protocol's UUID type, reached through FromStr: the uuid crate is not a
            // dependency of the broker.
            let hex: String = topic.topic_id.iter().map(|b| format!("{b:02x}")).collect();
            expected.topic_id = hex.parse().unwrap();
            assert_eq!(expected.topic_id.as_bytes(), &topic.topic_id);
        }
        expected
    }

    fn expected_partition(version: i16, p: &FetchPartition<Vec<u8>>) -> PartitionData {
        let mut expected = PartitionData::default()
            .with_partition_index(p.partition_index)
            .with_error_code(p.error_code)
            .with_high_watermark(p.high_watermark)
            .with_last_stable_offset(p.last_stable_offset)
            .with_preferred_read_replica(BrokerId(p.preferred_read_replica))
            .with_aborted_transactions(Some(vec![]))
            .with_records(Some(Bytes::from(p.records.concat())));
        if version >= LOG_START_OFFSET_FROM {
            expected = expected.with_log_start_offset(p.log_start_offset);
        }
        if version >= FLEXIBLE_FROM {
            if let Some(d) = p.diverging_epoch {
                expected = expected.with_diverging_epoch(
                    EpochEndOffset::default()
                        .with_epoch(d.epoch)
                        .with_end_offset(d.end_offset),
                );
            }
            if let Some(l) = p.current_leader {
                expected = expected.with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(l.leader_id))
                        .with_leader_epoch(l.leader_epoch),
                );
            }
        }
        expected
    }

    fn diverging_epoch() -> impl Strategy<Value = DivergingEpoch> {
        // Valid epochs are not negative; kafka-protocol (as Kafka) leaves out a tagged field
        // at its default, -1, which this encoder would send: keep away from it.
        (0..=i32::MAX, any::<i64>())
            .prop_map(|(epoch, end_offset)| DivergingEpoch { epoch, end_offset })
    }

    fn current_leader() -> impl Strategy<Value = CurrentLeader> {
        (any::<i32>(), 0..=i32::MAX).prop_map(|(leader_id, leader_epoch)| CurrentLeader {
            leader_id,
            leader_epoch,
        })
    }

    fn partition() -> impl Strategy<Value = FetchPartition<Vec<u8>>> {
        (
            (
                any::<i32>(),
                any::<i16>(),
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            proptest::option::of(diverging_epoch()),
            proptest::option::of(current_leader()),
            prop_oneof![Just(-1), any::<i32>()],
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
        )
            .prop_map(
                |(
                    (index, error_code, high_watermark, last_stable, log_start),
                    d,
                    l,
                    r,
                    records,
                )| {
                    FetchPartition {
                        partition_index: index,
                        error_code,
                        high_watermark,
                        last_stable_offset: last_stable,
                        log_start_offset: log_start,
                        diverging_epoch: d,
                        current_leader: l,
                        preferred_read_replica: r,
                        records,
                    }
                },
            )
    }

    fn topic() -> impl Strategy<Value = FetchTopic<Vec<u8>>> {
        (
            ".{0,20}",
            any::<[u8; 16]>(),
            proptest::collection::vec(partition(), 0..4),
        )
            .prop_map(|(name, topic_id, partitions)| FetchTopic {
                name,
                topic_id,
                partitions,
            })
    }

    fn head() -> impl Strategy<Value = FetchResponseHead> {
        (
            any::<i32>(),
            any::<i16>(),
            prop_oneof![Just(0), any::<i32>()],
        )
            .prop_map(
                |(throttle_time_ms, error_code, session_id)| FetchResponseHead {
                    throttle_time_ms,
                    error_code,
                    session_id,
                },
            )
    }

    /// `head` and `topics` with the fields `version` cannot carry, and the encoder refuses,
    /// at their "none": no session before v7, no preferred read replica before v11.
    fn fit_to(
        version: i16,
        head: &FetchResponseHead,
        topics: &[FetchTopic<Vec<u8>>],
    ) -> (FetchResponseHead, Vec<FetchTopic<Vec<u8>>>) {
        let mut head = *head;
        let mut topics = topics.to_vec();
        if version < SESSION_FROM {
            head.session_id = 0;
        }
        if version < PREFERRED_READ_REPLICA_FROM {
            for partition in topics.iter_mut().flat_map(|t| &mut t.partitions) {
                partition.preferred_read_replica = -1;
            }
        }
        (head, topics)
    }

    /// Pieces as the encoder must give them: bytes never empty nor next to other bytes, and
    /// the record chunks given, in order, less the empty ones.
    fn check_pieces(pieces: &[Piece<Vec<u8>>], topics: &[FetchTopic<Vec<u8>>]) {
        assert!(matches!(pieces.first(), Some(Piece::Bytes(_))));
        for pair in pieces.windows(2) {
            let both_bytes = matches!(pair, [Piece::Bytes(_), Piece::Bytes(_)]);
            assert!(!both_bytes, "consecutive bytes pieces: {pair:?}");
        }
        assert!(pieces.iter().all(|piece| piece.len() > 0));
        let chunks: Vec<&Vec<u8>> = pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Records(chunk) => Some(chunk),
                Piece::Bytes(_) => None,
            })
            .collect();
        let given: Vec<&Vec<u8>> = topics
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.records)
            .filter(|chunk| !chunk.is_empty())
            .collect();
        assert_eq!(chunks, given);
    }

    /// `head` and `topics` at `version`, encoded, then decoded by kafka-protocol (generated
    /// from Kafka's schemas): the fields written come back, the records as the chunks
    /// concatenated, and the whole frame is read; and the bytes are the ones kafka-protocol's
    /// own encoder writes.
    fn check_round_trip(
        version: i16,
        correlation_id: i32,
        head: &FetchResponseHead,
        topics: &[FetchTopic<Vec<u8>>],
    ) -> Result<(), TestCaseError> {
        let expected = expected(version, head, topics);
        let pieces = encode_fetch_response(correlation_id, version, head, topics.to_vec());
        check_pieces(&pieces, topics);
        let frame = concat(&pieces);

        let mut rest = Bytes::from(frame.clone());
        prop_assert_eq!(rest.get_i32() as usize, rest.len());
        let header_version = if version >= FLEXIBLE_FROM { 1 } else { 0 };
        prop_assert_eq!(
            header_version,
            ApiKey::Fetch.response_header_version(version)
        );
        let header = ResponseHeader::decode(&mut rest, header_version).unwrap();
        prop_assert_eq!(header.correlation_id, correlation_id);
        prop_assert!(header.unknown_tagged_fields.is_empty());
        let decoded = FetchResponse::decode(&mut rest, version).unwrap();
        prop_assert_eq!(&decoded, &expected, "v{}", version);
        prop_assert!(
            rest.is_empty(),
            "v{}: {} bytes left over",
            version,
            rest.len()
        );

        // Decoders read a known tag's field without looking at its size, so check the sizes
        // too: against the bytes kafka-protocol writes.
        let mut theirs = Vec::new();
        theirs.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut theirs, header_version)
            .unwrap();
        expected.encode(&mut theirs, version).unwrap();
        let size = (theirs.len() - SIZE_LEN) as i32;
        theirs[..SIZE_LEN].copy_from_slice(&size.to_be_bytes());
        prop_assert_eq!(frame, theirs, "v{}", version);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn kafka_protocol_decodes_what_was_written_at_every_version(
            correlation_id in any::<i32>(),
            head in head(),
            topics in proptest::collection::vec(topic(), 0..4),
        ) {
            for version in FETCH_VERSIONS {
                let (head, topics) = fit_to(version, &head, &topics);
                check_round_trip(version, correlation_id, &head, &topics)?;
            }
        }
    }

    fn partition_with(records: Vec<Vec<u8>>) -> FetchPartition<Vec<u8>> {
        FetchPartition {
            partition_index: 0,
            error_code: 0,
            high_watermark: 10,
            last_stable_offset: 10,
            log_start_offset: 0,
            diverging_epoch: None,
            current_leader: None,
            preferred_read_replica: -1,
            records,
        }
    }

    const HEAD: FetchResponseHead = FetchResponseHead {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
    };

    #[test]
    fn bytes_between_record_chunks_coalesce() {
        let topics = vec![FetchTopic {
            name: "t".to_string(),
            topic_id: [7; 16],
            partitions: vec![
                partition_with(vec![b"aaa".to_vec(), vec![], b"bb".to_vec()]),
                partition_with(vec![]),
                partition_with(vec![vec![]]),
                partition_with(vec![b"c".to_vec()]),
            ],
        }];
        for version in FETCH_VERSIONS {
            let pieces = encode_fetch_response(1, version, &HEAD, topics.clone());
            let kinds: Vec<&str> = pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Bytes(_) => "bytes",
                    Piece::Records(_) => "records",
                })
                .collect();
            // Size and headers; two chunks (the empty one dropped); the next partition's
            // header, two partitions without records and the last one's header; its chunk;
            // the closing tagged fields (flexible) or nothing.
            let mut expected = vec!["bytes", "records", "records", "bytes", "records"];
            if version >= FLEXIBLE_FROM {
                expected.push("bytes");
            }
            assert_eq!(kinds, expected, "v{version}");
        }
    }

    #[test]
    fn a_response_without_records_is_one_piece() {
        let topics = vec![FetchTopic {
            name: "t".to_string(),
            topic_id: [7; 16],
            partitions: vec![partition_with(vec![]), partition_with(vec![vec![]])],
        }];
        let pieces = encode_fetch_response(1, 16, &HEAD, topics);
        assert_eq!(pieces.len(), 1);
    }

    #[test]
    fn kafka_protocol_knows_every_version_written() {
        let known = ApiKey::Fetch.valid_versions();
        assert!(known.min <= *FETCH_VERSIONS.start());
        assert!(*FETCH_VERSIONS.end() <= known.max);
    }

    #[test]
    #[should_panic(expected = "fetch response v17 is not among 4..=16")]
    fn a_version_outside_the_range_is_a_bug() {
        encode_fetch_response::<Vec<u8>>(1, 17, &HEAD, vec![]);
    }

    #[test]
    #[should_panic(expected = "fetch response v10 has no preferred read replica")]
    fn a_preferred_read_replica_before_v11_is_a_bug() {
        let mut partition = partition_with(vec![]);
        partition.preferred_read_replica = 2;
        let topics = vec![FetchTopic {
            name: "t".to_string(),
            topic_id: [0; 16],
            partitions: vec![partition],
        }];
        encode_fetch_response(1, 10, &HEAD, topics);
    }

    /// A v16 partition with both tags, byte by byte from the table.
    #[test]
    fn partition_tagged_fields_known_answer() {
        let mut partition = partition_with(vec![]);
        partition.diverging_epoch = Some(DivergingEpoch {
            epoch: 3,
            end_offset: 9,
        });
        partition.current_leader = Some(CurrentLeader {
            leader_id: 2,
            leader_epoch: 4,
        });
        let topics = vec![FetchTopic {
            name: String::new(),
            topic_id: [0; 16],
            partitions: vec![partition],
        }];
        let frame = concat(&encode_fetch_response(1, 16, &HEAD, topics));
        // The partition's tagged fields: count, then tag, size and field for each; then the
        // topic's and the response's (none).
        let mut expected = vec![2, 0, 13];
        expected.extend_from_slice(&3i32.to_be_bytes());
        expected.extend_from_slice(&9i64.to_be_bytes());
        expected.extend_from_slice(&[0, 1, 9]);
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&4i32.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0]);
        let tags_at = frame.len() - expected.len();
        assert_eq!(frame[tags_at..], expected[..]);
        assert_eq!(frame[tags_at - 1], 1, "records: compact length 0 + 1");
    }
}
