//! The broker's configuration and metrics as a broker's `main` and its handlers use them: a
//! config file on disk with command-line overrides, topic configs through CreateTopics,
//! AlterConfigs, DescribeConfigs and their persisted file, and the global metrics recorder
//! served over HTTP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use ringlog_broker::config::{
    BrokerConfig, BrokerOverrides, ConfigError, ConfigProblem, default_toml,
};
use ringlog_broker::metrics::{self, MetricsError, MetricsServer};
use ringlog_broker::topic_config::{TopicConfig, TopicConfigKey};
use ringlog_engine::{FlushPolicy, IoBackendKind};
use ringlog_replication::{BrokerId, KafkaError, Rack};
use ringlog_wire::ErrorCode;
use ringlog_wire::api::alter_configs::ConfigChange;

#[test]
fn a_broker_starts_with_no_file_at_all() {
    let config = BrokerConfig::resolve(None, BrokerOverrides::default()).unwrap();
    assert_eq!(config, BrokerConfig::default());
    assert_eq!(
        config.listeners.kafka,
        Some("127.0.0.1:9092".parse().unwrap())
    );
    assert_eq!(config.listeners.thin, "127.0.0.1:9095".parse().unwrap());
    assert_eq!(config.metrics_listen, "127.0.0.1:9644".parse().unwrap());
    assert_eq!(config.data_dir, PathBuf::from("./ringlog-data"));
    assert_eq!(config.socket_request_max_bytes, 100 * 1024 * 1024);
    assert_eq!(config.message_max_bytes, 1024 * 1024 + 12);
    assert!(config.is_controller());
}

#[test]
fn the_file_then_the_overrides_then_validation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "node_id = 2\nlisteners = \"PLAINTEXT://0.0.0.0:19092,THIN://0.0.0.0:19095\"\n\
         advertised_listeners = \"PLAINTEXT://b2.internal:19092,THIN://b2.internal:19095\"\n\
         rack = \"a\"\nshards = 2\nlog_flush_policy = \"interval\"\nlog_flush_interval_ms = 100\n\
         controller_quorum_voters = \"1@b1.internal:19093,2@b2.internal:19093\"\n",
    )
    .unwrap();
    let overrides = BrokerOverrides {
        node_id: Some(BrokerId(3)),
        data_dir: Some(dir.path().join("data")),
        io_backend: Some(IoBackendKind::Portable),
        rack: Some(Rack("b".into())),
        ..BrokerOverrides::default()
    };
    let config = BrokerConfig::resolve(Some(&path), overrides).unwrap();
    assert_eq!(config.node_id, BrokerId(3));
    assert_eq!(config.rack, Some(Rack("b".into())));
    assert_eq!(config.shards, 2);
    assert_eq!(config.shard_count(), 2);
    assert_eq!(config.advertised_address().to_string(), "b2.internal:19095");
    assert!(!config.is_controller(), "node 3 is not a voter");
    let log = config.log_config(&TopicConfig::new());
    assert_eq!(log.flush, FlushPolicy::Interval(Duration::from_millis(100)));
    assert_eq!(log.io_backend, IoBackendKind::Portable);
    log.validate().unwrap();
}

#[test]
fn start_up_errors_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, "log.retention.hours = 168\nmessage_max_bytes = 10\n").unwrap();
    let err = BrokerConfig::resolve(Some(&path), BrokerOverrides::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("config file {}: ", path.display())),
        "{message}"
    );
    assert_eq!(
        err.problems(),
        &[
            ConfigProblem::UnknownKey {
                key: "log.retention.hours".into(),
                suggestion: Some("log_retention_ms"),
            },
            ConfigProblem::BadValue {
                key: "message_max_bytes",
                value: "10".into(),
                allowed: "an integer between 61 and 2147483647".into(),
            },
        ]
    );

    let missing = dir.path().join("missing.toml");
    let err = BrokerConfig::resolve(Some(&missing), BrokerOverrides::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(
        err.to_string(),
        format!("config file {}: cannot read it", missing.display())
    );

    // Valid alone, refused together with an override.
    std::fs::write(&path, "listeners = \"THIN://127.0.0.1:9700\"\n").unwrap();
    let overrides = BrokerOverrides {
        metrics_listen: Some("127.0.0.1:9700".parse().unwrap()),
        ..BrokerOverrides::default()
    };
    let err = BrokerConfig::resolve(Some(&path), overrides).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }));
    assert_eq!(err.problems()[0].key(), "listeners");
}

#[test]
fn the_printed_default_config_loads_as_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.toml");
    std::fs::write(&path, default_toml()).unwrap();
    assert_eq!(BrokerConfig::load(&path).unwrap(), BrokerConfig::default());
}

#[test]
fn a_topic_config_through_create_alter_describe_and_its_file() {
    let broker = BrokerConfig::from_toml_str("min_insync_replicas = 2\n", "broker.toml").unwrap();
    let defaults = broker.topic_defaults();

    // CreateTopics.
    let created = TopicConfig::from_pairs(
        [("retention_ms", "3600000"), ("segment_bytes", "104857600")],
        &defaults,
    )
    .unwrap();
    let refused = TopicConfig::from_pairs([("cleanup_policy", "compact")], &defaults).unwrap_err();
    assert_eq!(refused.kafka_error(), KafkaError::InvalidConfig);
    assert_eq!(refused.kafka_error().code(), ErrorCode::INVALID_CONFIG.0);

    // AlterConfigs: set one key, reset another.
    let changes = [
        ConfigChange {
            name: "min_insync_replicas".into(),
            value: Some("3".into()),
        },
        ConfigChange {
            name: "retention_ms".into(),
            value: None,
        },
    ];
    let altered = created
        .altered(
            changes.iter().map(|c| (&c.name, c.value.as_ref())),
            &defaults,
        )
        .unwrap();
    assert_eq!(broker.leader_config(&altered).min_insync_replicas, 3);
    assert_eq!(
        broker.log_config(&altered).retention_ms,
        broker.log_retention
    );

    // DescribeConfigs.
    let described = altered.describe(&defaults, None).unwrap();
    assert_eq!(described.len(), TopicConfigKey::ALL.len());
    let own: Vec<(&str, &str)> = described
        .iter()
        .filter(|c| !c.is_default)
        .map(|c| (c.key.name(), c.value.as_str()))
        .collect();
    assert_eq!(
        own,
        [("min_insync_replicas", "3"), ("segment_bytes", "104857600")]
    );

    // The persisted file in the topic's directory.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topic-config.toml");
    std::fs::write(&file, altered.to_toml()).unwrap();
    let read_back = TopicConfig::from_toml(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(read_back, altered);
    assert_eq!(broker.log_config(&read_back).segment_bytes, 104_857_600);
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The only test in this binary that installs the global recorder.
#[test]
fn the_global_recorder_is_served_at_metrics() {
    let handle = metrics::install_recorder().unwrap();
    assert!(matches!(
        metrics::install_recorder(),
        Err(MetricsError::RecorderInstalled)
    ));
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), handle).unwrap();
    metrics::record_request("Fetch", Duration::from_millis(2));
    metrics::record_fetch_bytes(metrics::FetchMode::ZeroCopy, 1 << 20);
    metrics::set_io_backend("portable");

    let answer = get(server.local_addr(), "/metrics");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    for line in [
        "ringlog_requests_total{api=\"Fetch\"} 1",
        "ringlog_fetch_bytes_total{mode=\"zerocopy\"} 1048576",
        "ringlog_io_backend_info{backend=\"portable\"} 1",
    ] {
        assert!(
            answer.lines().any(|l| l == line),
            "{line:?} missing:\n{answer}"
        );
    }
    assert!(get(server.local_addr(), "/").starts_with("HTTP/1.1 404 Not Found\r\n"));

    let addr = server.local_addr();
    server.stop();
    assert!(TcpStream::connect(addr).is_err(), "the port is still open");
}
