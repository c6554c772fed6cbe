//! Helpers shared by the engine's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use ringlog_engine::format::{BatchBuilder, BatchHeader, BatchIter, Record};
use ringlog_engine::io::portable::PortableBackend;
use ringlog_engine::io::uring::UringBackend;
use ringlog_engine::{IoBackend, LogConfig, Offset};

/// A batch of `records` records of `value_size` bytes, timestamps from `ts` up by one.
pub(crate) fn batch(records: usize, value_size: usize, ts: i64) -> Vec<u8> {
    let value = vec![b'v'; value_size];
    let mut builder = BatchBuilder::new();
    for i in 0..records {
        let key = format!("k{i}");
        builder.push(&Record {
            key: Some(key.as_bytes()),
            value: Some(&value),
            headers: &[],
            timestamp: ts + i as i64,
        });
    }
    builder.finish()
}

/// Every backend the engine suite runs against.
pub(crate) fn backends() -> Vec<(&'static str, Arc<dyn IoBackend>)> {
    vec![
        ("portable", Arc::new(PortableBackend::new())),
        (
            "uring",
            Arc::new(UringBackend::new().expect("io_uring is available on the test machine")),
        ),
    ]
}

/// Small segments and a dense index, so a few kilobytes exercise rolls and index lookups.
pub(crate) fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// The headers of the batches laid back to back in `bytes`, all validated.
pub(crate) fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    BatchIter::new(bytes, u32::MAX)
        .map(|b| b.expect("valid batch").header)
        .collect()
}

/// The base offsets of the batches in `bytes`.
pub(crate) fn bases(bytes: &[u8]) -> Vec<Offset> {
    headers(bytes)
        .iter()
        .map(|h| Offset(h.base_offset as u64))
        .collect()
}
