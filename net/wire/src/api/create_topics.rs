//! CreateTopics (key 19): create topics, each with its partition count, replication factor and
//! config overrides. Each topic succeeds or fails on its own.
//!
//! Request body:
//!
//! | field                | type   | notes                                        |
//! |----------------------|--------|----------------------------------------------|
//! | topics               | array  |                                              |
//! | . name               | string | `[a-zA-Z0-9._-]`, 1 to 249 bytes             |
//! | . num_partitions     | i32    | at least 1; -1: the broker's `num_partitions` |
//! | . replication_factor | i16    | at least 1, at most the live brokers; -1: the broker's `default_replication_factor` |
//! | . configs            | array  | overrides of the broker's topic defaults     |
//! | . . name             | string | a topic config key (`min_insync_replicas`, ...) |
//! | . . value            | string |                                              |
//! | timeout_ms           | u32    | how long to wait for the topics to be created |
//! | validate_only        | bool   | check everything, create nothing             |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                           |
//! |-----------------|-----------------|-------------------------------------------------|
//! | topics          | array           | one per requested topic, in request order        |
//! | . name          | string          |                                                 |
//! | . error_code    | i16             | TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG, REQUEST_TIMED_OUT |
//! | . error_message | nullable string |                                                 |

use std::time::Duration;

use crate::api::TopicResult;
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Topics to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    pub topics: Vec<CreatableTopic>,
    /// How long to wait for the creation to commit (`timeout_ms` on the wire).
    pub timeout: Duration,
    /// Check the request, create nothing.
    pub validate_only: bool,
}

/// One topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatableTopic {
    pub name: String,
    /// `None` (-1): the broker's `num_partitions`. At most `i32::MAX`.
    pub num_partitions: Option<u32>,
    /// `None` (-1): the broker's `default_replication_factor`. At most `i16::MAX`.
    pub replication_factor: Option<u16>,
    pub configs: Vec<ConfigValue>,
}

/// A config key and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigValue {
    pub name: String,
    pub value: String,
}

/// Each topic's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    pub topics: Vec<TopicResult>,
}

impl Wire for CreateTopicsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN + 4 + 1;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)?;
        w.duration_ms("timeout_ms", self.timeout)?;
        w.bool(self.validate_only);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CreateTopicsRequest {
            topics: r.array("topics")?,
            timeout: r.duration_ms("timeout_ms")?,
            validate_only: r.bool("validate_only")?,
        })
    }
}

impl Wire for CreatableTopic {
    const MIN_LEN: usize = STRING_MIN_LEN + 4 + 2 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.optional_i32_count("num_partitions", self.num_partitions)?;
        w.optional_i16_count("replication_factor", self.replication_factor)?;
        w.array("configs", &self.configs)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CreatableTopic {
            name: r.string("topic name")?,
            num_partitions: r.optional_i32_count("num_partitions")?,
            replication_factor: r.optional_i16_count("replication_factor")?,
            configs: r.array("configs")?,
        })
    }
}

impl Wire for ConfigValue {
    const MIN_LEN: usize = 2 * STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("config name", &self.name)?;
        w.string("config value", &self.value)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ConfigValue {
            name: r.string("config name")?,
            value: r.string("config value")?,
        })
    }
}

impl Wire for CreateTopicsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CreateTopicsResponse {
            topics: r.array("topics")?,
        })
    }
}
