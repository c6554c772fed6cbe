//! `ringlog consume TOPIC`: one record value per line on stdout (`null` for a null value),
//! optionally preceded by its key and `--key-separator`.
//!
//! It reads every partition of the topic, or `--partition`, starting from `--offset`, else the
//! group's committed offset (`--group`), else the log start (`--from-beginning`) or the high
//! watermark (only records produced from now on, Kafka's default). It stops after
//! `--max-records` or once no record came for `--timeout-ms`. The count consumed goes to
//! stderr.
//!
//! `--group` without `--partition` joins the group (the consumer subscribes): the group's
//! members share the topic's partitions, and a member's partitions go to the others when it
//! leaves or, killed, once its `--session-timeout-ms` passed (the others learn of it at their
//! next heartbeat, every `--heartbeat-interval-ms`). Its positions are committed every
//! 5 s, on each rebalance and at exit; stdout is flushed before each poll, so a commit never
//! covers a record not yet written out. `--group` with `--partition` reads that partition alone
//! from the group's offset (assign mode). Either way, at exit the offset after the last record
//! printed of each partition read is committed (records fetched but not printed are not).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::builder::NonEmptyStringValueParser;
use ringlog_client::{ConsumerConfig, ConsumerRecord, Offset, OffsetReset, TopicPartition};

use super::client::{Bootstrap, IdlePolls, connect, flat, partitions, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    topic: String,
    /// Read only this partition (default: every partition of the topic).
    #[arg(long)]
    partition: Option<u32>,
    /// Without a committed offset, start at the log start (default: at the high watermark).
    #[arg(long, conflicts_with = "offset")]
    from_beginning: bool,
    /// Start at this offset of `--partition`, whatever the group committed.
    #[arg(long, requires = "partition")]
    offset: Option<u64>,
    /// Join this consumer group (with `--partition`: start from its committed offset) and
    /// commit where it stopped.
    #[arg(long)]
    group: Option<String>,
    /// As a group member: without a heartbeat for this long, the group gives this consumer's
    /// partitions to the others (the broker allows 6000 to 1800000).
    #[arg(long, default_value_t = 45_000, requires = "group")]
    session_timeout_ms: u64,
    /// As a group member: the time between heartbeats, below `--session-timeout-ms` (default:
    /// a third of it, at most 3000). A member learns of a rebalance at its next heartbeat.
    #[arg(long, requires = "group", value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_interval_ms: Option<u64>,
    /// Stop after this many records.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_records: Option<u64>,
    /// Stop once no record came for this long.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print each record's key (`null` when null), this string, then its value.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    key_separator: Option<String>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(consume(args))
}

async fn consume(args: Args) -> Result<()> {
    let heartbeat_interval = heartbeat_interval(&args)?;
    let client = connect(&args.bootstrap).await?;
    let assigned = partitions(&client, &args.topic, args.partition).await?;
    let session_timeout = Duration::from_millis(args.session_timeout_ms);
    let consumer = client.consumer(ConsumerConfig {
        group: args.group.clone(),
        auto_offset_reset: if args.from_beginning {
            OffsetReset::Earliest
        } else {
            OffsetReset::Latest
        },
        session_timeout,
        heartbeat_interval,
        ..ConsumerConfig::default()
    });
    let subscribed = args.group.is_some() && args.partition.is_none();
    if subscribed {
        consumer.subscribe(&[&args.topic]).await.map_err(flat)?;
    } else {
        consumer.assign(&assigned).await.map_err(flat)?;
    }
    if let Some(offset) = args.offset {
        consumer
            .seek(&assigned[0], Offset(offset))
            .await
            .map_err(flat)?;
    }
    let mut out = BufWriter::new(std::io::stdout());
    // The offset after the last record printed, per partition: what a commit may say.
    let mut printed_upto: BTreeMap<TopicPartition, Offset> = BTreeMap::new();
    let mut consumed = 0u64;
    let mut polls = IdlePolls::new(Duration::from_millis(args.timeout_ms));
    // The first record not printed of each partition of a batch cut by `--max-records`.
    let mut unprinted: BTreeMap<TopicPartition, Offset> = BTreeMap::new();
    'polls: while let Some(records) = polls.next(&consumer).await? {
        let mut records = records.into_iter();
        for record in records.by_ref() {
            write_record(&mut out, &record, args.key_separator.as_deref())?;
            let topic_partition = TopicPartition::new(&*record.topic, record.partition);
            printed_upto.insert(topic_partition, Offset(record.offset.0 + 1));
            consumed += 1;
            if args.max_records == Some(consumed) {
                for record in records {
                    let topic_partition = TopicPartition::new(&*record.topic, record.partition);
                    unprinted.entry(topic_partition).or_insert(record.offset);
                }
                break 'polls;
            }
        }
        out.flush()?;
    }
    out.flush()?;
    match (&args.group, subscribed) {
        (Some(_), true) => {
            // `close` commits the positions: move those past unprinted records back first.
            for (topic_partition, offset) in unprinted {
                consumer
                    .seek(&topic_partition, offset)
                    .await
                    .map_err(flat)?;
            }
            consumer.close().await.map_err(flat)?;
        }
        (Some(_), false) if !printed_upto.is_empty() => {
            let offsets: Vec<(TopicPartition, Offset)> = printed_upto.into_iter().collect();
            consumer.commit_offsets(&offsets).await.map_err(flat)?;
        }
        _ => {}
    }
    eprintln!(
        "consumed {consumed} record{}",
        if consumed == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `--heartbeat-interval-ms`, checked here: the broker never learns it.
fn heartbeat_interval(args: &Args) -> Result<Duration> {
    let session_ms = args.session_timeout_ms;
    match args.heartbeat_interval_ms {
        Some(ms) if ms >= session_ms => {
            bail!("--heartbeat-interval-ms {ms} is not below --session-timeout-ms {session_ms}")
        }
        Some(ms) => Ok(Duration::from_millis(ms)),
        // Kafka's advice: a third of the session timeout at most.
        None => Ok((Duration::from_millis(session_ms) / 3).min(Duration::from_secs(3))),
    }
}

fn write_record(
    out: &mut impl Write,
    record: &ConsumerRecord,
    key_separator: Option<&str>,
) -> std::io::Result<()> {
    const NULL: &[u8] = b"null";
    if let Some(separator) = key_separator {
        out.write_all(record.key.as_deref().unwrap_or(NULL))?;
        out.write_all(separator.as_bytes())?;
    }
    out.write_all(record.value.as_deref().unwrap_or(NULL))?;
    out.write_all(b"\n")
}
