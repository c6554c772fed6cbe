//! What the runtime records, through [`super::metrics`]'s helpers (the exporter the broker
//! installs renders it as Prometheus text).

use std::time::Instant;

use super::metrics::{self as m, FetchMode};
use super::partition::ServedPartition;
use ringlog_wire::{ApiKey, ErrorCode};

/// The `api` label of a thin-protocol request: Kafka's name for the key (the thin protocol
/// numbers its APIs as Kafka does), `unknown` for a key it does not speak. The Kafka
/// frontend names its APIs itself.
pub(crate) fn thin_api(api: ApiKey) -> &'static str {
    api.name().unwrap_or("unknown")
}

/// A request of `api` (its label) was answered; it was read at `started`.
pub(crate) fn request(api: &'static str, started: Instant) {
    m::record_request(api, started.elapsed());
}

/// A response of `api` carries `errors` (NONE is not counted): each code counted as often as
/// it appears.
pub(crate) fn request_errors(api: &'static str, mut errors: Vec<ErrorCode>) {
    errors.retain(|error| !error.is_none());
    errors.sort_unstable_by_key(|error| error.0);
    for run in errors.chunk_by(|a, b| a == b) {
        m::record_request_errors(api, run[0], run.len() as u64);
    }
}

/// Bytes read from a connection.
pub(crate) fn bytes_in(bytes: u64) {
    m::record_bytes_in(bytes);
}

/// Bytes written to clients: `copied` through user space, `zero_copy` with sendfile (record
/// bytes of fetch responses).
pub(crate) fn bytes_out(written: crate::connection::Written) {
    if written.copied + written.zero_copy > 0 {
        m::record_bytes_out(written.copied + written.zero_copy);
    }
    if written.zero_copy > 0 {
        m::record_fetch_bytes(FetchMode::ZeroCopy, written.zero_copy);
    }
    if written.copied_records > 0 {
        m::record_fetch_bytes(FetchMode::Copy, written.copied_records);
    }
}

/// Whether the TLS listeners' connections move to the kernel's TLS (decided at start).
pub(crate) fn tls_kernel_offload(on: bool) {
    m::set_tls_kernel_offload(on);
}

/// A SASL authentication with `mechanism` (`None`: before one was chosen) ended so.
pub(crate) fn sasl_authentication(
    mechanism: Option<crate::config::SaslMechanism>,
    result: m::SaslResult,
) {
    m::record_sasl_authentication(mechanism.map_or("none", |m| m.name()), result);
}

/// A connection is closed because its SASL session expired.
pub(crate) fn sasl_expired_session() {
    m::record_sasl_expired_session();
}

/// The authorizer denied `operation` on a resource of `resource_type`.
pub(crate) fn authorization_denied(
    resource_type: ringlog_security::acl::ResourceType,
    operation: ringlog_security::acl::Operation,
) {
    m::record_authorization_denial(resource_type.name(), operation.name());
}

pub(crate) fn connection_opened() {
    m::connection_opened();
}

pub(crate) fn connection_closed() {
    m::connection_closed();
}

/// A partition's marks, refreshed at every tick.
pub(crate) fn partition<R>(partition: &ServedPartition<R>) {
    let tp = &partition.topic_partition();
    m::set_partition_offsets(
        &tp.topic,
        tp.partition,
        partition.log().log_end_offset(),
        partition.high_watermark(),
    );
    if let Some(lag) = partition.isr_lag() {
        m::set_follower_lag(&tp.topic, tp.partition, lag);
    }
}

/// The io backend the logs run on.
pub(crate) fn io_backend(name: &str) {
    m::set_io_backend(name);
}

/// A partition this broker held is gone: its marks are no longer reported.
pub(crate) fn partition_gone(topic_partition: &ringlog_replication::TopicPartition) {
    m::forget_partition_offsets(&topic_partition.topic, topic_partition.partition);
}

/// The cluster as of a new metadata image, seen from broker `me`: partitions it leads with
/// an ISR smaller than their replica set, partitions with no leader, and the cluster's
/// unclean elections.
pub(crate) fn metadata(
    catalog: &super::catalog::Catalog,
    me: ringlog_replication::BrokerId,
    unclean_elections: u64,
) {
    let mut under_replicated = 0;
    let mut offline = 0;
    for (_, partition) in catalog.partitions() {
        match partition.leader() {
            None => offline += 1,
            Some(leader) if leader == me && partition.isr().len() < partition.replicas().len() => {
                under_replicated += 1;
            }
            Some(_) => {}
        }
    }
    m::set_under_replicated_partitions(under_replicated);
    m::set_offline_partitions(offline);
    m::set_unclean_elections(unclean_elections);
    m::set_metadata_offset(catalog.offset());
}

/// The ISR of a partition led here changed from `before` to `after`.
pub(crate) fn isr_changed(
    before: &[ringlog_replication::BrokerId],
    after: &[ringlog_replication::BrokerId],
) {
    let left = before.iter().filter(|b| !after.contains(b)).count() as u64;
    let joined = after.iter().filter(|b| !before.contains(b)).count() as u64;
    if left > 0 {
        m::record_isr_shrink(left);
    }
    if joined > 0 {
        m::record_isr_expand(joined);
    }
}
