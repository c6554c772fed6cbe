//! `ringlog verifiable-producer TOPIC`: sends `--records` records whose values are their numbers
//! (`"0"`, `"1"`, ...) and prints one JSON line per record once it is acknowledged or failed,
//! for tests that check what was acknowledged against what is later read:
//!
//! ```text
//! {"event":"ack","partition":0,"offset":17,"value":"17"}
//! {"event":"error","value":"18","error":"NOT_ENOUGH_REPLICAS","message":"t-0: record not delivered ..."}
//! ```
//!
//! `error` is the Kafka name of the failure (a delivery timeout is named by its last attempt's
//! error); `offset` is `null` with acks=0. Lines come in send order, which is each partition's
//! acknowledgement order. A failed record is an event, not a failure of the command: it exits 0
//! once every record was acknowledged or failed, with the counts on stderr. It fails only when
//! it cannot send at all (no broker, no such topic).
//!
//! Then (unless `--no-read-back`) it reads the topic back from where each partition ended
//! before its first send to the high watermark, and reports what it can see there of its own
//! records: values that appear more than once (a retry appended twice), acknowledged values
//! missing, and values appended whose sends failed (a timeout whose append had landed):
//!
//! ```text
//! {"event":"read_back","records":3000,"duplicates":0,"missing":0,"failed_but_appended":2}
//! ```
//!
//! The read-back assumes this command was the topic's only producer meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ringlog_client::{
    Acks, Client, Consumer, ConsumerConfig, DeliveryFuture, Offset, ProducerConfig, Record,
    TopicPartition,
};
use serde::Serialize;
use tokio::sync::mpsc;

use super::client::{
    Bootstrap, TopicArg, connect, error_name, flat, parse_acks, partitions, runtime,
};
use super::perf_report::{Throttle, Throughput, parse_throughput};

/// Deliveries sent and not yet printed, at most; the producer's buffer bounds them first.
const DELIVERIES_QUEUED_MAX: usize = 65_536;
/// Reading the run's records back takes at most this long.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(flatten)]
    topic: TopicArg,
    /// Records to send; their values are 0 to records - 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// `0`, `1` or `all`.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: Acks,
    /// Records per second, at most; -1: no limit.
    #[arg(long, default_value = "-1", allow_negative_numbers = true, value_parser = parse_throughput)]
    throughput: Throughput,
    /// How long a record may take to be acknowledged, retries included.
    #[arg(long, default_value_t = 120_000, value_parser = clap::value_parser!(u64).range(1..))]
    delivery_timeout_ms: u64,
    /// Do not read the records back at the end to count duplicates and missing records.
    #[arg(long)]
    no_read_back: bool,
}

/// One line of output.
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Ack {
        partition: u32,
        offset: Option<u64>,
        value: String,
    },
    Error {
        value: String,
        error: String,
        message: String,
    },
    /// What reading the run's records back found.
    ReadBack {
        records: u64,
        duplicates: u64,
        missing: u64,
        failed_but_appended: u64,
    },
}

/// What the run told about each value: acknowledged or failed.
#[derive(Debug, Default)]
struct Outcomes {
    acked: BTreeSet<u64>,
    failed: BTreeSet<u64>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(verifiable_produce(args))
}

async fn verifiable_produce(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    let topic_partitions = partitions(&client, args.topic.name(), None).await?;
    let reader = client.consumer(ConsumerConfig::default());
    reader.assign(&topic_partitions).await.map_err(flat)?;
    reader.seek_to_end(&[]).await.map_err(flat)?;
    let mut starts = BTreeMap::new();
    for topic_partition in &topic_partitions {
        let start = reader.position(topic_partition).await.map_err(flat)?;
        starts.insert(topic_partition.clone(), start.unwrap_or(Offset::ZERO));
    }
    let producer = client
        .producer(ProducerConfig {
            acks: args.acks,
            delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
            ..ProducerConfig::default()
        })
        .map_err(flat)?;
    let (deliveries, queued) = mpsc::channel(DELIVERIES_QUEUED_MAX);
    let printer = tokio::spawn(print_events(queued));
    let throttle = Throttle::new(args.throughput.0);
    for i in 0..args.records {
        throttle.wait(i).await;
        let record = Record::new(args.topic.name()).value(i.to_string());
        let delivery = producer.send(record).await.map_err(flat)?;
        if deliveries.send((i, delivery)).await.is_err() {
            break; // the printer stopped on a write error, returned below
        }
    }
    producer.flush().await.map_err(flat)?;
    drop(deliveries);
    let outcomes = printer.await.expect("the printer does not panic")?;
    let (acked, failed) = (outcomes.acked.len(), outcomes.failed.len());
    let records = if acked == 1 { "record" } else { "records" };
    eprintln!("{acked} {records} acknowledged, {failed} failed");
    if !args.no_read_back {
        let read_back = read_back(&client, &reader, &starts, &outcomes).await?;
        if let Event::ReadBack {
            records,
            duplicates,
            missing,
            failed_but_appended,
        } = &read_back
        {
            eprintln!(
                "read back {records} records: {duplicates} duplicates, {missing} acknowledged \
                 missing, {failed_but_appended} failed but appended"
            );
        }
        println!("{}", serde_json::to_string(&read_back)?);
    }
    Ok(())
}

/// Reads every partition from `starts` to its high watermark now and counts what it finds of
/// the run's values (module docs).
async fn read_back(
    client: &Client,
    reader: &Consumer,
    starts: &BTreeMap<TopicPartition, Offset>,
    outcomes: &Outcomes,
) -> Result<Event> {
    let ends_reader = client.consumer(ConsumerConfig::default());
    let topic_partitions: Vec<TopicPartition> = starts.keys().cloned().collect();
    ends_reader.assign(&topic_partitions).await.map_err(flat)?;
    ends_reader.seek_to_end(&[]).await.map_err(flat)?;
    let mut ends = BTreeMap::new();
    for (topic_partition, start) in starts {
        let end = ends_reader.position(topic_partition).await.map_err(flat)?;
        ends.insert(topic_partition.clone(), end.unwrap_or(*start));
        reader.seek(topic_partition, *start).await.map_err(flat)?;
    }
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut records = 0;
    let deadline = tokio::time::Instant::now() + READ_BACK_TIMEOUT;
    loop {
        let mut behind = false;
        for (topic_partition, end) in &ends {
            let position = reader.position(topic_partition).await.map_err(flat)?;
            behind |= position.is_none_or(|p| p < *end);
        }
        if !behind {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "reading the records back took longer than {READ_BACK_TIMEOUT:?}"
        );
        for record in reader
            .poll(Duration::from_millis(500))
            .await
            .map_err(flat)?
        {
            let end = ends[&TopicPartition::new(record.topic.as_ref(), record.partition)];
            if record.offset >= end {
                continue;
            }
            records += 1;
            let value = record
                .value
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok());
            if let Some(value) = value.and_then(|v| v.parse::<u64>().ok()) {
                *seen.entry(value).or_default() += 1;
            }
        }
    }
    Ok(Event::ReadBack {
        records,
        duplicates: seen.values().map(|count| count - 1).sum(),
        missing: outcomes
            .acked
            .iter()
            .filter(|v| !seen.contains_key(v))
            .count() as u64,
        failed_but_appended: outcomes
            .failed
            .iter()
            .filter(|v| seen.contains_key(v))
            .count() as u64,
    })
}

/// Prints each delivery's event in send order; which values were acknowledged and failed.
async fn print_events(mut queued: mpsc::Receiver<(u64, DeliveryFuture)>) -> Result<Outcomes> {
    let mut outcomes = Outcomes::default();
    let mut stdout = std::io::stdout();
    while let Some((i, delivery)) = queued.recv().await {
        let value = i.to_string();
        let event = match delivery.await {
            Ok(metadata) => {
                outcomes.acked.insert(i);
                Event::Ack {
                    partition: metadata.partition,
                    offset: metadata.offset.map(|offset| offset.0),
                    value,
                }
            }
            Err(error) => {
                outcomes.failed.insert(i);
                Event::Error {
                    value,
                    error: error_name(&error),
                    message: error.to_string(),
                }
            }
        };
        // One write per line: a reader sees whole lines as they happen.
        let line = format!("{}\n", serde_json::to_string(&event)?);
        stdout.write_all(line.as_bytes())?;
        stdout.flush()?;
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_lines() {
        let ack = Event::Ack {
            partition: 0,
            offset: Some(17),
            value: "17".into(),
        };
        assert_eq!(
            serde_json::to_string(&ack).unwrap(),
            r#"{"event":"ack","partition":0,"offset":17,"value":"17"}"#
        );
        let error = Event::Error {
            value: "18".into(),
            error: "NOT_ENOUGH_REPLICAS".into(),
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"event":"error","value":"18","error":"NOT_ENOUGH_REPLICAS","message":"m"}"#
        );
    }
}
