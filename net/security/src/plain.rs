//! SASL PLAIN (RFC 4616): the client sends `authzid NUL authcid NUL password` once.
//!
//! | field    | bytes                          | ringlog requires                             |
//! |----------|--------------------------------|----------------------------------------------|
//! | authzid  | up to the first NUL            | empty, or the user name itself               |
//! | authcid  | between the first and second NUL | the user name, not empty                   |
//! | password | after the second NUL           | not empty, no NUL                            |
//!
//! The message is UTF-8 and at most [`MESSAGE_BYTES_MAX`] bytes. The server checks the
//! password against the user's SCRAM credential ([`ScramCredential::verify_password`]), so a
//! user has one password for PLAIN and SCRAM and the broker never stores it.
//!
//! Where ringlog differs from Kafka (`PlainSaslServer`): Kafka checks passwords against its
//! JAAS configuration, ringlog against SCRAM credentials; Kafka decodes invalid UTF-8 into
//! replacement characters, ringlog refuses it; and an unknown user costs the server a PBKDF2
//! run like a known one, so response times do not tell which names exist.

use crate::scram::{MIN_ITERATIONS, Mechanism, ScramCredential, salted_password};
use std::num::NonZeroU32;

/// The longest PLAIN message the server reads. RFC 4616 asks for 255 bytes of user name and
/// of password at least.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// What a PLAIN message says: who, and with which password.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainMessage {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for PlainMessage {
    /// The password is left out: logs never hold it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainMessage")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why a PLAIN message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlainError {
    #[error("SASL PLAIN message is {bytes} bytes, more than {MESSAGE_BYTES_MAX}")]
    TooLong { bytes: usize },
    #[error("SASL PLAIN message is not UTF-8 (from byte {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error(
        "SASL PLAIN message has {fields} NUL-separated fields; expected 3 (authzid NUL user NUL password)"
    )]
    Fields { fields: usize },
    #[error("SASL PLAIN message names no user")]
    EmptyUser,
    #[error("SASL PLAIN message for user {user:?} has an empty password")]
    EmptyPassword { user: String },
    #[error(
        "authorization id {authzid:?} differs from user {user:?}: acting for another user is not supported"
    )]
    AuthorizationIdMismatch { authzid: String, user: String },
    /// A wrong password or a user without a credential: one variant for both.
    #[error("authentication of user {user:?} failed: unknown user or wrong password")]
    AuthenticationFailed { user: String },
}

/// Reads a client's PLAIN message.
pub fn parse(message: &[u8]) -> Result<PlainMessage, PlainError> {
    if message.len() > MESSAGE_BYTES_MAX {
        return Err(PlainError::TooLong {
            bytes: message.len(),
        });
    }
    let text = std::str::from_utf8(message).map_err(|error| PlainError::NotUtf8 {
        valid_up_to: error.valid_up_to(),
    })?;
    let fields: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = fields[..] else {
        return Err(PlainError::Fields {
            fields: fields.len(),
        });
    };
    if user.is_empty() {
        return Err(PlainError::EmptyUser);
    }
    if password.is_empty() {
        return Err(PlainError::EmptyPassword {
            user: user.to_string(),
        });
    }
    if !authzid.is_empty() && authzid != user {
        return Err(PlainError::AuthorizationIdMismatch {
            authzid: authzid.to_string(),
            user: user.to_string(),
        });
    }
    Ok(PlainMessage {
        user: user.to_string(),
        password: password.to_string(),
    })
}

/// The client's PLAIN message, with no authorization id: `NUL user NUL password`. A user or
/// password that is empty or holds NUL makes a message the server refuses.
pub fn build(user: &str, password: &str) -> Vec<u8> {
    [b"\0", user.as_bytes(), b"\0", password.as_bytes()].concat()
}

/// The server's whole PLAIN check: reads the message and verifies the password against the
/// credential `lookup` gives for the user name. The authenticated user's name, or why not.
pub fn authenticate(
    message: &[u8],
    lookup: impl FnOnce(&str) -> Option<ScramCredential>,
) -> Result<String, PlainError> {
    let PlainMessage { user, password } = parse(message)?;
    let verified = match lookup(&user) {
        Some(credential) => credential.verify_password(&password),
        None => {
            // As long as a known user's check at Kafka's default count.
            let iterations = NonZeroU32::new(MIN_ITERATIONS).expect("MIN_ITERATIONS is above 0");
            let salted = salted_password(
                Mechanism::ScramSha256,
                password.as_bytes(),
                b"ringlog: no such user",
                iterations,
            );
            std::hint::black_box(salted);
            false
        }
    };
    if !verified {
        return Err(PlainError::AuthenticationFailed { user });
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRandom;
    use proptest::prelude::*;

    #[test]
    fn rfc_4616_examples() {
        let message = parse(b"\0tim\0tanstaaftanstaaf").unwrap();
        assert_eq!(message.user, "tim");
        assert_eq!(message.password, "tanstaaftanstaaf");
        // Acting as another user is refused.
        assert_eq!(
            parse(b"Ursel\0Kurt\0xipj3plmq").unwrap_err(),
            PlainError::AuthorizationIdMismatch {
                authzid: "Ursel".to_string(),
                user: "Kurt".to_string()
            }
        );
        assert_eq!(parse(b"Kurt\0Kurt\0xipj3plmq").unwrap().user, "Kurt");
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"").unwrap_err(), PlainError::Fields { fields: 1 });
        assert_eq!(parse(b"\0u").unwrap_err(), PlainError::Fields { fields: 2 });
        assert_eq!(
            parse(b"\0u\0p\0q").unwrap_err(),
            PlainError::Fields { fields: 4 }
        );
        assert_eq!(parse(b"\0\0p").unwrap_err(), PlainError::EmptyUser);
        assert_eq!(
            parse(b"\0u\0").unwrap_err(),
            PlainError::EmptyPassword {
                user: "u".to_string()
            }
        );
        assert_eq!(
            parse(b"\0u\0\xff").unwrap_err(),
            PlainError::NotUtf8 { valid_up_to: 3 }
        );
        let long = vec![b'a'; MESSAGE_BYTES_MAX + 1];
        assert_eq!(
            parse(&long).unwrap_err(),
            PlainError::TooLong {
                bytes: MESSAGE_BYTES_MAX + 1
            }
        );
        assert_eq!(
            PlainError::Fields { fields: 2 }.to_string(),
            "SASL PLAIN message has 2 NUL-separated fields; expected 3 (authzid NUL user NUL password)"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let message = parse(b"\0alice\0hunter2").unwrap();
        assert_eq!(
            format!("{message:?}"),
            "PlainMessage { user: \"alice\", .. }"
        );
    }

    #[test]
    fn authenticate_checks_the_scram_credential() {
        let mut random = TestRandom::new(1);
        let credential =
            ScramCredential::generate(Mechanism::ScramSha512, "hunter2", 4096, &mut random)
                .unwrap();
        let lookup = |user: &str| (user == "alice").then(|| credential.clone());
        assert_eq!(
            authenticate(&build("alice", "hunter2"), lookup),
            Ok("alice".to_string())
        );
        assert_eq!(
            authenticate(&build("alice", "hunter3"), lookup),
            Err(PlainError::AuthenticationFailed {
                user: "alice".to_string()
            })
        );
        assert_eq!(
            authenticate(&build("bob", "hunter2"), lookup),
            Err(PlainError::AuthenticationFailed {
                user: "bob".to_string()
            })
        );
        assert_eq!(
            authenticate(&build("alice", ""), lookup),
            Err(PlainError::EmptyPassword {
                user: "alice".to_string()
            })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn build_then_parse(user in "[^\0]{1,20}", password in "[^\0]{1,20}") {
            let message = parse(&build(&user, &password)).unwrap();
            prop_assert_eq!(message.user, user);
            prop_assert_eq!(message.password, password);
        }

        #[test]
        fn any_bytes_parse_or_fail(bytes in proptest::collection::vec(
            prop_oneof![Just(0u8), any::<u8>(), Just(b'a')], 0..64,
        )) {
            if let Ok(message) = parse(&bytes) {
                prop_assert!(!message.user.is_empty());
                prop_assert!(!message.password.is_empty());
            }
        }
    }
}
