//! JoinGroup (key 11): join a consumer group, or rejoin it for a rebalance. Sent to the group's
//! coordinator (see [`crate::group`]). The answer waits until the group's rebalance completes:
//! up to the rebalance timeout of its members, and for a group starting empty the broker's
//! initial rebalance delay (3 s by default) besides.
//!
//! A new member (member_id "") is answered MEMBER_ID_REQUIRED with the id the coordinator gave
//! it and joins again with that id (Kafka's JoinGroup v4+, KIP-394). The leader's answer lists
//! every member with its metadata; it computes the assignment and sends it with SyncGroup.
//!
//! Request body:
//!
//! | field                | type            | notes                                            |
//! |----------------------|-----------------|--------------------------------------------------|
//! | group_id             | string          | not empty                                        |
//! | client_id            | string          | the client's name for itself, as DescribeGroups shows it |
//! | session_timeout_ms   | i32             | without a heartbeat for this long the member is dropped; within the broker's bounds (6 s to 30 min by default) |
//! | rebalance_timeout_ms | i32             | how long a rebalance waits for the member to rejoin |
//! | member_id            | string          | "": a new member                                 |
//! | group_instance_id    | nullable string | a static member's id (KIP-345); null: dynamic    |
//! | protocol_type        | string          | the kind of group, e.g. "consumer"               |
//! | protocols            | array           | in the member's order of preference, at least one |
//! | . name               | string          | e.g. an assignor's name, "range"                 |
//! | . metadata           | bytes           | the member's metadata for it (its subscription)  |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field                 | type            | notes                                           |
//! |-----------------------|-----------------|-------------------------------------------------|
//! | error_code            | i16             | MEMBER_ID_REQUIRED, INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID, GROUP_MAX_SIZE_REACHED, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS, INVALID_REQUEST, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |
//! | generation_id         | i32             | the generation joined; -1 with an error         |
//! | protocol_type         | nullable string | the group's; null with an error                 |
//! | protocol_name         | nullable string | the protocol the group chose; null with an error |
//! | leader                | string          | the leader's member id; "" with an error        |
//! | member_id             | string          | this member's id (also with MEMBER_ID_REQUIRED) |
//! | members               | array           | every member, for the leader; empty for the others |
//! | . member_id           | string          |                                                 |
//! | . group_instance_id   | nullable string |                                                 |
//! | . metadata            | bytes           | its metadata for the chosen protocol            |
//!
//! Timeouts are Kafka's i32 milliseconds rather than durations: a negative one is carried as
//! it is, and refused by the coordinator (INVALID_SESSION_TIMEOUT), as Kafka does.

use bytes::Bytes;

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// A member joining (or rejoining) a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupRequest {
    pub group_id: String,
    /// The client's name for itself; the thin request header carries none.
    pub client_id: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// "" for a new member.
    pub member_id: String,
    /// A static member's id (KIP-345); `None` for a dynamic member.
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<JoinGroupProtocol>,
}

/// One protocol a member speaks, with its metadata for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupProtocol {
    pub name: String,
    pub metadata: Bytes,
}

/// The generation joined, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupResponse {
    pub error_code: ErrorCode,
    /// -1 with an error.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    /// The protocol the group chose; `None` with an error.
    pub protocol_name: Option<String>,
    /// The leader's member id; "" with an error.
    pub leader: String,
    /// This member's id: the one given to a new member, also with MEMBER_ID_REQUIRED.
    pub member_id: String,
    /// Every member, for the leader; empty for the others.
    pub members: Vec<JoinGroupMember>,
}

/// A member, as the leader's answer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

impl Wire for JoinGroupRequest {
    const MIN_LEN: usize = STRING_MIN_LEN * 2 + 4 + 4 + STRING_MIN_LEN * 3 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.string("client_id", &self.client_id)?;
        w.i32(self.session_timeout_ms);
        w.i32(self.rebalance_timeout_ms);
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.string("protocol_type", &self.protocol_type)?;
        w.array("protocols", &self.protocols)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(JoinGroupRequest {
            group_id: r.string("group_id")?,
            client_id: r.string("client_id")?,
            session_timeout_ms: r.i32("session_timeout_ms")?,
            rebalance_timeout_ms: r.i32("rebalance_timeout_ms")?,
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            protocol_type: r.string("protocol_type")?,
            protocols: r.array("protocols")?,
        })
    }
}

impl Wire for JoinGroupProtocol {
    const MIN_LEN: usize = STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("protocol name", &self.name)?;
        w.bytes("protocol metadata", &self.metadata)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(JoinGroupProtocol {
            name: r.string("protocol name")?,
            metadata: r.bytes("protocol metadata")?,
        })
    }
}

impl Wire for JoinGroupResponse {
    const MIN_LEN: usize = 2 + 4 + STRING_MIN_LEN * 4 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.i32(self.generation_id);
        w.nullable_string("protocol_type", self.protocol_type.as_deref())?;
        w.nullable_string("protocol_name", self.protocol_name.as_deref())?;
        w.string("leader", &self.leader)?;
        w.string("member_id", &self.member_id)?;
        w.array("members", &self.members)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(JoinGroupResponse {
            error_code: r.error_code("error_code")?,
            generation_id: r.i32("generation_id")?,
            protocol_type: r.nullable_string("protocol_type")?,
            protocol_name: r.nullable_string("protocol_name")?,
            leader: r.string("leader")?,
            member_id: r.string("member_id")?,
            members: r.array("members")?,
        })
    }
}

impl Wire for JoinGroupMember {
    const MIN_LEN: usize = STRING_MIN_LEN * 2 + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("member_id", &self.member_id)?;
        w.nullable_string("group_instance_id", self.group_instance_id.as_deref())?;
        w.bytes("member metadata", &self.metadata)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(JoinGroupMember {
            member_id: r.string("member_id")?,
            group_instance_id: r.nullable_string("group_instance_id")?,
            metadata: r.bytes("member metadata")?,
        })
    }
}
