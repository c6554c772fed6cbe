//! `ringlog group`: list, describe and delete consumer groups, and reset their committed
//! offsets, through the client's `Admin` (what `kafka-consumer-groups.sh` does).
//!
//! - `list`: every broker's groups, merged (each broker lists the groups it coordinates).
//! - `describe G`: the group's state and members (client id, host, assigned partitions), and
//!   per partition committed to or assigned: the committed offset, the log end (the high
//!   watermark, what a consumer can read up to, from ListOffsets) and the lag between them.
//!   A value nobody gave is `null` in JSON and `-` in text.
//! - `delete G`: refused by the coordinator while the group has members (NON_EMPTY_GROUP).
//! - `reset-offsets G --topic T --to-earliest | --to-latest | --to-offset N`: prints the
//!   offsets each partition of T would be set to and, with `--execute`, commits them. Like
//!   Kafka's tool it refuses a group with members (they would overwrite the reset with their
//!   next commit), and clamps `--to-offset` into each partition's log.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use clap::Subcommand;
use ringlog_client::{Client, ConsumerConfig, GroupDescription, Offset, TopicPartition};
use serde::Serialize;

use super::client::{Bootstrap, connect, counted, flat, partitions, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every group of the cluster with its state.
    List {
        /// Print one JSON object instead of one group per line.
        #[arg(long)]
        json: bool,
    },
    /// Describe a group: state, members, and per partition committed offset, log end and lag.
    Describe {
        group: String,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a group with no members, and its committed offsets.
    Delete { group: String },
    /// Set a group's committed offsets of a topic (dry run unless `--execute`).
    ResetOffsets(ResetArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("to").required(true)))]
struct ResetArgs {
    group: String,
    /// Every partition of this topic.
    #[arg(long)]
    topic: String,
    /// To each partition's log start offset.
    #[arg(long, group = "to")]
    to_earliest: bool,
    /// To each partition's high watermark.
    #[arg(long, group = "to")]
    to_latest: bool,
    /// To this offset, clamped into each partition's log.
    #[arg(long, group = "to")]
    to_offset: Option<u64>,
    /// Commit the offsets; without it, only print them.
    #[arg(long)]
    execute: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// `group describe --json`.
#[derive(Serialize, Debug)]
struct Description {
    group: String,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<MemberReport>,
    partitions: Vec<PartitionReport>,
}

#[derive(Serialize, Debug)]
struct MemberReport {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    assignment: Vec<PartitionName>,
}

#[derive(Serialize, Debug)]
struct PartitionName {
    topic: String,
    partition: u32,
}

#[derive(Serialize, Debug)]
struct PartitionReport {
    topic: String,
    partition: u32,
    committed_offset: Option<u64>,
    log_end_offset: Option<u64>,
    lag: Option<u64>,
    /// The member it is assigned to.
    member_id: Option<String>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(&args.bootstrap).await?;
        match args.command {
            Command::List { json } => list(&client, json).await,
            Command::Describe { group, json } => describe(&client, &group, json).await,
            Command::Delete { group } => {
                client.admin().delete_group(&group).await.map_err(flat)?;
                println!("deleted group {group}");
                Ok(())
            }
            Command::ResetOffsets(reset) => reset_offsets(&client, reset).await,
        }
    })
}

async fn list(client: &Client, json: bool) -> Result<()> {
    let groups = client.admin().list_groups().await.map_err(flat)?;
    if json {
        let groups: Vec<_> = groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "group": g.group_id, "state": g.state, "protocol_type": g.protocol_type,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "groups": groups }));
    } else {
        for group in groups {
            let protocol_type = if group.protocol_type.is_empty() {
                "-"
            } else {
                &group.protocol_type
            };
            println!("{} {} {protocol_type}", group.group_id, group.state);
        }
    }
    Ok(())
}

async fn describe(client: &Client, group: &str, json: bool) -> Result<()> {
    let admin = client.admin();
    let description = admin.describe_group(group).await.map_err(flat)?;
    let committed = admin.group_offsets(group).await.map_err(flat)?;
    let owners: BTreeMap<TopicPartition, String> = description
        .members
        .iter()
        .flat_map(|m| {
            m.assignment
                .iter()
                .map(|tp| (tp.clone(), m.member_id.clone()))
        })
        .collect();
    let shown: BTreeSet<TopicPartition> = committed.keys().chain(owners.keys()).cloned().collect();
    let shown: Vec<TopicPartition> = shown.into_iter().collect();
    let log_ends = log_ends(client, &shown).await?;
    let report = Description::new(description, &shown, &committed, &log_ends, &owners);
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// Each partition's high watermark; a partition whose leader does not answer is left out.
async fn log_ends(
    client: &Client,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, Offset>> {
    marks(client, partitions, Mark::End).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Start,
    End,
}

/// Each partition's log start offset or high watermark, from ListOffsets to its leader (a
/// consumer with no group, assigned the partitions, moved to their start or end).
async fn marks(
    client: &Client,
    partitions: &[TopicPartition],
    mark: Mark,
) -> Result<BTreeMap<TopicPartition, Offset>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let consumer = client.consumer(ConsumerConfig::default());
    consumer.assign(partitions).await.map_err(flat)?;
    match mark {
        Mark::Start => consumer.seek_to_beginning(&[]).await,
        Mark::End => consumer.seek_to_end(&[]).await,
    }
    .map_err(flat)?;
    let mut found = BTreeMap::new();
    for topic_partition in partitions {
        if let Some(offset) = consumer.position(topic_partition).await.map_err(flat)? {
            found.insert(topic_partition.clone(), offset);
        }
    }
    Ok(found)
}

impl Description {
    fn new(
        description: GroupDescription,
        shown: &[TopicPartition],
        committed: &BTreeMap<TopicPartition, Offset>,
        log_ends: &BTreeMap<TopicPartition, Offset>,
        owners: &BTreeMap<TopicPartition, String>,
    ) -> Description {
        let partitions = shown
            .iter()
            .map(|tp| {
                let committed = committed.get(tp).map(|o| o.0);
                let log_end = log_ends.get(tp).map(|o| o.0);
                PartitionReport {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    committed_offset: committed,
                    log_end_offset: log_end,
                    lag: committed
                        .zip(log_end)
                        .map(|(committed, end)| end.saturating_sub(committed)),
                    member_id: owners.get(tp).cloned(),
                }
            })
            .collect();
        let members = description
            .members
            .into_iter()
            .map(|m| MemberReport {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                assignment: m
                    .assignment
                    .into_iter()
                    .map(|tp| PartitionName {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                    })
                    .collect(),
            })
            .collect();
        Description {
            group: description.group_id,
            state: description.state,
            protocol_type: description.protocol_type,
            protocol: description.protocol,
            members,
            partitions,
        }
    }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn print_text(d: &Description) {
    let members = counted(d.members.len() as u64, "member");
    let protocol = match (d.protocol_type.as_str(), d.protocol.as_str()) {
        ("", _) => "-".to_string(),
        (kind, "") => kind.to_string(),
        (kind, protocol) => format!("{kind}/{protocol}"),
    };
    println!(
        "group {}: {}, protocol {protocol}, {members}",
        d.group, d.state
    );
    for m in &d.members {
        let assigned: Vec<String> = m
            .assignment
            .iter()
            .map(|p| format!("{}-{}", p.topic, p.partition))
            .collect();
        let assigned = if assigned.is_empty() {
            "-".to_string()
        } else {
            assigned.join(",")
        };
        println!(
            "member {} client_id {} host {}: {assigned}",
            m.member_id, m.client_id, m.client_host
        );
    }
    println!(
        "{:<20} {:>9} {:>16} {:>14} {:>8}  member_id",
        "topic", "partition", "committed_offset", "log_end_offset", "lag"
    );
    for p in &d.partitions {
        println!(
            "{:<20} {:>9} {:>16} {:>14} {:>8}  {}",
            p.topic,
            p.partition,
            or_dash(p.committed_offset),
            or_dash(p.log_end_offset),
            or_dash(p.lag),
            p.member_id.as_deref().unwrap_or("-")
        );
    }
}

async fn reset_offsets(client: &Client, args: ResetArgs) -> Result<()> {
    let admin = client.admin();
    let description = admin.describe_group(&args.group).await.map_err(flat)?;
    if !description.members.is_empty() {
        bail!(
            "group {} has {} (state {}): offsets can be reset only while it has none",
            args.group,
            counted(description.members.len() as u64, "member"),
            description.state
        );
    }
    let partitions = partitions(client, &args.topic, None).await?;
    let starts = marks(client, &partitions, Mark::Start).await?;
    let ends = marks(client, &partitions, Mark::End).await?;
    let mut targets: Vec<(TopicPartition, Offset)> = Vec::new();
    for tp in &partitions {
        let (Some(&start), Some(&end)) = (starts.get(tp), ends.get(tp)) else {
            bail!("{tp}: its leader did not answer ListOffsets");
        };
        let target = match args.to_offset {
            Some(offset) => Offset(offset.clamp(start.0, end.0)),
            None if args.to_earliest => start,
            None => end,
        };
        targets.push((tp.clone(), target));
    }
    if args.execute {
        let consumer = client.consumer(ConsumerConfig {
            group: Some(args.group.clone()),
            ..ConsumerConfig::default()
        });
        consumer.commit_offsets(&targets).await.map_err(flat)?;
    }
    if args.json {
        let offsets: Vec<_> = targets
            .iter()
            .map(|(tp, offset)| {
                serde_json::json!({ "topic": tp.topic.to_string(), "partition": tp.partition, "offset": offset.0 })
            })
            .collect();
        let report = serde_json::json!({
            "group": args.group, "executed": args.execute, "offsets": offsets,
        });
        println!("{report}");
        return Ok(());
    }
    println!("{:<20} {:>9} {:>10}", "topic", "partition", "new_offset");
    for (tp, offset) in &targets {
        println!("{:<20} {:>9} {:>10}", tp.topic, tp.partition, offset.0);
    }
    if args.execute {
        println!("reset the offsets of group {}", args.group);
    } else {
        println!("dry run: nothing committed (add --execute to commit)");
    }
    Ok(())
}
