//! Apache Kafka's wire protocol, for every Kafka client and tool: the frontend of the Kafka
//! listener. Message layouts are not written here: requests decode and responses encode with
//! `kafka-protocol`, generated from Kafka's own message schemas, except the Fetch response,
//! which is encoded around record bytes sent from segment files with `sendfile`
//! ([`fetch_response`]). Produce's records stay the frame's bytes (`Bytes` slices of it).
//!
//! | file                 | owns                                                          |
//! |----------------------|---------------------------------------------------------------|
//! | (here)               | reading a request, the APIs served and their versions ([`SERVED`]), dispatch, answers as frames |
//! | [`frame`]            | the `i32 size` framing, request and response headers           |
//! | [`fetch_response`]   | the Fetch response's hand-written encoding around record chunks |
//! | `produce`            | Produce: parts, acks, the response                             |
//! | `topics`             | topics as requests name them: by name, or by id (Produce and Fetch v13) |
//! | `fetch`              | Fetch: parts, long poll, the response pieces                   |
//! | `fetch_session`      | fetch sessions (KIP-227), one per connection: the rules, pure    |
//! | `metadata`           | ApiVersions, Metadata, DescribeCluster, FindCoordinator: answers from the catalog |
//! | `offsets`            | ListOffsets, OffsetCommit, OffsetFetch                         |
//! | `admin`              | CreateTopics, CreatePartitions, DeleteTopics, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs |
//! | `leader_epoch`       | OffsetForLeaderEpoch: where a leader epoch ends on the leader   |
//! | `delete_records`     | DeleteRecords: moving log start offsets forward                |
//! | `producer_id`        | InitProducerId: idempotent producers' ids (transactional ids refused) |
//! | `scram`              | DescribeUserScramCredentials, AlterUserScramCredentials: users' SCRAM credentials |
//! | `acls`               | CreateAcls, DescribeAcls, DeleteAcls: the ACL bindings           |
//! | `sasl`               | SaslHandshake, SaslAuthenticate: a connection's SASL authentication (`frontend::sasl` runs it) |
//!
//! A request's steps: [`read_request`] cuts the frame, reads the header, decodes the body at
//! its version and plans it (answered at once, an admin operation, or partition parts);
//! [`finish`] and [`finish_admin`] answer from the results.
//!
//! A request Kafka's protocol cannot answer closes the connection, as Kafka does: an API or
//! version not served on the connection's listener ([`SERVED`], and [`SASL_SERVED`] on a SASL
//! listener: an error response would need the API's layout at a version the broker does not
//! speak; clients pick versions from ApiVersions, which lists only what is served there), or a
//! body that does not decode at its version. ApiVersions itself, at a version the broker does
//! not know, is answered UNSUPPORTED_VERSION in a v0 response listing what is served (KIP-511),
//! so the client can pick a version.
//!
//! On a SASL listener a request is served only as the connection's authentication allows
//! ([`sasl::Authentication::gate`](crate::frontend::sasl::Authentication::gate), asked before
//! the body is decoded): before authentication, during the exchange, and after the session
//! expired, any request but ApiVersions (before the handshake), SaslHandshake and
//! SaslAuthenticate closes the connection, as Kafka closes it.
//!
//! With `authorizer_enabled` each request is checked against the ACLs as Kafka checks it
//! ([`crate::frontend::access`]): every handler is given the request's [`Access`] and asks it
//! about each topic, group or the cluster it touches, and answers a denial with Kafka's
//! TOPIC_, GROUP_ or CLUSTER_AUTHORIZATION_FAILED where the response puts that resource's
//! error. ApiVersions, SaslHandshake and SaslAuthenticate need no permission.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::access::Access;
use super::sasl::{Authentication, Gate, RequestKind};
use super::{Pending as AnyPending, Read, Step, Unframeable};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::ops::{AdminOp, AdminOutcome, PartOp, PartResult};
use ringlog_replication::{KafkaError, TopicPartition};

mod acls;
mod admin;
mod delete_records;
mod fetch;
pub(crate) mod fetch_response;
mod fetch_session;
pub(crate) mod frame;
mod groups;
mod leader_epoch;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod sasl;
mod scram;
mod topics;

use frame::RequestHead;

/// The APIs the Kafka listener answers, and the versions of each: what ApiVersions lists.
/// Every version here is implemented whole; the upper bounds stop where a version needs
/// what ringlog does not have yet (Fetch v17's replica directories, batched groups in
/// OffsetFetch v8, ...), or at the newest version `kafka-protocol` knows (ListOffsets v10,
/// DeleteRecords v2, OffsetForLeaderEpoch v4, whose v0 and v1 Kafka 4 removed, InitProducerId
/// v5; the ACL APIs at v3, their SCRAM credential ones at v0). A SASL listener serves
/// [`SASL_SERVED`] too.
pub(crate) const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 2, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
];

/// What a SASL listener (`SASL_PLAINTEXT`, `SASL_SSL`) serves besides [`SERVED`], and only
/// it: ApiVersions lists them there and nowhere else. SaslHandshake v1 carries the tokens in
/// SaslAuthenticate; after a v0 handshake they would come unframed, which ringlog does not
/// read: a v0 handshake is answered UNSUPPORTED_VERSION and the connection closed (see
/// `sasl::handshake`). v0 is listed all the same, because older librdkafka (2.0.2, Debian
/// 12's, under kcat) tries SASL only with a broker listing SaslHandshake v0 (its
/// "SaslHandshake" feature), then uses v1 with SaslAuthenticate; librdkafka 2.16 needs no v0.
/// SaslAuthenticate v1+ carries the session's lifetime (KIP-368).
pub(crate) const SASL_SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The versions of `api` served on a listener (with SASL or without), if it is.
fn served(api_key: i16, sasl: bool) -> Option<(ApiKey, i16, i16)> {
    let sasl_served = if sasl { SASL_SERVED } else { &[] };
    SERVED
        .iter()
        .chain(sasl_served)
        .copied()
        .find(|(api, _, _)| *api as i16 == api_key)
}

/// What the frontend keeps of a connection between requests: its fetch session, its client's
/// address (a group member's host, as DescribeGroups shows it), and who it is.
#[derive(Debug)]
pub(crate) struct ConnState {
    fetch_session: Option<fetch_session::FetchSession>,
    peer: SocketAddr,
    authentication: Authentication,
}

impl ConnState {
    pub(crate) fn new(peer: SocketAddr, authentication: Authentication) -> ConnState {
        ConnState {
            fetch_session: None,
            peer,
            authentication,
        }
    }

    pub(crate) fn authentication(&mut self) -> &mut Authentication {
        &mut self.authentication
    }
}

/// The header of a request being answered: which API, at which version, for which request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
}

/// What the frontend keeps of a request until its answer goes out.
#[derive(Debug)]
pub(crate) struct Pending {
    head: Head,
    request: Planned,
    started: Instant,
}

impl Pending {
    /// Whether the request is a fetch: a later fetch on its connection ends its wait.
    pub(crate) fn is_fetch(&self) -> bool {
        matches!(self.request, Planned::Fetch(_))
    }
}

/// What a request with partition parts or an admin operation needs for its answer.
#[derive(Debug)]
enum Planned {
    Produce(produce::Planned),
    Fetch(fetch::Planned),
    ListOffsets(offsets::ListPlanned),
    OffsetCommit(offsets::CommitPlanned),
    OffsetFetch(offsets::FetchPlanned),
    OffsetForLeaderEpoch(leader_epoch::Planned),
    DeleteRecords(delete_records::Planned),
    Group(groups::Planned),
    Admin(admin::Planned),
    ProducerId,
    Scram,
    Acls(acls::Planned),
}

/// How a request is answered.
enum Plan {
    /// At once: this response frame (or nothing, for acks=0).
    Respond(Vec<OutPiece>),
    /// By the agent, through the controller quorum.
    Admin(AdminOp, Planned),
    /// At once with this response frame, then the connection closes once `delay` has passed
    /// and the frame is written (a failed authentication).
    RespondAndClose {
        pieces: Vec<OutPiece>,
        delay: std::time::Duration,
    },
    /// By its partitions' owners.
    Parts {
        planned: Planned,
        parts: Vec<(TopicPartition, PartOp)>,
        min_bytes: u64,
    },
}

/// Cuts the next request out of `received` and decides what to do with it. `Ok(None)` until
/// a whole frame is there.
pub(crate) fn read_request(
    conn: &mut ConnState,
    shared: &Shared,
    received: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<Read>, Unframeable> {
    let Some(mut frame) = frame::split_frame(received, max_frame_bytes)? else {
        return Ok(None);
    };
    let bytes = frame.len() + 4;
    let started = Instant::now();
    let head = frame::decode_head(&mut frame)?;
    tracing::trace!(
        api_key = head.api_key,
        version = head.api_version,
        correlation_id = head.correlation_id,
        client = head.client_id.as_deref().unwrap_or(""),
        principal = %conn.authentication.principal(),
        "kafka request"
    );
    let step = match plan(conn, shared, &head, frame) {
        Ok((head, Plan::Respond(pieces))) => {
            request_done(head.api, started);
            Step::Answer(pieces)
        }
        Ok((head, Plan::RespondAndClose { pieces, delay })) => {
            request_done(head.api, started);
            Step::AnswerAndClose { pieces, delay }
        }
        Ok((head, Plan::Admin(op, planned))) => {
            let pending = Pending {
                head,
                request: planned,
                started,
            };
            Step::Admin(AnyPending::Kafka(pending), op)
        }
        Ok((
            head,
            Plan::Parts {
                planned,
                parts,
                min_bytes,
            },
        )) => Step::Parts {
            pending: AnyPending::Kafka(Pending {
                head,
                request: planned,
                started,
            }),
            parts,
            min_bytes,
        },
        Err(Refused::Answer(pieces)) => Step::Answer(pieces),
        Err(Refused::Close(why)) => {
            let api = ApiKey::try_from(head.api_key).map_or("unknown", api_label);
            crate::metrics_hooks::request_errors(api, vec![wire_error(why.code)]);
            return Err(why.into());
        }
    };
    Ok(Some(Read { bytes, step }))
}

/// A request refused whole.
enum Refused {
    /// With this answer.
    Answer(Vec<OutPiece>),
    /// By closing the connection, for this reason.
    Close(Unanswerable),
}

/// Why a request closes its connection.
#[derive(Debug, thiserror::Error)]
#[error("kafka request api key {api_key} v{version} from client {client:?}: {reason}")]
struct Unanswerable {
    api_key: i16,
    version: i16,
    client: String,
    reason: String,
    /// The error code counted for it.
    code: i16,
}

impl Unanswerable {
    fn refuse(head: &RequestHead, code: i16, reason: String) -> Refused {
        Refused::Close(Unanswerable {
            api_key: head.api_key,
            version: head.api_version,
            client: head.client_id.clone().unwrap_or_default(),
            reason,
            code,
        })
    }
}

/// Decodes the body of a request of a served API and version and plans it.
fn plan(
    conn: &mut ConnState,
    shared: &Shared,
    head: &RequestHead,
    mut body: Bytes,
) -> Result<(Head, Plan), Refused> {
    let sasl_listener = conn.authentication.is_sasl();
    let Some((api, min, max)) = served(head.api_key, sasl_listener) else {
        let reason = "the api is not served (ApiVersions lists those that are)".to_string();
        return Err(Unanswerable::refuse(head, UNSUPPORTED_VERSION, reason));
    };
    let version = head.api_version;
    if api == ApiKey::ApiVersions && (version > max || !head.known) {
        // KIP-511: a version this broker does not know still gets the versions it serves, in
        // a v0 response, so the client can pick one.
        let response = metadata::api_versions(UNSUPPORTED_VERSION, sasl_listener);
        let frame = frame::encode_response(head.correlation_id, api, 0, &response);
        return Err(Refused::Answer(vec![OutPiece::Bytes(frame)]));
    }
    if version < min || version > max || !head.known {
        let reason = format!("the version is not served ({api:?} is served at v{min} to v{max})");
        return Err(Unanswerable::refuse(head, UNSUPPORTED_VERSION, reason));
    }
    if let Gate::Close(closed) = conn.authentication.gate(request_kind(api), Instant::now()) {
        sasl::closed(closed);
        let principal = conn.authentication.principal();
        let reason = format!(
            "closed: {} (the connection is {principal})",
            closed.reason()
        );
        return Err(Unanswerable::refuse(head, ILLEGAL_SASL_STATE, reason));
    }
    let raw = head;
    let head = Head {
        api,
        version,
        correlation_id: raw.correlation_id,
    };
    let access = Access::new(shared, || conn.authentication.principal(), conn.peer.ip());
    let access = &access;
    let plan = match api {
        ApiKey::ApiVersions => {
            let response = metadata::api_versions(0, sasl_listener);
            Plan::Respond(respond(&head, &response))
        }
        ApiKey::SaslHandshake => {
            let request = decode_body(raw, &head, &mut body)?;
            sasl::handshake(conn, shared, &head, request)
        }
        ApiKey::SaslAuthenticate => {
            let request = decode_body(raw, &head, &mut body)?;
            sasl::authenticate(conn, shared, &head, request)
        }
        ApiKey::Metadata => Plan::Respond(metadata::answer(
            shared,
            access,
            &head,
            decode_body(raw, &head, &mut body)?,
        )),
        ApiKey::DescribeCluster => {
            let request = decode_body(raw, &head, &mut body)?;
            Plan::Respond(metadata::describe_cluster(shared, access, &head, request))
        }
        ApiKey::FindCoordinator => Plan::Respond(metadata::find_coordinator(
            shared,
            access,
            &head,
            decode_body(raw, &head, &mut body)?,
        )),
        ApiKey::Produce => {
            produce::plan(shared, access, &head, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::Fetch => {
            let request = decode_body(raw, &head, &mut body)?;
            fetch::plan(shared, access, &head, request, &mut conn.fetch_session)
        }
        ApiKey::ListOffsets => offsets::plan_list(access, decode_body(raw, &head, &mut body)?),
        ApiKey::OffsetCommit => {
            offsets::plan_commit(shared, access, &head, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::OffsetFetch => {
            offsets::plan_fetch(access, &head, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::OffsetForLeaderEpoch => {
            leader_epoch::plan(access, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::InitProducerId => {
            let client_id = raw.client_id.as_deref().unwrap_or("");
            producer_id::plan(
                access,
                &head,
                client_id,
                decode_body(raw, &head, &mut body)?,
            )
        }
        ApiKey::DeleteRecords => delete_records::plan(
            access,
            decode_body(raw, &head, &mut body)?,
            shared.options.config.request_timeout,
        ),
        ApiKey::CreateTopics => admin::plan_create(access, decode_body(raw, &head, &mut body)?),
        ApiKey::DeleteTopics => admin::plan_delete(access, decode_body(raw, &head, &mut body)?),
        ApiKey::CreatePartitions => {
            admin::plan_create_partitions(access, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::DescribeConfigs => Plan::Respond(admin::describe_configs(
            shared,
            access,
            &head,
            decode_body(raw, &head, &mut body)?,
        )),
        ApiKey::AlterConfigs => {
            admin::plan_alter(shared, access, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::IncrementalAlterConfigs => {
            admin::plan_incremental(shared, access, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::JoinGroup => {
            let client_id = raw.client_id.as_deref().unwrap_or("");
            let request: JoinGroupRequest = decode_body(raw, &head, &mut body)?;
            match groups::readable(access, &head, &request.group_id, &request.member_id) {
                Ok(()) => groups::plan_join(&head, client_id, conn.peer, request),
                Err(refused) => Plan::Respond(refused),
            }
        }
        ApiKey::SyncGroup => {
            let request: SyncGroupRequest = decode_body(raw, &head, &mut body)?;
            match groups::readable(access, &head, &request.group_id, &request.member_id) {
                Ok(()) => groups::plan_sync(request),
                Err(refused) => Plan::Respond(refused),
            }
        }
        ApiKey::Heartbeat => {
            let request: HeartbeatRequest = decode_body(raw, &head, &mut body)?;
            match groups::readable(access, &head, &request.group_id, &request.member_id) {
                Ok(()) => groups::plan_heartbeat(request),
                Err(refused) => Plan::Respond(refused),
            }
        }
        ApiKey::LeaveGroup => {
            let request: LeaveGroupRequest = decode_body(raw, &head, &mut body)?;
            match groups::readable(access, &head, &request.group_id, &request.member_id) {
                Ok(()) => groups::plan_leave(&head, request),
                Err(refused) => Plan::Respond(refused),
            }
        }
        ApiKey::DescribeGroups => {
            groups::plan_describe(access, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::ListGroups => groups::plan_list(access, decode_body(raw, &head, &mut body)?),
        ApiKey::DeleteGroups => groups::plan_delete(access, decode_body(raw, &head, &mut body)?),
        ApiKey::OffsetDelete => {
            groups::plan_offset_delete(access, &head, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::DescribeUserScramCredentials => {
            let request = decode_body(raw, &head, &mut body)?;
            Plan::Respond(scram::describe(shared, access, &head, request))
        }
        ApiKey::AlterUserScramCredentials => {
            scram::plan_alter(access, &head, decode_body(raw, &head, &mut body)?)
        }
        ApiKey::DescribeAcls => {
            let request = decode_body(raw, &head, &mut body)?;
            Plan::Respond(acls::describe(shared, access, &head, request))
        }
        ApiKey::CreateAcls => acls::plan_create(access, &head, decode_body(raw, &head, &mut body)?),
        ApiKey::DeleteAcls => acls::plan_delete(access, &head, decode_body(raw, &head, &mut body)?),
        other => unreachable!("{other:?} is in SERVED but not planned"),
    };
    Ok((head, plan))
}

/// The body of a request at its version, decoded. Bytes after it are left alone, as Kafka
/// leaves them: librdkafka 2 sends three zero bytes after a Metadata v12 body, and Kafka's
/// clients are what this listener must take.
fn decode_body<M: Decodable>(
    raw: &RequestHead,
    head: &Head,
    body: &mut Bytes,
) -> Result<M, Refused> {
    M::decode(body, head.version).map_err(|error| {
        let reason = format!("the body does not decode: {error:#}");
        Unanswerable::refuse(raw, INVALID_REQUEST, reason)
    })
}

/// The answer to a request whose parts all answered, in part order.
pub(crate) fn finish(pending: Pending, results: Vec<PartResult>) -> Vec<OutPiece> {
    let head = pending.head;
    let pieces = match pending.request {
        Planned::Produce(planned) => produce::finish(&head, planned, results),
        Planned::Fetch(planned) => fetch::finish(&head, planned, results),
        Planned::ListOffsets(planned) => offsets::finish_list(&head, planned, results),
        Planned::OffsetCommit(planned) => offsets::finish_commit(&head, planned, results),
        Planned::OffsetFetch(planned) => offsets::finish_fetch(&head, planned, results),
        Planned::OffsetForLeaderEpoch(planned) => leader_epoch::finish(&head, planned, results),
        Planned::DeleteRecords(planned) => delete_records::finish(&head, planned, results),
        Planned::Group(planned) => groups::finish(&head, planned, results),
        Planned::Admin(_) | Planned::ProducerId | Planned::Scram | Planned::Acls(_) => {
            unreachable!("an admin request has no parts")
        }
    };
    request_done(head.api, pending.started);
    pieces
}

/// The answer to an admin request from its operation's outcome.
pub(crate) fn finish_admin(pending: Pending, outcome: AdminOutcome) -> Vec<OutPiece> {
    let pieces = match pending.request {
        Planned::Admin(planned) => admin::finish(&pending.head, planned, outcome),
        Planned::ProducerId => producer_id::finish(&pending.head, outcome),
        Planned::Scram => scram::finish_alter(&pending.head, outcome),
        Planned::Acls(planned) => acls::finish(&pending.head, planned, outcome),
        _ => unreachable!("only an admin request has an admin outcome"),
    };
    request_done(pending.head.api, pending.started);
    pieces
}

/// What a request is to a connection's authentication.
fn request_kind(api: ApiKey) -> RequestKind {
    match api {
        ApiKey::ApiVersions => RequestKind::ApiVersions,
        ApiKey::SaslHandshake => RequestKind::Handshake,
        ApiKey::SaslAuthenticate => RequestKind::Authenticate,
        _ => RequestKind::Other,
    }
}

/// Kafka's TOPIC_AUTHORIZATION_FAILED.
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// Kafka's GROUP_AUTHORIZATION_FAILED.
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// Kafka's CLUSTER_AUTHORIZATION_FAILED.
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// Kafka's ILLEGAL_SASL_STATE.
const ILLEGAL_SASL_STATE: i16 = 34;
/// Kafka's UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;

/// The error code of `error`, 0 for none.
fn code(error: Option<KafkaError>) -> i16 {
    error.map_or(0, KafkaError::code)
}

/// A whole response as one frame.
/// One that cannot be encoded (a response the broker built wrong for its version: a bug) is
/// logged and counted as UNKNOWN_SERVER_ERROR, and the request is answered by nothing: its
/// client times out and retries, and the shard and its other connections go on.
fn respond<M: Encodable>(head: &Head, body: &M) -> Vec<OutPiece> {
    match frame::try_encode_response(head.correlation_id, head.api, head.version, body) {
        Ok(frame) => vec![OutPiece::Bytes(frame)],
        Err(error) => {
            tracing::error!(api = ?head.api, version = head.version, %error, "a Kafka response does not encode");
            count_errors(head, [UNKNOWN_SERVER_ERROR]);
            Vec::new()
        }
    }
}

/// Kafka's UNKNOWN_SERVER_ERROR.
const UNKNOWN_SERVER_ERROR: i16 = -1;

/// Counts a request of `api` answered, and the error codes among `codes` (0 is no error).
fn count_errors(head: &Head, codes: impl IntoIterator<Item = i16>) {
    let errors: Vec<_> = codes
        .into_iter()
        .filter(|&c| c != 0)
        .map(wire_error)
        .collect();
    if !errors.is_empty() {
        crate::metrics_hooks::request_errors(api_label(head.api), errors);
    }
}

fn request_done(api: ApiKey, started: Instant) {
    crate::metrics_hooks::request(api_label(api), started);
}

/// The metrics label of a Kafka API: Kafka's name for it (as the thin protocol's metrics
/// name theirs), `unknown` for one not served.
fn api_label(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::DescribeAcls => "DescribeAcls",
        ApiKey::CreateAcls => "CreateAcls",
        ApiKey::DeleteAcls => "DeleteAcls",
        ApiKey::DescribeUserScramCredentials => "DescribeUserScramCredentials",
        ApiKey::AlterUserScramCredentials => "AlterUserScramCredentials",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        _ => "unknown",
    }
}

fn wire_error(code: i16) -> ringlog_wire::ErrorCode {
    ringlog_wire::ErrorCode(code)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{
        AlterConfigsRequest, AlterUserScramCredentialsRequest, ApiVersionsRequest,
        CreateAclsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest,
        DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeAclsRequest,
        DescribeClusterRequest, DescribeConfigsRequest, DescribeGroupsRequest,
        DescribeUserScramCredentialsRequest, FetchRequest, FindCoordinatorRequest,
        HeartbeatRequest, IncrementalAlterConfigsRequest, InitProducerIdRequest, JoinGroupRequest,
        LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
        OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest,
        ProduceRequest, SaslAuthenticateRequest, SaslHandshakeRequest, SyncGroupRequest,
    };
    use proptest::prelude::*;

    use super::*;

    /// Decodes `body` as the request of `api` at `version`: whether it decoded.
    fn decodes(api: ApiKey, version: i16, body: &[u8]) -> bool {
        fn one<M: Decodable>(version: i16, body: &[u8]) -> bool {
            M::decode(&mut Bytes::copy_from_slice(body), version).is_ok()
        }
        match api {
            ApiKey::Produce => one::<ProduceRequest>(version, body),
            ApiKey::Fetch => one::<FetchRequest>(version, body),
            ApiKey::ListOffsets => one::<ListOffsetsRequest>(version, body),
            ApiKey::Metadata => one::<MetadataRequest>(version, body),
            ApiKey::OffsetCommit => one::<OffsetCommitRequest>(version, body),
            ApiKey::OffsetFetch => one::<OffsetFetchRequest>(version, body),
            ApiKey::FindCoordinator => one::<FindCoordinatorRequest>(version, body),
            ApiKey::ApiVersions => one::<ApiVersionsRequest>(version, body),
            ApiKey::CreateTopics => one::<CreateTopicsRequest>(version, body),
            ApiKey::DeleteTopics => one::<DeleteTopicsRequest>(version, body),
            ApiKey::DescribeConfigs => one::<DescribeConfigsRequest>(version, body),
            ApiKey::AlterConfigs => one::<AlterConfigsRequest>(version, body),
            ApiKey::IncrementalAlterConfigs => one::<IncrementalAlterConfigsRequest>(version, body),
            ApiKey::DescribeCluster => one::<DescribeClusterRequest>(version, body),
            ApiKey::CreatePartitions => one::<CreatePartitionsRequest>(version, body),
            ApiKey::DeleteRecords => one::<DeleteRecordsRequest>(version, body),
            ApiKey::OffsetForLeaderEpoch => one::<OffsetForLeaderEpochRequest>(version, body),
            ApiKey::InitProducerId => one::<InitProducerIdRequest>(version, body),
            ApiKey::JoinGroup => one::<JoinGroupRequest>(version, body),
            ApiKey::SyncGroup => one::<SyncGroupRequest>(version, body),
            ApiKey::Heartbeat => one::<HeartbeatRequest>(version, body),
            ApiKey::LeaveGroup => one::<LeaveGroupRequest>(version, body),
            ApiKey::DescribeGroups => one::<DescribeGroupsRequest>(version, body),
            ApiKey::ListGroups => one::<ListGroupsRequest>(version, body),
            ApiKey::DeleteGroups => one::<DeleteGroupsRequest>(version, body),
            ApiKey::OffsetDelete => one::<OffsetDeleteRequest>(version, body),
            ApiKey::DescribeAcls => one::<DescribeAclsRequest>(version, body),
            ApiKey::CreateAcls => one::<CreateAclsRequest>(version, body),
            ApiKey::DeleteAcls => one::<DeleteAclsRequest>(version, body),
            ApiKey::DescribeUserScramCredentials => {
                one::<DescribeUserScramCredentialsRequest>(version, body)
            }
            ApiKey::AlterUserScramCredentials => {
                one::<AlterUserScramCredentialsRequest>(version, body)
            }
            ApiKey::SaslHandshake => one::<SaslHandshakeRequest>(version, body),
            ApiKey::SaslAuthenticate => one::<SaslAuthenticateRequest>(version, body),
            other => panic!("{other:?} is served but not decoded here: add it"),
        }
    }

    #[test]
    fn every_served_api_has_its_metrics_label() {
        for &(api, _, _) in SERVED.iter().chain(SASL_SERVED) {
            assert_eq!(api_label(api), format!("{api:?}"), "{api:?}");
        }
        assert_eq!(api_label(ApiKey::AddPartitionsToTxn), "unknown");
    }

    #[test]
    fn a_response_that_does_not_encode_fails_its_request_not_the_shard() {
        use kafka_protocol::messages::ListOffsetsResponse;
        use kafka_protocol::messages::list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
        };
        let head = Head {
            api: ApiKey::ListOffsets,
            version: 1,
            correlation_id: 7,
        };
        // A leader epoch, which ListOffsets v1 has no field for.
        let partition = ListOffsetsPartitionResponse::default().with_leader_epoch(5);
        let response = ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default().with_partitions(vec![partition]),
        ]);
        assert!(respond(&head, &response).is_empty());
        let head = Head { version: 4, ..head };
        assert_eq!(respond(&head, &response).len(), 1);
    }

    proptest! {
        /// The body decoder of every served API and version takes arbitrary bytes without a
        /// panic (or an abort: a failed allocation is not a panic the harness would catch).
        #[test]
        fn every_served_request_decodes_arbitrary_bytes_without_panicking(
            api in 0..SERVED.len() + SASL_SERVED.len(),
            version_offset in 0i16..16,
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let (api, min, max) = SERVED.iter().chain(SASL_SERVED).nth(api).copied().unwrap();
            let version = min + version_offset % (max - min + 1);
            let _ = decodes(api, version, &body);
        }
    }

    #[test]
    fn a_request_claiming_billions_of_elements_is_refused_not_allocated() {
        // Produce v3: a null transactional id, acks, timeout, then 2^31-1 topics in 4 bytes.
        let mut body = vec![0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(!decodes(ApiKey::Produce, 3, &body));
        // Metadata v12 (flexible): a compact array of 2^32-2 topics.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(!decodes(ApiKey::Metadata, 12, &body));
    }
}
