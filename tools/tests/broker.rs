//! `ringlog broker` as a real process on 127.0.0.1 (port 0): it serves, stops cleanly on
//! SIGTERM (the next start needs no recovery), and recovers after SIGKILL. Every process is
//! killed when its test ends, whatever happens.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use bytes::{Bytes, BytesMut};
use ringlog_engine::format::{BatchBuilder, Record};
use ringlog_engine::{Log, LogConfig, Offset};
use ringlog_wire::api::Topic;
use ringlog_wire::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use ringlog_wire::api::fetch::{FetchPartition, FetchRequest};
use ringlog_wire::api::produce::{Acks, ProducePartition, ProduceRequest};
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_response_frame};
use ringlog_wire::{CorrelationId, ErrorCode, Request, Response, decode_response, encode_request};

const DEADLINE: Duration = Duration::from_secs(60);

/// A broker process, killed on drop.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl BrokerProcess {
    fn start(data_dir: &Path) -> BrokerProcess {
        BrokerProcess::start_with(data_dir, &[])
    }

    /// A broker on `data_dir` with `args` added to the command line.
    fn start_with(data_dir: &Path, args: &[&str]) -> BrokerProcess {
        let (child, lines) = support::spawn_with_lines(broker_command(data_dir).args(args));
        let next_line = || {
            lines
                .recv_timeout(DEADLINE)
                .expect("the broker reports its addresses")
        };
        let line = next_line();
        let addr = support::listener_address(&line, "THIN")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let line = next_line();
        let metrics = support::metrics_address(&line)
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"));
        BrokerProcess {
            child,
            addr,
            metrics,
        }
    }

    fn signal(&mut self, signal: i32) {
        // SAFETY: plain syscall on our own child's pid.
        unsafe { libc_kill(self.child.id() as i32, signal) };
    }

    /// Waits for the process to exit; its exit code.
    fn wait(&mut self) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(started.elapsed() < DEADLINE, "the broker did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ringlog broker` on 127.0.0.1 port 0 (clients and metrics) with its data in `data_dir`.
fn broker_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .args([
            "broker",
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--shards",
            "2",
            "--data-dir",
        ])
        .arg(data_dir);
    command
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

fn call(addr: SocketAddr, request: Request) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .write_all(&encode_request(&request, 0, CorrelationId(1)).unwrap())
        .unwrap();
    let mut buffer = BytesMut::new();
    loop {
        if let Some((_, body)) = split_response_frame(&mut buffer, MAX_FRAME_BYTES_DEFAULT).unwrap()
        {
            return decode_response(request.api_key(), 0, body).unwrap();
        }
        let mut chunk = [0u8; 65536];
        let n = match stream.read(&mut chunk) {
            // A signal reached this thread mid-read (seen once in a few hundred runs): read on.
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read.unwrap(),
        };
        assert!(n > 0, "connection closed");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn create_topic(addr: SocketAddr, name: &str) {
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: Some(1),
            replication_factor: Some(1),
            configs: vec![],
        }],
        timeout: DEADLINE,
        validate_only: false,
    });
    let Response::CreateTopics(response) = call(addr, request) else {
        panic!()
    };
    assert_eq!(response.topics[0].error_code, ErrorCode::NONE);
}

fn produce(addr: SocketAddr, topic: &str, value: &str) -> Offset {
    let mut builder = BatchBuilder::new();
    builder.push(&Record {
        value: Some(value.as_bytes()),
        timestamp: 1,
        ..Record::default()
    });
    let request = Request::Produce(ProduceRequest {
        acks: Acks::All,
        timeout: DEADLINE,
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: vec![ProducePartition {
                partition_index: 0,
                records: Bytes::from(builder.finish()),
            }],
        }],
    });
    let Response::Produce(response) = call(addr, request) else {
        panic!()
    };
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::NONE);
    p.base_offset.unwrap()
}

fn high_watermark(addr: SocketAddr, topic: &str) -> Offset {
    let request = Request::Fetch(FetchRequest {
        replica_id: None,
        max_wait: Duration::ZERO,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: vec![FetchPartition {
                partition_index: 0,
                current_leader_epoch: None,
                fetch_offset: Offset(0),
                last_fetched_epoch: None,
                log_start_offset: None,
                partition_max_bytes: 1 << 20,
            }],
        }],
    });
    let Response::Fetch(response) = call(addr, request) else {
        panic!()
    };
    response.topics[0].partitions[0].high_watermark.unwrap()
}

#[test]
fn sigterm_stops_cleanly_and_the_next_start_needs_no_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(dir.path());
    create_topic(broker.addr, "t");
    assert_eq!(produce(broker.addr, "t", "one"), Offset(0));
    assert_eq!(produce(broker.addr, "t", "two"), Offset(1));
    broker.signal(SIGTERM);
    assert_eq!(broker.wait(), Some(0), "a clean stop exits 0");
    // The log was closed cleanly: opening it takes the fast path.
    let log = Log::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), Offset(2));
    drop(log);
    let broker = BrokerProcess::start(dir.path());
    assert_eq!(high_watermark(broker.addr, "t"), Offset(2));
}

#[test]
fn after_sigkill_the_next_start_recovers_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(dir.path());
    create_topic(broker.addr, "t");
    for i in 0..20 {
        produce(broker.addr, "t", &format!("v{i}"));
    }
    broker.signal(SIGKILL);
    broker.wait();
    let broker = BrokerProcess::start(dir.path());
    // With flush = never, SIGKILL keeps the page cache: every acknowledged record is there.
    assert_eq!(high_watermark(broker.addr, "t"), Offset(20));
    assert_eq!(produce(broker.addr, "t", "after"), Offset(20));
}

/// GET /metrics, the body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn fetched_records_count_as_zero_copy_bytes_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    create_topic(broker.addr, "m");
    produce(broker.addr, "m", "hello");
    let before = metric(
        &scrape(broker.metrics),
        "ringlog_fetch_bytes_total{mode=\"zerocopy\"}",
    );
    high_watermark(broker.addr, "m");
    let after = scrape(broker.metrics);
    assert!(
        metric(&after, "ringlog_fetch_bytes_total{mode=\"zerocopy\"}") > before,
        "{after}"
    );
    assert!(
        after.contains("ringlog_partition_high_watermark"),
        "{after}"
    );
}

#[test]
fn an_unknown_config_key_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, "log_retention_hours = 5\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args([
            "broker",
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run ringlog broker");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("log_retention_hours"), "{stderr}");
}

#[test]
fn a_data_dir_started_under_another_node_id_is_refused_with_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut broker = BrokerProcess::start_with(&data_dir, &["--node-id", "1"]);
    create_topic(broker.addr, "t");
    broker.signal(SIGTERM);
    assert_eq!(broker.wait(), Some(0), "a clean stop exits 0");
    let mut child = broker_command(&data_dir)
        .args(["--node-id", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringlog broker");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a broker on node 1's data dir under node id 2 still runs after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{status}: {stderr}");
    let expected = format!(
        "data dir {} belongs to node 1 (meta.properties), not node 2",
        data_dir.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // Under its own id the data dir still serves, topic and all.
    let broker = BrokerProcess::start_with(&data_dir, &["--node-id", "1"]);
    assert_eq!(high_watermark(broker.addr, "t"), Offset(0));
}
