//! SaslHandshake (key 17, v1) and SaslAuthenticate (key 36, v0-2): a connection's SASL
//! authentication on a `SASL_PLAINTEXT` or `SASL_SSL` listener, served there only. The states,
//! the mechanisms and what a failure tells the client are `frontend::sasl`'s; this file turns
//! Kafka's requests into its inputs and its outcomes into Kafka's answers:
//!
//! | outcome | answer | then |
//! |---------|--------|------|
//! | handshake v0 (raw tokens would follow) | UNSUPPORTED_VERSION (35), the enabled mechanisms | closed |
//! | handshake accepted | error 0, the enabled mechanisms | the exchange: SaslAuthenticate |
//! | mechanism not enabled | UNSUPPORTED_SASL_MECHANISM (33), the enabled mechanisms | closed |
//! | handshake or token out of turn | ILLEGAL_SASL_STATE (34) with why | closed, unless on an authenticated connection |
//! | SCRAM's first message | error 0, the server-first message | SaslAuthenticate again |
//! | authenticated | error 0, SCRAM's server-final message, `session_lifetime_ms` (v1+) | served |
//! | failed | SASL_AUTHENTICATION_FAILED (58) and a message that never says whether the user exists | closed |
//!
//! Every failure's answer waits (`connection_failed_authentication_delay_ms`, longer for an
//! address that keeps failing) and the connection closes once it is written, as Kafka closes
//! it. Successes and failures are logged with the peer, the user named and the mechanism (never
//! a password, a proof or a key) and counted in `ringlog_sasl_authentications_total`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{ConnState, Head, ILLEGAL_SASL_STATE, Plan, UNSUPPORTED_VERSION, respond};
use crate::bus::Shared;
use crate::config::SaslMechanism;
use crate::frontend::sasl::{
    Authenticate, Closed, Handshake, SaslListener, log_failure, log_success, quoted,
};
use crate::metrics::SaslResult;
use crate::metrics_hooks;

/// Kafka's UNSUPPORTED_SASL_MECHANISM.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// Kafka's SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The connection's SASL listener: SaslHandshake and SaslAuthenticate are served only there.
fn listener(shared: &Shared) -> &SaslListener {
    shared
        .sasl
        .as_ref()
        .expect("the SASL APIs are served only on a SASL listener, which has its settings")
}

/// SaslHandshake: the mechanism the client asks for.
pub(super) fn handshake(
    conn: &mut ConnState,
    shared: &Shared,
    head: &Head,
    request: SaslHandshakeRequest,
) -> Plan {
    let listener = listener(shared);
    let settings = &listener.settings;
    let mechanisms = settings
        .enabled
        .iter()
        .map(|m| StrBytes::from_static_str(m.name()))
        .collect();
    let response = |error_code| {
        SaslHandshakeResponse::default()
            .with_error_code(error_code)
            .with_mechanisms(mechanisms)
    };
    let asked = request.mechanism.as_str();
    if head.version == 0 {
        // Its tokens would follow without Kafka's framing, which no client of Kafka 1.0 or
        // later sends when SaslHandshake v1 is listed.
        tracing::info!(peer = %conn.peer, "SaslHandshake v0 refused: v1 and SaslAuthenticate are served");
        return Plan::RespondAndClose {
            pieces: respond(head, &response(UNSUPPORTED_VERSION)),
            delay: Duration::ZERO,
        };
    }
    match conn.authentication.handshake(asked, settings) {
        Handshake::Accepted => {
            tracing::debug!(peer = %conn.peer, mechanism = asked, "SASL handshake");
            Plan::Respond(respond(head, &response(0)))
        }
        Handshake::Unsupported { reauthentication } => {
            tracing::info!(
                peer = %conn.peer,
                mechanism = %quoted(asked),
                reauthentication,
                enabled = ?settings.enabled.iter().map(|m| m.name()).collect::<Vec<_>>(),
                "SASL authentication failed: the mechanism asked for is not enabled"
            );
            failed(
                conn,
                listener,
                None,
                &response(UNSUPPORTED_SASL_MECHANISM),
                head,
            )
        }
        Handshake::OutOfTurn { reason, close } => {
            tracing::info!(peer = %conn.peer, close, "SaslHandshake out of turn: {reason}");
            let response = response(ILLEGAL_SASL_STATE);
            if close {
                failed(conn, listener, None, &response, head)
            } else {
                Plan::Respond(respond(head, &response))
            }
        }
    }
}

/// SaslAuthenticate: one token of the mechanism's exchange.
pub(super) fn authenticate(
    conn: &mut ConnState,
    shared: &Shared,
    head: &Head,
    request: SaslAuthenticateRequest,
) -> Plan {
    let listener = listener(shared);
    let catalog = shared.catalog();
    let credentials = &catalog.security().scram_credentials;
    let lookup = |user: &str, mechanism| credentials.get(user)?.get(&mechanism).cloned();
    let mut random = ring::rand::SystemRandom::new();
    let outcome = conn.authentication.authenticate(
        &request.auth_bytes,
        &listener.settings,
        &lookup,
        &mut random,
        Instant::now(),
    );
    let response = SaslAuthenticateResponse::default();
    match outcome {
        Authenticate::Continue(auth_bytes) => Plan::Respond(respond(
            head,
            &response.with_auth_bytes(Bytes::from(auth_bytes)),
        )),
        Authenticate::Done {
            auth_bytes,
            session_lifetime,
            session,
            reauthentication,
        } => {
            log_success(
                "kafka",
                conn.peer,
                &session,
                session_lifetime,
                reauthentication,
            );
            // v0 has no lifetime field: its clients cannot re-authenticate, and their
            // connections close when the session ends.
            let lifetime_ms = if head.version >= 1 {
                i64::try_from(session_lifetime.as_millis()).unwrap_or(i64::MAX)
            } else {
                0
            };
            let response = response
                .with_auth_bytes(Bytes::from(auth_bytes))
                .with_session_lifetime_ms(lifetime_ms);
            Plan::Respond(respond(head, &response))
        }
        Authenticate::Failed(failure) => {
            log_failure("kafka", conn.peer, &failure);
            let response = response
                .with_error_code(SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(StrBytes::from_string(failure.message)));
            failed(conn, listener, Some(failure.mechanism), &response, head)
        }
        Authenticate::OutOfTurn { reason, close } => {
            tracing::info!(peer = %conn.peer, close, "SaslAuthenticate out of turn: {reason}");
            let response = response
                .with_error_code(ILLEGAL_SASL_STATE)
                .with_error_message(Some(StrBytes::from_static_str(reason)));
            if close {
                failed(conn, listener, None, &response, head)
            } else {
                Plan::Respond(respond(head, &response))
            }
        }
    }
}

/// The answer to a failed authentication: counted, held back by the peer address's delay,
/// and the connection closed after it.
fn failed<M: kafka_protocol::protocol::Encodable>(
    conn: &ConnState,
    listener: &SaslListener,
    mechanism: Option<SaslMechanism>,
    response: &M,
    head: &Head,
) -> Plan {
    metrics_hooks::sasl_authentication(mechanism, SaslResult::Failure);
    let delay = listener.failed(conn.peer.ip());
    Plan::RespondAndClose {
        pieces: respond(head, response),
        delay,
    }
}

/// A request the connection's authentication closes it for: counted when its session
/// expired.
pub(super) fn closed(closed: Closed) {
    if closed == Closed::SessionExpired {
        metrics_hooks::sasl_expired_session();
    }
}
