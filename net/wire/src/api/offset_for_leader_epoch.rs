//! OffsetForLeaderEpoch (key 23): where a leader epoch ends on the leader. A follower asks it
//! after a leader change, for the epoch of its last batch, and truncates to the answer; a
//! consumer may ask it to detect that its position was truncated away.
//!
//! Request body:
//!
//! | field                    | type   | notes                                          |
//! |--------------------------|--------|------------------------------------------------|
//! | replica_id               | i32    | the follower's broker id; -1 for consumers     |
//! | topics                   | array  |                                                |
//! | . name                   | string |                                                |
//! | . partitions             | array  |                                                |
//! | . . partition_index      | u32    |                                                |
//! | . . current_leader_epoch | i32    | -1: unknown, not checked                       |
//! | . . leader_epoch         | i32    | the epoch to look up; at least 0               |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field               | type   | notes                                                    |
//! |---------------------|--------|----------------------------------------------------------|
//! | topics              | array  |                                                          |
//! | . name              | string |                                                          |
//! | . partitions        | array  |                                                          |
//! | . . partition_index | u32    |                                                          |
//! | . . error_code      | i16    | FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER |
//! | . . leader_epoch    | i32    | the largest epoch at most the one asked for; -1: none    |
//! | . . end_offset      | i64    | where that epoch ends (exclusive); -1: none              |

use ringlog_format::{LeaderEpoch, Offset};
use ringlog_replication::BrokerId;

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, Wire, Writer};

/// Epochs to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetForLeaderEpochRequest {
    /// `None` (-1): a consumer; else the follower asking.
    pub replica_id: Option<BrokerId>,
    pub topics: Vec<Topic<OffsetForLeaderEpochPartition>>,
}

/// One partition's lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetForLeaderEpochPartition {
    pub partition_index: u32,
    /// `None` (-1): unknown, not checked.
    pub current_leader_epoch: Option<LeaderEpoch>,
    pub leader_epoch: LeaderEpoch,
}

/// Where the epochs end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    pub topics: Vec<Topic<OffsetForLeaderEpochPartitionResponse>>,
}

/// One partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetForLeaderEpochPartitionResponse {
    pub partition_index: u32,
    pub error_code: ErrorCode,
    /// The largest epoch at most the one asked for; `None` (-1) when there is none.
    pub leader_epoch: Option<LeaderEpoch>,
    /// Where that epoch ends (exclusive); `None` (-1) when there is none.
    pub end_offset: Option<Offset>,
}

impl Wire for OffsetForLeaderEpochRequest {
    const MIN_LEN: usize = 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.optional_broker_id("replica_id", self.replica_id)?;
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetForLeaderEpochRequest {
            replica_id: r.optional_broker_id("replica_id")?,
            topics: r.array("topics")?,
        })
    }
}

impl Wire for OffsetForLeaderEpochPartition {
    const MIN_LEN: usize = 4 + 4 + 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.optional_leader_epoch("current_leader_epoch", self.current_leader_epoch)?;
        w.leader_epoch("leader_epoch", self.leader_epoch)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetForLeaderEpochPartition {
            partition_index: r.u32("partition_index")?,
            current_leader_epoch: r.optional_leader_epoch("current_leader_epoch")?,
            leader_epoch: r.leader_epoch("leader_epoch")?,
        })
    }
}

impl Wire for OffsetForLeaderEpochResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetForLeaderEpochResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for OffsetForLeaderEpochPartitionResponse {
    const MIN_LEN: usize = 4 + 2 + 4 + 8;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.error_code(self.error_code);
        w.optional_leader_epoch("leader_epoch", self.leader_epoch)?;
        w.optional_offset("end_offset", self.end_offset)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(OffsetForLeaderEpochPartitionResponse {
            partition_index: r.u32("partition_index")?,
            error_code: r.error_code("error_code")?,
            leader_epoch: r.optional_leader_epoch("leader_epoch")?,
            end_offset: r.optional_offset("end_offset")?,
        })
    }
}
