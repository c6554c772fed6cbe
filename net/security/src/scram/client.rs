//! The client's side of a SCRAM exchange, for ringlog's client and CLI.

use super::message::{self, Message, ServerFinal};
use super::{
    Keys, MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, ScramError, equal_in_constant_time,
    salted_password, xor,
};
use crate::Random;
use std::num::NonZeroU32;

/// One SCRAM exchange, the client's side: send [`ScramClient::client_first`], answer the
/// server-first message with [`ScramClient::server_first`], check the server-final one with
/// [`ScramClient::server_final`]. Any error ends the exchange; later calls fail with
/// [`ScramError::OutOfOrder`].
pub struct ScramClient {
    mechanism: Mechanism,
    user: String,
    /// Emptied once the proof is made: the exchange needs it no longer.
    password: String,
    client_nonce: String,
    /// [`MIN_ITERATIONS`] but in tests.
    iterations_min: u32,
    state: ClientState,
}

impl std::fmt::Debug for ScramClient {
    /// The password is left out: logs never hold it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("state", &self.state.describe())
            .finish_non_exhaustive()
    }
}

enum ClientState {
    AwaitingServerFirst,
    /// The proof is sent; the server must answer with this signature.
    AwaitingServerFinal {
        server_signature: Vec<u8>,
    },
    Complete,
    Failed,
}

impl ClientState {
    fn describe(&self) -> &'static str {
        match self {
            ClientState::AwaitingServerFirst => "awaiting the server-first message",
            ClientState::AwaitingServerFinal { .. } => "awaiting the server-final message",
            ClientState::Complete => "complete",
            ClientState::Failed => "failed",
        }
    }
}

impl ScramClient {
    /// A client for one exchange as `user`, with a fresh nonce from `random`. An empty user
    /// name makes a client-first message every server refuses.
    pub fn new(
        mechanism: Mechanism,
        user: &str,
        password: &str,
        random: &mut (impl Random + ?Sized),
    ) -> ScramClient {
        let client_nonce = random.nonce();
        assert!(
            message::is_nonce(&client_nonce),
            "Random::nonce gave {client_nonce:?}: not printable ASCII without ','"
        );
        ScramClient {
            mechanism,
            user: user.to_string(),
            password: password.to_string(),
            client_nonce,
            iterations_min: MIN_ITERATIONS,
            state: ClientState::AwaitingServerFirst,
        }
    }

    /// Accepts any iteration count, for tests.
    #[cfg(test)]
    pub(super) fn with_iterations_min(mut self, iterations_min: u32) -> ScramClient {
        self.iterations_min = iterations_min;
        self
    }

    /// The mechanism this exchange runs.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The client-first message: `n,,n=<user>,r=<nonce>`. The same bytes each call.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare()).into_bytes()
    }

    fn client_first_bare(&self) -> String {
        format!(
            "n={},r={}",
            message::escape_user(&self.user),
            self.client_nonce
        )
    }

    /// Reads the server-first message and answers the client-final one, with the proof.
    /// Runs PBKDF2 for the server's iteration count, which must be in Kafka's range.
    pub fn server_first(&mut self, message: &[u8]) -> Result<Vec<u8>, ScramError> {
        let state = std::mem::replace(&mut self.state, ClientState::Failed);
        if !matches!(state, ClientState::AwaitingServerFirst) {
            return Err(ScramError::OutOfOrder {
                message: Message::ServerFirst,
                state: state.describe(),
            });
        }
        let first = message::parse_server_first(message)?;
        let server_part = first.nonce.strip_prefix(self.client_nonce.as_str());
        if server_part.is_none_or(str::is_empty) {
            return Err(ScramError::WrongNonce {
                message: Message::ServerFirst,
                nonce: message::excerpt_plain(first.nonce),
                expected: format!("the client's {:?} and then the server's", self.client_nonce),
            });
        }
        let iterations = self.check_iterations(first.iterations)?;

        let password = std::mem::take(&mut self.password);
        let salted = salted_password(self.mechanism, password.as_bytes(), &first.salt, iterations);
        let keys = Keys::of_salted_password(self.mechanism, &salted);
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message = [
            self.client_first_bare().as_bytes(),
            b",",
            message,
            b",",
            without_proof.as_bytes(),
        ]
        .concat();
        let client_signature = self.mechanism.hmac_of(&keys.stored_key, &auth_message);
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = self.mechanism.hmac_of(&keys.server_key, &auth_message);
        self.state = ClientState::AwaitingServerFinal { server_signature };
        let client_final = format!("{without_proof},p={}", message::encode_base64(&proof));
        Ok(client_final.into_bytes())
    }

    /// Reads the server-final message: the server proves it holds the user's credential
    /// (mutual authentication), or says why it refused.
    pub fn server_final(&mut self, message: &[u8]) -> Result<(), ScramError> {
        let state = std::mem::replace(&mut self.state, ClientState::Failed);
        let ClientState::AwaitingServerFinal { server_signature } = state else {
            return Err(ScramError::OutOfOrder {
                message: Message::ServerFinal,
                state: state.describe(),
            });
        };
        match message::parse_server_final(message)? {
            ServerFinal::Error(text) => Err(ScramError::ServerError { text }),
            ServerFinal::Verifier(signature) => {
                if !equal_in_constant_time(&signature, &server_signature) {
                    return Err(ScramError::ServerSignatureMismatch);
                }
                self.state = ClientState::Complete;
                Ok(())
            }
        }
    }

    fn check_iterations(&self, iterations: u64) -> Result<NonZeroU32, ScramError> {
        let in_range =
            iterations >= u64::from(self.iterations_min) && iterations <= u64::from(MAX_ITERATIONS);
        u32::try_from(iterations)
            .ok()
            .and_then(NonZeroU32::new)
            .filter(|_| in_range)
            .ok_or(ScramError::IterationsOutOfRange { iterations })
    }
}
