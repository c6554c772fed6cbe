//! Segment preallocation (`preallocate_bytes`): blocks reserved ahead of the active segment's
//! data without changing its length, given back on roll, close and recovery. Run on every IO
//! backend; sizes read with stat(2) (`st_blocks`), as `du` would.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use common::{backends, batch};
use ringlog_engine::{IoBackend, LeaderEpoch, Log, LogConfig, Offset};

const STEP: u64 = 1 << 20;

fn config(segment_bytes: u64, preallocate_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        preallocate_bytes,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, backend: &Arc<dyn IoBackend>, config: LogConfig) -> Log {
    Log::open_with_backend(dir, config, backend.clone()).unwrap()
}

/// A log of 2 MiB segments reserving 1 MiB steps, appended to until it has three segments.
fn three_segments(dir: &Path, backend: &Arc<dyn IoBackend>) -> Log {
    let log = open(dir, backend, config(2 * STEP, STEP));
    while log.segments().len() < 3 {
        log.append(&mut batch(100, 1000, 0), LeaderEpoch(0))
            .unwrap();
    }
    log
}

/// (length, bytes of blocks held) of a file.
fn sizes(path: &Path) -> (u64, u64) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.len(), meta.blocks() * 512)
}

/// Whether the file holds no more blocks than its length needs (whole 4 KiB blocks).
fn holds_only_its_data(path: &Path) -> bool {
    let (len, held) = sizes(path);
    held <= len.div_ceil(4096) * 4096
}

#[test]
fn the_active_segment_reserves_blocks_ahead_and_keeps_its_length() {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), &backend, config(64 * STEP, 4 * STEP));
        log.append(&mut batch(100, 1000, 0), LeaderEpoch(0))
            .unwrap();
        log.write_out().unwrap();
        let segment = &log.segments()[0];
        let (len, held) = sizes(&segment.path);
        assert_eq!(len, segment.size, "{name}: the file is as long as its data");
        assert!(
            held >= 4 * STEP,
            "{name}: {held} bytes held, 4 MiB reserved"
        );
        // Readers see the data only, and appends go on from its end.
        let read = log.read_bytes(Offset(0), u64::MAX, Offset(100)).unwrap();
        assert_eq!(read.bytes.len() as u64, len);
        let info = log.append(&mut batch(5, 10, 0), LeaderEpoch(0)).unwrap();
        assert_eq!(info.first_offset, Offset(100));
    }
}

#[test]
fn a_rolled_segment_and_a_closed_log_give_back_what_was_reserved() {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = three_segments(dir.path(), &backend);
        let segments = log.segments();
        for rolled in &segments[..2] {
            assert!(
                holds_only_its_data(&rolled.path),
                "{name}: rolled {:?} holds {:?}",
                rolled.path,
                sizes(&rolled.path)
            );
        }
        let active = segments[2].path.clone();
        assert!(
            !holds_only_its_data(&active),
            "{name}: the active segment reserves ahead"
        );
        let end = log.log_end_offset();
        log.close().unwrap();
        assert!(
            holds_only_its_data(&active),
            "{name}: closed: {:?}",
            sizes(&active)
        );
        let log = open(dir.path(), &backend, config(2 * STEP, STEP));
        assert_eq!(log.log_end_offset(), end);
        assert!(log.recovery_report().clean_shutdown);
    }
}

#[test]
fn recovery_gives_back_what_a_crash_left_reserved() {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = three_segments(dir.path(), &backend);
        let end = log.log_end_offset();
        let before = log.read_bytes(Offset(0), u64::MAX, end).unwrap().bytes;
        let paths: Vec<_> = log.segments().iter().map(|s| s.path.clone()).collect();
        drop(log);
        // A crash between a write and the roll that would have given the rest back: the first
        // segment holds blocks past its end.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&paths[0])
            .unwrap();
        let len = file.metadata().unwrap().len();
        // SAFETY: a plain syscall on a descriptor `file` keeps open for the call.
        let reserved = unsafe {
            libc::fallocate(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::FALLOC_FL_KEEP_SIZE,
                len as libc::off_t,
                STEP as libc::off_t,
            )
        };
        assert_eq!(reserved, 0, "{name}: fallocate");
        drop(file);
        assert!(!holds_only_its_data(&paths[0]));

        let log = open(dir.path(), &backend, config(2 * STEP, STEP));
        let report = log.recovery_report();
        assert!(!report.clean_shutdown, "{name}");
        assert!(report.truncations.is_empty(), "{name}: {report:?}");
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(
            log.read_bytes(Offset(0), u64::MAX, end).unwrap().bytes,
            before
        );
        assert!(
            holds_only_its_data(&paths[0]),
            "{name}: after recovery {:?}",
            sizes(&paths[0])
        );
        assert_eq!(sizes(&paths[0]).0, len, "{name}: the length is untouched");
    }
}

#[test]
fn preallocate_bytes_zero_reserves_nothing() {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), &backend, config(64 * STEP, 0));
        log.append(&mut batch(100, 1000, 0), LeaderEpoch(0))
            .unwrap();
        log.write_out().unwrap();
        let path = log.segments()[0].path.clone();
        assert!(holds_only_its_data(&path), "{name}: {:?}", sizes(&path));
    }
}

#[test]
fn a_truncation_gives_back_the_blocks_past_the_cut() {
    for (name, backend) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), &backend, config(64 * STEP, 4 * STEP));
        for _ in 0..3 {
            log.append(&mut batch(100, 1000, 0), LeaderEpoch(0))
                .unwrap();
        }
        log.truncate_to(Offset(100)).unwrap();
        let segment = &log.segments()[0];
        assert!(
            holds_only_its_data(&segment.path),
            "{name}: {:?}",
            sizes(&segment.path)
        );
        // Appends reserve again from the cut.
        log.append(&mut batch(100, 1000, 0), LeaderEpoch(0))
            .unwrap();
        log.write_out().unwrap();
        let segment = &log.segments()[0];
        assert_eq!(sizes(&segment.path).0, segment.size, "{name}");
        assert!(!holds_only_its_data(&segment.path), "{name}");
    }
}
