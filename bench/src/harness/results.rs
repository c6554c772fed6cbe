//! What a run measured, as written to `results.json`: the machine, the settings, every
//! baseline and every scenario with its ratios to the baselines and what its brokers spent,
//! and each Kafka row beside its thin twin. The ratios, the CPU per GB and the checks against
//! the floors are computed here, from the figures alone.
//!
//! A ratio is ringlog relative to the hardware, 1.0 being parity and higher better: for a
//! throughput, ringlog's bytes per second over the baseline's; for a latency, the baseline's
//! over ringlog's. ringlog's bytes are the records' value bytes only (what the producer was
//! asked to send), so framing and headers count against it.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plan::{Baseline, KafkaFigure, Protocol, Sizes};

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
    /// librdkafka's `batch.size` and `linger.ms` in the Kafka rows.
    pub kafka_batch_bytes: u32,
    pub kafka_linger_ms: u32,
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
    /// The listener its clients talked to.
    pub protocol: Protocol,
    /// Whose clients: `ringlog perf` or `librdkafka VERSION`.
    pub client: String,
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
    /// The brokers' CPU time over the median run; none when it moved no bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_cpu: Option<BrokerCpu>,
    /// Consumer rows: whether the zero-copy counter carried every record byte fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_copy: Option<ZeroCopy>,
}

/// The CPU time of every broker of a row's cluster, from just before its clients started to
/// just after they were done (for producers: after every replica had the records), over the
/// bytes the row moved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BrokerCpu {
    /// Each broker's user + system seconds, in node id order.
    pub seconds_per_broker: Vec<f64>,
    /// Record value bytes the row's clients produced and read, 10^9 per GB.
    pub gb: f64,
    /// Each broker's seconds over `gb`.
    pub seconds_per_gb_per_broker: Vec<f64>,
    /// All brokers' seconds over `gb`: the figure the floor compares.
    pub seconds_per_gb: f64,
    /// The most `seconds_per_gb` can be off by: `/proc` counts CPU time in clock ticks
    /// ([`CPU_TICKS_OFF_MAX`] per broker over a row).
    pub seconds_per_gb_off_max: f64,
}

/// The most a broker's CPU time over a row can be off by, in clock ticks: `/proc/PID/stat`
/// truncates utime and stime to ticks each, so each reading of their sum is up to 2 ticks
/// short, and a difference of two readings up to 2 ticks either way.
pub const CPU_TICKS_OFF_MAX: f64 = 2.0;

/// Whether a floor was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// The figures' resolution leaves both possible (too few clock ticks in the rows).
    Inconclusive,
}

/// A consumer row's check of the zero-copy path: the brokers' `ringlog_fetch_bytes_total
/// {mode="zerocopy"}` grew by at least the record bytes the consumers counted (it counts whole
/// batches, headers included, so it is somewhat more when every byte went by sendfile).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZeroCopy {
    /// Record value bytes the consumers counted (each consumer's, added up).
    pub fetched_bytes: u64,
    /// How much the zero-copy counter grew, all brokers.
    pub zero_copy_bytes: u64,
    /// How much `ringlog_bytes_out_total` grew, all brokers (responses' heads included).
    pub bytes_out: u64,
    /// `zero_copy_bytes >= fetched_bytes`.
    pub holds: bool,
}

/// A Kafka row beside its thin twin, both measured in this run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The thin row's name and title.
    pub thin: String,
    pub title: String,
    /// The Kafka row's name.
    pub kafka: String,
    /// Kafka's records/s over thin's.
    pub records_per_sec_ratio: f64,
    /// Kafka's broker CPU seconds per GB over thin's; none when either has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_ratio: Option<f64>,
    /// The lowest and highest `cpu_per_gb_ratio` can be at the CPU figures' resolution; none
    /// when thin's figure could be 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_ratio_bounds: Option<[f64; 2]>,
    /// The most `cpu_per_gb_ratio` may be.
    pub cpu_per_gb_floor: f64,
    /// Met when the ratio's upper bound is within the floor, missed when its lower bound is
    /// over it, else inconclusive; none without a ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_floor: Option<Verdict>,
    /// Consumer rows: the zero-copy check held on both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_copy_met: Option<bool>,
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
    /// Each Kafka row beside its thin twin.
    pub comparisons: Vec<Comparison>,
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

/// The brokers' CPU over a row that moved `bytes` record bytes: `seconds_per_broker` (counted
/// in ticks of `tick_seconds`) each divided by its GB, and their sum; none when no bytes
/// moved.
pub fn broker_cpu(
    seconds_per_broker: Vec<f64>,
    tick_seconds: f64,
    bytes: u64,
) -> Option<BrokerCpu> {
    if bytes == 0 {
        return None;
    }
    let gb = bytes as f64 / 1e9;
    let total: f64 = seconds_per_broker.iter().sum();
    let off_max = CPU_TICKS_OFF_MAX * tick_seconds * seconds_per_broker.len() as f64;
    Some(BrokerCpu {
        seconds_per_gb_per_broker: seconds_per_broker.iter().map(|s| s / gb).collect(),
        seconds_per_broker,
        gb,
        seconds_per_gb: total / gb,
        seconds_per_gb_off_max: off_max / gb,
    })
}

/// The lowest and highest `kafka / thin` can be when each may be off by its `off_max`; none
/// when thin's could be 0.
pub fn ratio_bounds(
    kafka: f64,
    kafka_off_max: f64,
    thin: f64,
    thin_off_max: f64,
) -> Option<[f64; 2]> {
    let thin_low = thin - thin_off_max;
    if thin_low <= 0.0 {
        return None;
    }
    let kafka_low = (kafka - kafka_off_max).max(0.0);
    Some([
        kafka_low / (thin + thin_off_max),
        (kafka + kafka_off_max) / thin_low,
    ])
}

/// Whether a ratio that may lie anywhere in `bounds` (unknown: none) is within `floor`.
pub fn floor_verdict(bounds: Option<[f64; 2]>, floor: f64) -> Verdict {
    match bounds {
        Some([_, high]) if within_floor(high, floor) => Verdict::Met,
        Some([low, _]) if !within_floor(low, floor) => Verdict::Missed,
        _ => Verdict::Inconclusive,
    }
}

/// The zero-copy check of a consumer row that fetched `fetched_bytes` of records while the
/// brokers' zero-copy counter grew by `zero_copy_bytes` and their bytes out by `bytes_out`.
pub fn zero_copy(fetched_bytes: u64, zero_copy_bytes: u64, bytes_out: u64) -> ZeroCopy {
    ZeroCopy {
        fetched_bytes,
        zero_copy_bytes,
        bytes_out,
        holds: zero_copy_bytes >= fetched_bytes,
    }
}

/// Whether a CPU-per-GB ratio is within `floor` (a ratio of exactly the floor is).
pub fn within_floor(ratio: f64, floor: f64) -> bool {
    ratio <= floor
}

/// `kafka` (a Kafka row) beside `thin` (its twin), the CPU ratio held to `floor`.
pub fn compare(thin: &ScenarioResult, kafka: &ScenarioResult, floor: f64) -> Comparison {
    let cpus = thin.broker_cpu.as_ref().zip(kafka.broker_cpu.as_ref());
    let cpu_per_gb_ratio = cpus
        .filter(|(t, _)| t.seconds_per_gb > 0.0)
        .map(|(t, k)| k.seconds_per_gb / t.seconds_per_gb);
    let cpu_per_gb_ratio_bounds = cpus.and_then(|(t, k)| {
        ratio_bounds(
            k.seconds_per_gb,
            k.seconds_per_gb_off_max,
            t.seconds_per_gb,
            t.seconds_per_gb_off_max,
        )
    });
    let zero_copy_met = match (&thin.zero_copy, &kafka.zero_copy) {
        (None, None) => None,
        (t, k) => Some(t.as_ref().is_some_and(|z| z.holds) && k.as_ref().is_some_and(|z| z.holds)),
    };
    Comparison {
        thin: thin.name.clone(),
        title: thin.title.clone(),
        kafka: kafka.name.clone(),
        records_per_sec_ratio: if thin.records_per_sec > 0.0 {
            kafka.records_per_sec / thin.records_per_sec
        } else {
            0.0
        },
        cpu_per_gb_ratio,
        cpu_per_gb_ratio_bounds,
        cpu_per_gb_floor: floor,
        cpu_floor: cpus.map(|_| floor_verdict(cpu_per_gb_ratio_bounds, floor)),
        zero_copy_met,
    }
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
            protocol: Protocol::Thin,
            client: "ringlog perf".to_string(),
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
            broker_cpu: None,
            zero_copy: None,
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
    fn cpu_per_gb_is_seconds_over_value_gigabytes() {
        // 2.5 GB moved; brokers spent 1.0 + 0.25 + 0.0 s, in ticks of 10 ms.
        let cpu = broker_cpu(vec![1.0, 0.25, 0.0], 0.01, 2_500_000_000).unwrap();
        assert_eq!(cpu.gb, 2.5);
        assert_eq!(cpu.seconds_per_gb_per_broker, vec![0.4, 0.1, 0.0]);
        assert_eq!(cpu.seconds_per_gb, 0.5);
        assert_eq!(cpu.seconds_per_broker, vec![1.0, 0.25, 0.0]);
        // 2 ticks a broker, 3 brokers: 0.06 s over 2.5 GB.
        assert!(
            (cpu.seconds_per_gb_off_max - 0.024).abs() < 1e-12,
            "{cpu:?}"
        );
        assert_eq!(broker_cpu(vec![1.0], 0.01, 0), None);
    }

    #[test]
    fn the_zero_copy_check_needs_every_record_byte() {
        assert!(zero_copy(100, 100, 120).holds);
        assert!(zero_copy(100, 118, 120).holds);
        assert!(!zero_copy(100, 99, 400).holds);
        assert!(zero_copy(0, 0, 0).holds);
    }

    #[test]
    fn the_cpu_floor_is_kafka_over_thin_within_one_point_one_five() {
        assert!(within_floor(1.0, 1.15));
        assert!(within_floor(1.15, 1.15));
        assert!(!within_floor(1.1501, 1.15));
        let gb = 1_000_000_000;
        let mut thin = scenario("consume_1c", 100.0, None);
        thin.broker_cpu = broker_cpu(vec![2.0], 0.001, gb);
        thin.zero_copy = Some(zero_copy(1000, 1100, 1200));
        let mut kafka = scenario("kafka_consume_1c", 80.0, None);
        kafka.broker_cpu = broker_cpu(vec![2.2], 0.001, gb);
        kafka.zero_copy = Some(zero_copy(1000, 1100, 1200));
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(
            (c.thin.as_str(), c.kafka.as_str()),
            ("consume_1c", "kafka_consume_1c")
        );
        assert!((c.records_per_sec_ratio - 0.8).abs() < 1e-12, "{c:?}");
        assert!((c.cpu_per_gb_ratio.unwrap() - 1.1).abs() < 1e-12, "{c:?}");
        // 2.2 ± 0.002 over 2.0 ± 0.002.
        let [low, high] = c.cpu_per_gb_ratio_bounds.unwrap();
        assert!((low - 2.198 / 2.002).abs() < 1e-12, "{c:?}");
        assert!((high - 2.202 / 1.998).abs() < 1e-12, "{c:?}");
        assert_eq!(c.cpu_floor, Some(Verdict::Met));
        assert_eq!(c.zero_copy_met, Some(true));
        kafka.broker_cpu = broker_cpu(vec![2.4], 0.001, gb);
        kafka.zero_copy = Some(zero_copy(1000, 0, 1200));
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(c.cpu_floor, Some(Verdict::Missed));
        assert_eq!(c.zero_copy_met, Some(false));
        // Ticks of 100 ms: 2.2 could be 2.0 and 2.0 could be 2.2.
        kafka.broker_cpu = broker_cpu(vec![2.2], 0.1, gb);
        thin.broker_cpu = broker_cpu(vec![2.0], 0.1, gb);
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(c.cpu_floor, Some(Verdict::Inconclusive));
        kafka.broker_cpu = None;
        kafka.zero_copy = None;
        thin.zero_copy = None;
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(
            (c.cpu_per_gb_ratio, c.cpu_floor, c.zero_copy_met),
            (None, None, None)
        );
    }

    #[test]
    fn ratio_bounds_take_each_figure_at_its_extremes() {
        assert_eq!(ratio_bounds(3.0, 1.0, 2.0, 1.0), Some([2.0 / 3.0, 4.0]));
        assert_eq!(ratio_bounds(0.5, 1.0, 2.0, 1.0), Some([0.0, 1.5]));
        // Thin's could be 0: the ratio could be anything.
        assert_eq!(ratio_bounds(3.0, 1.0, 1.0, 1.0), None);
        assert_eq!(floor_verdict(None, 1.15), Verdict::Inconclusive);
        assert_eq!(floor_verdict(Some([0.9, 1.15]), 1.15), Verdict::Met);
        assert_eq!(floor_verdict(Some([1.16, 1.3]), 1.15), Verdict::Missed);
        assert_eq!(floor_verdict(Some([1.1, 1.2]), 1.15), Verdict::Inconclusive);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
