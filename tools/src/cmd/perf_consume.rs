//! `ringlog perf consume`: consumer throughput against a running cluster, as Kafka's
//! `kafka-consumer-perf-test`.
//!
//! One consumer, no group, reads every partition of `--topic` from its log start until it has
//! `--records` records; it fails if none come for `--timeout-ms` before that. The clock runs
//! from the first poll (position lookups included) to the poll that completed the count;
//! `bytes` counts keys and values of the records counted, 10^6 per MB. `latency_ms` is per poll:
//! how long each wait for records took (several empty long polls count as one wait), not a
//! per-record latency, which a consumer cannot know.

use std::time::Duration;

use anyhow::{Result, bail};
use ringlog_net::client::{ConsumerConfig, OffsetReset};
use serde::Serialize;
use tokio::time::Instant;

use super::client::{Bootstrap, IdlePolls, connect, flat, partitions, runtime};
use super::perf_report::{
    LatencyMs, latency_histogram, progress_bar, record_latency, seconds_since,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[arg(long)]
    topic: String,
    /// Records to read in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Fail once no record came for this long.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The report, as printed with `--json`.
#[derive(Serialize, Debug)]
struct Report {
    records: u64,
    /// Key and value bytes.
    bytes: u64,
    seconds: f64,
    records_per_sec: f64,
    /// 10^6 bytes per second.
    mb_per_sec: f64,
    /// Per poll that returned records.
    latency_ms: LatencyMs,
    /// Polls that returned records.
    polls: u64,
}

pub fn run(args: Args) -> Result<()> {
    runtime()?.block_on(perf_consume(args))
}

async fn perf_consume(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    let assigned = partitions(&client, &args.topic, None).await?;
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign(&assigned).await.map_err(flat)?;
    let progress = progress_bar(args.records);
    let mut latency_us = latency_histogram()?;
    let (mut records, mut bytes, mut polls_with_records) = (0u64, 0u64, 0u64);
    let mut polls = IdlePolls::new(Duration::from_millis(args.timeout_ms));
    let started = Instant::now();
    while records < args.records {
        let poll_started = Instant::now();
        let Some(batch) = polls.next(&consumer).await? else {
            progress.finish_and_clear();
            bail!(
                "consumed {records} of {} records from {}: none came for {} ms",
                args.records,
                args.topic,
                args.timeout_ms
            );
        };
        record_latency(&mut latency_us, poll_started.elapsed());
        polls_with_records += 1;
        let wanted = usize::try_from(args.records - records).unwrap_or(usize::MAX);
        for record in batch.iter().take(wanted) {
            let key = record.key.as_ref().map_or(0, |key| key.len());
            let value = record.value.as_ref().map_or(0, |value| value.len());
            bytes += (key + value) as u64;
            records += 1;
        }
        progress.set_position(records);
    }
    let seconds = seconds_since(started);
    progress.finish_and_clear();
    let report = Report {
        records,
        bytes,
        seconds,
        records_per_sec: records as f64 / seconds,
        mb_per_sec: bytes as f64 / seconds / 1e6,
        latency_ms: LatencyMs::of(&latency_us),
        polls: polls_with_records,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} records ({:.1} MB) consumed in {:.3} s: {:.1} records/s, {:.2} MB/s",
            report.records,
            report.bytes as f64 / 1e6,
            report.seconds,
            report.records_per_sec,
            report.mb_per_sec
        );
        println!(
            "{} polls with records, wait per poll: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            report.polls,
            report.latency_ms.p50,
            report.latency_ms.p99,
            report.latency_ms.p999,
            report.latency_ms.max
        );
    }
    Ok(())
}
