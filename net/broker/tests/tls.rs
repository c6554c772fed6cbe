//! TLS on the broker's listeners (`SSL` for Kafka's protocol, `THIN_SSL` for the thin one),
//! against a rustls client, with certificates made here by `rcgen` (none is checked in):
//! both protocols answer over TLS, a plaintext client on a TLS port is closed while others go
//! on, client certificates are checked when asked for, a changed keystore reaches new
//! connections without a restart, a keystore that cannot serve stops the start, and a client
//! certificate names the principal the authorizer decides by (`User:CN=...`); without
//! the kernel's TLS (this project's kernels lack it), the broker says so and fetches go
//! through rustls.

mod kafka_connection;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_connection::{Kafka, connect_socket};
use kafka_protocol::messages::ApiVersionsRequest as KafkaApiVersions;
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use ringlog_broker::config::{BrokerConfig, ClientAuth, Listeners, SecurityProtocol};
use ringlog_broker::{Broker, ServerOptions};
use ringlog_wire::api::api_versions::ApiVersionsRequest;
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_response_frame};
use ringlog_wire::{CorrelationId, Request, Response, decode_response, encode_request};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// How long a test waits for what it expects.
const DEADLINE: Duration = Duration::from_secs(30);

/// A certificate authority of the test's own, and the files it writes.
struct Pki {
    ca: Certificate,
    ca_key: KeyPair,
    dir: tempfile::TempDir,
}

/// A certificate and its key, PEM.
struct Issued {
    certificate: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            ca,
            ca_key,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA; expired with
    /// `expired`.
    fn issue(&self, common_name: &str, names: &[&str], expired: bool) -> Issued {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let certificate = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Issued {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A broker's certificate for 127.0.0.1 and localhost.
    fn broker(&self) -> Issued {
        self.issue("broker", &["localhost", "127.0.0.1"], false)
    }

    /// Writes `text` to the file `name` of this CA's directory.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Whole or not at all, as an operator's `mv` of a new file: the broker may read it
        // at any moment.
        let part = self.dir.path().join(format!("{name}.part"));
        std::fs::write(&part, text).unwrap();
        std::fs::rename(&part, &path).unwrap();
        path
    }

    /// A keystore file: the key, then the certificate.
    fn keystore(&self, name: &str, issued: &Issued) -> PathBuf {
        self.write(name, &format!("{}{}", issued.key, issued.certificate))
    }

    fn ca_file(&self) -> PathBuf {
        self.write("ca.pem", &self.ca.pem())
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }
}

/// A broker whose listeners both speak TLS with `keystore`, trusting `pki`'s CA (as its
/// followers' client, and for client certificates if `tune` asks for them).
fn start(
    pki: &Pki,
    keystore: &Path,
    tune: impl FnOnce(&mut BrokerConfig),
) -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        listeners: Listeners {
            thin: any,
            thin_security: SecurityProtocol::Ssl,
            kafka: Some(any),
            kafka_security: SecurityProtocol::Ssl,
        },
        ssl_keystore_location: Some(keystore.to_path_buf()),
        ssl_truststore_location: Some(pki.ca_file()),
        ..BrokerConfig::default()
    };
    tune(&mut config);
    let broker = Broker::start(ServerOptions::from_config(config)).unwrap();
    (broker, dir)
}

/// A client config trusting `ca`, with a client certificate if given.
fn client_config(ca: CertificateDer<'static>, identity: Option<&Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let builder = ClientConfig::builder_with_provider(ringlog_security::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(issued) => {
            let chain =
                vec![CertificateDer::from_pem_slice(issued.certificate.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// TLS to `addr` as `localhost`, the handshake done (or its error).
fn connect_tls(addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<Tls> {
    let name = ServerName::try_from("localhost").unwrap();
    let session = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(session, connect_socket(addr));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Kafka's ApiVersions v0 over `stream`: Ok if the broker answers it without an error. A
/// broker that refused the connection shows here (TLS 1.3 finishes the client's handshake
/// before the server has checked its certificate).
fn kafka_api_versions(stream: &mut impl Stream) -> io::Result<()> {
    // size, api key 18, version 0, correlation id 7, no client id.
    let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
    stream.write_all(&request)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body)?;
    assert_eq!(body[..4], [0, 0, 0, 7], "the correlation id");
    assert_eq!(body[4..6], [0, 0], "no error");
    Ok(())
}

/// The thin protocol's ApiVersions over `stream`.
fn thin_api_versions(stream: &mut impl Stream) {
    let request = Request::ApiVersions(ApiVersionsRequest);
    let frame = encode_request(&request, 0, CorrelationId(3)).unwrap();
    stream.write_all(&frame).unwrap();
    let mut buffer = BytesMut::new();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some((id, body)) =
            split_response_frame(&mut buffer, MAX_FRAME_BYTES_DEFAULT).unwrap()
        {
            assert_eq!(id, CorrelationId(3));
            let response = decode_response(request.api_key(), 0, body).unwrap();
            assert!(matches!(response, Response::ApiVersions(_)), "{response:?}");
            return;
        }
        assert!(Instant::now() < deadline, "no thin response in time");
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the broker closed the thin connection");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Whether the broker refused the connection: the first request's answer is an error (an
/// alert) or the end of the stream.
fn refused(result: io::Result<Tls>) -> bool {
    match result {
        Err(_) => true,
        Ok(mut tls) => kafka_api_versions(&mut tls).is_err(),
    }
}

#[test]
fn both_protocols_answer_over_tls() {
    let pki = Pki::new("test CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |_| {});
    let client = client_config(pki.ca_der(), None);

    let kafka = broker.kafka_addr().unwrap();
    let mut kafka_tls = connect_tls(kafka, &client).unwrap();
    kafka_api_versions(&mut kafka_tls).unwrap();
    // A whole response decoded by Kafka's schemas, over TLS.
    let mut kafka_client = Kafka::over(connect_tls(kafka, &client).unwrap());
    let versions = kafka_client.call(3, &KafkaApiVersions::default());
    assert_eq!(versions.error_code, 0);
    assert!(!versions.api_keys.is_empty());

    let mut thin_tls = connect_tls(broker.local_addr(), &client).unwrap();
    thin_api_versions(&mut thin_tls);
    // Pipelined requests on one TLS connection answer in order.
    for _ in 0..3 {
        thin_api_versions(&mut thin_tls);
    }
    broker.stop().unwrap();
}

#[test]
fn a_plaintext_client_on_a_tls_listener_is_closed_and_others_are_served() {
    let pki = Pki::new("test CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |_| {});
    let client = client_config(pki.ca_der(), None);
    let kafka = broker.kafka_addr().unwrap();
    let mut served = connect_tls(kafka, &client).unwrap();

    let mut plaintext = connect_socket(kafka);
    let answer = kafka_api_versions(&mut plaintext);
    assert!(
        answer.is_err(),
        "a plaintext request on a TLS listener got {answer:?}"
    );
    let mut plaintext_thin = connect_socket(broker.local_addr());
    assert!(kafka_api_versions(&mut plaintext_thin).is_err());

    // The open TLS connection and a new one are served still.
    kafka_api_versions(&mut served).unwrap();
    kafka_api_versions(&mut connect_tls(kafka, &client).unwrap()).unwrap();
    broker.stop().unwrap();
}

#[test]
fn a_client_without_a_trusted_certificate_is_refused_when_one_is_required() {
    let pki = Pki::new("test CA");
    let stranger = Pki::new("another CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |config| {
        config.ssl_client_auth = ClientAuth::Required;
    });
    let kafka = broker.kafka_addr().unwrap();
    let ca = pki.ca_der();

    let without = client_config(ca.clone(), None);
    assert!(refused(connect_tls(kafka, &without)), "no certificate");
    let foreign = stranger.issue("mallory", &[], false);
    assert!(
        refused(connect_tls(
            kafka,
            &client_config(ca.clone(), Some(&foreign))
        )),
        "a certificate of another CA"
    );
    let expired = pki.issue("old", &[], true);
    assert!(
        refused(connect_tls(
            kafka,
            &client_config(ca.clone(), Some(&expired))
        )),
        "an expired certificate"
    );

    let alice = pki.issue("alice", &[], false);
    let mut tls = connect_tls(kafka, &client_config(ca, Some(&alice))).unwrap();
    kafka_api_versions(&mut tls).unwrap();
    broker.stop().unwrap();
}

#[test]
fn a_requested_certificate_is_checked_if_shown() {
    let pki = Pki::new("test CA");
    let stranger = Pki::new("another CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |config| {
        config.ssl_client_auth = ClientAuth::Requested;
    });
    let kafka = broker.kafka_addr().unwrap();
    let ca = pki.ca_der();
    let mut anonymous = connect_tls(kafka, &client_config(ca.clone(), None)).unwrap();
    kafka_api_versions(&mut anonymous).unwrap();
    let foreign = stranger.issue("mallory", &[], false);
    assert!(refused(connect_tls(
        kafka,
        &client_config(ca, Some(&foreign))
    )));
    broker.stop().unwrap();
}

#[test]
fn the_client_refuses_a_broker_it_does_not_trust() {
    let pki = Pki::new("test CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |_| {});
    let stranger = Pki::new("another CA");
    let error = connect_tls(
        broker.kafka_addr().unwrap(),
        &client_config(stranger.ca_der(), None),
    )
    .expect_err("a broker signed by a CA the client does not trust");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "the client says why: {error}"
    );
    // And the broker goes on.
    let client = client_config(pki.ca_der(), None);
    kafka_api_versions(&mut connect_tls(broker.kafka_addr().unwrap(), &client).unwrap()).unwrap();
    broker.stop().unwrap();
}

#[test]
fn a_changed_keystore_reaches_new_connections_without_a_restart() {
    let first = Pki::new("first CA");
    let keystore = first.keystore("broker.pem", &first.broker());
    let (broker, _dir) = start(&first, &keystore, |config| {
        config.ssl_reload_interval = Duration::from_millis(50);
    });
    let kafka = broker.kafka_addr().unwrap();
    let mut open = connect_tls(kafka, &client_config(first.ca_der(), None)).unwrap();
    kafka_api_versions(&mut open).unwrap();

    // A certificate of another CA, written over the keystore as an operator renews one.
    let second = Pki::new("second CA");
    let renewed = second.broker();
    let text = format!("{}{}", renewed.key, renewed.certificate);
    let part = keystore.with_extension("part");
    std::fs::write(&part, text).unwrap();
    std::fs::rename(&part, &keystore).unwrap();

    let trusting_second = client_config(second.ca_der(), None);
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(mut tls) = connect_tls(kafka, &trusting_second) {
            kafka_api_versions(&mut tls).unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not loaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The connection made before it goes on with the old one.
    kafka_api_versions(&mut open).unwrap();
    // A keystore that no longer loads (a key without its certificate) leaves the last good
    // one in use.
    let part = keystore.with_extension("part");
    std::fs::write(&part, &renewed.key).unwrap();
    std::fs::rename(&part, &keystore).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kafka_api_versions(&mut connect_tls(kafka, &trusting_second).unwrap()).unwrap();
    broker.stop().unwrap();
}

#[test]
fn a_keystore_that_cannot_serve_stops_the_start_and_says_why() {
    let pki = Pki::new("test CA");
    let dir = tempfile::tempdir().unwrap();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let start_with = |keystore: PathBuf| {
        let config = BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            listeners: Listeners {
                thin: any,
                thin_security: SecurityProtocol::Plaintext,
                kafka: Some(any),
                kafka_security: SecurityProtocol::Ssl,
            },
            ssl_keystore_location: Some(keystore),
            ..BrokerConfig::default()
        };
        Broker::start(ServerOptions::from_config(config))
            .expect_err("refused")
            .to_string()
    };

    let missing = pki.dir.path().join("missing.pem");
    let error = start_with(missing.clone());
    assert!(
        error.contains(&missing.display().to_string()) && error.contains("cannot read"),
        "{error}"
    );

    let one = pki.broker();
    let other = pki.broker();
    let mismatched = pki.write(
        "mismatched.pem",
        &format!("{}{}", other.key, one.certificate),
    );
    let error = start_with(mismatched.clone());
    assert!(
        error.contains(&mismatched.display().to_string()) && error.contains("key"),
        "{error}"
    );

    let no_key = pki.write("no-key.pem", &one.certificate);
    let error = start_with(no_key);
    assert!(error.contains("no private key"), "{error}");
}

/// Where a three-broker cluster's brokers go: their thin listeners' addresses, the controller
/// quorum's voters and their data dirs.
fn cluster_places() -> (Vec<SocketAddr>, String, Vec<tempfile::TempDir>) {
    let thin: Vec<SocketAddr> = (0..3)
        .map(|_| ringlog_ports::free_addr().unwrap())
        .collect();
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", ringlog_ports::free_addr().unwrap()))
        .collect();
    let dirs = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    (thin, voters.join(","), dirs)
}

/// A broker of a three-broker cluster whose thin listener is `THIN_SSL` with client
/// certificates required: followers fetch from their leaders over TLS, each showing its own
/// certificate.
fn cluster_config(
    index: usize,
    dirs: &[tempfile::TempDir],
    thin: &[SocketAddr],
    voters: &str,
    pki: &Pki,
    keystore: &Path,
) -> BrokerConfig {
    let id = ringlog_replication::BrokerId(index as u32 + 1);
    BrokerConfig {
        node_id: id,
        data_dir: dirs[index].path().to_path_buf(),
        listeners: Listeners {
            thin: thin[index],
            thin_security: SecurityProtocol::Ssl,
            kafka: None,
            kafka_security: SecurityProtocol::Plaintext,
        },
        controller_quorum_voters: voters.parse().unwrap(),
        ssl_keystore_location: Some(keystore.to_path_buf()),
        ssl_truststore_location: Some(pki.ca_file()),
        ssl_client_auth: ClientAuth::Required,
        broker_session_timeout: Duration::from_millis(3000),
        broker_heartbeat_interval: Duration::from_millis(500),
        replica_lag_time_max: Duration::from_millis(2000),
        replica_fetch_backoff: Duration::from_millis(100),
        shards: 1,
        ..BrokerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_without_the_clusters_certificate_cannot_vote_or_register() {
    use ringlog_client::{Client, ClientConfig};

    let pki = Pki::new("cluster CA");
    let stranger = Pki::new("another CA");
    let (thin, voters, dirs) = cluster_places();
    let keystores = [
        pki.keystore("broker-1.pem", &pki.broker()),
        pki.keystore("broker-2.pem", &pki.broker()),
        stranger.keystore("broker-3.pem", &stranger.broker()),
    ];
    // TLS between the controllers only; the thin listeners stay plaintext.
    let brokers: Vec<Broker> = (0..3)
        .map(|index| {
            let mut config = cluster_config(index, &dirs, &thin, &voters, &pki, &keystores[index]);
            config.listeners.thin_security = SecurityProtocol::Plaintext;
            config.ssl_client_auth = ClientAuth::None;
            config.controller_security_protocol = SecurityProtocol::Ssl;
            Broker::start(ServerOptions::from_config(config)).unwrap()
        })
        .collect();
    // Two of three voters make a quorum: brokers 1 and 2 register and serve.
    brokers[0].wait_ready(DEADLINE).unwrap();
    brokers[1].wait_ready(DEADLINE).unwrap();
    // Broker 3's controller is refused by both others: it cannot vote, so cannot lead, and
    // its registration reaches no leader.
    let waited = brokers[2].wait_ready(Duration::from_secs(5));
    assert!(waited.is_err(), "broker 3 registered: {waited:?}");

    let client = Client::connect(ClientConfig {
        bootstrap: vec![thin[0].to_string()],
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    let admin = client.admin();
    let three = admin.create_topic("three", Some(1), Some(3), &[]).await;
    assert!(
        three.is_err(),
        "a topic of three replicas with broker 3 unregistered: {three:?}"
    );
    admin
        .create_topic("two", Some(1), Some(2), &[])
        .await
        .unwrap();
    drop((admin, client));
    for broker in brokers {
        broker.stop().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_fetch_over_tls_and_a_broker_of_another_ca_never_joins_the_isr() {
    use ringlog_client::{
        Acks, Client, ClientConfig, ClientTls, ConsumerConfig, OffsetReset, ProducerConfig, Record,
        TopicPartition,
    };

    let pki = Pki::new("cluster CA");
    let stranger = Pki::new("another CA");
    let (thin, voters, dirs) = cluster_places();
    // Brokers 1 and 2 have the cluster CA's certificates; broker 3 one of another CA, which
    // its peers refuse (it trusts theirs: the cluster CA is its truststore too).
    let keystores = [
        pki.keystore("broker-1.pem", &pki.broker()),
        pki.keystore("broker-2.pem", &pki.broker()),
        stranger.keystore("broker-3.pem", &stranger.broker()),
    ];
    let brokers: Vec<Broker> = (0..3)
        .map(|index| {
            let config = cluster_config(index, &dirs, &thin, &voters, &pki, &keystores[index]);
            Broker::start(ServerOptions::from_config(config)).unwrap()
        })
        .collect();
    for broker in &brokers {
        broker.wait_ready(DEADLINE).unwrap();
    }

    let client_identity = pki.issue("client", &[], false);
    let certificate = pki.write("client.pem", &client_identity.certificate);
    let key = pki.write("client.key", &client_identity.key);
    let tls = ClientTls::from_pem_files(&pki.ca_file(), Some((&certificate, &key))).unwrap();
    // Broker 3's listener shows a certificate the client does not trust: bootstrap from the
    // two others.
    let client = Client::connect(ClientConfig {
        bootstrap: thin[..2].iter().map(SocketAddr::to_string).collect(),
        tls: Some(tls),
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    // Three partitions on all three brokers, each led by one of them; min.insync.replicas 2.
    let admin = client.admin();
    admin
        .create_topic(
            "over-tls",
            Some(3),
            Some(3),
            &[("min_insync_replicas", "2")],
        )
        .await
        .unwrap();
    let (one, two, three) = (
        ringlog_replication::BrokerId(1),
        ringlog_replication::BrokerId(2),
        ringlog_replication::BrokerId(3),
    );
    // A partition led by broker 1 or 2 keeps both of them in its ISR (the follower's fetches
    // go over TLS) and loses broker 3 (its fetches are refused), for good.
    let settled = || async {
        let topic = admin
            .describe_topics(&["over-tls"])
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

    // acks=all with min.insync.replicas 2: each record waits for the follower's fetch.
    let producer = client
        .producer(ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        })
        .unwrap();
    for i in 0..100 {
        let record = Record::new("over-tls")
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
        .assign(&[TopicPartition::new("over-tls", partition)])
        .await
        .unwrap();
    let mut read = 0;
    let deadline = Instant::now() + DEADLINE;
    while read < 100 {
        assert!(Instant::now() < deadline, "records not read back over TLS");
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

/// Whether the running kernel could offer TLS: "tls" among its TCP upper-layer protocols, or
/// a tls module it could load.
fn kernel_may_offer_tls() -> bool {
    let listed =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp").unwrap_or_default();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = Path::new("/lib/modules").join(release.trim());
    let module = ["modules.builtin", "modules.dep"].iter().any(|list| {
        std::fs::read_to_string(modules.join(list)).is_ok_and(|text| text.contains("/tls.ko"))
    });
    listed.split_whitespace().any(|ulp| ulp == "tls") || module
}

/// The broker's `ringlog_tls_kernel_offload` gauge once started with `tune`: its start records
/// it on the calling thread.
fn kernel_offload_gauge(
    pki: &Pki,
    keystore: &Path,
    tune: impl FnOnce(&mut BrokerConfig),
) -> (f64, Broker, tempfile::TempDir) {
    let recorder = ringlog_broker::metrics::build_recorder();
    let handle = recorder.handle();
    let (broker, dir) = ::metrics::with_local_recorder(&recorder, || start(pki, keystore, tune));
    let page = handle.render();
    let gauge = page
        .lines()
        .find_map(|line| line.strip_prefix("ringlog_tls_kernel_offload "))
        .unwrap_or_else(|| panic!("no ringlog_tls_kernel_offload gauge:\n{page}"));
    (gauge.trim().parse().unwrap(), broker, dir)
}

/// On a kernel without TLS (`CONFIG_TLS`; this project's machines) the broker's start-up probe
/// finds the kernel's TLS unavailable, says so with its gauge, and every connection stays in
/// rustls: records produced over `THIN_SSL` are fetched back whole, read from their segment
/// and encrypted in user space (more than one 64 KiB chunk a fetch). With
/// `ssl_kernel_offload = "off"` the gauge says 0 whatever the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_kernels_tls_fetches_go_through_rustls() {
    use ringlog_client::{
        Client, ClientConfig, ClientTls, ConsumerConfig, OffsetReset, ProducerConfig, Record,
        TopicPartition,
    };

    let pki = Pki::new("test CA");
    let keystore = pki.keystore("broker.pem", &pki.broker());
    let (off, broker_off, _dir_off) = kernel_offload_gauge(&pki, &keystore, |config| {
        config.ssl_kernel_offload = false;
    });
    assert_eq!(off, 0.0, "ssl_kernel_offload off");
    broker_off.stop().unwrap();

    let (gauge, broker, _dir) = kernel_offload_gauge(&pki, &keystore, |_| {});
    if !kernel_may_offer_tls() {
        assert_eq!(gauge, 0.0, "a kernel without TLS, yet the broker offloads");
    }
    broker.wait_ready(DEADLINE).unwrap();
    let tls = ClientTls::from_pem_files(&pki.ca_file(), None).unwrap();
    let client = Client::connect(ClientConfig {
        bootstrap: vec![broker.local_addr().to_string()],
        tls: Some(tls),
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    client
        .admin()
        .create_topic("fetched-over-tls", Some(1), Some(1), &[])
        .await
        .unwrap();
    let producer = client.producer(ProducerConfig::default()).unwrap();
    let value = |i: usize| format!("{i:06}-{}", "x".repeat(1000));
    let records = 500;
    let mut acks = Vec::new();
    for i in 0..records {
        let record = Record::new("fetched-over-tls").partition(0).value(value(i));
        acks.push(producer.send(record).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    producer.close().await.unwrap();
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer
        .assign(&[TopicPartition::new("fetched-over-tls", 0)])
        .await
        .unwrap();
    let mut read = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while read.len() < records {
        assert!(
            Instant::now() < deadline,
            "{} of {records} records read back",
            read.len()
        );
        for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            read.push(record.value.expect("a value"));
        }
    }
    for (i, got) in read.iter().enumerate() {
        assert_eq!(got.as_ref(), value(i).as_bytes(), "record {i}");
    }
    broker.stop().unwrap();
}

#[test]
fn a_client_certificate_names_the_principal_the_authorizer_decides_by() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{CreateAclsRequest, MetadataRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let pki = Pki::new("test CA");
    let (broker, _dir) = start(&pki, &pki.keystore("broker.pem", &pki.broker()), |config| {
        config.ssl_client_auth = ClientAuth::Required;
        config.authorizer_enabled = true;
        config.super_users = vec![ringlog_security::Principal::user("CN=admin")];
    });
    broker.wait_ready(DEADLINE).unwrap();
    let kafka = broker.kafka_addr().unwrap();
    let connect = |name: &str| {
        let issued = pki.issue(name, &[], false);
        Kafka::over(connect_tls(kafka, &client_config(pki.ca_der(), Some(&issued))).unwrap())
    };
    let topic_error = |conn: &mut Kafka| {
        let topic = MetadataRequestTopic::default().with_name(Some(TopicName(
            StrBytes::from_static_str("__consumer_offsets"),
        )));
        let request = MetadataRequest::default().with_topics(Some(vec![topic]));
        conn.call(12, &request).topics[0].error_code
    };
    // No ACL names alice's certificate: refused (29, TOPIC_AUTHORIZATION_FAILED).
    let mut alice = connect("alice");
    assert_eq!(topic_error(&mut alice), 29);
    // The certificate of the super user may; it grants User:CN=alice, Kafka's name for her.
    let mut admin = connect("admin");
    assert_ne!(topic_error(&mut admin), 29);
    let creation = AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("__consumer_offsets"))
        .with_resource_pattern_type(3)
        .with_principal(StrBytes::from_static_str("User:CN=alice"))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(8)
        .with_permission_type(3);
    let created = admin.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![creation]),
    );
    assert_eq!(created.results[0].error_code, 0);
    assert_ne!(topic_error(&mut alice), 29);
    broker.stop().unwrap();
}
