//! [`WireError`], the crate's one error family: why bytes could not be framed, decoded or
//! encoded. Messages are lowercase, name the field and carry the numbers.
//!
//! On a broker decoding requests, an error from the framing decoder
//! ([`decode_request_frame`](super::frame::decode_request_frame)) closes the connection, since
//! the byte stream can no longer be cut into frames; an error from
//! [`decode_request`](super::decode_request) is answered with an error response carrying
//! [`WireError::error_code`], and the connection goes on. A client closes the connection on
//! any error decoding a response.

use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;

/// Why bytes could not be framed, decoded or encoded. A broken invariant is a bug and panics;
/// it is never one of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A frame's length field is larger than the receiver accepts.
    #[error("frame of {len} bytes exceeds max_frame_bytes {max}")]
    FrameTooLarge { len: u64, max: u32 },

    /// A frame's length field cannot even hold the frame header.
    #[error("frame of {len} bytes is shorter than its {min}-byte header")]
    FrameTooShort { len: u32, min: u32 },

    /// An api key this side does not speak.
    #[error("unsupported api key {api_key}")]
    UnsupportedApiKey { api_key: u16 },

    /// A known api at a version this side does not speak.
    #[error("unsupported version {api_version} of {api_key}: supported are {min} to {max}")]
    UnsupportedVersion {
        api_key: ApiKey,
        api_version: u16,
        min: u16,
        max: u16,
    },

    /// The body ends inside a field.
    #[error("{field} is truncated: needs {needed} bytes, {remaining} remaining")]
    Truncated {
        field: &'static str,
        needed: u64,
        remaining: usize,
    },

    /// An array count that the remaining bytes cannot hold, refused before allocating.
    #[error(
        "{field} has {count} elements, which need at least {needed} bytes, {remaining} remaining"
    )]
    CountTooLarge {
        field: &'static str,
        count: u32,
        needed: u64,
        remaining: usize,
    },

    /// A string is not UTF-8.
    #[error("{field} is not valid utf-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        field: &'static str,
        valid_up_to: usize,
    },

    /// A null in a field that may not be null.
    #[error("{field} is null but may not be")]
    UnexpectedNull { field: &'static str },

    /// A field holds a value outside its domain (a negative offset, a bool that is 7, ...).
    #[error("invalid {field} {value}: expected {expected}")]
    InvalidValue {
        field: &'static str,
        value: i64,
        expected: &'static str,
    },

    /// A produce request's acks is not 0, 1 or -1.
    #[error("invalid acks {acks}: expected 0, 1 or -1 (all)")]
    InvalidAcks { acks: i16 },

    /// Bytes left over after a whole body was decoded.
    #[error("{count} trailing bytes after the body of {api_key} v{api_version}")]
    TrailingBytes {
        api_key: ApiKey,
        api_version: u16,
        count: usize,
    },

    /// Encoding: a string, byte array, array or frame is longer than its length field holds.
    #[error("{field} of length {len} is too long to encode: at most {max}")]
    TooLong {
        field: &'static str,
        len: u64,
        max: u64,
    },

    /// Encoding: a field set (not to its default) in a body of a version that does not carry
    /// it; written, the receiver would never see it.
    #[error("{field} is not in version {api_version}: it needs version {since} or later")]
    NotInVersion {
        field: &'static str,
        api_version: u16,
        since: u16,
    },

    /// Encoding: a value does not fit its wire field (an offset above `i64::MAX`, a timeout
    /// above `u32::MAX` ms, a negative timestamp, ...).
    #[error("{field} {value} cannot be encoded: expected {min} to {max}")]
    OutOfRange {
        field: &'static str,
        value: i128,
        min: i128,
        max: i128,
    },
}

impl WireError {
    /// The error code a broker answers a request with when decoding it failed this way.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            WireError::UnsupportedApiKey { .. } | WireError::UnsupportedVersion { .. } => {
                ErrorCode::UNSUPPORTED_VERSION
            }
            WireError::InvalidAcks { .. } => ErrorCode::INVALID_REQUIRED_ACKS,
            WireError::FrameTooLarge { .. }
            | WireError::FrameTooShort { .. }
            | WireError::Truncated { .. }
            | WireError::CountTooLarge { .. }
            | WireError::InvalidUtf8 { .. }
            | WireError::UnexpectedNull { .. }
            | WireError::InvalidValue { .. }
            | WireError::TrailingBytes { .. } => ErrorCode::INVALID_REQUEST,
            // Only encoding fails these: the answering side's own fault.
            WireError::TooLong { .. }
            | WireError::OutOfRange { .. }
            | WireError::NotInVersion { .. } => ErrorCode::UNKNOWN_SERVER_ERROR,
        }
    }

    /// Whether a broker must close the connection rather than answer: the frame itself is
    /// unusable, so the stream cannot be cut into frames any more.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            WireError::FrameTooLarge { .. } | WireError::FrameTooShort { .. }
        )
    }
}

/// Refuses an api key or version this build does not speak.
pub(crate) fn check_version(api_key: ApiKey, api_version: u16) -> Result<(), WireError> {
    let versions = api_key
        .versions()
        .ok_or(WireError::UnsupportedApiKey { api_key: api_key.0 })?;
    if !versions.contains(api_version) {
        return Err(WireError::UnsupportedVersion {
            api_key,
            api_version,
            min: versions.min,
            max: versions.max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_carry_the_numbers() {
        let error = WireError::CountTooLarge {
            field: "topics",
            count: 4_000_000_000,
            needed: 24_000_000_000,
            remaining: 12,
        };
        assert_eq!(
            error.to_string(),
            "topics has 4000000000 elements, which need at least 24000000000 bytes, 12 remaining"
        );
        let error = WireError::UnsupportedVersion {
            api_key: ApiKey::FETCH,
            api_version: 3,
            min: 0,
            max: 0,
        };
        assert_eq!(
            error.to_string(),
            "unsupported version 3 of Fetch: supported are 0 to 0"
        );
    }

    #[test]
    fn framing_errors_close_the_connection_and_body_errors_are_answered() {
        let too_large = WireError::FrameTooLarge { len: 200, max: 100 };
        assert!(too_large.closes_connection());
        let truncated = WireError::Truncated {
            field: "fetch_offset",
            needed: 8,
            remaining: 3,
        };
        assert!(!truncated.closes_connection());
        assert_eq!(truncated.error_code(), ErrorCode::INVALID_REQUEST);
        let unsupported = WireError::UnsupportedApiKey { api_key: 999 };
        assert!(!unsupported.closes_connection());
        assert_eq!(unsupported.error_code(), ErrorCode::UNSUPPORTED_VERSION);
        assert_eq!(
            WireError::InvalidAcks { acks: 5 }.error_code(),
            ErrorCode::INVALID_REQUIRED_ACKS
        );
    }
}
