//! DescribeAcls (key 29): the ACL bindings a filter matches, in their order (by resource
//! type, name and pattern type, then principal, host, operation and permission).
//!
//! Request body: a filter.
//!
//! | field         | type            | notes                                                    |
//! |---------------|-----------------|----------------------------------------------------------|
//! | resource_type | u8              | a binding's codes ([`create_acls`](super::create_acls)), or 1: any |
//! | resource_name | nullable string | null: any name                                           |
//! | pattern_type  | u8              | 1 any, 2 match (with a name: every binding that applies to a resource of that name: the literal name, the literal `*`, every prefix of it), 3 literal, 4 prefixed |
//! | principal     | nullable string | null: any                                                |
//! | host          | nullable string | null: any                                                |
//! | operation     | u8              | 1: any                                                   |
//! | permission    | u8              | 1: any                                                   |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field    | type             | notes                                |
//! |----------|------------------|--------------------------------------|
//! | bindings | array of binding | as [`create_acls`](super::create_acls) lays one out |

use ringlog_security::acl::{
    AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType,
};

use crate::api::create_acls::{read_code, write_code};
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The bindings a filter matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeAclsRequest {
    pub filter: AclFilter,
}

/// The bindings matched, in their order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeAclsResponse {
    pub bindings: Vec<AclBinding>,
}

impl Wire for AclFilter {
    const MIN_LEN: usize = 4 + 3 * STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_code(w, self.resource_type.code());
        w.nullable_string("resource_name", self.name.as_deref())?;
        write_code(w, self.pattern_type.code());
        w.nullable_string("principal", self.principal.as_deref())?;
        w.nullable_string("host", self.host.as_deref())?;
        write_code(w, self.operation.code());
        write_code(w, self.permission.code());
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AclFilter {
            resource_type: read_code(r, "resource_type", ResourceType::from_code)?,
            name: r.nullable_string("resource_name")?,
            pattern_type: read_code(r, "pattern_type", PatternType::from_code)?,
            principal: r.nullable_string("principal")?,
            host: r.nullable_string("host")?,
            operation: read_code(r, "operation", Operation::from_code)?,
            permission: read_code(r, "permission", Permission::from_code)?,
        })
    }
}

impl Wire for DescribeAclsRequest {
    const MIN_LEN: usize = AclFilter::MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        self.filter.encode(w)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeAclsRequest {
            filter: AclFilter::decode(r)?,
        })
    }
}

impl Wire for DescribeAclsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("bindings", &self.bindings)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeAclsResponse {
            bindings: r.array("bindings")?,
        })
    }
}
