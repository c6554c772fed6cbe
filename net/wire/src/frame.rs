//! Frames: how requests and responses are cut out of a connection's byte stream. Big-endian.
//!
//! Request frame:
//!
//! | field          | offset | size | type | notes                                                 |
//! |----------------|-------:|-----:|------|-------------------------------------------------------|
//! | length         |      0 |    4 | u32  | bytes after this field: 8 + body; at most `max_frame_bytes` |
//! | api_key        |      4 |    2 | u16  | [`ApiKey`]                                            |
//! | api_version    |      6 |    2 | u16  | see [`ApiKey::versions`]                              |
//! | correlation_id |      8 |    4 | u32  | chosen by the client, echoed in the response          |
//! | body           |     12 |    - |      | the API's request layout                              |
//!
//! Response frame:
//!
//! | field          | offset | size | type | notes                                                 |
//! |----------------|-------:|-----:|------|-------------------------------------------------------|
//! | length         |      0 |    4 | u32  | bytes after this field: 4 + body                      |
//! | correlation_id |      4 |    4 | u32  | the request's                                         |
//! | body           |      8 |    - |      | always starts with an i16 error code; see [`super`]   |
//!
//! There is no checksum: TCP's covers transport, and record batches carry their own CRC.
//!
//! Decoding looks at the length field as soon as its 4 bytes are there, so a frame larger
//! than `max_frame_bytes` is refused before any of it is buffered.

use bytes::{Bytes, BytesMut};

use crate::api_key::ApiKey;
use crate::error::WireError;
use crate::primitives::Writer;

pub const LENGTH_AT: usize = 0;
/// Bytes before what the length field counts: the length field itself.
pub const LENGTH_PREFIX_LEN: usize = LENGTH_AT + 4;
pub const API_KEY_AT: usize = LENGTH_PREFIX_LEN;
pub const API_VERSION_AT: usize = API_KEY_AT + 2;
pub const CORRELATION_ID_AT: usize = API_VERSION_AT + 2;
/// The request header's length; the body starts here.
pub const REQUEST_HEADER_LEN: usize = CORRELATION_ID_AT + 4;
pub const RESPONSE_CORRELATION_ID_AT: usize = LENGTH_PREFIX_LEN;
/// The response header's length; the body starts here.
pub const RESPONSE_HEADER_LEN: usize = RESPONSE_CORRELATION_ID_AT + 4;
/// The default limit on a frame's length field: 100 MiB.
pub const MAX_FRAME_BYTES_DEFAULT: u32 = 100 * 1024 * 1024;

const _: () = assert!(REQUEST_HEADER_LEN == 12);
const _: () = assert!(RESPONSE_HEADER_LEN == 8);

/// The client's tag for a request, echoed in its response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CorrelationId(pub u32);

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A request frame's header. Any api key and version decode here; [`super::decode_request`]
/// judges them, so the broker can answer an unknown one under its correlation id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: ApiKey,
    pub api_version: u16,
    pub correlation_id: CorrelationId,
}

impl RequestHeader {
    /// Decodes the header at the start of `frame` (length field included); `None` when fewer
    /// than [`REQUEST_HEADER_LEN`] bytes.
    pub fn decode(frame: &[u8]) -> Option<RequestHeader> {
        let header = frame.get(..REQUEST_HEADER_LEN)?;
        Some(RequestHeader {
            api_key: ApiKey(be_u16(header, API_KEY_AT)),
            api_version: be_u16(header, API_VERSION_AT),
            correlation_id: CorrelationId(be_u32(header, CORRELATION_ID_AT)),
        })
    }

    /// Writes the header with a zero length field; [`finish_frame`] fills it in.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(0);
        w.u16(self.api_key.0);
        w.u16(self.api_version);
        w.u32(self.correlation_id.0);
    }
}

/// Writes a response header with a zero length field; [`finish_frame`] fills it in.
pub(crate) fn encode_response_header(correlation_id: CorrelationId, w: &mut Writer) {
    w.u32(0);
    w.u32(correlation_id.0);
}

/// The value of the length field of a frame of `frame_len` bytes in all, or an error when it
/// does not fit the field.
pub(crate) fn length_field(frame_len: u64) -> Result<u32, WireError> {
    let counted = frame_len - LENGTH_PREFIX_LEN as u64;
    u32::try_from(counted).map_err(|_| WireError::TooLong {
        field: "frame",
        len: counted,
        max: u64::from(u32::MAX),
    })
}

/// Fills in the length field of a whole encoded frame.
pub(crate) fn finish_frame(mut frame: Vec<u8>) -> Result<Vec<u8>, WireError> {
    let length = length_field(frame.len() as u64)?;
    frame[LENGTH_AT..LENGTH_PREFIX_LEN].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

/// A whole request frame at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestFrame {
    pub header: RequestHeader,
    /// The frame's size in the buffer, length field included; the body is
    /// `buf[REQUEST_HEADER_LEN..frame_len]`.
    pub frame_len: usize,
}

/// A whole response frame at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFrame {
    pub correlation_id: CorrelationId,
    /// The frame's size in the buffer, length field included; the body is
    /// `buf[RESPONSE_HEADER_LEN..frame_len]`.
    pub frame_len: usize,
}

/// Finds the request frame at the start of `buf`: `Ok(None)` until all of it is there, an
/// error (the connection must close) when its length field exceeds `max_frame_bytes` or
/// cannot hold the header.
pub fn decode_request_frame(
    buf: &[u8],
    max_frame_bytes: u32,
) -> Result<Option<RequestFrame>, WireError> {
    let Some(frame_len) = whole_frame_len(buf, REQUEST_HEADER_LEN, max_frame_bytes)? else {
        return Ok(None);
    };
    let header = RequestHeader::decode(buf).expect("a whole frame holds its header");
    Ok(Some(RequestFrame { header, frame_len }))
}

/// Finds the response frame at the start of `buf`; as [`decode_request_frame`].
pub fn decode_response_frame(
    buf: &[u8],
    max_frame_bytes: u32,
) -> Result<Option<ResponseFrame>, WireError> {
    let Some(frame_len) = whole_frame_len(buf, RESPONSE_HEADER_LEN, max_frame_bytes)? else {
        return Ok(None);
    };
    let correlation_id = CorrelationId(be_u32(buf, RESPONSE_CORRELATION_ID_AT));
    Ok(Some(ResponseFrame {
        correlation_id,
        frame_len,
    }))
}

/// Takes the request frame at the start of `buf` off it, returning its header and its body
/// as a [`Bytes`] that shares `buf`'s memory (no copy); as [`decode_request_frame`].
pub fn split_request_frame(
    buf: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<(RequestHeader, Bytes)>, WireError> {
    let Some(frame) = decode_request_frame(buf, max_frame_bytes)? else {
        return Ok(None);
    };
    let body = buf
        .split_to(frame.frame_len)
        .freeze()
        .slice(REQUEST_HEADER_LEN..);
    Ok(Some((frame.header, body)))
}

/// Takes the response frame at the start of `buf` off it, returning its correlation id and its
/// body as a [`Bytes`] that shares `buf`'s memory; as [`decode_request_frame`].
pub fn split_response_frame(
    buf: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<(CorrelationId, Bytes)>, WireError> {
    let Some(frame) = decode_response_frame(buf, max_frame_bytes)? else {
        return Ok(None);
    };
    let body = buf
        .split_to(frame.frame_len)
        .freeze()
        .slice(RESPONSE_HEADER_LEN..);
    Ok(Some((frame.correlation_id, body)))
}

/// The whole frame's size when all of it is in `buf`; checks the length field first.
fn whole_frame_len(
    buf: &[u8],
    header_len: usize,
    max_frame_bytes: u32,
) -> Result<Option<usize>, WireError> {
    if buf.len() < LENGTH_PREFIX_LEN {
        return Ok(None);
    }
    let length = be_u32(buf, LENGTH_AT);
    if length > max_frame_bytes {
        return Err(WireError::FrameTooLarge {
            len: u64::from(length),
            max: max_frame_bytes,
        });
    }
    let min = (header_len - LENGTH_PREFIX_LEN) as u32;
    if length < min {
        return Err(WireError::FrameTooShort { len: length, min });
    }
    let frame_len = LENGTH_PREFIX_LEN + length as usize;
    Ok((buf.len() >= frame_len).then_some(frame_len))
}

fn be_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Metadata v0 request for all topics, built by hand from the table above:
    /// length 12 (8 header bytes + a 4-byte null array), api key 3, version 0, correlation id
    /// 0x01020304, then the body: topics = null (0xFFFF_FFFF).
    const METADATA_ALL_TOPICS: [u8; 16] = [
        0, 0, 0, 12, // length
        0, 3, // api_key
        0, 0, // api_version
        1, 2, 3, 4, // correlation_id
        0xff, 0xff, 0xff, 0xff, // body
    ];

    #[test]
    fn request_header_known_answer() {
        let frame = decode_request_frame(&METADATA_ALL_TOPICS, MAX_FRAME_BYTES_DEFAULT)
            .unwrap()
            .unwrap();
        assert_eq!(
            frame.header,
            RequestHeader {
                api_key: ApiKey::METADATA,
                api_version: 0,
                correlation_id: CorrelationId(0x0102_0304),
            }
        );
        assert_eq!(frame.frame_len, 16);
        let mut w = Writer::new(0);
        frame.header.encode(&mut w);
        w.u32(u32::MAX);
        assert_eq!(finish_frame(w.into_inner()).unwrap(), METADATA_ALL_TOPICS);
    }

    #[test]
    fn response_header_known_answer() {
        let mut w = Writer::new(0);
        encode_response_header(CorrelationId(7), &mut w);
        w.i16(0); // error code NONE
        let encoded = finish_frame(w.into_inner()).unwrap();
        assert_eq!(encoded, [0, 0, 0, 6, 0, 0, 0, 7, 0, 0]);
        let frame = decode_response_frame(&encoded, 100).unwrap().unwrap();
        assert_eq!(frame.correlation_id, CorrelationId(7));
        assert_eq!(frame.frame_len, 10);
    }

    #[test]
    fn a_partial_frame_needs_more_bytes() {
        for end in 0..METADATA_ALL_TOPICS.len() {
            let partial = &METADATA_ALL_TOPICS[..end];
            assert_eq!(decode_request_frame(partial, 1024).unwrap(), None, "{end}");
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_length_field_alone() {
        let error = decode_request_frame(&[0x10, 0, 0, 0], 1024).unwrap_err();
        assert_eq!(
            error,
            WireError::FrameTooLarge {
                len: 0x1000_0000,
                max: 1024
            }
        );
        assert!(error.closes_connection());
        assert_eq!(
            error.to_string(),
            "frame of 268435456 bytes exceeds max_frame_bytes 1024"
        );
    }

    #[test]
    fn a_frame_shorter_than_its_header_is_refused() {
        let error = decode_request_frame(&[0, 0, 0, 7], 1024).unwrap_err();
        assert_eq!(error, WireError::FrameTooShort { len: 7, min: 8 });
        let error = decode_response_frame(&[0, 0, 0, 3], 1024).unwrap_err();
        assert_eq!(error, WireError::FrameTooShort { len: 3, min: 4 });
    }

    #[test]
    fn split_takes_one_frame_and_leaves_the_next() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&METADATA_ALL_TOPICS);
        buf.extend_from_slice(&METADATA_ALL_TOPICS[..5]);
        let (header, body) = split_request_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(header.correlation_id, CorrelationId(0x0102_0304));
        assert_eq!(&body[..], &[0xff; 4]);
        assert_eq!(&buf[..], &METADATA_ALL_TOPICS[..5]);
        assert_eq!(split_request_frame(&mut buf, 1024).unwrap(), None);
    }
}
