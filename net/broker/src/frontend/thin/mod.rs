//! What the broker answers, API by API, apart from the runtime: how a request splits into
//! partition parts ([`plan`]), how their results become the response ([`finish`]), the
//! requests answered from the catalog alone, which APIs are answered at all (what
//! ApiVersions lists, [`api_versions`]), and every response's encoding ([`encode`], and the
//! fetch's pieces), where the error codes it carries are counted ([`error_codes`]). The
//! consumer-group APIs are in [`groups`], the SASL login of a `THIN_SASL_*` listener's
//! connections in [`sasl`]: on such a listener a request is served only as the connection's
//! authentication allows ([`Authentication::gate`], asked from the header before the body is
//! decoded), and any other closes the connection. With `authorizer_enabled` a request is
//! carried out only if the connection's principal may do all it asks ([`authorize`]), else it
//! is refused whole.

mod authorize;
mod groups;
mod sasl;
mod security;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use ringlog_engine::{FileSlice, LeaderEpoch, Offset};
use ringlog_replication::driver::ProduceOutcome;
use ringlog_replication::partition::FollowerFetchRequest;
use ringlog_replication::{KafkaError, TopicPartition};

use super::access::Access;
use super::sasl::{Authentication, Gate};
use super::{Read, Step, Unframeable};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::groups::offsets_partition;
use crate::offsets::{self, Commit, Committed};
use crate::ops::{
    AdminOp, AdminOutcome, CommitMember, NewTopic, OffsetSpec, PartOp, PartResult, TopicAlteration,
};
use crate::topic_config::TopicConfigEntry;
use ringlog_wire::ErrorResponse;
use ringlog_wire::api::alter_configs::AlterConfigsResponse;
use ringlog_wire::api::api_versions::{ApiVersions, ApiVersionsResponse};
use ringlog_wire::api::create_topics::CreateTopicsResponse;
use ringlog_wire::api::delete_topics::DeleteTopicsResponse;
use ringlog_wire::api::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeConfigsResult, DescribedConfig,
};
use ringlog_wire::api::fetch::{
    EpochEndOffset, FetchPartitionResponse, FetchResponse, RecordsSource,
};
use ringlog_wire::api::init_producer_id::InitProducerIdResponse;
use ringlog_wire::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, OffsetSpec as WireOffsetSpec,
};
use ringlog_wire::api::metadata::{
    MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic,
};
use ringlog_wire::api::offset_commit::{
    OffsetCommitPartitionResponse, OffsetCommitRequest, OffsetCommitResponse,
};
use ringlog_wire::api::offset_fetch::{OffsetFetchPartitionResponse, OffsetFetchResponse};
use ringlog_wire::api::produce::{ProducePartitionResponse, ProduceResponse};
use ringlog_wire::api::{Topic, TopicResult};
use ringlog_wire::frame::{REQUEST_HEADER_LEN, split_request_frame};
use ringlog_wire::{
    ApiKey, ErrorCode, Piece, Request, RequestHeader, Response, SUPPORTED_APIS, decode_request,
    encode_fetch_response, encode_response,
};

// Every frame `socket_request_max_bytes` allows holds the thin request header.
const _: () = assert!(REQUEST_HEADER_LEN <= crate::config::SOCKET_REQUEST_MIN_BYTES as usize);

/// What the frontend keeps of a request until its answer goes out: its header and decoded
/// form, a response already decided, and when it was read.
#[derive(Debug)]
pub(crate) struct Pending {
    header: RequestHeader,
    request: Request,
    prepared: Option<Response>,
    started: Instant,
}

impl Pending {
    /// Whether the request is a fetch: a later fetch on its connection ends its wait.
    pub(crate) fn is_fetch(&self) -> bool {
        matches!(self.request, Request::Fetch(_))
    }
}

/// Cuts the next request out of a connection's `received` bytes (from `peer`, who is
/// `authentication`) and decides what to do with it. `Ok(None)` until a whole frame is there;
/// an error (a frame past `max_frame_bytes`, a header that cannot be read, a request the
/// connection's authentication does not let be served) closes the connection.
pub(crate) fn read_request(
    shared: &Shared,
    peer: SocketAddr,
    authentication: &mut Authentication,
    received: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<Read>, Unframeable> {
    let Some((header, body)) = split_request_frame(received, max_frame_bytes)? else {
        return Ok(None);
    };
    let bytes = REQUEST_HEADER_LEN + body.len();
    let started = Instant::now();
    let kind = sasl::request_kind(header.api_key);
    if let Gate::Close(closed) = authentication.gate(kind, started) {
        let unauthenticated = sasl::Unauthenticated::new(&header, peer, closed, authentication);
        return Err(unauthenticated.into());
    }
    let request = match decode_request(&header, body) {
        Ok(request) => request,
        Err(error) => {
            let refusal = Response::Error(ErrorResponse::from(&error));
            let step = Step::Answer(encode(&header, &refusal));
            return Ok(Some(Read { bytes, step }));
        }
    };
    let access = Access::new(shared, || authentication.principal(), peer.ip());
    let step = match plan(shared, &access, peer, authentication.is_sasl(), &request) {
        Plan::Sasl => match &request {
            Request::SaslHandshake(handshake) => {
                sasl::handshake(shared, peer, authentication, &header, handshake)
            }
            Request::SaslAuthenticate(token) => {
                sasl::authenticate(shared, peer, authentication, &header, token)
            }
            other => unreachable!("{:?} is not a SASL request", other.api_key()),
        },
        Plan::Respond(response) => {
            let pieces = encode(&header, &response);
            crate::metrics_hooks::request(crate::metrics_hooks::thin_api(header.api_key), started);
            Step::Answer(pieces)
        }
        Plan::Admin(op) => {
            let pending = Pending {
                header,
                request,
                prepared: None,
                started,
            };
            Step::Admin(super::Pending::Thin(Box::new(pending)), op)
        }
        Plan::Parts {
            parts,
            min_bytes,
            prepared,
        } => Step::Parts {
            pending: super::Pending::Thin(Box::new(Pending {
                header,
                request,
                prepared,
                started,
            })),
            parts,
            min_bytes,
        },
    };
    Ok(Some(Read { bytes, step }))
}

/// The answer to a request whose parts all answered, in part order.
pub(crate) fn finish(pending: Pending, results: Vec<PartResult>) -> Vec<OutPiece> {
    let pieces = finish_parts(&pending.header, &pending.request, pending.prepared, results);
    crate::metrics_hooks::request(
        crate::metrics_hooks::thin_api(pending.header.api_key),
        pending.started,
    );
    pieces
}

/// The answer to an admin request from its operation's outcome.
pub(crate) fn finish_admin(pending: Pending, outcome: AdminOutcome) -> Vec<OutPiece> {
    let pieces = admin_response(&pending.header, outcome);
    crate::metrics_hooks::request(
        crate::metrics_hooks::thin_api(pending.header.api_key),
        pending.started,
    );
    pieces
}

/// How a request is answered.
#[derive(Debug)]
enum Plan {
    /// At once, from the catalog.
    Respond(Response),
    /// By the connection's SASL authentication (SaslHandshake, SaslAuthenticate on a SASL
    /// listener), which the request moves on.
    Sasl,
    /// By the agent, through the controller quorum (CreateTopics, DeleteTopics,
    /// AlterConfigs, InitProducerId, the changes to users and ACLs); its outcome comes back to the shard that read the
    /// request, which answers with [`finish_admin`].
    Admin(AdminOp),
    /// By its partitions' owners; `min_bytes` of fetched data releases waiting fetch parts.
    /// `prepared` is a response already decided, sent once the parts are done.
    Parts {
        parts: Vec<(TopicPartition, PartOp)>,
        min_bytes: u64,
        prepared: Option<Response>,
    },
}

/// The APIs the codec speaks that the broker does not answer yet: [`plan`] refuses them with
/// UNSUPPORTED_VERSION and ApiVersions leaves them out ([`api_versions`]), so a client never
/// picks an API it was told the broker speaks only to be refused. (Followers learn of
/// divergence from Fetch responses, KIP-595 style, so none sends OffsetForLeaderEpoch.)
pub(crate) const UNSERVED_APIS: [ApiKey; 1] = [ApiKey::OFFSET_FOR_LEADER_EPOCH];

/// The APIs served on a SASL listener (`THIN_SASL_PLAINTEXT`, `THIN_SASL_SSL`) only: elsewhere
/// they are refused and not listed, as [`UNSERVED_APIS`] are. A client learns from
/// ApiVersions whether its listener asks for a login.
pub(crate) const SASL_APIS: [ApiKey; 2] = [ApiKey::SASL_HANDSHAKE, ApiKey::SASL_AUTHENTICATE];

/// Whether the broker answers `api_key` on a listener that asks for SASL (`sasl`) or not.
fn served(api_key: ApiKey, sasl: bool) -> bool {
    !UNSERVED_APIS.contains(&api_key) && (sasl || !SASL_APIS.contains(&api_key))
}

/// What ApiVersions answers on a listener that asks for SASL (`sasl`) or not: the codec's
/// table ([`SUPPORTED_APIS`]) less what is not [`served`] there, at the versions the codec
/// speaks.
pub(crate) fn api_versions(sasl: bool) -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: SUPPORTED_APIS
            .iter()
            .filter(|api| served(api.api_key, sasl))
            .map(|api| ApiVersions {
                api_key: api.api_key,
                versions: api.versions,
            })
            .collect(),
    }
}

/// Splits `request` (read from `peer`, on a listener that asks for SASL or not) into partition
/// parts, or answers it from the catalog. The match names every API the codec decodes, so a
/// new one must be answered here or added to [`UNSERVED_APIS`].
fn plan(shared: &Shared, access: &Access, peer: SocketAddr, sasl: bool, request: &Request) -> Plan {
    let api_key = request.api_key();
    if !served(api_key, sasl) {
        let message = if SASL_APIS.contains(&api_key) {
            format!(
                "api {api_key} is served on a SASL listener (THIN_SASL_PLAINTEXT, THIN_SASL_SSL) \
                 only: this one asks for no login"
            )
        } else {
            format!("api {api_key} is not served by this broker yet")
        };
        return Plan::Respond(Response::Error(ErrorResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION,
            message,
        }));
    }
    if let Err(refusal) = authorize::authorize(access, request) {
        return Plan::Respond(Response::Error(refusal));
    }
    match request {
        Request::ApiVersions(_) => Plan::Respond(Response::ApiVersions(api_versions(sasl))),
        Request::SaslHandshake(_) | Request::SaslAuthenticate(_) => Plan::Sasl,
        Request::Metadata(metadata) => {
            if let Some(names) = &metadata.topics {
                let catalog = shared.catalog();
                let created = names
                    .iter()
                    .filter(|name| catalog.topic(name).is_none() && access.may_create_topic(name));
                super::auto_create(shared, created);
            }
            Plan::Respond(Response::Metadata(answer_metadata(
                shared, access, metadata,
            )))
        }
        Request::CreateTopics(create) => Plan::Admin(AdminOp::CreateTopics {
            topics: create
                .topics
                .iter()
                .map(|topic| NewTopic {
                    assignments: None,
                    name: topic.name.clone(),
                    partitions: topic.num_partitions,
                    replication_factor: topic.replication_factor,
                    configs: topic
                        .configs
                        .iter()
                        .map(|c| (c.name.clone(), c.value.clone()))
                        .collect(),
                })
                .collect(),
            timeout: create.timeout,
            validate_only: create.validate_only,
        }),
        Request::DeleteTopics(delete) => Plan::Admin(AdminOp::DeleteTopics {
            names: delete.topic_names.clone(),
            timeout: delete.timeout,
        }),
        Request::InitProducerId(_) => Plan::Admin(AdminOp::InitProducerId),
        Request::AlterConfigs(alter) => Plan::Admin(AdminOp::AlterConfigs {
            topics: alter
                .topics
                .iter()
                .map(|topic| TopicAlteration {
                    name: topic.name.clone(),
                    changes: topic
                        .configs
                        .iter()
                        .map(|c| (c.name.clone(), c.value.clone()))
                        .collect(),
                })
                .collect(),
            validate_only: alter.validate_only,
        }),
        Request::Produce(produce) => {
            let catalog = shared.catalog();
            let created = produce
                .topics
                .iter()
                .map(|t| &t.name)
                .filter(|name| catalog.topic(name).is_none() && access.may_create_topic(name));
            super::auto_create(shared, created);
            let timeout = produce.timeout.min(shared.options.config.request_timeout);
            let parts = parts_of(
                &produce.topics,
                |p| p.partition_index,
                |p| PartOp::Produce {
                    records: p.records.clone(),
                    acks: produce.acks,
                    timeout,
                },
            );
            Plan::Parts {
                parts,
                min_bytes: 0,
                prepared: None,
            }
        }
        Request::Fetch(fetch) => {
            let wait = if fetch.min_bytes == 0 {
                Duration::ZERO
            } else {
                fetch.max_wait.min(shared.options.fetch_wait_max)
            };
            let deadline = Instant::now() + wait;
            let parts = parts_of(
                &fetch.topics,
                |p| p.partition_index,
                |p| {
                    let max_bytes = u64::from(p.partition_max_bytes.min(fetch.max_bytes));
                    match fetch.replica_id {
                        None => PartOp::Fetch {
                            offset: p.fetch_offset,
                            max_bytes,
                            deadline,
                            current_leader_epoch: p.current_leader_epoch,
                        },
                        Some(replica) => PartOp::FollowerFetch {
                            replica,
                            request: FollowerFetchRequest {
                                fetch_offset: p.fetch_offset,
                                last_fetched_epoch: p.last_fetched_epoch,
                                // A follower always names the epoch it follows; one that does
                                // not is behind every leader.
                                current_leader_epoch: p
                                    .current_leader_epoch
                                    .unwrap_or(LeaderEpoch(0)),
                                // A follower always says where its log starts; one that does
                                // not holds nothing a DeleteRecords may count on.
                                log_start_offset: p.log_start_offset.unwrap_or(Offset::ZERO),
                            },
                            max_bytes,
                            deadline,
                        },
                    }
                },
            );
            Plan::Parts {
                parts,
                min_bytes: u64::from(fetch.min_bytes),
                prepared: None,
            }
        }
        Request::ListOffsets(list) => {
            let parts = parts_of(
                &list.topics,
                |p| p.partition_index,
                |p| PartOp::ListOffsets {
                    spec: offset_spec(p.spec),
                    current_leader_epoch: p.current_leader_epoch,
                },
            );
            Plan::Parts {
                parts,
                min_bytes: 0,
                prepared: None,
            }
        }
        Request::OffsetCommit(commit) => plan_offset_commit(shared, commit),
        Request::DescribeUserScramCredentials(describe) => {
            Plan::Respond(security::describe_credentials(shared, describe))
        }
        Request::AlterUserScramCredentials(alter) => Plan::Admin(security::plan_alter(alter)),
        Request::DescribeAcls(describe) => Plan::Respond(security::describe_acls(shared, describe)),
        Request::CreateAcls(create) => Plan::Admin(AdminOp::CreateAcls {
            bindings: create.bindings.clone(),
        }),
        Request::DeleteAcls(delete) => Plan::Admin(AdminOp::DeleteAcls {
            filters: delete.filters.clone(),
        }),
        Request::DescribeConfigs(describe) => Plan::Respond(Response::DescribeConfigs(
            describe_configs(shared, describe),
        )),
        Request::OffsetFetch(fetch) => {
            if fetch.group_id.is_empty() {
                return Plan::Respond(Response::Error(ErrorResponse {
                    error_code: ErrorCode::INVALID_GROUP_ID,
                    message: "the group id is empty".to_string(),
                }));
            }
            let topics = fetch.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                    .collect()
            });
            let op = PartOp::FetchOffsets {
                group: fetch.group_id.clone(),
                topics,
            };
            Plan::Parts {
                parts: vec![(offsets_partition(&fetch.group_id), op)],
                min_bytes: 0,
                prepared: None,
            }
        }
        Request::JoinGroup(_)
        | Request::SyncGroup(_)
        | Request::Heartbeat(_)
        | Request::LeaveGroup(_)
        | Request::DescribeGroups(_)
        | Request::ListGroups(_)
        | Request::DeleteGroups(_) => Plan::Parts {
            parts: groups::parts(peer, request).expect("a group request"),
            min_bytes: 0,
            prepared: None,
        },
        Request::OffsetForLeaderEpoch(_) => unreachable!("{api_key} is in UNSERVED_APIS"),
    }
}

/// Builds the response of a request whose parts all answered, in part order.
fn finish_parts(
    header: &RequestHeader,
    request: &Request,
    prepared: Option<Response>,
    results: Vec<PartResult>,
) -> Vec<OutPiece> {
    if let (Some(Response::OffsetCommit(mut response)), Some(PartResult::OffsetsCommitted(code))) =
        (prepared.clone(), results.first())
    {
        // The part stored the valid entries, or failed them all.
        for partition in response
            .topics
            .iter_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            if partition.error_code.is_none() {
                partition.error_code = code_of(*code);
            }
        }
        return encode(header, &Response::OffsetCommit(response));
    }
    if let Some(response) = prepared {
        return encode(header, &response);
    }
    let response = match request {
        Request::Produce(produce) => {
            let topics = answer_parts(
                &produce.topics,
                results,
                |p| p.partition_index,
                produce_partition,
            );
            Response::Produce(ProduceResponse { topics })
        }
        Request::Fetch(fetch) => {
            let topics = answer_parts(
                &fetch.topics,
                results,
                |p| p.partition_index,
                fetch_partition,
            );
            return fetch_pieces(header, FetchResponse { topics });
        }
        Request::ListOffsets(list) => {
            let topics = answer_parts(
                &list.topics,
                results,
                |p| p.partition_index,
                list_offsets_partition,
            );
            Response::ListOffsets(ListOffsetsResponse { topics })
        }
        Request::OffsetFetch(_) => match results.into_iter().next() {
            Some(PartResult::Offsets(Ok(found))) => Response::OffsetFetch(OffsetFetchResponse {
                topics: found
                    .into_iter()
                    .map(|(name, partitions)| Topic {
                        name,
                        partitions: partitions
                            .into_iter()
                            .map(|(partition_index, committed)| {
                                offset_fetch_partition(partition_index, committed)
                            })
                            .collect(),
                    })
                    .collect(),
            }),
            Some(PartResult::Offsets(Err(error))) => Response::Error(ErrorResponse {
                error_code: ErrorCode::from(error),
                message: match error {
                    KafkaError::CoordinatorLoadInProgress => {
                        "the group's coordinator is loading its offsets; retry".to_string()
                    }
                    _ => format!("the group's offsets cannot be read: {error:?}"),
                },
            }),
            other => unreachable!("an offset fetch part answered {other:?}"),
        },
        Request::JoinGroup(_)
        | Request::SyncGroup(_)
        | Request::Heartbeat(_)
        | Request::LeaveGroup(_)
        | Request::DescribeGroups(_)
        | Request::ListGroups(_)
        | Request::DeleteGroups(_) => groups::respond(request, results),
        other => unreachable!("{:?} has no partition parts", other.api_key()),
    };
    encode(header, &response)
}

/// The response to an admin request (`header` says which API) from its operation's outcome.
fn admin_response(header: &RequestHeader, outcome: AdminOutcome) -> Vec<OutPiece> {
    let outcome = match outcome {
        AdminOutcome::Topics(topics) => topics,
        AdminOutcome::ProducerId(outcome) => {
            let response = match outcome {
                Ok(producer_id) => Response::InitProducerId(InitProducerIdResponse {
                    producer_id,
                    producer_epoch: 0,
                }),
                Err(refusal) => Response::Error(ErrorResponse {
                    error_code: ErrorCode::from(refusal.error),
                    message: refusal.message,
                }),
            };
            return encode(header, &response);
        }
        other => match security::response(other) {
            Ok(response) => return encode(header, &response),
            Err(other) => unreachable!("the thin protocol asks for no {other:?}"),
        },
    };
    let topics = outcome
        .into_iter()
        .map(|(name, refusal)| match refusal {
            None => TopicResult {
                name,
                error_code: ErrorCode::NONE,
                error_message: None,
            },
            Some(refusal) => TopicResult {
                name,
                error_code: ErrorCode::from(refusal.error),
                error_message: Some(refusal.message),
            },
        })
        .collect();
    let response = match header.api_key {
        ApiKey::CREATE_TOPICS => Response::CreateTopics(CreateTopicsResponse { topics }),
        ApiKey::DELETE_TOPICS => Response::DeleteTopics(DeleteTopicsResponse { topics }),
        ApiKey::ALTER_CONFIGS => Response::AlterConfigs(AlterConfigsResponse { topics }),
        other => unreachable!("{other:?} is not an admin request"),
    };
    encode(header, &response)
}

/// A commit: entries for unknown partitions, or with oversized metadata, are refused each;
/// the rest go to the group's partition of the offsets topic as one batch, once the group's
/// coordinator accepts who commits (v1's member; a v0 commit, or one naming neither a member
/// nor a generation, is a consumer's in assign mode, as Kafka tells them apart).
fn plan_offset_commit(shared: &Shared, commit: &OffsetCommitRequest) -> Plan {
    let catalog = shared.catalog();
    let mut commits = Vec::new();
    let topics = commit
        .topics
        .iter()
        .map(|topic| Topic {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let known = catalog
                        .contains(&TopicPartition::new(topic.name.clone(), p.partition_index));
                    let metadata_len = p.committed_metadata.as_ref().map_or(0, String::len);
                    let error_code = if commit.group_id.is_empty() {
                        ErrorCode::INVALID_GROUP_ID
                    } else if !known {
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    } else if metadata_len > offsets::METADATA_MAX_BYTES {
                        ErrorCode::OFFSET_METADATA_TOO_LARGE
                    } else {
                        commits.push(Commit {
                            group: commit.group_id.clone(),
                            topic: topic.name.clone(),
                            partition: p.partition_index,
                            committed: Committed {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: p.committed_metadata.clone(),
                            },
                        });
                        ErrorCode::NONE
                    };
                    OffsetCommitPartitionResponse {
                        partition_index: p.partition_index,
                        error_code,
                    }
                })
                .collect(),
        })
        .collect();
    let prepared = Response::OffsetCommit(OffsetCommitResponse { topics });
    if commits.is_empty() {
        return Plan::Respond(prepared);
    }
    let member =
        (!commit.member_id.is_empty() || commit.generation_id >= 0).then(|| CommitMember {
            member_id: commit.member_id.clone(),
            group_instance_id: commit.group_instance_id.clone(),
            generation: commit.generation_id,
        });
    let op = PartOp::CommitOffsets { commits, member };
    Plan::Parts {
        parts: vec![(offsets_partition(&commit.group_id), op)],
        min_bytes: 0,
        prepared: Some(prepared),
    }
}

fn offset_fetch_partition(
    partition_index: u32,
    committed: Option<Committed>,
) -> OffsetFetchPartitionResponse {
    match committed {
        Some(c) => OffsetFetchPartitionResponse {
            partition_index,
            committed_offset: Some(c.offset),
            committed_leader_epoch: c.leader_epoch,
            metadata: c.metadata,
            error_code: ErrorCode::NONE,
        },
        None => OffsetFetchPartitionResponse {
            partition_index,
            committed_offset: None,
            committed_leader_epoch: None,
            metadata: None,
            error_code: ErrorCode::NONE,
        },
    }
}

/// The response's topics in request order, each partition answered by `answer` from the next
/// part result (parts were made in the same order, see [`plan`]).
fn answer_parts<P, A>(
    topics: &[Topic<P>],
    results: Vec<PartResult>,
    index: impl Fn(&P) -> u32,
    answer: impl Fn(u32, Option<PartResult>) -> A,
) -> Vec<Topic<A>> {
    let mut results = results.into_iter();
    topics
        .iter()
        .map(|topic| Topic {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| answer(index(p), results.next()))
                .collect(),
        })
        .collect()
}

/// One part per partition of `topics`, in request order.
fn parts_of<P>(
    topics: &[Topic<P>],
    index: impl Fn(&P) -> u32,
    op: impl Fn(&P) -> PartOp,
) -> Vec<(TopicPartition, PartOp)> {
    topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| {
                let topic_partition = TopicPartition::new(topic.name.clone(), index(p));
                (topic_partition, op(p))
            })
        })
        .collect()
}

fn produce_partition(partition_index: u32, result: Option<PartResult>) -> ProducePartitionResponse {
    match result {
        Some(PartResult::Produce(ProduceOutcome::Appended {
            base_offset,
            log_start_offset,
            ..
        })) => ProducePartitionResponse {
            partition_index,
            error_code: ErrorCode::NONE,
            base_offset,
            log_start_offset: base_offset.map(|_| log_start_offset),
            error_message: None,
        },
        Some(PartResult::Produce(ProduceOutcome::Refused(refusal))) => ProducePartitionResponse {
            partition_index,
            error_code: ErrorCode::from(refusal.error),
            base_offset: None,
            log_start_offset: None,
            error_message: Some(refusal.message),
        },
        other => unreachable!("a produce part answered {other:?}"),
    }
}

/// A partition's record bytes as file slices: the fetch response carries their length, the
/// connection sends them with `sendfile`.
#[derive(Debug, Default)]
pub(crate) struct Slices(pub Vec<FileSlice>);

impl RecordsSource for Slices {
    fn len(&self) -> usize {
        self.0.iter().map(|s| s.len as usize).sum()
    }
}

fn fetch_partition(
    partition_index: u32,
    result: Option<PartResult>,
) -> FetchPartitionResponse<Slices> {
    match result {
        Some(PartResult::Fetch(outcome)) => FetchPartitionResponse {
            partition_index,
            error_code: code_of(outcome.error),
            high_watermark: outcome.high_watermark,
            log_start_offset: outcome.log_start_offset,
            log_end_offset: outcome.log_end_offset,
            diverging_epoch: outcome.diverging_epoch.map(|diverging| EpochEndOffset {
                epoch: diverging.epoch,
                end_offset: diverging.end_offset,
            }),
            records: Slices(outcome.slices),
        },
        other => unreachable!("a fetch part answered {other:?}"),
    }
}

/// The fetch response as pieces: headers as bytes, records as file slices.
fn fetch_pieces(header: &RequestHeader, response: FetchResponse<Slices>) -> Vec<OutPiece> {
    let frame = match encode_fetch_response(&response, header.api_version, header.correlation_id) {
        Ok(frame) => frame,
        Err(error) => {
            tracing::error!(%error, api = ?header.api_key, "cannot encode a response");
            let refusal = Response::Error(ErrorResponse {
                error_code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: error.to_string(),
            });
            return encode(header, &refusal);
        }
    };
    crate::metrics_hooks::request_errors(
        crate::metrics_hooks::thin_api(header.api_key),
        partition_errors(&response.topics, |p| p.error_code),
    );
    let mut pieces = Vec::with_capacity(frame.pieces.len());
    for piece in frame.pieces {
        match piece {
            Piece::Bytes(bytes) => pieces.push(OutPiece::Bytes(bytes)),
            Piece::Records {
                topic_position,
                partition_position,
                ..
            } => {
                let slices = &response.topics[topic_position].partitions[partition_position]
                    .records
                    .0;
                pieces.extend(slices.iter().map(|s| OutPiece::File {
                    file: s.file.clone(),
                    position: s.position.0,
                    len: s.len,
                }));
            }
        }
    }
    pieces
}

fn list_offsets_partition(
    partition_index: u32,
    result: Option<PartResult>,
) -> ListOffsetsPartitionResponse {
    match result {
        Some(PartResult::ListOffsets {
            error,
            offset,
            timestamp,
            leader_epoch,
        }) => ListOffsetsPartitionResponse {
            partition_index,
            error_code: code_of(error),
            timestamp,
            offset,
            leader_epoch,
        },
        other => unreachable!("a list offsets part answered {other:?}"),
    }
}

fn answer_metadata(
    shared: &Shared,
    access: &Access,
    request: &MetadataRequest,
) -> MetadataResponse {
    let catalog = shared.catalog();
    let brokers = catalog
        .brokers()
        .filter(|broker| !broker.fenced)
        .filter_map(|broker| {
            let (host, port) = broker.endpoint.rsplit_once(':')?;
            Some(MetadataBroker {
                broker_id: broker.id,
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: port.parse().ok()?,
                rack: broker.rack.clone().map(ringlog_replication::Rack),
            })
        })
        .collect();
    let names: Vec<String> = match &request.topics {
        Some(names) => names.clone(),
        None => catalog
            .topics()
            .map(|(name, _)| name)
            .filter(|name| authorize::shows_topic(access, name))
            .cloned()
            .collect(),
    };
    let auto_created = shared.options.config.auto_create_topics_enable && request.topics.is_some();
    let topics = names
        .into_iter()
        .map(|name| match catalog.topic(&name) {
            Some(topic) => MetadataTopic {
                error_code: ErrorCode::NONE,
                topic_id: topic.id,
                partitions: (0..)
                    .zip(&topic.partitions)
                    .map(|(partition_index, partition)| {
                        let offline_replicas = partition
                            .replicas()
                            .iter()
                            .copied()
                            .filter(|&r| catalog.broker(r).is_none_or(|b| b.fenced))
                            .collect();
                        MetadataPartition {
                            error_code: match partition.leader() {
                                Some(_) => ErrorCode::NONE,
                                None => ErrorCode::LEADER_NOT_AVAILABLE,
                            },
                            partition_index,
                            leader_id: partition.leader(),
                            leader_epoch: Some(partition.leader_epoch()),
                            replica_nodes: partition.replicas().to_vec(),
                            isr_nodes: partition.isr().to_vec(),
                            offline_replicas,
                        }
                    })
                    .collect(),
                name,
            },
            None => MetadataTopic {
                topic_id: ringlog_replication::TopicId::ZERO,
                // A topic being created on first use is on its way: worth retrying.
                error_code: if auto_created {
                    ErrorCode::LEADER_NOT_AVAILABLE
                } else {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                },
                name,
                partitions: vec![],
            },
        })
        .collect();
    MetadataResponse { brokers, topics }
}

fn describe_configs(shared: &Shared, request: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let catalog = shared.catalog();
    let defaults = shared.options.config.topic_defaults();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let described = match catalog.topic(&topic.name) {
                None => Err((
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("unknown topic {}", topic.name),
                )),
                Some(_) => shared
                    .topic_config(&catalog, &topic.name)
                    .describe(&defaults, topic.config_keys.as_deref())
                    .map_err(|error| (ErrorCode::INVALID_CONFIG, error.to_string())),
            };
            match described {
                Ok(entries) => DescribeConfigsResult {
                    name: topic.name.clone(),
                    error_code: ErrorCode::NONE,
                    error_message: None,
                    configs: entries.into_iter().map(thin_config_entry).collect(),
                },
                Err((error_code, message)) => DescribeConfigsResult {
                    name: topic.name.clone(),
                    error_code,
                    error_message: Some(message),
                    configs: vec![],
                },
            }
        })
        .collect();
    DescribeConfigsResponse { topics }
}

/// A topic config entry as the thin protocol describes it (ringlog's key names).
fn thin_config_entry(entry: TopicConfigEntry) -> DescribedConfig {
    DescribedConfig {
        name: entry.key.name().to_string(),
        value: Some(entry.value),
        is_default: entry.is_default,
    }
}

/// A whole response as one piece, its error codes counted; one that cannot be encoded goes out
/// as UNKNOWN_SERVER_ERROR.
pub(crate) fn encode(header: &RequestHeader, response: &Response) -> Vec<OutPiece> {
    let frame = match encode_response(response, header.api_version, header.correlation_id) {
        Ok(frame) => {
            crate::metrics_hooks::request_errors(
                crate::metrics_hooks::thin_api(header.api_key),
                error_codes(response),
            );
            frame
        }
        Err(error) => {
            tracing::error!(%error, api = ?header.api_key, "cannot encode a response");
            let refusal = Response::Error(ErrorResponse {
                error_code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: error.to_string(),
            });
            crate::metrics_hooks::request_errors(
                crate::metrics_hooks::thin_api(header.api_key),
                error_codes(&refusal),
            );
            encode_response(&refusal, header.api_version, header.correlation_id)
                .expect("an error response always encodes")
        }
    };
    vec![OutPiece::Bytes(frame)]
}

/// The error codes `response` carries, NONE left out: the request's when it is refused whole,
/// else one for each topic or partition answered with one (Kafka counts its `ErrorsPerSec`
/// the same way).
pub(crate) fn error_codes(response: &Response) -> Vec<ErrorCode> {
    let codes = match response {
        Response::Produce(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::Fetch(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::ListOffsets(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::Metadata(r) => r
            .topics
            .iter()
            .flat_map(|t| {
                std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
            })
            .collect(),
        Response::OffsetCommit(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::OffsetFetch(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::ApiVersions(_) => Vec::new(),
        Response::CreateTopics(r) => r.topics.iter().map(|t| t.error_code).collect(),
        Response::DeleteTopics(r) => r.topics.iter().map(|t| t.error_code).collect(),
        Response::InitProducerId(_) => Vec::new(),
        Response::OffsetForLeaderEpoch(r) => partition_errors(&r.topics, |p| p.error_code),
        Response::DescribeConfigs(r) => r.topics.iter().map(|t| t.error_code).collect(),
        Response::AlterConfigs(r) => r.topics.iter().map(|t| t.error_code).collect(),
        Response::JoinGroup(r) => vec![r.error_code],
        Response::SyncGroup(r) => vec![r.error_code],
        Response::Heartbeat(r) => vec![r.error_code],
        Response::LeaveGroup(r) => r.members.iter().map(|m| m.error_code).collect(),
        Response::DescribeGroups(r) => r.groups.iter().map(|g| g.error_code).collect(),
        Response::ListGroups(_) => Vec::new(),
        Response::DeleteGroups(r) => r.results.iter().map(|g| g.error_code).collect(),
        Response::DescribeAcls(_) => Vec::new(),
        Response::CreateAcls(r) => r.results.iter().map(|r| r.error_code).collect(),
        Response::DeleteAcls(r) => r.results.iter().map(|r| r.error_code).collect(),
        Response::DescribeUserScramCredentials(r) => r.users.iter().map(|u| u.error_code).collect(),
        Response::AlterUserScramCredentials(r) => r.results.iter().map(|r| r.error_code).collect(),
        Response::SaslHandshake(_) | Response::SaslAuthenticate(_) => Vec::new(),
        Response::Error(e) => vec![e.error_code],
    };
    codes.into_iter().filter(|code| !code.is_none()).collect()
}

/// Every partition's error code other than NONE: empty, and so not allocated, for the
/// produce and fetch responses that carry no error (nearly all of them, once per request).
fn partition_errors<P>(topics: &[Topic<P>], code: impl Fn(&P) -> ErrorCode) -> Vec<ErrorCode> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(&code))
        .filter(|code| !code.is_none())
        .collect()
}

/// The code of an operation's refusal, or NONE.
fn code_of(error: Option<KafkaError>) -> ErrorCode {
    error.map_or(ErrorCode::NONE, ErrorCode::from)
}

/// The wire's ListOffsets spec as the operation takes it.
fn offset_spec(spec: WireOffsetSpec) -> OffsetSpec {
    match spec {
        WireOffsetSpec::Earliest => OffsetSpec::Earliest,
        WireOffsetSpec::Latest => OffsetSpec::Latest,
        WireOffsetSpec::Timestamp(timestamp) => OffsetSpec::Timestamp(timestamp),
    }
}
