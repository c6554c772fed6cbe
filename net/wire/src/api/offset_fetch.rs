//! OffsetFetch (key 9): read a consumer group's committed offsets.
//!
//! Request body:
//!
//! | field               | type                   | notes                                  |
//! |---------------------|------------------------|----------------------------------------|
//! | group_id            | string                 |                                        |
//! | topics              | nullable array         | null: every partition the group committed |
//! | . name              | string                 |                                        |
//! | . partition_indexes | array of u32           |                                        |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field                      | type            | notes                                  |
//! |----------------------------|-----------------|----------------------------------------|
//! | topics                     | array           |                                        |
//! | . name                     | string          |                                        |
//! | . partitions               | array           |                                        |
//! | . . partition_index        | u32             |                                        |
//! | . . committed_offset       | i64             | -1: nothing committed                  |
//! | . . committed_leader_epoch | i32             | -1: unknown                            |
//! | . . metadata               | nullable string | as committed                           |
//! | . . error_code             | i16             | INVALID_GROUP_ID, UNKNOWN_TOPIC_OR_PARTITION |

use ringlog_format::{LeaderEpoch, Offset};

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// A group's committed offsets to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    pub group_id: String,
    /// `None`: every partition the group committed an offset for.
    pub topics: Option<Vec<OffsetFetchTopic>>,
}

/// The partitions of one topic to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    pub name: String,
    pub partition_indexes: Vec<u32>,
}

/// The committed offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    pub topics: Vec<Topic<OffsetFetchPartitionResponse>>,
}

/// One partition's committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchPartitionResponse {
    pub partition_index: u32,
    /// `None` (-1): nothing committed.
    pub committed_offset: Option<Offset>,
    /// `None` (-1): unknown.
    pub committed_leader_epoch: Option<LeaderEpoch>,
    pub metadata: Option<String>,
    pub error_code: ErrorCode,
}

impl Wire for OffsetFetchRequest {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.nullable_array_with("topics", self.topics.as_deref(), OffsetFetchTopic::encode)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetFetchRequest {
            group_id: r.string("group_id")?,
            topics: r.nullable_array_with(
                "topics",
                OffsetFetchTopic::MIN_LEN,
                OffsetFetchTopic::decode,
            )?,
        })
    }
}

impl Wire for OffsetFetchTopic {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.array_with("partition_indexes", &self.partition_indexes, |index, w| {
            w.u32(*index);
            Ok(())
        })
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetFetchTopic {
            name: r.string("topic name")?,
            partition_indexes: r
                .array_with("partition_indexes", 4, |r| r.u32("partition_indexes"))?,
        })
    }
}

impl Wire for OffsetFetchResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetFetchResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for OffsetFetchPartitionResponse {
    const MIN_LEN: usize = 4 + 8 + 4 + STRING_MIN_LEN + 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.optional_offset("committed_offset", self.committed_offset)?;
        w.optional_leader_epoch("committed_leader_epoch", self.committed_leader_epoch)?;
        w.nullable_string("metadata", self.metadata.as_deref())?;
        w.error_code(self.error_code);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetFetchPartitionResponse {
            partition_index: r.u32("partition_index")?,
            committed_offset: r.optional_offset("committed_offset")?,
            committed_leader_epoch: r.optional_leader_epoch("committed_leader_epoch")?,
            metadata: r.nullable_string("metadata")?,
            error_code: r.error_code("error_code")?,
        })
    }
}
