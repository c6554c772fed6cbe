//! `ringlog verifiable-consumer TOPIC`: reads every partition of the topic and prints one JSON
//! line per record, for tests that check what was read against what `verifiable-producer` saw
//! acknowledged:
//!
//! ```text
//! {"event":"record","partition":0,"offset":17,"value":"17"}
//! {"event":"offsets_committed","offsets":[{"partition":0,"offset":18}]}
//! ```
//!
//! It starts from the group's committed offsets (`--group`), else the log start. With a group
//! it commits after each poll, once that poll's records are printed, and says so with an
//! `offsets_committed` line (each offset is the next one to read). A value that is not UTF-8
//! is printed lossily; a null value is `null`. It exits 0 once no record came for
//! `--idle-timeout-ms`, with the count on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ringlog_client::{ConsumerConfig, Offset, OffsetReset, TopicPartition};
use serde::Serialize;

use super::client::{Bootstrap, IdlePolls, TopicArg, connect, flat, partitions, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(flatten)]
    topic: TopicArg,
    /// Start from this group's committed offsets and commit after each poll.
    #[arg(long)]
    group: Option<String>,
    /// Stop once no record came for this long.
    #[arg(long, default_value_t = 10_000)]
    idle_timeout_ms: u64,
}

/// One line of output.
#[derive(Serialize, Debug)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Record {
        partition: u32,
        offset: u64,
        value: Option<String>,
    },
    OffsetsCommitted {
        offsets: Vec<CommittedOffset>,
    },
}

#[derive(Serialize, Debug)]
struct CommittedOffset {
    partition: u32,
    offset: u64,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(verifiable_consume(args))
}

async fn verifiable_consume(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    let assigned = partitions(&client, args.topic.name(), None).await?;
    let consumer = client.consumer(ConsumerConfig {
        group: args.group.clone(),
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign(&assigned).await.map_err(flat)?;
    let mut stdout = std::io::stdout();
    let mut consumed = 0u64;
    let mut polls = IdlePolls::new(Duration::from_millis(args.idle_timeout_ms));
    while let Some(records) = polls.next(&consumer).await? {
        let mut lines = String::new();
        let mut next_offsets = BTreeMap::new();
        for record in records {
            next_offsets.insert(record.partition, record.offset.0 + 1);
            let event = Event::Record {
                partition: record.partition,
                offset: record.offset.0,
                value: record
                    .value
                    .map(|value| String::from_utf8_lossy(&value).into_owned()),
            };
            lines += &serde_json::to_string(&event)?;
            lines.push('\n');
            consumed += 1;
        }
        stdout.write_all(lines.as_bytes())?;
        stdout.flush()?;
        if args.group.is_some() {
            let offsets: Vec<(TopicPartition, Offset)> = next_offsets
                .iter()
                .map(|(&partition, &offset)| {
                    (
                        TopicPartition::new(args.topic.name(), partition),
                        Offset(offset),
                    )
                })
                .collect();
            consumer.commit_offsets(&offsets).await.map_err(flat)?;
            let event = Event::OffsetsCommitted {
                offsets: next_offsets
                    .into_iter()
                    .map(|(partition, offset)| CommittedOffset { partition, offset })
                    .collect(),
            };
            writeln!(stdout, "{}", serde_json::to_string(&event)?)?;
            stdout.flush()?;
        }
    }
    eprintln!(
        "consumed {consumed} record{}",
        if consumed == 1 { "" } else { "s" }
    );
    Ok(())
}
