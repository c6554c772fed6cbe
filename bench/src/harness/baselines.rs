//! The hardware baselines of a run, measured in the same run as the scenarios, on the same
//! filesystem as the brokers' data: the raw disk and loopback figures of the crate's root and
//! [`crate::net_baselines`], sized by [`Sizes`].
//!
//! A throughput baseline is sampled [`Sizes::baseline_samples`] times and its median reported
//! (every sample is kept in `results.json`); each sample writes a fresh file, removed after it.
//! Every disk sample, like every scenario, starts after [`settle`]: what was written before it
//! is on disk, so no one pays for the writeback of another's dirty pages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use super::plan::{Baseline, Sizes};
use super::results::{BaselineResult, Latency, median, percentile_table};
use crate::net_baselines::{sendfile_loopback, tcp_loopback, tcp_round_trips, write_file};
use crate::{batch_template, chunk_of, raw_write, raw_write_fdatasync};

/// Bytes of each append whose fdatasync is timed.
const APPEND_BYTES: usize = 4096;
/// Bytes of each message of the round-trip baseline (a 100 B record's size).
const MESSAGE_BYTES: usize = 100;

/// Measures `baseline` with its files in `dir`.
pub fn measure(baseline: Baseline, dir: &Path, sizes: &Sizes) -> Result<BaselineResult> {
    let samples = sizes.baseline_samples.max(1);
    let throughput = |sample: &dyn Fn() -> Result<f64>| -> Result<Vec<f64>> {
        (0..samples).map(|_| sample()).collect()
    };
    let (samples, latency) = match baseline {
        Baseline::Write => (
            throughput(&|| write_sample(dir, sizes.baseline_bytes, false))?,
            None,
        ),
        Baseline::WriteFdatasync => (
            throughput(&|| write_sample(dir, sizes.baseline_fdatasync_bytes, true))?,
            None,
        ),
        Baseline::Tcp => (
            throughput(&|| Ok(tcp_loopback(sizes.baseline_bytes)?.bytes_per_sec()))?,
            None,
        ),
        Baseline::Sendfile => (sendfile_samples(dir, sizes.baseline_bytes, samples)?, None),
        Baseline::Fdatasync4k => (
            Vec::new(),
            Some(fdatasync_latency(dir, sizes.fdatasync_appends)?),
        ),
        Baseline::TcpRoundTrip => {
            let times = tcp_round_trips(MESSAGE_BYTES, sizes.round_trips)
                .context("time loopback round trips")?;
            (Vec::new(), Some(latency_of(&times)?))
        }
    };
    Ok(BaselineResult {
        baseline,
        title: baseline.title().to_string(),
        bytes_per_sec: (!samples.is_empty()).then(|| median(&samples)),
        samples_bytes_per_sec: samples,
        latency_ms: latency,
    })
}

/// Writes back everything dirty on `dir`'s filesystem (syncfs(2)), outside any clock.
pub fn settle(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    // SAFETY: syncfs(2) on a descriptor we own for the length of the call.
    let result = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("syncfs {}", dir.display()));
    }
    Ok(())
}

/// One sample of [`raw_write`] (or [`raw_write_fdatasync`]) into a fresh file: bytes per
/// second.
fn write_sample(dir: &Path, bytes: u64, sync: bool) -> Result<f64> {
    let file = tempfile::NamedTempFile::new_in(dir).context("create a baseline file")?;
    let mut handle = file.as_file().try_clone()?;
    let chunk = chunk_of(&batch_template(1000, 100));
    settle(dir)?;
    let started = Instant::now();
    let written = if sync {
        raw_write_fdatasync(&mut handle, &chunk, bytes)
    } else {
        raw_write(&mut handle, &chunk, bytes)
    }
    .context("write the baseline file")?;
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

/// `samples` runs of [`sendfile_loopback`] of one page-cached file of `bytes`.
fn sendfile_samples(dir: &Path, bytes: u64, samples: u32) -> Result<Vec<f64>> {
    let file = tempfile::NamedTempFile::new_in(dir).context("create a baseline file")?;
    write_file(file.path(), bytes).context("write the sendfile baseline's file")?;
    (0..samples)
        .map(|_| Ok(sendfile_loopback(file.path(), bytes)?.bytes_per_sec()))
        .collect()
}

/// The time of fdatasync(2) after each of `appends` 4 KiB appends to one file.
fn fdatasync_latency(dir: &Path, appends: u64) -> Result<Latency> {
    let path = tempfile::NamedTempFile::new_in(dir)?.into_temp_path();
    let mut file: File = OpenOptions::new().append(true).open(&path)?;
    settle(dir)?;
    let block = vec![0xa5u8; APPEND_BYTES];
    let mut times = Vec::new();
    for _ in 0..appends {
        file.write_all(&block)?;
        let started = Instant::now();
        file.sync_data().context("fdatasync the baseline file")?;
        times.push(started.elapsed());
    }
    latency_of(&times)
}

/// Quantiles of `times`, in milliseconds, with every percentile ringlog's reports have.
fn latency_of(times: &[Duration]) -> Result<Latency> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    for time in times {
        histogram.saturating_record(u64::try_from(time.as_micros()).unwrap_or(u64::MAX).max(1));
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let percentiles = percentile_table(&histogram);
    Ok(Latency {
        p50: ms(histogram.value_at_quantile(0.50)),
        p99: ms(histogram.value_at_quantile(0.99)),
        p999: ms(histogram.value_at_quantile(0.999)),
        max: ms(histogram.max()),
        percentiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::results::PERCENTILES;

    const TINY: Sizes = Sizes {
        records_100b: 1,
        records_1000b: 1,
        records_flush_always: 1,
        end_to_end_seconds: 0.1,
        baseline_bytes: 4 << 20,
        baseline_fdatasync_bytes: 2 << 20,
        fdatasync_appends: 20,
        round_trips: 50,
        baseline_samples: 2,
        runs: 1,
        idle_window_seconds: 0.1,
        group_runs: 1,
        group_session_timeout_ms: 1,
        group_initial_rebalance_delay_ms: 0,
    };

    #[test]
    fn every_baseline_gives_a_positive_figure() {
        let dir = tempfile::tempdir().unwrap();
        for baseline in Baseline::ALL {
            let result = measure(baseline, dir.path(), &TINY).unwrap();
            assert_eq!(result.baseline, baseline);
            if baseline.is_latency() {
                let latency = result.latency_ms.unwrap();
                assert!(latency.p50 > 0.0, "{baseline:?}: {latency:?}");
                assert!(latency.p50 <= latency.p99, "{baseline:?}: {latency:?}");
                assert_eq!(latency.percentiles.len(), PERCENTILES.len());
            } else {
                assert!(result.bytes_per_sec.unwrap() > 0.0, "{baseline:?}");
                assert_eq!(result.samples_bytes_per_sec.len(), 2, "{baseline:?}");
            }
        }
        // Every sample's file is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
