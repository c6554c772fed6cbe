//! Property tests of the wire codec: every request and response survives encode then decode
//! unchanged at every version its API has (the fetch response also through its zero-copy
//! pieces), and decoding arbitrary
//! bytes, arbitrary frames, and truncated or bit-flipped valid frames never panics. Where a
//! decode of arbitrary bytes succeeds, encoding the result gives back the same bytes: the
//! encoding is canonical, so nothing was misread.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use ringlog_format::{LeaderEpoch, Offset, Timestamp};
use ringlog_replication::{BrokerId, Rack};
use ringlog_security::acl::{
    AccessEntry, AclBinding, AclFilter, Operation, PatternType, Permission, ResourcePattern,
    ResourceType,
};
use ringlog_security::scram::Mechanism;
use ringlog_wire::api::EntryResult;
use ringlog_wire::api::Topic;
use ringlog_wire::api::TopicResult;
use ringlog_wire::api::alter_configs::*;
use ringlog_wire::api::alter_user_scram_credentials::*;
use ringlog_wire::api::api_versions::*;
use ringlog_wire::api::create_acls::*;
use ringlog_wire::api::create_topics::*;
use ringlog_wire::api::delete_acls::*;
use ringlog_wire::api::delete_groups::*;
use ringlog_wire::api::delete_topics::*;
use ringlog_wire::api::describe_acls::*;
use ringlog_wire::api::describe_configs::*;
use ringlog_wire::api::describe_groups::*;
use ringlog_wire::api::describe_user_scram_credentials::*;
use ringlog_wire::api::fetch::*;
use ringlog_wire::api::heartbeat::*;
use ringlog_wire::api::init_producer_id::*;
use ringlog_wire::api::join_group::*;
use ringlog_wire::api::leave_group::*;
use ringlog_wire::api::list_groups::*;
use ringlog_wire::api::list_offsets::*;
use ringlog_wire::api::metadata::*;
use ringlog_wire::api::offset_commit::*;
use ringlog_wire::api::offset_fetch::*;
use ringlog_wire::api::offset_for_leader_epoch::*;
use ringlog_wire::api::produce::*;
use ringlog_wire::api::sasl_authenticate::*;
use ringlog_wire::api::sasl_handshake::*;
use ringlog_wire::api::sync_group::*;
use ringlog_wire::frame::{
    REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, decode_request_frame, decode_response_frame,
    split_request_frame, split_response_frame,
};
use ringlog_wire::{
    ApiKey, CorrelationId, ErrorCode, ErrorResponse, Request, RequestHeader, Response,
    SUPPORTED_APIS, VersionRange, WireError, decode_request, decode_response, encode_request,
    encode_response,
};

const CASES: u32 = 256;
const MAX_FRAME: u32 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Strategies for field types.

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{0,12}"
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn offset() -> impl Strategy<Value = Offset> {
    (0..=i64::MAX as u64).prop_map(Offset)
}

fn epoch() -> impl Strategy<Value = LeaderEpoch> {
    (0..=i32::MAX as u32).prop_map(LeaderEpoch)
}

fn broker() -> impl Strategy<Value = BrokerId> {
    (0..=i32::MAX as u32).prop_map(BrokerId)
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0..=i64::MAX).prop_map(Timestamp)
}

fn millis() -> impl Strategy<Value = Duration> {
    (0..=u64::from(u32::MAX)).prop_map(Duration::from_millis)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::NONE),
        Just(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        any::<i16>().prop_map(ErrorCode)
    ]
}

fn records() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn few<T: std::fmt::Debug>(element: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(element, 0..4)
}

fn topics<P: std::fmt::Debug>(
    partition: impl Strategy<Value = P>,
) -> impl Strategy<Value = Vec<Topic<P>>> {
    few((name(), few(partition)).prop_map(|(name, partitions)| Topic { name, partitions }))
}

fn topic_result() -> impl Strategy<Value = TopicResult> {
    (name(), error_code(), prop::option::of(text())).prop_map(
        |(name, error_code, error_message)| TopicResult {
            name,
            error_code,
            error_message,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Strategies for every request and response.

fn produce_request() -> impl Strategy<Value = ProduceRequest> {
    let acks = prop_oneof![Just(Acks::None), Just(Acks::Leader), Just(Acks::All)];
    let partition =
        (any::<u32>(), records()).prop_map(|(partition_index, records)| ProducePartition {
            partition_index,
            records,
        });
    (acks, millis(), topics(partition)).prop_map(|(acks, timeout, topics)| ProduceRequest {
        acks,
        timeout,
        topics,
    })
}

fn produce_response() -> impl Strategy<Value = ProduceResponse> {
    let partition = (
        any::<u32>(),
        error_code(),
        prop::option::of(offset()),
        prop::option::of(offset()),
        prop::option::of(text()),
    )
        .prop_map(
            |(partition_index, error_code, base_offset, log_start_offset, error_message)| {
                ProducePartitionResponse {
                    partition_index,
                    error_code,
                    base_offset,
                    log_start_offset,
                    error_message,
                }
            },
        );
    topics(partition).prop_map(|topics| ProduceResponse { topics })
}

fn fetch_request() -> impl Strategy<Value = FetchRequest> {
    let partition = (
        any::<u32>(),
        prop::option::of(epoch()),
        offset(),
        prop::option::of(epoch()),
        prop::option::of(offset()),
        any::<u32>(),
    )
        .prop_map(
            |(
                partition_index,
                current_leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                log_start_offset,
                partition_max_bytes,
            )| FetchPartition {
                partition_index,
                current_leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                log_start_offset,
                partition_max_bytes,
            },
        );
    (
        prop::option::of(broker()),
        millis(),
        any::<u32>(),
        any::<u32>(),
        topics(partition),
    )
        .prop_map(
            |(replica_id, max_wait, min_bytes, max_bytes, topics)| FetchRequest {
                replica_id,
                max_wait,
                min_bytes,
                max_bytes,
                topics,
            },
        )
}

fn fetch_response() -> impl Strategy<Value = FetchResponse> {
    let diverging =
        (epoch(), offset()).prop_map(|(epoch, end_offset)| EpochEndOffset { epoch, end_offset });
    let partition = (
        any::<u32>(),
        error_code(),
        prop::option::of(offset()),
        prop::option::of(offset()),
        prop::option::of(offset()),
        prop::option::of(diverging),
        records(),
    )
        .prop_map(
            |(
                partition_index,
                error_code,
                high_watermark,
                log_start_offset,
                log_end_offset,
                diverging_epoch,
                records,
            )| FetchPartitionResponse {
                partition_index,
                error_code,
                high_watermark,
                log_start_offset,
                log_end_offset,
                diverging_epoch,
                records,
            },
        );
    topics(partition).prop_map(|topics| FetchResponse { topics })
}

fn list_offsets_request() -> impl Strategy<Value = ListOffsetsRequest> {
    let spec = prop_oneof![
        Just(OffsetSpec::Earliest),
        Just(OffsetSpec::Latest),
        timestamp().prop_map(OffsetSpec::Timestamp)
    ];
    let partition = (any::<u32>(), prop::option::of(epoch()), spec).prop_map(
        |(partition_index, current_leader_epoch, spec)| ListOffsetsPartition {
            partition_index,
            current_leader_epoch,
            spec,
        },
    );
    topics(partition).prop_map(|topics| ListOffsetsRequest { topics })
}

fn list_offsets_response() -> impl Strategy<Value = ListOffsetsResponse> {
    let partition = (
        any::<u32>(),
        error_code(),
        prop::option::of(timestamp()),
        prop::option::of(offset()),
        prop::option::of(epoch()),
    )
        .prop_map(
            |(partition_index, error_code, timestamp, offset, leader_epoch)| {
                ListOffsetsPartitionResponse {
                    partition_index,
                    error_code,
                    timestamp,
                    offset,
                    leader_epoch,
                }
            },
        );
    topics(partition).prop_map(|topics| ListOffsetsResponse { topics })
}

fn metadata_request() -> impl Strategy<Value = MetadataRequest> {
    prop::option::of(few(name())).prop_map(|topics| MetadataRequest { topics })
}

fn metadata_response() -> impl Strategy<Value = MetadataResponse> {
    let broker_entry = (
        broker(),
        name(),
        any::<u16>(),
        prop::option::of(name().prop_map(Rack)),
    )
        .prop_map(|(broker_id, host, port, rack)| MetadataBroker {
            broker_id,
            host,
            port,
            rack,
        });
    let partition = (
        error_code(),
        any::<u32>(),
        prop::option::of(broker()),
        prop::option::of(epoch()),
        few(broker()),
        few(broker()),
        few(broker()),
    )
        .prop_map(
            |(
                error_code,
                partition_index,
                leader_id,
                leader_epoch,
                replica_nodes,
                isr_nodes,
                offline_replicas,
            )| MetadataPartition {
                error_code,
                partition_index,
                leader_id,
                leader_epoch,
                replica_nodes,
                isr_nodes,
                offline_replicas,
            },
        );
    let topic =
        (error_code(), name(), few(partition)).prop_map(|(error_code, name, partitions)| {
            MetadataTopic {
                topic_id: ringlog_replication::TopicId::from_random([7; 16]),
                error_code,
                name,
                partitions,
            }
        });
    (few(broker_entry), few(topic))
        .prop_map(|(brokers, topics)| MetadataResponse { brokers, topics })
}

fn offset_commit_request() -> impl Strategy<Value = OffsetCommitRequest> {
    let partition = (
        any::<u32>(),
        offset(),
        prop::option::of(epoch()),
        prop::option::of(text()),
    )
        .prop_map(
            |(partition_index, committed_offset, committed_leader_epoch, committed_metadata)| {
                OffsetCommitPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                }
            },
        );
    let member = prop_oneof![
        Just((NO_GENERATION, String::new(), None)),
        (any::<i32>(), name(), prop::option::of(name())),
    ];
    (name(), topics(partition), member).prop_map(
        |(group_id, topics, (generation_id, member_id, group_instance_id))| OffsetCommitRequest {
            group_id,
            topics,
            generation_id,
            member_id,
            group_instance_id,
        },
    )
}

fn offset_commit_response() -> impl Strategy<Value = OffsetCommitResponse> {
    let partition = (any::<u32>(), error_code()).prop_map(|(partition_index, error_code)| {
        OffsetCommitPartitionResponse {
            partition_index,
            error_code,
        }
    });
    topics(partition).prop_map(|topics| OffsetCommitResponse { topics })
}

fn offset_fetch_request() -> impl Strategy<Value = OffsetFetchRequest> {
    let topic =
        (name(), few(any::<u32>())).prop_map(|(name, partition_indexes)| OffsetFetchTopic {
            name,
            partition_indexes,
        });
    (name(), prop::option::of(few(topic)))
        .prop_map(|(group_id, topics)| OffsetFetchRequest { group_id, topics })
}

fn offset_fetch_response() -> impl Strategy<Value = OffsetFetchResponse> {
    let partition = (
        any::<u32>(),
        prop::option::of(offset()),
        prop::option::of(epoch()),
        prop::option::of(text()),
        error_code(),
    )
        .prop_map(
            |(partition_index, committed_offset, committed_leader_epoch, metadata, error_code)| {
                OffsetFetchPartitionResponse {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    metadata,
                    error_code,
                }
            },
        );
    topics(partition).prop_map(|topics| OffsetFetchResponse { topics })
}

fn api_versions_response() -> impl Strategy<Value = ApiVersionsResponse> {
    let entry = (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(key, a, b)| ApiVersions {
        api_key: ApiKey(key),
        versions: VersionRange {
            min: a.min(b),
            max: a.max(b),
        },
    });
    few(entry).prop_map(|api_keys| ApiVersionsResponse { api_keys })
}

fn create_topics_request() -> impl Strategy<Value = CreateTopicsRequest> {
    let config = (name(), text()).prop_map(|(name, value)| ConfigValue { name, value });
    // -1 (`None`) is the broker's default; a count goes up to the signed type's maximum.
    let topic = (
        name(),
        prop::option::of(0..=i32::MAX as u32),
        prop::option::of(0..=i16::MAX as u16),
        few(config),
    )
        .prop_map(
            |(name, num_partitions, replication_factor, configs)| CreatableTopic {
                name,
                num_partitions,
                replication_factor,
                configs,
            },
        );
    (few(topic), millis(), any::<bool>()).prop_map(|(topics, timeout, validate_only)| {
        CreateTopicsRequest {
            topics,
            timeout,
            validate_only,
        }
    })
}

fn delete_topics_request() -> impl Strategy<Value = DeleteTopicsRequest> {
    (few(name()), millis()).prop_map(|(topic_names, timeout)| DeleteTopicsRequest {
        topic_names,
        timeout,
    })
}

fn offset_for_leader_epoch_request() -> impl Strategy<Value = OffsetForLeaderEpochRequest> {
    let partition = (any::<u32>(), prop::option::of(epoch()), epoch()).prop_map(
        |(partition_index, current_leader_epoch, leader_epoch)| OffsetForLeaderEpochPartition {
            partition_index,
            current_leader_epoch,
            leader_epoch,
        },
    );
    (prop::option::of(broker()), topics(partition))
        .prop_map(|(replica_id, topics)| OffsetForLeaderEpochRequest { replica_id, topics })
}

fn offset_for_leader_epoch_response() -> impl Strategy<Value = OffsetForLeaderEpochResponse> {
    let partition = (
        any::<u32>(),
        error_code(),
        prop::option::of(epoch()),
        prop::option::of(offset()),
    )
        .prop_map(|(partition_index, error_code, leader_epoch, end_offset)| {
            OffsetForLeaderEpochPartitionResponse {
                partition_index,
                error_code,
                leader_epoch,
                end_offset,
            }
        });
    topics(partition).prop_map(|topics| OffsetForLeaderEpochResponse { topics })
}

fn describe_configs_request() -> impl Strategy<Value = DescribeConfigsRequest> {
    let topic = (name(), prop::option::of(few(name())))
        .prop_map(|(name, config_keys)| DescribeConfigsTopic { name, config_keys });
    few(topic).prop_map(|topics| DescribeConfigsRequest { topics })
}

fn describe_configs_response() -> impl Strategy<Value = DescribeConfigsResponse> {
    let config =
        (name(), prop::option::of(text()), any::<bool>()).prop_map(|(name, value, is_default)| {
            DescribedConfig {
                name,
                value,
                is_default,
            }
        });
    let result = (name(), error_code(), prop::option::of(text()), few(config)).prop_map(
        |(name, error_code, error_message, configs)| DescribeConfigsResult {
            name,
            error_code,
            error_message,
            configs,
        },
    );
    few(result).prop_map(|topics| DescribeConfigsResponse { topics })
}

fn alter_configs_request() -> impl Strategy<Value = AlterConfigsRequest> {
    let change =
        (name(), prop::option::of(text())).prop_map(|(name, value)| ConfigChange { name, value });
    let topic =
        (name(), few(change)).prop_map(|(name, configs)| AlterConfigsTopic { name, configs });
    (few(topic), any::<bool>()).prop_map(|(topics, validate_only)| AlterConfigsRequest {
        topics,
        validate_only,
    })
}

fn join_group_request() -> impl Strategy<Value = JoinGroupRequest> {
    let protocol =
        (name(), records()).prop_map(|(name, metadata)| JoinGroupProtocol { name, metadata });
    (
        (name(), text(), any::<i32>(), any::<i32>()),
        (name(), prop::option::of(name()), name(), few(protocol)),
    )
        .prop_map(
            |(
                (group_id, client_id, session_timeout_ms, rebalance_timeout_ms),
                (member_id, group_instance_id, protocol_type, protocols),
            )| JoinGroupRequest {
                group_id,
                client_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                member_id,
                group_instance_id,
                protocol_type,
                protocols,
            },
        )
}

fn join_group_response() -> impl Strategy<Value = JoinGroupResponse> {
    let member = (name(), prop::option::of(name()), records()).prop_map(
        |(member_id, group_instance_id, metadata)| JoinGroupMember {
            member_id,
            group_instance_id,
            metadata,
        },
    );
    (
        (error_code(), any::<i32>(), prop::option::of(name())),
        (prop::option::of(name()), name(), name(), few(member)),
    )
        .prop_map(
            |(
                (error_code, generation_id, protocol_type),
                (protocol_name, leader, member_id, members),
            )| JoinGroupResponse {
                error_code,
                generation_id,
                protocol_type,
                protocol_name,
                leader,
                member_id,
                members,
            },
        )
}

fn sync_group_request() -> impl Strategy<Value = SyncGroupRequest> {
    let assignment = (name(), records()).prop_map(|(member_id, assignment)| SyncGroupAssignment {
        member_id,
        assignment,
    });
    (
        (name(), any::<i32>(), name(), prop::option::of(name())),
        (
            prop::option::of(name()),
            prop::option::of(name()),
            few(assignment),
        ),
    )
        .prop_map(
            |(
                (group_id, generation_id, member_id, group_instance_id),
                (protocol_type, protocol_name, assignments),
            )| SyncGroupRequest {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
                protocol_type,
                protocol_name,
                assignments,
            },
        )
}

fn sync_group_response() -> impl Strategy<Value = SyncGroupResponse> {
    (
        error_code(),
        prop::option::of(name()),
        prop::option::of(name()),
        records(),
    )
        .prop_map(
            |(error_code, protocol_type, protocol_name, assignment)| SyncGroupResponse {
                error_code,
                protocol_type,
                protocol_name,
                assignment,
            },
        )
}

fn heartbeat_request() -> impl Strategy<Value = HeartbeatRequest> {
    (name(), any::<i32>(), name(), prop::option::of(name())).prop_map(
        |(group_id, generation_id, member_id, group_instance_id)| HeartbeatRequest {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        },
    )
}

fn leave_group_request() -> impl Strategy<Value = LeaveGroupRequest> {
    let member = (name(), prop::option::of(name()), prop::option::of(text())).prop_map(
        |(member_id, group_instance_id, reason)| LeavingMember {
            member_id,
            group_instance_id,
            reason,
        },
    );
    (name(), few(member)).prop_map(|(group_id, members)| LeaveGroupRequest { group_id, members })
}

fn leave_group_response() -> impl Strategy<Value = LeaveGroupResponse> {
    let member = (name(), prop::option::of(name()), error_code()).prop_map(
        |(member_id, group_instance_id, error_code)| LeaveGroupMemberResponse {
            member_id,
            group_instance_id,
            error_code,
        },
    );
    few(member).prop_map(|members| LeaveGroupResponse { members })
}

fn describe_groups_response() -> impl Strategy<Value = DescribeGroupsResponse> {
    let member = (
        (name(), prop::option::of(name()), text()),
        (text(), records(), records()),
    )
        .prop_map(
            |((member_id, group_instance_id, client_id), (client_host, metadata, assignment))| {
                DescribedMember {
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    metadata,
                    assignment,
                }
            },
        );
    let group = (
        (error_code(), name(), name()),
        (name(), name(), few(member)),
    )
        .prop_map(
            |((error_code, group_id, state), (protocol_type, protocol, members))| DescribedGroup {
                error_code,
                group_id,
                state,
                protocol_type,
                protocol,
                members,
            },
        );
    few(group).prop_map(|groups| DescribeGroupsResponse { groups })
}

fn list_groups_response() -> impl Strategy<Value = ListGroupsResponse> {
    let group = (name(), name(), name()).prop_map(|(group_id, protocol_type, state)| ListedGroup {
        group_id,
        protocol_type,
        state,
    });
    few(group).prop_map(|groups| ListGroupsResponse { groups })
}

fn delete_groups_response() -> impl Strategy<Value = DeleteGroupsResponse> {
    let result = (name(), error_code()).prop_map(|(group_id, error_code)| DeletedGroup {
        group_id,
        error_code,
    });
    few(result).prop_map(|results| DeleteGroupsResponse { results })
}

fn init_producer_id_response() -> impl Strategy<Value = InitProducerIdResponse> {
    (0..=i64::MAX, 0..=i16::MAX).prop_map(|(producer_id, producer_epoch)| InitProducerIdResponse {
        producer_id,
        producer_epoch,
    })
}

fn code<T: std::fmt::Debug + Clone + 'static>(
    from_code: fn(i8) -> Result<T, ringlog_security::acl::UnknownCode>,
    last: i8,
) -> impl Strategy<Value = T> {
    (1..=last).prop_map(move |code| from_code(code).expect("a code in range"))
}

fn acl_binding() -> impl Strategy<Value = AclBinding> {
    (
        code(ResourceType::from_code, 7),
        text(),
        code(PatternType::from_code, 4),
        text(),
        text(),
        code(Operation::from_code, 14),
        code(Permission::from_code, 3),
    )
        .prop_map(
            |(resource_type, name, pattern_type, principal, host, operation, permission)| {
                AclBinding {
                    pattern: ResourcePattern {
                        resource_type,
                        name,
                        pattern_type,
                    },
                    entry: AccessEntry {
                        principal,
                        host,
                        operation,
                        permission,
                    },
                }
            },
        )
}

fn acl_filter() -> impl Strategy<Value = AclFilter> {
    (
        code(ResourceType::from_code, 7),
        proptest::option::of(text()),
        code(PatternType::from_code, 4),
        proptest::option::of(text()),
        proptest::option::of(text()),
        code(Operation::from_code, 14),
        code(Permission::from_code, 3),
    )
        .prop_map(
            |(resource_type, name, pattern_type, principal, host, operation, permission)| {
                AclFilter {
                    resource_type,
                    name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                }
            },
        )
}

fn entry_result() -> impl Strategy<Value = EntryResult> {
    (error_code(), proptest::option::of(text())).prop_map(|(error_code, error_message)| {
        EntryResult {
            error_code,
            error_message,
        }
    })
}

fn delete_acls_response() -> impl Strategy<Value = DeleteAclsResponse> {
    let result = (
        error_code(),
        proptest::option::of(text()),
        few(acl_binding()),
    )
        .prop_map(|(error_code, error_message, bindings)| DeleteAclsResult {
            error_code,
            error_message,
            bindings,
        });
    few(result).prop_map(|results| DeleteAclsResponse { results })
}

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop_oneof![Just(Mechanism::ScramSha256), Just(Mechanism::ScramSha512)]
}

fn describe_user_scram_credentials_response()
-> impl Strategy<Value = DescribeUserScramCredentialsResponse> {
    let info = (mechanism(), any::<u32>()).prop_map(|(mechanism, iterations)| CredentialInfo {
        mechanism,
        iterations,
    });
    let user = (
        name(),
        error_code(),
        proptest::option::of(text()),
        few(info),
    )
        .prop_map(
            |(name, error_code, error_message, credentials)| UserCredentials {
                name,
                error_code,
                error_message,
                credentials,
            },
        );
    few(user).prop_map(|users| DescribeUserScramCredentialsResponse { users })
}

fn alter_user_scram_credentials_request() -> impl Strategy<Value = AlterUserScramCredentialsRequest>
{
    let deletion =
        (name(), mechanism()).prop_map(|(name, mechanism)| ScramDeletion { name, mechanism });
    let upsertion = (name(), mechanism(), any::<u32>(), records(), records()).prop_map(
        |(name, mechanism, iterations, salt, salted_password)| ScramUpsertion {
            name,
            mechanism,
            iterations,
            salt,
            salted_password,
        },
    );
    (few(deletion), few(upsertion)).prop_map(|(deletions, upsertions)| {
        AlterUserScramCredentialsRequest {
            deletions,
            upsertions,
        }
    })
}

fn alter_user_scram_credentials_response()
-> impl Strategy<Value = AlterUserScramCredentialsResponse> {
    let result = (name(), error_code(), proptest::option::of(text())).prop_map(
        |(name, error_code, error_message)| UserResult {
            name,
            error_code,
            error_message,
        },
    );
    few(result).prop_map(|results| AlterUserScramCredentialsResponse { results })
}

fn sasl_handshake_request() -> impl Strategy<Value = SaslHandshakeRequest> {
    text().prop_map(|mechanism| SaslHandshakeRequest { mechanism })
}

fn sasl_handshake_response() -> impl Strategy<Value = SaslHandshakeResponse> {
    few(text()).prop_map(|mechanisms| SaslHandshakeResponse { mechanisms })
}

fn sasl_authenticate_request() -> impl Strategy<Value = SaslAuthenticateRequest> {
    prop::collection::vec(any::<u8>(), 0..64)
        .prop_map(|auth_bytes| SaslAuthenticateRequest { auth_bytes })
}

fn sasl_authenticate_response() -> impl Strategy<Value = SaslAuthenticateResponse> {
    (prop::collection::vec(any::<u8>(), 0..64), millis()).prop_map(
        |(auth_bytes, session_lifetime)| SaslAuthenticateResponse {
            auth_bytes,
            session_lifetime,
        },
    )
}

fn error_response() -> impl Strategy<Value = ErrorResponse> {
    (
        any::<i16>().prop_filter("an error is not NONE", |code| *code != 0),
        text(),
    )
        .prop_map(|(code, message)| ErrorResponse {
            error_code: ErrorCode(code),
            message,
        })
}

/// Any request and any (non-error) response of the same API.
fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        produce_request().prop_map(Request::Produce),
        fetch_request().prop_map(Request::Fetch),
        list_offsets_request().prop_map(Request::ListOffsets),
        metadata_request().prop_map(Request::Metadata),
        offset_commit_request().prop_map(Request::OffsetCommit),
        offset_fetch_request().prop_map(Request::OffsetFetch),
        Just(Request::ApiVersions(ApiVersionsRequest)),
        create_topics_request().prop_map(Request::CreateTopics),
        delete_topics_request().prop_map(Request::DeleteTopics),
        Just(Request::InitProducerId(InitProducerIdRequest)),
        offset_for_leader_epoch_request().prop_map(Request::OffsetForLeaderEpoch),
        describe_configs_request().prop_map(Request::DescribeConfigs),
        alter_configs_request().prop_map(Request::AlterConfigs),
        join_group_request().prop_map(Request::JoinGroup),
        sync_group_request().prop_map(Request::SyncGroup),
        heartbeat_request().prop_map(Request::Heartbeat),
        leave_group_request().prop_map(Request::LeaveGroup),
        few(name()).prop_map(|groups| Request::DescribeGroups(DescribeGroupsRequest { groups })),
        few(name()).prop_map(|states| Request::ListGroups(ListGroupsRequest { states })),
        few(name()).prop_map(|groups| Request::DeleteGroups(DeleteGroupsRequest { groups })),
        acl_filter().prop_map(|filter| Request::DescribeAcls(DescribeAclsRequest { filter })),
        few(acl_binding()).prop_map(|bindings| Request::CreateAcls(CreateAclsRequest { bindings })),
        few(acl_filter()).prop_map(|filters| Request::DeleteAcls(DeleteAclsRequest { filters })),
        few(name()).prop_map(|users| {
            Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest { users })
        }),
        alter_user_scram_credentials_request().prop_map(Request::AlterUserScramCredentials),
        sasl_handshake_request().prop_map(Request::SaslHandshake),
        sasl_authenticate_request().prop_map(Request::SaslAuthenticate),
    ]
}

fn any_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        produce_response().prop_map(Response::Produce),
        fetch_response().prop_map(Response::Fetch),
        list_offsets_response().prop_map(Response::ListOffsets),
        metadata_response().prop_map(Response::Metadata),
        offset_commit_response().prop_map(Response::OffsetCommit),
        offset_fetch_response().prop_map(Response::OffsetFetch),
        api_versions_response().prop_map(Response::ApiVersions),
        few(topic_result())
            .prop_map(|topics| Response::CreateTopics(CreateTopicsResponse { topics })),
        few(topic_result())
            .prop_map(|topics| Response::DeleteTopics(DeleteTopicsResponse { topics })),
        init_producer_id_response().prop_map(Response::InitProducerId),
        offset_for_leader_epoch_response().prop_map(Response::OffsetForLeaderEpoch),
        describe_configs_response().prop_map(Response::DescribeConfigs),
        few(topic_result())
            .prop_map(|topics| Response::AlterConfigs(AlterConfigsResponse { topics })),
        join_group_response().prop_map(Response::JoinGroup),
        sync_group_response().prop_map(Response::SyncGroup),
        error_code().prop_map(|error_code| Response::Heartbeat(HeartbeatResponse { error_code })),
        leave_group_response().prop_map(Response::LeaveGroup),
        describe_groups_response().prop_map(Response::DescribeGroups),
        list_groups_response().prop_map(Response::ListGroups),
        delete_groups_response().prop_map(Response::DeleteGroups),
        few(acl_binding())
            .prop_map(|bindings| Response::DescribeAcls(DescribeAclsResponse { bindings })),
        few(entry_result())
            .prop_map(|results| Response::CreateAcls(CreateAclsResponse { results })),
        delete_acls_response().prop_map(Response::DeleteAcls),
        describe_user_scram_credentials_response().prop_map(Response::DescribeUserScramCredentials),
        alter_user_scram_credentials_response().prop_map(Response::AlterUserScramCredentials),
        sasl_handshake_response().prop_map(Response::SaslHandshake),
        sasl_authenticate_response().prop_map(Response::SaslAuthenticate),
        error_response().prop_map(Response::Error),
    ]
}

// ---------------------------------------------------------------------------------------------
// Round trips.

/// The newest version of `api_key` this build speaks: the one that carries every field.
fn newest(api_key: ApiKey) -> u16 {
    api_key.versions().expect("a known api").max
}

/// Encodes `request` as a frame at `version`, cuts the frame out of a stream that holds it
/// followed by more bytes, and decodes it.
fn request_round_trip(
    request: &Request,
    version: u16,
    correlation_id: u32,
) -> Result<(), TestCaseError> {
    let frame = encode_request(request, version, CorrelationId(correlation_id))?;
    let mut stream = BytesMut::from(&frame[..]);
    stream.extend_from_slice(&[1, 2, 3]);
    let (header, body) = split_request_frame(&mut stream, MAX_FRAME)?.expect("a whole frame");
    prop_assert_eq!(&stream[..], &[1, 2, 3], "exactly one frame was taken");
    prop_assert_eq!(header.api_key, request.api_key());
    prop_assert_eq!(header.api_version, version);
    prop_assert_eq!(header.correlation_id, CorrelationId(correlation_id));
    prop_assert_eq!(&decode_request(&header, body)?, request);
    Ok(())
}

/// As [`request_round_trip`], for a response to a request of `api_key` at `version`.
fn response_round_trip(
    api_key: ApiKey,
    version: u16,
    response: &Response,
    correlation_id: u32,
) -> Result<(), TestCaseError> {
    let frame = encode_response(response, version, CorrelationId(correlation_id))?;
    let mut stream = BytesMut::from(&frame[..]);
    stream.extend_from_slice(&[9]);
    let (id, body) = split_response_frame(&mut stream, MAX_FRAME)?.expect("a whole frame");
    prop_assert_eq!(&stream[..], &[9]);
    prop_assert_eq!(id, CorrelationId(correlation_id));
    prop_assert_eq!(&decode_response(api_key, version, body)?, response);
    Ok(())
}

/// One round-trip test per API, at its newest version: its request, its response, and an
/// error response to it.
macro_rules! round_trip {
    ($($test:ident: $key:ident, $request:expr, $response:expr;)*) => {$(
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]
            #[test]
            fn $test(
                request in $request,
                response in $response,
                error in error_response(),
                correlation_id in any::<u32>(),
            ) {
                prop_assert_eq!(request.api_key(), ApiKey::$key);
                prop_assert_eq!(response.api_key(), Some(ApiKey::$key));
                let version = newest(ApiKey::$key);
                request_round_trip(&request, version, correlation_id)?;
                response_round_trip(ApiKey::$key, version, &response, correlation_id)?;
                response_round_trip(ApiKey::$key, version, &Response::Error(error), correlation_id)?;
            }
        }
    )*};
}

round_trip! {
    produce_round_trips: PRODUCE,
        produce_request().prop_map(Request::Produce),
        produce_response().prop_map(Response::Produce);
    fetch_round_trips: FETCH,
        fetch_request().prop_map(Request::Fetch),
        fetch_response().prop_map(Response::Fetch);
    list_offsets_round_trips: LIST_OFFSETS,
        list_offsets_request().prop_map(Request::ListOffsets),
        list_offsets_response().prop_map(Response::ListOffsets);
    metadata_round_trips: METADATA,
        metadata_request().prop_map(Request::Metadata),
        metadata_response().prop_map(Response::Metadata);
    offset_commit_round_trips: OFFSET_COMMIT,
        offset_commit_request().prop_map(Request::OffsetCommit),
        offset_commit_response().prop_map(Response::OffsetCommit);
    offset_fetch_round_trips: OFFSET_FETCH,
        offset_fetch_request().prop_map(Request::OffsetFetch),
        offset_fetch_response().prop_map(Response::OffsetFetch);
    api_versions_round_trips: API_VERSIONS,
        Just(Request::ApiVersions(ApiVersionsRequest)),
        api_versions_response().prop_map(Response::ApiVersions);
    create_topics_round_trips: CREATE_TOPICS,
        create_topics_request().prop_map(Request::CreateTopics),
        few(topic_result()).prop_map(|topics| Response::CreateTopics(CreateTopicsResponse { topics }));
    delete_topics_round_trips: DELETE_TOPICS,
        delete_topics_request().prop_map(Request::DeleteTopics),
        few(topic_result()).prop_map(|topics| Response::DeleteTopics(DeleteTopicsResponse { topics }));
    init_producer_id_round_trips: INIT_PRODUCER_ID,
        Just(Request::InitProducerId(InitProducerIdRequest)),
        init_producer_id_response().prop_map(Response::InitProducerId);
    offset_for_leader_epoch_round_trips: OFFSET_FOR_LEADER_EPOCH,
        offset_for_leader_epoch_request().prop_map(Request::OffsetForLeaderEpoch),
        offset_for_leader_epoch_response().prop_map(Response::OffsetForLeaderEpoch);
    describe_configs_round_trips: DESCRIBE_CONFIGS,
        describe_configs_request().prop_map(Request::DescribeConfigs),
        describe_configs_response().prop_map(Response::DescribeConfigs);
    alter_configs_round_trips: ALTER_CONFIGS,
        alter_configs_request().prop_map(Request::AlterConfigs),
        few(topic_result()).prop_map(|topics| Response::AlterConfigs(AlterConfigsResponse { topics }));
    join_group_round_trips: JOIN_GROUP,
        join_group_request().prop_map(Request::JoinGroup),
        join_group_response().prop_map(Response::JoinGroup);
    sync_group_round_trips: SYNC_GROUP,
        sync_group_request().prop_map(Request::SyncGroup),
        sync_group_response().prop_map(Response::SyncGroup);
    heartbeat_round_trips: HEARTBEAT,
        heartbeat_request().prop_map(Request::Heartbeat),
        error_code().prop_map(|error_code| Response::Heartbeat(HeartbeatResponse { error_code }));
    leave_group_round_trips: LEAVE_GROUP,
        leave_group_request().prop_map(Request::LeaveGroup),
        leave_group_response().prop_map(Response::LeaveGroup);
    describe_groups_round_trips: DESCRIBE_GROUPS,
        few(name()).prop_map(|groups| Request::DescribeGroups(DescribeGroupsRequest { groups })),
        describe_groups_response().prop_map(Response::DescribeGroups);
    list_groups_round_trips: LIST_GROUPS,
        few(name()).prop_map(|states| Request::ListGroups(ListGroupsRequest { states })),
        list_groups_response().prop_map(Response::ListGroups);
    delete_groups_round_trips: DELETE_GROUPS,
        few(name()).prop_map(|groups| Request::DeleteGroups(DeleteGroupsRequest { groups })),
        delete_groups_response().prop_map(Response::DeleteGroups);
    describe_acls_round_trips: DESCRIBE_ACLS,
        acl_filter().prop_map(|filter| Request::DescribeAcls(DescribeAclsRequest { filter })),
        few(acl_binding()).prop_map(|bindings| Response::DescribeAcls(DescribeAclsResponse { bindings }));
    create_acls_round_trips: CREATE_ACLS,
        few(acl_binding()).prop_map(|bindings| Request::CreateAcls(CreateAclsRequest { bindings })),
        few(entry_result()).prop_map(|results| Response::CreateAcls(CreateAclsResponse { results }));
    delete_acls_round_trips: DELETE_ACLS,
        few(acl_filter()).prop_map(|filters| Request::DeleteAcls(DeleteAclsRequest { filters })),
        delete_acls_response().prop_map(Response::DeleteAcls);
    describe_user_scram_credentials_round_trips: DESCRIBE_USER_SCRAM_CREDENTIALS,
        few(name()).prop_map(|users| Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest { users })),
        describe_user_scram_credentials_response().prop_map(Response::DescribeUserScramCredentials);
    alter_user_scram_credentials_round_trips: ALTER_USER_SCRAM_CREDENTIALS,
        alter_user_scram_credentials_request().prop_map(Request::AlterUserScramCredentials),
        alter_user_scram_credentials_response().prop_map(Response::AlterUserScramCredentials);
    sasl_handshake_round_trips: SASL_HANDSHAKE,
        sasl_handshake_request().prop_map(Request::SaslHandshake),
        sasl_handshake_response().prop_map(Response::SaslHandshake);
    sasl_authenticate_round_trips: SASL_AUTHENTICATE,
        sasl_authenticate_request().prop_map(Request::SaslAuthenticate),
        sasl_authenticate_response().prop_map(Response::SaslAuthenticate);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// OffsetCommit v0 carries no member: a request without one round-trips at v0 (and the v0
    /// bytes are the v1 bytes less the member fields), one with a member is refused at v0
    /// rather than sent without it.
    #[test]
    fn offset_commit_round_trips_at_version_0_without_a_member(
        request in offset_commit_request(),
        response in offset_commit_response(),
        correlation_id in any::<u32>(),
    ) {
        let assign_mode = OffsetCommitRequest {
            generation_id: NO_GENERATION,
            member_id: String::new(),
            group_instance_id: None,
            ..request.clone()
        };
        request_round_trip(&Request::OffsetCommit(assign_mode.clone()), 0, correlation_id)?;
        response_round_trip(ApiKey::OFFSET_COMMIT, 0, &Response::OffsetCommit(response), correlation_id)?;
        let v0 = encode_request(&Request::OffsetCommit(assign_mode.clone()), 0, CorrelationId(1))?;
        let v1 = encode_request(&Request::OffsetCommit(assign_mode), 1, CorrelationId(1))?;
        // v1 adds generation_id (4), member_id "" (2) and a null group_instance_id (2).
        prop_assert_eq!(&v1[REQUEST_HEADER_LEN..v1.len() - 8], &v0[REQUEST_HEADER_LEN..]);
        let has_member = request.generation_id != NO_GENERATION
            || !request.member_id.is_empty()
            || request.group_instance_id.is_some();
        let at_v0 = encode_request(&Request::OffsetCommit(request), 0, CorrelationId(1));
        prop_assert_eq!(at_v0.is_err(), has_member);
    }
}

/// Records a broker sends from a file: the encoder only ever asks for their length.
struct FileSlice {
    len: usize,
}

impl RecordsSource for FileSlice {
    fn len(&self) -> usize {
        self.len
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The zero-copy encoding, its pieces filled in with the record bytes, is the same frame
    /// as the in-memory encoding and decodes to the same response, whose records are slices
    /// of the received frame.
    #[test]
    fn fetch_response_pieces_filled_in_round_trip(
        response in fetch_response(),
        correlation_id in any::<u32>(),
    ) {
        let frame = encode_fetch_response(&response, 0, CorrelationId(correlation_id))?;
        let mut filled = Vec::new();
        for piece in &frame.pieces {
            match piece {
                Piece::Bytes(bytes) => {
                    prop_assert!(!bytes.is_empty());
                    filled.extend_from_slice(bytes);
                }
                Piece::Records { topic_position, partition_position, len } => {
                    let records = &response.topics[*topic_position].partitions
                        [*partition_position].records;
                    prop_assert_eq!(records.len(), *len);
                    prop_assert!(*len > 0, "empty records get no piece");
                    filled.extend_from_slice(records);
                }
            }
        }
        prop_assert_eq!(filled.len(), frame.frame_len);
        prop_assert_eq!(&filled, &frame.assemble(&response));
        let in_memory = encode_response(
            &Response::Fetch(response.clone()), 0, CorrelationId(correlation_id))?;
        prop_assert_eq!(&filled, &in_memory);

        let received = Bytes::from(filled);
        let body = received.slice(RESPONSE_HEADER_LEN..);
        let Response::Fetch(decoded) = decode_response(ApiKey::FETCH, 0, body)? else {
            return Err(TestCaseError::fail("not a fetch response"));
        };
        prop_assert_eq!(&decoded, &response);
        let frame_range = received.as_ptr_range();
        for topic in &decoded.topics {
            for partition in topic.partitions.iter().filter(|p| !p.records.is_empty()) {
                let records = partition.records.as_ptr_range();
                prop_assert!(
                    frame_range.start <= records.start && records.end <= frame_range.end,
                    "records are a slice of the received frame"
                );
            }
        }
    }

    /// A response whose records are not in memory encodes to pieces whose lengths add up:
    /// the frame's length is known before any record byte is read.
    #[test]
    fn fetch_response_pieces_need_only_record_lengths(
        lens in prop::collection::vec(0..100_000usize, 0..8),
    ) {
        let partitions = lens.iter().enumerate().map(|(i, &len)| FetchPartitionResponse {
            partition_index: i as u32,
            error_code: ErrorCode::NONE,
            high_watermark: Some(Offset(1)),
            log_start_offset: Some(Offset(0)),
            log_end_offset: Some(Offset(1)),
            diverging_epoch: None,
            records: FileSlice { len },
        }).collect();
        let response = FetchResponse {
            topics: vec![Topic { name: "t".to_string(), partitions }],
        };
        let frame = encode_fetch_response(&response, 0, CorrelationId(1))?;
        let records_total: usize = lens.iter().sum();
        let headers = RESPONSE_HEADER_LEN + 2 + 4 + 2 + 1 + 4 + lens.len() * response_partition::HEADER_LEN;
        prop_assert_eq!(frame.frame_len, headers + records_total);
        prop_assert_eq!(frame.pieces.iter().map(Piece::len).sum::<usize>(), frame.frame_len);
        let Piece::Bytes(first) = &frame.pieces[0] else {
            return Err(TestCaseError::fail("the first piece is the header"));
        };
        let length = u32::from_be_bytes(first[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(length + 4, frame.frame_len);
        let markers: Vec<usize> = frame.pieces.iter().filter_map(|piece| match piece {
            Piece::Records { len, .. } => Some(*len),
            Piece::Bytes(_) => None,
        }).collect();
        let non_empty: Vec<usize> = lens.iter().copied().filter(|&len| len > 0).collect();
        prop_assert_eq!(markers, non_empty);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoders never panic.

/// Every known api key, a few unknown ones, each at versions 0 to 2.
fn any_header() -> impl Strategy<Value = (ApiKey, u16)> {
    let known = prop::sample::select(SUPPORTED_APIS.map(|api| api.api_key).to_vec());
    let key = prop_oneof![4 => known, 1 => any::<u16>().prop_map(ApiKey)];
    (key, 0..3u16)
}

/// Decodes `body` as a request: an error is one the broker answers (it never closes the
/// connection), and a success re-encodes to the same body.
fn check_request_body(api_key: ApiKey, api_version: u16, body: &[u8]) -> Result<(), TestCaseError> {
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id: CorrelationId(0),
    };
    match decode_request(&header, Bytes::copy_from_slice(body)) {
        Ok(request) => {
            let frame = encode_request(&request, api_version, CorrelationId(0))?;
            prop_assert_eq!(&frame[REQUEST_HEADER_LEN..], body);
        }
        Err(error) => {
            prop_assert!(!error.closes_connection(), "{}", error);
            prop_assert_ne!(error.error_code(), ErrorCode::NONE);
        }
    }
    Ok(())
}

/// Decodes `body` as a response; a success re-encodes to the same body.
fn check_response_body(
    api_key: ApiKey,
    api_version: u16,
    body: &[u8],
) -> Result<(), TestCaseError> {
    match decode_response(api_key, api_version, Bytes::copy_from_slice(body)) {
        Ok(response) => {
            let frame = encode_response(&response, api_version, CorrelationId(0))?;
            prop_assert_eq!(&frame[RESPONSE_HEADER_LEN..], body);
        }
        Err(error) => prop_assert!(!error.to_string().is_empty()),
    }
    Ok(())
}

/// Cuts frames out of `stream` until it runs dry or fails: every frame is within the stream
/// and as long as its length field says; a failure closes the connection.
fn check_frames(stream: &[u8], header_len: usize, request: bool) -> Result<(), TestCaseError> {
    let mut rest = stream;
    loop {
        let found = if request {
            decode_request_frame(rest, 4096).map(|f| f.map(|f| f.frame_len))
        } else {
            decode_response_frame(rest, 4096).map(|f| f.map(|f| f.frame_len))
        };
        match found {
            Ok(Some(frame_len)) => {
                prop_assert!(frame_len >= header_len && frame_len <= rest.len());
                let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                prop_assert_eq!(frame_len, length + 4);
                rest = &rest[frame_len..];
            }
            Ok(None) => {
                let complete = rest.len() >= 4
                    && rest.len() >= 4 + u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                prop_assert!(!complete, "a whole frame was reported incomplete");
                return Ok(());
            }
            Err(error) => {
                prop_assert!(error.closes_connection(), "{}", error);
                return Ok(());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES * 4))]

    #[test]
    fn decoding_arbitrary_bodies_never_panics(
        (api_key, api_version) in any_header(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        check_request_body(api_key, api_version, &body)?;
        check_response_body(api_key, api_version, &body)?;
    }

    #[test]
    fn framing_arbitrary_streams_never_panics(
        stream in prop::collection::vec(any::<u8>(), 0..64),
        small_lengths in prop::collection::vec(0u8..24, 0..4),
    ) {
        // Arbitrary bytes, and frames with small length fields so whole frames occur.
        let mut framed = Vec::new();
        for len in small_lengths {
            framed.extend_from_slice(&u32::from(len).to_be_bytes());
            framed.extend(std::iter::repeat_n(0xab, usize::from(len)));
        }
        for bytes in [&stream, &framed] {
            check_frames(bytes, REQUEST_HEADER_LEN, true)?;
            check_frames(bytes, RESPONSE_HEADER_LEN, false)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A valid request frame cut short is never a whole frame; its body cut short or with a
    /// bit flipped decodes or is refused, never panics.
    #[test]
    fn truncated_and_flipped_requests_never_panic(
        request in any_request(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let version = newest(request.api_key());
        let frame = encode_request(&request, version, CorrelationId(1))?;
        let short = &frame[..cut.index(frame.len())];
        prop_assert_eq!(decode_request_frame(short, MAX_FRAME)?, None);
        let body = &frame[REQUEST_HEADER_LEN..];
        check_request_body(request.api_key(), version, &body[..cut.index(body.len() + 1)])?;
        let mut flipped = frame.clone();
        flipped[flip.index(frame.len())] ^= 1 << bit;
        check_frames(&flipped, REQUEST_HEADER_LEN, true)?;
        if let Some(header) = RequestHeader::decode(&flipped) {
            check_request_body(header.api_key, header.api_version, &flipped[REQUEST_HEADER_LEN..])?;
        }
    }

    /// The same for responses, decoded as answers to their own API.
    #[test]
    fn truncated_and_flipped_responses_never_panic(
        response in any_response(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let api_key = response.api_key().unwrap_or(ApiKey::PRODUCE);
        let version = newest(api_key);
        let frame = encode_response(&response, version, CorrelationId(1))?;
        let short = &frame[..cut.index(frame.len())];
        prop_assert_eq!(decode_response_frame(short, MAX_FRAME)?, None);
        let body = &frame[RESPONSE_HEADER_LEN..];
        check_response_body(api_key, version, &body[..cut.index(body.len() + 1)])?;
        let mut flipped = frame.clone();
        flipped[flip.index(frame.len())] ^= 1 << bit;
        check_frames(&flipped, RESPONSE_HEADER_LEN, false)?;
        check_response_body(api_key, version, &flipped[RESPONSE_HEADER_LEN..])?;
    }
}

// ---------------------------------------------------------------------------------------------
// Known layouts.

/// Kafka's CreateTopics: a count left out is -1 (the broker's default), `num_partitions` an i32
/// and `replication_factor` an i16; any other negative count is refused.
#[test]
fn create_topics_counts_left_out_are_minus_one_and_other_negatives_are_refused() {
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "t".to_string(),
            num_partitions: None,
            replication_factor: Some(3),
            configs: vec![],
        }],
        timeout: Duration::from_millis(100),
        validate_only: false,
    });
    let frame = encode_request(&request, 0, CorrelationId(1)).unwrap();
    let mut body = 1u32.to_be_bytes().to_vec(); // 1 topic
    body.extend_from_slice(&[0, 1, b't']);
    body.extend_from_slice(&(-1i32).to_be_bytes()); // num_partitions: the default
    body.extend_from_slice(&3i16.to_be_bytes()); // replication_factor
    body.extend_from_slice(&0u32.to_be_bytes()); // no configs
    body.extend_from_slice(&100u32.to_be_bytes()); // timeout_ms
    body.push(0); // validate_only
    assert_eq!(&frame[REQUEST_HEADER_LEN..], &body[..]);
    let header = RequestHeader {
        api_key: ApiKey::CREATE_TOPICS,
        api_version: 0,
        correlation_id: CorrelationId(1),
    };
    assert_eq!(
        decode_request(&header, Bytes::from(body.clone())).unwrap(),
        request
    );
    body[7..11].copy_from_slice(&(-2i32).to_be_bytes());
    let error = decode_request(&header, Bytes::from(body)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid num_partitions -2: expected a count of at least 0, or -1"
    );
    assert_eq!(error.error_code(), ErrorCode::INVALID_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Hostile lengths.

#[test]
fn a_produce_request_claiming_gigabytes_of_records_is_refused_without_allocating_them() {
    let mut body = vec![0, 1, 0, 0, 0, 100]; // acks 1, timeout 100 ms
    body.extend_from_slice(&1u32.to_be_bytes()); // 1 topic
    body.extend_from_slice(&[0, 1, b't']);
    body.extend_from_slice(&1u32.to_be_bytes()); // 1 partition
    body.extend_from_slice(&0u32.to_be_bytes()); // partition 0
    body.extend_from_slice(&0xffff_fff0u32.to_be_bytes()); // records: ~4 GiB
    let header = RequestHeader {
        api_key: ApiKey::PRODUCE,
        api_version: 0,
        correlation_id: CorrelationId(1),
    };
    let error = decode_request(&header, Bytes::from(body)).unwrap_err();
    assert_eq!(
        error,
        WireError::Truncated {
            field: "records",
            needed: 0xffff_fff0,
            remaining: 0
        }
    );
    assert_eq!(error.error_code(), ErrorCode::INVALID_REQUEST);
}

#[test]
fn a_metadata_response_claiming_billions_of_brokers_is_refused_before_allocating() {
    let mut body = vec![0, 0]; // error code NONE
    body.extend_from_slice(&0xffff_fffeu32.to_be_bytes());
    body.extend_from_slice(&[0; 16]);
    let error = decode_response(ApiKey::METADATA, 0, Bytes::from(body)).unwrap_err();
    assert!(
        matches!(
            error,
            WireError::CountTooLarge {
                field: "brokers",
                count: 0xffff_fffe,
                remaining: 16,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_join_group_response_claiming_billions_of_members_is_refused_before_allocating() {
    let mut body = vec![0, 0]; // the response's error code NONE
    body.extend_from_slice(&[0, 0]); // error_code NONE
    body.extend_from_slice(&1i32.to_be_bytes()); // generation_id
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // protocol type and name: null
    body.extend_from_slice(&[0, 0, 0, 0]); // leader and member_id: ""
    body.extend_from_slice(&0xffff_fffeu32.to_be_bytes()); // members
    body.extend_from_slice(&[0; 16]);
    let error = decode_response(ApiKey::JOIN_GROUP, 0, Bytes::from(body)).unwrap_err();
    assert!(
        matches!(
            error,
            WireError::CountTooLarge {
                field: "members",
                count: 0xffff_fffe,
                remaining: 16,
                ..
            }
        ),
        "{error}"
    );
}

/// A heartbeat's layout, byte by byte: the group's error code follows the response's own.
#[test]
fn heartbeat_known_answer() {
    let request = Request::Heartbeat(HeartbeatRequest {
        group_id: "g".to_string(),
        generation_id: 2,
        member_id: "m".to_string(),
        group_instance_id: None,
    });
    let frame = encode_request(&request, 0, CorrelationId(1)).unwrap();
    assert_eq!(
        &frame[REQUEST_HEADER_LEN..],
        [0, 1, b'g', 0, 0, 0, 2, 0, 1, b'm', 0xff, 0xff]
    );
    let response = Response::Heartbeat(HeartbeatResponse {
        error_code: ErrorCode::ILLEGAL_GENERATION,
    });
    let frame = encode_response(&response, 0, CorrelationId(1)).unwrap();
    assert_eq!(&frame[RESPONSE_HEADER_LEN..], [0, 0, 0, 22]);
}

/// InitProducerId's layout, byte by byte: an empty request, then the id and the epoch; a
/// negative id or epoch is refused both ways.
#[test]
fn init_producer_id_known_answer() {
    let request = Request::InitProducerId(InitProducerIdRequest);
    let frame = encode_request(&request, 0, CorrelationId(1)).unwrap();
    assert_eq!(&frame[4..6], &22u16.to_be_bytes());
    assert_eq!(frame.len(), REQUEST_HEADER_LEN);
    let response = Response::InitProducerId(InitProducerIdResponse {
        producer_id: 0x0102,
        producer_epoch: 3,
    });
    let frame = encode_response(&response, 0, CorrelationId(1)).unwrap();
    assert_eq!(
        &frame[RESPONSE_HEADER_LEN..],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 3]
    );
    let negative = Response::InitProducerId(InitProducerIdResponse {
        producer_id: -1,
        producer_epoch: 0,
    });
    let error = encode_response(&negative, 0, CorrelationId(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid producer_id -1: expected a producer id of at least 0"
    );
    let body = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
    let error = decode_response(ApiKey::INIT_PRODUCER_ID, 0, body).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid producer_epoch -1: expected a producer epoch of at least 0"
    );
}
