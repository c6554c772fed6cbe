//! Per-log configuration. Field names mirror Kafka's topic configs (`segment.bytes` is
//! `segment_bytes`, ...); durations are `Duration`s in code, with a unit only in config keys.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::HEADER_LEN;
use crate::io::IoBackendKind;

/// When appended data is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fdatasync before an append returns; concurrent appends share one fdatasync (group commit).
    Always,
    /// fdatasync when this long has passed since the last one, checked on append and by
    /// [`Log::tick`](crate::Log::tick).
    Interval(Duration),
    /// Never fdatasync on append; rely on replication (Kafka's default). The log still syncs on
    /// roll, close and [`Log::flush`](crate::Log::flush).
    Never,
}

impl std::str::FromStr for FlushPolicy {
    type Err = String;

    /// `always`, `never`, or a number of milliseconds for `interval`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FlushPolicy::Always),
            "never" => Ok(FlushPolicy::Never),
            ms => ms
                .parse::<u64>()
                .map(|ms| FlushPolicy::Interval(Duration::from_millis(ms)))
                .map_err(|_| {
                    format!("flush policy {ms:?}: expected always, never or milliseconds")
                }),
        }
    }
}

/// The configuration of one partition log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The active segment rolls when an append would take it past this size. Kafka's
    /// `segment.bytes`; at most `i32::MAX` because index entries hold 32-bit positions.
    pub segment_bytes: u64,
    /// The active segment rolls when its first batch is older than this (`segment.ms`).
    pub segment_ms: Option<Duration>,
    /// A sparse index entry is added after at least this many bytes (`index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// The largest batch accepted, header included (`max.message.bytes`).
    pub max_batch_bytes: u32,
    /// Durability policy (`flush.messages`/`flush.ms` in Kafka, as one setting here).
    pub flush: FlushPolicy,
    /// Whole segments whose newest record is older than this are deleted (`retention.ms`).
    pub retention_ms: Option<Duration>,
    /// Oldest whole segments are deleted while the log is larger than this (`retention.bytes`).
    pub retention_bytes: Option<u64>,
    /// How often the recovery point is written to its checkpoint file
    /// (`log.flush.offset.checkpoint.interval.ms`); the log also writes it on roll, truncation
    /// and close. A stale checkpoint only makes recovery scan more.
    pub recovery_checkpoint_interval: Duration,
    /// Appended batches are gathered up to this many bytes and written with one write, which may
    /// still be in flight when an append returns (see [`crate::log`]'s write pipeline). 0 writes
    /// every append before it returns.
    pub write_buffer_bytes: usize,
    /// The active segment's blocks are reserved this far ahead of its data (`fallocate` with
    /// the file's length kept), and what is left over is given back when it rolls or the log
    /// closes: the kernel's buffered writes into reserved blocks skip ext4's per-block
    /// delayed allocation. Redpanda's `segment_fallocation_step`; 0 turns it off.
    pub preallocate_bytes: u64,
    /// The IO backend, when the log opens its own (`io_backend`).
    pub io_backend: IoBackendKind,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            index_interval_bytes: 4096,
            max_batch_bytes: 1024 * 1024 + 12,
            flush: FlushPolicy::Never,
            retention_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
            recovery_checkpoint_interval: Duration::from_secs(60),
            write_buffer_bytes: 1024 * 1024,
            preallocate_bytes: 16 << 20,
            io_backend: IoBackendKind::Auto,
        }
    }
}

impl LogConfig {
    /// Checks every value against its range; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let min_segment = HEADER_LEN as u64;
        if self.segment_bytes < min_segment || self.segment_bytes > i32::MAX as u64 {
            return Err(Error::Config {
                key: "segment_bytes",
                reason: format!(
                    "{} is outside {min_segment}..={}",
                    self.segment_bytes,
                    i32::MAX
                ),
            });
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::Config {
                key: "index_interval_bytes",
                reason: "must be at least 1".into(),
            });
        }
        if (self.max_batch_bytes as usize) < HEADER_LEN || self.max_batch_bytes > i32::MAX as u32 {
            return Err(Error::Config {
                key: "max_batch_bytes",
                reason: format!(
                    "{} is outside {HEADER_LEN}..={}",
                    self.max_batch_bytes,
                    i32::MAX
                ),
            });
        }
        if self.segment_ms == Some(Duration::ZERO) {
            return Err(Error::Config {
                key: "segment_ms",
                reason: "must be at least 1 ms".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        LogConfig::default().validate().unwrap();
    }

    #[test]
    fn oversize_segment_names_the_key() {
        let config = LogConfig {
            segment_bytes: 1 << 32,
            ..LogConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("segment_bytes"), "{err}");
        assert!(err.contains("4294967296"), "{err}");
    }

    #[test]
    fn flush_policy_parses() {
        assert_eq!("always".parse::<FlushPolicy>(), Ok(FlushPolicy::Always));
        assert_eq!("never".parse::<FlushPolicy>(), Ok(FlushPolicy::Never));
        assert_eq!(
            "250".parse::<FlushPolicy>(),
            Ok(FlushPolicy::Interval(Duration::from_millis(250)))
        );
        assert!("sometimes".parse::<FlushPolicy>().is_err());
    }
}
