//! Kafka's ACL model and the authorizer that decides by it.
//!
//! An [`AclBinding`] says that a principal, from a host, may (allow) or may not (deny) do an
//! operation on the resources a pattern names. The codes of every enum are Kafka's own (the
//! values its CreateAcls, DescribeAcls and DeleteAcls messages carry), so a binding goes to
//! and from the wire without a table of its own.

use crate::Principal;
use serde::{Deserialize, Serialize};

/// The kinds of resource an ACL protects (Kafka's `ResourceType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    /// In a filter only: any type.
    Any,
    Topic,
    Group,
    /// The cluster itself (name `kafka-cluster`).
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

/// How a binding's resource name matches (Kafka's `PatternType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PatternType {
    /// In a filter only: any pattern type.
    Any,
    /// In a filter only: every binding that would apply to the filter's literal name
    /// (literal equal, the wildcard `*`, or a prefix of it).
    Match,
    /// The name itself; `*` is every resource of the type.
    Literal,
    /// Every resource whose name starts with the name.
    Prefixed,
}

/// What an ACL allows or denies (Kafka's `AclOperation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    /// In a filter only: any operation.
    Any,
    /// Every operation.
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

/// Allow or deny (Kafka's `AclPermissionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// In a filter only: either.
    Any,
    Deny,
    Allow,
}

/// The name of the one cluster resource, as Kafka names it.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A literal resource name, principal name or host matching every one.
pub const WILDCARD: &str = "*";

/// Which resources a binding covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

/// Who, from where, may or may not do what.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccessEntry {
    /// `User:alice`, or `User:*` for every user.
    pub principal: String,
    /// The client's IP address, or `*` for any.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// One ACL: a pattern and an entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessEntry,
}

/// Which bindings a DescribeAcls or DeleteAcls names: each field is a value to equal, or
/// `None` (and the `Any` variants) for any; `PatternType::Match` as described there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Permission,
}

/// A code on the wire that names no value of the enum (or `Unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} code {code} is not one ringlog knows")]
pub struct UnknownCode {
    pub what: &'static str,
    pub code: i8,
}

macro_rules! kafka_codes {
    ($type:ident, $what:literal, { $($variant:ident = $code:literal),* $(,)? }) => {
        impl $type {
            /// Kafka's code for it.
            pub fn code(self) -> i8 {
                match self {
                    $($type::$variant => $code,)*
                }
            }

            /// The value of Kafka's code; `UNKNOWN` (0) and unassigned codes are errors.
            pub fn from_code(code: i8) -> Result<$type, UnknownCode> {
                match code {
                    $($code => Ok($type::$variant),)*
                    _ => Err(UnknownCode { what: $what, code }),
                }
            }
        }
    };
}

kafka_codes!(ResourceType, "resource type", {
    Any = 1, Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5, DelegationToken = 6,
    User = 7,
});
kafka_codes!(PatternType, "pattern type", {
    Any = 1, Match = 2, Literal = 3, Prefixed = 4,
});
kafka_codes!(Operation, "operation", {
    Any = 1, All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7, Describe = 8,
    ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11, IdempotentWrite = 12,
    CreateTokens = 13, DescribeTokens = 14,
});
kafka_codes!(Permission, "permission", {
    Any = 1, Deny = 2, Allow = 3,
});

/// What a request asks the authorizer: may `principal`, from `host`, do `operation` on the
/// resource of `resource_type` named `name`?
#[derive(Clone, Copy, Debug)]
pub struct Action<'a> {
    pub principal: &'a Principal,
    pub host: &'a str,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub name: &'a str,
}
