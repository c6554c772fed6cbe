//! The `ringlog` binary, run for real: `perf log` and `dump-log` over logs the engine wrote.
//! Every run has a deadline, so a hang fails the test instead of stalling the suite.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringlog_engine::format::{BatchBuilder, Record};
use ringlog_engine::{IoBackendKind, LeaderEpoch, Log, LogConfig};
use serde_json::Value;

/// Longest any one run of the binary may take (debug builds on a busy 2-core machine).
const RUN_DEADLINE: Duration = Duration::from_secs(120);

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `ringlog args...`, killing it if it outlives [`RUN_DEADLINE`].
fn ringlog(args: &[&str]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("start ringlog");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("ringlog {args:?} ran longer than {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code(),
        stdout: std::fs::read_to_string(out_path).unwrap(),
        stderr: std::fs::read_to_string(err_path).unwrap(),
    }
}

fn parse_one_object(out: &Output) -> Value {
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {}", out.stdout);
    let v: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert!(v.is_object(), "{v}");
    v
}

fn assert_perf_report(v: &Value) {
    assert_eq!(v["records"], 2000, "{v}");
    assert!(v["bytes"].as_u64().unwrap() > 2000 * 100, "{v}");
    assert!(v["seconds"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["records_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["mb_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    let latency = &v["latency_us"];
    let p50 = latency["p50"].as_u64().unwrap();
    let p99 = latency["p99"].as_u64().unwrap();
    let p999 = latency["p999"].as_u64().unwrap();
    let max = latency["max"].as_u64().unwrap();
    assert!(p50 <= p99, "{v}");
    assert!(p99 <= p999, "{v}");
    assert!(p999 <= max, "{v}");
    assert!(!v["io_backend"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["appends"], 20, "{v}");
}

#[test]
fn perf_log_json_reports_every_key() {
    let out = ringlog(&[
        "perf",
        "log",
        "--records",
        "2000",
        "--record-size",
        "100",
        "--batch-records",
        "100",
        "--json",
    ]);
    let v = parse_one_object(&out);
    assert_perf_report(&v);
    assert_eq!(v["flush"], "never", "{v}");
    assert_eq!(v["appenders"], 1, "{v}");
}

#[test]
fn perf_log_flush_always_with_four_appenders() {
    let out = ringlog(&[
        "perf",
        "log",
        "--records",
        "2000",
        "--record-size",
        "100",
        "--batch-records",
        "100",
        "--flush",
        "always",
        "--appenders",
        "4",
        "--io-backend",
        "portable",
        "--json",
    ]);
    let v = parse_one_object(&out);
    assert_perf_report(&v);
    assert_eq!(v["flush"], "always", "{v}");
    assert_eq!(v["appenders"], 4, "{v}");
    assert_eq!(v["io_backend"], "portable", "{v}");
}

#[test]
fn perf_log_appends_into_a_given_dir_and_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("p-0");
    let out = ringlog(&[
        "perf",
        "log",
        "--dir",
        log_dir.to_str().unwrap(),
        "--records",
        "1050",
        "--record-size",
        "10",
        "--batch-records",
        "100",
        "--io-backend",
        "portable",
    ]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("records/s"), "{}", out.stdout);
    assert!(log_dir.join(".clean-shutdown").exists(), "log was closed");
    let log = Log::open(&log_dir, portable_config(1 << 30)).unwrap();
    assert_eq!(log.log_end_offset().0, 1050);
    assert!(log.recovery_report().clean_shutdown);
    log.close().unwrap();
}

#[test]
fn perf_log_refuses_bad_arguments() {
    let zero = ringlog(&[
        "perf",
        "log",
        "--records",
        "0",
        "--record-size",
        "100",
        "--batch-records",
        "100",
    ]);
    assert_ne!(zero.code, Some(0));
    assert!(zero.stderr.contains("--records"), "{}", zero.stderr);
    let huge = ringlog(&[
        "perf",
        "log",
        "--records",
        "10",
        "--record-size",
        "2000000",
        "--batch-records",
        "1",
    ]);
    assert_eq!(huge.code, Some(1), "{}", huge.stderr);
    assert!(huge.stderr.contains("max_batch_bytes"), "{}", huge.stderr);
}

fn portable_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        io_backend: IoBackendKind::Portable,
        ..LogConfig::default()
    }
}

/// Appends `batches` batches of 10 records (100-byte values) into a log in `dir` with small
/// segments, so it has several, and closes it. Returns the segment files.
fn write_log(dir: &Path, batches: usize) -> Vec<PathBuf> {
    let log = Log::open(dir, portable_config(16 << 10)).unwrap();
    let value = [7u8; 100];
    for i in 0..batches {
        let mut builder = BatchBuilder::new();
        for _ in 0..10 {
            builder.push(&Record {
                key: Some(b"key"),
                value: Some(&value),
                headers: &[],
                timestamp: 1_700_000_000_000 + i as i64,
            });
        }
        let mut batch = builder.finish();
        log.append(&mut batch, LeaderEpoch(3)).unwrap();
    }
    let segments: Vec<PathBuf> = log.segments().into_iter().map(|s| s.path).collect();
    log.close().unwrap();
    assert!(segments.len() >= 2, "the test wants several segments");
    segments
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["kind"] == kind).collect()
}

#[test]
fn dump_log_lists_every_batch_of_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let segments = write_log(dir.path(), 60);
    let path = dir.path().to_str().unwrap();

    let text = ringlog(&["dump-log", path]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    let batch_lines = text
        .stdout
        .lines()
        .filter(|l| l.starts_with("base_offset "))
        .count();
    assert_eq!(batch_lines, 60, "{}", text.stdout);
    assert_eq!(text.stdout.matches("crc ok").count(), 60);
    assert_eq!(
        text.stdout
            .lines()
            .filter(|l| l.starts_with("summary "))
            .count(),
        segments.len()
    );
    assert!(!text.stdout.contains("problem:"), "{}", text.stdout);

    let verify = ringlog(&["dump-log", "--verify", path]);
    assert_eq!(verify.code, Some(0), "{}", verify.stderr);
}

#[test]
fn dump_log_json_lines_parse_and_cover_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let segments = write_log(dir.path(), 60);
    let out = ringlog(&["dump-log", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines = json_lines(&out.stdout);
    let batches = of_kind(&lines, "batch");
    assert_eq!(batches.len(), 60);
    let mut next = 0;
    for b in &batches {
        assert_eq!(b["base_offset"], next, "{b}");
        assert_eq!(b["last_offset"], next + 9, "{b}");
        assert_eq!(b["count"], 10, "{b}");
        assert_eq!(b["leader_epoch"], 3, "{b}");
        assert_eq!(b["producer_id"], -1, "not idempotent: {b}");
        assert_eq!(b["crc_ok"], true, "{b}");
        next += 10;
    }
    let summaries = of_kind(&lines, "summary");
    assert_eq!(summaries.len(), segments.len());
    let records: u64 = summaries
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(records, 600);
    for (summary, segment) in summaries.iter().zip(&segments) {
        assert_eq!(summary["file"], segment.to_str().unwrap());
        assert_eq!(summary["problems"], 0);
        assert_eq!(summary["bytes"], summary["file_bytes"]);
    }
    assert!(of_kind(&lines, "problem").is_empty());
}

#[test]
fn dump_log_verify_names_file_and_position_of_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let segments = write_log(dir.path(), 60);
    let victim = &segments[1];
    let listed = ringlog(&["dump-log", "--json", victim.to_str().unwrap()]);
    let lines = json_lines(&listed.stdout);
    let third = of_kind(&lines, "batch")[2];
    let position = third["position"].as_u64().unwrap();
    // Inside the records (past the 61-byte header), so only the CRC can tell.
    flip_byte(victim, position + 61 + 20);

    let verify = ringlog(&["dump-log", "--verify", dir.path().to_str().unwrap()]);
    assert_eq!(verify.code, Some(1), "{}", verify.stderr);
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(verify.stderr.contains(name), "{}", verify.stderr);
    assert!(
        verify.stderr.contains(&format!("position {position}")),
        "{}",
        verify.stderr
    );
    assert!(verify.stderr.contains("crc mismatch"), "{}", verify.stderr);

    // Without --verify the problem is reported, the damaged file's walk stops there, and the
    // other segments are still listed.
    let report = ringlog(&["dump-log", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(report.code, Some(0), "{}", report.stderr);
    let lines = json_lines(&report.stdout);
    let problems = of_kind(&lines, "problem");
    assert_eq!(problems.len(), 1, "{}", report.stdout);
    assert_eq!(problems[0]["file"], victim.to_str().unwrap());
    assert_eq!(problems[0]["position"], position);
    let bad: Vec<_> = of_kind(&lines, "batch")
        .into_iter()
        .filter(|b| b["crc_ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(of_kind(&lines, "summary").len(), segments.len());
}

#[test]
fn dump_log_reports_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let segments = write_log(dir.path(), 20);
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let out = ringlog(&["dump-log", "--verify", last.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("truncated batch"), "{}", out.stderr);
    assert!(out.stdout.contains("problem: "), "{}", out.stdout);
}

fn flip_byte(path: &Path, position: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, position).unwrap();
    byte[0] ^= 0xff;
    file.write_all_at(&byte, position).unwrap();
}
