//! DeleteGroups (key 42): delete groups that have no members, with their committed offsets.
//! Sent to the coordinator of the groups (see [`crate::group`]); a group coordinated
//! elsewhere is answered NOT_COORDINATOR in its entry.
//!
//! Request body:
//!
//! | field  | type            | notes         |
//! |--------|-----------------|---------------|
//! | groups | array of string | the group ids |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field        | type   | notes                                                         |
//! |--------------|--------|---------------------------------------------------------------|
//! | results      | array  | as requested                                                  |
//! | . group_id   | string |                                                               |
//! | . error_code | i16    | NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS |

use crate::api::{read_strings, write_strings};
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The groups to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteGroupsRequest {
    pub groups: Vec<String>,
}

/// Each group's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteGroupsResponse {
    pub results: Vec<DeletedGroup>,
}

/// One group's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedGroup {
    pub group_id: String,
    pub error_code: ErrorCode,
}

impl Wire for DeleteGroupsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "groups", &self.groups)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteGroupsRequest {
            groups: read_strings(r, "groups")?,
        })
    }
}

impl Wire for DeleteGroupsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("results", &self.results)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteGroupsResponse {
            results: r.array("results")?,
        })
    }
}

impl Wire for DeletedGroup {
    const MIN_LEN: usize = STRING_MIN_LEN + 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("group_id", &self.group_id)?;
        w.error_code(self.error_code);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeletedGroup {
            group_id: r.string("group_id")?,
            error_code: r.error_code("error_code")?,
        })
    }
}
