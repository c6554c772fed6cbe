//! ringlog's security model as pure code, shared by the broker, the controller, the client and
//! the CLI: no IO, no clock, no sockets (TLS itself is rustls's, run by the broker and the client). Randomness comes in through [`Random`], so tests
//! replay an exchange byte for byte.
//!
//! | module      | owns                                                                   |
//! |-------------|------------------------------------------------------------------------|
//! | [`scram`]   | SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them: the credential a server keeps ([`scram::ScramCredential`]: salt, iterations, StoredKey, ServerKey; never the password), the server's and the client's side of the exchange as state machines ([`scram::ScramServer`], [`scram::ScramClient`]) |
//! | [`sasl`]    | [`sasl::SaslMechanism`]: the mechanisms a listener offers and a client logs in with |
//! | [`plain`]   | SASL PLAIN (RFC 4616): the client's one message, parsed and built, and the server's check of its password against the user's SCRAM credential |
//! | [`acl`]     | Kafka's ACL model (resource types, literal and prefixed patterns, principals, hosts, operations, allow and deny), its filters and validation, and the [`acl::Authorizer`] that decides a request by it |
//! | [`tls`]     | the crypto provider rustls runs on, the same for the broker's listeners and the client |
//! | `certificate` | the principal a client certificate names (`User:CN=...`, RFC 2253 as Kafka writes it); with the `certificates` feature, which the broker turns on |
//! | this file   | [`Principal`], [`Random`]                                              |
//!
//! A [`Principal`] is who a connection is once authenticated: `User:alice` after SASL,
//! `User:CN=...` from a client certificate, `User:ANONYMOUS` on a listener that
//! authenticates no one.
//!
//! Each module's doc says where it differs from Kafka. Errors come in one `thiserror` type per
//! module ([`scram::ScramError`], [`scram::CredentialError`], [`plain::PlainError`],
//! [`acl::AclError`], [`acl::UnknownCode`], [`PrincipalError`]): the broker answers each kind
//! differently and no caller needs them as one.
//!
//! A SCRAM login and a decision, as the broker and the client see them:
//!
//! ```
//! use ring::rand::SystemRandom;
//! use ringlog_security::Principal;
//! use ringlog_security::acl::{
//!     AccessEntry, AclBinding, Action, Authorizer, Operation, PatternType, Permission,
//!     ResourcePattern, ResourceType,
//! };
//! use ringlog_security::scram::{FakeCredentials, Mechanism, ScramClient, ScramCredential, ScramServer};
//!
//! let mut random = SystemRandom::new();
//! let mechanism = Mechanism::ScramSha256;
//! // What AlterUserScramCredentials stores; the broker never sees the password again.
//! let stored = ScramCredential::generate(mechanism, "hunter2", 4096, &mut random).unwrap();
//! // Drawn once when the broker starts.
//! let fake_credentials = FakeCredentials::new(4096, &mut random).unwrap();
//!
//! let mut client = ScramClient::new(mechanism, "alice", "hunter2", &mut random);
//! let mut server = ScramServer::new(mechanism, &fake_credentials, &mut random);
//! let server_first = server
//!     .client_first(&client.client_first(), |user| (user == "alice").then(|| stored.clone()))
//!     .unwrap();
//! let client_final = client.server_first(&server_first).unwrap();
//! let (server_final, user) = server.client_final(&client_final).unwrap();
//! client.server_final(&server_final).unwrap(); // the server knew alice's credential
//!
//! let principal = Principal::user(user);
//! let mut authorizer = Authorizer::new(vec![Principal::user("admin")], false);
//! authorizer
//!     .add(AclBinding {
//!         pattern: ResourcePattern {
//!             resource_type: ResourceType::Topic,
//!             name: "orders-".to_string(),
//!             pattern_type: PatternType::Prefixed,
//!         },
//!         entry: AccessEntry {
//!             principal: "User:alice".to_string(),
//!             host: "*".to_string(),
//!             operation: Operation::Read,
//!             permission: Permission::Allow,
//!         },
//!     })
//!     .unwrap();
//! let read = Action {
//!     principal: &principal,
//!     host: "10.0.0.7",
//!     operation: Operation::Read,
//!     resource_type: ResourceType::Topic,
//!     name: "orders-eu",
//! };
//! assert!(authorizer.authorize(&read).is_allowed());
//! // An allow of Read implies Describe, nothing else.
//! assert!(authorizer.authorize(&Action { operation: Operation::Describe, ..read }).is_allowed());
//! assert!(!authorizer.authorize(&Action { operation: Operation::Write, ..read }).is_allowed());
//! ```

pub mod acl;
#[cfg(feature = "certificates")]
pub mod certificate;
pub mod plain;
pub mod sasl;
pub mod scram;
#[cfg(test)]
mod testing;
pub mod tls;

use base64::Engine;
use serde::{Deserialize, Serialize};
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

/// How many random bytes a nonce carries: 192 bits, base64 into 32 characters.
pub const NONCE_RANDOM_BYTES: usize = 24;

/// Where salts, nonces and secrets come from: `ring::rand::SystemRandom` in the broker and the
/// client, a seeded generator in tests, so that an exchange replays byte for byte.
pub trait Random {
    /// Fills `dest` with unpredictable bytes.
    fn fill(&mut self, dest: &mut [u8]);

    /// A nonce for one SCRAM exchange: RFC 5802's `printable` (ASCII 0x21..=0x7E without `,`),
    /// never reused. The base64 of [`NONCE_RANDOM_BYTES`] random bytes unless a test supplies
    /// its own (RFC 7677's example nonces are not base64).
    fn nonce(&mut self) -> String {
        let mut bytes = [0; NONCE_RANDOM_BYTES];
        self.fill(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

impl Random for ring::rand::SystemRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        // The kernel's getrandom does not fail once its pool is seeded; going on with bytes
        // an attacker could predict would be worse than stopping.
        ring::rand::SecureRandom::fill(self, dest)
            .expect("the operating system's random generator failed");
    }
}
