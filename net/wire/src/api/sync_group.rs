//! SyncGroup (key 14): after JoinGroup, get this member's assignment for the generation. The
//! leader sends every member's assignment; the others send none, and their answer waits until
//! the leader's assignment is stored (appended to `__consumer_offsets`). Sent to the group's
//! coordinator (see [`crate::group`]).
//!
//! Request body:
//!
//! | field               | type            | notes                                             |
//! |---------------------|-----------------|---------------------------------------------------|
//! | group_id            | string          |                                                   |
//! | generation_id       | i32             | the generation JoinGroup answered                 |
//! | member_id           | string          |                                                   |
//! | group_instance_id   | nullable string | a static member's id; null: dynamic               |
//! | protocol_type       | nullable string | checked against the group's when not null         |
//! | protocol_name       | nullable string | checked against the group's choice when not null  |
//! | assignments         | array           | the leader's: one per member; empty from the others |
//! | . member_id         | string          |                                                   |
//! | . assignment        | bytes           | opaque to the broker                              |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field         | type            | notes                                                     |
//! |---------------|-----------------|-----------------------------------------------------------|
//! | error_code    | i16             | UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID, INVALID_GROUP_ID, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |
//! | protocol_type | nullable string | the group's                                               |
//! | protocol_name | nullable string | the group's chosen protocol                               |
//! | assignment    | bytes           | this member's assignment; empty with an error             |

use bytes::Bytes;

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// A member asking for its assignment (and the leader giving everyone's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Checked against the group's when given.
    pub protocol_type: Option<String>,
    /// Checked against the group's chosen protocol when given.
    pub protocol_name: Option<String>,
    /// The leader's assignment, one per member; empty from the other members.
    pub assignments: Vec<SyncGroupAssignment>,
}

/// One member's assignment, from the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupAssignment {
    pub member_id: String,
    pub assignment: Bytes,
}

/// This member's assignment, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupResponse {
    pub error_code: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty with an error.
    pub assignment: Bytes,
}

impl Wire for SyncGroupRequest {
    const MIN_LEN: usize = STRING_MIN_LEN + 4 + STRING_MIN_LEN * 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.i32(self.generation_id);
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.nullable_string("protocol_type", self.protocol_type.as_deref())?;
        w.nullable_string("protocol_name", self.protocol_name.as_deref())?;
        w.array("assignments", &self.assignments)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SyncGroupRequest {
            group_id: r.string("group_id")?,
            generation_id: r.i32("generation_id")?,
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            protocol_type: r.nullable_string("protocol_type")?,
            protocol_name: r.nullable_string("protocol_name")?,
            assignments: r.array("assignments")?,
        })
    }
}

impl Wire for SyncGroupAssignment {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("member_id", &self.member_id)?;
        w.bytes("assignment", &self.assignment)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SyncGroupAssignment {
            member_id: r.string("member_id")?,
            assignment: r.bytes("assignment")?,
        })
    }
}

impl Wire for SyncGroupResponse {
    const MIN_LEN: usize = 2 + STRING_MIN_LEN * 2 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.nullable_string("protocol_type", self.protocol_type.as_deref())?;
        w.nullable_string("protocol_name", self.protocol_name.as_deref())?;
        w.bytes("assignment", &self.assignment)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SyncGroupResponse {
            error_code: r.error_code("error_code")?,
            protocol_type: r.nullable_string("protocol_type")?,
            protocol_name: r.nullable_string("protocol_name")?,
            assignment: r.bytes("assignment")?,
        })
    }
}
