//! Consumer groups from ringlog's CLI against a real `ringlog broker` on 127.0.0.1 (port 0):
//! `ringlog consume --group` processes share a topic's partitions, one killed with SIGKILL has
//! its partitions taken over from the last commit; `ringlog group` lists, describes, resets
//! and deletes; a librdkafka member and a ringlog member share a group; three members of both
//! clients share a topic, and when one of either kind is killed with SIGKILL while records
//! flow, the survivors take its partitions within the session timeout plus 2 s, from its last
//! commit (the librdkafka member is a process of its own for that: this test binary again,
//! running `librdkafka_member_process`). Every wait has a deadline, and every process is
//! killed when its test ends, whatever happens.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

use support::CliOutput;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

/// Longest a broker may take to start, and any one short command.
const DEADLINE: Duration = Duration::from_secs(60);
/// The members' session timeout: the broker's minimum, so a killed member is noticed soon.
const SESSION_TIMEOUT_MS: u64 = 6000;
/// Every member heartbeats this often, so the others learn of a rebalance within half a second
/// of its start (`ringlog consume` would wait 2 s, a third of the session timeout).
const HEARTBEAT_INTERVAL_MS: u64 = 500;
const PARTITIONS: u64 = 4;

/// A broker process with a short initial rebalance delay, killed on drop.
struct Broker {
    child: Child,
    thin: SocketAddr,
    kafka: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let mut command =
            support::local_broker_command(dir.path(), "group_initial_rebalance_delay_ms = 300\n");
        let (child, lines) = support::spawn_with_lines(&mut command);
        let mut broker = Broker {
            child,
            thin: SocketAddr::from(([127, 0, 0, 1], 0)),
            kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let line = lines
            .recv_timeout(DEADLINE)
            .expect("the broker reports its address");
        broker.thin = support::listener_address(&line, "THIN").expect("a THIN listener");
        broker.kafka = support::listener_address(&line, "PLAINTEXT").expect("a Kafka listener");
        broker
    }

    /// `ringlog args...`, `input` on stdin, to its end (killed past [`DEADLINE`]).
    fn run(&self, args: &[&str], input: &str) -> CliOutput {
        let mut process = self.spawn(args);
        let mut stdin = process.child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let code = process.wait(DEADLINE);
        CliOutput {
            code,
            stdout: process.stdout(),
            stderr: process.stderr(),
        }
    }

    /// `ringlog args...` in the background, its output to files.
    fn spawn(&self, args: &[&str]) -> Process {
        Process::start(
            Command::new(env!("CARGO_BIN_EXE_ringlog"))
                .args(args)
                .env("RINGLOG_BOOTSTRAP", self.thin.to_string()),
        )
    }

    /// `ringlog consume TOPIC --group GROUP` as a long-running member.
    fn member(&self, topic: &str, group: &str, idle_ms: u64) -> Process {
        let mut member = self.spawn(&[
            "consume",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--session-timeout-ms",
            &SESSION_TIMEOUT_MS.to_string(),
            "--heartbeat-interval-ms",
            &HEARTBEAT_INTERVAL_MS.to_string(),
            "--timeout-ms",
            &idle_ms.to_string(),
        ]);
        drop(member.child.stdin.take());
        member
    }

    /// A librdkafka member of `group` in a process of its own, so that it can be killed: this
    /// test binary again, running [`librdkafka_member_process`]. Its stdin stays open while
    /// the returned process lives.
    fn librdkafka_member(&self, topic: &str, group: &str) -> Process {
        let test_binary = std::env::current_exe().expect("the test binary's path");
        Process::start(
            Command::new(test_binary)
                .args(["librdkafka_member_process", "--exact", "--ignored"])
                .arg("--nocapture")
                .env(MEMBER_BOOTSTRAP, self.kafka.to_string())
                .env(MEMBER_GROUP, group)
                .env(MEMBER_TOPIC, topic),
        )
    }

    fn describe(&self, group: &str) -> Value {
        let stdout = self.run(&["group", "describe", group, "--json"], "").ok();
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Describes `group` until `done` holds for the description, or panics after `within`.
    fn describe_until(
        &self,
        group: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let description = self.describe(group);
            if done(&description) {
                return description;
            }
            assert!(
                started.elapsed() < within,
                "group {group} not as expected after {within:?}: {description}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn produce(&self, topic: &str, values: &[String]) {
        let mut input = values.join("\n");
        input.push('\n');
        self.run(&["produce", topic], &input).ok();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `ringlog` process in the background, killed on drop.
struct Process {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Process {
    /// `command` in the background, stdin piped, its output to files.
    fn start(command: &mut Command) -> Process {
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("stdout");
        let err = scratch.path().join("stderr");
        let child = command
            .stdin(Stdio::piped())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("start a process");
        Process {
            child,
            out,
            err,
            _scratch: scratch,
        }
    }

    fn stdout(&self) -> String {
        read(&self.out)
    }

    fn stderr(&self) -> String {
        read(&self.err)
    }

    /// The lines printed so far, whole: a line still being written is left out, as a part of
    /// it could read as another value (`v-12` as `v-1`).
    fn lines(&self) -> BTreeSet<String> {
        let stdout = self.stdout();
        let whole = stdout.rfind('\n').map_or("", |end| &stdout[..end]);
        whole.lines().map(str::to_string).collect()
    }

    /// Waits for the exit (killed past `within`); its exit code.
    fn wait(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "ringlog ran longer than {within:?}; stderr: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn values(tag: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{tag}-{n}")).collect()
}

/// Each member's assigned partitions of `topic`, from `group describe --json`.
fn assignments(description: &Value) -> Vec<BTreeSet<u64>> {
    description["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| {
            member["assignment"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["partition"].as_u64().unwrap())
                .collect()
        })
        .collect()
}

/// Stable with `members` members whose assignments are disjoint and cover every one of the
/// topic's `partitions`.
fn shares_every_partition(description: &Value, members: usize, partitions: u64) -> bool {
    let assignments = assignments(description);
    let total: usize = assignments.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<u64> = assignments.iter().flatten().copied().collect();
    description["state"] == "Stable"
        && assignments.len() == members
        && assignments.iter().all(|a| !a.is_empty())
        && total == partitions as usize
        && union == (0..partitions).collect()
}

/// Waits until the union of the members' output holds every value, or panics after `within`;
/// how long it took.
fn until_all_read(members: &[&Process], expected: &[String], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let read: BTreeSet<String> = members.iter().flat_map(|m| m.lines()).collect();
        let missing: Vec<&String> = expected.iter().filter(|v| !read.contains(*v)).collect();
        if missing.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{} values never read within {within:?}, first {:?}; stderr: {}",
            missing.len(),
            missing.first(),
            members
                .iter()
                .map(|m| m.stderr())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn members_share_partitions_a_killed_one_is_taken_over_and_the_group_is_described_reset_and_deleted()
 {
    let broker = Broker::start();
    broker
        .run(&["topic", "create", "t", "--partitions", "4"], "")
        .ok();
    let a = broker.member("t", "g", 60_000);
    let b = broker.member("t", "g", 20_000);
    let shared = broker.describe_until("g", Duration::from_secs(30), |d| {
        shares_every_partition(d, 2, PARTITIONS)
    });
    assert_eq!(shared["protocol_type"], "consumer", "{shared}");
    assert_eq!(shared["protocol"], "range", "{shared}");
    for member in shared["members"].as_array().unwrap() {
        assert_eq!(member["client_id"], "ringlog", "{shared}");
        assert!(
            member["client_host"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1"),
            "{shared}"
        );
    }

    // Both read, each its own partitions.
    let before = values("before", 200);
    broker.produce("t", &before);
    until_all_read(&[&a, &b], &before, Duration::from_secs(20));
    let (read_a, read_b) = (a.lines(), b.lines());
    assert!(!read_a.is_empty() && !read_b.is_empty());
    assert!(
        read_a.is_disjoint(&read_b),
        "a member read another's record"
    );

    // A killed member's partitions go to the other once its session expires, from the last
    // commit: nothing past it is skipped.
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let after = values("after", 200);
    broker.produce("t", &after);
    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    let took = until_all_read(&[&a, &b], &all, Duration::from_secs(30));
    let limit = Duration::from_millis(SESSION_TIMEOUT_MS) + Duration::from_secs(6);
    assert!(took < limit, "the takeover took {took:?}, over {limit:?}");
    let alone = broker.describe_until("g", Duration::from_secs(10), |d| {
        shares_every_partition(d, 1, PARTITIONS)
    });
    for partition in alone["partitions"].as_array().unwrap() {
        assert!(partition["log_end_offset"].as_u64().is_some(), "{alone}");
        assert!(partition["member_id"].is_string(), "{alone}");
    }
    let text = broker.run(&["group", "describe", "g"], "").ok();
    assert!(
        text.starts_with("group g: Stable, protocol consumer/range, 1 member"),
        "{text}"
    );
    assert!(text.contains("committed_offset"), "{text}");
    broker
        .run(&["group", "delete", "g"], "")
        .fails_naming("NON_EMPTY_GROUP");

    // The last member idles out: it commits, leaves, and the group is empty with no lag.
    let mut b = b;
    assert_eq!(b.wait(Duration::from_secs(60)), Some(0), "{}", b.stderr());
    let empty = broker.describe("g");
    assert_eq!(empty["state"], "Empty", "{empty}");
    assert_eq!(empty["members"].as_array().unwrap().len(), 0, "{empty}");
    let partitions = empty["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), PARTITIONS as usize, "{empty}");
    let committed: u64 = partitions
        .iter()
        .map(|p| p["committed_offset"].as_u64().unwrap())
        .sum();
    assert_eq!(committed, 400, "{empty}");
    assert!(partitions.iter().all(|p| p["lag"] == 0), "{empty}");
    let listed = broker.run(&["group", "list", "--json"], "").ok();
    assert!(listed.contains(r#""group":"g""#), "{listed}");

    // Reset to the earliest: a dry run changes nothing; executed, a member reads it all again.
    let dry = broker
        .run(
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-earliest",
            ],
            "",
        )
        .ok();
    assert!(dry.contains("dry run"), "{dry}");
    assert_eq!(broker.describe("g")["partitions"][0]["lag"], 0);
    broker
        .run(
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-offset",
                "0",
                "--execute",
            ],
            "",
        )
        .ok();
    let reset = broker.describe("g");
    let lag: u64 = reset["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lag"].as_u64().unwrap())
        .sum();
    assert_eq!(lag, 400, "{reset}");
    let again = broker
        .run(
            &[
                "consume",
                "t",
                "--group",
                "g",
                "--timeout-ms",
                "3000",
                "--session-timeout-ms",
                "6000",
            ],
            "",
        )
        .ok();
    assert_eq!(again.lines().count(), 400);

    // A member refuses a reset; an empty group is deleted.
    let member = broker.member("t", "g", 60_000);
    broker.describe_until("g", Duration::from_secs(30), |d| {
        shares_every_partition(d, 1, PARTITIONS)
    });
    broker
        .run(
            &["group", "reset-offsets", "g", "--topic", "t", "--to-latest"],
            "",
        )
        .fails_naming("offsets can be reset only while it has none");
    drop(member);
    // Killed, so it left no LeaveGroup: the group empties once its session expires.
    broker.describe_until("g", Duration::from_secs(20), |d| d["state"] == "Empty");
    broker.run(&["group", "delete", "g"], "").ok();
    let listed = broker.run(&["group", "list"], "").ok();
    assert!(!listed.lines().any(|l| l.starts_with("g ")), "{listed}");
}

/// `perf group-member`, alone in its group: one timed line when it started, one for its
/// assignment (every partition, the group's first generation), one per poll with records,
/// each after the one before; it leaves the group once idle.
#[test]
fn a_perf_group_member_prints_its_assignment_and_reads_in_time_order_and_leaves_when_idle() {
    let broker = Broker::start();
    broker
        .run(&["topic", "create", "m", "--partitions", "4"], "")
        .ok();
    // Keyless lines go round robin: every partition has records.
    broker.produce("m", &values("m", 40));
    let args = [
        "perf",
        "group-member",
        "m",
        "--group",
        "timed",
        "--session-timeout-ms",
        &SESSION_TIMEOUT_MS.to_string(),
        "--timeout-ms",
        "2000",
    ];
    let mut member = broker.spawn(&args);
    drop(member.child.stdin.take());
    assert_eq!(member.wait(DEADLINE), Some(0), "{}", member.stderr());
    let events: Vec<Value> = member
        .stdout()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[..2], ["started", "assigned"], "{events:?}");
    assert!(kinds[2..].iter().all(|&k| k == "consumed"), "{events:?}");
    assert_eq!(events[1]["generation"], 1, "{events:?}");
    assert_eq!(events[1]["partitions"], serde_json::json!([0, 1, 2, 3]));
    let read: BTreeSet<u64> = events[2..]
        .iter()
        .flat_map(|e| e["partitions"].as_array().unwrap())
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert_eq!(read, (0..PARTITIONS).collect(), "{events:?}");
    let records: u64 = events[2..]
        .iter()
        .map(|e| e["records"].as_u64().unwrap())
        .sum();
    assert_eq!(records, 40, "{events:?}");
    let times: Vec<u64> = events
        .iter()
        .map(|e| e["unix_us"].as_u64().unwrap())
        .collect();
    assert!(times.is_sorted(), "{events:?}");
    // It left: the group has no member.
    let left = broker.describe("timed");
    assert!(left["members"].as_array().unwrap().is_empty(), "{left}");
}

#[test]
fn a_librdkafka_member_and_a_ringlog_member_share_a_group() {
    let broker = Broker::start();
    broker
        .run(&["topic", "create", "mixed", "--partitions", "4"], "")
        .ok();
    let kafka: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.kafka.to_string())
        .set("group.id", "mix")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("create a librdkafka member");
    kafka.subscribe(&["mixed"]).unwrap();
    let ringlog = broker.member("mixed", "mix", 60_000);
    let started = Instant::now();
    let shared = loop {
        // librdkafka runs its group protocol in its polls.
        let _ = kafka.poll(Duration::from_millis(200));
        let description = broker.describe("mix");
        if shares_every_partition(&description, 2, PARTITIONS) {
            break description;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no shared assignment: {description}; ringlog: {}",
            ringlog.stderr()
        );
    };
    let clients: BTreeSet<&str> = shared["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    assert!(clients.contains("ringlog"), "{shared}");
    assert_eq!(clients.len(), 2, "{shared}");
    // librdkafka's own view agrees with the coordinator's.
    let mut own = BTreeSet::new();
    let started = Instant::now();
    while own.is_empty() && started.elapsed() < Duration::from_secs(10) {
        let _ = kafka.poll(Duration::from_millis(100));
        own = kafka
            .assignment()
            .unwrap()
            .elements()
            .iter()
            .map(|e| e.partition() as u64)
            .collect();
    }
    assert!(assignments(&shared).contains(&own), "{own:?} in {shared}");
    drop(kafka);
    drop(ringlog);
}

#[test]
fn a_heartbeat_interval_not_below_the_session_timeout_is_refused() {
    let args = [
        "consume",
        "t",
        "--group",
        "g",
        "--session-timeout-ms",
        "6000",
        "--heartbeat-interval-ms",
        "6000",
    ];
    // Nothing listens there: the flags are refused before any connection.
    support::cli(&args, "", &[("RINGLOG_BOOTSTRAP", "127.0.0.1:1")])
        .fails_naming("--heartbeat-interval-ms 6000 is not below --session-timeout-ms 6000");
}

/// The topic of the three-member tests: two partitions for each member.
const SHARED_PARTITIONS: i32 = 6;
/// The records produced to each partition before the feed starts.
const BEFORE_EACH: usize = 10;
/// The librdkafka member's client id, which tells it apart in the group's description.
const LIBRDKAFKA_CLIENT_ID: &str = "librdkafka-member";
/// Set (to the broker's Kafka address), [`librdkafka_member_process`] is a member of the
/// group in [`MEMBER_GROUP`], subscribed to the topic in [`MEMBER_TOPIC`].
const MEMBER_BOOTSTRAP: &str = "RINGLOG_TEST_MEMBER_BOOTSTRAP";
const MEMBER_GROUP: &str = "RINGLOG_TEST_MEMBER_GROUP";
const MEMBER_TOPIC: &str = "RINGLOG_TEST_MEMBER_TOPIC";

/// Not a test: the librdkafka member the three-member tests start as a process of its own,
/// and a no-op unless [`MEMBER_BOOTSTRAP`] is set. It prints each record's value on a line,
/// then stores the record's offset for the next auto-commit (every 200 ms), Kafka's
/// at-least-once recipe: a commit never covers a record not yet printed. It ends when its
/// stdin closes (the test that started it ended, however it ended), or after three
/// [`DEADLINE`]s.
#[test]
#[ignore = "a group member process the three-member tests start, not a test"]
fn librdkafka_member_process() {
    let Ok(bootstrap) = std::env::var(MEMBER_BOOTSTRAP) else {
        return;
    };
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", setting(MEMBER_GROUP))
        .set("client.id", LIBRDKAFKA_CLIENT_ID)
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS.to_string())
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "200")
        .create()
        .expect("create a librdkafka member");
    consumer
        .subscribe(&[&setting(MEMBER_TOPIC)])
        .expect("subscribe");
    let deadline = Instant::now() + 3 * DEADLINE;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
                let mut out = std::io::stdout().lock();
                writeln!(out, "{value}")
                    .and_then(|()| out.flush())
                    .expect("print a record");
                drop(out);
                consumer
                    .store_offset_from_message(&message)
                    .expect("store the offset");
            }
            Some(Err(error)) => eprintln!("librdkafka member: {error}"),
            None => {}
        }
    }
}

/// A record a test produced: its partition, offset and value, `{tag}-{partition}-{n}`.
#[derive(Clone, Debug)]
struct Produced {
    partition: i32,
    offset: i64,
    value: String,
}

/// The partition of a value `{tag}-{partition}-{n}`; `None` for another line.
fn partition_of(line: &str) -> Option<i32> {
    let mut parts = line.split('-');
    let (_tag, partition, n) = (parts.next()?, parts.next()?, parts.next()?);
    n.parse::<u64>().ok()?;
    partition.parse().ok()
}

/// The partitions of the values tagged `tag` (any tag for `""`) that `processes` printed.
fn partitions_read(processes: &[&Process], tag: &str) -> BTreeSet<i32> {
    processes
        .iter()
        .flat_map(|process| process.lines())
        .filter(|line| line.starts_with(tag))
        .filter_map(|line| partition_of(&line))
        .collect()
}

/// librdkafka's producer (acks=all), each record waited for.
struct KafkaProducer {
    producer: FutureProducer,
    topic: String,
    runtime: tokio::runtime::Runtime,
}

impl KafkaProducer {
    fn new(kafka: SocketAddr, topic: &str) -> KafkaProducer {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", kafka.to_string())
            .set("acks", "all")
            .set("message.timeout.ms", DEADLINE.as_millis().to_string())
            .create()
            .expect("create a producer");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        KafkaProducer {
            producer,
            topic: topic.to_string(),
            runtime,
        }
    }

    /// Produces `{tag}-{partition}-{n}` to `partition`.
    fn send(&self, tag: &str, partition: i32, n: usize) -> Produced {
        let value = format!("{tag}-{partition}-{n}");
        let record = FutureRecord::<(), _>::to(&self.topic)
            .partition(partition)
            .payload(&value);
        match self.runtime.block_on(self.producer.send(record, DEADLINE)) {
            Ok(delivery) => Produced {
                partition,
                offset: delivery.offset,
                value,
            },
            Err((error, _)) => panic!("produce {value}: {error}"),
        }
    }
}

/// Records `feed-{partition}-{n}` produced in the background, to each partition in turn, one
/// every 20 ms, until [`Feed::stop`] (or the drop, when a test fails first).
struct Feed {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Produced>>>,
}

impl Feed {
    fn start(producer: KafkaProducer) -> Feed {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut produced = Vec::new();
            for n in 0.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let partition = (n % SHARED_PARTITIONS as usize) as i32;
                produced.push(producer.send("feed", partition, n));
                std::thread::sleep(Duration::from_millis(20));
            }
            produced
        });
        Feed {
            stop,
            thread: Some(thread),
        }
    }

    /// Every record produced, once the feed stopped.
    fn stop(mut self) -> Vec<Produced> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("a running feed");
        thread.join().expect("the feed's records are acknowledged")
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The member of the three that a test kills with SIGKILL.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Librdkafka,
    Ringlog,
}

/// Three members of one group, a librdkafka process and two `ringlog consume --group`
/// processes, share a topic; `victim` is killed with SIGKILL while records are produced. The
/// survivors take its partitions within the session timeout plus 2 s, from its last commit.
fn three_members_share_and_the_survivors_take_over_a_killed_one(victim: Victim) {
    let broker = Broker::start();
    let (topic, group) = ("shared", "trio");
    let partitions = SHARED_PARTITIONS.to_string();
    broker
        .run(&["topic", "create", topic, "--partitions", &partitions], "")
        .ok();
    let mut members = three_members(&broker, topic, group);
    let producer = KafkaProducer::new(broker.kafka, topic);
    let (before, shares) = each_reads_its_share(&broker, group, &members, &producer);

    // The victim dies reading the feed, some of which it committed.
    let feed = Feed::start(producer);
    let victim_index = match victim {
        Victim::Librdkafka => 0,
        Victim::Ringlog => 1,
    };
    let lost = shares[victim_index].clone();
    let description = broker.describe_until(group, Duration::from_secs(30), |d| {
        let committed = committed_offsets(d);
        lost.iter()
            .all(|p| committed.get(p).is_some_and(|&c| c > BEFORE_EACH as u64))
    });
    let committed_before_kill = committed_offsets(&description);
    let killed = &mut members[victim_index].child;
    killed.kill().unwrap();
    killed.wait().unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<&Process> = members
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != victim_index)
        .map(|(_, member)| member)
        .collect();
    let (took, committed) = watch_takeover(&broker, group, &survivors, &lost, killed_at);
    let produced: Vec<Produced> = before.into_iter().chain(feed.stop()).collect();

    let owed = nothing_is_skipped(&members, &survivors, &produced, &lost, &committed);
    // The survivors resumed from the victim's last commit, no earlier one: nothing it had
    // committed before it died is read again.
    let offsets: BTreeMap<&str, (i32, i64)> = produced
        .iter()
        .map(|r| (r.value.as_str(), (r.partition, r.offset)))
        .collect();
    let survivors_read: BTreeSet<String> = survivors.iter().flat_map(|s| s.lines()).collect();
    let read_again: Vec<&(i32, i64)> = survivors_read
        .iter()
        .filter_map(|value| offsets.get(value.as_str()))
        .filter(|(p, offset)| lost.contains(p) && *offset < committed_before_kill[p] as i64)
        .collect();
    assert!(
        read_again.is_empty(),
        "committed {committed_before_kill:?} before the kill, read again: {read_again:?}"
    );
    // The coordinator notices the death at most a session timeout after the victim's last
    // heartbeat, which came before the kill. The survivors learn of the rebalance at their next
    // heartbeat (every 500 ms), rejoin, sync, look their positions up and fetch: 2 s is room
    // for that on a loaded 2-core machine. A takeover that waited for anything more (a
    // rebalance timeout, a second session) would take far longer.
    let limit = Duration::from_millis(SESSION_TIMEOUT_MS) + Duration::from_secs(2);
    for (partition, took) in &took {
        assert!(
            *took <= limit,
            "partition {partition} was read again {took:?} after the kill, over {limit:?}"
        );
    }
    eprintln!(
        "the {victim:?} member's partitions {lost:?}, committed up to {committed:?}, were taken \
         over after {took:?}; the survivors owed {owed} records"
    );
    broker.describe_until(group, Duration::from_secs(20), |d| {
        shares_every_partition(d, 2, SHARED_PARTITIONS as u64)
    });
}

/// The librdkafka member and two ringlog members of `group`, once the group is Stable with a
/// share for each.
fn three_members(broker: &Broker, topic: &str, group: &str) -> [Process; 3] {
    let members = [
        broker.librdkafka_member(topic, group),
        broker.member(topic, group, 60_000),
        broker.member(topic, group, 60_000),
    ];
    let stable = broker.describe_until(group, Duration::from_secs(40), |d| {
        shares_every_partition(d, 3, SHARED_PARTITIONS as u64)
    });
    let mut clients: Vec<&str> = stable["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    clients.sort_unstable();
    assert_eq!(
        clients,
        [LIBRDKAFKA_CLIENT_ID, "ringlog", "ringlog"],
        "{stable}"
    );
    members
}

/// Produces [`BEFORE_EACH`] records to each partition; each member reads those of its own
/// share, and the group commits them all. The records, and each member's share as its output
/// shows it.
fn each_reads_its_share(
    broker: &Broker,
    group: &str,
    members: &[Process; 3],
    producer: &KafkaProducer,
) -> (Vec<Produced>, Vec<BTreeSet<i32>>) {
    let before: Vec<Produced> = (0..BEFORE_EACH * SHARED_PARTITIONS as usize)
        .map(|n| producer.send("before", (n % SHARED_PARTITIONS as usize) as i32, n))
        .collect();
    let values: Vec<String> = before.iter().map(|r| r.value.clone()).collect();
    until_all_read(&members.each_ref(), &values, Duration::from_secs(30));
    let shares: Vec<BTreeSet<i32>> = members
        .iter()
        .map(|member| partitions_read(&[member], "before"))
        .collect();
    let union: BTreeSet<i32> = shares.iter().flatten().copied().collect();
    let total: usize = shares.iter().map(BTreeSet::len).sum();
    assert_eq!(union, (0..SHARED_PARTITIONS).collect(), "{shares:?}");
    assert_eq!(total, SHARED_PARTITIONS as usize, "{shares:?}");
    assert!(shares.iter().all(|share| !share.is_empty()), "{shares:?}");
    broker.describe_until(group, Duration::from_secs(30), |d| {
        let committed = committed_offsets(d);
        committed.len() == SHARED_PARTITIONS as usize
            && committed.values().all(|&c| c >= BEFORE_EACH as u64)
    });
    (before, shares)
}

/// Waits until the survivors printed every record of `lost` from `committed` on and the
/// members together every record `produced`: nothing past the victim's last commit was
/// skipped, nothing at all lost. How many records the survivors owed.
fn nothing_is_skipped(
    members: &[Process; 3],
    survivors: &[&Process],
    produced: &[Produced],
    lost: &BTreeSet<i32>,
    committed: &BTreeMap<i32, u64>,
) -> usize {
    let owed: Vec<String> = produced
        .iter()
        .filter(|r| lost.contains(&r.partition))
        .filter(|r| r.offset >= committed[&r.partition] as i64)
        .map(|r| r.value.clone())
        .collect();
    until_all_read(survivors, &owed, Duration::from_secs(30));
    let all: Vec<String> = produced.iter().map(|r| r.value.clone()).collect();
    until_all_read(&members.each_ref(), &all, Duration::from_secs(30));
    owed.len()
}

/// Watches `group` after the member that held `lost` was killed at `killed_at`; for each
/// partition of `lost`, how long after the kill a survivor first printed one of its records,
/// and the group's committed offset as last read while the coordinator still counted the
/// killed member. Until its session ran out no survivor held those partitions, and by then a
/// commit the member had on its way when it died has landed: that reading is its last commit.
fn watch_takeover(
    broker: &Broker,
    group: &str,
    survivors: &[&Process],
    lost: &BTreeSet<i32>,
    killed_at: Instant,
) -> (BTreeMap<i32, Duration>, BTreeMap<i32, u64>) {
    let mut took = BTreeMap::new();
    let mut committed = None;
    let mut counted = true;
    while took.len() < lost.len() {
        assert!(
            killed_at.elapsed() < DEADLINE,
            "the survivors took over only {took:?} of {lost:?}"
        );
        for partition in partitions_read(survivors, "").intersection(lost) {
            took.entry(*partition)
                .or_insert_with(|| killed_at.elapsed());
        }
        if counted {
            let description = broker.describe(group);
            counted = description["members"].as_array().unwrap().len() == 3;
            if counted {
                committed = Some(committed_offsets(&description));
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let committed = committed.expect("a description that counted the killed member");
    (took, committed)
}

/// The committed offset of each partition that has one, from `group describe --json`.
fn committed_offsets(description: &Value) -> BTreeMap<i32, u64> {
    description["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let partition = p["partition"].as_u64()? as i32;
            Some((partition, p["committed_offset"].as_u64()?))
        })
        .collect()
}

#[test]
fn a_killed_librdkafka_member_of_three_is_taken_over_from_its_last_commit() {
    three_members_share_and_the_survivors_take_over_a_killed_one(Victim::Librdkafka);
}

#[test]
fn a_killed_ringlog_member_of_three_is_taken_over_from_its_last_commit() {
    three_members_share_and_the_survivors_take_over_a_killed_one(Victim::Ringlog);
}
