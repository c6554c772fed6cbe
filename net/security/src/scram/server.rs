//! The server's side of a SCRAM exchange: the broker runs one [`ScramServer`] per connection
//! that authenticates with SCRAM, feeding it the client's two messages.

use super::message::{self, Message};
use super::{
    CredentialError, MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, SALT_LEN, ScramCredential,
    ScramError, equal_in_constant_time, xor,
};
use crate::Random;

/// How many random bytes the secret behind [`FakeCredentials`] has.
const FAKE_SECRET_LEN: usize = 32;

/// What the server answers for a user it has no credential for: a salt and keys derived from
/// the user name and a secret the broker draws once at start. The same unknown name gets the
/// same salt on every attempt, as a real user does, so a stranger cannot tell unknown names
/// from known ones by the server-first message; the exchange then fails at the proof with the
/// error a wrong password gets.
#[derive(Clone)]
pub struct FakeCredentials {
    secret: [u8; FAKE_SECRET_LEN],
    iterations: u32,
}

impl std::fmt::Debug for FakeCredentials {
    /// The secret is left out: logs never hold it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl FakeCredentials {
    /// Fake credentials with a fresh secret. `iterations` should be what the cluster's real
    /// credentials use (Kafka's tools default to 4096), so that unknown users do not stand out
    /// by their count.
    pub fn new(
        iterations: u32,
        random: &mut (impl Random + ?Sized),
    ) -> Result<FakeCredentials, CredentialError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CredentialError::Iterations { iterations });
        }
        let mut secret = [0; FAKE_SECRET_LEN];
        random.fill(&mut secret);
        Ok(FakeCredentials { secret, iterations })
    }

    /// Any iteration count, for tests whose clients cannot spend 4096 PBKDF2 rounds per case.
    #[cfg(test)]
    pub(super) fn for_test(secret: [u8; FAKE_SECRET_LEN], iterations: u32) -> FakeCredentials {
        FakeCredentials { secret, iterations }
    }

    /// The fake credential of `user`: HMAC(secret, mechanism NUL purpose NUL user) for the
    /// salt and each key. User names hold no NUL, so no two users share an input.
    pub(super) fn credential(&self, mechanism: Mechanism, user: &str) -> ScramCredential {
        let derive = |purpose: &[u8]| {
            let input = [
                mechanism.name().as_bytes(),
                b"\0",
                purpose,
                b"\0",
                user.as_bytes(),
            ]
            .concat();
            mechanism.hmac_of(&self.secret, &input)
        };
        let mut salt = derive(b"salt");
        salt.truncate(SALT_LEN);
        ScramCredential {
            mechanism,
            salt,
            iterations: self.iterations,
            stored_key: derive(b"stored key"),
            server_key: derive(b"server key"),
        }
    }
}

/// One SCRAM exchange, the server's side: [`ScramServer::client_first`] then
/// [`ScramServer::client_final`]. Any error ends the exchange; later calls fail with
/// [`ScramError::OutOfOrder`].
#[derive(Debug)]
pub struct ScramServer {
    mechanism: Mechanism,
    server_nonce: String,
    fake_credentials: FakeCredentials,
    /// [`MIN_ITERATIONS`] but in tests.
    iterations_min: u32,
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Exchange>),
    Complete,
    Failed,
}

impl ServerState {
    fn describe(&self) -> &'static str {
        match self {
            ServerState::AwaitingClientFirst => "awaiting the client-first message",
            ServerState::AwaitingClientFinal(_) => "awaiting the client-final message",
            ServerState::Complete => "complete",
            ServerState::Failed => "failed",
        }
    }
}

/// What the server-first message committed the server to.
#[derive(Debug)]
struct Exchange {
    user: String,
    credential: ScramCredential,
    /// The credential is made up (the user is unknown): the proof fails whatever it is.
    fake: bool,
    gs2_header: String,
    /// The client's nonce followed by the server's.
    nonce: String,
    /// client-first-bare `,` server-first `,`: AuthMessage without the client-final part.
    auth_message_start: String,
}

impl ScramServer {
    /// A server for one exchange, with a fresh nonce from `random`.
    pub fn new(
        mechanism: Mechanism,
        fake_credentials: &FakeCredentials,
        random: &mut (impl Random + ?Sized),
    ) -> ScramServer {
        let server_nonce = random.nonce();
        assert!(
            message::is_nonce(&server_nonce),
            "Random::nonce gave {server_nonce:?}: not printable ASCII without ','"
        );
        ScramServer {
            mechanism,
            server_nonce,
            fake_credentials: fake_credentials.clone(),
            iterations_min: MIN_ITERATIONS,
            state: ServerState::AwaitingClientFirst,
        }
    }

    /// Takes credentials of any iteration count, for tests.
    #[cfg(test)]
    pub(super) fn with_iterations_min(mut self, iterations_min: u32) -> ScramServer {
        self.iterations_min = iterations_min;
        self
    }

    /// The mechanism this exchange runs.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Reads the client-first message and answers the server-first one. `lookup` gives the
    /// credential of a user name (unescaped) for this server's mechanism, or `None` if the
    /// user has none: the exchange goes on with a fake credential and fails at the proof.
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        let state = std::mem::replace(&mut self.state, ServerState::Failed);
        if !matches!(state, ServerState::AwaitingClientFirst) {
            return Err(ScramError::OutOfOrder {
                message: Message::ClientFirst,
                state: state.describe(),
            });
        }
        let first = message::parse_client_first(message)?;
        if let Some(authzid) = first.authzid
            && authzid != first.user
        {
            return Err(ScramError::AuthorizationIdMismatch {
                authzid,
                user: first.user,
            });
        }
        let (credential, fake) = match lookup(&first.user) {
            Some(credential) => (credential, false),
            None => {
                let credential = self
                    .fake_credentials
                    .credential(self.mechanism, &first.user);
                (credential, true)
            }
        };
        self.check_credential(&first.user, &credential)?;

        let nonce = format!("{}{}", first.nonce, self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            message::encode_base64(&credential.salt),
            credential.iterations
        );
        let auth_message_start = format!("{},{server_first},", first.bare);
        self.state = ServerState::AwaitingClientFinal(Box::new(Exchange {
            user: first.user,
            credential,
            fake,
            gs2_header: first.gs2_header.to_string(),
            nonce,
            auth_message_start,
        }));
        Ok(server_first.into_bytes())
    }

    /// Reads the client-final message, checks the client's proof and answers the
    /// server-final message, with the name of the user now authenticated.
    pub fn client_final(&mut self, message: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let state = std::mem::replace(&mut self.state, ServerState::Failed);
        let ServerState::AwaitingClientFinal(exchange) = state else {
            return Err(ScramError::OutOfOrder {
                message: Message::ClientFinal,
                state: state.describe(),
            });
        };
        let last = message::parse_client_final(message)?;
        if last.channel_binding != exchange.gs2_header.as_bytes() {
            return Err(ScramError::Malformed {
                message: Message::ClientFinal,
                attribute: "c (channel binding)",
                problem: format!(
                    "carries {:?}, not the gs2 header {:?} of the client-first message",
                    String::from_utf8_lossy(&last.channel_binding),
                    exchange.gs2_header
                ),
            });
        }
        if last.nonce != exchange.nonce {
            return Err(ScramError::WrongNonce {
                message: Message::ClientFinal,
                nonce: message::excerpt_plain(last.nonce),
                expected: format!("{:?}", exchange.nonce),
            });
        }
        let expected_len = self.mechanism.output_len();
        if last.proof.len() != expected_len {
            return Err(ScramError::Malformed {
                message: Message::ClientFinal,
                attribute: "p (proof)",
                problem: format!(
                    "{} bytes; {} proofs are {expected_len}",
                    last.proof.len(),
                    self.mechanism
                ),
            });
        }

        let credential = &exchange.credential;
        let auth_message = format!("{}{}", exchange.auth_message_start, last.without_proof);
        let client_signature = self
            .mechanism
            .hmac_of(&credential.stored_key, auth_message.as_bytes());
        let client_key = xor(&last.proof, &client_signature);
        let stored_key = self.mechanism.hash_of(&client_key);
        let proven = equal_in_constant_time(&stored_key, &credential.stored_key);
        // A fake credential fails here whatever the proof, with a wrong password's error.
        if !proven || exchange.fake {
            return Err(ScramError::AuthenticationFailed {
                user: exchange.user,
            });
        }
        let server_signature = self
            .mechanism
            .hmac_of(&credential.server_key, auth_message.as_bytes());
        self.state = ServerState::Complete;
        let server_final = format!("v={}", message::encode_base64(&server_signature));
        Ok((server_final.into_bytes(), exchange.user))
    }

    fn check_credential(&self, user: &str, credential: &ScramCredential) -> Result<(), ScramError> {
        if credential.mechanism != self.mechanism {
            return Err(ScramError::MechanismMismatch {
                user: user.to_string(),
                credential: credential.mechanism,
                exchange: self.mechanism,
            });
        }
        credential
            .check(self.iterations_min)
            .map_err(|source| ScramError::UnusableCredential {
                user: user.to_string(),
                mechanism: self.mechanism,
                source,
            })
    }
}
