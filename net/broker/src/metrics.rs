//! The broker's metrics: their names, helpers that record them the same way everywhere, the
//! Prometheus recorder, and a small HTTP/1.1 responder that serves them at `GET /metrics`
//! (default `127.0.0.1:9644`, the `metrics_listen` key).
//!
//! | metric                               | type      | labels              | what it counts |
//! |--------------------------------------|-----------|---------------------|----------------|
//! | `ringlog_requests_total`             | counter   | `api`               | requests answered |
//! | `ringlog_request_duration_seconds`   | histogram | `api`               | time from a request's last byte read to its answer queued |
//! | `ringlog_request_errors_total`       | counter   | `api`, `error`      | error codes answered (Kafka's names): one for a request refused whole, else one per topic or partition answered with one, as Kafka's `ErrorsPerSec` |
//! | `ringlog_bytes_in_total`             | counter   |                     | bytes read from client and broker connections |
//! | `ringlog_bytes_out_total`            | counter   |                     | bytes written to client and broker connections |
//! | `ringlog_fetch_bytes_total`          | counter   | `mode`              | record bytes sent by fetches, `zerocopy` (sendfile/splice) or `copy` |
//! | `ringlog_connections`                | gauge     |                     | connections open |
//! | `ringlog_partition_log_end_offset`   | gauge     | `topic`, `partition` | each local partition's log end offset |
//! | `ringlog_partition_high_watermark`   | gauge     | `topic`, `partition` | each local partition's high watermark |
//! | `ringlog_io_backend_info`            | gauge     | `backend`           | 1, labelled with the io backend the broker runs on |
//! | `ringlog_tls_kernel_offload`         | gauge     |                     | 1 when the TLS listeners' connections move to the kernel's TLS (kTLS) after their handshake; 0 when they stay in rustls (`ssl_kernel_offload = "off"`, or a kernel without TLS). Set at start by a broker with a TLS listener |
//! | `ringlog_under_replicated_partitions` | gauge    |                     | led partitions whose ISR is smaller than their replica set |
//! | `ringlog_offline_partitions`         | gauge     |                     | partitions with no leader (the controller's count) |
//! | `ringlog_isr_shrinks_total`          | counter   |                     | replicas removed from an ISR led here |
//! | `ringlog_isr_expands_total`          | counter   |                     | replicas added back to an ISR led here |
//! | `ringlog_unclean_elections_total`    | counter   |                     | leaders elected from outside the ISR (data may be lost): the cluster's count, as of this broker's metadata |
//! | `ringlog_metadata_offset`            | gauge     |                     | the metadata log offset this broker has applied |
//! | `ringlog_truncated_records_total`    | counter   |                     | records a follower cut where its log diverged from its leader's (never committed, or lost to an unclean election) |
//! | `ringlog_produce_duplicates_total`   | counter   |                     | idempotent producers' batches a leader answered with their first offsets instead of appending them again (retries of batches it held) |
//! | `ringlog_controller_leader`          | gauge     |                     | the node id of the controller quorum's leader, -1 when none is known |
//! | `ringlog_follower_lag`               | gauge     | `topic`, `partition` | on a leader: its log end offset minus the slowest ISR follower's |
//! | `ringlog_group_committed_offset`     | gauge     | `group`, `topic`, `partition` | on a group's coordinator: the offset the group committed (-1 once deleted or expired); lag is the partition's high watermark minus it (`docs/operations.md`) |
//! | `ringlog_group_members`              | gauge     | `group`             | on a group's coordinator: its members |
//! | `ringlog_sasl_authentications_total` | counter   | `mechanism`, `result` | SASL authentications on the Kafka listener: `result` is `success`, `reauthentication` (a session renewed, KIP-368) or `failure`; `mechanism` is `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, or `none` for a failure before one was chosen (an unsupported mechanism, a request out of turn) |
//! | `ringlog_sasl_expired_sessions_total` | counter  |                     | connections closed because their SASL session expired (`connections_max_reauth_ms`) without a re-authentication (Kafka's `expired-connections-killed-count`) |
//! | `ringlog_authorization_denials_total` | counter  | `resource_type`, `operation` | requests (or parts of them) the authorizer denied (`authorizer_enabled`): each denied topic, group or cluster action once; what a listing leaves out unasked (Metadata of every topic, ListGroups) is not counted |
//!
//! Labels are bounded: `api` and `error` are Kafka's names for the keys and codes this build
//! knows, and `unknown` for any other (a client cannot create label values at will); a SASL
//! mechanism a client names but the broker does not serve is `none`.
//!
//! # The recorder
//!
//! The `metrics` crate records into one global recorder, which can be installed once per
//! process: the broker's `main` calls [`install_recorder`] and hands the returned handle to
//! [`MetricsServer::start`]. Tests build their own with [`build_recorder`] and record inside
//! [`metrics::with_local_recorder`]; the helpers below record into whichever recorder is in
//! scope, and into nothing when none is.
//!
//! # The HTTP responder
//!
//! One std thread, one request per connection, connections served one at a time (Prometheus
//! scrapes one at a time). `GET /metrics` (a query string is ignored) answers 200 with
//! `text/plain; version=0.0.4`; `HEAD` the same without a body; another path 404; another
//! method 405; a request line that is not HTTP/1.x 400; a head longer than
//! [`REQUEST_HEAD_BYTES_MAX`] 431; a head not complete within [`REQUEST_READ_TIMEOUT`] 408.
//! Every answer closes the connection (after reading what the peer still sends for up to
//! [`LINGER_TIMEOUT`], so that it is not reset before it reads the answer). A connection can
//! hold the thread for at most [`REQUEST_READ_TIMEOUT`] + [`RESPONSE_WRITE_TIMEOUT`] +
//! [`LINGER_TIMEOUT`], which bounds [`MetricsServer::stop`] too. The responder parses with [`route`], which never panics.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{KeyName, Recorder, SharedString, Unit, counter, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use ringlog_engine::Offset;

use ringlog_wire::ErrorCode;

/// Requests answered, by `api` (Kafka's name: `Produce`, `Fetch`, ...).
pub const REQUESTS_TOTAL: &str = "ringlog_requests_total";
/// Seconds from a request's last byte read to its answer queued, by `api`.
pub const REQUEST_DURATION_SECONDS: &str = "ringlog_request_duration_seconds";
/// Error codes answered, by `api` and `error` (Kafka's name of the code): one for a request
/// refused whole, else one per topic or partition answered with one.
pub const REQUEST_ERRORS_TOTAL: &str = "ringlog_request_errors_total";
/// Bytes read from connections.
pub const BYTES_IN_TOTAL: &str = "ringlog_bytes_in_total";
/// Bytes written to connections.
pub const BYTES_OUT_TOTAL: &str = "ringlog_bytes_out_total";
/// Record bytes sent by fetches, by `mode` ([`FetchMode`]).
pub const FETCH_BYTES_TOTAL: &str = "ringlog_fetch_bytes_total";
/// Connections open.
pub const CONNECTIONS: &str = "ringlog_connections";
/// A local partition's log end offset, by `topic` and `partition`.
pub const PARTITION_LOG_END_OFFSET: &str = "ringlog_partition_log_end_offset";
/// A local partition's high watermark, by `topic` and `partition`.
pub const PARTITION_HIGH_WATERMARK: &str = "ringlog_partition_high_watermark";
/// Always 1, labelled with the io backend the broker runs on (`backend`).
pub const IO_BACKEND_INFO: &str = "ringlog_io_backend_info";
/// 1 when TLS connections move to the kernel's TLS after their handshake, else 0.
pub const TLS_KERNEL_OFFLOAD: &str = "ringlog_tls_kernel_offload";
/// Partitions led here whose ISR is smaller than their replica set.
pub const UNDER_REPLICATED_PARTITIONS: &str = "ringlog_under_replicated_partitions";
/// Partitions with no leader.
pub const OFFLINE_PARTITIONS: &str = "ringlog_offline_partitions";
/// Replicas removed from an ISR led here.
pub const ISR_SHRINKS_TOTAL: &str = "ringlog_isr_shrinks_total";
/// Replicas added back to an ISR led here.
pub const ISR_EXPANDS_TOTAL: &str = "ringlog_isr_expands_total";
/// Leaders elected from outside the ISR.
pub const UNCLEAN_ELECTIONS_TOTAL: &str = "ringlog_unclean_elections_total";
/// The metadata log offset applied.
pub const METADATA_OFFSET: &str = "ringlog_metadata_offset";
/// Records cut by follower truncation.
pub const TRUNCATED_RECORDS_TOTAL: &str = "ringlog_truncated_records_total";
pub const PRODUCE_DUPLICATES_TOTAL: &str = "ringlog_produce_duplicates_total";
/// The controller quorum's leader.
pub const CONTROLLER_LEADER: &str = "ringlog_controller_leader";
/// A led partition's lag behind its leader.
pub const FOLLOWER_LAG: &str = "ringlog_follower_lag";
/// On a group's coordinator: the offset the group committed for a partition.
pub const GROUP_COMMITTED_OFFSET: &str = "ringlog_group_committed_offset";
/// On a group's coordinator: how many members the group has.
pub const GROUP_MEMBERS: &str = "ringlog_group_members";
/// SASL authentications, by `mechanism` and `result` ([`SaslResult`]).
pub const SASL_AUTHENTICATIONS_TOTAL: &str = "ringlog_sasl_authentications_total";
/// Connections closed because their SASL session expired.
pub const SASL_EXPIRED_SESSIONS_TOTAL: &str = "ringlog_sasl_expired_sessions_total";
/// Actions the authorizer denied, by `resource_type` and `operation`.
pub const AUTHORIZATION_DENIALS_TOTAL: &str = "ringlog_authorization_denials_total";

/// The bucket bounds of [`REQUEST_DURATION_SECONDS`], in seconds: 100 µs to 30 s.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// What kind of metric a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows; named `_total`.
    Counter,
    /// Set to the current value.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// A metric the broker records, with the help text Prometheus shows for it.
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    /// One of the name constants of this module.
    pub name: &'static str,
    /// How it is recorded.
    pub kind: MetricKind,
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn def(name: &'static str, kind: MetricKind, help: &'static str) -> MetricDef {
    MetricDef { name, kind, help }
}

/// Every metric the broker records (the module table, as data): each recorder built by
/// [`build_recorder`] describes them all.
pub const METRICS: &[MetricDef] = &[
    def(
        REQUESTS_TOTAL,
        MetricKind::Counter,
        "Requests answered, by api.",
    ),
    def(
        REQUEST_DURATION_SECONDS,
        MetricKind::Histogram,
        "Seconds from a request's last byte read to its answer queued, by api.",
    ),
    def(
        REQUEST_ERRORS_TOTAL,
        MetricKind::Counter,
        "Error codes answered, by api and error: one per request refused whole, or per topic or partition answered with one.",
    ),
    def(
        BYTES_IN_TOTAL,
        MetricKind::Counter,
        "Bytes read from connections.",
    ),
    def(
        BYTES_OUT_TOTAL,
        MetricKind::Counter,
        "Bytes written to connections.",
    ),
    def(
        FETCH_BYTES_TOTAL,
        MetricKind::Counter,
        "Record bytes sent by fetches, by mode (zerocopy or copy).",
    ),
    def(CONNECTIONS, MetricKind::Gauge, "Connections open."),
    def(
        PARTITION_LOG_END_OFFSET,
        MetricKind::Gauge,
        "A local partition's log end offset.",
    ),
    def(
        PARTITION_HIGH_WATERMARK,
        MetricKind::Gauge,
        "A local partition's high watermark.",
    ),
    def(
        IO_BACKEND_INFO,
        MetricKind::Gauge,
        "1, labelled with the io backend the broker runs on.",
    ),
    def(
        TLS_KERNEL_OFFLOAD,
        MetricKind::Gauge,
        "1 when TLS connections move to the kernel's TLS (kTLS) after their handshake, else 0.",
    ),
    def(
        UNDER_REPLICATED_PARTITIONS,
        MetricKind::Gauge,
        "Partitions led here whose ISR is smaller than their replica set.",
    ),
    def(
        OFFLINE_PARTITIONS,
        MetricKind::Gauge,
        "Partitions with no leader.",
    ),
    def(
        ISR_SHRINKS_TOTAL,
        MetricKind::Counter,
        "Replicas removed from an ISR led here.",
    ),
    def(
        ISR_EXPANDS_TOTAL,
        MetricKind::Counter,
        "Replicas added back to an ISR led here.",
    ),
    def(
        UNCLEAN_ELECTIONS_TOTAL,
        MetricKind::Counter,
        "Leaders elected from outside the ISR (data may be lost): the cluster's count.",
    ),
    def(
        METADATA_OFFSET,
        MetricKind::Gauge,
        "The metadata log offset this broker has applied.",
    ),
    def(
        TRUNCATED_RECORDS_TOTAL,
        MetricKind::Counter,
        "Records a follower cut where its log diverged from its leader's.",
    ),
    def(
        PRODUCE_DUPLICATES_TOTAL,
        MetricKind::Counter,
        "Idempotent producers' batches answered with their first offsets, not appended again.",
    ),
    def(
        CONTROLLER_LEADER,
        MetricKind::Gauge,
        "The node id of the controller quorum's leader, -1 when none is known.",
    ),
    def(
        FOLLOWER_LAG,
        MetricKind::Gauge,
        "On a leader: its log end offset minus the slowest ISR follower's.",
    ),
    def(
        GROUP_COMMITTED_OFFSET,
        MetricKind::Gauge,
        "On a group's coordinator: the offset the group committed for a partition, -1 once deleted or expired.",
    ),
    def(
        GROUP_MEMBERS,
        MetricKind::Gauge,
        "On a group's coordinator: how many members the group has.",
    ),
    def(
        SASL_AUTHENTICATIONS_TOTAL,
        MetricKind::Counter,
        "SASL authentications, by mechanism and result (success, reauthentication, failure).",
    ),
    def(
        SASL_EXPIRED_SESSIONS_TOTAL,
        MetricKind::Counter,
        "Connections closed because their SASL session expired without a re-authentication.",
    ),
    def(
        AUTHORIZATION_DENIALS_TOTAL,
        MetricKind::Counter,
        "Actions the authorizer denied, by resource type and operation.",
    ),
];

/// How a fetch's record bytes reached the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchMode {
    /// Straight from the page cache (sendfile or io_uring splice).
    ZeroCopy,
    /// Through a user-space buffer.
    Copy,
}

impl FetchMode {
    /// The `mode` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchMode::ZeroCopy => "zerocopy",
            FetchMode::Copy => "copy",
        }
    }
}

/// How a SASL authentication ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslResult {
    /// A connection authenticated.
    Success,
    /// An authenticated connection renewed its session (KIP-368).
    Reauthentication,
    /// The authentication (or re-authentication) failed: the connection was closed.
    Failure,
}

impl SaslResult {
    /// The `result` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslResult::Success => "success",
            SaslResult::Reauthentication => "reauthentication",
            SaslResult::Failure => "failure",
        }
    }
}

/// A SASL authentication with `mechanism` (its SASL name, or `none`) ended with `result`.
pub fn record_sasl_authentication(mechanism: &'static str, result: SaslResult) {
    counter!(SASL_AUTHENTICATIONS_TOTAL, "mechanism" => mechanism, "result" => result.as_str())
        .increment(1);
}

/// A connection was closed because its SASL session expired.
pub fn record_sasl_expired_session() {
    counter!(SASL_EXPIRED_SESSIONS_TOTAL).increment(1);
}

/// The authorizer denied `operation` on a resource of `resource_type` (Kafka's names of
/// both, `Topic` and `Write`).
pub fn record_authorization_denial(resource_type: &'static str, operation: &'static str) {
    counter!(AUTHORIZATION_DENIALS_TOTAL, "resource_type" => resource_type, "operation" => operation)
        .increment(1);
}

/// A request of `api` (Kafka's name of its key, from the frontend that read it, or
/// `unknown`) was answered, `duration` after its last byte was read.
pub fn record_request(api: &'static str, duration: Duration) {
    counter!(REQUESTS_TOTAL, "api" => api).increment(1);
    histogram!(REQUEST_DURATION_SECONDS, "api" => api).record(duration.as_secs_f64());
}

/// A response of `api` carried `error` `count` times: the request refused whole, or as many
/// topics or partitions answered with it (call for error codes only, not NONE; the request is
/// still counted by [`record_request`]).
pub fn record_request_errors(api: &'static str, error: ErrorCode, count: u64) {
    let error = error.name().unwrap_or("unknown");
    counter!(REQUEST_ERRORS_TOTAL, "api" => api, "error" => error).increment(count);
}

/// `bytes` were read from a connection.
pub fn record_bytes_in(bytes: u64) {
    counter!(BYTES_IN_TOTAL).increment(bytes);
}

/// `bytes` were written to a connection.
pub fn record_bytes_out(bytes: u64) {
    counter!(BYTES_OUT_TOTAL).increment(bytes);
}

/// A fetch sent `bytes` of records by `mode`.
pub fn record_fetch_bytes(mode: FetchMode, bytes: u64) {
    counter!(FETCH_BYTES_TOTAL, "mode" => mode.as_str()).increment(bytes);
}

/// A connection was accepted; pair with [`connection_closed`].
pub fn connection_opened() {
    gauge!(CONNECTIONS).increment(1.0);
}

/// A connection counted by [`connection_opened`] was closed.
pub fn connection_closed() {
    gauge!(CONNECTIONS).decrement(1.0);
}

/// A local partition's marks. Offsets are exact in the gauge below 2^53.
pub fn set_partition_offsets(
    topic: &str,
    partition: u32,
    log_end_offset: Offset,
    high_watermark: Offset,
) {
    let labels = [
        ("topic", SharedString::from(topic.to_string())),
        ("partition", SharedString::from(partition.to_string())),
    ];
    gauge!(PARTITION_LOG_END_OFFSET, &labels).set(log_end_offset.0 as f64);
    gauge!(PARTITION_HIGH_WATERMARK, &labels).set(high_watermark.0 as f64);
}

/// The io backend the broker runs on (the engine's backend name: `uring`, `portable`).
pub fn set_io_backend(backend: &str) {
    gauge!(IO_BACKEND_INFO, "backend" => backend.to_string()).set(1.0);
}

/// Whether TLS connections move to the kernel's TLS after their handshake.
pub fn set_tls_kernel_offload(on: bool) {
    gauge!(TLS_KERNEL_OFFLOAD).set(if on { 1.0 } else { 0.0 });
}

/// How many partitions led here are under-replicated now.
pub fn set_under_replicated_partitions(count: u64) {
    gauge!(UNDER_REPLICATED_PARTITIONS).set(count as f64);
}

/// How many partitions have no leader now.
pub fn set_offline_partitions(count: u64) {
    gauge!(OFFLINE_PARTITIONS).set(count as f64);
}

/// `replicas` left an ISR led here.
pub fn record_isr_shrink(replicas: u64) {
    counter!(ISR_SHRINKS_TOTAL).increment(replicas);
}

/// `replicas` rejoined an ISR led here.
pub fn record_isr_expand(replicas: u64) {
    counter!(ISR_EXPANDS_TOTAL).increment(replicas);
}

/// A leader was elected from outside the ISR.
pub fn record_unclean_election() {
    counter!(UNCLEAN_ELECTIONS_TOTAL).increment(1);
}

/// The cluster's unclean elections so far.
pub fn set_unclean_elections(count: u64) {
    counter!(UNCLEAN_ELECTIONS_TOTAL).absolute(count);
}

/// A follower cut `records` records where its log diverged from its leader's.
pub fn record_truncated(records: u64) {
    counter!(TRUNCATED_RECORDS_TOTAL).increment(records);
}

/// A leader answered an idempotent producer's retry of a batch it holds with its first offsets.
pub fn record_produce_duplicate() {
    counter!(PRODUCE_DUPLICATES_TOTAL).increment(1);
}

/// The metadata log offset applied.
pub fn set_metadata_offset(offset: u64) {
    gauge!(METADATA_OFFSET).set(offset as f64);
}

/// The controller quorum's leader, `None` when unknown.
pub fn set_controller_leader(leader: Option<u32>) {
    gauge!(CONTROLLER_LEADER).set(leader.map_or(-1.0, f64::from));
}

/// How far the slowest ISR follower of a partition led here is behind.
pub fn set_follower_lag(topic: &str, partition: u32, lag: u64) {
    let labels = [
        ("topic", SharedString::from(topic.to_string())),
        ("partition", SharedString::from(partition.to_string())),
    ];
    gauge!(FOLLOWER_LAG, &labels).set(lag as f64);
}

/// What `group` committed for a partition (-1: nothing any more).
pub fn set_group_committed_offset(group: &str, topic: &str, partition: u32, offset: i64) {
    let labels = [
        ("group", SharedString::from(group.to_string())),
        ("topic", SharedString::from(topic.to_string())),
        ("partition", SharedString::from(partition.to_string())),
    ];
    gauge!(GROUP_COMMITTED_OFFSET, &labels).set(offset as f64);
}

/// How many members `group` has.
pub fn set_group_members(group: &str, members: usize) {
    gauge!(GROUP_MEMBERS, "group" => group.to_string()).set(members as f64);
}

/// A partition no longer held here: its marks are removed (set to 0; the facade has no
/// removal).
pub fn forget_partition_offsets(topic: &str, partition: u32) {
    set_partition_offsets(topic, partition, Offset(0), Offset(0));
}

/// A Prometheus recorder with every metric of [`METRICS`] described and the request duration
/// bucketed by [`REQUEST_DURATION_BUCKETS`]. Not installed: use it with
/// [`metrics::with_local_recorder`], or call [`install_recorder`].
pub fn build_recorder() -> PrometheusRecorder {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_DURATION_SECONDS.to_string()),
            REQUEST_DURATION_BUCKETS,
        )
        .expect("REQUEST_DURATION_BUCKETS is not empty")
        .build_recorder();
    for metric in METRICS {
        let name = KeyName::from_const_str(metric.name);
        let help = SharedString::const_str(metric.help);
        match metric.kind {
            MetricKind::Counter => recorder.describe_counter(name, None, help),
            MetricKind::Gauge => recorder.describe_gauge(name, None, help),
            MetricKind::Histogram => {
                recorder.describe_histogram(name, Some(Unit::Seconds), help);
            }
        }
    }
    recorder
}

/// Builds a recorder and installs it as the process's global recorder; the handle renders
/// what it records. Called once, by the broker's `main`.
pub fn install_recorder() -> Result<PrometheusHandle, MetricsError> {
    let recorder = build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::RecorderInstalled)?;
    Ok(handle)
}

/// The longest request head (request line and headers) the responder reads.
pub const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// How long a connection has to send its whole request head.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing one response may block.
pub const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the responder waits for the peer to close after answering.
pub const LINGER_TIMEOUT: Duration = Duration::from_millis(500);
/// The most bytes the responder reads and drops after answering.
const LINGER_BYTES_MAX: usize = 64 * 1024;
/// How often the idle server thread checks whether it should stop.
const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What a request head asks for, as [`route`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (`head_only` for `HEAD`).
    Metrics {
        /// A `HEAD` request: answer without the body.
        head_only: bool,
    },
    /// Any other request, answered with this status and no metrics.
    Status(Status),
}

/// A status the responder answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400: not an HTTP/1.x request line, or the peer closed part-way through the head.
    BadRequest,
    /// 404: a path other than `/metrics`.
    NotFound,
    /// 405: a method other than GET and HEAD.
    MethodNotAllowed,
    /// 408: the head was not complete within [`REQUEST_READ_TIMEOUT`].
    RequestTimeout,
    /// 431: the head is longer than [`REQUEST_HEAD_BYTES_MAX`].
    HeadTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
        }
    }

    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::HeadTooLarge => 431,
        }
    }
}

/// Reads a request head (any bytes) and says how to answer it. Only the request line matters:
/// `METHOD SP TARGET SP HTTP/1.x`. Never panics.
pub fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Status(Status::BadRequest);
    };
    if method.is_empty() || !target.starts_with(b"/") || !version.starts_with(b"HTTP/1.") {
        return Route::Status(Status::BadRequest);
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Route::Status(Status::MethodNotAllowed),
    };
    let path_end = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    if &target[..path_end] == b"/metrics" {
        Route::Metrics { head_only }
    } else {
        Route::Status(Status::NotFound)
    }
}

/// The Prometheus `/metrics` endpoint: a std thread serving one request per connection.
/// Stopped by [`MetricsServer::stop`] or on drop.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port: see [`Self::local_addr`]) and serves what
    /// `handle`'s recorder holds until stopped.
    pub fn start(
        addr: SocketAddr,
        handle: PrometheusHandle,
    ) -> Result<MetricsServer, MetricsError> {
        let bind_error = |source| MetricsError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        // Non-blocking accept lets the thread notice a stop within ACCEPT_POLL_INTERVAL.
        listener.set_nonblocking(true).map_err(bind_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("ringlog-metrics".to_string())
            .spawn({
                let stop = Arc::clone(&stop);
                move || serve_until_stopped(&listener, &handle, &stop)
            })
            .map_err(|source| MetricsError::Spawn { source })?;
        tracing::info!(%local_addr, "serving metrics at http://{local_addr}/metrics");
        Ok(MetricsServer {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and joins its thread. Returns within [`REQUEST_READ_TIMEOUT`] +
    /// [`RESPONSE_WRITE_TIMEOUT`] + [`LINGER_TIMEOUT`] + a poll interval; the port is closed
    /// when it returns.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the metrics server thread panicked");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn serve_until_stopped(listener: &TcpListener, handle: &PrometheusHandle, stop: &AtomicBool) {
    let mut last_upkeep = Instant::now();
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(err) = serve_connection(stream, handle) {
                    tracing::debug!(%peer, "metrics request failed: {err}");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL_INTERVAL);
            }
            Err(err) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("metrics server: accept failed: {err}");
                std::thread::sleep(ACCEPT_POLL_INTERVAL);
            }
        }
        if last_upkeep.elapsed() >= UPKEEP_INTERVAL {
            handle.run_upkeep();
            last_upkeep = Instant::now();
        }
    }
}

/// A request head as read from a connection.
enum Head {
    Complete(Vec<u8>),
    /// The peer closed or timed out before sending anything: nobody to answer.
    Nothing,
    /// The peer closed part-way.
    Cut,
    /// The peer sent part of a head and then nothing for the rest of the read timeout.
    TimedOut,
    TooLarge,
}

fn serve_connection(mut stream: TcpStream, handle: &PrometheusHandle) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(RESPONSE_WRITE_TIMEOUT))?;
    let route = match read_head(&mut stream)? {
        Head::Complete(head) => route(&head),
        Head::Nothing => return Ok(()),
        Head::Cut => Route::Status(Status::BadRequest),
        Head::TimedOut => Route::Status(Status::RequestTimeout),
        Head::TooLarge => Route::Status(Status::HeadTooLarge),
    };
    let response = match route {
        Route::Metrics { head_only } => {
            handle.run_upkeep();
            let body = handle.render();
            response(
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &[],
                body.as_bytes(),
                head_only,
            )
        }
        Route::Status(status) => {
            let allow: &[&str] = match status {
                Status::MethodNotAllowed => &["Allow: GET, HEAD"],
                _ => &[],
            };
            let body = format!("{}\n", status.line());
            response(
                status.line(),
                "text/plain; charset=utf-8",
                allow,
                body.as_bytes(),
                false,
            )
        }
    };
    stream.write_all(&response)?;
    stream.flush()?;
    // Only the write side: the peer reads the answer, then sees the end of the stream.
    stream.shutdown(Shutdown::Write)?;
    linger(&mut stream)
}

/// Reads and drops what the peer still sends (the rest of a head too large to read, a body),
/// for at most [`LINGER_TIMEOUT`] and [`LINGER_BYTES_MAX`]: closing a socket with unread bytes
/// resets the connection, and the peer could lose the answer.
fn linger(stream: &mut TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let mut drained = 0;
    let mut chunk = [0u8; 1024];
    while drained < LINGER_BYTES_MAX {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(remaining))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Reads until the blank line that ends a head, for at most [`REQUEST_READ_TIMEOUT`] and
/// [`REQUEST_HEAD_BYTES_MAX`] bytes.
fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let deadline = Instant::now() + REQUEST_READ_TIMEOUT;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(if head.is_empty() {
                Head::Nothing
            } else {
                Head::TimedOut
            });
        }
        stream.set_read_timeout(Some(remaining))?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Ok(if head.is_empty() {
                    Head::Nothing
                } else {
                    Head::Cut
                });
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue; // The deadline check above ends the wait.
            }
            Err(err) => return Err(err),
        };
        // Look for the end from a little before the new bytes: it may straddle two reads.
        let search_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        match head_end(&head[search_from..]) {
            Some(end) if search_from + end <= REQUEST_HEAD_BYTES_MAX => {
                return Ok(Head::Complete(head));
            }
            Some(_) => return Ok(Head::TooLarge),
            None if head.len() > REQUEST_HEAD_BYTES_MAX => return Ok(Head::TooLarge),
            None => {}
        }
    }
}

/// Where a head's terminating blank line (`\r\n\r\n`, or a bare `\n\n`) ends.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn response(
    status: &str,
    content_type: &str,
    extra_headers: &[&str],
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: \
         close\r\n",
        body.len()
    );
    for header in extra_headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Why metrics cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address is taken or not local.
    #[error("metrics_listen {addr}: cannot bind")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it cannot be bound.
        #[source]
        source: io::Error,
    },

    /// The server's thread cannot be started.
    #[error("metrics server: cannot start its thread")]
    Spawn {
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The process already has a global recorder; it can be installed once.
    #[error("a global metrics recorder is already installed")]
    RecorderInstalled,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` to the server and returns everything it answers.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8(answer).unwrap()
    }

    /// Sends `request`, closes the write side, and returns everything the server answers.
    fn exchange_then_close(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8(answer).unwrap()
    }

    fn status_of(answer: &str) -> &str {
        answer.lines().next().unwrap_or("")
    }

    fn start() -> (PrometheusRecorder, MetricsServer) {
        let recorder = build_recorder();
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), recorder.handle()).unwrap();
        (recorder, server)
    }

    #[test]
    fn route_reads_the_request_line() {
        let cases: &[(&[u8], Route)] = &[
            (
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                Route::Metrics { head_only: false },
            ),
            (
                b"GET /metrics?name=x HTTP/1.0\n\n",
                Route::Metrics { head_only: false },
            ),
            (
                b"HEAD /metrics HTTP/1.1\r\n\r\n",
                Route::Metrics { head_only: true },
            ),
            (b"GET / HTTP/1.1\r\n\r\n", Route::Status(Status::NotFound)),
            (
                b"GET /metrics/ HTTP/1.1\r\n\r\n",
                Route::Status(Status::NotFound),
            ),
            (
                b"POST /metrics HTTP/1.1\r\n\r\n",
                Route::Status(Status::MethodNotAllowed),
            ),
            (
                b"GET /metrics HTTP/2\r\n\r\n",
                Route::Status(Status::BadRequest),
            ),
            (
                b"GET  /metrics HTTP/1.1\r\n\r\n",
                Route::Status(Status::BadRequest),
            ),
            (
                b"GET metrics HTTP/1.1\r\n\r\n",
                Route::Status(Status::BadRequest),
            ),
            (
                b"GET /metrics HTTP/1.1 extra\r\n\r\n",
                Route::Status(Status::BadRequest),
            ),
            (b"\r\n\r\n", Route::Status(Status::BadRequest)),
            (b"", Route::Status(Status::BadRequest)),
            (b"\xff\xfe garbage", Route::Status(Status::BadRequest)),
        ];
        for (head, expected) in cases {
            assert_eq!(
                route(head),
                *expected,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn head_end_finds_either_terminator() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nbody"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn every_metric_is_described_once_with_its_prefix() {
        for (i, metric) in METRICS.iter().enumerate() {
            assert!(metric.name.starts_with("ringlog_"), "{}", metric.name);
            assert!(
                METRICS[..i].iter().all(|other| other.name != metric.name),
                "{} twice",
                metric.name
            );
            let counter = metric.name.ends_with("_total");
            assert_eq!(
                counter,
                metric.kind == MetricKind::Counter,
                "{}",
                metric.name
            );
        }
        assert_eq!(METRICS.len(), 26);
    }

    #[test]
    fn helpers_record_what_the_table_says() {
        let recorder = build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            record_request("Produce", Duration::from_millis(3));
            record_request("Produce", Duration::from_millis(30));
            record_request("unknown", Duration::from_millis(1));
            record_request_errors("Fetch", ErrorCode::NOT_LEADER_OR_FOLLOWER, 1);
            record_bytes_in(100);
            record_bytes_out(200);
            record_fetch_bytes(FetchMode::ZeroCopy, 4096);
            record_fetch_bytes(FetchMode::Copy, 10);
            connection_opened();
            connection_opened();
            connection_closed();
            set_partition_offsets("orders", 3, Offset(120), Offset(100));
            set_io_backend("uring");
            set_under_replicated_partitions(2);
            set_offline_partitions(1);
            record_isr_shrink(1);
            record_isr_expand(2);
            record_unclean_election();
            record_sasl_authentication("SCRAM-SHA-512", SaslResult::Success);
            record_sasl_authentication("SCRAM-SHA-512", SaslResult::Success);
            record_sasl_authentication("none", SaslResult::Failure);
            record_sasl_expired_session();
            record_authorization_denial("Topic", "Write");
        });
        handle.run_upkeep();
        let text = handle.render();
        let expected = [
            "ringlog_requests_total{api=\"Produce\"} 2",
            "ringlog_requests_total{api=\"unknown\"} 1",
            "ringlog_request_duration_seconds_bucket{api=\"Produce\",le=\"0.005\"} 1",
            "ringlog_request_duration_seconds_bucket{api=\"Produce\",le=\"0.05\"} 2",
            "ringlog_request_duration_seconds_count{api=\"Produce\"} 2",
            "ringlog_request_errors_total{api=\"Fetch\",error=\"NOT_LEADER_OR_FOLLOWER\"} 1",
            "ringlog_bytes_in_total 100",
            "ringlog_bytes_out_total 200",
            "ringlog_fetch_bytes_total{mode=\"zerocopy\"} 4096",
            "ringlog_fetch_bytes_total{mode=\"copy\"} 10",
            "ringlog_connections 1",
            "ringlog_partition_log_end_offset{topic=\"orders\",partition=\"3\"} 120",
            "ringlog_partition_high_watermark{topic=\"orders\",partition=\"3\"} 100",
            "ringlog_io_backend_info{backend=\"uring\"} 1",
            "ringlog_under_replicated_partitions 2",
            "ringlog_offline_partitions 1",
            "ringlog_isr_shrinks_total 1",
            "ringlog_isr_expands_total 2",
            "ringlog_unclean_elections_total 1",
            "ringlog_sasl_authentications_total{mechanism=\"SCRAM-SHA-512\",result=\"success\"} 2",
            "ringlog_sasl_authentications_total{mechanism=\"none\",result=\"failure\"} 1",
            "ringlog_sasl_expired_sessions_total 1",
            "ringlog_authorization_denials_total{resource_type=\"Topic\",operation=\"Write\"} 1",
            "# HELP ringlog_requests_total Requests answered, by api.",
            "# TYPE ringlog_request_duration_seconds histogram",
        ];
        for line in expected {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn serves_recorded_metrics_over_http() {
        let (recorder, server) = start();
        metrics::with_local_recorder(&recorder, || {
            record_request("Metadata", Duration::from_micros(50));
        });
        let answer = exchange(
            server.local_addr(),
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(status_of(&answer), "HTTP/1.1 200 OK", "{answer}");
        assert!(
            answer.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{answer}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(
            body.contains("ringlog_requests_total{api=\"Metadata\"} 1"),
            "{body}"
        );
        assert!(
            body.contains(
                "ringlog_request_duration_seconds_bucket{api=\"Metadata\",le=\"0.0001\"} 1"
            ),
            "{body}"
        );

        let answer = exchange(server.local_addr(), b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&answer), "HTTP/1.1 200 OK");
        assert!(
            answer.ends_with("\r\n\r\n"),
            "a HEAD answer has no body: {answer}"
        );
        server.stop();
    }

    #[test]
    fn bad_requests_get_an_error_status() {
        let (_recorder, server) = start();
        let addr = server.local_addr();
        let cases: &[(&[u8], &str)] = &[
            (b"GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (
                b"DELETE /metrics HTTP/1.1\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed",
            ),
            (b"\x00\x01\x02 garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"hello\n\n", "HTTP/1.1 400 Bad Request"),
        ];
        for (request, status) in cases {
            let answer = exchange(addr, request);
            assert_eq!(status_of(&answer), *status, "{answer}");
        }
        let answer = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n");
        assert!(answer.contains("Allow: GET, HEAD\r\n"), "{answer}");

        let mut huge = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while huge.len() <= REQUEST_HEAD_BYTES_MAX {
            huge.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        huge.extend_from_slice(b"\r\n");
        let answer = exchange(addr, &huge);
        assert_eq!(
            status_of(&answer),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        server.stop();
    }

    #[test]
    fn a_head_cut_short_or_too_slow_gets_an_error_and_the_server_goes_on() {
        let (_recorder, server) = start();
        let addr = server.local_addr();
        let answer = exchange_then_close(addr, b"GET /metr");
        assert_eq!(status_of(&answer), "HTTP/1.1 400 Bad Request");

        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        let started = Instant::now();
        let mut answer = String::new();
        slow.read_to_string(&mut answer).unwrap();
        assert_eq!(status_of(&answer), "HTTP/1.1 408 Request Timeout");
        assert!(started.elapsed() < REQUEST_READ_TIMEOUT + Duration::from_secs(2));

        // A connection that says nothing is closed without an answer.
        assert_eq!(exchange_then_close(addr, b""), "");
        let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&answer), "HTTP/1.1 200 OK");
        server.stop();
    }

    #[test]
    fn stop_is_bounded_by_a_silent_client_and_closes_the_port() {
        let (_recorder, server) = start();
        let addr = server.local_addr();
        // Holds the thread in read_head until REQUEST_READ_TIMEOUT.
        let _silent = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        server.stop();
        let bound =
            REQUEST_READ_TIMEOUT + RESPONSE_WRITE_TIMEOUT + LINGER_TIMEOUT + Duration::from_secs(1);
        assert!(
            started.elapsed() < bound,
            "stop took {:?}",
            started.elapsed()
        );
        assert!(TcpStream::connect(addr).is_err(), "the port is still open");
    }

    #[test]
    fn binding_a_taken_port_is_an_error_naming_the_address() {
        let (_recorder, server) = start();
        let err = MetricsServer::start(server.local_addr(), build_recorder().handle()).unwrap_err();
        assert!(matches!(err, MetricsError::Bind { .. }));
        assert_eq!(
            err.to_string(),
            format!("metrics_listen {}: cannot bind", server.local_addr())
        );
    }

    proptest::proptest! {
        #[test]
        fn route_never_panics_and_serves_only_get_or_head_of_metrics(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            if let Route::Metrics { head_only } = route(&head) {
                let expected: &[u8] = if head_only { b"HEAD /metrics" } else { b"GET /metrics" };
                proptest::prop_assert!(head.starts_with(expected));
            }
        }

        #[test]
        fn near_misses_route_to_metrics_only_when_well_formed(
            line in "(GET|HEAD|POST|) ?/?[a-z?/]{0,12} ?(HTTP/1\\.[01]|HTTP/2|)\r?\n?",
        ) {
            if let Route::Metrics { .. } = route(line.as_bytes()) {
                proptest::prop_assert!(line.contains(" /metrics") && line.contains(" HTTP/1."));
            }
        }
    }
}
