//! ListOffsets (key 2): a partition's earliest offset, latest offset, or the first offset at
//! or after a timestamp.
//!
//! Request body:
//!
//! | field                    | type   | notes                                           |
//! |--------------------------|--------|-------------------------------------------------|
//! | topics                   | array  |                                                 |
//! | . name                   | string |                                                 |
//! | . partitions             | array  |                                                 |
//! | . . partition_index      | u32    |                                                 |
//! | . . current_leader_epoch | i32    | -1: unknown, not checked                        |
//! | . . timestamp            | i64    | -1: latest; -2: earliest; else ms since the Unix epoch (at least 0) |
//!
//! "Latest" is the high watermark: the next offset a consumer will be able to read. "Earliest"
//! is the log start offset.
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field               | type   | notes                                                 |
//! |---------------------|--------|-------------------------------------------------------|
//! | topics              | array  |                                                       |
//! | . name              | string |                                                       |
//! | . partitions        | array  |                                                       |
//! | . . partition_index | u32    |                                                       |
//! | . . error_code      | i16    | see `net/PROTOCOL.md`                                 |
//! | . . timestamp       | i64    | the found record's timestamp; -1 for earliest/latest, on error, or when none is found |
//! | . . offset          | i64    | -1 on error, or when no record is at or after the timestamp |
//! | . . leader_epoch    | i32    | the epoch of the found offset; -1 when unknown         |

use ringlog_format::{LeaderEpoch, Offset, Timestamp};

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, Wire, Writer};

/// Offsets to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    pub topics: Vec<Topic<ListOffsetsPartition>>,
}

/// One partition's lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    pub partition_index: u32,
    /// `None` (-1): unknown, not checked.
    pub current_leader_epoch: Option<LeaderEpoch>,
    pub spec: OffsetSpec,
}

/// Which offset to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (-2 on the wire).
    Earliest,
    /// The high watermark (-1 on the wire).
    Latest,
    /// The first offset whose timestamp is at or after this one.
    Timestamp(Timestamp),
}

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// The offsets found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    pub topics: Vec<Topic<ListOffsetsPartitionResponse>>,
}

/// One partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    pub partition_index: u32,
    pub error_code: ErrorCode,
    /// The found record's timestamp; `None` (-1) for earliest and latest, on error, or when
    /// nothing was found.
    pub timestamp: Option<Timestamp>,
    /// `None` (-1) on error, or when no record is at or after the timestamp.
    pub offset: Option<Offset>,
    /// `None` (-1): unknown.
    pub leader_epoch: Option<LeaderEpoch>,
}

impl Wire for ListOffsetsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListOffsetsRequest {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for ListOffsetsPartition {
    const MIN_LEN: usize = 4 + 4 + 8;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.optional_leader_epoch("current_leader_epoch", self.current_leader_epoch)?;
        match self.spec {
            OffsetSpec::Earliest => w.i64(EARLIEST),
            OffsetSpec::Latest => w.i64(LATEST),
            OffsetSpec::Timestamp(timestamp) => {
                w.optional_timestamp("timestamp", Some(timestamp))?
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let partition_index = r.u32("partition_index")?;
        let current_leader_epoch = r.optional_leader_epoch("current_leader_epoch")?;
        let spec = match r.i64("timestamp")? {
            EARLIEST => OffsetSpec::Earliest,
            LATEST => OffsetSpec::Latest,
            value if value >= 0 => OffsetSpec::Timestamp(Timestamp(value)),
            value => {
                return Err(WireError::InvalidValue {
                    field: "timestamp",
                    value,
                    expected: "-1 (latest), -2 (earliest) or a timestamp of at least 0",
                });
            }
        };
        Ok(ListOffsetsPartition {
            partition_index,
            current_leader_epoch,
            spec,
        })
    }
}

impl Wire for ListOffsetsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListOffsetsResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for ListOffsetsPartitionResponse {
    const MIN_LEN: usize = 4 + 2 + 8 + 8 + 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.error_code(self.error_code);
        w.optional_timestamp("timestamp", self.timestamp)?;
        w.optional_offset("offset", self.offset)?;
        w.optional_leader_epoch("leader_epoch", self.leader_epoch)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListOffsetsPartitionResponse {
            partition_index: r.u32("partition_index")?,
            error_code: r.error_code("error_code")?,
            timestamp: r.optional_timestamp("timestamp")?,
            offset: r.optional_offset("offset")?,
            leader_epoch: r.optional_leader_epoch("leader_epoch")?,
        })
    }
}
