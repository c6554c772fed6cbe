//! What a run measures, as data: the scenarios of Kafka's 2014 benchmark and three more, the
//! hardware baselines each is compared with, Kafka's published figures, and how many records
//! each takes in a full and a quick run. No IO here.
//!
//! Every scenario uses 100 B records unless it says otherwise, topics of [`PARTITIONS`]
//! partitions (as Kafka's benchmark did), producers sending batches of [`BATCH_BYTES`] with
//! [`LINGER_MS`] of linger.
//!
//! Most rows are driven by ringlog's own clients over the thin protocol. Four are driven by
//! librdkafka over the Kafka listener ([`Protocol::Kafka`]), each the twin of a thin row of the
//! same shape (same cluster, topic layout, record size, acks, and for consumers the very topic
//! its twin read), so the two protocols are compared within one run: throughput, and the
//! brokers' CPU seconds per GB, net of the cluster's idle CPU ([`IDLE_WINDOW_SECONDS`]),
//! against [`KAFKA_CPU_PER_GB_FLOOR`].
//!
//! Two pairs of rows differ only in the producer's idempotence: a single producer with
//! acks=all, idempotent as ringlog's producer is by default ("idempotence on"), and the same
//! with `--idempotence false` ("idempotence off", [`idempotent_twin`]), run one after the other
//! on the same cluster; the on row's records/s over the off row's is held to
//! [`IDEMPOTENCE_COST_FLOOR`].
//!
//! Two rows run the thin protocol over TLS ([`Protocol::ThinTls`]) against a broker of their
//! own whose thin listener is `THIN_SSL` ([`ClusterSize::OneTls`], certificates made for the
//! run), each the twin of the plaintext thin row of its shape on the one-broker cluster: a
//! producer of 1000 B records and a consumer of its topic (the rows where bytes, which TLS
//! encrypts, rather than records dominate). Both brokers run at once, and each TLS row runs
//! right after its twin, with as many records: the two see the same machine and the same
//! amount of writeback. What TLS costs is each one's records/s and broker CPU per GB over its
//! twin's, in the same run; no floor.
//!
//! Two rows time a consumer group instead of moving records ([`Workload::GroupTakeover`],
//! [`Workload::GroupJoin`]): the time until a killed member's partitions are read again, and
//! the time until a new group's members hold their assignments. They run [`Sizes::group_runs`]
//! times each, with the members' session timeout and the brokers' initial rebalance delay of
//! the sizes.

use std::time::Duration;

use serde::Serialize;

/// The most a Kafka row's broker CPU seconds per GB, net of the cluster's idle CPU, may be
/// over its thin twin's (the floor: within 1.15x). Reported, never enforced: a run
/// that misses it still writes its results.
pub const KAFKA_CPU_PER_GB_FLOOR: f64 = 1.15;

/// The most of a single producer's records/s that idempotence may cost: the idempotent row's
/// records/s at least `1 - IDEMPOTENCE_COST_FLOOR` of its twin's without idempotence (the
/// issue's floor: at most 5%). Reported, never enforced.
pub const IDEMPOTENCE_COST_FLOOR: f64 = 0.05;
/// How an idempotence pair's titles end: the same title before it.
pub const IDEMPOTENCE_ON_LABEL: &str = ", idempotence on";
pub const IDEMPOTENCE_OFF_LABEL: &str = ", idempotence off";

/// How long the brokers are left idle before each run of a row, their CPU sampled at both
/// ends, to take what the cluster burns regardless of the work (raft and broker heartbeats,
/// followers' long polls of idle partitions, timers: about 1.6 ticks a second for three
/// brokers on 2 cores) off the row's CPU. The window's own resolution is 2 ticks a broker,
/// which the correction scales by the row's length over the window's: a 2 s window leaves an
/// 8 s row up to 10 ticks a broker off where its raw figure is up to 2. Longer would be finer,
/// at that cost in every run of every row (about 45 runs in a full run: 90 s here).
pub const IDLE_WINDOW_SECONDS: f64 = 2.0;

/// Partitions of every topic (Kafka's benchmark used 6).
pub const PARTITIONS: u32 = 6;
/// The producers' `--batch-bytes` (Kafka's benchmark used 8,196 with its 2014 producer;
/// ringlog's producer needs about a thousand records a batch to keep up, see
/// `docs/performance.md`).
pub const BATCH_BYTES: u32 = 131_072;
/// The producers' `--linger-ms` (ringlog's default).
pub const LINGER_MS: u32 = 5;
/// The librdkafka producer's `batch.size` (librdkafka's default, about 1 MiB). librdkafka
/// sends one partition's batch per Produce request, where the thin producer packs the batches
/// of every partition a broker leads into one request: with [`KAFKA_LINGER_MS`] this makes
/// the Kafka rows' requests about the size of the thin rows' (measured on 2 cores: 270 to 500
/// KB a request, the thin producer's 200 to 550 KB; librdkafka with [`BATCH_BYTES`] and
/// [`LINGER_MS`] sends about 115 KB), and the brokers' CPU per GB follows the request size
/// (1.5 to 2.5 times as much at 115 KB as at 490 KB; `docs/performance.md`, "Kafka's listener
/// beside the thin one").
pub const KAFKA_BATCH_BYTES: u32 = 1_000_000;
/// The librdkafka producer's `linger.ms`: long enough for a partition's batch to reach a
/// request's worth of records (the issue asked for 5 to 10 ms).
pub const KAFKA_LINGER_MS: u32 = 10;
/// The end-to-end latency run's producer is throttled to this fraction of the peak of
/// [`Scenario::END_TO_END`]'s reference scenario measured earlier in the same run: the
/// acks=all producer's, the rate at which a three-broker cluster replicates records (the rate
/// a consumer can see them at; an acks=1 producer outruns its followers).
pub const END_TO_END_FRACTION: f64 = 0.3;

/// Records per second of the steady load under [`Workload::GroupTakeover`]'s members: enough
/// that each partition has records at every moment, light next to what the cluster takes, so
/// the time measured is the group's.
pub const GROUP_LOAD_RECORDS_PER_SEC: u32 = 1_000;
/// The acks of that load's producer.
pub const GROUP_LOAD_ACKS: Acks = Acks::Leader;

/// The brokers a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterSize {
    /// One broker process (shards: one per core).
    One,
    /// Three broker processes, each a controller quorum voter (one shard each).
    Three,
    /// One broker process as [`ClusterSize::One`], its thin listener `THIN_SSL` (TLS with a
    /// certificate made for the run): the TLS rows.
    OneTls,
}

impl ClusterSize {
    /// Every cluster of a run, in the order they run.
    pub const ALL: [ClusterSize; 3] = [ClusterSize::One, ClusterSize::Three, ClusterSize::OneTls];

    pub fn brokers(self) -> u32 {
        match self {
            ClusterSize::One | ClusterSize::OneTls => 1,
            ClusterSize::Three => 3,
        }
    }

    /// Whether its thin listener speaks TLS.
    pub fn tls(self) -> bool {
        self == ClusterSize::OneTls
    }
}

/// What the client processes of a scenario do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    /// `producers` `perf produce` processes at once on a fresh topic, the records split
    /// between them; with acks=all, idempotent producers unless `idempotence` is false (it is
    /// false with acks=1, where no producer is idempotent).
    Produce {
        producers: u32,
        acks: Acks,
        idempotence: bool,
    },
    /// `consumers` `perf consume` processes at once, each reading every record of the topic
    /// scenario `topic_of` produced (Kafka's three consumers each read the whole topic).
    Consume {
        consumers: u32,
        topic_of: &'static str,
    },
    /// One producer and one consumer at once on a fresh topic; the consumer reads every
    /// record as it comes.
    ProduceAndConsume { acks: Acks },
    /// A producer throttled to [`END_TO_END_FRACTION`] of scenario `peak_of`'s records/s and
    /// a consumer that measures each record's time from `send` to receipt.
    EndToEnd { acks: Acks, peak_of: &'static str },
    /// `members` members of a new group (`perf group-member` processes) on a fresh topic
    /// under a steady load of [`GROUP_LOAD_RECORDS_PER_SEC`]; once they hold one generation
    /// and have read every partition, the member holding partition 0 is killed with SIGKILL.
    /// Timed: from the kill until every partition it held has a record read by another
    /// member (its session timeout, then a rebalance).
    GroupTakeover { members: u32 },
    /// `members` members of a new group started at once on a fresh topic. Timed: from the
    /// start until every member holds its assignment of one generation, the assignments
    /// covering every partition (the brokers' initial rebalance delay, then a rebalance).
    GroupJoin { members: u32 },
}

impl Workload {
    /// A consumer-group row: timed, moving no records of its own.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            Workload::GroupTakeover { .. } | Workload::GroupJoin { .. }
        )
    }

    /// Its producers, its consumers (or group members), and the producers' acks.
    pub fn clients(self) -> (u32, u32, Option<Acks>) {
        match self {
            Workload::Produce {
                producers, acks, ..
            } => (producers, 0, Some(acks)),
            Workload::Consume { consumers, .. } => (0, consumers, None),
            Workload::ProduceAndConsume { acks } | Workload::EndToEnd { acks, .. } => {
                (1, 1, Some(acks))
            }
            Workload::GroupTakeover { members } => (1, members, Some(GROUP_LOAD_ACKS)),
            Workload::GroupJoin { members } => (0, members, None),
        }
    }

    /// Whether its producers are idempotent: those with acks=all are (ringlog's default)
    /// unless the row turns it off, as every Kafka row does (librdkafka runs without); none
    /// without producers.
    pub fn idempotence(self) -> Option<bool> {
        match self {
            Workload::Produce {
                acks, idempotence, ..
            } => Some(idempotence && acks == Acks::All),
            Workload::ProduceAndConsume { acks } | Workload::EndToEnd { acks, .. } => {
                Some(acks == Acks::All)
            }
            Workload::GroupTakeover { .. } => Some(GROUP_LOAD_ACKS == Acks::All),
            Workload::Consume { .. } | Workload::GroupJoin { .. } => None,
        }
    }
}

/// Which listener a row's clients talk to, and whose clients they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ringlog's thin protocol, driven by `ringlog perf produce/consume` processes.
    Thin,
    /// Kafka's wire protocol on the `PLAINTEXT` listener, driven by librdkafka (the rdkafka
    /// crate) on threads of the harness process.
    Kafka,
    /// The thin protocol over TLS (a `THIN_SSL` listener), driven by `ringlog perf` processes
    /// given the run's CA (`RINGLOG_TLS_CA`).
    ThinTls,
}

impl Protocol {
    /// How the report and the progress lines name it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Thin => "thin",
            Protocol::Kafka => "kafka (librdkafka)",
            Protocol::ThinTls => "thin over TLS",
        }
    }
}

/// `--acks` of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Acks {
    #[serde(rename = "1")]
    Leader,
    #[serde(rename = "all")]
    All,
}

impl Acks {
    pub fn as_arg(self) -> &'static str {
        match self {
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// The hardware baselines, measured once per run on the same machine and filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Sequential write(2) of 1 MiB chunks into a fresh file, no sync (bytes/s).
    Write,
    /// The same with an fdatasync(2) after every chunk (bytes/s).
    WriteFdatasync,
    /// fdatasync(2) after each 4 KiB append to a file (latency).
    Fdatasync4k,
    /// One TCP stream over 127.0.0.1, write(2) of 1 MiB chunks from memory (bytes/s).
    Tcp,
    /// The same stream fed by sendfile(2) of a page-cached file (bytes/s).
    Sendfile,
    /// A 100-byte message and its 100-byte answer over one loopback TCP connection (latency).
    TcpRoundTrip,
}

impl Baseline {
    pub const ALL: [Baseline; 6] = [
        Baseline::Write,
        Baseline::WriteFdatasync,
        Baseline::Fdatasync4k,
        Baseline::Tcp,
        Baseline::Sendfile,
        Baseline::TcpRoundTrip,
    ];

    /// The name used in `results.json` and on plots.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Write => "write",
            Baseline::WriteFdatasync => "write_fdatasync",
            Baseline::Fdatasync4k => "fdatasync_4k",
            Baseline::Tcp => "tcp",
            Baseline::Sendfile => "sendfile",
            Baseline::TcpRoundTrip => "tcp_round_trip",
        }
    }

    /// What it measures, for the report.
    pub fn title(self) -> &'static str {
        match self {
            Baseline::Write => "sequential write(2), 1 MiB chunks, no sync",
            Baseline::WriteFdatasync => "sequential write(2), 1 MiB chunks, fdatasync after each",
            Baseline::Fdatasync4k => "fdatasync(2) of a 4 KiB append",
            Baseline::Tcp => "one loopback TCP stream, write(2) of 1 MiB chunks",
            Baseline::Sendfile => "one loopback TCP stream, sendfile(2) of a page-cached file",
            Baseline::TcpRoundTrip => "loopback TCP round trip of a 100 B message",
        }
    }

    /// Whether the baseline is a latency (else a throughput).
    pub fn is_latency(self) -> bool {
        matches!(self, Baseline::Fdatasync4k | Baseline::TcpRoundTrip)
    }
}

/// A figure from Kafka's 2014 benchmark ("Benchmarking Apache Kafka: 2 Million Writes Per
/// Second (On Three Cheap Machines)", LinkedIn engineering blog, three dedicated machines).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KafkaFigure {
    Throughput {
        records_per_sec: f64,
        mb_per_sec: f64,
    },
    Latency {
        p50_ms: f64,
        p99_ms: f64,
        p999_ms: f64,
    },
}

/// One row of the report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// Its key in `results.json`, and its topic's name.
    pub name: &'static str,
    /// Its row title in the report.
    pub title: &'static str,
    pub cluster: ClusterSize,
    pub replication_factor: u16,
    pub record_size: u32,
    /// The topic's `flush_policy` is `always` (an fdatasync before each acknowledgement).
    pub flush_always: bool,
    pub protocol: Protocol,
    /// A Kafka row's or a TLS row's plaintext thin row of the same shape, which it is compared
    /// with.
    pub twin: Option<&'static str>,
    pub workload: Workload,
    /// The baselines its figures are divided by, the first the main one; none for the
    /// consumer-group rows, which no hardware figure bounds.
    pub baselines: &'static [Baseline],
    pub kafka: Option<KafkaFigure>,
}

const fn kafka(records_per_sec: f64, mb_per_sec: f64) -> Option<KafkaFigure> {
    Some(KafkaFigure::Throughput {
        records_per_sec,
        mb_per_sec,
    })
}

const PRODUCE_BASELINES: &[Baseline] = &[Baseline::Write, Baseline::Tcp];

impl Scenario {
    pub const PRODUCE_RF1: &'static str = "produce_1p_rf1";
    pub const PRODUCE_RF1_ACKS_ALL: &'static str = "produce_1p_rf1_acksall";
    pub const PRODUCE_RF1_ACKS_ALL_NOT_IDEMPOTENT: &'static str =
        "produce_1p_rf1_acksall_not_idempotent";
    pub const PRODUCE_RF3_ACKS1: &'static str = "produce_1p_rf3_acks1";
    pub const PRODUCE_RF3_ACKS_ALL: &'static str = "produce_1p_rf3_acksall";
    pub const PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT: &'static str =
        "produce_1p_rf3_acksall_not_idempotent";
    pub const PRODUCE_3P: &'static str = "produce_3p_rf3_acks1";
    pub const PRODUCE_1000B: &'static str = "produce_1000b";
    pub const CONSUME_1C: &'static str = "consume_1c";
    pub const CONSUME_1000B: &'static str = "consume_1000b";
    pub const END_TO_END: &'static str = "end_to_end_latency";
    pub const GROUP_TAKEOVER: &'static str = "group_takeover";
    pub const GROUP_JOIN: &'static str = "group_join";
    pub const TLS_PRODUCE_1000B: &'static str = "tls_produce_1000b";
    pub const TLS_CONSUME_1000B: &'static str = "tls_consume_1000b";
}

/// Every scenario, in the report's order: Kafka's table first, then the three of ours; each
/// Kafka row and each TLS row right after its thin twin, each idempotence-off row right after its idempotent
/// twin (the pair without replication, not in Kafka's table, beside the row of its shape with
/// acks=1).
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: Scenario::PRODUCE_RF1,
        title: "Single producer, no replication",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: kafka(821_557.0, 78.3),
    },
    Scenario {
        name: "kafka_produce_1p_rf1",
        title: "Single producer, no replication, kafka (librdkafka)",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Kafka,
        twin: Some(Scenario::PRODUCE_RF1),
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::PRODUCE_RF1_ACKS_ALL,
        title: "Single producer, no replication, acks=all, idempotence on",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::All,
            idempotence: true,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::PRODUCE_RF1_ACKS_ALL_NOT_IDEMPOTENT,
        title: "Single producer, no replication, acks=all, idempotence off",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::All,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::PRODUCE_RF3_ACKS1,
        title: "Single producer, 3x replication, acks=1",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: kafka(786_980.0, 75.1),
    },
    Scenario {
        name: Scenario::PRODUCE_RF3_ACKS_ALL,
        title: "Single producer, 3x replication, acks=all, idempotence on",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::All,
            idempotence: true,
        },
        baselines: PRODUCE_BASELINES,
        kafka: kafka(421_823.0, 40.2),
    },
    Scenario {
        name: Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT,
        title: "Single producer, 3x replication, acks=all, idempotence off",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::All,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: "kafka_produce_1p_rf3_acksall",
        title: "Single producer, 3x replication, acks=all, kafka (librdkafka)",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Kafka,
        twin: Some(Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT),
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::All,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::PRODUCE_3P,
        title: "Three producers, 3x replication, acks=1",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 3,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: kafka(2_024_032.0, 193.0),
    },
    Scenario {
        name: Scenario::CONSUME_1C,
        title: "Single consumer",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Consume {
            consumers: 1,
            topic_of: Scenario::PRODUCE_3P,
        },
        baselines: &[Baseline::Sendfile],
        kafka: kafka(940_521.0, 89.7),
    },
    Scenario {
        name: "kafka_consume_1c",
        title: "Single consumer, kafka (librdkafka)",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Kafka,
        twin: Some(Scenario::CONSUME_1C),
        workload: Workload::Consume {
            consumers: 1,
            topic_of: Scenario::PRODUCE_3P,
        },
        baselines: &[Baseline::Sendfile],
        kafka: None,
    },
    Scenario {
        name: "consume_3c",
        title: "Three consumers",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Consume {
            consumers: 3,
            topic_of: Scenario::PRODUCE_3P,
        },
        baselines: &[Baseline::Sendfile],
        kafka: kafka(2_615_968.0, 249.5),
    },
    Scenario {
        name: "produce_and_consume",
        title: "Producer and consumer together, 3x replication, acks=1",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::ProduceAndConsume { acks: Acks::Leader },
        baselines: PRODUCE_BASELINES,
        kafka: kafka(795_064.0, 75.8),
    },
    Scenario {
        name: Scenario::END_TO_END,
        title: "End-to-end latency, 3x replication, acks=1",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::EndToEnd {
            acks: Acks::Leader,
            peak_of: Scenario::PRODUCE_RF3_ACKS_ALL,
        },
        baselines: &[Baseline::TcpRoundTrip],
        kafka: Some(KafkaFigure::Latency {
            p50_ms: 2.0,
            p99_ms: 3.0,
            p999_ms: 14.0,
        }),
    },
    Scenario {
        name: Scenario::PRODUCE_1000B,
        title: "Single producer, 1000 B records, no replication",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 1000,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::TLS_PRODUCE_1000B,
        title: "Single producer, 1000 B records, no replication, TLS",
        cluster: ClusterSize::OneTls,
        replication_factor: 1,
        record_size: 1000,
        flush_always: false,
        protocol: Protocol::ThinTls,
        twin: Some(Scenario::PRODUCE_1000B),
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: PRODUCE_BASELINES,
        kafka: None,
    },
    Scenario {
        name: Scenario::CONSUME_1000B,
        title: "Single consumer, 1000 B records",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 1000,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Consume {
            consumers: 1,
            topic_of: Scenario::PRODUCE_1000B,
        },
        baselines: &[Baseline::Sendfile],
        kafka: None,
    },
    Scenario {
        name: "kafka_consume_1000b",
        title: "Single consumer, 1000 B records, kafka (librdkafka)",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 1000,
        flush_always: false,
        protocol: Protocol::Kafka,
        twin: Some(Scenario::CONSUME_1000B),
        workload: Workload::Consume {
            consumers: 1,
            topic_of: Scenario::PRODUCE_1000B,
        },
        baselines: &[Baseline::Sendfile],
        kafka: None,
    },
    Scenario {
        name: Scenario::TLS_CONSUME_1000B,
        title: "Single consumer, 1000 B records, TLS",
        cluster: ClusterSize::OneTls,
        replication_factor: 1,
        record_size: 1000,
        flush_always: false,
        protocol: Protocol::ThinTls,
        twin: Some(Scenario::CONSUME_1000B),
        workload: Workload::Consume {
            consumers: 1,
            topic_of: Scenario::TLS_PRODUCE_1000B,
        },
        baselines: &[Baseline::Sendfile],
        kafka: None,
    },
    Scenario {
        name: "produce_flush_always",
        title: "Single producer, flush=always, no replication",
        cluster: ClusterSize::One,
        replication_factor: 1,
        record_size: 100,
        flush_always: true,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::Produce {
            producers: 1,
            acks: Acks::Leader,
            idempotence: false,
        },
        baselines: &[Baseline::WriteFdatasync, Baseline::Fdatasync4k],
        kafka: None,
    },
    Scenario {
        name: Scenario::GROUP_TAKEOVER,
        title: "Consumer group: takeover after a member's SIGKILL, 3 members",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::GroupTakeover { members: 3 },
        baselines: &[],
        kafka: None,
    },
    Scenario {
        name: Scenario::GROUP_JOIN,
        title: "Consumer group: 10 members join a new group",
        cluster: ClusterSize::Three,
        replication_factor: 3,
        record_size: 100,
        flush_always: false,
        protocol: Protocol::Thin,
        twin: None,
        workload: Workload::GroupJoin { members: 10 },
        baselines: &[],
        kafka: None,
    },
];

/// The scenario named `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// For a thin row whose acks=all producers run without idempotence, the row of the same
/// shape (cluster, topic, record size, producers) whose producers are idempotent: the row it
/// is compared with. None for every other row.
pub fn idempotent_twin(off: &Scenario) -> Option<&'static Scenario> {
    let Workload::Produce {
        producers,
        acks: Acks::All,
        idempotence: false,
    } = off.workload
    else {
        return None;
    };
    if off.protocol != Protocol::Thin {
        return None;
    }
    let on = Workload::Produce {
        producers,
        acks: Acks::All,
        idempotence: true,
    };
    SCENARIOS.iter().find(|s| {
        s.protocol == Protocol::Thin
            && s.workload == on
            && s.cluster == off.cluster
            && s.replication_factor == off.replication_factor
            && s.record_size == off.record_size
            && s.flush_always == off.flush_always
    })
}

/// A pair's title without its idempotence label: what the two rows share.
pub fn pair_title(title: &str) -> &str {
    title
        .strip_suffix(IDEMPOTENCE_ON_LABEL)
        .or_else(|| title.strip_suffix(IDEMPOTENCE_OFF_LABEL))
        .unwrap_or(title)
}

/// How much each part of a run moves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sizes {
    /// Records of the 100 B throughput scenarios.
    pub records_100b: u64,
    /// Records of the 1000 B scenarios.
    pub records_1000b: u64,
    /// Records of the flush=always scenario.
    pub records_flush_always: u64,
    /// How long the end-to-end latency run sends.
    pub end_to_end_seconds: f64,
    /// Bytes of each write and TCP baseline sample.
    pub baseline_bytes: u64,
    /// Bytes of each write + fdatasync sample.
    pub baseline_fdatasync_bytes: u64,
    /// fdatasyncs timed for the 4 KiB append latency.
    pub fdatasync_appends: u64,
    /// Round trips timed over loopback TCP.
    pub round_trips: u64,
    /// Samples of each throughput baseline (the median is reported).
    pub baseline_samples: u32,
    /// Runs of each throughput scenario (the median run is reported); the end-to-end run
    /// runs once.
    pub runs: u32,
    /// The idle window before each run ([`IDLE_WINDOW_SECONDS`] in a full run).
    pub idle_window_seconds: f64,
    /// Runs of each consumer-group row (the median and the longest are reported).
    pub group_runs: u32,
    /// The group members' session timeout, and the brokers' `group_min_session_timeout_ms`
    /// (the shortest they allow).
    pub group_session_timeout_ms: u64,
    /// The brokers' `group_initial_rebalance_delay_ms`.
    pub group_initial_rebalance_delay_ms: u64,
}

impl Sizes {
    /// A smoke check: every scenario and output, about a minute.
    pub const QUICK: Sizes = Sizes {
        records_100b: 1_000_000,
        records_1000b: 100_000,
        records_flush_always: 200_000,
        end_to_end_seconds: 3.0,
        baseline_bytes: 256 << 20,
        baseline_fdatasync_bytes: 64 << 20,
        fdatasync_appends: 200,
        round_trips: 5_000,
        baseline_samples: 1,
        runs: 1,
        // A smoke check's rows take a second or less, a twentieth of a full run's: half the
        // window scales their resolution no worse than the full run's does, and keeps the
        // run near a minute.
        idle_window_seconds: IDLE_WINDOW_SECONDS / 2.0,
        // Half Kafka's shortest session and a third of its initial delay: a run of each group
        // row takes seconds, not a quarter of a minute. The rows name the values they ran
        // with.
        group_runs: 2,
        group_session_timeout_ms: 3_000,
        group_initial_rebalance_delay_ms: 1_000,
    };

    /// The full run: within about 15 minutes on 2 cores.
    pub const FULL: Sizes = Sizes {
        records_100b: 20_000_000,
        records_1000b: 4_000_000,
        records_flush_always: 5_000_000,
        end_to_end_seconds: 30.0,
        baseline_bytes: 2 << 30,
        baseline_fdatasync_bytes: 512 << 20,
        fdatasync_appends: 2_000,
        round_trips: 50_000,
        baseline_samples: 3,
        runs: 3,
        idle_window_seconds: IDLE_WINDOW_SECONDS,
        // Kafka's defaults: the shortest session its brokers allow, and their initial delay.
        group_runs: 5,
        group_session_timeout_ms: 6_000,
        group_initial_rebalance_delay_ms: 3_000,
    };

    /// How many times `scenario` runs.
    pub fn runs(&self, scenario: &Scenario) -> u32 {
        match scenario.workload {
            Workload::EndToEnd { .. } => 1,
            Workload::GroupTakeover { .. } | Workload::GroupJoin { .. } => self.group_runs.max(1),
            _ => self.runs.max(1),
        }
    }

    /// The group members' heartbeat interval: a third of their session timeout (Kafka's
    /// advice).
    pub fn group_heartbeat_interval_ms(&self) -> u64 {
        self.group_session_timeout_ms / 3
    }

    /// How long run `run` (from 1) of the takeover row waits, once its group has settled,
    /// before it kills a member: the runs' kills are spread evenly over one heartbeat
    /// interval, so they land at different points of the members' heartbeat cycle, as crashes
    /// do (the group settles at the same point of it in every run).
    pub fn group_kill_delay(&self, run: u32) -> Duration {
        let runs = self.group_runs.max(1);
        let step = self.group_heartbeat_interval_ms() / u64::from(runs);
        Duration::from_millis(step * u64::from((run.max(1) - 1) % runs))
    }

    /// Records a scenario's producers send (for consumers: read) in all.
    pub fn records(&self, scenario: &Scenario) -> u64 {
        match (scenario.record_size, scenario.flush_always) {
            (_, true) => self.records_flush_always,
            (1000, false) => self.records_1000b,
            _ => self.records_100b,
        }
    }
}

/// The scenarios that run on `cluster`, in the order they run: each producing scenario before
/// the ones that read its topic.
pub fn run_order(cluster: ClusterSize) -> Vec<&'static Scenario> {
    SCENARIOS.iter().filter(|s| s.cluster == cluster).collect()
}

/// The clusters that run at once, and their scenarios in the order they run: the one-broker
/// cluster with the TLS broker (each TLS row right after its twin), then the three brokers.
pub fn run_groups() -> Vec<(Vec<ClusterSize>, Vec<&'static Scenario>)> {
    [
        vec![ClusterSize::One, ClusterSize::OneTls],
        vec![ClusterSize::Three],
    ]
    .into_iter()
    .map(|clusters| {
        let order = SCENARIOS
            .iter()
            .filter(|s| clusters.contains(&s.cluster))
            .collect();
        (clusters, order)
    })
    .collect()
}

/// Whether the topic of scenario `topic_of` is read by no scenario after `position` in
/// `order` (so it may be deleted once that one is done).
pub fn topic_done_after(order: &[&Scenario], position: usize, topic_of: &str) -> bool {
    !order[position + 1..].iter().any(|s| match s.workload {
        Workload::Consume { topic_of: t, .. } => t == topic_of,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_reference_comes_earlier_on_its_cluster() {
        for (i, s) in SCENARIOS.iter().enumerate() {
            assert!(
                SCENARIOS[..i].iter().all(|other| other.name != s.name),
                "{} twice",
                s.name
            );
            assert_eq!(
                s.baselines.is_empty(),
                s.workload.is_group(),
                "{}: a baseline for every row but the group rows",
                s.name
            );
            let referenced = match s.workload {
                Workload::Consume { topic_of, .. } => Some(topic_of),
                Workload::EndToEnd { peak_of, .. } => Some(peak_of),
                _ => None,
            };
            if let Some(name) = referenced {
                let order = run_order(s.cluster);
                let at = |n: &str| order.iter().position(|o| o.name == n);
                let (this, other) = (at(s.name).unwrap(), at(name));
                assert!(other.is_some_and(|o| o < this), "{} needs {name}", s.name);
                let other = scenario(name).unwrap();
                assert_eq!(other.record_size, s.record_size, "{}", s.name);
                assert!(
                    matches!(other.workload, Workload::Produce { .. }),
                    "{}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn a_topic_is_done_after_its_last_reader() {
        let order = run_order(ClusterSize::Three);
        let at = |n: &str| order.iter().position(|o| o.name == n).unwrap();
        assert!(!topic_done_after(
            &order,
            at(Scenario::PRODUCE_3P),
            Scenario::PRODUCE_3P
        ));
        assert!(!topic_done_after(
            &order,
            at("consume_1c"),
            Scenario::PRODUCE_3P
        ));
        assert!(topic_done_after(
            &order,
            at("consume_3c"),
            Scenario::PRODUCE_3P
        ));
        assert!(topic_done_after(
            &order,
            at(Scenario::PRODUCE_RF3_ACKS1),
            Scenario::PRODUCE_RF3_ACKS1
        ));
    }

    #[test]
    fn every_scenario_runs_on_one_of_the_clusters() {
        let runs: usize = ClusterSize::ALL.iter().map(|&c| run_order(c).len()).sum();
        assert_eq!(runs, SCENARIOS.len());
        assert!(
            SCENARIOS
                .iter()
                .filter(|s| s.replication_factor > 1)
                .all(|s| s.cluster == ClusterSize::Three)
        );
    }

    #[test]
    fn every_kafka_row_has_a_thin_twin_of_its_shape() {
        let kafka: Vec<&Scenario> = SCENARIOS
            .iter()
            .filter(|s| s.protocol == Protocol::Kafka)
            .collect();
        assert_eq!(kafka.len(), 4);
        for s in kafka {
            let twin = s
                .twin
                .and_then(scenario)
                .unwrap_or_else(|| panic!("{} has no twin", s.name));
            assert_eq!(twin.protocol, Protocol::Thin, "{}", s.name);
            assert_eq!(twin.cluster, s.cluster, "{}", s.name);
            assert_eq!(twin.replication_factor, s.replication_factor, "{}", s.name);
            assert_eq!(twin.record_size, s.record_size, "{}", s.name);
            assert_eq!(twin.flush_always, s.flush_always, "{}", s.name);
            // The same clients' shape; a consumer reads the very topic its twin read.
            assert_eq!(twin.workload, s.workload, "{}", s.name);
            assert!(
                matches!(
                    s.workload,
                    Workload::Produce { producers: 1, .. } | Workload::Consume { consumers: 1, .. }
                ),
                "{}: librdkafka drives one producer or one consumer",
                s.name
            );
        }
        assert!(
            SCENARIOS
                .iter()
                .filter(|s| s.protocol == Protocol::Thin)
                .all(|s| s.twin.is_none())
        );
    }

    #[test]
    fn every_tls_row_runs_on_the_tls_broker_beside_a_plaintext_twin_of_its_shape() {
        let tls: Vec<&Scenario> = SCENARIOS
            .iter()
            .filter(|s| s.protocol == Protocol::ThinTls)
            .collect();
        let names: Vec<&str> = tls.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [Scenario::TLS_PRODUCE_1000B, Scenario::TLS_CONSUME_1000B]
        );
        for s in &tls {
            assert_eq!(s.cluster, ClusterSize::OneTls, "{}", s.name);
            let twin = s
                .twin
                .and_then(scenario)
                .unwrap_or_else(|| panic!("{} has no twin", s.name));
            assert_eq!(twin.protocol, Protocol::Thin, "{}", s.name);
            assert_eq!(twin.cluster, ClusterSize::One, "{}", s.name);
            assert_eq!(twin.replication_factor, s.replication_factor, "{}", s.name);
            assert_eq!(twin.record_size, s.record_size, "{}", s.name);
            assert_eq!(twin.baselines, s.baselines, "{}", s.name);
            assert_eq!(twin.workload.clients(), s.workload.clients(), "{}", s.name);
            // After its twin, in the report and in the run, with as many records.
            let at = |n: &str| SCENARIOS.iter().position(|o| o.name == n).unwrap();
            assert!(at(twin.name) < at(s.name), "{}", s.name);
            let groups = run_groups();
            let (_, order) = groups
                .iter()
                .find(|(clusters, _)| clusters.contains(&s.cluster))
                .unwrap();
            let at = |n: &str| order.iter().position(|o| o.name == n).unwrap();
            // Only the twin's other comparisons (its Kafka row) come in between.
            assert!(at(twin.name) < at(s.name), "{}", s.name);
            assert!(
                order[at(twin.name) + 1..at(s.name)]
                    .iter()
                    .all(|between| between.twin == Some(twin.name)),
                "{} runs right after {}",
                s.name,
                twin.name
            );
            for sizes in [Sizes::QUICK, Sizes::FULL] {
                assert_eq!(sizes.records(s), sizes.records(twin), "{}", s.name);
            }
        }
        let grouped: usize = run_groups().iter().map(|(_, order)| order.len()).sum();
        assert_eq!(grouped, SCENARIOS.len());
        // Only the TLS rows run on the TLS broker.
        assert!(
            run_order(ClusterSize::OneTls)
                .iter()
                .all(|s| s.protocol == Protocol::ThinTls)
        );
    }

    #[test]
    fn every_idempotence_off_row_follows_its_idempotent_twin_of_its_shape() {
        let off: Vec<&Scenario> = SCENARIOS
            .iter()
            .filter(|s| s.protocol == Protocol::Thin && s.workload.idempotence() == Some(false))
            .filter(|s| s.workload.clients().2 == Some(Acks::All))
            .collect();
        let names: Vec<&str> = off.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                Scenario::PRODUCE_RF1_ACKS_ALL_NOT_IDEMPOTENT,
                Scenario::PRODUCE_RF3_ACKS_ALL_NOT_IDEMPOTENT
            ]
        );
        for s in off {
            let on = idempotent_twin(s).unwrap_or_else(|| panic!("{} has no twin", s.name));
            assert_eq!(on.workload.idempotence(), Some(true), "{}", s.name);
            assert_eq!(on.protocol, s.protocol, "{}", s.name);
            assert_eq!(on.cluster, s.cluster, "{}", s.name);
            assert_eq!(on.replication_factor, s.replication_factor, "{}", s.name);
            assert_eq!(on.record_size, s.record_size, "{}", s.name);
            assert_eq!(on.flush_always, s.flush_always, "{}", s.name);
            assert_eq!(on.baselines, s.baselines, "{}", s.name);
            assert_eq!(on.workload.clients(), s.workload.clients(), "{}", s.name);
            // Adjacent, on first, in the report and on the cluster: the second runs right after
            // the first.
            let at = |n: &str| SCENARIOS.iter().position(|o| o.name == n).unwrap();
            assert_eq!(at(on.name) + 1, at(s.name), "{}", s.name);
            // Labelled, on the same title.
            assert!(on.title.ends_with(IDEMPOTENCE_ON_LABEL), "{}", on.title);
            assert!(s.title.ends_with(IDEMPOTENCE_OFF_LABEL), "{}", s.title);
            assert_eq!(pair_title(on.title), pair_title(s.title));
        }
        // Every single thin producer with acks=all has its pair; only a pair's rows are
        // labelled.
        for s in SCENARIOS {
            let single_acks_all = s.protocol == Protocol::Thin
                && matches!(
                    s.workload,
                    Workload::Produce {
                        producers: 1,
                        acks: Acks::All,
                        ..
                    }
                );
            let paired = idempotent_twin(s).is_some()
                || SCENARIOS
                    .iter()
                    .any(|o| idempotent_twin(o).is_some_and(|on| on.name == s.name));
            assert_eq!(single_acks_all, paired, "{}", s.name);
            let labelled = s.title.contains(", idempotence ");
            assert_eq!(labelled, paired, "{}", s.title);
        }
    }

    #[test]
    fn only_producers_with_acks_all_are_idempotent() {
        for s in SCENARIOS {
            if let Workload::Produce {
                acks, idempotence, ..
            } = s.workload
            {
                assert!(!idempotence || acks == Acks::All, "{}", s.name);
            }
            if s.protocol == Protocol::Kafka {
                // librdkafka runs with enable.idempotence false.
                assert_ne!(s.workload.idempotence(), Some(true), "{}", s.name);
            }
        }
        let on = scenario(Scenario::PRODUCE_RF3_ACKS_ALL).unwrap();
        assert_eq!(on.workload.idempotence(), Some(true));
        let consumer = scenario(Scenario::CONSUME_1C).unwrap();
        assert_eq!(consumer.workload.idempotence(), None);
        let takeover = scenario(Scenario::GROUP_TAKEOVER).unwrap();
        assert_eq!(takeover.workload.idempotence(), Some(false));
        assert_eq!(
            pair_title("Single producer, 3x replication, acks=all, idempotence on"),
            "Single producer, 3x replication, acks=all"
        );
        assert_eq!(pair_title("Single consumer"), "Single consumer");
    }

    #[test]
    fn the_group_rows_time_three_and_ten_members_on_three_brokers() {
        let groups: Vec<&Scenario> = SCENARIOS.iter().filter(|s| s.workload.is_group()).collect();
        let names: Vec<&str> = groups.iter().map(|s| s.name).collect();
        assert_eq!(names, [Scenario::GROUP_TAKEOVER, Scenario::GROUP_JOIN]);
        for s in &groups {
            assert_eq!(s.cluster, ClusterSize::Three, "{}", s.name);
            assert_eq!(s.protocol, Protocol::Thin, "{}", s.name);
            assert!(s.kafka.is_none() && s.twin.is_none(), "{}", s.name);
        }
        assert_eq!(
            groups[0].workload.clients(),
            (1, 3, Some(GROUP_LOAD_ACKS)),
            "three members under a load"
        );
        assert_eq!(groups[1].workload.clients(), (0, 10, None));
        for sizes in [Sizes::QUICK, Sizes::FULL] {
            assert_eq!(sizes.runs(groups[0]), sizes.group_runs);
            assert!(
                sizes.group_runs >= 2,
                "a median and a maximum of one run say little"
            );
            assert!(sizes.group_heartbeat_interval_ms() < sizes.group_session_timeout_ms);
        }
    }

    #[test]
    fn the_takeover_runs_kill_across_one_heartbeat_interval() {
        let sizes = Sizes {
            group_runs: 4,
            group_session_timeout_ms: 6_000,
            ..Sizes::FULL
        };
        let delays: Vec<u128> = (1..=4)
            .map(|run| sizes.group_kill_delay(run).as_millis())
            .collect();
        assert_eq!(delays, [0, 500, 1000, 1500]);
    }

    #[test]
    fn quick_is_smaller_than_full_everywhere() {
        let (q, f) = (Sizes::QUICK, Sizes::FULL);
        assert!(q.records_100b < f.records_100b);
        assert!(q.records_1000b < f.records_1000b);
        assert!(q.records_flush_always < f.records_flush_always);
        assert!(q.end_to_end_seconds < f.end_to_end_seconds);
        assert!(q.baseline_bytes < f.baseline_bytes);
        assert!(0.0 < q.idle_window_seconds && q.idle_window_seconds <= f.idle_window_seconds);
        assert!(q.group_runs <= f.group_runs);
        assert!(q.group_session_timeout_ms <= f.group_session_timeout_ms);
        assert!(q.group_initial_rebalance_delay_ms <= f.group_initial_rebalance_delay_ms);
        let scenario = scenario(Scenario::PRODUCE_1000B).unwrap();
        assert_eq!(f.records(scenario), f.records_1000b);
    }
}
