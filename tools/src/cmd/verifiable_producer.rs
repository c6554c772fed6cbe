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

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ringlog_client::{Acks, DeliveryFuture, ProducerConfig, Record};
use serde::Serialize;
use tokio::sync::mpsc;

use super::client::{
    Bootstrap, TopicArg, connect, error_name, flat, parse_acks, partitions, runtime,
};
use super::perf_report::{Throttle, Throughput, parse_throughput};

/// Deliveries sent and not yet printed, at most; the producer's buffer bounds them first.
const DELIVERIES_QUEUED_MAX: usize = 65_536;

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
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(verifiable_produce(args))
}

async fn verifiable_produce(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    partitions(&client, args.topic.name(), None).await?;
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
    let (acked, failed) = printer.await.expect("the printer does not panic")?;
    let records = if acked == 1 { "record" } else { "records" };
    eprintln!("{acked} {records} acknowledged, {failed} failed");
    Ok(())
}

/// Prints each delivery's event in send order; the counts acknowledged and failed.
async fn print_events(mut queued: mpsc::Receiver<(u64, DeliveryFuture)>) -> Result<(u64, u64)> {
    let (mut acked, mut failed) = (0, 0);
    let mut stdout = std::io::stdout();
    while let Some((i, delivery)) = queued.recv().await {
        let value = i.to_string();
        let event = match delivery.await {
            Ok(metadata) => {
                acked += 1;
                Event::Ack {
                    partition: metadata.partition,
                    offset: metadata.offset.map(|offset| offset.0),
                    value,
                }
            }
            Err(error) => {
                failed += 1;
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
    Ok((acked, failed))
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
