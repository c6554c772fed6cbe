//! The log's public API, one behaviour per test, each run on every IO backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{backends, bases, batch, headers, small_config};
use ringlog_engine::format::{BatchBuilder, Compression, Record};
use ringlog_engine::{
    Error, FlushPolicy, IoBackend, LeaderEpoch, Log, LogConfig, Offset, Timestamp, TimestampOffset,
};

fn for_each_backend(test: impl Fn(&str, Arc<dyn IoBackend>, &std::path::Path)) {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        test(name, backend, dir.path());
    }
}

fn open(dir: &std::path::Path, backend: &Arc<dyn IoBackend>, config: LogConfig) -> Log {
    Log::open_with_backend(dir, config, backend.clone()).unwrap()
}

#[test]
fn append_assigns_offsets_and_stamps_the_epoch() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let mut first = batch(3, 10, 1000);
        let info = log.append(&mut first, LeaderEpoch(4)).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset),
            (Offset(0), Offset(2)),
            "{name}"
        );
        let mut second = batch(2, 10, 2000);
        let info = log.append(&mut second, LeaderEpoch(4)).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset),
            (Offset(3), Offset(4)),
            "{name}"
        );
        assert_eq!(log.log_end_offset(), Offset(5));
        let read = log.read_bytes(Offset(0), 1 << 20, Offset(5)).unwrap();
        let hs = headers(&read.bytes);
        assert_eq!(hs.len(), 2, "{name}");
        assert_eq!((hs[0].base_offset, hs[1].base_offset), (0, 3));
        assert!(hs.iter().all(|h| h.partition_leader_epoch == 4));
        // The caller's buffer was stamped in place, so it equals what the log holds.
        assert_eq!(&read.bytes[..first.len()], &first[..]);
    });
}

#[test]
fn multi_batch_append_is_one_contiguous_run() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let mut bytes = batch(2, 5, 0);
        bytes.extend(batch(3, 5, 0));
        bytes.extend(batch(1, 5, 0));
        let info = log.append(&mut bytes, LeaderEpoch(0)).unwrap();
        assert_eq!(info.batch_count, 3, "{name}");
        assert_eq!(info.record_count, 6);
        let read = log.read_bytes(Offset(0), 1 << 20, Offset(6)).unwrap();
        assert_eq!(bases(&read.bytes), vec![Offset(0), Offset(2), Offset(5)]);
    });
}

#[test]
fn a_bad_batch_rejects_the_whole_append_and_writes_nothing() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let mut good = batch(1, 5, 0);
        log.append(&mut good, LeaderEpoch(0)).unwrap();
        let size_before = log.size_bytes();
        let mut bytes = batch(2, 5, 0);
        let second_at = bytes.len();
        bytes.extend(batch(2, 5, 0));
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let err = log.append(&mut bytes, LeaderEpoch(0)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidBatch { index: 1, position, .. } if position == second_at),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("crc mismatch"), "{err}");
        assert_eq!(log.log_end_offset(), Offset(1));
        assert_eq!(log.size_bytes(), size_before);
    });
}

#[test]
fn oversize_batch_is_refused_with_its_size() {
    for_each_backend(|_, backend, dir| {
        let config = LogConfig {
            max_batch_bytes: 1000,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        let mut big = batch(10, 200, 0);
        let err = log.append(&mut big, LeaderEpoch(0)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exceeds max_batch_bytes 1000"), "{text}");
        assert_eq!(log.log_end_offset(), Offset(0));
    });
}

#[test]
fn empty_append_is_refused() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        assert!(matches!(
            log.append(&mut [], LeaderEpoch(0)),
            Err(Error::EmptyAppend)
        ));
    });
}

#[test]
fn stale_leader_epoch_is_refused() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        log.append(&mut batch(1, 5, 0), LeaderEpoch(3)).unwrap();
        let err = log.append(&mut batch(1, 5, 0), LeaderEpoch(2)).unwrap_err();
        assert!(matches!(
            err,
            Error::StaleLeaderEpoch {
                epoch: LeaderEpoch(2),
                latest: LeaderEpoch(3)
            }
        ));
        assert_eq!(log.log_end_offset(), Offset(1));
    });
}

#[test]
fn read_returns_the_first_batch_whole_even_past_max_bytes() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let mut big = batch(10, 100, 0);
        let len = big.len() as u64;
        log.append(&mut big, LeaderEpoch(0)).unwrap();
        log.append(&mut batch(1, 5, 0), LeaderEpoch(0)).unwrap();
        let read = log.read(Offset(0), 10, Offset(11)).unwrap();
        assert_eq!(read.batch_count, 1, "{name}");
        assert_eq!(read.bytes, len);
        assert_eq!(read.next_offset, Offset(10));
    });
}

#[test]
fn read_ends_on_batch_boundaries_within_max_bytes() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let one = batch(1, 50, 0).len() as u64;
        for _ in 0..10 {
            log.append(&mut batch(1, 50, 0), LeaderEpoch(0)).unwrap();
        }
        let read = log.read(Offset(0), 3 * one + one / 2, Offset(10)).unwrap();
        assert_eq!(read.batch_count, 3, "{name}");
        assert_eq!(read.bytes, 3 * one);
        assert_eq!(read.next_offset, Offset(3));
    });
}

#[test]
fn read_never_passes_the_upper_bound() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for _ in 0..5 {
            log.append(&mut batch(2, 5, 0), LeaderEpoch(0)).unwrap();
        }
        let read = log.read_bytes(Offset(0), 1 << 20, Offset(6)).unwrap();
        assert_eq!(
            bases(&read.bytes),
            vec![Offset(0), Offset(2), Offset(4)],
            "{name}"
        );
        // A bound inside a batch excludes that batch: only whole batches below it.
        let read = log.read_bytes(Offset(0), 1 << 20, Offset(5)).unwrap();
        assert_eq!(bases(&read.bytes), vec![Offset(0), Offset(2)]);
        let read = log.read(Offset(6), 1 << 20, Offset(6)).unwrap();
        assert!(read.is_empty());
        assert_eq!(read.next_offset, Offset(6));
    });
}

#[test]
fn read_inside_a_batch_returns_the_batch_holding_it() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        log.append(&mut batch(5, 5, 0), LeaderEpoch(0)).unwrap();
        log.append(&mut batch(5, 5, 0), LeaderEpoch(0)).unwrap();
        let read = log.read_bytes(Offset(7), 1 << 20, Offset(10)).unwrap();
        assert_eq!(bases(&read.bytes), vec![Offset(5)]);
        assert_eq!(read.first_offset, Offset(5));
    });
}

#[test]
fn reads_outside_the_log_are_out_of_range() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        log.append(&mut batch(2, 5, 0), LeaderEpoch(0)).unwrap();
        let err = log.read(Offset(3), 100, Offset(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "offset 3 is out of range: log start offset 0, log end offset 2"
        );
        assert!(log.read(Offset(2), 100, Offset(2)).unwrap().is_empty());
    });
}

#[test]
fn segments_roll_at_segment_bytes_with_kafka_names() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        let mut total = 0;
        while log.segments().len() < 4 {
            log.append(&mut batch(10, 100, 0), LeaderEpoch(0)).unwrap();
            total += 10;
        }
        let segments = log.segments();
        for s in &segments {
            assert!(s.size <= 16 * 1024, "{name}: segment of {} bytes", s.size);
            let file = s.path.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(file, format!("{:020}.log", s.base_offset.0));
        }
        assert!(
            dir.join(format!("{:020}.index", segments[1].base_offset.0))
                .exists()
        );
        assert!(
            dir.join(format!("{:020}.timeindex", segments[1].base_offset.0))
                .exists()
        );
        // Every offset reads back, across segment boundaries.
        let mut next = Offset(0);
        while next < Offset(total) {
            let read = log.read_bytes(next, 3000, Offset(total)).unwrap();
            assert_eq!(read.first_offset, next);
            next = read.next_offset;
        }
        let all = log.read_bytes(Offset(0), u64::MAX, Offset(total)).unwrap();
        assert_eq!(all.batch_count, total as usize / 10);
    });
}

#[test]
fn close_then_open_skips_recovery_and_keeps_everything() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for i in 0..40 {
            log.append(&mut batch(3, 50, i * 10), LeaderEpoch(i as u32 / 10))
                .unwrap();
        }
        let before = log
            .read_bytes(Offset(0), u64::MAX, Offset(120))
            .unwrap()
            .bytes;
        let segments = log.segments().len();
        log.set_high_watermark(Offset(100));
        log.close().unwrap();
        let log = open(dir, &backend, small_config());
        let report = log.recovery_report();
        assert!(report.clean_shutdown, "{name}: {report:?}");
        assert_eq!(report.batches_scanned, 0);
        assert_eq!(log.segments().len(), segments);
        assert_eq!(log.log_end_offset(), Offset(120));
        assert_eq!(log.high_watermark(), Offset(100));
        assert_eq!(log.latest_epoch(), Some(LeaderEpoch(3)));
        let after = log
            .read_bytes(Offset(0), u64::MAX, Offset(120))
            .unwrap()
            .bytes;
        assert_eq!(before, after);
        // And it goes on appending where it was.
        let info = log.append(&mut batch(1, 5, 0), LeaderEpoch(3)).unwrap();
        assert_eq!(info.first_offset, Offset(120));
    });
}

#[test]
fn open_after_drop_without_close_recovers_everything_written() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for i in 0..40 {
            log.append(&mut batch(3, 50, i), LeaderEpoch(1)).unwrap();
        }
        let before = log
            .read_bytes(Offset(0), u64::MAX, Offset(120))
            .unwrap()
            .bytes;
        drop(log);
        let log = open(dir, &backend, small_config());
        let report = log.recovery_report().clone();
        assert!(!report.clean_shutdown, "{name}");
        assert!(report.batches_scanned > 0);
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), Offset(120));
        let after = log
            .read_bytes(Offset(0), u64::MAX, Offset(120))
            .unwrap()
            .bytes;
        assert_eq!(before, after);
    });
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    for_each_backend(|_, backend, dir| {
        let _log = open(dir, &backend, small_config());
        let err = Log::open_with_backend(dir, small_config(), backend.clone()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
    });
}

#[test]
fn replicated_appends_must_continue_the_log() {
    for_each_backend(|name, backend, dir| {
        let leader_dir = dir.join("leader");
        let leader = open(&leader_dir, &backend, small_config());
        leader.append(&mut batch(2, 5, 0), LeaderEpoch(1)).unwrap();
        leader.append(&mut batch(3, 5, 0), LeaderEpoch(2)).unwrap();
        let fetched = leader
            .read_bytes(Offset(0), u64::MAX, Offset(5))
            .unwrap()
            .bytes;
        let follower = open(&dir.join("follower"), &backend, small_config());
        let first_len = headers(&fetched)[0].total_len();
        let err = follower
            .append_replicated(&fetched[first_len..])
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonContiguous {
                    expected: Offset(0),
                    found: Offset(2)
                }
            ),
            "{name}: {err}"
        );
        follower.append_replicated(&fetched).unwrap();
        assert_eq!(follower.log_end_offset(), Offset(5));
        assert_eq!(
            follower.end_offset_for_epoch(LeaderEpoch(1)),
            Some((LeaderEpoch(1), Offset(2)))
        );
        assert_eq!(follower.latest_epoch(), Some(LeaderEpoch(2)));
    });
}

#[test]
fn replicated_batches_without_an_epoch_are_refused() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        let unstamped = batch(1, 5, 0);
        let err = log.append_replicated(&unstamped).unwrap_err();
        assert!(
            matches!(err, Error::UnstampedBatch { epoch: -1, .. }),
            "{err}"
        );
    });
}

#[test]
fn truncation_cuts_to_a_batch_boundary_and_follows_with_the_epoch_cache() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for i in 0..60u32 {
            log.append(&mut batch(5, 200, 0), LeaderEpoch(i / 20))
                .unwrap();
        }
        assert!(log.segments().len() > 2, "{name}");
        log.set_high_watermark(Offset(300));
        // Offset 152 lies inside the batch 150..=154: that batch goes too.
        let leo = log.truncate_to(Offset(152)).unwrap();
        assert_eq!(leo, Offset(150));
        assert_eq!(log.log_end_offset(), Offset(150));
        assert_eq!(log.high_watermark(), Offset(150));
        assert_eq!(log.latest_epoch(), Some(LeaderEpoch(1)));
        assert!(log.segments().iter().all(|s| s.base_offset < Offset(150)));
        let info = log.append(&mut batch(1, 5, 0), LeaderEpoch(5)).unwrap();
        assert_eq!(info.first_offset, Offset(150));
        assert_eq!(
            log.end_offset_for_epoch(LeaderEpoch(1)),
            Some((LeaderEpoch(1), Offset(150)))
        );
        drop(log);
        let log = open(dir, &backend, small_config());
        assert_eq!(log.log_end_offset(), Offset(151));
        assert_eq!(log.latest_epoch(), Some(LeaderEpoch(5)));
    });
}

#[test]
fn truncation_below_the_log_start_restarts_the_log_there() {
    for_each_backend(|_, backend, dir| {
        let log = open(dir, &backend, small_config());
        for _ in 0..10 {
            log.append(&mut batch(5, 60, 0), LeaderEpoch(0)).unwrap();
        }
        log.set_high_watermark(Offset(50));
        log.delete_records(Offset(20)).unwrap();
        log.truncate_to(Offset(10)).unwrap();
        assert_eq!(log.log_start_offset(), Offset(10));
        assert_eq!(log.log_end_offset(), Offset(10));
        assert_eq!(log.segments().len(), 1);
    });
}

#[test]
fn delete_records_moves_the_start_and_survives_reopen() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for _ in 0..60 {
            log.append(&mut batch(5, 60, 0), LeaderEpoch(0)).unwrap();
        }
        let segments_before = log.segments().len();
        log.set_high_watermark(Offset(300));
        let start = log.delete_records(Offset(200)).unwrap();
        assert_eq!(start, Offset(200));
        assert!(log.segments().len() < segments_before, "{name}");
        assert!(matches!(
            log.read(Offset(199), 100, Offset(300)),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert!(!log.read(Offset(200), 100, Offset(300)).unwrap().is_empty());
        assert!(matches!(
            log.delete_records(Offset(301)),
            Err(Error::OffsetOutOfRange { .. })
        ));
        drop(log);
        let log = open(dir, &backend, small_config());
        assert_eq!(log.log_start_offset(), Offset(200));
    });
}

#[test]
fn retention_by_bytes_deletes_oldest_segments_below_the_high_watermark() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            retention_bytes: Some(40 * 1024),
            retention_ms: None,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        for _ in 0..150 {
            log.append(&mut batch(5, 60, 0), LeaderEpoch(0)).unwrap();
        }
        let now = Timestamp::now();
        // Nothing is committed yet: nothing may go.
        assert_eq!(log.apply_retention(now).unwrap().segments_deleted, 0);
        log.set_high_watermark(log.log_end_offset());
        let outcome = log.apply_retention(now).unwrap();
        assert!(outcome.segments_deleted > 0, "{name}");
        assert!(
            log.size_bytes() >= 40 * 1024 - 16 * 1024,
            "kept {}",
            log.size_bytes()
        );
        assert!(
            log.size_bytes() < 40 * 1024 + 16 * 1024,
            "kept {}",
            log.size_bytes()
        );
        assert_eq!(log.log_start_offset(), outcome.log_start_offset);
        assert_eq!(log.segments()[0].base_offset, outcome.log_start_offset);
    });
}

#[test]
fn retention_by_time_deletes_segments_whose_newest_record_is_old() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            retention_ms: Some(Duration::from_secs(3600)),
            ..small_config()
        };
        let log = open(dir, &backend, config);
        let now = Timestamp::now().0;
        let old = now - 2 * 3600 * 1000;
        for _ in 0..50 {
            log.append(&mut batch(5, 60, old), LeaderEpoch(0)).unwrap();
        }
        let old_end = log.log_end_offset();
        for _ in 0..50 {
            log.append(&mut batch(5, 60, now), LeaderEpoch(0)).unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
        let outcome = log.apply_retention(Timestamp(now)).unwrap();
        assert!(outcome.segments_deleted > 0, "{name}");
        assert!(outcome.log_start_offset <= old_end);
        // The segment holding the first new record stays.
        let first_new = log.offset_for_timestamp(Timestamp(now)).unwrap().unwrap();
        assert!(first_new.offset >= log.log_start_offset());
        assert!(first_new.offset <= old_end);
    });
}

/// A segment whose newest record is its last batch (past its last time index entry) keeps
/// that record's timestamp through unclean reopens: the first one rebuilds the sealed
/// segment's indexes, the second trusts them, and time-based retention must not then take the
/// segment for an old one.
#[test]
fn retention_by_time_keeps_a_segment_whose_last_batch_is_new_after_unclean_reopens() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            retention_ms: Some(Duration::from_secs(3600)),
            ..small_config()
        };
        let now = Timestamp::now().0;
        let old = now - 2 * 3600 * 1000;
        // How many of these batches fill the first segment, learnt in a scratch log.
        let per_segment = {
            let scratch = tempfile::tempdir().unwrap();
            let log = open(scratch.path(), &backend, config.clone());
            let mut n = 0;
            while log.segments().len() == 1 {
                log.append(&mut batch(5, 60, old), LeaderEpoch(0)).unwrap();
                n += 1;
            }
            n - 1
        };
        let log = open(dir, &backend, config.clone());
        for _ in 0..per_segment - 1 {
            log.append(&mut batch(5, 60, old), LeaderEpoch(0)).unwrap();
        }
        log.append(&mut batch(5, 60, now), LeaderEpoch(0)).unwrap();
        for _ in 0..per_segment {
            log.append(&mut batch(5, 60, old), LeaderEpoch(0)).unwrap();
        }
        assert!(log.segments().len() >= 2, "{name}");
        assert_eq!(
            log.segments()[0].next_offset,
            Offset(5 * per_segment as u64)
        );
        drop(log);
        drop(open(dir, &backend, config.clone()));
        let log = open(dir, &backend, config);
        assert!(!log.recovery_report().clean_shutdown, "{name}");
        log.set_high_watermark(log.log_end_offset());
        let outcome = log.apply_retention(Timestamp(now)).unwrap();
        assert_eq!(outcome.segments_deleted, 0, "{name}");
        assert_eq!(log.log_start_offset(), Offset(0), "{name}");
        let newest = log.max_timestamp_offset().unwrap().unwrap();
        assert_eq!(newest.timestamp, Timestamp(now + 4), "{name}");
    });
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        // Ten records per batch with timestamps 1000*b .. 1000*b+9.
        for b in 0..80 {
            log.append(&mut batch(10, 40, 1000 * b), LeaderEpoch(0))
                .unwrap();
        }
        assert!(log.segments().len() > 2, "{name}");
        let hit = log
            .offset_for_timestamp(Timestamp(37_005))
            .unwrap()
            .unwrap();
        assert_eq!(hit.offset, Offset(375));
        assert_eq!(hit.timestamp, Timestamp(37_005));
        let hit = log
            .offset_for_timestamp(Timestamp(37_500))
            .unwrap()
            .unwrap();
        assert_eq!(hit.offset, Offset(380));
        let hit = log.offset_for_timestamp(Timestamp(0)).unwrap().unwrap();
        assert_eq!(hit.offset, Offset(0));
        assert_eq!(
            log.offset_for_timestamp(Timestamp(1_000_000)).unwrap(),
            None
        );
    });
}

/// One batch whose records carry `timestamps`, compressed with `compression`.
fn timed_batch(timestamps: &[i64], compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new().with_compression(compression);
    for &timestamp in timestamps {
        builder.push(&Record {
            key: None,
            value: Some(b"value"),
            headers: &[],
            timestamp,
        });
    }
    builder.finish()
}

/// The (offset, timestamp) a timestamp lookup answered.
fn found(hit: Option<TimestampOffset>) -> Option<(u64, i64)> {
    hit.map(|t| (t.offset.0, t.timestamp.0))
}

#[test]
fn offset_for_timestamp_reads_inside_compressed_batches() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        for compression in [Compression::Lz4, Compression::Zstd] {
            let base = log.log_end_offset().0;
            let mut batch = timed_batch(&[100, 300, 200, 400], compression);
            log.append(&mut batch, LeaderEpoch(0)).unwrap();
            // The second record is the first at or after 250, not the batch's first.
            let hit = log.offset_for_timestamp(Timestamp(250)).unwrap();
            assert_eq!(found(hit), Some((base + 1, 300)), "{name} {compression}");
            log.truncate_to(Offset(base)).unwrap();
        }
    });
}

#[test]
fn offset_for_timestamp_skips_records_below_the_log_start() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        log.append(
            &mut timed_batch(&[10, 50, 20], Compression::None),
            LeaderEpoch(0),
        )
        .unwrap();
        log.append(
            &mut timed_batch(&[30, 60], Compression::Lz4),
            LeaderEpoch(0),
        )
        .unwrap();
        log.set_high_watermark(Offset(5));
        log.delete_records(Offset(2)).unwrap();
        // Offset 1 (50) is gone: the first record at or after 40 still readable is 60.
        let hit = log.offset_for_timestamp(Timestamp(40)).unwrap();
        assert_eq!(found(hit), Some((4, 60)), "{name}");
        let hit = log.offset_for_timestamp(Timestamp(15)).unwrap();
        assert_eq!(found(hit), Some((2, 20)), "{name}");
    });
}

#[test]
fn max_timestamp_offset_is_the_first_record_with_the_largest_timestamp() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        assert_eq!(
            log.max_timestamp_offset().unwrap(),
            None,
            "{name}: empty log"
        );
        // Timestamps go back and forth across batches and segments; the largest, 9_000, is
        // held by offsets 81 and 203, in different segments: the first one is the answer.
        for b in 0..20_i64 {
            let timestamps: Vec<i64> = (0..4).map(|i| (b * 4 + i) % 7 * 1000).collect();
            let compression = if b % 2 == 0 {
                Compression::None
            } else {
                Compression::Zstd
            };
            log.append(&mut timed_batch(&timestamps, compression), LeaderEpoch(0))
                .unwrap();
        }
        let mut peak = timed_batch(&[8_000, 9_000, 1_000], Compression::Lz4);
        log.append(&mut peak, LeaderEpoch(1)).unwrap();
        for _ in 0..30 {
            log.append(&mut batch(4, 200, 0), LeaderEpoch(1)).unwrap();
        }
        log.append(
            &mut timed_batch(&[9_000], Compression::None),
            LeaderEpoch(1),
        )
        .unwrap();
        assert!(log.segments().len() > 1, "{name}: several segments");
        assert_eq!(log.log_end_offset(), Offset(204));
        let max = log.max_timestamp_offset().unwrap();
        assert_eq!(found(max), Some((81, 9_000)), "{name}");
        // After a reopen the segments' maxima come back from their time indexes.
        log.close().unwrap();
        let log = open(dir, &backend, small_config());
        assert_eq!(
            found(log.max_timestamp_offset().unwrap()),
            Some((81, 9_000))
        );
        drop(log);
        let log = open(dir, &backend, small_config());
        assert_eq!(
            found(log.max_timestamp_offset().unwrap()),
            Some((81, 9_000))
        );
    });
}

#[test]
fn max_timestamp_offset_counts_only_records_at_or_after_the_log_start() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        log.append(
            &mut timed_batch(&[10, 90, 20, 30], Compression::Zstd),
            LeaderEpoch(0),
        )
        .unwrap();
        log.append(
            &mut timed_batch(&[40, 25], Compression::None),
            LeaderEpoch(0),
        )
        .unwrap();
        log.set_high_watermark(Offset(6));
        assert_eq!(
            found(log.max_timestamp_offset().unwrap()),
            Some((1, 90)),
            "{name}"
        );
        // The batch holding 90 now straddles the log start: its readable records are 20, 30.
        log.delete_records(Offset(2)).unwrap();
        assert_eq!(
            found(log.max_timestamp_offset().unwrap()),
            Some((4, 40)),
            "{name}"
        );
        log.delete_records(Offset(5)).unwrap();
        assert_eq!(
            found(log.max_timestamp_offset().unwrap()),
            Some((5, 25)),
            "{name}"
        );
        log.delete_records(Offset(6)).unwrap();
        assert_eq!(
            log.max_timestamp_offset().unwrap(),
            None,
            "{name}: nothing readable"
        );
    });
}

#[test]
fn epoch_for_offset_names_the_epoch_that_wrote_the_batch() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        assert_eq!(log.epoch_for_offset(Offset(0)), None, "{name}");
        log.append(&mut batch(3, 10, 0), LeaderEpoch(2)).unwrap();
        log.append(&mut batch(3, 10, 0), LeaderEpoch(5)).unwrap();
        assert_eq!(log.epoch_for_offset(Offset(2)), Some(LeaderEpoch(2)));
        assert_eq!(log.epoch_for_offset(Offset(3)), Some(LeaderEpoch(5)));
    });
}

#[test]
fn flush_always_makes_every_acknowledged_append_durable() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            flush: FlushPolicy::Always,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        for _ in 0..5 {
            let info = log.append(&mut batch(2, 10, 0), LeaderEpoch(0)).unwrap();
            assert!(log.flushed_offset() >= info.next_offset(), "{name}");
        }
    });
}

#[test]
fn concurrent_appenders_all_land_in_order() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            flush: FlushPolicy::Always,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        let info = log.append(&mut batch(4, 30, 0), LeaderEpoch(0)).unwrap();
                        assert!(log.flushed_offset() >= info.next_offset());
                    }
                });
            }
        });
        assert_eq!(log.log_end_offset(), Offset(8 * 25 * 4), "{name}");
        let all = log.read_bytes(Offset(0), u64::MAX, Offset(800)).unwrap();
        assert_eq!(all.batch_count, 200);
        log.check_invariants();
    });
}

#[test]
fn the_io_backend_in_use_is_reported() {
    for_each_backend(|name, backend, dir| {
        let log = open(dir, &backend, small_config());
        assert_eq!(log.io_backend_name(), name);
    });
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        io_backend: ringlog_engine::IoBackendKind::Portable,
        ..small_config()
    };
    assert_eq!(
        Log::open(dir.path(), config).unwrap().io_backend_name(),
        "portable"
    );
}

#[test]
fn tick_writes_the_checkpoints_that_moved() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            recovery_checkpoint_interval: Duration::ZERO,
            flush: FlushPolicy::Interval(Duration::ZERO),
            ..small_config()
        };
        let log = open(dir, &backend, config);
        log.append(&mut batch(3, 10, 0), LeaderEpoch(0)).unwrap();
        log.set_high_watermark(Offset(2));
        log.tick().unwrap();
        let read = |file: &str| {
            ringlog_engine::checkpoint::read_offset(dir, file)
                .unwrap()
                .unwrap()
        };
        assert_eq!(read("replication-offset-checkpoint"), Offset(2), "{name}");
        assert_eq!(
            read("recovery-point-offset-checkpoint"),
            Offset(3),
            "{name}"
        );
        assert_eq!(log.flushed_offset(), Offset(3));
    });
}

#[test]
fn appends_run_ahead_of_the_written_offset_until_written_out() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            write_buffer_bytes: 1 << 20,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        log.append(&mut batch(3, 10, 0), LeaderEpoch(0)).unwrap();
        assert_eq!(log.log_end_offset(), Offset(3), "{name}");
        assert_eq!(
            log.written_offset(),
            Offset(0),
            "{name}: staged, not yet written"
        );
        // A read sees it: reads write out first.
        let read = log.read_bytes(Offset(0), 1 << 20, Offset(3)).unwrap();
        assert_eq!(read.batch_count, 1);
        assert_eq!(log.written_offset(), Offset(3));
        log.append(&mut batch(2, 10, 0), LeaderEpoch(0)).unwrap();
        assert_eq!(log.write_out().unwrap(), Offset(5));
        let file = &log.segments()[0].path;
        assert_eq!(std::fs::metadata(file).unwrap().len(), log.size_bytes());
    });
}

#[test]
fn a_full_write_buffer_is_written_without_waiting_for_a_reader() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            write_buffer_bytes: 1000,
            segment_bytes: 1 << 20,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        for _ in 0..50 {
            log.append(&mut batch(2, 100, 0), LeaderEpoch(0)).unwrap();
        }
        // Every full buffer was submitted; at most the last partial one and the writes still in
        // flight are missing from the file.
        let file = &log.segments()[0].path;
        let on_disk = std::fs::metadata(file).unwrap().len();
        assert!(
            on_disk > log.size_bytes() / 2,
            "{name}: {on_disk} of {}",
            log.size_bytes()
        );
        assert!(log.written_offset() > Offset(0));
    });
}

#[test]
fn reads_racing_appends_only_see_written_batches() {
    for_each_backend(|name, backend, dir| {
        let config = LogConfig {
            write_buffer_bytes: 4096,
            segment_bytes: 1 << 20,
            ..small_config()
        };
        let log = open(dir, &backend, config);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..400 {
                    log.append(&mut batch(3, 40, 0), LeaderEpoch(0)).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Release);
            });
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let leo = log.log_end_offset();
                    let read = log.read_bytes(Offset(0), u64::MAX, leo).unwrap();
                    assert!(
                        read.next_offset >= leo,
                        "{name}: read stopped at {} below {leo}",
                        read.next_offset
                    );
                    assert_eq!(common::headers(&read.bytes).len(), read.batch_count);
                }
            });
        });
        assert_eq!(log.log_end_offset(), Offset(1200));
    });
}

#[test]
fn append_owned_keeps_the_callers_batches_without_a_copy_and_stamps_them() {
    for_each_backend(|name, backend, dir| {
        for write_buffer_bytes in [0, 1 << 20] {
            let config = LogConfig {
                write_buffer_bytes,
                ..small_config()
            };
            let sub = dir.join(format!("w{write_buffer_bytes}"));
            let log = open(&sub, &backend, config);
            log.append(&mut batch(2, 10, 0), LeaderEpoch(1)).unwrap();
            let info = log.append_owned(batch(3, 10, 0), LeaderEpoch(1)).unwrap();
            assert_eq!(
                (info.first_offset, info.last_offset),
                (Offset(2), Offset(4)),
                "{name}"
            );
            let read = log.read_bytes(Offset(2), 1 << 20, Offset(5)).unwrap();
            let h = &headers(&read.bytes)[0];
            assert_eq!((h.base_offset, h.partition_leader_epoch), (2, 1), "{name}");
            let mut bad = batch(1, 10, 0);
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(matches!(
                log.append_owned(bad, LeaderEpoch(1)),
                Err(Error::InvalidBatch { .. })
            ));
            assert_eq!(log.log_end_offset(), Offset(5));
        }
    });
}
