//! What the runtime records, in one place, through the `metrics` facade (the exporter the
//! broker installs renders it as Prometheus text).

use metrics::{counter, gauge};

use super::partition::ServedPartition;
use crate::wire::ApiKey;

/// A request of `api` arrived.
pub fn request(api: ApiKey) {
    counter!("ringlog_requests_total", "api" => api.name().unwrap_or("unknown")).increment(1);
}

/// Bytes written to clients: `copied` through user space, `zero_copy` with sendfile.
pub fn bytes_out(copied: u64, zero_copy: u64) {
    if copied > 0 {
        counter!("ringlog_bytes_out_total").increment(copied);
    }
    if zero_copy > 0 {
        counter!("ringlog_bytes_out_total").increment(zero_copy);
        counter!("ringlog_fetch_bytes_total", "mode" => "zerocopy").increment(zero_copy);
    }
}

/// A partition's marks, refreshed at every tick.
pub fn partition<R>(partition: &ServedPartition<R>) {
    let topic = partition.topic_partition.topic.clone();
    let index = partition.topic_partition.partition.to_string();
    gauge!("ringlog_partition_log_end_offset", "topic" => topic.clone(), "partition" => index.clone())
        .set(partition.log.log_end_offset().0 as f64);
    gauge!("ringlog_partition_high_watermark", "topic" => topic, "partition" => index)
        .set(partition.high_watermark().0 as f64);
}
