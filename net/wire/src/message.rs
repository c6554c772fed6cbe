//! [`Request`] and [`Response`]: one variant per API, and the functions that turn them into
//! whole frames and back. Dispatch on the api key happens here and nowhere else.

use bytes::Bytes;

use crate::api::alter_configs::{AlterConfigsRequest, AlterConfigsResponse};
use crate::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use crate::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::api::create_acls::{CreateAclsRequest, CreateAclsResponse};
use crate::api::create_topics::{CreateTopicsRequest, CreateTopicsResponse};
use crate::api::delete_acls::{DeleteAclsRequest, DeleteAclsResponse};
use crate::api::delete_groups::{DeleteGroupsRequest, DeleteGroupsResponse};
use crate::api::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use crate::api::describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
use crate::api::describe_configs::{DescribeConfigsRequest, DescribeConfigsResponse};
use crate::api::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use crate::api::describe_user_scram_credentials::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use crate::api::fetch::{FetchRequest, FetchResponse};
use crate::api::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use crate::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::api::join_group::{JoinGroupRequest, JoinGroupResponse};
use crate::api::leave_group::{LeaveGroupRequest, LeaveGroupResponse};
use crate::api::list_groups::{ListGroupsRequest, ListGroupsResponse};
use crate::api::list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
use crate::api::metadata::{MetadataRequest, MetadataResponse};
use crate::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use crate::api::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
use crate::api::offset_for_leader_epoch::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use crate::api::produce::{ProduceRequest, ProduceResponse};
use crate::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::api::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::api::sync_group::{SyncGroupRequest, SyncGroupResponse};
use crate::api_key::ApiKey;
use crate::error::WireError;
use crate::error::check_version;
use crate::error_code::ErrorCode;
use crate::frame::{self, CorrelationId, RequestHeader};
use crate::primitives::{Reader, Wire, Writer};

/// A request the broker refused whole, or could not decode: the body of a response whose
/// error code is not NONE (see [`crate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// Never NONE.
    pub error_code: ErrorCode,
    /// What went wrong, for people (at most 65534 bytes).
    pub message: String,
}

impl From<&WireError> for ErrorResponse {
    /// The answer to a request that [`decode_request`] refused.
    fn from(error: &WireError) -> ErrorResponse {
        ErrorResponse {
            error_code: error.error_code(),
            message: error.to_string(),
        }
    }
}

/// Declares the APIs once: the two enums, and their dispatch by api key.
macro_rules! apis {
    ($($variant:ident = $key:ident ($request:ty, $response:ty);)*) => {
        /// A request, one variant per API.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Request {
            $($variant($request),)*
        }

        /// A response, one variant per API, or the refusal of a whole request.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Response {
            $($variant($response),)*
            Error(ErrorResponse),
        }

        impl Request {
            /// The API this request belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Request::$variant(_) => ApiKey::$key,)*
                }
            }

            fn encode_body(&self, w: &mut Writer) -> Result<(), WireError> {
                match self {
                    $(Request::$variant(request) => request.encode(w),)*
                }
            }

            fn decode_body(api_key: ApiKey, r: &mut Reader) -> Result<Request, WireError> {
                match api_key {
                    $(ApiKey::$key => Ok(Request::$variant(<$request>::decode(r)?)),)*
                    ApiKey(api_key) => Err(WireError::UnsupportedApiKey { api_key }),
                }
            }
        }

        impl Response {
            /// The API this response belongs to; `None` for [`Response::Error`], which any API
            /// may get.
            pub fn api_key(&self) -> Option<ApiKey> {
                match self {
                    $(Response::$variant(_) => Some(ApiKey::$key),)*
                    Response::Error(_) => None,
                }
            }

            /// Encodes the API's body; `None` for [`Response::Error`].
            fn encode_body(&self, w: &mut Writer) -> Option<Result<(), WireError>> {
                match self {
                    $(Response::$variant(response) => Some(response.encode(w)),)*
                    Response::Error(_) => None,
                }
            }

            fn decode_body(api_key: ApiKey, r: &mut Reader) -> Result<Response, WireError> {
                match api_key {
                    $(ApiKey::$key => Ok(Response::$variant(<$response>::decode(r)?)),)*
                    ApiKey(api_key) => Err(WireError::UnsupportedApiKey { api_key }),
                }
            }
        }
    };
}

apis! {
    Produce = PRODUCE (ProduceRequest, ProduceResponse);
    Fetch = FETCH (FetchRequest, FetchResponse);
    ListOffsets = LIST_OFFSETS (ListOffsetsRequest, ListOffsetsResponse);
    Metadata = METADATA (MetadataRequest, MetadataResponse);
    OffsetCommit = OFFSET_COMMIT (OffsetCommitRequest, OffsetCommitResponse);
    OffsetFetch = OFFSET_FETCH (OffsetFetchRequest, OffsetFetchResponse);
    JoinGroup = JOIN_GROUP (JoinGroupRequest, JoinGroupResponse);
    Heartbeat = HEARTBEAT (HeartbeatRequest, HeartbeatResponse);
    LeaveGroup = LEAVE_GROUP (LeaveGroupRequest, LeaveGroupResponse);
    SyncGroup = SYNC_GROUP (SyncGroupRequest, SyncGroupResponse);
    DescribeGroups = DESCRIBE_GROUPS (DescribeGroupsRequest, DescribeGroupsResponse);
    ListGroups = LIST_GROUPS (ListGroupsRequest, ListGroupsResponse);
    SaslHandshake = SASL_HANDSHAKE (SaslHandshakeRequest, SaslHandshakeResponse);
    ApiVersions = API_VERSIONS (ApiVersionsRequest, ApiVersionsResponse);
    CreateTopics = CREATE_TOPICS (CreateTopicsRequest, CreateTopicsResponse);
    DeleteTopics = DELETE_TOPICS (DeleteTopicsRequest, DeleteTopicsResponse);
    InitProducerId = INIT_PRODUCER_ID (InitProducerIdRequest, InitProducerIdResponse);
    OffsetForLeaderEpoch = OFFSET_FOR_LEADER_EPOCH (
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse
    );
    DescribeConfigs = DESCRIBE_CONFIGS (DescribeConfigsRequest, DescribeConfigsResponse);
    AlterConfigs = ALTER_CONFIGS (AlterConfigsRequest, AlterConfigsResponse);
    SaslAuthenticate = SASL_AUTHENTICATE (SaslAuthenticateRequest, SaslAuthenticateResponse);
    DeleteGroups = DELETE_GROUPS (DeleteGroupsRequest, DeleteGroupsResponse);
    DescribeAcls = DESCRIBE_ACLS (DescribeAclsRequest, DescribeAclsResponse);
    CreateAcls = CREATE_ACLS (CreateAclsRequest, CreateAclsResponse);
    DeleteAcls = DELETE_ACLS (DeleteAclsRequest, DeleteAclsResponse);
    DescribeUserScramCredentials = DESCRIBE_USER_SCRAM_CREDENTIALS (
        DescribeUserScramCredentialsRequest,
        DescribeUserScramCredentialsResponse
    );
    AlterUserScramCredentials = ALTER_USER_SCRAM_CREDENTIALS (
        AlterUserScramCredentialsRequest,
        AlterUserScramCredentialsResponse
    );
}

/// Encodes a whole request frame at `api_version`, which must be one this build speaks.
pub fn encode_request(
    request: &Request,
    api_version: u16,
    correlation_id: CorrelationId,
) -> Result<Vec<u8>, WireError> {
    let header = RequestHeader {
        api_key: request.api_key(),
        api_version,
        correlation_id,
    };
    check_version(header.api_key, api_version)?;
    let mut w = Writer::new(api_version);
    header.encode(&mut w);
    request.encode_body(&mut w)?;
    frame::finish_frame(w.into_inner())
}

/// Decodes a request body (the frame after its header, as
/// [`split_request_frame`](frame::split_request_frame) returns it). Byte arrays in it (a
/// produce request's records) are slices of `body`, not copies.
///
/// An unknown api key or version is [`WireError::UnsupportedApiKey`] or
/// [`WireError::UnsupportedVersion`]; the broker answers every error here with
/// [`ErrorResponse::from`] and keeps the connection.
pub fn decode_request(header: &RequestHeader, body: Bytes) -> Result<Request, WireError> {
    check_version(header.api_key, header.api_version)?;
    let mut r = Reader::new(body, header.api_version);
    let request = Request::decode_body(header.api_key, &mut r)?;
    r.finish(header.api_key, header.api_version)?;
    Ok(request)
}

/// Encodes a whole response frame at `api_version` (the request's). A fetch response whose
/// records should not be copied goes through
/// [`encode_fetch_response`](crate::api::fetch::encode_fetch_response) instead.
///
/// # Panics
///
/// When a [`Response::Error`] carries NONE: a refusal must say why.
pub fn encode_response(
    response: &Response,
    api_version: u16,
    correlation_id: CorrelationId,
) -> Result<Vec<u8>, WireError> {
    let mut w = Writer::new(api_version);
    frame::encode_response_header(correlation_id, &mut w);
    match response {
        Response::Error(error) => {
            assert!(
                !error.error_code.is_none(),
                "an error response must carry an error code, not NONE"
            );
            w.error_code(error.error_code);
            w.string("error_message", &error.message)?;
        }
        _ => {
            let api_key = response.api_key().expect("only errors have no api key");
            check_version(api_key, api_version)?;
            w.error_code(ErrorCode::NONE);
            response
                .encode_body(&mut w)
                .expect("only errors have no body")?;
        }
    }
    frame::finish_frame(w.into_inner())
}

/// Decodes a response body (the frame after its correlation id) to a request of `api_key` at
/// `api_version`: the client knows both from the correlation id. Byte arrays in it (a fetch
/// response's records) are slices of `body`, not copies.
pub fn decode_response(
    api_key: ApiKey,
    api_version: u16,
    body: Bytes,
) -> Result<Response, WireError> {
    check_version(api_key, api_version)?;
    let mut r = Reader::new(body, api_version);
    let error_code = r.error_code("error_code")?;
    let response = if error_code.is_none() {
        Response::decode_body(api_key, &mut r)?
    } else {
        Response::Error(ErrorResponse {
            error_code,
            message: r.string("error_message")?,
        })
    };
    r.finish(api_key, api_version)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::metadata::MetadataRequest;
    use crate::frame::{REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN};

    fn header(api_key: ApiKey, api_version: u16) -> RequestHeader {
        RequestHeader {
            api_key,
            api_version,
            correlation_id: CorrelationId(1),
        }
    }

    #[test]
    fn metadata_request_known_answer() {
        let request = Request::Metadata(MetadataRequest {
            topics: Some(vec!["ab".to_string()]),
        });
        let frame = encode_request(&request, 0, CorrelationId(5)).unwrap();
        let expected = [
            0, 0, 0, 16, // length
            0, 3, 0, 0, 0, 0, 0, 5, // api_key 3, version 0, correlation_id 5
            0, 0, 0, 1, // topics: 1
            0, 2, b'a', b'b', // "ab"
        ];
        assert_eq!(frame, expected);
        let body = Bytes::copy_from_slice(&frame[REQUEST_HEADER_LEN..]);
        assert_eq!(
            decode_request(&header(ApiKey::METADATA, 0), body).unwrap(),
            request
        );
    }

    #[test]
    fn unknown_keys_and_versions_are_refused_with_unsupported_version() {
        let unknown = decode_request(&header(ApiKey(4), 0), Bytes::new()).unwrap_err();
        assert_eq!(unknown, WireError::UnsupportedApiKey { api_key: 4 });
        let too_new = decode_request(&header(ApiKey::FETCH, 7), Bytes::new()).unwrap_err();
        assert_eq!(
            too_new,
            WireError::UnsupportedVersion {
                api_key: ApiKey::FETCH,
                api_version: 7,
                min: 0,
                max: 0
            }
        );
        let answer = ErrorResponse::from(&too_new);
        assert_eq!(answer.error_code, ErrorCode::UNSUPPORTED_VERSION);
        assert_eq!(
            answer.message,
            "unsupported version 7 of Fetch: supported are 0 to 0"
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0]);
        let error = decode_request(&header(ApiKey::METADATA, 0), body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "1 trailing bytes after the body of Metadata v0"
        );
    }

    #[test]
    fn an_error_response_decodes_for_any_api() {
        let refusal = Response::Error(ErrorResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION,
            message: "no".to_string(),
        });
        let frame = encode_response(&refusal, 0, CorrelationId(3)).unwrap();
        assert_eq!(frame, [0, 0, 0, 10, 0, 0, 0, 3, 0, 35, 0, 2, b'n', b'o']);
        for api in crate::api_key::SUPPORTED_APIS {
            let body = Bytes::copy_from_slice(&frame[RESPONSE_HEADER_LEN..]);
            assert_eq!(
                decode_response(api.api_key, 0, body).unwrap(),
                refusal,
                "{}",
                api.name
            );
        }
    }

    #[test]
    #[should_panic(expected = "an error response must carry an error code")]
    fn an_error_response_without_an_error_is_a_bug() {
        let refusal = Response::Error(ErrorResponse {
            error_code: ErrorCode::NONE,
            message: String::new(),
        });
        let _ = encode_response(&refusal, 0, CorrelationId(3));
    }
}
