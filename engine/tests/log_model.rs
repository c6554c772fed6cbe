//! The log against a plain model: random sequences of append, multi-batch append, read,
//! truncate, delete_records and reopen (clean or not), over small segments so rolls happen
//! often, on every IO backend. After each step the log must answer exactly as the model does.

mod common;

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use ringlog_engine::format::RecordIter;
use ringlog_engine::{IoBackend, LeaderEpoch, Log, LogConfig, Offset, Timestamp, TimestampOffset};

#[derive(Clone, Debug)]
enum Op {
    /// `batches` batches of `records` records of `size` bytes in one append.
    Append {
        batches: usize,
        records: usize,
        size: usize,
        new_epoch: bool,
        /// Through `append_owned` rather than `append`.
        owned: bool,
    },
    /// A read from a point `at` of the way through the readable range.
    Read {
        at: f64,
        max_bytes: u64,
    },
    Truncate {
        at: f64,
    },
    DeleteRecords {
        at: f64,
    },
    Reopen {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..4usize, 1..8usize, 0..200usize, proptest::bool::weighted(0.1), any::<bool>())
            .prop_map(|(batches, records, size, new_epoch, owned)| Op::Append { batches, records, size, new_epoch, owned }),
        3 => (0.0..=1.0f64, 1..6000u64).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (0.0..=1.0f64).prop_map(|at| Op::Truncate { at }),
        1 => (0.0..=1.0f64).prop_map(|at| Op::DeleteRecords { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// What the log should hold: its batches (stamped bytes) and its start.
#[derive(Default)]
struct Model {
    batches: Vec<(Offset, Offset, Vec<u8>)>,
    log_start: Offset,
    log_end: Offset,
}

impl Model {
    fn point(&self, at: f64) -> Offset {
        let span = self.log_end.0 - self.log_start.0;
        Offset(self.log_start.0 + (span as f64 * at) as u64)
    }

    /// Kafka's read: from the batch holding `offset`, whole batches within `max_bytes`, the
    /// first one always.
    fn read(&self, offset: Offset, max_bytes: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (_, last, bytes) in self.batches.iter().filter(|(_, last, _)| *last >= offset) {
            let _ = last;
            if !out.is_empty() && (out.len() + bytes.len()) as u64 > max_bytes {
                break;
            }
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Every record still readable (at or after the log start): offset and timestamp.
    fn records(&self) -> Vec<(u64, i64)> {
        self.batches
            .iter()
            .flat_map(|(_, _, bytes)| {
                RecordIter::new(bytes)
                    .expect("the model's batches are uncompressed")
                    .map(|r| r.expect("valid record"))
                    .map(|r| (r.offset as u64, r.timestamp))
                    .collect::<Vec<_>>()
            })
            .filter(|(offset, _)| *offset >= self.log_start.0)
            .collect()
    }

    /// ListOffsets by timestamp: the first record at or after `target`.
    fn offset_for_timestamp(&self, target: i64) -> Option<(u64, i64)> {
        self.records().into_iter().find(|(_, ts)| *ts >= target)
    }

    /// ListOffsets' max timestamp: the first record with the largest timestamp.
    fn max_timestamp(&self) -> Option<(u64, i64)> {
        self.records()
            .into_iter()
            .fold(None, |best: Option<(u64, i64)>, (offset, ts)| match best {
                Some((_, max)) if ts <= max => best,
                _ => Some((offset, ts)),
            })
    }

    fn truncate(&mut self, offset: Offset) {
        if offset >= self.log_end {
            return;
        }
        self.batches.retain(|(_, last, _)| *last < offset);
        self.log_end = self
            .batches
            .last()
            .map_or(self.log_start, |(_, last, _)| last.plus(1));
        if self.log_end < self.log_start {
            self.batches.clear();
            self.log_end = self.log_start;
        }
    }

    fn delete_records(&mut self, offset: Offset) {
        if offset > self.log_start {
            self.log_start = offset;
            self.batches.retain(|(_, last, _)| *last >= offset);
        }
    }
}

/// Stamps offsets from `first` and `epoch` into the batches of `bytes`, as a leader append does.
fn stamp(bytes: &mut [u8], first: Offset, epoch: u32) {
    let mut next = first.0 as i64;
    let mut at = 0;
    for h in common::headers(bytes) {
        ringlog_engine::format::batch::set_base_offset(&mut bytes[at..], next);
        ringlog_engine::format::batch::set_partition_leader_epoch(&mut bytes[at..], epoch as i32);
        next += i64::from(h.last_offset_delta) + 1;
        at += h.total_len();
    }
}

fn config(write_buffer_bytes: usize) -> LogConfig {
    LogConfig {
        write_buffer_bytes,
        // Appends stay below a segment (at most 3 x 8 x ~215 bytes), so rolls are frequent.
        segment_bytes: 8192,
        index_interval_bytes: 300,
        ..LogConfig::default()
    }
}

fn run(
    ops: &[Op],
    backend: &Arc<dyn IoBackend>,
    write_buffer_bytes: usize,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let open = |dir: &Path| {
        Log::open_with_backend(dir, config(write_buffer_bytes), backend.clone()).unwrap()
    };
    let mut log = Some(open(dir.path()));
    let mut model = Model::default();
    let mut epoch = 0u32;
    for op in ops {
        let l = log.as_ref().unwrap();
        match *op {
            Op::Append {
                batches,
                records,
                size,
                new_epoch,
                owned,
            } => {
                epoch += u32::from(new_epoch);
                let mut bytes = Vec::new();
                for b in 0..batches {
                    bytes.extend(common::batch(records, size, (b * 1000) as i64));
                }
                let info = if owned {
                    let info = l.append_owned(bytes.clone(), LeaderEpoch(epoch)).unwrap();
                    // The log stamped its own copy; stamp ours the same way.
                    stamp(&mut bytes, info.first_offset, epoch);
                    info
                } else {
                    l.append(&mut bytes, LeaderEpoch(epoch)).unwrap()
                };
                prop_assert_eq!(info.first_offset, model.log_end);
                let mut at = 0;
                for h in common::headers(&bytes) {
                    let len = h.total_len();
                    model.batches.push((
                        Offset(h.base_offset as u64),
                        Offset(h.last_offset() as u64),
                        bytes[at..at + len].to_vec(),
                    ));
                    at += len;
                }
                model.log_end = info.next_offset();
            }
            Op::Read { at, max_bytes } => {
                let offset = model.point(at);
                let read = l.read_bytes(offset, max_bytes, model.log_end).unwrap();
                prop_assert_eq!(
                    read.bytes,
                    model.read(offset, max_bytes),
                    "read at {} max {}",
                    offset,
                    max_bytes
                );
            }
            Op::Truncate { at } => {
                let offset = model.point(at);
                let leo = l.truncate_to(offset).unwrap();
                model.truncate(offset);
                prop_assert_eq!(leo, model.log_end);
                epoch += 1; // a follower truncates when a new leader epoch begins
            }
            Op::DeleteRecords { at } => {
                let offset = model.point(at);
                l.set_high_watermark(model.log_end);
                l.delete_records(offset).unwrap();
                model.delete_records(offset);
            }
            Op::Reopen { clean } => {
                let l = log.take().unwrap();
                if clean {
                    l.close().unwrap();
                } else {
                    drop(l);
                }
                let reopened = open(dir.path());
                prop_assert_eq!(reopened.recovery_report().clean_shutdown, clean);
                prop_assert!(reopened.recovery_report().truncations.is_empty());
                log = Some(reopened);
            }
        }
        let l = log.as_ref().unwrap();
        l.check_invariants();
        prop_assert_eq!(l.log_end_offset(), model.log_end);
        prop_assert_eq!(l.log_start_offset(), model.log_start);
        let all = l
            .read_bytes(model.log_start, u64::MAX, model.log_end)
            .unwrap();
        prop_assert_eq!(all.bytes, model.read(model.log_start, u64::MAX));
        let found = |hit: Option<TimestampOffset>| hit.map(|t| (t.offset.0, t.timestamp.0));
        prop_assert_eq!(
            found(l.max_timestamp_offset().unwrap()),
            model.max_timestamp()
        );
        for target in [0, 1, 1003, 2000] {
            prop_assert_eq!(
                found(l.offset_for_timestamp(Timestamp(target)).unwrap()),
                model.offset_for_timestamp(target),
                "the first record at or after {}",
                target
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_log_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        for (_, backend) in common::backends() {
            // Write-through, a pipeline that submits every few appends, and the default.
            for write_buffer_bytes in [0, 700, 1 << 20] {
                run(&ops, &backend, write_buffer_bytes)?;
            }
        }
    }
}
