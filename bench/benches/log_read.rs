//! Reads of a pre-written, page-cached log against pread(2) of the same bytes, in one run.
//!
//! - `read/read_bytes_1MiB`: `Log::read_bytes` from offset 0 to the log end in fetches of at
//!   most 1 MiB (copied out and every batch validated, CRC included), against `raw_pread` (the
//!   segment file read in 1 MiB chunks) and `raw_pread_crc32c` (the same plus a CRC-32C over
//!   every byte, the work validation cannot avoid).
//! - `read/read_slices_1MiB`: `Log::read`, which answers with file slices only (what a fetch
//!   hands to sendfile): index lookup and a header walk per fetch, no data copied.
//!
//! - `read_small_batches/*`: the same over a log of one-record batches (100-byte values, 170
//!   bytes a batch), where the per-batch work of a fetch shows: finding the batch boundaries
//!   that end a fetch reads each batch's header.
//!
//! No floor is set for reads; the ratios are recorded in docs/performance.md.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ringlog_bench::{
    CHUNK, batch_template, bench_config, bench_dir, open_all, raw_pread, raw_pread_crc32c,
    write_log,
};
use ringlog_engine::{FlushPolicy, IoBackendKind, Log, Offset};

/// Bytes in the log read by every iteration.
const LOG_BYTES: u64 = 64 << 20;

/// Bytes in the log of one-record batches.
const SMALL_BATCH_LOG_BYTES: u64 = 16 << 20;

fn large_batches(c: &mut Criterion) {
    reads(c, "read", &batch_template(1000, 100), LOG_BYTES);
}

fn small_batches(c: &mut Criterion) {
    reads(
        c,
        "read_small_batches",
        &batch_template(1, 100),
        SMALL_BATCH_LOG_BYTES,
    );
}

/// Benches reads of a log of `log_bytes` of `template` batches.
fn reads(c: &mut Criterion, group_name: &str, template: &[u8], log_bytes: u64) {
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(&base).expect("create a log directory");
    let paths = write_log(dir.path(), template, log_bytes).expect("write log");
    let files = open_all(&paths).expect("open segments");
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let log = Log::open(
        dir.path(),
        bench_config(FlushPolicy::Never, IoBackendKind::Portable),
    )
    .expect("open log");
    let end = log.log_end_offset();

    let mut group = c.benchmark_group(group_name);
    // Flat: fetches of small batches take long enough that linear sampling overruns.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(bytes));
    group.bench_function("read_bytes_1MiB/ringlog", |b| {
        b.iter(|| {
            let mut offset = Offset::ZERO;
            let mut read = 0;
            while offset < end {
                let fetched = log.read_bytes(offset, CHUNK as u64, end).expect("read");
                read += fetched.bytes.len() as u64;
                offset = fetched.next_offset;
            }
            assert_eq!(read, bytes);
        })
    });
    let mut buf = vec![0u8; CHUNK];
    group.bench_function("read_bytes_1MiB/raw_pread", |b| {
        b.iter(|| assert_eq!(raw_pread(&files, &mut buf).expect("pread"), bytes))
    });
    group.bench_function("read_bytes_1MiB/raw_pread_crc32c", |b| {
        b.iter(|| assert_eq!(raw_pread_crc32c(&files, &mut buf).expect("pread").0, bytes))
    });
    group.bench_function("read_slices_1MiB/ringlog", |b| {
        b.iter(|| {
            let mut offset = Offset::ZERO;
            let mut read = 0;
            while offset < end {
                let slices = log.read(offset, CHUNK as u64, end).expect("read");
                read += slices.bytes;
                offset = slices.next_offset;
            }
            assert_eq!(read, bytes);
        })
    });
    group.finish();
    log.close().expect("close log");
}

criterion_group!(benches, large_batches, small_batches);
criterion_main!(benches);
