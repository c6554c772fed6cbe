//! Recovery of a log that was not closed (a crash), against reading its segments and
//! checksumming every byte, in one run.
//!
//! `recovery/unclean_open_256MiB/ringlog`: `Log::open` of 256 MiB of ~100 KB batches, page
//! cached, with the clean-shutdown marker and the recovery-point checkpoint removed before
//! every open, so recovery scans and validates every batch (and rebuilds the indexes). The
//! log is dropped without `close()`. The baseline, `raw_pread_crc32c`, reads the same segment
//! files with pread(2) in 1 MiB chunks and computes a CRC-32C over them. Floor: recovery scans
//! at least 1 GB/s.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_bench::{
    CHUNK, batch_template, bench_config, bench_dir, force_unclean, open_all, raw_pread_crc32c,
    write_log,
};
use ringlog_engine::{FlushPolicy, IoBackendKind, Log};

/// Bytes of log recovered by every iteration.
const LOG_BYTES: u64 = 256 << 20;

fn recovery(c: &mut Criterion) {
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(&base).expect("create a log directory");
    // 1000 records of 100 bytes: batches of about 108 KB.
    let paths = write_log(dir.path(), &batch_template(1000, 100), LOG_BYTES).expect("write log");
    let files = open_all(&paths).expect("open segments");
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let config = bench_config(FlushPolicy::Never, IoBackendKind::Portable);

    let mut group = c.benchmark_group("recovery");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(bytes));
    group.bench_function("unclean_open_256MiB/ringlog", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                force_unclean(dir.path()).expect("remove marker and checkpoint");
                let started = Instant::now();
                let log = Log::open(dir.path(), config.clone()).expect("open log");
                total += started.elapsed();
                let report = log.recovery_report();
                assert!(!report.clean_shutdown);
                assert_eq!(report.bytes_scanned, bytes, "recovery scanned every byte");
                drop(log);
            }
            total
        })
    });
    let mut buf = vec![0u8; CHUNK];
    group.bench_function("unclean_open_256MiB/raw_pread_crc32c", |b| {
        b.iter(|| assert_eq!(raw_pread_crc32c(&files, &mut buf).expect("pread").0, bytes))
    });
    group.finish();
}

criterion_group!(benches, recovery);
criterion_main!(benches);
