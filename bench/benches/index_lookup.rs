//! A segment's sparse indexes, pure (no IO): looking up an offset in the offset index
//! (`.index`) and a timestamp in the time index (`.timeindex`) of a full 1 GiB segment written
//! with the default `index_interval_bytes` (4096): one entry per 4 KiB, 262,143 in the offset
//! index (the segment's first batch needs none) and 262,144 in the time index. Each iteration
//! looks up 4096 targets drawn at random (fixed seed) over the whole segment, rather than one
//! target again and again, whose search the branch predictor and the caches would learn.
//!
//! - `index/offset_lookup_1GiB/ringlog`: `OffsetIndex::lookup_entry`, what a read does first
//!   (`Segment::find_batch`), against `raw_binary_search`: `slice::binary_search_by_key` over a
//!   plain `Vec<(u32, u32)>` of the same (relative offset, position) pairs.
//! - `index/time_lookup_1GiB/ringlog`: `TimeIndex::lookup`, what `Log::offset_for_timestamp`
//!   does in the segment it picked, against `raw_binary_search` over a `Vec<(i64, u32)>` of the
//!   same (timestamp, relative offset) pairs.
//!
//! The indexes are built through their public API (`OffsetIndex::push`, `TimeIndex::maybe_push`)
//! as appends build them; neither bench reads the log behind them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_engine::segment::{OffsetIndex, TimeIndex};
use ringlog_engine::{FilePos, Offset, Timestamp};

/// A full segment and the default index interval.
const SEGMENT_BYTES: u64 = 1 << 30;
const INDEX_INTERVAL_BYTES: u64 = 4096;
const ENTRIES: u64 = SEGMENT_BYTES / INDEX_INTERVAL_BYTES;
/// Records between two entries: 4 KiB of 100-byte records (~110 bytes each in a batch).
const RECORDS_PER_ENTRY: u64 = 37;
/// Milliseconds between two entries' max timestamps.
const MS_PER_ENTRY: i64 = 3;
const BASE_OFFSET: Offset = Offset(1 << 32);
const FIRST_TIMESTAMP: i64 = 1_700_000_000_000;
const LOOKUPS: usize = 4096;

const _: () = assert!(ENTRIES == 262_144);

/// The entries as (relative offset, position, max timestamp), one per index interval.
fn entries() -> impl Iterator<Item = (u64, u64, i64)> {
    (0..ENTRIES).map(|i| {
        (
            i * RECORDS_PER_ENTRY,
            i * INDEX_INTERVAL_BYTES,
            FIRST_TIMESTAMP + i as i64 * MS_PER_ENTRY,
        )
    })
}

/// `count` values in `0..bound`, from a fixed seed (xorshift64*), so every run looks up the
/// same targets.
fn random_below(count: usize, bound: u64) -> Vec<u64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
        })
        .collect()
}

fn index_lookup(c: &mut Criterion) {
    let mut index = OffsetIndex::new(BASE_OFFSET);
    let mut raw: Vec<(u32, u32)> = Vec::with_capacity(ENTRIES as usize);
    // The first batch sits at position 0 with no entry, as in a segment: entries start one
    // interval in.
    for (relative, position, _) in entries().skip(1) {
        index.push(BASE_OFFSET.plus(relative), FilePos(position));
        raw.push((relative as u32, position as u32));
    }
    let relative_end = ENTRIES * RECORDS_PER_ENTRY;
    let targets: Vec<Offset> = random_below(LOOKUPS, relative_end)
        .into_iter()
        .map(|t| BASE_OFFSET.plus(t))
        .collect();
    let raw_lookup = |target: Offset| {
        let relative = (target.0 - BASE_OFFSET.0) as u32;
        match raw.binary_search_by_key(&relative, |&(r, _)| r) {
            Ok(i) => Some(raw[i]),
            Err(0) => None,
            Err(i) => Some(raw[i - 1]),
        }
    };
    for &target in &targets {
        let ringlog = index
            .lookup_entry(target)
            .map(|(o, p)| ((o.0 - BASE_OFFSET.0) as u32, p.0 as u32));
        assert_eq!(ringlog, raw_lookup(target), "lookup of {target:?}");
    }

    let mut group = c.benchmark_group("index");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(LOOKUPS as u64));
    group.bench_function("offset_lookup_1GiB/ringlog", |b| {
        b.iter(|| {
            for &target in &targets {
                black_box(index.lookup_entry(black_box(target)));
            }
        })
    });
    group.bench_function("offset_lookup_1GiB/raw_binary_search", |b| {
        b.iter(|| {
            for &target in &targets {
                black_box(raw_lookup(black_box(target)));
            }
        })
    });

    let mut time_index = TimeIndex::new(BASE_OFFSET);
    let mut raw_time: Vec<(i64, u32)> = Vec::with_capacity(ENTRIES as usize);
    for (relative, _, timestamp) in entries() {
        time_index.maybe_push(Timestamp(timestamp), BASE_OFFSET.plus(relative));
        raw_time.push((timestamp, relative as u32));
    }
    let span = ENTRIES * MS_PER_ENTRY as u64;
    let time_targets: Vec<Timestamp> = random_below(LOOKUPS, span)
        .into_iter()
        .map(|t| Timestamp(FIRST_TIMESTAMP + t as i64))
        .collect();
    // The entry with the largest timestamp below the target, or the segment base.
    let raw_time_lookup = |target: Timestamp| {
        let i = match raw_time.binary_search_by_key(&target.0, |&(t, _)| t) {
            Ok(i) | Err(i) => i,
        };
        match i {
            0 => 0,
            i => raw_time[i - 1].1,
        }
    };
    for &target in &time_targets {
        assert_eq!(
            time_index.lookup(target),
            BASE_OFFSET.plus(u64::from(raw_time_lookup(target))),
            "lookup of {target:?}"
        );
    }
    group.bench_function("time_lookup_1GiB/ringlog", |b| {
        b.iter(|| {
            for &target in &time_targets {
                black_box(time_index.lookup(black_box(target)));
            }
        })
    });
    group.bench_function("time_lookup_1GiB/raw_binary_search", |b| {
        b.iter(|| {
            for &target in &time_targets {
                black_box(raw_time_lookup(black_box(target)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, index_lookup);
criterion_main!(benches);
