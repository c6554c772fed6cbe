//! SASL for the client's connections, to a broker's `THIN_SASL_PLAINTEXT` or `THIN_SASL_SSL`
//! listener: who the client logs in as ([`ClientSasl`]), and the client's side of one login
//! (`Login`, pure: the connection carries its messages in SaslHandshake and
//! SaslAuthenticate, `connection.rs`). PLAIN sends the password in its one message; SCRAM
//! (`ringlog_security::scram::ScramClient`) proves it knows the password without sending it,
//! and checks that the broker holds the user's credential.

use std::fmt;

use ringlog_security::Random;
use ringlog_security::plain;
pub use ringlog_security::sasl::SaslMechanism;
use ringlog_security::scram::ScramClient;

/// Who the client logs in as on every connection, and with which mechanism. Its `Debug` never
/// shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSasl {
    /// The mechanism: SCRAM-SHA-256 or SCRAM-SHA-512 where the listener offers one (the
    /// password never leaves the client), PLAIN only over TLS.
    pub mechanism: SaslMechanism,
    /// The user's name.
    pub username: String,
    /// Kept for every connection's login; never printed.
    password: String,
}

impl ClientSasl {
    /// A login as `username` with `password`, by `mechanism`.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> ClientSasl {
        ClientSasl {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for ClientSasl {
    /// The password is left out: logs never hold it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One login, the client's side: [`Login::start`] gives the first message to send in
/// SaslAuthenticate, [`Login::answer`] reads each answer and gives the next message, until
/// the exchange is over.
pub(crate) struct Login {
    exchange: Exchange,
}

enum Exchange {
    /// PLAIN's one message is out; its answer ends the login.
    Plain,
    /// SCRAM's client-first message is out (`proof_sent` false), or its client-final one.
    Scram {
        client: Box<ScramClient>,
        proof_sent: bool,
    },
}

/// What a login does after an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send this message in the next SaslAuthenticate.
    Send(Vec<u8>),
    /// Logged in.
    Done,
}

impl Login {
    /// A login as `sasl` says, and its first message.
    pub(crate) fn start(sasl: &ClientSasl, random: &mut dyn Random) -> (Login, Vec<u8>) {
        match sasl.mechanism {
            SaslMechanism::Plain => {
                let message = plain::build(&sasl.username, &sasl.password);
                let login = Login {
                    exchange: Exchange::Plain,
                };
                (login, message)
            }
            SaslMechanism::Scram(mechanism) => {
                let client = ScramClient::new(mechanism, &sasl.username, &sasl.password, random);
                let first = client.client_first();
                let login = Login {
                    exchange: Exchange::Scram {
                        client: Box::new(client),
                        proof_sent: false,
                    },
                };
                (login, first)
            }
        }
    }

    /// Reads the broker's answer to the last message sent: the next message, or the end of
    /// the login. An error says why the broker's answer cannot be taken (SCRAM: a broker that
    /// does not hold the user's credential, a malformed message).
    pub(crate) fn answer(&mut self, auth_bytes: &[u8]) -> Result<Next, String> {
        match &mut self.exchange {
            Exchange::Plain => Ok(Next::Done),
            Exchange::Scram { client, proof_sent } if !*proof_sent => {
                let client_final = client
                    .server_first(auth_bytes)
                    .map_err(|error| error.to_string())?;
                *proof_sent = true;
                Ok(Next::Send(client_final))
            }
            Exchange::Scram { client, .. } => {
                client
                    .server_final(auth_bytes)
                    .map_err(|error| error.to_string())?;
                Ok(Next::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ringlog_security::scram::{FakeCredentials, Mechanism, ScramCredential, ScramServer};

    #[test]
    fn debug_never_shows_the_password() {
        let sasl = ClientSasl::new(SaslMechanism::Plain, "alice", "alice-secret");
        let shown = format!("{sasl:?}");
        assert!(!shown.contains("alice-secret"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }

    #[test]
    fn plain_is_one_message() {
        let sasl = ClientSasl::new(SaslMechanism::Plain, "alice", "pw");
        let (mut login, first) = Login::start(&sasl, &mut SystemRandom::new());
        assert_eq!(first, b"\0alice\0pw");
        assert_eq!(login.answer(b""), Ok(Next::Done));
    }

    /// The client's side against the broker's SCRAM server, for both mechanisms; a server
    /// without the user's credential is caught at its last message.
    #[test]
    fn scram_takes_two_answers_and_checks_the_server() {
        let mut random = SystemRandom::new();
        let fake = FakeCredentials::new(4096, &mut random).unwrap();
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            let stored = ScramCredential::generate(mechanism, "pw", 4096, &mut random).unwrap();
            let sasl = ClientSasl::new(SaslMechanism::Scram(mechanism), "alice", "pw");
            let (mut login, first) = Login::start(&sasl, &mut random);
            let mut server = ScramServer::new(mechanism, &fake, &mut random);
            let server_first = server
                .client_first(&first, |_| Some(stored.clone()))
                .unwrap();
            let Next::Send(client_final) = login.answer(&server_first).unwrap() else {
                panic!("SCRAM sends its proof");
            };
            let (server_final, user) = server.client_final(&client_final).unwrap();
            assert_eq!(user, "alice");
            assert_eq!(login.answer(&server_final), Ok(Next::Done));

            // A server that answers from another password's credential fails the client's
            // check.
            let (mut login, first) = Login::start(&sasl, &mut random);
            let other = ScramCredential::generate(mechanism, "not-pw", 4096, &mut random).unwrap();
            let mut server = ScramServer::new(mechanism, &fake, &mut random);
            let server_first = server.client_first(&first, |_| Some(other)).unwrap();
            let Next::Send(client_final) = login.answer(&server_first).unwrap() else {
                panic!("SCRAM sends its proof");
            };
            // The server refuses the proof (the password does not match its credential).
            assert!(server.client_final(&client_final).is_err());
            let error = login.answer(b"v=AAAA").unwrap_err();
            assert!(error.contains("signature"), "{error}");
        }
    }
}
