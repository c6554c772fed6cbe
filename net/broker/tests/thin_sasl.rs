//! SASL on the thin listener (`THIN_SASL_PLAINTEXT`, `THIN_SASL_SSL`) against in-process
//! brokers on 127.0.0.1, with ringlog's own client logging in (`ClientConfig::sasl`). Users come
//! from `sasl_bootstrap_users` (the admin, which is also the brokers' inter-broker user) and
//! `Admin::set_scram_credential` (alice). Checked: SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN log
//! in, produce and consume; a wrong password gets the authentication error, is not retried and
//! appends nothing; a client without SASL is told its listener asks for it; over a raw socket,
//! ApiVersions lists the SASL APIs and any other request before the login closes the
//! connection unanswered; an expiring session is renewed on the connection; SASL inside TLS;
//! and a three-broker cluster with the authorizer on where one broker has the wrong
//! inter-broker password: it never joins an ISR, the others do (their user is a super user, so
//! may fetch as followers), and the leader keeps serving. With the authorizer on, a user is
//! refused what no ACL allows (TOPIC_ and CLUSTER_AUTHORIZATION_FAILED, nothing appended) and
//! served what its ACLs allow; a follower's fetch needs ClusterAction.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use ringlog_broker::config::{BrokerConfig, Listeners, Password, SaslMechanism, SecurityProtocol};
use ringlog_broker::{Broker, ServerOptions};
use ringlog_client::connection::{Connection, ConnectionLimits};
use ringlog_client::{
    Acks, Client, ClientConfig, ClientError, ClientSasl, ClientTls, ConsumerConfig, OffsetReset,
    ProducerConfig, Record, TopicPartition,
};
use ringlog_replication::BrokerId;
use ringlog_security::Principal;
use ringlog_security::acl::{
    AccessEntry, AclBinding, Operation, PatternType, Permission, ResourcePattern, ResourceType,
};
use ringlog_security::scram::Mechanism;
use ringlog_wire::api::api_versions::ApiVersionsRequest;
use ringlog_wire::api::fetch::FetchRequest;
use ringlog_wire::api::metadata::MetadataRequest;
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_response_frame};
use ringlog_wire::{
    ApiKey, CorrelationId, ErrorCode, Request, Response, decode_response, encode_request,
};

/// How long a test waits for what it expects.
const DEADLINE: Duration = Duration::from_secs(30);

const ADMIN: (&str, &str) = ("admin", "admin-secret");
const ALICE: (&str, &str) = ("alice", "alice-secret");
const SHA_256: SaslMechanism = SaslMechanism::Scram(Mechanism::ScramSha256);
const SHA_512: SaslMechanism = SaslMechanism::Scram(Mechanism::ScramSha512);

/// A broker config whose thin listener is `security` (a SASL one) at `thin`, offering both
/// SCRAMs and PLAIN, with the bootstrap user admin (SCRAM-SHA-512), which the broker also logs
/// in to its peers as, and no delay after a failed login.
fn sasl_config(
    dir: &tempfile::TempDir,
    thin: SocketAddr,
    security: SecurityProtocol,
) -> BrokerConfig {
    BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        listeners: Listeners {
            thin,
            thin_security: security,
            kafka: None,
            kafka_security: SecurityProtocol::Plaintext,
        },
        sasl_enabled_mechanisms: vec![SHA_256, SHA_512, SaslMechanism::Plain],
        sasl_bootstrap_users: vec![
            format!("SCRAM-SHA-512=[name={},password={}]", ADMIN.0, ADMIN.1)
                .parse()
                .unwrap(),
        ],
        inter_broker_sasl_mechanism: SHA_512,
        inter_broker_sasl_username: ADMIN.0.to_string(),
        inter_broker_sasl_password: Password::new(ADMIN.1),
        connection_failed_authentication_delay: Duration::ZERO,
        ..BrokerConfig::default()
    }
}

/// One broker of `config`, serving.
fn start(config: BrokerConfig) -> Broker {
    let mut options = ServerOptions::from_config(config);
    options.shards = 2;
    let broker = Broker::start(options).expect("the broker starts");
    broker.wait_ready(DEADLINE).expect("the broker registers");
    broker
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn client_config(addresses: &[SocketAddr], sasl: ClientSasl) -> ClientConfig {
    ClientConfig {
        bootstrap: addresses.iter().map(SocketAddr::to_string).collect(),
        sasl: Some(sasl),
        ..ClientConfig::default()
    }
}

/// A client logged in as admin, once the broker wrote the bootstrap user (it does so after it
/// registers: until then the login fails).
async fn admin_client(config: ClientConfig) -> Client {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match Client::connect(config.clone()).await {
            Ok(client) => return client,
            Err(error) => assert!(
                Instant::now() < deadline,
                "the bootstrap admin cannot log in: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Gives alice a credential for both SCRAMs and makes the one-partition topic `topic`.
async fn alice_and_topic(admin: &Client, topic: &str) {
    let admin = admin.admin();
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
        admin
            .set_scram_credential(ALICE.0, mechanism, ALICE.1.as_bytes(), 4096)
            .await
            .unwrap();
    }
    admin.create_topic(topic, Some(1), None, &[]).await.unwrap();
}

/// Produces `value` to partition 0 of `topic` with acks=all.
async fn produce(client: &Client, topic: &str, value: &str) {
    let producer = client
        .producer(ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        })
        .unwrap();
    let record = Record::new(topic).partition(0).value(value.to_string());
    producer.send(record).await.unwrap().await.unwrap();
    producer.close().await.unwrap();
}

/// Every value of partition 0 of `topic`, read from the start until `count` are there.
async fn consume(client: &Client, topic: &str, count: usize) -> Vec<String> {
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer
        .assign(&[TopicPartition::new(topic, 0)])
        .await
        .unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while values.len() < count {
        assert!(Instant::now() < deadline, "read {values:?} of {count}");
        for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let value = record.value.expect("every record has a value");
            values.push(String::from_utf8(value.to_vec()).unwrap());
        }
    }
    values
}

/// The next offset of partition 0 of `topic`: how many records it holds.
async fn end_offset(client: &Client, topic: &str) -> i64 {
    let consumer = client.consumer(ConsumerConfig::default());
    let partition = TopicPartition::new(topic, 0);
    consumer
        .assign(std::slice::from_ref(&partition))
        .await
        .unwrap();
    consumer.seek_to_end(&[]).await.unwrap();
    let end = consumer.position(&partition).await.unwrap();
    end.expect("known after seek_to_end").0 as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_and_plain_logins_produce_and_consume_and_a_wrong_password_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(sasl_config(
        &dir,
        any_port(),
        SecurityProtocol::SaslPlaintext,
    ));
    let address = broker.local_addr();
    let admin = admin_client(client_config(
        &[address],
        ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1),
    ))
    .await;
    alice_and_topic(&admin, "logins").await;

    let mut written = Vec::new();
    for mechanism in [SHA_512, SHA_256, SaslMechanism::Plain] {
        let alice = Client::connect(client_config(
            &[address],
            ClientSasl::new(mechanism, ALICE.0, ALICE.1),
        ))
        .await
        .unwrap_or_else(|error| panic!("alice cannot log in with {mechanism}: {error}"));
        let value = format!("by {mechanism}");
        produce(&alice, "logins", &value).await;
        written.push(value);
        assert_eq!(consume(&alice, "logins", written.len()).await, written);
    }

    // A wrong password: the client says so at once, and does not retry.
    let started = Instant::now();
    let wrong = Client::connect(client_config(
        &[address],
        ClientSasl::new(SHA_512, ALICE.0, "not-alice-secret"),
    ))
    .await
    .expect_err("a wrong password logs in");
    assert!(
        matches!(wrong, ClientError::Authentication { .. }),
        "{wrong:?}"
    );
    assert!(!wrong.is_retriable());
    assert_eq!(
        wrong.to_string(),
        format!(
            "SASL login to {address} as \"alice\" failed: authentication failed: invalid \
             credentials with SASL mechanism SCRAM-SHA-512"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(5), "retried");
    // An unknown user is told the same.
    let unknown = Client::connect(client_config(
        &[address],
        ClientSasl::new(SHA_512, "mallory", ALICE.1),
    ))
    .await
    .expect_err("an unknown user logs in");
    assert!(
        unknown.to_string().ends_with(
            "authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-512"
        ),
        "{unknown}"
    );
    // A client without SASL is told its listener asks for it.
    let none = Client::connect(ClientConfig {
        bootstrap: vec![address.to_string()],
        ..ClientConfig::default()
    })
    .await
    .expect_err("a client without SASL is served");
    assert!(
        none.to_string()
            .contains("its listener asks for a SASL login"),
        "{none}"
    );
    // Nothing was appended by those attempts.
    assert_eq!(end_offset(&admin, "logins").await, written.len() as i64);
    drop(admin);
    broker.stop().unwrap();
}

/// Writes `request` as a frame on `stream`.
fn send(stream: &mut TcpStream, request: &Request, correlation_id: u32) {
    let frame = encode_request(request, 0, CorrelationId(correlation_id)).unwrap();
    stream.write_all(&frame).unwrap();
}

/// Reads one response to a request of `api_key`; `None` if the broker closed the connection.
fn receive(stream: &mut TcpStream, api_key: ApiKey) -> Option<Response> {
    let mut buf = BytesMut::new();
    loop {
        if let Some((_, body)) = split_response_frame(&mut buf, MAX_FRAME_BYTES_DEFAULT).unwrap() {
            return Some(decode_response(api_key, 0, body).unwrap());
        }
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(error) => panic!("read: {error}"),
        }
    }
}

#[test]
fn a_request_before_the_login_closes_the_connection_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(sasl_config(
        &dir,
        any_port(),
        SecurityProtocol::SaslPlaintext,
    ));
    let mut stream = TcpStream::connect(broker.local_addr()).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();

    // ApiVersions is served before the login, and lists the SASL APIs.
    send(&mut stream, &Request::ApiVersions(ApiVersionsRequest), 1);
    let Some(Response::ApiVersions(versions)) = receive(&mut stream, ApiKey::API_VERSIONS) else {
        panic!("ApiVersions not answered before the login");
    };
    let listed: Vec<ApiKey> = versions.api_keys.iter().map(|api| api.api_key).collect();
    assert!(listed.contains(&ApiKey::SASL_HANDSHAKE), "{listed:?}");
    assert!(listed.contains(&ApiKey::SASL_AUTHENTICATE), "{listed:?}");

    // Anything else closes the connection without an answer.
    let metadata = Request::Metadata(MetadataRequest { topics: None });
    send(&mut stream, &metadata, 2);
    assert_eq!(receive(&mut stream, ApiKey::METADATA), None);
    broker.stop().unwrap();
}

#[test]
fn a_listener_without_sasl_lists_no_sasl_api() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        listeners: Listeners {
            thin: any_port(),
            kafka: None,
            ..Listeners::default()
        },
        ..sasl_config(&dir, any_port(), SecurityProtocol::Plaintext)
    };
    let broker = start(config);
    let mut stream = TcpStream::connect(broker.local_addr()).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    send(&mut stream, &Request::ApiVersions(ApiVersionsRequest), 1);
    let Some(Response::ApiVersions(versions)) = receive(&mut stream, ApiKey::API_VERSIONS) else {
        panic!("ApiVersions not answered");
    };
    let listed: Vec<ApiKey> = versions.api_keys.iter().map(|api| api.api_key).collect();
    assert!(!listed.contains(&ApiKey::SASL_HANDSHAKE), "{listed:?}");
    assert!(!listed.contains(&ApiKey::SASL_AUTHENTICATE), "{listed:?}");
    // And a client with SASL is told the listener asks for none.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = runtime.block_on(Client::connect(client_config(
        &[broker.local_addr()],
        ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1),
    )));
    let error = refused.expect_err("a SASL login on a listener without SASL");
    assert!(
        error
            .to_string()
            .contains("its listener does not ask for SASL"),
        "{error}"
    );
    broker.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_session_is_renewed_on_the_same_connection() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        connections_max_reauth: Some(Duration::from_millis(1000)),
        ..sasl_config(&dir, any_port(), SecurityProtocol::SaslPlaintext)
    };
    let broker = start(config);
    let address = broker.local_addr().to_string();
    let limits = ConnectionLimits {
        connect_timeout: DEADLINE,
        request_timeout: DEADLINE,
        max_in_flight: 4,
        max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
    };
    let deadline = Instant::now() + DEADLINE;
    let sasl = ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1);
    let connection = loop {
        // The bootstrap user is written once the broker registered.
        match Connection::connect(&address, limits, None, Some(&sasl)).await {
            Ok(connection) => break connection,
            Err(error) => assert!(Instant::now() < deadline, "no login: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Requests over three sessions' lifetimes, on the one connection: each renewal comes
    // before a request sent after 850 ms, so none meets an expired session (which would
    // close the connection).
    for _ in 0..6 {
        let metadata = Request::Metadata(MetadataRequest { topics: None });
        let answer = connection.send(metadata, Duration::ZERO).await.unwrap();
        assert!(matches!(answer, Response::Metadata(_)), "{answer:?}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(!connection.is_closed());
    drop(connection);
    broker.stop().unwrap();
}

/// A CA of the test's own and a broker certificate for 127.0.0.1 it signed, as files: (CA,
/// keystore).
fn certificates(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let broker = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let keystore = dir.path().join("broker.pem");
    std::fs::write(
        &keystore,
        format!("{}{}", key.serialize_pem(), broker.pem()),
    )
    .unwrap();
    (ca_file, keystore)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thin_sasl_ssl_logs_in_inside_tls() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (ca, keystore) = certificates(&files);
    let config = BrokerConfig {
        ssl_keystore_location: Some(keystore),
        ssl_truststore_location: Some(ca.clone()),
        ..sasl_config(&dir, any_port(), SecurityProtocol::SaslSsl)
    };
    let broker = start(config);
    let address = broker.local_addr();
    let tls = ClientTls::from_pem_files(&ca, None).unwrap();
    let admin = admin_client(ClientConfig {
        tls: Some(tls.clone()),
        ..client_config(&[address], ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1))
    })
    .await;
    alice_and_topic(&admin, "inside-tls").await;
    // PLAIN's password is under TLS here.
    let alice = Client::connect(ClientConfig {
        tls: Some(tls.clone()),
        ..client_config(
            &[address],
            ClientSasl::new(SaslMechanism::Plain, ALICE.0, ALICE.1),
        )
    })
    .await
    .unwrap();
    produce(&alice, "inside-tls", "secret-ish").await;
    assert_eq!(consume(&alice, "inside-tls", 1).await, ["secret-ish"]);
    // Without TLS the client is told the listener speaks it.
    let plaintext = Client::connect(client_config(
        &[address],
        ClientSasl::new(SHA_512, ALICE.0, ALICE.1),
    ))
    .await
    .expect_err("a plaintext client on a TLS listener");
    assert!(plaintext.to_string().contains("TLS"), "{plaintext}");
    drop((alice, admin));
    broker.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_with_the_wrong_inter_broker_password_never_joins_the_isr() {
    let thin: Vec<SocketAddr> = (0..3)
        .map(|_| ringlog_ports::free_addr().unwrap())
        .collect();
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", ringlog_ports::free_addr().unwrap()))
        .collect();
    let voters = voters.join(",");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let brokers: Vec<Broker> = (0..3)
        .map(|index| {
            let mut config =
                sasl_config(&dirs[index], thin[index], SecurityProtocol::SaslPlaintext);
            config.node_id = BrokerId(index as u32 + 1);
            config.controller_quorum_voters = voters.parse().unwrap();
            config.broker_session_timeout = Duration::from_millis(3000);
            config.broker_heartbeat_interval = Duration::from_millis(500);
            config.replica_lag_time_max = Duration::from_millis(2000);
            config.replica_fetch_backoff = Duration::from_millis(100);
            // The brokers' user may do anything, a follower's fetches among it.
            config.authorizer_enabled = true;
            config.super_users = vec![Principal::user(ADMIN.0)];
            if index == 2 {
                config.inter_broker_sasl_password = Password::new("not-the-admin-password");
            }
            let mut options = ServerOptions::from_config(config);
            options.shards = 1;
            Broker::start(options).unwrap()
        })
        .collect();
    for broker in &brokers {
        broker.wait_ready(DEADLINE).unwrap();
    }
    let client = admin_client(client_config(
        &thin,
        ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1),
    ))
    .await;
    // Three partitions on all three brokers, each led by one of them; min.insync.replicas 2.
    let admin = client.admin();
    admin
        .create_topic(
            "logged-in",
            Some(3),
            Some(3),
            &[("min_insync_replicas", "2")],
        )
        .await
        .unwrap();
    let (one, two, three) = (BrokerId(1), BrokerId(2), BrokerId(3));
    // A partition led by broker 1 or 2 keeps both in its ISR (the follower logs in) and never
    // has broker 3 (its logins fail).
    let settled = || async {
        let topic = admin
            .describe_topics(&["logged-in"])
            .await
            .unwrap()
            .remove(0);
        let partition = topic
            .partitions
            .into_iter()
            .find(|p| p.leader == Some(one) || p.leader == Some(two))?;
        let isr = &partition.isr;
        (isr.contains(&one) && isr.contains(&two) && !isr.contains(&three))
            .then_some(partition.partition)
    };
    let deadline = Instant::now() + DEADLINE;
    let partition = loop {
        if let Some(partition) = settled().await {
            break partition;
        }
        assert!(Instant::now() < deadline, "no ISR of brokers 1 and 2 alone");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(settled().await, Some(partition), "broker 3 joined the ISR");

    // The leader keeps serving: acks=all with min.insync.replicas 2 waits for the follower
    // that logged in.
    let producer = client
        .producer(ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        })
        .unwrap();
    for i in 0..20 {
        let record = Record::new("logged-in")
            .partition(partition)
            .value(format!("v{i}"));
        producer.send(record).await.unwrap().await.unwrap();
    }
    producer.close().await.unwrap();
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer
        .assign(&[TopicPartition::new("logged-in", partition)])
        .await
        .unwrap();
    let mut read = 0;
    let deadline = Instant::now() + DEADLINE;
    while read < 20 {
        assert!(Instant::now() < deadline, "records not read back");
        read += consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap()
            .len();
    }
    drop((consumer, admin, client));
    for broker in brokers {
        broker.stop().unwrap();
    }
}

/// admin allows `principal` `operation` on the resource named `name` (literal).
async fn allow(
    admin: &Client,
    principal: &str,
    resource_type: ResourceType,
    name: &str,
    operation: Operation,
) {
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: name.to_string(),
            pattern_type: PatternType::Literal,
        },
        entry: AccessEntry {
            principal: principal.to_string(),
            host: "*".to_string(),
            operation,
            permission: Permission::Allow,
        },
    };
    admin.admin().create_acls(&[binding]).await.unwrap();
}

/// The broker's code in a refusal.
fn refused_with(error: ClientError) -> ErrorCode {
    match error {
        ClientError::Broker { code, .. } => code,
        ClientError::DeliveryTimeout {
            last_error: Some(last),
            ..
        } => refused_with(*last),
        other => panic!("not a broker's refusal: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_holds_thin_clients_to_their_acls() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sasl_config(&dir, any_port(), SecurityProtocol::SaslPlaintext);
    config.authorizer_enabled = true;
    config.super_users = vec![Principal::user(ADMIN.0)];
    let broker = start(config);
    let addr = broker.local_addr();
    let root = admin_client(client_config(
        &[addr],
        ClientSasl::new(SHA_512, ADMIN.0, ADMIN.1),
    ))
    .await;
    alice_and_topic(&root, "orders").await;
    root.admin()
        .create_topic("payroll", Some(1), None, &[])
        .await
        .unwrap();
    let alice = Client::connect(client_config(
        &[addr],
        ClientSasl::new(SHA_512, ALICE.0, ALICE.1),
    ))
    .await
    .unwrap();

    // No ACL: nothing listed, each resource refused.
    assert_eq!(
        alice.admin().list_topics().await.unwrap(),
        Vec::<String>::new()
    );
    let error = alice
        .admin()
        .describe_topics(&["orders"])
        .await
        .unwrap_err();
    assert_eq!(refused_with(error), ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    let error = alice
        .admin()
        .create_topic("mine", Some(1), None, &[])
        .await
        .unwrap_err();
    assert_eq!(refused_with(error), ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    let error = alice
        .admin()
        .describe_acls(&ringlog_security::acl::AclFilter::any())
        .await
        .unwrap_err();
    assert_eq!(refused_with(error), ErrorCode::CLUSTER_AUTHORIZATION_FAILED);

    // Write and Read on orders: produced and read back; payroll still refused, nothing there.
    allow(
        &root,
        "User:alice",
        ResourceType::Topic,
        "orders",
        Operation::Write,
    )
    .await;
    allow(
        &root,
        "User:alice",
        ResourceType::Topic,
        "orders",
        Operation::Read,
    )
    .await;
    produce(&alice, "orders", "mine").await;
    assert_eq!(consume(&alice, "orders", 1).await, ["mine"]);
    assert_eq!(alice.admin().list_topics().await.unwrap(), ["orders"]);
    let producer = alice
        .producer(ProducerConfig {
            acks: Acks::All,
            delivery_timeout: Duration::from_secs(3),
            ..ProducerConfig::default()
        })
        .unwrap();
    let sent = producer
        .send(
            Record::new("payroll")
                .partition(0)
                .value("forged".to_string()),
        )
        .await;
    let error = match sent {
        Ok(delivery) => delivery.await.unwrap_err(),
        Err(error) => error,
    };
    assert_eq!(refused_with(error), ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    producer.close().await.unwrap();
    assert_eq!(end_offset(&root, "payroll").await, 0, "nothing appended");

    // A follower's fetch needs ClusterAction on the cluster: alice's is refused whole.
    let limits = ConnectionLimits {
        connect_timeout: DEADLINE,
        request_timeout: DEADLINE,
        max_in_flight: 4,
        max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
    };
    let sasl = ClientSasl::new(SHA_512, ALICE.0, ALICE.1);
    let connection = Connection::connect(&addr.to_string(), limits, None, Some(&sasl))
        .await
        .unwrap();
    let fetch = Request::Fetch(FetchRequest {
        replica_id: Some(BrokerId(7)),
        max_wait: Duration::ZERO,
        min_bytes: 0,
        max_bytes: 1024,
        topics: Vec::new(),
    });
    match connection.send(fetch, Duration::ZERO).await.unwrap() {
        Response::Error(refusal) => {
            assert_eq!(refusal.error_code, ErrorCode::CLUSTER_AUTHORIZATION_FAILED)
        }
        other => panic!("a follower's fetch as alice answered {other:?}"),
    }
    drop((alice, root));
    broker.stop().unwrap();
}
