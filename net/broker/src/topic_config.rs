//! A topic's configuration: Kafka's topic-level configs as string key/value pairs, the way
//! CreateTopics, DescribeConfigs and AlterConfigs carry them (`net/PROTOCOL.md` sections 5.3,
//! 5.5 and 5.6), and the typed settings the engine and the replication state machines read.
//!
//! A topic stores only the keys set on it ([`TopicConfig`]); every other key takes the broker's
//! default ([`TopicSettings`], from [`BrokerConfig::topic_defaults`](crate::config::BrokerConfig::topic_defaults)), so changing a broker
//! default changes every topic that did not set the key, as in Kafka.
//!
//! | key                              | value                        | broker default from              | Kafka's key                      |
//! |----------------------------------|------------------------------|----------------------------------|----------------------------------|
//! | `cleanup_policy`                 | `delete` (the only one)      | (always `delete`)                | `cleanup.policy`                 |
//! | `flush_interval_ms`              | 1 ..= 2^63-1                 | `log_flush_interval_ms`          | `flush.ms`                       |
//! | `flush_policy`                   | `never`, `always`, `interval` | `log_flush_policy`              | none: `flush.messages`/`flush.ms` |
//! | `index_interval_bytes`           | 1 ..= 2^31-1                 | `log_index_interval_bytes`       | `index.interval.bytes`           |
//! | `max_message_bytes`              | 61 ..= 2^31-1                | `message_max_bytes`              | `max.message.bytes`              |
//! | `min_insync_replicas`            | 1 ..= 65535                  | `min_insync_replicas`            | `min.insync.replicas`            |
//! | `retention_bytes`                | -1 (no limit), 0 ..= 2^63-1  | `log_retention_bytes`            | `retention.bytes`                |
//! | `retention_ms`                   | -1 (forever), 0 ..= 2^63-1   | `log_retention_ms`               | `retention.ms`                   |
//! | `segment_bytes`                  | 61 ..= 2^31-1                | `log_segment_bytes`              | `segment.bytes`                  |
//! | `segment_ms`                     | 1 ..= 2^63-1                 | `log_roll_ms`                    | `segment.ms`                     |
//! | `unclean_leader_election_enable` | `true`, `false`              | `unclean_leader_election_enable` | `unclean.leader.election.enable` |
//!
//! The keys are listed, described and persisted in this (alphabetical) order.
//!
//! - Parsing: [`TopicConfig::from_pairs`] (CreateTopics), [`TopicConfig::parse_pair`] (a
//!   command line's `key=value`). A bad key or value is a [`TopicConfigError`] naming the key,
//!   the value and what is allowed; at the protocol level every one is INVALID_CONFIG
//!   ([`TopicConfigError::kafka_error`]).
//! - Changing: [`TopicConfig::altered`] (AlterConfigs: a value sets a key, `None` resets it to
//!   the broker default, keys not named keep their values; validated whole, applied whole).
//! - Describing: [`TopicConfig::describe`] (DescribeConfigs: every key, or the keys asked for,
//!   with its effective value and whether it is the broker's default).
//! - Persisting: [`TopicConfig::to_toml`] / [`TopicConfig::from_toml`], for a file in the
//!   topic's directory.
//! - Using: [`TopicSettings::log_config`] (the engine's [`LogConfig`]) and
//!   [`TopicSettings::controller_config`] (the controller's view); the leader's
//!   [`LeaderConfig`](ringlog_replication::partition::leader::LeaderConfig) comes from
//!   [`BrokerConfig::leader_config`](crate::config::BrokerConfig::leader_config).
//!
//! Values are canonicalized when set (`"0100"` is stored as `"100"`, `"TRUE"` as `"true"`), so
//! DescribeConfigs shows what the broker understood.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ringlog_engine::format::HEADER_LEN;
use ringlog_engine::{FlushPolicy, IoBackendKind, LogConfig};
use ringlog_replication::KafkaError;
use ringlog_replication::controller::TopicConfig as ControllerTopicConfig;

use crate::int_rule::IntRule;

/// `retention_ms`: -1 keeps records forever.
pub(crate) const RETENTION_MS: IntRule = IntRule::with_sentinel(0, i64::MAX, -1, "forever");
/// `retention_bytes`: -1 puts no limit on a partition's size.
pub(crate) const RETENTION_BYTES: IntRule = IntRule::with_sentinel(0, i64::MAX, -1, "no limit");
/// `segment_bytes`: a segment holds at least one batch header; index entries hold 32-bit file
/// positions (the engine's [`LogConfig::validate`] range).
pub(crate) const SEGMENT_BYTES: IntRule = IntRule::new(HEADER_LEN as i64, i32::MAX as i64);
/// `segment_ms`: Kafka's `segment.ms` range.
pub(crate) const SEGMENT_MS: IntRule = IntRule::new(1, i64::MAX);
/// `flush_interval_ms`.
pub(crate) const FLUSH_INTERVAL_MS: IntRule = IntRule::new(1, i64::MAX);
/// `index_interval_bytes`: the engine needs at least one byte between entries.
pub(crate) const INDEX_INTERVAL_BYTES: IntRule = IntRule::new(1, i32::MAX as i64);
/// `max_message_bytes`: a batch is at least its header; frames carry 32-bit lengths.
pub(crate) const MAX_MESSAGE_BYTES: IntRule = IntRule::new(HEADER_LEN as i64, i32::MAX as i64);
/// `min_insync_replicas`: at least 1, as the controller requires; it may exceed the
/// replication factor (then every acks=all produce is refused, as in Kafka).
pub(crate) const MIN_INSYNC_REPLICAS: IntRule = IntRule::new(1, u16::MAX as i64);

/// One topic-level config key.
///
/// Declared in alphabetical order: `Ord` is the order keys are listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TopicConfigKey {
    /// `cleanup_policy`.
    CleanupPolicy,
    /// `flush_interval_ms`.
    FlushIntervalMs,
    /// `flush_policy`.
    FlushPolicy,
    /// `index_interval_bytes`.
    IndexIntervalBytes,
    /// `max_message_bytes`.
    MaxMessageBytes,
    /// `min_insync_replicas`.
    MinInsyncReplicas,
    /// `retention_bytes`.
    RetentionBytes,
    /// `retention_ms`.
    RetentionMs,
    /// `segment_bytes`.
    SegmentBytes,
    /// `segment_ms`.
    SegmentMs,
    /// `unclean_leader_election_enable`.
    UncleanLeaderElectionEnable,
}

/// How a key's value is written in a persisted topic config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TomlKind {
    Integer,
    Boolean,
    String,
}

impl TopicConfigKey {
    /// Every key, in listing order.
    pub const ALL: [TopicConfigKey; 11] = [
        TopicConfigKey::CleanupPolicy,
        TopicConfigKey::FlushIntervalMs,
        TopicConfigKey::FlushPolicy,
        TopicConfigKey::IndexIntervalBytes,
        TopicConfigKey::MaxMessageBytes,
        TopicConfigKey::MinInsyncReplicas,
        TopicConfigKey::RetentionBytes,
        TopicConfigKey::RetentionMs,
        TopicConfigKey::SegmentBytes,
        TopicConfigKey::SegmentMs,
        TopicConfigKey::UncleanLeaderElectionEnable,
    ];

    /// The key as written in requests, files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TopicConfigKey::CleanupPolicy => "cleanup_policy",
            TopicConfigKey::FlushIntervalMs => "flush_interval_ms",
            TopicConfigKey::FlushPolicy => "flush_policy",
            TopicConfigKey::IndexIntervalBytes => "index_interval_bytes",
            TopicConfigKey::MaxMessageBytes => "max_message_bytes",
            TopicConfigKey::MinInsyncReplicas => "min_insync_replicas",
            TopicConfigKey::RetentionBytes => "retention_bytes",
            TopicConfigKey::RetentionMs => "retention_ms",
            TopicConfigKey::SegmentBytes => "segment_bytes",
            TopicConfigKey::SegmentMs => "segment_ms",
            TopicConfigKey::UncleanLeaderElectionEnable => "unclean_leader_election_enable",
        }
    }

    /// The broker config key that gives this key's default.
    pub fn broker_key(self) -> &'static str {
        match self {
            TopicConfigKey::CleanupPolicy => "cleanup_policy",
            TopicConfigKey::FlushIntervalMs => "log_flush_interval_ms",
            TopicConfigKey::FlushPolicy => "log_flush_policy",
            TopicConfigKey::IndexIntervalBytes => "log_index_interval_bytes",
            TopicConfigKey::MaxMessageBytes => "message_max_bytes",
            TopicConfigKey::MinInsyncReplicas => "min_insync_replicas",
            TopicConfigKey::RetentionBytes => "log_retention_bytes",
            TopicConfigKey::RetentionMs => "log_retention_ms",
            TopicConfigKey::SegmentBytes => "log_segment_bytes",
            TopicConfigKey::SegmentMs => "log_roll_ms",
            TopicConfigKey::UncleanLeaderElectionEnable => "unclean_leader_election_enable",
        }
    }

    /// What the key controls, in one line.
    pub fn doc(self) -> &'static str {
        match self {
            TopicConfigKey::CleanupPolicy => {
                "what happens to old segments: delete (ringlog has no compaction)"
            }
            TopicConfigKey::FlushIntervalMs => {
                "with flush_policy = interval, the longest time between two fdatasyncs"
            }
            TopicConfigKey::FlushPolicy => {
                "when appends are fdatasynced: never (rely on replication), always, or interval"
            }
            TopicConfigKey::IndexIntervalBytes => {
                "bytes of batches between two sparse index entries"
            }
            TopicConfigKey::MaxMessageBytes => "the largest record batch accepted, header included",
            TopicConfigKey::MinInsyncReplicas => {
                "the fewest in-sync replicas an acks=all produce needs"
            }
            TopicConfigKey::RetentionBytes => {
                "a partition's oldest segments are deleted while it is larger than this; -1: no limit"
            }
            TopicConfigKey::RetentionMs => {
                "segments whose newest record is older than this are deleted; -1: forever"
            }
            TopicConfigKey::SegmentBytes => "the active segment rolls when it would pass this size",
            TopicConfigKey::SegmentMs => {
                "the active segment rolls when its first batch is older than this"
            }
            TopicConfigKey::UncleanLeaderElectionEnable => {
                "whether a replica outside the isr may lead when no isr member is live (loses data)"
            }
        }
    }

    /// The key named `name`, or an error that names it and suggests ringlog's spelling of a
    /// Kafka name (`retention.ms` is `retention_ms`).
    pub fn from_name(name: &str) -> Result<TopicConfigKey, TopicConfigError> {
        TopicConfigKey::ALL
            .into_iter()
            .find(|key| key.name() == name)
            .ok_or_else(|| TopicConfigError::UnknownKey {
                key: name.to_string(),
                suggestion: suggest(name),
            })
    }

    fn toml_kind(self) -> TomlKind {
        match self {
            TopicConfigKey::CleanupPolicy | TopicConfigKey::FlushPolicy => TomlKind::String,
            TopicConfigKey::UncleanLeaderElectionEnable => TomlKind::Boolean,
            _ => TomlKind::Integer,
        }
    }
}

impl fmt::Display for TopicConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TopicConfigKey {
    type Err = TopicConfigError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TopicConfigKey::from_name(name)
    }
}

/// Kafka's names, and names close to a key, that are not keys: the key to use instead.
const TOPIC_KEY_ALIASES: &[(&str, &str)] = &[
    ("flush_ms", "flush_interval_ms"),
    ("flush_messages", "flush_policy"),
    ("unclean_leader_election", "unclean_leader_election_enable"),
];

/// The key an unknown name probably meant: Kafka's dotted spelling of a key, or an alias.
fn suggest(name: &str) -> Option<&'static str> {
    let normalized = name.trim().to_ascii_lowercase().replace(['.', '-'], "_");
    TopicConfigKey::ALL
        .into_iter()
        .map(TopicConfigKey::name)
        .find(|key| *key == normalized)
        .or_else(|| {
            TOPIC_KEY_ALIASES
                .iter()
                .find(|(alias, _)| *alias == normalized)
                .map(|(_, key)| *key)
        })
}

/// When appended data is fdatasynced: the value of `flush_policy` and the broker's
/// `log_flush_policy`. With `interval`, `flush_interval_ms` gives the interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FlushMode {
    /// Never on append: rely on replication (Kafka's default).
    #[default]
    Never,
    /// Before every append is acknowledged (appends share an fdatasync: group commit).
    Always,
    /// When `flush_interval_ms` has passed since the last one.
    Interval,
}

impl FlushMode {
    /// The value as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushMode::Never => "never",
            FlushMode::Always => "always",
            FlushMode::Interval => "interval",
        }
    }

    /// The engine's policy, with `interval` for [`FlushMode::Interval`].
    pub fn policy(self, interval: Duration) -> FlushPolicy {
        match self {
            FlushMode::Never => FlushPolicy::Never,
            FlushMode::Always => FlushPolicy::Always,
            FlushMode::Interval => FlushPolicy::Interval(interval),
        }
    }

    pub(crate) const ALLOWED: &'static str = "one of never, always, interval";
}

impl FromStr for FlushMode {
    /// What is allowed.
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "never" => Ok(FlushMode::Never),
            "always" => Ok(FlushMode::Always),
            "interval" => Ok(FlushMode::Interval),
            _ => Err(FlushMode::ALLOWED),
        }
    }
}

impl fmt::Display for FlushMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to segments past retention: the value of `cleanup_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CleanupPolicy {
    /// Whole segments past `retention_ms` or `retention_bytes` are deleted.
    #[default]
    Delete,
}

impl CleanupPolicy {
    /// The value as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
        }
    }
}

/// A topic's effective settings: every key's value, from the topic's own config over the
/// broker's defaults. Field names are the keys without their `_ms` unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSettings {
    /// `cleanup_policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `flush_interval_ms`: the interval of [`FlushMode::Interval`].
    pub flush_interval: Duration,
    /// `flush_policy`.
    pub flush_policy: FlushMode,
    /// `index_interval_bytes`.
    pub index_interval_bytes: u32,
    /// `max_message_bytes`: the largest batch, header included.
    pub max_message_bytes: u32,
    /// `min_insync_replicas`.
    pub min_insync_replicas: u16,
    /// `retention_bytes`; `None`: no limit (-1).
    pub retention_bytes: Option<u64>,
    /// `retention_ms`; `None`: forever (-1).
    pub retention: Option<Duration>,
    /// `segment_bytes`.
    pub segment_bytes: u64,
    /// `segment_ms`: the active segment rolls when its first batch is this old.
    pub segment_roll: Duration,
    /// `unclean_leader_election_enable`.
    pub unclean_leader_election_enable: bool,
}

/// 7 days, Kafka's default retention and roll time.
pub(crate) const SEVEN_DAYS: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for TopicSettings {
    /// The settings of a topic that sets nothing on a broker that sets nothing:
    /// `BrokerConfig::default().topic_defaults()`.
    fn default() -> TopicSettings {
        TopicSettings {
            cleanup_policy: CleanupPolicy::Delete,
            flush_interval: Duration::from_millis(1000),
            flush_policy: FlushMode::Never,
            index_interval_bytes: 4096,
            max_message_bytes: 1024 * 1024 + 12,
            min_insync_replicas: 1,
            retention_bytes: None,
            retention: Some(SEVEN_DAYS),
            segment_bytes: 1 << 30,
            segment_roll: SEVEN_DAYS,
            unclean_leader_election_enable: false,
        }
    }
}

impl TopicSettings {
    /// Sets `key` from its string form, or says why the value is not allowed (and changes
    /// nothing). Integers may carry surrounding whitespace, booleans and names any case, as
    /// Kafka accepts them.
    pub fn set(&mut self, key: TopicConfigKey, value: &str) -> Result<(), TopicConfigError> {
        let bad = |allowed: String| TopicConfigError::BadValue {
            key,
            value: value.to_string(),
            allowed,
        };
        let int = |rule: IntRule| -> Result<i64, TopicConfigError> {
            let parsed = value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad(rule.allowed()))?;
            rule.check(parsed).map_err(bad)?;
            Ok(parsed)
        };
        match key {
            TopicConfigKey::CleanupPolicy => match value.trim().to_ascii_lowercase().as_str() {
                "delete" => self.cleanup_policy = CleanupPolicy::Delete,
                _ => return Err(bad("delete (ringlog has no log compaction)".to_string())),
            },
            TopicConfigKey::FlushIntervalMs => {
                self.flush_interval = millis(int(FLUSH_INTERVAL_MS)?);
            }
            TopicConfigKey::FlushPolicy => {
                self.flush_policy = value.parse().map_err(|allowed: &str| bad(allowed.into()))?;
            }
            TopicConfigKey::IndexIntervalBytes => {
                self.index_interval_bytes = narrow(int(INDEX_INTERVAL_BYTES)?);
            }
            TopicConfigKey::MaxMessageBytes => {
                self.max_message_bytes = narrow(int(MAX_MESSAGE_BYTES)?);
            }
            TopicConfigKey::MinInsyncReplicas => {
                self.min_insync_replicas = narrow(int(MIN_INSYNC_REPLICAS)?);
            }
            TopicConfigKey::RetentionBytes => {
                self.retention_bytes = non_negative(int(RETENTION_BYTES)?);
            }
            TopicConfigKey::RetentionMs => {
                self.retention = non_negative(int(RETENTION_MS)?).map(Duration::from_millis);
            }
            TopicConfigKey::SegmentBytes => self.segment_bytes = narrow(int(SEGMENT_BYTES)?),
            TopicConfigKey::SegmentMs => self.segment_roll = millis(int(SEGMENT_MS)?),
            TopicConfigKey::UncleanLeaderElectionEnable => {
                self.unclean_leader_election_enable =
                    parse_bool(value).ok_or_else(|| bad("true or false".to_string()))?;
            }
        }
        Ok(())
    }

    /// `key`'s value in its canonical string form (what DescribeConfigs shows).
    pub fn get(&self, key: TopicConfigKey) -> String {
        match key {
            TopicConfigKey::CleanupPolicy => self.cleanup_policy.as_str().to_string(),
            TopicConfigKey::FlushIntervalMs => render_millis(self.flush_interval).to_string(),
            TopicConfigKey::FlushPolicy => self.flush_policy.as_str().to_string(),
            TopicConfigKey::IndexIntervalBytes => self.index_interval_bytes.to_string(),
            TopicConfigKey::MaxMessageBytes => self.max_message_bytes.to_string(),
            TopicConfigKey::MinInsyncReplicas => self.min_insync_replicas.to_string(),
            TopicConfigKey::RetentionBytes => match self.retention_bytes {
                None => "-1".to_string(),
                Some(bytes) => bytes.to_string(),
            },
            TopicConfigKey::RetentionMs => match self.retention {
                None => "-1".to_string(),
                Some(retention) => render_millis(retention).to_string(),
            },
            TopicConfigKey::SegmentBytes => self.segment_bytes.to_string(),
            TopicConfigKey::SegmentMs => render_millis(self.segment_roll).to_string(),
            TopicConfigKey::UncleanLeaderElectionEnable => {
                self.unclean_leader_election_enable.to_string()
            }
        }
    }

    /// Checks what holds between keys: a batch of `max_message_bytes` must fit in a segment of
    /// `segment_bytes`, or the engine refuses it (`AppendTooLarge`).
    pub fn validate(&self) -> Result<(), TopicConfigError> {
        if u64::from(self.max_message_bytes) > self.segment_bytes {
            return Err(TopicConfigError::Inconsistent {
                message: format!(
                    "max_message_bytes {} is larger than segment_bytes {}: the largest batch \
                     would not fit in a segment",
                    self.max_message_bytes, self.segment_bytes
                ),
            });
        }
        Ok(())
    }

    /// The engine's config for one of the topic's partition logs. The engine's own knobs
    /// (recovery checkpoint interval, write buffer) keep their defaults.
    pub fn log_config(&self, io_backend: IoBackendKind) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            segment_ms: Some(self.segment_roll),
            index_interval_bytes: self.index_interval_bytes,
            max_batch_bytes: self.max_message_bytes,
            flush: self.flush_policy.policy(self.flush_interval),
            retention_ms: self.retention,
            retention_bytes: self.retention_bytes,
            io_backend,
            ..LogConfig::default()
        }
    }

    /// The settings the controller's rules read.
    pub fn controller_config(&self) -> ControllerTopicConfig {
        ControllerTopicConfig {
            min_insync_replicas: self.min_insync_replicas,
            unclean_leader_election: self.unclean_leader_election_enable,
        }
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).expect("checked non-negative by its rule"))
}

fn non_negative(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}

fn narrow<T: TryFrom<i64>>(value: i64) -> T {
    T::try_from(value)
        .ok()
        .expect("checked within the target type by its rule")
}

/// A duration as whole milliseconds, saturating at `i64::MAX` (the largest a key accepts).
pub(crate) fn render_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `true` or `false` in any case, as Kafka's boolean configs.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The keys set on one topic, each with its canonical value; every other key takes the
/// broker's default. Always valid: every way to build or change one validates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<TopicConfigKey, String>,
}

/// One key as DescribeConfigs lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfigEntry {
    /// The key.
    pub key: TopicConfigKey,
    /// The effective value, in canonical form.
    pub value: String,
    /// The value is the broker's default: the topic does not set the key.
    pub is_default: bool,
}

impl TopicConfig {
    /// A config that sets no key.
    pub fn new() -> TopicConfig {
        TopicConfig::default()
    }

    /// The config of a topic being created with these `(key, value)` pairs (CreateTopics'
    /// `configs`), checked against the broker's `defaults` for what holds between keys. A key
    /// given twice is an error.
    pub fn from_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
        defaults: &TopicSettings,
    ) -> Result<TopicConfig, TopicConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let changes = pairs.into_iter().map(|(key, value)| (key, Some(value)));
        TopicConfig::new().altered(changes, defaults)
    }

    /// Splits a command line's `key=value` into a known key and its value (not yet checked).
    pub fn parse_pair(pair: &str) -> Result<(TopicConfigKey, &str), TopicConfigError> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| TopicConfigError::MalformedPair {
                pair: pair.to_string(),
            })?;
        Ok((TopicConfigKey::from_name(key.trim())?, value.trim()))
    }

    /// This config with `changes` applied (AlterConfigs): `Some(value)` sets a key, `None`
    /// resets it to the broker's default, keys not named keep their values. The change is
    /// validated whole (each value, a key named twice, and [`TopicSettings::validate`] on the
    /// result over `defaults`); on error `self` is as it was and nothing is applied.
    pub fn altered<K, V>(
        &self,
        changes: impl IntoIterator<Item = (K, Option<V>)>,
        defaults: &TopicSettings,
    ) -> Result<TopicConfig, TopicConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut next = self.clone();
        let mut named = Vec::new();
        for (name, value) in changes {
            let key = TopicConfigKey::from_name(name.as_ref())?;
            if named.contains(&key) {
                return Err(TopicConfigError::DuplicateKey { key });
            }
            named.push(key);
            match value {
                None => {
                    next.overrides.remove(&key);
                }
                Some(value) => {
                    let mut scratch = TopicSettings::default();
                    scratch.set(key, value.as_ref())?;
                    next.overrides.insert(key, scratch.get(key));
                }
            }
        }
        next.settings(defaults).validate()?;
        Ok(next)
    }

    /// The value set on the topic for `key`, `None` when it takes the broker's default.
    pub fn get(&self, key: TopicConfigKey) -> Option<&str> {
        self.overrides.get(&key).map(String::as_str)
    }

    /// The keys set on the topic with their values, in key order.
    pub fn overrides(&self) -> impl Iterator<Item = (TopicConfigKey, &str)> {
        self.overrides
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
    }

    /// Whether the topic sets no key.
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }

    /// The effective settings: the topic's keys over the broker's `defaults`.
    pub fn settings(&self, defaults: &TopicSettings) -> TopicSettings {
        let mut settings = defaults.clone();
        for (key, value) in &self.overrides {
            if let Err(err) = settings.set(*key, value) {
                panic!("topic config holds an invalid value that was valid when set: {err}");
            }
        }
        settings
    }

    /// DescribeConfigs: `keys` (every key, in key order, when `None`), each with its effective
    /// value over `defaults` and whether it is the default. An unknown key fails the whole
    /// description (INVALID_CONFIG), as the protocol says.
    pub fn describe(
        &self,
        defaults: &TopicSettings,
        keys: Option<&[String]>,
    ) -> Result<Vec<TopicConfigEntry>, TopicConfigError> {
        let wanted: Vec<TopicConfigKey> = match keys {
            None => TopicConfigKey::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| TopicConfigKey::from_name(name))
                .collect::<Result<_, _>>()?,
        };
        let settings = self.settings(defaults);
        Ok(wanted
            .into_iter()
            .map(|key| TopicConfigEntry {
                key,
                value: settings.get(key),
                is_default: !self.overrides.contains_key(&key),
            })
            .collect())
    }

    /// The persisted form: a TOML document with the keys set on the topic (integers and
    /// booleans as such), for a file in the topic's directory. [`TopicConfig::from_toml`] reads
    /// it back to an equal config.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# ringlog topic config: the keys set on this topic; the others take the broker's defaults.\n",
        );
        for (key, value) in &self.overrides {
            let rendered = match key.toml_kind() {
                TomlKind::Integer | TomlKind::Boolean => value.clone(),
                TomlKind::String => toml::Value::String(value.clone()).to_string(),
            };
            out.push_str(&format!("{} = {rendered}\n", key.name()));
        }
        out
    }

    /// Reads the persisted form back. Values are checked as when they were set; `defaults` are
    /// not consulted (a topic's file is read before or without them, and the keys between which
    /// something must hold are checked when the topic's settings are built).
    pub fn from_toml(text: &str) -> Result<TopicConfig, TopicConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| TopicConfigError::Persisted {
                    message: err.to_string().trim_end().to_string(),
                })?;
        let mut config = TopicConfig::new();
        for (name, value) in &table {
            let key = TopicConfigKey::from_name(name)?;
            let text = match (key.toml_kind(), value) {
                (TomlKind::Integer, toml::Value::Integer(int)) => int.to_string(),
                (TomlKind::Boolean, toml::Value::Boolean(flag)) => flag.to_string(),
                (TomlKind::String, toml::Value::String(s)) => s.clone(),
                (kind, other) => {
                    return Err(TopicConfigError::Persisted {
                        message: format!(
                            "{key} = {other}: expected {}",
                            match kind {
                                TomlKind::Integer => "an integer",
                                TomlKind::Boolean => "true or false",
                                TomlKind::String => "a string",
                            }
                        ),
                    });
                }
            };
            let mut scratch = TopicSettings::default();
            scratch.set(key, &text)?;
            config.overrides.insert(key, scratch.get(key));
        }
        Ok(config)
    }
}

/// A topic config key or value the broker refuses. At the protocol level every one is
/// INVALID_CONFIG ([`TopicConfigError::kafka_error`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicConfigError {
    /// A key ringlog does not know.
    #[error("unknown topic config key {key:?}{}", suggestion_suffix(*suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The key the name probably meant (Kafka's `retention.ms` is `retention_ms`).
        suggestion: Option<&'static str>,
    },

    /// A value of the wrong form or out of its range.
    #[error("topic config {key} = {value:?}: expected {allowed}")]
    BadValue {
        /// The key.
        key: TopicConfigKey,
        /// The value as given.
        value: String,
        /// What the key accepts.
        allowed: String,
    },

    /// One request names a key twice.
    #[error("topic config {key} is named more than once")]
    DuplicateKey {
        /// The key.
        key: TopicConfigKey,
    },

    /// Two keys' values that cannot hold together (the message names both, with their values).
    #[error("topic config: {message}")]
    Inconsistent {
        /// What does not hold, with the keys and values.
        message: String,
    },

    /// A command line's `key=value` without `=`.
    #[error("topic config {pair:?}: expected key=value")]
    MalformedPair {
        /// The text as given.
        pair: String,
    },

    /// A persisted topic config that is not valid TOML, or holds a value of the wrong type.
    #[error("persisted topic config: {message}")]
    Persisted {
        /// The TOML parser's message, or the key and what it should hold.
        message: String,
    },
}

fn suggestion_suffix(suggestion: Option<&'static str>) -> String {
    suggestion
        .map(|key| format!(" (did you mean {key}?)"))
        .unwrap_or_default()
}

impl TopicConfigError {
    /// The protocol error a request that carried this config is answered with.
    pub fn kafka_error(&self) -> KafkaError {
        KafkaError::InvalidConfig
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TopicSettings {
        TopicSettings::default()
    }

    #[test]
    fn keys_are_listed_in_alphabetical_order_and_round_trip_their_names() {
        let names: Vec<&str> = TopicConfigKey::ALL.iter().map(|k| k.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for key in TopicConfigKey::ALL {
            assert_eq!(TopicConfigKey::from_name(key.name()), Ok(key));
            assert!(!key.doc().is_empty());
        }
        let mut by_ord = TopicConfigKey::ALL;
        by_ord.sort();
        assert_eq!(by_ord, TopicConfigKey::ALL);
    }

    #[test]
    fn kafka_dotted_names_get_a_suggestion() {
        let err = TopicConfigKey::from_name("retention.ms").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown topic config key \"retention.ms\" (did you mean retention_ms?)"
        );
        let err = TopicConfigKey::from_name("flush.ms").unwrap_err();
        assert!(err.to_string().contains("flush_interval_ms"), "{err}");
        let err = TopicConfigKey::from_name("colour").unwrap_err();
        assert_eq!(err.to_string(), "unknown topic config key \"colour\"");
        assert_eq!(err.kafka_error(), KafkaError::InvalidConfig);
    }

    #[test]
    fn every_key_round_trips_its_default_value() {
        let settings = defaults();
        for key in TopicConfigKey::ALL {
            let mut copy = settings.clone();
            copy.set(key, &settings.get(key)).unwrap();
            assert_eq!(copy, settings, "{key}");
        }
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_the_range() {
        let mut settings = defaults();
        let err = settings
            .set(TopicConfigKey::SegmentBytes, "10")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic config segment_bytes = \"10\": expected an integer between 61 and 2147483647"
        );
        let err = settings.set(TopicConfigKey::RetentionMs, "-2").unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic config retention_ms = \"-2\": expected -1 (forever) or an integer between 0 \
             and 9223372036854775807"
        );
        let err = settings
            .set(TopicConfigKey::MinInsyncReplicas, "0")
            .unwrap_err();
        assert!(err.to_string().contains("between 1 and 65535"), "{err}");
        let err = settings
            .set(TopicConfigKey::CleanupPolicy, "compact")
            .unwrap_err();
        assert!(err.to_string().contains("\"compact\""), "{err}");
        let err = settings
            .set(TopicConfigKey::FlushPolicy, "sometimes")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("expected one of never, always, interval"),
            "{err}"
        );
        let err = settings
            .set(TopicConfigKey::UncleanLeaderElectionEnable, "yes")
            .unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = settings
            .set(TopicConfigKey::IndexIntervalBytes, "4k")
            .unwrap_err();
        assert!(err.to_string().contains("\"4k\""), "{err}");
        assert_eq!(settings, defaults(), "a refused value changes nothing");
    }

    #[test]
    fn values_are_canonicalized() {
        let config = TopicConfig::from_pairs(
            [
                ("retention_ms", " 0100 "),
                ("unclean_leader_election_enable", "TRUE"),
                ("flush_policy", "Always"),
            ],
            &defaults(),
        )
        .unwrap();
        assert_eq!(config.get(TopicConfigKey::RetentionMs), Some("100"));
        assert_eq!(
            config.get(TopicConfigKey::UncleanLeaderElectionEnable),
            Some("true")
        );
        assert_eq!(config.get(TopicConfigKey::FlushPolicy), Some("always"));
    }

    #[test]
    fn sentinels_mean_no_limit() {
        let config = TopicConfig::from_pairs(
            [("retention_ms", "-1"), ("retention_bytes", "-1")],
            &defaults(),
        )
        .unwrap();
        let settings = config.settings(&defaults());
        assert_eq!(settings.retention, None);
        assert_eq!(settings.retention_bytes, None);
        let log = settings.log_config(IoBackendKind::Portable);
        assert_eq!(log.retention_ms, None);
        assert_eq!(log.retention_bytes, None);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let err = TopicConfig::from_pairs(
            [("segment_bytes", "1000"), ("segment_bytes", "2000")],
            &defaults(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TopicConfigError::DuplicateKey {
                key: TopicConfigKey::SegmentBytes
            }
        );
    }

    #[test]
    fn a_segment_smaller_than_the_largest_batch_is_refused() {
        let err = TopicConfig::from_pairs([("segment_bytes", "1000")], &defaults()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic config: max_message_bytes 1048588 is larger than segment_bytes 1000: the \
             largest batch would not fit in a segment"
        );
        let config = TopicConfig::from_pairs(
            [("segment_bytes", "1000"), ("max_message_bytes", "1000")],
            &defaults(),
        )
        .unwrap();
        assert_eq!(config.settings(&defaults()).segment_bytes, 1000);
    }

    #[test]
    fn alter_sets_resets_and_keeps() {
        let config = TopicConfig::from_pairs(
            [("retention_ms", "1000"), ("min_insync_replicas", "2")],
            &defaults(),
        )
        .unwrap();
        let altered = config
            .altered(
                [
                    ("retention_ms", None),
                    ("segment_ms", Some("60000")),
                    ("cleanup_policy", None),
                ],
                &defaults(),
            )
            .unwrap();
        let overrides: Vec<_> = altered.overrides().collect();
        assert_eq!(
            overrides,
            [
                (TopicConfigKey::MinInsyncReplicas, "2"),
                (TopicConfigKey::SegmentMs, "60000"),
            ]
        );
        let settings = altered.settings(&defaults());
        assert_eq!(settings.retention, defaults().retention);
        assert_eq!(settings.segment_roll, Duration::from_secs(60));
        assert_eq!(settings.min_insync_replicas, 2);
    }

    #[test]
    fn a_refused_alter_applies_nothing() {
        let config = TopicConfig::from_pairs([("retention_ms", "1000")], &defaults()).unwrap();
        let err = config
            .altered(
                [
                    ("retention_ms", Some("2000")),
                    ("segment_bytes", Some("tiny")),
                ],
                &defaults(),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            TopicConfigError::BadValue {
                key: TopicConfigKey::SegmentBytes,
                ..
            }
        ));
        assert_eq!(config.get(TopicConfigKey::RetentionMs), Some("1000"));
    }

    #[test]
    fn describe_lists_every_key_with_its_source() {
        let mut broker = defaults();
        broker.min_insync_replicas = 2;
        let config = TopicConfig::from_pairs([("retention_ms", "5000")], &broker).unwrap();
        let entries = config.describe(&broker, None).unwrap();
        assert_eq!(entries.len(), TopicConfigKey::ALL.len());
        let entry = |key| entries.iter().find(|e| e.key == key).unwrap().clone();
        assert_eq!(
            entry(TopicConfigKey::RetentionMs),
            TopicConfigEntry {
                key: TopicConfigKey::RetentionMs,
                value: "5000".into(),
                is_default: false
            }
        );
        assert_eq!(
            entry(TopicConfigKey::MinInsyncReplicas),
            TopicConfigEntry {
                key: TopicConfigKey::MinInsyncReplicas,
                value: "2".into(),
                is_default: true
            }
        );
        let set = entry(TopicConfigKey::RetentionMs);
        assert_eq!(set.key.name(), "retention_ms");
        assert_eq!(set.value, "5000");
        assert!(!set.is_default);
    }

    #[test]
    fn describe_keeps_request_order_and_refuses_unknown_keys() {
        let config = TopicConfig::new();
        let keys = vec!["segment_ms".to_string(), "cleanup_policy".to_string()];
        let entries = config.describe(&defaults(), Some(&keys)).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.key.name()).collect();
        assert_eq!(names, ["segment_ms", "cleanup_policy"]);
        let keys = vec!["segment_ms".to_string(), "segment.ms".to_string()];
        let err = config.describe(&defaults(), Some(&keys)).unwrap_err();
        assert_eq!(err.kafka_error(), KafkaError::InvalidConfig);
    }

    #[test]
    fn persisted_form_round_trips() {
        let config = TopicConfig::from_pairs(
            [
                ("retention_ms", "-1"),
                ("flush_policy", "interval"),
                ("flush_interval_ms", "250"),
                ("unclean_leader_election_enable", "true"),
                ("cleanup_policy", "delete"),
            ],
            &defaults(),
        )
        .unwrap();
        let text = config.to_toml();
        assert!(text.contains("retention_ms = -1\n"), "{text}");
        assert!(text.contains("flush_policy = \"interval\"\n"), "{text}");
        assert!(
            text.contains("unclean_leader_election_enable = true\n"),
            "{text}"
        );
        assert_eq!(TopicConfig::from_toml(&text).unwrap(), config);
        assert_eq!(
            TopicConfig::from_toml(&TopicConfig::new().to_toml()).unwrap(),
            TopicConfig::new()
        );
    }

    #[test]
    fn persisted_form_errors_name_the_key() {
        let err = TopicConfig::from_toml("retention_ms = \"1000\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "persisted topic config: retention_ms = \"1000\": expected an integer"
        );
        let err = TopicConfig::from_toml("retention.ms = 1000\n").unwrap_err();
        assert!(
            matches!(err, TopicConfigError::UnknownKey { ref key, .. } if key == "retention"),
            "{err}"
        );
        let err = TopicConfig::from_toml("segment_bytes = 5\n").unwrap_err();
        assert!(err.to_string().contains("segment_bytes"), "{err}");
        let err = TopicConfig::from_toml("segment_bytes = \n").unwrap_err();
        assert!(matches!(err, TopicConfigError::Persisted { .. }), "{err}");
    }

    #[test]
    fn parse_pair_splits_on_the_first_equals_sign() {
        assert_eq!(
            TopicConfig::parse_pair("retention_ms=1000"),
            Ok((TopicConfigKey::RetentionMs, "1000"))
        );
        assert_eq!(
            TopicConfig::parse_pair(" flush_policy = a=b "),
            Ok((TopicConfigKey::FlushPolicy, "a=b"))
        );
        assert!(matches!(
            TopicConfig::parse_pair("retention_ms"),
            Err(TopicConfigError::MalformedPair { .. })
        ));
    }

    #[test]
    fn settings_convert_to_the_engine_and_controller_configs() {
        let config = TopicConfig::from_pairs(
            [
                ("flush_policy", "interval"),
                ("flush_interval_ms", "250"),
                ("min_insync_replicas", "2"),
                ("unclean_leader_election_enable", "true"),
                ("segment_ms", "60000"),
            ],
            &defaults(),
        )
        .unwrap();
        let settings = config.settings(&defaults());
        let log = settings.log_config(IoBackendKind::Uring);
        assert_eq!(log.flush, FlushPolicy::Interval(Duration::from_millis(250)));
        assert_eq!(log.segment_ms, Some(Duration::from_secs(60)));
        assert_eq!(log.max_batch_bytes, 1024 * 1024 + 12);
        assert_eq!(log.io_backend, IoBackendKind::Uring);
        log.validate().unwrap();
        let controller = settings.controller_config();
        assert_eq!(controller.min_insync_replicas, 2);
        assert!(controller.unclean_leader_election);
    }

    #[test]
    fn default_settings_give_the_engine_defaults() {
        let log = defaults().log_config(IoBackendKind::Auto);
        let engine = LogConfig::default();
        assert_eq!(log.segment_bytes, engine.segment_bytes);
        assert_eq!(log.segment_ms, engine.segment_ms);
        assert_eq!(log.index_interval_bytes, engine.index_interval_bytes);
        assert_eq!(log.max_batch_bytes, engine.max_batch_bytes);
        assert_eq!(log.flush, engine.flush);
        assert_eq!(log.retention_ms, engine.retention_ms);
        assert_eq!(log.retention_bytes, engine.retention_bytes);
    }

    proptest::proptest! {
        #[test]
        fn set_never_panics_and_a_refusal_changes_nothing(
            key in proptest::sample::select(TopicConfigKey::ALL.to_vec()),
            value in ".{0,24}",
        ) {
            let mut settings = defaults();
            if settings.set(key, &value).is_err() {
                proptest::prop_assert_eq!(settings, defaults());
            } else {
                // An accepted value reads back to itself.
                let canonical = settings.get(key);
                let mut again = defaults();
                again.set(key, &canonical).unwrap();
                proptest::prop_assert_eq!(again.get(key), canonical);
            }
        }
    }
}
