//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka speaks them.
//!
//! | file                | owns                                                              |
//! |---------------------|-------------------------------------------------------------------|
//! | `scram` (this file) | [`Mechanism`], [`ScramCredential`] and its derivation, [`ScramError`] |
//! | `message`           | the four messages' text: parsing, building, user name escaping    |
//! | `server`            | [`ScramServer`], the broker's side, and [`FakeCredentials`]       |
//! | `client`            | [`ScramClient`], the side of ringlog's client and CLI             |
//!
//! The exchange, each message one SASL token (Kafka carries them in SaslAuthenticate):
//!
//! | message      | from   | text                                                        |
//! |--------------|--------|-------------------------------------------------------------|
//! | client-first | client | `n,,n=<user>,r=<client nonce>[,<extension>=<value>]...`     |
//! | server-first | server | `r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>` |
//! | client-final | client | `c=biws,r=<both nonces>,p=<base64 ClientProof>`             |
//! | server-final | server | `v=<base64 ServerSignature>`, or `e=<error>`                |
//!
//! `biws` is the base64 of the gs2 header `n,,`. In the user name `,` travels as `=2C` and `=`
//! as `=3D`. With AuthMessage = client-first without its gs2 header, `,`, server-first, `,`,
//! client-final without `,p=...`:
//!
//! - SaltedPassword = PBKDF2-HMAC-H(password, salt, iterations)
//! - ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey)
//! - ServerKey = HMAC(SaltedPassword, "Server Key")
//! - ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! - ServerSignature = HMAC(ServerKey, AuthMessage)
//!
//! The server keeps StoredKey and ServerKey, never the password: it checks a proof by
//! recovering ClientKey and hashing it, and proves it knows the credential with its signature.
//!
//! Where ringlog differs from Kafka (3.x/4.x `ScramSaslServer`, `ScramSaslClient`):
//!
//! - A user the server does not know gets a server-first like any other, from a fake
//!   credential ([`FakeCredentials`]), and fails at the proof with the same
//!   [`ScramError::AuthenticationFailed`] as a wrong password. Kafka refuses an unknown user
//!   at client-first, which tells a stranger which user names exist.
//! - The gs2 header may be `y,,` (the client could bind to the channel but thinks the server
//!   cannot; RFC 5802 has the server accept it); Kafka accepts only `n,,`. Both refuse
//!   channel binding (`p=`): ringlog offers no `-PLUS` mechanism.
//! - The server checks that `c=` is the base64 of the gs2 header it received, and builds
//!   AuthMessage from the client-final as received (RFC 5802); Kafka rebuilds it from `c=`
//!   and `r=`, which gives the same bytes unless a client puts extensions in its final message.
//! - A mandatory extension (`m=`) is refused, as RFC 5802 requires; Kafka ignores it. Like
//!   Kafka, other extensions are ignored, but `tokenauth=true` is refused: ringlog has no
//!   delegation tokens.
//! - User names are RFC 5802's UTF-8; Kafka's parser takes ASCII only. Neither applies
//!   SASLprep: names and passwords are their UTF-8 bytes.
//! - The client refuses an iteration count above [`MAX_ITERATIONS`] as well as below
//!   [`MIN_ITERATIONS`] (Kafka's client checks only the floor): a server must not make a
//!   client spend minutes in PBKDF2.

mod client;
mod message;
mod server;
#[cfg(test)]
mod tests;

pub use client::ScramClient;
pub use message::{MESSAGE_BYTES_MAX, Message};
pub use server::{FakeCredentials, ScramServer};

use crate::Random;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

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

    /// The mechanism of Kafka's code; 0 (Kafka's UNKNOWN) and unassigned codes are `None`.
    pub fn from_code(code: i8) -> Option<Mechanism> {
        match code {
            1 => Some(Mechanism::ScramSha256),
            2 => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The fewest PBKDF2 iterations a credential may have (Kafka's floor).
pub const MIN_ITERATIONS: u32 = 4096;
/// The most (Kafka's ceiling).
pub const MAX_ITERATIONS: u32 = 16384;
/// How many random bytes [`ScramCredential::generate`] salts with.
pub const SALT_LEN: usize = 32;

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

    /// How many bytes the mechanism's hash makes: the length of every key, proof and
    /// signature of the exchange.
    pub fn output_len(self) -> usize {
        self.digest().output_len()
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
#[non_exhaustive]
pub enum CredentialError {
    #[error(
        "{iterations} iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}, the range Kafka allows"
    )]
    Iterations { iterations: u32 },
    #[error("the salt is empty")]
    EmptySalt,
    #[error("the password is empty")]
    EmptyPassword,
    #[error("the salted password is {got} bytes; {mechanism:?} makes {expected}")]
    SaltedPasswordLength {
        mechanism: Mechanism,
        got: usize,
        expected: usize,
    },
    #[error("the {key} is {got} bytes; {mechanism:?} makes {expected}")]
    KeyLength {
        mechanism: Mechanism,
        key: &'static str,
        got: usize,
        expected: usize,
    },
}

impl ScramCredential {
    /// The credential of a password with a salt the caller chose: PBKDF2 runs `iterations`
    /// times here, milliseconds at Kafka's default of 4096.
    pub fn new(
        mechanism: Mechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        // Checked before PBKDF2 runs, so a wild count costs nothing.
        let iterations_checked = check_iterations(iterations)?;
        if password.is_empty() {
            return Err(CredentialError::EmptyPassword);
        }
        if salt.is_empty() {
            return Err(CredentialError::EmptySalt);
        }
        let salted = salted_password(mechanism, password.as_bytes(), &salt, iterations_checked);
        ScramCredential::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential of a password with a fresh salt of [`SALT_LEN`] random bytes.
    pub fn generate(
        mechanism: Mechanism,
        password: &str,
        iterations: u32,
        random: &mut (impl Random + ?Sized),
    ) -> Result<ScramCredential, CredentialError> {
        let mut salt = vec![0; SALT_LEN];
        random.fill(&mut salt);
        ScramCredential::new(mechanism, password, salt, iterations)
    }

    /// The credential of a salted password, SaltedPassword = Hi(password, salt, iterations)
    /// (what Kafka's AlterUserScramCredentials carries: the client salts, the password never
    /// reaches the broker).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        check_iterations(iterations)?;
        if salt.is_empty() {
            return Err(CredentialError::EmptySalt);
        }
        let expected = mechanism.output_len();
        if salted_password.len() != expected {
            return Err(CredentialError::SaltedPasswordLength {
                mechanism,
                got: salted_password.len(),
                expected,
            });
        }
        let keys = Keys::of_salted_password(mechanism, salted_password);
        Ok(ScramCredential {
            mechanism,
            salt,
            iterations,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        })
    }

    /// Whether `password` is the one this credential was made from: SASL PLAIN's check, run
    /// against the credential SCRAM uses, so a user has one password for both. PBKDF2 runs
    /// `iterations` times; the keys are compared in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let Some(iterations) = NonZeroU32::new(self.iterations) else {
            return false;
        };
        let salted = salted_password(self.mechanism, password.as_bytes(), &self.salt, iterations);
        let keys = Keys::of_salted_password(self.mechanism, &salted);
        equal_in_constant_time(&keys.stored_key, &self.stored_key)
    }

    /// Whether the credential can take part in an exchange: iterations in Kafka's range (or
    /// above `iterations_min`, which only tests lower), a salt, keys of the hash's length.
    fn check(&self, iterations_min: u32) -> Result<(), CredentialError> {
        if self.iterations < iterations_min || self.iterations > MAX_ITERATIONS {
            return Err(CredentialError::Iterations {
                iterations: self.iterations,
            });
        }
        if self.salt.is_empty() {
            return Err(CredentialError::EmptySalt);
        }
        let expected = self.mechanism.output_len();
        for (key, bytes) in [
            ("stored key", &self.stored_key),
            ("server key", &self.server_key),
        ] {
            if bytes.len() != expected {
                return Err(CredentialError::KeyLength {
                    mechanism: self.mechanism,
                    key,
                    got: bytes.len(),
                    expected,
                });
            }
        }
        Ok(())
    }
}

fn check_iterations(iterations: u32) -> Result<NonZeroU32, CredentialError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(CredentialError::Iterations { iterations });
    }
    Ok(NonZeroU32::new(iterations).expect("MIN_ITERATIONS is above 0"))
}

/// SaltedPassword = Hi(password, salt, iterations): PBKDF2 with the mechanism's HMAC.
pub fn salted_password(
    mechanism: Mechanism,
    password: &[u8],
    salt: &[u8],
    iterations: NonZeroU32,
) -> Vec<u8> {
    let algorithm = match mechanism {
        Mechanism::ScramSha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        Mechanism::ScramSha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
    };
    let mut out = vec![0; mechanism.output_len()];
    ring::pbkdf2::derive(algorithm, iterations, salt, password, &mut out);
    out
}

/// The keys RFC 5802 derives from a salted password.
struct Keys {
    client_key: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Keys {
    fn of_salted_password(mechanism: Mechanism, salted_password: &[u8]) -> Keys {
        let client_key = mechanism.hmac_of(salted_password, b"Client Key");
        Keys {
            stored_key: mechanism.hash_of(&client_key),
            server_key: mechanism.hmac_of(salted_password, b"Server Key"),
            client_key,
        }
    }
}

/// `a XOR b`, byte by byte; the two are the hash's length.
fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    assert_eq!(a.len(), b.len(), "xor of {} and {} bytes", a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Whether `a == b`, in a time that depends on their lengths (public: the hash's) but not on
/// where they differ, so a client cannot find a key byte by byte from response times.
/// `ring::constant_time` is deprecated and promises nothing, hence the loop.
pub(crate) fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Why a SCRAM exchange failed. What the broker sends the client is its own choice; these
/// messages are for logs and for the client's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// A message that is not what RFC 5802 says; `attribute` names the part.
    #[error("SCRAM {message} message is malformed: {attribute}: {problem}")]
    Malformed {
        message: Message,
        attribute: &'static str,
        problem: String,
    },
    /// The nonce of a later message is not the exchange's: a replayed or foreign message.
    #[error("SCRAM {message} message has the wrong nonce {nonce:?}: expected {expected}")]
    WrongNonce {
        message: Message,
        nonce: String,
        expected: String,
    },
    /// A wrong password or a user the server does not know: one variant for both, so that
    /// neither the client nor a log reader can tell which.
    #[error("authentication of user {user:?} failed: unknown user or wrong password")]
    AuthenticationFailed { user: String },
    /// The credential the server looked up is for the other SCRAM mechanism.
    #[error("the credential of user {user:?} is for {credential}, the exchange is {exchange}")]
    MechanismMismatch {
        user: String,
        credential: Mechanism,
        exchange: Mechanism,
    },
    /// The credential the server looked up cannot be used (a corrupt store, or one written
    /// with other limits).
    #[error("the stored {mechanism} credential of user {user:?} is unusable: {source}")]
    UnusableCredential {
        user: String,
        mechanism: Mechanism,
        #[source]
        source: CredentialError,
    },
    /// The client asked for channel binding (`p=<type>`).
    #[error(
        "SCRAM channel binding {binding:?} is not supported: ringlog offers no -PLUS mechanism; send the gs2 header n,,"
    )]
    ChannelBindingUnsupported { binding: String },
    /// An extension the server will not run without.
    #[error("SCRAM extension {extension:?} is not supported: {reason}")]
    UnsupportedExtension {
        extension: String,
        reason: &'static str,
    },
    /// The client asked to act as someone other than the user it authenticates as.
    #[error(
        "authorization id {authzid:?} differs from user {user:?}: acting for another user is not supported"
    )]
    AuthorizationIdMismatch { authzid: String, user: String },
    /// A message arrived in a state that does not take it, or after the exchange ended.
    #[error("SCRAM {message} message out of order: the exchange is {state}")]
    OutOfOrder {
        message: Message,
        state: &'static str,
    },
    /// The server asked the client for an iteration count outside Kafka's range: below it
    /// would weaken the client's proof, above it would stall the client.
    #[error(
        "the server asks for {iterations} iterations, outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
    )]
    IterationsOutOfRange { iterations: u64 },
    /// The server's signature is not the one its credential makes: it is not the server the
    /// client has a password with.
    #[error(
        "the SCRAM server's signature does not match: the server does not hold the user's credential"
    )]
    ServerSignatureMismatch,
    /// The server ended the exchange with `e=<text>`.
    #[error("the SCRAM server refused: {text}")]
    ServerError { text: String },
}
