//! DeleteTopics (key 20): delete topics by name. Each topic succeeds or fails on its own.
//!
//! Request body:
//!
//! | field       | type            | notes                                         |
//! |-------------|-----------------|-----------------------------------------------|
//! | topic_names | array of string |                                               |
//! | timeout_ms  | u32             | how long to wait for the deletions to commit  |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                        |
//! |-----------------|-----------------|----------------------------------------------|
//! | topics          | array           | one per requested topic, in request order     |
//! | . name          | string          |                                              |
//! | . error_code    | i16             | UNKNOWN_TOPIC_OR_PARTITION, REQUEST_TIMED_OUT |
//! | . error_message | nullable string |                                              |

use std::time::Duration;

use crate::api::{TopicResult, read_strings, write_strings};
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, Wire, Writer};

/// Topics to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopicsRequest {
    pub topic_names: Vec<String>,
    /// How long to wait for the deletions to commit (`timeout_ms` on the wire).
    pub timeout: Duration,
}

/// Each topic's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopicsResponse {
    pub topics: Vec<TopicResult>,
}

impl Wire for DeleteTopicsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN + 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "topic_names", &self.topic_names)?;
        w.duration_ms("timeout_ms", self.timeout)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteTopicsRequest {
            topic_names: read_strings(r, "topic_names")?,
            timeout: r.duration_ms("timeout_ms")?,
        })
    }
}

impl Wire for DeleteTopicsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteTopicsResponse {
            topics: r.array("topics")?,
        })
    }
}
