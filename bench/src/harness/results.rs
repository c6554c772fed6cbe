//! What a run measured, as written to `results.json`: the machine, the settings, every
//! baseline and every scenario with its ratios to the baselines and what its brokers spent,
//! each Kafka row beside its thin twin, each TLS row beside its plaintext twin, and each
//! idempotence-off row beside its idempotent twin. The ratios, the CPU per GB (raw, and net of the cluster's idle CPU), what idempotence
//! costs and the checks against the issues' floors are computed here, from the figures alone.
//!
//! The consumer-group rows carry their times instead ([`GroupTimes`]): every run's, the median
//! and the longest, beside the session timeout and initial rebalance delay they ran with.
//!
//! A ratio is ringlog relative to the hardware, 1.0 being parity and higher better: for a
//! throughput, ringlog's bytes per second over the baseline's; for a latency, the baseline's
//! over ringlog's. ringlog's bytes are the records' value bytes only (what the producer was
//! asked to send), so framing and headers count against it.

use std::time::Duration;

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

/// One scenario's figures. A consumer-group row moves no records of its own: its records,
/// rates and ratios are 0 or empty, and its figures are in `group`.
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
    /// Whether its producers were idempotent (a producer id and sequences on every batch: only
    /// with acks=all); none for consumers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotence: Option<bool>,
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
    /// Consumer-group rows: their times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupTimes>,
}

impl ScenarioResult {
    /// Whether its figure is a throughput: not the end-to-end latency row, not a group row.
    pub fn measures_throughput(&self) -> bool {
        self.throttle_records_per_sec.is_none() && self.group.is_none()
    }
}

/// A consumer-group row's times, beside the group settings that bound them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupTimes {
    /// The session timeout each member asked for, also the brokers'
    /// `group_min_session_timeout_ms`.
    pub session_timeout_ms: u64,
    /// The time between each member's heartbeats.
    pub heartbeat_interval_ms: u64,
    /// The brokers' `group_initial_rebalance_delay_ms`.
    pub initial_rebalance_delay_ms: u64,
    /// The median of the runs' seconds (the mean of the middle two for an even count).
    pub median_seconds: f64,
    /// The longest run's seconds.
    pub max_seconds: f64,
    /// Every run, in the order they ran.
    pub runs: Vec<GroupRun>,
}

/// One run of a consumer-group row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupRun {
    /// Takeover: from the SIGKILL until a surviving member had read a record of each partition
    /// the killed one held. Join: from the members' start until each held its assignment of
    /// one generation, together covering every partition.
    pub seconds: f64,
    /// Takeover: the partitions the killed member held, each read by a survivor since. Join:
    /// every partition of the topic, as the members' assignments covered them.
    pub partitions: Vec<u32>,
    /// The generation the members held: when one was killed (takeover), or at the end (join:
    /// 1 when every member joined within the first initial delay).
    pub generation: i32,
    /// Join: from the start until the last member process was connected and subscribed, a
    /// part of `seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_seconds: Option<f64>,
}

/// The times of a group row's `runs`, ran with the group settings of `sizes`.
pub fn group_times(runs: Vec<GroupRun>, sizes: &Sizes) -> GroupTimes {
    let seconds: Vec<f64> = runs.iter().map(|run| run.seconds).collect();
    GroupTimes {
        session_timeout_ms: sizes.group_session_timeout_ms,
        heartbeat_interval_ms: sizes.group_heartbeat_interval_ms(),
        initial_rebalance_delay_ms: sizes.group_initial_rebalance_delay_ms,
        median_seconds: median(&seconds),
        max_seconds: seconds.iter().copied().fold(0.0, f64::max),
        runs,
    }
}

/// The CPU time of every broker of a row's cluster, from just before its clients started to
/// just after they were done (for producers: after every replica had the records), over the
/// bytes the row moved: as `/proc` counted it (raw), and net of what the cluster spent over
/// an idle window just before the row (net).
///
/// The raw figure holds whatever the cluster burns per wall-clock second regardless of the
/// work (raft and broker heartbeats, followers' long polls of idle partitions, timers), so a
/// row whose clients are slower is charged more of it for the same bytes. The net figure
/// takes each broker's idle rate times the row's duration off its raw seconds; it is the one
/// the floor compares. It assumes the background goes on at its idle rate during the row;
/// where the work takes its place (a follower's long poll of a partition being written
/// returns records instead of waiting), it takes off a little too much, from both rows of a
/// comparison alike.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BrokerCpu {
    /// Each broker's user + system seconds over the row, in node id order.
    pub seconds_per_broker: Vec<f64>,
    /// Record value bytes the row's clients produced and read, 10^9 per GB.
    pub gb: f64,
    /// Each broker's seconds over `gb`.
    pub seconds_per_gb_per_broker: Vec<f64>,
    /// All brokers' seconds over `gb`, idle included.
    pub seconds_per_gb: f64,
    /// The most `seconds_per_gb` can be off by: `/proc` counts CPU time in clock ticks
    /// ([`CPU_TICKS_OFF_MAX`] per broker over a row).
    pub seconds_per_gb_off_max: f64,
    /// Wall-clock seconds between the samples before and after the row.
    pub row_seconds: f64,
    /// Wall-clock seconds of the idle window that ended where the row began.
    pub idle_window_seconds: f64,
    /// The length of a clock tick, seconds: the unit of `/proc`'s CPU times.
    pub tick_seconds: f64,
    /// Each broker's CPU clock ticks per wall-clock second over the idle window.
    pub idle_ticks_per_sec_per_broker: Vec<f64>,
    /// Each broker's seconds over the row less its idle rate times `row_seconds`, never below
    /// 0.
    pub net_seconds_per_broker: Vec<f64>,
    /// Each broker's net seconds over `gb`.
    pub net_seconds_per_gb_per_broker: Vec<f64>,
    /// All brokers' net seconds over `gb`: the figure the floor compares.
    pub net_seconds_per_gb: f64,
    /// The most `net_seconds_per_gb` can be off by at the ticks' resolution
    /// ([`net_ticks_off_max`] per broker).
    pub net_seconds_per_gb_off_max: f64,
}

impl BrokerCpu {
    /// All brokers' idle rate, ticks per second.
    pub fn idle_ticks_per_sec(&self) -> f64 {
        self.idle_ticks_per_sec_per_broker.iter().sum()
    }
}

/// The most a broker's CPU time over a row can be off by, in clock ticks: `/proc/PID/stat`
/// truncates utime and stime to ticks each, so each reading of their sum is up to 2 ticks
/// short, and a difference of two readings up to 2 ticks either way.
pub const CPU_TICKS_OFF_MAX: f64 = 2.0;

/// The most a broker's net CPU time over a row of `row` seconds can be off by, in clock
/// ticks, its idle rate taken over a window of `idle_window` seconds.
///
/// The net figure is `R - I * row / idle_window`, `R` the ticks counted over the row and `I`
/// those counted over the window. Each count is a difference of two readings, off by up to
/// [`CPU_TICKS_OFF_MAX`] either way; the error of `I` is scaled by `row / idle_window` with
/// it. At worst the two add up: `2 * (1 + row / idle_window)`. A row four times as long as
/// its window is thus up to 10 ticks a broker off where its raw figure is up to 2: a short
/// window costs resolution on a slow row. Clamping the net figure at 0 keeps this bound (the
/// true figure is no lower than 0 either).
pub fn net_ticks_off_max(row: f64, idle_window: f64) -> f64 {
    assert!(idle_window > 0.0, "an idle window of {idle_window} s");
    CPU_TICKS_OFF_MAX * (1.0 + row / idle_window)
}

/// What the brokers' CPU clocks counted around one run of a row: the input of [`broker_cpu`].
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTicks {
    /// Each broker's user + system clock ticks over the row, in node id order.
    pub row_per_broker: Vec<u64>,
    /// The wall-clock time between the samples before and after the row.
    pub row: Duration,
    /// Each broker's ticks over the idle window that ended where the row began.
    pub idle_per_broker: Vec<u64>,
    /// The idle window's wall-clock time; not zero.
    pub idle_window: Duration,
    /// The length of a tick, seconds (1 / `sysconf(_SC_CLK_TCK)`).
    pub tick_seconds: f64,
}

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
    /// Kafka's broker CPU seconds per GB over thin's, each net of its cluster's idle CPU
    /// ([`BrokerCpu::net_seconds_per_gb`]); none when either has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_ratio: Option<f64>,
    /// The same of the raw figures, idle included ([`BrokerCpu::seconds_per_gb`]): shown
    /// beside the net ratio, not held to the floor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_raw_ratio: Option<f64>,
    /// The lowest and highest `cpu_per_gb_ratio` can be at the net figures' resolution; none
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

/// An idempotence-off row beside its idempotent twin, both measured in this run: what
/// idempotence costs a producer's throughput, held to a floor.
///
/// Throughput has no resolution limit as CPU time has; what blurs it is how much a row's runs
/// differ on a shared machine. Each row's figure is its median run's, taken as off by up to
/// the farthest of its runs from it; with a single run (a quick run) that is unknown, and no
/// verdict is drawn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdempotenceCost {
    /// The two rows' names, and what their titles share.
    pub on: String,
    pub off: String,
    pub title: String,
    /// The idempotent row's records/s over the other's.
    pub records_per_sec_ratio: f64,
    /// The lowest and highest the ratio can be with each row's figure off by its runs' spread;
    /// none when either ran once (or its spread reaches 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_per_sec_ratio_bounds: Option<[f64; 2]>,
    /// The share of the records/s without idempotence that it costs: `1 - ratio` (below 0 when
    /// the idempotent row was the faster).
    pub cost: f64,
    /// The lowest and highest the cost can be, from the ratio's bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_bounds: Option<[f64; 2]>,
    /// The most `cost` may be.
    pub cost_floor: f64,
    /// Met when the cost's upper bound is within the floor, missed when its lower bound is
    /// over it, else inconclusive (always, without bounds).
    pub verdict: Verdict,
}

/// A TLS row beside its plaintext twin, both measured in this run: what TLS costs. No floor:
/// the figures are reported as they are.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TlsCost {
    /// The plaintext row's name and title.
    pub plaintext: String,
    pub title: String,
    /// The TLS row's name.
    pub tls: String,
    /// TLS's records/s over plaintext's.
    pub records_per_sec_ratio: f64,
    /// TLS's broker CPU seconds per GB over plaintext's, each net of its cluster's idle CPU;
    /// none when either has none or plaintext's is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_ratio: Option<f64>,
    /// The same of the raw figures, idle included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_raw_ratio: Option<f64>,
    /// The lowest and highest `cpu_per_gb_ratio` can be at the clock ticks' resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_gb_ratio_bounds: Option<[f64; 2]>,
}

/// How the TLS broker encrypted: its `ringlog_tls_kernel_offload` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsPath {
    /// The kernel's TLS (kTLS): fetches went out by sendfile, encrypted in the kernel.
    Kernel,
    /// rustls in the broker: every byte encrypted in user space, fetches read and copied.
    Userspace,
}

impl TlsPath {
    /// From the gauge: 1 is kernel TLS; 0, or no gauge (a broker without kernel TLS support),
    /// userspace.
    pub fn from_gauge(gauge: Option<f64>) -> TlsPath {
        if gauge.is_some_and(|g| g >= 1.0) {
            TlsPath::Kernel
        } else {
            TlsPath::Userspace
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TlsPath::Kernel => "kernel TLS (kTLS): fetches by sendfile, encrypted in the kernel",
            TlsPath::Userspace => {
                "userspace rustls: fetches read from the segment files and copied through \
                 rustls (plain TLS cannot use sendfile)"
            }
        }
    }
}

/// `tls` (a TLS row) beside `plaintext` (its twin).
pub fn tls_cost(plaintext: &ScenarioResult, tls: &ScenarioResult) -> TlsCost {
    let cpus = plaintext.broker_cpu.as_ref().zip(tls.broker_cpu.as_ref());
    TlsCost {
        plaintext: plaintext.name.clone(),
        title: plaintext.title.clone(),
        tls: tls.name.clone(),
        records_per_sec_ratio: if plaintext.records_per_sec > 0.0 {
            tls.records_per_sec / plaintext.records_per_sec
        } else {
            0.0
        },
        cpu_per_gb_ratio: cpus
            .filter(|(p, _)| p.net_seconds_per_gb > 0.0)
            .map(|(p, t)| t.net_seconds_per_gb / p.net_seconds_per_gb),
        cpu_per_gb_raw_ratio: cpus
            .filter(|(p, _)| p.seconds_per_gb > 0.0)
            .map(|(p, t)| t.seconds_per_gb / p.seconds_per_gb),
        cpu_per_gb_ratio_bounds: cpus.and_then(|(p, t)| {
            ratio_bounds(
                t.net_seconds_per_gb,
                t.net_seconds_per_gb_off_max,
                p.net_seconds_per_gb,
                p.net_seconds_per_gb_off_max,
            )
        }),
    }
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
    /// Each TLS row beside its plaintext twin.
    pub tls_costs: Vec<TlsCost>,
    /// How the TLS rows' broker encrypted; none when no TLS row ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_path: Option<TlsPath>,
    /// Each idempotence-off row beside its idempotent twin.
    pub idempotence_costs: Vec<IdempotenceCost>,
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

/// The brokers' CPU over a row that moved `bytes` record bytes, raw and net of each broker's
/// idle rate (see [`BrokerCpu`]); none when no bytes moved.
pub fn broker_cpu(ticks: &CpuTicks, bytes: u64) -> Option<BrokerCpu> {
    let brokers = ticks.row_per_broker.len();
    assert_eq!(
        ticks.idle_per_broker.len(),
        brokers,
        "brokers sampled over the idle window and the row"
    );
    if bytes == 0 {
        return None;
    }
    let gb = bytes as f64 / 1e9;
    let tick = ticks.tick_seconds;
    let row_seconds = ticks.row.as_secs_f64();
    let idle_window_seconds = ticks.idle_window.as_secs_f64();
    let seconds_per_broker: Vec<f64> = ticks
        .row_per_broker
        .iter()
        .map(|&t| t as f64 * tick)
        .collect();
    let idle_ticks_per_sec_per_broker: Vec<f64> = ticks
        .idle_per_broker
        .iter()
        .map(|&t| t as f64 / idle_window_seconds)
        .collect();
    let net_seconds_per_broker: Vec<f64> = seconds_per_broker
        .iter()
        .zip(&idle_ticks_per_sec_per_broker)
        .map(|(raw, rate)| (raw - rate * tick * row_seconds).max(0.0))
        .collect();
    let off_max = CPU_TICKS_OFF_MAX * tick * brokers as f64;
    let net_off_max = net_ticks_off_max(row_seconds, idle_window_seconds) * tick * brokers as f64;
    Some(BrokerCpu {
        seconds_per_gb_per_broker: seconds_per_broker.iter().map(|s| s / gb).collect(),
        seconds_per_gb: seconds_per_broker.iter().sum::<f64>() / gb,
        seconds_per_broker,
        gb,
        seconds_per_gb_off_max: off_max / gb,
        row_seconds,
        idle_window_seconds,
        tick_seconds: tick,
        idle_ticks_per_sec_per_broker,
        net_seconds_per_gb_per_broker: net_seconds_per_broker.iter().map(|s| s / gb).collect(),
        net_seconds_per_gb: net_seconds_per_broker.iter().sum::<f64>() / gb,
        net_seconds_per_broker,
        net_seconds_per_gb_off_max: net_off_max / gb,
    })
}

/// The lowest and highest `value / base` can be when each may be off by its `off_max` (a Kafka
/// row's figure over its thin twin's; an idempotent row's over its twin's); none when `base`
/// could be 0.
pub fn ratio_bounds(
    value: f64,
    value_off_max: f64,
    base: f64,
    base_off_max: f64,
) -> Option<[f64; 2]> {
    let base_low = base - base_off_max;
    if base_low <= 0.0 {
        return None;
    }
    let value_low = (value - value_off_max).max(0.0);
    Some([
        value_low / (base + base_off_max),
        (value + value_off_max) / base_low,
    ])
}

/// Whether a figure held to at most `floor` (a CPU ratio, a cost), which may lie anywhere in
/// `bounds` (unknown: none), is within it.
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

/// Whether a figure held to at most `floor` is within it (exactly the floor is).
pub fn within_floor(ratio: f64, floor: f64) -> bool {
    ratio <= floor
}

/// `kafka` (a Kafka row) beside `thin` (its twin), the ratio of their net CPU per GB held to
/// `floor`.
pub fn compare(thin: &ScenarioResult, kafka: &ScenarioResult, floor: f64) -> Comparison {
    let cpus = thin.broker_cpu.as_ref().zip(kafka.broker_cpu.as_ref());
    let cpu_per_gb_ratio = cpus
        .filter(|(t, _)| t.net_seconds_per_gb > 0.0)
        .map(|(t, k)| k.net_seconds_per_gb / t.net_seconds_per_gb);
    let cpu_per_gb_raw_ratio = cpus
        .filter(|(t, _)| t.seconds_per_gb > 0.0)
        .map(|(t, k)| k.seconds_per_gb / t.seconds_per_gb);
    let cpu_per_gb_ratio_bounds = cpus.and_then(|(t, k)| {
        ratio_bounds(
            k.net_seconds_per_gb,
            k.net_seconds_per_gb_off_max,
            t.net_seconds_per_gb,
            t.net_seconds_per_gb_off_max,
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
        cpu_per_gb_raw_ratio,
        cpu_per_gb_ratio_bounds,
        cpu_per_gb_floor: floor,
        cpu_floor: cpus.map(|_| floor_verdict(cpu_per_gb_ratio_bounds, floor)),
        zero_copy_met,
    }
}

/// `on` (an idempotent row) beside `off` (its twin without idempotence), the share of
/// throughput idempotence costs held to `floor`.
pub fn idempotence_cost(on: &ScenarioResult, off: &ScenarioResult, floor: f64) -> IdempotenceCost {
    let ratio = if off.records_per_sec > 0.0 {
        on.records_per_sec / off.records_per_sec
    } else {
        0.0
    };
    let records_per_sec_ratio_bounds =
        runs_spread(on)
            .zip(runs_spread(off))
            .and_then(|(on_off_max, off_off_max)| {
                ratio_bounds(
                    on.records_per_sec,
                    on_off_max,
                    off.records_per_sec,
                    off_off_max,
                )
            });
    // The cost falls as the ratio rises: its bounds are the ratio's, swapped.
    let cost_bounds = records_per_sec_ratio_bounds.map(|[low, high]| [1.0 - high, 1.0 - low]);
    IdempotenceCost {
        on: on.name.clone(),
        off: off.name.clone(),
        title: super::plan::pair_title(&on.title).to_string(),
        records_per_sec_ratio: ratio,
        records_per_sec_ratio_bounds,
        cost: 1.0 - ratio,
        cost_bounds,
        cost_floor: floor,
        verdict: floor_verdict(cost_bounds, floor),
    }
}

/// How far a row's records/s may be off: the farthest of its runs from the figure reported;
/// none for a single run.
pub fn runs_spread(s: &ScenarioResult) -> Option<f64> {
    if s.runs_records_per_sec.len() < 2 {
        return None;
    }
    let spread = s
        .runs_records_per_sec
        .iter()
        .map(|run| (run - s.records_per_sec).abs())
        .fold(0.0, f64::max);
    Some(spread)
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
            idempotence: Some(false),
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
            group: None,
        }
    }

    /// A row of `row_seconds` whose brokers spent `seconds_per_broker`, in ticks of
    /// `tick_seconds`, after a 2 s idle window in which each counted `idle_ticks`.
    pub(crate) fn cpu_ticks(
        seconds_per_broker: &[f64],
        tick_seconds: f64,
        row_seconds: f64,
        idle_ticks: u64,
    ) -> CpuTicks {
        CpuTicks {
            row_per_broker: seconds_per_broker
                .iter()
                .map(|s| (s / tick_seconds).round() as u64)
                .collect(),
            row: Duration::from_secs_f64(row_seconds),
            idle_per_broker: vec![idle_ticks; seconds_per_broker.len()],
            idle_window: Duration::from_secs(2),
            tick_seconds,
        }
    }

    /// The CPU of a 1 s row over `gb` GB after a 2 s window with no idle ticks: net and raw
    /// seconds alike, the net ± 1.5 times the raw one's.
    pub(crate) fn busy(
        seconds_per_broker: &[f64],
        tick_seconds: f64,
        gb: f64,
    ) -> Option<BrokerCpu> {
        broker_cpu(
            &cpu_ticks(seconds_per_broker, tick_seconds, 1.0, 0),
            (gb * 1e9) as u64,
        )
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
        // 2.5 GB moved in 5 s; brokers spent 1.0 + 0.25 + 0.0 s, in ticks of 10 ms, after a
        // 2 s window in which they spent 2, 1 and 0 ticks.
        let mut ticks = cpu_ticks(&[1.0, 0.25, 0.0], 0.01, 5.0, 0);
        ticks.idle_per_broker = vec![2, 1, 0];
        let cpu = broker_cpu(&ticks, 2_500_000_000).unwrap();
        assert_eq!(cpu.gb, 2.5);
        assert_eq!(cpu.seconds_per_gb_per_broker, vec![0.4, 0.1, 0.0]);
        assert_eq!(cpu.seconds_per_gb, 0.5);
        assert_eq!(cpu.seconds_per_broker, vec![1.0, 0.25, 0.0]);
        assert_eq!((cpu.row_seconds, cpu.idle_window_seconds), (5.0, 2.0));
        // 2 ticks a broker, 3 brokers: 0.06 s over 2.5 GB.
        assert!(
            (cpu.seconds_per_gb_off_max - 0.024).abs() < 1e-12,
            "{cpu:?}"
        );
        // 1, 0.5 and 0 ticks a second, over 5 s: 0.05, 0.025 and 0 s taken off.
        assert_eq!(cpu.idle_ticks_per_sec_per_broker, vec![1.0, 0.5, 0.0]);
        assert_eq!(cpu.idle_ticks_per_sec(), 1.5);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12);
        assert!(
            close(&cpu.net_seconds_per_broker, &[0.95, 0.225, 0.0]),
            "{cpu:?}"
        );
        assert!(
            close(&cpu.net_seconds_per_gb_per_broker, &[0.38, 0.09, 0.0]),
            "{cpu:?}"
        );
        assert!((cpu.net_seconds_per_gb - 0.47).abs() < 1e-12, "{cpu:?}");
        // 2 * (1 + 5 / 2) = 7 ticks a broker, 3 brokers: 0.21 s over 2.5 GB.
        assert!(
            (cpu.net_seconds_per_gb_off_max - 0.084).abs() < 1e-12,
            "{cpu:?}"
        );
        assert_eq!(broker_cpu(&cpu_ticks(&[1.0], 0.01, 1.0, 0), 0), None);
    }

    #[test]
    fn the_net_cpu_is_never_negative() {
        // 1 tick over a 10 s row, after a window of 4 ticks in 2 s: 20 ticks to take off.
        let mut ticks = cpu_ticks(&[0.01, 0.5], 0.01, 10.0, 4);
        ticks.idle_per_broker = vec![4, 0];
        let cpu = broker_cpu(&ticks, 1_000_000_000).unwrap();
        assert_eq!(cpu.net_seconds_per_broker, vec![0.0, 0.5]);
        assert_eq!(cpu.net_seconds_per_gb, 0.5);
        assert!(cpu.net_seconds_per_gb_off_max > 0.0, "{cpu:?}");
    }

    #[test]
    fn the_idle_correction_widens_the_bounds() {
        assert_eq!(net_ticks_off_max(0.0, 2.0), CPU_TICKS_OFF_MAX);
        assert_eq!(net_ticks_off_max(2.0, 2.0), 4.0);
        assert_eq!(net_ticks_off_max(8.0, 2.0), 10.0);
        let gb = 1.0;
        let quick = broker_cpu(&cpu_ticks(&[2.0], 0.01, 1.0, 1), 1_000_000_000).unwrap();
        let slow = broker_cpu(&cpu_ticks(&[2.0], 0.01, 8.0, 1), 1_000_000_000).unwrap();
        assert_eq!(quick.seconds_per_gb_off_max, slow.seconds_per_gb_off_max);
        assert!(quick.net_seconds_per_gb_off_max > quick.seconds_per_gb_off_max);
        assert!(slow.net_seconds_per_gb_off_max > quick.net_seconds_per_gb_off_max);
        // The same CPU compared with itself: exactly 1.0, within wider bounds the slower the
        // Kafka row.
        let mut thin = scenario("consume_1c", 100.0, None);
        thin.broker_cpu = busy(&[2.0], 0.01, gb);
        let mut kafka = scenario("kafka_consume_1c", 100.0, None);
        kafka.broker_cpu = busy(&[2.0], 0.01, gb);
        let [low_quick, high_quick] = compare(&thin, &kafka, 1.15)
            .cpu_per_gb_ratio_bounds
            .unwrap();
        kafka.broker_cpu = broker_cpu(&cpu_ticks(&[2.0], 0.01, 8.0, 0), 1_000_000_000);
        let c = compare(&thin, &kafka, 1.15);
        let [low_slow, high_slow] = c.cpu_per_gb_ratio_bounds.unwrap();
        assert_eq!(c.cpu_per_gb_ratio, Some(1.0));
        assert!(low_slow < low_quick && high_slow > high_quick, "{c:?}");
    }

    /// Both rows did the same work per GB; the Kafka one took five times as long, so `/proc`
    /// charged it five times the cluster's idle CPU.
    #[test]
    fn a_slow_row_with_the_same_net_work_compares_at_one() {
        let gb = 1_000_000_000;
        // 1 ms ticks: 1,500 ticks of work a broker, 500 idle ticks a second (1,000 in the
        // 2 s window), a 2 s thin row and a 10 s Kafka row.
        let mut thin = scenario("consume_1c", 100.0, None);
        thin.broker_cpu = broker_cpu(&cpu_ticks(&[2.5, 2.5, 2.5], 0.001, 2.0, 1000), gb);
        let mut kafka = scenario("kafka_consume_1c", 20.0, None);
        kafka.broker_cpu = broker_cpu(&cpu_ticks(&[6.5, 6.5, 6.5], 0.001, 10.0, 1000), gb);
        let c = compare(&thin, &kafka, 1.15);
        assert!(
            (c.cpu_per_gb_raw_ratio.unwrap() - 2.6).abs() < 1e-12,
            "{c:?}"
        );
        assert!((c.cpu_per_gb_ratio.unwrap() - 1.0).abs() < 1e-12, "{c:?}");
        // 4.5 ± 0.012 over 4.5 ± 0.036.
        let [low, high] = c.cpu_per_gb_ratio_bounds.unwrap();
        assert!((low - 4.464 / 4.512).abs() < 1e-12, "{c:?}");
        assert!((high - 4.536 / 4.488).abs() < 1e-12, "{c:?}");
        assert_eq!(c.cpu_floor, Some(Verdict::Met));
        // The consumers measured by hand (3 brokers, 1 GB, 10 ms ticks, an idle cluster at
        // 1.5 ticks a second): thin 46 ticks in 1.5 s, librdkafka 58 in 8.5 s, 1.26x raw.
        // Net of the idle CPU they are about even, no longer a miss; at 10 ms ticks a 2 s
        // window leaves the slow row too coarse for a verdict.
        let mut ticks = cpu_ticks(&[0.0; 3], 0.01, 1.5, 1);
        ticks.row_per_broker = vec![16, 15, 15];
        thin.broker_cpu = broker_cpu(&ticks, gb);
        ticks.row = Duration::from_secs_f64(8.5);
        ticks.row_per_broker = vec![20, 19, 19];
        kafka.broker_cpu = broker_cpu(&ticks, gb);
        let c = compare(&thin, &kafka, 1.15);
        assert!(
            (c.cpu_per_gb_raw_ratio.unwrap() - 58.0 / 46.0).abs() < 1e-12,
            "{c:?}"
        );
        // (58 - 12.75) / (46 - 2.25).
        assert!(
            (c.cpu_per_gb_ratio.unwrap() - 45.25 / 43.75).abs() < 1e-12,
            "{c:?}"
        );
        assert_eq!(c.cpu_floor, Some(Verdict::Inconclusive));
    }

    #[test]
    fn a_row_whose_work_costs_more_still_misses() {
        let gb = 1_000_000_000;
        // As above, but the Kafka row's brokers worked 2,000 ticks each to thin's 1,500.
        let mut thin = scenario("consume_1c", 100.0, None);
        thin.broker_cpu = broker_cpu(&cpu_ticks(&[2.5, 2.5, 2.5], 0.001, 2.0, 1000), gb);
        let mut kafka = scenario("kafka_consume_1c", 20.0, None);
        kafka.broker_cpu = broker_cpu(&cpu_ticks(&[7.0, 7.0, 7.0], 0.001, 10.0, 1000), gb);
        let c = compare(&thin, &kafka, 1.15);
        assert!(
            (c.cpu_per_gb_ratio.unwrap() - 2.0 / 1.5).abs() < 1e-12,
            "{c:?}"
        );
        assert!(c.cpu_per_gb_ratio_bounds.unwrap()[0] > 1.15, "{c:?}");
        assert_eq!(c.cpu_floor, Some(Verdict::Missed));
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
        let gb = 1.0;
        let mut thin = scenario("consume_1c", 100.0, None);
        thin.broker_cpu = busy(&[2.0], 0.001, gb);
        thin.zero_copy = Some(zero_copy(1000, 1100, 1200));
        let mut kafka = scenario("kafka_consume_1c", 80.0, None);
        kafka.broker_cpu = busy(&[2.2], 0.001, gb);
        kafka.zero_copy = Some(zero_copy(1000, 1100, 1200));
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(
            (c.thin.as_str(), c.kafka.as_str()),
            ("consume_1c", "kafka_consume_1c")
        );
        assert!((c.records_per_sec_ratio - 0.8).abs() < 1e-12, "{c:?}");
        assert!((c.cpu_per_gb_ratio.unwrap() - 1.1).abs() < 1e-12, "{c:?}");
        // 2.2 ± 0.003 over 2.0 ± 0.003 (2 ticks of the row, 1 of the window's 2 over 1 s).
        let [low, high] = c.cpu_per_gb_ratio_bounds.unwrap();
        assert!((low - 2.197 / 2.003).abs() < 1e-12, "{c:?}");
        assert!((high - 2.203 / 1.997).abs() < 1e-12, "{c:?}");
        assert_eq!(c.cpu_floor, Some(Verdict::Met));
        assert_eq!(c.zero_copy_met, Some(true));
        kafka.broker_cpu = busy(&[2.4], 0.001, gb);
        kafka.zero_copy = Some(zero_copy(1000, 0, 1200));
        let c = compare(&thin, &kafka, 1.15);
        assert_eq!(c.cpu_floor, Some(Verdict::Missed));
        assert_eq!(c.zero_copy_met, Some(false));
        // Ticks of 100 ms: 2.2 could be 2.0 and 2.0 could be 2.2.
        kafka.broker_cpu = busy(&[2.2], 0.1, gb);
        thin.broker_cpu = busy(&[2.0], 0.1, gb);
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

    /// A row of `runs` records/s, the median run's reported.
    pub(crate) fn runs(name: &str, runs: &[f64]) -> ScenarioResult {
        let mut s = scenario(name, 0.0, None);
        s.runs_records_per_sec = runs.to_vec();
        s.records_per_sec = median(runs);
        s.title = format!("{name} shape, idempotence on");
        s
    }

    #[test]
    fn idempotence_costs_the_share_of_throughput_it_takes() {
        // 0.97 of the records/s: a cost of 3%, runs within 1% (on) and 0.5% (off) of theirs.
        let on = runs("on", &[0.98e6, 0.97e6, 0.96e6]);
        let off = runs("off", &[1.0e6, 1.005e6, 0.995e6]);
        let c = idempotence_cost(&on, &off, 0.05);
        assert_eq!((c.on.as_str(), c.off.as_str()), ("on", "off"));
        assert_eq!(c.title, "on shape");
        assert!((c.records_per_sec_ratio - 0.97).abs() < 1e-12, "{c:?}");
        assert!((c.cost - 0.03).abs() < 1e-12, "{c:?}");
        let [low, high] = c.records_per_sec_ratio_bounds.unwrap();
        assert!((low - 0.96 / 1.005).abs() < 1e-12, "{c:?}");
        assert!((high - 0.98 / 0.995).abs() < 1e-12, "{c:?}");
        let [cost_low, cost_high] = c.cost_bounds.unwrap();
        assert!((cost_low - (1.0 - high)).abs() < 1e-12, "{c:?}");
        assert!((cost_high - (1.0 - low)).abs() < 1e-12, "{c:?}");
        assert_eq!(c.verdict, Verdict::Met);
        // The same medians with wider runs: the cost could be over 5%.
        let on = runs("on", &[1.0e6, 0.97e6, 0.9e6]);
        let c = idempotence_cost(&on, &off, 0.05);
        assert_eq!(c.verdict, Verdict::Inconclusive, "{c:?}");
        // 0.85 of the records/s, every run of it under every run without.
        let on = runs("on", &[0.86e6, 0.85e6, 0.84e6]);
        let c = idempotence_cost(&on, &off, 0.05);
        assert!((c.cost - 0.15).abs() < 1e-12, "{c:?}");
        assert_eq!(c.verdict, Verdict::Missed, "{c:?}");
        // Faster with idempotence: a negative cost, met.
        let on = runs("on", &[1.1e6, 1.1e6, 1.1e6]);
        let c = idempotence_cost(&on, &off, 0.05);
        assert!(c.cost < 0.0, "{c:?}");
        assert_eq!(c.verdict, Verdict::Met, "{c:?}");
    }

    #[test]
    fn one_run_has_no_spread_and_draws_no_verdict() {
        let on = runs("on", &[0.5e6]);
        let off = runs("off", &[1.0e6]);
        assert_eq!(runs_spread(&on), None);
        assert_eq!(runs_spread(&runs("two", &[1.0, 3.0])), Some(1.0));
        let c = idempotence_cost(&on, &off, 0.05);
        assert!((c.cost - 0.5).abs() < 1e-12, "{c:?}");
        assert_eq!(
            (c.records_per_sec_ratio_bounds, c.cost_bounds),
            (None, None)
        );
        assert_eq!(c.verdict, Verdict::Inconclusive);
    }

    pub(crate) fn group_run(seconds: f64, partitions: &[u32]) -> GroupRun {
        GroupRun {
            seconds,
            partitions: partitions.to_vec(),
            generation: 1,
            started_seconds: None,
        }
    }

    #[test]
    fn a_group_row_reports_the_median_and_the_longest_run() {
        let runs = vec![
            group_run(6.5, &[0, 1]),
            group_run(8.0, &[2, 3]),
            group_run(6.1, &[4, 5]),
        ];
        let times = group_times(runs.clone(), &Sizes::FULL);
        assert_eq!((times.median_seconds, times.max_seconds), (6.5, 8.0));
        assert_eq!(times.runs, runs, "every run, in the order they ran");
        assert_eq!(
            (
                times.session_timeout_ms,
                times.heartbeat_interval_ms,
                times.initial_rebalance_delay_ms
            ),
            (6_000, 2_000, 3_000)
        );
        let mut row = scenario("group_takeover", 0.0, None);
        assert!(row.measures_throughput());
        row.group = Some(times);
        assert!(!row.measures_throughput());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
