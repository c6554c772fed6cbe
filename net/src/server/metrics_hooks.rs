//! What the runtime records, through [`super::metrics`]'s helpers (the exporter the broker
//! installs renders it as Prometheus text).

use std::time::Instant;

use super::metrics::{self as m, FetchMode};
use super::partition::ServedPartition;
use crate::wire::ApiKey;

/// A request of `api` was answered; it was read at `started`.
pub fn request(api: ApiKey, started: Instant) {
    m::record_request(api, started.elapsed());
}

/// Bytes read from a connection.
pub fn bytes_in(bytes: u64) {
    m::record_bytes_in(bytes);
}

/// Bytes written to clients: `copied` through user space, `zero_copy` with sendfile (record
/// bytes of fetch responses).
pub fn bytes_out(copied: u64, zero_copy: u64) {
    if copied + zero_copy > 0 {
        m::record_bytes_out(copied + zero_copy);
    }
    if zero_copy > 0 {
        m::record_fetch_bytes(FetchMode::ZeroCopy, zero_copy);
    }
}

pub fn connection_opened() {
    m::connection_opened();
}

pub fn connection_closed() {
    m::connection_closed();
}

/// A partition's marks, refreshed at every tick.
pub fn partition<R>(partition: &ServedPartition<R>) {
    let tp = &partition.topic_partition;
    m::set_partition_offsets(
        &tp.topic,
        tp.partition,
        partition.log.log_end_offset(),
        partition.high_watermark(),
    );
}

/// The io backend the logs run on.
pub fn io_backend(name: &str) {
    m::set_io_backend(name);
}
