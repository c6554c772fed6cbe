//! The consumer-group rows' clients: members of a new group, each a `ringlog perf
//! group-member` process, started at once on a topic of their own; the JSON lines they print
//! (when each was started, took an assignment, read records, each stamped with the system
//! clock in µs since the Unix epoch), read as they come; and the two times taken from them:
//!
//! - `takeover`: under a steady load, once the members hold one generation and have read
//!   every partition, the member holding partition 0 is killed with SIGKILL (each run a little
//!   later in the members' heartbeat cycle, [`Sizes::group_kill_delay`]); the time from the
//!   kill until another member has read a record of each partition it held.
//! - `join`: the time from the members' start until each holds its assignment of one
//!   generation, the assignments covering every partition once.
//!
//! The members stamp their own lines, so the times do not include how long a line took to
//! reach the harness; the harness stamps the start and the kill with the same clock.
//! `GroupView` is the pure part: the members' lines in, the answers out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::cluster::Cluster;
use super::plan::{
    GROUP_LOAD_ACKS, GROUP_LOAD_RECORDS_PER_SEC, PARTITIONS, Scenario, Sizes, Workload,
};
use super::process::{ClientRun, Process, Stop, check_interrupted, last_lines};
use super::results::GroupRun;
use super::workload;

/// How often a wait for the members looks at the interrupt flag when no line comes.
const INTERRUPT_CHECK: Duration = Duration::from_millis(200);

/// One line of `ringlog perf group-member` (fields it prints and the harness does not use
/// are left out).
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
enum MemberEvent {
    /// Connected and subscribed.
    Started { unix_us: u64 },
    /// Took its assignment of `generation`.
    Assigned {
        generation: i32,
        partitions: Vec<u32>,
        unix_us: u64,
    },
    /// A poll returned records of `partitions`.
    Consumed { partitions: Vec<u32>, unix_us: u64 },
}

/// Runs a group row once (its run number `run`, from 1) against `cluster`, on `topic` (made
/// beforehand; the group's name too) with the group settings of `sizes`, every wait bounded
/// by `deadline`.
pub fn run(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    sizes: &Sizes,
    run: u32,
    deadline: Instant,
) -> Result<GroupRun> {
    let group = GroupSpec {
        topic,
        session_timeout_ms: sizes.group_session_timeout_ms,
        heartbeat_interval_ms: sizes.group_heartbeat_interval_ms(),
        deadline,
    };
    match scenario.workload {
        Workload::GroupTakeover { members } => takeover(
            cluster,
            scenario,
            &group,
            members,
            sizes.group_kill_delay(run),
        ),
        Workload::GroupJoin { members } => join(cluster, &group, members),
        other => unreachable!("{}: not a consumer-group row: {other:?}", scenario.name),
    }
}

/// What the members of one run share.
struct GroupSpec<'a> {
    /// The topic, and the group's name.
    topic: &'a str,
    session_timeout_ms: u64,
    heartbeat_interval_ms: u64,
    deadline: Instant,
}

/// `members` members under a steady load; the member holding partition 0 killed `kill_delay`
/// after they hold one generation and have read every partition; the time until the others
/// have read each partition it held.
fn takeover(
    cluster: &Cluster,
    scenario: &Scenario,
    group: &GroupSpec<'_>,
    members: u32,
    kill_delay: Duration,
) -> Result<GroupRun> {
    let _load = start_load(cluster, scenario, group)?;
    let mut members = Members::start(cluster, group, members)?;
    let everyone = members.everyone();
    let settled = members.wait_for(
        group.deadline,
        "one generation whose members read every partition",
        |view| {
            Ok(view
                .settled(&everyone, PARTITIONS)?
                .filter(|settled| view.read_by_owners(settled)))
        },
    )?;
    let killed = settled.owners[&0];
    let partitions = settled.partitions_of(killed);
    // The members' lines queue up meanwhile.
    std::thread::sleep(kill_delay);
    check_interrupted()?;
    let killed_us = unix_micros(SystemTime::now());
    members.kill(killed);
    let taken_us = members.wait_for(
        group.deadline,
        &format!("read of partitions {partitions:?} by the members left"),
        |view| Ok(view.taken_over(&partitions, killed, killed_us)),
    )?;
    Ok(GroupRun {
        seconds: seconds_between(killed_us, taken_us),
        partitions,
        generation: settled.generation,
        started_seconds: None,
    })
}

/// `members` members started at once; the time until each holds its assignment of one
/// generation, together covering every partition.
fn join(cluster: &Cluster, group: &GroupSpec<'_>, members: u32) -> Result<GroupRun> {
    let started_us = unix_micros(SystemTime::now());
    let mut members = Members::start(cluster, group, members)?;
    let everyone = members.everyone();
    let settled = members.wait_for(
        group.deadline,
        "one generation held by every member",
        |view| view.settled(&everyone, PARTITIONS),
    )?;
    let last_started = members.view.last_started().unwrap_or(started_us);
    Ok(GroupRun {
        seconds: seconds_between(started_us, settled.unix_us),
        partitions: settled.owners.keys().copied().collect(),
        generation: settled.generation,
        started_seconds: Some(seconds_between(started_us, last_started)),
    })
}

/// The takeover row's producer: [`GROUP_LOAD_RECORDS_PER_SEC`] until it is stopped (dropped)
/// or the deadline's worth of records is sent.
fn start_load(cluster: &Cluster, scenario: &Scenario, group: &GroupSpec<'_>) -> Result<ClientRun> {
    let seconds = group
        .deadline
        .saturating_duration_since(Instant::now())
        .as_secs()
        .max(1);
    let records = u64::from(GROUP_LOAD_RECORDS_PER_SEC) * seconds;
    let mut args = workload::produce_args(scenario, group.topic, records, GROUP_LOAD_ACKS);
    args.extend([
        "--throughput".to_string(),
        GROUP_LOAD_RECORDS_PER_SEC.to_string(),
    ]);
    workload::start(cluster, "load producer", &args)
}

/// Seconds from `from_us` to `to_us` (0 if the clock went back).
fn seconds_between(from_us: u64, to_us: u64) -> f64 {
    to_us.saturating_sub(from_us) as f64 / 1e6
}

/// Microseconds from the Unix epoch to `at`, as the members stamp their lines.
fn unix_micros(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

/// The members of one group, each a `perf group-member` process (killed when dropped), and
/// what they reported.
struct Members {
    processes: Vec<Member>,
    /// Each member's stdout lines, by member index; `None` once its stdout ended.
    lines: Receiver<(usize, Option<String>)>,
    view: GroupView,
}

/// One member process; its stderr is read to its end on a thread of its own.
struct Member {
    process: Process,
    stderr: Option<JoinHandle<String>>,
    killed: bool,
}

impl Members {
    /// Starts `count` members of `group`, as fast as processes start.
    fn start(cluster: &Cluster, group: &GroupSpec<'_>, count: u32) -> Result<Members> {
        let (tx, lines) = mpsc::channel();
        let left_ms = group
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .max(1);
        let args = [
            "perf".to_string(),
            "group-member".to_string(),
            group.topic.to_string(),
            "--group".to_string(),
            group.topic.to_string(),
            "--session-timeout-ms".to_string(),
            group.session_timeout_ms.to_string(),
            "--heartbeat-interval-ms".to_string(),
            group.heartbeat_interval_ms.to_string(),
            // Killed before this, unless the harness is.
            "--timeout-ms".to_string(),
            left_ms.to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut processes = Vec::new();
        for index in 0..count as usize {
            let mut command = cluster.command(&args);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let name = format!("group member {}", index + 1);
            let mut process = Process::spawn(name, &mut command, Stop::Kill)?;
            read_lines(index, process.take_stdout().expect("piped"), tx.clone());
            let stderr = process.take_stderr().expect("piped");
            let stderr =
                std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
            processes.push(Member {
                process,
                stderr: Some(stderr),
                killed: false,
            });
        }
        Ok(Members {
            processes,
            lines,
            view: GroupView::default(),
        })
    }

    /// Every member's index.
    fn everyone(&self) -> Vec<usize> {
        (0..self.processes.len()).collect()
    }

    /// Kills member `index` with SIGKILL: it sends nothing more, not even a LeaveGroup.
    fn kill(&mut self, index: usize) {
        let member = &mut self.processes[index];
        member.killed = true;
        member.process.signal(libc::SIGKILL);
    }

    /// Takes the members' lines in until `done` answers, or fails at `deadline` naming `what`
    /// was waited for, when a member not killed ends, or when a line does not parse.
    fn wait_for<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        done: impl Fn(&GroupView) -> Result<Option<T>>,
    ) -> Result<T> {
        loop {
            if let Some(answer) = done(&self.view)? {
                return Ok(answer);
            }
            check_interrupted()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no {what} before the deadline; the members reported: {}",
                    self.view.summary()
                );
            }
            match self.lines.recv_timeout(left.min(INTERRUPT_CHECK)) {
                Ok(line) => {
                    self.take_line(line)?;
                    // Every line already there, before `done` looks again.
                    while let Ok(line) = self.lines.try_recv() {
                        self.take_line(line)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("every group member ended"),
            }
        }
    }

    /// Takes member `index`'s line in; `None`: its stdout ended.
    fn take_line(&mut self, (index, line): (usize, Option<String>)) -> Result<()> {
        let Some(line) = line else {
            return self.ended(index);
        };
        let event = serde_json::from_str(&line)
            .with_context(|| format!("group member {}: parse {line:?}", index + 1))?;
        self.view.take(index, event);
        Ok(())
    }

    /// Member `index`'s stdout ended: expected once it was killed, else a failure naming its
    /// stderr.
    fn ended(&mut self, index: usize) -> Result<()> {
        let member = &mut self.processes[index];
        if member.killed {
            return Ok(());
        }
        check_interrupted()?;
        let stderr = member
            .stderr
            .take()
            .and_then(|stderr| stderr.join().ok())
            .unwrap_or_default();
        bail!(
            "{} ended: {}",
            member.process.name(),
            last_lines(&stderr, 10)
        )
    }
}

/// Sends each line of `stdout` as member `index`'s, then `None` at its end, from a thread of
/// its own (so a member never blocks on a full pipe).
fn read_lines(
    index: usize,
    stdout: std::process::ChildStdout,
    lines: Sender<(usize, Option<String>)>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send((index, Some(line))).is_err() {
                return;
            }
        }
        let _ = lines.send((index, None));
    });
}

/// What the members of one group reported, by member index.
#[derive(Debug, Default)]
struct GroupView {
    /// When each member was connected and subscribed.
    started: BTreeMap<usize, u64>,
    /// Each member's latest assignment.
    assigned: BTreeMap<usize, Assignment>,
    /// Every poll that returned records: the member, when, and the partitions.
    consumed: Vec<(usize, u64, Vec<u32>)>,
}

/// A member's assignment of one generation.
#[derive(Clone, Debug, PartialEq)]
struct Assignment {
    generation: i32,
    partitions: Vec<u32>,
    unix_us: u64,
}

/// A generation every member asked about holds, their assignments covering every partition
/// once.
#[derive(Clone, Debug, PartialEq)]
struct Settled {
    generation: i32,
    /// When the last of them took its assignment.
    unix_us: u64,
    /// Each partition's member.
    owners: BTreeMap<u32, usize>,
    /// When each member took its assignment.
    assigned_us: BTreeMap<usize, u64>,
}

impl Settled {
    /// The partitions member `index` holds.
    fn partitions_of(&self, index: usize) -> Vec<u32> {
        self.owners
            .iter()
            .filter(|&(_, &owner)| owner == index)
            .map(|(&partition, _)| partition)
            .collect()
    }
}

impl GroupView {
    /// Takes member `index`'s `event` in.
    fn take(&mut self, index: usize, event: MemberEvent) {
        match event {
            MemberEvent::Started { unix_us } => {
                self.started.insert(index, unix_us);
            }
            MemberEvent::Assigned {
                generation,
                partitions,
                unix_us,
            } => {
                let assignment = Assignment {
                    generation,
                    partitions,
                    unix_us,
                };
                self.assigned.insert(index, assignment);
            }
            MemberEvent::Consumed {
                partitions,
                unix_us,
            } => self.consumed.push((index, unix_us, partitions)),
        }
    }

    /// The generation each of `members` holds as its latest, if they hold the same one and
    /// their assignments cover each partition below `partitions` exactly once; an error if two
    /// members of one generation hold a partition, or one holds a partition the topic does not
    /// have (the group's assignor is wrong).
    fn settled(&self, members: &[usize], partitions: u32) -> Result<Option<Settled>> {
        let held: Option<Vec<(usize, &Assignment)>> = members
            .iter()
            .map(|&index| Some((index, self.assigned.get(&index)?)))
            .collect();
        let Some(held) = held else {
            return Ok(None);
        };
        let Some(generation) = held.first().map(|(_, a)| a.generation) else {
            return Ok(None);
        };
        if held.iter().any(|(_, a)| a.generation != generation) {
            return Ok(None);
        }
        let mut owners = BTreeMap::new();
        for (index, assignment) in &held {
            for &partition in &assignment.partitions {
                if partition >= partitions {
                    bail!(
                        "generation {generation}: member {} holds partition {partition}, of {partitions}",
                        index + 1
                    );
                }
                if let Some(other) = owners.insert(partition, *index) {
                    bail!(
                        "generation {generation}: members {} and {} both hold partition {partition}",
                        other + 1,
                        index + 1
                    );
                }
            }
        }
        if owners.len() < partitions as usize {
            return Ok(None);
        }
        Ok(Some(Settled {
            generation,
            unix_us: held.iter().map(|(_, a)| a.unix_us).max().unwrap_or(0),
            owners,
            assigned_us: held.iter().map(|(index, a)| (*index, a.unix_us)).collect(),
        }))
    }

    /// Whether each partition of `settled` was read by its member since it took its
    /// assignment.
    fn read_by_owners(&self, settled: &Settled) -> bool {
        let mut unread: BTreeSet<u32> = settled.owners.keys().copied().collect();
        for (index, at, partitions) in &self.consumed {
            let Some(&since) = settled.assigned_us.get(index) else {
                continue;
            };
            if *at >= since {
                for partition in partitions {
                    if settled.owners.get(partition) == Some(index) {
                        unread.remove(partition);
                    }
                }
            }
        }
        unread.is_empty()
    }

    /// When the last of `partitions` was first read, at or after `since_us`, by a member other
    /// than `killed`; `None` until each was.
    fn taken_over(&self, partitions: &[u32], killed: usize, since_us: u64) -> Option<u64> {
        let mut first_reads: BTreeMap<u32, u64> = BTreeMap::new();
        for (index, at, read) in &self.consumed {
            if *index == killed || *at < since_us {
                continue;
            }
            for partition in read.iter().filter(|p| partitions.contains(p)) {
                let first = first_reads.entry(*partition).or_insert(*at);
                *first = (*first).min(*at);
            }
        }
        if first_reads.len() < partitions.len() {
            return None;
        }
        first_reads.values().copied().max()
    }

    /// When the last member that said so was connected and subscribed.
    fn last_started(&self) -> Option<u64> {
        self.started.values().copied().max()
    }

    /// Each member's latest generation and partitions, for an error message.
    fn summary(&self) -> String {
        let members: Vec<String> = self
            .assigned
            .iter()
            .map(|(index, a)| {
                format!(
                    "member {} generation {} partitions {:?}",
                    index + 1,
                    a.generation,
                    a.partitions
                )
            })
            .collect();
        if members.is_empty() {
            return "no assignment".to_string();
        }
        format!("{} ({} reads)", members.join(", "), self.consumed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(generation: i32, partitions: &[u32], unix_us: u64) -> MemberEvent {
        MemberEvent::Assigned {
            generation,
            partitions: partitions.to_vec(),
            unix_us,
        }
    }

    fn consumed(partitions: &[u32], unix_us: u64) -> MemberEvent {
        MemberEvent::Consumed {
            partitions: partitions.to_vec(),
            unix_us,
        }
    }

    #[test]
    fn lines_parse_as_perf_group_member_prints_them() {
        let lines = [
            r#"{"event":"started","unix_us":5}"#,
            r#"{"event":"assigned","generation":2,"partitions":[0,3],"unix_us":7}"#,
            r#"{"event":"consumed","records":12,"partitions":[3],"unix_us":9}"#,
        ];
        let events: Vec<MemberEvent> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            events,
            [
                MemberEvent::Started { unix_us: 5 },
                assigned(2, &[0, 3], 7),
                consumed(&[3], 9)
            ]
        );
    }

    #[test]
    fn a_group_settles_once_every_member_holds_one_generation_covering_every_partition() {
        let mut view = GroupView::default();
        let everyone = [0, 1, 2];
        view.take(0, assigned(1, &[0, 1, 2], 10));
        view.take(1, assigned(1, &[3, 4, 5], 12));
        // The third has not reported.
        assert_eq!(view.settled(&everyone, 6).unwrap(), None);
        view.take(2, assigned(1, &[], 11));
        let settled = view.settled(&everyone, 6).unwrap().unwrap();
        assert_eq!((settled.generation, settled.unix_us), (1, 12));
        assert_eq!(settled.partitions_of(1), [3, 4, 5]);
        assert!(settled.partitions_of(2).is_empty());
        // A member joins late: generation 2 is not settled until everyone holds it.
        view.take(0, assigned(2, &[0, 1], 20));
        view.take(1, assigned(2, &[2, 3], 21));
        assert_eq!(view.settled(&everyone, 6).unwrap(), None);
        view.take(2, assigned(2, &[4, 5], 25));
        let settled = view.settled(&everyone, 6).unwrap().unwrap();
        assert_eq!((settled.generation, settled.unix_us), (2, 25));
        assert_eq!(
            settled.owners.keys().copied().collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn a_generation_missing_a_partition_or_holding_one_twice_does_not_settle() {
        let mut view = GroupView::default();
        view.take(0, assigned(1, &[0, 1], 1));
        view.take(1, assigned(1, &[2], 1));
        assert_eq!(view.settled(&[0, 1], 4).unwrap(), None, "3 is nobody's");
        view.take(1, assigned(1, &[1, 2, 3], 2));
        let error = view.settled(&[0, 1], 4).unwrap_err().to_string();
        assert!(
            error.contains("members 1 and 2 both hold partition 1"),
            "{error}"
        );
        view.take(1, assigned(1, &[2, 3, 4], 2));
        let error = view.settled(&[0, 1], 4).unwrap_err().to_string();
        assert!(error.contains("holds partition 4, of 4"), "{error}");
    }

    #[test]
    fn the_owners_must_read_every_partition_after_taking_it() {
        let mut view = GroupView::default();
        view.take(0, assigned(1, &[0], 10));
        view.take(1, assigned(1, &[1], 10));
        // Read before the assignment, or by the other member: not counted.
        view.take(0, consumed(&[0], 9));
        view.take(0, consumed(&[1], 11));
        let settled = view.settled(&[0, 1], 2).unwrap().unwrap();
        assert!(!view.read_by_owners(&settled));
        view.take(0, consumed(&[0], 12));
        assert!(!view.read_by_owners(&settled));
        view.take(1, consumed(&[1], 12));
        assert!(view.read_by_owners(&settled));
    }

    #[test]
    fn a_takeover_ends_when_the_others_have_read_every_partition_of_the_killed_member() {
        let mut view = GroupView::default();
        let killed_at = 100;
        // Reads before the kill (an earlier generation) and the killed member's own count
        // for nothing.
        view.take(1, consumed(&[0], 50));
        view.take(0, consumed(&[0, 1], 101));
        assert_eq!(view.taken_over(&[0, 1], 0, killed_at), None);
        view.take(2, consumed(&[1, 4], 160));
        assert_eq!(view.taken_over(&[0, 1], 0, killed_at), None);
        view.take(1, consumed(&[0], 150));
        view.take(2, consumed(&[0], 170));
        // Partition 0 first read at 150, partition 1 at 160.
        assert_eq!(view.taken_over(&[0, 1], 0, killed_at), Some(160));
    }

    #[test]
    fn the_last_member_to_start_is_known() {
        let mut view = GroupView::default();
        assert_eq!(view.last_started(), None);
        view.take(0, MemberEvent::Started { unix_us: 7 });
        view.take(1, MemberEvent::Started { unix_us: 5 });
        assert_eq!(view.last_started(), Some(7));
    }
}
