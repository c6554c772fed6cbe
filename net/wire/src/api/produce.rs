//! Produce (key 0): append record batches to partitions.
//!
//! Request body:
//!
//! | field               | type   | notes                                                  |
//! |---------------------|--------|--------------------------------------------------------|
//! | acks                | i16    | 0: answer before appending; 1: after the leader's append; -1: when the high watermark passes the batches |
//! | timeout_ms          | u32    | how long an acks=-1 produce may wait for replication   |
//! | topics              | array  |                                                        |
//! | . name              | string |                                                        |
//! | . partitions        | array  |                                                        |
//! | . . partition_index | u32    |                                                        |
//! | . . records         | bytes  | u32 length, then RecordBatch v2 batches back to back   |
//!
//! Every request gets a response, acks=0 included (unlike Kafka): with acks=0 it is sent
//! before the append, with no offsets. That keeps "one response per request, in order" true.
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field                | type            | notes                                         |
//! |----------------------|-----------------|-----------------------------------------------|
//! | topics               | array           | as requested                                  |
//! | . name               | string          |                                               |
//! | . partitions         | array           |                                               |
//! | . . partition_index  | u32             |                                               |
//! | . . error_code       | i16             | see `net/PROTOCOL.md`                         |
//! | . . base_offset      | i64             | the first batch's first offset; -1 on error or with acks=0 |
//! | . . log_start_offset | i64             | -1 on error or with acks=0                     |
//! | . . error_message    | nullable string | what went wrong, for people                   |

use std::time::Duration;

use bytes::Bytes;
use ringlog_format::Offset;
pub use ringlog_replication::partition::Acks;

use crate::api::Topic;
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Batches to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceRequest {
    pub acks: Acks,
    /// How long an acks=all produce may wait for the high watermark (`timeout_ms` on the wire).
    pub timeout: Duration,
    pub topics: Vec<Topic<ProducePartition>>,
}

/// The batches for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducePartition {
    pub partition_index: u32,
    /// RecordBatch v2 batches back to back; decoded as a slice of the request frame (no copy).
    /// The broker validates them; the codec does not look inside.
    pub records: Bytes,
}

/// Each partition's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceResponse {
    pub topics: Vec<Topic<ProducePartitionResponse>>,
}

/// One partition's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    pub partition_index: u32,
    pub error_code: ErrorCode,
    /// The first appended offset; `None` (-1) on error or with acks=0.
    pub base_offset: Option<Offset>,
    /// `None` (-1) on error or with acks=0.
    pub log_start_offset: Option<Offset>,
    pub error_message: Option<String>,
}

fn acks_to_wire(acks: Acks) -> i16 {
    match acks {
        Acks::None => 0,
        Acks::Leader => 1,
        Acks::All => -1,
    }
}

fn acks_from_wire(acks: i16) -> Result<Acks, WireError> {
    match acks {
        0 => Ok(Acks::None),
        1 => Ok(Acks::Leader),
        -1 => Ok(Acks::All),
        _ => Err(WireError::InvalidAcks { acks }),
    }
}

impl Wire for ProduceRequest {
    const MIN_LEN: usize = 2 + 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.i16(acks_to_wire(self.acks));
        w.duration_ms("timeout_ms", self.timeout)?;
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ProduceRequest {
            acks: acks_from_wire(r.i16("acks")?)?,
            timeout: r.duration_ms("timeout_ms")?,
            topics: r.array("topics")?,
        })
    }
}

impl Wire for ProducePartition {
    const MIN_LEN: usize = 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.bytes("records", &self.records)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ProducePartition {
            partition_index: r.u32("partition_index")?,
            records: r.bytes("records")?,
        })
    }
}

impl Wire for ProduceResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ProduceResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for ProducePartitionResponse {
    const MIN_LEN: usize = 4 + 2 + 8 + 8 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u32(self.partition_index);
        w.error_code(self.error_code);
        w.optional_offset("base_offset", self.base_offset)?;
        w.optional_offset("log_start_offset", self.log_start_offset)?;
        w.nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ProducePartitionResponse {
            partition_index: r.u32("partition_index")?,
            error_code: r.error_code("error_code")?,
            base_offset: r.optional_offset("base_offset")?,
            log_start_offset: r.optional_offset("log_start_offset")?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_0_1_and_minus_1() {
        for acks in [Acks::None, Acks::Leader, Acks::All] {
            assert_eq!(acks_from_wire(acks_to_wire(acks)).unwrap(), acks);
        }
        assert_eq!(acks_to_wire(Acks::All), -1);
        assert_eq!(
            acks_from_wire(2).unwrap_err(),
            WireError::InvalidAcks { acks: 2 }
        );
    }
}
