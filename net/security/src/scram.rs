//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka speaks them.

use serde::{Deserialize, Serialize};
/// The two SCRAM mechanisms Kafka offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Mechanism {
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    /// The SASL mechanism name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a SASL name, if a SCRAM one.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    /// Kafka's code for it in AlterUserScramCredentials and DescribeUserScramCredentials.
    pub fn code(self) -> i8 {
        match self {
            Mechanism::ScramSha256 => 1,
            Mechanism::ScramSha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<Mechanism> {
        match code {
            1 => Some(Mechanism::ScramSha256),
            2 => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }
}

/// The fewest PBKDF2 iterations a credential may have (Kafka's floor).
pub const MIN_ITERATIONS: u32 = 4096;
/// The most (Kafka's ceiling).
pub const MAX_ITERATIONS: u32 = 16384;

/// What a server keeps of a user's password for one mechanism (RFC 5802): enough to check a
/// client's proof and prove itself, never enough to log in as the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub mechanism: Mechanism,
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    /// Keys are left out: logs never hold them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Mechanism {
    fn digest(self) -> &'static ring::digest::Algorithm {
        match self {
            Mechanism::ScramSha256 => &ring::digest::SHA256,
            Mechanism::ScramSha512 => &ring::digest::SHA512,
        }
    }

    fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            Mechanism::ScramSha256 => ring::hmac::HMAC_SHA256,
            Mechanism::ScramSha512 => ring::hmac::HMAC_SHA512,
        }
    }

    /// HMAC(key, data) with the mechanism's hash.
    pub(crate) fn hmac_of(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = ring::hmac::Key::new(self.hmac(), key);
        ring::hmac::sign(&key, data).as_ref().to_vec()
    }

    /// H(data) with the mechanism's hash.
    pub(crate) fn hash_of(self, data: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.digest(), data).as_ref().to_vec()
    }
}

/// A credential that cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "{iterations} iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}, the range Kafka allows"
    )]
    Iterations { iterations: u32 },
    #[error("the salt is empty")]
    EmptySalt,
    #[error("the salted password is {got} bytes; {mechanism:?} makes {expected}")]
    SaltedPasswordLength {
        mechanism: Mechanism,
        got: usize,
        expected: usize,
    },
}

impl ScramCredential {
    /// The credential of a salted password, SaltedPassword = Hi(password, salt, iterations)
    /// (what Kafka's AlterUserScramCredentials carries: the client salts, the password never
    /// reaches the broker).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CredentialError::Iterations { iterations });
        }
        if salt.is_empty() {
            return Err(CredentialError::EmptySalt);
        }
        let expected = mechanism.digest().output_len();
        if salted_password.len() != expected {
            return Err(CredentialError::SaltedPasswordLength {
                mechanism,
                got: salted_password.len(),
                expected,
            });
        }
        let client_key = mechanism.hmac_of(salted_password, b"Client Key");
        Ok(ScramCredential {
            mechanism,
            salt,
            iterations,
            stored_key: mechanism.hash_of(&client_key),
            server_key: mechanism.hmac_of(salted_password, b"Server Key"),
        })
    }
}

/// SaltedPassword = Hi(password, salt, iterations): PBKDF2 with the mechanism's HMAC.
pub fn salted_password(
    mechanism: Mechanism,
    password: &[u8],
    salt: &[u8],
    iterations: std::num::NonZeroU32,
) -> Vec<u8> {
    let algorithm = match mechanism {
        Mechanism::ScramSha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        Mechanism::ScramSha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
    };
    let mut out = vec![0; mechanism.digest().output_len()];
    ring::pbkdf2::derive(algorithm, iterations, salt, password, &mut out);
    out
}
