//! Users' SCRAM credentials and ACLs over Kafka's protocol, against in-process brokers on
//! 127.0.0.1 (port 0): DescribeUserScramCredentials, AlterUserScramCredentials, CreateAcls,
//! DescribeAcls and DeleteAcls, requests built and responses decoded with `kafka-protocol`
//! (Kafka's own schemas). Each entry answered on its own with Kafka's errors; what is stored
//! outlives a broker restart and the loss of the controller quorum's leader. The tests with a
//! real client are in `.ci/kafka-clients/test_confluent.py`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, CreateAclsRequest,
    DeleteAclsRequest, DescribeAclsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_broker::{Broker, ServerOptions};
use ringlog_security::scram::{Mechanism, salted_password};

mod kafka_connection;
mod three_brokers;
use kafka_connection::Kafka;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Kafka's codes.
const REQUEST_TIMED_OUT: i16 = 7;
const INVALID_REQUEST: i16 = 42;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;
const SHA_256: i8 = 1;
const SHA_512: i8 = 2;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALLOW: i8 = 3;
const DENY: i8 = 2;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn start(dir: &Path) -> Broker {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut options = ServerOptions::new(dir.to_path_buf(), listen);
    options.shards = 2;
    let broker = Broker::start(options).expect("the broker starts");
    broker.wait_ready(TIMEOUT).expect("the broker registers");
    broker
}

/// An upsertion as Kafka's clients send it: salted by the client.
fn upsertion(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    let salt = format!("salt-of-{user}").into_bytes();
    let salted = match Mechanism::from_code(mechanism) {
        Some(m) => salted_password(m, b"secret", &salt, 4096.try_into().unwrap()),
        None => vec![0; 32],
    };
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted))
}

fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
}

/// AlterUserScramCredentials: (user, error code) per user, in the answer's order.
fn alter(
    kafka: &mut Kafka,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let request = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let response = kafka.call(0, &request);
    response
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

/// A user as DescribeUserScramCredentials answers: (user, error code, [(mechanism,
/// iterations)]).
type Described = (String, i16, Vec<(i8, i32)>);

fn describe_users(kafka: &mut Kafka, users: Option<&[&str]>) -> Vec<Described> {
    let names = users.map(|users| {
        users
            .iter()
            .map(|u| UserName::default().with_name(s(u)))
            .collect()
    });
    let request = DescribeUserScramCredentialsRequest::default().with_users(names);
    let response = kafka.call(0, &request);
    assert_eq!(response.error_code, 0);
    response
        .results
        .iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|i| (i.mechanism, i.iterations))
                .collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect()
}

fn pairs(list: &[(&str, i16)]) -> Vec<(String, i16)> {
    list.iter().map(|(u, c)| (u.to_string(), *c)).collect()
}

/// An ACL creation: (resource type, name, pattern type, principal, operation, permission).
fn acl(
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    op: i8,
    perm: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

fn create_acls(kafka: &mut Kafka, creations: Vec<AclCreation>) -> Vec<i16> {
    let request = CreateAclsRequest::default().with_creations(creations);
    let response = kafka.call(3, &request);
    response.results.iter().map(|r| r.error_code).collect()
}

/// A filter on the resource (type, name, pattern type) and principal, any operation.
fn filter(
    resource_type: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal.map(s))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// A binding as the answers list it: (type, name, pattern, principal, operation, permission).
type Listed = (i8, String, i8, String, i8, i8);

fn describe_acls(kafka: &mut Kafka, version: i16, f: &DeleteAclsFilter) -> (i16, Vec<Listed>) {
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(f.resource_type_filter)
        .with_resource_name_filter(f.resource_name_filter.clone())
        .with_pattern_type_filter(f.pattern_type_filter)
        .with_principal_filter(f.principal_filter.clone())
        .with_host_filter(f.host_filter.clone())
        .with_operation(f.operation)
        .with_permission_type(f.permission_type);
    let response = kafka.call(version, &request);
    let mut listed = Vec::new();
    for resource in &response.resources {
        for entry in &resource.acls {
            listed.push((
                resource.resource_type,
                resource.resource_name.to_string(),
                resource.pattern_type,
                entry.principal.to_string(),
                entry.operation,
                entry.permission_type,
            ));
        }
    }
    (response.error_code, listed)
}

fn delete_acls(kafka: &mut Kafka, filters: Vec<DeleteAclsFilter>) -> Vec<(i16, Vec<Listed>)> {
    let request = DeleteAclsRequest::default().with_filters(filters);
    let response = kafka.call(3, &request);
    response
        .filter_results
        .iter()
        .map(|r| {
            let matched = r
                .matching_acls
                .iter()
                .map(|m| {
                    (
                        m.resource_type,
                        m.resource_name.to_string(),
                        m.pattern_type,
                        m.principal.to_string(),
                        m.operation,
                        m.permission_type,
                    )
                })
                .collect();
            (r.error_code, matched)
        })
        .collect()
}

fn listed(resource_type: i8, name: &str, pattern: i8, principal: &str, op: i8, perm: i8) -> Listed {
    (
        resource_type,
        name.to_string(),
        pattern,
        principal.to_string(),
        op,
        perm,
    )
}

fn all() -> DeleteAclsFilter {
    filter(ANY, None, ANY, None)
}

#[test]
fn the_security_apis_are_advertised() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    let response = kafka.call(3, &ApiVersionsRequest::default());
    for (api, min, max) in [
        (ApiKey::DescribeAcls, 1, 3),
        (ApiKey::CreateAcls, 1, 3),
        (ApiKey::DeleteAcls, 1, 3),
        (ApiKey::DescribeUserScramCredentials, 0, 0),
        (ApiKey::AlterUserScramCredentials, 0, 0),
    ] {
        let listed = response
            .api_keys
            .iter()
            .find(|k| k.api_key == api as i16)
            .unwrap_or_else(|| panic!("{api:?} is not advertised"));
        assert_eq!(
            (listed.min_version, listed.max_version),
            (min, max),
            "{api:?}"
        );
    }
    drop(kafka);
    broker.stop().unwrap();
}

#[test]
fn scram_credentials_are_altered_per_user_described_without_keys_and_kept_over_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    assert!(describe_users(&mut kafka, None).is_empty());

    let outcome = alter(
        &mut kafka,
        vec![],
        vec![
            upsertion("alice", SHA_256, 4096),
            upsertion("bob", SHA_512, 8192),
        ],
    );
    assert_eq!(outcome, pairs(&[("alice", 0), ("bob", 0)]));
    // The answer comes once this broker shows the change.
    assert_eq!(
        describe_users(&mut kafka, None),
        vec![
            ("alice".to_string(), 0, vec![(SHA_256, 4096)]),
            ("bob".to_string(), 0, vec![(SHA_512, 8192)]),
        ]
    );

    // Each user on its own, with Kafka's errors.
    let outcome = alter(
        &mut kafka,
        vec![
            deletion("carol", SHA_256),
            deletion("bob", SHA_256),
            deletion("dave", 3),
            deletion("alice", SHA_256),
        ],
        vec![
            upsertion("alice", SHA_512, 4096),
            upsertion("erin", SHA_256, 4095),
            upsertion("frank", SHA_256, 16385),
            upsertion("grace", 0, 4096),
            upsertion("heidi", SHA_512, 10_000),
        ],
    );
    let expected = [
        ("carol", RESOURCE_NOT_FOUND),
        ("bob", RESOURCE_NOT_FOUND),
        ("dave", UNSUPPORTED_SASL_MECHANISM),
        ("alice", DUPLICATE_RESOURCE),
        ("erin", UNACCEPTABLE_CREDENTIAL),
        ("frank", UNACCEPTABLE_CREDENTIAL),
        ("grace", UNSUPPORTED_SASL_MECHANISM),
        ("heidi", 0),
    ];
    assert_eq!(outcome, pairs(&expected));

    // Named users: RESOURCE_NOT_FOUND for one without credentials, DUPLICATE_RESOURCE twice.
    let described = describe_users(&mut kafka, Some(&["heidi", "nobody", "bob", "bob"]));
    assert_eq!(
        described,
        vec![
            ("heidi".to_string(), 0, vec![(SHA_512, 10_000)]),
            ("nobody".to_string(), RESOURCE_NOT_FOUND, vec![]),
            ("bob".to_string(), DUPLICATE_RESOURCE, vec![]),
        ]
    );
    let outcome = alter(&mut kafka, vec![deletion("bob", SHA_512)], vec![]);
    assert_eq!(outcome, pairs(&[("bob", 0)]));
    drop(kafka);

    broker.stop().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    assert_eq!(
        describe_users(&mut kafka, None),
        vec![
            ("alice".to_string(), 0, vec![(SHA_256, 4096)]),
            ("heidi".to_string(), 0, vec![(SHA_512, 10_000)]),
        ]
    );
    drop(kafka);
    broker.stop().unwrap();
}

#[test]
fn acls_are_created_described_by_filters_deleted_and_kept_over_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    let codes = create_acls(
        &mut kafka,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            acl(TOPIC, "orders", LITERAL, "alice", READ, ALLOW),
            acl(TOPIC, "ord", PREFIXED, "User:bob", WRITE, DENY),
            acl(0, "orders", LITERAL, "User:bob", WRITE, DENY),
            acl(GROUP, "*", LITERAL, "User:*", READ, ALLOW),
            acl(TOPIC, "orders", MATCH, "User:bob", WRITE, DENY),
            // Already there: created again, no error.
            acl(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
        ],
    );
    assert_eq!(
        codes,
        [
            0,
            INVALID_REQUEST,
            0,
            INVALID_REQUEST,
            0,
            INVALID_REQUEST,
            0
        ]
    );
    let alice_reads = listed(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW);
    let bob_denied = listed(TOPIC, "ord", PREFIXED, "User:bob", WRITE, DENY);
    let everyone_reads = listed(GROUP, "*", LITERAL, "User:*", READ, ALLOW);
    // In their order: by resource type, name, pattern type, then entry.
    assert_eq!(
        describe_acls(&mut kafka, 3, &all()),
        (
            0,
            vec![
                bob_denied.clone(),
                alice_reads.clone(),
                everyone_reads.clone()
            ]
        )
    );
    // MATCH: what applies to topic `orders`: the literal and the prefix.
    let applies = filter(TOPIC, Some("orders"), MATCH, None);
    assert_eq!(
        describe_acls(&mut kafka, 1, &applies),
        (0, vec![bob_denied.clone(), alice_reads.clone()])
    );
    let bobs = filter(ANY, None, ANY, Some("User:bob"));
    assert_eq!(
        describe_acls(&mut kafka, 2, &bobs),
        (0, vec![bob_denied.clone()])
    );
    // An unknown code in the filter refuses the describe.
    let unknown = filter(0, None, ANY, None);
    assert_eq!(describe_acls(&mut kafka, 3, &unknown).0, INVALID_REQUEST);
    drop(kafka);

    // Kept over a restart.
    broker.stop().unwrap();
    let broker = start(dir.path());
    let mut kafka = Kafka::connect(broker.kafka_addr().unwrap());
    assert_eq!(describe_acls(&mut kafka, 3, &all()).1.len(), 3);
    let deleted = delete_acls(
        &mut kafka,
        vec![
            bobs,
            filter(0, None, ANY, None),
            filter(TOPIC, None, ANY, None),
            filter(TOPIC, Some("nothing"), LITERAL, None),
        ],
    );
    assert_eq!(
        deleted,
        vec![
            (0, vec![bob_denied.clone()]),
            (INVALID_REQUEST, vec![]),
            (0, vec![bob_denied, alice_reads]),
            (0, vec![]),
        ]
    );
    assert_eq!(
        describe_acls(&mut kafka, 3, &all()),
        (0, vec![everyone_reads])
    );
    drop(kafka);
    broker.stop().unwrap();
}

/// Three brokers in this process, every one a controller voter.
struct Cluster {
    _dirs: Vec<tempfile::TempDir>,
    brokers: Vec<Option<Broker>>,
}

impl Cluster {
    fn start() -> Cluster {
        let three_brokers::ThreeBrokers { dirs, brokers } = three_brokers::start(TIMEOUT, |_| {});
        Cluster {
            _dirs: dirs,
            brokers,
        }
    }

    fn kafka(&self, index: usize) -> Kafka {
        let broker = self.brokers[index].as_ref().expect("running");
        Kafka::connect(broker.kafka_addr().unwrap())
    }

    /// The index of the broker whose controller leads the quorum.
    fn leader(&self) -> usize {
        three_brokers::controller_leader(&self.brokers, TIMEOUT)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for broker in self.brokers.iter_mut().filter_map(Option::take) {
            let _ = broker.stop();
        }
    }
}

/// Waits until `done` holds of what `read` returns.
fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) {
    let started = Instant::now();
    loop {
        let value = read();
        if done(&value) {
            return;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "timed out waiting for {what}: {value:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn credentials_and_acls_reach_every_broker_and_outlive_the_controller_leader() {
    let mut cluster = Cluster::start();
    let leader = cluster.leader();
    // Asked of a broker that does not lead the quorum: forwarded there.
    let asked = (leader + 1) % 3;
    let mut kafka = cluster.kafka(asked);
    assert_eq!(
        alter(&mut kafka, vec![], vec![upsertion("alice", SHA_512, 4096)]),
        pairs(&[("alice", 0)])
    );
    let read_all = acl(TOPIC, "*", LITERAL, "User:alice", READ, ALLOW);
    assert_eq!(create_acls(&mut kafka, vec![read_all]), [0]);
    drop(kafka);
    for index in 0..3 {
        let mut kafka = cluster.kafka(index);
        eventually(
            "the credential on every broker",
            || describe_users(&mut kafka, None),
            |users| users.len() == 1,
        );
        eventually(
            "the acl on every broker",
            || describe_acls(&mut kafka, 3, &all()).1,
            |acls| acls.len() == 1,
        );
    }

    // The quorum's leader goes: a new one has both, and takes changes.
    cluster.brokers[leader].take().unwrap().stop().unwrap();
    let next = cluster.leader();
    assert_ne!(next, leader);
    let mut kafka = cluster.kafka(next);
    assert_eq!(
        describe_users(&mut kafka, None),
        vec![("alice".to_string(), 0, vec![(SHA_512, 4096)])]
    );
    assert_eq!(
        alter(&mut kafka, vec![], vec![upsertion("bob", SHA_256, 4096)]),
        pairs(&[("bob", 0)])
    );
    let deleted = delete_acls(&mut kafka, vec![all()]);
    assert_eq!(deleted[0].0, 0);
    assert_eq!(deleted[0].1.len(), 1);
    let other = (0..3).find(|&i| i != leader && i != next).unwrap();
    let mut kafka = cluster.kafka(other);
    eventually(
        "the changes on the other broker",
        || {
            (
                describe_users(&mut kafka, None).len(),
                describe_acls(&mut kafka, 3, &all()).1,
            )
        },
        |(users, acls)| *users == 2 && acls.is_empty(),
    );

    // One voter of three left: no quorum. Each entry is answered REQUEST_TIMED_OUT once the
    // submit gives up (as the topic admin requests are), and the describes still answer from
    // what the broker has.
    cluster.brokers[next].take().unwrap().stop().unwrap();
    let mut kafka = cluster.kafka(other);
    let creations = vec![
        acl(TOPIC, "a", LITERAL, "User:alice", READ, ALLOW),
        acl(TOPIC, "b", LITERAL, "User:alice", READ, ALLOW),
    ];
    assert_eq!(
        create_acls(&mut kafka, creations),
        [REQUEST_TIMED_OUT, REQUEST_TIMED_OUT]
    );
    assert_eq!(
        alter(&mut kafka, vec![deletion("bob", SHA_256)], vec![]),
        pairs(&[("bob", REQUEST_TIMED_OUT)])
    );
    assert_eq!(describe_users(&mut kafka, None).len(), 2);
}
