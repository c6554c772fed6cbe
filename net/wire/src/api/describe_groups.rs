//! DescribeGroups (key 15): groups' state, protocol and members, as their coordinator knows
//! them. Sent to the coordinator of the groups (see [`crate::group`]); a group coordinated
//! elsewhere is answered NOT_COORDINATOR in its entry, so a client asks each group's
//! coordinator about it.
//!
//! Request body:
//!
//! | field  | type            | notes          |
//! |--------|-----------------|----------------|
//! | groups | array of string | the group ids  |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field                 | type            | notes                                        |
//! |-----------------------|-----------------|----------------------------------------------|
//! | groups                | array           | as requested                                 |
//! | . error_code          | i16             | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |
//! | . group_id            | string          |                                              |
//! | . state               | string          | Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (unknown groups, and with an error) |
//! | . protocol_type       | string          | "" when unknown                              |
//! | . protocol            | string          | the chosen protocol; "" unless Stable        |
//! | . members             | array           |                                              |
//! | . . member_id         | string          |                                              |
//! | . . group_instance_id | nullable string |                                              |
//! | . . client_id         | string          | as the member's JoinGroup named it           |
//! | . . client_host       | string          | the member's address as the broker saw it, "/127.0.0.1" |
//! | . . metadata          | bytes           | its metadata for the chosen protocol; empty unless Stable |
//! | . . assignment        | bytes           | its assignment; empty unless Stable          |

use bytes::Bytes;

use crate::api::{read_strings, write_strings};
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The groups to describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    pub groups: Vec<String>,
}

/// Each group described, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    pub groups: Vec<DescribedGroup>,
}

/// One group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error_code: ErrorCode,
    pub group_id: String,
    /// Kafka's name of the group's state; "Dead" for an unknown group and with an error.
    pub state: String,
    /// "" when unknown.
    pub protocol_type: String,
    /// The chosen protocol; "" unless the group is Stable.
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

/// One member of a described group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// The member's address as the broker saw it ("/127.0.0.1").
    pub client_host: String,
    /// Its metadata for the chosen protocol; empty unless the group is Stable.
    pub metadata: Bytes,
    /// Empty unless the group is Stable.
    pub assignment: Bytes,
}

impl Wire for DescribeGroupsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "groups", &self.groups)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeGroupsRequest {
            groups: read_strings(r, "groups")?,
        })
    }
}

impl Wire for DescribeGroupsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("groups", &self.groups)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeGroupsResponse {
            groups: r.array("groups")?,
        })
    }
}

impl Wire for DescribedGroup {
    const MIN_LEN: usize = 2 + STRING_MIN_LEN * 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.string("group_id", &self.group_id)?;
        w.string("state", &self.state)?;
        w.string("protocol_type", &self.protocol_type)?;
        w.string("protocol", &self.protocol)?;
        w.array("members", &self.members)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribedGroup {
            error_code: r.error_code("error_code")?,
            group_id: r.string("group_id")?,
            state: r.string("state")?,
            protocol_type: r.string("protocol_type")?,
            protocol: r.string("protocol")?,
            members: r.array("members")?,
        })
    }
}

impl Wire for DescribedMember {
    const MIN_LEN: usize = STRING_MIN_LEN * 4 + ARRAY_MIN_LEN * 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.string("client_id", &self.client_id)?;
        w.string("client_host", &self.client_host)?;
        w.bytes("member metadata", &self.metadata)?;
        w.bytes("member assignment", &self.assignment)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribedMember {
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            client_id: r.string("client_id")?,
            client_host: r.string("client_host")?,
            metadata: r.bytes("member metadata")?,
            assignment: r.bytes("member assignment")?,
        })
    }
}
