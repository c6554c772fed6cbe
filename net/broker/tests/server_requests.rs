//! The broker server in-process on a real socket on 127.0.0.1 (port 0) with real logs in a
//! temporary directory: every request goes through the wire codec, the io_uring shards and
//! the engine, and back. (The `ringlog broker` process tests are in the tools crate.)

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use metrics_exporter_prometheus::PrometheusHandle;
use ringlog_broker::{Broker, ServerOptions};
use ringlog_engine::format::{BatchBuilder, Record, RecordIter};
use ringlog_engine::{LeaderEpoch, Offset};
use ringlog_security::acl::{
    AccessEntry, AclBinding, AclFilter, Operation, PatternType, Permission, ResourcePattern,
    ResourceType,
};
use ringlog_security::scram::Mechanism;
use ringlog_wire::api::Topic;
use ringlog_wire::api::alter_configs::{AlterConfigsRequest, AlterConfigsTopic, ConfigChange};
use ringlog_wire::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, ScramDeletion,
};
use ringlog_wire::api::api_versions::ApiVersionsRequest;
use ringlog_wire::api::create_acls::CreateAclsRequest;
use ringlog_wire::api::create_topics::{ConfigValue, CreatableTopic, CreateTopicsRequest};
use ringlog_wire::api::delete_acls::DeleteAclsRequest;
use ringlog_wire::api::delete_groups::DeleteGroupsRequest;
use ringlog_wire::api::delete_topics::DeleteTopicsRequest;
use ringlog_wire::api::describe_acls::DescribeAclsRequest;
use ringlog_wire::api::describe_configs::{DescribeConfigsRequest, DescribeConfigsTopic};
use ringlog_wire::api::describe_groups::{DescribeGroupsRequest, DescribedGroup};
use ringlog_wire::api::describe_user_scram_credentials::DescribeUserScramCredentialsRequest;
use ringlog_wire::api::fetch::{FetchPartition, FetchRequest};
use ringlog_wire::api::heartbeat::HeartbeatRequest;
use ringlog_wire::api::init_producer_id::InitProducerIdRequest;
use ringlog_wire::api::join_group::{JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse};
use ringlog_wire::api::leave_group::{LeaveGroupRequest, LeavingMember};
use ringlog_wire::api::list_groups::{ListGroupsRequest, ListedGroup};
use ringlog_wire::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest, OffsetSpec};
use ringlog_wire::api::metadata::MetadataRequest;
use ringlog_wire::api::offset_commit::{NO_GENERATION, OffsetCommitPartition, OffsetCommitRequest};
use ringlog_wire::api::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use ringlog_wire::api::offset_for_leader_epoch::{
    OffsetForLeaderEpochPartition, OffsetForLeaderEpochRequest,
};
use ringlog_wire::api::produce::{Acks, ProducePartition, ProduceRequest};
use ringlog_wire::api::sasl_authenticate::SaslAuthenticateRequest;
use ringlog_wire::api::sasl_handshake::SaslHandshakeRequest;
use ringlog_wire::api::sync_group::{SyncGroupAssignment, SyncGroupRequest, SyncGroupResponse};
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_response_frame};
use ringlog_wire::{
    ApiKey, CorrelationId, ErrorCode, Request, Response, SUPPORTED_APIS, decode_response,
    encode_request,
};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Harness {
    _dir: tempfile::TempDir,
    broker: Option<Broker>,
}

/// A broker's options: listening on 127.0.0.1 (port 0), its data in `dir`, `shards` shards.
fn options(dir: &std::path::Path, shards: usize) -> ServerOptions {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut options = ServerOptions::new(dir.to_path_buf(), listen);
    options.shards = shards;
    options
}

/// A connection to `broker`.
fn connect_to(broker: &Broker) -> Client {
    let stream = TcpStream::connect(broker.local_addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    Client {
        stream,
        buffer: BytesMut::new(),
        next: 0,
    }
}

impl Harness {
    fn start(shards: usize) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(options(dir.path(), shards)).expect("broker starts");
        broker.wait_ready(TIMEOUT).expect("broker registers");
        Harness {
            _dir: dir,
            broker: Some(broker),
        }
    }

    fn connect(&self) -> Client {
        connect_to(self.broker.as_ref().unwrap())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.stop().expect("clean stop");
        }
    }
}

struct Client {
    stream: TcpStream,
    buffer: BytesMut,
    next: u32,
}

impl Client {
    fn send(&mut self, request: &Request) -> u32 {
        self.send_at(request, 0)
    }

    /// Sends `request` at `version` of its API (the response's layout is the same at every
    /// version the tests use).
    fn send_at(&mut self, request: &Request, version: u16) -> u32 {
        self.next += 1;
        let frame = encode_request(request, version, CorrelationId(self.next)).unwrap();
        self.stream.write_all(&frame).unwrap();
        self.next
    }

    fn receive(&mut self, request: &Request, correlation: u32) -> Response {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some((id, body)) =
                split_response_frame(&mut self.buffer, MAX_FRAME_BYTES_DEFAULT).unwrap()
            {
                assert_eq!(
                    id,
                    CorrelationId(correlation),
                    "responses come in request order"
                );
                return decode_response(request.api_key(), 0, body).unwrap();
            }
            assert!(Instant::now() < deadline, "no response in time");
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the broker closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn call(&mut self, request: Request) -> Response {
        let correlation = self.send(&request);
        self.receive(&request, correlation)
    }
}

fn create(client: &mut Client, name: &str, partitions: u32) {
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: Some(partitions),
            replication_factor: Some(1),
            configs: vec![],
        }],
        timeout: TIMEOUT,
        validate_only: false,
    });
    let Response::CreateTopics(response) = client.call(request) else {
        panic!("not a create topics response")
    };
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::NONE,
        "{:?}",
        response.topics[0]
    );
}

fn batch(values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new();
    for value in values {
        builder.push(&Record {
            value: Some(value.as_bytes()),
            timestamp: 1_700_000_000_000,
            ..Record::default()
        });
    }
    Bytes::from(builder.finish())
}

fn produce(
    client: &mut Client,
    topic: &str,
    partition: u32,
    records: Bytes,
) -> (ErrorCode, Option<Offset>) {
    let request = Request::Produce(ProduceRequest {
        acks: Acks::All,
        timeout: TIMEOUT,
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: vec![ProducePartition {
                partition_index: partition,
                records,
            }],
        }],
    });
    let Response::Produce(response) = client.call(request) else {
        panic!("not a produce response")
    };
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.base_offset)
}

fn fetch_request(topic: &str, partition: u32, offset: u64, max_wait: Duration) -> Request {
    Request::Fetch(FetchRequest {
        replica_id: None,
        max_wait,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: vec![FetchPartition {
                partition_index: partition,
                current_leader_epoch: None,
                fetch_offset: Offset(offset),
                last_fetched_epoch: None,
                log_start_offset: None,
                partition_max_bytes: 1 << 20,
            }],
        }],
    })
}

fn values(records: &[u8]) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let len = 12 + u32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (batch, tail) = rest.split_at(len);
        for record in RecordIter::new(batch).unwrap() {
            values.push(String::from_utf8(record.unwrap().value.unwrap().to_vec()).unwrap());
        }
        rest = tail;
    }
    values
}

/// A small valid request of `api_key`, about topic `t` (partition 0 holds a record).
fn sample_request(api_key: ApiKey) -> Request {
    fn topic<P>(partitions: Vec<P>) -> Topic<P> {
        Topic {
            name: "t".to_string(),
            partitions,
        }
    }
    match api_key {
        ApiKey::PRODUCE => Request::Produce(ProduceRequest {
            acks: Acks::Leader,
            timeout: TIMEOUT,
            topics: vec![topic(vec![ProducePartition {
                partition_index: 0,
                records: batch(&["sample"]),
            }])],
        }),
        ApiKey::FETCH => fetch_request("t", 0, 0, Duration::ZERO),
        ApiKey::LIST_OFFSETS => Request::ListOffsets(ListOffsetsRequest {
            topics: vec![topic(vec![ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: None,
                spec: OffsetSpec::Latest,
            }])],
        }),
        ApiKey::METADATA => Request::Metadata(MetadataRequest { topics: None }),
        ApiKey::OFFSET_COMMIT => Request::OffsetCommit(OffsetCommitRequest {
            group_id: "g".to_string(),
            topics: vec![topic(vec![OffsetCommitPartition {
                partition_index: 0,
                committed_offset: Offset(0),
                committed_leader_epoch: None,
                committed_metadata: None,
            }])],
            generation_id: NO_GENERATION,
            member_id: String::new(),
            group_instance_id: None,
        }),
        ApiKey::OFFSET_FETCH => Request::OffsetFetch(OffsetFetchRequest {
            group_id: "g".to_string(),
            topics: None,
        }),
        ApiKey::API_VERSIONS => Request::ApiVersions(ApiVersionsRequest),
        ApiKey::CREATE_TOPICS => Request::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "sample".to_string(),
                num_partitions: Some(1),
                replication_factor: Some(1),
                configs: vec![],
            }],
            timeout: TIMEOUT,
            validate_only: true,
        }),
        ApiKey::DELETE_TOPICS => Request::DeleteTopics(DeleteTopicsRequest {
            topic_names: vec!["missing".to_string()],
            timeout: TIMEOUT,
        }),
        ApiKey::INIT_PRODUCER_ID => Request::InitProducerId(InitProducerIdRequest),
        ApiKey::OFFSET_FOR_LEADER_EPOCH => {
            Request::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
                replica_id: None,
                topics: vec![topic(vec![OffsetForLeaderEpochPartition {
                    partition_index: 0,
                    current_leader_epoch: None,
                    leader_epoch: LeaderEpoch(0),
                }])],
            })
        }
        ApiKey::DESCRIBE_CONFIGS => Request::DescribeConfigs(DescribeConfigsRequest {
            topics: vec![DescribeConfigsTopic {
                name: "t".to_string(),
                config_keys: None,
            }],
        }),
        ApiKey::ALTER_CONFIGS => Request::AlterConfigs(AlterConfigsRequest {
            topics: vec![AlterConfigsTopic {
                name: "t".to_string(),
                configs: vec![],
            }],
            validate_only: true,
        }),
        ApiKey::JOIN_GROUP => Request::JoinGroup(JoinGroupRequest {
            group_id: "sample".to_string(),
            client_id: "sample-client".to_string(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: String::new(),
            group_instance_id: None,
            protocol_type: "consumer".to_string(),
            protocols: vec![JoinGroupProtocol {
                name: "range".to_string(),
                metadata: Bytes::new(),
            }],
        }),
        ApiKey::HEARTBEAT => Request::Heartbeat(HeartbeatRequest {
            group_id: "sample".to_string(),
            generation_id: 1,
            member_id: "m".to_string(),
            group_instance_id: None,
        }),
        ApiKey::LEAVE_GROUP => Request::LeaveGroup(LeaveGroupRequest {
            group_id: "sample".to_string(),
            members: vec![LeavingMember {
                member_id: "m".to_string(),
                group_instance_id: None,
                reason: None,
            }],
        }),
        ApiKey::SYNC_GROUP => Request::SyncGroup(SyncGroupRequest {
            group_id: "sample".to_string(),
            generation_id: 1,
            member_id: "m".to_string(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        }),
        ApiKey::DESCRIBE_GROUPS => Request::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["sample".to_string()],
        }),
        ApiKey::LIST_GROUPS => Request::ListGroups(ListGroupsRequest { states: vec![] }),
        ApiKey::DELETE_GROUPS => Request::DeleteGroups(DeleteGroupsRequest {
            groups: vec!["sample".to_string()],
        }),
        ApiKey::DESCRIBE_ACLS => Request::DescribeAcls(DescribeAclsRequest { filter: any_acl() }),
        ApiKey::CREATE_ACLS => Request::CreateAcls(CreateAclsRequest {
            bindings: vec![AclBinding {
                pattern: ResourcePattern {
                    resource_type: ResourceType::Topic,
                    name: "t".to_string(),
                    pattern_type: PatternType::Literal,
                },
                entry: AccessEntry {
                    principal: "User:sample".to_string(),
                    host: "*".to_string(),
                    operation: Operation::Read,
                    permission: Permission::Allow,
                },
            }],
        }),
        ApiKey::DELETE_ACLS => Request::DeleteAcls(DeleteAclsRequest {
            filters: vec![any_acl()],
        }),
        ApiKey::DESCRIBE_USER_SCRAM_CREDENTIALS => {
            Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest {
                users: vec![],
            })
        }
        ApiKey::ALTER_USER_SCRAM_CREDENTIALS => {
            Request::AlterUserScramCredentials(AlterUserScramCredentialsRequest {
                deletions: vec![ScramDeletion {
                    name: "sample".to_string(),
                    mechanism: Mechanism::ScramSha256,
                }],
                upsertions: vec![],
            })
        }
        // Served on a THIN_SASL_* listener only (thin_sasl.rs): not on this one.
        ApiKey::SASL_HANDSHAKE => Request::SaslHandshake(SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-512".to_string(),
        }),
        ApiKey::SASL_AUTHENTICATE => Request::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: b"n,,n=sample,r=nonce".to_vec(),
        }),
        other => panic!("no sample request of {other}: add one"),
    }
}

/// A filter of every ACL binding.
fn any_acl() -> AclFilter {
    AclFilter {
        resource_type: ResourceType::Any,
        name: None,
        pattern_type: PatternType::Any,
        principal: None,
        host: None,
        operation: Operation::Any,
        permission: Permission::Any,
    }
}

/// ApiVersions advertises exactly the APIs the broker answers: a client may use everything it
/// lists (the client refuses before sending what it does not), and nothing it leaves out.
#[test]
fn api_versions_advertises_exactly_the_apis_the_broker_answers() {
    let harness = Harness::start(1);
    let mut client = harness.connect();
    create(&mut client, "t", 1);
    assert_eq!(
        produce(&mut client, "t", 0, batch(&["a"])).0,
        ErrorCode::NONE
    );
    let Response::ApiVersions(advertised) = client.call(Request::ApiVersions(ApiVersionsRequest))
    else {
        panic!("not an api versions response")
    };
    let advertised: Vec<ApiKey> = advertised.api_keys.iter().map(|api| api.api_key).collect();
    for key in &advertised {
        assert!(
            SUPPORTED_APIS.iter().any(|api| api.api_key == *key),
            "{key} is advertised but the codec does not speak it"
        );
    }
    for api in SUPPORTED_APIS {
        let response = client.call(sample_request(api.api_key));
        let refusal = match &response {
            Response::Error(error) => Some(error),
            _ => None,
        };
        let unsupported = refusal.is_some_and(|error| {
            error.error_code == ErrorCode::UNSUPPORTED_VERSION
                || error.message.contains("unsupported")
                || error.message.contains("not served")
        });
        if advertised.contains(&api.api_key) {
            assert!(
                !unsupported,
                "{} is advertised but answered {refusal:?}",
                api.name
            );
        } else {
            assert!(
                unsupported,
                "{} is not advertised but answered {response:?}",
                api.name
            );
        }
    }
    assert!(advertised.contains(&ApiKey::API_VERSIONS));
}

#[test]
fn produced_records_are_fetched_back_from_every_shard() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    create(&mut client, "orders", 4);
    for partition in 0..4 {
        let (error, base) = produce(&mut client, "orders", partition, batch(&["a", "b"]));
        assert_eq!((error, base), (ErrorCode::NONE, Some(Offset(0))));
        let (error, base) = produce(&mut client, "orders", partition, batch(&["c"]));
        assert_eq!((error, base), (ErrorCode::NONE, Some(Offset(2))));
    }
    for partition in 0..4 {
        let request = fetch_request("orders", partition, 0, Duration::ZERO);
        let Response::Fetch(response) = client.call(request) else {
            panic!("not a fetch response")
        };
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::NONE);
        assert_eq!(p.high_watermark, Some(Offset(3)));
        assert_eq!(values(&p.records), ["a", "b", "c"]);
    }
}

/// Asserts that nothing arrives on `client`'s connection for 200 ms (`what` waits).
fn assert_no_answer_for_200ms(client: &mut Client, what: &str) {
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = client.stream.peek(&mut byte);
    assert!(early.is_err(), "{what} was answered at once: {early:?}");
    client.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
}

#[test]
fn a_fetch_waits_for_data_and_wakes_when_it_arrives() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    create(&mut client, "t", 1);
    let mut producer = harness.connect();
    let request = fetch_request("t", 0, 0, Duration::from_secs(5));
    let correlation = client.send(&request);
    // The fetch waits: nothing comes back while the partition is empty.
    assert_no_answer_for_200ms(&mut client, "an empty partition's fetch");
    let started = Instant::now();
    produce(&mut producer, "t", 0, batch(&["late"]));
    let Response::Fetch(response) = client.receive(&request, correlation) else {
        panic!("not a fetch response")
    };
    assert_eq!(values(&response.topics[0].partitions[0].records), ["late"]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the fetch waited for its deadline"
    );
}

#[test]
fn a_fetch_answers_the_fetch_waiting_ahead_of_it_on_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), 2);
    options.fetch_wait_max = Duration::from_secs(5);
    let harness = Harness {
        broker: Some(Broker::start(options).expect("broker starts")),
        _dir: dir,
    };
    harness
        .broker
        .as_ref()
        .unwrap()
        .wait_ready(TIMEOUT)
        .expect("broker registers");
    let mut client = harness.connect();
    create(&mut client, "t", 2);
    let waiting = fetch_request("t", 0, 0, Duration::from_secs(5));
    let first = client.send(&waiting);
    assert_no_answer_for_200ms(&mut client, "the empty fetch");
    // Answers go out in order: the second fetch would wait behind the first's 5 s.
    let started = Instant::now();
    let next = fetch_request("t", 1, 0, Duration::ZERO);
    let second = client.send(&next);
    let Response::Fetch(response) = client.receive(&waiting, first) else {
        panic!("not a fetch response")
    };
    let waited = started.elapsed();
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::NONE);
    assert!(partition.records.is_empty());
    assert!(
        waited < Duration::from_secs(2),
        "the waiting fetch held the next one up for {waited:?}"
    );
    let Response::Fetch(response) = client.receive(&next, second) else {
        panic!("not a fetch response")
    };
    assert_eq!(response.topics[0].partitions[0].error_code, ErrorCode::NONE);
}

#[test]
fn a_fetch_past_the_purgatory_bound_is_answered_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), 1);
    options.fetch_wait_max = Duration::from_secs(5);
    options.fetch_purgatory_max_partitions = 2;
    let harness = Harness {
        broker: Some(Broker::start(options).expect("broker starts")),
        _dir: dir,
    };
    let broker = harness.broker.as_ref().unwrap();
    broker.wait_ready(TIMEOUT).expect("broker registers");
    let mut admin = harness.connect();
    create(&mut admin, "t", 3);
    // One connection each: a later fetch on a connection would answer the one waiting.
    let mut waiting: Vec<(Client, Request, u32)> = (0..2)
        .map(|partition| {
            let mut client = harness.connect();
            let request = fetch_request("t", partition, 0, Duration::from_secs(5));
            let correlation = client.send(&request);
            (client, request, correlation)
        })
        .collect();
    for (client, ..) in &mut waiting {
        assert_no_answer_for_200ms(client, "a fetch within the bound");
    }
    // The purgatory is full: the next empty fetch is answered now, not in 5 s.
    let mut late = harness.connect();
    let started = Instant::now();
    let Response::Fetch(response) = late.call(fetch_request("t", 2, 0, Duration::from_secs(5)))
    else {
        panic!("not a fetch response")
    };
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "a fetch past the bound waited {waited:?}"
    );
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::NONE);
    assert!(partition.records.is_empty());
    // Those parked still wait for data.
    produce(&mut admin, "t", 0, batch(&["woken"]));
    let (client, request, correlation) = &mut waiting[0];
    let Response::Fetch(response) = client.receive(request, *correlation) else {
        panic!("not a fetch response")
    };
    assert_eq!(values(&response.topics[0].partitions[0].records), ["woken"]);
}

#[test]
fn an_empty_fetch_answers_at_its_deadline() {
    let harness = Harness::start(1);
    let mut client = harness.connect();
    create(&mut client, "t", 1);
    let Response::Fetch(response) =
        client.call(fetch_request("t", 0, 0, Duration::from_millis(200)))
    else {
        panic!("not a fetch response")
    };
    assert!(response.topics[0].partitions[0].records.is_empty());
}

#[test]
fn unknown_topics_and_bad_batches_get_their_error_codes() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    let (error, _) = produce(&mut client, "missing", 0, batch(&["x"]));
    assert_eq!(error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    create(&mut client, "t", 1);
    let mut corrupt = batch(&["x"]).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let (error, _) = produce(&mut client, "t", 0, Bytes::from(corrupt));
    assert_eq!(error, ErrorCode::CORRUPT_MESSAGE);
    let (error, base) = produce(&mut client, "t", 0, batch(&["ok"]));
    assert_eq!(
        (error, base),
        (ErrorCode::NONE, Some(Offset(0))),
        "nothing of the bad batch was stored"
    );
}

#[test]
fn list_offsets_and_metadata_describe_the_topic() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    create(&mut client, "t", 2);
    produce(&mut client, "t", 1, batch(&["a", "b", "c"]));
    let request = Request::ListOffsets(ListOffsetsRequest {
        topics: vec![Topic {
            name: "t".to_string(),
            partitions: vec![
                ListOffsetsPartition {
                    partition_index: 1,
                    current_leader_epoch: None,
                    spec: OffsetSpec::Earliest,
                },
                ListOffsetsPartition {
                    partition_index: 1,
                    current_leader_epoch: None,
                    spec: OffsetSpec::Latest,
                },
            ],
        }],
    });
    let Response::ListOffsets(response) = client.call(request) else {
        panic!("not a list offsets response")
    };
    let offsets: Vec<_> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.offset)
        .collect();
    assert_eq!(offsets, [Some(Offset(0)), Some(Offset(3))]);
    let Response::Metadata(metadata) =
        client.call(Request::Metadata(MetadataRequest { topics: None }))
    else {
        panic!("not a metadata response")
    };
    let t = metadata
        .topics
        .iter()
        .find(|t| t.name == "t")
        .expect("listed");
    assert_eq!(t.partitions.len(), 2);
    assert!(
        t.partitions[1].leader_epoch.is_some(),
        "an open partition reports its epoch"
    );
    let internal = metadata
        .topics
        .iter()
        .find(|t| t.name == "__consumer_offsets");
    assert!(internal.is_some(), "the offsets topic is listed too");
    assert_eq!(
        metadata.brokers[0].port,
        harness.broker.as_ref().unwrap().local_addr().port()
    );
}

#[test]
fn a_second_broker_on_a_data_dir_in_use_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(options(dir.path(), 1)).unwrap();
    broker.wait_ready(TIMEOUT).unwrap();
    let refused = Broker::start(options(dir.path(), 1)).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ResourceBusy,
        "{refused}"
    );
    assert!(refused.to_string().contains("already in use"), "{refused}");
    broker.stop().unwrap();
    let again = Broker::start(options(dir.path(), 1)).unwrap();
    again.wait_ready(TIMEOUT).unwrap();
    again.stop().unwrap();
}

#[test]
fn a_second_broker_on_a_port_in_use_does_not_start() {
    let first_dir = tempfile::tempdir().unwrap();
    let first = Broker::start(options(first_dir.path(), 2)).unwrap();
    let addr = first.local_addr();
    let second_dir = tempfile::tempdir().unwrap();
    let mut second = options(second_dir.path(), 2);
    second.listen = addr;
    let refused = match Broker::start(second) {
        Ok(second) => {
            second.stop().unwrap();
            first.stop().unwrap();
            panic!("a second broker started on {addr}, where the first listens");
        }
        Err(refused) => refused,
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    assert!(
        refused.to_string().contains(&addr.to_string()),
        "the error names {addr}: {refused}"
    );
    first.stop().unwrap();
}

/// A broker stopped and started again at once on the same port (a restart) finds it free:
/// the accepts its shards had armed held the one listening socket open until the kernel tore
/// their rings down, after `stop` returned.
#[test]
fn a_stopped_broker_frees_its_port_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::start(options(dir.path(), 2)).unwrap();
    let addr = first.local_addr();
    first.stop().unwrap();
    for restart in 1..=5 {
        let mut again = options(dir.path(), 2);
        again.listen = addr;
        let broker = Broker::start(again)
            .unwrap_or_else(|error| panic!("restart {restart} on {addr}: {error}"));
        broker.stop().unwrap();
    }
}

#[test]
fn more_connections_than_a_ring_token_can_number_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), 1);
    options.max_connections = (1 << 24) + 1;
    let refused = Broker::start(options).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::InvalidInput,
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .starts_with("max_connections 16777217 is more than the 16777216"),
        "{refused}"
    );
}

/// Copies the files of directory `from` into a new directory `to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_partition_directory_the_metadata_does_not_give_the_broker_is_set_aside_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(options(dir.path(), 1)).unwrap();
    broker.wait_ready(TIMEOUT).unwrap();
    let mut client = connect_to(&broker);
    create(&mut client, "kept", 1);
    produce(&mut client, "kept", 0, batch(&["x"]));
    drop(client);
    broker.stop().unwrap();
    // A partition of a topic the cluster no longer has (deleted while the broker was down).
    copy_dir(&dir.path().join("kept-0"), &dir.path().join("ghost-0"));

    let broker = Broker::start(options(dir.path(), 1)).unwrap();
    broker.wait_ready(TIMEOUT).unwrap();
    assert!(!dir.path().join("ghost-0").exists());
    let set_aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("ghost-0.") && name.ends_with("-stray"))
        .collect();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    // Its files are all still there, for the operator.
    let stray = dir.path().join(&set_aside[0]);
    assert!(stray.join("00000000000000000000.log").exists());
    let mut client = connect_to(&broker);
    let Response::Fetch(response) = client.call(fetch_request("ghost", 0, 0, Duration::ZERO))
    else {
        panic!("not a fetch response")
    };
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    let Response::Fetch(response) = client.call(fetch_request("kept", 0, 0, Duration::ZERO)) else {
        panic!("not a fetch response")
    };
    assert_eq!(values(&response.topics[0].partitions[0].records), ["x"]);
    drop(client);
    broker.stop().unwrap();
}

#[test]
fn topics_and_records_survive_a_restart_and_deleted_topics_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let broker = Broker::start(options(dir.path(), 2)).unwrap();
        broker.wait_ready(TIMEOUT).unwrap();
        broker
    };
    let broker = start();
    let mut client = connect_to(&broker);
    create(&mut client, "kept", 1);
    create(&mut client, "gone", 1);
    produce(&mut client, "kept", 0, batch(&["x", "y"]));
    let request = Request::DeleteTopics(DeleteTopicsRequest {
        topic_names: vec!["gone".into()],
        timeout: TIMEOUT,
    });
    let Response::DeleteTopics(deleted) = client.call(request) else {
        panic!("not a delete response")
    };
    assert_eq!(deleted.topics[0].error_code, ErrorCode::NONE);
    drop(client);
    broker.stop().unwrap();
    assert!(!dir.path().join("gone-0").exists());

    let broker = start();
    let mut client = connect_to(&broker);
    let Response::Fetch(response) = client.call(fetch_request("kept", 0, 0, Duration::ZERO)) else {
        panic!("not a fetch response")
    };
    assert_eq!(
        values(&response.topics[0].partitions[0].records),
        ["x", "y"]
    );
    let Response::Metadata(metadata) =
        client.call(Request::Metadata(MetadataRequest { topics: None }))
    else {
        panic!("not a metadata response")
    };
    let names: Vec<_> = metadata
        .topics
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !n.starts_with("__"))
        .collect();
    assert_eq!(names, ["kept"]);
    drop(client);
    broker.stop().unwrap();
}

#[test]
fn garbage_closes_only_its_own_connection() {
    let harness = Harness::start(2);
    let mut bad = harness.connect();
    // A length field past max_frame_bytes: the stream cannot be cut into frames any more.
    bad.stream
        .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        bad.stream.read(&mut byte).unwrap_or(0),
        0,
        "the broker closes it"
    );
    let mut good = harness.connect();
    let Response::ApiVersions(_) = good.call(Request::ApiVersions(ApiVersionsRequest)) else {
        panic!("the other connection is unaffected")
    };
}

#[test]
fn pipelined_requests_are_answered_in_order_across_shards() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    create(&mut client, "p", 8);
    let requests: Vec<Request> = (0..8)
        .map(|partition| {
            Request::Produce(ProduceRequest {
                acks: Acks::Leader,
                timeout: TIMEOUT,
                topics: vec![Topic {
                    name: "p".to_string(),
                    partitions: vec![ProducePartition {
                        partition_index: partition,
                        records: batch(&["v"]),
                    }],
                }],
            })
        })
        .collect();
    let ids: Vec<u32> = requests.iter().map(|r| client.send(r)).collect();
    for (request, id) in requests.iter().zip(ids) {
        let Response::Produce(response) = client.receive(request, id) else {
            panic!("not a produce response")
        };
        assert_eq!(response.topics[0].partitions[0].error_code, ErrorCode::NONE);
    }
}

#[test]
fn an_unknown_api_is_answered_unsupported_version() {
    let harness = Harness::start(1);
    let mut client = harness.connect();
    // api key 999, version 0, correlation 7, empty body.
    let mut frame = Vec::new();
    frame.extend_from_slice(&8u32.to_be_bytes());
    frame.extend_from_slice(&999u16.to_be_bytes());
    frame.extend_from_slice(&0u16.to_be_bytes());
    frame.extend_from_slice(&7u32.to_be_bytes());
    client.stream.write_all(&frame).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let (id, body) = loop {
        if let Some(found) =
            split_response_frame(&mut client.buffer, MAX_FRAME_BYTES_DEFAULT).unwrap()
        {
            break found;
        }
        assert!(Instant::now() < deadline);
        let mut chunk = [0u8; 1024];
        let n = client.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed instead of answered");
        client.buffer.extend_from_slice(&chunk[..n]);
    };
    assert_eq!(id, CorrelationId(7));
    assert_eq!(
        i16::from_be_bytes([body[0], body[1]]),
        ErrorCode::UNSUPPORTED_VERSION.0
    );
    // The connection still works.
    let Response::ApiVersions(_) = client.call(Request::ApiVersions(ApiVersionsRequest)) else {
        panic!("not an api versions response")
    };
}

fn commit_offset(
    client: &mut Client,
    group: &str,
    topic: &str,
    partition: u32,
    offset: u64,
) -> ErrorCode {
    let request = Request::OffsetCommit(OffsetCommitRequest {
        group_id: group.to_string(),
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: vec![OffsetCommitPartition {
                partition_index: partition,
                committed_offset: Offset(offset),
                committed_leader_epoch: None,
                committed_metadata: Some("m".to_string()),
            }],
        }],
        generation_id: NO_GENERATION,
        member_id: String::new(),
        group_instance_id: None,
    });
    let Response::OffsetCommit(response) = client.call(request) else {
        panic!("not an offset commit response")
    };
    response.topics[0].partitions[0].error_code
}

fn committed(client: &mut Client, group: &str, topic: &str, partition: u32) -> Option<Offset> {
    let request = Request::OffsetFetch(OffsetFetchRequest {
        group_id: group.to_string(),
        topics: Some(vec![OffsetFetchTopic {
            name: topic.to_string(),
            partition_indexes: vec![partition],
        }]),
    });
    let Response::OffsetFetch(response) = client.call(request) else {
        panic!("not an offset fetch response")
    };
    response.topics[0].partitions[0].committed_offset
}

#[test]
fn committed_offsets_are_kept_per_group_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let broker = Broker::start(options(dir.path(), 2)).unwrap();
        broker.wait_ready(TIMEOUT).unwrap();
        broker
    };
    let broker = start();
    let mut client = connect_to(&broker);
    create(&mut client, "t", 2);
    assert_eq!(committed(&mut client, "g1", "t", 0), None);
    assert_eq!(commit_offset(&mut client, "g1", "t", 0, 5), ErrorCode::NONE);
    assert_eq!(commit_offset(&mut client, "g1", "t", 0, 9), ErrorCode::NONE);
    assert_eq!(commit_offset(&mut client, "g2", "t", 1, 3), ErrorCode::NONE);
    assert_eq!(
        commit_offset(&mut client, "g1", "missing", 0, 1),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(committed(&mut client, "g1", "t", 0), Some(Offset(9)));
    drop(client);
    broker.stop().unwrap();

    let broker = start();
    let mut client = connect_to(&broker);
    assert_eq!(committed(&mut client, "g1", "t", 0), Some(Offset(9)));
    assert_eq!(committed(&mut client, "g2", "t", 1), Some(Offset(3)));
    assert_eq!(committed(&mut client, "g2", "t", 0), None);
    drop(client);
    broker.stop().unwrap();
}

/// A group's offsets partition holding megabytes of history loads in steps after a restart:
/// meanwhile OffsetFetch is answered COORDINATOR_LOAD_IN_PROGRESS (or, before the partition's
/// leadership is known, NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE), never with what a
/// half-replayed history says, and then with the last commit of every partition.
#[test]
fn a_long_offsets_history_is_never_answered_half_loaded() {
    const PARTITIONS: u32 = 64;
    const ROUNDS: u64 = 48;
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let broker = Broker::start(options(dir.path(), 2)).unwrap();
        broker.wait_ready(TIMEOUT).unwrap();
        broker
    };
    let broker = start();
    let mut client = connect_to(&broker);
    create(&mut client, "t", PARTITIONS);
    // 48 rounds of 64 commits with 1 KiB of metadata each: about 3 MiB to replay, several
    // of a loading coordinator's steps.
    let metadata = "m".repeat(1024);
    let commit_round = |client: &mut Client, round: u64| {
        let request = Request::OffsetCommit(OffsetCommitRequest {
            group_id: "g".to_string(),
            topics: vec![Topic {
                name: "t".to_string(),
                partitions: (0..PARTITIONS)
                    .map(|partition| OffsetCommitPartition {
                        partition_index: partition,
                        committed_offset: Offset(round),
                        committed_leader_epoch: None,
                        committed_metadata: Some(metadata.clone()),
                    })
                    .collect(),
            }],
            generation_id: NO_GENERATION,
            member_id: String::new(),
            group_instance_id: None,
        });
        let Response::OffsetCommit(response) = client.call(request) else {
            panic!("not an offset commit response")
        };
        for partition in &response.topics[0].partitions {
            assert_eq!(partition.error_code, ErrorCode::NONE, "round {round}");
        }
    };
    for round in 0..ROUNDS {
        commit_round(&mut client, round);
    }
    drop(client);
    broker.stop().unwrap();

    let broker = start();
    let mut client = connect_to(&broker);
    let fetch_all = Request::OffsetFetch(OffsetFetchRequest {
        group_id: "g".to_string(),
        topics: Some(vec![OffsetFetchTopic {
            name: "t".to_string(),
            partition_indexes: (0..PARTITIONS).collect(),
        }]),
    });
    let not_yet = [
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::COORDINATOR_NOT_AVAILABLE,
    ];
    let deadline = Instant::now() + TIMEOUT;
    let mut waited = 0;
    loop {
        let response = match client.call(fetch_all.clone()) {
            Response::OffsetFetch(response) => response,
            // The thin protocol refuses the whole request while the group's coordinator loads.
            Response::Error(error) if not_yet.contains(&error.error_code) => {
                waited += 1;
                assert!(Instant::now() < deadline, "the coordinator never loaded");
                continue;
            }
            other => panic!("not an offset fetch response: {other:?}"),
        };
        let partitions = &response.topics[0].partitions;
        if partitions.iter().all(|p| p.error_code == ErrorCode::NONE) {
            for partition in partitions {
                assert_eq!(
                    partition.committed_offset,
                    Some(Offset(ROUNDS - 1)),
                    "partition {} after {waited} answers to wait",
                    partition.partition_index
                );
            }
            break;
        }
        for partition in partitions {
            assert!(
                not_yet.contains(&partition.error_code),
                "partition {}: {:?}",
                partition.partition_index,
                partition.error_code
            );
            assert_eq!(partition.committed_offset, None);
        }
        waited += 1;
        assert!(Instant::now() < deadline, "the coordinator never loaded");
    }
    // The loaded coordinator takes commits again.
    commit_round(&mut client, ROUNDS);
    drop(client);
    broker.stop().unwrap();
}

fn describe(client: &mut Client, topic: &str, key: &str) -> (ErrorCode, Option<(String, bool)>) {
    let request = Request::DescribeConfigs(DescribeConfigsRequest {
        topics: vec![DescribeConfigsTopic {
            name: topic.to_string(),
            config_keys: Some(vec![key.to_string()]),
        }],
    });
    let Response::DescribeConfigs(response) = client.call(request) else {
        panic!("not a describe configs response")
    };
    let t = &response.topics[0];
    let entry = t
        .configs
        .first()
        .map(|c| (c.value.clone().unwrap_or_default(), c.is_default));
    (t.error_code, entry)
}

fn alter(client: &mut Client, topic: &str, key: &str, value: Option<&str>) -> ErrorCode {
    let request = Request::AlterConfigs(AlterConfigsRequest {
        topics: vec![AlterConfigsTopic {
            name: topic.to_string(),
            configs: vec![ConfigChange {
                name: key.to_string(),
                value: value.map(str::to_string),
            }],
        }],
        validate_only: false,
    });
    let Response::AlterConfigs(response) = client.call(request) else {
        panic!("not an alter configs response")
    };
    response.topics[0].error_code
}

#[test]
fn topic_configs_are_set_at_creation_described_and_altered() {
    let harness = Harness::start(2);
    let mut client = harness.connect();
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "c".to_string(),
            num_partitions: Some(2),
            replication_factor: Some(1),
            configs: vec![ConfigValue {
                name: "retention_ms".into(),
                value: "60000".into(),
            }],
        }],
        timeout: TIMEOUT,
        validate_only: false,
    });
    let Response::CreateTopics(created) = client.call(request) else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, ErrorCode::NONE);
    assert_eq!(
        describe(&mut client, "c", "retention_ms"),
        (ErrorCode::NONE, Some(("60000".into(), false)))
    );
    produce(&mut client, "c", 0, batch(&["a"]));
    assert_eq!(
        alter(&mut client, "c", "retention_ms", Some("120000")),
        ErrorCode::NONE
    );
    assert_eq!(
        describe(&mut client, "c", "retention_ms"),
        (ErrorCode::NONE, Some(("120000".into(), false)))
    );
    // The partition was reopened with it and still serves what it had.
    let (error, base) = produce(&mut client, "c", 0, batch(&["b"]));
    assert_eq!((error, base), (ErrorCode::NONE, Some(Offset(1))));
    assert_eq!(
        alter(&mut client, "c", "retention_ms", None),
        ErrorCode::NONE
    );
    let (_, entry) = describe(&mut client, "c", "retention_ms");
    assert!(entry.unwrap().1, "reset to the broker default");
    assert_eq!(
        alter(&mut client, "c", "no_such_key", Some("1")),
        ErrorCode::INVALID_CONFIG
    );
    assert_eq!(
        alter(&mut client, "c", "retention_ms", Some("soon")),
        ErrorCode::INVALID_CONFIG
    );
    assert_eq!(
        alter(&mut client, "nope", "retention_ms", Some("1")),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn a_topic_with_a_bad_config_is_not_created() {
    let harness = Harness::start(1);
    let mut client = harness.connect();
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "bad".to_string(),
            num_partitions: Some(1),
            replication_factor: Some(1),
            configs: vec![ConfigValue {
                name: "min_insync_replicas".into(),
                value: "zero".into(),
            }],
        }],
        timeout: TIMEOUT,
        validate_only: false,
    });
    let Response::CreateTopics(created) = client.call(request) else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, ErrorCode::INVALID_CONFIG);
    let (error, _) = produce(&mut client, "bad", 0, batch(&["x"]));
    assert_eq!(error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn a_replication_factor_above_the_live_brokers_is_refused() {
    let harness = Harness::start(1);
    let mut client = harness.connect();
    for validate_only in [true, false] {
        let request = Request::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "wide".to_string(),
                num_partitions: Some(1),
                replication_factor: Some(2),
                configs: vec![],
            }],
            timeout: TIMEOUT,
            validate_only,
        });
        let Response::CreateTopics(created) = client.call(request) else {
            panic!("not a create topics response")
        };
        let topic = &created.topics[0];
        assert_eq!(
            topic.error_code,
            ErrorCode::INVALID_REPLICATION_FACTOR,
            "validate_only {validate_only}: {topic:?}"
        );
        let message = topic.error_message.as_deref().unwrap_or_default();
        assert!(message.contains("replication factor 2"), "{message}");
    }
    let (error, _) = produce(&mut client, "wide", 0, batch(&["x"]));
    assert_eq!(error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn with_auto_create_a_produce_to_an_unknown_topic_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), 1);
    options.config.auto_create_topics_enable = true;
    options.config.num_partitions = 3;
    let broker = Broker::start(options).unwrap();
    broker.wait_ready(TIMEOUT).unwrap();
    let mut client = connect_to(&broker);
    // The topic is created through the controller quorum: the produce meets a retriable
    // error until it exists, as Kafka's does.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let stored = loop {
        let (error, base) = produce(&mut client, "fresh", 2, batch(&["x"]));
        if error == ErrorCode::NONE {
            break base;
        }
        assert!(error.is_retriable(), "{error}");
        assert!(
            std::time::Instant::now() < deadline,
            "the topic was not created"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(stored, Some(Offset(0)));
    drop(client);
    broker.stop().unwrap();
}

#[test]
fn a_truncated_frame_or_a_length_shorter_than_a_header_harms_no_one_else() {
    let harness = Harness::start(2);
    let mut half = harness.connect();
    let frame = encode_request(
        &Request::ApiVersions(ApiVersionsRequest),
        0,
        CorrelationId(1),
    )
    .unwrap();
    half.stream.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(half);
    let mut short = harness.connect();
    short.stream.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        short.stream.read(&mut byte).unwrap_or(0),
        0,
        "the broker closes it"
    );
    let mut good = harness.connect();
    let Response::ApiVersions(_) = good.call(Request::ApiVersions(ApiVersionsRequest)) else {
        panic!("the other connection is unaffected")
    };
}

#[test]
fn a_connection_pipelining_past_its_byte_budget_pauses_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path(), 2);
    // Reading pauses while the requests owed hold 64 KiB; each request is about 20 KiB.
    options.max_frame_bytes = 64 * 1024;
    let broker = Broker::start(options).unwrap();
    broker.wait_ready(TIMEOUT).unwrap();
    let mut client = connect_to(&broker);
    create(&mut client, "b", 1);
    let value = "x".repeat(20 * 1024);
    let request = Request::Produce(ProduceRequest {
        acks: Acks::Leader,
        timeout: TIMEOUT,
        topics: vec![Topic {
            name: "b".to_string(),
            partitions: vec![ProducePartition {
                partition_index: 0,
                records: batch(&[&value]),
            }],
        }],
    });
    let ids: Vec<u32> = (0..40).map(|_| client.send(&request)).collect();
    for (i, id) in ids.into_iter().enumerate() {
        let Response::Produce(response) = client.receive(&request, id) else {
            panic!("not a produce response")
        };
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.base_offset, Some(Offset(i as u64)));
    }
    drop(client);
    broker.stop().unwrap();
}

/// The process's metrics, as the broker's `main` installs them: the shards record from their
/// own threads, so only the global recorder sees what they record. Installed once, by the
/// first test that reads it.
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        ringlog_broker::metrics::install_recorder().expect("no other recorder in this binary")
    })
}

/// `ringlog_request_errors_total{api, error}` as the metrics render now; 0 when absent.
fn errors_counted(api: &str, error: &str) -> u64 {
    let series = format!("ringlog_request_errors_total{{api=\"{api}\",error=\"{error}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.parse().expect("a counter's value"))
}

#[test]
fn errors_answered_are_counted_by_api_and_error() {
    metrics();
    let harness = Harness::start(2);
    let mut client = harness.connect();
    // Other tests of this binary may answer the same errors meanwhile: each count must grow
    // by at least what this test causes.
    let unknown_before = errors_counted("Produce", "UNKNOWN_TOPIC_OR_PARTITION");
    let group_before = errors_counted("OffsetFetch", "INVALID_GROUP_ID");
    let unsupported_before = errors_counted("unknown", "UNSUPPORTED_VERSION");

    // Per partition: two partitions of a topic that does not exist, one count each.
    let request = Request::Produce(ProduceRequest {
        acks: Acks::All,
        timeout: TIMEOUT,
        topics: vec![Topic {
            name: "nowhere".to_string(),
            partitions: (0..2)
                .map(|partition_index| ProducePartition {
                    partition_index,
                    records: batch(&["x"]),
                })
                .collect(),
        }],
    });
    let Response::Produce(response) = client.call(request) else {
        panic!("not a produce response")
    };
    for partition in &response.topics[0].partitions {
        assert_eq!(partition.error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    }
    // The whole request refused: an offset fetch without a group.
    let request = Request::OffsetFetch(OffsetFetchRequest {
        group_id: String::new(),
        topics: None,
    });
    let Response::Error(refusal) = client.call(request) else {
        panic!("not an error response")
    };
    assert_eq!(refusal.error_code, ErrorCode::INVALID_GROUP_ID);
    // A request that does not decode: api key 999, version 0, correlation 7, no body.
    let mut frame = Vec::new();
    frame.extend_from_slice(&8u32.to_be_bytes());
    frame.extend_from_slice(&999u16.to_be_bytes());
    frame.extend_from_slice(&0u16.to_be_bytes());
    frame.extend_from_slice(&7u32.to_be_bytes());
    client.stream.write_all(&frame).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while split_response_frame(&mut client.buffer, MAX_FRAME_BYTES_DEFAULT)
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no answer in time");
        let mut chunk = [0u8; 1024];
        let n = client.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed instead of answered");
        client.buffer.extend_from_slice(&chunk[..n]);
    }

    // Each error is counted before its answer is written.
    let unknown = errors_counted("Produce", "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(
        unknown >= unknown_before + 2,
        "produce errors counted {unknown_before} then {unknown}"
    );
    let group = errors_counted("OffsetFetch", "INVALID_GROUP_ID");
    assert!(
        group > group_before,
        "offset fetch errors counted {group_before} then {group}"
    );
    let unsupported = errors_counted("unknown", "UNSUPPORTED_VERSION");
    assert!(
        unsupported > unsupported_before,
        "undecodable requests counted {unsupported_before} then {unsupported}"
    );
}

/// The shards accept on one socket, where whichever is awake would take a burst whole: each
/// connection goes to the shard with the fewest.
#[test]
fn connections_spread_over_the_shards() {
    let harness = Harness::start(2);
    let broker = harness.broker.as_ref().unwrap();
    let clients: Vec<Client> = (0..64).map(|_| harness.connect()).collect();
    let deadline = Instant::now() + TIMEOUT;
    let spread = loop {
        let spread = broker.connections_per_shard();
        if spread.iter().sum::<usize>() == clients.len() {
            break spread;
        }
        assert!(
            Instant::now() < deadline,
            "64 connections, {spread:?} accepted"
        );
        std::thread::yield_now();
    };
    // Shards accepting at once may each give one to the same shard: a few apart at most.
    let (fewest, most) = (spread.iter().min().unwrap(), spread.iter().max().unwrap());
    assert!(most - fewest <= 4, "64 connections spread {spread:?}");
}

// ---------------------------------------------------------------------------------------------
// Consumer groups.

const GROUP: &str = "thin-group";

fn join_request(member_id: &str) -> Request {
    Request::JoinGroup(JoinGroupRequest {
        group_id: GROUP.to_string(),
        client_id: format!("client-{member_id}"),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 8_000,
        member_id: member_id.to_string(),
        group_instance_id: None,
        protocol_type: "consumer".to_string(),
        protocols: vec![JoinGroupProtocol {
            name: "range".to_string(),
            metadata: Bytes::from(format!("subscription of {member_id}")),
        }],
    })
}

fn join_response(response: Response) -> JoinGroupResponse {
    match response {
        Response::JoinGroup(response) => response,
        other => panic!("not a join group response: {other:?}"),
    }
}

/// A new member's first join: MEMBER_ID_REQUIRED with its id, once the group's coordinator is
/// up (`__consumer_offsets` is created after the broker registers).
fn member_id(client: &mut Client) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let response = join_response(client.call(join_request("")));
        let waiting = [
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::NOT_COORDINATOR,
        ];
        if waiting.contains(&response.error_code) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(response.error_code, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(!response.member_id.is_empty());
        assert_eq!(response.generation_id, -1);
        return response.member_id;
    }
}

fn sync(
    client: &mut Client,
    member_id: &str,
    generation_id: i32,
    assignments: &[(&str, &str)],
) -> u32 {
    let request = Request::SyncGroup(SyncGroupRequest {
        group_id: GROUP.to_string(),
        generation_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
        protocol_type: Some("consumer".to_string()),
        protocol_name: Some("range".to_string()),
        assignments: assignments
            .iter()
            .map(|(member_id, assignment)| SyncGroupAssignment {
                member_id: member_id.to_string(),
                assignment: Bytes::from(assignment.to_string()),
            })
            .collect(),
    });
    client.send(&request)
}

fn synced(client: &mut Client, correlation: u32) -> SyncGroupResponse {
    let request = Request::SyncGroup(SyncGroupRequest {
        group_id: String::new(),
        generation_id: 0,
        member_id: String::new(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![],
    });
    match client.receive(&request, correlation) {
        Response::SyncGroup(response) => response,
        other => panic!("not a sync group response: {other:?}"),
    }
}

fn heartbeat(client: &mut Client, member_id: &str, generation_id: i32) -> ErrorCode {
    let request = Request::Heartbeat(HeartbeatRequest {
        group_id: GROUP.to_string(),
        generation_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
    });
    match client.call(request) {
        Response::Heartbeat(response) => response.error_code,
        other => panic!("not a heartbeat response: {other:?}"),
    }
}

/// An OffsetCommit v1 of offset 7 of `t`-0, from `member_id` at `generation_id`.
fn member_commit(client: &mut Client, member_id: &str, generation_id: i32) -> ErrorCode {
    let request = Request::OffsetCommit(OffsetCommitRequest {
        group_id: GROUP.to_string(),
        topics: vec![Topic {
            name: "t".to_string(),
            partitions: vec![OffsetCommitPartition {
                partition_index: 0,
                committed_offset: Offset(7),
                committed_leader_epoch: None,
                committed_metadata: None,
            }],
        }],
        generation_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
    });
    let correlation = client.send_at(&request, 1);
    let Response::OffsetCommit(response) = client.receive(&request, correlation) else {
        panic!("not an offset commit response")
    };
    response.topics[0].partitions[0].error_code
}

fn describe_group(client: &mut Client) -> DescribedGroup {
    let request = Request::DescribeGroups(DescribeGroupsRequest {
        groups: vec![GROUP.to_string()],
    });
    let Response::DescribeGroups(mut response) = client.call(request) else {
        panic!("not a describe groups response")
    };
    assert_eq!(response.groups.len(), 1);
    response.groups.remove(0)
}

fn list_groups(client: &mut Client, states: &[&str]) -> Vec<ListedGroup> {
    let request = Request::ListGroups(ListGroupsRequest {
        states: states.iter().map(|s| s.to_string()).collect(),
    });
    let Response::ListGroups(response) = client.call(request) else {
        panic!("not a list groups response")
    };
    response.groups
}

fn delete_group(client: &mut Client) -> ErrorCode {
    let request = Request::DeleteGroups(DeleteGroupsRequest {
        groups: vec![GROUP.to_string()],
    });
    let Response::DeleteGroups(response) = client.call(request) else {
        panic!("not a delete groups response")
    };
    assert_eq!(response.results[0].group_id, GROUP);
    response.results[0].error_code
}

/// Two members join one group over the thin protocol, get their assignments from the leader,
/// heartbeat and commit as members, are described and listed, leave, and the group is deleted.
/// Bounded: the group's first generation waits out the initial rebalance delay (3 s, extended
/// by the second member's join), well within each call's 10 s.
#[test]
fn two_members_join_sync_commit_leave_and_the_group_is_deleted() {
    let harness = Harness::start(2);
    let mut admin = harness.connect();
    create(&mut admin, "t", 2);
    // One connection per member: a join waits for the rebalance, and answers come in order.
    let mut first = harness.connect();
    let mut second = harness.connect();
    let first_id = member_id(&mut first);
    let second_id = member_id(&mut second);
    assert_ne!(first_id, second_id);

    let first_join = join_request(&first_id);
    let second_join = join_request(&second_id);
    let first_correlation = first.send(&first_join);
    let second_correlation = second.send(&second_join);
    let first_joined = join_response(first.receive(&first_join, first_correlation));
    let second_joined = join_response(second.receive(&second_join, second_correlation));
    for (joined, id) in [(&first_joined, &first_id), (&second_joined, &second_id)] {
        assert_eq!(joined.error_code, ErrorCode::NONE, "{joined:?}");
        assert_eq!(&joined.member_id, id);
        assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    }
    let generation = first_joined.generation_id;
    assert!(generation >= 1, "{first_joined:?}");
    assert_eq!(second_joined.generation_id, generation);
    assert_eq!(first_joined.leader, second_joined.leader);
    // The leader gets every member with its metadata; the follower none.
    let (leader, leader_id, leader_joined, follower, follower_id, follower_joined) =
        if first_joined.leader == first_id {
            (
                &mut first,
                &first_id,
                &first_joined,
                &mut second,
                &second_id,
                &second_joined,
            )
        } else {
            (
                &mut second,
                &second_id,
                &second_joined,
                &mut first,
                &first_id,
                &first_joined,
            )
        };
    assert_eq!(&leader_joined.leader, leader_id);
    let mut members: Vec<(String, Bytes)> = leader_joined
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.metadata.clone()))
        .collect();
    members.sort();
    let mut expected = vec![
        (
            first_id.clone(),
            Bytes::from(format!("subscription of {first_id}")),
        ),
        (
            second_id.clone(),
            Bytes::from(format!("subscription of {second_id}")),
        ),
    ];
    expected.sort();
    assert_eq!(members, expected);
    assert!(follower_joined.members.is_empty());

    // The follower's sync waits for the leader's assignment to be stored.
    let follower_sync = sync(follower, follower_id, generation, &[]);
    assert_no_answer_for_200ms(follower, "the follower's sync before the leader's");
    let leader_assignment = format!("partitions for {leader_id}");
    let follower_assignment = format!("partitions for {follower_id}");
    let leader_sync = sync(
        leader,
        leader_id,
        generation,
        &[
            (leader_id, &leader_assignment),
            (follower_id, &follower_assignment),
        ],
    );
    let leader_synced = synced(leader, leader_sync);
    let follower_synced = synced(follower, follower_sync);
    assert_eq!(leader_synced.error_code, ErrorCode::NONE);
    assert_eq!(
        leader_synced.assignment,
        Bytes::from(leader_assignment.clone())
    );
    assert_eq!(follower_synced.error_code, ErrorCode::NONE);
    assert_eq!(
        follower_synced.assignment,
        Bytes::from(follower_assignment.clone())
    );
    assert_eq!(follower_synced.protocol_name.as_deref(), Some("range"));

    assert_eq!(heartbeat(leader, leader_id, generation), ErrorCode::NONE);
    assert_eq!(
        heartbeat(follower, follower_id, generation),
        ErrorCode::NONE
    );
    assert_eq!(
        heartbeat(follower, follower_id, generation + 1),
        ErrorCode::ILLEGAL_GENERATION
    );

    // Commits: a member's at its generation; a wrong generation, an unknown member and an
    // assign-mode commit (v0) to a group with members are refused.
    assert_eq!(
        member_commit(&mut admin, leader_id, generation),
        ErrorCode::NONE
    );
    assert_eq!(committed(&mut admin, GROUP, "t", 0), Some(Offset(7)));
    assert_eq!(
        member_commit(&mut admin, leader_id, generation + 1),
        ErrorCode::ILLEGAL_GENERATION
    );
    assert_eq!(
        member_commit(&mut admin, "no-such-member", generation),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit_offset(&mut admin, GROUP, "t", 0, 9),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(committed(&mut admin, GROUP, "t", 0), Some(Offset(7)));

    let described = describe_group(&mut admin);
    assert_eq!(described.error_code, ErrorCode::NONE);
    assert_eq!(described.state, "Stable");
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.protocol, "range");
    let mut members: Vec<_> = described
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.clone(),
                m.client_id.clone(),
                m.assignment.clone(),
            )
        })
        .collect();
    members.sort();
    let mut expected = vec![
        (
            leader_id.clone(),
            format!("client-{leader_id}"),
            Bytes::from(leader_assignment),
        ),
        (
            follower_id.clone(),
            format!("client-{follower_id}"),
            Bytes::from(follower_assignment),
        ),
    ];
    expected.sort();
    assert_eq!(members, expected);
    assert!(
        described
            .members
            .iter()
            .all(|m| m.client_host == "/127.0.0.1"),
        "{described:?}"
    );

    let listed = list_groups(&mut admin, &[]);
    assert!(
        listed.contains(&ListedGroup {
            group_id: GROUP.to_string(),
            protocol_type: "consumer".to_string(),
            state: "Stable".to_string(),
        }),
        "{listed:?}"
    );
    assert!(
        list_groups(&mut admin, &["stable"])
            .iter()
            .any(|g| g.group_id == GROUP)
    );
    assert!(
        list_groups(&mut admin, &["Empty"])
            .iter()
            .all(|g| g.group_id != GROUP)
    );

    assert_eq!(delete_group(&mut admin), ErrorCode::NON_EMPTY_GROUP);
    let leave = Request::LeaveGroup(LeaveGroupRequest {
        group_id: GROUP.to_string(),
        members: [leader_id, follower_id]
            .into_iter()
            .map(|id| LeavingMember {
                member_id: id.clone(),
                group_instance_id: None,
                reason: Some("the test is done".to_string()),
            })
            .collect(),
    });
    let Response::LeaveGroup(left) = admin.call(leave) else {
        panic!("not a leave group response")
    };
    assert_eq!(left.members.len(), 2);
    for (member, id) in left.members.iter().zip([leader_id, follower_id]) {
        assert_eq!(&member.member_id, id);
        assert_eq!(member.error_code, ErrorCode::NONE, "{member:?}");
    }
    assert_eq!(describe_group(&mut admin).state, "Empty");
    assert_eq!(delete_group(&mut admin), ErrorCode::NONE);
    assert_eq!(describe_group(&mut admin).state, "Dead");
    assert_eq!(delete_group(&mut admin), ErrorCode::GROUP_ID_NOT_FOUND);
    assert_eq!(committed(&mut admin, GROUP, "t", 0), None);
}
