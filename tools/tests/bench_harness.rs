//! `ringlog bench --quick`, run for real: every scenario measured against brokers it starts,
//! every output written, and nothing left behind (no broker or client process, no data
//! directory), also when Ctrl-C stops it halfway. A test binary of its own, so it never runs
//! beside the cluster tests of the other binaries; its two tests take turns.
//!
//! The test process makes itself a child subreaper, so a process the harness left running
//! would be handed to it when the harness exits, and is found as its child.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use ringlog_bench::harness::plan::{SCENARIOS, Scenario, Sizes, Workload, idempotent_twin};
use serde_json::Value;

/// Longest a quick run may take here (a test build, on a busy 2-core machine).
const QUICK_DEADLINE: Duration = Duration::from_secs(900);
/// Longest a stop after SIGINT may take (brokers stop cleanly within their grace period).
const STOP_DEADLINE: Duration = Duration::from_secs(120);
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The tests take turns: each starts up to three brokers.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bench(out: &Path, work: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .args(["bench", "--quick", "--out"])
        .arg(out)
        .arg("--work-dir")
        .arg(work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Reads `child`'s stderr lines into a channel (and echoes them, for a failing test's log).
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("bench: {line}");
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so the child never blocks.
                continue;
            }
        }
    });
    rx
}

/// Waits for `child` to exit within `deadline`; kills it and panics if it does not.
fn wait_within(child: Child, deadline: Duration) -> ExitStatus {
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(deadline) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not reaped (its waiter has not returned).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("ringlog bench did not finish within {deadline:?}");
        }
    }
}

/// Orphans are re-parented to this process rather than to init.
fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    let result = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(result, 0, "PR_SET_CHILD_SUBREAPER");
}

/// This process's children (by `/proc/PID/stat`), each as `pid: command line`.
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after_comm.split_whitespace().nth(1) == Some(me.as_str()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

fn assert_nothing_left(work: &Path) {
    let left: Vec<_> = std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the work directory: {left:?}");
    let running = children();
    assert!(running.is_empty(), "still running: {running:?}");
}

#[test]
fn a_quick_run_measures_every_scenario_and_writes_every_output() {
    let _turn = turn();
    become_subreaper();
    let out = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut child = bench(out.path(), work.path()).spawn().unwrap();
    let lines = stderr_lines(&mut child);
    let status = wait_within(child, QUICK_DEADLINE);
    let stderr: Vec<String> = lines.try_iter().collect();
    assert!(
        status.success(),
        "ringlog bench failed: {}",
        stderr.join("\n")
    );
    // A progress line per scenario.
    for scenario in SCENARIOS {
        assert!(
            stderr.iter().any(|l| l.contains(scenario.title)),
            "no progress line for {}: {stderr:?}",
            scenario.title
        );
    }

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    let machine = &results["machine"];
    assert!(machine["cores"].as_u64().unwrap() >= 1, "{machine}");
    for key in ["kernel", "io_backend", "git_commit", "date", "filesystem"] {
        assert!(
            machine[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {machine}"
        );
    }
    let baselines = results["baselines"].as_array().unwrap();
    assert_eq!(baselines.len(), 6, "{results}");
    let scenarios = results["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), SCENARIOS.len(), "{results}");
    for (scenario, plan) in scenarios.iter().zip(SCENARIOS) {
        assert_eq!(scenario["name"], plan.name, "{scenario}");
        assert_eq!(
            scenario["idempotence"].as_bool(),
            plan.workload.idempotence(),
            "{scenario}"
        );
        if plan.workload.is_group() {
            assert_group_row(scenario, plan);
            continue;
        }
        assert!(scenario["records"].as_u64().unwrap() > 0, "{scenario}");
        assert!(
            scenario["records_per_sec"].as_f64().unwrap() > 0.0,
            "{scenario}"
        );
        assert!(scenario["mb_per_sec"].as_f64().unwrap() > 0.0, "{scenario}");
        let ratios = scenario["ratios"].as_array().unwrap();
        assert!(!ratios.is_empty(), "no ratio: {scenario}");
        for ratio in ratios {
            assert!(ratio["value"].as_f64().unwrap() > 0.0, "{scenario}");
        }
    }
    // Each idempotence-off row beside its idempotent twin; one run each, so no verdict.
    let pairs: Vec<(&str, &str)> = SCENARIOS
        .iter()
        .filter_map(|s| Some((idempotent_twin(s)?.name, s.name)))
        .collect();
    let costs = results["idempotence_costs"].as_array().unwrap();
    assert_eq!(costs.len(), pairs.len(), "{results}");
    for (cost, (on, off)) in costs.iter().zip(&pairs) {
        assert_eq!(
            (cost["on"].as_str(), cost["off"].as_str()),
            (Some(*on), Some(*off))
        );
        assert!(
            cost["records_per_sec_ratio"].as_f64().unwrap() > 0.0,
            "{cost}"
        );
        assert_eq!(cost["verdict"], "inconclusive", "{cost}");
    }
    let end_to_end = scenarios
        .iter()
        .find(|s| s["name"] == "end_to_end_latency")
        .unwrap();
    let latency = &end_to_end["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0, "{end_to_end}");
    assert!(
        latency["p50"].as_f64() <= latency["p99"].as_f64(),
        "{end_to_end}"
    );
    assert!(
        !latency["percentiles"].as_array().unwrap().is_empty(),
        "{end_to_end}"
    );

    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.contains("| scenario | ringlog records/s |"),
        "{report}"
    );
    assert!(
        report.contains("| ratio (baseline / ringlog) |"),
        "{report}"
    );
    assert!(report.contains("## Idempotence on and off"), "{report}");
    assert!(
        report.contains(
            "| row | members | session timeout ms | group_initial_rebalance_delay_ms | median s | max s | every run |"
        ),
        "{report}"
    );
    for plan in SCENARIOS {
        assert!(
            report.contains(plan.title),
            "{} missing:\n{report}",
            plan.title
        );
    }
    for plot in ["throughput.png", "ratios.png", "latency.png"] {
        let bytes = std::fs::read(out.path().join(plot)).unwrap();
        assert!(bytes.starts_with(PNG_MAGIC), "{plot} is not a PNG");
    }
    assert_nothing_left(work.path());
}

/// A consumer-group row: each run timed (positive and finite), the median and the maximum
/// among them, beside the settings it ran with, and its members covering what they should:
/// every partition of the topic (join), or each partition the killed member held (takeover:
/// the harness reports a run only once the members left have read every one of them).
fn assert_group_row(scenario: &Value, plan: &Scenario) {
    let group = &scenario["group"];
    let seconds = |value: &Value| {
        value
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or_else(|| panic!("{value} is not a time: {scenario}"))
    };
    let (median, max) = (
        seconds(&group["median_seconds"]),
        seconds(&group["max_seconds"]),
    );
    assert!(median <= max, "{scenario}");
    assert_eq!(
        group["session_timeout_ms"].as_u64(),
        Some(Sizes::QUICK.group_session_timeout_ms),
        "{scenario}"
    );
    assert!(
        group["heartbeat_interval_ms"].as_u64().unwrap() < Sizes::QUICK.group_session_timeout_ms,
        "{scenario}"
    );
    assert_eq!(
        group["initial_rebalance_delay_ms"].as_u64(),
        Some(Sizes::QUICK.group_initial_rebalance_delay_ms),
        "{scenario}"
    );
    let runs = group["runs"].as_array().unwrap();
    assert_eq!(runs.len(), Sizes::QUICK.group_runs as usize, "{scenario}");
    let partitions = scenario["partitions"].as_u64().unwrap();
    for run in runs {
        assert!(seconds(&run["seconds"]) <= max, "{scenario}");
        let covered: Vec<u64> = run["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        match plan.workload {
            Workload::GroupJoin { .. } => {
                assert_eq!(covered, (0..partitions).collect::<Vec<_>>(), "{scenario}");
                assert!(seconds(&run["started_seconds"]) <= seconds(&run["seconds"]));
            }
            _ => assert!(
                !covered.is_empty() && covered.iter().all(|&p| p < partitions),
                "{scenario}"
            ),
        }
    }
}

#[test]
fn ctrl_c_stops_the_brokers_and_removes_their_data() {
    let _turn = turn();
    become_subreaper();
    let out = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut child = bench(out.path(), work.path()).spawn().unwrap();
    let lines = stderr_lines(&mut child);
    // Once a broker serves, a scenario is about to run: interrupt it there.
    loop {
        match lines.recv_timeout(QUICK_DEADLINE) {
            Ok(line) if line.contains("serving on") => break,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no broker served"),
            Err(RecvTimeoutError::Disconnected) => panic!("ringlog bench ended early"),
        }
    }
    // SAFETY: kill(2) on our own child, which is still running (it prints).
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_within(child, STOP_DEADLINE);
    assert!(!status.success(), "an interrupted run fails");
    let stderr: Vec<String> = lines.try_iter().collect();
    assert!(
        stderr.iter().any(|l| l.contains("interrupted")),
        "{stderr:?}"
    );
    assert_nothing_left(work.path());
}
