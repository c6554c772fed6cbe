//! OffsetCommit (key 8): store a consumer group's committed offsets. Version 0 commits for a
//! consumer outside any group membership (assign mode): nothing checks who sent it. Version 1
//! adds who commits: a member of the group (JoinGroup) names its member id and generation, and
//! the group's coordinator refuses a commit from a member or generation it does not know.
//!
//! Request body:
//!
//! | field                      | type            | notes                                   |
//! |----------------------------|-----------------|-----------------------------------------|
//! | group_id                   | string          | not empty                               |
//! | topics                     | array           |                                         |
//! | . name                     | string          |                                         |
//! | . partitions               | array           |                                         |
//! | . . partition_index        | u32             |                                         |
//! | . . committed_offset       | i64             | the next offset to consume; at least 0  |
//! | . . committed_leader_epoch | i32             | epoch of the last consumed record; -1: unknown |
//! | . . committed_metadata     | nullable string | the client's own note                   |
//! | generation_id              | i32             | v1+: the member's generation; -1: none (v0: -1) |
//! | member_id                  | string          | v1+: the member's id; "": none (v0: "")  |
//! | group_instance_id          | nullable string | v1+: a static member's instance id (v0: null) |
//!
//! With neither a member id nor a generation (`""` and a negative one) the commit is an
//! assign-mode one, as at version 0.
//!
//! Response body (after the response's error code, see [`crate`]), the same at both versions:
//!
//! | field               | type   | notes                                                  |
//! |---------------------|--------|--------------------------------------------------------|
//! | topics              | array  | as requested                                           |
//! | . name              | string |                                                        |
//! | . partitions        | array  |                                                        |
//! | . . partition_index | u32    |                                                        |
//! | . . error_code      | i16    | INVALID_GROUP_ID, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE; v1: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |

use ringlog_format::{LeaderEpoch, Offset};

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The first version naming who commits (generation, member id, group instance id).
pub const MEMBER_FROM_VERSION: u16 = 1;
/// `generation_id` when the commit names no generation.
pub const NO_GENERATION: i32 = -1;

/// Offsets to commit for a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub topics: Vec<Topic<OffsetCommitPartition>>,
    /// v1+: the committing member's generation; [`NO_GENERATION`] (-1) for none, and always
    /// at v0.
    pub generation_id: i32,
    /// v1+: the committing member's id; "" for none, and always at v0.
    pub member_id: String,
    /// v1+: the committing static member's instance id; always `None` at v0.
    pub group_instance_id: Option<String>,
}

/// One partition's committed position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    pub partition_index: u32,
    /// The next offset the group will consume.
    pub committed_offset: Offset,
    /// The epoch of the last consumed record; `None` (-1): unknown.
    pub committed_leader_epoch: Option<LeaderEpoch>,
    pub committed_metadata: Option<String>,
}

/// Each partition's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    pub topics: Vec<Topic<OffsetCommitPartitionResponse>>,
}

/// One partition's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetCommitPartitionResponse {
    pub partition_index: u32,
    pub error_code: ErrorCode,
}

impl Wire for OffsetCommitRequest {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.since(
            "generation_id",
            MEMBER_FROM_VERSION,
            self.generation_id == NO_GENERATION,
        )?;
        w.since("member_id", MEMBER_FROM_VERSION, self.member_id.is_empty())?;
        w.since(
            "group_instance_id",
            MEMBER_FROM_VERSION,
            self.group_instance_id.is_none(),
        )?;
        w.string("group_id", &self.group_id)?;
        w.array("topics", &self.topics)?;
        if w.version() >= MEMBER_FROM_VERSION {
            w.i32(self.generation_id);
            w.string("member_id", &self.member_id)?;
            w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        }
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let group_id = r.string("group_id")?;
        let topics = r.array("topics")?;
        if r.version() < MEMBER_FROM_VERSION {
            return Ok(OffsetCommitRequest {
                group_id,
                topics,
                generation_id: NO_GENERATION,
                member_id: String::new(),
                group_instance_id: None,
            });
        }
        Ok(OffsetCommitRequest {
            group_id,
            topics,
            generation_id: r.i32("generation_id")?,
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
        })
    }
}

impl Wire for OffsetCommitPartition {
    const MIN_LEN: usize = 4 + 8 + 4 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.offset("committed_offset", self.committed_offset)?;
        w.optional_leader_epoch("committed_leader_epoch", self.committed_leader_epoch)?;
        w.nullable_string("committed_metadata", self.committed_metadata.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetCommitPartition {
            partition_index: r.u32("partition_index")?,
            committed_offset: r.offset("committed_offset")?,
            committed_leader_epoch: r.optional_leader_epoch("committed_leader_epoch")?,
            committed_metadata: r.nullable_string("committed_metadata")?,
        })
    }
}

impl Wire for OffsetCommitResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetCommitResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for OffsetCommitPartitionResponse {
    const MIN_LEN: usize = 4 + 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.error_code(self.error_code);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetCommitPartitionResponse {
            partition_index: r.u32("partition_index")?,
            error_code: r.error_code("error_code")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::api_key::ApiKey;
    use crate::frame::{CorrelationId, REQUEST_HEADER_LEN, RequestHeader};
    use crate::message::{Request, decode_request, encode_request};

    fn request(generation_id: i32, member_id: &str) -> Request {
        Request::OffsetCommit(OffsetCommitRequest {
            group_id: "g".to_string(),
            topics: vec![],
            generation_id,
            member_id: member_id.to_string(),
            group_instance_id: None,
        })
    }

    fn decode(api_version: u16, body: &[u8]) -> Result<Request, WireError> {
        let header = RequestHeader {
            api_key: ApiKey::OFFSET_COMMIT,
            api_version,
            correlation_id: CorrelationId(1),
        };
        decode_request(&header, Bytes::copy_from_slice(body))
    }

    #[test]
    fn version_1_appends_who_commits() {
        let frame = encode_request(&request(3, "m"), 1, CorrelationId(1)).unwrap();
        let body = &frame[REQUEST_HEADER_LEN..];
        let expected = [
            0, 1, b'g', // group_id
            0, 0, 0, 0, // no topics
            0, 0, 0, 3, // generation_id
            0, 1, b'm', // member_id
            0xff, 0xff, // group_instance_id: null
        ];
        assert_eq!(body, expected);
        assert_eq!(decode(1, body).unwrap(), request(3, "m"));
        // The same bytes are not a v0 body: v0 ends after the topics.
        assert!(matches!(
            decode(0, body),
            Err(WireError::TrailingBytes { count: 9, .. })
        ));
    }

    #[test]
    fn version_0_carries_no_member_and_decodes_as_none() {
        let frame = encode_request(&request(NO_GENERATION, ""), 0, CorrelationId(1)).unwrap();
        let body = &frame[REQUEST_HEADER_LEN..];
        assert_eq!(body, [0, 1, b'g', 0, 0, 0, 0]);
        assert_eq!(decode(0, body).unwrap(), request(NO_GENERATION, ""));
    }

    #[test]
    fn a_member_cannot_be_encoded_at_version_0() {
        let error = encode_request(&request(3, ""), 0, CorrelationId(1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "generation_id is not in version 0: it needs version 1 or later"
        );
        let error = encode_request(&request(NO_GENERATION, "m"), 0, CorrelationId(1)).unwrap_err();
        assert_eq!(
            error,
            WireError::NotInVersion {
                field: "member_id",
                api_version: 0,
                since: MEMBER_FROM_VERSION
            }
        );
    }
}
