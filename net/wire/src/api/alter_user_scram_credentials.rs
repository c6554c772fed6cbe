//! AlterUserScramCredentials (key 51): set and remove users' SCRAM credentials, each user on
//! its own (a user named twice in one request is refused). As in Kafka (KIP-554), the client
//! salts the password: an upsertion carries the salted password, `Hi(password, salt,
//! iterations)` (RFC 5802), from which the broker derives what it keeps (StoredKey and
//! ServerKey) and then drops it. The password itself never leaves the client.
//!
//! Request body:
//!
//! | field             | type   | notes                                             |
//! |-------------------|--------|---------------------------------------------------|
//! | deletions         | array  |                                                   |
//! | . name            | string | the user                                          |
//! | . mechanism       | u8     | 1 SCRAM-SHA-256, 2 SCRAM-SHA-512                  |
//! | upsertions        | array  |                                                   |
//! | . name            | string | the user                                          |
//! | . mechanism       | u8     | 1 SCRAM-SHA-256, 2 SCRAM-SHA-512                  |
//! | . iterations      | u32    | 4096 to 16384, Kafka's bounds                     |
//! | . salt            | bytes  | not empty                                         |
//! | . salted_password | bytes  | 32 bytes for SHA-256, 64 for SHA-512              |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                         |
//! |-----------------|-----------------|-----------------------------------------------|
//! | results         | array           | one per user named, in the order first named (deletions first) |
//! | . name          | string          |                                               |
//! | . error_code    | i16             | DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND (deleting what is not there), UNACCEPTABLE_CREDENTIAL, REQUEST_TIMED_OUT |
//! | . error_message | nullable string |                                               |

use bytes::Bytes;
use ringlog_security::scram::Mechanism;

use crate::api::describe_user_scram_credentials::{read_mechanism, write_mechanism};
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Credentials to set and remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterUserScramCredentialsRequest {
    pub deletions: Vec<ScramDeletion>,
    pub upsertions: Vec<ScramUpsertion>,
}

/// A user's credential for one mechanism, to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramDeletion {
    pub name: String,
    pub mechanism: Mechanism,
}

/// A user's credential for one mechanism, to set: the password salted by the client.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramUpsertion {
    pub name: String,
    pub mechanism: Mechanism,
    pub iterations: u32,
    pub salt: Bytes,
    /// `Hi(password, salt, iterations)`: it logs the user in, so it is never printed.
    pub salted_password: Bytes,
}

impl std::fmt::Debug for ScramUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Each user's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterUserScramCredentialsResponse {
    pub results: Vec<UserResult>,
}

/// One user's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserResult {
    pub name: String,
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
}

impl Wire for ScramDeletion {
    const MIN_LEN: usize = STRING_MIN_LEN + 1;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("user name", &self.name)?;
        write_mechanism(w, self.mechanism);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ScramDeletion {
            name: r.string("user name")?,
            mechanism: read_mechanism(r)?,
        })
    }
}

impl Wire for ScramUpsertion {
    const MIN_LEN: usize = STRING_MIN_LEN + 1 + 4 + 2 * ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("user name", &self.name)?;
        write_mechanism(w, self.mechanism);
        w.u32(self.iterations);
        w.bytes("salt", &self.salt)?;
        w.bytes("salted_password", &self.salted_password)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(ScramUpsertion {
            name: r.string("user name")?,
            mechanism: read_mechanism(r)?,
            iterations: r.u32("iterations")?,
            salt: r.bytes("salt")?,
            salted_password: r.bytes("salted_password")?,
        })
    }
}

impl Wire for UserResult {
    const MIN_LEN: usize = STRING_MIN_LEN + 2 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("user name", &self.name)?;
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(UserResult {
            name: r.string("user name")?,
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Wire for AlterUserScramCredentialsRequest {
    const MIN_LEN: usize = 2 * ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("deletions", &self.deletions)?;
        w.array("upsertions", &self.upsertions)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AlterUserScramCredentialsRequest {
            deletions: r.array("deletions")?,
            upsertions: r.array("upsertions")?,
        })
    }
}

impl Wire for AlterUserScramCredentialsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("results", &self.results)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(AlterUserScramCredentialsResponse {
            results: r.array("results")?,
        })
    }
}
