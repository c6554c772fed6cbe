//! `ringlog perf group-member TOPIC --group G`: one member of a consumer group, for timing the
//! group's rebalances (`ringlog bench` starts several, and kills one). It subscribes to the
//! topic as a member of the group (Kafka's classic protocol, eager, as `consume --group`) and
//! polls, printing one JSON line per event, each with when it happened in µs since the Unix
//! epoch (the system clock: the lines of several members, and the times of the process that
//! started them, compare):
//!
//! ```text
//! {"event":"started","unix_us":1765100000000000}
//! {"event":"assigned","generation":1,"partitions":[0,1],"unix_us":1765100006012345}
//! {"event":"consumed","records":120,"partitions":[0,1],"unix_us":1765100006020000}
//! ```
//!
//! - `started`: connected and subscribed; the first poll, which joins, comes next.
//! - `assigned`: the member holds a generation it did not hold before: its partitions of the
//!   topic (perhaps none), and when the consumer took them. A rebalance listener notes that
//!   time inside the poll; the line is printed when the poll returns, with the generation the
//!   member holds then (a poll that went through several rebalances prints the last).
//! - `consumed`: a poll returned records: how many, from which partitions, when it returned.
//!
//! Positions start from the group's committed offsets, else the log start, and are committed
//! as a member commits them (every 5 s, before each rebalance, at exit). It runs until it is
//! killed, or until neither a record nor a new generation came for `--timeout-ms`; then it
//! leaves the group and exits.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use ringlog_client::{ConsumerConfig, OffsetReset, RebalanceListener, TopicPartition};
use serde::Serialize;
use tokio::time::Instant;

use super::client::{Bootstrap, TopicArg, connect, flat, partitions, runtime};
use super::perf_report::unix_micros;

/// The longest one poll waits for records: the idle check runs between polls.
const POLL_WAIT: Duration = Duration::from_millis(500);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(flatten)]
    topic: TopicArg,
    /// The group to join.
    #[arg(long)]
    group: String,
    /// Without a heartbeat for this long, the group gives this member's partitions to the
    /// others (the broker allows 6000 to 1800000 by default).
    #[arg(long, default_value_t = 45_000)]
    session_timeout_ms: u64,
    /// The time between heartbeats, below the session timeout (default: a third of it, 3000
    /// at most, Kafka's advice).
    #[arg(long)]
    heartbeat_interval_ms: Option<u64>,
    /// Leave the group and exit once neither a record nor a new generation came for this long.
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u64,
}

/// One line of output.
#[derive(Serialize, Debug)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Started {
        unix_us: u64,
    },
    Assigned {
        generation: i32,
        partitions: Vec<u32>,
        unix_us: u64,
    },
    Consumed {
        records: usize,
        partitions: BTreeSet<u32>,
        unix_us: u64,
    },
}

/// Notes when the consumer last took an assignment: the listener is called inside `poll`,
/// which goes on to look up positions and fetch before it returns.
#[derive(Debug, Default)]
struct AssignedAt(Mutex<u64>);

impl AssignedAt {
    fn get(&self) -> u64 {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RebalanceListener for AssignedAt {
    fn on_partitions_assigned(&self, _partitions: &[TopicPartition]) {
        let now = unix_micros(SystemTime::now());
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(group_member(args))
}

async fn group_member(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    // Fails at once when the topic does not exist (the member would wait for it).
    partitions(&client, args.topic.name(), None).await?;
    let session_timeout = Duration::from_millis(args.session_timeout_ms);
    let heartbeat_interval = args.heartbeat_interval_ms.map_or(
        (session_timeout / 3).min(Duration::from_secs(3)),
        Duration::from_millis,
    );
    let consumer = client.consumer(ConsumerConfig {
        group: Some(args.group.clone()),
        auto_offset_reset: OffsetReset::Earliest,
        session_timeout,
        heartbeat_interval,
        ..ConsumerConfig::default()
    });
    let assigned_at = Arc::new(AssignedAt::default());
    consumer
        .subscribe_with_listener(&[args.topic.name()], assigned_at.clone())
        .await
        .map_err(flat)?;
    print(&Event::Started {
        unix_us: unix_micros(SystemTime::now()),
    })?;
    let idle = Duration::from_millis(args.timeout_ms);
    let mut last_news = Instant::now();
    let mut generation = None;
    while last_news.elapsed() < idle {
        let records = consumer.poll(POLL_WAIT).await.map_err(flat)?;
        let returned_us = unix_micros(SystemTime::now());
        let held = consumer
            .group_member()
            .await
            .map(|(_, generation)| generation);
        if let Some(held) = held.filter(|&held| Some(held) != generation) {
            generation = Some(held);
            last_news = Instant::now();
            let assignment = consumer.assignment().await;
            print(&Event::Assigned {
                generation: held,
                partitions: assignment.iter().map(|tp| tp.partition).collect(),
                unix_us: assigned_at.get(),
            })?;
        }
        if !records.is_empty() {
            last_news = Instant::now();
            print(&Event::Consumed {
                records: records.len(),
                partitions: records.iter().map(|record| record.partition).collect(),
                unix_us: returned_us,
            })?;
        }
    }
    consumer.close().await.map_err(flat)?;
    Ok(())
}

/// Writes `event` as one line and flushes it: a reader sees each event as it happens.
fn print(event: &Event) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(event)?)?;
    stdout.flush()?;
    Ok(())
}
