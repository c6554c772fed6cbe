//! Fault tests on real clusters of `ringlog broker` processes on 127.0.0.1: leaders killed
//! with SIGKILL while acks=all records flow, replicas stopped below `min_insync_replicas`, the
//! seeds' unclean-election scenario, a leader cut off its followers, a paused follower, the
//! controller leader killed, a consumer group's coordinator killed under a `ringlog consume
//! --group` member. Each test bounds every wait and kills what it started.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, DEADLINE, SIGCONT, SIGSTOP};

/// Quick failure detection, so each test runs in seconds.
const FAST: &str = "broker_session_timeout_ms = 3000\nbroker_heartbeat_interval_ms = 500\n\
                    replica_lag_time_max_ms = 2000\nreplica_fetch_backoff_ms = 100\n";

fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn leader(partition: &Value) -> Option<u32> {
    partition["leader"].as_u64().map(|id| id as u32)
}

fn isr(partition: &Value) -> Vec<u32> {
    partition["isr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn replicas(partition: &Value) -> Vec<u32> {
    partition["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn create_topic(cluster: &Cluster, name: &str, partitions: u32, rf: u32, configs: &[&str]) {
    let partitions = partitions.to_string();
    let rf = rf.to_string();
    let mut args = vec![
        "topic",
        "create",
        name,
        "--partitions",
        &partitions,
        "--replication-factor",
        &rf,
    ];
    for config in configs {
        args.extend(["--config", config]);
    }
    ok(cluster.ringlog(&args));
}

/// `ringlog produce t --acks ACKS` of `lines`, through the running brokers. A retriable
/// refusal (NOT_ENOUGH_REPLICAS) is given up on after 5 s.
fn produce(cluster: &Cluster, acks: &str, lines: &str) -> std::process::Output {
    let bootstrap = cluster.bootstrap_running();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["produce", "t", "--acks", acks, "--bootstrap", &bootstrap])
        .args(["--delivery-timeout-ms", "5000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The values of every record of `topic`, per partition in offset order.
fn consume_all(cluster: &Cluster, topic: &str) -> Vec<(u64, u64, String)> {
    let stdout = ok(cluster.ringlog(&["verifiable-consumer", topic, "--idle-timeout-ms", "3000"]));
    stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["event"] == "record")
        .map(|event| {
            (
                event["partition"].as_u64().unwrap(),
                event["offset"].as_u64().unwrap(),
                event["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn acknowledged_records_survive_repeated_leader_kills() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", 1, 3, &["min_insync_replicas=2"]);
    let mut producer = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args([
            "verifiable-producer",
            "t",
            "--records",
            "3000",
            "--acks",
            "all",
            "--throughput",
            "300",
        ])
        .env("RINGLOG_BOOTSTRAP", cluster.bootstrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = producer.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(&line.unwrap()).unwrap())
            .collect::<Vec<Value>>()
    });
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        let partition = cluster.wait_for("t", 0, "a leader", |p| leader(p).is_some());
        let victim = leader(&partition).unwrap();
        eprintln!("round {round}: kill -9 broker {victim}");
        cluster.kill(victim);
        cluster.wait_for("t", 0, "a new leader", |p| {
            leader(p).is_some_and(|l| l != victim)
        });
        cluster.restart(victim);
        cluster.wait_for("t", 0, "the ISR back to 3", |p| isr(p).len() == 3);
    }
    let started = Instant::now();
    while producer.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < DEADLINE, "the producer did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = reader.join().unwrap();
    let acked: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["event"] == "ack")
        .map(|e| {
            (
                e["offset"].as_u64().unwrap(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        acked.len() > 1000,
        "most records were acknowledged: {}",
        acked.len()
    );
    // Idempotent (the default with acks=all): whatever the kills left unanswered and was sent
    // again was stored once, as the producer's own read-back saw.
    let read_back: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "read_back")
        .collect();
    assert_eq!(read_back.len(), 1, "{events:?}");
    assert_eq!(read_back[0]["duplicates"], 0, "{:?}", read_back[0]);
    assert_eq!(read_back[0]["missing"], 0, "{:?}", read_back[0]);
    let consumed = consume_all(&cluster, "t");
    let values: BTreeSet<&String> = consumed.iter().map(|(_, _, v)| v).collect();
    assert_eq!(values.len(), consumed.len(), "no value is stored twice");
    let offsets: Vec<u64> = consumed.iter().map(|(_, o, _)| *o).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets ascend");
    for (offset, value) in &acked {
        let found = consumed.iter().find(|(_, o, _)| o == offset);
        assert_eq!(
            found.map(|(_, _, v)| v),
            Some(value),
            "acknowledged record {value} at offset {offset} is there"
        );
    }
}

#[test]
fn acks_all_needs_min_insync_replicas_and_reads_go_on() {
    // Five voters: stopping two brokers leaves the controller quorum a majority.
    let mut cluster = Cluster::start(5, FAST);
    create_topic(&cluster, "t", 1, 3, &["min_insync_replicas=2"]);
    let partition = cluster.wait_for("t", 0, "a leader", |p| leader(p).is_some());
    let first = leader(&partition).unwrap();
    let followers: Vec<u32> = replicas(&partition)
        .into_iter()
        .filter(|&r| r != first)
        .collect();
    ok(produce(&cluster, "all", "before\n"));
    for &follower in &followers {
        cluster.stop(follower);
    }
    cluster.wait_for("t", 0, "the ISR down to the leader", |p| {
        isr(p) == vec![first]
    });
    let refused = produce(&cluster, "all", "refused\n");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("NOT_ENOUGH_REPLICAS"), "{stderr}");
    // acks=1 is still taken; the high watermark waits for min_insync_replicas, so readers
    // see only what was committed before.
    ok(produce(&cluster, "1", "acks-one\n"));
    let consume = |cluster: &Cluster, records: &str| {
        ok(cluster.ringlog(&[
            "consume",
            "t",
            "--from-beginning",
            "--max-records",
            records,
            "--timeout-ms",
            "10000",
        ]))
    };
    assert_eq!(consume(&cluster, "1"), "before\n");
    cluster.restart(followers[0]);
    cluster.wait_for("t", 0, "the ISR back to 2", |p| isr(p).len() >= 2);
    ok(produce(&cluster, "all", "after\n"));
    assert_eq!(consume(&cluster, "3"), "before\nacks-one\nafter\n");
}

#[test]
fn a_paused_follower_leaves_the_isr_and_rejoins() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", 1, 3, &[]);
    let partition = cluster.wait_for("t", 0, "a full ISR", |p| isr(p).len() == 3);
    let first = leader(&partition).unwrap();
    let follower = replicas(&partition)
        .into_iter()
        .find(|&r| r != first)
        .unwrap();
    cluster.signal(follower, SIGSTOP);
    cluster.wait_for("t", 0, "the paused follower out of the ISR", |p| {
        !isr(p).contains(&follower)
    });
    cluster.signal(follower, SIGCONT);
    cluster.wait_for("t", 0, "the follower back in the ISR", |p| {
        isr(p).contains(&follower)
    });
}

#[test]
fn a_leader_cut_off_its_followers_shrinks_the_isr_until_healed() {
    let cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", 1, 3, &[]);
    let partition = cluster.wait_for("t", 0, "a full ISR", |p| isr(p).len() == 3);
    let first = leader(&partition).unwrap();
    // Nothing reaches the leader's listener: its followers cannot fetch. Its controller link
    // stays, so it keeps the leadership and shrinks the ISR.
    cluster.proxy(first).cut();
    cluster.wait_for("t", 0, "the ISR down to the leader", |p| {
        isr(p) == vec![first]
    });
    cluster.proxy(first).heal();
    cluster.wait_for("t", 0, "the ISR restored", |p| isr(p).len() == 3);
}

#[test]
fn metadata_changes_go_on_after_the_controller_leader_dies() {
    let mut cluster = Cluster::start(3, FAST);
    let controller_leader = (1..=3)
        .map(|id| cluster.metric(id, "ringlog_controller_leader"))
        .find(|&leader| leader > 0.0)
        .expect("a controller leader") as u32;
    cluster.kill(controller_leader);
    create_topic(&cluster, "after", 1, 2, &[]);
    cluster.wait_for("after", 0, "a live leader", |p| {
        leader(p).is_some_and(|l| l != controller_leader)
    });
}

/// The seeds' scenario: a follower falls out of the ISR, the leader takes acks=1 records
/// alone, then dies. With unclean election off the partition waits offline for the old
/// leader and loses nothing; turned on, the out-of-sync follower leads, the records only the
/// old leader had are gone, and the cut is counted when the old leader comes back.
fn unclean_election_scenario(unclean: bool) {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", 1, 2, &["min_insync_replicas=1"]);
    let partition = cluster.wait_for("t", 0, "a full ISR", |p| isr(p).len() == 2);
    let old_leader = leader(&partition).unwrap();
    let follower = replicas(&partition)
        .into_iter()
        .find(|&r| r != old_leader)
        .unwrap();
    let witness = (1..=3).find(|&b| b != old_leader && b != follower).unwrap();
    ok(produce(&cluster, "all", "a\nb\n"));
    cluster.signal(follower, SIGSTOP);
    cluster.wait_for("t", 0, "the follower out of the ISR", |p| {
        isr(p) == vec![old_leader]
    });
    ok(produce(&cluster, "1", "c\nd\n"));
    cluster.kill(old_leader);
    cluster.signal(follower, SIGCONT);
    cluster.wait_for("t", 0, "the partition offline", |p| leader(p).is_none());
    if !unclean {
        // Nothing elects the out-of-sync follower; the old leader's return does.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(leader(&cluster.describe("t", 0)), None, "still offline");
        cluster.restart(old_leader);
        cluster.wait_for("t", 0, "the old leader back", |p| {
            leader(p) == Some(old_leader)
        });
        let values = ok(cluster.ringlog(&[
            "consume",
            "t",
            "--from-beginning",
            "--max-records",
            "4",
            "--timeout-ms",
            "10000",
        ]));
        assert_eq!(values, "a\nb\nc\nd\n", "nothing acknowledged was lost");
        return;
    }
    ok(cluster.ringlog(&[
        "topic",
        "alter-config",
        "t",
        "--config",
        "unclean_leader_election_enable=true",
    ]));
    cluster.wait_for("t", 0, "the follower elected", |p| {
        leader(p) == Some(follower)
    });
    assert_eq!(
        cluster.metric(witness, "ringlog_unclean_elections_total"),
        1.0
    );
    cluster.restart(old_leader);
    cluster.wait_for("t", 0, "the old leader back in the ISR", |p| {
        isr(p).len() == 2
    });
    assert_eq!(
        cluster.metric(old_leader, "ringlog_truncated_records_total"),
        2.0,
        "the old leader cut the two records only it had"
    );
    ok(produce(&cluster, "all", "e\n"));
    let values = ok(cluster.ringlog(&[
        "consume",
        "t",
        "--from-beginning",
        "--max-records",
        "3",
        "--timeout-ms",
        "10000",
    ]));
    assert_eq!(
        values, "a\nb\ne\n",
        "c and d were lost to the unclean election"
    );
}

#[test]
fn with_unclean_election_off_an_offline_partition_waits_and_loses_nothing() {
    unclean_election_scenario(false);
}

#[test]
fn with_unclean_election_on_an_out_of_sync_replica_leads_and_the_cut_is_counted() {
    unclean_election_scenario(true);
}

#[test]
fn a_topic_created_again_while_a_replica_was_down_is_told_apart_by_its_id() {
    // Sessions long enough that the killed broker is still live to the controller while the
    // topic is deleted and created again: the new topic gets a replica on it.
    let mut cluster = Cluster::start(
        3,
        "broker_session_timeout_ms = 20000\nbroker_heartbeat_interval_ms = 500\n\
         replica_lag_time_max_ms = 2000\nreplica_fetch_backoff_ms = 100\n",
    );
    create_topic(&cluster, "t", 1, 3, &[]);
    cluster.wait_for("t", 0, "all three in the ISR", |p| isr(p).len() == 3);
    ok(produce(&cluster, "all", "old-1\nold-2\nold-3\n"));
    let partition = cluster.describe("t", 0);
    let victim = replicas(&partition)
        .into_iter()
        .find(|&r| Some(r) != leader(&partition))
        .unwrap();
    cluster.kill(victim);
    ok(cluster.ringlog(&["topic", "delete", "t"]));
    create_topic(&cluster, "t", 1, 3, &[]);
    let partition = cluster.describe("t", 0);
    assert!(
        replicas(&partition).contains(&victim),
        "the new topic has a replica on the killed broker: {partition}"
    );
    // It may lead the new topic: nothing is produced until it is back.
    cluster.restart(victim);
    cluster.wait_for("t", 0, "the ISR back to 3", |p| isr(p).len() == 3);
    ok(produce(&cluster, "all", "new-1\n"));
    // The restarted broker set the old topic's directory aside and holds the new one's
    // records only.
    let data = cluster.nodes[victim as usize - 1].data_dir.join("data");
    let strays: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("t-0.") && name.ends_with("-stray"))
        .collect();
    assert_eq!(strays.len(), 1, "one stray directory: {strays:?}");
    assert!(data.join("t-0").join("partition.metadata").exists());
    cluster.stop(victim);
    let dump = support::ringlog(
        &["dump-log", "--json", data.join("t-0").to_str().unwrap()],
        "",
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    let batches = dump
        .lines()
        .filter(|l| l.contains("\"kind\":\"batch\""))
        .count();
    assert_eq!(batches, 1, "only the new topic's one batch: {dump}");
}

/// A `ringlog consume --group` member goes on through its group coordinator's death: the
/// coordinator (the leader of the group's partition of `__consumer_offsets`) is killed, the
/// member finds the next one, and the records produced after the kill reach it.
#[test]
fn a_ringlog_group_member_goes_on_when_its_coordinator_is_killed() {
    let mut cluster = Cluster::start(3, FAST);
    create_topic(&cluster, "t", 2, 3, &[]);
    for partition in 0..2 {
        cluster.wait_for("t", partition, "a full ISR", |p| isr(p).len() == 3);
    }
    let first: String = (0..20).map(|n| format!("first-{n}\n")).collect();
    assert!(produce(&cluster, "all", &first).status.success());
    let scratch = tempfile::tempdir().unwrap();
    let out_path = scratch.path().join("stdout");
    let member = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["consume", "t", "--group", "g", "--from-beginning"])
        .args(["--session-timeout-ms", "6000", "--timeout-ms", "60000"])
        .args(["--bootstrap", &cluster.bootstrap()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Killed however the test ends.
    let _member = KillOnDrop(member);
    let read = |wanted: &str| {
        let started = Instant::now();
        loop {
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            if out.lines().filter(|l| l.starts_with(wanted)).count() >= 20 {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the member read {wanted}*: {out}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    read("first-");
    let offsets = ringlog_wire::group::partition_for("g") as usize;
    let coordinator = leader(&cluster.wait_for(
        "__consumer_offsets",
        offsets,
        "a coordinator",
        |p| leader(p).is_some() && isr(p).len() == 3,
    ))
    .unwrap();
    eprintln!("kill -9 broker {coordinator}, the group's coordinator");
    cluster.kill(coordinator);
    cluster.wait_for("__consumer_offsets", offsets, "a new coordinator", |p| {
        leader(p).is_some_and(|l| l != coordinator)
    });
    for partition in 0..2 {
        cluster.wait_for("t", partition, "a live leader", |p| {
            leader(p).is_some_and(|l| l != coordinator)
        });
    }
    let second: String = (0..20).map(|n| format!("second-{n}\n")).collect();
    assert!(produce(&cluster, "all", &second).status.success());
    read("second-");
}

/// A child process killed when this is dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
