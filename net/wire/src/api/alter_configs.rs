//! AlterConfigs (key 33): change a topic's config. Unlike Kafka's AlterConfigs, which
//! replaces the whole set, a change names only the keys it sets: a value sets the key, null
//! resets it to the default, and keys not named keep their values (Kafka's
//! IncrementalAlterConfigs semantics, with SET and DELETE). Each topic's change is validated
//! whole and applied whole.
//!
//! Request body:
//!
//! | field         | type            | notes                                  |
//! |---------------|-----------------|----------------------------------------|
//! | topics        | array           |                                        |
//! | . name        | string          |                                        |
//! | . configs     | array           |                                        |
//! | . . name      | string          | a topic config key                     |
//! | . . value     | nullable string | null: reset to the default             |
//! | validate_only | bool            | check everything, change nothing       |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                      |
//! |-----------------|-----------------|--------------------------------------------|
//! | topics          | array           | one per requested topic, in request order   |
//! | . name          | string          |                                            |
//! | . error_code    | i16             | UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG |
//! | . error_message | nullable string |                                            |

use crate::api::TopicResult;
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Config changes, per topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsRequest {
    pub topics: Vec<AlterConfigsTopic>,
    /// Check the request, change nothing.
    pub validate_only: bool,
}

/// One topic's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsTopic {
    pub name: String,
    pub configs: Vec<ConfigChange>,
}

/// One key's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChange {
    pub name: String,
    /// `None`: reset to the default.
    pub value: Option<String>,
}

/// Each topic's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsResponse {
    pub topics: Vec<TopicResult>,
}

impl Wire for AlterConfigsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN + 1;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)?;
        w.bool(self.validate_only);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AlterConfigsRequest {
            topics: r.array("topics")?,
            validate_only: r.bool("validate_only")?,
        })
    }
}

impl Wire for AlterConfigsTopic {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.array("configs", &self.configs)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AlterConfigsTopic {
            name: r.string("topic name")?,
            configs: r.array("configs")?,
        })
    }
}

impl Wire for ConfigChange {
    const MIN_LEN: usize = 2 * STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("config name", &self.name)?;
        w.nullable_string("config value", self.value.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ConfigChange {
            name: r.string("config name")?,
            value: r.nullable_string("config value")?,
        })
    }
}

impl Wire for AlterConfigsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AlterConfigsResponse {
            topics: r.array("topics")?,
        })
    }
}
