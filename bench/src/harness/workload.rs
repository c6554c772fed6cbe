//! A scenario's client side: `ringlog perf produce` and `ringlog perf consume` processes
//! against a [`Cluster`], started at once where a scenario has several, their `--json` reports
//! combined into one set of figures; or, for a Kafka row, librdkafka's producer or consumer
//! ([`super::kafka_clients`]) against the brokers' Kafka listeners.
//!
//! Several processes of one kind are combined as Kafka's benchmark summed its machines, but
//! over the longest of their clocks rather than each its own: records (and bytes) added up,
//! divided by the slowest process's seconds. Their latency quantiles are the worst of theirs
//! (quantiles of separate histograms cannot be merged exactly).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::cluster::Cluster;
use super::kafka_clients;
use super::plan::{
    Acks, BATCH_BYTES, END_TO_END_FRACTION, LINGER_MS, PARTITIONS, Protocol, Scenario, Sizes,
    Workload,
};
use super::process::ClientRun;
use super::results::{Latency, Rate};

/// How long a consumer waits for a record before it gives up (`--timeout-ms`): longer than a
/// producer process takes to start.
const CONSUMER_IDLE_MS: &str = "30000";

/// What a scenario's clients measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub rate: Rate,
    pub latency: Option<Latency>,
    /// Producer and consumer together: the consumer's rate.
    pub consumer: Option<Rate>,
    /// End-to-end: the producer's limit.
    pub throttle: Option<f64>,
}

/// `perf produce --json`, the fields used.
#[derive(Deserialize, Debug)]
struct Produced {
    records: u64,
    errors: u64,
    bytes: u64,
    seconds: f64,
    latency_ms: Latency,
    /// Whether the producers were idempotent.
    idempotence: bool,
}

/// `perf consume --json`, the fields used.
#[derive(Deserialize, Debug)]
struct Consumed {
    records: u64,
    bytes: u64,
    seconds: f64,
    end_to_end_ms: Option<Latency>,
}

/// Runs `scenario`'s clients to their end against `cluster`, each by `deadline`: producers
/// into `topic` (made with [`create_topic`] beforehand), or consumers reading `topic`. `peak`
/// gives the records/s an earlier scenario measured (for the end-to-end run's throttle).
pub fn run(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    sizes: &Sizes,
    peak: impl Fn(&str) -> Option<f64>,
    deadline: Instant,
) -> Result<Figures> {
    let records = sizes.records(scenario);
    if scenario.protocol == Protocol::Kafka {
        return run_kafka(cluster, scenario, topic, records, deadline);
    }
    match scenario.workload {
        Workload::Produce {
            producers, acks, ..
        } => produce(cluster, scenario, topic, records, producers, acks, deadline),
        Workload::Consume { consumers, .. } => {
            consume(cluster, topic, records, consumers, deadline)
        }
        Workload::ProduceAndConsume { acks } => {
            produce_and_consume(cluster, scenario, topic, records, acks, deadline)
        }
        Workload::EndToEnd { acks, peak_of } => {
            let peak = peak(peak_of).with_context(|| format!("{peak_of} was not measured"))?;
            let rate = (peak * END_TO_END_FRACTION).max(1.0);
            let records = ((rate * sizes.end_to_end_seconds) as u64).max(1);
            end_to_end(cluster, scenario, topic, records, rate, acks, deadline)
        }
        Workload::GroupTakeover { .. } | Workload::GroupJoin { .. } => unreachable!(
            "{}: a consumer-group row is timed by groups::run",
            scenario.name
        ),
    }
}

/// A Kafka row: librdkafka's one producer (without idempotence) or one consumer (the only
/// shapes of Kafka rows).
fn run_kafka(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    records: u64,
    deadline: Instant,
) -> Result<Figures> {
    let bootstrap = cluster.kafka_bootstrap();
    match scenario.workload {
        Workload::Produce {
            producers: 1,
            acks,
            idempotence: false,
        } => kafka_clients::produce(
            bootstrap,
            topic,
            PARTITIONS,
            records,
            scenario.record_size,
            acks,
            deadline,
        ),
        Workload::Consume { consumers: 1, .. } => {
            kafka_clients::consume(bootstrap, topic, records, deadline)
        }
        other => bail!(
            "{}: a Kafka row runs one producer without idempotence or one consumer, not {other:?}",
            scenario.name
        ),
    }
}

/// `producers` producers at once on a fresh `topic`, `records` between them.
fn produce(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    records: u64,
    producers: u32,
    acks: Acks,
    deadline: Instant,
) -> Result<Figures> {
    let runs = (0..producers)
        .map(|i| {
            let share = records / u64::from(producers)
                + u64::from(u64::from(i) < records % u64::from(producers));
            let args = produce_args(scenario, topic, share, acks);
            start(cluster, &format!("producer {}", i + 1), &args)
        })
        .collect::<Result<Vec<_>>>()?;
    let produced = finish_all::<Produced>(runs, deadline)?;
    produced_figures(scenario, &produced, None)
}

/// `consumers` consumers at once, each reading all `records` of `topic`.
fn consume(
    cluster: &Cluster,
    topic: &str,
    records: u64,
    consumers: u32,
    deadline: Instant,
) -> Result<Figures> {
    let args = consume_args(topic, records, false);
    let runs = (0..consumers)
        .map(|i| start(cluster, &format!("consumer {}", i + 1), &args))
        .collect::<Result<Vec<_>>>()?;
    let consumed = finish_all::<Consumed>(runs, deadline)?;
    Ok(Figures {
        rate: combined(consumed.iter().map(|c| (c.records, c.bytes, c.seconds))),
        latency: None,
        consumer: None,
        throttle: None,
    })
}

/// A consumer, then a producer, on a fresh `topic`; the producer's figures, with the
/// consumer's rate beside them.
fn produce_and_consume(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    records: u64,
    acks: Acks,
    deadline: Instant,
) -> Result<Figures> {
    let consumer_args = consume_args(topic, records, false);
    let consumer = start(cluster, "consumer", &consumer_args)?;
    let producer_args = produce_args(scenario, topic, records, acks);
    let producer = start(cluster, "producer", &producer_args)?;
    let produced: Produced = finish(producer, deadline)?;
    let consumed: Consumed = finish(consumer, deadline)?;
    let mut figures = produced_figures(scenario, &[produced], None)?;
    figures.consumer = Some(combined([(
        consumed.records,
        consumed.bytes,
        consumed.seconds,
    )]));
    Ok(figures)
}

/// A consumer measuring each record's latency, then a producer held to `rate` stamping its
/// values, on a fresh `topic`.
fn end_to_end(
    cluster: &Cluster,
    scenario: &Scenario,
    topic: &str,
    records: u64,
    rate: f64,
    acks: Acks,
    deadline: Instant,
) -> Result<Figures> {
    let consumer = start(cluster, "consumer", &consume_args(topic, records, true))?;
    let mut args = produce_args(scenario, topic, records, acks);
    args.extend([
        "--throughput".to_string(),
        format!("{rate:.0}"),
        "--stamp-values".to_string(),
    ]);
    let producer = start(cluster, "producer", &args)?;
    let produced: Produced = finish(producer, deadline)?;
    let consumed: Consumed = finish(consumer, deadline)?;
    let latency = consumed
        .end_to_end_ms
        .context("perf consume --latency reported no end_to_end_ms")?;
    let mut figures = produced_figures(scenario, &[produced], Some(latency))?;
    figures.throttle = Some(rate);
    Ok(figures)
}

/// Creates `topic` for the scenario's producers (through the thin protocol, for Kafka rows
/// too) and waits until it is ready.
pub fn create_topic(cluster: &Cluster, scenario: &Scenario, topic: &str) -> Result<()> {
    let configs: &[&str] = if scenario.flush_always {
        &["flush_policy=always"]
    } else {
        &[]
    };
    cluster
        .create_topic(topic, PARTITIONS, scenario.replication_factor, configs)
        .with_context(|| format!("create topic {topic}"))?;
    cluster.wait_topic_ready(topic)
}

/// `perf produce` into `topic` as `scenario`'s producers: `records` of its record size with
/// `acks`, idempotent or not as the row says (the flag on every command line, so none relies
/// on the client's default).
pub(super) fn produce_args(
    scenario: &Scenario,
    topic: &str,
    records: u64,
    acks: Acks,
) -> Vec<String> {
    let idempotence = scenario.workload.idempotence() == Some(true);
    [
        "perf",
        "produce",
        topic,
        "--records",
        &records.to_string(),
        "--record-size",
        &scenario.record_size.to_string(),
        "--acks",
        acks.as_arg(),
        "--idempotence",
        if idempotence { "true" } else { "false" },
        "--batch-bytes",
        &BATCH_BYTES.to_string(),
        "--linger-ms",
        &LINGER_MS.to_string(),
        "--json",
    ]
    .map(str::to_string)
    .to_vec()
}

fn consume_args(topic: &str, records: u64, latency: bool) -> Vec<String> {
    let mut args = [
        "perf",
        "consume",
        topic,
        "--records",
        &records.to_string(),
        "--timeout-ms",
        CONSUMER_IDLE_MS,
        "--json",
    ]
    .map(str::to_string)
    .to_vec();
    if latency {
        args.push("--latency".to_string());
    }
    args
}

/// Starts `ringlog ARGS` against `cluster` as client process `name`.
pub(super) fn start(cluster: &Cluster, name: &str, args: &[String]) -> Result<ClientRun> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command: Command = cluster.command(&args);
    ClientRun::start(name, &mut command)
}

/// Waits for `run` and parses the JSON report it printed.
fn finish<T: for<'de> Deserialize<'de>>(run: ClientRun, deadline: Instant) -> Result<T> {
    let stdout = run.finish(deadline)?;
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("parse the report {line:?}"))
}

/// Waits for every one of `runs` (all of them, even after one failed: each is stopped when
/// dropped) and parses their reports.
fn finish_all<T: for<'de> Deserialize<'de>>(
    runs: Vec<ClientRun>,
    deadline: Instant,
) -> Result<Vec<T>> {
    let results: Vec<Result<T>> = runs.into_iter().map(|run| finish(run, deadline)).collect();
    results.into_iter().collect()
}

/// The figures of `scenario`'s producers (one or several), with `latency` instead of theirs
/// when given. Fails unless every producer was idempotent as the row asks.
fn produced_figures(
    scenario: &Scenario,
    produced: &[Produced],
    latency: Option<Latency>,
) -> Result<Figures> {
    let errors: u64 = produced.iter().map(|p| p.errors).sum();
    if errors > 0 {
        bail!("{errors} records not delivered");
    }
    let idempotence = scenario.workload.idempotence() == Some(true);
    if let Some(p) = produced.iter().find(|p| p.idempotence != idempotence) {
        bail!(
            "{}: a producer reported idempotence {}, the row asks for {idempotence}",
            scenario.name,
            p.idempotence
        );
    }
    let latency = latency.or_else(|| worst(produced.iter().map(|p| &p.latency_ms)));
    Ok(Figures {
        rate: combined(produced.iter().map(|p| (p.records, p.bytes, p.seconds))),
        latency,
        consumer: None,
        throttle: None,
    })
}

/// Records and bytes added up over the longest of the seconds.
pub(super) fn combined(parts: impl IntoIterator<Item = (u64, u64, f64)>) -> Rate {
    let (mut records, mut bytes, mut seconds) = (0u64, 0u64, 0f64);
    for (r, b, s) in parts {
        records += r;
        bytes += b;
        seconds = seconds.max(s);
    }
    let seconds = seconds.max(1e-9);
    Rate {
        records,
        seconds,
        records_per_sec: records as f64 / seconds,
        mb_per_sec: bytes as f64 / seconds / 1e6,
    }
}

/// Each quantile's worst over `latencies`.
fn worst<'a>(latencies: impl Iterator<Item = &'a Latency>) -> Option<Latency> {
    latencies.fold(None, |acc: Option<Latency>, l| {
        Some(match acc {
            None => Latency {
                percentiles: Vec::new(),
                ..l.clone()
            },
            Some(a) => Latency {
                p50: a.p50.max(l.p50),
                p99: a.p99.max(l.p99),
                p999: a.p999.max(l.p999),
                max: a.max.max(l.max),
                percentiles: Vec::new(),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_processes_add_up_over_the_longest_clock() {
        let rate = combined([(100, 10_000, 1.0), (300, 30_000, 2.0)]);
        assert_eq!(rate.records, 400);
        assert_eq!(rate.seconds, 2.0);
        assert_eq!(rate.records_per_sec, 200.0);
        assert_eq!(rate.mb_per_sec, 0.02);
    }

    #[test]
    fn the_worst_quantile_of_each() {
        let a = Latency {
            p50: 1.0,
            p99: 5.0,
            p999: 9.0,
            max: 10.0,
            percentiles: Vec::new(),
        };
        let b = Latency {
            p50: 2.0,
            p99: 4.0,
            p999: 9.5,
            max: 9.6,
            percentiles: Vec::new(),
        };
        let w = worst([&a, &b].into_iter()).unwrap();
        assert_eq!((w.p50, w.p99, w.p999, w.max), (2.0, 5.0, 9.5, 10.0));
        assert_eq!(worst(std::iter::empty()), None);
    }

    #[test]
    fn a_row_states_its_idempotence_and_holds_its_producers_to_it() {
        let off =
            super::super::plan::scenario(Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT).unwrap();
        let on = super::super::plan::scenario(Scenario::PRODUCE_RF3_ACKS_ALL).unwrap();
        let acks1 = super::super::plan::scenario(Scenario::PRODUCE_RF3_ACKS1).unwrap();
        let flag = |scenario: &Scenario, acks: Acks| {
            let args = produce_args(scenario, "t", 10, acks);
            let at = args.iter().position(|a| a == "--idempotence").unwrap();
            args[at + 1].clone()
        };
        assert_eq!(flag(off, Acks::All), "false");
        assert_eq!(flag(on, Acks::All), "true");
        assert_eq!(flag(acks1, Acks::Leader), "false");
        let produced = |idempotence| Produced {
            records: 10,
            errors: 0,
            bytes: 1000,
            seconds: 1.0,
            latency_ms: Latency {
                p50: 1.0,
                p99: 1.0,
                p999: 1.0,
                max: 1.0,
                percentiles: Vec::new(),
            },
            idempotence,
        };
        assert!(produced_figures(off, &[produced(false)], None).is_ok());
        assert!(produced_figures(on, &[produced(true)], None).is_ok());
        let error = produced_figures(off, &[produced(true)], None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "produce_1p_rf3_acksall_not_idempotent: a producer reported idempotence true, the \
             row asks for false"
        );
    }

    #[test]
    fn reports_parse_as_perf_prints_them() {
        let produced: Produced = serde_json::from_str(
            r#"{"records":10,"errors":0,"bytes":1000,"seconds":0.5,"records_per_sec":20.0,"mb_per_sec":0.002,"latency_ms":{"p50":1.0,"p99":2.0,"p999":3.0,"max":4.0},"record_size":100,"acks":"1","idempotence":false,"producers":1,"batch_bytes":131072,"linger_ms":5,"throughput":null}"#,
        )
        .unwrap();
        assert_eq!(produced.records, 10);
        assert_eq!(produced.latency_ms.p999, 3.0);
        let consumed: Consumed = serde_json::from_str(
            r#"{"records":10,"bytes":1000,"seconds":0.5,"records_per_sec":20.0,"mb_per_sec":0.002,"latency_ms":{"p50":1.0,"p99":2.0,"p999":3.0,"max":4.0},"polls":2,"end_to_end_ms":{"p50":0.5,"p99":0.9,"p999":1.0,"max":1.1,"count":8,"percentiles":[[0.0,0.1],[100.0,1.1]],"unmeasured":2}}"#,
        )
        .unwrap();
        let latency = consumed.end_to_end_ms.unwrap();
        assert_eq!(latency.percentiles, vec![[0.0, 0.1], [100.0, 1.1]]);
        let plain: Consumed = serde_json::from_str(
            r#"{"records":1,"bytes":1,"seconds":1.0,"latency_ms":{"p50":1.0,"p99":2.0,"p999":3.0,"max":4.0}}"#,
        )
        .unwrap();
        assert_eq!(plain.end_to_end_ms, None);
    }
}
