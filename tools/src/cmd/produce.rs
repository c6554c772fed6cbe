//! `ringlog produce TOPIC`: one record per line of stdin, sent as it is read.
//!
//! A record's value is its line without the line ending (`\n` or `\r\n`); with
//! `--key-separator S`, the bytes before the first `S` are its key and the rest its value. At
//! the end of input the producer is flushed and every acknowledgement awaited. Any record not
//! delivered fails the command, naming how many failed and the first (its line and the broker's
//! error code); nothing is printed on success. A record larger than `--max-request-bytes`
//! (1 MiB by default) is refused before it is sent.
//!
//! A line that cannot be sent (one without `S` under `--key-separator`, as with Kafka's console
//! producer and `parse.key`; one too large) stops the input, as Kafka's console producer stops
//! at it: the lines after it are not read, the records of the lines before it are delivered as
//! at the end of input, and the command fails naming the line and what became of the records
//! before it (`line 97481: no key separator ":"; the 97480 records before it were delivered
//! and no line after it was read`).
//!
//! While the producer retries a partition's batch (the broker refused it with a retriable
//! error, as NOT_ENOUGH_REPLICAS for acks=all while fewer replicas than `min_insync_replicas`
//! are in sync, or did not answer), stderr says which partition and why once it has been
//! retried for a second, and again every 5 s while it goes on (`retrying: t-0 failed 12
//! attempts in 3.0 s, the last with: ...`). Records still not acknowledged after
//! `--delivery-timeout-ms` fail, with the last attempt's error.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::builder::NonEmptyStringValueParser;
use ringlog_client::{
    Acks, ClientError, DeliveryFuture, Producer, ProducerConfig, Record, RetryingPartition,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{Bootstrap, connect, counted, flat, parse_acks, partitions, runtime};

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

/// How often the producer is asked which partitions it is retrying.
const RETRY_CHECK_EVERY: Duration = Duration::from_millis(500);
/// A partition retried for less than this is not reported: a moved leader is usually found
/// again sooner.
const RETRY_NOTICE_AFTER: Duration = Duration::from_secs(1);
/// The least time between two retry notices.
const RETRY_NOTICE_EVERY: Duration = Duration::from_secs(5);

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(produce(args))
}

async fn produce(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    partitions(&client, &args.topic, args.partition).await?;
    let producer = client.producer(producer_config(&args)).map_err(flat)?;
    let (deliveries, queued) = mpsc::channel(DELIVERIES_QUEUED_MAX);
    let checker = tokio::spawn(check_deliveries(queued));
    let notices = tokio::spawn(report_retries(producer.clone(), args.delivery_timeout_ms));
    let input = send_lines(&args, &producer, deliveries).await;
    // Whatever stopped the input, the records of the lines before it are delivered.
    producer.flush().await.map_err(flat)?;
    let failures = checker.await.expect("the delivery checker does not panic");
    notices.abort();
    outcome(input, failures)
}

fn producer_config(args: &Args) -> ProducerConfig {
    let defaults = ProducerConfig::default();
    let max_request_bytes =
        usize::try_from(args.max_request_bytes).expect("--max-request-bytes is at most i32::MAX");
    ProducerConfig {
        acks: args.acks,
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        max_request_bytes,
        // The producer wants batch_bytes <= max_request_bytes <= buffer_bytes.
        batch_bytes: defaults.batch_bytes.min(max_request_bytes),
        buffer_bytes: defaults.buffer_bytes.max(max_request_bytes),
        ..defaults
    }
}

/// What reading stdin came to.
#[derive(Debug)]
struct Input {
    /// Records sent: one per line read before the end or the stop.
    sent: u64,
    /// What stopped the input before its end, naming the line.
    stopped: Option<anyhow::Error>,
}

/// Sends a record per line of stdin, and queues its delivery for the checker, until the end of
/// input or the first line that cannot be sent.
async fn send_lines(
    args: &Args,
    producer: &Producer,
    deliveries: mpsc::Sender<(u64, DeliveryFuture)>,
) -> Input {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut sent = 0u64;
    loop {
        line.clear();
        let line_number = sent + 1;
        let read = stdin
            .read_until(b'\n', &mut line)
            .await
            .with_context(|| format!("read line {line_number} of stdin"));
        let delivery = match read {
            Ok(0) => {
                return Input {
                    sent,
                    stopped: None,
                };
            }
            Ok(_) => send_line(args, producer, trim_line_end(&line))
                .await
                .with_context(|| format!("line {line_number}")),
            Err(error) => Err(error),
        };
        match delivery {
            Ok(delivery) => deliveries
                .send((line_number, delivery))
                .await
                .expect("the checker runs until the last delivery is queued"),
            Err(error) => {
                return Input {
                    sent,
                    stopped: Some(error),
                };
            }
        }
        sent += 1;
    }
}

async fn send_line(args: &Args, producer: &Producer, line: &[u8]) -> Result<DeliveryFuture> {
    let record = to_record(args, line)?;
    producer.send(record).await.map_err(flat)
}

/// The command's result: what stopped the input, if anything, and what became of the records
/// sent before.
fn outcome(input: Input, failures: Failures) -> Result<()> {
    let Input { sent, stopped } = input;
    match (stopped, failures.first) {
        (None, None) => Ok(()),
        (None, Some((line, error))) => Err(flat(error)).context(format!(
            "{} of {sent} records not delivered, the first from line {line}",
            failures.count
        )),
        (Some(stop), None) => {
            let before = match sent {
                0 => "no line came before it".to_string(),
                1 => "the 1 record before it was delivered".to_string(),
                sent => format!("the {sent} records before it were delivered"),
            };
            bail!("{stop:#}; {before} and no line after it was read")
        }
        (Some(stop), Some((line, error))) => bail!(
            "{stop:#}; no line after it was read; {} of the {} before it not delivered, the \
             first from line {line}: {error}",
            failures.count,
            counted(sent, "record"),
        ),
    }
}

/// Says on stderr which partitions the producer is retrying and why, at most once every
/// [`RETRY_NOTICE_EVERY`]. Runs until aborted.
async fn report_retries(producer: Producer, delivery_timeout_ms: u64) {
    let mut checks = tokio::time::interval(RETRY_CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_notice: Option<Instant> = None;
    loop {
        checks.tick().await;
        if last_notice.is_some_and(|at| at.elapsed() < RETRY_NOTICE_EVERY) {
            continue;
        }
        if let Some(notice) = retry_notice(&producer.retrying(), delivery_timeout_ms) {
            eprintln!("{notice}");
            last_notice = Some(Instant::now());
        }
    }
}

/// One line about the partitions retried for [`RETRY_NOTICE_AFTER`] or longer: the first in
/// full, how many others. `None` when there are none.
fn retry_notice(retrying: &[RetryingPartition], delivery_timeout_ms: u64) -> Option<String> {
    let mut reported = retrying
        .iter()
        .filter(|partition| partition.failing_for >= RETRY_NOTICE_AFTER);
    let first = reported.next()?;
    let others = match reported.count() {
        0 => String::new(),
        count => format!(
            "; {} retrying too",
            counted(count as u64, "other partition")
        ),
    };
    Some(format!(
        "retrying: {} failed {} in {:.1} s, the last with: {}{others}; records fail after \
         --delivery-timeout-ms {delivery_timeout_ms}",
        first.topic_partition,
        counted(first.attempts.into(), "attempt"),
        first.failing_for.as_secs_f64(),
        first.last_error,
    ))
}

/// `line` without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn to_record(args: &Args, line: &[u8]) -> Result<Record> {
    let mut record = Record::new(args.topic.as_str());
    if let Some(partition) = args.partition {
        record = record.partition(partition);
    }
    let Some(separator) = &args.key_separator else {
        return Ok(record.value(Bytes::copy_from_slice(line)));
    };
    let Some((key, value)) = split_once(line, separator.as_bytes()) else {
        bail!("no key separator {separator:?}");
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
    use ringlog_client::TopicPartition;
    use ringlog_wire::ErrorCode;

    /// The input stopped by the line after the `sent` first ones.
    fn stopped_after(sent: u64) -> Input {
        let error = anyhow::anyhow!("no key separator \":\"");
        Input {
            sent,
            stopped: Some(error.context(format!("line {}", sent + 1))),
        }
    }

    fn not_enough_replicas() -> ClientError {
        ClientError::Broker {
            context: "produce to t-0 on broker 1".into(),
            code: ErrorCode::NOT_ENOUGH_REPLICAS,
            message: Some("isr has 1 member, min_insync_replicas is 2".into()),
        }
    }

    fn message(result: Result<()>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn a_stopped_input_names_the_line_and_what_became_of_the_records_before_it() {
        assert_eq!(
            message(outcome(stopped_after(97_480), Failures::default())),
            "line 97481: no key separator \":\"; the 97480 records before it were delivered \
             and no line after it was read"
        );
        assert_eq!(
            message(outcome(stopped_after(1), Failures::default())),
            "line 2: no key separator \":\"; the 1 record before it was delivered and no line \
             after it was read"
        );
        assert_eq!(
            message(outcome(stopped_after(0), Failures::default())),
            "line 1: no key separator \":\"; no line came before it and no line after it was \
             read"
        );
        let failures = Failures {
            count: 2,
            first: Some((3, not_enough_replicas())),
        };
        assert_eq!(
            message(outcome(stopped_after(4), failures)),
            "line 5: no key separator \":\"; no line after it was read; 2 of the 4 records \
             before it not delivered, the first from line 3: produce to t-0 on broker 1: broker \
             answered NOT_ENOUGH_REPLICAS (19): isr has 1 member, min_insync_replicas is 2"
        );
    }

    #[test]
    fn a_whole_input_fails_only_for_records_not_delivered() {
        let whole = |sent| Input {
            sent,
            stopped: None,
        };
        assert!(outcome(whole(3), Failures::default()).is_ok());
        let failures = Failures {
            count: 1,
            first: Some((2, not_enough_replicas())),
        };
        assert_eq!(
            message(outcome(whole(3), failures)),
            "1 of 3 records not delivered, the first from line 2: produce to t-0 on broker 1: \
             broker answered NOT_ENOUGH_REPLICAS (19): isr has 1 member, min_insync_replicas is 2"
        );
    }

    fn retrying(partition: u32, attempts: u32, failing_for: Duration) -> RetryingPartition {
        RetryingPartition {
            topic_partition: TopicPartition::new("t", partition),
            attempts,
            last_error: not_enough_replicas(),
            failing_for,
        }
    }

    #[test]
    fn the_retry_notice_names_the_partition_its_error_and_the_others() {
        assert_eq!(retry_notice(&[], 4000), None);
        // A blip (a leader found again at once) is not reported.
        let blip = retrying(0, 1, Duration::from_millis(200));
        assert_eq!(retry_notice(std::slice::from_ref(&blip), 4000), None);
        let long = retrying(1, 12, Duration::from_millis(3040));
        assert_eq!(
            retry_notice(&[blip, long.clone()], 4000).unwrap(),
            "retrying: t-1 failed 12 attempts in 3.0 s, the last with: produce to t-0 on broker \
             1: broker answered NOT_ENOUGH_REPLICAS (19): isr has 1 member, min_insync_replicas \
             is 2; records fail after --delivery-timeout-ms 4000"
        );
        let others = [long.clone(), retrying(2, 1, Duration::from_secs(1)), long];
        let notice = retry_notice(&others, 4000).unwrap();
        assert!(
            notice.starts_with("retrying: t-1 failed 12 attempts"),
            "{notice}"
        );
        assert!(
            notice.contains("is 2; 2 other partitions retrying too; records fail after"),
            "{notice}"
        );
    }

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
