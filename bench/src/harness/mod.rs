//! The end-to-end benchmark harness behind `ringlog bench`: Kafka's 2014 benchmark scenarios
//! run against real broker processes on 127.0.0.1, next to the hardware baselines of the same
//! run, written out as `results.json`, `report.md` and PNG plots.
//!
//! | part          | owns                                                                  |
//! |---------------|-----------------------------------------------------------------------|
//! | [`plan`]      | the scenarios, their baselines, Kafka's figures, the quick and full sizes (data, no IO) |
//! | [`process`]   | child processes stopped on every path; Ctrl-C                          |
//! | [`cluster`]   | one or three `ringlog broker` processes in a temporary directory; `ringlog topic` |
//! | [`workload`]  | a scenario's `ringlog perf produce/consume` processes and their combined figures |
//! | [`kafka_clients`] | a Kafka row's librdkafka producer or consumer, on the harness's thread |
//! | [`groups`]    | a consumer-group row's `ringlog perf group-member` processes, their timed lines, the takeover and join times |
//! | [`usage`]     | what the brokers spent on a row: CPU time from `/proc`, bytes sent from their metrics |
//! | [`baselines`] | the hardware baselines, on the brokers' filesystem                     |
//! | [`machine`]   | cores, CPU, memory, kernel, filesystem, git commit, load               |
//! | [`results`]   | the `results.json` model and the ratios                                |
//! | [`report`]    | `report.md` (pure)                                                     |
//! | [`plots`]     | the PNG plots (plotters, embedded font)                                |
//!
//! [`run`] measures the baselines, then the one-broker scenarios on one broker (with a second
//! broker beside it whose thin listener is `THIN_SSL`, for the TLS rows, each run right after
//! its plaintext twin), then the others on three, and writes everything into the output
//! directory. Around each run of a row
//! it samples every broker's CPU time and counters, so each row reports its brokers' CPU
//! seconds per GB moved (and a consumer row whether the zero-copy counter carried every byte
//! it fetched); a sample over an idle window just before the run gives the cluster's idle
//! CPU, which the figures compared are net of. Each Kafka row is then set beside its thin
//! twin, each TLS row beside its plaintext twin (with the path the TLS broker took: the
//! kernel's TLS or rustls in user space, from its `ringlog_tls_kernel_offload` gauge), and each
//! row of producers without idempotence beside its idempotent twin (the share
//! of records/s idempotence costs). The consumer-group rows run last on the three brokers,
//! each several times, and report their times instead. The harness only drives the `ringlog`
//! executable it is given (and librdkafka, in process); it does not link the broker.

pub mod baselines;
pub mod cluster;
pub mod groups;
pub mod kafka_clients;
pub mod machine;
pub mod plan;
pub mod plots;
pub mod process;
pub mod report;
pub mod results;
pub mod usage;
pub mod workload;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use cluster::{BrokerSettings, Cluster};
use plan::{
    BATCH_BYTES, Baseline, ClusterSize, END_TO_END_FRACTION, IDEMPOTENCE_COST_FLOOR,
    KAFKA_BATCH_BYTES, KAFKA_CPU_PER_GB_FLOOR, KAFKA_LINGER_MS, LINGER_MS, PARTITIONS, Protocol,
    SCENARIOS, Scenario, Sizes, Workload,
};
use process::{Interrupts, check_interrupted};
use results::{
    BaselineResult, Comparison, CpuTicks, GroupTimes, IdempotenceCost, Results, ScenarioResult,
    Settings, TlsCost, TlsPath,
};
use usage::Spent;
use workload::Figures;

/// What to run and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `ringlog` executable whose `broker` and `perf` commands are measured.
    pub ringlog: PathBuf,
    /// Where `results.json`, `report.md` and the plots go (created if missing).
    pub out_dir: PathBuf,
    /// Where the brokers' data and the baselines' files go, in a temporary directory removed
    /// afterwards. It should be on the disk being measured (a tmpfs makes every sync free).
    pub work_dir: PathBuf,
    /// [`Sizes::QUICK`] instead of [`Sizes::FULL`].
    pub quick: bool,
    /// `--io-backend` of every broker: `auto`, `uring` or `portable`.
    pub io_backend: String,
}

/// The files a run wrote.
pub const RESULTS_FILE: &str = "results.json";
pub const REPORT_FILE: &str = "report.md";

/// Runs every baseline and scenario, writes the results, report and plots into
/// `options.out_dir`, and returns the results. Stops every process it started and removes its
/// temporary directories on every path, Ctrl-C included (which fails the run).
pub fn run(options: &Options) -> Result<Results> {
    let _interrupts = Interrupts::install()?;
    let started = Instant::now();
    let sizes = if options.quick {
        Sizes::QUICK
    } else {
        Sizes::FULL
    };
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("create {}", options.out_dir.display()))?;
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("create {}", options.work_dir.display()))?;
    let mut machine = machine::describe(&options.work_dir, &options.io_backend);
    let mode = if options.quick { "quick" } else { "full" };
    eprintln!(
        "ringlog bench ({mode}): {} baselines, {} scenarios; data under {} ({}), load {:.2}",
        Baseline::ALL.len(),
        SCENARIOS.len(),
        options.work_dir.display(),
        machine.filesystem,
        machine.load_before
    );
    let baselines = measure_baselines(&options.work_dir, &sizes)?;
    let (measured, tls_path) = measure_scenarios(options, &sizes, &baselines)?;
    machine.load_after = machine::load_average();
    let scenarios: Vec<ScenarioResult> = SCENARIOS
        .iter()
        .filter_map(|plan| measured.get(plan.name).cloned())
        .collect();
    let comparisons = comparisons(&scenarios);
    print_comparisons(&comparisons, &scenarios);
    let idempotence_costs = idempotence_costs(&scenarios);
    print_idempotence_costs(&idempotence_costs);
    let tls_costs = tls_costs(&scenarios);
    print_tls_costs(&tls_costs, tls_path);
    let results = Results {
        machine,
        settings: Settings {
            mode: mode.to_string(),
            sizes,
            partitions: PARTITIONS,
            batch_bytes: BATCH_BYTES,
            linger_ms: LINGER_MS,
            kafka_batch_bytes: KAFKA_BATCH_BYTES,
            kafka_linger_ms: KAFKA_LINGER_MS,
            end_to_end_fraction: END_TO_END_FRACTION,
            seconds: started.elapsed().as_secs_f64(),
        },
        baselines,
        scenarios,
        comparisons,
        idempotence_costs,
        tls_costs,
        tls_path,
    };
    write_outputs(&results, &options.out_dir)?;
    eprintln!(
        "ringlog bench: done in {:.0} s; {} in {}",
        results.settings.seconds,
        [RESULTS_FILE, REPORT_FILE].join(", "),
        options.out_dir.display()
    );
    Ok(results)
}

fn measure_baselines(work_dir: &Path, sizes: &Sizes) -> Result<Vec<BaselineResult>> {
    let dir = tempfile::Builder::new()
        .prefix("ringlog-bench-baselines-")
        .tempdir_in(work_dir)
        .with_context(|| format!("make a directory in {}", work_dir.display()))?;
    let mut out = Vec::new();
    for (i, &baseline) in Baseline::ALL.iter().enumerate() {
        check_interrupted()?;
        let progress = Progress::start(format!(
            "[baseline {}/{}] {}",
            i + 1,
            Baseline::ALL.len(),
            baseline.title()
        ));
        let result = baselines::measure(baseline, dir.path(), sizes)
            .with_context(|| format!("baseline {}", baseline.name()))?;
        progress.finish(baseline_line(&result));
        out.push(result);
    }
    Ok(out)
}

fn baseline_line(b: &BaselineResult) -> String {
    match (&b.bytes_per_sec, &b.latency_ms) {
        (Some(bytes_per_sec), _) => {
            format!("{}: {:.0} MB/s", b.baseline.name(), bytes_per_sec / 1e6)
        }
        (None, Some(l)) => format!(
            "{}: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms",
            b.baseline.name(),
            l.p50,
            l.p99,
            l.p999
        ),
        (None, None) => b.baseline.name().to_string(),
    }
}

/// Runs the scenarios of each cluster on a cluster started for them; returns them by name,
/// and the path the TLS cluster's broker took (none when it did not run).
fn measure_scenarios(
    options: &Options,
    sizes: &Sizes,
    baselines: &[BaselineResult],
) -> Result<(BTreeMap<&'static str, ScenarioResult>, Option<TlsPath>)> {
    let settings = BrokerSettings {
        ringlog: options.ringlog.clone(),
        work_dir: options.work_dir.clone(),
        io_backend: options.io_backend.clone(),
        group_initial_rebalance_delay_ms: sizes.group_initial_rebalance_delay_ms,
        group_min_session_timeout_ms: sizes.group_session_timeout_ms,
    };
    let client_timeout = if options.quick {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(900)
    };
    let mut measured = BTreeMap::new();
    let mut tls_path = None;
    let mut done = 0;
    for (sizes_of_clusters, order) in plan::run_groups() {
        check_interrupted()?;
        // The clusters that run at once, started in turn.
        let mut clusters: BTreeMap<u32, Cluster> = BTreeMap::new();
        for (index, size) in sizes_of_clusters.iter().enumerate() {
            if !order.iter().any(|s| s.cluster == *size) {
                continue;
            }
            let listener = if size.tls() { "THIN_SSL" } else { "THIN" };
            let progress = Progress::start(format!("starting {} broker(s)", size.brokers()));
            let cluster = Cluster::start(size.brokers(), size.tls(), &settings)?;
            let mut line = format!(
                "{} broker(s) serving on {listener}://{}",
                size.brokers(),
                cluster.bootstrap()
            );
            if size.tls() {
                let path = TlsPath::from_gauge(cluster.kernel_tls_gauge()?);
                line.push_str(&format!("; TLS by {}", path.label()));
                tls_path = Some(path);
            }
            progress.finish(line);
            clusters.insert(index as u32, cluster);
        }
        let cluster_of = |scenario: &Scenario| {
            let index = sizes_of_clusters
                .iter()
                .position(|&size| size == scenario.cluster)
                .expect("a scenario of the group");
            &clusters[&(index as u32)]
        };
        // The topic each producing scenario left for the scenarios that read it.
        let mut topics: BTreeMap<&str, String> = BTreeMap::new();
        for (position, scenario) in order.iter().enumerate() {
            check_interrupted()?;
            let (size, cluster) = (scenario.cluster, cluster_of(scenario));
            done += 1;
            let label = format!("[{done}/{}]", SCENARIOS.len());
            let progress = Progress::start(format!("{label} {}", scenario.title));
            let run = Run {
                cluster,
                options,
                sizes,
                deadline_after: client_timeout,
            };
            let (result, line) = if scenario.workload.is_group() {
                let times = run
                    .repeat_group(scenario)
                    .with_context(|| format!("scenario {}", scenario.name))?;
                let line = group_line(scenario.title, &times);
                (group_result(scenario, size, times), line)
            } else {
                measure_throughput(&run, scenario, size, &mut topics, &measured, baselines)?
            };
            progress.finish(format!("{label} {line}"));
            retire_topics(cluster, &order, position, &mut topics)?;
            measured.insert(scenario.name, result);
        }
    }
    Ok((measured, tls_path))
}

/// Runs a throughput or latency row (see [`Run::repeat`]); its result and progress line, with
/// a Kafka row's comparison with its twin in `measured`, or an idempotence-off row's cost with
/// its idempotent twin.
fn measure_throughput(
    run: &Run,
    scenario: &'static Scenario,
    size: ClusterSize,
    topics: &mut BTreeMap<&'static str, String>,
    measured: &BTreeMap<&'static str, ScenarioResult>,
    baselines: &[BaselineResult],
) -> Result<(ScenarioResult, String)> {
    let peak = |name: &str| measured.get(name).map(|s| s.records_per_sec);
    let (median, rates) = run
        .repeat(scenario, topics, peak)
        .with_context(|| format!("scenario {}", scenario.name))?;
    let mut result = scenario_result(scenario, size, median, baselines);
    result.runs_records_per_sec = rates;
    let mut line = scenario_line(&result);
    let twin = scenario.twin.and_then(|twin| measured.get(twin));
    match (twin, scenario.protocol) {
        (Some(thin), Protocol::Kafka) => {
            let comparison = results::compare(thin, &result, KAFKA_CPU_PER_GB_FLOOR);
            line.push_str(&format!(
                "; {}",
                comparison_text(&comparison, thin, &result)
            ));
        }
        (Some(plaintext), Protocol::ThinTls) => {
            let cost = results::tls_cost(plaintext, &result);
            line.push_str(&format!("; {}", tls_cost_text(&cost)));
        }
        _ => {}
    }
    if let Some(on) = plan::idempotent_twin(scenario).and_then(|on| measured.get(on.name)) {
        let cost = results::idempotence_cost(on, &result, IDEMPOTENCE_COST_FLOOR);
        line.push_str(&format!("; {}", idempotence_cost_text(&cost)));
    }
    Ok((result, line))
}

/// What every run of a scenario on one cluster shares.
struct Run<'a> {
    cluster: &'a Cluster,
    options: &'a Options,
    sizes: &'a Sizes,
    /// How long each run's clients may take.
    deadline_after: Duration,
}

/// One run of a scenario: its clients' figures, what each broker spent meanwhile, and what
/// each spent with nothing to do just before.
#[derive(Clone, Debug)]
struct Measured {
    figures: Figures,
    /// In broker order.
    spent: Vec<Spent>,
    /// The wall-clock time between the samples `spent` is the difference of.
    row: Duration,
    /// What each broker spent over the idle window that ended where the row began.
    idle: Vec<Spent>,
    idle_window: Duration,
}

/// The brokers' counters at the start of a row, after an idle window.
struct Before {
    /// At the start of the row, in broker order.
    spent: Vec<Spent>,
    /// When `spent` was sampled.
    at: Instant,
    /// What each broker spent over the idle window, and its length.
    idle: Vec<Spent>,
    idle_window: Duration,
}

impl Run<'_> {
    /// Runs `scenario` as many times as the sizes say, each producing run into a topic of its
    /// own (the earlier runs' deleted once replicated), and returns the median run with every
    /// run's records per second. Records where each producing scenario's topic is in `topics`.
    ///
    /// What the brokers spent is sampled once the topic is ready, the disk settled and an
    /// idle window has passed (see [`Run::start_after_idle_window`]), and again once the
    /// clients are done and, for producers, every replica has the records.
    fn repeat(
        &self,
        scenario: &'static Scenario,
        topics: &mut BTreeMap<&'static str, String>,
        peak: impl Fn(&str) -> Option<f64>,
    ) -> Result<(Measured, Vec<f64>)> {
        let runs = self.sizes.runs(scenario);
        let mut all = Vec::new();
        for run in 1..=runs {
            check_interrupted()?;
            let (topic, produces) = match scenario.workload {
                Workload::Consume { topic_of, .. } => {
                    let topic = topics
                        .get(topic_of)
                        .with_context(|| format!("{topic_of} left no topic"))?;
                    (topic.clone(), false)
                }
                _ => (format!("{}-{run}", scenario.name), true),
            };
            if produces {
                workload::create_topic(self.cluster, scenario, &topic)?;
            }
            baselines::settle(&self.options.work_dir)?;
            let before = self.start_after_idle_window()?;
            let deadline = Instant::now() + self.deadline_after;
            let figures =
                workload::run(self.cluster, scenario, &topic, self.sizes, &peak, deadline)?;
            if produces {
                self.cluster.wait_replicated(&topic, figures.rate.records)?;
            }
            let ended = Instant::now();
            let spent = Spent::between(&before.spent, &self.cluster.spent()?);
            if produces {
                if run < runs {
                    self.cluster.delete_topic(&topic)?;
                } else {
                    topics.insert(scenario.name, topic);
                }
            }
            all.push(Measured {
                figures,
                spent,
                row: ended - before.at,
                idle: before.idle,
                idle_window: before.idle_window,
            });
        }
        let rates = all.iter().map(|m| m.figures.rate.records_per_sec).collect();
        Ok((median_run(all), rates))
    }

    /// Runs a consumer-group row as many times as the sizes say, each on a topic and group of
    /// its own (deleted afterwards), and returns every run's time. No CPU is sampled: the rows
    /// move almost no bytes.
    fn repeat_group(&self, scenario: &'static Scenario) -> Result<GroupTimes> {
        let mut runs = Vec::new();
        for run in 1..=self.sizes.runs(scenario) {
            check_interrupted()?;
            let topic = format!("{}-{run}", scenario.name);
            workload::create_topic(self.cluster, scenario, &topic)?;
            let deadline = Instant::now() + self.deadline_after;
            let timed = groups::run(self.cluster, scenario, &topic, self.sizes, run, deadline)
                .with_context(|| format!("run {run}"))?;
            self.cluster.delete_topic(&topic)?;
            runs.push(timed);
        }
        Ok(results::group_times(runs, self.sizes))
    }

    /// Samples the brokers, waits out [`Sizes::idle_window_seconds`] with no client running,
    /// and samples them again: the second sample is the row's start. What they spent in
    /// between is the cluster's background (heartbeats, idle long polls, timers), which goes
    /// on through the row whatever its clients do; the figures compared are net of it.
    fn start_after_idle_window(&self) -> Result<Before> {
        let idle_start = Instant::now();
        let idle_before = self.cluster.spent()?;
        std::thread::sleep(Duration::from_secs_f64(self.sizes.idle_window_seconds));
        check_interrupted()?;
        // Every instant is taken just before its sample (the row's end too), so both ends of
        // an interval are as far from their samples' readings of `/proc`.
        let at = Instant::now();
        let spent = self.cluster.spent()?;
        Ok(Before {
            idle: Spent::between(&idle_before, &spent),
            idle_window: at - idle_start,
            spent,
            at,
        })
    }
}

/// The run of median records per second (the lower of the middle two for an even count).
fn median_run(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by(|a, b| {
        let rate = |m: &Measured| m.figures.rate.records_per_sec;
        rate(a).total_cmp(&rate(b))
    });
    let middle = (runs.len() - 1) / 2;
    runs.swap_remove(middle)
}

/// Deletes the topic of the scenario at `position`, or the one it read, once no scenario after
/// it reads that topic.
fn retire_topics(
    cluster: &Cluster,
    order: &[&Scenario],
    position: usize,
    topics: &mut BTreeMap<&str, String>,
) -> Result<()> {
    let scenario = order[position];
    let producer = match scenario.workload {
        Workload::Consume { topic_of, .. } => topic_of,
        _ => scenario.name,
    };
    if plan::topic_done_after(order, position, producer)
        && let Some(topic) = topics.remove(producer)
    {
        cluster.delete_topic(&topic)?;
    }
    Ok(())
}

fn scenario_result(
    scenario: &Scenario,
    size: ClusterSize,
    measured: Measured,
    baselines: &[BaselineResult],
) -> ScenarioResult {
    let Measured {
        figures,
        spent,
        row,
        idle,
        idle_window,
    } = measured;
    let ticks = CpuTicks {
        row_per_broker: spent.iter().map(|s| s.cpu_ticks).collect(),
        row,
        idle_per_broker: idle.iter().map(|s| s.cpu_ticks).collect(),
        idle_window,
        tick_seconds: 1.0 / usage::ticks_per_sec() as f64,
    };
    let broker_cpu = results::broker_cpu(&ticks, moved_bytes(&figures, scenario.record_size));
    let zero_copy = matches!(scenario.workload, Workload::Consume { .. }).then(|| {
        results::zero_copy(
            figures.rate.records * u64::from(scenario.record_size),
            spent.iter().map(|s| s.zero_copy_bytes).sum(),
            spent.iter().map(|s| s.bytes_out).sum(),
        )
    });
    let mut result = ScenarioResult {
        records: figures.rate.records,
        seconds: figures.rate.seconds,
        records_per_sec: figures.rate.records_per_sec,
        mb_per_sec: figures.rate.mb_per_sec,
        latency_ms: figures.latency,
        consumer: figures.consumer,
        throttle_records_per_sec: figures.throttle,
        runs_records_per_sec: vec![figures.rate.records_per_sec],
        broker_cpu,
        zero_copy,
        ..row_shape(scenario, size)
    };
    result.ratios = results::ratios(&result, scenario.baselines, baselines);
    result
}

/// A consumer-group row's result: its shape and its times.
fn group_result(scenario: &Scenario, size: ClusterSize, times: GroupTimes) -> ScenarioResult {
    ScenarioResult {
        group: Some(times),
        ..row_shape(scenario, size)
    }
}

/// A row as its plan describes it (cluster, topic, clients), with no figures yet.
fn row_shape(scenario: &Scenario, size: ClusterSize) -> ScenarioResult {
    let client = match scenario.protocol {
        Protocol::Thin | Protocol::ThinTls => "ringlog perf".to_string(),
        Protocol::Kafka => kafka_clients::client_name(),
    };
    let (producers, consumers, acks) = scenario.workload.clients();
    ScenarioResult {
        name: scenario.name.to_string(),
        title: scenario.title.to_string(),
        brokers: size.brokers(),
        replication_factor: scenario.replication_factor,
        partitions: PARTITIONS,
        record_size: scenario.record_size,
        acks: acks.map(|a| a.as_arg().to_string()),
        idempotence: scenario.workload.idempotence(),
        flush_always: scenario.flush_always,
        protocol: scenario.protocol,
        client,
        producers,
        consumers,
        records: 0,
        seconds: 0.0,
        records_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_ms: None,
        consumer: None,
        throttle_records_per_sec: None,
        runs_records_per_sec: Vec::new(),
        ratios: Vec::new(),
        kafka_2014: scenario.kafka,
        broker_cpu: None,
        zero_copy: None,
        group: None,
    }
}

/// The record value bytes a run's clients moved: produced or read, plus what a consumer
/// running beside the producer read.
fn moved_bytes(figures: &Figures, record_size: u32) -> u64 {
    let records = figures.rate.records + figures.consumer.as_ref().map_or(0, |c| c.records);
    records * u64::from(record_size)
}

/// Each Kafka row measured beside its thin twin, if that was measured too.
fn comparisons(scenarios: &[ScenarioResult]) -> Vec<Comparison> {
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    SCENARIOS
        .iter()
        .filter(|plan| plan.protocol == Protocol::Kafka)
        .filter_map(|plan| {
            let thin = find(plan.twin?)?;
            let kafka = find(plan.name)?;
            Some(results::compare(thin, kafka, KAFKA_CPU_PER_GB_FLOOR))
        })
        .collect()
}

/// The comparisons, one line each, after the rows.
fn print_comparisons(comparisons: &[Comparison], scenarios: &[ScenarioResult]) {
    if comparisons.is_empty() {
        return;
    }
    eprintln!(
        "{} vs {}, same run:",
        Protocol::Kafka.label(),
        Protocol::Thin.label()
    );
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    for c in comparisons {
        if let (Some(thin), Some(kafka)) = (find(&c.thin), find(&c.kafka)) {
            eprintln!("  {}: {}", c.title, comparison_text(c, thin, kafka));
        }
    }
}

/// A Kafka row against its thin twin, in words, with the floors met or missed.
fn comparison_text(c: &Comparison, thin: &ScenarioResult, kafka: &ScenarioResult) -> String {
    let mut text = format!(
        "{}x thin's records/s",
        report::ratio_text(c.records_per_sec_ratio)
    );
    match (
        c.cpu_per_gb_ratio,
        c.cpu_floor,
        &thin.broker_cpu,
        &kafka.broker_cpu,
    ) {
        (Some(ratio), Some(verdict), Some(thin_cpu), Some(kafka_cpu)) => text.push_str(&format!(
            ", {}x thin's broker CPU per GB net of the cluster's idle CPU: {} ticks/s \
                 measured over {:.1} s before this row, {} before thin's ({} at /proc's tick \
                 resolution; floor {:.2}x: {}; idle included: {}x)",
            report::ratio_text(ratio),
            report::rate_text(kafka_cpu.idle_ticks_per_sec()),
            kafka_cpu.idle_window_seconds,
            report::rate_text(thin_cpu.idle_ticks_per_sec()),
            report::bounds_text(c.cpu_per_gb_ratio_bounds),
            c.cpu_per_gb_floor,
            report::verdict_text(verdict),
            c.cpu_per_gb_raw_ratio
                .map_or("-".to_string(), report::ratio_text)
        )),
        _ => text.push_str(", broker CPU per GB not measured"),
    }
    if let Some(met) = c.zero_copy_met {
        text.push_str(&format!(
            ", zero-copy carried every fetched byte on both: {}",
            report::met_text(met)
        ));
    }
    text
}

/// Each TLS row measured beside its plaintext twin, if that was measured too.
fn tls_costs(scenarios: &[ScenarioResult]) -> Vec<TlsCost> {
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    SCENARIOS
        .iter()
        .filter(|plan| plan.protocol == Protocol::ThinTls)
        .filter_map(|plan| Some(results::tls_cost(find(plan.twin?)?, find(plan.name)?)))
        .collect()
}

/// The TLS costs, one line each, after the rows.
fn print_tls_costs(costs: &[TlsCost], path: Option<TlsPath>) {
    if costs.is_empty() {
        return;
    }
    let path = path.unwrap_or(TlsPath::Userspace);
    eprintln!("TLS vs plaintext, same run (TLS by {}):", path.label());
    for c in costs {
        eprintln!("  {}: {}", c.title, tls_cost_text(c));
    }
}

/// What TLS cost a row, in words.
fn tls_cost_text(c: &TlsCost) -> String {
    let mut text = format!(
        "TLS: {}x plaintext's records/s",
        report::ratio_text(c.records_per_sec_ratio)
    );
    match c.cpu_per_gb_ratio {
        Some(ratio) => text.push_str(&format!(
            ", {}x plaintext's broker CPU per GB net of the idle CPU ({} at /proc's tick \
             resolution; idle included: {}x)",
            report::ratio_text(ratio),
            report::bounds_text(c.cpu_per_gb_ratio_bounds),
            c.cpu_per_gb_raw_ratio
                .map_or("-".to_string(), report::ratio_text)
        )),
        None => text.push_str(", broker CPU per GB not measured"),
    }
    text
}

/// Each idempotence-off row measured beside its idempotent twin, if that was measured too.
fn idempotence_costs(scenarios: &[ScenarioResult]) -> Vec<IdempotenceCost> {
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    SCENARIOS
        .iter()
        .filter_map(|plan| {
            let on = find(plan::idempotent_twin(plan)?.name)?;
            let off = find(plan.name)?;
            Some(results::idempotence_cost(on, off, IDEMPOTENCE_COST_FLOOR))
        })
        .collect()
}

/// The idempotence costs, one line each, after the rows.
fn print_idempotence_costs(costs: &[IdempotenceCost]) {
    if costs.is_empty() {
        return;
    }
    eprintln!("idempotence on vs off, same run:");
    for c in costs {
        eprintln!("  {}: {}", c.title, idempotence_cost_text(c));
    }
}

/// What idempotence cost a pair, in words, with the floor met or missed.
fn idempotence_cost_text(c: &IdempotenceCost) -> String {
    format!(
        "idempotence on: {}x the records/s with it off, a cost of {} ({}; floor {}: {})",
        report::ratio_text(c.records_per_sec_ratio),
        report::percent_text(c.cost),
        report::cost_bounds_text(c.cost_bounds),
        report::percent_text(c.cost_floor),
        report::verdict_text(c.verdict)
    )
}

/// A scenario's progress line: its figure, its main ratio, its brokers' CPU per GB (net of
/// the idle CPU, and raw) and, for consumers, the zero-copy check.
fn scenario_line(s: &ScenarioResult) -> String {
    let mut line = scenario_figure(s);
    if let Some(cpu) = &s.broker_cpu {
        line.push_str(&format!(
            "; brokers {:.2} ± {:.2} CPU s/GB net of the cluster's idle CPU ({} ticks/s \
             measured over {:.1} s before the row; {:.2} ± {:.2} idle included, over the \
             row's {:.1} s)",
            cpu.net_seconds_per_gb,
            cpu.net_seconds_per_gb_off_max,
            report::rate_text(cpu.idle_ticks_per_sec()),
            cpu.idle_window_seconds,
            cpu.seconds_per_gb,
            cpu.seconds_per_gb_off_max,
            cpu.row_seconds
        ));
    }
    if let Some(z) = &s.zero_copy {
        line.push_str(&format!(
            "; zero-copy {:.1} MB for {:.1} MB fetched: {}",
            z.zero_copy_bytes as f64 / 1e6,
            z.fetched_bytes as f64 / 1e6,
            report::zero_copy_verdict(s, z)
        ));
    }
    line
}

/// A consumer-group row's progress line: the median and longest of its runs, beside the
/// settings that bound them.
fn group_line(title: &str, times: &GroupTimes) -> String {
    let runs: Vec<String> = times
        .runs
        .iter()
        .map(|run| format!("{:.2}", run.seconds))
        .collect();
    format!(
        "{title}: median {:.2} s, max {:.2} s over {} runs ({} s); session timeout {} ms, \
         heartbeats every {} ms, group_initial_rebalance_delay_ms {}",
        times.median_seconds,
        times.max_seconds,
        times.runs.len(),
        runs.join(", "),
        times.session_timeout_ms,
        times.heartbeat_interval_ms,
        times.initial_rebalance_delay_ms
    )
}

/// A scenario's figure and its main ratio.
fn scenario_figure(s: &ScenarioResult) -> String {
    let ratio = s.ratios.first().map_or(String::new(), |r| {
        format!(
            ", {} of {} ({})",
            report::ratio_text(r.value),
            r.baseline.name(),
            r.of
        )
    });
    match (&s.throttle_records_per_sec, &s.latency_ms) {
        (Some(_), Some(l)) => format!(
            "{}: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms at {} records/s{ratio}",
            s.title,
            l.p50,
            l.p99,
            l.p999,
            report::thousands(s.records_per_sec)
        ),
        _ => format!(
            "{}: {} records/s, {:.1} MB/s{ratio}",
            s.title,
            report::thousands(s.records_per_sec),
            s.mb_per_sec
        ),
    }
}

/// Writes `results.json`, `report.md` and the plots into `dir`.
pub fn write_outputs(results: &Results, dir: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(results)?;
    let path = dir.join(RESULTS_FILE);
    std::fs::write(&path, json + "\n").with_context(|| format!("write {}", path.display()))?;
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, report::render(results))
        .with_context(|| format!("write {}", path.display()))?;
    plots::draw_all(results, dir)?;
    Ok(())
}

/// One line per step on stderr: a spinner while it runs when stderr is a terminal, then the
/// result line (the only line when it is not).
struct Progress(Option<ProgressBar>);

impl Progress {
    fn start(what: String) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    fn finish(self, line: String) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use results::Rate;

    fn figures(records_per_sec: f64) -> Figures {
        Figures {
            rate: Rate {
                records: 1,
                seconds: 1.0,
                records_per_sec,
                mb_per_sec: 0.0,
            },
            latency: None,
            consumer: None,
            throttle: None,
        }
    }

    fn measured(records_per_sec: f64) -> Measured {
        Measured {
            figures: figures(records_per_sec),
            spent: Vec::new(),
            row: Duration::from_secs(1),
            idle: Vec::new(),
            idle_window: Duration::from_secs(2),
        }
    }

    #[test]
    fn the_median_run_is_reported() {
        let rate = |runs: Vec<f64>| {
            median_run(runs.into_iter().map(measured).collect())
                .figures
                .rate
                .records_per_sec
        };
        assert_eq!(rate(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(rate(vec![5.0]), 5.0);
        assert_eq!(rate(vec![4.0, 1.0, 3.0, 2.0]), 2.0);
    }

    #[test]
    fn bytes_moved_are_record_values_produced_and_read() {
        let mut f = figures(1.0);
        f.rate.records = 1_000;
        assert_eq!(moved_bytes(&f, 100), 100_000);
        f.consumer = Some(Rate {
            records: 500,
            seconds: 1.0,
            records_per_sec: 500.0,
            mb_per_sec: 0.05,
        });
        assert_eq!(moved_bytes(&f, 1000), 1_500_000);
    }

    #[test]
    fn a_runs_idle_window_is_taken_off_its_cpu() {
        let plan = plan::scenario(Scenario::CONSUME_1C).unwrap();
        let ticks = |cpu_ticks| Spent {
            cpu_ticks,
            ..Spent::default()
        };
        let mut run = measured(1e6);
        // 10 M records of 100 B: 1 GB.
        run.figures.rate.records = 10_000_000;
        run.spent = vec![ticks(300), ticks(40)];
        run.row = Duration::from_secs(4);
        run.idle = vec![ticks(4), ticks(30)];
        let result = scenario_result(plan, ClusterSize::Three, run, &[]);
        let cpu = result.broker_cpu.as_ref().unwrap();
        let tick = 1.0 / usage::ticks_per_sec() as f64;
        assert_eq!(
            (cpu.gb, cpu.row_seconds, cpu.idle_window_seconds),
            (1.0, 4.0, 2.0)
        );
        assert_eq!(cpu.idle_ticks_per_sec_per_broker, vec![2.0, 15.0]);
        // 300 - 2 * 4 ticks; 40 - 15 * 4 is below 0.
        assert!(
            (cpu.net_seconds_per_gb - 292.0 * tick).abs() < 1e-9,
            "{cpu:?}"
        );
        assert!((cpu.seconds_per_gb - 340.0 * tick).abs() < 1e-9, "{cpu:?}");
        // 2 * (1 + 4 / 2) ticks a broker.
        assert!(
            (cpu.net_seconds_per_gb_off_max - 12.0 * tick).abs() < 1e-9,
            "{cpu:?}"
        );
        let line = scenario_line(&result);
        assert!(
            line.contains("CPU s/GB net of the cluster's idle CPU (17.0 ticks/s measured over 2.0 s before the row;"),
            "{line}"
        );
    }

    #[test]
    fn a_group_row_says_its_times_beside_its_settings() {
        let runs = vec![
            results::tests::group_run(7.5, &[0, 1]),
            results::tests::group_run(6.25, &[0, 1]),
        ];
        let times = results::group_times(runs, &Sizes::FULL);
        assert_eq!(
            group_line("Takeover", &times),
            "Takeover: median 6.88 s, max 7.50 s over 2 runs (7.50, 6.25 s); session timeout \
             6000 ms, heartbeats every 2000 ms, group_initial_rebalance_delay_ms 3000"
        );
        let plan = plan::scenario(Scenario::GROUP_JOIN).unwrap();
        let result = group_result(plan, ClusterSize::Three, times.clone());
        assert_eq!((result.consumers, result.records), (10, 0));
        assert_eq!(result.group, Some(times));
        assert!(result.ratios.is_empty() && result.broker_cpu.is_none());
    }

    #[test]
    fn idempotence_off_rows_are_compared_with_their_measured_twins() {
        let on = results::tests::runs(Scenario::PRODUCE_RF3_ACKS_ALL, &[0.9e6, 0.95e6, 1.0e6]);
        let off = results::tests::runs(
            Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT,
            &[0.99e6, 1.0e6, 1.01e6],
        );
        // The pair without replication has no idempotent row measured: left out.
        let lone = results::tests::runs(Scenario::PRODUCE_RF1_ACKS_ALL_NOT_IDEMPOTENT, &[1e6]);
        let costs = idempotence_costs(&[on, off, lone]);
        assert_eq!(costs.len(), 1, "{costs:?}");
        assert_eq!(
            (costs[0].on.as_str(), costs[0].off.as_str()),
            (
                Scenario::PRODUCE_RF3_ACKS_ALL,
                Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT
            )
        );
        // 0.95 of the records/s; 0.9 / 1.01 to 1.0 / 0.99 given the runs.
        assert_eq!(
            idempotence_cost_text(&costs[0]),
            "idempotence on: 0.95x the records/s with it off, a cost of 5.0% (-1.0% to 10.9% \
             over the runs' spread; floor 5.0%: inconclusive)"
        );
    }

    #[test]
    fn kafka_rows_are_compared_with_their_measured_twins() {
        let gb = 1_000_000_000;
        let mut thin = results::tests::scenario(Scenario::CONSUME_1C, 100.0, None);
        // 1 tick a second idle on each broker, over 2 s.
        thin.broker_cpu = results::broker_cpu(
            &results::tests::cpu_ticks(&[1.0, 0.5, 0.5], 0.01, 1.0, 2),
            gb,
        );
        let mut kafka = results::tests::scenario("kafka_consume_1c", 50.0, None);
        kafka.broker_cpu =
            results::broker_cpu(&results::tests::cpu_ticks(&[2.6], 0.01, 8.0, 2), gb);
        // The Kafka row of produce_1p_rf1 has no twin measured: left out.
        let lone = results::tests::scenario("kafka_produce_1p_rf1", 50.0, None);
        let c = comparisons(&[thin.clone(), kafka.clone(), lone]);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kafka, "kafka_consume_1c");
        assert_eq!(c[0].cpu_floor, Some(results::Verdict::Missed));
        let text = comparison_text(&c[0], &thin, &kafka);
        assert!(text.contains("0.50x thin's records/s"), "{text}");
        // Net: 2.52 ± 0.1 over 1.97 ± 0.09; raw 2.6 over 2.0.
        assert!(
            text.contains(
                "1.28x thin's broker CPU per GB net of the cluster's idle CPU: 1.0 ticks/s \
                 measured over 2.0 s before this row, 3.0 before thin's (1.17 to 1.39 at \
                 /proc's tick resolution; floor 1.15x: MISSED; idle included: 1.30x)"
            ),
            "{text}"
        );
    }
}
