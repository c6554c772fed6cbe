//! `ringlog perf log`: append throughput and latency of one partition log, in process.
//!
//! The batches are built before the clock starts: one template of `--batch-records` records
//! (and one for the remainder, when `--records` is not a multiple of it), copied by each
//! appender thread into its own reusable buffer before every append, since `Log::append`
//! stamps offsets and epoch in place. `--appenders` threads share one `Log` and take batch
//! numbers from one counter until all `--records` are appended, each timing its appends into an
//! HDR histogram (microseconds). Throughput is appended bytes (batch headers included) over the
//! wall time from the start barrier to the last append; closing the log (which syncs
//! everything) is timed apart.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use ringlog_engine::format::{BatchBuilder, Record};
use ringlog_engine::{FlushPolicy, IoBackendKind, LeaderEpoch, Log, LogConfig, Timestamp};
use serde::Serialize;

/// The largest latency recorded as itself; slower appends count as this (an hour).
const LATENCY_US_MAX: u64 = 3_600_000_000;
/// The most appender threads: far more than cores only measures the scheduler.
const APPENDERS_MAX: u32 = 1024;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Directory of the log; it is created if missing (and appended to if it holds a log).
    /// Default: a fresh temporary directory, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Records to append in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Bytes of each record's value (the key is null).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    record_size: u32,
    /// Records per batch; each append carries one batch.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    batch_records: u32,
    /// Durability policy: `never` (rely on replication) or `always` (fdatasync before an
    /// append returns; concurrent appenders share syncs), or a flush interval in milliseconds.
    #[arg(long, default_value = "never")]
    flush: FlushPolicy,
    /// Threads appending to the log concurrently.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=APPENDERS_MAX as i64))]
    appenders: u32,
    /// IO backend: `auto` (io_uring when available, else portable), `uring` or `portable`.
    #[arg(long, default_value = "auto")]
    io_backend: IoBackendKind,
    /// Segment size at which the log rolls (the engine's `segment_bytes`).
    #[arg(long, default_value_t = LogConfig::default().segment_bytes)]
    segment_bytes: u64,
    /// Bytes of appends gathered into one write (the engine's `write_buffer_bytes`); 0 writes
    /// every append before it returns.
    #[arg(long, default_value_t = LogConfig::default().write_buffer_bytes)]
    write_buffer_bytes: usize,
    /// Bytes of blocks reserved ahead of the active segment's data (the engine's
    /// `preallocate_bytes`); 0 turns it off.
    #[arg(long, default_value_t = LogConfig::default().preallocate_bytes)]
    preallocate_bytes: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The work of one run, laid out before the clock starts.
struct Plan {
    /// A full batch of `batch_records` records.
    template: Vec<u8>,
    /// The last, shorter batch when `records` is not a multiple of `batch_records`.
    remainder: Option<Vec<u8>>,
    /// Appends in all (one batch each).
    batch_count: u64,
    records: u64,
    appenders: u32,
}

/// What the appenders did, merged.
struct Measured {
    latency_us: Histogram<u64>,
    records: u64,
    bytes: u64,
    appends: u64,
    elapsed: Duration,
}

/// The report, as printed with `--json`.
#[derive(Serialize, Debug)]
struct Report {
    records: u64,
    bytes: u64,
    seconds: f64,
    records_per_sec: f64,
    /// 10^6 bytes per second.
    mb_per_sec: f64,
    latency_us: Latency,
    io_backend: String,
    appenders: u32,
    appends: u64,
    flush: String,
    batch_records: u32,
    record_size: u32,
    /// Time to close the log (for `flush = never`, the one sync of everything).
    close_seconds: f64,
}

#[derive(Serialize, Debug)]
struct Latency {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let config = LogConfig {
        segment_bytes: args.segment_bytes,
        write_buffer_bytes: args.write_buffer_bytes,
        preallocate_bytes: args.preallocate_bytes,
        flush: args.flush,
        io_backend: args.io_backend,
        ..LogConfig::default()
    };
    config.validate().context("invalid --segment-bytes")?;
    let plan = Plan::new(&args, &config)?;

    // Dropped at the end of `run`, which removes the directory.
    let temp_dir;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp_dir = tempfile::Builder::new()
                .prefix("ringlog-perf-log-")
                .tempdir()
                .context("create a temporary directory")?;
            temp_dir.path().to_path_buf()
        }
    };
    let log = Log::open(&dir, config).with_context(|| format!("open log {}", dir.display()))?;
    let io_backend = log.io_backend_name().to_string();
    let measured = append_all(&log, &plan)?;
    let close_started = Instant::now();
    log.close()
        .with_context(|| format!("close log {}", dir.display()))?;
    let close_seconds = close_started.elapsed().as_secs_f64();

    let report = Report::new(&args, measured, io_backend, close_seconds);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

impl Plan {
    fn new(args: &Args, config: &LogConfig) -> Result<Plan> {
        let batch_records = u64::from(args.batch_records);
        let template = build_batch(args.batch_records.min(clamp_u32(args.records)), args);
        let max = u64::from(config.max_batch_bytes).min(config.segment_bytes);
        if template.len() as u64 > max {
            bail!(
                "a batch of {} records of {} bytes takes {} bytes, above the largest the log \
                 accepts ({max} bytes: max_batch_bytes {}, segment_bytes {}): lower \
                 --batch-records or --record-size",
                args.batch_records,
                args.record_size,
                template.len(),
                config.max_batch_bytes,
                config.segment_bytes
            );
        }
        let left = args.records % batch_records;
        let remainder = if left != 0 && args.records > batch_records {
            Some(build_batch(clamp_u32(left), args))
        } else {
            None
        };
        Ok(Plan {
            template,
            remainder,
            batch_count: args.records.div_ceil(batch_records),
            records: args.records,
            appenders: args.appenders,
        })
    }
}

/// `n`, which callers keep within `u32` (it is at most `batch_records`).
fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One batch of `count` records whose values are `record_size` bytes, timestamped now.
fn build_batch(count: u32, args: &Args) -> Vec<u8> {
    let value: Vec<u8> = (0..args.record_size).map(|i| (i % 251) as u8).collect();
    let estimate = (args.record_size as usize + 16).saturating_mul(count as usize);
    let mut builder = BatchBuilder::with_capacity(estimate.min(64 << 20));
    let timestamp = Timestamp::now().0;
    for _ in 0..count {
        builder.push(&Record {
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp,
        });
    }
    builder.finish()
}

/// Runs the appenders to the end of the plan; the clock runs from the start barrier until the
/// last append returned and everything appended is written (nothing left in the engine's write
/// pipeline).
fn append_all(log: &Log, plan: &Plan) -> Result<Measured> {
    let progress = progress_bar(plan.records);
    let next_batch = AtomicU64::new(0);
    let start = Barrier::new(plan.appenders as usize + 1);
    let (elapsed, results) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..plan.appenders)
            .map(|_| {
                s.spawn(|| {
                    let result = appender(log, plan, &next_batch, &start, &progress);
                    if result.is_err() {
                        // Stop the others: every batch number is taken.
                        next_batch.store(u64::MAX / 2, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let mut results: Vec<Result<Appended>> = workers
            .into_iter()
            .map(|w| w.join().expect("appender thread panicked"))
            .collect();
        if let Err(e) = log.write_out() {
            results.push(Err(e.into()));
        }
        (started.elapsed(), results)
    });
    progress.finish_and_clear();
    let mut measured = Measured {
        latency_us: latency_histogram()?,
        records: 0,
        bytes: 0,
        appends: 0,
        elapsed,
    };
    for result in results {
        let appended = result?;
        measured
            .latency_us
            .add(&appended.latency_us)
            .context("merge histograms")?;
        measured.records += appended.records;
        measured.bytes += appended.bytes;
        measured.appends += appended.appends;
    }
    assert_eq!(
        measured.records, plan.records,
        "appended {} records of {} planned",
        measured.records, plan.records
    );
    Ok(measured)
}

/// What one appender thread did.
struct Appended {
    latency_us: Histogram<u64>,
    records: u64,
    bytes: u64,
    appends: u64,
}

fn appender(
    log: &Log,
    plan: &Plan,
    next_batch: &AtomicU64,
    start: &Barrier,
    progress: &ProgressBar,
) -> Result<Appended> {
    // This thread's own copy of the template, and the buffer each append stamps in place.
    let template = plan.template.clone();
    let mut buf = Vec::with_capacity(template.len());
    let mut out = Appended {
        latency_us: latency_histogram()?,
        records: 0,
        bytes: 0,
        appends: 0,
    };
    start.wait();
    loop {
        let i = next_batch.fetch_add(1, Ordering::Relaxed);
        if i >= plan.batch_count {
            return Ok(out);
        }
        let batch = match &plan.remainder {
            Some(last) if i + 1 == plan.batch_count => last,
            _ => &template,
        };
        buf.clear();
        buf.extend_from_slice(batch);
        let started = Instant::now();
        let info = log
            .append(&mut buf, LeaderEpoch(0))
            .with_context(|| format!("append batch {i}"))?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        out.latency_us.saturating_record(micros);
        out.records += info.record_count;
        out.bytes += info.bytes;
        out.appends += 1;
        progress.inc(info.record_count);
    }
}

/// A histogram of microseconds from 1 µs to an hour, 3 significant digits. Its range is fixed
/// up front: `saturating_record` clamps a value outside the range rather than growing an
/// auto-resizing histogram, so a histogram made with `Histogram::new` would record every
/// append slower than about 2 ms as 2 µs.
fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).context("create a latency histogram")
}

/// A bar on stderr when it is a terminal; hidden otherwise (pipes, CI, tests).
fn progress_bar(records: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(records);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} records ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl Report {
    fn new(args: &Args, m: Measured, io_backend: String, close_seconds: f64) -> Report {
        // A run too short for the clock still reports finite rates.
        let seconds = m.elapsed.as_secs_f64().max(1e-9);
        Report {
            records: m.records,
            bytes: m.bytes,
            seconds,
            records_per_sec: m.records as f64 / seconds,
            mb_per_sec: m.bytes as f64 / seconds / 1e6,
            latency_us: Latency {
                p50: m.latency_us.value_at_quantile(0.50),
                p99: m.latency_us.value_at_quantile(0.99),
                p999: m.latency_us.value_at_quantile(0.999),
                max: m.latency_us.max(),
            },
            io_backend,
            appenders: args.appenders,
            appends: m.appends,
            flush: flush_name(args.flush),
            // What one append carried, when the run is smaller than a batch.
            batch_records: u32::try_from(m.records)
                .map_or(args.batch_records, |r| r.min(args.batch_records)),
            record_size: args.record_size,
            close_seconds,
        }
    }
}

fn flush_name(flush: FlushPolicy) -> String {
    match flush {
        FlushPolicy::Always => "always".into(),
        FlushPolicy::Never => "never".into(),
        FlushPolicy::Interval(every) => format!("{}", every.as_millis()),
    }
}

fn print_text(r: &Report) {
    println!(
        "appended {} records ({:.1} MB) in {:.3} s: {:.0} records/s, {:.1} MB/s",
        r.records,
        r.bytes as f64 / 1e6,
        r.seconds,
        r.records_per_sec,
        r.mb_per_sec
    );
    println!(
        "latency per append: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        r.latency_us.p50, r.latency_us.p99, r.latency_us.p999, r.latency_us.max
    );
    println!(
        "{} appends of {} records x {} bytes by {} appender(s); flush {}; io backend {}",
        r.appends, r.batch_records, r.record_size, r.appenders, r.flush, r.io_backend
    );
    println!("log closed (synced) in {:.3} s", r.close_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_keeps_slow_appends() {
        let mut h = latency_histogram().unwrap();
        h.saturating_record(5);
        h.saturating_record(25_000);
        h.saturating_record(10_000_000);
        assert_eq!(h.len(), 3);
        assert!(h.max() >= 10_000_000, "max {}", h.max());
        assert!(
            h.value_at_quantile(0.5) >= 24_000,
            "p50 {}",
            h.value_at_quantile(0.5)
        );
        assert!(h.min() <= 5, "min {}", h.min());
    }
}
