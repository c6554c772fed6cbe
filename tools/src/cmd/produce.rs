//! `ringlog produce TOPIC`: one record per line of stdin, sent as it is read.
//!
//! A record's value is its line without the line ending (`\n` or `\r\n`); with
//! `--key-separator S`, the bytes before the first `S` are its key and the rest its value, and a
//! line without `S` is an error (as Kafka's console producer with `parse.key`). At the end of
//! input the producer is flushed and every acknowledgement awaited. Any record not delivered
//! fails the command, naming how many failed and the first (its line and the broker's error
//! code); nothing is printed on success. A record larger than `--max-request-bytes` (1 MiB by
//! default) is refused before it is sent.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::builder::NonEmptyStringValueParser;
use ringlog_client::{Acks, ClientError, DeliveryFuture, ProducerConfig, Record};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::client::{Bootstrap, connect, flat, parse_acks, partitions, runtime};

/// Deliveries sent and not yet checked, at most; the producer's buffer bounds them first.
const DELIVERIES_QUEUED_MAX: usize = 65_536;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    topic: String,
    /// Send every record to this partition (default: by key hash; round robin without a key).
    #[arg(long)]
    partition: Option<u32>,
    /// `0` (no answer awaited), `1` (the leader appended) or `all` (the ISR has it).
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: Acks,
    /// Split each line into key and value at the first occurrence of this string.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    key_separator: Option<String>,
    /// How long a record may take to be acknowledged, retries included.
    #[arg(long, default_value_t = 120_000, value_parser = clap::value_parser!(u64).range(1..))]
    delivery_timeout_ms: u64,
    /// The most bytes of records in one produce request, and so the largest record (Kafka's
    /// `max.request.size`); the topic's `max_message_bytes` must allow a record too.
    #[arg(
        long,
        default_value_t = ProducerConfig::default().max_request_bytes as u64,
        value_parser = clap::value_parser!(u64).range(MAX_REQUEST_BYTES_MIN..=i32::MAX as u64)
    )]
    max_request_bytes: u64,
}

/// The smallest `--max-request-bytes`: room for a batch header and a short line.
const MAX_REQUEST_BYTES_MIN: u64 = 1024;

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(produce(args))
}

async fn produce(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    partitions(&client, &args.topic, args.partition).await?;
    let defaults = ProducerConfig::default();
    let max_request_bytes =
        usize::try_from(args.max_request_bytes).expect("--max-request-bytes is at most i32::MAX");
    let producer = client
        .producer(ProducerConfig {
            acks: args.acks,
            delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
            max_request_bytes,
            // The producer wants batch_bytes <= max_request_bytes <= buffer_bytes.
            batch_bytes: defaults.batch_bytes.min(max_request_bytes),
            buffer_bytes: defaults.buffer_bytes.max(max_request_bytes),
            ..defaults
        })
        .map_err(flat)?;
    let (deliveries, queued) = mpsc::channel(DELIVERIES_QUEUED_MAX);
    let checker = tokio::spawn(check_deliveries(queued));
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .await
            .context("read stdin")?
            == 0
        {
            break;
        }
        line_number += 1;
        let record = to_record(&args, trim_line_end(&line), line_number)?;
        let delivery = producer
            .send(record)
            .await
            .map_err(flat)
            .with_context(|| format!("send line {line_number}"))?;
        deliveries
            .send((line_number, delivery))
            .await
            .expect("the checker runs until the last delivery is queued");
    }
    producer.flush().await.map_err(flat)?;
    drop(deliveries);
    let failures = checker.await.expect("the delivery checker does not panic");
    match failures.first {
        None => Ok(()),
        Some((line, error)) => Err(flat(error)).context(format!(
            "{} of {line_number} records not delivered, the first from line {line}",
            failures.count
        )),
    }
}

/// `line` without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn to_record(args: &Args, line: &[u8], line_number: u64) -> Result<Record> {
    let mut record = Record::new(args.topic.as_str());
    if let Some(partition) = args.partition {
        record = record.partition(partition);
    }
    let Some(separator) = &args.key_separator else {
        return Ok(record.value(Bytes::copy_from_slice(line)));
    };
    let Some((key, value)) = split_once(line, separator.as_bytes()) else {
        bail!("line {line_number} has no key separator {separator:?}");
    };
    Ok(record
        .key(Bytes::copy_from_slice(key))
        .value(Bytes::copy_from_slice(value)))
}

/// `haystack` before and after the first `separator` (not empty).
fn split_once<'a>(haystack: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = haystack
        .windows(separator.len())
        .position(|window| window == separator)?;
    Some((&haystack[..at], &haystack[at + separator.len()..]))
}

/// The records not delivered: how many, and the first with its line.
#[derive(Debug, Default)]
struct Failures {
    count: u64,
    first: Option<(u64, ClientError)>,
}

/// Awaits each delivery in send order (a partition's records are acknowledged in that order).
async fn check_deliveries(mut queued: mpsc::Receiver<(u64, DeliveryFuture)>) -> Failures {
    let mut failures = Failures::default();
    while let Some((line, delivery)) = queued.recv().await {
        if let Err(error) = delivery.await {
            failures.count += 1;
            failures.first.get_or_insert((line, error));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        assert_eq!(
            split_once(b"k::v::w", b"::"),
            Some((&b"k"[..], &b"v::w"[..]))
        );
        assert_eq!(split_once(b"::v", b"::"), Some((&b""[..], &b"v"[..])));
        assert_eq!(split_once(b"kv", b"::"), None);
        assert_eq!(split_once(b"", b":"), None);
    }

    #[test]
    fn line_ends_are_trimmed_once() {
        assert_eq!(trim_line_end(b"a\r\n"), b"a");
        assert_eq!(trim_line_end(b"a\n"), b"a");
        assert_eq!(trim_line_end(b"a"), b"a");
        assert_eq!(trim_line_end(b"a\n\n"), b"a\n");
        assert_eq!(trim_line_end(b"\n"), b"");
    }
}
