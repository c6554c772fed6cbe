//! LeaveGroup (key 13): members leave their group at once (rather than when their session
//! times out), and the group rebalances without them. A member id "" with a group instance id
//! removes that static member, whatever its member id (an admin's removal). Sent to the
//! group's coordinator (see [`crate::group`]).
//!
//! Request body:
//!
//! | field               | type            | notes                                       |
//! |---------------------|-----------------|---------------------------------------------|
//! | group_id            | string          |                                             |
//! | members             | array           |                                             |
//! | . member_id         | string          | "": the static member of this instance id   |
//! | . group_instance_id | nullable string | a static member's id; null: dynamic         |
//! | . reason            | nullable string | why it leaves, for the broker's log         |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field               | type            | notes                                       |
//! |---------------------|-----------------|---------------------------------------------|
//! | members             | array           | as requested                                |
//! | . member_id         | string          |                                             |
//! | . group_instance_id | nullable string |                                             |
//! | . error_code        | i16             | UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, INVALID_GROUP_ID |
//!
//! A refusal of the whole request (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
//! COORDINATOR_LOAD_IN_PROGRESS) is the response's own error code, as for every API.

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Members leaving a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

/// One member leaving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeavingMember {
    /// "" to remove the static member of `group_instance_id`, whatever its member id.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Why it leaves, for the broker's log.
    pub reason: Option<String>,
}

/// Each member's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    pub members: Vec<LeaveGroupMemberResponse>,
}

/// One member's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupMemberResponse {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error_code: ErrorCode,
}

impl Wire for LeaveGroupRequest {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.array("members", &self.members)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(LeaveGroupRequest {
            group_id: r.string("group_id")?,
            members: r.array("members")?,
        })
    }
}

impl Wire for LeavingMember {
    const MIN_LEN: usize = STRING_MIN_LEN * 3;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.nullable_string("reason", self.reason.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(LeavingMember {
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            reason: r.nullable_string("reason")?,
        })
    }
}

impl Wire for LeaveGroupResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("members", &self.members)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(LeaveGroupResponse {
            members: r.array("members")?,
        })
    }
}

impl Wire for LeaveGroupMemberResponse {
    const MIN_LEN: usize = STRING_MIN_LEN * 2 + 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.error_code(self.error_code);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(LeaveGroupMemberResponse {
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            error_code: r.error_code("error_code")?,
        })
    }
}
