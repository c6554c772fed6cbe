//! The idempotent producer in the engine: a leader's append of a retried batch writes
//! nothing and answers the first append's offsets; sequence and epoch refusals; the state
//! kept across clean closes, crashes (from the last snapshot and the batches after it),
//! snapshots that cannot be trusted, truncation, record deletion and expiry.

mod common;

use std::time::Duration;

use ringlog_engine::format::producer::KeptBatch;
use ringlog_engine::format::{BatchBuilder, Record, SequenceError};
use ringlog_engine::producer_state::{list_snapshots, snapshot_path};
use ringlog_engine::{Error, LeaderEpoch, Log, LogConfig, Offset, Timestamp};

/// 4 KiB segments: thirty batches of three 200-byte records roll five times.
fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4 * 1024,
        ..common::small_config()
    }
}

const EPOCH: LeaderEpoch = LeaderEpoch(0);

/// A batch of `records` records of producer `producer_id` at `epoch` from `sequence`.
fn producer_batch(producer_id: i64, epoch: i16, sequence: i32, records: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new().with_producer(producer_id, epoch, sequence);
    let value = vec![b'v'; 200];
    for i in 0..records {
        builder.push(&Record {
            key: Some(b"k"),
            value: Some(&value),
            headers: &[],
            timestamp: 1_000 + i as i64,
        });
    }
    builder.finish()
}

/// Appends producer 7's batches of 3 records from sequence `from` on, `count` of them.
fn append_run(log: &Log, from: i32, count: i32) {
    for i in 0..count {
        let info = log
            .append(&mut producer_batch(7, 0, from + 3 * i, 3), EPOCH)
            .unwrap();
        assert!(!info.duplicate);
    }
}

/// A retry of each of producer 7's last five batches is a duplicate with its first offsets.
fn assert_retries_are_duplicates(log: &Log) {
    let entry = log.producer(7).expect("producer 7 is known");
    assert_eq!(entry.batches.len(), 5);
    let end = log.log_end_offset();
    for kept in &entry.batches {
        let records = (kept.last_sequence - kept.first_sequence + 1) as usize;
        let mut retry = producer_batch(7, entry.epoch, kept.first_sequence, records);
        let info = log.append(&mut retry, EPOCH).unwrap();
        assert!(info.duplicate, "the retry of {kept:?} was appended again");
        assert_eq!(
            (info.first_offset, info.last_offset),
            (kept.first_offset, kept.last_offset)
        );
    }
    assert_eq!(log.log_end_offset(), end, "a duplicate wrote nothing");
}

#[test]
fn a_retried_batch_is_answered_with_its_first_offsets_and_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&mut common::batch(2, 10, 0), EPOCH).unwrap();
    let first = log.append(&mut producer_batch(7, 0, 0, 3), EPOCH).unwrap();
    assert_eq!(
        (first.first_offset, first.last_offset),
        (Offset(2), Offset(4))
    );
    let retry = log.append(&mut producer_batch(7, 0, 0, 3), EPOCH).unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.first_offset, retry.last_offset),
        (Offset(2), Offset(4))
    );
    assert_eq!(retry.bytes, 0);
    assert_eq!(log.log_end_offset(), Offset(5));
    assert_eq!(
        log.producer(7).unwrap().batches.back(),
        Some(&KeptBatch {
            first_sequence: 0,
            last_sequence: 2,
            first_offset: Offset(2),
            last_offset: Offset(4),
        })
    );
}

#[test]
fn out_of_order_fenced_and_unknown_producers_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&mut producer_batch(7, 2, 0, 3), EPOCH).unwrap();
    let end = log.log_end_offset();
    let refused = |bytes: &mut Vec<u8>| log.append(bytes, EPOCH).unwrap_err();
    assert!(matches!(
        refused(&mut producer_batch(7, 2, 4, 1)),
        Error::Sequence(SequenceError::OutOfOrderSequence {
            expected: 3,
            got: 4,
            ..
        })
    ));
    assert!(matches!(
        refused(&mut producer_batch(7, 1, 3, 1)),
        Error::Sequence(SequenceError::InvalidProducerEpoch {
            epoch: 1,
            current: 2,
            ..
        })
    ));
    assert!(matches!(
        refused(&mut producer_batch(8, 0, 9, 1)),
        Error::Sequence(SequenceError::UnknownProducerId {
            producer_id: 8,
            got: 9
        })
    ));
    // An idempotent batch shares its append with no other.
    let mut two = producer_batch(7, 2, 3, 1);
    two.extend(common::batch(1, 10, 0));
    assert!(matches!(
        refused(&mut two),
        Error::IdempotentAppendOfManyBatches { count: 2 }
    ));
    // Transactions are not supported yet: the transactional attribute bit is refused.
    let mut transactional = producer_batch(7, 2, 3, 1);
    transactional[22] |= 0x10;
    ringlog_engine::format::batch::stamp_crc(&mut transactional);
    assert!(matches!(
        refused(&mut transactional),
        Error::TransactionsUnsupported { producer_id: 7 }
    ));
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn a_clean_close_keeps_the_producers_with_nothing_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    append_run(&log, 0, 30);
    let end = log.log_end_offset();
    log.close().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    let report = &log.recovery_report().producers;
    assert_eq!(report.snapshot, Some(end));
    assert_eq!(report.batches_replayed, 0);
    assert_retries_are_duplicates(&log);
}

#[test]
fn after_a_crash_the_producers_come_from_the_last_snapshot_and_the_batches_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    append_run(&log, 0, 30);
    let segments = log.segments();
    assert!(segments.len() > 2, "the appends rolled segments");
    let last_roll = segments.last().unwrap().base_offset;
    drop(log); // A crash: no close, no snapshot at the end.
    let log = Log::open(dir.path(), small_config()).unwrap();
    let report = &log.recovery_report().producers;
    assert_eq!(report.snapshot, Some(last_roll));
    assert!(report.batches_replayed > 0);
    assert_retries_are_duplicates(&log);
    // And the producer goes on in sequence.
    append_run(&log, 90, 1);
}

/// A snapshot past the log end (written, then the data it covered lost, as a crash between a
/// roll's snapshot and the segment's data can leave) and a damaged one are deleted and the
/// state is rebuilt from what the log holds, never taken from them.
#[test]
fn snapshots_past_the_log_end_or_damaged_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    append_run(&log, 0, 30);
    let end = log.log_end_offset();
    drop(log);
    let snapshots = list_snapshots(dir.path()).unwrap();
    let (&newest, newest_path) = snapshots.iter().next_back().unwrap();
    // A snapshot claiming more than the log holds: the one written when the log ended at
    // `newest`, moved past the end (what it covers is not there).
    let ahead = snapshot_path(dir.path(), Offset(end.0 + 50));
    let mut bytes = std::fs::read(newest_path).unwrap();
    std::fs::write(&ahead, &bytes).unwrap();
    // And the newest real snapshot damaged.
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(newest_path, &bytes).unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    let report = log.recovery_report().producers.clone();
    assert_eq!(report.discarded.len(), 2, "{report:?}");
    assert!(report.snapshot < Some(newest));
    assert!(!ahead.exists());
    assert_retries_are_duplicates(&log);
    // Without any snapshot, the whole log is replayed.
    drop(log);
    for path in list_snapshots(dir.path()).unwrap().into_values() {
        std::fs::remove_file(path).unwrap();
    }
    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.recovery_report().producers.snapshot, None);
    assert_retries_are_duplicates(&log);
}

/// A follower takes its leader's producers from the batches it replicates, and a truncation
/// forgets the batches it cut: their retries are new again.
#[test]
fn followers_learn_producers_and_truncation_forgets_the_cut_batches() {
    let leader_dir = tempfile::tempdir().unwrap();
    let leader = Log::open(leader_dir.path(), small_config()).unwrap();
    append_run(&leader, 0, 30);
    let follower_dir = tempfile::tempdir().unwrap();
    let follower = Log::open(follower_dir.path(), small_config()).unwrap();
    while follower.log_end_offset() < leader.log_end_offset() {
        let read = leader
            .read_bytes(follower.log_end_offset(), 2048, leader.log_end_offset())
            .unwrap();
        follower.append_replicated(&read.bytes).unwrap();
    }
    assert_eq!(follower.producer(7), leader.producer(7));
    assert_retries_are_duplicates(&follower);
    // Cut the last two batches (six records): the producer's last batch is the third-last.
    let end = follower.log_end_offset();
    follower.truncate_to(Offset(end.0 - 6)).unwrap();
    let entry = follower.producer(7).unwrap();
    assert_eq!(entry.batches.back().unwrap().last_sequence, 83);
    let retried = follower
        .append(&mut producer_batch(7, 0, 84, 3), EPOCH)
        .unwrap();
    assert!(
        !retried.duplicate,
        "a batch the truncation cut is new again"
    );
    // No snapshot past the new end survives the truncation.
    let snapshots = list_snapshots(follower_dir.path()).unwrap();
    assert!(
        snapshots
            .keys()
            .all(|&covered| covered <= Offset(end.0 - 6))
    );
}

#[test]
fn deleted_records_forget_batches_and_expiry_forgets_producers() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    log.append(&mut producer_batch(1, 0, 0, 3), EPOCH).unwrap();
    append_run(&log, 0, 30);
    assert_eq!(log.producer_count(), 2);
    let end = log.log_end_offset();
    log.set_high_watermark(end);
    // Past producer 1's only batch: its batch is forgotten (a retry of it is known to be in
    // the past), and the snapshots of deleted segments go.
    log.delete_records(Offset(end.0 - 3)).unwrap();
    assert!(log.producer(1).unwrap().batches.is_empty());
    assert!(matches!(
        log.append(&mut producer_batch(1, 0, 0, 3), EPOCH),
        Err(Error::Sequence(SequenceError::DuplicateSequence { .. }))
    ));
    assert_eq!(log.producer(7).unwrap().batches.len(), 1);
    let first = log.segments()[0].base_offset;
    assert!(
        list_snapshots(dir.path())
            .unwrap()
            .keys()
            .all(|&covered| covered >= first)
    );
    // Producer 7's last batch was stamped at about 1_000 ms: a day later it has expired.
    let day = Duration::from_secs(86_400);
    assert_eq!(log.expire_producers(Timestamp(1_000 + 1_000), day), 0);
    assert_eq!(log.expire_producers(Timestamp(10_000 + 86_400_000), day), 2);
    assert!(log.producer(7).is_none());
    assert_eq!(log.producer_count(), 0);
}
