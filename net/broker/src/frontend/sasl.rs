//! SASL authentication of one connection, as Kafka's `SaslServerAuthenticator` runs it, without
//! a protocol's types: the Kafka frontend feeds it SaslHandshake and SaslAuthenticate
//! (`kafka/sasl.rs`), and the thin protocol's frontend its own (`thin/sasl.rs`). Pure: the clock
//! comes in as an `Instant`, users' credentials through a lookup (the catalog's), randomness
//! through [`Random`].
//!
//! A connection's states ([`Authentication`]):
//!
//! | state | what moves it on | to |
//! |-------|------------------|----|
//! | anonymous (a listener without SASL) | nothing | stays `User:ANONYMOUS` |
//! | expecting a handshake | a handshake naming an enabled mechanism | mechanism chosen |
//! | mechanism chosen | PLAIN's message / SCRAM's client-first | authenticated / first message answered |
//! | first message answered (SCRAM) | SCRAM's client-final | authenticated |
//! | authenticated (principal, mechanism, session expiry) | a handshake, when sessions expire (KIP-368) | mechanism chosen, re-authenticating |
//! | failed | nothing | the connection closes once its answer is written |
//!
//! Before authentication only ApiVersions (before the handshake), SaslHandshake and
//! SaslAuthenticate are served; any other request closes the connection, as Kafka closes it.
//! A session that expired (`connections_max_reauth_ms` after it began) serves nothing but a
//! re-authentication: any other request closes the connection (Kafka's "expired connections
//! killed"). A re-authentication must prove the same principal with the same mechanism, or the
//! connection closes. [`Authentication::gate`] says what may be served now.
//!
//! A failure tells the client nothing about which users exist: an unknown user, a wrong
//! password and a credential that cannot be used all get [`INVALID_CREDENTIALS`]; the log line
//! ([`Failure::detail`]) says which. SCRAM answers an unknown user's first message from a fake
//! credential (`FakeCredentials`, drawn once per broker), PLAIN spends a PBKDF2 run on one.
//!
//! Repeated failures from one address are slowed down ([`FailedLogins`]): the answer to a
//! failed authentication waits `connection_failed_authentication_delay_ms` (Kafka's key and
//! meaning), doubled for each failure from the same address in the last
//! [`FAILURE_MEMORY`], up to [`REPEATED_FAILURE_DELAY_MAX`]; the connection closes after it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringlog_security::plain::{self, PlainError};
use ringlog_security::scram::{
    FakeCredentials, Mechanism, ScramCredential, ScramError, ScramServer,
};
use ringlog_security::{Principal, Random};

use crate::config::{BrokerConfig, SaslMechanism};

/// What a failed authentication tells the client, whatever failed (with the mechanism's name
/// after it): it does not say whether the user exists.
pub(crate) const INVALID_CREDENTIALS: &str = "authentication failed: invalid credentials";

/// How long a failure from an address is remembered: each failure within it doubles the
/// delay of the next.
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// The longest a failure's answer waits however often its address failed (unless the base
/// delay, `connection_failed_authentication_delay_ms`, is longer).
pub(crate) const REPEATED_FAILURE_DELAY_MAX: Duration = Duration::from_secs(5);

/// The most addresses [`FailedLogins`] remembers; past it the one that failed longest ago is
/// forgotten.
pub(crate) const FAILED_ADDRESSES_MAX: usize = 10_000;

/// The most characters of a client's strings (a mechanism, a user name) a log line quotes.
const LOGGED_CHARS_MAX: usize = 128;

/// Logs and counts a login that succeeded (or a session renewed) on a connection from
/// `peer` of a `listener` (`kafka`, `thin`) listener; never a secret.
pub(crate) fn log_success(
    listener: &'static str,
    peer: std::net::SocketAddr,
    session: &Session,
    session_lifetime: Duration,
    reauthentication: bool,
) {
    tracing::info!(
        %peer,
        listener,
        principal = %session.principal,
        mechanism = session.mechanism.name(),
        reauthentication,
        session_lifetime_ms = session_lifetime.as_millis(),
        "SASL authentication succeeded"
    );
    let result = match reauthentication {
        true => crate::metrics::SaslResult::Reauthentication,
        false => crate::metrics::SaslResult::Success,
    };
    crate::metrics_hooks::sasl_authentication(Some(session.mechanism), result);
}

/// The tracing target of the security events an operator audits: failed logins and
/// authorization denials. The `ringlog` binary shows it by default (at INFO) while it shows
/// other targets from WARN only.
pub(crate) const AUDIT: &str = "ringlog::audit";

/// Logs a failed login (or re-authentication) on a connection from `peer` of a `listener`
/// (`kafka`, `thin`) listener, to [`AUDIT`]: who it claimed to be and why it failed, never a
/// secret.
pub(crate) fn log_failure(listener: &'static str, peer: std::net::SocketAddr, failure: &Failure) {
    tracing::info!(
        target: AUDIT,
        %peer,
        listener,
        user = %failure.user.as_deref().map_or_else(|| "(none)".to_string(), quoted),
        mechanism = failure.mechanism.name(),
        reauthentication = failure.reauthentication,
        detail = %failure.detail,
        "SASL authentication failed"
    );
}

/// A string a client sent, for a log line or an answer: escaped, and cut at
/// [`LOGGED_CHARS_MAX`] characters.
pub(crate) fn quoted(text: &str) -> String {
    let mut cut: String = text.chars().take(LOGGED_CHARS_MAX).collect();
    if cut.len() < text.len() {
        cut.push_str("...");
    }
    format!("{cut:?}")
}

/// The broker's SASL settings, the same for every connection of its SASL listeners.
#[derive(Debug)]
pub(crate) struct SaslSettings {
    /// `sasl_enabled_mechanisms`, in the order the handshake lists them.
    pub enabled: Vec<SaslMechanism>,
    /// `connections_max_reauth_ms`; `None` (0): sessions do not expire.
    pub session_lifetime: Option<Duration>,
    /// What SCRAM answers for users without a credential, drawn once per broker.
    pub fake_credentials: FakeCredentials,
}

/// What every shard shares of the SASL listeners (Kafka's and the thin one, whichever ask
/// for SASL): their settings, and the failed logins by address (behind a lock taken once per failed authentication, never on a request's path).
#[derive(Debug)]
pub(crate) struct SaslListener {
    pub settings: SaslSettings,
    failed_logins: Mutex<FailedLogins>,
}

impl SaslListener {
    /// The SASL listeners of `config`, with fake credentials for unknown users drawn now.
    pub(crate) fn new(config: &BrokerConfig) -> SaslListener {
        let mut random = ring::rand::SystemRandom::new();
        let fake_credentials =
            FakeCredentials::new(crate::config::BOOTSTRAP_ITERATIONS_DEFAULT, &mut random)
                .expect("Kafka's default iteration count is in Kafka's range");
        SaslListener {
            settings: SaslSettings {
                enabled: config.sasl_enabled_mechanisms.clone(),
                session_lifetime: config.connections_max_reauth,
                fake_credentials,
            },
            failed_logins: Mutex::new(FailedLogins::new(
                config.connection_failed_authentication_delay,
            )),
        }
    }

    /// Records a failed authentication from `address`: how long its answer waits.
    pub(crate) fn failed(&self, address: IpAddr) -> Duration {
        let mut failed = self.failed_logins.lock().expect("not poisoned");
        failed.failed(address, Instant::now())
    }
}

/// A user's SCRAM credential for a mechanism, if it has one: the catalog's, in the broker.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str, Mechanism) -> Option<ScramCredential>;

/// An authenticated session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub principal: Principal,
    pub mechanism: SaslMechanism,
    /// When it must be re-authenticated by; `None`: never.
    pub expires: Option<Instant>,
}

/// Who a connection is and how far its authentication is. See the module doc.
#[derive(Debug)]
pub(crate) struct Authentication {
    state: State,
}

#[derive(Debug)]
enum State {
    /// A listener without SASL: `User:ANONYMOUS`, or the principal of the client's
    /// certificate on a TLS listener that asked for one.
    Anonymous(Option<Principal>),
    ExpectingHandshake,
    Exchange {
        exchange: Exchange,
        /// The session being re-authenticated, if any.
        previous: Option<Session>,
    },
    Authenticated(Session),
    Failed,
}

/// A mechanism's exchange under way.
#[derive(Debug)]
enum Exchange {
    Plain,
    Scram {
        mechanism: Mechanism,
        /// Set up by the client-first message, which it answered; `None` until then.
        server: Option<Box<ScramServer>>,
    },
    /// A re-authentication that asked for another mechanism than its session's: refused at
    /// its first token, as Kafka refuses it (its handshake is answered like any other).
    WrongMechanism {
        asked: SaslMechanism,
        session: SaslMechanism,
    },
}

/// What kind of request asks to be served, as far as authentication cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestKind {
    ApiVersions,
    Handshake,
    Authenticate,
    Other,
}

/// Whether a request may be served now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    Serve,
    /// Close the connection, for this reason.
    Close(Closed),
}

/// Why a request closes its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    BeforeAuthentication,
    DuringExchange,
    /// The session expired (`connections_max_reauth_ms`) and was not renewed.
    SessionExpired,
    AfterFailure,
}

impl Closed {
    /// Why, for the log.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Closed::BeforeAuthentication => {
                "a request before SASL authentication (only ApiVersions, SaslHandshake and \
                 SaslAuthenticate are served until it succeeds)"
            }
            Closed::DuringExchange => {
                "a request during the SASL exchange (only SaslAuthenticate is served until it \
                 ends)"
            }
            Closed::SessionExpired => {
                "a request after the SASL session expired (connections_max_reauth_ms): the \
                 client did not re-authenticate in time"
            }
            Closed::AfterFailure => "a request after a failed SASL authentication",
        }
    }
}

/// How a handshake is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// The mechanism is enabled: its exchange begins.
    Accepted,
    /// Not an enabled mechanism (UNSUPPORTED_SASL_MECHANISM with the enabled list): a
    /// failure, the connection closes after the answer.
    Unsupported { reauthentication: bool },
    /// Not now (ILLEGAL_SASL_STATE): during an exchange (and the connection closes), or on an
    /// authenticated connection whose session does not expire.
    OutOfTurn { reason: &'static str, close: bool },
}

/// How a SASL token is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Authenticate {
    /// The exchange goes on: send these bytes (SCRAM's server-first).
    Continue(Vec<u8>),
    /// Authenticated: send these bytes (SCRAM's server-final; nothing for PLAIN) and the
    /// session's lifetime (zero when it does not expire).
    Done {
        auth_bytes: Vec<u8>,
        session_lifetime: Duration,
        session: Session,
        reauthentication: bool,
    },
    /// SASL_AUTHENTICATION_FAILED: the connection closes after the answer.
    Failed(Failure),
    /// Not now (ILLEGAL_SASL_STATE): before a handshake (and the connection closes), or on
    /// an authenticated connection.
    OutOfTurn { reason: &'static str, close: bool },
}

/// A failed authentication: what the client is told and what the log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub mechanism: SaslMechanism,
    /// The user the client named, if its message got that far.
    pub user: Option<String>,
    /// For the client: never whether the user exists.
    pub message: String,
    /// For the log: what failed (no secret: passwords and keys are never in it).
    pub detail: String,
    pub reauthentication: bool,
}

impl Authentication {
    /// A connection of a listener without SASL: `User:ANONYMOUS`, served everything.
    pub(crate) fn anonymous() -> Authentication {
        Authentication {
            state: State::Anonymous(None),
        }
    }

    /// The client showed a certificate naming `principal` (its TLS handshake checked it): on
    /// a listener without SASL the connection is that principal, as Kafka's SSL listener
    /// makes it; a SASL listener goes by its login.
    pub(crate) fn certificate(&mut self, principal: Principal) {
        if let State::Anonymous(certified) = &mut self.state {
            *certified = Some(principal);
        }
    }

    /// A new connection of a SASL listener.
    pub(crate) fn expecting_handshake() -> Authentication {
        Authentication {
            state: State::ExpectingHandshake,
        }
    }

    /// Whether the connection's listener asks for SASL.
    pub(crate) fn is_sasl(&self) -> bool {
        !matches!(self.state, State::Anonymous(_))
    }

    /// Who the connection is: `User:ANONYMOUS` before authentication, or without SASL and
    /// without a client certificate; the certificate's principal without SASL; the session's
    /// principal once authenticated (and while it re-authenticates).
    pub(crate) fn principal(&self) -> Principal {
        match &self.state {
            State::Authenticated(session)
            | State::Exchange {
                previous: Some(session),
                ..
            } => session.principal.clone(),
            State::Anonymous(Some(certified)) => certified.clone(),
            _ => Principal::anonymous(),
        }
    }

    /// Whether a request of `kind` may be served at `now`. SaslHandshake and
    /// SaslAuthenticate always may: [`Self::handshake`] and [`Self::authenticate`] decide
    /// how they are answered.
    pub(crate) fn gate(&self, kind: RequestKind, now: Instant) -> Gate {
        if matches!(kind, RequestKind::Handshake | RequestKind::Authenticate) {
            return Gate::Serve;
        }
        match &self.state {
            State::Anonymous(_) => Gate::Serve,
            State::ExpectingHandshake if kind == RequestKind::ApiVersions => Gate::Serve,
            State::ExpectingHandshake => Gate::Close(Closed::BeforeAuthentication),
            State::Exchange { .. } => Gate::Close(Closed::DuringExchange),
            State::Authenticated(session) if session.expires.is_some_and(|at| now >= at) => {
                Gate::Close(Closed::SessionExpired)
            }
            State::Authenticated(_) => Gate::Serve,
            State::Failed => Gate::Close(Closed::AfterFailure),
        }
    }

    /// A SaslHandshake naming `mechanism`.
    pub(crate) fn handshake(&mut self, mechanism: &str, settings: &SaslSettings) -> Handshake {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let previous = match state {
            State::ExpectingHandshake => None,
            State::Authenticated(session) if session.expires.is_some() => Some(session),
            State::Authenticated(session) => {
                self.state = State::Authenticated(session);
                return Handshake::OutOfTurn {
                    reason: "a SaslHandshake on an authenticated connection whose session does \
                             not expire (connections_max_reauth_ms is 0): there is nothing to \
                             re-authenticate",
                    close: false,
                };
            }
            State::Anonymous(certified) => {
                self.state = State::Anonymous(certified);
                return Handshake::OutOfTurn {
                    reason: "a SaslHandshake on a listener without SASL",
                    close: false,
                };
            }
            State::Exchange { .. } | State::Failed => {
                return Handshake::OutOfTurn {
                    reason: "a SaslHandshake during the SASL exchange, which expects \
                             SaslAuthenticate",
                    close: true,
                };
            }
        };
        let enabled = SaslMechanism::from_name(mechanism).filter(|m| settings.enabled.contains(m));
        let Some(asked) = enabled else {
            return Handshake::Unsupported {
                reauthentication: previous.is_some(),
            };
        };
        let exchange = match (&previous, asked) {
            (Some(session), _) if session.mechanism != asked => Exchange::WrongMechanism {
                asked,
                session: session.mechanism,
            },
            (_, SaslMechanism::Plain) => Exchange::Plain,
            (_, SaslMechanism::Scram(mechanism)) => Exchange::Scram {
                mechanism,
                server: None,
            },
        };
        self.state = State::Exchange { exchange, previous };
        Handshake::Accepted
    }

    /// A SaslAuthenticate carrying `token`, at `now`.
    pub(crate) fn authenticate(
        &mut self,
        token: &[u8],
        settings: &SaslSettings,
        lookup: Lookup<'_>,
        random: &mut dyn Random,
        now: Instant,
    ) -> Authenticate {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (exchange, previous) = match state {
            State::Exchange { exchange, previous } => (exchange, previous),
            State::Authenticated(session) => {
                self.state = State::Authenticated(session);
                return Authenticate::OutOfTurn {
                    reason: "a SaslAuthenticate after the authentication succeeded",
                    close: false,
                };
            }
            State::Anonymous(certified) => {
                self.state = State::Anonymous(certified);
                return Authenticate::OutOfTurn {
                    reason: "a SaslAuthenticate on a listener without SASL",
                    close: false,
                };
            }
            State::ExpectingHandshake | State::Failed => {
                return Authenticate::OutOfTurn {
                    reason: "a SaslAuthenticate before a SaslHandshake chose a mechanism",
                    close: true,
                };
            }
        };
        let reauthentication = previous.is_some();
        let proven = match exchange {
            Exchange::WrongMechanism { asked, session } => {
                let message = format!(
                    "SASL mechanism {} requested for the re-authentication of a {} session: a \
                     session keeps its mechanism",
                    asked.name(),
                    session.name()
                );
                Err(Failure {
                    mechanism: asked,
                    user: None,
                    detail: message.clone(),
                    message,
                    reauthentication,
                })
            }
            Exchange::Plain => plain_step(token, lookup),
            Exchange::Scram { mechanism, server } => {
                match scram_step(token, mechanism, server, settings, lookup, random) {
                    ScramStep::Answered(server, server_first) => {
                        self.state = State::Exchange {
                            exchange: Exchange::Scram {
                                mechanism,
                                server: Some(server),
                            },
                            previous,
                        };
                        return Authenticate::Continue(server_first);
                    }
                    ScramStep::Proven(proven) => Ok(proven),
                    ScramStep::Failed(failure) => Err(failure),
                }
            }
        };
        let proven = match proven {
            Ok(proven) => proven,
            Err(failure) => {
                return Authenticate::Failed(Failure {
                    reauthentication,
                    ..failure
                });
            }
        };
        let principal = Principal::user(proven.user.clone());
        if let Some(previous) = &previous
            && previous.principal != principal
        {
            let message = format!(
                "cannot change principals during re-authentication from {} to {principal}",
                previous.principal
            );
            return Authenticate::Failed(Failure {
                mechanism: proven.mechanism,
                user: Some(proven.user),
                detail: message.clone(),
                message,
                reauthentication,
            });
        }
        let session = Session {
            principal,
            mechanism: proven.mechanism,
            expires: settings.session_lifetime.map(|lifetime| now + lifetime),
        };
        self.state = State::Authenticated(session.clone());
        Authenticate::Done {
            auth_bytes: proven.auth_bytes,
            session_lifetime: settings.session_lifetime.unwrap_or(Duration::ZERO),
            session,
            reauthentication,
        }
    }
}

/// A mechanism's exchange that ended well: who, and the bytes its last answer carries.
struct Proven {
    mechanism: SaslMechanism,
    user: String,
    auth_bytes: Vec<u8>,
}

/// PLAIN's one step: the password checked against the user's SCRAM credential.
fn plain_step(token: &[u8], lookup: Lookup<'_>) -> Result<Proven, Failure> {
    let mechanism = SaslMechanism::Plain;
    match plain::authenticate(token, |user| plain_credential(lookup, user)) {
        Ok(user) => Ok(Proven {
            mechanism,
            user,
            auth_bytes: Vec::new(),
        }),
        Err(error) => {
            let user = match &error {
                PlainError::AuthenticationFailed { user }
                | PlainError::EmptyPassword { user }
                | PlainError::AuthorizationIdMismatch { user, .. } => Some(user.clone()),
                _ => None,
            };
            let message = match error {
                // The one answer that depends on what the broker holds.
                PlainError::AuthenticationFailed { .. } => invalid_credentials(mechanism),
                ref other => format!("{}: {other}", invalid_credentials(mechanism)),
            };
            Err(Failure {
                mechanism,
                user,
                message,
                detail: error.to_string(),
                reauthentication: false,
            })
        }
    }
}

/// The credential PLAIN checks a password against: the user's SCRAM-SHA-512 one, else its
/// SCRAM-SHA-256 one (a user has one password for every mechanism).
fn plain_credential(lookup: Lookup<'_>, user: &str) -> Option<ScramCredential> {
    lookup(user, Mechanism::ScramSha512).or_else(|| lookup(user, Mechanism::ScramSha256))
}

/// Where a SCRAM token leaves the exchange.
enum ScramStep {
    /// The client-first message, answered with the server-first one.
    Answered(Box<ScramServer>, Vec<u8>),
    /// The client-final message proved the user.
    Proven(Proven),
    Failed(Failure),
}

/// SCRAM's step for `token`: the client-first message when `server` is `None` (a server is
/// set up for it, with a fresh nonce), else the client-final one.
fn scram_step(
    token: &[u8],
    scram: Mechanism,
    server: Option<Box<ScramServer>>,
    settings: &SaslSettings,
    lookup: Lookup<'_>,
    random: &mut dyn Random,
) -> ScramStep {
    let mechanism = SaslMechanism::Scram(scram);
    let failed = |error: ScramError, user: Option<String>| {
        // Only a malformed or refused message is worth telling the client about: it depends
        // on what the client sent, never on what the broker holds.
        let message = match &error {
            ScramError::Malformed { .. }
            | ScramError::WrongNonce { .. }
            | ScramError::ChannelBindingUnsupported { .. }
            | ScramError::UnsupportedExtension { .. }
            | ScramError::AuthorizationIdMismatch { .. } => {
                format!("{}: {error}", invalid_credentials(mechanism))
            }
            _ => invalid_credentials(mechanism),
        };
        ScramStep::Failed(Failure {
            mechanism,
            user,
            message,
            detail: error.to_string(),
            reauthentication: false,
        })
    };
    match server {
        None => {
            let mut server = Box::new(ScramServer::new(scram, &settings.fake_credentials, random));
            let mut named = None;
            let answered = server.client_first(token, |user| {
                named = Some(user.to_string());
                lookup(user, scram)
            });
            match answered {
                Ok(server_first) => ScramStep::Answered(server, server_first),
                Err(error) => failed(error, named),
            }
        }
        Some(mut server) => match server.client_final(token) {
            Ok((server_final, user)) => ScramStep::Proven(Proven {
                mechanism,
                user,
                auth_bytes: server_final,
            }),
            Err(error) => {
                let user = match &error {
                    ScramError::AuthenticationFailed { user } => Some(user.clone()),
                    _ => None,
                };
                failed(error, user)
            }
        },
    }
}

/// [`INVALID_CREDENTIALS`] with the mechanism, as Kafka's message names it.
fn invalid_credentials(mechanism: SaslMechanism) -> String {
    format!(
        "{INVALID_CREDENTIALS} with SASL mechanism {}",
        mechanism.name()
    )
}

/// The failed authentications of each client address lately, which slow down the next ones
/// (see the module doc). One for the broker: an address's connections land on every shard.
#[derive(Debug)]
pub(crate) struct FailedLogins {
    /// `connection_failed_authentication_delay_ms`: the first failure's delay.
    base: Duration,
    by_address: HashMap<IpAddr, Failures>,
}

/// An address's failures within [`FAILURE_MEMORY`] of each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Failures {
    count: u32,
    last: Instant,
}

impl FailedLogins {
    pub(crate) fn new(base: Duration) -> FailedLogins {
        FailedLogins {
            base,
            by_address: HashMap::new(),
        }
    }

    /// Records a failure from `address` at `now`: how long its answer waits. The base delay
    /// doubles with each failure from the address less than [`FAILURE_MEMORY`] after the one
    /// before, up to [`REPEATED_FAILURE_DELAY_MAX`] (or the base, if longer).
    pub(crate) fn failed(&mut self, address: IpAddr, now: Instant) -> Duration {
        if !self.by_address.contains_key(&address) && self.by_address.len() >= FAILED_ADDRESSES_MAX
        {
            self.forget_one(now);
        }
        let failures = self.by_address.entry(address).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(failures.last) >= FAILURE_MEMORY {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        let doublings = (failures.count - 1).min(16);
        let delay = self.base.saturating_mul(1 << doublings);
        let delay = delay.min(REPEATED_FAILURE_DELAY_MAX.max(self.base));
        self.check_invariants();
        delay
    }

    /// Makes room for one more address: every address whose failures are forgotten goes, or
    /// else the one that failed longest ago.
    fn forget_one(&mut self, now: Instant) {
        self.by_address
            .retain(|_, failures| now.saturating_duration_since(failures.last) < FAILURE_MEMORY);
        if self.by_address.len() < FAILED_ADDRESSES_MAX {
            return;
        }
        let oldest = self
            .by_address
            .iter()
            .min_by_key(|(_, failures)| failures.last)
            .map(|(address, _)| *address);
        if let Some(oldest) = oldest {
            self.by_address.remove(&oldest);
        }
    }

    fn check_invariants(&self) {
        debug_assert!(
            self.by_address.len() <= FAILED_ADDRESSES_MAX,
            "{} addresses remembered, at most {FAILED_ADDRESSES_MAX}",
            self.by_address.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use ring::rand::SystemRandom;
    use ringlog_security::scram::ScramClient;

    use super::*;

    const SHA_256: SaslMechanism = SaslMechanism::Scram(Mechanism::ScramSha256);
    const SHA_512: SaslMechanism = SaslMechanism::Scram(Mechanism::ScramSha512);

    fn settings(enabled: &[SaslMechanism], session_lifetime: Option<Duration>) -> SaslSettings {
        SaslSettings {
            enabled: enabled.to_vec(),
            session_lifetime,
            fake_credentials: FakeCredentials::new(4096, &mut SystemRandom::new()).unwrap(),
        }
    }

    /// alice's and bob's credentials for both SCRAM mechanisms (passwords `alice-secret`,
    /// `bob-secret`).
    fn users() -> BTreeMap<(String, Mechanism), ScramCredential> {
        let mut random = SystemRandom::new();
        let mut users = BTreeMap::new();
        for user in ["alice", "bob"] {
            for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
                let password = format!("{user}-secret");
                let credential =
                    ScramCredential::generate(mechanism, &password, 4096, &mut random).unwrap();
                users.insert((user.to_string(), mechanism), credential);
            }
        }
        users
    }

    /// A SCRAM login of `user` with `password` on `auth`, which expects a handshake or is
    /// authenticated with an expiring session: the last answer.
    fn scram_login(
        auth: &mut Authentication,
        settings: &SaslSettings,
        users: &BTreeMap<(String, Mechanism), ScramCredential>,
        mechanism: Mechanism,
        (user, password): (&str, &str),
        now: Instant,
    ) -> Authenticate {
        let lookup = |name: &str, m: Mechanism| users.get(&(name.to_string(), m)).cloned();
        let mut random = SystemRandom::new();
        let asked = SaslMechanism::Scram(mechanism);
        assert_eq!(auth.handshake(asked.name(), settings), Handshake::Accepted);
        let mut client = ScramClient::new(mechanism, user, password, &mut random);
        let first = auth.authenticate(&client.client_first(), settings, &lookup, &mut random, now);
        let Authenticate::Continue(server_first) = first else {
            return first;
        };
        let Ok(client_final) = client.server_first(&server_first) else {
            panic!("the client takes the server-first message");
        };
        auth.authenticate(&client_final, settings, &lookup, &mut random, now)
    }

    #[test]
    fn a_listener_without_sasl_serves_everything_to_anonymous() {
        let auth = Authentication::anonymous();
        let now = Instant::now();
        for kind in [RequestKind::ApiVersions, RequestKind::Other] {
            assert_eq!(auth.gate(kind, now), Gate::Serve);
        }
        assert_eq!(auth.principal(), Principal::anonymous());
    }

    #[test]
    fn before_authentication_only_api_versions_and_sasl_are_served() {
        let mut auth = Authentication::expecting_handshake();
        let now = Instant::now();
        assert_eq!(auth.gate(RequestKind::ApiVersions, now), Gate::Serve);
        assert_eq!(auth.gate(RequestKind::Handshake, now), Gate::Serve);
        assert!(matches!(auth.gate(RequestKind::Other, now), Gate::Close(_)));
        assert_eq!(auth.principal(), Principal::anonymous());
        // A token before a handshake closes the connection.
        let settings = settings(&[SHA_256], None);
        let answer =
            auth.authenticate(b"x", &settings, &|_, _| None, &mut SystemRandom::new(), now);
        assert!(
            matches!(answer, Authenticate::OutOfTurn { close: true, .. }),
            "{answer:?}"
        );
        assert!(matches!(
            auth.gate(RequestKind::ApiVersions, now),
            Gate::Close(_)
        ));
    }

    #[test]
    fn a_mechanism_not_enabled_is_unsupported() {
        let settings = settings(&[SHA_256, SHA_512], None);
        for name in ["PLAIN", "GSSAPI", "scram-sha-256", ""] {
            let mut auth = Authentication::expecting_handshake();
            let answer = auth.handshake(name, &settings);
            assert_eq!(
                answer,
                Handshake::Unsupported {
                    reauthentication: false
                },
                "{name}"
            );
            assert!(matches!(
                auth.gate(RequestKind::Other, Instant::now()),
                Gate::Close(_)
            ));
        }
    }

    #[test]
    fn scram_logs_in_with_either_mechanism_and_serves_the_user() {
        let settings = settings(&[SHA_256, SHA_512], None);
        let users = users();
        let now = Instant::now();
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            let mut auth = Authentication::expecting_handshake();
            let answer = scram_login(
                &mut auth,
                &settings,
                &users,
                mechanism,
                ("alice", "alice-secret"),
                now,
            );
            let Authenticate::Done {
                auth_bytes,
                session_lifetime,
                session,
                reauthentication,
            } = answer
            else {
                panic!("{answer:?}");
            };
            assert!(auth_bytes.starts_with(b"v="), "the server-final message");
            assert_eq!(session_lifetime, Duration::ZERO);
            assert!(!reauthentication);
            assert_eq!(session.principal, Principal::user("alice"));
            assert_eq!(session.mechanism, SaslMechanism::Scram(mechanism));
            assert_eq!(session.expires, None);
            assert_eq!(auth.principal(), Principal::user("alice"));
            let much_later = now + Duration::from_secs(365 * 24 * 3600);
            assert_eq!(auth.gate(RequestKind::Other, much_later), Gate::Serve);
            // No session to renew: a handshake is out of turn and the connection stays.
            let answer = auth.handshake(mechanism.name(), &settings);
            assert!(
                matches!(answer, Handshake::OutOfTurn { close: false, .. }),
                "{answer:?}"
            );
            assert_eq!(auth.gate(RequestKind::Other, now), Gate::Serve);
        }
    }

    #[test]
    fn a_wrong_password_and_an_unknown_user_fail_alike() {
        let settings = settings(&[SHA_256, SHA_512], None);
        let users = users();
        let now = Instant::now();
        let mut messages = Vec::new();
        for login in [("alice", "bob-secret"), ("mallory", "alice-secret")] {
            let mut auth = Authentication::expecting_handshake();
            let answer = scram_login(
                &mut auth,
                &settings,
                &users,
                Mechanism::ScramSha512,
                login,
                now,
            );
            let Authenticate::Failed(failure) = answer else {
                panic!("{answer:?}");
            };
            assert_eq!(failure.user.as_deref(), Some(login.0));
            assert_eq!(failure.mechanism, SHA_512);
            assert!(!failure.detail.contains(login.1), "no password in the log");
            assert!(matches!(auth.gate(RequestKind::Other, now), Gate::Close(_)));
            assert_eq!(auth.principal(), Principal::anonymous());
            messages.push(failure.message);
        }
        assert_eq!(
            messages[0],
            "authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-512"
        );
        assert_eq!(
            messages[0], messages[1],
            "nothing says whether the user exists"
        );
    }

    #[test]
    fn plain_checks_the_password_against_the_scram_credential() {
        let settings = settings(&[SaslMechanism::Plain], None);
        let users = users();
        let lookup = |name: &str, m: Mechanism| users.get(&(name.to_string(), m)).cloned();
        let now = Instant::now();
        let mut random = SystemRandom::new();
        let mut messages = Vec::new();
        for (user, password, ok) in [
            ("bob", "bob-secret", true),
            ("bob", "alice-secret", false),
            ("nobody", "bob-secret", false),
        ] {
            let mut auth = Authentication::expecting_handshake();
            assert_eq!(auth.handshake("PLAIN", &settings), Handshake::Accepted);
            let token = plain::build(user, password);
            let answer = auth.authenticate(&token, &settings, &lookup, &mut random, now);
            match answer {
                Authenticate::Done {
                    auth_bytes,
                    session,
                    ..
                } if ok => {
                    assert!(auth_bytes.is_empty());
                    assert_eq!(session.principal, Principal::user(user));
                    assert_eq!(session.mechanism, SaslMechanism::Plain);
                }
                Authenticate::Failed(failure) if !ok => {
                    assert!(!failure.detail.contains(password));
                    messages.push(failure.message);
                }
                other => panic!("{user}/{password}: {other:?}"),
            }
        }
        assert_eq!(messages[0], messages[1]);
        // A malformed message says so.
        let mut auth = Authentication::expecting_handshake();
        auth.handshake("PLAIN", &settings);
        let answer = auth.authenticate(b"no separators", &settings, &lookup, &mut random, now);
        let Authenticate::Failed(failure) = answer else {
            panic!("{answer:?}");
        };
        assert!(
            failure.message.contains("NUL-separated fields"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn a_handshake_during_the_exchange_fails_it() {
        let settings = settings(&[SHA_256], None);
        let mut auth = Authentication::expecting_handshake();
        assert_eq!(
            auth.handshake("SCRAM-SHA-256", &settings),
            Handshake::Accepted
        );
        let now = Instant::now();
        assert!(matches!(auth.gate(RequestKind::Other, now), Gate::Close(_)));
        assert!(matches!(
            auth.gate(RequestKind::ApiVersions, now),
            Gate::Close(_)
        ));
        let answer = auth.handshake("SCRAM-SHA-256", &settings);
        assert!(
            matches!(answer, Handshake::OutOfTurn { close: true, .. }),
            "{answer:?}"
        );
    }

    #[test]
    fn an_expiring_session_is_renewed_by_the_same_user_only() {
        let lifetime = Duration::from_secs(60);
        let settings = settings(&[SHA_256, SHA_512], Some(lifetime));
        let users = users();
        let start = Instant::now();
        let mut auth = Authentication::expecting_handshake();
        let login = ("alice", "alice-secret");
        let answer = scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha256,
            login,
            start,
        );
        let Authenticate::Done {
            session_lifetime,
            session,
            ..
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert_eq!(session_lifetime, lifetime);
        assert_eq!(session.expires, Some(start + lifetime));
        assert_eq!(
            auth.gate(RequestKind::Other, start + lifetime / 2),
            Gate::Serve
        );
        let expired = start + lifetime;
        assert!(matches!(
            auth.gate(RequestKind::Other, expired),
            Gate::Close(_)
        ));
        assert!(matches!(
            auth.gate(RequestKind::ApiVersions, expired),
            Gate::Close(_)
        ));
        assert_eq!(auth.gate(RequestKind::Handshake, expired), Gate::Serve);

        // Renewed, even after it expired, by the same user: a new session from then.
        let renewed = expired + Duration::from_secs(1);
        let answer = scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha256,
            login,
            renewed,
        );
        let Authenticate::Done {
            session,
            reauthentication,
            ..
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert!(reauthentication);
        assert_eq!(session.expires, Some(renewed + lifetime));
        assert_eq!(auth.gate(RequestKind::Other, renewed), Gate::Serve);

        // bob cannot take over alice's connection.
        let bob = ("bob", "bob-secret");
        let answer = scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha256,
            bob,
            renewed,
        );
        let Authenticate::Failed(failure) = answer else {
            panic!("{answer:?}");
        };
        assert!(failure.reauthentication);
        assert_eq!(
            failure.message,
            "cannot change principals during re-authentication from User:alice to User:bob"
        );
        assert!(matches!(
            auth.gate(RequestKind::Other, renewed),
            Gate::Close(_)
        ));
    }

    #[test]
    fn a_re_authentication_keeps_its_mechanism() {
        let settings = settings(&[SHA_256, SHA_512], Some(Duration::from_secs(60)));
        let users = users();
        let now = Instant::now();
        let mut auth = Authentication::expecting_handshake();
        let login = ("alice", "alice-secret");
        let answer = scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha256,
            login,
            now,
        );
        assert!(matches!(answer, Authenticate::Done { .. }), "{answer:?}");
        // The handshake is answered as any other; the first token fails.
        let answer = scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha512,
            login,
            now,
        );
        let Authenticate::Failed(failure) = answer else {
            panic!("{answer:?}");
        };
        assert!(
            failure.message.contains("keeps its mechanism"),
            "{}",
            failure.message
        );
        // While it runs, the connection is still alice's.
        let mut auth = Authentication::expecting_handshake();
        scram_login(
            &mut auth,
            &settings,
            &users,
            Mechanism::ScramSha256,
            login,
            now,
        );
        auth.handshake("SCRAM-SHA-256", &settings);
        assert_eq!(auth.principal(), Principal::user("alice"));
    }

    #[test]
    fn failures_from_one_address_wait_longer_each_time() {
        let base = Duration::from_millis(100);
        let mut failed = FailedLogins::new(base);
        let here = IpAddr::from(Ipv4Addr::new(10, 0, 0, 1));
        let there = IpAddr::from(Ipv4Addr::new(10, 0, 0, 2));
        let start = Instant::now();
        let delays: Vec<u128> = (0..8)
            .map(|i| {
                failed
                    .failed(here, start + Duration::from_secs(i))
                    .as_millis()
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // Another address starts at the base.
        assert_eq!(failed.failed(there, start), base);
        // A minute without failures and the address starts over.
        let later = start + Duration::from_secs(7) + FAILURE_MEMORY;
        assert_eq!(failed.failed(here, later), base);
        // No delay configured: none however often.
        let mut none = FailedLogins::new(Duration::ZERO);
        for _ in 0..10 {
            assert_eq!(none.failed(here, start), Duration::ZERO);
        }
        // A base above the cap is the delay.
        let mut long = FailedLogins::new(Duration::from_secs(8));
        assert_eq!(long.failed(here, start), Duration::from_secs(8));
        assert_eq!(long.failed(here, start), Duration::from_secs(8));
    }

    #[test]
    fn failed_logins_remember_a_bounded_number_of_addresses() {
        let mut failed = FailedLogins::new(Duration::from_millis(100));
        let start = Instant::now();
        for i in 0..FAILED_ADDRESSES_MAX as u32 + 10 {
            let address = IpAddr::from(Ipv4Addr::from(i));
            failed.failed(address, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(failed.by_address.len(), FAILED_ADDRESSES_MAX);
        // The oldest went first.
        assert!(
            !failed
                .by_address
                .contains_key(&IpAddr::from(Ipv4Addr::from(0)))
        );
        let newest = IpAddr::from(Ipv4Addr::from(FAILED_ADDRESSES_MAX as u32 + 9));
        assert!(failed.by_address.contains_key(&newest));
    }
}
