//! Consumer groups from ringlog's CLI against a real `ringlog broker` on 127.0.0.1 (port 0):
//! `ringlog consume --group` processes share a topic's partitions, one killed with SIGKILL has
//! its partitions taken over from the last commit; `ringlog group` lists, describes, resets
//! and deletes; a librdkafka member and a ringlog member share a group. Every wait has a
//! deadline, and every process is killed when its test ends, whatever happens.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::CliOutput;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

/// Longest a broker may take to start, and any one short command.
const DEADLINE: Duration = Duration::from_secs(60);
/// The members' session timeout: the broker's minimum, so a killed member is noticed soon.
const SESSION_TIMEOUT_MS: u64 = 6000;
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
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("stdout");
        let err = scratch.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .args(args)
            .env("RINGLOG_BOOTSTRAP", self.thin.to_string())
            .stdin(Stdio::piped())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("start ringlog");
        Process {
            child,
            out,
            err,
            _scratch: scratch,
        }
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
            "--timeout-ms",
            &idle_ms.to_string(),
        ]);
        drop(member.child.stdin.take());
        member
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
    fn stdout(&self) -> String {
        read(&self.out)
    }

    fn stderr(&self) -> String {
        read(&self.err)
    }

    /// The lines printed so far.
    fn lines(&self) -> BTreeSet<String> {
        self.stdout().lines().map(str::to_string).collect()
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

/// Stable with `members` members whose assignments are disjoint and cover every partition.
fn shares_every_partition(description: &Value, members: usize) -> bool {
    let assignments = assignments(description);
    let total: usize = assignments.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<u64> = assignments.iter().flatten().copied().collect();
    description["state"] == "Stable"
        && assignments.len() == members
        && assignments.iter().all(|a| !a.is_empty())
        && total == PARTITIONS as usize
        && union == (0..PARTITIONS).collect()
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
        shares_every_partition(d, 2)
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
        shares_every_partition(d, 1)
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
        shares_every_partition(d, 1)
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
        if shares_every_partition(&description, 2) {
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
