//! One file per API: its request and response bodies, their layout as a `//!` table and their
//! encoding. Every body is ringlog's own thin layout: fixed big-endian fields, strings, byte
//! arrays and arrays as [`primitives`](super) describes them. Nested fields are shown indented
//! with `.` in the tables. Every API is at version 0 but OffsetCommit, at 0 and 1: a body whose
//! layout changes with the version reads it off its `Reader` or `Writer`.
//!
//! Most APIs address partitions as Kafka does: an array of topics, each a name and an array of
//! per-partition entries ([`Topic`]).
//!
//! | file                          | API (key)                        |
//! |-------------------------------|----------------------------------|
//! | [`produce`]                   | Produce (0)                      |
//! | [`fetch`]                     | Fetch (1), with the zero-copy response encoder |
//! | [`list_offsets`]              | ListOffsets (2)                  |
//! | [`metadata`]                  | Metadata (3)                     |
//! | [`offset_commit`]             | OffsetCommit (8)                 |
//! | [`offset_fetch`]              | OffsetFetch (9)                  |
//! | [`join_group`]                | JoinGroup (11)                   |
//! | [`heartbeat`]                 | Heartbeat (12)                   |
//! | [`leave_group`]               | LeaveGroup (13)                  |
//! | [`sync_group`]                | SyncGroup (14)                   |
//! | [`describe_groups`]           | DescribeGroups (15)              |
//! | [`list_groups`]               | ListGroups (16)                  |
//! | [`sasl_handshake`]            | SaslHandshake (17)               |
//! | [`api_versions`]              | ApiVersions (18)                 |
//! | [`create_topics`]             | CreateTopics (19)                |
//! | [`delete_topics`]             | DeleteTopics (20)                |
//! | [`init_producer_id`]          | InitProducerId (22)              |
//! | [`offset_for_leader_epoch`]   | OffsetForLeaderEpoch (23)        |
//! | [`describe_acls`]             | DescribeAcls (29)                |
//! | [`create_acls`]               | CreateAcls (30)                  |
//! | [`delete_acls`]               | DeleteAcls (31)                  |
//! | [`describe_configs`]          | DescribeConfigs (32)             |
//! | [`alter_configs`]             | AlterConfigs (33)                |
//! | [`sasl_authenticate`]         | SaslAuthenticate (36)            |
//! | [`delete_groups`]             | DeleteGroups (42)                |
//! | [`describe_user_scram_credentials`] | DescribeUserScramCredentials (50) |
//! | [`alter_user_scram_credentials`] | AlterUserScramCredentials (51) |

pub mod alter_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod create_acls;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_user_scram_credentials;
pub mod fetch;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// A topic and per-partition entries of type `P`.
///
/// | field      | type         |
/// |------------|--------------|
/// | name       | string       |
/// | partitions | array of `P` |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic<P> {
    pub name: String,
    pub partitions: Vec<P>,
}

impl<P: Wire> Wire for Topic<P> {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.array("partitions", &self.partitions)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(Topic {
            name: r.string("topic name")?,
            partitions: r.array("partitions")?,
        })
    }
}

/// The outcome of an admin operation on one topic (CreateTopics, DeleteTopics, AlterConfigs).
///
/// | field         | type            | notes                         |
/// |---------------|-----------------|-------------------------------|
/// | name          | string          |                               |
/// | error_code    | i16             | NONE when the topic succeeded |
/// | error_message | nullable string | what went wrong, for people   |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicResult {
    pub name: String,
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
}

impl Wire for TopicResult {
    const MIN_LEN: usize = STRING_MIN_LEN + 2 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("topic name", &self.name)?;
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(TopicResult {
            name: r.string("topic name")?,
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

/// The outcome of one entry of a request answered entry by entry (CreateAcls' bindings).
///
/// | field         | type            | notes                         |
/// |---------------|-----------------|-------------------------------|
/// | error_code    | i16             | NONE when the entry succeeded |
/// | error_message | nullable string | what went wrong, for people   |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryResult {
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
}

impl Wire for EntryResult {
    const MIN_LEN: usize = 2 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(EntryResult {
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

/// Strings in arrays (topic names, config keys, group ids): each at least its length field.
pub(crate) fn read_strings(r: &mut Reader, field: &'static str) -> Result<Vec<String>, WireError> {
    r.array_with(field, STRING_MIN_LEN, |r| r.string(field))
}

pub(crate) fn write_strings(
    w: &mut Writer,
    field: &'static str,
    items: &[String],
) -> Result<(), WireError> {
    w.array_with(field, items, |item, w| w.string(field, item))
}
