//! CreateAcls (key 30): add ACL bindings. Each binding succeeds or fails on its own; one that
//! is already there is created again without error. The bindings are stored, not enforced
//! yet.
//!
//! Request body:
//!
//! | field    | type             | notes                    |
//! |----------|------------------|--------------------------|
//! | bindings | array of binding | [`AclBinding`], below    |
//!
//! A binding (the codes are Kafka's: `ringlog_security::acl`):
//!
//! | field         | type   | notes                                                   |
//! |---------------|--------|---------------------------------------------------------|
//! | resource_type | u8     | 2 topic, 3 group, 4 cluster, 5 transactional id, 6 delegation token, 7 user (1, any, only in filters) |
//! | resource_name | string | `*` (literal) is every resource of the type             |
//! | pattern_type  | u8     | 3 literal, 4 prefixed (1 any, 2 match, only in filters) |
//! | principal     | string | `User:alice`; `User:*` is every user                    |
//! | host          | string | an IP address, or `*`                                   |
//! | operation     | u8     | 2 all, 3 read, 4 write, 5 create, 6 delete, 7 alter, 8 describe, 9 cluster action, 10 describe configs, 11 alter configs, 12 idempotent write, 13 create tokens, 14 describe tokens (1, any, only in filters) |
//! | permission    | u8     | 2 deny, 3 allow (1, any, only in filters)               |
//!
//! A code outside these is a body that does not decode (INVALID_REQUEST for the request).
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                  |
//! |-----------------|-----------------|----------------------------------------|
//! | results         | array           | one per binding, in request order       |
//! | . error_code    | i16             | INVALID_REQUEST (a filter's ANY or MATCH, an empty name, a cluster not named `kafka-cluster`, a principal not `TYPE:NAME`, an empty host), REQUEST_TIMED_OUT |
//! | . error_message | nullable string |                                        |

use ringlog_security::acl::{
    AccessEntry, AclBinding, Operation, PatternType, Permission, ResourcePattern, ResourceType,
    UnknownCode,
};

use crate::api::EntryResult;
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Bindings to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateAclsRequest {
    pub bindings: Vec<AclBinding>,
}

/// Each binding's outcome, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateAclsResponse {
    pub results: Vec<EntryResult>,
}

/// The fewest bytes a binding takes: four codes and three empty strings.
pub(crate) const BINDING_MIN_LEN: usize = 4 + 3 * STRING_MIN_LEN;

/// A code of Kafka's on the wire, one byte.
pub(crate) fn write_code(w: &mut Writer, code: i8) {
    w.u8(u8::try_from(code).expect("Kafka's codes are positive"));
}

/// A code read back as its enum; one that names nothing does not decode.
pub(crate) fn read_code<T>(
    r: &mut Reader,
    field: &'static str,
    from_code: fn(i8) -> Result<T, UnknownCode>,
) -> Result<T, WireError> {
    let byte = r.u8(field)?;
    let invalid = || WireError::InvalidValue {
        field,
        value: i64::from(byte),
        expected: "one of Kafka's codes for it",
    };
    let code = i8::try_from(byte).map_err(|_| invalid())?;
    from_code(code).map_err(|_| invalid())
}

impl Wire for AclBinding {
    const MIN_LEN: usize = BINDING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_code(w, self.pattern.resource_type.code());
        w.string("resource_name", &self.pattern.name)?;
        write_code(w, self.pattern.pattern_type.code());
        w.string("principal", &self.entry.principal)?;
        w.string("host", &self.entry.host)?;
        write_code(w, self.entry.operation.code());
        write_code(w, self.entry.permission.code());
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let resource_type = read_code(r, "resource_type", ResourceType::from_code)?;
        let name = r.string("resource_name")?;
        let pattern_type = read_code(r, "pattern_type", PatternType::from_code)?;
        Ok(AclBinding {
            pattern: ResourcePattern {
                resource_type,
                name,
                pattern_type,
            },
            entry: AccessEntry {
                principal: r.string("principal")?,
                host: r.string("host")?,
                operation: read_code(r, "operation", Operation::from_code)?,
                permission: read_code(r, "permission", Permission::from_code)?,
            },
        })
    }
}

impl Wire for CreateAclsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("bindings", &self.bindings)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CreateAclsRequest {
            bindings: r.array("bindings")?,
        })
    }
}

impl Wire for CreateAclsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("results", &self.results)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CreateAclsResponse {
            results: r.array("results")?,
        })
    }
}
