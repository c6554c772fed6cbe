//! Heartbeat (key 12): a member tells the group's coordinator it is alive, within its session
//! timeout, and learns whether a rebalance has begun (REBALANCE_IN_PROGRESS: join again). Sent
//! to the group's coordinator (see [`crate::group`]).
//!
//! Request body:
//!
//! | field             | type            | notes                                  |
//! |-------------------|-----------------|----------------------------------------|
//! | group_id          | string          |                                        |
//! | generation_id     | i32             | the member's generation                |
//! | member_id         | string          |                                        |
//! | group_instance_id | nullable string | a static member's id; null: dynamic    |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field      | type | notes                                                            |
//! |------------|------|------------------------------------------------------------------|
//! | error_code | i16  | REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, INVALID_GROUP_ID, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{Reader, STRING_MIN_LEN, Wire, Writer};

/// A member's heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// Whether the member is still in the generation, and the group stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatResponse {
    pub error_code: ErrorCode,
}

impl Wire for HeartbeatRequest {
    const MIN_LEN: usize = STRING_MIN_LEN + 4 + STRING_MIN_LEN * 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.i32(self.generation_id);
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(HeartbeatRequest {
            group_id: r.string("group_id")?,
            generation_id: r.i32("generation_id")?,
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
        })
    }
}

impl Wire for HeartbeatResponse {
    const MIN_LEN: usize = 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(HeartbeatResponse {
            error_code: r.error_code("error_code")?,
        })
    }
}
