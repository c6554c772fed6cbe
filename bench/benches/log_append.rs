//! Appends through the log against write(2) of the same bytes, in the same run.
//!
//! - `append_flush_never/<shape>`: 32 MiB of one batch shape appended into a fresh log (one
//!   batch per append), against `raw_write`: the same bytes written with write(2) in 1 MiB
//!   chunks into a fresh file. Floor: ringlog at least 0.8 of the baseline. Also
//!   `raw_write_preallocated`: the same into blocks reserved first, as the log's segments are
//!   (`preallocate_bytes`), the kernel's cheapest buffered write.
//! - `append_flush_always/<shape>`: the same with `flush = always`, by 1 and by 16 appender
//!   threads (group commit shares fdatasyncs between them), against `raw_write_fdatasync`:
//!   write(2) in 1 MiB chunks with an fdatasync after each. Floor: 16 appenders at least 0.6.
//!
//! Each log bench runs for every io backend that can be set up here. Fresh logs and files are
//! created, primed and deleted outside the clock; the log is dropped without `close()`, so
//! nothing is synced that the baseline does not sync either. Files live in one directory
//! (`RINGLOG_BENCH_DIR`, default cargo's target tmpdir), so both sides hit the same filesystem.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ringlog_bench::{
    CHUNK, EPOCH, append_repeatedly, appends_for, available_backends, batch_template,
    batches_per_append, bench_config, bench_dir, chunk_of, prime, raw_pwrite_batches, raw_write,
    raw_write_fdatasync, raw_write_preallocated,
};
use ringlog_engine::{FlushPolicy, IoBackend, IoBackendKind, Log, LogConfig};

/// Bytes appended per iteration.
const TOTAL_BYTES: u64 = 32 << 20;
/// The engine's default `write_buffer_bytes`.
const DEFAULT_WRITE_BUFFER: usize = 1 << 20;
/// Appender threads in the concurrent flush-always bench.
const MANY_APPENDERS: usize = 16;

/// A batch shape: records per batch and value bytes per record.
struct Shape {
    name: &'static str,
    records: usize,
    value_size: usize,
}

const SMALL_RECORDS: Shape = Shape {
    name: "100Bx1000",
    records: 1000,
    value_size: 100,
};
const LARGE_RECORDS: Shape = Shape {
    name: "1KiBx100",
    records: 100,
    value_size: 1024,
};

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn flush_never(c: &mut Criterion) {
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let backends = available_backends();
    for shape in [SMALL_RECORDS, LARGE_RECORDS] {
        let template = batch_template(shape.records, shape.value_size);
        let appends = appends_for(&template, TOTAL_BYTES);
        let bytes = appends * template.len() as u64;
        let mut group = c.benchmark_group(format!("append_flush_never/{}", shape.name));
        configure(&mut group);
        group.throughput(Throughput::Bytes(bytes));
        for (name, backend) in &backends {
            // The default: the write pipeline (1 MiB writes, in flight while appends go on).
            let pipelined = Case::new(FlushPolicy::Never, DEFAULT_WRITE_BUFFER, 1);
            bench_log(
                &mut group,
                format!("ringlog_{name}"),
                &base,
                backend,
                pipelined,
                &template,
                appends,
            );
            // Every append written before it returns (`write_buffer_bytes = 0`).
            let through = Case::new(FlushPolicy::Never, 0, 1);
            let label = format!("ringlog_{name}_write_through");
            bench_log(
                &mut group, label, &base, backend, through, &template, appends,
            );
            // The pipeline fed with owned buffers: no staging copy, one writev per 1 MiB.
            let owned = pipelined.owned();
            let label = format!("ringlog_{name}_owned");
            bench_log(&mut group, label, &base, backend, owned, &template, appends);
            // Diagnostic: the same batches, as many per append as fit in 1 MiB, written through
            // (one write each), to show what the size of each write costs.
            let multi = batches_per_append(&template, CHUNK);
            let multi_appends = appends_for(&multi, bytes);
            let label = format!("ringlog_{name}_1MiB_appends");
            bench_log(
                &mut group,
                label,
                &base,
                backend,
                through,
                &multi,
                multi_appends,
            );
        }
        let chunk = chunk_of(&template);
        group.bench_function("raw_write", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| timed_raw(&base, |f| raw_write(f, &chunk, bytes)))
                    .sum()
            })
        });
        // Diagnostic: the same into reserved blocks, what the log's preallocation gets from
        // the kernel (the floor is against `raw_write`).
        group.bench_function("raw_write_preallocated", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| timed_raw(&base, |f| raw_write_preallocated(f, &chunk, bytes)))
                    .sum()
            })
        });
        // Diagnostics: where the gap between the two comes from.
        for (name, crc) in [
            ("raw_pwrite_per_batch", false),
            ("raw_pwrite_per_batch_crc32c", true),
        ] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            timed_raw(&base, |f| raw_pwrite_batches(f, &template, appends, crc))
                        })
                        .sum()
                })
            });
        }
        group.finish();
    }
}

fn flush_always(c: &mut Criterion) {
    let base = bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let backends = available_backends();
    let shape = SMALL_RECORDS;
    let template = batch_template(shape.records, shape.value_size);
    let appends = appends_for(&template, TOTAL_BYTES);
    let bytes = appends * template.len() as u64;
    let mut group = c.benchmark_group(format!("append_flush_always/{}", shape.name));
    configure(&mut group);
    // An iteration takes long (hundreds of fdatasyncs): the same number of iterations per
    // sample keeps the total bounded.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(bytes));
    for (name, backend) in &backends {
        for appenders in [1, MANY_APPENDERS] {
            let case = Case::new(FlushPolicy::Always, DEFAULT_WRITE_BUFFER, appenders);
            let label = format!("ringlog_{name}_{appenders}_appenders");
            bench_log(&mut group, label, &base, backend, case, &template, appends);
        }
    }
    let chunk = chunk_of(&template);
    group.bench_function("raw_write_fdatasync", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| timed_raw(&base, |f| raw_write_fdatasync(f, &chunk, bytes)))
                .sum()
        })
    });
    group.finish();
}

/// One measured configuration of the log.
#[derive(Clone, Copy)]
struct Case {
    flush: FlushPolicy,
    write_buffer_bytes: usize,
    appenders: usize,
    /// Hand each batch over with `append_owned` (built before the clock, as a broker's request
    /// buffers arrive already filled) instead of `append` of one reused buffer.
    owned: bool,
}

impl Case {
    fn new(flush: FlushPolicy, write_buffer_bytes: usize, appenders: usize) -> Case {
        Case {
            flush,
            write_buffer_bytes,
            appenders,
            owned: false,
        }
    }

    fn owned(self) -> Case {
        Case {
            owned: true,
            ..self
        }
    }
}

/// Adds `label` to `group`: each iteration is one [`timed_appends`].
fn bench_log(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: String,
    base: &std::path::Path,
    backend: &Arc<dyn IoBackend>,
    case: Case,
    template: &[u8],
    appends: u64,
) {
    group.bench_function(label, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| timed_appends(base, backend, case, template, appends))
                .sum()
        })
    });
}

/// Opens a fresh, primed log in a new directory under `base` and times `appends` appends of
/// `template` by `case.appenders` threads (each its own copy of the template, the appends split
/// evenly; one appender appends on the calling thread), from a start barrier until every
/// appended byte is written.
fn timed_appends(
    base: &std::path::Path,
    backend: &Arc<dyn IoBackend>,
    case: Case,
    template: &[u8],
    appends: u64,
) -> Duration {
    let dir = tempfile::tempdir_in(base).expect("create a log directory");
    // The backend is passed in; the kind in the config is not used.
    let config = LogConfig {
        write_buffer_bytes: case.write_buffer_bytes,
        ..bench_config(case.flush, IoBackendKind::Portable)
    };
    let appenders = case.appenders;
    let log = Log::open_with_backend(dir.path(), config, backend.clone()).expect("open log");
    prime(&log).expect("prime the log");
    if appenders == 1 {
        // One appender appends on this long-lived thread, as a broker's shard does: io_uring
        // hands a thread's writes to io-wq workers of that thread, and a thread spawned per
        // iteration pays for new workers every time (measured in docs/storage.md §e: 0.70
        // of raw write from a fresh thread per iteration, 0.82 from one long-lived thread).
        let started = if case.owned {
            let batches: Vec<Vec<u8>> = (0..appends).map(|_| template.to_vec()).collect();
            let started = Instant::now();
            for batch in batches {
                log.append_owned(batch, EPOCH).expect("append");
            }
            started
        } else {
            let mut batch = template.to_vec();
            let started = Instant::now();
            append_repeatedly(&log, &mut batch, appends).expect("append");
            started
        };
        log.write_out().expect("write out");
        let elapsed = started.elapsed();
        drop(log);
        return elapsed;
    }
    let start = Barrier::new(appenders + 1);
    let started = std::thread::scope(|s| {
        for i in 0..appenders as u64 {
            let share = appends / appenders as u64 + u64::from(i < appends % appenders as u64);
            let (log, start) = (&log, &start);
            s.spawn(move || {
                if case.owned {
                    let batches: Vec<Vec<u8>> = (0..share).map(|_| template.to_vec()).collect();
                    start.wait();
                    for batch in batches {
                        log.append_owned(batch, EPOCH).expect("append");
                    }
                } else {
                    let mut batch = template.to_vec();
                    start.wait();
                    append_repeatedly(log, &mut batch, share).expect("append");
                }
            });
        }
        start.wait();
        // The scope joins every appender before it returns.
        Instant::now()
    });
    // The clock stops once every appended byte is written (in the page cache), as the
    // baseline's does: nothing may be left in the write pipeline for `drop` to write.
    log.write_out().expect("write out");
    let elapsed = started.elapsed();
    drop(log);
    elapsed
}

/// Times `write` on a fresh file under `base`, created and deleted outside the clock.
fn timed_raw(
    base: &std::path::Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<u64>,
) -> Duration {
    let dir = tempfile::tempdir_in(base).expect("create a directory");
    let mut file = std::fs::File::create(dir.path().join("raw")).expect("create file");
    let started = Instant::now();
    write(&mut file).expect("raw write");
    started.elapsed()
}

criterion_group!(benches, flush_never, flush_always);
criterion_main!(benches);
