//! `ringlog consume TOPIC`: one record value per line on stdout (`null` for a null value),
//! optionally preceded by its key and `--key-separator`.
//!
//! It reads every partition of the topic, or `--partition`, starting from `--offset`, else the
//! group's committed offset (`--group`), else the log start (`--from-beginning`) or the high
//! watermark (only records produced from now on, Kafka's default). It stops after
//! `--max-records` or once no record came for `--timeout-ms`, then, with `--group`, commits the
//! offset after the last record printed of each partition read (records fetched but not printed
//! are not committed). The count consumed goes to stderr.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::time::Duration;

use anyhow::Result;
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
    /// Start from this group's committed offsets and commit where it stopped.
    #[arg(long)]
    group: Option<String>,
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
    let client = connect(&args.bootstrap).await?;
    let assigned = partitions(&client, &args.topic, args.partition).await?;
    let consumer = client.consumer(ConsumerConfig {
        group: args.group.clone(),
        auto_offset_reset: if args.from_beginning {
            OffsetReset::Earliest
        } else {
            OffsetReset::Latest
        },
        ..ConsumerConfig::default()
    });
    consumer.assign(&assigned).await.map_err(flat)?;
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
    'polls: while let Some(records) = polls.next(&consumer).await? {
        for record in records {
            write_record(&mut out, &record, args.key_separator.as_deref())?;
            let topic_partition = TopicPartition::new(&*record.topic, record.partition);
            printed_upto.insert(topic_partition, Offset(record.offset.0 + 1));
            consumed += 1;
            if args.max_records == Some(consumed) {
                break 'polls;
            }
        }
        out.flush()?;
    }
    out.flush()?;
    if args.group.is_some() && !printed_upto.is_empty() {
        let offsets: Vec<(TopicPartition, Offset)> = printed_upto.into_iter().collect();
        consumer.commit_offsets(&offsets).await.map_err(flat)?;
    }
    eprintln!(
        "consumed {consumed} record{}",
        if consumed == 1 { "" } else { "s" }
    );
    Ok(())
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
