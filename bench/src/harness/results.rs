//! What a run measured, as written to `results.json`: the machine, the settings, every
//! baseline and every scenario with its ratios to the baselines. The ratios are computed here,
//! from the figures alone.
//!
//! A ratio is ringlog relative to the hardware, 1.0 being parity and higher better: for a
//! throughput, ringlog's bytes per second over the baseline's; for a latency, the baseline's
//! over ringlog's. ringlog's bytes are the records' value bytes only (what the producer was
//! asked to send), so framing and headers count against it.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plan::{Baseline, KafkaFigure, Sizes};

/// The percentiles every latency carries, from 0 (the fastest) to 100 (the slowest): those
/// `ringlog perf consume --latency` reports and the harness's latency baselines, plotted on
/// one axis.
pub const PERCENTILES: [f64; 13] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

/// `[percentile, ms]` at each of [`PERCENTILES`], from a histogram of microseconds.
pub fn percentile_table(histogram: &Histogram<u64>) -> Vec<[f64; 2]> {
    PERCENTILES
        .iter()
        .map(|&p| {
            let us = match p {
                0.0 => histogram.min(),
                100.0 => histogram.max(),
                _ => histogram.value_at_percentile(p),
            };
            [p, us as f64 / 1000.0]
        })
        .collect()
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// `[percentile, ms]` pairs, from 0 to 100, where the source gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<[f64; 2]>,
}

impl Latency {
    /// The quantile `which` names (`p50`, `p99`, `p999`).
    pub fn quantile(&self, which: Quantile) -> f64 {
        match which {
            Quantile::P50 => self.p50,
            Quantile::P99 => self.p99,
            Quantile::P999 => self.p999,
        }
    }
}

/// The latency quantiles ratios are taken of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantile {
    P50,
    P99,
    P999,
}

impl Quantile {
    pub const ALL: [Quantile; 3] = [Quantile::P50, Quantile::P99, Quantile::P999];

    pub fn label(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P99 => "p99",
            Quantile::P999 => "p99.9",
        }
    }
}

/// The machine a run ran on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    /// `uname -r`.
    pub kernel: String,
    /// The io backend the brokers were told to use, and what it is on this machine.
    pub io_backend: String,
    /// The filesystem of the data directories (ext4, tmpfs, ...).
    pub filesystem: String,
    /// `git rev-parse HEAD` where the run started, `unknown` outside a checkout; `-dirty` when
    /// tracked files differ from it.
    pub git_commit: String,
    /// When the run started (UTC).
    pub date: String,
    /// 1-minute load average when the run started and when it ended (the machine may be
    /// shared).
    pub load_before: f64,
    pub load_after: f64,
}

/// How the run was set up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// `quick` or `full`.
    pub mode: String,
    pub sizes: Sizes,
    pub partitions: u32,
    pub batch_bytes: u32,
    pub linger_ms: u32,
    pub end_to_end_fraction: f64,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// One baseline's figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BaselineResult {
    pub baseline: Baseline,
    pub title: String,
    /// The median of the samples, for a throughput baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_sec: Option<f64>,
    /// Every sample, bytes per second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples_bytes_per_sec: Vec<f64>,
    /// For a latency baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
}

/// One scenario's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub title: String,
    pub brokers: u32,
    pub replication_factor: u16,
    pub partitions: u32,
    pub record_size: u32,
    /// `1` or `all`; none for consumers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks: Option<String>,
    pub flush_always: bool,
    pub producers: u32,
    pub consumers: u32,
    /// Records produced (or, for consumers, read) in all.
    pub records: u64,
    /// The longest of the processes' own clocks (they run at once).
    pub seconds: f64,
    /// `records / seconds`.
    pub records_per_sec: f64,
    /// Every run's records per second, in the order they ran; the figures here are the median
    /// run's.
    pub runs_records_per_sec: Vec<f64>,
    /// Value bytes / seconds, 10^6 per MB.
    pub mb_per_sec: f64,
    /// Producers: from `send` to acknowledgement (the slowest producer's quantiles when there
    /// are several). End-to-end: from `send` to the consumer's receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// Producer and consumer together: the consumer's side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<Rate>,
    /// End-to-end: the producer's limit, records per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_records_per_sec: Option<f64>,
    pub ratios: Vec<Ratio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_2014: Option<KafkaFigure>,
}

/// A rate measured beside the main one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub records: u64,
    pub seconds: f64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
}

/// ringlog's figure over (or, for latencies, under) a baseline's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    pub baseline: Baseline,
    /// `throughput`, or the latency quantile compared.
    pub of: String,
    pub value: f64,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub settings: Settings,
    pub baselines: Vec<BaselineResult>,
    pub scenarios: Vec<ScenarioResult>,
}

impl Results {
    pub fn baseline(&self, baseline: Baseline) -> Option<&BaselineResult> {
        self.baselines.iter().find(|b| b.baseline == baseline)
    }

    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// The ratios of `scenario` to each of `baselines` that was measured: its throughput over a
/// throughput baseline's, a latency baseline's quantiles over its own (for the quantiles both
/// have and that are above 0).
pub fn ratios(
    scenario: &ScenarioResult,
    baselines: &[Baseline],
    measured: &[BaselineResult],
) -> Vec<Ratio> {
    let mut out = Vec::new();
    for &baseline in baselines {
        let Some(measured) = measured.iter().find(|m| m.baseline == baseline) else {
            continue;
        };
        if let Some(bytes_per_sec) = measured.bytes_per_sec.filter(|&b| b > 0.0) {
            out.push(Ratio {
                baseline,
                of: "throughput".to_string(),
                value: scenario.mb_per_sec * 1e6 / bytes_per_sec,
            });
        }
        if let (Some(theirs), Some(ours)) = (&measured.latency_ms, &scenario.latency_ms) {
            for quantile in Quantile::ALL {
                let (theirs, ours) = (theirs.quantile(quantile), ours.quantile(quantile));
                if theirs > 0.0 && ours > 0.0 {
                    out.push(Ratio {
                        baseline,
                        of: quantile.label().to_string(),
                        value: theirs / ours,
                    });
                }
            }
        }
    }
    out
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn latency(p50: f64, p99: f64, p999: f64) -> Latency {
        Latency {
            p50,
            p99,
            p999,
            max: p999 * 2.0,
            percentiles: vec![[0.0, p50 / 2.0], [50.0, p50], [99.0, p99], [99.9, p999]],
        }
    }

    pub(crate) fn scenario(
        name: &str,
        mb_per_sec: f64,
        latency_ms: Option<Latency>,
    ) -> ScenarioResult {
        ScenarioResult {
            name: name.to_string(),
            title: format!("{name} title"),
            brokers: 3,
            replication_factor: 3,
            partitions: 6,
            record_size: 100,
            acks: Some("1".to_string()),
            flush_always: false,
            producers: 1,
            consumers: 0,
            records: 1_000_000,
            seconds: 1.0,
            records_per_sec: mb_per_sec * 1e4,
            runs_records_per_sec: vec![mb_per_sec * 1e4],
            mb_per_sec,
            latency_ms,
            consumer: None,
            throttle_records_per_sec: None,
            ratios: Vec::new(),
            kafka_2014: None,
        }
    }

    pub(crate) fn throughput_baseline(baseline: Baseline, bytes_per_sec: f64) -> BaselineResult {
        BaselineResult {
            baseline,
            title: baseline.title().to_string(),
            bytes_per_sec: Some(bytes_per_sec),
            samples_bytes_per_sec: vec![bytes_per_sec],
            latency_ms: None,
        }
    }

    pub(crate) fn latency_baseline(baseline: Baseline, latency_ms: Latency) -> BaselineResult {
        BaselineResult {
            baseline,
            title: baseline.title().to_string(),
            bytes_per_sec: None,
            samples_bytes_per_sec: Vec::new(),
            latency_ms: Some(latency_ms),
        }
    }

    #[test]
    fn a_throughput_ratio_is_ours_over_the_baselines() {
        let measured = [throughput_baseline(Baseline::Write, 2e9)];
        let s = scenario("p", 500.0, None);
        let r = ratios(&s, &[Baseline::Write, Baseline::Tcp], &measured);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].baseline, Baseline::Write);
        assert_eq!(r[0].of, "throughput");
        assert!((r[0].value - 0.25).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn a_latency_ratio_is_the_baselines_over_ours() {
        let measured = [latency_baseline(
            Baseline::TcpRoundTrip,
            latency(0.05, 0.1, 0.0),
        )];
        let s = scenario("e2e", 30.0, Some(latency(1.0, 2.0, 5.0)));
        let r = ratios(&s, &[Baseline::TcpRoundTrip], &measured);
        // p99.9 of the baseline is 0: no ratio for it.
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].of, "p50");
        assert!((r[0].value - 0.05).abs() < 1e-12, "{r:?}");
        assert_eq!(r[1].of, "p99");
        assert!((r[1].value - 0.05).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
