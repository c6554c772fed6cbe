//! Kafka's ACL model and the authorizer that decides by it.
//!
//! An [`AclBinding`] says that a principal, from a host, may (allow) or may not (deny) do an
//! operation on the resources a pattern names. The codes of every enum are Kafka's own (the
//! values its CreateAcls, DescribeAcls and DeleteAcls messages carry), so a binding goes to
//! and from the wire without a table of its own.
//!
//! | file               | owns                                                               |
//! |--------------------|--------------------------------------------------------------------|
//! | `acl` (this file)  | the model: bindings, filters ([`AclFilter::matches`]), what CreateAcls refuses ([`AclBinding::validate`]) |
//! | `authorizer`       | [`Authorizer`]: the bindings, indexed, and [`Authorizer::authorize`] |
//!
//! The rules are Kafka's `StandardAuthorizer` (KRaft) and `AclAuthorizer` (ZooKeeper), which
//! agree:
//!
//! - A super user may do anything.
//! - A binding applies to a resource of its type when its pattern is literal with the
//!   resource's name or the wildcard `*`, or prefixed with a prefix of the name.
//! - It applies to an action when its principal is the action's (`TYPE:NAME`) or `User:*`
//!   (every principal, of any type), its host is the action's or `*`, and its operation is
//!   the action's or `All`. An allow of `Read`, `Write`, `Delete` or `Alter` also allows
//!   `Describe`; an allow of `AlterConfigs` also allows `DescribeConfigs`. A deny implies
//!   nothing: it matches its operation or `All` only.
//! - A deny that applies wins over every allow. Without an allow that applies, the action is
//!   denied, unless no binding at all applies to the resource and `allow_if_no_acl_found`
//!   (Kafka's `allow.everyone.if.no.acl.found`) is set.
//!
//! Where ringlog differs from Kafka: [`AclBinding::validate`] also refuses a principal with an
//! empty type or name (`User:`), which Kafka stores but no principal can match. Hosts are
//! compared as strings, as Kafka compares them: the broker must write a client's address as
//! Kafka's `InetAddress.getHostAddress()` does. Kafka's newest source also matches hosts
//! against CIDR ranges (`10.0.0.0/8`, its `CidrUtils`); ringlog does not yet, so such a
//! host matches only a client whose address is that very string.

mod authorizer;
#[cfg(test)]
mod tests;

pub use authorizer::{Authorizer, Decision, Rule};

use crate::{Principal, PrincipalError};
use serde::{Deserialize, Serialize};
use std::fmt;

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

            /// Its name as Kafka's Java enum spells it in mixed case (`Topic`, `Write`): what
            /// logs and metric labels show.
            pub fn name(self) -> &'static str {
                match self {
                    $($type::$variant => stringify!($variant),)*
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

/// The principal of a binding that applies to every principal, whatever its type (Kafka's
/// `WILDCARD_PRINCIPAL`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";

impl fmt::Display for AclBinding {
    /// `Allow User:alice from host * Read on Topic Literal "orders"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AccessEntry {
            principal,
            host,
            operation,
            permission,
        } = &self.entry;
        let ResourcePattern {
            resource_type,
            name,
            pattern_type,
        } = &self.pattern;
        write!(
            f,
            "{permission:?} {principal} from host {host} {operation:?} on {resource_type:?} \
             {pattern_type:?} {name:?}"
        )
    }
}

/// A binding Kafka's CreateAcls would refuse; each variant names the binding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    #[error("ACL {binding}: resource type Any is for filters only")]
    ResourceTypeAny { binding: String },
    #[error(
        "ACL {binding}: pattern type {pattern_type:?} is for filters only; a binding's is Literal or Prefixed"
    )]
    PatternType {
        binding: String,
        pattern_type: PatternType,
    },
    #[error("ACL {binding}: operation Any is for filters only")]
    OperationAny { binding: String },
    #[error("ACL {binding}: permission Any is for filters only")]
    PermissionAny { binding: String },
    #[error("ACL {binding}: the resource name is empty")]
    EmptyName { binding: String },
    /// ringlog's own rule: Kafka stores an empty host, and it matches no client (`*` is any
    /// host).
    #[error("ACL {binding}: the host is empty (an address, or * for any)")]
    EmptyHost { binding: String },
    #[error("ACL {binding}: {source}")]
    Principal {
        binding: String,
        #[source]
        source: PrincipalError,
    },
    #[error("ACL {binding}: the only valid name for the Cluster resource is {CLUSTER_NAME}")]
    ClusterName { binding: String },
}

impl AclBinding {
    /// Refuses what Kafka's CreateAcls refuses (`AclControlManager.validateNewAcl` and the
    /// broker's checks before it): the filter-only values (resource type, pattern type,
    /// operation or permission `Any`, pattern type `Match`), an empty resource name, a
    /// principal that is not `TYPE:NAME`, a Cluster resource not named `kafka-cluster`.
    /// Kafka accepts a prefixed `*`, which covers the names starting with `*`; so does ringlog.
    pub fn validate(&self) -> Result<(), AclError> {
        let binding = || self.to_string();
        if self.pattern.resource_type == ResourceType::Any {
            return Err(AclError::ResourceTypeAny { binding: binding() });
        }
        if !matches!(
            self.pattern.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(AclError::PatternType {
                binding: binding(),
                pattern_type: self.pattern.pattern_type,
            });
        }
        if self.entry.operation == Operation::Any {
            return Err(AclError::OperationAny { binding: binding() });
        }
        if self.entry.permission == Permission::Any {
            return Err(AclError::PermissionAny { binding: binding() });
        }
        if self.pattern.name.is_empty() {
            return Err(AclError::EmptyName { binding: binding() });
        }
        if self.entry.host.is_empty() {
            return Err(AclError::EmptyHost { binding: binding() });
        }
        if let Err(source) = Principal::parse(&self.entry.principal) {
            return Err(AclError::Principal {
                binding: binding(),
                source,
            });
        }
        if self.pattern.resource_type == ResourceType::Cluster && self.pattern.name != CLUSTER_NAME
        {
            return Err(AclError::ClusterName { binding: binding() });
        }
        Ok(())
    }
}

impl AclFilter {
    /// The filter every binding matches.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// Whether DescribeAcls with this filter lists `binding` and DeleteAcls deletes it
    /// (Kafka's `AclBindingFilter.matches`). A name with pattern type `Any` or the binding's
    /// own equals the binding's name; with `Match`, it matches the bindings that would apply
    /// to a resource of that name: literal equal, literal `*`, prefixed with a prefix of it.
    /// Principal and host are compared as written: `User:*` in a filter matches the binding
    /// `User:*` only.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(&binding.pattern) && self.matches_entry(&binding.entry)
    }

    fn matches_pattern(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern.pattern_type {
            return *name == pattern.name;
        }
        match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(pattern.name.as_str()),
            // Not a binding's pattern type (validate refuses it); Kafka throws here.
            PatternType::Any | PatternType::Match => false,
        }
    }

    fn matches_entry(&self, entry: &AccessEntry) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == entry.principal)
            && self.host.as_ref().is_none_or(|h| *h == entry.host)
            && (self.operation == Operation::Any || self.operation == entry.operation)
            && (self.permission == Permission::Any || self.permission == entry.permission)
    }
}
