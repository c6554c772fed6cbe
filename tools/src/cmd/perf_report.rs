//! What `perf produce` and `perf consume` share: latency histograms reported in milliseconds,
//! the progress bar, the `--throughput` limit (which `verifiable-producer` takes too), and the
//! send-time stamp that `perf produce --stamp-values` writes and `perf consume --latency` reads.
//!
//! A stamped value starts with its send time:
//!
//! | field     | offset | size | type | byte order | what                                          |
//! |-----------|--------|------|------|------------|-----------------------------------------------|
//! | send time | 0      | 8    | u64  | big-endian | µs since the Unix epoch, read just before `send` |
//!
//! The rest of the value is the usual filler. The two processes read the same system clock
//! (`CLOCK_REALTIME`), so the difference is the record's time from `send` to receipt as long
//! as they run on one machine. A record's own timestamp (CreateTime) is not used: it is in
//! milliseconds, as coarse as the latencies measured.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use ringlog_bench::harness::results::percentile_table;
use serde::Serialize;
use tokio::time::Instant;

/// The largest latency recorded as itself; slower ones count as this (an hour).
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A histogram of microseconds from 1 µs to an hour, 3 significant digits, with its range fixed
/// up front: `saturating_record` clamps rather than recording a slow value as a small one.
pub(super) fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).context("create a latency histogram")
}

/// Records `elapsed` in a histogram of [`latency_histogram`]'s range.
pub(super) fn record_latency(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
}

/// Quantiles of a microsecond histogram, in milliseconds (µs resolution). All 0 when nothing
/// was recorded.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub(super) struct LatencyMs {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyMs {
    pub(super) fn of(histogram: &Histogram<u64>) -> LatencyMs {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            p50: ms(histogram.value_at_quantile(0.50)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }
}

/// A latency histogram in milliseconds: the usual quantiles, how many values it holds, and the
/// value at each of [`PERCENTILES`](ringlog_bench::harness::results::PERCENTILES) (for a plot of latency by percentile).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub(super) struct LatencyDistribution {
    #[serde(flatten)]
    pub summary: LatencyMs,
    /// Values recorded.
    pub count: u64,
    /// `[percentile, ms]`, at each of the harness's `PERCENTILES`.
    pub percentiles: Vec<[f64; 2]>,
}

impl LatencyDistribution {
    pub(super) fn of(histogram: &Histogram<u64>) -> LatencyDistribution {
        LatencyDistribution {
            summary: LatencyMs::of(histogram),
            count: histogram.len(),
            percentiles: percentile_table(histogram),
        }
    }
}

/// Bytes of the send-time stamp at the start of a stamped value.
pub(super) const SEND_STAMP_LEN: usize = 8;

/// Microseconds from the Unix epoch to `at` (0 for a time before it).
pub(super) fn unix_micros(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

/// Writes the send time `sent_us` (from [`unix_micros`]) at the start of `value`, which must
/// hold at least [`SEND_STAMP_LEN`] bytes.
pub(super) fn stamp_send_time(value: &mut [u8], sent_us: u64) {
    value[..SEND_STAMP_LEN].copy_from_slice(&sent_us.to_be_bytes());
}

/// How long a record whose `value` carries a send stamp took from `send` to its receipt at
/// `received_us`. `None` for a value too short to carry a stamp and for a record sent before
/// `since_us` (before the consumer started: its wait says more about the consumer's start than
/// about the path). A receipt stamped before the send (the clock was set back) counts as 0.
pub(super) fn end_to_end(value: &[u8], received_us: u64, since_us: u64) -> Option<Duration> {
    let stamp: [u8; SEND_STAMP_LEN] = value.get(..SEND_STAMP_LEN)?.try_into().ok()?;
    let sent_us = u64::from_be_bytes(stamp);
    (sent_us >= since_us).then(|| Duration::from_micros(received_us.saturating_sub(sent_us)))
}

/// Seconds since `started`, never 0: a run too short for the clock still reports finite rates.
pub(super) fn seconds_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64().max(1e-9)
}

/// A bar of `records` on stderr when it is a terminal; hidden otherwise (pipes, CI, tests).
pub(super) fn progress_bar(records: u64) -> ProgressBar {
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

/// `--throughput`: records per second, at most; `None` for no limit (`-1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Throughput(pub Option<f64>);

/// Parses `--throughput`: `-1`, or a rate above 0.
pub(super) fn parse_throughput(value: &str) -> Result<Throughput, String> {
    let rate: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if rate == -1.0 {
        Ok(Throughput(None))
    } else if rate.is_finite() && rate > 0.0 {
        Ok(Throughput(Some(rate)))
    } else {
        Err(format!("{value} is neither -1 (no limit) nor above 0"))
    }
}

/// Spaces sends so that record `i` leaves no earlier than `i / rate` seconds after the start:
/// a late record is sent at once and the ones after it catch up, as Kafka's throttle does.
#[derive(Debug)]
pub(super) struct Throttle {
    started: Instant,
    rate: Option<f64>,
}

impl Throttle {
    /// Counts from now; `rate` records per second (`None`: no limit).
    pub(super) fn new(rate: Option<f64>) -> Throttle {
        Throttle {
            started: Instant::now(),
            rate,
        }
    }

    /// Waits until record `i` (from 0) may be sent.
    pub(super) async fn wait(&self, i: u64) {
        if let Some(at) = self.due_at(i).filter(|&at| at > Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Whether record `i` may be sent now ([`wait`](Self::wait) would not wait). Reads no
    /// clock without a limit.
    pub(super) fn is_due(&self, i: u64) -> bool {
        self.due_at(i).is_none_or(|at| at <= Instant::now())
    }

    fn due_at(&self, i: u64) -> Option<Instant> {
        let rate = self.rate?;
        Some(self.started + Duration::from_secs_f64(i as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_bench::harness::results::PERCENTILES;

    #[test]
    fn latency_quantiles_are_in_milliseconds() {
        let mut h = latency_histogram().unwrap();
        for _ in 0..98 {
            record_latency(&mut h, Duration::from_micros(1500));
        }
        record_latency(&mut h, Duration::from_millis(40));
        record_latency(&mut h, Duration::from_secs(2));
        let latency = LatencyMs::of(&h);
        assert!((latency.p50 - 1.5).abs() < 0.01, "{latency:?}");
        assert!((latency.p99 - 40.0).abs() < 0.1, "{latency:?}");
        assert!((latency.max - 2000.0).abs() < 2.0, "{latency:?}");
        assert!(latency.p50 <= latency.p99, "{latency:?}");
        assert!(latency.p99 <= latency.p999, "{latency:?}");
        assert!(latency.p999 <= latency.max, "{latency:?}");
    }

    #[test]
    fn a_distribution_holds_every_percentile_in_order() {
        let mut h = latency_histogram().unwrap();
        for us in 1..=1000 {
            record_latency(&mut h, Duration::from_micros(us * 10));
        }
        let distribution = LatencyDistribution::of(&h);
        assert_eq!(distribution.count, 1000);
        assert_eq!(distribution.percentiles.len(), PERCENTILES.len());
        let first = distribution.percentiles[0];
        let last = distribution.percentiles[PERCENTILES.len() - 1];
        assert_eq!(first, [0.0, 0.01]);
        assert_eq!(last[0], 100.0);
        assert!((last[1] - 10.0).abs() < 0.01, "{last:?}");
        assert!(
            (distribution.summary.p50 - 5.0).abs() < 0.01,
            "{distribution:?}"
        );
        for pair in distribution.percentiles.windows(2) {
            assert!(pair[0][0] < pair[1][0], "{pair:?}");
            assert!(pair[0][1] <= pair[1][1], "{pair:?}");
        }
    }

    #[test]
    fn end_to_end_is_receipt_minus_the_stamped_send_time() {
        let mut value = vec![b'A'; 100];
        stamp_send_time(&mut value, 1_700_000_000_123_456);
        assert_eq!(&value[8..], &[b'A'; 92][..]);
        let received = 1_700_000_000_125_956;
        assert_eq!(
            end_to_end(&value, received, 0),
            Some(Duration::from_micros(2500))
        );
        // Sent before the consumer started: not measured.
        assert_eq!(end_to_end(&value, received, 1_700_000_000_123_457), None);
        // The clock went back between send and receipt.
        assert_eq!(
            end_to_end(&value, 1_700_000_000_000_000, 0),
            Some(Duration::ZERO)
        );
        // Too short to carry a stamp.
        assert_eq!(end_to_end(&value[..7], received, 0), None);
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(42);
        assert_eq!(unix_micros(at), 42);
    }

    #[test]
    fn throughput_is_minus_one_or_positive() {
        assert_eq!(parse_throughput("-1"), Ok(Throughput(None)));
        assert_eq!(parse_throughput("250.5"), Ok(Throughput(Some(250.5))));
        assert!(parse_throughput("0").is_err());
        assert!(parse_throughput("-2").is_err());
        assert!(parse_throughput("NaN").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_throttle_spaces_records_by_the_rate() {
        let throttle = Throttle::new(Some(100.0));
        let started = Instant::now();
        throttle.wait(0).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        throttle.wait(50).await;
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        // A record already late goes at once.
        throttle.wait(10).await;
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        Throttle::new(None).wait(1_000_000).await;
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_is_due_once_its_time_has_come() {
        let throttle = Throttle::new(Some(100.0));
        assert!(throttle.is_due(0));
        assert!(!throttle.is_due(50));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(throttle.is_due(50));
        assert!(!throttle.is_due(51));
        assert!(Throttle::new(None).is_due(u64::MAX));
    }
}
