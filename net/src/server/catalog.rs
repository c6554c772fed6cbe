//! The broker's topics: names, partition counts and topic configs, persisted in the data
//! directory so a restart serves the same topics.
//!
//! Layout under `data_dir`:
//!
//! | path                          | what                                                   |
//! |-------------------------------|--------------------------------------------------------|
//! | `__topics/<topic>.topic`      | the topic: `partitions=N`, then `config.<key>=<value>` lines; written atomically |
//! | `<topic>-<partition>/`        | one partition's log (the engine's directory, Kafka's naming) |
//!
//! Shared by the shards behind a lock: topic changes and metadata lookups are rare next to
//! produces and fetches, which go to the partition's owner shard and never take it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ringlog_replication::TopicPartition;

use crate::wire::ErrorCode;

/// Topic names ringlog accepts: Kafka's rules.
pub const TOPIC_NAME_MAX_LEN: usize = 249;
/// Partitions one topic may have at most.
pub const PARTITIONS_PER_TOPIC_MAX: u32 = 10_000;
const TOPICS_DIR: &str = "__topics";
const TOPIC_FILE_SUFFIX: &str = ".topic";

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicEntry {
    pub partitions: u32,
    /// Topic-level configs as set (key, value); the broker defaults fill the rest.
    pub configs: BTreeMap<String, String>,
}

/// A refused topic change, as the protocol reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CatalogError {
    pub code: ErrorCode,
    pub message: String,
}

impl CatalogError {
    fn new(code: ErrorCode, message: String) -> CatalogError {
        CatalogError { code, message }
    }
}

/// The topics of one broker.
#[derive(Debug)]
pub struct Catalog {
    data_dir: PathBuf,
    topics: BTreeMap<String, TopicEntry>,
}

impl Catalog {
    /// Loads the topics persisted under `data_dir` (creating it when missing).
    pub fn load(data_dir: &Path) -> io::Result<Catalog> {
        let topics_dir = data_dir.join(TOPICS_DIR);
        fs::create_dir_all(&topics_dir)?;
        let mut topics = BTreeMap::new();
        for entry in fs::read_dir(&topics_dir)? {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(TOPIC_FILE_SUFFIX))
            else {
                continue;
            };
            let text = fs::read_to_string(&path)?;
            let topic = parse_topic(&text).map_err(|reason| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("topic file {}: {reason}", path.display()),
                )
            })?;
            topics.insert(name.to_string(), topic);
        }
        Ok(Catalog {
            data_dir: data_dir.to_path_buf(),
            topics,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn topic(&self, name: &str) -> Option<&TopicEntry> {
        self.topics.get(name)
    }

    pub fn topics(&self) -> impl Iterator<Item = (&String, &TopicEntry)> {
        self.topics.iter()
    }

    /// Whether `topic_partition` exists.
    pub fn contains(&self, topic_partition: &TopicPartition) -> bool {
        self.topic(&topic_partition.topic)
            .is_some_and(|t| topic_partition.partition < t.partitions)
    }

    /// Every partition of every topic.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.topics
            .iter()
            .flat_map(|(name, t)| (0..t.partitions).map(|p| TopicPartition::new(name.clone(), p)))
            .collect()
    }

    /// The directory of a partition's log.
    pub fn partition_dir(&self, topic_partition: &TopicPartition) -> PathBuf {
        partition_dir(&self.data_dir, topic_partition)
    }

    /// Creates a topic (persisted before this returns). `validate_only` checks and changes
    /// nothing.
    pub fn create(
        &mut self,
        name: &str,
        partitions: u32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), CatalogError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(CatalogError::new(
                ErrorCode::TOPIC_ALREADY_EXISTS,
                format!("topic {name} already exists"),
            ));
        }
        if partitions == 0 || partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(CatalogError::new(
                ErrorCode::INVALID_PARTITIONS,
                format!(
                    "topic {name}: {partitions} partitions requested, expected 1 to {PARTITIONS_PER_TOPIC_MAX}"
                ),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let topic = TopicEntry {
            partitions,
            configs,
        };
        self.persist(name, &topic)
            .map_err(|e| storage_error(name, &e))?;
        self.topics.insert(name.to_string(), topic);
        Ok(())
    }

    /// Replaces a topic's configs (persisted before this returns).
    pub fn set_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), CatalogError> {
        let mut topic = self.existing(name)?.clone();
        topic.configs = configs;
        self.persist(name, &topic)
            .map_err(|e| storage_error(name, &e))?;
        self.topics.insert(name.to_string(), topic);
        Ok(())
    }

    /// Deletes a topic from the catalog; the owner shards delete the partitions' logs.
    pub fn delete(&mut self, name: &str) -> Result<TopicEntry, CatalogError> {
        self.existing(name)?;
        let path = self.topic_file(name);
        fs::remove_file(&path).map_err(|e| storage_error(name, &e))?;
        Ok(self.topics.remove(name).expect("checked"))
    }

    fn existing(&self, name: &str) -> Result<&TopicEntry, CatalogError> {
        self.topics.get(name).ok_or_else(|| {
            CatalogError::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("unknown topic {name}"),
            )
        })
    }

    fn topic_file(&self, name: &str) -> PathBuf {
        self.data_dir
            .join(TOPICS_DIR)
            .join(format!("{name}{TOPIC_FILE_SUFFIX}"))
    }

    fn persist(&self, name: &str, topic: &TopicEntry) -> Result<(), ringlog_engine::Error> {
        let mut text = format!("partitions={}\n", topic.partitions);
        for (key, value) in &topic.configs {
            text.push_str(&format!("config.{key}={value}\n"));
        }
        ringlog_engine::checkpoint::write_atomic(&self.topic_file(name), text.as_bytes())
    }
}

/// The directory of a partition's log under `data_dir`: `<topic>-<partition>`.
pub fn partition_dir(data_dir: &Path, topic_partition: &TopicPartition) -> PathBuf {
    data_dir.join(topic_partition.to_string())
}

fn parse_topic(text: &str) -> Result<TopicEntry, String> {
    let mut partitions = None;
    let mut configs = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {line:?} is not key=value"))?;
        if key == "partitions" {
            let count = value
                .parse()
                .map_err(|_| format!("partitions {value:?} is not a number"))?;
            partitions = Some(count);
        } else if let Some(config) = key.strip_prefix("config.") {
            configs.insert(config.to_string(), value.to_string());
        } else {
            return Err(format!("unknown key {key:?}"));
        }
    }
    let partitions = partitions.ok_or("no partitions line")?;
    Ok(TopicEntry {
        partitions,
        configs,
    })
}

/// Kafka's topic name rules: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), CatalogError> {
    let invalid = |why: &str| {
        Err(CatalogError::new(
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!("invalid topic name {name:?}: {why}"),
        ))
    };
    if name.is_empty() || name.len() > TOPIC_NAME_MAX_LEN {
        return invalid(&format!(
            "length {} is not 1 to {TOPIC_NAME_MAX_LEN}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return invalid("it names a directory");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return invalid(&format!("character {c:?} is not one of a-z A-Z 0-9 . _ -"));
    }
    Ok(())
}

fn storage_error(name: &str, error: &dyn std::fmt::Display) -> CatalogError {
    CatalogError::new(
        ErrorCode::KAFKA_STORAGE_ERROR,
        format!("topic {name}: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::load(dir.path()).unwrap();
        let configs = BTreeMap::from([("retention_ms".to_string(), "1000".to_string())]);
        catalog.create("orders", 3, configs.clone(), false).unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        assert_eq!(
            catalog.topic("orders"),
            Some(&TopicEntry {
                partitions: 3,
                configs
            })
        );
    }

    #[test]
    fn a_topic_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::load(dir.path()).unwrap();
        catalog.create("t", 1, BTreeMap::new(), false).unwrap();
        let error = catalog.create("t", 1, BTreeMap::new(), false).unwrap_err();
        assert_eq!(error.code, ErrorCode::TOPIC_ALREADY_EXISTS);
    }

    #[test]
    fn bad_names_and_counts_are_refused_with_kafkas_codes() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::load(dir.path()).unwrap();
        let bad_name = catalog
            .create("a/b", 1, BTreeMap::new(), false)
            .unwrap_err();
        assert_eq!(bad_name.code, ErrorCode::INVALID_TOPIC_EXCEPTION);
        assert_eq!(
            bad_name.message,
            "invalid topic name \"a/b\": character '/' is not one of a-z A-Z 0-9 . _ -"
        );
        let zero = catalog.create("t", 0, BTreeMap::new(), false).unwrap_err();
        assert_eq!(zero.code, ErrorCode::INVALID_PARTITIONS);
        assert!(catalog.topic("t").is_none());
    }

    #[test]
    fn a_deleted_topic_is_gone_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::load(dir.path()).unwrap();
        catalog.create("t", 2, BTreeMap::new(), false).unwrap();
        catalog.delete("t").unwrap();
        assert!(Catalog::load(dir.path()).unwrap().topic("t").is_none());
    }
}
