//! `report.md`: the run's figures as Markdown tables, laid out as Kafka's 2014 post laid out
//! its own, each ringlog figure next to its hardware baseline and the ratio. Pure: text from
//! [`Results`].

use std::fmt::Write;

use super::plan::{
    Baseline, GROUP_LOAD_RECORDS_PER_SEC, KafkaFigure, Protocol, SCENARIOS, Workload, scenario,
};
use super::results::{
    BaselineResult, Comparison, GroupTimes, IdempotenceCost, Results, ScenarioResult, TlsPath,
    Verdict, ZeroCopy,
};

/// The plots [`super::plots`] draws, as the report links them.
pub const PLOTS: [(&str, &str); 3] = [
    (
        "throughput.png",
        "records per second per scenario, with Kafka's 2014 figures",
    ),
    (
        "ratios.png",
        "each scenario's throughput as a fraction of its hardware baseline",
    ),
    (
        "latency.png",
        "end-to-end latency by percentile, with the loopback round trip",
    ),
];

/// The whole of `report.md`.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    header(&mut out, results);
    throughput_table(&mut out, results);
    idempotence_table(&mut out, results);
    protocols_table(&mut out, results);
    tls_table(&mut out, results);
    broker_cpu_table(&mut out, results);
    latency_tables(&mut out, results);
    groups_table(&mut out, results);
    baselines_table(&mut out, results);
    method(&mut out, results);
    out
}

fn header(out: &mut String, r: &Results) {
    let m = &r.machine;
    let s = &r.settings;
    let _ = writeln!(
        out,
        "# ringlog benchmark: Kafka's 2014 scenarios, next to the hardware\n"
    );
    let _ = writeln!(
        out,
        "A {} run of `ringlog bench` started {} and took {:.0} s, at commit `{}`.\n",
        s.mode, m.date, s.seconds, m.git_commit
    );
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} GiB of memory, Linux {}, data on {}, io backend {}. \
         The brokers, the client processes and the baselines all ran on this one machine and \
         shared its cores. Load average (1 min): {:.2} when the run started, {:.2} when it \
         ended; the machine may be shared with other work, so figures move between runs: \
         compare ringlog with the hardware baselines of the same run (the ratios), not runs \
         with each other.\n",
        m.cores,
        m.cpu,
        m.memory_gib,
        m.kernel,
        m.filesystem,
        m.io_backend,
        m.load_before,
        m.load_after
    );
    let _ = writeln!(
        out,
        "Kafka's figures are those it published in 2014 (\"Benchmarking Apache Kafka: 2 Million \
         Writes Per Second (On Three Cheap Machines)\", LinkedIn engineering blog): three \
         dedicated broker machines with their own disks and a 1 Gb network, the clients on \
         other machines. They are shown for the shape of the table, not as a race: the \
         hardware differs in every way.\n"
    );
}

fn throughput_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Throughput\n");
    let _ = writeln!(
        out,
        "{} B records unless the row says otherwise, topics of {} partitions, producers \
         batching up to {} bytes with {} ms of linger. MB = 10^6 bytes of record values. Each \
         row ran {} time(s); its figures are the median run's.\n",
        100,
        r.settings.partitions,
        r.settings.batch_bytes,
        r.settings.linger_ms,
        r.settings.sizes.runs
    );
    let _ = writeln!(
        out,
        "| scenario | ringlog records/s | ringlog MB/s | ratio to the baseline | other ratios | every run, M records/s | Kafka 2014 records/s (MB/s) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---|---|---:|");
    for s in r.scenarios.iter().filter(|s| s.measures_throughput()) {
        let mut main = String::from("-");
        let mut others = Vec::new();
        for ratio in s.ratios.iter().filter(|ratio| ratio.of == "throughput") {
            let text = format!("{} of {}", ratio_text(ratio.value), ratio.baseline.name());
            if main == "-" {
                main = format!("**{text}**");
            } else {
                others.push(text);
            }
        }
        let mut title = s.title.clone();
        if let Some(consumer) = &s.consumer {
            title.push_str(&format!(
                " (the consumer meanwhile: {} records/s, {:.1} MB/s)",
                thousands(consumer.records_per_sec),
                consumer.mb_per_sec
            ));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {} | {} | {} |",
            title,
            thousands(s.records_per_sec),
            s.mb_per_sec,
            main,
            if others.is_empty() {
                "-".to_string()
            } else {
                others.join(", ")
            },
            runs_text(s),
            kafka_throughput(s)
        );
    }
    let _ = writeln!(out);
}

fn idempotence_table(out: &mut String, r: &Results) {
    let Some(first) = r.idempotence_costs.first() else {
        return;
    };
    let floor = percent_text(first.cost_floor);
    let _ = writeln!(out, "## Idempotence on and off\n");
    let _ = writeln!(
        out,
        "Each pair is one `ringlog perf produce` process with acks=all, run as two rows one \
         after the other on the same cluster: idempotent, as ringlog's producer is by default \
         (a producer id from InitProducerId before its first batch, the partition's sequence on \
         each batch, up to five requests of a partition in flight, one batch each), then with \
         `--idempotence false` (one request of a partition in flight, carrying the batches \
         queued behind its first). The cost is the share of the records/s without idempotence \
         that the idempotent row lacks: 1 - on / off. Each row's figure is its median run's, \
         taken as off by up to the farthest of its runs from it; the issue's floor, a cost of \
         at most {floor}, is met when the cost's upper bound is within it, missed when its \
         lower bound is not, else inconclusive (always when a row ran once, as in a quick \
         run).\n"
    );
    let _ = writeln!(
        out,
        "| row | idempotence on, records/s | idempotence off, records/s | on / off | every run, on; off, M records/s | cost (floor {floor}) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|");
    for c in &r.idempotence_costs {
        let (Some(on), Some(off)) = (r.scenario(&c.on), r.scenario(&c.off)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}; {} | {} |",
            c.title,
            thousands(on.records_per_sec),
            thousands(off.records_per_sec),
            ratio_text(c.records_per_sec_ratio),
            runs_text(on),
            runs_text(off),
            cost_text(c)
        );
    }
    let _ = writeln!(out);
}

/// Every run's records/s of a row, in millions.
fn runs_text(s: &ScenarioResult) -> String {
    let runs: Vec<String> = s
        .runs_records_per_sec
        .iter()
        .map(|r| format!("{:.2}", r / 1e6))
        .collect();
    runs.join(", ")
}

/// A pair's cost, its bounds and its verdict.
fn cost_text(c: &IdempotenceCost) -> String {
    format!(
        "{} ({}): {}",
        percent_text(c.cost),
        cost_bounds_text(c.cost_bounds),
        verdict_text(c.verdict)
    )
}

/// A share as a percentage, one decimal.
pub fn percent_text(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A cost's bounds, `low to high` over the runs' spread; unknown without them.
pub fn cost_bounds_text(bounds: Option<[f64; 2]>) -> String {
    match bounds {
        Some([low, high]) => format!(
            "{} to {} over the runs' spread",
            percent_text(low),
            percent_text(high)
        ),
        None => "spread unknown".to_string(),
    }
}

fn protocols_table(out: &mut String, r: &Results) {
    if r.comparisons.is_empty() {
        return;
    }
    let (thin, kafka) = (Protocol::Thin.label(), Protocol::Kafka.label());
    let client = r
        .scenarios
        .iter()
        .find(|s| s.protocol == Protocol::Kafka)
        .map_or("librdkafka", |s| s.client.as_str());
    let floor = r.comparisons[0].cpu_per_gb_floor;
    let _ = writeln!(out, "## The thin protocol and Kafka's, side by side\n");
    let _ = writeln!(
        out,
        "Each {kafka} row is driven by {client} (the rdkafka crate, in the harness process) \
         over the brokers' Kafka listener; its {thin} twin by `ringlog perf` processes over \
         the thin listener, on the same cluster and topic layout, with the same record size \
         and acks; the consumer rows read the very same topic. The librdkafka producer \
         batches up to {} bytes with {} ms of linger, since it sends one partition's batch \
         per request where the thin producer sends every partition's: so the two send \
         requests of about the same size. Broker CPU is every broker's user + system time \
         (`/proc/PID/stat`, counted in clock ticks) from just before the clients start to \
         just after they are done (for producers, once every replica has the records), over \
         the GB (10^9 bytes) of record values the row moved. That time holds what the \
         cluster burns each second whatever the work (raft and broker heartbeats, followers' \
         long polls of idle partitions, timers), so a slower client would be charged more of \
         it for the same bytes: the brokers are sampled over {:.1} s with no client running \
         just before each run, and the CPU compared is net of the cluster's idle CPU, each \
         broker's idle ticks per second times the row's seconds taken off its time (never \
         below 0). The ± is how far the ticks' resolution leaves the net figure: 2 ticks a \
         broker over the row, and 2 over the window scaled by the row's length over the \
         window's. The raw figures, idle included, are in brackets. The issue's floors: \
         {kafka}'s net CPU per GB within {floor:.2}x of {thin}'s (met when the ratio's upper \
         bound is, missed when its lower bound is not, else inconclusive), and the brokers' \
         zero-copy counter (`ringlog_fetch_bytes_total{{mode=\"zerocopy\"}}`) growing by at \
         least the record bytes each consumer row fetched. Ratios are {kafka} over {thin}.\n",
        r.settings.kafka_batch_bytes,
        r.settings.kafka_linger_ms,
        r.settings.sizes.idle_window_seconds
    );
    let _ = writeln!(
        out,
        "| row | {thin} records/s | {kafka} records/s | ratio | idle ticks/s, {thin} / {kafka} | {thin} CPU s/GB, net (raw) | {kafka} CPU s/GB, net (raw) | CPU ratio, net (floor {floor:.2}; raw) | zero-copy, both |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    for c in &r.comparisons {
        let (Some(t), Some(k)) = (r.scenario(&c.thin), r.scenario(&c.kafka)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            c.title,
            thousands(t.records_per_sec),
            thousands(k.records_per_sec),
            ratio_text(c.records_per_sec_ratio),
            idle_rate(t),
            idle_rate(k),
            cpu_per_gb(t),
            cpu_per_gb(k),
            cpu_ratio(c),
            c.zero_copy_met.map_or("-", met_text)
        );
    }
    let _ = writeln!(out);
}

fn tls_table(out: &mut String, r: &Results) {
    if r.tls_costs.is_empty() {
        return;
    }
    let path = r.tls_path.unwrap_or(TlsPath::Userspace);
    let _ = writeln!(out, "## TLS beside plaintext\n");
    let copy = match path {
        TlsPath::Userspace => {
            "Plain TLS cannot use sendfile: the broker reads each fetch's record bytes from the \
             segment file (64 KiB at a time) and encrypts them through rustls, so its zero-copy \
             counter stays at 0 and the consumer row's CPU per GB carries that copy."
        }
        TlsPath::Kernel => {
            "The kernel encrypts: fetches go out by sendfile as in plaintext, and the zero-copy \
             counter carries the consumer row's record bytes."
        }
    };
    let _ = writeln!(
        out,
        "Each TLS row runs `ringlog perf` over the thin protocol with TLS (rustls with ring's \
         default suites on both ends: TLS 1.3, AES-256-GCM) against a broker of its own whose \
         thin listener is `THIN_SSL`, with a CA and certificate made for the run; its twin is \
         the plaintext row of the same shape on the plaintext broker (one broker, the same \
         topic layout, record size, records, acks and producer settings). The two brokers run \
         at once and each TLS row runs right after its twin, so both see the machine alike. \
         The broker's TLS path in this run: **{}**. {copy} Broker CPU as in the table below \
         (net of the idle CPU, raw in brackets). Ratios are TLS over plaintext; no floor.\n",
        path.label()
    );
    let _ = writeln!(
        out,
        "| row | plaintext records/s | TLS records/s | ratio | plaintext CPU s/GB, net (raw) | TLS CPU s/GB, net (raw) | CPU ratio, net (raw) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for c in &r.tls_costs {
        let (Some(p), Some(t)) = (r.scenario(&c.plaintext), r.scenario(&c.tls)) else {
            continue;
        };
        let cpu_ratio = c.cpu_per_gb_ratio.map_or("-".to_string(), |ratio| {
            format!(
                "{} ({}); raw {}",
                ratio_text(ratio),
                bounds_text(c.cpu_per_gb_ratio_bounds),
                c.cpu_per_gb_raw_ratio.map_or("-".to_string(), ratio_text)
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.title,
            thousands(p.records_per_sec),
            thousands(t.records_per_sec),
            ratio_text(c.records_per_sec_ratio),
            cpu_per_gb(p),
            cpu_per_gb(t),
            cpu_ratio
        );
    }
    let _ = writeln!(out);
}

/// A consumer row's zero-copy check in words: met or MISSED, except that a TLS row's fetches
/// are copied unless the kernel's TLS carried them.
pub fn zero_copy_verdict(s: &ScenarioResult, z: &ZeroCopy) -> &'static str {
    match (s.protocol, z.holds) {
        (Protocol::ThinTls, true) => "met (kernel TLS)",
        (Protocol::ThinTls, false) => "copied (TLS in user space)",
        (_, holds) => met_text(holds),
    }
}

/// A row's net CPU per GB with its resolution, and the raw figure.
fn cpu_per_gb(s: &ScenarioResult) -> String {
    s.broker_cpu.as_ref().map_or("-".to_string(), |cpu| {
        format!(
            "{:.2} ± {:.2} ({:.2})",
            cpu.net_seconds_per_gb, cpu.net_seconds_per_gb_off_max, cpu.seconds_per_gb
        )
    })
}

/// All of a row's brokers' idle ticks per second.
fn idle_rate(s: &ScenarioResult) -> String {
    s.broker_cpu
        .as_ref()
        .map_or("-".to_string(), |cpu| rate_text(cpu.idle_ticks_per_sec()))
}

fn cpu_ratio(c: &Comparison) -> String {
    match (c.cpu_per_gb_ratio, c.cpu_floor) {
        (Some(ratio), Some(verdict)) => format!(
            "{} ({}): {}; raw {}",
            ratio_text(ratio),
            bounds_text(c.cpu_per_gb_ratio_bounds),
            verdict_text(verdict),
            c.cpu_per_gb_raw_ratio.map_or("-".to_string(), ratio_text)
        ),
        _ => "-".to_string(),
    }
}

/// Clock ticks per second, one decimal.
pub fn rate_text(ticks_per_sec: f64) -> String {
    format!("{ticks_per_sec:.1}")
}

/// A ratio's bounds, `low to high`; `any` when unbounded.
pub fn bounds_text(bounds: Option<[f64; 2]>) -> String {
    match bounds {
        Some([low, high]) => format!("{} to {}", ratio_text(low), ratio_text(high)),
        None => "any".to_string(),
    }
}

/// A floor's verdict, a miss in capitals.
pub fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Met => "met",
        Verdict::Missed => "MISSED",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// A check's outcome, a miss in capitals.
pub fn met_text(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn broker_cpu_table(out: &mut String, r: &Results) {
    if r.scenarios.iter().all(|s| s.broker_cpu.is_none()) {
        return;
    }
    let _ = writeln!(out, "## Broker CPU per GB\n");
    let _ = writeln!(
        out,
        "Every row's brokers: user + system seconds of each broker process over the row's \
         median run, raw and net of the cluster's idle CPU (each broker's ticks per second \
         over the {:.1} s with no client running just before the run, times the row's \
         seconds, taken off; never below 0), and all of them over the GB of record values its \
         clients produced and read, ± the most the clock ticks of `/proc` leave each figure \
         off. Consumer rows also show how much the brokers' zero-copy counter grew against \
         the record bytes fetched (the counter counts whole batches, headers included).\n",
        r.settings.sizes.idle_window_seconds
    );
    let _ = writeln!(
        out,
        "| scenario | protocol | GB moved | row s | idle ticks/s, all brokers | CPU s, each broker | net CPU s, each broker | CPU s/GB | net CPU s/GB | zero-copy MB / fetched MB |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|---|---:|---:|---|");
    for s in &r.scenarios {
        let Some(cpu) = &s.broker_cpu else {
            continue;
        };
        let each = |seconds: &[f64]| {
            let each: Vec<String> = seconds.iter().map(|s| format!("{s:.2}")).collect();
            each.join(", ")
        };
        let zero_copy = s.zero_copy.as_ref().map_or("-".to_string(), |z| {
            format!(
                "{:.1} / {:.1} ({})",
                z.zero_copy_bytes as f64 / 1e6,
                z.fetched_bytes as f64 / 1e6,
                zero_copy_verdict(s, z)
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.2} | {} | {} | {} | {:.2} ± {:.2} | {:.2} ± {:.2} | {} |",
            s.title,
            s.protocol.label(),
            cpu.gb,
            cpu.row_seconds,
            rate_text(cpu.idle_ticks_per_sec()),
            each(&cpu.seconds_per_broker),
            each(&cpu.net_seconds_per_broker),
            cpu.seconds_per_gb,
            cpu.seconds_per_gb_off_max,
            cpu.net_seconds_per_gb,
            cpu.net_seconds_per_gb_off_max,
            zero_copy
        );
    }
    let _ = writeln!(out);
}

fn is_latency_scenario(s: &ScenarioResult) -> bool {
    s.throttle_records_per_sec.is_some()
}

fn kafka_throughput(s: &ScenarioResult) -> String {
    match s.kafka_2014 {
        Some(KafkaFigure::Throughput {
            records_per_sec,
            mb_per_sec,
        }) => format!("{} ({mb_per_sec:.1})", thousands(records_per_sec)),
        _ => "-".to_string(),
    }
}

fn latency_tables(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Latency\n");
    for s in r.scenarios.iter().filter(|s| is_latency_scenario(s)) {
        let Some(latency) = &s.latency_ms else {
            continue;
        };
        let _ = writeln!(
            out,
            "{}: each record's time from the producer's `send` to the consumer's receipt, the \
             producer held to {} records/s ({:.0}% of what \"{}\" reached in this run), {} records.\n",
            s.title,
            thousands(s.throttle_records_per_sec.unwrap_or_default()),
            r.settings.end_to_end_fraction * 100.0,
            peak_title(s),
            thousands(s.records as f64)
        );
        let _ = writeln!(out, "| | p50 ms | p99 ms | p99.9 ms | max ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| ringlog, end to end | {:.3} | {:.3} | {:.3} | {:.3} |",
            latency.p50, latency.p99, latency.p999, latency.max
        );
        let baseline = s.ratios.first().map(|ratio| ratio.baseline);
        if let Some((baseline, b)) = baseline
            .and_then(|baseline| Some((baseline, r.baseline(baseline)?.latency_ms.as_ref()?)))
        {
            let _ = writeln!(
                out,
                "| baseline: {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                baseline.title(),
                b.p50,
                b.p99,
                b.p999,
                b.max
            );
        }
        let ratio_of = |of: &str| {
            s.ratios
                .iter()
                .find(|ratio| ratio.of == of)
                .map_or("-".to_string(), |ratio| ratio_text(ratio.value))
        };
        let _ = writeln!(
            out,
            "| ratio (baseline / ringlog) | {} | {} | {} | - |",
            ratio_of("p50"),
            ratio_of("p99"),
            ratio_of("p99.9")
        );
        if let Some(KafkaFigure::Latency {
            p50_ms,
            p99_ms,
            p999_ms,
        }) = s.kafka_2014
        {
            let _ = writeln!(
                out,
                "| Kafka 2014, end to end | {p50_ms} | {p99_ms} | {p999_ms} | - |"
            );
        }
        let _ = writeln!(out);
    }
    producer_latency_table(out, r);
}

fn peak_title(s: &ScenarioResult) -> &'static str {
    match scenario(&s.name).map(|plan| plan.workload) {
        Some(Workload::EndToEnd { peak_of, .. }) => scenario(peak_of).map_or(peak_of, |p| p.title),
        _ => "-",
    }
}

fn producer_latency_table(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "Producers, from `send` to acknowledgement (at full speed, so mostly time queued \
         behind other records; the slowest producer's quantiles where there are several):\n"
    );
    let _ = writeln!(out, "| scenario | p50 ms | p99 ms | p99.9 ms | max ms |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for s in r.scenarios.iter().filter(|s| s.measures_throughput()) {
        if let Some(l) = &s.latency_ms {
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                s.title, l.p50, l.p99, l.p999, l.max
            );
        }
    }
    if let Some(b) = r
        .baseline(Baseline::Fdatasync4k)
        .and_then(|b| b.latency_ms.as_ref())
    {
        let _ = writeln!(
            out,
            "| baseline: {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            Baseline::Fdatasync4k.title(),
            b.p50,
            b.p99,
            b.p999,
            b.max
        );
    }
    let _ = writeln!(out);
}

fn groups_table(out: &mut String, r: &Results) {
    let rows: Vec<(&ScenarioResult, &GroupTimes)> = r
        .scenarios
        .iter()
        .filter_map(|s| Some((s, s.group.as_ref()?)))
        .collect();
    let Some((_, first)) = rows.first() else {
        return;
    };
    let _ = writeln!(out, "## Consumer groups\n");
    let _ = writeln!(
        out,
        "These rows time a consumer group on the three brokers instead of moving records. \
         Each member is a `ringlog perf group-member` process (the client's subscribed \
         consumer: Kafka's classic group protocol, eager rebalances, the range assignor), on \
         a topic of {} partitions and a group of its own in each run; it prints when it took \
         each assignment and when it read records, by the system clock, which the harness \
         reads to stamp the start and the kill. The brokers ran with \
         `group_initial_rebalance_delay_ms` = {} and `group_min_session_timeout_ms` = {}; \
         each member asked for that session timeout and sent a heartbeat every {} ms. Each \
         row ran {} times.\n",
        r.settings.partitions,
        first.initial_rebalance_delay_ms,
        first.session_timeout_ms,
        first.heartbeat_interval_ms,
        first.runs.len()
    );
    let _ = writeln!(
        out,
        "- Takeover: members under a steady load of {} records/s; once they hold one \
         generation and have read every partition, the member holding partition 0 is killed \
         with SIGKILL. Timed: from the kill until the others have read a record of each \
         partition it held. The coordinator drops a member once its session timeout has \
         passed since its last heartbeat (up to a heartbeat interval before the kill); the \
         others learn of the rebalance at their next heartbeat (up to an interval after \
         that), rejoin, and read from the last offsets committed. Expect the session timeout, \
         give or take a heartbeat interval, plus a rejoin. The group settles at the same \
         point of the members' heartbeat cycle in every run, so each run kills a little later \
         than the one before, the runs' kills spread evenly over one interval.\n\
         - Join: every member started at once. Timed: from the start until each member held \
         its assignment of one generation, together covering every partition (members beyond \
         the partition count hold none). A group starting empty waits \
         `group_initial_rebalance_delay_ms` for members, and once more while members keep \
         coming, as Kafka's does: members that all come within the first delay are answered \
         after about twice it. The time includes the members' processes starting, shown \
         apart.\n",
        GROUP_LOAD_RECORDS_PER_SEC
    );
    let _ = writeln!(
        out,
        "| row | members | session timeout ms | group_initial_rebalance_delay_ms | median s | max s | every run |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for (s, times) in rows {
        let runs: Vec<String> = times
            .runs
            .iter()
            .map(|run| match run.started_seconds {
                Some(started) => format!(
                    "{:.2} s (generation {}; members started in {:.2} s)",
                    run.seconds, run.generation, started
                ),
                None => format!(
                    "{:.2} s (partitions {})",
                    run.seconds,
                    partition_list(&run.partitions)
                ),
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {} |",
            s.title,
            s.consumers,
            times.session_timeout_ms,
            times.initial_rebalance_delay_ms,
            times.median_seconds,
            times.max_seconds,
            runs.join("; ")
        );
    }
    let _ = writeln!(out);
}

/// `0, 1, 2`.
fn partition_list(partitions: &[u32]) -> String {
    let each: Vec<String> = partitions.iter().map(u32::to_string).collect();
    each.join(", ")
}

fn baselines_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## The hardware baselines (same run)\n");
    let _ = writeln!(out, "| baseline | what | figure |");
    let _ = writeln!(out, "|---|---|---|");
    for b in &r.baselines {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            b.baseline.name(),
            b.title,
            baseline_figure(b)
        );
    }
    let _ = writeln!(out);
}

fn baseline_figure(b: &BaselineResult) -> String {
    if let Some(bytes_per_sec) = b.bytes_per_sec {
        let samples: Vec<String> = b
            .samples_bytes_per_sec
            .iter()
            .map(|s| format!("{:.0}", s / 1e6))
            .collect();
        return format!(
            "{:.0} MB/s (median of {}: {})",
            bytes_per_sec / 1e6,
            samples.len(),
            samples.join(", ")
        );
    }
    match &b.latency_ms {
        Some(l) => format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            l.p50, l.p99, l.p999, l.max
        ),
        None => "-".to_string(),
    }
}

fn method(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## How the figures are taken\n");
    let _ = writeln!(
        out,
        "- Brokers: `ringlog broker` processes on 127.0.0.1 with their data in a temporary \
         directory beside the baselines' files: one broker (one shard per core, its own \
         controller) for the rows without replication, three (one shard each, all controller \
         voters) for the others. Each run of a row produces into a topic of its own, deleted \
         once no later run or row reads it.\n\
         - Clients: `ringlog perf produce` and `ringlog perf consume` processes, one per \
         producer or consumer, started at once. Several processes' records are added up and \
         divided by the longest of their clocks. Producers with acks=all are idempotent \
         (ringlog's default) unless the row says idempotence off. Three consumers each read \
         the whole topic (as Kafka's three consumer machines did). The consumer rows read \
         what the last run of the three-producer row wrote.\n\
         - Kafka rows: librdkafka's producer (`compression.type` none, idempotence off, \
         records sent round robin over the partitions, batch size and linger as the section \
         on the two protocols says) or consumer (every partition assigned from the beginning, \
         no group joined, fetch sizes and wait as the thin consumer's), on the harness's own \
         thread, against the brokers' Kafka listeners.\n\
         - End to end: the producer stamps each value with its send time (µs, the system \
         clock) and the consumer, started first, compares it with the time each poll \
         returns; records sent before the consumer started are not measured.\n\
         - Ratios are ringlog over the baseline for throughput (value bytes per second over the \
         baseline's bytes per second) and the baseline over ringlog for latency: 1.0 is \
         parity, higher is better. Which baseline each row uses:\n"
    );
    for plan in SCENARIOS.iter().filter(|plan| !plan.baselines.is_empty()) {
        let names: Vec<&str> = plan.baselines.iter().map(|b| b.name()).collect();
        let _ = writeln!(out, "  - {}: {}", plan.title, names.join(", "));
    }
    let sizes = &r.settings.sizes;
    let _ = writeln!(
        out,
        "\nSizes of this run: {} records for the 100 B rows, {} for the 1000 B rows, {} with \
         flush=always, {:.0} s of end-to-end traffic, {:.1} s of idle brokers before each run \
         of a row, {} runs of each consumer-group row; {} MiB per write and TCP baseline \
         sample, {} MiB per write + fdatasync sample.\n",
        thousands(sizes.records_100b as f64),
        thousands(sizes.records_1000b as f64),
        thousands(sizes.records_flush_always as f64),
        sizes.end_to_end_seconds,
        sizes.idle_window_seconds,
        sizes.group_runs,
        sizes.baseline_bytes >> 20,
        sizes.baseline_fdatasync_bytes >> 20
    );
    let _ = writeln!(out, "## Plots\n");
    for (file, what) in PLOTS {
        let _ = writeln!(out, "- [`{file}`]({file}): {what}\n\n  ![{what}]({file})");
    }
}

/// A ratio with two decimals, or two significant digits when smaller than 0.1 (a latency's
/// ratio to a loopback round trip is in the thousandths).
pub fn ratio_text(value: f64) -> String {
    if value >= 0.1 || value <= 0.0 {
        return format!("{value:.2}");
    }
    let decimals = (-value.log10()).ceil() as usize + 1;
    format!("{value:.decimals$}")
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::plan::{SCENARIOS, Sizes};
    use super::super::results::tests::{
        cpu_ticks, group_run, latency, latency_baseline, scenario, throughput_baseline,
    };
    use super::super::results::{
        GroupRun, Machine, Results, Settings, broker_cpu, compare, group_times, idempotence_cost,
        median, ratios, zero_copy,
    };
    use super::*;

    /// A run's results with made-up figures, every scenario and baseline present.
    pub(crate) fn sample() -> Results {
        let baselines = vec![
            throughput_baseline(Baseline::Write, 2.5e9),
            throughput_baseline(Baseline::WriteFdatasync, 0.9e9),
            latency_baseline(Baseline::Fdatasync4k, latency(0.4, 1.2, 3.0)),
            throughput_baseline(Baseline::Tcp, 3.0e9),
            throughput_baseline(Baseline::Sendfile, 2.2e9),
            latency_baseline(Baseline::TcpRoundTrip, latency(0.03, 0.06, 0.2)),
        ];
        let scenarios = SCENARIOS
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                let end_to_end = plan.name == "end_to_end_latency";
                let mut s = scenario(
                    plan.name,
                    100.0 + 10.0 * i as f64,
                    Some(latency(1.0 + i as f64, 3.0, 9.0)),
                );
                s.title = plan.title.to_string();
                s.kafka_2014 = plan.kafka;
                s.throttle_records_per_sec = end_to_end.then_some(300_000.0);
                s.ratios = ratios(&s, plan.baselines, &baselines);
                if plan.workload.is_group() {
                    (s.producers, s.consumers, _) = plan.workload.clients();
                    s.group = Some(sample_group(plan.workload));
                }
                s
            })
            .collect();
        Results {
            machine: Machine {
                cores: 2,
                cpu: "AMD EPYC".to_string(),
                memory_gib: 23.4,
                kernel: "6.18.44".to_string(),
                io_backend: "auto (uring)".to_string(),
                filesystem: "ext4".to_string(),
                git_commit: "abc123".to_string(),
                date: "2026-11-21T14:00:00Z".to_string(),
                load_before: 1.5,
                load_after: 2.0,
            },
            settings: Settings {
                mode: "quick".to_string(),
                sizes: Sizes::QUICK,
                partitions: 6,
                batch_bytes: 131_072,
                linger_ms: 5,
                kafka_batch_bytes: 1_000_000,
                kafka_linger_ms: 10,
                end_to_end_fraction: 0.3,
                seconds: 61.0,
            },
            baselines,
            scenarios,
            comparisons: Vec::new(),
            idempotence_costs: Vec::new(),
            tls_costs: Vec::new(),
            tls_path: None,
        }
    }

    /// Two runs of a group row, ran with a 6 s session and a 3 s initial delay.
    fn sample_group(workload: Workload) -> GroupTimes {
        let runs = match workload {
            Workload::GroupJoin { .. } => [6.25, 6.75]
                .map(|seconds| GroupRun {
                    started_seconds: Some(0.25),
                    ..group_run(seconds, &[0, 1, 2, 3, 4, 5])
                })
                .to_vec(),
            _ => vec![group_run(6.5, &[0, 1]), group_run(8.0, &[0, 3])],
        };
        group_times(runs, &Sizes::FULL)
    }

    #[test]
    fn every_scenario_has_its_row_and_ratio() {
        let text = render(&sample());
        for plan in SCENARIOS {
            assert!(
                text.contains(plan.title),
                "no row for {}:\n{text}",
                plan.title
            );
        }
        assert!(text.contains("| Single producer, no replication | 1,000,000 | 100.0 | **0.040 of write** | 0.033 of tcp | 1.00 | 821,557 (78.3) |"), "{text}");
        assert!(
            text.contains("| Kafka 2014, end to end | 2 | 3 | 14 | - |"),
            "{text}"
        );
        assert!(text.contains("| ratio (baseline / ringlog) |"), "{text}");
        assert!(text.contains("Linux 6.18.44"), "{text}");
        for (file, _) in PLOTS {
            assert!(text.contains(&format!("]({file})")), "{text}");
        }
    }

    #[test]
    fn kafka_rows_stand_beside_their_thin_twins() {
        let mut results = sample();
        for s in &mut results.scenarios {
            let gb = if s.name.contains("consume") { 0.5 } else { 1.0 };
            // 50 ticks of 1 ms a second idle on each broker; the Kafka rows took 4 s where
            // their twins took 1, and charged 0.15 s more of idle CPU to each broker.
            let (seconds, row) = if s.name.starts_with("kafka_") {
                (1.2, 4.0)
            } else {
                (1.0, 1.0)
            };
            let ticks = cpu_ticks(&[seconds, seconds], 0.001, row, 100);
            s.broker_cpu = broker_cpu(&ticks, (gb * 1e9) as u64);
            if let Some(plan) = super::super::plan::scenario(&s.name) {
                s.protocol = plan.protocol;
                if matches!(plan.workload, super::super::plan::Workload::Consume { .. }) {
                    s.zero_copy = Some(zero_copy(500_000_000, 560_000_000, 600_000_000));
                }
            }
        }
        let find = |name: &str| results.scenario(name).unwrap().clone();
        results.comparisons = vec![
            compare(&find("produce_1p_rf1"), &find("kafka_produce_1p_rf1"), 1.15),
            compare(&find("consume_1c"), &find("kafka_consume_1c"), 1.15),
        ];
        let text = render(&results);
        assert!(
            text.contains("## The thin protocol and Kafka's, side by side"),
            "{text}"
        );
        assert!(
            text.contains("| row | thin records/s | kafka (librdkafka) records/s | ratio |"),
            "{text}"
        );
        // Records/s: 10,000 per MB/s of the sample; CPU 1.9 s/GB thin, 2.0 kafka, net of
        // their idle 2.0 and 2.4.
        assert!(
            text.contains(
                "| Single producer, no replication | 1,000,000 | 1,100,000 | 1.10 | 100.0 / 100.0 | 1.90 ± 0.01 (2.00) | 2.00 ± 0.01 (2.40) | 1.05 (1.04 to 1.06): met; raw 1.20 | - |"
            ),
            "{text}"
        );
        assert!(text.contains("| Single consumer | "), "{text}");
        assert!(
            text.contains(
                "| 3.80 ± 0.01 (4.00) | 4.00 ± 0.02 (4.80) | 1.05 (1.04 to 1.06): met; raw 1.20 | met |"
            ),
            "{text}"
        );
        assert!(
            text.contains("net of the cluster's idle CPU, each broker's idle ticks per second"),
            "{text}"
        );
        assert!(text.contains("## Broker CPU per GB"), "{text}");
        assert!(
            text.contains("| Single consumer, kafka (librdkafka) | kafka (librdkafka) | 0.500 | 4.00 | 100.0 | 1.20, 1.20 | 1.00, 1.00 | 4.80 ± 0.01 | 4.00 ± 0.02 | 560.0 / 500.0 (met) |"),
            "{text}"
        );
    }

    #[test]
    fn each_idempotence_pair_stands_together_with_its_cost() {
        let mut results = sample();
        let mut set = |name: &str, runs: &[f64]| {
            let s = results
                .scenarios
                .iter_mut()
                .find(|s| s.name == name)
                .unwrap();
            s.runs_records_per_sec = runs.to_vec();
            s.records_per_sec = median(runs);
        };
        set("produce_1p_rf3_acksall", &[0.40e6, 0.39e6, 0.41e6]);
        set(
            "produce_1p_rf3_acksall_not_idempotent",
            &[0.42e6, 0.41e6, 0.43e6],
        );
        set("produce_1p_rf1_acksall", &[1.0e6]);
        set("produce_1p_rf1_acksall_not_idempotent", &[1.2e6]);
        let find = |name: &str| results.scenario(name).unwrap().clone();
        results.idempotence_costs = vec![
            idempotence_cost(
                &find("produce_1p_rf1_acksall"),
                &find("produce_1p_rf1_acksall_not_idempotent"),
                0.05,
            ),
            idempotence_cost(
                &find("produce_1p_rf3_acksall"),
                &find("produce_1p_rf3_acksall_not_idempotent"),
                0.05,
            ),
        ];
        let text = render(&results);
        assert!(text.contains("## Idempotence on and off"), "{text}");
        assert!(
            text.contains(
                "| row | idempotence on, records/s | idempotence off, records/s | on / off | every run, on; off, M records/s | cost (floor 5.0%) |"
            ),
            "{text}"
        );
        // A cost of 4.8%, but anywhere from 0 to 9.3% given the runs.
        assert!(
            text.contains(
                "| Single producer, 3x replication, acks=all | 400,000 | 420,000 | 0.95 | 0.40, 0.39, 0.41; 0.42, 0.41, 0.43 | 4.8% (0.0% to 9.3% over the runs' spread): inconclusive |"
            ),
            "{text}"
        );
        // One run each: no spread, no verdict, however large the cost.
        assert!(
            text.contains(
                "| Single producer, no replication, acks=all | 1,000,000 | 1,200,000 | 0.83 | 1.00; 1.20 | 16.7% (spread unknown): inconclusive |"
            ),
            "{text}"
        );
        // In the throughput table, each labelled, the idempotent row first.
        let throughput = text.split("## Idempotence on and off").next().unwrap();
        let lines: Vec<&str> = throughput.lines().collect();
        let on = lines
            .iter()
            .position(|l| {
                l.starts_with("| Single producer, 3x replication, acks=all, idempotence on |")
            })
            .unwrap();
        assert!(
            lines[on + 1]
                .starts_with("| Single producer, 3x replication, acks=all, idempotence off |"),
            "{throughput}"
        );
        // No pair measured: no section.
        assert!(!render(&sample()).contains("## Idempotence on and off"));
    }

    #[test]
    fn the_group_rows_stand_beside_their_session_timeout_and_initial_delay() {
        let text = render(&sample());
        assert!(text.contains("## Consumer groups"), "{text}");
        assert!(
            text.contains("`group_initial_rebalance_delay_ms` = 3000 and `group_min_session_timeout_ms` = 6000"),
            "{text}"
        );
        assert!(
            text.contains(
                "| Consumer group: takeover after a member's SIGKILL, 3 members | 3 | 6000 | 3000 | 7.25 | 8.00 | 6.50 s (partitions 0, 1); 8.00 s (partitions 0, 3) |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| Consumer group: 10 members join a new group | 10 | 6000 | 3000 | 6.50 | 6.75 | 6.25 s (generation 1; members started in 0.25 s); 6.75 s (generation 1; members started in 0.25 s) |"
            ),
            "{text}"
        );
        // Neither is a throughput: no bar, no row in the throughput table.
        let throughput = text.split("## Latency").next().unwrap();
        assert!(!throughput.contains("Consumer group"), "{throughput}");
    }

    #[test]
    fn tls_rows_stand_beside_their_plaintext_twins_with_the_path_taken() {
        let mut results = sample();
        for s in &mut results.scenarios {
            let tls = s.name.starts_with("tls_");
            let ticks = cpu_ticks(&[if tls { 3.0 } else { 1.0 }], 0.001, 1.0, 100);
            s.broker_cpu = broker_cpu(&ticks, 1_000_000_000);
            if let Some(plan) = super::super::plan::scenario(&s.name) {
                s.protocol = plan.protocol;
                if matches!(plan.workload, super::super::plan::Workload::Consume { .. }) {
                    let zero_copy_bytes = if tls { 0 } else { 1_100_000_000 };
                    s.zero_copy = Some(zero_copy(1_000_000_000, zero_copy_bytes, 1_200_000_000));
                }
            }
        }
        let find = |name: &str| results.scenario(name).unwrap().clone();
        results.tls_costs = vec![super::super::results::tls_cost(
            &find("consume_1000b"),
            &find("tls_consume_1000b"),
        )];
        results.tls_path = Some(TlsPath::Userspace);
        let text = render(&results);
        assert!(text.contains("## TLS beside plaintext"), "{text}");
        assert!(
            text.contains("**userspace rustls: fetches read from the segment files"),
            "{text}"
        );
        assert!(text.contains("cannot use sendfile"), "{text}");
        // 3 s/GB against 1, net of 0.05 s idle each (50 ticks a second of 1 ms over 1 s).
        assert!(
            text.contains(
                "| Single consumer, 1000 B records | 2,600,000 | 2,800,000 | 1.08 | 0.95 ± 0.00 (1.00) | 2.95 ± 0.00 (3.00) | 3.11 (3.09 to 3.12); raw 3.00 |"
            ),
            "{text}"
        );
        assert!(text.contains("(copied (TLS in user space))"), "{text}");
        assert!(!render(&sample()).contains("## TLS beside plaintext"));
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio_text(0.734), "0.73");
        assert_eq!(ratio_text(1.5), "1.50");
        assert_eq!(ratio_text(0.0016), "0.0016");
        assert_eq!(ratio_text(0.047), "0.047");
        assert_eq!(ratio_text(0.0), "0.00");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(2_024_032.0), "2,024,032");
    }
}
