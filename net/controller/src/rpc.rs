//! The controller APIs on the wire, pure: ringlog's frames (see [`ringlog_wire::frame`]) with
//! api keys in a controller-only range and serde_json bodies. `net/PROTOCOL.md`, "Controller
//! APIs", is the spec.
//!
//! | api key | name            | request body (JSON)              | response body after the error code (JSON) |
//! |--------:|-----------------|----------------------------------|--------------------------------------------|
//! | 1000    | Vote            | openraft `VoteRequest`           | `Result<VoteResponse, RaftError>`          |
//! | 1001    | AppendEntries   | openraft `AppendEntriesRequest`  | `Result<AppendEntriesResponse, RaftError>` |
//! | 1002    | InstallSnapshot | openraft `InstallSnapshotRequest`| `Result<InstallSnapshotResponse, RaftError<InstallSnapshotError>>` |
//! | 1003    | Submit          | [`SubmitRequest`]                | [`SubmitResponse`]                         |
//! | 1004    | FetchMetadata   | [`FetchMetadataRequest`]         | [`FetchMetadataResponse`]                  |
//!
//! A response body is an i16 error code, then: the JSON when it is NONE (0); else a string
//! (u16 length, UTF-8) saying why the request was refused whole (an unknown api key, a body
//! that does not decode, a node that is not a voter). Every API is at version 0.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::MetadataImage;
use crate::raft_types::NodeId;
use crate::state::{CommandOutcome, MetadataCommand};
use ringlog_wire::ApiKey;
use ringlog_wire::error_code::ErrorCode;
use ringlog_wire::frame::{self, CorrelationId};

pub(crate) const VOTE: ApiKey = ApiKey(1000);
pub(crate) const APPEND_ENTRIES: ApiKey = ApiKey(1001);
pub(crate) const INSTALL_SNAPSHOT: ApiKey = ApiKey(1002);
pub(crate) const SUBMIT: ApiKey = ApiKey(1003);
pub(crate) const FETCH_METADATA: ApiKey = ApiKey(1004);
pub(crate) const API_VERSION: u16 = 0;

/// The largest frame a controller sends or accepts: room for an AppendEntries of many entries
/// or a 1 MiB snapshot chunk in JSON (a byte takes up to 4). A larger AppendEntries is split
/// by openraft.
pub(crate) const FRAME_BYTES_MAX: u32 = 16 << 20;

/// The largest command, serialized, a controller takes: an entry must fit a frame alone.
pub(crate) const COMMAND_BYTES_MAX: usize = 1 << 20;

/// A command to apply, forwarded to a node that should be the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SubmitRequest {
    pub(crate) command: MetadataCommand,
    /// How long the sender waits for the answer: the receiver gives up committing after it.
    pub(crate) timeout_ms: u64,
}

/// The answer to a [`SubmitRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SubmitResponse {
    /// Committed and applied.
    Applied(CommandOutcome),
    /// This node does not lead; `leader` is the one it knows of. Nothing was proposed.
    NotLeader { leader: Option<NodeId> },
    /// Proposed or not, no answer within the timeout, or the node's Raft failed.
    Failed { reason: String },
}

/// An observer's long poll for the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FetchMetadataRequest {
    /// The offset of the image the observer has; `None` for none yet.
    pub(crate) known_offset: Option<u64>,
}

/// The answer to a [`FetchMetadataRequest`]: the image as soon as it is newer than the known
/// one, else none after the long poll's wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FetchMetadataResponse {
    pub(crate) image: Option<MetadataImage>,
    /// The leader the answering voter knows of, and its term.
    pub(crate) leader: Option<NodeId>,
    pub(crate) term: u64,
}

/// A response body as decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ResponseBody {
    /// NONE: the JSON that follows.
    Json(Bytes),
    /// The request was refused whole.
    Refused { code: ErrorCode, message: String },
}

/// The request frame of `api_key` carrying `body` as JSON.
pub(crate) fn encode_request(
    api_key: ApiKey,
    correlation_id: CorrelationId,
    body: &impl Serialize,
) -> Vec<u8> {
    let mut frame = vec![0; frame::REQUEST_HEADER_LEN];
    frame[frame::API_KEY_AT..frame::API_VERSION_AT].copy_from_slice(&api_key.0.to_be_bytes());
    frame[frame::API_VERSION_AT..frame::CORRELATION_ID_AT]
        .copy_from_slice(&API_VERSION.to_be_bytes());
    frame[frame::CORRELATION_ID_AT..frame::REQUEST_HEADER_LEN]
        .copy_from_slice(&correlation_id.0.to_be_bytes());
    serde_json::to_writer(&mut frame, body).expect("controller requests serialize");
    finish(frame)
}

/// The response frame carrying `body` as JSON under error code NONE.
pub(crate) fn encode_response(correlation_id: CorrelationId, body: &impl Serialize) -> Vec<u8> {
    let mut frame = response_frame(correlation_id, ErrorCode::NONE);
    serde_json::to_writer(&mut frame, body).expect("controller responses serialize");
    finish(frame)
}

/// The response frame refusing a request whole with `code` and why.
pub(crate) fn encode_refusal(
    correlation_id: CorrelationId,
    code: ErrorCode,
    message: &str,
) -> Vec<u8> {
    debug_assert!(!code.is_none(), "a refusal needs an error code");
    let mut frame = response_frame(correlation_id, code);
    let mut message = message.to_string();
    truncate_to_char_boundary(&mut message, STRING_LEN_MAX);
    let len = u16::try_from(message.len()).expect("cut to the string limit");
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message.as_bytes());
    finish(frame)
}

/// Decodes a response body (after the correlation id).
pub(crate) fn decode_response_body(body: Bytes) -> Result<ResponseBody, String> {
    let Some(code) = body.get(..2) else {
        return Err(format!(
            "response body of {} bytes has no error code",
            body.len()
        ));
    };
    let code = i16::from_be_bytes([code[0], code[1]]);
    if code == ErrorCode::NONE.0 {
        return Ok(ResponseBody::Json(body.slice(2..)));
    }
    let Some(len) = body.get(2..4) else {
        return Err(format!("refusal with error code {code} has no message"));
    };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let Some(message) = body.get(4..4 + len) else {
        return Err(format!(
            "refusal message of {len} bytes with {} left",
            body.len() - 4
        ));
    };
    Ok(ResponseBody::Refused {
        code: ErrorCode(code),
        message: String::from_utf8_lossy(message).into_owned(),
    })
}

/// The longest refusal message: a wire string's limit.
const STRING_LEN_MAX: usize = u16::MAX as usize - 1;

/// A response frame's header and error code, its length field still zero.
fn response_frame(correlation_id: CorrelationId, code: ErrorCode) -> Vec<u8> {
    let mut frame = vec![0; frame::RESPONSE_HEADER_LEN];
    frame[frame::RESPONSE_CORRELATION_ID_AT..frame::RESPONSE_HEADER_LEN]
        .copy_from_slice(&correlation_id.0.to_be_bytes());
    frame.extend_from_slice(&code.0.to_be_bytes());
    frame
}

/// Fills in the length field.
fn finish(mut frame: Vec<u8>) -> Vec<u8> {
    let counted = frame.len() - frame::LENGTH_PREFIX_LEN;
    let length = u32::try_from(counted).expect("controller frames are far below 4 GiB");
    frame[frame::LENGTH_AT..frame::LENGTH_PREFIX_LEN].copy_from_slice(&length.to_be_bytes());
    frame
}

fn truncate_to_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use ringlog_wire::frame::{split_request_frame, split_response_frame};

    #[test]
    fn a_request_is_a_ringlog_frame_with_a_json_body() {
        let request = FetchMetadataRequest {
            known_offset: Some(7),
        };
        let bytes = encode_request(FETCH_METADATA, CorrelationId(9), &request);
        let json = br#"{"known_offset":7}"#;
        assert_eq!(&bytes[..4], &(8 + json.len() as u32).to_be_bytes());
        assert_eq!(&bytes[4..6], &1004u16.to_be_bytes());
        assert_eq!(&bytes[6..8], &[0, 0]);
        assert_eq!(&bytes[8..12], &9u32.to_be_bytes());
        assert_eq!(&bytes[12..], json);
        let mut buf = BytesMut::from(&bytes[..]);
        let (header, body) = split_request_frame(&mut buf, FRAME_BYTES_MAX)
            .unwrap()
            .unwrap();
        assert_eq!(header.api_key, FETCH_METADATA);
        let decoded: FetchMetadataRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn responses_carry_json_or_a_refusal() {
        let answer = SubmitResponse::NotLeader { leader: Some(2) };
        let bytes = encode_response(CorrelationId(3), &answer);
        let mut buf = BytesMut::from(&bytes[..]);
        let (correlation_id, body) = split_response_frame(&mut buf, FRAME_BYTES_MAX)
            .unwrap()
            .unwrap();
        assert_eq!(correlation_id, CorrelationId(3));
        let ResponseBody::Json(json) = decode_response_body(body).unwrap() else {
            panic!("not json");
        };
        assert_eq!(
            serde_json::from_slice::<SubmitResponse>(&json).unwrap(),
            answer
        );

        let bytes = encode_refusal(CorrelationId(4), ErrorCode::INVALID_REQUEST, "bad body");
        let mut buf = BytesMut::from(&bytes[..]);
        let (_, body) = split_response_frame(&mut buf, FRAME_BYTES_MAX)
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_response_body(body).unwrap(),
            ResponseBody::Refused {
                code: ErrorCode::INVALID_REQUEST,
                message: "bad body".to_string()
            }
        );
    }

    #[test]
    fn a_truncated_response_body_is_an_error_not_a_panic() {
        assert!(decode_response_body(Bytes::from_static(&[0])).is_err());
        assert!(decode_response_body(Bytes::from_static(&[0, 42, 0, 9, b'x'])).is_err());
    }
}
