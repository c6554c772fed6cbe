//! ringlog's security model as pure code, shared by the broker, the controller, the client and
//! the CLI: no IO, no clock, no sockets.
//!
//! - [`scram`]: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them:
//!   the credential a server keeps (salt, iterations, StoredKey, ServerKey; never the
//!   password), the server's and the client's side of the exchange as state machines.
//! - [`plain`]: SASL PLAIN (RFC 4616): the client's one message, parsed and built.
//! - [`acl`]: Kafka's ACL model (principals, resource types, literal and prefixed patterns,
//!   operations, allow and deny, hosts) and the authorizer that decides a request by it.
//!
//! A [`Principal`] is who a connection is once authenticated: `User:alice` after SASL,
//! `User:CN=...` from a client certificate, `User:ANONYMOUS` on a listener that
//! authenticates no one.

use serde::{Deserialize, Serialize};
pub mod acl;
pub mod plain;
pub mod scram;

use std::fmt;

/// Who a connection is, as Kafka writes it: `TYPE:NAME` (`User:alice`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Principal {
    pub kind: String,
    pub name: String,
}

impl Principal {
    /// `User:NAME`.
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            kind: "User".to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`: a connection on a listener that authenticates no one.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Parses `TYPE:NAME`; the name may hold colons (`User:CN=a,O=b:c`).
    pub fn parse(text: &str) -> Result<Principal, PrincipalError> {
        let (kind, name) = text
            .split_once(':')
            .ok_or_else(|| PrincipalError(text.to_string()))?;
        if kind.is_empty() || name.is_empty() {
            return Err(PrincipalError(text.to_string()));
        }
        Ok(Principal {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// A principal that is not `TYPE:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("principal {0:?} is not TYPE:NAME (User:alice)")]
pub struct PrincipalError(pub String);
