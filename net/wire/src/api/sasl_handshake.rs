//! SaslHandshake (key 17): the SASL mechanism a connection of a `THIN_SASL_PLAINTEXT` or
//! `THIN_SASL_SSL` listener logs in with, Kafka's SaslHandshake v1 in the thin layout. The
//! mechanism's messages follow in SaslAuthenticate ([`super::sasl_authenticate`]). Served on a
//! SASL listener only; elsewhere it is answered UNSUPPORTED_VERSION, and ApiVersions lists it
//! only where it is served.
//!
//! Request body:
//!
//! | field     | type   | notes                                                   |
//! |-----------|--------|---------------------------------------------------------|
//! | mechanism | string | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, as Kafka spells them |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field      | type            | notes                                       |
//! |------------|-----------------|---------------------------------------------|
//! | mechanisms | array of string | the listener's enabled mechanisms, in order |
//!
//! A mechanism the listener does not offer is refused whole with UNSUPPORTED_SASL_MECHANISM
//! (its message names the enabled ones), a handshake out of turn with ILLEGAL_SASL_STATE.

use crate::api::{read_strings, write_strings};
use crate::error::WireError;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// The mechanism a client asks to log in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    pub mechanism: String,
}

/// The mechanism is enabled: the exchange begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// Every mechanism the listener offers, in the order `sasl_enabled_mechanisms` names them.
    pub mechanisms: Vec<String>,
}

impl Wire for SaslHandshakeRequest {
    const MIN_LEN: usize = STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.string("mechanism", &self.mechanism)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SaslHandshakeRequest {
            mechanism: r.string("mechanism")?,
        })
    }
}

impl Wire for SaslHandshakeResponse {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        write_strings(w, "mechanisms", &self.mechanisms)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(SaslHandshakeResponse {
            mechanisms: read_strings(r, "mechanisms")?,
        })
    }
}
