//! Damage on disk: torn and corrupt tails are cut cleanly and reported; damage in data already
//! synced is refused with an error naming the file and position; damaged indexes and checkpoint
//! files are detected and rebuilt or replaced without losing data; nothing panics.

mod common;

use std::path::{Path, PathBuf};

use common::{batch, small_config};
use ringlog_engine::{Error, LeaderEpoch, Log, LogConfig, Offset};

const BATCHES: u64 = 60;
const RECORDS: u64 = 5;

/// A log of 60 batches of 5 records over several small segments, left as `finish` says.
fn write_log(dir: &Path, finish: Finish) -> Vec<u8> {
    let log = Log::open(dir, small_config()).unwrap();
    for i in 0..BATCHES {
        log.append(
            &mut batch(RECORDS as usize, 60, i as i64 * 100),
            LeaderEpoch(i as u32 / 20),
        )
        .unwrap();
    }
    let bytes = log
        .read_bytes(Offset(0), u64::MAX, log.log_end_offset())
        .unwrap()
        .bytes;
    match finish {
        Finish::Close => log.close().unwrap(),
        Finish::Crash => drop(log),
        Finish::FlushThenCrash => {
            log.flush().unwrap();
            log.checkpoint().unwrap();
            drop(log);
        }
    }
    bytes
}

#[derive(Clone, Copy)]
enum Finish {
    Close,
    /// Dropped without close and without a checkpointed recovery point: all of it is tail.
    Crash,
    /// Synced and checkpointed, then dropped: all of it lies below the recovery point.
    FlushThenCrash,
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == suffix))
        .collect();
    files.sort();
    files
}

fn flip(path: &Path, position: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[position as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

fn chop(path: &Path, bytes: u64) -> u64 {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - bytes)
        .unwrap();
    len - bytes
}

/// File positions of the batches in one segment file.
fn batch_positions(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut positions = Vec::new();
    for h in common::headers(&bytes) {
        positions.push(at);
        at += h.total_len() as u64;
    }
    positions
}

fn open(dir: &Path) -> Result<Log, Error> {
    Log::open(dir, small_config())
}

#[test]
fn a_torn_tail_is_cut_at_the_last_whole_batch_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_log(dir.path(), Finish::Crash);
    let last = files(dir.path(), "log").pop().unwrap();
    let positions = batch_positions(&last);
    let cut_at = *positions.last().unwrap();
    chop(&last, 7);
    let log = open(dir.path()).unwrap();
    let report = log.recovery_report();
    assert_eq!(report.truncations.len(), 1, "{report:?}");
    assert_eq!(report.truncations[0].file, last);
    assert_eq!(report.truncations[0].position.0, cut_at);
    assert!(
        report.truncations[0].reason.contains("truncated batch"),
        "{}",
        report.truncations[0].reason
    );
    assert_eq!(log.log_end_offset(), Offset((BATCHES - 1) * RECORDS));
    let after = log
        .read_bytes(Offset(0), u64::MAX, log.log_end_offset())
        .unwrap()
        .bytes;
    assert_eq!(after[..], before[..after.len()]);
    assert_eq!(std::fs::metadata(&last).unwrap().len(), cut_at);
    // The cut log takes new appends where it now ends.
    let info = log.append(&mut batch(1, 5, 0), LeaderEpoch(2)).unwrap();
    assert_eq!(info.first_offset, Offset((BATCHES - 1) * RECORDS));
}

#[test]
fn garbage_after_the_last_batch_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::Crash);
    let last = files(dir.path(), "log").pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&last, bytes).unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.recovery_report().truncations[0].bytes, 100);
    assert_eq!(log.log_end_offset(), Offset(BATCHES * RECORDS));
    assert_eq!(std::fs::metadata(&last).unwrap().len(), len);
}

#[test]
fn a_bit_flip_in_the_unsynced_tail_cuts_from_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::Crash);
    let last = files(dir.path(), "log").pop().unwrap();
    let positions = batch_positions(&last);
    let victim = positions[positions.len() - 2];
    flip(&last, victim + 70);
    let log = open(dir.path()).unwrap();
    let cut = &log.recovery_report().truncations[0];
    assert_eq!(cut.position.0, victim);
    assert!(cut.reason.contains("crc mismatch"), "{}", cut.reason);
    assert_eq!(log.log_end_offset(), Offset((BATCHES - 2) * RECORDS));
}

#[test]
fn damage_below_the_recovery_point_is_refused_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::FlushThenCrash);
    let last = files(dir.path(), "log").pop().unwrap();
    let positions = batch_positions(&last);
    let victim = positions[1];
    flip(&last, victim + 70);
    let len = std::fs::metadata(&last).unwrap().len();
    let err = open(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::CorruptLog { ref file, position, .. } if *file == last && position.0 == victim),
        "{text}"
    );
    assert!(text.contains("crc mismatch"), "{text}");
    assert!(text.contains(&format!("file position {victim}")), "{text}");
    // Nothing was cut.
    assert_eq!(std::fs::metadata(&last).unwrap().len(), len);
}

#[test]
fn damage_in_a_sealed_segment_is_found_when_its_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::FlushThenCrash);
    let first = files(dir.path(), "log").remove(0);
    let positions = batch_positions(&first);
    flip(&first, positions[2] + 70);
    std::fs::remove_file(first.with_extension("index")).unwrap();
    let err = open(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::CorruptLog { ref file, position, .. } if *file == first && position.0 == positions[2]),
        "{err}"
    );
}

#[test]
fn damage_behind_a_clean_shutdown_is_caught_on_read() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::Close);
    let first = files(dir.path(), "log").remove(0);
    let positions = batch_positions(&first);
    flip(&first, positions[3] + 80);
    let log = open(dir.path()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    let err = log
        .read_bytes(Offset(0), u64::MAX, log.log_end_offset())
        .unwrap_err();
    assert!(
        matches!(err, Error::CorruptLog { ref file, position, .. } if *file == first && position.0 == positions[3]),
        "{err}"
    );
}

#[test]
fn damaged_index_files_are_detected_and_rebuilt_without_loss() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 5] = [
        ("index flip", |p| flip(&p.with_extension("index"), 5)),
        ("index chop", |p| {
            chop(&p.with_extension("index"), 3);
        }),
        ("index missing", |p| {
            std::fs::remove_file(p.with_extension("index")).unwrap()
        }),
        ("timeindex flip", |p| {
            flip(&p.with_extension("timeindex"), 2)
        }),
        ("timeindex missing", |p| {
            std::fs::remove_file(p.with_extension("timeindex")).unwrap()
        }),
    ];
    for (what, damage) in damages {
        for finish in [Finish::Close, Finish::FlushThenCrash] {
            let dir = tempfile::tempdir().unwrap();
            let before = write_log(dir.path(), finish);
            let first = files(dir.path(), "log").remove(0);
            damage(&first);
            let log = open(dir.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let report = log.recovery_report();
            assert!(
                !report.warnings.is_empty(),
                "{what}: damage not reported: {report:?}"
            );
            let after = log
                .read_bytes(Offset(0), u64::MAX, log.log_end_offset())
                .unwrap()
                .bytes;
            assert_eq!(after, before, "{what}");
            for offset in [0, 7, 123, 250, 299] {
                let read = log
                    .read_bytes(Offset(offset), 1, log.log_end_offset())
                    .unwrap();
                assert!(
                    read.first_offset.0 <= offset && offset < read.next_offset.0,
                    "{what}: read at {offset}"
                );
            }
            let hit = log
                .offset_for_timestamp(ringlog_engine::Timestamp(1502))
                .unwrap()
                .unwrap();
            assert_eq!(hit.offset, Offset(15 * RECORDS + 2), "{what}");
        }
    }
}

#[test]
fn damaged_checkpoints_are_reported_and_replaced_by_safe_values() {
    for file in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
        "replication-offset-checkpoint",
        "leader-epoch-checkpoint",
    ] {
        for damage in ["flip", "chop"] {
            let dir = tempfile::tempdir().unwrap();
            let before = write_log(dir.path(), Finish::Close);
            let path = dir.path().join(file);
            if damage == "flip" {
                flip(&path, 3);
            } else {
                chop(&path, 4);
            }
            let log = open(dir.path()).unwrap_or_else(|e| panic!("{file} {damage}: {e}"));
            let warnings = &log.recovery_report().warnings;
            assert!(
                warnings.iter().any(|w| w.contains(file)),
                "{file} {damage}: {warnings:?}"
            );
            let after = log
                .read_bytes(Offset(0), u64::MAX, log.log_end_offset())
                .unwrap()
                .bytes;
            assert_eq!(after, before, "{file} {damage}");
            assert_eq!(log.latest_epoch(), Some(LeaderEpoch(2)), "{file} {damage}");
            assert_eq!(
                log.end_offset_for_epoch(LeaderEpoch(0)),
                Some((LeaderEpoch(0), Offset(100)))
            );
        }
    }
}

#[test]
fn random_damage_anywhere_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Finish::Crash);
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), pristine.path());
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(pristine.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.retain(|p| p.file_name().is_some_and(|n| n != ".lock"));
    names.sort();
    for _ in 0..60 {
        let work = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), work.path());
        for _ in 0..1 + next() % 3 {
            let name = names[(next() % names.len() as u64) as usize]
                .file_name()
                .unwrap()
                .to_owned();
            let path = work.path().join(name);
            let len = std::fs::metadata(&path).unwrap().len();
            if len == 0 {
                continue;
            }
            if next() % 4 == 0 {
                chop(&path, 1 + next() % len);
            } else {
                flip(&path, next() % len);
            }
        }
        // Either it opens and every read works or reports corruption, or it refuses to open.
        if let Ok(log) = open(work.path()) {
            log.check_invariants();
            let leo = log.log_end_offset();
            match log.read_bytes(log.log_start_offset(), u64::MAX, leo) {
                Ok(read) => assert_eq!(read.next_offset, leo),
                Err(Error::CorruptLog { .. }) => {}
                Err(e) => panic!("unexpected read error {e}"),
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_config_out_of_range_is_refused_before_touching_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 0,
        ..small_config()
    };
    let err = Log::open(dir.path().join("p"), config).unwrap_err();
    assert!(err.to_string().contains("index_interval_bytes"), "{err}");
    assert!(!dir.path().join("p").exists());
}
