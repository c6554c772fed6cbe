//! `ringlog perf produce`: producer throughput and send-to-acknowledgement latency against a
//! running cluster, as Kafka's `kafka-producer-perf-test`.
//!
//! `--producers` tasks, each with its own producer on one client connection, send `--records`
//! between them (the first ones one more when it does not divide), keyless (round robin over
//! the partitions), each value `--record-size` bytes of one shared buffer. `--throughput`
//! spaces the sends (split evenly between the producers). A record's latency runs from just
//! before `send` (waiting for buffer room counts, as in Kafka) to its acknowledgement, awaited
//! in send order by a task of its own so it is measured when it happens (the futures reach it
//! in chunks, handed over whenever a send or the throttle waits). The clock runs from the
//! first send to the last acknowledgement; `mb_per_sec` counts value bytes, 10^6 per MB.
//!
//! The producers are idempotent with acks=all unless `--idempotence false` says otherwise (the
//! client's default, reported as `idempotence`), so a run can measure what idempotence costs.
//!
//! Records not delivered are counted in `errors`; the report is printed, then the command fails
//! naming the first.
//!
//! With `--stamp-values` each value starts with the time of its `send` (see
//! [`super::perf_report`]), for `perf consume --latency`: each record then has a value of its
//! own, a copy of the shared one with the stamp written in.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use ringlog_client::{Acks, ClientError, DeliveryFuture, Producer, ProducerConfig, Record};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{
    Bootstrap, TopicArg, acks_name, connect, flat, parse_acks, partitions, runtime,
    runtime_with_threads,
};
use super::perf_report::{
    LatencyMs, SEND_STAMP_LEN, Throttle, Throughput, latency_histogram, parse_throughput,
    progress_bar, record_latency, seconds_since, stamp_send_time, unix_micros,
};

/// The most producers: far more than cores only measures the scheduler.
const PRODUCERS_MAX: u32 = 1024;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(flatten)]
    topic: TopicArg,
    /// Records to send in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Bytes of each record's value (the key is null).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    record_size: u32,
    /// `0`, `1` or `all`.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: Acks,
    /// `true` or `false`: whether the producers are idempotent with acks=all (a producer id
    /// and sequences on every batch, up to five requests of a partition in flight, one batch
    /// each); with acks 0 or 1 they are not, whatever this says.
    #[arg(
        long,
        default_value_t = ProducerConfig::default().idempotence,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    idempotence: bool,
    /// A partition's batch is sent once it holds this many bytes.
    #[arg(long, default_value_t = ProducerConfig::default().batch_bytes)]
    batch_bytes: usize,
    /// How long a batch waits for more records before it is sent.
    #[arg(long, default_value_t = ProducerConfig::default().linger.as_millis() as u64)]
    linger_ms: u64,
    /// Records per second, at most, over all producers; -1: no limit.
    #[arg(long, default_value = "-1", allow_negative_numbers = true, value_parser = parse_throughput)]
    throughput: Throughput,
    /// Producers sending concurrently.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=PRODUCERS_MAX as i64))]
    producers: u32,
    /// Begin each value with its send time (µs since the Unix epoch, 8 bytes big-endian), for
    /// `perf consume --latency`; needs `--record-size` 8 or more.
    #[arg(long)]
    stamp_values: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The report, as printed with `--json`.
#[derive(Serialize, Debug)]
struct Report {
    /// Records acknowledged.
    records: u64,
    /// Records not delivered.
    errors: u64,
    /// Value bytes acknowledged.
    bytes: u64,
    seconds: f64,
    records_per_sec: f64,
    /// 10^6 value bytes per second.
    mb_per_sec: f64,
    /// From `send` to acknowledgement.
    latency_ms: LatencyMs,
    record_size: u32,
    acks: &'static str,
    /// Whether the producers were idempotent: `--idempotence` with acks=all.
    idempotence: bool,
    producers: u32,
    batch_bytes: usize,
    linger_ms: u64,
    /// `null`: no limit.
    throughput: Option<f64>,
}

/// What one producer task did.
struct Sent {
    latency_us: Histogram<u64>,
    acknowledged: u64,
    failed: u64,
    first_error: Option<ClientError>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    if args.stamp_values && (args.record_size as usize) < SEND_STAMP_LEN {
        bail!(
            "--stamp-values needs --record-size {SEND_STAMP_LEN} or more (the stamp's bytes), not {}",
            args.record_size
        );
    }
    let runtime = match args.producers {
        1 => runtime()?,
        producers => runtime_with_threads(producers as usize)?,
    };
    runtime.block_on(perf_produce(args))
}

async fn perf_produce(args: Args) -> Result<()> {
    let client = connect(&args.bootstrap).await?;
    partitions(&client, args.topic.name(), None).await?;
    let config = ProducerConfig {
        acks: args.acks,
        batch_bytes: args.batch_bytes,
        linger: Duration::from_millis(args.linger_ms),
        idempotence: args.idempotence,
        ..ProducerConfig::default()
    };
    let payload = Bytes::from(
        (0..args.record_size)
            .map(|i| b'A' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let progress = progress_bar(args.records);
    let started = Instant::now();
    let mut producers = JoinSet::new();
    for (i, records) in shares(args.records, args.producers).enumerate() {
        let task = Task {
            producer: client.producer(config.clone()).map_err(flat)?,
            topic: args.topic.name().to_string(),
            payload: payload.clone(),
            records,
            rate: args
                .throughput
                .0
                .map(|rate| rate / f64::from(args.producers)),
            progress: progress.clone(),
            stamp_values: args.stamp_values,
        };
        producers.spawn(async move { task.run().await.with_context(|| format!("producer {i}")) });
    }
    let mut total = Sent {
        latency_us: latency_histogram()?,
        acknowledged: 0,
        failed: 0,
        first_error: None,
    };
    while let Some(sent) = producers.join_next().await {
        let sent = sent.expect("producer tasks do not panic")?;
        total
            .latency_us
            .add(&sent.latency_us)
            .context("merge histograms")?;
        total.acknowledged += sent.acknowledged;
        total.failed += sent.failed;
        total.first_error = total.first_error.or(sent.first_error);
    }
    let seconds = seconds_since(started);
    progress.finish_and_clear();
    drop(client);
    let report = Report::new(&args, &config, &total, seconds);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    match total.first_error {
        None => Ok(()),
        Some(error) => Err(flat(error)).context(format!(
            "{} of {} records not delivered, the first",
            total.failed, args.records
        )),
    }
}

/// `records` split between `producers`: the first `records % producers` get one more.
fn shares(records: u64, producers: u32) -> impl Iterator<Item = u64> {
    let producers = u64::from(producers);
    (0..producers).map(move |i| records / producers + u64::from(i < records % producers))
}

/// One record in this many has its send-to-ack latency measured.
const LATENCY_SAMPLE: u64 = 16;
/// Acknowledgements counted between two progress bar updates.
const PROGRESS_STEP: u64 = 4096;
/// Records whose futures go to the collector in one message (a channel message per record
/// cost about a tenth of a small record's send).
const ACK_CHUNK: usize = 64;

/// Sent records' futures, with the time of the send for the sampled ones.
type Chunk = Vec<(Option<Instant>, DeliveryFuture)>;

/// One producer's share of the run.
struct Task {
    producer: Producer,
    topic: String,
    payload: Bytes,
    records: u64,
    rate: Option<f64>,
    progress: ProgressBar,
    stamp_values: bool,
}

impl Task {
    async fn run(self) -> Result<Sent> {
        let mut sent = Sent {
            latency_us: latency_histogram()?,
            acknowledged: 0,
            failed: 0,
            first_error: None,
        };
        // Acknowledgements come back in order per partition: one task awaits them in send
        // order (bounded by the producer's buffer: `send` waits for room).
        let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<Chunk>();
        let progress = self.progress.clone();
        let collector = tokio::spawn(async move {
            let mut unreported = 0;
            while let Some(chunk) = acks_rx.recv().await {
                for (sent_at, delivery) in chunk {
                    let acked = delivery.await;
                    sent.take(acked.map(|_| sent_at.map(|t| t.elapsed())));
                    unreported += 1;
                    if unreported == PROGRESS_STEP {
                        progress.inc(unreported);
                        unreported = 0;
                    }
                }
            }
            progress.inc(unreported);
            sent
        });
        // The collector only stops once the sender is dropped, so sending cannot fail.
        let hand_over = |chunk: &mut Chunk| {
            if !chunk.is_empty() {
                let _ = acks_tx.send(std::mem::replace(chunk, Vec::with_capacity(ACK_CHUNK)));
            }
        };
        // A future waits in the chunk only while the sends after it go through at once: the
        // chunk is handed over when full, before the throttle waits and after a send that
        // waited, so an acknowledgement is seen late by at most ACK_CHUNK sends that did not
        // wait.
        let mut chunk = Vec::with_capacity(ACK_CHUNK);
        let throttle = Throttle::new(self.rate);
        for i in 0..self.records {
            if !throttle.is_due(i) {
                hand_over(&mut chunk);
                throttle.wait(i).await;
            }
            // Set in place: the builder methods would move the record once each.
            let mut record = Record::new(self.topic.as_str());
            record.value = Some(self.value());
            // Reading the clock costs about as much as sending a small record on this kind of
            // machine: the latency is sampled, one record in LATENCY_SAMPLE.
            let sent_at = (i % LATENCY_SAMPLE == 0).then(Instant::now);
            // Polled in place, counting the polls: a send that was not ready at once waited.
            let mut send = std::pin::pin!(self.producer.send(record));
            let mut polls = 0u32;
            let delivery = std::future::poll_fn(|cx| {
                polls += 1;
                send.as_mut().poll(cx)
            })
            .await;
            let waited = polls > 1;
            chunk.push((sent_at, delivery.map_err(flat)?));
            if waited || chunk.len() == ACK_CHUNK {
                hand_over(&mut chunk);
            }
        }
        hand_over(&mut chunk);
        self.producer.flush().await.map_err(flat)?;
        drop(acks_tx);
        let sent = collector.await.expect("the ack collector does not panic");
        Ok(sent)
    }

    /// The next record's value: the shared payload, or a copy of it stamped with the time now.
    fn value(&self) -> Bytes {
        if !self.stamp_values {
            return self.payload.clone();
        }
        let mut value = self.payload.to_vec();
        stamp_send_time(&mut value, unix_micros(SystemTime::now()));
        Bytes::from(value)
    }
}

impl Sent {
    fn take(&mut self, acked: Result<Option<Duration>, ClientError>) {
        match acked {
            Ok(latency) => {
                if let Some(latency) = latency {
                    record_latency(&mut self.latency_us, latency);
                }
                self.acknowledged += 1;
            }
            Err(error) => {
                self.failed += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

impl Report {
    fn new(args: &Args, config: &ProducerConfig, sent: &Sent, seconds: f64) -> Report {
        let bytes = sent.acknowledged * u64::from(args.record_size);
        Report {
            records: sent.acknowledged,
            errors: sent.failed,
            bytes,
            seconds,
            records_per_sec: sent.acknowledged as f64 / seconds,
            mb_per_sec: bytes as f64 / seconds / 1e6,
            latency_ms: LatencyMs::of(&sent.latency_us),
            record_size: args.record_size,
            acks: acks_name(args.acks),
            idempotence: config.is_idempotent(),
            producers: args.producers,
            batch_bytes: args.batch_bytes,
            linger_ms: args.linger_ms,
            throughput: args.throughput.0,
        }
    }
}

fn print_text(r: &Report) {
    println!(
        "{} records sent ({} failed) in {:.3} s: {:.1} records/s, {:.2} MB/s",
        r.records, r.errors, r.seconds, r.records_per_sec, r.mb_per_sec
    );
    println!(
        "latency send to ack: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        r.latency_ms.p50, r.latency_ms.p99, r.latency_ms.p999, r.latency_ms.max
    );
    println!(
        "{} producer(s), acks {}, {}, {} bytes per record, batch_bytes {}, linger {} ms",
        r.producers,
        r.acks,
        if r.idempotence {
            "idempotent"
        } else {
            "not idempotent"
        },
        r.record_size,
        r.batch_bytes,
        r.linger_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        assert_eq!(shares(10, 3).collect::<Vec<_>>(), vec![4, 3, 3]);
        assert_eq!(shares(2, 4).collect::<Vec<_>>(), vec![1, 1, 0, 0]);
        for (records, producers) in [(1, 1), (20_000, 7), (5, 1024)] {
            let split: Vec<u64> = shares(records, producers).collect();
            assert_eq!(split.iter().sum::<u64>(), records);
            let (min, max) = (split.iter().min().unwrap(), split.iter().max().unwrap());
            assert!(max - min <= 1, "{split:?}");
        }
    }
}
