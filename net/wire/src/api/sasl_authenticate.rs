//! SaslAuthenticate (key 36): one message of the SASL exchange the handshake chose
//! ([`super::sasl_handshake`]), Kafka's SaslAuthenticate v2 in the thin layout. PLAIN takes
//! one (the client's message, answered with no bytes); SCRAM two (client-first answered with
//! server-first, client-final answered with server-final). The last answer carries the
//! session's lifetime: the client logs in again on the same connection before it ends
//! (KIP-368), or its next request after it closes the connection.
//!
//! Request body:
//!
//! | field      | type  | notes                                        |
//! |------------|-------|----------------------------------------------|
//! | auth_bytes | bytes | the mechanism's next client message          |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field               | type  | notes                                                      |
//! |---------------------|-------|------------------------------------------------------------|
//! | auth_bytes          | bytes | the mechanism's server message (empty for PLAIN)           |
//! | session_lifetime_ms | u32   | once authenticated: how long the login lasts; 0 while the exchange goes on and when sessions do not expire |
//!
//! A failed login is refused whole with SASL_AUTHENTICATION_FAILED and a message that never
//! says whether the user exists; a message out of turn with ILLEGAL_SASL_STATE. Either closes
//! the connection once the answer is written (an ILLEGAL_SASL_STATE on an authenticated
//! connection does not).
//!
//! The bytes may hold a password (PLAIN's message): the types' `Debug` shows their length only.

use std::fmt;
use std::time::Duration;

use crate::error::WireError;
use crate::primitives::{Reader, Wire, Writer};

/// The length field of a byte array.
const BYTES_MIN_LEN: usize = 4;

/// One client message of the exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    pub auth_bytes: Vec<u8>,
}

/// The server's answer to one message.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    pub auth_bytes: Vec<u8>,
    /// Zero: the session does not expire, or the exchange is not over yet.
    pub session_lifetime: Duration,
}

impl fmt::Debug for SaslAuthenticateRequest {
    /// The bytes are left out: PLAIN's hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticateRequest")
            .field("auth_bytes_len", &self.auth_bytes.len())
            .finish()
    }
}

impl fmt::Debug for SaslAuthenticateResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticateResponse")
            .field("auth_bytes_len", &self.auth_bytes.len())
            .field("session_lifetime", &self.session_lifetime)
            .finish()
    }
}

impl Wire for SaslAuthenticateRequest {
    const MIN_LEN: usize = BYTES_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.bytes("auth_bytes", &self.auth_bytes)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SaslAuthenticateRequest {
            auth_bytes: r.bytes("auth_bytes")?.to_vec(),
        })
    }
}

impl Wire for SaslAuthenticateResponse {
    const MIN_LEN: usize = BYTES_MIN_LEN + 4;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.bytes("auth_bytes", &self.auth_bytes)?;
        w.duration_ms("session_lifetime_ms", self.session_lifetime)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SaslAuthenticateResponse {
            auth_bytes: r.bytes("auth_bytes")?.to_vec(),
            session_lifetime: r.duration_ms("session_lifetime_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CorrelationId, REQUEST_HEADER_LEN, RequestHeader};
    use crate::{ApiKey, Request, decode_request, encode_request};
    use bytes::Bytes;

    #[test]
    fn debug_never_shows_the_bytes() {
        let request = SaslAuthenticateRequest {
            auth_bytes: b"\0alice\0alice-secret".to_vec(),
        };
        let shown = format!("{:?}", Request::SaslAuthenticate(request));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("auth_bytes_len: 19"), "{shown}");
    }

    #[test]
    fn the_layout_is_a_length_then_the_bytes() {
        let request = Request::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: b"n,,n=a".to_vec(),
        });
        let frame = encode_request(&request, 0, CorrelationId(7)).unwrap();
        assert_eq!(&frame[REQUEST_HEADER_LEN..], b"\0\0\0\x06n,,n=a");
        let header = RequestHeader {
            api_key: ApiKey::SASL_AUTHENTICATE,
            api_version: 0,
            correlation_id: CorrelationId(7),
        };
        // A length past the body, and a null, are refused.
        for body in [&b"\0\0\0\x07n,,n=a"[..], &b"\xff\xff\xff\xff"[..]] {
            let error = decode_request(&header, Bytes::copy_from_slice(body)).unwrap_err();
            assert_eq!(
                error.error_code(),
                crate::ErrorCode::INVALID_REQUEST,
                "{error}"
            );
        }
    }
}
