//! SaslHandshake (17) and SaslAuthenticate (36) on a `THIN_SASL_PLAINTEXT` or `THIN_SASL_SSL`
//! listener, served there only (`net/PROTOCOL.md` section 5.23). The states, the mechanisms and
//! what a failure tells the client are `frontend::sasl`'s, the same as on Kafka's SASL
//! listener; this file turns the thin requests into its inputs and its outcomes into thin
//! answers:
//!
//! | outcome | answer | then |
//! |---------|--------|------|
//! | handshake accepted | the enabled mechanisms | the exchange: SaslAuthenticate |
//! | mechanism not enabled | UNSUPPORTED_SASL_MECHANISM (33), its message listing the enabled ones | closed |
//! | handshake or message out of turn | ILLEGAL_SASL_STATE (34) with why | closed, unless on an authenticated connection |
//! | SCRAM's first message | the server-first message | SaslAuthenticate again |
//! | authenticated | SCRAM's server-final message (nothing for PLAIN), `session_lifetime_ms` | served |
//! | failed | SASL_AUTHENTICATION_FAILED (58), a message that never says whether the user exists | closed |
//!
//! A failure's answer waits (`connection_failed_authentication_delay_ms`, longer for an address
//! that keeps failing) and the connection closes once it is written. Successes and failures are
//! logged with the peer, the user named and the mechanism (never a password, a proof or a key)
//! and counted in `ringlog_sasl_authentications_total`, as on Kafka's listener.

use std::net::SocketAddr;
use std::time::Instant;

use ringlog_wire::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use ringlog_wire::api::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use ringlog_wire::{ApiKey, ErrorCode, ErrorResponse, RequestHeader, Response};

use super::encode;
use crate::bus::Shared;
use crate::config::SaslMechanism;
use crate::frontend::Step;
use crate::frontend::sasl::{
    Authenticate, Authentication, Closed, Handshake, RequestKind, SaslListener, log_failure,
    log_success, quoted,
};
use crate::metrics::SaslResult;
use crate::metrics_hooks;

/// What a thin request is to a connection's authentication, from its api key alone.
pub(super) fn request_kind(api_key: ApiKey) -> RequestKind {
    match api_key {
        ApiKey::API_VERSIONS => RequestKind::ApiVersions,
        ApiKey::SASL_HANDSHAKE => RequestKind::Handshake,
        ApiKey::SASL_AUTHENTICATE => RequestKind::Authenticate,
        _ => RequestKind::Other,
    }
}

/// A request the connection's authentication does not let be served: the connection closes
/// without an answer, as Kafka's SASL listener closes it.
#[derive(Debug, thiserror::Error)]
#[error("thin request {api_key} from {peer}: {} (the connection is {principal})", closed.reason())]
pub(super) struct Unauthenticated {
    api_key: ApiKey,
    peer: SocketAddr,
    closed: Closed,
    principal: ringlog_security::Principal,
}

impl Unauthenticated {
    /// Counts the closing (an expired session's), and says why for the shard's log line.
    pub(super) fn new(
        header: &RequestHeader,
        peer: SocketAddr,
        closed: Closed,
        authentication: &Authentication,
    ) -> Unauthenticated {
        if closed == Closed::SessionExpired {
            metrics_hooks::sasl_expired_session();
        }
        metrics_hooks::request_errors(
            metrics_hooks::thin_api(header.api_key),
            vec![ErrorCode::ILLEGAL_SASL_STATE],
        );
        Unauthenticated {
            api_key: header.api_key,
            peer,
            closed,
            principal: authentication.principal(),
        }
    }
}

/// The connection's SASL listener: a connection keeps an authentication that asks for SASL
/// only on one, and the broker made the settings for it.
fn listener(shared: &Shared) -> &SaslListener {
    shared
        .sasl
        .as_ref()
        .expect("a SASL listener's connections have the broker's SASL settings")
}

/// SaslHandshake: the mechanism the client asks for.
pub(super) fn handshake(
    shared: &Shared,
    peer: SocketAddr,
    authentication: &mut Authentication,
    header: &RequestHeader,
    request: &SaslHandshakeRequest,
) -> Step {
    let listener = listener(shared);
    let settings = &listener.settings;
    let asked = request.mechanism.as_str();
    match authentication.handshake(asked, settings) {
        Handshake::Accepted => {
            tracing::debug!(%peer, mechanism = asked, "SASL handshake (thin)");
            let mechanisms = settings.enabled.iter().map(|m| m.name().to_string());
            let response = SaslHandshakeResponse {
                mechanisms: mechanisms.collect(),
            };
            Step::Answer(encode(header, &Response::SaslHandshake(response)))
        }
        Handshake::Unsupported { reauthentication } => {
            let enabled: Vec<&str> = settings.enabled.iter().map(|m| m.name()).collect();
            let enabled = enabled.join(",");
            tracing::info!(
                %peer,
                mechanism = %quoted(asked),
                reauthentication,
                %enabled,
                "SASL authentication failed (thin): the mechanism asked for is not enabled"
            );
            let message = format!(
                "SASL mechanism {} is not enabled on this listener: it offers {enabled}",
                quoted(asked)
            );
            failed(
                peer,
                listener,
                None,
                header,
                ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                message,
            )
        }
        Handshake::OutOfTurn { reason, close } => {
            tracing::info!(%peer, close, "SaslHandshake out of turn (thin): {reason}");
            out_of_turn(peer, listener, header, reason, close)
        }
    }
}

/// SaslAuthenticate: one message of the mechanism's exchange.
pub(super) fn authenticate(
    shared: &Shared,
    peer: SocketAddr,
    authentication: &mut Authentication,
    header: &RequestHeader,
    request: &SaslAuthenticateRequest,
) -> Step {
    let listener = listener(shared);
    let catalog = shared.catalog();
    let credentials = &catalog.security().scram_credentials;
    let lookup = |user: &str, mechanism| credentials.get(user)?.get(&mechanism).cloned();
    let mut random = ring::rand::SystemRandom::new();
    let outcome = authentication.authenticate(
        &request.auth_bytes,
        &listener.settings,
        &lookup,
        &mut random,
        Instant::now(),
    );
    match outcome {
        Authenticate::Continue(auth_bytes) => {
            let response = SaslAuthenticateResponse {
                auth_bytes,
                session_lifetime: std::time::Duration::ZERO,
            };
            Step::Answer(encode(header, &Response::SaslAuthenticate(response)))
        }
        Authenticate::Done {
            auth_bytes,
            session_lifetime,
            session,
            reauthentication,
        } => {
            log_success("thin", peer, &session, session_lifetime, reauthentication);
            let response = SaslAuthenticateResponse {
                auth_bytes,
                session_lifetime,
            };
            Step::Answer(encode(header, &Response::SaslAuthenticate(response)))
        }
        Authenticate::Failed(failure) => {
            log_failure("thin", peer, &failure);
            failed(
                peer,
                listener,
                Some(failure.mechanism),
                header,
                ErrorCode::SASL_AUTHENTICATION_FAILED,
                failure.message,
            )
        }
        Authenticate::OutOfTurn { reason, close } => {
            tracing::info!(%peer, close, "SaslAuthenticate out of turn (thin): {reason}");
            out_of_turn(peer, listener, header, reason, close)
        }
    }
}

/// ILLEGAL_SASL_STATE: answered, and the connection closed after it when `close` says so.
fn out_of_turn(
    peer: SocketAddr,
    listener: &SaslListener,
    header: &RequestHeader,
    reason: &str,
    close: bool,
) -> Step {
    let code = ErrorCode::ILLEGAL_SASL_STATE;
    if close {
        return failed(peer, listener, None, header, code, reason.to_string());
    }
    let refusal = Response::Error(ErrorResponse {
        error_code: code,
        message: reason.to_string(),
    });
    Step::Answer(encode(header, &refusal))
}

/// The answer to a failed authentication: counted, held back by the peer address's delay,
/// and the connection closed after it.
fn failed(
    peer: SocketAddr,
    listener: &SaslListener,
    mechanism: Option<SaslMechanism>,
    header: &RequestHeader,
    error_code: ErrorCode,
    message: String,
) -> Step {
    metrics_hooks::sasl_authentication(mechanism, SaslResult::Failure);
    let refusal = Response::Error(ErrorResponse {
        error_code,
        message,
    });
    Step::AnswerAndClose {
        pieces: encode(header, &refusal),
        delay: listener.failed(peer.ip()),
    }
}
