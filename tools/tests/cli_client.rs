//! The client commands of `ringlog` as real processes against a real `ringlog broker` on
//! 127.0.0.1 (port 0): topics, produce and consume (keys, groups), perf produce and consume,
//! the verifiable producer and consumer, and failures naming their Kafka error code. Every run
//! has a deadline, and every process is killed when its test ends, whatever happens.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

mod support;

use serde_json::Value;
use support::CliOutput;

/// Longest a broker may take to start, and any one run of a command (debug builds on a busy
/// 2-core machine).
const DEADLINE: Duration = Duration::from_secs(60);

/// A broker process, killed on drop (the helper of `tests/broker.rs`, trimmed).
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    /// The config file and the data dir (`data`).
    _dir: tempfile::TempDir,
}

impl BrokerProcess {
    fn start() -> BrokerProcess {
        BrokerProcess::start_with_config("")
    }

    /// A broker whose config file holds `toml` (the flags' keys aside).
    fn start_with_config(toml: &str) -> BrokerProcess {
        BrokerProcess::start_on(toml, "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0", "THIN")
    }

    /// A broker on `listeners`, reached through its listener `thin` (`THIN`, `THIN_SSL`).
    fn start_on(toml: &str, listeners: &str, thin: &str) -> BrokerProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut command = support::local_broker_command_on(dir.path(), toml, listeners);
        let (child, lines) = support::spawn_with_lines(&mut command);
        // Killed by drop if the line never comes.
        let mut broker = BrokerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let line = lines
            .recv_timeout(DEADLINE)
            .expect("the broker reports its address");
        broker.addr = support::listener_address(&line, thin)
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        broker
    }

    /// `ringlog args...` against this broker (through `RINGLOG_BOOTSTRAP`), with no input.
    fn run(&self, args: &[&str]) -> CliOutput {
        self.run_with_input(args, "")
    }

    /// `ringlog args...` against this broker, `input` on its stdin.
    fn run_with_input(&self, args: &[&str], input: &str) -> CliOutput {
        support::cli(
            args,
            input,
            &[("RINGLOG_BOOTSTRAP", &self.addr.to_string())],
        )
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line:?}"))
}

fn one_object(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    json(lines[0])
}

#[test]
fn topics_are_created_listed_described_altered_and_deleted() {
    let broker = BrokerProcess::start();
    broker
        .run(&[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention_ms=3600000",
        ])
        .ok();
    let listed = one_object(&broker.run(&["topic", "list", "--json"]).ok());
    assert!(
        listed["topics"]
            .as_array()
            .unwrap()
            .contains(&Value::from("orders")),
        "{listed}"
    );
    broker
        .run_with_input(&["produce", "orders", "--partition", "1"], "a\nb\n")
        .ok();

    let described = one_object(&broker.run(&["topic", "describe", "orders", "--json"]).ok());
    assert_eq!(described["name"], "orders", "{described}");
    assert_eq!(
        described["topic_id"].as_str().map(str::len),
        Some(22),
        "{described}"
    );
    assert_eq!(
        described["configs"]["retention_ms"], "3600000",
        "{described}"
    );
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3, "{described}");
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["partition"], i, "{described}");
        let leader = p["leader"].as_u64().expect("a leader");
        assert_eq!(p["replicas"], serde_json::json!([leader]), "{described}");
        assert_eq!(p["isr"], serde_json::json!([leader]), "{described}");
        // The single broker's Metadata carries no epoch: present, null.
        assert!(p.get("leader_epoch").is_some(), "{described}");
        let records = if i == 1 { 2 } else { 0 };
        assert_eq!(p["high_watermark"], records, "{described}");
        assert_eq!(p["log_end_offset"], records, "{described}");
        assert_eq!(p["log_start_offset"], 0, "{described}");
    }

    broker
        .run(&[
            "topic",
            "alter-config",
            "orders",
            "--config",
            "retention_ms=1000",
            "--config",
            "segment_bytes=10485760",
        ])
        .ok();
    let described = one_object(&broker.run(&["topic", "describe", "orders", "--json"]).ok());
    assert_eq!(described["configs"]["retention_ms"], "1000", "{described}");
    assert_eq!(
        described["configs"]["segment_bytes"], "10485760",
        "{described}"
    );
    broker
        .run(&[
            "topic",
            "alter-config",
            "orders",
            "--delete-config",
            "retention_ms",
        ])
        .ok();
    let described = one_object(&broker.run(&["topic", "describe", "orders", "--json"]).ok());
    assert!(
        described["configs"].get("retention_ms").is_none(),
        "{described}"
    );
    let text = broker.run(&["topic", "describe", "orders"]).ok();
    assert!(text.contains("high_watermark"), "{text}");

    broker.run(&["topic", "delete", "orders"]).ok();
    let names = broker.run(&["topic", "list"]).ok();
    assert!(!names.lines().any(|name| name == "orders"), "{names}");
}

/// As Kafka's `--partitions` and `--replication-factor`: left out, the broker's
/// `num_partitions` and `default_replication_factor` apply.
#[test]
fn a_topic_created_without_counts_gets_the_brokers_defaults() {
    let broker = BrokerProcess::start_with_config("num_partitions = 3\n");
    let created = broker.run(&["topic", "create", "defaults"]).ok();
    assert_eq!(
        created.trim(),
        "created topic defaults (partitions 3, replication factor 1)"
    );
    let described = one_object(
        &broker
            .run(&["topic", "describe", "defaults", "--json"])
            .ok(),
    );
    assert_eq!(
        described["partitions"].as_array().unwrap().len(),
        3,
        "{described}"
    );
    // A count given still wins over the default.
    broker
        .run(&["topic", "create", "given", "--partitions", "2"])
        .ok();
    let described = one_object(&broker.run(&["topic", "describe", "given", "--json"]).ok());
    assert_eq!(
        described["partitions"].as_array().unwrap().len(),
        2,
        "{described}"
    );
}

#[test]
fn the_bootstrap_flag_wins_over_the_environment() {
    let broker = BrokerProcess::start();
    let address = broker.addr.to_string();
    let env = [("RINGLOG_BOOTSTRAP", "127.0.0.1:1")];
    support::cli(&["topic", "list"], "", &env).fails_naming("127.0.0.1:1");
    let flag = ["topic", "create", "t", "--bootstrap", address.as_str()];
    support::cli(&flag, "", &env).ok();
    let list = [
        "topic",
        "list",
        "--bootstrap",
        &format!("127.0.0.1:1,{address}"),
    ];
    let names = support::cli(&list, "", &env).ok();
    assert!(names.lines().any(|name| name == "t"), "{names}");
}

#[test]
fn lines_from_stdin_are_consumed_back_in_order() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "lines"]).ok();
    broker
        .run_with_input(&["produce", "lines"], "one\ntwo\r\n\nfour")
        .ok();
    let consume = ["consume", "lines", "--from-beginning", "--max-records", "4"];
    let out = broker.run(&consume);
    assert!(out.stderr.contains("consumed 4 records"), "{}", out.stderr);
    assert_eq!(out.ok(), "one\ntwo\n\nfour\n");
    // From an offset of one partition.
    let out = broker.run(&[
        "consume",
        "lines",
        "--partition",
        "0",
        "--offset",
        "2",
        "--timeout-ms",
        "1000",
    ]);
    assert_eq!(out.ok(), "\nfour\n");
}

/// A record over the producer's default 1 MiB request goes through once the topic and the
/// producer both allow it, as with Kafka's `max.message.bytes` and `max.request.size`.
#[test]
fn a_record_over_a_mebibyte_is_produced_with_a_larger_max_request() {
    const RECORD_BYTES: usize = 2 << 20;
    let broker = BrokerProcess::start();
    broker
        .run(&[
            "topic",
            "create",
            "big",
            "--config",
            "max_message_bytes=4194304",
        ])
        .ok();
    let line = "x".repeat(RECORD_BYTES);
    let refused = broker.run_with_input(&["produce", "big"], &line);
    refused.fails_naming("max_request_bytes 1048576");
    broker
        .run_with_input(&["produce", "big", "--max-request-bytes", "4194304"], &line)
        .ok();
    let consume = ["consume", "big", "--from-beginning", "--max-records", "1"];
    let out = broker.run(&consume).ok();
    assert_eq!(out.len(), RECORD_BYTES + 1, "one value and its newline");
    assert!(out == format!("{line}\n"), "the record comes back whole");
}

#[test]
fn keys_before_the_separator_come_back_with_their_values() {
    let broker = BrokerProcess::start();
    broker
        .run(&["topic", "create", "keyed", "--partitions", "2"])
        .ok();
    broker
        .run_with_input(
            &["produce", "keyed", "--key-separator", "::", "--acks", "1"],
            "k1::v1\nk2::v2::x\n::empty key\n",
        )
        .ok();
    let out = broker
        .run(&[
            "consume",
            "keyed",
            "--from-beginning",
            "--max-records",
            "3",
            "--key-separator",
            "=",
        ])
        .ok();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["=empty key", "k1=v1", "k2=v2::x"], "{out}");
    // A line without the separator is refused, naming it.
    broker
        .run_with_input(&["produce", "keyed", "--key-separator", "::"], "no key\n")
        .fails_naming("line 1");
}

/// Issue 16: a line without the separator stops the input, and every record read before it
/// is still delivered (the command used to exit before flushing them).
#[test]
fn a_bad_line_stops_the_input_after_the_records_before_it_are_delivered() {
    const GOOD_LINES: usize = 20_000;
    let broker = BrokerProcess::start();
    broker
        .run(&["topic", "create", "stops", "--partitions", "2"])
        .ok();
    let good: Vec<String> = (0..GOOD_LINES).map(|i| format!("k{i}:v{i}")).collect();
    let after: Vec<String> = (0..100).map(|i| format!("late{i}:v")).collect();
    let input = format!(
        "{}\nno separator here\n{}\n",
        good.join("\n"),
        after.join("\n")
    );
    let out = broker.run_with_input(&["produce", "stops", "--key-separator", ":"], &input);
    out.fails_naming(&format!(
        "line {}: no key separator \":\"; the {GOOD_LINES} records before it were delivered \
         and no line after it was read",
        GOOD_LINES + 1
    ));

    let described = one_object(&broker.run(&["topic", "describe", "stops", "--json"]).ok());
    let stored: u64 = described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["high_watermark"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, GOOD_LINES as u64, "{described}");
    let consume = [
        "consume",
        "stops",
        "--from-beginning",
        "--max-records",
        &(GOOD_LINES + 1).to_string(),
        "--timeout-ms",
        "2000",
        "--key-separator",
        ":",
    ];
    let out = broker.run(&consume);
    let consumed = format!("consumed {GOOD_LINES} records");
    assert!(out.stderr.contains(&consumed), "{}", out.stderr);
    let mut records: Vec<String> = out.ok().lines().map(str::to_string).collect();
    records.sort();
    let mut expected = good;
    expected.sort();
    assert!(
        records == expected,
        "the records before the bad line, each once"
    );
}

/// Issue 16: while acks=all is refused (one replica, `min_insync_replicas` 2), the command
/// says so on stderr instead of waiting silently, and then fails naming what was retried.
#[test]
fn a_refused_produce_is_reported_while_it_is_retried() {
    let broker = BrokerProcess::start();
    broker
        .run(&[
            "topic",
            "create",
            "strict",
            "--config",
            "min_insync_replicas=2",
        ])
        .ok();
    let started = std::time::Instant::now();
    let out = broker.run_with_input(
        &[
            "produce",
            "strict",
            "--acks",
            "all",
            "--delivery-timeout-ms",
            "4000",
        ],
        "a\nb\n",
    );
    let elapsed = started.elapsed();
    let stderr = out.stderr.clone();
    out.fails_naming(
        "2 of 2 records not delivered, the first from line 1: strict-0: record not delivered \
         within delivery_timeout 4000 ms",
    );
    let last = stderr.lines().last().unwrap();
    assert!(last.contains("NOT_ENOUGH_REPLICAS (19)"), "{stderr}");
    assert!(last.contains("min_insync_replicas is 2"), "{stderr}");
    // A notice after a second of retries, the next 5 s later: the 4 s run has one.
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("retrying: "))
        .collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    let notice = notices[0];
    assert!(notice.starts_with("retrying: strict-0 failed "), "{stderr}");
    assert!(
        notice.contains("broker answered NOT_ENOUGH_REPLICAS (19): not enough replicas"),
        "{stderr}"
    );
    assert!(
        notice.ends_with("records fail after --delivery-timeout-ms 4000"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn a_group_resumes_after_its_commit_and_then_reads_nothing_new() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "jobs"]).ok();
    broker
        .run_with_input(&["produce", "jobs"], "1\n2\n3\n4\n5\n")
        .ok();
    let group = [
        "consume",
        "jobs",
        "--group",
        "workers",
        "--from-beginning",
        "--timeout-ms",
        "1500",
    ];
    let first: Vec<&str> = group
        .iter()
        .copied()
        .chain(["--max-records", "3"])
        .collect();
    assert_eq!(broker.run(&first).ok(), "1\n2\n3\n");
    assert_eq!(broker.run(&group).ok(), "4\n5\n");
    assert_eq!(broker.run(&group).ok(), "");
    // Another group starts over.
    let other = [
        "consume",
        "jobs",
        "--group",
        "auditors",
        "--from-beginning",
        "--max-records",
        "5",
    ];
    assert_eq!(broker.run(&other).ok(), "1\n2\n3\n4\n5\n");
}

fn assert_latency(report: &Value) {
    let latency = &report["latency_ms"];
    let p50 = latency["p50"].as_f64().unwrap();
    let p99 = latency["p99"].as_f64().unwrap();
    let p999 = latency["p999"].as_f64().unwrap();
    let max = latency["max"].as_f64().unwrap();
    assert!(0.0 < p50, "{report}");
    assert!(p50 <= p99, "{report}");
    assert!(p99 <= p999, "{report}");
    assert!(p999 <= max, "{report}");
}

#[test]
fn perf_produce_then_perf_consume_report_every_record() {
    let broker = BrokerProcess::start();
    broker
        .run(&["topic", "create", "perf", "--partitions", "3"])
        .ok();
    let produced = one_object(
        &broker
            .run(&[
                "perf",
                "produce",
                "perf",
                "--records",
                "20000",
                "--record-size",
                "100",
                "--producers",
                "2",
                "--json",
            ])
            .ok(),
    );
    assert_eq!(produced["records"], 20000, "{produced}");
    assert_eq!(produced["errors"], 0, "{produced}");
    assert_eq!(produced["bytes"], 2_000_000, "{produced}");
    assert!(produced["seconds"].as_f64().unwrap() > 0.0, "{produced}");
    assert!(
        produced["records_per_sec"].as_f64().unwrap() > 0.0,
        "{produced}"
    );
    assert!(produced["mb_per_sec"].as_f64().unwrap() > 0.0, "{produced}");
    // acks=all by default, and with it idempotence.
    assert_eq!(produced["acks"], "all", "{produced}");
    assert_eq!(produced["idempotence"], true, "{produced}");
    assert_latency(&produced);

    let consumed = one_object(
        &broker
            .run(&["perf", "consume", "perf", "--records", "20000", "--json"])
            .ok(),
    );
    assert_eq!(consumed["records"], 20000, "{consumed}");
    assert_eq!(consumed["bytes"], 2_000_000, "{consumed}");
    assert!(
        consumed["records_per_sec"].as_f64().unwrap() > 0.0,
        "{consumed}"
    );
    assert!(consumed["mb_per_sec"].as_f64().unwrap() > 0.0, "{consumed}");
    assert_latency(&consumed);

    // More records than there are: a failure naming the count, after the idle timeout.
    broker
        .run(&[
            "perf",
            "consume",
            "perf",
            "--records",
            "20001",
            "--timeout-ms",
            "1000",
        ])
        .fails_naming("consumed 20000 of 20001 records");
}

#[test]
fn perf_produce_keeps_to_its_throughput() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "slow"]).ok();
    let produced = one_object(
        &broker
            .run(&[
                "perf",
                "produce",
                "slow",
                "--records",
                "200",
                "--record-size",
                "10",
                "--throughput",
                "200",
                "--acks",
                "1",
                "--json",
            ])
            .ok(),
    );
    assert_eq!(produced["records"], 200, "{produced}");
    // 200 records at 200/s: the last leaves 995 ms after the first.
    let seconds = produced["seconds"].as_f64().unwrap();
    assert!(seconds >= 0.99, "{produced}");
    assert!(
        produced["records_per_sec"].as_f64().unwrap() <= 202.0,
        "{produced}"
    );
}

#[test]
fn perf_produce_without_idempotence_says_so() {
    let broker = BrokerProcess::start();
    broker
        .run(&["topic", "create", "plain", "--partitions", "3"])
        .ok();
    let produce = |extra: &[&str]| {
        let mut args = vec![
            "perf",
            "produce",
            "plain",
            "--records",
            "3000",
            "--record-size",
            "100",
        ];
        args.extend_from_slice(extra);
        broker.run(&args)
    };
    let produced = one_object(&produce(&["--idempotence", "false", "--json"]).ok());
    assert_eq!(produced["records"], 3000, "{produced}");
    assert_eq!(produced["errors"], 0, "{produced}");
    assert_eq!(produced["acks"], "all", "{produced}");
    assert_eq!(produced["idempotence"], false, "{produced}");
    assert_latency(&produced);
    let text = produce(&["--idempotence", "false"]).ok();
    assert!(text.contains("acks all, not idempotent,"), "{text}");
    let text = produce(&["--idempotence", "true"]).ok();
    assert!(text.contains("acks all, idempotent,"), "{text}");
    // With acks=1 the producer is not idempotent, whatever the flag says.
    let produced = one_object(&produce(&["--acks", "1", "--idempotence", "true", "--json"]).ok());
    assert_eq!(produced["idempotence"], false, "{produced}");
    let bad = produce(&["--idempotence", "maybe"]);
    assert_eq!(bad.code, Some(2), "stdout: {}", bad.stdout);
    assert!(bad.stderr.contains("--idempotence"), "{}", bad.stderr);
}

/// (partition, offset) → value, of the lines with this event.
fn events(stdout: &str, event: &str) -> Vec<(u64, u64, String)> {
    stdout
        .lines()
        .map(json)
        .filter(|line| line["event"] == event)
        .map(|line| {
            (
                line["partition"].as_u64().unwrap(),
                line["offset"].as_u64().unwrap(),
                line["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_acknowledged_value_is_consumed_once_in_offset_order() {
    let broker = BrokerProcess::start();
    broker
        .run(&["topic", "create", "verified", "--partitions", "3"])
        .ok();
    let produced = broker
        .run(&[
            "verifiable-producer",
            "verified",
            "--records",
            "600",
            "--acks",
            "all",
        ])
        .ok();
    let acked = events(&produced, "ack");
    assert_eq!(acked.len(), 600, "{produced}");
    // It read its records back: each once, none missing.
    let read_back: Vec<serde_json::Value> = produced
        .lines()
        .map(json)
        .filter(|line| line["event"] == "read_back")
        .collect();
    assert_eq!(read_back.len(), 1, "{produced}");
    assert_eq!(read_back[0]["records"], 600);
    assert_eq!(read_back[0]["duplicates"], 0);
    assert_eq!(read_back[0]["missing"], 0);
    let values: BTreeSet<&str> = acked.iter().map(|(_, _, v)| v.as_str()).collect();
    let expected: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    assert_eq!(
        values,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    let consume = [
        "verifiable-consumer",
        "verified",
        "--group",
        "checkers",
        "--idle-timeout-ms",
        "2000",
    ];
    let consumed = broker.run(&consume).ok();
    let records = events(&consumed, "record");
    // Per partition: offsets 0, 1, 2, ... in order, each once.
    let mut by_partition: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (partition, offset, _) in &records {
        by_partition.entry(*partition).or_default().push(*offset);
    }
    for (partition, offsets) in &by_partition {
        let in_order: Vec<u64> = (0..offsets.len() as u64).collect();
        assert_eq!(offsets, &in_order, "partition {partition}");
    }
    let mut acked_sorted = acked.clone();
    acked_sorted.sort();
    let mut records_sorted = records.clone();
    records_sorted.sort();
    assert_eq!(
        records_sorted, acked_sorted,
        "each acked record read once, where it was acked"
    );
    assert!(
        consumed
            .lines()
            .any(|line| json(line)["event"] == "offsets_committed"),
        "{consumed}"
    );
    // The group committed everything: a second run reads nothing.
    let again = broker.run(&consume).ok();
    assert!(events(&again, "record").is_empty(), "{again}");
}

#[test]
fn a_count_of_one_partition_is_singular() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "one"]).ok();
    let described = broker.run(&["topic", "describe", "one"]).ok();
    let first = described.lines().next().unwrap();
    let (head, id) = first.split_once(", id ").unwrap();
    assert_eq!(head, "topic one: 1 partition", "{described}");
    assert_eq!(id.len(), 22, "a topic id as Kafka prints it: {described}");
    let out = broker.run_with_input(&["produce", "one", "--partition", "3"], "x\n");
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    assert_eq!(
        out.stderr.trim_end(),
        "error: one-3: the topic has 1 partition"
    );
    broker
        .run(&["topic", "create", "two", "--partitions", "2"])
        .ok();
    let described = broker.run(&["topic", "describe", "two"]).ok();
    assert!(
        described.starts_with("topic two: 2 partitions, id "),
        "{described}"
    );
}

/// The topic is an argument of every command, as `produce TOPIC` and `consume TOPIC`; the
/// `--topic TOPIC` the perf and verifiable commands took before still works, unlisted.
#[test]
fn the_topic_is_an_argument_and_the_former_topic_option_still_works() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "args"]).ok();
    let produced = broker
        .run(&["verifiable-producer", "args", "--records", "3"])
        .ok();
    assert_eq!(events(&produced, "ack").len(), 3, "{produced}");
    let produced = broker
        .run(&["verifiable-producer", "--topic", "args", "--records", "2"])
        .ok();
    assert_eq!(events(&produced, "ack").len(), 2, "{produced}");
    let perf_produce = [
        "perf",
        "produce",
        "args",
        "--records",
        "5",
        "--record-size",
        "10",
        "--json",
    ];
    let produced = one_object(&broker.run(&perf_produce).ok());
    assert_eq!(produced["records"], 5, "{produced}");
    let perf_produce = [
        "perf",
        "produce",
        "--topic",
        "args",
        "--records",
        "5",
        "--record-size",
        "10",
    ];
    broker.run(&perf_produce).ok();
    let consume = ["verifiable-consumer", "args", "--idle-timeout-ms", "1000"];
    let consumed = broker.run(&consume).ok();
    assert_eq!(events(&consumed, "record").len(), 15, "{consumed}");
    let consume = [
        "verifiable-consumer",
        "--topic",
        "args",
        "--idle-timeout-ms",
        "1000",
    ];
    let consumed = broker.run(&consume).ok();
    assert_eq!(events(&consumed, "record").len(), 15, "{consumed}");
    let consumed = one_object(
        &broker
            .run(&["perf", "consume", "args", "--records", "15", "--json"])
            .ok(),
    );
    assert_eq!(consumed["records"], 15, "{consumed}");
    broker
        .run(&["perf", "consume", "--topic", "args", "--records", "15"])
        .ok();
    // Both spellings at once, or neither, is a usage error.
    let both = broker.run(&["verifiable-consumer", "args", "--topic", "args"]);
    assert_eq!(both.code, Some(2), "{}", both.stderr);
    let neither = broker.run(&["perf", "consume", "--records", "1"]);
    assert_eq!(neither.code, Some(2), "{}", neither.stderr);
    assert!(neither.stderr.contains("<TOPIC>"), "{}", neither.stderr);
    // The help shows the argument, not the former option.
    for command in [
        &["verifiable-producer", "--help"][..],
        &["verifiable-consumer", "--help"],
        &["perf", "produce", "--help"],
        &["perf", "consume", "--help"],
    ] {
        let help = broker.run(command).ok();
        assert!(help.contains("<TOPIC>"), "{command:?}: {help}");
        assert!(!help.contains("--topic"), "{command:?}: {help}");
    }
}

#[test]
fn failures_exit_nonzero_naming_the_kafka_error() {
    let broker = BrokerProcess::start();
    broker.run(&["topic", "create", "once"]).ok();
    broker
        .run(&["topic", "create", "once"])
        .fails_naming("TOPIC_ALREADY_EXISTS (36)");
    broker
        .run_with_input(&["produce", "missing"], "x\n")
        .fails_naming("UNKNOWN_TOPIC_OR_PARTITION (3)");
    broker
        .run(&["consume", "missing", "--timeout-ms", "1000"])
        .fails_naming("UNKNOWN_TOPIC_OR_PARTITION (3)");
    broker
        .run(&["topic", "delete", "missing"])
        .fails_naming("UNKNOWN_TOPIC_OR_PARTITION (3)");

    // One replica cannot satisfy min_insync_replicas = 2: acks=all is refused until the
    // delivery timeout.
    broker
        .run(&[
            "topic",
            "create",
            "strict",
            "--config",
            "min_insync_replicas=2",
        ])
        .ok();
    broker
        .run_with_input(
            &["produce", "strict", "--delivery-timeout-ms", "1000"],
            "a\nb\n",
        )
        .fails_naming("NOT_ENOUGH_REPLICAS (19)");
    let produced = broker
        .run(&[
            "verifiable-producer",
            "strict",
            "--records",
            "2",
            "--delivery-timeout-ms",
            "1000",
        ])
        .ok();
    let errors: Vec<Value> = produced
        .lines()
        .map(json)
        .filter(|line| line["event"] != "read_back")
        .collect();
    assert_eq!(errors.len(), 2, "{produced}");
    for (i, error) in errors.iter().enumerate() {
        assert_eq!(error["event"], "error", "{produced}");
        assert_eq!(error["value"], i.to_string(), "{produced}");
        assert_eq!(error["error"], "NOT_ENOUGH_REPLICAS", "{produced}");
    }
    // acks=1 does not wait for the ISR.
    broker
        .run_with_input(&["produce", "strict", "--acks", "1"], "c\n")
        .ok();
}

/// PEM files of a CA of the test's own, a broker certificate for 127.0.0.1 it signed (the
/// broker's keystore: key then certificate) and a client certificate and key.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn new() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "cli test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        let issue = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let certificate = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca, &ca_key)
                .unwrap();
            (certificate.pem(), key.serialize_pem())
        };
        let (broker, broker_key) = issue(vec!["127.0.0.1".into(), "localhost".into()]);
        let (client, client_key) = issue(vec!["client".into()]);
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());
        write("broker.pem", format!("{broker_key}{broker}"));
        write("client.pem", client);
        write("client.key", client_key);
        Certificates { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

#[test]
fn the_client_commands_speak_tls_to_a_thin_ssl_listener() {
    let certificates = Certificates::new();
    let toml = format!(
        "ssl_keystore_location = \"{}\"\nssl_truststore_location = \"{}\"\n\
         ssl_client_auth = \"required\"\n",
        certificates.path("broker.pem"),
        certificates.path("ca.pem")
    );
    let broker = BrokerProcess::start_on(
        &toml,
        "SSL://127.0.0.1:0,THIN_SSL://127.0.0.1:0",
        "THIN_SSL",
    );
    let bootstrap = broker.addr.to_string();
    let tls = [
        ("RINGLOG_BOOTSTRAP", bootstrap.as_str()),
        ("RINGLOG_TLS_CA", &certificates.path("ca.pem")),
        ("RINGLOG_TLS_CERT", &certificates.path("client.pem")),
        ("RINGLOG_TLS_KEY", &certificates.path("client.key")),
    ];
    support::cli(
        &["topic", "create", "secure", "--partitions", "1"],
        "",
        &tls,
    )
    .ok();
    support::cli(&["produce", "secure"], "one\ntwo\nthree\n", &tls).ok();
    let out = support::cli(
        &[
            "consume",
            "secure",
            "--from-beginning",
            "--max-records",
            "3",
        ],
        "",
        &tls,
    )
    .ok();
    assert_eq!(out.lines().collect::<Vec<_>>(), ["one", "two", "three"]);
    // The description's offsets come from the leader over TLS too.
    let described = support::cli(&["topic", "describe", "secure", "--json"], "", &tls).ok();
    let described: serde_json::Value = serde_json::from_str(described.trim()).unwrap();
    assert_eq!(
        described["partitions"][0]["high_watermark"], 3,
        "{described}"
    );

    // Plaintext to the TLS listener: an error that says what to do.
    let plain = support::cli(&["topic", "list"], "", &tls[..1]);
    assert_ne!(plain.code, Some(0));
    assert!(
        plain.stderr.contains("speaks TLS") && plain.stderr.contains("--tls-ca"),
        "{}",
        plain.stderr
    );
    // TLS without the client certificate the listener requires: refused.
    let anonymous = support::cli(&["topic", "list"], "", &tls[..2]);
    assert_ne!(anonymous.code, Some(0));
    assert!(
        anonymous.stderr.contains("CertificateRequired"),
        "{}",
        anonymous.stderr
    );
}

#[test]
fn the_client_commands_log_in_to_a_thin_sasl_listener() {
    let toml = "sasl_bootstrap_users = [\"SCRAM-SHA-512=[name=admin,password=admin-secret]\"]\n\
                inter_broker_sasl_username = \"admin\"\n\
                inter_broker_sasl_password = \"admin-secret\"\n\
                connection_failed_authentication_delay_ms = 0\n";
    let broker = BrokerProcess::start_on(
        toml,
        "PLAINTEXT://127.0.0.1:0,THIN_SASL_PLAINTEXT://127.0.0.1:0",
        "THIN_SASL_PLAINTEXT",
    );
    let bootstrap = broker.addr.to_string();
    let admin = [
        ("RINGLOG_BOOTSTRAP", bootstrap.as_str()),
        ("RINGLOG_SASL_USERNAME", "admin"),
        ("RINGLOG_SASL_PASSWORD", "admin-secret"),
    ];
    // The broker writes its bootstrap user once it registered: until then logins fail.
    let started = std::time::Instant::now();
    let create = ["topic", "create", "logged-in", "--partitions", "1"];
    loop {
        let out = support::cli(&create, "", &admin);
        if out.code == Some(0) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{}", out.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    // The flags, beside the environment's bootstrap.
    let flags = [
        "--sasl-mechanism",
        "scram-sha-512",
        "--sasl-username",
        "admin",
        "--sasl-password",
        "admin-secret",
    ];
    let with_flags =
        |command: &[&'static str]| -> Vec<&'static str> { [command, &flags[..]].concat() };
    support::cli(
        &with_flags(&["produce", "logged-in"]),
        "one\ntwo\n",
        &admin[..1],
    )
    .ok();
    let out = support::cli(
        &with_flags(&[
            "consume",
            "logged-in",
            "--from-beginning",
            "--max-records",
            "2",
        ]),
        "",
        &admin[..1],
    )
    .ok();
    assert_eq!(out.lines().collect::<Vec<_>>(), ["one", "two"]);

    // A wrong password: a clear error, exit 1, and the password never printed.
    let wrong = [
        ("RINGLOG_BOOTSTRAP", bootstrap.as_str()),
        ("RINGLOG_SASL_USERNAME", "admin"),
        ("RINGLOG_SASL_PASSWORD", "not-the-secret"),
    ];
    let refused = support::cli(&["produce", "logged-in"], "three\n", &wrong);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "as \"admin\" failed: authentication failed: invalid credentials with SASL \
             mechanism SCRAM-SHA-512"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("not-the-secret"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stdout.contains("not-the-secret"),
        "{}",
        refused.stdout
    );
    // No login at all: told the listener asks for one.
    let anonymous = support::cli(&["topic", "list"], "", &admin[..1]);
    assert_eq!(anonymous.code, Some(1));
    assert!(
        anonymous.stderr.contains("--sasl-mechanism"),
        "{}",
        anonymous.stderr
    );
    // The help shows the variables, never their values.
    let help = support::cli(&["produce", "--help"], "", &admin);
    let help = help.ok();
    assert!(help.contains("RINGLOG_SASL_PASSWORD"), "{help}");
    assert!(!help.contains("admin-secret"), "{help}");
    // Nothing of the refused produce was appended.
    let out = support::cli(
        &[
            "consume",
            "logged-in",
            "--from-beginning",
            "--timeout-ms",
            "2000",
        ],
        "",
        &admin,
    );
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["one", "two"],
        "{}",
        out.stderr
    );
}
