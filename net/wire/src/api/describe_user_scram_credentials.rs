//! DescribeUserScramCredentials (key 50): users' SCRAM credentials as Kafka describes them:
//! each mechanism and its iterations, never a salt or a key.
//!
//! Request body:
//!
//! | field | type            | notes                                          |
//! |-------|-----------------|------------------------------------------------|
//! | users | array of string | empty: every user with a credential            |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field           | type            | notes                                         |
//! |-----------------|-----------------|-----------------------------------------------|
//! | users           | array           | the users named (each once), or every user, sorted |
//! | . name          | string          |                                               |
//! | . error_code    | i16             | RESOURCE_NOT_FOUND (no credential), DUPLICATE_RESOURCE (named twice) |
//! | . error_message | nullable string |                                               |
//! | . credentials   | array           | one per mechanism the user has                |
//! | .. mechanism    | u8              | 1 SCRAM-SHA-256, 2 SCRAM-SHA-512              |
//! | .. iterations   | u32             |                                               |

use ringlog_security::scram::Mechanism;

use crate::api::{read_strings, write_strings};
use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The users to describe; none: every user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeUserScramCredentialsRequest {
    pub users: Vec<String>,
}

/// Each user's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeUserScramCredentialsResponse {
    pub users: Vec<UserCredentials>,
}

/// One user's mechanisms and iterations, or why there are none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCredentials {
    pub name: String,
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub credentials: Vec<CredentialInfo>,
}

/// A mechanism a user has a credential for, and its iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialInfo {
    pub mechanism: Mechanism,
    pub iterations: u32,
}

/// A mechanism on the wire, one byte (Kafka's code).
pub(crate) fn write_mechanism(w: &mut Writer, mechanism: Mechanism) {
    w.u8(u8::try_from(mechanism.code()).expect("mechanism codes are positive"));
}

/// A mechanism read back; a code of no SCRAM mechanism does not decode.
pub(crate) fn read_mechanism(r: &mut Reader) -> Result<Mechanism, WireError> {
    let byte = r.u8("mechanism")?;
    i8::try_from(byte)
        .ok()
        .and_then(Mechanism::from_code)
        .ok_or(WireError::InvalidValue {
            field: "mechanism",
            value: i64::from(byte),
            expected: "1 (SCRAM-SHA-256) or 2 (SCRAM-SHA-512)",
        })
}

impl Wire for CredentialInfo {
    const MIN_LEN: usize = 1 + 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_mechanism(w, self.mechanism);
        w.u32(self.iterations);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(CredentialInfo {
            mechanism: read_mechanism(r)?,
            iterations: r.u32("iterations")?,
        })
    }
}

impl Wire for UserCredentials {
    const MIN_LEN: usize = STRING_MIN_LEN + 2 + STRING_MIN_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("user name", &self.name)?;
        w.error_code(self.error_code);
        w.nullable_string("error_message", self.error_message.as_deref())?;
        w.array("credentials", &self.credentials)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(UserCredentials {
            name: r.string("user name")?,
            error_code: r.error_code("error_code")?,
            error_message: r.nullable_string("error_message")?,
            credentials: r.array("credentials")?,
        })
    }
}

impl Wire for DescribeUserScramCredentialsRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "users", &self.users)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeUserScramCredentialsRequest {
            users: read_strings(r, "users")?,
        })
    }
}

impl Wire for DescribeUserScramCredentialsResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("users", &self.users)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(DescribeUserScramCredentialsResponse {
            users: r.array("users")?,
        })
    }
}
