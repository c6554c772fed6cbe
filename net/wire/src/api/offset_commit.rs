//! OffsetCommit (key 8): store a consumer group's committed offsets. There is no group
//! membership protocol (yet): a commit names its group and nothing checks who sent it.
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
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field               | type   | notes                                                  |
//! |---------------------|--------|--------------------------------------------------------|
//! | topics              | array  | as requested                                           |
//! | . name              | string |                                                        |
//! | . partitions        | array  |                                                        |
//! | . . partition_index | u32    |                                                        |
//! | . . error_code      | i16    | INVALID_GROUP_ID, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE |

use ringlog_format::{LeaderEpoch, Offset};

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Offsets to commit for a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub topics: Vec<Topic<OffsetCommitPartition>>,
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
        w.string("group_id", &self.group_id)?;
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetCommitRequest {
            group_id: r.string("group_id")?,
            topics: r.array("topics")?,
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
