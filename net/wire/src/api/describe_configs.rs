//! DescribeConfigs (key 32): a topic's config, key by key, with whether each value is the
//! topic's own or the default.
//!
//! Request body:
//!
//! | field         | type                     | notes                  |
//! |---------------|--------------------------|------------------------|
//! | topics        | array                    |                        |
//! | . name        | string                   |                        |
//! | . config_keys | nullable array of string | null: every key        |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                         |
//! |-----------------|-----------------|-----------------------------------------------|
//! | topics          | array           | one per requested topic, in request order      |
//! | . name          | string          |                                               |
//! | . error_code    | i16             | UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG (unknown key) |
//! | . error_message | nullable string |                                               |
//! | . configs       | array           | in request order, or key order for null keys  |
//! | . . name        | string          |                                               |
//! | . . value       | nullable string | null: no value                                |
//! | . . is_default  | bool            | the broker's default, not set on the topic    |

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Which topics' configs to describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsRequest {
    pub topics: Vec<DescribeConfigsTopic>,
}

/// One topic and the keys wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsTopic {
    pub name: String,
    /// `None`: every key.
    pub config_keys: Option<Vec<String>>,
}

/// Each topic's configs, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsResponse {
    pub topics: Vec<DescribeConfigsResult>,
}

/// One topic's configs, or why they could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeConfigsResult {
    pub name: String,
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub configs: Vec<DescribedConfig>,
}

/// One config key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    /// The value is the broker's default, not set on the topic.
    pub is_default: bool,
}

impl Wire for DescribeConfigsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeConfigsRequest {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for DescribeConfigsTopic {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.nullable_array_with("config_keys", self.config_keys.as_deref(), |key, w| {
            w.string("config_keys", key)
        })
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeConfigsTopic {
            name: r.string("topic name")?,
            config_keys: r
                .nullable_array_with("config_keys", STRING_MIN_LEN, |r| r.string("config_keys"))?,
        })
    }
}

impl Wire for DescribeConfigsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeConfigsResponse {
            topics: r.array("topics")?,
        })
    }
}

impl Wire for DescribeConfigsResult {
    const MIN_LEN: usize = STRING_MIN_LEN + 2 + STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())?;
        w.array("configs", &self.configs)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeConfigsResult {
            name: r.string("topic name")?,
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
            configs: r.array("configs")?,
        })
    }
}

impl Wire for DescribedConfig {
    const MIN_LEN: usize = 2 * STRING_MIN_LEN + 1;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("config name", &self.name)?;
        w.nullable_string("config value", self.value.as_deref())?;
        w.bool(self.is_default);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribedConfig {
            name: r.string("config name")?,
            value: r.nullable_string("config value")?,
            is_default: r.bool("is_default")?,
        })
    }
}
