//! ringlog's thin binary protocol as a pure codec: encode and decode over byte slices, no IO.
//! `net/PROTOCOL.md` is the spec; the `//!` table at the top of each file is the layout of
//! what that file owns.
//!
//! - A connection carries frames (see [`frame`]): a request is `u32 length | u16 api_key |
//!   u16 api_version | u32 correlation_id | body`, a response `u32 length | u32
//!   correlation_id | body`, all big-endian. Requests may be pipelined; responses come back in
//!   request order.
//! - Every response body starts with an `i16` error code. NONE (0): the API's response body
//!   follows. Anything else: the whole request was refused, and only a string with the reason
//!   follows ([`ErrorResponse`]). That holds for every API at every version, so a broker can
//!   answer a request it cannot decode (an unknown api key or version, a malformed body) in a
//!   form the client can read without knowing what the broker speaks.
//! - Error codes are Kafka's numbers and names ([`ErrorCode`]); api keys are Kafka's numbers
//!   ([`ApiKey`]); the layouts are ringlog's own: fixed big-endian fields, no varints, no
//!   tagged fields, version 0 of each API but OffsetCommit, which has a version 1. A body
//!   whose layout depends on the version reads it from the request header's `api_version`
//!   (a response is at its request's version).
//! - Decoding never panics and never allocates more than a small multiple of the bytes it was
//!   given. Record bytes (produce requests, fetch responses) come out as [`bytes::Bytes`]
//!   slices of the frame; a fetch response can be encoded without its record bytes
//!   ([`encode_fetch_response`]) so the broker sends them from the page cache.
//!
//! | file                 | owns                                                             |
//! |----------------------|------------------------------------------------------------------|
//! | [`frame`]            | frame headers, cutting frames out of a byte stream, `max_frame_bytes` |
//! | `primitives`         | the field types (ints, strings, bytes, arrays, nullables) and their checked reader and writer |
//! | [`api_key`]          | [`ApiKey`], the versions this build speaks                        |
//! | [`error_code`]       | [`ErrorCode`], Kafka's numbers and names                         |
//! | [`api`]              | one file per API: request and response bodies                    |
//! | [`group`]            | which partition of `__consumer_offsets` holds a group's offsets   |
//! | `message`            | [`Request`], [`Response`] and the frame-level encode and decode  |
//! | [`error`](mod@error) | [`WireError`]                                                    |
//!
//! A round trip, as a client and a broker see it:
//!
//! ```
//! use bytes::BytesMut;
//! use ringlog_wire::api::metadata::{MetadataRequest, MetadataResponse};
//! use ringlog_wire::frame::{split_request_frame, split_response_frame, CorrelationId, MAX_FRAME_BYTES_DEFAULT};
//! use ringlog_wire::{decode_request, decode_response, encode_request, encode_response, Request, Response};
//!
//! // Client: encode a request.
//! let request = Request::Metadata(MetadataRequest { topics: None });
//! let mut to_broker = BytesMut::from(&encode_request(&request, 0, CorrelationId(1))?[..]);
//!
//! // Broker: cut the frame, decode it, answer under the same correlation id.
//! let (header, body) = split_request_frame(&mut to_broker, MAX_FRAME_BYTES_DEFAULT)?.unwrap();
//! assert_eq!(decode_request(&header, body)?, request);
//! let response = Response::Metadata(MetadataResponse { brokers: vec![], topics: vec![] });
//! let frame = encode_response(&response, header.api_version, header.correlation_id)?;
//!
//! // Client: cut the response frame, decode it as the answer to its Metadata v0 request.
//! let mut from_broker = BytesMut::from(&frame[..]);
//! let (correlation_id, body) = split_response_frame(&mut from_broker, MAX_FRAME_BYTES_DEFAULT)?.unwrap();
//! assert_eq!(correlation_id, CorrelationId(1));
//! assert_eq!(decode_response(request.api_key(), 0, body)?, response);
//! # Ok::<(), ringlog_wire::WireError>(())
//! ```

// The codec is plain safe Rust; unsafe belongs to the IO modules, never here.
#![forbid(unsafe_code)]

pub mod api;
pub mod api_key;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod group;
mod message;
mod primitives;

pub use api::fetch::{FetchResponseFrame, Piece, RecordsSource, encode_fetch_response};
pub use api_key::{ApiKey, SUPPORTED_APIS, VersionRange};
pub use error::WireError;
pub use error_code::ErrorCode;
pub use frame::{CorrelationId, RequestHeader};
pub use message::{
    ErrorResponse, Request, Response, decode_request, decode_response, encode_request,
    encode_response,
};
