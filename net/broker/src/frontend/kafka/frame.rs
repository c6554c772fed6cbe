//! Kafka's framing and message headers: cutting request frames out of a connection's bytes,
//! reading a request's header, and writing a response's frame and header. Big endian.
//!
//! Request frame (`RequestHeader.json`; the header version comes from the API key and
//! version, [`ApiKey::request_header_version`]):
//!
//! | field               | offset | size | type            | notes                                      |
//! |---------------------|-------:|-----:|-----------------|--------------------------------------------|
//! | size                |      0 |    4 | i32             | bytes after this field; 0 to `max_frame_bytes` |
//! | request_api_key     |      4 |    2 | i16             | [`ApiKey`]                                 |
//! | request_api_version |      6 |    2 | i16             |                                            |
//! | correlation_id      |      8 |    4 | i32             | echoed in the response                     |
//! | client_id           |     12 |  2+n | nullable string | i16 length (negative: null), UTF-8; header v1 and v2 (never compact) |
//! | tagged fields       |      - |   1+ | tagged fields   | header v2: unsigned varint count, then (tag, size, bytes) each |
//! | body                |      - |    - |                 | the request at its version                 |
//!
//! Response frame (`ResponseHeader.json`, version from [`ApiKey::response_header_version`]):
//!
//! | field          | offset | size | type          | notes                                         |
//! |----------------|-------:|-----:|---------------|-----------------------------------------------|
//! | size           |      0 |    4 | i32           | bytes after this field                        |
//! | correlation_id |      4 |    4 | i32           | the request's                                 |
//! | tagged fields  |      8 |    1 | tagged fields | header v1 only: none, a zero count            |
//! | body           | 8 or 9 |    - |               | the response at the request's version         |
//!
//! ApiVersions is answered with header v0 at every version, flexible ones too, so that a
//! client that does not know which versions the broker speaks can always read the answer
//! (KIP-511); kafka-protocol's [`ApiKey::response_header_version`] says the same.
//!
//! There is no checksum: TCP's covers transport, record batches carry their own CRC.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

/// The size field in front of every frame.
pub(crate) const SIZE_LEN: usize = 4;
const API_KEY_AT: usize = 0;
const API_VERSION_AT: usize = API_KEY_AT + 2;
const CORRELATION_ID_AT: usize = API_VERSION_AT + 2;
/// The request header's fields every version has, at the start of a frame (after its size;
/// offsets in the code count from there, 4 less than in the table).
pub(crate) const FIXED_HEAD_LEN: usize = CORRELATION_ID_AT + 4;
/// The response header's correlation id, after the size.
const RESPONSE_HEAD_V0_LEN: usize = 4;
/// Header v1 adds an empty tagged fields section: a zero count, one byte.
const RESPONSE_HEAD_V1_LEN: usize = RESPONSE_HEAD_V0_LEN + 1;

const _: () = assert!(FIXED_HEAD_LEN == 8);
// Every frame `socket_request_max_bytes` allows holds the fixed part of a request header.
const _: () = assert!(FIXED_HEAD_LEN <= crate::config::SOCKET_REQUEST_MIN_BYTES as usize);

/// Why a request frame or its header cannot be read. Each one closes the connection: after a
/// bad size the stream cannot be cut into frames, and a request whose header does not decode
/// cannot be answered in a way its client reads.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub(crate) enum FrameError {
    #[error("kafka frame of {size} bytes is over socket_request_max_bytes {max}")]
    TooLarge { size: i32, max: u32 },
    #[error("negative kafka frame size {0}")]
    NegativeSize(i32),
    #[error("request header cut short: {len} bytes, need {FIXED_HEAD_LEN}")]
    HeadCutShort { len: usize },
    #[error("client id of api key {api_key} v{api_version} does not decode: {problem}")]
    ClientId {
        api_key: i16,
        api_version: i16,
        problem: FieldError,
    },
    #[error(
        "request header tagged fields of api key {api_key} v{api_version} do not decode: {problem}"
    )]
    TaggedFields {
        api_key: i16,
        api_version: i16,
        problem: FieldError,
    },
}

/// Why one field of a request header does not decode.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum FieldError {
    #[error("needs {need} bytes, {left} left")]
    CutShort { need: usize, left: usize },
    #[error("unsigned varint longer than 5 bytes")]
    VarintTooLong,
}

/// Takes the next whole frame off the front of `received` and returns its bytes after the
/// size field, sharing `received`'s memory (no copy). `Ok(None)`, with nothing taken, until
/// the whole frame is there; an error when the size field is negative or over
/// `max_frame_bytes` (checked as soon as its 4 bytes are there, so such a frame is never
/// buffered).
pub(crate) fn split_frame(
    received: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<Bytes>, FrameError> {
    let Some(size_field) = received.get(..SIZE_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes(size_field.try_into().expect("4 bytes"));
    let Ok(len) = u32::try_from(size) else {
        return Err(FrameError::NegativeSize(size));
    };
    if len > max_frame_bytes {
        return Err(FrameError::TooLarge {
            size,
            max: max_frame_bytes,
        });
    }
    let frame_len = SIZE_LEN + len as usize;
    if received.len() < frame_len {
        return Ok(None);
    }
    let mut frame = received.split_to(frame_len).freeze();
    frame.advance(SIZE_LEN);
    Ok(Some(frame))
}

/// A request's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    /// `None` for a null client id (Kafka reads it as empty), and when it was not read.
    pub client_id: Option<String>,
    /// Whether kafka-protocol knows the API key at this version: only then was the whole
    /// header read, and the frame left at the body.
    pub known: bool,
}

/// Reads the request header at the start of `frame` (a frame from [`split_frame`]).
///
/// For an API key and version kafka-protocol knows, reads the whole header and leaves `frame`
/// at the body (`known`). For others, reads only the fixed fields and leaves `frame` after
/// them, since the header version cannot be known; except ApiVersions at a version above the
/// known ones, whose header is read as v2, as Kafka does, if it can be: the broker answers it
/// with a v0 response carrying UNSUPPORTED_VERSION and the versions it speaks (KIP-511), so
/// it must not be refused over a header that may have changed (Kafka would close the
/// connection). Errors: a frame shorter than the fixed fields, a known header that does not
/// decode.
pub(crate) fn decode_head(frame: &mut Bytes) -> Result<RequestHead, FrameError> {
    if frame.len() < FIXED_HEAD_LEN {
        return Err(FrameError::HeadCutShort { len: frame.len() });
    }
    let mut head = RequestHead {
        api_key: frame.get_i16(),
        api_version: frame.get_i16(),
        correlation_id: frame.get_i32(),
        client_id: None,
        known: false,
    };
    match header_version(head.api_key, head.api_version) {
        HeaderVersion::Known(version) => {
            head.client_id = decode_head_rest(frame, &head, version)?;
            head.known = true;
        }
        HeaderVersion::NewerApiVersions => {
            // Best effort: on failure the frame stays after the fixed fields.
            let mut rest = frame.clone();
            if let Ok(client_id) = decode_head_rest(&mut rest, &head, 2) {
                head.client_id = client_id;
                *frame = rest;
            }
        }
        HeaderVersion::Unknown => {}
    }
    Ok(head)
}

/// How a request header is read, from its API key and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderVersion {
    /// A key and version kafka-protocol knows: read at this header version.
    Known(i16),
    /// ApiVersions above the versions kafka-protocol knows (KIP-511).
    NewerApiVersions,
    /// An unknown key, or a version out of the key's range.
    Unknown,
}

fn header_version(api_key: i16, api_version: i16) -> HeaderVersion {
    let Ok(key) = ApiKey::try_from(api_key) else {
        return HeaderVersion::Unknown;
    };
    let versions = key.valid_versions();
    if (versions.min..=versions.max).contains(&api_version) {
        HeaderVersion::Known(key.request_header_version(api_version))
    } else if key == ApiKey::ApiVersions && api_version > versions.max {
        HeaderVersion::NewerApiVersions
    } else {
        HeaderVersion::Unknown
    }
}

/// Reads the header's client id and, from header v2, skips its tagged fields (the request
/// header defines none).
fn decode_head_rest(
    frame: &mut Bytes,
    head: &RequestHead,
    header_version: i16,
) -> Result<Option<String>, FrameError> {
    let client_id = decode_nullable_string(frame).map_err(|problem| FrameError::ClientId {
        api_key: head.api_key,
        api_version: head.api_version,
        problem,
    })?;
    if header_version >= 2 {
        skip_tagged_fields(frame).map_err(|problem| FrameError::TaggedFields {
            api_key: head.api_key,
            api_version: head.api_version,
            problem,
        })?;
    }
    Ok(client_id)
}

/// A nullable string: i16 length, then that many bytes. As Kafka reads it, any negative
/// length is null and bytes that are not UTF-8 are replaced, not refused.
fn decode_nullable_string(buf: &mut Bytes) -> Result<Option<String>, FieldError> {
    let len = take(buf, 2)?.get_i16();
    let Ok(len) = usize::try_from(len) else {
        return Ok(None);
    };
    let bytes = take(buf, len)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Skips a tagged fields section: an unsigned varint count, then each field's unsigned
/// varint tag and size and its bytes. Each field takes at least 2 bytes, so a huge count
/// runs out of bytes after `buf.len() / 2` rounds.
fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), FieldError> {
    let count = decode_unsigned_varint(buf)?;
    for _ in 0..count {
        let _tag = decode_unsigned_varint(buf)?;
        let size = decode_unsigned_varint(buf)?;
        take(buf, size as usize)?;
    }
    Ok(())
}

/// An unsigned varint of at most 5 bytes (a u32), 7 bits a byte, least significant first.
fn decode_unsigned_varint(buf: &mut Bytes) -> Result<u32, FieldError> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = take(buf, 1)?[0];
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FieldError::VarintTooLong)
}

/// The next `len` bytes of `buf`, taken off it; nothing is taken when fewer are left.
fn take(buf: &mut Bytes, len: usize) -> Result<Bytes, FieldError> {
    if buf.len() < len {
        return Err(FieldError::CutShort {
            need: len,
            left: buf.len(),
        });
    }
    Ok(buf.split_to(len))
}

/// A whole response frame: size, header at `api_key`'s response header version for
/// `version`, and `body` encoded at `version`. `body` is a message the broker built, so one
/// that does not encode at `version` is a bug and panics.
pub(crate) fn encode_response<M: Encodable>(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &M,
) -> Vec<u8> {
    encodes(
        try_encode_response(correlation_id, api_key, version, body),
        api_key,
        version,
    )
}

/// [`encode_response`], with a failure to encode returned rather than a panic: what the
/// frontend answers requests with, so that a response the broker built wrong fails its own
/// request, not the shard.
pub(crate) fn try_encode_response<M: Encodable>(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &M,
) -> Result<Vec<u8>, String> {
    let header_version = api_key.response_header_version(version);
    let head_len = match header_version {
        0 => RESPONSE_HEAD_V0_LEN,
        1 => RESPONSE_HEAD_V1_LEN,
        other => panic!("{api_key:?} v{version} has response header v{other}, unknown"),
    };
    let body_len = body.compute_size(version).map_err(|e| e.to_string())?;
    let size = i32::try_from(head_len + body_len)
        .map_err(|_| format!("a response of {body_len} bytes is over 2 GiB"))?;
    let mut frame = Vec::with_capacity(SIZE_LEN + head_len + body_len);
    frame.put_i32(size);
    frame.put_i32(correlation_id);
    if header_version >= 1 {
        frame.put_u8(0);
    }
    body.encode(&mut frame, version)
        .map_err(|e| e.to_string())?;
    assert_eq!(
        frame.len(),
        SIZE_LEN + head_len + body_len,
        "a {api_key:?} v{version} response encoded to another size than computed"
    );
    Ok(frame)
}

/// What an encoding step of a response the broker built gives; a failure is a bug.
fn encodes<T, E: std::fmt::Display>(result: Result<T, E>, api_key: ApiKey, version: i16) -> T {
    result.unwrap_or_else(|error| {
        panic!("a {api_key:?} v{version} response does not encode: {error}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use kafka_protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
        RequestHeader, ResponseHeader,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};

    const MAX: u32 = 1024 * 1024;

    /// A request frame, size included, as a Kafka client writes it: the header by
    /// kafka-protocol's encoder at `header_version`, then `body`.
    fn request_frame(header: &RequestHeader, header_version: i16, body: &[u8]) -> BytesMut {
        let mut encoded = Vec::new();
        header.encode(&mut encoded, header_version).unwrap();
        encoded.extend_from_slice(body);
        let mut frame = BytesMut::new();
        frame.put_i32(encoded.len() as i32);
        frame.put_slice(&encoded);
        frame
    }

    fn header(api_key: i16, api_version: i16, client_id: Option<&'static str>) -> RequestHeader {
        RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(api_version)
            .with_correlation_id(0x0102_0304)
            .with_client_id(client_id.map(StrBytes::from_static_str))
    }

    /// Splits the one frame in `received` and decodes its header.
    fn split_and_decode(received: &mut BytesMut) -> (RequestHead, Bytes) {
        let mut frame = split_frame(received, MAX).unwrap().unwrap();
        assert!(received.is_empty());
        let head = decode_head(&mut frame).unwrap();
        (head, frame)
    }

    #[test]
    fn metadata_v12_has_header_v2_and_its_body_follows() {
        assert_eq!(ApiKey::Metadata.request_header_version(12), 2);
        let request = MetadataRequest::default().with_allow_auto_topic_creation(true);
        let mut body = Vec::new();
        request.encode(&mut body, 12).unwrap();
        let header = header(3, 12, Some("ringlog-test"))
            .with_unknown_tagged_field(7, Bytes::from_static(b"skipped"));
        let (head, mut rest) = split_and_decode(&mut request_frame(&header, 2, &body));
        let expected = RequestHead {
            api_key: 3,
            api_version: 12,
            correlation_id: 0x0102_0304,
            client_id: Some("ringlog-test".to_string()),
            known: true,
        };
        assert_eq!(head, expected);
        assert_eq!(rest, body);
        assert_eq!(MetadataRequest::decode(&mut rest, 12).unwrap(), request);
    }

    #[test]
    fn produce_v3_has_header_v1_without_tagged_fields() {
        assert_eq!(ApiKey::Produce.request_header_version(3), 1);
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1500);
        let mut body = Vec::new();
        request.encode(&mut body, 3).unwrap();
        let (head, mut rest) = split_and_decode(&mut request_frame(
            &header(0, 3, Some("producer-1")),
            1,
            &body,
        ));
        assert!(head.known);
        assert_eq!(head.client_id.as_deref(), Some("producer-1"));
        assert_eq!(ProduceRequest::decode(&mut rest, 3).unwrap(), request);
        assert!(rest.is_empty());
    }

    #[test]
    fn api_versions_v3_and_v4_have_header_v2() {
        for version in [3, 4] {
            assert_eq!(ApiKey::ApiVersions.request_header_version(version), 2);
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("ringlog"))
                .with_client_software_version(StrBytes::from_static_str("0.1"));
            let mut body = Vec::new();
            request.encode(&mut body, version).unwrap();
            let (head, mut rest) = split_and_decode(&mut request_frame(
                &header(18, version, Some("c")),
                2,
                &body,
            ));
            assert!(head.known, "v{version}");
            assert_eq!(head.api_version, version);
            assert_eq!(head.client_id.as_deref(), Some("c"));
            assert_eq!(
                ApiVersionsRequest::decode(&mut rest, version).unwrap(),
                request
            );
        }
    }

    #[test]
    fn api_versions_above_the_known_versions_still_gives_its_client_id() {
        let body = b"whatever v99 holds";
        let (head, rest) = split_and_decode(&mut request_frame(
            &header(18, 99, Some("new-client")),
            2,
            body,
        ));
        let expected = RequestHead {
            api_key: 18,
            api_version: 99,
            correlation_id: 0x0102_0304,
            client_id: Some("new-client".to_string()),
            known: false,
        };
        assert_eq!(head, expected);
        assert_eq!(rest, &body[..]);
    }

    #[test]
    fn api_versions_above_the_known_versions_with_a_bad_header_is_still_answered() {
        // A client id of 100 bytes in a frame that holds 3 after the fixed fields.
        let mut received = BytesMut::new();
        received.put_i32(11);
        received.put_slice(&[0, 18, 0, 99, 0, 0, 0, 42, 0, 100, b'x']);
        let (head, rest) = split_and_decode(&mut received);
        assert_eq!(head.correlation_id, 42);
        assert_eq!(head.client_id, None);
        assert!(!head.known);
        assert_eq!(rest, &[0, 100, b'x'][..]);
    }

    #[test]
    fn an_unknown_key_or_version_reads_only_the_fixed_fields() {
        for (api_key, api_version) in [(9999, 0), (-1, 0), (1, 3), (18, -1), (3, i16::MAX)] {
            let mut received = BytesMut::new();
            received.put_i32(10);
            received.put_i16(api_key);
            received.put_i16(api_version);
            received.put_i32(7);
            received.put_slice(b"zz");
            let (head, rest) = split_and_decode(&mut received);
            assert!(!head.known, "api key {api_key} v{api_version}");
            assert_eq!((head.api_key, head.api_version), (api_key, api_version));
            assert_eq!(head.correlation_id, 7);
            assert_eq!(rest, &b"zz"[..]);
        }
    }

    #[test]
    fn a_null_client_id_is_none() {
        let (head, rest) = split_and_decode(&mut request_frame(&header(3, 1, None), 1, b"body"));
        assert!(head.known);
        assert_eq!(head.client_id, None);
        assert_eq!(rest, &b"body"[..]);
    }

    #[test]
    fn a_known_header_that_does_not_decode_is_an_error() {
        let mut frame = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 1, 0, 5, b'a', b'b']);
        let error = decode_head(&mut frame).unwrap_err();
        assert_eq!(
            error.to_string(),
            "client id of api key 3 v12 does not decode: needs 5 bytes, 2 left"
        );
        // Header v2 with a tagged field of 9 bytes and 1 there.
        let mut frame = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 1, 0, 9, 0]);
        let error = decode_head(&mut frame).unwrap_err();
        assert_eq!(
            error.to_string(),
            "request header tagged fields of api key 3 v12 do not decode: needs 9 bytes, 1 left"
        );
        let mut frame = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80]);
        assert!(matches!(
            decode_head(&mut frame),
            Err(FrameError::TaggedFields {
                problem: FieldError::CutShort { need: 1, left: 0 },
                ..
            })
        ));
        let mut frame = Bytes::from_static(&[
            0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0,
        ]);
        assert!(matches!(
            decode_head(&mut frame),
            Err(FrameError::TaggedFields {
                problem: FieldError::VarintTooLong,
                ..
            })
        ));
    }

    #[test]
    fn a_header_shorter_than_its_fixed_fields_is_an_error() {
        let mut frame = Bytes::from_static(&[0, 3, 0, 12, 0]);
        let error = decode_head(&mut frame).unwrap_err();
        assert_eq!(
            error.to_string(),
            "request header cut short: 5 bytes, need 8"
        );
    }

    #[test]
    fn a_frame_split_across_two_reads() {
        let whole = request_frame(&header(3, 12, Some("split")), 2, b"the body");
        let (first, second) = whole.split_at(6);
        let mut received = BytesMut::from(first);
        assert!(split_frame(&mut received, MAX).unwrap().is_none());
        assert_eq!(
            received.len(),
            6,
            "nothing is taken before the frame is whole"
        );
        received.put_slice(second);
        received.put_slice(&whole[..3]); // the start of the next frame
        let mut frame = split_frame(&mut received, MAX).unwrap().unwrap();
        assert_eq!(received.len(), 3);
        assert_eq!(frame.len(), whole.len() - SIZE_LEN);
        let head = decode_head(&mut frame).unwrap();
        assert_eq!(head.client_id.as_deref(), Some("split"));
        assert_eq!(frame, &b"the body"[..]);
        assert!(split_frame(&mut received, MAX).unwrap().is_none());
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_size_alone() {
        let mut received = BytesMut::new();
        received.put_i32(200_000_000);
        let error = split_frame(&mut received, 104_857_600).unwrap_err();
        assert_eq!(
            error.to_string(),
            "kafka frame of 200000000 bytes is over socket_request_max_bytes 104857600"
        );
        // At the limit is allowed.
        let mut received = BytesMut::new();
        received.put_i32(8);
        received.put_slice(&[0; 8]);
        assert_eq!(split_frame(&mut received, 8).unwrap().unwrap().len(), 8);
    }

    #[test]
    fn a_negative_frame_size_is_refused() {
        let mut received = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        let error = split_frame(&mut received, MAX).unwrap_err();
        assert_eq!(error.to_string(), "negative kafka frame size -5");
    }

    #[test]
    fn a_flexible_response_has_header_v1() {
        assert_eq!(ApiKey::Metadata.response_header_version(12), 1);
        let response = MetadataResponse::default().with_throttle_time_ms(3);
        let frame = encode_response(77, ApiKey::Metadata, 12, &response);
        let mut rest = Bytes::from(frame);
        assert_eq!(rest.get_i32() as usize, rest.len());
        let header = ResponseHeader::decode(&mut rest, 1).unwrap();
        assert_eq!(header.correlation_id, 77);
        assert!(header.unknown_tagged_fields.is_empty());
        assert_eq!(MetadataResponse::decode(&mut rest, 12).unwrap(), response);
        assert!(rest.is_empty());
    }

    #[test]
    fn api_versions_is_answered_with_header_v0_at_every_version() {
        // Kafka's generator special-cases ApiVersionsResponse to header v0 (KIP-511), flexible
        // versions (3+) included; kafka-protocol does the same.
        for version in 0..=4 {
            assert_eq!(ApiKey::ApiVersions.response_header_version(version), 0);
            let response = ApiVersionsResponse::default().with_error_code(35);
            let frame = encode_response(9, ApiKey::ApiVersions, version, &response);
            let mut rest = Bytes::from(frame);
            assert_eq!(rest.get_i32() as usize, rest.len());
            assert_eq!(rest.get_i32(), 9, "correlation id, then the body at once");
            assert_eq!(
                ApiVersionsResponse::decode(&mut rest, version).unwrap(),
                response
            );
            assert!(rest.is_empty(), "v{version}");
        }
    }

    #[test]
    fn an_inflexible_response_has_header_v0() {
        assert_eq!(ApiKey::Metadata.response_header_version(8), 0);
        let response = MetadataResponse::default().with_throttle_time_ms(3);
        let mut rest = Bytes::from(encode_response(-3, ApiKey::Metadata, 8, &response));
        assert_eq!(rest.get_i32() as usize, rest.len());
        assert_eq!(
            ResponseHeader::decode(&mut rest, 0).unwrap().correlation_id,
            -3
        );
        assert_eq!(MetadataResponse::decode(&mut rest, 8).unwrap(), response);
    }

    /// Cuts and decodes every frame of `received`, as a connection would, until one is
    /// missing bytes or an error closes it.
    fn read_all(received: &mut BytesMut, max_frame_bytes: u32) {
        while let Ok(Some(mut frame)) = split_frame(received, max_frame_bytes) {
            let frame_len = frame.len();
            if decode_head(&mut frame).is_ok() {
                assert!(frame.len() <= frame_len - FIXED_HEAD_LEN);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn split_frame_and_decode_head_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            max_frame_bytes in proptest::num::u32::ANY,
        ) {
            read_all(&mut BytesMut::from(&bytes[..]), max_frame_bytes);
        }

        #[test]
        fn decode_head_never_panics_on_known_keys(
            api_key in proptest::sample::select(vec![0i16, 1, 3, 18, 60, 9999]),
            api_version in -2i16..20,
            correlation_id in proptest::num::i32::ANY,
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let mut frame = BytesMut::new();
            frame.put_i16(api_key);
            frame.put_i16(api_version);
            frame.put_i32(correlation_id);
            frame.put_slice(&rest);
            let mut frame = frame.freeze();
            if let Ok(head) = decode_head(&mut frame) {
                proptest::prop_assert_eq!(head.correlation_id, correlation_id);
                proptest::prop_assert!(frame.len() <= rest.len());
            }
        }
    }
}
