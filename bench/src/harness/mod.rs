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
//! | [`baselines`] | the hardware baselines, on the brokers' filesystem                     |
//! | [`machine`]   | cores, CPU, memory, kernel, filesystem, git commit, load               |
//! | [`results`]   | the `results.json` model and the ratios                                |
//! | [`report`]    | `report.md` (pure)                                                     |
//! | [`plots`]     | the PNG plots (plotters, embedded font)                                |
//!
//! [`run`] measures the baselines, then the one-broker scenarios on one broker, then the
//! others on three, and writes everything into the output directory. The harness only drives
//! the `ringlog` executable it is given; it does not link the broker.

pub mod baselines;
pub mod cluster;
pub mod machine;
pub mod plan;
pub mod plots;
pub mod process;
pub mod report;
pub mod results;
pub mod workload;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use cluster::{BrokerSettings, Cluster};
use plan::{
    BATCH_BYTES, Baseline, ClusterSize, END_TO_END_FRACTION, LINGER_MS, PARTITIONS, SCENARIOS,
    Scenario, Sizes, Workload,
};
use process::{Interrupts, check_interrupted};
use results::{BaselineResult, Results, ScenarioResult, Settings};
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
    let measured = measure_scenarios(options, &sizes, &baselines)?;
    machine.load_after = machine::load_average();
    let scenarios = SCENARIOS
        .iter()
        .filter_map(|plan| measured.get(plan.name).cloned())
        .collect();
    let results = Results {
        machine,
        settings: Settings {
            mode: mode.to_string(),
            sizes,
            partitions: PARTITIONS,
            batch_bytes: BATCH_BYTES,
            linger_ms: LINGER_MS,
            end_to_end_fraction: END_TO_END_FRACTION,
            seconds: started.elapsed().as_secs_f64(),
        },
        baselines,
        scenarios,
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

/// Runs the scenarios of each cluster on a cluster started for them; returns them by name.
fn measure_scenarios(
    options: &Options,
    sizes: &Sizes,
    baselines: &[BaselineResult],
) -> Result<BTreeMap<&'static str, ScenarioResult>> {
    let settings = BrokerSettings {
        ringlog: options.ringlog.clone(),
        work_dir: options.work_dir.clone(),
        io_backend: options.io_backend.clone(),
    };
    let client_timeout = if options.quick {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(900)
    };
    let mut measured = BTreeMap::new();
    let mut done = 0;
    for size in [ClusterSize::One, ClusterSize::Three] {
        check_interrupted()?;
        let order = plan::run_order(size);
        let progress = Progress::start(format!("starting {} broker(s)", size.brokers()));
        let cluster = Cluster::start(size.brokers(), &settings)?;
        progress.finish(format!(
            "{} broker(s) serving on {}",
            size.brokers(),
            cluster.bootstrap()
        ));
        // The topic each producing scenario left for the scenarios that read it.
        let mut topics: BTreeMap<&str, String> = BTreeMap::new();
        for (position, scenario) in order.iter().enumerate() {
            check_interrupted()?;
            done += 1;
            let label = format!("[{done}/{}]", SCENARIOS.len());
            let progress = Progress::start(format!("{label} {}", scenario.title));
            let peak = |name: &str| {
                measured
                    .get(name)
                    .map(|s: &ScenarioResult| s.records_per_sec)
            };
            let run = Run {
                cluster: &cluster,
                options,
                sizes,
                deadline_after: client_timeout,
            };
            let (figures, rates) = run
                .repeat(scenario, &mut topics, peak)
                .with_context(|| format!("scenario {}", scenario.name))?;
            let mut result = scenario_result(scenario, size, figures, baselines);
            result.runs_records_per_sec = rates;
            progress.finish(format!("{label} {}", scenario_line(&result)));
            retire_topics(&cluster, &order, position, &mut topics)?;
            measured.insert(scenario.name, result);
        }
    }
    Ok(measured)
}

/// What every run of a scenario on one cluster shares.
struct Run<'a> {
    cluster: &'a Cluster,
    options: &'a Options,
    sizes: &'a Sizes,
    /// How long each run's clients may take.
    deadline_after: Duration,
}

impl Run<'_> {
    /// Runs `scenario` as many times as the sizes say, each producing run into a topic of its
    /// own (the earlier runs' deleted once replicated), and returns the median run's figures
    /// with every run's records per second. Records where each producing scenario's topic is in
    /// `topics`.
    fn repeat(
        &self,
        scenario: &'static Scenario,
        topics: &mut BTreeMap<&'static str, String>,
        peak: impl Fn(&str) -> Option<f64>,
    ) -> Result<(Figures, Vec<f64>)> {
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
            baselines::settle(&self.options.work_dir)?;
            let deadline = Instant::now() + self.deadline_after;
            let figures =
                workload::run(self.cluster, scenario, &topic, self.sizes, &peak, deadline)?;
            if produces {
                self.cluster.wait_replicated(&topic, figures.rate.records)?;
                if run < runs {
                    self.cluster.delete_topic(&topic)?;
                } else {
                    topics.insert(scenario.name, topic);
                }
            }
            all.push(figures);
        }
        let rates = all.iter().map(|f| f.rate.records_per_sec).collect();
        Ok((median_run(all), rates))
    }
}

/// The run of median records per second (the lower of the middle two for an even count).
fn median_run(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.rate.records_per_sec.total_cmp(&b.rate.records_per_sec));
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
    figures: Figures,
    baselines: &[BaselineResult],
) -> ScenarioResult {
    let (producers, consumers, acks) = match scenario.workload {
        Workload::Produce { producers, acks } => (producers, 0, Some(acks)),
        Workload::Consume { consumers, .. } => (0, consumers, None),
        Workload::ProduceAndConsume { acks } | Workload::EndToEnd { acks, .. } => {
            (1, 1, Some(acks))
        }
    };
    let mut result = ScenarioResult {
        name: scenario.name.to_string(),
        title: scenario.title.to_string(),
        brokers: size.brokers(),
        replication_factor: scenario.replication_factor,
        partitions: PARTITIONS,
        record_size: scenario.record_size,
        acks: acks.map(|a| a.as_arg().to_string()),
        flush_always: scenario.flush_always,
        producers,
        consumers,
        records: figures.rate.records,
        seconds: figures.rate.seconds,
        records_per_sec: figures.rate.records_per_sec,
        mb_per_sec: figures.rate.mb_per_sec,
        latency_ms: figures.latency,
        consumer: figures.consumer,
        throttle_records_per_sec: figures.throttle,
        runs_records_per_sec: vec![figures.rate.records_per_sec],
        ratios: Vec::new(),
        kafka_2014: scenario.kafka,
    };
    result.ratios = results::ratios(&result, scenario.baselines, baselines);
    result
}

/// A scenario's progress line: its figure and its main ratio.
fn scenario_line(s: &ScenarioResult) -> String {
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

    #[test]
    fn the_median_run_is_reported() {
        let rate = |runs: Vec<f64>| {
            median_run(runs.into_iter().map(figures).collect())
                .rate
                .records_per_sec
        };
        assert_eq!(rate(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(rate(vec![5.0]), 5.0);
        assert_eq!(rate(vec![4.0, 1.0, 3.0, 2.0]), 2.0);
    }
}
