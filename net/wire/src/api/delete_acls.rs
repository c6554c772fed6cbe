//! DeleteAcls (key 31): remove the ACL bindings each filter matches. Each filter succeeds or
//! fails on its own, and answers the bindings it deleted (a binding two filters match is in
//! both answers, deleted once).
//!
//! Request body:
//!
//! | field   | type            | notes                                            |
//! |---------|-----------------|--------------------------------------------------|
//! | filters | array of filter | as [`describe_acls`](super::describe_acls) lays one out |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type             | notes                               |
//! |-----------------|------------------|-------------------------------------|
//! | results         | array            | one per filter, in request order     |
//! | . error_code    | i16              | REQUEST_TIMED_OUT                    |
//! | . error_message | nullable string  |                                     |
//! | . bindings      | array of binding | what the filter deleted              |

use ringlog_security::acl::{AclBinding, AclFilter};

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Filters whose bindings to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteAclsRequest {
    pub filters: Vec<AclFilter>,
}

/// Each filter's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteAclsResponse {
    pub results: Vec<DeleteAclsResult>,
}

/// What one filter deleted, or why it deleted nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteAclsResult {
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub bindings: Vec<AclBinding>,
}

impl Wire for DeleteAclsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("filters", &self.filters)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteAclsRequest {
            filters: r.array("filters")?,
        })
    }
}

impl Wire for DeleteAclsResult {
    const MIN_LEN: usize = 2 + STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())?;
        w.array("bindings", &self.bindings)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteAclsResult {
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
            bindings: r.array("bindings")?,
        })
    }
}

impl Wire for DeleteAclsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("results", &self.results)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DeleteAclsResponse {
            results: r.array("results")?,
        })
    }
}
