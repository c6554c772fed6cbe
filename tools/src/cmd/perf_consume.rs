//! `ringlog perf consume`: consumer throughput against a running cluster, as Kafka's
//! `kafka-consumer-perf-test`.
//!
//! One consumer, no group, reads every partition of the topic from its log start until it has
//! `--records` records; it fails if none come for `--timeout-ms` before that. The clock runs
//! from the first poll (position lookups included) to the poll that completed the count;
//! `bytes` counts keys and values of the records counted, 10^6 per MB. `latency_ms` is per poll:
//! how long each wait for records took (several empty long polls count as one wait), not a
//! per-record latency, which a consumer cannot know from the records alone.
//!
//! With `--latency`, the records' values carry their send time (`perf produce
//! --stamp-values`), and `end_to_end_ms` reports each record's time from its `send` to the
//! return of the poll that brought it, over the records sent after this consumer started (the
//! others are counted in `unmeasured`). The clock is read once per poll.

use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use ringlog_client::{ConsumerConfig, OffsetReset};
use serde::Serialize;
use tokio::time::Instant;

use super::client::{Bootstrap, IdlePolls, TopicArg, connect, flat, partitions, runtime};
use super::perf_report::{
    LatencyDistribution, LatencyMs, end_to_end, latency_histogram, progress_bar, record_latency,
    seconds_since, unix_micros,
};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(flatten)]
    topic: TopicArg,
    /// Records to read in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Fail once no record came for this long.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Also report each record's end-to-end latency, from the send time at the start of its
    /// value (written by `perf produce --stamp-values`) to its receipt.
    #[arg(long)]
    latency: bool,
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
    /// With `--latency`: from `send` to receipt, per record.
    #[serde(skip_serializing_if = "Option::is_none")]
    end_to_end_ms: Option<EndToEnd>,
}

/// End-to-end latency, as `--latency` reports it.
#[derive(Serialize, Debug)]
struct EndToEnd {
    #[serde(flatten)]
    distribution: LatencyDistribution,
    /// Records counted but not measured: sent before the consumer started, or too short to
    /// carry a send time.
    unmeasured: u64,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(perf_consume(args))
}

async fn perf_consume(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    let assigned = partitions(&client, args.topic.name(), None).await?;
    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign(&assigned).await.map_err(flat)?;
    let progress = progress_bar(args.records);
    let mut latency_us = latency_histogram()?;
    let mut end_to_end_us = latency_histogram()?;
    let (mut records, mut bytes, mut polls_with_records) = (0u64, 0u64, 0u64);
    let mut polls = IdlePolls::new(Duration::from_millis(args.timeout_ms));
    let started = Instant::now();
    let started_us = unix_micros(SystemTime::now());
    while records < args.records {
        let poll_started = Instant::now();
        let Some(batch) = polls.next(&consumer).await? else {
            progress.finish_and_clear();
            bail!(
                "consumed {records} of {} records from {}: none came for {} ms",
                args.records,
                args.topic.name(),
                args.timeout_ms
            );
        };
        record_latency(&mut latency_us, poll_started.elapsed());
        let received_us = args.latency.then(|| unix_micros(SystemTime::now()));
        polls_with_records += 1;
        let wanted = usize::try_from(args.records - records).unwrap_or(usize::MAX);
        for record in batch.iter().take(wanted) {
            if let Some(received_us) = received_us {
                let value = record.value.as_deref().unwrap_or_default();
                if let Some(latency) = end_to_end(value, received_us, started_us) {
                    record_latency(&mut end_to_end_us, latency);
                }
            }
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
        end_to_end_ms: args.latency.then(|| EndToEnd {
            distribution: LatencyDistribution::of(&end_to_end_us),
            unmeasured: records - end_to_end_us.len(),
        }),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn print_text(report: &Report) {
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
    if let Some(end_to_end) = &report.end_to_end_ms {
        let latency = &end_to_end.distribution.summary;
        println!(
            "end to end (send to receipt) over {} records ({} unmeasured): p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            end_to_end.distribution.count,
            end_to_end.unmeasured,
            latency.p50,
            latency.p99,
            latency.p999,
            latency.max
        );
    }
}
