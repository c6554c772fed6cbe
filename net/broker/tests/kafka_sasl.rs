//! SASL on the Kafka listener (`SASL_PLAINTEXT`, `SASL_SSL`) against in-process brokers on
//! 127.0.0.1 (port 0), over a raw Kafka connection: SaslHandshake and SaslAuthenticate built
//! and decoded with `kafka-protocol`, the SCRAM and PLAIN messages with `ringlog-security`'s
//! client. Users come from `sasl_bootstrap_users` (the admin) and AlterUserScramCredentials
//! (the others, salted by the client as Kafka's clients salt). Checked: SCRAM-SHA-256 and -512
//! log in and are then served; a wrong password and an unknown user get the same failure and a
//! closed connection; nothing is served before authentication; an unsupported mechanism gets
//! the enabled list; PLAIN when enabled; sessions that expire (KIP-368) are renewed on the
//! connection by the same user only, and an expired one closes its connection; failures wait,
//! longer when repeated; the bootstrap users are written once; SASL over TLS. And what a
//! logged-in user may do with the authorizer on: each API's refusal where Kafka puts it, and
//! what an ACL then allows. The tests with real clients are in `.ci/kafka-clients/test_sasl.py`
//! and `test_acls.py`.

mod kafka_connection;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_connection::{Kafka, connect_socket};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, CreateAclsRequest,
    CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeAclsRequest,
    DescribeConfigsRequest, DescribeUserScramCredentialsRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, MetadataRequest,
    OffsetCommitRequest, ProduceRequest, ProducerId, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ring::rand::SystemRandom;
use ringlog_broker::config::{BrokerConfig, Listeners, SecurityProtocol};
use ringlog_broker::{Broker, ServerOptions};
use ringlog_engine::format::{BatchBuilder, Record};
use ringlog_security::plain;
use ringlog_security::scram::{Mechanism, ScramClient, salted_password};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Kafka's codes.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const UNSUPPORTED_VERSION: i16 = 35;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

const ADMIN: (&str, &str) = ("admin", "admin-secret");
const ALICE: (&str, &str) = ("alice", "alice-secret");

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A broker whose Kafka listener is `security` (SASL_PLAINTEXT unless `tune` says else),
/// with the bootstrap user admin (SCRAM-SHA-512) and no delay after a failure, as `tune`
/// leaves it.
fn start(dir: &Path, tune: impl FnOnce(&mut BrokerConfig)) -> Broker {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        listeners: Listeners {
            thin: any,
            kafka: Some(any),
            kafka_security: SecurityProtocol::SaslPlaintext,
            ..Listeners::default()
        },
        sasl_bootstrap_users: vec![
            "SCRAM-SHA-512=[name=admin,password=admin-secret]"
                .parse()
                .unwrap(),
        ],
        connection_failed_authentication_delay: Duration::ZERO,
        ..BrokerConfig::default()
    };
    tune(&mut config);
    let mut options = ServerOptions::from_config(config);
    options.shards = 2;
    let broker = Broker::start(options).expect("the broker starts");
    broker.wait_ready(TIMEOUT).expect("the broker registers");
    broker
}

/// How a SASL login ended when it failed: the step's error code and message.
type Refused = (i16, Option<String>);

/// SaslHandshake v1 for `mechanism`: (error code, mechanisms listed).
fn handshake(kafka: &mut Kafka, mechanism: &str) -> (i16, Vec<String>) {
    let request = SaslHandshakeRequest::default().with_mechanism(s(mechanism));
    let response = kafka.call(1, &request);
    let listed = response
        .mechanisms
        .iter()
        .map(ToString::to_string)
        .collect();
    (response.error_code, listed)
}

/// SaslAuthenticate at `version` with `token`.
fn authenticate(kafka: &mut Kafka, version: i16, token: Vec<u8>) -> SaslAuthenticateResponse {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    kafka.call(version, &request)
}

fn refused(response: &SaslAuthenticateResponse) -> Refused {
    let message = response.error_message.as_ref().map(ToString::to_string);
    (response.error_code, message)
}

/// A SCRAM login (handshake, client-first, client-final) with SaslAuthenticate at `version`:
/// the last answer, its server signature checked, or the failure.
fn scram_login(
    kafka: &mut Kafka,
    mechanism: Mechanism,
    (user, password): (&str, &str),
    version: i16,
) -> Result<SaslAuthenticateResponse, Refused> {
    let (code, _) = handshake(kafka, mechanism.name());
    if code != 0 {
        return Err((code, None));
    }
    let mut client = ScramClient::new(mechanism, user, password, &mut SystemRandom::new());
    let first = authenticate(kafka, version, client.client_first());
    if first.error_code != 0 {
        return Err(refused(&first));
    }
    let client_final = client.server_first(&first.auth_bytes).unwrap();
    let last = authenticate(kafka, version, client_final);
    if last.error_code != 0 {
        return Err(refused(&last));
    }
    client
        .server_final(&last.auth_bytes)
        .expect("the broker proves it holds the credential");
    Ok(last)
}

/// A PLAIN login.
fn plain_login(kafka: &mut Kafka, (user, password): (&str, &str)) -> Result<(), Refused> {
    let (code, _) = handshake(kafka, "PLAIN");
    if code != 0 {
        return Err((code, None));
    }
    let answer = authenticate(kafka, 2, plain::build(user, password));
    if answer.error_code != 0 {
        return Err(refused(&answer));
    }
    Ok(())
}

/// A connection logged in as admin, once the broker wrote the bootstrap user.
fn admin(addr: SocketAddr) -> Kafka {
    let started = Instant::now();
    loop {
        let mut kafka = Kafka::connect(addr);
        match scram_login(&mut kafka, Mechanism::ScramSha512, ADMIN, 2) {
            Ok(_) => return kafka,
            Err(refused) => assert!(
                started.elapsed() < TIMEOUT,
                "the bootstrap admin cannot log in: {refused:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Gives `user` a credential for each of `mechanisms` with AlterUserScramCredentials, salted
/// here as Kafka's clients salt. One request per mechanism: a user named twice in one request
/// is refused whole (DUPLICATE_RESOURCE), as in Kafka.
fn create_user(kafka: &mut Kafka, (user, password): (&str, &str), mechanisms: &[Mechanism]) {
    for &mechanism in mechanisms {
        let salt = format!("salt-of-{user}-{mechanism}").into_bytes();
        let salted = salted_password(
            mechanism,
            password.as_bytes(),
            &salt,
            4096.try_into().unwrap(),
        );
        let upsertion = ScramCredentialUpsertion::default()
            .with_name(s(user))
            .with_mechanism(mechanism.code())
            .with_iterations(4096)
            .with_salt(Bytes::from(salt))
            .with_salted_password(Bytes::from(salted));
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]);
        let response = kafka.call(0, &request);
        assert_eq!(response.results[0].error_code, 0, "{response:?}");
    }
}

fn create_topic(kafka: &mut Kafka, topic: &str) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(30_000);
    let response = kafka.call(7, &request);
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
}

/// Produces one record with acks=all: its offset.
fn produce(kafka: &mut Kafka, topic: &str, value: &str) -> i64 {
    let answer = produce_answer(kafka, topic, value);
    assert_eq!(answer.error_code, 0, "{answer:?}");
    answer.base_offset
}

/// Produce v9 of one record with acks=all: the partition's answer.
fn produce_answer(kafka: &mut Kafka, topic: &str, value: &str) -> PartitionProduceResponse {
    let mut builder = BatchBuilder::new();
    builder.push(&Record {
        value: Some(value.as_bytes()),
        timestamp: 1_700_000_000_000,
        ..Record::default()
    });
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(builder.finish()))),
                ]),
        ]);
    kafka
        .call(9, &request)
        .responses
        .remove(0)
        .partition_responses
        .remove(0)
}

/// The topics Metadata lists, but the internal ones (`__consumer_offsets`).
fn topics(kafka: &mut Kafka) -> Vec<String> {
    let response = kafka.call(12, &MetadataRequest::default().with_topics(None));
    let mut names: Vec<String> = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .filter(|name| !name.starts_with("__"))
        .collect();
    names.sort();
    names
}

/// The versions ApiVersions lists for the two SASL APIs (`None` where not listed).
fn sasl_apis_listed(kafka: &mut Kafka) -> [Option<(i16, i16)>; 2] {
    let response = kafka.call(3, &ApiVersionsRequest::default());
    [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate].map(|api| {
        response
            .api_keys
            .iter()
            .find(|k| k.api_key == api as i16)
            .map(|k| (k.min_version, k.max_version))
    })
}

#[test]
fn scram_users_log_in_with_either_mechanism_and_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();

    // ApiVersions is served before authentication, and lists the SASL APIs here.
    let mut kafka = Kafka::connect(addr);
    assert_eq!(sasl_apis_listed(&mut kafka), [Some((0, 1)), Some((0, 2))]);
    drop(kafka);

    let mut admin = admin(addr);
    create_user(
        &mut admin,
        ALICE,
        &[Mechanism::ScramSha256, Mechanism::ScramSha512],
    );
    create_topic(&mut admin, "orders");
    for (version, mechanism) in [(0, Mechanism::ScramSha256), (2, Mechanism::ScramSha512)] {
        let mut kafka = Kafka::connect(addr);
        let last = scram_login(&mut kafka, mechanism, ALICE, version).unwrap();
        assert_eq!(
            last.session_lifetime_ms, 0,
            "sessions do not expire by default"
        );
        assert_eq!(topics(&mut kafka), ["orders"]);
        let offset = produce(&mut kafka, "orders", "from alice");
        assert_eq!(offset, if version == 0 { 0 } else { 1 });
        // Authenticated already: another token is out of turn, and the connection stays.
        let again = authenticate(&mut kafka, version, b"n,,n=alice,r=abc".to_vec());
        assert_eq!(again.error_code, ILLEGAL_SASL_STATE);
        let (code, _) = handshake(&mut kafka, mechanism.name());
        assert_eq!(code, ILLEGAL_SASL_STATE, "no session to renew");
        assert_eq!(topics(&mut kafka), ["orders"]);
    }
    drop(admin);
    broker.stop().unwrap();
}

#[test]
fn a_listener_without_sasl_does_not_list_or_serve_the_sasl_apis() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.listeners.kafka_security = SecurityProtocol::Plaintext;
    });
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    assert_eq!(sasl_apis_listed(&mut kafka), [None, None]);
    assert_eq!(topics(&mut kafka), Vec::<String>::new());
    // As any API not served: the connection closes.
    let request = SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-256"));
    assert!(kafka.try_call(1, &request).is_err());
    drop(kafka);
    broker.stop().unwrap();
}

#[test]
fn a_wrong_password_and_an_unknown_user_fail_alike_and_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();
    let mut admin = admin(addr);
    create_user(&mut admin, ALICE, &[Mechanism::ScramSha256]);

    let mut answers = Vec::new();
    for login in [("alice", "not-her-password"), ("mallory", "alice-secret")] {
        let mut kafka = Kafka::connect(addr);
        let refused = scram_login(&mut kafka, Mechanism::ScramSha256, login, 2).unwrap_err();
        assert!(
            kafka.is_closed(),
            "{login:?}: the connection is closed after the answer"
        );
        answers.push(refused);
    }
    let expected = (
        SASL_AUTHENTICATION_FAILED,
        Some(
            "authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-256"
                .to_string(),
        ),
    );
    assert_eq!(answers, [expected.clone(), expected]);
    // alice has no SCRAM-SHA-512 credential: the same answer again.
    let mut kafka = Kafka::connect(addr);
    let refused = scram_login(&mut kafka, Mechanism::ScramSha512, ALICE, 2).unwrap_err();
    assert_eq!(refused.0, SASL_AUTHENTICATION_FAILED);
    assert!(kafka.is_closed());
    // The failures did not disturb the admin's connection.
    assert_eq!(topics(&mut admin), Vec::<String>::new());
    drop(admin);
    broker.stop().unwrap();
}

#[test]
fn nothing_but_api_versions_and_sasl_is_served_before_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();
    drop(admin(addr));

    // A Metadata request first: closed without an answer, as Kafka closes it.
    let mut kafka = Kafka::connect(addr);
    assert!(kafka.try_call(12, &MetadataRequest::default()).is_err());
    // After the handshake, during the exchange: the same.
    let mut kafka = Kafka::connect(addr);
    assert_eq!(handshake(&mut kafka, "SCRAM-SHA-512").0, 0);
    assert!(kafka.try_call(12, &MetadataRequest::default()).is_err());
    // A token before any handshake: out of turn, answered, closed.
    let mut kafka = Kafka::connect(addr);
    let answer = authenticate(&mut kafka, 2, b"n,,n=admin,r=abc".to_vec());
    assert_eq!(answer.error_code, ILLEGAL_SASL_STATE);
    assert!(kafka.is_closed());
    // A second handshake during the exchange: the same.
    let mut kafka = Kafka::connect(addr);
    assert_eq!(handshake(&mut kafka, "SCRAM-SHA-512").0, 0);
    assert_eq!(handshake(&mut kafka, "SCRAM-SHA-512").0, ILLEGAL_SASL_STATE);
    assert!(kafka.is_closed());
    // SaslHandshake v0 (tokens unframed after it): listed for old librdkafka, answered
    // UNSUPPORTED_VERSION with the mechanisms, closed.
    let mut kafka = Kafka::connect(addr);
    let v0 = SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512"));
    let answer = kafka.call(0, &v0);
    assert_eq!(answer.error_code, UNSUPPORTED_VERSION);
    assert_eq!(answer.mechanisms.len(), 2);
    assert!(kafka.is_closed());
    broker.stop().unwrap();
}

#[test]
fn a_mechanism_not_enabled_is_answered_with_the_enabled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();
    for mechanism in ["PLAIN", "GSSAPI", "OAUTHBEARER"] {
        let mut kafka = Kafka::connect(addr);
        let (code, listed) = handshake(&mut kafka, mechanism);
        assert_eq!(code, UNSUPPORTED_SASL_MECHANISM, "{mechanism}");
        assert_eq!(listed, ["SCRAM-SHA-256", "SCRAM-SHA-512"], "{mechanism}");
        assert!(kafka.is_closed(), "{mechanism}");
    }
    broker.stop().unwrap();
}

#[test]
fn plain_logs_in_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.sasl_enabled_mechanisms =
            vec!["PLAIN".parse_mechanism(), "SCRAM-SHA-512".parse_mechanism()];
    });
    let addr = broker.kafka_addr().unwrap();
    let mut admin = admin(addr);
    // alice has only a SCRAM-SHA-256 credential: PLAIN checks against it.
    create_user(&mut admin, ALICE, &[Mechanism::ScramSha256]);
    let (_, listed) = handshake(&mut Kafka::connect(addr), "SCRAM-SHA-256");
    assert_eq!(listed, ["PLAIN", "SCRAM-SHA-512"]);
    let mut kafka = Kafka::connect(addr);
    plain_login(&mut kafka, ALICE).unwrap();
    assert_eq!(topics(&mut kafka), Vec::<String>::new());
    let mut kafka = Kafka::connect(addr);
    let refused = plain_login(&mut kafka, ("alice", "admin-secret")).unwrap_err();
    assert_eq!(
        refused,
        (
            SASL_AUTHENTICATION_FAILED,
            Some(
                "authentication failed: invalid credentials with SASL mechanism PLAIN".to_string()
            )
        )
    );
    assert!(kafka.is_closed());
    // The admin's SCRAM-SHA-512 password works with PLAIN too.
    plain_login(&mut Kafka::connect(addr), ADMIN).unwrap();
    drop(admin);
    broker.stop().unwrap();
}

#[test]
fn sessions_expire_and_are_renewed_on_the_connection_by_the_same_user() {
    let lifetime = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.connections_max_reauth = Some(lifetime);
    });
    let addr = broker.kafka_addr().unwrap();
    let mut admin = admin(addr);
    create_user(&mut admin, ALICE, &[Mechanism::ScramSha256]);
    drop(admin);

    let mut kafka = Kafka::connect(addr);
    let last = scram_login(&mut kafka, Mechanism::ScramSha256, ALICE, 1).unwrap();
    assert_eq!(last.session_lifetime_ms, 1500);
    // Renewed before it ends, twice, serving requests in between (KIP-368: a handshake on an
    // authenticated connection begins the re-authentication).
    for _ in 0..2 {
        std::thread::sleep(lifetime / 2);
        assert_eq!(topics(&mut kafka), Vec::<String>::new());
        let last = scram_login(&mut kafka, Mechanism::ScramSha256, ALICE, 2).unwrap();
        assert_eq!(last.session_lifetime_ms, 1500);
    }
    assert_eq!(topics(&mut kafka), Vec::<String>::new());
    // Not renewed: its next request closes the connection.
    std::thread::sleep(lifetime + Duration::from_millis(200));
    assert!(kafka.try_call(12, &MetadataRequest::default()).is_err());

    // Renewed by another user: refused, closed.
    let mut kafka = Kafka::connect(addr);
    scram_login(&mut kafka, Mechanism::ScramSha256, ALICE, 2).unwrap();
    let refused = scram_login(&mut kafka, Mechanism::ScramSha256, ("admin", "x"), 2);
    assert_eq!(refused.unwrap_err().0, SASL_AUTHENTICATION_FAILED);
    assert!(kafka.is_closed());
    let mut kafka = Kafka::connect(addr);
    scram_login(&mut kafka, Mechanism::ScramSha256, ALICE, 2).unwrap();
    let mut other = Kafka::connect(addr);
    let refused = scram_login(&mut other, Mechanism::ScramSha512, ADMIN, 2);
    assert!(refused.is_ok(), "admin logs in on a connection of its own");
    // With another mechanism than the session's: refused, closed.
    let refused = scram_login(&mut kafka, Mechanism::ScramSha512, ALICE, 2).unwrap_err();
    assert_eq!(refused.0, SASL_AUTHENTICATION_FAILED);
    assert!(refused.1.unwrap().contains("keeps its mechanism"));
    assert!(kafka.is_closed());
    broker.stop().unwrap();
}

#[test]
fn failures_from_one_address_are_answered_later_and_later() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.connection_failed_authentication_delay = Duration::from_millis(100);
    });
    let addr = broker.kafka_addr().unwrap();
    drop(admin(addr));
    let mut waits = Vec::new();
    for _ in 0..3 {
        let mut kafka = Kafka::connect(addr);
        let started = Instant::now();
        let refused = scram_login(&mut kafka, Mechanism::ScramSha512, ("admin", "guess"), 2);
        waits.push(started.elapsed());
        assert_eq!(refused.unwrap_err().0, SASL_AUTHENTICATION_FAILED);
        assert!(kafka.is_closed());
    }
    // 100, 200, 400 ms (the admin's retries while the bootstrap user was being written may
    // have failed before: then longer).
    for (wait, least) in waits.iter().zip([100, 200, 400]) {
        assert!(wait.as_millis() >= least, "{waits:?}");
    }
    assert!(waits[2] > waits[0], "{waits:?}");
    // A success is not held back.
    let started = Instant::now();
    drop(admin(addr));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    broker.stop().unwrap();
}

#[test]
fn bootstrap_users_are_written_once_and_hidden_from_describe_configs() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();
    let mut admin = admin(addr);
    let request = DescribeConfigsRequest::default().with_resources(vec![
        kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s(""))
            .with_configuration_keys(None),
    ]);
    let response = admin.call(4, &request);
    let described = &response.results[0].configs;
    let users = described
        .iter()
        .find(|c| c.name.as_str() == "sasl_bootstrap_users")
        .expect("the key is described");
    assert!(users.is_sensitive);
    assert_eq!(users.value, None);
    // The admin changes its password.
    create_user(&mut admin, ("admin", "changed"), &[Mechanism::ScramSha512]);
    drop(admin);
    broker.stop().unwrap();

    // Started again with the bootstrap user in its config: the metadata holds users, so the
    // changed password stays.
    let broker = start(dir.path(), |_| {});
    let addr = broker.kafka_addr().unwrap();
    let mut kafka = Kafka::connect(addr);
    scram_login(&mut kafka, Mechanism::ScramSha512, ("admin", "changed"), 2).unwrap();
    let mut kafka = Kafka::connect(addr);
    let refused = scram_login(&mut kafka, Mechanism::ScramSha512, ADMIN, 2);
    assert_eq!(refused.unwrap_err().0, SASL_AUTHENTICATION_FAILED);
    broker.stop().unwrap();
}

#[test]
fn scram_over_sasl_ssl() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.listeners.kafka_security = SecurityProtocol::SaslSsl;
        config.ssl_keystore_location = Some(pki.keystore.clone());
    });
    let addr = broker.kafka_addr().unwrap();
    // Plaintext on a TLS listener gets no answer.
    assert!(
        Kafka::connect(addr)
            .try_call(3, &ApiVersionsRequest::default())
            .is_err()
    );
    let started = Instant::now();
    let mut kafka = loop {
        let mut kafka = Kafka::over(pki.connect(addr));
        match scram_login(&mut kafka, Mechanism::ScramSha512, ADMIN, 2) {
            Ok(_) => break kafka,
            Err(refused) => assert!(started.elapsed() < TIMEOUT, "{refused:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    create_topic(&mut kafka, "tls-orders");
    assert_eq!(produce(&mut kafka, "tls-orders", "over TLS"), 0);
    let mut wrong = Kafka::over(pki.connect(addr));
    let refused = scram_login(&mut wrong, Mechanism::ScramSha512, ("admin", "guess"), 2);
    assert_eq!(refused.unwrap_err().0, SASL_AUTHENTICATION_FAILED);
    assert!(wrong.is_closed());
    drop(kafka);
    broker.stop().unwrap();
}

/// Kafka's authorization codes.
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

/// admin grants `principal` `operation` (Kafka's codes) on the resource.
fn grant(admin: &mut Kafka, principal: &str, resource_type: i8, name: &str, operation: i8) {
    let creation = AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(3)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(3);
    let response = admin.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![creation]),
    );
    assert_eq!(response.results[0].error_code, 0, "{response:?}");
}

/// Metadata v12 of the topics named (`None`: every one), with the topics' authorized
/// operations: (name, error code, operations) per topic, internal ones left out.
fn described(kafka: &mut Kafka, named: Option<&[&str]>) -> Vec<(String, i16, i32)> {
    let topics = named.map(|names| {
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(s(n)))))
            .collect()
    });
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_include_topic_authorized_operations(true);
    kafka
        .call(12, &request)
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            (name, t.error_code, t.topic_authorized_operations)
        })
        .filter(|(name, _, _)| !name.starts_with("__"))
        .collect()
}

/// Produce v9 of one record: the partition's error code.
fn produce_code(kafka: &mut Kafka, topic: &str) -> i16 {
    produce_answer(kafka, topic, "v").error_code
}

/// InitProducerId v4 for an idempotent producer (no transactional id).
fn init_producer_id(kafka: &mut Kafka) -> InitProducerIdResponse {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
        .with_transaction_timeout_ms(60_000);
    kafka.call(4, &request)
}

#[test]
fn the_authorizer_refuses_each_api_where_kafka_does_and_acls_allow() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), |config| {
        config.authorizer_enabled = true;
        config.super_users = vec![ringlog_security::Principal::user("admin")];
    });
    let addr = broker.kafka_addr().unwrap();
    // The super user needs no ACL.
    let mut root = admin(addr);
    create_user(&mut root, ALICE, &[Mechanism::ScramSha512]);
    create_topic(&mut root, "orders");
    create_topic(&mut root, "payroll");
    assert_eq!(produce(&mut root, "orders", "first"), 0);
    let mut alice = Kafka::connect(addr);
    scram_login(&mut alice, Mechanism::ScramSha512, ALICE, 2).unwrap();

    // Without an ACL: nothing listed, and each topic, group and cluster action refused.
    assert_eq!(described(&mut alice, None), []);
    assert_eq!(
        described(&mut alice, Some(&["orders", "nowhere"])),
        [
            ("orders".to_string(), TOPIC_AUTHORIZATION_FAILED, i32::MIN),
            ("nowhere".to_string(), TOPIC_AUTHORIZATION_FAILED, i32::MIN),
        ],
        "a topic that does not exist is refused alike"
    );
    assert_eq!(
        produce_code(&mut alice, "orders"),
        TOPIC_AUTHORIZATION_FAILED
    );
    let init = init_producer_id(&mut alice);
    assert_eq!(init.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let create = alice.call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s("mine")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(create.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let delete = alice.call(
        5,
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(s("orders"))])
            .with_timeout_ms(30_000),
    );
    assert_eq!(delete.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let configs = alice.call(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders")),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("")),
        ]),
    );
    let codes: Vec<i16> = configs.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED]
    );
    let coordinator = alice.call(
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("billing")]),
    );
    assert_eq!(
        coordinator.coordinators[0].error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let join = alice.call(
        9,
        &JoinGroupRequest::default()
            .with_group_id(GroupId(s("billing")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer")),
    );
    assert_eq!(join.error_code, GROUP_AUTHORIZATION_FAILED);
    let acls = alice.call(
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(acls.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let users = alice.call(0, &DescribeUserScramCredentialsRequest::default());
    assert_eq!(users.error_code, CLUSTER_AUTHORIZATION_FAILED);

    // Write on orders: produce there (and Describe it), an idempotent producer id; still
    // nothing on payroll, and not OffsetCommit without Read.
    grant(&mut root, "User:alice", 2, "orders", 4);
    grant(&mut root, "User:alice", 3, "billing", 3);
    assert_eq!(produce_code(&mut alice, "orders"), 0);
    assert_eq!(
        produce_code(&mut alice, "payroll"),
        TOPIC_AUTHORIZATION_FAILED
    );
    let init = init_producer_id(&mut alice);
    assert_eq!(
        init.error_code, 0,
        "Write on a topic allows an idempotent producer"
    );
    // Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs are codes
    // 3 to 8, 10 and 11: Write (4) and the Describe (8) it implies.
    assert_eq!(
        described(&mut alice, None),
        [("orders".to_string(), 0, 1 << 4 | 1 << 8)]
    );
    let commit = alice.call(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("billing")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]),
    );
    assert_eq!(
        commit.topics[0].partitions[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "Read on the group, not on the topic"
    );
    let delete = alice.call(
        2,
        &DeleteRecordsRequest::default()
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(1),
                    ]),
            ])
            .with_timeout_ms(30_000),
    );
    assert_eq!(
        delete.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
    // The super user saw both of alice's records appended, and none of the refused ones.
    assert_eq!(produce(&mut root, "orders", "last"), 2);
    assert_eq!(produce(&mut root, "payroll", "first"), 0);
    drop((alice, root));
    broker.stop().unwrap();
}

/// A CA of the test's own and a broker certificate for 127.0.0.1 it signed (rcgen; nothing
/// checked in).
struct Pki {
    ca: rustls::pki_types::CertificateDer<'static>,
    keystore: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "sasl test ca");
        let ca = params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let broker = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keystore = dir.path().join("broker.pem");
        std::fs::write(
            &keystore,
            format!("{}{}", key.serialize_pem(), broker.pem()),
        )
        .unwrap();
        Pki {
            ca: ca.der().clone(),
            keystore,
            _dir: dir,
        }
    }

    /// TLS to `addr` as `localhost`, trusting the CA.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let config =
            rustls::ClientConfig::builder_with_provider(ringlog_security::tls::crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let session = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        rustls::StreamOwned::new(session, connect_socket(addr))
    }
}

/// A SASL mechanism by name, for a config.
trait ParseMechanism {
    fn parse_mechanism(&self) -> ringlog_broker::config::SaslMechanism;
}

impl ParseMechanism for str {
    fn parse_mechanism(&self) -> ringlog_broker::config::SaslMechanism {
        ringlog_broker::config::SaslMechanism::from_name(self).unwrap()
    }
}
