//! ListGroups (key 16): the groups the receiving broker coordinates (those of the partitions of
//! `__consumer_offsets` it leads). To list a cluster's groups, a client asks every broker, as
//! Kafka's admin client does.
//!
//! Request body:
//!
//! | field  | type            | notes                                                     |
//! |--------|-----------------|-----------------------------------------------------------|
//! | states | array of string | only groups in these states (case-insensitive); empty: all; a name that is no state matches nothing |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type   | notes                                                    |
//! |-----------------|--------|----------------------------------------------------------|
//! | groups          | array  | ordered by group id                                      |
//! | . group_id      | string |                                                          |
//! | . protocol_type | string | "" for a group that only stores offsets                  |
//! | . state         | string | Empty, PreparingRebalance, CompletingRebalance or Stable |
//!
//! A coordinator that cannot answer (COORDINATOR_LOAD_IN_PROGRESS) refuses the whole request
//! with the response's own error code.

use crate::api::{read_strings, write_strings};
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The states to list groups in; empty: every state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListGroupsRequest {
    pub states: Vec<String>,
}

/// The groups this broker coordinates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListGroupsResponse {
    pub groups: Vec<ListedGroup>,
}

/// One group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// "" for a group that only stores offsets.
    pub protocol_type: String,
    /// Kafka's name of the group's state.
    pub state: String,
}

impl Wire for ListGroupsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "states", &self.states)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListGroupsRequest {
            states: read_strings(r, "states")?,
        })
    }
}

impl Wire for ListGroupsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("groups", &self.groups)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListGroupsResponse {
            groups: r.array("groups")?,
        })
    }
}

impl Wire for ListedGroup {
    const MIN_LEN: usize = STRING_MIN_LEN * 3;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.string("protocol_type", &self.protocol_type)?;
        w.string("state", &self.state)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ListedGroup {
            group_id: r.string("group_id")?,
            protocol_type: r.string("protocol_type")?,
            state: r.string("state")?,
        })
    }
}
