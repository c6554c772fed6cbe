//! `ringlog topic`: create, list, describe and delete topics, and alter their configs, through
//! the client's `Admin`.
//!
//! `describe` reports, per partition, what Metadata says (leader, leader epoch, replicas, ISR,
//! offline replicas) and what the leader's Fetch answer says (log start offset, high watermark,
//! log end offset; see [`super::partition_offsets`]), and the topic's config keys set on it (not
//! the broker's defaults). A value nobody gave is `null` in JSON and `-` in text: a mark whose
//! leader is unknown or did not answer (with a warning on stderr), and `leader_epoch` when
//! Metadata carries none (today's single broker reports none).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clap::Subcommand;
use ringlog_client::{Client, TopicDescription};
use serde::Serialize;

use super::client::{Bootstrap, connect, counted, flat, parse_key_value, runtime};
use super::partition_offsets::{Marks, partition_marks};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a topic.
    Create(CreateArgs),
    /// List the names of every topic.
    List {
        /// Print one JSON object instead of one name per line.
        #[arg(long)]
        json: bool,
    },
    /// Describe a topic: partitions, leaders, replicas, ISR, offsets, configs.
    Describe {
        name: String,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic and its data.
    Delete { name: String },
    /// Set config keys of a topic, or reset them to the broker's defaults.
    AlterConfig(AlterConfigArgs),
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    name: String,
    /// Partitions [default: the broker's `num_partitions`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    partitions: Option<u32>,
    /// Replicas of each partition [default: the broker's `default_replication_factor`].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=i64::from(i16::MAX)))]
    replication_factor: Option<u16>,
    /// A topic config key (`retention_ms=86400000`); repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    configs: Vec<(String, String)>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("changes").required(true).multiple(true)))]
struct AlterConfigArgs {
    name: String,
    /// A key to set (`retention_ms=86400000`); repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value, group = "changes")]
    configs: Vec<(String, String)>,
    /// A key to reset to the broker's default; repeat for more.
    #[arg(long = "delete-config", value_name = "KEY", group = "changes")]
    delete_configs: Vec<String>,
}

/// `topic describe --json`.
#[derive(Serialize, Debug)]
struct Description {
    name: String,
    /// The topic's id (Kafka's form); `null` for a topic created before topic ids.
    topic_id: Option<String>,
    partitions: Vec<PartitionReport>,
    /// The keys set on the topic, not the broker's defaults.
    configs: BTreeMap<String, Option<String>>,
}

#[derive(Serialize, Debug)]
struct PartitionReport {
    partition: u32,
    leader: Option<u32>,
    leader_epoch: Option<u32>,
    replicas: Vec<u32>,
    isr: Vec<u32>,
    offline_replicas: Vec<u32>,
    log_start_offset: Option<u64>,
    high_watermark: Option<u64>,
    log_end_offset: Option<u64>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(&args.bootstrap).await?;
        match args.command {
            Command::Create(create) => create_topic(&client, create).await,
            Command::List { json } => list(&client, json).await,
            Command::Describe { name, json } => {
                describe(&client, &args.bootstrap, &name, json).await
            }
            Command::Delete { name } => {
                client.admin().delete_topic(&name).await.map_err(flat)?;
                println!("deleted topic {name}");
                Ok(())
            }
            Command::AlterConfig(alter) => alter_config(&client, alter).await,
        }
    })
}

async fn create_topic(client: &Client, args: CreateArgs) -> Result<()> {
    let configs: Vec<(&str, &str)> = args
        .configs
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    client
        .admin()
        .create_topic(
            &args.name,
            args.partitions,
            args.replication_factor,
            &configs,
        )
        .await
        .map_err(flat)?;
    println!(
        "created topic {} ({})",
        args.name,
        shape(client, &args).await
    );
    Ok(())
}

/// The created topic's partitions and replication factor: as given, and for a count left to
/// the broker's default, as Metadata now describes the topic (CreateTopics v0 does not say).
async fn shape(client: &Client, args: &CreateArgs) -> String {
    let mut partitions = args.partitions.map(|p| p.to_string());
    let mut replication_factor = args.replication_factor.map(|r| r.to_string());
    if partitions.is_none() || replication_factor.is_none() {
        // The broker that answered Metadata may not have applied the creation yet: then the
        // defaults are said to be the broker's, not guessed.
        if let Ok(described) = client.admin().describe_topics(&[&args.name]).await
            && let Some(topic) = described.first().filter(|t| !t.partitions.is_empty())
        {
            partitions.get_or_insert_with(|| topic.partitions.len().to_string());
            replication_factor
                .get_or_insert_with(|| topic.partitions[0].replicas.len().to_string());
        }
    }
    let or_default = |count: Option<String>| count.unwrap_or_else(|| "the broker's default".into());
    format!(
        "partitions {}, replication factor {}",
        or_default(partitions),
        or_default(replication_factor)
    )
}

async fn list(client: &Client, json: bool) -> Result<()> {
    let topics = client.admin().list_topics().await.map_err(flat)?;
    if json {
        println!("{}", serde_json::json!({ "topics": topics }));
    } else {
        for topic in topics {
            println!("{topic}");
        }
    }
    Ok(())
}

async fn describe(client: &Client, bootstrap: &Bootstrap, name: &str, json: bool) -> Result<()> {
    let admin = client.admin();
    let Some(topic) = admin.describe_topics(&[name]).await.map_err(flat)?.pop() else {
        bail!("describe topic {name}: the broker did not describe it");
    };
    let leaders = topic
        .partitions
        .iter()
        .filter_map(|p| Some((p.partition, p.leader?)))
        .collect();
    let tls = bootstrap.tls()?;
    let marks = partition_marks(&bootstrap.addresses, tls.as_ref(), name, &leaders).await?;
    let configs = admin
        .describe_configs(name, None)
        .await
        .map_err(flat)?
        .into_iter()
        .filter(|entry| !entry.is_default)
        .map(|entry| (entry.name, entry.value))
        .collect();
    let description = Description::new(topic, &marks, configs);
    if json {
        println!("{}", serde_json::to_string(&description)?);
    } else {
        print_text(&description);
    }
    Ok(())
}

impl Description {
    fn new(
        topic: TopicDescription,
        marks: &BTreeMap<u32, Marks>,
        configs: BTreeMap<String, Option<String>>,
    ) -> Description {
        let ids = |ids: &[ringlog_client::BrokerId]| ids.iter().map(|id| id.0).collect();
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let marks = marks.get(&p.partition);
                PartitionReport {
                    partition: p.partition,
                    leader: p.leader.map(|id| id.0),
                    leader_epoch: p.leader_epoch.map(|epoch| epoch.0),
                    replicas: ids(&p.replicas),
                    isr: ids(&p.isr),
                    offline_replicas: ids(&p.offline_replicas),
                    log_start_offset: marks.map(|m| m.log_start_offset.0),
                    high_watermark: marks.map(|m| m.high_watermark.0),
                    log_end_offset: marks.map(|m| m.log_end_offset.0),
                }
            })
            .collect();
        Description {
            topic_id: topic.topic_id.map(|id| id.to_string()),
            name: topic.name,
            partitions,
            configs,
        }
    }
}

fn print_text(d: &Description) {
    fn or_dash<T: ToString>(value: Option<T>) -> String {
        value.map_or_else(|| "-".to_string(), |v| v.to_string())
    }
    fn list(ids: &[u32]) -> String {
        let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
        if ids.is_empty() {
            "-".to_string()
        } else {
            ids.join(",")
        }
    }
    let partitions = counted(d.partitions.len() as u64, "partition");
    let id = d.topic_id.as_deref().unwrap_or("none");
    println!("topic {}: {partitions}, id {id}", d.name);
    println!(
        "{:>9} {:>6} {:>12} {:>10} {:>10} {:>16} {:>14} {:>14}",
        "partition",
        "leader",
        "leader_epoch",
        "replicas",
        "isr",
        "log_start_offset",
        "high_watermark",
        "log_end_offset"
    );
    for p in &d.partitions {
        println!(
            "{:>9} {:>6} {:>12} {:>10} {:>10} {:>16} {:>14} {:>14}",
            p.partition,
            or_dash(p.leader),
            or_dash(p.leader_epoch),
            list(&p.replicas),
            list(&p.isr),
            or_dash(p.log_start_offset),
            or_dash(p.high_watermark),
            or_dash(p.log_end_offset)
        );
    }
    for (key, value) in &d.configs {
        println!("config {key}={}", value.as_deref().unwrap_or("null"));
    }
}

async fn alter_config(client: &Client, args: AlterConfigArgs) -> Result<()> {
    let mut changes: Vec<(&str, Option<&str>)> = args
        .configs
        .iter()
        .map(|(key, value)| (key.as_str(), Some(value.as_str())))
        .collect();
    changes.extend(args.delete_configs.iter().map(|key| (key.as_str(), None)));
    client
        .admin()
        .alter_configs(&args.name, &changes)
        .await
        .map_err(flat)?;
    println!(
        "altered configs of topic {}: {} set, {} reset",
        args.name,
        args.configs.len(),
        args.delete_configs.len()
    );
    Ok(())
}
