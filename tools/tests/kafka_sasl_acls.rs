//! librdkafka, through the `rdkafka` crate, logging in to a real `ringlog broker` process with
//! SASL_SSL and SCRAM-SHA-512 and held to Kafka's ACLs (`authorizer_enabled`): a client no one
//! here wrote. The broker's certificates are made here (rcgen), its users come from
//! `sasl_bootstrap_users`, the ACLs from `ringlog acl add` (the operator's tool, logged in as
//! the super user over the thin listener, THIN_SASL_PLAINTEXT). Checked: the right ACLs produce and consume in a group; a user without Write is
//! refused TOPIC_AUTHORIZATION_FAILED and nothing is appended; a wrong password is an
//! authentication error; the super user needs no ACL; each denial is counted.
//!
//! Every wait has a deadline and the broker process is killed when the test ends.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use support::DEADLINE;

const ADMIN: (&str, &str) = ("admin", "admin-secret");
const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");

/// A `ringlog broker` whose Kafka listener is SASL_SSL with the authorizer on, killed on drop.
struct Broker {
    child: Child,
    kafka: SocketAddr,
    thin: SocketAddr,
    metrics: SocketAddr,
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let (ca, keystore) = certificates(dir.path());
        let users: Vec<String> = [ADMIN, ALICE, BOB]
            .iter()
            .map(|(user, password)| format!("\"SCRAM-SHA-512=[name={user},password={password}]\""))
            .collect();
        let toml = format!(
            "ssl_keystore_location = {keystore:?}\n\
             sasl_enabled_mechanisms = \"SCRAM-SHA-512\"\n\
             sasl_bootstrap_users = [{}]\n\
             authorizer_enabled = true\n\
             super_users = [\"User:admin\"]\n\
             inter_broker_sasl_username = \"admin\"\n\
             inter_broker_sasl_password = \"admin-secret\"\n",
            users.join(", ")
        );
        std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
        let (child, lines) = support::spawn_with_lines(
            Command::new(env!("CARGO_BIN_EXE_ringlog"))
                .args([
                    "broker",
                    "--listeners",
                    "SASL_SSL://127.0.0.1:0,THIN_SASL_PLAINTEXT://127.0.0.1:0",
                    "--metrics-listen",
                    "127.0.0.1:0",
                    "--shards",
                    "2",
                    "--config",
                ])
                .arg(dir.path().join("broker.toml"))
                .arg("--data-dir")
                .arg(dir.path().join("data")),
        );
        let listening = lines.recv_timeout(DEADLINE).expect("the broker starts");
        let listener = |name: &str| {
            support::listener_address(&listening, name)
                .unwrap_or_else(|| panic!("unexpected first line {listening:?}"))
        };
        let metrics_line = lines.recv_timeout(DEADLINE).expect("the metrics address");
        Broker {
            child,
            kafka: listener("SASL_SSL"),
            thin: listener("THIN_SASL_PLAINTEXT"),
            metrics: support::metrics_address(&metrics_line).expect("a metrics address"),
            ca,
            _dir: dir,
        }
    }

    /// librdkafka's settings for logging in as `login` over SASL_SSL with SCRAM-SHA-512.
    fn config(&self, (user, password): (&str, &str)) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.kafka.to_string())
            .set("security.protocol", "SASL_SSL")
            .set("ssl.ca.location", self.ca.to_str().unwrap())
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", user)
            .set("sasl.password", password)
            .set("message.timeout.ms", "10000")
            .set_log_level(RDKafkaLogLevel::Emerg);
        config
    }

    /// `ringlog acl add --allow --principal PRINCIPAL ...` over the thin listener, logged in
    /// as the super user (the thin listener is held to the ACLs too).
    fn allow(&self, args: &[&str]) {
        let mut all = vec!["acl", "add", "--allow"];
        all.extend_from_slice(args);
        let bootstrap = self.thin.to_string();
        let env = [
            ("RINGLOG_BOOTSTRAP", bootstrap.as_str()),
            ("RINGLOG_SASL_USERNAME", ADMIN.0),
            ("RINGLOG_SASL_PASSWORD", ADMIN.1),
        ];
        support::cli(&all, "", &env).ok();
    }

    /// The value of the metric line that starts with `series`.
    fn metric(&self, series: &str) -> f64 {
        support::metric(self.metrics, series)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a certificate for 127.0.0.1 it signed: the CA's PEM file and the broker's keystore
/// (key and certificate in one PEM file).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "kafka_sasl_acls test ca");
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let (ca_path, keystore) = (dir.join("ca.pem"), dir.join("broker.pem"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&keystore, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    (ca_path, keystore)
}

/// The errors librdkafka reports outside a request's result (a failed login among them).
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<KafkaError>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, _reason: &str) {
        self.0.lock().unwrap().push(error);
    }
}

impl ConsumerContext for Errors {}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Produces `value` to partition 0 of `topic`: its offset, or librdkafka's error.
fn produce(producer: &FutureProducer, topic: &str, value: &str) -> Result<i64, KafkaError> {
    let record = FutureRecord::<(), str>::to(topic)
        .payload(value)
        .partition(0);
    block_on(producer.send(record, DEADLINE))
        .map(|delivery| delivery.offset)
        .map_err(|(error, _)| error)
}

/// Reads partition 0 of `topic` from its start, as a member of `group` (assigned): `count`
/// values.
fn read(consumer: &BaseConsumer<Errors>, topic: &str, count: usize) -> Vec<String> {
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let started = Instant::now();
    let mut values = Vec::new();
    while values.len() < count {
        assert!(started.elapsed() < DEADLINE, "read {values:?} of {count}");
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("a record");
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    values
}

#[test]
fn librdkafka_over_sasl_ssl_is_held_to_the_acls() {
    let broker = Broker::start();
    // The super user creates the topic, with no ACL of its own.
    let admin: AdminClient<DefaultClientContext> = broker.config(ADMIN).create().unwrap();
    let options = AdminOptions::new().operation_timeout(Some(DEADLINE));
    let topic = NewTopic::new("orders", 1, TopicReplication::Fixed(1));
    let created = block_on(admin.create_topics([&topic], &options)).unwrap();
    assert!(created[0].is_ok(), "{created:?}");

    broker.allow(&[
        "--principal",
        "User:alice",
        "--operation",
        "write",
        "--topic",
        "orders",
    ]);
    broker.allow(&[
        "--principal",
        "User:alice",
        "--operation",
        "read",
        "--topic",
        "orders",
    ]);
    broker.allow(&[
        "--principal",
        "User:alice",
        "--operation",
        "read",
        "--group",
        "billing",
    ]);
    broker.allow(&[
        "--principal",
        "User:bob",
        "--operation",
        "read",
        "--topic",
        "orders",
    ]);

    let alice: FutureProducer = broker.config(ALICE).create().unwrap();
    for (i, value) in ["one", "two", "three"].iter().enumerate() {
        assert_eq!(produce(&alice, "orders", value).unwrap(), i as i64);
    }
    // bob may read orders, not write it.
    let bob: FutureProducer = broker.config(BOB).create().unwrap();
    let refused = produce(&bob, "orders", "forged").unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{refused}"
    );
    assert!(
        broker.metric(
            "ringlog_authorization_denials_total{resource_type=\"Topic\",operation=\"Write\"}"
        ) >= 1.0
    );

    // alice reads in her group; what she reads is all there is: bob's record is not.
    let consumer: BaseConsumer<Errors> = broker
        .config(ALICE)
        .set("group.id", "billing")
        .set("enable.auto.commit", "false")
        .create_with_context(Errors::default())
        .unwrap();
    assert_eq!(read(&consumer, "orders", 3), ["one", "two", "three"]);
    let (_, high) = consumer.fetch_watermarks("orders", 0, DEADLINE).unwrap();
    assert_eq!(high, 3, "nothing of bob's appended");

    // A wrong password: an authentication error, and no metadata.
    let errors = Errors::default();
    let wrong: BaseConsumer<Errors> = broker
        .config(("alice", "not-her-password"))
        .set("group.id", "billing")
        .create_with_context(errors.clone())
        .unwrap();
    assert!(wrong.fetch_metadata(None, Duration::from_secs(5)).is_err());
    let started = Instant::now();
    loop {
        let _ = wrong.poll(Duration::from_millis(100));
        let failed = errors
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication));
        if failed {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no authentication error: {:?}",
            errors.0.lock().unwrap()
        );
    }
}
